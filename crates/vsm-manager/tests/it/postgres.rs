//! The manager on both state stores (issue 14, step 3): the builder flow on SQLite and on a
//! real PostgreSQL, a PostgreSQL manager's backup restored into a fresh database and into
//! SQLite, `migrate-store` of a populated SQLite manager, and the refusals (a password in
//! the URL, a password file others can read, init onto a used database, a migration while
//! the manager runs or into a used database).
//!
//! PostgreSQL runs on one `PgServer` shared by the tests of this process, a database per
//! test; without PostgreSQL the PostgreSQL half prints why it is skipped (never under
//! `CI=true`).

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{AccountName, OperationId, Role, UnitName};
use vsm_hypervisor::fake::FakeHypervisor;
use vsm_manager::store::copy::{self, Counts};
use vsm_manager::store::{PgStore, SqliteStore, Store};
use vsm_manager::testing::pg::PgServer;
use vsm_manager::*;

use crate::support::{BOB_PW, ROOT_PW, TWO_GROUPS, add_accounts, name, register_tpl};

/// The server the tests of this process share while any of them runs.
fn shared_pg() -> Option<Arc<PgServer>> {
    static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(server) = shared.upgrade() {
        return Some(server);
    }
    let server = Arc::new(PgServer::start_or_skip()?);
    *shared = Arc::downgrade(&server);
    Some(server)
}

/// A new empty database on `pg`: its URL.
fn fresh_db(pg: &PgServer, prefix: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    pg.create_database(&format!("{prefix}_{}", SEQ.fetch_add(1, Ordering::SeqCst)))
}

/// The store a test runs on.
enum Backend {
    Sqlite,
    Postgres { url: String, _server: Arc<PgServer> },
}

impl Backend {
    fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    fn store(&self) -> String {
        match self {
            Backend::Sqlite => "sqlite".into(),
            Backend::Postgres { url, .. } => url.clone(),
        }
    }
}

/// SQLite, and PostgreSQL when it can run here.
fn backends(prefix: &str) -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if let Some(server) = shared_pg() {
        let url = fresh_db(&server, prefix);
        out.push(Backend::Postgres {
            url,
            _server: server,
        });
    }
    out
}

/// Runs blocking store work (PostgreSQL's client runs on a runtime of its own, which cannot
/// be entered on an async worker thread).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// A temporary directory with a manager initialized on `store` in `root/state`.
fn init_on(store: &str) -> (tempfile::TempDir, Utf8PathBuf) {
    blocking(|| init_on_blocking(store))
}

fn init_on_blocking(store: &str) -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
    let mut init = InitOptions::new(root.join("state"), name("root"), Password::new(ROOT_PW));
    init.password_cost = PasswordCost::Insecure;
    init.settings.store = store.to_owned();
    Manager::init(init).unwrap_or_else(|e| panic!("init on {store}: {e:?}"));
    (dir, root)
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

async fn login(manager: &Manager, account: &str, password: &str) -> Actor {
    manager
        .authenticate(&name::<AccountName>(account), &Password::new(password))
        .await
        .unwrap_or_else(|e| panic!("{account} login: {e}"))
}

/// A definition directory giving both groups `www/index.html` with `body`.
fn definitions(root: &Utf8Path, dirname: &str, body: &str) -> Utf8PathBuf {
    let dir = root.join(dirname);
    std::fs::create_dir_all(dir.join("site")).expect("mkdir");
    let mut manifest = String::from("format: 1\ngroups:\n");
    for g in ["db", "web"] {
        manifest.push_str(&format!(
            "  - name: {g}\n    files:\n      - {{ source: site/index.html, target: www/index.html }}\n"
        ));
    }
    std::fs::write(dir.join("vsm-definition.yaml"), manifest).expect("manifest");
    std::fs::write(dir.join("site/index.html"), body).expect("file");
    dir
}

