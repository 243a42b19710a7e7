//! The `fake` driver: [`FakeHypervisor`], an in-memory [`Hypervisor`] for tests of every layer above,
//! with latency per operation, injected faults (the Nth call, the next N calls, one machine;
//! transient, permanent, time-out, hang), crashes and a record of calls.
//!
//! It never touches the system (unless [`FakeHypervisor::with_root_dir`] asks for a directory per
//! machine) and costs a map entry per machine, so 10,000 machines at zero latency are cheap.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use camino::Utf8PathBuf;
use tokio::sync::watch;

use crate::driver::Hypervisor;
use crate::error::{HypervisorError, Operation, Result};
use crate::types::{
    HostCapacity, HypervisorKind, LoadFigures, MachineInfo, MachineName, MachineSize, PowerState,
    ProvisionSpec, ShutdownOutcome, TemplateInfo, TemplateSource,
};

/// What an injected fault does to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The call fails with [`HypervisorError::Transient`] (and changes nothing).
    Transient,
    /// The call fails with [`HypervisorError::Permanent`] (and changes nothing).
    Permanent,
    /// The call fails with [`HypervisorError::Timeout`] (and changes nothing).
    Timeout,
    /// The call does not return until [`FakeHypervisor::release_hangs`]; then it proceeds normally.
    Hang,
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    /// The operation.
    pub op: Operation,
    /// The machine it named, if any.
    pub machine: Option<MachineName>,
    /// The 1-based number of this call among the calls of the same operation.
    pub nth: u64,
    /// When the call came in.
    pub at: std::time::Instant,
}

#[derive(Debug, Clone)]
struct MachineRule {
    machine: MachineName,
    op: Option<Operation>,
    fault: Fault,
}

#[derive(Debug, Default)]
struct Faults {
    /// op -> (1-based call number -> fault)
    nth: HashMap<Operation, BTreeMap<u64, Fault>>,
    /// op -> remaining faults for the next calls
    next: HashMap<Operation, Vec<Fault>>,
    machines: Vec<MachineRule>,
    /// operations whose every call hangs
    hung: Vec<Operation>,
    latency: HashMap<Operation, Duration>,
    rejected_templates: Vec<TemplateSource>,
    stubborn: Vec<MachineName>,
    counts: HashMap<Operation, u64>,
    calls: Vec<FakeCall>,
    record: bool,
    /// Every call fails as an unreachable host's would (a lost host, a partition).
    unreachable: bool,
}

#[derive(Debug, Clone)]
struct FakeMachine {
    info: MachineInfo,
    logs: Vec<String>,
    load: LoadFigures,
    starts: u64,
}

/// The machines of a fake "host": shared by every instance made with [`FakeHypervisor::reopen`].
#[derive(Debug, Default)]
struct Machines {
    map: BTreeMap<MachineName, FakeMachine>,
    next_address: u32,
}

/// An in-memory hypervisor with fault and latency injection.
///
/// Machines live in a store shared by [`reopen`](FakeHypervisor::reopen)ed instances (a
/// manager-restart stand-in); faults, latencies and the call record belong to one instance.
/// Addresses are allocated from `10.0.0.0/8` in provisioning order.
#[derive(Debug)]
pub struct FakeHypervisor {
    machines: Arc<Mutex<Machines>>,
    faults: Mutex<Faults>,
    release: watch::Sender<u64>,
    root_dir: Option<Utf8PathBuf>,
    capacity: HostCapacity,
}

/// The fake host's default capacity: 8 CPUs and 16 GiB.
pub const FAKE_CAPACITY: (u32, u64) = (8, 16 * 1024);

/// The size the fake driver reports for every template: 1 vCPU and 512 MiB.
pub const FAKE_SIZE: MachineSize = MachineSize {
    vcpus: 1,
    memory_mib: 512,
};

