//! The web console in a real browser: Debian's Chromium (installed by `cargo xtask deps`),
//! headless, driven over WebDriver by its `chromedriver` through `fantoccini`, against a real
//! server on 127.0.0.1 over the fake hypervisor.
//!
//! A builder logs in by typing and clicking, opens the units page and the unit, starts the unit
//! through the confirmation and watches the operation's progress and then the servers' states
//! change on the open pages without a reload; a change made through the API appears in the
//! open unit page within 1 s; the unit is stopped the same way. A unit of 10,000 servers shows
//! 200 rows and is ready within 2 s, and its filter and pages work. Then a browser of a system
//! in dark mode (`prefers-color-scheme: dark`) gets the dark palette on the units page, the
//! unit, a confirmation and an error. axe-core finds no serious or critical accessibility
//! violation on the main pages, in both palettes. Every page is saved as a screenshot under
//! `<target dir>/ui-screens/`. Without Chromium the test is skipped with a reason, except under
//! `CI=true`, where it fails.
//!
//! A second test clicks through the rest of the console: as a builder, a group's stop and
//! start through their confirmations, a server's page (mark, unmark, recover), its log (tail,
//! then followed while lines arrive), scaling a group (and the manager's own refusal of a count
//! past the maximum, word for word), the templates with their generations, the definitions
//! (the diff and the import of a tar file picked in the file input, apply with the version
//! picker, roll back), and the refusal of the administrators' pages; then as an administrator
//! the accounts (add, set a password, delete), the units' owners (change one), the audit log,
//! the log settings (change the level) and the hosts.
//!
//! A third follows a failing roll-out and its rollback: the builder imports v2 by picking its
//! tar file, and applies it from the definitions page two servers at a time without automatic
//! rollback; the fake driver fails the db servers' health checks (the engine tests' fault
//! injection) and holds every start until released, so that the operation's page is seen
//! half-way (the db servers starting on v2, the web servers working on v1), then failed without
//! a reload (the manager's sentence, each server's result and error); the unit page shows the
//! db servers unhealthy on v2; the unit's rollback button puts every server back on v1,
//! working. The tests take one browser at a time.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use vsm_core::{OperationId, UnitName};
use vsm_hypervisor::error::Operation as HvOp;
use vsm_hypervisor::fake::Fault;
use vsm_manager::http::{ServeConfig, Server};
use vsm_manager::*;

use crate::support::{BOB_PW, Env, ROOT_PW, TWO_GROUPS, name};

const CHROMIUM: &str = "/usr/bin/chromium";

/// One browser at a time: the tests' timings are the console's, not two Chromiums' on a small
/// machine.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `chromedriver` on a free port, with the browsers it starts, killed on drop — also when a
/// test panics before closing its session: the driver leads its own process group, and every
/// browser process is found by the profile directory of this driver (`--user-data-dir`).
struct Driver {
    child: std::process::Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions; a negative pid names the group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        // Browser processes that left the group (re-parented when the driver died).
        let marker = self.profile.path().to_string_lossy().into_owned();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&marker) {
                    // SAFETY: as above, one process.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
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
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: tempfile::Builder::new()
                .prefix("vsm-console-browser-")
                .tempdir()
                .expect("a browser profile directory"),
        }
    }

    /// A headless Chromium session (the system's browser, never a downloaded one).
    async fn browser(&self) -> Client {
        self.session("light", &[]).await
    }

    /// A headless Chromium session of a system in dark mode: its pages' `prefers-color-scheme`
    /// is `dark` (`--force-dark-mode`, which headless Chromium passes on to the pages as a
    /// desktop's dark theme is; the test reads it back through `matchMedia`).
    async fn dark_browser(&self) -> Client {
        self.session("dark", &["--force-dark-mode"]).await
    }

    /// A session with its own profile (`name`, under this driver's profile directory) and
    /// the switches `extra`.
    async fn session(&self, name: &str, extra: &[&str]) -> Client {
        let mut caps = serde_json::Map::new();
        let profile = format!(
            "--user-data-dir={}",
            self.profile.path().join(name).display()
        );
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            "--lang=en-US",
            profile.as_str(),
        ];
        args.extend_from_slice(extra);
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
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
    let page = try_text(c, "body").await.unwrap_or_default();
    let url = c
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    panic!(
        "{css} did not become as expected within {within:?}; last: {last:?}; at {url}: {}",
        page.chars().take(1500).collect::<String>()
    );
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
                        nodes: v.nodes.length, help: v.help,
                        targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))}))
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

/// The open page's colour scheme: whether the browser prefers dark (`matchMedia`), and the
/// computed background and text colours of its `body`.
async fn rendered_scheme(c: &Client) -> (bool, String, String) {
    let v = c
        .execute(
            "const s = getComputedStyle(document.body);
             return [window.matchMedia('(prefers-color-scheme: dark)').matches,
                     s.backgroundColor, s.color];",
            vec![],
        )
        .await
        .expect("script");
    let colour = |i: usize| v[i].as_str().expect("a colour").to_owned();
    (v[0].as_bool().expect("a boolean"), colour(1), colour(2))
}

