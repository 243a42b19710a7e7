//! `cargo xtask bench engine`: unit start of 1,000 and 10,000 servers on the fake driver.

use anyhow::{Result, bail};

/// Runs the engine benchmark.
pub(crate) fn run() -> Result<()> {
    bail!("the engine benchmark is not written yet")
}
