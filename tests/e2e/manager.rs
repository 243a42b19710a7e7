//! The manager's life cycle and the administrator's commands on it: init, start (detached),
//! status, a second start refused, backup, diagnose, log settings, stop, restore.

use vsm_tests::{Manager, run_vsm};

#[test]
fn init_start_status_stop_and_restore() {
    let m = Manager::start();
    let dir = m.dir_str();

    let status = run_vsm(&["manager", "status", "--dir", &dir, "--output", "json"], &[], None);
    let v = status.ok().json();
    assert_eq!(v["state"], "running", "{status}");
    assert_eq!(v["url"], m.url.as_str(), "{status}");

    // a second manager on the same directory is refused (exclusion)
    run_vsm(&["manager", "start", "--dir", &dir, "--detach"], &[], None).code(2);
    // init refuses a directory that holds a manager
    let pw = m.admin.password_file.to_string_lossy().into_owned();
    run_vsm(
        &["manager", "init", "--dir", &dir, "--admin", "x", "--password-file", &pw],
        &[],
        None,
    )
    .code(64);

    // backup and diagnostics through the API (administrator)
    let backup = m.path("backup.tar");
    let backup_s = backup.to_string_lossy().into_owned();
    m.vsm(&m.admin, &["manager", "backup", "--out", &backup_s]).ok();
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);
    let diag = m.path("diag.tar").to_string_lossy().into_owned();
    m.vsm(&m.admin, &["manager", "diagnose", "--out", &diag]).ok();

    // log settings: show, change, show again
    let before = m.vsm(&m.admin, &["manager", "log-config"]).ok().json();
    assert!(before["files"].as_u64().is_some(), "{before}");
    let changed = m
        .vsm(&m.admin, &["manager", "log-config", "--files", "3", "--size-mb", "2"])
        .ok()
        .json();
    assert_eq!(changed["files"], 3);
    assert_eq!(changed["size_mb"], 2);

    // stop: graceful, and the status says so
    let stopped = m.stop();
    assert_eq!(stopped.ok().json()["was_running"], true, "{stopped}");
    let v = run_vsm(&["manager", "status", "--dir", &dir, "--output", "json"], &[], None)
        .ok()
        .json();
    assert_eq!(v["state"], "stopped");
    // a stopped manager is unreachable
    m.vsm(&m.admin, &["unit", "list"]).code(69);

    // restore into a new directory and start it again
    let restored = m.path("restored").to_string_lossy().into_owned();
    run_vsm(
        &["manager", "restore", "--dir", &restored, "--from", &backup_s],
        &[],
        None,
    )
    .ok();
    let out = run_vsm(
        &["manager", "start", "--dir", &restored, "--detach", "--listen", "127.0.0.1:0", "--output", "json"],
        &[],
        None,
    );
    out.ok();
    run_vsm(&["manager", "stop", "--dir", &restored], &[], None).ok();
}

#[test]
fn status_of_something_that_is_not_a_state_dir_is_64() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_string_lossy().into_owned();
    run_vsm(&["manager", "status", "--dir", &dir], &[], None).code(64);
    run_vsm(&["manager", "stop", "--dir", &dir], &[], None).code(64);
}
