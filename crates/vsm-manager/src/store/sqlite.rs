//! The embedded SQLite store: WAL, foreign keys, `PRAGMA user_version` migrations, owner-only
//! file permissions, one connection behind a mutex (callers use `spawn_blocking`).

use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;

use camino::{Utf8Path, Utf8PathBuf};
use rusqlite::{Connection, OptionalExtension, params};
use vsm_core::model::{Template, Unit};
use vsm_core::{AccountName, OperationId, TemplateName, Timestamp, UnitName};

use super::rows::{attach_servers, from_json, to_account, to_json, unit_meta_json};
use super::{AuditEntry, Change, JournalEntry, Store, StoreError, StoredAccount, StoredSession};
use crate::operation::{OperationRecord, OperationState, OperationSummary};

/// Schema migrations, in order; `PRAGMA user_version` is the number applied (SQLite's own
/// schema-version slot in the file header, written in the migration's transaction).
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_account ON sessions(account);
CREATE TABLE templates (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE units (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL REFERENCES accounts(name),
    json TEXT NOT NULL
);
CREATE TABLE servers (
    unit TEXT NOT NULL REFERENCES units(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    grp TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (unit, name)
);
CREATE TABLE operations (
    id INTEGER PRIMARY KEY,
    unit TEXT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX operations_unit ON operations(unit, id);
CREATE INDEX operations_state ON operations(state);
CREATE TABLE journal (
    operation INTEGER NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (operation, seq)
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL
);
"#,
    // 2: the journal keyed by (operation, seq) alone (one b-tree instead of a table plus its
    // primary-key index: half the writes per journaled step).
    r#"
CREATE TABLE journal_new (
    operation INTEGER NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (operation, seq)
) WITHOUT ROWID;
INSERT INTO journal_new (operation, seq, json) SELECT operation, seq, json FROM journal;
DROP TABLE journal;
ALTER TABLE journal_new RENAME TO journal;
"#,
    // 3: the hypervisor hosts of the pool.
    r#"
CREATE TABLE hosts (
    name TEXT PRIMARY KEY,
    json TEXT NOT NULL
);
"#,
];

/// The SQLite implementation of [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: Utf8PathBuf,
}

/// Whether `e` is an insert clashing with an existing key (not another constraint, such as a
/// foreign key naming a missing row: that is no conflict).
fn is_conflict(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

fn set_owner_only(path: &Utf8Path) -> Result<(), StoreError> {
    if path.exists() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| StoreError::Io {
                path: path.to_string(),
                source,
            },
        )?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Utf8Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        set_owner_only(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // The engine rewrites the same server rows many times per operation: checkpointing
        // every 40 MB of WAL (not 4 MB) writes each page back once instead of ten times, and a
        // 32 MB page cache holds the rows of a 10,000-server unit. Durability is unchanged
        // (a commit is in the WAL either way).
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        conn.pragma_update(None, "cache_size", -32_768)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let store = SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        };
        store.migrate()?;
        for suffix in ["-wal", "-shm"] {
            set_owner_only(Utf8Path::new(&format!("{path}{suffix}")))?;
        }
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half transaction (rusqlite rolls back
        // on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        StoreError::check_version(version, MIGRATIONS.len())?;
        let applied = usize::try_from(version).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    fn load_servers(conn: &Connection, unit: &mut Unit) -> Result<(), StoreError> {
        let mut stmt = conn.prepare_cached("SELECT grp, json FROM servers WHERE unit = ?1")?;
        let rows = stmt
            .query_map(params![unit.name.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        attach_servers(unit, rows)
    }

    fn put_servers(tx: &Connection, unit: &Unit) -> Result<(), StoreError> {
        tx.execute(
            "DELETE FROM servers WHERE unit = ?1",
            params![unit.name.as_str()],
        )?;
        let mut stmt = tx.prepare_cached(
            "INSERT INTO servers (unit, name, grp, json) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for g in &unit.groups {
            for s in &g.servers {
                stmt.execute(params![
                    unit.name.as_str(),
                    s.name.as_str(),
                    g.spec.name.as_str(),
                    to_json("server", s)?
                ])?;
            }
        }
        Ok(())
    }

    fn apply(tx: &Connection, change: &Change) -> Result<(), StoreError> {
        let insert = |res: rusqlite::Result<usize>, what: String| match res {
            Err(e) if is_conflict(&e) => Err(StoreError::Conflict(what)),
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        };
        match change {
            Change::InsertAccount(a) => insert(
                tx.execute(
                    "INSERT INTO accounts (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![a.name.as_str(), a.role.as_str(), a.password_hash, a.created_at.as_millis()],
                ),
                format!("account {}", a.name),
            )?,
            Change::SetPasswordHash { account, hash } => {
                tx.execute(
                    "UPDATE accounts SET password_hash = ?2 WHERE name = ?1",
                    params![account.as_str(), hash],
                )?;
            }
            Change::DeleteAccount(name) => {
                tx.execute("DELETE FROM accounts WHERE name = ?1", params![name.as_str()])?;
            }
            Change::InsertSession(s) => {
                tx.execute(
                    "INSERT INTO sessions (token_hash, account, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                    params![s.token_hash, s.account.as_str(), s.created_at.as_millis(), s.expires_at.as_millis()],
                )?;
            }
            Change::DeleteSession(hash) => {
                tx.execute("DELETE FROM sessions WHERE token_hash = ?1", params![hash])?;
            }
            Change::DeleteSessionsOf(account) => {
                tx.execute("DELETE FROM sessions WHERE account = ?1", params![account.as_str()])?;
            }
            Change::PurgeSessions(before) => {
                tx.execute(
                    "DELETE FROM sessions WHERE expires_at < ?1",
                    params![before.as_millis()],
                )?;
            }
            Change::PurgeJournals(before) => {
                tx.prepare_cached(
                    "DELETE FROM journal WHERE operation IN \
                     (SELECT id FROM operations WHERE created_at < ?1 AND state != 'running')",
                )?
                .execute(params![before.as_millis()])?;
            }
            Change::InsertTemplate(t) => insert(
                tx.execute(
                    "INSERT INTO templates (name, owner, json) VALUES (?1, ?2, ?3)",
                    params![t.name.as_str(), t.owner.as_str(), to_json("template", t)?],
                ),
                format!("template {}", t.name),
            )?,
            Change::UpdateTemplate(t) => {
                tx.execute(
                    "UPDATE templates SET owner = ?2, json = ?3 WHERE name = ?1",
                    params![t.name.as_str(), t.owner.as_str(), to_json("template", t)?],
                )?;
            }
            Change::DeleteTemplate(name) => {
                tx.execute("DELETE FROM templates WHERE name = ?1", params![name.as_str()])?;
            }
            Change::PutHost(h) => {
                tx.execute(
                    "INSERT INTO hosts (name, json) VALUES (?1, ?2) \
                     ON CONFLICT (name) DO UPDATE SET json = excluded.json",
                    params![h.name().as_str(), to_json("host", h)?],
                )?;
            }
            Change::DeleteHost(name) => {
                tx.execute("DELETE FROM hosts WHERE name = ?1", params![name.as_str()])?;
            }
            Change::InsertUnit(u) => {
                insert(
                    tx.execute(
                        "INSERT INTO units (name, owner, json) VALUES (?1, ?2, ?3)",
                        params![u.name.as_str(), u.owner.as_str(), unit_meta_json(u)?],
                    ),
                    format!("unit {}", u.name),
                )?;
                Self::put_servers(tx, u)?;
            }
            Change::PutUnit(u) => {
                // Upserts, never `INSERT OR REPLACE`, on rows other tables point at: a replace
                // deletes first and the delete cascades (here to the servers, rewritten below).
                tx.execute(
                    "INSERT INTO units (name, owner, json) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, json = excluded.json",
                    params![u.name.as_str(), u.owner.as_str(), unit_meta_json(u)?],
                )?;
                Self::put_servers(tx, u)?;
            }
            Change::PutUnitMeta(u) => {
                tx.prepare_cached("UPDATE units SET owner = ?2, json = ?3 WHERE name = ?1")?
                    .execute(params![
                        u.name.as_str(),
                        u.owner.as_str(),
                        unit_meta_json(u)?
                    ])?;
            }
            Change::PutServer { unit, group, server } => {
                // An upsert rewrites the row in place (`INSERT OR REPLACE` deletes it and its
                // index entry and inserts both anew).
                tx.prepare_cached(
                    "INSERT INTO servers (unit, name, grp, json) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (unit, name) DO UPDATE SET grp = excluded.grp, json = excluded.json",
                )?
                .execute(params![
                    unit.as_str(),
                    server.name.as_str(),
                    group.as_str(),
                    to_json("server", server)?
                ])?;
            }
            Change::DeleteServer { unit, server } => {
                tx.execute(
                    "DELETE FROM servers WHERE unit = ?1 AND name = ?2",
                    params![unit.as_str(), server.as_str()],
                )?;
            }
            Change::DeleteUnit(name) => {
                tx.execute("DELETE FROM servers WHERE unit = ?1", params![name.as_str()])?;
                tx.execute("DELETE FROM units WHERE name = ?1", params![name.as_str()])?;
            }
            Change::PutOperation(op) => {
                // An upsert, not `INSERT OR REPLACE`: a replace deletes the row first, and the
                // delete cascades to the operation's journal.
                tx.prepare_cached(
                    "INSERT INTO operations (id, unit, kind, state, created_at, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (id) DO UPDATE SET unit = excluded.unit, kind = excluded.kind, \
                     state = excluded.state, created_at = excluded.created_at, json = excluded.json",
                )?
                .execute(params![
                    op.summary.id.0 as i64,
                    op.summary.unit.as_ref().map(|u| u.as_str()),
                    op.summary.kind.as_str(),
                    op.summary.state.as_str(),
                    op.summary.created_at.as_millis(),
                    to_json("operation", op)?
                ])?;
            }
            Change::Journal(j) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO journal (operation, seq, json) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![j.operation.0 as i64, j.seq as i64, to_json("journal", j)?])?;
            }
            Change::Audit(a) => {
                tx.prepare_cached(
                    "INSERT INTO audit (at, actor, action, target, result) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    a.at.as_millis(),
                    a.actor.as_ref().map(|x| x.as_str()),
                    super::storable_text(&a.action),
                    super::storable_text(&a.target),
                    super::storable_text(&a.result)
                ])?;
            }
        }
        Ok(())
    }
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn account_from(row: (String, String, String, i64)) -> Result<StoredAccount, StoreError> {
    let (name, role, hash, created) = row;
    to_account(name, role, hash, created)
}

impl Store for SqliteStore {
    fn account(&self, name: &AccountName) -> Result<Option<StoredAccount>, StoreError> {
        let conn = self.lock();
        let row = conn
            .query_row(
                "SELECT name, role, password_hash, created_at FROM accounts WHERE name = ?1",
                params![name.as_str()],
                account_row,
            )
            .optional()?;
        row.map(account_from).transpose()
    }

    fn accounts(&self) -> Result<Vec<StoredAccount>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT name, role, password_hash, created_at FROM accounts ORDER BY name")?;
        let rows = stmt.query_map([], account_row)?;
        rows.map(|r| account_from(r?)).collect()
    }

    fn session(&self, token_hash: &str) -> Result<Option<StoredSession>, StoreError> {
        let conn = self.lock();
        let row = conn
            .query_row(
                "SELECT account, created_at, expires_at FROM sessions WHERE token_hash = ?1",
                params![token_hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?;
        Ok(row.and_then(|(account, c, e)| {
            Some(StoredSession {
                token_hash: token_hash.to_owned(),
                account: AccountName::new(account).ok()?,
                created_at: Timestamp::from_millis(c),
                expires_at: Timestamp::from_millis(e),
            })
        }))
    }

    fn sessions(&self) -> Result<Vec<StoredSession>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT token_hash, account, created_at, expires_at FROM sessions ORDER BY token_hash",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (token_hash, account, c, e) = row?;
            if let Ok(account) = AccountName::new(account) {
                out.push(StoredSession {
                    token_hash,
                    account,
                    created_at: Timestamp::from_millis(c),
                    expires_at: Timestamp::from_millis(e),
                });
            }
        }
        Ok(out)
    }

    fn template(&self, name: &TemplateName) -> Result<Option<Template>, StoreError> {
        let conn = self.lock();
        let json: Option<String> = conn
            .query_row(
                "SELECT json FROM templates WHERE name = ?1",
                params![name.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| from_json(&format!("template {name}"), &j))
            .transpose()
    }

    fn templates(&self) -> Result<Vec<Template>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT json FROM templates ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| from_json("template", &r?)).collect()
    }

    fn hosts(&self) -> Result<Vec<crate::host::HostRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT json FROM hosts ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| from_json("host", &r?)).collect()
    }

    fn unit(&self, name: &UnitName) -> Result<Option<Unit>, StoreError> {
        let conn = self.lock();
        let json: Option<String> = conn
            .query_row(
                "SELECT json FROM units WHERE name = ?1",
                params![name.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(json) = json else { return Ok(None) };
        let mut unit: Unit = from_json(&format!("unit {name}"), &json)?;
        Self::load_servers(&conn, &mut unit)?;
        Ok(Some(unit))
    }

    fn units(&self) -> Result<Vec<Unit>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT json FROM units ORDER BY name")?;
        let jsons: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(jsons.len());
        for j in jsons {
            let mut unit: Unit = from_json("unit", &j)?;
            Self::load_servers(&conn, &mut unit)?;
            out.push(unit);
        }
        Ok(out)
    }

    fn operation(&self, id: OperationId) -> Result<Option<OperationRecord>, StoreError> {
        let conn = self.lock();
        let json: Option<String> = conn
            .query_row(
                "SELECT json FROM operations WHERE id = ?1",
                params![id.0 as i64],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| from_json(&format!("operation {id}"), &j))
            .transpose()
    }

    fn operations(
        &self,
        unit: Option<&UnitName>,
        limit: usize,
    ) -> Result<Vec<OperationSummary>, StoreError> {
        let conn = self.lock();
        let limit = limit.min(i64::MAX as usize) as i64;
        let jsons: Vec<String> = match unit {
            Some(u) => conn
                .prepare("SELECT json FROM operations WHERE unit = ?1 ORDER BY id DESC LIMIT ?2")?
                .query_map(params![u.as_str(), limit], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?,
            None => conn
                .prepare("SELECT json FROM operations ORDER BY id DESC LIMIT ?1")?
                .query_map(params![limit], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?,
        };
        jsons
            .iter()
            .map(|j| from_json::<OperationRecord>("operation", j).map(|r| r.summary))
            .collect()
    }

    fn running_operations(&self) -> Result<Vec<OperationRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT json FROM operations WHERE state = ?1 ORDER BY id")?;
        let rows = stmt.query_map(params![OperationState::Running.as_str()], |r| {
            r.get::<_, String>(0)
        })?;
        rows.map(|r| from_json("operation", &r?)).collect()
    }

    fn max_operation_id(&self) -> Result<u64, StoreError> {
        let conn = self.lock();
        let max: Option<i64> =
            conn.query_row("SELECT MAX(id) FROM operations", [], |r| r.get(0))?;
        Ok(max.unwrap_or(0).max(0) as u64)
    }

    fn journal(&self, operation: OperationId) -> Result<Vec<JournalEntry>, StoreError> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare("SELECT json FROM journal WHERE operation = ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![operation.0 as i64], |r| r.get::<_, String>(0))?;
        rows.map(|r| from_json("journal entry", &r?)).collect()
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT at, actor, action, target, result FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit.min(i64::MAX as usize) as i64], |r| {
            Ok(AuditEntry {
                at: Timestamp::from_millis(r.get(0)?),
                actor: r
                    .get::<_, Option<String>>(1)?
                    .and_then(|a| AccountName::new(a).ok()),
                action: r.get(2)?,
                target: r.get(3)?,
                result: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn write(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for c in changes {
            Self::apply(&tx, c)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn backup_to(&self, dest: &Utf8Path) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.backup(
            "main",
            dest.as_std_path(),
            None::<fn(rusqlite::backup::Progress)>,
        )?;
        set_owner_only(dest)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! What only the SQLite store has: its file's permissions and its migration history. The
    //! behaviour both stores share is the contract suite in `store/tests.rs`.

    use super::*;

    fn acct(name: &str) -> StoredAccount {
        StoredAccount {
            name: AccountName::new(name).expect("valid"),
            role: vsm_core::Role::Builder,
            password_hash: "h".into(),
            created_at: Timestamp::from_millis(5),
        }
    }

    #[test]
    fn the_database_is_owner_only_and_a_reopen_keeps_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8PathBuf::from_path_buf(dir.path().join("state.db")).expect("utf8");
        let store = SqliteStore::open(&path).expect("open");
        store
            .write(&[Change::InsertAccount(acct("alice"))])
            .expect("insert");
        for file in [
            path.to_string(),
            format!("{path}-wal"),
            format!("{path}-shm"),
        ] {
            let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let backup = Utf8PathBuf::from_path_buf(dir.path().join("copy.db")).expect("utf8");
        store.backup_to(&backup).expect("backup");
        let mode = std::fs::metadata(&backup)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(store);
        // Reopening does not re-run migrations.
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(store.accounts().expect("list"), vec![acct("alice")]);
    }

    #[test]
    fn a_version_1_store_keeps_its_journal_through_the_migrations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8PathBuf::from_path_buf(dir.path().join("state.db")).expect("utf8");
        {
            let conn = Connection::open(&path).expect("open v1");
            conn.execute_batch(MIGRATIONS[0]).expect("schema v1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO operations (id, unit, kind, state, created_at, json) \
                 VALUES (7, NULL, 'start', 'running', 0, '{}')",
                [],
            )
            .expect("operation");
            for seq in [2_i64, 1, 3] {
                let entry = JournalEntry {
                    operation: OperationId(7),
                    seq: seq as u64,
                    at: Timestamp::from_millis(seq),
                    action: "start".into(),
                    group: None,
                    server: None,
                    status: crate::operation::StepStatus::Started,
                    detail: Some(format!("step {seq}")),
                };
                conn.execute(
                    "INSERT INTO journal (operation, seq, json) VALUES (7, ?1, ?2)",
                    params![seq, to_json("journal", &entry).expect("json")],
                )
                .expect("journal row");
            }
        }
        let store = SqliteStore::open(&path).expect("migrate");
        let seqs: Vec<u64> = store
            .journal(OperationId(7))
            .expect("journal")
            .into_iter()
            .map(|j| j.seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        let conn = store.lock();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'journal'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert!(sql.contains("WITHOUT ROWID"), "{sql}");
    }
}
