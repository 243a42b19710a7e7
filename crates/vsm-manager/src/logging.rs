//! The manager's log files: a size-rotated file writer for `tracing`, whose directory, number of
//! files, size per file and filter follow [`crate::LogSettings`] and can change while running.
//!
//! The binary calls [`init`] once when the manager starts; [`reconfigure`] applies new settings,
//! and [`apply`] is how the manager does that after `vsm manager log-config`. Files are
//! `vsm-manager.log` (current), `vsm-manager.log.1` (newest rotated) … up to `files` in all.
//! Rotation happens between log lines. This module never logs passwords (nothing here sees them)
//! and writes nowhere but the log directory and, if asked, standard error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::sync::{Arc, Mutex, OnceLock};

use camino::{Utf8Path, Utf8PathBuf};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::api::LogSettings;

/// The current log file's name.
pub const LOG_FILE: &str = "vsm-manager.log";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log directory or file could not be created.
    #[error("cannot open the log file in {dir}")]
    Open {
        /// The directory.
        dir: Utf8PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The filter is invalid.
    #[error("invalid log level {level:?}: use e.g. `info`, `debug` or `vsm_manager=debug,info`")]
    Filter {
        /// The filter text.
        level: String,
    },
    /// A global subscriber is installed already.
    #[error("logging is already set up in this process")]
    AlreadySet,
}

/// Where and how much to log, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    dir: Utf8PathBuf,
    files: u32,
    max_bytes: u64,
}

impl Target {
    fn of(state_dir: &Utf8Path, settings: &LogSettings) -> Target {
        let dir = Utf8PathBuf::from(&settings.dir);
        Target {
            dir: if dir.is_absolute() {
                dir
            } else {
                state_dir.join(dir)
            },
            files: settings.files.max(1),
            max_bytes: u64::from(settings.size_mb.max(1)) * 1024 * 1024,
        }
    }
}

#[derive(Debug)]
struct State {
    target: Target,
    file: Option<File>,
    written: u64,
}

impl State {
    fn path(&self, n: u32) -> Utf8PathBuf {
        if n == 0 {
            self.target.dir.join(LOG_FILE)
        } else {
            self.target.dir.join(format!("{LOG_FILE}.{n}"))
        }
    }

    fn open(&mut self) -> io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        // Owner-only: log lines name accounts and client addresses.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.target.dir)?;
        let path = self.path(0);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        self.written = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(file);
        Ok(())
    }

    /// Shifts `.k` to `.k+1` (dropping what exceeds `files`), the current file to `.1`, and
    /// opens a new current file.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let keep = self.target.files;
        // Files beyond the limit (also after the limit was lowered).
        let mut n = keep.max(1);
        while self.path(n).exists() {
            let _ = fs::remove_file(self.path(n));
            n += 1;
        }
        if keep <= 1 {
            let _ = fs::remove_file(self.path(0));
        } else {
            for k in (1..keep - 1).rev() {
                if self.path(k).exists() {
                    fs::rename(self.path(k), self.path(k + 1))?;
                }
            }
            if self.path(0).exists() {
                fs::rename(self.path(0), self.path(1))?;
            }
        }
        self.open()
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() {
            self.open()?;
        }
        if self.written > 0 && self.written + buf.len() as u64 > self.target.max_bytes {
            self.rotate()?;
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file not open"))?;
        file.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }
}

/// A `tracing` writer that rotates files by size; cheap to clone.
#[derive(Debug, Clone)]
pub struct RotatingWriter {
    state: Arc<Mutex<State>>,
}

