//! `cargo xtask bench hosts`: host pools.
//!
//! Case 1, placement: 10,000 new servers of one unit in 20 groups (spread and pack; soft, hard
//! and no anti-affinity; `max_per_host`; zone selectors; `tolerate_host_failures: 1`) placed as
//! one batch on 500 hosts (64 CPUs, 256 GiB, 4 GiB reserved, the default ratios 16.0 and 1.5,
//! four zones) that already hold 2,000 servers, by `vsm_core::place`, against a naive first-fit
//! (first host that is up, matches and has room; no anti-affinity, no `max_per_host`, no
//! weighing) in the same run. Each run builds fresh inputs outside the timed part; the median of
//! `--runs` is reported beside the goal (≤ 50 ms), with how the two spread the groups.
//!
//! Cases 2 and 3 run a real `Manager` on a temporary state dir over fake hosts (the built-in
//! host takes no server; `h1` takes one unit's 100 servers, one group with soft anti-affinity,
//! then `h2`..`h4` join empty), every fake call answering after 100 ms, `engine.concurrency =
//! 32`, the fake hosts' machine directories in memory (`/dev/shm`, when there is one), each
//! run on a fresh pool after one untimed warm-up run:
//!
//! - Case 2, drain: `drain_host(h1)`, timed from the request to its answer, against the plan's
//!   critical path (goal ≤ 1.10×): every phase of the replacement plan (provision, start,
//!   health-check; no definition is imported, so no apply) and of the retire plan (stop,
//!   destroy) takes `ceil(steps / 32)` rounds of its steps' driver calls, counted per phase in
//!   the warm-up's call record.
//! - Case 3, host loss: `h1` (`fencing: none`, `host_down_after_ms` 1000) becomes unreachable
//!   while the benchmark probes the pool (`probe_hosts_once`, 50 ms after each round), timed
//!   until every one of its servers is working on another host (`show_unit`), against the
//!   detection time plus 1.10× the failover plan's critical path (forget: no driver call for a
//!   down host; provision, start, health-check), with the measured detection beside it.
//!
//! Both print the median run's timeline from the operation's journal (when each phase ran),
//! to show where time beyond the ideal goes.
//!
//! Prints the tables and writes `target/bench/hosts.json`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vsm_core::model::LogicalStatus;
use vsm_core::placement::{
    AntiAffinity, GroupPlacement, Host, HostName, HostState, NewServer, Placement,
    PlacementRequest, Policy, Resources, UnitPlacement, place,
};
use vsm_core::{GroupName, OperationId, ServerName, UnitName};
use vsm_hypervisor::Operation;
use vsm_hypervisor::fake::{FakeCall, FakeHypervisor};
use vsm_manager::store::{JournalEntry, SqliteStore, Store};
use vsm_manager::testing::FakeHosts;
use vsm_manager::{
    Actor, AddHost, CreateUnitFromFile, DB_FILE, DrainRequest, DriverFactory, DriverKind,
    DriverSet, Fencing, InitOptions, Manager, ManagerConfig, OpOptions, OperationKind,
    OperationRecord, OperationState, OperationSummary, Password, PasswordCost, StepStatus,
};

use crate::bench::{median, ms};
use AntiAffinity::{Hard, None as NoAnti, Soft};
use Policy::{Pack, Spread};

/// Hosts in the pool.
const HOSTS: usize = 500;
/// Zones the hosts are spread over (label `zone: z1..z4`).
const ZONES: usize = 4;
/// Servers already placed before the batch (4 GiB each, round robin).
const EXISTING: usize = 2_000;
/// The goal for placing the batch.
const GOAL_MS: f64 = 50.0;

/// One group of the batch.
struct GroupDef {
    name: &'static str,
    count: usize,
    vcpus: u32,
    memory_gib: u64,
    policy: Policy,
    anti: AntiAffinity,
    max_per_host: Option<u32>,
    zone: Option<usize>,
}

#[allow(clippy::too_many_arguments)] // reason: one row of the `GROUPS` table
const fn g(
    name: &'static str,
    count: usize,
    vcpus: u32,
    memory_gib: u64,
    policy: Policy,
    anti: AntiAffinity,
    max_per_host: Option<u32>,
    zone: Option<usize>,
) -> GroupDef {
    GroupDef {
        name,
        count,
        vcpus,
        memory_gib,
        policy,
        anti,
        max_per_host,
        zone,
    }
}

/// The batch: 20 groups, 10,000 servers, about 62% of the pool's free memory.
const GROUPS: [GroupDef; 20] = [
    g("web", 1000, 2, 4, Spread, Soft, None, None),
    g("api", 1000, 4, 8, Spread, Soft, None, None),
    g("worker", 1000, 2, 8, Pack, NoAnti, None, None),
    g("batch", 1000, 8, 16, Pack, Soft, None, None),
    g("cache", 500, 4, 32, Spread, Soft, Some(2), None),
    g("db-a", 100, 8, 64, Spread, Hard, None, Some(1)),
    g("db-b", 100, 8, 64, Spread, Hard, None, Some(2)),
    g("db-c", 100, 8, 64, Spread, Hard, None, Some(3)),
    g("db-d", 100, 8, 64, Spread, Hard, None, Some(4)),
    g("queue", 400, 2, 4, Spread, Hard, None, None),
    g("edge-a", 500, 1, 2, Spread, Soft, None, Some(1)),
    g("edge-b", 500, 1, 2, Spread, Soft, None, Some(2)),
    g("edge-c", 500, 1, 2, Pack, Soft, Some(5), Some(3)),
    g("edge-d", 500, 1, 2, Pack, NoAnti, Some(5), Some(4)),
    g("search", 600, 4, 16, Spread, Soft, Some(2), None),
    g("ml", 300, 16, 64, Pack, NoAnti, None, None),
    g("ingest", 600, 2, 4, Spread, NoAnti, None, None),
    g("report", 300, 2, 8, Pack, Soft, None, None),
    g("mail", 400, 1, 2, Spread, Soft, Some(1), None),
    g("misc", 500, 1, 1, Pack, NoAnti, None, None),
];

