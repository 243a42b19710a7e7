//! The typed requests and responses of every manager operation (SPEC.md, both roles).
//!
//! These structs are plain data with `serde` derives so the HTTP service and the CLI reuse them
//! as JSON bodies. They hold no behaviour beyond small helpers and never touch the store or a
//! driver.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
pub use vsm_core::model::{
    DefinitionStatus, FailureMark, LogicalStatus, ObservedStatus, ServerCounts, StepKind,
    UpdateScope,
};
use vsm_core::{
    AccountName, DefinitionDigest, DefinitionVersion, GroupName, OperationId, Role, ServerName,
    TemplateGeneration, TemplateName, Timestamp, UnitName,
};

use crate::error::Error;
pub use crate::operation::{
    OperationKind, OperationRecord, OperationState, OperationSummary, ServerResult, StepStatus,
};

/// An authenticated caller: the account and its role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The account.
    pub account: AccountName,
    /// Its role.
    pub role: Role,
}

impl Actor {
    /// The actor as the core's policy sees it.
    pub fn as_account(&self) -> vsm_core::Account {
        vsm_core::Account::new(self.account.clone(), self.role)
    }

    /// Whether the actor is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Administrator
    }
}

/// A password in transit. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    /// Wraps a password (a trailing newline, as password files have, is removed).
    pub fn new(value: impl Into<String>) -> Self {
        let mut s: String = value.into();
        while s.ends_with('\n') || s.ends_with('\r') {
            s.pop();
        }
        Password(s)
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

pub use crate::host::{DriverKind, Fencing, HostConnection, HostRecord};

// ---------------------------------------------------------------- hosts

/// `vsm host add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddHost {
    /// The host's name in the pool.
    pub name: vsm_core::HostName,
    /// Its driver kind (`local` or `libvirt`).
    pub driver: DriverKind,
    /// The libvirt connection URI (libvirt hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The driver's state directory, absolute (local hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<camino::Utf8PathBuf>,
    /// Labels that groups select hosts by.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// vCPUs handed out per CPU (default 16.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ratio: Option<f64>,
    /// Memory handed out per MiB (default 1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram_ratio: Option<f64>,
    /// Memory kept for the host itself, in MiB (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_memory_mb: Option<u64>,
    /// What its loss needs before its servers restart elsewhere (default `manual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing: Option<Fencing>,
}

/// A server as a host lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedServer {
    /// Its unit.
    pub unit: UnitName,
    /// Its group.
    pub group: vsm_core::GroupName,
    /// Its name.
    pub server: ServerName,
    /// What it takes of the host.
    pub size: vsm_core::Resources,
}

/// A host with what is placed on it (`vsm host list`, `vsm host show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The host as recorded.
    #[serde(flatten)]
    pub host: HostRecord,
    /// Whether the manager holds a connected driver for it.
    pub connected: bool,
    /// What it may hand out (capacity after ratios and reserved memory).
    pub allocatable: vsm_core::Usage,
    /// What its servers take.
    pub used: vsm_core::Usage,
    /// How many servers are placed on it.
    pub servers: u32,
    /// The servers placed on it (`host show` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placed: Vec<PlacedServer>,
}

/// `vsm host drain`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// How long the drain may take, in seconds (default 600); servers not moved by then stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// A server a drain could not move, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftServer {
    /// Its unit.
    pub unit: UnitName,
    /// Its group.
    pub group: vsm_core::GroupName,
    /// Its name.
    pub server: ServerName,
    /// Why it is still on the host.
    pub reason: String,
}

/// What `vsm host drain` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainReport {
    /// The host afterwards (`maintenance` once empty, else still `draining`).
    pub host: HostInfo,
    /// The operations that moved servers, one per unit.
    pub operations: Vec<OperationSummary>,
    /// How many servers were moved off.
    pub moved: u32,
    /// The servers still on the host, with the reason each.
    pub left: Vec<LeftServer>,
    /// Whether the time-out ended the drain.
    pub timed_out: bool,
}

/// `vsm host rebalance`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebalanceRequest {
    /// Only propose the moves; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// How long applying the moves may take, in seconds (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// What `vsm host rebalance` proposed, and (unless a dry run) started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalanceReport {
    /// The moves that restore the spread (the server's replacement goes where placement puts
    /// it, which is the emptiest allowed host).
    pub moves: Vec<vsm_core::Move>,
    /// Whether it only proposed them.
    pub dry_run: bool,
    /// The operations that applied them, one per unit, as they ended.
    pub operations: Vec<OperationSummary>,
    /// Whether the time-out ended the rebalance.
    pub timed_out: bool,
}

