//! `cargo xtask demo`: the main job of vsm end to end, on the embedded defaults, printing each
//! step as a user would type it.

use anyhow::{Result, bail};

/// Runs the task.
pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("the demo is being written")
}
