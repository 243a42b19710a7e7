//! `cargo xtask bench api`: latency of `unit show` through the HTTP API under load.
//!
//! Starts a manager on a temporary state directory with the fake driver at 0 ms, creates and
//! starts a 1,000-server unit (10 groups of 100), serves the API on 127.0.0.1 (a free port, the
//! same axum server `vsm service` runs) and lets 50 concurrent clients, each with its own
//! connection pool and the same session token, fetch the unit (`GET /api/v1/units/{name}`)
//! in a loop. Reports p50, p99 and requests per second (median of `--runs` rounds), against the
//! same calls made through the library (`Manager::show_unit`, no HTTP) as its comparison.
//! Writes `target/bench/api.json`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::Utf8PathBuf;
use vsm_core::{AccountName, UnitName};
use vsm_hypervisor::fake::FakeHypervisor;
use vsm_manager::http::{Client, ServeConfig, Server};
use vsm_manager::{
    CreateUnitFromFile, DriverKind, DriverSet, InitOptions, Manager, ManagerConfig, OpOptions,
    OperationState, Password, PasswordCost, RegisterTemplate,
};

use crate::bench::{Opts, median_f64};

const PW: &str = "bench-password-1";
const CLIENTS: usize = 50;
const PER_CLIENT: usize = 40;
const GROUPS: usize = 10;
const PER_GROUP: usize = 100;

fn parse<T: std::str::FromStr>(s: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| anyhow::anyhow!("bad name {s}: {e}"))
}

/// Latencies of one round, and its wall time.
struct Round {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Round {
    fn quantile(&self, q: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// Runs the API benchmark.
pub(crate) fn run(opts: &Opts) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(bench(opts.runs))
}

async fn bench(runs: usize) -> Result<()> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
        .map_err(|p| anyhow::anyhow!("non-utf-8 temp dir {}", p.display()))?;
    let state = root.join("state");
    let mut init = InitOptions::new(state.clone(), parse("root")?, Password::new(PW));
    init.password_cost = PasswordCost::Insecure;
    Manager::init(init).context("init")?;
    let mut config = ManagerConfig::load(&state).context("config")?;
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    let fake = Arc::new(FakeHypervisor::new());
    let manager = Manager::open(config, DriverSet::new().with(DriverKind::Local, fake))
        .await
        .context("open")?;
    let admin = manager
        .authenticate(&parse::<AccountName>("root")?, &Password::new(PW))
        .await
        .context("login")?;
    manager
        .register_template(
            &admin,
            RegisterTemplate {
                name: parse("tpl")?,
                driver: DriverKind::Local,
                source: "image-1".into(),
            },
        )
        .await
        .context("template")?;
    let unit: UnitName = parse("bench")?;
    let mut file = String::from("format: 1\ngroups:\n");
    for g in 1..=GROUPS {
        file.push_str(&format!(
            "  - name: g{g}\n    template: tpl\n    count: {PER_GROUP}\n    min: 1\n    max: {PER_GROUP}\n    start_order: {g}\n"
        ));
    }
    manager
        .create_unit_from_file(
            &admin,
            CreateUnitFromFile {
                name: unit.clone(),
                file_name: "bench.yaml".into(),
                unit_file: file,
            },
        )
        .await
        .context("create unit")?;
    let id = manager
        .start_unit(&admin, &unit, OpOptions::default())
        .await
        .context("start unit")?;
    let rec = manager
        .wait(&admin, id, Duration::from_secs(600))
        .await
        .context("wait for start")?;
    if rec.summary.state != OperationState::Succeeded {
        bail!("start of the unit ended {:?}", rec.summary.state);
    }

    let server = Server::start(
        manager.clone(),
        ServeConfig {
            listen: "127.0.0.1:0".parse()?,
            shutdown_grace: Duration::from_secs(2),
            ..ServeConfig::default()
        },
    )
    .await
    .context("serve")?;
    let url = server.url();
    let anonymous = Client::new(&url, None)?;
    let session = anonymous
        .login(&parse("root")?, &Password::new(PW))
        .await
        .context("login over HTTP")?;
    let detail = Client::new(&url, Some(session.token.clone()))?
        .show_unit(&unit)
        .await
        .context("unit show")?;
    let servers: usize = detail.groups.iter().map(|g| g.servers.len()).sum();
    if servers != GROUPS * PER_GROUP {
        bail!(
            "unit show returned {servers} servers, expected {}",
            GROUPS * PER_GROUP
        );
    }

