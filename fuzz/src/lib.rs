//! Fuzz targets of vsm's parsers of untrusted input, as plain functions of the input bytes.
//!
//! - [`manifest`]: a definition directory's manifest (`vsm_deploy::manifest::parse_manifest`);
//! - [`unit_file`]: a unit file (`vsm_manager::unitfile::parse`);
//! - [`api_request`]: the JSON request bodies, path parameters and query strings the HTTP API
//!   decodes, plus the checks the manager applies right after decoding.
//!
//! A target must never panic, whatever the input: a panic is a bug of the parser (or of the
//! invariant the target checks, such as "a decoded request survives a JSON round trip").
//! The binaries under `fuzz_targets/` (feature `libfuzzer`) wrap these functions for libFuzzer;
//! `cargo xtask fuzz` builds them with coverage instrumentation on stable Rust and runs them.
//! The unit test replays the committed corpus `fuzz/corpus/<target>/`, so `cargo test` checks
//! every input that ever found new coverage or a crash. This crate must not do IO in targets.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use vsm_core::{AccountName, GroupName, ServerName, TemplateName, UnitName};
use vsm_manager::config::Settings;
use vsm_manager::http::api::{
    DeleteQuery, GenerationRequest, LoginRequest, LogsQuery, OperationListQuery, PasswordRequest,
    UnitListQuery, WaitQuery,
};
use vsm_manager::{
    AddAccount, ApplyRequest, AttachRequest, Chown, CreateUnitFromFile, LogSettingsChange,
    MarkRequest, OpOptions, RegisterTemplate, ScaleRequest, UpgradeRequest,
};

/// The names of the targets, as used for `fuzz/corpus/<target>/` and the fuzz binaries.
pub const TARGETS: [&str; 3] = ["manifest", "unit_file", "api_request"];

/// Runs the target called `name` on `data`; `false` if there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "manifest" => manifest(data),
        "unit_file" => unit_file(data),
        "api_request" => api_request(data),
        _ => return false,
    }
    true
}

/// The manifest parser: `data` as the text of `vsm-definition.yaml` (non-UTF-8 input is refused
/// before parsing, as the scanner does), plus the duration syntax of the manifest and the
/// template syntax of the definition files (`{{ params.NAME }}`).
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = vsm_deploy::manifest::parse_duration(text);
    if let Ok(t) = vsm_deploy::Template::parse(text) {
        let mut vars = vsm_deploy::Variables::new();
        for (name, _line) in t.variables() {
            vars.set(name, "x");
        }
        assert!(
            t.render(&vars).is_ok(),
            "a template renders with all its variables set"
        );
    }
    if let Ok(m) = vsm_deploy::manifest::parse_manifest(text) {
        for g in &m.groups {
            assert!(
                m.group(&g.name).is_some(),
                "a parsed group is found by name"
            );
            let _ = g.effective_parameters(&m.parameters);
        }
    }
}

/// The unit file parser: `data` as the text of a unit file.
pub fn unit_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = vsm_manager::unitfile::parse_duration_ms(text);
    let _ = vsm_manager::unitfile::parse("fuzz.yaml", text);
}

/// The API's request decoding. The first byte picks what the rest is (modulo the number of
/// kinds): a JSON body of one request type, a path parameter, or a query string.
pub fn api_request(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 17 {
        0 => {
            json::<LoginRequest>(body);
        }
        1 => {
            json::<AddAccount>(body);
        }
        2 => {
            json::<PasswordRequest>(body);
        }
        3 => {
            json::<RegisterTemplate>(body);
        }
        4 => {
            json::<GenerationRequest>(body);
        }
        5 => {
            // The manager parses the unit file of the body at once.
            if let Some(req) = json::<CreateUnitFromFile>(body) {
                let _ = vsm_manager::unitfile::parse(&req.file_name, &req.unit_file);
            }
        }
        6 => {
            json::<Chown>(body);
        }
        7 => {
            optional_json::<ApplyRequest>(body);
        }
        8 => {
            optional_json::<OpOptions>(body);
        }
        9 => {
            json::<ScaleRequest>(body);
        }
        10 => {
            optional_json::<UpgradeRequest>(body);
        }
        11 => {
            json::<AttachRequest>(body);
        }
        12 => {
            json::<MarkRequest>(body);
        }
        13 => {
            if let Some(change) = json::<LogSettingsChange>(body) {
                log_settings(change);
            }
        }
        14 => path_parameter(body),
        15 => query_strings(body),
        _ => {
            // Any body as any request type: finds decoders that panic on foreign shapes.
            let _ = json::<ScaleRequest>(body);
            let _ = json::<ApplyRequest>(body);
            let _ = json::<CreateUnitFromFile>(body);
        }
    }
}

