//! `cargo xtask bench deploy`: vsm apply against `rsync` and Ansible on 100 local server roots,
//! and the import of 10,000 small files against `cp -a` + `sync` and `rsync -a`
//! (`bench_import`).
//!
//! Generates a definition directory of 1,000 files / 50 MB, imports it, applies it to 100
//! server roots in a temporary directory with the `local` transport, changes one file and
//! applies again; and does the same copies with `rsync` into 100 other roots (one rsync per
//! target, in a loop), vsm and rsync taking turns to go first from run to run so that the
//! disk's drift hits both alike.
//!
//! Two modes, each against its like: vsm's default, durable apply (every staged file on disk
//! before the switch, the switch on disk before the commit: two file-system syncs per server)
//! against `rsync -a --fsync` (an fsync per file); and vsm with fsync off against plain
//! `rsync -a`. Goals: the durable first apply at most 1.0x `rsync -a --fsync`; fsync off within
//! 1.5x `rsync -a`; re-apply of one changed file under 5% of the first apply.
//!
//! Ansible (`ansible-core` from PyPI, in a virtualenv this task creates under
//! `target/bench/ansible-venv` and reuses) copies with `ansible.builtin.copy`, `connection:
//! local`, forks 10, to an inventory of 100 roots. `copy` runs Python modules per file and
//! host (about a second of CPU each here), so the full 1,000 files would take about a day: Ansible
//! and vsm are both measured on the first `--ansible-files` files (default 1) of the same
//! definition to 100 roots, first apply and after one file changed. Goal: vsm at least 20x
//! faster. Without network (Ansible not installable) the column is skipped, not failed.
//!
//! `cargo xtask bench deploy` runs in the dev profile (unoptimized: slow hashing and JSON);
//! the real numbers come from `cargo run --release -p xtask -- bench deploy`.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{GroupName, ServerAddress, ServerName, UnitName};
use vsm_deploy::{
    BatchOptions, GroupPlan, LocalTransport, Outcome, ScanLimits, ServerContext, ServerJob,
    SnapshotStore, apply_batch, no_progress,
};

use crate::bench::{Opts, median, ms};

const FILES: usize = 1_000;
const TOTAL_BYTES: usize = 50 * 1024 * 1024;
const SERVERS: usize = 100;
const CONCURRENCY: usize = 4;
const ANSIBLE_FORKS: usize = 10;

/// Deterministic filler bytes (xorshift), so content does not compress or dedupe.
fn fill(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes the definition: the first `files` of the 1,000 (50 KB each) and its manifest.
fn generate(dir: &Utf8Path, files: usize) -> Result<()> {
    let per = TOTAL_BYTES / FILES;
    for i in 0..files {
        let p = dir.join(format!("files/d{:02}/f{i:04}.bin", i % 20));
        fs::create_dir_all(p.parent().context("parent")?)?;
        fs::write(&p, fill(i as u64 + 1, per))?;
    }
    fs::write(
        dir.join("vsm-definition.yaml"),
        "format: 1\ngroups:\n  - name: web\n    files:\n      - { source: files, target: www }\n",
    )?;
    Ok(())
}

fn utf8(p: &std::path::Path) -> Result<Utf8PathBuf> {
    Utf8PathBuf::from_path_buf(p.to_owned()).map_err(|p| anyhow::anyhow!("non-UTF-8 path {p:?}"))
}

fn apply_all(
    rt: &tokio::runtime::Runtime,
    store: &SnapshotStore,
    def: &vsm_deploy::Definition,
    roots: &[Utf8PathBuf],
    fsync: bool,
) -> Result<(Duration, usize)> {
    let group = GroupName::new("web")?;
    let start = Instant::now();
    let plan = GroupPlan::new(store, def, &group)?;
    let mut members = BTreeMap::new();
    members.insert(group.clone(), vec![ServerAddress::new("127.0.0.1")?]);
    let mut jobs = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let server = ServerName::new(format!("web-{}", i + 1))?;
        let ctx = ServerContext {
            unit: UnitName::new("bench")?,
            group: group.clone(),
            server: server.clone(),
            address: ServerAddress::new("127.0.0.1")?,
            index: i + 1,
            members: members.clone(),
        };
        jobs.push(ServerJob {
            server,
            address: None,
            transport: Arc::new(LocalTransport::new(root.clone()).with_fsync(fsync)),
            desired: Arc::new(plan.for_server(&ctx)?),
            previous: None,
        });
    }
    let opts = BatchOptions {
        concurrency: CONCURRENCY,
        health_check: false,
    };
    let report = rt.block_on(apply_batch(&jobs, &opts, no_progress()));
    let elapsed = start.elapsed();
    if report.outcome() != Outcome::AllDone {
        let first = report
            .failures()
            .next()
            .map(|(s, e)| format!("{s}: {}", vsm_deploy::batch::error_chain(e)));
        bail!("apply failed: {first:?}");
    }
    let written = report
        .results
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .map(|a| a.written)
        .sum();
    Ok((elapsed, written))
}

