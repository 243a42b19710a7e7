//! Host failure detection: every connected host of the pool is probed (its driver's capacity,
//! bounded in time) every `monitor.host_probe_ms`. A host that has not answered for
//! `monitor.host_down_after_secs` is marked `down`, with a JP1/IM event; with `fencing: none`
//! its servers are restarted on the other hosts at once, with `fencing: manual` after `vsm host
//! confirm-down`. A down host that answers again is cleaned before it counts: every copy on it
//! of a server that the model now places elsewhere (or with a newer placement epoch), and every
//! machine of a server that no longer exists, is destroyed; then it is `up` again.
//!
//! The rule is **never two copies of a server running**: a server's copy on a lost host is only
//! forgotten once the loss is fenced, and destroyed before its host serves again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use vsm_core::model::Unit;
use vsm_core::{HostName, HostState, OperationId, UnitName};
use vsm_hypervisor::Hypervisor;

use super::context::EngineCtx;
use super::exec::{EPOCH_LABEL, machine_name};
use super::run::{Request, start};
use crate::api::OperationKind;
use crate::error::{Error, Result};
use crate::host::Fencing;
use crate::store::Change;

/// How long one probe may take before it counts as unanswered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the failover of a fenced lost host is tried again for units it could not start
/// on (busy, or no room for their servers then).
pub(crate) const FAILOVER_RETRY: Duration = Duration::from_secs(30);

/// What one probe round changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ProbeReport {
    /// Hosts newly marked down.
    pub(crate) down: Vec<HostName>,
    /// Hosts that came back, with the stale copies destroyed on each.
    pub(crate) returned: Vec<(HostName, u32)>,
    /// Failover operations started.
    pub(crate) failovers: Vec<OperationId>,
}

