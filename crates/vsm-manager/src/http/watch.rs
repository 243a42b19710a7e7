//! A unit's watch stream, `GET /api/v1/units/{unit}/events` (server-sent events, docs/api.md):
//! a `snapshot` of the unit's view, then batched `delta`s, each with `id: r<instance>-<revision>`
//! (the unit's `ETag` without its quotes), resumable with `Last-Event-ID`.
//!
//! Each watched unit has one [`Feed`] per manager process: the newest view it was told of and a
//! bounded buffer of the deltas between the views it saw, each delta computed and encoded once
//! for every subscriber. A subscriber is only a position in that buffer (no queue of its own):
//! it sends the buffered deltas after its position, and when it has caught up it waits for the
//! unit's revision to move, reads the view again (at once after a quiet spell, else
//! [`COALESCE`] after its last read, so a burst of changes makes one delta) through
//! [`crate::Manager::unit_view`] — which authorizes the caller every time, so a caller who lost
//! the unit (`chown`) gets an `error` event and the stream ends — and advances the feed with it.
//! A subscriber never sends a delta past the newest revision it was authorized at. A position
//! the buffer no longer holds (a slow reader, a resume from long ago or from another manager
//! process) gets a `resync` event and a fresh `snapshot`.
//!
//! The feeds live in a registry per manager process (its [`Revisions`]); a feed nobody watched
//! for [`IDLE`] is dropped, and a deleted unit's feed at once. This module holds no policy.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::time::Instant;
use vsm_core::UnitName;

use super::api::{UnitDeleted, WatchResync, unit_sse};
use super::conditional::parse_wait;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::api::{Actor, UnitDetail};
use crate::revision::{Revisions, Scope};
use crate::watch_delta::diff;

/// How long changes gather before a delta is made of them.
pub(crate) const COALESCE: Duration = Duration::from_millis(50);

/// The heartbeat interval when the caller names none.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(15);

/// The shortest and the longest heartbeat interval a caller may ask for.
const HEARTBEAT_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// The most deltas a feed keeps for resuming.
pub(crate) const MAX_DELTAS: usize = 256;

/// The most bytes of encoded deltas a feed keeps (a unit of 10,000 servers changing every row
/// takes about 4 MB a delta: resuming across a few of those needs a resync).
const MAX_BYTES: usize = 8 << 20;

/// How long a feed nobody watches is kept for clients that come back.
const IDLE: Duration = Duration::from_secs(600);

/// The query of the watch stream.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WatchQuery {
    /// The heartbeat interval: `15s`, `15`, `500ms`, `1m` (1 s to 60 s).
    #[serde(default)]
    heartbeat: Option<String>,
}

impl WatchQuery {
    fn heartbeat(&self) -> Result<Duration, ApiError> {
        match &self.heartbeat {
            None => Ok(HEARTBEAT),
            Some(text) => parse_wait(text)
                .map(|d| d.clamp(HEARTBEAT_RANGE.0, HEARTBEAT_RANGE.1))
                .ok_or_else(|| {
                    ApiError::invalid_request(format!(
                        "heartbeat {text:?} is not a duration: give seconds (`15`, `15s`), `500ms` or `1m`"
                    ))
                }),
        }
    }
}

/// One delta of a feed: from revision `base` to `rev`.
#[derive(Debug)]
struct Entry {
    base: u64,
    rev: u64,
    /// The delta's JSON; `None` when nothing the view shows changed.
    data: Option<Arc<str>>,
}

/// The deltas of one unit's view, shared by its subscribers.
#[derive(Debug)]
struct Feed {
    /// The revision of the newest view.
    rev: u64,
    /// The newest view (what the next delta is made from).
    detail: UnitDetail,
    /// Consecutive deltas (each one's `base` is the previous one's `rev`), oldest first; the
    /// last one's `rev` is [`Feed::rev`].
    entries: VecDeque<Entry>,
    /// The bytes of the entries' JSON.
    bytes: usize,
    subscribers: usize,
    /// When the last subscriber left.
    idle_since: Instant,
}

impl Feed {
    fn new(rev: u64, detail: UnitDetail) -> Feed {
        Feed {
            rev,
            detail,
            entries: VecDeque::new(),
            bytes: 0,
            subscribers: 0,
            idle_since: Instant::now(),
        }
    }

