//! JP1/PFM: per-server load figures as user-created data for `jpcuser PI_UPI`.
//!
//! One data line per server. Field mapping (header [`unverified::PFM_PI_UPI_HEADER`]):
//!
//! | field | PI_UPI field | value |
//! |---|---|---|
//! | `tt` | Trans Type (TT) | `VSM` |
//! | `ks` | Trans String Key (TS_KEY, ≤ 20 bytes) | [`pfm_instance_key`]: `unit/group/server`, shortened with a hash suffix when longer |
//! | `ki` | Trans Data Key (TD_KEY, ulong) | FNV-1a 32 of `unit/group/server` |
//! | `l` | User Long 1 (L1) | CPU use in hundredths of a percent (1234 = 12.34 %), −1 unknown |
//! | `l` | User Long 2 (L2) | memory in MiB, −1 unknown |
//! | `ss` ×4 | User String 1–4 | unit, group, server, state (≤ 16 bytes each, shortened like `ks`) |
//!
//! Keys are checked for uniqueness (PFM keeps only the first of duplicated instances). The
//! rendering is pure; [`write_pfm_file`] writes it atomically, and running `jpcuser` is the
//! operator's (or PFM's scheduled user command's) job.

use camino::Utf8Path;
use serde::{Deserialize, Serialize};
use vsm_core::{GroupName, ServerName, UnitName};

use crate::shorten::{fit, fnv1a32};
use crate::unverified;

/// Longest Trans String Key (`ks`), in bytes.
pub const MAX_STRING_KEY_BYTES: usize = 20;
/// The Trans Type vsm writes.
pub const TRANS_TYPE: &str = "VSM";

/// Which PFM agent reads the file (the first line names it exactly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PfmPlatform {
    /// PFM - Agent for Platform (UNIX).
    #[default]
    Unix,
    /// PFM - Agent for Platform (Windows).
    Windows,
}

impl PfmPlatform {
    fn product_line(self) -> &'static str {
        match self {
            PfmPlatform::Unix => "Product Name=PFM-Agent for Platform (UNIX)",
            PfmPlatform::Windows => "Product Name=PFM-Agent for Platform (Windows)",
        }
    }

    fn newline(self) -> &'static str {
        match self {
            PfmPlatform::Unix => "\n",
            PfmPlatform::Windows => "\r\n",
        }
    }
}

/// The figures of one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PfmRow {
    /// Its unit.
    pub unit: UnitName,
    /// Its group.
    pub group: GroupName,
    /// The server.
    pub server: ServerName,
    /// Its observed state, e.g. `working`, `stopped`, `unknown`.
    pub state: String,
    /// CPU use in percent, if known.
    pub cpu_percent: Option<f64>,
    /// Memory in MiB, if known.
    pub memory_mib: Option<u64>,
}

/// Why the export cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PfmError {
    /// Two servers would get the same instance key.
    #[error(
        "servers {first} and {second} would share the PFM instance key {key}; rename one of them"
    )]
    DuplicateKey {
        /// The shared key (string key, or the data key in decimal).
        key: String,
        /// The first server, as `unit/group/server`.
        first: String,
        /// The second server.
        second: String,
    },
}

fn full_name(unit: &UnitName, group: &GroupName, server: &ServerName) -> String {
    format!("{unit}/{group}/{server}")
}

/// The Trans String Key of a server: `unit/group/server` if it fits in 20 bytes, else its first
/// 13 bytes, `~` and 6 hex digits of a hash of the whole name.
pub fn pfm_instance_key(unit: &UnitName, group: &GroupName, server: &ServerName) -> String {
    fit(&full_name(unit, group, server), MAX_STRING_KEY_BYTES)
}

/// A short-string value: blanks replaced by `_` (quoting is unknown), fitted to the field.
fn short_string(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let s = if s.is_empty() { "-".to_owned() } else { s };
    fit(&s, unverified::PFM_SHORT_STRING_MAX)
}

fn long_value(v: Option<i64>) -> i64 {
    v.map_or(-1, |v| v.clamp(-1, i64::from(i32::MAX)))
}

