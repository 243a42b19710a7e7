//! The example VM template in a [`VmLab`]: the guest of `cargo xtask guest-image` defined as the
//! template domain `vsm-guest` (direct kernel boot, its data disk a volume of the lab's pool) and
//! the VM template file that tells vsm how to reach its guests (ssh as root with the image's
//! key, a cloud-init seed, definitions under `/srv/vsm`, the service `vsm-appserver` driven by
//! the guest's `vsm-service`). Shared by the VM end-to-end test, `cargo xtask demo --vm` and
//! `cargo xtask bench vm`.
#![allow(clippy::expect_used)] // test support: a failed set-up is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::vmlab::VmLab;
use crate::workspace_root;

/// The service line of the VM template file: the example application server.
pub const SERVICE_START: &str = "vsm-service start vsm-appserver --port 8080 --dir app";

/// Builds the guest image (incremental) and returns its directory.
pub fn guest_image() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["run", "--quiet", "-p", "xtask", "--", "guest-image"])
        .output()
        .expect("run cargo xtask guest-image");
    assert!(
        out.status.success(),
        "cargo xtask guest-image failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = crate::target_dir().join("guest");
    for f in [
        "vmlinuz",
        "initrd.img",
        "disk.qcow2",
        "domain.xml.in",
        "id_ed25519",
    ] {
        assert!(dir.join(f).is_file(), "{} missing", dir.join(f).display());
    }
    dir
}

/// Defines the template domain `vsm-guest` in the lab on a copy of the guest's disk (a volume
/// of the lab's pool) and writes the VM template file; returns the file's path.
pub fn register_guest_template(lab: &VmLab, guest: &Path) -> String {
    let disk = lab.pool_dir().join("vsm-guest-base.qcow2");
    std::fs::copy(guest.join("disk.qcow2"), &disk).expect("copy the guest disk");
    lab.virsh(&["pool-refresh", lab.pool()])
        .expect("pool-refresh");
    // The template has no seed of its own: vsm attaches one per machine.
    let xml = domain_xml(
        lab,
        guest,
        "vsm-guest",
        &disk,
        None,
        &lab.dir().join("template-console.log"),
    );
    let file = lab.dir().join("vsm-guest.xml");
    std::fs::write(&file, xml).expect("write the domain XML");
    lab.virsh(&["define", &file.to_string_lossy()])
        .expect("define the template domain");

    let key = lab.dir().join("id_ed25519");
    std::fs::copy(guest.join("id_ed25519"), &key).expect("copy the key");
    std::fs::copy(
        guest.join("id_ed25519.pub"),
        lab.dir().join("id_ed25519.pub"),
    )
    .expect("copy the public key");
    set_mode(&key, 0o600);
    vm_template_file(lab, "guest.yaml", true)
}

/// Writes the VM template file `name` in the lab for the template domain `vsm-guest`: ssh as
/// root with the image's key, a cloud-init seed, definitions under `/srv/vsm`, and with
/// `service` the example application as the service (else start and stop power the VM).
/// Returns its path. Needs [`register_guest_template`] first (the domain and the key).
pub fn vm_template_file(lab: &VmLab, name: &str, service: bool) -> String {
    let key = lab.dir().join("id_ed25519");
    let template = lab.dir().join(name);
    let service = if service {
        format!(
            "service:\n  start: {SERVICE_START}\n  stop: vsm-service stop\n  status: vsm-service status\n"
        )
    } else {
        String::new()
    };
    std::fs::write(
        &template,
        format!(
            "format: 1\n\
             domain: vsm-guest\n\
             ssh: {{ user: root, port: 22, identity: {} }}\n\
             cloud_init: true\n\
             root: /srv/vsm\n\
             {service}\
             boot_timeout: 240s\n",
            key.display()
        ),
    )
    .expect("write the VM template file");
    template.to_string_lossy().into_owned()
}

/// The guest's libvirt domain (`domain.xml.in` of `cargo xtask guest-image`, which has the
/// kernel, initrd and command line filled in) named `name` on the lab's network, with `disk`,
/// the cloud-init `seed` disk or none, and its console logged to `console`.
pub fn domain_xml(
    lab: &VmLab,
    guest: &Path,
    name: &str,
    disk: &Path,
    seed: Option<&Path>,
    console: &Path,
) -> String {
    let xml = std::fs::read_to_string(guest.join("domain.xml.in")).expect("domain.xml.in");
    let xml = match seed {
        Some(seed) => xml.replace("@SEED@", &seed.to_string_lossy()),
        None => remove_seed_disk(&xml),
    }
    .replace("@NAME@", name)
    .replace("@DISK@", &disk.to_string_lossy())
    .replace("@NETWORK@", lab.network())
    .replace("@CONSOLE_LOG@", &console.to_string_lossy());
    let body = &xml[xml.find("<domain").expect("a domain element")..];
    assert!(!body.contains('@'), "unreplaced placeholder in:\n{xml}");
    xml
}

fn remove_seed_disk(xml: &str) -> String {
    let Some(seed) = xml.find("file='@SEED@'") else {
        return xml.to_owned();
    };
    let start = xml[..seed].rfind("<disk").expect("seed disk start");
    let end = seed + xml[seed..].find("</disk>").expect("seed disk end") + "</disk>".len();
    format!("{}{}", &xml[..start], &xml[end..])
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// An `ssh` command, run inside the lab, that logs in to the guest at `address` as root with
/// the image's key (no host-key checks: test guests are throwaway) and runs `command`.
pub fn ssh_command(lab: &VmLab, address: &str, command: &str, connect_timeout: u32) -> Command {
    let mut cmd = lab.command("ssh");
    cmd.arg("-i")
        .arg(lab.dir().join("id_ed25519"))
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            &format!("ConnectTimeout={connect_timeout}"),
            &format!("root@{address}"),
            command,
        ])
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs `command` in the guest at `address` over ssh (from inside the lab) and returns stdout.
pub fn ssh(lab: &VmLab, address: &str, command: &str) -> String {
    let out = ssh_command(lab, address, command, 10)
        .output()
        .expect("run ssh");
    assert!(
        out.status.success(),
        "ssh root@{address} {command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
