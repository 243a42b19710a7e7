//! vsm-deploy: definition directories and batch apply.
//!
//! It owns the definition-directory format (the YAML manifest and its validation), the
//! content-addressed snapshot store (import, diff, export), and pushing a version to servers
//! through a [`Transport`] atomically per server, in batches or rolling, with
//! health checks. It must not decide *which* servers to touch in which order beyond the simple
//! batch drivers here (the manager's engine and `vsm-core`'s plans do), and it never reads
//! configuration or the environment to choose a transport: callers inject them.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
pub mod batch;
pub mod diff;
mod durable;
pub mod error;
pub mod health;
pub mod local;
pub mod manifest;
pub mod path;
pub mod scan;
pub mod ssh;
pub mod store;
pub mod tar_stream;
pub mod template;
pub mod transport;

pub use apply::{
    ApplyError, DesiredFile, DesiredState, GroupPlan, PrepareError, ServerApplied, ServerContext,
    apply_to_server, pending_scope, plan_change,
};
pub use batch::{
    BatchOptions, BatchReport, BatchSize, Outcome, Progress, ProgressFn, RollingHooks,
    RollingOptions, RollingReport, ServerJob, ServerResult, apply_batch, no_progress,
    rolling_apply,
};
pub use diff::{Changes, Diff, GroupChange, GroupDiff, diff, group_parts};
pub use error::{DefinitionError, DefinitionErrors, ProblemKind};
pub use health::{HealthError, health_check, probe_once};
pub use local::LocalTransport;
pub use manifest::{
    Activation, FileKind, FileRule, GroupDefinition, HealthCheck, HealthProbe, MANIFEST_FILE,
    Manifest, parse_manifest,
};
pub use path::{PathProblem, RelPath};
pub use scan::{Definition, FileEntry, ResolvedFile, Scan, ScanLimits, VersionRecord, scan};
pub use ssh::SshTransport;
pub use store::{ImportError, ImportReport, SnapshotStore, StoreError};
pub use template::{Template, Variables};
pub use transport::{
    AppliedFile, AppliedRecord, ChangeSet, CommandOutput, Content, FileWrite, Transport,
    TransportError,
};
