//! The manifest `vsm-definition.yaml`: its YAML schema (DTO structs with
//! `deny_unknown_fields`) and the validated domain types they convert into.
//!
//! This module checks everything that can be checked from the manifest text alone (schema,
//! names, paths, modes, durations, duplicate targets, anchors/aliases). Checks that need the
//! directory (sources exist, template variables) are in `scan`. No IO here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vsm_core::GroupName;

use crate::error::{DefinitionError, ProblemKind};
use crate::path::{PathProblem, RelPath};

/// The manifest's file name at the root of a definition directory.
pub const MANIFEST_FILE: &str = "vsm-definition.yaml";

/// The only manifest format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// DTO: exactly the YAML schema

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestDto {
    format: u32,
    #[serde(default)]
    parameters: BTreeMap<String, ScalarDto>,
    groups: Vec<GroupDto>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDto {
    name: String,
    #[serde(default)]
    parameters: BTreeMap<String, ScalarDto>,
    #[serde(default)]
    files: Vec<FileDto>,
    #[serde(default)]
    applications: Vec<FileDto>,
    activate: Option<ActivateDto>,
    health: Option<HealthDto>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDto {
    source: String,
    target: String,
    mode: Option<ScalarDto>,
    #[serde(default)]
    template: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateDto {
    command: String,
    timeout: Option<ScalarDto>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthDto {
    tcp: Option<TcpDto>,
    http: Option<HttpDto>,
    command: Option<String>,
    timeout: Option<ScalarDto>,
    interval: Option<ScalarDto>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpDto {
    port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpDto {
    port: u16,
    #[serde(default = "default_http_path")]
    path: String,
    #[serde(default = "default_http_status")]
    status: u16,
}

fn default_http_path() -> String {
    "/".into()
}

fn default_http_status() -> u16 {
    200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ScalarDto {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl ScalarDto {
    fn text(&self) -> String {
        match self {
            ScalarDto::Bool(b) => b.to_string(),
            ScalarDto::Int(i) => i.to_string(),
            ScalarDto::Float(f) => f.to_string(),
            ScalarDto::Str(s) => s.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Domain

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Parameters shared by every group (`{{ params.NAME }}`).
    pub parameters: BTreeMap<String, String>,
    /// The groups, in manifest order.
    pub groups: Vec<GroupDefinition>,
}

impl Manifest {
    /// The group called `name`.
    pub fn group(&self, name: &GroupName) -> Option<&GroupDefinition> {
        self.groups.iter().find(|g| &g.name == name)
    }
}

/// How one group's servers are set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDefinition {
    /// The group (must match a group of the unit).
    pub name: GroupName,
    /// Group parameters; they override the shared ones of the same name.
    pub parameters: BTreeMap<String, String>,
    /// Definition files and application packages, in manifest order (files first).
    pub files: Vec<FileRule>,
    /// The command run on the server after the files are in place.
    pub activate: Option<Activation>,
    /// The check that decides a server of this group is good.
    pub health: Option<HealthCheck>,
}

impl GroupDefinition {
    /// The parameters visible to this group's templates: shared ones overridden by the group's.
    pub fn effective_parameters(
        &self,
        shared: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut p = shared.clone();
        p.extend(self.parameters.iter().map(|(k, v)| (k.clone(), v.clone())));
        p
    }
}

/// Whether a file is a definition file (settings) or an application package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A definition file: a change needs the server stopped (update scope `all`).
    Settings,
    /// An application package: a change may go to a running server (scope `applications`).
    Application,
}

/// One `source → target` rule. A directory `source` copies its whole tree under `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRule {
    /// Path in the definition directory.
    pub source: RelPath,
    /// Path under the server's target directory.
    pub target: RelPath,
    /// Permission bits (at most `0o777`); none: `0o755` if the source is executable, else `0o644`.
    pub mode: Option<u32>,
    /// Rendered per server with `{{ variable }}` substitution.
    pub template: bool,
    /// Definition file or application package.
    pub kind: FileKind,
}

/// The activation command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// Run with `sh -c` in the server's target directory.
    pub command: String,
    /// How long it may run.
    pub timeout: Duration,
}

/// What a health check probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthProbe {
    /// A TCP connection to the server's address and this port succeeds.
    Tcp {
        /// The port.
        port: u16,
    },
    /// An HTTP GET of `http://ADDRESS:port/path` answers `status`.
    Http {
        /// The port.
        port: u16,
        /// The path, starting with `/`.
        path: String,
        /// The expected status code.
        status: u16,
    },
    /// A command run on the server exits 0.
    Command {
        /// Run with `sh -c`.
        command: String,
    },
}

/// A health check: a probe retried every `interval` until it passes or `timeout` is over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// What is probed.
    pub probe: HealthProbe,
    /// Total time allowed.
    pub timeout: Duration,
    /// Wait between attempts.
    pub interval: Duration,
}

/// Default activation timeout.
pub const DEFAULT_ACTIVATION_TIMEOUT: Duration = Duration::from_secs(300);
/// Default health-check timeout.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Default health-check interval.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// Parsing

/// Parses a duration: `30s`, `500ms`, `2m`, `1h`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// Parses a mode: octal digits such as `"0644"`, `"644"` or an unquoted `644`; at most `0777`.
fn parse_mode(v: &ScalarDto) -> Option<u32> {
    let digits = match v {
        ScalarDto::Int(i) if *i >= 0 => i.to_string(),
        ScalarDto::Str(s) => s.trim().trim_start_matches("0o").to_owned(),
        _ => return None,
    };
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return None;
    }
    let m = u32::from_str_radix(&digits, 8).ok()?;
    (m <= 0o777).then_some(m)
}

fn valid_param_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Finds 1-based lines in the manifest text, to point errors at the place they are about.
struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            lines: text.lines().collect(),
        }
    }

    /// The first line at or after `from` (1-based) holding `key: value` (value optionally
    /// quoted; an empty value matches any).
    fn find(&self, from: usize, key: &str, value: &str) -> Option<usize> {
        let key = format!("{key}:");
        self.lines
            .iter()
            .enumerate()
            .skip(from.saturating_sub(1))
            .find(|(_, l)| {
                let l = l.split(" #").next().unwrap_or(l);
                l.match_indices(&key).any(|(i, _)| {
                    let before_ok = l[..i]
                        .chars()
                        .last()
                        .is_none_or(|c| matches!(c, ' ' | '{' | ',' | '-'));
                    let rest = l[i + key.len()..].trim_start();
                    let rest = rest.strip_prefix(['"', '\'']).unwrap_or(rest);
                    before_ok
                        && rest.starts_with(value)
                        && (value.is_empty()
                            || rest[value.len()..]
                                .chars()
                                .next()
                                .is_none_or(|c| matches!(c, ' ' | ',' | '}' | '"' | '\'' | ']')))
                })
            })
            .map(|(i, _)| i + 1)
    }
}

