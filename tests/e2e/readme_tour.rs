//! The README's quick tour, run from the README text itself so that the two cannot drift apart:
//! the first ```sh block after `## Quick tour`, line by line through `sh -c`, each line must exit
//! 0, and the outputs of the commands the tour is about are checked (every such command must
//! still be in the tour: a tour that changes changes this test too).
//!
//! What differs from a user typing it, and only that:
//! - the environment is clean except `PATH` (the directory of the `vsm` under test, which holds
//!   `vsm-appserver` too, first), `HOME` (a scratch directory: the tour's `~/.local/state/vsm`
//!   and the saved sessions go there), `NO_COLOR` and `LANG`;
//! - the working directory is a scratch copy of `examples/` (the tour's relative paths), so
//!   the password files it writes stay out of the checkout;
//! - the manager listens on a free port: `--listen 127.0.0.1:PORT` is appended to the
//!   `vsm manager init` line and `VSM_URL` points the clients at it (the tour uses the default
//!   port 7460, which another manager may hold).
//!
//! The commands print JSON (their standard output is not a terminal). A guard stops the manager
//! and kills the tour's servers also when a step fails.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The commands of the first ```sh block after `## Quick tour` (comments and blank lines left
/// out, continued lines joined).
fn quick_tour(readme: &str) -> Vec<String> {
    let mut lines = readme.lines();
    lines
        .by_ref()
        .find(|l| l.trim_end() == "## Quick tour")
        .expect("README.md has no `## Quick tour` section");
    lines
        .by_ref()
        .find(|l| l.trim_end() == "```sh")
        .expect("the quick tour has no ```sh block");
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in lines.take_while(|l| l.trim_end() != "```") {
        let line = line.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head.trim_end());
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    assert!(pending.is_empty(), "the tour ends in a continued line");
    commands
}

/// Where the tour runs.
struct Tour {
    path: String,
    home: PathBuf,
    work: PathBuf,
    url: String,
}

/// One line's result.
struct Ran {
    line: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.line,
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("\nthe output is not JSON ({e}):\n{self}"))
    }
}