/// The relative luminance (WCAG: 0 black, 1 white) of a computed CSS colour, `rgb(r, g, b)`
/// or `rgba(r, g, b, a)`.
fn luminance(css: &str) -> f64 {
    let channels: Vec<f64> = css
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not an rgb() colour: {css}"))
        .split(',')
        .take(3)
        .map(|c| {
            c.trim()
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("not an rgb() colour: {css}"))
        })
        .collect();
    assert_eq!(channels.len(), 3, "not an rgb() colour: {css}");
    let linear = |c: f64| {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(channels[0]) + 0.7152 * linear(channels[1]) + 0.0722 * linear(channels[2])
}

/// The open page follows the browser's colour scheme: with `dark`, the browser prefers dark
/// and the page is light text on a dark background; otherwise the other way round.
async fn assert_scheme(c: &Client, page: &str, dark: bool) {
    let (prefers_dark, bg, fg) = rendered_scheme(c).await;
    assert_eq!(
        prefers_dark, dark,
        "{page}: the browser's prefers-color-scheme: dark"
    );
    let (lb, lf) = (luminance(&bg), luminance(&fg));
    if dark {
        assert!(
            lb < 0.05 && lf > 0.5,
            "{page}: not dark: background {bg} ({lb:.3}), text {fg} ({lf:.3})"
        );
    } else {
        assert!(
            lb > 0.8 && lf < 0.1,
            "{page}: not light: background {bg} ({lb:.3}), text {fg} ({lf:.3})"
        );
    }
    eprintln!("{page}: background {bg}, text {fg}");
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
    let _one = ONE_BROWSER.lock().await;
    // Room for the 10,000-server unit below (a vCPU and 512 MiB each).
    let env = Env::with_host_capacity(16 << 10, 8 << 20).await;
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
    // A browser that asks for no dark scheme gets the light one.
    assert_scheme(&c, "units", false).await;
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
    // A path the console does not have: its own page, not the API's answer.
    c.goto(&format!("{base}/ui/units/shop/nosuch"))
        .await
        .expect("open");
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Page not found").await;
    assert_eq!(
        text(&c, "#not-found").await,
        "There is no console page at /ui/units/shop/nosuch."
    );
    screenshot(&c, "not-found").await;
    accessible(&c, "not found").await;

    // A big unit: 10,000 servers, 200 rows in the DOM, ready within 2 s; filtered and paged
    // on the server. Set up through the manager, the fake driver at 0 ms.
    let set_up = Instant::now();
    let big: UnitName = name("big");
    env.manager
        .create_unit_from_file(
            &env.bob,
            CreateUnitFromFile {
                name: big.clone(),
                file_name: "big.yaml".into(),
                unit_file: "format: 1\ngroups:\n  - name: web\n    template: tpl\n    count: 10000\n    min: 1\n    max: 10000\n    start_order: 1\n".into(),
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
    let record = env.finish(op).await;
    assert_eq!(
        record.summary.state,
        OperationState::Succeeded,
        "{:?}",
        record.error
    );
    eprintln!(
        "a 10,000-server unit was created and started in {:?}",
        set_up.elapsed()
    );
    let started = Instant::now();
    c.goto(&format!("{base}/ui/units/big")).await.expect("open");
    let rows = server_rows(&c).await;
    let ready = started.elapsed();
    assert_eq!(rows.len(), 200, "rows in the DOM");
    assert_eq!(text(&c, "#matching").await, "10000");
    assert_eq!(text(&c, "#count-active").await, "10000");
    assert!(
        ready < Duration::from_secs(2),
        "the big unit's page took {ready:?}"
    );
    eprintln!("a 10,000-server unit's page was ready after {ready:?}");
    assert_eq!(text(&c, "nav.pager span").await, "1 / 50");
    assert!(
        try_text(&c, "#prev-page").await.is_none(),
        "no page before the first"
    );
    // The next page: the next 200 servers.
    let started = Instant::now();
    click(&c, "next-page").await;
    wait_text(&c, "nav.pager span", Duration::from_secs(5), |t| {
        t == "2 / 50"
    })
    .await;
    let next = server_rows(&c).await;
    let ready = started.elapsed();
    assert_eq!(next.len(), 200, "rows in the DOM on the next page");
    assert!(
        next.iter().all(|s| !rows.contains(s)),
        "the next page repeats servers of the first: {next:?}"
    );
    assert_eq!(text(&c, "#showing").await, "Showing 201–400 of 10000");
    assert!(
        ready < Duration::from_secs(2),
        "the big unit's next page took {ready:?}"
    );
    eprintln!("its next page was ready after {ready:?}");
    // Filtering by name, server-side: 1,112 of 10,000 names contain "web-1" (web-1, web-10…19,
    // web-100…199, web-1000…1999, web-10000), 6 pages; the filter stays on the next page.
    filter_by_name(&c, "web-1").await;
    wait_text(&c, "#matching", Duration::from_secs(5), |t| t == "1112").await;
    assert_eq!(server_rows(&c).await.len(), 200);
    assert_eq!(text(&c, "nav.pager span").await, "1 / 6");
    click(&c, "next-page").await;
    wait_text(&c, "nav.pager span", Duration::from_secs(5), |t| {
        t == "2 / 6"
    })
    .await;
    assert_eq!(text(&c, "#matching").await, "1112");
    let filtered = server_rows(&c).await;
    assert_eq!(filtered.len(), 200);
    assert!(
        filtered.iter().all(|s| s.contains("web-1")),
        "a server outside the filter: {filtered:?}"
    );
    // A filter of one page: no pager.
    filter_by_name(&c, "web-19").await;
    wait_text(&c, "#matching", Duration::from_secs(5), |t| t == "111").await;
    assert_eq!(server_rows(&c).await.len(), 111);
    assert!(
        try_text(&c, "nav.pager").await.is_none(),
        "a pager for one page"
    );
    screenshot(&c, "unit-big").await;
    accessible(&c, "unit (10,000 servers)").await;
    c.close().await.expect("close the browser");

    // ---- dark mode: a browser of a system in dark mode gets the dark palette, as accessible
    // as the light one (axe-core's colour contrast included).
    let c = driver.dark_browser().await;
    log_in(&c, &base, "bob", BOB_PW).await;
    assert_scheme(&c, "units (dark)", true).await;
    screenshot(&c, "units-dark").await;
    accessible(&c, "units (dark)").await;
    c.goto(&format!("{base}/ui/units/shop"))
        .await
        .expect("open");
    wait_text(&c, "#unit-name", Duration::from_secs(5), |t| t == "shop").await;
    // The marked server is a problem row.
    wait_text(
        &c,
        &format!("#servers tr.problem[data-server=\"{victim}\"]"),
        Duration::from_secs(5),
        |t| t.contains("disk full"),
    )
    .await;
    assert_scheme(&c, "unit (dark)", true).await;
    screenshot(&c, "unit-dark").await;
    accessible(&c, "unit (dark)").await;
    // A red button and an error box, in the dark palette too.
    c.goto(&format!("{base}/ui/units/shop/confirm/stop"))
        .await
        .expect("open");
    wait_text(&c, "#confirm-text", Duration::from_secs(5), |t| {
        t.starts_with("Stop ")
    })
    .await;
    assert_scheme(&c, "confirmation (dark)", true).await;
    screenshot(&c, "confirm-stop-dark").await;
    accessible(&c, "confirmation (dark)").await;
    c.goto(&format!("{base}/ui/units/nosuchunit"))
        .await
        .expect("open");
    assert_eq!(
        text(&c, ".error .message").await,
        "unit nosuchunit not found"
    );
    screenshot(&c, "error-dark").await;
    accessible(&c, "error (dark)").await;

    c.close().await.expect("close the browser");
    server.shutdown().await.expect("shutdown");
}

/// The servers of the unit page's rows, in order.
async fn server_rows(c: &Client) -> Vec<String> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll('#servers tbody tr'))
                 .map(r => r.getAttribute('data-server'));",
            vec![],
        )
        .await
        .expect("script");
    serde_json::from_value(v).expect("server names")
}

