//! Active/standby on one PostgreSQL database (issue 14, step 4): two managers elect one, the
//! standby answers reads and refuses writes naming the active one, a leader whose lock session
//! is terminated stops driving and steps down, the standby takes over under a higher epoch
//! and reconciles, and a deposed leader's write is refused by the database itself.
//!
//! Without PostgreSQL the tests print why they are skipped (never under `CI=true`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{Role, Timestamp};
use vsm_hypervisor::fake::FakeHypervisor;
use vsm_manager::store::{AuditEntry, Change, Fence, PgStore, Store, StoreError};
use vsm_manager::testing::pg::PgServer;
use vsm_manager::*;

use crate::support::{BOB_PW, ROOT_PW, TWO_GROUPS, name, register_tpl};

/// A database on `pg`, a first manager's state directory `a` initialized on it and a second
/// one `b` with the same `config.yaml` (the definitions on a directory both reach).
fn two_state_dirs(
    pg: &PgServer,
    db: &str,
) -> (tempfile::TempDir, Utf8PathBuf, Utf8PathBuf, String) {
    let url = pg.create_database(db);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
    let (a, b) = (root.join("a"), root.join("b"));
    let mut init = InitOptions::new(a.clone(), name("root"), Password::new(ROOT_PW));
    init.password_cost = PasswordCost::Insecure;
    init.settings.store = url.clone();
    init.settings.definitions_dir = Some(root.join("shared-definitions").to_string());
    tokio::task::block_in_place(|| Manager::init(init)).expect("init a");
    std::fs::create_dir_all(&b).expect("mkdir b");
    std::fs::copy(a.join("config.yaml"), b.join("config.yaml")).expect("config b");
    (dir, a, b, url)
}

async fn open(state: &Utf8Path, fake: &Arc<FakeHypervisor>) -> Manager {
    let mut config = ManagerConfig::load(state.to_path_buf()).expect("config");
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    Manager::open(
        config,
        DriverSet::new().with(DriverKind::Local, fake.clone()),
    )
    .await
    .unwrap_or_else(|e| panic!("open {state}: {e:?}"))
}

async fn actor(manager: &Manager, account: &str, password: &str) -> Actor {
    manager
        .authenticate(&name(account), &Password::new(password))
        .await
        .unwrap_or_else(|e| panic!("{account} login: {e}"))
}

/// Waits up to `within` for `check`; how long it took.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if check() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Runs `sql` on `url` (as the superuser the test server gives every URL).
async fn sql(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client.query(sql, &[]).await.expect("query")
}

