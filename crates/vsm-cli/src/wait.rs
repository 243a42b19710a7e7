//! Waiting for operations: follows the manager's event stream (SSE; long polls when it is not
//! available) until an operation ends, shows per-server
//! progress (a live indicatif display on a terminal, plain lines on standard error otherwise,
//! nothing with `--output json`), handles Ctrl-C and `--timeout`, and turns the final record into
//! the exit code.
//!
//! Ctrl-C while waiting: on a terminal vsm asks whether to cancel the operation or leave it
//! running; without a terminal (jobs) it leaves the operation running and exits with 75, like a
//! time-out. The operation itself never depends on the client staying connected.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::Method;
use serde_json::Value;
use vsm_manager::http::{EventStream, OperationEvent};

use crate::api::Api;
use crate::exit::{Exit, Failure};
use crate::render::{self, Out, Table, paint, paint_for, text, text_any};

/// How long to follow an operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Follow {
    /// Give up waiting after this long (exit 75).
    pub timeout: Option<u64>,
    /// Do not wait at all.
    pub no_wait: bool,
}

/// The id of an operation record.
pub fn op_id(op: &Value) -> Option<u64> {
    op.get("id").and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

/// The state of an operation record (`running` when absent).
pub fn op_state(op: &Value) -> &str {
    op.get("state")
        .and_then(Value::as_str)
        .or_else(|| op.get("status").and_then(Value::as_str))
        .unwrap_or("running")
}

/// Whether the operation ended.
pub fn is_finished(op: &Value) -> bool {
    !matches!(op_state(op), "running" | "pending" | "queued")
}

/// Whether the record carries warnings.
pub fn has_warnings(op: &Value) -> bool {
    op.get("warnings")
        .and_then(Value::as_array)
        .is_some_and(|w| !w.is_empty())
        || op.get("outcome").and_then(Value::as_str) == Some("warning")
}

/// One server's line in an operation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerResult {
    /// The server.
    pub server: String,
    /// Its group, when known.
    pub group: String,
    /// Its state in this operation (`pending`, `running`, `succeeded`, `failed`, ...).
    pub state: String,
    /// What it is doing or why it failed.
    pub message: String,
}

/// The per-server entries of an operation record, however the manager names them.
pub fn server_results(op: &Value) -> Vec<ServerResult> {
    let list = ["servers", "results", "server_results", "steps"]
        .iter()
        .find_map(|k| op.get(*k).and_then(Value::as_array));
    let Some(list) = list else {
        // also accept an object keyed by server name
        if let Some(map) = op.get("servers").and_then(Value::as_object) {
            return map.iter().map(|(name, v)| entry(v, Some(name))).collect();
        }
        return Vec::new();
    };
    list.iter().map(|v| entry(v, None)).collect()
}

fn entry(v: &Value, name: Option<&str>) -> ServerResult {
    let server = name.map_or_else(|| text_any(v, &["server", "name", "target"]), str::to_owned);
    let state = match v
        .get("state")
        .or_else(|| v.get("status"))
        .or_else(|| v.get("outcome"))
    {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("state")
            .or_else(|| o.get("kind"))
            .map_or_else(|| "-".into(), render::cell),
        Some(other) => render::cell(other),
        None => v
            .get("result")
            .map_or_else(|| "-".into(), |r| text_any(r, &["state", "kind", "status"])),
    };
    let message = text_any(v, &["message", "error", "detail", "phase", "step"]);
    ServerResult {
        server,
        group: text(v, "group"),
        state,
        message: if message == "-" {
            String::new()
        } else {
            message
        },
    }
}

/// A one-line description of an operation: `unit start shop (operation 12)`.
pub fn describe(op: &Value) -> String {
    let kind = text(op, "kind").replace('_', " ");
    let unit = text(op, "unit");
    match op_id(op) {
        Some(id) if unit != "-" => format!("{kind} of unit `{unit}` (operation {id})"),
        Some(id) => format!("{kind} (operation {id})"),
        None => kind,
    }
}

