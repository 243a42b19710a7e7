//! The store contract: one set of test bodies, each taking a [`Backend`], run against a
//! [`SqliteStore`] in a temporary directory (`store::tests::sqlite::…`) and a [`PgStore`] in a
//! database of its own on a throwaway PostgreSQL (`store::tests::pg::…`, skipped with a printed
//! reason where PostgreSQL is not installed, failing under `CI=true`).

use std::sync::{Arc, Mutex, PoisonError, Weak};

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::model::{
    Group, GroupKind, GroupSpec, HealthPolicy, LogicalStatus, Origin, ProvisionedSpec,
    RecoverPolicy, ScaleInPolicy, Server, Template, Unit,
};
use vsm_core::{
    AccountName, GroupName, HostName, OperationId, Role, ServerName, TemplateGeneration,
    TemplateName, Timestamp, UnitName,
};

use super::{
    AuditEntry, Change, JournalEntry, PgStore, SqliteStore, Store, StoreError, StoredAccount,
    StoredSession,
};
use crate::host::{DriverKind, HostConnection, HostRecord};
use crate::operation::{
    OperationKind, OperationRecord, OperationState, OperationSummary, StepStatus,
};
use crate::testing::pg::PgServer;

/// One backend under test: opens stores on one database and reaches under them.
trait Backend {
    /// Opens a store on the test's database (migrating it).
    fn open(&self) -> Result<Box<dyn Store>, StoreError>;
    /// The schema version the database records.
    fn schema_version(&self) -> i64;
    /// Records `version` as the schema version, as a newer vsm would.
    fn set_schema_version(&self, version: i64);
    /// How many migrations this build has.
    fn migrations(&self) -> usize;
    /// A scratch directory of the test.
    fn scratch(&self) -> &Utf8Path;
}

struct Sqlite {
    _dir: tempfile::TempDir,
    root: Utf8PathBuf,
}

impl Sqlite {
    fn new() -> Sqlite {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf8");
        Sqlite { _dir: dir, root }
    }

    fn db(&self) -> Utf8PathBuf {
        self.root.join("state.db")
    }
}

impl Backend for Sqlite {
    fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(Box::new(SqliteStore::open(&self.db())?))
    }

    fn schema_version(&self) -> i64 {
        let conn = rusqlite::Connection::open(self.db()).expect("open");
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version")
    }

    fn set_schema_version(&self, version: i64) {
        let conn = rusqlite::Connection::open(self.db()).expect("open");
        conn.pragma_update(None, "user_version", version)
            .expect("set version");
    }

    fn migrations(&self) -> usize {
        super::sqlite::MIGRATIONS.len()
    }

    fn scratch(&self) -> &Utf8Path {
        &self.root
    }
}

/// The PostgreSQL server the tests of this process share while any of them runs (each test
/// has a database of its own on it).
pub(super) fn shared_server() -> Option<Arc<PgServer>> {
    static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(server) = shared.upgrade() {
        return Some(server);
    }
    let server = Arc::new(PgServer::start_or_skip()?);
    *shared = Arc::downgrade(&server);
    Some(server)
}

struct Pg {
    url: String,
    scratch: Sqlite,
    // Last: the server outlives the stores the test still holds when it ends.
    _server: Arc<PgServer>,
}

impl Pg {
    /// A new database `name` on the shared server, or `None` (printed) without PostgreSQL.
    fn new(name: &str) -> Option<Pg> {
        let server = shared_server()?;
        let url = server.create_database(name);
        Some(Pg {
            url,
            scratch: Sqlite::new(),
            _server: server,
        })
    }

    /// Runs `sql` on the test's database and returns the first column of the first row.
    fn sql(&self, sql: &str) -> Option<i64> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(conn);
                let rows = client.query(&sql, &[]).await.expect("sql");
                rows.first().map(|r| r.get(0))
            })
    }
}

