//! The outbox against a stand-in `jevsend`: a shell script, written by the test into a temporary
//! directory, that records its arguments (NUL-separated, one record per run) and exits 1 while a
//! `fail` flag file exists.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{GroupName, OperationId, ServerName, Timestamp, UnitName};
use vsm_jp1::{
    Channel, EventConfig, JevsendConfig, OperationInfo, Outbox, OutboxConfig, TrapLog, VsmEvent,
};

struct StandIn {
    _dir: tempfile::TempDir,
    root: Utf8PathBuf,
}

impl StandIn {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8 temp dir");
        let script = root.join("jevsend");
        let body = format!(
            "#!/bin/sh\n\
             if [ -e '{root}/fail' ]; then echo 'KAJP1234-E cannot connect' >&2; exit 1; fi\n\
             if [ -e '{root}/hang' ]; then sleep 30; fi\n\
             printf '%s\\0' \"$@\" >> '{root}/calls'\n\
             printf '\\n' >> '{root}/calls'\n"
        );
        std::fs::write(&script, body).expect("write script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        StandIn { _dir: dir, root }
    }

    fn set(&self, flag: &str, on: bool) {
        let p = self.root.join(flag);
        if on {
            std::fs::write(p, "").expect("set flag");
        } else {
            std::fs::remove_file(p).expect("clear flag");
        }
    }

    fn config(&self) -> JevsendConfig {
        JevsendConfig {
            program: self.root.join("jevsend"),
            timeout: Duration::from_secs(20),
            ..JevsendConfig::default()
        }
    }

    /// Every recorded run: its argument vector.
    fn calls(&self) -> Vec<Vec<String>> {
        let Ok(bytes) = std::fs::read(self.root.join("calls")) else {
            return Vec::new();
        };
        let mut calls = Vec::new();
        let mut current = Vec::new();
        for part in bytes.split(|b| *b == 0) {
            let mut part = part;
            if let Some(rest) = part.strip_prefix(b"\n") {
                calls.push(std::mem::take(&mut current));
                part = rest;
            }
            if part.is_empty() {
                continue;
            }
            current.push(String::from_utf8(part.to_vec()).expect("utf-8 argument"));
        }
        calls
    }

    fn outbox(&self, dir: &Utf8Path) -> Outbox {
        Outbox::open(
            dir,
            Channel::Jevsend(self.config()),
            EventConfig::default(),
            OutboxConfig {
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
                idle_poll: Duration::from_millis(200),
                max_queued: 100,
            },
        )
        .expect("open outbox")
    }
}

fn failed(server: &str) -> VsmEvent {
    VsmEvent::ServerFailed {
        unit: UnitName::new("shop").unwrap(),
        group: GroupName::new("web").unwrap(),
        server: ServerName::new(server).unwrap(),
        reason: "process killed (signal 9)".into(),
    }
}

/// The value of `-e NAME=…` in an argument vector.
fn attr<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("{name}=");
    args.windows(2)
        .find(|w| w[0] == "-e" && w[1].starts_with(&prefix))
        .map(|w| &w[1][prefix.len()..])
}

fn arg_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}

#[tokio::test]
async fn a_failed_server_produces_exactly_one_event() {
    let s = StandIn::new();
    let outbox = s.outbox(&s.root.join("outbox"));
    outbox
        .enqueue_at(&failed("web-1"), Timestamp::from_millis(1_700_000_000_000))
        .expect("enqueue");
    assert_eq!(outbox.pending().expect("count"), 1);
    let report = outbox.drain_once().await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.delivered, 1);
    assert_eq!(outbox.pending().expect("count"), 0);

    let calls = s.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let args = &calls[0];
    assert_eq!(arg_after(args, "-i"), Some("7FFF8010"));
    assert_eq!(
        arg_after(args, "-m"),
        Some("vsm: server web-1 (unit shop, group web) failed: process killed (signal 9)")
    );
    for (name, value) in [
        ("SEVERITY", "Error"),
        ("PRODUCT_NAME", "/VSM/VSM"),
        ("OBJECT_TYPE", "VSM_SERVER"),
        ("OBJECT_NAME", "web-1"),
        ("ROOT_OBJECT_TYPE", "VSM_UNIT"),
        ("ROOT_OBJECT_NAME", "shop"),
        ("OCCURRENCE", "FAILURE"),
        ("VSM_UNIT", "shop"),
        ("VSM_GROUP", "web"),
        ("VSM_SERVER", "web-1"),
        ("VSM_OCCURRED_AT", "2023-11-14T22:13:20.000Z"),
    ] {
        assert_eq!(attr(args, name), Some(value), "{name} in {args:?}");
    }
    // Nothing else is sent later.
    let report = outbox.drain_once().await;
    assert_eq!(report.delivered, 0);
    assert_eq!(s.calls().len(), 1);
}