/// Filters the unit page's servers by `name`, by typing and clicking.
async fn filter_by_name(c: &Client, name: &str) {
    type_into(c, "f-q", name).await;
    click(c, "filter").await;
}

/// Clicks the element with `id`.
async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click #{id}: {e}"));
}

/// Replaces the text of the field `id` with `text`.
async fn type_into(c: &Client, id: &str, text: &str) {
    let field = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

/// Waits until the page's address contains `part` (after a form that `GET`s a page: a script
/// run while that navigation is pending may stop it).
async fn wait_url(c: &Client, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let url = c.current_url().await.expect("url").to_string();
        if url.contains(part) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page stayed at {url}, not {part}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Logs in through the form, by typing and clicking.
async fn log_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/ui/login")).await.expect("open");
    type_into(c, "user", user).await;
    type_into(c, "password", password).await;
    click(c, "login").await;
    wait_text(c, "h1", Duration::from_secs(5), |t| t == "Management units").await;
}

/// Confirms the open confirmation (whose sentence must be `sentence`) and waits for the
/// operation it starts to end with `state` (on the page, live); on a time-out, says what the
/// manager has of the operation.
async fn confirm_operation(
    c: &Client,
    env: &Env,
    sentence: &str,
    screen: Option<&str>,
    state: &str,
) {
    wait_text(c, "#confirm-text", Duration::from_secs(5), |t| {
        t == sentence
    })
    .await;
    if let Some(name) = screen {
        screenshot(c, name).await;
        accessible(c, name).await;
    }
    click(c, "confirm").await;
    wait_url(c, "/ui/operations/").await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if try_text(c, "#op-state").await.as_deref() == Some(state) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let url = c.current_url().await.expect("url");
    let id: OperationId = url
        .path()
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("an operation's page");
    let record = env.manager.show_operation(&env.admin, id).await;
    panic!(
        "operation {id} did not show {state:?} within 60 s; the page: {:?}; the manager: {record:#?}",
        try_text(c, "#live").await
    );
}

/// The rows' `data-*` values of the table rows matching `css`.
async fn row_keys(c: &Client, css: &str, attr: &str) -> Vec<String> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]));",
            vec![json!(css), json!(attr)],
        )
        .await
        .expect("script");
    serde_json::from_value(v).expect("strings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_of_the_console_in_the_browser() {
    if !chromium_or_skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let env = Env::new().await;
    let unit: UnitName = env.unit(TWO_GROUPS).await;
    let op = env
        .manager
        .start_unit(&env.bob, &unit, OpOptions::default())
        .await
        .expect("start");
    env.finish(op).await;
    // A second generation of the template.
    env.manager
        .update_template(&env.bob, &name("tpl"), "image-2")
        .await
        .expect("update the template");
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
    log_in(&c, &base, "bob", BOB_PW).await;

    // ---- a group's stop and start, each through its confirmation.
    c.goto(&format!("{base}/ui/units/shop"))
        .await
        .expect("open");
    wait_text(&c, "#count-active", Duration::from_secs(5), |t| t == "4").await;
    click(&c, "stop-group-web").await;
    confirm_operation(
        &c,
        &env,
        "Stop 2 servers in group web of unit shop?",
        Some("confirm-group-stop"),
        "succeeded",
    )
    .await;
    click(&c, "op-unit").await;
    wait_text(&c, "#count-active", Duration::from_secs(5), |t| t == "2").await;
    assert_eq!(
        logical_states(&c).await,
        vec!["working", "working", "stopped", "stopped"]
    );
    click(&c, "start-group-web").await;
    confirm_operation(
        &c,
        &env,
        "Start 2 servers in group web of unit shop?",
        None,
        "succeeded",
    )
    .await;
    click(&c, "op-unit").await;
    wait_text(&c, "#count-active", Duration::from_secs(5), |t| t == "4").await;

    // ---- a server's page: mark and unmark.
    c.find(Locator::LinkText("web-1"))
        .await
        .expect("the server's link")
        .click()
        .await
        .expect("click");
    wait_text(&c, "#server-name", Duration::from_secs(5), |t| t == "web-1").await;
    assert_eq!(text(&c, "#server-logical").await, "working");
    assert_eq!(text(&c, "#mark-text").await, "Not marked.");
    type_into(&c, "mark-comment", "disk full").await;
    click(&c, "mark").await;
    wait_text(&c, "#mark-comment-shown", Duration::from_secs(5), |t| {
        t == "disk full"
    })
    .await;
    let marked = env.show(&unit).await.groups[1].servers[0].mark.clone();
    assert_eq!(marked.map(|m| m.comment), Some("disk full".to_owned()));
    screenshot(&c, "server-marked").await;
    accessible(&c, "server").await;
    click(&c, "unmark").await;
    wait_text(&c, "#mark-text", Duration::from_secs(5), |t| {
        t == "Not marked."
    })
    .await;
    assert!(env.show(&unit).await.groups[1].servers[0].mark.is_none());

    // ---- its log: the last lines, then followed while lines arrive.
    let machine = env.machine("web-1");
    for i in 1..=3 {
        env.fake
            .push_log(&machine, format!("web-1 line {i}"))
            .expect("log line");
    }
    click(&c, "server-logs").await;
    wait_text(&c, "#log-text", Duration::from_secs(5), |t| {
        t.ends_with("web-1 line 3")
    })
    .await;
    screenshot(&c, "logs").await;
    accessible(&c, "log").await;
    click(&c, "follow").await;
    wait_text(&c, "#live-status", Duration::from_secs(5), |t| t == "Live").await;
    mark_window(&c).await;
    env.fake
        .push_log(&machine, "web-1 line 4: followed")
        .expect("log line");
    let took = wait_text(&c, "#log-text", Duration::from_secs(3), |t| {
        t.ends_with("web-1 line 4: followed")
    })
    .await;
    assert!(still_marked(&c).await, "the log page was reloaded");
    eprintln!("a new log line appeared in the followed page after {took:?}");
    screenshot(&c, "logs-follow").await;
    accessible(&c, "log (followed)").await;

    // ---- recover, through its confirmation.
    click(&c, "log-back").await;
    wait_text(&c, "#server-name", Duration::from_secs(5), |t| t == "web-1").await;
    click(&c, "recover-server").await;
    confirm_operation(
        &c,
        &env,
        "Recover server web-1 of unit shop: restart it, or create it again and apply its definitions, as its group's policy says?",
        Some("confirm-recover"),
        "succeeded",
    )
    .await;
    assert!(text(&c, "h1").await.contains("server recover"));

    // ---- scale: the form, the confirmation, the operation.
    c.goto(&format!("{base}/ui/units/shop"))
        .await
        .expect("open");
    click(&c, "scale-group-web").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Scale group web").await;
    screenshot(&c, "scale").await;
    accessible(&c, "scale").await;
    type_into(&c, "count", "3").await;
    click(&c, "scale-next").await;
    wait_url(&c, "count=3").await;
    confirm_operation(
        &c,
        &env,
        "Scale group web of unit shop from 2 to 3 servers?",
        Some("confirm-scale"),
        "succeeded",
    )
    .await;
    click(&c, "op-unit").await;
    wait_text(&c, "#count-all", Duration::from_secs(5), |t| t == "5").await;
    // Past the maximum: the manager's own sentence and hint, as the CLI prints them.
    click(&c, "scale-group-web").await;
    type_into(&c, "count", "9").await;
    click(&c, "scale-next").await;
    wait_url(&c, "count=9").await;
    wait_text(&c, "#confirm-text", Duration::from_secs(5), |t| {
        t == "Scale group web of unit shop from 3 to 9 servers?"
    })
    .await;
    click(&c, "confirm").await;
    let shown = {
        let started = Instant::now();
        loop {
            let t = try_text(&c, ".error .message").await;
            if t.is_some() || started.elapsed() > Duration::from_secs(10) {
                break t.unwrap_or_default();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    // The same request straight to the manager (once the page answered: two at once would
    // find the unit busy with each other).
    let refused = env
        .manager
        .scale(
            &env.bob,
            &unit,
            ScaleRequest {
                group: name("web"),
                count: 9,
                remove: Vec::new(),
                grace_secs: None,
                wait_secs: None,
            },
        )
        .await
        .expect_err("a count past the maximum is refused");
    assert_eq!(
        shown,
        refused.to_string(),
        "the operations: {:#?}",
        env.manager.list_operations(&env.admin, None).await
    );
    if let Some(hint) = refused.hint() {
        assert_eq!(
            text(&c, ".error .hint").await,
            format!("What to do: {hint}")
        );
    }
    screenshot(&c, "error-scale").await;

    // ---- templates with their generations.
    click(&c, "nav-templates").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Templates").await;
    assert_eq!(
        row_keys(&c, "#templates tbody tr", "data-template").await,
        ["tpl"]
    );
    assert_eq!(
        text(&c, "#templates tr[data-template=tpl] td.latest").await,
        "g2"
    );
    assert_eq!(
        row_keys(
            &c,
            "table[data-generations=tpl] tbody tr",
            "data-generation"
        )
        .await,
        ["2", "1"]
    );
    screenshot(&c, "templates").await;
    accessible(&c, "templates").await;

    // ---- definitions: the diff and the import of a picked tar file, apply with the
    // version picker, roll back.
    c.goto(&format!("{base}/ui/units/shop"))
        .await
        .expect("open");
    click(&c, "definitions").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| {
        t == "Definitions of unit shop"
    })
    .await;
    assert_eq!(
        row_keys(&c, "#versions tbody tr", "data-version").await,
        ["1"]
    );
    screenshot(&c, "definitions").await;
    accessible(&c, "definitions").await;
    let tar = vsm_manager::http::archive::pack(&env.definitions("defs-v2", "v2")).expect("pack");
    let tar_path = env.root.join("defs-v2.tar");
    std::fs::write(&tar_path, tar).expect("write the tar file");
    let pick = |c: Client, path: String| async move {
        c.find(Locator::Id("archive"))
            .await
            .expect("file input")
            .send_keys(&path)
            .await
            .expect("pick the file");
    };
    pick(c.clone(), tar_path.to_string()).await;
    click(&c, "diff").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| {
        t == "What the import would change"
    })
    .await;
    assert!(
        text(&c, "#diff-base").await.contains("compared with v1"),
        "{}",
        text(&c, "#diff-base").await
    );
    assert_eq!(text(&c, "#diff tr[data-path] td.change").await, "modified");
    assert_eq!(
        env.show(&unit).await.versions.len(),
        1,
        "a diff stores nothing"
    );
    screenshot(&c, "diff").await;
    accessible(&c, "diff").await;
    click(&c, "back").await;
    pick(c.clone(), tar_path.to_string()).await;
    click(&c, "import").await;
    wait_text(&c, "#import-result", Duration::from_secs(5), |t| {
        t == "defs-v2.tar was imported as the new version v2."
    })
    .await;
    screenshot(&c, "imported").await;
    accessible(&c, "imported").await;
    click(&c, "apply-imported").await;
    confirm_operation(
        &c,
        &env,
        "Apply v2 to 5 servers in 2 groups of unit shop?",
        Some("confirm-apply"),
        "succeeded",
    )
    .await;
    // Roll back: from the current version (v2) to the one before it.
    c.goto(&format!("{base}/ui/units/shop"))
        .await
        .expect("open");
    click(&c, "rollback-unit").await;
    confirm_operation(
        &c,
        &env,
        "Roll unit shop back from v2 to v1 on 5 servers?",
        Some("confirm-rollback"),
        "succeeded",
    )
    .await;
    let applied = |d: UnitDetail| -> Vec<Option<u32>> {
        d.groups
            .iter()
            .flat_map(|g| g.servers.iter().map(|s| s.applied_version.map(|v| v.0)))
            .collect()
    };
    assert_eq!(applied(env.show(&unit).await), vec![Some(1); 5]);
    // The version picker: v2 again, half of the servers at a time.
    c.goto(&format!("{base}/ui/units/shop/definitions"))
        .await
        .expect("open");
    assert_eq!(
        row_keys(&c, "#versions tbody tr", "data-version").await,
        ["2", "1"]
    );
    c.find(Locator::Id("version"))
        .await
        .expect("version picker")
        .select_by_value("2")
        .await
        .expect("pick v2");
    type_into(&c, "batch", "50%").await;
    click(&c, "apply").await;
    wait_url(&c, "version=2").await;
    confirm_operation(
        &c,
        &env,
        "Apply v2 to 5 servers in 2 groups of unit shop?",
        None,
        "succeeded",
    )
    .await;
    assert_eq!(applied(env.show(&unit).await), vec![Some(2); 5]);

    // ---- a builder is refused the administrators' pages, with the manager's sentence.
    c.goto(&format!("{base}/ui/accounts")).await.expect("open");
    let message = text(&c, ".error .message").await;
    assert!(
        message.contains("only an administrator may do that"),
        "{message}"
    );
    assert!(
        c.find(Locator::Id("nav-accounts")).await.is_err(),
        "a builder is not offered the administrators' pages"
    );
    screenshot(&c, "forbidden").await;

    // ---- the administrator: accounts.
    c.find(Locator::Css("form[action='/ui/logout'] button"))
        .await
        .expect("log out")
        .click()
        .await
        .expect("click");
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Log in").await;
    log_in(&c, &base, "root", ROOT_PW).await;
    click(&c, "nav-accounts").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Accounts").await;
    assert_eq!(
        row_keys(&c, "#accounts tbody tr", "data-account").await,
        ["bob", "root"]
    );
    type_into(&c, "new-name", "dave").await;
    c.find(Locator::Id("new-role"))
        .await
        .expect("role")
        .select_by_value("builder")
        .await
        .expect("builder");
    type_into(&c, "new-password", "dave-password-1").await;
    click(&c, "add-account").await;
    wait_text(
        &c,
        "#accounts tr[data-account=dave] td.role",
        Duration::from_secs(5),
        |t| t == "builder",
    )
    .await;
    screenshot(&c, "accounts").await;
    accessible(&c, "accounts").await;
    click(&c, "passwd-dave").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| {
        t == "Set the password of dave"
    })
    .await;
    accessible(&c, "password").await;
    type_into(&c, "password", "dave-password-2").await;
    click(&c, "set-password").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Accounts").await;
    env.manager
        .authenticate(&name("dave"), &Password::new("dave-password-2"))
        .await
        .expect("dave's new password works");
    click(&c, "delete-dave").await;
    wait_text(&c, "#confirm-text", Duration::from_secs(5), |t| {
        t == "Delete account dave? Its sessions end at once."
    })
    .await;
    screenshot(&c, "confirm-delete-account").await;
    click(&c, "confirm").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Accounts").await;
    assert_eq!(
        row_keys(&c, "#accounts tbody tr", "data-account").await,
        ["bob", "root"]
    );

    // ---- units' owners: give shop to erin, and back.
    env.manager
        .add_account(
            &env.admin,
            AddAccount {
                name: name("erin"),
                role: vsm_core::Role::Builder,
                password: Password::new("erin-password-1"),
            },
        )
        .await
        .expect("erin");
    click(&c, "nav-owners").await;
    wait_text(
        &c,
        "#owners tr[data-unit=shop] td.owner",
        Duration::from_secs(5),
        |t| t == "bob",
    )
    .await;
    c.find(Locator::Id("to-shop"))
        .await
        .expect("owner picker")
        .select_by_value("erin")
        .await
        .expect("erin");
    click(&c, "chown-shop").await;
    wait_text(
        &c,
        "#owners tr[data-unit=shop] td.owner",
        Duration::from_secs(5),
        |t| t == "erin",
    )
    .await;
    assert_eq!(
        env.manager
            .show_unit(&env.admin, &unit)
            .await
            .expect("show")
            .owner
            .as_str(),
        "erin"
    );
    screenshot(&c, "owners").await;
    accessible(&c, "owners").await;
    c.find(Locator::Id("to-shop"))
        .await
        .expect("owner picker")
        .select_by_value("bob")
        .await
        .expect("bob");
    click(&c, "chown-shop").await;
    wait_text(
        &c,
        "#owners tr[data-unit=shop] td.owner",
        Duration::from_secs(5),
        |t| t == "bob",
    )
    .await;

    // ---- the audit log: what was done above, newest first.
    click(&c, "nav-audit").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Audit log").await;
    let first = text(&c, "#audit tbody tr td.action").await;
    assert_eq!(first, "unit chown");
    let all = text(&c, "#audit tbody").await;
    for action in [
        "account add",
        "account passwd",
        "account delete",
        "server mark",
        "unit scale",
    ] {
        assert!(all.contains(action), "the audit log lacks {action}: {all}");
    }
    screenshot(&c, "audit").await;
    accessible(&c, "audit").await;

    // ---- the log settings: a change applies at once.
    click(&c, "nav-log").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Log settings").await;
    type_into(&c, "log-level", "debug").await;
    mark_window(&c).await;
    click(&c, "save-log").await;
    // The form's answer is the same page again: wait for the new one.
    let deadline = Instant::now() + Duration::from_secs(5);
    while still_marked(&c).await {
        assert!(Instant::now() < deadline, "the log settings were not saved");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let level = c
        .execute("return document.getElementById('log-level').value;", vec![])
        .await
        .expect("script");
    assert_eq!(level.as_str(), Some("debug"));
    assert_eq!(
        env.manager
            .log_settings(&env.admin)
            .await
            .expect("log settings")
            .level,
        "debug"
    );
    screenshot(&c, "log-settings").await;
    accessible(&c, "log settings").await;

    // ---- the hosts, with their state.
    click(&c, "nav-hosts").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| t == "Hosts").await;
    assert_eq!(
        row_keys(&c, "#hosts tbody tr", "data-host").await,
        ["local"]
    );
    assert_eq!(text(&c, "#hosts tr[data-host=local] td.state").await, "up");
    screenshot(&c, "hosts").await;
    accessible(&c, "hosts").await;

    c.close().await.expect("close the browser");
    server.shutdown().await.expect("shutdown");
}