/// Starts the host prober (stops with `term`: the manager's shutdown or its stepping down).
pub(crate) fn spawn_heartbeat(engine: &Arc<EngineCtx>, term: tokio_util::sync::CancellationToken) {
    let engine = engine.clone();
    tokio::spawn(async move {
        loop {
            let every = Duration::from_millis(engine.settings().monitor.host_probe_ms.max(10));
            tokio::select! {
                _ = term.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = probe_hosts(&engine).await {
                tracing::warn!(error = %e, "host probe failed");
            }
        }
    });
}

/// One probe round over every host of the pool.
pub(crate) async fn probe_hosts(engine: &Arc<EngineCtx>) -> Result<ProbeReport> {
    let down_after = engine.settings().monitor.host_down_after();
    let probes = engine
        .hosts
        .connected()
        .into_iter()
        .map(|(record, driver)| async move {
            let answer = tokio::time::timeout(PROBE_TIMEOUT, driver.capacity()).await;
            let error = match answer {
                Ok(Ok(_)) | Ok(Err(vsm_hypervisor::HypervisorError::Unsupported { .. })) => None,
                Ok(Err(e)) => Some(crate::error::error_chain(&e)),
                Err(_) => Some(format!(
                    "it did not answer within {}s",
                    PROBE_TIMEOUT.as_secs()
                )),
            };
            (record, driver, error)
        });
    let answers = futures::future::join_all(probes).await;
    let now = tokio::time::Instant::now();
    let mut report = ProbeReport::default();
    for (record, driver, error) in answers {
        let name = record.name().clone();
        match error {
            None => {
                engine.heartbeats.seen().insert(name.clone(), now);
                if record.state == HostState::Down {
                    let stale = clean_returned(engine, &name, driver.as_ref()).await?;
                    let back = engine.hosts.update(name.as_str(), |r| {
                        r.state = HostState::Up;
                        r.down_since = None;
                        r.down_confirmed = false;
                        r.last_error = None;
                        r.last_seen = Some(engine.now());
                    });
                    if let Some(r) = back {
                        engine.write(vec![Change::PutHost(r)]).await?;
                    }
                    tracing::warn!(host = %name, stale, "host returned; stale copies destroyed");
                    engine.event(&vsm_jp1::VsmEvent::HostReturned {
                        host: name.to_string(),
                        stale_copies: stale,
                    });
                    report.returned.push((name, stale));
                } else if record.last_error.is_some()
                    && let Some(r) = engine.hosts.update(name.as_str(), |r| {
                        r.last_error = None;
                        r.last_seen = Some(engine.now());
                    })
                {
                    engine.write(vec![Change::PutHost(r)]).await?;
                }
            }
            Some(e) => {
                let since = *engine.heartbeats.seen().entry(name.clone()).or_insert(now);
                let changed = record.last_error.as_deref() != Some(e.as_str());
                if record.state != HostState::Down && now.duration_since(since) >= down_after {
                    let r = engine.hosts.update(name.as_str(), |r| {
                        r.state = HostState::Down;
                        r.down_since = Some(engine.now());
                        r.down_confirmed = false;
                        r.last_error = Some(e.clone());
                    });
                    if let Some(r) = r {
                        engine.write(vec![Change::PutHost(r.clone())]).await?;
                        tracing::error!(host = %name, error = %e, fencing = %r.fencing, "host down");
                        engine.event(&vsm_jp1::VsmEvent::HostDown {
                            host: name.to_string(),
                            reason: e.clone(),
                            fencing: r.fencing.to_string(),
                        });
                        report.down.push(name.clone());
                        mark_unknown(engine, &name).await?;
                        if r.fencing == Fencing::None {
                            report
                                .failovers
                                .extend(fail_over(engine, &name, None, true).await.operations);
                        }
                    }
                } else if changed
                    && let Some(r) = engine
                        .hosts
                        .update(name.as_str(), |r| r.last_error = Some(e.clone()))
                {
                    engine.write(vec![Change::PutHost(r)]).await?;
                }
            }
        }
    }
    report.failovers.extend(retry_failovers(engine).await?);
    Ok(report)
}

/// The servers of idle units on a host just marked down: what they do is unknown now.
async fn mark_unknown(engine: &Arc<EngineCtx>, host: &HostName) -> Result<()> {
    let units = engine.db(|s| s.units()).await?;
    let at = engine.now();
    let mut changes = Vec::new();
    for u in units
        .iter()
        .filter(|u| engine.ops.busy_op(&u.name).is_none())
    {
        for (g, s) in u
            .servers()
            .filter(|(_, s)| s.host.as_deref() == Some(host.as_str()))
        {
            let mut s2 = s.clone();
            s2.observed = vsm_core::model::ObservedStatus::Unknown;
            s2.observed_at = Some(at);
            s2.last_error = Some(format!("its host {host} is down"));
            changes.push(Change::PutServer {
                unit: u.name.clone(),
                group: g.name().clone(),
                server: s2,
            });
        }
    }
    engine.write(changes).await
}

/// What a failover started, and the units it could not start on (with why).
#[derive(Debug, Default)]
pub(crate) struct FailoverStarts {
    pub(crate) operations: Vec<OperationId>,
    pub(crate) refused: Vec<(UnitName, String)>,
}

/// Starts one failover operation per unit with servers on the lost `host`; answers the
/// operations started and the units refused (busy, or their servers cannot be placed now:
/// each of their servers gets a JP1/IM event when `announce`). The prober tries refused units
/// again every [`FAILOVER_RETRY`]. The caller made sure the loss is fenced.
pub(crate) async fn fail_over(
    engine: &Arc<EngineCtx>,
    host: &HostName,
    actor: Option<crate::api::Actor>,
    announce: bool,
) -> FailoverStarts {
    engine
        .heartbeats
        .attempts()
        .insert(host.clone(), tokio::time::Instant::now());
    let units = match engine.db(|s| s.units()).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(host = %host, error = %e, "cannot list the units of a lost host");
            return FailoverStarts::default();
        }
    };
    let affected: Vec<&Unit> = units
        .iter()
        .filter(|u| {
            u.servers()
                .any(|(_, s)| s.host.as_deref() == Some(host.as_str()))
        })
        .collect();
    let starts = affected.iter().map(|unit| {
        let engine = engine.clone();
        let actor = actor.clone();
        let host = host.clone();
        let name = unit.name.clone();
        async move {
            // A busy unit is not waited for: it is tried again with the next attempt.
            let r = start(
                &engine,
                actor,
                &name,
                OperationKind::HostFailover,
                Request::Failover(host.clone()),
                None,
            )
            .await;
            if let Ok(id) = &r {
                let watcher = engine.clone();
                let (id, unit) = (*id, name.clone());
                tokio::spawn(async move { report_moves(&watcher, id, &unit, &host).await });
            }
            (name, r)
        }
    });
    let mut out = FailoverStarts::default();
    for (unit, r) in futures::future::join_all(starts).await {
        match r {
            Ok(id) => out.operations.push(id),
            Err(e) => {
                tracing::error!(%unit, host = %host, error = %e, "failover not started; tried again later");
                if announce && let Some(u) = affected.iter().find(|u| u.name == unit) {
                    for (g, s) in u
                        .servers()
                        .filter(|(_, s)| s.host.as_deref() == Some(host.as_str()))
                    {
                        engine.event(&vsm_jp1::VsmEvent::ServerFailed {
                            unit: unit.clone(),
                            group: g.name().clone(),
                            server: s.name.clone(),
                            reason: format!(
                                "its host {host} was lost and it cannot be restarted elsewhere now: {e}; vsm tries again every {}s",
                                FAILOVER_RETRY.as_secs()
                            ),
                        });
                    }
                }
                out.refused.push((unit, e.to_string()));
            }
        }
    }
    out
}

