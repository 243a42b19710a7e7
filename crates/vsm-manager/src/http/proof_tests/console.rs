//! The web console's authorization matrix: every route of the console's route table
//! (`crate::ui::routes`), with one or more samples each (every action a route dispatches), ×
//! {anonymous, the owner builder, another builder, an administrator}, as real requests with
//! cookies: pages and streams of a unit are refused to another builder, the administrators'
//! pages and changes to every builder; plus the console's own defences — a missing or wrong
//! CSRF token (also inside an upload's multipart form), a foreign `Origin` or `Host`, the
//! headers of every answer (Content-Security-Policy, the cookie's attributes), and a live
//! stream that ends when its unit is given away.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use vsm_core::{OperationId, UnitName};

use super::super::tests::{BOB_PW, CAROL_PW, ROOT_PW, env, name};
use crate::api::*;
use crate::ui::{Access, Who, routes};

/// A browser-like client: no redirects followed, one session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: Option<String>,
    csrf: Option<String>,
}

/// The value of cookie `name` set by an answer.
fn set_cookie(h: &HeaderMap, name: &str) -> Option<(String, String)> {
    h.get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=')?;
            (k == name).then(|| (val.to_owned(), v.to_owned()))
        })
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)?;
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

fn assert_secure_headers(h: &HeaderMap, what: &str) {
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.starts_with("default-src 'self'"),
        "{what}: Content-Security-Policy {csp:?}"
    );
    assert_eq!(
        h.get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff"),
        "{what}"
    );
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            session: None,
            csrf: None,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(s) = &self.session {
            req = req.header("cookie", format!("vsm_session={s}"));
        }
        let resp = req.send().await.expect("send");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let body = if ct.starts_with("text/event-stream") {
            // A stream: its headers are the answer.
            String::new()
        } else {
            resp.text().await.expect("body")
        };
        assert_secure_headers(&headers, path);
        (status, headers, body)
    }

    async fn post(
        &self,
        path: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let form = (
            "application/x-www-form-urlencoded".to_owned(),
            body.as_bytes().to_vec(),
        );
        self.post_as(path, form, extra).await
    }

    async fn post_as(
        &self,
        path: &str,
        (content_type, body): (String, Vec<u8>),
        extra: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(s) = &self.session {
            req = req.header("cookie", format!("vsm_session={s}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.expect("body");
        assert_secure_headers(&headers, path);
        (status, headers, text)
    }

    /// Logs in through the form, as a browser does.
    async fn login(base: &str, user: &str, password: &str) -> Browser {
        let mut b = Browser::new(base);
        let (status, h, html) = b.get("/ui/login").await;
        assert_eq!(status, StatusCode::OK);
        let (pre, _) = set_cookie(&h, "vsm_login").expect("pre-login cookie");
        let csrf = csrf_in(&html).expect("login form's csrf");
        let body = format!(
            "user={user}&password={}&csrf={csrf}",
            password.replace(' ', "+")
        );
        let (status, h, text) = b
            .post(
                "/ui/login",
                &body,
                &[("cookie", &format!("vsm_login={pre}"))],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{user}: {text}");
        let (session, attrs) = set_cookie(&h, "vsm_session").expect("session cookie");
        assert!(attrs.contains("HttpOnly"), "{attrs}");
        assert!(attrs.contains("SameSite=Strict"), "{attrs}");
        assert!(attrs.contains("Path=/ui"), "{attrs}");
        assert!(!attrs.contains("Secure"), "no TLS here: {attrs}");
        b.session = Some(session);
        let (status, _, html) = b.get("/ui/units").await;
        assert_eq!(status, StatusCode::OK);
        b.csrf = Some(csrf_in(&html).expect("the logout form's csrf"));
        assert!(
            !html.contains(b.session.as_deref().unwrap_or("-")),
            "the session token is never in a page"
        );
        b
    }
}

/// A sample request of a route: its path, and for a change its body.
struct Sample {
    path: String,
    body: SampleBody,
}

/// The body of a sample change.
#[derive(Clone, Copy)]
enum SampleBody {
    /// A url-encoded form: these fields, then `csrf=…` when one is sent.
    Form(&'static str),
    /// A multipart form: `csrf` (when one is sent) and the definition archive.
    Upload,
}

const BOUNDARY: &str = "----vsmConsoleTestBoundary7MA4YWxk";

impl SampleBody {
    /// The content type and body, with `csrf` when given.
    fn with(self, csrf: Option<&str>, tar: &[u8]) -> (String, Vec<u8>) {
        match self {
            SampleBody::Form(fields) => {
                let mut parts: Vec<String> = Vec::new();
                if !fields.is_empty() {
                    parts.push(fields.to_owned());
                }
                if let Some(t) = csrf {
                    parts.push(format!("csrf={t}"));
                }
                (
                    "application/x-www-form-urlencoded".to_owned(),
                    parts.join("&").into_bytes(),
                )
            }
            SampleBody::Upload => {
                let mut b = Vec::new();
                if let Some(t) = csrf {
                    b.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{t}\r\n").as_bytes());
                }
                b.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"defs.tar\"\r\nContent-Type: application/x-tar\r\n\r\n").as_bytes());
                b.extend_from_slice(tar);
                b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
                (format!("multipart/form-data; boundary={BOUNDARY}"), b)
            }
        }
    }
}

/// The samples of a route: one per action it dispatches (in an order that each can succeed:
/// e.g. unmark after mark).
fn samples(method: &str, path: &'static str, op: OperationId) -> Vec<Sample> {
    let fill = |p: &str, action: &str, account: &str| {
        p.replace("{unit}", "shop")
            .replace("{id}", &op.to_string())
            .replace("{group}", "web")
            .replace("{server}", "web-1")
            .replace("{file}", "console.js")
            .replace("{account}", account)
            .replace("{action}", action)
    };
    let page = |actions: &[&str]| -> Vec<Sample> {
        actions
            .iter()
            .map(|a| Sample {
                path: fill(path, a, "erin"),
                body: SampleBody::Form(""),
            })
            .collect()
    };
    let change = |list: &[(&str, SampleBody)]| -> Vec<Sample> {
        list.iter()
            .map(|(a, body)| Sample {
                path: fill(path, a, "erin"),
                body: *body,
            })
            .collect()
    };
    use SampleBody::*;
    match (method, path) {
        ("GET", "/ui/units/{unit}/confirm/{action}") => page(&[
            "start",
            "stop",
            "apply?version=2&batch=50%25",
            "rollback",
            "upgrade",
        ]),
        ("POST", "/ui/units/{unit}/{action}") => change(&[
            ("stop", Form("")),
            ("apply", Form("version=1&batch=1")),
            ("apply", Form("version=2")),
            ("rollback", Form("")),
            ("upgrade", Form("")),
            ("start", Form("")),
        ]),
        ("GET", "/ui/units/{unit}/groups/{group}/confirm/{action}") => {
            page(&["start", "stop", "scale", "scale?count=3"])
        }
        ("POST", "/ui/units/{unit}/groups/{group}/{action}") => change(&[
            ("stop", Form("")),
            ("start", Form("")),
            ("scale", Form("count=3")),
        ]),
        ("GET", "/ui/units/{unit}/servers/{server}/confirm/{action}") => page(&["recover"]),
        ("POST", "/ui/units/{unit}/servers/{server}/{action}") => change(&[
            ("mark", Form("comment=disk+full")),
            ("unmark", Form("")),
            ("recover", Form("")),
        ]),
        ("POST", "/ui/units/{unit}/definitions/{action}") => {
            change(&[("diff", Upload), ("import", Upload)])
        }
        ("POST", "/ui/accounts") => {
            change(&[("", Form("name=gina&role=builder&password=gina+password+1"))])
        }
        ("GET", "/ui/accounts/{account}/{action}") => vec![
            Sample {
                path: fill(path, "password", "erin"),
                body: Form(""),
            },
            Sample {
                path: fill(path, "delete", "frank"),
                body: Form(""),
            },
        ],
        ("POST", "/ui/accounts/{account}/{action}") => vec![
            Sample {
                path: fill(path, "password", "erin"),
                body: Form("password=erin+password+2"),
            },
            Sample {
                path: fill(path, "delete", "frank"),
                body: Form(""),
            },
        ],
        ("POST", "/ui/owners/{unit}") => change(&[("", Form("to=bob"))]),
        ("POST", "/ui/log-settings") => change(&[("", Form("level=info&files=&size_mb="))]),
        _ => page(&[""]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_routes_are_authorized_like_the_api() {
    let env = env().await;
    let (root, bob, _carol) = env.people().await;
    let unit: UnitName = env.shop(&bob).await;
    // A second version, for apply's version picker and rollback.
    let v2 = env.definitions("defs-v2", "v2");
    bob.import_directory(&unit, &v2).await.expect("import v2");
    let tar = crate::http::archive::pack(&env.definitions("defs-v3", "v3")).expect("pack");
    let op: OperationId = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start")
        .summary
        .id;
    bob.wait_finished(op, Duration::from_secs(20))
        .await
        .expect("wait");
    // Accounts for the administrators' changes: erin's password is set, frank is deleted.
    for n in ["erin", "frank"] {
        root.create_account(&AddAccount {
            name: name(n),
            role: vsm_core::Role::Builder,
            password: Password::new(format!("{n} password 1")),
        })
        .await
        .expect("add account");
    }

    let anon = Browser::new(&env.url);
    let owner = Browser::login(&env.url, "bob", BOB_PW).await;
    let other = Browser::login(&env.url, "carol", CAROL_PW).await;
    let admin = Browser::login(&env.url, "root", ROOT_PW).await;

    // What each caller sees of the units page.
    let (_, _, bob_units) = owner.get("/ui/units").await;
    assert!(bob_units.contains(r#"data-unit="shop""#), "{bob_units}");
    assert!(
        !bob_units.contains("/ui/accounts"),
        "a builder is not offered the administrators' pages"
    );
    let (_, _, carol_units) = other.get("/ui/units").await;
    assert!(
        !carol_units.contains("shop"),
        "carol sees bob's unit: {carol_units}"
    );
    let (_, _, root_units) = admin.get("/ui/units").await;
    assert!(
        root_units.contains(r#"<td class="owner">bob</td>"#),
        "{root_units}"
    );
    assert!(
        root_units.contains(r#"href="/ui/accounts""#),
        "{root_units}"
    );

    let csrf = |b: &Browser| b.csrf.clone().unwrap_or_default();
    let mut covered = 0;
    let mut sampled = 0;
    for route in routes() {
        if matches!(
            (route.method.as_str(), route.path),
            ("POST", "/ui/login") | ("POST", "/ui/logout")
        ) {
            // Below, on their own.
            covered += 1;
            continue;
        }
        covered += 1;
        for sample in samples(route.method.as_str(), route.path, op) {
            sampled += 1;
            let path = sample.path.as_str();
            assert!(
                !path.contains('{'),
                "no sample for {} {}",
                route.method,
                route.path
            );
            let what = format!("{} {path}", route.method);
            match route.access {
                Access::Public => {
                    let (status, _, _) = anon.get(path).await;
                    assert!(
                        status == StatusCode::OK || status == StatusCode::SEE_OTHER,
                        "{what}: {status}"
                    );
                }
                Access::Page | Access::Stream => {
                    let (status, h, _) = anon.get(path).await;
                    if route.access == Access::Page {
                        assert_eq!(status, StatusCode::SEE_OTHER, "{what} anonymous");
                        assert_eq!(
                            h.get(LOCATION).and_then(|v| v.to_str().ok()),
                            Some("/ui/login"),
                            "{what}"
                        );
                    } else {
                        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} anonymous");
                    }
                    let (status, _, body) = admin.get(path).await;
                    assert_eq!(status, StatusCode::OK, "{what} admin: {body}");
                    let (status, _, body) = owner.get(path).await;
                    match route.who {
                        Who::Admin => {
                            assert_eq!(status, StatusCode::FORBIDDEN, "{what} builder: {body}")
                        }
                        Who::Owner | Who::Anyone => {
                            assert_eq!(status, StatusCode::OK, "{what} owner: {body}");
                        }
                    }
                    let (status, _, body) = other.get(path).await;
                    match route.who {
                        Who::Anyone => assert_eq!(status, StatusCode::OK, "{what} other builder"),
                        Who::Owner | Who::Admin => {
                            assert!(
                                status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                                "{what} other builder: {status} {body}"
                            );
                            assert!(
                                !body.contains("web-1") || route.who == Who::Admin,
                                "{what}: other builder sees servers"
                            );
                        }
                    }
                }
                Access::Change => {
                    let body = |t: Option<&str>| sample.body.with(t, &tar);
                    let (status, _, _) = anon.post_as(path, body(None), &[]).await;
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} anonymous");
                    let (status, _, text) = owner.post_as(path, body(None), &[]).await;
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what} without csrf: {text}");
                    let (status, _, _) = owner.post_as(path, body(Some("0123abcd")), &[]).await;
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what} with a wrong csrf");
                    // Another session's token is no good either.
                    let (status, _, _) = owner.post_as(path, body(Some(&csrf(&other))), &[]).await;
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what} with carol's csrf");
                    let bob_csrf = csrf(&owner);
                    let (status, _, _) = owner
                        .post_as(
                            path,
                            body(Some(&bob_csrf)),
                            &[("origin", "http://evil.example")],
                        )
                        .await;
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{what} from a foreign origin"
                    );
                    let (status, _, _) = owner
                        .post_as(
                            path,
                            body(Some(&bob_csrf)),
                            &[("sec-fetch-site", "cross-site")],
                        )
                        .await;
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what} cross-site");
                    if route.who != Who::Anyone {
                        let (status, _, text) =
                            other.post_as(path, body(Some(&csrf(&other))), &[]).await;
                        assert!(
                            status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                            "{what} other builder: {status} {text}"
                        );
                    }
                    let doer = if route.who == Who::Admin {
                        // Even the unit's owner is refused an administrator's change.
                        let (status, _, text) =
                            owner.post_as(path, body(Some(&bob_csrf)), &[]).await;
                        assert_eq!(status, StatusCode::FORBIDDEN, "{what} builder: {text}");
                        &admin
                    } else {
                        &owner
                    };
                    let origin = env.url.clone();
                    let (status, h, text) = doer
                        .post_as(path, body(Some(&csrf(doer))), &[("origin", &origin)])
                        .await;
                    if matches!(sample.body, SampleBody::Upload) {
                        // An upload answers with what it found (200), not a redirect.
                        assert_eq!(status, StatusCode::OK, "{what}: {text}");
                        assert!(!text.contains("role=\"alert\""), "{what}: {text}");
                        continue;
                    }
                    assert_eq!(status, StatusCode::SEE_OTHER, "{what}: {text}");
                    let to = h
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(id) = to.strip_prefix("/ui/operations/") {
                        let id: OperationId = id.parse().expect("operation id");
                        bob.wait_finished(id, Duration::from_secs(20))
                            .await
                            .expect("wait");
                    }
                }
            }
        }
    }
    assert_eq!(covered, routes().len());
    eprintln!("{covered} console routes, {sampled} samples, each as 4 callers");
    // The administrator's changes happened.
    let accounts: Vec<String> = root
        .list_accounts()
        .await
        .expect("accounts")
        .into_iter()
        .map(|a| a.name.to_string())
        .collect();
    assert!(accounts.contains(&"gina".to_owned()), "{accounts:?}");
    assert!(!accounts.contains(&"frank".to_owned()), "{accounts:?}");

    // Japanese for a browser that prefers it; English otherwise.
    for (who, page, accept, lang, heading) in [
        (
            &owner,
            "/ui/units",
            "ja-JP,ja;q=0.9,en;q=0.8",
            "ja",
            "管理ユニット",
        ),
        (
            &owner,
            "/ui/units",
            "en-US,en;q=0.9",
            "en",
            "Management units",
        ),
        (&owner, "/ui/templates", "ja", "ja", "テンプレート"),
        (&admin, "/ui/accounts", "ja", "ja", "アカウント"),
        (&admin, "/ui/hosts", "ja", "ja", "ホスト"),
        (&admin, "/ui/audit", "en", "en", "Audit log"),
    ] {
        let html = who
            .http
            .get(format!("{}{page}", env.url))
            .header("accept-language", accept)
            .header(
                "cookie",
                format!("vsm_session={}", who.session.as_deref().unwrap_or_default()),
            )
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("body");
        assert!(
            html.contains(&format!(r#"<html lang="{lang}">"#)),
            "{accept}: {html}"
        );
        assert!(
            html.contains(&format!("<h1>{heading}</h1>")),
            "{accept}: {html}"
        );
    }

    // Any other path under /ui/ is the console's 404 page, with the console's headers (its
    // CSP included: `get` checks them), signed in or not; so is a GET of a path that only
    // takes POST (/ui/units/shop/nosuch matches the unit actions' route).
    for (who, path, signed_in) in [
        (&anon, "/ui/nosuch", false),
        (&owner, "/ui/nosuch", true),
        (&owner, "/ui/units/shop/nosuch", true),
        (&other, "/ui/units/shop/nosuch", true),
        (&anon, "/ui/units/shop/nosuch", false),
        (&admin, "/ui/units/shop/servers/web-1/logs/live/more", true),
        (&owner, "/ui/", true),
        (&anon, "/ui/logout", false),
    ] {
        let (status, h, html) = who.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}: {html}");
        assert_eq!(
            h.get("content-security-policy")
                .and_then(|v| v.to_str().ok()),
            Some("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
            "GET {path}"
        );
        assert!(
            h.get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with("text/html")),
            "GET {path}: {h:?}"
        );
        assert!(html.contains(r#"<html lang="en">"#), "GET {path}: {html}");
        assert!(
            html.contains("<h1>Page not found</h1>"),
            "GET {path}: {html}"
        );
        assert!(
            html.contains(&format!(
                r#"<p id="not-found">There is no console page at {path}.</p>"#
            )),
            "GET {path}: {html}"
        );
        assert_eq!(
            html.contains("Signed in as"),
            signed_in,
            "GET {path}: {html}"
        );
    }
    // In Japanese for a browser that prefers it.
    let resp = owner
        .http
        .get(format!("{}/ui/units/shop/nosuch", env.url))
        .header("accept-language", "ja-JP,ja;q=0.9")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_secure_headers(resp.headers(), "404 in Japanese");
    let html = resp.text().await.expect("body");
    assert!(html.contains(r#"<html lang="ja">"#), "{html}");
    assert!(html.contains("<h1>ページが見つかりません</h1>"), "{html}");
    assert!(
        html.contains("/ui/units/shop/nosuch というコンソールのページはありません。"),
        "{html}"
    );
    // Other methods: an unknown path is not found either; a path that does not take the
    // method says which it takes.
    let (status, _, html) = owner
        .post("/ui/nosuch", &format!("csrf={}", csrf(&owner)), &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "POST /ui/nosuch: {html}");
    assert!(
        html.contains("There is no console page at /ui/nosuch."),
        "{html}"
    );
    let (status, h, html) = owner
        .post("/ui/units", &format!("csrf={}", csrf(&owner)), &[])
        .await;
    assert_eq!(
        status,
        StatusCode::METHOD_NOT_ALLOWED,
        "POST /ui/units: {html}"
    );
    assert_eq!(
        h.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, HEAD")
    );
    assert!(html.contains("/ui/units does not take POST"), "{html}");
    // A foreign Host is refused before any of this.
    let resp = anon
        .http
        .get(format!("{}/ui/nosuch", env.url))
        .header("host", "evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "foreign Host, unknown path"
    );
    assert_secure_headers(resp.headers(), "foreign host, unknown path");
    // Outside /ui the API's own 404 stays.
    for path in ["/api/v1/nosuch", "/nosuch", "/uinosuch"] {
        let resp = anon
            .http
            .get(format!("{}{path}", env.url))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body = resp.text().await.expect("body");
        assert!(body.contains("no such route"), "{path}: {body}");
        assert!(!body.contains("Page not found"), "{path}: {body}");
    }

    // A foreign Host (a DNS-rebinding page) is refused, for pages as for changes.
    let (status, _, _) = {
        let resp = owner
            .http
            .get(format!("{}/ui/units", env.url))
            .header("host", "evil.example")
            .header(
                "cookie",
                format!(
                    "vsm_session={}",
                    owner.session.as_deref().unwrap_or_default()
                ),
            )
            .send()
            .await
            .expect("send");
        assert_secure_headers(resp.headers(), "foreign host");
        (resp.status(), (), ())
    };
    assert_eq!(status, StatusCode::FORBIDDEN, "foreign Host");

    // Login needs the pre-login cookie's token; a wrong password is the API's refusal.
    let (status, _, _) = anon.post("/ui/login", "user=bob&password=x", &[]).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "login without its csrf token"
    );
    let mut fresh = Browser::new(&env.url);
    let (_, h, html) = fresh.get("/ui/login").await;
    let (pre, _) = set_cookie(&h, "vsm_login").expect("pre-login cookie");
    let csrf = csrf_in(&html).expect("csrf");
    let (status, _, page) = fresh
        .post(
            "/ui/login",
            &format!("user=bob&password=wrong&csrf={csrf}"),
            &[("cookie", &format!("vsm_login={pre}"))],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    assert!(page.contains("role=\"alert\""), "{page}");
    fresh.session = None;

    // A live stream ends with "gone" when its unit is given to another account.
    let mut stream = owner
        .http
        .get(format!("{}/ui/units/shop/live", env.url))
        .header(
            "cookie",
            format!(
                "vsm_session={}",
                owner.session.as_deref().unwrap_or_default()
            ),
        )
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    // since=0: the first update comes at once.
    let first = read_until(&mut stream, "event: update").await;
    assert!(first.contains("web-1"), "{first}");
    root.create_account(&AddAccount {
        name: name("dave"),
        role: vsm_core::Role::Builder,
        password: Password::new("dave password"),
    })
    .await
    .expect("dave");
    root.chown_unit(&unit, &name("dave")).await.expect("chown");
    let gone = read_until(&mut stream, "event: gone").await;
    assert!(gone.contains("event: gone"), "{gone}");

    // Logout needs the token too, and ends the session.
    let (status, _, _) = owner.post("/ui/logout", "", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "logout without csrf");
    let body = format!("csrf={}", owner.csrf.as_deref().unwrap_or_default());
    let (status, h, _) = owner.post("/ui/logout", &body, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, attrs) = set_cookie(&h, "vsm_session").expect("cookie removed");
    assert!(attrs.contains("Max-Age=0"), "{attrs}");
    let (status, _, _) = owner.get("/ui/units").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the session ended");
}

/// Reads a stream until `needle` appears (20 s at most); everything read.
async fn read_until(resp: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within 20 s: {seen}"))
            .expect("read");
        match chunk {
            Some(c) => seen.push_str(&String::from_utf8_lossy(&c)),
            None => panic!("the stream ended before {needle:?}: {seen}"),
        }
    }
    seen
}
