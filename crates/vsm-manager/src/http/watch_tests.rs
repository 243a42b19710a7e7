//! Tests of a unit's watch stream, `GET /api/v1/units/{unit}/events`, through a real server:
//! the snapshot and the batched deltas (applied, they give `unit show`'s view), resuming with
//! `Last-Event-ID` from the buffer or by a resync, heartbeats, the end on deletion and on
//! shutdown, and that no builder watches another builder's unit — also after a `chown`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use vsm_core::{ServerName, UnitName};

use super::client::{Client, SseReader, UnitEvent, WatchOptions};
use super::error::ErrorBody;
use super::serve_config::ServeConfig;
use super::server::Server;
use super::tests::{Env, env, finish, name};
use crate::api::*;
use crate::watch_delta::{UnitDelta, apply_delta};

/// One event: name, data, last event id.
type Ev = (String, String, Option<String>);

/// A raw watch stream (the typed client would hide the event format).
struct Raw {
    reader: SseReader,
}

impl Raw {
    /// Opens the stream of `unit` on `base` as the holder of `token`; the refusal's status and
    /// body otherwise.
    async fn open(
        base: &str,
        token: Option<&str>,
        unit: &str,
        last_id: Option<&str>,
        query: &str,
    ) -> Result<Raw, (StatusCode, String)> {
        let url = format!("{base}/api/v1/units/{unit}/events{query}");
        let mut req = reqwest::Client::new()
            .get(&url)
            .header("accept", "text/event-stream");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.expect("send");
        if resp.status() != StatusCode::OK {
            let status = resp.status();
            return Err((status, resp.text().await.unwrap_or_default()));
        }
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Ok(Raw {
            reader: SseReader::new(resp, url),
        })
    }

    /// The next event (heartbeats included); `None` when the stream ended.
    async fn any(&mut self) -> Option<Ev> {
        tokio::time::timeout(Duration::from_secs(20), self.reader.next())
            .await
            .expect("an event or the end within 20 s")
            .map(|r| r.expect("the stream reads"))
    }

    /// The next event that is not a heartbeat.
    async fn next(&mut self) -> Option<Ev> {
        loop {
            let ev = self.any().await?;
            if ev.0 != "heartbeat" {
                return Some(ev);
            }
        }
    }

    /// The next event, which must be `name`; its data and id.
    async fn expect(&mut self, name: &str) -> (String, Option<String>) {
        let ev = self.next().await;
        match ev {
            Some((n, data, id)) if n == name => (data, id),
            other => panic!("expected a {name} event, got {other:?}"),
        }
    }
}

/// The revision of an event id `r<instance>-<rev>`.
fn rev(id: &str) -> u64 {
    id.rsplit_once('-')
        .and_then(|(_, r)| r.parse().ok())
        .unwrap_or_else(|| panic!("not an event id: {id}"))
}

fn server(n: &'static str) -> ServerName {
    name(n)
}

/// bob's unit `shop`, started (servers web-1 and web-2); returns (root, bob, carol, unit).
async fn started(env: &Env) -> (Client, Client, Client, UnitName) {
    let (root, bob, carol) = env.people().await;
    let unit = env.shop(&bob).await;
    let rec = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start");
    finish(&bob, &rec).await;
    (root, bob, carol, unit)
}

fn token(c: &Client) -> Option<&str> {
    c.token()
}

