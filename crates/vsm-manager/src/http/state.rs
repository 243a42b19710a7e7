//! What every handler reaches ([`AppState`]) and how a request is read: the login limiter per
//! client address, the bearer-token middleware that resolves a session to an
//! [`crate::Actor`] through the manager, and extractors whose refusals are [`ApiError`]s.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use vsm_core::AccountName;

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::metrics::Metrics;
use super::serve_config::{LoginLimits, ServeConfig};
use crate::Manager;
use crate::api::{Password, Session};

/// Login attempts of one client address within the window.
#[derive(Debug, Default)]
struct Attempts {
    /// When, and as which account; oldest first. An attempt counts as failed until it is known
    /// to have succeeded.
    list: VecDeque<(Instant, AccountName)>,
    /// Whether the current lock-out was reported (audited) already.
    reported: bool,
}

/// Failed logins per client address, each with the account it tried.
///
/// An attempt is counted when it is admitted, before its password is checked, so that attempts
/// sent at the same time cannot pass the limit together; a success takes back that account's
/// failures from the address.
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<IpAddr, Attempts>>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Attempts>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops attempts outside the window; a lock-out that ended may be reported again.
    fn prune(&self, a: &mut Attempts, now: Instant) {
        let window = self.limits.window;
        while a
            .list
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > window)
        {
            a.list.pop_front();
        }
        if a.list.len() < self.limits.max_failures as usize {
            a.reported = false;
        }
    }

    #[cfg(test)]
    fn recent(&self, ip: IpAddr) -> usize {
        let mut map = self.map();
        let now = Instant::now();
        match map.get_mut(&ip) {
            Some(a) => {
                self.prune(a, now);
                a.list.len()
            }
            None => 0,
        }
    }

    /// Admits a login attempt from `ip` as `account`: the delay before checking it, or a
    /// refusal when the address is locked out. The attempt counts as failed until
    /// [`succeeded`](Self::succeeded) or [`abandoned`](Self::abandoned) says otherwise.
    pub(crate) fn admit(&self, ip: IpAddr, account: &AccountName) -> Result<Duration, ApiError> {
        let mut map = self.map();
        let now = Instant::now();
        if map.len() >= 10_000 {
            // Forget addresses whose attempts are all outside the window (bounded memory).
            let window = self.limits.window;
            map.retain(|_, a| {
                a.list
                    .back()
                    .is_some_and(|(t, _)| now.duration_since(*t) <= window)
            });
        }
        let a = map.entry(ip).or_default();
        self.prune(a, now);
        let n = a.list.len() as u32;
        if n >= self.limits.max_failures {
            return Err(ApiError::new(
                ErrorKind::Unauthenticated,
                format!("too many failed logins from {ip}; logins from this address are refused for a while"),
            )
            .with_hint(format!(
                "wait up to {} minutes, or ask an administrator to check the audit log",
                self.window_minutes()
            )));
        }
        a.list.push_back((now, account.clone()));
        if n < self.limits.free_failures {
            return Ok(Duration::ZERO);
        }
        let exp = (n - self.limits.free_failures).min(16);
        Ok(self
            .limits
            .base_delay
            .saturating_mul(1 << exp)
            .min(self.limits.max_delay))
    }

    /// An admitted attempt from `ip` failed; true when the address is locked out now and no
    /// earlier failure said so (report it once).
    pub(crate) fn failed(&self, ip: IpAddr) -> bool {
        let mut map = self.map();
        match map.get_mut(&ip) {
            Some(a) if a.list.len() >= self.limits.max_failures as usize && !a.reported => {
                a.reported = true;
                true
            }
            _ => false,
        }
    }

    /// An admitted attempt as `account` succeeded: forgets the address's failures for that
    /// account. Failures for other accounts stay: logging in with one's own account must not
    /// reset the limit on guessing at others.
    pub(crate) fn succeeded(&self, ip: IpAddr, account: &AccountName) {
        let mut map = self.map();
        if let Some(a) = map.get_mut(&ip) {
            a.list.retain(|(_, who)| who != account);
            if a.list.is_empty() {
                map.remove(&ip);
            }
        }
    }

    /// An admitted attempt as `account` ended without a verdict (e.g. the store failed): it does
    /// not count.
    pub(crate) fn abandoned(&self, ip: IpAddr, account: &AccountName) {
        let mut map = self.map();
        if let Some(a) = map.get_mut(&ip) {
            if let Some(i) = a.list.iter().rposition(|(_, who)| who == account) {
                a.list.remove(i);
            }
            if a.list.is_empty() {
                map.remove(&ip);
            }
        }
    }

    /// The lock-out window in whole minutes (at least 1), for messages.
    pub(crate) fn window_minutes(&self) -> u64 {
        self.limits.window.as_secs().div_ceil(60).max(1)
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) manager: Manager,
    pub(crate) limiter: Arc<LoginLimiter>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: Arc<ServeConfig>,
    /// Cancelled when the server shuts down: ends event streams and long polls.
    pub(crate) closing: CancellationToken,
}