/// The inputs of one placement run.
struct Inputs {
    hosts: Vec<Host>,
    placements: Vec<Placement>,
    request: PlacementRequest,
}

fn zone_label(z: usize) -> BTreeMap<String, String> {
    [("zone".to_string(), format!("z{z}"))]
        .into_iter()
        .collect()
}

fn inputs() -> Result<Inputs> {
    let mut hosts = Vec::with_capacity(HOSTS);
    for i in 0..HOSTS {
        let mut h = Host::new(
            name(&format!("kvm-{i:03}"))?,
            Resources::new(64, 256 * 1024),
        );
        h.reserved_memory_mib = 4096;
        h.labels = zone_label(i % ZONES + 1);
        hosts.push(h);
    }
    let legacy: UnitName = name("legacy")?;
    let mut placements = Vec::with_capacity(EXISTING);
    for i in 0..EXISTING {
        placements.push(Placement {
            unit: legacy.clone(),
            group: name(&format!("old-{}", i % 5))?,
            server: name(&format!("old-{i}"))?,
            host: hosts[i % HOSTS].name.clone(),
            size: Resources::new(2, 4096),
        });
    }
    let unit: UnitName = name("bench")?;
    let mut rules = BTreeMap::new();
    let mut servers = Vec::new();
    for d in &GROUPS {
        let group: GroupName = name(d.name)?;
        rules.insert(
            group.clone(),
            GroupPlacement {
                policy: d.policy,
                anti_affinity: d.anti,
                max_per_host: d.max_per_host,
                hosts: d.zone.map(zone_label).unwrap_or_default(),
                min: 1,
            },
        );
        for i in 1..=d.count {
            servers.push(NewServer {
                unit: unit.clone(),
                group: group.clone(),
                server: name::<ServerName>(&format!("{}-{i}", d.name))?,
                size: Resources::new(d.vcpus, d.memory_gib * 1024),
            });
        }
    }
    let request = PlacementRequest {
        servers,
        units: [(
            unit,
            UnitPlacement {
                tolerate_host_failures: 1,
                groups: rules,
            },
        )]
        .into_iter()
        .collect(),
    };
    Ok(Inputs {
        hosts,
        placements,
        request,
    })
}

/// The comparison: each server on the first host (in the given order) that is up, matches the
/// group's selector and has room after the ratios; usage kept per host as it goes.
fn first_fit(inputs: &Inputs) -> Option<Vec<(ServerName, HostName)>> {
    let hosts = &inputs.hosts;
    let index: BTreeMap<&HostName, usize> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (&h.name, i))
        .collect();
    let mut free: Vec<(u64, u64)> = hosts
        .iter()
        .map(|h| {
            let a = h.allocatable();
            (a.vcpus, a.memory_mib)
        })
        .collect();
    for p in &inputs.placements {
        if let Some(&i) = index.get(&p.host) {
            free[i].0 = free[i].0.saturating_sub(u64::from(p.size.vcpus));
            free[i].1 = free[i].1.saturating_sub(p.size.memory_mib);
        }
    }
    let mut out = Vec::with_capacity(inputs.request.servers.len());
    for s in &inputs.request.servers {
        let selector = &inputs.request.units[&s.unit].groups[&s.group].hosts;
        let cpu = u64::from(s.size.vcpus);
        let i = (0..hosts.len()).find(|&i| {
            hosts[i].state == HostState::Up
                && free[i].0 >= cpu
                && free[i].1 >= s.size.memory_mib
                && hosts[i].matches(selector)
        })?;
        free[i].0 -= cpu;
        free[i].1 -= s.size.memory_mib;
        out.push((s.server.clone(), hosts[i].name.clone()));
    }
    Some(out)
}

/// How a placement spread the batch: hosts used, the most servers of one group on one host,
/// and hosts holding more than one server of a hard anti-affinity group.
struct Quality {
    hosts_used: usize,
    max_group_per_host: usize,
    hard_violations: usize,
}

fn quality_of(inputs: &Inputs, placed: &[(ServerName, HostName)]) -> Quality {
    let mut per: BTreeMap<(&GroupName, &HostName), usize> = BTreeMap::new();
    for (s, (_, h)) in inputs.request.servers.iter().zip(placed) {
        *per.entry((&s.group, h)).or_default() += 1;
    }
    let hard = |s: &NewServer| {
        inputs.request.units[&s.unit].groups[&s.group].anti_affinity == AntiAffinity::Hard
    };
    let mut broken = 0;
    let mut seen: BTreeMap<(&GroupName, &HostName), usize> = BTreeMap::new();
    for (s, (_, h)) in inputs.request.servers.iter().zip(placed) {
        let n = seen.entry((&s.group, h)).or_default();
        *n += 1;
        if *n == 2 && hard(s) {
            broken += 1;
        }
    }
    let hosts: std::collections::BTreeSet<&HostName> = placed.iter().map(|(_, h)| h).collect();
    Quality {
        hosts_used: hosts.len(),
        max_group_per_host: per.values().copied().max().unwrap_or(0),
        hard_violations: broken,
    }
}

