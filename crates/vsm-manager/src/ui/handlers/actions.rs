//! The handlers of a unit's groups and servers: start, stop and scale a group (each through its
//! confirmation), a server's page, its mark and unmark, and its recovery.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{
    ActionForm, error_page, group_name, no_action, page, page_session, posted, server_name,
    started, unit_name,
};
use crate::api::{GroupKindView, GroupView, MarkRequest, OpOptions, ScaleRequest, ServerView};
use crate::error::{Entity, Error};
use crate::http::ApiError;
use crate::http::state::AppState;
use crate::ui::i18n::{Msg, group_confirm_sentence, recover_sentence, scale_sentence};
use crate::ui::pages::actions::touched;
use crate::ui::pages::{self, Confirm, seg};

/// `GET /ui/units/{unit}/groups/{group}/confirm/{action}`: what starting or stopping the
/// group touches; for `scale`, the form of the new count and then (`?count=`) what scaling
/// does.
pub(crate) async fn group_confirm(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((unit, group, action)): Path<(String, String, String)>,
    Query(q): Query<ActionForm>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let (unit, group) = match (unit_name(&unit), group_name(&group)) {
        (Ok(u), Ok(g)) => (u, g),
        (Err(e), _) | (_, Err(e)) => return error_page(&chrome, e),
    };
    let view = match st.manager.unit_view(&c.actor, &unit).await {
        Ok(v) => v,
        Err(e) => return error_page(&chrome, e.into()),
    };
    let d = &view.detail;
    let Some(g) = d.groups.iter().find(|g| g.name == group) else {
        return error_page(&chrome, Error::not_found(Entity::Group, &group).into());
    };
    let base = format!("/ui/units/{}", seg(unit.as_str()));
    let (title, sentence, danger, hidden) = match action.as_str() {
        "start" | "stop" => {
            let start = action == "start";
            let (servers, _) = touched([g], start);
            let title = if start {
                Msg::StartGroup
            } else {
                Msg::StopGroup
            };
            (
                title,
                group_confirm_sentence(c.lang, start, servers, group.as_str(), unit.as_str()),
                !start,
                Vec::new(),
            )
        }
        "scale" => match q.count() {
            Err(e) => return error_page(&chrome, e),
            Ok(None) => return page(StatusCode::OK, pages::actions::scale_form(&chrome, d, g)),
            Ok(Some(count)) => (
                Msg::ScaleGroup,
                scale_sentence(
                    c.lang,
                    unit.as_str(),
                    group.as_str(),
                    current_count(g),
                    count,
                ),
                (count as usize) < current_count(g),
                q.hidden(),
            ),
        },
        other => return error_page(&chrome, no_action(other)),
    };
    let title = format!("{} {group}", chrome.t(title));
    page(
        StatusCode::OK,
        pages::confirm(
            &chrome,
            &Confirm {
                title,
                sentence,
                action: format!("{base}/groups/{}/{action}", seg(group.as_str())),
                hidden,
                danger,
                back: base,
            },
        ),
    )
}

/// A group's count as a scale starts from: the wanted count of a provisioned group.
fn current_count(g: &GroupView) -> usize {
    match &g.kind {
        GroupKindView::Provisioned { count, .. } => *count as usize,
        GroupKindView::Registered => g.servers.len(),
    }
}

