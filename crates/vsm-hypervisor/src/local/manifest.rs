//! The local driver's template manifest, `template.yaml`: format, parsing and validation.
//!
//! ```yaml
//! format: 1                      # required; the only format so far
//! description: "demo HTTP app"   # optional
//! boot: [vsm-appserver, --port, "8080"]   # required: the boot command as an argument vector
//! env: { APP_MODE: demo }        # optional: extra environment of the server's processes
//! stop_timeout_seconds: 10       # optional (default 10): grace period when destroy stops a running server
//! size: { vcpus: 1, memory_mib: 256 }   # optional (this default): what a server takes of its host, for placement
//! ```
//!
//! `boot[0]` is a program: a bare name (`vsm-appserver`) is looked up in the driver's extra bin
//! directories, then in `PATH`; a relative path with a slash (`bin/server`) is resolved against the
//! server's root; an absolute path is used as is. Unknown keys are rejected. This module does no IO
//! except what its callers hand it (text in, typed manifest out).

use std::collections::BTreeMap;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

/// The manifest's file name inside a template directory.
pub const MANIFEST_FILE: &str = "template.yaml";

/// The default [`TemplateManifest::size`]: one vCPU and 256 MiB.
pub const DEFAULT_SIZE: crate::types::MachineSize = crate::types::MachineSize {
    vcpus: 1,
    memory_mib: 256,
};

/// The default [`TemplateManifest::stop_timeout`].
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A validated template manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TemplateManifest {
    /// Human description.
    pub description: Option<String>,
    /// The boot command: program and arguments (never empty).
    pub boot: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Grace period used when a running server is destroyed.
    pub stop_timeout: Duration,
    /// What a server takes of its host (a declaration for placement: the local driver does not
    /// enforce it).
    pub size: crate::types::MachineSize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestDto {
    format: u32,
    #[serde(default)]
    description: Option<String>,
    boot: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    stop_timeout_seconds: Option<u64>,
    #[serde(default)]
    size: Option<SizeDto>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeDto {
    vcpus: u32,
    memory_mib: u64,
}

/// A manifest could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The YAML does not parse or does not match the schema.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        /// The manifest file.
        file: Utf8PathBuf,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A field has a value the driver cannot use.
    #[error("{file}: field `{field}`: {message}")]
    Field {
        /// The manifest file.
        file: Utf8PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

impl TemplateManifest {
    /// Parses and validates the text of `file`.
    pub fn parse(text: &str, file: &Utf8Path) -> Result<Self, ManifestError> {
        let dto: ManifestDto = serde_yaml::from_str(text).map_err(|e| ManifestError::Syntax {
            file: file.to_owned(),
            line: e.location().map(|l| l.line()),
            message: e.to_string(),
        })?;
        let field = |field, message: String| ManifestError::Field {
            file: file.to_owned(),
            field,
            message,
        };
        if dto.format != 1 {
            return Err(field(
                "format",
                format!("format {} is not supported: write `format: 1`", dto.format),
            ));
        }
        if dto.boot.is_empty() || dto.boot[0].trim().is_empty() {
            return Err(field(
                "boot",
                "the boot command is empty: give the program and its arguments, e.g. [vsm-appserver, --port, \"8080\"]"
                    .to_owned(),
            ));
        }
        if dto.boot.iter().any(|a| a.contains('\0')) {
            return Err(field("boot", "an argument contains a NUL byte".to_owned()));
        }
        for key in dto.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(field(
                    "env",
                    format!("{key:?} is not a valid variable name (no '=' or NUL, not empty)"),
                ));
            }
            if key.starts_with("VSM_") {
                return Err(field(
                    "env",
                    format!("{key} is set by the driver itself: remove it"),
                ));
            }
        }
        let size = match dto.size {
            None => DEFAULT_SIZE,
            Some(SizeDto { vcpus, memory_mib }) => {
                if vcpus == 0 || memory_mib == 0 {
                    return Err(field(
                        "size",
                        "give at least 1 vCPU and 1 MiB, e.g. { vcpus: 1, memory_mib: 256 }"
                            .to_owned(),
                    ));
                }
                crate::types::MachineSize { vcpus, memory_mib }
            }
        };
        Ok(TemplateManifest {
            size,
            description: dto.description,
            boot: dto.boot,
            env: dto.env,
            stop_timeout: dto
                .stop_timeout_seconds
                .map_or(DEFAULT_STOP_TIMEOUT, Duration::from_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &str) {
        let got = match TemplateManifest::parse(text, Utf8Path::new("/t/template.yaml")) {
            Ok(m) => format!("{m:?}"),
            Err(e) => format!("error: {e}"),
        };
        assert!(
            got.contains(expect),
            "got {got:?}, want it to contain {expect:?}"
        );
    }

    #[test]
    fn valid() {
        check(
            "format: 1\nboot: [vsm-appserver, --port, '8080']\nenv: {A: b}\nstop_timeout_seconds: 3\n",
            "boot: [\"vsm-appserver\", \"--port\", \"8080\"], env: {\"A\": \"b\"}, stop_timeout: 3s",
        );
        check("format: 1\nboot: [x]\n", "stop_timeout: 10s");
        check(
            "format: 1\nboot: [x]\nsize: { vcpus: 2, memory_mib: 1024 }\n",
            "size: MachineSize { vcpus: 2, memory_mib: 1024 }",
        );
        check(
            "format: 1\nboot: [x]\nsize: { vcpus: 0, memory_mib: 1024 }\n",
            "error: /t/template.yaml: field `size`: give at least 1 vCPU",
        );
    }

    #[test]
    fn errors_name_file_line_and_field() {
        check(
            "format: 1\nboot: [x]\nbot: [y]\n",
            "error: /t/template.yaml:3: unknown field `bot`",
        );
        check(
            "format: 2\nboot: [x]\n",
            "error: /t/template.yaml: field `format`: format 2 is not supported",
        );
        check(
            "format: 1\nboot: []\n",
            "field `boot`: the boot command is empty",
        );
        check(
            "format: 1\nboot: [x]\nenv: {VSM_ROOT: /}\n",
            "field `env`: VSM_ROOT is set by the driver itself",
        );
        check("format: 1\n", "missing field `boot`");
    }
}