impl Backend for Pg {
    fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(Box::new(PgStore::open(&self.url)?))
    }

    fn schema_version(&self) -> i64 {
        self.sql("SELECT version FROM schema_version")
            .expect("a version row")
    }

    fn set_schema_version(&self, version: i64) {
        self.sql(&format!(
            "UPDATE schema_version SET version = {version} RETURNING version"
        ));
    }

    fn migrations(&self) -> usize {
        super::pg::MIGRATIONS.len()
    }

    fn scratch(&self) -> &Utf8Path {
        self.scratch.scratch()
    }
}

/// `#[test]`s running each named body against both backends.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&super::Sqlite::new());
                }
            )*
        }
        mod pg {
            $(
                #[test]
                fn $name() {
                    if let Some(backend) = super::Pg::new(stringify!($name)) {
                        super::$name(&backend);
                    }
                }
            )*
        }
    };
}

contract!(
    accounts_and_sessions,
    templates,
    units_and_their_servers,
    operations_journals_and_purges,
    the_audit_log_is_newest_first_and_limited,
    nul_in_audit_text_is_kept_as_u_fffd_by_both_stores,
    hosts,
    a_failed_change_rolls_back_the_whole_write,
    migrations_run_once_and_a_newer_schema_is_refused,
    a_backup_holds_every_row,
);

// ---- records ----

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn account(name: &str) -> AccountName {
    AccountName::new(name).expect("account name")
}

fn acct(name: &str, role: Role) -> StoredAccount {
    StoredAccount {
        name: account(name),
        role,
        password_hash: format!("$argon2id$v=19${name}"),
        created_at: at(1_000),
    }
}

fn session(token: &str, owner: &str, expires: i64) -> StoredSession {
    StoredSession {
        token_hash: token.to_owned(),
        account: account(owner),
        created_at: at(10),
        expires_at: at(expires),
    }
}

fn template(name: &str, owner: &str) -> Template {
    Template::new(
        TemplateName::new(name).expect("template name"),
        account(owner),
        "local",
        format!("/images/{name}.qcow2"),
        at(50),
    )
}

fn server(name: &str, seq: u32) -> Server {
    let mut s = Server::new(
        ServerName::new(name).expect("server name"),
        Origin::Provisioned {
            template: TemplateName::new("base").expect("template name"),
            generation: TemplateGeneration::FIRST,
        },
        seq,
        at(100 + i64::from(seq)),
    );
    s.host = Some("local".into());
    s.epoch = 1;
    s
}

fn group(name: &str, servers: Vec<Server>) -> Group {
    let next_seq = servers.iter().map(|s| s.seq).max().unwrap_or(0) + 1;
    Group {
        spec: GroupSpec {
            name: GroupName::new(name).expect("group name"),
            start_order: 1,
            start_delay_ms: 0,
            health: HealthPolicy::default(),
            recover: RecoverPolicy::None,
            kind: GroupKind::Provisioned(ProvisionedSpec {
                template: TemplateName::new("base").expect("template name"),
                count: 3,
                min: 0,
                max: 10,
                scale_in: ScaleInPolicy::Newest,
                grace_ms: 0,
                placement: Default::default(),
            }),
        },
        servers,
        next_seq,
    }
}

/// Unit `name` of `owner`: group `web` with web-1, web-2 and group `db` with db-1.
fn unit(name: &str, owner: &str) -> Unit {
    Unit {
        name: UnitName::new(name).expect("unit name"),
        owner: account(owner),
        created: at(100),
        groups: vec![
            group("web", vec![server("web-1", 1), server("web-2", 2)]),
            group("db", vec![server("db-1", 1)]),
        ],
        definitions: Vec::new(),
        current: None,
        busy: None,
        tolerate_host_failures: 0,
    }
}

fn server_names(unit: &Unit) -> Vec<(String, String)> {
    unit.servers()
        .map(|(g, s)| (g.spec.name.to_string(), s.name.to_string()))
        .collect()
}

