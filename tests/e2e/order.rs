//! Servers are listed in natural order (`web-2` before `web-10`) in `unit show`, both in the
//! JSON and in the table.

use vsm_tests::{Manager, redact};

use crate::crash::servers;

#[test]
fn unit_show_lists_servers_in_natural_order() {
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    m.sleeper_unit(&alice, "u", "format: 1\ngroups:\n  - name: web\n    template: t\n    count: 11\n    min: 1\n    max: 12\n  - name: db\n    template: t\n    count: 2\n    min: 1\n    max: 2\n    start_order: 1\n");
    let op = m
        .vsm(&alice, &["unit", "start", "u", "--timeout", "120"])
        .ok()
        .json();
    assert_eq!(op["state"], "succeeded", "{op}");

    let unit = m.vsm(&alice, &["unit", "show", "u"]).ok().json();
    let names: Vec<String> = servers(&unit)
        .iter()
        .map(|s| s["name"].as_str().expect("a name").to_owned())
        .collect();
    let mut want: Vec<String> = (1..=2).map(|i| format!("db-{i}")).collect();
    want.extend((1..=11).map(|i| format!("web-{i}")));
    // Groups in the unit file's order or start order; servers within each by number.
    let mut got = names.clone();
    got.sort_by_key(|n| !n.starts_with("db"));
    assert_eq!(got, want, "{unit}");
    for g in unit["groups"].as_array().expect("groups") {
        let in_group: Vec<&str> = g["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .map(|s| s["name"].as_str().expect("a name"))
            .collect();
        let mut sorted = in_group.clone();
        sorted.sort_by_key(|n| {
            n.rsplit_once('-')
                .and_then(|(_, k)| k.parse::<u32>().ok())
                .unwrap_or(0)
        });
        assert_eq!(in_group, sorted, "servers of {} out of order", g["name"]);
    }

    let table = m
        .vsm(&alice, &["unit", "show", "u", "--output", "table"])
        .ok()
        .stdout
        .clone();
    // The server column of the table, in the order printed.
    let column: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("SERVER"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    insta::assert_snapshot!(
        "unit_show_server_order",
        redact(&column.join("\n"), m.root.path())
    );
    m.vsm(&alice, &["unit", "stop", "u", "--timeout", "60"])
        .ok();
}
