//! Active/standby through the binary (issue 14, step 4): two `vsm manager start` processes on
//! one PostgreSQL database (sharing the local driver's directory, as two managers of one host
//! pool would share their hypervisors); the example unit `shop` is built through both URLs
//! (`VSM_URL=a,b`); each round imports a new version, starts its rolling apply, `kill -9`s the
//! active manager at a random moment, and checks that the standby becomes active within 10 s,
//! the operation is interrupted (or finished, when the kill came late, never running), the
//! re-run converges, nothing committed is lost (versions, accounts, units, servers, operations)
//! and no server ever runs twice. The killed manager is started again and stands by for the
//! next round.
//!
//! 3 rounds by default, 20 with `VSM_SLOW_TESTS=1`. The seed is printed; `VSM_CRASH_SEED=N`
//! replays a run. Without PostgreSQL the test prints why it is skipped (never under `CI=true`).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use vsm_manager::testing::pg::PgServer;
use vsm_tests::{Manager, Output, User, run_vsm, slow_tests};

use crate::crash::{Rng, bump_release, copies, example_shop, kill_manager, restart, seed, servers};

/// `vsm args --output json` as `user` against both managers (`VSM_URL=a,b`).
fn both(urls: &str, user: &User, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    run_vsm(
        &all,
        &[
            ("VSM_URL", urls),
            ("VSM_CONFIG_DIR", &user.config_dir().to_string_lossy()),
        ],
        None,
    )
}

