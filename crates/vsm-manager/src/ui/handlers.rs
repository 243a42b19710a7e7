//! The console's handlers: each reads the cookie session, asks the [`crate::Manager`] exactly
//! what the API's handler of the same operation asks (so the same authorization, audit and
//! error sentences apply), and renders a page of `pages.rs`. State changes check the CSRF
//! token first. Pages answer an anonymous caller with a redirect to the login page; streams and
//! state changes with `401`.

pub(crate) mod actions;
pub(crate) mod admin;
pub(crate) mod definitions;
pub(crate) mod logs;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;
use serde::Deserialize;
use vsm_core::{AccountName, DefinitionVersion, OperationId, Role, UnitName};

use super::filter::Filter;
use super::i18n::{Lang, Msg};
use super::i18n::{
    apply_sentence, confirm_sentence, no_rollback_note, rollback_sentence, upgrade_sentence,
};
use super::pages::actions::touched;
use super::pages::{self, Chrome, Confirm, seg};
use super::security::{LOGIN_COOKIE, SESSION_COOKIE, cookie, csrf_for, csrf_ok, set_cookie};
use crate::api::{Actor, ApplyRequest, BatchSize, OpOptions, Password, UpgradeRequest};
use crate::http::state::AppState;
use crate::http::{ApiError, ErrorBody, ErrorKind};
use crate::revision::Scope;

/// How long a live stream waits for more changes after one before it renders (as the API's
/// watch stream batches its deltas).
const COALESCE: Duration = Duration::from_millis(50);

/// A signed-in caller of the console.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    actor: Actor,
    token: String,
    lang: Lang,
}

impl Console {
    fn chrome(&self) -> Chrome {
        Chrome {
            lang: self.lang,
            user: Some((
                self.actor.account.to_string(),
                self.actor.role,
                csrf_for(&self.token),
            )),
        }
    }

    fn csrf_ok(&self, given: Option<&str>) -> bool {
        csrf_ok(&self.token, given)
    }
}

/// A page answer.
fn page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// An error as a page, with the error's own status.
fn error_page(chrome: &Chrome, e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page(status, pages::error_page(chrome, &ErrorBody { error: e }))
}

fn anonymous(lang: Lang) -> Chrome {
    Chrome { lang, user: None }
}

/// The refusal of a state change whose CSRF token is missing or wrong.
fn csrf_refusal() -> ApiError {
    ApiError::new(
        ErrorKind::Forbidden,
        "the form's security token is missing or does not belong to this session".to_owned(),
    )
    .with_hint("reload the page and try again")
}

/// The session of a request's cookie; `Err` with the refusal (401) otherwise.
async fn signed_in(st: &AppState, headers: &HeaderMap) -> Result<Console, ApiError> {
    let lang = Lang::from_headers(headers);
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Err(ApiError::unauthenticated("log in to use the console"));
    };
    let actor = st.manager.actor_for_token(token).await?;
    Ok(Console {
        actor,
        token: token.to_owned(),
        lang,
    })
}

/// [`signed_in`] for pages: an anonymous caller is sent to the login page.
async fn page_session(st: &AppState, headers: &HeaderMap) -> Result<Console, Response> {
    signed_in(st, headers)
        .await
        .map_err(|_| Redirect::to("/ui/login").into_response())
}

/// [`signed_in`] for streams and state changes: an anonymous caller gets the refusal.
async fn strict_session(st: &AppState, headers: &HeaderMap) -> Result<Console, Response> {
    let lang = Lang::from_headers(headers);
    signed_in(st, headers)
        .await
        .map_err(|e| error_page(&anonymous(lang), e))
}

