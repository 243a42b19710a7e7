//! Placement of new servers on a pool of hypervisor hosts: a small, deterministic filter
//! scheduler in the manner of OpenStack Nova's, with Nova's allocation ratios.
//!
//! [`place`] takes the hosts ([`Host`]: capacity, ratios, reserved memory, labels, state), the
//! servers already placed ([`Placement`]) and a batch of new servers with their groups' rules
//! ([`PlacementRequest`]), and answers a host for every new server, or a [`PlacementError`]
//! that says why not. It places the batch **as a whole**: when one server does not fit, nothing
//! is placed and the error lists every host with the reason it refused the first server that did
//! not fit, classified as [`FailureClass::NeverFits`] (impossible by the request's own
//! definition) or [`FailureClass::FullNow`] (the pool is full at the moment).
//!
//! # Rules
//!
//! - **Allocatable capacity** (as Nova's placement service): `vCPUs × cpu ratio` and
//!   `(memory − reserved) × ram ratio`, rounded down; the default ratios are 16.0 and 1.5.
//! - **Filters**: the host is [`HostState::Up`]; its labels match the group's `hosts:` selector
//!   (every pair); enough free memory, then enough free vCPUs; hard anti-affinity (no server of
//!   the same group on it); `max_per_host` (fewer servers of the same group than that). A
//!   refused host's [`Refusal`] is the first that fails, except that what refuses even an up,
//!   empty host (labels, a size above its allocatable capacity) comes before its state, so a
//!   [`FailureClass::NeverFits`] error names the reasons that last.
//! - **Weighing** among the hosts that pass: with soft anti-affinity first the fewest servers of
//!   the same group (so a group spreads before it doubles up); then `spread` takes the host with
//!   the highest ratio of free to allocatable memory and `pack` the lowest; ties go to the host
//!   whose name sorts first. Servers are placed one at a time in the order given, each seeing the
//!   usage of those before it. The hosts' and placements' order never matters.
//! - **Admission control**: with `tolerate_host_failures: F` on a unit, every group of the unit
//!   that receives servers must keep at least its `min` servers after the loss of the `F` hosts
//!   holding the most of them; otherwise the whole batch is refused.
//!
//! This module owns these rules and nothing else: it asks no driver for a host's capacity and
//! stores nothing; the manager passes the pool in and records the answer.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::names::{GroupName, NameProblem, ServerName, UnitName};

// ---------------------------------------------------------------------------------------------
// Host names

/// The rules of a host name, as one sentence for error messages.
const HOST_NAME_RULES: &str = "1 to 63 characters: lowercase letters a-z, digits, '-' and '_', starting with a letter or digit and ending with a letter or digit";

/// The name of a hypervisor host in the pool, e.g. `kvm-03`.
///
/// 1 to 63 characters `a-z 0-9 - _`, starting and ending with a letter or digit; `all`, `none`
/// and `default` are reserved (the command line uses them as selectors).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostName(String);

impl HostName {
    /// The longest allowed host name, in bytes (all allowed characters are ASCII).
    pub const MAX_LEN: usize = 63;

    /// Words that are not allowed as a host name.
    pub const RESERVED: &'static [&'static str] = &["all", "none", "default"];

    /// Checks `value` and wraps it.
    pub fn new(value: impl Into<String>) -> Result<Self, HostNameError> {
        let value = value.into();
        match host_name_problem(&value) {
            None => Ok(Self(value)),
            Some(problem) => Err(HostNameError { value, problem }),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

fn host_name_problem(value: &str) -> Option<NameProblem> {
    let Some(first) = value.chars().next() else {
        return Some(NameProblem::Empty);
    };
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Some(NameProblem::BadStart);
    }
    for (at, ch) in value.char_indices() {
        if !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_') {
            return Some(NameProblem::BadChar { ch, at });
        }
    }
    if value.len() > HostName::MAX_LEN {
        return Some(NameProblem::TooLong {
            len: value.len(),
            max: HostName::MAX_LEN,
        });
    }
    if value.ends_with(['-', '_']) {
        return Some(NameProblem::BadEnd);
    }
    if HostName::RESERVED.contains(&value) {
        return Some(NameProblem::Reserved);
    }
    None
}

/// A refused host name: the value given and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid host name {value:?}: {}; use {HOST_NAME_RULES}",
    host_problem_text(problem)
)]
#[non_exhaustive]
pub struct HostNameError {
    /// The refused value, as given.
    pub value: String,
    /// What is wrong with it.
    pub problem: NameProblem,
}

fn host_problem_text(problem: &NameProblem) -> String {
    match problem {
        // Host names may also start with a digit (`NameProblem` says "a letter" for the others).
        NameProblem::BadStart => "it must start with a lowercase letter a-z or a digit".into(),
        other => other.to_string(),
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for HostName {
    type Err = HostNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for HostName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for HostName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostName {
    type Error = HostNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl TryFrom<&str> for HostName {
    type Error = HostNameError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<HostName> for String {
    fn from(value: HostName) -> String {
        value.0
    }
}

impl PartialEq<str> for HostName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for HostName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

// ---------------------------------------------------------------------------------------------
// Hosts

/// vCPUs and memory: a server's size, or a host's physical capacity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resources {
    /// Virtual (for a server) or physical (for a host) CPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
}

impl Resources {
    /// `vcpus` CPUs and `memory_mib` MiB.
    pub fn new(vcpus: u32, memory_mib: u64) -> Self {
        Self { vcpus, memory_mib }
    }
}

/// Amounts after the allocation ratios: what a host may hand out, what is used, what is free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    /// vCPUs.
    pub vcpus: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
}

/// Overcommit factors, as Nova's `cpu_allocation_ratio` and `ram_allocation_ratio`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AllocationRatios {
    /// vCPUs handed out per physical CPU (default 16.0).
    pub cpu: f64,
    /// Memory handed out per MiB of (unreserved) memory (default 1.5).
    pub ram: f64,
}

impl AllocationRatios {
    /// Nova's default CPU allocation ratio.
    pub const DEFAULT_CPU: f64 = 16.0;
    /// Nova's default RAM allocation ratio.
    pub const DEFAULT_RAM: f64 = 1.5;

    /// Checked ratios: both finite and greater than 0.
    pub fn new(cpu: f64, ram: f64) -> Result<Self, RatioError> {
        for (which, value) in [("cpu", cpu), ("ram", ram)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(RatioError { which, value });
            }
        }
        Ok(Self { cpu, ram })
    }
}

impl Default for AllocationRatios {
    fn default() -> Self {
        Self {
            cpu: Self::DEFAULT_CPU,
            ram: Self::DEFAULT_RAM,
        }
    }
}

/// A refused allocation ratio.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("invalid {which} allocation ratio {value}: use a finite number greater than 0")]
#[non_exhaustive]
pub struct RatioError {
    /// `cpu` or `ram`.
    pub which: &'static str,
    /// The refused value.
    pub value: f64,
}

/// A host's state; only [`HostState::Up`] accepts new servers.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// In service.
    #[default]
    Up,
    /// Its servers are being moved off (`host drain`).
    Draining,
    /// Unreachable, or confirmed lost.
    Down,
    /// Drained and kept out of service.
    Maintenance,
}

impl HostState {
    /// Whether new servers may be placed on a host in this state.
    pub fn accepts_new(self) -> bool {
        self == HostState::Up
    }
}

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostState::Up => "up",
            HostState::Draining => "draining",
            HostState::Down => "down",
            HostState::Maintenance => "maintenance",
        })
    }
}

/// A hypervisor host of the pool, as placement sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Its name, unique in the pool.
    pub name: HostName,
    /// Physical CPUs and memory.
    pub capacity: Resources,
    /// Overcommit factors.
    pub ratios: AllocationRatios,
    /// Memory kept for the host itself, in MiB (taken off before the RAM ratio applies).
    pub reserved_memory_mib: u64,
    /// Labels that groups select hosts by (`hosts:` in the unit file).
    pub labels: BTreeMap<String, String>,
    /// Its state.
    pub state: HostState,
}

impl Host {
    /// An `up` host with the default ratios, no reserved memory and no labels.
    pub fn new(name: HostName, capacity: Resources) -> Self {
        Self {
            name,
            capacity,
            ratios: AllocationRatios::default(),
            reserved_memory_mib: 0,
            labels: BTreeMap::new(),
            state: HostState::Up,
        }
    }

    /// What the host may hand out: `vCPUs × cpu ratio` and `(memory − reserved) × ram ratio`,
    /// rounded down (a ratio that is not a positive number allows nothing).
    pub fn allocatable(&self) -> Usage {
        // `as` saturates and maps NaN to 0, so a bad ratio yields 0 rather than garbage.
        Usage {
            vcpus: (f64::from(self.capacity.vcpus) * self.ratios.cpu).floor() as u64,
            memory_mib: (self
                .capacity
                .memory_mib
                .saturating_sub(self.reserved_memory_mib) as f64
                * self.ratios.ram)
                .floor() as u64,
        }
    }

