//! Conditional and blocking reads: `ETag`, `If-None-Match` → `304 Not Modified`, and the
//! long-poll `?index=N&wait=30s` with its `X-Vsm-Index` answer header (as Consul's and Nomad's
//! blocking queries). The caller is always authorized first, by the manager call that reads
//! the resource: a 304 or a wait is never answered to a caller who may not read it.

use std::future::Future;
use std::time::Duration;

use axum::body::{Body as HttpBody, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::state::AppState;
use crate::api::Actor;
use crate::revision::Scope;
use vsm_core::UnitName;

/// The answer header carrying the resource's revision (the `index` of the next long-poll).
pub(crate) const INDEX_HEADER: &str = "x-vsm-index";

/// The longest wait of a long-poll (a longer `wait` is cut to it).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(300);

/// The query parameters of a blocking read (documented in the route table).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BlockingQuery {
    /// Wait until the resource's revision is past this.
    #[serde(default)]
    index: Option<u64>,
    /// How long to wait at most: `30s`, `30` (seconds), `500ms`, `5m`.
    #[serde(default)]
    wait: Option<String>,
}

impl BlockingQuery {
    /// The index to wait past and the wait (capped, with up to 1/16 of it added as jitter),
    /// or `None` when no `index` is given (no wait).
    fn wait(&self) -> Result<Option<(u64, Duration)>, ApiError> {
        let Some(index) = self.index else {
            return Ok(None);
        };
        let wait = match &self.wait {
            None => MAX_WAIT,
            Some(w) => parse_wait(w).ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "wait {w:?} is not a duration: give seconds (`30`, `30s`), `500ms` or `5m`"
                ))
            })?,
        }
        .min(MAX_WAIT);
        let jitter_max = (wait / 16).as_millis() as u64;
        let jitter = if jitter_max == 0 {
            0
        } else {
            rand::random_range(0..=jitter_max)
        };
        Ok(Some((index, wait + Duration::from_millis(jitter))))
    }
}

/// `30`, `30s`, `500ms`, `5m`.
pub(crate) fn parse_wait(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak tags compare by their value.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// The answer: `304` without a body when `If-None-Match` names `etag`, else `200` with the
/// JSON `body`; both with `ETag` and `X-Vsm-Index`.
fn respond(headers: &HeaderMap, etag: &str, index: u64, body: Bytes) -> Response {
    let mut resp = if none_match(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(HttpBody::from(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(INDEX_HEADER, HeaderValue::from(index));
    resp
}

/// A read whose `ETag` is the digest of its body (lists, and what shows state the revisions
/// do not track exactly): `read` authorizes and reads; with `index`, it runs once (so that a
/// caller who may not read gets the refusal at once), waits for `scope`'s revision to pass
/// the index, and runs again.
pub(crate) async fn read<T, F, Fut>(
    st: &AppState,
    headers: &HeaderMap,
    q: &BlockingQuery,
    scope: Scope,
    read: F,
) -> Result<Response, ApiError>
where
    T: serde::Serialize,
    F: Fn() -> Fut,
    Fut: Future<Output = crate::Result<T>>,
{
    let revisions = st.manager.revisions().clone();
    let wait = q.wait()?;
    let mut index = revisions.of(&scope);
    let mut value = read().await?;
    if let Some((want, wait)) = wait
        && index <= want
    {
        index = revisions
            .wait_past(&scope, want, tokio::time::Instant::now() + wait)
            .await;
        value = read().await?;
    }
    let body = serde_json::to_vec(&value)
        .map_err(|e| ApiError::from(crate::Error::failed("cannot encode the answer", e)))?;
    let etag = revisions.content_etag(&body);
    Ok(respond(headers, &etag, index, body.into()))
}

/// `GET /api/v1/units/{unit}` from the read model: the `ETag` is the unit's revision.
pub(crate) async fn unit(
    st: &AppState,
    headers: &HeaderMap,
    q: &BlockingQuery,
    actor: &Actor,
    name: &UnitName,
) -> Result<Response, ApiError> {
    let wait = q.wait()?;
    let mut view = st.manager.unit_view(actor, name).await?;
    if let Some((want, wait)) = wait
        && view.rev <= want
    {
        st.manager
            .revisions()
            .wait_past(
                &Scope::Unit(name.clone()),
                want,
                tokio::time::Instant::now() + wait,
            )
            .await;
        view = st.manager.unit_view(actor, name).await?;
    }
    let etag = st.manager.revisions().etag(view.rev);
    Ok(respond(headers, &etag, view.rev, view.json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_parse_with_and_without_a_unit() {
        assert_eq!(parse_wait("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_wait("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_wait("s"), None);
        assert_eq!(parse_wait("3h"), None);
        assert_eq!(parse_wait("-1"), None);
    }

    #[test]
    fn waits_are_capped_and_jittered_by_at_most_a_sixteenth() {
        let q = BlockingQuery {
            index: Some(3),
            wait: Some("1h".into()),
        };
        assert!(q.wait().is_err());
        for _ in 0..50 {
            let q = BlockingQuery {
                index: Some(3),
                wait: Some("60m".into()),
            };
            let (i, w) = q.wait().expect("ok").expect("some");
            assert_eq!(i, 3);
            assert!(w >= MAX_WAIT && w <= MAX_WAIT + MAX_WAIT / 16, "{w:?}");
        }
        assert!(BlockingQuery::default().wait().expect("ok").is_none());
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_star() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(none_match(&h, "\"b\""));
        assert!(none_match(&h, "\"a\""));
        assert!(!none_match(&h, "\"c\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&h, "\"c\""));
        assert!(!none_match(&HeaderMap::new(), "\"c\""));
    }
}