/// What `vsm host confirm-down` started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmDownReport {
    /// The host, confirmed down.
    pub host: HostInfo,
    /// The failover operations that restart its servers elsewhere, one per unit.
    pub operations: Vec<OperationId>,
    /// Units whose servers could not be restarted now (busy, or no room), with why; the
    /// manager tries them again every 30 s.
    #[serde(default)]
    pub not_restarted: Vec<UnitRefusal>,
}

/// A unit an action could not be started on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRefusal {
    /// The unit.
    pub unit: UnitName,
    /// Why.
    pub reason: String,
}

// ---------------------------------------------------------------- accounts and sessions

/// `vsm account add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddAccount {
    /// The new account's name.
    pub name: AccountName,
    /// Its role.
    pub role: Role,
    /// Its password.
    pub password: Password,
}

/// An account as listed (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The name.
    pub name: AccountName,
    /// The role.
    pub role: Role,
    /// When it was added.
    pub created_at: Timestamp,
    /// The units it owns.
    pub units: Vec<UnitName>,
}

/// A session created by [`crate::Manager::login`]: the token is shown once and stored hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The bearer token (random, 64 hex characters).
    pub token: String,
    /// The account.
    pub account: AccountName,
    /// Its role.
    pub role: Role,
    /// When the token stops working.
    pub expires_at: Timestamp,
}

// ---------------------------------------------------------------- templates

/// `vsm template register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterTemplate {
    /// The template's name.
    pub name: TemplateName,
    /// The driver that clones servers from it.
    pub driver: DriverKind,
    /// Driver-specific source: a template directory (local), a domain or volume (libvirt).
    pub source: String,
}

/// One generation of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationInfo {
    /// The generation number.
    pub generation: TemplateGeneration,
    /// Its source.
    pub source: String,
    /// When it was registered.
    pub created_at: Timestamp,
    /// What one machine takes of its host (the driver's figure, or placement's default).
    pub size: vsm_core::Resources,
}

/// A template with its generations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateInfo {
    /// The name.
    pub name: TemplateName,
    /// The account that registered it.
    pub owner: AccountName,
    /// Its driver.
    pub driver: DriverKind,
    /// The newest generation.
    pub latest: TemplateGeneration,
    /// Every generation, oldest first.
    pub generations: Vec<GenerationInfo>,
    /// Units with groups cloned from it.
    pub used_by: Vec<UnitName>,
}

// ---------------------------------------------------------------- units

/// `vsm unit create` with the unit file's text (the HTTP body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUnitFromFile {
    /// The unit's name.
    pub name: UnitName,
    /// The unit file's name as the user gave it (for error messages).
    pub file_name: String,
    /// The unit file's YAML text.
    pub unit_file: String,
}

/// A unit as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitSummary {
    /// The name.
    pub name: UnitName,
    /// The owner.
    pub owner: AccountName,
    /// Whether an imported version is not yet applied everywhere.
    pub definition_status: DefinitionStatus,
    /// The newest imported version, if any.
    pub current_version: Option<DefinitionVersion>,
    /// Server counts.
    pub counts: ServerCounts,
    /// The running operation, if any.
    pub busy_with: Option<OperationId>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// `vsm unit show`: everything about one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitDetail {
    /// The name.
    pub name: UnitName,
    /// The owner.
    pub owner: AccountName,
    /// When it was created.
    pub created_at: Timestamp,
    /// The definition status.
    pub definition_status: DefinitionStatus,
    /// The newest imported version.
    pub current_version: Option<DefinitionVersion>,
    /// Every imported version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Server counts.
    pub counts: ServerCounts,
    /// The groups in start order.
    pub groups: Vec<GroupView>,
    /// The running operation, if any.
    pub busy_with: Option<OperationId>,
    /// The most recent operations, newest first.
    pub last_operations: Vec<OperationSummary>,
}

/// How a group gets its servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum GroupKindView {
    /// Cloned from a template by a driver, scaled by count.
    Provisioned {
        /// The template.
        template: TemplateName,
        /// The wanted count.
        count: u32,
        /// The minimum count.
        min: u32,
        /// The maximum count.
        max: u32,
    },
    /// Existing machines attached by address, reached over SSH.
    Registered,
}