fn span(v: &[Duration]) -> String {
    let lo = v.iter().copied().min().unwrap_or_default();
    let hi = v.iter().copied().max().unwrap_or_default();
    format!("{:.1}..{:.1}", ms(lo), ms(hi))
}

/// Case 1: placing 10,000 servers on 500 hosts, against a naive first-fit.
fn placement(runs: usize) -> Result<serde_json::Value> {
    let mut ours = Vec::with_capacity(runs);
    let mut naive = Vec::with_capacity(runs);
    let mut last = None;
    for i in 0..runs {
        let input = inputs()?;
        let t = Instant::now();
        let placed = place(&input.hosts, &input.placements, &input.request);
        ours.push(t.elapsed());
        let placed = placed.context("the benchmark's batch must fit its pool")?;

        let input_ff = inputs()?;
        let t = Instant::now();
        let ff = first_fit(&input_ff);
        naive.push(t.elapsed());
        let Some(ff) = ff else {
            bail!("first-fit could not place the benchmark's batch");
        };
        if placed.len() != input.request.servers.len() {
            bail!(
                "place answered {} of {} servers",
                placed.len(),
                input.request.servers.len()
            );
        }
        eprintln!("  (hosts placement run {}/{runs} done)", i + 1);
        last = Some((quality_of(&input, &placed), quality_of(&input_ff, &ff)));
    }
    let (s_ours, s_naive) = last.context("at least one run")?;
    let (m_ours, m_naive) = (ms(median(ours.clone())), ms(median(naive.clone())));
    let servers: usize = GROUPS.iter().map(|d| d.count).sum();

    println!(
        "hosts benchmark: place {servers} servers ({} groups) on {HOSTS} hosts holding {EXISTING} (median of {runs} runs)",
        GROUPS.len()
    );
    println!(
        "{:<34} {:>10} {:>8} {:>14} {:>11} {:>15} {:>15}",
        "case",
        "median ms",
        "goal ms",
        "min..max ms",
        "hosts used",
        "max group/host",
        "hard broken"
    );
    println!(
        "{:<34} {:>10.1} {:>8} {:>14} {:>11} {:>15} {:>15}",
        "vsm_core::place",
        m_ours,
        format!("<= {GOAL_MS}"),
        span(&ours),
        s_ours.hosts_used,
        s_ours.max_group_per_host,
        s_ours.hard_violations
    );
    println!(
        "{:<34} {:>10.1} {:>8} {:>14} {:>11} {:>15} {:>15}",
        "naive first-fit (same inputs)",
        m_naive,
        "-",
        span(&naive),
        s_naive.hosts_used,
        s_naive.max_group_per_host,
        s_naive.hard_violations
    );
    println!(
        "place: {} the goal; {:.1}x the time of the first-fit",
        if m_ours <= GOAL_MS { "within" } else { "OVER" },
        m_ours / m_naive.max(f64::MIN_POSITIVE)
    );
    let quality = |s: &Quality| {
        serde_json::json!({
            "hosts_used": s.hosts_used,
            "max_servers_of_one_group_per_host": s.max_group_per_host,
            "hard_anti_affinity_violations": s.hard_violations,
        })
    };
    Ok(serde_json::json!({
        "case": "placement",
        "hosts": HOSTS,
        "existing_servers": EXISTING,
        "servers": servers,
        "groups": GROUPS.len(),
        "ms": m_ours,
        "runs_ms": ours.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        "goal_ms_max": GOAL_MS,
        "within_goal": m_ours <= GOAL_MS,
        "first_fit_ms": m_naive,
        "first_fit_runs_ms": naive.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        "ratio_to_first_fit": m_ours / m_naive.max(f64::MIN_POSITIVE),
        "spread": quality(&s_ours),
        "first_fit_spread": quality(&s_naive),
    }))
}

// ------------------------------------------------------------------ cases 2 and 3: moves

/// Servers on the host that is drained (case 2) or lost (case 3).
const MOVED: usize = 100;
/// The fake drivers' latency, on every call.
const LATENCY: Duration = Duration::from_millis(100);
/// `engine.concurrency`.
const CONCURRENCY: usize = 32;
/// `monitor.host_down_after_ms` (case 3).
const DOWN_AFTER_MS: u64 = 1_000;
/// The pause after each probe round of case 3 (a round itself takes one call's latency).
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// Probing with every host answering before case 3 cuts its host.
const PROBE_LEAD: Duration = Duration::from_millis(400);
/// The goal for both moves: at most this times the ideal.
const MOVE_GOAL: f64 = 1.10;
/// The pool: `h1` takes the unit's servers (and is then drained or lost); `h2`..`h4` join
/// empty afterwards. The built-in host takes no server.
const POOL: [&str; 4] = ["h1", "h2", "h3", "h4"];
/// Each fake host: 64 CPUs and 64 GiB (room for all 100 servers at the default ratios).
const FAKE_HOST: (u32, u64) = (64, 64 * 1024);
use crate::bench::{BENCH_PW as PW, parse as name};

/// A manager on a temporary state dir over fake hosts, with one unit of [`MOVED`] servers all
/// on `h1`, every fake answering after [`LATENCY`], call records emptied.
struct Pool {
    _dir: tempfile::TempDir,
    root: camino::Utf8PathBuf,
    /// The fake hosts' directories (a fake makes one per machine it provisions).
    hosts_dir: tempfile::TempDir,
    local: Arc<FakeHypervisor>,
    hosts: Arc<FakeHosts>,
    manager: Manager,
    admin: Actor,
    unit: UnitName,
}

