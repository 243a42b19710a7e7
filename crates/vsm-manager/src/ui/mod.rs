//! The web console at `/ui`: server-rendered pages (`maud`, in `pages.rs`) and a little plain
//! JavaScript (`assets/console.js`), all served from the binary; no Node, no CDN.
//!
//! Layout: `security.rs` (the guard of every console request: foreign `Host`/`Origin`
//! refused, Content-Security-Policy; the session cookie and CSRF tokens; logins go through the API's rate-limited
//! `http::state::limited_login`), `handlers.rs` (one handler per page, action and live stream),
//! `pages.rs` (every template), `filter.rs` (which server rows a page shows), `i18n.rs`
//! (English and Japanese). [`routes`] is the one table of the console's routes, which builds
//! the router and drives the console's authorization-matrix test. To add a page: a template in
//! `pages.rs`, a handler in `handlers.rs`, a row in [`routes`].
//!
//! Like the API, the console holds no policy: every handler asks the [`crate::Manager`] with
//! the signed-in [`crate::api::Actor`], which authorizes. It sits above `http/` (it uses the
//! API's state, login limiter and error bodies); `http/server.rs` merges its router.

mod filter;
mod handlers;
mod i18n;
mod pages;
mod security;

use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};

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

/// One console route.
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "method, access and owned are read by the matrix test"
    )
)]
pub(crate) struct Route {
    /// The method.
    pub(crate) method: Method,
    /// The axum path.
    pub(crate) path: &'static str,
    /// Who may call it.
    pub(crate) access: Access,
    /// Whether it names a unit (or an operation of one), so another builder must be refused.
    pub(crate) owned: bool,
    handler: fn() -> MethodRouter<AppState>,
}

/// Every route of the console.
pub(crate) fn routes() -> Vec<Route> {
    fn r(
        method: Method,
        path: &'static str,
        access: Access,
        owned: bool,
        handler: fn() -> MethodRouter<AppState>,
    ) -> Route {
        Route {
            method,
            path,
            access,
            owned,
            handler,
        }
    }
    use Access::*;
    vec![
        r(Method::GET, "/ui", Public, false, || get(handlers::root)),
        r(Method::GET, "/ui/login", Public, false, || {
            get(handlers::login_form)
        }),
        r(Method::POST, "/ui/login", Public, false, || {
            post(handlers::login)
        }),
        r(Method::POST, "/ui/logout", Change, false, || {
            post(handlers::logout)
        }),
        r(Method::GET, "/ui/assets/{file}", Public, false, || {
            get(asset)
        }),
        r(Method::GET, "/ui/units", Page, false, || {
            get(handlers::units)
        }),
        r(Method::GET, "/ui/units/{unit}", Page, true, || {
            get(handlers::unit)
        }),
        r(Method::GET, "/ui/units/{unit}/live", Stream, true, || {
            get(handlers::unit_live)
        }),
        r(
            Method::GET,
            "/ui/units/{unit}/confirm/{action}",
            Page,
            true,
            || get(handlers::confirm),
        ),
        r(
            Method::POST,
            "/ui/units/{unit}/{action}",
            Change,
            true,
            || post(handlers::unit_action),
        ),
        r(Method::GET, "/ui/operations/{id}", Page, true, || {
            get(handlers::operation)
        }),
        r(
            Method::GET,
            "/ui/operations/{id}/live",
            Stream,
            true,
            || get(handlers::operation_live),
        ),
        r(
            Method::POST,
            "/ui/operations/{id}/cancel",
            Change,
            true,
            || post(handlers::cancel_operation),
        ),
    ]
}

/// The console's router (without a fallback: it is merged into the API's router), every route
/// behind [`security::guard`].
pub(crate) fn router(state: AppState) -> axum::Router {
    let mut router = axum::Router::new();
    for route in routes() {
        router = router.route(route.path, (route.handler)());
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
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
