//! `cargo xtask fuzz [TARGET] [--time SECS | --runs N [--seed N]] [--no-merge]`: coverage-guided
//! fuzzing on stable Rust.
//!
//! Builds the `vsm-fuzz` binaries (feature `libfuzzer`, libFuzzer from `libfuzzer-sys`) with
//! LLVM's SanitizerCoverage passes enabled through stable `-C` flags, in their own target dir
//! (`target/fuzz`), then runs each target for a bounded time on its committed corpus
//! `fuzz/corpus/<target>/`. New inputs go to a scratch dir and are merged into the corpus only
//! when they add coverage (`-merge=1`), so it stays small. A crash fails the task and names the
//! reproducer under `target/fuzz/artifacts/<target>/`. This module only drives cargo and the
//! fuzz binaries: the targets themselves live in `fuzz/src/lib.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The targets, as named by the binaries and the corpus dirs (see `vsm_fuzz::TARGETS`).
const TARGETS: [&str; 3] = ["manifest", "unit_file", "api_request"];

/// Stable flags: SanitizerCoverage with the counters, PC table and comparison tracing that
/// libFuzzer uses (what cargo-fuzz passes, minus the nightly-only sanitizers).
const RUSTFLAGS: &str = "--cfg fuzzing -Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    -Cdebug-assertions -Coverflow-checks";

struct Options {
    targets: Vec<&'static str>,
    secs: u64,
    merge: bool,
    /// A fixed number of executions with a fixed seed instead of a time budget: the same
    /// inputs on every run (what CI uses, so that it cannot turn red by chance).
    runs: Option<(u64, u64)>,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        targets: Vec::new(),
        secs: 60,
        merge: true,
        runs: None,
    };
    let mut runs = None;
    let mut seed = 1;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--time" => {
                let v = it.next().context("--time needs a number of seconds")?;
                opts.secs = v
                    .parse()
                    .with_context(|| format!("--time {v}: give a whole number of seconds"))?;
            }
            "--no-merge" => opts.merge = false,
            "--runs" => {
                let v = it.next().context("--runs needs a number of executions")?;
                runs = Some(
                    v.parse()
                        .with_context(|| format!("--runs {v}: give a whole number"))?,
                );
            }
            "--seed" => {
                let v = it.next().context("--seed needs a number")?;
                seed = v
                    .parse()
                    .with_context(|| format!("--seed {v}: give a whole number"))?;
            }
            t => match TARGETS.iter().find(|n| **n == t) {
                Some(n) => opts.targets.push(n),
                None => bail!(
                    "unknown fuzz target or option `{t}`: targets are {}; options --time SECS, --runs N [--seed N], --no-merge",
                    TARGETS.join(", ")
                ),
            },
        }
    }
    if opts.targets.is_empty() {
        opts.targets = TARGETS.to_vec();
    }
    opts.runs = runs.map(|r| (r, seed));
    Ok(opts)
}

/// Runs the task; `args` are the words after `fuzz`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    let root = crate::workspace_root();
    let bin_dir = build(&root)?;
    let mut crashes = Vec::new();
    for target in &opts.targets {
        if let Some(crash) = fuzz_one(&root, &bin_dir, target, &opts)? {
            crashes.push(crash);
        }
    }
    if !crashes.is_empty() {
        bail!(
            "fuzzing found {} crash(es):\n{}\nreproduce with `<binary> <file>`; after the fix, copy the file into fuzz/corpus/<target>/",
            crashes.len(),
            crashes.join("\n")
        );
    }
    eprintln!("\nfuzz: no crashes");
    Ok(())
}

