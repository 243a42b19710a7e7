//! Waiting for operations: follows the manager's event stream (server-sent events through the
//! typed client; long polls when the stream is unavailable or breaks) until an operation ends,
//! shows per-server progress live (an indicatif display on a terminal, plain lines on standard
//! error otherwise, nothing with `--output json`), handles Ctrl-C and `--timeout`, and turns the
//! final record into the exit code ([`OperationRecord::exit_code`]).
//!
//! Ctrl-C while waiting: on a terminal vsm asks whether to cancel the operation or leave it
//! running; without a terminal (jobs) it leaves the operation running and exits with 75, like a
//! time-out. The operation itself never depends on the client staying connected.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;
use vsm_core::OperationId;
use vsm_manager::http::{EventStream, OperationEvent};
use vsm_manager::{OperationRecord, ProgressEvent, ProgressKind, StepStatus};

use crate::api::Client;
use crate::exit::{Exit, Failure};
use crate::render::{self, Out, Table, paint, paint_for};

/// How long to follow an operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Follow {
    /// Give up waiting after this long (exit 75).
    pub timeout: Option<u64>,
    /// Do not wait at all.
    pub no_wait: bool,
}

/// The word of a step status (`succeeded`, `failed`, …).
pub fn step_word(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Started => "running",
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
        StepStatus::Cancelled => "cancelled",
    }
}

/// A one-line description of an operation: `unit start of unit `shop` (operation 12)`.
pub fn describe(op: &OperationRecord) -> String {
    let s = &op.summary;
    match &s.unit {
        Some(unit) => format!("{} of unit `{unit}` (operation {})", s.kind, s.id),
        None => format!("{} (operation {})", s.kind, s.id),
    }
}

/// The human summary of an operation: a headline and the per-server table.
pub fn summary(op: &OperationRecord, color: bool) -> String {
    let state = op.summary.state.as_str();
    let took = op.summary.finished_at.map_or_else(String::new, |end| {
        format!(
            " in {}",
            render::duration(end.millis_since(op.summary.created_at))
        )
    });
    let mut out = format!(
        "{}: {}{took}\n",
        describe(op),
        paint(&state.replace('_', " "), paint_for(state), color)
    );
    if let Some(err) = &op.error {
        out.push_str(&format!("  error: {err}\n"));
    }
    for w in &op.warnings {
        out.push_str(&format!("  warning: {w}\n"));
    }
    if !op.servers.is_empty() {
        let mut t = Table::new(&["SERVER", "GROUP", "RESULT", "MESSAGE"]);
        for r in &op.servers {
            let mut message = r.error.clone().unwrap_or_default();
            if r.marked {
                message = if message.is_empty() {
                    "marked as failed".to_owned()
                } else {
                    format!("marked as failed; {message}")
                };
            }
            t.row(vec![
                r.server.to_string(),
                r.group
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string),
                step_word(r.status).to_owned(),
                message,
            ]);
        }
        out.push_str(&t.render(color));
    }
    out
}

/// What happened while following.
enum Ended {
    Finished(OperationRecord),
    TimedOut(OperationRecord),
    LeftRunning(OperationRecord),
}

/// Follows the operation `op` (just returned by the manager) to its end and prints the result.
/// Returns the exit code of its outcome.
pub async fn follow(client: &Client, out: &Out, op: OperationRecord, how: Follow) -> Result<Exit> {
    let id = op.summary.id;
    if how.no_wait && !op.summary.state.is_finished() {
        out.show(&op, |_| {
            format!(
                "{} started; follow it with `vsm op wait {id}`",
                describe(&op)
            )
        })?;
        return Ok(Exit::Success);
    }
    let still_running = |op: &OperationRecord, why: String| -> anyhow::Error {
        Failure::new(
            Exit::TimedOut,
            format!("{why}: {} is still running in the manager", describe(op)),
        )
        .operation(id.0)
        .hint(format!(
            "follow it with `vsm op wait {id}`, or cancel it with `vsm op cancel {id}`"
        ))
        .into()
    };
    match watch(client, out, op, how.timeout).await? {
        Ended::Finished(op) => {
            out.show(&op, |_| summary(&op, out.color))?;
            Ok(Exit::from_code(op.exit_code()))
        }
        Ended::TimedOut(op) => Err(still_running(
            &op,
            format!("gave up waiting after {}s", how.timeout.unwrap_or(0)),
        )),
        Ended::LeftRunning(op) => Err(still_running(&op, "interrupted".to_owned())),
    }
}

