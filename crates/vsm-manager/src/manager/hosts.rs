//! The host pool (administrator only, audited): adding a host (connected through the injected
//! factory before anything is stored), listing and showing hosts with what is placed on them,
//! removing an empty host, draining a host (moving its servers elsewhere) and putting it back
//! into service.

use std::collections::HashMap;
use std::time::Duration;

use vsm_core::model::Unit;
use vsm_core::{
    Action, AllocationRatios, HostName, HostState, OperationId, Placement, TemplateName, UnitName,
};

use super::Manager;
use crate::api::{
    Actor, AddHost, ConfirmDownReport, DrainReport, DrainRequest, HostInfo, LeftServer,
    OperationKind, OperationRecord, PlacedServer, RebalanceReport, RebalanceRequest,
};
use crate::clock::now;
use crate::engine;
use crate::error::{Entity, Error, Result};
use crate::host::{DriverKind, HostConnection, HostRecord};
use crate::store::Change;

/// Label keys under this prefix are the manager's own.
const RESERVED_LABEL_PREFIX: &str = "vsm.";

impl Manager {
    /// `vsm host add`: checks the request, connects the host through the injected factory and
    /// asks it for its capacity; only then records it. Nothing is stored when any of it fails.
    pub async fn add_host(&self, actor: &Actor, req: AddHost) -> Result<HostInfo> {
        self.check_running()?;
        self.authorize(actor, Action::HostAdd, None, req.name.as_str())
            .await?;
        let connection = check_add(&req)?;
        // The name is taken while the host connects: a second add of it is refused.
        let Some(_adding) = self.engine().hosts.begin_add(&req.name) else {
            return Err(Error::invalid_with_hint(
                format!("host {} already exists", req.name),
                "choose another name, or remove the host first (`vsm host remove`)",
            ));
        };
        // One machine is one host: the same URI or directory twice would double its capacity
        // and let two servers of a hard anti-affinity group share it.
        if let Some((other, _)) = self
            .engine()
            .hosts
            .records()
            .into_iter()
            .find(|(r, _)| same_place(r, &connection))
        {
            return Err(Error::invalid_with_hint(
                format!(
                    "host {} already reaches {}",
                    other.name(),
                    connection
                        .uri
                        .clone()
                        .or_else(|| connection.dir.as_ref().map(ToString::to_string))
                        .unwrap_or_default()
                ),
                "a machine is one host of the pool; remove the other first if it is to be renamed",
            ));
        }
        let mut record = HostRecord::new(connection, now());
        record.labels = req.labels.clone();
        record.ratios = AllocationRatios::new(
            req.cpu_ratio.unwrap_or(AllocationRatios::DEFAULT_CPU),
            req.ram_ratio.unwrap_or(AllocationRatios::DEFAULT_RAM),
        )
        .map_err(|e| {
            Error::invalid_with_hint(e.to_string(), "give a positive number, e.g. --cpu-ratio 4")
        })?;
        record.reserved_memory_mib = req.reserved_memory_mb.unwrap_or(0);
        record.fencing = req.fencing.unwrap_or_default();
        let factory = self.engine().drivers().factory().cloned();
        let driver = engine::connect_host(factory.as_deref(), &record.connection)
            .await
            .map_err(|e| {
                Error::invalid_with_hint(
                    format!("cannot connect host {}: {e}", req.name),
                    "check the host's --uri or --dir and that its hypervisor runs; nothing was added",
                )
            })?;
        engine::refresh_host(&mut record, driver.as_ref(), now()).await;
        if let Some(e) = &record.last_error {
            return Err(Error::invalid_with_hint(
                format!("host {} answered, but not with its capacity: {e}", req.name),
                "check the hypervisor on the host; nothing was added",
            ));
        }
        record.endpoint = Some(driver.describe());
        self.write(vec![
            Change::PutHost(record.clone()),
            Self::audit_entry(Some(actor), "host add", &req.name, "ok"),
        ])
        .await?;
        self.engine().hosts.put(record.clone(), Some(driver));
        tracing::info!(host = %req.name, driver = %record.driver(), "host added");
        let (units, sizes) = self.pool_view().await?;
        Ok(host_info(record, true, &units, &sizes, false))
    }