/// Builds the instrumented binaries; returns the dir that holds them.
fn build(root: &Path) -> Result<PathBuf> {
    let host = host_triple()?;
    let started = Instant::now();
    crate::run_cmd(
        "cargo build (instrumented fuzz targets)",
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root)
            .args([
                "build",
                "-p",
                "vsm-fuzz",
                "--features",
                "libfuzzer",
                "--bins",
                "--target",
                &host,
                "--target-dir",
                "target/fuzz",
                // Some optimization: many more executions per second for little build time.
                "--config",
                "profile.dev.opt-level=1",
            ])
            .env("RUSTFLAGS", RUSTFLAGS)
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
    )?;
    eprintln!("fuzz: built in {:.0?}", started.elapsed());
    Ok(root.join("target/fuzz").join(host).join("debug"))
}

fn host_triple() -> Result<String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .context("could not run rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}

/// Fuzzes one target; returns a description of the crash it found, if any.
fn fuzz_one(root: &Path, bin_dir: &Path, target: &str, opts: &Options) -> Result<Option<String>> {
    let bin = bin_dir.join(target);
    let corpus = root.join("fuzz/corpus").join(target);
    let scratch = root.join("target/fuzz/new-corpus").join(target);
    let artifacts = root.join("target/fuzz/artifacts").join(target);
    for dir in [&scratch, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let before = list(&artifacts)?;
    let budget = match opts.runs {
        Some((runs, seed)) => {
            eprintln!("\n==> fuzz {target}: {runs} executions, seed {seed}");
            vec![format!("-runs={runs}"), format!("-seed={seed}")]
        }
        None => {
            eprintln!("\n==> fuzz {target} for {} s", opts.secs);
            vec![format!("-max_total_time={}", opts.secs)]
        }
    };
    // New inputs land in the first dir (scratch); the committed corpus is only read.
    let status = Command::new(&bin)
        .arg(&scratch)
        .arg(&corpus)
        .args(&budget)
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .args(["-max_len=16384", "-timeout=10", "-rss_limit_mb=2048"])
        .arg("-print_final_stats=1")
        .status()
        .with_context(|| format!("could not run {}", bin.display()))?;
    if !status.success() {
        let new: Vec<_> = list(&artifacts)?
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        let files = if new.is_empty() {
            "(no artifact written)".to_owned()
        } else {
            new.iter()
                .map(|p| format!("  {} {}", bin.display(), p.display()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        return Ok(Some(format!("{target} ({status}):\n{files}")));
    }
    if opts.merge {
        minimize(&bin, &corpus, &scratch)?;
    }
    std::fs::remove_dir_all(&scratch).ok();
    Ok(None)
}

/// Rebuilds `corpus` as a minimal set of its inputs and the new ones in `scratch` that covers
/// the same edges (`-set_cover_merge=1`, hit counts ignored); the `seed-*` files always stay.
fn minimize(bin: &Path, corpus: &Path, scratch: &Path) -> Result<()> {
    let merged = scratch.with_extension("merged");
    std::fs::remove_dir_all(&merged).ok();
    std::fs::create_dir_all(&merged)
        .with_context(|| format!("cannot create {}", merged.display()))?;
    let before = list(corpus)?;
    for path in &before {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            let to = merged.join(path.file_name().unwrap_or_default());
            std::fs::copy(path, &to).with_context(|| format!("cannot copy {}", path.display()))?;
        }
    }
    crate::run_cmd(
        &format!("minimize {} with the new inputs", corpus.display()),
        Command::new(bin)
            .args(["-merge=1", "-set_cover_merge=1", "-use_counters=0"])
            .args(["-max_len=16384", "-timeout=10"])
            .arg(&merged)
            .arg(corpus)
            .arg(scratch),
    )?;
    for path in &before {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    }
    let kept = list(&merged)?;
    for path in &kept {
        let to = corpus.join(path.file_name().unwrap_or_default());
        std::fs::rename(path, &to).with_context(|| format!("cannot move {}", path.display()))?;
    }
    eprintln!(
        "fuzz: {}: {} -> {} inputs",
        corpus.display(),
        before.len(),
        kept.len()
    );
    std::fs::remove_dir_all(&merged).ok();
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        out.push(
            e.with_context(|| format!("cannot list {}", dir.display()))?
                .path(),
        );
    }
    Ok(out)
}
