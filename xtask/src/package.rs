//! `cargo xtask package [--out DIR]`: the Debian package `vsm` (docs/install.md), built by
//! cargo-deb from `[package.metadata.deb]` of crates/vsm-cli/Cargo.toml, then checked:
//!
//! - `dpkg-deb -c` lists exactly the expected files (the programs `cargo xtask install`
//!   installs, the systemd unit, every man page and the bash/zsh/fish completions of
//!   `docs/cli/`, the documentation and the examples), with their modes;
//! - `dpkg-deb -e`: the maintainer scripts hold our part and cargo-deb's systemd part, and
//!   parse (`sh -n`);
//! - `dpkg --root SCRATCH -i` (chrootless, with a `policy-rc.d` that forbids touching services)
//!   installs it: every file is in place, the unit is enabled, `/var/lib/vsm` is owner-only
//!   and the installed `vsm` runs; `systemd-analyze verify` (where it exists) finds nothing to
//!   say about the installed unit, its `ExecStart` and its man page resolved in SCRATCH;
//! - `dpkg -r` and `dpkg -P` remove it again and leave the state directory alone.
//!
//! cargo-deb is installed on first use into `<target dir>/tools` at a pinned version. The
//! release package is built from a release build of the programs (`--no-build`: cargo-deb would
//! only build vsm-cli's). `cargo xtask ci` packages the dev build the tests already made
//! (`--profile dev --strip --fast`; `cargo xtask package --ci` does the same) and runs the same
//! checks. A missing tool fails the check,
//! except `systemd-analyze` outside CI (`CI=true`), which is then skipped, saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::install::{self, Profile, Program};

/// The cargo-deb version `package` installs and uses.
pub(crate) const CARGO_DEB_VERSION: &str = "3.8.0";
/// The Debian package's name.
const PACKAGE: &str = "vsm";
/// The systemd unit the package carries.
const UNIT: &str = "vsm-manager.service";

const USAGE: &str = "\
usage: cargo xtask package [--out DIR | --ci]

Builds the Debian package vsm (release build; cargo-deb installed into <target dir>/tools on
first use) into DIR (default: <target dir>/package) and checks it: the files, the maintainer
scripts, an install into a scratch root, systemd-analyze verify of the unit, remove and purge.

  --ci   what `cargo xtask ci` runs: the same checks on a package of the dev build (stripped,
         fast compression) in <target dir>/package/ci, without a release build
";

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut out: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => match it.next() {
                Some(d) => out = Some(PathBuf::from(d)),
                None => bail!("--out needs a directory\n\n{USAGE}"),
            },
            "--ci" if args.len() == 1 => return ci(),
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    let started = Instant::now();
    require_tools()?;
    crate::r#gen::run(&["--check".to_owned()])?;
    let programs = install::programs()?;
    install::build(&programs, Profile::Release, &[])?;
    let out = match out {
        Some(d) => std::path::absolute(d)?,
        // Not cargo-deb's own `<target dir>/debian`: every cargo-deb run deletes the packages
        // of the same name there, whatever its --output (the CI package would delete this one).
        None => crate::target_dir()?.join("package"),
    };
    let deb = make_deb(Profile::Release, &out, &[])?;
    check(&deb, &programs)?;
    println!(
        "\n{} is built and checked ({:.0?}); install it with\n    sudo apt install {}\nthen see docs/install.md for the first start",
        deb.display(),
        started.elapsed(),
        deb.display()
    );
    Ok(())
}

/// The CI step: packages the dev build of the programs that the test step made (the same
/// build command as the e2e harness, so nothing is rebuilt) and checks the package.
pub(crate) fn ci() -> Result<()> {
    let started = Instant::now();
    require_tools()?;
    crate::r#gen::run(&["--check".to_owned()])?;
    let programs = install::programs()?;
    let features: &[&str] = if vsm_tests::libvirt_buildable() {
        &["--features", "vsm-cli/libvirt"]
    } else {
        &[]
    };
    install::build(&programs, Profile::Dev, features)?;
    let out = crate::target_dir()?.join("package").join("ci");
    let deb = make_deb(Profile::Dev, &out, &["--strip", "--fast"])?;
    check(&deb, &programs)?;
    eprintln!(
        "\npackage: {} built and checked in {:.0?}",
        deb.display(),
        started.elapsed()
    );
    Ok(())
}

