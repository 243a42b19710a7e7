//! The OpenAPI 3.1 document of the API, generated from the route table and the body schemas, and
//! checked in as `docs/openapi.json`.
//!
//! Regenerate the checked-in file with `VSM_UPDATE_OPENAPI=1 cargo test -p vsm-manager openapi`;
//! the test fails while it is stale. This module only describes; it serves nothing.

use serde_json::{Map, Value, json};

use super::routes::{Access, Body, routes};
use super::schema;

/// The OpenAPI document as pretty-printed JSON (with a final newline).
pub fn openapi_json() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn body_content(body: Body) -> Option<Value> {
    Some(match body {
        Body::Empty => return None,
        Body::Json(name) | Body::OptionalJson(name) => {
            json!({ "application/json": { "schema": schema_ref(name) } })
        }
        Body::JsonList(name) => {
            json!({ "application/json": { "schema": { "type": "array", "items": schema_ref(name) } } })
        }
        Body::Tar => {
            json!({ "application/x-tar": { "schema": { "type": "string", "format": "binary" } } })
        }
        Body::EventStream => json!({ "text/event-stream": { "schema": {
            "type": "string",
            "description": "Server-sent events, named in the route's description (docs/api.md); an `error` event (data: ErrorBody) ends a stream that fails."
        } } }),
        Body::Text => json!({ "text/plain": { "schema": { "type": "string" } } }),
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema_ref("ErrorBody") } }
    })
}

/// The whole document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for route in routes() {
        let mut op = Map::new();
        op.insert("operationId".into(), json!(route.name));
        op.insert("summary".into(), json!(route.summary));
        let mut description = String::new();
        match route.access {
            Access::Public => {
                op.insert("security".into(), json!([]));
                description.push_str("No token needed.");
            }
            Access::Session => description.push_str("Any logged-in account."),
            Access::Policy(action) => {
                description.push_str(&format!(
                    "Authorized by the manager's policy as `{}`{}.",
                    action.as_str(),
                    if action.admin_only() {
                        " (administrators only)"
                    } else {
                        ""
                    }
                ));
            }
        }
        op.insert("description".into(), json!(description));
        let tag = route
            .path
            .trim_start_matches("/api/v1/")
            .split('/')
            .next()
            .unwrap_or("api")
            .trim_start_matches('/');
        op.insert("tags".into(), json!([tag]));

        let mut params = Vec::new();
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let ty = if name == "id" { "integer" } else { "string" };
                params.push(json!({
                    "name": name, "in": "path", "required": true, "schema": { "type": ty }
                }));
            }
        }
        for (name, ty, desc) in route.query {
            params.push(json!({
                "name": name, "in": "query", "required": false,
                "description": desc, "schema": { "type": ty }
            }));
        }
        // The conditional, blocking reads (see `conditional.rs`).
        let blocking = route.query.iter().any(|(name, _, _)| *name == "index");
        if blocking {
            params.push(json!({
                "name": "If-None-Match", "in": "header", "required": false,
                "description": "an `ETag` of an earlier answer: `304 Not Modified` without a body while it still matches (after authentication and authorization)",
                "schema": { "type": "string" }
            }));
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(content) = body_content(route.request) {
            let required = !matches!(route.request, Body::OptionalJson(_));
            op.insert(
                "requestBody".into(),
                json!({ "required": required, "content": content }),
            );
        }
        let mut responses = Map::new();
        let mut ok = json!({ "description": "success" });
        if let Some(content) = body_content(route.response) {
            ok["content"] = content;
        }
        if blocking {
            let headers = json!({
                "ETag": {
                    "description": "the answer's version: `\"r<instance>-<revision>\"` (a unit) or `\"h<instance>-<digest>\"`; never equal across manager processes",
                    "schema": { "type": "string" }
                },
                "X-Vsm-Index": {
                    "description": "the resource's revision: the `index` of the next long-poll",
                    "schema": { "type": "integer" }
                }
            });
            ok["headers"] = headers.clone();
            responses.insert(
                "304".into(),
                json!({ "description": "not modified: `If-None-Match` names the current `ETag`", "headers": headers }),
            );
        }
        responses.insert(route.status.to_string(), ok);
        if route.access != Access::Public {
            responses.insert(
                "401".into(),
                error_response("unauthenticated: no, unknown or expired token"),
            );
        }
        if matches!(route.access, Access::Policy(_)) {
            responses.insert("403".into(), error_response("forbidden by the policy"));
        }
        responses.insert(
            "default".into(),
            error_response("any other error (see the error kinds)"),
        );
        op.insert("responses".into(), Value::Object(responses));

        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                route.method.as_str().to_ascii_lowercase(),
                Value::Object(op),
            );
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "vsm manager API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP/JSON API of the vsm manager. Every non-2xx answer has the body ErrorBody; its `kind` decides the HTTP status and the CLI's exit code: invalid_request 400/404/409 (64), not_found 404 (64), invalid_data 422 (65), busy 423 (2), unauthenticated 401 (77), forbidden 403 (77), failed 500 (70), unavailable 503 (69). The reads of units, operations, hosts and templates answer with `ETag` and `X-Vsm-Index`, `304` on `If-None-Match`, and long-poll with `index` and `wait` (docs/api.md)."
        },
        "servers": [{ "url": "http://127.0.0.1:7460" }],
        "security": [{ "bearer": [] }],
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": schema::schemas(),
        }
    })
}
