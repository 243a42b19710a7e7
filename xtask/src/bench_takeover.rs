//! `cargo xtask bench takeover` (also part of `cargo xtask bench --store postgres`): how long
//! a standby manager needs to take over when the active one is killed.
//!
//! Each round: a durable PostgreSQL on loopback (one for the whole run, a new database per
//! round), manager A started as its own `vsm manager start --detach` process (the active one),
//! manager B opened in this process on the same database and definitions directory (a
//! standby), then — after a pause that puts the kill at another moment of the standby's
//! polling each round — `kill -9` of A and B trying a write (adding an account) every 10 ms
//! until it is accepted. The time from the kill to that accepted write is the takeover. Median of
//! `max(--runs, 5)` rounds (goal ≤ 10 s; vCenter HA documents a few minutes). Prints a table
//! and writes `target/bench/takeover.json`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::Utf8PathBuf;
use vsm_hypervisor::fake::FakeHypervisor;
use vsm_manager::{
    AddAccount, DriverKind, DriverSet, InitOptions, Manager, ManagerConfig, Password, PasswordCost,
};

use crate::bench::{BENCH_PW as PW, Opts, PgBench, StoreKind, parse, use_store};
use crate::install::{Profile, Program};

/// Rounds at least (the issue asks for a median of 5).
const MIN_ROUNDS: usize = 5;
/// How long one round may take to see the standby accept a write.
const GIVE_UP: Duration = Duration::from_secs(60);

/// Runs the takeover benchmark.
pub(crate) fn run(opts: &Opts) -> Result<()> {
    let profile = if cfg!(debug_assertions) {
        Profile::Dev
    } else {
        Profile::Release
    };
    let vsm = Program {
        package: "vsm-cli".into(),
        bin: "vsm".into(),
    };
    crate::install::build(std::slice::from_ref(&vsm), profile, &[])?;
    let bin = crate::target_dir()?.join(profile.dir()).join("vsm");
    let pg = PgBench::start()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let rounds = opts.runs.max(MIN_ROUNDS);
    let mut took = Vec::new();
    for i in 0..rounds {
        let t = rt.block_on(round(&bin, &pg, i))?;
        eprintln!(
            "  (takeover round {}/{rounds}: {:.3} s)",
            i + 1,
            t.as_secs_f64()
        );
        took.push(t);
    }
    let secs: Vec<f64> = took.iter().map(Duration::as_secs_f64).collect();
    let median = crate::bench::median_f64(secs.clone());
    let lo = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = secs.iter().copied().fold(0.0, f64::max);
    println!(
        "takeover (kill -9 of the active manager to the first write the standby accepts), {rounds} rounds"
    );
    println!("median {median:.3} s, min {lo:.3} s, max {hi:.3} s (goal <= 10 s)");
    crate::bench::write_json(
        "takeover",
        serde_json::json!({
            "rounds": rounds,
            "store": "postgres (durable, loopback)",
            "seconds": median,
            "runs_seconds": secs,
            "from": "kill -9 of the active manager's process",
            "to": "the first write (account add) the standby accepted, tried every 10 ms",
            "goal_seconds_max": 10.0,
        }),
    )?;
    Ok(())
}

/// Kills the process `pid` with SIGKILL and waits until it is gone.
fn kill_9(pid: u32) -> Result<()> {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .context("run kill")?;
    if !status.success() {
        bail!("kill -9 {pid} failed ({status})");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while PathBuf::from(format!("/proc/{pid}")).exists() {
        // A detached manager is re-parented; a zombie holds no socket any more.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.contains(") Z") {
            break;
        }
        if Instant::now() > deadline {
            bail!("process {pid} did not end after kill -9");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

async fn round(bin: &std::path::Path, pg: &PgBench, i: usize) -> Result<Duration> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
        .map_err(|p| anyhow::anyhow!("non-utf-8 temp dir {}", p.display()))?;
    let (a, b) = (root.join("a"), root.join("b"));
    let mut init = InitOptions::new(a.clone(), parse("root")?, Password::new(PW));
    init.password_cost = PasswordCost::Insecure;
    init.settings.definitions_dir = Some(root.join("definitions").to_string());
    use_store(&mut init, StoreKind::Postgres, Some(pg))?;
    tokio::task::block_in_place(|| Manager::init(init)).context("init")?;
    std::fs::create_dir_all(&b).context("state directory b")?;
    std::fs::copy(a.join("config.yaml"), b.join("config.yaml")).context("config of b")?;

    // A: its own process, the active manager.
    let out = Command::new(bin)
        .args(["manager", "start", "--dir", a.as_str(), "--detach"])
        .args(["--listen", "127.0.0.1:0", "--output", "json"])
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "vsm manager start (A) failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let started: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("vsm manager start's JSON")?;
    let pid = started["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .context("no pid in vsm manager start's answer")?;

    // B: in this process, a standby.
    let mut config = ManagerConfig::load(&b).context("config of b")?;
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    let standby = Manager::open(
        config,
        DriverSet::new().with(
            DriverKind::Local,
            std::sync::Arc::new(FakeHypervisor::new()),
        ),
    )
    .await
    .context("open b")?;
    let admin = standby
        .authenticate(&parse("root")?, &Password::new(PW))
        .await
        .context("login on b")?;
    if standby.is_active() {
        kill_9(pid)?;
        bail!("round {i}: the second manager is active while the first one runs");
    }

    // The kill falls at a different moment of the standby's 250 ms polling each round.
    tokio::time::sleep(Duration::from_millis((i as u64 * 97) % 250 + 300)).await;
    kill_9(pid)?;
    let killed = Instant::now();
    let mut attempt = 0u32;
    let took = loop {
        attempt += 1;
        let added = standby
            .add_account(
                &admin,
                AddAccount {
                    name: parse(&format!("after{i}x{attempt}"))?,
                    role: vsm_core::Role::Builder,
                    password: Password::new(PW),
                },
            )
            .await;
        match added {
            Ok(_) => break killed.elapsed(),
            Err(e) if killed.elapsed() > GIVE_UP => {
                bail!("round {i}: the standby accepted no write within {GIVE_UP:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    standby.shutdown(Duration::from_secs(5)).await;
    drop(dir);
    Ok(took)
}
