//! The state store: the [`Store`] trait, its records, and its two implementations —
//! [`SqliteStore`] (a file in the state directory) and [`PgStore`] (a PostgreSQL database).
//!
//! Reads are specific methods; every write goes through [`Store::write`], which applies a list
//! of [`Change`]s in one transaction, so a multi-row change is all-or-nothing. The store holds
//! the core's model (`vsm_core::model::Unit`, `Template`) as JSON columns with indexed key
//! columns; servers are rows of their own so a step's result writes one small row. The store
//! does not decide anything: authorization and rules live in the manager and the core.
//!
//! Each backend keeps its SQL in its own module, with a numbered list of migrations applied
//! one transaction each; both refuse a schema newer than they know ([`StoreError::TooNew`]).
//! One contract suite (`tests.rs`) runs every behaviour test against both.
//!
//! [`StoreTarget`] is the one place that turns a configured store into an open [`Store`];
//! [`copy`] copies one store whole into another (migration, restore) and checks the copy.

pub mod copy;
pub mod election;
mod pg;
mod rows;
mod sqlite;
#[cfg(test)]
mod tests;

pub use pg::{Fence, PgStore, PgTarget, PgTls};
pub use sqlite::SqliteStore;

use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use vsm_core::model::{Server, Template, Unit};
use vsm_core::{
    AccountName, GroupName, OperationId, Role, ServerName, TemplateName, Timestamp, UnitName,
};

use crate::operation::{OperationRecord, OperationSummary, StepStatus};

/// A failure of the state store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database error")]
    Database(#[from] rusqlite::Error),
    /// A stored JSON column could not be read or written.
    #[error("stored record {what} is not valid")]
    Corrupt {
        /// Which record.
        what: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An insert clashed with an existing row.
    #[error("{0} already exists")]
    Conflict(String),
    /// A file next to the database failed.
    #[error("cannot access {path}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// PostgreSQL failed: the connection could not be made or was lost, or the server refused
    /// a statement.
    #[error("the PostgreSQL state store failed")]
    Postgres(#[from] tokio_postgres::Error),
    /// PostgreSQL did not answer in time; the connection is dropped (a transaction in flight
    /// is rolled back by the server) and made anew by the next call.
    #[error("the PostgreSQL state store did not answer within {after:?} ({what})")]
    PostgresTimeout {
        /// What was waited for (`connecting`, `a query`, `a write`, …).
        what: &'static str,
        /// How long it waited.
        after: std::time::Duration,
    },
    /// TLS to PostgreSQL cannot be set up as the URL asks (a root certificate file that
    /// cannot be read or holds none, no system roots).
    #[error("TLS to PostgreSQL: {0}")]
    PostgresTls(String),
    /// The PostgreSQL store's own client runtime could not be started.
    #[error("cannot start the PostgreSQL store's client runtime")]
    PostgresRuntime(#[source] std::io::Error),
    /// The write was refused because this manager does not hold the current leadership
    /// epoch: it is a standby, or another manager took over (several managers on one
    /// PostgreSQL database). Nothing of the write was applied.
    #[error("{}", match held {
        Some(epoch) => format!("the write was refused: this manager held epoch {epoch}, but another manager took over since (it is no longer the active one)"),
        None => "the write was refused: this manager is a standby, not the active one".to_owned(),
    })]
    Fenced {
        /// The epoch this manager held, if any.
        held: Option<i64>,
    },
    /// The database was written by a newer vsm.
    #[error(
        "the state store has schema version {found}, newer than this vsm understands ({supported}); use a newer vsm"
    )]
    TooNew {
        /// The version found.
        found: i64,
        /// The newest version this build understands.
        supported: i64,
    },
}

impl StoreError {
    /// [`StoreError::TooNew`] when `found` (the schema version in the database) is newer than
    /// `supported` (the number of migrations this build knows).
    fn check_version(found: i64, supported: usize) -> Result<(), StoreError> {
        let supported = i64::try_from(supported).unwrap_or(i64::MAX);
        if found > supported {
            return Err(StoreError::TooNew { found, supported });
        }
        Ok(())
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    /// The name.
    pub name: AccountName,
    /// The role.
    pub role: Role,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// When it was added.
    pub created_at: Timestamp,
}

/// A session as stored: the token only as its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The account.
    pub account: AccountName,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it expires.
    pub expires_at: Timestamp,
}

/// One journal entry of an operation: a step started or ended, or a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The operation.
    pub operation: OperationId,
    /// Sequence number within the operation.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// The step's action word (`start`, `apply`, `health-check`, …) or `note`.
    pub action: String,
    /// The group.
    pub group: Option<GroupName>,
    /// The server.
    pub server: Option<ServerName>,
    /// The step's status.
    pub status: StepStatus,
    /// The error or note text.
    pub detail: Option<String>,
}

/// One audit record: who did what, when, with which result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: Timestamp,
    /// Who (`None`: the manager itself).
    pub actor: Option<AccountName>,
    /// The action's command words.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// `ok`, `denied`, `failed: …`, or an operation id.
    pub result: String,
}

/// Free text as every store keeps it: NUL, which PostgreSQL's `text` cannot hold, becomes
/// U+FFFD — in both stores, so that a state copied from one to the other compares equal.
pub(crate) fn storable_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}").into()
    } else {
        text.into()
    }
}