fn operation(id: u64, unit: Option<&str>, created: i64, state: OperationState) -> OperationRecord {
    OperationRecord {
        summary: OperationSummary {
            id: OperationId(id),
            unit: unit.map(|u| UnitName::new(u).expect("unit name")),
            kind: OperationKind::UnitStart,
            state,
            requested_by: Some(account("alice")),
            created_at: at(created),
            finished_at: state.is_finished().then(|| at(created + 5)),
        },
        request: serde_json::json!({ "id": id, "note": "日本語" }),
        servers: Vec::new(),
        warnings: vec![format!("warning of {id}")],
        error: None,
        steps_total: 2,
    }
}

fn entry(id: u64, seq: u64, detail: &str) -> JournalEntry {
    JournalEntry {
        operation: OperationId(id),
        seq,
        at: at(i64::try_from(seq).expect("seq")),
        action: "start".into(),
        group: Some(GroupName::new("web").expect("group name")),
        server: Some(ServerName::new("web-1").expect("server name")),
        status: StepStatus::Started,
        detail: Some(detail.to_owned()),
    }
}

fn audit(n: i64, actor: Option<&str>) -> AuditEntry {
    AuditEntry {
        at: at(n),
        actor: actor.map(account),
        action: format!("action {n}"),
        target: format!("target {n} — ü"),
        result: "ok".into(),
    }
}

fn host(name: &str) -> HostRecord {
    HostRecord::new(
        HostConnection {
            name: HostName::new(name).expect("host name"),
            driver: DriverKind::Local,
            uri: None,
            dir: Some(Utf8PathBuf::from(format!("/var/lib/vsm/{name}"))),
        },
        at(7),
    )
}

fn open(b: &dyn Backend) -> Box<dyn Store> {
    b.open().expect("open the store")
}

fn write(store: &dyn Store, changes: Vec<Change>) {
    store.write(&changes).expect("write");
}

fn with_owners(store: &dyn Store) {
    write(
        store,
        vec![
            Change::InsertAccount(acct("alice", Role::Administrator)),
            Change::InsertAccount(acct("bob", Role::Builder)),
        ],
    );
}

// ---- the contract ----

fn accounts_and_sessions(b: &dyn Backend) {
    let store = open(b);
    assert_eq!(store.accounts().expect("accounts"), vec![]);
    write(
        &*store,
        vec![
            Change::InsertAccount(acct("bob", Role::Builder)),
            Change::InsertAccount(acct("alice", Role::Administrator)),
            Change::InsertAccount(acct("alice-2", Role::Builder)),
        ],
    );
    assert_eq!(
        store.account(&account("alice")).expect("read"),
        Some(acct("alice", Role::Administrator))
    );
    assert_eq!(store.account(&account("carol")).expect("read"), None);
    let names: Vec<String> = store
        .accounts()
        .expect("accounts")
        .into_iter()
        .map(|a| a.name.into_string())
        .collect();
    assert_eq!(names, ["alice", "alice-2", "bob"], "by name, bytewise");

    let err = store
        .write(&[Change::InsertAccount(acct("bob", Role::Administrator))])
        .expect_err("bob exists");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(err.to_string(), "account bob already exists");

    write(
        &*store,
        vec![Change::SetPasswordHash {
            account: account("bob"),
            hash: "new-hash".into(),
        }],
    );
    let bob = store.account(&account("bob")).expect("read").expect("bob");
    assert_eq!(
        (bob.password_hash.as_str(), bob.role),
        ("new-hash", Role::Builder)
    );

    write(
        &*store,
        vec![
            Change::InsertSession(session("t-alice-1", "alice", 500)),
            Change::InsertSession(session("t-alice-2", "alice", 5_000)),
            Change::InsertSession(session("t-bob-1", "bob", 5_000)),
            Change::InsertSession(session("t-bob-2", "bob", 100)),
        ],
    );
    assert_eq!(
        store.session("t-alice-2").expect("read"),
        Some(session("t-alice-2", "alice", 5_000))
    );
    assert_eq!(store.session("nope").expect("read"), None);
    // Expired before 1,000: t-alice-1 (500) and t-bob-2 (100).
    write(&*store, vec![Change::PurgeSessions(at(1_000))]);
    let live = |t: &str| store.session(t).expect("read").is_some();
    assert_eq!(
        [
            live("t-alice-1"),
            live("t-alice-2"),
            live("t-bob-1"),
            live("t-bob-2")
        ],
        [false, true, true, false]
    );
    write(&*store, vec![Change::DeleteSession("t-alice-2".into())]);
    assert!(!live("t-alice-2"));
    write(
        &*store,
        vec![
            Change::InsertSession(session("t-bob-3", "bob", 9_000)),
            Change::DeleteSessionsOf(account("bob")),
        ],
    );
    assert!(!live("t-bob-1") && !live("t-bob-3"));
    // Removing an account takes its sessions along.
    write(
        &*store,
        vec![Change::InsertSession(session("t-alice-3", "alice", 9_000))],
    );
    write(&*store, vec![Change::DeleteAccount(account("alice"))]);
    assert_eq!(store.account(&account("alice")).expect("read"), None);
    assert!(!live("t-alice-3"));
    // A session of an account that does not exist is refused, and is no conflict.
    let err = store
        .write(&[Change::InsertSession(session("t-x", "nobody", 9_000))])
        .expect_err("no such account");
    assert!(!matches!(err, StoreError::Conflict(_)), "{err:?}");
}