/// One group of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// The name.
    pub name: GroupName,
    /// Provisioned or registered.
    pub kind: GroupKindView,
    /// Start order (lower starts first; stop is the reverse).
    pub start_order: u32,
    /// The servers, by name.
    pub servers: Vec<ServerView>,
}

/// Load figures of a server (for JP1/PFM and `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadView {
    /// When measured.
    pub at: Timestamp,
    /// CPU use in percent of one CPU.
    pub cpu_percent: f64,
    /// Resident memory in bytes.
    pub memory_bytes: u64,
}

/// One server of a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    /// The name.
    pub name: ServerName,
    /// Logical status (what vsm intends).
    pub logical: LogicalStatus,
    /// Observed status (what is really there).
    pub observed: ObservedStatus,
    /// When the observed status was seen.
    pub observed_at: Option<Timestamp>,
    /// The step running on it now, if any.
    pub in_progress: Option<StepKind>,
    /// Update scope: what the next apply must push.
    pub update_scope: UpdateScope,
    /// Its management address, when known.
    pub address: Option<String>,
    /// The host of the pool it was placed on.
    pub host: Option<String>,
    /// Its placement epoch: 1 at its first provisioning, one more each time it was provisioned
    /// again (a failover); its machine carries it as the `vsm.epoch` label.
    #[serde(default)]
    pub epoch: u32,
    /// The definition version applied to it.
    pub applied_version: Option<DefinitionVersion>,
    /// The template generation it was cloned from (provisioned groups).
    pub generation: Option<TemplateGeneration>,
    /// When it was created or attached.
    pub created_at: Timestamp,
    /// The failure mark, if set.
    pub mark: Option<FailureMark>,
    /// The last error an operation or the monitor recorded for it.
    pub last_error: Option<String>,
    /// The latest load figures.
    pub load: Option<LoadView>,
}

impl Eq for ServerView {}

/// `vsm unit chown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chown {
    /// The new owner.
    pub to: AccountName,
}

/// One imported definition version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The version number.
    pub version: DefinitionVersion,
    /// Its content digest.
    pub digest: DefinitionDigest,
    /// When it was imported.
    pub created_at: Timestamp,
}

/// The change of one file between two definition versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// The group the file belongs to (`None`: shared by every group).
    pub group: Option<String>,
    /// The path inside the definition directory.
    pub path: String,
    /// What happened to it.
    pub change: ChangeKind,
}

/// Added, removed or modified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// New in the newer version.
    Added,
    /// Gone from the newer version.
    Removed,
    /// Content differs.
    Modified,
}

/// What importing a directory would change (or did change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionDiff {
    /// The version compared against (`None`: nothing imported yet).
    pub base: Option<DefinitionVersion>,
    /// Every changed file.
    pub files: Vec<FileChange>,
}

impl DefinitionDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// The result of `vsm unit import`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResult {
    /// The version the directory now is.
    pub version: DefinitionVersion,
    /// Its digest.
    pub digest: DefinitionDigest,
    /// Whether a new version was created (false: identical to the current version).
    pub created: bool,
    /// What changed against the previous version.
    pub diff: DefinitionDiff,
}

/// A batch size of a roll-out: a count or a percentage of the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchSize {
    /// This many servers per batch.
    Count(u32),
    /// This percentage (1–100) of the unit's servers per batch, rounded up.
    Percent(u8),
}

impl BatchSize {
    /// The number of servers per batch for a unit of `total` servers (at least 1).
    pub fn servers(self, total: usize) -> usize {
        match self {
            BatchSize::Count(n) => (n as usize).max(1),
            BatchSize::Percent(p) => (total * p as usize).div_ceil(100).max(1),
        }
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Count(n) => write!(f, "{n}"),
            BatchSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for BatchSize {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            Error::invalid_with_hint(
                format!("invalid batch size {s:?}"),
                "give a count such as `5` or a percentage such as `20%`",
            )
        };
        if let Some(p) = s.strip_suffix('%') {
            let p: u8 = p.trim().parse().map_err(|_| bad())?;
            if p == 0 || p > 100 {
                return Err(bad());
            }
            Ok(BatchSize::Percent(p))
        } else {
            let n: u32 = s.trim().parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            Ok(BatchSize::Count(n))
        }
    }
}