    /// Takes the view at `rev` when it is newer: buffers the delta to it.
    fn advance(&mut self, rev: u64, detail: &UnitDetail) {
        if rev <= self.rev {
            return;
        }
        let delta = diff(&self.detail, detail);
        let data = if delta.is_empty() {
            None
        } else {
            match serde_json::to_string(&delta) {
                Ok(json) => Some(Arc::<str>::from(json)),
                Err(e) => {
                    // Cannot happen for these types; if it did, whoever is behind resyncs.
                    tracing::error!(unit = %detail.name, error = %e, "cannot encode a unit's delta");
                    self.entries.clear();
                    self.bytes = 0;
                    self.rev = rev;
                    self.detail = detail.clone();
                    return;
                }
            }
        };
        self.bytes += data.as_ref().map_or(0, |d| d.len());
        self.entries.push_back(Entry {
            base: self.rev,
            rev,
            data,
        });
        self.rev = rev;
        self.detail = detail.clone();
        while self.entries.len() > MAX_DELTAS || self.bytes > MAX_BYTES {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.data.as_ref().map_or(0, |d| d.len()),
                None => break,
            }
        }
    }

    /// The delta that follows revision `pos`.
    fn after(&self, pos: u64) -> Option<&Entry> {
        let i = self.entries.partition_point(|e| e.base < pos);
        self.entries.get(i).filter(|e| e.base == pos)
    }

    /// Whether a client at revision `pos` can be brought up to date from here.
    fn holds(&self, pos: u64) -> bool {
        pos == self.rev || self.after(pos).is_some()
    }
}

type Shared = Arc<Mutex<Feed>>;

/// One manager process's feeds, by unit.
type Feeds = HashMap<UnitName, Shared>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The feeds of every manager process of this program (one, outside tests), by unit.
static REGISTRY: Mutex<Vec<(Weak<Revisions>, Feeds)>> = Mutex::new(Vec::new());

/// The feeds of the manager whose revisions are `revisions`; drops those of managers gone and
/// the feeds idle for longer than [`IDLE`].
fn with_feeds<T>(revisions: &Arc<Revisions>, f: impl FnOnce(&mut Feeds) -> T) -> T {
    let mut registry = lock(&REGISTRY);
    registry.retain(|(r, _)| r.strong_count() > 0);
    let i = match registry
        .iter()
        .position(|(r, _)| std::ptr::eq(r.as_ptr(), Arc::as_ptr(revisions)))
    {
        Some(i) => i,
        None => {
            registry.push((Arc::downgrade(revisions), HashMap::new()));
            registry.len() - 1
        }
    };
    let feeds = &mut registry[i].1;
    feeds.retain(|_, feed| {
        let feed = lock(feed);
        feed.subscribers > 0 || feed.idle_since.elapsed() < IDLE
    });
    f(feeds)
}

/// A subscriber's hold on a feed: counted while it lives.
struct Subscription {
    feed: Shared,
}

impl Subscription {
    fn new(revisions: &Arc<Revisions>, unit: &UnitName, rev: u64, detail: &UnitDetail) -> Self {
        let feed = with_feeds(revisions, |feeds| {
            feeds
                .entry(unit.clone())
                .or_insert_with(|| Arc::new(Mutex::new(Feed::new(rev, detail.clone()))))
                .clone()
        });
        lock(&feed).subscribers += 1;
        Subscription { feed }
    }

    fn feed(&self) -> MutexGuard<'_, Feed> {
        lock(&self.feed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut feed = self.feed();
        feed.subscribers = feed.subscribers.saturating_sub(1);
        if feed.subscribers == 0 {
            feed.idle_since = Instant::now();
        }
    }
}

/// Forgets a deleted unit's feed (when it is still `feed`).
fn forget(revisions: &Arc<Revisions>, unit: &UnitName, feed: &Shared) {
    with_feeds(revisions, |feeds| {
        if feeds.get(unit).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            feeds.remove(unit);
        }
    });
}

/// The event id of revision `rev`: the unit's `ETag` at it, without the quotes.
fn event_id(revisions: &Revisions, rev: u64) -> String {
    revisions.etag(rev).trim_matches('"').to_owned()
}

/// The revision an event id of this manager process names, if it is one.
fn parse_event_id(revisions: &Revisions, id: &str) -> Option<u64> {
    let (_, rev) = id.trim().rsplit_once('-')?;
    let rev: u64 = rev.parse().ok()?;
    (event_id(revisions, rev) == id.trim()).then_some(rev)
}

fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|_| Event::default().event(name).data("null"))
}

/// Why a read of the view ended the stream.
enum Stop {
    /// With this last event.
    With(Event),
    /// Without one (the server shuts down).
    Closing,
}

/// One subscriber: where its client is and how far it may be brought.
struct Watcher {
    st: AppState,
    revisions: Arc<Revisions>,
    actor: Actor,
    unit: UnitName,
    sub: Subscription,
    /// The revision the client holds; `None` until it gets a snapshot.
    pos: Option<u64>,
    /// The newest revision the caller was authorized at: no delta past it is sent.
    allowed: u64,
    /// A `resync` to send before the next snapshot.
    resync: Option<&'static str>,
    heartbeat: Duration,
    next_beat: Instant,
    /// When the view was last read after a change: the next read waits until
    /// [`COALESCE`] after it (a change after a quiet spell is read at once, a burst of
    /// changes makes one delta per [`COALESCE`]).
    last_read: Option<Instant>,
    done: bool,
}

