//! Simple drivers over [`apply_to_server`]: a batch apply with a concurrency limit and a
//! rolling apply (batches of N servers or P%, health checks, unhealthy budget, pause,
//! rollback of touched servers). Progress goes to a callback.
//!
//! These drivers take the server list as given (order included: put unhealthy servers first).
//! Stopping and starting servers around a full change is the caller's, through
//! [`RollingHooks`]; the manager's engine may drive `apply_to_server` itself instead.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use vsm_core::{ServerAddress, ServerName};

use crate::apply::{ApplyError, DesiredState, ServerApplied, apply_to_server};
use crate::health::health_check;
use crate::transport::{Transport, TransportError};

/// One server to bring to a version.
#[derive(Debug, Clone)]
pub struct ServerJob {
    /// The server.
    pub server: ServerName,
    /// Its address, for health checks (none: the health check is skipped).
    pub address: Option<ServerAddress>,
    /// How to reach it.
    pub transport: Arc<dyn Transport>,
    /// What it should hold.
    pub desired: Arc<DesiredState>,
    /// What it held before (for rollback; none: a first apply, nothing to go back to).
    pub previous: Option<Arc<DesiredState>>,
}

/// A progress report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Progress {
    /// A rolling batch starts.
    BatchStarted {
        /// 1-based batch number.
        batch: usize,
        /// Its servers.
        servers: Vec<ServerName>,
    },
    /// Work on a server starts.
    ServerStarted {
        /// The server.
        server: ServerName,
    },
    /// A server is done.
    ServerDone {
        /// The server.
        server: ServerName,
        /// What was done.
        applied: ServerApplied,
    },
    /// A server failed.
    ServerFailed {
        /// The server.
        server: ServerName,
        /// Why.
        error: String,
    },
    /// Waiting between batches.
    Pausing {
        /// For how long.
        #[serde(with = "millis")]
        duration: Duration,
    },
    /// The roll-out stops.
    Aborted {
        /// Why.
        reason: String,
    },
    /// A touched server was put back on its previous version.
    RolledBack {
        /// The server.
        server: ServerName,
        /// Empty when it worked, else why not.
        error: String,
    },
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u128(d.as_millis())
    }
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// A progress callback that drops everything.
pub fn no_progress() -> ProgressFn {
    Arc::new(|_| {})
}

/// One server's result.
#[derive(Debug)]
pub struct ServerResult {
    /// The server.
    pub server: ServerName,
    /// What happened.
    pub result: Result<ServerApplied, ApplyError>,
}

/// The overall result class of a batch (SPEC: normal / warning / abnormal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every server succeeded (or there were none).
    AllDone,
    /// Some succeeded, some failed.
    PartlyDone,
    /// None succeeded.
    Failed,
}

fn outcome_of<'a>(results: impl Iterator<Item = &'a ServerResult>) -> Outcome {
    let (mut ok, mut bad) = (0, 0);
    for r in results {
        if r.result.is_ok() {
            ok += 1;
        } else {
            bad += 1;
        }
    }
    match (ok, bad) {
        (_, 0) => Outcome::AllDone,
        (0, _) => Outcome::Failed,
        _ => Outcome::PartlyDone,
    }
}

/// The results of a batch apply, in job order.
#[derive(Debug)]
pub struct BatchReport {
    /// Per server.
    pub results: Vec<ServerResult>,
}

impl BatchReport {
    /// All done, partly done or failed.
    pub fn outcome(&self) -> Outcome {
        outcome_of(self.results.iter())
    }

    /// The servers that failed, with why.
    pub fn failures(&self) -> impl Iterator<Item = (&ServerName, &ApplyError)> {
        self.results
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(|e| (&r.server, e)))
    }
}

/// Options of [`apply_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// At most this many servers at a time (at least 1).
    pub concurrency: usize,
    /// Run each server's health check after its apply.
    pub health_check: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            concurrency: 8,
            health_check: false,
        }
    }
}

