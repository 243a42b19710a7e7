//! Test support for every layer above the drivers (behind the `test-support` feature).

pub mod contract;
pub mod local;
pub mod sshd;

/// Whether this is CI (`CI=true`, or `1`), where a test whose preconditions are missing must
/// fail rather than print `skipped: <reason>` (the VM lab and the PostgreSQL fixture decide so).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}