/// Finds YAML anchors (`&name`) and aliases (`*name`) outside quotes, comments and block
/// scalars; returns their (line, column), 1-based.
fn find_anchors_and_aliases(text: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut block_indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(bi) = block_indent {
            if line.trim().is_empty() || indent > bi {
                continue;
            }
            block_indent = None;
        }
        let bytes = line.as_bytes();
        let mut quote: Option<u8> = None;
        let mut prev: u8 = b' ';
        let mut j = 0;
        while j < bytes.len() {
            let b = bytes[j];
            match quote {
                Some(q) => {
                    if b == q {
                        quote = None;
                    }
                }
                None => {
                    if (b == b'"' || b == b'\'')
                        && matches!(prev, b' ' | b':' | b'[' | b'{' | b',' | b'-')
                    {
                        quote = Some(b);
                    } else if b == b'#' && prev == b' ' {
                        break;
                    } else if (b == b'&' || b == b'*')
                        && matches!(prev, b' ' | b'[' | b'{' | b',')
                        && bytes.get(j + 1).is_some_and(|n| !n.is_ascii_whitespace())
                    {
                        let before = line[..j].trim_end();
                        let at_node_start = before.is_empty()
                            || before.ends_with(':')
                            || before.ends_with('-')
                            || before.ends_with('[')
                            || before.ends_with('{')
                            || before.ends_with(',')
                            || before.ends_with('!');
                        if at_node_start {
                            found.push((i + 1, j + 1));
                        }
                    }
                }
            }
            prev = b;
            j += 1;
        }
        let content = line.split(" #").next().unwrap_or(line).trim_end();
        let tail = content.rsplit(' ').next().unwrap_or("");
        if quote.is_none()
            && (tail.starts_with('|') || tail.starts_with('>'))
            && tail[1..]
                .chars()
                .all(|c| matches!(c, '+' | '-' | '0'..='9'))
        {
            block_indent = Some(indent);
        }
    }
    found
}

