//! The operations running now ([`Operations`]): one lock per unit, and per operation its
//! cancellation token, its progress channel, whether it ended, and its live model.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use vsm_core::model::FailureMark;
use vsm_core::{OperationId, ServerName, UnitName};

use super::live::{Live, lock};
use crate::api::{OperationRecord, ProgressEvent};
use crate::error::{Error, Result};
use crate::revision::Revisions;

/// A running operation.
struct Running {
    unit: Option<UnitName>,
    cancel: CancellationToken,
    events: broadcast::Sender<ProgressEvent>,
    done: tokio::sync::watch::Receiver<bool>,
    live: Option<Arc<Live>>,
}

#[derive(Default)]
struct Table {
    running: HashMap<OperationId, Running>,
    locks: HashMap<UnitName, OperationId>,
}

/// The running operations and the units they hold.
pub(crate) struct Operations {
    table: Mutex<Table>,
    changed: tokio::sync::Notify,
    next: AtomicU64,
    /// A unit's view shows the operation holding it: taking or releasing a lock bumps it.
    revisions: Arc<Revisions>,
}

impl Operations {
    /// None running; the next operation gets id `next`.
    pub(super) fn new(next: u64, revisions: Arc<Revisions>) -> Operations {
        Operations {
            table: Mutex::new(Table::default()),
            changed: tokio::sync::Notify::new(),
            next: AtomicU64::new(next),
            revisions,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the unit's lock for a new operation id, waiting up to `wait` for a busy unit. The
    /// operation's cancellation token is a child of `parent`.
    pub(super) async fn acquire(
        &self,
        unit: &UnitName,
        wait: Option<Duration>,
        parent: &CancellationToken,
    ) -> Result<OperationId> {
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        loop {
            let notified = self.changed.notified();
            {
                let mut ops = self.table();
                match ops.locks.get(unit) {
                    None => {
                        let id = OperationId(self.next.fetch_add(1, Ordering::SeqCst));
                        ops.locks.insert(unit.clone(), id);
                        let (events, _) = broadcast::channel(1024);
                        let (_tx, done) = tokio::sync::watch::channel(false);
                        ops.running.insert(
                            id,
                            Running {
                                unit: Some(unit.clone()),
                                cancel: parent.child_token(),
                                events,
                                done,
                                live: None,
                            },
                        );
                        drop(ops);
                        self.revisions.touch_unit(unit);
                        return Ok(id);
                    }
                    Some(op) => {
                        let busy = Error::Busy {
                            unit: unit.clone(),
                            operation: *op,
                        };
                        match deadline {
                            Some(d) if tokio::time::Instant::now() < d => {}
                            _ => return Err(busy),
                        }
                    }
                }
            }
            let Some(d) = deadline else { continue };
            if tokio::time::timeout_at(d, notified).await.is_err() {
                // One more look, then busy.
                let ops = self.table();
                if let Some(op) = ops.locks.get(unit) {
                    return Err(Error::Busy {
                        unit: unit.clone(),
                        operation: *op,
                    });
                }
            }
        }
    }

    /// Makes the next operation id at least `next` (a takeover: the ids the previous active
    /// manager used are taken).
    pub(super) fn advance_to(&self, next: u64) {
        self.next.fetch_max(next, Ordering::SeqCst);
    }

    /// Releases the unit lock and forgets the running operation.
    pub(super) fn release(&self, id: OperationId) {
        let released = {
            let mut ops = self.table();
            match ops.running.remove(&id) {
                Some(Running { unit: Some(u), .. }) if ops.locks.get(&u) == Some(&id) => {
                    ops.locks.remove(&u);
                    Some(u)
                }
                _ => None,
            }
        };
        if let Some(u) = released {
            self.revisions.touch_unit(&u);
        }
        self.changed.notify_waiters();
    }

    /// The cancellation token and event sender of a running operation.
    pub(crate) fn handles(
        &self,
        id: OperationId,
    ) -> Option<(CancellationToken, broadcast::Sender<ProgressEvent>)> {
        self.table()
            .running
            .get(&id)
            .map(|r| (r.cancel.clone(), r.events.clone()))
    }

    pub(super) fn set_live(
        &self,
        id: OperationId,
        live: Arc<Live>,
        done: tokio::sync::watch::Receiver<bool>,
    ) {
        if let Some(r) = self.table().running.get_mut(&id) {
            r.done = done;
            r.live = Some(live);
        }
    }

    /// The live model of the operation holding `unit`, if any.
    pub(super) fn live_for_unit(&self, unit: &UnitName) -> Option<Arc<Live>> {
        let ops = self.table();
        let id = ops.locks.get(unit)?;
        ops.running.get(id).and_then(|r| r.live.clone())
    }

    /// The record of a running operation as it is now.
    pub(crate) fn record(&self, id: OperationId) -> Option<OperationRecord> {
        let live = self.table().running.get(&id).and_then(|r| r.live.clone());
        live.map(|l| lock(&l.record).clone())
    }

    /// Keeps a running operation's live model in step with a mark set outside it.
    pub(crate) fn note_mark(
        &self,
        unit: &UnitName,
        server: &ServerName,
        mark: Option<FailureMark>,
    ) {
        if let Some(live) = self.live_for_unit(unit)
            && let Some(s) = live.server_mut(&mut lock(&live.unit), server)
        {
            s.mark = mark;
        }
    }

    /// The operation holding `unit`, if any.
    pub(crate) fn busy_op(&self, unit: &UnitName) -> Option<OperationId> {
        self.table().locks.get(unit).copied()
    }

    /// The ids of the running operations, in order.
    pub(crate) fn ids(&self) -> Vec<OperationId> {
        let mut ids: Vec<OperationId> = self.table().running.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Turns true when the operation has ended (`None`: it is not running).
    pub(crate) fn done(&self, id: OperationId) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.table().running.get(&id).map(|r| r.done.clone())
    }

    /// Waits until no operation runs, or until `deadline`.
    pub(crate) async fn wait_idle(&self, deadline: tokio::time::Instant) {
        loop {
            let notified = self.changed.notified();
            if self.table().running.is_empty() {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
    }
}