async fn finish(manager: &Manager, actor: &Actor, id: OperationId) -> OperationRecord {
    let rec = manager
        .wait(actor, id, Duration::from_secs(60))
        .await
        .expect("wait");
    assert!(rec.summary.state.is_finished(), "{rec:?}");
    rec
}

/// bob's unit `shop` (two groups of two) with one imported version, started and stopped
/// once: answers the unit and the two operations.
async fn populate(manager: &Manager, root: &Utf8Path, bob: &Actor) -> (UnitName, Vec<OperationId>) {
    register_tpl(manager, bob, DriverKind::Local, "image-1").await;
    let unit: UnitName = name("shop");
    manager
        .create_unit_from_file(
            bob,
            CreateUnitFromFile {
                name: unit.clone(),
                file_name: "shop.yaml".into(),
                unit_file: TWO_GROUPS.into(),
            },
        )
        .await
        .expect("create unit");
    let defs = definitions(root, "defs-v1", "v1");
    manager
        .import_definitions(bob, &unit, &defs)
        .await
        .expect("import");
    let start = manager
        .start_unit(bob, &unit, OpOptions::default())
        .await
        .expect("start");
    let rec = finish(manager, bob, start).await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    let stop = manager
        .stop_unit(bob, &unit, OpOptions::default())
        .await
        .expect("stop");
    let rec = finish(manager, bob, stop).await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    (unit, vec![start, stop])
}

fn server_states(detail: &UnitDetail) -> Vec<String> {
    detail
        .groups
        .iter()
        .flat_map(|g| {
            g.servers
                .iter()
                .map(move |s| format!("{}/{}={:?}", g.name, s.name, s.logical))
        })
        .collect()
}

fn sqlite(path: &Utf8Path) -> SqliteStore {
    SqliteStore::open(path).expect("open the SQLite store")
}