/// `POST /ui/units/{unit}/groups/{group}/start`, `…/stop` and `…/scale` (`count`).
pub(crate) async fn group_action(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((unit, group, action)): Path<(String, String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (unit, group) = match (unit_name(&unit), group_name(&group)) {
        (Ok(u), Ok(g)) => (u, g),
        (Err(e), _) | (_, Err(e)) => return error_page(&chrome, e),
    };
    let m = &st.manager;
    let id = match action.as_str() {
        "start" => {
            m.start_group(&c.actor, &unit, &group, OpOptions::default())
                .await
        }
        "stop" => {
            m.stop_group(&c.actor, &unit, &group, OpOptions::default())
                .await
        }
        "scale" => {
            let count = match form.count() {
                Ok(Some(n)) => n,
                Ok(None) => {
                    return error_page(
                        &chrome,
                        ApiError::invalid_request("no count was given")
                            .with_hint("give the number of servers the group should have"),
                    );
                }
                Err(e) => return error_page(&chrome, e),
            };
            let req = ScaleRequest {
                group,
                count,
                remove: Vec::new(),
                grace_secs: None,
                wait_secs: None,
            };
            m.scale(&c.actor, &unit, req).await
        }
        other => return error_page(&chrome, no_action(other)),
    };
    started(&chrome, id)
}

/// `then` of the unit's view and one server of it (with its group), or the error page.
async fn with_server(
    st: &AppState,
    c: &super::Console,
    unit: &str,
    server: &str,
    then: impl FnOnce(&crate::api::UnitDetail, &GroupView, &ServerView) -> Response,
) -> Response {
    let chrome = c.chrome();
    let (unit, server) = match (unit_name(unit), server_name(server)) {
        (Ok(u), Ok(s)) => (u, s),
        (Err(e), _) | (_, Err(e)) => return error_page(&chrome, e),
    };
    let view = match st.manager.unit_view(&c.actor, &unit).await {
        Ok(v) => v,
        Err(e) => return error_page(&chrome, e.into()),
    };
    let d = &view.detail;
    let found = d
        .groups
        .iter()
        .find_map(|g| g.servers.iter().find(|s| s.name == server).map(|s| (g, s)));
    match found {
        Some((g, s)) => then(d, g, s),
        None => error_page(&chrome, Error::not_found(Entity::Server, &server).into()),
    }
}

/// `GET /ui/units/{unit}/servers/{server}`: the server's page.
pub(crate) async fn server(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((unit, server)): Path<(String, String)>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    with_server(&st, &c, &unit, &server, |d, g, s| {
        page(StatusCode::OK, pages::actions::server(&chrome, d, g, s))
    })
    .await
}

/// `GET /ui/units/{unit}/servers/{server}/confirm/recover`: what recovering the server does.
pub(crate) async fn server_confirm(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((unit, server, action)): Path<(String, String, String)>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    if action != "recover" {
        return error_page(&chrome, no_action(&action));
    }
    with_server(&st, &c, &unit, &server, |d, _, s| {
        let (unit, server) = (d.name.as_str(), s.name.as_str());
        let base = format!("/ui/units/{}/servers/{}", seg(unit), seg(server));
        page(
            StatusCode::OK,
            pages::confirm(
                &chrome,
                &Confirm {
                    title: format!("{} {server}", chrome.t(Msg::RecoverServer)),
                    sentence: recover_sentence(c.lang, unit, server),
                    action: format!("{base}/recover"),
                    hidden: Vec::new(),
                    danger: false,
                    back: base,
                },
            ),
        )
    })
    .await
}

/// The fields of a server's forms.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ServerForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    comment: String,
}

/// `POST /ui/units/{unit}/servers/{server}/mark` (`comment`), `…/unmark` and `…/recover`.
pub(crate) async fn server_action(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((unit, server, action)): Path<(String, String, String)>,
    Form(form): Form<ServerForm>,
) -> Response {
    let (c, chrome) = match posted(&st, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (unit, server) = match (unit_name(&unit), server_name(&server)) {
        (Ok(u), Ok(s)) => (u, s),
        (Err(e), _) | (_, Err(e)) => return error_page(&chrome, e),
    };
    let m = &st.manager;
    let done = match action.as_str() {
        "mark" => {
            let req = MarkRequest {
                comment: form.comment.trim().to_owned(),
            };
            m.mark_server(&c.actor, &unit, &server, req).await
        }
        "unmark" => m.unmark_server(&c.actor, &unit, &server).await,
        "recover" => {
            let id = m
                .recover_server(&c.actor, &unit, &server, OpOptions::default())
                .await;
            return started(&chrome, id);
        }
        other => return error_page(&chrome, no_action(other)),
    };
    match done {
        Ok(()) => Redirect::to(&format!(
            "/ui/units/{}/servers/{}",
            seg(unit.as_str()),
            seg(server.as_str())
        ))
        .into_response(),
        Err(e) => error_page(&chrome, e.into()),
    }
}
