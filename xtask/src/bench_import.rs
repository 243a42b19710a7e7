//! The import part of `cargo xtask bench deploy`: importing a definition directory of 10,000
//! small files through the API (the path `vsm unit import` takes: the client packs and uploads,
//! the manager receives, checks and stores durably), against `cp -a` + `sync` and `rsync -a` of
//! the same directory, interleaved in the same run (vsm, cp, rsync, then rotated) so that the
//! disk's drift hits every contender alike. Each round imports into a new manager, so every blob
//! is new. Then one file is changed and imported again (only that blob is new).
//!
//! Goals (issue 16): import ≤ 2× `cp -a` + `sync`, ≤ 1.0× `rsync -a`; the re-import of one
//! changed file under 1 s.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use vsm_hypervisor::fake::FakeHypervisor;
use vsm_manager::http::{Client, ServeConfig, Server};
use vsm_manager::{
    CreateUnitFromFile, DriverKind, DriverSet, InitOptions, Manager, ManagerConfig, Password,
    PasswordCost,
};

use crate::bench::{BENCH_PW, median, ms, parse};

/// Files in the directory.
pub(crate) const FILES: usize = 10_000;

/// Writes `FILES` files of 1 to 8 KiB in 100 directories, and a manifest copying them.
fn generate(dir: &Utf8Path) -> Result<u64> {
    let mut total = 0u64;
    for i in 0..FILES {
        let p = dir.join(format!("files/d{:02}/f{i:05}.txt", i % 100));
        if i < 100 {
            fs::create_dir_all(p.parent().context("parent")?)?;
        }
        let len = 1024 + (i * 7919) % 7168;
        let line = format!("file {i} of the import benchmark\n");
        let body: String = line.repeat(len / line.len() + 1)[..len].to_owned();
        fs::write(&p, body)?;
        total += len as u64;
    }
    fs::write(
        dir.join("vsm-definition.yaml"),
        "format: 1\ngroups:\n  - name: web\n    files:\n      - { source: files, target: www }\n",
    )?;
    Ok(total)
}

/// A manager over a new state directory under `base`, serving on loopback, with unit `bench`.
struct Bench {
    server: Server,
    client: Client,
    unit: vsm_core::UnitName,
    _state: tempfile::TempDir,
}

async fn manager(base: &Utf8Path) -> Result<Bench> {
    let state_dir = tempfile::Builder::new()
        .prefix("import-state-")
        .tempdir_in(base)?;
    let state = Utf8PathBuf::from_path_buf(state_dir.path().join("state"))
        .map_err(|p| anyhow::anyhow!("non-UTF-8 path {p:?}"))?;
    let mut init = InitOptions::new(state.clone(), parse("root")?, Password::new(BENCH_PW));
    init.password_cost = PasswordCost::Insecure;
    Manager::init(init).context("init")?;
    let mut config = ManagerConfig::load(&state).context("config")?;
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    let fake = std::sync::Arc::new(FakeHypervisor::new());
    let manager = Manager::open(config, DriverSet::new().with(DriverKind::Local, fake))
        .await
        .context("open")?;
    let admin = crate::bench::admin_with_template(&manager).await?;
    let unit: vsm_core::UnitName = parse("bench")?;
    manager
        .create_unit_from_file(
            &admin,
            CreateUnitFromFile {
                name: unit.clone(),
                file_name: "bench.yaml".into(),
                unit_file: "format: 1\ngroups:\n  - name: web\n    template: tpl\n    count: 1\n"
                    .into(),
            },
        )
        .await
        .context("create unit")?;
    let server = Server::start(
        manager,
        ServeConfig {
            listen: "127.0.0.1:0".parse()?,
            shutdown_grace: Duration::from_secs(2),
            ..ServeConfig::default()
        },
    )
    .await
    .context("serve")?;
    let session = Client::new(&server.url(), None)?
        .login(&parse("root")?, &Password::new(BENCH_PW))
        .await
        .context("login")?;
    let client = Client::new(&server.url(), Some(session.token))?;
    Ok(Bench {
        server,
        client,
        unit,
        _state: state_dir,
    })
}

fn timed(what: &str, cmd: &mut Command) -> Result<Duration> {
    let t = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("running {what} (install it with `cargo xtask deps`)"))?;
    if !status.success() {
        bail!("{what} failed: {status}");
    }
    Ok(t.elapsed())
}