/// dpkg and dpkg-deb, without which nothing can be built or checked.
fn require_tools() -> Result<()> {
    for tool in ["dpkg", "dpkg-deb"] {
        if which(tool).is_none() {
            bail!(
                "`{tool}` is not installed: the Debian package needs a Debian-like system (apt install dpkg)"
            );
        }
    }
    Ok(())
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// cargo-deb at [`CARGO_DEB_VERSION`], installed into `<target dir>/tools` when missing.
fn cargo_deb() -> Result<PathBuf> {
    let root = crate::target_dir()?.join("tools");
    let bin = root.join("bin").join("cargo-deb");
    let wanted = format!("cargo-deb {CARGO_DEB_VERSION}");
    let version = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if version(&bin).as_deref() == Some(wanted.as_str()) {
        return Ok(bin);
    }
    let started = Instant::now();
    crate::run_cmd(
        &format!(
            "cargo install cargo-deb {CARGO_DEB_VERSION} into {}",
            root.display()
        ),
        crate::cargo()
            .args(["install", "--locked", "--quiet", "cargo-deb", "--version"])
            .arg(CARGO_DEB_VERSION)
            .arg("--root")
            .arg(&root),
    )?;
    eprintln!("cargo-deb installed in {:.0?}", started.elapsed());
    match version(&bin) {
        Some(v) if v == wanted => Ok(bin),
        other => bail!("{} says {other:?}, not {wanted}", bin.display()),
    }
}

/// Runs cargo-deb on the already built programs of `profile`; answers the package's path.
fn make_deb(profile: Profile, out: &Path, extra: &[&str]) -> Result<PathBuf> {
    let tool = cargo_deb()?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for e in std::fs::read_dir(out)?.flatten() {
        if e.path().extension().is_some_and(|x| x == "deb") {
            std::fs::remove_file(e.path())?;
        }
    }
    let mut cmd = Command::new(&tool);
    cmd.current_dir(crate::workspace_root())
        .args(["--package", "vsm-cli", "--no-build", "--locked", "--output"])
        .arg(out)
        .args(extra);
    if profile == Profile::Dev {
        // cargo-deb warns that the dev profile is meant for releases only; CI packages the
        // build it has, the release package comes from `cargo xtask package`.
        cmd.args(["--profile", "dev"]);
    }
    if let Ok(cargo) = std::env::var("CARGO") {
        cmd.env("CARGO", cargo);
    }
    crate::run_cmd(
        &format!("cargo-deb ({} build) into {}", profile.dir(), out.display()),
        &mut cmd,
    )?;
    let debs: Vec<PathBuf> = std::fs::read_dir(out)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    match debs.as_slice() {
        [one] => Ok(one.clone()),
        other => bail!(
            "expected one .deb in {}, found {}",
            out.display(),
            other.len()
        ),
    }
}

/// The files the package must hold (paths without the leading `./`), with their modes where
/// they matter.
fn expected_files(programs: &[Program]) -> Result<BTreeMap<String, Option<u32>>> {
    let mut files = BTreeMap::new();
    for p in programs {
        files.insert(format!("usr/bin/{}", p.bin), Some(0o755));
    }
    files.insert(format!("usr/lib/systemd/system/{UNIT}"), Some(0o644));
    for f in vsm_cli::docgen::files() {
        if let Some(dest) = install::doc_destination(&f.path, "zsh/vendor-completions") {
            let dest = if dest.starts_with("share/man/") {
                format!("usr/{dest}.gz")
            } else {
                format!("usr/{dest}")
            };
            files.insert(dest, Some(0o644));
        }
    }
    for doc in ["install.md", "cli.md", "copyright"] {
        files.insert(format!("usr/share/doc/{PACKAGE}/{doc}"), Some(0o644));
    }
    let examples = crate::workspace_root().join("examples");
    for rel in walk_files(&examples)? {
        files.insert(format!("usr/share/vsm/examples/{rel}"), None);
    }
    Ok(files)
}

/// The files under `dir`, as relative paths with `/`.
fn walk_files(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
            let path = e?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs `cmd`, failing with its output unless it succeeds.
fn output(what: &str, cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("could not run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// The regular files of a `dpkg-deb -c` listing with their permission bits.
fn parse_listing(listing: &str) -> Result<BTreeMap<String, u32>> {
    let mut files = BTreeMap::new();
    for line in listing.lines() {
        let Some(perms) = line.split_whitespace().next() else {
            continue;
        };
        if !perms.starts_with('-') {
            continue; // directories (and links: the package has none)
        }
        let path = line
            .split_whitespace()
            .last()
            .and_then(|p| p.strip_prefix("./"))
            .with_context(|| format!("unexpected dpkg-deb -c line: {line}"))?;
        files.insert(path.to_owned(), mode_of(perms)?);
    }
    Ok(files)
}

/// `-rwxr-xr-x` → 0o755.
fn mode_of(perms: &str) -> Result<u32> {
    let bits = perms.get(1..10).context("short permission string")?;
    let mut mode = 0;
    for (i, c) in bits.chars().enumerate() {
        if c != '-' {
            mode |= 1 << (8 - i);
        }
    }
    Ok(mode)
}

/// What differs between the package's files and the expected ones; empty when they match.
fn compare(found: &BTreeMap<String, u32>, expected: &BTreeMap<String, Option<u32>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, mode) in expected {
        match found.get(path) {
            None => problems.push(format!("missing: {path}")),
            Some(m) => {
                if let Some(want) = mode
                    && m != want
                {
                    problems.push(format!("mode of {path}: {m:o}, expected {want:o}"));
                }
            }
        }
    }
    for path in found.keys() {
        if !expected.contains_key(path) {
            problems.push(format!("unexpected: {path}"));
        }
    }
    problems
}

/// Checks the package `deb` (see the module's documentation).
fn check(deb: &Path, programs: &[Program]) -> Result<()> {
    eprintln!("\n==> checking {}", deb.display());
    let expected = expected_files(programs)?;

    // The files and their modes.
    let listing = output("dpkg-deb -c", Command::new("dpkg-deb").arg("-c").arg(deb))?;
    let found = parse_listing(&String::from_utf8_lossy(&listing.stdout))?;
    let problems = compare(&found, &expected);
    if !problems.is_empty() {
        bail!(
            "{} does not hold the expected files:\n  {}",
            deb.display(),
            problems.join("\n  ")
        );
    }
    eprintln!(
        "files: the {} expected files, with their modes",
        found.len()
    );

    // The control fields.
    let fields = output(
        "dpkg-deb -f",
        Command::new("dpkg-deb")
            .arg("-f")
            .arg(deb)
            .args(["Package", "Depends"]),
    )?;
    let fields = String::from_utf8_lossy(&fields.stdout).into_owned();
    if !fields.contains(&format!("Package: {PACKAGE}\n")) || !fields.contains("adduser") {
        bail!("unexpected control fields (want Package: {PACKAGE}, Depends on adduser):\n{fields}");
    }

    // The maintainer scripts.
    let scratch = tempfile::Builder::new()
        .prefix("vsm-package-check-")
        .tempdir()?;
    let control = scratch.path().join("control");
    output(
        "dpkg-deb -e",
        Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control),
    )?;
    check_scripts(&control)?;
    eprintln!("maintainer scripts: postinst, prerm, postrm with the systemd part; sh -n passes");

    // An install into a scratch root.
    let root = scratch.path().join("root");
    install_in_scratch(deb, &root, &expected)?;

    // The unit as installed.
    verify_unit(&root)?;

    // Remove and purge: the programs go, the state directory stays.
    remove_and_purge(&root)?;
    Ok(())
}

/// The maintainer scripts in the control directory `dir`.
fn check_scripts(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let wanted: [(&str, &[&str]); 3] = [
        (
            "postinst",
            &[
                "adduser --system --group --home /var/lib/vsm",
                "deb-systemd-helper enable",
                "try-restart",
            ],
        ),
        ("prerm", &["deb-systemd-invoke stop"]),
        ("postrm", &["deb-systemd-helper purge", "kept /var/lib/vsm"]),
    ];
    for (script, needles) in wanted {
        let path = dir.join(script);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("the package has no {script}"))?;
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o111 == 0 {
            bail!("{script} is not executable ({mode:o})");
        }
        if text.contains("#DEBHELPER#") {
            bail!("{script} still holds the #DEBHELPER# token");
        }
        for n in needles {
            if !text.contains(n) {
                bail!("{script} lacks `{n}`:\n{text}");
            }
        }
        output(
            &format!("sh -n {script}"),
            Command::new("sh").arg("-n").arg(&path),
        )?;
    }
    Ok(())
}

/// `dpkg --root ROOT` with the options of a chrootless install as any user.
fn dpkg(root: &Path) -> Command {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display())).args([
        "--force-not-root",
        "--force-script-chrootless",
        "--force-depends",
        "--force-unsafe-io",
        "--log=/dev/null",
    ]);
    cmd
}

