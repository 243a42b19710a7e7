//! Leadership: whether this manager is the active one, and the election that decides it when
//! several managers share one PostgreSQL database.
//!
//! [`Leadership`] holds the current **term**: a cancellation token, a child of the shutdown
//! signal, that lives while this manager is active — every operation's token is a child of
//! it, the monitor and the host prober stop with it — and the **lead**, cancelled only when
//! the manager steps down: every step's driver work is raced against it (`OpCtx::execute`), so
//! a manager that steps down stops making driver calls at once, while a graceful stop still
//! lets the calls in flight finish. A SQLite manager begins one term at open and keeps it (one manager per store).
//!
//! On PostgreSQL, [`start_election`] runs the election on a session of its own
//! ([`ElectionSession`]): a standby tries the advisory lock and reads the
//! `leader` row every [`POLL`] (its `changes` count moves with every committed write of the
//! active one: the standby's read model is bumped by it, so its long-polls and caches follow);
//! the winner bumps the epoch, fences the store's writes on it ([`Fence`]) and reconciles as
//! after a crash ([`take_over`]). The active one runs a heartbeat query on the lock's session
//! every [`HEARTBEAT`]; a failed or late one, or the end of the session, makes it step down:
//! writes fenced, term cancelled, monitor stopped — it is a standby again.
//!
//! Polling, not LISTEN/NOTIFY: the poll is one primary-key read on the session the standby
//! holds anyway, it cannot miss a change across a reconnect (a notification sent while the
//! listener was away is gone), and the staleness it costs (≤ 250 ms) is below what a client
//! of a standby would notice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::context::EngineCtx;
use super::{recover_interrupted, spawn_heartbeat, spawn_monitor};
use crate::api::{HaStatus, ManagerRole, PeerStatus};
use crate::error::Result;
use crate::store::election::{ElectionError, ElectionSession, LeaderRow, PeerRow};
use crate::store::{Fence, PgTarget};

/// How often an active manager checks its lock's session.
pub(crate) const HEARTBEAT: Duration = Duration::from_millis(300);
/// How long that check may take before the manager steps down.
pub(crate) const HEARTBEAT_DEADLINE: Duration = Duration::from_millis(600);
/// How often a standby reads the `leader` row.
pub(crate) const POLL: Duration = Duration::from_millis(250);
/// How long a stopping active manager keeps its lock for its operations to record their ends.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often each manager writes its `peers` row.
const BEAT: Duration = Duration::from_secs(2);

/// What a standby knows of the election.
#[derive(Debug, Clone, Default)]
struct View {
    active: bool,
    epoch: i64,
    name: String,
    url: Option<String>,
    leader: Option<LeaderRow>,
    peers: Vec<PeerRow>,
}

