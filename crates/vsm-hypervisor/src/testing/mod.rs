//! Test support for every layer above the drivers (behind the `test-support` feature).

pub mod sshd;
