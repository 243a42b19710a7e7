//! Many clients at once on the same and different units, through the HTTP API with the fake
//! hypervisor at a small latency: one unit is never operated on twice at once, refusals are the
//! "unit busy" error (423, exit 2), every request is answered (no deadlock), the final state is
//! the one the successful operations imply (in the manager and in the driver), and operations on
//! different units do run at the same time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use vsm_core::{LogicalStatus, OperationId, Role, UnitName};
use vsm_hypervisor::Hypervisor;
use vsm_hypervisor::error::Operation as HvOp;
use vsm_hypervisor::types::PowerState;

use super::super::client::{Client, ClientError};
use super::super::tests::{BOB_PW, CAROL_PW, Env, UNIT_FILE, env, finish, name};
use crate::ErrorKind;
use crate::api::*;

/// Concurrent clients.
const TASKS: usize = 32;
/// Requests per client (more with `VSM_SLOW_TESTS=1`).
fn requests() -> usize {
    if std::env::var_os("VSM_SLOW_TESTS").is_some() {
        12
    } else {
        3
    }
}
/// The units: the first is the one every other client hammers.
const UNITS: [&str; 4] = ["hot", "cold-a", "cold-b", "cold-c"];
/// How long one request may take before the test calls it hung.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// xorshift64*: the test's random choices, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seed() -> u64 {
    std::env::var("VSM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1
}

/// One request of the concurrent phase.
#[derive(Debug, Clone)]
enum Request {
    Start,
    Stop,
    Apply,
    Scale(u32),
}

/// How a request ended.
#[derive(Debug)]
enum Outcome {
    /// Accepted; the operation's final record.
    Done(Box<OperationRecord>),
    /// Refused: the unit was busy.
    Busy,
    /// Refused: the unit does not exist (any more).
    NotFound,
    /// Anything else (a failure of the test).
    Other(String),
}

#[derive(Debug)]
struct Answer {
    what: String,
    unit: UnitName,
    request: Request,
    outcome: Outcome,
}

/// Sends one request and, when accepted, waits for its operation; a request that is not
/// answered within [`ANSWER_WITHIN`] fails the test naming it.
async fn send(client: &Client, unit: &UnitName, request: &Request, wait: Option<u64>) -> Outcome {
    let opts = OpOptions { wait_secs: wait };
    let call = async {
        match request {
            Request::Start => client.start_unit(unit, opts).await,
            Request::Stop => client.stop_unit(unit, opts).await,
            Request::Apply => {
                client
                    .apply(
                        unit,
                        &ApplyRequest {
                            wait_secs: wait,
                            ..ApplyRequest::default()
                        },
                    )
                    .await
            }
            Request::Scale(count) => {
                client
                    .scale(
                        unit,
                        &ScaleRequest {
                            group: name("web"),
                            count: *count,
                            remove: vec![],
                            grace_secs: Some(0),
                            wait_secs: wait,
                        },
                    )
                    .await
            }
        }
    };
    match call.await {
        Ok(record) => {
            let id = record.summary.id;
            match client.wait_finished(id, Duration::from_secs(50)).await {
                Ok(rec) if rec.summary.state.is_finished() => Outcome::Done(Box::new(rec)),
                Ok(rec) => Outcome::Other(format!("operation {id} did not finish: {rec:?}")),
                Err(e) => Outcome::Other(format!("waiting for operation {id}: {e}")),
            }
        }
        Err(e) if is_busy(&e) => Outcome::Busy,
        Err(e) if refusal(&e) == Ok(ErrorKind::NotFound) => Outcome::NotFound,
        Err(e) => Outcome::Other(format!("refused with {e} ({e:?})")),
    }
}

/// The "unit busy" refusal: kind `busy`, HTTP 423, exit code 2.
fn is_busy(e: &ClientError) -> bool {
    matches!(e, ClientError::Api { status: 423, error } if error.kind == ErrorKind::Busy)
        && e.exit_code() == 2
}