/// `rsync -a` (with `--fsync` when `fsync`) of `src` into every root's `www`, one after the
/// other.
fn rsync_all(src: &Utf8Path, roots: &[Utf8PathBuf], fsync: bool) -> Result<Duration> {
    let start = Instant::now();
    for root in roots {
        let dest = root.join("www");
        let status = Command::new("rsync")
            .arg("-a")
            .args(fsync.then_some("--fsync"))
            .arg(format!("{src}/"))
            .arg(format!("{dest}/"))
            .status()
            .context("running rsync (install it with `cargo xtask deps`)")?;
        if !status.success() {
            bail!("rsync failed: {status}");
        }
    }
    Ok(start.elapsed())
}

#[derive(Debug, Clone, Copy, Default)]
struct Run {
    import: Duration,
    vsm_first: Duration,
    reimport: Duration,
    vsm_again: Duration,
    rsync_first: Duration,
    rsync_again: Duration,
    /// vsm and Ansible on the Ansible-sized workload (when Ansible runs).
    small: Option<Small>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Small {
    vsm_first: Duration,
    vsm_again: Duration,
    ansible_first: Duration,
    ansible_again: Duration,
}

fn roots(base: &Utf8Path, what: &str) -> Result<Vec<Utf8PathBuf>> {
    let roots: Vec<Utf8PathBuf> = (0..SERVERS)
        .map(|i| base.join(format!("{what}/s{i:03}")))
        .collect();
    for r in &roots {
        fs::create_dir_all(r)?;
    }
    Ok(roots)
}

fn one_run(
    rt: &tokio::runtime::Runtime,
    round: usize,
    fsync: bool,
    ansible: Option<&Ansible>,
    opts: &Opts,
) -> Result<Run> {
    let tmp = tempfile::Builder::new()
        .prefix("vsm-bench-deploy")
        .tempdir_in(bench_tmp()?)?;
    let base = utf8(tmp.path())?;
    let src = base.join("definition");
    generate(&src, FILES)?;
    let store = SnapshotStore::open(&base.join("store"))?;
    let mut run = Run::default();

    let t = Instant::now();
    let def = store.import(&src, &ScanLimits::default())?.definition;
    run.import = t.elapsed();

    let vroots = roots(&base, "vsm")?;
    let rroots = roots(&base, "rsync")?;
    // Take turns going first (run by run), so that neither always meets a quieter disk.
    let rsync_first = round % 2 == 1;
    if rsync_first {
        run.rsync_first = rsync_all(&src.join("files"), &rroots, fsync)?;
    }
    let (d, written) = apply_all(rt, &store, &def, &vroots, fsync)?;
    if written != FILES * SERVERS {
        bail!(
            "first apply wrote {written} files, expected {}",
            FILES * SERVERS
        );
    }
    run.vsm_first = d;
    if !rsync_first {
        run.rsync_first = rsync_all(&src.join("files"), &rroots, fsync)?;
    }

    // Change one file, then re-import and re-apply; rsync the same change.
    let changed = src.join("files/d07/f0007.bin");
    fs::write(&changed, fill(999_999, TOTAL_BYTES / FILES))?;
    let t = Instant::now();
    let def2 = store.import(&src, &ScanLimits::default())?.definition;
    run.reimport = t.elapsed();
    if rsync_first {
        run.rsync_again = rsync_all(&src.join("files"), &rroots, fsync)?;
    }
    let (d, written) = apply_all(rt, &store, &def2, &vroots, fsync)?;
    if written != SERVERS {
        bail!("re-apply wrote {written} files, expected {SERVERS}");
    }
    run.vsm_again = d;
    if !rsync_first {
        run.rsync_again = rsync_all(&src.join("files"), &rroots, fsync)?;
    }

    if let Some(ansible) = ansible {
        // The first `ansible_files` files of the same definition, to 100 other roots each.
        let small_src = base.join("small");
        generate(&small_src, opts.ansible_files)?;
        let n = opts.ansible_files;
        let def = store.import(&small_src, &ScanLimits::default())?.definition;
        let sroots = roots(&base, "vsm-small")?;
        let (vsm_first, written) = apply_all(rt, &store, &def, &sroots, fsync)?;
        if written != n * SERVERS {
            bail!(
                "small apply wrote {written} files, expected {}",
                n * SERVERS
            );
        }
        let aroots = roots(&base, "ansible")?;
        let ansible_first = ansible.copy(&base, &small_src.join("files"), &aroots)?;
        check_copied(&small_src.join("files"), &aroots)?;
        fs::write(
            small_src.join("files/d00/f0000.bin"),
            fill(888_888, TOTAL_BYTES / FILES),
        )?;
        let def = store.import(&small_src, &ScanLimits::default())?.definition;
        let (vsm_again, written) = apply_all(rt, &store, &def, &sroots, fsync)?;
        if written != SERVERS {
            bail!("small re-apply wrote {written} files, expected {SERVERS}");
        }
        let ansible_again = ansible.copy(&base, &small_src.join("files"), &aroots)?;
        check_copied(&small_src.join("files"), &aroots)?;
        run.small = Some(Small {
            vsm_first,
            vsm_again,
            ansible_first,
            ansible_again,
        });
    }
    drop(tmp);
    Ok(run)
}

/// Fails unless every root holds the changed first file as in `src`.
fn check_copied(src: &Utf8Path, roots: &[Utf8PathBuf]) -> Result<()> {
    let want = fs::read(src.join("d00/f0000.bin"))?;
    for r in roots {
        let got = fs::read(r.join("www/d00/f0000.bin"))
            .with_context(|| format!("ansible did not copy into {r}"))?;
        if got != want {
            bail!("ansible left a stale file in {r}");
        }
    }
    Ok(())
}

fn bench_tmp() -> Result<Utf8PathBuf> {
    // On the same disk as the workspace (not a tmpfs), like real server roots.
    let dir = crate::bench::out_dir()?.join("tmp");
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// An `ansible-core` installation in a virtualenv under `target/bench/ansible-venv`.
struct Ansible {
    venv: Utf8PathBuf,
}

fn venv_dir() -> Result<Utf8PathBuf> {
    Ok(crate::bench::out_dir()?.join("ansible-venv"))
}

/// The `ansible-core` version in the benchmark's virtualenv, when it is there.
pub(crate) fn ansible_version() -> Option<String> {
    let playbook = venv_dir().ok()?.join("bin/ansible-playbook");
    if !playbook.exists() {
        return None;
    }
    let line = crate::bench::first_line(playbook.as_str(), &["--version"]);
    // "ansible-playbook [core 2.19.14]"
    line.split_once("[core ")
        .and_then(|(_, v)| v.strip_suffix(']'))
        .map(str::to_owned)
        .or(Some(line))
}

impl Ansible {
    /// Creates the virtualenv and installs `ansible-core` into it unless it is there; `Err`
    /// says why Ansible is not available.
    fn ensure() -> Result<Ansible> {
        let venv = venv_dir()?;
        let playbook = venv.join("bin/ansible-playbook");
        if !playbook.exists() {
            eprintln!("creating {venv} and installing ansible-core from PyPI ...");
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .context("running python3 -m venv")?;
            if !status.success() {
                bail!("python3 -m venv {venv} failed ({status}); is python3-venv installed?");
            }
            let status = Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "ansible-core",
                ])
                .status()
                .context("running pip")?;
            if !status.success() || !playbook.exists() {
                // Leave no half-made venv behind: the next run tries again.
                let _ = fs::remove_dir_all(&venv);
                bail!("pip install ansible-core failed ({status}); no network?");
            }
        }
        Ok(Ansible { venv })
    }

