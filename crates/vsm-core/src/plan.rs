//! Plans: pure functions that turn a request and the current [`Unit`] into an ordered [`Plan`].
//!
//! A plan is a list of [`Phase`]s run one after another; the [`Step`]s of one phase may run in
//! parallel (the engine applies its concurrency limit). A phase's [`Gate`] says whether the plan
//! goes on after it; [`crate::run::Progress`] evaluates gates, skips steps of servers that already
//! failed, and computes the outcome. Planning never changes the model and does no IO: the
//! manager plans, calls [`Unit::begin_plan`] in the same transaction, then executes.
//!
//! Impossible requests are refused with a [`PlanError`]; a request with nothing to do is an
//! empty plan, not an error.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{
    AppliedDefinition, DefinitionRecord, Group, GroupKind, LatestGenerations, LogicalStatus,
    Origin, RecoverPolicy, ScaleInPolicy, Server, ServerAddress, StepKind, Unit, UpdateScope,
};
use crate::names::{GroupName, ServerName, TemplateName, UnitName};
use crate::time::{DefinitionDigest, DefinitionVersion, OperationId, TemplateGeneration};

// ---------------------------------------------------------------------------------------------
// Steps, phases, plans

/// One thing the engine does to one server (or a wait).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Create the server from a template generation on a host of the pool (the driver picks
    /// its address).
    Provision {
        /// The new server.
        server: ServerName,
        /// Its group.
        group: GroupName,
        /// The template.
        template: TemplateName,
        /// The generation.
        generation: TemplateGeneration,
        /// The host it goes to, once placed ([`crate::place_plan::place_plan`]); `None`: the
        /// default host of the template's driver.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<crate::placement::HostName>,
        /// Its placement epoch (see [`crate::model::Server::epoch`]); 0 until placed.
        #[serde(default)]
        epoch: u32,
    },
    /// Push a definition version; atomic per server.
    Apply {
        /// The server.
        server: ServerName,
        /// The version.
        version: DefinitionVersion,
        /// Its snapshot digest.
        digest: DefinitionDigest,
        /// What must be pushed.
        scope: UpdateScope,
    },
    /// Start the server's application (powering the machine on if needed).
    Start {
        /// The server.
        server: ServerName,
    },
    /// Wait until the server passes its health check or the timeout passes.
    HealthCheck {
        /// The server.
        server: ServerName,
        /// The group's health-check timeout.
        timeout_ms: u64,
    },
    /// Wait (start delays, pauses between batches).
    Wait {
        /// How long.
        millis: u64,
    },
    /// Stop the server's application gracefully after draining for `grace_ms`.
    Stop {
        /// The server.
        server: ServerName,
        /// Drain time before the stop.
        grace_ms: u64,
    },
    /// Destroy a provisioned server (idempotent: an already-missing machine is a success).
    Destroy {
        /// The server.
        server: ServerName,
    },
    /// Check that a machine is reachable and add it to a registered group.
    Attach {
        /// The new server's name.
        server: ServerName,
        /// Its group.
        group: GroupName,
        /// Its address.
        address: ServerAddress,
    },
    /// Remove a registered server from its group; the machine is untouched.
    Detach {
        /// The server.
        server: ServerName,
    },
}

impl Step {
    /// The kind of step.
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Provision { .. } => StepKind::Provision,
            Step::Apply { .. } => StepKind::Apply,
            Step::Start { .. } => StepKind::Start,
            Step::HealthCheck { .. } => StepKind::HealthCheck,
            Step::Wait { .. } => StepKind::Wait,
            Step::Stop { .. } => StepKind::Stop,
            Step::Destroy { .. } => StepKind::Destroy,
            Step::Attach { .. } => StepKind::Attach,
            Step::Detach { .. } => StepKind::Detach,
        }
    }

    /// The server the step is about (`None` for waits).
    pub fn server(&self) -> Option<&ServerName> {
        match self {
            Step::Provision { server, .. }
            | Step::Apply { server, .. }
            | Step::Start { server }
            | Step::HealthCheck { server, .. }
            | Step::Stop { server, .. }
            | Step::Destroy { server }
            | Step::Attach { server, .. }
            | Step::Detach { server } => Some(server),
            Step::Wait { .. } => None,
        }
    }
}

fn duration(f: &mut fmt::Formatter<'_>, ms: u64) -> fmt::Result {
    if ms.is_multiple_of(1000) {
        write!(f, "{}s", ms / 1000)
    } else {
        write!(f, "{ms}ms")
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Provision {
                server,
                group,
                template,
                generation,
                host,
                ..
            } => {
                write!(
                    f,
                    "provision {server} (group {group}, template {template} {generation}"
                )?;
                match host {
                    Some(h) => write!(f, ", on host {h})"),
                    None => f.write_str(")"),
                }
            }
            Step::Apply {
                server,
                version,
                digest,
                scope,
            } => write!(
                f,
                "apply {version} to {server} (scope {scope}, {})",
                digest.short()
            ),
            Step::Start { server } => write!(f, "start {server}"),
            Step::HealthCheck { server, timeout_ms } => {
                write!(f, "health-check {server} (timeout ")?;
                duration(f, *timeout_ms)?;
                f.write_str(")")
            }
            Step::Wait { millis } => {
                f.write_str("wait ")?;
                duration(f, *millis)
            }
            Step::Stop { server, grace_ms } => {
                write!(f, "stop {server}")?;
                if *grace_ms > 0 {
                    f.write_str(" (grace ")?;
                    duration(f, *grace_ms)?;
                    f.write_str(")")?;
                }
                Ok(())
            }
            Step::Destroy { server } => write!(f, "destroy {server}"),
            Step::Attach {
                server,
                group,
                address,
            } => write!(f, "attach {server} at {address} to group {group}"),
            Step::Detach { server } => write!(f, "detach {server}"),
        }
    }
}

/// Whether the plan goes on after a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Always go on.
    #[default]
    None,
    /// Stop the plan when every step of this phase failed (a group that did not come up at all
    /// keeps later groups from starting).
    AnySucceeded,
    /// End of a roll-out batch: stop the plan when [`RolloutPolicy::should_abort`] says so.
    Budget,
}

