//! The authorization matrix: every route of the route table × {anonymous, the builder who owns
//! the unit, another builder, an administrator}, driven as real HTTP requests.
//!
//! The expected answers are written down once, in [`EXPECTED`], from SPEC.md's roles (the
//! administrator may do everything; a builder works on their own units and templates, may list
//! and read templates, and may change only their own password; account management, ownership
//! changes and the manager's own settings are the administrator's). The test iterates the route
//! table itself: a route without a row fails the test, naming the route. Each row is also checked
//! against `vsm_core::authorize` for the route's declared action, so a route bound to the wrong
//! action fails even if the server obeys it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use vsm_core::{AccountName, Role};

use super::super::routes::{Access, Body, Route, routes};
use super::super::tests::{BOB_PW, CAROL_PW, Env, ROOT_PW, UNIT_FILE, env, finish, name};
use crate::api::*;

/// The callers of the matrix, in the order they call each route (denied ones first, so that an
/// allowed destructive call comes last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Other,
    Owner,
    Admin,
}

const CALLERS: [Who; 4] = [Who::Anonymous, Who::Other, Who::Owner, Who::Admin];

impl Who {
    fn word(self) -> &'static str {
        match self {
            Who::Anonymous => "anonymous",
            Who::Other => "other",
            Who::Owner => "owner",
            Who::Admin => "admin",
        }
    }

    /// The column of a row of [`EXPECTED`].
    fn column(self) -> usize {
        match self {
            Who::Anonymous => 0,
            Who::Other => 1,
            Who::Owner => 2,
            Who::Admin => 3,
        }
    }
}

