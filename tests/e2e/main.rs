//! End-to-end tests: drive the real `vsm` binary against a real manager process (started on a
//! free loopback port in a temporary directory, stopped on drop) and check exit codes and JSON
//! output for every command of the contract, both roles, including refusals.
//!
//! Run them with `cargo xtask e2e [FILTER]` (which prints each failing command with its output)
//! or `cargo test -p vsm-tests`.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod accounts;
mod backup;
mod busy;
mod cli;
mod crash;
mod demo;
mod ha;
mod hosts;
mod import_crash;
mod lifecycle;
mod manager;
mod order;
mod postgres;
mod readme_tour;
mod registered;
mod stream;
mod uninstall;
mod units;
mod vm;
mod vmlab_smoke;
mod watch;
