//! The axum server: listening (plain or TLS) and graceful shutdown, over the router that
//! `routes.rs` builds (one table of routes and handlers).
//!
//! This module never decides who may do what: requests reach the manager with the
//! [`crate::Actor`] that `state.rs` resolved from their token; the manager enforces the policy
//! for every request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::serve_config::{ServeConfig, ServeError};
use super::state::{AppState, LoginLimiter};
use crate::Manager;

/// The router of the whole API over `manager` (without a listener): for embedding and tests.
pub fn router(manager: Manager, config: &ServeConfig) -> axum::Router {
    let state = AppState {
        limiter: Arc::new(LoginLimiter::new(config.login)),
        metrics: Arc::new(Metrics::new()),
        config: Arc::new(config.clone()),
        closing: CancellationToken::new(),
        manager,
    };
    app(state)
}

/// The API's routes and the web console's (`/ui`, [`crate::ui`]).
fn app(state: AppState) -> axum::Router {
    super::routes::build(state.clone()).merge(crate::ui::router(state))
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
        let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
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
