//! Human renderings of the API's answers (units, templates, accounts, hosts, operations, diffs),
//! built from the JSON the manager returns. Pure functions of (value, colour) so they can be
//! snapshot-tested; times are shown relative to now.

use serde_json::Value;

use crate::render::{
    Paint, Table, array, cell, list, now_millis, paint, relative_time, text, text_any, time_field,
};

/// `administrator` → `admin` (the command line's word).
pub fn role_word(role: &str) -> String {
    match role {
        "administrator" => "admin".into(),
        other => other.into(),
    }
}

/// `vsm account list`.
pub fn accounts(v: &Value, color: bool) -> String {
    accounts_at(v, color, now_millis())
}

fn accounts_at(v: &Value, color: bool, now: i64) -> String {
    let mut t = Table::new(&["NAME", "ROLE", "UNITS", "CREATED"]);
    for a in list(v, &["accounts"]) {
        t.row(vec![
            text(a, "name"),
            role_word(&text(a, "role")),
            a.get("units")
                .and_then(Value::as_array)
                .map_or_else(|| "-".into(), |u| u.len().to_string()),
            time_field(a, "created_at", now),
        ]);
    }
    t.render(color)
}

/// An amount of memory in MiB for people: `512 MiB`, `1.5 GiB`, `24 GiB`, `2 TiB`.
pub fn memory(mib: u64) -> String {
    const GIB: u64 = 1024;
    const TIB: u64 = 1024 * 1024;
    let scaled = |unit: u64, word: &str| {
        let x = mib as f64 / unit as f64;
        let s = format!("{x:.1}");
        format!("{} {word}", s.strip_suffix(".0").unwrap_or(&s))
    };
    if mib >= TIB {
        scaled(TIB, "TiB")
    } else if mib >= GIB {
        scaled(GIB, "GiB")
    } else {
        format!("{mib} MiB")
    }
}

