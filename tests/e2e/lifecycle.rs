//! The rest of a unit's life on the local driver: a patched template (new generation) rolled
//! onto the servers (`unit upgrade`, in place and with surge), a server recovered, old
//! definition versions exported, and the template refused deletion while a unit uses it.

use serde_json::Value;
use vsm_tests::Manager;

/// Every server of a `unit show` answer.
fn servers(unit: &Value) -> Vec<Value> {
    unit["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["servers"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn template_generations_upgrade_recover_and_export() {
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    let tpl = m.sleep_template("template-g1");
    m.vsm(
        &alice,
        &[
            "template", "register", "t", "--driver", "local", "--source", &tpl,
        ],
    )
    .ok();
    let unit_file = m.write(
        "life.yaml",
        "format: 1\ngroups:\n  - name: app\n    template: t\n    count: 2\n    min: 1\n    max: 4\n",
    );
    m.vsm(&alice, &["unit", "create", "life", "--file", &unit_file])
        .ok();
    m.write(
        "defs/vsm-definition.yaml",
        "format: 1\ngroups:\n  - name: app\n    files:\n      - { source: app.conf, target: etc/app.conf }\n",
    );
    m.write("defs/app.conf", "release=1\n");
    let defs = m.path("defs").to_string_lossy().into_owned();
    m.vsm(&alice, &["unit", "import", "life", &defs]).ok();
    m.write("defs/app.conf", "release=2\n");
    m.vsm(&alice, &["unit", "import", "life", &defs]).ok();
    m.vsm(&alice, &["unit", "apply", "life"]).ok();
    m.vsm(&alice, &["unit", "start", "life"]).ok();

    // export an older version
    let out = m.path("v1");
    let out_s = out.to_string_lossy().into_owned();
    let exported = m
        .vsm(
            &alice,
            &["unit", "export", "life", &out_s, "--version", "1"],
        )
        .ok()
        .json();
    assert_eq!(exported["files"], 2, "{exported}");
    assert_eq!(
        std::fs::read_to_string(out.join("app.conf")).unwrap(),
        "release=1\n"
    );
    // into a directory that is not empty: refused
    m.vsm(&alice, &["unit", "export", "life", &out_s]).code(64);

    // a patched template: generation 2, rolled out in place one server at a time
    let tpl2 = m.sleep_template("template-g2");
    let updated = m
        .vsm(&alice, &["template", "update", "t", "--source", &tpl2])
        .ok()
        .json();
    assert_eq!(updated["latest"], 2, "{updated}");
    let op = m
        .vsm(&alice, &["unit", "upgrade", "life", "--batch", "1"])
        .ok()
        .json();
    assert_eq!(op["state"], "succeeded", "{op}");
    let unit = m.vsm(&alice, &["unit", "show", "life"]).ok().json();
    let all = servers(&unit);
    assert_eq!(all.len(), 2, "{unit}");
    for s in &all {
        assert_eq!(s["generation"], 2, "{unit}");
        assert_eq!(s["logical"], "working", "{unit}");
        assert_eq!(s["applied_version"], 2, "{unit}");
    }

    // generation 3 with surge: new servers first, then the old ones go; the count stays
    let tpl3 = m.sleep_template("template-g3");
    m.vsm(&alice, &["template", "update", "t", "--source", &tpl3])
        .ok();
    let op = m
        .vsm(&alice, &["unit", "upgrade", "life", "--surge", "1"])
        .ok()
        .json();
    assert_eq!(op["state"], "succeeded", "{op}");
    let unit = m.vsm(&alice, &["unit", "show", "life"]).ok().json();
    let all = servers(&unit);
    assert_eq!(all.len(), 2, "{unit}");
    for s in &all {
        assert_eq!(s["generation"], 3, "{unit}");
    }

    // recover a server by hand
    let name = all[0]["name"].as_str().unwrap().to_owned();
    let op = m
        .vsm(&alice, &["server", "recover", "life", &name])
        .ok()
        .json();
    assert_eq!(op["kind"], "recover", "{op}");
    m.vsm(&alice, &["server", "recover", "life", "nosuchserver"])
        .code(64);

    // a template in use cannot be deleted; once the unit is gone it can
    m.vsm(&alice, &["template", "delete", "t"]).code(64);
    m.vsm(&alice, &["unit", "stop", "life"]).ok();
    m.vsm(&alice, &["unit", "delete", "life"]).ok();
    m.vsm(&alice, &["template", "delete", "t"]).ok();
    let list = m.vsm(&alice, &["template", "list"]).ok().json();
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
}
