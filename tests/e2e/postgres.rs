//! A manager moved onto PostgreSQL through the binary (issue 14, step 3): a SQLite manager
//! with a unit that ran is stopped, `vsm manager migrate-store` moves it into an empty
//! database (refused while it runs, with a password file others can read, with a password in
//! the URL), the manager starts on PostgreSQL with everything there; its backup restores into
//! a fresh database with `vsm manager restore --store`; `vsm manager init --store` onto a used
//! database is refused.
//!
//! PostgreSQL runs on a throwaway `PgServer`; without PostgreSQL the test prints why it is
//! skipped (never under `CI=true`).

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;
use vsm_manager::testing::pg::PgServer;
use vsm_tests::{Manager, run_vsm};

const UNIT: &str =
    "format: 1\ngroups:\n  - name: app\n    template: t\n    count: 2\n    min: 1\n    max: 3\n";

/// Starts the manager of `dir` (detached, on a free port): its URL.
fn start(dir: &str) -> String {
    let out = run_vsm(
        &[
            "manager",
            "start",
            "--dir",
            dir,
            "--detach",
            "--listen",
            "127.0.0.1:0",
            "--output",
            "json",
        ],
        &[],
        None,
    );
    out.ok().json()["url"].as_str().expect("a url").to_owned()
}

/// Stops the manager of `dir` (and its local servers) on drop, also on failure.
struct Running {
    dir: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = run_vsm(&["manager", "stop", "--dir", &self.dir], &[], None);
        vsm_tests::kill_local_servers(std::path::Path::new(&self.dir));
    }
}

/// `vsm args --output json` against `url` with the session directory `cfg`.
fn at(url: &str, cfg: &str, args: &[&str]) -> vsm_tests::Output {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    run_vsm(&all, &[("VSM_URL", url), ("VSM_CONFIG_DIR", cfg)], None)
}

