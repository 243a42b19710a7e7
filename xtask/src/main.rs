//! `cargo xtask`: the automation of the vsm workspace, written in Rust.
//!
//! `ci` is the one command that checks everything (what `.ci/run` calls); `tidy` checks the
//! architecture rules of ARCHITECTURE.md. Further tasks (demo, e2e, bench, fuzz, soak, install,
//! package) live in their own modules.

mod bench;
mod bench_api;
mod bench_deploy;
mod bench_engine;
mod bench_hosts;
mod bench_import;
mod bench_takeover;
mod bench_vm;
mod demo;
mod deps;
mod e2e;
mod fuzz;
mod r#gen; // `gen` is reserved in edition 2024
mod guest_image;
mod install;
mod package;
mod soak;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  demo    the main job end to end on the embedded defaults (local driver + SQLite)
  e2e     [FILTER] [--driver local|libvirt] build vsm and run the end-to-end suite against it
  gen     [--check] regenerate shell completions and man pages under docs/cli/
  ci      fmt check, clippy -D warnings, all tests, the Debian package, docs, tidy
          (what .ci/run calls)
  tidy    check the architecture rules of ARCHITECTURE.md
  bench   [deploy|engine|api|hosts|vm|import] [--runs N] run the benchmarks (vm: real VMs, root, only when named; import: the import part of deploy), write target/bench/*.json
  soak    [--duration 2h] [--seed N] random operations on the local driver with invariant checks (long run, not in CI)
  fuzz    [TARGET] [--time SECS | --runs N [--seed N]] [--no-merge]
          coverage-guided fuzzing (stable), corpus in fuzz/corpus/
  deps    install the system packages the tests need (Debian; as root or with sudo)
  install [--prefix DIR]
          build vsm and vsm-appserver in release and install them with man pages and
          completions into DIR (default: /usr/local as root, else $HOME/.local)
  package [--out DIR | --ci]
          build the Debian package vsm (release, cargo-deb) and check it: files, scripts,
          an install into a scratch root, systemd-analyze verify of the unit
  guest-image [--check]
          build the VM test guest (kernel, initrd, data disk, key, libvirt template) into
          <target dir>/guest/; --check boots it under QEMU and checks SSH, service, power-off
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        print!("{USAGE}");
        return Ok(());
    };
    match task.as_str() {
        "ci" => ci(),
        "deps" => deps::ensure(),
        "bench" => bench::run(&args[1..]),
        "fuzz" => fuzz::run(&args[1..]),
        "soak" => soak::run(&args[1..]),
        "demo" => demo::run(&args[1..]),
        "e2e" => e2e::run(&args[1..]),
        "gen" => r#gen::run(&args[1..]),
        "guest-image" => guest_image::run(&args[1..]),
        "install" => install::run(&args[1..]),
        "package" => package::run(&args[1..]),
        "tidy" => {
            let problems = tidy::check(&workspace_root())?;
            tidy::report(&problems)
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The target directory cargo uses (honours `CARGO_TARGET_DIR` and config).
pub(crate) fn target_dir() -> Result<PathBuf> {
    target_dir_of(&mut cargo())
}

/// The target directory `cargo metadata` reports when run as `cargo` (a `cargo()` command,
/// perhaps with its environment changed).
fn target_dir_of(cargo: &mut Command) -> Result<PathBuf> {
    let out = cargo
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed ({})", out.status);
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let dir = meta["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    Ok(PathBuf::from(dir))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs `cmd`, echoing it first, and fails with its exit status.
pub(crate) fn run_cmd(step: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("\n==> {step}");
    let status = cmd
        .status()
        .with_context(|| format!("could not run {step}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

fn ci() -> Result<()> {
    let started = std::time::Instant::now();
    deps::ensure()?;
    run_cmd(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    run_cmd(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run_cmd(
        "cargo test",
        cargo()
            .args(["test", "--workspace", "--all-features", "--locked"])
            .env("VSM_SLOW_TESTS", "1"),
    )?;
    // The Debian package, from the dev build the tests made, with its checks.
    package::ci()?;
    run_cmd(
        "cargo doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // A short, deterministic coverage-guided run of every fuzz target (fixed seed and number
    // of executions on the committed corpus), built with SanitizerCoverage in target/fuzz.
    fuzz::run(&[
        "--runs".into(),
        "20000".into(),
        "--seed".into(),
        "1".into(),
        "--no-merge".into(),
    ])?;
    let problems = tidy::check(&workspace_root())?;
    tidy::report(&problems)?;
    eprintln!("\nci: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_directory_is_where_cargo_puts_it_also_when_moved() {
        let moved = tempfile::tempdir().expect("tempdir");
        let dir = target_dir_of(cargo().env("CARGO_TARGET_DIR", moved.path())).expect("metadata");
        assert_eq!(dir, moved.path());
        let default = target_dir_of(cargo().env_remove("CARGO_TARGET_DIR")).expect("metadata");
        assert_ne!(default, moved.path());
    }

    /// No task guesses where cargo put a program (`target/debug/...`): they ask `target_dir`
    /// (the fuzz task passes its own `--target-dir` and looks there).
    #[test]
    fn no_task_guesses_the_target_directory() {
        let src = workspace_root().join("xtask/src");
        let mut guesses = Vec::new();
        for e in std::fs::read_dir(&src).expect("xtask/src") {
            let path = e.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                // Spelled in parts, so that this test does not find itself.
                let t = "target";
                for guess in [
                    format!("{t}/debug"),
                    format!("{t}/release"),
                    format!("join(\"{t}\")"),
                ] {
                    if code.contains(&guess) {
                        guesses.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            guesses.is_empty(),
            "use target_dir() instead:\n{}",
            guesses.join("\n")
        );
    }
}
