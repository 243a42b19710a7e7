//! Crash safety over every kind of operation: `examples/crash_script_host` runs a random script
//! (start, stop, apply, scale, group start/stop, upgrade, import) on a file-backed driver whose
//! machines outlive it, and is SIGKILLed at a random moment — before it is ready, right after an
//! operation was launched, or after a random delay. Each time the same state dir must then
//! pass SQLite's integrity check, open in-process, keep every committed result, show what was
//! running as interrupted, agree with the driver about every server, complete the interrupted
//! operation on a re-run, and converge (scale, apply, start) to exactly the driver's machines,
//! all running with the current definitions. The crashes accumulate on one state dir.
//!
//! Iterations: 3, or 24 with `VSM_SLOW_TESTS=1`; `VSM_CRASH_SEED` replays a run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{AccountName, LogicalStatus, ObservedStatus, OperationId, Role, UnitName};
use vsm_hypervisor::{MachineName, PowerState};
use vsm_manager::*;

use crate::crash_kit::{KillOnDrop, Rng, example, iterations, slow};
use crate::crash_ops::{BUILDER, BUILDER_PW, CrashOp, UNIT_FILE, definitions, name};
use crate::file_driver::FileHypervisor;

const ROOT_PW: &str = "root-password-1";

async fn open(state: &Utf8Path, machines: &Utf8Path) -> (Manager, Arc<FileHypervisor>) {
    let driver = Arc::new(FileHypervisor::open(machines, Duration::ZERO).expect("driver"));
    let mut config = ManagerConfig::load(state).expect("config");
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    let manager = Manager::open(
        config,
        DriverSet::new().with(DriverKind::Local, driver.clone()),
    )
    .await
    .expect("the state dir opens after a crash");
    (manager, driver)
}

async fn finish(m: &Manager, me: &Actor, id: OperationId) -> OperationRecord {
    let rec = m.wait(me, id, Duration::from_secs(60)).await.expect("wait");
    assert!(rec.summary.state.is_finished(), "{rec:?}");
    rec
}

/// Launches `op` and requires it to succeed (a refusal because there is nothing to do is fine).
async fn run_ok(
    m: &Manager,
    me: &Actor,
    unit: &UnitName,
    scratch: &Utf8Path,
    op: &CrashOp,
    ctx: &str,
) {
    match op.launch(m, me, unit, scratch).await {
        Ok(Some(id)) => {
            let rec = finish(m, me, id).await;
            assert_eq!(
                rec.summary.state,
                OperationState::Succeeded,
                "{ctx}: `{op}` did not converge: {rec:#?}"
            );
        }
        Ok(None) => {}
        Err(e) if e.kind() == ErrorKind::InvalidRequest => {
            println!("  {ctx}: `{op}` refused: {e}");
        }
        Err(e) => panic!("{ctx}: `{op}`: {e}"),
    }
}

fn machine(server: &str) -> MachineName {
    MachineName::new(format!("shop--{server}")).expect("machine name")
}

