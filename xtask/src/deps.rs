//! System packages the test suite needs, installed by the project itself (never by hand).
//!
//! A fresh Debian machine has only the Rust toolchain; the tests also need an `sshd` and `ssh`
//! client (ssh transport and static driver tests), `rsync` (deploy benchmark comparison),
//! `libvirt-dev` + `pkg-config` (the `libvirt` driver feature), and for the tests with real VMs
//! (`cargo xtask guest-image`): QEMU, libvirt, a Debian kernel, static busybox, dropbear,
//! dnsmasq, iptables, xz and e2fsprogs; PostgreSQL's server for the PostgreSQL store's tests;
//! Chromium and its chromedriver for the web console's browser test.
//! Missing ones are installed with `apt-get`, as root or through `sudo`.
//!
//! QEMU: some images carry a backported `qemu-utils` (10.x) that `qemu-system-x86` 7.2 cannot
//! sit beside, and apt would rather remove it; but libvirt needs `qemu-img`. So
//! `qemu-system-x86` is installed together with `qemu-utils/bookworm` and `--allow-downgrades`,
//! which brings `qemu-img` down to the matching 7.2.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

/// A Debian package and the probe that says whether it is already there.
struct Need {
    package: &'static str,
    /// Further package specs installed together with `package` (e.g. a pinned release).
    with: &'static [&'static str],
    present: fn() -> bool,
}

const NEEDS: &[Need] = &[
    Need {
        package: "openssh-server",
        with: &[],
        present: || Path::new("/usr/sbin/sshd").exists(),
    },
    Need {
        package: "openssh-client",
        with: &[],
        present: || has_cmd("ssh") && has_cmd("ssh-keygen"),
    },
    Need {
        package: "rsync",
        with: &[],
        present: || has_cmd("rsync"),
    },
    Need {
        package: "pkg-config",
        with: &[],
        present: || has_cmd("pkg-config"),
    },
    Need {
        package: "libvirt-dev",
        with: &[],
        present: || {
            Command::new("pkg-config")
                .args(["--exists", "libvirt"])
                .status()
                .is_ok_and(|s| s.success())
        },
    },
    // The VM tests (`cargo xtask guest-image`).
    Need {
        package: "qemu-system-x86",
        with: &["qemu-utils/bookworm"],
        present: || {
            Path::new("/usr/bin/qemu-system-x86_64").exists()
                && Path::new("/usr/bin/qemu-img").exists()
        },
    },
    Need {
        package: "libvirt-daemon-system",
        with: &[],
        present: || {
            Path::new("/usr/sbin/libvirtd").exists() && Path::new("/usr/sbin/virtlogd").exists()
        },
    },
    Need {
        package: "linux-image-amd64",
        with: &[],
        present: || guest_kernel().is_some(),
    },
    Need {
        package: "busybox-static",
        with: &[],
        present: || is_static_elf(Path::new("/bin/busybox")),
    },
    Need {
        package: "dropbear-bin",
        with: &[],
        present: || {
            Path::new("/usr/sbin/dropbear").exists() && Path::new("/usr/bin/dropbearkey").exists()
        },
    },
    Need {
        package: "dnsmasq-base",
        with: &[],
        present: || Path::new("/usr/sbin/dnsmasq").exists(),
    },
    Need {
        package: "iptables",
        with: &[],
        present: || Path::new("/usr/sbin/iptables").exists() || has_cmd("iptables"),
    },
    // The Debian package's checks (`cargo xtask package`): dpkg-deb and dpkg --root, and
    // systemd-analyze verify of the service unit (systemd comes with libvirt-daemon-system).
    Need {
        package: "dpkg",
        with: &[],
        present: || has_cmd("dpkg-deb") && has_cmd("dpkg"),
    },
    Need {
        package: "systemd",
        with: &[],
        present: || has_cmd("systemd-analyze"),
    },
    // The PostgreSQL store's tests (`vsm_manager::testing::pg`): initdb and postgres, which
    // Debian keeps off PATH in /usr/lib/postgresql/<major>/bin.
    Need {
        package: "postgresql",
        with: &[],
        present: || pg_server_bin(Path::new(PG_LIB)).is_some(),
    },
    // The test server's TLS certificates (`PgServer::enable_tls`).
    Need {
        package: "openssl",
        with: &[],
        present: || has_cmd("openssl"),
    },
    // The refusal to run behind a transaction-mode pooler (`PgServer::pooler`).
    Need {
        package: "pgbouncer",
        with: &[],
        present: || Path::new("/usr/sbin/pgbouncer").exists(),
    },
    // The web console's browser test (crates/vsm-manager/tests/it/console.rs): Debian's Chromium, driven over
    // WebDriver by its chromedriver; never a downloaded browser.
    Need {
        package: "chromium",
        with: &["chromium-driver"],
        present: || {
            Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists()
        },
    },
    Need {
        // xz: the guest's uncompressed kernel is taken out of Debian's XZ bzImage.
        package: "xz-utils",
        with: &[],
        present: || has_cmd("xz"),
    },
    Need {
        package: "e2fsprogs",
        with: &[],
        present: || Path::new("/usr/sbin/mke2fs").exists() || Path::new("/sbin/mke2fs").exists(),
    },
];

