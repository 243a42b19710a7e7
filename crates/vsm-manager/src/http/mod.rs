//! The HTTP/JSON API of the manager: the axum server, its typed client, the OpenAPI document and
//! the metrics endpoint.
//!
//! The contract is `/work/notes/API.md`, checked in as `docs/openapi.json`. Bodies are the
//! [`crate::api`] types (plus the few in [`api`]). This module authenticates callers and
//! translates between HTTP and [`crate::Manager`]; it does not decide who may do what (the
//! manager enforces `vsm-core`'s policy for every request) and holds no state of its own beyond
//! login rate limits and metrics.

pub mod api;
pub mod archive;
pub mod client;
mod conditional;
pub mod error;
mod metrics;
mod openapi;
#[cfg(test)]
mod proof_tests;
#[cfg(test)]
mod read_tests;
mod routes;
mod schema;
mod serve_config;
pub mod server;
pub(crate) mod state;
#[cfg(test)]
mod tests;
pub(crate) mod upload;
mod watch;
#[cfg(test)]
mod watch_tests;

pub use client::{
    Client, ClientError, EventStream, OperationEvent, UnitEvent, UnitWatch, WatchOptions,
    install_crypto_provider,
};
pub use error::{ApiError, ErrorBody, ErrorKind};
pub use openapi::openapi_json;
pub use serve_config::{
    DEFAULT_LISTEN, LoginLimits, ServeConfig, ServeError, TlsConfig, parse_listen,
};
pub use server::{Server, router, serve};
