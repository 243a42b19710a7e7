//! The monitor: at an interval, compares every idle unit's servers with what the drivers
//! report, marks crashed or vanished servers failed, reports them, starts automatic recovery
//! per the group's policy, and collects load figures.
//!
//! It skips units that an operation holds (the operation's model is the truth then).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vsm_core::model::{LogicalStatus, ObservedStatus, Origin, RecoverPolicy};
use vsm_core::{OperationId, ServerName, UnitName};
use vsm_hypervisor::{HypervisorError, PowerState};

use super::context::EngineCtx;
use super::exec::{OpCtx, machine_name};
use super::run::{Request, start};
use crate::api::{LoadView, OperationKind};
use crate::error::Result;
use crate::store::Change;

/// Starts the monitor task (stops with `term`: the manager's shutdown or its stepping down).
pub(crate) fn spawn_monitor(engine: &Arc<EngineCtx>, term: tokio_util::sync::CancellationToken) {
    let interval = Duration::from_secs(engine.settings().monitor.interval_secs.max(1));
    let engine = engine.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = check_once(&engine).await {
                tracing::warn!(error = %e, "monitor pass failed");
            }
        }
    });
}

/// One monitor pass over every idle unit. Returns the servers newly found failed.
pub(crate) async fn check_once(engine: &Arc<EngineCtx>) -> Result<Vec<(UnitName, ServerName)>> {
    let (units, templates) = engine.db(|s| Ok((s.units()?, s.templates()?))).await?;
    let ctx = OpCtx::new(
        engine,
        templates.into_iter().map(|t| (t.name.clone(), t)).collect(),
    );
    let mut failed = Vec::new();
    let mut loads = HashMap::new();
    for unit in units {
        if unit.busy.is_some() || engine.ops.busy_op(&unit.name).is_some() {
            continue;
        }
        let mut changes = Vec::new();
        let mut recover = Vec::new();
        for (g, s) in unit.servers() {
            if s.logical == LogicalStatus::Provisioning {
                continue;
            }
            let Some(d) = ctx.driver_for(g, s) else {
                continue;
            };
            let machine = machine_name(&unit.name, &s.name);
            let observed = match d.state(&machine).await {
                Ok(PowerState::Running) => ObservedStatus::Working,
                Ok(PowerState::Starting | PowerState::Stopping) => ObservedStatus::Operating,
                Ok(PowerState::Stopped | PowerState::Paused) => ObservedStatus::Stopped,
                Ok(PowerState::Crashed) => ObservedStatus::Failed,
                Err(HypervisorError::NotFound { .. }) if s.origin != Origin::Registered => {
                    ObservedStatus::Failed
                }
                _ => ObservedStatus::Unknown,
            };
            if let Ok(l) = d.load(&machine).await {
                loads.insert(
                    (unit.name.clone(), s.name.clone()),
                    LoadView {
                        at: engine.now(),
                        cpu_percent: l.cpu_percent.unwrap_or(0.0),
                        memory_bytes: l.memory_bytes.unwrap_or(0),
                    },
                );
            }
            let mut s2 = s.clone();
            s2.observed = observed;
            s2.observed_at = Some(engine.now());
            let crashed = s.logical.is_running()
                && matches!(observed, ObservedStatus::Failed | ObservedStatus::Stopped);
            if crashed {
                s2.logical = LogicalStatus::Failed;
                s2.last_error = Some(match observed {
                    ObservedStatus::Failed => "the server crashed or vanished".into(),
                    _ => "the server stopped without being asked".into(),
                });
                tracing::warn!(unit = %unit.name, server = %s.name, "server failed");
                engine.event(&vsm_jp1::VsmEvent::ServerFailed {
                    unit: unit.name.clone(),
                    group: g.name().clone(),
                    server: s.name.clone(),
                    reason: s2.last_error.clone().unwrap_or_default(),
                });
                failed.push((unit.name.clone(), s.name.clone()));
                if g.spec.recover != RecoverPolicy::None {
                    recover.push(s.name.clone());
                }
            }
            if s2 != *s {
                changes.push(Change::PutServer {
                    unit: unit.name.clone(),
                    group: g.name().clone(),
                    server: s2,
                });
            }
        }
        if !changes.is_empty() {
            // Only if no operation took the unit meanwhile.
            if engine.ops.busy_op(&unit.name).is_none() {
                engine.write(changes).await?;
            }
        }
        for server in recover {
            if let Err(e) = auto_recover(engine, &unit.name, &server).await {
                tracing::warn!(unit = %unit.name, %server, error = %e, "automatic recovery not started");
            }
        }
    }
    // A unit's view shows its servers' load figures: bump the units whose figures changed.
    let changed: std::collections::HashSet<UnitName> = {
        let mut old = engine.loads.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed: std::collections::HashSet<UnitName> = old
            .iter()
            .filter(|(k, v)| loads.get(*k) != Some(*v))
            .map(|((u, _), _)| u.clone())
            .collect();
        changed.extend(
            loads
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(*v))
                .map(|((u, _), _)| u.clone()),
        );
        *old = loads;
        changed
    };
    for unit in &changed {
        engine.revisions.touch_unit(unit);
    }
    Ok(failed)
}

/// Starts an automatic recovery of a failed server (requested by the manager itself).
async fn auto_recover(
    engine: &Arc<EngineCtx>,
    unit: &UnitName,
    server: &ServerName,
) -> Result<OperationId> {
    engine.check_running()?;
    start(
        engine,
        None,
        unit,
        OperationKind::Recover,
        Request::Recover(server.clone()),
        None,
    )
    .await
}
