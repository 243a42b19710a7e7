//! The fault matrix: every operation that calls the driver per server (unit start, unit stop,
//! the first apply, which provisions, and a scale-out) under every injected fault (a transient
//! failure that clears within the retry budget, one that outlasts it, a permanent failure, a
//! hang past the step time-out) on every scope (one server, a whole group, every Nth call).
//! Each case checks the operation's outcome, the exit code `vsm` maps it to, which servers failed
//! and that their error names the cause.
//!
//! The manager runs with a 1 s step time-out, a short back-off and one step at a time (so "every
//! Nth call" hits the same servers on every run); the cases run concurrently, each on its own
//! manager and fake driver.

use std::sync::Arc;
use std::time::Duration;

use vsm_core::{GroupName, OperationId, UnitName};
use vsm_hypervisor::fake::Fault;
use vsm_hypervisor::{MachineName, Operation};
use vsm_manager::*;

use crate::support::{Env, TWO_GROUPS, name};

/// Attempts after the first for a transient error.
const RETRIES: u32 = 2;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Transient errors that clear after the first failed attempt (within the retry budget).
    TransientClears,
    /// Transient errors on every attempt (beyond the retry budget).
    TransientStays,
    /// A permanent error.
    Permanent,
    /// The call hangs past the step time-out.
    Hang,
}

/// Where it goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// One server of the last group.
    OneServer,
    /// Every server of the first group the operation touches in start order (`db`; for a
    /// scale-out of `web`, its new servers).
    Group,
    /// Every 3rd driver call of the operation's kind (with one step at a time: fixed servers).
    EveryNth,
}

/// The operation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Start,
    Stop,
    Apply,
    ScaleOut,
}

impl Op {
    /// The driver call the faults hit.
    fn driver_op(self) -> Operation {
        match self {
            Op::Start => Operation::Start,
            Op::Stop => Operation::Shutdown,
            Op::Apply | Op::ScaleOut => Operation::Provision,
        }
    }
}

/// One manager on a temporary state directory over its own fake driver, with bob's unit
/// `shop` (two groups) and one imported definition version.
struct Bed {
    env: Env,
    unit: UnitName,
}

async fn bed() -> Bed {
    let env = Env::with(|config| {
        config.settings.engine.step_timeout_secs = 1;
        config.settings.engine.retries = RETRIES;
        config.settings.engine.backoff_ms = 10;
        config.settings.engine.concurrency = 1;
    })
    .await;
    let unit = env.unit(TWO_GROUPS).await;
    Bed { env, unit }
}

impl Bed {
    async fn finish(&self, id: OperationId) -> OperationRecord {
        self.env
            .manager
            .wait(&self.env.admin, id, Duration::from_secs(60))
            .await
            .expect("wait")
    }

    async fn run(&self, op: Op) -> OperationRecord {
        let id = match op {
            Op::Start => self
                .env
                .manager
                .start_unit(&self.env.bob, &self.unit, OpOptions::default())
                .await
                .expect("start"),
            Op::Stop => self
                .env
                .manager
                .stop_unit(&self.env.bob, &self.unit, OpOptions::default())
                .await
                .expect("stop"),
            Op::Apply => self
                .env
                .manager
                .apply(&self.env.bob, &self.unit, ApplyRequest::default())
                .await
                .expect("apply"),
            Op::ScaleOut => self
                .env
                .manager
                .scale(
                    &self.env.bob,
                    &self.unit,
                    ScaleRequest {
                        group: name::<GroupName>("web"),
                        count: 4,
                        remove: Vec::new(),
                        grace_secs: Some(0),
                        wait_secs: None,
                    },
                )
                .await
                .expect("scale"),
        };
        self.finish(id).await
    }

    /// Brings the unit to where `op` starts from (faults off).
    async fn prepare(&self, op: Op) {
        match op {
            Op::Apply => {}
            Op::Start | Op::ScaleOut => {
                let rec = self.run(Op::Apply).await;
                assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
            }
            Op::Stop => {
                let rec = self.run(Op::Apply).await;
                assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
                let rec = self.run(Op::Start).await;
                assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
            }
        }
    }
}

