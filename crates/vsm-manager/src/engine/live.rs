//! The live model of a running operation ([`Live`]): its record and unit as the steps change
//! them, progress events, per-server errors, results not yet durable, and a self-checking
//! name→position index so that a step costs O(1) however big the unit ([`on_one_server`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use tokio::sync::broadcast;
use vsm_core::fold::StepResult;
use vsm_core::model::Unit;
use vsm_core::plan::Step;
use vsm_core::{OperationId, ServerName, Timestamp, UnitName};

use super::journal::Pending;
use crate::api::{OperationRecord, ProgressEvent, ProgressKind};
use crate::store::Change;

/// The in-memory state of a running operation.
pub(crate) struct Live {
    pub(super) record: Mutex<OperationRecord>,
    pub(super) unit: Mutex<Unit>,
    seq: std::sync::atomic::AtomicU64,
    events: broadcast::Sender<ProgressEvent>,
    /// The clock of the progress events.
    clock: fn() -> Timestamp,
    pub(super) errors: Mutex<BTreeMap<ServerName, String>>,
    pub(super) cancelled_steps: Mutex<BTreeSet<ServerName>>,
    /// Where each server sits in `unit`: the model's own lookups are linear, which costs O(n)
    /// per step and O(n²) per operation on big units.
    index: Mutex<ServerIndex>,
    /// Step results queued for the journal and not yet known to be durable; a phase ends only
    /// once they are.
    pub(super) pending: Mutex<Vec<Pending>>,
}

/// Where each server of a unit sits (group index, server index) and which server has which
/// address. A hit is checked against the unit before it is used; a miss is trusted only while
/// the index is `complete` — built by a full pass and kept up to date by every change of the
/// unit's set of servers since (servers added through [`on_one_server`] are noted; any other
/// change of the set marks the index incomplete, and the next lookup rebuilds it).
#[derive(Debug, Default)]
pub(crate) struct ServerIndex {
    at: HashMap<ServerName, (usize, usize)>,
    addresses: HashMap<vsm_core::model::ServerAddress, ServerName>,
    complete: bool,
}

impl ServerIndex {
    fn rebuild(&mut self, unit: &Unit) {
        self.at.clear();
        self.addresses.clear();
        for (gi, g) in unit.groups.iter().enumerate() {
            for (si, s) in g.servers.iter().enumerate() {
                self.at.insert(s.name.clone(), (gi, si));
                if let Some(a) = &s.address {
                    self.addresses.insert(a.clone(), s.name.clone());
                }
            }
        }
        self.complete = true;
    }

    fn checked(unit: &Unit, name: &ServerName, (g, s): (usize, usize)) -> bool {
        unit.groups
            .get(g)
            .and_then(|gr| gr.servers.get(s))
            .is_some_and(|x| x.name == *name)
    }

    fn locate(&mut self, unit: &Unit, name: &ServerName) -> Option<(usize, usize)> {
        match self.at.get(name).copied() {
            Some(pos) if Self::checked(unit, name, pos) => return Some(pos),
            None if self.complete => return None,
            _ => self.rebuild(unit),
        }
        self.at
            .get(name)
            .copied()
            .filter(|p| Self::checked(unit, name, *p))
    }

    /// Whether `address` belongs to a server other than `name` (index made complete first).
    fn address_taken(
        &mut self,
        unit: &Unit,
        address: &vsm_core::model::ServerAddress,
        name: &ServerName,
    ) -> bool {
        if !self.complete {
            self.rebuild(unit);
        }
        self.addresses.get(address).is_some_and(|n| n != name)
    }

