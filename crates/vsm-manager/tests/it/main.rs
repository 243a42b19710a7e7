//! Integration tests of the manager's operation engine through the public `Manager` API, on the
//! in-memory `FakeHypervisor` (real directories per machine, so applies write real files).

mod console;
mod crash;
mod crash_kit;
mod crash_ops;
mod crash_script;
mod embed;
mod engine;
mod faults;
mod file_driver;
mod ha;
mod history;
mod hosts;
#[cfg(feature = "libvirt")]
mod libvirt_hosts;
mod pool_moves;
mod pool_support;
mod postgres;
mod support;