impl Pool {
    async fn new(fencing: Fencing) -> Result<Pool> {
        let dir = tempfile::tempdir().context("tempdir")?;
        let root = camino::Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
            .map_err(|p| anyhow::anyhow!("non-UTF-8 temp dir {}", p.display()))?;
        let state = root.join("state");
        let mut init = InitOptions::new(state.clone(), name("root")?, Password::new(PW));
        init.password_cost = PasswordCost::Insecure;
        init.settings.engine.concurrency = CONCURRENCY;
        Manager::init(init).context("init")?;
        let mut config = ManagerConfig::load(&state).context("config")?;
        config.password_cost = PasswordCost::Insecure;
        // No monitor: case 3 probes the pool itself.
        config.monitor = false;
        config.settings.engine.concurrency = CONCURRENCY;
        config.settings.monitor.host_down_after_ms = Some(DOWN_AFTER_MS);
        // The built-in host (1 MiB) takes no server: the pool is h1..h4.
        let local = Arc::new(FakeHypervisor::new().with_capacity(1, 1));
        let hosts = Arc::new(FakeHosts::with_capacity(FAKE_HOST.0, FAKE_HOST.1));
        let factory: Arc<dyn DriverFactory> = hosts.clone();
        let manager = Manager::open(
            config,
            DriverSet::new()
                .with(DriverKind::Local, local.clone())
                .with_factory(factory),
        )
        .await
        .context("open")?;
        let admin = crate::bench::admin_with_template(&manager).await?;
        let pool = Pool {
            _dir: dir,
            root,
            hosts_dir: fake_hosts_dir()?,
            local,
            hosts,
            manager,
            admin,
            unit: name("bench")?,
        };
        // Only h1 (and the full built-in host) while the unit starts: all 100 land on h1.
        pool.add(POOL[0], fencing).await?;
        pool.manager
            .create_unit_from_file(
                &pool.admin,
                CreateUnitFromFile {
                    name: pool.unit.clone(),
                    file_name: "bench.yaml".into(),
                    unit_file: format!(
                        "format: 1\ngroups:\n  - name: web\n    template: tpl\n    count: {MOVED}\n    min: 1\n    max: {MOVED}\n    placement:\n      anti_affinity: soft\n"
                    ),
                },
            )
            .await
            .context("create unit")?;
        let id = pool
            .manager
            .start_unit(&pool.admin, &pool.unit, OpOptions::default())
            .await
            .context("start unit")?;
        pool.succeeded(id, "start unit").await?;
        let placed = pool.servers().await?;
        if placed.len() != MOVED || placed.values().any(|(h, _)| h.as_deref() != Some(POOL[0])) {
            bail!("the unit's servers are not all on {}: {placed:?}", POOL[0]);
        }
        for h in &POOL[1..] {
            pool.add(h, fencing).await?;
        }
        for f in pool.fakes()? {
            f.set_latency_all(LATENCY);
            f.record_calls(true);
            f.clear_calls();
        }
        Ok(pool)
    }

    async fn add(&self, host: &str, fencing: Fencing) -> Result<()> {
        self.manager
            .add_host(
                &self.admin,
                AddHost {
                    name: name(host)?,
                    driver: DriverKind::Local,
                    uri: None,
                    dir: Some(
                        camino::Utf8Path::from_path(self.hosts_dir.path())
                            .context("non-UTF-8 temp dir")?
                            .join(host),
                    ),
                    labels: BTreeMap::new(),
                    cpu_ratio: None,
                    ram_ratio: None,
                    reserved_memory_mb: None,
                    fencing: Some(fencing),
                },
            )
            .await
            .with_context(|| format!("add host {host}"))?;
        Ok(())
    }

    async fn succeeded(&self, id: OperationId, what: &str) -> Result<OperationRecord> {
        let rec = self
            .manager
            .wait(&self.admin, id, Duration::from_secs(600))
            .await
            .with_context(|| format!("wait for {what}"))?;
        if rec.summary.state != OperationState::Succeeded {
            bail!("{what} ended {:?}: {rec:?}", rec.summary.state);
        }
        Ok(rec)
    }

    /// Each server of the unit with its host and logical status.
    async fn servers(&self) -> Result<BTreeMap<String, (Option<String>, LogicalStatus)>> {
        let detail = self
            .manager
            .show_unit(&self.admin, &self.unit)
            .await
            .context("show unit")?;
        Ok(detail
            .groups
            .iter()
            .flat_map(|g| &g.servers)
            .map(|s| (s.name.to_string(), (s.host.clone(), s.logical)))
            .collect())
    }

    /// The built-in host's fake and every pool host's.
    fn fakes(&self) -> Result<Vec<Arc<FakeHypervisor>>> {
        let mut out = vec![self.local.clone()];
        for h in POOL {
            out.push(
                self.hosts
                    .host(h)
                    .with_context(|| format!("host {h} was never connected"))?,
            );
        }
        Ok(out)
    }

    /// Every call the fakes recorded.
    fn calls(&self) -> Result<Vec<FakeCall>> {
        Ok(self.fakes()?.iter().flat_map(|f| f.calls()).collect())
    }

