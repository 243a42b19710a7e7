//! Tests of the read model through the API: `ETag`, `304 Not Modified`, the long-poll
//! (`?index=N&wait=…`, `X-Vsm-Index`) and that none of it answers a builder about another
//! builder's unit.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use vsm_core::{Role, UnitName};

use super::tests::{BOB_PW, CAROL_PW, Env, UNIT_FILE, env, name};
use crate::api::*;
use crate::config::PasswordCost;
use crate::{DriverSet, InitOptions, Manager, ManagerConfig};

/// One raw answer: status, `ETag`, `X-Vsm-Index`, body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    index: Option<u64>,
    body: Vec<u8>,
}

/// A logged-in raw HTTP caller (the typed client follows no `ETag`s).
struct Raw {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Raw {
    async fn login(env: &Env, user: &'static str, password: &str) -> Raw {
        let session = env
            .anonymous()
            .login(&name(user), &Password::new(password))
            .await
            .expect("login");
        Raw {
            http: reqwest::Client::new(),
            url: env.url.clone(),
            token: session.token,
        }
    }

    async fn get(&self, path: &str, if_none_match: Option<&str>) -> Answer {
        let mut req = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(tag) = if_none_match {
            req = req.header(IF_NONE_MATCH, tag);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let etag = resp
            .headers()
            .get(ETAG)
            .map(|v| v.to_str().expect("ascii").to_owned());
        let index = resp
            .headers()
            .get("x-vsm-index")
            .map(|v| v.to_str().expect("ascii").parse().expect("number"));
        let body = resp.bytes().await.expect("body").to_vec();
        Answer {
            status,
            etag,
            index,
            body,
        }
    }
}

/// bob's units `shop` (with one version) and `blog` (none); returns (bob's raw caller, bob's
/// client, carol's raw caller).
async fn two_units(env: &Env) -> (Raw, super::client::Client, Raw) {
    let (_root, bob, _carol) = env.people().await;
    env.shop(&bob).await;
    bob.create_unit(&CreateUnitFromFile {
        name: name("blog"),
        file_name: "blog.yaml".into(),
        unit_file: UNIT_FILE.into(),
    })
    .await
    .expect("create blog");
    (
        Raw::login(env, "bob", BOB_PW).await,
        bob,
        Raw::login(env, "carol", CAROL_PW).await,
    )
}

#[tokio::test]
async fn a_units_etag_holds_until_that_unit_changes_and_answers_304() {
    let env = env().await;
    let (raw, bob, _) = two_units(&env).await;
    let first = raw.get("/api/v1/units/shop", None).await;
    assert_eq!(first.status, StatusCode::OK);
    let tag = first.etag.clone().expect("an ETag");
    assert!(tag.starts_with("\"r") && tag.ends_with('"'), "{tag}");
    let detail: UnitDetail = serde_json::from_slice(&first.body).expect("a unit");
    assert_eq!(detail.versions.len(), 1);
    // Nothing changed: the same ETag, and 304 without a body on If-None-Match.
    let again = raw.get("/api/v1/units/shop", None).await;
    assert_eq!(again.etag.as_deref(), Some(tag.as_str()));
    assert_eq!(again.body, first.body, "the same view");
    let not_modified = raw.get("/api/v1/units/shop", Some(&tag)).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.etag.as_deref(), Some(tag.as_str()));
    assert_eq!(not_modified.index, first.index);
    let weak = raw
        .get("/api/v1/units/shop", Some(&format!("\"x\", W/{tag}")))
        .await;
    assert_eq!(weak.status, StatusCode::NOT_MODIFIED);

    // Another unit's change leaves this unit's ETag alone, but not the list's.
    let list = raw.get("/api/v1/units", None).await;
    let list_tag = list.etag.expect("a list ETag");
    let dir = env.definitions("defs-blog", "blog v1");
    bob.import_directory(&name("blog"), &dir)
        .await
        .expect("import into blog");
    let after_blog = raw.get("/api/v1/units/shop", Some(&tag)).await;
    assert_eq!(after_blog.status, StatusCode::NOT_MODIFIED);
    assert_eq!(after_blog.etag.as_deref(), Some(tag.as_str()));
    let list2 = raw.get("/api/v1/units", Some(&list_tag)).await;
    assert_eq!(list2.status, StatusCode::OK, "blog's summary changed");
    assert_ne!(list2.etag.as_deref(), Some(list_tag.as_str()));

