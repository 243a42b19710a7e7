//! `cargo xtask guest-image [--check]`: a tiny bootable test guest for the VM tests, built from
//! the Debian packages on this machine (see `xtask/guest/` and `deps.rs`).
//!
//! Into `<target dir>/guest/` (the target directory cargo reports, so `CARGO_TARGET_DIR` is
//! honoured) it writes:
//!
//! - `vmlinuz`: the newest installed `linux-image-amd64` kernel that has its modules, and
//!   `vmlinux`: the same kernel uncompressed (an ELF with a PVH entry point, which QEMU loads
//!   directly): booting it skips the kernel's own XZ decompression, about 3.5 s under TCG.
//!   The domain template and `--check` boot `vmlinux` (or `vmlinuz` where it cannot be made);
//! - `initrd.img`: a gzip'd newc cpio (written here, in Rust) holding static busybox and its
//!   applets, dropbear and the libraries it links, `vsm-appserver` (built from this workspace),
//!   the kernel modules for virtio PCI/net/blk, ext4, vfat and the ACPI power button
//!   (uncompressed, in dependency order, for busybox `insmod`), and `xtask/guest/`'s scripts:
//!   `/init`, `/usr/bin/vsm-service`, the udhcpc script and the power-button action;
//! - `disk.qcow2`: the base data disk, 256 MiB ext4 labelled `vsm-root` with an empty `app/`
//!   (mounted on `/srv/vsm` in the guest); rebuilt only when its format changes, because
//!   overlays point at it;
//! - `id_ed25519` / `id_ed25519.pub`: the test key pair (made once, then kept);
//! - `domain.xml.in`: the libvirt domain template (`@NAME@`, `@DISK@`, `@SEED@`, `@NETWORK@`,
//!   `@CONSOLE_LOG@` left to fill in).
//!
//! The guest's kernel command line is `console=ttyS0 quiet acpi=noirq` (`acpi=noirq`: PCI
//! interrupt routing from the BIOS table instead of ACPI AML, which is slow under TCG; the ACPI
//! power button still works). A virtio RNG device lets the guest's entropy pool fill at once
//! (without one dropbear's first host key waits about a second for it).
//!
//! The kernel and initrd are rebuilt only when an input changed (stamp: kernel version, sizes
//! and times of the packaged files, a hash of the assets and of the `vsm-appserver` binary).
//!
//! `--check` then boots the guest under plain QEMU (TCG, user networking with loopback-only
//! port forwards, a throwaway overlay of `disk.qcow2`, a seed from
//! `vsm_hypervisor::cloud_init::Seed`), logs in over SSH, deploys a file, starts the example
//! service, checks its health through the forward, and powers the guest off with the ACPI
//! power button (QEMU monitor `system_powerdown`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const INIT: &str = include_str!("../guest/init");
const VSM_SERVICE: &str = include_str!("../guest/vsm-service");
const UDHCPC_SCRIPT: &str = include_str!("../guest/udhcpc.script");
const ACPI_POWER: &str = include_str!("../guest/acpi-power");
const DOMAIN_XML: &str = include_str!("../guest/domain.xml.in");

/// Bump when the initramfs layout changes in a way its inputs do not show.
const FORMAT: u32 = 2;
/// Bump when the data disk must be made again (this breaks overlays of the old one).
const DISK_FORMAT: u32 = 1;
/// File-system label of the data disk; the guest mounts it on `/srv/vsm`.
pub(crate) const DISK_LABEL: &str = "vsm-root";
const DISK_SIZE: &str = "256M";
/// The kernel command line of the guest.
pub(crate) const CMDLINE: &str = "console=ttyS0 quiet acpi=noirq";
/// Guest memory (MiB), as in the domain template.
const MEMORY_MIB: u32 = 256;

/// Kernel modules the guest loads (with their dependencies, in order). `crc32c_generic` comes
/// first because ext4 needs a crc32c driver and the guest has no `modprobe` to find one
/// (`crc32c-intel` is left out: it needs SSE4.2, which the `qemu64` CPU lacks).
const MODULES: &[&str] = &[
    "crc32c_generic",
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_rng",
    "ext4",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859_1",
    "nls_utf8",
    "button",
    "evdev",
];

const USAGE: &str = "usage: cargo xtask guest-image [--check]

Builds the VM test guest into <target dir>/guest/ (kernel, initrd, data disk, key pair, libvirt
domain template). --check also boots it under QEMU (TCG) and checks SSH, the seed, the example
service and the ACPI power-off.";

/// The built guest: paths under `<target dir>/guest/`.
#[derive(Debug, Clone)]
pub(crate) struct Guest {
    pub(crate) kernel_version: String,
    /// The kernel to boot: `vmlinux` (uncompressed, PVH) when it could be made, else `vmlinuz`.
    pub(crate) kernel: PathBuf,
    pub(crate) initrd: PathBuf,
    pub(crate) disk: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) public_key: PathBuf,
    pub(crate) domain_xml: PathBuf,
}

