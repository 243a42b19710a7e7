//! The hypervisor hosts of the pool as the manager records them ([`HostRecord`]): how to reach
//! each (its driver and connection), how placement counts it (labels, allocation ratios,
//! reserved memory, capacity), its state and its last error. The store keeps them; the engine
//! holds one connected driver per host; `api.rs` re-exports the record as the API's view.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};
use vsm_core::{AllocationRatios, Host, HostName, HostState, Resources, Timestamp};

/// A hypervisor driver kind; the binary injects one `Arc<dyn Hypervisor>` per kind it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DriverKind {
    /// The embedded local driver (process trees with cloned root directories).
    Local,
    /// The libvirt driver.
    Libvirt,
    /// Registered machines reached over SSH (registered groups).
    Static,
}

impl DriverKind {
    /// The driver's word (`local`, `libvirt`, `static`).
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Local => "local",
            DriverKind::Libvirt => "libvirt",
            DriverKind::Static => "static",
        }
    }
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DriverKind {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(DriverKind::Local),
            "libvirt" => Ok(DriverKind::Libvirt),
            "static" => Ok(DriverKind::Static),
            other => Err(UnknownWord {
                message: format!("unknown driver {other:?}"),
                hint: "use `local` or `libvirt`",
            }),
        }
    }
}

/// A word that is not one of the accepted ones, with what to use instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UnknownWord {
    /// What was wrong.
    pub message: String,
    /// What to use.
    pub hint: &'static str,
}

/// What a host's loss needs before its servers are restarted elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fencing {
    /// An administrator confirms the loss (`vsm host confirm-down`): never two copies running.
    #[default]
    Manual,
    /// Restart at once: for hosts whose loss is certain (a copy cannot still run).
    None,
}

impl Fencing {
    /// The word (`manual`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            Fencing::Manual => "manual",
            Fencing::None => "none",
        }
    }
}

impl fmt::Display for Fencing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fencing {
    type Err = UnknownWord;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "manual" => Ok(Fencing::Manual),
            "none" => Ok(Fencing::None),
            other => Err(UnknownWord {
                message: format!("unknown fencing {other:?}"),
                hint: "use `manual` (wait for `vsm host confirm-down`) or `none` (restart at once)",
            }),
        }
    }
}

/// How the manager reaches a host: what a [`crate::DriverFactory`] builds a driver from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostConnection {
    /// The host's name in the pool.
    pub name: HostName,
    /// Its driver kind.
    pub driver: DriverKind,
    /// The libvirt connection URI (`--uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The local driver's state directory (`--dir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<Utf8PathBuf>,
}

/// A host of the pool, as stored and as `vsm host show` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// How to reach it.
    #[serde(flatten)]
    pub connection: HostConnection,
    /// Labels that groups select hosts by (`placement.hosts` in a unit file).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Overcommit factors (defaults CPU 16.0, RAM 1.5).
    #[serde(default)]
    pub ratios: AllocationRatios,
    /// Memory kept for the host itself, in MiB.
    #[serde(default)]
    pub reserved_memory_mib: u64,
    /// What its loss needs before its servers are restarted elsewhere.
    #[serde(default)]
    pub fencing: Fencing,
    /// Its state.
    #[serde(default)]
    pub state: HostState,
    /// CPUs and memory, as its driver last reported (`None`: never reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Resources>,
    /// The last error talking to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When its driver last answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// When it was marked down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_since: Option<Timestamp>,
    /// An administrator confirmed its loss (`vsm host confirm-down`): its servers may restart
    /// elsewhere. Cleared when it returns.
    #[serde(default)]
    pub down_confirmed: bool,
    /// What its driver says it is (e.g. `libvirt qemu:///system`, `local:/var/lib/vsm/local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Injected by the program that runs the manager (the default host of its driver kind,
    /// e.g. `local`): kept in step with the program's options, never removed.
    #[serde(default)]
    pub builtin: bool,
    /// When it was added.
    pub created: Timestamp,
}

/// The capacity placement assumes for a host whose driver never reported one: not limiting.
pub const UNKNOWN_CAPACITY: Resources = Resources {
    vcpus: 1 << 20,
    memory_mib: 1 << 40,
};

impl HostRecord {
    /// A new `up` host with default ratios and manual fencing.
    pub fn new(connection: HostConnection, created: Timestamp) -> HostRecord {
        HostRecord {
            connection,
            labels: BTreeMap::new(),
            ratios: AllocationRatios::default(),
            reserved_memory_mib: 0,
            fencing: Fencing::Manual,
            state: HostState::Up,
            capacity: None,
            last_error: None,
            last_seen: None,
            down_since: None,
            down_confirmed: false,
            endpoint: None,
            builtin: false,
            created,
        }
    }

    /// Its name.
    pub fn name(&self) -> &HostName {
        &self.connection.name
    }

    /// Its driver kind.
    pub fn driver(&self) -> DriverKind {
        self.connection.driver
    }

    /// The host as placement sees it: its labels plus [`vsm_core::DRIVER_LABEL`]; `connected`
    /// false (no driver) counts as down.
    pub fn placement_host(&self, connected: bool) -> Host {
        let mut labels = self.labels.clone();
        labels.insert(
            vsm_core::DRIVER_LABEL.to_owned(),
            self.driver().as_str().to_owned(),
        );
        Host {
            name: self.name().clone(),
            capacity: self.capacity.unwrap_or(UNKNOWN_CAPACITY),
            ratios: self.ratios,
            reserved_memory_mib: self.reserved_memory_mib,
            labels,
            state: if connected {
                self.state
            } else {
                HostState::Down
            },
        }
    }
}