/// A set of steps that may run in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// What the phase does, for progress and logs.
    pub title: String,
    /// Its steps.
    pub steps: Vec<Step>,
    /// What decides whether the plan goes on after it.
    pub gate: Gate,
}

/// How a roll-out reacts to failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct RolloutPolicy {
    /// Abort when more than this percentage of the servers updated so far failed; `None`: the
    /// first batch with a failure aborts.
    pub max_unhealthy_percent: Option<u8>,
    /// Whether an aborted roll-out puts the servers it touched back on their previous version.
    pub rollback_on_abort: bool,
}

impl RolloutPolicy {
    /// Whether to abort, given how many servers were updated so far and how many of them failed.
    pub fn should_abort(&self, updated: usize, failed: usize) -> bool {
        if failed == 0 {
            return false;
        }
        match self.max_unhealthy_percent {
            None => true,
            Some(p) => failed.saturating_mul(100) > usize::from(p).saturating_mul(updated),
        }
    }
}

/// What a plan is for; [`Unit::begin_plan`] applies its intent to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanKind {
    /// Provision the servers of a newly created unit.
    Create,
    /// Start every group.
    StartUnit,
    /// Stop every group.
    StopUnit,
    /// Start one group.
    StartGroup {
        /// The group.
        group: GroupName,
    },
    /// Stop one group.
    StopGroup {
        /// The group.
        group: GroupName,
    },
    /// Change a provisioned group's count.
    Scale {
        /// The group.
        group: GroupName,
        /// Servers before.
        from: u32,
        /// Servers after.
        to: u32,
    },
    /// Attach a machine to a registered group.
    Attach {
        /// The group.
        group: GroupName,
        /// The new server.
        server: ServerName,
    },
    /// Detach a server from a registered group.
    Detach {
        /// The group.
        group: GroupName,
        /// The server.
        server: ServerName,
    },
    /// Roll a definition version out (batch apply).
    Apply {
        /// The version.
        version: DefinitionVersion,
    },
    /// Re-apply the previous definition version.
    Rollback {
        /// The version being left.
        from: DefinitionVersion,
        /// The version going back to.
        to: DefinitionVersion,
    },
    /// Put the servers an aborted roll-out touched back on their previous versions.
    Revert {
        /// The unit's current version to restore.
        version: Option<DefinitionVersion>,
    },
    /// Re-provision servers onto their templates' newest generations.
    Upgrade {
        /// New servers created before old ones are retired; `None`: in place.
        surge: Option<u32>,
    },
    /// Delete the unit.
    Delete,
    /// Recover a failed server.
    Recover {
        /// The server.
        server: ServerName,
        /// How.
        how: RecoverPolicy,
    },
    /// Restart a lost host's servers on other hosts (same names, next placement epoch).
    Failover {
        /// The lost host.
        host: String,
    },
    /// Move servers off a host (`vsm host drain`): one group's replacements, or retiring the
    /// servers they replace.
    Evacuate {
        /// The host being emptied.
        host: String,
        /// The group.
        group: GroupName,
    },
}

impl fmt::Display for PlanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanKind::Create => f.write_str("create"),
            PlanKind::StartUnit => f.write_str("start unit"),
            PlanKind::StopUnit => f.write_str("stop unit"),
            PlanKind::StartGroup { group } => write!(f, "start group {group}"),
            PlanKind::StopGroup { group } => write!(f, "stop group {group}"),
            PlanKind::Scale { group, from, to } => {
                write!(f, "scale group {group} from {from} to {to}")
            }
            PlanKind::Attach { group, server } => write!(f, "attach {server} to group {group}"),
            PlanKind::Detach { group, server } => write!(f, "detach {server} from group {group}"),
            PlanKind::Apply { version } => write!(f, "apply {version}"),
            PlanKind::Rollback { from, to } => write!(f, "roll back from {from} to {to}"),
            PlanKind::Revert { version: Some(v) } => write!(f, "revert to {v}"),
            PlanKind::Revert { version: None } => f.write_str("revert"),
            PlanKind::Upgrade { surge: None } => f.write_str("upgrade in place"),
            PlanKind::Upgrade { surge: Some(n) } => write!(f, "upgrade with surge {n}"),
            PlanKind::Delete => f.write_str("delete unit"),
            PlanKind::Failover { host } => write!(f, "restart the servers of lost host {host}"),
            PlanKind::Evacuate { host, group } => {
                write!(f, "move group {group}'s servers off host {host}")
            }
            PlanKind::Recover { server, how } => {
                let how = match how {
                    RecoverPolicy::None | RecoverPolicy::Restart => "restart",
                    RecoverPolicy::Recreate => "recreate",
                };
                write!(f, "recover {server} ({how})")
            }
        }
    }
}

/// An ordered plan: phases run one after another, steps of a phase in parallel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// What it is for.
    pub kind: PlanKind,
    /// The phases, in order; empty phases are never included.
    pub phases: Vec<Phase>,
    /// For roll-outs and upgrades: how failures at [`Gate::Budget`] phases are judged.
    pub rollout: Option<RolloutPolicy>,
}

impl Plan {
    pub(crate) fn new(kind: PlanKind) -> Self {
        Plan {
            kind,
            phases: Vec::new(),
            rollout: None,
        }
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.phases.is_empty()
    }

    /// Every step, in order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }

    /// Every server some step touches.
    pub fn servers(&self) -> BTreeSet<&ServerName> {
        self.steps().filter_map(Step::server).collect()
    }

    pub(crate) fn push(&mut self, title: impl Into<String>, steps: Vec<Step>, gate: Gate) {
        if !steps.is_empty() {
            self.phases.push(Phase {
                title: title.into(),
                steps,
                gate,
            });
        }
    }