    /// Whether the host's labels carry every pair of `selector`.
    pub fn matches(&self, selector: &BTreeMap<String, String>) -> bool {
        selector.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}

/// A server that already sits on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Its unit.
    pub unit: UnitName,
    /// Its group.
    pub group: GroupName,
    /// Its name (unique inside the unit).
    pub server: ServerName,
    /// The host it runs on.
    pub host: HostName,
    /// Its size.
    pub size: Resources,
}

/// What a host hands out, what its servers use, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostUsage {
    /// The host.
    pub host: HostName,
    /// Its state.
    pub state: HostState,
    /// What it may hand out after the ratios and reserved memory.
    pub allocatable: Usage,
    /// What the servers on it use.
    pub used: Usage,
    /// How many servers sit on it.
    pub servers: u32,
}

impl HostUsage {
    /// Allocatable minus used (0 when over-committed beyond the ratios).
    pub fn free(&self) -> Usage {
        Usage {
            vcpus: self.allocatable.vcpus.saturating_sub(self.used.vcpus),
            memory_mib: self
                .allocatable
                .memory_mib
                .saturating_sub(self.used.memory_mib),
        }
    }
}

/// Capacity and usage of every host, in host name order (placements on hosts not in `hosts`
/// are left out).
pub fn host_usage(hosts: &[Host], placements: &[Placement]) -> Vec<HostUsage> {
    let mut out: Vec<HostUsage> = hosts
        .iter()
        .map(|h| HostUsage {
            host: h.name.clone(),
            state: h.state,
            allocatable: h.allocatable(),
            used: Usage::default(),
            servers: 0,
        })
        .collect();
    out.sort_by(|a, b| a.host.cmp(&b.host));
    let index: BTreeMap<&str, usize> = out
        .iter()
        .enumerate()
        .map(|(i, u)| (u.host.as_str(), i))
        .collect();
    let mut adds = Vec::with_capacity(placements.len());
    for p in placements {
        if let Some(&i) = index.get(p.host.as_str()) {
            adds.push((i, p.size));
        }
    }
    for (i, size) in adds {
        let u = &mut out[i];
        u.used.vcpus += u64::from(size.vcpus);
        u.used.memory_mib += size.memory_mib;
        u.servers += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Requests

/// How a group's servers are weighed onto hosts (`policy:` in the unit file).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The host with the most free memory (as a share of what it may hand out).
    #[default]
    Spread,
    /// The host with the least free memory that still fits.
    Pack,
}

/// Whether servers of one group may share a host (`anti_affinity:` in the unit file).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AntiAffinity {
    /// Never: a host holds at most one server of the group.
    Hard,
    /// Preferably not: hosts with fewer servers of the group come first.
    #[default]
    Soft,
    /// No rule.
    None,
}

/// A group's placement rules (the unit file's `placement:`), and its `min`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPlacement {
    /// Spread or pack.
    pub policy: Policy,
    /// Hard, soft or no anti-affinity.
    pub anti_affinity: AntiAffinity,
    /// At most this many servers of the group per host.
    pub max_per_host: Option<u32>,
    /// Label selector: a host must carry every pair.
    pub hosts: BTreeMap<String, String>,
    /// The group's `min` servers (for `tolerate_host_failures`).
    pub min: u32,
}

impl GroupPlacement {
    /// Servers of the group one host may hold (`u32::MAX` without a limit).
    fn per_host_limit(&self) -> u32 {
        let hard = if self.anti_affinity == AntiAffinity::Hard {
            1
        } else {
            u32::MAX
        };
        hard.min(self.max_per_host.unwrap_or(u32::MAX))
    }
}

/// A group's placement rules as the unit file's `placement:` states them (its `min` comes from
/// the group itself): the stored half of a [`GroupPlacement`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct PlacementRules {
    /// Spread or pack (default spread).
    pub policy: Policy,
    /// Hard, soft or no anti-affinity (default soft).
    pub anti_affinity: AntiAffinity,
    /// At most this many servers of the group per host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_per_host: Option<u32>,
    /// Label selector: a host must carry every pair.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, String>,
}

impl PlacementRules {
    /// The rules of a group whose `min` is `min`.
    pub fn with_min(&self, min: u32) -> GroupPlacement {
        GroupPlacement {
            policy: self.policy,
            anti_affinity: self.anti_affinity,
            max_per_host: self.max_per_host,
            hosts: self.hosts.clone(),
            min,
        }
    }
}

/// A unit's placement rules: its groups' and its admission control.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitPlacement {
    /// Every group of the unit must keep its `min` after losing this many hosts (0: no check).
    pub tolerate_host_failures: u32,
    /// The rules of the unit's groups; every group a new server belongs to must be here.
    pub groups: BTreeMap<GroupName, GroupPlacement>,
}

/// A new server to place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewServer {
    /// Its unit.
    pub unit: UnitName,
    /// Its group.
    pub group: GroupName,
    /// Its name (unique inside the unit, not yet placed).
    pub server: ServerName,
    /// Its size (from the template).
    pub size: Resources,
}

/// A batch of new servers, placed as a whole in the order given, and their units' rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRequest {
    /// The servers, in placement order.
    pub servers: Vec<NewServer>,
    /// The rules of the units the servers belong to.
    pub units: BTreeMap<UnitName, UnitPlacement>,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Whether a refused placement could ever succeed on this pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Impossible by the request's own definition: it would not fit even if every host were up
    /// and empty (no host matches or is big enough, or more servers than the group's per-host
    /// limit allows on the hosts that could take them). Exit 65.
    NeverFits,
    /// The pool is full (or its hosts are unavailable) now; it may fit later. Exit 70.
    FullNow,
}

impl FailureClass {
    /// The documented exit code: 65 (invalid data) or 70 (operation failed).
    pub fn exit_code(self) -> i32 {
        match self {
            FailureClass::NeverFits => 65,
            FailureClass::FullNow => 70,
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureClass::NeverFits => "it can never fit this pool",
            FailureClass::FullNow => "the pool is full now",
        })
    }
}

/// Why a host refused a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// The host is down.
    Down,
    /// The host is draining.
    Draining,
    /// The host is in maintenance.
    Maintenance,
    /// The host's labels do not carry the group's selector.
    Labels {
        /// The group's `hosts:` selector.
        selector: BTreeMap<String, String>,
    },
    /// Not enough free memory.
    Memory {
        /// Free MiB after the ratio and reserved memory.
        free_mib: u64,
        /// MiB the server needs.
        needed_mib: u64,
        /// The host's RAM ratio.
        ratio: f64,
        /// The host's reserved MiB.
        reserved_mib: u64,
    },
    /// Not enough free vCPUs.
    Vcpus {
        /// Free vCPUs after the ratio.
        free: u64,
        /// vCPUs the server needs.
        needed: u32,
        /// The host's CPU ratio.
        ratio: f64,
    },
    /// Hard anti-affinity: the host already holds a server of the group.
    HardAntiAffinity {
        /// One of them (the first by name).
        holds: ServerName,
    },
    /// The host already holds `max_per_host` servers of the group.
    MaxPerHost {
        /// The limit.
        max: u32,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Down => f.write_str("down"),
            Refusal::Draining => f.write_str("draining"),
            Refusal::Maintenance => f.write_str("maintenance"),
            Refusal::Labels { selector } => {
                f.write_str("labels do not match hosts: {")?;
                for (i, (k, v)) in selector.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Refusal::Memory {
                free_mib,
                needed_mib,
                ratio,
                reserved_mib,
            } => write!(
                f,
                "not enough memory: {free_mib} MiB free after ratio {ratio} and {reserved_mib} MiB reserved, {needed_mib} MiB needed"
            ),
            Refusal::Vcpus {
                free,
                needed,
                ratio,
            } => write!(
                f,
                "not enough vCPUs: {free} free after ratio {ratio}, {needed} needed"
            ),
            Refusal::HardAntiAffinity { holds } => {
                write!(f, "hard anti-affinity: already holds {holds}")
            }
            Refusal::MaxPerHost { max } => write!(f, "max_per_host {max} reached"),
        }
    }
}

/// One host and why it refused a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRefusal {
    /// The host.
    pub host: HostName,
    /// Why.
    pub refusal: Refusal,
}

impl fmt::Display for HostRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.host, self.refusal)
    }
}

/// A group that has more servers than its per-host limit allows on the hosts that could take
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLimit {
    /// Servers of the group one host may hold (hard anti-affinity: 1, or `max_per_host`).
    pub per_host: u32,
    /// Hosts that match the group and are big enough, whatever their state.
    pub hosts: u64,
    /// The group's servers, placed and requested.
    pub servers: u64,
}

impl fmt::Display for GroupLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " (the group has {} servers, at most {} per host, and only {} host(s) could take them)",
            self.servers, self.per_host, self.hosts
        )
    }
}