    /// `vsm host list`.
    pub async fn list_hosts(&self, actor: &Actor) -> Result<Vec<HostInfo>> {
        self.authorize(actor, Action::HostList, None, "hosts")
            .await?;
        let (units, sizes) = self.pool_view().await?;
        Ok(self
            .engine()
            .hosts
            .records()
            .into_iter()
            .map(|(r, connected)| host_info(r, connected, &units, &sizes, false))
            .collect())
    }

    /// `vsm host show`.
    pub async fn show_host(&self, actor: &Actor, name: &HostName) -> Result<HostInfo> {
        self.authorize(actor, Action::HostShow, None, name.as_str())
            .await?;
        let (record, connected) = self.host_record(name)?;
        let (units, sizes) = self.pool_view().await?;
        Ok(host_info(record, connected, &units, &sizes, true))
    }

    /// `vsm host remove`: refused for a built-in host and while servers are placed on it.
    pub async fn remove_host(&self, actor: &Actor, name: &HostName) -> Result<()> {
        self.check_running()?;
        self.authorize(actor, Action::HostRemove, None, name.as_str())
            .await?;
        let (record, _) = self.host_record(name)?;
        if record.builtin {
            return Err(Error::invalid_with_hint(
                format!(
                    "host {name} is the built-in {} host of this manager and cannot be removed",
                    record.driver()
                ),
                "take it out of service with `vsm host drain` instead",
            ));
        }
        // No request is placed meanwhile; what running operations placed counts too.
        let _placing = self.engine().placing_lock().await;
        let (units, sizes) = self.pool_view().await?;
        let mut placed = placed_on(name, &units, &sizes);
        placed.extend(self.engine().reserved_on(name));
        if !placed.is_empty() {
            let names: Vec<String> = placed
                .iter()
                .take(10)
                .map(|p| format!("{}/{}", p.unit, p.server))
                .collect();
            return Err(Error::invalid_with_hint(
                format!(
                    "host {name} still holds {} server(s): {}{}",
                    placed.len(),
                    names.join(", "),
                    if placed.len() > 10 { ", …" } else { "" }
                ),
                "move them off first with `vsm host drain`",
            ));
        }
        self.write(vec![
            Change::DeleteHost(name.clone()),
            Self::audit_entry(Some(actor), "host remove", name, "ok"),
        ])
        .await?;
        self.engine().hosts.remove(name.as_str());
        tracing::info!(host = %name, "host removed");
        Ok(())
    }

    /// `vsm host undrain`: a draining host or one in maintenance takes new servers again.
    pub async fn undrain_host(&self, actor: &Actor, name: &HostName) -> Result<HostInfo> {
        self.check_running()?;
        self.authorize(actor, Action::HostUndrain, None, name.as_str())
            .await?;
        let (record, _) = self.host_record(name)?;
        match record.state {
            HostState::Up => {}
            HostState::Draining | HostState::Maintenance => {}
            HostState::Down => {
                return Err(Error::invalid_with_hint(
                    format!("host {name} is down"),
                    "it comes back up by itself once the manager reaches it again",
                ));
            }
        }
        self.set_host_state(Some(actor), name, HostState::Up, "host undrain")
            .await?;
        self.show_host(actor, name).await
    }