impl Default for FakeHypervisor {
    fn default() -> Self {
        FakeHypervisor::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeHypervisor {
    /// An empty fake with no latency, no faults, recording calls.
    pub fn new() -> Self {
        let (release, _) = watch::channel(0);
        FakeHypervisor {
            machines: Arc::new(Mutex::new(Machines::default())),
            faults: Mutex::new(Faults {
                record: true,
                ..Faults::default()
            }),
            release,
            root_dir: None,
            capacity: HostCapacity::new(FAKE_CAPACITY.0, FAKE_CAPACITY.1, "fake host"),
        }
    }

    /// Gives every machine a real directory `DIR/<machine>` (created at provisioning, removed at
    /// destroy) reported by [`Hypervisor::local_root`], so deploy code can write into fake machines.
    pub fn with_root_dir(mut self, dir: Utf8PathBuf) -> Self {
        self.root_dir = Some(dir);
        self
    }

    /// A new instance over the same machines (as a manager restart sees them), with no faults,
    /// no latency and an empty call record.
    pub fn reopen(&self) -> FakeHypervisor {
        let (release, _) = watch::channel(0);
        FakeHypervisor {
            machines: Arc::clone(&self.machines),
            faults: Mutex::new(Faults {
                record: true,
                ..Faults::default()
            }),
            release,
            root_dir: self.root_dir.clone(),
            capacity: self.capacity.clone(),
        }
    }

    /// Reports `cpus` CPUs and `memory_mib` MiB as this fake host's capacity.
    pub fn with_capacity(mut self, cpus: u32, memory_mib: u64) -> Self {
        self.capacity = HostCapacity::new(cpus, memory_mib, "fake host");
        self
    }

    /// Makes the fake host unreachable (every call fails with a transient error and changes
    /// nothing, as a lost host or a network partition looks) or reachable again; its machines
    /// stay as they were ("running" on the lost host).
    pub fn set_unreachable(&self, on: bool) {
        lock(&self.faults).unreachable = on;
    }

    /// Sets the latency of every call of `op`.
    pub fn set_latency(&self, op: Operation, latency: Duration) {
        lock(&self.faults).latency.insert(op, latency);
    }

    /// Sets the latency of every operation.
    pub fn set_latency_all(&self, latency: Duration) {
        let mut f = lock(&self.faults);
        for op in Operation::ALL {
            f.latency.insert(op, latency);
        }
    }

    /// Makes the `n`th call (1-based, counted since this instance was made) of `op` fail with `fault`.
    pub fn fail_nth(&self, op: Operation, n: u64, fault: Fault) {
        lock(&self.faults)
            .nth
            .entry(op)
            .or_default()
            .insert(n, fault);
    }

    /// Makes the next `count` calls of `op` fail with `fault`.
    pub fn fail_next(&self, op: Operation, count: usize, fault: Fault) {
        lock(&self.faults)
            .next
            .entry(op)
            .or_default()
            .extend(std::iter::repeat_n(fault, count));
    }

    /// Makes every call naming `machine` (of `op`, or of any operation when `None`) fail with
    /// `fault` until [`heal`](FakeHypervisor::heal) or [`clear_faults`](FakeHypervisor::clear_faults).
    pub fn fail_machine(&self, machine: &MachineName, op: Option<Operation>, fault: Fault) {
        lock(&self.faults).machines.push(MachineRule {
            machine: machine.clone(),
            op,
            fault,
        });
    }

    /// Removes the rules of [`fail_machine`](FakeHypervisor::fail_machine) for `machine`.
    pub fn heal(&self, machine: &MachineName) {
        lock(&self.faults)
            .machines
            .retain(|r| &r.machine != machine);
    }

    /// Makes every call of `op` hang until [`release_hangs`](FakeHypervisor::release_hangs).
    pub fn hang(&self, op: Operation) {
        lock(&self.faults).hung.push(op);
    }

    /// Removes every hang rule and lets hung calls go on (they then proceed normally).
    pub fn release_hangs(&self) {
        {
            let mut f = lock(&self.faults);
            for v in f.next.values_mut() {
                v.retain(|x| *x != Fault::Hang);
            }
            for v in f.nth.values_mut() {
                v.retain(|_, x| *x != Fault::Hang);
            }
            f.machines.retain(|r| r.fault != Fault::Hang);
            f.hung.clear();
        }
        self.release.send_modify(|epoch| *epoch += 1);
    }

    /// Removes every fault rule (and releases hung calls). Latencies stay.
    pub fn clear_faults(&self) {
        {
            let mut f = lock(&self.faults);
            f.nth.clear();
            f.next.clear();
            f.machines.clear();
            f.hung.clear();
            f.rejected_templates.clear();
            f.stubborn.clear();
        }
        self.release.send_modify(|epoch| *epoch += 1);
    }

    /// Makes [`inspect_template`](Hypervisor::inspect_template) and
    /// [`provision`](Hypervisor::provision) refuse `source` as [`HypervisorError::InvalidTemplate`].
    /// (Every other source is accepted.)
    pub fn reject_template(&self, source: &TemplateSource) {
        lock(&self.faults).rejected_templates.push(source.clone());
    }

    /// Makes `machine` ignore graceful shutdown: [`shutdown`](Hypervisor::shutdown) waits its whole
    /// time-out, then forces it off ([`ShutdownOutcome::Forced`]).
    pub fn set_stubborn(&self, machine: &MachineName) {
        lock(&self.faults).stubborn.push(machine.clone());
    }

    /// Simulates a crash: the machine becomes [`PowerState::Crashed`] and its log says so.
    pub fn crash(&self, machine: &MachineName) -> Result<()> {
        let mut m = lock(&self.machines);
        let fm = m
            .map
            .get_mut(machine)
            .ok_or_else(|| HypervisorError::not_found(machine))?;
        fm.info.state = PowerState::Crashed;
        fm.logs.push("kernel panic: simulated crash".to_owned());
        Ok(())
    }

    /// Sets a machine's power state directly (no log line, no fault checks).
    pub fn set_state(&self, machine: &MachineName, state: PowerState) -> Result<()> {
        let mut m = lock(&self.machines);
        let fm = m
            .map
            .get_mut(machine)
            .ok_or_else(|| HypervisorError::not_found(machine))?;
        fm.info.state = state;
        Ok(())
    }

    /// Removes a machine behind the manager's back (it "vanished").
    pub fn vanish(&self, machine: &MachineName) -> bool {
        lock(&self.machines).map.remove(machine).is_some()
    }

    /// Sets the figures [`load`](Hypervisor::load) reports for `machine`.
    pub fn set_load(&self, machine: &MachineName, load: LoadFigures) -> Result<()> {
        let mut m = lock(&self.machines);
        let fm = m
            .map
            .get_mut(machine)
            .ok_or_else(|| HypervisorError::not_found(machine))?;
        fm.load = load;
        Ok(())
    }

    /// Appends a line to a machine's console log.
    pub fn push_log(&self, machine: &MachineName, line: impl Into<String>) -> Result<()> {
        let mut m = lock(&self.machines);
        let fm = m
            .map
            .get_mut(machine)
            .ok_or_else(|| HypervisorError::not_found(machine))?;
        fm.logs.push(line.into());
        Ok(())
    }

    /// How many times `machine` was started (0 for unknown machines).
    pub fn start_count(&self, machine: &MachineName) -> u64 {
        lock(&self.machines)
            .map
            .get(machine)
            .map_or(0, |m| m.starts)
    }

    /// Number of machines.
    pub fn machine_count(&self) -> usize {
        lock(&self.machines).map.len()
    }

    /// Turns the call record on or off (on by default; off for big benchmarks).
    pub fn record_calls(&self, on: bool) {
        lock(&self.faults).record = on;
    }

    /// Every recorded call, in the order they began.
    pub fn calls(&self) -> Vec<FakeCall> {
        lock(&self.faults).calls.clone()
    }

    /// The recorded calls of `op`.
    pub fn calls_of(&self, op: Operation) -> Vec<FakeCall> {
        lock(&self.faults)
            .calls
            .iter()
            .filter(|c| c.op == op)
            .cloned()
            .collect()
    }

    /// How many calls of `op` this instance received (recorded or not).
    pub fn call_count(&self, op: Operation) -> u64 {
        lock(&self.faults).counts.get(&op).copied().unwrap_or(0)
    }

    /// Empties the call record (counts for [`fail_nth`](FakeHypervisor::fail_nth) go on).
    pub fn clear_calls(&self) {
        lock(&self.faults).calls.clear();
    }

    /// Records the call, applies latency and faults. `Ok` means: perform the operation.
    async fn enter(&self, op: Operation, machine: Option<&MachineName>) -> Result<()> {
        let (latency, fault, mut rx) = {
            let mut f = lock(&self.faults);
            let count = f.counts.entry(op).or_insert(0);
            *count += 1;
            let nth = *count;
            if f.record {
                f.calls.push(FakeCall {
                    op,
                    machine: machine.cloned(),
                    nth,
                    at: std::time::Instant::now(),
                });
            }
            let mut fault = f.nth.get_mut(&op).and_then(|m| m.remove(&nth));
            if f.unreachable {
                fault = Some(Fault::Transient);
            }
            if fault.is_none() && f.hung.contains(&op) {
                fault = Some(Fault::Hang);
            }
            if fault.is_none()
                && let Some(queue) = f.next.get_mut(&op)
                && !queue.is_empty()
            {
                fault = Some(queue.remove(0));
            }
            if fault.is_none()
                && let Some(m) = machine
            {
                fault = f
                    .machines
                    .iter()
                    .find(|r| &r.machine == m && r.op.is_none_or(|o| o == op))
                    .map(|r| r.fault);
            }
            let latency = f.latency.get(&op).copied().unwrap_or_default();
            (latency, fault, self.release.subscribe())
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match fault {
            None => Ok(()),
            Some(Fault::Hang) => {
                // Wait for release_hangs / clear_faults (or forever if the instance goes away).
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
            Some(Fault::Transient) => Err(HypervisorError::transient(
                op,
                machine,
                "injected transient fault",
            )),
            Some(Fault::Permanent) => Err(HypervisorError::permanent(
                op,
                machine,
                "injected permanent fault",
            )),
            Some(Fault::Timeout) => Err(HypervisorError::timeout(op, machine, latency)),
        }
    }

    fn template_rejected(&self, source: &TemplateSource) -> bool {
        lock(&self.faults).rejected_templates.contains(source)
    }

    fn with_machine<T>(
        &self,
        machine: &MachineName,
        f: impl FnOnce(&mut FakeMachine) -> T,
    ) -> Result<T> {
        let mut m = lock(&self.machines);
        m.map
            .get_mut(machine)
            .map(f)
            .ok_or_else(|| HypervisorError::not_found(machine))
    }
}

fn address_of(n: u32) -> IpAddr {
    // 10.0.0.1, 10.0.0.2, … skipping .0 and .255 host parts.
    let host = n % 254 + 1;
    let rest = n / 254;
    IpAddr::V4(Ipv4Addr::new(
        10,
        ((rest >> 8) & 0xff) as u8,
        (rest & 0xff) as u8,
        host as u8,
    ))
}

#[async_trait]
impl Hypervisor for FakeHypervisor {
    fn kind(&self) -> HypervisorKind {
        HypervisorKind::Fake
    }

    async fn inspect_template(&self, source: &TemplateSource) -> Result<TemplateInfo> {
        self.enter(Operation::InspectTemplate, None).await?;
        if self.template_rejected(source) {
            return Err(HypervisorError::InvalidTemplate {
                template: source.clone(),
                reason: "rejected by the fake driver".to_owned(),
                source: None,
            });
        }
        let mut info = TemplateInfo::new(source.clone(), format!("fake:{source}"));
        info.description = Some("fake template".to_owned());
        info.size = Some(FAKE_SIZE);
        Ok(info)
    }

    async fn capacity(&self) -> Result<HostCapacity> {
        self.enter(Operation::Capacity, None).await?;
        Ok(self.capacity.clone())
    }

    async fn provision(&self, spec: &ProvisionSpec) -> Result<MachineInfo> {
        self.enter(Operation::Provision, Some(&spec.machine))
            .await?;
        if self.template_rejected(&spec.template) {
            return Err(HypervisorError::InvalidTemplate {
                template: spec.template.clone(),
                reason: "rejected by the fake driver".to_owned(),
                source: None,
            });
        }
        if let Some(f) = &spec.fingerprint
            && *f != format!("fake:{}", spec.template)
        {
            return Err(HypervisorError::InvalidTemplate {
                template: spec.template.clone(),
                reason: format!("its fingerprint is fake:{}, not {f}", spec.template),
                source: None,
            });
        }
        let info = {
            let mut m = lock(&self.machines);
            if m.map.contains_key(&spec.machine) {
                return Err(HypervisorError::AlreadyExists {
                    machine: spec.machine.clone(),
                });
            }
            let address = address_of(m.next_address);
            m.next_address += 1;
            let info = MachineInfo::from_spec(spec, PowerState::Stopped)
                .with_address(Some(address))
                .with_host("fake");
            m.map.insert(
                spec.machine.clone(),
                FakeMachine {
                    info: info.clone(),
                    logs: vec![format!("provisioned from {}", spec.template)],
                    load: LoadFigures::default(),
                    starts: 0,
                },
            );
            info
        };
        if let Some(root) = self.local_root(&spec.machine) {
            tokio::fs::create_dir_all(&root).await.map_err(|e| {
                HypervisorError::permanent_from(
                    Operation::Provision,
                    Some(&spec.machine),
                    format!("creating {root}"),
                    e,
                )
            })?;
        }
        Ok(info)
    }

    async fn start(&self, machine: &MachineName) -> Result<()> {
        self.enter(Operation::Start, Some(machine)).await?;
        self.with_machine(machine, |m| {
            if m.info.state != PowerState::Running {
                m.info.state = PowerState::Running;
                m.starts += 1;
                m.logs.push("booted".to_owned());
                m.load = LoadFigures::new(Some(1.0), Some(Duration::ZERO), Some(64 << 20), Some(1));
            }
        })
    }

    async fn shutdown(&self, machine: &MachineName, timeout: Duration) -> Result<ShutdownOutcome> {
        self.enter(Operation::Shutdown, Some(machine)).await?;
        let running = self.with_machine(machine, |m| m.info.state.is_active())?;
        if !running {
            self.with_machine(machine, |m| m.info.state = PowerState::Stopped)?;
            return Ok(ShutdownOutcome::AlreadyStopped);
        }
        let stubborn = lock(&self.faults).stubborn.contains(machine);
        if stubborn {
            tokio::time::sleep(timeout).await;
        }
        self.with_machine(machine, |m| {
            m.info.state = PowerState::Stopped;
            m.load = LoadFigures::default();
            m.logs.push(if stubborn {
                "powered off".to_owned()
            } else {
                "shut down".to_owned()
            });
        })?;
        Ok(if stubborn {
            ShutdownOutcome::Forced
        } else {
            ShutdownOutcome::Graceful
        })
    }

    async fn destroy(&self, machine: &MachineName) -> Result<()> {
        self.enter(Operation::Destroy, Some(machine)).await?;
        if lock(&self.machines).map.remove(machine).is_none() {
            return Err(HypervisorError::not_found(machine));
        }
        if let Some(root) = self.local_root(machine) {
            match tokio::fs::remove_dir_all(&root).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(HypervisorError::permanent_from(
                        Operation::Destroy,
                        Some(machine),
                        format!("removing {root}"),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    async fn state(&self, machine: &MachineName) -> Result<PowerState> {
        self.enter(Operation::State, Some(machine)).await?;
        self.with_machine(machine, |m| m.info.state)
    }

    async fn info(&self, machine: &MachineName) -> Result<MachineInfo> {
        self.enter(Operation::Info, Some(machine)).await?;
        self.with_machine(machine, |m| m.info.clone())
    }

    async fn list(&self) -> Result<Vec<MachineInfo>> {
        self.enter(Operation::List, None).await?;
        Ok(lock(&self.machines)
            .map
            .values()
            .map(|m| m.info.clone())
            .collect())
    }

    async fn address(&self, machine: &MachineName) -> Result<Option<IpAddr>> {
        self.enter(Operation::Address, Some(machine)).await?;
        self.with_machine(machine, |m| m.info.address)
    }

    async fn logs(&self, machine: &MachineName, tail_lines: usize) -> Result<Vec<String>> {
        self.enter(Operation::Logs, Some(machine)).await?;
        self.with_machine(machine, |m| {
            let skip = m.logs.len().saturating_sub(tail_lines);
            m.logs[skip..].to_vec()
        })
    }

    async fn load(&self, machine: &MachineName) -> Result<LoadFigures> {
        self.enter(Operation::Load, Some(machine)).await?;
        self.with_machine(machine, |m| m.load)
    }

    fn local_root(&self, machine: &MachineName) -> Option<Utf8PathBuf> {
        self.root_dir.as_ref().map(|d| d.join(machine.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> MachineName {
        MachineName::new(s).expect("valid")
    }

    fn spec(s: &str) -> ProvisionSpec {
        ProvisionSpec::new(name(s), TemplateSource::new("t").expect("source"), 1)
    }

    #[tokio::test]
    async fn nth_call_fails_once() {
        let f = FakeHypervisor::new();
        f.fail_nth(Operation::Provision, 2, Fault::Transient);
        f.provision(&spec("a")).await.expect("first call works");
        let err = f.provision(&spec("b")).await.expect_err("second fails");
        assert!(err.is_transient(), "{err}");
        f.provision(&spec("b")).await.expect("third works");
        assert_eq!(f.machine_count(), 2);
        assert_eq!(f.call_count(Operation::Provision), 3);
    }

    #[tokio::test]
    async fn machine_rule_and_heal() {
        let f = FakeHypervisor::new();
        f.provision(&spec("a")).await.expect("provision");
        f.fail_machine(&name("a"), Some(Operation::Start), Fault::Permanent);
        let err = f.start(&name("a")).await.expect_err("start fails");
        assert!(!err.is_transient());
        assert_eq!(
            f.state(&name("a")).await.expect("state"),
            PowerState::Stopped
        );
        f.heal(&name("a"));
        f.start(&name("a")).await.expect("start works");
        assert_eq!(
            f.state(&name("a")).await.expect("state"),
            PowerState::Running
        );
    }

    #[tokio::test]
    async fn hang_until_released() {
        let f = Arc::new(FakeHypervisor::new());
        f.provision(&spec("a")).await.expect("provision");
        f.hang(Operation::Start);
        let timed = tokio::time::timeout(Duration::from_millis(20), f.start(&name("a"))).await;
        assert!(timed.is_err(), "start hangs");
        let g = Arc::clone(&f);
        let task = tokio::spawn(async move { g.start(&name("a")).await });
        tokio::task::yield_now().await;
        f.release_hangs();
        task.await.expect("join").expect("start after release");
        assert_eq!(
            f.state(&name("a")).await.expect("state"),
            PowerState::Running
        );
    }

    #[tokio::test]
    async fn crash_and_stubborn_shutdown() {
        let f = FakeHypervisor::new();
        f.provision(&spec("a")).await.expect("provision");
        f.start(&name("a")).await.expect("start");
        f.crash(&name("a")).expect("crash");
        assert_eq!(
            f.state(&name("a")).await.expect("state"),
            PowerState::Crashed
        );
        f.start(&name("a")).await.expect("restart");
        assert_eq!(f.start_count(&name("a")), 2);
        f.set_stubborn(&name("a"));
        let out = f
            .shutdown(&name("a"), Duration::from_millis(1))
            .await
            .expect("shutdown");
        assert_eq!(out, ShutdownOutcome::Forced);
    }

    #[test]
    fn addresses_are_distinct() {
        let a: std::collections::HashSet<_> = (0..70_000).map(address_of).collect();
        assert_eq!(a.len(), 70_000);
    }
}
