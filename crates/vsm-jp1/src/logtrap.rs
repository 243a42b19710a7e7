//! The log-file-trap alternative to `jevsend`: a dedicated, append-only trap log with a fixed
//! name, one `\n`-terminated line per event, and the matching JP1/Base action definition file.
//!
//! A line reads `<occurred-at> <SEVERITY-TOKEN> VSM-<EVENT-ID> <message>`, for example
//! `2024-05-01T10:00:00.000Z ERROR VSM-7FFF8010 vsm: server web-1 (unit shop, group web) failed: …`.
//! The action definition file ([`logtrap_config`]) has one `ACTDEF` per row of the event ID
//! table, anchored at the start of the line, so a trapped line becomes the same event ID and
//! severity that `jevsend` would send (the extended attributes other than the severity are lost:
//! JP1/Base sets its own). vsm never rotates or truncates the trap log. Grammar details that
//! could not be verified are in [`crate::unverified`].

use camino::{Utf8Path, Utf8PathBuf};
use tokio::io::AsyncWriteExt;

use crate::event::{Jp1Event, Severity};
use crate::jevsend::SendError;
use crate::mapping::{ATTR_OCCURRED_AT, EVENT_TABLE};
use crate::unverified;

/// The fixed file name of the trap log (inside the directory the manager is configured with).
pub const TRAP_LOG_FILE_NAME: &str = "vsm-jp1-trap.log";
/// What every trap line's event token starts with (`VSM-<ID>`).
pub const TRAP_TOKEN_PREFIX: &str = "VSM-";

impl Severity {
    /// Parses an attribute value such as `Error` (exact spelling).
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Emergency,
            Severity::Alert,
            Severity::Critical,
            Severity::Error,
            Severity::Warning,
            Severity::Notice,
            Severity::Information,
            Severity::Debug,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The trap-log line for `event` (without the final `\n`), at most
/// [`unverified::LOGTRAP_MAX_LINE_BYTES`] bytes, cut at a character boundary.
pub fn trap_line(event: &Jp1Event) -> String {
    let at = event.attr(ATTR_OCCURRED_AT).unwrap_or("-");
    let severity = event
        .attr("SEVERITY")
        .and_then(Severity::parse)
        .unwrap_or(Severity::Information);
    let line = format!(
        "{at} {} {TRAP_TOKEN_PREFIX}{} {}",
        severity.trap_token(),
        event.id(),
        event.message()
    );
    crate::event::fit_message(&line, unverified::LOGTRAP_MAX_LINE_BYTES)
}

/// The JP1/Base action definition file (for `jevlogstart -f`) that turns trap-log lines into
/// the JP1 events of the event ID table.
pub fn logtrap_config() -> String {
    let mut out = String::new();
    out.push_str(&format!("FILETYPE={}\n", unverified::LOGTRAP_FILETYPE));
    out.push_str(&format!("RECTYPE={}\n", unverified::LOGTRAP_RECTYPE));
    out.push_str("HEADLINE=0\n");
    out.push_str(&format!("MARKSTR=\" {TRAP_TOKEN_PREFIX}\"\n"));
    for spec in EVENT_TABLE {
        let id = unverified::actdef_event_id(spec.id);
        out.push_str(&format!(
            "ACTDEF=<{}>{id} \"^[^ ]* {} {TRAP_TOKEN_PREFIX}{:X} \"\n",
            spec.severity.as_str(),
            spec.severity.trap_token(),
            spec.id,
        ));
    }
    out
}

/// The `jevlogstart` command line that starts the trap on `trap_log` with the action definition
/// file at `action_file` (for documentation and `vsm jp1 logtrap-config` hints).
pub fn jevlogstart_command(action_file: &Utf8Path, trap_log: &Utf8Path) -> String {
    format!("/opt/jp1base/bin/jevlogstart -f {action_file} -a VSM {trap_log}")
}

/// The append-only trap log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapLog {
    path: Utf8PathBuf,
}

impl TrapLog {
    /// The trap log with the fixed name [`TRAP_LOG_FILE_NAME`] in `dir`.
    pub fn in_dir(dir: &Utf8Path) -> Self {
        TrapLog {
            path: dir.join(TRAP_LOG_FILE_NAME),
        }
    }

    /// A trap log at `path` (for a manager configured with its own file name; the documented
    /// default is [`TRAP_LOG_FILE_NAME`] in the state directory).
    pub fn at(path: &Utf8Path) -> Self {
        TrapLog {
            path: path.to_owned(),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// Appends the line for `event` in one write and flushes it to disk.
    pub async fn append(&self, event: &Jp1Event) -> Result<(), SendError> {
        let mut line = trap_line(event);
        line.push('\n');
        let err = |source| SendError::TrapLog {
            path: self.path.clone(),
            source,
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(err)?;
        file.write_all(line.as_bytes()).await.map_err(err)?;
        file.sync_data().await.map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;

    #[test]
    fn config_has_one_actdef_per_event() {
        let text = logtrap_config();
        assert_eq!(
            text.lines().filter(|l| l.starts_with("ACTDEF=")).count(),
            EVENT_TABLE.len()
        );
        assert!(
            text.contains("ACTDEF=<Error>7FFF8010 \"^[^ ]* ERROR VSM-7FFF8010 \""),
            "{text}"
        );
        insta::assert_snapshot!(text);
    }

    #[test]
    fn lines_start_with_time_severity_and_id() {
        let e = Jp1Event::new(
            EventId::new(0x7FFF_8010).expect("user range"),
            &format!("boom\n{}", "x".repeat(2000)),
            vec![
                ("SEVERITY".into(), "Error".into()),
                (ATTR_OCCURRED_AT.into(), "2024-05-01T10:00:00.000Z".into()),
            ],
        )
        .expect("valid");
        let line = trap_line(&e);
        assert!(
            line.starts_with("2024-05-01T10:00:00.000Z ERROR VSM-7FFF8010 boom xxx"),
            "{line}"
        );
        assert!(line.len() <= unverified::LOGTRAP_MAX_LINE_BYTES);
        assert!(!line.contains('\n'));
    }
}
