//! A server's log: the page with its last lines, and the stream that follows it. A driver's
//! log is not part of the read model (no revision moves when a line is written), so the stream
//! asks `Manager::server_logs` — authorized each time, as `vsm server logs` is — once a second
//! and sends the lines when they changed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::response::sse::Event;
use serde::Deserialize;
use vsm_core::{ServerName, UnitName};

use super::{Console, error_page, page, page_session, server_name, sse, strict_session, unit_name};
use crate::http::ApiError;
use crate::http::state::AppState;
use crate::ui::pages::actions::{LogView, MAX_TAIL, log_live, logs as logs_page};

/// How often a followed log is read.
const POLL: Duration = Duration::from_secs(1);

/// The lines a log page shows unless asked.
const DEFAULT_TAIL: usize = 200;

/// `?tail=N&follow=1`.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    tail: Option<String>,
    #[serde(default)]
    follow: Option<String>,
}

impl LogQuery {
    fn view(&self) -> LogView {
        let tail = self
            .tail
            .as_deref()
            .and_then(|t| t.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_TAIL)
            .clamp(1, MAX_TAIL);
        LogView {
            tail,
            follow: self
                .follow
                .as_deref()
                .is_some_and(|f| !f.is_empty() && f != "0"),
        }
    }
}

fn names(unit: &str, server: &str) -> Result<(UnitName, ServerName), ApiError> {
    Ok((unit_name(unit)?, server_name(server)?))
}

/// `GET /ui/units/{unit}/servers/{server}/logs`: the server's last lines.
pub(crate) async fn logs(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((unit, server)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let (unit, server) = match names(&unit, &server) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    let v = q.view();
    match st
        .manager
        .server_logs(&c.actor, &unit, &server, Some(v.tail))
        .await
    {
        Ok(l) => page(
            StatusCode::OK,
            logs_page(&chrome, unit.as_str(), server.as_str(), v, &l.text),
        ),
        Err(e) => error_page(&chrome, e.into()),
    }
}

/// `GET /ui/units/{unit}/servers/{server}/logs/live?tail=N`: the last lines as server-sent
/// events: one `update` at once and then one whenever they changed; `gone` (the manager's
/// sentence) when the caller may no longer read them, and the stream ends.
pub(crate) async fn logs_live(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((unit, server)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let c = match strict_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let (unit, server) = match names(&unit, &server) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    let tail = q.view().tail;
    // Authorized before the first event.
    if let Err(e) = st
        .manager
        .server_logs(&c.actor, &unit, &server, Some(tail))
        .await
    {
        return error_page(&chrome, e.into());
    }
    let follow = Follow {
        st,
        console: c,
        unit,
        server,
        tail,
        last: None,
        ended: false,
    };
    sse(futures::stream::unfold(follow, |mut f| async move {
        let ev = f.next().await?;
        Some((ev, f))
    }))
}

/// One followed log: what it sent last.
struct Follow {
    st: AppState,
    console: Console,
    unit: UnitName,
    server: ServerName,
    tail: usize,
    last: Option<String>,
    ended: bool,
}

impl Follow {
    /// The next event: the lines once they differ from the last sent (at once the first
    /// time); `None` once the stream ended or the server is closing.
    async fn next(&mut self) -> Option<Result<Event, Infallible>> {
        if self.ended {
            return None;
        }
        loop {
            if self.last.is_some() {
                tokio::select! {
                    () = self.st.closing.cancelled() => return None,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            let read = self
                .st
                .manager
                .server_logs(
                    &self.console.actor,
                    &self.unit,
                    &self.server,
                    Some(self.tail),
                )
                .await;
            match read {
                Ok(l) if self.last.as_deref() == Some(l.text.as_str()) => continue,
                Ok(l) => {
                    let html = log_live(self.console.lang, &l.text).into_string();
                    self.last = Some(l.text);
                    return Some(Ok(Event::default().event("update").data(html)));
                }
                Err(e) => {
                    self.ended = true;
                    let e = ApiError::from(e);
                    let text = match &e.hint {
                        Some(h) => format!("{} ({h})", e.message),
                        None => e.message.clone(),
                    };
                    return Some(Ok(Event::default().event("gone").data(text)));
                }
            }
        }
    }
}
