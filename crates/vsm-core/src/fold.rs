//! Folding executed steps back into the model.
//!
//! The engine executes a [`Step`], then calls [`Unit::fold`] with its [`StepResult`]; before
//! it may call [`Unit::begin`] so the model shows what is in progress (and journals it).
//! Every call either makes a valid transition or refuses with a [`FoldError`] and changes
//! nothing, so any sequence of results leaves every server in a valid state.
//! [`Unit::begin_plan`] / [`Unit::finish_plan`] take and release the unit for an operation.

use serde::{Deserialize, Serialize};

use crate::model::{
    AppliedDefinition, GroupKind, LogicalStatus, Origin, Server, ServerAddress, StepKind, Unit,
};
use crate::names::{GroupName, ServerName};
use crate::plan::{Plan, PlanError, PlanKind, Step};
use crate::time::{OperationId, Timestamp};

/// How one executed step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// It did what it should.
    Succeeded,
    /// It failed, with the reason.
    Failed(String),
}

impl StepOutcome {
    /// Whether it succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, StepOutcome::Succeeded)
    }
}

/// The result of one executed step, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    /// When it ended.
    pub at: Timestamp,
    /// How it ended.
    pub outcome: StepOutcome,
    /// The address a provision gave the server, or that a start found it has now.
    pub address: Option<ServerAddress>,
    /// The host a provision placed the server on.
    pub host: Option<String>,
}

impl StepResult {
    /// A success at `at`.
    pub fn ok(at: Timestamp) -> Self {
        StepResult {
            at,
            outcome: StepOutcome::Succeeded,
            address: None,
            host: None,
        }
    }

    /// A failure at `at`.
    pub fn failed(at: Timestamp, reason: impl Into<String>) -> Self {
        StepResult {
            at,
            outcome: StepOutcome::Failed(reason.into()),
            address: None,
            host: None,
        }
    }

    /// With the address a provision assigned.
    pub fn with_address(mut self, address: ServerAddress) -> Self {
        self.address = Some(address);
        self
    }

    /// With the host a provision chose.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }
}

/// A step result that does not fit the model (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FoldError {
    /// The step names a server the unit does not have.
    #[error("no server {0} in the unit")]
    UnknownServer(ServerName),
    /// The step names a group the unit does not have.
    #[error("no group {0} in the unit")]
    UnknownGroup(GroupName),
    /// The step does not fit the server's state or kind.
    #[error("cannot {step} server {server} while it is {state}")]
    Conflict {
        /// The server.
        server: ServerName,
        /// The step.
        step: StepKind,
        /// Its logical status.
        state: LogicalStatus,
    },
    /// The step does not fit the group's kind (e.g. provisioning into a registered group).
    #[error("cannot {step} in group {group}: wrong kind of group")]
    WrongGroupKind {
        /// The group.
        group: GroupName,
        /// The step.
        step: StepKind,
    },
    /// An attach with a name or address already in use.
    #[error("cannot attach {0}: its name or address is already used in the unit")]
    Taken(ServerName),
}

impl Unit {
    /// Takes the unit for operation `op` and applies the plan's intent: the current definition
    /// version for apply/rollback/revert, the group's wanted count for scale. The same
    /// operation may begin several plans (a revert after an aborted roll-out).
    pub fn begin_plan(&mut self, plan: &Plan, op: OperationId) -> Result<(), PlanError> {
        if let Some(holder) = self.busy
            && holder != op
        {
            return Err(PlanError::Busy {
                unit: self.name.clone(),
                op: holder,
            });
        }
        match &plan.kind {
            PlanKind::Apply { version } | PlanKind::Rollback { to: version, .. }
                if self.definition(*version).is_some() =>
            {
                self.current = Some(*version);
            }
            PlanKind::Revert { version }
                if version.is_none_or(|v| self.definition(v).is_some()) =>
            {
                self.current = *version;
            }
            PlanKind::Scale { group, to, .. } => {
                if let Some(g) = self.group_mut(group)
                    && let GroupKind::Provisioned(p) = &mut g.spec.kind
                    && p.min <= *to
                    && *to <= p.max
                {
                    p.count = *to;
                }
            }
            _ => {}
        }
        self.busy = Some(op);
        Ok(())
    }

    /// Releases the unit if `op` holds it.
    pub fn finish_plan(&mut self, op: OperationId) {
        if self.busy == Some(op) {
            self.busy = None;
        }
    }