#[tokio::test]
async fn a_watch_sends_a_snapshot_then_batched_deltas_that_give_the_new_view() {
    let env = env().await;
    let (_root, bob, _carol, unit) = started(&env).await;
    let mut w = Raw::open(&env.url, token(&bob), "shop", None, "")
        .await
        .expect("watching");
    let (data, id) = w.expect("snapshot").await;
    let id = id.expect("a snapshot has an id");
    let mut view: UnitDetail = serde_json::from_str(&data).expect("a UnitDetail");
    assert_eq!(view, bob.show_unit(&unit).await.expect("show"));
    assert_eq!(
        view.groups[0]
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["web-1", "web-2"]
    );
    // The id is the unit's ETag, without its quotes.
    let etag = reqwest::Client::new()
        .get(format!("{}/api/v1/units/shop", env.url))
        .bearer_auth(token(&bob).expect("token"))
        .send()
        .await
        .expect("show")
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(etag, Some(format!("\"{id}\"")));

    // One change: one delta with the one row.
    bob.mark_server(&unit, &server("web-1"), "disk noise")
        .await
        .expect("mark");
    let (data, id1) = w.expect("delta").await;
    let id1 = id1.expect("a delta has an id");
    assert!(rev(&id1) > rev(&id), "{id} then {id1}");
    assert_eq!(
        id1.rsplit_once('-').map(|p| p.0),
        id.rsplit_once('-').map(|p| p.0)
    );
    let delta: UnitDelta = serde_json::from_str(&data).expect("a UnitDelta");
    assert_eq!(delta.groups.len(), 1, "{data}");
    assert_eq!(delta.groups[0].servers.len(), 1, "{data}");
    let row = &delta.groups[0].servers[0];
    assert_eq!(row.name.as_str(), "web-1");
    assert_eq!(
        row.mark.as_ref().map(|m| m.comment.as_str()),
        Some("disk noise")
    );
    assert!(delta.owner.is_none() && delta.versions.is_none(), "{data}");
    apply_delta(&mut view, &delta).expect("applies");
    assert_eq!(view, bob.show_unit(&unit).await.expect("show"));

    // Changes in a row: batched, and the deltas in order give the new view.
    bob.mark_server(&unit, &server("web-2"), "fan")
        .await
        .expect("mark");
    bob.unmark_server(&unit, &server("web-1"))
        .await
        .expect("unmark");
    let want = bob.show_unit(&unit).await.expect("show");
    let mut deltas = 0;
    let mut last = rev(&id1);
    while view != want {
        let (data, id) = w.expect("delta").await;
        let r = rev(&id.expect("id"));
        assert!(r > last);
        last = r;
        apply_delta(
            &mut view,
            &serde_json::from_str(&data).expect("a UnitDelta"),
        )
        .expect("applies");
        deltas += 1;
    }
    assert!(deltas <= 2, "{deltas} deltas for two changes");
    assert!(view.groups[0].servers[0].mark.is_none());
    assert_eq!(
        view.groups[0].servers[1]
            .mark
            .as_ref()
            .map(|m| m.comment.as_str()),
        Some("fan")
    );

    // A scale through the API: new rows, and the servers gone.
    let rec = bob
        .scale(
            &unit,
            &ScaleRequest {
                group: name("web"),
                count: 3,
                remove: Vec::new(),
                grace_secs: None,
                wait_secs: None,
            },
        )
        .await
        .expect("scale");
    finish(&bob, &rec).await;
    let want = bob.show_unit(&unit).await.expect("show");
    while view != want {
        let (data, _) = w.expect("delta").await;
        apply_delta(&mut view, &serde_json::from_str(&data).expect("delta")).expect("applies");
    }
    assert_eq!(view.groups[0].servers.len(), 3);
    assert_eq!(view.groups[0].servers[2].name.as_str(), "web-3");
    assert_eq!(view.last_operations[0].id, rec.summary.id);
}

#[tokio::test]
async fn a_watch_resumes_after_its_last_event_id_or_resyncs() {
    let env = env().await;
    let (_root, bob, _carol, unit) = started(&env).await;
    let mut w = Raw::open(&env.url, token(&bob), "shop", None, "")
        .await
        .expect("watching");
    let (data, snap) = w.expect("snapshot").await;
    let snap = snap.expect("id");
    let first: UnitDetail = serde_json::from_str(&data).expect("view");
    bob.mark_server(&unit, &server("web-1"), "one")
        .await
        .expect("mark");
    let (d1, id1) = w.expect("delta").await;
    let id1 = id1.expect("id");
    drop(w);

    // A change while nobody watches; back with the last id: the deltas after it, no snapshot.
    bob.mark_server(&unit, &server("web-2"), "two")
        .await
        .expect("mark");
    let want = bob.show_unit(&unit).await.expect("show");
    let mut w = Raw::open(&env.url, token(&bob), "shop", Some(&id1), "")
        .await
        .expect("resuming");
    let (d2, id2) = w.expect("delta").await;
    let id2 = id2.expect("id");
    assert!(rev(&id2) > rev(&id1));
    let mut view = first.clone();
    for d in [&d1, &d2] {
        apply_delta(&mut view, &serde_json::from_str(d).expect("delta")).expect("applies");
    }
    assert_eq!(view, want);
    drop(w);

    // From the snapshot's id: the same deltas again, with the same ids.
    let mut w = Raw::open(&env.url, token(&bob), "shop", Some(&snap), "")
        .await
        .expect("resuming");
    assert_eq!(w.expect("delta").await, (d1.clone(), Some(id1.clone())));
    assert_eq!(w.expect("delta").await, (d2.clone(), Some(id2.clone())));
    drop(w);

    // An id of another manager process, and a revision of this one that is not buffered: a
    // resync, then a fresh snapshot.
    let instance = snap.rsplit_once('-').map(|p| p.0).expect("instance");
    let foreign = if instance == "r0000000000000001" {
        "r0000000000000002-3"
    } else {
        "r0000000000000001-3"
    };
    for (last, reason) in [
        (foreign.to_owned(), "unknown"),
        ("garbage".to_owned(), "unknown"),
        (format!("{instance}-1"), "gone"),
        (format!("{instance}-{}", rev(&id2) + 1000), "gone"),
    ] {
        let mut w = Raw::open(&env.url, token(&bob), "shop", Some(&last), "")
            .await
            .expect("watching");
        let (data, id) = w.expect("resync").await;
        let r: super::api::WatchResync = serde_json::from_str(&data).expect("resync data");
        assert_eq!(r.reason, reason, "{last}");
        assert!(id.is_none(), "a resync has no id");
        let (data, id) = w.expect("snapshot").await;
        assert_eq!(
            serde_json::from_str::<UnitDetail>(&data).expect("view"),
            want
        );
        assert_eq!(id.as_deref(), Some(id2.as_str()));
    }
}