/// The newest installed Debian kernel with its modules: `(version, /boot/vmlinuz-version)`.
/// (Not the running kernel: the guest boots the packaged one.)
pub(crate) fn guest_kernel() -> Option<(String, std::path::PathBuf)> {
    let mut found: Vec<(Vec<u64>, String)> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix("vmlinuz-")?.to_owned();
            Path::new("/lib/modules")
                .join(&version)
                .join("modules.dep")
                .is_file()
                .then(|| (version_key(&version), version))
        })
        .collect();
    found.sort();
    let (_, version) = found.pop()?;
    let path = Path::new("/boot").join(format!("vmlinuz-{version}"));
    Some((version, path))
}

/// Numeric parts of a kernel version, for ordering (`6.1.0-57-amd64` → `[6, 1, 0, 57]`).
fn version_key(version: &str) -> Vec<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether `path` is an ELF executable without a program interpreter (statically linked).
pub(crate) fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // 64-bit little-endian ELF only (this is x86-64).
    if bytes.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..usize::from(phnum)).all(|i| {
        usize::try_from(phoff)
            .ok()
            .and_then(|off| u32_at(off + i * usize::from(phentsize)))
            .is_some_and(|p_type| p_type != PT_INTERP)
    })
}

/// Where Debian's packages put each PostgreSQL major version (`<major>/bin`).
const PG_LIB: &str = "/usr/lib/postgresql";

/// The `bin` directory of the newest PostgreSQL major version under `lib` that holds both
/// `initdb` and `postgres` (`vsm_manager::testing::pg` looks the same way).
fn pg_server_bin(lib: &Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(lib)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
}

fn has_cmd(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// Installs every missing package; does nothing when all are present.
pub(crate) fn ensure() -> Result<()> {
    let missing: Vec<&Need> = NEEDS.iter().filter(|n| !(n.present)()).collect();
    let specs: Vec<&str> = missing
        .iter()
        .flat_map(|n| std::iter::once(n.package).chain(n.with.iter().copied()))
        .collect();
    let missing: Vec<&str> = missing.iter().map(|n| n.package).collect();
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
    let mut install = vec![
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "--allow-downgrades",
    ];
    install.extend(specs.iter().copied());
    apt(&install)
}

fn unsafe_free_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 file with one program header of type `p_type`.
    fn elf_with(p_type: u32) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&p_type.to_le_bytes());
        elf
    }

    #[test]
    fn static_elf_has_no_interpreter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (fixed, dynamic, text) = (
            dir.path().join("static"),
            dir.path().join("dynamic"),
            dir.path().join("text"),
        );
        std::fs::write(&fixed, elf_with(1)).expect("write");
        std::fs::write(&dynamic, elf_with(3)).expect("write");
        std::fs::write(&text, "#!/bin/sh\n").expect("write");
        assert!(is_static_elf(&fixed));
        assert!(!is_static_elf(&dynamic));
        assert!(!is_static_elf(&text));
        assert!(!is_static_elf(&dir.path().join("missing")));
        // This test binary is linked dynamically.
        let me = std::env::current_exe().expect("current exe");
        assert!(!is_static_elf(&me));
    }

    #[test]
    fn the_newest_postgresql_server_is_found() {
        let lib = tempfile::tempdir().expect("tempdir");
        for (major, complete) in [("9", true), ("15", true), ("13", true), ("17", false)] {
            let bin = lib.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("initdb"), "").expect("write");
            if complete {
                std::fs::write(bin.join("postgres"), "").expect("write");
            }
        }
        assert_eq!(
            pg_server_bin(lib.path()),
            Some(lib.path().join("15").join("bin"))
        );
        assert_eq!(pg_server_bin(&lib.path().join("missing")), None);
    }

    #[test]
    fn kernel_versions_order_numerically() {
        let mut v = ["6.1.0-9-amd64", "6.1.0-57-amd64", "5.10.0-30-amd64"];
        v.sort_by_key(|s| version_key(s));
        assert_eq!(v, ["5.10.0-30-amd64", "6.1.0-9-amd64", "6.1.0-57-amd64"]);
    }
}
