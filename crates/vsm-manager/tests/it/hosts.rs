//! The host pool through the public `Manager` API: the built-in fake host `local` plus fake
//! hosts added through a `FakeHosts` factory; placement of new servers (spread, hard
//! anti-affinity, label selectors, full pools), host removal, persistence across a reopen,
//! legacy host records, `add_host`'s refusals and placement epochs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use vsm_core::ServerName;
use vsm_hypervisor::fake::{FAKE_SIZE, FakeHypervisor};
use vsm_hypervisor::{Hypervisor, Operation, PowerState};
use vsm_manager::store::{Change, SqliteStore, Store};
use vsm_manager::testing::FakeHosts;
use vsm_manager::*;

use crate::pool_support::{Pool, host, machine, pool_drivers};
use crate::support::{name, servers_of};

/// What one fake server takes of its host, as placement counts it.
const SIZE: vsm_core::Usage = vsm_core::Usage {
    vcpus: FAKE_SIZE.vcpus as u64,
    memory_mib: FAKE_SIZE.memory_mib,
};

/// What `hosts.rs` asks of a [`Pool`] beyond the shared harness.
impl Pool {
    /// Shuts the manager down and opens the same state dir again with the factory `hosts`
    /// (the built-in host keeps its fake).
    async fn reopen(self, hosts: FakeHosts) -> Pool {
        self.reopen_on(Arc::new(hosts)).await
    }

    /// Like [`Pool::reopen`], with the same factory (added hosts keep their machines).
    async fn reopen_same(self) -> Pool {
        let hosts = self.hosts.clone();
        self.reopen_on(hosts).await
    }

    async fn reopen_on(self, hosts: Arc<FakeHosts>) -> Pool {
        let Pool { base, local, .. } = self;
        let base = base.reopen(pool_drivers(&local, &hosts)).await;
        Pool { base, local, hosts }
    }

    /// Shuts the manager down and opens its store (for what the API does not show); the
    /// manager is gone afterwards.
    async fn close_into_store(self) -> (SqliteStore, Pool) {
        self.manager.shutdown(Duration::from_secs(5)).await;
        let store = SqliteStore::open(&self.root.join("state").join(DB_FILE)).expect("store");
        (store, self)
    }

    /// The machines the fake behind host `name` holds, by name.
    async fn machines_on(&self, name: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .fake(name)
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|m| m.name.to_string())
            .collect();
        names.sort();
        names
    }

    async fn host_names(&self) -> Vec<String> {
        self.manager
            .list_hosts(&self.admin)
            .await
            .expect("list hosts")
            .into_iter()
            .map(|h| h.host.name().to_string())
            .collect()
    }
}

/// The `vsm.epoch` label of `server`'s machine on `fake`.
async fn epoch_label(fake: &FakeHypervisor, unit: &str, server: &str) -> String {
    fake.info(&machine(unit, server))
        .await
        .expect("machine info")
        .labels
        .get("vsm.epoch")
        .cloned()
        .unwrap_or_else(|| panic!("machine of {server} has no vsm.epoch label"))
}

/// One `web` group of `count` servers (between `min` 1 and `max` 6) with the extra group
/// settings `extra` (indented for the group), and the top-level lines `top`.
fn web_unit(count: u32, extra: &str, top: &str) -> String {
    format!(
        "format: 1\n{top}groups:\n  - name: web\n    template: tpl\n    count: {count}\n    min: 1\n    max: 6\n{extra}"
    )
}

const HARD: &str = "    placement:\n      anti_affinity: hard\n";

// ------------------------------------------------------------------ placement

