//! `cargo xtask bench engine`: unit start of 1,000 and 10,000 servers on the fake driver.
//!
//! Case 1: 10 groups × 100 servers, 100 ms per driver call except the health checks' state
//! queries, which answer at once, `engine.concurrency = 32`; the first
//! start (which also provisions) and a second start after a stop are timed against the ideal of a
//! perfectly parallel engine. Case 2: 10 groups × 1,000 servers at 0 ms latency: wall time and
//! peak memory (VmHWM). Each case runs `--runs` times on a fresh manager; the median is reported
//! with its ratio to the ideal. Prints a table and writes `target/bench/engine.json`.
//! `VSM_BENCH_CASE=big` runs only case 2 (for profiling with `perf record`). With
//! `--store postgres` every case runs on SQLite and on a durable PostgreSQL on loopback, and the
//! table adds PostgreSQL's time over SQLite's (goal: ≤ 1.2 for case 1).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::Utf8PathBuf;
use vsm_core::{OperationId, UnitName};
use vsm_hypervisor::fake::FakeHypervisor;
use vsm_manager::{
    Actor, CreateUnitFromFile, DriverKind, DriverSet, InitOptions, Manager, ManagerConfig,
    OpOptions, OperationState, Password, PasswordCost,
};

use crate::bench::{BENCH_HOST, BENCH_PW as PW, PgBench, StoreKind, parse, use_store};
const CONCURRENCY: usize = 32;

/// One timed measurement.
struct Row {
    case: String,
    seconds: f64,
    ideal: Option<f64>,
}

/// Runs the engine benchmark.
pub(crate) fn run(opts: &crate::bench::Opts) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(bench(opts.runs, &opts.stores))
}

struct Env {
    _dir: tempfile::TempDir,
    manager: Manager,
    admin: Actor,
    fake: Arc<FakeHypervisor>,
}

async fn env(store: StoreKind, pg: Option<&PgBench>) -> Result<Env> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
        .map_err(|p| anyhow::anyhow!("non-utf-8 temp dir {}", p.display()))?;
    let state = root.join("state");
    let mut init = InitOptions::new(state.clone(), parse("root")?, Password::new(PW));
    init.password_cost = PasswordCost::Insecure;
    init.settings.engine.concurrency = CONCURRENCY;
    use_store(&mut init, store, pg)?;
    tokio::task::block_in_place(|| Manager::init(init)).context("init")?;
    let mut config = ManagerConfig::load(&state).context("config")?;
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    config.settings.engine.concurrency = CONCURRENCY;
    // One fake host big enough for every server of the benchmark (1,000 of 1 vCPU and
    // 512 MiB): placement is not what this measures.
    let fake = Arc::new(FakeHypervisor::new().with_capacity(BENCH_HOST.0, BENCH_HOST.1));
    let manager = Manager::open(
        config,
        DriverSet::new().with(DriverKind::Local, fake.clone()),
    )
    .await
    .context("open")?;
    let admin = crate::bench::admin_with_template(&manager).await?;
    Ok(Env {
        _dir: dir,
        manager,
        admin,
        fake,
    })
}

fn unit_file(groups: usize, per_group: usize) -> String {
    let mut s = String::from("format: 1\ngroups:\n");
    for g in 1..=groups {
        s.push_str(&format!(
            "  - name: g{g}\n    template: tpl\n    count: {per_group}\n    min: 1\n    max: {per_group}\n    start_order: {g}\n"
        ));
    }
    s
}

async fn create(env: &Env, groups: usize, per_group: usize) -> Result<UnitName> {
    let unit: UnitName = parse("bench")?;
    env.manager
        .create_unit_from_file(
            &env.admin,
            CreateUnitFromFile {
                name: unit.clone(),
                file_name: "bench.yaml".into(),
                unit_file: unit_file(groups, per_group),
            },
        )
        .await
        .context("create unit")?;
    Ok(unit)
}

async fn finish(env: &Env, id: OperationId, what: &str) -> Result<()> {
    let rec = env
        .manager
        .wait(&env.admin, id, Duration::from_secs(3600))
        .await
        .with_context(|| format!("wait for {what}"))?;
    if rec.summary.state != OperationState::Succeeded {
        bail!("{what} ended {:?}", rec.summary.state);
    }
    Ok(())
}