    // Warm-up (connections, caches), not measured.
    http_round(&url, &session.token, &unit, 2).await?;
    let mut http = Vec::new();
    let mut lib = Vec::new();
    for i in 0..runs {
        let h = http_round(&url, &session.token, &unit, PER_CLIENT).await?;
        let l = lib_round(&manager, &admin, &unit, PER_CLIENT).await?;
        eprintln!(
            "  (api run {}/{runs}: http p50 {:.1} ms p99 {:.1} ms {:.0}/s; library p50 {:.1} ms)",
            i + 1,
            crate::bench::ms(h.quantile(0.5)),
            crate::bench::ms(h.quantile(0.99)),
            h.per_second(),
            crate::bench::ms(l.quantile(0.5)),
        );
        http.push(h);
        lib.push(l);
    }
    let _ = server.shutdown().await;
    manager.shutdown(Duration::from_secs(5)).await;
    drop(dir);

    let stat =
        |rounds: &[Round], f: &dyn Fn(&Round) -> f64| median_f64(rounds.iter().map(f).collect());
    let ms = |d: Duration| crate::bench::ms(d);
    let row = |rounds: &[Round]| {
        (
            stat(rounds, &|r| ms(r.quantile(0.5))),
            stat(rounds, &|r| ms(r.quantile(0.99))),
            stat(rounds, &|r| r.per_second()),
        )
    };
    let (hp50, hp99, hrps) = row(&http);
    let (lp50, lp99, lrps) = row(&lib);
    println!(
        "API benchmark: `unit show` of a {}-server unit, {CLIENTS} concurrent clients × {PER_CLIENT} requests, median of {runs} rounds",
        GROUPS * PER_GROUP
    );
    println!(
        "{:<22} {:>10} {:>10} {:>12}",
        "path", "p50 ms", "p99 ms", "requests/s"
    );
    println!(
        "{:<22} {hp50:>10.2} {hp99:>10.2} {hrps:>12.0}",
        "HTTP (127.0.0.1)"
    );
    println!(
        "{:<22} {lp50:>10.2} {lp99:>10.2} {lrps:>12.0}",
        "library (no HTTP)"
    );
    let ratio = hp50 / lp50;
    println!("HTTP / library p50: {ratio:.2}x");
    let doc = serde_json::json!({
        "runs": runs,
        "servers": GROUPS * PER_GROUP,
        "clients": CLIENTS,
        "requests_per_client_per_round": PER_CLIENT,
        "driver": "fake, 0 ms",
        "http": { "p50_ms": hp50, "p99_ms": hp99, "requests_per_s": hrps },
        "library": { "p50_ms": lp50, "p99_ms": lp99, "requests_per_s": lrps },
        "comparison": "the same calls through the library (Manager::show_unit), no HTTP",
        "http_vs_library_p50": ratio,
    });
    crate::bench::write_json("api", doc)?;
    Ok(())
}

async fn http_round(url: &str, token: &str, unit: &UnitName, per: usize) -> Result<Round> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = Client::new(url, Some(token.to_owned()))?;
        let unit = unit.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for _ in 0..per {
                let t = Instant::now();
                client.show_unit(&unit).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.context("client task")??);
    }
    Ok(Round {
        latencies,
        wall: start.elapsed(),
    })
}

async fn lib_round(
    manager: &Manager,
    actor: &vsm_manager::Actor,
    unit: &UnitName,
    per: usize,
) -> Result<Round> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (m, a, u) = (manager.clone(), actor.clone(), unit.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for _ in 0..per {
                let t = Instant::now();
                m.show_unit(&a, &u).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.context("library task")??);
    }
    Ok(Round {
        latencies,
        wall: start.elapsed(),
    })
}
