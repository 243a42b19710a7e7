//! `cargo xtask bench [NAME...]`: runs the named benchmarks (all when none is named).
//!
//! Each benchmark prints its own table and writes `target/bench/<name>.json`.

use anyhow::{Result, bail};

/// Runs the benchmarks named in `args` (all of them when `args` is empty).
pub(crate) fn run(args: &[String]) -> Result<()> {
    let all = ["deploy", "engine"];
    let names: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    for name in names {
        match name {
            "deploy" => crate::bench_deploy::run()?,
            "engine" => crate::bench_engine::run()?,
            other => bail!("unknown benchmark `{other}`; known: {}", all.join(", ")),
        }
    }
    Ok(())
}
