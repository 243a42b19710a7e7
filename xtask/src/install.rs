//! `cargo xtask install [--prefix DIR]`: builds `vsm` and the programs the example templates
//! boot (`vsm-appserver`) in release and installs them into `PREFIX/bin`, beside each other —
//! the manager's local driver finds a template's program in the directory of the running `vsm`
//! first — with the man pages and shell completions of `docs/cli/` (rendered afresh from the
//! command tree). It prints every file it wrote and says when `PREFIX/bin` is not on `PATH`.
//!
//! The programs are `vsm` plus every workspace binary that a template under
//! `examples/templates/` names as its `boot` program; `cargo xtask package` ships the same set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use camino::Utf8Path;

/// The usage text of the task.
pub(crate) const USAGE: &str = "\
usage: cargo xtask install [--prefix DIR]

Builds vsm and the programs the example templates run (vsm-appserver) in release and installs
them into PREFIX/bin, the man pages into PREFIX/share/man/man1 and the bash, zsh and fish
completions under PREFIX/share.

  --prefix DIR   where to install; default: /usr/local when run as root, else $HOME/.local
";

/// A program to install: a binary target of a workspace package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Program {
    /// The package that builds it.
    pub package: String,
    /// The binary's name.
    pub bin: String,
}

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut prefix: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--prefix" => match it.next() {
                Some(p) if !p.is_empty() => prefix = Some(PathBuf::from(p)),
                _ => bail!("--prefix needs a directory\n\n{USAGE}"),
            },
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    let prefix = match prefix {
        Some(p) => std::path::absolute(&p)
            .with_context(|| format!("cannot make {} absolute", p.display()))?,
        None => default_prefix()?,
    };
    let programs = programs()?;
    build(&programs, Profile::Release, &[])?;
    let built = crate::target_dir()?.join(Profile::Release.dir());
    let installed = install_into(&prefix, &built, &programs, &vsm_cli::docgen::files())?;
    println!("\ninstalled into {}:", prefix.display());
    for line in summary(&prefix, &installed) {
        println!("  {line}");
    }
    let bin = prefix.join("bin");
    if let Some(hint) = path_hint(&bin, std::env::var_os("PATH").as_deref()) {
        println!("\n{hint}");
    }
    println!(
        "\nnext: the quick tour of README.md, from the root of this checkout (it uses examples/)"
    );
    Ok(())
}

/// Where `install` goes by default: `/usr/local` for root, else `$HOME/.local`.
pub(crate) fn default_prefix() -> Result<PathBuf> {
    if effective_uid()? == 0 {
        return Ok(PathBuf::from("/usr/local"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: give --prefix DIR")?;
    Ok(PathBuf::from(home).join(".local"))
}

/// The effective user id of this process (from `/proc/self/status`).
fn effective_uid() -> Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status to find the user id")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
        .context("no effective user id in /proc/self/status")
}

/// A cargo build profile and its directory under the target directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// `--release`: what `install` and `package` ship.
    Release,
    /// The dev profile: what the test step of CI has already built.
    Dev,
}

impl Profile {
    /// The directory of its binaries under the target directory.
    pub(crate) fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "debug",
        }
    }
}

/// Builds `programs` with `profile` and the extra cargo arguments `extra`.
pub(crate) fn build(programs: &[Program], profile: Profile, extra: &[&str]) -> Result<()> {
    let mut cmd = crate::cargo();
    cmd.args(["build", "--locked"]);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let packages: BTreeSet<&str> = programs.iter().map(|p| p.package.as_str()).collect();
    for p in &packages {
        cmd.args(["-p", p]);
    }
    for p in programs {
        cmd.args(["--bin", &p.bin]);
    }
    cmd.args(extra);
    let what = format!(
        "cargo build{} of {}",
        if profile == Profile::Release {
            " --release"
        } else {
            ""
        },
        programs
            .iter()
            .map(|p| p.bin.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    crate::run_cmd(&what, &mut cmd)
}

/// `vsm` and every workspace binary an example template boots, in name order.
pub(crate) fn programs() -> Result<Vec<Program>> {
    let bins = workspace_bins()?;
    let root = crate::workspace_root();
    let booted = template_programs(&root.join("examples").join("templates"))?;
    select_programs(&bins, &booted)
}

/// `vsm` plus the binaries of `bins` (package, name) that `booted` names; a booted bare name
/// that is no workspace binary is a system program and not installed.
fn select_programs(bins: &[Program], booted: &BTreeSet<String>) -> Result<Vec<Program>> {
    let mut out: Vec<Program> = Vec::new();
    let find = |name: &str| bins.iter().find(|b| b.bin == name).cloned();
    out.push(find("vsm").context("no workspace package builds a binary named vsm")?);
    for name in booted {
        if let Some(p) = find(name)
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out.sort_by(|a, b| a.bin.cmp(&b.bin));
    Ok(out)
}

/// The bare program names (`boot[0]` without a slash) of the templates in `dir`.
fn template_programs(dir: &Path) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for e in entries {
        let file = e?.path().join(vsm_hypervisor::local::MANIFEST_FILE);
        if !file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let path = Utf8Path::from_path(&file).context("a template path is not UTF-8")?;
        let manifest = vsm_hypervisor::local::TemplateManifest::parse(&text, path)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(program) = manifest.boot.first()
            && !program.contains('/')
        {
            out.insert(program.clone());
        }
    }
    Ok(out)
}

/// The binary targets of the workspace's packages (cargo metadata).
fn workspace_bins() -> Result<Vec<Program>> {
    let out = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed ({})", out.status);
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let mut bins = Vec::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_bin = target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if is_bin && let Some(bin) = target["name"].as_str() {
                bins.push(Program {
                    package: name.to_owned(),
                    bin: bin.to_owned(),
                });
            }
        }
    }
    Ok(bins)
}