/// Parses and checks a manifest. `text` is the content of [`MANIFEST_FILE`]. Every problem
/// that can be found from the text alone is returned at once.
pub fn parse_manifest(text: &str) -> Result<Manifest, Vec<DefinitionError>> {
    let file = MANIFEST_FILE;
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(vec![DefinitionError::new(
            ProblemKind::TooLarge,
            file,
            format!(
                "the manifest is {} bytes, more than the limit of {MAX_MANIFEST_BYTES}: move content into files it refers to",
                text.len()
            ),
        )]);
    }
    let aliases = find_anchors_and_aliases(text);
    if !aliases.is_empty() {
        return Err(aliases
            .into_iter()
            .map(|(l, c)| {
                DefinitionError::new(
                    ProblemKind::Alias,
                    file,
                    "YAML anchors and aliases ('&name', '*name') are not allowed: write the value out, or quote it if it is text",
                )
                .at(l, c)
            })
            .collect());
    }
    let dto: ManifestDto = match serde_yaml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let mut text = e.to_string();
            if let Some(i) = text.rfind(" at line ") {
                text.truncate(i);
            }
            let mut err = DefinitionError::new(
                ProblemKind::Syntax,
                file,
                format!("{text}; see docs/definition-format.md for the allowed keys"),
            );
            if let Some(loc) = e.location() {
                err = err.at(loc.line(), loc.column());
            }
            return Err(vec![err]);
        }
    };
    convert(dto, text)
}