/// The human summary of a finished operation: a headline and the per-server table.
pub fn summary(op: &Value, color: bool) -> String {
    let state = op_state(op);
    let mut out = String::new();
    let took = match (
        op.get("started_at").and_then(Value::as_i64),
        op.get("finished_at").and_then(Value::as_i64),
    ) {
        (Some(a), Some(b)) => format!(" in {}", render::duration(b - a)),
        _ => String::new(),
    };
    out.push_str(&format!(
        "{}: {}{took}\n",
        describe(op),
        paint(&state.replace('_', " "), paint_for(state), color)
    ));
    if let Some(err) = op.get("error").filter(|e| !e.is_null()) {
        let msg = err
            .get("message")
            .map_or_else(|| render::cell(err), render::cell);
        out.push_str(&format!("  error: {msg}\n"));
    }
    for w in render::array(op, "warnings") {
        out.push_str(&format!("  warning: {}\n", render::cell(w)));
    }
    let results = server_results(op);
    if !results.is_empty() {
        let mut t = Table::new(&["SERVER", "GROUP", "RESULT", "MESSAGE"]);
        for r in &results {
            t.row(vec![
                r.server.clone(),
                r.group.clone(),
                r.state.clone(),
                r.message.clone(),
            ]);
        }
        out.push_str(&t.render(color));
    }
    out
}

/// What happened while following.
enum Ended {
    Finished(Value),
    TimedOut(Value),
    LeftRunning(Value),
}

/// Follows the operation `op` (just returned by the manager) to its end and prints the result.
/// Returns the exit code of its outcome.
pub async fn follow(api: &Api, out: &Out, op: Value, how: Follow) -> Result<Exit> {
    let Some(id) = op_id(&op) else {
        // Not an operation record: the request completed synchronously.
        out.emit(&op, |_| String::new());
        return Ok(Exit::Success);
    };
    if how.no_wait && !is_finished(&op) {
        out.emit(&op, |op| {
            format!(
                "{} started; follow it with `vsm op wait {id}`",
                describe(op)
            )
        });
        return Ok(Exit::Success);
    }
    let ended = watch(api, out, op, how.timeout).await?;
    match ended {
        Ended::Finished(op) => {
            let exit = Exit::from_operation_state(op_state(&op), has_warnings(&op));
            out.emit(&op, |op| summary(op, out.color));
            Ok(exit)
        }
        Ended::TimedOut(op) => Err(Failure::new(
            Exit::TimedOut,
            format!(
                "gave up waiting after {}s: {} is still running in the manager",
                how.timeout.unwrap_or(0),
                describe(&op)
            ),
        )
        .operation(id)
        .hint(format!(
            "follow it with `vsm op wait {id}`, or cancel it with `vsm op cancel {id}`"
        ))
        .into()),
        Ended::LeftRunning(op) => Err(Failure::new(
            Exit::TimedOut,
            format!(
                "interrupted: {} keeps running in the manager",
                describe(&op)
            ),
        )
        .operation(id)
        .hint(format!(
            "follow it with `vsm op wait {id}`, or cancel it with `vsm op cancel {id}`"
        ))
        .into()),
    }
}