/// A JSON number field (`-` when absent).
fn number(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// `used/allocatable` of a host for one resource (`vcpus` or `memory_mib`), `shown` for
/// people; the allocatable part is `?` while the host's driver never reported its capacity
/// (placement then does not limit it).
fn use_of(h: &Value, key: &str, shown: fn(u64) -> String) -> String {
    let used = h.get("used").and_then(|u| number(u, key));
    let allocatable = h.get("allocatable").and_then(|u| number(u, key));
    let known = h.get("capacity").is_some_and(|c| !c.is_null());
    let part = |n: Option<u64>| n.map_or_else(|| "-".into(), shown);
    format!(
        "{}/{}",
        part(used),
        if known { part(allocatable) } else { "?".into() }
    )
}

/// A host's labels as `k=v,k=v` (`-` when it has none).
fn labels(h: &Value) -> String {
    let pairs: Vec<String> = h
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", cell(v))).collect())
        .unwrap_or_default();
    if pairs.is_empty() {
        "-".into()
    } else {
        pairs.join(",")
    }
}

/// `s` on one line, at most `max` characters (`…` marks a cut).
fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `1 server`, `3 servers` (`-` when absent).
fn counted(n: Option<u64>, word: &str) -> String {
    match n {
        None => "-".into(),
        Some(1) => format!("1 {word}"),
        Some(n) => format!("{n} {word}s"),
    }
}

/// How long the LAST ERROR column of `vsm host list` may be.
const HOST_ERROR_WIDTH: usize = 40;

/// `vsm host list`.
pub fn hosts(v: &Value, color: bool) -> String {
    let mut t = Table::new(&[
        "NAME",
        "DRIVER",
        "STATE",
        "CONNECTED",
        "CPU",
        "MEMORY",
        "SERVERS",
        "LABELS",
        "LAST ERROR",
    ]);
    for h in list(v, &["hosts"]) {
        t.row(vec![
            text(h, "name"),
            text(h, "driver"),
            text(h, "state"),
            text(h, "connected"),
            use_of(h, "vcpus", |n| n.to_string()),
            use_of(h, "memory_mib", memory),
            text(h, "servers"),
            labels(h),
            one_line(&text(h, "last_error"), HOST_ERROR_WIDTH),
        ]);
    }
    if t.is_empty() {
        return "no hosts (add one with `vsm host add NAME --driver libvirt --uri URI`)".into();
    }
    t.render(color)
}

/// `vsm host show`.
pub fn host(v: &Value, color: bool) -> String {
    host_at(v, color, now_millis())
}

fn host_at(v: &Value, color: bool, now: i64) -> String {
    let state = text(v, "state");
    let mut out = format!(
        "host {}  driver {}  state {}  connected {}\n",
        text(v, "name"),
        text(v, "driver"),
        paint(&state, crate::render::paint_for(&state), color),
        text(v, "connected"),
    );
    let mut fields: Vec<(&str, String)> = vec![("endpoint", text(v, "endpoint"))];
    for key in ["uri", "dir"] {
        if v.get(key).is_some_and(|x| !x.is_null()) {
            fields.push((key, text(v, key)));
        }
    }
    let capacity = v.get("capacity").filter(|c| !c.is_null());
    let resources = |r: &Value| {
        format!(
            "{}, {}",
            counted(number(r, "vcpus"), "vCPU"),
            number(r, "memory_mib").map_or_else(|| "-".into(), memory)
        )
    };
    fields.push((
        "capacity",
        capacity.map_or_else(
            || "unknown (its driver has not reported it; placement does not limit it)".into(),
            resources,
        ),
    ));
    let ratios = v.get("ratios").unwrap_or(&Value::Null);
    fields.push((
        "ratios",
        format!("cpu {}, ram {}", text(ratios, "cpu"), text(ratios, "ram")),
    ));
    fields.push((
        "reserved memory",
        number(v, "reserved_memory_mib").map_or_else(|| "-".into(), memory),
    ));
    if capacity.is_some() {
        fields.push((
            "allocatable",
            resources(v.get("allocatable").unwrap_or(&Value::Null)),
        ));
    }
    fields.push((
        "used",
        format!(
            "{} ({})",
            resources(v.get("used").unwrap_or(&Value::Null)),
            counted(number(v, "servers"), "server")
        ),
    ));
    fields.push(("fencing", text(v, "fencing")));
    fields.push(("labels", labels(v)));
    fields.push(("last seen", time_field(v, "last_seen", now)));
    fields.push(("last error", text(v, "last_error")));
    fields.push(("added", time_field(v, "created", now)));
    if v.get("builtin").and_then(Value::as_bool) == Some(true) {
        fields.push((
            "built-in",
            "yes: injected by the manager's start options; it cannot be removed".into(),
        ));
    }
    let wide = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, val) in &fields {
        out.push_str(&format!("{k:<wide$}  {val}\n"));
    }
    out.push('\n');
    let mut t = Table::new(&["UNIT", "GROUP", "SERVER", "vCPU", "MEMORY"]);
    for p in array(v, "placed") {
        let size = p.get("size").unwrap_or(&Value::Null);
        t.row(vec![
            text(p, "unit"),
            text(p, "group"),
            text(p, "server"),
            text(size, "vcpus"),
            number(size, "memory_mib").map_or_else(|| "-".into(), memory),
        ]);
    }
    if t.is_empty() {
        out.push_str("no servers placed on it\n");
    } else {
        out.push_str(&t.render(color));
    }
    out
}

/// `vsm host drain`: what moved, the host's state, and every server left with its reason.
pub fn drain(v: &Value, color: bool) -> String {
    let host = v.get("host").unwrap_or(&Value::Null);
    let state = text(host, "state");
    let mut out = format!(
        "host {}: {} moved off; state {}{}\n",
        text(host, "name"),
        counted(number(v, "moved"), "server"),
        paint(&state, crate::render::paint_for(&state), color),
        if v.get("timed_out").and_then(Value::as_bool) == Some(true) {
            " (the time-out ended the drain)"
        } else {
            ""
        }
    );
    let ops: Vec<String> = array(v, "operations")
        .iter()
        .map(|o| {
            format!(
                "{} ({}, {})",
                text(o, "id"),
                text(o, "unit"),
                text(o, "state")
            )
        })
        .collect();
    if !ops.is_empty() {
        out.push_str(&format!("operations: {}\n", ops.join(", ")));
    }
    let mut t = Table::new(&["UNIT", "GROUP", "SERVER", "WHY IT STAYED"]);
    for l in array(v, "left") {
        t.row(vec![
            text(l, "unit"),
            text(l, "group"),
            text(l, "server"),
            text(l, "reason"),
        ]);
    }
    if !t.is_empty() {
        out.push_str("\nservers still on the host:\n");
        out.push_str(&t.render(color));
    }
    out
}

