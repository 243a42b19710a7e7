//! The record of an operation: its kind, its state, its per-server results and how each step
//! ended. The engine writes it, the store keeps it (as it is, in JSON) and the API shows it
//! ([`crate::api`] re-exports these types); it depends on none of them.

use std::fmt;

use serde::{Deserialize, Serialize};
use vsm_core::{AccountName, GroupName, OperationId, ServerName, Timestamp, UnitName};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperationKind {
    /// `unit start`.
    UnitStart,
    /// `unit stop`.
    UnitStop,
    /// `group start`.
    GroupStart,
    /// `group stop`.
    GroupStop,
    /// `unit apply`.
    Apply,
    /// `unit rollback`.
    Rollback,
    /// `unit scale`.
    Scale,
    /// `unit upgrade`.
    Upgrade,
    /// `unit delete`.
    UnitDelete,
    /// `group attach`.
    Attach,
    /// `group detach`.
    Detach,
    /// `server recover` (manual or automatic).
    Recover,
    /// `host drain`: one unit's servers moved off a host.
    HostDrain,
    /// A lost host's servers restarted elsewhere (after `host confirm-down`, or at once with
    /// `fencing: none`).
    HostFailover,
    /// `host rebalance`: one unit's servers moved to restore the spread.
    HostRebalance,
}

impl OperationKind {
    /// The command words, e.g. `unit start`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::UnitStart => "unit start",
            OperationKind::UnitStop => "unit stop",
            OperationKind::GroupStart => "group start",
            OperationKind::GroupStop => "group stop",
            OperationKind::Apply => "unit apply",
            OperationKind::Rollback => "unit rollback",
            OperationKind::Scale => "unit scale",
            OperationKind::Upgrade => "unit upgrade",
            OperationKind::UnitDelete => "unit delete",
            OperationKind::Attach => "group attach",
            OperationKind::Detach => "group detach",
            OperationKind::Recover => "server recover",
            OperationKind::HostDrain => "host drain",
            OperationKind::HostFailover => "host failover",
            OperationKind::HostRebalance => "host rebalance",
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an operation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Still running.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// Some servers failed, the rest was done (per-server errors kept).
    PartlySucceeded,
    /// Nothing (or nothing essential) succeeded.
    Failed,
    /// Cancelled by a user; what was done stays done.
    Cancelled,
    /// The manager stopped or crashed while it ran; re-run it to complete what is left.
    Interrupted,
}

impl OperationState {
    /// Whether the operation has ended.
    pub fn is_finished(self) -> bool {
        self != OperationState::Running
    }

    /// The snake_case word.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationState::Running => "running",
            OperationState::Succeeded => "succeeded",
            OperationState::PartlySucceeded => "partly_succeeded",
            OperationState::Failed => "failed",
            OperationState::Cancelled => "cancelled",
            OperationState::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for OperationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationSummary {
    /// Its id.
    pub id: OperationId,
    /// The unit it works on.
    pub unit: Option<UnitName>,
    /// What it does.
    pub kind: OperationKind,
    /// Its state.
    pub state: OperationState,
    /// Who asked for it (`None`: the manager itself, e.g. automatic recovery).
    pub requested_by: Option<AccountName>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
}

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Journaled, running.
    Started,
    /// Done.
    Succeeded,
    /// Failed (see the message).
    Failed,
    /// Not needed (already in the wanted state) or not run (an earlier phase failed).
    Skipped,
    /// Cancelled before or while running.
    Cancelled,
}

/// The result of an operation for one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerResult {
    /// The group (`None` when the server is gone, e.g. after a destroy).
    pub group: Option<GroupName>,
    /// The server.
    pub server: ServerName,
    /// How it ended for this server.
    pub status: StepStatus,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Whether the server carries a failure mark (ends the operation with a warning).
    pub marked: bool,
}

/// `vsm op show`: an operation with its per-server results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// Summary fields.
    #[serde(flatten)]
    pub summary: OperationSummary,
    /// The request that started it, as JSON.
    pub request: serde_json::Value,
    /// The per-server results (one entry per server touched).
    pub servers: Vec<ServerResult>,
    /// Warnings (e.g. a marked server was touched).
    pub warnings: Vec<String>,
    /// Why it failed, when it failed as a whole.
    pub error: Option<String>,
    /// Steps run, in journal order (may be long; kept for diagnostics).
    pub steps_total: usize,
}

impl OperationRecord {
    /// The exit code a CLI waiting for this operation ends with (SPEC.md): 0 succeeded without
    /// warnings, 1 partly succeeded or succeeded with warnings, 70 failed, cancelled or
    /// interrupted, 75 still running.
    pub fn exit_code(&self) -> u8 {
        match self.summary.state {
            OperationState::Succeeded if self.warnings.is_empty() => 0,
            OperationState::Succeeded | OperationState::PartlySucceeded => 1,
            OperationState::Failed | OperationState::Cancelled | OperationState::Interrupted => 70,
            OperationState::Running => 75,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_exit_codes() {
        let mut r = OperationRecord {
            summary: OperationSummary {
                id: OperationId(1),
                unit: None,
                kind: OperationKind::UnitStart,
                state: OperationState::Succeeded,
                requested_by: None,
                created_at: Timestamp::EPOCH,
                finished_at: None,
            },
            request: serde_json::Value::Null,
            servers: vec![],
            warnings: vec![],
            error: None,
            steps_total: 0,
        };
        assert_eq!(r.exit_code(), 0);
        r.warnings.push("marked".into());
        assert_eq!(r.exit_code(), 1);
        r.summary.state = OperationState::PartlySucceeded;
        assert_eq!(r.exit_code(), 1);
        r.summary.state = OperationState::Failed;
        assert_eq!(r.exit_code(), 70);
        r.summary.state = OperationState::Running;
        assert_eq!(r.exit_code(), 75);
    }
}