    /// `vsm host drain`: takes the host out of placement (`draining`), then moves every server
    /// on it elsewhere, one operation per unit (group by group in start order, each group
    /// staying at its healthy servers: replacements start and pass their health checks before
    /// the servers they replace are stopped and destroyed). Bounded by the time-out: what is
    /// still running then is cancelled. An emptied host goes into `maintenance`; otherwise the
    /// report lists every server left and why.
    pub async fn drain_host(
        &self,
        actor: &Actor,
        name: &HostName,
        req: DrainRequest,
    ) -> Result<DrainReport> {
        self.check_running()?;
        self.authorize(actor, Action::HostDrain, None, name.as_str())
            .await?;
        let (record, _) = self.host_record(name)?;
        if record.state == HostState::Down {
            return Err(Error::invalid_with_hint(
                format!(
                    "host {name} is down: its servers cannot be drained, only restarted elsewhere"
                ),
                "see `vsm host show` for its last error",
            ));
        }
        let timeout = Duration::from_secs(req.timeout_secs.unwrap_or(DEFAULT_DRAIN_SECS).max(1));
        let deadline = tokio::time::Instant::now() + timeout;
        if record.state != HostState::Maintenance {
            self.set_host_state(Some(actor), name, HostState::Draining, "host drain")
                .await?;
        }
        let (units, sizes) = self.pool_view().await?;
        let before = placed_on(name, &units, &sizes);
        let mut unit_names: Vec<UnitName> = before.iter().map(|p| p.unit.clone()).collect();
        unit_names.dedup();
        let requests = unit_names
            .into_iter()
            .map(|u| (u, engine::Request::Evacuate(name.clone())))
            .collect();
        let (ids, refused, timed_out) = self
            .per_unit(actor, OperationKind::HostDrain, requests, deadline)
            .await;
        let mut records = Vec::new();
        for id in &ids {
            records.push(self.operation_record(*id).await?);
        }
        let (units, sizes) = self.pool_view().await?;
        let after = placed_on(name, &units, &sizes);
        let left: Vec<LeftServer> = after
            .iter()
            .map(|p| LeftServer {
                unit: p.unit.clone(),
                group: p.group.clone(),
                server: p.server.clone(),
                reason: left_reason(p, &refused, &records, timed_out),
            })
            .collect();
        let moved = u32::try_from(before.len().saturating_sub(after.len())).unwrap_or(u32::MAX);
        if left.is_empty() {
            self.set_host_state(Some(actor), name, HostState::Maintenance, "host drain")
                .await?;
        } else {
            let _ = self
                .write(vec![Self::audit_entry(
                    Some(actor),
                    "host drain",
                    name,
                    format!("{moved} moved, {} left", left.len()),
                )])
                .await;
        }
        tracing::info!(host = %name, moved, left = left.len(), timed_out, "host drained");
        Ok(DrainReport {
            host: self.show_host(actor, name).await?,
            operations: records.into_iter().map(|r| r.summary).collect(),
            moved,
            left,
            timed_out,
        })
    }

    /// `vsm host confirm-down`: an administrator confirms that a down host is lost (powered
    /// off, fenced): its servers are restarted on the other hosts at once, one operation per
    /// unit. Refused unless the host is down (a host that answers is never confirmed lost:
    /// that would run two copies of its servers).
    pub async fn confirm_host_down(
        &self,
        actor: &Actor,
        name: &HostName,
    ) -> Result<ConfirmDownReport> {
        self.check_running()?;
        self.authorize(actor, Action::HostConfirmDown, None, name.as_str())
            .await?;
        let (record, _) = self.host_record(name)?;
        if record.state != HostState::Down {
            return Err(Error::invalid_with_hint(
                format!(
                    "host {name} is {}, not down: confirming it lost could run two copies of its servers",
                    record.state
                ),
                "a host is marked down after it has not answered for monitor.host_down_after_secs; move servers off a host that answers with `vsm host drain`",
            ));
        }
        let r = self
            .engine()
            .hosts
            .update(name.as_str(), |r| r.down_confirmed = true)
            .ok_or_else(|| Error::not_found(Entity::Host, name))?;
        self.write(vec![
            Change::PutHost(r),
            Self::audit_entry(Some(actor), "host confirm-down", name, "ok"),
        ])
        .await?;
        let started = engine::fail_over(self.engine(), name, Some(actor.clone()), true).await;
        tracing::warn!(host = %name, operations = started.operations.len(), refused = started.refused.len(), "host confirmed down; its servers restart elsewhere");
        Ok(ConfirmDownReport {
            host: self.show_host(actor, name).await?,
            operations: started.operations,
            not_restarted: started
                .refused
                .into_iter()
                .map(|(unit, reason)| crate::api::UnitRefusal { unit, reason })
                .collect(),
        })
    }

