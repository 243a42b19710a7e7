//! Applying to local server roots: content, idempotence, atomicity, batches, rolling, health.

use std::fs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use camino::Utf8PathBuf;
use vsm_core::{GroupName, ServerAddress, ServerName, UpdateScope};
use vsm_deploy::{
    AppliedRecord, BatchOptions, BatchSize, ChangeSet, CommandOutput, Definition, DesiredState,
    GroupPlan, HealthCheck, HealthProbe, LocalTransport, Outcome, Progress, RollingOptions,
    ScanLimits, ServerJob, SnapshotStore, Transport, TransportError, apply_batch, apply_to_server,
    health_check, no_progress, rolling_apply,
};

use crate::fixtures::{Tmp, ctx, read_tree, shop, tmp, write_tree};

struct Setup {
    src: Tmp,
    _store_dir: Tmp,
    store: SnapshotStore,
    servers: Tmp,
}

fn setup() -> Setup {
    let (src, store_dir, servers) = (tmp(), tmp(), tmp());
    shop(&src.path);
    let store = SnapshotStore::open(&store_dir.path).expect("open");
    Setup {
        src,
        _store_dir: store_dir,
        store,
        servers,
    }
}

impl Setup {
    fn import(&self) -> Definition {
        self.store
            .import(&self.src.path, &ScanLimits::default())
            .expect("import")
            .definition
    }

    fn root(&self, name: &str) -> Utf8PathBuf {
        let p = self.servers.path.join(name);
        fs::create_dir_all(&p).expect("mkdir");
        p
    }

    fn desired(&self, def: &Definition, group: &str, server: &str) -> DesiredState {
        let plan = GroupPlan::new(&self.store, def, &GroupName::new(group).unwrap()).expect("plan");
        plan.for_server(&ctx(group, server, "127.0.0.11"))
            .expect("render")
    }
}

fn applied_version(root: &camino::Utf8Path) -> AppliedRecord {
    serde_json::from_slice(&fs::read(root.join(".vsm/applied.json")).expect("record"))
        .expect("parses")
}

#[tokio::test]
async fn apply_renders_and_reapply_sends_nothing() {
    let s = setup();
    let v1 = s.import();
    let root = s.root("web-1");
    let t = LocalTransport::new(root.clone());
    let desired = s.desired(&v1, "web", "web-1");
    let r = apply_to_server(&t, &desired).await.expect("apply");
    assert_eq!((r.scope, r.written, r.removed), (UpdateScope::All, 4, 0));
    let tree = read_tree(&root);
    assert_eq!(tree["www/index.html"], ("<h1>shop</h1>\n".into(), 0o644));
    assert_eq!(
        tree["conf/site.conf"],
        ("name=web-1\nbackends=127.0.0.21\nsay=hello\n".into(), 0o600)
    );
    assert_eq!(tree["apps/shop.txt"].0, "shop v1\n");
    assert!(
        !tree.contains_key("README"),
        "unreferenced files are not deployed"
    );
    assert!(
        !root
            .join(".vsm/staging")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );

    // Same version again: nothing travels.
    let again = apply_to_server(&t, &desired).await.expect("re-apply");
    assert_eq!(
        (again.scope, again.written, again.removed),
        (UpdateScope::None, 0, 0)
    );

    // An application-only change: one file travels, scope "applications".
    write_tree(&s.src.path, &[("packages/shop.txt", "shop v2\n")]);
    let v2 = s.import();
    let r = apply_to_server(&t, &s.desired(&v2, "web", "web-1"))
        .await
        .expect("update");
    assert_eq!((r.scope, r.written), (UpdateScope::Applications, 1));
    assert_eq!(read_tree(&root)["apps/shop.txt"].0, "shop v2\n");
    assert_eq!(applied_version(&root).version, v2.id);

    // A removed static file is removed from the server.
    fs::remove_file(s.src.path.join("web/static/img/logo.txt")).expect("rm");
    let v3 = s.import();
    let r = apply_to_server(&t, &s.desired(&v3, "web", "web-1"))
        .await
        .expect("update");
    assert_eq!((r.scope, r.written, r.removed), (UpdateScope::All, 0, 1));
    assert!(!root.join("www/img/logo.txt").exists());
}

