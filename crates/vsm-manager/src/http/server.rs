//! The axum server: listening (plain or TLS), bearer-token authentication, login rate limits per
//! client address, the error body, and graceful shutdown.
//!
//! Routes and handlers live in `routes.rs` (one table). This module never decides who may
//! do what: it resolves the token to an [`crate::Actor`] through the manager and passes it on; the
//! manager enforces the policy for every request.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use camino::{Utf8Path, Utf8PathBuf};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::error::{ApiError, ErrorBody, ErrorKind};
use super::metrics::Metrics;
use crate::Manager;
use vsm_core::AccountName;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7460";

/// TLS certificate and key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain.
    pub cert: Utf8PathBuf,
    /// The private key.
    pub key: Utf8PathBuf,
}

/// Limits on failed logins per client address (the manager limits per account as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures are counted within this window.
    pub window: Duration,
    /// Failures before the address is locked out for the rest of the window.
    pub max_failures: u32,
    /// Failures answered without delay; each further one doubles the delay.
    pub free_failures: u32,
    /// The first delay.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            window: Duration::from_secs(15 * 60),
            max_failures: 20,
            free_failures: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

/// How the API is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The listen address (default 127.0.0.1:7460; port 0 picks a free port).
    pub listen: SocketAddr,
    /// TLS, when set.
    pub tls: Option<TlsConfig>,
    /// Failed-login limits per client address.
    pub login: LoginLimits,
    /// The largest accepted upload (definition archives), in bytes.
    pub max_upload_bytes: u64,
    /// How long graceful shutdown waits for open requests before closing them.
    pub shutdown_grace: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7460)),
            tls: None,
            login: LoginLimits::default(),
            max_upload_bytes: 1 << 30,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ServeConfig {
    /// The configuration of the manager's `service` settings: listen address and TLS files
    /// (relative paths are inside `state_dir`).
    pub fn from_settings(
        settings: &crate::config::ServiceSettings,
        state_dir: &Utf8Path,
    ) -> Result<ServeConfig, ServeError> {
        let listen = parse_listen(&settings.listen)?;
        let abs = |p: &str| {
            let p = Utf8PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                state_dir.join(p)
            }
        };
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert: abs(cert),
                key: abs(key),
            }),
            (None, None) => None,
            _ => {
                return Err(ServeError::Config(
                    "service.tls_cert and service.tls_key must be given together".into(),
                ));
            }
        };
        Ok(ServeConfig {
            listen,
            tls,
            ..ServeConfig::default()
        })
    }
}

/// Parses a listen address (`ADDR:PORT`, e.g. `127.0.0.1:7460` or `[::1]:7460`).
pub fn parse_listen(text: &str) -> Result<SocketAddr, ServeError> {
    text.trim().parse().map_err(|_| {
        ServeError::Config(format!(
            "listen address {text:?} is not ADDR:PORT (for example {DEFAULT_LISTEN})"
        ))
    })
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load the TLS certificate {cert} and key {key}")]
    Tls {
        /// The certificate file.
        cert: Utf8PathBuf,
        /// The key file.
        key: Utf8PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
}

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

/// Middleware of every authenticated route: token → [`Actor`] (a request extension).
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

/// The router of the whole API over `manager` (without a listener): for embedding and tests.
pub fn router(manager: Manager, config: &ServeConfig) -> axum::Router {
    let state = AppState {
        limiter: Arc::new(LoginLimiter::new(config.login)),
        metrics: Arc::new(Metrics::new()),
        config: Arc::new(config.clone()),
        closing: CancellationToken::new(),
        manager,
    };
    super::routes::build(state)
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    handle: axum_server::Handle<SocketAddr>,
    closing: CancellationToken,
    grace: Duration,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `config.listen` and serves the API over `manager` in a background task.
    pub async fn start(manager: Manager, config: ServeConfig) -> Result<Server, ServeError> {
        super::client::install_crypto_provider();
        let listener =
            std::net::TcpListener::bind(config.listen).map_err(|source| ServeError::Bind {
                addr: config.listen,
                source,
            })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServeError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
        let closing = CancellationToken::new();
        let state = AppState {
            limiter: Arc::new(LoginLimiter::new(config.login)),
            metrics: Arc::new(Metrics::new()),
            config: Arc::new(config.clone()),
            closing: closing.clone(),
            manager,
        };
        state.metrics.seed(&state.manager).await;
        let app = super::routes::build(state).into_make_service_with_connect_info::<SocketAddr>();
        let handle = axum_server::Handle::new();
        let task = match &config.tls {
            None => {
                let server = axum_server::from_tcp(listener)
                    .map_err(|source| ServeError::Bind { addr, source })?
                    .handle(handle.clone());
                tokio::spawn(server.serve(app))
            }
            Some(tls) => {
                let rustls =
                    axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                        .await
                        .map_err(|source| ServeError::Tls {
                            cert: tls.cert.clone(),
                            key: tls.key.clone(),
                            source,
                        })?;
                let server = axum_server::tls_rustls::from_tcp_rustls(listener, rustls)
                    .map_err(|source| ServeError::Bind { addr, source })?
                    .handle(handle.clone());
                tokio::spawn(server.serve(app))
            }
        };
        tracing::info!(%addr, tls = config.tls.is_some(), "API listening");
        Ok(Server {
            addr,
            tls: config.tls.is_some(),
            handle,
            closing,
            grace: config.shutdown_grace,
            task,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the API (`http://ADDR:PORT` or `https://…`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting connections, ends event streams and long polls, and waits for open
    /// requests (at most the configured grace). The manager itself keeps running: call
    /// [`Manager::shutdown`] afterwards.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.closing.cancel();
        self.handle.graceful_shutdown(Some(self.grace));
        self.join().await
    }

    async fn join(self) -> Result<(), ServeError> {
        match self.task.await {
            Ok(result) => result.map_err(ServeError::Serve),
            Err(e) => Err(ServeError::Serve(std::io::Error::other(e))),
        }
    }
}

/// Serves the API over `manager` until `shutdown` completes, then shuts down gracefully (see
/// [`Server::shutdown`]).
pub async fn serve(
    manager: Manager,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let server = Server::start(manager, config).await?;
    shutdown.await;
    tracing::info!("API shutting down");
    server.shutdown().await
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
    fn listen_addresses_parse_or_explain() {
        assert_eq!(
            parse_listen("127.0.0.1:7460").expect("ok"),
            SocketAddr::from(([127, 0, 0, 1], 7460))
        );
        let err = parse_listen("localhost").expect_err("refused");
        assert!(err.to_string().contains("ADDR:PORT"), "{err}");
    }

    #[test]
    fn service_settings_resolve_tls_files_in_the_state_dir() {
        let mut settings = crate::config::ServiceSettings {
            listen: "127.0.0.1:0".into(),
            tls_cert: Some("tls/cert.pem".into()),
            tls_key: Some("/etc/vsm/key.pem".into()),
        };
        let config =
            ServeConfig::from_settings(&settings, Utf8Path::new("/var/lib/vsm")).expect("valid");
        assert_eq!(
            config.tls,
            Some(TlsConfig {
                cert: "/var/lib/vsm/tls/cert.pem".into(),
                key: "/etc/vsm/key.pem".into(),
            })
        );
        settings.tls_key = None;
        let err = ServeConfig::from_settings(&settings, Utf8Path::new("/var/lib/vsm"))
            .expect_err("half a TLS pair");
        assert!(err.to_string().contains("together"), "{err}");
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