/// `cargo xtask guest-image [--check]`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut check = false;
    for arg in args {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    let started = Instant::now();
    crate::deps::ensure()?;
    let dir = crate::target_dir()?.join("guest");
    let guest = build(&dir)?;
    let build_time = started.elapsed();
    println!("guest image (kernel {}):", guest.kernel_version);
    println!("  kernel         {}", guest.kernel.display());
    println!(
        "  (compressed)   {}",
        guest.kernel.with_file_name("vmlinuz").display()
    );
    println!("  initrd         {}", guest.initrd.display());
    println!("  cmdline        {CMDLINE}");
    println!(
        "  data disk      {} (ext4, label {DISK_LABEL})",
        guest.disk.display()
    );
    println!("  ssh key        {}", guest.key.display());
    println!("  domain         {}", guest.domain_xml.display());
    println!("guest-image: build {:.1} s", build_time.as_secs_f64());
    if check {
        let t = check_guest(&guest)?;
        println!(
            "guest-image --check: passed: build {:.1} s, boot to SSH {:.1} s, service healthy \
             {:.1} s after start, ACPI power-off {:.1} s, check {:.1} s, total {:.1} s",
            build_time.as_secs_f64(),
            t.boot_to_ssh.as_secs_f64(),
            t.service_healthy.as_secs_f64(),
            t.power_off.as_secs_f64(),
            t.total.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Builds (or finds up to date) every output under `dir`.
pub(crate) fn build(dir: &Path) -> Result<Guest> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // One build at a time (tests that boot guests run in parallel and each asks for the
    // image): the others wait here, then find it up to date.
    let lock_path = dir.join(".build.lock");
    let lock = fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let (kernel_version, vmlinuz) = crate::deps::guest_kernel().context(
        "no Debian kernel with modules (/boot/vmlinuz-VER and /lib/modules/VER/modules.dep): \
         install linux-image-amd64 (cargo xtask deps)",
    )?;
    let vmlinuz_out = dir.join("vmlinuz");
    let vmlinux_out = dir.join("vmlinux");
    let mut guest = Guest {
        kernel: vmlinuz_out.clone(),
        initrd: dir.join("initrd.img"),
        disk: dir.join("disk.qcow2"),
        key: dir.join("id_ed25519"),
        public_key: dir.join("id_ed25519.pub"),
        domain_xml: dir.join("domain.xml.in"),
        kernel_version,
    };

    let appserver = build_appserver()?;
    let busybox = Path::new("/bin/busybox");
    if !crate::deps::is_static_elf(busybox) {
        bail!("/bin/busybox is not statically linked: install busybox-static (cargo xtask deps)");
    }
    let dropbear = Path::new("/usr/sbin/dropbear");
    let dropbearkey = Path::new("/usr/bin/dropbearkey");
    let libs = shared_libs(&[dropbear, dropbearkey, &appserver])?;
    let modules = module_order(&guest.kernel_version)?;

    // What the kernel + initrd are made of.
    let mut stamp = format!("format {FORMAT}\nkernel {}\n", guest.kernel_version);
    for path in [&vmlinuz, busybox, dropbear, dropbearkey]
        .into_iter()
        .chain(libs.iter().map(PathBuf::as_path))
        .chain(modules.iter().map(PathBuf::as_path))
    {
        let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        let _ = writeln!(
            stamp,
            "file {} {} {}.{}",
            path.display(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec()
        );
    }
    let app_bytes =
        fs::read(&appserver).with_context(|| format!("reading {}", appserver.display()))?;
    let _ = writeln!(stamp, "vsm-appserver {:016x}", fnv64(&app_bytes));
    let assets = [
        INIT,
        VSM_SERVICE,
        UDHCPC_SCRIPT,
        ACPI_POWER,
        &MODULES.join(" "),
    ]
    .concat();
    let _ = writeln!(stamp, "assets {:016x}", fnv64(assets.as_bytes()));

    // The stamp is the inputs plus a last line naming the kernel to boot.
    let stamp_path = dir.join(".initrd.stamp");
    let previous = fs::read_to_string(&stamp_path).unwrap_or_default();
    let boot = previous
        .strip_prefix(stamp.as_str())
        .and_then(|rest| rest.strip_prefix("boot "))
        .map(str::trim)
        .filter(|name| matches!(*name, "vmlinux" | "vmlinuz"))
        .map(|name| dir.join(name));
    if let Some(boot) =
        boot.filter(|b| b.is_file() && guest.initrd.is_file() && vmlinuz_out.is_file())
    {
        println!("guest-image: kernel and initrd up to date");
        guest.kernel = boot;
    } else {
        let started = Instant::now();
        let tree = initramfs(&guest.kernel_version, &appserver, &libs, &modules)?;
        let cpio = tree.to_newc();
        write_atomically(&guest.initrd, &gzip(&cpio)?)?;
        let kernel =
            fs::read(&vmlinuz).with_context(|| format!("reading {}", vmlinuz.display()))?;
        write_atomically(&vmlinuz_out, &kernel)?;
        match uncompressed_kernel(&kernel, &guest.kernel_version) {
            Ok(elf) => {
                write_atomically(&vmlinux_out, &elf)?;
                guest.kernel = vmlinux_out.clone();
            }
            Err(why) => {
                let _ = fs::remove_file(&vmlinux_out);
                println!("guest-image: booting vmlinuz (no uncompressed kernel: {why:#})");
            }
        }
        let name = if guest.kernel == vmlinux_out {
            "vmlinux"
        } else {
            "vmlinuz"
        };
        write_atomically(&stamp_path, format!("{stamp}boot {name}\n").as_bytes())?;
        let size = fs::metadata(&guest.initrd).map(|m| m.len()).unwrap_or(0);
        println!(
            "guest-image: built initrd.img ({:.1} MiB, {:.1} MiB unpacked, {} modules) and {name} \
             in {:.1} s",
            size as f64 / 1048576.0,
            cpio.len() as f64 / 1048576.0,
            modules.len(),
            started.elapsed().as_secs_f64()
        );
    }

    let xml = DOMAIN_XML
        .replace("@KERNEL@", &guest.kernel.display().to_string())
        .replace("@INITRD@", &guest.initrd.display().to_string())
        .replace("@CMDLINE@", CMDLINE);
    if fs::read_to_string(&guest.domain_xml).ok().as_deref() != Some(xml.as_str()) {
        write_atomically(&guest.domain_xml, xml.as_bytes())?;
    }
    ensure_key(&guest.key, &guest.public_key)?;
    ensure_disk(dir, &guest.disk)?;
    Ok(guest)
}

/// The uncompressed kernel (`vmlinux`, ELF) inside a bzImage whose payload is XZ-compressed
/// (Debian's), if the kernel has a PVH entry point (`CONFIG_PVH`), so QEMU can boot it as is.
fn uncompressed_kernel(bzimage: &[u8], version: &str) -> Result<Vec<u8>> {
    let config = fs::read_to_string(format!("/boot/config-{version}")).unwrap_or_default();
    if !config.lines().any(|l| l == "CONFIG_PVH=y") {
        bail!("/boot/config-{version} does not say CONFIG_PVH=y");
    }
    const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";
    let mut at = 0;
    for _ in 0..4 {
        let Some(i) = bzimage[at..]
            .windows(XZ_MAGIC.len())
            .position(|w| w == XZ_MAGIC)
        else {
            break;
        };
        let start = at + i;
        at = start + 1;
        let mut child = Command::new("xz")
            .args(["-dc", "--single-stream"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("running xz (package xz-utils)")?;
        let mut stdin = child.stdin.take().context("xz stdin")?;
        let payload = bzimage[start..].to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&payload);
        });
        let out = child.wait_with_output().context("waiting for xz")?;
        let _ = feeder.join();
        if out.status.success() && out.stdout.starts_with(b"\x7fELF") {
            return Ok(out.stdout);
        }
    }
    bail!("no XZ-compressed ELF kernel found in the bzImage")
}

/// Builds `vsm-appserver` and returns its path in the target directory.
fn build_appserver() -> Result<PathBuf> {
    crate::run_cmd(
        "cargo build -p vsm-hypervisor --bin vsm-appserver",
        crate::cargo().args(["build", "-p", "vsm-hypervisor", "--bin", "vsm-appserver"]),
    )?;
    let bin = crate::target_dir()?.join("debug").join("vsm-appserver");
    if !bin.is_file() {
        bail!("{} is missing after the build", bin.display());
    }
    Ok(bin)
}

/// The shared libraries (and the dynamic loader) the programs need, by `ldd`.
fn shared_libs(programs: &[&Path]) -> Result<BTreeSet<PathBuf>> {
    let mut libs = BTreeSet::new();
    for program in programs {
        let out = Command::new("ldd")
            .arg(program)
            .output()
            .context("running ldd (package libc-bin)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            if text.contains("not a dynamic executable") {
                continue;
            }
            bail!(
                "ldd {} failed ({}): {}",
                program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        for line in text.lines() {
            let line = line.trim();
            if line.contains("not found") {
                bail!("{}: a library is missing: {line}", program.display());
            }
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(path) = path.filter(|p| p.starts_with('/')) {
                libs.insert(PathBuf::from(path));
            }
        }
    }
    Ok(libs)
}

/// `ext4` or `crc32c-intel.ko.xz` → the module name (`ext4`, `crc32c_intel`).
fn module_name(file_or_name: &str) -> String {
    let base = file_or_name.rsplit('/').next().unwrap_or(file_or_name);
    let base = base.split(".ko").next().unwrap_or(base);
    base.replace('-', "_")
}

/// The module files of [`MODULES`] and their dependencies for kernel `version`, in load order,
/// read from `/lib/modules/VERSION/modules.dep` (built-in modules are left out).
fn module_order(version: &str) -> Result<Vec<PathBuf>> {
    let base = Path::new("/lib/modules").join(version);
    let dep_file = base.join("modules.dep");
    let text =
        fs::read_to_string(&dep_file).with_context(|| format!("reading {}", dep_file.display()))?;
    let mut deps: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for line in text.lines() {
        let Some((module, rest)) = line.split_once(':') else {
            continue;
        };
        let list = rest.split_whitespace().map(str::to_owned).collect();
        deps.insert(module_name(module), (module.to_owned(), list));
    }
    let builtin: BTreeSet<String> = fs::read_to_string(base.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .map(module_name)
        .collect();

    fn visit(
        name: &str,
        deps: &HashMap<String, (String, Vec<String>)>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(name.to_owned()) {
            return;
        }
        if let Some((file, list)) = deps.get(name) {
            // modules.dep lists what a module needs, the last to be loaded first.
            for dep in list.iter().rev() {
                visit(&module_name(dep), deps, seen, order);
            }
            order.push(file.clone());
        }
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for wanted in MODULES {
        let name = module_name(wanted);
        if !deps.contains_key(&name) {
            if builtin.contains(&name) {
                continue;
            }
            bail!(
                "kernel {version} has no module {wanted} (not in {})",
                dep_file.display()
            );
        }
        visit(&name, &deps, &mut seen, &mut order);
    }
    Ok(order.into_iter().map(|f| base.join(f)).collect())
}

/// A module file's contents, decompressed (busybox `insmod` loads plain `.ko` files only).
fn module_bytes(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool: Option<&[&str]> = if name.ends_with(".ko.xz") {
        Some(&["xz", "-dc"])
    } else if name.ends_with(".ko.zst") {
        Some(&["zstd", "-dcq"])
    } else if name.ends_with(".ko.gz") {
        Some(&["gzip", "-dc"])
    } else {
        None
    };
    match tool {
        None => fs::read(path).with_context(|| format!("reading {}", path.display())),
        Some(cmd) => {
            let out = Command::new(cmd[0])
                .args(&cmd[1..])
                .arg(path)
                .output()
                .with_context(|| format!("running {} to decompress {}", cmd[0], path.display()))?;
            if !out.status.success() {
                bail!(
                    "{} {} failed ({})",
                    cmd.join(" "),
                    path.display(),
                    out.status
                );
            }
            Ok(out.stdout)
        }
    }
}

/// The initramfs tree.
fn initramfs(
    kernel_version: &str,
    appserver: &Path,
    libs: &BTreeSet<PathBuf>,
    modules: &[PathBuf],
) -> Result<Tree> {
    let mut t = Tree::default();
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("etc/dropbear", 0o700),
        ("proc", 0o555),
        ("root", 0o700),
        ("run", 0o755),
        ("srv/vsm", 0o755),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("var/log", 0o755),
        ("var/tmp", 0o1777),
    ] {
        t.dir(dir, mode);
    }
    t.char_dev("dev/console", 0o600, 5, 1);
    t.char_dev("dev/null", 0o666, 1, 3);
    t.symlink("sbin", "bin");
    t.symlink("var/run", "../run");
    t.symlink("etc/mtab", "/proc/mounts");

    // busybox and its applets (all in /bin; /sbin is a link to it).
    t.file("bin/busybox", 0o755, read(Path::new("/bin/busybox"))?);
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .context("running busybox --list")?;
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" && !applet.contains('/') {
            t.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    t.symlink("usr/bin/env", "/bin/busybox");

    // dropbear, vsm-appserver and their libraries (at the paths ldd reported).
    t.file(
        "usr/sbin/dropbear",
        0o755,
        read(Path::new("/usr/sbin/dropbear"))?,
    );
    t.file(
        "usr/bin/dropbearkey",
        0o755,
        read(Path::new("/usr/bin/dropbearkey"))?,
    );
    t.file("usr/bin/vsm-appserver", 0o755, stripped(appserver)?);
    for lib in libs {
        let rel = lib.to_string_lossy();
        t.file(rel.trim_start_matches('/'), 0o755, read(lib)?);
    }

    // Kernel modules, flat, with their load order.
    let mut order = String::new();
    for module in modules {
        let name = format!("{}.ko", module_name(&module.to_string_lossy()));
        t.file(
            &format!("lib/modules/{kernel_version}/{name}"),
            0o644,
            module_bytes(module)?,
        );
        order.push_str(&name);
        order.push('\n');
    }
    t.file("etc/vsm/modules", 0o644, order.into_bytes());
    t.file(
        "etc/vsm/build",
        0o644,
        format!("kernel {kernel_version}\nformat {FORMAT}\n").into_bytes(),
    );

    // Accounts and scripts.
    t.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            .to_vec(),
    );
    t.file("etc/shadow", 0o600, b"root:*:19000:0:99999:7:::\n".to_vec());
    t.file(
        "etc/group",
        0o644,
        b"root:x:0:\ntty:x:5:\nnogroup:x:65534:\n".to_vec(),
    );
    t.file("etc/shells", 0o644, b"/bin/sh\n/bin/ash\n".to_vec());
    t.file("init", 0o755, INIT.as_bytes().to_vec());
    t.file(
        "usr/bin/vsm-service",
        0o755,
        VSM_SERVICE.as_bytes().to_vec(),
    );
    t.file(
        "etc/udhcpc/default.script",
        0o755,
        UDHCPC_SCRIPT.as_bytes().to_vec(),
    );
    t.file(
        "etc/acpi/PWRF/00000080",
        0o755,
        ACPI_POWER.as_bytes().to_vec(),
    );
    Ok(t)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// `path`'s contents without symbols (`strip`, when binutils is there), else as they are.
fn stripped(path: &Path) -> Result<Vec<u8>> {
    let tmp = tempfile::NamedTempFile::new().context("creating a temporary file")?;
    let ok = Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(tmp.path())
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok { read(tmp.path()) } else { read(path) }
}

/// `data` compressed by `gzip -9n` (gzip is an essential Debian package).
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = tempfile::tempfile().context("creating a temporary file")?;
    let mut child = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(out.try_clone().context("duplicating a file handle")?)
        .spawn()
        .context("running gzip")?;
    child
        .stdin
        .take()
        .context("gzip stdin")?
        .write_all(data)
        .context("writing to gzip")?;
    let status = child.wait().context("waiting for gzip")?;
    if !status.success() {
        bail!("gzip failed ({status})");
    }
    let mut bytes = Vec::new();
    std::io::Seek::rewind(&mut out)?;
    out.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes `path` through a temporary file and a rename (readers never see half a file).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .ok();
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// FNV-1a, 64 bits: a fingerprint for the stamp (not a security hash).
fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The test key pair: made once with `ssh-keygen`, then kept.
fn ensure_key(key: &Path, public_key: &Path) -> Result<()> {
    if key.is_file() && public_key.is_file() {
        fs::set_permissions(key, fs::Permissions::from_mode(0o600))?;
        return Ok(());
    }
    let _ = fs::remove_file(key);
    let _ = fs::remove_file(public_key);
    crate::run_cmd(
        "ssh-keygen (the guest's test key pair)",
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "vsm-guest", "-f"])
            .arg(key),
    )
}

/// The base data disk: ext4 labelled `vsm-root` holding an empty `app/`, as qcow2. Made only
/// when missing or of an older format (overlays of it must stay valid).
fn ensure_disk(dir: &Path, disk: &Path) -> Result<()> {
    let stamp = format!("disk-format {DISK_FORMAT} ext4 label {DISK_LABEL} size {DISK_SIZE}\n");
    let stamp_path = dir.join(".disk.stamp");
    if disk.is_file() && fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return Ok(());
    }
    let work = tempfile::Builder::new()
        .prefix(".disk-")
        .tempdir_in(dir)
        .context("creating a work directory")?;
    let root = work.path().join("root");
    fs::create_dir_all(root.join("app"))?;
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
    fs::set_permissions(root.join("app"), fs::Permissions::from_mode(0o755))?;
    let raw = work.path().join("disk.raw");
    let mke2fs = ["/usr/sbin/mke2fs", "/sbin/mke2fs"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("mke2fs");
    let out = Command::new(mke2fs)
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            DISK_LABEL,
            "-E",
            "root_owner=0:0",
            "-d",
        ])
        .arg(&root)
        .arg(&raw)
        .arg(DISK_SIZE)
        .output()
        .context("running mke2fs (package e2fsprogs)")?;
    if !out.status.success() {
        bail!(
            "mke2fs failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let tmp = work.path().join("disk.qcow2");
    let out = Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&tmp)
        .output()
        .context("running qemu-img (package qemu-utils)")?;
    if !out.status.success() {
        bail!(
            "qemu-img convert failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))?;
    fs::rename(&tmp, disk).with_context(|| format!("renaming into {}", disk.display()))?;
    write_atomically(&stamp_path, stamp.as_bytes())?;
    println!("guest-image: made the data disk {}", disk.display());
    Ok(())
}

// ---- the initramfs archive ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Symlink(String),
    CharDev(u32, u32, u32),
}

/// A file tree (paths relative to `/`), written out as a newc cpio archive.
#[derive(Debug, Default)]
struct Tree(BTreeMap<String, Node>);

impl Tree {
    fn parents(&mut self, path: &str) {
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            end += i;
            self.0
                .entry(path[..end].to_owned())
                .or_insert(Node::Dir(0o755));
            end += 1;
        }
    }

    fn dir(&mut self, path: &str, mode: u32) {
        self.parents(path);
        self.0.insert(path.to_owned(), Node::Dir(mode));
    }

    fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        self.parents(path);
        self.0.insert(path.to_owned(), Node::File(mode, data));
    }

    fn symlink(&mut self, path: &str, target: &str) {
        self.parents(path);
        self.0
            .insert(path.to_owned(), Node::Symlink(target.to_owned()));
    }

    fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.parents(path);
        self.0
            .insert(path.to_owned(), Node::CharDev(mode, major, minor));
    }

    /// The tree as a newc (`070701`) cpio archive: parents before children (sorted paths), owner
    /// root, time 0.
    fn to_newc(&self) -> Vec<u8> {
        fn entry(
            out: &mut Vec<u8>,
            ino: u32,
            name: &str,
            mode: u32,
            rdev: (u32, u32),
            data: &[u8],
        ) {
            let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
            let header = format!(
                "070701{ino:08X}{mode:08X}{:08X}{:08X}{nlink:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
                0,
                0,
                0,
                data.len(),
                0,
                0,
                rdev.0,
                rdev.1,
                name.len() + 1,
                0
            );
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            pad4(out);
            out.extend_from_slice(data);
            pad4(out);
        }
        fn pad4(out: &mut Vec<u8>) {
            while !out.len().is_multiple_of(4) {
                out.push(0);
            }
        }
        let mut out = Vec::new();
        for (i, (path, node)) in self.0.iter().enumerate() {
            let ino = u32::try_from(i + 1).unwrap_or(u32::MAX);
            match node {
                Node::Dir(mode) => entry(&mut out, ino, path, 0o040000 | mode, (0, 0), &[]),
                Node::File(mode, data) => entry(&mut out, ino, path, 0o100000 | mode, (0, 0), data),
                Node::Symlink(target) => {
                    entry(&mut out, ino, path, 0o120777, (0, 0), target.as_bytes())
                }
                Node::CharDev(mode, major, minor) => {
                    entry(&mut out, ino, path, 0o020000 | mode, (*major, *minor), &[])
                }
            }
        }
        entry(&mut out, 0, "TRAILER!!!", 0, (0, 0), &[]);
        out
    }
}