/// Why [`write_pfm_file`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PfmFileError {
    /// The rows cannot be rendered.
    #[error(transparent)]
    Render(#[from] PfmError),
    /// The file cannot be written.
    #[error("cannot write the PFM user data file {path}; check the --out path")]
    Io {
        /// The file.
        path: camino::Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// `vsm jp1 pfm-export --out FILE`: renders `rows` for PFM - Agent for Platform (UNIX) and
/// writes them to `out` atomically (a temporary file beside it, then a rename), so `jpcuser`
/// never reads a half-written file.
pub fn write_pfm_file(out: &Utf8Path, rows: &[PfmRow]) -> Result<(), PfmFileError> {
    use std::io::Write;
    let text = pfm_export(rows)?;
    let io = |source| PfmFileError::Io {
        path: out.to_owned(),
        source,
    };
    let name = out.file_name().unwrap_or("pfm-export");
    let tmp = out.with_file_name(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, out).map_err(io)
}

/// `PI_UPI` user-created data for PFM - Agent for Platform (UNIX), one line per row.
pub fn pfm_export(rows: &[PfmRow]) -> Result<String, PfmError> {
    pfm_export_for(PfmPlatform::Unix, rows)
}

/// `PI_UPI` user-created data for the given platform's agent.
pub fn pfm_export_for(platform: PfmPlatform, rows: &[PfmRow]) -> Result<String, PfmError> {
    let nl = platform.newline();
    let sep = unverified::PFM_FIELD_SEPARATOR;
    let mut out = String::new();
    out.push_str(platform.product_line());
    out.push_str(nl);
    out.push_str("FormVer=0001");
    out.push_str(nl);
    out.push_str(unverified::PFM_PI_UPI_HEADER);
    out.push_str(nl);
    let mut seen_ks: Vec<(String, String)> = Vec::with_capacity(rows.len());
    let mut seen_ki: Vec<(u32, String)> = Vec::with_capacity(rows.len());
    for row in rows {
        let full = full_name(&row.unit, &row.group, &row.server);
        let ks = pfm_instance_key(&row.unit, &row.group, &row.server);
        let ki = fnv1a32(full.as_bytes());
        if let Some((_, first)) = seen_ks.iter().find(|(k, _)| *k == ks) {
            return Err(PfmError::DuplicateKey {
                key: ks,
                first: first.clone(),
                second: full,
            });
        }
        if let Some((_, first)) = seen_ki.iter().find(|(k, _)| *k == ki) {
            return Err(PfmError::DuplicateKey {
                key: ki.to_string(),
                first: first.clone(),
                second: full,
            });
        }
        seen_ks.push((ks.clone(), full.clone()));
        seen_ki.push((ki, full));
        let cpu = row
            .cpu_percent
            .filter(|c| c.is_finite() && *c >= 0.0)
            // Saturating float-to-int conversion; the value is clamped below anyway.
            .map(|c| (c * 100.0).round() as i64);
        let mem = row.memory_mib.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        let fields = [
            TRANS_TYPE.to_owned(),
            ks,
            ki.to_string(),
            long_value(cpu).to_string(),
            long_value(mem).to_string(),
            short_string(row.unit.as_str()),
            short_string(row.group.as_str()),
            short_string(row.server.as_str()),
            short_string(&row.state),
        ];
        out.push_str(&fields.join(sep));
        out.push_str(nl);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(unit: &str, group: &str, server: &str, state: &str) -> PfmRow {
        PfmRow {
            unit: UnitName::new(unit).expect("valid"),
            group: GroupName::new(group).expect("valid"),
            server: ServerName::new(server).expect("valid"),
            state: state.into(),
            cpu_percent: Some(12.345),
            memory_mib: Some(2048),
        }
    }

    #[test]
    fn export_snapshot() {
        let mut rows = vec![
            row("shop", "web", "web-1", "working"),
            row("shop", "web", "web-2", "stopped"),
            row("shop", "db", "db1", "working"),
            row(
                "customer-portal-production",
                "application-servers",
                "app-server-0001",
                "working",
            ),
            row(
                "customer-portal-production",
                "application-servers",
                "app-server-0002",
                "observed state",
            ),
        ];
        rows[1].cpu_percent = None;
        rows[1].memory_mib = None;
        rows[2].cpu_percent = Some(f64::NAN);
        rows[2].memory_mib = Some(u64::MAX);
        let text = pfm_export(&rows).expect("renders");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn keys_respect_the_limits() {
        let rows: Vec<PfmRow> = (0..200)
            .map(|i| {
                row(
                    "a-rather-long-unit-name-for-te",
                    "web",
                    &format!("server-{i}"),
                    "working",
                )
            })
            .collect();
        let text = pfm_export(&rows).expect("renders");
        let mut keys = Vec::new();
        for line in text.lines().skip(3) {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 9, "{line}");
            assert_eq!(f[0], "VSM");
            assert!(f[1].len() <= MAX_STRING_KEY_BYTES, "{line}");
            assert!(f[2].parse::<u32>().is_ok(), "{line}");
            for s in &f[5..] {
                assert!(s.len() <= unverified::PFM_SHORT_STRING_MAX, "{line}");
            }
            keys.push(f[1].to_owned());
        }
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "keys are unique");
    }

    #[test]
    fn duplicates_are_refused() {
        let rows = vec![
            row("shop", "web", "web-1", "working"),
            row("shop", "web", "web-1", "working"),
        ];
        assert_eq!(
            pfm_export(&rows),
            Err(PfmError::DuplicateKey {
                key: "shop/web/web-1".into(),
                first: "shop/web/web-1".into(),
                second: "shop/web/web-1".into(),
            })
        );
    }

    #[test]
    fn the_file_is_written_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = camino::Utf8PathBuf::from_path_buf(dir.path().join("vsm.upi")).expect("utf-8");
        let rows = [row("shop", "web", "w1", "working")];
        write_pfm_file(&out, &rows).expect("writes");
        let text = std::fs::read_to_string(&out).expect("reads");
        assert_eq!(text, pfm_export(&rows).expect("renders"));
        assert_eq!(std::fs::read_dir(dir.path()).expect("lists").count(), 1);
        let bad =
            camino::Utf8PathBuf::from_path_buf(dir.path().join("no/such/dir/x")).expect("utf-8");
        assert!(matches!(
            write_pfm_file(&bad, &rows),
            Err(PfmFileError::Io { .. })
        ));
    }

    #[test]
    fn windows_header_and_line_ends() {
        let text = pfm_export_for(PfmPlatform::Windows, &[row("shop", "web", "w1", "working")])
            .expect("renders");
        assert!(
            text.starts_with("Product Name=PFM-Agent for Platform (Windows)\r\nFormVer=0001\r\n")
        );
        assert!(text.ends_with("working\r\n"));
    }
}
