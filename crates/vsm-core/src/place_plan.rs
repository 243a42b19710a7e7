//! Placing a unit's plans on the host pool: every `provision` step of a request gets its host
//! and placement epoch **before** the request runs, all of them at once through
//! [`crate::placement::place`], so a request that does not fit creates nothing.
//!
//! Hosts serve one driver kind each: every host carries the label [`DRIVER_LABEL`] with its
//! driver, and each group's selector gets the driver of its template, so a group of `libvirt`
//! servers is never placed on a `local` host (and the refusal says so).

use std::collections::BTreeMap;

use crate::model::{GroupKind, Origin, Unit};
use crate::names::{ServerName, TemplateName};
use crate::placement::{
    Host, HostName, NewServer, Placement, PlacementError, PlacementRequest, Resources,
    UnitPlacement, place,
};
use crate::plan::{Plan, Step};
use crate::time::TemplateGeneration;

/// The label that every host carries with its driver kind (`local`, `libvirt`, …).
pub const DRIVER_LABEL: &str = "vsm.driver";

/// The label prefix that marks the hosts holding a template generation: a host that has
/// generation `G` of template `T` carries `vsm.has.T@G: yes` for a placement that needs it.
pub const HAS_TEMPLATE_LABEL: &str = "vsm.has.";

/// What placement needs to know of a template generation: its driver kind, the size of one
/// machine, and which hosts have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFacts {
    /// The driver kind (`local`, `libvirt`, …).
    pub driver: String,
    /// What one machine takes of its host.
    pub size: Resources,
    /// The hosts that can clone it (`None`: every host of its driver, e.g. a local template
    /// directory that every local host reads).
    pub hosts: Option<std::collections::BTreeSet<HostName>>,
}

/// Where every provisioned server of `units` sits now, as placement counts it: servers whose
/// host is a pool host name, with their template generation's size (`size_of`; `None`: the
/// default size). Registered machines take nothing of the pool.
pub fn placements_of<'a>(
    units: impl IntoIterator<Item = &'a Unit>,
    size_of: &dyn Fn(&TemplateName, TemplateGeneration) -> Option<Resources>,
) -> Vec<Placement> {
    let mut out = Vec::new();
    for unit in units {
        for (g, s) in unit.servers() {
            let Origin::Provisioned {
                template,
                generation,
            } = &s.origin
            else {
                continue;
            };
            let Some(host) = s.host.as_deref().and_then(|h| HostName::new(h).ok()) else {
                continue;
            };
            out.push(Placement {
                unit: unit.name.clone(),
                group: g.name().clone(),
                server: s.name.clone(),
                host,
                size: size_of(template, *generation)
                    .unwrap_or(crate::model::TemplateGenerationInfo::DEFAULT_SIZE),
            });
        }
    }
    out
}

