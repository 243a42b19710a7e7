//! Integration tests of vsm-hypervisor: the driver contract suite run against every driver.

mod appserver;
mod fake;
mod local;
mod static_driver;

#[cfg(feature = "libvirt")]
mod libvirt;
