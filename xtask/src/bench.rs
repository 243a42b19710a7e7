//! `cargo xtask bench [deploy|engine|api|hosts|vm|import|takeover]... [--runs N] [--ansible-files N] [--no-ansible] [--store sqlite|postgres]`:
//! runs the named benchmarks (deploy, engine, api and hosts when none is named; `vm` boots real
//! VMs, needs root and runs only when named; `import` is the import part of `deploy` alone).
//! `--store postgres` runs `engine` and `api` on both stores in one run (SQLite, then a durable
//! PostgreSQL on loopback) with the ratio, and adds `takeover` (active/standby on PostgreSQL:
//! `kill -9` of the active manager to the first write the standby accepts).
//!
//! Each benchmark prints its own table and writes `target/bench/<name>.json` with the date, the
//! machine (from `/proc`), the versions measured, the median of `--runs` runs (default 3, at
//! least 1; also `VSM_BENCH_RUNS`) and the ratio to its comparison. This module holds what they
//! share; it must not measure anything itself.

use std::fs;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use camino::Utf8PathBuf;

/// Options shared by the benchmarks.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    /// Runs per measurement; the median is reported.
    pub(crate) runs: usize,
    /// Files of the definition that Ansible copies to each of the 100 roots (it costs about one
    /// second of CPU per file and root, so the full 1,000 files would take a day).
    pub(crate) ansible_files: usize,
    /// Skip the Ansible column of the deploy benchmark.
    pub(crate) no_ansible: bool,
    /// The stores `engine` and `api` run on, in order (SQLite first: the comparison).
    pub(crate) stores: Vec<StoreKind>,
}

/// The state store a benchmark's manager runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    /// The embedded default.
    Sqlite,
    /// A durable PostgreSQL on loopback (`vsm_manager::testing::pg`).
    Postgres,
}

impl StoreKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// The PostgreSQL server of a benchmark run (started once, durable; each manager gets a
/// database of its own).
pub(crate) struct PgBench {
    server: vsm_manager::testing::pg::PgServer,
    databases: std::sync::atomic::AtomicUsize,
}

impl PgBench {
    /// Starts the server, or fails saying how to install PostgreSQL.
    pub(crate) fn start() -> Result<PgBench> {
        let server = vsm_manager::testing::pg::PgServer::start_durable()
            .map_err(|skip| anyhow::anyhow!("--store postgres: {skip}"))?;
        Ok(PgBench {
            server,
            databases: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// A new empty database's URL.
    pub(crate) fn database(&self) -> String {
        let n = self
            .databases
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.server.create_database(&format!("bench_{n}"))
    }
}

/// Points `init` at `store`: nothing for SQLite, a new database of `pg` for PostgreSQL.
pub(crate) fn use_store(
    init: &mut vsm_manager::InitOptions,
    store: StoreKind,
    pg: Option<&PgBench>,
) -> Result<()> {
    if store == StoreKind::Postgres {
        let pg = pg.context("no PostgreSQL server was started for --store postgres")?;
        init.settings.store = pg.database();
    }
    Ok(())
}

const USAGE: &str = "usage: cargo xtask bench [deploy|engine|api|hosts|vm|import|takeover]... [--runs N] [--ansible-files N] [--no-ansible] [--store sqlite|postgres]";

/// Runs the benchmarks named in `args` (all of them when none is named).
pub(crate) fn run(args: &[String]) -> Result<()> {
    let all = ["deploy", "engine", "api", "hosts"];
    let runs_env = std::env::var("VSM_BENCH_RUNS")
        .ok()
        .map(|v| v.parse::<usize>())
        .transpose()
        .context("VSM_BENCH_RUNS must be a number")?;
    let mut opts = Opts {
        runs: runs_env.unwrap_or(3),
        ansible_files: 1,
        no_ansible: false,
        stores: vec![StoreKind::Sqlite],
    };
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |flag: &str| -> Result<usize> {
            it.next()
                .with_context(|| format!("{flag} needs a number\n{USAGE}"))?
                .parse()
                .with_context(|| format!("{flag} needs a number\n{USAGE}"))
        };
        match arg.as_str() {
            "--runs" => opts.runs = number("--runs")?,
            "--ansible-files" => opts.ansible_files = number("--ansible-files")?,
            "--no-ansible" => opts.no_ansible = true,
            "--store" => match it.next().map(String::as_str) {
                Some("sqlite") => opts.stores = vec![StoreKind::Sqlite],
                Some("postgres") => opts.stores = vec![StoreKind::Sqlite, StoreKind::Postgres],
                other => bail!(
                    "--store takes `sqlite` or `postgres` (which runs both, compared), not {}\n{USAGE}",
                    other.map_or("nothing".to_owned(), |o| format!("`{o}`"))
                ),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            name if all.contains(&name) || ["vm", "import", "takeover"].contains(&name) => {
                names.push(name.to_owned())
            }
            other => bail!(
                "unknown benchmark `{other}`; known: {}\n{USAGE}",
                all.join(", ")
            ),
        }
    }
    if opts.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if opts.ansible_files == 0 {
        bail!("--ansible-files must be at least 1");
    }
    if names.is_empty() {
        names = all.iter().map(|s| (*s).to_owned()).collect();
        if opts.stores.contains(&StoreKind::Postgres) {
            names.push("takeover".to_owned());
        }
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "note: dev profile (unoptimized); measure with `cargo run --release -p xtask -- bench ...`"
        );
    }
    for name in names {
        match name.as_str() {
            "deploy" => crate::bench_deploy::run(&opts)?,
            "engine" => crate::bench_engine::run(&opts)?,
            "api" => crate::bench_api::run(&opts)?,
            "hosts" => crate::bench_hosts::run(&opts)?,
            "vm" => crate::bench_vm::run(&opts)?,
            "import" => crate::bench_import::run_alone(&opts)?,
            "takeover" => crate::bench_takeover::run(&opts)?,
            _ => unreachable!("checked above"),
        }
    }
    Ok(())
}

/// `target/bench` of the workspace (created).
pub(crate) fn out_dir() -> Result<Utf8PathBuf> {
    let dir = Utf8PathBuf::from_path_buf(crate::target_dir()?.join("bench"))
        .map_err(|p| anyhow::anyhow!("non-UTF-8 target path {}", p.display()))?;
    fs::create_dir_all(&dir).with_context(|| format!("create {dir}"))?;
    Ok(dir)
}

/// Writes `target/bench/<name>.json`: `doc` plus the date, machine and versions; returns the path.
pub(crate) fn write_json(name: &str, mut doc: serde_json::Value) -> Result<Utf8PathBuf> {
    if let Some(map) = doc.as_object_mut() {
        map.insert("benchmark".into(), name.into());
        map.insert(
            "date".into(),
            first_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).into(),
        );
        map.insert("machine".into(), machine());
        map.insert("versions".into(), versions());
    }
    let path = out_dir()?.join(format!("{name}.json"));
    fs::write(&path, serde_json::to_string_pretty(&doc)?)
        .with_context(|| format!("write {path}"))?;
    println!("written {path}");
    Ok(path)
}

/// The median of `v` (the upper one of an even count); zero when empty.
pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The median of `v` (the upper one of an even count); zero when empty.
/// The capacity of the one fake host of the engine and API benchmarks: 65,536 vCPUs and
/// 16 TiB, room for 10,000 servers of the fake template's size.
pub(crate) const BENCH_HOST: (u32, u64) = (65_536, 16 * 1024 * 1024);

pub(crate) fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Milliseconds of `d`.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The first line a command prints (empty when it cannot run).
pub(crate) fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_default()
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    fs::read_to_string(file).ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    })
}

