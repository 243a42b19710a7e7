//! The example definition directory `examples/definitions/shop` (documented in
//! docs/definition-format.md): it must validate, import, match the example unit's groups, and
//! apply to local server roots the way the example template's `vsm-appserver` needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{GroupName, ServerAddress, ServerName, UnitName, UpdateScope};
use vsm_deploy::{
    BatchOptions, GroupPlan, HealthProbe, LocalTransport, Outcome, ScanLimits, ServerContext,
    ServerJob, SnapshotStore, apply_batch, no_progress, scan,
};

use crate::fixtures::{read_tree, tmp};

fn workspace() -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example_dir() -> Utf8PathBuf {
    workspace().join("examples/definitions/shop")
}

/// The group names of `examples/units/shop.yaml`, in file order.
fn unit_groups() -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("examples/units/shop.yaml"))
        .expect("read examples/units/shop.yaml");
    let unit: serde_yaml::Value = serde_yaml::from_str(&text).expect("unit file parses");
    unit["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .map(|g| g["name"].as_str().expect("group name").to_owned())
        .collect()
}

#[test]
fn example_validates_imports_and_matches_the_unit() {
    let dir = example_dir();
    let scanned = scan(&dir, &ScanLimits::default())
        .unwrap_or_else(|e| panic!("examples/definitions/shop is not valid:\n{e}"));
    let mut groups: Vec<String> = scanned
        .definition
        .manifest
        .groups
        .iter()
        .map(|g| g.name.to_string())
        .collect();
    let mut expected = unit_groups();
    groups.sort();
    expected.sort();
    assert_eq!(
        groups, expected,
        "one definition group per group of the unit"
    );
    for g in &scanned.definition.manifest.groups {
        let health = g.health.as_ref().expect("every group has a health check");
        assert_eq!(
            health.probe,
            HealthProbe::Http {
                port: 8080,
                path: "/healthz".into(),
                status: 200
            },
            "group {}: the example template's vsm-appserver answers /healthz on 8080",
            g.name
        );
    }

    let store_dir = tmp();
    let store = SnapshotStore::open(&store_dir.path).expect("open store");
    let first = store
        .import(&dir, &ScanLimits::default())
        .expect("example imports");
    assert!(first.new_version);
    let again = store
        .import(&dir, &ScanLimits::default())
        .expect("example imports again");
    assert_eq!(again.definition.id, first.definition.id);
    assert_eq!((again.new_version, again.new_blobs), (false, 0));
}

const ADDRESSES: [(&str, &str, &str); 4] = [
    ("app", "app-1", "127.1.0.1"),
    ("app", "app-2", "127.1.0.2"),
    ("web", "web-1", "127.1.0.3"),
    ("web", "web-2", "127.1.0.4"),
];

fn members() -> BTreeMap<GroupName, Vec<ServerAddress>> {
    let mut m: BTreeMap<GroupName, Vec<ServerAddress>> = BTreeMap::new();
    for (g, _, a) in ADDRESSES {
        m.entry(GroupName::new(g).unwrap())
            .or_default()
            .push(ServerAddress::new(a).unwrap());
    }
    m
}

fn file(root: &Utf8Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{root}/{rel}: {e}"))
}