    /// Probes every host once now (the manager also does so every `monitor.host_probe_ms`
    /// when the monitor runs): marks hosts down or back up, starts failovers for lost hosts
    /// with `fencing: none`, and cleans hosts that return. Answers the hosts newly down and
    /// those that returned.
    pub async fn probe_hosts_once(&self) -> Result<(Vec<HostName>, Vec<HostName>)> {
        let r = engine::probe_hosts(self.engine()).await?;
        Ok((r.down, r.returned.into_iter().map(|(h, _)| h).collect()))
    }

    /// Starts one operation per unit (each waits for its unit's lock until `deadline`) and
    /// waits for them until `deadline`; then cancels what still runs and gives it a short
    /// grace. Answers the operations, the units refused with why, and whether time ran out.
    async fn per_unit(
        &self,
        actor: &Actor,
        kind: OperationKind,
        requests: Vec<(UnitName, engine::Request)>,
        deadline: tokio::time::Instant,
    ) -> (Vec<OperationId>, HashMap<UnitName, String>, bool) {
        let starts = requests.into_iter().map(|(u, request)| {
            let engine = self.engine().clone();
            let actor = actor.clone();
            async move {
                let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
                let r = engine::start(&engine, Some(actor), &u, kind, request, Some(wait)).await;
                (u, r)
            }
        });
        let mut refused: HashMap<UnitName, String> = HashMap::new();
        let mut ids = Vec::new();
        for (u, r) in futures::future::join_all(starts).await {
            match r {
                Ok(id) => ids.push(id),
                Err(e) => {
                    refused.insert(u, e.to_string());
                }
            }
        }
        let mut timed_out = false;
        for id in &ids {
            if let Some(mut done) = self.engine().ops.done(*id)
                && tokio::time::timeout_at(deadline, done.wait_for(|d| *d))
                    .await
                    .is_err()
            {
                timed_out = true;
                break;
            }
        }
        if timed_out {
            for id in &ids {
                if let Some((cancel, _)) = self.engine().ops.handles(*id) {
                    cancel.cancel();
                }
            }
            let grace = tokio::time::Instant::now() + CANCEL_GRACE;
            for id in &ids {
                if let Some(mut done) = self.engine().ops.done(*id) {
                    let _ = tokio::time::timeout_at(grace, done.wait_for(|d| *d)).await;
                }
            }
        }
        (ids, refused, timed_out)
    }

    /// `vsm host rebalance`: proposes the moves that restore the spread of `spread` groups
    /// over the hosts they may use ([`vsm_core::propose_rebalance`]); unless a dry run, applies
    /// them like a drain (a replacement placed on the emptiest allowed host, started and
    /// health-checked, then the old server stopped and destroyed), one operation per unit.
    pub async fn rebalance_hosts(
        &self,
        actor: &Actor,
        req: RebalanceRequest,
    ) -> Result<RebalanceReport> {
        self.check_running()?;
        self.authorize(actor, Action::HostRebalance, None, "hosts")
            .await?;
        let (units, templates) = self.db(|s| Ok((s.units()?, s.templates()?))).await?;
        let sizes = sizes_of(&templates);
        let drivers: HashMap<&TemplateName, &str> = templates
            .iter()
            .map(|t| (&t.name, t.driver.as_str()))
            .collect();
        let mut rules = std::collections::BTreeMap::new();
        for u in &units {
            for g in &u.groups {
                if let Some(p) = g.spec.provisioned() {
                    let mut rule = p.placement.with_min(p.min);
                    if let Some(d) = drivers.get(&p.template) {
                        rule.hosts
                            .insert(vsm_core::DRIVER_LABEL.to_owned(), (*d).to_owned());
                    }
                    rules.insert((u.name.clone(), g.name().clone()), rule);
                }
            }
        }
        let moves = vsm_core::propose_rebalance(
            &self.engine().hosts.placement_hosts(),
            &placements(&units, &sizes),
            &rules,
        );
        if req.dry_run || moves.is_empty() {
            return Ok(RebalanceReport {
                moves,
                dry_run: req.dry_run,
                operations: Vec::new(),
                timed_out: false,
            });
        }
        let timeout = Duration::from_secs(req.timeout_secs.unwrap_or(DEFAULT_DRAIN_SECS).max(1));
        let deadline = tokio::time::Instant::now() + timeout;
        let mut by_unit: std::collections::BTreeMap<UnitName, Vec<vsm_core::ServerName>> =
            std::collections::BTreeMap::new();
        for m in &moves {
            by_unit
                .entry(m.unit.clone())
                .or_default()
                .push(m.server.clone());
        }
        let requests = by_unit
            .into_iter()
            .map(|(u, servers)| (u, engine::Request::Rebalance(servers)))
            .collect();
        let (ids, refused, timed_out) = self
            .per_unit(actor, OperationKind::HostRebalance, requests, deadline)
            .await;
        let mut operations = Vec::new();
        for id in &ids {
            operations.push(self.operation_record(*id).await?.summary);
        }
        let _ = self
            .write(vec![Self::audit_entry(
                Some(actor),
                "host rebalance",
                "hosts",
                format!(
                    "{} move(s) proposed; {} operation(s); {} unit(s) refused",
                    moves.len(),
                    operations.len(),
                    refused.len()
                ),
            )])
            .await;
        Ok(RebalanceReport {
            moves,
            dry_run: false,
            operations,
            timed_out,
        })
    }

