//! Sending a [`Jp1Event`] with JP1/Base's `jevsend` command.
//!
//! The command line is an argument vector ([`JevsendConfig::args`]) passed straight to the
//! program, never through a shell, so no value is ever interpreted. The event was checked against
//! every `jevsend` limit when it was built. This module runs one process per event and waits for
//! it with a time-out; it must not queue or retry (that is [`crate::outbox`]).

use std::process::Stdio;
use std::time::Duration;

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::event::Jp1Event;

/// Where `jevsend` lives on UNIX.
pub const DEFAULT_JEVSEND: &str = "/opt/jp1base/bin/jevsend";

/// How to run `jevsend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JevsendConfig {
    /// The program (default [`DEFAULT_JEVSEND`]).
    pub program: Utf8PathBuf,
    /// `-d`: the destination event server, if not the local one.
    pub dest_server: Option<String>,
    /// `-s`: the source event server, if not the default one.
    pub source_server: Option<String>,
    /// How long one run may take before it is killed and counted as failed (default 30 s).
    #[serde(with = "secs")]
    pub timeout: Duration,
}

impl Default for JevsendConfig {
    fn default() -> Self {
        JevsendConfig {
            program: DEFAULT_JEVSEND.into(),
            dest_server: None,
            source_server: None,
            timeout: Duration::from_secs(30),
        }
    }
}

mod secs {
    //! Serializes a `Duration` as whole seconds.
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Why one `jevsend` run did not register the event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The program could not be started.
    #[error("cannot run {program}; check the jevsend path in the JP1 settings")]
    Spawn {
        /// The program.
        program: Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the program failed.
    #[error("waiting for {program} failed")]
    Wait {
        /// The program.
        program: Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("{program} exited with {status}: {stderr}")]
    Failed {
        /// The program.
        program: Utf8PathBuf,
        /// Its exit status, as text.
        status: String,
        /// The start of what it wrote to stderr.
        stderr: String,
    },
    /// The program did not finish in time and was killed.
    #[error("{program} did not finish within {timeout:?} and was killed")]
    TimedOut {
        /// The program.
        program: Utf8PathBuf,
        /// The time-out.
        timeout: Duration,
    },
    /// Writing a log-file-trap line failed.
    #[error("cannot append to the trap log {path}")]
    TrapLog {
        /// The trap log.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// How much of stderr is kept in a [`SendError::Failed`].
const STDERR_KEEP: usize = 512;

impl JevsendConfig {
    /// The argument vector (without the program) that sends `event`:
    /// `-i ID -m MESSAGE [-e NAME=value]... [-d DEST] [-s SOURCE]`.
    pub fn args(&self, event: &Jp1Event) -> Vec<String> {
        let mut args = vec![
            "-i".to_owned(),
            event.id().to_string(),
            "-m".to_owned(),
            event.message().to_owned(),
        ];
        for (name, value) in event.attrs() {
            args.push("-e".to_owned());
            args.push(format!("{name}={value}"));
        }
        if let Some(d) = &self.dest_server {
            args.push("-d".to_owned());
            args.push(d.clone());
        }
        if let Some(s) = &self.source_server {
            args.push("-s".to_owned());
            args.push(s.clone());
        }
        args
    }

    /// Runs `jevsend` once for `event` and waits for it (at most [`JevsendConfig::timeout`]).
    pub async fn send(&self, event: &Jp1Event) -> Result<(), SendError> {
        let mut child = tokio::process::Command::new(self.program.as_std_path())
            .args(self.args(event))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| SendError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let mut stderr = child.stderr.take();
        let run = async {
            let mut err = Vec::new();
            if let Some(s) = stderr.as_mut() {
                // Read at most a little more than we keep, then drain the rest.
                let _ = s.read_to_end(&mut err).await;
            }
            let status = child.wait().await;
            (status, err)
        };
        let (status, err) = match tokio::time::timeout(self.timeout, run).await {
            Ok(done) => done,
            Err(_) => {
                // `child` was moved into the future, which is dropped here: kill_on_drop kills it.
                return Err(SendError::TimedOut {
                    program: self.program.clone(),
                    timeout: self.timeout,
                });
            }
        };
        let status = status.map_err(|source| SendError::Wait {
            program: self.program.clone(),
            source,
        })?;
        if status.success() {
            Ok(())
        } else {
            let text = String::from_utf8_lossy(&err);
            let text = crate::shorten::truncate_utf8(text.trim(), STDERR_KEEP).to_owned();
            Err(SendError::Failed {
                program: self.program.clone(),
                status: status.to_string(),
                stderr: text,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;

    #[test]
    fn argument_vector() {
        let event = Jp1Event::new(
            EventId::new(0x7FFF_8001).expect("user range"),
            "vsm: it's \"quoted\" $(not run)",
            vec![
                ("SEVERITY".into(), "Information".into()),
                ("OBJECT_NAME".into(), "a b=c".into()),
            ],
        )
        .expect("valid");
        let config = JevsendConfig {
            dest_server: Some("im-mgr".into()),
            ..JevsendConfig::default()
        };
        assert_eq!(
            config.args(&event),
            [
                "-i",
                "7FFF8001",
                "-m",
                "vsm: it's \"quoted\" $(not run)",
                "-e",
                "SEVERITY=Information",
                "-e",
                "OBJECT_NAME=a b=c",
                "-d",
                "im-mgr"
            ]
        );
    }
}
