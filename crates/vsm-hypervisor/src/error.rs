//! The one error type every driver returns, [`HypervisorError`], with the operation and the
//! machine it concerns, and the classification callers act on ([`HypervisorError::is_transient`]).
//!
//! Drivers map their own failures (IO, libvirt codes, SSH exit statuses) into these variants; this
//! module must not know any driver's internals.

use std::fmt;
use std::time::Duration;

use crate::types::{HypervisorKind, MachineName, PowerState, TemplateSource};

/// A boxed underlying cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of every driver call.
pub type Result<T, E = HypervisorError> = std::result::Result<T, E>;

/// Which driver operation failed (for messages and for callers' retry policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`Hypervisor::inspect_template`](crate::Hypervisor::inspect_template).
    InspectTemplate,
    /// [`Hypervisor::provision`](crate::Hypervisor::provision).
    Provision,
    /// [`Hypervisor::start`](crate::Hypervisor::start).
    Start,
    /// [`Hypervisor::shutdown`](crate::Hypervisor::shutdown).
    Shutdown,
    /// [`Hypervisor::destroy`](crate::Hypervisor::destroy).
    Destroy,
    /// [`Hypervisor::state`](crate::Hypervisor::state).
    State,
    /// [`Hypervisor::info`](crate::Hypervisor::info).
    Info,
    /// [`Hypervisor::list`](crate::Hypervisor::list).
    List,
    /// [`Hypervisor::address`](crate::Hypervisor::address).
    Address,
    /// [`Hypervisor::logs`](crate::Hypervisor::logs).
    Logs,
    /// [`Hypervisor::load`](crate::Hypervisor::load).
    Load,
    /// Opening a driver (reading its state, connecting).
    Open,
    /// [`Hypervisor::capacity`](crate::Hypervisor::capacity).
    Capacity,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 13] = [
        Operation::InspectTemplate,
        Operation::Provision,
        Operation::Start,
        Operation::Shutdown,
        Operation::Destroy,
        Operation::State,
        Operation::Info,
        Operation::List,
        Operation::Address,
        Operation::Logs,
        Operation::Load,
        Operation::Open,
        Operation::Capacity,
    ];

    /// The lowercase name (`provision`, `start`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::InspectTemplate => "inspect template",
            Operation::Provision => "provision",
            Operation::Start => "start",
            Operation::Shutdown => "shutdown",
            Operation::Destroy => "destroy",
            Operation::State => "state",
            Operation::Info => "info",
            Operation::List => "list",
            Operation::Address => "address",
            Operation::Logs => "logs",
            Operation::Load => "load",
            Operation::Open => "open",
            Operation::Capacity => "capacity",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Renders ` of machine NAME` or nothing.
struct Of<'a>(&'a Option<MachineName>);

impl fmt::Display for Of<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, " of machine {m}"),
            None => Ok(()),
        }
    }
}