/// The signed-in caller of a form's state change and its page chrome, its CSRF token checked:
/// the sign-in page, or the refusal's page, as the answer otherwise.
async fn posted(
    st: &AppState,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<(Console, Chrome), Response> {
    let c = strict_session(st, headers).await?;
    let chrome = c.chrome();
    if !c.csrf_ok(csrf) {
        return Err(error_page(&chrome, csrf_refusal()));
    }
    Ok((c, chrome))
}

fn unit_name(s: &str) -> Result<UnitName, ApiError> {
    UnitName::new(s).map_err(|e| {
        ApiError::invalid_request(format!("invalid unit name {s:?}: {e}")).with_status(404)
    })
}

fn op_id(s: &str) -> Result<OperationId, ApiError> {
    s.parse::<OperationId>().map_err(|_| {
        ApiError::invalid_request(format!("invalid operation id {s:?}")).with_status(404)
    })
}

fn group_name(s: &str) -> Result<vsm_core::GroupName, ApiError> {
    vsm_core::GroupName::new(s).map_err(|e| {
        ApiError::invalid_request(format!("invalid group name {s:?}: {e}")).with_status(404)
    })
}

fn server_name(s: &str) -> Result<vsm_core::ServerName, ApiError> {
    vsm_core::ServerName::new(s).map_err(|e| {
        ApiError::invalid_request(format!("invalid server name {s:?}: {e}")).with_status(404)
    })
}

fn account_name(s: &str) -> Result<AccountName, ApiError> {
    AccountName::new(s.trim())
        .map_err(|e| ApiError::invalid_request(format!("invalid account name {s:?}: {e}")))
}

/// The answer to an action this route does not know.
fn no_action(action: &str) -> ApiError {
    ApiError::not_found(format!("no console action {action:?}"))
}

// ------------------------------------------------------------------ sessions

/// `GET /ui`: the units page.
pub(crate) async fn root() -> Redirect {
    Redirect::to("/ui/units")
}

/// `GET /ui/login`: the login form, with a fresh pre-login cookie for its CSRF token.
pub(crate) async fn login_form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if signed_in(&st, &headers).await.is_ok() {
        return Redirect::to("/ui/units").into_response();
    }
    let lang = Lang::from_headers(&headers);
    login_page(&st, lang, "", None, StatusCode::OK)
}

