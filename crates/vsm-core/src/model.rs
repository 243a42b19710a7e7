//! The model: templates with generations, units with groups, servers and their statuses.
//!
//! Plain serde-serializable data (the manager stores it as JSON) plus validating constructors,
//! derived views (update scope, definition status, counts) and direct operator actions
//! (mark, unmark, observe). Changes caused by executed plan steps live in [`crate::fold`]; plans
//! live in [`crate::plan`]. The YAML unit-file format is not here: it belongs to the manager,
//! which converts its DTO into a [`UnitSpec`].
//!
//! Fields are public for reading; code that mutates them directly must keep
//! [`Unit::validate`] true (the functions of this crate do).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{AccountName, GroupName, ServerName, TemplateName, UnitName};
use crate::time::{
    DefinitionDigest, DefinitionVersion, OperationId, TemplateGeneration, Timestamp,
};

/// Most servers one group may have.
pub const MAX_GROUP_SERVERS: u32 = 10_000;

// ---------------------------------------------------------------------------------------------
// Addresses

/// A refused [`ServerAddress`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid server address {value:?}: use a host name or an IPv4/IPv6 address (1 to 253 characters: letters, digits, '.', '-', ':' and '_')"
)]
#[non_exhaustive]
pub struct AddressError {
    /// The refused value.
    pub value: String,
}

/// The management address of a server: a host name or an IP address (no port).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerAddress(String);

impl ServerAddress {
    /// Checks `value` and wraps it.
    pub fn new(value: impl Into<String>) -> Result<Self, AddressError> {
        let value = value.into();
        let ok = !value.is_empty()
            && value.len() <= 253
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'_'));
        if ok {
            Ok(ServerAddress(value))
        } else {
            Err(AddressError { value })
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ServerAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for ServerAddress {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ServerAddress> for String {
    fn from(a: ServerAddress) -> String {
        a.0
    }
}

// ---------------------------------------------------------------------------------------------
// Templates

/// One generation of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateGenerationInfo {
    /// Its number.
    pub generation: TemplateGeneration,
    /// Where the driver took it from (a template directory, a libvirt domain or volume); opaque here.
    pub source: String,
    /// When it was registered.
    pub created: Timestamp,
    /// What one machine of it takes of a host, as the driver reported at registration
    /// (`None`: the driver did not say; placement then assumes
    /// [`TemplateGenerationInfo::DEFAULT_SIZE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<crate::placement::Resources>,
}

impl TemplateGenerationInfo {
    /// The size placement assumes for a machine whose driver reports none: 1 vCPU, 256 MiB.
    pub const DEFAULT_SIZE: crate::placement::Resources = crate::placement::Resources {
        vcpus: 1,
        memory_mib: 256,
    };

    /// The size a machine of this generation takes of its host.
    pub fn machine_size(&self) -> crate::placement::Resources {
        self.size.unwrap_or(Self::DEFAULT_SIZE)
    }
}

/// A server template: a base image servers are cloned from, with generations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// Its name.
    pub name: TemplateName,
    /// The account that registered it.
    pub owner: AccountName,
    /// The hypervisor driver it belongs to (`local`, `libvirt`, …); opaque here.
    pub driver: String,
    /// Its generations, oldest first; never empty.
    pub generations: Vec<TemplateGenerationInfo>,
}

impl Template {
    /// A template with its first generation.
    pub fn new(
        name: TemplateName,
        owner: AccountName,
        driver: impl Into<String>,
        source: impl Into<String>,
        now: Timestamp,
    ) -> Self {
        Template {
            name,
            owner,
            driver: driver.into(),
            generations: vec![TemplateGenerationInfo {
                generation: TemplateGeneration::FIRST,
                source: source.into(),
                created: now,
                size: None,
            }],
        }
    }

    /// Records the size its driver reported for the newest generation's machines.
    pub fn set_latest_size(&mut self, size: Option<crate::placement::Resources>) {
        if let Some(g) = self.generations.last_mut() {
            g.size = size;
        }
    }

    /// The newest generation.
    pub fn latest(&self) -> TemplateGeneration {
        self.generations
            .last()
            .map_or(TemplateGeneration::FIRST, |g| g.generation)
    }

    /// Adds a new generation from `source` and returns its number.
    pub fn add_generation(
        &mut self,
        source: impl Into<String>,
        now: Timestamp,
    ) -> TemplateGeneration {
        let generation = self.latest().next();
        self.generations.push(TemplateGenerationInfo {
            generation,
            source: source.into(),
            created: now,
            size: None,
        });
        generation
    }

    /// One generation, if it exists.
    pub fn generation(&self, generation: TemplateGeneration) -> Option<&TemplateGenerationInfo> {
        self.generations.iter().find(|g| g.generation == generation)
    }
}

/// The newest generation of each template, as plans need it.
pub type LatestGenerations = BTreeMap<TemplateName, TemplateGeneration>;

// ---------------------------------------------------------------------------------------------
// Group specifications

/// Which servers a scale-in removes when the user names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleInPolicy {
    /// The most recently created servers first (the default).
    #[default]
    Newest,
    /// The longest-running servers first.
    Oldest,
}

