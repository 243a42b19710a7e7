//! `cargo xtask bench deploy`: vsm apply against `rsync -a` on 100 local server roots.
//!
//! Generates a definition directory of 1,000 files / 50 MB, imports it, applies it to 100
//! server roots in a temporary directory with the `local` transport, changes one file and
//! applies again; then does the same copies with `rsync -a` into 100 other roots (one rsync
//! per target, in a loop). Median of 3 runs; prints a table and writes
//! `target/bench/deploy.json`. Goals: first apply within 1.5x of rsync; re-apply of one
//! changed file under 5% of the first apply.
//!
//! The goals are judged with vsm's fsync off, like `rsync -a` (which does not fsync either).
//! `VSM_BENCH_FSYNC=1` also measures vsm with its default (every staged file synced to disk
//! before the switch), which takes much longer on most disks.
//!
//! `cargo xtask bench deploy` runs in the dev profile (unoptimized: slow hashing and JSON);
//! the real numbers come from `cargo run --release -p xtask -- bench deploy`.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{GroupName, ServerAddress, ServerName, UnitName};
use vsm_deploy::{
    BatchOptions, GroupPlan, LocalTransport, Outcome, ScanLimits, ServerContext, ServerJob,
    SnapshotStore, apply_batch, no_progress,
};

const FILES: usize = 1_000;
const TOTAL_BYTES: usize = 50 * 1024 * 1024;
const SERVERS: usize = 100;
const RUNS: usize = 3;
const CONCURRENCY: usize = 4;

/// Deterministic filler bytes (xorshift), so content does not compress or dedupe.
fn fill(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn generate(dir: &Utf8Path) -> Result<()> {
    let per = TOTAL_BYTES / FILES;
    for i in 0..FILES {
        let p = dir.join(format!("files/d{:02}/f{i:04}.bin", i % 20));
        fs::create_dir_all(p.parent().context("parent")?)?;
        fs::write(&p, fill(i as u64 + 1, per))?;
    }
    fs::write(
        dir.join("vsm-definition.yaml"),
        "format: 1\ngroups:\n  - name: web\n    files:\n      - { source: files, target: www }\n",
    )?;
    Ok(())
}

fn utf8(p: &std::path::Path) -> Result<Utf8PathBuf> {
    Utf8PathBuf::from_path_buf(p.to_owned()).map_err(|p| anyhow::anyhow!("non-UTF-8 path {p:?}"))
}

#[derive(Debug, Clone, Copy, Default)]
struct Run {
    import: Duration,
    vsm_first: Duration,
    reimport: Duration,
    vsm_again: Duration,
    rsync_first: Duration,
    rsync_again: Duration,
}

fn apply_all(
    rt: &tokio::runtime::Runtime,
    store: &SnapshotStore,
    def: &vsm_deploy::Definition,
    roots: &[Utf8PathBuf],
    fsync: bool,
) -> Result<(Duration, usize)> {
    let group = GroupName::new("web")?;
    let start = Instant::now();
    let plan = GroupPlan::new(store, def, &group)?;
    let mut members = BTreeMap::new();
    members.insert(group.clone(), vec![ServerAddress::new("127.0.0.1")?]);
    let mut jobs = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let server = ServerName::new(format!("web-{}", i + 1))?;
        let ctx = ServerContext {
            unit: UnitName::new("bench")?,
            group: group.clone(),
            server: server.clone(),
            address: ServerAddress::new("127.0.0.1")?,
            index: i + 1,
            members: members.clone(),
        };
        jobs.push(ServerJob {
            server,
            address: None,
            transport: Arc::new(LocalTransport::new(root.clone()).with_fsync(fsync)),
            desired: Arc::new(plan.for_server(&ctx)?),
            previous: None,
        });
    }
    let opts = BatchOptions {
        concurrency: CONCURRENCY,
        health_check: false,
    };
    let report = rt.block_on(apply_batch(&jobs, &opts, no_progress()));
    let elapsed = start.elapsed();
    if report.outcome() != Outcome::AllDone {
        let first = report
            .failures()
            .next()
            .map(|(s, e)| format!("{s}: {}", vsm_deploy::batch::error_chain(e)));
        bail!("apply failed: {first:?}");
    }
    let written = report
        .results
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .map(|a| a.written)
        .sum();
    Ok((elapsed, written))
}

fn rsync_all(src: &Utf8Path, roots: &[Utf8PathBuf]) -> Result<Duration> {
    let start = Instant::now();
    for root in roots {
        let dest = root.join("www");
        let status = Command::new("rsync")
            .arg("-a")
            .arg(format!("{src}/"))
            .arg(format!("{dest}/"))
            .status()
            .context("running rsync (install it with `cargo xtask deps`)")?;
        if !status.success() {
            bail!("rsync failed: {status}");
        }
    }
    Ok(start.elapsed())
}