/// Whether this manager is the active one, and its term.
pub(crate) struct Leadership {
    /// Several managers may share the store (PostgreSQL): the election decides.
    elected: bool,
    /// The term (a child of the shutdown signal) and the lead (cancelled only when this
    /// manager steps down, not when it shuts down: a graceful stop lets driver calls finish).
    term: Mutex<(CancellationToken, CancellationToken)>,
    view: Mutex<View>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Leadership {
    /// Not active yet; `elected`: on PostgreSQL, where an election decides.
    pub(crate) fn new(elected: bool) -> Leadership {
        let (term, lead) = (CancellationToken::new(), CancellationToken::new());
        term.cancel();
        lead.cancel();
        Leadership {
            elected,
            term: Mutex::new((term, lead)),
            view: Mutex::new(View::default()),
        }
    }

    /// The current term: cancelled when this manager steps down or shuts down (operations'
    /// tokens, the monitor and the prober hang off it).
    pub(crate) fn term(&self) -> CancellationToken {
        lock(&self.term).0.clone()
    }

    /// The current lead: cancelled only when this manager steps down; driver work races it.
    pub(crate) fn lead(&self) -> CancellationToken {
        lock(&self.term).1.clone()
    }

    /// Whether this manager is the active one now.
    pub(crate) fn is_active(&self) -> bool {
        !lock(&self.term).1.is_cancelled()
    }

    /// Begins a term under `epoch` (a child of `shutdown`).
    fn begin(&self, shutdown: &CancellationToken, epoch: i64) -> CancellationToken {
        let term = shutdown.child_token();
        *lock(&self.term) = (term.clone(), CancellationToken::new());
        let mut v = lock(&self.view);
        v.active = true;
        v.epoch = epoch;
        term
    }

    /// Ends the term: operations, the monitor and driver work stop.
    fn end(&self) {
        let t = lock(&self.term);
        t.1.cancel();
        t.0.cancel();
        drop(t);
        lock(&self.view).active = false;
    }

    /// Sets this manager's name and advertised URL.
    pub(crate) fn identify(&self, name: String, url: Option<String>) {
        let mut v = lock(&self.view);
        v.name = name;
        if url.is_some() {
            v.url = url;
        }
    }

    /// Sets this manager's advertised URL (known once its service listens).
    pub(crate) fn advertise(&self, url: String) {
        lock(&self.view).url = Some(url);
    }

    fn url(&self) -> Option<String> {
        lock(&self.view).url.clone()
    }

    /// The active manager's URL, as far as this manager knows.
    pub(crate) fn active_url(&self) -> Option<String> {
        let v = lock(&self.view);
        if v.active {
            return v.url.clone();
        }
        v.leader.as_ref().and_then(|l| l.url.clone())
    }

    /// The epoch this manager knows (its own while active).
    pub(crate) fn epoch(&self) -> i64 {
        let v = lock(&self.view);
        if v.active {
            v.epoch
        } else {
            v.leader.as_ref().map_or(v.epoch, |l| l.epoch.max(v.epoch))
        }
    }

    /// The status (none on SQLite, where there is no election).
    pub(crate) fn status(&self) -> Option<HaStatus> {
        if !self.elected {
            return None;
        }
        let epoch = self.epoch();
        let v = lock(&self.view);
        let (active, active_url, since) = match (&v.leader, v.active) {
            (_, true) => (
                Some(v.name.clone()),
                v.url.clone(),
                v.leader.as_ref().and_then(|l| l.since),
            ),
            (Some(l), false) if l.epoch > 0 => (l.holder.clone(), l.url.clone(), l.since),
            _ => (None, None, None),
        };
        Some(HaStatus {
            role: if v.active {
                ManagerRole::Active
            } else {
                ManagerRole::Standby
            },
            epoch,
            name: v.name.clone(),
            url: v.url.clone(),
            active,
            active_url,
            since,
            peers: v
                .peers
                .iter()
                .map(|p| PeerStatus {
                    name: p.name.clone(),
                    url: p.url.clone(),
                    role: if p.role == "active" {
                        ManagerRole::Active
                    } else {
                        ManagerRole::Standby
                    },
                    epoch: p.epoch,
                    seen_at: p.seen_at,
                })
                .collect(),
        })
    }
}

/// Becomes the active manager under `epoch`: begins a term, then reconciles exactly as after
/// a crash — the host pool connected again, operations left running marked interrupted,
/// every server checked against its driver — and starts the monitor (when `monitor`).
pub(crate) async fn take_over(engine: &Arc<EngineCtx>, epoch: i64, monitor: bool) -> Result<()> {
    let term = engine.leadership.begin(&engine.shutdown, epoch);
    if engine.leadership.elected {
        // The shared definition store's temporaries: an import of the deposed manager cannot
        // commit any more (its writes are fenced).
        let definitions = engine.definitions().to_owned();
        tokio::task::spawn_blocking(move || super::definitions::remove_temporaries(&definitions))
            .await
            .map_err(|e| crate::error::Error::failed("cleanup task failed", e))?;
    }
    let max = engine.db(|s| s.max_operation_id()).await?;
    engine.ops.advance_to(max + 1);
    engine.open_pool().await?;
    recover_interrupted(engine).await?;
    if let Some(purge) = engine.journal_purge(engine.now())
        && let Err(e) = engine.write(vec![purge]).await
    {
        tracing::warn!(error = %e, "cannot purge old step journals");
    }
    if monitor {
        spawn_monitor(engine, term.clone());
        spawn_heartbeat(engine, term);
    }
    if engine.leadership.elected {
        // What this manager showed as a standby may be older than what it reads now.
        engine.revisions.touch_all();
    }
    Ok(())
}

/// What the election needs.
pub(crate) struct ElectionConfig {
    /// The database.
    pub(crate) target: PgTarget,
    /// The store's fence.
    pub(crate) fence: Arc<Fence>,
    /// This manager's name (host and state directory).
    pub(crate) name: String,
    /// Whether the monitor runs while active.
    pub(crate) monitor: bool,
}

struct Elector {
    engine: Arc<EngineCtx>,
    cfg: ElectionConfig,
    session: Option<ElectionSession>,
    /// The `changes` count last seen.
    changes: Option<i64>,
    beat_at: Option<tokio::time::Instant>,
    /// The URL written into the `leader` row.
    url_written: Option<String>,
}

/// Starts the election: connects its session (refusing a pooler), tries the lock once — so a
/// lone manager is active when this returns — and runs the rest in the background until the
/// manager shuts down.
pub(crate) async fn start_election(
    engine: &Arc<EngineCtx>,
    cfg: ElectionConfig,
) -> std::result::Result<(), ElectionError> {
    let session = ElectionSession::connect(&cfg.target).await?;
    let mut e = Elector {
        engine: engine.clone(),
        cfg,
        session: Some(session),
        changes: None,
        beat_at: None,
        url_written: None,
    };
    if let Err(err) = e.standby_round().await {
        e.session = None;
        return Err(err);
    }
    tokio::spawn(e.run());
    Ok(())
}

impl Elector {
    async fn run(mut self) {
        let shutdown = self.engine.shutdown.clone();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let usable = self
                .session
                .as_ref()
                .is_some_and(|s| !s.lost().is_cancelled());
            if !usable {
                self.step_down("its session to PostgreSQL ended");
                self.session = None;
                match ElectionSession::connect(&self.cfg.target).await {
                    Ok(s) => self.session = Some(s),
                    Err(e) => {
                        tracing::warn!(error = %crate::error::error_chain(&e), "the election cannot reach PostgreSQL; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                        continue;
                    }
                }
            }
            if self.engine.leadership.is_active() {
                let Some(lost) = self.session.as_ref().map(ElectionSession::lost) else {
                    continue;
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = lost.cancelled() => continue,
                    _ = tokio::time::sleep(HEARTBEAT) => {}
                }
                if let Err(e) = self.active_round().await {
                    self.step_down(&format!(
                        "its heartbeat on the lock's session failed: {}",
                        crate::error::error_chain(&e)
                    ));
                    self.session = None;
                }
            } else {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(POLL) => {}
                }
                if let Err(e) = self.standby_round().await {
                    match &e {
                        ElectionError::Pooled { .. } => {
                            tracing::error!(error = %e, "the election refuses this session")
                        }
                        _ => {
                            tracing::warn!(error = %crate::error::error_chain(&e), "election round failed")
                        }
                    }
                    self.session = None;
                }
            }
        }
        // Shutting down: the operations cancelled by the shutdown record their ends under
        // this manager's epoch first (as `Manager::shutdown` waits for them); then the session
        // ends with this task, which releases the lock for a standby.
        if self.cfg.fence.epoch().is_some() {
            let grace = tokio::time::Instant::now() + SHUTDOWN_GRACE;
            self.engine.ops.wait_idle(grace).await;
        }
        self.cfg.fence.release();
    }

