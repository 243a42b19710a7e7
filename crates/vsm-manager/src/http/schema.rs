//! JSON schemas of the API bodies for the OpenAPI document, inferred from sample values passed
//! through the real types' serde (`from_value` then `to_value`), so the document follows the
//! types: a field added with a default appears, a removed field disappears, and a sample the type
//! no longer accepts fails the `openapi` tests (not the build of the types' owners).
//!
//! Each body named in the route table gets a component schema; a name without a sample fails the
//! route-table test. This module only describes types; it must not define bodies of its own.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use vsm_core::{AccountName, OperationId, Role};

use super::api::*;
use super::error::{ApiError, ErrorBody, ErrorKind};
use super::routes::{Body, routes};
use crate::api::*;

/// `value` after a round trip through `T`, or why `T` refused it.
fn sample<T: DeserializeOwned + Serialize>(
    name: &'static str,
    value: Value,
) -> (&'static str, Result<Value, String>) {
    let out = serde_json::from_value::<T>(value)
        .and_then(|t| serde_json::to_value(&t))
        .map_err(|e| format!("the sample of {name} no longer fits the type: {e}"));
    (name, out)
}

fn own<T: Serialize>(name: &'static str, value: &T) -> (&'static str, Result<Value, String>) {
    (name, serde_json::to_value(value).map_err(|e| e.to_string()))
}

