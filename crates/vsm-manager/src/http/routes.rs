//! The route table of the API and its handlers: one entry per route of `/work/notes/API.md`,
//! with its access rule, bodies and documentation.
//!
//! The same table builds the axum router, the OpenAPI document and the authorization test, so
//! a route cannot be added without saying who may call it. Handlers translate HTTP to
//! [`crate::Manager`] calls and back; they never check permissions themselves (the manager
//! does, with the [`Actor`] passed on).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::body::Body as HttpBody;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use camino::{Utf8Path, Utf8PathBuf};
use futures::Stream;
use vsm_core::{
    AccountName, Action, DefinitionVersion, GroupName, HostName, OperationId, ServerName,
    TemplateName, UnitName,
};

use super::api::*;
use super::conditional::{self, BlockingQuery};
use super::error::{ApiError, ErrorBody};
use super::state::{AppState, Json, OptionalJson, Path, Query, SessionToken, authenticate};
use super::upload;
use super::watch;
use crate::api::*;
use crate::revision::Scope;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Everyone, without a token.
    Public,
    /// Every logged-in account.
    Session,
    /// Logged-in accounts the manager's policy allows for this action.
    Policy(Action),
}

/// A request or response body, for the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// None.
    Empty,
    /// JSON of the named schema.
    Json(&'static str),
    /// JSON of the named schema; an empty body means its defaults.
    OptionalJson(&'static str),
    /// A JSON array of the named schema.
    JsonList(&'static str),
    /// A tar archive.
    Tar,
    /// A `text/event-stream`.
    EventStream,
    /// Plain text (Prometheus).
    Text,
}

/// One route.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The HTTP method.
    pub(crate) method: Method,
    /// The path, with `{param}` segments.
    pub(crate) path: &'static str,
    /// The OpenAPI operation id.
    pub(crate) name: &'static str,
    /// Who may call it.
    pub(crate) access: Access,
    /// One line for the documentation.
    pub(crate) summary: &'static str,
    /// Query parameters: name, JSON type, description.
    pub(crate) query: &'static [(&'static str, &'static str, &'static str)],
    /// The request body.
    pub(crate) request: Body,
    /// The success response body.
    pub(crate) response: Body,
    /// The success status.
    pub(crate) status: u16,
    /// Builds the method router for the route.
    pub(crate) handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

const WAIT_Q: &[(&str, &str, &str)] = &[(
    "wait_secs",
    "integer",
    "how long to wait for a busy unit's lock, in seconds",
)];

/// The long-poll parameters of the conditional reads (see [`conditional`]).
const INDEX_Q: (&str, &str, &str) = (
    "index",
    "integer",
    "long-poll: answer once the resource's revision (the `X-Vsm-Index` of an earlier answer) is past this; without it the answer is immediate",
);
const WAITFOR_Q: (&str, &str, &str) = (
    "wait",
    "string",
    "long-poll: the longest wait for `index`, as seconds (`30`, `30s`), `500ms` or `5m` (default and cap 5m, plus up to 1/16 of it as jitter)",
);
const BLOCKING_Q: &[(&str, &str, &str)] = &[INDEX_Q, WAITFOR_Q];

const DELETE_Q: &[(&str, &str, &str)] = &[
    ("force", "boolean", "delete even if servers are running"),
    WAIT_Q[0],
];