fn servers(unit: &Value) -> Vec<String> {
    unit["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["servers"].as_array().into_iter().flatten())
        .map(|s| format!("{}={}", s["name"].as_str().unwrap_or("?"), s["logical"]))
        .collect()
}

#[test]
fn a_sqlite_manager_moves_to_postgres_and_its_backup_restores_into_a_fresh_database() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let url = pg.create_database("moved");
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    m.sleeper_unit(&alice, "shop", UNIT);
    m.vsm(&alice, &["unit", "start", "shop"]).ok();
    m.vsm(&alice, &["unit", "stop", "shop"]).ok();
    let dir = m.dir_str();
    let pw = m.write("pg-password", "not-needed-by-trust-auth\n");

    // Refused while the manager runs: exclusion (2), nothing changed.
    run_vsm(
        &[
            "manager",
            "migrate-store",
            "--dir",
            &dir,
            "--to",
            &url,
            "--output",
            "json",
        ],
        &[],
        None,
    )
    .code(2);
    m.stop().ok();
    let config_before = std::fs::read_to_string(m.dir.join("config.yaml")).expect("config");

    // A password in the URL: a usage error that never repeats it.
    let with_pw = url.replace("://vsm@", "://vsm:hunter2@");
    let out = run_vsm(
        &[
            "manager",
            "migrate-store",
            "--dir",
            &dir,
            "--to",
            &with_pw,
            "--output",
            "json",
        ],
        &[],
        None,
    );
    out.code(64);
    let err = out.error().to_string();
    assert!(err.contains("carries a password"), "{out}");
    assert!(
        !out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"),
        "{out}"
    );

    // A password file others can read: invalid data (65), naming the file and the fix.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let args = [
        "manager",
        "migrate-store",
        "--dir",
        &dir,
        "--to",
        &url,
        "--store-password-file",
        &pw,
        "--output",
        "json",
    ];
    let out = run_vsm(&args, &[], None);
    out.code(65);
    let err = out.error().to_string();
    assert!(err.contains(&pw) && err.contains("chmod 600"), "{out}");
    assert_eq!(
        std::fs::read_to_string(m.dir.join("config.yaml")).expect("config"),
        config_before
    );
    assert!(m.dir.join("state.db").exists());

    // The migration.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let report = run_vsm(&args, &[], None).ok().json();
    assert_eq!(report["rows"]["accounts"], 2, "{report}");
    assert_eq!(report["rows"]["templates"], 1, "{report}");
    assert_eq!(report["rows"]["units"], 1, "{report}");
    assert_eq!(report["rows"]["servers"], 2, "{report}");
    assert_eq!(report["rows"]["operations"], 2, "{report}");
    assert!(report["rows"]["journal"].as_u64() > Some(0), "{report}");
    assert!(report["rows"]["audit"].as_u64() > Some(3), "{report}");
    assert_eq!(report["sessions_kept"], true, "{report}");
    let kept = report["kept"].as_str().expect("kept").to_owned();
    assert!(kept.contains("state.db.migrated-"), "{report}");
    assert!(std::path::Path::new(&kept).exists(), "{kept}");
    assert!(!m.dir.join("state.db").exists());
    let config = std::fs::read_to_string(m.dir.join("config.yaml")).expect("config");
    assert!(config.contains(&format!("store: \"{url}\"")), "{config}");
    assert!(
        config.contains(&format!("store_password_file: \"{pw}\"")),
        "{config}"
    );

    // status names the store and warns that the definitions stay local.
    let status = run_vsm(
        &["manager", "status", "--dir", &dir, "--output", "json"],
        &[],
        None,
    );
    let v = status.ok().json();
    assert!(
        v["store"]
            .as_str()
            .is_some_and(|s| s.contains("PostgreSQL database moved")),
        "{status}"
    );
    assert!(
        v["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("standby")),
        "{status}"
    );

    // The manager runs on PostgreSQL: the same unit, operations, accounts; the session kept.
    let url_pg = start(&dir);
    let running = Running { dir: dir.clone() };
    // (a session is saved per manager URL, and this one listens on a new port)
    let alice_cfg = m.path("pg-alice").to_string_lossy().into_owned();
    let alice_pw = alice.password_file.to_string_lossy().into_owned();
    at(
        &url_pg,
        &alice_cfg,
        &["login", "--user", "alice", "--password-file", &alice_pw],
    )
    .ok();
    let unit = at(&url_pg, &alice_cfg, &["unit", "show", "shop"])
        .ok()
        .json();
    assert_eq!(
        servers(&unit),
        ["app-1=\"stopped\"", "app-2=\"stopped\""],
        "{unit}"
    );
    let ops = at(&url_pg, &alice_cfg, &["op", "list", "--unit", "shop"])
        .ok()
        .json();
    assert_eq!(ops.as_array().map(Vec::len), Some(2), "{ops}");
    at(&url_pg, &alice_cfg, &["unit", "start", "shop"]).ok();
    let unit = at(&url_pg, &alice_cfg, &["unit", "show", "shop"])
        .ok()
        .json();
    assert_eq!(
        servers(&unit),
        ["app-1=\"working\"", "app-2=\"working\""],
        "{unit}"
    );
    at(&url_pg, &alice_cfg, &["unit", "stop", "shop"]).ok();

    // A backup of the PostgreSQL manager restores into a fresh database.
    let admin_cfg = m.path("pg-root").to_string_lossy().into_owned();
    let root_pw = m.admin.password_file.to_string_lossy().into_owned();
    at(
        &url_pg,
        &admin_cfg,
        &["login", "--user", "root", "--password-file", &root_pw],
    )
    .ok();
    let backup = m.path("pg-backup.tar").to_string_lossy().into_owned();
    at(
        &url_pg,
        &admin_cfg,
        &["manager", "backup", "--out", &backup],
    )
    .ok();
    drop(running);
    let fresh = pg.create_database("restored");
    let restored = m.path("restored").to_string_lossy().into_owned();
    // Into the used database first: refused, nothing created.
    run_vsm(
        &[
            "manager", "restore", "--dir", &restored, "--from", &backup, "--output", "json",
        ],
        &[],
        None,
    )
    .code(64);
    assert!(!std::path::Path::new(&restored).exists());
    let out = run_vsm(
        &[
            "manager",
            "restore",
            "--dir",
            &restored,
            "--from",
            &backup,
            "--store",
            &fresh,
            "--store-password-file",
            &pw,
            "--output",
            "json",
        ],
        &[],
        None,
    );
    let v = out.ok().json();
    assert!(
        v["store"]
            .as_str()
            .is_some_and(|s| s.contains("PostgreSQL database restored")),
        "{out}"
    );
    assert!(!std::path::Path::new(&restored).join("state.db").exists());
    let url_restored = start(&restored);
    let _running = Running {
        dir: restored.clone(),
    };
    let cfg = m.path("restored-alice").to_string_lossy().into_owned();
    at(
        &url_restored,
        &cfg,
        &["login", "--user", "alice", "--password-file", &alice_pw],
    )
    .ok();
    let unit = at(&url_restored, &cfg, &["unit", "show", "shop"])
        .ok()
        .json();
    assert_eq!(servers(&unit).len(), 2, "{unit}");
    let ops = at(&url_restored, &cfg, &["op", "list", "--unit", "shop"])
        .ok()
        .json();
    assert_eq!(ops.as_array().map(Vec::len), Some(4), "{ops}");

    // init onto a database that holds a vsm state: refused (64), nothing created.
    let other = m.path("other").to_string_lossy().into_owned();
    let out = run_vsm(
        &[
            "manager",
            "init",
            "--dir",
            &other,
            "--admin",
            "root",
            "--password-file",
            &root_pw,
            "--store",
            &url,
            "--output",
            "json",
        ],
        &[],
        None,
    );
    out.code(64);
    assert!(
        out.error()
            .to_string()
            .contains("already holds a vsm state"),
        "{out}"
    );
    assert!(!std::path::Path::new(&other).exists());
}