    fn set_last_gate(&mut self, gate: Gate) {
        if let Some(p) = self.phases.last_mut() {
            p.gate = gate;
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plan: {}", self.kind)?;
        if let Some(r) = &self.rollout {
            match r.max_unhealthy_percent {
                Some(p) => write!(f, " (max unhealthy {p}%")?,
                None => f.write_str(" (abort on first failing batch")?,
            }
            f.write_str(if r.rollback_on_abort {
                ", roll back on abort)"
            } else {
                ", no rollback)"
            })?;
        }
        writeln!(f)?;
        if self.phases.is_empty() {
            writeln!(f, "  nothing to do")?;
        }
        for (i, p) in self.phases.iter().enumerate() {
            write!(f, "phase {}: {}", i + 1, p.title)?;
            match p.gate {
                Gate::None => writeln!(f)?,
                Gate::AnySucceeded => writeln!(f, " [gate: any healthy]")?,
                Gate::Budget => writeln!(f, " [gate: unhealthy budget]")?,
            }
            for s in &p.steps {
                writeln!(f, "  {s}")?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and requests

/// An impossible request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Another operation holds the unit (exclusion).
    #[error(
        "unit {unit} is busy with operation {op}; wait for it (`vsm op show {op}`) or retry with --wait"
    )]
    Busy {
        /// The unit.
        unit: UnitName,
        /// The operation holding it.
        op: OperationId,
    },
    /// No such group.
    #[error("unit {unit} has no group {group}; `vsm unit show {unit}` lists its groups")]
    UnknownGroup {
        /// The unit.
        unit: UnitName,
        /// The group.
        group: GroupName,
    },
    /// No such server (in the unit, or in the named group).
    #[error("unit {unit} has no server {server}{}; `vsm unit show {unit}` lists its servers", group.as_ref().map(|g| format!(" in group {g}")).unwrap_or_default())]
    UnknownServer {
        /// The unit.
        unit: UnitName,
        /// The group it was looked for in, if any.
        group: Option<GroupName>,
        /// The server.
        server: ServerName,
    },
    /// The operation needs a provisioned group.
    #[error(
        "group {group} is a registered group; {what} needs a provisioned group (use `vsm group attach/detach` for registered machines)"
    )]
    NotProvisioned {
        /// The group.
        group: GroupName,
        /// The refused operation.
        what: &'static str,
    },
    /// The operation needs a registered group.
    #[error(
        "group {group} is a provisioned group; {what} needs a registered group (use `vsm unit scale` for provisioned groups)"
    )]
    NotRegistered {
        /// The group.
        group: GroupName,
        /// The refused operation.
        what: &'static str,
    },
    /// A count outside the group's bounds.
    #[error(
        "group {group}: count {count} is outside min {min} .. max {max}; choose a count in that range or change the unit file"
    )]
    CountOutOfRange {
        /// The group.
        group: GroupName,
        /// The requested count.
        count: u32,
        /// The group's min.
        min: u32,
        /// The group's max.
        max: u32,
    },
    /// Named victims do not match the count.
    #[error(
        "group {group}: going from {from} to {to} servers removes {needed}, but {named} were named with --remove"
    )]
    VictimCount {
        /// The group.
        group: GroupName,
        /// Servers now.
        from: u32,
        /// Requested count.
        to: u32,
        /// How many must go.
        needed: u32,
        /// How many were named.
        named: usize,
    },
    /// The template is unknown.
    #[error("template {0} is not registered; `vsm template list` shows the registered ones")]
    UnknownTemplate(TemplateName),
    /// Nothing was imported yet.
    #[error("unit {0} has no definition version; import one with `vsm unit import`")]
    NoDefinitions(UnitName),
    /// No such definition version.
    #[error("unit {unit} has no definition version {version}")]
    UnknownVersion {
        /// The unit.
        unit: UnitName,
        /// The version.
        version: DefinitionVersion,
    },
    /// Rollback with nothing to go back to.
    #[error("unit {0} has no earlier definition version to roll back to")]
    NoPreviousVersion(UnitName),
    /// A server name already used in the unit.
    #[error("server name {0} is already used in this unit; choose another with --name")]
    NameTaken(ServerName),
    /// An address already used in the unit.
    #[error("address {address} already belongs to server {server}")]
    AddressTaken {
        /// The address.
        address: ServerAddress,
        /// The server that has it.
        server: ServerName,
    },
    /// A bad batch size.
    #[error(
        "batch size {0} is not allowed; use a count of at least 1 or a percentage from 1% to 100%"
    )]
    InvalidBatch(Batch),
    /// A bad surge.
    #[error("surge must be at least 1")]
    InvalidSurge,
    /// Deleting a running unit without force.
    #[error(
        "unit {0} still has running servers; stop it first (`vsm unit stop`) or delete with --force"
    )]
    UnitRunning(UnitName),
}

/// A batch size: a number of servers or a percentage of the unit's servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Batch {
    /// This many servers per batch.
    Count(u32),
    /// This percentage of the unit's servers per batch (rounded up, at least 1).
    Percent(u8),
}

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Batch::Count(n) => write!(f, "{n}"),
            Batch::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl std::str::FromStr for Batch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid batch {s:?}: use a count like 2 or a percentage like 25%");
        match s.strip_suffix('%') {
            Some(p) => p.parse().map(Batch::Percent).map_err(|_| bad()),
            None => s.parse().map(Batch::Count).map_err(|_| bad()),
        }
    }
}

impl Batch {
    fn validate(self) -> Result<(), PlanError> {
        match self {
            Batch::Count(0) | Batch::Percent(0) => Err(PlanError::InvalidBatch(self)),
            Batch::Percent(p) if p > 100 => Err(PlanError::InvalidBatch(self)),
            _ => Ok(()),
        }
    }

    /// The number of servers per batch for a unit of `total` servers.
    pub fn size(self, total: usize) -> usize {
        match self {
            Batch::Count(n) => usize::try_from(n).unwrap_or(usize::MAX).max(1),
            Batch::Percent(p) => (total * usize::from(p)).div_ceil(100).max(1),
        }
    }
}

/// `vsm unit scale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleRequest {
    /// The group.
    pub group: GroupName,
    /// The wanted number of servers.
    pub count: u32,
    /// Victims named by the user (instead of the group's policy).
    pub remove: Vec<ServerName>,
    /// Drain time overriding the group's `grace`.
    pub grace_ms: Option<u64>,
}

/// `vsm group attach`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachRequest {
    /// The registered group.
    pub group: GroupName,
    /// The machine's address.
    pub address: ServerAddress,
    /// The server's name; default `<group>-<n>`.
    pub name: Option<ServerName>,
}