/// Decodes a JSON body as the API's `Json` extractor does; a decoded request must survive a
/// JSON round trip unchanged.
fn json<T>(body: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let value: T = serde_json::from_slice(body).ok()?;
    round_trip(&value);
    Some(value)
}

/// Decodes a body as the API's `OptionalJson` extractor does (blank means the default).
fn optional_json<T>(body: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug + Default,
{
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(T::default());
    }
    json(body)
}

fn round_trip<T>(value: &T)
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let text = serde_json::to_vec(value).expect("a decoded request serializes");
    let back: T = match serde_json::from_slice(&text) {
        Ok(back) => back,
        Err(e) => panic!("a serialized request does not decode: {e}: {value:?}"),
    };
    assert_eq!(&back, value, "a request changed in a JSON round trip");
}

/// What the manager does with a log settings change: check the fields, render `config.yaml`;
/// the rendered file must read back as the same settings (else the manager cannot restart).
fn log_settings(change: LogSettingsChange) {
    let mut settings = Settings::default();
    if let Some(d) = change.log_dir {
        if d.trim().is_empty() {
            return;
        }
        settings.log.dir = d;
    }
    if let Some(n) = change.files {
        if !(1..=1000).contains(&n) {
            return;
        }
        settings.log.files = n;
    }
    if let Some(m) = change.size_mb {
        if !(1..=4096).contains(&m) {
            return;
        }
        settings.log.size_mb = m;
    }
    if let Some(l) = change.level {
        settings.log.level = l;
    }
    let text = settings.render();
    match Settings::parse("config.yaml", &text) {
        Ok(back) => assert_eq!(back, settings, "config.yaml changed in a round trip"),
        Err(e) => panic!("a rendered config.yaml does not parse: {e}\n{text}"),
    }
}

/// A path parameter (`{unit}`, `{group}`, `{server}`, `{name}`, `{id}`): each name type either
/// refuses the text or accepts it and shows it unchanged.
fn path_parameter(body: &[u8]) {
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    fn check<T: std::str::FromStr + std::fmt::Display + DeserializeOwned>(text: &str) {
        let parsed = text.parse::<T>().ok();
        if let Some(v) = &parsed {
            assert_eq!(v.to_string(), text, "a name is shown as given");
        }
        let decoded = serde_json::from_value::<T>(serde_json::Value::String(text.to_owned()));
        assert_eq!(
            decoded.is_ok(),
            parsed.is_some(),
            "decoding and parsing a name agree"
        );
    }
    check::<UnitName>(text);
    check::<GroupName>(text);
    check::<ServerName>(text);
    check::<TemplateName>(text);
    check::<AccountName>(text);
    let _ =
        serde_json::from_value::<vsm_core::OperationId>(serde_json::Value::String(text.to_owned()));
}

/// The query strings of the API (`?all=true`, `?unit=`, `?timeout_secs=`, `?tail=`, `?force=`).
fn query_strings(body: &[u8]) {
    let _ = serde_urlencoded::from_bytes::<UnitListQuery>(body);
    let _ = serde_urlencoded::from_bytes::<OperationListQuery>(body);
    let _ = serde_urlencoded::from_bytes::<WaitQuery>(body);
    let _ = serde_urlencoded::from_bytes::<LogsQuery>(body);
    let _ = serde_urlencoded::from_bytes::<DeleteQuery>(body);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every committed corpus input of every target runs without a panic.
    #[test]
    fn corpus_replays_without_panics() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for target in TARGETS {
            let dir = root.join(target);
            let mut count = 0;
            for entry in std::fs::read_dir(&dir).expect("the corpus directory exists") {
                let path = entry.expect("a readable corpus entry").path();
                let data = std::fs::read(&path).expect("a readable corpus file");
                assert!(run(target, &data), "{target} is a target");
                count += 1;
            }
            assert!(count > 0, "{} holds no inputs", dir.display());
        }
    }

    #[test]
    fn unknown_targets_are_refused() {
        assert!(!run("nope", b""));
    }
}