impl Tour {
    fn sh(&self, line: &str) -> Ran {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(&self.work)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("VSM_URL", &self.url)
            .env("NO_COLOR", "1")
            .env("LANG", "C.UTF-8")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("could not run sh");
        Ran {
            line: line.to_owned(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Stops the tour's manager and kills its servers when dropped, whatever happened.
struct Guard<'a> {
    tour: &'a Tour,
    state: PathBuf,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if !self.state.join("config.yaml").exists() {
            return;
        }
        let pid = std::fs::read_to_string(self.state.join("manager.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["pid"].as_i64());
        let stopped = self.tour.sh(&format!(
            "vsm manager stop --dir '{}' --timeout 20",
            self.state.display()
        ));
        if stopped.code != 0
            && let Some(pid) = pid
        {
            eprintln!("the tour's manager did not stop; killing it:\n{stopped}");
            // SAFETY: sends SIGKILL to the manager process this test started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        vsm_tests::kill_local_servers(&self.state);
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("address").port()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for e in std::fs::read_dir(from).expect("read a directory").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy a file");
        }
    }
}

/// The servers of a `unit show` document or an operation, as (group, name) pairs.
fn servers(v: &Value) -> BTreeSet<(String, String)> {
    let pair = |s: &Value, group: &str| {
        (
            group.to_owned(),
            s["name"].as_str().unwrap_or("").to_owned(),
        )
    };
    let mut out = BTreeSet::new();
    if let Some(groups) = v["groups"].as_array() {
        for g in groups {
            let group = g["name"].as_str().unwrap_or("");
            for s in g["servers"].as_array().into_iter().flatten() {
                out.insert(pair(s, group));
            }
        }
    } else {
        for s in v["servers"].as_array().into_iter().flatten() {
            let group = s["group"].as_str().unwrap_or("");
            out.insert((
                group.to_owned(),
                s["server"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

fn names(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(g, s)| ((*g).to_owned(), (*s).to_owned()))
        .collect()
}

/// An operation that succeeded on exactly `expected` servers, each succeeded.
#[track_caller]
fn succeeded_on(ran: &Ran, expected: &[(&str, &str)]) {
    let v = ran.json();
    assert_eq!(v["state"], "succeeded", "\n{ran}");
    assert_eq!(servers(&v), names(expected), "\n{ran}");
    for s in v["servers"].as_array().into_iter().flatten() {
        assert_eq!(s["status"], "succeeded", "\n{ran}");
    }
}

const FIRST_FOUR: [(&str, &str); 4] = [
    ("app", "app-1"),
    ("app", "app-2"),
    ("web", "web-1"),
    ("web", "web-2"),
];

/// Checks the output of the tour's line `ran` when it is one of the commands the tour is about;
/// answers which one.
fn check(ran: &Ran, tour: &Tour, state: &Path, port: u16) -> Option<&'static str> {
    let cmd = ran.line.as_str();
    let v = || ran.json();
    let key = if cmd.starts_with("vsm manager init ") {
        let v = v();
        assert_eq!(v["listen"], format!("127.0.0.1:{port}"), "\n{ran}");
        assert_eq!(v["dir"], state.display().to_string(), "\n{ran}");
        assert!(state.join("config.yaml").is_file(), "\n{ran}");
        "vsm manager init"
    } else if cmd.starts_with("vsm manager start ") {
        let v = v();
        assert_eq!(v["state"], "running", "\n{ran}");
        assert_eq!(v["url"], tour.url.as_str(), "\n{ran}");
        "vsm manager start"
    } else if cmd.starts_with("vsm login --user admin ") {
        let v = v();
        assert_eq!(
            (&v["account"], &v["role"]),
            (&"admin".into(), &"admin".into()),
            "\n{ran}"
        );
        "vsm login --user admin"
    } else if cmd.starts_with("vsm account add alice ") {
        let v = v();
        assert_eq!(
            (&v["name"], &v["role"]),
            (&"alice".into(), &"builder".into()),
            "\n{ran}"
        );
        "vsm account add alice"
    } else if cmd.starts_with("vsm login --user alice ") {
        let v = v();
        assert_eq!(
            (&v["account"], &v["role"]),
            (&"alice".into(), &"builder".into()),
            "\n{ran}"
        );
        "vsm login --user alice"
    } else if cmd.starts_with("vsm template register appserver ") {
        let v = v();
        assert_eq!(
            (&v["name"], &v["driver"]),
            (&"appserver".into(), &"local".into()),
            "\n{ran}"
        );
        assert_eq!(v["owner"], "alice", "\n{ran}");
        "vsm template register"
    } else if cmd.starts_with("vsm unit create shop ") {
        let v = v();
        let groups: Vec<(&str, i64)> = v["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                (
                    g["name"].as_str().unwrap_or(""),
                    g["kind"]["count"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        assert_eq!(groups, [("app", 2), ("web", 2)], "\n{ran}");
        "vsm unit create"
    } else if cmd.starts_with("vsm unit import shop ") {
        assert_eq!(v()["version"], 1, "\n{ran}");
        "vsm unit import"
    } else if cmd == "vsm unit apply shop" {
        succeeded_on(ran, &FIRST_FOUR);
        "vsm unit apply"
    } else if cmd == "vsm unit start shop" {
        succeeded_on(ran, &FIRST_FOUR);
        "vsm unit start"
    } else if cmd == "vsm unit show shop" {
        let v = v();
        assert_eq!(v["counts"]["active"], 4, "\n{ran}");
        assert_eq!(servers(&v), names(&FIRST_FOUR), "\n{ran}");
        // Every server works and serves its group's page of the definition directory.
        for g in v["groups"].as_array().into_iter().flatten() {
            let page = match g["name"].as_str() {
                Some("app") => "<h1>vsm example shop: application server</h1>",
                _ => "<h1>vsm example shop</h1>",
            };
            for s in g["servers"].as_array().into_iter().flatten() {
                assert_eq!(s["observed"], "working", "\n{ran}");
                let addr = format!("{}:8080", s["address"].as_str().unwrap_or("?"));
                let (status, body) =
                    vsm_tests::http_get(&addr, "/").unwrap_or_else(|e| panic!("{e}"));
                assert!(status.contains(" 200"), "http://{addr}/: {status}\n{ran}");
                assert!(body.contains(page), "http://{addr}/ lacks {page}:\n{body}");
            }
        }
        "vsm unit show"
    } else if cmd.starts_with("vsm unit scale shop web --count 4") {
        succeeded_on(ran, &[("web", "web-3"), ("web", "web-4")]);
        "vsm unit scale"
    } else if cmd == "vsm unit stop shop" {
        let mut six = FIRST_FOUR.to_vec();
        six.extend([("web", "web-3"), ("web", "web-4")]);
        succeeded_on(ran, &six);
        "vsm unit stop"
    } else if cmd.starts_with("vsm manager stop ") {
        let v = v();
        assert_eq!(
            (&v["state"], &v["was_running"]),
            (&"stopped".into(), &true.into()),
            "\n{ran}"
        );
        "vsm manager stop"
    } else {
        return None;
    };
    Some(key)
}

/// The commands the tour must contain (each is checked by [`check`]).
const CHECKED: [&str; 14] = [
    "vsm manager init",
    "vsm manager start",
    "vsm login --user admin",
    "vsm account add alice",
    "vsm login --user alice",
    "vsm template register",
    "vsm unit create",
    "vsm unit import",
    "vsm unit apply",
    "vsm unit start",
    "vsm unit show",
    "vsm unit scale",
    "vsm unit stop",
    "vsm manager stop",
];

#[test]
fn the_readme_quick_tour_runs_as_written() {
    let root = vsm_tests::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let lines = quick_tour(&readme);
    assert!(lines.len() >= CHECKED.len(), "{lines:#?}");

    let vsm = vsm_tests::vsm_bin();
    let bin_dir = vsm.parent().expect("the vsm binary's directory");
    assert!(
        bin_dir.join("vsm-appserver").is_file(),
        "{} lacks vsm-appserver (cargo build -p vsm-cli -p vsm-hypervisor --bins)",
        bin_dir.display()
    );
    let tmp = tempfile::Builder::new()
        .prefix("vsm-tour-")
        .tempdir()
        .expect("temp dir");
    let home = tmp.path().join("home");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&home).expect("home");
    copy_dir(&root.join("examples"), &work.join("examples"));
    let port = free_port();
    let tour = Tour {
        path: format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
        home: home.clone(),
        work,
        url: format!("http://127.0.0.1:{port}"),
    };

    // The state directory the tour names, `~` being the scratch HOME.
    let init = lines
        .iter()
        .find(|l| l.starts_with("vsm manager init "))
        .expect("the tour has no `vsm manager init`");
    assert!(!init.contains("--listen"), "{init}");
    let words: Vec<&str> = init.split_whitespace().collect();
    let dir = words
        .iter()
        .position(|w| *w == "--dir")
        .and_then(|i| words.get(i + 1))
        .expect("`vsm manager init` without --dir");
    let state = match dir.strip_prefix("~/") {
        Some(rel) => home.join(rel),
        None => PathBuf::from(dir),
    };
    assert!(
        state.starts_with(tmp.path()),
        "the tour's state directory {dir} is outside HOME; the test would not own it"
    );
    let _guard = Guard {
        tour: &tour,
        state: state.clone(),
    };

    let mut seen = BTreeSet::new();
    for line in &lines {
        let command = if line.starts_with("vsm manager init ") {
            format!("{line} --listen 127.0.0.1:{port}")
        } else {
            line.clone()
        };
        let mut ran = tour.sh(&command);
        assert_eq!(ran.code, 0, "\na line of the quick tour failed:\n{ran}");
        ran.line = line.clone();
        if let Some(key) = check(&ran, &tour, &state, port) {
            seen.insert(key);
        }
    }
    let missing: Vec<&str> = CHECKED
        .iter()
        .copied()
        .filter(|c| !seen.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "the tour no longer has {missing:?}: update README.md or this test"
    );

    // The tour ends with the manager stopped.
    let status = tour.sh(&format!("vsm manager status --dir '{}'", state.display()));
    assert_eq!(status.code, 0, "\n{status}");
    assert_eq!(status.json()["state"], "stopped", "\n{status}");
}

#[test]
fn the_tour_is_read_from_the_first_sh_block_after_its_heading() {
    let text = "\
## Quick tour\n\nsome words\n\n```sh\n# a comment\nvsm one\n\nvsm two \\\n  --flag\n```\n\n```sh\nvsm later\n```\n";
    assert_eq!(quick_tour(text), ["vsm one", "vsm two --flag"]);
}