/// `vsm unit apply` (and the options of `vsm unit rollback`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// The version; default the unit's current one.
    pub version: Option<DefinitionVersion>,
    /// Batch size; `None`: one batch with every server.
    pub batch: Option<Batch>,
    /// The unhealthy budget.
    pub max_unhealthy_percent: Option<u8>,
    /// Pause between batches, in milliseconds.
    pub pause_ms: u64,
    /// `--no-rollback`: leave the servers of an aborted roll-out as they are.
    pub no_rollback: bool,
}

/// `vsm unit upgrade`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpgradeRequest {
    /// Batch size for in-place upgrades; `None`: one batch.
    pub batch: Option<Batch>,
    /// Create this many new servers of a group before retiring as many old ones.
    pub surge: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn not_busy(unit: &Unit) -> Result<(), PlanError> {
    match unit.busy {
        Some(op) => Err(PlanError::Busy {
            unit: unit.name.clone(),
            op,
        }),
        None => Ok(()),
    }
}

fn group<'u>(unit: &'u Unit, name: &GroupName) -> Result<&'u Group, PlanError> {
    unit.group(name).ok_or_else(|| PlanError::UnknownGroup {
        unit: unit.name.clone(),
        group: name.clone(),
    })
}

/// Groups in start order: groups with equal start orders form one stage (in unit-file order).
pub fn stages(unit: &Unit) -> Vec<Vec<&Group>> {
    let mut orders: BTreeMap<u32, Vec<&Group>> = BTreeMap::new();
    for g in &unit.groups {
        orders.entry(g.spec.start_order).or_default().push(g);
    }
    orders.into_values().collect()
}

fn names_of(groups: &[&Group]) -> String {
    groups
        .iter()
        .map(|g| g.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn needs_start(s: &Server) -> bool {
    matches!(
        s.logical,
        LogicalStatus::Stopped | LogicalStatus::Failed | LogicalStatus::Unhealthy
    )
}

pub(crate) fn needs_stop(s: &Server) -> bool {
    s.logical.is_running() || s.logical == LogicalStatus::Failed
}

pub(crate) fn health(g: &Group, server: &ServerName) -> Step {
    Step::HealthCheck {
        server: server.clone(),
        timeout_ms: g.spec.health.timeout_ms,
    }
}

/// Start phases for `groups` (one stage): start then health-check.
fn start_stage(plan: &mut Plan, groups: &[&Group]) -> bool {
    let mut starts = Vec::new();
    let mut checks = Vec::new();
    for g in groups {
        for s in &g.servers {
            if needs_start(s) {
                starts.push(Step::Start {
                    server: s.name.clone(),
                });
            }
            if needs_start(s) || s.logical == LogicalStatus::Started {
                checks.push(health(g, &s.name));
            }
        }
    }
    let any = !checks.is_empty();
    let label = names_of(groups);
    plan.push(format!("start group {label}"), starts, Gate::None);
    plan.push(
        format!("health-check group {label}"),
        checks,
        Gate::AnySucceeded,
    );
    any
}

fn stop_stage(plan: &mut Plan, groups: &[&Group]) {
    let steps = groups
        .iter()
        .rev()
        .flat_map(|g| g.servers.iter().rev())
        .filter(|s| needs_stop(s))
        .map(|s| Step::Stop {
            server: s.name.clone(),
            grace_ms: 0,
        })
        .collect();
    plan.push(
        format!("stop group {}", names_of(groups)),
        steps,
        Gate::None,
    );
}

// ---------------------------------------------------------------------------------------------
// Start and stop

/// `vsm unit start`: stages in ascending start order; in each, start the servers that are not
/// running, then health-check them; the next stage begins only after every check of the previous
/// stage finished (and at least one passed), plus its start delay.
pub fn plan_start_unit(unit: &Unit) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let mut plan = Plan::new(PlanKind::StartUnit);
    let mut started_before = false;
    for stage in stages(unit) {
        let delay = stage
            .iter()
            .map(|g| g.spec.start_delay_ms)
            .max()
            .unwrap_or(0);
        let has_work = stage
            .iter()
            .flat_map(|g| g.servers.iter())
            .any(|s| needs_start(s) || s.logical == LogicalStatus::Started);
        if has_work && started_before && delay > 0 {
            plan.push(
                format!("start delay of group {}", names_of(&stage)),
                vec![Step::Wait { millis: delay }],
                Gate::None,
            );
        }
        started_before |= start_stage(&mut plan, &stage);
    }
    Ok(plan)
}

/// `vsm unit stop`: the exact reverse of [`plan_start_unit`]'s order, one phase per stage.
pub fn plan_stop_unit(unit: &Unit) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let mut plan = Plan::new(PlanKind::StopUnit);
    for stage in stages(unit).iter().rev() {
        stop_stage(&mut plan, stage);
    }
    Ok(plan)
}

/// `vsm group start`: start and health-check one group.
pub fn plan_start_group(unit: &Unit, name: &GroupName) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let g = group(unit, name)?;
    let mut plan = Plan::new(PlanKind::StartGroup {
        group: name.clone(),
    });
    start_stage(&mut plan, &[g]);
    Ok(plan)
}

/// `vsm group stop`: stop one group.
pub fn plan_stop_group(unit: &Unit, name: &GroupName) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let g = group(unit, name)?;
    let mut plan = Plan::new(PlanKind::StopGroup {
        group: name.clone(),
    });
    stop_stage(&mut plan, &[g]);
    Ok(plan)
}

// ---------------------------------------------------------------------------------------------
// Create and scale

fn latest_of(
    latest: &LatestGenerations,
    template: &TemplateName,
) -> Result<TemplateGeneration, PlanError> {
    latest
        .get(template)
        .copied()
        .ok_or_else(|| PlanError::UnknownTemplate(template.clone()))
}

fn apply_current(unit: &Unit, server: &ServerName) -> Option<Step> {
    unit.current_definition().map(|d| Step::Apply {
        server: server.clone(),
        version: d.version,
        digest: d.digest.clone(),
        scope: UpdateScope::All,
    })
}

/// The names in use while a plan names new servers: every server's, plus the new ones, and
/// where each group's numbering goes on (so naming n servers costs O(n)).
struct Naming {
    names: HashSet<ServerName>,
    next: HashMap<GroupName, u32>,
}

impl Naming {
    fn of(unit: &Unit) -> Naming {
        Naming {
            names: unit.server_names(),
            next: HashMap::new(),
        }
    }
}