/// What the manager does by itself when it detects a failed server of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoverPolicy {
    /// Report only (the default).
    #[default]
    None,
    /// Stop and start it again.
    Restart,
    /// Destroy it, provision it again from the template and re-apply (provisioned groups only).
    Recreate,
}

/// How a group's servers are checked after a start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthPolicy {
    /// How long a health check may take before it counts as failed, in milliseconds.
    pub timeout_ms: u64,
    /// A command run on the server that must exit 0; none: the driver's own liveness check.
    pub command: Option<String>,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            timeout_ms: 60_000,
            command: None,
        }
    }
}

/// SSH settings of a registered group; opaque to the core.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SshSettings {
    /// The remote user.
    pub user: String,
    /// The private key file (an absolute path on the manager's host).
    pub identity: Option<String>,
    /// The port (22 when absent).
    pub port: Option<u16>,
    /// Whether a machine's host key must already be known to the manager (otherwise it is
    /// trusted on first contact and refused when it changes).
    #[serde(default)]
    pub strict_host_keys: bool,
}

/// Commands that start, stop and query the application on a registered server; opaque here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandSettings {
    /// Starts the application.
    pub start: Option<String>,
    /// Stops the application.
    pub stop: Option<String>,
    /// Exits 0 when the application runs.
    pub status: Option<String>,
}

/// A provisioned group: servers cloned from a template and scaled by count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedSpec {
    /// The template servers are cloned from.
    pub template: TemplateName,
    /// The wanted number of servers.
    pub count: u32,
    /// The fewest servers scaling may leave.
    pub min: u32,
    /// The most servers scaling may create.
    pub max: u32,
    /// Which servers a scale-in removes.
    pub scale_in: ScaleInPolicy,
    /// Drain time before a scaled-in server is stopped, in milliseconds.
    pub grace_ms: u64,
    /// Where its servers may run in the host pool (the unit file's `placement:`).
    #[serde(default)]
    pub placement: crate::placement::PlacementRules,
}

/// One machine of a registered group, as listed in a unit file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredServer {
    /// Its name in the unit.
    pub name: ServerName,
    /// Its management address.
    pub address: ServerAddress,
}

/// A registered group: existing machines reached over SSH, attached and detached one by one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegisteredSpec {
    /// The machines listed at creation (later ones come by attach).
    pub servers: Vec<RegisteredServer>,
    /// How to reach them.
    pub ssh: SshSettings,
    /// How to drive the application on them.
    pub commands: CommandSettings,
    /// The directory on each machine that definitions are applied to (`{machine}` stands for
    /// the machine's name; relative: under the remote user's home). Opaque here.
    #[serde(default)]
    pub root: Option<String>,
}

/// Provisioned or registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// Cloned from a template by a driver.
    Provisioned(ProvisionedSpec),
    /// Existing machines.
    Registered(RegisteredSpec),
}

/// The specification of one group of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    /// Its name, unique in the unit.
    pub name: GroupName,
    /// Groups start in ascending start order (equal orders start together) and stop in reverse.
    pub start_order: u32,
    /// Extra wait after the previous groups are healthy, before this group starts, in milliseconds.
    pub start_delay_ms: u64,
    /// How a start is checked.
    pub health: HealthPolicy,
    /// Automatic failure recovery.
    pub recover: RecoverPolicy,
    /// Provisioned or registered, with the kind's settings.
    pub kind: GroupKind,
}

impl GroupSpec {
    /// The provisioned settings, if this is a provisioned group.
    pub fn provisioned(&self) -> Option<&ProvisionedSpec> {
        match &self.kind {
            GroupKind::Provisioned(p) => Some(p),
            GroupKind::Registered(_) => None,
        }
    }

    /// The registered settings, if this is a registered group.
    pub fn registered(&self) -> Option<&RegisteredSpec> {
        match &self.kind {
            GroupKind::Registered(r) => Some(r),
            GroupKind::Provisioned(_) => None,
        }
    }
}

/// The groups of a unit, as a unit file describes them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UnitSpec {
    /// The groups, in file order.
    pub groups: Vec<GroupSpec>,
    /// Placement admission: every group must keep its `min` after losing this many hosts
    /// (0: no check).
    #[serde(default)]
    pub tolerate_host_failures: u32,
}

/// What is wrong with a [`UnitSpec`]; `group` names the offending group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// No groups at all.
    #[error("the unit has no groups; add at least one under `groups`")]
    NoGroups,
    /// Two groups share a name.
    #[error("group {0} is defined twice; group names must be unique in a unit")]
    DuplicateGroup(GroupName),
    /// count/min/max do not fit together.
    #[error(
        "group {group}: count {count}, min {min}, max {max} do not fit; need min <= count <= max, 1 <= max <= {MAX_GROUP_SERVERS}"
    )]
    Bounds {
        /// The group.
        group: GroupName,
        /// Its count.
        count: u32,
        /// Its min.
        min: u32,
        /// Its max.
        max: u32,
    },
    /// Two servers share a name.
    #[error(
        "group {group}: server {server} is listed twice; server names must be unique in a unit"
    )]
    DuplicateServer {
        /// The group of the second occurrence.
        group: GroupName,
        /// The server.
        server: ServerName,
    },
    /// Two servers share an address.
    #[error(
        "group {group}: address {address} is listed twice; a machine can belong to one server only"
    )]
    DuplicateAddress {
        /// The group of the second occurrence.
        group: GroupName,
        /// The address.
        address: ServerAddress,
    },
    /// `recover: recreate` on a registered group.
    #[error(
        "group {0}: `recover: recreate` needs a provisioned group; use `restart` or `none` for registered machines"
    )]
    RecreateRegistered(GroupName),
    /// A health check timeout of zero.
    #[error("group {0}: the health check timeout must be more than 0")]
    ZeroHealthTimeout(GroupName),
}

