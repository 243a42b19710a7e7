//! The election's PostgreSQL session (`ElectionSession`): all SQL of the active/standby
//! election of several managers on one database.
//!
//! The active manager holds a session-level advisory lock (`ELECTION_LOCK`) on a dedicated,
//! unpooled connection of its own — not the store's — and bumps the `leader` row's epoch when
//! it takes over; the store's writes are fenced on that epoch (`Fence` in `pg.rs`). The
//! session is async and runs on the caller's runtime (the manager's): unlike the store it is
//! never called from blocking code. Its connection task cancels `ElectionSession::lost`
//! when the server ends the session, so a terminated backend is noticed at once; a silent
//! network is noticed by the caller's heartbeat query on a deadline.
//!
//! A transaction-mode pooler (PgBouncer, …) silently drops session locks: `ElectionSession::connect`
//! refuses a session whose backend changes between queries or also answers a second
//! connection of its own (which no backend does without a pooler), and `ElectionSession::try_lock`
//! refuses a lock that `pg_locks` does not show held by the session's own backend.
//!
//! Must not: be used by the store's calls, put the URL or password into an error or a log.

use std::time::Duration;

use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;
use vsm_core::Timestamp;

use super::{PgStore, PgTarget, StoreError};

/// The advisory lock the active manager holds (`"vsm_lea"`); the migrations' lock is another.
pub(crate) const ELECTION_LOCK: i64 = 0x0076_736d_5f6c_6561;

/// How long one election query may take.
pub(crate) const QUERY_DEADLINE: Duration = Duration::from_secs(5);

/// Why the election session cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ElectionError {
    /// The database failed or did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session is not a plain PostgreSQL session but goes through a pooler.
    #[error(
        "the PostgreSQL session of the election is not stable ({why}): the store URL seems to go \
         through a transaction-mode connection pooler (PgBouncer, pgcat, …), which silently drops \
         session-level advisory locks, so two managers could both believe they are active; point \
         `store` at PostgreSQL itself (or at a pooler in session mode)"
    )]
    Pooled {
        /// What was seen.
        why: String,
    },
}

impl From<tokio_postgres::Error> for ElectionError {
    fn from(e: tokio_postgres::Error) -> Self {
        ElectionError::Store(StoreError::Postgres(e))
    }
}

/// The `leader` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaderRow {
    /// The epoch: bumped by every takeover (0: nobody ever led).
    pub(crate) epoch: i64,
    /// The active manager's name.
    pub(crate) holder: Option<String>,
    /// The active manager's advertised URL.
    pub(crate) url: Option<String>,
    /// When it took over.
    pub(crate) since: Option<Timestamp>,
    /// Committed writes so far (standbys poll it to see the active's writes).
    pub(crate) changes: i64,
}

/// One `peers` row: a manager of the database and when it last said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerRow {
    /// Its name (host and state directory).
    pub(crate) name: String,
    /// Its advertised URL.
    pub(crate) url: Option<String>,
    /// `active` or `standby`.
    pub(crate) role: String,
    /// The epoch it knew.
    pub(crate) epoch: i64,
    /// When it last wrote its row.
    pub(crate) seen_at: Timestamp,
}

/// The election's own session.
pub(crate) struct ElectionSession {
    client: Client,
    lost: CancellationToken,
    pid: i32,
}

impl Drop for ElectionSession {
    fn drop(&mut self) {
        // The connection task ends with the client; say so to whoever watches.
        self.lost.cancel();
    }
}

async fn on_deadline<T>(
    what: &'static str,
    after: Duration,
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(after, fut).await {
        Ok(r) => r.map_err(StoreError::Postgres),
        Err(_) => Err(StoreError::PostgresTimeout { what, after }),
    }
}

/// A new session to `target`'s database (TLS as its URL asks), driven on the caller's runtime;
/// the token is cancelled when the session ends.
async fn session_of(target: &PgTarget) -> Result<(Client, CancellationToken), StoreError> {
    let config = PgStore::session_config(target)?;
    let tls = target.connector()?;
    let connect_deadline = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(10));
    let (client, connection) =
        on_deadline("connecting", connect_deadline, config.connect(tls)).await?;
    let lost = CancellationToken::new();
    let signal = lost.clone();
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "an election PostgreSQL session ended");
        }
        signal.cancel();
    });
    Ok((client, lost))
}

impl ElectionSession {
    /// Connects a session of its own to `target`'s database and checks that it is a plain,
    /// unpooled session (the same backend answers twice).
    pub(crate) async fn connect(target: &PgTarget) -> Result<ElectionSession, ElectionError> {
        let (client, lost) = session_of(target).await?;
        let mut session = ElectionSession {
            client,
            lost,
            pid: 0,
        };
        let first = session.backend_pid().await?;
        let second = session.backend_pid().await?;
        if first != second {
            return Err(ElectionError::Pooled {
                why: format!("two queries were answered by backends {first} and {second}"),
            });
        }
        session.pid = first;
        session.check_not_shared(target).await?;
        Ok(session)
    }