/// The role `vsm manager status --dir` reports for the manager of `dir` (`active`,
/// `standby`, or what it says when it does not answer).
fn role(dir: &Path) -> String {
    let out = run_vsm(
        &[
            "manager",
            "status",
            "--dir",
            &dir.to_string_lossy(),
            "--output",
            "json",
        ],
        &[],
        None,
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v["health"]["ha"]["role"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{} ({})", v["state"], out.code))
}

/// Waits up to `within` until the manager of `dir` is `want`; how long it took.
fn wait_role(dir: &Path, want: &str, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if role(dir) == want {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Checks that every server's observed state matches its processes (waiting a little for the
/// reconciliation) and that no server runs twice — under either manager's path of the shared
/// local-driver directory. Returns the unit.
fn check_servers(urls: &str, alice: &User, dirs: [&Path; 2], context: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let unit = both(urls, alice, &["unit", "show", "shop"]).ok().json();
        let mut wrong = Vec::new();
        for s in servers(&unit) {
            let name = s["name"].as_str().expect("a server name");
            let machine = format!("shop--{name}");
            let n = copies(dirs[0], &machine) + copies(dirs[1], &machine);
            assert!(n <= 1, "{context}: server {name} runs {n} times\n{unit}");
            let observed = s["observed"].as_str().unwrap_or("?");
            let ok = match observed {
                "working" | "operating" => n == 1,
                "stopped" | "failed" => n == 0,
                _ => false,
            };
            if !ok {
                wrong.push(format!("{name}: observed {observed}, {n} processes"));
            }
        }
        if wrong.is_empty() {
            return unit;
        }
        assert!(
            Instant::now() < deadline,
            "{context}: observed states do not match the driver: {wrong:?}\n{unit}\n{}",
            logs(&dirs)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The managers' log files, for a failure's report.
fn logs(dirs: &[&Path]) -> String {
    let mut out = String::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir.join("logs")) else {
            continue;
        };
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with("vsm-manager") {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            out.push_str(&format!("==> {}\n{text}\n", e.path().display()));
        }
    }
    out
}

#[test]
fn the_standby_takes_over_when_the_active_manager_is_killed_in_a_rolling_apply() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let rounds = if slow_tests() { 20 } else { 3 };
    let seed = seed();
    eprintln!("ha test: {rounds} rounds, seed {seed} (replay with VSM_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let store = pg.create_database("ha_e2e");
    let a = Manager::start_on_postgres(&store);
    let b = a.start_peer();
    let mut m = [a, b];
    assert_eq!(role(&m[0].dir), "active");
    assert!(wait_role(&m[1].dir, "standby", Duration::from_secs(5)).is_some());
    // `/metrics` of each says its role and the epoch, and — once both wrote their heartbeat
    // rows (every 2 s) — names both managers.
    for (i, want) in [(0, "active"), (1, "standby")] {
        let addr = m[i].url.trim_start_matches("http://").trim_end_matches('/');
        let deadline = Instant::now() + Duration::from_secs(6);
        loop {
            let (status, metrics) = vsm_tests::http_get(addr, "/metrics")
                .unwrap_or_else(|e| panic!("metrics of manager {i}: {e}"));
            assert!(status.contains("200"), "{status}\n{metrics}");
            if metrics.contains(&format!("vsm_manager_role{{role=\"{want}\"}} 1"))
                && metrics.contains("vsm_manager_epoch 1")
                && metrics.matches("vsm_manager_peer_seen_seconds{").count() == 2
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "manager {i} should say it is {want} in epoch 1 with 2 peers:\n{metrics}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let urls = format!("{},{}", m[0].url, m[1].url);
    let dirs = [m[0].dir.clone(), m[1].dir.clone()];
    let (alice, defs) = example_shop(&m[0]);
    let defs_s = defs.to_string_lossy().into_owned();
    let mut active = 0;
    let mut versions = 1u32;
    let mut interrupted = 0;
    let mut takeovers = Vec::new();
    let mut ops_seen: Vec<u64> = Vec::new();
    for round in 0..rounds {
        versions += 1;
        bump_release(&defs, versions);
        let imported = both(&urls, &alice, &["unit", "import", "shop", &defs_s])
            .ok()
            .json();
        assert_eq!(imported["version"], versions, "{imported}");
        let delay = Duration::from_millis(rng.below(1500));
        let context = format!(
            "round {round} (seed {seed}): apply of version {versions}, kill the active manager {active} after {delay:?}"
        );
        eprintln!("{context}");
        let id = both(&urls, &alice, &["unit", "apply", "shop", "--no-wait"])
            .ok()
            .json()["id"]
            .as_u64()
            .expect("an operation id");
        ops_seen.push(id);
        std::thread::sleep(delay);
        kill_manager(&m[active]);
        let standby = 1 - active;
        let took = wait_role(&m[standby].dir, "active", Duration::from_secs(10));
        let Some(took) = took else {
            panic!(
                "{context}: the standby did not become active within 10 s (it is {})",
                role(&m[standby].dir)
            );
        };
        takeovers.push(took);

        // The operation is interrupted (or ended before the kill), never left running.
        let shown = both(&urls, &alice, &["op", "show", &id.to_string()])
            .ok()
            .json();
        let state = shown["state"].as_str().unwrap_or("?").to_owned();
        assert!(
            matches!(
                state.as_str(),
                "interrupted" | "succeeded" | "partly_succeeded" | "failed"
            ),
            "{context}: operation {id} is {state}\n{shown}"
        );
        if state == "interrupted" {
            interrupted += 1;
        }
        check_servers(
            &urls,
            &alice,
            [&dirs[0], &dirs[1]],
            &format!("{context}, after the takeover"),
        );

        // The killed manager comes back as the standby.
        restart(&mut m[active]);
        assert!(
            wait_role(&m[active].dir, "standby", Duration::from_secs(10)).is_some(),
            "{context}: the restarted manager is {}",
            role(&m[active].dir)
        );

        // Re-running the apply on the new active manager converges.
        let rerun = both(
            &urls,
            &alice,
            &["unit", "apply", "shop", "--timeout", "120", "--wait", "120"],
        );
        rerun.ok();
        ops_seen.push(rerun.json()["id"].as_u64().unwrap_or(0));
        // (an apply interrupted while it restarted servers leaves them stopped, as after a
        // crash of a lone manager; the next round rolls over running servers again)
        let start = both(
            &urls,
            &alice,
            &["unit", "start", "shop", "--timeout", "120", "--wait", "120"],
        );
        start.ok();
        ops_seen.push(start.json()["id"].as_u64().unwrap_or(0));
        let unit = check_servers(
            &urls,
            &alice,
            [&dirs[0], &dirs[1]],
            &format!("{context}, after the re-run"),
        );
        let all = servers(&unit);
        assert_eq!(all.len(), 4, "{context}: servers\n{unit}");
        assert!(
            all.iter().all(|s| s["observed"] == "working"
                && s["applied_version"].as_u64() == Some(u64::from(versions))),
            "{context}: not every server works on version {versions}:\n{unit}\n{}",
            logs(&[&dirs[0], &dirs[1]])
        );

        // Nothing committed is lost.
        let listed = both(&urls, &alice, &["unit", "versions", "shop"])
            .ok()
            .json();
        assert_eq!(
            listed.as_array().map(Vec::len),
            Some(versions as usize),
            "{context}: versions\n{listed}"
        );
        let accounts = both(&urls, &m[standby].admin, &["account", "list"])
            .ok()
            .json();
        assert!(
            accounts.to_string().contains("\"alice\""),
            "{context}: accounts\n{accounts}"
        );
        let ops = both(&urls, &alice, &["op", "list", "--unit", "shop"])
            .ok()
            .json();
        for seen in ops_seen.iter().filter(|i| **i > 0) {
            assert!(
                ops.as_array()
                    .is_some_and(|o| o.iter().any(|o| o["id"].as_u64() == Some(*seen))),
                "{context}: operation {seen} is missing\n{ops}"
            );
        }
        let journal = both(&urls, &alice, &["op", "show", &id.to_string()])
            .ok()
            .json();
        assert_eq!(journal["id"].as_u64(), Some(id), "{context}: {journal}");
        active = standby;
    }
    let mut sorted = takeovers.clone();
    sorted.sort();
    eprintln!(
        "ha test: {rounds} rounds, {interrupted} applies interrupted, takeovers {takeovers:?} (median {:?}) (seed {seed})",
        sorted[sorted.len() / 2]
    );
    assert!(
        rounds < 10 || interrupted > 0,
        "no round interrupted an operation: the kills came too late"
    );
}