impl UnitSpec {
    /// Checks the spec: at least one group, unique group names, `min <= count <= max`, unique
    /// server names and addresses, `recreate` only for provisioned groups.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.groups.is_empty() {
            return Err(SpecError::NoGroups);
        }
        let mut names = BTreeSet::new();
        let mut servers = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for g in &self.groups {
            if !names.insert(&g.name) {
                return Err(SpecError::DuplicateGroup(g.name.clone()));
            }
            if g.health.timeout_ms == 0 {
                return Err(SpecError::ZeroHealthTimeout(g.name.clone()));
            }
            match &g.kind {
                GroupKind::Provisioned(p) => {
                    if !(p.min <= p.count
                        && p.count <= p.max
                        && p.max >= 1
                        && p.max <= MAX_GROUP_SERVERS)
                    {
                        return Err(SpecError::Bounds {
                            group: g.name.clone(),
                            count: p.count,
                            min: p.min,
                            max: p.max,
                        });
                    }
                }
                GroupKind::Registered(r) => {
                    if g.recover == RecoverPolicy::Recreate {
                        return Err(SpecError::RecreateRegistered(g.name.clone()));
                    }
                    for s in &r.servers {
                        if !servers.insert(&s.name) {
                            return Err(SpecError::DuplicateServer {
                                group: g.name.clone(),
                                server: s.name.clone(),
                            });
                        }
                        if !addresses.insert(&s.address) {
                            return Err(SpecError::DuplicateAddress {
                                group: g.name.clone(),
                                address: s.address.clone(),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Servers

/// What vsm intends and last established for a server (the original's "logical status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogicalStatus {
    /// Being created by a driver; not usable yet.
    Provisioning,
    /// Exists and is meant to be stopped.
    Stopped,
    /// Started; its health check has not passed yet (not counted as active).
    Started,
    /// Started and healthy: counted as active.
    Working,
    /// Running but failed its last health check.
    Unhealthy,
    /// A step on it failed; it needs a recover, a re-apply or a delete.
    Failed,
}

impl LogicalStatus {
    /// The word shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            LogicalStatus::Provisioning => "provisioning",
            LogicalStatus::Stopped => "stopped",
            LogicalStatus::Started => "started",
            LogicalStatus::Working => "working",
            LogicalStatus::Unhealthy => "unhealthy",
            LogicalStatus::Failed => "failed",
        }
    }

    /// Whether the application is meant to be running (started, working or unhealthy).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            LogicalStatus::Started | LogicalStatus::Working | LogicalStatus::Unhealthy
        )
    }

    /// Whether the server counts as invalid (failed or unhealthy).
    pub fn is_invalid(self) -> bool {
        matches!(self, LogicalStatus::Failed | LogicalStatus::Unhealthy)
    }
}

impl fmt::Display for LogicalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was last seen on the server (the original's "observed status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservedStatus {
    /// The application runs.
    Working,
    /// The machine runs but the application is not (yet) up.
    Operating,
    /// The machine or application is stopped.
    Stopped,
    /// Not looked at yet, or unreachable.
    #[default]
    Unknown,
    /// The machine is gone or in an error state.
    Failed,
}

impl ObservedStatus {
    /// The word shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservedStatus::Working => "working",
            ObservedStatus::Operating => "operating",
            ObservedStatus::Stopped => "stopped",
            ObservedStatus::Unknown => "unknown",
            ObservedStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for ObservedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the next apply must push to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateScope {
    /// Up to date.
    None,
    /// Only application packages differ: may be pushed while the server runs.
    Applications,
    /// Definition files differ (or nothing was applied yet): the server must be stopped.
    All,
}

impl UpdateScope {
    /// The word shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateScope::None => "none",
            UpdateScope::Applications => "applications",
            UpdateScope::All => "all",
        }
    }
}

impl fmt::Display for UpdateScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A manual failure mark: operations that touch the server end with a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureMark {
    /// The operator's comment.
    pub comment: String,
    /// When it was marked.
    pub at: Timestamp,
}

/// The definition version last applied to a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedDefinition {
    /// The version.
    pub version: DefinitionVersion,
    /// Its snapshot digest.
    pub digest: DefinitionDigest,
}

/// Where a server came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Cloned by a driver from a template generation.
    Provisioned {
        /// The template.
        template: TemplateName,
        /// The generation it was cloned from.
        generation: TemplateGeneration,
    },
    /// An existing machine attached by address.
    Registered,
}