fn refusal_list(refusals: &[HostRefusal]) -> String {
    if refusals.is_empty() {
        return " (the pool has no hosts)".into();
    }
    refusals.iter().map(|r| format!("\n  {r}")).collect()
}

fn host_list(hosts: &[HostName]) -> String {
    hosts
        .iter()
        .map(HostName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// No host could take a server: the first of the batch that did not fit, and why each host
/// refused it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "cannot place server {server} (group {group} of unit {unit}, {} vCPUs, {} MiB): {class}{}; nothing was placed; every host refused it:{}",
    size.vcpus, size.memory_mib, limit.map(|l| l.to_string()).unwrap_or_default(), refusal_list(refusals)
)]
#[non_exhaustive]
pub struct NoHostError {
    /// The server's unit.
    pub unit: UnitName,
    /// Its group.
    pub group: GroupName,
    /// The server.
    pub server: ServerName,
    /// Its size.
    pub size: Resources,
    /// Never or not now.
    pub class: FailureClass,
    /// Set when the group's per-host limit is why it can never fit.
    pub limit: Option<GroupLimit>,
    /// Every host of the pool (in name order) and why it refused the server.
    pub refusals: Vec<HostRefusal>,
}

/// A refused placement; nothing of the batch was placed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlacementError {
    /// No host could take a server (boxed: it lists every host).
    #[error(transparent)]
    NoHost(Box<NoHostError>),
    /// Admission control: losing `tolerate` hosts would leave a group below its `min`.
    #[error(
        "cannot place the servers of unit {unit}: with tolerate_host_failures {tolerate}, losing host(s) {} would leave group {group} with {remaining} of its {servers} servers, fewer than its min {min} ({class}); nothing was placed",
        host_list(lost)
    )]
    Tolerance {
        /// The unit.
        unit: UnitName,
        /// The group that would fall below its `min`.
        group: GroupName,
        /// The unit's `tolerate_host_failures`.
        tolerate: u32,
        /// The group's `min`.
        min: u32,
        /// The group's servers after the placement.
        servers: u32,
        /// Its servers left after losing `lost`.
        remaining: u32,
        /// The hosts holding the most of its servers.
        lost: Vec<HostName>,
        /// Never (not even spread over every host that matches the group) or not now.
        class: FailureClass,
    },
    /// A new server's group has no rules in the request.
    #[error(
        "server {server} of unit {unit} belongs to group {group}, which has no placement rules in the request"
    )]
    UnknownGroup {
        /// The unit.
        unit: UnitName,
        /// The group.
        group: GroupName,
        /// The server.
        server: ServerName,
    },
    /// A new server is requested twice or is already placed.
    #[error("server {server} of unit {unit} is requested twice or is already placed")]
    DuplicateServer {
        /// The unit.
        unit: UnitName,
        /// The server.
        server: ServerName,
    },
    /// Two hosts of the pool have the same name.
    #[error("host {host} is given twice")]
    DuplicateHost {
        /// The host.
        host: HostName,
    },
    /// A new server's template (generation) is not known.
    #[error(
        "server {server} of unit {unit} is to be cloned from template {template}, which does not exist (or lacks that generation)"
    )]
    UnknownTemplate {
        /// The unit.
        unit: UnitName,
        /// The server.
        server: ServerName,
        /// The template.
        template: crate::names::TemplateName,
    },
}

impl PlacementError {
    /// Never or not now; malformed requests (unknown group, duplicates) never fit.
    pub fn class(&self) -> FailureClass {
        match self {
            PlacementError::NoHost(e) => e.class,
            PlacementError::Tolerance { class, .. } => *class,
            PlacementError::UnknownGroup { .. }
            | PlacementError::DuplicateServer { .. }
            | PlacementError::DuplicateHost { .. }
            | PlacementError::UnknownTemplate { .. } => FailureClass::NeverFits,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scheduler

/// What the inner loop reads of a host: one small record per host, in one array.
#[derive(Debug, Clone, Copy)]
struct Slot {
    free_mem: u64,
    free_cpu: u64,
    /// `free_mem / allocatable memory` (0 when nothing is allocatable).
    ratio: f64,
}

/// The pool in host name order.
struct Pool<'a> {
    hosts: Vec<&'a Host>,
    alloc: Vec<Usage>,
    slots: Vec<Slot>,
}

impl<'a> Pool<'a> {
    fn new(hosts: &'a [Host]) -> Result<Self, PlacementError> {
        let mut sorted: Vec<&Host> = hosts.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = sorted.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(PlacementError::DuplicateHost {
                host: w[0].name.clone(),
            });
        }
        let alloc: Vec<Usage> = sorted.iter().map(|h| h.allocatable()).collect();
        let slots = alloc
            .iter()
            .map(|a| Slot {
                free_mem: a.memory_mib,
                free_cpu: a.vcpus,
                ratio: 0.0,
            })
            .collect();
        Ok(Pool {
            hosts: sorted,
            alloc,
            slots,
        })
    }

    fn len(&self) -> usize {
        self.hosts.len()
    }

    fn take(&mut self, h: usize, size: Resources) {
        let slot = &mut self.slots[h];
        slot.free_cpu = slot.free_cpu.saturating_sub(u64::from(size.vcpus));
        slot.free_mem = slot.free_mem.saturating_sub(size.memory_mib);
    }

    fn update_ratio(&mut self, h: usize) {
        let alloc = self.alloc[h].memory_mib;
        let slot = &mut self.slots[h];
        slot.ratio = if alloc == 0 {
            0.0
        } else {
            slot.free_mem as f64 / alloc as f64
        };
    }
}

/// A group of the request, resolved against the pool.
struct GroupRun<'a> {
    unit: &'a UnitName,
    group: &'a GroupName,
    rules: &'a GroupPlacement,
    limit: u32,
    soft: bool,
    pack: bool,
    /// Hosts that are up and match the selector, ascending.
    eligible: Vec<u32>,
}

