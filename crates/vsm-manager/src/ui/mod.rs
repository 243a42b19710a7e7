//! The web console at `/ui`: server-rendered pages (`maud`, in `pages.rs`) and a little plain
//! JavaScript (`assets/console.js`), all served from the binary; no Node, no CDN.
//!
//! Layout: `security.rs` (the guard of every console request: foreign `Host`/`Origin`
//! refused, Content-Security-Policy; the session cookie and CSRF tokens; logins go through the
//! API's rate-limited `http::state::limited_login`), `handlers.rs` (one handler per page,
//! action and live stream: sessions, units and operations there; a unit's groups and servers
//! in `handlers/actions.rs`, a server's log and its follow stream in `handlers/logs.rs`, the
//! definitions' import, diff and apply in `handlers/definitions.rs`, templates and the
//! administrators' pages in `handlers/admin.rs`), `pages.rs` (every template, with
//! `pages/actions.rs`, `pages/definitions.rs` and `pages/admin.rs` alike), `filter.rs` (which
//! server rows a page shows), `multipart.rs` (the import form's body, read as it streams),
//! `i18n.rs` (English and Japanese: every text the console writes). [`routes`] is the one
//! table of the console's routes, which builds the router and drives the console's
//! authorization-matrix test; any other path under `/ui/` gets the console's 404 page
//! ([`router`]). To add a page: a template in `pages*`, a handler in `handlers*`, a row in
//! [`routes`] (saying who it serves, [`Who`]), its texts in `i18n.rs`.
//!
//! Like the API, the console holds no policy: every handler asks the [`crate::Manager`] with
//! the signed-in [`crate::api::Actor`], which authorizes. It sits above `http/` (it uses the
//! API's state, login limiter and error bodies); `http/server.rs` merges its router.

mod filter;
mod handlers;
mod i18n;
mod multipart;
mod pages;
mod security;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, any, get, post};

use crate::http::state::AppState;

/// Who may call a console route, as the matrix test checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone (the login form, static files).
    Public,
    /// A page: an anonymous caller is sent to the login page.
    Page,
    /// A live stream: an anonymous caller gets `401`.
    Stream,
    /// A state change: `401` when anonymous, `403` without the session's CSRF token.
    Change,
}

/// Which signed-in callers a route serves, as the matrix test checks it (the manager decides;
/// this only says what the test expects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    /// Every signed-in account (what it shows depends on who asks).
    Anyone,
    /// A unit's owner and administrators: it names a unit (or an operation of one), so
    /// another builder is refused.
    Owner,
    /// Administrators only: every builder is refused.
    Admin,
}

/// One console route.
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "method, access and who are read by the matrix test"
    )
)]
pub(crate) struct Route {
    /// The method.
    pub(crate) method: Method,
    /// The axum path.
    pub(crate) path: &'static str,
    /// Who may call it.
    pub(crate) access: Access,
    /// Which signed-in callers it serves.
    pub(crate) who: Who,
    handler: fn() -> MethodRouter<AppState>,
}

