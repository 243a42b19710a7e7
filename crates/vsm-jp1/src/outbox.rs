//! The durable outbox: JP1 events wait here, one file each, until they are delivered.
//!
//! [`Outbox::enqueue`] is all a caller does: it maps the event, writes it to
//! `<dir>/<sequence>.json` atomically (temporary file, fsync, rename, fsync of the directory) and
//! wakes the delivery task. It never runs `jevsend` and never waits for JP1, so a JP1 outage
//! cannot block or fail the operation that caused the event. The delivery task
//! ([`Outbox::run_forever`], or [`Outbox::drain_once`] for one pass) sends the files in sequence
//! order through the configured [`Channel`], deletes each file once it was delivered, and on a
//! failure stops, waits (exponential back-off) and retries from the same file, so events arrive
//! in order. Delivery is at-least-once: a crash between a send and the delete sends that event
//! again. Files that cannot be read back are moved to `<dir>/dead/` rather than blocking the
//! queue. One `Outbox` (and one delivery task) owns a directory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use camino::{Utf8Path, Utf8PathBuf};
use tokio::sync::Notify;
use vsm_core::Timestamp;

use crate::event::{Jp1Event, Jp1EventError};
use crate::jevsend::{JevsendConfig, SendError};
use crate::logtrap::TrapLog;
use crate::mapping::{EventConfig, VsmEvent, to_jp1};

/// Where delivered events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Run `jevsend` once per event.
    Jevsend(JevsendConfig),
    /// Append a line per event to the log-file-trap log.
    TrapLog(TrapLog),
}

impl Channel {
    /// Delivers one event.
    pub async fn deliver(&self, event: &Jp1Event) -> Result<(), SendError> {
        match self {
            Channel::Jevsend(j) => j.send(event).await,
            Channel::TrapLog(t) => t.append(event).await,
        }
    }
}

/// Tuning of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxConfig {
    /// First wait after a failed delivery (default 1 s); doubled after each further failure.
    pub initial_backoff: Duration,
    /// Longest wait between retries (default 5 min).
    pub max_backoff: Duration,
    /// How often an idle delivery task looks at the directory anyway (default 60 s).
    pub idle_poll: Duration,
    /// Most events kept; when full, the oldest is dropped with a warning (default 10,000).
    pub max_queued: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            idle_poll: Duration::from_secs(60),
            max_queued: 10_000,
        }
    }
}