    // A change of the unit itself: a new ETag and the new view, also through the library.
    let dir = env.definitions("defs-v2", "v2");
    bob.import_directory(&name("shop"), &dir)
        .await
        .expect("import v2");
    let changed = raw.get("/api/v1/units/shop", Some(&tag)).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.etag.as_deref(), Some(tag.as_str()));
    assert!(changed.index > first.index);
    let detail: UnitDetail = serde_json::from_slice(&changed.body).expect("a unit");
    assert_eq!(
        detail.versions.len(),
        2,
        "the cache serves the new revision"
    );

    // An operation on the unit (its lock, its servers, its record) moves it too.
    let before_start = changed.etag.expect("tag");
    let rec = bob
        .start_unit(&name("shop"), OpOptions::default())
        .await
        .expect("start");
    super::tests::finish(&bob, &rec).await;
    let started = raw.get("/api/v1/units/shop", Some(&before_start)).await;
    assert_eq!(started.status, StatusCode::OK);
    let detail: UnitDetail = serde_json::from_slice(&started.body).expect("a unit");
    assert_eq!(detail.last_operations[0].id, rec.summary.id);
    assert!(detail.last_operations[0].state.is_finished());
    assert_eq!(detail.busy_with, None);
    assert_eq!(
        env.manager
            .show_unit(&bob_actor(), &name("shop"))
            .await
            .ok(),
        Some(detail),
        "the library and the API show the same view"
    );

    // The other conditional reads answer with ETags and 304 too.
    let op = format!("/api/v1/operations/{}", rec.summary.id);
    for path in [
        "/api/v1/units",
        "/api/v1/operations",
        op.as_str(),
        "/api/v1/templates",
        "/api/v1/templates/tpl",
    ] {
        let a = raw.get(path, None).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        let tag = a.etag.unwrap_or_else(|| panic!("{path}: no ETag"));
        assert!(a.index.is_some(), "{path}: no X-Vsm-Index");
        let b = raw.get(path, Some(&tag)).await;
        assert_eq!(b.status, StatusCode::NOT_MODIFIED, "{path}");
    }
    let root = Raw::login(&env, "root", super::tests::ROOT_PW).await;
    let hosts = root.get("/api/v1/hosts", None).await;
    let tag = hosts.etag.expect("hosts ETag");
    assert_eq!(
        root.get("/api/v1/hosts", Some(&tag)).await.status,
        StatusCode::NOT_MODIFIED
    );
}

fn bob_actor() -> Actor {
    Actor {
        account: name("bob"),
        role: Role::Builder,
    }
}

