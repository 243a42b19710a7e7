//! `vsm manager uninstall` (seed A4): refused while the manager runs (2) and while units have
//! servers (64, listing them); with `--destroy-servers` it deletes the units (their server
//! processes end), writes the final backup, removes the state directory and says what is left.

use std::path::Path;
use std::time::{Duration, Instant};

use vsm_tests::{Manager, run_vsm};

/// The pid of a local server's machine, from its record in the state directory.
fn pid_of(dir: &Path, machine: &str) -> i32 {
    let local = camino::Utf8PathBuf::from_path_buf(dir.join("local")).unwrap();
    let driver = vsm_hypervisor::local::LocalDriver::open(local, Default::default()).unwrap();
    let m = vsm_hypervisor::MachineName::new(machine).unwrap();
    driver
        .pid(&m)
        .unwrap_or_else(|| panic!("{machine} does not run"))
}

/// Whether process `pid` still runs (a zombie does not).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn uninstall_refuses_while_running_or_holding_servers_then_removes_everything() {
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    m.sleeper_unit(
        &alice,
        "shop",
        "format: 1\ngroups:\n  - name: app\n    template: t\n    count: 2\n",
    );
    m.vsm(&alice, &["unit", "start", "shop"]).ok();
    let pids = [pid_of(&m.dir, "shop--app-1"), pid_of(&m.dir, "shop--app-2")];
    assert!(pids.iter().all(|p| alive(*p)));
    let dir = m.dir_str();

    // while the manager runs: exclusion (2), nothing removed
    run_vsm(&["manager", "uninstall", "--dir", &dir], &[], None).code(2);
    assert!(m.dir.exists());

    m.stop().ok();
    // units with servers: refused (64), listing them, nothing removed
    let refused = run_vsm(&["manager", "uninstall", "--dir", &dir], &[], None);
    refused
        .code(64)
        .stderr_has("unit shop (alice): app-1, app-2");
    refused.stderr_has("--destroy-servers");
    assert!(m.dir.join("state.db").exists());
    assert!(pids.iter().all(|p| alive(*p)), "servers were touched");
    assert!(!Path::new(&format!("{dir}.final-backup.tar")).exists());

    // with --destroy-servers: the units go, then the backup, then the directory
    let backup = m.path("final.tar");
    let backup_s = backup.to_string_lossy().into_owned();
    let done = run_vsm(
        &[
            "manager",
            "uninstall",
            "--dir",
            &dir,
            "--destroy-servers",
            "--backup",
            &backup_s,
            "--output",
            "json",
        ],
        &[],
        None,
    );
    let report = done.ok().json();
    assert_eq!(report["removed"], dir.as_str(), "{report}");
    assert_eq!(report["backup"], backup_s.as_str(), "{report}");
    assert_eq!(
        report["deleted_units"],
        serde_json::json!(["shop"]),
        "{report}"
    );
    assert!(
        report["left"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x.as_str().unwrap_or("").contains("JP1"))),
        "{report}"
    );
    assert!(!m.dir.exists(), "the state directory is gone");
    assert!(
        std::fs::metadata(&backup).unwrap().len() > 0,
        "the backup was written"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "server processes still run"
    );

    // the backup restores what was there before the deletes
    let restored = m.path("restored").to_string_lossy().into_owned();
    run_vsm(
        &[
            "manager", "restore", "--dir", &restored, "--from", &backup_s,
        ],
        &[],
        None,
    )
    .ok();
    assert!(Path::new(&restored).join("state.db").exists());
    // nothing left to uninstall where nothing is
    run_vsm(&["manager", "uninstall", "--dir", &dir], &[], None).code(64);
}
