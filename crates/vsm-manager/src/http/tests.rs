//! Tests of the HTTP API: a real server on 127.0.0.1:0 over a manager on a temporary state
//! directory with the fake hypervisor, driven through the typed client (and raw requests where
//! the client would refuse to send something hostile).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use futures::StreamExt;
use vsm_core::{
    AccountName, DefinitionVersion, GroupName, OperationId, Role, ServerName, TemplateName,
    UnitName,
};
use vsm_hypervisor::error::Operation as HvOp;
use vsm_hypervisor::fake::FakeHypervisor;

use super::archive::ArchiveError;
use super::client::{Client, ClientError, OperationEvent};
use super::routes::{Access, Body, routes};
use super::serve_config::{LoginLimits, ServeConfig, TlsConfig};
use super::server::Server;
use crate::api::*;
use crate::config::PasswordCost;
use crate::{DriverSet, ErrorKind, InitOptions, Manager, ManagerConfig};

pub(super) const ROOT_PW: &str = "root password";
pub(super) const BOB_PW: &str = "bob password";
pub(super) const CAROL_PW: &str = "carol password";

pub(super) const UNIT_FILE: &str = "format: 1
groups:
  - name: web
    template: tpl
    count: 2
    min: 1
    max: 4
    start_order: 1
";

/// A manager and its API server; everything is removed when dropped.
pub(super) struct Env {
    _dir: tempfile::TempDir,
    pub(super) root: Utf8PathBuf,
    pub(super) fake: Arc<FakeHypervisor>,
    pub(super) manager: Manager,
    server: Option<Server>,
    pub(super) url: String,
}

impl Drop for Env {
    fn drop(&mut self) {
        // The server task ends with the test's runtime; cancel its streams now.
        if let Some(server) = self.server.take() {
            drop(server);
        }
    }
}

pub(super) fn name<T: TryFrom<&'static str>>(s: &'static str) -> T
where
    T::Error: std::fmt::Debug,
{
    T::try_from(s).expect("valid name")
}

pub(super) async fn env_with(ttl_secs: u64, login: LoginLimits) -> Env {
    env_full(ttl_secs, login, None).await
}

async fn env_full(ttl_secs: u64, login: LoginLimits, tls: Option<TlsConfig>) -> Env {
    env_serving(
        ttl_secs,
        login,
        tls,
        ServeConfig::default().max_upload_bytes,
    )
    .await
}

/// A manager accepting uploads of at most `max_upload_bytes`.
pub(super) async fn env_with_upload_limit(max_upload_bytes: u64) -> Env {
    env_serving(3600, LoginLimits::default(), None, max_upload_bytes).await
}

async fn env_serving(
    ttl_secs: u64,
    login: LoginLimits,
    tls: Option<TlsConfig>,
    max_upload_bytes: u64,
) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
    let state = root.join("state");
    let mut init = InitOptions::new(state.clone(), name("root"), Password::new(ROOT_PW));
    init.password_cost = PasswordCost::Insecure;
    init.settings.auth.session_ttl_secs = ttl_secs;
    Manager::init(init).expect("init");
    let mut config = ManagerConfig::load(&state).expect("config");
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    // Machines get real root directories, so applies really deliver into them.
    let fake = Arc::new(FakeHypervisor::new().with_root_dir(root.join("machines")));
    let drivers = DriverSet::new()
        .with(DriverKind::Local, fake.clone())
        // Added hosts are too small for any server: they stay empty, so they can be removed.
        .with_factory(Arc::new(crate::testing::FakeHosts::with_capacity(1, 1)));
    let manager = Manager::open(config, drivers).await.expect("open");
    let serve = ServeConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        login,
        tls,
        shutdown_grace: Duration::from_secs(2),
        max_upload_bytes,
        ..ServeConfig::default()
    };
    let server = Server::start(manager.clone(), serve).await.expect("serve");
    let url = server.url();
    Env {
        _dir: dir,
        root,
        fake,
        manager,
        server: Some(server),
        url,
    }
}

pub(super) async fn env() -> Env {
    env_with(3600, LoginLimits::default()).await
}

impl Env {
    pub(super) fn anonymous(&self) -> Client {
        Client::new(&self.url, None).expect("client")
    }

    pub(super) async fn login(&self, user: &'static str, password: &str) -> Client {
        let mut c = self.anonymous();
        let session = c
            .login(&name(user), &Password::new(password))
            .await
            .expect("login");
        c.set_token(Some(session.token));
        c
    }

    pub(super) async fn root(&self) -> Client {
        self.login("root", ROOT_PW).await
    }

    /// root, plus builders bob and carol; returns (root, bob, carol).
    pub(super) async fn people(&self) -> (Client, Client, Client) {
        let root = self.root().await;
        for (n, pw) in [("bob", BOB_PW), ("carol", CAROL_PW)] {
            root.create_account(&AddAccount {
                name: name(n),
                role: Role::Builder,
                password: Password::new(pw),
            })
            .await
            .expect("add account");
        }
        let bob = self.login("bob", BOB_PW).await;
        let carol = self.login("carol", CAROL_PW).await;
        (root, bob, carol)
    }