/// What the numbers were measured on: CPU model, cores, memory, kernel, load at the time.
pub(crate) fn machine() -> serde_json::Value {
    let mem_mb = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| {
            v.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024);
    let cores = fs::read_to_string("/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    let bench_fs = out_dir().map(|p| p.to_string()).unwrap_or_default();
    serde_json::json!({
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "kernel": first_line("uname", &["-r"]),
        "cpu": proc_field("/proc/cpuinfo", "model name").unwrap_or_default(),
        "cores": cores,
        "available_parallelism": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        "memory_mb": mem_mb,
        "loadavg": fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_owned()).unwrap_or_default(),
        "filesystem": first_line("stat", &["-f", "-c", "%T", &bench_fs]),
    })
}

/// The git revision of the workspace (`-dirty` when files differ from it).
pub(crate) fn git_rev() -> String {
    let root = crate::workspace_root();
    let rev = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty { format!("{rev}-dirty") } else { rev }
}

/// The versions of what was measured.
pub(crate) fn versions() -> serde_json::Value {
    serde_json::json!({
        "vsm": env!("CARGO_PKG_VERSION"),
        "vsm_git_rev": git_rev(),
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
        "rustc": first_line("rustc", &["--version"]),
        "rsync": first_line("rsync", &["--version"]),
        "ansible_core": crate::bench_deploy::ansible_version(),
        "python": first_line("python3", &["--version"]),
    })
}

/// The administrator `root` of a benchmark's manager (password [`BENCH_PW`]), with the fake
/// template `tpl` registered.
pub(crate) async fn admin_with_template(
    manager: &vsm_manager::Manager,
) -> Result<vsm_manager::Actor> {
    let admin = manager
        .authenticate(&parse("root")?, &vsm_manager::Password::new(BENCH_PW))
        .await
        .context("login")?;
    manager
        .register_template(
            &admin,
            vsm_manager::RegisterTemplate {
                name: parse("tpl")?,
                driver: vsm_manager::DriverKind::Local,
                source: "image-1".into(),
            },
        )
        .await
        .context("template")?;
    Ok(admin)
}

/// The password of every benchmark manager's `root`.
pub(crate) const BENCH_PW: &str = "bench-password-1";

/// A name (account, template, …) parsed, or an error naming it.
pub(crate) fn parse<T: std::str::FromStr>(s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| anyhow::anyhow!("bad name {s}: {e}"))
}