#[tokio::test]
async fn events_queued_while_jevsend_fails_arrive_later_in_order() {
    let s = StandIn::new();
    let dir = s.root.join("outbox");
    let outbox = s.outbox(&dir);
    s.set("fail", true);
    for server in ["web-1", "web-2", "web-3"] {
        outbox
            .enqueue(&failed(server))
            .expect("enqueue never waits for JP1");
    }
    let report = outbox.drain_once().await;
    assert_eq!(report.delivered, 0);
    assert_eq!(report.pending, 3);
    let err = report.error.expect("the failure is reported");
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err).expect("source")
    );
    assert!(chain.contains("KAJP1234-E"), "{chain}");
    assert!(s.calls().is_empty());

    // A restart of the manager in between: the queue is on disk.
    drop(outbox);
    let outbox = s.outbox(&dir);
    assert_eq!(outbox.pending().expect("count"), 3);
    outbox.enqueue(&failed("web-4")).expect("enqueue");

    s.set("fail", false);
    let report = outbox.drain_once().await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.delivered, 4);
    let servers: Vec<String> = s
        .calls()
        .iter()
        .map(|c| attr(c, "VSM_SERVER").expect("server attr").to_owned())
        .collect();
    assert_eq!(servers, ["web-1", "web-2", "web-3", "web-4"]);
}

#[tokio::test]
async fn the_delivery_task_retries_until_jevsend_works() {
    let s = StandIn::new();
    let outbox = s.outbox(&s.root.join("outbox"));
    s.set("fail", true);
    let task = tokio::spawn({
        let outbox = outbox.clone();
        async move { outbox.run_forever().await }
    });
    struct Abort(tokio::task::JoinHandle<()>);
    impl Drop for Abort {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _guard = Abort(task);
    let op = OperationInfo {
        unit: UnitName::new("shop").unwrap(),
        id: OperationId(7),
        kind: "unit-start".into(),
        by: None,
    };
    outbox
        .enqueue(&VsmEvent::OperationFailed {
            op: op.clone(),
            detail: "no server started".into(),
        })
        .expect("enqueue");
    outbox
        .enqueue_async(VsmEvent::OperationSucceeded {
            op,
            detail: "retry worked".into(),
        })
        .await
        .expect("enqueue");
    // Let the task fail a few times, then repair jevsend.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(s.calls().is_empty());
    s.set("fail", false);
    // Generous deadline: this waits for delivery, it does not measure it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while (s.calls().len() < 2 || outbox.pending().expect("count") > 0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids: Vec<String> = s
        .calls()
        .iter()
        .map(|c| arg_after(c, "-i").expect("-i").to_owned())
        .collect();
    assert_eq!(ids, ["7FFF8022", "7FFF8020"]);
    assert_eq!(outbox.pending().expect("count"), 0);
}

#[tokio::test]
async fn a_hanging_jevsend_is_killed_and_retried() {
    let s = StandIn::new();
    let mut config = s.config();
    config.timeout = Duration::from_millis(300);
    let outbox = Outbox::open(
        &s.root.join("outbox"),
        Channel::Jevsend(config),
        EventConfig::default(),
        OutboxConfig::default(),
    )
    .expect("open");
    s.set("hang", true);
    outbox.enqueue(&VsmEvent::ManagerStarted).expect("enqueue");
    let report = outbox.drain_once().await;
    assert!(
        matches!(
            report.error,
            Some(vsm_jp1::OutboxError::Send(
                vsm_jp1::SendError::TimedOut { .. }
            ))
        ),
        "{:?}",
        report.error
    );
    assert_eq!(report.pending, 1);
    s.set("hang", false);
    let report = outbox.drain_once().await;
    assert_eq!(report.delivered, 1, "{:?}", report.error);
}

#[tokio::test]
async fn a_missing_jevsend_keeps_events_queued() {
    let s = StandIn::new();
    let outbox = Outbox::open(
        &s.root.join("outbox"),
        Channel::Jevsend(JevsendConfig {
            program: s.root.join("no-such-jevsend"),
            ..JevsendConfig::default()
        }),
        EventConfig::default(),
        OutboxConfig::default(),
    )
    .expect("open");
    outbox.enqueue(&VsmEvent::ManagerStopped).expect("enqueue");
    let report = outbox.drain_once().await;
    assert!(matches!(
        report.error,
        Some(vsm_jp1::OutboxError::Send(vsm_jp1::SendError::Spawn { .. }))
    ));
    assert_eq!(outbox.pending().expect("count"), 1);
}

#[tokio::test]
async fn unreadable_files_are_quarantined_and_stale_temp_files_removed() {
    let s = StandIn::new();
    let dir = s.root.join("outbox");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("00000000000000000001.json"), "{not json").expect("write");
    std::fs::write(dir.join("tmp-2.json"), "partial").expect("write");
    let outbox = s.outbox(&dir);
    assert!(!dir.join("tmp-2.json").exists());
    outbox.enqueue(&VsmEvent::ManagerStarted).expect("enqueue");
    let report = outbox.drain_once().await;
    assert_eq!(report.quarantined, 1);
    assert_eq!(report.delivered, 1);
    assert!(dir.join("dead/00000000000000000001.json").exists());
    assert_eq!(s.calls().len(), 1);
}

