//! Registered groups through the ssh transport: existing machines listed in the unit file or
//! attached later, reached over SSH (a throwaway `sshd` on loopback logged into as the current
//! user), driven by the group's commands: create, `group attach`/`detach`, apply, start/stop.
//!
//! The group's commands keep a marker file per machine in a directory of the test, so the test
//! sees what really ran on the machines.

use serde_json::Value;
use vsm_hypervisor::testing::sshd::TestSshd;
use vsm_tests::{Manager, User};

/// The servers of group `group` in a `unit show` answer.
fn group_servers(unit: &Value, group: &str) -> Vec<Value> {
    unit["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["name"] == group)
        .flat_map(|g| g["servers"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Names of the marker files (machines whose application server runs).
fn running(marks: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(marks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A unit `reg` with the registered group `db` (machine db1 at 127.0.0.1 over the test sshd).
fn registered_unit(m: &Manager, sshd: &TestSshd) -> (User, std::path::PathBuf) {
    let alice = m.add_account("alice", "builder");
    let marks = m.path("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let marks_s = marks.to_string_lossy().into_owned();
    let unit_file = m.write(
        "reg.yaml",
        &format!(
            "format: 1\n\
             groups:\n\
             \x20 - name: db\n\
             \x20   start_order: 1\n\
             \x20   registered:\n\
             \x20     - {{ name: db1, address: 127.0.0.1 }}\n\
             \x20   ssh: {{ user: {user}, identity: {identity}, port: {port} }}\n\
             \x20   commands:\n\
             \x20     start: \"touch {marks}/{{machine}}\"\n\
             \x20     stop: \"rm -f {marks}/{{machine}}\"\n\
             \x20     status: \"test -f {marks}/{{machine}}\"\n\
             \x20   root: \"{roots}/{{machine}}\"\n",
            user = sshd.user(),
            identity = sshd.identity(),
            port = sshd.port(),
            marks = marks_s,
            roots = m.path("roots").to_string_lossy(),
        ),
    );
    let created = m.vsm(&alice, &["unit", "create", "reg", "--file", &unit_file]);
    let unit = created.ok().json();
    let db = group_servers(&unit, "db");
    assert_eq!(db.len(), 1, "{unit}");
    assert_eq!(db[0]["name"], "db1", "{unit}");
    (alice, marks)
}

#[test]
fn registered_groups_attach_apply_start_stop_detach_over_ssh() {
    let sshd =
        TestSshd::start().expect("a test sshd on loopback (`cargo xtask deps` installs sshd)");
    let m = Manager::start();
    let (alice, marks) = registered_unit(&m, &sshd);

    // attach a second machine (checked reachable over SSH); a machine that does not answer is
    // refused and changes nothing
    let op = m
        .vsm(
            &alice,
            &[
                "group",
                "attach",
                "reg",
                "db",
                "--address",
                "localhost",
                "--name",
                "db2",
            ],
        )
        .ok()
        .json();
    assert_eq!(op["state"], "succeeded", "{op}");
    let unit = m.vsm(&alice, &["unit", "show", "reg"]).ok().json();
    assert_eq!(group_servers(&unit, "db").len(), 2, "{unit}");
    let refused = m.vsm(
        &alice,
        &[
            "group",
            "attach",
            "reg",
            "db",
            "--address",
            "127.0.0.3",
            "--name",
            "db3",
        ],
    );
    refused.code(70);
    let unit = m.vsm(&alice, &["unit", "show", "reg"]).ok().json();
    assert_eq!(group_servers(&unit, "db").len(), 2, "{refused}\n{unit}");

    // apply a definition directory to the registered group
    m.write(
        "defs/vsm-definition.yaml",
        "format: 1\ngroups:\n  - name: db\n    files:\n      - { source: db.conf, target: etc/db.conf }\n",
    );
    m.write("defs/db.conf", "max_connections=10\n");
    let defs = m.path("defs").to_string_lossy().into_owned();
    m.vsm(&alice, &["unit", "import", "reg", &defs]).ok();
    let op = m.vsm(&alice, &["unit", "apply", "reg"]).ok().json();
    assert_eq!(op["state"], "succeeded", "{op}");
    // each machine received the file in its own root (`root: .../{machine}`)
    for machine in ["reg--db1", "reg--db2"] {
        let file = m.path("roots").join(machine).join("etc/db.conf");
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(text, "max_connections=10\n", "{}: {op}", file.display());
    }
    let unit = m.vsm(&alice, &["unit", "show", "reg"]).ok().json();
    for s in group_servers(&unit, "db") {
        assert_eq!(s["applied_version"], 1, "{unit}");
    }

    // group start / stop run the group's commands on every machine over SSH
    let op = m.vsm(&alice, &["group", "start", "reg", "db"]).ok().json();
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(running(&marks).len(), 2, "{op}");
    let unit = m.vsm(&alice, &["unit", "show", "reg"]).ok().json();
    for s in group_servers(&unit, "db") {
        assert_eq!(s["logical"], "working", "{unit}");
    }
    m.vsm(&alice, &["group", "stop", "reg", "db"]).ok();
    assert_eq!(running(&marks), Vec::<String>::new());

    // the whole unit
    m.vsm(&alice, &["unit", "start", "reg"]).ok();
    assert_eq!(running(&marks).len(), 2);
    m.vsm(&alice, &["unit", "stop", "reg"]).ok();
    assert_eq!(running(&marks), Vec::<String>::new());

    // detach: the server leaves the unit, the machine itself is untouched
    let op = m
        .vsm(&alice, &["group", "detach", "reg", "db", "db2"])
        .ok()
        .json();
    assert_eq!(op["state"], "succeeded", "{op}");
    let unit = m.vsm(&alice, &["unit", "show", "reg"]).ok().json();
    let db = group_servers(&unit, "db");
    assert_eq!(db.len(), 1, "{unit}");
    assert_eq!(db[0]["name"], "db1", "{unit}");
    m.vsm(&alice, &["group", "detach", "reg", "db", "db2"])
        .code(64);
    // registered groups are not scaled by count
    m.vsm(&alice, &["unit", "scale", "reg", "db", "--count", "3"])
        .code(64);
    // the host keys went to the manager's own known-hosts file, not to ~/.ssh
    // (hashed or plain, one line per name the machines were reached by)
    let known = std::fs::read_to_string(m.dir.join("ssh_known_hosts")).unwrap_or_default();
    let host_key = std::fs::read_to_string(sshd.dir().join("host_ed25519.pub")).unwrap_or_default();
    let host_key = host_key.split_whitespace().nth(1).unwrap_or("no host key");
    assert!(known.contains(host_key), "{known}");
}