    /// Records that `step` is starting. A provision adds a `provisioning` placeholder server.
    pub fn begin(&mut self, step: &Step, at: Timestamp) -> Result<(), FoldError> {
        match step {
            Step::Wait { .. } | Step::Attach { .. } => Ok(()),
            Step::Provision {
                server,
                group,
                template,
                generation,
                host,
                epoch,
            } => {
                if let Some(s) = self.server_mut(server) {
                    if s.logical == LogicalStatus::Provisioning {
                        s.in_progress = Some(StepKind::Provision);
                        if host.is_some() {
                            s.host = host.as_ref().map(|h| h.to_string());
                            s.epoch = *epoch;
                        }
                        return Ok(());
                    }
                    return Err(FoldError::Conflict {
                        server: server.clone(),
                        step: StepKind::Provision,
                        state: s.logical,
                    });
                }
                let g = self
                    .group_mut(group)
                    .ok_or_else(|| FoldError::UnknownGroup(group.clone()))?;
                if g.spec.provisioned().is_none() {
                    return Err(FoldError::WrongGroupKind {
                        group: group.clone(),
                        step: StepKind::Provision,
                    });
                }
                let origin = Origin::Provisioned {
                    template: template.clone(),
                    generation: *generation,
                };
                let mut s = Server::new(server.clone(), origin, g.next_seq, at);
                g.next_seq = g.next_seq.saturating_add(1);
                // Where it goes is known before the driver is called: a crash in between
                // leaves a placeholder that names the host to ask.
                s.host = host.as_ref().map(|h| h.to_string());
                s.epoch = *epoch;
                s.logical = LogicalStatus::Provisioning;
                s.in_progress = Some(StepKind::Provision);
                g.servers.push(s);
                Ok(())
            }
            other => {
                let Some(name) = other.server() else {
                    return Ok(());
                };
                let s = self
                    .server_mut(name)
                    .ok_or_else(|| FoldError::UnknownServer(name.clone()))?;
                s.in_progress = Some(other.kind());
                Ok(())
            }
        }
    }

    /// A started server's address as its driver reports it now (a VM may get a new one from
    /// DHCP when it boots). An address another server holds is not taken; the server's last
    /// error says so.
    fn readdress(&mut self, server: &ServerName, address: &ServerAddress) {
        let owner = self
            .servers()
            .find(|(_, s)| s.address.as_ref() == Some(address) && s.name != *server)
            .map(|(_, s)| s.name.clone());
        if let Some(s) = self.server_mut(server) {
            match owner {
                None => s.address = Some(address.clone()),
                Some(owner) => {
                    s.last_error = Some(format!(
                        "the driver gave address {address}, which server {owner} already has"
                    ));
                }
            }
        }
    }

    /// Folds the result of an executed `step` into the model.
    pub fn fold(&mut self, step: &Step, result: &StepResult) -> Result<(), FoldError> {
        let ok = result.outcome.is_ok();
        let reason = match &result.outcome {
            StepOutcome::Succeeded => None,
            StepOutcome::Failed(r) => Some(r.clone()),
        };
        match step {
            Step::Wait { .. } => Ok(()),
            Step::Provision {
                server,
                group,
                template,
                generation,
                host,
                epoch,
            } => self.fold_provision(
                server,
                group,
                (template, *generation),
                (host.as_ref(), *epoch),
                result,
            ),
            Step::Attach {
                server,
                group,
                address,
            } => {
                let g = self
                    .group(group)
                    .ok_or_else(|| FoldError::UnknownGroup(group.clone()))?;
                if g.spec.registered().is_none() {
                    return Err(FoldError::WrongGroupKind {
                        group: group.clone(),
                        step: StepKind::Attach,
                    });
                }
                let taken = self.server(server).is_some()
                    || self
                        .servers()
                        .any(|(_, s)| s.address.as_ref() == Some(address));
                if taken {
                    return Err(FoldError::Taken(server.clone()));
                }
                if ok {
                    let g = self
                        .group_mut(group)
                        .ok_or_else(|| FoldError::UnknownGroup(group.clone()))?;
                    let mut s =
                        Server::new(server.clone(), Origin::Registered, g.next_seq, result.at);
                    g.next_seq = g.next_seq.saturating_add(1);
                    s.address = Some(address.clone());
                    g.servers.push(s);
                }
                Ok(())
            }
            Step::Destroy { server } | Step::Detach { server } => {
                let kind = step.kind();
                let s = self
                    .server_mut(server)
                    .ok_or_else(|| FoldError::UnknownServer(server.clone()))?;
                let registered = s.origin == Origin::Registered;
                if registered != (kind == StepKind::Detach) {
                    return Err(FoldError::Conflict {
                        server: server.clone(),
                        step: kind,
                        state: s.logical,
                    });
                }
                if ok {
                    for g in &mut self.groups {
                        g.servers.retain(|s| s.name != *server);
                    }
                } else {
                    s.in_progress = None;
                    s.last_error = reason;
                    if kind == StepKind::Destroy {
                        s.logical = LogicalStatus::Failed;
                    }
                }
                Ok(())
            }
            Step::Apply {
                server,
                version,
                digest,
                ..
            } => self.transition(server, step.kind(), reason, |s| {
                if s.logical == LogicalStatus::Provisioning {
                    return None;
                }
                Some(if ok {
                    s.applied = Some(AppliedDefinition {
                        version: *version,
                        digest: digest.clone(),
                    });
                    s.logical
                } else {
                    LogicalStatus::Failed
                })
            }),
            Step::Start { server } => {
                self.transition(server, step.kind(), reason, |s| {
                    (s.logical != LogicalStatus::Provisioning).then_some(if ok {
                        LogicalStatus::Started
                    } else {
                        LogicalStatus::Failed
                    })
                })?;
                if ok && let Some(address) = &result.address {
                    self.readdress(server, address);
                }
                Ok(())
            }
            Step::Stop { server, .. } => self.transition(server, step.kind(), reason, |s| {
                (s.logical != LogicalStatus::Provisioning).then_some(if ok {
                    LogicalStatus::Stopped
                } else {
                    LogicalStatus::Failed
                })
            }),
            Step::HealthCheck { server, .. } => {
                self.transition(server, step.kind(), reason, |s| match (s.logical, ok) {
                    (LogicalStatus::Provisioning | LogicalStatus::Stopped, _) => None,
                    (_, true) => Some(LogicalStatus::Working),
                    (LogicalStatus::Failed, false) => Some(LogicalStatus::Failed),
                    (_, false) => Some(LogicalStatus::Unhealthy),
                })
            }
        }
    }