fn pg_store(url: &str) -> PgStore {
    PgStore::open(url).expect("open the PostgreSQL store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builder_flow_runs_on_both_stores() {
    for backend in backends("flow") {
        let label = backend.label();
        let (_dir, root) = init_on(&backend.store());
        let state = root.join("state");
        let fake = Arc::new(FakeHypervisor::new().with_root_dir(root.join("machines")));
        let manager = open(&state, &fake).await;
        let (admin, bob) = add_accounts(&manager).await;
        let accounts: Vec<String> = manager
            .list_accounts(&admin)
            .await
            .expect("accounts")
            .iter()
            .map(|a| format!("{}:{}", a.name, a.role))
            .collect();
        assert_eq!(accounts, ["bob:builder", "root:admin"], "{label}");
        let (unit, ops) = populate(&manager, &root, &bob).await;
        let shown = manager.show_unit(&bob, &unit).await.expect("show");
        assert_eq!(shown.versions.len(), 1, "{label}: {shown:?}");
        assert_eq!(
            server_states(&shown),
            [
                "db/db-1=Stopped",
                "db/db-2=Stopped",
                "web/web-1=Stopped",
                "web/web-2=Stopped"
            ],
            "{label}"
        );
        // The definitions were applied onto the servers by the start.
        let applied = std::fs::read_to_string(root.join("machines/shop--web-1/www/index.html"))
            .expect("applied file");
        assert_eq!(applied, "v1", "{label}");
        // The snapshot store is in the state directory by default.
        let versions = std::fs::read_dir(state.join("definitions/versions"))
            .expect("versions")
            .count();
        assert_eq!(versions, 1, "{label}");
        manager.shutdown(Duration::from_secs(5)).await;
        drop(manager);

        // Where the rows are: SQLite has state.db; PostgreSQL has none and the database
        // holds the unit.
        match &backend {
            Backend::Sqlite => assert!(state.join(DB_FILE).exists()),
            Backend::Postgres { url, .. } => {
                assert!(!state.join(DB_FILE).exists(), "no state.db on PostgreSQL");
                let (units, max) = blocking(|| {
                    let store = pg_store(url);
                    (
                        store.units().expect("units"),
                        store.max_operation_id().expect("max"),
                    )
                });
                assert_eq!(units.len(), 1);
                assert_eq!(units[0].servers().count(), 4);
                assert_eq!(max, ops[1].0);
                let config = ManagerConfig::load(state.clone()).expect("config");
                assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
                assert!(
                    config.warnings()[0].contains("standby"),
                    "{:?}",
                    config.warnings()
                );
            }
        }

        // A new process sees everything, and runs operations.
        let manager = open(&state, &fake).await;
        let bob = login(&manager, "bob", BOB_PW).await;
        let listed: Vec<OperationId> = manager
            .list_operations(&bob, Some(&unit))
            .await
            .expect("ops")
            .iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(listed, [ops[1], ops[0]], "{label}");
        let start = manager
            .start_unit(&bob, &unit, OpOptions::default())
            .await
            .expect("start");
        let rec = finish(&manager, &bob, start).await;
        assert_eq!(rec.summary.state, OperationState::Succeeded, "{label}");
        assert_eq!(start.0, ops[1].0 + 1, "{label}: ids go on");
        manager.shutdown(Duration::from_secs(5)).await;
    }
}

/// Every table of both stores equal but the audit log, which `extra_audit` more entries
/// (the newest) may lengthen in `b`.
fn same_state(a: &dyn Store, b: &dyn Store, extra_audit: usize) -> Counts {
    let (mut x, mut y) = (
        a.audit_log(usize::MAX).expect("a"),
        b.audit_log(usize::MAX).expect("b"),
    );
    assert_eq!(y.len(), x.len() + extra_audit);
    y.drain(..extra_audit);
    x.reverse();
    y.reverse();
    assert_eq!(x, y, "the audit logs differ");
    assert_eq!(a.accounts().expect("a"), b.accounts().expect("b"));
    assert_eq!(a.sessions().expect("a"), b.sessions().expect("b"));
    assert_eq!(a.templates().expect("a"), b.templates().expect("b"));
    assert_eq!(a.hosts().expect("a"), b.hosts().expect("b"));
    assert_eq!(a.units().expect("a"), b.units().expect("b"));
    let ops = a.operations(None, usize::MAX).expect("a");
    assert_eq!(ops, b.operations(None, usize::MAX).expect("b"));
    let mut journal = 0;
    for o in &ops {
        assert_eq!(a.operation(o.id).expect("a"), b.operation(o.id).expect("b"));
        let entries = a.journal(o.id).expect("a");
        assert_eq!(entries, b.journal(o.id).expect("b"), "journal of {}", o.id);
        journal += entries.len();
    }
    Counts {
        accounts: a.accounts().expect("a").len(),
        sessions: a.sessions().expect("a").len(),
        templates: a.templates().expect("a").len(),
        hosts: a.hosts().expect("a").len(),
        units: a.units().expect("a").len(),
        servers: a
            .units()
            .expect("a")
            .iter()
            .map(|u| u.servers().count())
            .sum(),
        operations: ops.len(),
        journal,
        audit: x.len(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_moves_a_populated_sqlite_manager_over() {
    let Some(server) = shared_pg() else { return };
    let url = fresh_db(&server, "migrate");
    let (_dir, root) = init_on("sqlite");
    let state = root.join("state");
    let fake = Arc::new(FakeHypervisor::new().with_root_dir(root.join("machines")));
    let manager = open(&state, &fake).await;
    let (_admin, bob) = add_accounts(&manager).await;
    let (unit, ops) = populate(&manager, &root, &bob).await;
    let session = manager
        .login(&name("bob"), &Password::new(BOB_PW))
        .await
        .expect("a session");

    // Refused while the manager runs: exclusion, nothing changed.
    let err = blocking(|| {
        Manager::migrate_store(
            MigrateOptions::new(state.clone(), url.clone()),
            &mut |_, _| {},
        )
    })
    .expect_err("the manager runs");
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert!(state.join(DB_FILE).exists());
    assert!(!blocking(|| copy::holds_state(&pg_store(&url))).expect("check"));
    manager.shutdown(Duration::from_secs(5)).await;
    drop(manager);
    let config_before = std::fs::read_to_string(state.join("config.yaml")).expect("config");

    // A password file others can read is refused, naming it; nothing changed.
    let pw = root.join("pg-password");
    std::fs::write(&pw, "secret\n").expect("write");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut options = MigrateOptions::new(state.clone(), url.clone());
    options.store_password_file = Some(pw.clone());
    let err =
        blocking(|| Manager::migrate_store(options.clone(), &mut |_, _| {})).expect_err("0644");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(pw.as_str()) && text.contains("chmod 600"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(state.join("config.yaml")).expect("config"),
        config_before
    );
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // The migration, with its progress per table.
    let mut heard = Vec::new();
    let report =
        blocking(|| Manager::migrate_store(options, &mut |table, rows| heard.push((table, rows))))
            .expect("migrate");
    let tables: Vec<&str> = heard.iter().map(|(t, _)| *t).collect();
    assert_eq!(tables, copy::TABLES);
    assert_eq!(report.rows.accounts, 2);
    assert_eq!(report.rows.sessions, 1, "bob's session");
    assert_eq!(report.rows.templates, 1);
    assert_eq!(report.rows.units, 1);
    assert_eq!(report.rows.servers, 4);
    assert_eq!(report.rows.operations, 2);
    assert!(report.rows.journal >= 8, "{:?}", report.rows);
    assert!(report.rows.audit >= 5, "{:?}", report.rows);
    assert_eq!(heard[0], ("accounts", 2));

    // state.db kept under its new name, never deleted; the configuration names the
    // database and the password file.
    assert!(!state.join(DB_FILE).exists());
    assert!(report.kept.exists(), "{}", report.kept);
    let kept_name = report.kept.file_name().expect("name");
    assert!(kept_name.starts_with("state.db.migrated-20"), "{kept_name}");
    let config = ManagerConfig::load(state.clone()).expect("config");
    assert_eq!(config.settings.store, url);
    assert_eq!(
        config.settings.store_password_file.as_deref(),
        Some(pw.as_str())
    );
    assert!(
        !report.warnings.is_empty(),
        "the definitions stay local: {report:?}"
    );

    // Every row is there (and one audit record more: the migration).
    let counts = blocking(|| same_state(&sqlite(&report.kept), &pg_store(&url), 1));
    assert_eq!(counts, report.rows);
    let newest = blocking(|| pg_store(&url).audit_log(1)).expect("audit");
    assert_eq!(newest[0].action, "manager migrate-store");

    // The manager runs on PostgreSQL: the old session still works, operations go on.
    let manager = open(&state, &fake).await;
    let bob = manager
        .actor_for_token(&session.token)
        .await
        .expect("the session moved");
    let shown = manager.show_unit(&bob, &unit).await.expect("show");
    assert_eq!(
        shown.groups.iter().map(|g| g.servers.len()).sum::<usize>(),
        4
    );
    let rec = manager.show_operation(&bob, ops[0]).await.expect("op");
    assert_eq!(rec.summary.state, OperationState::Succeeded);
    let start = manager
        .start_unit(&bob, &unit, OpOptions::default())
        .await
        .expect("start");
    let rec = finish(&manager, &bob, start).await;
    assert_eq!(rec.summary.state, OperationState::Succeeded);
    manager.shutdown(Duration::from_secs(5)).await;
    drop(manager);

    // Once on PostgreSQL, a second migration is refused.
    let err = blocking(|| {
        Manager::migrate_store(
            MigrateOptions::new(state.clone(), url.clone()),
            &mut |_, _| {},
        )
    })
    .expect_err("already on PostgreSQL");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}

#[test]
fn a_migration_into_a_used_database_changes_nothing() {
    let Some(server) = shared_pg() else { return };
    let used = fresh_db(&server, "used");
    let (_other, _other_root) = init_on(&used);
    let (_dir, root) = init_on("sqlite");
    let state = root.join("state");
    let config_before = std::fs::read_to_string(state.join("config.yaml")).expect("config");
    let err = Manager::migrate_store(
        MigrateOptions::new(state.clone(), used.clone()),
        &mut |_, _| {},
    )
    .expect_err("used");
    assert!(matches!(err, OpenError::StoreInUse { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(
        err.to_string().contains("already holds a vsm state"),
        "{err}"
    );
    assert!(state.join(DB_FILE).exists());
    assert_eq!(
        std::fs::read_to_string(state.join("config.yaml")).expect("config"),
        config_before
    );
    // The used database kept its one account.
    assert_eq!(pg_store(&used).accounts().expect("accounts").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_restores_into_a_fresh_database_and_into_sqlite() {
    let Some(server) = shared_pg() else { return };
    let url = fresh_db(&server, "backup_src");
    let (_dir, root) = init_on(&url);
    let state = root.join("state");
    let fake = Arc::new(FakeHypervisor::new().with_root_dir(root.join("machines")));
    let manager = open(&state, &fake).await;
    let (admin, bob) = add_accounts(&manager).await;
    let (unit, ops) = populate(&manager, &root, &bob).await;
    let archive = root.join("backup.tar");
    let info = manager.backup(&admin, &archive).await.expect("backup");
    assert!(
        info.entries.iter().any(|e| e == DB_FILE),
        "{:?}",
        info.entries
    );
    assert!(
        info.entries
            .iter()
            .any(|e| e.starts_with("definitions/versions/")),
        "{:?}",
        info.entries
    );
    let diag = manager
        .diagnostics(&admin, &root.join("diag.tar"))
        .await
        .expect("diagnostics on PostgreSQL");
    assert!(diag.entries.iter().any(|e| e == "summary.json"));
    manager.shutdown(Duration::from_secs(5)).await;
    drop(manager);

    // Into the same, used database: refused, nothing created.
    let again = root.join("again");
    let mut options = RestoreOptions::new(again.clone(), archive.clone());
    options.store = Some(url.clone());
    let err = blocking(|| Manager::restore_with(options, &mut |_, _| {})).expect_err("used");
    assert!(matches!(err, OpenError::StoreInUse { .. }), "{err:?}");
    assert!(!again.exists());

    // Into a fresh database, and into SQLite, from the same archive: the same state.
    let fresh = fresh_db(&server, "backup_dst");
    let on_pg = root.join("restored-pg");
    let mut options = RestoreOptions::new(on_pg.clone(), archive.clone());
    options.store = Some(fresh.clone());
    let mut heard = Vec::new();
    blocking(|| Manager::restore_with(options, &mut |t, n| heard.push((t, n))))
        .expect("restore into PG");
    assert_eq!(heard.len(), copy::TABLES.len());
    assert!(
        !on_pg.join(DB_FILE).exists(),
        "the rows are in the database"
    );
    let on_sqlite = root.join("restored-sqlite");
    let mut options = RestoreOptions::new(on_sqlite.clone(), archive.clone());
    options.store = Some("sqlite".into());
    blocking(|| Manager::restore_with(options, &mut |_, _| {})).expect("restore into SQLite");
    let counts = blocking(|| same_state(&sqlite(&on_sqlite.join(DB_FILE)), &pg_store(&fresh), 0));
    assert_eq!(counts.accounts, 2);
    assert_eq!(counts.units, 1);
    assert_eq!(counts.servers, 4);
    assert_eq!(counts.operations, 2);
    assert!(counts.journal > 0);

    // The restored PostgreSQL manager runs: the unit, its versions, operations.
    let fake2 = Arc::new(FakeHypervisor::new().with_root_dir(root.join("machines2")));
    let manager = open(&on_pg, &fake2).await;
    let bob = login(&manager, "bob", BOB_PW).await;
    let admin = login(&manager, "root", ROOT_PW).await;
    let shown = manager.show_unit(&bob, &unit).await.expect("show");
    assert_eq!(shown.versions.len(), 1);
    assert_eq!(
        shown.groups.iter().map(|g| g.servers.len()).sum::<usize>(),
        4
    );
    let listed: Vec<OperationId> = manager
        .list_operations(&bob, Some(&unit))
        .await
        .expect("ops")
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(listed, [ops[1], ops[0]]);
    let names: Vec<String> = manager
        .list_accounts(&admin)
        .await
        .expect("accounts")
        .iter()
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(names, ["bob", "root"]);
    manager.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn a_url_with_a_password_or_tls_is_refused_with_what_to_do() {
    let err = Settings::parse(
        "config.yaml",
        "store: postgres://vsm:hunter2@db.example:5432/vsm\n",
    )
    .expect_err("a password in the URL");
    let OpenError::Config { problem } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(problem.field.as_deref(), Some("store"));
    assert!(problem.message.contains("carries a password"), "{problem}");
    assert!(problem.message.contains("store_password_file"), "{problem}");
    assert!(problem.message.contains("VSM_STORE_PASSWORD"), "{problem}");
    assert!(!problem.message.contains("hunter2"), "{problem}");

    // libpq's modes that would not check what they seem to (prefer, allow, verify-ca) are
    // refused with the ones to use; sslrootcert only with verify-full, as an absolute path.
    for (url, says) in [
        (
            "postgres://vsm@db.example/vsm?sslmode=prefer",
            "sslmode=prefer",
        ),
        (
            "postgres://vsm@db.example/vsm?sslmode=verify-ca",
            "sslmode=verify-ca",
        ),
        (
            "postgres://vsm@db.example/vsm?sslmode=require&sslrootcert=/ca.pem",
            "only read with sslmode=verify-full",
        ),
        (
            "postgres://vsm@db.example/vsm?sslmode=verify-full&sslrootcert=ca.pem",
            "absolute path",
        ),
    ] {
        let err = Settings::parse("config.yaml", &format!("store: {url}\n")).expect_err(url);
        let OpenError::Config { problem } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(problem.field.as_deref(), Some("store"), "{problem}");
        assert!(problem.message.contains(says), "{url}: {problem}");
        assert!(problem.message.contains("verify-full"), "{url}: {problem}");
    }
    for url in [
        "postgres://vsm@db.example/vsm?sslmode=require",
        "postgres://vsm@db.example/vsm?sslmode=verify-full",
        "postgres://vsm@db.example/vsm?sslmode=verify-full&sslrootcert=/etc/vsm/pg%20ca.pem&connect_timeout=5",
    ] {
        let ok = Settings::parse("config.yaml", &format!("store: {url}\n")).expect(url);
        assert!(ok.pg_target().expect("valid").is_some(), "{url}");
    }

    let ok = Settings::parse(
        "config.yaml",
        "store: postgres://vsm@db.example/vsm?sslmode=disable\n",
    )
    .expect("no password, no TLS");
    assert!(ok.pg_target().expect("valid").is_some());

    // Init refuses it too, before creating anything.
    let dir = tempfile::tempdir().expect("tempdir");
    let state = Utf8PathBuf::from_path_buf(dir.path().join("state")).expect("utf-8");
    let mut init = InitOptions::new(state.clone(), name("root"), Password::new(ROOT_PW));
    init.settings.store = "postgres://vsm:hunter2@127.0.0.1:1/vsm".into();
    let err = Manager::init(init).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(!state.exists());
}

#[test]
fn init_refuses_a_readable_password_file_and_a_used_database() {
    let Some(server) = shared_pg() else { return };
    let url = fresh_db(&server, "init");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
    let pw = root.join("pw");
    std::fs::write(&pw, "anything\n").expect("write");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let options = |state: &str| {
        let mut init = InitOptions::new(root.join(state), name("root"), Password::new(ROOT_PW));
        init.password_cost = PasswordCost::Insecure;
        init.settings.store = url.clone();
        init.settings.store_password_file = Some(pw.to_string());
        init
    };
    let err = Manager::init(options("a")).expect_err("group-readable");
    assert!(matches!(err, OpenError::StorePassword { .. }), "{err:?}");
    assert!(err.to_string().contains("mode 0640"), "{err}");
    assert!(!root.join("a").exists());
    assert!(!copy::holds_state(&pg_store(&url)).expect("check"));

    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Manager::init(options("a")).expect("init");
    let accounts = pg_store(&url).accounts().expect("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].role, Role::Administrator);

    let err = Manager::init(options("b")).expect_err("used");
    assert!(matches!(err, OpenError::StoreInUse { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("database init_"), "{text}");
    assert!(text.contains("vsm manager start"), "{text}");
    assert!(!root.join("b").exists());
}

/// The sessions of database `db` on `pg` whose application is `app`: (how many, how many of
/// them encrypted).
async fn sessions_of(pg: &PgServer, db: &str, app: &str) -> (i64, i64) {
    let client = pg.client().await;
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.application_name = $2",
            &[&db, &app],
        )
        .await
        .expect("pg_stat_ssl");
    (row.get(0), row.get(1))
}

/// `sslmode=verify-full` with the CA that signed the server's certificate: the manager's store
/// and election sessions are encrypted; with another CA nothing is created and the error says
/// the certificate is not trusted; `sslmode=require` encrypts without checking;
/// `sslmode=disable` does not encrypt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_speaks_tls_when_the_url_asks_and_checks_the_certificate() {
    let Some(pg) = blocking(PgServer::start_or_skip) else {
        return;
    };
    let files = blocking(|| pg.enable_tls());
    let fake = Arc::new(FakeHypervisor::new());
    for (db, query, encrypted) in [
        (
            "tls_full",
            format!("sslmode=verify-full&sslrootcert={}", files.ca.display()),
            true,
        ),
        ("tls_require", "sslmode=require".to_owned(), true),
        ("tls_plain", "sslmode=disable".to_owned(), false),
    ] {
        let url = format!("{}?{query}", blocking(|| pg.create_database(db)));
        let (_dir, root) = init_on(&url);
        let manager = open(&root.join("state"), &fake).await;
        let admin = login(&manager, "root", ROOT_PW).await;
        assert_eq!(
            manager.list_accounts(&admin).await.expect("accounts").len(),
            1,
            "{url}"
        );
        for app in ["vsm-manager", "vsm-manager-election"] {
            let (all, tls) = sessions_of(&pg, db, app).await;
            assert!(all >= 1, "{url}: no {app} session");
            assert_eq!(
                tls,
                if encrypted { all } else { 0 },
                "{url}: {tls} of the {all} {app} sessions are encrypted"
            );
        }
        manager.shutdown(Duration::from_secs(2)).await;
    }

    // A CA that did not sign the server's certificate: refused before anything is created.
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        blocking(|| pg.create_database("tls_other")),
        files.other_ca.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let state = Utf8PathBuf::from_path_buf(dir.path().join("state")).expect("utf-8");
    let mut init = InitOptions::new(state.clone(), name("root"), Password::new(ROOT_PW));
    init.password_cost = PasswordCost::Insecure;
    init.settings.store = url.clone();
    let err = blocking(|| Manager::init(init)).expect_err("an untrusted certificate");
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(
        text.to_lowercase().contains("certificate"),
        "{url}: the error should name the certificate: {text}"
    );
    assert!(
        !state.join("config.yaml").exists(),
        "{url}: init left a state"
    );

    // A root file that holds no certificate: the error names the file.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let target = vsm_manager::store::PgTarget::parse(&format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        blocking(|| pg.create_database("tls_empty")),
        empty.display()
    ))
    .expect("url");
    let err = blocking(|| PgStore::open_target(&target)).expect_err("no roots");
    assert!(
        err.to_string().contains(&empty.display().to_string()),
        "{err}"
    );
}