fn machine(server: &str) -> MachineName {
    MachineName::new(format!("shop--{server}")).expect("machine name")
}

/// The servers `scope` targets for `op` (for `EveryNth`: none by name).
fn targets(op: Op, scope: Scope) -> Vec<&'static str> {
    match (op, scope) {
        (_, Scope::EveryNth) => Vec::new(),
        (Op::ScaleOut, Scope::OneServer) => vec!["web-3"],
        (Op::ScaleOut, Scope::Group) => vec!["web-3", "web-4"],
        (_, Scope::OneServer) => vec!["web-1"],
        (_, Scope::Group) => vec!["db-1", "db-2"],
    }
}

/// Injects the fault; returns the servers whose driver calls it hits (for `EveryNth`, found by
/// the call log afterwards: see [`nth_victims`]).
fn inject(bed: &Bed, op: Op, kind: Kind, scope: Scope) -> Vec<u64> {
    let dop = op.driver_op();
    let fault = match kind {
        Kind::TransientClears | Kind::TransientStays => Fault::Transient,
        Kind::Permanent => Fault::Permanent,
        Kind::Hang => Fault::Hang,
    };
    match scope {
        Scope::EveryNth => {
            let base = bed.env.fake.call_count(dop);
            // a scale-out makes two calls: every 2nd; the others make four: every 3rd
            let every = if op == Op::ScaleOut { 2 } else { 3 };
            let mut hit = Vec::new();
            for k in 1..=4u64 {
                let n = base + every * k;
                // a fault that stays fails every attempt of that step in a row
                let span = if kind == Kind::TransientStays {
                    u64::from(RETRIES) + 1
                } else {
                    1
                };
                for i in 0..span {
                    bed.env.fake.fail_nth(dop, n + i, fault);
                }
                hit.push(n);
            }
            hit
        }
        _ => {
            for s in targets(op, scope) {
                bed.env.fake.fail_machine(&machine(s), Some(dop), fault);
            }
            if kind == Kind::TransientClears {
                // heal each target once its first (failing) call was made
                let fake = Arc::clone(&bed.env.fake);
                let names: Vec<MachineName> = targets(op, scope).into_iter().map(machine).collect();
                tokio::spawn(async move {
                    let mut left = names;
                    while !left.is_empty() {
                        let calls = fake.calls_of(dop);
                        left.retain(|m| {
                            let called = calls.iter().any(|c| c.machine.as_ref() == Some(m));
                            if called {
                                fake.heal(m);
                            }
                            !called
                        });
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                });
            }
            Vec::new()
        }
    }
}

/// The servers named by the driver calls numbered `numbers` (of `op`'s driver call).
fn nth_victims(bed: &Bed, op: Op, numbers: &[u64]) -> Vec<String> {
    let mut out: Vec<String> = bed
        .env
        .fake
        .calls_of(op.driver_op())
        .into_iter()
        .filter(|c| numbers.contains(&c.nth))
        .filter_map(|c| c.machine)
        .map(|m| m.as_str().trim_start_matches("shop--").to_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What one case observed.
#[derive(Debug)]
struct Seen {
    state: OperationState,
    exit: u8,
    failed: Vec<String>,
    errors: Vec<String>,
    hit: Vec<String>,
    /// Whether every server hit had its driver call made more than once (retried).
    retried: bool,
}

async fn case(op: Op, kind: Kind, scope: Scope) -> Seen {
    let bed = bed().await;
    bed.prepare(op).await;
    bed.env.fake.record_calls(true);
    let numbers = inject(&bed, op, kind, scope);
    let rec = bed.run(op).await;
    bed.env.fake.release_hangs();
    let hit = if scope == Scope::EveryNth {
        nth_victims(&bed, op, &numbers)
    } else {
        targets(op, scope).into_iter().map(str::to_owned).collect()
    };
    let calls = bed.env.fake.calls_of(op.driver_op());
    let retried = hit.iter().all(|h| {
        calls
            .iter()
            .filter(|c| {
                c.machine
                    .as_ref()
                    .is_some_and(|m| m.as_str() == format!("shop--{h}"))
            })
            .count()
            >= 2
    });
    let pick = |st: StepStatus| {
        let mut v: Vec<String> = rec
            .servers
            .iter()
            .filter(|s| s.status == st)
            .map(|s| s.server.to_string())
            .collect();
        v.sort();
        v
    };
    let mut errors: Vec<String> = rec
        .servers
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .map(|s| s.error.clone().unwrap_or_default())
        .collect();
    errors.extend(rec.error.clone());
    Seen {
        state: rec.summary.state,
        exit: rec.exit_code(),
        failed: pick(StepStatus::Failed),
        errors,
        retried,
        hit,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let ops = [Op::Start, Op::Stop, Op::Apply, Op::ScaleOut];
    let kinds = [
        Kind::TransientClears,
        Kind::TransientStays,
        Kind::Permanent,
        Kind::Hang,
    ];
    let scopes = [Scope::OneServer, Scope::Group, Scope::EveryNth];
    let mut cases = Vec::new();
    for op in ops {
        for kind in kinds {
            for scope in scopes {
                cases.push(async move { ((op, kind, scope), case(op, kind, scope).await) });
            }
        }
    }
    let mut all = futures::future::join_all(cases).await;
    all.sort_by_key(|((o, k, s), _)| format!("{o:?}{k:?}{s:?}"));
    for ((op, kind, scope), seen) in &all {
        eprintln!("{op:?} {kind:?} {scope:?}: {seen:?}");
    }
    let mut wrong = Vec::new();
    for ((op, kind, scope), seen) in &all {
        if let Err(why) = judge(*op, *kind, *scope, seen) {
            wrong.push(format!(
                "{op:?} × {kind:?} × {scope:?}: {why}\n    saw {seen:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "fault matrix:\n{}", wrong.join("\n"));
}

/// Checks one case against the expected outcome.
fn judge(op: Op, kind: Kind, scope: Scope, seen: &Seen) -> Result<(), String> {
    if seen.hit.is_empty() {
        return Err("the fault hit no server (the case tests nothing)".into());
    }
    if kind == Kind::TransientClears {
        if seen.state != OperationState::Succeeded || seen.exit != 0 || !seen.failed.is_empty() {
            return Err("a transient fault within the retry budget must end succeeded (0)".into());
        }
        if !seen.retried {
            return Err("the servers hit were not retried".into());
        }
        return Ok(());
    }
    // The servers hit fail, no other; each error names the cause.
    if seen.failed != seen.hit {
        return Err(format!(
            "failed servers {:?}, hit {:?}",
            seen.failed, seen.hit
        ));
    }
    let cause = match kind {
        Kind::TransientStays => "transient",
        Kind::Permanent => "permanent",
        Kind::Hang => "timed out",
        Kind::TransientClears => unreachable!("handled above"),
    };
    let per_server = &seen.errors[..seen.failed.len().min(seen.errors.len())];
    if per_server.len() != seen.failed.len() || per_server.iter().any(|e| !e.contains(cause)) {
        return Err(format!(
            "every failed server's error must mention {cause:?}"
        ));
    }
    // A fault on every server the operation touches fails it (70); otherwise it partly
    // succeeds (1).
    // So does a start whose first group never comes up: the later groups are not started.
    let everything = scope == Scope::Group && matches!(op, Op::ScaleOut | Op::Start);
    let (state, exit) = if everything {
        (OperationState::Failed, 70)
    } else {
        (OperationState::PartlySucceeded, 1)
    };
    if seen.state != state || seen.exit != exit {
        return Err(format!("expected {state:?} (exit {exit})"));
    }
    Ok(())
}