#[tokio::test]
async fn hard_anti_affinity_spreads_a_group_over_every_host() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[("zone", "a")], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(3, HARD, ""), &["web"]).await;
    pool.start(&unit).await;

    let placed = pool.placement(&unit).await;
    assert_eq!(
        placed.keys().cloned().collect::<Vec<_>>(),
        ["web-1", "web-2", "web-3"]
    );
    let on: BTreeSet<&str> = placed.values().map(String::as_str).collect();
    assert_eq!(
        on,
        BTreeSet::from(["h1", "h2", "local"]),
        "three servers on three distinct hosts: {placed:?}"
    );
    for (server, h) in &placed {
        // The host's driver holds exactly the machine of the server placed on it, running,
        // with its first epoch.
        assert_eq!(
            pool.machines_on(h).await,
            [machine("shop", server).to_string()],
            "machines on {h}"
        );
        let fake = pool.fake(h);
        assert_eq!(
            fake.state(&machine("shop", server)).await.expect("state"),
            PowerState::Running
        );
        assert_eq!(epoch_label(&fake, "shop", server).await, "1");
        // What the manager says about the host.
        let info = pool
            .manager
            .show_host(&pool.admin, &host(h))
            .await
            .expect("show host");
        assert!(info.connected, "{info:?}");
        assert_eq!(info.servers, 1, "{info:?}");
        assert_eq!(info.used, SIZE, "{info:?}");
        assert_eq!(info.placed.len(), 1, "{info:?}");
        let p = &info.placed[0];
        assert_eq!(
            (p.unit.as_str(), p.group.as_str(), p.server.as_str()),
            ("shop", "web", server.as_str())
        );
        assert_eq!(
            p.size,
            vsm_core::Resources::new(FAKE_SIZE.vcpus, FAKE_SIZE.memory_mib)
        );
    }
    // The definitions reached the server on an added host too.
    let h1_server = placed
        .iter()
        .find(|(_, h)| h.as_str() == "h1")
        .map(|(s, _)| s.clone())
        .expect("a server on h1");
    let file = pool
        .root
        .join("hosts/h1/machines")
        .join(machine("shop", &h1_server).as_str())
        .join("www/index.html");
    assert_eq!(std::fs::read_to_string(&file).expect("applied file"), "v1");

    // The list shows every host with its usage; labels include only the administrator's.
    let list = pool.manager.list_hosts(&pool.admin).await.expect("list");
    assert_eq!(list.len(), 3, "{list:?}");
    for info in &list {
        assert!(info.connected, "{info:?}");
        assert_eq!(info.servers, 1, "{info:?}");
        assert!(
            info.placed.is_empty(),
            "only `show` lists servers: {info:?}"
        );
        assert_eq!(info.host.builtin, info.host.name().as_str() == "local");
    }
    let h1 = list
        .iter()
        .find(|i| i.host.name().as_str() == "h1")
        .expect("h1");
    assert_eq!(
        h1.host.labels,
        BTreeMap::from([("zone".to_owned(), "a".to_owned())])
    );
    let (cpus, mem) = vsm_hypervisor::fake::FAKE_CAPACITY;
    assert_eq!(
        h1.allocatable,
        vsm_core::Usage {
            vcpus: u64::from(cpus) * 16,
            memory_mib: mem * 3 / 2,
        }
    );
}

#[tokio::test]
async fn a_group_that_can_never_fit_is_refused_whole_with_every_hosts_reason() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4, HARD, ""), &["web"]).await;
    let err = pool
        .manager
        .start_unit(&pool.bob, &unit, OpOptions::default())
        .await
        .expect_err("four servers with hard anti-affinity on three hosts");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert_eq!(err.kind().exit_code(), 65);
    let msg = err.to_string();
    assert!(msg.contains("can never fit"), "{msg}");
    for h in ["local", "h1", "h2"] {
        assert!(
            msg.contains(&format!("\n  {h}: hard anti-affinity: already holds web-")),
            "the error names host {h} and its reason: {msg}"
        );
    }
    // Nothing was created, anywhere.
    for h in ["local", "h1", "h2"] {
        assert!(pool.machines_on(h).await.is_empty(), "machines on {h}");
        assert_eq!(pool.fake(h).call_count(Operation::Provision), 0, "{h}");
    }
    let detail = pool.show(&unit).await;
    assert!(servers_of(&detail, "web").is_empty(), "{detail:?}");
    assert_eq!(detail.busy_with, None);
    assert!(pool.manager.busy_op(&unit).is_none());
    for h in ["local", "h1", "h2"] {
        let info = pool
            .manager
            .show_host(&pool.admin, &host(h))
            .await
            .expect("show host");
        assert_eq!(info.servers, 0, "{info:?}");
    }

    // With a fourth host the same request fits.
    pool.add("h3", &[], None).await;
    pool.start(&unit).await;
    let on: BTreeSet<String> = pool.placement(&unit).await.into_values().collect();
    assert_eq!(on.len(), 4, "{on:?}");
}