#[tokio::test]
async fn failed_switch_leaves_previous_version_in_place() {
    let s = setup();
    let v1 = s.import();
    let root = s.root("web-1");
    let t = LocalTransport::new(root.clone());
    apply_to_server(&t, &s.desired(&v1, "web", "web-1"))
        .await
        .expect("v1");
    let before = read_tree(&root);

    // v2 changes two files and adds one whose parent is a regular file on the server.
    write_tree(
        &s.src.path,
        &[
            ("packages/shop.txt", "shop v2\n"),
            ("web/static/index.html", "v2"),
            ("web/static/zz/new.txt", "new"),
        ],
    );
    let v2 = s.import();
    fs::write(root.join("www/zz"), "in the way").expect("blocker");
    let mut before_with_blocker = before.clone();
    before_with_blocker.insert("www/zz".into(), ("in the way".into(), 0o644));
    let err = apply_to_server(&t, &s.desired(&v2, "web", "web-1"))
        .await
        .expect_err("must fail");
    let chain = vsm_deploy::batch::error_chain(&err);
    assert!(chain.contains("put back"), "{chain}");
    assert_eq!(read_tree(&root), before_with_blocker);
    assert_eq!(applied_version(&root).version, v1.id);
    assert_eq!(
        fs::read_dir(root.join(".vsm/staging"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );

    // Once the blocker is gone, the same apply succeeds.
    fs::remove_file(root.join("www/zz")).expect("rm");
    let r = apply_to_server(&t, &s.desired(&v2, "web", "web-1"))
        .await
        .expect("v2");
    assert_eq!(r.written, 3);
    assert_eq!(read_tree(&root)["www/zz/new.txt"].0, "new");
}

#[tokio::test]
async fn interrupted_transaction_is_rolled_back_before_next_use() {
    let s = setup();
    let v1 = s.import();
    let root = s.root("web-1");
    let t = LocalTransport::new(root.clone());
    apply_to_server(&t, &s.desired(&v1, "web", "web-1"))
        .await
        .expect("v1");
    let before = read_tree(&root);
    // Simulate a crash mid-switch: index.html moved aside and the new one switched in,
    // the log written, but no commit.
    let st = root.join(".vsm/staging/crashed");
    fs::create_dir_all(st.join("backup/www")).expect("mkdir");
    fs::create_dir_all(st.join("files/apps")).expect("mkdir");
    fs::write(st.join("log"), "W www/index.html\nW apps/shop.txt\n").expect("log");
    fs::rename(
        root.join("www/index.html"),
        st.join("backup/www/index.html"),
    )
    .expect("aside");
    fs::write(root.join("www/index.html"), "half-applied").expect("new");
    fs::write(st.join("files/apps/shop.txt"), "not yet switched").expect("staged");
    let rec = t.read_applied().await.expect("read").expect("record");
    assert_eq!(rec.version, v1.id);
    assert_eq!(read_tree(&root), before);
    assert!(!st.exists());
}

#[tokio::test]
async fn activation_runs_once_and_again_after_failure() {
    let s = setup();
    let manifest = crate::fixtures::MANIFEST.replace(
        "  - name: app\n",
        "    activate: { command: \"echo run >> activations.log; test ! -e fail\" }\n  - name: app\n",
    );
    write_tree(&s.src.path, &[("vsm-definition.yaml", &manifest)]);
    let v1 = s.import();
    let root = s.root("web-1");
    let t = LocalTransport::new(root.clone());
    let d = s.desired(&v1, "web", "web-1");
    assert!(apply_to_server(&t, &d).await.expect("apply").activated);
    assert!(!apply_to_server(&t, &d).await.expect("re-apply").activated);
    assert_eq!(
        fs::read_to_string(root.join("activations.log")).expect("log"),
        "run\n"
    );

    write_tree(&s.src.path, &[("packages/shop.txt", "v2")]);
    let v2 = s.import();
    let d2 = s.desired(&v2, "web", "web-1");
    fs::write(root.join("fail"), "").expect("make activation fail");
    let err = apply_to_server(&t, &d2)
        .await
        .expect_err("activation fails");
    assert!(
        matches!(err, vsm_deploy::ApplyError::Activation { .. }),
        "{err}"
    );
    assert!(applied_version(&root).activation_pending);
    fs::remove_file(root.join("fail")).expect("rm");
    let r = apply_to_server(&t, &d2).await.expect("retry");
    assert_eq!((r.written, r.activated), (0, true));
    assert!(!applied_version(&root).activation_pending);
}

/// Delegates to a local transport but fails pushes when told to.
#[derive(Debug)]
struct Flaky {
    inner: LocalTransport,
    fail: Arc<Mutex<bool>>,
}

#[async_trait]
impl Transport for Flaky {
    fn describe(&self) -> String {
        format!("flaky {}", self.inner.describe())
    }
    async fn read_applied(&self) -> Result<Option<AppliedRecord>, TransportError> {
        self.inner.read_applied().await
    }
    async fn push(&self, change: &ChangeSet) -> Result<(), TransportError> {
        if *self.fail.lock().unwrap() {
            return Err(TransportError::Failed("injected failure".into()));
        }
        self.inner.push(change).await
    }
    async fn write_applied(&self, record: &AppliedRecord) -> Result<(), TransportError> {
        self.inner.write_applied(record).await
    }
    async fn run(&self, command: &str, timeout: Duration) -> Result<CommandOutput, TransportError> {
        self.inner.run(command, timeout).await
    }
}

fn jobs(
    s: &Setup,
    def: &Definition,
    prev: Option<&Definition>,
    n: usize,
    failing: &[usize],
) -> (Vec<ServerJob>, Vec<Arc<Mutex<bool>>>) {
    let mut jobs = Vec::new();
    let mut switches = Vec::new();
    for i in 1..=n {
        let name = format!("web-{i}");
        let fail = Arc::new(Mutex::new(failing.contains(&i)));
        switches.push(fail.clone());
        jobs.push(ServerJob {
            server: ServerName::new(name.clone()).unwrap(),
            address: Some(ServerAddress::new("127.0.0.1").unwrap()),
            transport: Arc::new(Flaky {
                inner: LocalTransport::new(s.root(&name)).with_fsync(false),
                fail,
            }),
            desired: Arc::new(s.desired(def, "web", &name)),
            previous: prev.map(|p| Arc::new(s.desired(p, "web", &name))),
        });
    }
    (jobs, switches)
}

#[tokio::test]
async fn batch_outcomes() {
    let s = setup();
    let v1 = s.import();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let progress: vsm_deploy::ProgressFn = Arc::new(move |p| ev.lock().unwrap().push(p));
    let (js, _) = jobs(&s, &v1, None, 5, &[2, 4]);
    let opts = BatchOptions {
        concurrency: 2,
        health_check: false,
    };
    let report = apply_batch(&js, &opts, progress).await;
    assert_eq!(report.outcome(), Outcome::PartlyDone);
    let failed: Vec<&str> = report.failures().map(|(s, _)| s.as_str()).collect();
    assert_eq!(failed, vec!["web-2", "web-4"]);
    let done = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Progress::ServerDone { .. }))
        .count();
    assert_eq!(done, 3);
    assert!(!s.servers.path.join("web-2/www").exists());

    let s = setup();
    let v1 = s.import();
    let (js, _) = jobs(&s, &v1, None, 2, &[1, 2]);
    assert_eq!(
        apply_batch(&js, &opts, no_progress()).await.outcome(),
        Outcome::Failed
    );
    let (js, _) = jobs(&s, &v1, None, 2, &[]);
    assert_eq!(
        apply_batch(&js, &opts, no_progress()).await.outcome(),
        Outcome::AllDone
    );
}