// ---- --check: boot it under QEMU ----

/// What `--check` measured.
struct Timings {
    boot_to_ssh: Duration,
    service_healthy: Duration,
    power_off: Duration,
    total: Duration,
}

/// QEMU, killed when dropped (every error path).
struct Qemu {
    child: Child,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on now.
fn free_ports() -> Result<(u16, u16)> {
    let a = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    let b = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// The last `n` lines of a text file (for error messages), without terminal escapes.
fn tail(path: &Path, n: usize) -> String {
    let text = fs::read(path)
        .map(|b| strip_escapes(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `text` without ANSI escape sequences and control characters (but newlines and tabs).
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.next_if_eq(&'[').is_some() {
                    // CSI: parameters, then one final byte in @..~.
                    for p in chars.by_ref() {
                        if ('@'..='~').contains(&p) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Boots the guest and checks it end to end; kills QEMU on every error.
fn check_guest(guest: &Guest) -> Result<Timings> {
    let work = tempfile::Builder::new()
        .prefix("vsm-guest-check-")
        .tempdir()
        .context("creating a work directory")?;
    let console = work.path().join("console.log");
    let qemu_log = work.path().join("qemu.log");
    // QEMU is stopped by the time boot_and_check returns (its guard is dropped there).
    match boot_and_check(guest, work.path()) {
        Ok(t) => Ok(t),
        Err(e) => {
            let kept = work.keep();
            let qemu = tail(&qemu_log, 10);
            Err(anyhow::anyhow!(
                "{e:#}\n\nthe last lines of the guest console ({}):\n{}\n{}(work directory {} \
                 kept)",
                console.display(),
                tail(&console, 40),
                if qemu.trim().is_empty() {
                    String::new()
                } else {
                    format!("QEMU said:\n{qemu}\n")
                },
                kept.display()
            )
            .context("guest-image --check failed"))
        }
    }
}

fn boot_and_check(guest: &Guest, work: &Path) -> Result<Timings> {
    let started = Instant::now();
    let console = work.join("console.log");
    let monitor = work.join("monitor.sock");
    let overlay = work.join("overlay.qcow2");
    let seed_path = work.join("seed.img");

    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(&guest.disk)
        .arg(&overlay)
        .output()
        .context("running qemu-img create")?;
    if !out.status.success() {
        bail!(
            "qemu-img create (overlay of {}) failed: {}",
            guest.disk.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    let hostname = "vsm-check";
    let public_key = fs::read_to_string(&guest.public_key)
        .with_context(|| format!("reading {}", guest.public_key.display()))?;
    let seed = vsm_hypervisor::cloud_init::Seed {
        instance_id: format!("vsm-check-{}", std::process::id()),
        hostname: hostname.into(),
        authorized_keys: vec![public_key.trim().to_owned()],
    };
    fs::write(&seed_path, seed.image()?).context("writing the seed image")?;

    let (ssh_port, http_port) = free_ports()?;
    // User networking: DHCP for the guest (10.0.2.15), forwards from loopback only, and
    // `restrict=on` so no guest packet leaves QEMU except through those forwards.
    let netdev = format!(
        "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{ssh_port}-:22,hostfwd=tcp:127.0.0.1:{http_port}-:8080"
    );
    let qemu_log = fs::File::create(work.join("qemu.log"))?;
    let boot_started = Instant::now();
    let child = Command::new("qemu-system-x86_64")
        .args(["-machine", "pc,accel=tcg", "-cpu", "qemu64", "-smp", "1"])
        .args(["-m", &MEMORY_MIB.to_string()])
        .args(["-nodefaults", "-nographic", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", monitor.display()))
        .arg("-kernel")
        .arg(&guest.kernel)
        .arg("-initrd")
        .arg(&guest.initrd)
        .args(["-append", CMDLINE])
        .arg("-drive")
        .arg(format!("file={},format=qcow2,if=virtio", overlay.display()))
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio,readonly=on",
            seed_path.display()
        ))
        .args(["-netdev", &netdev])
        .args(["-device", "virtio-net-pci,netdev=n0,romfile="])
        .args(["-device", "virtio-rng-pci"])
        .stdin(Stdio::null())
        .stdout(qemu_log.try_clone()?)
        .stderr(qemu_log)
        .spawn()
        .context("starting qemu-system-x86_64 (package qemu-system-x86)")?;
    let mut qemu = Qemu { child };
    println!(
        "guest-image --check: QEMU started (TCG); ssh on 127.0.0.1:{ssh_port}, http on 127.0.0.1:{http_port}"
    );

    let ssh = Ssh {
        key: guest.key.clone(),
        port: ssh_port,
    };

    // 1. SSH answers. An ssh attempt made before the guest's network is up waits for user
    // networking's retransmission to the guest, so attempts start once the console says
    // dropbear runs (or after 60 s, whatever the console says).
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last_error = String::new();
    loop {
        if let Some(status) = qemu.child.try_wait()? {
            bail!("QEMU exited ({status}) before SSH answered");
        }
        if Instant::now() > deadline {
            bail!("SSH did not answer on 127.0.0.1:{ssh_port} within 180 s: {last_error}");
        }
        let log = fs::read_to_string(&console).unwrap_or_default();
        if log.contains("vsm-guest: ssh: dropbear did not start") {
            bail!("dropbear did not start in the guest");
        }
        if !log.contains("vsm-guest: ssh: dropbear on port 22")
            && boot_started.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let out = ssh.run("true", None)?;
        if out.status.success() {
            break;
        }
        last_error = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        std::thread::sleep(Duration::from_millis(250));
    }
    let boot_to_ssh = boot_started.elapsed();
    println!(
        "guest-image --check: SSH answered {:.1} s after QEMU started",
        boot_to_ssh.as_secs_f64()
    );

    // 2. The seed's host name.
    let name = ssh.ok("hostname", None)?;
    if name.trim() != hostname {
        bail!(
            "the guest's host name is {:?}, the seed says {hostname:?}",
            name.trim()
        );
    }

    // 3. Deliver content: one file through cat, one through a GNU tar stream.
    let index = "<p>vsm guest check</p>\n";
    ssh.ok("cat > /srv/vsm/app/index.html", Some(index.as_bytes()))?;
    let tar_src = work.join("tar");
    fs::create_dir_all(tar_src.join("app/docs"))?;
    let about = "delivered by tar\n";
    fs::write(tar_src.join("app/docs/about.txt"), about)?;
    let tar = Command::new("tar")
        .args(["--format=gnu", "--owner=0", "--group=0", "-cf", "-", "-C"])
        .arg(&tar_src)
        .arg("app")
        .output()
        .context("running tar")?;
    if !tar.status.success() {
        bail!("tar failed ({})", tar.status);
    }
    ssh.ok("tar -x -f - -C /srv/vsm", Some(&tar.stdout))?;

    // 4. The example service, healthy through the port forward.
    ssh.ok(
        "vsm-service start vsm-appserver --port 8080 --dir app",
        None,
    )?;
    let service_started = Instant::now();
    let deadline = service_started + Duration::from_secs(30);
    loop {
        match http_get(http_port, "/healthz") {
            Ok((200, _)) => break,
            other if Instant::now() > deadline => {
                bail!(
                    "GET /healthz through 127.0.0.1:{http_port} did not answer 200 within 30 s (last: {other:?})"
                )
            }
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    }
    let service_healthy = service_started.elapsed();
    for (path, want) in [("/", index), ("/docs/about.txt", about)] {
        let (status, body) = http_get(http_port, path)?;
        if status != 200 || body != want {
            bail!("GET {path}: {status} {body:?}, expected 200 {want:?}");
        }
    }
    let status = ssh.run("vsm-service status", None)?;
    if status.status.code() != Some(0) {
        bail!(
            "vsm-service status: {} ({})",
            String::from_utf8_lossy(&status.stdout).trim(),
            status.status
        );
    }
    println!(
        "guest-image --check: host name, delivery, service ({}) and /healthz OK",
        String::from_utf8_lossy(&status.stdout).trim()
    );

    // 5. ACPI power button → orderly power-off, QEMU exits.
    let off_started = Instant::now();
    system_powerdown(&monitor)?;
    let deadline = off_started + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = qemu.child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("the guest did not power off within 30 s of the ACPI power button");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let power_off = off_started.elapsed();
    let log = fs::read_to_string(&console).unwrap_or_default();
    for want in [
        "power button pressed",
        "vsm-appserver stopping",
        "/srv/vsm unmounted",
    ] {
        if !log.contains(want) {
            bail!("QEMU exited ({exit}) but the console log lacks {want:?}: no orderly power-off");
        }
    }
    println!(
        "guest-image --check: powered off by the ACPI button in {:.1} s ({exit})",
        power_off.as_secs_f64()
    );
    Ok(Timings {
        boot_to_ssh,
        service_healthy,
        power_off,
        total: started.elapsed(),
    })
}

/// Presses the ACPI power button through QEMU's human monitor.
fn system_powerdown(socket: &Path) -> Result<()> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to the QEMU monitor {}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    // Banner, then the prompt.
    let mut seen = Vec::new();
    while !seen.ends_with(b"(qemu) ") {
        let mut byte = [0u8];
        if reader.read(&mut byte)? == 0 {
            bail!("the QEMU monitor closed");
        }
        seen.push(byte[0]);
    }
    stream.write_all(b"system_powerdown\n")?;
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    Ok(())
}

/// `GET path` on 127.0.0.1:port: (status, body).
fn http_get(port: u16, path: &str) -> Result<(u16, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: guest\r\n\r\n").as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status in {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The OpenSSH client, as root on the guest through the loopback forward.
struct Ssh {
    key: PathBuf,
    port: u16,
}

impl Ssh {
    fn run(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output> {
        let mut cmd = Command::new("ssh");
        cmd.arg("-i")
            .arg(&self.key)
            .args(["-p", &self.port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=4",
                "root@127.0.0.1",
                command,
            ])
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .context("running ssh (package openssh-client)")?;
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().context("ssh stdin")?;
            pipe.write_all(data).context("writing to ssh")?;
        }
        child.wait_with_output().context("waiting for ssh")
    }

    /// Runs `command`, failing unless it succeeds; its stdout.
    fn ok(&self, command: &str, stdin: Option<&[u8]>) -> Result<String> {
        let out = self.run(command, stdin)?;
        if !out.status.success() {
            bail!(
                "ssh root@guest {command:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a newc archive back: (name, mode, rdev major, rdev minor, data) per entry.
    fn parse_newc(mut bytes: &[u8]) -> Vec<(String, u32, u32, u32, Vec<u8>)> {
        let field = |h: &[u8], i: usize| {
            let hex = std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i]).expect("ascii");
            u32::from_str_radix(hex, 16).expect("hex") as usize
        };
        let pad = |n: usize| (n + 3) & !3;
        let mut entries = Vec::new();
        loop {
            assert_eq!(&bytes[..6], b"070701", "magic");
            let (mode, size, major, minor, namesize) = (
                field(bytes, 1),
                field(bytes, 6),
                field(bytes, 9),
                field(bytes, 10),
                field(bytes, 11),
            );
            let name = String::from_utf8(bytes[110..110 + namesize - 1].to_vec()).expect("name");
            let data_at = pad(110 + namesize);
            let data = bytes[data_at..data_at + size].to_vec();
            bytes = &bytes[pad(data_at + size)..];
            if name == "TRAILER!!!" {
                assert!(bytes.is_empty());
                return entries;
            }
            entries.push((name, mode as u32, major as u32, minor as u32, data));
        }
    }

    #[test]
    fn newc_archive_reads_back_with_parents_first() {
        let mut t = Tree::default();
        t.file("usr/bin/x", 0o755, b"abc".to_vec());
        t.symlink("bin/sh", "busybox");
        t.char_dev("dev/console", 0o600, 5, 1);
        t.dir("tmp", 0o1777);
        let bytes = t.to_newc();
        assert_eq!(bytes.len() % 4, 0);
        let entries = parse_newc(&bytes);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/sh",
                "dev",
                "dev/console",
                "tmp",
                "usr",
                "usr/bin",
                "usr/bin/x"
            ]
        );
        let get = |n: &str| entries.iter().find(|e| e.0 == n).expect("entry");
        assert_eq!(get("usr/bin/x").1, 0o100755);
        assert_eq!(get("usr/bin/x").4, b"abc");
        assert_eq!(get("bin/sh").1, 0o120777);
        assert_eq!(get("bin/sh").4, b"busybox");
        assert_eq!(get("dev/console").1, 0o020600);
        assert_eq!((get("dev/console").2, get("dev/console").3), (5, 1));
        assert_eq!(get("tmp").1, 0o041777);
        assert_eq!(get("usr").1, 0o040755);
    }

    #[test]
    fn console_escapes_are_stripped() {
        assert_eq!(
            strip_escapes("\u{1b}c\u{1b}[?7l\u{1b}[2JSeaBIOS\r\nvsm-guest: up\n"),
            "SeaBIOS\nvsm-guest: up\n"
        );
    }

    #[test]
    fn module_names_are_normalised() {
        assert_eq!(
            module_name("kernel/arch/x86/crypto/crc32c-intel.ko"),
            "crc32c_intel"
        );
        assert_eq!(module_name("kernel/fs/ext4/ext4.ko.xz"), "ext4");
        assert_eq!(module_name("nls_iso8859-1"), "nls_iso8859_1");
    }
}
