//! The engine's context ([`EngineCtx`]): exactly what the engine works with, handed to it by
//! the manager — the store and its journal writer, the drivers, the definition store's
//! directory, the settings, the event sink (JP1/IM), the clock, the running operations, the
//! monitor's load figures and the shutdown signal. It holds no `Manager`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use camino::{Utf8Path, Utf8PathBuf};
use tokio_util::sync::CancellationToken;
use vsm_core::{ServerName, Timestamp, UnitName};
use vsm_hypervisor::Hypervisor;

use super::hosts::{Heartbeats, HostTable};
use super::journal::Writer;
use super::running::Operations;
use crate::api::{DriverKind, LoadView, OperationRecord, OperationState};
use crate::config::Settings;
use crate::drivers::DriverSet;
use crate::error::{Error, Result};
use crate::jp1::Jp1Sink;
use crate::revision::Revisions;
use crate::store::{Change, Store, StoreError};

/// What the engine needs, shared by the manager and every running operation.
pub(crate) struct EngineCtx {
    store: Arc<dyn Store>,
    pub(super) writer: Writer,
    drivers: DriverSet,
    /// The hosts of the pool and their drivers.
    pub(crate) hosts: HostTable,
    /// When each host last answered a probe.
    pub(super) heartbeats: Heartbeats,
    /// Held while a request is placed on the pool.
    pub(super) placing: tokio::sync::Mutex<()>,
    /// (host, template source) pairs known to be clonable there.
    pub(super) template_hosts: Mutex<std::collections::HashSet<(vsm_core::HostName, String)>>,
    /// What running operations placed but have not provisioned yet.
    pub(super) reservations: Mutex<Vec<(vsm_core::OperationId, vsm_core::Placement)>>,
    /// The definition snapshot store's directory.
    definitions: Utf8PathBuf,
    settings: RwLock<Settings>,
    /// JP1/IM events, when `jp1.enabled`.
    jp1: Option<Jp1Sink>,
    clock: fn() -> Timestamp,
    /// The running operations.
    pub(crate) ops: Operations,
    /// The revisions of what the manager shows (bumped by every committed write).
    pub(crate) revisions: Arc<Revisions>,
    /// The latest load figures of each server, as the monitor collected them.
    pub(super) loads: Mutex<HashMap<(UnitName, ServerName), LoadView>>,
    pub(super) shutdown: CancellationToken,
    /// Whether this manager is the active one, and its term.
    pub(crate) leadership: super::leader::Leadership,
    /// When old step journals were last purged (milliseconds since the epoch; 0: not yet).
    journals_purged_at: AtomicI64,
}

