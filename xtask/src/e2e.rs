//! `cargo xtask e2e [FILTER] [--driver local|libvirt]`: builds the `vsm` binary (and the
//! binaries templates run beside it), then runs the end-to-end suite in `tests/e2e` against it
//! with `VSM_BIN` pointing at the build. A failing test prints the `vsm` command line that failed
//! with its exit code and output. `--driver libvirt` builds vsm with the libvirt driver and runs
//! the tests that allow both drivers on it.

use anyhow::{Result, bail};

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut filter: Option<String> = None;
    let mut driver = "local".to_owned();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--driver" => match it.next().map(String::as_str) {
                Some(d @ ("local" | "libvirt")) => driver = d.to_owned(),
                _ => bail!("--driver takes `local` or `libvirt`"),
            },
            "-h" | "--help" => {
                eprintln!("usage: cargo xtask e2e [FILTER] [--driver local|libvirt]");
                return Ok(());
            }
            other if other.starts_with('-') => bail!("unknown option `{other}`"),
            other if filter.is_none() => filter = Some(other.to_owned()),
            other => bail!("only one FILTER is allowed (got `{other}` too)"),
        }
    }

    let mut build = crate::cargo();
    build.args(["build", "-p", "vsm-cli", "-p", "vsm-hypervisor", "--bins"]);
    if driver == "libvirt" {
        build.args(["--features", "vsm-cli/libvirt"]);
    }
    crate::run_cmd("build vsm", &mut build)?;
    let bin = crate::target_dir()?.join("debug").join("vsm");
    if !bin.exists() {
        bail!("{} is missing after the build", bin.display());
    }

    let mut test = crate::cargo();
    test.args(["test", "-p", "vsm-tests", "--test", "e2e", "--"]);
    if let Some(f) = &filter {
        test.arg(f);
    }
    test.env("VSM_BIN", &bin).env("VSM_E2E_DRIVER", &driver);
    let what = match &filter {
        Some(f) => format!("end-to-end tests matching `{f}` (driver {driver})"),
        None => format!("end-to-end tests (driver {driver})"),
    };
    crate::run_cmd(&what, &mut test)
}
