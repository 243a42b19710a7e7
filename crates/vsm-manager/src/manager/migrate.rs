//! Moving a state between stores, on a stopped manager: `vsm manager migrate-store` (a SQLite
//! manager's state into an empty PostgreSQL database) and `vsm manager restore` (an archive —
//! always in the SQLite format — into the store the restored configuration names). Both copy
//! through [`crate::store::copy`]: one transaction, read back and compared.
//!
//! Must not: delete `state.db` (a migration keeps it as `state.db.migrated-<date>`), change
//! anything in the state directory before the copy is checked, or copy into a database that
//! holds a vsm state.

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use super::{Manager, lock_state_dir, write_private};
use crate::api::{ArchiveInfo, Password};
use crate::backup;
use crate::clock::now;
use crate::config::{CONFIG_FILE, ManagerConfig, STORE_SQLITE, Settings};
use crate::error::{Error, OpenError};
use crate::paths::{DB_FILE, DEFINITIONS_DIR};
use crate::store::copy::{self, CopyError, Counts};
use crate::store::{AuditEntry, Change, PgStore, PgTarget, SqliteStore, Store, StoreTarget};

/// What [`Manager::migrate_store`] needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MigrateOptions {
    /// The stopped manager's state directory (on SQLite).
    pub state_dir: Utf8PathBuf,
    /// The PostgreSQL URL (no password in it).
    pub to: String,
    /// The owner-only password file, written to the configuration as `store_password_file`.
    pub store_password_file: Option<Utf8PathBuf>,
    /// The password when there is no file (the `vsm` binary reads `VSM_STORE_PASSWORD`).
    pub store_password: Option<Password>,
    /// A shared definitions directory to copy the snapshots into and configure.
    pub definitions_dir: Option<Utf8PathBuf>,
}

impl MigrateOptions {
    /// Options for moving `state_dir`'s state to the database at `to`.
    pub fn new(state_dir: impl Into<Utf8PathBuf>, to: impl Into<String>) -> Self {
        MigrateOptions {
            state_dir: state_dir.into(),
            to: to.into(),
            store_password_file: None,
            store_password: None,
            definitions_dir: None,
        }
    }
}

/// What a migration did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// The state directory.
    pub state_dir: Utf8PathBuf,
    /// The database, described (never its password).
    pub store: String,
    /// Its URL (no password).
    pub url: String,
    /// Rows copied and checked, per table.
    pub rows: Counts,
    /// Where the SQLite database was kept (`state.db.migrated-<date>`).
    pub kept: Utf8PathBuf,
    /// The definition snapshot store the configuration names now.
    pub definitions_dir: Utf8PathBuf,
    /// Snapshot files copied into a new definitions directory.
    pub definition_files_copied: usize,
    /// What the operator should know (e.g. definitions a standby cannot see).
    pub warnings: Vec<String>,
}

/// What [`Manager::restore_with`] needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// The state directory to create (absent or empty).
    pub state_dir: Utf8PathBuf,
    /// The backup archive.
    pub archive: Utf8PathBuf,
    /// The store to restore into instead of the one the archive's configuration names:
    /// `sqlite` or a PostgreSQL URL (which must hold no vsm state).
    pub store: Option<String>,
    /// With `store`: the owner-only password file written to the configuration.
    pub store_password_file: Option<Utf8PathBuf>,
    /// The password when the configuration names no file.
    pub store_password: Option<Password>,
}

impl RestoreOptions {
    /// Restores `archive` into `state_dir`, into the store its configuration names.
    pub fn new(state_dir: Utf8PathBuf, archive: Utf8PathBuf) -> Self {
        RestoreOptions {
            state_dir,
            archive,
            store: None,
            store_password_file: None,
            store_password: None,
        }
    }
}

fn invalid(message: impl Into<String>, hint: impl Into<String>) -> OpenError {
    OpenError::Invalid(Box::new(Error::invalid_with_hint(message, hint)))
}

/// The `store` value `to`, checked (the error is a usage error naming what to do).
fn parse_url(to: &str) -> Result<PgTarget, OpenError> {
    PgTarget::parse(to).map_err(|m| {
        invalid(
            m,
            "give postgres://USER@HOST:PORT/DATABASE with --to, and the password with \
             --store-password-file FILE or VSM_STORE_PASSWORD",
        )
    })
}