async fn timed_start(env: &Env, unit: &UnitName, what: &str) -> Result<f64> {
    let t = Instant::now();
    let id = env
        .manager
        .start_unit(&env.admin, unit, OpOptions::default())
        .await
        .with_context(|| what.to_string())?;
    finish(env, id, what).await?;
    Ok(t.elapsed().as_secs_f64())
}

async fn stop(env: &Env, unit: &UnitName) -> Result<f64> {
    let t = Instant::now();
    let id = env
        .manager
        .stop_unit(&env.admin, unit, OpOptions::default())
        .await
        .context("stop")?;
    finish(env, id, "stop").await?;
    Ok(t.elapsed().as_secs_f64())
}

/// Ideal wall time of a start: per group, `ceil(n / c)` waves of `ops` driver calls of `lat`.
fn ideal(groups: usize, per_group: usize, ops: u32, lat: f64) -> f64 {
    groups as f64 * per_group.div_ceil(CONCURRENCY) as f64 * f64::from(ops) * lat
}

fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The driver calls that cost the 100 ms latency (all but the instant state queries).
fn slow_calls(calls: &[vsm_hypervisor::fake::FakeCall]) -> usize {
    calls
        .iter()
        .filter(|c| c.op != vsm_hypervisor::Operation::State)
        .count()
}

async fn case_1(rows: &mut Vec<Row>, lat: f64, env: Env) -> Result<()> {
    let e = env;
    e.fake.set_latency_all(Duration::from_millis(100));
    // "Health checks that answer at once": the health step's state query costs nothing; every
    // other driver call (provision, start, stop, ...) costs 100 ms.
    e.fake
        .set_latency(vsm_hypervisor::Operation::State, Duration::ZERO);
    let unit = create(&e, 10, 100).await?;
    e.fake.record_calls(true);
    let first = timed_start(&e, &unit, "first start (1,000)").await?;
    let calls = e.fake.calls();
    let per_server = slow_calls(&calls) as f64 / 1000.0;
    let mut by_op = std::collections::BTreeMap::new();
    for c in &calls {
        *by_op.entry(format!("{:?}", c.op)).or_insert(0usize) += 1;
    }
    println!("first start driver calls by operation: {by_op:?}");
    e.fake.record_calls(false);
    // The first start provisions, starts and waits for each server: count the driver calls per
    // server to derive its ideal (each call costs 100 ms).
    let first_ops = per_server.round().max(1.0) as u32;
    rows.push(Row {
        case: format!("1,000 first start ({per_server:.1} calls/server)"),
        seconds: first,
        ideal: Some(ideal(10, 100, first_ops, lat)),
    });
    let stopped = stop(&e, &unit).await?;
    rows.push(Row {
        case: "1,000 stop".into(),
        seconds: stopped,
        ideal: None,
    });
    e.fake.clear_calls();
    e.fake.record_calls(true);
    let second = timed_start(&e, &unit, "second start (1,000)").await?;
    let calls2 = e.fake.calls();
    let per_server2 = slow_calls(&calls2) as f64 / 1000.0;
    let mut by_op = std::collections::BTreeMap::new();
    for c in &calls2 {
        *by_op.entry(format!("{:?}", c.op)).or_insert(0usize) += 1;
    }
    println!("second start driver calls by operation: {by_op:?}");
    e.fake.record_calls(false);
    rows.push(Row {
        case: format!("1,000 second start ({per_server2:.1} calls/server)"),
        seconds: second,
        // One 100 ms call (the start) per server: the 4.0 s.
        ideal: Some(ideal(10, 100, per_server2.round().max(1.0) as u32, lat)),
    });
    drop(e);

    Ok(())
}

async fn case_2(rows: &mut Vec<Row>, env: Env) -> Result<()> {
    // Case 2: 10,000 servers, 0 ms latency.
    let e = env;
    let unit = create(&e, 10, 1000).await?;
    let big = timed_start(&e, &unit, "start (10,000)").await?;
    rows.push(Row {
        case: "10,000 first start, 0 ms".into(),
        seconds: big,
        ideal: Some(1.0),
    });
    let big_stop = stop(&e, &unit).await?;
    rows.push(Row {
        case: "10,000 stop, 0 ms".into(),
        seconds: big_stop,
        ideal: None,
    });
    let big2 = timed_start(&e, &unit, "second start (10,000)").await?;
    rows.push(Row {
        case: "10,000 second start, 0 ms".into(),
        seconds: big2,
        ideal: Some(1.0),
    });
    Ok(())
}