/// Every route of the API.
pub(crate) fn routes() -> Vec<Route> {
    use Access::*;
    use Body::*;
    let r = |method: Method,
             path: &'static str,
             name: &'static str,
             access: Access,
             summary: &'static str,
             request: Body,
             response: Body,
             status: u16,
             handler: fn(MethodFilter) -> MethodRouter<AppState>| Route {
        method,
        path,
        name,
        access,
        summary,
        query: &[],
        request,
        response,
        status,
        handler,
    };
    let q = |mut route: Route, query: &'static [(&'static str, &'static str, &'static str)]| {
        route.query = query;
        route
    };
    let op = "OperationRecord";
    let opts = OptionalJson("OpOptions");
    vec![
        r(
            Method::GET,
            "/api/v1/health",
            "health",
            Public,
            "Whether the manager answers, its version, pid and state directory",
            Empty,
            Json("Health"),
            200,
            |m| on(m, health),
        ),
        r(
            Method::POST,
            "/api/v1/login",
            "login",
            Public,
            "Exchanges account and password for a session token (failed logins are rate-limited and audited)",
            Json("LoginRequest"),
            Json("Session"),
            200,
            |m| on(m, login),
        ),
        r(
            Method::POST,
            "/api/v1/logout",
            "logout",
            Session,
            "Ends the session of the token sent",
            Empty,
            Json("Done"),
            200,
            |m| on(m, logout),
        ),
        r(
            Method::GET,
            "/api/v1/whoami",
            "whoami",
            Session,
            "The caller's account and role",
            Empty,
            Json("WhoAmI"),
            200,
            |m| on(m, whoami),
        ),
        r(
            Method::GET,
            "/api/v1/accounts",
            "list_accounts",
            Policy(Action::AccountList),
            "Every account",
            Empty,
            JsonList("AccountInfo"),
            200,
            |m| on(m, list_accounts),
        ),
        r(
            Method::POST,
            "/api/v1/accounts",
            "add_account",
            Policy(Action::AccountAdd),
            "Adds an account",
            Json("AddAccount"),
            Json("AccountInfo"),
            201,
            |m| on(m, add_account),
        ),
        r(
            Method::DELETE,
            "/api/v1/accounts/{name}",
            "delete_account",
            Policy(Action::AccountDelete),
            "Deletes an account (refused while it owns units)",
            Empty,
            Json("Done"),
            200,
            |m| on(m, delete_account),
        ),
        r(
            Method::PUT,
            "/api/v1/accounts/{name}/password",
            "set_password",
            Policy(Action::AccountPasswd),
            "Sets an account's password (administrator, or the account itself)",
            Json("PasswordRequest"),
            Json("Done"),
            200,
            |m| on(m, set_password),
        ),
        q(
            r(
                Method::GET,
                "/api/v1/hosts",
                "list_hosts",
                Policy(Action::HostList),
                "Every host of the pool with its state, capacity and usage",
                Empty,
                JsonList("HostInfo"),
                200,
                |m| on(m, list_hosts),
            ),
            BLOCKING_Q,
        ),
        r(
            Method::POST,
            "/api/v1/hosts",
            "add_host",
            Policy(Action::HostAdd),
            "Adds a host to the pool (connected and asked for its capacity before it is stored)",
            Json("AddHost"),
            Json("HostInfo"),
            201,
            |m| on(m, add_host),
        ),
        r(
            Method::POST,
            "/api/v1/hosts/rebalance",
            "rebalance_hosts",
            Policy(Action::HostRebalance),
            "Proposes (dry_run) or applies the moves that restore the spread of spread groups over their hosts",
            OptionalJson("RebalanceRequest"),
            Json("RebalanceReport"),
            200,
            |m| on(m, rebalance_hosts),
        ),
        q(
            r(
                Method::GET,
                "/api/v1/hosts/{name}",
                "show_host",
                Policy(Action::HostShow),
                "One host with the servers placed on it",
                Empty,
                Json("HostInfo"),
                200,
                |m| on(m, show_host),
            ),
            BLOCKING_Q,
        ),
        r(
            Method::DELETE,
            "/api/v1/hosts/{name}",
            "remove_host",
            Policy(Action::HostRemove),
            "Removes a host (refused for a built-in host and while servers are placed on it)",
            Empty,
            Json("Done"),
            200,
            |m| on(m, remove_host),
        ),
        r(
            Method::POST,
            "/api/v1/hosts/{name}/drain",
            "drain_host",
            Policy(Action::HostDrain),
            "Moves every server off a host (group by group, never below a group's healthy servers) and puts it in maintenance; answers when done or at the time-out",
            OptionalJson("DrainRequest"),
            Json("DrainReport"),
            200,
            |m| on(m, drain_host),
        ),
        r(
            Method::POST,
            "/api/v1/hosts/{name}/confirm-down",
            "confirm_host_down",
            Policy(Action::HostConfirmDown),
            "Confirms a down host is lost (fenced): its servers restart on the other hosts",
            Empty,
            Json("ConfirmDownReport"),
            200,
            |m| on(m, confirm_host_down),
        ),
        r(
            Method::POST,
            "/api/v1/hosts/{name}/undrain",
            "undrain_host",
            Policy(Action::HostUndrain),
            "Puts a draining host or one in maintenance back into service",
            Empty,
            Json("HostInfo"),
            200,
            |m| on(m, undrain_host),
        ),
        q(
            r(
                Method::GET,
                "/api/v1/templates",
                "list_templates",
                Policy(Action::TemplateList),
                "Every template",
                Empty,
                JsonList("TemplateInfo"),
                200,
                |m| on(m, list_templates),
            ),
            BLOCKING_Q,
        ),
        r(
            Method::POST,
            "/api/v1/templates",
            "register_template",
            Policy(Action::TemplateRegister),
            "Registers a template (the caller owns it)",
            Json("RegisterTemplate"),
            Json("TemplateInfo"),
            201,
            |m| on(m, register_template),
        ),
        q(
            r(
                Method::GET,
                "/api/v1/templates/{name}",
                "show_template",
                Policy(Action::TemplateShow),
                "One template with its generations",
                Empty,
                Json("TemplateInfo"),
                200,
                |m| on(m, show_template),
            ),
            BLOCKING_Q,
        ),
        r(
            Method::DELETE,
            "/api/v1/templates/{name}",
            "delete_template",
            Policy(Action::TemplateDelete),
            "Deletes a template no unit uses",
            Empty,
            Json("Done"),
            200,
            |m| on(m, delete_template),
        ),
        r(
            Method::POST,
            "/api/v1/templates/{name}/generations",
            "update_template",
            Policy(Action::TemplateUpdate),
            "Adds a generation (a patched image) to a template",
            Json("GenerationRequest"),
            Json("TemplateInfo"),
            201,
            |m| on(m, update_template),
        ),
        q(
            r(
                Method::GET,
                "/api/v1/units",
                "list_units",
                Policy(Action::UnitList),
                "The caller's units (`all=true`: every owner's, administrators only)",
                Empty,
                JsonList("UnitSummary"),
                200,
                |m| on(m, list_units),
            ),
            &[
                (
                    "all",
                    "boolean",
                    "every owner's units (administrators only)",
                ),
                INDEX_Q,
                WAITFOR_Q,
            ],
        ),
        r(
            Method::POST,
            "/api/v1/units",
            "create_unit",
            Policy(Action::UnitCreate),
            "Creates a unit from a unit file (errors name the file and line)",
            Json("CreateUnitFromFile"),
            Json("UnitDetail"),
            201,
            |m| on(m, create_unit),
        ),
        q(
            r(
                Method::GET,
                "/api/v1/units/{unit}",
                "show_unit",
                Policy(Action::UnitShow),
                "Everything about one unit",
                Empty,
                Json("UnitDetail"),
                200,
                |m| on(m, show_unit),
            ),
            BLOCKING_Q,
        ),
        q(
            r(
                Method::GET,
                "/api/v1/units/{unit}/events",
                "unit_events",
                Policy(Action::UnitShow),
                "Watches a unit: `snapshot` (data: UnitDetail), then batched `delta`s (data: UnitDelta), each with `id` = the unit's revision; resumes after `Last-Event-ID` (or sends `resync` and a new `snapshot`); `heartbeat`; ends with `deleted` or `error` (docs/api.md)",
                Empty,
                EventStream,
                200,
                |m| on(m, unit_events),
            ),
            &[(
                "heartbeat",
                "string",
                "the heartbeat interval: `15s` (default), `15`, `500ms`, `1m`; at least 1s, at most 60s",
            )],
        ),
        q(
            r(
                Method::DELETE,
                "/api/v1/units/{unit}",
                "delete_unit",
                Policy(Action::UnitDelete),
                "Starts deleting a unit: stops and destroys its servers",
                Empty,
                Json(op),
                202,
                |m| on(m, delete_unit),
            ),
            DELETE_Q,
        ),
        r(
            Method::PUT,
            "/api/v1/units/{unit}/owner",
            "chown_unit",
            Policy(Action::UnitChown),
            "Gives a unit to another account",
            Json("Chown"),
            Json("Done"),
            200,
            |m| on(m, chown_unit),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/versions",
            "import_definitions",
            Policy(Action::UnitImport),
            "Imports a definition directory (tar) as a new immutable version",
            Tar,
            Json("ImportResult"),
            201,
            |m| on(m, import_definitions).layer(DefaultBodyLimit::disable()),
        ),
        r(
            Method::GET,
            "/api/v1/units/{unit}/versions",
            "list_versions",
            Policy(Action::UnitShow),
            "The unit's imported definition versions, oldest first",
            Empty,
            JsonList("VersionInfo"),
            200,
            |m| on(m, list_versions),
        ),
        r(
            Method::GET,
            "/api/v1/units/{unit}/versions/{version}/archive",
            "export_definitions",
            Policy(Action::UnitExport),
            "A definition version as a tar archive (`current` for the newest)",
            Empty,
            Tar,
            200,
            |m| on(m, export_definitions),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/diff",
            "diff_definitions",
            Policy(Action::UnitDiff),
            "What importing a definition directory (tar) would change, per group and file",
            Tar,
            Json("DefinitionDiff"),
            200,
            |m| on(m, diff_definitions).layer(DefaultBodyLimit::disable()),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/apply",
            "apply",
            Policy(Action::UnitApply),
            "Starts a batch apply or rolling roll-out of a definition version",
            OptionalJson("ApplyRequest"),
            Json(op),
            202,
            |m| on(m, apply),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/rollback",
            "rollback",
            Policy(Action::UnitRollback),
            "Starts re-applying the previous definition version",
            opts,
            Json(op),
            202,
            |m| on(m, rollback),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/start",
            "start_unit",
            Policy(Action::UnitStart),
            "Starts every group in start order",
            opts,
            Json(op),
            202,
            |m| on(m, start_unit),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/stop",
            "stop_unit",
            Policy(Action::UnitStop),
            "Stops every group in reverse start order",
            opts,
            Json(op),
            202,
            |m| on(m, stop_unit),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/scale",
            "scale",
            Policy(Action::UnitScale),
            "Scales a provisioned group out or in",
            Json("ScaleRequest"),
            Json(op),
            202,
            |m| on(m, scale),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/upgrade",
            "upgrade",
            Policy(Action::UnitUpgrade),
            "Re-provisions servers onto their template's newest generation",
            OptionalJson("UpgradeRequest"),
            Json(op),
            202,
            |m| on(m, upgrade),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/groups/{group}/start",
            "start_group",
            Policy(Action::GroupStart),
            "Starts one group",
            opts,
            Json(op),
            202,
            |m| on(m, start_group),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/groups/{group}/stop",
            "stop_group",
            Policy(Action::GroupStop),
            "Stops one group",
            opts,
            Json(op),
            202,
            |m| on(m, stop_group),
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/groups/{group}/attach",
            "attach",
            Policy(Action::GroupAttach),
            "Attaches an existing machine to a registered group",
            Json("AttachRequest"),
            Json(op),
            202,
            |m| on(m, attach),
        ),
        q(
            r(
                Method::DELETE,
                "/api/v1/units/{unit}/groups/{group}/servers/{server}",
                "detach",
                Policy(Action::GroupDetach),
                "Detaches a machine from a registered group (the machine is untouched)",
                Empty,
                Json(op),
                202,
                |m| on(m, detach),
            ),
            WAIT_Q,
        ),
        q(
            r(
                Method::GET,
                "/api/v1/units/{unit}/servers/{server}/logs",
                "server_logs",
                Policy(Action::ServerLogs),
                "A server's console or log",
                Empty,
                Json("ServerLogs"),
                200,
                |m| on(m, server_logs),
            ),
            &[("tail", "integer", "only the last N lines")],
        ),
        r(
            Method::POST,
            "/api/v1/units/{unit}/servers/{server}/recover",
            "recover_server",
            Policy(Action::ServerRecover),
            "Starts recovering a failed server",
            opts,
            Json(op),
            202,
            |m| on(m, recover_server),
        ),
        r(
            Method::PUT,
            "/api/v1/units/{unit}/servers/{server}/mark",
            "mark_server",
            Policy(Action::ServerMark),
            "Marks a server as failed, with a comment",
            Json("MarkRequest"),
            Json("Done"),
            200,
            |m| on(m, mark_server),
        ),
        r(
            Method::DELETE,
            "/api/v1/units/{unit}/servers/{server}/mark",
            "unmark_server",
            Policy(Action::ServerUnmark),
            "Removes a server's failure mark",
            Empty,
            Json("Done"),
            200,
            |m| on(m, unmark_server),
        ),
        q(
            r(
                Method::GET,
                "/api/v1/operations",
                "list_operations",
                Policy(Action::OpList),
                "Recent operations the caller may see, newest first",
                Empty,
                JsonList("OperationSummary"),
                200,
                |m| on(m, list_operations),
            ),
            &[
                ("unit", "string", "only operations on this unit"),
                INDEX_Q,
                WAITFOR_Q,
            ],
        ),
        q(
            r(
                Method::GET,
                "/api/v1/operations/{id}",
                "show_operation",
                Policy(Action::OpShow),
                "An operation with its per-server results",
                Empty,
                Json(op),
                200,
                |m| on(m, show_operation),
            ),
            BLOCKING_Q,
        ),
        r(
            Method::POST,
            "/api/v1/operations/{id}/cancel",
            "cancel_operation",
            Policy(Action::OpCancel),
            "Asks a running operation to stop",
            Empty,
            Json(op),
            200,
            |m| on(m, cancel_operation),
        ),
        r(
            Method::GET,
            "/api/v1/operations/{id}/events",
            "operation_events",
            Policy(Action::OpShow),
            "Progress events (`progress`), then the final record (`finished`)",
            Empty,
            EventStream,
            200,
            |m| on(m, operation_events),
        ),
        q(
            r(
                Method::GET,
                "/api/v1/operations/{id}/wait",
                "wait_operation",
                Policy(Action::OpShow),
                "The operation once finished, or after the time-out (check `state`)",
                Empty,
                Json(op),
                200,
                |m| on(m, wait_operation),
            ),
            &[(
                "timeout_secs",
                "integer",
                "how long to wait (default 30, at most 300)",
            )],
        ),
        r(
            Method::GET,
            "/api/v1/admin/backup",
            "backup",
            Policy(Action::ManagerBackup),
            "An online, consistent backup archive",
            Empty,
            Tar,
            200,
            |m| on(m, backup),
        ),
        r(
            Method::GET,
            "/api/v1/admin/diagnostics",
            "diagnostics",
            Policy(Action::ManagerDiagnose),
            "A diagnostics bundle",
            Empty,
            Tar,
            200,
            |m| on(m, diagnostics),
        ),
        r(
            Method::GET,
            "/api/v1/admin/log-config",
            "log_settings",
            Policy(Action::ManagerLogConfigShow),
            "The log settings",
            Empty,
            Json("LogSettings"),
            200,
            |m| on(m, log_settings),
        ),
        r(
            Method::PUT,
            "/api/v1/admin/log-config",
            "set_log_settings",
            Policy(Action::ManagerLogConfigChange),
            "Changes log settings (applied without restart)",
            Json("LogSettingsChange"),
            Json("LogSettings"),
            200,
            |m| on(m, set_log_settings),
        ),
        r(
            Method::GET,
            "/api/v1/jp1/pfm",
            "pfm_rows",
            Policy(Action::Jp1PfmExport),
            "Load figures of every server the caller may see (JP1/PFM)",
            Empty,
            JsonList("PfmRow"),
            200,
            |m| on(m, pfm_rows),
        ),
        r(
            Method::GET,
            "/metrics",
            "metrics",
            Public,
            "Prometheus metrics",
            Empty,
            Text,
            200,
            |m| on(m, metrics),
        ),
    ]
}

