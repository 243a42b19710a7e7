//! vsm-hypervisor: the async `Hypervisor` trait and its drivers (local, fake, static, libvirt).
//!
//! The trait ([`Hypervisor`]), its error ([`HypervisorError`]) and its value types
//! ([`MachineName`], [`ProvisionSpec`], [`PowerState`], …) are the contract; each driver lives in
//! its own module. This crate knows nothing of units, accounts or definitions and must not depend
//! on `vsm-core`; it never picks a driver from the environment (the binary builds and injects them).

pub mod cloud_init;
pub mod driver;
pub mod error;
pub mod local;
pub mod types;
pub mod vm_template;

#[cfg(feature = "test-support")]
pub mod fake;

pub use driver::{GuestAccess, Hypervisor};
pub use error::{BoxError, HypervisorError, Operation, Result};
pub use types::{
    EmptyTemplateSource, HostCapacity, HypervisorKind, InvalidMachineName, LoadFigures,
    MACHINE_NAME_MAX, MachineInfo, MachineName, MachineSize, PowerState, ProvisionSpec,
    ShutdownOutcome, TemplateInfo, TemplateSource,
};

pub mod ssh;
pub mod static_driver;

#[cfg(feature = "libvirt")]
pub mod libvirt;

#[cfg(feature = "test-support")]
pub mod testing;
