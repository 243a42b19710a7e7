//! vsm-hypervisor: the async `Hypervisor` trait and its drivers (local, fake, static, libvirt).

pub mod ssh;
pub mod static_driver;

#[cfg(feature = "libvirt")]
pub mod libvirt;

#[cfg(feature = "test-support")]
pub mod testing;
