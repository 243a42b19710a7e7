//! Moving a unit's servers off a host (`vsm host drain`), group by group in start order, never
//! below a group's healthy servers: each server on the host gets a **replacement** (a new
//! server of its group, from the same template generation, given the definition version the
//! old one runs, started and health-checked when the old one runs); only once replacements are
//! healthy are as many old servers stopped and destroyed. The old servers serve until then.
//!
//! [`Evacuation::next`] answers the next plan on the unit as it is now, so a drain runs as a
//! sequence of plans (replace a group, retire what was replaced, next group…). A replacement
//! that fails is destroyed and its old server stays where it is; a group that cannot be
//! replaced is tried once. Servers left over by an interrupted drain (more servers than the
//! group's count) are retired first, without new replacements.

use std::collections::{BTreeSet, HashSet};

use crate::model::{Group, GroupKind, LogicalStatus, Origin, Server, Unit};
use crate::names::{GroupName, ServerName};
use crate::plan::{Gate, Plan, PlanKind, Step, health, needs_stop, stages};

/// The state of a drain on one unit between its plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evacuation {
    /// The host being emptied.
    pub host: String,
    /// The unit's servers when the drain began: any other server is a replacement.
    known: BTreeSet<ServerName>,
    /// Groups whose replacements were already planned once.
    attempted: BTreeSet<GroupName>,
}

impl Evacuation {
    /// A drain of `host` on `unit` as it is now.
    pub fn new(unit: &Unit, host: impl Into<String>) -> Evacuation {
        Evacuation {
            host: host.into(),
            known: unit.servers().map(|(_, s)| s.name.clone()).collect(),
            attempted: BTreeSet::new(),
        }
    }

    /// The provisioned servers of `unit` that are on the host.
    pub fn remaining<'a>(&self, unit: &'a Unit) -> Vec<(&'a Group, &'a Server)> {
        unit.servers()
            .filter(|(_, s)| self.on_host(s))
            .collect()
    }

    fn on_host(&self, s: &Server) -> bool {
        matches!(s.origin, Origin::Provisioned { .. }) && s.host.as_deref() == Some(&self.host)
    }

    /// The next plan of the drain on `unit` as it is now, or `None` when it is done (every
    /// server moved, or what is left could not be).
    pub fn next(&mut self, unit: &Unit) -> Option<Plan> {
        for stage in stages(unit) {
            for g in stage {
                let GroupKind::Provisioned(p) = &g.spec.kind else {
                    continue;
                };
                let victims: Vec<&Server> = g.servers.iter().filter(|s| self.on_host(s)).collect();
                let fresh: Vec<&Server> = g
                    .servers
                    .iter()
                    .filter(|s| !self.known.contains(&s.name))
                    .collect();
                // Replacements that failed go; healthy ones each free one old server; servers
                // above the group's count (an interrupted drain) free as many.
                let failed: Vec<&Server> = fresh
                    .iter()
                    .copied()
                    .filter(|s| s.logical == LogicalStatus::Failed || s.logical == LogicalStatus::Provisioning)
                    .collect();
                let left = g.servers.len().saturating_sub(failed.len());
                let surplus = left.saturating_sub(usize::try_from(p.count).unwrap_or(usize::MAX));
                let retire: Vec<&Server> = victims.iter().copied().take(surplus).collect();
                self.known.extend(fresh.iter().map(|s| s.name.clone()));
                if !retire.is_empty() || !failed.is_empty() {
                    return Some(retire_plan(&self.host, g, &retire, &failed, p.grace_ms));
                }
                if !victims.is_empty() && self.attempted.insert(g.name().clone()) {
                    return Some(replace_plan(&self.host, unit, g, &victims));
                }
            }
        }
        None
    }
}

/// Replacements for `victims` of `g`: provision (same template generation), apply the version
/// each victim runs, start and health-check those whose victim runs.
fn replace_plan(host: &str, unit: &Unit, g: &Group, victims: &[&Server]) -> Plan {
    let mut plan = Plan::new(PlanKind::Evacuate {
        host: host.to_owned(),
        group: g.name().clone(),
    });
    let mut used: HashSet<ServerName> = unit.server_names();
    let mut from = 0;
    let (mut provision, mut apply, mut start, mut check) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for v in victims {
        let Origin::Provisioned {
            template,
            generation,
        } = &v.origin
        else {
            continue;
        };
        let (name, seq) = g.next_free_name_from(&used, from);
        from = seq.saturating_add(1);
        used.insert(name.clone());
        provision.push(Step::Provision {
            server: name.clone(),
            group: g.name().clone(),
            template: template.clone(),
            generation: *generation,
            host: None,
            epoch: 0,
        });
        if let Some(a) = &v.applied {
            apply.push(Step::Apply {
                server: name.clone(),
                version: a.version,
                digest: a.digest.clone(),
                scope: crate::model::UpdateScope::All,
            });
        }
        if v.logical.is_running() {
            start.push(Step::Start {
                server: name.clone(),
            });
            check.push(health(g, &name));
        }
    }
    let label = format!("replacements in group {} for host {host}", g.name());
    plan.push(format!("provision {label}"), provision, Gate::None);
    plan.push(format!("apply to {label}"), apply, Gate::None);
    plan.push(format!("start {label}"), start, Gate::None);
    plan.push(format!("health-check {label}"), check, Gate::None);
    plan
}

/// Stops and destroys `retire` (replaced servers) and destroys `failed` replacements.
fn retire_plan(
    host: &str,
    g: &Group,
    retire: &[&Server],
    failed: &[&Server],
    grace_ms: u64,
) -> Plan {
    let mut plan = Plan::new(PlanKind::Evacuate {
        host: host.to_owned(),
        group: g.name().clone(),
    });
    // Replaced servers drain for the group's grace; failed replacements served nothing.
    let stops = retire
        .iter()
        .map(|s| (s, grace_ms))
        .chain(failed.iter().map(|s| (s, 0)))
        .filter(|(s, _)| needs_stop(s))
        .map(|(s, grace_ms)| Step::Stop {
            server: s.name.clone(),
            grace_ms,
        })
        .collect();
    let destroys = retire
        .iter()
        .chain(failed)
        .map(|s| Step::Destroy {
            server: s.name.clone(),
        })
        .collect();
    plan.push(
        format!("stop replaced servers of group {} on host {host}", g.name()),
        stops,
        Gate::None,
    );
    plan.push(
        format!("destroy replaced servers of group {} on host {host}", g.name()),
        destroys,
        Gate::None,
    );
    plan
}

#[cfg(test)]
#[path = "evacuate_tests.rs"]
mod tests;