async fn watch(api: &Api, out: &Out, mut op: Value, timeout: Option<u64>) -> Result<Ended> {
    let id = op_id(&op).unwrap_or(0);
    let deadline = timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let mut progress = Progress::new(out, &op);
    let mut cancelling = false;
    // Live progress from the manager's event stream (SSE); long polls when it is unavailable.
    let mut events: Option<EventStream> = None;
    let mut events_failed = false;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        progress.update(&op);
        if is_finished(&op) {
            progress.finish();
            return Ok(Ended::Finished(op));
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if remaining == Some(Duration::ZERO) {
            progress.finish();
            return Ok(Ended::TimedOut(op));
        }
        let poll_secs = remaining.map_or(2, |r| r.as_secs().clamp(1, 2));
        let path = format!("/api/v1/operations/{id}/wait?timeout_secs={poll_secs}");
        let pause = remaining.map_or(Duration::from_secs(3600), |r| {
            r.max(Duration::from_millis(1))
        });
        if events.is_none()
            && !events_failed
            && let Some(client) = api.typed()
        {
            match client.operation_events(vsm_core::OperationId(id)).await {
                Ok(stream) => {
                    events = Some(stream);
                    // events before the subscription are not replayed: refresh the record
                    op = api.get(&format!("/api/v1/operations/{id}")).await?;
                    continue;
                }
                Err(_) => events_failed = true,
            }
        }
        tokio::select! {
            event = next_event(&mut events), if events.is_some() => {
                match event {
                    Some(Ok(OperationEvent::Finished(record))) => {
                        op = serde_json::to_value(&record)?;
                    }
                    Some(Ok(OperationEvent::Progress(_))) => {
                        op = api.get(&format!("/api/v1/operations/{id}")).await?;
                    }
                    // the stream broke or ended early (e.g. the manager shuts down): long-poll
                    Some(Err(_)) | None => {
                        events = None;
                        events_failed = true;
                        op = api.get(&format!("/api/v1/operations/{id}")).await?;
                    }
                }
            }
            _ = tokio::time::sleep(pause), if events.is_some() => {}
            next = api.get_with_timeout(&path, poll_secs), if events.is_none() => {
                op = next?;
            }
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
                if answer {
                    api.call(Method::POST, &format!("/api/v1/operations/{id}/cancel"), None).await?;
                    progress.note(&format!("cancelling operation {id}…"));
                    cancelling = true;
                } else {
                    progress.finish();
                    return Ok(Ended::LeftRunning(op));
                }
            }
        }
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
fn ask_cancel(id: u64) -> impl std::future::Future<Output = bool> {
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

/// The progress display: bars on a terminal, plain lines otherwise, nothing in JSON mode.
enum Progress {
    Quiet,
    Lines {
        seen: BTreeMap<String, (String, String)>,
        state: String,
    },
    Live {
        multi: MultiProgress,
        head: ProgressBar,
        bars: BTreeMap<String, ProgressBar>,
        color: bool,
    },
}

impl Progress {
    fn new(out: &Out, op: &Value) -> Progress {
        if out.is_json() {
            return Progress::Quiet;
        }
        if !out.err_tty {
            eprintln!("{}: {}", describe(op), op_state(op));
            return Progress::Lines {
                seen: BTreeMap::new(),
                state: op_state(op).to_owned(),
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let head = multi.add(ProgressBar::new_spinner());
        head.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        head.enable_steady_tick(Duration::from_millis(120));
        Progress::Live {
            multi,
            head,
            bars: BTreeMap::new(),
            color: out.color_err,
        }
    }

    fn update(&mut self, op: &Value) {
        let results = server_results(op);
        match self {
            Progress::Quiet => {}
            Progress::Lines { seen, state } => {
                for r in results {
                    let now = (r.state.clone(), r.message.clone());
                    if seen.get(&r.server) != Some(&now) {
                        let msg = if r.message.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", r.message)
                        };
                        eprintln!("  {}: {}{msg}", r.server, r.state);
                        seen.insert(r.server, now);
                    }
                }
                let s = op_state(op);
                if s != state {
                    *state = s.to_owned();
                }
            }
            Progress::Live {
                multi,
                head,
                bars,
                color,
            } => {
                let done = results.iter().filter(|r| is_done_word(&r.state)).count();
                head.set_message(format!(
                    "{}: {} ({done}/{} servers done)",
                    describe(op),
                    op_state(op),
                    results.len()
                ));
                for r in results {
                    let bar = bars.entry(r.server.clone()).or_insert_with(|| {
                        let b = multi.add(ProgressBar::new_spinner());
                        b.set_style(
                            ProgressStyle::with_template("  {prefix:<20} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        b.set_prefix(r.server.clone());
                        b
                    });
                    let msg = if r.message.is_empty() {
                        paint(&r.state, paint_for(&r.state), *color)
                    } else {
                        format!(
                            "{} {}",
                            paint(&r.state, paint_for(&r.state), *color),
                            r.message
                        )
                    };
                    bar.set_message(msg);
                }
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

fn is_done_word(s: &str) -> bool {
    matches!(
        s,
        "succeeded" | "failed" | "skipped" | "cancelled" | "done" | "ok" | "rolled_back"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "id": 12, "unit": "shop", "kind": "unit_start", "state": "partly_succeeded",
            "started_at": 1_000, "finished_at": 4_200,
            "servers": [
                {"server": "db-1", "group": "db", "state": "succeeded"},
                {"server": "web-1", "group": "web", "state": "failed", "message": "health check timed out"}
            ]
        })
    }

    #[test]
    fn records_yield_per_server_results() {
        let r = server_results(&record());
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].server, "web-1");
        assert_eq!(r[1].state, "failed");
        assert_eq!(r[1].message, "health check timed out");
        assert_eq!(op_id(&record()), Some(12));
        assert!(is_finished(&record()));
        assert!(!is_finished(&json!({"id": 1, "state": "running"})));
    }

    #[test]
    fn the_summary_shows_outcome_and_servers() {
        insta::assert_snapshot!(summary(&record(), false), @r"
        unit start of unit `shop` (operation 12): partly succeeded in 3.2s
        SERVER  GROUP  RESULT     MESSAGE
        db-1    db     succeeded
        web-1   web    failed     health check timed out
        ");
    }
}
