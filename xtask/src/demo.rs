//! `cargo xtask demo [--keep] [--definition DIR]`: the main job of vsm end to end, on the
//! embedded defaults (local driver, SQLite), printing each step as a user would type it
//! (`$ vsm unit start shop`) followed by its output.
//!
//! It builds `vsm` (and `vsm-appserver`, which the example template runs) and runs the demo
//! script in a temporary directory. The script itself lives in `tests/demo.rs` and is shared
//! with the e2e test `demo::the_demo_runs_end_to_end`, which runs it in CI.
//!
//! `--vm` runs the same story on real VMs: a [`VmLab`] (its own network namespace, libvirtd,
//! DHCP network and storage pool; needs root, QEMU and libvirt, which `cargo xtask deps`
//! installs), the guest of `cargo xtask guest-image` as the template domain, and `vsm` built with
//! the libvirt driver. Where the machine does not allow it, it says why and fails.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};

use vsm_tests::demo as script;
use vsm_tests::vmlab::VmLab;

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut keep = false;
    let mut vm = false;
    let mut definition = PathBuf::from("examples/definitions/shop");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--keep" => keep = true,
            "--vm" => vm = true,
            "--definition" => match it.next() {
                Some(d) => definition = PathBuf::from(d),
                None => bail!("--definition needs a directory"),
            },
            other => bail!(
                "usage: cargo xtask demo [--vm] [--keep] [--definition DIR]   (unknown argument `{other}`)"
            ),
        }
    }
    let root = crate::workspace_root();
    // Real VMs: the lab first, so that a machine that cannot run them says so at once.
    let lab = if vm {
        crate::deps::ensure()?;
        match VmLab::start("demo") {
            Ok(lab) => Some(lab),
            Err(skip) => bail!(
                "the demo cannot run on real VMs on this machine: {skip}\n(`cargo xtask demo` without --vm runs the same story on the local driver)"
            ),
        }
    } else {
        None
    };
    if vm {
        crate::run_cmd(
            "cargo build -p vsm-cli -p vsm-hypervisor --bins --features vsm-cli/libvirt",
            crate::cargo().args([
                "build",
                "-p",
                "vsm-cli",
                "-p",
                "vsm-hypervisor",
                "--bins",
                "--features",
                "vsm-cli/libvirt",
            ]),
        )?;
    } else {
        crate::run_cmd(
            "cargo build -p vsm-cli -p vsm-hypervisor --bins",
            crate::cargo().args(["build", "-p", "vsm-cli", "-p", "vsm-hypervisor", "--bins"]),
        )?;
    }
    let vsm = crate::target_dir()?.join("debug").join("vsm");
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
        vm: None,
    };
    let started = Instant::now();
    let result = match &lab {
        None => script::run_demo(&config),
        Some(lab) => {
            let guest = crate::target_dir()?.join("guest");
            crate::guest_image::build(&guest)?;
            let template = vsm_tests::vmguest::register_guest_template(lab, &guest);
            println!(
                "\nThe VMs run in the network namespace {} (libvirt {}); this demo runs inside it.",
                lab.netns(),
                lab.uri()
            );
            let config = script::DemoConfig {
                vm: Some(script::DemoVm {
                    libvirt_uri: lab.uri(),
                    template_file: template.into(),
                }),
                ..config
            };
            // The demo's commands and probes run on the lab's network; back out before the
            // lab is dropped (it kills what is left in its namespace).
            let inside = lab.enter()?;
            let result = script::run_demo(&config);
            drop(inside);
            result
        }
    };
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
