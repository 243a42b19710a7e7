//! `vsm unit show UNIT --watch -o json` follows a unit live (issue 15): it prints the unit as
//! one JSON document per line at once and again after each change other `vsm` commands make,
//! within seconds; Ctrl-C ends it with exit 0. Another builder is refused with 77.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use vsm_tests::Manager;

/// The documents a watcher prints, line by line, read on a thread.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watcher {
    fn start(m: &Manager, user: &vsm_tests::User, unit: &str) -> Watcher {
        let mut child = m
            .command(user, &["unit", "show", unit, "--watch"])
            .spawn()
            .expect("spawn the watcher");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher { child, lines }
    }

    /// The first document within `within` for which `done` holds (every line must be one
    /// whole JSON document of the unit).
    fn until(&self, within: Duration, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        let mut last = Value::Null;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let doc: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not one JSON document per line ({e}): {line}"));
                    assert_eq!(doc["name"], "shop", "{doc}");
                    assert!(doc["groups"].is_array(), "the whole unit: {doc}");
                    if done(&doc) {
                        return doc;
                    }
                    last = doc;
                }
                Err(_) => panic!("no document with {what} within {within:?}; the last: {last}"),
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["servers"].as_array().into_iter().flatten())
        .find(|s| s["name"] == name)
        .unwrap_or(&Value::Null)
}

fn logical(doc: &Value) -> Vec<String> {
    doc["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["servers"].as_array().into_iter().flatten())
        .map(|s| s["logical"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[test]
fn unit_show_watch_prints_each_change_as_a_json_document() {
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    let bob = m.add_account("bob", "builder");
    m.sleeper_unit(
        &alice,
        "shop",
        "format: 1\ngroups:\n  - name: web\n    template: t\n    count: 2\n    min: 1\n    max: 3\n",
    );
    let op = m
        .vsm(&alice, &["unit", "start", "shop", "--timeout", "120"])
        .ok()
        .json();
    assert_eq!(op["state"], "succeeded", "{op}");

    // Another builder may not watch alice's unit; the error is one JSON line too.
    let refused = m.vsm(&bob, &["unit", "show", "shop", "--watch"]);
    refused.code(77);
    assert_eq!(refused.error()["kind"], "forbidden", "{refused}");
    assert_eq!(refused.stdout.trim_end().lines().count(), 1, "{refused}");

    let w = Watcher::start(&m, &alice, "shop");
    let first = w.until(Duration::from_secs(10), "the unit", |_| true);
    assert_eq!(logical(&first), ["working", "working"], "{first}");
    assert!(server(&first, "web-1")["mark"].is_null(), "{first}");
    assert_eq!(first["counts"]["active"], 2, "{first}");

    // A mark made with another command shows within seconds.
    let marked_at = Instant::now();
    m.vsm(
        &alice,
        &["server", "mark", "shop", "web-1", "--comment", "disk noise"],
    )
    .ok();
    let marked = w.until(Duration::from_secs(5), "web-1 marked", |d| {
        server(d, "web-1")["mark"]["comment"] == "disk noise"
    });
    assert!(marked_at.elapsed() < Duration::from_secs(5));
    assert!(server(&marked, "web-2")["mark"].is_null(), "{marked}");

    // So does a stop (a warning, exit 1: it touched the marked server): every server stopped
    // and the unit free again.
    let op = m
        .vsm(&alice, &["unit", "stop", "shop", "--timeout", "120"])
        .code(1)
        .json();
    let stop_id = op["id"].clone();
    let stopped = w.until(Duration::from_secs(10), "every server stopped", |d| {
        logical(d) == ["stopped", "stopped"]
            && d["busy_with"].is_null()
            && d["last_operations"][0]["id"] == stop_id
    });
    assert_eq!(stopped["counts"]["active"], 0, "{stopped}");
    assert_eq!(stopped["last_operations"][0]["state"], op["state"]);
    assert_eq!(op["state"], "partly_succeeded", "{op}");
    assert_eq!(stopped["last_operations"][0]["kind"], "unit_stop");

    // Ctrl-C ends it with exit 0.
    let mut w = w;
    // SAFETY: sends SIGINT to the watcher we started; no memory is involved.
    let sent = unsafe { libc::kill(w.child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = w.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher did not end on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
}