/// Builds the router from the table.
pub(crate) fn build(state: AppState) -> axum::Router {
    let mut public = axum::Router::new();
    let mut private = axum::Router::new();
    for route in routes() {
        let filter = MethodFilter::try_from(route.method.clone()).unwrap_or(MethodFilter::GET);
        let handler = (route.handler)(filter);
        if route.access == Access::Public {
            public = public.route(route.path, handler);
        } else {
            private = private.route(route.path, handler);
        }
    }
    let private = private.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        authenticate,
    ));
    public
        .merge(private)
        .fallback(|| async {
            ApiError::not_found("no such route").with_hint("see docs/openapi.json for the API")
        })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Logs every request as one structured line (never bodies, headers or query strings).
async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if status >= 500 {
        tracing::warn!(%method, %path, status, ms, %client, "request");
    } else {
        tracing::info!(%method, %path, status, ms, %client, "request");
    }
    resp
}

type Res<T> = Result<T, ApiError>;

fn created<T: serde::Serialize>(value: T) -> Response {
    (StatusCode::CREATED, axum::Json(value)).into_response()
}

async fn accepted(st: &AppState, actor: &Actor, id: crate::Result<OperationId>) -> Res<Response> {
    let id = id?;
    let record = st.manager.show_operation(actor, id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(record)).into_response())
}

