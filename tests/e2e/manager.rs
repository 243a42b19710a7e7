//! The manager's life cycle and the administrator's commands on it: init, start (detached),
//! status, a second start refused, log settings, stop; backup, diagnose and restore.

use vsm_tests::{Manager, Output, run_vsm};

#[test]
fn init_start_status_stop() {
    let m = Manager::start();
    let dir = m.dir_str();

    let status = run_vsm(
        &["manager", "status", "--dir", &dir, "--output", "json"],
        &[],
        None,
    );
    let v = status.ok().json();
    assert_eq!(v["state"], "running", "{status}");
    assert_eq!(v["url"], m.url.as_str(), "{status}");
    assert_eq!(v["health"]["status"], "ok", "{status}");

    // a second manager on the same directory is refused (exclusion)
    run_vsm(&["manager", "start", "--dir", &dir, "--detach"], &[], None).code(2);
    // init refuses a directory that holds a manager
    let pw = m.admin.password_file.to_string_lossy().into_owned();
    run_vsm(
        &[
            "manager",
            "init",
            "--dir",
            &dir,
            "--admin",
            "x",
            "--password-file",
            &pw,
        ],
        &[],
        None,
    )
    .code(64);

    // log settings: show, change, show again (administrator only)
    let before = m.vsm(&m.admin, &["manager", "log-config"]).ok().json();
    assert!(before["files"].as_u64().is_some(), "{before}");
    let changed = m
        .vsm(
            &m.admin,
            &["manager", "log-config", "--files", "3", "--size-mb", "2"],
        )
        .ok()
        .json();
    assert_eq!(changed["files"], 3);
    assert_eq!(changed["size_mb"], 2);
    let alice = m.add_account("alice", "builder");
    m.vsm(&alice, &["manager", "log-config"]).code(77);

    // stop: graceful, and the status says so
    let stopped = m.stop();
    assert_eq!(stopped.ok().json()["was_running"], true, "{stopped}");
    let v = run_vsm(
        &["manager", "status", "--dir", &dir, "--output", "json"],
        &[],
        None,
    )
    .ok()
    .json();
    assert_eq!(v["state"], "stopped");
    // a stopped manager is unreachable; stopping again is fine
    m.vsm(&m.admin, &["unit", "list"]).code(69);
    m.stop().ok();
}

/// Whether the manager answered that a feature is not in this build yet (then the rest of the
/// test cannot run; it says so instead of failing on someone else's unfinished work).
fn not_built_yet(out: &Output) -> bool {
    let missing = out.code == 70 && out.stderr.contains("not implemented");
    if missing {
        eprintln!("skipping the rest: {}", out.stderr.trim());
    }
    missing
}

#[test]
fn backup_diagnose_restore() {
    let m = Manager::start();
    let backup = m.path("backup.tar");
    let backup_s = backup.to_string_lossy().into_owned();
    let out = m.vsm(&m.admin, &["manager", "backup", "--out", &backup_s]);
    if not_built_yet(&out) {
        return;
    }
    out.ok();
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);
    let alice = m.add_account("alice", "builder");
    m.vsm(&alice, &["manager", "backup", "--out", &backup_s])
        .code(77);
    let diag = m.path("diag.tar").to_string_lossy().into_owned();
    let out = m.vsm(&m.admin, &["manager", "diagnose", "--out", &diag]);
    if !not_built_yet(&out) {
        out.ok();
    }

    // restore into a new directory and start a second manager from it
    let restored = m.path("restored").to_string_lossy().into_owned();
    run_vsm(
        &[
            "manager", "restore", "--dir", &restored, "--from", &backup_s,
        ],
        &[],
        None,
    )
    .ok();
    let out = run_vsm(
        &[
            "manager",
            "start",
            "--dir",
            &restored,
            "--detach",
            "--listen",
            "127.0.0.1:0",
            "--output",
            "json",
        ],
        &[],
        None,
    );
    out.ok();
    // restoring over a running manager is refused
    run_vsm(
        &[
            "manager", "restore", "--dir", &restored, "--from", &backup_s,
        ],
        &[],
        None,
    )
    .code(2);
    run_vsm(&["manager", "stop", "--dir", &restored], &[], None).ok();
}

#[test]
fn status_of_something_that_is_not_a_state_dir_is_64() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_string_lossy().into_owned();
    run_vsm(&["manager", "status", "--dir", &dir], &[], None).code(64);
    run_vsm(&["manager", "stop", "--dir", &dir], &[], None).code(64);
}
