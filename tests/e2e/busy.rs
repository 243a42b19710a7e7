//! Exclusion and time-outs: a unit busy with a slow operation refuses a second one with 2,
//! `--wait` waits for the lock, `--timeout` exits 75 and leaves the operation running, and
//! `vsm op cancel` ends it `cancelled` (70 for whoever waits for it).
//!
//! The slow operation is deterministic: scaling a group in with `--grace 6` drains the victim for
//! six seconds before stopping it, and the unit stays locked meanwhile.

use vsm_tests::{Manager, User};

/// The drain time of the slow scale-in, in seconds.
const GRACE: &str = "6";

/// A started unit `slow` of two servers (processes that stop at once on SIGTERM).
fn slow_unit(m: &Manager) -> User {
    let alice = m.add_account("alice", "builder");
    let tpl_s = m.sleep_template("template");
    let unit_file = m.path("slow.yaml");
    std::fs::write(
        &unit_file,
        "format: 1\ngroups:\n  - name: app\n    template: t\n    count: 2\n    min: 1\n    max: 3\n",
    )
    .unwrap();
    let unit_s = unit_file.to_string_lossy().into_owned();
    m.vsm(
        &alice,
        &[
            "template", "register", "t", "--driver", "local", "--source", &tpl_s,
        ],
    )
    .ok();
    m.vsm(&alice, &["unit", "create", "slow", "--file", &unit_s])
        .ok();
    m.vsm(&alice, &["unit", "start", "slow"]).ok();
    alice
}

#[test]
fn a_busy_unit_is_2_and_wait_waits_for_the_lock() {
    let m = Manager::start();
    let alice = slow_unit(&m);
    let first = m.vsm(
        &alice,
        &[
            "unit",
            "scale",
            "slow",
            "app",
            "--count",
            "1",
            "--grace",
            GRACE,
            "--no-wait",
        ],
    );
    let id = first.ok().json()["id"].as_u64().unwrap();
    let busy = m.vsm(&alice, &["unit", "stop", "slow"]);
    busy.code(2);
    assert_eq!(busy.error()["operation"].as_u64(), Some(id), "{busy}");
    // the scale-in is still running: waiting for the lock lets the stop run after it
    let stop = m.vsm(
        &alice,
        &["unit", "stop", "slow", "--wait", "60", "--timeout", "60"],
    );
    stop.ok();
    let scale = m.vsm(&alice, &["op", "show", &id.to_string()]).ok().json();
    assert_eq!(scale["state"], "succeeded", "{scale}");
    let stop_id = stop.json()["id"].as_u64().unwrap();
    let stop_op = m
        .vsm(&alice, &["op", "show", &stop_id.to_string()])
        .ok()
        .json();
    assert!(
        stop_op["created_at"].as_u64() >= scale["finished_at"].as_u64(),
        "the stop began before the scale-in ended:\n{scale}\n{stop_op}"
    );
    let unit = m.vsm(&alice, &["unit", "show", "slow"]).ok().json();
    assert_eq!(unit["counts"]["all"], 1, "{unit}");
}

#[test]
fn a_timeout_is_75_and_the_operation_goes_on() {
    let m = Manager::start();
    let alice = slow_unit(&m);
    let out = m.vsm(
        &alice,
        &[
            "unit",
            "scale",
            "slow",
            "app",
            "--count",
            "1",
            "--grace",
            GRACE,
            "--timeout",
            "1",
        ],
    );
    out.code(75);
    let id = out.error()["operation"]
        .as_u64()
        .expect("the operation in the error");
    let op = m.vsm(&alice, &["op", "show", &id.to_string()]).ok().json();
    assert_eq!(op["state"], "running", "{op}");
    // the operation goes on in the manager and succeeds
    m.vsm(&alice, &["op", "wait", &id.to_string(), "--timeout", "60"])
        .ok();
    m.vsm(&alice, &["unit", "stop", "slow"]).ok();
}

#[test]
fn a_cancelled_operation_ends_cancelled_and_waiting_for_it_is_70() {
    let m = Manager::start();
    let alice = slow_unit(&m);
    let first = m.vsm(
        &alice,
        &[
            "unit",
            "scale",
            "slow",
            "app",
            "--count",
            "1",
            "--grace",
            GRACE,
            "--no-wait",
        ],
    );
    let id = first.ok().json()["id"].as_u64().unwrap().to_string();
    m.vsm(&alice, &["op", "cancel", &id]).ok();
    let waited = m.vsm(&alice, &["op", "wait", &id, "--timeout", "60"]);
    waited.code(70);
    assert_eq!(waited.json()["state"], "cancelled", "{waited}");
    // cancelling is for the owner (or an administrator)
    let bob = m.add_account("bob", "builder");
    m.vsm(&bob, &["op", "cancel", &id]).code(77);
    m.vsm(&alice, &["op", "cancel", "999999"]).code(64);
    m.vsm(&alice, &["unit", "stop", "slow"]).ok();
}