#[tokio::test]
async fn a_full_pool_refuses_a_scale_out_until_a_host_is_added() {
    // 600 MiB × 1.5 = 900 MiB allocatable: one 512 MiB server per host. (700 MiB would give
    // 1050 MiB: two servers.)
    let pool = Pool::new(Some((1, 600)), FakeHosts::with_capacity(1, 600), |_| {}).await;
    let h1 = pool.add("h1", &[], None).await;
    assert_eq!(h1.allocatable.memory_mib, 900, "{h1:?}");
    let unit = pool.unit("shop", &web_unit(2, "", ""), &["web"]).await;
    pool.start(&unit).await;
    let placed = pool.placement(&unit).await;
    let on: BTreeSet<&str> = placed.values().map(String::as_str).collect();
    assert_eq!(on, BTreeSet::from(["h1", "local"]), "{placed:?}");

    let err = pool
        .scale(&unit, 3, &[])
        .await
        .expect_err("no host has room for a third server");
    assert_eq!(err.kind(), ErrorKind::Failed, "{err}");
    assert_eq!(err.kind().exit_code(), 70);
    let msg = err.to_string();
    assert!(msg.contains("the pool is full now"), "{msg}");
    for h in ["local", "h1"] {
        assert!(
            msg.contains(&format!("\n  {h}: not enough memory")),
            "the error names host {h}: {msg}"
        );
    }
    // Nothing was created.
    assert_eq!(
        servers_of(&pool.show(&unit).await, "web"),
        ["web-1", "web-2"]
    );
    for h in ["local", "h1"] {
        assert_eq!(pool.machines_on(h).await.len(), 1, "machines on {h}");
        assert_eq!(pool.fake(h).call_count(Operation::Provision), 1, "{h}");
    }
    assert!(pool.manager.busy_op(&unit).is_none());

    // A new host makes room: the same scale-out lands there.
    pool.add("h2", &[], None).await;
    let id = pool.scale(&unit, 3, &[]).await.expect("scale out");
    pool.succeeds(id).await;
    let placed = pool.placement(&unit).await;
    assert_eq!(
        placed.get("web-3").map(String::as_str),
        Some("h2"),
        "{placed:?}"
    );
    assert_eq!(
        pool.machines_on("h2").await,
        [machine("shop", "web-3").to_string()]
    );
    assert_eq!(
        pool.fake("h2")
            .state(&machine("shop", "web-3"))
            .await
            .expect("state"),
        PowerState::Running
    );
    let info = pool
        .manager
        .show_host(&pool.admin, &host("h2"))
        .await
        .expect("show h2");
    assert_eq!(info.used, SIZE);
}

#[tokio::test]
async fn a_label_selector_places_only_on_matching_hosts() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    pool.add("a1", &[("zone", "a")], None).await;
    pool.add("b1", &[("zone", "b")], None).await;
    pool.add("a2", &[("zone", "a"), ("disk", "ssd")], None)
        .await;
    let zoned = "    placement:\n      hosts: { zone: a }\n";
    let unit = pool.unit("shop", &web_unit(3, zoned, ""), &["web"]).await;
    pool.start(&unit).await;
    let placed = pool.placement(&unit).await;
    let on: BTreeSet<&str> = placed.values().map(String::as_str).collect();
    assert_eq!(
        on,
        BTreeSet::from(["a1", "a2"]),
        "only zone a, both of them (soft anti-affinity): {placed:?}"
    );
    assert!(pool.machines_on("local").await.is_empty());
    assert!(pool.machines_on("b1").await.is_empty());
    let total = pool.machines_on("a1").await.len() + pool.machines_on("a2").await.len();
    assert_eq!(total, 3);

    // A scale-out keeps to the selector.
    let id = pool.scale(&unit, 5, &[]).await.expect("scale out");
    pool.succeeds(id).await;
    let placed = pool.placement(&unit).await;
    assert!(
        placed.values().all(|h| h == "a1" || h == "a2"),
        "{placed:?}"
    );
    assert!(pool.machines_on("b1").await.is_empty());

    // A selector no host carries can never fit.
    let nowhere = "    placement:\n      hosts: { zone: c }\n";
    let other = pool
        .unit("other", &web_unit(1, nowhere, ""), &["web"])
        .await;
    let err = pool
        .manager
        .start_unit(&pool.bob, &other, OpOptions::default())
        .await
        .expect_err("no host in zone c");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    let msg = err.to_string();
    for h in ["a1", "a2", "b1", "local"] {
        assert!(
            msg.contains(&format!("\n  {h}: labels do not match hosts: {{")),
            "{h}: {msg}"
        );
    }
    assert!(servers_of(&pool.show(&other).await, "web").is_empty());
}

// ------------------------------------------------------------------ the pool itself

