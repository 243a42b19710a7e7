//! The templates page and the administrators' pages: accounts (add, set a password, delete),
//! units' owners, the audit log and the host pool. Whether the caller may see or do any of it
//! is the manager's answer (a builder gets its `403` with its sentence), never this file's.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use vsm_core::Role;

use super::{account_name, error_page, no_action, page, page_session, posted, unit_name};
use crate::api::{AddAccount, LogSettingsChange, Password};
use crate::error::{Entity, Error};
use crate::http::ApiError;
use crate::http::state::AppState;
use crate::ui::i18n::{Msg, delete_account_sentence};
use crate::ui::pages::{self, Confirm, seg};

/// The audit log's rows unless asked (`?limit=`), and the most it shows.
const AUDIT_ROWS: usize = 200;
const AUDIT_MAX: usize = 1000;

/// `GET /ui/templates`: every template with its generations (everyone may see them).
pub(crate) async fn templates(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match st.manager.list_templates(&c.actor).await {
        Ok(list) => page(StatusCode::OK, pages::admin::templates(&c.chrome(), &list)),
        Err(e) => error_page(&c.chrome(), e.into()),
    }
}

/// `GET /ui/accounts`.
pub(crate) async fn accounts(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match st.manager.list_accounts(&c.actor).await {
        Ok(list) => page(
            StatusCode::OK,
            pages::admin::accounts(&c.chrome(), &list, c.actor.account.as_str()),
        ),
        Err(e) => error_page(&c.chrome(), e.into()),
    }
}

/// The fields of the account forms.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccountForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// `POST /ui/accounts` (`name`, `role`, `password`): `vsm account add`.
pub(crate) async fn add_account(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = match account_name(&form.name) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    let role = match form.role.trim().parse::<Role>() {
        Ok(r) => r,
        Err(_) => {
            return error_page(
                &chrome,
                ApiError::invalid_request(format!("unknown role {:?}", form.role))
                    .with_hint("choose `builder` or `administrator`"),
            );
        }
    };
    let req = AddAccount {
        name,
        role,
        password: Password::new(form.password),
    };
    match st.manager.add_account(&c.actor, req).await {
        Ok(_) => Redirect::to("/ui/accounts").into_response(),
        Err(e) => error_page(&chrome, e.into()),
    }
}

/// `GET /ui/accounts/{account}/password` (the form) and `…/delete` (the confirmation). The
/// account list is read first: the manager's answer to who may see accounts, and whether
/// this one exists.
pub(crate) async fn account_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((account, action)): Path<(String, String)>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let name = match account_name(&account) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    match st.manager.list_accounts(&c.actor).await {
        Ok(list) if list.iter().any(|a| a.name == name) => {}
        Ok(_) => return error_page(&chrome, Error::not_found(Entity::Account, &name).into()),
        Err(e) => return error_page(&chrome, e.into()),
    }
    match action.as_str() {
        "password" => page(StatusCode::OK, pages::admin::password_form(&chrome, &name)),
        "delete" => page(
            StatusCode::OK,
            pages::confirm(
                &chrome,
                &Confirm {
                    title: format!("{} {name}", chrome.t(Msg::DeleteAccount)),
                    sentence: delete_account_sentence(c.lang, name.as_str()),
                    action: format!("/ui/accounts/{}/delete", seg(name.as_str())),
                    hidden: Vec::new(),
                    danger: true,
                    back: "/ui/accounts".to_owned(),
                },
            ),
        ),
        other => error_page(&chrome, no_action(other)),
    }
}

/// `POST /ui/accounts/{account}/password` (`password`): `vsm account passwd`; `…/delete`:
/// `vsm account delete`.
pub(crate) async fn account_action(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((account, action)): Path<(String, String)>,
    Form(form): Form<AccountForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let name = match account_name(&account) {
        Ok(n) => n,
        Err(e) => return error_page(&chrome, e),
    };
    let m = &st.manager;
    let done = match action.as_str() {
        "password" => {
            m.set_password(&c.actor, &name, &Password::new(form.password))
                .await
        }
        "delete" => m.delete_account(&c.actor, &name).await,
        other => return error_page(&chrome, no_action(other)),
    };
    match done {
        Ok(()) => Redirect::to("/ui/accounts").into_response(),
        Err(e) => error_page(&chrome, e.into()),
    }
}

