//! The web console in a real browser: Debian's Chromium (installed by `cargo xtask deps`),
//! headless, driven over WebDriver by its `chromedriver` through `fantoccini`, against a real
//! server on 127.0.0.1 over the fake hypervisor.
//!
//! A builder logs in by typing and clicking, opens the units page and the unit, starts the unit
//! through the confirmation and watches the operation's progress and then the servers' states
//! change on the open pages without a reload; a change made through the API appears in the
//! open unit page within 1 s; the unit is stopped the same way. A unit of 2,000 servers shows
//! 200 rows and is ready within 2 s. axe-core finds no serious or critical accessibility
//! violation on the main pages. Every page is saved as a screenshot under
//! `<target dir>/ui-screens/`. Without Chromium the test is skipped with a reason, except under
//! `CI=true`, where it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use vsm_core::UnitName;
use vsm_hypervisor::error::Operation as HvOp;
use vsm_manager::http::{ServeConfig, Server};
use vsm_manager::*;

use crate::support::{BOB_PW, Env, TWO_GROUPS, name};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `chromedriver` on a free port, killed on drop.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session (the system's browser, never a downloaded one).
    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US"],
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(caps.clone());
            match builder.connect(&self.url).await {
                Ok(c) => return c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot start a Chromium session: {e}"),
            }
        }
    }
}

/// Where the screenshots go: `<target dir>/ui-screens/`.
fn screens_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("ui-screens");
    std::fs::create_dir_all(&dir).expect("create ui-screens");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    let path = screens_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// The text of the element `css`, read in one script (a live update may replace the element
/// between a find and a read); `None` when there is none.
async fn try_text(c: &Client, css: &str) -> Option<String> {
    c.execute(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null;",
        vec![json!(css)],
    )
    .await
    .expect("script")
    .as_str()
    .map(str::to_owned)
}

/// The text of the element `css`.
async fn text(c: &Client, css: &str) -> String {
    try_text(c, css)
        .await
        .unwrap_or_else(|| panic!("no element {css}"))
}

/// Waits (polling every 25 ms, at most `within`) until `check` of the page's text at `css` is
/// true; answers how long it took.
async fn wait_text(
    c: &Client,
    css: &str,
    within: Duration,
    check: impl Fn(&str) -> bool,
) -> Duration {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < within {
        last = try_text(c, css).await;
        if last.as_deref().is_some_and(&check) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{css} did not become as expected within {within:?}; last: {last:?}");
}

/// The logical states shown in the unit page's server rows.
async fn logical_states(c: &Client) -> Vec<String> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll('#servers td.logical')).map(e => e.innerText.trim());",
            vec![],
        )
        .await
        .expect("script");
    serde_json::from_value(v).expect("strings")
}

/// axe-core (vendored with its licence in `assets/axe-core/`), for the accessibility checks.
const AXE: &str = include_str!("assets/axe-core/axe.min.js");

/// Runs axe-core on the open page: no serious or critical violation.
async fn accessible(c: &Client, page: &str) {
    c.execute(&format!("{AXE}\nreturn null;"), vec![])
        .await
        .expect("load axe-core");
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
                .then(r => done({passes: r.passes.length,
                    violations: r.violations.map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.length, help: v.help}))}))
                .catch(e => done({passes: 0, violations: [{id: 'axe-error', impact: 'critical',
                    nodes: 0, help: String(e)}]}));",
            vec![],
        )
        .await
        .expect("run axe-core");
    let passes = found["passes"].as_u64().unwrap_or(0);
    assert!(passes > 0, "{page}: axe-core checked nothing: {found}");
    let violations = found["violations"].as_array().cloned().unwrap_or_default();
    let bad: Vec<_> = violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(bad.is_empty(), "{page}: accessibility violations: {bad:#?}");
    eprintln!(
        "{page}: axe-core passed {passes} rules, no serious or critical violation ({} minor)",
        violations.len()
    );
}