/// New servers for `group`: provision → apply the current definitions → (start → health-check
/// when `start`), appended to the four phase lists.
#[derive(Default)]
struct Growth {
    provision: Vec<Step>,
    apply: Vec<Step>,
    start: Vec<Step>,
    check: Vec<Step>,
}

impl Growth {
    fn add(
        &mut self,
        unit: &Unit,
        g: &Group,
        n: u32,
        (template, generation): (&TemplateName, TemplateGeneration),
        start: bool,
        used: &mut Naming,
    ) -> Vec<ServerName> {
        let mut names = Vec::new();
        for _ in 0..n {
            let from = used.next.get(g.name()).copied().unwrap_or(0);
            let (name, seq) = g.next_free_name_from(&used.names, from);
            used.names.insert(name.clone());
            used.next.insert(g.name().clone(), seq.saturating_add(1));
            self.provision.push(Step::Provision {
                server: name.clone(),
                group: g.name().clone(),
                template: template.clone(),
                generation,
                host: None,
                epoch: 0,
            });
            self.apply.extend(apply_current(unit, &name));
            if start {
                self.start.push(Step::Start {
                    server: name.clone(),
                });
                self.check.push(health(g, &name));
            }
            names.push(name);
        }
        names
    }

    /// Servers of `g` that a create or scale-out interrupted between provisioning and applying
    /// (provisioned, nothing applied while the unit has definitions): apply the current
    /// definitions, then (when `start`) start and health-check them, as a new server would be.
    fn complete(&mut self, unit: &Unit, g: &Group, start: bool) -> Vec<ServerName> {
        let mut names = Vec::new();
        for s in &g.servers {
            let half_made = matches!(s.origin, Origin::Provisioned { .. })
                && s.applied.is_none()
                && s.in_progress.is_none()
                && s.mark.is_none();
            let Some(apply) = apply_current(unit, &s.name).filter(|_| half_made) else {
                continue;
            };
            self.apply.push(apply);
            if start && needs_start(s) {
                self.start.push(Step::Start {
                    server: s.name.clone(),
                });
                self.check.push(health(g, &s.name));
            }
            names.push(s.name.clone());
        }
        names
    }

    fn push_into(self, plan: &mut Plan, label: &str, gate: Gate) {
        plan.push(format!("provision {label}"), self.provision, Gate::None);
        plan.push(
            format!("apply current definitions to {label}"),
            self.apply,
            Gate::None,
        );
        plan.push(format!("start {label}"), self.start, Gate::None);
        plan.push(format!("health-check {label}"), self.check, gate);
    }
}

/// After `vsm unit create`: provision every provisioned group up to its count and apply the
/// current definitions (if any); nothing is started.
pub fn plan_create(unit: &Unit, latest: &LatestGenerations) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let mut plan = Plan::new(PlanKind::Create);
    let mut growth = Growth::default();
    let mut taken = Naming::of(unit);
    for g in &unit.groups {
        if let GroupKind::Provisioned(p) = &g.spec.kind {
            let have = u32::try_from(g.servers.len()).unwrap_or(u32::MAX);
            if p.count > have {
                let generation = latest_of(latest, &p.template)?;
                growth.add(
                    unit,
                    g,
                    p.count - have,
                    (&p.template, generation),
                    false,
                    &mut taken,
                );
            }
        }
    }
    growth.push_into(&mut plan, "new servers", Gate::None);
    Ok(plan)
}

/// The servers a scale-in from the group's current servers removes under `policy`.
pub fn scale_in_victims(g: &Group, policy: ScaleInPolicy, n: usize) -> Vec<ServerName> {
    let mut order: Vec<&Server> = g.servers.iter().collect();
    order.sort_by_key(|s| (s.created, s.seq));
    if policy == ScaleInPolicy::Newest {
        order.reverse();
    }
    order.into_iter().take(n).map(|s| s.name.clone()).collect()
}

/// `vsm unit scale`: within `[min, max]`. Out: provision → apply current → start → health-check
/// (started only when some server of the unit runs). In: victims by the group's policy (or the
/// named ones), stopped after their grace period, then destroyed.
pub fn plan_scale(
    unit: &Unit,
    req: &ScaleRequest,
    latest: &LatestGenerations,
) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let g = group(unit, &req.group)?;
    let GroupKind::Provisioned(p) = &g.spec.kind else {
        return Err(PlanError::NotProvisioned {
            group: req.group.clone(),
            what: "scaling",
        });
    };
    if req.count < p.min || req.count > p.max {
        return Err(PlanError::CountOutOfRange {
            group: req.group.clone(),
            count: req.count,
            min: p.min,
            max: p.max,
        });
    }
    let have = u32::try_from(g.servers.len()).unwrap_or(u32::MAX);
    let mut plan = Plan::new(PlanKind::Scale {
        group: req.group.clone(),
        from: have,
        to: req.count,
    });
    let needed = have.saturating_sub(req.count);
    if !req.remove.is_empty() && usize::try_from(needed).ok() != Some(req.remove.len()) {
        return Err(PlanError::VictimCount {
            group: req.group.clone(),
            from: have,
            to: req.count,
            needed,
            named: req.remove.len(),
        });
    }
    if req.count >= have {
        // (a scale-out that was interrupted after provisioning is finished by running it again)
        let start = unit.any_running();
        let mut growth = Growth::default();
        let completed = growth.complete(unit, g, start);
        if req.count > have {
            let generation = latest_of(latest, &p.template)?;
            growth.add(
                unit,
                g,
                req.count - have,
                (&p.template, generation),
                start,
                &mut Naming::of(unit),
            );
        }
        let label = if completed.is_empty() {
            format!("new servers of group {}", req.group)
        } else {
            format!("new and unfinished servers of group {}", req.group)
        };
        growth.push_into(&mut plan, &label, Gate::None);
    } else if needed > 0 {
        let victims = if req.remove.is_empty() {
            scale_in_victims(g, p.scale_in, usize::try_from(needed).unwrap_or(usize::MAX))
        } else {
            let mut seen = BTreeSet::new();
            for v in &req.remove {
                if g.server(v).is_none() || !seen.insert(v) {
                    return Err(PlanError::UnknownServer {
                        unit: unit.name.clone(),
                        group: Some(req.group.clone()),
                        server: v.clone(),
                    });
                }
            }
            req.remove.clone()
        };
        let grace_ms = req.grace_ms.unwrap_or(p.grace_ms);
        let stops = victims
            .iter()
            .filter_map(|v| g.server(v))
            .filter(|s| needs_stop(s))
            .map(|s| Step::Stop {
                server: s.name.clone(),
                grace_ms,
            })
            .collect();
        let destroys = victims
            .iter()
            .map(|v| Step::Destroy { server: v.clone() })
            .collect();
        plan.push(
            format!("stop scaled-in servers of group {}", req.group),
            stops,
            Gate::None,
        );
        plan.push(
            format!("destroy scaled-in servers of group {}", req.group),
            destroys,
            Gate::None,
        );
    }
    Ok(plan)
}