/// bob owns the first half of [`UNITS`], carol the rest; each unit is imported and started.
async fn units(env: &Env) -> BTreeMap<UnitName, Client> {
    let (_root, bob, carol) = env.people().await;
    bob.register_template(&RegisterTemplate {
        name: name("tpl"),
        driver: DriverKind::Local,
        source: "image-1".into(),
    })
    .await
    .expect("register template");
    let dir = env.definitions("defs-load", "load");
    let mut out = BTreeMap::new();
    for (i, unit) in UNITS.iter().enumerate() {
        let (owner, user, pw) = if i < UNITS.len() / 2 {
            (&bob, "bob", BOB_PW)
        } else {
            (&carol, "carol", CAROL_PW)
        };
        let unit: UnitName = name(unit);
        owner
            .create_unit(&CreateUnitFromFile {
                name: unit.clone(),
                file_name: "load.yaml".into(),
                unit_file: UNIT_FILE.into(),
            })
            .await
            .expect("create unit");
        owner.import_directory(&unit, &dir).await.expect("import");
        let start = owner
            .start_unit(&unit, OpOptions::default())
            .await
            .expect("start");
        assert_eq!(
            finish(owner, &start).await.summary.state,
            OperationState::Succeeded
        );
        out.insert(unit, env.login(user, pw).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_on_the_same_and_different_units() {
    let seed = seed();
    println!("seed {seed} (rerun with VSM_TEST_SEED={seed})");
    let env = env().await;
    let clients = units(&env).await;
    env.fake.set_latency_all(Duration::from_millis(10));
    let unit_names: Vec<UnitName> = clients.keys().cloned().collect();
    let hot: UnitName = name(UNITS[0]);

    let mut rng = Rng(seed);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let mut plan = Vec::new();
        for n in 0..requests() {
            // Every other client works on the hot unit; the rest anywhere.
            let unit = if task % 2 == 0 {
                hot.clone()
            } else {
                unit_names[rng.below(unit_names.len())].clone()
            };
            let request = match rng.below(4) {
                0 => Request::Start,
                1 => Request::Stop,
                2 => Request::Apply,
                _ => Request::Scale(1 + rng.below(4) as u32),
            };
            let wait = (rng.below(2) == 0).then_some(2);
            let what = format!("client {task} request {n}: {request:?} on {unit} (wait {wait:?})");
            plan.push((what, unit, request, wait));
        }
        let owners: BTreeMap<UnitName, Client> = clients.clone();
        tasks.spawn(async move {
            let mut answers = Vec::new();
            for (what, unit, request, wait) in plan {
                let client = &owners[&unit];
                let outcome =
                    tokio::time::timeout(ANSWER_WITHIN, send(client, &unit, &request, wait))
                        .await
                        .unwrap_or_else(|_| {
                            panic!("{what}: no answer within {ANSWER_WITHIN:?} (deadlock?)")
                        });
                answers.push(Answer {
                    what,
                    unit,
                    request,
                    outcome,
                });
            }
            answers
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.extend(done.expect("client task panicked"));
    }
    assert_eq!(answers.len(), TASKS * requests());

    // Every request was accepted or refused as busy, nothing else.
    let odd: Vec<String> = answers
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Other(why) => Some(format!("{}: {why}", a.what)),
            Outcome::NotFound => Some(format!("{}: unit not found", a.what)),
            _ => None,
        })
        .collect();
    assert!(
        odd.is_empty(),
        "seed {seed}: unexpected answers:\n{}",
        odd.join("\n")
    );
    let busy = answers
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Busy))
        .count();

    // Per unit, operations never overlap; their order is their creation order.
    let mut per_unit: BTreeMap<UnitName, Vec<(&OperationRecord, &Request)>> = BTreeMap::new();
    for a in &answers {
        if let Outcome::Done(rec) = &a.outcome {
            assert_eq!(rec.summary.unit.as_ref(), Some(&a.unit), "{}", a.what);
            per_unit
                .entry(a.unit.clone())
                .or_default()
                .push((rec, &a.request));
        }
    }
    for (unit, ops) in &mut per_unit {
        ops.sort_by_key(|(r, _)| (r.summary.created_at, r.summary.id));
        for pair in ops.windows(2) {
            let (a, b) = (pair[0].0, pair[1].0);
            assert!(
                interval(b).0 >= interval(a).1,
                "seed {seed}: operations {} and {} on unit {unit} overlap: {:?} and {:?}",
                a.summary.id,
                b.summary.id,
                interval(a),
                interval(b)
            );
        }
    }
    let accepted: usize = per_unit.values().map(Vec::len).sum();
    let overlapping = overlaps_between_units(&per_unit);
    println!(
        "seed {seed}: {accepted} operations ran, {busy} requests refused as busy, {overlapping} pairs on different units overlapped"
    );
    assert!(accepted > 0, "seed {seed}: no operation was accepted");
    assert!(
        per_unit.get(&hot).map_or(0, Vec::len) > 0,
        "seed {seed}: nothing ran on {hot}"
    );

    // The final state is what the successful operations imply, in the manager and the driver.
    for unit in &unit_names {
        let mut running = true;
        let mut count = 2usize;
        for (rec, request) in per_unit.get(unit).map(Vec::as_slice).unwrap_or(&[]) {
            assert_eq!(
                rec.summary.state,
                OperationState::Succeeded,
                "seed {seed}: operation {} ({request:?} on {unit}) did not succeed: {rec:?}",
                rec.summary.id
            );
            match request {
                Request::Start => running = true,
                Request::Stop => running = false,
                Request::Apply => {}
                Request::Scale(n) => count = *n as usize,
            }
        }
        check_final(&env, &clients[unit], unit, running, count, seed).await;
    }

    different_units_run_at_once_and_busy_is_refused(&env, &clients).await;
}