async fn bench(runs: usize, stores: &[StoreKind]) -> Result<()> {
    let lat = 0.1;
    // `VSM_BENCH_CASE=big` runs only case 2 (for profiling).
    let only_big = std::env::var("VSM_BENCH_CASE").is_ok_and(|v| v == "big");
    let pg = if stores.contains(&StoreKind::Postgres) {
        Some(tokio::task::block_in_place(PgBench::start)?)
    } else {
        None
    };
    let compared = stores.len() > 1;
    // case -> (ideal of the last run, seconds of every run), in first-seen order.
    let mut cases: Vec<(String, Option<f64>, Vec<f64>)> = Vec::new();
    for i in 0..runs {
        let mut rows = Vec::new();
        // The stores alternate within a run, so that a slow spell of the machine hits both.
        for &store in stores {
            let mut these = Vec::new();
            if !only_big {
                case_1(&mut these, lat, env(store, pg.as_ref()).await?).await?;
            }
            case_2(&mut these, env(store, pg.as_ref()).await?).await?;
            for mut r in these {
                if compared {
                    r.case = format!("{} [{}]", r.case, store.name());
                }
                rows.push(r);
            }
        }
        eprintln!("  (engine run {}/{runs} done)", i + 1);
        for r in rows {
            match cases.iter_mut().find(|c| c.0 == r.case) {
                Some(c) => {
                    c.1 = r.ideal;
                    c.2.push(r.seconds);
                }
                None => cases.push((r.case, r.ideal, vec![r.seconds])),
            }
        }
    }
    let hwm_mb = vm_hwm_kb().map(|kb| kb as f64 / 1024.0);

    println!("engine benchmark (concurrency {CONCURRENCY}, median of {runs} runs)");
    println!(
        "{:<44} {:>10} {:>10} {:>8} {:>18}",
        "case", "wall s", "ideal s", "ratio", "min..max s"
    );
    let mut results = Vec::new();
    for (case, ideal, secs) in &cases {
        let med = crate::bench::median_f64(secs.clone());
        let lo = secs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = secs.iter().copied().fold(0.0, f64::max);
        let spread = format!("{lo:.3}..{hi:.3}");
        match ideal {
            Some(i) => println!(
                "{case:<44} {med:>10.3} {i:>10.3} {:>8.2} {spread:>18}",
                med / i
            ),
            None => println!("{case:<44} {med:>10.3} {:>10} {:>8} {spread:>18}", "-", "-"),
        }
        results.push(serde_json::json!({
            "case": case,
            "seconds": med,
            "runs_seconds": secs,
            "ideal_seconds": ideal,
            "ratio": ideal.map(|i| med / i),
        }));
    }
    // PostgreSQL over SQLite, case by case.
    let mut store_ratios = Vec::new();
    if compared {
        println!("PostgreSQL / SQLite (median wall time; goal <= 1.2 for the 1,000-server cases):");
        for (case, _, secs) in cases.iter().filter(|c| c.0.ends_with(" [postgres]")) {
            let base = case.trim_end_matches(" [postgres]");
            if let Some((_, _, sq)) = cases.iter().find(|c| c.0 == format!("{base} [sqlite]")) {
                let ratio =
                    crate::bench::median_f64(secs.clone()) / crate::bench::median_f64(sq.clone());
                println!("  {base:<42} {ratio:>6.2}x");
                store_ratios.push(serde_json::json!({"case": base, "postgres_over_sqlite": ratio}));
            }
        }
    }
    match hwm_mb {
        Some(mb) => {
            println!("peak memory VmHWM: {mb:.1} MB (goal < 200 MB; whole process, all runs)")
        }
        None => println!("peak memory VmHWM: unavailable"),
    }
    let json = serde_json::json!({
        "runs": runs,
        "concurrency": CONCURRENCY,
        "latency_ms_case_1": 100,
        "stores": stores.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "results": results,
        "postgres_over_sqlite": store_ratios,
        "peak_memory_mb": hwm_mb,
        "goals": {
            "case_1_ratio_max": 1.1,
            "case_2_seconds_max": 1.0,
            "peak_memory_mb_max": 200.0,
            "postgres_over_sqlite_max": 1.2,
        },
    });
    crate::bench::write_json("engine", json)?;
    Ok(())
}
