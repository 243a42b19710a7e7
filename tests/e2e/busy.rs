//! Exclusion and time-outs: a unit busy with a slow operation refuses a second one with 2,
//! `--wait` waits for the lock, `--timeout` exits 75 and leaves the operation running.
//!
//! The slow operation is a start whose health check never passes (`command: "false"`) within
//! its 4 s time-out; this needs the engine's health checks.

use vsm_tests::Manager;

fn slow_unit(m: &Manager) -> vsm_tests::User {
    let alice = m.add_account("alice", "builder");
    let tpl = m.path("template");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(
        tpl.join("template.yaml"),
        "format: 1\nboot: [sh, -c, \"exec sleep 100000\"]\nstop_timeout_seconds: 2\n",
    )
    .unwrap();
    let unit_file = m.path("slow.yaml");
    std::fs::write(
        &unit_file,
        "format: 1\ngroups:\n  - name: app\n    template: t\n    count: 1\n    health: { timeout: 4s, command: \"false\" }\n",
    )
    .unwrap();
    let tpl_s = tpl.to_string_lossy().into_owned();
    let unit_s = unit_file.to_string_lossy().into_owned();
    m.vsm(&alice, &["template", "register", "t", "--driver", "local", "--source", &tpl_s]).ok();
    m.vsm(&alice, &["unit", "create", "slow", "--file", &unit_s]).ok();
    alice
}

#[test]
fn a_busy_unit_is_2_and_wait_waits_for_the_lock() {
    let m = Manager::start();
    let alice = slow_unit(&m);
    let first = m.vsm(&alice, &["unit", "start", "slow", "--no-wait"]);
    let id = first.ok().json()["id"].as_u64().unwrap();
    let busy = m.vsm(&alice, &["unit", "stop", "slow"]);
    busy.code(2);
    assert_eq!(busy.error()["operation"].as_u64(), Some(id), "{busy}");
    m.vsm(&alice, &["unit", "stop", "slow", "--wait", "60", "--timeout", "60"]).ok();
    // the slow start itself failed its health check: 70
    m.vsm(&alice, &["op", "wait", &id.to_string()]).code(70);
}

#[test]
fn a_timeout_is_75_and_the_operation_goes_on() {
    let m = Manager::start();
    let alice = slow_unit(&m);
    let out = m.vsm(&alice, &["unit", "start", "slow", "--timeout", "1"]);
    out.code(75);
    let id = out.error()["operation"].as_u64().expect("the operation in the error");
    let op = m.vsm(&alice, &["op", "show", &id.to_string()]).ok().json();
    assert_eq!(op["state"], "running", "{op}");
    m.vsm(&alice, &["op", "wait", &id.to_string(), "--timeout", "60"]).code(70);
}
