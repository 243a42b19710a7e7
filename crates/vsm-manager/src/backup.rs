//! Backup and restore archives of a state directory, and the diagnostics bundle.
//!
//! It works on the state directory's files (a SQLite store through its own connection; a
//! PostgreSQL store through [`Store::backup_to`], which writes the same SQLite format); it
//! never changes units or servers, and knows nothing of the running manager.
//!
//! A backup is one tar archive: `state.db` (a consistent copy made with SQLite's online backup
//! API while the manager runs, or — for PostgreSQL — every row read in one snapshot), every
//! file of the definition snapshot store (`definitions/…`, wherever `definitions_dir` puts it:
//! immutable and content-addressed, copied *after* the database so every version the database
//! names has its blobs), `config.yaml`, and `MANIFEST.json` (format, vsm version, creation time
//! and the SHA-256 of every member). It is written to a temporary file, synced and renamed, so a
//! crash never leaves a half-written archive under the requested name. Restore verifies every
//! checksum before anything appears under the target directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::ArchiveInfo;
use crate::config::CONFIG_FILE;
use crate::error::{Error, OpenError, Result};
use crate::paths::{DB_FILE, DEFINITIONS_DIR};
use crate::store::Store;

/// Where a backup's database comes from.
#[derive(Clone)]
pub(crate) enum DbSource {
    /// `state.db` in the state directory, read with SQLite's online backup API.
    SqliteFile,
    /// The store itself ([`Store::backup_to`]): PostgreSQL.
    Store(std::sync::Arc<dyn Store>),
}

/// The name of the manifest inside a backup archive.
const MANIFEST: &str = "MANIFEST.json";
/// The backup archive format written by this version.
const FORMAT: u32 = 1;

/// What `MANIFEST.json` records.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    vsm_version: String,
    created_at_ms: i64,
    /// Member path → lowercase hex SHA-256.
    members: BTreeMap<String, String>,
}

/// Writes a backup of `state_dir` (its database from `db`, its definition snapshots from
/// `definitions`) to `out` (see the module's documentation).
pub(crate) async fn backup(
    state_dir: &Utf8Path,
    definitions: &Utf8Path,
    db: DbSource,
    out: &Utf8Path,
) -> Result<ArchiveInfo> {
    let state_dir = state_dir.to_path_buf();
    let definitions = definitions.to_path_buf();
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || backup_blocking(&state_dir, &definitions, &db, &out))
        .await
        .map_err(|e| Error::failed_msg(format!("the backup task ended abnormally: {e}")))?
}

