//! The manager's life cycle and the administrator's commands on it: init, start (detached),
//! status, a second start refused, log settings, stop; backup, diagnose and restore.

use vsm_tests::{Manager, run_vsm};

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
    // The manager really writes its log files where the settings say.
    let log_dir = {
        let d = std::path::PathBuf::from(changed["dir"].as_str().unwrap_or("logs"));
        if d.is_absolute() { d } else { m.dir.join(d) }
    };
    let log = std::fs::read_to_string(log_dir.join("vsm-manager.log")).unwrap_or_default();
    assert!(
        log.lines().count() > 0 && log.contains("INFO"),
        "{}: {log:?}",
        log_dir.display()
    );

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

/// Stops a manager started from a restored state directory, also when the test fails.
struct StopOnDrop(String);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = run_vsm(&["manager", "stop", "--dir", &self.0], &[], None);
        vsm_tests::kill_local_servers(std::path::Path::new(&self.0));
    }
}

#[test]
fn backup_diagnose_restore() {
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    // something worth restoring: a template, a unit and an imported definition version
    m.sleeper_unit(
        &alice,
        "shop",
        "format: 1\ngroups:\n  - name: app\n    template: t\n    count: 1\n",
    );
    m.write(
        "defs/vsm-definition.yaml",
        "format: 1\ngroups:\n  - name: app\n    files:\n      - { source: app.conf, target: etc/app.conf }\n",
    );
    m.write("defs/app.conf", "release=1\n");
    let defs = m.path("defs").to_string_lossy().into_owned();
    m.vsm(&alice, &["unit", "import", "shop", &defs]).ok();
    let backup = m.path("backup.tar");
    let backup_s = backup.to_string_lossy().into_owned();
    m.vsm(&m.admin, &["manager", "backup", "--out", &backup_s])
        .ok();
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);
    // backups are the administrator's
    let other = m.path("other.tar").to_string_lossy().into_owned();
    m.vsm(&alice, &["manager", "backup", "--out", &other])
        .code(77);
    let diag = m.path("diag.tar");
    let diag_s = diag.to_string_lossy().into_owned();
    m.vsm(&m.admin, &["manager", "diagnose", "--out", &diag_s])
        .ok();
    assert!(std::fs::metadata(&diag).unwrap().len() > 0);

    // restore into a new directory and start a second manager from it: it knows alice, her
    // template, her unit and its imported definition
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
    let guard = StopOnDrop(restored.clone());
    let url = out.ok().json()["url"].as_str().unwrap().to_owned();
    let cfg = m.path("restored-session").to_string_lossy().into_owned();
    let pw = alice.password_file.to_string_lossy().into_owned();
    run_vsm(
        &[
            "login",
            "--user",
            "alice",
            "--password-file",
            &pw,
            "--output",
            "json",
        ],
        &[("VSM_URL", &url), ("VSM_CONFIG_DIR", &cfg)],
        None,
    )
    .ok();
    let as_alice = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        run_vsm(&all, &[("VSM_URL", &url), ("VSM_CONFIG_DIR", &cfg)], None)
    };
    let unit = as_alice(&["unit", "show", "shop"]).ok().json();
    assert_eq!(unit["owner"], "alice", "{unit}");
    assert_eq!(unit["current_version"], 1, "{unit}");
    assert_eq!(unit["groups"][0]["name"], "app", "{unit}");
    let templates = as_alice(&["template", "list"]).ok().json();
    assert_eq!(templates[0]["name"], "t", "{templates}");
    let exported = m.path("restored-export");
    let exported_s = exported.to_string_lossy().into_owned();
    as_alice(&["unit", "export", "shop", &exported_s]).ok();
    assert_eq!(
        std::fs::read_to_string(exported.join("app.conf")).unwrap(),
        "release=1\n"
    );
    // restoring over a running manager is refused
    run_vsm(
        &[
            "manager", "restore", "--dir", &restored, "--from", &backup_s,
        ],
        &[],
        None,
    )
    .code(2);
    drop(guard);
}

#[test]
fn status_of_something_that_is_not_a_state_dir_is_64() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_string_lossy().into_owned();
    run_vsm(&["manager", "status", "--dir", &dir], &[], None).code(64);
    run_vsm(&["manager", "stop", "--dir", &dir], &[], None).code(64);
}

/// A detached manager's console log (its standard error) holds plain lines, without colour
/// escapes, also when NO_COLOR is not set: it is not a terminal.
#[test]
fn a_detached_managers_console_log_has_no_colour_escapes() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state").to_string_lossy().into_owned();
    let pw = root.path().join("pw");
    std::fs::write(&pw, "a-long-password-1\n").unwrap();
    let pw = pw.to_string_lossy().into_owned();
    // An empty NO_COLOR counts as unset (no-color.org).
    let env = [("NO_COLOR", "")];
    run_vsm(
        &[
            "manager",
            "init",
            "--dir",
            &dir,
            "--admin",
            "root",
            "--password-file",
            &pw,
            "--listen",
            "127.0.0.1:0",
        ],
        &env,
        None,
    )
    .ok();
    let _stop = StopOnDrop(dir.clone());
    run_vsm(&["manager", "start", "--dir", &dir, "--detach"], &env, None).ok();
    run_vsm(&["manager", "stop", "--dir", &dir], &env, None).ok();
    let console = std::fs::read_to_string(std::path::Path::new(&dir).join("logs/console.log"))
        .expect("the console log");
    assert!(
        console.contains("INFO"),
        "the console log has no log lines: {console:?}"
    );
    assert!(!console.contains('\u{1b}'), "colour escapes in {console:?}");
}
