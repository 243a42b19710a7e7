//! vsm-manager: the manager of vsm — state store, accounts and sessions, the operation engine,
//! monitoring and recovery, backup/restore, and (in [`http`]) the HTTP API.
//!
//! The entry point is [`Manager`]: [`Manager::init`] creates a state directory,
//! [`Manager::open`] opens it with the hypervisor drivers the caller injects ([`DriverSet`]),
//! and every operation of SPEC.md is one `async` method taking the authenticated [`Actor`].
//! Long operations (start, stop, apply, scale, …) return an [`vsm_core::OperationId`] at once
//! and run in the background; follow them with [`Manager::subscribe`] or [`Manager::wait`].
//! Every error is an [`Error`] whose [`Error::kind`] maps to the CLI's exit codes.
//!
//! This crate never chooses a hypervisor backend from the environment or configuration: the
//! binary (or an embedder) builds the drivers and injects them.
//!
//! # Embedding
//!
//! `examples/embed.rs` is the whole builder flow in one program (run in CI by the test
//! `embed::the_embedding_example_runs_the_whole_flow`):
//!
//! ```sh
//! cargo build -p vsm-hypervisor --bins && cargo run -p vsm-manager --example embed
//! ```
//!
//! In short:
//!
//! ```no_run
//! # use std::{sync::Arc, time::Duration};
//! # use vsm_manager::*;
//! # use vsm_hypervisor::local::{LocalDriver, LocalOptions};
//! # async fn demo() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let state = camino::Utf8PathBuf::from("/tmp/vsm-state");
//! Manager::init(InitOptions::new(state.clone(), "admin".parse()?, Password::new("s3cret-pw")))?;
//! let local = Arc::new(LocalDriver::open(state.join("local"), LocalOptions::default())?);
//! let manager = Manager::open(
//!     ManagerConfig::load(&state)?,
//!     DriverSet::new().with(DriverKind::Local, local),
//! )
//! .await?;
//! let me = manager.authenticate(&"admin".parse()?, &Password::new("s3cret-pw")).await?;
//! let unit = "shop".parse()?;
//! let op = manager.start_unit(&me, &unit, OpOptions::default()).await?;
//! let mut progress = manager.subscribe(&me, op).await?;
//! let record = manager.wait(&me, op, Duration::from_secs(60)).await?;
//! # let _ = (progress.try_recv(), record);
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
mod auth;
mod backup;
mod clock;
pub mod config;
mod drivers;
mod engine;
pub mod error;
pub mod host;
pub mod http;
mod jp1;
pub mod logging;
mod manager;
mod operation;
mod paths;
mod revision;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod ui;
pub mod unitfile;
pub mod watch_delta;

pub use api::*;
pub use config::{ManagerConfig, PasswordCost, Settings};
pub use drivers::{DriverFactory, DriverSet};
pub use engine::TarExport;
pub use error::{DataProblem, Entity, Error, ErrorKind, OpenError, Result};
pub use manager::{InitOptions, Manager, MigrateOptions, MigrateReport, RestoreOptions};
pub use paths::{DB_FILE, DEFINITIONS_DIR, LOCK_FILE};
pub use watch_delta::{DeltaError, GroupDelta, UnitDelta};
