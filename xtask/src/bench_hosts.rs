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
//! The two other host benchmarks (draining a host of 100 servers, and host loss to every
//! server healthy elsewhere) belong in this file too: see [`run`].
//!
//! Prints a table and writes `target/bench/hosts.json`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vsm_core::placement::{
    AntiAffinity, GroupPlacement, Host, HostName, HostState, NewServer, Placement,
    PlacementRequest, Policy, Resources, UnitPlacement, place,
};
use vsm_core::{GroupName, ServerName, UnitName};

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

fn name<T: std::str::FromStr>(s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| anyhow::anyhow!("bad name {s}: {e}"))
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

/// Runs the host benchmarks and writes `target/bench/hosts.json`.
pub(crate) fn run(opts: &crate::bench::Opts) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("note: placement timings of the dev profile are not the goal's; use --release");
    }
    let results = vec![placement(opts.runs)?];
    // Cases 2 and 3 go here, each a function returning one JSON result like `placement`:
    // - drain: a host of 100 servers, 100 ms fake driver, concurrency 32; goal <= 1.10x the
    //   plan's critical path;
    // - host loss (`fencing: none`) to every server healthy elsewhere; goal <= the detection
    //   time + 1.10x the ideal restart time.
    crate::bench::write_json(
        "hosts",
        serde_json::json!({
            "runs": opts.runs,
            "results": results,
        }),
    )?;
    Ok(())
}