/// Installs `deb` into the scratch root `root` and checks the result.
fn install_in_scratch(
    deb: &Path,
    root: &Path,
    expected: &BTreeMap<String, Option<u32>>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(d))?;
    }
    for f in ["status", "available"] {
        std::fs::write(admin.join(f), b"")?;
    }
    // The Debian way to keep maintainer scripts from starting or stopping services: they run
    // on this machine (chrootless), and deb-systemd-invoke asks $DPKG_ROOT/usr/sbin/policy-rc.d.
    let policy = root.join("usr/sbin/policy-rc.d");
    std::fs::create_dir_all(policy.parent().context("policy-rc.d's directory")?)?;
    std::fs::write(&policy, "#!/bin/sh\nexit 101\n")?;
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o755))?;
    let installed = output("dpkg --root … -i", dpkg(root).arg("-i").arg(deb))?;
    let said = String::from_utf8_lossy(&installed.stderr).into_owned();
    if !said.contains("vsm-manager) is enabled but not started") {
        bail!("the first install did not say how to start the service:\n{said}");
    }

    let listed = output("dpkg -L", dpkg(root).args(["-L", PACKAGE]))?;
    let listed: BTreeSet<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| l.trim_start_matches('/').to_owned())
        .collect();
    let mut problems = Vec::new();
    for path in expected.keys() {
        if !listed.contains(path) {
            problems.push(format!("not listed by dpkg -L: {path}"));
        }
        if !root.join(path).is_file() {
            problems.push(format!("not installed: {path}"));
        }
    }
    let wants = root
        .join("etc/systemd/system/multi-user.target.wants")
        .join(UNIT);
    if std::fs::symlink_metadata(&wants).is_err() {
        problems.push(format!("{UNIT} is not enabled (no {})", wants.display()));
    }
    match std::fs::metadata(root.join("var/lib/vsm")) {
        Ok(m) if m.is_dir() && m.permissions().mode() & 0o777 == 0o700 => {}
        Ok(m) => problems.push(format!(
            "/var/lib/vsm has mode {:o}, expected 700",
            m.permissions().mode() & 0o777
        )),
        Err(e) => problems.push(format!("/var/lib/vsm was not created: {e}")),
    }
    if !problems.is_empty() {
        bail!(
            "the install into {} is not right:\n  {}",
            root.display(),
            problems.join("\n  ")
        );
    }
    let version = output(
        "the installed vsm --version",
        Command::new(root.join("usr/bin/vsm")).arg("--version"),
    )?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    if version != format!("vsm {}", env!("CARGO_PKG_VERSION")) {
        bail!("the installed vsm says `{version}`");
    }
    eprintln!(
        "scratch install: {} files listed by dpkg -L, {UNIT} enabled, /var/lib/vsm 0700, `{version}` runs",
        listed.len()
    );
    Ok(())
}