fn templates(b: &dyn Backend) {
    let store = open(b);
    write(
        &*store,
        vec![
            Change::InsertTemplate(template("web", "alice")),
            Change::InsertTemplate(template("base", "bob")),
        ],
    );
    let name = |n: &str| TemplateName::new(n).expect("template name");
    assert_eq!(
        store.template(&name("web")).expect("read"),
        Some(template("web", "alice"))
    );
    assert_eq!(store.template(&name("ghost")).expect("read"), None);
    assert_eq!(
        store.templates().expect("list"),
        vec![template("base", "bob"), template("web", "alice")]
    );
    let err = store
        .write(&[Change::InsertTemplate(template("web", "bob"))])
        .expect_err("web exists");
    assert_eq!(err.to_string(), "template web already exists");

    let mut web = template("web", "bob");
    web.add_generation("/images/web-2.qcow2", at(60));
    write(&*store, vec![Change::UpdateTemplate(web.clone())]);
    let read = store.template(&name("web")).expect("read").expect("web");
    assert_eq!(read, web);
    assert_eq!(read.generations.len(), 2);
    assert_eq!(read.owner, account("bob"));

    write(&*store, vec![Change::DeleteTemplate(name("base"))]);
    assert_eq!(store.templates().expect("list"), vec![web]);
}