/// `GET /api/v1/units/{unit}/events`: authorizes the caller (refusals are answered as usual,
/// before any event), then streams.
pub(crate) async fn events(
    st: AppState,
    actor: Actor,
    unit: UnitName,
    headers: &HeaderMap,
    q: &WatchQuery,
) -> Result<Response, ApiError> {
    let heartbeat = q.heartbeat()?;
    let view = st.manager.unit_view(&actor, &unit).await?;
    let revisions = st.manager.revisions().clone();
    let sub = Subscription::new(&revisions, &unit, view.rev, &view.detail);
    sub.feed().advance(view.rev, &view.detail);
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let (pos, resync) = match last {
        None => (None, None),
        Some(id) => match parse_event_id(&revisions, id) {
            Some(rev) if sub.feed().holds(rev) => (Some(rev), None),
            Some(_) => (None, Some("gone")),
            None => (None, Some("unknown")),
        },
    };
    let watcher = Watcher {
        st,
        revisions,
        actor,
        unit,
        sub,
        pos,
        allowed: view.rev,
        resync,
        heartbeat,
        next_beat: Instant::now() + heartbeat,
        last_read: None,
        done: false,
    };
    let stream = futures::stream::unfold(watcher, |mut w| async move {
        let event = w.next().await?;
        w.next_beat = Instant::now() + w.heartbeat;
        Some((Ok::<_, Infallible>(event), w))
    });
    Ok(Sse::new(stream).into_response())
}

/// What to do next, decided under the feed's lock.
enum Step {
    /// Send the delta to `rev` (`None`: an empty one, only move on).
    Send(u64, Option<Arc<str>>),
    /// The feed has what comes next, past what the caller was authorized at.
    Authorize,
    /// Up to date.
    Wait,
    /// The position is not in the buffer any more.
    Gone,
}