/// The kinds of [`crate::plan::Step`], for "what is in progress" and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Create a server from a template.
    Provision,
    /// Push a definition version.
    Apply,
    /// Start the application (and machine).
    Start,
    /// Check health.
    HealthCheck,
    /// Wait.
    Wait,
    /// Stop.
    Stop,
    /// Destroy a provisioned server.
    Destroy,
    /// Attach a registered machine.
    Attach,
    /// Detach a registered machine.
    Detach,
}

impl StepKind {
    /// The word shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Provision => "provision",
            StepKind::Apply => "apply",
            StepKind::Start => "start",
            StepKind::HealthCheck => "health-check",
            StepKind::Wait => "wait",
            StepKind::Stop => "stop",
            StepKind::Destroy => "destroy",
            StepKind::Attach => "attach",
            StepKind::Detach => "detach",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One virtual server of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    /// Its name, unique in the unit.
    pub name: ServerName,
    /// Provisioned from a template, or registered.
    pub origin: Origin,
    /// Creation sequence number inside its group (1, 2, …); breaks ties of `created`.
    pub seq: u32,
    /// When it was created (provisioned) or attached.
    pub created: Timestamp,
    /// Its management address; always set for registered servers, set by the driver otherwise.
    pub address: Option<ServerAddress>,
    /// The pool host it was placed on (legacy records: what the driver said).
    pub host: Option<String>,
    /// Its placement epoch: 1 at its first provisioning, one more each time it is provisioned
    /// again (elsewhere); a machine that carries an older epoch is a stale copy (0: unknown).
    #[serde(default)]
    pub epoch: u32,
    /// What vsm intends / last established.
    pub logical: LogicalStatus,
    /// The step currently running on it, if any.
    pub in_progress: Option<StepKind>,
    /// What was last seen.
    pub observed: ObservedStatus,
    /// When `observed` was seen.
    pub observed_at: Option<Timestamp>,
    /// The definition version last applied successfully.
    pub applied: Option<AppliedDefinition>,
    /// A manual failure mark.
    pub mark: Option<FailureMark>,
    /// The reason of the last failed step on it.
    pub last_error: Option<String>,
}

impl Server {
    /// A server as it is right after being provisioned or attached: stopped, nothing applied.
    pub fn new(name: ServerName, origin: Origin, seq: u32, created: Timestamp) -> Self {
        Server {
            name,
            origin,
            seq,
            created,
            address: None,
            host: None,
            epoch: 0,
            logical: LogicalStatus::Stopped,
            in_progress: None,
            observed: ObservedStatus::Unknown,
            observed_at: None,
            applied: None,
            mark: None,
            last_error: None,
        }
    }

    /// Whether vsm sees a failure: the observed status contradicts the logical one.
    pub fn discrepancy(&self) -> bool {
        match self.observed {
            ObservedStatus::Failed => self.logical != LogicalStatus::Provisioning,
            ObservedStatus::Stopped => self.logical.is_running(),
            ObservedStatus::Working | ObservedStatus::Operating => {
                self.logical == LogicalStatus::Stopped
            }
            ObservedStatus::Unknown => false,
        }
    }

    /// Checks the server's own invariants.
    pub fn validate(&self) -> Result<(), InvalidModel> {
        let bad = |what: &str| {
            Err(InvalidModel::Server {
                server: self.name.clone(),
                problem: what.to_owned(),
            })
        };
        if self.origin == Origin::Registered {
            if self.address.is_none() {
                return bad("a registered server has no address");
            }
            if self.logical == LogicalStatus::Provisioning {
                return bad("a registered server cannot be provisioning");
            }
        }
        if self.logical == LogicalStatus::Provisioning && self.applied.is_some() {
            return bad("a provisioning server has definitions applied");
        }
        if self.seq == 0 {
            return bad("sequence numbers start at 1");
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Definitions

/// Digests of the two parts of a definition version that one group uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionParts {
    /// Definition files (settings): a change needs the server stopped.
    pub settings: DefinitionDigest,
    /// Application packages: a change may go to a running server.
    pub applications: DefinitionDigest,
}

/// One imported definition version of a unit (an immutable, content-addressed snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionRecord {
    /// Its number.
    pub version: DefinitionVersion,
    /// The digest of the whole snapshot.
    pub digest: DefinitionDigest,
    /// When it was imported.
    pub imported: Timestamp,
    /// Per-group part digests; a group missing here compares by the whole digest.
    pub groups: BTreeMap<GroupName, DefinitionParts>,
}

/// Whether every server has the unit's current definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefinitionStatus {
    /// Every server is up to date (or nothing was imported).
    Unchanged,
    /// Some server needs an apply.
    Changed,
}

impl fmt::Display for DefinitionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DefinitionStatus::Unchanged => "unchanged",
            DefinitionStatus::Changed => "changed",
        })
    }
}

/// The original's unit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerCounts {
    /// Every server.
    pub all: usize,
    /// Working (started and healthy).
    pub active: usize,
    /// Failed or unhealthy.
    pub invalid: usize,
}

// ---------------------------------------------------------------------------------------------
// Units

/// A group of a unit: its spec and its servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The specification (for provisioned groups `count` is the wanted number of servers).
    pub spec: GroupSpec,
    /// Its servers, in creation order.
    pub servers: Vec<Server>,
    /// The sequence number the next new server gets.
    pub next_seq: u32,
}

impl Group {
    /// The group's name.
    pub fn name(&self) -> &GroupName {
        &self.spec.name
    }

