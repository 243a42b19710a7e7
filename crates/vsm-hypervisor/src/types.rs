//! Driver-level value types shared by every driver: machine names, template sources, provisioning
//! requests, power states, machine descriptions and load figures.
//!
//! These are the hypervisor layer's own words. They must not mention units, groups, accounts or
//! definitions (that is `vsm-core`'s vocabulary, a layer above), and they do no IO.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest machine name accepted (a DNS label).
pub const MACHINE_NAME_MAX: usize = 63;

/// The name of one machine (a virtual server) as a driver knows it.
///
/// 1 to 63 characters from `a-z`, `0-9`, `-` and `_`, starting with a letter or a digit. The
/// name doubles as a directory name (local driver), a libvirt domain name and a log label, so it
/// is deliberately narrow.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MachineName(String);

/// Why a string is not a valid [`MachineName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMachineName {
    /// The name is empty.
    #[error("machine name is empty: give 1 to 63 characters from a-z, 0-9, '-' and '_'")]
    Empty,
    /// The name is longer than [`MACHINE_NAME_MAX`].
    #[error("machine name {name:?} is {len} characters long: use at most 63")]
    TooLong {
        /// The rejected name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds a character outside `[a-z0-9-_]`.
    #[error("machine name {name:?} contains {ch:?}: use only a-z, 0-9, '-' and '_'")]
    BadCharacter {
        /// The rejected name.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// The name starts with `-` or `_`.
    #[error("machine name {name:?} must start with a letter or a digit")]
    BadStart {
        /// The rejected name.
        name: String,
    },
}

impl MachineName {
    /// Validates `name` (see the type's documentation for the rules).
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidMachineName> {
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidMachineName::Empty);
        }
        if name.len() > MACHINE_NAME_MAX {
            let len = name.len();
            return Err(InvalidMachineName::TooLong { name, len });
        }
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(InvalidMachineName::BadCharacter { name, ch });
        }
        if name.starts_with(['-', '_']) {
            return Err(InvalidMachineName::BadStart { name });
        }
        Ok(MachineName(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MachineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MachineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MachineName({:?})", self.0)
    }
}

impl FromStr for MachineName {
    type Err = InvalidMachineName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MachineName::new(s)
    }
}

impl TryFrom<String> for MachineName {
    type Error = InvalidMachineName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        MachineName::new(s)
    }
}

impl From<MachineName> for String {
    fn from(n: MachineName) -> String {
        n.0
    }
}

impl AsRef<str> for MachineName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Where a template comes from, in the driver's own terms.
///
/// `local`: an absolute path to a template directory (one holding `template.yaml`); `libvirt`: a
/// domain or volume name; `static`: a label; `fake`: anything. The driver checks it in
/// [`Hypervisor::inspect_template`](crate::Hypervisor::inspect_template); this type only refuses
/// the empty string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TemplateSource(String);

/// A template source was empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template source is empty: give a template directory (local) or a domain/volume (libvirt)")]
pub struct EmptyTemplateSource;

impl TemplateSource {
    /// Wraps `source`, refusing the empty string.
    pub fn new(source: impl Into<String>) -> Result<Self, EmptyTemplateSource> {
        let source = source.into();
        if source.trim().is_empty() {
            return Err(EmptyTemplateSource);
        }
        Ok(TemplateSource(source))
    }

    /// The source as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TemplateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TemplateSource({:?})", self.0)
    }
}

impl TryFrom<String> for TemplateSource {
    type Error = EmptyTemplateSource;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TemplateSource::new(s)
    }
}

impl From<TemplateSource> for String {
    fn from(s: TemplateSource) -> String {
        s.0
    }
}

/// Which driver a [`Hypervisor`](crate::Hypervisor) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HypervisorKind {
    /// The embedded local driver: process trees with cloned root directories.
    Local,
    /// Registered machines reached over SSH.
    Static,
    /// libvirt domains.
    Libvirt,
    /// The in-memory fake (tests).
    Fake,
}

impl HypervisorKind {
    /// The lowercase name (`local`, `static`, `libvirt`, `fake`).
    pub fn as_str(self) -> &'static str {
        match self {
            HypervisorKind::Local => "local",
            HypervisorKind::Static => "static",
            HypervisorKind::Libvirt => "libvirt",
            HypervisorKind::Fake => "fake",
        }
    }
}