fn done() -> axum::Json<Done> {
    axum::Json(Done::OK)
}

// ------------------------------------------------------------------ sessions

async fn health(State(st): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: std::process::id(),
        state_dir: st.manager.state_dir().to_string(),
        limits: Some(super::api::UploadLimits::for_upload(
            st.config.max_upload_bytes,
        )),
        ha: st.manager.ha_status(),
    })
}

async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Res<axum::Json<Session>> {
    let session =
        super::state::limited_login(&st, peer.ip(), &req.user, &req.password, "login").await?;
    Ok(axum::Json(session))
}

async fn logout(
    State(st): State<AppState>,
    Extension(token): Extension<SessionToken>,
) -> Res<axum::Json<Done>> {
    st.manager.delete_session(&token.0).await?;
    Ok(done())
}

async fn whoami(Extension(actor): Extension<Actor>) -> axum::Json<WhoAmI> {
    axum::Json(WhoAmI {
        account: actor.account,
        role: actor.role,
    })
}

// ------------------------------------------------------------------ hosts

async fn list_hosts(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    Query(b): Query<BlockingQuery>,
) -> Res<Response> {
    conditional::read(&st, &headers, &b, Scope::Hosts, || {
        st.manager.list_hosts(&actor)
    })
    .await
}

async fn add_host(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Json(req): Json<AddHost>,
) -> Res<Response> {
    Ok(created(st.manager.add_host(&actor, req).await?))
}

