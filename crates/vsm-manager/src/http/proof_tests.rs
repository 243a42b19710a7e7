//! Proof tests of the HTTP service (issue 8): the authorization matrix generated from the route
//! table, many concurrent clients on the same and different units, login rate limiting, owner-only
//! file permissions and passwords kept out of logs.
//!
//! They reuse the environment of `tests.rs` (a real server on 127.0.0.1 over the fake hypervisor)
//! and change nothing outside their temporary state directories.

mod authz;
mod concurrency;
mod console;
mod login;