#[tokio::test]
async fn a_host_is_removed_only_when_empty_and_never_the_builtin_one() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(3, HARD, ""), &["web"]).await;
    pool.start(&unit).await;
    let placed = pool.placement(&unit).await;
    let on_h1 = placed
        .iter()
        .find(|(_, h)| h.as_str() == "h1")
        .map(|(s, _)| s.clone())
        .expect("a server on h1");

    let err = pool
        .manager
        .remove_host(&pool.admin, &host("h1"))
        .await
        .expect_err("h1 holds a server");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(err.to_string().contains(&format!("shop/{on_h1}")), "{err}");

    let err = pool
        .manager
        .remove_host(&pool.admin, &host("local"))
        .await
        .expect_err("the built-in host");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(err.to_string().contains("built-in"), "{err}");

    // A builder may not remove hosts.
    let err = pool
        .manager
        .remove_host(&pool.bob, &host("h2"))
        .await
        .expect_err("builder");
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");

    // An empty host goes.
    pool.add("h3", &[], None).await;
    pool.manager
        .remove_host(&pool.admin, &host("h3"))
        .await
        .expect("remove the empty h3");
    let err = pool
        .manager
        .show_host(&pool.admin, &host("h3"))
        .await
        .expect_err("h3 is gone");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(pool.host_names().await, ["h1", "h2", "local"]);
    let err = pool
        .manager
        .remove_host(&pool.admin, &host("h3"))
        .await
        .expect_err("twice");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    // Once its server is scaled away, h1 can go too.
    let id = pool
        .scale(&unit, 2, &[on_h1.as_str()])
        .await
        .expect("scale in");
    pool.succeeds(id).await;
    assert!(pool.machines_on("h1").await.is_empty());
    pool.manager
        .remove_host(&pool.admin, &host("h1"))
        .await
        .expect("remove the emptied h1");
    assert_eq!(pool.host_names().await, ["h2", "local"]);
    // The name is free again.
    pool.add("h1", &[], None).await;
    assert_eq!(pool.host_names().await, ["h1", "h2", "local"]);
}

#[tokio::test]
async fn add_host_refusals_store_nothing() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[("zone", "a")], None).await;
    let before = pool.manager.list_hosts(&pool.admin).await.expect("list");
    let names_before = pool.host_names().await;
    assert_eq!(names_before, ["h1", "local"]);

    let refuse = |req: AddHost, kind: ErrorKind, text: &'static str| {
        let pool = &pool;
        async move {
            let what = format!("{req:?}");
            let err = pool
                .manager
                .add_host(&pool.admin, req)
                .await
                .expect_err(&what);
            assert_eq!(err.kind(), kind, "{what}: {err}");
            assert!(err.to_string().contains(text), "{what}: {err}");
        }
    };

    // The connection is refused.
    pool.hosts.refuse("h9");
    refuse(
        pool.add_req("h9", &[]),
        ErrorKind::InvalidRequest,
        "cannot connect host h9",
    )
    .await;
    let err = pool
        .manager
        .show_host(&pool.admin, &host("h9"))
        .await
        .expect_err("h9 was not added");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // A driver the factory cannot connect.
    let mut req = pool.add_req("kvm-1", &[]);
    req.driver = DriverKind::Libvirt;
    req.dir = None;
    req.uri = Some("qemu+ssh://root@kvm-1/system".into());
    refuse(req, ErrorKind::InvalidRequest, "cannot connect host kvm-1").await;
    // A duplicate.
    refuse(
        pool.add_req("h1", &[("zone", "b")]),
        ErrorKind::InvalidRequest,
        "already exists",
    )
    .await;
    // The built-in hosts' names.
    for n in ["local", "libvirt", "static"] {
        refuse(pool.add_req(n, &[]), ErrorKind::InvalidRequest, "built-in").await;
    }
    // Bad requests.
    let mut req = pool.add_req("h5", &[]);
    req.dir = Some("relative/dir".into());
    refuse(req, ErrorKind::InvalidRequest, "not absolute").await;
    let mut req = pool.add_req("h5", &[]);
    req.dir = None;
    refuse(req, ErrorKind::InvalidRequest, "state directory").await;
    refuse(
        pool.add_req("h5", &[("vsm.driver", "libvirt")]),
        ErrorKind::InvalidRequest,
        "reserved",
    )
    .await;
    let mut req = pool.add_req("h5", &[]);
    req.ram_ratio = Some(0.0);
    refuse(req, ErrorKind::InvalidRequest, "ratio").await;
    // Not for builders.
    let err = pool
        .manager
        .add_host(&pool.bob, pool.add_req("h6", &[]))
        .await
        .expect_err("builder");
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(pool.hosts.host("h6").is_none(), "nothing was connected");

    // The pool is as it was.
    let after = pool.manager.list_hosts(&pool.admin).await.expect("list");
    assert_eq!(after, before);
    // ... and stays so across a reopen (nothing was stored).
    let pool = pool.reopen(FakeHosts::new()).await;
    assert_eq!(pool.host_names().await, names_before);
    let h1 = pool
        .manager
        .show_host(&pool.admin, &host("h1"))
        .await
        .expect("h1");
    assert_eq!(
        h1.host.labels.get("zone").map(String::as_str),
        Some("a"),
        "the duplicate did not overwrite h1: {h1:?}"
    );
}