/// `vsm host rebalance`: the moves, and (unless a dry run) the operations that made them.
pub fn rebalance(v: &Value, color: bool) -> String {
    let mut t = Table::new(&["UNIT", "GROUP", "SERVER", "FROM", "TO"]);
    for m in array(v, "moves") {
        t.row(vec![
            text(m, "unit"),
            text(m, "group"),
            text(m, "server"),
            text(m, "from"),
            text(m, "to"),
        ]);
    }
    if t.is_empty() {
        return "the spread is even: no move to make\n".into();
    }
    let dry = v.get("dry_run").and_then(Value::as_bool) == Some(true);
    let mut out = if dry {
        "moves that would restore the spread (nothing was changed):\n".to_owned()
    } else {
        "moves to restore the spread (each server gets a replacement on the emptiest allowed host; the host placement chose may differ from TO):\n".to_owned()
    };
    out.push_str(&t.render(color));
    let ops: Vec<String> = array(v, "operations")
        .iter()
        .map(|o| {
            format!(
                "{} ({}, {})",
                text(o, "id"),
                text(o, "unit"),
                text(o, "state")
            )
        })
        .collect();
    if !ops.is_empty() {
        out.push_str(&format!("operations: {}\n", ops.join(", ")));
    }
    if v.get("timed_out").and_then(Value::as_bool) == Some(true) {
        out.push_str("the time-out ended the rebalance\n");
    }
    out
}

/// `vsm template list`.
pub fn templates(v: &Value, color: bool) -> String {
    templates_at(v, color, now_millis())
}

fn latest_generation(t: &Value) -> Option<&Value> {
    array(t, "generations").last()
}

fn templates_at(v: &Value, color: bool, now: i64) -> String {
    let mut t = Table::new(&["NAME", "DRIVER", "OWNER", "GENERATION", "SOURCE", "UPDATED"]);
    for tpl in list(v, &["templates"]) {
        let latest = latest_generation(tpl);
        t.row(vec![
            text(tpl, "name"),
            text(tpl, "driver"),
            text(tpl, "owner"),
            latest.map_or_else(|| text(tpl, "latest"), |g| text(g, "generation")),
            latest.map_or_else(|| "-".into(), |g| text(g, "source")),
            latest.map_or_else(|| "-".into(), |g| time_field(g, "created_at", now)),
        ]);
    }
    if t.is_empty() {
        return "no templates (register one with `vsm template register NAME --driver local --source DIR`)".into();
    }
    t.render(color)
}

/// `vsm template show`.
pub fn template(v: &Value, color: bool) -> String {
    template_at(v, color, now_millis())
}

fn template_at(v: &Value, color: bool, now: i64) -> String {
    let mut out = format!(
        "template {}  driver {}  owner {}\n",
        text(v, "name"),
        text(v, "driver"),
        text(v, "owner")
    );
    let used = array(v, "used_by");
    if !used.is_empty() {
        out.push_str(&format!(
            "used by units: {}\n",
            used.iter().map(cell).collect::<Vec<_>>().join(", ")
        ));
    }
    let mut t = Table::new(&["GENERATION", "SOURCE", "CREATED"]);
    for g in array(v, "generations") {
        t.row(vec![
            text(g, "generation"),
            text(g, "source"),
            time_field(g, "created_at", now),
        ]);
    }
    out.push_str(&t.render(color));
    out
}

/// A unit's server counts `(all, active, invalid)` as text, from `counts` or flat fields.
fn counts(u: &Value) -> (String, String, String) {
    let c = u.get("counts").filter(|c| c.is_object()).unwrap_or(u);
    (
        text_any(c, &["all", "servers"]),
        text(c, "active"),
        text(c, "invalid"),
    )
}