#[tokio::test]
async fn rolling_aborts_and_puts_touched_servers_back() {
    let s = setup();
    let v1 = s.import();
    let (js, _) = jobs(&s, &v1, None, 4, &[]);
    assert_eq!(
        apply_batch(&js, &BatchOptions::default(), no_progress())
            .await
            .outcome(),
        Outcome::AllDone
    );
    let v1_trees: Vec<_> = (1..=4)
        .map(|i| read_tree(&s.servers.path.join(format!("web-{i}"))))
        .collect();

    write_tree(&s.src.path, &[("web/static/index.html", "v2")]);
    let v2 = s.import();
    // web-2 fails: with batches of 1 and the default budget, batch 2 aborts the roll-out.
    let (js, _) = jobs(&s, &v2, Some(&v1), 4, &[2]);
    let opts = RollingOptions {
        batch: BatchSize::Count(1),
        concurrency: 1,
        ..RollingOptions::default()
    };
    let report = rolling_apply(&js, &opts, None, no_progress()).await;
    assert_eq!(report.batches.len(), 2);
    assert!(report.aborted.is_some());
    assert_eq!(
        report
            .untouched
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        vec!["web-3", "web-4"]
    );
    assert_eq!(report.rolled_back.len(), 2);
    assert_eq!(report.outcome(), Outcome::PartlyDone);
    for i in 1..=4 {
        let root = s.servers.path.join(format!("web-{i}"));
        assert_eq!(read_tree(&root), v1_trees[i - 1], "web-{i} is back on v1");
        assert_eq!(applied_version(&root).version, v1.id);
    }

    // With a 50% budget and no rollback, one failure in four does not abort.
    let opts = RollingOptions {
        batch: BatchSize::Percent(50),
        max_unhealthy_percent: Some(50),
        rollback: false,
        ..RollingOptions::default()
    };
    let report = rolling_apply(&js, &opts, None, no_progress()).await;
    assert!(report.aborted.is_none());
    assert_eq!(report.outcome(), Outcome::PartlyDone);
    assert_eq!(
        read_tree(&s.servers.path.join("web-4"))["www/index.html"].0,
        "v2"
    );
}