/// When an operation held its unit: from creation to its end, in milliseconds.
fn interval(r: &OperationRecord) -> (i64, i64) {
    let from = r.summary.created_at.as_millis();
    let to = r
        .summary
        .finished_at
        .map(|t| t.as_millis())
        .unwrap_or(i64::MAX);
    (from, to)
}

/// Pairs of operations on different units whose intervals overlapped.
fn overlaps_between_units(
    per_unit: &BTreeMap<UnitName, Vec<(&OperationRecord, &Request)>>,
) -> usize {
    let all: Vec<(&UnitName, (i64, i64))> = per_unit
        .iter()
        .flat_map(|(u, ops)| ops.iter().map(move |(r, _)| (u, interval(r))))
        .collect();
    let mut n = 0;
    for (i, (ua, a)) in all.iter().enumerate() {
        for (ub, b) in &all[i + 1..] {
            if ua != ub && a.0 < b.1 && b.0 < a.1 {
                n += 1;
            }
        }
    }
    n
}

/// The unit is idle; its group has `count` servers, all running or all stopped as `running`
/// says, and the driver's machines of the unit are exactly those, in the same power state.
async fn check_final(
    env: &Env,
    client: &Client,
    unit: &UnitName,
    running: bool,
    count: usize,
    seed: u64,
) {
    let detail = client.show_unit(unit).await.expect("show unit");
    assert_eq!(detail.busy_with, None, "seed {seed}: {unit} is still busy");
    let servers = &detail.groups[0].servers;
    assert_eq!(
        servers.len(),
        count,
        "seed {seed}: {unit} has {} servers, the last successful scale said {count}",
        servers.len()
    );
    for s in servers {
        let ok = if running {
            matches!(s.logical, LogicalStatus::Working | LogicalStatus::Started)
        } else {
            s.logical == LogicalStatus::Stopped
        };
        assert!(
            ok,
            "seed {seed}: server {unit}/{} is {:?}, expected {}",
            s.name,
            s.logical,
            if running { "running" } else { "stopped" }
        );
    }
    let prefix = format!("{unit}--");
    let machines: BTreeMap<String, PowerState> = env
        .fake
        .list()
        .await
        .expect("list machines")
        .into_iter()
        .filter(|m| m.name.as_str().starts_with(&prefix))
        .map(|m| (m.name.as_str().to_owned(), m.state))
        .collect();
    let expected: BTreeSet<String> = servers
        .iter()
        .map(|s| format!("{prefix}{}", s.name).to_lowercase())
        .collect();
    assert_eq!(
        machines.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "seed {seed}: the driver's machines of {unit} differ from the manager's servers"
    );
    for (m, state) in &machines {
        let want = if running {
            PowerState::Running
        } else {
            PowerState::Stopped
        };
        assert_eq!(*state, want, "seed {seed}: machine {m} of {unit}");
    }
}