/// A unit's state in one word: `busy` while an operation runs, else from its server counts.
fn unit_state(u: &Value) -> String {
    if let Some(s) = u.get("state").and_then(Value::as_str) {
        return s.to_owned();
    }
    if u.get("busy_with").is_some_and(|b| !b.is_null()) {
        return "busy".into();
    }
    let c = u.get("counts").filter(|c| c.is_object()).unwrap_or(u);
    let all = c
        .get("all")
        .or_else(|| c.get("servers"))
        .and_then(Value::as_u64);
    let active = c.get("active").and_then(Value::as_u64);
    match (all, active) {
        (Some(0), _) => "empty".into(),
        (Some(a), Some(b)) if a == b => "working".into(),
        (Some(_), Some(0)) => "stopped".into(),
        (Some(_), Some(_)) => "partial".into(),
        _ => "-".into(),
    }
}

/// `vsm unit list`.
pub fn units(v: &Value, color: bool) -> String {
    let mut t = Table::new(&[
        "NAME",
        "OWNER",
        "STATE",
        "SERVERS",
        "ACTIVE",
        "INVALID",
        "VERSION",
        "DEFINITION",
    ]);
    for u in list(v, &["units"]) {
        let (all, active, invalid) = counts(u);
        t.row(vec![
            text(u, "name"),
            text(u, "owner"),
            unit_state(u),
            all,
            active,
            invalid,
            text_any(u, &["version", "current_version"]),
            text(u, "definition_status"),
        ]);
    }
    if t.is_empty() {
        return "no units (create one with `vsm unit create NAME --file UNIT.yaml`)".into();
    }
    t.render(color)
}

/// Every server of a unit with its group: `servers_detail`, or the servers nested in groups.
fn unit_servers(v: &Value) -> Vec<(String, &Value)> {
    let flat = list(v, &["servers_detail"]);
    if !flat.is_empty() {
        return flat.iter().map(|s| (text(s, "group"), s)).collect();
    }
    array(v, "groups")
        .iter()
        .flat_map(|g| {
            array(g, "servers")
                .iter()
                .map(move |s| (text(g, "name"), s))
        })
        .collect()
}

/// `vsm unit show`.
pub fn unit(v: &Value, color: bool) -> String {
    unit_at(v, color, now_millis())
}

/// `vsm unit show` with times relative to `now` (ms since the epoch).
pub(crate) fn unit_at(v: &Value, color: bool, now: i64) -> String {
    let state = unit_state(v);
    let def = text(v, "definition_status");
    let (all, active, invalid) = counts(v);
    let mut out = format!(
        "unit {}  owner {}  state {}\ndefinition version {} ({})  servers {all} (active {active}, invalid {invalid})\n",
        text(v, "name"),
        text(v, "owner"),
        paint(&state, crate::render::paint_for(&state), color),
        text_any(v, &["version", "current_version"]),
        paint(&def, crate::render::paint_for(&def), color),
    );
    if let Some(op) = v.get("busy_with").filter(|b| !b.is_null()) {
        out.push_str(&format!("busy with operation {}\n", cell(op)));
    }
    let groups = array(v, "groups");
    if !groups.is_empty() {
        out.push('\n');
        let mut t = Table::new(&["GROUP", "KIND", "TEMPLATE", "COUNT", "MIN", "MAX", "ORDER"]);
        for g in groups {
            let kind = match g.get("kind") {
                Some(Value::Object(k)) => k.get("type").map_or_else(|| "-".into(), cell),
                Some(other) => cell(other),
                None => "-".into(),
            };
            let k = g.get("kind").filter(|k| k.is_object()).unwrap_or(g);
            t.row(vec![
                text(g, "name"),
                kind,
                text(k, "template"),
                text(k, "count"),
                text(k, "min"),
                text(k, "max"),
                text(g, "start_order"),
            ]);
        }
        out.push_str(&t.render(color));
    }
    let servers = unit_servers(v);
    if !servers.is_empty() {
        out.push('\n');
        let mut t = Table::new(&[
            "SERVER", "GROUP", "LOGICAL", "OBSERVED", "UPDATE", "ADDRESS", "HOST", "VERSION",
            "MARK",
        ]);
        for (group, s) in servers {
            let mark = match s.get("mark") {
                Some(Value::Object(m)) => m.get("comment").map_or_else(|| "marked".into(), cell),
                Some(other) => cell(other),
                None => "-".into(),
            };
            t.row(vec![
                text(s, "name"),
                group,
                text(s, "logical"),
                text(s, "observed"),
                text(s, "update_scope"),
                text(s, "address"),
                text(s, "host"),
                text_any(s, &["version", "applied_version"]),
                mark,
            ]);
        }
        out.push_str(&t.render(color));
    }
    let ops = array(v, "last_operations");
    if !ops.is_empty() {
        out.push_str("\nlast operations\n");
        out.push_str(&operations_at(&Value::Array(ops.to_vec()), color, now));
    }
    out
}

