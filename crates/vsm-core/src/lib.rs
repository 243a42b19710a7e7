//! vsm-core: the pure domain of the vsm virtual server manager.
//!
//! It owns names, accounts and authorization, the model of templates, units, groups and
//! servers, and the plans that turn a request into ordered steps. It does no IO, no async and
//! reads no clock: time, ids and randomness come in as arguments, and every function returns
//! values or typed errors. Serialization formats (YAML, JSON) live in the crates at the edges;
//! here types only derive `serde` traits.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod accounts;
pub mod evacuate;
pub mod fold;
pub mod model;
pub mod names;
pub mod place_plan;
pub mod placement;
pub mod plan;
pub mod rebalance;
pub mod run;
pub mod time;

#[cfg(test)]
mod tests;

pub use accounts::{
    Account, AccountDeleteError, Action, Denied, DenyReason, Role, RoleParseError, Scope,
    authorize, check_account_delete, may_see,
};
pub use evacuate::{Evacuation, plan_failover};
pub use fold::{FoldError, StepOutcome, StepResult};
pub use model::{
    AddressError, AppliedDefinition, CommandSettings, DefinitionParts, DefinitionRecord,
    DefinitionStatus, FailureMark, Group, GroupKind, GroupSpec, HealthPolicy, InvalidModel,
    LatestGenerations, LogicalStatus, MAX_GROUP_SERVERS, ObservedStatus, Origin, ProvisionedSpec,
    RecoverPolicy, RegisteredServer, RegisteredSpec, ScaleInPolicy, Server, ServerAddress,
    ServerCounts, SpecError, SshSettings, StepKind, Template, TemplateGenerationInfo, Unit,
    UnitSpec, UpdateScope,
};
pub use names::{
    AccountName, GroupName, NameError, NameKind, NameProblem, ServerName, TemplateName, UnitName,
    validate_name,
};
pub use place_plan::{DRIVER_LABEL, HAS_TEMPLATE_LABEL, TemplateFacts, place_plan, placements_of};
pub use placement::{
    AllocationRatios, AntiAffinity, FailureClass, GroupLimit, GroupPlacement, Host, HostName,
    HostNameError, HostRefusal, HostState, HostUsage, NewServer, NoHostError, Placement,
    PlacementError, PlacementRequest, PlacementRules, Policy, RatioError, Refusal, Resources,
    UnitPlacement, Usage, host_usage, place,
};
pub use plan::{
    ApplyRequest, AttachRequest, Batch, Gate, Phase, Plan, PlanError, PlanKind, RolloutPolicy,
    ScaleRequest, Step, UpgradeRequest, plan_apply, plan_attach, plan_create, plan_delete,
    plan_detach, plan_recover, plan_revert, plan_rollback, plan_scale, plan_start_group,
    plan_start_unit, plan_stop_group, plan_stop_unit, plan_upgrade, scale_in_victims, stages,
};
pub use rebalance::{Move, propose_rebalance};
pub use run::{Outcome, Progress, StopReason, outcome};
pub use time::{
    DefinitionDigest, DefinitionVersion, DigestError, OperationId, TemplateGeneration, Timestamp,
};