    /// Records the server at `(g, s)` (just added, or its address just set).
    fn note(&mut self, unit: &Unit, (g, s): (usize, usize)) {
        if let Some(server) = unit.groups.get(g).and_then(|gr| gr.servers.get(s)) {
            // Most steps change neither: no clone, no insert.
            if self.at.get(&server.name) != Some(&(g, s)) {
                self.at.insert(server.name.clone(), (g, s));
            }
            if let Some(a) = &server.address
                && self.addresses.get(a) != Some(&server.name)
            {
                self.addresses.insert(a.clone(), server.name.clone());
            }
        } else {
            self.complete = false;
        }
    }
}

impl Live {
    /// The live model of a new operation.
    pub(super) fn new(
        record: OperationRecord,
        unit: Unit,
        events: broadcast::Sender<ProgressEvent>,
        clock: fn() -> Timestamp,
    ) -> Live {
        Live {
            record: Mutex::new(record),
            unit: Mutex::new(unit),
            seq: std::sync::atomic::AtomicU64::new(0),
            events,
            clock,
            errors: Mutex::new(BTreeMap::new()),
            cancelled_steps: Mutex::new(BTreeSet::new()),
            index: Mutex::new(ServerIndex::default()),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The position of `name` in `unit`, which must be this operation's (locked) model.
    fn locate(&self, unit: &Unit, name: &ServerName) -> Option<(usize, usize)> {
        lock(&self.index).locate(unit, name)
    }

    /// `unit.server(name)` in O(1).
    pub(crate) fn server<'a>(
        &self,
        unit: &'a Unit,
        name: &ServerName,
    ) -> Option<(&'a vsm_core::model::Group, &'a vsm_core::model::Server)> {
        let (g, s) = self.locate(unit, name)?;
        let group = unit.groups.get(g)?;
        Some((group, group.servers.get(s)?))
    }

    /// `unit.server_mut(name)` in O(1).
    pub(crate) fn server_mut<'a>(
        &self,
        unit: &'a mut Unit,
        name: &ServerName,
    ) -> Option<&'a mut vsm_core::model::Server> {
        let (g, s) = self.locate(unit, name)?;
        unit.groups.get_mut(g)?.servers.get_mut(s)
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    pub(super) fn emit(&self, id: OperationId, seq: u64, kind: ProgressKind) {
        let _ = self.events.send(ProgressEvent {
            operation: id,
            seq,
            at: (self.clock)(),
            kind,
        });
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server's group and a copy of it, for persisting.
pub(super) fn server_row(live: &Live, unit: &Unit, name: &ServerName) -> Option<Change> {
    live.server(unit, name).map(|(g, s)| Change::PutServer {
        unit: unit.name.clone(),
        group: g.name().clone(),
        server: s.clone(),
    })
}

/// The unit's own row without its servers (cheap even for big units).
pub(super) fn unit_meta(unit: &Unit) -> Unit {
    Unit {
        tolerate_host_failures: unit.tolerate_host_failures,
        name: unit.name.clone(),
        owner: unit.owner.clone(),
        created: unit.created,
        groups: unit
            .groups
            .iter()
            .map(|g| vsm_core::model::Group {
                spec: g.spec.clone(),
                servers: Vec::new(),
                next_seq: g.next_seq,
            })
            .collect(),
        definitions: unit.definitions.clone(),
        current: unit.current,
        busy: unit.busy,
    }
}

/// Runs `f` — the core's `begin` (`folding == false`) or `fold` of `step` — on a copy of the
/// unit that holds only the step's server (in its group), when the step touches nothing but
/// that server: start, stop, health check, apply, provision (whose fold also checks that no
/// other server has the address the driver gave: the index answers that) and the `begin` of
/// destroy/detach. The core finds servers by a linear search; on a unit of 10,000 servers
/// doing that twice per step dominated the engine. Other steps (attach, a destroy's fold) run
/// on the whole unit. `one_server_fold_equals_the_full_fold` checks that both give the same
/// model.
pub(super) fn on_one_server<T>(
    live: &Live,
    unit: &mut Unit,
    step: &Step,
    folding: bool,
    result: Option<&StepResult>,
    f: impl FnOnce(&mut Unit) -> T,
) -> T {
    let mut index = lock(&live.index);
    let local = match step {
        Step::Start { .. }
        | Step::Stop { .. }
        | Step::HealthCheck { .. }
        | Step::Apply { .. }
        | Step::Provision { .. } => true,
        Step::Destroy { .. } | Step::Detach { .. } => !folding,
        _ => false,
    };
    let full =
        |index: &mut ServerIndex, unit: &mut Unit, f: Box<dyn FnOnce(&mut Unit) -> T + '_>| {
            let out = f(unit);
            let readdressed =
                matches!(step, Step::Start { .. }) && result.is_some_and(|r| r.address.is_some());
            if readdressed
                || matches!(
                    step,
                    Step::Provision { .. }
                        | Step::Attach { .. }
                        | Step::Destroy { .. }
                        | Step::Detach { .. }
                )
            {
                index.complete = false;
            }
            out
        };
    let Some(name) = step.server().filter(|_| local) else {
        return full(&mut index, unit, Box::new(f));
    };
    let at = index.locate(unit, name);
    // A new server (the begin of a provision): into its group, known to be free of the name.
    let (gi, si) = match (at, step) {
        (Some(pos), _) => pos,
        (None, Step::Provision { group, .. }) if !folding => {
            let Some(gi) = unit.groups.iter().position(|g| g.name() == group) else {
                return full(&mut index, unit, Box::new(f));
            };
            let mut one = one_server_unit(unit.name.clone(), unit, gi, None);
            let out = f(&mut one);
            let Some(back) = one.groups.pop() else {
                return out;
            };
            let g2 = &mut unit.groups[gi];
            g2.next_seq = back.next_seq;
            g2.servers.extend(back.servers);
            let last = g2.servers.len().saturating_sub(1);
            index.note(unit, (gi, last));
            return out;
        }
        (None, _) => return full(&mut index, unit, Box::new(f)),
    };
    // A provision's or start's fold: the core checks the new address against every other
    // server.
    if let (Step::Provision { .. } | Step::Start { .. }, Some(a)) =
        (step, result.and_then(|r| r.address.as_ref()))
        && folding
        && index.address_taken(unit, a, name)
    {
        return full(&mut index, unit, Box::new(f));
    }
    let Some(server) = unit
        .groups
        .get_mut(gi)
        .and_then(|g| g.servers.get_mut(si))
        .map(|slot| std::mem::replace(slot, placeholder(name)))
    else {
        return full(&mut index, unit, Box::new(f));
    };
    let original = server.clone();
    let mut one = one_server_unit(unit.name.clone(), unit, gi, Some(server));
    let out = f(&mut one);
    let group = one.groups.pop();
    let next_seq = group.as_ref().map(|g| g.next_seq);
    let back = group
        .and_then(|mut g| g.servers.pop())
        .filter(|s| s.name == *name)
        .unwrap_or(original);
    if let Some(g) = unit.groups.get_mut(gi) {
        if let Some(n) = next_seq {
            g.next_seq = n;
        }
        if let Some(slot) = g.servers.get_mut(si) {
            *slot = back;
        }
    }
    index.note(unit, (gi, si));
    out
}

/// A stand-in for a server moved out of the unit for a moment.
fn placeholder(name: &ServerName) -> vsm_core::model::Server {
    vsm_core::model::Server::new(
        name.clone(),
        vsm_core::model::Origin::Registered,
        0,
        vsm_core::Timestamp::EPOCH,
    )
}

/// A copy of `unit` with only group `gi`, holding only `server` (or no server).
fn one_server_unit(
    name: UnitName,
    unit: &Unit,
    gi: usize,
    server: Option<vsm_core::model::Server>,
) -> Unit {
    let (spec, next_seq) = unit
        .groups
        .get(gi)
        .map(|g| (g.spec.clone(), g.next_seq))
        .unzip();
    Unit {
        tolerate_host_failures: unit.tolerate_host_failures,
        name,
        owner: unit.owner.clone(),
        created: unit.created,
        groups: spec
            .zip(next_seq)
            .map(|(spec, next_seq)| vsm_core::model::Group {
                spec,
                servers: server.into_iter().collect(),
                next_seq,
            })
            .into_iter()
            .collect(),
        definitions: Vec::new(),
        current: unit.current,
        busy: unit.busy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{OperationKind, OperationState, OperationSummary};
    use vsm_core::model::{LogicalStatus, Origin, Server};
    use vsm_core::{DefinitionDigest, DefinitionVersion};

    fn live() -> Live {
        Live::new(
            OperationRecord {
                summary: OperationSummary {
                    id: OperationId(1),
                    unit: None,
                    kind: OperationKind::UnitStart,
                    state: OperationState::Running,
                    requested_by: None,
                    created_at: Timestamp::EPOCH,
                    finished_at: None,
                },
                request: serde_json::Value::Null,
                servers: vec![],
                warnings: vec![],
                error: None,
                steps_total: 0,
            },
            sample_unit(),
            broadcast::channel(4).0,
            crate::clock::now,
        )
    }

    fn sample_unit() -> Unit {
        let file = "format: 1\ngroups:\n  - name: db\n    template: tpl\n    count: 2\n    min: 1\n    max: 3\n    start_order: 1\n  - name: web\n    template: tpl\n    count: 3\n    min: 1\n    max: 4\n    start_order: 2\n";
        let spec = crate::unitfile::parse("u.yaml", file).expect("unit file");
        let mut unit = Unit::create(
            "shop".parse().expect("name"),
            "bob".parse().expect("name"),
            spec,
            Timestamp::from_millis(1),
        )
        .expect("unit");
        for g in &mut unit.groups {
            let base = g.spec.name.to_string();
            for i in 1..=3u32 {
                let origin = Origin::Provisioned {
                    template: "tpl".parse().expect("name"),
                    generation: vsm_core::TemplateGeneration(1),
                };
                let mut s = Server::new(
                    format!("{base}-{i}").parse().expect("name"),
                    origin,
                    i,
                    Timestamp::from_millis(i64::from(i)),
                );
                s.address = Some(
                    vsm_core::model::ServerAddress::new(format!("10.0.{}.{i}", base.len()))
                        .expect("address"),
                );
                s.logical = if i == 2 {
                    LogicalStatus::Working
                } else {
                    LogicalStatus::Stopped
                };
                g.servers.push(s);
            }
            g.next_seq = 4;
        }
        unit
    }

    #[test]
    fn one_server_fold_equals_the_full_fold() {
        let digest: DefinitionDigest = "0".repeat(64).parse().expect("digest");
        for server in ["db-1", "db-2", "web-2", "web-3", "db-9", "web-4"] {
            let server: ServerName = server.parse().expect("name");
            let group: vsm_core::GroupName = server.as_str()[..server.as_str().len() - 2]
                .parse()
                .expect("group");
            let steps = [
                Step::Provision {
                    host: None,
                    epoch: 0,
                    server: server.clone(),
                    group,
                    template: "tpl".parse().expect("name"),
                    generation: vsm_core::TemplateGeneration(1),
                },
                Step::Start {
                    server: server.clone(),
                },
                Step::Stop {
                    server: server.clone(),
                    grace_ms: 0,
                },
                Step::HealthCheck {
                    server: server.clone(),
                    timeout_ms: 1,
                },
                Step::Apply {
                    server: server.clone(),
                    version: DefinitionVersion(1),
                    digest: digest.clone(),
                    scope: vsm_core::model::UpdateScope::All,
                },
                Step::Destroy {
                    server: server.clone(),
                },
            ];
            let fresh = vsm_core::model::ServerAddress::new("10.9.9.9").expect("address");
            let taken = vsm_core::model::ServerAddress::new("10.0.2.1").expect("address");
            for step in &steps {
                for (ok, address) in [
                    (true, None),
                    (false, None),
                    (true, Some(&fresh)),
                    (true, Some(&taken)),
                ] {
                    let mut result = if ok {
                        StepResult::ok(Timestamp::from_millis(9))
                    } else {
                        StepResult::failed(Timestamp::from_millis(9), "boom")
                    };
                    if let Some(a) = address {
                        result = result.with_address(a.clone());
                    }
                    let l = live();
                    let mut fast = sample_unit();
                    let mut full = sample_unit();
                    let a = on_one_server(&l, &mut fast, step, false, None, |u| {
                        u.begin(step, Timestamp::from_millis(8))
                    });
                    let b = full.begin(step, Timestamp::from_millis(8));
                    assert_eq!(a, b, "begin {step}");
                    assert_eq!(fast, full, "begin {step}");
                    let a = on_one_server(&l, &mut fast, step, true, Some(&result), |u| {
                        u.fold(step, &result)
                    });
                    let b = full.fold(step, &result);
                    assert_eq!(a, b, "fold {step} ok={ok} {address:?}");
                    assert_eq!(fast, full, "fold {step} ok={ok} {address:?}");
                }
            }
        }
    }

    /// Many steps through one index (servers added, moved by a removal, addresses given) leave
    /// the same model as the core's own folds.
    #[test]
    fn the_index_stays_right_over_a_sequence_of_steps() {
        let l = live();
        let mut fast = sample_unit();
        let mut full = sample_unit();
        let at = Timestamp::from_millis(8);
        let provision = |server: &str, group: &str| Step::Provision {
            host: None,
            epoch: 0,
            server: server.parse().expect("name"),
            group: group.parse().expect("group"),
            template: "tpl".parse().expect("name"),
            generation: vsm_core::TemplateGeneration(1),
        };
        let start = |server: &str| Step::Start {
            server: server.parse().expect("name"),
        };
        let destroy = |server: &str| Step::Destroy {
            server: server.parse().expect("name"),
        };
        let addr = |a: &str| vsm_core::model::ServerAddress::new(a).expect("address");
        let steps: Vec<(Step, StepResult)> = vec![
            (
                provision("web-4", "web"),
                StepResult::ok(at).with_address(addr("10.1.0.4")),
            ),
            (start("web-4"), StepResult::ok(at)),
            (destroy("db-1"), StepResult::ok(at)),
            (start("db-2"), StepResult::ok(at)),
            (
                provision("db-4", "db"),
                StepResult::ok(at).with_address(addr("10.1.0.4")),
            ),
            (
                provision("db-5", "db"),
                StepResult::ok(at).with_address(addr("10.1.0.5")),
            ),
            (destroy("web-4"), StepResult::ok(at)),
            (
                provision("db-6", "db"),
                StepResult::ok(at).with_address(addr("10.1.0.4")),
            ),
            (start("web-3"), StepResult::failed(at, "boom")),
            (start("db-6"), StepResult::ok(at)),
        ];
        for (step, result) in &steps {
            let a = on_one_server(&l, &mut fast, step, false, None, |u| u.begin(step, at));
            let b = full.begin(step, at);
            assert_eq!(a, b, "begin {step}");
            assert_eq!(fast, full, "begin {step}");
            let a = on_one_server(&l, &mut fast, step, true, Some(result), |u| {
                u.fold(step, result)
            });
            let b = full.fold(step, result);
            assert_eq!(a, b, "fold {step}");
            assert_eq!(fast, full, "fold {step}");
            for (_, s) in full.servers() {
                assert_eq!(
                    l.server(&fast, &s.name).map(|(_, x)| x),
                    Some(s),
                    "after {step}"
                );
            }
        }
        assert!(l.server(&fast, &"web-4".parse().expect("name")).is_none());
    }
}