/// The text of every cell `cell` (a class) of the table rows matching `rows`, by the rows'
/// `data-server`.
async fn cells(c: &Client, rows: &str, cell: &str) -> Vec<(String, String)> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0])).map(r => {
                 const e = r.querySelector(arguments[1]);
                 return [r.getAttribute('data-server'), e ? e.innerText.trim() : null];
             });",
            vec![json!(rows), json!(format!("td.{cell}"))],
        )
        .await
        .expect("script");
    serde_json::from_value(v).expect("pairs of strings")
}

/// `(server, text)` pairs from `pairs`, for comparisons.
fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(s, t)| ((*s).to_owned(), (*t).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_roll_out_rolled_back_in_the_browser() {
    if !chromium_or_skip() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let env = Env::new().await;
    let unit: UnitName = env.unit(TWO_GROUPS).await;
    // Every server working on v1.
    let op = env
        .manager
        .start_unit(&env.bob, &unit, OpOptions::default())
        .await
        .expect("start");
    env.finish(op).await;
    let applied = |d: UnitDetail| -> Vec<Option<u32>> {
        d.groups
            .iter()
            .flat_map(|g| g.servers.iter().map(|s| s.applied_version.map(|v| v.0)))
            .collect()
    };
    assert_eq!(applied(env.show(&unit).await), vec![Some(1); 4]);
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
    log_in(&c, &base, "bob", BOB_PW).await;

    // ---- import v2 by picking its tar file on the definitions page.
    c.goto(&format!("{base}/ui/units/shop"))
        .await
        .expect("open");
    click(&c, "definitions").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| {
        t == "Definitions of unit shop"
    })
    .await;
    let tar = vsm_manager::http::archive::pack(&env.definitions("defs-v2", "v2")).expect("pack");
    let tar_path = env.root.join("shop-v2.tar");
    std::fs::write(&tar_path, tar).expect("write the tar file");
    c.find(Locator::Id("archive"))
        .await
        .expect("file input")
        .send_keys(tar_path.as_str())
        .await
        .expect("pick the file");
    click(&c, "import").await;
    wait_text(&c, "#import-result", Duration::from_secs(5), |t| {
        t == "shop-v2.tar was imported as the new version v2."
    })
    .await;

    // v2's roll-out fails on the servers: the fake driver cannot tell the state of the db
    // servers (the same fault injection as the engine's tests), so their health checks fail
    // once they run v2. And every start waits until released, so that the roll-out can be
    // watched half-way.
    let failing = ["db-1", "db-2"];
    for s in failing {
        env.fake
            .fail_machine(&env.machine(s), Some(HvOp::State), Fault::Permanent);
    }
    env.fake.hang(HvOp::Start);

    // ---- apply v2 from the definitions page: two servers at a time, no automatic rollback.
    click(&c, "back").await;
    wait_text(&c, "h1", Duration::from_secs(5), |t| {
        t == "Definitions of unit shop"
    })
    .await;
    assert_eq!(
        row_keys(&c, "#versions tbody tr", "data-version").await,
        ["2", "1"]
    );
    c.find(Locator::Id("version"))
        .await
        .expect("version picker")
        .select_by_value("2")
        .await
        .expect("pick v2");
    type_into(&c, "batch", "2").await;
    click(&c, "no-rollback").await;
    click(&c, "apply").await;
    wait_url(&c, "no_rollback=on").await;
    wait_text(&c, "#confirm-text", Duration::from_secs(5), |t| {
        t == "Apply v2 to 4 servers in 2 groups of unit shop? If the roll-out fails, the servers it updated stay on v2: nothing is rolled back automatically."
    })
    .await;
    click(&c, "confirm").await;
    wait_url(&c, "/ui/operations/").await;

    // ---- the operation's page, live: the first batch (the db group) on v2 and starting, the
    // web group still on v1.
    wait_text(&c, "h1", Duration::from_secs(5), |t| t.contains("apply")).await;
    mark_window(&c).await;
    wait_text(&c, "#op-now tbody", Duration::from_secs(10), |t| {
        t.lines().filter(|l| l.contains("stopped … start")).count() == 2
    })
    .await;
    assert_eq!(text(&c, "#op-state").await, "running");
    // (The manager counts the operation's servers when it ends.)
    assert_eq!(text(&c, "#op-count").await, "…");
    assert_eq!(
        text(&c, "#op-now-heading").await,
        "The servers of unit shop now"
    );
    wait_text(&c, "#live-status", Duration::from_secs(5), |t| t == "Live").await;
    assert_eq!(
        cells(&c, "#op-now tbody tr", "version").await,
        pairs(&[
            ("db-1", "v2"),
            ("db-2", "v2"),
            ("web-1", "v1"),
            ("web-2", "v1")
        ])
    );
    assert_eq!(
        cells(&c, "#op-now tbody tr", "logical").await,
        pairs(&[
            ("db-1", "stopped … start"),
            ("db-2", "stopped … start"),
            ("web-1", "working"),
            ("web-2", "working"),
        ])
    );
    screenshot(&c, "rollout-running").await;
    accessible(&c, "operation (roll-out running)").await;
    // Released: the db servers start and fail their health checks; the roll-out stops after
    // its first batch.
    env.fake.release_hangs();
    wait_text(&c, "#op-state", Duration::from_secs(30), |t| t == "failed").await;
    assert!(still_marked(&c).await, "the operation page was reloaded");
    let url = c.current_url().await.expect("url");
    let id: OperationId = url
        .path()
        .rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("an operation's page");
    let record = env
        .manager
        .show_operation(&env.bob, id)
        .await
        .expect("the operation");
    assert_eq!(record.summary.state, OperationState::Failed, "{record:#?}");
    // The manager's own sentences, on the page.
    let why = record.error.clone().expect("why it failed");
    assert_eq!(
        why,
        "the plan stopped: 2 of 2 servers updated so far failed, more than the unhealthy budget allows"
    );
    assert_eq!(text(&c, "#op-error").await, why);
    assert_eq!(text(&c, "#op-count").await, "4 / 4");
    assert_eq!(
        cells(&c, "#op-servers tbody tr", "status").await,
        pairs(&[
            ("db-1", "failed"),
            ("db-2", "failed"),
            ("web-1", "skipped"),
            ("web-2", "skipped"),
        ])
    );
    let errors: Vec<(String, String)> = record
        .servers
        .iter()
        .map(|s| (s.server.to_string(), s.error.clone().unwrap_or_default()))
        .collect();
    assert_eq!(cells(&c, "#op-servers tbody tr", "detail").await, errors);
    for s in failing {
        let e = &errors.iter().find(|(n, _)| n == s).expect("a row").1;
        assert!(
            e.contains(&format!("shop--{s}")) && e.contains("injected permanent fault"),
            "{s}: {e}"
        );
    }
    screenshot(&c, "rollout-failed").await;
    accessible(&c, "operation (failed roll-out)").await;

    // ---- the unit: the db servers unhealthy on v2 with the error, the web servers on v1.
    click(&c, "op-unit").await;
    wait_text(&c, "#count-invalid", Duration::from_secs(5), |t| t == "2").await;
    assert_eq!(text(&c, "#definition").await, "changed (v2)");
    assert_eq!(
        logical_states(&c).await,
        vec!["unhealthy", "unhealthy", "working", "working"]
    );
    assert_eq!(
        cells(&c, "#servers tbody tr", "version").await,
        pairs(&[
            ("db-1", "v2"),
            ("db-2", "v2"),
            ("web-1", "v1"),
            ("web-2", "v1")
        ])
    );
    for (s, e) in errors.iter().filter(|(s, _)| failing.contains(&s.as_str())) {
        assert_eq!(
            text(&c, &format!("#servers tr[data-server={s}] td.last-error")).await,
            *e
        );
    }

    // ---- roll back from the unit page. (The fault belonged to v2: on v1 the db servers
    // answer again.)
    for s in failing {
        env.fake.heal(&env.machine(s));
    }
    click(&c, "rollback-unit").await;
    confirm_operation(
        &c,
        &env,
        "Roll unit shop back from v2 to v1 on 4 servers?",
        None,
        "succeeded",
    )
    .await;
    click(&c, "op-unit").await;
    wait_text(&c, "#count-active", Duration::from_secs(5), |t| t == "4").await;
    assert_eq!(text(&c, "#count-invalid").await, "0");
    assert_eq!(text(&c, "#definition").await, "unchanged (v1)");
    assert_eq!(logical_states(&c).await, vec!["working"; 4]);
    assert_eq!(
        cells(&c, "#servers tbody tr", "version").await,
        pairs(&[
            ("db-1", "v1"),
            ("db-2", "v1"),
            ("web-1", "v1"),
            ("web-2", "v1")
        ])
    );
    assert_eq!(applied(env.show(&unit).await), vec![Some(1); 4]);
    screenshot(&c, "rolled-back").await;
    accessible(&c, "unit (rolled back)").await;

    c.close().await.expect("close the browser");
    server.shutdown().await.expect("shutdown");
}