/// Gives every `provision` step of `plans` (a request of `unit`) its host and placement epoch
/// on `hosts`, beside `placements` (every unit's servers, this unit's included); answers how
/// many steps were placed. On an error nothing is changed: the request does not fit.
///
/// The steps are placed phase by phase in plan order, each phase's provisions as one batch
/// against what exists at that point: a server's old place is freed by its `destroy` step (so
/// a batched upgrade never counts a machine twice nor puts two on one host before the old one
/// is gone), and a server provisioned again gets the next epoch; a new server gets epoch 1.
///
/// Each host must carry [`DRIVER_LABEL`]; `template` answers a template generation's driver
/// and size (`None`: it does not exist).
pub fn place_plan(
    unit: &Unit,
    plans: &mut [Plan],
    hosts: &[Host],
    placements: &[Placement],
    template: &dyn Fn(&TemplateName, TemplateGeneration) -> Option<TemplateFacts>,
) -> Result<usize, PlacementError> {
    // Every provision's facts first: an unknown template refuses the whole request.
    let mut drivers: BTreeMap<crate::names::GroupName, String> = BTreeMap::new();
    // Groups whose template only some hosts have: the label those hosts get, and the hosts.
    let mut holders: BTreeMap<
        crate::names::GroupName,
        (String, std::collections::BTreeSet<HostName>),
    > = BTreeMap::new();
    let mut sizes: BTreeMap<ServerName, Resources> = BTreeMap::new();
    for step in plans.iter().flat_map(|p| p.steps()) {
        if let Step::Provision {
            server,
            group,
            template: t,
            generation,
            ..
        } = step
        {
            let facts =
                template(t, *generation).ok_or_else(|| PlacementError::UnknownTemplate {
                    unit: unit.name.clone(),
                    server: server.clone(),
                    template: t.clone(),
                })?;
            drivers.entry(group.clone()).or_insert(facts.driver);
            if let Some(hosts) = facts.hosts {
                holders.entry(group.clone()).or_insert_with(|| {
                    (format!("{HAS_TEMPLATE_LABEL}{t}@{}", generation.0), hosts)
                });
            }
            sizes.insert(server.clone(), facts.size);
        }
    }
    if sizes.is_empty() {
        return Ok(0);
    }
    let groups: BTreeMap<_, _> = unit
        .groups
        .iter()
        .filter_map(|g| match &g.spec.kind {
            GroupKind::Provisioned(p) => {
                let mut rules = p.placement.with_min(p.min);
                if let Some(driver) = drivers.get(g.name()) {
                    rules.hosts.insert(DRIVER_LABEL.to_owned(), driver.clone());
                }
                if let Some((label, _)) = holders.get(g.name()) {
                    rules.hosts.insert(label.clone(), "yes".to_owned());
                }
                Some((g.name().clone(), rules))
            }
            GroupKind::Registered(_) => None,
        })
        .collect();
    // The hosts that hold a template some hosts lack carry its label.
    let labelled: Vec<Host>;
    let hosts: &[Host] = if holders.is_empty() {
        hosts
    } else {
        labelled = hosts
            .iter()
            .map(|h| {
                let mut h = h.clone();
                for (label, holding) in holders.values() {
                    if holding.contains(&h.name) {
                        h.labels.insert(label.clone(), "yes".to_owned());
                    }
                }
                h
            })
            .collect();
        &labelled
    };
    let rules = UnitPlacement {
        tolerate_host_failures: unit.tolerate_host_failures,
        groups,
    };
    // What exists as the plans run: every placement, this unit's by server name.
    let mut others: Vec<Placement> = Vec::new();
    let mut own: BTreeMap<ServerName, Placement> = BTreeMap::new();
    for p in placements {
        if p.unit == unit.name {
            own.insert(p.server.clone(), p.clone());
        } else {
            others.push(p.clone());
        }
    }
    let mut answer: Vec<(usize, usize, usize, HostName)> = Vec::new();
    for (pi, plan) in plans.iter().enumerate() {
        for (hi, phase) in plan.phases.iter().enumerate() {
            let mut batch = Vec::new();
            for (si, step) in phase.steps.iter().enumerate() {
                match step {
                    Step::Destroy { server } => {
                        own.remove(server);
                    }
                    Step::Provision { server, group, .. } => {
                        // Provisioned again: its old machine is gone by now.
                        own.remove(server);
                        batch.push((
                            si,
                            NewServer {
                                unit: unit.name.clone(),
                                group: group.clone(),
                                server: server.clone(),
                                size: sizes.get(server).copied().unwrap_or_default(),
                            },
                        ));
                    }
                    _ => {}
                }
            }
            if batch.is_empty() {
                continue;
            }
            let current: Vec<Placement> = others.iter().chain(own.values()).cloned().collect();
            let request = PlacementRequest {
                servers: batch.iter().map(|(_, s)| s.clone()).collect(),
                units: BTreeMap::from([(unit.name.clone(), rules.clone())]),
            };
            let placed = place(hosts, &current, &request)?;
            for ((si, new), (_, host)) in batch.into_iter().zip(placed) {
                own.insert(
                    new.server.clone(),
                    Placement {
                        unit: new.unit,
                        group: new.group,
                        server: new.server,
                        host: host.clone(),
                        size: new.size,
                    },
                );
                answer.push((pi, hi, si, host));
            }
        }
    }
    let n = answer.len();
    for (pi, hi, si, h) in answer {
        if let Step::Provision {
            server,
            host,
            epoch,
            ..
        } = &mut plans[pi].phases[hi].steps[si]
        {
            *host = Some(h);
            *epoch = unit
                .server(server)
                .map_or(1, |(_, s)| s.epoch.saturating_add(1));
        }
    }
    Ok(n)
}

#[cfg(test)]
#[path = "place_plan_tests.rs"]
mod tests;