    pub(super) fn definitions(&self, dirname: &str, body: &str) -> Utf8PathBuf {
        let dir = self.root.join(dirname);
        std::fs::create_dir_all(dir.join("web")).expect("mkdir");
        std::fs::write(
            dir.join("vsm-definition.yaml"),
            "format: 1\ngroups:\n  - name: web\n    files:\n      - { source: web/index.html, target: www/index.html }\n",
        )
        .expect("write manifest");
        std::fs::write(dir.join("web/index.html"), body).expect("write file");
        dir
    }

    /// bob's unit `shop` (group `web`, template `tpl`) with one imported version.
    pub(super) async fn shop(&self, bob: &Client) -> UnitName {
        bob.register_template(&RegisterTemplate {
            name: name("tpl"),
            driver: DriverKind::Local,
            source: "image-1".into(),
        })
        .await
        .expect("register template");
        let unit: UnitName = name("shop");
        bob.create_unit(&CreateUnitFromFile {
            name: unit.clone(),
            file_name: "shop.yaml".into(),
            unit_file: UNIT_FILE.into(),
        })
        .await
        .expect("create unit");
        let dir = self.definitions("defs-v1", "v1");
        bob.import_directory(&unit, &dir).await.expect("import");
        unit
    }
}

pub(super) async fn finish(client: &Client, record: &OperationRecord) -> OperationRecord {
    let rec = client
        .wait_finished(record.summary.id, Duration::from_secs(60))
        .await
        .expect("wait");
    assert!(
        rec.summary.state.is_finished(),
        "operation {} did not finish: {rec:?}",
        rec.summary.id
    );
    rec
}

pub(super) fn api_kind(err: &ClientError) -> ErrorKind {
    err.kind()
        .unwrap_or_else(|| panic!("expected an API error, got {err:?}"))
}

#[tokio::test]
async fn login_whoami_logout_and_wrong_passwords() {
    let env = env().await;
    let health = env.anonymous().health().await.expect("health");
    assert_eq!(health.status, "ok");
    assert_eq!(health.pid, std::process::id());
    let limits = health.limits.expect("limits announced");
    assert_eq!(limits, super::api::UploadLimits::for_upload(1 << 30));
    assert_eq!(
        (
            limits.max_file_bytes,
            limits.max_total_bytes,
            limits.max_entries,
            limits.max_depth
        ),
        (1 << 30, 1 << 30, 100_000, 32)
    );

    let root = env.root().await;
    let me = root.whoami().await.expect("whoami");
    assert_eq!(
        (me.account.as_str(), me.role),
        ("root", Role::Administrator)
    );

    let err = env
        .anonymous()
        .login(&name("root"), &Password::new("wrong password"))
        .await
        .expect_err("wrong password");
    assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
    assert_eq!(err.exit_code(), 77);
    let err = env
        .anonymous()
        .login(&name("nobody"), &Password::new(ROOT_PW))
        .await
        .expect_err("unknown account");
    assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);

    let err = env.anonymous().whoami().await.expect_err("no token");
    assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
    let mut bogus = env.anonymous();
    bogus.set_token(Some("0".repeat(64)));
    assert_eq!(
        api_kind(&bogus.whoami().await.expect_err("bogus token")),
        ErrorKind::Unauthenticated
    );

    root.logout().await.expect("logout");
    let err = root.whoami().await.expect_err("logged out");
    assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
}