    async fn active_round(&mut self) -> std::result::Result<(), ElectionError> {
        let Some(s) = &self.session else {
            return Ok(());
        };
        s.ping(HEARTBEAT_DEADLINE).await?;
        let url = self.engine.leadership.url();
        if let (Some(url), Some(epoch)) = (&url, self.cfg.fence.epoch())
            && self.url_written.as_ref() != Some(url)
        {
            s.set_url(epoch, url).await?;
            self.url_written = Some(url.clone());
        }
        self.beat().await
    }

    /// One round of a standby: reads the `leader` row (bumping the read model when the
    /// active one wrote), tries the lock, and takes over when it wins.
    async fn standby_round(&mut self) -> std::result::Result<(), ElectionError> {
        let Some(s) = &self.session else {
            return Ok(());
        };
        let row = s.leader().await?;
        if self.changes != Some(row.changes) {
            if self.changes.is_some() {
                self.engine.revisions.touch_all();
            }
            self.changes = Some(row.changes);
        }
        lock(&self.engine.leadership.view).leader = Some(row);
        if s.try_lock().await? {
            let url = self.engine.leadership.url();
            let epoch = s
                .take_over(&self.cfg.name, url.as_deref(), self.engine.now())
                .await?;
            self.url_written = url;
            self.cfg.fence.hold(epoch);
            tracing::info!(epoch, "this manager took over: it is the active one");
            if let Err(e) = take_over(&self.engine, epoch, self.cfg.monitor).await {
                tracing::error!(error = %crate::error::error_chain(&e), "the takeover failed; stepping down");
                self.step_down("its takeover failed");
                // Dropping the session releases the lock for another manager.
                self.session = None;
                return Ok(());
            }
            if let Some(s) = &self.session {
                let row = s.leader().await?;
                self.changes = Some(row.changes);
                lock(&self.engine.leadership.view).leader = Some(row);
            }
            self.beat_at = None;
        }
        self.beat().await
    }

    /// Writes this manager's `peers` row and reads them all, every [`BEAT`].
    async fn beat(&mut self) -> std::result::Result<(), ElectionError> {
        let now = tokio::time::Instant::now();
        if self.beat_at.is_some_and(|at| now < at) {
            return Ok(());
        }
        self.beat_at = Some(now + BEAT);
        let Some(s) = &self.session else {
            return Ok(());
        };
        let leadership = &self.engine.leadership;
        let active = leadership.is_active();
        s.beat(&PeerRow {
            name: self.cfg.name.clone(),
            url: leadership.url(),
            role: if active { "active" } else { "standby" }.to_owned(),
            epoch: leadership.epoch(),
            seen_at: self.engine.now(),
        })
        .await?;
        let peers = s.peers().await?;
        lock(&leadership.view).peers = peers;
        Ok(())
    }

    /// Stops being the active one (nothing when it is not): the store's writes are fenced
    /// first, then the term ends (operations' driver work, the monitor and the prober stop).
    fn step_down(&mut self, why: &str) {
        if !self.engine.leadership.is_active() {
            return;
        }
        self.cfg.fence.release();
        self.engine.leadership.end();
        tracing::warn!(
            "this manager steps down ({why}); it is a standby now and its running operations \
             are left to the next active manager"
        );
        self.url_written = None;
        self.engine.revisions.touch_all();
    }
}