/// Where a generated file of `docs/cli/` (`man/X.1`, `completions/F`) goes under a prefix:
/// `None` for the elvish completions, which have no standard place (`vsm completions elvish`).
/// `zsh_dir` is the zsh directory under `share/` (`zsh/site-functions` for a local prefix,
/// `zsh/vendor-completions` in the Debian package).
pub(crate) fn doc_destination(path: &str, zsh_dir: &str) -> Option<String> {
    if let Some(page) = path.strip_prefix("man/") {
        return Some(format!("share/man/man1/{page}"));
    }
    match path.strip_prefix("completions/")? {
        "vsm.bash" => Some("share/bash-completion/completions/vsm".to_owned()),
        "_vsm" => Some(format!("share/{zsh_dir}/_vsm")),
        "vsm.fish" => Some("share/fish/vendor_completions.d/vsm.fish".to_owned()),
        _ => None,
    }
}

/// Installs the built `programs` from `built` and the generated `docs` under `prefix`; returns
/// the files written, relative to `prefix`, in the order written. A program is copied to a
/// temporary file beside its destination and renamed over it, so a running `vsm` is replaced,
/// never overwritten in place.
pub(crate) fn install_into(
    prefix: &Path,
    built: &Path,
    programs: &[Program],
    docs: &[vsm_cli::docgen::GeneratedFile],
) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for p in programs {
        let from = built.join(&p.bin);
        if !from.is_file() {
            bail!("{} is missing: was it built?", from.display());
        }
        let rel = format!("bin/{}", p.bin);
        let bytes =
            std::fs::read(&from).with_context(|| format!("cannot read {}", from.display()))?;
        write_file(&prefix.join(&rel), &bytes, 0o755)?;
        written.push(rel);
    }
    for f in docs {
        let Some(rel) = doc_destination(&f.path, "zsh/site-functions") else {
            continue;
        };
        write_file(&prefix.join(&rel), &f.contents, 0o644)?;
        written.push(rel);
    }
    Ok(written)
}

