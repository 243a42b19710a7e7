//! `cargo xtask bench api`: latency of `unit show` through the HTTP API under load.
//!
//! Starts a manager on a temporary state directory with the fake driver at 0 ms, creates and
//! starts a 1,000-server unit (10 groups of 100), serves the API on 127.0.0.1 (a free port, the
//! same axum server `vsm service` runs) and lets 50 concurrent clients, each with its own
//! connection pool and the same session token, fetch the unit (`GET /api/v1/units/{name}`)
//! in a loop. Reports p50, p99 and requests per second (median of `--runs` rounds) of:
//! the typed client (`Client::show_unit`, which also parses the body), the full body as bytes,
//! `304 Not Modified` answers to `If-None-Match` with the unit's `ETag` (issue 15's read
//! model), and the same calls through the library (`Manager::show_unit`, no HTTP) as the
//! comparison. Then the read model's memory for a 10,000-server unit: the manager's resident
//! memory before and after its view is first rendered and kept (an upper bound: the
//! allocator keeps what the rendering freed). Writes `target/bench/api.json`. With
//! `--store postgres` all of it runs on SQLite and then on a durable PostgreSQL on loopback, and
//! the table of each is printed with PostgreSQL's figures over SQLite's.

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

use crate::bench::{BENCH_HOST, Opts, PgBench, StoreKind, median_f64, use_store};

const PW: &str = "bench-password-1";
const CLIENTS: usize = 50;
const PER_CLIENT: usize = 40;
const GROUPS: usize = 10;
const PER_GROUP: usize = 100;
/// The unit of the memory measurement: 10 groups of 1,000.
const BIG_PER_GROUP: usize = 1_000;

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
    rt.block_on(bench(opts.runs, &opts.stores))
}

async fn bench(runs: usize, stores: &[StoreKind]) -> Result<()> {
    let pg = if stores.contains(&StoreKind::Postgres) {
        Some(tokio::task::block_in_place(PgBench::start)?)
    } else {
        None
    };
    let mut docs = Vec::new();
    for &store in stores {
        println!("--- store: {} ---", store.name());
        docs.push(bench_on(runs, store, pg.as_ref()).await?);
    }
    let doc = match docs.as_slice() {
        [one] => one.clone(),
        [sqlite, postgres, ..] => {
            let ratio = |path: &[&str]| {
                let get = |d: &serde_json::Value| {
                    path.iter()
                        .fold(d, |v, k| &v[*k])
                        .as_f64()
                        .unwrap_or(f64::NAN)
                };
                get(postgres) / get(sqlite)
            };
            let ratios = serde_json::json!({
                "body_p99": ratio(&["http_body", "p99_ms"]),
                "body_requests_per_s": ratio(&["http_body", "requests_per_s"]),
                "typed_p99": ratio(&["http", "p99_ms"]),
                "not_modified_p99": ratio(&["http_304", "p99_ms"]),
            });
            println!("PostgreSQL / SQLite: {ratios}");
            serde_json::json!({
                "stores": {"sqlite": sqlite, "postgres": postgres},
                "postgres_over_sqlite": ratios,
            })
        }
        [] => bail!("no store to run on"),
    };
    crate::bench::write_json("api", doc)?;
    Ok(())
}