fn units_and_their_servers(b: &dyn Backend) {
    let store = open(b);
    with_owners(&*store);
    let shop = unit("shop", "alice");
    let name = |n: &str| UnitName::new(n).expect("unit name");
    write(
        &*store,
        vec![
            Change::InsertUnit(shop.clone()),
            Change::InsertUnit(unit("blog", "bob")),
        ],
    );
    assert_eq!(store.unit(&name("shop")).expect("read"), Some(shop.clone()));
    assert_eq!(store.unit(&name("ghost")).expect("read"), None);
    let units = store.units().expect("units");
    assert_eq!(
        units.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ["blog", "shop"]
    );
    assert_eq!(units[1], shop);

    let err = store
        .write(&[Change::InsertUnit(unit("shop", "bob"))])
        .expect_err("shop exists");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(err.to_string(), "unit shop already exists");
    // A unit of an account that does not exist is refused, and is no conflict.
    let err = store
        .write(&[Change::InsertUnit(unit("orphan", "nobody"))])
        .expect_err("no such owner");
    assert!(!matches!(err, StoreError::Conflict(_)), "{err:?}");

    // One server row: rewritten in place, and a new one, which sorts by its sequence number.
    let mut web1 = server("web-1", 1);
    web1.logical = LogicalStatus::Working;
    web1.last_error = Some("was down".into());
    let web3 = server("web-0", 3);
    write(
        &*store,
        vec![
            Change::PutServer {
                unit: name("shop"),
                group: GroupName::new("web").expect("group"),
                server: web1.clone(),
            },
            Change::PutServer {
                unit: name("shop"),
                group: GroupName::new("web").expect("group"),
                server: web3.clone(),
            },
        ],
    );
    let read = store.unit(&name("shop")).expect("read").expect("shop");
    let web = read
        .group(&GroupName::new("web").expect("group"))
        .expect("web");
    assert_eq!(web.servers, vec![web1.clone(), server("web-2", 2), web3]);

    write(
        &*store,
        vec![Change::DeleteServer {
            unit: name("shop"),
            server: ServerName::new("web-2").expect("server"),
        }],
    );
    let read = store.unit(&name("shop")).expect("read").expect("shop");
    assert_eq!(
        server_names(&read),
        [("web", "web-1"), ("web", "web-0"), ("db", "db-1")]
            .map(|(g, s)| (g.to_owned(), s.to_owned()))
    );

    // The unit's own row: a meta write keeps the server rows, even from a unit without them.
    let mut meta = read.clone();
    meta.busy = Some(OperationId(9));
    meta.owner = account("bob");
    for g in &mut meta.groups {
        g.servers.clear();
    }
    write(&*store, vec![Change::PutUnitMeta(meta)]);
    let read = store.unit(&name("shop")).expect("read").expect("shop");
    assert_eq!(read.busy, Some(OperationId(9)));
    assert_eq!(read.owner, account("bob"));
    assert_eq!(server_names(&read).len(), 3);

    // A whole unit: its server rows are replaced by its servers.
    let mut whole = read.clone();
    whole.busy = None;
    whole.groups[0].servers = vec![server("web-7", 7)];
    whole.groups[1].servers.clear();
    write(&*store, vec![Change::PutUnit(whole.clone())]);
    assert_eq!(store.unit(&name("shop")).expect("read"), Some(whole));
    // PutUnit of a new unit inserts it.
    write(&*store, vec![Change::PutUnit(unit("new", "alice"))]);
    assert_eq!(
        store.unit(&name("new")).expect("read"),
        Some(unit("new", "alice"))
    );

    write(&*store, vec![Change::DeleteUnit(name("shop"))]);
    assert_eq!(store.unit(&name("shop")).expect("read"), None);
    assert_eq!(
        store
            .units()
            .expect("units")
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["blog", "new"]
    );
    // A unit made again under the name has none of the old one's servers.
    let mut empty = unit("shop", "alice");
    for g in &mut empty.groups {
        g.servers.clear();
    }
    write(&*store, vec![Change::InsertUnit(empty.clone())]);
    assert_eq!(store.unit(&name("shop")).expect("read"), Some(empty));
}

