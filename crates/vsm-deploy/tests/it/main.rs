//! Integration tests of vsm-deploy: validation, import/diff/export, apply, batches, ssh.
#![allow(clippy::unwrap_used, missing_docs)]

mod apply;
mod example;
mod fixtures;
mod ssh;
mod store;
mod tar_stream;
mod validate;
