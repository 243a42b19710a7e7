//! `cargo xtask bench deploy`: vsm apply against `rsync -a` on 100 local server roots.

use anyhow::{Result, bail};

/// Runs the deploy benchmark.
pub(crate) fn run() -> Result<()> {
    bail!("the deploy benchmark is not written yet")
}