/// `systemd-analyze verify` of the installed unit in the scratch root: with the machine's own
/// units beside it (the targets it orders after), its `ExecStart` and man page are those of
/// the package. Any message fails.
fn verify_unit(root: &Path) -> Result<()> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Some(analyze) = which("systemd-analyze") else {
        if ci {
            bail!("systemd-analyze is missing (CI=true): install systemd to verify the unit");
        }
        eprintln!(
            "systemd-analyze: not installed here, the unit is not verified (CI fails instead)"
        );
        return Ok(());
    };
    let units = root.join("usr/lib/systemd/system");
    for dir in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let to = units.join(e.file_name());
            if std::fs::symlink_metadata(&to).is_err() {
                if let Ok(target) = std::fs::read_link(e.path()) {
                    std::os::unix::fs::symlink(target, &to)?;
                } else if e.path().is_file() {
                    std::fs::copy(e.path(), &to)?;
                }
            }
        }
    }
    let out = Command::new(analyze)
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(format!("/usr/lib/systemd/system/{UNIT}"))
        .env("MANPATH", root.join("usr/share/man"))
        .output()
        .context("could not run systemd-analyze verify")?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !said.trim().is_empty() {
        bail!("systemd-analyze verify {UNIT} ({}):\n{said}", out.status);
    }
    eprintln!("systemd-analyze verify {UNIT}: clean (ExecStart and man page from the package)");
    Ok(())
}

