//! The system builder's work on the embedded local driver: templates, units, definitions,
//! apply, start/stop, scale, roll-out, operations, JP1 export — and the refusals: an invalid unit
//! file, an unknown unit, another builder's unit, a busy unit.

use serde_json::Value;
use vsm_tests::{Manager, User, redact, workspace_root};

fn example(rel: &str) -> String {
    workspace_root().join(rel).to_string_lossy().into_owned()
}

/// A manager with builder `alice`, the example template and the example unit `shop`.
fn shop() -> (Manager, User) {
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    m.vsm(
        &alice,
        &[
            "template",
            "register",
            "appserver",
            "--driver",
            "local",
            "--source",
            &example("examples/templates/appserver"),
        ],
    )
    .ok();
    let created = m.vsm(
        &alice,
        &["unit", "create", "shop", "--file", &example("examples/units/shop.yaml")],
    );
    assert_eq!(created.ok().json()["name"], "shop", "{created}");
    (m, alice)
}

fn servers(unit: &Value) -> Vec<&Value> {
    unit["servers_detail"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

#[test]
fn the_builder_flow_from_template_to_rolled_out_update() {
    let (m, alice) = shop();
    let defs = example("examples/definitions/shop");

    // templates
    let list = m.vsm(&alice, &["template", "list"]).ok().json();
    assert_eq!(list[0]["name"], "appserver", "{list}");
    m.vsm(&alice, &["template", "show", "appserver"]).ok();

    // definitions: diff, import (version 1), import again (unchanged), versions, export
    m.vsm(&alice, &["unit", "diff", "shop", &defs]).ok();
    let imported = m.vsm(&alice, &["unit", "import", "shop", &defs]).ok().json();
    assert_eq!(imported["version"], 1, "{imported}");
    assert_eq!(imported["created"], true);
    let again = m.vsm(&alice, &["unit", "import", "shop", &defs]).ok().json();
    assert_eq!(again["created"], false, "{again}");
    let versions = m.vsm(&alice, &["unit", "versions", "shop"]).ok().json();
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");
    let out = m.path("exported");
    let out_s = out.to_string_lossy().into_owned();
    m.vsm(&alice, &["unit", "export", "shop", &out_s]).ok();
    assert!(out.join("vsm-definition.yaml").exists());

    // apply, start: every server working, with an address
    let op = m.vsm(&alice, &["unit", "apply", "shop"]).ok().json();
    assert_eq!(op["state"], "succeeded", "{op}");
    let op = m.vsm(&alice, &["unit", "start", "shop", "--timeout", "120"]).ok().json();
    assert_eq!(op["state"], "succeeded", "{op}");
    let unit = m.vsm(&alice, &["unit", "show", "shop"]).ok().json();
    let all = servers(&unit);
    assert_eq!(all.len(), 4, "{unit}");
    for s in &all {
        assert_eq!(s["logical"], "working", "{unit}");
        assert!(s["address"].as_str().is_some(), "{unit}");
    }
    let table = m.vsm(&alice, &["unit", "show", "shop", "--output", "table"]).ok().stdout.clone();
    insta::assert_snapshot!("unit_show_running", redact(&table, m.root.path()));

    // groups and servers
    m.vsm(&alice, &["group", "stop", "shop", "web"]).ok();
    m.vsm(&alice, &["group", "start", "shop", "web"]).ok();
    let name = all[0]["name"].as_str().unwrap().to_owned();
    m.vsm(&alice, &["server", "logs", "shop", &name, "--tail", "5"]).ok();
    m.vsm(&alice, &["server", "mark", "shop", &name, "--comment", "disk noise"]).ok();
    m.vsm(&alice, &["server", "unmark", "shop", &name]).ok();

    // scale out and in (bounds: web is 1..=6)
    m.vsm(&alice, &["unit", "scale", "shop", "web", "--count", "3"]).ok();
    assert_eq!(servers(&m.vsm(&alice, &["unit", "show", "shop"]).ok().json()).len(), 5);
    m.vsm(&alice, &["unit", "scale", "shop", "web", "--count", "7"]).code(64);
    m.vsm(&alice, &["unit", "scale", "shop", "web", "--count", "2"]).ok();
    m.vsm(&alice, &["unit", "scale", "shop", "nosuchgroup", "--count", "2"]).code(64);

    // a changed definition, rolled out one server at a time; then rollback
    let v2 = m.path("shop-v2");
    copy_dir(&workspace_root().join("examples/definitions/shop"), &v2);
    let manifest = v2.join("vsm-definition.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}# release 2\n")).unwrap();
    let v2s = v2.to_string_lossy().into_owned();
    let diff = m.vsm(&alice, &["unit", "diff", "shop", &v2s]).ok().json();
    assert!(diff.to_string().contains("vsm-definition.yaml"), "{diff}");
    assert_eq!(m.vsm(&alice, &["unit", "import", "shop", &v2s]).ok().json()["version"], 2);
    m.vsm(&alice, &["unit", "apply", "shop", "--batch", "1"]).ok();
    m.vsm(&alice, &["unit", "rollback", "shop"]).ok();

    // operations
    let ops = m.vsm(&alice, &["op", "list", "--unit", "shop"]).ok().json();
    let first = ops[0]["id"].as_u64().unwrap().to_string();
    m.vsm(&alice, &["op", "show", &first]).ok();
    m.vsm(&alice, &["op", "show", "999999"]).code(64);

    // JP1/PFM export of the running servers
    let pfm = m.path("pfm.txt").to_string_lossy().into_owned();
    m.vsm(&alice, &["jp1", "pfm-export", "--out", &pfm]).ok();

    // stop and delete
    m.vsm(&alice, &["unit", "stop", "shop"]).ok();
    m.vsm(&alice, &["unit", "delete", "shop"]).ok();
    m.vsm(&alice, &["unit", "show", "shop"]).code(64);
}

#[test]
fn refusals_invalid_file_unknown_unit_other_owner_busy() {
    let (m, alice) = shop();

    // an invalid unit file: 65, naming the file and the line
    let bad = m.path("bad.yaml");
    std::fs::write(&bad, "format: 1\ngroups:\n  - name: web\n    template: appserver\n    cuont: 2\n").unwrap();
    let bad_s = bad.to_string_lossy().into_owned();
    let out = m.vsm(&alice, &["unit", "create", "bad", "--file", &bad_s]);
    out.code(65);
    let err = out.error();
    let details = err["details"].to_string();
    assert!(details.contains("bad.yaml") && details.contains('5'), "{out}");
    // a missing unit file: 64
    m.vsm(&alice, &["unit", "create", "bad", "--file", "/nonexistent/unit.yaml"]).code(64);

    // unknown unit: 64
    m.vsm(&alice, &["unit", "show", "nosuchunit"]).code(64);
    m.vsm(&alice, &["unit", "start", "nosuchunit"]).code(64);

    // another builder's unit: 77; the administrator may act on it and give it away
    let bob = m.add_account("bob", "builder");
    m.vsm(&bob, &["unit", "show", "shop"]).code(77);
    m.vsm(&bob, &["unit", "start", "shop"]).code(77);
    let mine = m.vsm(&bob, &["unit", "list"]).ok().json();
    assert_eq!(mine.as_array().map(Vec::len), Some(0), "{mine}");
    m.vsm(&bob, &["unit", "list", "--all"]).code(77);
    let all = m.vsm(&m.admin, &["unit", "list", "--all"]).ok().json();
    assert_eq!(all[0]["owner"], "alice", "{all}");
    m.vsm(&bob, &["unit", "chown", "shop", "--to", "bob"]).code(77);
    // deleting an account that owns units is refused
    m.vsm(&m.admin, &["account", "delete", "alice"]).code(64);

    // a busy unit: 2; with --wait the second command waits for the lock
    m.vsm(&alice, &["unit", "import", "shop", &example("examples/definitions/shop")]).ok();
    let long = m.vsm(&alice, &["unit", "apply", "shop", "--batch", "1", "--pause", "3", "--no-wait"]);
    let id = long.ok().json()["id"].as_u64().unwrap().to_string();
    let busy = m.vsm(&alice, &["unit", "start", "shop"]);
    busy.code(2);
    assert_eq!(busy.error()["operation"].as_u64().map(|o| o.to_string()), Some(id.clone()));
    m.vsm(&alice, &["unit", "start", "shop", "--wait", "300", "--timeout", "300"]).ok();
    m.vsm(&alice, &["op", "wait", &id]).ok();

    // the administrator acts on alice's unit, then gives it to bob
    m.vsm(&m.admin, &["unit", "stop", "shop"]).ok();
    m.vsm(&m.admin, &["unit", "chown", "shop", "--to", "bob"]).ok();
    m.vsm(&bob, &["unit", "show", "shop"]).ok();
    m.vsm(&alice, &["unit", "show", "shop"]).code(77);
}

#[test]
fn timeouts_exit_75_and_leave_the_operation_running() {
    let (m, alice) = shop();
    m.vsm(&alice, &["unit", "import", "shop", &example("examples/definitions/shop")]).ok();
    let out = m.vsm(&alice, &["unit", "apply", "shop", "--batch", "1", "--pause", "3", "--timeout", "1"]);
    out.code(75);
    let err = out.error();
    let id = err["operation"].as_u64().expect("operation id in the time-out error");
    m.vsm(&alice, &["op", "wait", &id.to_string(), "--timeout", "300"]).ok();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