/// A TCP proxy in front of the manager whose connections can be cut.
struct Proxy {
    url: String,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: &str) -> Proxy {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let held = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                held.lock().expect("lock").push(task);
            }
        });
        Proxy { url, conns, accept }
    }

    /// Drops every open connection.
    fn cut(&self) {
        for task in self.conns.lock().expect("lock").drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// The watch's next item, within 20 s.
async fn next(
    w: &mut super::client::UnitWatch,
) -> Option<Result<UnitEvent, super::client::ClientError>> {
    tokio::time::timeout(Duration::from_secs(20), w.next())
        .await
        .expect("an item within 20 s")
}

#[tokio::test]
async fn the_client_follows_a_unit_and_resumes_after_a_dropped_connection() {
    let env = env().await;
    let (_root, bob, _carol, unit) = started(&env).await;
    let proxy = Proxy::start(&env.url).await;
    let client = Client::new(&proxy.url, bob.token().map(str::to_owned)).expect("client");
    let mut watch = client
        .watch_unit(&unit, WatchOptions::default())
        .await
        .expect("watch");
    let first = next(&mut watch).await;
    assert!(
        matches!(first, Some(Ok(UnitEvent::Snapshot { .. }))),
        "{first:?}"
    );
    assert_eq!(
        watch.detail(),
        Some(&bob.show_unit(&unit).await.expect("show"))
    );
    let snap_id = watch.last_event_id().expect("id").to_owned();

    // The connection drops; a change meanwhile arrives as a delta after the reconnection.
    proxy.cut();
    bob.mark_server(&unit, &server("web-2"), "while away")
        .await
        .expect("mark");
    let ev = next(&mut watch).await;
    match ev {
        Some(Ok(UnitEvent::Delta { id, delta })) => {
            assert!(rev(&id) > rev(&snap_id));
            assert_eq!(delta.groups[0].servers[0].name.as_str(), "web-2");
        }
        other => panic!("expected a delta after resuming, got {other:?}"),
    }
    assert_eq!(
        watch.detail(),
        Some(&bob.show_unit(&unit).await.expect("show"))
    );
    assert_eq!(
        watch
            .detail()
            .and_then(|d| d.groups[0].servers[1].mark.as_ref())
            .map(|m| m.comment.as_str()),
        Some("while away")
    );
}

#[tokio::test]
async fn no_builder_watches_another_builders_unit_also_after_a_chown() {
    let env = env().await;
    let (root, bob, carol, unit) = started(&env).await;
    // Refused before any event: another builder, no token, no such unit.
    for last in [None, Some("r0000000000000001-1")] {
        let Err((status, body)) = Raw::open(&env.url, token(&carol), "shop", last, "").await else {
            panic!("carol watches bob's unit");
        };
        assert_eq!(status, StatusCode::FORBIDDEN);
        let e: ErrorBody = serde_json::from_str(&body).expect("error body");
        assert_eq!(e.error.kind, crate::ErrorKind::Forbidden);
    }
    let refused = Raw::open(&env.url, None, "shop", None, "").await;
    assert!(matches!(refused, Err((StatusCode::UNAUTHORIZED, _))));
    let refused = Raw::open(&env.url, token(&bob), "nothing", None, "").await;
    assert!(matches!(refused, Err((StatusCode::NOT_FOUND, _))));
    let refused = Raw::open(&env.url, token(&bob), "shop", None, "?heartbeat=often").await;
    assert!(matches!(refused, Err((StatusCode::BAD_REQUEST, _))));
    let err = carol
        .watch_unit(&unit, WatchOptions::default())
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), Some(crate::ErrorKind::Forbidden));
    assert_eq!(err.exit_code(), 77);

    // bob and root watch; root gives the unit to carol.
    let mut bobs = Raw::open(&env.url, token(&bob), "shop", None, "")
        .await
        .expect("bob watches");
    let mut roots = Raw::open(&env.url, token(&root), "shop", None, "")
        .await
        .expect("root watches");
    let mut bobs_watch = bob
        .watch_unit(&unit, WatchOptions::default())
        .await
        .expect("bob follows");
    bobs.expect("snapshot").await;
    roots.expect("snapshot").await;
    assert!(matches!(
        bobs_watch.next().await,
        Some(Ok(UnitEvent::Snapshot { .. }))
    ));
    root.chown_unit(&unit, &name("carol")).await.expect("chown");
    // bob: an error event, and the end, with nothing of carol's unit.
    let (data, _) = bobs.expect("error").await;
    let e: ErrorBody = serde_json::from_str(&data).expect("error body");
    assert_eq!(e.error.kind, crate::ErrorKind::Forbidden);
    assert!(bobs.any().await.is_none(), "the stream ends");
    let err = bobs_watch.next().await.expect("an item");
    assert_eq!(
        err.expect_err("refused").kind(),
        Some(crate::ErrorKind::Forbidden)
    );
    assert!(bobs_watch.next().await.is_none());
    // root sees the new owner.
    let (data, _) = roots.expect("delta").await;
    let delta: UnitDelta = serde_json::from_str(&data).expect("delta");
    assert_eq!(delta.owner.as_ref().map(|o| o.as_str()), Some("carol"));
    // carol may watch now; bob may not.
    let mut carols = Raw::open(&env.url, token(&carol), "shop", None, "")
        .await
        .expect("carol watches");
    let (data, _) = carols.expect("snapshot").await;
    let view: UnitDetail = serde_json::from_str(&data).expect("view");
    assert_eq!(view.owner.as_str(), "carol");
    assert!(matches!(
        Raw::open(&env.url, token(&bob), "shop", None, "").await,
        Err((StatusCode::FORBIDDEN, _))
    ));
}