/// `vsm op list`.
pub fn operations(v: &Value, color: bool) -> String {
    operations_at(v, color, now_millis())
}

fn operations_at(v: &Value, color: bool, now: i64) -> String {
    let mut t = Table::new(&["ID", "UNIT", "KIND", "STATE", "BY", "STARTED", "TOOK"]);
    for o in list(v, &["operations"]) {
        let started = o
            .get("started_at")
            .or_else(|| o.get("created_at"))
            .and_then(Value::as_i64);
        let took = match (started, o.get("finished_at").and_then(Value::as_i64)) {
            (Some(a), Some(b)) => crate::render::duration(b - a),
            _ => "-".into(),
        };
        t.row(vec![
            text(o, "id"),
            text(o, "unit"),
            text(o, "kind").replace('_', " "),
            text(o, "state"),
            text(o, "requested_by"),
            started.map_or_else(|| "-".into(), |s| relative_time(now, s)),
            took,
        ]);
    }
    if t.is_empty() {
        return "no operations".into();
    }
    t.render(color)
}

/// `vsm unit diff`, and the diff part of `vsm unit import`.
pub fn diff(v: &Value, color: bool) -> String {
    let mut out = String::new();
    let from = text_any(v, &["from", "base"]);
    let groups = array(v, "groups");
    let flat = array(v, "files");
    if groups.is_empty() && flat.is_empty() {
        return format!("no changes against version {from}\n");
    }
    out.push_str(&format!("changes against version {from}:\n"));
    let line = |out: &mut String, group: &str, f: &Value| {
        let change = text(f, "change");
        let (sign, p) = match change.as_str() {
            "added" => ("+", Paint::Good),
            "removed" => ("-", Paint::Bad),
            _ => ("~", Paint::Busy),
        };
        out.push_str(&format!(
            "  {} {group}{}\n",
            paint(sign, p, color),
            text(f, "path")
        ));
    };
    for g in groups {
        let name = g.get("group").filter(|x| !x.is_null()).map(cell);
        let prefix = name.map_or_else(String::new, |n| format!("[{n}] "));
        for f in array(g, "files") {
            line(&mut out, &prefix, f);
        }
        let scope = text(g, "update_scope");
        if scope != "-" && scope != "none" {
            out.push_str(&format!("    {prefix}next apply updates: {scope}\n"));
        }
    }
    for f in flat {
        let prefix = f
            .get("group")
            .filter(|x| !x.is_null())
            .map_or_else(String::new, |g| format!("[{}] ", cell(g)));
        line(&mut out, &prefix, f);
    }
    out
}

/// `vsm unit import`.
pub fn import(unit: &str, v: &Value, color: bool) -> String {
    let version = text(v, "version");
    let digest = text(v, "digest");
    let short: String = digest.chars().take(12).collect();
    let created = v.get("created").and_then(Value::as_bool).unwrap_or(true);
    let mut out = if created {
        format!(
            "imported version {version} of unit {unit} (digest {short}); apply it with `vsm unit apply {unit}`\n"
        )
    } else {
        format!("unchanged: the directory is version {version} of unit {unit} (digest {short})\n")
    };
    if let Some(d) = v.get("diff")
        && created
    {
        out.push_str(&diff(d, color));
    }
    out
}

/// `vsm unit versions`.
pub fn versions(v: &Value, color: bool) -> String {
    versions_at(v, color, now_millis())
}