fn operations_journals_and_purges(b: &dyn Backend) {
    let store = open(b);
    assert_eq!(store.max_operation_id().expect("max"), 0);
    assert_eq!(store.operations(None, 10).expect("ops"), vec![]);
    for (id, unit, created) in [
        (1, Some("shop"), 1_000),
        (2, None, 1_000),
        (3, Some("shop"), 9_000),
        (4, Some("blog"), 9_500),
    ] {
        write(
            &*store,
            vec![
                Change::PutOperation(operation(id, unit, created, OperationState::Running)),
                Change::Journal(entry(id, 2, "second")),
                Change::Journal(entry(id, 1, "first")),
            ],
        );
    }
    // Ending 1, 3 and 4 rewrites their records and keeps their journals.
    for (id, unit, created) in [
        (1, Some("shop"), 1_000),
        (3, Some("shop"), 9_000),
        (4, Some("blog"), 9_500),
    ] {
        write(
            &*store,
            vec![Change::PutOperation(operation(
                id,
                unit,
                created,
                OperationState::Succeeded,
            ))],
        );
    }
    assert_eq!(store.max_operation_id().expect("max"), 4);
    assert_eq!(
        store.operation(OperationId(3)).expect("read"),
        Some(operation(3, Some("shop"), 9_000, OperationState::Succeeded))
    );
    assert_eq!(store.operation(OperationId(99)).expect("read"), None);
    let ids = |ops: Vec<OperationSummary>| ops.into_iter().map(|o| o.id.0).collect::<Vec<_>>();
    assert_eq!(ids(store.operations(None, 10).expect("ops")), [4, 3, 2, 1]);
    assert_eq!(ids(store.operations(None, 2).expect("ops")), [4, 3]);
    assert_eq!(
        ids(store.operations(None, usize::MAX).expect("ops")).len(),
        4
    );
    assert_eq!(
        ids(store.operations(None, 0).expect("ops")),
        Vec::<u64>::new()
    );
    let shop = UnitName::new("shop").expect("unit");
    assert_eq!(ids(store.operations(Some(&shop), 10).expect("ops")), [3, 1]);
    assert_eq!(
        store
            .operations(Some(&shop), 1)
            .expect("ops")
            .first()
            .map(|o| o.state),
        Some(OperationState::Succeeded)
    );
    assert_eq!(
        store.running_operations().expect("running"),
        vec![operation(2, None, 1_000, OperationState::Running)]
    );

    let journal = |id| store.journal(OperationId(id)).expect("journal");
    assert_eq!(
        journal(1),
        vec![entry(1, 1, "first"), entry(1, 2, "second")],
        "in sequence order"
    );
    // Journaling a sequence number again replaces that entry.
    write(&*store, vec![Change::Journal(entry(1, 2, "again"))]);
    assert_eq!(journal(1), vec![entry(1, 1, "first"), entry(1, 2, "again")]);
    // A journal entry of an operation that does not exist is refused.
    assert!(store.write(&[Change::Journal(entry(77, 1, "x"))]).is_err());

    // Purging before 5,000 takes the journal of the ended operation created before it (1),
    // not of the running one (2) nor of later ones (3, 4); the records stay.
    write(&*store, vec![Change::PurgeJournals(at(5_000))]);
    let rows = |id| journal(id).len();
    assert_eq!((rows(1), rows(2), rows(3), rows(4)), (0, 2, 2, 2));
    assert_eq!(
        store
            .operation(OperationId(1))
            .expect("read")
            .map(|o| o.summary.state),
        Some(OperationState::Succeeded)
    );
}

/// PostgreSQL's `text` cannot hold NUL: both stores keep it as U+FFFD, so that a state
/// copied from one store to the other (`migrate-store`, a restore) compares equal.
fn nul_in_audit_text_is_kept_as_u_fffd_by_both_stores(b: &dyn Backend) {
    let store = open(b);
    let mut entry = audit(1, Some("alice"));
    entry.action = "unit\0import".into();
    entry.target = "\0shop".into();
    entry.result = "failed: a\0b".into();
    write(&*store, vec![Change::Audit(entry)]);
    let kept = store.audit_log(1).expect("audit");
    assert_eq!(
        (
            kept[0].action.as_str(),
            kept[0].target.as_str(),
            kept[0].result.as_str()
        ),
        ("unit\u{FFFD}import", "\u{FFFD}shop", "failed: a\u{FFFD}b")
    );
}