impl Serialize for BatchSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => BatchSize::from_str(&n.to_string()).map_err(serde::de::Error::custom),
            Raw::S(s) => BatchSize::from_str(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// A percentage 0–100 (`--max-unhealthy P%`), serialized as `"P%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percent(u8);

impl Percent {
    /// A percentage; `None` above 100.
    pub fn new(p: u8) -> Option<Self> {
        (p <= 100).then_some(Percent(p))
    }

    /// The number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl FromStr for Percent {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .trim_end_matches('%')
            .parse::<u8>()
            .ok()
            .and_then(Percent::new)
            .ok_or_else(|| {
                Error::invalid_with_hint(
                    format!("invalid percentage {s:?}"),
                    "give a percentage from 0% to 100%",
                )
            })
    }
}

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u8),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Percent::new(n).ok_or_else(|| serde::de::Error::custom("above 100%")),
            Raw::S(s) => Percent::from_str(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// Options every long operation takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpOptions {
    /// How long to wait for a busy unit's lock before answering busy (default: do not wait).
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// `vsm unit apply`: batch apply / roll out a definition version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The version to apply (default: the current, newest imported version).
    #[serde(default)]
    pub version: Option<DefinitionVersion>,
    /// Servers per batch of a rolling update of running servers (default: 1).
    #[serde(default)]
    pub batch: Option<BatchSize>,
    /// Abort when more than this share of the servers updated so far fail their checks
    /// (default: the first failing batch aborts).
    #[serde(default)]
    pub max_unhealthy: Option<Percent>,
    /// Pause between batches, in seconds.
    #[serde(default)]
    pub pause_secs: Option<u64>,
    /// Keep servers of an aborted roll-out on the new version instead of rolling them back.
    #[serde(default)]
    pub no_rollback: bool,
    /// How long to wait for a busy unit's lock.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// `vsm unit scale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleRequest {
    /// The provisioned group.
    pub group: GroupName,
    /// The new count (within the group's min/max).
    pub count: u32,
    /// Servers to remove (scale-in victims), instead of the group's policy.
    #[serde(default)]
    pub remove: Vec<ServerName>,
    /// Drain time before a removed server is stopped, in seconds (default: the group's).
    #[serde(default)]
    pub grace_secs: Option<u64>,
    /// How long to wait for a busy unit's lock.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// `vsm unit upgrade`: re-provision servers onto the template's newest generation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// Servers per batch (in place; default 1).
    #[serde(default)]
    pub batch: Option<BatchSize>,
    /// With surge: create this many new servers first, then retire as many old ones.
    #[serde(default)]
    pub surge: Option<u32>,
    /// How long to wait for a busy unit's lock.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// `vsm unit delete`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteUnitRequest {
    /// Delete even if servers are running (they are stopped and destroyed).
    #[serde(default)]
    pub force: bool,
    /// How long to wait for a busy unit's lock.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// `vsm group attach`: add an existing machine to a registered group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachRequest {
    /// The machine's address (host or IP, optionally `:port` for SSH).
    pub address: String,
    /// The server's name in the unit (default: derived from the address).
    #[serde(default)]
    pub name: Option<ServerName>,
    /// How long to wait for a busy unit's lock.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// `vsm server mark`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRequest {
    /// Why the server is marked failed.
    pub comment: String,
}

/// `vsm server logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLogs {
    /// The server.
    pub server: ServerName,
    /// The log text (the last `tail` lines when asked).
    pub text: String,
}

// ---------------------------------------------------------------- operations

/// A progress event of a running operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressEvent {
    /// The operation.
    pub operation: OperationId,
    /// Sequence number within the operation (from 1).
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub kind: ProgressKind,
}

/// What a [`ProgressEvent`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
#[non_exhaustive]
pub enum ProgressKind {
    /// A phase (e.g. one group's start) began.
    PhaseStarted {
        /// Its description.
        phase: String,
        /// Its number of steps.
        steps: usize,
    },
    /// A step on a server began.
    StepStarted {
        /// The step's action (`start`, `apply`, `health_check`, …).
        action: String,
        /// The group.
        group: Option<GroupName>,
        /// The server.
        server: Option<ServerName>,
    },
    /// A step on a server ended.
    StepFinished {
        /// The step's action.
        action: String,
        /// The group.
        group: Option<GroupName>,
        /// The server.
        server: Option<ServerName>,
        /// How it ended.
        status: StepStatus,
        /// The error, when it failed.
        error: Option<String>,
    },
    /// A note (waiting for a delay, a pause between batches, a roll-back begins, …).
    Message {
        /// The note.
        text: String,
    },
    /// The operation ended; the last event of every operation.
    Finished {
        /// Its final state.
        state: OperationState,
    },
}