async fn show_host(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<HostName>,
    headers: HeaderMap,
    Query(b): Query<BlockingQuery>,
) -> Res<Response> {
    conditional::read(&st, &headers, &b, Scope::Hosts, || {
        st.manager.show_host(&actor, &name)
    })
    .await
}

async fn remove_host(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<HostName>,
) -> Res<axum::Json<Done>> {
    st.manager.remove_host(&actor, &name).await?;
    Ok(done())
}

async fn drain_host(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<HostName>,
    OptionalJson(req): OptionalJson<DrainRequest>,
) -> Res<axum::Json<DrainReport>> {
    Ok(axum::Json(st.manager.drain_host(&actor, &name, req).await?))
}

async fn rebalance_hosts(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    OptionalJson(req): OptionalJson<RebalanceRequest>,
) -> Res<axum::Json<RebalanceReport>> {
    Ok(axum::Json(st.manager.rebalance_hosts(&actor, req).await?))
}

async fn confirm_host_down(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<HostName>,
) -> Res<axum::Json<ConfirmDownReport>> {
    Ok(axum::Json(
        st.manager.confirm_host_down(&actor, &name).await?,
    ))
}

async fn undrain_host(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<HostName>,
) -> Res<axum::Json<HostInfo>> {
    Ok(axum::Json(st.manager.undrain_host(&actor, &name).await?))
}

// ------------------------------------------------------------------ accounts