/// A failure of the outbox itself (not of a delivery).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// A file or directory of the outbox could not be used.
    #[error("JP1 outbox: cannot {action} {path}; check that the directory exists and is writable")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The event could not be turned into a JP1 event.
    #[error("JP1 outbox: the event breaks a JP1 limit")]
    Event(#[from] Jp1EventError),
    /// The event could not be encoded.
    #[error("JP1 outbox: cannot encode the event")]
    Encode(#[from] serde_json::Error),
    /// A delivery failed (it will be retried).
    #[error("JP1 outbox: delivery failed, will retry")]
    Send(#[from] SendError),
}

fn io_err(action: &'static str, path: &Utf8Path) -> impl FnOnce(std::io::Error) -> OutboxError {
    let path = path.to_owned();
    move |source| OutboxError::Io {
        action,
        path,
        source,
    }
}

/// What one [`Outbox::drain_once`] pass did.
#[derive(Debug, Default)]
pub struct DrainReport {
    /// Events delivered and removed.
    pub delivered: usize,
    /// Events still waiting afterwards.
    pub pending: usize,
    /// Unreadable files moved to `dead/`.
    pub quarantined: usize,
    /// Why the pass stopped early, if it did.
    pub error: Option<OutboxError>,
}

/// The durable outbox; cheap to clone (clones share one queue).
#[derive(Debug, Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: Utf8PathBuf,
    channel: Channel,
    events: EventConfig,
    config: OutboxConfig,
    next_seq: Mutex<u64>,
    wake: Notify,
    draining: tokio::sync::Mutex<()>,
}

const SUFFIX: &str = ".json";
const TMP_PREFIX: &str = "tmp-";
const DEAD_DIR: &str = "dead";

impl Outbox {
    /// Opens (creating it if needed) the outbox in `dir`; removes temporary files a crash left.
    pub fn open(
        dir: &Utf8Path,
        channel: Channel,
        events: EventConfig,
        config: OutboxConfig,
    ) -> Result<Self, OutboxError> {
        std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let mut max_seq = 0u64;
        for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                let path = dir.join(name);
                std::fs::remove_file(&path).map_err(io_err("remove", &path))?;
            } else if let Some(seq) = parse_seq(name) {
                max_seq = max_seq.max(seq);
            }
        }
        Ok(Outbox {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                channel,
                events,
                config,
                next_seq: Mutex::new(max_seq + 1),
                wake: Notify::new(),
                draining: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The outbox directory.
    pub fn dir(&self) -> &Utf8Path {
        &self.inner.dir
    }

    /// Queues `event`, which happened now. Only writes one small file (blocking, with fsync: a
    /// few milliseconds); never waits for JP1. Async callers may prefer
    /// [`Outbox::enqueue_async`].
    pub fn enqueue(&self, event: &VsmEvent) -> Result<(), OutboxError> {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.enqueue_at(event, Timestamp::from_millis(millis))
    }

    /// Queues `event`, which happened at `at`.
    pub fn enqueue_at(&self, event: &VsmEvent, at: Timestamp) -> Result<(), OutboxError> {
        let jp1 = to_jp1(event, at, &self.inner.events)?;
        self.enqueue_jp1(&jp1)
    }

    /// Queues an already-built JP1 event.
    pub fn enqueue_jp1(&self, event: &Jp1Event) -> Result<(), OutboxError> {
        let body = serde_json::to_vec(event)?;
        {
            // Held while writing, so files appear in sequence order even with concurrent callers.
            let mut next = self
                .inner
                .next_seq
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let seq = *next;
            self.make_room()?;
            let dir = &self.inner.dir;
            let tmp = dir.join(format!("{TMP_PREFIX}{seq}{SUFFIX}"));
            let fin = dir.join(file_name(seq));
            write_durably(&tmp, &body)?;
            std::fs::rename(&tmp, &fin).map_err(io_err("rename", &tmp))?;
            sync_dir(dir)?;
            *next = seq + 1;
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// [`Outbox::enqueue`] on tokio's blocking pool, for async callers that must not wait for
    /// the file system on their own thread.
    pub async fn enqueue_async(&self, event: VsmEvent) -> Result<(), OutboxError> {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || this.enqueue(&event)).await {
            Ok(result) => result,
            Err(join) => Err(OutboxError::Io {
                action: "queue an event in",
                path: self.inner.dir.clone(),
                source: std::io::Error::other(join.to_string()),
            }),
        }
    }

    /// Drops the oldest events while the outbox is full.
    fn make_room(&self) -> Result<(), OutboxError> {
        let files = self.queued_files()?;
        let max = self.inner.config.max_queued.max(1);
        if files.len() < max {
            return Ok(());
        }
        let drop = files.len() + 1 - max;
        for (_, path) in files.iter().take(drop) {
            tracing::warn!(file = %path, "JP1 outbox is full; dropping its oldest event");
            std::fs::remove_file(path).map_err(io_err("remove", path))?;
        }
        Ok(())
    }

    /// How many events are waiting.
    pub fn pending(&self) -> Result<usize, OutboxError> {
        Ok(self.queued_files()?.len())
    }

    /// The queued files, oldest first.
    fn queued_files(&self) -> Result<Vec<(u64, Utf8PathBuf)>, OutboxError> {
        let dir = &self.inner.dir;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name();
            if let Some(seq) = name.to_str().and_then(parse_seq) {
                files.push((seq, dir.join(file_name(seq))));
            }
        }
        files.sort();
        Ok(files)
    }

    /// Delivers queued events in order until the queue is empty or a delivery fails.
    pub async fn drain_once(&self) -> DrainReport {
        let _guard = self.inner.draining.lock().await;
        let mut report = DrainReport::default();
        let files = match self.queued_files() {
            Ok(f) => f,
            Err(e) => {
                report.error = Some(e);
                return report;
            }
        };
        let total = files.len();
        for (i, (_, path)) in files.iter().enumerate() {
            let event = match read_event(path).await {
                Ok(Some(e)) => e,
                Ok(None) => continue, // gone meanwhile (dropped because the outbox was full)
                Err(e) => {
                    tracing::warn!(file = %path, error = %e, "JP1 outbox: unreadable event moved to dead/");
                    if let Err(e) = self.quarantine(path) {
                        report.error = Some(e);
                        report.pending = total - i;
                        return report;
                    }
                    report.quarantined += 1;
                    continue;
                }
            };
            if let Err(e) = self.inner.channel.deliver(&event).await {
                report.error = Some(e.into());
                report.pending = total - i;
                return report;
            }
            if let Err(e) = tokio::fs::remove_file(path).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                report.error = Some(io_err("remove", path)(e));
                report.pending = total - i;
                return report;
            }
            report.delivered += 1;
        }
        report
    }

    fn quarantine(&self, path: &Utf8Path) -> Result<(), OutboxError> {
        let dead = self.inner.dir.join(DEAD_DIR);
        std::fs::create_dir_all(&dead).map_err(io_err("create", &dead))?;
        let target = dead.join(path.file_name().unwrap_or("event.json"));
        std::fs::rename(path, &target).map_err(io_err("move", path))
    }

    /// The delivery task: drains the queue whenever an event is queued (and every
    /// [`OutboxConfig::idle_poll`]), retrying failures with exponential back-off. Never returns;
    /// stop it by aborting its task (nothing is lost: undelivered events stay in the directory).
    pub async fn run_forever(&self) {
        let cfg = &self.inner.config;
        let mut backoff = cfg.initial_backoff;
        loop {
            let report = self.drain_once().await;
            if report.delivered > 0 {
                tracing::debug!(delivered = report.delivered, "JP1 events delivered");
            }
            match report.error {
                Some(e) => {
                    tracing::warn!(error = %e, source = ?std::error::Error::source(&e),
                        pending = report.pending, retry_in = ?backoff, "JP1 event delivery failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(cfg.max_backoff);
                }
                None => {
                    backoff = cfg.initial_backoff;
                    let _ = tokio::time::timeout(cfg.idle_poll, self.inner.wake.notified()).await;
                }
            }
        }
    }
}

fn file_name(seq: u64) -> String {
    format!("{seq:020}{SUFFIX}")
}

fn parse_seq(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

fn write_durably(path: &Utf8Path, body: &[u8]) -> Result<(), OutboxError> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(io_err("create", path))?;
    f.write_all(body).map_err(io_err("write", path))?;
    f.sync_all().map_err(io_err("sync", path))
}

fn sync_dir(dir: &Utf8Path) -> Result<(), OutboxError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync", dir))
}

/// Reads one queued event; `Ok(None)` if the file is gone.
async fn read_event(path: &Utf8Path) -> Result<Option<Jp1Event>, OutboxError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_file_names() {
        assert_eq!(file_name(7), "00000000000000000007.json");
        assert_eq!(parse_seq("00000000000000000007.json"), Some(7));
        assert_eq!(parse_seq("tmp-7.json"), None);
        assert_eq!(parse_seq("7.json"), None);
        assert_eq!(parse_seq("0000000000000000000x.json"), None);
    }
}
