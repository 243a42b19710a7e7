//! The host pool in the engine: connecting the hosts when the manager opens, and placing a
//! request's new servers before it runs.
//!
//! Placement sees every unit's servers (from the store) plus what running operations have
//! placed but not yet provisioned (their **reservations**, dropped when the operation ends),
//! under one lock, so two operations never take the same free room.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use vsm_core::model::{Origin, Template, Unit};
use vsm_core::plan::{Plan, Step};
use vsm_core::{
    FailureClass, HostName, OperationId, Placement, PlacementError, TemplateFacts, TemplateName,
};
use vsm_hypervisor::{Hypervisor, TemplateSource};

use super::EngineCtx;
use crate::error::{Error, Result};
use crate::host::{DriverKind, HostConnection, HostRecord};
use crate::store::Change;

/// How long connecting one host may take when the manager opens.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl EngineCtx {
    /// Connects the pool when the manager opens: each injected driver is the built-in host of
    /// its kind (added or brought in step with the program's options), every added host is
    /// connected through the factory (one that cannot be is kept, unconnected, with the
    /// error), and provisioned servers that name no host of the pool (recorded before hosts
    /// existed) are given the built-in host of their template's driver.
    pub(crate) async fn open_pool(&self) -> Result<()> {
        let records = self.db(|s| s.hosts()).await?;
        let mut by_name: BTreeMap<HostName, HostRecord> =
            records.into_iter().map(|r| (r.name().clone(), r)).collect();
        let now = self.now();
        let mut changes = Vec::new();
        // The built-in hosts.
        for kind in self.drivers().kinds() {
            if kind == DriverKind::Static {
                continue;
            }
            let Some(driver) = self.drivers().get(kind).cloned() else {
                continue;
            };
            let Ok(name) = HostName::new(kind.as_str()) else {
                continue;
            };
            let mut record = by_name.remove(&name).unwrap_or_else(|| {
                let mut r = HostRecord::new(
                    HostConnection {
                        name: name.clone(),
                        driver: kind,
                        uri: None,
                        dir: None,
                    },
                    now,
                );
                r.builtin = true;
                r
            });
            record.builtin = true;
            record.connection.driver = kind;
            record.endpoint = Some(driver.describe());
            refresh(&mut record, driver.as_ref(), now).await;
            changes.push(Change::PutHost(record.clone()));
            self.hosts.put(record, Some(driver));
        }
        // The added hosts (and built-in ones whose driver this program does not inject).
        let factory = self.drivers().factory().cloned();
        let connects = by_name.into_values().map(|mut record| {
            let factory = factory.clone();
            async move {
                let driver = if record.builtin {
                    record.last_error = Some(format!(
                        "this manager was started without its {} driver",
                        record.driver()
                    ));
                    None
                } else {
                    match connect(factory.as_deref(), &record.connection).await {
                        Ok(d) => {
                            refresh(&mut record, d.as_ref(), now).await;
                            Some(d)
                        }
                        Err(e) => {
                            record.last_error = Some(e);
                            None
                        }
                    }
                };
                (record, driver)
            }
        });
        for (record, driver) in futures::future::join_all(connects).await {
            if let Some(e) = &record.last_error {
                tracing::warn!(host = %record.name(), error = %e, "host not connected");
            }
            changes.push(Change::PutHost(record.clone()));
            self.hosts.put(record, driver);
        }
        // Servers recorded before the pool existed belong to the built-in host of their kind.
        let (units, templates) = self.db(|s| Ok((s.units()?, s.templates()?))).await?;
        let kinds: HashMap<TemplateName, DriverKind> = templates
            .iter()
            .filter_map(|t| Some((t.name.clone(), t.driver.parse().ok()?)))
            .collect();
        for unit in &units {
            for (g, s) in unit.servers() {
                let Origin::Provisioned { template, .. } = &s.origin else {
                    continue;
                };
                if s.host.as_deref().is_some_and(|h| self.hosts.contains(h)) {
                    continue;
                }
                let Some(host) = kinds.get(template).and_then(|k| self.hosts.builtin(*k)) else {
                    continue;
                };
                let mut server = s.clone();
                server.host = Some(host.to_string());
                changes.push(Change::PutServer {
                    unit: unit.name.clone(),
                    group: g.name().clone(),
                    server,
                });
            }
        }
        self.write(changes).await
    }

    /// Places the new servers of `plan` (a request of operation `op` on `unit`) on the pool and
    /// reserves their room until the operation ends. Refused: 65 when the unit's rules can
    /// never fit the pool, 70 when the pool is full now; nothing was changed.
    pub(crate) async fn place(
        &self,
        op: OperationId,
        unit: &Unit,
        plan: &mut Plan,
        templates: &HashMap<TemplateName, Template>,
    ) -> Result<()> {
        if !plan.steps().any(|s| matches!(s, Step::Provision { .. })) {
            return Ok(());
        }
        let _placing = self.placing.lock().await;
        let name = unit.name.clone();
        let others = self
            .db(move |s| {
                Ok(s.units()?
                    .into_iter()
                    .filter(|u| u.name != name)
                    .collect::<Vec<_>>())
            })
            .await?;
        let size_of = |t: &TemplateName, g| {
            templates
                .get(t)
                .and_then(|t| t.generation(g))
                .map(|g| g.machine_size())
        };
        let mut placements: BTreeMap<(String, String), Placement> =
            vsm_core::placements_of(others.iter().chain([unit]), &size_of)
                .into_iter()
                .map(|p| ((p.unit.to_string(), p.server.to_string()), p))
                .collect();
        for (_, p) in self.reserved().iter() {
            placements.insert((p.unit.to_string(), p.server.to_string()), p.clone());
        }
        let placements: Vec<Placement> = placements.into_values().collect();
        let holders = self.template_holders(plan, templates).await;
        let facts = |t: &TemplateName, g: vsm_core::TemplateGeneration| {
            let tpl = templates.get(t)?;
            Some(TemplateFacts {
                driver: tpl.driver.clone(),
                size: tpl.generation(g)?.machine_size(),
                hosts: holders.get(&(t.clone(), g.0)).cloned(),
            })
        };
        let hosts = self.hosts.placement_hosts();
        vsm_core::place_plan(
            unit,
            std::slice::from_mut(plan),
            &hosts,
            &placements,
            &facts,
        )
        .map_err(|e| placement_error(unit, &e))?;
        let mut reserved = self.reserved();
        for step in plan.steps() {
            if let Step::Provision {
                server,
                group,
                template,
                generation,
                host: Some(host),
                ..
            } = step
            {
                reserved.push((
                    op,
                    Placement {
                        unit: unit.name.clone(),
                        group: group.clone(),
                        server: server.clone(),
                        host: host.clone(),
                        size: size_of(template, *generation)
                            .unwrap_or(vsm_core::model::TemplateGenerationInfo::DEFAULT_SIZE),
                    },
                ));
            }
        }
        Ok(())
    }

    /// For each template generation that `plan` provisions from and whose driver's hosts do not
    /// all share one template store (every kind but `local`, whose template directories every
    /// local host reads): the connected hosts that can clone it, each asked once (a host that
    /// has it is remembered; one that lacks it is asked again next time).
    async fn template_holders(
        &self,
        plan: &Plan,
        templates: &HashMap<TemplateName, Template>,
    ) -> HashMap<(TemplateName, u32), BTreeSet<HostName>> {
        let mut wanted: BTreeSet<(TemplateName, u32)> = BTreeSet::new();
        for step in plan.steps() {
            if let Step::Provision {
                template,
                generation,
                ..
            } = step
            {
                wanted.insert((template.clone(), generation.0));
            }
        }
        let mut out = HashMap::new();
        for (t, g) in wanted {
            let Some(tpl) = templates.get(&t) else {
                continue;
            };
            let Ok(kind) = tpl.driver.parse::<DriverKind>() else {
                continue;
            };
            if kind == DriverKind::Local {
                continue;
            }
            let Some(source) = tpl
                .generation(vsm_core::TemplateGeneration(g))
                .and_then(|info| TemplateSource::new(info.source.clone()).ok())
            else {
                continue;
            };
            let asks = self
                .hosts
                .connected()
                .into_iter()
                .filter(|(r, _)| r.driver() == kind)
                .map(|(r, d)| {
                    let source = source.clone();
                    async move {
                        let key = (r.name().clone(), source.as_str().to_owned());
                        if self.holding().contains(&key) {
                            return Some(key.0);
                        }
                        let has = matches!(
                            tokio::time::timeout(CONNECT_TIMEOUT, d.inspect_template(&source))
                                .await,
                            Ok(Ok(_))
                        );
                        has.then(|| {
                            self.holding().insert(key.clone());
                            key.0
                        })
                    }
                });
            let hosts: BTreeSet<HostName> = futures::future::join_all(asks)
                .await
                .into_iter()
                .flatten()
                .collect();
            out.insert((t, g), hosts);
        }
        out
    }

    fn holding(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<(HostName, String)>> {
        self.template_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Holds placement still (no request is placed while the guard lives).
    pub(crate) async fn placing_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.placing.lock().await
    }

    /// What running operations placed on `host` but have not provisioned yet.
    pub(crate) fn reserved_on(&self, host: &HostName) -> Vec<Placement> {
        self.reserved()
            .iter()
            .filter(|(_, p)| p.host == *host)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Drops the reservations of operation `op` (it ended: its servers are in the store).
    pub(crate) fn release_placements(&self, op: OperationId) {
        self.reserved().retain(|(o, _)| *o != op);
    }

    fn reserved(&self) -> std::sync::MutexGuard<'_, Vec<(OperationId, Placement)>> {
        self.reservations.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The error of a refused placement: invalid data (65) when it can never fit, a failure (70)
/// when the pool is full now.
fn placement_error(unit: &Unit, e: &PlacementError) -> Error {
    match e.class() {
        FailureClass::NeverFits => Error::data(
            format!("unit {}", unit.name),
            None,
            Some("placement".into()),
            format!("{e}; change the groups' `placement:` or count, or add hosts (`vsm host add`)"),
        ),
        FailureClass::FullNow => Error::failed_msg(format!(
            "{e}; add hosts (`vsm host add`), bring hosts back (`vsm host undrain`), or scale other units in"
        )),
    }
}

/// Connects a host through the factory, bounded in time.
pub(crate) async fn connect(
    factory: Option<&dyn crate::DriverFactory>,
    host: &HostConnection,
) -> std::result::Result<Arc<dyn Hypervisor>, String> {
    let Some(factory) = factory else {
        return Err(
            "this manager was given no driver factory, so it cannot connect added hosts".into(),
        );
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, factory.connect(host)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "connecting took longer than {}s",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// Asks a connected host's driver for its capacity; records it (or the error) and when it
/// answered.
pub(crate) async fn refresh(
    record: &mut HostRecord,
    driver: &dyn Hypervisor,
    now: vsm_core::Timestamp,
) {
    match tokio::time::timeout(CONNECT_TIMEOUT, driver.capacity()).await {
        Ok(Ok(c)) => {
            record.capacity = Some(vsm_core::Resources {
                vcpus: c.cpus,
                memory_mib: c.memory_mib,
            });
            record.last_error = None;
            record.last_seen = Some(now);
        }
        // A driver that cannot tell its capacity still serves: placement does not limit it.
        Ok(Err(vsm_hypervisor::HypervisorError::Unsupported { .. })) => {
            record.last_error = None;
            record.last_seen = Some(now);
        }
        Ok(Err(e)) => record.last_error = Some(crate::error::error_chain(&e)),
        Err(_) => {
            record.last_error = Some(format!(
                "it did not report its capacity within {}s",
                CONNECT_TIMEOUT.as_secs()
            ))
        }
    }
}