    /// The journal of operation `id`, in order (read next to the running manager).
    fn journal(&self, id: OperationId) -> Result<Vec<JournalEntry>> {
        let path = self.root.join("state").join(DB_FILE);
        let store = SqliteStore::open(&path).with_context(|| format!("open {path}"))?;
        let mut j = store.journal(id).context("journal")?;
        j.sort_by_key(|e| e.seq);
        Ok(j)
    }

    async fn close(self) {
        self.manager.shutdown(Duration::from_secs(5)).await;
    }
}

/// A directory for the fake hosts: in memory (`/dev/shm`) where there is one, so that the
/// directory a fake makes for each machine it provisions costs nothing beside its latency (on
/// a disk, 32 at once in one directory cost up to ~20 ms; the state dir stays on disk).
fn fake_hosts_dir() -> Result<tempfile::TempDir> {
    let shm = std::path::Path::new("/dev/shm");
    let in_memory = shm
        .is_dir()
        .then(|| {
            tempfile::Builder::new()
                .prefix("vsm-bench-hosts-")
                .tempdir_in(shm)
                .ok()
        })
        .flatten();
    match in_memory {
        Some(d) => Ok(d),
        None => tempfile::tempdir().context("tempdir"),
    }
}

/// The wall clock in milliseconds since the epoch (the journal's clock).
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One phase of an operation, from its journal: the steps' action, how many, when the first
/// began and the last ended (wall ms).
#[derive(Debug, Clone)]
struct Phase {
    action: String,
    steps: usize,
    begin: i64,
    end: i64,
}

/// The phases of an operation: runs of step entries of one action, in journal order (a phase
/// ends only once all its results are journaled, so phases do not interleave).
fn phases(journal: &[JournalEntry]) -> Vec<Phase> {
    let mut out: Vec<Phase> = Vec::new();
    for e in journal.iter().filter(|e| e.server.is_some()) {
        let at = e.at.as_millis();
        let started = usize::from(e.status == StepStatus::Started);
        match out.last_mut() {
            Some(p) if p.action == e.action => {
                p.steps += started;
                p.begin = p.begin.min(at);
                p.end = p.end.max(at);
            }
            _ => out.push(Phase {
                action: e.action.clone(),
                steps: started,
                begin: at,
                end: at,
            }),
        }
    }
    out
}

/// The phase a driver call belongs to (`None`: the benchmark's own host probes).
fn phase_of(op: Operation) -> Option<&'static str> {
    match op {
        Operation::Provision | Operation::Info => Some("provision"),
        Operation::Address => Some("apply"),
        Operation::Start => Some("start"),
        Operation::State => Some("health-check"),
        Operation::Shutdown => Some("stop"),
        Operation::Destroy => Some("destroy"),
        Operation::Capacity => None,
        _ => Some("other"),
    }
}

/// One measured move (a drain or a host loss).
struct MoveRun {
    /// The measured time.
    ms: f64,
    /// Case 3: from the cut until the manager marked the host down.
    detected_ms: Option<f64>,
    /// When timing began (wall ms).
    origin: i64,
    /// The operation's phases.
    phases: Vec<Phase>,
    /// When the operation was created and ended (wall ms).
    op_span: (i64, i64),
    /// Driver calls by operation (the benchmark's probes included).
    by_op: BTreeMap<String, usize>,
    /// Driver calls by phase (probes left out).
    by_phase: BTreeMap<String, usize>,
}

impl MoveRun {
    fn new(
        ms: f64,
        origin: i64,
        rec: &OperationRecord,
        journal: &[JournalEntry],
        calls: &[FakeCall],
    ) -> MoveRun {
        let mut by_op = BTreeMap::new();
        let mut by_phase = BTreeMap::new();
        for c in calls {
            *by_op.entry(format!("{:?}", c.op)).or_insert(0) += 1;
            if let Some(p) = phase_of(c.op) {
                *by_phase.entry(p.to_owned()).or_insert(0) += 1;
            }
        }
        let created = rec.summary.created_at.as_millis();
        MoveRun {
            ms,
            detected_ms: None,
            origin,
            phases: phases(journal),
            op_span: (
                created,
                rec.summary.finished_at.map_or(created, |t| t.as_millis()),
            ),
            by_op,
            by_phase,
        }
    }
}

/// The ideal of one phase: `rounds` of `calls_per_step` driver calls of [`LATENCY`].
#[derive(Debug, Clone)]
struct IdealPhase {
    action: String,
    steps: usize,
    rounds: usize,
    calls_per_step: f64,
    ms: f64,
}

/// The critical path of a run's phases at [`CONCURRENCY`]: each phase of `n` steps takes
/// `ceil(n / concurrency)` rounds of its steps' driver calls (counted in the run's call
/// record, by phase); the phases follow each other.
fn ideal_of(run: &MoveRun) -> (f64, Vec<IdealPhase>) {
    let mut steps_of: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &run.phases {
        *steps_of.entry(p.action.as_str()).or_default() += p.steps;
    }
    let lat = ms(LATENCY);
    let out: Vec<IdealPhase> = run
        .phases
        .iter()
        .map(|p| {
            let calls = run.by_phase.get(&p.action).copied().unwrap_or(0);
            let calls_per_step = calls as f64 / steps_of[p.action.as_str()].max(1) as f64;
            let rounds = p.steps.div_ceil(CONCURRENCY);
            IdealPhase {
                action: p.action.clone(),
                steps: p.steps,
                rounds,
                calls_per_step,
                ms: rounds as f64 * calls_per_step * lat,
            }
        })
        .collect();
    (out.iter().map(|p| p.ms).sum(), out)
}

