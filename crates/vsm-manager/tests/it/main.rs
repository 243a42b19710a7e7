//! Integration tests of the manager's operation engine through the public `Manager` API, on the
//! in-memory `FakeHypervisor` (real directories per machine, so applies write real files).

mod crash;
mod embed;
mod engine;
mod support;
