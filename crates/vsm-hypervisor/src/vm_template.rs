//! VM template files: which libvirt domain a template clones, and how vsm reaches its guests.
//!
//! A libvirt template is registered either by a domain name (vsm can clone, start and stop it,
//! but can deliver nothing into it) or by the absolute path of a small YAML file beside that
//! name (`docs/libvirt.md`):
//!
//! ```yaml
//! format: 1
//! domain: vsm-guest              # the template domain to clone (defined on the libvirt host)
//! ssh:
//!   user: root
//!   port: 22
//!   identity: /var/lib/vsm/ssh/id_ed25519   # the manager's private key (absolute path)
//! cloud_init: true               # attach a NoCloud seed: instance id, host name, identity.pub
//! root: /srv/vsm                 # where definitions go inside the guest
//! service:                       # optional: start/stop act on this service over ssh
//!   start: vsm-service start vsm-appserver --port 8080 --dir app
//!   stop: vsm-service stop
//!   status: vsm-service status
//! boot_timeout: 300s             # how long a boot may take until ssh answers
//! address: 192.0.2.10            # optional: the last resort of address discovery
//! ```
//!
//! Owns: parsing and validating that file with errors that name the file, line and field.
//! Must not: talk to libvirt (the driver does), or read anything but the file itself.

use std::net::IpAddr;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

/// The default directory inside the guest that definitions go to.
pub const DEFAULT_GUEST_ROOT: &str = "/srv/vsm";
/// The default time a boot may take until the guest's ssh answers.
pub const DEFAULT_BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// A parsed, validated VM template file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmTemplate {
    /// The template domain to clone.
    pub domain: String,
    /// How vsm logs in to the guests.
    pub ssh: Option<VmSsh>,
    /// Whether each new machine gets a cloud-init NoCloud seed.
    pub cloud_init: bool,
    /// The directory inside the guest that definitions are applied to.
    pub root: Utf8PathBuf,
    /// The guest's service, when start and stop act on it rather than on the power.
    pub service: Option<VmService>,
    /// How long a boot may take until ssh answers.
    #[serde(with = "millis")]
    pub boot_timeout: Duration,
    /// An address to use when libvirt, the guest agent and ARP know none.
    pub address: Option<IpAddr>,
}

/// SSH access to the guests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSsh {
    /// The user to log in as.
    pub user: String,
    /// The guest's ssh port.
    pub port: u16,
    /// The manager-side private key file (absolute).
    pub identity: Utf8PathBuf,
}

/// A guest service driven over ssh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmService {
    /// Starts the service and returns.
    pub start: String,
    /// Stops the service.
    pub stop: String,
    /// Exits 0 while the service runs.
    pub status: String,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Why a VM template file was refused.
