//! System packages the test suite needs, installed by the project itself (never by hand).
//!
//! A fresh Debian machine has only the Rust toolchain; the tests also need an `sshd` and `ssh`
//! client (ssh transport and static driver tests), `rsync` (deploy benchmark comparison) and
//! `libvirt-dev` + `pkg-config` (the `libvirt` driver feature). Missing ones are installed with
//! `apt-get`, as root or through `sudo`.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

/// A Debian package and the probe that says whether it is already there.
struct Need {
    package: &'static str,
    present: fn() -> bool,
}

const NEEDS: &[Need] = &[
    Need {
        package: "openssh-server",
        present: || Path::new("/usr/sbin/sshd").exists(),
    },
    Need {
        package: "openssh-client",
        present: || has_cmd("ssh") && has_cmd("ssh-keygen"),
    },
    Need {
        package: "rsync",
        present: || has_cmd("rsync"),
    },
    Need {
        package: "pkg-config",
        present: || has_cmd("pkg-config"),
    },
    Need {
        package: "libvirt-dev",
        present: || {
            Command::new("pkg-config")
                .args(["--exists", "libvirt"])
                .status()
                .is_ok_and(|s| s.success())
        },
    },
];

fn has_cmd(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// Installs every missing package; does nothing when all are present.
pub(crate) fn ensure() -> Result<()> {
    let missing: Vec<&str> = NEEDS
        .iter()
        .filter(|n| !(n.present)())
        .map(|n| n.package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "==> installing system packages the tests need: {}",
        missing.join(" ")
    );
    let is_root = unsafe_free_is_root();
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            Command::new("sudo")
        };
        if !is_root {
            cmd.args(["-n", "apt-get"]);
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        let status = cmd.status()?;
        if !status.success() {
            bail!(
                "apt-get {} failed ({status}); install these Debian packages and re-run: {}",
                args.join(" "),
                missing.join(" ")
            );
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    apt(&install)
}

fn unsafe_free_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
