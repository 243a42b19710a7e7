//! `cargo xtask e2e [FILTER] [--driver local|libvirt]`: builds `vsm` and runs the end-to-end
//! suite in `tests/` against it.

use anyhow::{Result, bail};

/// Runs the task.
pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("the end-to-end harness is being written")
}
