//! Copying a whole store into an empty PostgreSQL store, and checking the copy: the one path
//! that `vsm manager migrate-store` and a restore into a PostgreSQL-configured manager share.
//!
//! The source is read only through the [`Store`] trait, table by table in an order whose
//! foreign keys hold (accounts, sessions, templates, hosts, units with their servers,
//! operations, their journals, the audit log); the destination is written in one transaction
//! (`PgStore::write_batches`). Then both are read back through the trait and every table's
//! rows compared; a copy that lost or changed anything is an error, and the destination is
//! emptied again. The source is never written.
//!
//! Must not: run while anything writes the source (the callers hold the state directory's
//! lock, or read an archive's copy), or copy into a database that holds a vsm state.

use std::collections::VecDeque;

use serde::Serialize;
use vsm_core::OperationId;

use super::{AuditEntry, Change, PgStore, Store, StoreError};

/// Rows written per round of the copy's transaction.
const BATCH: usize = 1_000;

/// The tables, in the order they are copied.
pub const TABLES: [&str; 8] = [
    "accounts",
    "sessions",
    "templates",
    "hosts",
    "units",
    "operations",
    "journal",
    "audit",
];

/// How many rows each table of a store holds (servers are the units' rows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Accounts.
    pub accounts: usize,
    /// Sessions.
    pub sessions: usize,
    /// Templates.
    pub templates: usize,
    /// Hosts of the pool.
    pub hosts: usize,
    /// Units.
    pub units: usize,
    /// Servers of all units.
    pub servers: usize,
    /// Operation records.
    pub operations: usize,
    /// Journal entries of all operations.
    pub journal: usize,
    /// Audit records.
    pub audit: usize,
}

impl Counts {
    /// The count of one of [`TABLES`] (0 for another name).
    pub fn of(&self, table: &str) -> usize {
        match table {
            "accounts" => self.accounts,
            "sessions" => self.sessions,
            "templates" => self.templates,
            "hosts" => self.hosts,
            "units" => self.units,
            "servers" => self.servers,
            "operations" => self.operations,
            "journal" => self.journal,
            "audit" => self.audit,
            _ => 0,
        }
    }

    fn add(&mut self, table: &str, n: usize) {
        let slot = match table {
            "accounts" => &mut self.accounts,
            "sessions" => &mut self.sessions,
            "templates" => &mut self.templates,
            "hosts" => &mut self.hosts,
            "units" => &mut self.units,
            "servers" => &mut self.servers,
            "operations" => &mut self.operations,
            "journal" => &mut self.journal,
            _ => &mut self.audit,
        };
        *slot += n;
    }
}

/// Why a copy failed. Nothing of it stays in the destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// Reading the source or writing the destination failed.
    #[error("the copy failed")]
    Store(#[from] StoreError),
    /// The destination already holds a vsm state.
    #[error("the destination already holds a vsm state")]
    NotEmpty,
    /// Reading the copy back did not give the source's rows.
    #[error("the copy does not match the source in table {table}: {message}")]
    Mismatch {
        /// The table.
        table: &'static str,
        /// What differs.
        message: String,
    },
}

/// Whether `store` holds any vsm state: an account, template, host, unit, operation or audit
/// record (a database that was only migrated holds none).
pub fn holds_state(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(!store.accounts()?.is_empty()
        || !store.templates()?.is_empty()
        || !store.hosts()?.is_empty()
        || !store.units()?.is_empty()
        || store.max_operation_id()? > 0
        || !store.audit_log(1)?.is_empty())
}

