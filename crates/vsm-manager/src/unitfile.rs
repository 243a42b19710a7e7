//! The unit file (`vsm unit create NAME --file UNIT.yaml`): its YAML schema (versioned,
//! `format: 1`, unknown keys rejected) and its validation into a [`UnitSpec`].
//!
//! Every error names the file, the line and the field, and says what to do. This module parses
//! text only; it never touches the store or a driver.
//!
//! ```yaml
//! format: 1
//! groups:
//!   - name: db                 # registered group: existing machines, reached over SSH
//!     start_order: 1
//!     registered:
//!       - { name: db1, address: 192.0.2.10 }
//!     ssh: { user: vsm, identity: /var/lib/vsm/keys/vsm_ed25519 }
//!     commands: { start: "systemctl start pg", stop: "systemctl stop pg", status: "systemctl is-active pg" }
//!     root: /srv/pg            # where definitions are applied on each machine ({machine}: its
//!                              # name; default vsm/UNIT under the ssh user's home)
//!   - name: web                # provisioned group: cloned from a template, scaled by count
//!     template: websrv
//!     count: 3
//!     min: 2
//!     max: 8
//!     start_order: 2           # starts after every db server is healthy
//!     start_delay: 0s          # extra wait after the previous group is healthy
//!     scale_in: newest         # newest | oldest
//!     grace: 30s               # drain time before a scaled-in server is stopped
//!     recover: restart         # none | restart | recreate
//!     health: { timeout: 60s } # how long a started server may take to pass its health check
//!                              # (`command:` adds a command that must exit 0)
//!     placement:               # where its servers run in the host pool
//!       policy: spread         # spread (default) | pack
//!       anti_affinity: soft    # hard | soft (default) | none
//!       max_per_host: 2        # at most this many of the group per host
//!       hosts: { zone: a }     # only hosts carrying every label
//! tolerate_host_failures: 1    # refuse placements after which losing this many hosts would
//!                              # leave a group below its min (default 0: no check)
//! ```

use serde::Deserialize;
use vsm_core::model::{
    CommandSettings, GroupKind, GroupSpec, HealthPolicy, ProvisionedSpec, RecoverPolicy,
    RegisteredServer, RegisteredSpec, ScaleInPolicy, ServerAddress, SshSettings, UnitSpec,
};
use vsm_core::{GroupName, ServerName, TemplateName};

use crate::error::{DataProblem, Error};

/// The only unit file format this version understands.
pub const FORMAT: u32 = 1;

/// The default time a started server may take to pass its health check.
pub const DEFAULT_HEALTH_TIMEOUT_MS: u64 = 60_000;