/// One write in a [`Store::write`] transaction.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Change {
    /// Adds an account (conflict if it exists).
    InsertAccount(StoredAccount),
    /// Replaces an account's password hash.
    SetPasswordHash {
        /// The account.
        account: AccountName,
        /// The new hash.
        hash: String,
    },
    /// Removes an account (and its sessions).
    DeleteAccount(AccountName),
    /// Adds a session.
    InsertSession(StoredSession),
    /// Removes a session.
    DeleteSession(String),
    /// Removes every session of an account.
    DeleteSessionsOf(AccountName),
    /// Removes sessions that expired before the given time.
    PurgeSessions(Timestamp),
    /// Removes the step journals of ended operations created before the given time (their
    /// records stay).
    PurgeJournals(Timestamp),
    /// Adds a template (conflict if it exists).
    InsertTemplate(Template),
    /// Replaces a template.
    UpdateTemplate(Template),
    /// Removes a template.
    DeleteTemplate(TemplateName),
    /// Adds a unit with its servers (conflict if it exists).
    InsertUnit(Unit),
    /// Replaces a unit and all its server rows.
    PutUnit(Unit),
    /// Replaces a unit's own row (owner, groups' specs, definitions, busy) but not its servers.
    PutUnitMeta(Unit),
    /// Inserts or replaces one server row.
    PutServer {
        /// The unit.
        unit: UnitName,
        /// The group.
        group: GroupName,
        /// The server.
        server: Server,
    },
    /// Removes one server row.
    DeleteServer {
        /// The unit.
        unit: UnitName,
        /// The server.
        server: ServerName,
    },
    /// Removes a unit and its servers (its operations stay, for the audit trail).
    DeleteUnit(UnitName),
    /// Inserts or replaces an operation record.
    PutOperation(OperationRecord),
    /// Appends a journal entry.
    Journal(JournalEntry),
    /// Appends an audit record.
    Audit(AuditEntry),
    /// Inserts or replaces a host of the pool.
    PutHost(crate::host::HostRecord),
    /// Removes a host of the pool.
    DeleteHost(vsm_core::HostName),
}

/// The manager's persistent state. Implementations must make [`Store::write`] atomic and
/// durable (a committed write survives a crash of the process).
pub trait Store: Send + Sync + 'static {
    /// One account.
    fn account(&self, name: &AccountName) -> Result<Option<StoredAccount>, StoreError>;
    /// Every account, by name.
    fn accounts(&self) -> Result<Vec<StoredAccount>, StoreError>;
    /// One session by token digest.
    fn session(&self, token_hash: &str) -> Result<Option<StoredSession>, StoreError>;
    /// Every session, by token digest (for copying a store whole).
    fn sessions(&self) -> Result<Vec<StoredSession>, StoreError>;
    /// One template.
    fn template(&self, name: &TemplateName) -> Result<Option<Template>, StoreError>;
    /// Every template, by name.
    fn templates(&self) -> Result<Vec<Template>, StoreError>;
    /// Every host of the pool, by name.
    fn hosts(&self) -> Result<Vec<crate::host::HostRecord>, StoreError>;
    /// One unit with its servers.
    fn unit(&self, name: &UnitName) -> Result<Option<Unit>, StoreError>;
    /// Every unit with its servers, by name.
    fn units(&self) -> Result<Vec<Unit>, StoreError>;
    /// One operation.
    fn operation(&self, id: OperationId) -> Result<Option<OperationRecord>, StoreError>;
    /// Operations, newest first, optionally of one unit, at most `limit`.
    fn operations(
        &self,
        unit: Option<&UnitName>,
        limit: usize,
    ) -> Result<Vec<OperationSummary>, StoreError>;
    /// Operations still marked running (after a crash: the interrupted ones).
    fn running_operations(&self) -> Result<Vec<OperationRecord>, StoreError>;
    /// The highest operation id used so far (0 when none).
    fn max_operation_id(&self) -> Result<u64, StoreError>;
    /// An operation's journal, in order.
    fn journal(&self, operation: OperationId) -> Result<Vec<JournalEntry>, StoreError>;
    /// The newest audit records, newest first.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Applies `changes` in one transaction.
    fn write(&self, changes: &[Change]) -> Result<(), StoreError>;
    /// Writes a consistent copy of the database to `dest` while the store stays in use.
    fn backup_to(&self, dest: &Utf8Path) -> Result<(), StoreError>;
}

/// Where the state lives — the one place that turns a configured store into an open
/// [`Store`]. The manager's configuration makes it ([`crate::ManagerConfig::store_target`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreTarget {
    /// A SQLite file (`state.db` in the state directory).
    Sqlite(Utf8PathBuf),
    /// A PostgreSQL database.
    Postgres(PgTarget),
}

impl StoreTarget {
    /// Opens (creating or migrating) the store. Blocks: call it from a blocking thread.
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        self.open_fenced(None)
    }

    /// [`StoreTarget::open`], a PostgreSQL store's writes conditional on `fence` (a SQLite
    /// store has no fencing: it has one manager).
    pub fn open_fenced(&self, fence: Option<Arc<Fence>>) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            StoreTarget::Sqlite(path) => Box::new(SqliteStore::open(path)?),
            StoreTarget::Postgres(pg) => Box::new(PgStore::open_target(pg)?.with_fence(fence)),
        })
    }

    /// Whether it is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self, StoreTarget::Postgres(_))
    }

    /// What it is, for messages (never a password).
    pub fn describe(&self) -> String {
        match self {
            StoreTarget::Sqlite(path) => format!("SQLite database {path}"),
            StoreTarget::Postgres(pg) => pg.describe(),
        }
    }
}
