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
    /// Groups retired since their last replacement (a retire that failed is not repeated).
    retired: BTreeSet<GroupName>,
    /// Only these servers move (a rebalance); `None`: every server on the host (a drain).
    only: Option<BTreeSet<ServerName>>,
    /// The replacements of the last replace plan, until they are judged.
    pending: BTreeSet<ServerName>,
}

impl Evacuation {
    /// A drain of `host` on `unit` as it is now.
    pub fn new(unit: &Unit, host: impl Into<String>) -> Evacuation {
        Evacuation {
            host: host.into(),
            known: unit.servers().map(|(_, s)| s.name.clone()).collect(),
            attempted: BTreeSet::new(),
            retired: BTreeSet::new(),
            only: None,
            pending: BTreeSet::new(),
        }
    }

    /// A move of just `servers` of `unit`, wherever they are (a rebalance), the same way;
    /// `label` names it in plans.
    pub fn of_servers(
        unit: &Unit,
        label: impl Into<String>,
        servers: impl IntoIterator<Item = ServerName>,
    ) -> Evacuation {
        Evacuation {
            only: Some(servers.into_iter().collect()),
            ..Evacuation::new(unit, label)
        }
    }

    /// The provisioned servers of `unit` that are on the host.
    pub fn remaining<'a>(&self, unit: &'a Unit) -> Vec<(&'a Group, &'a Server)> {
        unit.servers().filter(|(_, s)| self.on_host(s)).collect()
    }

    fn on_host(&self, s: &Server) -> bool {
        matches!(s.origin, Origin::Provisioned { .. })
            && match &self.only {
                Some(only) => only.contains(&s.name),
                None => s.host.as_deref() == Some(&self.host),
            }
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
                // A replacement is good when it is as its old servers were: working when they
                // ran, else at least provisioned and stopped.
                let want_running = victims.iter().any(|s| s.logical.is_running());
                let good = |s: &Server| match s.logical {
                    LogicalStatus::Working => true,
                    LogicalStatus::Stopped => !want_running,
                    _ => false,
                };
                let failed: Vec<&Server> = g
                    .servers
                    .iter()
                    .filter(|s| !self.known.contains(&s.name) && !good(s))
                    .collect();
                // Good servers elsewhere beyond the group's count (good replacements, or what an
                // interrupted drain left) each free one old server.
                let good_elsewhere = g
                    .servers
                    .iter()
                    .filter(|s| !self.on_host(s) && good(s))
                    .count();
                let surplus = (good_elsewhere + victims.len())
                    .saturating_sub(usize::try_from(p.count).unwrap_or(usize::MAX));
                let retire: Vec<&Server> = victims.iter().copied().take(surplus).collect();
                if (!retire.is_empty() || !failed.is_empty())
                    && self.retired.insert(g.name().clone())
                {
                    self.known.extend(g.servers.iter().map(|s| s.name.clone()));
                    self.pending.clear();
                    return Some(retire_plan(&self.host, g, &retire, &failed, p.grace_ms));
                }
                self.known.extend(g.servers.iter().map(|s| s.name.clone()));
                if !victims.is_empty() && self.attempted.insert(g.name().clone()) {
                    self.retired.remove(g.name());
                    let plan = replace_plan(&self.host, unit, g, &victims);
                    self.pending = plan
                        .steps()
                        .filter_map(|s| match s {
                            Step::Provision { server, .. } => Some(server.clone()),
                            _ => None,
                        })
                        .collect();
                    return Some(plan);
                }
            }
        }
        None
    }
}

impl Evacuation {
    /// When the drain is given up (its time-out): stops and destroys the replacements it was
    /// bringing up and had not yet judged (their old servers still serve). `None`: none.
    pub fn abandon(&mut self, unit: &Unit) -> Option<Plan> {
        let pending = std::mem::take(&mut self.pending);
        let (g, _) = unit.servers().find(|(_, s)| pending.contains(&s.name))?;
        let doomed: Vec<&Server> = g
            .servers
            .iter()
            .filter(|s| pending.contains(&s.name))
            .collect();
        Some(retire_plan(&self.host, g, &[], &doomed, 0))
    }
}

/// Restarting the servers of a lost host elsewhere: for each stage of groups in start order,
/// its servers on `host` are forgotten there (`destroy`: the engine does not call a host that is
/// down; the copy left on it is destroyed when the host returns, by its older placement
/// epoch), provisioned again under the same names from the same template generations (placed
/// off the host, with the next epoch), given the definition version each ran, and started and
/// health-checked if they were running (or had failed). `None` when no server is on the host.
pub fn plan_failover(unit: &Unit, host: &str) -> Option<Plan> {
    let mut plan = Plan::new(PlanKind::Failover {
        host: host.to_owned(),
    });
    for stage in stages(unit) {
        let (mut forget, mut provision, mut apply, mut start, mut check) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for g in stage {
            for s in &g.servers {
                let Origin::Provisioned {
                    template,
                    generation,
                } = &s.origin
                else {
                    continue;
                };
                if s.host.as_deref() != Some(host) {
                    continue;
                }
                forget.push(Step::Destroy {
                    server: s.name.clone(),
                });
                provision.push(Step::Provision {
                    server: s.name.clone(),
                    group: g.name().clone(),
                    template: template.clone(),
                    generation: *generation,
                    host: None,
                    epoch: 0,
                });
                if let Some(a) = &s.applied {
                    apply.push(Step::Apply {
                        server: s.name.clone(),
                        version: a.version,
                        digest: a.digest.clone(),
                        scope: crate::model::UpdateScope::All,
                    });
                }
                if s.logical.is_running() || s.logical == LogicalStatus::Failed {
                    start.push(Step::Start {
                        server: s.name.clone(),
                    });
                    check.push(health(g, &s.name));
                }
            }
        }
        let label = format!("servers of lost host {host}");
        plan.push(format!("forget the {label}"), forget, Gate::None);
        plan.push(
            format!("provision the {label} elsewhere"),
            provision,
            Gate::None,
        );
        plan.push(
            format!("apply their versions to the {label}"),
            apply,
            Gate::None,
        );
        plan.push(format!("start the {label}"), start, Gate::None);
        plan.push(
            format!("health-check the {label}"),
            check,
            Gate::AnySucceeded,
        );
    }
    (!plan.is_empty()).then_some(plan)
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
        format!(
            "destroy replaced servers of group {} on host {host}",
            g.name()
        ),
        destroys,
        Gate::None,
    );
    plan
}

#[cfg(test)]
#[path = "evacuate_tests.rs"]
mod tests;
