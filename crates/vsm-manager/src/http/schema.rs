//! JSON schemas of the API bodies for the OpenAPI document.
//!
//! Each body named in the route table gets a component schema. This module only describes
//! types; it must not define bodies of its own (those are [`crate::api`] and [`super::api`]).

use serde_json::{Map, Value, json};

use super::routes::{Body, routes};

/// The Rust type behind a schema name, for readers of the document.
fn rust_type(name: &str) -> String {
    match name {
        "Health" | "LoginRequest" | "WhoAmI" | "PasswordRequest" | "GenerationRequest" | "Done" => {
            format!("vsm_manager::http::api::{name}")
        }
        "ErrorBody" => "vsm_manager::http::ErrorBody".to_owned(),
        other => format!("vsm_manager::api::{other}"),
    }
}

/// Every schema the route table names, plus the error body.
pub(crate) fn schemas() -> Value {
    let mut names: Vec<&'static str> = vec!["ErrorBody", "ProgressEvent"];
    for route in routes() {
        for body in [route.request, route.response] {
            if let Body::Json(n) | Body::OptionalJson(n) | Body::JsonList(n) = body {
                names.push(n);
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    let mut out = Map::new();
    for name in names {
        out.insert(
            name.to_owned(),
            json!({
                "type": "object",
                "description": format!("The JSON serialization of `{}`.", rust_type(name)),
            }),
        );
    }
    Value::Object(out)
}