impl fmt::Display for HypervisorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a driver learned about a template source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TemplateInfo {
    /// The source that was inspected.
    pub source: TemplateSource,
    /// A short human description (local: the manifest's `description`).
    pub description: Option<String>,
    /// A stable fingerprint of the template's definition (local: a hash of the manifest and the
    /// tree's file list, sizes and modification times; libvirt: the domain's UUID). Differs when
    /// the source changed, so a caller can tell that a new generation is needed.
    pub fingerprint: String,
    /// Driver-specific facts worth showing (`boot`, `files`, `bytes`, …).
    pub details: BTreeMap<String, String>,
    /// What each machine cloned from it takes of a host, for placement (libvirt: the domain's
    /// vCPUs and memory; local: the manifest's `size`). `None`: not known.
    #[serde(default)]
    pub size: Option<MachineSize>,
}

impl TemplateInfo {
    /// A template description with no details.
    pub fn new(source: TemplateSource, fingerprint: impl Into<String>) -> Self {
        TemplateInfo {
            source,
            description: None,
            fingerprint: fingerprint.into(),
            details: BTreeMap::new(),
            size: None,
        }
    }
}

/// What one machine takes of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MachineSize {
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
}

/// What a host offers, as its driver reports it (libvirt: node info; local: `/proc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostCapacity {
    /// Physical CPUs (threads).
    pub cpus: u32,
    /// Physical memory in MiB.
    pub memory_mib: u64,
    /// A short description of the host (model, hypervisor).
    pub description: String,
}

impl HostCapacity {
    /// A capacity of `cpus` CPUs and `memory_mib` MiB.
    pub fn new(cpus: u32, memory_mib: u64, description: impl Into<String>) -> Self {
        HostCapacity {
            cpus,
            memory_mib,
            description: description.into(),
        }
    }
}

/// A request to create one machine from a template generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProvisionSpec {
    /// The new machine's name (must not exist yet on this driver).
    pub machine: MachineName,
    /// The template source to clone.
    pub template: TemplateSource,
    /// The template generation this source belongs to (recorded with the machine and reported
    /// back by [`MachineInfo::generation`], so an upgrade can tell old machines from new ones).
    pub generation: u32,
    /// The template's fingerprint as [`TemplateInfo::fingerprint`] reported it when the generation
    /// was registered. Drivers that can (local, fake) refuse to provision when the source changed
    /// since ([`HypervisorError::InvalidTemplate`](crate::HypervisorError::InvalidTemplate)), so a
    /// generation never silently changes content. `None`: not checked.
    pub fingerprint: Option<String>,
    /// For drivers that attach existing machines (`static`): the machine's address or host name.
    /// Other drivers ignore it.
    pub attach_address: Option<String>,
    /// Opaque labels stored with the machine and returned by [`Hypervisor::list`](crate::Hypervisor::list)
    /// (the manager keeps e.g. its unit and group here, for reconciliation after a restart).
    pub labels: BTreeMap<String, String>,
    /// Driver-specific parameters (`static`: SSH user, commands; others ignore unknown keys).
    pub params: BTreeMap<String, String>,
}

impl ProvisionSpec {
    /// A request with no address, labels or parameters.
    pub fn new(machine: MachineName, template: TemplateSource, generation: u32) -> Self {
        ProvisionSpec {
            machine,
            template,
            generation,
            fingerprint: None,
            attach_address: None,
            labels: BTreeMap::new(),
            params: BTreeMap::new(),
        }
    }

    /// Sets [`ProvisionSpec::fingerprint`].
    pub fn with_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// Sets [`ProvisionSpec::attach_address`].
    pub fn with_attach_address(mut self, address: impl Into<String>) -> Self {
        self.attach_address = Some(address.into());
        self
    }

    /// Adds one label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds one driver-specific parameter.
    pub fn with_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }
}

/// The power state of a machine as the driver observes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PowerState {
    /// Defined but not running (never started, or stopped on request).
    Stopped,
    /// Being started.
    Starting,
    /// Running.
    Running,
    /// Being shut down.
    Stopping,
    /// Suspended (libvirt `paused`).
    Paused,
    /// Stopped without being asked: the process died, the domain crashed. `start` recovers it.
    Crashed,
    /// The driver cannot tell (e.g. the static driver's status command failed).
    Unknown,
}