impl RotatingWriter {
    /// A writer into `settings.dir` (relative to `state_dir`), creating the directory.
    pub fn new(state_dir: &Utf8Path, settings: &LogSettings) -> Result<RotatingWriter, LogError> {
        let mut state = State {
            target: Target::of(state_dir, settings),
            file: None,
            written: 0,
        };
        state.open().map_err(|source| LogError::Open {
            dir: state.target.dir.clone(),
            source,
        })?;
        Ok(RotatingWriter {
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// Applies new settings: a new directory takes effect at once (the old files stay), a new
    /// size or number of files at the next rotation (excess files go then).
    pub fn reconfigure(
        &self,
        state_dir: &Utf8Path,
        settings: &LogSettings,
    ) -> Result<(), LogError> {
        let target = Target::of(state_dir, settings);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.target == target {
            return Ok(());
        }
        let moved = state.target.dir != target.dir;
        state.target = target;
        if moved {
            state.file = None;
            state.open().map_err(|source| LogError::Open {
                dir: state.target.dir.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// The current file's path.
    pub fn current_file(&self) -> Utf8PathBuf {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).path(0)
    }
}

impl Write for RotatingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingWriter {
    type Writer = RotatingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

struct Installed {
    writer: RotatingWriter,
    filter: FilterHandle,
    level: Mutex<String>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

fn filter(level: &str) -> Result<EnvFilter, LogError> {
    EnvFilter::try_new(level).map_err(|_| LogError::Filter {
        level: level.to_owned(),
    })
}

/// Installs the process-wide subscriber: structured lines (timestamp, level, target, fields) into
/// the rotated files, and also to standard error when `stderr` is true (a foreground manager).
pub fn init(state_dir: &Utf8Path, settings: &LogSettings, stderr: bool) -> Result<(), LogError> {
    let writer = RotatingWriter::new(state_dir, settings)?;
    let (layer, handle) = reload::Layer::new(filter(&settings.level)?);
    let files = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer.clone());
    // Colour only on a terminal: the journal and `--detach`'s console.log get plain lines.
    let console = stderr.then(|| {
        use std::io::IsTerminal;
        tracing_subscriber::fmt::layer()
            .with_ansi(
                io::stderr().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            )
            .with_writer(io::stderr)
    });
    tracing_subscriber::registry()
        .with(layer)
        .with(files)
        .with(console)
        .try_init()
        .map_err(|_| LogError::AlreadySet)?;
    let _ = INSTALLED.set(Installed {
        writer,
        filter: handle,
        level: Mutex::new(settings.level.clone()),
    });
    Ok(())
}

/// Applies new log settings to the subscriber [`init`] installed; does nothing when logging was
/// not set up by [`init`] (an embedder with its own subscriber).
pub fn reconfigure(state_dir: &Utf8Path, settings: &LogSettings) -> Result<(), LogError> {
    let Some(installed) = INSTALLED.get() else {
        return Ok(());
    };
    installed.writer.reconfigure(state_dir, settings)?;
    let mut level = installed.level.lock().unwrap_or_else(|p| p.into_inner());
    if *level != settings.level {
        let f = filter(&settings.level)?;
        installed.filter.reload(f).map_err(|_| LogError::Filter {
            level: settings.level.clone(),
        })?;
        *level = settings.level.clone();
    }
    Ok(())
}

/// Re-applies log settings to the installed writer, if any; a failure is logged, never fatal
/// (the previous settings stay in force).
pub fn apply(state_dir: &Utf8Path, settings: &LogSettings) {
    if let Err(err) = reconfigure(state_dir, settings) {
        tracing::warn!(error = %err, "new log settings could not be applied; the previous ones stay in force");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &str, files: u32) -> LogSettings {
        LogSettings {
            dir: dir.to_owned(),
            files,
            size_mb: 1,
            level: "info".to_owned(),
        }
    }

    fn names(dir: &Utf8Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn files_rotate_by_size_and_keep_the_configured_number() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let state = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf()).expect("utf-8");
        let mut w = RotatingWriter::new(&state, &settings("logs", 3)).expect("writer");
        // Make rotation cheap to reach: 100 bytes per file.
        w.state.lock().expect("lock").target.max_bytes = 100;
        let line = [b'x'; 39];
        for i in 0..20u8 {
            let mut l = line.to_vec();
            l.push(b'0' + i % 10);
            w.write_all(&l).expect("write");
        }
        let logs = state.join("logs");
        assert_eq!(
            names(&logs),
            vec!["vsm-manager.log", "vsm-manager.log.1", "vsm-manager.log.2"]
        );
        for n in names(&logs) {
            let len = fs::metadata(logs.join(&n)).expect("meta").len();
            assert!(len <= 100, "{n} has {len} bytes");
        }
        // The newest line is in the current file, older ones in .1.
        let current = fs::read_to_string(logs.join(LOG_FILE)).expect("read");
        assert!(current.ends_with('9'), "{current}");

        // Fewer files: the excess goes at the next rotation.
        w.reconfigure(&state, &settings("logs", 2))
            .expect("reconfigure");
        w.state.lock().expect("lock").target.max_bytes = 100;
        for _ in 0..3 {
            w.write_all(&line).expect("write");
        }
        assert_eq!(names(&logs), vec!["vsm-manager.log", "vsm-manager.log.1"]);

        // A new directory takes effect at once.
        w.reconfigure(&state, &settings("elsewhere", 2))
            .expect("move");
        w.write_all(b"moved\n").expect("write");
        assert_eq!(
            fs::read_to_string(state.join("elsewhere").join(LOG_FILE)).expect("read"),
            "moved\n"
        );
        assert_eq!(w.current_file(), state.join("elsewhere").join(LOG_FILE));
    }

    #[test]
    fn bad_filters_are_explained() {
        let err = filter("info,,=[").expect_err("bad filter");
        assert!(err.to_string().contains("invalid log level"), "{err}");
    }
}