    /// Changes a host's state, durably and audited.
    pub(crate) async fn set_host_state(
        &self,
        actor: Option<&Actor>,
        name: &HostName,
        state: HostState,
        action: &str,
    ) -> Result<HostRecord> {
        let record = self
            .engine()
            .hosts
            .update(name.as_str(), |r| r.state = state)
            .ok_or_else(|| Error::not_found(Entity::Host, name))?;
        self.write(vec![
            Change::PutHost(record.clone()),
            Self::audit_entry(actor, action, name, state),
        ])
        .await?;
        Ok(record)
    }

    fn host_record(&self, name: &HostName) -> Result<(HostRecord, bool)> {
        self.engine()
            .hosts
            .record(name.as_str())
            .ok_or_else(|| Error::not_found(Entity::Host, name))
    }

    /// Every unit, and every template generation's machine size.
    async fn pool_view(&self) -> Result<(Vec<Unit>, Sizes)> {
        let (units, templates) = self.db(|s| Ok((s.units()?, s.templates()?))).await?;
        Ok((units, sizes_of(&templates)))
    }
}

/// Every template generation's machine size.
fn sizes_of(templates: &[vsm_core::model::Template]) -> Sizes {
    templates
        .iter()
        .flat_map(|t| {
            t.generations
                .iter()
                .map(|g| ((t.name.clone(), g.generation.0), g.machine_size()))
        })
        .collect()
}

/// How long a drain may take unless told otherwise.
const DEFAULT_DRAIN_SECS: u64 = 600;

/// How long cancelled drain operations get to end after the time-out before the drain answers
/// (a driver call in flight may take longer: its operation then ends, and cleans up, later).
const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// Why a server is still on a drained host: its unit was busy, its group's replacements could
/// not be placed or failed, or time ran out.
fn left_reason(
    p: &Placement,
    refused: &HashMap<UnitName, String>,
    records: &[OperationRecord],
    timed_out: bool,
) -> String {
    if let Some(e) = refused.get(&p.unit) {
        return format!("its unit could not be drained: {e}");
    }
    let Some(rec) = records
        .iter()
        .find(|r| r.summary.unit.as_ref() == Some(&p.unit))
    else {
        return "it was placed on the host while the drain ran".into();
    };
    let group_note = format!("group {}:", p.group);
    if let Some(w) = rec.warnings.iter().find(|w| w.starts_with(&group_note)) {
        return w.trim_start_matches(&group_note).trim().to_owned();
    }
    if timed_out {
        return if rec.summary.state.is_finished() {
            "the drain's time-out passed before it was moved".into()
        } else {
            format!(
                "the drain's time-out passed before it was moved; operation {} is still ending (a driver call has not returned) and then destroys the replacements it began",
                rec.summary.id
            )
        };
    }
    if let Some(failed) = rec
        .servers
        .iter()
        .find(|s| s.group.as_ref() == Some(&p.group) && s.server != p.server && s.error.is_some())
    {
        return format!(
            "the replacement {} in group {} failed: {}",
            failed.server,
            p.group,
            failed.error.as_deref().unwrap_or("")
        );
    }
    match &rec.error {
        Some(e) => format!("operation {} ended: {e}", rec.summary.id),
        None => format!("operation {} ended {}", rec.summary.id, rec.summary.state),
    }
}

