//! The manager's error type and its classification into the kinds the CLI maps to exit codes.
//!
//! Every public method of [`crate::Manager`] returns [`Error`]; [`Error::kind`] classifies it
//! ([`ErrorKind::exit_code`] gives the documented `vsm` exit code, [`ErrorKind::http_status`] the
//! HTTP status). This module must not know about HTTP frameworks or the command line.

use std::fmt;

use serde::{Deserialize, Serialize};
use vsm_core::{OperationId, UnitName};

/// The class of an [`Error`], which decides the CLI exit code and the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad usage: unknown group/server, name taken, count outside min/max, wrong state (exit 64).
    InvalidRequest,
    /// The named unit, account, template, operation, … does not exist (exit 64).
    NotFound,
    /// Invalid data in a file the user gave, with file and line (exit 65).
    InvalidData,
    /// The unit is busy with another operation (exit 2, "exclusion").
    Busy,
    /// No valid credentials or session (exit 77).
    Unauthenticated,
    /// The account may not do this (exit 77).
    Forbidden,
    /// The operation failed inside the manager (exit 70).
    Failed,
    /// The manager is shutting down (exit 69).
    Unavailable,
}

impl ErrorKind {
    /// The `vsm` exit code of this kind (SPEC.md, "The command line").
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::NotFound => 64,
            ErrorKind::InvalidData => 65,
            ErrorKind::Busy => 2,
            ErrorKind::Unauthenticated | ErrorKind::Forbidden => 77,
            ErrorKind::Failed => 70,
            ErrorKind::Unavailable => 69,
        }
    }

    /// The HTTP status code the service answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::InvalidData => 422,
            ErrorKind::Busy => 423,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::Failed => 500,
            ErrorKind::Unavailable => 503,
        }
    }

    /// The snake_case word of this kind (`invalid_request`, `busy`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidData => "invalid_data",
            ErrorKind::Busy => "busy",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Failed => "failed",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a file the user gave: where and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataProblem {
    /// The file, as the user named it.
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The field (dotted path such as `groups[1].count`), when known.
    pub field: Option<String>,
    /// What is wrong and what to do, one sentence.
    pub message: String,
}

impl fmt::Display for DataProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What kind of thing was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Entity {
    /// An account.
    Account,
    /// A template.
    Template,
    /// A management unit.
    Unit,
    /// A group of a unit.
    Group,
    /// A server of a unit.
    Server,
    /// An operation.
    Operation,
    /// A definition version of a unit.
    DefinitionVersion,
    /// A hypervisor driver.
    Driver,
    /// A host of the pool.
    Host,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Account => "account",
            Entity::Template => "template",
            Entity::Host => "host",
            Entity::Unit => "unit",
            Entity::Group => "group",
            Entity::Server => "server",
            Entity::Operation => "operation",
            Entity::DefinitionVersion => "definition version",
            Entity::Driver => "driver",
        })
    }
}