fn io_failed(what: &str, path: &Utf8Path, err: std::io::Error) -> Error {
    Error::failed_msg(format!("{what} {path}: {err}"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Collects an archive's members in memory-light form and writes it atomically.
struct ArchiveWriter {
    tmp: Utf8PathBuf,
    out: Utf8PathBuf,
    builder: Option<tar::Builder<File>>,
    members: BTreeMap<String, String>,
}

impl ArchiveWriter {
    fn create(out: &Utf8Path) -> Result<Self> {
        let name = out.file_name().unwrap_or("archive");
        let tmp = out.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_failed("cannot create", &tmp, e))?;
        let mut builder = tar::Builder::new(file);
        builder.mode(tar::HeaderMode::Deterministic);
        Ok(Self {
            tmp,
            out: out.to_path_buf(),
            builder: Some(builder),
            members: BTreeMap::new(),
        })
    }

    fn add_bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(0);
        let builder = self
            .builder
            .as_mut()
            .ok_or_else(|| Error::failed_msg("the archive is already finished"))?;
        builder
            .append_data(&mut header, path, data)
            .map_err(|e| io_failed("cannot write", &self.tmp, e))?;
        self.members
            .insert(path.to_string(), hex::encode(Sha256::digest(data)));
        Ok(())
    }

    fn add_file(&mut self, path: &str, file: &Utf8Path) -> Result<()> {
        let data = fs::read(file).map_err(|e| io_failed("cannot read", file, e))?;
        self.add_bytes(path, &data)
    }

    /// Adds every regular file under `dir` as `prefix/relative/path`.
    fn add_tree(&mut self, prefix: &str, dir: &Utf8Path) -> Result<()> {
        if !dir.exists() {
            return Ok(());
        }
        let mut stack = vec![dir.to_path_buf()];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            for entry in d
                .read_dir_utf8()
                .map_err(|e| io_failed("cannot list", &d, e))?
            {
                let entry = entry.map_err(|e| io_failed("cannot list", &d, e))?;
                let ft = entry
                    .file_type()
                    .map_err(|e| io_failed("cannot stat", entry.path(), e))?;
                if ft.is_dir() {
                    stack.push(entry.path().to_path_buf());
                } else if ft.is_file() {
                    files.push(entry.path().to_path_buf());
                }
            }
        }
        files.sort();
        for file in files {
            let rel = file.strip_prefix(dir).unwrap_or(&file);
            // Files being written right now by an import are temporary names; skip them.
            if rel.file_name().is_some_and(|n| n.starts_with('.')) {
                continue;
            }
            self.add_file(&format!("{prefix}/{rel}"), &file)?;
        }
        Ok(())
    }

    fn finish(mut self, manifest_extra: impl FnOnce(&mut Manifest)) -> Result<ArchiveInfo> {
        let mut manifest = Manifest {
            format: FORMAT,
            vsm_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at_ms: now_ms(),
            members: std::mem::take(&mut self.members),
        };
        manifest_extra(&mut manifest);
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::failed_msg(format!("cannot encode the manifest: {e}")))?;
        let mut entries: Vec<String> = manifest.members.keys().cloned().collect();
        self.add_bytes(MANIFEST, &json)?;
        entries.push(MANIFEST.to_string());
        let file = self
            .builder
            .take()
            .ok_or_else(|| Error::failed_msg("the archive is already finished"))?
            .into_inner()
            .map_err(|e| io_failed("cannot finish", &self.tmp, e))?;
        file.sync_all()
            .map_err(|e| io_failed("cannot sync", &self.tmp, e))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        drop(file);
        fs::rename(&self.tmp, &self.out)
            .map_err(|e| io_failed("cannot rename to", &self.out, e))?;
        if let Some(parent) = self.out.parent().filter(|p| !p.as_str().is_empty())
            && let Ok(d) = File::open(parent)
        {
            let _ = d.sync_all();
        }
        Ok(ArchiveInfo {
            path: self.out.clone(),
            bytes,
            entries,
        })
    }
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        // After a successful finish the temporary name no longer exists.
        let _ = fs::remove_file(&self.tmp);
    }
}

/// A consistent copy of the database in SQLite's format at `dest` (an existing empty file).
fn snapshot_db(state_dir: &Utf8Path, db: &DbSource, dest: &Utf8Path) -> Result<()> {
    if let DbSource::Store(store) = db {
        return store
            .backup_to(dest)
            .map_err(|e| Error::failed("the backup of the PostgreSQL store failed", e));
    }
    {
        let src = rusqlite::Connection::open_with_flags(
            state_dir.join(DB_FILE),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::failed_msg(format!("cannot open {}/{DB_FILE}: {e}", state_dir)))?;
        let mut dst = rusqlite::Connection::open(dest)
            .map_err(|e| Error::failed_msg(format!("cannot open the backup copy: {e}")))?;
        let backup = rusqlite::backup::Backup::new(&src, &mut dst)
            .map_err(|e| Error::failed_msg(format!("cannot start the online backup: {e}")))?;
        backup
            .run_to_completion(256, Duration::from_millis(5), None)
            .map_err(|e| Error::failed_msg(format!("the online backup failed: {e}")))?;
    }
    Ok(())
}

fn backup_blocking(
    state_dir: &Utf8Path,
    definitions: &Utf8Path,
    db: &DbSource,
    out: &Utf8Path,
) -> Result<ArchiveInfo> {
    let mut archive = ArchiveWriter::create(out)?;
    // 1. The database, consistent, while writers go on (online backup API).
    let snapshot = tempfile::Builder::new()
        .prefix(".backup-")
        .tempfile_in(state_dir)
        .map_err(|e| io_failed("cannot create a temporary file in", state_dir, e))?;
    let snapshot_path = Utf8Path::from_path(snapshot.path())
        .ok_or_else(|| Error::failed_msg("the state directory path is not UTF-8"))?
        .to_path_buf();
    snapshot_db(state_dir, db, &snapshot_path)?;
    archive.add_file(DB_FILE, &snapshot_path)?;
    // 2. Definition snapshots after the database: every version it names has its blobs.
    archive.add_tree(DEFINITIONS_DIR, definitions)?;
    // 3. The configuration.
    let config = state_dir.join(CONFIG_FILE);
    if config.exists() {
        archive.add_file(CONFIG_FILE, &config)?;
    }
    archive.finish(|_| {})
}