fn convert(dto: ManifestDto, text: &str) -> Result<Manifest, Vec<DefinitionError>> {
    let file = MANIFEST_FILE;
    let lines = Lines::new(text);
    let mut errs = Vec::new();
    if dto.format != FORMAT_VERSION {
        errs.push(
            DefinitionError::new(
                ProblemKind::Format,
                file,
                format!(
                    "format {} is not supported by this vsm: write 'format: {FORMAT_VERSION}'",
                    dto.format
                ),
            )
            .field("format")
            .at_line(lines.find(1, "format", "")),
        );
    }
    let params = convert_params(&dto.parameters, "parameters", &lines, 1, &mut errs);
    if dto.groups.is_empty() {
        errs.push(
            DefinitionError::new(
                ProblemKind::Value,
                file,
                "no groups: add at least one group",
            )
            .field("groups"),
        );
    }
    let mut groups = Vec::new();
    let mut seen_groups = BTreeSet::new();
    for (gi, g) in dto.groups.into_iter().enumerate() {
        let gline = lines.find(1, "name", &g.name).unwrap_or(1);
        let gfield = format!(
            "groups[{}]",
            if g.name.is_empty() {
                gi.to_string()
            } else {
                g.name.clone()
            }
        );
        let name = match GroupName::new(g.name.clone()) {
            Ok(n) => Some(n),
            Err(e) => {
                errs.push(
                    DefinitionError::new(
                        ProblemKind::Value,
                        file,
                        format!("{e}: rename the group"),
                    )
                    .field(format!("groups[{gi}].name"))
                    .at_line(Some(gline)),
                );
                None
            }
        };
        if !seen_groups.insert(g.name.clone()) {
            errs.push(
                DefinitionError::new(
                    ProblemKind::Value,
                    file,
                    format!("group '{}' is defined twice: merge the two entries", g.name),
                )
                .field(format!("{gfield}.name"))
                .at_line(Some(gline)),
            );
        }
        let gparams = convert_params(
            &g.parameters,
            &format!("{gfield}.parameters"),
            &lines,
            gline,
            &mut errs,
        );
        let mut files = Vec::new();
        let mut targets: BTreeMap<RelPath, String> = BTreeMap::new();
        for (kind, list, key) in [
            (FileKind::Settings, &g.files, "files"),
            (FileKind::Application, &g.applications, "applications"),
        ] {
            for (fi, f) in list.iter().enumerate() {
                let field = format!("{gfield}.{key}[{fi}]");
                let fline = lines.find(gline, "source", &f.source).or(Some(gline));
                let source = match RelPath::new(&f.source) {
                    Ok(p) => Some(p),
                    Err(p) => {
                        errs.push(path_error(&p, &f.source, "source", &field, fline));
                        None
                    }
                };
                let tline = fline
                    .and_then(|l| {
                        lines
                            .find(l, "target", &f.target)
                            .filter(|t| *t <= l + 3)
                            .or_else(|| {
                                lines.find(l.saturating_sub(3).max(gline), "target", &f.target)
                            })
                    })
                    .or_else(|| lines.find(gline, "target", &f.target))
                    .or(fline);
                let target = match RelPath::new_target(&f.target) {
                    Ok(p) => Some(p),
                    Err(p) => {
                        errs.push(path_error(&p, &f.target, "target", &field, tline));
                        None
                    }
                };
                let mode = match &f.mode {
                    None => None,
                    Some(m) => match parse_mode(m) {
                        Some(m) => Some(m),
                        None => {
                            errs.push(
                                DefinitionError::new(
                                    ProblemKind::Value,
                                    file,
                                    format!(
                                        "mode {:?} is not valid: write octal permission bits up to \"0777\", such as \"0644\"",
                                        m.text()
                                    ),
                                )
                                .field(format!("{field}.mode"))
                                .at_line(fline),
                            );
                            None
                        }
                    },
                };
                if f.template && kind == FileKind::Application {
                    errs.push(
                        DefinitionError::new(
                            ProblemKind::Value,
                            file,
                            "application packages cannot be templates: move the file to 'files'",
                        )
                        .field(format!("{field}.template"))
                        .at_line(fline),
                    );
                }
                if let Some(t) = &target {
                    if let Some(other) = targets.get(t) {
                        errs.push(
                            DefinitionError::new(
                                ProblemKind::DuplicateTarget,
                                file,
                                format!("target '{t}' is also written by {other}: give each rule its own target"),
                            )
                            .field(format!("{field}.target"))
                            .at_line(tline),
                        );
                    } else {
                        targets.insert(t.clone(), field.clone());
                    }
                }
                if let (Some(source), Some(target)) = (source, target) {
                    files.push(FileRule {
                        source,
                        target,
                        mode,
                        template: f.template,
                        kind,
                    });
                }
            }
        }
        let activate = g.activate.as_ref().and_then(|a| {
            let field = format!("{gfield}.activate");
            let aline = lines.find(gline, "activate", "").or(Some(gline));
            if a.command.trim().is_empty() {
                errs.push(
                    DefinitionError::new(
                        ProblemKind::Value,
                        file,
                        "the command is empty: write a command or remove 'activate'",
                    )
                    .field(format!("{field}.command"))
                    .at_line(aline),
                );
            }
            let timeout = duration_field(
                a.timeout.as_ref(),
                DEFAULT_ACTIVATION_TIMEOUT,
                &format!("{field}.timeout"),
                aline,
                &mut errs,
            )?;
            Some(Activation {
                command: a.command.clone(),
                timeout,
            })
        });
        let health = g.health.as_ref().and_then(|h| {
            let field = format!("{gfield}.health");
            let hline = lines.find(gline, "health", "").or(Some(gline));
            let mut probes = Vec::new();
            if let Some(t) = &h.tcp {
                probes.push(HealthProbe::Tcp { port: t.port });
            }
            if let Some(hp) = &h.http {
                if !hp.path.starts_with('/')
                    || hp.path.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    errs.push(
                        DefinitionError::new(
                            ProblemKind::Value,
                            file,
                            format!(
                                "path {:?} must start with '/' and contain no spaces",
                                hp.path
                            ),
                        )
                        .field(format!("{field}.http.path"))
                        .at_line(hline),
                    );
                }
                if !(100..=599).contains(&hp.status) {
                    errs.push(
                        DefinitionError::new(
                            ProblemKind::Value,
                            file,
                            format!("status {} is not an HTTP status (100-599)", hp.status),
                        )
                        .field(format!("{field}.http.status"))
                        .at_line(hline),
                    );
                }
                probes.push(HealthProbe::Http {
                    port: hp.port,
                    path: hp.path.clone(),
                    status: hp.status,
                });
            }
            if let Some(c) = &h.command {
                probes.push(HealthProbe::Command { command: c.clone() });
            }
            if probes.len() != 1 {
                errs.push(
                    DefinitionError::new(
                        ProblemKind::Value,
                        file,
                        "a health check needs exactly one of 'tcp', 'http' or 'command'",
                    )
                    .field(field.clone())
                    .at_line(hline),
                );
                return None;
            }
            let timeout = duration_field(
                h.timeout.as_ref(),
                DEFAULT_HEALTH_TIMEOUT,
                &format!("{field}.timeout"),
                hline,
                &mut errs,
            )?;
            let interval = duration_field(
                h.interval.as_ref(),
                DEFAULT_HEALTH_INTERVAL,
                &format!("{field}.interval"),
                hline,
                &mut errs,
            )?;
            Some(HealthCheck {
                probe: probes.remove(0),
                timeout,
                interval,
            })
        });
        if let Some(name) = name {
            groups.push(GroupDefinition {
                name,
                parameters: gparams,
                files,
                activate,
                health,
            });
        }
    }
    if errs.is_empty() {
        Ok(Manifest {
            parameters: params,
            groups,
        })
    } else {
        Err(errs)
    }
}