#[tokio::test]
async fn hosts_and_placements_survive_a_reopen_and_a_refused_host_is_avoided() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    let mut req = pool.add_req("h1", &[("zone", "a"), ("rack", "r1")]);
    req.cpu_ratio = Some(4.0);
    req.ram_ratio = Some(1.0);
    req.reserved_memory_mb = Some(1024);
    req.fencing = Some(Fencing::None);
    pool.manager
        .add_host(&pool.admin, req)
        .await
        .expect("add h1");
    pool.add("h2", &[("zone", "b")], None).await;
    let unit = pool.unit("shop", &web_unit(3, "", ""), &["web"]).await;
    pool.start(&unit).await;
    let placed = pool.placement(&unit).await;
    let on: BTreeSet<&str> = placed.values().map(String::as_str).collect();
    assert_eq!(on, BTreeSet::from(["h1", "h2", "local"]), "{placed:?}");
    let before = pool.manager.list_hosts(&pool.admin).await.expect("list");

    // Reopened with a fresh factory: the hosts come back, connected, as recorded.
    let pool = pool.reopen(FakeHosts::new()).await;
    let after = pool.manager.list_hosts(&pool.admin).await.expect("list");
    assert_eq!(after.len(), before.len(), "{after:?}");
    for (b, a) in before.iter().zip(&after) {
        assert!(a.connected, "{a:?}");
        assert_eq!(a.host.connection, b.host.connection);
        assert_eq!(a.host.labels, b.host.labels);
        assert_eq!(a.host.ratios, b.host.ratios);
        assert_eq!(a.host.reserved_memory_mib, b.host.reserved_memory_mib);
        assert_eq!(a.host.fencing, b.host.fencing);
        assert_eq!(a.host.builtin, b.host.builtin);
        assert_eq!(a.host.created, b.host.created);
        assert_eq!(a.host.state, b.host.state);
        assert_eq!(a.host.capacity, b.host.capacity);
        assert_eq!(a.allocatable, b.allocatable);
        assert_eq!(a.used, b.used);
        assert_eq!(a.servers, 1, "{a:?}");
        assert_eq!(a.host.last_error, None, "{a:?}");
    }
    let h1 = &after[0].host;
    assert_eq!(h1.name().as_str(), "h1");
    assert_eq!(h1.ratios.cpu, 4.0);
    assert_eq!(h1.ratios.ram, 1.0);
    assert_eq!(h1.reserved_memory_mib, 1024);
    assert_eq!(h1.fencing, Fencing::None);
    assert_eq!(
        after[0].allocatable,
        vsm_core::Usage {
            vcpus: u64::from(vsm_hypervisor::fake::FAKE_CAPACITY.0) * 4,
            memory_mib: vsm_hypervisor::fake::FAKE_CAPACITY.1 - 1024,
        }
    );
    assert!(
        pool.hosts.host("h1").is_some(),
        "h1 connected through the new factory"
    );
    assert!(
        pool.hosts.host("h2").is_some(),
        "h2 connected through the new factory"
    );
    assert_eq!(
        pool.placement(&unit).await,
        placed,
        "servers keep their hosts"
    );

    // Reopened with h2 refusing connections: listed, unconnected, with the reason.
    let hosts = FakeHosts::new();
    hosts.refuse("h2");
    let pool = pool.reopen(hosts).await;
    let h2 = pool
        .manager
        .show_host(&pool.admin, &host("h2"))
        .await
        .expect("h2 is still in the pool");
    assert!(!h2.connected, "{h2:?}");
    let why = h2.host.last_error.clone().unwrap_or_default();
    assert!(why.contains("refused"), "{h2:?}");
    assert_eq!(h2.servers, 1, "its server is still counted there: {h2:?}");
    let on_h2 = placed
        .iter()
        .find(|(_, h)| h.as_str() == "h2")
        .map(|(s, _)| s.as_str())
        .expect("a server on h2");
    assert_eq!(h2.placed.len(), 1);
    assert_eq!(h2.placed[0].server.as_str(), on_h2);
    let listed = pool.manager.list_hosts(&pool.admin).await.expect("list");
    let connected: BTreeMap<String, bool> = listed
        .iter()
        .map(|i| (i.host.name().to_string(), i.connected))
        .collect();
    assert_eq!(
        connected,
        BTreeMap::from([
            ("h1".to_owned(), true),
            ("h2".to_owned(), false),
            ("local".to_owned(), true),
        ])
    );
    assert_eq!(pool.placement(&unit).await, placed);

    // New servers avoid it.
    let id = pool.scale(&unit, 5, &[]).await.expect("scale out");
    pool.succeeds(id).await;
    let now = pool.placement(&unit).await;
    let new_hosts: BTreeSet<&str> = ["web-4", "web-5"]
        .iter()
        .map(|s| now.get(*s).map(String::as_str).expect("new server"))
        .collect();
    assert_eq!(
        new_hosts,
        BTreeSet::from(["h1", "local"]),
        "not on the unconnected h2: {now:?}"
    );
    assert!(pool.hosts.host("h2").is_none(), "h2 was never connected");
}