/// Places `request`'s servers on `hosts`, given the servers already placed (`placements`),
/// all or nothing; answers each new server's host in the request's order.
///
/// Placements on hosts that are not in `hosts` are ignored. See the module documentation for
/// the filters, weights and admission control.
pub fn place(
    hosts: &[Host],
    placements: &[Placement],
    request: &PlacementRequest,
) -> Result<Vec<(ServerName, HostName)>, PlacementError> {
    let mut pool = Pool::new(hosts)?;
    let nh = pool.len();
    let index: BTreeMap<&str, u32> = pool
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i as u32))
        .collect();

    // Every new server's name is new in its unit. (A hash set with fixed keys: its order is
    // never read, and it draws no randomness.)
    let mut names: HashSet<(&str, &str), BuildHasherDefault<DefaultHasher>> =
        HashSet::with_capacity_and_hasher(request.servers.len(), Default::default());
    for s in &request.servers {
        if !names.insert((s.unit.as_str(), s.server.as_str())) {
            return Err(PlacementError::DuplicateServer {
                unit: s.unit.clone(),
                server: s.server.clone(),
            });
        }
    }
    for p in placements {
        if names.contains(&(p.unit.as_str(), p.server.as_str())) {
            return Err(PlacementError::DuplicateServer {
                unit: p.unit.clone(),
                server: p.server.clone(),
            });
        }
    }

    // The groups of the new servers, in order of first appearance. (Servers of one group
    // usually come together: the last one looked up is tried first.)
    let mut group_ix: BTreeMap<(&UnitName, &GroupName), usize> = BTreeMap::new();
    let mut groups: Vec<GroupRun<'_>> = Vec::new();
    let mut server_group: Vec<usize> = Vec::with_capacity(request.servers.len());
    let mut last: Option<(&UnitName, &GroupName, usize)> = None;
    for s in &request.servers {
        let key = (&s.unit, &s.group);
        let cached = last.filter(|&(u, g, _)| u == &s.unit && g == &s.group);
        let gi = match cached.map(|l| l.2).or_else(|| group_ix.get(&key).copied()) {
            Some(gi) => gi,
            None => {
                let Some(rules) = request
                    .units
                    .get(&s.unit)
                    .and_then(|u| u.groups.get(&s.group))
                else {
                    return Err(PlacementError::UnknownGroup {
                        unit: s.unit.clone(),
                        group: s.group.clone(),
                        server: s.server.clone(),
                    });
                };
                let eligible = (0..nh as u32)
                    .filter(|&h| {
                        let host = pool.hosts[h as usize];
                        host.state.accepts_new() && host.matches(&rules.hosts)
                    })
                    .collect();
                groups.push(GroupRun {
                    unit: &s.unit,
                    group: &s.group,
                    rules,
                    limit: rules.per_host_limit(),
                    soft: rules.anti_affinity == AntiAffinity::Soft,
                    pack: rules.policy == Policy::Pack,
                    eligible,
                });
                group_ix.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        server_group.push(gi);
        last = Some((&s.unit, &s.group, gi));
    }

    // Usage and per-(group, host) counts of what is placed already.
    let mut counts = vec![0u32; groups.len() * nh];
    let mut last: Option<(&UnitName, &GroupName, Option<usize>)> = None;
    for p in placements {
        let Some(&h) = index.get(p.host.as_str()) else {
            continue;
        };
        let h = h as usize;
        pool.take(h, p.size);
        let gi = match last.filter(|&(u, g, _)| u == &p.unit && g == &p.group) {
            Some((_, _, gi)) => gi,
            None => group_ix.get(&(&p.unit, &p.group)).copied(),
        };
        last = Some((&p.unit, &p.group, gi));
        if let Some(gi) = gi {
            counts[gi * nh + h] += 1;
        }
    }
    for h in 0..nh {
        pool.update_ratio(h);
    }

    // One at a time, in the order given.
    let mut chosen: Vec<u32> = Vec::with_capacity(request.servers.len());
    for (si, s) in request.servers.iter().enumerate() {
        let gi = server_group[si];
        let g = &groups[gi];
        let row = &counts[gi * nh..(gi + 1) * nh];
        match best_host(&pool, g, row, s.size) {
            Some(h) => {
                pool.take(h, s.size);
                pool.update_ratio(h);
                counts[gi * nh + h] += 1;
                chosen.push(h as u32);
            }
            None => {
                return Err(refuse(
                    &pool,
                    placements,
                    request,
                    &chosen,
                    &groups,
                    &server_group,
                    row,
                    si,
                ));
            }
        }
    }

    admission(&pool, request, &groups, &counts)?;

    Ok(request
        .servers
        .iter()
        .zip(&chosen)
        .map(|(s, &h)| (s.server.clone(), pool.hosts[h as usize].name.clone()))
        .collect())
}

/// The best host for a server of `g` of `size` (the weighing of the module documentation).
fn best_host(pool: &Pool<'_>, g: &GroupRun<'_>, row: &[u32], size: Resources) -> Option<usize> {
    let need_cpu = u64::from(size.vcpus);
    let need_mem = size.memory_mib;
    let read_row = g.soft || g.limit != u32::MAX;
    // The best so far: (servers of the group, free ratio, negated for pack so that the higher
    // weight always wins). A count is below `u32::MAX`, so the first candidate always wins.
    let mut best = usize::MAX;
    let mut best_count = u32::MAX;
    let mut best_weight = f64::NEG_INFINITY;
    for &h in &g.eligible {
        let h = h as usize;
        let slot = pool.slots[h];
        if slot.free_mem < need_mem || slot.free_cpu < need_cpu {
            continue;
        }
        let c = if read_row {
            let c = row[h];
            if c >= g.limit {
                continue;
            }
            if g.soft { c } else { 0 }
        } else {
            0
        };
        let w = if g.pack { -slot.ratio } else { slot.ratio };
        // Hosts come in name order: only a strictly better one replaces the best.
        if c < best_count || (c == best_count && w > best_weight) {
            best = h;
            best_count = c;
            best_weight = w;
        }
    }
    (best != usize::MAX).then_some(best)
}

/// The error for the server at `si`, which no host took: every host's reason and the class.
#[allow(clippy::too_many_arguments)] // reason: one private helper of `place`, its state spelled out
fn refuse(
    pool: &Pool<'_>,
    placements: &[Placement],
    request: &PlacementRequest,
    chosen: &[u32],
    groups: &[GroupRun<'_>],
    server_group: &[usize],
    row: &[u32],
    si: usize,
) -> PlacementError {
    let s = &request.servers[si];
    let gi = server_group[si];
    let g = &groups[gi];
    let rules = g.rules;
    let need_cpu = u64::from(s.size.vcpus);
    let mut refusals = Vec::with_capacity(pool.len());
    let mut capable = 0u64;
    for (h, host) in pool.hosts.iter().enumerate() {
        let memory = || Refusal::Memory {
            free_mib: pool.slots[h].free_mem,
            needed_mib: s.size.memory_mib,
            ratio: host.ratios.ram,
            reserved_mib: host.reserved_memory_mib,
        };
        let vcpus = || Refusal::Vcpus {
            free: pool.slots[h].free_cpu,
            needed: s.size.vcpus,
            ratio: host.ratios.cpu,
        };
        // What refuses even when the host is up and empty comes first: it is the reason that
        // matters for a request that can never fit.
        let refusal = if !host.matches(&rules.hosts) {
            Refusal::Labels {
                selector: rules.hosts.clone(),
            }
        } else if pool.alloc[h].memory_mib < s.size.memory_mib {
            memory()
        } else if pool.alloc[h].vcpus < need_cpu {
            vcpus()
        } else {
            capable += 1;
            match host.state {
                HostState::Down => Refusal::Down,
                HostState::Draining => Refusal::Draining,
                HostState::Maintenance => Refusal::Maintenance,
                HostState::Up if pool.slots[h].free_mem < s.size.memory_mib => memory(),
                HostState::Up if pool.slots[h].free_cpu < need_cpu => vcpus(),
                HostState::Up if rules.anti_affinity == AntiAffinity::Hard && row[h] > 0 => {
                    let holds = placements
                        .iter()
                        .filter(|p| p.host == host.name && p.unit == s.unit && p.group == s.group)
                        .map(|p| &p.server)
                        .chain(
                            chosen
                                .iter()
                                .enumerate()
                                .filter(|&(i, &c)| c as usize == h && server_group[i] == gi)
                                .map(|(i, _)| &request.servers[i].server),
                        )
                        .min();
                    match holds {
                        Some(holds) => Refusal::HardAntiAffinity {
                            holds: holds.clone(),
                        },
                        None => continue, // unreachable: the count says it holds one
                    }
                }
                HostState::Up => match rules.max_per_host {
                    Some(max) if row[h] >= max => Refusal::MaxPerHost { max },
                    _ => continue, // unreachable: `best_host` would have taken it
                },
            }
        };
        refusals.push(HostRefusal {
            host: host.name.clone(),
            refusal,
        });
    }

    // Never fits: no host could take it even if all were up and empty, or the group has more
    // servers than its per-host limit allows on the hosts that could.
    let servers = placements
        .iter()
        .filter(|p| p.unit == s.unit && p.group == s.group)
        .count() as u64
        + server_group.iter().filter(|&&x| x == gi).count() as u64;
    let limit = (g.limit != u32::MAX
        && capable > 0
        && u64::from(g.limit).saturating_mul(capable) < servers)
        .then_some(GroupLimit {
            per_host: g.limit,
            hosts: capable,
            servers,
        });
    PlacementError::NoHost(Box::new(NoHostError {
        unit: s.unit.clone(),
        group: s.group.clone(),
        server: s.server.clone(),
        size: s.size,
        class: if capable == 0 || limit.is_some() {
            FailureClass::NeverFits
        } else {
            FailureClass::FullNow
        },
        limit,
        refusals,
    }))
}

/// Admission control: every group that receives servers keeps its `min` after losing the
/// unit's `tolerate_host_failures` hosts holding the most of its servers.
fn admission(
    pool: &Pool<'_>,
    request: &PlacementRequest,
    groups: &[GroupRun<'_>],
    counts: &[u32],
) -> Result<(), PlacementError> {
    let nh = pool.len();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        (groups[a].unit, groups[a].group).cmp(&(groups[b].unit, groups[b].group))
    });
    for gi in order {
        let g = &groups[gi];
        let f = request
            .units
            .get(g.unit)
            .map_or(0, |u| u.tolerate_host_failures);
        if f == 0 {
            continue;
        }
        let row = &counts[gi * nh..(gi + 1) * nh];
        // Hosts by servers held, most first, then by name.
        let mut held: Vec<(u32, usize)> = row
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(h, &c)| (c, h))
            .collect();
        held.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let servers: u32 = row.iter().sum();
        let lost: Vec<(u32, usize)> = held.into_iter().take(f as usize).collect();
        let remaining = servers - lost.iter().map(|&(c, _)| c).sum::<u32>();
        if remaining >= g.rules.min {
            continue;
        }
        // Never: even spread evenly over every host that matches the group, it would not keep
        // its min.
        let matching = pool
            .hosts
            .iter()
            .filter(|h| h.matches(&g.rules.hosts))
            .count() as u64;
        let n = u64::from(servers);
        let lose = u64::from(f);
        let best_remaining = if matching <= lose {
            0
        } else {
            let (q, r) = (n / matching, n % matching);
            n - (lose * q + lose.min(r))
        };
        let class = if best_remaining < u64::from(g.rules.min) {
            FailureClass::NeverFits
        } else {
            FailureClass::FullNow
        };
        return Err(PlacementError::Tolerance {
            unit: g.unit.clone(),
            group: g.group.clone(),
            tolerate: f,
            min: g.rules.min,
            servers,
            remaining,
            lost: lost
                .iter()
                .map(|&(_, h)| pool.hosts[h].name.clone())
                .collect(),
            class,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn hn(s: &str) -> HostName {
        HostName::new(s).unwrap()
    }

    /// An `up` host with ratios 1.0 (so the arithmetic in a test is the plain one).
    fn plain(name: &str, vcpus: u32, memory_mib: u64) -> Host {
        let mut h = Host::new(hn(name), Resources::new(vcpus, memory_mib));
        h.ratios = AllocationRatios::new(1.0, 1.0).unwrap();
        h
    }

    fn state(mut h: Host, s: HostState) -> Host {
        h.state = s;
        h
    }

    fn zone(mut h: Host, z: &str) -> Host {
        h.labels.insert("zone".into(), z.into());
        h
    }

    fn srv(group: &str, name: &str, vcpus: u32, memory_mib: u64) -> NewServer {
        NewServer {
            unit: "shop".parse().unwrap(),
            group: group.parse().unwrap(),
            server: name.parse().unwrap(),
            size: Resources::new(vcpus, memory_mib),
        }
    }

    fn on(group: &str, name: &str, host: &str, vcpus: u32, memory_mib: u64) -> Placement {
        Placement {
            unit: "shop".parse().unwrap(),
            group: group.parse().unwrap(),
            server: name.parse().unwrap(),
            host: hn(host),
            size: Resources::new(vcpus, memory_mib),
        }
    }

    fn rules(policy: Policy, anti_affinity: AntiAffinity) -> GroupPlacement {
        GroupPlacement {
            policy,
            anti_affinity,
            ..GroupPlacement::default()
        }
    }

    fn request(
        servers: Vec<NewServer>,
        groups: &[(&str, GroupPlacement)],
        tolerate: u32,
    ) -> PlacementRequest {
        let unit = UnitPlacement {
            tolerate_host_failures: tolerate,
            groups: groups
                .iter()
                .map(|(g, r)| (g.parse().unwrap(), r.clone()))
                .collect(),
        };
        PlacementRequest {
            servers,
            units: [("shop".parse().unwrap(), unit)].into_iter().collect(),
        }
    }

    fn render(result: &Result<Vec<(ServerName, HostName)>, PlacementError>) -> String {
        match result {
            Ok(v) => v
                .iter()
                .map(|(s, h)| format!("{s}->{h}"))
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("{:?} {}: {e}", e.class(), e.class().exit_code()),
        }
    }

    fn check(hosts: &[Host], placements: &[Placement], req: &PlacementRequest, expect: &str) {
        let got = render(&place(hosts, placements, req));
        assert_eq!(got, expect);
    }

    #[test]
    fn spread_takes_the_freest_host_and_pack_the_fullest_that_fits() {
        let hosts = [
            plain("a", 8, 8192),
            plain("b", 8, 4096),
            plain("c", 8, 8192),
        ];
        // a: 2048 of 8192 free (25%), b: 4096 of 4096 (100%), c: 1024 of 8192 (12.5%).
        let existing = [
            on("db", "db-1", "a", 1, 6144),
            on("db", "db-2", "c", 1, 7168),
        ];
        let one = |p| {
            request(
                vec![srv("web", "web-1", 1, 1024)],
                &[("web", rules(p, AntiAffinity::None))],
                0,
            )
        };
        check(&hosts, &existing, &one(Policy::Spread), "web-1->b");
        check(&hosts, &existing, &one(Policy::Pack), "web-1->c");
        // Pack takes the fullest host that still fits: c has 1024 free, a 2048.
        let big = request(
            vec![srv("web", "web-1", 1, 2048)],
            &[("web", rules(Policy::Pack, AntiAffinity::None))],
            0,
        );
        check(&hosts, &existing, &big, "web-1->a");
        // Equal hosts: spread alternates, pack fills the first by name.
        let eq = [plain("a", 8, 4096), plain("b", 8, 4096)];
        let four = |p| {
            request(
                (1..=4)
                    .map(|i| srv("web", &format!("web-{i}"), 1, 1024))
                    .collect(),
                &[("web", rules(p, AntiAffinity::None))],
                0,
            )
        };
        check(
            &eq,
            &[],
            &four(Policy::Spread),
            "web-1->a web-2->b web-3->a web-4->b",
        );
        check(
            &eq,
            &[],
            &four(Policy::Pack),
            "web-1->a web-2->a web-3->a web-4->a",
        );
    }

    #[test]
    fn soft_anti_affinity_prefers_hosts_without_the_group() {
        let hosts = [plain("a", 8, 8192), plain("b", 8, 8192)];
        // a is freer (93.75%) but holds web-1; b (75%) holds none of web.
        let existing = [
            on("web", "web-1", "a", 1, 512),
            on("db", "db-1", "b", 1, 2048),
        ];
        let one = |a| {
            request(
                vec![srv("web", "web-2", 1, 512)],
                &[("web", rules(Policy::Spread, a))],
                0,
            )
        };
        check(&hosts, &existing, &one(AntiAffinity::Soft), "web-2->b");
        check(&hosts, &existing, &one(AntiAffinity::None), "web-2->a");
        // Pack with soft anti-affinity: the fullest host among those with the fewest of the group.
        let three = [
            plain("a", 8, 8192),
            plain("b", 8, 8192),
            plain("c", 8, 8192),
        ];
        let existing = [on("db", "db-1", "c", 1, 2048)];
        let req = request(
            (1..=4)
                .map(|i| srv("web", &format!("web-{i}"), 1, 1024))
                .collect(),
            &[("web", rules(Policy::Pack, AntiAffinity::Soft))],
            0,
        );
        check(
            &three,
            &existing,
            &req,
            "web-1->c web-2->a web-3->b web-4->c",
        );
        // Soft is a preference: when only a host with the group fits, it is used.
        let small = [plain("a", 8, 8192), plain("b", 8, 512)];
        let req = request(
            vec![srv("web", "web-1", 1, 1024), srv("web", "web-2", 1, 1024)],
            &[("web", rules(Policy::Spread, AntiAffinity::Soft))],
            0,
        );
        check(&small, &[], &req, "web-1->a web-2->a");
    }

    #[test]
    fn hard_anti_affinity_refusal_lists_every_host_and_its_reason() {
        let hosts = [
            plain("a", 8, 8192),
            plain("b", 8, 8192),
            state(plain("c", 8, 8192), HostState::Down),
        ];
        let existing = [on("web", "web-2", "b", 1, 512)];
        let req = request(
            vec![srv("web", "web-1", 1, 512), srv("web", "web-3", 1, 512)],
            &[("web", rules(Policy::Spread, AntiAffinity::Hard))],
            0,
        );
        check(
            &hosts,
            &existing,
            &req,
            "FullNow 70: cannot place server web-3 (group web of unit shop, 1 vCPUs, 512 MiB): the pool is full now; nothing was placed; every host refused it:\n  a: hard anti-affinity: already holds web-1\n  b: hard anti-affinity: already holds web-2\n  c: down",
        );
        // Two hosts can never hold three servers of a hard anti-affinity group.
        check(
            &hosts[..2],
            &existing,
            &req,
            "NeverFits 65: cannot place server web-3 (group web of unit shop, 1 vCPUs, 512 MiB): it can never fit this pool (the group has 3 servers, at most 1 per host, and only 2 host(s) could take them); nothing was placed; every host refused it:\n  a: hard anti-affinity: already holds web-1\n  b: hard anti-affinity: already holds web-2",
        );
        // With room, each server gets its own host.
        let req = request(
            vec![srv("web", "web-1", 1, 512), srv("web", "web-3", 1, 512)],
            &[("web", rules(Policy::Pack, AntiAffinity::Hard))],
            0,
        );
        check(
            &[
                plain("a", 8, 8192),
                plain("b", 8, 8192),
                plain("d", 8, 8192),
            ],
            &existing,
            &req,
            "web-1->a web-3->d",
        );
    }

    #[test]
    fn max_per_host_is_a_hard_limit() {
        let hosts = [plain("a", 8, 8192), plain("b", 8, 8192)];
        let mut r = rules(Policy::Pack, AntiAffinity::None);
        r.max_per_host = Some(2);
        let req = |n: usize| {
            request(
                (1..=n)
                    .map(|i| srv("web", &format!("web-{i}"), 1, 512))
                    .collect(),
                &[("web", r.clone())],
                0,
            )
        };
        check(&hosts, &[], &req(4), "web-1->a web-2->a web-3->b web-4->b");
        check(
            &hosts,
            &[],
            &req(5),
            "NeverFits 65: cannot place server web-5 (group web of unit shop, 1 vCPUs, 512 MiB): it can never fit this pool (the group has 5 servers, at most 2 per host, and only 2 host(s) could take them); nothing was placed; every host refused it:\n  a: max_per_host 2 reached\n  b: max_per_host 2 reached",
        );
        // Servers of another group do not count.
        let existing = [on("db", "db-1", "a", 1, 512), on("db", "db-2", "a", 1, 512)];
        check(
            &hosts,
            &existing,
            &req(4),
            "web-1->a web-2->a web-3->b web-4->b",
        );
    }

    #[test]
    fn label_selector_must_match_every_pair() {
        let hosts = [
            zone(plain("a", 8, 8192), "a"),
            zone(plain("b", 8, 8192), "b"),
            plain("c", 8, 8192),
        ];
        let sel = |pairs: &[(&str, &str)]| {
            let mut r = rules(Policy::Spread, AntiAffinity::Soft);
            r.hosts = pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            request(
                vec![srv("web", "web-1", 1, 512), srv("web", "web-2", 1, 512)],
                &[("web", r)],
                0,
            )
        };
        check(&hosts, &[], &sel(&[("zone", "b")]), "web-1->b web-2->b");
        check(&hosts, &[], &sel(&[]), "web-1->a web-2->b");
        check(
            &hosts,
            &[],
            &sel(&[("zone", "b"), ("disk", "ssd")]),
            "NeverFits 65: cannot place server web-1 (group web of unit shop, 1 vCPUs, 512 MiB): it can never fit this pool; nothing was placed; every host refused it:\n  a: labels do not match hosts: {disk: ssd, zone: b}\n  b: labels do not match hosts: {disk: ssd, zone: b}\n  c: labels do not match hosts: {disk: ssd, zone: b}",
        );
    }

    #[test]
    fn ratios_and_reserved_memory() {
        let mut h = Host::new(hn("kvm-1"), Resources::new(4, 4096));
        h.reserved_memory_mib = 1024;
        // (4096 - 1024) × 1.5 = 4608 MiB; 4 × 16 = 64 vCPUs.
        assert_eq!(
            h.allocatable(),
            Usage {
                vcpus: 64,
                memory_mib: 4608
            }
        );
        let hosts = [h];
        let one = |vcpus, mem| {
            request(
                vec![srv("web", "web-1", vcpus, mem)],
                &[("web", GroupPlacement::default())],
                0,
            )
        };
        check(&hosts, &[], &one(64, 4608), "web-1->kvm-1");
        check(
            &hosts,
            &[],
            &one(1, 4609),
            "NeverFits 65: cannot place server web-1 (group web of unit shop, 1 vCPUs, 4609 MiB): it can never fit this pool; nothing was placed; every host refused it:\n  kvm-1: not enough memory: 4608 MiB free after ratio 1.5 and 1024 MiB reserved, 4609 MiB needed",
        );
        check(
            &hosts,
            &[],
            &one(65, 512),
            "NeverFits 65: cannot place server web-1 (group web of unit shop, 65 vCPUs, 512 MiB): it can never fit this pool; nothing was placed; every host refused it:\n  kvm-1: not enough vCPUs: 64 free after ratio 16, 65 needed",
        );
        let existing = [on("db", "db-1", "kvm-1", 2, 4096)];
        check(
            &hosts,
            &existing,
            &one(1, 1024),
            "FullNow 70: cannot place server web-1 (group web of unit shop, 1 vCPUs, 1024 MiB): the pool is full now; nothing was placed; every host refused it:\n  kvm-1: not enough memory: 512 MiB free after ratio 1.5 and 1024 MiB reserved, 1024 MiB needed",
        );
        check(&hosts, &existing, &one(62, 512), "web-1->kvm-1");
        // Ratios are checked where they are set.
        assert_eq!(
            AllocationRatios::new(0.0, 1.0).unwrap_err().to_string(),
            "invalid cpu allocation ratio 0: use a finite number greater than 0"
        );
        assert!(AllocationRatios::new(1.0, f64::NAN).is_err());
        assert_eq!(
            AllocationRatios::default(),
            AllocationRatios::new(16.0, 1.5).unwrap()
        );
    }

    #[test]
    fn host_usage_reports_capacity_after_ratios() {
        let mut a = Host::new(hn("a"), Resources::new(8, 16384));
        a.reserved_memory_mib = 2048;
        let b = state(plain("b", 2, 1024), HostState::Draining);
        let placements = [
            on("web", "web-1", "a", 4, 4096),
            on("web", "web-2", "a", 2, 2048),
            on("web", "web-3", "b", 1, 2048),
            on("web", "web-4", "gone", 1, 2048),
        ];
        let usage = host_usage(&[b, a], &placements);
        let rows: Vec<String> = usage
            .iter()
            .map(|u| {
                format!(
                    "{} {} alloc {}/{} used {}/{} free {}/{} servers {}",
                    u.host,
                    u.state,
                    u.allocatable.vcpus,
                    u.allocatable.memory_mib,
                    u.used.vcpus,
                    u.used.memory_mib,
                    u.free().vcpus,
                    u.free().memory_mib,
                    u.servers
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                "a up alloc 128/21504 used 6/6144 free 122/15360 servers 2",
                "b draining alloc 2/1024 used 1/2048 free 1/0 servers 1",
            ]
        );
    }

    #[test]
    fn hosts_that_are_not_up_are_never_chosen() {
        let hosts = [
            state(plain("a", 64, 65536), HostState::Draining),
            state(plain("b", 64, 65536), HostState::Down),
            state(plain("c", 64, 65536), HostState::Maintenance),
            plain("d", 2, 2048),
        ];
        let req = request(
            vec![srv("web", "web-1", 1, 1024), srv("web", "web-2", 1, 1024)],
            &[("web", rules(Policy::Spread, AntiAffinity::Soft))],
            0,
        );
        check(&hosts, &[], &req, "web-1->d web-2->d");
        check(
            &hosts[..3],
            &[],
            &req,
            "FullNow 70: cannot place server web-1 (group web of unit shop, 1 vCPUs, 1024 MiB): the pool is full now; nothing was placed; every host refused it:\n  a: draining\n  b: down\n  c: maintenance",
        );
        check(
            &[],
            &[],
            &req,
            "NeverFits 65: cannot place server web-1 (group web of unit shop, 1 vCPUs, 1024 MiB): it can never fit this pool; nothing was placed; every host refused it: (the pool has no hosts)",
        );
    }

    #[test]
    fn a_batch_is_placed_whole_or_not_at_all() {
        let hosts = [plain("a", 8, 2048)];
        let req = request(
            (1..=3)
                .map(|i| srv("web", &format!("web-{i}"), 1, 1024))
                .collect(),
            &[("web", rules(Policy::Spread, AntiAffinity::Soft))],
            0,
        );
        let err = place(&hosts, &[], &req).unwrap_err();
        assert!(matches!(
            &err,
            PlacementError::NoHost(e)
                if e.server == "web-3" && e.class == FailureClass::FullNow && e.refusals.len() == 1
        ));
        check(
            &hosts,
            &[],
            &req,
            "FullNow 70: cannot place server web-3 (group web of unit shop, 1 vCPUs, 1024 MiB): the pool is full now; nothing was placed; every host refused it:\n  a: not enough memory: 0 MiB free after ratio 1 and 0 MiB reserved, 1024 MiB needed",
        );
        // The first two alone fit.
        let mut two = req.clone();
        two.servers.truncate(2);
        check(&hosts, &[], &two, "web-1->a web-2->a");
    }

    #[test]
    fn never_fits_versus_full_now() {
        let hosts = [
            plain("a", 8, 4096),
            state(plain("b", 8, 8192), HostState::Down),
        ];
        let one = |mem| {
            request(
                vec![srv("web", "web-1", 1, mem)],
                &[("web", GroupPlacement::default())],
                0,
            )
        };
        let class = |hosts: &[Host], placements: &[Placement], req: &PlacementRequest| {
            place(hosts, placements, req).unwrap_err().class()
        };
        // Bigger than any host even when empty: never.
        assert_eq!(class(&hosts, &[], &one(9000)), FailureClass::NeverFits);
        // Fits only the down host: not now.
        assert_eq!(class(&hosts, &[], &one(6000)), FailureClass::FullNow);
        // A host that is not up but could never take the server says so, not its state.
        check(
            &hosts,
            &[],
            &one(9000),
            "NeverFits 65: cannot place server web-1 (group web of unit shop, 1 vCPUs, 9000 MiB): it can never fit this pool; nothing was placed; every host refused it:\n  a: not enough memory: 4096 MiB free after ratio 1 and 0 MiB reserved, 9000 MiB needed\n  b: not enough memory: 8192 MiB free after ratio 1 and 0 MiB reserved, 9000 MiB needed",
        );
        // Fits a, which is full: not now.
        let full = [on("db", "db-1", "a", 1, 4096)];
        assert_eq!(class(&hosts[..1], &full, &one(1024)), FailureClass::FullNow);
        // Malformed requests never fit.
        let mut unknown = one(512);
        unknown.servers[0].group = "api".parse().unwrap();
        check(
            &hosts,
            &[],
            &unknown,
            "NeverFits 65: server web-1 of unit shop belongs to group api, which has no placement rules in the request",
        );
        let twice = request(
            vec![srv("web", "web-1", 1, 512), srv("web", "web-1", 1, 512)],
            &[("web", GroupPlacement::default())],
            0,
        );
        check(
            &hosts,
            &[],
            &twice,
            "NeverFits 65: server web-1 of unit shop is requested twice or is already placed",
        );
        check(
            &hosts,
            &[on("web", "web-1", "a", 1, 512)],
            &one(512),
            "NeverFits 65: server web-1 of unit shop is requested twice or is already placed",
        );
        check(
            &[plain("a", 1, 1024), plain("a", 2, 2048)],
            &[],
            &one(512),
            "NeverFits 65: host a is given twice",
        );
    }

    #[test]
    fn tolerate_host_failures_admission() {
        let hosts = [
            plain("a", 8, 8192),
            plain("b", 8, 8192),
            plain("c", 8, 8192),
        ];
        let mut r = rules(Policy::Spread, AntiAffinity::Soft);
        r.min = 2;
        let three = |tolerate| {
            request(
                (1..=3)
                    .map(|i| srv("web", &format!("web-{i}"), 1, 1024))
                    .collect(),
                &[("web", r.clone())],
                tolerate,
            )
        };
        // One per host: losing any one leaves 2.
        check(&hosts, &[], &three(1), "web-1->a web-2->b web-3->c");
        // Losing two leaves 1 < 2, and no spread over three hosts could do better.
        check(
            &hosts,
            &[],
            &three(2),
            "NeverFits 65: cannot place the servers of unit shop: with tolerate_host_failures 2, losing host(s) a, b would leave group web with 1 of its 3 servers, fewer than its min 2 (it can never fit this pool); nothing was placed",
        );
        // With c down, two land on a: losing a leaves 1; with c up it would fit.
        let c_down = [
            hosts[0].clone(),
            hosts[1].clone(),
            state(hosts[2].clone(), HostState::Down),
        ];
        check(
            &c_down,
            &[],
            &three(1),
            "FullNow 70: cannot place the servers of unit shop: with tolerate_host_failures 1, losing host(s) a would leave group web with 1 of its 3 servers, fewer than its min 2 (the pool is full now); nothing was placed",
        );
        // Servers already placed count: with web-0 on a, four servers with min 3 need four hosts.
        let mut r2 = r.clone();
        r2.min = 3;
        let req = request(
            (1..=3)
                .map(|i| srv("web", &format!("web-{i}"), 1, 1024))
                .collect(),
            &[("web", r2)],
            1,
        );
        let web0 = [on("web", "web-0", "a", 1, 1024)];
        let mut four = hosts.to_vec();
        four.push(plain("d", 8, 8192));
        check(&four, &web0, &req, "web-1->b web-2->c web-3->d");
        check(
            &hosts,
            &web0,
            &req,
            "NeverFits 65: cannot place the servers of unit shop: with tolerate_host_failures 1, losing host(s) a would leave group web with 2 of its 4 servers, fewer than its min 3 (it can never fit this pool); nothing was placed",
        );
        // Without tolerate_host_failures there is no check.
        check(&c_down, &[], &three(0), "web-1->a web-2->b web-3->a");
    }

    #[test]
    fn host_names() {
        assert!(HostName::new("kvm-03").is_ok());
        assert!(HostName::new("3par_a").is_ok());
        assert!(HostName::new("a".repeat(63)).is_ok());
        let err = |s: &str| HostName::new(s).unwrap_err().to_string();
        assert_eq!(
            err("-a"),
            "invalid host name \"-a\": it must start with a lowercase letter a-z or a digit; use 1 to 63 characters: lowercase letters a-z, digits, '-' and '_', starting with a letter or digit and ending with a letter or digit"
        );
        assert!(err("").contains("it is empty"));
        assert!(err("Kvm").contains("must start"));
        assert!(err("kvm.1").contains("character '.' at position 4"));
        assert!(err("kvm_").contains("must end with a letter or digit"));
        assert!(err(&"a".repeat(64)).contains("64 characters long"));
        assert!(err("all").contains("reserved"));
        let h: HostName = "kvm-1".parse().unwrap();
        assert_eq!(h, "kvm-1");
        assert_eq!(String::from(h), "kvm-1");
    }

    // -----------------------------------------------------------------------------------------
    // Properties

    /// The rules written the obvious way: usage recomputed from every placement for each server.
    /// `Err` holds the kind of failure and the server or group it names.
    fn reference(
        hosts: &[Host],
        placements: &[Placement],
        req: &PlacementRequest,
    ) -> Result<Vec<(ServerName, HostName)>, (&'static str, String)> {
        let mut hosts = hosts.to_vec();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        let mut all = placements.to_vec();
        let mut out = Vec::new();
        for s in &req.servers {
            let r = &req.units[&s.unit].groups[&s.group];
            let mut best: Option<(u32, f64, &Host)> = None;
            for h in &hosts {
                let alloc = h.allocatable();
                let on_h: Vec<&Placement> = all.iter().filter(|p| p.host == h.name).collect();
                let used_mem: u64 = on_h.iter().map(|p| p.size.memory_mib).sum();
                let used_cpu: u64 = on_h.iter().map(|p| u64::from(p.size.vcpus)).sum();
                let free_mem = alloc.memory_mib.saturating_sub(used_mem);
                let free_cpu = alloc.vcpus.saturating_sub(used_cpu);
                let same = on_h
                    .iter()
                    .filter(|p| p.unit == s.unit && p.group == s.group)
                    .count() as u32;
                let ok = h.state == HostState::Up
                    && h.matches(&r.hosts)
                    && free_mem >= s.size.memory_mib
                    && free_cpu >= u64::from(s.size.vcpus)
                    && !(r.anti_affinity == AntiAffinity::Hard && same > 0)
                    && r.max_per_host.is_none_or(|m| same < m);
                if !ok {
                    continue;
                }
                let key = if r.anti_affinity == AntiAffinity::Soft {
                    same
                } else {
                    0
                };
                let ratio = if alloc.memory_mib == 0 {
                    0.0
                } else {
                    free_mem as f64 / alloc.memory_mib as f64
                };
                let better = match &best {
                    None => true,
                    Some((k, q, _)) => {
                        key < *k
                            || (key == *k
                                && if r.policy == Policy::Pack {
                                    ratio < *q
                                } else {
                                    ratio > *q
                                })
                    }
                };
                if better {
                    best = Some((key, ratio, h));
                }
            }
            let Some((_, _, h)) = best else {
                return Err(("no host", s.server.to_string()));
            };
            all.push(Placement {
                unit: s.unit.clone(),
                group: s.group.clone(),
                server: s.server.clone(),
                host: h.name.clone(),
                size: s.size,
            });
            out.push((s.server.clone(), h.name.clone()));
        }
        let groups: BTreeSet<(&UnitName, &GroupName)> =
            req.servers.iter().map(|s| (&s.unit, &s.group)).collect();
        for (unit, group) in groups {
            let u = &req.units[unit];
            if u.tolerate_host_failures == 0 {
                continue;
            }
            let mut per_host: BTreeMap<&HostName, u32> = BTreeMap::new();
            for p in &all {
                if &p.unit == unit && &p.group == group && hosts.iter().any(|h| h.name == p.host) {
                    *per_host.entry(&p.host).or_default() += 1;
                }
            }
            let mut counts: Vec<u32> = per_host.into_values().collect();
            counts.sort_by(|a, b| b.cmp(a));
            let total: u32 = counts.iter().sum();
            let lost: u32 = counts.iter().take(u.tolerate_host_failures as usize).sum();
            if total - lost < u.groups[group].min {
                return Err(("tolerance", group.to_string()));
            }
        }
        Ok(out)
    }

    #[derive(Debug, Clone)]
    struct Case {
        hosts: Vec<Host>,
        placements: Vec<Placement>,
        req: PlacementRequest,
        seed: u64,
    }

    const HOST_MEM: [u64; 4] = [2048, 4096, 8192, 16384];
    const CPU_RATIO: [f64; 3] = [1.0, 2.0, 16.0];
    const RAM_RATIO: [f64; 2] = [1.0, 1.5];
    const RESERVED: [u64; 3] = [0, 256, 1024];
    const STATES: [HostState; 6] = [
        HostState::Up,
        HostState::Up,
        HostState::Up,
        HostState::Draining,
        HostState::Down,
        HostState::Maintenance,
    ];
    const SERVER_MEM: [u64; 5] = [0, 256, 512, 1024, 2048];
    const ANTI: [AntiAffinity; 4] = [
        AntiAffinity::Hard,
        AntiAffinity::Soft,
        AntiAffinity::Soft,
        AntiAffinity::None,
    ];

    fn unit_of(g: usize) -> (UnitName, GroupName) {
        // Group 3 is "g0" of another unit: same group name, different unit.
        if g == 3 {
            ("other".parse().unwrap(), "g0".parse().unwrap())
        } else {
            ("shop".parse().unwrap(), format!("g{g}").parse().unwrap())
        }
    }

    fn case() -> impl Strategy<Value = Case> {
        let hosts = proptest::collection::vec(
            (
                2u32..=8,
                0..HOST_MEM.len(),
                0..CPU_RATIO.len(),
                0..RAM_RATIO.len(),
                0..RESERVED.len(),
                0usize..3,
                0..STATES.len(),
            ),
            0..8,
        );
        let groups = proptest::collection::vec(
            (
                any::<bool>(),
                0..ANTI.len(),
                proptest::option::weighted(0.3, 1u32..=4),
                proptest::option::weighted(0.3, 0usize..2),
                0u32..3,
            ),
            4,
        );
        let placements =
            proptest::collection::vec((0usize..8, 0usize..4, 0u32..4, 0..SERVER_MEM.len()), 0..8);
        let servers = proptest::collection::vec((0usize..4, 0u32..4, 0..SERVER_MEM.len()), 1..12);
        (
            hosts,
            groups,
            placements,
            servers,
            prop_oneof![3 => Just(0u32), 1 => 1u32..3],
            prop_oneof![3 => Just(0u32), 1 => Just(1u32)],
            any::<u64>(),
        )
            .prop_map(
                |(hosts, groups, placements, servers, tol_shop, tol_other, seed)| {
                    let hosts: Vec<Host> = hosts
                        .into_iter()
                        .enumerate()
                        .map(|(i, (cpu, mem, cr, rr, res, z, st))| {
                            let mut h =
                                Host::new(hn(&format!("h{i}")), Resources::new(cpu, HOST_MEM[mem]));
                            h.ratios = AllocationRatios::new(CPU_RATIO[cr], RAM_RATIO[rr]).unwrap();
                            h.reserved_memory_mib = RESERVED[res];
                            if z < 2 {
                                h.labels.insert("zone".into(), format!("z{z}"));
                            }
                            h.state = STATES[st];
                            h
                        })
                        .collect();
                    let mut units: BTreeMap<UnitName, UnitPlacement> = BTreeMap::new();
                    for (g, (pack, anti, max, sel, min)) in groups.into_iter().enumerate() {
                        let (unit, group) = unit_of(g);
                        let u = units.entry(unit).or_default();
                        u.groups.insert(
                            group,
                            GroupPlacement {
                                policy: if pack { Policy::Pack } else { Policy::Spread },
                                anti_affinity: ANTI[anti],
                                max_per_host: max,
                                hosts: sel
                                    .map(|z| {
                                        [("zone".to_string(), format!("z{z}"))]
                                            .into_iter()
                                            .collect()
                                    })
                                    .unwrap_or_default(),
                                min,
                            },
                        );
                    }
                    for (name, u) in &mut units {
                        u.tolerate_host_failures =
                            if name == "shop" { tol_shop } else { tol_other };
                    }
                    let n = hosts.len().max(1);
                    let placements = placements
                        .into_iter()
                        .enumerate()
                        .map(|(i, (h, g, cpu, mem))| {
                            let (unit, group) = unit_of(g);
                            Placement {
                                unit,
                                group,
                                server: format!("old-{i}").parse().unwrap(),
                                // Index n is a host that is not in the pool.
                                host: hn(&format!("h{}", h % (n + 1))),
                                size: Resources::new(cpu, SERVER_MEM[mem]),
                            }
                        })
                        .collect();
                    let servers = servers
                        .into_iter()
                        .enumerate()
                        .map(|(i, (g, cpu, mem))| {
                            let (unit, group) = unit_of(g);
                            NewServer {
                                unit,
                                group,
                                server: format!("new-{i}").parse().unwrap(),
                                size: Resources::new(cpu, SERVER_MEM[mem]),
                            }
                        })
                        .collect();
                    Case {
                        hosts,
                        placements,
                        req: PlacementRequest { servers, units },
                        seed,
                    }
                },
            )
    }

    /// A deterministic shuffle (xorshift Fisher-Yates) for the order-independence property.
    fn shuffled<T: Clone>(v: &[T], mut seed: u64) -> Vec<T> {
        let mut v = v.to_vec();
        seed |= 1;
        for i in (1..v.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn placement_keeps_every_rule(c in case()) {
            let got = place(&c.hosts, &c.placements, &c.req);

            // Same inputs, same answer; the hosts' and placements' order does not matter.
            prop_assert_eq!(&place(&c.hosts, &c.placements, &c.req), &got);
            let again = place(&shuffled(&c.hosts, c.seed), &shuffled(&c.placements, c.seed ^ 0x5555), &c.req);
            prop_assert_eq!(&again, &got);

            // The optimized scheduler agrees with the obvious one.
            let expect = reference(&c.hosts, &c.placements, &c.req);
            match (&got, &expect) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(PlacementError::NoHost(e)), Err(("no host", s))) => prop_assert_eq!(e.server.as_str(), s),
                (Err(PlacementError::Tolerance { group, .. }), Err(("tolerance", g))) => prop_assert_eq!(group.as_str(), g),
                (a, b) => prop_assert!(false, "place: {:?}\nreference: {:?}", a, b),
            }

            match got {
                Ok(assigned) => {
                    // Every requested server placed exactly once, in order, on an up host that
                    // matches its selector.
                    prop_assert_eq!(assigned.len(), c.req.servers.len());
                    for (s, (name, host)) in c.req.servers.iter().zip(&assigned) {
                        prop_assert_eq!(&s.server, name);
                        let h = c.hosts.iter().find(|h| &h.name == host).expect("a pool host");
                        prop_assert_eq!(h.state, HostState::Up);
                        prop_assert!(h.matches(&c.req.units[&s.unit].groups[&s.group].hosts));
                    }
                    let mut after = c.placements.clone();
                    for (s, (_, host)) in c.req.servers.iter().zip(&assigned) {
                        after.push(Placement { unit: s.unit.clone(), group: s.group.clone(), server: s.server.clone(), host: host.clone(), size: s.size });
                    }
                    let before = host_usage(&c.hosts, &c.placements);
                    let now = host_usage(&c.hosts, &after);
                    for (b, a) in before.iter().zip(&now) {
                        // Never over capacity (a host already over it takes nothing that needs room).
                        prop_assert!(a.used.memory_mib <= b.used.memory_mib.max(a.allocatable.memory_mib), "{:?}", a);
                        prop_assert!(a.used.vcpus <= b.used.vcpus.max(a.allocatable.vcpus), "{:?}", a);
                    }
                    for (s, (_, host)) in c.req.servers.iter().zip(&assigned) {
                        let r = &c.req.units[&s.unit].groups[&s.group];
                        let same = |p: &&Placement| &p.host == host && p.unit == s.unit && p.group == s.group;
                        // Hard anti-affinity: the new server's host held no other of its group.
                        if r.anti_affinity == AntiAffinity::Hard {
                            prop_assert_eq!(after.iter().filter(same).count(), c.placements.iter().filter(same).count() + 1);
                            prop_assert_eq!(c.placements.iter().filter(same).count(), 0);
                        }
                        // max_per_host: never exceeded on a host that received a server.
                        if let Some(max) = r.max_per_host {
                            prop_assert!(after.iter().filter(same).count() <= max as usize);
                        }
                    }
                }
                Err(PlacementError::NoHost(e)) => {
                    let NoHostError { refusals, class, limit, .. } = *e;
                    // Every host listed once, in name order.
                    let mut names: Vec<&HostName> = c.hosts.iter().map(|h| &h.name).collect();
                    names.sort();
                    let listed: Vec<&HostName> = refusals.iter().map(|r| &r.host).collect();
                    prop_assert_eq!(listed, names);
                    for r in &refusals {
                        let h = c.hosts.iter().find(|h| h.name == r.host).expect("host");
                        let fixed = matches!(r.refusal, Refusal::Labels { .. })
                            || matches!(r.refusal, Refusal::Memory { needed_mib, .. } if needed_mib > h.allocatable().memory_mib)
                            || matches!(r.refusal, Refusal::Vcpus { needed, .. } if u64::from(needed) > h.allocatable().vcpus);
                        // A state refusal only for that state; a host not up is refused for its
                        // state unless it could never take the server.
                        let state = match h.state {
                            HostState::Up => None,
                            HostState::Draining => Some(Refusal::Draining),
                            HostState::Down => Some(Refusal::Down),
                            HostState::Maintenance => Some(Refusal::Maintenance),
                        };
                        match state {
                            Some(e) => prop_assert!(fixed || r.refusal == e, "{}", r),
                            None => prop_assert!(!matches!(r.refusal, Refusal::Down | Refusal::Draining | Refusal::Maintenance)),
                        }
                        // "Never" without a group limit: every host refuses for a fixed reason.
                        if class == FailureClass::NeverFits && limit.is_none() {
                            prop_assert!(fixed, "{}", r);
                        }
                    }
                }
                Err(_) => {}
            }
        }
    }
}