/// A marker set on the page's window: still there means the page was not reloaded.
async fn mark_window(c: &Client) {
    c.execute("window.vsmMarker = 42; return null;", vec![])
        .await
        .expect("script");
}

async fn still_marked(c: &Client) -> bool {
    c.execute("return window.vsmMarker === 42;", vec![])
        .await
        .expect("script")
        .as_bool()
        .unwrap_or(false)
}

fn chromium_or_skip() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!(
        "the browser test needs {} (run `cargo xtask deps`)",
        missing.join(" and ")
    );
    assert!(!vsm_hypervisor::testing::ci(), "{reason}");
    eprintln!("skipped: {reason}");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_starts_and_stops_a_unit_in_the_browser() {
    if !chromium_or_skip() {
        return;
    }
    // Room for the 2,000-server unit below.
    let env = Env::with_host_capacity(4096, 4 << 20).await;
    let unit: UnitName = env.unit(TWO_GROUPS).await;
    // Each start takes a moment, so that the progress can be seen moving.
    env.fake
        .set_latency(HvOp::Start, Duration::from_millis(300));
    let server = Server::start(
        env.manager.clone(),
        ServeConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..ServeConfig::default()
        },
    )
    .await
    .expect("serve");
    let base = server.url();
    let driver = Driver::start();
    let c = driver.browser().await;

    // Login, by typing and clicking.
    c.goto(&format!("{base}/ui/units")).await.expect("open");
    assert!(
        c.current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/ui/login")
    );
    screenshot(&c, "login").await;
    accessible(&c, "login").await;
    c.find(Locator::Id("user"))
        .await
        .expect("user field")
        .send_keys("bob")
        .await
        .expect("type");
    c.find(Locator::Id("password"))
        .await
        .expect("password field")
        .send_keys(BOB_PW)
        .await
        .expect("type");
    c.find(Locator::Id("login"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");

    // The units page.
    wait_text(&c, "h1", Duration::from_secs(5), |t| {
        t == "Management units"
    })
    .await;
    // Not started yet: no server provisioned.
    assert_eq!(text(&c, "#units tr[data-unit=shop] td.all").await, "0");
    assert_eq!(text(&c, "#units tr[data-unit=shop] td.active").await, "0");
    screenshot(&c, "units").await;
    accessible(&c, "units").await;

    // The unit.
    c.find(Locator::LinkText("shop"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#unit-name", Duration::from_secs(5), |t| t == "shop").await;
    assert_eq!(text(&c, "#count-all").await, "0");
    c.find(Locator::Id("no-servers"))
        .await
        .expect("no servers yet");
    screenshot(&c, "unit").await;
    accessible(&c, "unit").await;

    // Start, through the confirmation.
    c.find(Locator::Id("start-unit"))
        .await
        .expect("start")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#confirm-text", Duration::from_secs(5), |t| {
        t == "Start 4 servers in 2 groups of unit shop?"
    })
    .await;
    screenshot(&c, "confirm-start").await;
    accessible(&c, "confirm").await;
    c.find(Locator::Id("confirm"))
        .await
        .expect("confirm")
        .click()
        .await
        .expect("click");

    // The operation's page follows the progress live.
    wait_text(&c, "h1", Duration::from_secs(5), |t| {
        t.contains("unit start")
    })
    .await;
    mark_window(&c).await;
    let first = text(&c, "#op-count").await;
    wait_text(&c, "#op-state", Duration::from_secs(30), |t| {
        t == "succeeded"
    })
    .await;
    assert_eq!(text(&c, "#op-count").await, "4 / 4", "first seen: {first}");
    assert!(still_marked(&c).await, "the operation page was reloaded");
    screenshot(&c, "operation-start").await;
    accessible(&c, "operation").await;

    // Back on the unit: every server working; then a change through the API shows within 1 s.
    c.find(Locator::Id("op-unit"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#count-active", Duration::from_secs(5), |t| t == "4").await;
    assert_eq!(text(&c, "#count-all").await, "4");
    assert_eq!(logical_states(&c).await, vec!["working"; 4]);
    mark_window(&c).await;
    // Let the page's stream connect before the change.
    wait_text(&c, "#live-status", Duration::from_secs(5), |t| t == "Live").await;
    let detail = env.show(&unit).await;
    let victim = detail.groups[1].servers[0].name.clone();
    env.manager
        .mark_server(
            &env.bob,
            &unit,
            &victim,
            MarkRequest {
                comment: "disk full".into(),
            },
        )
        .await
        .expect("mark");
    let took = wait_text(
        &c,
        &format!("#servers tr[data-server=\"{victim}\"]"),
        Duration::from_secs(1),
        |t| t.contains("disk full"),
    )
    .await;
    assert!(still_marked(&c).await, "the unit page was reloaded");
    eprintln!("an API change appeared in the open page after {took:?}");
    screenshot(&c, "unit-live").await;
    accessible(&c, "unit (live)").await;

    // Stop, through the confirmation, on the unit page's own button.
    c.find(Locator::Id("stop-unit"))
        .await
        .expect("stop")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#confirm-text", Duration::from_secs(5), |t| {
        t == "Stop 4 servers in 2 groups of unit shop?"
    })
    .await;
    c.find(Locator::Id("confirm"))
        .await
        .expect("confirm")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#op-state", Duration::from_secs(30), |t| {
        t == "succeeded" || t == "partly_succeeded"
    })
    .await;
    c.find(Locator::Id("op-unit"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#count-active", Duration::from_secs(5), |t| t == "0").await;
    assert_eq!(logical_states(&c).await, vec!["stopped"; 4]);

    // An error shows the manager's sentence and hint, as the CLI does.
    c.goto(&format!("{base}/ui/units/nosuchunit"))
        .await
        .expect("open");
    let message = text(&c, ".error .message").await;
    assert_eq!(message, "unit nosuchunit not found");
    let hint = text(&c, ".error .hint").await;
    assert!(hint.contains("vsm unit list"), "the CLI's hint: {hint}");
    screenshot(&c, "error").await;

    // A big unit: 2,000 servers, 200 rows in the DOM, ready within 2 s.
    let big: UnitName = name("big");
    env.manager
        .create_unit_from_file(
            &env.bob,
            CreateUnitFromFile {
                name: big.clone(),
                file_name: "big.yaml".into(),
                unit_file: "format: 1\ngroups:\n  - name: web\n    template: tpl\n    count: 2000\n    min: 1\n    max: 2000\n    start_order: 1\n".into(),
            },
        )
        .await
        .expect("create the big unit");
    env.fake.set_latency(HvOp::Start, Duration::ZERO);
    let op = env
        .manager
        .start_unit(&env.bob, &big, OpOptions::default())
        .await
        .expect("start the big unit");
    env.finish(op).await;
    let started = Instant::now();
    c.goto(&format!("{base}/ui/units/big")).await.expect("open");
    let rows = c
        .execute(
            "return document.querySelectorAll('#servers tbody tr').length;",
            vec![],
        )
        .await
        .expect("count rows");
    let ready = started.elapsed();
    assert_eq!(rows.as_u64(), Some(200), "rows in the DOM");
    assert_eq!(text(&c, "#matching").await, "2000");
    assert!(
        ready < Duration::from_secs(2),
        "the big unit's page took {ready:?}"
    );
    eprintln!("a 2,000-server unit's page was ready after {ready:?}");
    // Filtering by name, server-side.
    c.find(Locator::Id("f-q"))
        .await
        .expect("filter")
        .send_keys("web-19")
        .await
        .expect("type");
    c.find(Locator::Id("filter"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#matching", Duration::from_secs(5), |t| t == "111").await;
    screenshot(&c, "unit-big").await;
    accessible(&c, "unit (2,000 servers)").await;

    c.close().await.expect("close the browser");
    server.shutdown().await.expect("shutdown");
}