/// The whole benchmark on one store; its JSON document.
async fn bench_on(
    runs: usize,
    store: StoreKind,
    pg: Option<&PgBench>,
) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir().context("tempdir")?;
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
        .map_err(|p| anyhow::anyhow!("non-utf-8 temp dir {}", p.display()))?;
    let state = root.join("state");
    let mut init = InitOptions::new(state.clone(), parse("root")?, Password::new(PW));
    init.password_cost = PasswordCost::Insecure;
    use_store(&mut init, store, pg)?;
    tokio::task::block_in_place(|| Manager::init(init)).context("init")?;
    let mut config = ManagerConfig::load(&state).context("config")?;
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    // One fake host big enough for every server of the benchmark (10,000 of 1 vCPU and
    // 512 MiB): placement is not what this measures.
    let fake = Arc::new(FakeHypervisor::new().with_capacity(BENCH_HOST.0, BENCH_HOST.1));
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
    let file = unit_file(PER_GROUP);
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

    // Warm-up (connections, caches), not measured; the ETag of the unit's current view.
    http_round(&url, &session.token, &unit, 2).await?;
    let raw = raw_client()?;
    let first = raw
        .get(format!("{url}/api/v1/units/{unit}"))
        .bearer_auth(&session.token)
        .send()
        .await
        .context("GET the unit")?;
    let etag = first
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .context("the unit's answer has no ETag")?;
    let body_bytes = first.bytes().await.context("the unit's body")?.len();
    let mut http = Vec::new();
    let mut bytes = Vec::new();
    let mut not_modified = Vec::new();
    let mut lib = Vec::new();
    for i in 0..runs {
        let h = http_round(&url, &session.token, &unit, PER_CLIENT).await?;
        let b = raw_round(&raw, &url, &session.token, &unit, None).await?;
        let n = raw_round(&raw, &url, &session.token, &unit, Some(&etag)).await?;
        let l = lib_round(&manager, &admin, &unit, PER_CLIENT).await?;
        eprintln!(
            "  (api run {}/{runs}: typed p50 {:.1} ms p99 {:.1} ms {:.0}/s; body p99 {:.1} ms {:.0}/s; 304 p99 {:.2} ms; library p50 {:.1} ms)",
            i + 1,
            crate::bench::ms(h.quantile(0.5)),
            crate::bench::ms(h.quantile(0.99)),
            h.per_second(),
            crate::bench::ms(b.quantile(0.99)),
            b.per_second(),
            crate::bench::ms(n.quantile(0.99)),
            crate::bench::ms(l.quantile(0.5)),
        );
        http.push(h);
        bytes.push(b);
        not_modified.push(n);
        lib.push(l);
    }
    let (sse, sse_writes) = sse_latency(&manager, &admin, &url, &session.token, &unit).await?;
    let _ = server.shutdown().await;
    let memory = read_model_memory(&manager, &admin).await?;
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
    let (bp50, bp99, brps) = row(&bytes);
    let (np50, np99, nrps) = row(&not_modified);
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
        "HTTP typed client"
    );
    println!(
        "{:<22} {bp50:>10.2} {bp99:>10.2} {brps:>12.0}",
        "HTTP full body"
    );
    println!("{:<22} {np50:>10.2} {np99:>10.2} {nrps:>12.0}", "HTTP 304");
    println!(
        "{:<22} {lp50:>10.2} {lp99:>10.2} {lrps:>12.0}",
        "library (no HTTP)"
    );
    let ratio = hp50 / lp50;
    println!("HTTP / library p50: {ratio:.2}x (body: {body_bytes} bytes)");
    println!(
        "committed change to SSE delta at {SSE_WATCHERS} watchers, {SSE_CHANGES} changes {SSE_GAP_MS} ms apart: p50 {:.1} ms, p99 {:.1} ms (the change's own commit: p50 {:.1} ms, p99 {:.1} ms)",
        crate::bench::ms(sse.quantile(0.5)),
        crate::bench::ms(sse.quantile(0.99)),
        crate::bench::ms(sse_writes.quantile(0.5)),
        crate::bench::ms(sse_writes.quantile(0.99)),
    );
    println!(
        "read model, {} servers: {:.1} MB resident for the view ({:.1} MB of it the JSON body)",
        memory.servers,
        memory.resident as f64 / 1e6,
        memory.json as f64 / 1e6
    );
    let doc = serde_json::json!({
        "store": store.name(),
        "runs": runs,
        "servers": GROUPS * PER_GROUP,
        "clients": CLIENTS,
        "requests_per_client_per_round": PER_CLIENT,
        "driver": "fake, 0 ms",
        "body_bytes": body_bytes,
        "http": { "p50_ms": hp50, "p99_ms": hp99, "requests_per_s": hrps },
        "http_body": { "p50_ms": bp50, "p99_ms": bp99, "requests_per_s": brps },
        "http_304": { "p50_ms": np50, "p99_ms": np99, "requests_per_s": nrps },
        "sse_delta": {
            "watchers": SSE_WATCHERS,
            "changes": SSE_CHANGES,
            "gap_ms": SSE_GAP_MS,
            "p50_ms": crate::bench::ms(sse.quantile(0.5)),
            "p99_ms": crate::bench::ms(sse.quantile(0.99)),
            "from": "the call that makes the change returned (committed)",
            "commit_p50_ms": crate::bench::ms(sse_writes.quantile(0.5)),
            "commit_p99_ms": crate::bench::ms(sse_writes.quantile(0.99)),
        },
        "read_model": {
            "servers": memory.servers,
            "resident_bytes": memory.resident,
            "json_bytes": memory.json,
        },
        "library": { "p50_ms": lp50, "p99_ms": lp99, "requests_per_s": lrps },
        "comparison": "the same calls through the library (Manager::show_unit), no HTTP",
        "http_vs_library_p50": ratio,
    });
    Ok(doc)
}