/// Deterministic part: with the driver's starts held, starts on two different units are both
/// inside the driver at once; a second operation on either unit is refused as busy at once, and
/// after waiting `wait_secs`; once released, both finish.
async fn different_units_run_at_once_and_busy_is_refused(
    env: &Env,
    clients: &BTreeMap<UnitName, Client>,
) {
    let (a, b): (UnitName, UnitName) = (name(UNITS[1]), name(UNITS[3]));
    for unit in [&a, &b] {
        let c = &clients[unit];
        let stop = c
            .stop_unit(
                unit,
                OpOptions {
                    wait_secs: Some(30),
                },
            )
            .await
            .expect("stop");
        finish(c, &stop).await;
    }
    env.fake.record_calls(true);
    env.fake.clear_calls();
    env.fake.hang(HvOp::Start);
    let mut ids: Vec<(UnitName, OperationId)> = Vec::new();
    for unit in [&a, &b] {
        let rec = clients[unit]
            .start_unit(unit, OpOptions::default())
            .await
            .expect("start");
        ids.push((unit.clone(), rec.summary.id));
    }
    // Both units' starts reach the driver while neither has finished.
    let inside = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let starts: BTreeSet<String> = env
                .fake
                .calls_of(HvOp::Start)
                .into_iter()
                .filter_map(|c| c.machine.map(|m| m.as_str().to_owned()))
                .collect();
            let both = [&a, &b]
                .iter()
                .all(|u| starts.iter().any(|m| m.starts_with(&format!("{u}--"))));
            if both {
                return starts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let stuck_in_driver = inside.is_ok();
    let mut refusals = Vec::new();
    if stuck_in_driver {
        for (unit, id) in &ids {
            let rec = clients[unit].operation(*id).await.expect("operation");
            assert_eq!(
                rec.summary.state,
                OperationState::Running,
                "operation {id} on {unit} ended while its driver call was held"
            );
            for wait in [None, Some(1)] {
                let err = clients[unit]
                    .stop_unit(unit, OpOptions { wait_secs: wait })
                    .await
                    .expect_err("a second operation on a busy unit");
                refusals.push((unit.clone(), wait, is_busy(&err), err.to_string()));
            }
        }
    }
    env.fake.release_hangs();
    env.fake.record_calls(false);
    for (unit, id) in &ids {
        let rec = tokio::time::timeout(
            ANSWER_WITHIN,
            clients[unit].wait_finished(*id, Duration::from_secs(50)),
        )
        .await
        .unwrap_or_else(|_| panic!("waiting for operation {id} on {unit} hung"))
        .expect("wait");
        assert_eq!(
            rec.summary.state,
            OperationState::Succeeded,
            "start of {unit}: {rec:?}"
        );
    }
    assert!(
        stuck_in_driver,
        "starts of {a} and {b} were never inside the driver at the same time"
    );
    for (unit, wait, busy, msg) in refusals {
        assert!(
            busy,
            "a second operation on busy {unit} (wait {wait:?}) was not refused as busy: {msg}"
        );
    }
}

/// The kind of an API refusal, or a description of anything else.
fn refusal(e: &ClientError) -> Result<ErrorKind, String> {
    match e {
        ClientError::Api { status, error } if *status < 500 => Ok(error.kind),
        other => Err(format!("{other} ({other:?})")),
    }
}

/// Racing creations of one name: exactly one wins, the others are told the name is taken
/// (never a server error); racing operations with a delete of their unit all get an answer, and
/// afterwards the unit, its locks and its machines are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_and_a_delete_amid_operations() {
    let env = env().await;
    let (root, bob, carol) = env.people().await;
    bob.register_template(&RegisterTemplate {
        name: name("tpl"),
        driver: DriverKind::Local,
        source: "image-1".into(),
    })
    .await
    .expect("register template");

    // Sixteen clients create the same unit, template and account at once.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let c = if i % 2 == 0 {
            bob.clone()
        } else {
            carol.clone()
        };
        let admin = root.clone();
        set.spawn(async move {
            let unit = c
                .create_unit(&CreateUnitFromFile {
                    name: name("race"),
                    file_name: "race.yaml".into(),
                    unit_file: UNIT_FILE.into(),
                })
                .await
                .map(|_| ());
            let template = c
                .register_template(&RegisterTemplate {
                    name: name("race-tpl"),
                    driver: DriverKind::Local,
                    source: "image-2".into(),
                })
                .await
                .map(|_| ());
            let account = admin
                .create_account(&AddAccount {
                    name: name("race-account"),
                    role: Role::Builder,
                    password: Password::new("race password"),
                })
                .await
                .map(|_| ());
            [("unit", unit), ("template", template), ("account", account)]
        });
    }
    let mut wins: BTreeMap<&str, usize> = BTreeMap::new();
    let mut odd = Vec::new();
    while let Some(done) = tokio::time::timeout(ANSWER_WITHIN, set.join_next())
        .await
        .expect("racing creations hung")
    {
        for (what, result) in done.expect("task") {
            match result {
                Ok(()) => *wins.entry(what).or_default() += 1,
                Err(e) => match refusal(&e) {
                    Ok(ErrorKind::InvalidRequest) if e.to_string().contains("already exists") => {}
                    _ => odd.push(format!("{what}: {e} ({e:?})")),
                },
            }
        }
    }
    assert!(odd.is_empty(), "unexpected answers:\n{}", odd.join("\n"));
    assert_eq!(
        wins,
        [("account", 1), ("template", 1), ("unit", 1)]
            .into_iter()
            .collect()
    );

    // A started unit is deleted while a dozen clients operate on it.
    let doomed: UnitName = name("doomed");
    bob.create_unit(&CreateUnitFromFile {
        name: doomed.clone(),
        file_name: "doomed.yaml".into(),
        unit_file: UNIT_FILE.into(),
    })
    .await
    .expect("create");
    let dir = env.definitions("defs-doomed", "doomed");
    bob.import_directory(&doomed, &dir).await.expect("import");
    let start = bob
        .start_unit(&doomed, OpOptions::default())
        .await
        .expect("start");
    finish(&bob, &start).await;
    env.fake.set_latency_all(Duration::from_millis(10));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..12usize {
        let c = bob.clone();
        let unit = doomed.clone();
        set.spawn(async move {
            let wait = (i % 3 != 0).then_some(10);
            let request = match i % 3 {
                0 => Request::Start,
                1 => Request::Stop,
                _ => Request::Scale(3),
            };
            if i == 5 {
                let r = c
                    .delete_unit(
                        &unit,
                        &DeleteUnitRequest {
                            force: true,
                            wait_secs: Some(10),
                        },
                    )
                    .await;
                let outcome = match r {
                    Ok(rec) => match c
                        .wait_finished(rec.summary.id, Duration::from_secs(50))
                        .await
                    {
                        Ok(rec) => Outcome::Done(Box::new(rec)),
                        Err(e) => Outcome::Other(format!("waiting for the delete: {e}")),
                    },
                    Err(e) => Outcome::Other(format!("delete refused: {e} ({e:?})")),
                };
                return (format!("client {i}: delete"), outcome);
            }
            let what = format!("client {i}: {request:?} (wait {wait:?})");
            (what, send(&c, &unit, &request, wait).await)
        });
    }
    let mut deleted = None;
    let mut odd = Vec::new();
    while let Some(done) = tokio::time::timeout(ANSWER_WITHIN, set.join_next())
        .await
        .expect("operations around a delete hung")
    {
        let (what, outcome) = done.expect("task");
        match outcome {
            Outcome::Done(rec) if rec.summary.kind == OperationKind::UnitDelete => {
                deleted = Some(rec)
            }
            // Before the delete, or refused while it ran, or after it: the unit is gone.
            Outcome::Done(_) | Outcome::Busy | Outcome::NotFound => {}
            Outcome::Other(why) => odd.push(format!("{what}: {why}")),
        }
    }
    assert!(odd.is_empty(), "unexpected answers:\n{}", odd.join("\n"));
    let deleted = deleted.expect("the delete ran");
    assert_eq!(
        deleted.summary.state,
        OperationState::Succeeded,
        "{deleted:?}"
    );
    let err = bob.show_unit(&doomed).await.expect_err("deleted");
    assert_eq!(refusal(&err), Ok(ErrorKind::NotFound), "{err:?}");
    let left: Vec<String> = env
        .fake
        .list()
        .await
        .expect("machines")
        .into_iter()
        .map(|m| m.name.as_str().to_owned())
        .filter(|m| m.starts_with("doomed--"))
        .collect();
    assert!(
        left.is_empty(),
        "machines of the deleted unit remain: {left:?}"
    );
    let status = env.manager.status().await.expect("status");
    assert!(
        status.running_operations.is_empty(),
        "operations still registered as running: {:?}",
        status.running_operations
    );
    // The name can be used again.
    bob.create_unit(&CreateUnitFromFile {
        name: doomed.clone(),
        file_name: "doomed.yaml".into(),
        unit_file: UNIT_FILE.into(),
    })
    .await
    .expect("create again");
}