// ---------------------------------------------------------------------------------------------
// Attach and detach

/// `vsm group attach`: add a reachable machine to a registered group (stopped, scope `all`).
pub fn plan_attach(unit: &Unit, req: &AttachRequest) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let g = group(unit, &req.group)?;
    if g.spec.registered().is_none() {
        return Err(PlanError::NotRegistered {
            group: req.group.clone(),
            what: "attaching a machine",
        });
    }
    if let Some((_, s)) = unit
        .servers()
        .find(|(_, s)| s.address.as_ref() == Some(&req.address))
    {
        return Err(PlanError::AddressTaken {
            address: req.address.clone(),
            server: s.name.clone(),
        });
    }
    let name = match &req.name {
        Some(n) if unit.server(n).is_some() => return Err(PlanError::NameTaken(n.clone())),
        Some(n) => n.clone(),
        None => unit.next_server_name(g, &BTreeSet::new()).0,
    };
    let mut plan = Plan::new(PlanKind::Attach {
        group: req.group.clone(),
        server: name.clone(),
    });
    plan.push(
        format!("attach to group {}", req.group),
        vec![Step::Attach {
            server: name,
            group: req.group.clone(),
            address: req.address.clone(),
        }],
        Gate::None,
    );
    Ok(plan)
}

/// `vsm group detach`: remove a server from a registered group; the machine is untouched.
pub fn plan_detach(
    unit: &Unit,
    group_name: &GroupName,
    server: &ServerName,
) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let g = group(unit, group_name)?;
    if g.spec.registered().is_none() {
        return Err(PlanError::NotRegistered {
            group: group_name.clone(),
            what: "detaching a machine",
        });
    }
    if g.server(server).is_none() {
        return Err(PlanError::UnknownServer {
            unit: unit.name.clone(),
            group: Some(group_name.clone()),
            server: server.clone(),
        });
    }
    let mut plan = Plan::new(PlanKind::Detach {
        group: group_name.clone(),
        server: server.clone(),
    });
    plan.push(
        format!("detach from group {group_name}"),
        vec![Step::Detach {
            server: server.clone(),
        }],
        Gate::None,
    );
    Ok(plan)
}

// ---------------------------------------------------------------------------------------------
// Apply, roll-out, rollback, revert

/// One server to update in a rolling plan.
struct Target<'u> {
    group: &'u Group,
    server: &'u Server,
    version: DefinitionVersion,
    digest: DefinitionDigest,
    scope: UpdateScope,
    /// Whether to start (and check) it after the apply even if it was not running.
    restart_anyway: bool,
}

/// Rolling batches: stop (full scope, running) → apply → start → health-check; pause between.
fn rolling(plan: &mut Plan, targets: &[Target<'_>], batch: usize, pause_ms: u64) {
    let batches: Vec<&[Target<'_>]> = targets.chunks(batch.max(1)).collect();
    let n = batches.len();
    for (i, chunk) in batches.into_iter().enumerate() {
        let label = if n == 1 {
            String::new()
        } else {
            format!("batch {}/{n}: ", i + 1)
        };
        let mut stops = Vec::new();
        let mut applies = Vec::new();
        let mut starts = Vec::new();
        let mut checks = Vec::new();
        for t in chunk {
            let running = t.server.logical.is_running();
            let restart = running && t.scope == UpdateScope::All;
            if restart {
                stops.push(Step::Stop {
                    server: t.server.name.clone(),
                    grace_ms: 0,
                });
            }
            applies.push(Step::Apply {
                server: t.server.name.clone(),
                version: t.version,
                digest: t.digest.clone(),
                scope: t.scope,
            });
            if restart || t.restart_anyway {
                starts.push(Step::Start {
                    server: t.server.name.clone(),
                });
            }
            if running || t.restart_anyway {
                checks.push(health(t.group, &t.server.name));
            }
        }
        plan.push(
            format!("{label}stop servers needing a full update"),
            stops,
            Gate::None,
        );
        plan.push(format!("{label}apply"), applies, Gate::None);
        plan.push(format!("{label}start"), starts, Gate::None);
        plan.push(format!("{label}health-check"), checks, Gate::None);
        plan.set_last_gate(Gate::Budget);
        if i + 1 < n && pause_ms > 0 {
            plan.push(
                "pause between batches",
                vec![Step::Wait { millis: pause_ms }],
                Gate::None,
            );
        }
    }
}

fn rollout_to(
    unit: &Unit,
    plan: &mut Plan,
    target: &DefinitionRecord,
    req: &ApplyRequest,
) -> Result<(), PlanError> {
    if let Some(b) = req.batch {
        b.validate()?;
    }
    let mut targets: Vec<Target<'_>> = stages(unit)
        .into_iter()
        .flatten()
        .flat_map(|g| g.servers.iter().map(move |s| (g, s)))
        .filter(|(_, s)| s.logical != LogicalStatus::Provisioning)
        .filter_map(|(g, s)| {
            let scope = unit.update_scope_to(g.name(), s, target);
            (scope != UpdateScope::None).then(|| Target {
                group: g,
                server: s,
                version: target.version,
                digest: target.digest.clone(),
                scope,
                restart_anyway: false,
            })
        })
        .collect();
    // Unhealthy and failed servers first (stable: start order otherwise).
    targets.sort_by_key(|t| !t.server.logical.is_invalid());
    let total = unit
        .servers()
        .filter(|(_, s)| s.logical != LogicalStatus::Provisioning)
        .count();
    let size = req.batch.map_or(targets.len(), |b| b.size(total));
    plan.rollout = Some(RolloutPolicy {
        max_unhealthy_percent: req.max_unhealthy_percent,
        rollback_on_abort: !req.no_rollback,
    });
    rolling(plan, &targets, size, req.pause_ms);
    Ok(())
}

/// `vsm unit apply`: roll `req.version` (default: the current one) out in batches. Servers
/// that need a full update and run are stopped, updated, started and health-checked; stopped
/// servers are only updated; application-only changes go to running servers directly and are
/// health-checked. Unhealthy and failed servers go first. The last phase of each batch is a
/// [`Gate::Budget`].
pub fn plan_apply(unit: &Unit, req: &ApplyRequest) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let version = req
        .version
        .or(unit.current)
        .ok_or_else(|| PlanError::NoDefinitions(unit.name.clone()))?;
    let target = unit
        .definition(version)
        .ok_or_else(|| PlanError::UnknownVersion {
            unit: unit.name.clone(),
            version,
        })?;
    let mut plan = Plan::new(PlanKind::Apply { version });
    rollout_to(unit, &mut plan, target, req)?;
    Ok(plan)
}

/// `vsm unit rollback`: roll the version before the current one out (same options as apply;
/// `req.version` is ignored).
pub fn plan_rollback(unit: &Unit, req: &ApplyRequest) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let from = unit
        .current
        .ok_or_else(|| PlanError::NoDefinitions(unit.name.clone()))?;
    let to = unit
        .previous_version(from)
        .ok_or_else(|| PlanError::NoPreviousVersion(unit.name.clone()))?;
    let target = unit
        .definition(to)
        .ok_or_else(|| PlanError::UnknownVersion {
            unit: unit.name.clone(),
            version: to,
        })?;
    let mut plan = Plan::new(PlanKind::Rollback { from, to });
    rollout_to(unit, &mut plan, target, req)?;
    Ok(plan)
}

