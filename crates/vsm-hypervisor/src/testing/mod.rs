//! Test support for every layer above the drivers (behind the `test-support` feature).

pub mod contract;
pub mod local;
pub mod sshd;