fn archive_error(archive: &Utf8Path, message: impl Into<String>) -> OpenError {
    OpenError::Archive {
        path: archive.to_string(),
        message: message.into(),
    }
}

/// Checks that a member path is a plain relative path inside the state directory.
fn safe_member(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && Utf8Path::new(path)
            .components()
            .all(|c| matches!(c, camino::Utf8Component::Normal(_)))
}

/// An archive unpacked and checked beside its target directory, not yet in place.
pub(crate) struct Staged {
    staging: tempfile::TempDir,
    /// The staging directory (what becomes the state directory).
    pub(crate) path: Utf8PathBuf,
    archive: Utf8PathBuf,
    bytes: u64,
    entries: Vec<String>,
}

impl Staged {
    /// Moves the staged directory onto `dir` (absent or empty).
    pub(crate) fn finish(self, dir: &Utf8Path) -> std::result::Result<ArchiveInfo, OpenError> {
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700))
            .map_err(|e| OpenError::io(&self.path, e))?;
        if dir.exists() {
            fs::remove_dir(dir).map_err(|e| OpenError::io(dir, e))?;
        }
        let staged = self.staging.keep();
        fs::rename(&staged, dir).map_err(|e| OpenError::io(dir, e))?;
        let mut entries = self.entries;
        entries.push(MANIFEST.to_string());
        Ok(ArchiveInfo {
            path: self.archive,
            bytes: self.bytes,
            entries,
        })
    }
}

/// Unpacks `archive` into a staging directory beside `dir` (which must be absent or empty)
/// and checks every member's checksum; nothing appears under `dir` yet.
pub(crate) fn unpack(dir: &Utf8Path, archive: &Utf8Path) -> std::result::Result<Staged, OpenError> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(|e| OpenError::io(dir, e))?;
        if entries.next().is_some() {
            return Err(OpenError::NotEmpty {
                dir: dir.to_string(),
            });
        }
    }
    let file = File::open(archive).map_err(|e| OpenError::io(archive, e))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Stage beside the target: nothing appears under `dir` until every checksum matched.
    let parent = dir
        .parent()
        .filter(|p| !p.as_str().is_empty())
        .unwrap_or(Utf8Path::new("."));
    fs::create_dir_all(parent).map_err(|e| OpenError::io(parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".vsm-restore-")
        .tempdir_in(parent)
        .map_err(|e| OpenError::io(parent, e))?;
    let stage = Utf8Path::from_path(staging.path())
        .ok_or_else(|| archive_error(archive, "the target path is not UTF-8"))?
        .to_path_buf();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    let mut tar = tar::Archive::new(file);
    for entry in tar
        .entries()
        .map_err(|e| archive_error(archive, format!("not a vsm backup: {e}")))?
    {
        let mut entry = entry.map_err(|e| archive_error(archive, format!("damaged: {e}")))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(archive_error(
                archive,
                "contains something other than regular files",
            ));
        }
        let path = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
            .ok_or_else(|| archive_error(archive, "contains a non-UTF-8 path"))?;
        if !safe_member(&path) {
            return Err(archive_error(
                archive,
                format!("member `{path}` would land outside the state directory"),
            ));
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| archive_error(archive, format!("damaged member `{path}`: {e}")))?;
        if path == MANIFEST {
            manifest = Some(
                serde_json::from_slice(&data)
                    .map_err(|e| archive_error(archive, format!("unreadable {MANIFEST}: {e}")))?,
            );
            continue;
        }
        seen.insert(path.clone(), hex::encode(Sha256::digest(&data)));
        let target = stage.join(&path);
        if let Some(p) = target.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(p)
                .map_err(|e| OpenError::io(p, e))?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .map_err(|e| OpenError::io(&target, e))?;
        out.write_all(&data)
            .map_err(|e| OpenError::io(&target, e))?;
        out.sync_all().map_err(|e| OpenError::io(&target, e))?;
    }
    let manifest = manifest.ok_or_else(|| {
        archive_error(
            archive,
            format!("has no {MANIFEST}; it is not a vsm backup"),
        )
    })?;
    if manifest.format != FORMAT {
        return Err(archive_error(
            archive,
            format!(
                "has format {} but this vsm reads format {FORMAT}",
                manifest.format
            ),
        ));
    }
    if manifest.members != seen {
        let bad: Vec<&String> = manifest
            .members
            .iter()
            .filter(|(k, v)| seen.get(*k) != Some(v))
            .map(|(k, _)| k)
            .chain(seen.keys().filter(|k| !manifest.members.contains_key(*k)))
            .collect();
        return Err(archive_error(
            archive,
            format!(
                "checksums do not match for {} member(s) (first: {}); the archive is damaged — use another backup",
                bad.len(),
                bad.first().map(|s| s.as_str()).unwrap_or("?")
            ),
        ));
    }
    if !seen.contains_key(DB_FILE) {
        return Err(archive_error(
            archive,
            format!("has no {DB_FILE}; it is not a vsm backup"),
        ));
    }
    Ok(Staged {
        staging,
        path: stage,
        archive: archive.to_path_buf(),
        bytes,
        entries: seen.into_keys().collect(),
    })
}