async fn list_accounts(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Res<axum::Json<Vec<AccountInfo>>> {
    Ok(axum::Json(st.manager.list_accounts(&actor).await?))
}

async fn add_account(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Json(req): Json<AddAccount>,
) -> Res<Response> {
    Ok(created(st.manager.add_account(&actor, req).await?))
}

async fn delete_account(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<AccountName>,
) -> Res<axum::Json<Done>> {
    st.manager.delete_account(&actor, &name).await?;
    Ok(done())
}

async fn set_password(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<AccountName>,
    Json(req): Json<PasswordRequest>,
) -> Res<axum::Json<Done>> {
    st.manager
        .set_password(&actor, &name, &req.password)
        .await?;
    Ok(done())
}

// ------------------------------------------------------------------ templates

async fn list_templates(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    Query(b): Query<BlockingQuery>,
) -> Res<Response> {
    conditional::read(&st, &headers, &b, Scope::Templates, || {
        st.manager.list_templates(&actor)
    })
    .await
}

async fn register_template(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Json(req): Json<RegisterTemplate>,
) -> Res<Response> {
    Ok(created(st.manager.register_template(&actor, req).await?))
}

async fn show_template(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<TemplateName>,
    headers: HeaderMap,
    Query(b): Query<BlockingQuery>,
) -> Res<Response> {
    conditional::read(&st, &headers, &b, Scope::Templates, || {
        st.manager.show_template(&actor, &name)
    })
    .await
}

async fn delete_template(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<TemplateName>,
) -> Res<axum::Json<Done>> {
    st.manager.delete_template(&actor, &name).await?;
    Ok(done())
}

async fn update_template(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<TemplateName>,
    Json(req): Json<GenerationRequest>,
) -> Res<Response> {
    Ok(created(
        st.manager
            .update_template(&actor, &name, &req.source)
            .await?,
    ))
}

// ------------------------------------------------------------------ units

async fn list_units(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<UnitListQuery>,
    headers: HeaderMap,
    Query(b): Query<BlockingQuery>,
) -> Res<Response> {
    conditional::read(&st, &headers, &b, Scope::Units, || {
        st.manager.list_units(&actor, q.all)
    })
    .await
}

async fn create_unit(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Json(req): Json<CreateUnitFromFile>,
) -> Res<Response> {
    Ok(created(
        st.manager.create_unit_from_file(&actor, req).await?,
    ))
}

async fn show_unit(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    headers: HeaderMap,
    Query(b): Query<BlockingQuery>,
) -> Res<Response> {
    conditional::unit(&st, &headers, &b, &actor, &unit).await
}

async fn unit_events(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    headers: HeaderMap,
    Query(q): Query<watch::WatchQuery>,
) -> Res<Response> {
    watch::events(st, actor, unit, &headers, &q).await
}

async fn delete_unit(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    Query(q): Query<DeleteQuery>,
) -> Res<Response> {
    let req = DeleteUnitRequest {
        force: q.force,
        wait_secs: q.wait_secs,
    };
    let id = st.manager.delete_unit(&actor, &unit, req).await;
    accepted(&st, &actor, id).await
}

async fn chown_unit(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    Json(req): Json<Chown>,
) -> Res<axum::Json<Done>> {
    st.manager.chown_unit(&actor, &unit, &req.to).await?;
    Ok(done())
}

fn utf8(dir: &tempfile::TempDir) -> Res<Utf8PathBuf> {
    Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
        .map_err(|p| ApiError::failed(format!("temporary directory {} is not UTF-8", p.display())))
}

async fn import_definitions(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    body: HttpBody,
) -> Res<Response> {
    // Refuse unknown units and other owners before reading a possibly large body.
    st.manager.show_unit(&actor, &unit).await?;
    // The archive goes straight into the snapshot store as it arrives: nothing is unpacked
    // to a temporary directory first, and memory stays bounded.
    let limit = st.config.max_upload_bytes;
    let (reader, pump) = upload::stream(body, limit);
    let imported = st
        .manager
        .import_definitions_tar(&actor, &unit, reader)
        .await;
    // Read what follows (the archive's padding, or the rest of a refused upload), so that
    // the client sees the answer rather than a connection closed under its upload.
    let over = pump.over_limit();
    pump.finish().await;
    let result = match imported {
        Ok(r) => r,
        Err(_) if over => return Err(upload::too_large(limit)),
        Err(e) => return Err(e.into()),
    };
    let status = if result.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(result)).into_response())
}

async fn diff_definitions(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    body: HttpBody,
) -> Res<axum::Json<DefinitionDiff>> {
    st.manager.show_unit(&actor, &unit).await?;
    let limit = st.config.max_upload_bytes;
    let (reader, pump) = upload::stream(body, limit);
    let diff = st.manager.diff_definitions_tar(&actor, &unit, reader).await;
    let over = pump.over_limit();
    pump.finish().await;
    match diff {
        Ok(d) => Ok(axum::Json(d)),
        Err(_) if over => Err(upload::too_large(limit)),
        Err(e) => Err(e.into()),
    }
}