fn cp_sync(src: &Utf8Path, dest: &Utf8Path) -> Result<Duration> {
    let t = Instant::now();
    timed("cp -a", Command::new("cp").arg("-a").arg(src).arg(dest))?;
    timed("sync", &mut Command::new("sync"))?;
    Ok(t.elapsed())
}

fn rsync(src: &Utf8Path, dest: &Utf8Path) -> Result<Duration> {
    timed(
        "rsync -a",
        Command::new("rsync")
            .arg("-a")
            .arg(format!("{src}/"))
            .arg(format!("{dest}/")),
    )
}

/// The medians of one import benchmark.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImportFigures {
    pub(crate) bytes: u64,
    pub(crate) import: Duration,
    pub(crate) cp_sync: Duration,
    pub(crate) rsync: Duration,
    pub(crate) reimport: Duration,
}

impl ImportFigures {
    pub(crate) fn vs_cp(&self) -> f64 {
        self.import.as_secs_f64() / self.cp_sync.as_secs_f64()
    }
    pub(crate) fn vs_rsync(&self) -> f64 {
        self.import.as_secs_f64() / self.rsync.as_secs_f64()
    }
}

/// Runs `runs` interleaved rounds under `base` and returns the medians.
pub(crate) fn run(
    rt: &tokio::runtime::Runtime,
    base: &Utf8Path,
    runs: usize,
) -> Result<ImportFigures> {
    let work = tempfile::Builder::new()
        .prefix("import-")
        .tempdir_in(base)?;
    let work = Utf8Path::from_path(work.path())
        .context("non-UTF-8 temp dir")?
        .to_owned();
    let src = work.join("defs");
    let bytes = generate(&src)?;
    // Everything that follows reads the source from the page cache, like the copies do.
    let (mut imports, mut cps, mut rsyncs, mut reimports) = (vec![], vec![], vec![], vec![]);
    for round in 0..runs {
        let cp_dest = work.join(format!("cp-{round}"));
        let rsync_dest = work.join(format!("rsync-{round}"));
        fs::create_dir_all(&rsync_dest)?;
        let bench = rt.block_on(manager(&work))?;
        // Settle what setting up wrote, so that no contender pays for it.
        timed("sync", &mut Command::new("sync"))?;
        let import = || -> Result<Duration> {
            let t = Instant::now();
            let r = rt.block_on(bench.client.import_directory(&bench.unit, &src))?;
            if !r.created {
                bail!("the import created no version");
            }
            Ok(t.elapsed())
        };
        // Rotate who goes first, so that none always runs on a quiet or a busy disk.
        for k in 0..3 {
            match (round + k) % 3 {
                0 => imports.push(import()?),
                1 => cps.push(cp_sync(&src, &cp_dest)?),
                _ => rsyncs.push(rsync(&src, &rsync_dest)?),
            }
        }
        let changed = src.join("files/d07/f00007.txt");
        fs::write(&changed, format!("changed in round {round}\n"))?;
        reimports.push(import()?);
        rt.block_on(bench.server.shutdown())
            .context("stopping the benchmark's manager")?;
        for d in [&cp_dest, &rsync_dest] {
            fs::remove_dir_all(d)?;
        }
    }
    let figures = ImportFigures {
        bytes,
        import: median(imports),
        cp_sync: median(cps),
        rsync: median(rsyncs),
        reimport: median(reimports),
    };
    println!(
        "import of {FILES} small files ({:.1} MB): vsm {:.0} ms, cp -a + sync {:.0} ms ({:.2}x), \
         rsync -a {:.0} ms ({:.2}x); re-import of one changed file {:.0} ms",
        bytes as f64 / 1e6,
        ms(figures.import),
        ms(figures.cp_sync),
        figures.vs_cp(),
        ms(figures.rsync),
        figures.vs_rsync(),
        ms(figures.reimport),
    );
    Ok(figures)
}

/// `cargo xtask bench import`: only the import part of the deploy benchmark.
pub(crate) fn run_alone(opts: &crate::bench::Opts) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let base = crate::bench::out_dir()?.join("tmp");
    fs::create_dir_all(&base)?;
    run(&rt, &base, opts.runs)?;
    Ok(())
}
