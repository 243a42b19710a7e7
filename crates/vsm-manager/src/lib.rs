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
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admin;
pub mod api;
mod auth;
pub mod config;
mod engine;
pub mod error;
pub mod http;
mod jp1;
pub mod logging;
mod manager;
pub mod store;
pub mod unitfile;

pub use api::*;
pub use config::{ManagerConfig, PasswordCost, Settings};
pub use error::{DataProblem, Entity, Error, ErrorKind, OpenError, Result};
pub use manager::{DB_FILE, DEFINITIONS_DIR, DriverSet, InitOptions, LOCK_FILE, Manager};