fn versions_at(v: &Value, color: bool, now: i64) -> String {
    let mut t = Table::new(&["VERSION", "DIGEST", "IMPORTED", "CURRENT"]);
    for ver in list(v, &["versions"]) {
        let digest: String = text(ver, "digest").chars().take(12).collect();
        t.row(vec![
            text(ver, "version"),
            digest,
            time_field(ver, "created_at", now),
            if ver.get("current").and_then(Value::as_bool) == Some(true) {
                "*".into()
            } else {
                String::new()
            },
        ]);
    }
    if t.is_empty() {
        return "no versions imported yet (`vsm unit import NAME DIR`)".into();
    }
    t.render(color)
}

/// `vsm manager log-config`.
pub fn log_config(v: &Value) -> String {
    format!(
        "log directory  {}\nfiles kept     {}\nsize per file  {} MiB\n",
        text_any(v, &["log_dir", "dir"]),
        text(v, "files"),
        text(v, "size_mb")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    fn unit_json() -> Value {
        json!({
            "name": "shop", "owner": "alice", "state": "working", "servers": 3, "active": 3,
            "invalid": 0, "version": 2, "definition_status": "unchanged",
            "groups": [
                {"name": "db", "kind": "registered", "count": 1, "start_order": 1},
                {"name": "web", "kind": "provisioned", "template": "appserver", "count": 2,
                 "min": 1, "max": 4, "start_order": 2}
            ],
            "servers_detail": [
                {"name": "db-1", "group": "db", "logical": "working", "observed": "working",
                 "update_scope": "none", "address": "127.0.0.1:2222", "version": 2},
                {"name": "web-1", "group": "web", "logical": "working", "observed": "working",
                 "update_scope": "none", "address": "127.0.0.2:8080", "host": "local", "version": 2},
                {"name": "web-2", "group": "web", "logical": "working", "observed": "operating",
                 "update_scope": "applications", "address": "127.0.0.3:8080", "host": "local",
                 "version": 1, "mark": "disk full"}
            ],
            "last_operations": [
                {"id": 7, "unit": "shop", "kind": "start", "state": "succeeded",
                 "requested_by": "alice", "started_at": NOW - 120_000, "finished_at": NOW - 115_500}
            ]
        })
    }

    #[test]
    fn unit_show_renders_groups_servers_and_operations() {
        insta::assert_snapshot!(unit_at(&unit_json(), false, NOW));
    }

    #[test]
    fn unit_show_renders_the_managers_unit_detail() {
        let server = |name: &str, addr: &str, observed: &str| {
            json!({"name": name, "address": addr, "applied_version": 1, "generation": 1,
                   "host": "localhost", "logical": "working", "observed": observed,
                   "update_scope": "none", "mark": null, "last_error": null})
        };
        let v = json!({
            "name": "shop", "owner": "alice", "busy_with": null,
            "counts": {"all": 3, "active": 2, "invalid": 1},
            "current_version": 1, "definition_status": "changed",
            "groups": [
                {"name": "app", "start_order": 1, "kind": {"type": "provisioned",
                 "template": "appserver", "count": 1, "min": 1, "max": 4},
                 "servers": [server("app-1", "127.1.0.1", "working")]},
                {"name": "web", "start_order": 2, "kind": {"type": "provisioned",
                 "template": "appserver", "count": 2, "min": 1, "max": 6},
                 "servers": [server("web-1", "127.1.0.2", "working"),
                             server("web-2", "127.1.0.3", "unknown")]}
            ],
            "last_operations": []
        });
        insta::assert_snapshot!(unit_at(&v, false, NOW));
        let list = json!([{"name": "shop", "owner": "alice", "busy_with": 7,
            "counts": {"all": 3, "active": 2, "invalid": 1}, "current_version": 1,
            "definition_status": "changed"}]);
        insta::assert_snapshot!(units(&list, false));
    }

    #[test]
    fn unit_list_and_templates_render_as_tables() {
        let units = json!([{"name": "shop", "owner": "alice", "state": "stopped", "servers": 3,
            "active": 0, "invalid": 0, "version": null, "definition_status": "none"}]);
        insta::assert_snapshot!(units_render(&units));
        let tpls = json!([{"name": "appserver", "driver": "local", "owner": "alice",
            "generations": [{"generation": 1, "source": "/t/a", "created_at": NOW - 3_600_000},
                            {"generation": 2, "source": "/t/b", "created_at": NOW - 60_000}]}]);
        insta::assert_snapshot!(templates_at(&tpls, false, NOW));
        let accts = json!([{"name": "root", "role": "administrator", "created_at": NOW - 86_400_000},
                           {"name": "alice", "role": "builder"}]);
        insta::assert_snapshot!(accounts_at(&accts, false, NOW));
    }

    fn units_render(v: &Value) -> String {
        units(v, false)
    }

    /// A host record as the manager keeps it, built from the API's own types.
    fn host_record(
        name: &str,
        driver: vsm_manager::DriverKind,
        capacity: Option<(u32, u64)>,
    ) -> vsm_manager::HostRecord {
        use vsm_core::{Resources, Timestamp};
        use vsm_manager::{DriverKind, HostConnection, HostRecord};
        let connection = HostConnection {
            name: name.parse().unwrap(),
            driver,
            uri: (driver == DriverKind::Libvirt).then(|| format!("qemu+ssh://root@{name}/system")),
            dir: (driver == DriverKind::Local).then(|| format!("/var/lib/vsm/hosts/{name}").into()),
        };
        let mut host = HostRecord::new(connection, Timestamp::from_millis(NOW - 3 * 86_400_000));
        host.capacity = capacity.map(|(vcpus, memory_mib)| Resources { vcpus, memory_mib });
        host.last_seen = Some(Timestamp::from_millis(NOW - 20_000));
        host
    }

    /// The manager's answer for `host` with `placed` servers `(unit, group, server, vCPUs, MiB)`:
    /// allocatable and used computed as the manager computes them.
    fn host_info(
        host: vsm_manager::HostRecord,
        connected: bool,
        placed: &[(&str, &str, &str, u32, u64)],
    ) -> vsm_manager::HostInfo {
        let placed: Vec<vsm_manager::PlacedServer> = placed
            .iter()
            .map(
                |&(unit, group, server, vcpus, memory_mib)| vsm_manager::PlacedServer {
                    unit: unit.parse().unwrap(),
                    group: group.parse().unwrap(),
                    server: server.parse().unwrap(),
                    size: vsm_core::Resources { vcpus, memory_mib },
                },
            )
            .collect();
        let used = vsm_core::Usage {
            vcpus: placed.iter().map(|p| u64::from(p.size.vcpus)).sum(),
            memory_mib: placed.iter().map(|p| p.size.memory_mib).sum(),
        };
        vsm_manager::HostInfo {
            allocatable: host.placement_host(connected).allocatable(),
            host,
            connected,
            used,
            servers: placed.len() as u32,
            placed,
        }
    }

    fn host_pool() -> Vec<vsm_manager::HostInfo> {
        use vsm_manager::DriverKind::{Libvirt, Local};
        let mut local = host_record("local", Local, Some((8, 16_384)));
        local.connection.dir = None;
        local.builtin = true;
        local.endpoint = Some("local:/var/lib/vsm/local".into());
        let local = host_info(local, true, &[("shop", "app", "app-1", 1, 512)]);

        let mut kvm1 = host_record("kvm-01", Libvirt, Some((16, 65_536)));
        kvm1.labels.insert("zone".into(), "a".into());
        kvm1.labels.insert("rack".into(), "r1".into());
        kvm1.ratios = vsm_core::AllocationRatios::new(4.0, 1.0).unwrap();
        kvm1.reserved_memory_mib = 2048;
        kvm1.fencing = vsm_manager::Fencing::None;
        kvm1.state = vsm_core::HostState::Draining;
        kvm1.endpoint = Some("libvirt qemu+ssh://root@kvm-01/system".into());
        let kvm1 = host_info(
            kvm1,
            true,
            &[
                ("shop", "web", "web-1", 2, 2048),
                ("shop", "web", "web-2", 2, 2048),
                ("crm", "db", "db-1", 4, 8192),
            ],
        );

        let mut kvm2 = host_record("kvm-02", Libvirt, None);
        kvm2.state = vsm_core::HostState::Down;
        kvm2.labels.insert("zone".into(), "b".into());
        kvm2.last_seen = None;
        kvm2.last_error = Some(
            "cannot connect to libvirt at qemu+ssh://root@kvm-02/system: Cannot recv data: ssh: connect to host kvm-02 port 22: No route to host"
                .into(),
        );
        let kvm2 = host_info(kvm2, false, &[]);
        vec![local, kvm1, kvm2]
    }

    #[test]
    fn host_list_renders_use_state_and_labels() {
        let mut pool = host_pool();
        for h in &mut pool {
            h.placed.clear(); // `host list` answers without them
        }
        let v = serde_json::to_value(&pool).unwrap();
        insta::assert_snapshot!(hosts(&v, false));
        assert!(hosts(&json!([]), false).starts_with("no hosts"));
        assert!(hosts(&v, true).contains("\x1b[33mdraining\x1b[0m"));
    }

    #[test]
    fn host_show_renders_fields_and_placed_servers() {
        let pool = host_pool();
        let kvm1 = serde_json::to_value(&pool[1]).unwrap();
        insta::assert_snapshot!(host_at(&kvm1, false, NOW));
        let local = serde_json::to_value(&pool[0]).unwrap();
        insta::assert_snapshot!(host_at(&local, false, NOW));
        let kvm2 = serde_json::to_value(&pool[2]).unwrap();
        insta::assert_snapshot!(host_at(&kvm2, false, NOW));
    }

    #[test]
    fn drain_reports_what_moved_and_every_server_left() {
        let pool = host_pool();
        let report = vsm_manager::DrainReport {
            host: pool[1].clone(),
            operations: vec![],
            moved: 3,
            left: vec![vsm_manager::LeftServer {
                unit: "shop".parse().unwrap(),
                group: "web".parse().unwrap(),
                server: "web-2".parse().unwrap(),
                reason: "its replacement web-5 failed: not healthy within 60s".into(),
            }],
            timed_out: false,
        };
        let v = serde_json::to_value(&report).unwrap();
        let text = drain(&v, false);
        assert!(
            text.starts_with("host kvm-01: 3 servers moved off; state "),
            "{text}"
        );
        assert!(text.contains("web-2"), "{text}");
        assert!(text.contains("its replacement web-5 failed"), "{text}");
        let done = vsm_manager::DrainReport {
            left: vec![],
            timed_out: true,
            ..report
        };
        let text = drain(&serde_json::to_value(&done).unwrap(), false);
        assert!(text.contains("(the time-out ended the drain)"), "{text}");
        assert!(!text.contains("servers still on the host"), "{text}");
    }

    #[test]
    fn rebalance_lists_moves_or_says_the_spread_is_even() {
        let v = json!({"dry_run": true, "moves": [{"unit": "shop", "group": "web", "server": "web-2", "from": "h1", "to": "h3"}], "operations": [], "timed_out": false});
        let text = rebalance(&v, false);
        assert!(
            text.starts_with("moves that would restore the spread (nothing was changed)"),
            "{text}"
        );
        assert!(text.contains("web-2") && text.contains("h3"), "{text}");
        let even = json!({"dry_run": false, "moves": [], "operations": [], "timed_out": false});
        assert_eq!(
            rebalance(&even, false),
            "the spread is even: no move to make\n"
        );
    }

    #[test]
    fn memory_reads_in_mib_gib_and_tib() {
        assert_eq!(memory(0), "0 MiB");
        assert_eq!(memory(512), "512 MiB");
        assert_eq!(memory(1023), "1023 MiB");
        assert_eq!(memory(1024), "1 GiB");
        assert_eq!(memory(1536), "1.5 GiB");
        assert_eq!(memory(98_304), "96 GiB");
        assert_eq!(memory(3 << 20), "3 TiB");
        assert_eq!(one_line("a\nb   c", 10), "a b c");
        assert_eq!(one_line("abcdefghijk", 5), "abcd…");
    }

    #[test]
    fn diffs_show_changes_per_group() {
        let d = json!({"from": 1, "groups": [
            {"group": null, "update_scope": "all", "files": [{"path": "vsm-definition.yaml", "change": "modified"}]},
            {"group": "web", "update_scope": "applications", "files": [
                {"path": "apps/shop.txt", "change": "added"}, {"path": "apps/old.txt", "change": "removed"}]}
        ]});
        insta::assert_snapshot!(diff(&d, false));
        assert_eq!(
            diff(&json!({"from": 3, "groups": []}), false),
            "no changes against version 3\n"
        );
    }
}
