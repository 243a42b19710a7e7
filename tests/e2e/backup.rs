//! A backup taken while an operation runs, through the binary: a rolling apply of a new version
//! to the running example unit runs while `vsm manager backup` writes the archive; the archive
//! restored into a new state directory gives a manager that opens and is consistent: the
//! operation that was running shows as interrupted (or finished), never running; versions, the
//! unit, its servers and the accounts are there; no server claims to work without a process.

use std::time::{Duration, Instant};

use serde_json::Value;
use vsm_tests::{Manager, run_vsm};

use crate::crash::{bump_release, copies, example_shop, servers};

/// Stops a manager started from a restored state directory (and its servers), also on failure.
struct Restored {
    dir: String,
    url: String,
    cfg: String,
}

impl Restored {
    fn vsm(&self, args: &[&str]) -> vsm_tests::Output {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        run_vsm(
            &all,
            &[("VSM_URL", &self.url), ("VSM_CONFIG_DIR", &self.cfg)],
            None,
        )
    }
}

impl Drop for Restored {
    fn drop(&mut self) {
        let _ = run_vsm(&["manager", "stop", "--dir", &self.dir], &[], None);
        vsm_tests::kill_local_servers(std::path::Path::new(&self.dir));
    }
}

#[test]
fn a_backup_taken_during_an_apply_restores_into_a_consistent_manager() {
    let m = Manager::start();
    let (alice, defs) = example_shop(&m);
    // version 2, rolled out one server at a time over the running unit (each server stops,
    // gets the files and starts again: seconds in all)
    bump_release(&defs, 2);
    let defs_s = defs.to_string_lossy().into_owned();
    m.vsm(&alice, &["unit", "import", "shop", &defs_s]).ok();
    let op = m
        .vsm(
            &alice,
            &["unit", "apply", "shop", "--batch", "1", "--no-wait"],
        )
        .ok()
        .json();
    let id = op["id"].as_u64().expect("an operation id").to_string();

    let backup = m.path("during-apply.tar");
    let backup_s = backup.to_string_lossy().into_owned();
    let before = m.vsm(&alice, &["op", "show", &id]).ok().json();
    m.vsm(&m.admin, &["manager", "backup", "--out", &backup_s])
        .ok();
    let after = m.vsm(&alice, &["op", "show", &id]).ok().json();
    assert_eq!(before["state"], "running", "{before}");
    assert_eq!(
        after["state"], "running",
        "the apply ended before the backup did: the test would prove nothing\n{after}"
    );
    // the apply goes on and finishes on the original manager
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let shown = m.vsm(&alice, &["op", "show", &id]).ok().json();
        if shown["state"] != "running" {
            assert_eq!(shown["state"], "succeeded", "{shown}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the apply did not finish:\n{shown}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    m.stop().ok();

    // restore into a new directory and start a manager there
    let dir = m.path("restored").to_string_lossy().into_owned();
    run_vsm(
        &["manager", "restore", "--dir", &dir, "--from", &backup_s],
        &[],
        None,
    )
    .ok();
    let out = run_vsm(
        &[
            "manager",
            "start",
            "--dir",
            &dir,
            "--detach",
            "--listen",
            "127.0.0.1:0",
            "--output",
            "json",
        ],
        &[],
        None,
    );
    let url = out.ok().json()["url"].as_str().expect("a url").to_owned();
    let restored = Restored {
        dir: dir.clone(),
        url,
        cfg: m.path("restored-session").to_string_lossy().into_owned(),
    };
    let pw = alice.password_file.to_string_lossy().into_owned();
    restored
        .vsm(&["login", "--user", "alice", "--password-file", &pw])
        .ok();

    // the operation that was running is interrupted (or finished), never running
    let op = restored.vsm(&["op", "show", &id]).ok().json();
    assert!(
        matches!(
            op["state"].as_str(),
            Some("interrupted" | "succeeded" | "partly_succeeded" | "failed")
        ),
        "{op}"
    );
    eprintln!("restored: operation {id} is {}", op["state"]);
    let list = restored.vsm(&["op", "list", "--unit", "shop"]).ok().json();
    for o in list.as_array().into_iter().flatten() {
        assert_ne!(o["state"], "running", "{list}");
    }
    assert!(
        list.as_array().is_some_and(|ops| ops
            .iter()
            .any(|o| o["id"].as_u64().map(|n| n.to_string()) == Some(id.clone()))),
        "{list}"
    );

    // versions, the unit and its servers, the template, the accounts
    let versions = restored.vsm(&["unit", "versions", "shop"]).ok().json();
    assert_eq!(versions.as_array().map(Vec::len), Some(2), "{versions}");
    let unit: Value = restored.vsm(&["unit", "show", "shop"]).ok().json();
    assert_eq!(unit["owner"], "alice", "{unit}");
    assert_eq!(unit["current_version"], 2, "{unit}");
    let all = servers(&unit);
    assert_eq!(all.len(), 4, "{unit}");
    let templates = restored.vsm(&["template", "list"]).ok().json();
    assert_eq!(templates[0]["name"], "appserver", "{templates}");
    let root_pw = m.admin.password_file.to_string_lossy().into_owned();
    let admin_cfg = m.path("restored-admin").to_string_lossy().into_owned();
    let as_admin = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend(["--output", "json"]);
        run_vsm(
            &v,
            &[("VSM_URL", &restored.url), ("VSM_CONFIG_DIR", &admin_cfg)],
            None,
        )
    };
    as_admin(&["login", "--user", "root", "--password-file", &root_pw]).ok();
    let accounts = as_admin(&["account", "list"]).ok().json();
    assert!(accounts.to_string().contains("\"alice\""), "{accounts}");

    // no server of the restored manager claims to work without a process of its own driver
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let unit = restored.vsm(&["unit", "show", "shop"]).ok().json();
        let lying: Vec<String> = servers(&unit)
            .iter()
            .filter(|s| {
                let name = s["name"].as_str().unwrap_or("?");
                let n = copies(std::path::Path::new(&dir), &format!("shop--{name}"));
                matches!(s["observed"].as_str(), Some("working" | "operating")) != (n == 1)
            })
            .map(|s| s.to_string())
            .collect();
        if lying.is_empty() {
            let observed: Vec<String> = servers(&unit)
                .iter()
                .map(|s| format!("{}={}", s["name"], s["observed"]))
                .collect();
            eprintln!("restored: servers {observed:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "observed states that do not match the restored driver: {lying:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(restored);
}