async fn run_job(job: ServerJob, health: bool, progress: ProgressFn) -> ServerResult {
    progress(Progress::ServerStarted {
        server: job.server.clone(),
    });
    let mut result = apply_to_server(job.transport.as_ref(), &job.desired).await;
    if let (true, Ok(_), Some(check), Some(addr)) =
        (health, &result, &job.desired.health, &job.address)
        && let Err(e) = health_check(check, addr.as_str(), Some(job.transport.as_ref())).await
    {
        result = Err(ApplyError::Unhealthy {
            server: job.transport.describe(),
            source: e,
        });
    }
    match &result {
        Ok(a) => progress(Progress::ServerDone {
            server: job.server.clone(),
            applied: a.clone(),
        }),
        Err(e) => progress(Progress::ServerFailed {
            server: job.server.clone(),
            error: error_chain(e),
        }),
    }
    ServerResult {
        server: job.server,
        result,
    }
}

/// An error with its sources, `: `-separated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Applies every job, at most `options.concurrency` at a time; never stops early.
pub async fn apply_batch(
    jobs: &[ServerJob],
    options: &BatchOptions,
    progress: ProgressFn,
) -> BatchReport {
    let sem = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut set = JoinSet::new();
    for (i, job) in jobs.iter().cloned().enumerate() {
        let sem = sem.clone();
        let progress = progress.clone();
        let health = options.health_check;
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, run_job(job, health, progress).await)
        });
    }
    let mut results: Vec<Option<ServerResult>> = jobs.iter().map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r)) = joined {
            results[i] = Some(r);
        }
    }
    let results = results
        .into_iter()
        .zip(jobs)
        .map(|(r, job)| {
            r.unwrap_or_else(|| ServerResult {
                server: job.server.clone(),
                result: Err(ApplyError::Transport {
                    server: job.transport.describe(),
                    source: TransportError::Failed("the apply task panicked".into()),
                }),
            })
        })
        .collect();
    BatchReport { results }
}

/// How many servers a rolling batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// This many (at least 1).
    Count(usize),
    /// This percentage of all servers, rounded up (at least 1).
    Percent(u8),
}

impl BatchSize {
    /// The number of servers per batch out of `total`.
    pub fn of(self, total: usize) -> usize {
        match self {
            BatchSize::Count(n) => n.max(1),
            BatchSize::Percent(p) => (total * usize::from(p.min(100))).div_ceil(100).max(1),
        }
    }
}

/// Options of [`rolling_apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollingOptions {
    /// Servers per batch.
    pub batch: BatchSize,
    /// Abort when more than this percentage of the servers updated so far failed; `None`:
    /// the first batch with a failure aborts.
    pub max_unhealthy_percent: Option<u8>,
    /// Wait between batches.
    pub pause: Duration,
    /// Put the touched servers back on their previous version after an abort.
    pub rollback: bool,
    /// Parallel servers inside a batch.
    pub concurrency: usize,
}

impl Default for RollingOptions {
    fn default() -> Self {
        RollingOptions {
            batch: BatchSize::Count(1),
            max_unhealthy_percent: None,
            pause: Duration::ZERO,
            rollback: true,
            concurrency: 8,
        }
    }
}

/// What a caller does around each rolling batch (e.g. stop running servers before a full
/// change and start them after). Failures count as the server's failure.
#[async_trait]
pub trait RollingHooks: Send + Sync {
    /// Before the batch's servers are applied.
    async fn before_batch(&self, servers: &[ServerName]) -> Result<(), String>;
    /// After they are applied, before the health checks.
    async fn after_batch(&self, servers: &[ServerName]) -> Result<(), String>;
}

/// The result of a rolling apply.
#[derive(Debug)]
pub struct RollingReport {
    /// Per batch, the server results.
    pub batches: Vec<BatchReport>,
    /// Why it stopped early, if it did.
    pub aborted: Option<String>,
    /// Servers never touched (left on their old version).
    pub untouched: Vec<ServerName>,
    /// Servers put back on their previous version after an abort.
    pub rolled_back: Vec<ServerResult>,
}

impl RollingReport {
    /// All done, partly done or failed (an aborted roll-out is at best partly done).
    pub fn outcome(&self) -> Outcome {
        let o = outcome_of(self.batches.iter().flat_map(|b| b.results.iter()));
        match (o, &self.aborted) {
            (Outcome::AllDone, Some(_)) => Outcome::PartlyDone,
            (o, _) => o,
        }
    }
}