async fn list_versions(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
) -> Res<axum::Json<Vec<VersionInfo>>> {
    Ok(axum::Json(
        st.manager.show_unit(&actor, &unit).await?.versions,
    ))
}

/// A file streamed as the response body; `keep` (the temporary directory holding it) lives until
/// the stream ends.
async fn file_response(
    path: &Utf8Path,
    keep: tempfile::TempDir,
    download_name: &str,
) -> Res<Response> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::failed(format!("cannot open {path}: {e}")))?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let stream = futures::stream::unfold((file, keep), |(mut file, keep)| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)),
                    (file, keep),
                ))
            }
            Err(e) => Some((Err(e), (file, keep))),
        }
    });
    let mut resp = HttpBody::from_stream(stream).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Some(len) = len {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{download_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

async fn export_definitions(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, version)): Path<(UnitName, String)>,
) -> Res<Response> {
    let version = match version.as_str() {
        "current" | "latest" => None,
        v => Some(DefinitionVersion(
            v.trim_start_matches('v').parse().map_err(|_| {
                ApiError::invalid_request(format!("invalid definition version {v:?}"))
                    .with_hint("give a version number such as 3, or `current`")
            })?,
        )),
    };
    let export = st
        .manager
        .export_definitions_tar(&actor, &unit, version)
        .await?;
    let name = format!("{unit}-v{}.tar", export.info.version.0);
    // Written from the store's blobs as the client reads: no copy, bounded memory.
    let body =
        upload::writer_body(move |w| export.write_to(w).map(|_| ()).map_err(|e| e.to_string()));
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

// ------------------------------------------------------------------ operations on units

async fn apply(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    OptionalJson(req): OptionalJson<ApplyRequest>,
) -> Res<Response> {
    let id = st.manager.apply(&actor, &unit, req).await;
    accepted(&st, &actor, id).await
}

async fn rollback(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    OptionalJson(opts): OptionalJson<OpOptions>,
) -> Res<Response> {
    let id = st.manager.rollback(&actor, &unit, opts).await;
    accepted(&st, &actor, id).await
}

async fn start_unit(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    OptionalJson(opts): OptionalJson<OpOptions>,
) -> Res<Response> {
    let id = st.manager.start_unit(&actor, &unit, opts).await;
    accepted(&st, &actor, id).await
}

async fn stop_unit(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    OptionalJson(opts): OptionalJson<OpOptions>,
) -> Res<Response> {
    let id = st.manager.stop_unit(&actor, &unit, opts).await;
    accepted(&st, &actor, id).await
}

async fn scale(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    Json(req): Json<ScaleRequest>,
) -> Res<Response> {
    let id = st.manager.scale(&actor, &unit, req).await;
    accepted(&st, &actor, id).await
}

async fn upgrade(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(unit): Path<UnitName>,
    OptionalJson(req): OptionalJson<UpgradeRequest>,
) -> Res<Response> {
    let id = st.manager.upgrade(&actor, &unit, req).await;
    accepted(&st, &actor, id).await
}

async fn start_group(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, group)): Path<(UnitName, GroupName)>,
    OptionalJson(opts): OptionalJson<OpOptions>,
) -> Res<Response> {
    let id = st.manager.start_group(&actor, &unit, &group, opts).await;
    accepted(&st, &actor, id).await
}

async fn stop_group(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, group)): Path<(UnitName, GroupName)>,
    OptionalJson(opts): OptionalJson<OpOptions>,
) -> Res<Response> {
    let id = st.manager.stop_group(&actor, &unit, &group, opts).await;
    accepted(&st, &actor, id).await
}

async fn attach(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, group)): Path<(UnitName, GroupName)>,
    Json(req): Json<AttachRequest>,
) -> Res<Response> {
    let id = st.manager.attach(&actor, &unit, &group, req).await;
    accepted(&st, &actor, id).await
}

async fn detach(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, group, server)): Path<(UnitName, GroupName, ServerName)>,
    Query(q): Query<DeleteQuery>,
) -> Res<Response> {
    let opts = OpOptions {
        wait_secs: q.wait_secs,
    };
    let id = st
        .manager
        .detach(&actor, &unit, &group, &server, opts)
        .await;
    accepted(&st, &actor, id).await
}

async fn server_logs(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, server)): Path<(UnitName, ServerName)>,
    Query(q): Query<LogsQuery>,
) -> Res<axum::Json<ServerLogs>> {
    Ok(axum::Json(
        st.manager
            .server_logs(&actor, &unit, &server, q.tail)
            .await?,
    ))
}

async fn recover_server(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, server)): Path<(UnitName, ServerName)>,
    OptionalJson(opts): OptionalJson<OpOptions>,
) -> Res<Response> {
    let id = st
        .manager
        .recover_server(&actor, &unit, &server, opts)
        .await;
    accepted(&st, &actor, id).await
}

