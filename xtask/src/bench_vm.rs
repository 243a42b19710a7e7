//! `cargo xtask bench vm`: vsm on real VMs against the time QEMU alone takes.
//!
//! In a [`VmLab`] (its own network namespace, libvirtd, DHCP network and pool; root needed)
//! with the guest of `cargo xtask guest-image`, each run measures, one after the other:
//!
//! - **floor**: 4 domains made beforehand from the same guest (a qcow2 overlay and a
//!   cloud-init seed each), started with one `virsh start` each, until every guest answers ssh
//!   — the time QEMU and the guest's own boot take;
//! - **vsm**: `vsm unit create` of the example unit `shop` (2 groups × 2 VMs: clone, seed,
//!   define, boot, wait for ssh), `unit import`, `unit apply` (definitions over ssh) and
//!   `unit start` (the service, then health checks in group order), through the binary.
//!
//! Reports the medians of `--runs` runs and vsm's ratio to the floor (goal ≤ 1.2×); writes
//! `target/bench/vm.json`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use vsm_tests::vmlab::VmLab;
use vsm_tests::{Manager, StartOptions, vmguest};

use crate::bench::{Opts, median, ms};

/// Machines per run.
const MACHINES: usize = 4;

/// Runs the benchmark.
pub(crate) fn run(opts: &Opts) -> Result<()> {
    let lab = match VmLab::start("bench-vm") {
        Ok(lab) => lab,
        Err(skip) => bail!("the VM benchmark cannot run here: {skip}"),
    };
    let guest = crate::target_dir()?.join("guest");
    crate::guest_image::build(&guest)?;
    let template = vmguest::register_guest_template(&lab, &guest);
    let mut floor = Vec::new();
    let mut vsm = Vec::new();
    let mut phases: Vec<[Duration; 4]> = Vec::new();
    for run in 1..=opts.runs {
        let f = floor_run(&lab, &guest, run)?;
        eprintln!(
            "run {run}: floor (virsh start of {MACHINES} made domains until ssh answers) {:.1}s",
            f.as_secs_f64()
        );
        floor.push(f);
        let (total, p) = vsm_run(&lab, &template)?;
        eprintln!(
            "run {run}: vsm {:.1}s (create {:.1}s, import {:.1}s, apply {:.1}s, start {:.1}s)",
            total.as_secs_f64(),
            p[0].as_secs_f64(),
            p[1].as_secs_f64(),
            p[2].as_secs_f64(),
            p[3].as_secs_f64()
        );
        vsm.push(total);
        phases.push(p);
    }
    let floor_m = median(floor.clone());
    let vsm_m = median(vsm.clone());
    let ratio = vsm_m.as_secs_f64() / floor_m.as_secs_f64().max(f64::EPSILON);
    let phase = |i: usize| median(phases.iter().map(|p| p[i]).collect());
    println!(
        "\nVM benchmark: {MACHINES} VMs under TCG, median of {} runs",
        opts.runs
    );
    println!("| measurement | time |");
    println!("|---|---|");
    println!(
        "| floor: `virsh start` of {MACHINES} made domains until ssh answers | {:.1} s |",
        floor_m.as_secs_f64()
    );
    println!(
        "| vsm: create + import + apply + start (through the binary) | {:.1} s ({ratio:.2}× the floor; goal ≤ 1.2×) |",
        vsm_m.as_secs_f64()
    );
    for (i, name) in ["create", "import", "apply", "start"].iter().enumerate() {
        println!("| vsm {name} | {:.1} s |", phase(i).as_secs_f64());
    }
    let path = crate::bench::write_json(
        "vm",
        json!({
            "machines": MACHINES,
            "runs": opts.runs,
            "floor_ms": floor.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "vsm_ms": vsm.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "median_floor_ms": ms(floor_m),
            "median_vsm_ms": ms(vsm_m),
            "median_phases_ms": {
                "create": ms(phase(0)),
                "import": ms(phase(1)),
                "apply": ms(phase(2)),
                "start": ms(phase(3)),
            },
            "ratio": ratio,
            "goal_ratio": 1.2,
            "versions": {
                "qemu": crate::bench::first_line("qemu-system-x86_64", &["--version"]),
                "libvirt": crate::bench::first_line("libvirtd", &["--version"]),
            },
        }),
    )?;
    println!("\nwrote {path}");
    Ok(())
}