#[tokio::test]
async fn a_watch_ends_with_deleted_when_the_unit_is_deleted() {
    let env = env().await;
    let (_root, bob, _carol, unit) = started(&env).await;
    let mut raw = Raw::open(&env.url, token(&bob), "shop", None, "")
        .await
        .expect("watching");
    let mut watch = bob
        .watch_unit(&unit, WatchOptions::default())
        .await
        .expect("watch");
    raw.expect("snapshot").await;
    let del = bob
        .delete_unit(
            &unit,
            &DeleteUnitRequest {
                force: true,
                wait_secs: Some(10),
            },
        )
        .await
        .expect("delete");
    // Deltas while the servers go (as many as the batching leaves), then `deleted` and the
    // end.
    let deleted = loop {
        let (name, data, _) = raw.next().await.expect("deleted before the end");
        match name.as_str() {
            "delta" => {
                serde_json::from_str::<UnitDelta>(&data).expect("delta");
            }
            "deleted" => break data,
            other => panic!("unexpected {other} event: {data}"),
        }
    };
    let d: super::api::UnitDeleted = serde_json::from_str(&deleted).expect("deleted data");
    assert_eq!(d.unit, unit);
    assert!(raw.any().await.is_none(), "the stream ends");
    finish(&bob, &del).await;
    let mut items = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(20), watch.next())
        .await
        .expect("in time")
    {
        items.push(item.expect("no error"));
    }
    assert!(matches!(items.first(), Some(UnitEvent::Snapshot { .. })));
    assert_eq!(items.last(), Some(&UnitEvent::Deleted));
    // A new watch of the unit is refused as unknown.
    let refused = Raw::open(&env.url, token(&bob), "shop", None, "").await;
    assert!(matches!(refused, Err((StatusCode::NOT_FOUND, _))));
}

#[tokio::test]
async fn a_watch_sends_heartbeats_and_ends_when_the_server_shuts_down() {
    let env = env().await;
    let (_root, bob, _carol, _unit) = started(&env).await;
    // A second server over the same manager, to shut down.
    let server = Server::start(
        env.manager.clone(),
        ServeConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            shutdown_grace: Duration::from_secs(5),
            ..ServeConfig::default()
        },
    )
    .await
    .expect("serve");
    let mut w = Raw::open(&server.url(), token(&bob), "shop", None, "?heartbeat=1s")
        .await
        .expect("watching");
    w.expect("snapshot").await;
    let started = tokio::time::Instant::now();
    let (name, data, _) = w.any().await.expect("a heartbeat");
    assert_eq!((name.as_str(), data.as_str()), ("heartbeat", "{}"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let shutdown = tokio::spawn(server.shutdown());
    assert!(w.any().await.is_none(), "the stream ends on shutdown");
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shut down in time")
        .expect("task")
        .expect("clean shutdown");
}