/// Writes `bytes` to `dest` with `mode` through a temporary file and a rename.
fn write_file(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = dest
        .parent()
        .with_context(|| format!("{} has no parent directory", dest.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.xtask-install"));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("cannot install {}", dest.display()))?;
    Ok(())
}

/// The report of what was written: each program and completion file on its own line, then the
/// man pages' directory and count, and their names wrapped below it.
fn summary(prefix: &Path, written: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pages = Vec::new();
    for rel in written {
        match rel.strip_prefix("share/man/man1/") {
            Some(page) => pages.push(page),
            None => lines.push(prefix.join(rel).display().to_string()),
        }
    }
    if !pages.is_empty() {
        lines.push(format!(
            "{}/: {} man pages",
            prefix.join("share/man/man1").display(),
            pages.len()
        ));
        let mut line = String::new();
        for page in pages {
            if !line.is_empty() && line.len() + page.len() > 96 {
                lines.push(format!("  {}", line.trim_end()));
                line.clear();
            }
            line.push_str(page);
            line.push(' ');
        }
        lines.push(format!("  {}", line.trim_end()));
    }
    lines
}

/// A hint when `bin` is not a directory of `path` (`PATH`), or when another `vsm` comes first.
fn path_hint(bin: &Path, path: Option<&std::ffi::OsStr>) -> Option<String> {
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let same = |d: &Path| {
        d == bin
            || std::fs::canonicalize(d)
                .ok()
                .zip(std::fs::canonicalize(bin).ok())
                .is_some_and(|(a, b)| a == b)
    };
    let Some(at) = dirs.iter().position(|d| same(d)) else {
        return Some(format!(
            "note: {bin} is not on your PATH; add it, e.g. in ~/.profile:\n    export PATH=\"{bin}:$PATH\"",
            bin = bin.display()
        ));
    };
    dirs[..at]
        .iter()
        .map(|d| d.join("vsm"))
        .find(|v| v.is_file())
        .map(|other| {
            format!(
                "note: {} comes before {} on your PATH; `vsm` runs that one",
                other.display(),
                bin.join("vsm").display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(package: &str, bin: &str) -> Program {
        Program {
            package: package.into(),
            bin: bin.into(),
        }
    }

    #[test]
    fn the_example_templates_need_vsm_appserver_and_it_is_installed() {
        let root = crate::workspace_root();
        let booted = template_programs(&root.join("examples/templates")).expect("templates");
        assert!(booted.contains("vsm-appserver"), "{booted:?}");
        let bins = vec![
            program("vsm-cli", "vsm"),
            program("vsm-hypervisor", "vsm-appserver"),
            program("xtask", "xtask"),
        ];
        let mut booted = booted;
        booted.insert("sh".into()); // a system program: not installed
        let chosen = select_programs(&bins, &booted).expect("programs");
        assert_eq!(
            chosen,
            vec![
                program("vsm-cli", "vsm"),
                program("vsm-hypervisor", "vsm-appserver")
            ]
        );
    }

    #[test]
    fn generated_docs_go_to_their_standard_places() {
        assert_eq!(
            doc_destination("man/vsm-unit-start.1", "zsh/site-functions").as_deref(),
            Some("share/man/man1/vsm-unit-start.1")
        );
        assert_eq!(
            doc_destination("completions/vsm.bash", "x").as_deref(),
            Some("share/bash-completion/completions/vsm")
        );
        assert_eq!(
            doc_destination("completions/_vsm", "zsh/vendor-completions").as_deref(),
            Some("share/zsh/vendor-completions/_vsm")
        );
        assert_eq!(
            doc_destination("completions/vsm.fish", "x").as_deref(),
            Some("share/fish/vendor_completions.d/vsm.fish")
        );
        assert_eq!(doc_destination("completions/vsm.elv", "x"), None);
        // every generated file but the elvish completions has a place
        let files = vsm_cli::docgen::files();
        let placed = files
            .iter()
            .filter(|f| doc_destination(&f.path, "zsh/site-functions").is_some())
            .count();
        assert_eq!(placed, files.len() - 1);
    }

    #[test]
    fn install_writes_programs_and_docs_and_replaces_what_was_there() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let built = tmp.path().join("built");
        std::fs::create_dir_all(&built).expect("built");
        std::fs::write(built.join("vsm"), b"new vsm").expect("vsm");
        std::fs::write(built.join("vsm-appserver"), b"app").expect("app");
        let prefix = tmp.path().join("prefix");
        std::fs::create_dir_all(prefix.join("bin")).expect("bin");
        std::fs::write(prefix.join("bin/vsm"), b"old vsm").expect("old");
        let programs = [program("a", "vsm"), program("b", "vsm-appserver")];
        let docs = vsm_cli::docgen::files();
        let written = install_into(&prefix, &built, &programs, &docs).expect("install");
        assert_eq!(written[..2], ["bin/vsm", "bin/vsm-appserver"]);
        assert_eq!(written.len(), 2 + docs.len() - 1);
        assert_eq!(
            std::fs::read(prefix.join("bin/vsm")).expect("vsm"),
            b"new vsm"
        );
        let mode = std::fs::metadata(prefix.join("bin/vsm-appserver"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(prefix.join("share/man/man1/vsm-manager-init.1").is_file());
        assert!(prefix.join("share/zsh/site-functions/_vsm").is_file());
        // no temporary file is left behind
        let leftovers: Vec<_> = std::fs::read_dir(prefix.join("bin"))
            .expect("ls")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // a missing program fails and names it
        let err = install_into(&prefix, &built, &[program("c", "nope")], &[]).expect_err("missing");
        assert!(err.to_string().contains("nope is missing"), "{err}");
        let lines = summary(&prefix, &written);
        assert!(lines[0].ends_with("bin/vsm"), "{lines:?}");
        let pages = lines
            .iter()
            .position(|l| l.ends_with(&format!("{} man pages", docs.len() - 4)))
            .unwrap_or_else(|| panic!("no man page line: {lines:?}"));
        let names: Vec<&str> = lines[pages + 1..]
            .iter()
            .flat_map(|l| l.split_whitespace())
            .collect();
        assert_eq!(
            names.len(),
            docs.len() - 4,
            "every page is named: {lines:?}"
        );
        assert!(names.contains(&"vsm-manager-init.1"), "{lines:?}");
    }

    #[test]
    fn the_path_hint_says_when_bin_is_missing_or_shadowed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let bin = tmp.path().join("prefix/bin");
        let other = tmp.path().join("other");
        std::fs::create_dir_all(&bin).expect("bin");
        std::fs::create_dir_all(&other).expect("other");
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).expect("join");
        let missing = path_hint(&bin, Some(&path(&[&other]))).expect("hint");
        assert!(missing.contains("is not on your PATH"), "{missing}");
        assert_eq!(path_hint(&bin, Some(&path(&[&bin, &other]))), None);
        std::fs::write(other.join("vsm"), b"x").expect("other vsm");
        let shadowed = path_hint(&bin, Some(&path(&[&other, &bin]))).expect("hint");
        assert!(shadowed.contains("comes before"), "{shadowed}");
        assert!(path_hint(&bin, None).is_some());
    }
}