/// The expected HTTP status per route, for [anonymous, other builder, owner builder,
/// administrator]. 401 and 403 mean denied; anything else means allowed (the status is what the
/// sample request of `sample_*` gets: 404/409/400 where the request is refused for another
/// reason than authorization).
///
/// The owner is `bob`: he owns unit `shop`, template `tpl`, and his own account. The other builder
/// is `carol`; the administrator is `root`.
const EXPECTED: &[(&str, [u16; 4])] = &[
    // Everyone, without a token.
    ("GET /api/v1/health", [200, 200, 200, 200]),
    ("POST /api/v1/login", [200, 200, 200, 200]),
    ("GET /metrics", [200, 200, 200, 200]),
    // Every logged-in account.
    ("POST /api/v1/logout", [401, 200, 200, 200]),
    ("GET /api/v1/whoami", [401, 200, 200, 200]),
    // Accounts: the administrator's, except one's own password.
    ("GET /api/v1/accounts", [401, 403, 403, 200]),
    ("POST /api/v1/accounts", [401, 403, 403, 201]),
    ("DELETE /api/v1/accounts/{name}", [401, 403, 403, 200]),
    ("PUT /api/v1/accounts/{name}/password", [401, 403, 200, 200]),
    // Hosts are the administrator's.
    ("GET /api/v1/hosts", [401, 403, 403, 200]),
    ("POST /api/v1/hosts", [401, 403, 403, 201]),
    ("GET /api/v1/hosts/{name}", [401, 403, 403, 200]),
    ("POST /api/v1/hosts/rebalance", [401, 403, 403, 200]),
    ("DELETE /api/v1/hosts/{name}", [401, 403, 403, 200]),
    ("POST /api/v1/hosts/{name}/drain", [401, 403, 403, 200]),
    // Refused for a host that is up (400), but only after the policy allowed it.
    (
        "POST /api/v1/hosts/{name}/confirm-down",
        [401, 403, 403, 400],
    ),
    ("POST /api/v1/hosts/{name}/undrain", [401, 403, 403, 200]),
    // Templates: anyone may list, read and register; only the owner changes or deletes.
    ("GET /api/v1/templates", [401, 200, 200, 200]),
    ("POST /api/v1/templates", [401, 201, 201, 201]),
    ("GET /api/v1/templates/{name}", [401, 200, 200, 200]),
    ("DELETE /api/v1/templates/{name}", [401, 403, 200, 200]),
    (
        "POST /api/v1/templates/{name}/generations",
        [401, 403, 201, 201],
    ),
    // Units: anyone may list their own and create; the rest is the owner's (chown: admin).
    ("GET /api/v1/units", [401, 200, 200, 200]),
    ("POST /api/v1/units", [401, 201, 201, 201]),
    ("GET /api/v1/units/{unit}", [401, 403, 200, 200]),
    ("GET /api/v1/units/{unit}/events", [401, 403, 200, 200]),
    ("DELETE /api/v1/units/{unit}", [401, 403, 202, 202]),
    ("PUT /api/v1/units/{unit}/owner", [401, 403, 403, 200]),
    // The owner imports a new version (201); the administrator's identical import is a no-op.
    ("POST /api/v1/units/{unit}/versions", [401, 403, 201, 200]),
    ("GET /api/v1/units/{unit}/versions", [401, 403, 200, 200]),
    (
        "GET /api/v1/units/{unit}/versions/{version}/archive",
        [401, 403, 200, 200],
    ),
    ("POST /api/v1/units/{unit}/diff", [401, 403, 200, 200]),
    ("POST /api/v1/units/{unit}/apply", [401, 403, 202, 202]),
    // The owner rolls back to version 1; there is nothing before it for the administrator.
    ("POST /api/v1/units/{unit}/rollback", [401, 403, 202, 400]),
    ("POST /api/v1/units/{unit}/start", [401, 403, 202, 202]),
    ("POST /api/v1/units/{unit}/stop", [401, 403, 202, 202]),
    ("POST /api/v1/units/{unit}/scale", [401, 403, 202, 202]),
    ("POST /api/v1/units/{unit}/upgrade", [401, 403, 202, 202]),
    (
        "POST /api/v1/units/{unit}/groups/{group}/start",
        [401, 403, 202, 202],
    ),
    (
        "POST /api/v1/units/{unit}/groups/{group}/stop",
        [401, 403, 202, 202],
    ),
    // `web` is a provisioned group: attaching and detaching are refused as bad requests.
    (
        "POST /api/v1/units/{unit}/groups/{group}/attach",
        [401, 403, 400, 400],
    ),
    (
        "DELETE /api/v1/units/{unit}/groups/{group}/servers/{server}",
        [401, 403, 400, 400],
    ),
    (
        "GET /api/v1/units/{unit}/servers/{server}/logs",
        [401, 403, 200, 200],
    ),
    (
        "POST /api/v1/units/{unit}/servers/{server}/recover",
        [401, 403, 202, 202],
    ),
    (
        "PUT /api/v1/units/{unit}/servers/{server}/mark",
        [401, 403, 200, 200],
    ),
    (
        "DELETE /api/v1/units/{unit}/servers/{server}/mark",
        [401, 403, 200, 200],
    ),
    // Operations: anyone lists what they may see; one operation is its unit owner's.
    ("GET /api/v1/operations", [401, 200, 200, 200]),
    ("GET /api/v1/operations/{id}", [401, 403, 200, 200]),
    ("POST /api/v1/operations/{id}/cancel", [401, 403, 200, 200]),
    ("GET /api/v1/operations/{id}/events", [401, 403, 200, 200]),
    ("GET /api/v1/operations/{id}/wait", [401, 403, 200, 200]),
    // The manager itself: the administrator's.
    ("GET /api/v1/admin/backup", [401, 403, 403, 200]),
    ("GET /api/v1/admin/diagnostics", [401, 403, 403, 200]),
    ("GET /api/v1/admin/log-config", [401, 403, 403, 200]),
    ("PUT /api/v1/admin/log-config", [401, 403, 403, 200]),
    // JP1/PFM figures of what the caller may see.
    ("GET /api/v1/jp1/pfm", [401, 200, 200, 200]),
];

/// Requests that are not routes of their own but change who may call one (query variants).
const EXPECTED_VARIANTS: &[(&str, &str, [u16; 4])] =
    &[("GET", "/api/v1/units?all=true", [401, 403, 403, 200])];

fn key(route: &Route) -> String {
    format!("{} {}", route.method, route.path)
}

fn allowed(status: u16) -> bool {
    status != 401 && status != 403
}

