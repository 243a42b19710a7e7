//! The operation engine: runs plans of `vsm-core` against the injected drivers and the deploy
//! layer, journals every step before and after it runs (group-committed), publishes progress,
//! and reconciles after a crash.
//!
//! It works only through the [`EngineCtx`] the manager hands it (store, drivers, settings,
//! event sink, clock, running operations): it never calls back into the manager, never
//! authorizes (the manager did) and never reads configuration files.
//!
//! From the bottom up: `journal` (the group-committing writer), `live` (a running operation's
//! model and its server index), `running` (the registry of running operations and unit locks),
//! `hosts` (the host table), `leader` (the term of an active manager and the election on
//! PostgreSQL), `context`, `exec`, `pool` (connecting and placing) (one step against a driver), `definitions` (the snapshot store), `run`
//! (an operation from its plans to its record) and `monitor`.

mod context;
mod definitions;
mod exec;
mod heartbeat;
mod hosts;
mod journal;
mod leader;
mod live;
mod monitor;
mod pool;
mod run;
mod running;

pub(crate) use context::EngineCtx;
pub use definitions::TarExport;
pub(crate) use definitions::{
    ImportSource, diff, export, export_tar, import,
    remove_temporaries as remove_definition_temporaries,
};
pub(crate) use exec::{check_template_source, server_logs};
pub(crate) use heartbeat::{fail_over, probe_hosts, spawn_heartbeat};
pub(crate) use leader::{ElectionConfig, start_election, take_over};
pub(crate) use monitor::{check_once, spawn_monitor};
pub(crate) use pool::{connect as connect_host, refresh as refresh_host};
pub(crate) use run::{Request, recover_interrupted, start};
