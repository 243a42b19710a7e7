//! The `local` transport: a target directory on this machine (a local driver's server root).
//!
//! Implements the stage / switch / commit protocol described in `transport` with plain file
//! operations on a blocking thread. It knows nothing of units or hypervisors: the caller gives
//! it the directory.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};

use crate::path::RESERVED_DIR;
use crate::transport::{
    AppliedRecord, ChangeSet, CommandOutput, Content, Transport, TransportError,
};

const STDERR_TAIL: usize = 2000;

fn io_err<'a>(
    action: &'static str,
    path: &'a Utf8Path,
) -> impl FnOnce(io::Error) -> TransportError + 'a {
    move |source| TransportError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn exists(p: &Utf8Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Pushes to a directory on this machine.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    base: Utf8PathBuf,
    fsync: bool,
}

impl LocalTransport {
    /// A transport writing under `base` (which must exist), syncing files to disk before the
    /// switch.
    pub fn new(base: impl Into<Utf8PathBuf>) -> Self {
        LocalTransport {
            base: base.into(),
            fsync: true,
        }
    }

    /// Whether staged files and the record are synced to disk before they are switched in,
    /// and the switch after it (default on: two syncs of the file system per push, however
    /// many files; off trades safety against power loss for speed).
    #[must_use]
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// The target directory.
    pub fn base(&self) -> &Utf8Path {
        &self.base
    }

    fn vsm_dir(&self) -> Utf8PathBuf {
        self.base.join(RESERVED_DIR)
    }

    fn record_path(&self) -> Utf8PathBuf {
        self.vsm_dir().join("applied.json")
    }

