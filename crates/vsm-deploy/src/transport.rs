//! The [`Transport`] trait: how a change set reaches one server, and the records both sides
//! share ([`AppliedRecord`] on the server, [`ChangeSet`] in flight).
//!
//! A transport moves bytes and switches them in atomically; it does not decide what to send
//! (that is `apply`). Implementations: `local` (a directory on this machine, such as a local
//! driver's server root) and `ssh` (a directory on a remote machine, through `vsm-hypervisor`'s
//! OpenSSH helpers).
//!
//! # The switch-in guarantee (both implementations)
//! Under the server's target directory `BASE`, vsm owns `BASE/.vsm/`:
//! 1. *Stage*: every file to write is put in `BASE/.vsm/staging/TXN/files/…` (same file
//!    system as the targets) with its final mode. A failure here removes the staging directory;
//!    nothing outside `.vsm` has changed.
//! 2. *Switch*: for each write or removal, in order, an intent line is appended to
//!    `BASE/.vsm/staging/TXN/log`, the old file (if any) is renamed into
//!    `BASE/.vsm/staging/TXN/backup/…`, and the staged file is renamed onto the target.
//! 3. *Commit*: the new `BASE/.vsm/applied.json` (naming `TXN`) is renamed into place; then the
//!    staging directory is deleted.
//!
//! A failure during the switch undoes the logged steps in reverse (backups renamed back, new
//! files removed), so the previous version is fully in place again. A transaction interrupted
//! by a crash is rolled back the same way before the next push (or finished, if its
//! `applied.json` was already committed). Readers on the server may see a mix of old and new
//! files *during* the switch (renames are per file); parent directories created for new targets
//! are left in place on rollback.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};
use vsm_core::{DefinitionDigest, GroupName};

use crate::manifest::FileKind;
use crate::path::RelPath;

/// Format number of [`AppliedRecord`].
pub const APPLIED_FORMAT: u32 = 1;

/// One file as applied on a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedFile {
    /// sha256 of the content on the server (for templates: of the rendered text).
    pub digest: DefinitionDigest,
    /// Permission bits.
    pub mode: u32,
    /// Definition file or application package.
    pub kind: FileKind,
}

/// What a server has, kept on the server in `.vsm/applied.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedRecord {
    /// Record format ([`APPLIED_FORMAT`]).
    pub format: u32,
    /// The definition version.
    pub version: DefinitionDigest,
    /// The group whose part of the version was applied.
    pub group: GroupName,
    /// The digest of the group's non-file settings (parameters, activation, health check).
    pub settings: DefinitionDigest,
    /// The transaction that wrote this record.
    pub txn: String,
    /// Every file vsm put on the server, by target.
    pub files: BTreeMap<RelPath, AppliedFile>,
    /// The activation command has not yet succeeded for this version.
    pub activation_pending: bool,
}

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    /// A file on this machine (a snapshot-store blob).
    File(Utf8PathBuf),
    /// Bytes in memory (a rendered template).
    Inline(Arc<[u8]>),
}

/// One file to write.
#[derive(Debug, Clone)]
pub struct FileWrite {
    /// Path under the server's target directory.
    pub target: RelPath,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// The bytes.
    pub content: Content,
}

/// Everything one push changes on one server, switched in atomically.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    /// A unique name for this transaction (letters, digits and `-`).
    pub txn: String,
    /// Files to write, in target order.
    pub writes: Vec<FileWrite>,
    /// Targets to remove, in target order.
    pub removes: Vec<RelPath>,
    /// The record committed last.
    pub record: AppliedRecord,
}

/// What a command run on a server produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// The last part of standard error.
    pub stderr: String,
}

impl CommandOutput {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A transport failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A local file-system operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: Utf8PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An ssh operation failed.
    #[error("ssh transfer failed")]
    Ssh(#[from] vsm_hypervisor::ssh::SshError),
    /// The switch-in failed and was undone.
    #[error("switching in the new files failed at {step}; the previous files were put back")]
    RolledBack {
        /// The step that failed.
        step: String,
        /// The cause.
        #[source]
        source: Box<TransportError>,
    },
    /// The server's `.vsm/applied.json` does not parse.
    #[error(
        "the server's record {path} is damaged ({reason}); remove it to make the next apply send everything"
    )]
    BadRecord {
        /// Where it is.
        path: String,
        /// The parse error.
        reason: String,
    },
    /// Took longer than allowed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Any other failure (for other transports and tests).
    #[error("{0}")]
    Failed(String),
}

/// How change sets reach one server. `Send + Sync`, used as `Arc<dyn Transport>`.
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// A short description for messages, such as `local:/srv/web-1` or `ssh:vsm@10.0.0.5:22`.
    fn describe(&self) -> String;

    /// Reads the server's [`AppliedRecord`], after finishing or undoing any interrupted
    /// transaction; `None` when nothing was applied yet.
    async fn read_applied(&self) -> Result<Option<AppliedRecord>, TransportError>;

    /// Stages, switches in and commits `change` (see the module docs for the guarantee).
    async fn push(&self, change: &ChangeSet) -> Result<(), TransportError>;

    /// Replaces only the record (for example to clear `activation_pending`).
    async fn write_applied(&self, record: &AppliedRecord) -> Result<(), TransportError>;

    /// Runs `sh -c command` in the server's target directory, killing it after `timeout`.
    async fn run(&self, command: &str, timeout: Duration) -> Result<CommandOutput, TransportError>;
}
