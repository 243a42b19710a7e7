//! The [`Hypervisor`] trait: what the manager asks of any place that runs machines.
//!
//! Shaped like cloud-hypervisor's `hypervisor::Hypervisor`: `Send + Sync`, object-safe, used as
//! `Arc<dyn Hypervisor>`, optional capabilities as methods with defaults; async through
//! `#[async_trait]`. This module holds only the contract; drivers live in their own modules.

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use camino::Utf8PathBuf;

use crate::error::{HypervisorError, Operation, Result};
use crate::types::{
    HostCapacity, HypervisorKind, LoadFigures, MachineInfo, MachineName, PowerState, ProvisionSpec,
    ShutdownOutcome, TemplateInfo, TemplateSource,
};

/// A driver that creates, runs and removes machines.
///
/// # Contract (checked for every driver by `testing::contract`, feature `test-support`)
///
/// - Every method that names a machine fails with [`HypervisorError::NotFound`] when the driver
///   does not know it.
/// - [`start`](Hypervisor::start) of a running machine and [`shutdown`](Hypervisor::shutdown) of
///   a stopped (or crashed) machine succeed and change nothing: callers may retry them freely.
/// - [`destroy`](Hypervisor::destroy) powers a running machine off first.
/// - [`list`](Hypervisor::list) reports every machine this driver provisioned and has not
///   destroyed, also from a fresh driver instance opened on the same state (so the manager can
///   reconcile after it restarts).
/// - A [`HypervisorError::Transient`] error means the same call may simply be retried.
/// - Methods do not impose their own overall time-out unless documented: callers wrap them in
///   `tokio::time::timeout` as their policy says.
#[async_trait]
pub trait Hypervisor: Send + Sync + std::fmt::Debug {
    /// Which driver this is.
    fn kind(&self) -> HypervisorKind;

    /// A short human label for this driver instance (local: its state directory; libvirt: its
    /// connection URI). Defaults to the kind.
    fn describe(&self) -> String {
        self.kind().to_string()
    }

    /// Checks a template source and reports what it is. Provisioning from the source must work
    /// when this succeeds. Errors: [`HypervisorError::InvalidTemplate`].
    async fn inspect_template(&self, source: &TemplateSource) -> Result<TemplateInfo>;

    /// Creates a stopped machine cloned from `spec.template` and returns its description.
    /// Errors: [`HypervisorError::AlreadyExists`], [`HypervisorError::InvalidTemplate`].
    async fn provision(&self, spec: &ProvisionSpec) -> Result<MachineInfo>;

    /// Powers the machine on. Idempotent: a running machine stays as it is. A crashed machine is
    /// started again.
    async fn start(&self, machine: &MachineName) -> Result<()>;

    /// Asks the machine to shut down, waits up to `timeout`, then powers it off. Idempotent: a
    /// stopped or crashed machine gives [`ShutdownOutcome::AlreadyStopped`] (and a crashed one
    /// becomes stopped).
    async fn shutdown(&self, machine: &MachineName, timeout: Duration) -> Result<ShutdownOutcome>;

    /// Removes the machine and its disk (powering it off first if it runs). Afterwards the name is
    /// free again.
    async fn destroy(&self, machine: &MachineName) -> Result<()>;

    /// The machine's power state now.
    async fn state(&self, machine: &MachineName) -> Result<PowerState>;

    /// Everything the driver knows about one machine. The default searches [`list`](Hypervisor::list).
    async fn info(&self, machine: &MachineName) -> Result<MachineInfo> {
        self.list()
            .await?
            .into_iter()
            .find(|m| &m.name == machine)
            .ok_or_else(|| HypervisorError::not_found(machine))
    }

    /// Every machine the driver knows, sorted by name.
    async fn list(&self) -> Result<Vec<MachineInfo>>;

    /// The machine's network address, if it has one now (or permanently, as local and static
    /// machines do).
    async fn address(&self, machine: &MachineName) -> Result<Option<IpAddr>>;

    /// The last `tail_lines` lines of the machine's console / log output, oldest first.
    async fn logs(&self, machine: &MachineName, tail_lines: usize) -> Result<Vec<String>>;

    /// What the host this driver runs machines on offers (for placement and `vsm host show`).
    /// Defaults to [`HypervisorError::Unsupported`].
    async fn capacity(&self) -> Result<HostCapacity> {
        Err(HypervisorError::Unsupported {
            kind: self.kind(),
            op: Operation::Capacity,
        })
    }

    /// Load figures for monitoring. Defaults to [`HypervisorError::Unsupported`].
    async fn load(&self, machine: &MachineName) -> Result<LoadFigures> {
        let _ = machine;
        Err(HypervisorError::Unsupported {
            kind: self.kind(),
            op: Operation::Load,
        })
    }

    /// Capability: the machine's root directory on this host, when the machine's file system is
    /// a plain directory here (local driver). The deploy layer's local transport writes into it
    /// (replacing files by rename, never rewriting them in place). Defaults to `None`.
    fn local_root(&self, machine: &MachineName) -> Option<Utf8PathBuf> {
        let _ = machine;
        None
    }

    /// Capability: how to reach the machine over SSH, when this driver drives existing machines
    /// over SSH (static driver). The deploy layer's ssh transport writes through it. Defaults to
    /// `None`.
    fn ssh_target(&self, machine: &MachineName) -> Option<crate::ssh::SshTarget> {
        let _ = machine;
        None
    }

    /// Capability: the machines are VMs with a guest operating system (libvirt). Then a start
    /// is done only once the guest answers — a machine that runs although its start failed is
    /// not started — and a guest may get another address each time it boots. Defaults to
    /// `false` (a running machine is a started one; its address is fixed).
    fn boots_guests(&self) -> bool {
        false
    }

    /// Capability: how to reach a machine's guest operating system over SSH and where its
    /// definitions go, for drivers of real VMs whose template declares guest access (libvirt).
    /// `Ok(None)`: the machine's template declares no access, so nothing can be delivered into
    /// it. The address is the one discovered now. A machine that is powered off is booted for
    /// the delivery and says so ([`GuestAccess::booted_for_delivery`]). Defaults to `Ok(None)`.
    async fn guest_access(&self, machine: &MachineName) -> Result<Option<GuestAccess>> {
        let _ = machine;
        Ok(None)
    }
}

/// How to reach a VM's guest over SSH (see [`Hypervisor::guest_access`]).
#[derive(Debug, Clone)]
pub struct GuestAccess {
    /// The SSH target at the guest's discovered address.
    pub target: crate::ssh::SshTarget,
    /// The directory inside the guest that definitions are applied to.
    pub root: Utf8PathBuf,
    /// The machine was powered off and the driver booted it only to deliver definitions: the
    /// caller powers it off again ([`Hypervisor::shutdown`]) once it is done.
    pub booted_for_delivery: bool,
}