// ---------------------------------------------------------------- admin

/// Log settings (`vsm manager log-config`), applied without restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Directory of the log files (relative paths are inside the state dir).
    pub dir: String,
    /// Number of files kept.
    pub files: u32,
    /// Size of one file in MiB.
    pub size_mb: u32,
    /// The log filter (tracing `EnvFilter` syntax, e.g. `info`).
    pub level: String,
}

/// A change of log settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettingsChange {
    /// New directory.
    #[serde(default)]
    pub log_dir: Option<String>,
    /// New number of files kept (1–1000).
    #[serde(default)]
    pub files: Option<u32>,
    /// New file size in MiB (1–4096).
    #[serde(default)]
    pub size_mb: Option<u32>,
    /// New log filter.
    #[serde(default)]
    pub level: Option<String>,
}

/// What a backup or diagnostics archive holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveInfo {
    /// The archive written.
    pub path: camino::Utf8PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The entries (paths inside the archive).
    pub entries: Vec<String>,
}

/// The manager's status (`GET /health`, `vsm manager status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerStatus {
    /// The crate version.
    pub version: String,
    /// The state directory.
    pub state_dir: camino::Utf8PathBuf,
    /// Units.
    pub units: usize,
    /// Servers.
    pub servers: usize,
    /// Operations running now.
    pub running_operations: Vec<OperationId>,
    /// Drivers injected.
    pub drivers: Vec<DriverKind>,
    /// With several managers on one PostgreSQL database: this manager's role, the epoch, the
    /// active manager and the peers last seen (absent on a SQLite store: one manager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaStatus>,
}

/// A manager's role among the managers of one PostgreSQL database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagerRole {
    /// It holds the election lock: it performs every change.
    Active,
    /// It answers reads and sends writes to the active one; it takes over when that one goes.
    Standby,
}

impl ManagerRole {
    /// `active` or `standby`.
    pub fn as_str(self) -> &'static str {
        match self {
            ManagerRole::Active => "active",
            ManagerRole::Standby => "standby",
        }
    }
}

impl std::fmt::Display for ManagerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The active/standby state of a manager on PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaStatus {
    /// This manager's role.
    pub role: ManagerRole,
    /// The current epoch (bumped by every takeover); a write is accepted only under it.
    pub epoch: i64,
    /// This manager's name (host and state directory).
    pub name: String,
    /// This manager's advertised URL, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The active manager's name, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    /// The active manager's URL, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_url: Option<String>,
    /// When the active manager took over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Every manager of the database and when it was last seen.
    pub peers: Vec<PeerStatus>,
}

/// A manager of the database as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Its name (host and state directory).
    pub name: String,
    /// Its advertised URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its role then.
    pub role: ManagerRole,
    /// The epoch it knew.
    pub epoch: i64,
    /// When it last wrote its heartbeat.
    pub seen_at: Timestamp,
}

/// One row of the JP1/PFM export: a server's state and load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PfmRow {
    /// The unit.
    pub unit: UnitName,
    /// The group.
    pub group: GroupName,
    /// The server.
    pub server: ServerName,
    /// Its logical status.
    pub logical: LogicalStatus,
    /// Its observed status.
    pub observed: ObservedStatus,
    /// CPU use in percent.
    pub cpu_percent: f64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// When measured.
    pub at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_parse_counts_and_percentages() {
        assert_eq!("5".parse::<BatchSize>().expect("ok"), BatchSize::Count(5));
        assert_eq!(
            "20%".parse::<BatchSize>().expect("ok"),
            BatchSize::Percent(20)
        );
        assert!("0".parse::<BatchSize>().is_err());
        assert!("101%".parse::<BatchSize>().is_err());
        assert_eq!(BatchSize::Percent(20).servers(11), 3);
        assert_eq!(BatchSize::Count(4).servers(2), 4);
        let json = serde_json::to_string(&BatchSize::Percent(25)).expect("ser");
        assert_eq!(json, "\"25%\"");
        let back: BatchSize = serde_json::from_str("3").expect("de");
        assert_eq!(back, BatchSize::Count(3));
    }

    #[test]
    fn password_debug_hides_the_secret() {
        let p = Password::new("hunter2\n");
        assert_eq!(p.expose(), "hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