    /// Refuses a session whose backend also answers another connection: without a pooler two
    /// connections never share a backend, while a transaction-mode pooler hands an idle server
    /// connection — most often the one this session just released — to the next client. A
    /// second connection asks for its backend a few times, interleaved with this session.
    async fn check_not_shared(&self, target: &PgTarget) -> Result<(), ElectionError> {
        let (probe, _probe_lost) = session_of(target).await?;
        let mut result = Ok(());
        for _ in 0..3 {
            let mine = self.backend_pid().await?;
            let row = on_deadline(
                "the election",
                QUERY_DEADLINE,
                probe.query_one("SELECT pg_backend_pid()", &[]),
            )
            .await?;
            let other: i32 = row.try_get(0)?;
            if mine != self.pid || other == mine {
                result = Err(ElectionError::Pooled {
                    why: if mine != self.pid {
                        format!(
                            "the session was answered by backend {} and then by backend {mine}",
                            self.pid
                        )
                    } else {
                        format!("two connections were answered by the same backend {mine}")
                    },
                });
                break;
            }
        }
        // Dropping the probe's client ends its connection task.
        drop(probe);
        result
    }

    async fn backend_pid(&self) -> Result<i32, StoreError> {
        let row = on_deadline(
            "the election",
            QUERY_DEADLINE,
            self.client.query_one("SELECT pg_backend_pid()", &[]),
        )
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Cancelled when the server ended the session (or it was dropped).
    pub(crate) fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Tries the election lock; `true` when this session holds it now (verified in
    /// `pg_locks` as held by this session's own backend).
    pub(crate) async fn try_lock(&self) -> Result<bool, ElectionError> {
        let got: bool = on_deadline(
            "the election",
            QUERY_DEADLINE,
            self.client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&ELECTION_LOCK]),
        )
        .await?
        .try_get(0)?;
        if !got {
            return Ok(false);
        }
        let row = on_deadline(
            "the election",
            QUERY_DEADLINE,
            self.client.query_one(
                "SELECT pg_backend_pid(), EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
                 AND granted AND pid = pg_backend_pid() AND objsubid = 1 \
                 AND ((classid::bigint << 32) | objid::bigint) = $1)",
                &[&ELECTION_LOCK],
            ),
        )
        .await?;
        let pid: i32 = row.try_get(0)?;
        let held: bool = row.try_get(1)?;
        if pid != self.pid || !held {
            return Err(ElectionError::Pooled {
                why: if pid != self.pid {
                    format!(
                        "the lock was taken on backend {} but checked on backend {pid}",
                        self.pid
                    )
                } else {
                    "the lock just taken is not held by the session's backend".to_owned()
                },
            });
        }
        Ok(true)
    }

    /// Takes over: bumps the epoch and names this manager; the new epoch.
    pub(crate) async fn take_over(
        &self,
        holder: &str,
        url: Option<&str>,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let row = on_deadline(
            "the election",
            QUERY_DEADLINE,
            self.client.query_one(
                "UPDATE leader SET epoch = epoch + 1, holder = $1, url = $2, since = $3 RETURNING epoch",
                &[&holder, &url, &now.as_millis()],
            ),
        )
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Updates the advertised URL of the leader of `epoch` (when it became known later).
    pub(crate) async fn set_url(&self, epoch: i64, url: &str) -> Result<(), StoreError> {
        on_deadline(
            "the election",
            QUERY_DEADLINE,
            self.client.execute(
                "UPDATE leader SET url = $2 WHERE epoch = $1",
                &[&epoch, &url],
            ),
        )
        .await?;
        Ok(())
    }

    /// The heartbeat of an active manager: a trivial query on the lock's session within
    /// `deadline`.
    pub(crate) async fn ping(&self, deadline: Duration) -> Result<(), StoreError> {
        on_deadline(
            "the election's heartbeat",
            deadline,
            self.client.simple_query("SELECT 1"),
        )
        .await?;
        Ok(())
    }

    /// The `leader` row.
    pub(crate) async fn leader(&self) -> Result<LeaderRow, StoreError> {
        let r = on_deadline(
            "the election",
            QUERY_DEADLINE,
            self.client
                .query_one("SELECT epoch, holder, url, since, changes FROM leader", &[]),
        )
        .await?;
        Ok(LeaderRow {
            epoch: r.try_get(0)?,
            holder: r.try_get(1)?,
            url: r.try_get(2)?,
            since: r.try_get::<_, Option<i64>>(3)?.map(Timestamp::from_millis),
            changes: r.try_get(4)?,
        })
    }

    /// Writes this manager's `peers` row.
    pub(crate) async fn beat(&self, peer: &PeerRow) -> Result<(), StoreError> {
        on_deadline(
            "the election",
            QUERY_DEADLINE,
            self.client.execute(
                "INSERT INTO peers (name, url, role, epoch, seen_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (name) DO UPDATE SET url = excluded.url, role = excluded.role, \
                 epoch = excluded.epoch, seen_at = excluded.seen_at",
                &[
                    &peer.name,
                    &peer.url,
                    &peer.role,
                    &peer.epoch,
                    &peer.seen_at.as_millis(),
                ],
            ),
        )
        .await?;
        Ok(())
    }

    /// Every `peers` row, by name.
    pub(crate) async fn peers(&self) -> Result<Vec<PeerRow>, StoreError> {
        let rows = on_deadline(
            "the election",
            QUERY_DEADLINE,
            self.client.query(
                "SELECT name, url, role, epoch, seen_at FROM peers ORDER BY name",
                &[],
            ),
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PeerRow {
                    name: r.try_get(0)?,
                    url: r.try_get(1)?,
                    role: r.try_get(2)?,
                    epoch: r.try_get(3)?,
                    seen_at: Timestamp::from_millis(r.try_get(4)?),
                })
            })
            .collect()
    }
}