/// Removes, then purges the package in the scratch root; a state directory survives both.
fn remove_and_purge(root: &Path) -> Result<()> {
    let state = root.join("var/lib/vsm/config.yaml");
    std::fs::write(&state, "# the state of a manager\n")?;
    output("dpkg --root … -r", dpkg(root).args(["-r", PACKAGE]))?;
    if root.join("usr/bin/vsm").exists() {
        bail!("dpkg -r left /usr/bin/vsm");
    }
    let purged = output("dpkg --root … -P", dpkg(root).args(["-P", PACKAGE]))?;
    if !state.is_file() {
        bail!("removing and purging the package deleted the state directory");
    }
    let said = String::from_utf8_lossy(&purged.stderr);
    if !said.contains("kept /var/lib/vsm") {
        bail!("the purge did not say that it kept /var/lib/vsm:\n{said}");
    }
    let wants = root
        .join("etc/systemd/system/multi-user.target.wants")
        .join(UNIT);
    if std::fs::symlink_metadata(&wants).is_ok() {
        bail!("the purge left {}", wants.display());
    }
    eprintln!("remove and purge: the programs and the unit are gone, /var/lib/vsm is kept");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_parsed_into_files_and_modes() {
        let listing = "\
drwxr-xr-x 0/0               0 2024-01-01 00:00 ./
drwxr-xr-x 0/0               0 2024-01-01 00:00 ./usr/bin/
-rwxr-xr-x 0/0        12345678 2024-01-01 00:00 ./usr/bin/vsm
-rw-r--r-- 0/0            1234 2024-01-01 00:00 ./usr/share/man/man1/vsm.1.gz
";
        let files = parse_listing(listing).expect("parse");
        assert_eq!(files.len(), 2);
        assert_eq!(files["usr/bin/vsm"], 0o755);
        assert_eq!(files["usr/share/man/man1/vsm.1.gz"], 0o644);
    }

    #[test]
    fn compare_names_missing_unexpected_and_wrong_modes() {
        let found: BTreeMap<String, u32> = [
            ("usr/bin/vsm".to_owned(), 0o644),
            ("usr/bin/extra".to_owned(), 0o755),
            ("usr/share/a".to_owned(), 0o600),
        ]
        .into();
        let expected: BTreeMap<String, Option<u32>> = [
            ("usr/bin/vsm".to_owned(), Some(0o755)),
            ("usr/bin/vsm-appserver".to_owned(), Some(0o755)),
            ("usr/share/a".to_owned(), None),
        ]
        .into();
        assert_eq!(
            compare(&found, &expected),
            vec![
                "mode of usr/bin/vsm: 644, expected 755",
                "missing: usr/bin/vsm-appserver",
                "unexpected: usr/bin/extra",
            ]
        );
        let same: BTreeMap<String, u32> = [
            ("usr/bin/vsm".to_owned(), 0o755),
            ("usr/bin/vsm-appserver".to_owned(), 0o755),
            ("usr/share/a".to_owned(), 0o600),
        ]
        .into();
        assert!(compare(&same, &expected).is_empty());
    }

    #[test]
    fn the_expected_files_cover_programs_unit_man_pages_completions_and_examples() {
        let programs = [
            Program {
                package: "vsm-cli".into(),
                bin: "vsm".into(),
            },
            Program {
                package: "vsm-hypervisor".into(),
                bin: "vsm-appserver".into(),
            },
        ];
        let files = expected_files(&programs).expect("expected files");
        for f in [
            "usr/bin/vsm",
            "usr/bin/vsm-appserver",
            "usr/lib/systemd/system/vsm-manager.service",
            "usr/share/man/man1/vsm-manager-start.1.gz",
            "usr/share/bash-completion/completions/vsm",
            "usr/share/zsh/vendor-completions/_vsm",
            "usr/share/fish/vendor_completions.d/vsm.fish",
            "usr/share/doc/vsm/install.md",
            "usr/share/vsm/examples/templates/appserver/template.yaml",
        ] {
            assert!(files.contains_key(f), "{f} is not expected");
        }
    }

    #[test]
    fn the_unit_and_the_maintainer_scripts_say_what_the_package_relies_on() {
        let root = crate::workspace_root().join("packaging");
        let unit = std::fs::read_to_string(root.join("systemd").join(UNIT)).expect("unit");
        for line in [
            "Type=notify",
            "ExecStart=/usr/bin/vsm manager start --dir /var/lib/vsm",
            "KillMode=process",
            "User=vsm",
            "StateDirectory=vsm",
            "StateDirectoryMode=0700",
            "ProtectSystem=strict",
            "NoNewPrivileges=true",
            "Restart=on-failure",
            "AssertPathExists=/var/lib/vsm/config.yaml",
        ] {
            assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
        }
        for script in ["postinst", "prerm", "postrm"] {
            let text = std::fs::read_to_string(root.join("deb").join(script)).expect("script");
            assert_eq!(
                text.matches("#DEBHELPER#").count(),
                1,
                "{script}: one debhelper token"
            );
        }
    }
}