/// Copies every file under `from` into `to` that `to` lacks (the snapshot store is
/// content-addressed: a file of the same name has the same content), creating directories
/// owner-only. Answers how many files it copied.
pub(crate) fn merge_tree(from: &Utf8Path, to: &Utf8Path) -> std::result::Result<usize, OpenError> {
    let mut copied = 0;
    if !from.exists() {
        return Ok(0);
    }
    let mut stack = vec![from.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rel = d.strip_prefix(from).unwrap_or(Utf8Path::new(""));
        let target_dir = to.join(rel);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&target_dir)
            .map_err(|e| OpenError::io(&target_dir, e))?;
        for entry in d.read_dir_utf8().map_err(|e| OpenError::io(&d, e))? {
            let entry = entry.map_err(|e| OpenError::io(&d, e))?;
            let ft = entry
                .file_type()
                .map_err(|e| OpenError::io(entry.path(), e))?;
            let name = entry.file_name();
            if ft.is_dir() {
                if rel.as_str().is_empty() && name == "tmp" {
                    continue;
                }
                stack.push(entry.path().to_path_buf());
            } else if ft.is_file() && !name.starts_with('.') {
                let target = target_dir.join(name);
                if target.exists() {
                    continue;
                }
                let tmp = target_dir.join(format!(".{name}.vsm-copy"));
                fs::copy(entry.path(), &tmp)
                    .and_then(|_| File::open(&tmp).and_then(|f| f.sync_all()))
                    .and_then(|()| fs::rename(&tmp, &target))
                    .map_err(|e| OpenError::io(&target, e))?;
                copied += 1;
            }
        }
    }
    Ok(copied)
}

/// Writes the diagnostics bundle of `state_dir` (its database from `db`), with the log files
/// of `log_dir` (the `log.dir` setting: relative to the state directory unless absolute), to
/// `out`.
pub(crate) async fn diagnostics(
    state_dir: &Utf8Path,
    db: DbSource,
    log_dir: &str,
    out: &Utf8Path,
) -> Result<ArchiveInfo> {
    let state_dir = state_dir.to_path_buf();
    let out = out.to_path_buf();
    let log_dir = {
        let p = Utf8PathBuf::from(log_dir);
        if p.is_absolute() {
            p
        } else {
            state_dir.join(p)
        }
    };
    tokio::task::spawn_blocking(move || diagnostics_blocking(&state_dir, &db, &log_dir, &out))
        .await
        .map_err(|e| Error::failed_msg(format!("the diagnostics task ended abnormally: {e}")))?
}

/// Words whose values never leave the manager in a diagnostics bundle.
const SECRET_WORDS: &[&str] = &["password", "token", "secret", "key", "hash"];