#[tokio::test]
async fn example_applies_to_local_roots() {
    let dir = example_dir();
    let (store_dir, servers) = (tmp(), tmp());
    let store = SnapshotStore::open(&store_dir.path).expect("open store");
    let def = store
        .import(&dir, &ScanLimits::default())
        .expect("import")
        .definition;
    let mut jobs = Vec::new();
    let mut plans: BTreeMap<&str, GroupPlan> = BTreeMap::new();
    for (i, (group, server, address)) in ADDRESSES.into_iter().enumerate() {
        let plan = match plans.get(group) {
            Some(p) => p,
            None => {
                let p =
                    GroupPlan::new(&store, &def, &GroupName::new(group).unwrap()).expect("plan");
                plans.entry(group).or_insert(p)
            }
        };
        let ctx = ServerContext {
            unit: UnitName::new("shop").unwrap(),
            group: GroupName::new(group).unwrap(),
            server: ServerName::new(server).unwrap(),
            address: ServerAddress::new(address).unwrap(),
            index: i % 2 + 1,
            members: members(),
        };
        let root = servers.path.join(server);
        // A server root cloned from examples/templates/appserver holds etc/appserver.txt.
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::write(root.join("etc/appserver.txt"), "from the template\n").expect("write");
        jobs.push(ServerJob {
            server: ctx.server.clone(),
            address: None,
            transport: Arc::new(LocalTransport::new(root).with_fsync(false)),
            desired: Arc::new(plan.for_server(&ctx).expect("render")),
            previous: None,
        });
    }
    let opts = BatchOptions {
        concurrency: 2,
        health_check: false,
    };
    let report = apply_batch(&jobs, &opts, no_progress()).await;
    if let Some((s, e)) = report.failures().next() {
        panic!("{s}: {}", vsm_deploy::batch::error_chain(e));
    }
    assert_eq!(report.outcome(), Outcome::AllDone);
    for r in &report.results {
        let applied = r.result.as_ref().expect("applied");
        assert_eq!(applied.scope, UpdateScope::All, "{}", r.server);
        assert!(applied.activated, "{}: bin/activate.sh ran", r.server);
    }

    for (group, server, address) in ADDRESSES {
        let root = servers.path.join(server);
        // `/` of vsm-appserver: the group's index.html, exactly as in the directory.
        assert_eq!(
            file(&root, "app/index.html"),
            file(&dir, &format!("{group}/site/index.html")),
            "{server}"
        );
        // `/server.html`: rendered for this server.
        let page = file(&root, "app/server.html");
        for needle in [
            format!("<span id=\"server\">{server}</span>"),
            format!("<span id=\"address\">{address}</span>"),
            format!("<span id=\"group\">{group}</span>"),
            "<span id=\"unit\">shop</span>".to_owned(),
            "<span id=\"release\">1</span>".to_owned(),
            "<h1>vsm example shop: ".to_owned(),
        ] {
            assert!(page.contains(&needle), "{server}: {needle} in\n{page}");
        }
        assert!(
            !page.contains("{{"),
            "{server}: unrendered placeholder in\n{page}"
        );
        // The template's own files stay.
        assert_eq!(file(&root, "etc/appserver.txt"), "from the template\n");
        let tree = read_tree(&root);
        assert_eq!(tree["bin/activate.sh"].1, 0o755, "{server}");
        assert!(
            !tree.contains_key("README.md"),
            "{server}: README.md is not deployed"
        );
    }
    let app1 = servers.path.join("app-1");
    assert_eq!(
        file(&app1, "etc/shop/app.conf"),
        "# Settings of the shop application on app-1 (rendered by vsm).\nlisten = 127.1.0.1:8080\nunit = shop\nrelease = 1\n# every application server of the unit, for session replication\npeers = 127.1.0.1,127.1.0.2\n"
    );
    assert_eq!(read_tree(&app1)["etc/shop/app.conf"].1, 0o600);
    assert_eq!(
        file(&app1, "app/api/catalog.json"),
        file(&dir, "packages/catalog/catalog.json")
    );
    let web2 = servers.path.join("web-2");
    assert_eq!(
        file(&web2, "etc/shop/upstream.conf"),
        "# The web front end web-2 forwards to these application servers (rendered by vsm).\nupstream = 127.1.0.1,127.1.0.2\nupstream_count = 2\n"
    );
    assert!(web2.join("app/shop.css").exists());
    assert!(
        !web2.join("app/api").exists(),
        "the catalog goes to app servers only"
    );

    // Re-applying the same version sends nothing and does not activate again.
    let again = apply_batch(&jobs, &opts, no_progress()).await;
    for r in &again.results {
        let a = r.result.as_ref().expect("re-applied");
        assert_eq!(
            (a.scope, a.written, a.activated),
            (UpdateScope::None, 0, false)
        );
    }
}