async fn mark_server(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, server)): Path<(UnitName, ServerName)>,
    Json(req): Json<MarkRequest>,
) -> Res<axum::Json<Done>> {
    st.manager.mark_server(&actor, &unit, &server, req).await?;
    Ok(done())
}

async fn unmark_server(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((unit, server)): Path<(UnitName, ServerName)>,
) -> Res<axum::Json<Done>> {
    st.manager.unmark_server(&actor, &unit, &server).await?;
    Ok(done())
}

// ------------------------------------------------------------------ operations

async fn list_operations(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<OperationListQuery>,
    headers: HeaderMap,
    Query(b): Query<BlockingQuery>,
) -> Res<Response> {
    conditional::read(&st, &headers, &b, Scope::Operations, || {
        st.manager.list_operations(&actor, q.unit.as_ref())
    })
    .await
}

async fn show_operation(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<OperationId>,
    headers: HeaderMap,
    Query(b): Query<BlockingQuery>,
) -> Res<Response> {
    conditional::read(&st, &headers, &b, Scope::Operations, || {
        st.manager.show_operation(&actor, id)
    })
    .await
}

async fn cancel_operation(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<OperationId>,
) -> Res<axum::Json<OperationRecord>> {
    Ok(axum::Json(st.manager.cancel_operation(&actor, id).await?))
}

async fn wait_operation(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<OperationId>,
    Query(q): Query<WaitQuery>,
) -> Res<axum::Json<OperationRecord>> {
    let timeout = Duration::from_secs(q.timeout_secs.unwrap_or(30).min(300));
    let waited = tokio::select! {
        r = st.manager.wait(&actor, id, timeout) => r?,
        () = st.closing.cancelled() => st.manager.show_operation(&actor, id).await?,
    };
    Ok(axum::Json(waited))
}

fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|_| Event::default().event(name).data("null"))
}

enum Phase {
    Forward(tokio::sync::broadcast::Receiver<ProgressEvent>),
    Final,
    Done,
}

async fn operation_events(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<OperationId>,
) -> Res<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let rx = st.manager.subscribe(&actor, id).await?;
    let stream = futures::stream::unfold(Phase::Forward(rx), move |phase| {
        let st = st.clone();
        let actor = actor.clone();
        async move {
            match phase {
                Phase::Forward(mut rx) => {
                    let next = tokio::select! {
                        r = rx.recv() => r,
                        () = st.closing.cancelled() => return None,
                    };
                    match next {
                        Ok(ev) => {
                            let last = matches!(ev.kind, ProgressKind::Finished { .. });
                            let next = if last {
                                Phase::Final
                            } else {
                                Phase::Forward(rx)
                            };
                            Some((Ok(json_event(sse::PROGRESS, &ev)), next))
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            let note = Event::default().comment(format!("{n} events skipped"));
                            Some((Ok(note), Phase::Forward(rx)))
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            final_event(&st, &actor, id).await
                        }
                    }
                }
                Phase::Final => final_event(&st, &actor, id).await,
                Phase::Done => None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn final_event(
    st: &AppState,
    actor: &Actor,
    id: OperationId,
) -> Option<(Result<Event, Infallible>, Phase)> {
    let record = tokio::select! {
        r = st.manager.wait(actor, id, Duration::from_secs(30)) => r,
        () = st.closing.cancelled() => return None,
    };
    let event = match record {
        Ok(record) => json_event(sse::FINISHED, &record),
        Err(e) => json_event(
            sse::ERROR,
            &ErrorBody {
                error: ApiError::from(e),
            },
        ),
    };
    Some((Ok(event), Phase::Done))
}

// ------------------------------------------------------------------ administration

async fn backup(State(st): State<AppState>, Extension(actor): Extension<Actor>) -> Res<Response> {
    let tmp = st.temp_dir("backup-")?;
    let out = utf8(&tmp)?.join("backup.tar");
    st.manager.backup(&actor, &out).await?;
    file_response(&out, tmp, "vsm-backup.tar").await
}

async fn diagnostics(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Res<Response> {
    let tmp = st.temp_dir("diagnostics-")?;
    let out = utf8(&tmp)?.join("diagnostics.tar");
    st.manager.diagnostics(&actor, &out).await?;
    file_response(&out, tmp, "vsm-diagnostics.tar").await
}

async fn log_settings(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Res<axum::Json<LogSettings>> {
    Ok(axum::Json(st.manager.log_settings(&actor).await?))
}

async fn set_log_settings(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Json(change): Json<LogSettingsChange>,
) -> Res<axum::Json<LogSettings>> {
    Ok(axum::Json(
        st.manager.set_log_settings(&actor, change).await?,
    ))
}

async fn pfm_rows(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
) -> Res<axum::Json<Vec<PfmRow>>> {
    Ok(axum::Json(st.manager.pfm_rows(&actor).await?))
}

async fn metrics(State(st): State<AppState>) -> Response {
    let text = st.metrics.render(&st.manager).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}