fn integrity_ok(state: &Utf8Path) {
    let db = rusqlite::Connection::open(state.join(DB_FILE)).expect("sqlite opens");
    let verdict: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(verdict, "ok", "the store is damaged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_of_every_operation_the_manager_recovers_and_converges() {
    let iterations = iterations(3, 24);
    let mut rng = Rng::seeded("scripted crash test");
    let seed = rng.seed;
    let host = example("crash_script_host");

    let dir = tempfile::tempdir().expect("tempdir");
    let root = Utf8PathBuf::try_from(dir.path().to_path_buf()).expect("utf-8");
    let state = root.join("state");
    let machines = root.join("machines");
    let scratch = root.join("scratch");
    let unit: UnitName = name("shop");

    // Set up: bob's unit `shop`, definitions v0 imported, started.
    let mut init = InitOptions::new(state.clone(), name("root"), Password::new(ROOT_PW));
    init.password_cost = PasswordCost::Insecure;
    Manager::init(init).expect("init");
    {
        let (m, _) = open(&state, &machines).await;
        let admin = m
            .authenticate(&name::<AccountName>("root"), &Password::new(ROOT_PW))
            .await
            .expect("admin");
        m.add_account(
            &admin,
            AddAccount {
                name: name(BUILDER),
                role: Role::Builder,
                password: Password::new(BUILDER_PW),
            },
        )
        .await
        .expect("builder");
        let bob = m
            .authenticate(&name::<AccountName>(BUILDER), &Password::new(BUILDER_PW))
            .await
            .expect("bob");
        m.register_template(
            &bob,
            RegisterTemplate {
                name: name("tpl"),
                driver: DriverKind::Local,
                source: "image-1".into(),
            },
        )
        .await
        .expect("template");
        m.create_unit_from_file(
            &bob,
            CreateUnitFromFile {
                name: unit.clone(),
                file_name: "shop.yaml".into(),
                unit_file: UNIT_FILE.into(),
            },
        )
        .await
        .expect("unit");
        m.import_definitions(&bob, &unit, &definitions(&scratch, 0))
            .await
            .expect("import");
        run_ok(&m, &bob, &unit, &scratch, &CrashOp::Start, "setup").await;
        m.shutdown(Duration::from_secs(5)).await;
    }

    let mut interrupted_seen = 0;
    for i in 0..iterations {
        let script = seed.wrapping_add(i as u64 * 7919);
        let mode = if i % 4 == 3 { 0 } else { 1 + i % 2 };
        let delay = match mode {
            0 => rng.below(120),
            1 => rng.below(600),
            _ => rng.below(15),
        };
        let nth_op = 1 + rng.below(4) as usize;
        let ctx = format!(
            "iteration {i} (seed {seed}, script {script}, mode {mode}, delay {delay} ms, op #{nth_op})"
        );

        // Run the host and kill it.
        let child = Command::new(host.as_str())
            .args([state.as_str(), machines.as_str(), &script.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the host");
        let mut child = KillOnDrop(child);
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let stdout = child.0.stdout.take().expect("stdout");
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    lines.lock().expect("lines").push(line);
                }
            })
        };
        let seen = |pred: &dyn Fn(&[String]) -> bool| pred(&lines.lock().expect("lines"));
        let deadline = Instant::now() + Duration::from_secs(60);
        match mode {
            // Early: during open / reconciliation.
            0 => {}
            1 => {
                while !seen(&|l| l.iter().any(|s| s == "ready")) {
                    assert!(Instant::now() < deadline, "{ctx}: the host never got ready");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            // Right after the nth operation was launched.
            _ => {
                while !seen(&|l| l.iter().filter(|s| s.starts_with("op ")).count() >= nth_op) {
                    assert!(
                        Instant::now() < deadline,
                        "{ctx}: the host launched too few operations: {:?}",
                        lines.lock().expect("lines")
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.0.kill().expect("SIGKILL");
        child.0.wait().expect("reap");
        reader.join().expect("reader");
        let lines = lines.lock().expect("lines").clone();

        // What the host had launched, finished (with which state) and imported.
        let mut launched: BTreeMap<OperationId, CrashOp> = BTreeMap::new();
        let mut done: BTreeMap<OperationId, String> = BTreeMap::new();
        let mut last_import: Option<u32> = None;
        let mut import_after = false;
        for l in &lines {
            let words: Vec<&str> = l.splitn(3, ' ').collect();
            match words.as_slice() {
                ["op", id, step] => {
                    let id: OperationId = id.parse().expect("operation id");
                    launched.insert(id, CrashOp::parse(step).expect("step"));
                }
                ["done", id, st] => {
                    done.insert(id.parse().expect("operation id"), (*st).to_owned());
                }
                ["did", rest @ ..] => {
                    if let Some(CrashOp::Import(n)) = CrashOp::parse(&rest.join(" ")) {
                        last_import = Some(n);
                        import_after = false;
                    }
                }
                // An import begun after it may or may not have been committed.
                ["begin", "import", ..] => import_after = true,
                _ => {}
            }
        }

        // The store survived and opens; nothing committed is lost.
        integrity_ok(&state);
        let (m, driver) = open(&state, &machines).await;
        let me = m
            .authenticate(&name::<AccountName>(BUILDER), &Password::new(BUILDER_PW))
            .await
            .expect("bob");
        let ops = m.list_operations(&me, Some(&unit)).await.expect("ops");
        let by_id: BTreeMap<OperationId, &OperationSummary> =
            ops.iter().map(|o| (o.id, o)).collect();
        for op in &ops {
            assert!(
                op.state.is_finished(),
                "{ctx}: still running after reopen: {op:?}"
            );
        }
        for (id, st) in &done {
            let got = by_id.get(id).map(|o| o.state.to_string());
            assert_eq!(
                got.as_deref(),
                Some(st.as_str()),
                "{ctx}: operation {id} lost its result"
            );
        }
        let mut rerun = None;
        for (id, step) in &launched {
            if done.contains_key(id) {
                continue;
            }
            let o = by_id
                .get(id)
                .unwrap_or_else(|| panic!("{ctx}: launched operation {id} is gone"));
            if o.state == OperationState::Interrupted {
                interrupted_seen += 1;
                let rec = m.show_operation(&me, *id).await.expect("record");
                assert!(
                    rec.error
                        .as_deref()
                        .is_some_and(|e| e.contains("run it again")),
                    "{ctx}: {rec:?}"
                );
                rerun = Some(step.clone());
            }
        }
        if let (Some(n), false) = (last_import, import_after) {
            let diff = m
                .diff_definitions(&me, &unit, &definitions(&scratch, n))
                .await
                .expect("diff");
            assert!(
                diff.files.is_empty(),
                "{ctx}: the last import (body-{n}) is not the newest version: {diff:?}"
            );
        }
        assert!(m.busy_op(&unit).is_none(), "{ctx}: the unit is still busy");

        // Every server agrees with the driver.
        let detail = m.show_unit(&me, &unit).await.expect("show");
        assert!(detail.busy_with.is_none(), "{ctx}");
        for g in &detail.groups {
            for s in &g.servers {
                assert!(
                    s.in_progress.is_none(),
                    "{ctx}: {} still in progress",
                    s.name
                );
                assert_ne!(s.logical, LogicalStatus::Provisioning, "{ctx}: {}", s.name);
                let real = driver
                    .machines()
                    .into_iter()
                    .find(|i| i.name == machine(s.name.as_str()))
                    .map(|i| i.state);
                let expected = match real {
                    Some(PowerState::Running) => ObservedStatus::Working,
                    Some(PowerState::Stopped) => ObservedStatus::Stopped,
                    Some(other) => panic!("{ctx}: the file driver has no {other:?}"),
                    None => ObservedStatus::Failed,
                };
                // Servers the re-open did not need to reconcile keep their last observation,
                // which the finished operation left right.
                assert_eq!(
                    s.observed, expected,
                    "{ctx}: {} observed vs driver {real:?}",
                    s.name
                );
            }
        }

        // The interrupted operation completes on a re-run; then the unit converges.
        if let Some(step) = rerun {
            println!("  {ctx}: re-running `{step}`");
            run_ok(&m, &me, &unit, &scratch, &step, &ctx).await;
        }
        for step in [CrashOp::Scale(2), CrashOp::Apply, CrashOp::Start] {
            run_ok(&m, &me, &unit, &scratch, &step, &ctx).await;
        }
        let detail = m.show_unit(&me, &unit).await.expect("show");
        let export = root.join(format!("export-{i}"));
        m.export_definitions(&me, &unit, None, &export)
            .await
            .expect("export");
        let body = std::fs::read_to_string(export.join("site/index.html")).expect("body");
        let mut model_machines = BTreeSet::new();
        for g in &detail.groups {
            assert_eq!(
                g.servers.len(),
                2,
                "{ctx}: group {} has {:?}",
                g.name,
                g.servers
            );
            for s in &g.servers {
                assert_eq!(s.logical, LogicalStatus::Working, "{ctx}: {s:?}");
                assert_eq!(s.observed, ObservedStatus::Working, "{ctx}: {s:?}");
                assert_eq!(s.applied_version, detail.current_version, "{ctx}: {s:?}");
                let mname = machine(s.name.as_str());
                let file = driver.root_of(&mname).join("www/index.html");
                assert_eq!(
                    std::fs::read_to_string(&file).ok().as_deref(),
                    Some(body.as_str()),
                    "{ctx}: {file}"
                );
                model_machines.insert(mname);
            }
        }
        let driver_machines: BTreeSet<MachineName> =
            driver.machines().into_iter().map(|i| i.name).collect();
        assert_eq!(
            driver_machines, model_machines,
            "{ctx}: the driver's machines and the model's servers differ"
        );
        for info in driver.machines() {
            assert_eq!(info.state, PowerState::Running, "{ctx}: {}", info.name);
        }
        m.shutdown(Duration::from_secs(5)).await;
        drop(m);
        println!(
            "{ctx}: {} line(s) from the host, {} operation(s) launched, ok",
            lines.len(),
            launched.len()
        );
    }
    println!("interrupted operations seen and completed: {interrupted_seen}");
    if slow() {
        assert!(interrupted_seen > 0, "no kill landed inside an operation");
    }
}