#[tokio::test]
async fn a_full_outbox_drops_its_oldest_event() {
    let s = StandIn::new();
    let outbox = Outbox::open(
        &s.root.join("outbox"),
        Channel::Jevsend(s.config()),
        EventConfig::default(),
        OutboxConfig {
            max_queued: 2,
            ..OutboxConfig::default()
        },
    )
    .expect("open");
    for server in ["web-1", "web-2", "web-3"] {
        outbox.enqueue(&failed(server)).expect("enqueue");
    }
    assert_eq!(outbox.pending().expect("count"), 2);
    outbox.drain_once().await;
    let servers: Vec<String> = s
        .calls()
        .iter()
        .map(|c| attr(c, "VSM_SERVER").expect("attr").to_owned())
        .collect();
    assert_eq!(servers, ["web-2", "web-3"]);
}

#[tokio::test]
async fn the_trap_log_gets_one_line_per_event() {
    let s = StandIn::new();
    let trap = TrapLog::in_dir(&s.root);
    let outbox = Outbox::open(
        &s.root.join("outbox"),
        Channel::TrapLog(trap.clone()),
        EventConfig::default(),
        OutboxConfig::default(),
    )
    .expect("open");
    outbox
        .enqueue_at(&failed("web-1"), Timestamp::from_millis(0))
        .expect("enqueue");
    outbox
        .enqueue_at(&VsmEvent::ManagerStopped, Timestamp::from_millis(1000))
        .expect("enqueue");
    let report = outbox.drain_once().await;
    assert_eq!(report.delivered, 2, "{:?}", report.error);
    assert!(trap.path().as_str().ends_with("/vsm-jp1-trap.log"));
    let text = std::fs::read_to_string(trap.path()).expect("trap log");
    assert_eq!(
        text,
        "1970-01-01T00:00:00.000Z ERROR VSM-7FFF8010 vsm: server web-1 (unit shop, group web) failed: process killed (signal 9)\n\
         1970-01-01T00:00:01.000Z NOTICE VSM-7FFF8002 vsm manager vsm stopped\n"
    );
}

#[tokio::test]
async fn concurrent_callers_lose_nothing() {
    let s = StandIn::new();
    let outbox = s.outbox(&s.root.join("outbox"));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let outbox = outbox.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    outbox
                        .enqueue(&failed(&format!("t{t}-s{i}")))
                        .expect("enqueue");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let report = outbox.drain_once().await;
    assert_eq!(report.delivered, 40, "{:?}", report.error);
    let servers: Vec<String> = s
        .calls()
        .iter()
        .map(|c| attr(c, "VSM_SERVER").expect("attr").to_owned())
        .collect();
    assert_eq!(servers.len(), 40);
    // Each caller's own events arrive in the order it queued them.
    for t in 0..4 {
        let mine: Vec<&String> = servers
            .iter()
            .filter(|s| s.starts_with(&format!("t{t}-")))
            .collect();
        let want: Vec<String> = (0..10).map(|i| format!("t{t}-s{i}")).collect();
        assert_eq!(mine, want.iter().collect::<Vec<_>>());
    }
}