#[tokio::test]
async fn failed_logins_are_limited_per_client_address() {
    let limits = LoginLimits {
        window: Duration::from_secs(600),
        max_failures: 3,
        free_failures: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let env = env_with(3600, limits).await;
    // Different accounts, so that only the per-address limit applies.
    for user in ["alice", "dave", "erin"] {
        let err = env
            .anonymous()
            .login(&name(user), &Password::new("guess guess"))
            .await
            .expect_err("unknown account");
        assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
    }
    let err = env
        .anonymous()
        .login(&name("root"), &Password::new(ROOT_PW))
        .await
        .expect_err("locked out");
    assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
    assert!(err.to_string().contains("too many failed logins"), "{err}");
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_by_the_manager() {
    let env = env().await;
    // The manager's default: 5 failures per minute and account.
    for _ in 0..5 {
        env.anonymous()
            .login(&name("root"), &Password::new("wrong password"))
            .await
            .expect_err("wrong");
    }
    let err = env
        .anonymous()
        .login(&name("root"), &Password::new(ROOT_PW))
        .await
        .expect_err("account locked");
    assert!(err.to_string().contains("too many"), "{err}");
}

/// Sessions are answered from memory between changes: deleting an account refuses its
/// session at its next request, and the other sessions go on working.
#[tokio::test]
async fn a_deleted_accounts_session_is_refused_at_its_next_request() {
    let env = env().await;
    let (root, bob, carol) = env.people().await;
    for _ in 0..2 {
        assert_eq!(bob.whoami().await.expect("bob").account.as_str(), "bob");
        assert_eq!(
            carol.whoami().await.expect("carol").account.as_str(),
            "carol"
        );
    }
    root.delete_account(&name("bob")).await.expect("delete bob");
    let err = bob.whoami().await.expect_err("deleted");
    assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
    assert_eq!(
        carol.whoami().await.expect("carol").account.as_str(),
        "carol"
    );
    carol.logout().await.expect("logout");
    assert_eq!(
        api_kind(&carol.whoami().await.expect_err("logged out")),
        ErrorKind::Unauthenticated
    );
    assert_eq!(root.whoami().await.expect("root").account.as_str(), "root");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let env = env_with(1, LoginLimits::default()).await;
    let root = env.root().await;
    root.whoami().await.expect("fresh token works");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = root.whoami().await.expect_err("expired");
    assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn every_route_works_through_the_client() {
    let env = env().await;
    let (root, bob, _carol) = env.people().await;
    let unit = env.shop(&bob).await;
    let web: GroupName = name("web");
    // Changing a password ends the account's sessions: log in again.
    bob.set_password(&name("bob"), &Password::new(BOB_PW))
        .await
        .expect("own password");
    assert_eq!(
        api_kind(&bob.whoami().await.expect_err("session ended")),
        ErrorKind::Unauthenticated
    );
    let bob = env.login("bob", BOB_PW).await;
    let tpl: TemplateName = name("tpl");

    // accounts
    let accounts = root.list_accounts().await.expect("accounts");
    let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["bob", "carol", "root"]);

    // templates
    assert_eq!(bob.list_templates().await.expect("templates").len(), 1);
    let t = bob
        .add_template_generation(&tpl, "image-2")
        .await
        .expect("generation");
    assert_eq!(t.generations.len(), 2);
    assert_eq!(bob.show_template(&tpl).await.expect("show").name, tpl);

    // units and definitions
    let units = bob.list_units(false).await.expect("units");
    assert_eq!(units.len(), 1);
    assert_eq!(root.list_units(true).await.expect("all units").len(), 1);
    let versions = bob.list_versions(&unit).await.expect("versions");
    assert_eq!(versions.len(), 1);
    let v2 = env.definitions("defs-v2", "v2");
    let diff = bob.diff_directory(&unit, &v2).await.expect("diff");
    assert!(!diff.is_empty());
    assert!(
        diff.files.iter().all(|f| f.change == ChangeKind::Modified),
        "{diff:?}"
    );
    let imported = bob.import_directory(&unit, &v2).await.expect("import v2");
    assert!(imported.created);
    let again = bob
        .import_directory(&unit, &v2)
        .await
        .expect("import v2 again");
    assert!(!again.created);
    let out = env.root.join("exported");
    let stats = bob
        .export_to_dir(&unit, Some(versions[0].version), &out)
        .await
        .expect("export");
    assert_eq!(stats.files, 2, "{stats:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("web/index.html")).expect("exported file"),
        "v1"
    );
    let current = bob
        .export_with(&unit, None, |tar| {
            let mut all = Vec::new();
            tar.read_to_end(&mut all).map(|_| all)
        })
        .await
        .expect("archive")
        .expect("read");
    assert!(!current.is_empty());
    // An unknown version is the manager's refusal; nothing is read, no directory is made.
    let missing = env.root.join("never");
    let err = bob
        .export_to_dir(&unit, Some(DefinitionVersion(99)), &missing)
        .await
        .expect_err("no version 99");
    assert_eq!(api_kind(&err), ErrorKind::NotFound, "{err:?}");
    assert!(!missing.exists());

    // operations
    let start = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start");
    assert_eq!(start.summary.kind, OperationKind::UnitStart);
    let start = finish(&bob, &start).await;
    assert_eq!(start.summary.state, OperationState::Succeeded, "{start:?}");
    let detail = bob.show_unit(&unit).await.expect("show unit");
    let servers: Vec<ServerName> = detail
        .groups
        .iter()
        .flat_map(|g| g.servers.iter().map(|s| s.name.clone()))
        .collect();
    assert_eq!(servers.len(), 2, "{detail:?}");
    let apply = bob
        .apply(&unit, &ApplyRequest::default())
        .await
        .expect("apply");
    finish(&bob, &apply).await;
    let scale = bob
        .scale(
            &unit,
            &ScaleRequest {
                group: web.clone(),
                count: 3,
                remove: vec![],
                grace_secs: Some(0),
                wait_secs: Some(10),
            },
        )
        .await
        .expect("scale");
    finish(&bob, &scale).await;
    bob.mark_server(&unit, &servers[0], "disk noise")
        .await
        .expect("mark");
    bob.unmark_server(&unit, &servers[0]).await.expect("unmark");
    bob.server_logs(&unit, &servers[0], Some(10))
        .await
        .expect("logs");
    let stop = bob
        .stop_group(
            &unit,
            &web,
            OpOptions {
                wait_secs: Some(10),
            },
        )
        .await
        .expect("group stop");
    finish(&bob, &stop).await;
    let start = bob
        .start_group(
            &unit,
            &web,
            OpOptions {
                wait_secs: Some(10),
            },
        )
        .await
        .expect("group start");
    finish(&bob, &start).await;
    let rollback = bob
        .rollback(
            &unit,
            OpOptions {
                wait_secs: Some(10),
            },
        )
        .await
        .expect("rollback");
    finish(&bob, &rollback).await;
    let upgrade = bob
        .upgrade(
            &unit,
            &UpgradeRequest {
                wait_secs: Some(10),
                ..UpgradeRequest::default()
            },
        )
        .await
        .expect("upgrade");
    finish(&bob, &upgrade).await;
    // These depend on the group's kind and the server's state: the route must answer with an
    // operation or a classified refusal, never a failure of the service itself.
    let fine = |r: Result<OperationRecord, ClientError>, what: &str| match r {
        Ok(op) => Some(op),
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    Some(ErrorKind::InvalidRequest | ErrorKind::NotFound)
                ),
                "{what}: {e:?}"
            );
            None
        }
    };
    let opts = OpOptions {
        wait_secs: Some(10),
    };
    if let Some(op) = fine(
        bob.recover_server(&unit, &servers[0], opts).await,
        "recover",
    ) {
        finish(&bob, &op).await;
    }
    let attach = AttachRequest {
        address: "192.0.2.7".into(),
        name: None,
        wait_secs: Some(10),
    };
    if let Some(op) = fine(bob.attach(&unit, &web, &attach).await, "attach") {
        finish(&bob, &op).await;
    }
    if let Some(op) = fine(bob.detach(&unit, &web, &servers[1], opts).await, "detach") {
        finish(&bob, &op).await;
    }
    let ops = bob.list_operations(Some(&unit)).await.expect("ops");
    assert!(ops.len() >= 5, "{ops:?}");
    let shown = bob.operation(ops[0].id).await.expect("op show");
    assert_eq!(shown.summary.id, ops[0].id);
    let cancelled = bob.cancel_operation(ops[0].id).await;
    // Cancelling a finished operation is either a no-op or an invalid request.
    if let Err(e) = &cancelled {
        assert_eq!(api_kind(e), ErrorKind::InvalidRequest, "{e:?}");
    }

    // administration
    let log = root.log_config().await.expect("log config");
    let changed = root
        .set_log_config(&LogSettingsChange {
            files: Some(log.files + 1),
            ..LogSettingsChange::default()
        })
        .await
        .expect("set log config");
    assert_eq!(changed.files, log.files + 1);
    let rows = bob.pfm_rows().await.expect("pfm");
    assert!(rows.iter().all(|r| r.unit == unit));
    let metrics = env.anonymous().metrics().await.expect("metrics");
    assert!(metrics.contains("vsm_up 1"), "{metrics}");
    assert!(
        metrics.contains("vsm_operations_total{kind=\"unit_start\",outcome=\"succeeded\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vsm_servers{state=\"working\"}"),
        "{metrics}"
    );
    // Per host: the built-in host holds every server of the unit.
    let now = bob.show_unit(&unit).await.expect("show unit");
    let servers_on_local = now
        .groups
        .iter()
        .flat_map(|g| g.servers.iter())
        .filter(|s| s.host.as_deref() == Some("local"))
        .count();
    assert_eq!(
        servers_on_local,
        now.groups.iter().map(|g| g.servers.len()).sum::<usize>(),
        "{now:?}"
    );
    assert!(
        metrics.contains(&format!(
            "vsm_host_servers{{host=\"local\",state=\"up\"}} {servers_on_local}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("vsm_host_up{host=\"local\",state=\"up\"} 1"),
        "{metrics}"
    );
    for (what, result) in [
        ("backup", root.backup(&env.root.join("backup.tar")).await),
        (
            "diagnostics",
            root.diagnostics(&env.root.join("diag.tar")).await,
        ),
    ] {
        // Not every build of the manager implements these yet: then it says so (500).
        match result {
            Ok(bytes) => assert!(bytes > 0, "{what} is empty"),
            Err(e) => assert_eq!(api_kind(&e), ErrorKind::Failed, "{what}: {e:?}"),
        }
    }

    // ownership and deletion
    root.chown_unit(&unit, &name("carol")).await.expect("chown");
    root.chown_unit(&unit, &name("bob"))
        .await
        .expect("chown back");
    let del = bob
        .delete_unit(
            &unit,
            &DeleteUnitRequest {
                force: true,
                wait_secs: Some(10),
            },
        )
        .await
        .expect("delete unit");
    finish(&bob, &del).await;
    assert_eq!(
        api_kind(&bob.show_unit(&unit).await.expect_err("deleted")),
        ErrorKind::NotFound
    );
    bob.delete_template(&tpl).await.expect("delete template");
    root.delete_account(&name("carol"))
        .await
        .expect("delete account");
}

#[tokio::test]
async fn errors_map_to_kinds_statuses_and_exit_codes() {
    let env = env().await;
    let (_root, bob, carol) = env.people().await;
    let unit = env.shop(&bob).await;

    let err = bob
        .show_unit(&name("nowhere"))
        .await
        .expect_err("unknown unit");
    assert_eq!(api_kind(&err), ErrorKind::NotFound);
    assert!(matches!(err, ClientError::Api { status: 404, .. }));
    assert_eq!(err.exit_code(), 64);

    let err = bob
        .list_units(true)
        .await
        .expect_err("only administrators list all");
    assert_eq!(api_kind(&err), ErrorKind::Forbidden);

    let err = carol.show_unit(&unit).await.expect_err("not carol's");
    assert_eq!(api_kind(&err), ErrorKind::Forbidden);
    assert!(matches!(err, ClientError::Api { status: 403, .. }));
    assert_eq!(err.exit_code(), 77);

    let err = bob
        .create_unit(&CreateUnitFromFile {
            name: name("bad"),
            file_name: "bad.yaml".into(),
            unit_file: "format: 1\ngroups:\n  - name: web\n    colour: blue\n".into(),
        })
        .await
        .expect_err("invalid unit file");
    assert_eq!(api_kind(&err), ErrorKind::InvalidData);
    assert!(matches!(err, ClientError::Api { status: 422, .. }));
    assert_eq!(err.exit_code(), 65);
    let api = err.api().expect("api error");
    assert!(
        api.details.iter().any(|d| d.starts_with("bad.yaml:4")),
        "details name file and line: {api:?}"
    );

    // busy: a start that hangs in the driver holds the unit.
    env.fake.hang(HvOp::Provision);
    let first = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("first start");
    let err = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect_err("busy");
    assert_eq!(api_kind(&err), ErrorKind::Busy);
    assert!(matches!(err, ClientError::Api { status: 423, .. }));
    assert_eq!(err.exit_code(), 2);
    assert_eq!(err.api().and_then(|a| a.operation), Some(first.summary.id));
    env.fake.release_hangs();
    finish(&bob, &first).await;

    // bad request bodies and path segments are invalid requests, not server errors
    let raw = reqwest::Client::new();
    let token = bob.token().expect("token").to_owned();
    let resp = raw
        .post(format!("{}/api/v1/units/{unit}/scale", env.url))
        .bearer_auth(&token)
        .body("{\"group\": 3}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 400);
    let body: super::ErrorBody = resp.json().await.expect("error body");
    assert_eq!(body.error.kind, ErrorKind::InvalidRequest);
    let resp = raw
        .get(format!("{}/api/v1/units/NOT%20A%20NAME", env.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 404);
    let resp = raw
        .get(format!("{}/api/v1/nothing-here", env.url))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 404);

    // a manager that is gone is unreachable (exit 69)
    let server = {
        let mut env = env;
        env.server.take().expect("server")
    };
    let url = server.url();
    server.shutdown().await.expect("shutdown");
    let err = Client::new(&url, None)
        .expect("client")
        .health()
        .await
        .expect_err("down");
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 69);
}

#[tokio::test]
async fn event_stream_delivers_steps_and_a_final_event() {
    let env = env().await;
    let (_root, bob, _carol) = env.people().await;
    let unit = env.shop(&bob).await;
    env.fake.hang(HvOp::Start);
    let op = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start");
    let mut events = bob
        .operation_events(op.summary.id)
        .await
        .expect("subscribe");
    env.fake.release_hangs();
    let mut seen = Vec::new();
    let mut finished = None;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("events keep coming")
    {
        match item.expect("event") {
            OperationEvent::Progress(p) => {
                assert_eq!(p.operation, op.summary.id);
                seen.push(p.kind);
            }
            OperationEvent::Finished(record) => finished = Some(record),
        }
    }
    let record = finished.expect("a final event");
    assert_eq!(record.summary.id, op.summary.id);
    assert!(record.summary.state.is_finished());
    assert!(
        seen.iter()
            .any(|k| matches!(k, ProgressKind::StepFinished { action, .. } if action == "start")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|k| matches!(k, ProgressKind::Finished { .. })),
        "{seen:?}"
    );

    // A finished operation's stream is just the final event.
    let mut again = bob
        .operation_events(op.summary.id)
        .await
        .expect("subscribe again");
    let first = again.next().await.expect("one event").expect("ok");
    assert!(matches!(first, OperationEvent::Finished(_)), "{first:?}");
    assert!(again.next().await.is_none());
}

#[tokio::test]
async fn shutdown_ends_streams_and_long_polls() {
    let mut env = env().await;
    let (_root, bob, _carol) = env.people().await;
    let unit = env.shop(&bob).await;
    env.fake.hang(HvOp::Provision);
    let op = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start");
    let mut events = bob
        .operation_events(op.summary.id)
        .await
        .expect("subscribe");
    let poll = {
        let bob = bob.clone();
        tokio::spawn(async move { bob.wait_operation(op.summary.id, 300).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let server = env.server.take().expect("server");
    tokio::time::timeout(Duration::from_secs(20), server.shutdown())
        .await
        .expect("shutdown within its grace")
        .expect("clean shutdown");
    let record = tokio::time::timeout(Duration::from_secs(20), poll)
        .await
        .expect("long poll ended")
        .expect("task")
        .expect("answered");
    assert_eq!(record.summary.state, OperationState::Running);
    let rest = tokio::time::timeout(Duration::from_secs(20), async {
        let mut n = 0;
        while let Some(item) = events.next().await {
            assert!(!matches!(item, Ok(OperationEvent::Finished(_))));
            n += 1;
        }
        n
    })
    .await
    .expect("stream ended");
    assert!(rest < 1000);
    env.fake.release_hangs();
    env.manager.shutdown(Duration::from_secs(5)).await;
}

/// A raw tar with one entry whose name is written verbatim.
fn raw_tar(entry: &str, kind: tar::EntryType, link: &str) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    {
        let bytes = header.as_old_mut();
        bytes.name[..entry.len()].copy_from_slice(entry.as_bytes());
        bytes.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(1);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.push(b'x');
    out.resize(1024, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[tokio::test]
async fn hostile_uploads_are_refused_and_nothing_escapes() {
    let env = env().await;
    let (_root, bob, _carol) = env.people().await;
    let unit = env.shop(&bob).await;
    let hostile = [
        raw_tar("../../evil", tar::EntryType::Regular, ""),
        raw_tar("/tmp/vsm-evil", tar::EntryType::Regular, ""),
        raw_tar("link", tar::EntryType::Symlink, "../../../etc"),
        raw_tar("hard", tar::EntryType::Link, "/etc/passwd"),
        raw_tar("dev", tar::EntryType::Block, ""),
    ];
    for archive in hostile {
        let err = bob
            .import_archive(&unit, archive)
            .await
            .expect_err("refused");
        assert_eq!(api_kind(&err), ErrorKind::InvalidData, "{err:?}");
        assert_eq!(err.exit_code(), 65);
    }
    assert!(!env.root.join("evil").exists());
    assert!(!Utf8Path::new("/tmp/vsm-evil").exists());
    // Temporary upload directories are cleaned up.
    let tmp = env.manager.state_dir().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(bob.list_versions(&unit).await.expect("versions").len(), 1);
}

/// The actors of the authorization matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Owner,
    Other,
    Admin,
}

fn sample_body(schema: &str, ctx: &BTreeMap<&str, String>) -> serde_json::Value {
    use serde_json::json;
    match schema {
        "LoginRequest" => json!({"user": "nobody", "password": "not a password"}),
        "AddAccount" => {
            json!({"name": "newcomer", "role": "builder", "password": "newcomer password"})
        }
        "PasswordRequest" => json!({"password": BOB_PW}),
        "RegisterTemplate" => json!({"name": "tpl2", "driver": "local", "source": "image-9"}),
        "GenerationRequest" => json!({"source": "image-3"}),
        "CreateUnitFromFile" => {
            json!({"name": "other-unit", "file_name": "u.yaml", "unit_file": UNIT_FILE})
        }
        "Chown" => json!({"to": "bob"}),
        "ApplyRequest" | "OpOptions" | "UpgradeRequest" | "LogSettingsChange" => json!({}),
        "ScaleRequest" => json!({"group": "web", "count": 2}),
        "AttachRequest" => json!({"address": "192.0.2.7"}),
        "MarkRequest" => json!({"comment": "matrix"}),
        "RebalanceRequest" => json!({"dry_run": true}),
        "DrainRequest" => json!({"timeout_secs": 30}),
        "AddHost" => {
            json!({"name": "matrix-host", "driver": "local", "dir": "/nonexistent/vsm-matrix"})
        }
        other => panic!("no sample body for schema {other}: add one to sample_body (ctx {ctx:?})"),
    }
}

fn sample_path(path: &str, ctx: &BTreeMap<&str, String>) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => ctx
                    .get(param)
                    .cloned()
                    .unwrap_or_else(|| panic!("no sample value for path parameter {{{param}}}")),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Routes run last in the matrix because they change who owns or what exists.
fn destructive(name: &str) -> usize {
    match name {
        "chown_unit" => 1,
        "delete_template" => 2,
        "delete_unit" => 3,
        "delete_account" => 4,
        _ => 0,
    }
}

#[tokio::test]
async fn authorization_matrix_covers_every_route() {
    let env = env().await;
    let (root, bob, carol) = env.people().await;
    let unit = env.shop(&bob).await;
    let start = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start");
    let start = finish(&bob, &start).await;
    let detail = bob.show_unit(&unit).await.expect("show");
    let server = detail.groups[0].servers[0].name.clone();
    let archive = super::archive::pack(&env.definitions("defs-matrix", "matrix")).expect("pack");

    let mut ctx = BTreeMap::new();
    ctx.insert("name", "bob".to_owned()); // accounts/{name}; templates use their own below
    ctx.insert("unit", unit.to_string());
    ctx.insert("group", "web".to_owned());
    ctx.insert("server", server.to_string());
    ctx.insert("id", start.summary.id.to_string());
    ctx.insert("version", "current".to_owned());

    let mut tokens: BTreeMap<Who, Option<String>> = [
        (Who::Anonymous, None),
        (Who::Owner, bob.token().map(str::to_owned)),
        (Who::Other, carol.token().map(str::to_owned)),
        (Who::Admin, root.token().map(str::to_owned)),
    ]
    .into_iter()
    .collect();
    let accounts: BTreeMap<Who, vsm_core::Account> = [
        (
            Who::Owner,
            vsm_core::Account::new(name("bob"), Role::Builder),
        ),
        (
            Who::Other,
            vsm_core::Account::new(name("carol"), Role::Builder),
        ),
        (
            Who::Admin,
            vsm_core::Account::new(name("root"), Role::Administrator),
        ),
    ]
    .into_iter()
    .collect();
    let bob_name: AccountName = name("bob");

    let mut table = routes();
    table.sort_by_key(|r| destructive(r.name));
    let raw = reqwest::Client::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for route in &table {
        let mut ctx = ctx.clone();
        if route.path.starts_with("/api/v1/templates/") {
            ctx.insert("name", "tpl".to_owned());
        }
        if route.path.starts_with("/api/v1/hosts/") {
            ctx.insert("name", "local".to_owned());
        }
        let path = sample_path(route.path, &ctx);
        // Denied callers first, so that allowed destructive calls come last.
        for who in [Who::Anonymous, Who::Other, Who::Owner, Who::Admin] {
            let mut token = tokens[&who].clone();
            if matches!(route.name, "logout" | "set_password") && token.is_some() {
                // Logging out and changing a password end sessions: not the matrix's own.
                let (user, pw) = match who {
                    Who::Owner => ("bob", BOB_PW),
                    Who::Other => ("carol", CAROL_PW),
                    _ => ("root", ROOT_PW),
                };
                token = env.login(user, pw).await.token().map(str::to_owned);
            }
            let mut req = raw.request(route.method.clone(), format!("{}{path}", env.url));
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            req = match route.request {
                Body::Empty => req,
                Body::Json(s) | Body::OptionalJson(s) | Body::JsonList(s) => {
                    req.json(&sample_body(s, &ctx))
                }
                Body::Tar => req
                    .header("content-type", "application/x-tar")
                    .body(archive.clone()),
                Body::EventStream | Body::Text => panic!("{} cannot be a request body", route.name),
            };
            if route.response == Body::EventStream {
                req = req.timeout(Duration::from_secs(10));
            }
            let status = req.send().await.expect("send").status().as_u16();
            if route.name == "set_password" {
                // bob's password was (re)set: his sessions ended.
                let fresh = env.login("bob", BOB_PW).await;
                tokens.insert(Who::Owner, fresh.token().map(str::to_owned));
            }
            let expect_allowed = match (route.access, who) {
                (Access::Public, _) => true,
                (_, Who::Anonymous) => false,
                (Access::Session, _) => true,
                (Access::Policy(action), who) => {
                    vsm_core::authorize(&accounts[&who], action, Some(&bob_name)).is_ok()
                }
            };
            let ok = if expect_allowed {
                status != 403 && (status != 401 || route.name == "login")
            } else if who == Who::Anonymous {
                status == 401
            } else {
                status == 403
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {who:?}: status {status}, expected {}",
                    route.method,
                    route.path,
                    if expect_allowed { "allowed" } else { "denied" }
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "authorization mismatches:\n{}",
        failures.join("\n")
    );
    assert_eq!(checked, routes().len() * 4);
}

#[tokio::test]
async fn tls_serves_and_clients_verify_the_certificate() {
    let data = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/testdata");
    let tls = TlsConfig {
        cert: data.join("test-only-cert.pem"),
        key: data.join("test-only-key.pem"),
    };
    let env = env_full(3600, LoginLimits::default(), Some(tls)).await;
    assert!(env.url.starts_with("https://127.0.0.1:"), "{}", env.url);
    let ca = std::fs::read(data.join("test-only-cert.pem")).expect("cert");
    let mut client = Client::with_ca_certificate(&env.url, None, &ca).expect("client");
    assert_eq!(client.health().await.expect("health over TLS").status, "ok");
    let session = client
        .login(&name("root"), &Password::new(ROOT_PW))
        .await
        .expect("login over TLS");
    client.set_token(Some(session.token));
    assert_eq!(
        client.whoami().await.expect("whoami").account.as_str(),
        "root"
    );
    // Without trusting the certificate the manager is unreachable (exit 69).
    let untrusting = Client::with_ca_certificate(&env.url, None, b"").expect("client");
    let err = untrusting.health().await.expect_err("untrusted");
    assert_eq!(err.exit_code(), 69, "{err:?}");
}

#[test]
fn route_table_is_consistent() {
    let table = routes();
    let mut seen = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    for r in &table {
        assert!(
            seen.insert((r.path, r.method.as_str().to_owned())),
            "duplicate route {} {}",
            r.method,
            r.path
        );
        assert!(names.insert(r.name), "duplicate operation name {}", r.name);
        assert!(
            r.path.starts_with("/api/v1/") || r.path == "/metrics",
            "{}",
            r.path
        );
        assert!(!r.summary.is_empty());
        if r.path.starts_with("/api/v1/") && !matches!(r.name, "health" | "login") {
            assert_ne!(r.access, Access::Public, "{} must need a token", r.path);
        }
    }
    // Every schema the table names is in the document.
    let doc = super::openapi::document();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let text = doc.to_string();
    for (i, _) in text.match_indices("#/components/schemas/") {
        let rest = &text[i + "#/components/schemas/".len()..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
        assert!(schemas.contains_key(&name), "missing schema {name}");
    }
}

#[test]
fn openapi_document_is_fresh() {
    let path = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let fresh = super::openapi_json();
    if std::env::var_os("VSM_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &fresh).expect("write docs/openapi.json");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "docs/openapi.json is stale; regenerate it with `VSM_UPDATE_OPENAPI=1 cargo test -p vsm-manager openapi`"
    );
}

#[test]
fn operation_ids_parse_in_paths() {
    // The `{id}` path parameter is an OperationId.
    let id: OperationId = serde_json::from_str("42").expect("id");
    assert_eq!(id, OperationId(42));
}

// ------------------------------------------------------------------ streamed definition uploads

/// A definition directory `dirname` whose served file `web/index.html` holds `size` bytes.
fn sized_definitions(env: &Env, dirname: &str, size: usize) -> Utf8PathBuf {
    let dir = env.definitions(dirname, "");
    std::fs::write(dir.join("web/index.html"), vec![b'x'; size]).expect("write");
    dir
}

/// The limit and the sentence of a directory the client refused to send.
fn over_limit(err: &ClientError) -> (&'static str, String) {
    match err {
        ClientError::Archive(ArchiveError::OverLimit { limit, message }) => {
            (limit, message.clone())
        }
        other => panic!("expected a refusal before sending, got {other:?}"),
    }
}

#[tokio::test]
async fn directories_over_the_announced_limits_are_refused_before_sending() {
    const LIMIT: u64 = 64 * 1024;
    let env = env_with_upload_limit(LIMIT).await;
    let (_root, bob, _carol) = env.people().await;
    let unit = env.shop(&bob).await;
    let limits = env
        .anonymous()
        .upload_limits()
        .await
        .expect("health")
        .expect("announced");
    assert_eq!(limits, super::api::UploadLimits::for_upload(LIMIT));
    assert_eq!(
        (
            limits.max_upload_bytes,
            limits.max_file_bytes,
            limits.max_total_bytes
        ),
        (LIMIT, LIMIT, LIMIT)
    );

    // One file over the per-file limit: named, with the limit, for import and diff alike.
    let big = sized_definitions(&env, "big", LIMIT as usize + 1);
    let err = bob
        .import_directory(&unit, &big)
        .await
        .expect_err("too large");
    assert_eq!(err.exit_code(), 65, "{err:?}");
    let (limit, message) = over_limit(&err);
    assert_eq!(limit, "max_file_bytes");
    let file = big.join("web/index.html");
    assert!(
        message.starts_with(&format!("{file} is 64.0 KiB (65537 bytes)")),
        "{message}"
    );
    assert!(
        message.contains("accepts files up to 64 KiB (max_file_bytes)"),
        "{message}"
    );
    let err = bob
        .diff_directory(&unit, &big)
        .await
        .expect_err("too large");
    assert_eq!(over_limit(&err).0, "max_file_bytes");

    // Every file fits, the archive (files and headers) does not.
    let tight = sized_definitions(&env, "tight", LIMIT as usize - 1024);
    let err = bob
        .import_directory(&unit, &tight)
        .await
        .expect_err("archive too large");
    let (limit, message) = over_limit(&err);
    assert_eq!(limit, "max_upload_bytes", "{message}");
    assert!(
        message.contains(&format!("the archive of {tight}")),
        "{message}"
    );
    assert_eq!(bob.list_versions(&unit).await.expect("versions").len(), 1);

    // A client that does not check first (or a manager that announces nothing) gets the
    // manager's own refusal, which comes before the end of the upload. The manager closes the
    // connection right after it, with the rest of the upload unread, so the answer can be lost
    // with the connection: then the client says the connection was cut during the upload.
    let huge = sized_definitions(&env, "huge", 8 << 20);
    let err = bob
        .import_directory_unchecked(&unit, &huge)
        .await
        .expect_err("refused by the manager");
    match &err {
        ClientError::Api { status, error } => {
            assert_eq!(*status, 413, "{err:?}");
            assert_eq!(error.kind, ErrorKind::InvalidData, "{err:?}");
            assert!(error.message.contains("larger than 65536 bytes"), "{err:?}");
            assert_eq!(err.exit_code(), 65);
        }
        ClientError::UploadCut { sent, .. } => {
            assert!(*sent > LIMIT, "{err:?}");
            assert_eq!(err.exit_code(), 70);
        }
        other => panic!("expected the manager's 413 or a cut upload, got {other:?}"),
    }
    assert_eq!(bob.list_versions(&unit).await.expect("versions").len(), 1);

    // Within the limits the directory is streamed and imported as before.
    let fits = sized_definitions(&env, "fits", 32 * 1024);
    let imported = bob.import_directory(&unit, &fits).await.expect("import");
    assert!(imported.created);
    let out = env.root.join("fits-out");
    bob.export_to_dir(&unit, None, &out).await.expect("export");
    assert_eq!(
        std::fs::read(out.join("web/index.html")).expect("exported"),
        vec![b'x'; 32 * 1024]
    );
}

#[test]
fn a_manager_that_announces_no_limits_still_answers_health() {
    let old = serde_json::json!({"status": "ok", "version": "0.1.0", "pid": 7, "state_dir": "/var/lib/vsm"});
    let health: super::api::Health = serde_json::from_value(old).expect("older health answer");
    assert_eq!(health.limits, None);
    let v = serde_json::to_value(&health).expect("json");
    assert!(v.get("limits").is_none(), "{v}");
}