fn the_audit_log_is_newest_first_and_limited(b: &dyn Backend) {
    let store = open(b);
    assert_eq!(store.audit_log(10).expect("audit"), vec![]);
    write(
        &*store,
        vec![
            Change::Audit(audit(1, Some("alice"))),
            Change::Audit(audit(2, None)),
        ],
    );
    // Insertion order decides, not the time stamp.
    write(
        &*store,
        vec![
            Change::Audit(audit(0, Some("bob"))),
            Change::Audit(audit(4, None)),
            Change::Audit(audit(3, Some("alice"))),
        ],
    );
    assert_eq!(
        store.audit_log(3).expect("audit"),
        vec![
            audit(3, Some("alice")),
            audit(4, None),
            audit(0, Some("bob"))
        ]
    );
    let all = store.audit_log(usize::MAX).expect("audit");
    assert_eq!(
        all.iter().map(|a| a.at.as_millis()).collect::<Vec<_>>(),
        [3, 4, 0, 2, 1]
    );
    assert_eq!(all[4], audit(1, Some("alice")));
    assert_eq!(store.audit_log(0).expect("audit"), vec![]);
}

fn hosts(b: &dyn Backend) {
    let store = open(b);
    assert_eq!(store.hosts().expect("hosts"), vec![]);
    write(
        &*store,
        vec![
            Change::PutHost(host("node-b")),
            Change::PutHost(host("node-a")),
        ],
    );
    assert_eq!(
        store.hosts().expect("hosts"),
        vec![host("node-a"), host("node-b")]
    );
    // A put of an existing host replaces it.
    let mut b2 = host("node-b");
    b2.labels.insert("rack".into(), "r2".into());
    b2.last_error = Some("unreachable".into());
    b2.down_confirmed = true;
    write(&*store, vec![Change::PutHost(b2.clone())]);
    assert_eq!(
        store.hosts().expect("hosts"),
        vec![host("node-a"), b2.clone()]
    );
    write(
        &*store,
        vec![Change::DeleteHost(HostName::new("node-a").expect("host"))],
    );
    assert_eq!(store.hosts().expect("hosts"), vec![b2]);
}

fn a_failed_change_rolls_back_the_whole_write(b: &dyn Backend) {
    let store = open(b);
    write(
        &*store,
        vec![Change::InsertAccount(acct("alice", Role::Administrator))],
    );
    let before_audit = store.audit_log(10).expect("audit");
    // The last change conflicts: nothing of the write stays.
    let err = store
        .write(&[
            Change::InsertAccount(acct("bob", Role::Builder)),
            Change::PutHost(host("node-a")),
            Change::Audit(audit(1, None)),
            Change::InsertAccount(acct("alice", Role::Builder)),
        ])
        .expect_err("alice exists");
    assert_eq!(err.to_string(), "account alice already exists");
    assert_eq!(
        store.accounts().expect("accounts"),
        vec![acct("alice", Role::Administrator)]
    );
    assert_eq!(store.hosts().expect("hosts"), vec![]);
    assert_eq!(store.audit_log(10).expect("audit"), before_audit);

    // A failure that is no conflict (a server of a unit that does not exist) does the same.
    let err = store
        .write(&[
            Change::InsertUnit(unit("shop", "alice")),
            Change::PutOperation(operation(1, Some("shop"), 1, OperationState::Running)),
            Change::PutServer {
                unit: UnitName::new("ghost").expect("unit"),
                group: GroupName::new("web").expect("group"),
                server: server("web-1", 1),
            },
        ])
        .expect_err("no such unit");
    assert!(!matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.units().expect("units"), vec![]);
    assert_eq!(store.max_operation_id().expect("max"), 0);

    // The store goes on working after a failed write.
    write(&*store, vec![Change::InsertUnit(unit("shop", "alice"))]);
    assert_eq!(store.units().expect("units"), vec![unit("shop", "alice")]);
    // An empty write is nothing.
    store.write(&[]).expect("empty write");
}