#[tokio::test]
async fn health_checks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 1024];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let status = if req.starts_with("GET /health ") {
                "200 OK"
            } else {
                "404 Not Found"
            };
            let _ = sock
                .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                .await;
        }
    });
    let check = |probe| HealthCheck {
        probe,
        timeout: Duration::from_millis(600),
        interval: Duration::from_millis(100),
    };
    let ok = check(HealthProbe::Http {
        port,
        path: "/health".into(),
        status: 200,
    });
    health_check(&ok, "127.0.0.1", None).await.expect("healthy");
    let wrong = check(HealthProbe::Http {
        port,
        path: "/other".into(),
        status: 200,
    });
    let e = health_check(&wrong, "127.0.0.1", None)
        .await
        .expect_err("404");
    assert!(e.last.contains("404"), "{e}");
    health_check(&check(HealthProbe::Tcp { port }), "127.0.0.1", None)
        .await
        .expect("tcp");
    server.abort();
    let _ = server.await;
    // Nothing listens any more.
    let e = health_check(&check(HealthProbe::Tcp { port }), "127.0.0.1", None)
        .await
        .expect_err("closed");
    assert!(e.attempts >= 2, "{e}");
    let t = tmp();
    let lt = LocalTransport::new(t.path.clone());
    health_check(
        &check(HealthProbe::Command {
            command: "true".into(),
        }),
        "127.0.0.1",
        Some(&lt),
    )
    .await
    .expect("command");
    assert!(
        health_check(
            &check(HealthProbe::Command {
                command: "exit 3".into()
            }),
            "127.0.0.1",
            Some(&lt)
        )
        .await
        .is_err()
    );
}
