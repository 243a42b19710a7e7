//! JSON schemas of the API bodies for the OpenAPI document, inferred from fully populated sample
//! values of the real types (so a renamed or added field changes the document, and a type change
//! breaks the build here rather than going stale).
//!
//! Each body named in the route table gets a component schema; a name without a sample fails the
//! route-table test. This module only describes types; it must not define bodies of its own.

use serde_json::{Map, Value, json};
use vsm_core::model::{
    DefinitionStatus, FailureMark, LogicalStatus, ObservedStatus, ServerCounts, StepKind,
    UpdateScope,
};
use vsm_core::{
    AccountName, DefinitionDigest, DefinitionVersion, GroupName, OperationId, Role, ServerName,
    TemplateGeneration, TemplateName, Timestamp, UnitName,
};

use super::api::*;
use super::error::{ApiError, ErrorBody, ErrorKind};
use super::routes::{Body, routes};
use crate::api::*;

fn n<T: TryFrom<&'static str>>(s: &'static str) -> Option<T> {
    T::try_from(s).ok()
}

const T: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// A sample of every body, by schema name (`None` only if a sample name were invalid).
fn samples() -> Option<Vec<(&'static str, Value)>> {
    let unit: UnitName = n("shop")?;
    let account: AccountName = n("alice")?;
    let group: GroupName = n("web")?;
    let server: ServerName = n("web-1")?;
    let template: TemplateName = n("websrv")?;
    let digest = DefinitionDigest::from_bytes([0xab; 32]);
    let summary = OperationSummary {
        id: OperationId(7),
        unit: Some(unit.clone()),
        kind: OperationKind::UnitStart,
        state: OperationState::Succeeded,
        requested_by: Some(account.clone()),
        created_at: T,
        finished_at: Some(T),
    };
    let record = OperationRecord {
        summary: summary.clone(),
        request: json!({}),
        servers: vec![ServerResult {
            group: Some(group.clone()),
            server: server.clone(),
            status: StepStatus::Succeeded,
            error: Some("health check timed out".into()),
            marked: false,
        }],
        warnings: vec!["server web-1 is marked".into()],
        error: Some("why it failed".into()),
        steps_total: 4,
    };
    let counts = ServerCounts {
        all: 3,
        active: 2,
        invalid: 1,
    };
    let version = VersionInfo {
        version: DefinitionVersion(1),
        digest: digest.clone(),
        created_at: T,
    };
    let server_view = ServerView {
        name: server.clone(),
        logical: LogicalStatus::Working,
        observed: ObservedStatus::Working,
        observed_at: Some(T),
        in_progress: Some(StepKind::Start),
        update_scope: UpdateScope::None,
        address: Some("10.0.0.1".into()),
        host: Some("host-1".into()),
        applied_version: Some(DefinitionVersion(1)),
        generation: Some(TemplateGeneration(1)),
        created_at: T,
        mark: Some(FailureMark {
            comment: "disk noise".into(),
            at: T,
        }),
        last_error: Some("last error".into()),
        load: Some(LoadView {
            at: T,
            cpu_percent: 12.5,
            memory_bytes: 1 << 20,
        }),
    };
    let diff = DefinitionDiff {
        base: Some(DefinitionVersion(1)),
        files: vec![FileChange {
            group: Some("web".into()),
            path: "www/index.html".into(),
            change: ChangeKind::Modified,
        }],
    };
    let log = LogSettings {
        dir: "logs".into(),
        files: 8,
        size_mb: 4,
        level: "info".into(),
    };
    let v = |x: Result<Value, serde_json::Error>| x.unwrap_or(Value::Null);
    Some(vec![
        (
            "Health",
            v(serde_json::to_value(Health {
                status: "ok".into(),
                version: "0.1.0".into(),
                pid: 4242,
                state_dir: "/var/lib/vsm".into(),
            })),
        ),
        (
            "LoginRequest",
            v(serde_json::to_value(LoginRequest {
                user: account.clone(),
                password: Password::new("secret"),
            })),
        ),
        (
            "Session",
            v(serde_json::to_value(Session {
                token: "0123abcd".into(),
                account: account.clone(),
                role: Role::Builder,
                expires_at: T,
            })),
        ),
        ("Done", v(serde_json::to_value(Done::OK))),
        (
            "WhoAmI",
            v(serde_json::to_value(WhoAmI {
                account: account.clone(),
                role: Role::Builder,
            })),
        ),
        (
            "AccountInfo",
            v(serde_json::to_value(AccountInfo {
                name: account.clone(),
                role: Role::Builder,
                created_at: T,
                units: vec![unit.clone()],
            })),
        ),
        (
            "AddAccount",
            v(serde_json::to_value(AddAccount {
                name: account.clone(),
                role: Role::Builder,
                password: Password::new("secret"),
            })),
        ),
        (
            "PasswordRequest",
            v(serde_json::to_value(PasswordRequest {
                password: Password::new("secret"),
            })),
        ),
        (
            "TemplateInfo",
            v(serde_json::to_value(TemplateInfo {
                name: template.clone(),
                owner: account.clone(),
                driver: DriverKind::Local,
                latest: TemplateGeneration(1),
                generations: vec![GenerationInfo {
                    generation: TemplateGeneration(1),
                    source: "/srv/templates/web".into(),
                    created_at: T,
                }],
                used_by: vec![unit.clone()],
            })),
        ),
        (
            "RegisterTemplate",
            v(serde_json::to_value(RegisterTemplate {
                name: template.clone(),
                driver: DriverKind::Local,
                source: "/srv/templates/web".into(),
            })),
        ),
        (
            "GenerationRequest",
            v(serde_json::to_value(GenerationRequest {
                source: "/srv/templates/web-2".into(),
            })),
        ),
        (
            "UnitSummary",
            v(serde_json::to_value(UnitSummary {
                name: unit.clone(),
                owner: account.clone(),
                definition_status: DefinitionStatus::Changed,
                current_version: Some(DefinitionVersion(1)),
                counts,
                busy_with: Some(OperationId(7)),
                created_at: T,
            })),
        ),
        (
            "CreateUnitFromFile",
            v(serde_json::to_value(CreateUnitFromFile {
                name: unit.clone(),
                file_name: "shop.yaml".into(),
                unit_file: "format: 1\ngroups: []\n".into(),
            })),
        ),
        (
            "UnitDetail",
            v(serde_json::to_value(UnitDetail {
                name: unit.clone(),
                owner: account.clone(),
                created_at: T,
                definition_status: DefinitionStatus::Changed,
                current_version: Some(DefinitionVersion(1)),
                versions: vec![version.clone()],
                counts,
                groups: vec![GroupView {
                    name: group.clone(),
                    kind: GroupKindView::Provisioned {
                        template: template.clone(),
                        count: 3,
                        min: 1,
                        max: 8,
                    },
                    start_order: 1,
                    servers: vec![server_view],
                }],
                busy_with: Some(OperationId(7)),
                last_operations: vec![summary.clone()],
            })),
        ),
        ("OperationRecord", v(serde_json::to_value(&record))),
        ("OperationSummary", v(serde_json::to_value(&summary))),
        (
            "Chown",
            v(serde_json::to_value(Chown {
                to: account.clone(),
            })),
        ),
        (
            "ImportResult",
            v(serde_json::to_value(ImportResult {
                version: DefinitionVersion(2),
                digest,
                created: true,
                diff: diff.clone(),
            })),
        ),
        ("VersionInfo", v(serde_json::to_value(&version))),
        ("DefinitionDiff", v(serde_json::to_value(&diff))),
        (
            "ApplyRequest",
            v(serde_json::to_value(ApplyRequest {
                version: Some(DefinitionVersion(2)),
                batch: Some(BatchSize::Percent(25)),
                max_unhealthy: "10%".parse().ok(),
                pause_secs: Some(30),
                no_rollback: false,
                wait_secs: Some(60),
            })),
        ),
        (
            "OpOptions",
            v(serde_json::to_value(OpOptions {
                wait_secs: Some(60),
            })),
        ),
        (
            "ScaleRequest",
            v(serde_json::to_value(ScaleRequest {
                group: group.clone(),
                count: 4,
                remove: vec![server.clone()],
                grace_secs: Some(30),
                wait_secs: Some(60),
            })),
        ),
        (
            "UpgradeRequest",
            v(serde_json::to_value(UpgradeRequest {
                batch: Some(BatchSize::Count(2)),
                surge: Some(1),
                wait_secs: Some(60),
            })),
        ),
        (
            "AttachRequest",
            v(serde_json::to_value(AttachRequest {
                address: "192.0.2.10".into(),
                name: Some(server.clone()),
                wait_secs: Some(60),
            })),
        ),
        (
            "ServerLogs",
            v(serde_json::to_value(ServerLogs {
                server: server.clone(),
                text: "booted\n".into(),
            })),
        ),
        (
            "MarkRequest",
            v(serde_json::to_value(MarkRequest {
                comment: "disk noise".into(),
            })),
        ),
        ("LogSettings", v(serde_json::to_value(&log))),
        (
            "LogSettingsChange",
            v(serde_json::to_value(LogSettingsChange {
                log_dir: Some("logs".into()),
                files: Some(8),
                size_mb: Some(4),
                level: Some("info".into()),
            })),
        ),
        (
            "PfmRow",
            v(serde_json::to_value(PfmRow {
                unit: unit.clone(),
                group: group.clone(),
                server: server.clone(),
                logical: LogicalStatus::Working,
                observed: ObservedStatus::Working,
                cpu_percent: 12.5,
                memory_bytes: 1 << 20,
                at: T,
            })),
        ),
        (
            "ErrorBody",
            v(serde_json::to_value(ErrorBody {
                error: ApiError::new(ErrorKind::Busy, "unit shop busy: operation 7 is running")
                    .with_details(["detail".to_owned()])
                    .with_hint("wait for it")
                    .with_operation(OperationId(7)),
            })),
        ),
        (
            "ProgressEvent",
            v(serde_json::to_value(ProgressEvent {
                operation: OperationId(7),
                seq: 1,
                at: T,
                kind: ProgressKind::StepFinished {
                    action: "start".into(),
                    group: Some(group),
                    server: Some(server),
                    status: StepStatus::Succeeded,
                    error: Some("error text".into()),
                },
            })),
        ),
    ])
}

/// A schema for a sample value: types, properties and item types, with the sample as example.
fn infer(value: &Value) -> Value {
    match value {
        Value::Null => json!({}),
        Value::Bool(_) => json!({ "type": "boolean" }),
        Value::Number(x) if x.is_f64() => json!({ "type": "number" }),
        Value::Number(_) => json!({ "type": "integer" }),
        Value::String(_) => json!({ "type": "string" }),
        Value::Array(items) => match items.first() {
            Some(first) => json!({ "type": "array", "items": infer(first) }),
            None => json!({ "type": "array" }),
        },
        Value::Object(map) => {
            let props: Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), infer(v))).collect();
            json!({ "type": "object", "properties": props })
        }
    }
}

/// Every schema the route table names, plus the error body and the progress event.
pub(crate) fn schemas() -> Value {
    let samples: Map<String, Value> = samples()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
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
        if let Some(sample) = samples.get(name) {
            let mut schema = infer(sample);
            schema["example"] = sample.clone();
            out.insert(name.to_owned(), schema);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_an_object() {
        let samples = samples().expect("sample names are valid");
        for (name, value) in samples {
            assert!(value.is_object(), "{name}: {value}");
        }
    }
}