/// Boots `MACHINES` pre-made domains of the guest and waits until each answers ssh.
fn floor_run(lab: &VmLab, guest: &Path, run: usize) -> Result<Duration> {
    let base = lab.pool_dir().join("vsm-guest-base.qcow2");
    let public = std::fs::read_to_string(lab.dir().join("id_ed25519.pub"))?;
    let mut names = Vec::new();
    for i in 0..MACHINES {
        let name = format!("floor-{run}-{i}");
        let disk = lab.dir().join(format!("{name}.qcow2"));
        let seed = lab.dir().join(format!("{name}-seed.img"));
        let status = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&base)
            .arg(&disk)
            .status()?;
        if !status.success() {
            bail!("qemu-img create of {} failed", disk.display());
        }
        let image = vsm_hypervisor::cloud_init::Seed {
            instance_id: format!("{name}-1"),
            hostname: name.clone(),
            authorized_keys: vec![public.trim().to_owned()],
        }
        .image()?;
        std::fs::write(&seed, image)?;
        let xml = vmguest::domain_xml(
            lab,
            guest,
            &name,
            &disk,
            Some(&seed),
            &lab.dir().join(format!("{name}.log")),
        );
        let file = lab.dir().join(format!("{name}.xml"));
        std::fs::write(&file, xml)?;
        lab.virsh(&["define", &file.to_string_lossy()])?;
        names.push(name);
    }
    let started = Instant::now();
    for name in &names {
        lab.virsh(&["start", name])?;
    }
    // Each guest is watched by its own thread, so a slow probe of one never delays another.
    let deadline = started + Duration::from_secs(300);
    let answered: Vec<Option<Duration>> = std::thread::scope(|scope| {
        let watchers: Vec<_> = names
            .iter()
            .map(|name| {
                scope.spawn(move || {
                    while Instant::now() < deadline {
                        if lab
                            .lease(name)
                            .is_some_and(|ip| ssh_answers(lab, &ip.to_string()))
                        {
                            return Some(started.elapsed());
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    None
                })
            })
            .collect();
        watchers
            .into_iter()
            .map(|w| w.join().ok().flatten())
            .collect()
    });
    if answered.iter().any(Option::is_none) {
        bail!("the floor's guests did not all answer ssh within 300 s: {answered:?}");
    }
    let took = answered.into_iter().flatten().max().unwrap_or_default();
    for name in &names {
        lab.virsh(&["destroy", name]).ok();
        lab.virsh(&["undefine", name])?;
        std::fs::remove_file(lab.dir().join(format!("{name}.qcow2"))).ok();
        std::fs::remove_file(lab.dir().join(format!("{name}-seed.img"))).ok();
    }
    Ok(took)
}

fn ssh_answers(lab: &VmLab, address: &str) -> bool {
    vmguest::ssh_command(lab, address, "true", 2)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One vsm run on a fresh manager: create, import, apply, start; then delete.
fn vsm_run(lab: &VmLab, template: &str) -> Result<(Duration, [Duration; 4])> {
    let m = Manager::start_with(StartOptions {
        netns: Some(lab.netns().to_owned()),
        start_args: vec!["--libvirt-uri".into(), lab.uri()],
    });
    let alice = m.add_account("alice", "builder");
    let root = crate::workspace_root();
    let check = |what: &str, out: &vsm_tests::Output| -> Result<()> {
        if out.code != 0 {
            bail!("vsm {what} failed:\n{out}");
        }
        Ok(())
    };
    check(
        "template register",
        &m.vsm(
            &alice,
            &[
                "template",
                "register",
                "appserver",
                "--driver",
                "libvirt",
                "--source",
                template,
            ],
        ),
    )?;
    let unit_file = root.join("examples/units/shop.yaml");
    let defs = root.join("examples/definitions/shop");
    let started = Instant::now();
    let mut phases = [Duration::ZERO; 4];
    let steps: [(&str, Vec<String>); 4] = [
        (
            "unit create",
            vec![
                "unit".into(),
                "create".into(),
                "shop".into(),
                "--file".into(),
                unit_file.to_string_lossy().into_owned(),
            ],
        ),
        (
            "unit import",
            vec![
                "unit".into(),
                "import".into(),
                "shop".into(),
                defs.to_string_lossy().into_owned(),
            ],
        ),
        (
            "unit apply",
            vec!["unit".into(), "apply".into(), "shop".into()],
        ),
        (
            "unit start",
            vec!["unit".into(), "start".into(), "shop".into()],
        ),
    ];
    for (i, (what, args)) in steps.iter().enumerate() {
        let t = Instant::now();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        check(what, &m.vsm(&alice, &args))?;
        phases[i] = t.elapsed();
    }
    let total = started.elapsed();
    let deleted = m.vsm(&alice, &["unit", "delete", "shop", "--force"]);
    check("unit delete", &deleted).context("cleaning up after the run")?;
    Ok((total, phases))
}
