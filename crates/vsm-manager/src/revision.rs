//! Revisions of what the manager shows ([`Revisions`]), for `ETag`s, `304 Not Modified` and
//! long-polls (`?index=N&wait=30s`).
//!
//! Every committed [`Store::write`] passes through [`Revised`], the store wrapper the manager
//! and the engine share, which bumps the global revision once per committed write and stamps
//! it on what the write touched: each unit a change names (and the unit collection), the
//! operations, hosts, templates or accounts collection. What a unit's view shows that is not a
//! store row of it — the lock of the operation running on it, the monitor's load figures —
//! stamps the unit through [`Revisions::touch_unit`] where it changes. Revisions live in memory
//! only: an `ETag` carries this process's random instance id, so that no `ETag` of one
//! manager process matches one of another.

use std::collections::HashMap;
use std::sync::Mutex;

use camino::Utf8Path;
use tokio::sync::watch;
use vsm_core::model::{Template, Unit};
use vsm_core::{AccountName, OperationId, TemplateName, UnitName};

use crate::host::HostRecord;
use crate::operation::{OperationRecord, OperationSummary};
use crate::store::{
    AuditEntry, Change, JournalEntry, Store, StoreError, StoredAccount, StoredSession,
};

/// What a revision belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The unit collection (any change of any unit, or of a unit's lock).
    Units,
    /// One unit (its rows, its operations' records, its lock, its load figures).
    Unit(UnitName),
    /// The operation records and journals.
    Operations,
    /// The host pool (also moved by unit changes: a host shows the servers placed on it).
    Hosts,
    /// The templates (also moved by unit changes: a template shows the units using it).
    Templates,
}

#[derive(Debug)]
struct State {
    global: u64,
    units: u64,
    operations: u64,
    hosts: u64,
    templates: u64,
    accounts: u64,
    /// Each unit's last change in this process (absent: none since the start, revision 1).
    unit: HashMap<UnitName, u64>,
    /// Every unit's revision is at least this (bumped by [`Revisions::touch_all`]).
    floor: u64,
}

