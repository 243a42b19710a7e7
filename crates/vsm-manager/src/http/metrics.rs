//! `GET /metrics`: the Prometheus text format — operations by kind and outcome, operation
//! durations, running operations, units, and servers by observed state.
//!
//! Counters count operations that finished since the server started, found by comparing the
//! manager's recent operations at each scrape with those already counted (operations that ended
//! before the server started are not counted). This module reads the manager as a built-in
//! administrator; it never changes anything.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Mutex;

use vsm_core::model::ObservedStatus;
use vsm_core::{AccountName, OperationId, Role};

use crate::Manager;
use crate::api::{Actor, OperationSummary};

/// Upper bounds of the duration histogram, in seconds.
const BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashSet<OperationId>,
    outcomes: BTreeMap<(String, String), u64>,
    durations: BTreeMap<String, Histogram>,
}

/// The metrics state of one server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
}

/// The identity the metrics read the manager with (an administrator that owns nothing).
fn reader() -> Option<Actor> {
    AccountName::new("vsm-metrics").ok().map(|account| Actor {
        account,
        role: Role::Administrator,
    })
}

fn word<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics::default()
    }

    /// Marks every operation already finished as counted (call once at start).
    pub(crate) async fn seed(&self, manager: &Manager) {
        let Some(actor) = reader() else { return };
        if let Ok(ops) = manager.list_operations(&actor, None).await {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner
                .seen
                .extend(ops.iter().filter(|o| o.state.is_finished()).map(|o| o.id));
        }
    }

    fn count(&self, ops: &[OperationSummary]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for op in ops.iter().filter(|o| o.state.is_finished()) {
            if !inner.seen.insert(op.id) {
                continue;
            }
            let kind = word(&op.kind);
            *inner
                .outcomes
                .entry((kind.clone(), op.state.as_str().to_owned()))
                .or_default() += 1;
            if let Some(end) = op.finished_at {
                let secs = end.millis_since(op.created_at).max(0) as f64 / 1000.0;
                inner.durations.entry(kind).or_default().observe(secs);
            }
        }
    }

    /// The Prometheus text.
    pub(crate) async fn render(&self, manager: &Manager) -> String {
        let mut out = String::new();
        let actor = reader();
        let mut servers: BTreeMap<&'static str, u64> = [
            ObservedStatus::Working,
            ObservedStatus::Operating,
            ObservedStatus::Stopped,
            ObservedStatus::Unknown,
            ObservedStatus::Failed,
        ]
        .into_iter()
        .map(|s| (s.as_str(), 0))
        .collect();
        let mut units = 0usize;
        if let Some(actor) = &actor {
            if let Ok(ops) = manager.list_operations(actor, None).await {
                self.count(&ops);
            }
            if let Ok(list) = manager.list_units(actor, true).await {
                units = list.len();
                for unit in list {
                    if let Ok(detail) = manager.show_unit(actor, &unit.name).await {
                        for server in detail.groups.iter().flat_map(|g| g.servers.iter()) {
                            *servers.entry(server.observed.as_str()).or_default() += 1;
                        }
                    }
                }
            }
        }
        let hosts = match &actor {
            Some(actor) => manager.list_hosts(actor).await.unwrap_or_default(),
            None => Vec::new(),
        };
        let status = manager.status().await.ok();
        let running = status
            .as_ref()
            .map(|s| s.running_operations.len())
            .unwrap_or(0);

        let _ = writeln!(out, "# HELP vsm_up Whether the manager answers (always 1).");
        let _ = writeln!(out, "# TYPE vsm_up gauge\nvsm_up 1");
        let _ = writeln!(
            out,
            "# HELP vsm_operations_total Operations finished since the API server started, by kind and outcome."
        );
        let _ = writeln!(out, "# TYPE vsm_operations_total counter");
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for ((kind, outcome), n) in &inner.outcomes {
            let _ = writeln!(
                out,
                "vsm_operations_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP vsm_operation_duration_seconds Durations of finished operations, by kind."
        );
        let _ = writeln!(out, "# TYPE vsm_operation_duration_seconds histogram");
        for (kind, h) in &inner.durations {
            for (le, n) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "vsm_operation_duration_seconds_bucket{{kind=\"{kind}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "vsm_operation_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "vsm_operation_duration_seconds_sum{{kind=\"{kind}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "vsm_operation_duration_seconds_count{{kind=\"{kind}\"}} {}",
                h.count
            );
        }
        drop(inner);
        let _ = writeln!(out, "# HELP vsm_operations_running Operations running now.");
        let _ = writeln!(
            out,
            "# TYPE vsm_operations_running gauge\nvsm_operations_running {running}"
        );
        let _ = writeln!(out, "# HELP vsm_units Management units.");
        let _ = writeln!(out, "# TYPE vsm_units gauge\nvsm_units {units}");
        let _ = writeln!(out, "# HELP vsm_servers Servers by observed state.");
        let _ = writeln!(out, "# TYPE vsm_servers gauge");
        for (state, n) in servers {
            let _ = writeln!(out, "vsm_servers{{state=\"{state}\"}} {n}");
        }
        host_metrics(&mut out, &hosts);
        if let Some(ha) = status.and_then(|s| s.ha) {
            ha_metrics(&mut out, &ha, crate::clock::now());
        }
        out
    }
}