    /// Copies `src/` into `<root>/www/` of every root with one playbook run; returns its time.
    fn copy(&self, base: &Utf8Path, src: &Utf8Path, roots: &[Utf8PathBuf]) -> Result<Duration> {
        let dir = base.join("ansible-run");
        fs::create_dir_all(&dir)?;
        let mut inv = String::from("[servers]\n");
        for (i, r) in roots.iter().enumerate() {
            inv.push_str(&format!("s{i:03} root={r}\n"));
        }
        inv.push_str(&format!(
            "\n[servers:vars]\nansible_connection=local\nansible_python_interpreter={}\n",
            self.venv.join("bin/python3")
        ));
        fs::write(dir.join("inventory.ini"), inv)?;
        fs::write(
            dir.join("deploy.yml"),
            format!(
                "- hosts: servers\n  gather_facts: false\n  tasks:\n    - name: copy the definition\n      ansible.builtin.copy:\n        src: {src}/\n        dest: \"{{{{ root }}}}/www/\"\n"
            ),
        )?;
        let start = Instant::now();
        let out = Command::new(self.venv.join("bin/ansible-playbook"))
            .arg("-i")
            .arg(dir.join("inventory.ini"))
            .args(["-f", &ANSIBLE_FORKS.to_string()])
            .arg(dir.join("deploy.yml"))
            .env("ANSIBLE_PIPELINING", "True")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
            .env("ANSIBLE_LOCAL_TEMP", dir.join("tmp"))
            .env("ANSIBLE_REMOTE_TEMP", dir.join("remote-tmp"))
            .env("ANSIBLE_HOME", dir.join("home"))
            .output()
            .context("running ansible-playbook")?;
        let elapsed = start.elapsed();
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            bail!(
                "ansible-playbook failed ({}):\n{}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(elapsed)
    }
}

/// Runs the deploy benchmark.
pub(crate) fn run(opts: &Opts) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let runs = opts.runs;
    let ansible = if opts.no_ansible {
        println!("Ansible: skipped (--no-ansible)");
        None
    } else {
        match Ansible::ensure() {
            Ok(a) => Some(a),
            Err(e) => {
                println!("Ansible: NOT AVAILABLE, column skipped: {e:#}");
                None
            }
        }
    };
    let mut results = serde_json::Map::new();
    let import = crate::bench_import::run(&rt, &bench_tmp()?, runs)?;
    results.insert(
        "import_small_files".into(),
        serde_json::json!({
            "files": crate::bench_import::FILES,
            "bytes": import.bytes,
            "path": "API client (as `vsm unit import`) to a manager on loopback: pack, upload, check, store durably",
            "vsm_import_ms": ms(import.import),
            "cp_a_sync_ms": ms(import.cp_sync),
            "rsync_a_ms": ms(import.rsync),
            "import_vs_cp_a_sync": import.vs_cp(),
            "import_vs_rsync_a": import.vs_rsync(),
            "reimport_one_changed_ms": ms(import.reimport),
            "goal_import_within_2x_cp_a_sync": import.vs_cp() <= 2.0,
            "goal_import_within_1x_rsync_a": import.vs_rsync() <= 1.0,
            "goal_reimport_under_1s": import.reimport < Duration::from_secs(1),
        }),
    );
    println!();
    println!(
        "deploy benchmark: {FILES} files / {} MB to {SERVERS} local server roots, median of {runs} runs",
        TOTAL_BYTES >> 20
    );
    println!(
        "vsm: local transport, {CONCURRENCY} servers at a time; rsync: per target in a loop \
         (durable: `rsync -a --fsync` beside vsm's default; fsync off: `rsync -a`); \
         they take turns going first"
    );
    if ansible.is_some() {
        println!(
            "Ansible {}: ansible.builtin.copy, connection local, forks {ANSIBLE_FORKS}, pipelining, \
             {} file(s) / {} KB to {SERVERS} roots (vsm measured on the same)",
            ansible_version().unwrap_or_default(),
            opts.ansible_files,
            opts.ansible_files * TOTAL_BYTES / FILES / 1024
        );
    }
    println!();
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>8} {:>11} {:>10} {:>10} {:>8}",
        "mode",
        "import ms",
        "first ms",
        "rsync ms",
        "ratio",
        "reimport ms",
        "again ms",
        "rsync ms",
        "again %"
    );
    // vsm's default (durable) first, against `rsync -a --fsync`; then fsync off, against
    // `rsync -a`.
    let modes: &[bool] = &[true, false];
    let mut ansible_rows = Vec::new();
    for &fsync in modes {
        let mut all = Vec::new();
        for i in 0..runs {
            let r = one_run(&rt, i, fsync, ansible.as_ref(), opts)?;
            eprintln!(
                "  (fsync={} run {}/{runs}: first {:.0} ms, rsync {:.0} ms, again {:.0} ms{})",
                if fsync { "on" } else { "off" },
                i + 1,
                ms(r.vsm_first),
                ms(r.rsync_first),
                ms(r.vsm_again),
                r.small
                    .map(|s| format!(
                        "; small: vsm {:.0}/{:.0} ms, ansible {:.0}/{:.0} ms",
                        ms(s.vsm_first),
                        ms(s.vsm_again),
                        ms(s.ansible_first),
                        ms(s.ansible_again)
                    ))
                    .unwrap_or_default()
            );
            all.push(r);
        }
        let pick = |f: fn(&Run) -> Duration| median(all.iter().map(f).collect());
        let (import, first, rfirst, reimport, again, ragain) = (
            pick(|r| r.import),
            pick(|r| r.vsm_first),
            pick(|r| r.rsync_first),
            pick(|r| r.reimport),
            pick(|r| r.vsm_again),
            pick(|r| r.rsync_again),
        );
        let ratio = first.as_secs_f64() / rfirst.as_secs_f64();
        let again_ratio = again.as_secs_f64() / ragain.as_secs_f64();
        let again_pct = 100.0 * again.as_secs_f64() / first.as_secs_f64();
        let mode = if fsync {
            "durable (default)"
        } else {
            "vsm fsync=off"
        };
        println!(
            "{mode:<16} {:>10.0} {:>10.0} {:>10.0} {:>7.2}x {:>11.0} {:>10.0} {:>10.0} {:>7.2}%",
            ms(import),
            ms(first),
            ms(rfirst),
            ratio,
            ms(reimport),
            ms(again),
            ms(ragain),
            again_pct
        );
        let mut entry = serde_json::json!({
            "files": FILES,
            "bytes": TOTAL_BYTES,
            "servers": SERVERS,
            "runs": runs,
            "concurrency": CONCURRENCY,
            "import_ms": ms(import),
            "first_apply_ms": ms(first),
            "rsync_first_ms": ms(rfirst),
            "first_vs_rsync": ratio,
            "reimport_ms": ms(reimport),
            "reapply_ms": ms(again),
            "rsync_again_ms": ms(ragain),
            "reapply_vs_rsync_again": again_ratio,
            "reapply_pct_of_first": again_pct,
            "rsync": if fsync { "rsync -a --fsync" } else { "rsync -a" },
            "goal_first_within_1x_rsync_fsync": fsync.then_some(ratio <= 1.0),
            "goal_first_within_1_5x_rsync": (!fsync).then_some(ratio <= 1.5),
            "goal_reapply_under_5pct": again_pct < 5.0,
        });
        let smalls: Vec<Small> = all.iter().filter_map(|r| r.small).collect();
        if !smalls.is_empty()
            && let Some(map) = entry.as_object_mut()
        {
            let pick = |f: fn(&Small) -> Duration| median(smalls.iter().map(f).collect());
            let (vf, va, af, aa) = (
                pick(|s| s.vsm_first),
                pick(|s| s.vsm_again),
                pick(|s| s.ansible_first),
                pick(|s| s.ansible_again),
            );
            let rf = af.as_secs_f64() / vf.as_secs_f64();
            let ra = aa.as_secs_f64() / va.as_secs_f64();
            ansible_rows.push((mode, vf, af, rf, va, aa, ra));
            map.insert(
                "ansible".into(),
                serde_json::json!({
                    "files": opts.ansible_files,
                    "bytes": opts.ansible_files * (TOTAL_BYTES / FILES),
                    "servers": SERVERS,
                    "forks": ANSIBLE_FORKS,
                    "module": "ansible.builtin.copy (connection local, pipelining)",
                    "vsm_first_ms": ms(vf),
                    "ansible_first_ms": ms(af),
                    "ansible_vs_vsm_first": rf,
                    "vsm_again_ms": ms(va),
                    "ansible_again_ms": ms(aa),
                    "ansible_vs_vsm_again": ra,
                    "ansible_ms_per_file_and_server_first": ms(af) / (opts.ansible_files * SERVERS) as f64,
                    "goal_vsm_20x_faster_first": rf >= 20.0,
                    "goal_vsm_20x_faster_again": ra >= 20.0,
                }),
            );
        }
        let key = if fsync { "durable" } else { "fsync_off" };
        results.insert(key.into(), entry);
    }
    if !ansible_rows.is_empty() {
        println!(
            "\nAnsible comparison ({} file(s) to {SERVERS} roots, forks {ANSIBLE_FORKS})",
            opts.ansible_files
        );
        println!(
            "{:<16} {:>12} {:>12} {:>9} {:>12} {:>12} {:>9}",
            "mode", "vsm first", "ansible", "ansible/", "vsm again", "ansible", "ansible/"
        );
        for (mode, vf, af, rf, va, aa, ra) in ansible_rows {
            println!(
                "{mode:<16} {:>10.0}ms {:>10.0}ms {:>8.1}x {:>10.0}ms {:>10.0}ms {:>8.1}x",
                ms(vf),
                ms(af),
                rf,
                ms(va),
                ms(aa),
                ra
            );
        }
    } else {
        println!("\nAnsible comparison: skipped");
    }
    let doc = serde_json::json!({
        "runs": runs,
        "goals": {
            "durable_first_apply_vs_rsync_fsync_at_most": 1.0,
            "fsync_off_first_apply_vs_rsync_at_most": 1.5,
            "reapply_pct_of_first_below": 5.0,
            "ansible_vs_vsm_at_least": 20.0,
            "judged_on": "each mode against its like: vsm durable (default) vs rsync -a --fsync, vsm fsync=off vs rsync -a",
        },
        "ansible_skipped": ansible.is_none(),
        "results": results,
    });
    crate::bench::write_json("deploy", doc)?;
    Ok(())
}