/// Machine sizes by template and generation.
type Sizes = HashMap<(TemplateName, u32), vsm_core::Resources>;

fn placements(units: &[Unit], sizes: &Sizes) -> Vec<Placement> {
    vsm_core::placements_of(units, &|t, g| sizes.get(&(t.clone(), g.0)).copied())
}

fn placed_on(host: &HostName, units: &[Unit], sizes: &Sizes) -> Vec<Placement> {
    placements(units, sizes)
        .into_iter()
        .filter(|p| p.host == *host)
        .collect()
}

fn host_info(
    record: HostRecord,
    connected: bool,
    units: &[Unit],
    sizes: &Sizes,
    detail: bool,
) -> HostInfo {
    let host = record.placement_host(connected);
    let all = placements(units, sizes);
    let usage = vsm_core::host_usage(std::slice::from_ref(&host), &all);
    let (allocatable, used, servers) = usage
        .first()
        .map_or((host.allocatable(), Default::default(), 0), |u| {
            (u.allocatable, u.used, u.servers)
        });
    let placed = if detail {
        all.into_iter()
            .filter(|p| p.host == *record.name())
            .map(|p| PlacedServer {
                unit: p.unit,
                group: p.group,
                server: p.server,
                size: p.size,
            })
            .collect()
    } else {
        Vec::new()
    };
    HostInfo {
        host: record,
        connected,
        allocatable,
        used,
        servers,
        placed,
    }
}

/// Whether `record` reaches the same hypervisor as `connection` (same URI or directory; the
/// built-in hosts by what their driver describes).
fn same_place(record: &HostRecord, connection: &HostConnection) -> bool {
    if record.driver() != connection.driver {
        return false;
    }
    let described =
        |prefix: &str, what: &str| record.endpoint.as_deref() == Some(&format!("{prefix}{what}"));
    match (&connection.uri, &connection.dir) {
        (Some(uri), _) => {
            record.connection.uri.as_deref() == Some(uri.as_str()) || described("libvirt ", uri)
        }
        (None, Some(dir)) => {
            record.connection.dir.as_ref() == Some(dir) || described("local:", dir.as_str())
        }
        (None, None) => false,
    }
}

