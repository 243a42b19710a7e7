//! `cargo xtask demo [--keep] [--definition DIR]`: the main job of vsm end to end, on the
//! embedded defaults (local driver, SQLite), printing each step as a user would type it
//! (`$ vsm unit start shop`) followed by its output.
//!
//! It builds `vsm` (and `vsm-appserver`, which the example template runs) and runs the demo
//! script in a temporary directory. The script itself lives in `tests/demo.rs` and is shared
//! with the e2e test `demo::the_demo_runs_end_to_end`, which runs it in CI.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};

#[path = "../../tests/demo.rs"]
mod script;

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut keep = false;
    let mut definition = PathBuf::from("examples/definitions/shop");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--keep" => keep = true,
            "--definition" => match it.next() {
                Some(d) => definition = PathBuf::from(d),
                None => bail!("--definition needs a directory"),
            },
            other => bail!(
                "usage: cargo xtask demo [--keep] [--definition DIR]   (unknown argument `{other}`)"
            ),
        }
    }
    let root = crate::workspace_root();
    crate::run_cmd(
        "cargo build -p vsm-cli -p vsm-hypervisor --bins",
        crate::cargo().args(["build", "-p", "vsm-cli", "-p", "vsm-hypervisor", "--bins"]),
    )?;
    let vsm = target_dir().join("debug").join("vsm");
    if !vsm.exists() {
        bail!("{} is missing after the build", vsm.display());
    }
    let tmp = tempfile::Builder::new().prefix("vsm-demo-").tempdir()?;
    let config = script::DemoConfig {
        vsm,
        root,
        definition,
        work: tmp.path().to_path_buf(),
        live: true,
    };
    let started = Instant::now();
    let result = script::run_demo(&config);
    if keep {
        let kept = tmp.keep();
        eprintln!("\nkept the demo directory {}", kept.display());
    }
    match result {
        Ok(()) => {
            println!(
                "\nThe demo finished in {:.0} s: every step above ran against a real manager.",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(e) => Err(e.context("the demo failed (the unit and the manager were stopped)")),
    }
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => crate::workspace_root().join(dir),
        None => crate::workspace_root().join("target"),
    }
}
