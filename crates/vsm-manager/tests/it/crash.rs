//! Crash safety: `examples/crash_host` (a manager on the local driver) is SIGKILLed at a random
//! moment of a unit start; the state dir must then open in-process, show the unfinished operation
//! as interrupted, and a re-run of the start must converge with the driver agreeing on every
//! running server. Iterations: 3, or 20 with `VSM_SLOW_TESTS=1`; `VSM_CRASH_SEED` replays a seed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use camino::Utf8PathBuf;
use vsm_core::{LogicalStatus, UnitName};
use vsm_hypervisor::local::{LocalDriver, LocalOptions};
use vsm_hypervisor::{Hypervisor, MachineName, PowerState};
use vsm_manager::*;

use crate::crash_kit::{KillOnDrop, Rng, example, iterations, slow};

const PASSWORD: &str = "crash-host-pw-1";

/// Kills every local server of the state dir when dropped (also when the test fails), and any
/// orphan: a boot process the host forked but was killed before the driver recorded it.
struct KillAll(Utf8PathBuf);

impl Drop for KillAll {
    fn drop(&mut self) {
        if let Ok(d) = LocalDriver::open(self.0.clone(), LocalOptions::default()) {
            d.kill_all_now();
        }
        let orphans = orphans(&self.0);
        for pid in &orphans {
            // SAFETY: sending a signal touches no memory.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

/// Processes whose working directory is inside `dir`.
fn orphans(dir: &Utf8PathBuf) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| cwd.starts_with(dir.as_std_path()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_manager_recovers_and_a_rerun_converges() {
    let iterations = iterations(3, 20);
    let mut rng = Rng::seeded("crash test");
    let seed = rng.seed;
    let host = example("crash_host");
    let unit: UnitName = "crash".parse().expect("unit name");
    let mut interrupted_seen = 0;
    let mut orphans_seen = 0;

    for i in 0..iterations {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = Utf8PathBuf::try_from(dir.path().join("state")).expect("utf-8");
        let _kill = KillAll(state.join("local"));
        let out = Command::new(&host)
            .args([state.as_str(), "setup"])
            .output()
            .expect("run crash_host setup");
        assert!(
            out.status.success(),
            "setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // Kill at a random moment after the host has started the operation (it prints
        // `operation N` once the operation runs), so most kills land mid-operation.
        let delay = rng.below(150);
        let child = Command::new(&host)
            .args([state.as_str(), "start"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn crash_host start");
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().expect("piped stdout");
        let first = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            line
        })
        .await
        .expect("read the host's first line");
        assert!(
            first.starts_with("operation "),
            "iteration {i}: the host did not start the operation: {first:?}"
        );
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.0.kill().expect("SIGKILL the host");
        child.0.wait().expect("reap the host");

        // Reopen in-process with a fresh driver on the same state dir.
        let local = Arc::new(
            LocalDriver::open(state.join("local"), LocalOptions::default()).expect("local driver"),
        );
        // A process the host forked but had not yet exec'ed may still hold the state-dir lock
        // for a moment after the host is reaped: retry briefly while the lock is held.
        let mut tries = 0;
        let manager = loop {
            let mut config = ManagerConfig::load(&state).expect("config after the crash");
            config.password_cost = PasswordCost::Insecure;
            config.monitor = false;
            match Manager::open(
                config,
                DriverSet::new().with(DriverKind::Local, local.clone()),
            )
            .await
            {
                Ok(m) => break m,
                Err(OpenError::Locked { .. }) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("iteration {i} (kill after {delay} ms): open: {e}"),
            }
        };
        if tries > 0 {
            println!(
                "iteration {i}: the state dir stayed locked for ~{} ms after the kill",
                tries * 100
            );
        }
        let me = manager
            .authenticate(&"admin".parse().expect("name"), &Password::new(PASSWORD))
            .await
            .expect("login");
        let ops = manager
            .list_operations(&me, Some(&unit))
            .await
            .expect("operations");
        for op in &ops {
            assert!(
                op.state.is_finished(),
                "iteration {i} (kill after {delay} ms): unfinished after reopen: {op:?}"
            );
            assert!(
                matches!(
                    op.state,
                    OperationState::Succeeded | OperationState::Interrupted
                ),
                "iteration {i} (kill after {delay} ms): {op:?}"
            );
            if op.state == OperationState::Interrupted {
                interrupted_seen += 1;
            }
        }
        assert!(manager.busy_op(&unit).is_none(), "unit still busy");

        // Re-run the start: it must converge.
        let id = manager
            .start_unit(&me, &unit, OpOptions::default())
            .await
            .unwrap_or_else(|e| panic!("iteration {i} (kill after {delay} ms): re-run: {e}"));
        let rec = manager
            .wait(&me, id, Duration::from_secs(60))
            .await
            .expect("wait");
        assert_eq!(
            rec.summary.state,
            OperationState::Succeeded,
            "iteration {i} (kill after {delay} ms): re-run: {rec:?}"
        );
        let detail = manager.show_unit(&me, &unit).await.expect("show");
        let mut running = 0;
        for group in &detail.groups {
            for server in &group.servers {
                let machine =
                    MachineName::new(format!("{unit}--{}", server.name)).expect("machine name");
                let power = local.state(&machine).await.expect("driver state");
                if matches!(
                    server.logical,
                    LogicalStatus::Started | LogicalStatus::Working
                ) {
                    running += 1;
                    assert_eq!(
                        power,
                        PowerState::Running,
                        "iteration {i} (kill after {delay} ms): {} is {:?} in the model",
                        server.name,
                        server.logical
                    );
                }
            }
        }
        assert_eq!(
            running, 6,
            "iteration {i} (kill after {delay} ms): {detail:?}"
        );
        manager.shutdown(Duration::from_secs(5)).await;
        drop(manager);
        local.kill_all_now();
        let left = orphans(&state.join("local"));
        if !left.is_empty() {
            // A boot process forked by the host just before the kill, never recorded by the
            // driver: invisible to reconcile (a known gap of the local driver, reported).
            orphans_seen += left.len();
            println!(
                "iteration {i}: {} orphan boot process(es) the driver does not know: {left:?}",
                left.len()
            );
        }
        println!(
            "iteration {i}: killed after {delay} ms, {} operation(s) before re-run",
            ops.len()
        );
    }
    println!("interrupted operations seen: {interrupted_seen}, orphan processes: {orphans_seen}");
    if slow() {
        assert!(
            interrupted_seen > 0,
            "no kill of {iterations} landed mid-operation (seed {seed}): the test proves nothing"
        );
    }
}
