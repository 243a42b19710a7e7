//! vsm-jp1: vsm's integration with Hitachi's JP1 products.
//!
//! - **JP1/IM** (failure monitoring): vsm events ([`VsmEvent`]) become JP1 events ([`to_jp1`],
//!   event ID table [`EVENT_TABLE`]) that are checked against every `jevsend` limit
//!   ([`Jp1Event`]), queued in a durable [`Outbox`] and delivered by `jevsend`
//!   ([`JevsendConfig`]) or as lines of a log-file-trap log ([`TrapLog`], [`logtrap_config`]).
//! - **JP1/AJS** (scheduled start/stop): [`ajs_jobnet`] renders an `ajsdefine` unit definition.
//! - **JP1/PFM** (load monitoring): [`pfm_export`] renders `PI_UPI` user-created data for `jpcuser`.
//!
//! Rendering and validation are pure; only [`outbox`], [`jevsend`] and [`TrapLog`] do IO. Details
//! the public manuals did not confirm live in [`unverified`] and nowhere else. This crate does not
//! decide *when* an event happens or what a unit's state is: the manager does, and calls in.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod ajs;
pub mod event;
pub mod exit_code;
pub mod jevsend;
pub mod logtrap;
pub mod mapping;
pub mod outbox;
pub mod pfm;
pub mod shorten;
pub mod unverified;

pub use ajs::{AjsError, JobnetSpec, TimeOfDay, ajs_jobnet, ajs_jobnet_from_args};
pub use event::{EventId, Jp1Event, Jp1EventError, ProductName, Severity};
pub use jevsend::{JevsendConfig, SendError};
pub use logtrap::{TRAP_LOG_FILE_NAME, TrapLog, logtrap_config, trap_line};
pub use mapping::{
    EVENT_TABLE, EventConfig, EventKind, EventSpec, OperationInfo, VsmEvent, to_jp1,
};
pub use outbox::{Channel, DrainReport, Outbox, OutboxConfig, OutboxError};
pub use pfm::{
    PfmError, PfmFileError, PfmPlatform, PfmRow, pfm_export, pfm_export_for, pfm_instance_key,
    write_pfm_file,
};