/// After an aborted roll-out: put every server in `touched` back on the version it had in
/// `before` (the unit when the roll-out began), and back in its running state. `unit` is the
/// model now. Servers that had nothing applied before are left alone. Runs inside the same
/// operation, so the unit being busy is not checked.
pub fn plan_revert(unit: &Unit, before: &Unit, touched: &BTreeSet<ServerName>) -> Plan {
    // The version the touched servers ran before (when they agree), else the unit's current one.
    let versions: BTreeSet<DefinitionVersion> = touched
        .iter()
        .filter_map(|n| before.server(n))
        .filter_map(|(_, s)| s.applied.as_ref().map(|a| a.version))
        .collect();
    let version = match versions.len() {
        1 => versions.into_iter().next(),
        _ => before.current,
    };
    let mut plan = Plan::new(PlanKind::Revert { version });
    let mut targets = Vec::new();
    for stage in stages(unit) {
        for g in stage {
            for s in &g.servers {
                if !touched.contains(&s.name) {
                    continue;
                }
                let Some((_, old)) = before.server(&s.name) else {
                    continue;
                };
                let Some(AppliedDefinition { version, digest }) = &old.applied else {
                    continue;
                };
                let Some(record) = unit.definition(*version) else {
                    continue;
                };
                let was_running = old.logical.is_running();
                let mut scope = unit.update_scope_to(g.name(), s, record);
                let restart_anyway = was_running && !s.logical.is_running();
                if scope == UpdateScope::None && !restart_anyway {
                    continue;
                }
                if scope == UpdateScope::None {
                    scope = UpdateScope::Applications;
                }
                targets.push(Target {
                    group: g,
                    server: s,
                    version: *version,
                    digest: digest.clone(),
                    scope,
                    restart_anyway,
                });
            }
        }
    }
    rolling(&mut plan, &targets, targets.len(), 0);
    for p in &mut plan.phases {
        p.gate = Gate::None;
    }
    plan
}

// ---------------------------------------------------------------------------------------------
// Upgrade, delete, recover