#[tokio::test]
async fn a_server_recorded_on_an_unknown_host_is_given_the_builtin_host_on_open() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    let unit = pool.unit("shop", &web_unit(2, HARD, ""), &["web"]).await;
    pool.start(&unit).await;
    let placed = pool.placement(&unit).await;
    let on_local = placed
        .iter()
        .find(|(_, h)| h.as_str() == "local")
        .map(|(s, _)| s.clone())
        .expect("a server on local");
    let on_h1 = placed
        .iter()
        .find(|(_, h)| h.as_str() == "h1")
        .map(|(s, _)| s.clone())
        .expect("a server on h1");

    // As an older vsm recorded it: the host the local driver named.
    let (store, pool) = pool.close_into_store().await;
    let u = store.unit(&unit).expect("read").expect("unit");
    let (g, s) = u
        .server(&name::<ServerName>(&on_local))
        .expect("server on local");
    let mut legacy = s.clone();
    legacy.host = Some("localhost".into());
    store
        .write(&[Change::PutServer {
            unit: unit.clone(),
            group: g.name().clone(),
            server: legacy,
        }])
        .expect("write");
    drop(store);

    let pool = pool.reopen_same().await;
    let now = pool.placement(&unit).await;
    assert_eq!(
        now.get(&on_local).map(String::as_str),
        Some("local"),
        "{now:?}"
    );
    assert_eq!(now.get(&on_h1).map(String::as_str), Some("h1"), "{now:?}");
    let local = pool
        .manager
        .show_host(&pool.admin, &host("local"))
        .await
        .expect("local");
    assert_eq!(local.servers, 1, "{local:?}");
    assert_eq!(local.placed[0].server.as_str(), on_local);

    // The server is served by the built-in host's driver.
    let id = pool
        .manager
        .stop_unit(&pool.bob, &unit, OpOptions::default())
        .await
        .expect("stop");
    pool.succeeds(id).await;
    assert_eq!(
        pool.local
            .state(&machine("shop", &on_local))
            .await
            .expect("state"),
        PowerState::Stopped
    );

    // ... and that is recorded.
    let (store, _pool) = pool.close_into_store().await;
    let u = store.unit(&unit).expect("read").expect("unit");
    let (_, s) = u.server(&name::<ServerName>(&on_local)).expect("server");
    assert_eq!(s.host.as_deref(), Some("local"));
}

#[tokio::test]
async fn recreating_a_server_provisions_it_again_with_the_next_epoch() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let extra = format!("    recover: recreate\n{HARD}");
    let unit = pool.unit("shop", &web_unit(2, &extra, ""), &["web"]).await;
    pool.start(&unit).await;
    let placed = pool.placement(&unit).await;
    for (s, h) in &placed {
        assert_eq!(epoch_label(&pool.fake(h), "shop", s).await, "1", "{s}");
    }

    let id = pool
        .manager
        .recover_server(&pool.bob, &unit, &name("web-1"), OpOptions::default())
        .await
        .expect("recover");
    pool.succeeds(id).await;
    let now = pool.placement(&unit).await;
    let h = now.get("web-1").expect("web-1").clone();
    assert_ne!(
        Some(&h),
        now.get("web-2"),
        "hard anti-affinity still holds: {now:?}"
    );
    assert_eq!(now.get("web-2"), placed.get("web-2"));
    // Exactly one machine of web-1 in the pool, where the manager says, with epoch 2.
    let m = machine("shop", "web-1").to_string();
    for host_name in ["local", "h1", "h2"] {
        let has = pool.machines_on(host_name).await.contains(&m);
        assert_eq!(has, host_name == h, "web-1's machine on {host_name}");
    }
    let fake = pool.fake(&h);
    assert_eq!(epoch_label(&fake, "shop", "web-1").await, "2");
    assert_eq!(
        fake.state(&machine("shop", "web-1")).await.expect("state"),
        PowerState::Running
    );
    let h2 = placed.get("web-2").expect("web-2");
    assert_eq!(epoch_label(&pool.fake(h2), "shop", "web-2").await, "1");

    // The store keeps the epochs (`unit show` does not report them).
    let (store, _pool) = pool.close_into_store().await;
    let u = store.unit(&unit).expect("read").expect("unit");
    let epoch = |s: &str| u.server(&name::<ServerName>(s)).expect("server").1.epoch;
    assert_eq!(epoch("web-1"), 2);
    assert_eq!(epoch("web-2"), 1);
}