#[derive(Debug, thiserror::Error)]
pub enum VmTemplateError {
    /// The file could not be read.
    #[error("cannot read VM template file {path}: {source}")]
    Read {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML of the expected shape.
    #[error("{path}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Syntax {
        /// The file.
        path: Utf8PathBuf,
        /// The line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A field has a value that cannot work.
    #[error("{path}: field `{field}`: {message}")]
    Field {
        /// The file.
        path: Utf8PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDto {
    format: u32,
    domain: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    ssh: Option<SshDto>,
    #[serde(default)]
    cloud_init: bool,
    #[serde(default)]
    root: Option<String>,
    #[serde(default)]
    service: Option<ServiceDto>,
    #[serde(default)]
    boot_timeout: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SshDto {
    user: String,
    #[serde(default)]
    port: Option<u16>,
    identity: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceDto {
    start: String,
    stop: String,
    status: String,
}

/// Whether a libvirt template source names a VM template file (an absolute path ending in
/// `.yaml` or `.yml`) rather than a domain.
pub fn is_template_file(source: &str) -> bool {
    source.starts_with('/') && (source.ends_with(".yaml") || source.ends_with(".yml"))
}

/// Parses `d` as `5m`, `30s`, `1500ms` or a number of seconds.
fn duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

impl VmTemplate {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Utf8Path) -> Result<VmTemplate, VmTemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| VmTemplateError::Read {
            path: path.to_owned(),
            source,
        })?;
        VmTemplate::parse(path, &text)
    }

    /// Validates `text`, the contents of `path`.
    pub fn parse(path: &Utf8Path, text: &str) -> Result<VmTemplate, VmTemplateError> {
        let dto: FileDto = serde_yaml::from_str(text).map_err(|e| VmTemplateError::Syntax {
            path: path.to_owned(),
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
        let field = |field: &'static str, message: String| VmTemplateError::Field {
            path: path.to_owned(),
            field,
            message,
        };
        if dto.format != 1 {
            return Err(field(
                "format",
                format!("format {} is not supported: write `format: 1`", dto.format),
            ));
        }
        let _ = dto.description;
        if dto.domain.trim().is_empty() || dto.domain.contains(['/', '\n']) {
            return Err(field(
                "domain",
                "give the name of the libvirt domain to clone".into(),
            ));
        }
        let ssh = match dto.ssh {
            None => None,
            Some(s) => {
                if s.user.is_empty()
                    || !s
                        .user
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                {
                    return Err(field(
                        "ssh.user",
                        format!("{:?} is not a user name", s.user),
                    ));
                }
                if s.port == Some(0) {
                    return Err(field("ssh.port", "give a port from 1 to 65535".into()));
                }
                let identity = Utf8PathBuf::from(&s.identity);
                if !identity.is_absolute() {
                    return Err(field(
                        "ssh.identity",
                        format!(
                            "{identity} is relative: give the absolute path of the manager's private key"
                        ),
                    ));
                }
                Some(VmSsh {
                    user: s.user,
                    port: s.port.unwrap_or(22),
                    identity,
                })
            }
        };
        if dto.cloud_init && ssh.is_none() {
            return Err(field(
                "cloud_init",
                "a cloud-init seed hands the guest the public key of `ssh.identity`: declare `ssh:` too".into(),
            ));
        }
        let root = Utf8PathBuf::from(dto.root.as_deref().unwrap_or(DEFAULT_GUEST_ROOT));
        if !root.is_absolute() || root.as_str() == "/" {
            return Err(field(
                "root",
                format!("{root} must be an absolute directory other than /"),
            ));
        }
        let service = match dto.service {
            None => None,
            Some(s) => {
                for (name, cmd) in [
                    ("service.start", &s.start),
                    ("service.stop", &s.stop),
                    ("service.status", &s.status),
                ] {
                    if cmd.trim().is_empty() {
                        return Err(field(name, "give a shell command".into()));
                    }
                }
                if ssh.is_none() {
                    return Err(field(
                        "service",
                        "the service is driven over ssh: declare `ssh:` too".into(),
                    ));
                }
                Some(VmService {
                    start: s.start,
                    stop: s.stop,
                    status: s.status,
                })
            }
        };
        let boot_timeout = match dto.boot_timeout {
            None => DEFAULT_BOOT_TIMEOUT,
            Some(t) => duration(&t).filter(|d| !d.is_zero()).ok_or_else(|| {
                field(
                    "boot_timeout",
                    format!("{t:?} is not a duration: write e.g. 300s or 5m"),
                )
            })?,
        };
        let address = match dto.address {
            None => None,
            Some(a) => Some(
                a.parse()
                    .map_err(|_| field("address", format!("{a:?} is not an IP address")))?,
            ),
        };
        Ok(VmTemplate {
            domain: dto.domain,
            ssh,
            cloud_init: dto.cloud_init,
            root,
            service,
            boot_timeout,
            address,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<VmTemplate, VmTemplateError> {
        VmTemplate::parse(Utf8Path::new("/t/vm.yaml"), text)
    }

    const FULL: &str = "format: 1
domain: vsm-guest
ssh: { user: root, port: 2222, identity: /keys/id }
cloud_init: true
root: /srv/app
service: { start: go, stop: halt, status: check }
boot_timeout: 2m
address: 10.0.0.9
";

    #[test]
    fn a_full_file_parses() {
        let t = parse(FULL).expect("valid");
        assert_eq!(t.domain, "vsm-guest");
        let ssh = t.ssh.expect("ssh");
        assert_eq!((ssh.user.as_str(), ssh.port), ("root", 2222));
        assert_eq!(ssh.identity, "/keys/id");
        assert!(t.cloud_init);
        assert_eq!(t.root, "/srv/app");
        assert_eq!(t.service.expect("service").status, "check");
        assert_eq!(t.boot_timeout, Duration::from_secs(120));
        assert_eq!(t.address, Some("10.0.0.9".parse().expect("ip")));
    }

    #[test]
    fn defaults_apply() {
        let t = parse("format: 1\ndomain: d\n").expect("valid");
        assert!(t.ssh.is_none() && t.service.is_none() && !t.cloud_init);
        assert_eq!(t.root, DEFAULT_GUEST_ROOT);
        assert_eq!(t.boot_timeout, DEFAULT_BOOT_TIMEOUT);
    }

    #[test]
    fn errors_name_the_file_and_the_field_or_line() {
        let cases = [
            ("format: 2\ndomain: d\n", "field `format`"),
            (
                "format: 1\ndomain: d\nssh: { user: root, identity: key }\n",
                "field `ssh.identity`",
            ),
            (
                "format: 1\ndomain: d\ncloud_init: true\n",
                "field `cloud_init`",
            ),
            (
                "format: 1\ndomain: d\nservice: { start: a, stop: b, status: c }\n",
                "field `service`",
            ),
            ("format: 1\ndomain: d\nroot: rel\n", "field `root`"),
            (
                "format: 1\ndomain: d\nboot_timeout: soon\n",
                "field `boot_timeout`",
            ),
            (
                "format: 1\ndomain: d\naddress: nowhere\n",
                "field `address`",
            ),
            ("format: 1\ndomain: d\nsssh: {}\n", "line 3"),
        ];
        for (text, want) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.starts_with("/t/vm.yaml"), "{e}");
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn template_files_are_absolute_yaml_paths() {
        assert!(is_template_file("/etc/vsm/guest.yaml"));
        assert!(is_template_file("/etc/vsm/guest.yml"));
        assert!(!is_template_file("guest.yaml"));
        assert!(!is_template_file("vsm-guest"));
    }
}