/// Rolls `jobs` out batch by batch with health checks, stopping when the unhealthy budget is
/// spent; then (unless told not to) re-applies each touched server's previous version.
pub async fn rolling_apply(
    jobs: &[ServerJob],
    options: &RollingOptions,
    hooks: Option<&dyn RollingHooks>,
    progress: ProgressFn,
) -> RollingReport {
    let size = options.batch.of(jobs.len());
    let mut report = RollingReport {
        batches: Vec::new(),
        aborted: None,
        untouched: Vec::new(),
        rolled_back: Vec::new(),
    };
    let (mut updated, mut failed) = (0usize, 0usize);
    let chunks: Vec<&[ServerJob]> = jobs.chunks(size).collect();
    let mut touched: Vec<&ServerJob> = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 && !options.pause.is_zero() {
            progress(Progress::Pausing {
                duration: options.pause,
            });
            tokio::time::sleep(options.pause).await;
        }
        let names: Vec<ServerName> = chunk.iter().map(|j| j.server.clone()).collect();
        progress(Progress::BatchStarted {
            batch: i + 1,
            servers: names.clone(),
        });
        touched.extend(chunk.iter());
        let hook_error = match hooks {
            Some(h) => h.before_batch(&names).await.err(),
            None => None,
        };
        let mut batch = if let Some(e) = hook_error {
            BatchReport {
                results: chunk
                    .iter()
                    .map(|j| ServerResult {
                        server: j.server.clone(),
                        result: Err(ApplyError::Transport {
                            server: j.transport.describe(),
                            source: TransportError::Failed(format!(
                                "preparing the batch failed: {e}"
                            )),
                        }),
                    })
                    .collect(),
            }
        } else {
            let b = apply_batch(
                chunk,
                &BatchOptions {
                    concurrency: options.concurrency,
                    health_check: hooks.is_none(),
                },
                progress.clone(),
            )
            .await;
            if let Some(h) = hooks
                && let Err(e) = h.after_batch(&names).await
            {
                progress(Progress::Aborted {
                    reason: format!("finishing batch {} failed: {e}", i + 1),
                });
            }
            b
        };
        if let Some(h) = hooks {
            // With hooks, servers are (re)started after the apply; check health now.
            for (r, job) in batch.results.iter_mut().zip(chunk.iter()) {
                if let (Ok(_), Some(check), Some(addr)) =
                    (&r.result, &job.desired.health, &job.address)
                    && let Err(e) =
                        health_check(check, addr.as_str(), Some(job.transport.as_ref())).await
                {
                    progress(Progress::ServerFailed {
                        server: job.server.clone(),
                        error: e.to_string(),
                    });
                    r.result = Err(ApplyError::Unhealthy {
                        server: job.transport.describe(),
                        source: e,
                    });
                }
            }
            let _ = h;
        }
        updated += chunk.len();
        let batch_failed = batch.results.iter().filter(|r| r.result.is_err()).count();
        failed += batch_failed;
        report.batches.push(batch);
        let over_budget = match options.max_unhealthy_percent {
            None => batch_failed > 0,
            Some(p) => failed * 100 > usize::from(p) * updated,
        };
        if over_budget {
            let reason = format!(
                "{failed} of {updated} servers updated so far failed (budget: {}); {} servers left on the old version",
                options
                    .max_unhealthy_percent
                    .map_or("no failures".to_owned(), |p| format!("{p}%")),
                jobs.len() - updated
            );
            progress(Progress::Aborted {
                reason: reason.clone(),
            });
            report.aborted = Some(reason);
            report.untouched = chunks[i + 1..]
                .iter()
                .flat_map(|c| c.iter().map(|j| j.server.clone()))
                .collect();
            break;
        }
    }
    if report.aborted.is_some() && options.rollback {
        let back: Vec<ServerJob> = touched
            .iter()
            .filter_map(|j| {
                j.previous.as_ref().map(|p| ServerJob {
                    desired: p.clone(),
                    previous: None,
                    ..(*j).clone()
                })
            })
            .collect();
        let r = apply_batch(
            &back,
            &BatchOptions {
                concurrency: options.concurrency,
                health_check: false,
            },
            no_progress(),
        )
        .await;
        for res in &r.results {
            progress(Progress::RolledBack {
                server: res.server.clone(),
                error: res
                    .result
                    .as_ref()
                    .err()
                    .map(|e| error_chain(e))
                    .unwrap_or_default(),
            });
        }
        report.rolled_back = r.results;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes() {
        assert_eq!(BatchSize::Count(0).of(10), 1);
        assert_eq!(BatchSize::Percent(25).of(10), 3);
        assert_eq!(BatchSize::Percent(100).of(7), 7);
        assert_eq!(BatchSize::Percent(1).of(3), 1);
    }
}