#[tokio::test]
async fn running_operations_reserve_their_room() {
    // Room for one server in the whole pool; the first start is slow to provision.
    let pool = Pool::new(Some((1, 600)), FakeHosts::new(), |_| {}).await;
    pool.local
        .set_latency(Operation::Provision, Duration::from_millis(500));
    let first = pool.unit("first", &web_unit(1, "", ""), &["web"]).await;
    let second = pool.unit("second", &web_unit(1, "", ""), &["web"]).await;
    let id = pool
        .manager
        .start_unit(&pool.bob, &first, OpOptions::default())
        .await
        .expect("first start");
    let err = pool
        .manager
        .start_unit(&pool.bob, &second, OpOptions::default())
        .await
        .expect_err("the room is taken by the running start");
    assert_eq!(err.kind(), ErrorKind::Failed, "{err}");
    assert!(err.to_string().contains("the pool is full now"), "{err}");
    pool.succeeds(id).await;
    assert_eq!(
        pool.machines_on("local").await,
        [machine("first", "web-1").to_string()]
    );
    assert!(servers_of(&pool.show(&second).await, "web").is_empty());

    // Deleting the first unit gives its room back.
    let id = pool
        .manager
        .delete_unit(
            &pool.bob,
            &first,
            DeleteUnitRequest {
                force: true,
                wait_secs: None,
            },
        )
        .await
        .expect("delete");
    pool.succeeds(id).await;
    let local = pool
        .manager
        .show_host(&pool.admin, &host("local"))
        .await
        .expect("local");
    assert_eq!((local.servers, local.used), (0, vsm_core::Usage::default()));
    pool.start(&second).await;
    assert_eq!(
        pool.machines_on("local").await,
        [machine("second", "web-1").to_string()]
    );
}

#[tokio::test]
async fn an_upgrade_in_place_fits_a_full_pool_and_a_surge_does_not() {
    // One server per host (see the full-pool test).
    let pool = Pool::new(Some((1, 600)), FakeHosts::with_capacity(1, 600), |_| {}).await;
    pool.add("h1", &[], None).await;
    let unit = pool.unit("shop", &web_unit(2, "", ""), &["web"]).await;
    pool.start(&unit).await;
    let placed = pool.placement(&unit).await;
    pool.manager
        .update_template(&pool.bob, &name("tpl"), "image-2")
        .await
        .expect("generation 2");

    // A surge needs a third place: refused now, nothing created.
    let err = pool
        .manager
        .upgrade(
            &pool.bob,
            &unit,
            UpgradeRequest {
                batch: None,
                surge: Some(1),
                wait_secs: None,
            },
        )
        .await
        .expect_err("no room to surge");
    assert_eq!(err.kind(), ErrorKind::Failed, "{err}");
    assert_eq!(pool.placement(&unit).await, placed);
    for h in ["local", "h1"] {
        assert_eq!(pool.fake(h).call_count(Operation::Provision), 1, "{h}");
        assert_eq!(pool.fake(h).call_count(Operation::Destroy), 0, "{h}");
    }

    // In place, each server's old machine is gone before its new one is placed: it fits,
    // each server stays where the only room is, with its next epoch.
    let id = pool
        .manager
        .upgrade(&pool.bob, &unit, UpgradeRequest::default())
        .await
        .expect("upgrade in place");
    pool.succeeds(id).await;
    assert_eq!(pool.placement(&unit).await, placed);
    for (s, h) in &placed {
        let fake = pool.fake(h);
        assert_eq!(pool.machines_on(h).await, [machine("shop", s).to_string()]);
        let info = fake.info(&machine("shop", s)).await.expect("info");
        assert_eq!(info.generation, Some(2), "{s} on {h}");
        assert_eq!(epoch_label(&fake, "shop", s).await, "2", "{s} on {h}");
    }
}

