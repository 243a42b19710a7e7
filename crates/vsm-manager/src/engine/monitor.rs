//! The monitor: at an interval, compares every idle unit's servers with what the drivers
//! report, marks crashed or vanished servers failed, reports them, starts automatic recovery
//! per the group's policy, and collects load figures.
//!
//! It skips units that an operation holds (the operation's model is the truth then).

use std::collections::HashMap;
use std::time::Duration;

use vsm_core::model::{LogicalStatus, ObservedStatus, Origin, RecoverPolicy};
use vsm_core::{ServerName, UnitName};
use vsm_hypervisor::{HypervisorError, PowerState};

use super::exec::{Ctx, machine_name};
use crate::api::{LoadView, OperationKind, OperationRecord, OperationState};
use crate::manager::{Manager, now};
use crate::store::Change;

/// The latest load figures of a server, if the monitor collected any.
pub(crate) fn load_of(m: &Manager, unit: &UnitName, server: &ServerName) -> Option<LoadView> {
    m.inner
        .loads
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(unit.clone(), server.clone()))
        .copied()
}

/// Reports the end of an operation (log; JP1 events when configured).
pub(crate) fn operation_event(m: &Manager, record: &OperationRecord) {
    if let Some(unit) = &record.summary.unit {
        let op = vsm_jp1::OperationInfo {
            unit: unit.clone(),
            id: record.summary.id,
            kind: record.summary.kind.to_string(),
            by: record.summary.requested_by.clone(),
        };
        let detail = record.error.clone().unwrap_or_default();
        let event = match record.summary.state {
            OperationState::Succeeded => Some(vsm_jp1::VsmEvent::OperationSucceeded { op, detail }),
            OperationState::PartlySucceeded => {
                Some(vsm_jp1::VsmEvent::OperationPartlySucceeded { op, detail })
            }
            OperationState::Failed | OperationState::Interrupted => {
                Some(vsm_jp1::VsmEvent::OperationFailed { op, detail })
            }
            _ => None,
        };
        if let Some(event) = event {
            m.jp1_event(&event);
        }
    }
    match record.summary.state {
        OperationState::Succeeded => {
            tracing::info!(operation = %record.summary.id, kind = %record.summary.kind, "operation succeeded")
        }
        state => {
            tracing::warn!(operation = %record.summary.id, kind = %record.summary.kind, %state, error = ?record.error, "operation ended")
        }
    }
}

/// Starts the monitor task (stops with the manager's shutdown).
pub(crate) fn spawn_monitor(m: &Manager) {
    let interval = Duration::from_secs(m.settings().monitor.interval_secs.max(1));
    let m = m.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = m.inner.shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = check_once(&m).await {
                tracing::warn!(error = %e, "monitor pass failed");
            }
        }
    });
}

/// One monitor pass over every idle unit. Returns the servers newly found failed.
pub(crate) async fn check_once(m: &Manager) -> crate::Result<Vec<(UnitName, ServerName)>> {
    let (units, templates) = m.db(|s| Ok((s.units()?, s.templates()?))).await?;
    let ctx = Ctx::new(
        m,
        templates.into_iter().map(|t| (t.name.clone(), t)).collect(),
    );
    let mut failed = Vec::new();
    let mut loads = HashMap::new();
    for unit in units {
        if unit.busy.is_some() || m.busy_op(&unit.name).is_some() {
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
                        at: now(),
                        cpu_percent: l.cpu_percent.unwrap_or(0.0),
                        memory_bytes: l.memory_bytes.unwrap_or(0),
                    },
                );
            }
            let mut s2 = s.clone();
            s2.observed = observed;
            s2.observed_at = Some(now());
            let crashed = s.logical.is_running()
                && matches!(observed, ObservedStatus::Failed | ObservedStatus::Stopped);
            if crashed {
                s2.logical = LogicalStatus::Failed;
                s2.last_error = Some(match observed {
                    ObservedStatus::Failed => "the server crashed or vanished".into(),
                    _ => "the server stopped without being asked".into(),
                });
                tracing::warn!(unit = %unit.name, server = %s.name, "server failed");
                m.jp1_event(&vsm_jp1::VsmEvent::ServerFailed {
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
            if m.busy_op(&unit.name).is_none() {
                m.write(changes).await?;
            }
        }
        for server in recover {
            if let Err(e) = m.auto_recover(&unit.name, &server).await {
                tracing::warn!(unit = %unit.name, %server, error = %e, "automatic recovery not started");
            }
        }
    }
    *m.inner.loads.lock().unwrap_or_else(|p| p.into_inner()) = loads;
    let _ = OperationKind::Recover;
    Ok(failed)
}