impl EngineCtx {
    /// The context over `store` (its journal writer starts here) and `drivers`, with the
    /// definition store in `definitions`; operation ids start at `next_op`. `store` bumps
    /// `revisions` on every committed write. `elected`: several managers may share the store
    /// (PostgreSQL), so an election decides when this one is active.
    #[allow(
        clippy::too_many_arguments,
        reason = "each is one part of the context, named at the one call site"
    )]
    pub(crate) fn new(
        store: Arc<dyn Store>,
        revisions: Arc<Revisions>,
        drivers: DriverSet,
        definitions: Utf8PathBuf,
        settings: Settings,
        jp1: Option<Jp1Sink>,
        next_op: u64,
        elected: bool,
    ) -> EngineCtx {
        EngineCtx {
            writer: Writer::spawn(store.clone()),
            store,
            drivers,
            hosts: HostTable::default(),
            heartbeats: Heartbeats::default(),
            placing: tokio::sync::Mutex::new(()),
            reservations: Mutex::new(Vec::new()),
            template_hosts: Mutex::new(std::collections::HashSet::new()),
            definitions,
            settings: RwLock::new(settings),
            jp1,
            clock: crate::clock::now,
            ops: Operations::new(next_op, revisions.clone()),
            revisions,
            loads: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            leadership: super::leader::Leadership::new(elected),
            journals_purged_at: AtomicI64::new(0),
        }
    }

    /// The current time.
    pub(crate) fn now(&self) -> Timestamp {
        (self.clock)()
    }

    pub(super) fn clock(&self) -> fn() -> Timestamp {
        self.clock
    }

    /// The store (for what needs it whole: a backup of a PostgreSQL store).
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Runs a store call on the blocking pool.
    pub(crate) async fn db<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| Error::failed("store task failed", e))?
            .map_err(|e| self.store_error(e))
    }

    /// A store error as the manager reports it: a write fenced off (this manager is not the
    /// active one) names the active manager.
    pub(crate) fn store_error(&self, e: StoreError) -> Error {
        match e {
            StoreError::Fenced { .. } => Error::NotLeader {
                active: self.leadership.active_url(),
            },
            other => Error::Store(other),
        }
    }

    /// Applies `changes` in one transaction (on the blocking pool).
    pub(crate) async fn write(&self, changes: Vec<Change>) -> Result<()> {
        self.db(move |s| s.write(&changes)).await
    }

    /// The injected drivers.
    pub(crate) fn drivers(&self) -> &DriverSet {
        &self.drivers
    }

    /// The driver of host `host` when given, else the built-in driver of `kind`: every lookup
    /// of the engine goes through here.
    pub(super) fn driver_on(
        &self,
        host: Option<&str>,
        kind: DriverKind,
    ) -> std::result::Result<Arc<dyn Hypervisor>, String> {
        match host {
            // A host of the pool (the table refuses one that is down or not connected). A host
            // that is not (or no longer) in the pool is a legacy record: what a driver once
            // called its host. Such servers belong to the built-in host of their kind.
            Some(h) if self.hosts.contains(h) => self.hosts.driver_on(h),
            _ => self.driver(kind),
        }
    }

    /// The built-in driver of `kind`.
    pub(super) fn driver(
        &self,
        kind: DriverKind,
    ) -> std::result::Result<Arc<dyn Hypervisor>, String> {
        self.drivers
            .get(kind)
            .cloned()
            .ok_or_else(|| format!("this manager has no {kind} driver"))
    }

    /// The definition snapshot store's directory.
    pub(super) fn definitions(&self) -> &Utf8Path {
        &self.definitions
    }

    /// The current settings.
    pub(crate) fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the settings (`vsm manager log-config`).
    pub(crate) fn set_settings(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    /// Queues a JP1/IM event when JP1 is enabled (never blocks on JP1).
    pub(crate) fn event(&self, event: &vsm_jp1::VsmEvent) {
        if let Some(jp1) = &self.jp1 {
            jp1.send(event);
        }
    }

    /// Waits until the queued JP1/IM events are delivered (when JP1 is enabled).
    pub(crate) async fn drain_events(&self) {
        if let Some(jp1) = &self.jp1 {
            jp1.drain().await;
        }
    }

    /// Reports the end of an operation (log; JP1 events when configured).
    pub(super) fn operation_event(&self, record: &OperationRecord) {
        if let Some(unit) = &record.summary.unit {
            let op = vsm_jp1::OperationInfo {
                unit: unit.clone(),
                id: record.summary.id,
                kind: record.summary.kind.to_string(),
                by: record.summary.requested_by.clone(),
            };
            let detail = record.error.clone().unwrap_or_default();
            let event = match record.summary.state {
                OperationState::Succeeded => {
                    Some(vsm_jp1::VsmEvent::OperationSucceeded { op, detail })
                }
                OperationState::PartlySucceeded => {
                    Some(vsm_jp1::VsmEvent::OperationPartlySucceeded { op, detail })
                }
                OperationState::Failed | OperationState::Interrupted => {
                    Some(vsm_jp1::VsmEvent::OperationFailed { op, detail })
                }
                _ => None,
            };
            if let Some(event) = event {
                self.event(&event);
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

    /// The latest load figures of a server, if the monitor collected any.
    pub(crate) fn load_of(&self, unit: &UnitName, server: &ServerName) -> Option<LoadView> {
        self.loads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(unit.clone(), server.clone()))
            .copied()
    }

    /// Stops new operations and the monitor; running operations see their tokens cancelled.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Refuses new operations once the shutdown began, and on a manager that is not the
    /// active one (naming the active one).
    pub(crate) fn check_running(&self) -> Result<()> {
        if self.shutdown.is_cancelled() {
            Err(Error::ShuttingDown)
        } else if !self.leadership.is_active() {
            Err(Error::NotLeader {
                active: self.leadership.active_url(),
            })
        } else {
            Ok(())
        }
    }

    /// The current term: cancelled when this manager steps down or shuts down.
    pub(crate) fn term(&self) -> CancellationToken {
        self.leadership.term()
    }

    /// The purge of step journals older than `history.journal_days`, when one is due (at most
    /// one an hour; none when the setting is 0).
    pub(crate) fn journal_purge(&self, at: Timestamp) -> Option<Change> {
        let days = self.settings().history.journal_days;
        if days == 0 {
            return None;
        }
        let last = self.journals_purged_at.load(Ordering::Relaxed);
        if last != 0 && at.as_millis().saturating_sub(last) < 3_600_000 {
            return None;
        }
        self.journals_purged_at
            .compare_exchange(last, at.as_millis(), Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(Change::PurgeJournals(
            at.saturating_add_millis(-(i64::from(days) * 86_400_000)),
        ))
    }
}