#[tokio::test]
async fn tolerate_host_failures_needs_enough_hosts() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    let text = "format: 1\ntolerate_host_failures: 1\ngroups:\n  - name: web\n    template: tpl\n    count: 3\n    min: 2\n    max: 6\n";
    let unit = pool.unit("shop", text, &["web"]).await;
    // One host: losing it loses every server.
    let err = pool
        .manager
        .start_unit(&pool.bob, &unit, OpOptions::default())
        .await
        .expect_err("one host cannot tolerate losing one");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(
        err.to_string().contains("tolerate_host_failures 1"),
        "{err}"
    );
    assert!(pool.machines_on("local").await.is_empty());
    assert!(servers_of(&pool.show(&unit).await, "web").is_empty());

    // Three hosts: one server each, so losing any one leaves two.
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    pool.start(&unit).await;
    let on: BTreeSet<String> = pool.placement(&unit).await.into_values().collect();
    assert_eq!(on.len(), 3, "{on:?}");
}

#[tokio::test]
async fn two_adds_of_one_name_at_once_add_it_once() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    // The race is a matter of scheduling: try it on several names.
    for i in 1..=10 {
        let n = format!("h{i}");
        let (a, b) = tokio::join!(
            pool.manager
                .add_host(&pool.admin, pool.add_req(&n, &[("zone", "a")])),
            pool.manager
                .add_host(&pool.admin, pool.add_req(&n, &[("zone", "b")])),
        );
        let added = match (a, b) {
            (Ok(info), Err(e)) | (Err(e), Ok(info)) => {
                assert!(e.to_string().contains("already exists"), "{e}");
                info
            }
            (Ok(a), Ok(b)) => panic!(
                "both adds of {n} succeeded (zone {:?}, then zone {:?}); one silently replaced the other",
                a.host.labels.get("zone"),
                b.host.labels.get("zone")
            ),
            (Err(a), Err(b)) => panic!("both adds of {n} failed: {a}; {b}"),
        };
        let shown = pool
            .manager
            .show_host(&pool.admin, &host(&n))
            .await
            .expect("shown");
        assert_eq!(shown.host.labels, added.host.labels, "{n}");
    }
}

#[tokio::test]
async fn a_host_is_not_removed_while_a_running_operation_has_placed_a_server_on_it() {
    let pool = Pool::new(None, FakeHosts::new(), |_| {}).await;
    pool.add("h2", &[("zone", "a")], None).await;
    let extra = "    recover: recreate\n    placement:\n      hosts: { zone: a }\n";
    let unit = pool.unit("shop", &web_unit(1, extra, ""), &["web"]).await;
    pool.start(&unit).await;
    assert_eq!(
        pool.placement(&unit).await.get("web-1").map(String::as_str),
        Some("h2")
    );
    // A second zone-a host, first by name: recreating web-1 places it there (both are
    // empty once web-1's old machine is destroyed).
    pool.add("h1", &[("zone", "a")], None).await;
    // The old machine takes a while to destroy: web-1 is placed on h1 and its room
    // reserved, but its provisioning has not begun.
    pool.fake("h2")
        .set_latency(Operation::Destroy, Duration::from_millis(1500));
    let id = pool
        .manager
        .recover_server(&pool.bob, &unit, &name("web-1"), OpOptions::default())
        .await
        .expect("recover");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let removed = pool.manager.remove_host(&pool.admin, &host("h1")).await;
    let rec = pool
        .manager
        .wait(&pool.admin, id, Duration::from_secs(60))
        .await
        .expect("wait");
    let placed = pool.placement(&unit).await;
    let on_local = pool.machines_on("local").await;
    assert!(
        removed.is_err(),
        "h1 was removed while the recovery had placed web-1 on it; the recovery then ended {:?}, web-1 is recorded on {:?} (hosts now {:?}) and the built-in host holds {on_local:?}",
        rec.summary.state,
        placed.get("web-1"),
        pool.host_names().await,
    );
    let err = removed.expect_err("refused");
    assert!(err.to_string().contains("shop/web-1"), "{err}");
    pool.succeeds(id).await;
    assert_eq!(
        pool.placement(&unit).await.get("web-1").map(String::as_str),
        Some("h1")
    );
    assert_eq!(
        pool.machines_on("h1").await,
        [machine("shop", "web-1").to_string()]
    );
    assert!(on_local.is_empty(), "{on_local:?}");
}