/// The revision counters of one manager process; waiters wake on every bump.
#[derive(Debug)]
pub(crate) struct Revisions {
    instance: u64,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

/// The revision of everything at the start of a process.
const START: u64 = 1;

impl Revisions {
    /// Counters at [`START`] for the process `instance` (a random number).
    pub(crate) fn new(instance: u64) -> Revisions {
        Revisions {
            instance,
            state: Mutex::new(State {
                global: START,
                units: START,
                operations: START,
                hosts: START,
                templates: START,
                accounts: START,
                unit: HashMap::new(),
                floor: START,
            }),
            changed: watch::channel(START).0,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The global revision (bumped by every committed write).
    #[cfg(test)]
    pub(crate) fn global(&self) -> u64 {
        self.state().global
    }

    /// The revision of `scope`.
    pub(crate) fn of(&self, scope: &Scope) -> u64 {
        let s = self.state();
        match scope {
            Scope::Units => s.units,
            Scope::Unit(name) => s.unit.get(name).copied().unwrap_or(START).max(s.floor),
            Scope::Operations => s.operations,
            Scope::Hosts => s.hosts.max(s.units),
            Scope::Templates => s.templates.max(s.units),
        }
    }

    /// The revision of one unit.
    pub(crate) fn unit(&self, name: &UnitName) -> u64 {
        self.of(&Scope::Unit(name.clone()))
    }

    /// The revision of the accounts (and sessions).
    pub(crate) fn accounts(&self) -> u64 {
        self.state().accounts
    }

    /// Bumps the global revision once for a committed write of `changes` and stamps it on
    /// what they touched.
    pub(crate) fn record(&self, changes: &[Change]) {
        let rev = {
            let mut s = self.state();
            s.global += 1;
            let rev = s.global;
            for c in changes {
                let unit: Option<&UnitName> = match c {
                    Change::InsertAccount(_)
                    | Change::SetPasswordHash { .. }
                    | Change::DeleteAccount(_)
                    | Change::InsertSession(_)
                    | Change::DeleteSession(_)
                    | Change::DeleteSessionsOf(_)
                    | Change::PurgeSessions(_) => {
                        s.accounts = rev;
                        None
                    }
                    Change::PurgeJournals(_) | Change::Journal(_) => {
                        s.operations = rev;
                        None
                    }
                    Change::InsertTemplate(_)
                    | Change::UpdateTemplate(_)
                    | Change::DeleteTemplate(_) => {
                        s.templates = rev;
                        None
                    }
                    Change::InsertUnit(u) | Change::PutUnit(u) | Change::PutUnitMeta(u) => {
                        Some(&u.name)
                    }
                    Change::PutServer { unit, .. } | Change::DeleteServer { unit, .. } => {
                        Some(unit)
                    }
                    Change::DeleteUnit(name) => Some(name),
                    Change::PutOperation(r) => {
                        s.operations = rev;
                        // A unit shows its latest operations.
                        r.summary.unit.as_ref()
                    }
                    // The audit log has no revision of its own (it is not long-polled).
                    Change::Audit(_) => None,
                    Change::PutHost(_) | Change::DeleteHost(_) => {
                        s.hosts = rev;
                        None
                    }
                };
                if let Some(name) = unit {
                    s.units = rev;
                    s.unit.insert(name.clone(), rev);
                }
            }
            rev
        };
        self.changed.send_replace(rev);
    }

    /// Bumps the revision of `unit` for a change of its view that is not a store write (its
    /// lock was taken or released, its load figures changed).
    pub(crate) fn touch_unit(&self, unit: &UnitName) {
        let rev = {
            let mut s = self.state();
            s.global += 1;
            let rev = s.global;
            s.units = rev;
            s.unit.insert(unit.clone(), rev);
            rev
        };
        self.changed.send_replace(rev);
    }

    /// Bumps every revision: what this process shows may have changed without a write of its
    /// own (a standby, whose active manager writes the shared database; a takeover).
    pub(crate) fn touch_all(&self) {
        let rev = {
            let mut s = self.state();
            s.global += 1;
            let rev = s.global;
            s.units = rev;
            s.operations = rev;
            s.hosts = rev;
            s.templates = rev;
            s.accounts = rev;
            s.floor = rev;
            rev
        };
        self.changed.send_replace(rev);
    }

    /// Waits until the revision of `scope` is past `index`, or until `deadline`; returns the
    /// revision then.
    pub(crate) async fn wait_past(
        &self,
        scope: &Scope,
        index: u64,
        deadline: tokio::time::Instant,
    ) -> u64 {
        let mut rx = self.changed.subscribe();
        loop {
            let rev = self.of(scope);
            if rev > index {
                return rev;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return self.of(scope),
            }
        }
    }

    /// The strong `ETag` of revision `rev` of one resource: `"r<instance>-<rev>"`.
    pub(crate) fn etag(&self, rev: u64) -> String {
        format!("\"r{:016x}-{rev}\"", self.instance)
    }

    /// The strong `ETag` of a body whose revision is not tracked exactly:
    /// `"h<instance>-<digest of the body>"`.
    pub(crate) fn content_etag(&self, body: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(body);
        let mut hex = String::with_capacity(32);
        for b in &digest[..16] {
            hex.push_str(&format!("{b:02x}"));
        }
        format!("\"h{:016x}-{hex}\"", self.instance)
    }
}

/// A fresh instance id for a manager process: random, mixed with the start time.
pub(crate) fn new_instance() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    rand::random::<u64>() ^ nanos.rotate_left(32)
}

/// The store as the manager and the engine use it: every committed write bumps the
/// [`Revisions`].
pub(crate) struct Revised {
    inner: Box<dyn Store>,
    revisions: std::sync::Arc<Revisions>,
}

impl Revised {
    pub(crate) fn new(inner: Box<dyn Store>, revisions: std::sync::Arc<Revisions>) -> Revised {
        Revised { inner, revisions }
    }
}

impl Store for Revised {
    fn account(&self, name: &AccountName) -> Result<Option<StoredAccount>, StoreError> {
        self.inner.account(name)
    }
    fn accounts(&self) -> Result<Vec<StoredAccount>, StoreError> {
        self.inner.accounts()
    }
    fn session(&self, token_hash: &str) -> Result<Option<StoredSession>, StoreError> {
        self.inner.session(token_hash)
    }
    fn sessions(&self) -> Result<Vec<StoredSession>, StoreError> {
        self.inner.sessions()
    }
    fn template(&self, name: &TemplateName) -> Result<Option<Template>, StoreError> {
        self.inner.template(name)
    }
    fn templates(&self) -> Result<Vec<Template>, StoreError> {
        self.inner.templates()
    }
    fn hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        self.inner.hosts()
    }
    fn unit(&self, name: &UnitName) -> Result<Option<Unit>, StoreError> {
        self.inner.unit(name)
    }
    fn units(&self) -> Result<Vec<Unit>, StoreError> {
        self.inner.units()
    }
    fn operation(&self, id: OperationId) -> Result<Option<OperationRecord>, StoreError> {
        self.inner.operation(id)
    }
    fn operations(
        &self,
        unit: Option<&UnitName>,
        limit: usize,
    ) -> Result<Vec<OperationSummary>, StoreError> {
        self.inner.operations(unit, limit)
    }
    fn running_operations(&self) -> Result<Vec<OperationRecord>, StoreError> {
        self.inner.running_operations()
    }
    fn max_operation_id(&self) -> Result<u64, StoreError> {
        self.inner.max_operation_id()
    }
    fn journal(&self, operation: OperationId) -> Result<Vec<JournalEntry>, StoreError> {
        self.inner.journal(operation)
    }
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.inner.audit_log(limit)
    }
    fn write(&self, changes: &[Change]) -> Result<(), StoreError> {
        self.inner.write(changes)?;
        self.revisions.record(changes);
        Ok(())
    }
    fn backup_to(&self, dest: &Utf8Path) -> Result<(), StoreError> {
        self.inner.backup_to(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditEntry;
    use vsm_core::Timestamp;

    fn unit(name: &str) -> UnitName {
        UnitName::new(name).expect("unit")
    }

    #[test]
    fn a_write_bumps_only_what_it_touches() {
        let r = Revisions::new(7);
        let (shop, blog) = (unit("shop"), unit("blog"));
        assert_eq!((r.global(), r.unit(&shop), r.of(&Scope::Units)), (1, 1, 1));
        r.record(&[
            Change::DeleteServer {
                unit: shop.clone(),
                server: vsm_core::ServerName::new("web-1").expect("server"),
            },
            Change::Audit(AuditEntry {
                at: Timestamp::EPOCH,
                actor: None,
                action: "x".into(),
                target: "y".into(),
                result: "ok".into(),
            }),
        ]);
        assert_eq!(r.global(), 2);
        assert_eq!(r.unit(&shop), 2);
        assert_eq!(r.unit(&blog), 1, "another unit keeps its revision");
        assert_eq!(r.of(&Scope::Units), 2);
        assert_eq!(r.of(&Scope::Hosts), 2, "hosts show the units' servers");
        assert_eq!(r.of(&Scope::Operations), 1);
        assert_eq!(r.accounts(), 1);
        r.record(&[Change::PurgeSessions(Timestamp::EPOCH)]);
        assert_eq!((r.global(), r.accounts(), r.unit(&shop)), (3, 3, 2));
        r.touch_unit(&blog);
        assert_eq!((r.global(), r.unit(&blog), r.unit(&shop)), (4, 4, 2));
        assert_ne!(Revisions::new(8).etag(2), r.etag(2));
    }

    #[tokio::test]
    async fn a_waiter_wakes_on_its_scope_only() {
        let r = std::sync::Arc::new(Revisions::new(1));
        let (shop, blog) = (unit("shop"), unit("blog"));
        let r2 = r.clone();
        let s2 = shop.clone();
        let waiter = tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            r2.wait_past(&Scope::Unit(s2), 1, deadline).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        r.touch_unit(&blog);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "another unit's change wakes no one for good"
        );
        r.touch_unit(&shop);
        let rev = tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("woken")
            .expect("task");
        assert_eq!(rev, 3);
    }
}