impl AppState {
    /// A fresh temporary directory under `<state dir>/tmp` (removed on drop).
    pub(crate) fn temp_dir(&self, prefix: &str) -> Result<tempfile::TempDir, ApiError> {
        use std::os::unix::fs::DirBuilderExt;
        let root = self.manager.state_dir().join("tmp");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .and_then(|()| tempfile::Builder::new().prefix(prefix).tempdir_in(&root))
            .map_err(|e| {
                ApiError::failed(format!(
                    "cannot create a temporary directory in {root}: {e}"
                ))
            })
    }
}

/// The session token of an authenticated request.
#[derive(Debug, Clone)]
pub(crate) struct SessionToken(pub(crate) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(kind = %self.kind, message = %self.message, details = ?self.details, "request failed");
        }
        (status, axum::Json(ErrorBody { error: self })).into_response()
    }
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(parts: &axum::http::HeaderMap) -> Option<&str> {
    let value = parts
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// Middleware of every authenticated route: token → [`crate::Actor`] (a request extension).
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer(req.headers()).map(str::to_owned) else {
        return ApiError::unauthenticated("this request needs a session token").into_response();
    };
    match state.manager.actor_for_token(&token).await {
        Ok(actor) => {
            req.extensions_mut().insert(actor);
            req.extensions_mut().insert(SessionToken(token));
            next.run(req).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// JSON body extractor whose refusal is an [`ApiError`] (`invalid_request`). An empty body
/// reads as `T::default()` when `T` has one via [`OptionalJson`].
pub(crate) struct Json<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid_request(format!("cannot read the request body: {e}")))?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| ApiError::invalid_request(format!("invalid request body: {e}")))
    }
}

/// Like [`Json`], but an empty body means `T::default()`.
pub(crate) struct OptionalJson<T>(pub(crate) T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid_request(format!("cannot read the request body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(OptionalJson)
            .map_err(|e| ApiError::invalid_request(format!("invalid request body: {e}")))
    }
}

/// Path extractor whose refusal is an [`ApiError`] naming the bad segment.
pub(crate) struct Path<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::invalid_request(e.body_text()).with_status(404))
    }
}

/// Query extractor whose refusal is an [`ApiError`].
pub(crate) struct Query<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::invalid_request(e.body_text()))
    }
}

/// Logs `user` in from `ip` under the server's login limits (delays, lock-out, its audit
/// entry): the API's `POST /api/v1/login` and the console's login both go through here, so
/// that neither is a way around them. `what` names the caller in the log (`login`,
/// `console login`).
pub(crate) async fn limited_login(
    st: &AppState,
    ip: IpAddr,
    user: &AccountName,
    password: &Password,
    what: &str,
) -> Result<Session, ApiError> {
    let delay = st.limiter.admit(ip, user).inspect_err(|_| {
        tracing::warn!(account = %user, client = %ip, "{what} refused: too many failures from this address");
    })?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match st.manager.login(user, password).await {
        Ok(session) => {
            st.limiter.succeeded(ip, user);
            tracing::info!(account = %user, client = %ip, "{what}");
            Ok(session)
        }
        Err(e) => {
            if e.kind() == crate::ErrorKind::Unauthenticated {
                let locked = st.limiter.failed(ip);
                tracing::warn!(account = %user, client = %ip, "failed {what}");
                if locked {
                    audit_lockout(st, user, ip).await;
                }
            } else {
                st.limiter.abandoned(ip, user);
            }
            Err(e.into())
        }
    }
}