fn path_error(
    p: &PathProblem,
    value: &str,
    key: &str,
    field: &str,
    line: Option<usize>,
) -> DefinitionError {
    let kind = ProblemKind::Path;
    DefinitionError::new(kind, MANIFEST_FILE, format!("{key} {value:?}: {p}"))
        .field(format!("{field}.{key}"))
        .at_line(line)
}

fn duration_field(
    v: Option<&ScalarDto>,
    default: Duration,
    field: &str,
    line: Option<usize>,
    errs: &mut Vec<DefinitionError>,
) -> Option<Duration> {
    let Some(v) = v else { return Some(default) };
    match parse_duration(&v.text()).filter(|d| !d.is_zero()) {
        Some(d) => Some(d),
        None => {
            errs.push(
                DefinitionError::new(
                    ProblemKind::Value,
                    MANIFEST_FILE,
                    format!("duration {:?} is not valid: write a positive number with a unit, such as 500ms, 30s, 5m or 1h", v.text()),
                )
                .field(field)
                .at_line(line),
            );
            None
        }
    }
}

fn convert_params(
    params: &BTreeMap<String, ScalarDto>,
    field: &str,
    lines: &Lines<'_>,
    from: usize,
    errs: &mut Vec<DefinitionError>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in params {
        if valid_param_name(k) {
            out.insert(k.clone(), v.text());
        } else {
            errs.push(
                DefinitionError::new(
                    ProblemKind::Value,
                    MANIFEST_FILE,
                    format!("parameter name {k:?} is not valid: use letters, digits, '_' and '-', starting with a letter"),
                )
                .field(format!("{field}.{k}"))
                .at_line(lines.find(from, k, "")),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
format: 1
parameters:
  greeting: hello
  port: 8080
groups:
  - name: web
    files:
      - { source: web/index.html, target: www/index.html }
      - source: web/site.conf
        target: conf/site.conf
        template: true
        mode: "0600"
    applications:
      - { source: packages/shop.tar, target: apps/shop.tar }
    activate: { command: "sh activate.sh", timeout: 30s }
    health:
      http: { port: 8080, path: /health }
      timeout: 10s
      interval: 500ms
"#;

    #[test]
    fn parses_good_manifest() {
        let m = parse_manifest(GOOD).expect("valid");
        assert_eq!(m.parameters.get("port").map(String::as_str), Some("8080"));
        let g = &m.groups[0];
        assert_eq!(g.files.len(), 3);
        assert_eq!(g.files[1].mode, Some(0o600));
        assert_eq!(g.files[2].kind, FileKind::Application);
        let h = g.health.as_ref().expect("health");
        assert_eq!(
            h.probe,
            HealthProbe::Http {
                port: 8080,
                path: "/health".into(),
                status: 200
            }
        );
        assert_eq!(h.interval, Duration::from_millis(500));
    }

    #[test]
    fn unknown_key_has_line_and_column() {
        let text = "format: 1\ngroups:\n  - name: web\n    filez: []\n";
        let errs = parse_manifest(text).expect_err("unknown key");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].kind, ProblemKind::Syntax);
        assert_eq!(errs[0].line, Some(4));
        assert!(errs[0].message.contains("filez"), "{}", errs[0].message);
    }

    #[test]
    fn reports_all_semantic_errors_at_once() {
        let text = r#"format: 2
groups:
  - name: Web
    files:
      - { source: ../x, target: /etc/passwd, mode: "999" }
      - { source: a, target: t }
      - { source: b, target: t }
    health: { tcp: { port: 1 }, command: "true", timeout: soon }
"#;
        let errs = parse_manifest(text).expect_err("invalid");
        let kinds: Vec<ProblemKind> = errs.iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&ProblemKind::Format));
        assert!(kinds.contains(&ProblemKind::DuplicateTarget));
        assert_eq!(kinds.iter().filter(|k| **k == ProblemKind::Path).count(), 2);
        assert!(errs.len() >= 6, "{errs:#?}");
        let dup = errs
            .iter()
            .find(|e| e.kind == ProblemKind::DuplicateTarget)
            .expect("dup");
        assert_eq!(dup.line, Some(7));
    }

    #[test]
    fn rejects_anchors_and_aliases() {
        let text = "format: 1\nx: &a [1]\ngroups:\n  - name: web\n    parameters: *a\n";
        let errs = parse_manifest(text).expect_err("aliases");
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| e.kind == ProblemKind::Alias));
        assert_eq!((errs[1].line, errs[1].column), (Some(5), Some(17)));
        // Not aliases: quoted text, comments, block scalars, glob-like strings inside words.
        let ok = "format: 1\ngroups:\n  - name: web # &no\n    parameters:\n      a: \"*x\"\n      b: |\n        *bold* &amp\n      c: x*y\n";
        assert!(parse_manifest(ok).is_ok(), "{:?}", parse_manifest(ok));
    }

    #[test]
    fn durations_and_modes() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_mode(&ScalarDto::Int(644)), Some(0o644));
        assert_eq!(parse_mode(&ScalarDto::Str("0755".into())), Some(0o755));
        assert_eq!(parse_mode(&ScalarDto::Str("4755".into())), None);
    }
}