fn login_page(
    st: &AppState,
    lang: Lang,
    user: &str,
    error: Option<ApiError>,
    status: StatusCode,
) -> Response {
    let pre = crate::auth::new_token();
    let body = pages::login(
        &anonymous(lang),
        &csrf_for(&pre),
        user,
        error.map(|error| ErrorBody { error }).as_ref(),
    );
    let mut resp = page(status, body);
    let tls = st.config.tls.is_some();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(LOGIN_COOKIE, &pre, Some(3600), tls)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The login form's fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /ui/login`: the API's login (the same rate limits per client address and the same
/// audit of lock-outs), then the session cookie.
pub(crate) async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = Lang::from_headers(&headers);
    let pre_ok =
        cookie(&headers, LOGIN_COOKIE).is_some_and(|pre| csrf_ok(pre, form.csrf.as_deref()));
    if !pre_ok {
        return login_page(
            &st,
            lang,
            &form.user,
            Some(csrf_refusal()),
            StatusCode::FORBIDDEN,
        );
    }
    let user = match AccountName::new(form.user.trim()) {
        Ok(u) => u,
        Err(e) => {
            let err = ApiError::invalid_request(format!("invalid account name: {e}"));
            return login_page(&st, lang, &form.user, Some(err), StatusCode::BAD_REQUEST);
        }
    };
    match crate::http::state::limited_login(
        &st,
        peer.ip(),
        &user,
        &Password::new(form.password),
        "console login",
    )
    .await
    {
        Ok(session) => {
            let tls = st.config.tls.is_some();
            let age = (session.expires_at.as_millis() - crate::clock::now().as_millis()) / 1000;
            let mut resp = Redirect::to("/ui/units").into_response();
            for c in [
                set_cookie(SESSION_COOKIE, &session.token, Some(age.max(1)), tls),
                set_cookie(LOGIN_COOKIE, "", None, tls),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            login_page(&st, lang, user.as_str(), Some(e), status)
        }
    }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /ui/logout`: ends the session and removes the cookie.
pub(crate) async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(e) = st.manager.delete_session(&c.token).await {
        return error_page(&chrome, e.into());
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    let gone = set_cookie(SESSION_COOKIE, "", None, st.config.tls.is_some());
    if let Ok(v) = HeaderValue::from_str(&gone) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

// ------------------------------------------------------------------ units

/// `GET /ui/units`: an administrator's every unit with owners, a builder's own.
pub(crate) async fn units(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let admin = c.actor.role == Role::Administrator;
    match st.manager.list_units(&c.actor, admin).await {
        Ok(list) => page(StatusCode::OK, pages::units(&c.chrome(), &list, admin)),
        Err(e) => error_page(&c.chrome(), e.into()),
    }
}

/// `GET /ui/units/{unit}`: the unit's page (one page of its servers, filtered).
pub(crate) async fn unit(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(filter): Query<Filter>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let name = match unit_name(&name) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    match st.manager.unit_view(&c.actor, &name).await {
        Ok(view) => page(
            StatusCode::OK,
            pages::unit(&chrome, &view.detail, &filter, view.rev),
        ),
        Err(e) => error_page(&chrome, e.into()),
    }
}

/// `GET /ui/units/{unit}/live`: the live part of the unit's page as server-sent events: one
/// `update` (the fragment, `id` = the unit's revision) per batch of changes after `since`,
/// re-authorized every time; `gone` (the error's sentence) when the caller may no longer see
/// the unit or it was deleted, and the stream ends.
pub(crate) async fn unit_live(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(filter): Query<Filter>,
) -> Response {
    let c = match strict_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let name = match unit_name(&name) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    // Authorized before the first event.
    let view = match st.manager.unit_view(&c.actor, &name).await {
        Ok(v) => v,
        Err(e) => return error_page(&chrome, e.into()),
    };
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut since = resumed.or(filter.since).unwrap_or(0);
    if since > view.rev {
        // A revision of an earlier manager process: start over.
        since = 0;
    }
    let live = Live {
        st,
        console: c,
        since,
        ended: false,
    };
    let stream = futures::stream::unfold(
        (live, name, filter),
        |(mut live, name, filter)| async move {
            let ev = live
                .next(Scope::Unit(name.clone()), |st, actor, lang| {
                    let (name, filter) = (name.clone(), filter.clone());
                    async move {
                        st.manager.unit_view(&actor, &name).await.map(|v| {
                            let html = pages::unit_live(lang, &v.detail, &filter);
                            (v.rev, html.into_string(), false)
                        })
                    }
                })
                .await?;
            Some((ev, (live, name, filter)))
        },
    );
    sse(stream)
}

/// The fields of the unit actions' forms and confirmations: the apply's version, batch size
/// and no automatic rollback, the scale's count (each as typed; parsed by the handler).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    batch: Option<String>,
    #[serde(default)]
    no_rollback: Option<String>,
    #[serde(default)]
    count: Option<String>,
}

impl ActionForm {
    fn value(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The apply's version (`None`: the current one).
    fn version(&self) -> Result<Option<DefinitionVersion>, ApiError> {
        Self::value(&self.version)
            .map(|v| {
                v.trim_start_matches('v')
                    .parse::<u32>()
                    .map(DefinitionVersion)
                    .map_err(|_| {
                        ApiError::invalid_request(format!("invalid version {v:?}"))
                            .with_hint("choose one of the unit's imported versions")
                    })
            })
            .transpose()
    }

    /// The apply's batch size, parsed as the CLI parses `--batch`.
    fn batch(&self) -> Result<Option<BatchSize>, ApiError> {
        Self::value(&self.batch)
            .map(|b| b.parse::<BatchSize>().map_err(ApiError::from))
            .transpose()
    }

    /// Whether an aborted roll-out keeps its servers on the new version (`--no-rollback`; the
    /// form's ticked checkbox sends `on`).
    fn no_rollback(&self) -> bool {
        Self::value(&self.no_rollback)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "on" | "true" | "1" | "yes"))
    }

    /// The scale's new count (`None`: not given yet).
    fn count(&self) -> Result<Option<u32>, ApiError> {
        Self::value(&self.count)
            .map(|n| {
                n.parse::<u32>().map_err(|_| {
                    ApiError::invalid_request(format!("invalid count {n:?}"))
                        .with_hint("give the number of servers the group should have")
                })
            })
            .transpose()
    }

    /// The hidden fields that carry this form's values into the confirmed `POST`.
    fn hidden(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        for (k, v) in [
            ("version", &self.version),
            ("batch", &self.batch),
            ("count", &self.count),
        ] {
            if let Some(v) = Self::value(v) {
                h.push((k, v.to_owned()));
            }
        }
        if self.no_rollback() {
            h.push(("no_rollback", "on".to_owned()));
        }
        h
    }
}

/// `GET /ui/units/{unit}/confirm/{action}`: what starting, stopping, applying (`?version=`,
/// `&batch=`), rolling back or upgrading the unit touches, and the button that does it.
pub(crate) async fn confirm(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    Query(q): Query<ActionForm>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let name = match unit_name(&name) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    let view = match st.manager.unit_view(&c.actor, &name).await {
        Ok(view) => view,
        Err(e) => return error_page(&chrome, e.into()),
    };
    let d = &view.detail;
    let lang = c.lang;
    let unit = d.name.to_string();
    let all = touched(&d.groups, false).0;
    let (title, sentence, danger) = match action.as_str() {
        "start" | "stop" => {
            let start = action == "start";
            let (servers, groups) = touched(&d.groups, start);
            let title = chrome.t(if start { Msg::StartUnit } else { Msg::StopUnit });
            (
                title,
                confirm_sentence(lang, start, servers, groups, &unit),
                !start,
            )
        }
        "apply" => {
            let version = match (q.version(), q.batch()) {
                (Ok(v), Ok(_)) => v.or(d.current_version),
                (Err(e), _) | (_, Err(e)) => return error_page(&chrome, e),
            };
            let (servers, groups) = touched(&d.groups, false);
            let version = version.map_or_else(|| "—".to_owned(), |v| v.to_string());
            let mut sentence = apply_sentence(lang, &unit, &version, servers, groups);
            if q.no_rollback() {
                sentence.push(' ');
                sentence.push_str(&no_rollback_note(lang, &version));
            }
            (chrome.t(Msg::ApplyVersion), sentence, false)
        }
        "rollback" => {
            let from = d.current_version;
            let to = from.and_then(|f| {
                d.versions
                    .iter()
                    .map(|v| v.version)
                    .filter(|v| *v < f)
                    .max()
            });
            let (from, to) = (from.map(|v| v.to_string()), to.map(|v| v.to_string()));
            (
                chrome.t(Msg::Rollback),
                rollback_sentence(lang, &unit, from.as_deref(), to.as_deref(), all),
                false,
            )
        }
        "upgrade" => (
            chrome.t(Msg::Upgrade),
            upgrade_sentence(lang, &unit, all),
            false,
        ),
        other => {
            return error_page(&chrome, no_action(other));
        }
    };
    let base = format!("/ui/units/{}", seg(&unit));
    let hidden = if action == "apply" {
        q.hidden()
    } else {
        Vec::new()
    };
    page(
        StatusCode::OK,
        pages::confirm(
            &chrome,
            &Confirm {
                title: title.to_owned(),
                sentence,
                action: format!("{base}/{action}"),
                hidden,
                danger,
                back: base,
            },
        ),
    )
}

/// Where a started operation is followed, or the error page.
fn started(chrome: &Chrome, id: crate::Result<OperationId>) -> Response {
    match id {
        Ok(id) => Redirect::to(&format!("/ui/operations/{id}")).into_response(),
        Err(e) => error_page(chrome, e.into()),
    }
}

/// `POST /ui/units/{unit}/start`, `…/stop`, `…/apply` (`version`, `batch`), `…/rollback` and
/// `…/upgrade`: the operation, then its page.
pub(crate) async fn unit_action(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = match unit_name(&name) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    let m = &st.manager;
    let id = match action.as_str() {
        "start" => m.start_unit(&c.actor, &name, OpOptions::default()).await,
        "stop" => m.stop_unit(&c.actor, &name, OpOptions::default()).await,
        "rollback" => m.rollback(&c.actor, &name, OpOptions::default()).await,
        "upgrade" => m.upgrade(&c.actor, &name, UpgradeRequest::default()).await,
        "apply" => {
            let (version, batch) = match (form.version(), form.batch()) {
                (Ok(v), Ok(b)) => (v, b),
                (Err(e), _) | (_, Err(e)) => return error_page(&chrome, e),
            };
            let req = ApplyRequest {
                version,
                batch,
                no_rollback: form.no_rollback(),
                ..ApplyRequest::default()
            };
            m.apply(&c.actor, &name, req).await
        }
        other => {
            return error_page(&chrome, no_action(other));
        }
    };
    started(&chrome, id)
}

// ------------------------------------------------------------------ operations

/// `GET /ui/operations/{id}`: the operation's page.
pub(crate) async fn operation(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let id = match op_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(&chrome, e),
    };
    let rev = st.manager.revisions().of(&Scope::Operations);
    match st.manager.show_operation(&c.actor, id).await {
        Ok(record) => {
            let markup = with_running_unit(&st, &c.actor, &record, |now| {
                pages::operation(&chrome, &record, rev, now)
            })
            .await;
            page(StatusCode::OK, markup)
        }
        Err(e) => error_page(&chrome, e.into()),
    }
}

/// `render` with the unit of a running operation as the read model has it now (authorized as
/// the unit's page is), for the page's servers; with `None` once it ended, or when it has no
/// unit or the unit cannot be shown (the operation's own record still is).
async fn with_running_unit<R>(
    st: &AppState,
    actor: &Actor,
    record: &crate::operation::OperationRecord,
    render: impl FnOnce(Option<&crate::api::UnitDetail>) -> R,
) -> R {
    let unit = match &record.summary.unit {
        Some(u) if !record.summary.state.is_finished() => u,
        _ => return render(None),
    };
    match st.manager.unit_view(actor, unit).await {
        Ok(view) => render(Some(&view.detail)),
        Err(_) => render(None),
    }
}

/// `GET /ui/operations/{id}/live`: the operation's progress as server-sent events (`update`
/// per batch of changes; `done` after the last, when the operation ended).
pub(crate) async fn operation_live(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(filter): Query<Filter>,
) -> Response {
    let c = match strict_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let id = match op_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(&chrome, e),
    };
    if let Err(e) = st.manager.show_operation(&c.actor, id).await {
        return error_page(&chrome, e.into());
    }
    let now = st.manager.revisions().of(&Scope::Operations);
    let since = filter.since.filter(|s| *s <= now).unwrap_or(0);
    let live = Live {
        st,
        console: c,
        since,
        ended: false,
    };
    let stream = futures::stream::unfold(live, move |mut live| async move {
        let ev = live
            .next(Scope::Operations, |st, actor, lang| async move {
                let r = st.manager.show_operation(&actor, id).await?;
                let html =
                    with_running_unit(&st, &actor, &r, |now| pages::operation_live(lang, &r, now))
                        .await;
                let rev = st.manager.revisions().of(&Scope::Operations);
                Ok((rev, html.into_string(), r.summary.state.is_finished()))
            })
            .await?;
        Some((ev, live))
    });
    sse(stream)
}

/// `POST /ui/operations/{id}/cancel`.
pub(crate) async fn cancel_operation(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = match op_id(&id) {
        Ok(id) => id,
        Err(e) => return error_page(&chrome, e),
    };
    match st.manager.cancel_operation(&c.actor, id).await {
        Ok(_) => Redirect::to(&format!("/ui/operations/{id}")).into_response(),
        Err(e) => error_page(&chrome, e.into()),
    }
}

// ------------------------------------------------------------------ unknown paths

/// Any other path under `/ui/`, by any method: the console's 404 page (in the caller's
/// language, with the signed-in account's navigation when there is one; an anonymous caller
/// gets it too, since nothing is there to log in for).
pub(crate) async fn not_found(
    State(st): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let chrome = match signed_in(&st, &headers).await {
        Ok(c) => c.chrome(),
        Err(_) => anonymous(Lang::from_headers(&headers)),
    };
    page(StatusCode::NOT_FOUND, pages::not_found(&chrome, uri.path()))
}

/// A method a path of the console does not take (`allow`: the ones it does, as the `Allow`
/// header). A `GET` or `HEAD` finds no page there: the console's 404 page, as for an unknown
/// path. Another method is refused with `405`, `Allow` and an error page.
pub(crate) async fn wrong_method(
    st: State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    allow: HeaderValue,
) -> Response {
    if method == Method::GET || method == Method::HEAD {
        return not_found(st, uri, headers).await;
    }
    let chrome = anonymous(Lang::from_headers(&headers));
    let e = ApiError::invalid_request(format!("{} does not take {method}", uri.path()))
        .with_hint(format!("it takes {}", allow.to_str().unwrap_or_default()))
        .with_status(405);
    let mut resp = error_page(&chrome, e);
    resp.headers_mut().insert(header::ALLOW, allow);
    resp
}

// ------------------------------------------------------------------ live streams

/// One console stream: the position it rendered, and whether it ended.
struct Live {
    st: AppState,
    console: Console,
    since: u64,
    ended: bool,
}

impl Live {
    /// The next event: waits for `scope` to move past `since` (ending with the server), lets
    /// more changes come for [`COALESCE`], and renders with `render` (which authorizes);
    /// `None` once the stream ended.
    async fn next<F, Fut>(&mut self, scope: Scope, render: F) -> Option<Result<Event, Infallible>>
    where
        F: Fn(AppState, Actor, Lang) -> Fut,
        Fut: Future<Output = crate::Result<(u64, String, bool)>>,
    {
        if self.ended {
            return None;
        }
        let revisions = self.st.manager.revisions().clone();
        loop {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            let rev = tokio::select! {
                () = self.st.closing.cancelled() => return None,
                rev = revisions.wait_past(&scope, self.since, deadline) => rev,
            };
            if rev > self.since {
                break;
            }
        }
        tokio::select! {
            () = self.st.closing.cancelled() => return None,
            () = tokio::time::sleep(COALESCE) => {}
        }
        let rendered = render(
            self.st.clone(),
            self.console.actor.clone(),
            self.console.lang,
        )
        .await;
        Some(Ok(match rendered {
            Ok((rev, html, finished)) => {
                self.since = rev.max(self.since + 1);
                self.ended = finished;
                Event::default()
                    .event(if finished { "done" } else { "update" })
                    .id(self.since.to_string())
                    .data(html)
            }
            Err(e) => {
                self.ended = true;
                let e = ApiError::from(e);
                let text = match &e.hint {
                    Some(h) => format!("{} ({h})", e.message),
                    None => e.message.clone(),
                };
                Event::default().event("gone").data(text)
            }
        }))
    }
}

fn sse<S>(stream: S) -> Response
where
    S: futures::Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