    /// One server of the group.
    pub fn server(&self, name: &ServerName) -> Option<&Server> {
        self.servers.iter().find(|s| s.name == *name)
    }

    /// A name for a new server of this group that is not in `used` (which must hold every
    /// name of the unit), and its sequence number: `<group>-<seq>` with `_` turned into `-`,
    /// from the group's next sequence number on.
    pub fn next_free_name(&self, used: &HashSet<ServerName>) -> (ServerName, u32) {
        self.next_free_name_from(used, self.next_seq)
    }

    /// [`Group::next_free_name`] trying sequence numbers from `from` (at least the group's
    /// next one) on: naming many servers in a row passes the last number + 1.
    pub fn next_free_name_from(&self, used: &HashSet<ServerName>, from: u32) -> (ServerName, u32) {
        let base: String = self
            .spec
            .name
            .as_str()
            .chars()
            .map(|c| if c == '_' { '-' } else { c })
            .collect();
        let mut seq = from.max(self.next_seq).max(1);
        loop {
            if let Ok(name) = ServerName::new(format!("{base}-{seq}"))
                && !used.contains(&name)
            {
                return (name, seq);
            }
            seq = seq.saturating_add(1);
        }
    }
}

/// A management unit: owner, groups with servers, imported definitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Its name.
    pub name: UnitName,
    /// The owning account.
    pub owner: AccountName,
    /// When it was created.
    pub created: Timestamp,
    /// Its groups, in unit-file order.
    pub groups: Vec<Group>,
    /// Imported definition versions, oldest first.
    pub definitions: Vec<DefinitionRecord>,
    /// The version the unit's servers should run (the newest import, or a rollback target).
    pub current: Option<DefinitionVersion>,
    /// The operation that holds the unit, if any (one operation at a time).
    pub busy: Option<OperationId>,
    /// Placement admission: every group must keep its `min` after losing this many hosts.
    #[serde(default)]
    pub tolerate_host_failures: u32,
}

/// A broken model invariant (a bug in whoever changed the model, or corrupted storage).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidModel {
    /// A server's own invariant.
    #[error("server {server}: {problem}")]
    Server {
        /// The server.
        server: ServerName,
        /// What is wrong.
        problem: String,
    },
    /// A unit-wide invariant.
    #[error("unit {unit}: {problem}")]
    Unit {
        /// The unit.
        unit: UnitName,
        /// What is wrong.
        problem: String,
    },
    /// The groups' spec.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