async fn watch(
    client: &Client,
    out: &Out,
    mut op: OperationRecord,
    timeout: Option<u64>,
) -> Result<Ended> {
    let id = op.summary.id;
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let mut progress = Progress::new(out, &op);
    progress.record(&op);
    // Live progress from the manager's event stream; long polls when it is unavailable.
    let mut events: Option<EventStream> = None;
    if !op.summary.state.is_finished()
        && let Ok(stream) = client.operation_events(id).await
    {
        events = Some(stream);
        // events published before the subscription are not replayed: catch up once
        op = client.operation(id).await?;
        progress.record(&op);
    }
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut cancelling = false;
    loop {
        if op.summary.state.is_finished() {
            progress.finish();
            return Ok(Ended::Finished(op));
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if remaining == Some(Duration::ZERO) {
            progress.finish();
            return Ok(Ended::TimedOut(op));
        }
        let poll_secs = remaining.map_or(30, |r| r.as_secs().clamp(1, 30));
        tokio::select! {
            event = next_event(&mut events), if events.is_some() => match event {
                Some(Ok(OperationEvent::Progress(e))) => progress.event(&e),
                Some(Ok(OperationEvent::Finished(record))) => op = record,
                // the stream broke or ended early (e.g. the manager shuts down): long-poll
                Some(Err(_)) | None => {
                    events = None;
                    op = client.operation(id).await?;
                    progress.record(&op);
                }
            },
            next = client.wait_operation(id, poll_secs), if events.is_none() => {
                op = next?;
                progress.record(&op);
            }
            () = sleep_until(deadline) => {}
            _ = &mut ctrl_c => {
                ctrl_c.set(tokio::signal::ctrl_c());
                if cancelling || !(out.in_tty && out.err_tty) {
                    progress.finish();
                    return Ok(Ended::LeftRunning(op));
                }
                let answer = progress.suspend(|| ask_cancel(id));
                let answer = tokio::select! {
                    a = answer => a,
                    _ = &mut ctrl_c => false,
                };
                if !answer {
                    progress.finish();
                    return Ok(Ended::LeftRunning(op));
                }
                op = client.cancel_operation(id).await?;
                progress.note(&format!("cancelling operation {id}…"));
                cancelling = true;
            }
        }
    }
}

/// Sleeps until `deadline`, forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The next item of the event stream (`None` when it ended or there is none).
async fn next_event(
    events: &mut Option<EventStream>,
) -> Option<Result<OperationEvent, vsm_manager::http::ClientError>> {
    match events {
        Some(stream) => stream.next().await,
        None => None,
    }
}

/// Asks on the terminal whether to cancel; `true` means cancel.
fn ask_cancel(id: OperationId) -> impl std::future::Future<Output = bool> {
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\nCancel operation {id}? Servers already done stay done. [y/N, Enter leaves it running] "
    );
    let _ = err.flush();
    async {
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            matches!(line.trim(), "y" | "Y" | "yes" | "YES")
        })
        .await
        .unwrap_or(false)
    }
}

/// One server's line of the progress display: what it does and how that went.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerLine {
    action: String,
    status: &'static str,
    error: Option<String>,
}

impl ServerLine {
    fn text(&self, color: bool) -> String {
        let status = paint(self.status, paint_for(self.status), color);
        let mut s = if self.action.is_empty() {
            status
        } else {
            format!("{} {status}", self.action.replace('_', " "))
        };
        if let Some(e) = &self.error {
            s.push_str(&format!(": {e}"));
        }
        s
    }
}

/// The progress display: bars on a terminal, plain lines otherwise, nothing in JSON mode.
enum Progress {
    Quiet,
    Lines {
        seen: BTreeMap<String, ServerLine>,
    },
    Live {
        multi: MultiProgress,
        head: ProgressBar,
        bars: BTreeMap<String, ProgressBar>,
        title: String,
        phase: String,
        done: usize,
        color: bool,
    },
}