fn ideal_text(ideal: &[IdealPhase]) -> String {
    ideal
        .iter()
        .map(|p| {
            format!(
                "{} {} steps = {} rounds x {:.2} calls x {} ms = {:.0} ms",
                p.action,
                p.steps,
                p.rounds,
                p.calls_per_step,
                LATENCY.as_millis(),
                p.ms
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn ideal_json(ideal: &[IdealPhase]) -> serde_json::Value {
    ideal
        .iter()
        .map(|p| {
            serde_json::json!({
                "phase": p.action,
                "steps": p.steps,
                "rounds": p.rounds,
                "driver_calls_per_step": p.calls_per_step,
                "ms": p.ms,
            })
        })
        .collect()
}

/// Where the time of `run` went, from its start (`+ms`): the operation, each phase, the end.
fn timeline(run: &MoveRun) -> (String, serde_json::Value) {
    let at = |t: i64| t - run.origin;
    let mut parts = Vec::new();
    let mut json = Vec::new();
    if let Some(d) = run.detected_ms {
        parts.push(format!("host down +{d:.0}"));
    }
    parts.push(format!("operation created +{}", at(run.op_span.0)));
    let mut prev = run.op_span.0;
    for p in &run.phases {
        parts.push(format!(
            "{} +{}..+{} ({} ms, {} ms after the previous)",
            p.action,
            at(p.begin),
            at(p.end),
            p.end - p.begin,
            p.begin - prev
        ));
        json.push(serde_json::json!({
            "phase": p.action,
            "steps": p.steps,
            "begin_ms": at(p.begin),
            "end_ms": at(p.end),
            "ms": p.end - p.begin,
            "gap_before_ms": p.begin - prev,
        }));
        prev = p.end;
    }
    parts.push(format!(
        "operation ended +{} ({} ms after the last phase)",
        at(run.op_span.1),
        run.op_span.1 - prev
    ));
    parts.push(format!("measured end +{:.0}", run.ms));
    (
        parts.join("\n  "),
        serde_json::json!({
            "host_down_ms": run.detected_ms,
            "operation_created_ms": at(run.op_span.0),
            "phases": json,
            "operation_ended_ms": at(run.op_span.1),
            "measured_end_ms": run.ms,
        }),
    )
}

fn span_ms(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("{lo:.0}..{hi:.0}")
}

/// Checks that every server ended working on a host other than `h1`.
async fn check_moved(
    pool: &Pool,
    keep_names: bool,
    before: &BTreeMap<String, (Option<String>, LogicalStatus)>,
) -> Result<()> {
    let after = pool.servers().await?;
    if after.len() != MOVED {
        bail!("{} servers after the move, not {MOVED}", after.len());
    }
    for (s, (h, l)) in &after {
        if h.as_deref().is_none_or(|h| h == POOL[0]) || *l != LogicalStatus::Working {
            bail!("server {s} is {l:?} on {h:?} after the move");
        }
    }
    if keep_names && after.keys().ne(before.keys()) {
        bail!("the failover changed the servers' names");
    }
    Ok(())
}

/// One drain of `h1`, timed from the request to its answer.
async fn drain_once(pool: &Pool) -> Result<MoveRun> {
    let before = pool.servers().await?;
    let origin = wall_ms();
    let t = Instant::now();
    let report = pool
        .manager
        .drain_host(
            &pool.admin,
            &name(POOL[0])?,
            DrainRequest {
                timeout_secs: Some(600),
            },
        )
        .await
        .context("drain")?;
    let took = ms(t.elapsed());
    if !report.left.is_empty() || report.timed_out || report.moved as usize != MOVED {
        bail!(
            "the drain moved {} and left {} (timed out: {}): {:?}",
            report.moved,
            report.left.len(),
            report.timed_out,
            report.left.first()
        );
    }
    let [op] = report.operations.as_slice() else {
        bail!(
            "a drain of one unit ran {} operations",
            report.operations.len()
        );
    };
    let rec = pool.succeeded(op.id, "drain").await?;
    check_moved(pool, false, &before).await?;
    Ok(MoveRun::new(
        took,
        origin,
        &rec,
        &pool.journal(op.id)?,
        &pool.calls()?,
    ))
}

/// One loss of `h1` (`fencing: none`) while the pool is probed every [`PROBE_EVERY`], timed
/// from the cut until every one of its servers works on another host.
async fn loss_once(pool: &Pool) -> Result<MoveRun> {
    let lost = POOL[0];
    let before = pool.servers().await?;
    let fake = pool
        .hosts
        .host(lost)
        .with_context(|| format!("host {lost} was never connected"))?;
    pool.manager.probe_hosts_once().await.context("probe")?;
    for f in pool.fakes()? {
        f.clear_calls();
    }
    let done = AtomicBool::new(false);
    let prober = async {
        let probed = async {
            let mut seen_down = false;
            while !done.load(Ordering::Relaxed) {
                let (down, _) = pool.manager.probe_hosts_once().await.context("probe")?;
                seen_down |= down.iter().any(|h| h.as_str() == lost);
                tokio::time::sleep(PROBE_EVERY).await;
            }
            anyhow::Ok(seen_down)
        }
        .await;
        // A failed probe ends the watch too.
        done.store(true, Ordering::Relaxed);
        probed
    };
    let watcher = async {
        let watched = async {
            tokio::time::sleep(PROBE_LEAD).await;
            let origin = wall_ms();
            let t0 = Instant::now();
            fake.set_unreachable(true);
            loop {
                let now = pool.servers().await?;
                let moved = before.keys().all(|s| {
                    now.get(s).is_some_and(|(h, l)| {
                        h.as_deref().is_some_and(|h| h != lost) && *l == LogicalStatus::Working
                    })
                });
                if moved {
                    return anyhow::Ok((origin, ms(t0.elapsed())));
                }
                if done.load(Ordering::Relaxed) {
                    bail!("the probes stopped before the servers were working elsewhere");
                }
                if t0.elapsed() > Duration::from_secs(120) {
                    bail!("the servers of the lost host were not working elsewhere within 120 s");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        .await;
        done.store(true, Ordering::Relaxed);
        watched
    };
    let (seen_down, watched) = tokio::join!(prober, watcher);
    let (origin, took) = watched?;
    if !seen_down? {
        bail!("no probe reported host {lost} down");
    }
    let info = pool
        .manager
        .show_host(&pool.admin, &name(lost)?)
        .await
        .context("show host")?;
    let down_since = info
        .host
        .down_since
        .with_context(|| format!("host {lost} has no down time: {info:?}"))?;
    let ops: Vec<OperationSummary> = pool
        .manager
        .list_operations(&pool.admin, Some(&pool.unit))
        .await
        .context("operations")?
        .into_iter()
        .filter(|o| o.kind == OperationKind::HostFailover)
        .collect();
    let [op] = ops.as_slice() else {
        bail!("{} failover operations, not one: {ops:?}", ops.len());
    };
    let rec = pool.succeeded(op.id, "failover").await?;
    check_moved(pool, true, &before).await?;
    let mut run = MoveRun::new(took, origin, &rec, &pool.journal(op.id)?, &pool.calls()?);
    run.detected_ms = Some((down_since.as_millis() - origin) as f64);
    Ok(run)
}

/// A warm-up run (untimed: its call record gives the calls per step) and `runs` timed ones,
/// each on a fresh pool.
async fn move_runs(
    what: &str,
    runs: usize,
    fencing: Fencing,
    once: impl AsyncFn(&Pool) -> Result<MoveRun>,
) -> Result<(MoveRun, Vec<MoveRun>)> {
    let pool = Pool::new(fencing).await?;
    let warm = once(&pool).await;
    pool.close().await;
    let warm = warm?;
    eprintln!("  (hosts {what} warm-up done)");
    let (ideal, _) = ideal_of(&warm);
    let mut out = Vec::with_capacity(runs);
    for i in 0..runs {
        let pool = Pool::new(fencing).await?;
        let r = once(&pool).await;
        pool.close().await;
        let r = r?;
        let (again, _) = ideal_of(&r);
        if (again - ideal).abs() > 0.5 {
            eprintln!(
                "  note: run {} of {what} made other driver calls than the warm-up (ideal {again:.0} ms, not {ideal:.0} ms)",
                i + 1
            );
        }
        eprintln!("  (hosts {what} run {}/{runs} done)", i + 1);
        out.push(r);
    }
    Ok((warm, out))
}

/// The run whose time is the median.
fn median_run(runs: &[MoveRun]) -> Option<&MoveRun> {
    let mut sorted: Vec<&MoveRun> = runs.iter().collect();
    sorted.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    sorted.get(sorted.len() / 2).copied()
}

/// Case 2: draining a host of 100 servers onto three others, against the plan's critical path.
async fn drain(runs: usize) -> Result<serde_json::Value> {
    let (warm, timed) = move_runs("drain", runs, Fencing::Manual, drain_once).await?;
    let (ideal, per_phase) = ideal_of(&warm);
    let all: Vec<f64> = timed.iter().map(|r| r.ms).collect();
    let med = crate::bench::median_f64(all.clone());
    let ratio = med / ideal.max(f64::MIN_POSITIVE);
    let within = ratio <= MOVE_GOAL;
    let mid = median_run(&timed).context("at least one run")?;
    let (tl_text, tl_json) = timeline(mid);

    println!(
        "hosts benchmark: drain a host of {MOVED} servers onto {} empty hosts (fake driver {} ms per call, concurrency {CONCURRENCY}; median of {runs} runs)",
        POOL.len() - 1,
        LATENCY.as_millis()
    );
    println!(
        "{:<34} {:>10} {:>9} {:>7} {:>8} {:>14}",
        "case", "median ms", "ideal ms", "ratio", "goal", "min..max ms"
    );
    println!(
        "{:<34} {:>10.0} {:>9.0} {:>7.2} {:>8} {:>14}",
        format!("drain_host ({MOVED} servers)"),
        med,
        ideal,
        ratio,
        format!("<= {MOVE_GOAL:.2}"),
        span_ms(&all)
    );
    println!("ideal (critical path): {}", ideal_text(&per_phase));
    println!("driver calls of the warm-up by operation: {:?}", warm.by_op);
    println!("median run, from the drain request (ms; journal times):\n  {tl_text}");
    println!(
        "drain: {} the goal ({ratio:.2}x the ideal)",
        if within { "within" } else { "OVER" }
    );
    Ok(serde_json::json!({
        "case": "drain",
        "servers": MOVED,
        "hosts": POOL.len(),
        "latency_ms": LATENCY.as_millis() as u64,
        "concurrency": CONCURRENCY,
        "ms": med,
        "runs_ms": all,
        "ideal_ms": ideal,
        "ideal_phases": ideal_json(&per_phase),
        "ratio": ratio,
        "goal_ratio_max": MOVE_GOAL,
        "within_goal": within,
        "warm_up_driver_calls": warm.by_op,
        "median_run_timeline": tl_json,
    }))
}

/// Case 3: losing a host of 100 servers (`fencing: none`) until every one works elsewhere,
/// against the detection time plus the failover plan's critical path.
async fn host_loss(runs: usize) -> Result<serde_json::Value> {
    let (warm, timed) = move_runs("host loss", runs, Fencing::None, loss_once).await?;
    let (ideal_restart, per_phase) = ideal_of(&warm);
    let detection = DOWN_AFTER_MS as f64;
    let all: Vec<f64> = timed.iter().map(|r| r.ms).collect();
    let detected: Vec<f64> = timed.iter().filter_map(|r| r.detected_ms).collect();
    let after: Vec<f64> = timed
        .iter()
        .filter_map(|r| r.detected_ms.map(|d| r.ms - d))
        .collect();
    let med = crate::bench::median_f64(all.clone());
    let med_detected = crate::bench::median_f64(detected.clone());
    let med_after = crate::bench::median_f64(after.clone());
    let restart = med - detection;
    let ratio = restart / ideal_restart.max(f64::MIN_POSITIVE);
    let goal_ms = detection + MOVE_GOAL * ideal_restart;
    let within = med <= goal_ms;
    let mid = median_run(&timed).context("at least one run")?;
    let (tl_text, tl_json) = timeline(mid);

    println!(
        "hosts benchmark: lose a host of {MOVED} servers (fencing: none; host_down_after {DOWN_AFTER_MS} ms; probed every {} ms after each probe round; fake driver {} ms per call, concurrency {CONCURRENCY}; median of {runs} runs)",
        PROBE_EVERY.as_millis(),
        LATENCY.as_millis()
    );
    println!(
        "{:<28} {:>10} {:>13} {:>11} {:>12} {:>7} {:>9} {:>14}",
        "case",
        "median ms",
        "detection ms",
        "restart ms",
        "ideal rst ms",
        "ratio",
        "goal ms",
        "min..max ms"
    );
    println!(
        "{:<28} {:>10.0} {:>13.0} {:>11.0} {:>12.0} {:>7.2} {:>9} {:>14}",
        "host loss to all healthy",
        med,
        detection,
        restart,
        ideal_restart,
        ratio,
        format!("<= {goal_ms:.0}"),
        span_ms(&all)
    );
    println!(
        "measured detection (cut to host down): median {med_detected:.0} ms ({}); restart after it: median {med_after:.0} ms = {:.2}x the ideal restart",
        span_ms(&detected),
        med_after / ideal_restart.max(f64::MIN_POSITIVE)
    );
    println!(
        "  (a host is marked down by the first probe round that ends {DOWN_AFTER_MS} ms or more after its last answer; a round ends every ~{} ms here, a {} ms capacity call and a {} ms pause, so detection is {DOWN_AFTER_MS} ms plus up to about one round)",
        (LATENCY + PROBE_EVERY).as_millis(),
        LATENCY.as_millis(),
        PROBE_EVERY.as_millis()
    );
    println!("ideal restart (critical path): {}", ideal_text(&per_phase));
    println!(
        "driver calls of the warm-up by operation (Capacity: the probes): {:?}",
        warm.by_op
    );
    println!("median run, from the cut (ms; journal times):\n  {tl_text}");
    println!(
        "for comparison: Proxmox VE HA documents about 2 minutes to recover the services of a lost node; vSphere HA declares a host failed after 15 s without heartbeats (before it restarts the VMs)"
    );
    println!(
        "host loss: {} the goal (detection {detection:.0} ms + {ratio:.3}x the ideal restart; {:.3}x after the measured detection)",
        if within { "within" } else { "OVER" },
        med_after / ideal_restart.max(f64::MIN_POSITIVE)
    );
    Ok(serde_json::json!({
        "case": "host_loss",
        "servers": MOVED,
        "hosts": POOL.len(),
        "fencing": "none",
        "latency_ms": LATENCY.as_millis() as u64,
        "concurrency": CONCURRENCY,
        "host_down_after_ms": DOWN_AFTER_MS,
        "probe_pause_ms": PROBE_EVERY.as_millis() as u64,
        "ms": med,
        "runs_ms": all,
        "detection_ms": detection,
        "measured_detection_ms": med_detected,
        "measured_detection_runs_ms": detected,
        "restart_ms": restart,
        "restart_after_measured_detection_ms": med_after,
        "ideal_restart_ms": ideal_restart,
        "ideal_phases": ideal_json(&per_phase),
        "ratio": ratio,
        "ratio_after_measured_detection": med_after / ideal_restart.max(f64::MIN_POSITIVE),
        "goal_ms_max": goal_ms,
        "goal_ratio_max": MOVE_GOAL,
        "within_goal": within,
        "warm_up_driver_calls": warm.by_op,
        "median_run_timeline": tl_json,
        "comparison": {
            "proxmox_ve_ha_failover_s": 120,
            "vsphere_ha_host_failed_after_s": 15,
        },
    }))
}

/// Runs the host benchmarks and writes `target/bench/hosts.json`.
pub(crate) fn run(opts: &crate::bench::Opts) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "note: placement timings (and the engine's overhead in cases 2 and 3) of the dev profile are not the goal's; use --release"
        );
    }
    let mut results = vec![placement(opts.runs)?];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    results.push(rt.block_on(drain(opts.runs))?);
    results.push(rt.block_on(host_loss(opts.runs))?);
    crate::bench::write_json(
        "hosts",
        serde_json::json!({
            "runs": opts.runs,
            "results": results,
        }),
    )?;
    Ok(())
}