/// `vsm unit upgrade`: re-provision provisioned servers whose template generation is older than
/// the newest (or whose template differs from the group's). In place, batch by batch: stop →
/// destroy → provision → apply current → start → health-check (start only for servers that ran).
/// With surge N, per group: provision N new → apply → start → health-check, then stop and destroy
/// N old ones, so capacity never drops (a group may exceed its max by N meanwhile).
pub fn plan_upgrade(
    unit: &Unit,
    req: &UpgradeRequest,
    latest: &LatestGenerations,
) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    if let Some(b) = req.batch {
        b.validate()?;
    }
    if req.surge == Some(0) {
        return Err(PlanError::InvalidSurge);
    }
    let mut plan = Plan::new(PlanKind::Upgrade { surge: req.surge });
    plan.rollout = Some(RolloutPolicy {
        max_unhealthy_percent: None,
        rollback_on_abort: false,
    });
    let mut outdated: Vec<(&Group, &Server, &TemplateName, TemplateGeneration)> = Vec::new();
    for stage in stages(unit) {
        for g in stage {
            let GroupKind::Provisioned(p) = &g.spec.kind else {
                continue;
            };
            let newest = latest_of(latest, &p.template)?;
            for s in &g.servers {
                let old = match &s.origin {
                    Origin::Provisioned {
                        template,
                        generation,
                    } => template != &p.template || *generation < newest,
                    Origin::Registered => false,
                };
                if old {
                    outdated.push((g, s, &p.template, newest));
                }
            }
        }
    }
    match req.surge {
        None => {
            let size = req
                .batch
                .map_or(outdated.len(), |b| b.size(unit.servers().count()));
            let batches: Vec<_> = outdated.chunks(size.max(1)).collect();
            let n = batches.len();
            for (i, chunk) in batches.into_iter().enumerate() {
                let label = if n == 1 {
                    String::new()
                } else {
                    format!(" (batch {}/{n})", i + 1)
                };
                let mut stops = Vec::new();
                let mut growth = Growth::default();
                let mut destroys = Vec::new();
                for (g, s, template, generation) in chunk {
                    let running = s.logical.is_running();
                    if needs_stop(s) {
                        let grace_ms = g.spec.provisioned().map_or(0, |p| p.grace_ms);
                        stops.push(Step::Stop {
                            server: s.name.clone(),
                            grace_ms,
                        });
                    }
                    destroys.push(Step::Destroy {
                        server: s.name.clone(),
                    });
                    growth.provision.push(Step::Provision {
                        server: s.name.clone(),
                        group: g.name().clone(),
                        template: (*template).clone(),
                        generation: *generation,
                        host: None,
                        epoch: 0,
                    });
                    growth.apply.extend(apply_current(unit, &s.name));
                    if running {
                        growth.start.push(Step::Start {
                            server: s.name.clone(),
                        });
                        growth.check.push(health(g, &s.name));
                    }
                }
                plan.push(format!("stop{label}"), stops, Gate::None);
                plan.push(format!("destroy{label}"), destroys, Gate::None);
                growth.push_into(
                    &mut plan,
                    &format!("re-provisioned servers{label}"),
                    Gate::None,
                );
                plan.set_last_gate(Gate::Budget);
            }
        }
        Some(surge) => {
            let mut taken = Naming::of(unit);
            let mut by_group: Vec<(&Group, Vec<&Server>, &TemplateName, TemplateGeneration)> =
                Vec::new();
            for (g, s, t, gen_) in &outdated {
                match by_group.iter_mut().find(|(bg, ..)| bg.name() == g.name()) {
                    Some((_, list, ..)) => list.push(s),
                    None => by_group.push((g, vec![s], t, *gen_)),
                }
            }
            for (g, olds, template, generation) in by_group {
                let running = olds.iter().any(|s| s.logical.is_running());
                let chunk_size = usize::try_from(surge).unwrap_or(usize::MAX);
                for chunk in olds.chunks(chunk_size) {
                    let mut growth = Growth::default();
                    let n = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
                    growth.add(unit, g, n, (template, generation), running, &mut taken);
                    let label = format!("group {}", g.name());
                    growth.push_into(&mut plan, &format!("surge servers of {label}"), Gate::None);
                    plan.set_last_gate(Gate::Budget);
                    let grace_ms = g.spec.provisioned().map_or(0, |p| p.grace_ms);
                    let stops = chunk
                        .iter()
                        .filter(|s| needs_stop(s))
                        .map(|s| Step::Stop {
                            server: s.name.clone(),
                            grace_ms,
                        })
                        .collect();
                    let destroys = chunk
                        .iter()
                        .map(|s| Step::Destroy {
                            server: s.name.clone(),
                        })
                        .collect();
                    plan.push(
                        format!("stop retired servers of {label}"),
                        stops,
                        Gate::None,
                    );
                    plan.push(
                        format!("destroy retired servers of {label}"),
                        destroys,
                        Gate::None,
                    );
                }
            }
        }
    }
    Ok(plan)
}

/// `vsm unit delete`: stop (reverse start order), destroy provisioned servers, detach registered
/// ones. Without `force`, a unit with running servers is refused.
pub fn plan_delete(unit: &Unit, force: bool) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    if !force && unit.any_running() {
        return Err(PlanError::UnitRunning(unit.name.clone()));
    }
    let mut plan = Plan::new(PlanKind::Delete);
    for stage in stages(unit).iter().rev() {
        stop_stage(&mut plan, stage);
    }
    let mut destroys = Vec::new();
    let mut detaches = Vec::new();
    for (_, s) in unit.servers() {
        match s.origin {
            Origin::Provisioned { .. } => destroys.push(Step::Destroy {
                server: s.name.clone(),
            }),
            Origin::Registered => detaches.push(Step::Detach {
                server: s.name.clone(),
            }),
        }
    }
    plan.push("destroy provisioned servers", destroys, Gate::None);
    plan.push("detach registered servers", detaches, Gate::None);
    Ok(plan)
}

/// `vsm server recover`: `how` (default the group's policy, `none` meaning restart). Restart:
/// stop (unless stopped) → start → health-check. Recreate (provisioned only): destroy →
/// provision from the template's newest generation → apply current → start → health-check.
pub fn plan_recover(
    unit: &Unit,
    server: &ServerName,
    how: Option<RecoverPolicy>,
    latest: &LatestGenerations,
) -> Result<Plan, PlanError> {
    not_busy(unit)?;
    let (g, s) = unit
        .server(server)
        .ok_or_else(|| PlanError::UnknownServer {
            unit: unit.name.clone(),
            group: None,
            server: server.clone(),
        })?;
    let how = match how.unwrap_or(g.spec.recover) {
        RecoverPolicy::None => RecoverPolicy::Restart,
        h => h,
    };
    let mut plan = Plan::new(PlanKind::Recover {
        server: server.clone(),
        how,
    });
    let start = |plan: &mut Plan| {
        plan.push(
            "start",
            vec![Step::Start {
                server: server.clone(),
            }],
            Gate::None,
        );
        plan.push("health-check", vec![health(g, server)], Gate::None);
    };
    match how {
        RecoverPolicy::Recreate => {
            let Some(p) = g.spec.provisioned() else {
                return Err(PlanError::NotProvisioned {
                    group: g.name().clone(),
                    what: "recreating a server",
                });
            };
            let generation = match (latest.get(&p.template), &s.origin) {
                (Some(gen_), _) => *gen_,
                (None, Origin::Provisioned { generation, .. }) => *generation,
                (None, Origin::Registered) => {
                    return Err(PlanError::UnknownTemplate(p.template.clone()));
                }
            };
            plan.push(
                "destroy",
                vec![Step::Destroy {
                    server: server.clone(),
                }],
                Gate::None,
            );
            plan.push(
                "provision",
                vec![Step::Provision {
                    server: server.clone(),
                    group: g.name().clone(),
                    template: p.template.clone(),
                    generation,
                    host: None,
                    epoch: 0,
                }],
                Gate::None,
            );
            plan.push(
                "apply current definitions",
                apply_current(unit, server).into_iter().collect(),
                Gate::None,
            );
            start(&mut plan);
        }
        RecoverPolicy::Restart | RecoverPolicy::None => {
            if s.logical != LogicalStatus::Stopped {
                plan.push(
                    "stop",
                    vec![Step::Stop {
                        server: server.clone(),
                        grace_ms: 0,
                    }],
                    Gate::None,
                );
            }
            start(&mut plan);
        }
    }
    Ok(plan)
}