    /// Applies `next` (which returns the new logical status, or `None` when the step does not
    /// fit) to one server.
    fn transition(
        &mut self,
        server: &ServerName,
        kind: StepKind,
        reason: Option<String>,
        next: impl FnOnce(&mut Server) -> Option<LogicalStatus>,
    ) -> Result<(), FoldError> {
        let s = self
            .server_mut(server)
            .ok_or_else(|| FoldError::UnknownServer(server.clone()))?;
        let before = s.clone();
        match next(s) {
            Some(state) => {
                s.logical = state;
                s.in_progress = None;
                if let Some(r) = reason {
                    s.last_error = Some(r);
                }
                Ok(())
            }
            None => {
                *s = before;
                Err(FoldError::Conflict {
                    server: server.clone(),
                    step: kind,
                    state: s.logical,
                })
            }
        }
    }

    fn fold_provision(
        &mut self,
        server: &ServerName,
        group: &GroupName,
        (template, generation): (&crate::names::TemplateName, crate::time::TemplateGeneration),
        (host, epoch): (Option<&crate::placement::HostName>, u32),
        result: &StepResult,
    ) -> Result<(), FoldError> {
        // The placeholder sits at the end of its group: look there first.
        let existing = self
            .group(group)
            .and_then(|g| g.servers.iter().rev().find(|s| s.name == *server))
            .map(|s| (group.clone(), s.logical, s.seq))
            .or_else(|| {
                self.server(server)
                    .map(|(g, s)| (g.name().clone(), s.logical, s.seq))
            });
        let seq = match existing {
            Some((g, LogicalStatus::Provisioning, seq)) if g == *group => Some(seq),
            Some((_, state, _)) => {
                return Err(FoldError::Conflict {
                    server: server.clone(),
                    step: StepKind::Provision,
                    state,
                });
            }
            None => None,
        };
        let address_owner = result.address.as_ref().and_then(|a| {
            self.servers()
                .find(|(_, s)| s.address.as_ref() == Some(a) && s.name != *server)
                .map(|(_, s)| s.name.clone())
        });
        let g = self
            .group_mut(group)
            .ok_or_else(|| FoldError::UnknownGroup(group.clone()))?;
        if g.spec.provisioned().is_none() {
            return Err(FoldError::WrongGroupKind {
                group: group.clone(),
                step: StepKind::Provision,
            });
        }
        let seq = seq.unwrap_or_else(|| {
            let s = g.next_seq;
            g.next_seq = g.next_seq.saturating_add(1);
            s
        });
        let origin = Origin::Provisioned {
            template: template.clone(),
            generation,
        };
        let mut s = Server::new(server.clone(), origin, seq, result.at);
        // The pool host it was placed on; a step placed on no host keeps what the driver said.
        s.host = match host {
            Some(h) => Some(h.to_string()),
            None => result.host.clone(),
        };
        s.epoch = epoch;
        match (&result.address, address_owner) {
            (Some(a), None) => s.address = Some(a.clone()),
            (Some(a), Some(owner)) => {
                s.last_error = Some(format!(
                    "the driver gave address {a}, which server {owner} already has"
                ));
            }
            (None, _) => {}
        }
        if let StepOutcome::Failed(r) = &result.outcome {
            s.logical = LogicalStatus::Failed;
            s.last_error = Some(r.clone());
        }
        match g.servers.iter_mut().rev().find(|x| x.name == *server) {
            Some(slot) => *slot = s,
            None => g.servers.push(s),
        }
        Ok(())
    }
}
