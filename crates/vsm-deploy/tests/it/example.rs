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

    // Owner-only: directories 0700, stored contents and versions 0400 (definitions may hold
    // secrets).
    use std::os::unix::fs::PermissionsExt;
    let mut seen = 0;
    let mut stack = vec![store_dir.path.as_std_path().to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).expect("metadata");
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
            for e in std::fs::read_dir(&p).expect("read dir") {
                stack.push(e.expect("entry").path());
            }
        } else {
            assert_eq!(mode, 0o400, "{}", p.display());
            seen += 1;
        }
    }
    assert!(seen > 2, "blobs and a version in the store");
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

/// Kills and reaps the server process when the test ends, also on failure.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vsm-appserver`, beside this test binary (a workspace test run builds it); built here with
/// `cargo build -p vsm-hypervisor --bin vsm-appserver` when missing, so the test never skips.
fn appserver_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("vsm-appserver");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "vsm-hypervisor", "--bin", "vsm-appserver"])
            .status()
            .expect("run cargo");
        assert!(status.success(), "building vsm-appserver failed");
    }
    bin
}

fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// The whole promise of the example: a server of the example template, started, becomes healthy
/// on the manifest's health URL once the apply is done, and serves the definition's content.
#[tokio::test]
async fn example_is_served_by_vsm_appserver() {
    let bin = appserver_binary();
    let dir = example_dir();
    let (store_dir, servers) = (tmp(), tmp());
    let store = SnapshotStore::open(&store_dir.path).expect("open store");
    let def = store
        .import(&dir, &ScanLimits::default())
        .expect("import")
        .definition;
    // A loopback address of its own, so the manifest's port 8080 is free.
    let pid = std::process::id();
    let address = format!("127.77.{}.{}", (pid >> 8) % 250 + 1, pid % 250 + 1);
    let root = servers.path.join("web-1");
    std::fs::create_dir_all(&root).expect("mkdir");
    let child = std::process::Command::new(&bin)
        .current_dir(&root)
        .env("VSM_ADDRESS", &address)
        .env("VSM_SERVER", "web-1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start vsm-appserver");
    let _running = Running(child);
    let http = format!("{address}:8080");
    // Not deployed yet: up, but unhealthy.
    let mut before = String::new();
    for _ in 0..100 {
        if std::net::TcpStream::connect(&http).is_ok() {
            before = http_get(&http, "/healthz").0;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(before.contains(" 503"), "before the apply: {before:?}");

    let group = GroupName::new("web").unwrap();
    let plan = GroupPlan::new(&store, &def, &group).expect("plan");
    let mut members = members();
    members.insert(group.clone(), vec![ServerAddress::new(&address).unwrap()]);
    let ctx = ServerContext {
        unit: UnitName::new("shop").unwrap(),
        group,
        server: ServerName::new("web-1").unwrap(),
        address: ServerAddress::new(&address).unwrap(),
        index: 1,
        members,
    };
    let jobs = [ServerJob {
        server: ctx.server.clone(),
        address: Some(ctx.address.clone()),
        transport: Arc::new(LocalTransport::new(root.clone()).with_fsync(false)),
        desired: Arc::new(plan.for_server(&ctx).expect("render")),
        previous: None,
    }];
    let opts = BatchOptions {
        concurrency: 1,
        health_check: true,
    };
    let report = apply_batch(&jobs, &opts, no_progress()).await;
    if let Some((s, e)) = report.failures().next() {
        panic!("{s}: {}", vsm_deploy::batch::error_chain(e));
    }
    assert_eq!(report.outcome(), Outcome::AllDone);

    let (status, body) = http_get(&http, "/healthz");
    assert!(status.contains(" 200"), "{status}");
    assert_eq!(body, "ok\n");
    let (status, body) = http_get(&http, "/");
    assert!(status.contains(" 200"), "{status}");
    assert_eq!(body, file(&dir, "web/site/index.html"));
    let (status, body) = http_get(&http, "/server.html");
    assert!(status.contains(" 200"), "{status}");
    assert!(
        body.contains(&format!("<span id=\"address\">{address}</span>")),
        "{body}"
    );
}