impl Progress {
    fn new(out: &Out, op: &OperationRecord) -> Progress {
        if out.is_json() {
            return Progress::Quiet;
        }
        if !out.err_tty {
            eprintln!("{}: {}", describe(op), op.summary.state);
            return Progress::Lines {
                seen: BTreeMap::new(),
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let head = multi.add(ProgressBar::new_spinner());
        head.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        head.enable_steady_tick(Duration::from_millis(120));
        let title = describe(op);
        head.set_message(title.clone());
        Progress::Live {
            multi,
            head,
            bars: BTreeMap::new(),
            title,
            phase: String::new(),
            done: 0,
            color: out.color_err,
        }
    }

    /// Shows the per-server results of a record (at the start, after a catch-up or a poll).
    fn record(&mut self, op: &OperationRecord) {
        for r in &op.servers {
            let line = ServerLine {
                action: String::new(),
                status: step_word(r.status),
                error: r.error.clone(),
            };
            self.server(r.server.as_str(), line);
        }
    }

    /// Shows one event of the stream.
    fn event(&mut self, e: &ProgressEvent) {
        match &e.kind {
            ProgressKind::PhaseStarted { phase, steps } => {
                if let Progress::Live {
                    head,
                    title,
                    phase: current,
                    done,
                    ..
                } = self
                {
                    *current = phase.clone();
                    head.set_message(format!("{title}: {phase} ({done} steps done)"));
                } else {
                    let s = if *steps == 1 { "" } else { "s" };
                    self.note(&format!("  {phase} ({steps} step{s})"));
                }
            }
            // plain lines show how steps end, the live display also that they begin
            ProgressKind::StepStarted {
                action,
                server: Some(server),
                ..
            } if matches!(self, Progress::Live { .. }) => {
                let line = ServerLine {
                    action: action.clone(),
                    status: step_word(StepStatus::Started),
                    error: None,
                };
                self.server(server.as_str(), line);
            }
            ProgressKind::StepFinished {
                action,
                server,
                status,
                error,
                ..
            } => {
                if let Progress::Live {
                    head,
                    title,
                    phase,
                    done,
                    ..
                } = self
                {
                    *done += 1;
                    head.set_message(format!("{title}: {phase} ({done} steps done)"));
                }
                if let Some(server) = server {
                    let line = ServerLine {
                        action: action.clone(),
                        status: step_word(*status),
                        error: error.clone(),
                    };
                    self.server(server.as_str(), line);
                }
            }
            ProgressKind::Message { text } => self.note(&format!("  {text}")),
            // the final record follows and is shown as the summary
            _ => {}
        }
    }

    fn server(&mut self, server: &str, line: ServerLine) {
        match self {
            Progress::Quiet => {}
            Progress::Lines { seen } => {
                if seen.get(server) != Some(&line) {
                    eprintln!("  {server}: {}", line.text(false));
                    seen.insert(server.to_owned(), line);
                }
            }
            Progress::Live {
                multi, bars, color, ..
            } => {
                let bar = bars.entry(server.to_owned()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("  {prefix:<20} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b.set_prefix(server.to_owned());
                    b
                });
                bar.set_message(line.text(*color));
            }
        }
    }

    fn note(&self, text: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Lines { .. } => eprintln!("{text}"),
            Progress::Live { multi, .. } => {
                let _ = multi.println(text);
            }
        }
    }

    fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match self {
            Progress::Live { multi, .. } => multi.suspend(f),
            _ => f(),
        }
    }

    fn finish(&mut self) {
        if let Progress::Live {
            multi, head, bars, ..
        } = self
        {
            head.finish_and_clear();
            for b in bars.values() {
                b.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> OperationRecord {
        serde_json::from_value(serde_json::json!({
            "id": 12, "unit": "shop", "kind": "unit_start", "state": "partly_succeeded",
            "requested_by": "alice", "created_at": 1_000, "finished_at": 4_200,
            "request": {}, "warnings": [], "error": null, "steps_total": 4,
            "servers": [
                {"server": "db-1", "group": "db", "status": "succeeded", "error": null, "marked": false},
                {"server": "web-1", "group": "web", "status": "failed",
                 "error": "health check timed out", "marked": true}
            ]
        }))
        .expect("an operation record")
    }

    #[test]
    fn the_summary_shows_outcome_and_servers() {
        insta::assert_snapshot!(summary(&record(), false), @r"
        unit start of unit `shop` (operation 12): partly succeeded in 3.2s
        SERVER  GROUP  RESULT     MESSAGE
        db-1    db     succeeded
        web-1   web    failed     marked as failed; health check timed out
        ");
        assert_eq!(Exit::from_code(record().exit_code()), Exit::Warning);
    }

    #[test]
    fn server_lines_read_as_action_and_outcome() {
        let line = ServerLine {
            action: "health_check".into(),
            status: "failed",
            error: Some("no answer".into()),
        };
        assert_eq!(line.text(false), "health check failed: no answer");
    }
}