/// `GET /ui/owners`: every unit with its owner (`vsm unit list --all`).
pub(crate) async fn owners(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let units = match st.manager.list_units(&c.actor, true).await {
        Ok(u) => u,
        Err(e) => return error_page(&chrome, e.into()),
    };
    match st.manager.list_accounts(&c.actor).await {
        Ok(accounts) => page(
            StatusCode::OK,
            pages::admin::owners(&chrome, &units, &accounts),
        ),
        Err(e) => error_page(&chrome, e.into()),
    }
}

/// The owner form's fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChownForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    to: String,
}

/// `POST /ui/owners/{unit}` (`to`): `vsm unit chown`.
pub(crate) async fn chown(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(unit): Path<String>,
    Form(form): Form<ChownForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (unit, to) = match (unit_name(&unit), account_name(&form.to)) {
        (Ok(u), Ok(t)) => (u, t),
        (Err(e), _) | (_, Err(e)) => return error_page(&chrome, e),
    };
    match st.manager.chown_unit(&c.actor, &unit, &to).await {
        Ok(()) => Redirect::to("/ui/owners").into_response(),
        Err(e) => error_page(&chrome, e.into()),
    }
}

/// `?limit=N`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    limit: Option<String>,
}

/// `GET /ui/audit`: the newest entries of the audit log.
pub(crate) async fn audit(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let limit = q
        .limit
        .as_deref()
        .and_then(|l| l.trim().parse::<usize>().ok())
        .unwrap_or(AUDIT_ROWS)
        .clamp(1, AUDIT_MAX);
    match st.manager.audit_log(&c.actor, limit).await {
        Ok(entries) => page(
            StatusCode::OK,
            pages::admin::audit(&c.chrome(), &entries, limit),
        ),
        Err(e) => error_page(&c.chrome(), e.into()),
    }
}

/// `GET /ui/hosts`: the host pool (`vsm host list`).
pub(crate) async fn hosts(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match st.manager.list_hosts(&c.actor).await {
        Ok(list) => page(StatusCode::OK, pages::admin::hosts(&c.chrome(), &list)),
        Err(e) => error_page(&c.chrome(), e.into()),
    }
}

/// `GET /ui/log-settings`: the manager's log settings and the form that changes them (`vsm
/// manager log-config`).
pub(crate) async fn log_settings(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match st.manager.log_settings(&c.actor).await {
        Ok(l) => page(StatusCode::OK, pages::admin::log_settings(&c.chrome(), &l)),
        Err(e) => error_page(&c.chrome(), e.into()),
    }
}

/// The log settings form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    files: String,
    #[serde(default)]
    size_mb: String,
    #[serde(default)]
    level: String,
}

/// A number field of the log settings form (empty: unchanged).
fn number(field: &str, value: &str) -> Result<Option<u32>, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<u32>().map(Some).map_err(|_| {
        ApiError::invalid_request(format!("invalid {field} {v:?}")).with_hint("give a whole number")
    })
}

/// `POST /ui/log-settings` (`dir`, `files`, `size_mb`, `level`; an empty field stays as it
/// is): validated and applied by the manager at once.
pub(crate) async fn set_log_settings(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (files, size_mb) = match (
        number("--files", &form.files),
        number("--size-mb", &form.size_mb),
    ) {
        (Ok(f), Ok(s)) => (f, s),
        (Err(e), _) | (_, Err(e)) => return error_page(&chrome, e),
    };
    let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let change = LogSettingsChange {
        log_dir: text(&form.dir),
        files,
        size_mb,
        level: text(&form.level),
    };
    match st.manager.set_log_settings(&c.actor, change).await {
        Ok(_) => Redirect::to("/ui/log-settings").into_response(),
        Err(e) => error_page(&chrome, e.into()),
    }
}
