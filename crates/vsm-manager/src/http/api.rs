//! The few JSON bodies of the HTTP API that are not [`crate::api`] types: health, login,
//! password change, template generation, query strings and the plain acknowledgement.
//!
//! Every other body is a `crate::api` request or response serialized as is; this module adds
//! nothing a library embedder would need.

use serde::{Deserialize, Serialize};
use vsm_core::{AccountName, Role};

use crate::api::Password;

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok` when the manager answers.
    pub status: String,
    /// The manager's version.
    pub version: String,
    /// The manager's process id.
    pub pid: u32,
    /// The manager's state directory.
    pub state_dir: String,
    /// The limits on uploaded definition directories (absent from the answer of an older
    /// manager, which did not announce them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<UploadLimits>,
    /// With several managers on one PostgreSQL database: this manager's role, the epoch, the
    /// active manager and the peers last seen (absent: the only manager of its store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<crate::api::HaStatus>,
}

/// The limits the manager applies to an uploaded definition directory (`vsm unit import`,
/// `vsm unit diff`), announced in [`Health`] so that a client can refuse, before sending
/// anything, what the manager would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadLimits {
    /// The largest upload: the tar archive of the directory (files and headers), in bytes.
    pub max_upload_bytes: u64,
    /// The largest single file, in bytes.
    pub max_file_bytes: u64,
    /// The most bytes of all files together.
    pub max_total_bytes: u64,
    /// The most files, directories and links together.
    pub max_entries: u64,
    /// The deepest nesting of directories (the root's entries are at level 1).
    pub max_depth: u64,
}

impl UploadLimits {
    /// The limits of a manager accepting uploads of up to `max_upload_bytes`: what receiving
    /// an upload checks (the upload size, then [`super::archive::UnpackLimits`] with that size as
    /// total) and what importing it checks (the snapshot store's [`vsm_deploy::ScanLimits`]
    /// defaults, which the manager uses), the stricter of each.
    pub fn for_upload(max_upload_bytes: u64) -> UploadLimits {
        let scan = vsm_deploy::ScanLimits::default();
        let unpack = super::archive::UnpackLimits::default();
        UploadLimits {
            max_upload_bytes,
            max_file_bytes: scan.max_file_bytes.min(max_upload_bytes),
            max_total_bytes: scan.max_total_bytes.min(max_upload_bytes),
            max_entries: (scan.max_entries as u64).min(unpack.max_entries),
            max_depth: scan.max_depth as u64,
        }
    }
}

/// `POST /api/v1/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account.
    pub user: AccountName,
    /// The password (its `Debug` is hidden; never logged).
    pub password: Password,
}

/// `GET /api/v1/whoami`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The caller's account.
    pub account: AccountName,
    /// Its role.
    pub role: Role,
}

/// `PUT /api/v1/accounts/{name}/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// The new password.
    pub password: Password,
}

/// `POST /api/v1/templates/{name}/generations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationRequest {
    /// Driver-specific source of the new generation.
    pub source: String,
}

/// Query of `GET /api/v1/units`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitListQuery {
    /// Every owner's units (administrators only).
    #[serde(default)]
    pub all: bool,
}

/// Query of `GET /api/v1/operations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationListQuery {
    /// Only operations on this unit.
    #[serde(default)]
    pub unit: Option<vsm_core::UnitName>,
}

/// Query of `GET /api/v1/operations/{id}/wait`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitQuery {
    /// How long to wait for the operation to end, in seconds (default 30, at most 300).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Query of `GET /api/v1/units/{unit}/servers/{server}/logs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsQuery {
    /// Only the last N lines.
    #[serde(default)]
    pub tail: Option<usize>,
}

/// Query of `DELETE` routes that start an operation (`wait_secs`), and of unit deletion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteQuery {
    /// Delete even if servers run (unit deletion only).
    #[serde(default)]
    pub force: bool,
    /// How long to wait for a busy unit's lock, in seconds.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// The answer of routes that change something and have nothing else to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Always true.
    pub ok: bool,
}

impl Done {
    /// The acknowledgement.
    pub const OK: Done = Done { ok: true };
}

/// The event names of `GET /api/v1/operations/{id}/events`.
pub mod sse {
    /// Data: a [`crate::api::ProgressEvent`] (JSON).
    pub const PROGRESS: &str = "progress";
    /// Data: the final [`crate::api::OperationRecord`] (JSON); the last event of the stream.
    pub const FINISHED: &str = "finished";
    /// Data: an [`crate::http::ErrorBody`] (JSON); the stream ends after it.
    pub const ERROR: &str = "error";
}

/// The event names of a unit's watch stream, `GET /api/v1/units/{unit}/events` (docs/api.md).
pub mod unit_sse {
    /// Data: the whole [`crate::api::UnitDetail`] (JSON); `id` is the unit's revision. The
    /// first event of a stream, and the one after a `resync`.
    pub const SNAPSHOT: &str = "snapshot";
    /// Data: a [`crate::watch_delta::UnitDelta`] (JSON) that turns the view of the previous
    /// event into the view at this event's `id`.
    pub const DELTA: &str = "delta";
    /// Data: a [`super::WatchResync`] (JSON): the `Last-Event-ID` sent cannot be resumed from;
    /// a `snapshot` follows.
    pub const RESYNC: &str = "resync";
    /// Data: `{}`; sent when nothing else was sent for the heartbeat interval.
    pub const HEARTBEAT: &str = "heartbeat";
    /// Data: a [`super::UnitDeleted`] (JSON): the unit is gone; the last event of the stream.
    pub const DELETED: &str = "deleted";
    /// Data: an [`crate::http::ErrorBody`] (JSON), e.g. the caller lost access to the unit;
    /// the last event of the stream.
    pub const ERROR: &str = "error";
}

/// The data of a `resync` event of a unit's watch stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResync {
    /// Why the stream could not resume: `gone` (the revision is no longer buffered) or
    /// `unknown` (an id of another manager process, or not an id of this stream).
    pub reason: String,
}

/// The data of a `deleted` event of a unit's watch stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitDeleted {
    /// The unit that was deleted.
    pub unit: vsm_core::UnitName,
}