/// Checks `vsm host add`'s request; answers how to reach the host.
fn check_add(req: &AddHost) -> Result<HostConnection> {
    if DriverKind::Local.as_str() == req.name.as_str()
        || DriverKind::Libvirt.as_str() == req.name.as_str()
        || DriverKind::Static.as_str() == req.name.as_str()
    {
        return Err(Error::invalid_with_hint(
            format!(
                "host name {} is kept for the built-in host of that driver",
                req.name
            ),
            "choose another name, e.g. kvm-01",
        ));
    }
    for (k, v) in &req.labels {
        if k.is_empty() || k.contains(['=', ',']) || k.trim() != k {
            return Err(Error::invalid_with_hint(
                format!("invalid label key {k:?}"),
                "give labels as key=value, e.g. --label zone=a",
            ));
        }
        if k.starts_with(RESERVED_LABEL_PREFIX) {
            return Err(Error::invalid_with_hint(
                format!(
                    "label key {k:?} is reserved (keys starting with `vsm.` are the manager's)"
                ),
                "choose another key",
            ));
        }
        if v.contains(',') || v.trim() != v {
            return Err(Error::invalid_with_hint(
                format!("invalid value {v:?} of label {k:?}"),
                "give labels as key=value, e.g. --label zone=a",
            ));
        }
    }
    let (uri, dir) = match req.driver {
        DriverKind::Libvirt => {
            let Some(uri) = req.uri.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
                return Err(Error::invalid_with_hint(
                    "a libvirt host needs its connection URI",
                    "give --uri, e.g. --uri qemu+ssh://root@kvm-01/system",
                ));
            };
            if req.dir.is_some() {
                return Err(Error::invalid(
                    "--dir is for local hosts; a libvirt host is reached by its --uri",
                ));
            }
            (Some(uri.to_owned()), None)
        }
        DriverKind::Local => {
            let Some(dir) = &req.dir else {
                return Err(Error::invalid_with_hint(
                    "a local host needs a state directory",
                    "give --dir, an absolute path, e.g. --dir /var/lib/vsm/hosts/local-2",
                ));
            };
            if !dir.is_absolute() {
                return Err(Error::invalid_with_hint(
                    format!("the local host's directory {dir} is not absolute"),
                    "give an absolute path",
                ));
            }
            if req.uri.is_some() {
                return Err(Error::invalid(
                    "--uri is for libvirt hosts; a local host is given by its --dir",
                ));
            }
            (None, Some(dir.clone()))
        }
        DriverKind::Static => {
            return Err(Error::invalid_with_hint(
                "registered machines are not a host of the pool",
                "use --driver local or --driver libvirt",
            ));
        }
    };
    Ok(HostConnection {
        name: req.name.clone(),
        driver: req.driver,
        uri,
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, driver: DriverKind) -> AddHost {
        AddHost {
            name: HostName::new(name).expect("name"),
            driver,
            uri: None,
            dir: None,
            labels: Default::default(),
            cpu_ratio: None,
            ram_ratio: None,
            reserved_memory_mb: None,
            fencing: None,
        }
    }

    #[test]
    fn one_machine_is_one_host() {
        let conn = |name: &str, driver, uri: Option<&str>, dir: Option<&str>| HostConnection {
            name: HostName::new(name).expect("name"),
            driver,
            uri: uri.map(str::to_owned),
            dir: dir.map(camino::Utf8PathBuf::from),
        };
        let kvm1 = HostRecord::new(
            conn(
                "kvm-1",
                DriverKind::Libvirt,
                Some("qemu+ssh://kvm-1/system"),
                None,
            ),
            vsm_core::Timestamp::EPOCH,
        );
        assert!(same_place(
            &kvm1,
            &conn(
                "kvm-dup",
                DriverKind::Libvirt,
                Some("qemu+ssh://kvm-1/system"),
                None
            )
        ));
        assert!(!same_place(
            &kvm1,
            &conn(
                "kvm-2",
                DriverKind::Libvirt,
                Some("qemu+ssh://kvm-2/system"),
                None
            )
        ));
        // The built-in hosts are known by what their driver describes.
        let mut local = HostRecord::new(
            conn("local", DriverKind::Local, None, None),
            vsm_core::Timestamp::EPOCH,
        );
        local.endpoint = Some("local:/var/lib/vsm/local".into());
        assert!(same_place(
            &local,
            &conn("again", DriverKind::Local, None, Some("/var/lib/vsm/local"))
        ));
        assert!(!same_place(
            &local,
            &conn("h2", DriverKind::Local, None, Some("/var/lib/vsm/hosts/h2"))
        ));
    }

    #[test]
    fn add_requests_are_checked_before_anything_connects() {
        let mut r = req("local", DriverKind::Local);
        r.dir = Some("/srv/h".into());
        assert!(check_add(&r).unwrap_err().to_string().contains("built-in"));
        let r = req("kvm-1", DriverKind::Libvirt);
        assert!(check_add(&r).unwrap_err().to_string().contains("URI"));
        let mut r = req("h2", DriverKind::Local);
        r.dir = Some("rel/dir".into());
        assert!(
            check_add(&r)
                .unwrap_err()
                .to_string()
                .contains("not absolute")
        );
        let mut r = req("h2", DriverKind::Local);
        r.dir = Some("/srv/h2".into());
        r.labels.insert("vsm.driver".into(), "x".into());
        assert!(check_add(&r).unwrap_err().to_string().contains("reserved"));
        let mut r = req("h2", DriverKind::Local);
        r.dir = Some("/srv/h2".into());
        r.labels.insert("zone".into(), "a".into());
        let c = check_add(&r).expect("valid");
        assert_eq!(c.dir.as_deref(), Some(camino::Utf8Path::new("/srv/h2")));
        assert_eq!(c.driver, DriverKind::Local);
    }
}