/// Any failure of a manager request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad usage or a request that does not fit the current state.
    #[error("{message}")]
    InvalidRequest {
        /// One sentence.
        message: String,
        /// What to do instead, when there is something.
        hint: Option<String>,
    },
    /// The named object does not exist (or the caller may not see it).
    #[error("{entity} {name} not found")]
    NotFound {
        /// What kind of object.
        entity: Entity,
        /// Its name or id.
        name: String,
    },
    /// A file the user gave is invalid.
    #[error("invalid data: {}", problems.first().map(ToString::to_string).unwrap_or_default())]
    InvalidData {
        /// Every problem found (at least one).
        problems: Vec<DataProblem>,
    },
    /// The unit is locked by another operation.
    #[error("unit {unit} busy: operation {operation} is running")]
    Busy {
        /// The unit.
        unit: UnitName,
        /// The operation holding it.
        operation: OperationId,
    },
    /// Wrong account/password, unknown or expired session.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The policy refused the action.
    #[error(transparent)]
    Denied(#[from] vsm_core::Denied),
    /// Something failed inside the manager or below it.
    #[error("{message}")]
    Failed {
        /// One sentence.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The state store failed.
    #[error("state store failed")]
    Store(#[from] crate::store::StoreError),
    /// The manager is shutting down and accepts no new work.
    #[error("the manager is shutting down")]
    ShuttingDown,
    /// This manager is a standby (several managers share one PostgreSQL database): it
    /// answers reads, and changes go to the active one.
    #[error("{}", match active {
        Some(url) => format!("this manager is a standby; the active manager is at {url}"),
        None => "this manager is a standby and no active manager is known yet (a takeover may be under way)".to_owned(),
    })]
    NotLeader {
        /// The active manager's URL, when known.
        active: Option<String>,
    },
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidRequest { .. } => ErrorKind::InvalidRequest,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::InvalidData { .. } => ErrorKind::InvalidData,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Error::Denied(_) => ErrorKind::Forbidden,
            Error::Failed { .. } | Error::Store(_) => ErrorKind::Failed,
            Error::ShuttingDown | Error::NotLeader { .. } => ErrorKind::Unavailable,
        }
    }

    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidRequest { hint, .. } => hint.clone(),
            Error::NotFound { entity, .. } => Some(match entity {
                Entity::Unit => "list units with `vsm unit list`".to_owned(),
                Entity::Account => "list accounts with `vsm account list`".to_owned(),
                Entity::Template => "list templates with `vsm template list`".to_owned(),
                Entity::Operation => "list operations with `vsm op list`".to_owned(),
                Entity::Group | Entity::Server => {
                    "see the unit with `vsm unit show UNIT`".to_owned()
                }
                Entity::DefinitionVersion => {
                    "see the unit's versions with `vsm unit show UNIT`".to_owned()
                }
                Entity::Driver => "start the manager with that driver configured".to_owned(),
                Entity::Host => "list hosts with `vsm host list`".to_owned(),
            }),
            Error::InvalidData { .. } => Some("fix the file and run the command again".to_owned()),
            Error::Busy { operation, .. } => Some(format!(
                "wait for it (`vsm op show {operation}`), cancel it (`vsm op cancel {operation}`), or pass --wait SECONDS"
            )),
            Error::Unauthenticated(_) => Some("log in with `vsm login --user NAME`".to_owned()),
            Error::NotLeader { active: Some(url) } => Some(format!(
                "send it to {url} (`--url {url}`), or give every manager: VSM_URL=URL1,URL2"
            )),
            Error::NotLeader { active: None } => Some(
                "try again in a few seconds, or give every manager: VSM_URL=URL1,URL2".to_owned(),
            ),
            Error::Denied(_) | Error::Failed { .. } | Error::Store(_) | Error::ShuttingDown => None,
        }
    }

    /// Further lines for the user: every data problem, the cause chain of a failure.
    pub fn details(&self) -> Vec<String> {
        match self {
            Error::InvalidData { problems } => problems.iter().map(ToString::to_string).collect(),
            other => {
                let mut out = Vec::new();
                let mut cause = std::error::Error::source(other);
                while let Some(c) = cause {
                    out.push(c.to_string());
                    cause = c.source();
                }
                out
            }
        }
    }

    /// The active manager's URL, when this manager is a standby that knows it.
    pub fn active_url(&self) -> Option<&str> {
        match self {
            Error::NotLeader { active } => active.as_deref(),
            _ => None,
        }
    }

    /// The operation this error is about (the busy one), if any.
    pub fn operation(&self) -> Option<OperationId> {
        match self {
            Error::Busy { operation, .. } => Some(*operation),
            _ => None,
        }
    }

    /// An [`Error::InvalidRequest`] without a hint.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            hint: None,
        }
    }

    /// An [`Error::InvalidRequest`] for a word that is not one of the accepted ones.
    pub fn unknown_word(w: crate::host::UnknownWord) -> Self {
        Error::invalid_with_hint(w.message, w.hint)
    }

    /// An [`Error::InvalidRequest`] with a hint.
    /// An [`Error::InvalidRequest`] with a hint.
    pub fn invalid_with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// An [`Error::NotFound`].
    pub fn not_found(entity: Entity, name: impl fmt::Display) -> Self {
        Error::NotFound {
            entity,
            name: name.to_string(),
        }
    }

    /// An [`Error::Failed`] with a cause.
    pub fn failed(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Failed {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// An [`Error::Failed`] without a cause.
    pub fn failed_msg(message: impl Into<String>) -> Self {
        Error::Failed {
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::InvalidData`] with one problem.
    pub fn data(
        file: impl Into<String>,
        line: Option<usize>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::InvalidData {
            problems: vec![DataProblem {
                file: file.into(),
                line,
                field,
                message: message.into(),
            }],
        }
    }
}

/// The manager's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why [`crate::Manager::open`], [`crate::Manager::init`] or [`crate::Manager::restore`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The state directory is missing or not initialized.
    #[error(
        "{dir} is not an initialized manager state directory; run `vsm manager init --dir {dir}` first"
    )]
    NotInitialized {
        /// The directory.
        dir: String,
    },
    /// Another manager process holds the state directory.
    #[error("another manager is running on {dir}; stop it first (`vsm manager stop --dir {dir}`)")]
    Locked {
        /// The directory.
        dir: String,
    },
    /// `init` or `restore` was pointed at a directory that is not empty.
    #[error("{dir} is not empty; choose an empty or new directory")]
    NotEmpty {
        /// The directory.
        dir: String,
    },
    /// The configuration file is invalid.
    #[error("invalid configuration in {}", problem.file)]
    Config {
        /// Where and what.
        problem: DataProblem,
    },
    /// A file or directory could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state store could not be opened or migrated.
    #[error("cannot open the state store")]
    Store(#[from] crate::store::StoreError),
    /// The backup archive is invalid.
    #[error("invalid backup archive {path}: {message}")]
    Archive {
        /// The archive.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The PostgreSQL password file is missing, empty or not owner-only.
    #[error("the store password file {file} {message}")]
    StorePassword {
        /// The file.
        file: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// `init`, `migrate-store` or `restore` was pointed at a database that holds a vsm state.
    #[error(
        "the {store} already holds a vsm state; nothing was changed. To run a manager on it, \
         start one with a config.yaml that names it (`vsm manager start --dir DIR`); otherwise \
         give an empty database"
    )]
    StoreInUse {
        /// The database, described (never its password).
        store: String,
    },
    /// Copying a state into another store failed; the destination holds nothing of it.
    #[error("copying the state into the {store} failed; {what}")]
    Copy {
        /// The destination, described.
        store: String,
        /// What happened locally and what to do.
        what: String,
        /// The cause.
        #[source]
        source: crate::store::copy::CopyError,
    },
    /// The election of the managers on one PostgreSQL database cannot run (e.g. behind a
    /// transaction-mode pooler).
    #[error("the active/standby election on the state store cannot run")]
    Election(#[from] crate::store::election::ElectionError),
    /// Invalid input (e.g. the administrator's name or password).
    #[error(transparent)]
    Invalid(Box<Error>),
}

impl OpenError {
    /// The class of this error (for the CLI's exit code).
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpenError::NotInitialized { .. }
            | OpenError::NotEmpty { .. }
            | OpenError::StoreInUse { .. } => ErrorKind::InvalidRequest,
            OpenError::Locked { .. } => ErrorKind::Busy,
            OpenError::Config { .. }
            | OpenError::Archive { .. }
            | OpenError::StorePassword { .. } => ErrorKind::InvalidData,
            OpenError::Io { .. }
            | OpenError::Store(_)
            | OpenError::Copy { .. }
            | OpenError::Election(_) => ErrorKind::Failed,
            OpenError::Invalid(e) => e.kind(),
        }
    }

    pub(crate) fn io(path: impl fmt::Display, source: std::io::Error) -> Self {
        OpenError::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// An error with its sources in one line (`a: b: c`); a source that the text already holds is
/// not repeated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    msg
}

impl From<crate::host::UnknownWord> for Error {
    fn from(w: crate::host::UnknownWord) -> Self {
        Error::unknown_word(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec_table() {
        let cases = [
            (ErrorKind::InvalidRequest, 64),
            (ErrorKind::NotFound, 64),
            (ErrorKind::InvalidData, 65),
            (ErrorKind::Busy, 2),
            (ErrorKind::Unauthenticated, 77),
            (ErrorKind::Forbidden, 77),
            (ErrorKind::Failed, 70),
            (ErrorKind::Unavailable, 69),
        ];
        for (kind, code) in cases {
            assert_eq!(kind.exit_code(), code, "{kind}");
        }
    }

    #[test]
    fn busy_message_names_the_operation() {
        let e = Error::Busy {
            unit: UnitName::new("shop").expect("valid"),
            operation: OperationId(7),
        };
        assert_eq!(e.to_string(), "unit shop busy: operation 7 is running");
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert_eq!(e.operation(), Some(OperationId(7)));
    }
}