/// Every route of the console.
pub(crate) fn routes() -> Vec<Route> {
    fn r(
        method: Method,
        path: &'static str,
        access: Access,
        who: Who,
        handler: fn() -> MethodRouter<AppState>,
    ) -> Route {
        Route {
            method,
            path,
            access,
            who,
            handler,
        }
    }
    use Access::*;
    use Who::*;
    vec![
        // Sessions and files.
        r(Method::GET, "/ui", Public, Anyone, || get(handlers::root)),
        r(Method::GET, "/ui/login", Public, Anyone, || {
            get(handlers::login_form)
        }),
        r(Method::POST, "/ui/login", Public, Anyone, || {
            post(handlers::login)
        }),
        r(Method::POST, "/ui/logout", Change, Anyone, || {
            post(handlers::logout)
        }),
        r(Method::GET, "/ui/assets/{file}", Public, Anyone, || {
            get(asset)
        }),
        // Units.
        r(Method::GET, "/ui/units", Page, Anyone, || {
            get(handlers::units)
        }),
        r(Method::GET, "/ui/units/{unit}", Page, Owner, || {
            get(handlers::unit)
        }),
        r(Method::GET, "/ui/units/{unit}/live", Stream, Owner, || {
            get(handlers::unit_live)
        }),
        r(
            Method::GET,
            "/ui/units/{unit}/confirm/{action}",
            Page,
            Owner,
            || get(handlers::confirm),
        ),
        r(
            Method::POST,
            "/ui/units/{unit}/{action}",
            Change,
            Owner,
            || post(handlers::unit_action),
        ),
        // Groups.
        r(
            Method::GET,
            "/ui/units/{unit}/groups/{group}/confirm/{action}",
            Page,
            Owner,
            || get(handlers::actions::group_confirm),
        ),
        r(
            Method::POST,
            "/ui/units/{unit}/groups/{group}/{action}",
            Change,
            Owner,
            || post(handlers::actions::group_action),
        ),
        // Servers.
        r(
            Method::GET,
            "/ui/units/{unit}/servers/{server}",
            Page,
            Owner,
            || get(handlers::actions::server),
        ),
        r(
            Method::GET,
            "/ui/units/{unit}/servers/{server}/confirm/{action}",
            Page,
            Owner,
            || get(handlers::actions::server_confirm),
        ),
        r(
            Method::POST,
            "/ui/units/{unit}/servers/{server}/{action}",
            Change,
            Owner,
            || post(handlers::actions::server_action),
        ),
        r(
            Method::GET,
            "/ui/units/{unit}/servers/{server}/logs",
            Page,
            Owner,
            || get(handlers::logs::logs),
        ),
        r(
            Method::GET,
            "/ui/units/{unit}/servers/{server}/logs/live",
            Stream,
            Owner,
            || get(handlers::logs::logs_live),
        ),
        // Definitions.
        r(
            Method::GET,
            "/ui/units/{unit}/definitions",
            Page,
            Owner,
            || get(handlers::definitions::definitions),
        ),
        r(
            Method::POST,
            "/ui/units/{unit}/definitions/{action}",
            Change,
            Owner,
            || {
                post(handlers::definitions::upload)
                    .layer(axum::extract::DefaultBodyLimit::disable())
            },
        ),
        // Operations.
        r(Method::GET, "/ui/operations/{id}", Page, Owner, || {
            get(handlers::operation)
        }),
        r(
            Method::GET,
            "/ui/operations/{id}/live",
            Stream,
            Owner,
            || get(handlers::operation_live),
        ),
        r(
            Method::POST,
            "/ui/operations/{id}/cancel",
            Change,
            Owner,
            || post(handlers::cancel_operation),
        ),
        // Templates.
        r(Method::GET, "/ui/templates", Page, Anyone, || {
            get(handlers::admin::templates)
        }),
        // Administrators.
        r(Method::GET, "/ui/accounts", Page, Admin, || {
            get(handlers::admin::accounts)
        }),
        r(Method::POST, "/ui/accounts", Change, Admin, || {
            post(handlers::admin::add_account)
        }),
        r(
            Method::GET,
            "/ui/accounts/{account}/{action}",
            Page,
            Admin,
            || get(handlers::admin::account_form),
        ),
        r(
            Method::POST,
            "/ui/accounts/{account}/{action}",
            Change,
            Admin,
            || post(handlers::admin::account_action),
        ),
        r(Method::GET, "/ui/owners", Page, Admin, || {
            get(handlers::admin::owners)
        }),
        r(Method::POST, "/ui/owners/{unit}", Change, Admin, || {
            post(handlers::admin::chown)
        }),
        r(Method::GET, "/ui/audit", Page, Admin, || {
            get(handlers::admin::audit)
        }),
        r(Method::GET, "/ui/log-settings", Page, Admin, || {
            get(handlers::admin::log_settings)
        }),
        r(Method::POST, "/ui/log-settings", Change, Admin, || {
            post(handlers::admin::set_log_settings)
        }),
        r(Method::GET, "/ui/hosts", Page, Admin, || {
            get(handlers::admin::hosts)
        }),
    ]
}

/// The console's router, every route behind [`security::guard`]: the routes of [`routes`], and
/// the console's own 404 page for every other path under `/ui/` (see [`handlers::not_found`]).
///
/// That page is a catch-all route, `/ui/{*rest}`, rather than the router's fallback: this
/// router is merged into the API's, which has the fallback (the API's 404 for every path
/// outside `/ui`), and a route passes the guard like any other. A path of the table that does
/// not take the request's method has a method fallback ([`handlers::wrong_method`]): a `GET`
/// of a path that only takes `POST` (`/ui/units/shop/nosuch` matches the unit actions'
/// `/ui/units/{unit}/{action}`) is an unknown page too.
pub(crate) fn router(state: AppState) -> axum::Router {
    // A path's routes (a path may take GET and POST), with the methods they take.
    let mut paths: Vec<(&'static str, Vec<Method>, MethodRouter<AppState>)> = Vec::new();
    for route in routes() {
        let handler = (route.handler)();
        match paths.iter_mut().find(|(path, _, _)| *path == route.path) {
            Some((_, methods, methods_router)) => {
                methods.push(route.method);
                *methods_router = std::mem::take(methods_router).merge(handler);
            }
            None => paths.push((route.path, vec![route.method], handler)),
        }
    }
    let mut router = axum::Router::new();
    for (path, methods, methods_router) in paths {
        let allow = allow_header(&methods);
        router = router.route(
            path,
            methods_router.fallback(
                move |st: State<AppState>, method: Method, uri: Uri, headers: HeaderMap| {
                    let allow = allow.clone();
                    async move { handlers::wrong_method(st, method, uri, headers, allow).await }
                },
            ),
        );
    }
    router
        .route("/ui/", any(handlers::not_found))
        .route("/ui/{*rest}", any(handlers::not_found))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}

/// The `Allow` header of a path that takes `methods` (a `GET` takes `HEAD` too).
fn allow_header(methods: &[Method]) -> HeaderValue {
    let mut names: Vec<&str> = Vec::new();
    for m in methods {
        names.push(m.as_str());
        if *m == Method::GET {
            names.push(Method::HEAD.as_str());
        }
    }
    HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| HeaderValue::from_static("GET"))
}

/// The console's static files, compiled into the binary.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    ),
];

/// `GET /ui/assets/{file}`.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> axum::response::Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            *body,
        )
            .into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