/// Records in the audit log that `ip` is locked out after its latest failed login (as `user`);
/// once per lock-out, so that refused attempts cannot flood the log.
async fn audit_lockout(st: &AppState, user: &AccountName, ip: IpAddr) {
    tracing::warn!(account = %user, client = %ip, "login lock-out: too many failed logins from this address");
    let entry = crate::store::AuditEntry {
        at: crate::clock::now(),
        actor: None,
        action: "login lock-out".to_owned(),
        target: format!("client {ip}"),
        result: format!(
            "refused for up to {} minutes after too many failed logins (last as {user})",
            st.limiter.window_minutes()
        ),
    };
    if let Err(e) = st
        .manager
        .write(vec![crate::store::Change::Audit(entry)])
        .await
    {
        tracing::error!(client = %ip, error = %e, "cannot audit a login lock-out");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_limits_delay_then_lock_out() {
        let limiter = LoginLimiter::new(LoginLimits {
            window: Duration::from_secs(60),
            max_failures: 5,
            free_failures: 2,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        });
        let ip: IpAddr = [10, 0, 0, 1].into();
        let (alice, bob): (AccountName, AccountName) = (
            AccountName::new("alice").expect("name"),
            AccountName::new("bob").expect("name"),
        );
        let mut delays = Vec::new();
        for n in 0..5 {
            let who = if n < 4 { &alice } else { &bob };
            delays.push(limiter.admit(ip, who).expect("not locked yet").as_millis());
            assert_eq!(limiter.failed(ip), n == 4, "failure {n}");
        }
        assert_eq!(delays, vec![0, 0, 100, 200, 300]);
        let err = limiter.admit(ip, &alice).expect_err("locked");
        assert_eq!(err.kind, ErrorKind::Unauthenticated);
        assert!(!limiter.failed(ip), "the lock-out is reported once");
        let other: IpAddr = [10, 0, 0, 2].into();
        assert_eq!(
            limiter.admit(other, &alice).expect("other address"),
            Duration::ZERO
        );
        limiter.succeeded(ip, &alice);
        // bob's failure stays: one, within the free ones.
        assert_eq!(limiter.recent(ip), 1);
        assert_eq!(limiter.admit(ip, &alice).expect("cleared"), Duration::ZERO);
        limiter.succeeded(ip, &alice);
        limiter.succeeded(ip, &bob);
        assert_eq!(limiter.recent(ip), 0);
    }

    #[test]
    fn attempts_in_flight_count_against_the_limit() {
        let limiter = LoginLimiter::new(LoginLimits {
            window: Duration::from_secs(60),
            max_failures: 3,
            free_failures: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        });
        let ip: IpAddr = [10, 0, 0, 1].into();
        let names: Vec<AccountName> = ["a1", "a2", "a3", "a4"]
            .into_iter()
            .map(|n| AccountName::new(n).expect("name"))
            .collect();
        // Three attempts admitted at once, none finished yet: the fourth is refused.
        for n in &names[..3] {
            limiter.admit(ip, n).expect("admitted");
        }
        limiter
            .admit(ip, &names[3])
            .expect_err("limit reached by attempts in flight");
        // One succeeds, one ends without a verdict: two slots free again.
        limiter.succeeded(ip, &names[0]);
        limiter.abandoned(ip, &names[1]);
        assert_eq!(limiter.recent(ip), 1);
        limiter.admit(ip, &names[3]).expect("admitted");
        limiter.admit(ip, &names[3]).expect("admitted");
        assert!(limiter.failed(ip), "three failures lock the address out");
        limiter.admit(ip, &names[0]).expect_err("locked out");
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            axum::http::header::AUTHORIZATION,
            "bearer abc".parse().expect("header"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Basic abc".parse().expect("header"),
        );
        assert_eq!(bearer(&h), None);
    }
}