fn role(m: &Manager) -> (ManagerRole, i64) {
    let ha = m
        .ha_status()
        .expect("a PostgreSQL manager has an HA status");
    (ha.role, ha.epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_managers_elect_one_and_the_standby_sends_writes_to_it() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let (_dir, a_dir, b_dir, _url) = two_state_dirs(&pg, "ha_elect");
    let fake = Arc::new(FakeHypervisor::new());
    let a = open(&a_dir, &fake).await;
    a.advertise("http://vsm-a.test:7460");
    let b = open(&b_dir, &Arc::new(fake.reopen())).await;
    b.advertise("http://vsm-b.test:7460");
    assert_eq!(role(&a), (ManagerRole::Active, 1));
    assert_eq!(role(&b).0, ManagerRole::Standby);
    assert!(a.is_active() && !b.is_active());

    // The standby learns the active one's URL and both see each other as peers.
    let known = eventually(Duration::from_secs(6), || {
        let ha = b.ha_status().expect("ha");
        ha.active_url.as_deref() == Some("http://vsm-a.test:7460")
            && ha.epoch == 1
            && ha.peers.len() == 2
            && ha.peers.iter().all(|p| p.url.is_some())
    })
    .await;
    assert!(known.is_some(), "standby status: {:?}", b.ha_status());
    let peers: Vec<(String, ManagerRole)> = b
        .ha_status()
        .expect("ha")
        .peers
        .into_iter()
        .map(|p| (p.url.unwrap_or_default(), p.role))
        .collect();
    assert!(
        peers.contains(&("http://vsm-a.test:7460".into(), ManagerRole::Active)),
        "{peers:?}"
    );
    assert!(
        peers.contains(&("http://vsm-b.test:7460".into(), ManagerRole::Standby)),
        "{peers:?}"
    );

    // A write on the active one is read on the standby.
    let root_a = actor(&a, "root", ROOT_PW).await;
    a.add_account(
        &root_a,
        AddAccount {
            name: name("bob"),
            role: Role::Builder,
            password: Password::new(BOB_PW),
        },
    )
    .await
    .expect("add bob on the active manager");
    let root_b = actor(&b, "root", ROOT_PW).await;
    let names: Vec<String> = b
        .list_accounts(&root_b)
        .await
        .expect("the standby answers reads")
        .into_iter()
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(names, ["bob", "root"]);

    // A write on the standby is refused, naming the active manager, and nothing is written.
    let refused = b
        .add_account(
            &root_b,
            AddAccount {
                name: name("carol"),
                role: Role::Builder,
                password: Password::new(BOB_PW),
            },
        )
        .await
        .expect_err("a standby refuses writes");
    assert_eq!(refused.kind(), ErrorKind::Unavailable, "{refused}");
    assert_eq!(refused.kind().exit_code(), 69);
    assert_eq!(refused.active_url(), Some("http://vsm-a.test:7460"));
    assert_eq!(
        refused.to_string(),
        "this manager is a standby; the active manager is at http://vsm-a.test:7460"
    );
    let bob_b = actor(&b, "bob", BOB_PW).await;
    let refused = b
        .create_unit_from_file(
            &bob_b,
            CreateUnitFromFile {
                name: name("shop"),
                file_name: "shop.yaml".into(),
                unit_file: TWO_GROUPS.into(),
            },
        )
        .await
        .expect_err("a standby refuses a unit");
    assert_eq!(
        refused.active_url(),
        Some("http://vsm-a.test:7460"),
        "{refused}"
    );
    assert_eq!(a.list_accounts(&root_a).await.expect("list").len(), 2);
    assert!(b.list_units(&bob_b, false).await.expect("units").is_empty());

    a.shutdown(Duration::from_secs(2)).await;
    b.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_that_loses_its_lock_session_stops_driving_and_the_standby_takes_over() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let (_dir, a_dir, b_dir, url) = two_state_dirs(&pg, "ha_takeover");
    let machines = a_dir.parent().expect("root").join("machines");
    let fake_a = Arc::new(FakeHypervisor::new().with_root_dir(machines));
    let fake_b = Arc::new(fake_a.reopen());
    let a = open(&a_dir, &fake_a).await;
    a.advertise("http://vsm-a.test:7460");
    let b = open(&b_dir, &fake_b).await;
    assert_eq!(role(&a), (ManagerRole::Active, 1));

    // bob's unit, started once on the active manager.
    let root = actor(&a, "root", ROOT_PW).await;
    a.add_account(
        &root,
        AddAccount {
            name: name("bob"),
            role: Role::Builder,
            password: Password::new(BOB_PW),
        },
    )
    .await
    .expect("bob");
    let bob = actor(&a, "bob", BOB_PW).await;
    register_tpl(&a, &bob, DriverKind::Local, "image-1").await;
    let unit: vsm_core::UnitName = name("shop");
    a.create_unit_from_file(
        &bob,
        CreateUnitFromFile {
            name: unit.clone(),
            file_name: "shop.yaml".into(),
            unit_file: TWO_GROUPS.into(),
        },
    )
    .await
    .expect("unit");
    let first = a
        .start_unit(&bob, &unit, OpOptions::default())
        .await
        .expect("start");
    let rec = a
        .wait(&bob, first, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");

    // A slow stop runs on the active manager when its lock session is terminated.
    fake_a.set_latency_all(Duration::from_millis(400));
    let stop = a
        .stop_unit(&bob, &unit, OpOptions::default())
        .await
        .expect("stop");
    assert!(
        eventually(Duration::from_secs(10), || !fake_a.calls().is_empty())
            .await
            .is_some()
    );
    let terminated = sql(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND ((classid::bigint << 32) | objid::bigint) = x'0076736d5f6c6561'::bigint",
    )
    .await;
    let lost_at = Instant::now();
    assert_eq!(
        terminated.len(),
        1,
        "exactly one session holds the election lock"
    );

    // The old leader steps down within a second; the standby takes over under epoch 2.
    let stepped = eventually(Duration::from_secs(2), || !a.is_active()).await;
    assert!(
        stepped.is_some_and(|d| d < Duration::from_secs(1)),
        "{stepped:?}"
    );
    let took = eventually(Duration::from_secs(10), || b.is_active()).await;
    assert!(
        took.is_some(),
        "the standby did not take over: {:?}",
        b.ha_status()
    );
    assert_eq!(role(&b), (ManagerRole::Active, 2));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // No driver call of the old leader after it lost its lock (within the one second it
    // has to notice).
    let late: Vec<_> = fake_a
        .calls()
        .into_iter()
        .filter(|c| c.at > lost_at + Duration::from_secs(1))
        .collect();
    assert!(
        late.is_empty(),
        "the deposed leader drove after losing its lock: {late:?}"
    );
    assert!(!a.is_active());
    assert_eq!(role(&a).0, ManagerRole::Standby);

    // The new leader reconciled as after a crash: the stop is interrupted, the unit free.
    let bob_b = actor(&b, "bob", BOB_PW).await;
    let rec = b.show_operation(&bob_b, stop).await.expect("the stop");
    assert_eq!(rec.summary.state, OperationState::Interrupted, "{rec:?}");
    let again = b
        .stop_unit(&bob_b, &unit, OpOptions::default())
        .await
        .expect("the new leader runs the stop again");
    assert!(again.0 > stop.0, "a new id: {again} after {stop}");
    let rec = b
        .wait(&bob_b, again, Duration::from_secs(60))
        .await
        .expect("wait");
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    let shown = b.show_unit(&bob_b, &unit).await.expect("unit");
    for s in shown.groups.iter().flat_map(|g| g.servers.iter()) {
        assert_eq!(format!("{:?}", s.logical), "Stopped", "{s:?}");
    }

    // The deposed leader refuses writes itself, naming the new one's URL once it knows it…
    b.advertise("http://vsm-b.test:7460");
    let named = eventually(Duration::from_secs(6), || {
        a.ha_status().and_then(|h| h.active_url).as_deref() == Some("http://vsm-b.test:7460")
    })
    .await;
    assert!(named.is_some(), "{:?}", a.ha_status());
    let refused = a
        .start_unit(&bob, &unit, OpOptions::default())
        .await
        .expect_err("the deposed leader refuses operations");
    assert_eq!(
        refused.active_url(),
        Some("http://vsm-b.test:7460"),
        "{refused}"
    );
    // …and a write made under its old epoch is refused by the database itself.
    let old_epoch = Arc::new(Fence::new());
    old_epoch.hold(1);
    let store_url = url.clone();
    let fenced = tokio::task::spawn_blocking(move || {
        let store = PgStore::open(&store_url)
            .expect("store")
            .with_fence(Some(old_epoch));
        store.write(&[Change::Audit(AuditEntry {
            at: Timestamp::from_millis(1),
            actor: None,
            action: "deposed".into(),
            target: "x".into(),
            result: "ok".into(),
        })])
    })
    .await
    .expect("join");
    assert!(
        matches!(fenced, Err(StoreError::Fenced { held: Some(1) })),
        "{fenced:?}"
    );
    let epoch: i64 = sql(&url, "SELECT epoch FROM leader").await[0].get(0);
    assert_eq!(epoch, 2);

    a.shutdown(Duration::from_secs(2)).await;
    b.shutdown(Duration::from_secs(2)).await;
}

/// Behind a PgBouncer in transaction mode, which silently drops session-level advisory locks,
/// a manager refuses to start and says why; the same state directory pointed at PostgreSQL
/// itself starts as the active manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_behind_a_transaction_mode_pooler_refuses_to_start() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let (_dir, a, _b, url) = two_state_dirs(&pg, "ha_pooled");
    let pooler = match pg.pooler("ha_pooled") {
        Ok(p) => p,
        Err(skip) => {
            eprintln!("skipped: {skip}");
            return;
        }
    };
    let config_path = a.join("config.yaml");
    let direct = std::fs::read_to_string(&config_path).expect("config");
    assert!(direct.contains(&url), "{direct}");
    std::fs::write(&config_path, direct.replace(&url, &pooler.url())).expect("config");
    let fake = Arc::new(FakeHypervisor::new());
    let mut config = ManagerConfig::load(a.clone()).expect("config");
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    let refused = Manager::open(
        config,
        DriverSet::new().with(DriverKind::Local, fake.clone()),
    )
    .await
    .err()
    .map(|e| {
        // The sentence and every cause, as `vsm manager start` prints them.
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        text
    });
    let Some(refused) = refused else {
        panic!("a manager behind a transaction-mode pooler started");
    };
    assert!(
        refused.contains("transaction-mode connection pooler")
            && refused.contains("not stable")
            && !refused.contains("password"),
        "{refused}"
    );

    // The same state directory on PostgreSQL itself: active.
    std::fs::write(&config_path, direct).expect("config");
    let m = open(&a, &fake).await;
    assert_eq!(role(&m).0, ManagerRole::Active);
    m.shutdown(Duration::from_secs(2)).await;
}