/// A driver call failed.
///
/// Start and shutdown are idempotent (starting a running machine or shutting down a stopped one
/// succeeds), so there is no "already in that state" error; [`HypervisorError::InvalidState`]
/// covers transitions a machine's state forbids.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HypervisorError {
    /// The driver does not know the machine.
    #[error("machine {machine} not found")]
    NotFound {
        /// The unknown machine.
        machine: MachineName,
    },
    /// Provisioning a name that already exists.
    #[error("machine {machine} already exists")]
    AlreadyExists {
        /// The existing machine.
        machine: MachineName,
    },
    /// The machine's state forbids the operation (e.g. provisioning onto a machine that is being
    /// destroyed, a driver that cannot start a paused domain).
    #[error("cannot {op} machine {machine} while it is {state}")]
    InvalidState {
        /// The operation refused.
        op: Operation,
        /// The machine.
        machine: MachineName,
        /// Its state.
        state: PowerState,
    },
    /// The template source cannot be used (missing, bad manifest, unknown domain).
    #[error("template {template} is not usable: {reason}")]
    InvalidTemplate {
        /// The source.
        template: TemplateSource,
        /// What is wrong and what to do.
        reason: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The operation did not finish in time.
    #[error("{op}{} timed out after {after:?}", Of(machine))]
    Timeout {
        /// The operation.
        op: Operation,
        /// The machine, if the operation concerns one.
        machine: Option<MachineName>,
        /// How long the driver waited.
        after: Duration,
    },
    /// A failure that may go away: retrying the same call is safe (connection lost, host busy).
    #[error("{op}{} failed (transient): {message}", Of(machine))]
    Transient {
        /// The operation.
        op: Operation,
        /// The machine, if the operation concerns one.
        machine: Option<MachineName>,
        /// What happened.
        message: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A failure that retrying will not fix (bad configuration, disk full, corrupt state).
    #[error("{op}{} failed: {message}", Of(machine))]
    Permanent {
        /// The operation.
        op: Operation,
        /// The machine, if the operation concerns one.
        machine: Option<MachineName>,
        /// What happened.
        message: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The driver cannot do this at all (e.g. `logs` on a driver without a console).
    #[error("the {kind} driver does not support {op}")]
    Unsupported {
        /// The driver.
        kind: HypervisorKind,
        /// The operation.
        op: Operation,
    },
}

impl HypervisorError {
    /// Whether retrying the same call is safe and may succeed ([`HypervisorError::Transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, HypervisorError::Transient { .. })
    }

    /// Whether the machine is unknown to the driver.
    pub fn is_not_found(&self) -> bool {
        matches!(self, HypervisorError::NotFound { .. })
    }

    /// Whether the driver gave up waiting.
    pub fn is_timeout(&self) -> bool {
        matches!(self, HypervisorError::Timeout { .. })
    }

    /// The machine the error concerns, if any.
    pub fn machine(&self) -> Option<&MachineName> {
        match self {
            HypervisorError::NotFound { machine }
            | HypervisorError::AlreadyExists { machine }
            | HypervisorError::InvalidState { machine, .. } => Some(machine),
            HypervisorError::Timeout { machine, .. }
            | HypervisorError::Transient { machine, .. }
            | HypervisorError::Permanent { machine, .. } => machine.as_ref(),
            HypervisorError::InvalidTemplate { .. } | HypervisorError::Unsupported { .. } => None,
        }
    }

    /// A [`HypervisorError::NotFound`].
    pub fn not_found(machine: &MachineName) -> Self {
        HypervisorError::NotFound {
            machine: machine.clone(),
        }
    }

    /// A [`HypervisorError::Transient`] without a cause.
    pub fn transient(
        op: Operation,
        machine: Option<&MachineName>,
        message: impl Into<String>,
    ) -> Self {
        HypervisorError::Transient {
            op,
            machine: machine.cloned(),
            message: message.into(),
            source: None,
        }
    }

    /// A [`HypervisorError::Permanent`] without a cause.
    pub fn permanent(
        op: Operation,
        machine: Option<&MachineName>,
        message: impl Into<String>,
    ) -> Self {
        HypervisorError::Permanent {
            op,
            machine: machine.cloned(),
            message: message.into(),
            source: None,
        }
    }

    /// A [`HypervisorError::Permanent`] caused by `source` (`message` says what was being done).
    pub fn permanent_from(
        op: Operation,
        machine: Option<&MachineName>,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        HypervisorError::Permanent {
            op,
            machine: machine.cloned(),
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A [`HypervisorError::Transient`] caused by `source` (`message` says what was being done).
    pub fn transient_from(
        op: Operation,
        machine: Option<&MachineName>,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        HypervisorError::Transient {
            op,
            machine: machine.cloned(),
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A [`HypervisorError::Timeout`].
    pub fn timeout(op: Operation, machine: Option<&MachineName>, after: Duration) -> Self {
        HypervisorError::Timeout {
            op,
            machine: machine.cloned(),
            after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> MachineName {
        MachineName::new(s).expect("valid name")
    }

    #[test]
    fn messages_name_operation_and_machine() {
        let m = name("web-1");
        let check = |e: HypervisorError, want: &str| assert_eq!(e.to_string(), want);
        check(HypervisorError::not_found(&m), "machine web-1 not found");
        check(
            HypervisorError::transient(Operation::Start, Some(&m), "host busy"),
            "start of machine web-1 failed (transient): host busy",
        );
        check(
            HypervisorError::permanent(Operation::List, None, "state dir unreadable"),
            "list failed: state dir unreadable",
        );
        check(
            HypervisorError::timeout(Operation::Shutdown, Some(&m), Duration::from_secs(3)),
            "shutdown of machine web-1 timed out after 3s",
        );
    }

    #[test]
    fn classification() {
        let m = name("a");
        assert!(HypervisorError::transient(Operation::Start, Some(&m), "x").is_transient());
        assert!(!HypervisorError::permanent(Operation::Start, Some(&m), "x").is_transient());
        assert!(!HypervisorError::timeout(Operation::Start, None, Duration::ZERO).is_transient());
        assert!(HypervisorError::not_found(&m).is_not_found());
        assert_eq!(HypervisorError::not_found(&m).machine(), Some(&m));
    }

    #[test]
    fn source_is_not_repeated() {
        let io = std::io::Error::other("disk full");
        let e =
            HypervisorError::permanent_from(Operation::Provision, None, "copying the template", io);
        assert_eq!(e.to_string(), "provision failed: copying the template");
        let src = std::error::Error::source(&e).expect("has a source");
        assert_eq!(src.to_string(), "disk full");
    }
}