#[tokio::test]
async fn a_long_poll_answers_on_a_change_and_after_the_wait() {
    let env = env().await;
    let (raw, bob, _) = two_units(&env).await;
    let first = raw.get("/api/v1/units/shop", None).await;
    let index = first.index.expect("index");

    // Nothing changes (another unit does): the answer comes after the wait, unchanged.
    let poll = tokio::spawn({
        let raw = Raw {
            http: raw.http.clone(),
            url: raw.url.clone(),
            token: raw.token.clone(),
        };
        async move {
            let t = Instant::now();
            let a = raw
                .get(&format!("/api/v1/units/shop?index={index}&wait=1s"), None)
                .await;
            (a, t.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = env.definitions("defs-blog", "blog v1");
    bob.import_directory(&name("blog"), &dir)
        .await
        .expect("import into blog");
    let (a, took) = poll.await.expect("poll");
    assert_eq!(a.status, StatusCode::OK);
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_millis(1800), "{took:?}");
    assert_eq!(a.index, Some(index));
    assert_eq!(a.etag, first.etag);
    // Plain seconds are a wait too.
    let t = Instant::now();
    let a = raw
        .get(&format!("/api/v1/units/shop?index={index}&wait=1"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    // An index already passed: at once.
    let t = Instant::now();
    let a = raw
        .get(
            &format!("/api/v1/units/shop?index={}&wait=30s", index - 1),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    // A bad wait is refused.
    let a = raw
        .get(&format!("/api/v1/units/shop?index={index}&wait=soon"), None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // A change of the unit made while the poll waits answers it at once.
    let poll = tokio::spawn({
        let raw = Raw {
            http: raw.http.clone(),
            url: raw.url.clone(),
            token: raw.token.clone(),
        };
        async move {
            let a = raw
                .get(&format!("/api/v1/units/shop?index={index}&wait=30s"), None)
                .await;
            (a, Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished(), "the poll waits");
    let dir = env.definitions("defs-v2", "v2");
    bob.import_directory(&name("shop"), &dir)
        .await
        .expect("import v2");
    let changed_at = Instant::now();
    let (a, answered_at) = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("answered before the wait ended")
        .expect("poll");
    assert!(
        answered_at.saturating_duration_since(changed_at) < Duration::from_millis(100),
        "answered {:?} after the change",
        answered_at.saturating_duration_since(changed_at)
    );
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.index.expect("index") > index);
    assert_ne!(a.etag, first.etag);
    let detail: UnitDetail = serde_json::from_slice(&a.body).expect("a unit");
    assert_eq!(detail.versions.len(), 2);

    // Lists long-poll too.
    let list = raw.get("/api/v1/units", None).await;
    let t = Instant::now();
    let a = raw
        .get(
            &format!(
                "/api/v1/units?index={}&wait=1s",
                list.index.expect("list index")
            ),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn builders_get_no_304_and_no_wait_for_another_builders_unit() {
    let env = env().await;
    let (bob, _, carol) = two_units(&env).await;
    // bob's view is cached and its ETag known.
    let shop = bob.get("/api/v1/units/shop", None).await;
    let tag = shop.etag.expect("tag");
    let index = shop.index.expect("index");
    for guess in [None, Some(tag.as_str()), Some("*")] {
        let a = carol.get("/api/v1/units/shop", guess).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{guess:?}");
        assert!(a.etag.is_none() && a.index.is_none(), "{a:?}");
        let e: super::error::ErrorBody = serde_json::from_slice(&a.body).expect("error body");
        assert_eq!(e.error.kind, crate::ErrorKind::Forbidden);
    }
    let t = Instant::now();
    let a = carol
        .get(
            &format!("/api/v1/units/shop?index={index}&wait=5s"),
            Some(&tag),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(t.elapsed() < Duration::from_secs(2), "refused at once");
    let a = carol.get("/api/v1/units/nothing", Some("*")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.etag.is_none());
    // An operation of bob's unit: as today, and never a 304.
    let a = carol.get("/api/v1/operations/1", Some("*")).await;
    assert!(
        a.status == StatusCode::FORBIDDEN || a.status == StatusCode::NOT_FOUND,
        "{a:?}"
    );
    // carol's own (empty) list is not bob's: its ETag differs.
    let mine = carol.get("/api/v1/units", None).await;
    let bobs = bob.get("/api/v1/units", None).await;
    assert_ne!(mine.etag, bobs.etag);
    assert_eq!(
        carol
            .get("/api/v1/units", bobs.etag.as_deref())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn etags_differ_across_a_manager_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = camino::Utf8PathBuf::from_path_buf(dir.path().join("state")).expect("utf-8");
    let mut init = InitOptions::new(
        state.clone(),
        name("root"),
        Password::new(super::tests::ROOT_PW),
    );
    init.password_cost = PasswordCost::Insecure;
    Manager::init(init).expect("init");
    let root = Actor {
        account: name("root"),
        role: Role::Administrator,
    };
    let unit: UnitName = name("shop");
    let mut tags = Vec::new();
    for round in 0..2 {
        let mut config = ManagerConfig::load(&state).expect("config");
        config.password_cost = PasswordCost::Insecure;
        config.monitor = false;
        let fake = std::sync::Arc::new(vsm_hypervisor::fake::FakeHypervisor::new());
        let manager = Manager::open(config, DriverSet::new().with(DriverKind::Local, fake))
            .await
            .expect("open");
        if round == 0 {
            manager
                .register_template(
                    &root,
                    RegisterTemplate {
                        name: name("tpl"),
                        driver: DriverKind::Local,
                        source: "image-1".into(),
                    },
                )
                .await
                .expect("template");
            manager
                .create_unit_from_file(
                    &root,
                    CreateUnitFromFile {
                        name: unit.clone(),
                        file_name: "shop.yaml".into(),
                        unit_file: UNIT_FILE.into(),
                    },
                )
                .await
                .expect("create");
        }
        let view = manager.unit_view(&root, &unit).await.expect("show");
        tags.push((
            manager.revisions().etag(view.rev),
            manager.revisions().etag(1),
        ));
        manager.shutdown(Duration::from_secs(1)).await;
    }
    assert_ne!(tags[0].0, tags[1].0, "the unit's ETag");
    assert_ne!(tags[0].1, tags[1].1, "even at the same revision");
}