/// A sample of every body, by schema name.
fn samples() -> Vec<(&'static str, Result<Value, String>)> {
    let alice = AccountName::new("alice").ok();
    let mut out = vec![
        sample::<AccountInfo>(
            "AccountInfo",
            json!({"created_at": 1_767_225_600_000_i64, "name": "alice", "role": "builder", "units": ["shop"]}),
        ),
        sample::<AddAccount>(
            "AddAccount",
            json!({"name": "alice", "password": "secret", "role": "builder"}),
        ),
        sample::<ApplyRequest>(
            "ApplyRequest",
            json!({"batch": "25%", "max_unhealthy": "10%", "no_rollback": false, "pause_secs": 30, "version": 2, "wait_secs": 60}),
        ),
        sample::<AttachRequest>(
            "AttachRequest",
            json!({"address": "192.0.2.10", "name": "web-1", "wait_secs": 60}),
        ),
        sample::<Chown>("Chown", json!({"to": "alice"})),
        sample::<CreateUnitFromFile>(
            "CreateUnitFromFile",
            json!({"file_name": "shop.yaml", "name": "shop", "unit_file": "format: 1\ngroups: []\n"}),
        ),
        sample::<DefinitionDiff>(
            "DefinitionDiff",
            json!({"base": 1, "files": [{"change": "modified", "group": "web", "path": "www/index.html"}]}),
        ),
        sample::<ImportResult>(
            "ImportResult",
            json!({"created": true, "diff": {"base": 1, "files": [{"change": "modified", "group": "web", "path": "www/index.html"}]}, "digest": "abababababababababababababababababababababababababababababababab", "version": 2}),
        ),
        sample::<LogSettings>(
            "LogSettings",
            json!({"dir": "logs", "files": 8, "level": "info", "size_mb": 4}),
        ),
        sample::<LogSettingsChange>(
            "LogSettingsChange",
            json!({"files": 8, "level": "info", "log_dir": "logs", "size_mb": 4}),
        ),
        sample::<MarkRequest>("MarkRequest", json!({"comment": "disk noise"})),
        sample::<OpOptions>("OpOptions", json!({"wait_secs": 60})),
        sample::<OperationRecord>(
            "OperationRecord",
            json!({"created_at": 1_767_225_600_000_i64, "error": "why it failed", "finished_at": 1_767_225_600_000_i64, "id": 7, "kind": "unit_start", "request": {}, "requested_by": "alice", "servers": [{"error": "health check timed out", "group": "web", "marked": false, "server": "web-1", "status": "succeeded"}], "state": "succeeded", "steps_total": 4, "unit": "shop", "warnings": ["server web-1 is marked"]}),
        ),
        sample::<OperationSummary>(
            "OperationSummary",
            json!({"created_at": 1_767_225_600_000_i64, "finished_at": 1_767_225_600_000_i64, "id": 7, "kind": "unit_start", "requested_by": "alice", "state": "succeeded", "unit": "shop"}),
        ),
        sample::<PfmRow>(
            "PfmRow",
            json!({"at": 1_767_225_600_000_i64, "cpu_percent": 12.5, "group": "web", "logical": "working", "memory_bytes": 1048576, "observed": "working", "server": "web-1", "unit": "shop"}),
        ),
        sample::<ProgressEvent>(
            "ProgressEvent",
            json!({"action": "start", "at": 1_767_225_600_000_i64, "error": "error text", "event": "step_finished", "group": "web", "operation": 7, "seq": 1, "server": "web-1", "status": "succeeded"}),
        ),
        sample::<RegisterTemplate>(
            "RegisterTemplate",
            json!({"driver": "local", "name": "websrv", "source": "/srv/templates/web"}),
        ),
        sample::<ScaleRequest>(
            "ScaleRequest",
            json!({"count": 4, "grace_secs": 30, "group": "web", "remove": ["web-1"], "wait_secs": 60}),
        ),
        sample::<ServerLogs>("ServerLogs", json!({"server": "web-1", "text": "booted\n"})),
        sample::<Session>(
            "Session",
            json!({"account": "alice", "expires_at": 1_767_225_600_000_i64, "role": "builder", "token": "0123abcd"}),
        ),
        sample::<TemplateInfo>(
            "TemplateInfo",
            json!({"driver": "local", "generations": [{"created_at": 1_767_225_600_000_i64, "generation": 1, "size": {"memory_mib": 256, "vcpus": 1}, "source": "/srv/templates/web"}], "latest": 1, "name": "websrv", "owner": "alice", "used_by": ["shop"]}),
        ),
        sample::<AddHost>(
            "AddHost",
            json!({"cpu_ratio": 4.0, "driver": "libvirt", "fencing": "manual", "labels": {"zone": "a"}, "name": "kvm-01", "ram_ratio": 1.0, "reserved_memory_mb": 2048, "uri": "qemu+ssh://root@kvm-01/system"}),
        ),
        sample::<ConfirmDownReport>(
            "ConfirmDownReport",
            json!({"host": {"allocatable": {"memory_mib": 49152, "vcpus": 64}, "builtin": false, "connected": true, "created": 1_767_225_600_000_i64, "down_confirmed": true, "down_since": 1_767_225_600_000_i64, "driver": "local", "dir": "/var/lib/vsm/hosts/h2", "fencing": "manual", "labels": {}, "last_error": "it did not answer within 5s", "name": "h2", "ratios": {"cpu": 16.0, "ram": 1.5}, "reserved_memory_mib": 0, "servers": 2, "state": "down", "used": {"memory_mib": 1024, "vcpus": 2}}, "operations": [8, 9]}),
        ),
        sample::<RebalanceRequest>(
            "RebalanceRequest",
            json!({"dry_run": true, "timeout_secs": 600}),
        ),
        sample::<RebalanceReport>(
            "RebalanceReport",
            json!({"dry_run": false, "moves": [{"from": "kvm-01", "group": "web", "server": "web-2", "to": "kvm-03", "unit": "shop"}], "operations": [{"created_at": 1_767_225_600_000_i64, "finished_at": 1_767_225_600_000_i64, "id": 9, "kind": "host_rebalance", "requested_by": "root", "state": "succeeded", "unit": "shop"}], "timed_out": false}),
        ),
        sample::<DrainRequest>("DrainRequest", json!({"timeout_secs": 600})),
        sample::<DrainReport>(
            "DrainReport",
            json!({"host": {"allocatable": {"memory_mib": 49152, "vcpus": 64}, "builtin": false, "connected": true, "created": 1_767_225_600_000_i64, "driver": "local", "dir": "/var/lib/vsm/hosts/h2", "fencing": "manual", "labels": {}, "name": "h2", "ratios": {"cpu": 16.0, "ram": 1.5}, "reserved_memory_mib": 0, "servers": 1, "state": "draining", "used": {"memory_mib": 512, "vcpus": 1}}, "left": [{"group": "web", "reason": "its replacement web-4 failed: not healthy within 60s", "server": "web-2", "unit": "shop"}], "moved": 3, "operations": [{"created_at": 1_767_225_600_000_i64, "finished_at": 1_767_225_600_000_i64, "id": 7, "kind": "host_drain", "requested_by": "root", "state": "partly_succeeded", "unit": "shop"}], "timed_out": false}),
        ),
        sample::<HostInfo>(
            "HostInfo",
            json!({"allocatable": {"memory_mib": 49152, "vcpus": 64}, "builtin": false, "capacity": {"memory_mib": 32768, "vcpus": 4}, "connected": true, "created": 1_767_225_600_000_i64, "driver": "libvirt", "endpoint": "libvirt qemu+ssh://root@kvm-01/system", "fencing": "manual", "labels": {"zone": "a"}, "last_error": "connection refused", "last_seen": 1_767_225_600_000_i64, "name": "kvm-01", "placed": [{"group": "web", "server": "web-1", "size": {"memory_mib": 512, "vcpus": 1}, "unit": "shop"}], "ratios": {"cpu": 16.0, "ram": 1.5}, "reserved_memory_mib": 0, "servers": 1, "state": "up", "uri": "qemu+ssh://root@kvm-01/system", "used": {"memory_mib": 512, "vcpus": 1}}),
        ),
        sample::<UnitDetail>(
            "UnitDetail",
            json!({"busy_with": 7, "counts": {"active": 2, "all": 3, "invalid": 1}, "created_at": 1_767_225_600_000_i64, "current_version": 1, "definition_status": "changed", "groups": [{"kind": {"count": 3, "max": 8, "min": 1, "template": "websrv", "type": "provisioned"}, "name": "web", "servers": [{"address": "10.0.0.1", "applied_version": 1, "created_at": 1_767_225_600_000_i64, "epoch": 1, "generation": 1, "host": "host-1", "in_progress": "start", "last_error": "last error", "load": {"at": 1_767_225_600_000_i64, "cpu_percent": 12.5, "memory_bytes": 1048576}, "logical": "working", "mark": {"at": 1_767_225_600_000_i64, "comment": "disk noise"}, "name": "web-1", "observed": "working", "observed_at": 1_767_225_600_000_i64, "update_scope": "none"}], "start_order": 1}], "last_operations": [{"created_at": 1_767_225_600_000_i64, "finished_at": 1_767_225_600_000_i64, "id": 7, "kind": "unit_start", "requested_by": "alice", "state": "succeeded", "unit": "shop"}], "name": "shop", "owner": "alice", "versions": [{"created_at": 1_767_225_600_000_i64, "digest": "abababababababababababababababababababababababababababababababab", "version": 1}]}),
        ),
        sample::<crate::watch_delta::UnitDelta>(
            "UnitDelta",
            json!({"busy_with": null, "counts": {"active": 1, "all": 3, "invalid": 1}, "groups": [{"name": "web", "kind": {"count": 3, "max": 8, "min": 1, "template": "websrv", "type": "provisioned"}, "servers": [{"address": "10.0.0.3", "applied_version": 1, "created_at": 1_767_225_600_000_i64, "epoch": 1, "generation": 1, "host": "host-1", "in_progress": null, "last_error": null, "load": null, "logical": "stopped", "mark": {"at": 1_767_225_600_000_i64, "comment": "disk noise"}, "name": "web-3", "observed": "stopped", "observed_at": 1_767_225_600_000_i64, "update_scope": "none"}], "removed": ["web-4"], "order": ["web-1", "web-2", "web-3"]}], "removed_groups": ["cache"], "group_order": ["db", "web"], "owner": "alice", "last_operations": [{"created_at": 1_767_225_600_000_i64, "finished_at": 1_767_225_600_000_i64, "id": 7, "kind": "unit_start", "requested_by": "alice", "state": "succeeded", "unit": "shop"}]}),
        ),
        sample::<UnitSummary>(
            "UnitSummary",
            json!({"busy_with": 7, "counts": {"active": 2, "all": 3, "invalid": 1}, "created_at": 1_767_225_600_000_i64, "current_version": 1, "definition_status": "changed", "name": "shop", "owner": "alice"}),
        ),
        sample::<UpgradeRequest>(
            "UpgradeRequest",
            json!({"batch": "2", "surge": 1, "wait_secs": 60}),
        ),
        sample::<VersionInfo>(
            "VersionInfo",
            json!({"created_at": 1_767_225_600_000_i64, "digest": "abababababababababababababababababababababababababababababababab", "version": 1}),
        ),
        own(
            "Health",
            &Health {
                status: "ok".into(),
                version: "0.1.0".into(),
                pid: 4242,
                state_dir: "/var/lib/vsm".into(),
                limits: Some(UploadLimits::for_upload(1 << 30)),
                ha: Some(crate::api::HaStatus {
                    role: crate::api::ManagerRole::Standby,
                    epoch: 3,
                    name: "vsm-b:/var/lib/vsm".into(),
                    url: Some("http://vsm-b.example:7460".into()),
                    active: Some("vsm-a:/var/lib/vsm".into()),
                    active_url: Some("http://vsm-a.example:7460".into()),
                    since: Some(vsm_core::Timestamp::from_millis(1_767_225_600_000)),
                    peers: vec![crate::api::PeerStatus {
                        name: "vsm-a:/var/lib/vsm".into(),
                        url: Some("http://vsm-a.example:7460".into()),
                        role: crate::api::ManagerRole::Active,
                        epoch: 3,
                        seen_at: vsm_core::Timestamp::from_millis(1_767_225_601_000),
                    }],
                }),
            },
        ),
        own("Done", &Done::OK),
        sample::<LoginRequest>(
            "LoginRequest",
            json!({"user": "alice", "password": "secret"}),
        ),
        sample::<PasswordRequest>("PasswordRequest", json!({"password": "secret"})),
        sample::<GenerationRequest>(
            "GenerationRequest",
            json!({"source": "/srv/templates/web-2"}),
        ),
        own(
            "ErrorBody",
            &ErrorBody {
                error: ApiError::new(ErrorKind::Busy, "unit shop busy: operation 7 is running")
                    .with_details(["detail".to_owned()])
                    .with_hint("wait for it")
                    .with_operation(OperationId(7)),
            },
        ),
    ];
    if let Some(account) = alice {
        out.push(own(
            "WhoAmI",
            &WhoAmI {
                account,
                role: Role::Builder,
            },
        ));
    }
    out
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

/// Every schema the route table names, plus the error body and the events' data (progress, unit
/// deltas).
pub(crate) fn schemas() -> Value {
    let samples: Map<String, Value> = samples()
        .into_iter()
        .filter_map(|(name, value)| value.ok().map(|v| (name.to_owned(), v)))
        .collect();
    let mut names: Vec<&'static str> = vec!["ErrorBody", "ProgressEvent", "UnitDelta"];
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
    fn every_sample_fits_its_type() {
        for (name, value) in samples() {
            let value = value.unwrap_or_else(|e| panic!("{e}"));
            assert!(value.is_object(), "{name}: {value}");
        }
    }
}