/// `YYYY-MM-DD` (UTC) of a time in milliseconds since the epoch.
fn date_of(millis: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = millis.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `state.db.migrated-<date>` in `dir`, with `.2`, `.3`, … when taken.
fn kept_name(dir: &Utf8Path) -> Utf8PathBuf {
    let base = format!("{DB_FILE}.migrated-{}", date_of(now().as_millis()));
    let mut path = dir.join(&base);
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{base}.{n}"));
        n += 1;
    }
    path
}

/// Renames `from` (and its `-wal`/`-shm` files, if any) to `to`.
fn rename_db(from: &Utf8Path, to: &Utf8Path) -> std::io::Result<()> {
    for suffix in ["-wal", "-shm"] {
        let side = Utf8PathBuf::from(format!("{from}{suffix}"));
        if side.exists() {
            std::fs::rename(&side, format!("{to}{suffix}"))?;
        }
    }
    std::fs::rename(from, to)
}

/// A path as a setting (relative ones are read against the state directory, as everywhere
/// in `config.yaml`; the `vsm` binary passes absolute ones).
fn setting_path(p: &Utf8Path) -> String {
    p.to_string()
}

/// Copies `src` into the database of `target` and checks it; `NotEmpty` becomes
/// [`OpenError::StoreInUse`], other failures [`OpenError::Copy`] with `what`.
fn copy_checked(
    src: &dyn Store,
    target: &StoreTarget,
    what: &str,
    progress: &mut dyn FnMut(&'static str, usize),
) -> Result<(PgStore, Counts), OpenError> {
    let StoreTarget::Postgres(pg_target) = target else {
        return Err(OpenError::Invalid(Box::new(Error::failed_msg(
            "a copy goes into PostgreSQL only",
        ))));
    };
    let dest = PgStore::open_target(pg_target)?;
    if copy::holds_state(&dest)? {
        return Err(OpenError::StoreInUse {
            store: target.describe(),
        });
    }
    match copy::copy_into(src, &dest, progress) {
        Ok(counts) => Ok((dest, counts)),
        Err(CopyError::NotEmpty) => Err(OpenError::StoreInUse {
            store: target.describe(),
        }),
        Err(source) => Err(OpenError::Copy {
            store: target.describe(),
            what: what.to_owned(),
            source,
        }),
    }
}

impl Manager {
    /// `vsm manager migrate-store`: moves a stopped SQLite manager's state into an empty
    /// PostgreSQL database. Takes the state directory's lock ([`OpenError::Locked`] while a
    /// manager runs), copies every row in one transaction, reads it back and compares, then
    /// (only then) keeps `state.db` as `state.db.migrated-<date>` and rewrites `config.yaml`
    /// to name the database. With `definitions_dir`, the snapshots are copied there first and
    /// the configuration names it. `progress` hears each table as it is copied. Blocks.
    ///
    /// # Errors
    /// Bad options, a manager already on PostgreSQL, a running manager, a password file that
    /// is not owner-only, a database that holds a vsm state, or a failed copy: in every case
    /// the state directory is as it was.
    pub fn migrate_store(
        options: MigrateOptions,
        progress: &mut dyn FnMut(&'static str, usize),
    ) -> Result<MigrateReport, OpenError> {
        let dir = &options.state_dir;
        let config = ManagerConfig::load(dir.clone())?;
        if let Ok(Some(current)) = config.settings.pg_target() {
            return Err(invalid(
                format!(
                    "the manager of {dir} already keeps its state in the {}",
                    current.describe()
                ),
                "migrate-store moves a SQLite state; to move between databases, back up and \
                 restore (`vsm manager restore --store URL`)",
            ));
        }
        let url = parse_url(&options.to)?;
        let _lock = lock_state_dir(dir)?;
        let db = dir.join(DB_FILE);
        if !db.exists() {
            return Err(OpenError::NotInitialized {
                dir: dir.to_string(),
            });
        }
        let mut settings = config.settings.clone();
        settings.store = url.url().to_owned();
        settings.store_password_file = options.store_password_file.as_deref().map(setting_path);
        if let Some(d) = &options.definitions_dir {
            settings.definitions_dir = Some(setting_path(d));
        }
        let mut new_config = config.clone();
        new_config.settings = settings;
        new_config.store_password = options.store_password.clone();
        let target = new_config.store_target()?;

        // The snapshots first: extra immutable files in a new directory harm nothing.
        let (old_defs, new_defs) = (config.definitions_dir(), new_config.definitions_dir());
        let copied = if old_defs == new_defs {
            0
        } else {
            backup::merge_tree(&old_defs, &new_defs)?
        };

        let src = SqliteStore::open(&db)?;
        let what = format!(
            "nothing changed in {dir}: the manager still runs on {DB_FILE}; fix the cause and run \
             the command again"
        );
        let (dest, rows) = copy_checked(&src, &target, &what, progress)?;
        drop(src);

        let undo = |e: OpenError| -> OpenError {
            if let Err(e2) = dest.remove_all_rows() {
                tracing::error!(error = %e2, "cannot empty the database after a failed migration");
            }
            e
        };
        let kept = kept_name(dir);
        rename_db(&db, &kept).map_err(|e| undo(OpenError::io(&db, e)))?;
        let config_file = dir.join(CONFIG_FILE);
        if let Err(e) = write_private(&config_file, new_config.settings.render().as_bytes()) {
            let _ = rename_db(&kept, &db);
            return Err(undo(OpenError::io(&config_file, e)));
        }
        let at = now();
        if let Err(e) = dest.write(&[Change::Audit(AuditEntry {
            at,
            actor: None,
            action: "manager migrate-store".into(),
            target: url.url().to_owned(),
            result: "ok".into(),
        })]) {
            tracing::warn!(error = %e, "cannot audit the migration");
        }
        Ok(MigrateReport {
            state_dir: dir.clone(),
            store: target.describe(),
            url: url.url().to_owned(),
            rows,
            kept,
            definitions_dir: new_defs,
            definition_files_copied: copied,
            warnings: new_config.warnings(),
        })
    }

    /// `vsm manager restore`: unpacks a backup archive into an empty (or new) state directory
    /// and checks every member; then, when the restored configuration (or `options.store`)
    /// names PostgreSQL, writes the archive's rows into that database — which must hold no
    /// vsm state — in one checked transaction, and puts the definition snapshots where
    /// `definitions_dir` says. Nothing appears under the directory unless all of it worked.
    /// Blocks.
    pub fn restore_with(
        options: RestoreOptions,
        progress: &mut dyn FnMut(&'static str, usize),
    ) -> Result<ArchiveInfo, OpenError> {
        let dir = &options.state_dir;
        let staged = backup::unpack(dir, &options.archive)?;
        let config_file = staged.path.join(CONFIG_FILE);
        let mut settings = if config_file.exists() {
            let text = std::fs::read_to_string(&config_file)
                .map_err(|e| OpenError::io(&config_file, e))?;
            Settings::parse(config_file.as_str(), &text)?
        } else {
            Settings::default()
        };
        if let Some(store) = &options.store {
            if store == STORE_SQLITE {
                settings.store = STORE_SQLITE.to_owned();
                settings.store_password_file = None;
            } else {
                settings.store = parse_url(store)?.url().to_owned();
                settings.store_password_file =
                    options.store_password_file.as_deref().map(setting_path);
            }
            write_private(&config_file, settings.render().as_bytes())
                .map_err(|e| OpenError::io(&config_file, e))?;
        }
        let mut config = ManagerConfig::new(dir.clone());
        config.settings = settings;
        config.store_password = options.store_password.clone();
        let target = config.store_target()?;
        if target.is_postgres() {
            let db = staged.path.join(DB_FILE);
            let src = SqliteStore::open(&db)?;
            let what = format!("nothing was restored: {dir} was not created");
            let (dest, _rows) = copy_checked(&src, &target, &what, progress)?;
            drop(src);
            let undo = |e: OpenError| -> OpenError {
                let _ = dest.remove_all_rows();
                e
            };
            for name in [DB_FILE, "state.db-wal", "state.db-shm"] {
                let p = staged.path.join(name);
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| undo(OpenError::io(&p, e)))?;
                }
            }
            let defs = config.definitions_dir();
            if !defs.starts_with(dir) {
                let staged_defs = staged.path.join(DEFINITIONS_DIR);
                backup::merge_tree(&staged_defs, &defs).map_err(undo)?;
                std::fs::remove_dir_all(&staged_defs)
                    .map_err(|e| undo(OpenError::io(&staged_defs, e)))?;
            }
            return staged.finish(dir).map_err(undo);
        }
        let defs = config.definitions_dir();
        if !defs.starts_with(dir) {
            backup::merge_tree(&staged.path.join(DEFINITIONS_DIR), &defs)?;
        }
        staged.finish(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(951_782_400_000), "2000-02-29");
        assert_eq!(date_of(1_767_225_599_000), "2025-12-31");
        assert_eq!(date_of(1_767_225_600_000), "2026-01-01");
    }
}