/// A unit file of 10 groups of `per_group` servers of template `tpl`.
fn unit_file(per_group: usize) -> String {
    let mut file = String::from("format: 1\ngroups:\n");
    for g in 1..=GROUPS {
        file.push_str(&format!(
            "  - name: g{g}\n    template: tpl\n    count: {per_group}\n    min: 1\n    max: {per_group}\n    start_order: {g}\n"
        ));
    }
    file
}

/// A plain HTTP client (one pool shared by the clients of a raw round: each task still has
/// its own connections in the pool).
fn raw_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .context("HTTP client")
}

/// `GET` the unit as bytes: the full body, or with `If-None-Match: etag` a `304`.
async fn raw_round(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    unit: &UnitName,
    etag: Option<&str>,
) -> Result<Round> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let (target, token, etag) = (
            format!("{url}/api/v1/units/{unit}"),
            token.to_owned(),
            etag.map(str::to_owned),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(PER_CLIENT);
            for _ in 0..PER_CLIENT {
                let t = Instant::now();
                let mut req = client.get(&target).bearer_auth(&token);
                if let Some(tag) = &etag {
                    req = req.header("if-none-match", tag);
                }
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let body = resp.bytes().await?;
                lat.push(t.elapsed());
                match (&etag, status) {
                    (Some(_), 304) if body.is_empty() => {}
                    (None, 200) if !body.is_empty() => {}
                    _ => bail!(
                        "unexpected answer {status} with {} bytes (If-None-Match {etag:?})",
                        body.len()
                    ),
                }
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

/// Watchers of the unit's event stream in the SSE measurement.
const SSE_WATCHERS: usize = 10;
/// Changes made (a server marked, then unmarked, …).
const SSE_CHANGES: usize = 100;
/// The pause between two changes: each is a change after a quiet spell, as an operator's is.
const SSE_GAP_MS: u64 = 100;

/// The time from a change (committed: the call that makes it returned) to its delta at each
/// of [`SSE_WATCHERS`] clients of `GET /api/v1/units/{unit}/events`; and the time of the
/// calls themselves (the store's commit).
async fn sse_latency(
    manager: &Manager,
    admin: &vsm_manager::Actor,
    url: &str,
    token: &str,
    unit: &UnitName,
) -> Result<(Round, Round)> {
    // Each watcher reports, for every delta, whether the marked server shows a mark now and
    // when that arrived: a change's latency is up to the first delta that shows it (the
    // manager may send an earlier one, e.g. for the unit's lock).
    let server: vsm_core::ServerName = parse("g1-1")?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, bool, Instant)>();
    let mut watchers = Vec::new();
    for w in 0..SSE_WATCHERS {
        let client = Client::new(url, Some(token.to_owned()))?;
        let mut watch = client
            .watch_unit(unit, vsm_manager::http::WatchOptions::default())
            .await
            .context("watch the unit")?;
        match watch.next().await {
            Some(Ok(vsm_manager::http::UnitEvent::Snapshot { .. })) => {}
            other => bail!("the watch began with {other:?}, not a snapshot"),
        }
        let (tx, server) = (tx.clone(), server.clone());
        watchers.push(tokio::spawn(async move {
            while let Some(event) = watch.next().await {
                let at = Instant::now();
                if let Ok(vsm_manager::http::UnitEvent::Delta { .. }) = event {
                    let marked = watch.detail().is_some_and(|d| {
                        d.groups
                            .iter()
                            .flat_map(|g| &g.servers)
                            .any(|s| s.name == server && s.mark.is_some())
                    });
                    if tx.send((w, marked, at)).is_err() {
                        break;
                    }
                }
            }
        }));
    }
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(SSE_WATCHERS * SSE_CHANGES);
    let mut writes = Vec::with_capacity(SSE_CHANGES);
    for i in 0..SSE_CHANGES {
        tokio::time::sleep(Duration::from_millis(SSE_GAP_MS)).await;
        let t0 = Instant::now();
        if i % 2 == 0 {
            manager
                .mark_server(
                    admin,
                    unit,
                    &server,
                    vsm_manager::MarkRequest {
                        comment: "bench".into(),
                    },
                )
                .await
                .context("mark")?;
        } else {
            manager
                .unmark_server(admin, unit, &server)
                .await
                .context("unmark")?;
        }
        // The change is committed when the call returns; the time before is the store's.
        let committed = Instant::now();
        writes.push(committed.saturating_duration_since(t0));
        let want = i % 2 == 0;
        let mut seen = [false; SSE_WATCHERS];
        while seen.iter().any(|s| !s) {
            let (w, marked, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .context("no delta showing the change within 10 s")?
                .context("the watchers ended")?;
            if marked == want && !seen[w] {
                seen[w] = true;
                latencies.push(at.saturating_duration_since(committed));
            }
        }
    }
    for w in watchers {
        w.abort();
    }
    let wall = start.elapsed();
    Ok((
        Round { latencies, wall },
        Round {
            latencies: writes,
            wall,
        },
    ))
}

/// What the read model holds for one big unit.
struct Memory {
    servers: usize,
    resident: u64,
    json: usize,
}

/// This process's resident memory (`VmRSS`).
fn resident() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .context("no VmRSS in /proc/self/status")
}

/// Creates a 10,000-server unit, then measures the resident memory its view adds when it is
/// first shown (rendered, kept, its JSON made) — nothing else runs meanwhile.
async fn read_model_memory(manager: &Manager, admin: &vsm_manager::Actor) -> Result<Memory> {
    let big: UnitName = parse("big")?;
    manager
        .create_unit_from_file(
            admin,
            CreateUnitFromFile {
                name: big.clone(),
                file_name: "big.yaml".into(),
                unit_file: unit_file(BIG_PER_GROUP),
            },
        )
        .await
        .context("create the big unit")?;
    let id = manager
        .start_unit(admin, &big, OpOptions::default())
        .await
        .context("start the big unit")?;
    let rec = manager
        .wait(admin, id, Duration::from_secs(1200))
        .await
        .context("wait for the big unit")?;
    if rec.summary.state != OperationState::Succeeded {
        bail!("start of the big unit ended {:?}", rec.summary.state);
    }
    // Settle: the start's own allocations are done; then one measured first view.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = resident()?;
    let body = manager
        .show_unit_json(admin, &big)
        .await
        .context("show the big unit")?;
    let after = resident()?;
    let detail: serde_json::Value = serde_json::from_slice(&body).context("the big unit's JSON")?;
    let servers = detail["groups"].as_array().map_or(0, |gs| {
        gs.iter()
            .map(|g| g["servers"].as_array().map_or(0, Vec::len))
            .sum()
    });
    if servers != GROUPS * BIG_PER_GROUP {
        bail!(
            "the big unit shows {servers} servers, expected {}",
            GROUPS * BIG_PER_GROUP
        );
    }
    Ok(Memory {
        servers,
        resident: after.saturating_sub(before),
        json: body.len(),
    })
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