// ------------------------------------------------------------------ DTOs

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitFileDto {
    format: u32,
    groups: Vec<GroupDto>,
    #[serde(default)]
    tolerate_host_failures: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementDto {
    #[serde(default)]
    policy: Option<vsm_core::Policy>,
    #[serde(default)]
    anti_affinity: Option<vsm_core::AntiAffinity>,
    #[serde(default)]
    max_per_host: Option<u32>,
    #[serde(default)]
    hosts: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDto {
    name: String,
    #[serde(default)]
    start_order: Option<u32>,
    #[serde(default)]
    start_delay: Option<String>,
    #[serde(default)]
    health: Option<HealthDto>,
    #[serde(default)]
    recover: Option<RecoverPolicy>,
    // provisioned
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    min: Option<u32>,
    #[serde(default)]
    max: Option<u32>,
    #[serde(default)]
    scale_in: Option<ScaleInPolicy>,
    #[serde(default)]
    grace: Option<String>,
    #[serde(default)]
    placement: Option<PlacementDto>,
    // registered
    #[serde(default)]
    registered: Option<Vec<RegisteredDto>>,
    #[serde(default)]
    ssh: Option<SshDto>,
    #[serde(default)]
    commands: Option<CommandsDto>,
    #[serde(default)]
    root: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthDto {
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    command: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisteredDto {
    name: String,
    address: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SshDto {
    user: String,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    strict_host_keys: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandsDto {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    stop: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// Parses a duration such as `0`, `500ms`, `30s`, `5m`, `1h` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "0" {
        return Some(0);
    }
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        return None;
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Finds the 1-based line of the group named `group` (its `name:` entry), for error messages.
fn group_line(text: &str, group: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches('-').trim_start();
            l.strip_prefix("name:")
                .map(|rest| {
                    let v = rest.split('#').next().unwrap_or("").trim();
                    v.trim_matches(|c| c == '"' || c == '\'') == group
                })
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

/// Finds the first line at or after `from` (1-based) that sets `key:`.
fn key_line(text: &str, from: Option<usize>, key: &str) -> Option<usize> {
    let start = from.unwrap_or(1).saturating_sub(1);
    let pat = format!("{key}:");
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| {
            let l = l.trim_start().trim_start_matches('-').trim_start();
            l.starts_with(&pat) || l.contains(&format!(" {pat}")) || l.contains(&format!("{{{pat}"))
        })
        .map(|(i, _)| i + 1)
        .or(from)
}

/// Parses and validates a unit file into the core's [`UnitSpec`]. `file` is the name shown in
/// errors.
pub fn parse(file: &str, text: &str) -> Result<UnitSpec, Error> {
    let dto: UnitFileDto = serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let mut msg = e.to_string();
        // yaml_serde appends " at line L column C"; the line is reported separately.
        if let Some(i) = msg.find(" at line ") {
            msg.truncate(i);
        }
        Error::data(
            file,
            line,
            None,
            format!("{msg}; see the unit file format in the vsm-manager `unitfile` docs"),
        )
    })?;
    let mut problems: Vec<DataProblem> = Vec::new();
    let mut problem = |line: Option<usize>, field: String, message: String| {
        problems.push(DataProblem {
            file: file.to_owned(),
            line,
            field: Some(field),
            message,
        });
    };
    if dto.format != FORMAT {
        problem(
            key_line(text, None, "format"),
            "format".into(),
            format!(
                "unsupported format {}; this manager reads `format: {FORMAT}`",
                dto.format
            ),
        );
    }
    let mut groups = Vec::new();
    for (i, g) in dto.groups.into_iter().enumerate() {
        let at = group_line(text, &g.name);
        let field = |f: &str| format!("groups[{i}].{f}");
        let name = match GroupName::new(g.name.clone()) {
            Ok(n) => n,
            Err(e) => {
                problem(at, field("name"), e.to_string());
                continue;
            }
        };
        let mut dur = |value: Option<&String>, key: &str, default: u64| -> u64 {
            match value {
                None => default,
                Some(v) => parse_duration_ms(v).unwrap_or_else(|| {
                    problem(
                        key_line(text, at, key),
                        field(key),
                        format!(
                            "invalid duration {v:?}; write e.g. `0s`, `500ms`, `30s`, `5m` or `1h`"
                        ),
                    );
                    default
                }),
            }
        };
        let start_delay_ms = dur(g.start_delay.as_ref(), "start_delay", 0);
        let health_timeout_ms = dur(
            g.health.as_ref().and_then(|h| h.timeout.as_ref()),
            "timeout",
            DEFAULT_HEALTH_TIMEOUT_MS,
        );
        let grace_ms = dur(g.grace.as_ref(), "grace", 0);
        let kind = match (&g.template, &g.registered) {
            (Some(_), Some(_)) => {
                problem(
                    at,
                    field("template"),
                    "a group is either provisioned (`template`) or registered (`registered`), not both".into(),
                );
                continue;
            }
            (None, None) => {
                problem(
                    at,
                    field("template"),
                    "a group needs `template` (provisioned) or `registered` (existing machines)"
                        .into(),
                );
                continue;
            }
            (Some(t), None) => {
                for (key, set) in [
                    ("ssh", g.ssh.is_some()),
                    ("commands", g.commands.is_some()),
                    ("root", g.root.is_some()),
                ] {
                    if set {
                        problem(
                            key_line(text, at, key),
                            field(key),
                            format!("`{key}` is for registered groups only; remove it"),
                        );
                    }
                }
                let template = match TemplateName::new(t.clone()) {
                    Ok(t) => t,
                    Err(e) => {
                        problem(
                            key_line(text, at, "template"),
                            field("template"),
                            e.to_string(),
                        );
                        continue;
                    }
                };
                let count = g.count.unwrap_or(1);
                let min = g.min.unwrap_or(0);
                let max = g.max.unwrap_or(count.max(min).max(1));
                if min > max {
                    problem(
                        key_line(text, at, "min"),
                        field("min"),
                        format!("min {min} is above max {max}"),
                    );
                } else if count < min || count > max {
                    problem(
                        key_line(text, at, "count"),
                        field("count"),
                        format!("count {count} is outside min {min} .. max {max}"),
                    );
                }
                let mut placement = vsm_core::PlacementRules::default();
                if let Some(p) = &g.placement {
                    placement.policy = p.policy.unwrap_or_default();
                    placement.anti_affinity = p.anti_affinity.unwrap_or_default();
                    if p.max_per_host == Some(0) {
                        problem(
                            key_line(text, at, "max_per_host"),
                            field("placement.max_per_host"),
                            "`max_per_host: 0` allows no server anywhere; give 1 or more, or remove it".into(),
                        );
                    }
                    placement.max_per_host = p.max_per_host;
                    for (k, v) in &p.hosts {
                        if k.is_empty() || k.starts_with("vsm.") {
                            problem(
                                key_line(text, at, "hosts"),
                                field("placement.hosts"),
                                format!(
                                    "label key {k:?} cannot be selected: keys starting with `vsm.` are the manager's (a group's hosts already match its template's driver)"
                                ),
                            );
                        }
                        placement.hosts.insert(k.clone(), v.clone());
                    }
                }
                GroupKind::Provisioned(ProvisionedSpec {
                    placement,
                    template,
                    count,
                    min,
                    max,
                    scale_in: g.scale_in.unwrap_or_default(),
                    grace_ms,
                })
            }
            (None, Some(list)) => {
                for (key, set) in [
                    ("count", g.count.is_some()),
                    ("min", g.min.is_some()),
                    ("max", g.max.is_some()),
                    ("scale_in", g.scale_in.is_some()),
                    ("placement", g.placement.is_some()),
                ] {
                    if set {
                        problem(
                            key_line(text, at, key),
                            field(key),
                            format!(
                                "`{key}` is for provisioned groups only; registered groups grow with `vsm group attach`"
                            ),
                        );
                    }
                }
                let Some(ssh) = g.ssh.clone() else {
                    problem(
                        at,
                        field("ssh"),
                        "a registered group needs `ssh: { user: NAME, identity: KEYFILE }`".into(),
                    );
                    continue;
                };
                // The manager process reads the key, not the CLI that sent the file: a relative
                // path would be taken from wherever the manager was started.
                if let Some(identity) = ssh.identity.as_deref()
                    && !identity.starts_with('/')
                {
                    problem(
                        key_line(text, at, "identity"),
                        format!("groups[{i}].ssh.identity"),
                        format!(
                            "`{identity}` is a relative path; the manager reads the key file, so give its absolute path (e.g. /var/lib/vsm/keys/id_ed25519)"
                        ),
                    );
                }
                let commands = g
                    .commands
                    .clone()
                    .map_or_else(CommandSettings::default, |c| CommandSettings {
                        start: c.start,
                        stop: c.stop,
                        status: c.status,
                    });
                let mut servers = Vec::new();
                let reg_line = key_line(text, at, "registered");
                for (j, s) in list.iter().enumerate() {
                    let line = reg_line.map(|l| l + j + 1);
                    let name = ServerName::new(s.name.clone());
                    let address = ServerAddress::new(s.address.trim());
                    match (name, address) {
                        (Ok(name), Ok(address)) => servers.push(RegisteredServer { name, address }),
                        (Err(e), _) => problem(
                            line,
                            format!("groups[{i}].registered[{j}].name"),
                            e.to_string(),
                        ),
                        (_, Err(e)) => problem(
                            line,
                            format!("groups[{i}].registered[{j}].address"),
                            e.to_string(),
                        ),
                    }
                }
                GroupKind::Registered(RegisteredSpec {
                    servers,
                    ssh: SshSettings {
                        user: ssh.user,
                        identity: ssh.identity,
                        port: ssh.port,
                        strict_host_keys: ssh.strict_host_keys,
                    },
                    commands,
                    root: match g.root.as_deref().map(str::trim) {
                        Some("") => {
                            problem(
                                key_line(text, at, "root"),
                                field("root"),
                                "`root` is empty: give the directory definitions are applied to, or remove it".into(),
                            );
                            None
                        }
                        other => other.map(str::to_owned),
                    },
                })
            }
        };
        groups.push(GroupSpec {
            name,
            start_order: g.start_order.unwrap_or(1),
            start_delay_ms,
            health: HealthPolicy {
                timeout_ms: health_timeout_ms,
                command: g.health.and_then(|h| h.command),
            },
            recover: g.recover.unwrap_or_default(),
            kind,
        });
    }
    if !problems.is_empty() {
        return Err(Error::InvalidData { problems });
    }
    let spec = UnitSpec {
        tolerate_host_failures: dto.tolerate_host_failures.unwrap_or(0),
        groups,
    };
    spec.validate().map_err(|e| {
        use vsm_core::model::SpecError;
        let group = match &e {
            SpecError::DuplicateGroup(g)
            | SpecError::RecreateRegistered(g)
            | SpecError::ZeroHealthTimeout(g) => Some(g.clone()),
            SpecError::Bounds { group, .. }
            | SpecError::DuplicateServer { group, .. }
            | SpecError::DuplicateAddress { group, .. } => Some(group.clone()),
            _ => None,
        };
        let line = match &group {
            Some(g) => group_line(text, g.as_str()),
            None => key_line(text, None, "groups"),
        };
        Error::data(file, line, Some("groups".into()), e.to_string())
    })?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"format: 1
groups:
  - name: db                 # registered group
    start_order: 1
    registered:
      - { name: db1, address: 192.0.2.10 }
    ssh: { user: vsm, identity: /var/lib/vsm/keys/vsm_ed25519 }
    commands: { start: "systemctl start pg", stop: "systemctl stop pg", status: "systemctl is-active pg" }
  - name: web
    template: websrv
    count: 3
    min: 2
    max: 8
    start_order: 2
    start_delay: 0s
    scale_in: newest
    grace: 30s
    recover: restart
"#;

    fn problems(text: &str) -> Vec<String> {
        match parse("unit.yaml", text) {
            Ok(_) => vec![],
            Err(Error::InvalidData { problems }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(other) => vec![format!("unexpected error {other}")],
        }
    }

    #[test]
    fn the_spec_example_parses() {
        let spec = parse("unit.yaml", EXAMPLE).expect("valid");
        assert_eq!(spec.groups.len(), 2);
        let web = &spec.groups[1];
        assert_eq!(web.start_order, 2);
        assert_eq!(web.recover, RecoverPolicy::Restart);
        let p = web.provisioned().expect("provisioned");
        assert_eq!((p.count, p.min, p.max, p.grace_ms), (3, 2, 8, 30_000));
        let r = spec.groups[0].registered().expect("registered");
        assert_eq!(r.servers[0].address.as_str(), "192.0.2.10");
        assert_eq!(r.ssh.user, "vsm");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let text = "format: 1\ngroups:\n  - name: web\n    template: t\n    colour: red\n";
        let p = problems(text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("unit.yaml:5"), "{p:?}");
        assert!(p[0].contains("colour"), "{p:?}");
    }

    #[test]
    fn semantic_errors_name_line_and_field() {
        let text = "format: 1\ngroups:\n  - name: web\n    template: t\n    count: 9\n    max: 4\n";
        let p = problems(text);
        assert_eq!(
            p,
            vec!["unit.yaml:5: groups[0].count: count 9 is outside min 0 .. max 4".to_owned()]
        );
        let p = problems("format: 2\ngroups:\n  - name: web\n    template: t\n");
        assert!(p[0].starts_with("unit.yaml:1: format:"), "{p:?}");
        let p = problems("format: 1\ngroups:\n  - name: web\n    grace: soon\n    template: t\n");
        assert!(p[0].starts_with("unit.yaml:4: groups[0].grace"), "{p:?}");
    }

    #[test]
    fn strict_host_keys_is_off_unless_asked_for() {
        let ssh = |text: &str| {
            parse("unit.yaml", text).expect("valid").groups[0]
                .registered()
                .expect("registered")
                .ssh
                .clone()
        };
        assert!(!ssh(EXAMPLE).strict_host_keys);
        let strict = EXAMPLE.replace(
            "identity: /var/lib/vsm/keys/vsm_ed25519 }",
            "identity: /var/lib/vsm/keys/vsm_ed25519, strict_host_keys: true }",
        );
        assert!(ssh(&strict).strict_host_keys);
        let p = problems(&EXAMPLE.replace(
            "identity: /var/lib/vsm/keys/vsm_ed25519 }",
            "identity: /var/lib/vsm/keys/vsm_ed25519, strict_host_keys: maybe }",
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("unit.yaml:7:"), "{p:?}");
    }

    #[test]
    fn a_relative_ssh_identity_is_refused_with_its_line() {
        let spec = parse("unit.yaml", EXAMPLE).expect("valid");
        assert_eq!(
            spec.groups[0]
                .registered()
                .expect("registered")
                .ssh
                .identity
                .as_deref(),
            Some("/var/lib/vsm/keys/vsm_ed25519")
        );
        let p = problems(&EXAMPLE.replace(
            "identity: /var/lib/vsm/keys/vsm_ed25519",
            "identity: keys/vsm_ed25519",
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(
                "unit.yaml:7: groups[0].ssh.identity: `keys/vsm_ed25519` is a relative path"
            ),
            "{p:?}"
        );
    }

    #[test]
    fn a_registered_root_is_kept_and_refused_elsewhere() {
        let with_root = EXAMPLE.replace(
            "    commands: { start:",
            "    root: /srv/{machine}\n    commands: { start:",
        );
        let spec = parse("unit.yaml", &with_root).expect("valid");
        let r = spec.groups[0].registered().expect("registered");
        assert_eq!(r.root.as_deref(), Some("/srv/{machine}"));
        assert_eq!(
            parse("unit.yaml", EXAMPLE).expect("valid").groups[0]
                .registered()
                .expect("registered")
                .root,
            None
        );
        let p = problems("format: 1\ngroups:\n  - name: web\n    template: t\n    root: /srv\n");
        assert_eq!(
            p,
            vec![
                "unit.yaml:5: groups[0].root: `root` is for registered groups only; remove it"
                    .to_owned()
            ]
        );
        let p = problems(&EXAMPLE.replace(
            "    commands: { start:",
            "    root: \" \"\n    commands: { start:",
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("unit.yaml:8: groups[0].root: `root` is empty"),
            "{p:?}"
        );
    }

    #[test]
    fn placement_rules_and_host_failure_tolerance_are_read() {
        let text = "format: 1\ntolerate_host_failures: 1\ngroups:\n  - name: web\n    template: websrv\n    count: 3\n    min: 2\n    placement:\n      policy: pack\n      anti_affinity: hard\n      max_per_host: 1\n      hosts: { zone: a }\n";
        let spec = parse("u.yaml", text).expect("valid");
        assert_eq!(spec.tolerate_host_failures, 1);
        let p = spec.groups[0].provisioned().expect("provisioned");
        assert_eq!(p.placement.policy, vsm_core::Policy::Pack);
        assert_eq!(p.placement.anti_affinity, vsm_core::AntiAffinity::Hard);
        assert_eq!(p.placement.max_per_host, Some(1));
        assert_eq!(p.placement.hosts.get("zone").map(String::as_str), Some("a"));
        // Defaults: spread, soft, no limit, every host.
        let plain = parse(
            "u.yaml",
            "format: 1\ngroups:\n  - name: web\n    template: websrv\n",
        )
        .expect("valid");
        let p = plain.groups[0].provisioned().expect("provisioned");
        assert_eq!(p.placement, vsm_core::PlacementRules::default());
        assert_eq!(plain.tolerate_host_failures, 0);
    }

    #[test]
    fn bad_placement_rules_name_line_and_field() {
        let text = "format: 1\ngroups:\n  - name: web\n    template: websrv\n    placement:\n      max_per_host: 0\n      hosts: { vsm.driver: local }\n";
        let Err(Error::InvalidData { problems }) = parse("u.yaml", text) else {
            panic!("expected invalid data");
        };
        let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("u.yaml:6: groups[0].placement.max_per_host"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("u.yaml:7: groups[0].placement.hosts"),
            "{got:?}"
        );
        let text = "format: 1\ngroups:\n  - name: web\n    template: websrv\n    placement: { policy: random }\n";
        let err = parse("u.yaml", text)
            .expect_err("unknown policy")
            .to_string();
        assert!(err.contains("random"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("0"), Some(0));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("30s"), Some(30_000));
        assert_eq!(parse_duration_ms("2m"), Some(120_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("soon"), None);
    }
}