/// The config text with the value of every line naming a secret replaced.
fn redact_config(text: &str) -> String {
    text.lines()
        .map(|line| {
            let lower = line.to_ascii_lowercase();
            let code = lower.split('#').next().unwrap_or("");
            match line.find(':') {
                Some(colon)
                    if SECRET_WORDS
                        .iter()
                        .any(|w| code[..colon.min(code.len())].contains(w)) =>
                {
                    format!("{}: <redacted>", &line[..colon])
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn query_json(conn: &rusqlite::Connection, sql: &str) -> Result<serde_json::Value> {
    let mut stmt = conn
        .prepare(sql)
        .map_err(|e| Error::failed_msg(format!("diagnostics query failed: {e}")))?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let rows = stmt
        .query_map([], |row| {
            let mut obj = serde_json::Map::new();
            for (i, name) in names.iter().enumerate() {
                let v = match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => serde_json::Value::Null,
                    rusqlite::types::ValueRef::Integer(n) => n.into(),
                    rusqlite::types::ValueRef::Real(f) => f.into(),
                    rusqlite::types::ValueRef::Text(t) => {
                        let s = String::from_utf8_lossy(t).into_owned();
                        serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
                    }
                    rusqlite::types::ValueRef::Blob(_) => {
                        serde_json::Value::String("<blob>".into())
                    }
                };
                obj.insert(name.clone(), v);
            }
            Ok(serde_json::Value::Object(obj))
        })
        .map_err(|e| Error::failed_msg(format!("diagnostics query failed: {e}")))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(|e| Error::failed_msg(format!("diagnostics query failed: {e}")))?);
    }
    Ok(serde_json::Value::Array(out))
}

fn diagnostics_blocking(
    state_dir: &Utf8Path,
    db: &DbSource,
    log_dir: &Utf8Path,
    out: &Utf8Path,
) -> Result<ArchiveInfo> {
    let mut archive = ArchiveWriter::create(out)?;
    // A PostgreSQL store is read from a SQLite snapshot of it, with the same queries.
    let snapshot = match db {
        DbSource::SqliteFile => None,
        DbSource::Store(_) => {
            let tmp = tempfile::Builder::new()
                .prefix(".diagnose-")
                .tempfile_in(state_dir)
                .map_err(|e| io_failed("cannot create a temporary file in", state_dir, e))?;
            let path = Utf8Path::from_path(tmp.path())
                .ok_or_else(|| Error::failed_msg("the state directory path is not UTF-8"))?
                .to_path_buf();
            snapshot_db(state_dir, db, &path)?;
            Some((tmp, path))
        }
    };
    let db_path = match &snapshot {
        Some((_, path)) => path.clone(),
        None => state_dir.join(DB_FILE),
    };
    let conn = rusqlite::Connection::open_with_flags(
        &db_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Error::failed_msg(format!("cannot open {state_dir}/{DB_FILE}: {e}")))?;
    let schema: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| Error::failed_msg(format!("cannot read the schema version: {e}")))?;
    // Only names, roles and counts: never password hashes or session tokens.
    let summary = serde_json::json!({
        "store": if snapshot.is_some() { "postgresql" } else { "sqlite" },
        "schema_version": schema,
        "accounts": query_json(&conn, "SELECT role, COUNT(*) AS count FROM accounts GROUP BY role")?,
        "units": query_json(&conn, "SELECT name, owner FROM units ORDER BY name")?,
        "servers_per_unit": query_json(&conn, "SELECT unit, grp, COUNT(*) AS count FROM servers GROUP BY unit, grp")?,
        "operations_by_state": query_json(&conn, "SELECT state, COUNT(*) AS count FROM operations GROUP BY state")?,
        "open_sessions": query_json(&conn, "SELECT COUNT(*) AS count FROM sessions")?,
    });
    let pretty = |v: &serde_json::Value| serde_json::to_vec_pretty(v).unwrap_or_default();
    archive.add_bytes("summary.json", &pretty(&summary))?;
    let servers = query_json(
        &conn,
        "SELECT unit, grp, name, json FROM servers ORDER BY unit, name",
    )?;
    archive.add_bytes("servers.json", &pretty(&servers))?;
    let ops = query_json(
        &conn,
        "SELECT id, unit, kind, state, created_at, json FROM operations ORDER BY id DESC LIMIT 50",
    )?;
    archive.add_bytes("operations.json", &pretty(&ops))?;
    // The newest 50,000 step entries of the last 20 operations (an operation on 10,000
    // servers journals tens of thousands).
    let journal = query_json(
        &conn,
        "SELECT operation, seq, json FROM (SELECT operation, seq, json FROM journal \
         WHERE operation IN (SELECT id FROM operations ORDER BY id DESC LIMIT 20) \
         ORDER BY operation DESC, seq DESC LIMIT 50000) ORDER BY operation, seq",
    )?;
    archive.add_bytes("journal.json", &pretty(&journal))?;
    let audit = query_json(
        &conn,
        "SELECT id, at, actor, action, target, result FROM audit ORDER BY id DESC LIMIT 500",
    )?;
    archive.add_bytes("audit.json", &pretty(&audit))?;
    let config = state_dir.join(CONFIG_FILE);
    if let Ok(text) = fs::read_to_string(&config) {
        archive.add_bytes(CONFIG_FILE, redact_config(&text).as_bytes())?;
    }
    let env = serde_json::json!({
        "vsm_version": env!("CARGO_PKG_VERSION"),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "uptime": fs::read_to_string("/proc/uptime").unwrap_or_default().trim(),
        "pid": std::process::id(),
    });
    archive.add_bytes("environment.json", &pretty(&env))?;
    archive.add_tree("logs", log_dir)?;
    archive.finish(|_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_must_stay_inside() {
        assert!(safe_member("definitions/blobs/ab/cd"));
        assert!(safe_member(DB_FILE));
        assert!(!safe_member("../etc/passwd"));
        assert!(!safe_member("/etc/passwd"));
        assert!(!safe_member("a/../../b"));
        assert!(!safe_member(""));
    }

    #[test]
    fn config_secrets_are_redacted() {
        let text = "service:\n  listen: 127.0.0.1:7460\n  tls_key: /etc/vsm/key.pem\n  # password: comment\nauth:\n  admin_password: hunter2\n";
        let out = redact_config(text);
        assert!(out.contains("listen: 127.0.0.1:7460"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("/etc/vsm/key.pem"), "{out}");
        assert!(out.contains("admin_password: <redacted>"), "{out}");
    }

    mod with_manager {
        use std::sync::Arc;

        use camino::Utf8PathBuf;
        use vsm_core::{AccountName, Role};
        use vsm_hypervisor::fake::FakeHypervisor;

        use super::super::*;
        use crate::Manager;
        use crate::api::*;
        use crate::config::PasswordCost;
        use crate::{DriverSet, InitOptions, ManagerConfig};

        const ROOT_PW: &str = "root-password-1";

        async fn open(state: &Utf8Path) -> Manager {
            let mut config = ManagerConfig::load(state).expect("config");
            config.password_cost = PasswordCost::Insecure;
            config.monitor = false;
            let fake = Arc::new(FakeHypervisor::new());
            Manager::open(config, DriverSet::new().with(DriverKind::Local, fake))
                .await
                .expect("open")
        }

        fn name(s: &str) -> AccountName {
            AccountName::new(s).expect("name")
        }

        struct Env {
            _dir: tempfile::TempDir,
            root: Utf8PathBuf,
            state: Utf8PathBuf,
        }

        fn env() -> Env {
            let dir = tempfile::tempdir().expect("tempdir");
            let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
            let state = root.join("state");
            let mut init = InitOptions::new(state.clone(), name("root"), Password::new(ROOT_PW));
            init.password_cost = PasswordCost::Insecure;
            Manager::init(init).expect("init");
            Env {
                _dir: dir,
                root,
                state,
            }
        }

        #[tokio::test]
        async fn backup_during_writes_restores_into_a_consistent_manager() {
            let env = env();
            let manager = open(&env.state).await;
            let root = manager
                .authenticate(&name("root"), &Password::new(ROOT_PW))
                .await
                .expect("login");
            // A writer keeps adding accounts while the backup runs.
            let writer = {
                let manager = manager.clone();
                let root = root.clone();
                tokio::spawn(async move {
                    for i in 0..30 {
                        manager
                            .add_account(
                                &root,
                                AddAccount {
                                    name: name(&format!("b{i}")),
                                    role: Role::Builder,
                                    password: Password::new("builder-password-1"),
                                },
                            )
                            .await
                            .expect("add account");
                    }
                })
            };
            let archive = env.root.join("backup.tar");
            let info = manager.backup(&root, &archive).await.expect("backup");
            writer.await.expect("writer");
            assert!(
                info.entries.iter().any(|e| e == DB_FILE),
                "{:?}",
                info.entries
            );
            assert!(info.entries.iter().any(|e| e == MANIFEST));
            assert!(!env.root.join(".backup.tar.tmp").exists());
            let in_backup = manager.list_accounts(&root).await.expect("list").len();
            manager.shutdown(std::time::Duration::from_secs(1)).await;
            drop(manager);

            let restored = env.root.join("restored");
            Manager::restore(&restored, &archive).expect("restore");
            let mode = fs::metadata(&restored).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
            let again = open(&restored).await;
            let root2 = again
                .authenticate(&name("root"), &Password::new(ROOT_PW))
                .await
                .expect("login");
            let accounts = again.list_accounts(&root2).await.expect("list");
            // Consistent: some prefix of the writer's accounts, never a torn state.
            assert!(
                !accounts.is_empty() && accounts.len() <= in_backup,
                "{} vs {in_backup}",
                accounts.len()
            );
            let mut numbers: Vec<usize> = accounts
                .iter()
                .filter_map(|a| {
                    a.name
                        .as_str()
                        .strip_prefix('b')
                        .and_then(|n| n.parse().ok())
                })
                .collect();
            numbers.sort_unstable();
            assert_eq!(
                numbers,
                (0..numbers.len()).collect::<Vec<_>>(),
                "accounts are a prefix"
            );
            again.shutdown(std::time::Duration::from_secs(1)).await;

            // A second restore into the now non-empty directory is refused, naming it.
            let err = Manager::restore(&restored, &archive).expect_err("non-empty");
            assert!(err.to_string().contains(restored.as_str()), "{err}");
        }

        #[tokio::test]
        async fn damaged_archive_is_refused_and_leaves_nothing() {
            let env = env();
            let manager = open(&env.state).await;
            let root = manager
                .authenticate(&name("root"), &Password::new(ROOT_PW))
                .await
                .expect("login");
            let archive = env.root.join("backup.tar");
            manager.backup(&root, &archive).await.expect("backup");
            manager.shutdown(std::time::Duration::from_secs(1)).await;
            // Flip one byte inside the database member's data (after the first 512-byte header).
            let mut bytes = fs::read(&archive).expect("read");
            bytes[512 + 100] ^= 0xff;
            let damaged = env.root.join("damaged.tar");
            fs::write(&damaged, &bytes).expect("write");
            let target = env.root.join("from-damaged");
            let err = Manager::restore(&target, &damaged).expect_err("damaged");
            assert!(err.to_string().contains("checksums do not match"), "{err}");
            assert!(!target.exists(), "nothing may appear under the target");
            let leftovers: Vec<_> = fs::read_dir(&env.root)
                .expect("list")
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(".vsm-restore-"))
                .collect();
            assert!(leftovers.is_empty(), "staging dirs left behind");
        }

        #[tokio::test]
        async fn diagnostics_hold_no_secrets() {
            let env = env();
            let manager = open(&env.state).await;
            let session = manager
                .login(&name("root"), &Password::new(ROOT_PW))
                .await
                .expect("login");
            let root = manager
                .actor_for_token(&session.token)
                .await
                .expect("actor");
            let out = env.root.join("diag.tar");
            let info = manager.diagnostics(&root, &out).await.expect("diagnostics");
            for want in [
                "summary.json",
                "operations.json",
                "audit.json",
                "environment.json",
                CONFIG_FILE,
            ] {
                assert!(
                    info.entries.iter().any(|e| e == want),
                    "{want} missing: {:?}",
                    info.entries
                );
            }
            let bytes = fs::read(&out).expect("read");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("$argon2"), "a password hash leaked");
            assert!(!text.contains(&session.token), "a session token leaked");
            assert!(!text.contains(ROOT_PW), "a password leaked");
            manager.shutdown(std::time::Duration::from_secs(1)).await;
        }
    }
}