impl PowerState {
    /// The lowercase name (`stopped`, `running`, `crashed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::Stopped => "stopped",
            PowerState::Starting => "starting",
            PowerState::Running => "running",
            PowerState::Stopping => "stopping",
            PowerState::Paused => "paused",
            PowerState::Crashed => "crashed",
            PowerState::Unknown => "unknown",
        }
    }

    /// Whether the machine is (or is becoming) active: running, starting, stopping or paused.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            PowerState::Running | PowerState::Starting | PowerState::Stopping | PowerState::Paused
        )
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a driver knows about one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MachineInfo {
    /// The machine's name.
    pub name: MachineName,
    /// Its power state now.
    pub state: PowerState,
    /// The template source it was cloned from, when known.
    pub template: Option<TemplateSource>,
    /// The template generation it was cloned from, when known.
    pub generation: Option<u32>,
    /// Its network address, when known.
    pub address: Option<IpAddr>,
    /// The host it runs on (local: the host name or `localhost`; libvirt: the connection URI).
    pub host: Option<String>,
    /// The labels given at provisioning.
    pub labels: BTreeMap<String, String>,
}

impl MachineInfo {
    /// A description with only a name and a state.
    pub fn new(name: MachineName, state: PowerState) -> Self {
        MachineInfo {
            name,
            state,
            template: None,
            generation: None,
            address: None,
            host: None,
            labels: BTreeMap::new(),
        }
    }

    /// Fills the template source, generation and labels from a provisioning request.
    pub fn from_spec(spec: &ProvisionSpec, state: PowerState) -> Self {
        MachineInfo {
            name: spec.machine.clone(),
            state,
            template: Some(spec.template.clone()),
            generation: Some(spec.generation),
            address: None,
            host: None,
            labels: spec.labels.clone(),
        }
    }

    /// Sets the address.
    pub fn with_address(mut self, address: Option<IpAddr>) -> Self {
        self.address = address;
        self
    }

    /// Sets the host.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }
}

/// How a [`Hypervisor::shutdown`](crate::Hypervisor::shutdown) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ShutdownOutcome {
    /// The machine was not running (stopped or crashed); nothing was done.
    AlreadyStopped,
    /// The machine stopped on its own within the time-out.
    Graceful,
    /// The machine did not stop in time and was powered off.
    Forced,
}

/// Load figures of one machine, for monitoring. A driver fills what it can measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoadFigures {
    /// CPU use in percent of one CPU since the previous `load` call of this driver instance for
    /// this machine (or since the machine started, on the first call).
    pub cpu_percent: Option<f64>,
    /// Total CPU time the machine used since it started.
    pub cpu_time: Option<Duration>,
    /// Memory in use (local: resident set size of the process tree).
    pub memory_bytes: Option<u64>,
    /// Number of processes (local) or vCPUs (libvirt).
    pub processes: Option<u32>,
}

impl LoadFigures {
    /// Figures with every field filled.
    pub fn new(
        cpu_percent: Option<f64>,
        cpu_time: Option<Duration>,
        memory_bytes: Option<u64>,
        processes: Option<u32>,
    ) -> Self {
        LoadFigures {
            cpu_percent,
            cpu_time,
            memory_bytes,
            processes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, ok: bool) {
        assert_eq!(MachineName::new(name).is_ok(), ok, "{name:?}");
    }

    #[test]
    fn machine_names() {
        check("web-01", true);
        check("a", true);
        check("0_db", true);
        check(&"a".repeat(63), true);
        check(&"a".repeat(64), false);
        check("", false);
        check("Web", false);
        check("a.b", false);
        check("a/b", false);
        check("-a", false);
        check("_a", false);
        check("..", false);
    }

    #[test]
    fn machine_name_errors_say_what_to_do() {
        let err = MachineName::new("Web").expect_err("upper case");
        assert_eq!(
            err.to_string(),
            "machine name \"Web\" contains 'W': use only a-z, 0-9, '-' and '_'"
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let n: MachineName = serde_json::from_str("\"web-1\"").expect("valid");
        assert_eq!(n.as_str(), "web-1");
        assert!(serde_json::from_str::<MachineName>("\"Web\"").is_err());
        assert_eq!(
            serde_json::to_string(&PowerState::Crashed).expect("json"),
            "\"crashed\""
        );
    }

    #[test]
    fn template_source_refuses_empty() {
        assert!(TemplateSource::new("  ").is_err());
        assert_eq!(TemplateSource::new("/t").expect("ok").as_str(), "/t");
    }
}