impl Unit {
    /// A new unit from a validated spec. Registered servers listed in the spec are added,
    /// stopped; provisioned groups start empty (run [`crate::plan::plan_create`] to fill them).
    pub fn create(
        name: UnitName,
        owner: AccountName,
        spec: UnitSpec,
        now: Timestamp,
    ) -> Result<Unit, SpecError> {
        spec.validate()?;
        let tolerate_host_failures = spec.tolerate_host_failures;
        let groups = spec
            .groups
            .into_iter()
            .map(|spec| {
                let servers: Vec<Server> = match &spec.kind {
                    GroupKind::Registered(r) => r
                        .servers
                        .iter()
                        .zip(1..)
                        .map(|(rs, seq)| {
                            let mut s = Server::new(rs.name.clone(), Origin::Registered, seq, now);
                            s.address = Some(rs.address.clone());
                            s
                        })
                        .collect(),
                    GroupKind::Provisioned(_) => Vec::new(),
                };
                let next_seq = u32::try_from(servers.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(1);
                Group {
                    spec,
                    servers,
                    next_seq,
                }
            })
            .collect();
        Ok(Unit {
            name,
            owner,
            created: now,
            groups,
            definitions: Vec::new(),
            current: None,
            busy: None,
            tolerate_host_failures,
        })
    }

    /// One group.
    pub fn group(&self, name: &GroupName) -> Option<&Group> {
        self.groups.iter().find(|g| g.spec.name == *name)
    }

    /// One group, mutable.
    pub fn group_mut(&mut self, name: &GroupName) -> Option<&mut Group> {
        self.groups.iter_mut().find(|g| g.spec.name == *name)
    }

    /// Every server with its group, in group order.
    pub fn servers(&self) -> impl Iterator<Item = (&Group, &Server)> {
        self.groups
            .iter()
            .flat_map(|g| g.servers.iter().map(move |s| (g, s)))
    }

    /// One server with its group.
    pub fn server(&self, name: &ServerName) -> Option<(&Group, &Server)> {
        self.servers().find(|(_, s)| s.name == *name)
    }

    /// One server, mutable.
    pub fn server_mut(&mut self, name: &ServerName) -> Option<&mut Server> {
        self.groups
            .iter_mut()
            .flat_map(|g| g.servers.iter_mut())
            .find(|s| s.name == *name)
    }

    /// The record of one imported version.
    pub fn definition(&self, version: DefinitionVersion) -> Option<&DefinitionRecord> {
        self.definitions.iter().find(|d| d.version == version)
    }

    /// The record of the current version.
    pub fn current_definition(&self) -> Option<&DefinitionRecord> {
        self.current.and_then(|v| self.definition(v))
    }

    /// Records a newly imported version and makes it current. Its number must be higher than
    /// every earlier one.
    pub fn import_definition(&mut self, record: DefinitionRecord) -> Result<(), InvalidModel> {
        if let Some(last) = self.definitions.last()
            && record.version <= last.version
        {
            return Err(InvalidModel::Unit {
                unit: self.name.clone(),
                problem: format!(
                    "definition version {} is not newer than {}",
                    record.version, last.version
                ),
            });
        }
        self.current = Some(record.version);
        self.definitions.push(record);
        Ok(())
    }

    /// The newest version before `version`, for rollbacks.
    pub fn previous_version(&self, version: DefinitionVersion) -> Option<DefinitionVersion> {
        self.definitions
            .iter()
            .map(|d| d.version)
            .filter(|v| *v < version)
            .max()
    }

    /// What an apply of `target` would have to push to `server` of `group`.
    pub fn update_scope_to(
        &self,
        group: &GroupName,
        server: &Server,
        target: &DefinitionRecord,
    ) -> UpdateScope {
        let Some(applied) = &server.applied else {
            return UpdateScope::All;
        };
        if applied.version == target.version {
            return UpdateScope::None;
        }
        let Some(old) = self.definition(applied.version) else {
            return if applied.digest == target.digest {
                UpdateScope::None
            } else {
                UpdateScope::All
            };
        };
        match (old.groups.get(group), target.groups.get(group)) {
            (Some(a), Some(b)) => {
                if a.settings != b.settings {
                    UpdateScope::All
                } else if a.applications != b.applications {
                    UpdateScope::Applications
                } else {
                    UpdateScope::None
                }
            }
            _ if old.digest == target.digest => UpdateScope::None,
            _ => UpdateScope::All,
        }
    }

    /// What the next apply of the current version must push to `server` (`None` when nothing
    /// was imported).
    pub fn update_scope(&self, group: &GroupName, server: &Server) -> UpdateScope {
        match self.current_definition() {
            Some(target) => self.update_scope_to(group, server, target),
            None => UpdateScope::None,
        }
    }

    /// `changed` when some server still needs the current version.
    pub fn definition_status(&self) -> DefinitionStatus {
        let changed = self.servers().any(|(g, s)| {
            s.logical != LogicalStatus::Provisioning
                && self.update_scope(g.name(), s) != UpdateScope::None
        });
        if changed {
            DefinitionStatus::Changed
        } else {
            DefinitionStatus::Unchanged
        }
    }

    /// All / active / invalid servers.
    pub fn counts(&self) -> ServerCounts {
        let mut c = ServerCounts::default();
        for (_, s) in self.servers() {
            c.all += 1;
            if s.logical == LogicalStatus::Working {
                c.active += 1;
            }
            if s.logical.is_invalid() {
                c.invalid += 1;
            }
        }
        c
    }

    /// Servers whose observed status contradicts their logical status.
    pub fn detected_failures(&self) -> Vec<&ServerName> {
        self.servers()
            .filter(|(_, s)| s.discrepancy())
            .map(|(_, s)| &s.name)
            .collect()
    }

    /// Whether any server is meant to be running.
    pub fn any_running(&self) -> bool {
        self.servers().any(|(_, s)| s.logical.is_running())
    }

    fn server_or_err(&mut self, name: &ServerName) -> Result<&mut Server, InvalidModel> {
        let unit = self.name.clone();
        self.server_mut(name).ok_or_else(|| InvalidModel::Unit {
            unit,
            problem: format!("no server {name}"),
        })
    }

    /// Marks a server as failed with a comment (any state).
    pub fn mark(
        &mut self,
        server: &ServerName,
        comment: impl Into<String>,
        at: Timestamp,
    ) -> Result<(), InvalidModel> {
        self.server_or_err(server)?.mark = Some(FailureMark {
            comment: comment.into(),
            at,
        });
        Ok(())
    }

    /// Removes a server's failure mark.
    pub fn unmark(&mut self, server: &ServerName) -> Result<(), InvalidModel> {
        self.server_or_err(server)?.mark = None;
        Ok(())
    }

    /// Records what was seen on a server.
    pub fn observe(
        &mut self,
        server: &ServerName,
        status: ObservedStatus,
        at: Timestamp,
    ) -> Result<(), InvalidModel> {
        let s = self.server_or_err(server)?;
        s.observed = status;
        s.observed_at = Some(at);
        Ok(())
    }

    /// The names of every marked server.
    pub fn marked(&self) -> BTreeSet<ServerName> {
        self.servers()
            .filter(|(_, s)| s.mark.is_some())
            .map(|(_, s)| s.name.clone())
            .collect()
    }

    /// A free server name for a new server of `group`, and its sequence number:
    /// `<group>-<seq>` (with `_` turned into `-`), skipping names already used in the unit.
    pub fn next_server_name(
        &self,
        group: &Group,
        taken: &BTreeSet<ServerName>,
    ) -> (ServerName, u32) {
        let mut used = self.server_names();
        used.extend(taken.iter().cloned());
        group.next_free_name(&used)
    }

    /// The names of every server of the unit (for naming many new servers at once with
    /// [`Group::next_free_name`] in O(1) each).
    pub fn server_names(&self) -> HashSet<ServerName> {
        self.servers().map(|(_, s)| s.name.clone()).collect()
    }

    /// Checks every invariant: the spec, unique server names and addresses, each server's own
    /// invariants, origins matching group kinds, sequence numbers below `next_seq`.
    pub fn validate(&self) -> Result<(), InvalidModel> {
        // Registered servers listed in the spec may have been detached since; check the rest.
        let mut spec_only = UnitSpec {
            groups: self.groups.iter().map(|g| g.spec.clone()).collect(),
            tolerate_host_failures: self.tolerate_host_failures,
        };
        for g in &mut spec_only.groups {
            if let GroupKind::Registered(r) = &mut g.kind {
                r.servers.clear();
            }
        }
        spec_only.validate()?;
        let bad = |problem: String| {
            Err(InvalidModel::Unit {
                unit: self.name.clone(),
                problem,
            })
        };
        let mut names = BTreeSet::new();
        let mut addresses = BTreeSet::new();
        for g in &self.groups {
            for s in &g.servers {
                s.validate()?;
                if !names.insert(&s.name) {
                    return bad(format!("server {} appears twice", s.name));
                }
                if let Some(a) = &s.address
                    && !addresses.insert(a)
                {
                    return bad(format!("address {a} is used by two servers"));
                }
                let kind_ok = matches!(
                    (&g.spec.kind, &s.origin),
                    (GroupKind::Provisioned(_), Origin::Provisioned { .. })
                        | (GroupKind::Registered(_), Origin::Registered)
                );
                if !kind_ok {
                    return bad(format!(
                        "server {} does not match the kind of group {}",
                        s.name,
                        g.name()
                    ));
                }
                if s.seq >= g.next_seq {
                    return bad(format!(
                        "server {} has sequence {} >= next {}",
                        s.name, s.seq, g.next_seq
                    ));
                }
            }
        }
        if let Some(v) = self.current
            && self.definition(v).is_none()
        {
            return bad(format!("current definition version {v} was never imported"));
        }
        Ok(())
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    //! proptest generators for units (test-only).
    use super::*;
    use proptest::prelude::*;

    /// A strategy for a group spec named `name`; `registered` decides the kind.
    /// `index` keeps registered addresses of different groups apart.
    pub fn group_spec(name: GroupName, registered: bool, index: usize) -> BoxedStrategy<GroupSpec> {
        let common = (0u32..4, prop_oneof![Just(0u64), Just(5_000u64)]);
        if registered {
            (common, 0usize..4)
                .prop_map(move |((start_order, start_delay_ms), n)| {
                    let servers = (1..=n)
                        .map(|i| RegisteredServer {
                            name: ServerName::new(format!(
                                "{}-m{i}",
                                name.as_str().replace('_', "-")
                            ))
                            .expect("valid"),
                            address: ServerAddress::new(format!("10.0.{index}.{i}"))
                                .expect("valid"),
                        })
                        .collect();
                    GroupSpec {
                        name: name.clone(),
                        start_order,
                        start_delay_ms,
                        health: HealthPolicy::default(),
                        recover: RecoverPolicy::Restart,
                        kind: GroupKind::Registered(RegisteredSpec {
                            servers,
                            ..RegisteredSpec::default()
                        }),
                    }
                })
                .boxed()
        } else {
            (
                common,
                (0u32..3, 0u32..4, 0u32..4),
                prop_oneof![Just(ScaleInPolicy::Newest), Just(ScaleInPolicy::Oldest)],
            )
                .prop_map(
                    move |((start_order, start_delay_ms), (min, extra, more), scale_in)| {
                        let count = min + extra;
                        let max = (count + more).max(1);
                        GroupSpec {
                            name: name.clone(),
                            start_order,
                            start_delay_ms,
                            health: HealthPolicy::default(),
                            recover: RecoverPolicy::Recreate,
                            kind: GroupKind::Provisioned(ProvisionedSpec {
                                placement: Default::default(),
                                template: TemplateName::new("base").expect("valid"),
                                count,
                                min,
                                max,
                                scale_in,
                                grace_ms: 1_000,
                            }),
                        }
                    },
                )
                .boxed()
        }
    }

    /// A strategy for a valid unit spec of 1..=4 groups with distinct names.
    pub fn unit_spec() -> BoxedStrategy<UnitSpec> {
        proptest::collection::btree_set(any::<GroupName>(), 1..=4)
            .prop_flat_map(|names| {
                let gens: Vec<_> = names
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| group_spec(n, i % 3 == 2, i))
                    .collect();
                gens
            })
            .prop_map(|groups| UnitSpec {
                tolerate_host_failures: 0,
                groups,
            })
            .prop_filter("unique registered names", |s| s.validate().is_ok())
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str) -> GroupName {
        GroupName::new(name).expect("valid")
    }

    fn prov(name: &str, order: u32, count: u32, min: u32, max: u32) -> GroupSpec {
        GroupSpec {
            name: g(name),
            start_order: order,
            start_delay_ms: 0,
            health: HealthPolicy::default(),
            recover: RecoverPolicy::None,
            kind: GroupKind::Provisioned(ProvisionedSpec {
                placement: Default::default(),
                template: TemplateName::new("base").expect("valid"),
                count,
                min,
                max,
                scale_in: ScaleInPolicy::Newest,
                grace_ms: 0,
            }),
        }
    }

    fn check(spec: UnitSpec, expect: &str) {
        let got = match spec.validate() {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn unit_specs_are_validated() {
        check(
            UnitSpec::default(),
            "the unit has no groups; add at least one under `groups`",
        );
        check(
            UnitSpec {
                tolerate_host_failures: 0,
                groups: vec![prov("web", 1, 2, 1, 3)],
            },
            "ok",
        );
        check(
            UnitSpec {
                tolerate_host_failures: 0,
                groups: vec![prov("web", 1, 4, 1, 3)],
            },
            "group web: count 4, min 1, max 3 do not fit; need min <= count <= max, 1 <= max <= 10000",
        );
        check(
            UnitSpec {
                tolerate_host_failures: 0,
                groups: vec![prov("web", 1, 1, 1, 3), prov("web", 2, 1, 1, 3)],
            },
            "group web is defined twice; group names must be unique in a unit",
        );
        let mut reg = prov("db", 1, 0, 0, 1);
        reg.recover = RecoverPolicy::Recreate;
        reg.kind = GroupKind::Registered(RegisteredSpec::default());
        check(
            UnitSpec {
                tolerate_host_failures: 0,
                groups: vec![reg.clone()],
            },
            "group db: `recover: recreate` needs a provisioned group; use `restart` or `none` for registered machines",
        );
        reg.recover = RecoverPolicy::Restart;
        let m = |n: &str, a: &str| RegisteredServer {
            name: ServerName::new(n).expect("valid"),
            address: ServerAddress::new(a).expect("valid"),
        };
        reg.kind = GroupKind::Registered(RegisteredSpec {
            servers: vec![m("db1", "192.0.2.1"), m("db2", "192.0.2.1")],
            ..RegisteredSpec::default()
        });
        check(
            UnitSpec {
                tolerate_host_failures: 0,
                groups: vec![reg],
            },
            "group db: address 192.0.2.1 is listed twice; a machine can belong to one server only",
        );
    }

    fn digest(b: u8) -> DefinitionDigest {
        DefinitionDigest::from_bytes([b; 32])
    }

    #[test]
    fn update_scope_follows_changed_parts() {
        let mut unit = Unit::create(
            UnitName::new("shop").expect("valid"),
            AccountName::new("alice").expect("valid"),
            UnitSpec {
                tolerate_host_failures: 0,
                groups: vec![prov("web", 1, 1, 0, 2)],
            },
            Timestamp::EPOCH,
        )
        .expect("valid");
        let parts = |s, a| DefinitionParts {
            settings: digest(s),
            applications: digest(a),
        };
        let rec = |v, d, p| DefinitionRecord {
            version: DefinitionVersion(v),
            digest: digest(d),
            imported: Timestamp::EPOCH,
            groups: [(g("web"), p)].into_iter().collect(),
        };
        unit.import_definition(rec(1, 1, parts(1, 1)))
            .expect("newer");
        let mut s = Server::new(
            ServerName::new("web-1").expect("valid"),
            Origin::Provisioned {
                template: TemplateName::new("base").expect("valid"),
                generation: TemplateGeneration::FIRST,
            },
            1,
            Timestamp::EPOCH,
        );
        assert_eq!(unit.update_scope(&g("web"), &s), UpdateScope::All);
        s.applied = Some(AppliedDefinition {
            version: DefinitionVersion(1),
            digest: digest(1),
        });
        assert_eq!(unit.update_scope(&g("web"), &s), UpdateScope::None);
        unit.import_definition(rec(2, 2, parts(1, 2)))
            .expect("newer");
        assert_eq!(unit.update_scope(&g("web"), &s), UpdateScope::Applications);
        unit.import_definition(rec(3, 3, parts(3, 2)))
            .expect("newer");
        assert_eq!(unit.update_scope(&g("web"), &s), UpdateScope::All);
        assert!(unit.import_definition(rec(3, 4, parts(3, 2))).is_err());
        assert_eq!(
            unit.previous_version(DefinitionVersion(3)),
            Some(DefinitionVersion(2))
        );
        unit.groups[0].servers.push(s);
        unit.groups[0].next_seq = 2;
        assert_eq!(unit.definition_status(), DefinitionStatus::Changed);
        assert_eq!(
            unit.counts(),
            ServerCounts {
                all: 1,
                active: 0,
                invalid: 0
            }
        );
        unit.validate().expect("valid");
        let (name, seq) = unit.next_server_name(&unit.groups[0], &BTreeSet::new());
        assert_eq!((name.as_str(), seq), ("web-2", 2));
    }

    #[test]
    fn discrepancies_are_detected() {
        let mut s = Server::new(
            ServerName::new("a").expect("valid"),
            Origin::Registered,
            1,
            Timestamp::EPOCH,
        );
        s.address = Some(ServerAddress::new("::1").expect("valid"));
        s.logical = LogicalStatus::Working;
        s.observed = ObservedStatus::Stopped;
        assert!(s.discrepancy());
        s.observed = ObservedStatus::Working;
        assert!(!s.discrepancy());
        assert!(s.validate().is_ok());
        assert!(ServerAddress::new("a b").is_err());
    }
}