/// One step of reading the source.
enum Job {
    Table(&'static str),
    Operations(Vec<OperationId>),
    Journal(OperationId),
    Done(&'static str),
}

/// Copies every row of `src` into the empty `dest` in one transaction and checks the copy
/// (see the module's documentation). `progress` hears each table's name and row count as
/// it is copied. Answers the counts of the checked copy.
///
/// # Errors
/// [`CopyError::NotEmpty`] when `dest` holds a vsm state; [`CopyError::Store`] when a read or
/// the write fails (nothing was committed); [`CopyError::Mismatch`] when the copy read back
/// differs (the destination is emptied again; if even that fails, the error says so through
/// its message).
pub fn copy_into(
    src: &dyn Store,
    dest: &PgStore,
    progress: &mut dyn FnMut(&'static str, usize),
) -> Result<Counts, CopyError> {
    if holds_state(dest)? {
        return Err(CopyError::NotEmpty);
    }
    let mut ids: Vec<OperationId> = src
        .operations(None, usize::MAX)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort_unstable();
    let mut jobs: VecDeque<Job> = VecDeque::new();
    for table in ["accounts", "sessions", "templates", "hosts", "units"] {
        jobs.push_back(Job::Table(table));
        jobs.push_back(Job::Done(table));
    }
    for chunk in ids.chunks(200) {
        jobs.push_back(Job::Operations(chunk.to_vec()));
    }
    jobs.push_back(Job::Done("operations"));
    jobs.extend(ids.iter().map(|id| Job::Journal(*id)));
    jobs.push_back(Job::Done("journal"));
    jobs.push_back(Job::Table("audit"));
    jobs.push_back(Job::Done("audit"));

    let mut pending: VecDeque<Change> = VecDeque::new();
    let mut counts = Counts::default();
    let mut next = || -> Result<Option<Vec<Change>>, StoreError> {
        while pending.is_empty() {
            let Some(job) = jobs.pop_front() else {
                return Ok(None);
            };
            let (table, changes): (&str, Vec<Change>) = match job {
                Job::Done(table) => {
                    progress(table, counts.of(table));
                    continue;
                }
                Job::Table("accounts") => (
                    "accounts",
                    src.accounts()?
                        .into_iter()
                        .map(Change::InsertAccount)
                        .collect(),
                ),
                Job::Table("sessions") => (
                    "sessions",
                    src.sessions()?
                        .into_iter()
                        .map(Change::InsertSession)
                        .collect(),
                ),
                Job::Table("templates") => (
                    "templates",
                    src.templates()?
                        .into_iter()
                        .map(Change::InsertTemplate)
                        .collect(),
                ),
                Job::Table("hosts") => (
                    "hosts",
                    src.hosts()?.into_iter().map(Change::PutHost).collect(),
                ),
                Job::Table("units") => {
                    let units = src.units()?;
                    counts.add("servers", units.iter().map(|u| u.servers().count()).sum());
                    ("units", units.into_iter().map(Change::InsertUnit).collect())
                }
                Job::Table(_) => {
                    let mut audit = src.audit_log(usize::MAX)?;
                    audit.reverse();
                    ("audit", audit.into_iter().map(Change::Audit).collect())
                }
                Job::Operations(chunk) => {
                    let mut out = Vec::with_capacity(chunk.len());
                    for id in chunk {
                        if let Some(op) = src.operation(id)? {
                            out.push(Change::PutOperation(op));
                        }
                    }
                    ("operations", out)
                }
                Job::Journal(id) => (
                    "journal",
                    src.journal(id)?.into_iter().map(Change::Journal).collect(),
                ),
            };
            counts.add(table, changes.len());
            pending.extend(changes);
        }
        let n = pending.len().min(BATCH);
        Ok(Some(pending.drain(..n).collect()))
    };
    dest.write_batches(&mut next)?;
    match verify(src, dest) {
        Ok(checked) => Ok(checked),
        Err(e) => {
            if let Err(undo) = dest.remove_all_rows() {
                return Err(CopyError::Mismatch {
                    table: match &e {
                        CopyError::Mismatch { table, .. } => table,
                        _ => "?",
                    },
                    message: format!(
                        "{e}; emptying the destination again failed too ({undo}): drop and \
                         create the database before trying again"
                    ),
                });
            }
            Err(e)
        }
    }
}

/// Reads every table of both stores through the trait and compares them row by row.
/// Answers the counts.
pub fn verify(src: &dyn Store, dest: &dyn Store) -> Result<Counts, CopyError> {
    let units = src.units()?;
    let mut counts = Counts {
        accounts: same("accounts", &src.accounts()?, &dest.accounts()?, |a| {
            a.name.to_string()
        })?,
        sessions: same("sessions", &src.sessions()?, &dest.sessions()?, |s| {
            format!("of account {}", s.account)
        })?,
        templates: same("templates", &src.templates()?, &dest.templates()?, |t| {
            t.name.to_string()
        })?,
        hosts: same("hosts", &src.hosts()?, &dest.hosts()?, |h| {
            h.name().to_string()
        })?,
        units: same("units", &units, &dest.units()?, |u| u.name.to_string())?,
        servers: units.iter().map(|u| u.servers().count()).sum(),
        ..Counts::default()
    };
    let ops = src.operations(None, usize::MAX)?;
    same(
        "operations",
        &ops,
        &dest.operations(None, usize::MAX)?,
        |o| o.id.to_string(),
    )?;
    counts.operations = ops.len();
    for summary in &ops {
        let id = summary.id;
        let (a, b) = (src.operation(id)?, dest.operation(id)?);
        if a != b {
            return Err(CopyError::Mismatch {
                table: "operations",
                message: format!("operation {id} differs"),
            });
        }
        counts.journal += same("journal", &src.journal(id)?, &dest.journal(id)?, |j| {
            format!("entry {} of operation {id}", j.seq)
        })?;
    }
    // A store written before NUL became U+FFFD in both stores may still hold NUL in its
    // audit text, which the copy holds as U+FFFD.
    let src_audit: Vec<AuditEntry> = src
        .audit_log(usize::MAX)?
        .into_iter()
        .map(|a| AuditEntry {
            action: super::storable_text(&a.action).into_owned(),
            target: super::storable_text(&a.target).into_owned(),
            result: super::storable_text(&a.result).into_owned(),
            ..a
        })
        .collect();
    counts.audit = same("audit", &src_audit, &dest.audit_log(usize::MAX)?, |a| {
        format!("{} {} at {}", a.action, a.target, a.at.as_millis())
    })?;
    Ok(counts)
}

/// The number of rows when `a` and `b` are equal, else a mismatch naming the first
/// difference.
fn same<T: PartialEq>(
    table: &'static str,
    a: &[T],
    b: &[T],
    key: impl Fn(&T) -> String,
) -> Result<usize, CopyError> {
    if a.len() != b.len() {
        return Err(CopyError::Mismatch {
            table,
            message: format!("{} row(s) in the source, {} in the copy", a.len(), b.len()),
        });
    }
    if let Some((x, _)) = a.iter().zip(b).find(|(x, y)| x != y) {
        return Err(CopyError::Mismatch {
            table,
            message: format!("row {} differs", key(x)),
        });
    }
    Ok(a.len())
}