/// Down hosts whose loss is fenced (`fencing: none`, or confirmed) that still have servers
/// placed on them: their failover is tried again, at most every [`FAILOVER_RETRY`].
async fn retry_failovers(engine: &Arc<EngineCtx>) -> Result<Vec<OperationId>> {
    let now = tokio::time::Instant::now();
    let due: Vec<HostName> = engine
        .hosts
        .records()
        .into_iter()
        .filter(|(r, _)| {
            r.state == HostState::Down && (r.fencing == Fencing::None || r.down_confirmed)
        })
        .map(|(r, _)| r.name().clone())
        .filter(|h| {
            engine
                .heartbeats
                .attempts()
                .get(h)
                .is_none_or(|at| now.duration_since(*at) >= FAILOVER_RETRY)
        })
        .collect();
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let units = engine.db(|s| s.units()).await?;
    let mut started = Vec::new();
    for h in due {
        let left = units.iter().any(|u| {
            engine.ops.busy_op(&u.name).is_none()
                && u.servers()
                    .any(|(_, s)| s.host.as_deref() == Some(h.as_str()))
        });
        if left {
            started.extend(fail_over(engine, &h, None, false).await.operations);
        }
    }
    Ok(started)
}

/// After a failover operation ends: one JP1/IM event per server that now runs elsewhere.
async fn report_moves(engine: &Arc<EngineCtx>, id: OperationId, unit: &UnitName, from: &HostName) {
    if let Some(mut done) = engine.ops.done(id) {
        let _ = done.wait_for(|d| *d).await;
    }
    let n = unit.clone();
    let Ok(Some(u)) = engine.db(move |s| s.unit(&n)).await else {
        return;
    };
    let Ok(Some(record)) = engine.db(move |s| s.operation(id)).await else {
        return;
    };
    for r in record.servers.iter().filter(|r| r.error.is_none()) {
        if let Some((g, s)) = u.server(&r.server)
            && let Some(to) = &s.host
            && to != from.as_str()
        {
            engine.event(&vsm_jp1::VsmEvent::ServerMoved {
                unit: unit.clone(),
                group: g.name().clone(),
                server: s.name.clone(),
                from_host: from.to_string(),
                to_host: to.clone(),
            });
        }
    }
}

/// Destroys, on a host that answers again, every machine that is not the current copy of a
/// server placed on it: the model (a running operation's, else the store's) must place the
/// server on this host with the machine's epoch. Answers how many were destroyed.
async fn clean_returned(
    engine: &Arc<EngineCtx>,
    host: &HostName,
    driver: &dyn Hypervisor,
) -> Result<u32> {
    let machines = tokio::time::timeout(PROBE_TIMEOUT, driver.list())
        .await
        .map_err(|_| Error::failed_msg(format!("host {host} did not list its machines in time")))?
        .map_err(|e| Error::failed(format!("cannot list the machines of host {host}"), e))?;
    let units = engine.db(|s| s.units()).await?;
    let mut current: BTreeMap<String, (u32, bool)> = BTreeMap::new();
    for unit in &units {
        let live: Option<Unit> = engine
            .ops
            .live_for_unit(&unit.name)
            .map(|l| l.unit.lock().unwrap_or_else(|p| p.into_inner()).clone());
        let u = live.as_ref().unwrap_or(unit);
        for (_, s) in u.servers() {
            let here = s.host.as_deref() == Some(host.as_str());
            current.insert(machine_name(&u.name, &s.name).to_string(), (s.epoch, here));
        }
    }
    let mut destroyed = 0;
    for m in machines {
        // Only machines vsm made (they carry its unit label) are its to judge.
        if !m.labels.contains_key("vsm.unit") {
            continue;
        }
        let epoch: u32 = m
            .labels
            .get(EPOCH_LABEL)
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        let keep = match current.get(m.name.as_str()) {
            Some((e, true)) => epoch >= *e || *e == 0,
            _ => false,
        };
        if keep {
            continue;
        }
        match driver.destroy(&m.name).await {
            Ok(()) => {
                destroyed += 1;
                tracing::warn!(host = %host, machine = %m.name, epoch, "stale copy destroyed");
            }
            Err(e) => {
                return Err(Error::failed(
                    format!(
                        "cannot destroy stale copy {} on returning host {host}",
                        m.name
                    ),
                    e,
                ));
            }
        }
    }
    Ok(destroyed)
}