fn migrations_run_once_and_a_newer_schema_is_refused(b: &dyn Backend) {
    let supported = i64::try_from(b.migrations()).expect("count");
    {
        let store = open(b);
        with_owners(&*store);
        write(&*store, vec![Change::InsertUnit(unit("shop", "alice"))]);
    }
    assert_eq!(b.schema_version(), supported);
    // Reopening runs no migration again (it would fail on the existing tables) and keeps
    // every row.
    {
        let store = open(b);
        assert_eq!(store.accounts().expect("accounts").len(), 2);
        assert_eq!(store.units().expect("units"), vec![unit("shop", "alice")]);
    }
    assert_eq!(b.schema_version(), supported);

    b.set_schema_version(supported + 1);
    let Err(err) = b.open() else {
        panic!("a store with a newer schema opened");
    };
    assert!(
        matches!(err, StoreError::TooNew { found, supported: s } if found == supported + 1 && s == supported),
        "{err:?}"
    );
    assert!(err.to_string().contains("use a newer vsm"), "{err}");
    // Refusing changed nothing.
    assert_eq!(b.schema_version(), supported + 1);
}

/// Everything a store shows, through the trait.
#[derive(Debug, PartialEq)]
struct Dump {
    accounts: Vec<StoredAccount>,
    sessions: Vec<Option<StoredSession>>,
    templates: Vec<Template>,
    hosts: Vec<HostRecord>,
    units: Vec<Unit>,
    operations: Vec<Option<OperationRecord>>,
    journals: Vec<Vec<JournalEntry>>,
    running: Vec<OperationRecord>,
    max_operation_id: u64,
    audit: Vec<AuditEntry>,
}

fn dump(store: &dyn Store, tokens: &[&str]) -> Dump {
    let ids: Vec<OperationId> = store
        .operations(None, usize::MAX)
        .expect("ops")
        .into_iter()
        .map(|o| o.id)
        .collect();
    Dump {
        accounts: store.accounts().expect("accounts"),
        sessions: tokens
            .iter()
            .map(|t| store.session(t).expect("session"))
            .collect(),
        templates: store.templates().expect("templates"),
        hosts: store.hosts().expect("hosts"),
        units: store.units().expect("units"),
        operations: ids
            .iter()
            .map(|id| store.operation(*id).expect("operation"))
            .collect(),
        journals: ids
            .iter()
            .map(|id| store.journal(*id).expect("journal"))
            .collect(),
        running: store.running_operations().expect("running"),
        max_operation_id: store.max_operation_id().expect("max"),
        audit: store.audit_log(usize::MAX).expect("audit"),
    }
}

fn a_backup_holds_every_row(b: &dyn Backend) {
    let store = open(b);
    with_owners(&*store);
    write(
        &*store,
        vec![
            Change::InsertSession(session("t-1", "alice", 9_000)),
            Change::InsertSession(session("t-2", "bob", 9_000)),
            Change::InsertTemplate(template("base", "alice")),
            Change::PutHost(host("node-a")),
            Change::InsertUnit(unit("shop", "alice")),
            Change::InsertUnit(unit("blog", "bob")),
            Change::PutOperation(operation(1, Some("shop"), 1, OperationState::Succeeded)),
            Change::PutOperation(operation(2, None, 2, OperationState::Running)),
            Change::Journal(entry(1, 1, "a")),
            Change::Journal(entry(1, 2, "b")),
            Change::Journal(entry(2, 1, "c")),
            Change::Audit(audit(5, Some("alice"))),
            Change::Audit(audit(1, None)),
        ],
    );
    let tokens = ["t-1", "t-2", "t-none"];
    let before = dump(&*store, &tokens);
    assert_eq!(before.units.len(), 2);
    assert_eq!(
        before.journals,
        vec![
            vec![entry(2, 1, "c")],
            vec![entry(1, 1, "a"), entry(1, 2, "b")]
        ]
    );

    let dest = b.scratch().join("backup.db");
    store.backup_to(&dest).expect("backup");
    // The store goes on after its backup, and the backup does not follow it.
    write(&*store, vec![Change::Audit(audit(9, None))]);
    let copy = SqliteStore::open(&dest).expect("open the backup");
    assert_eq!(dump(&copy, &tokens), before);
    assert_eq!(copy.audit_log(usize::MAX).expect("audit").len(), 2);
}