    fn read_record(&self) -> Result<Option<AppliedRecord>, TransportError> {
        let p = self.record_path();
        match fs::read(&p) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| TransportError::BadRecord {
                        path: p.to_string(),
                        reason: e.to_string(),
                    })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &p)(e)),
        }
    }

    /// Finishes or undoes transactions left behind by an interrupted push.
    fn recover(&self) -> Result<(), TransportError> {
        let staging = self.vsm_dir().join("staging");
        let rd = match fs::read_dir(&staging) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("read", &staging)(e)),
        };
        let committed = self.read_record().ok().flatten().map(|r| r.txn);
        for ent in rd {
            let ent = ent.map_err(io_err("read", &staging))?;
            let Ok(name) = ent.file_name().into_string() else {
                continue;
            };
            let st = staging.join(&name);
            if committed.as_deref() != Some(name.as_str()) {
                self.rollback(&st)?;
            }
            fs::remove_dir_all(&st).map_err(io_err("remove", &st))?;
        }
        Ok(())
    }

    /// Undoes the logged steps of the transaction staged in `st`, newest first.
    fn rollback(&self, st: &Utf8Path) -> Result<(), TransportError> {
        let log = match fs::read_to_string(st.join("log")) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("read", &st.join("log"))(e)),
        };
        for line in log.lines().rev() {
            let Some((op, p)) = line.split_once(' ') else {
                continue;
            };
            let target = self.base.join(p);
            let backup = st.join("backup").join(p);
            if exists(&backup) {
                if let Ok(m) = fs::symlink_metadata(&target)
                    && m.is_dir()
                {
                    fs::remove_dir_all(&target).map_err(io_err("remove", &target))?;
                }
                fs::rename(&backup, &target).map_err(io_err("restore", &target))?;
            } else if op == "W" && !exists(&st.join("files").join(p)) && exists(&target) {
                fs::remove_file(&target).map_err(io_err("remove", &target))?;
            }
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Utf8Path) {
        if self.fsync
            && let Ok(d) = fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
    }

    fn stage(&self, st: &Utf8Path, change: &ChangeSet) -> Result<(), TransportError> {
        let files = st.join("files");
        let mut made: HashSet<Utf8PathBuf> = HashSet::new();
        for w in &change.writes {
            let dest = w.target.under(&files);
            if let Some(parent) = dest.parent()
                && !made.contains(parent)
            {
                fs::create_dir_all(parent).map_err(io_err("create", parent))?;
                made.insert(parent.to_owned());
            }
            match &w.content {
                Content::File(src) => {
                    fs::copy(src, &dest).map_err(io_err("stage", &dest))?;
                }
                Content::Inline(bytes) => {
                    fs::write(&dest, bytes).map_err(io_err("stage", &dest))?;
                }
            }
            fs::set_permissions(&dest, fs::Permissions::from_mode(w.mode))
                .map_err(io_err("set permissions of", &dest))?;
        }
        let record = serde_json::to_vec(&change.record)
            .map_err(|e| TransportError::Failed(e.to_string()))?;
        let rp = st.join("applied.json");
        let mut f = fs::File::create(&rp).map_err(io_err("create", &rp))?;
        f.write_all(&record).map_err(io_err("write", &rp))?;
        // The whole intent log is written before the first rename; undoing a step that never
        // happened is a no-op (see `rollback`).
        let mut log = String::new();
        for w in &change.writes {
            log.push_str(&format!("W {}\n", w.target));
        }
        for r in &change.removes {
            log.push_str(&format!("R {r}\n"));
        }
        let lp = st.join("log");
        let mut f = fs::File::create(&lp).map_err(io_err("create", &lp))?;
        f.write_all(log.as_bytes()).map_err(io_err("write", &lp))?;
        // Everything staged, the record and the log reach the disk together, with one sync of
        // the file system instead of one per file, before anything is switched in.
        if self.fsync {
            crate::durable::syncfs(st).map_err(io_err("sync the file system of", st))?;
        }
        Ok(())
    }

    fn switch(&self, st: &Utf8Path, change: &ChangeSet) -> Result<(), (String, TransportError)> {
        let files = st.join("files");
        let backup = st.join("backup");
        let mut made: HashSet<Utf8PathBuf> = HashSet::new();
        let mut mkdirs = |dir: &Utf8Path| -> Result<(), TransportError> {
            if !made.contains(dir) {
                fs::create_dir_all(dir).map_err(io_err("create", dir))?;
                made.insert(dir.to_owned());
            }
            Ok(())
        };
        let move_aside = |target: &Utf8Path,
                          rel: &str,
                          mkdirs: &mut dyn FnMut(&Utf8Path) -> Result<(), TransportError>|
         -> Result<(), TransportError> {
            if exists(target) {
                let bk = backup.join(rel);
                if let Some(parent) = bk.parent() {
                    mkdirs(parent)?;
                }
                fs::rename(target, &bk).map_err(io_err("move aside", target))?;
            }
            Ok(())
        };
        for w in &change.writes {
            let step = || format!("writing {}", w.target);
            let target = w.target.under(&self.base);
            if let Some(parent) = target.parent() {
                mkdirs(parent).map_err(|e| (step(), e))?;
            }
            move_aside(&target, w.target.as_str(), &mut mkdirs).map_err(|e| (step(), e))?;
            let staged = w.target.under(&files);
            fs::rename(&staged, &target).map_err(|e| (step(), io_err("switch in", &target)(e)))?;
        }
        for r in &change.removes {
            let target = r.under(&self.base);
            move_aside(&target, r.as_str(), &mut mkdirs)
                .map_err(|e| (format!("removing {r}"), e))?;
        }
        Ok(())
    }

    fn push_sync(&self, change: &ChangeSet) -> Result<(), TransportError> {
        self.recover()?;
        let st = self.vsm_dir().join("staging").join(&change.txn);
        fs::create_dir_all(&st).map_err(io_err("create", &st))?;
        if let Err(e) = self.stage(&st, change) {
            let _ = fs::remove_dir_all(&st);
            return Err(e);
        }
        if let Err((step, e)) = self.switch(&st, change) {
            let undone = self.rollback(&st);
            let _ = fs::remove_dir_all(&st);
            undone?;
            return Err(TransportError::RolledBack {
                step,
                source: Box::new(e),
            });
        }
        let rp = self.record_path();
        if let Err(e) = fs::rename(st.join("applied.json"), &rp) {
            let undone = self.rollback(&st);
            let _ = fs::remove_dir_all(&st);
            undone?;
            return Err(TransportError::RolledBack {
                step: "committing .vsm/applied.json".into(),
                source: Box::new(io_err("write", &rp)(e)),
            });
        }
        // The switched-in files' directory entries and the committed record, in one sync.
        if self.fsync {
            let vsm = self.vsm_dir();
            crate::durable::syncfs(&vsm).map_err(io_err("sync the file system of", &vsm))?;
        }
        fs::remove_dir_all(&st).map_err(io_err("remove", &st))?;
        Ok(())
    }

    fn write_record_sync(&self, record: &AppliedRecord) -> Result<(), TransportError> {
        let dir = self.vsm_dir();
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let tmp = dir.join("applied.json.tmp");
        let bytes =
            serde_json::to_vec(record).map_err(|e| TransportError::Failed(e.to_string()))?;
        let mut f = fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(&bytes).map_err(io_err("write", &tmp))?;
        if self.fsync {
            f.sync_all().map_err(io_err("sync", &tmp))?;
        }
        fs::rename(&tmp, self.record_path()).map_err(io_err("write", &tmp))?;
        self.sync_dir(&dir);
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TransportError> + Send + 'static,
) -> Result<T, TransportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransportError::Failed(format!("the file-system task failed: {e}")))?
}

#[async_trait]
impl Transport for LocalTransport {
    fn describe(&self) -> String {
        format!("local:{}", self.base)
    }

    async fn read_applied(&self) -> Result<Option<AppliedRecord>, TransportError> {
        let this = self.clone();
        blocking(move || {
            this.recover()?;
            this.read_record()
        })
        .await
    }

    async fn push(&self, change: &ChangeSet) -> Result<(), TransportError> {
        let this = self.clone();
        let change = change.clone();
        blocking(move || this.push_sync(&change)).await
    }

    async fn write_applied(&self, record: &AppliedRecord) -> Result<(), TransportError> {
        let this = self.clone();
        let record = record.clone();
        blocking(move || this.write_record_sync(&record)).await
    }

    async fn run(&self, command: &str, timeout: Duration) -> Result<CommandOutput, TransportError> {
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&self.base)
            .env("VSM_BASE", self.base.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(io_err("run a command in", &self.base))?;
        let out = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
            .map_err(io_err("run a command in", &self.base))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let start = stderr.len().saturating_sub(STDERR_TAIL);
        let start = (start..stderr.len())
            .find(|i| stderr.is_char_boundary(*i))
            .unwrap_or(stderr.len());
        Ok(CommandOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: stderr[start..].trim().to_owned(),
        })
    }
}
