//! A unit's definitions: the page (versions, the import form, the apply form with its version
//! picker) and the upload of a definition directory packed as a tar file, imported or only
//! compared (`vsm unit import`, `vsm unit diff`). The upload is a form's multipart body read as
//! it streams (`ui/multipart.rs`) through the API's own upload pump, so the archive goes
//! straight into `Manager::import_definitions_tar` as the API's raw upload does.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::{csrf_refusal, error_page, no_action, page, page_session, strict_session, unit_name};
use crate::http::ApiError;
use crate::http::state::AppState;
use crate::http::upload;
use crate::ui::multipart;
use crate::ui::pages;

/// `GET /ui/units/{unit}/definitions`.
pub(crate) async fn definitions(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(unit): Path<String>,
) -> Response {
    let c = match page_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let unit = match unit_name(&unit) {
        Ok(u) => u,
        Err(e) => return error_page(&chrome, e),
    };
    match st.manager.unit_view(&c.actor, &unit).await {
        Ok(v) => page(
            StatusCode::OK,
            pages::definitions::definitions(&chrome, &v.detail),
        ),
        Err(e) => error_page(&chrome, e.into()),
    }
}

/// `POST /ui/units/{unit}/definitions/import` and `…/diff`: a `multipart/form-data` form
/// with the CSRF token first and the tar file (`archive`) after it. The token is checked
/// before the manager sees anything of the file.
pub(crate) async fn upload(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path((unit, action)): Path<(String, String)>,
    body: Body,
) -> Response {
    let c = match strict_session(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chrome = c.chrome();
    let import = match action.as_str() {
        "import" => true,
        "diff" => false,
        other => return error_page(&chrome, no_action(other)),
    };
    // Anything but a form's multipart body carries no token this handler could check.
    let Some(boundary) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart::boundary)
    else {
        return error_page(&chrome, csrf_refusal());
    };
    let unit = match unit_name(&unit) {
        Ok(u) => u,
        Err(e) => return error_page(&chrome, e),
    };
    let limit = st.config.max_upload_bytes;
    let (reader, pump) = upload::stream(body, limit);
    let opened = tokio::task::spawn_blocking(move || multipart::open(reader, &boundary)).await;
    let form = match opened {
        Ok(Ok(form)) => form,
        Ok(Err(e)) => {
            let over = pump.over_limit();
            pump.finish().await;
            let e = if over {
                upload::too_large(limit)
            } else {
                ApiError::invalid_request(e.to_string())
            };
            return error_page(&chrome, e);
        }
        Err(e) => {
            return error_page(
                &chrome,
                ApiError::failed(format!("reading the upload failed: {e}")),
            );
        }
    };
    if !c.csrf_ok(form.field(crate::ui::security::CSRF_FIELD)) {
        drop(form);
        pump.finish().await;
        return error_page(&chrome, csrf_refusal());
    }
    let file_name = form.file_name.clone();
    // (A file part without a name is the browser's "no file chosen".)
    let Some(file) = form.file.filter(|_| !file_name.is_empty()) else {
        pump.finish().await;
        return error_page(
            &chrome,
            ApiError::invalid_request("no tar file was chosen").with_hint(
                "pack the definition directory with `tar -C DIR -cf defs.tar .` and choose that file",
            ),
        );
    };
    let m = &st.manager;
    let answer = if import {
        m.import_definitions_tar(&c.actor, &unit, file)
            .await
            .map(|r| pages::definitions::imported(&chrome, unit.as_str(), &file_name, &r))
    } else {
        m.diff_definitions_tar(&c.actor, &unit, file)
            .await
            .map(|d| pages::definitions::diff(&chrome, unit.as_str(), &file_name, &d))
    };
    // Read what follows (the archive's padding, the form's end), so that the browser sees
    // the answer rather than a connection closed under its upload.
    let over = pump.over_limit();
    pump.finish().await;
    match answer {
        Ok(markup) => page(StatusCode::OK, markup),
        Err(_) if over => error_page(&chrome, upload::too_large(limit)),
        Err(e) => error_page(&chrome, e.into()),
    }
}