/// With several managers on one PostgreSQL database: this manager's role, the epoch, and each
/// peer's role and the age of its last heartbeat.
fn ha_metrics(out: &mut String, ha: &crate::api::HaStatus, now: vsm_core::Timestamp) {
    let _ = writeln!(
        out,
        "# HELP vsm_manager_role This manager's role on a shared PostgreSQL store (1 for the role it has)."
    );
    let _ = writeln!(out, "# TYPE vsm_manager_role gauge");
    for role in [
        crate::api::ManagerRole::Active,
        crate::api::ManagerRole::Standby,
    ] {
        let on = u8::from(ha.role == role);
        let _ = writeln!(out, "vsm_manager_role{{role=\"{role}\"}} {on}");
    }
    let _ = writeln!(
        out,
        "# HELP vsm_manager_epoch The leadership epoch (bumped by every takeover)."
    );
    let _ = writeln!(
        out,
        "# TYPE vsm_manager_epoch gauge\nvsm_manager_epoch {}",
        ha.epoch
    );
    let _ = writeln!(
        out,
        "# HELP vsm_manager_peer_seen_seconds Seconds since each manager of the database last wrote its heartbeat."
    );
    let _ = writeln!(out, "# TYPE vsm_manager_peer_seen_seconds gauge");
    for p in &ha.peers {
        let age = (now.as_millis() - p.seen_at.as_millis()).max(0) as f64 / 1000.0;
        let name = p.name.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "vsm_manager_peer_seen_seconds{{peer=\"{name}\",role=\"{}\"}} {age}",
            p.role
        );
    }
}

/// How one per-host gauge reads its value.
type HostGauge = fn(&crate::api::HostInfo) -> u64;

/// Per host of the pool: its state, whether it is connected, what it may hand out, what its
/// servers use, and how many servers it holds.
fn host_metrics(out: &mut String, hosts: &[crate::api::HostInfo]) {
    if hosts.is_empty() {
        return;
    }
    let gauges: [(&str, &str, HostGauge); 6] = [
        (
            "vsm_host_up",
            "Whether the host is up and connected (1) or not (0).",
            |h| u64::from(h.connected && h.host.state == vsm_core::HostState::Up),
        ),
        (
            "vsm_host_allocatable_vcpus",
            "vCPUs the host may hand out (CPUs times the CPU allocation ratio).",
            |h| h.allocatable.vcpus,
        ),
        (
            "vsm_host_allocatable_memory_mib",
            "Memory the host may hand out in MiB (unreserved memory times the RAM ratio).",
            |h| h.allocatable.memory_mib,
        ),
        (
            "vsm_host_used_vcpus",
            "vCPUs of the servers placed on the host.",
            |h| h.used.vcpus,
        ),
        (
            "vsm_host_used_memory_mib",
            "Memory of the servers placed on the host in MiB.",
            |h| h.used.memory_mib,
        ),
        ("vsm_host_servers", "Servers placed on the host.", |h| {
            u64::from(h.servers)
        }),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for h in hosts {
            let _ = writeln!(
                out,
                "{name}{{host=\"{}\",state=\"{}\"}} {}",
                h.host.name(),
                h.host.state,
                value(h)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.3);
        h.observe(7.0);
        assert_eq!(h.count, 2);
        assert_eq!(&h.counts[..5], &[0, 1, 1, 1, 2]);
        assert_eq!(*h.counts.last().expect("buckets"), 2);
    }
}