impl Watcher {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            if let Some(reason) = self.resync.take() {
                self.pos = None;
                return Some(json_event(
                    unit_sse::RESYNC,
                    &WatchResync {
                        reason: reason.to_owned(),
                    },
                ));
            }
            let Some(pos) = self.pos else {
                match self.read().await {
                    Ok((rev, json)) => {
                        if !self.sub.feed().holds(rev) {
                            // A newer view reached the feed meanwhile: read that one.
                            continue;
                        }
                        self.pos = Some(rev);
                        let data = String::from_utf8_lossy(&json);
                        return Some(
                            Event::default()
                                .event(unit_sse::SNAPSHOT)
                                .id(event_id(&self.revisions, rev))
                                .data(data),
                        );
                    }
                    Err(stop) => return self.stop(stop),
                }
            };
            let step = {
                let feed = self.sub.feed();
                match feed.after(pos) {
                    Some(e) if e.rev <= self.allowed => Step::Send(e.rev, e.data.clone()),
                    Some(_) => Step::Authorize,
                    None if pos == feed.rev => Step::Wait,
                    None => Step::Gone,
                }
            };
            match step {
                Step::Send(rev, None) => self.pos = Some(rev),
                Step::Send(rev, Some(data)) => {
                    self.pos = Some(rev);
                    return Some(
                        Event::default()
                            .event(unit_sse::DELTA)
                            .id(event_id(&self.revisions, rev))
                            .data(&*data),
                    );
                }
                Step::Gone => self.resync = Some("gone"),
                Step::Authorize => {
                    if let Err(stop) = self.refresh().await {
                        return self.stop(stop);
                    }
                }
                Step::Wait => {
                    if self.revisions.unit(&self.unit) > self.allowed {
                        if let Err(stop) = self.refresh().await {
                            return self.stop(stop);
                        }
                        continue;
                    }
                    let scope = Scope::Unit(self.unit.clone());
                    tokio::select! {
                        rev = self.revisions.wait_past(&scope, self.allowed, self.next_beat) => {
                            if rev <= self.allowed {
                                return Some(Event::default().event(unit_sse::HEARTBEAT).data("{}"));
                            }
                        }
                        () = self.st.closing.cancelled() => return self.stop(Stop::Closing),
                    }
                }
            }
        }
    }

    /// Reads the view again (authorizing the caller) into the feed: at once after a quiet
    /// spell, else once [`COALESCE`] has passed since the last read, so that the changes of
    /// a burst gather into one delta.
    async fn refresh(&mut self) -> Result<(), Stop> {
        if let Some(last) = self.last_read {
            tokio::select! {
                () = tokio::time::sleep_until(last + COALESCE) => {}
                () = self.st.closing.cancelled() => return Err(Stop::Closing),
            }
        }
        self.last_read = Some(Instant::now());
        self.read().await.map(drop)
    }

    /// Reads the unit's view as the caller (authorizing it), advances the feed with it and
    /// returns its revision and JSON.
    async fn read(&mut self) -> Result<(u64, axum::body::Bytes), Stop> {
        let view = tokio::select! {
            v = self.st.manager.unit_view(&self.actor, &self.unit) => v,
            () = self.st.closing.cancelled() => return Err(Stop::Closing),
        };
        match view {
            Ok(view) => {
                self.sub.feed().advance(view.rev, &view.detail);
                self.allowed = self.allowed.max(view.rev);
                Ok((view.rev, view.json()))
            }
            Err(e) if e.kind() == crate::ErrorKind::NotFound => {
                forget(&self.revisions, &self.unit, &self.sub.feed);
                Err(Stop::With(json_event(
                    unit_sse::DELETED,
                    &UnitDeleted {
                        unit: self.unit.clone(),
                    },
                )))
            }
            Err(e) => Err(Stop::With(json_event(
                unit_sse::ERROR,
                &ErrorBody {
                    error: ApiError::from(e),
                },
            ))),
        }
    }

    fn stop(&mut self, stop: Stop) -> Option<Event> {
        self.done = true;
        match stop {
            Stop::With(event) => Some(event),
            Stop::Closing => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(owner: &str) -> UnitDetail {
        UnitDetail {
            name: UnitName::new("shop").expect("unit"),
            owner: vsm_core::AccountName::new(owner).expect("account"),
            created_at: vsm_core::Timestamp::EPOCH,
            definition_status: vsm_core::model::DefinitionStatus::Unchanged,
            current_version: None,
            versions: Vec::new(),
            counts: vsm_core::model::ServerCounts::default(),
            groups: Vec::new(),
            busy_with: None,
            last_operations: Vec::new(),
        }
    }

    #[test]
    fn a_feed_chains_deltas_and_forgets_the_oldest() {
        let mut feed = Feed::new(3, detail("bob"));
        feed.advance(2, &detail("carol"));
        assert_eq!(feed.rev, 3, "an older view is ignored");
        feed.advance(5, &detail("bob"));
        assert_eq!(feed.entries.len(), 1);
        assert!(feed.after(5).is_none() && feed.holds(5));
        assert!(
            feed.after(3)
                .is_some_and(|e| e.rev == 5 && e.data.is_none())
        );
        feed.advance(6, &detail("carol"));
        let e = feed.after(5).expect("5 -> 6");
        assert_eq!(e.data.as_deref(), Some(r#"{"owner":"carol"}"#));
        for i in 0..(MAX_DELTAS as u64 + 10) {
            let owner = if i % 2 == 0 { "bob" } else { "carol" };
            feed.advance(7 + i, &detail(owner));
        }
        assert_eq!(feed.entries.len(), MAX_DELTAS);
        assert!(!feed.holds(3) && !feed.holds(6), "forgotten");
        assert!(feed.holds(feed.rev) && feed.holds(feed.rev - 1));
        assert!(!feed.holds(feed.rev + 1), "a revision not seen yet");
    }

    #[test]
    fn event_ids_name_this_process_and_a_revision() {
        let r = Revisions::new(0xabc);
        let id = event_id(&r, 42);
        assert_eq!(id, "r0000000000000abc-42");
        assert_eq!(parse_event_id(&r, &id), Some(42));
        assert_eq!(parse_event_id(&r, " r0000000000000abc-7 "), Some(7));
        let other = Revisions::new(0xabd);
        assert_eq!(parse_event_id(&other, &id), None, "another process");
        for junk in [
            "",
            "42",
            "r-1",
            "r0000000000000abc-x",
            "r0000000000000abc--1",
        ] {
            assert_eq!(parse_event_id(&r, junk), None, "{junk:?}");
        }
    }

    #[test]
    fn heartbeats_are_bounded() {
        let q = |h: &str| WatchQuery {
            heartbeat: Some(h.to_owned()),
        };
        assert_eq!(WatchQuery::default().heartbeat().ok(), Some(HEARTBEAT));
        assert_eq!(q("2s").heartbeat().ok(), Some(Duration::from_secs(2)));
        assert_eq!(q("10ms").heartbeat().ok(), Some(HEARTBEAT_RANGE.0));
        assert_eq!(q("5m").heartbeat().ok(), Some(HEARTBEAT_RANGE.1));
        assert!(q("often").heartbeat().is_err());
    }
}