/// The route table and [`EXPECTED`] agree row for row: every route has exactly one row, every
/// row names a route, and the rows follow the product's policy (`vsm_core::authorize` for the
/// route's action, tokens for every non-public route).
#[test]
fn every_route_has_an_expected_rule_that_follows_the_policy() {
    let expected = expected_rows();
    let table = routes();
    let keys: BTreeSet<String> = table.iter().map(key).collect();
    let mut problems = Vec::new();
    for route in &table {
        match expected.get(&key(route)) {
            None => problems.push(format!(
                "route {} ({}) has no row in EXPECTED (proof_tests/authz.rs): add who may call it",
                key(route),
                route.name
            )),
            Some(row) => problems.extend(policy_mismatches(route, row)),
        }
    }
    for k in expected.keys() {
        if !keys.contains(k) {
            problems.push(format!("EXPECTED has a row for {k}, which is not a route"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn expected_rows() -> BTreeMap<String, [u16; 4]> {
    let mut rows = BTreeMap::new();
    for (k, row) in EXPECTED {
        assert!(
            rows.insert((*k).to_owned(), *row).is_none(),
            "EXPECTED has two rows for {k}"
        );
    }
    rows
}

/// Where the row disagrees with the product's policy for the route.
fn policy_mismatches(route: &Route, row: &[u16; 4]) -> Vec<String> {
    let bob: AccountName = name("bob");
    let accounts = [
        (
            Who::Other,
            vsm_core::Account::new(name("carol"), Role::Builder),
        ),
        (
            Who::Owner,
            vsm_core::Account::new(bob.clone(), Role::Builder),
        ),
        (
            Who::Admin,
            vsm_core::Account::new(name("root"), Role::Administrator),
        ),
    ];
    let mut out = Vec::new();
    let mut check = |who: Who, policy: bool| {
        let status = row[who.column()];
        let denial = if who == Who::Anonymous { 401 } else { 403 };
        if allowed(status) != policy || (!policy && status != denial) {
            out.push(format!(
                "{} as {}: EXPECTED says {status}, the policy says {}",
                key(route),
                who.word(),
                if policy {
                    "allowed".to_owned()
                } else {
                    format!("denied ({denial})")
                }
            ));
        }
    };
    check(Who::Anonymous, route.access == Access::Public);
    for (who, account) in &accounts {
        let policy = match route.access {
            Access::Public | Access::Session => true,
            Access::Policy(action) => vsm_core::authorize(account, action, Some(&bob)).is_ok(),
        };
        check(*who, policy);
    }
    out
}

/// What the matrix works on: bob's unit `shop` (started once) with spare objects for the
/// destructive routes, so that both allowed callers of a destructive route succeed.
struct Fixture {
    tokens: BTreeMap<Who, Option<String>>,
    server: String,
    operation: String,
    archive: Vec<u8>,
}

async fn fixture(env: &Env) -> Fixture {
    let (root, bob, carol) = env.people().await;
    let unit = env.shop(&bob).await;
    let start = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start");
    let start = finish(&bob, &start).await;
    let detail = bob.show_unit(&unit).await.expect("show");
    let server = detail.groups[0].servers[0].name.to_string();
    for spare in ["spare-a", "spare-b"] {
        bob.create_unit(&CreateUnitFromFile {
            name: name(spare),
            file_name: "spare.yaml".into(),
            unit_file: UNIT_FILE.into(),
        })
        .await
        .expect("spare unit");
        bob.register_template(&RegisterTemplate {
            name: name(spare),
            driver: DriverKind::Local,
            source: format!("image-{spare}"),
        })
        .await
        .expect("spare template");
    }
    root.create_account(&AddAccount {
        name: name("doomed"),
        role: Role::Builder,
        password: Password::new("doomed password"),
    })
    .await
    .expect("account to delete");
    let archive =
        super::super::archive::pack(&env.definitions("defs-matrix", "matrix")).expect("pack");
    let tokens = [
        (Who::Anonymous, None),
        (Who::Other, carol.token().map(str::to_owned)),
        (Who::Owner, bob.token().map(str::to_owned)),
        (Who::Admin, root.token().map(str::to_owned)),
    ]
    .into_iter()
    .collect();
    Fixture {
        tokens,
        server,
        operation: start.summary.id.to_string(),
        archive,
    }
}

/// The value of a path parameter for `who` calling `route`: bob's objects, and distinct spare
/// ones where two allowed callers would otherwise delete the same thing.
fn sample_param(route: &Route, who: Who, param: &str, fx: &Fixture) -> String {
    let spare = if who == Who::Admin {
        "spare-b"
    } else {
        "spare-a"
    };
    match (route.name, param) {
        ("delete_unit", "unit") | ("delete_template", "name") => spare.to_owned(),
        ("delete_account", "name") => "doomed".to_owned(),
        // The host that this caller added (only the administrator's exists).
        ("remove_host", "name") => format!("m-{}", who.word()),
        (_, "name") if route.path.starts_with("/api/v1/hosts/") => "local".to_owned(),
        (_, "name") if route.path.starts_with("/api/v1/templates/") => "tpl".to_owned(),
        (_, "name") => "bob".to_owned(),
        (_, "unit") => "shop".to_owned(),
        (_, "group") => "web".to_owned(),
        (_, "server") => fx.server.clone(),
        (_, "id") => fx.operation.clone(),
        (_, "version") => "current".to_owned(),
        (name, param) => panic!("route {name}: no sample value for path parameter {{{param}}}"),
    }
}

fn sample_path(route: &Route, who: Who, fx: &Fixture) -> String {
    let path = route
        .path
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => sample_param(route, who, param, fx),
                None => seg.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    // Operations wait for the unit's lock instead of answering busy.
    if route.query.iter().any(|(q, _, _)| *q == "wait_secs") {
        format!("{path}?wait_secs=30")
    } else {
        path
    }
}

/// A minimal valid body of the route for `who` (names differ per caller where they must be new).
fn sample_body(route: &Route, who: Who) -> serde_json::Value {
    let mine = format!("m-{}", who.word());
    match route.name {
        "login" => json!({"user": "bob", "password": BOB_PW}),
        "add_account" => {
            json!({"name": mine, "role": "builder", "password": "newcomer password"})
        }
        "set_password" => json!({"password": BOB_PW}),
        "register_template" => json!({"name": mine, "driver": "local", "source": "image-9"}),
        "update_template" => json!({"source": format!("image-{mine}")}),
        "create_unit" => json!({"name": mine, "file_name": "u.yaml", "unit_file": UNIT_FILE}),
        "chown_unit" => json!({"to": "bob"}),
        "apply" | "rollback" | "start_unit" | "stop_unit" | "upgrade" | "start_group"
        | "stop_group" | "recover_server" => json!({"wait_secs": 30}),
        "scale" => json!({"group": "web", "count": 3, "grace_secs": 0, "wait_secs": 30}),
        "attach" => json!({"address": "192.0.2.7", "wait_secs": 30}),
        "mark_server" => json!({"comment": "matrix"}),
        "drain_host" => json!({"timeout_secs": 30}),
        "rebalance_hosts" => json!({"dry_run": true}),
        "add_host" => {
            json!({"name": mine, "driver": "local", "dir": format!("/nonexistent/vsm-matrix/{mine}")})
        }
        "set_log_settings" => json!({}),
        other => panic!("route {other}: no sample body; add one to sample_body"),
    }
}

/// Sends one request of the matrix; returns its status and, for errors, the body.
async fn call(
    env: &Env,
    http: &reqwest::Client,
    route: &Route,
    who: Who,
    fx: &mut Fixture,
) -> (u16, String) {
    let mut token = fx.tokens[&who].clone();
    if matches!(route.name, "logout" | "set_password") && token.is_some() {
        // Logging out and changing a password end sessions: use a session of their own.
        let (user, pw) = match who {
            Who::Owner => ("bob", BOB_PW),
            Who::Other => ("carol", CAROL_PW),
            _ => ("root", ROOT_PW),
        };
        token = env.login(user, pw).await.token().map(str::to_owned);
    }
    let path = sample_path(route, who, fx);
    let mut req = http.request(route.method.clone(), format!("{}{path}", env.url));
    if let Some(t) = &token {
        req = req.bearer_auth(t);
    }
    req = match route.request {
        Body::Empty => req,
        Body::Json(_) | Body::OptionalJson(_) | Body::JsonList(_) => {
            req.json(&sample_body(route, who))
        }
        Body::Tar => req
            .header("content-type", "application/x-tar")
            .body(fx.archive.clone()),
        Body::EventStream | Body::Text => panic!("{} cannot be a request body", route.name),
    };
    let resp = tokio::time::timeout(Duration::from_secs(60), req.send())
        .await
        .unwrap_or_else(|_| panic!("{} {path} as {} hung", route.method, who.word()))
        .unwrap_or_else(|e| panic!("{} {path} as {}: {e}", route.method, who.word()));
    if route.name == "set_password" {
        // bob's password was (re)set: his sessions ended.
        let fresh = env.login("bob", BOB_PW).await;
        fx.tokens
            .insert(Who::Owner, fresh.token().map(str::to_owned));
    }
    let status = resp.status().as_u16();
    let text = if status >= 400 {
        resp.text().await.unwrap_or_default()
    } else {
        String::new()
    };
    (status, text)
}

/// Routes that delete what others use run last.
fn destructive(name: &str) -> u8 {
    match name {
        "delete_template" | "delete_unit" | "delete_account" | "remove_host" => 1,
        _ => 0,
    }
}

#[tokio::test]
async fn authorization_matrix_from_the_route_table() {
    let env = env().await;
    let mut fx = fixture(&env).await;
    let expected = expected_rows();
    let http = reqwest::Client::new();
    let mut table = routes();
    table.sort_by_key(|r| destructive(r.name));
    let mut failures = Vec::new();
    let mut checked = 0;
    for route in &table {
        let Some(row) = expected.get(&key(route)) else {
            failures.push(format!(
                "route {} has no row in EXPECTED (proof_tests/authz.rs)",
                key(route)
            ));
            continue;
        };
        for who in CALLERS {
            let (status, body) = call(&env, &http, route, who, &mut fx).await;
            let want = row[who.column()];
            if status != want {
                failures.push(format!(
                    "{} ({}) as {}: status {status}, expected {want} ({}) {body}",
                    key(route),
                    route.name,
                    who.word(),
                    if allowed(want) { "allowed" } else { "denied" },
                ));
            }
            checked += 1;
        }
    }
    for (method, path, row) in EXPECTED_VARIANTS {
        for who in CALLERS {
            let mut req = http.request(
                method.parse().expect("method"),
                format!("{}{path}", env.url),
            );
            if let Some(t) = &fx.tokens[&who] {
                req = req.bearer_auth(t);
            }
            let status = req.send().await.expect("send").status().as_u16();
            let want = row[who.column()];
            if status != want {
                failures.push(format!(
                    "{method} {path} as {}: status {status}, expected {want}",
                    who.word()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
    assert_eq!(checked, routes().len() * CALLERS.len());
}

/// Routes every account may call show only what the caller may see: another builder's units,
/// operations and servers stay out of lists, and a builder cannot change another account's
/// password (the administrator's least of all).
#[tokio::test]
async fn listings_show_only_what_the_caller_may_see() {
    let env = env().await;
    let (root, bob, carol) = env.people().await;
    let unit = env.shop(&bob).await;
    let start = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start");
    let start = finish(&bob, &start).await;

    let carols_units = carol.list_units(false).await.expect("carol's units");
    assert!(
        carols_units.iter().all(|u| u.name != unit),
        "{carols_units:?}"
    );
    let all = carol.list_units(true).await.expect_err("all units");
    assert_eq!(
        super::super::tests::api_kind(&all),
        crate::ErrorKind::Forbidden
    );
    let ops = carol
        .list_operations(None)
        .await
        .expect("carol's operations");
    assert!(
        ops.iter()
            .all(|o| o.unit.as_ref() != Some(&unit) && o.id != start.summary.id),
        "{ops:?}"
    );
    let err = carol
        .list_operations(Some(&unit))
        .await
        .expect_err("bob's unit's operations");
    assert_eq!(
        super::super::tests::api_kind(&err),
        crate::ErrorKind::Forbidden
    );
    let rows = carol.pfm_rows().await.expect("carol's PFM rows");
    assert!(rows.iter().all(|r| r.unit != unit), "{rows:?}");

    // The owner and the administrator see them.
    for (who, c) in [("bob", &bob), ("root", &root)] {
        let ops = c.list_operations(None).await.expect("operations");
        assert!(
            ops.iter().any(|o| o.id == start.summary.id),
            "{who}: {ops:?}"
        );
        let rows = c.pfm_rows().await.expect("PFM rows");
        assert_eq!(
            rows.iter().filter(|r| r.unit == unit).count(),
            2,
            "{who}: {rows:?}"
        );
    }
    assert!(
        root.list_units(true)
            .await
            .expect("all units")
            .iter()
            .any(|u| u.name == unit)
    );

    for target in ["root", "carol"] {
        let err = bob
            .set_password(&name(target), &Password::new("taken over"))
            .await
            .expect_err("another account's password");
        assert_eq!(
            super::super::tests::api_kind(&err),
            crate::ErrorKind::Forbidden,
            "bob sets {target}'s password: {err:?}"
        );
    }
    env.login("root", ROOT_PW).await;
    env.login("carol", CAROL_PW).await;
}