fn one_run(rt: &tokio::runtime::Runtime, fsync: bool) -> Result<Run> {
    let tmp = tempfile::Builder::new()
        .prefix("vsm-bench-deploy")
        .tempdir_in(bench_tmp()?)?;
    let base = utf8(tmp.path())?;
    let src = base.join("definition");
    generate(&src)?;
    let store = SnapshotStore::open(&base.join("store"))?;
    let mut run = Run::default();

    let t = Instant::now();
    let def = store.import(&src, &ScanLimits::default())?.definition;
    run.import = t.elapsed();

    let roots: Vec<Utf8PathBuf> = (0..SERVERS)
        .map(|i| base.join(format!("vsm/s{i:03}")))
        .collect();
    for r in &roots {
        fs::create_dir_all(r)?;
    }
    let (d, written) = apply_all(rt, &store, &def, &roots, fsync)?;
    if written != FILES * SERVERS {
        bail!(
            "first apply wrote {written} files, expected {}",
            FILES * SERVERS
        );
    }
    run.vsm_first = d;

    let rroots: Vec<Utf8PathBuf> = (0..SERVERS)
        .map(|i| base.join(format!("rsync/s{i:03}")))
        .collect();
    for r in &rroots {
        fs::create_dir_all(r)?;
    }
    run.rsync_first = rsync_all(&src.join("files"), &rroots)?;

    // Change one file, then re-import and re-apply; rsync the same change.
    let changed = src.join("files/d07/f0007.bin");
    fs::write(&changed, fill(999_999, TOTAL_BYTES / FILES))?;
    let t = Instant::now();
    let def2 = store.import(&src, &ScanLimits::default())?.definition;
    run.reimport = t.elapsed();
    let (d, written) = apply_all(rt, &store, &def2, &roots, fsync)?;
    if written != SERVERS {
        bail!("re-apply wrote {written} files, expected {SERVERS}");
    }
    run.vsm_again = d;
    run.rsync_again = rsync_all(&src.join("files"), &rroots)?;
    drop(tmp);
    Ok(run)
}

fn bench_tmp() -> Result<Utf8PathBuf> {
    // On the same disk as the workspace (not a tmpfs), like real server roots.
    let dir = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench/tmp");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the deploy benchmark.
pub(crate) fn run() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut results = serde_json::Map::new();
    println!(
        "deploy benchmark: {FILES} files / {} MB to {SERVERS} local server roots, median of {RUNS} runs",
        TOTAL_BYTES >> 20
    );
    println!(
        "vsm: local transport, {CONCURRENCY} servers at a time; rsync: `rsync -a` per target in a loop\n"
    );
    println!(
        "{:<16} {:>10} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10}",
        "mode",
        "import ms",
        "first ms",
        "rsync ms",
        "ratio",
        "reimport ms",
        "again ms",
        "rsync ms",
        "again %"
    );
    let modes: &[bool] = if std::env::var_os("VSM_BENCH_FSYNC").is_some_and(|v| v == "1") {
        &[false, true]
    } else {
        &[false]
    };
    for &fsync in modes {
        let mut runs = Vec::new();
        for i in 0..RUNS {
            let r = one_run(&rt, fsync)?;
            eprintln!(
                "  (fsync={} run {}/{RUNS}: first {:.0} ms, rsync {:.0} ms, again {:.0} ms)",
                if fsync { "on" } else { "off" },
                i + 1,
                ms(r.vsm_first),
                ms(r.rsync_first),
                ms(r.vsm_again)
            );
            runs.push(r);
        }
        let pick = |f: fn(&Run) -> Duration| median(runs.iter().map(f).collect());
        let (import, first, rfirst, reimport, again, ragain) = (
            pick(|r| r.import),
            pick(|r| r.vsm_first),
            pick(|r| r.rsync_first),
            pick(|r| r.reimport),
            pick(|r| r.vsm_again),
            pick(|r| r.rsync_again),
        );
        let ratio = first.as_secs_f64() / rfirst.as_secs_f64();
        let again_pct = 100.0 * again.as_secs_f64() / first.as_secs_f64();
        let mode = if fsync {
            "vsm fsync=on"
        } else {
            "vsm fsync=off"
        };
        println!(
            "{mode:<16} {:>10.0} {:>12.0} {:>12.0} {:>11.2}x {:>12.0} {:>12.0} {:>10.0} {:>9.2}%",
            ms(import),
            ms(first),
            ms(rfirst),
            ratio,
            ms(reimport),
            ms(again),
            ms(ragain),
            again_pct
        );
        results.insert(
            mode.replace(' ', "_"),
            serde_json::json!({
                "files": FILES,
                "bytes": TOTAL_BYTES,
                "servers": SERVERS,
                "runs": RUNS,
                "concurrency": CONCURRENCY,
                "import_ms": ms(import),
                "first_apply_ms": ms(first),
                "rsync_first_ms": ms(rfirst),
                "first_vs_rsync": ratio,
                "reimport_ms": ms(reimport),
                "reapply_ms": ms(again),
                "rsync_again_ms": ms(ragain),
                "reapply_pct_of_first": again_pct,
                "goal_first_within_1_5x_rsync": ratio <= 1.5,
                "goal_reapply_under_5pct": again_pct < 5.0,
            }),
        );
    }
    let out = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    fs::create_dir_all(&out)?;
    let path = out.join("deploy.json");
    let doc = serde_json::json!({
        "benchmark": "deploy",
        "machine": machine(),
        "versions": versions(),
        "goals": {
            "first_apply_vs_rsync_at_most": 1.5,
            "reapply_pct_of_first_below": 5.0,
            "judged_on": "vsm_fsync=off (rsync -a does not fsync either)",
        },
        "results": results,
    });
    fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
    println!("\nwritten {path}");
    Ok(())
}

/// The first line a command prints (empty when it cannot run).
fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// What the numbers were measured on.
fn machine() -> serde_json::Value {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let mem_kb: u64 = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    let tmp = bench_tmp().map(|p| p.to_string()).unwrap_or_default();
    serde_json::json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "kernel": first_line("uname", &["-r"]),
        "cpu": cpu,
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        "memory_mb": mem_kb / 1024,
        "filesystem": first_line("stat", &["-f", "-c", "%T", &tmp]),
    })
}

/// The versions of what was measured.
fn versions() -> serde_json::Value {
    serde_json::json!({
        "vsm": env!("CARGO_PKG_VERSION"),
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
        "rustc": first_line("rustc", &["--version"]),
        "rsync": first_line("rsync", &["--version"]),
    })
}
