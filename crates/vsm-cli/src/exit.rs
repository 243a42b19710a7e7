//! The exit codes of `vsm` and the one place that maps outcomes and errors to them.
//!
//! The codes are a contract (SPEC.md, exit-code table) judged by JP1/AJS jobs: `0` normal, `1`
//! warning, `2` exclusion, `64` and above abnormal. Never 255. Every other module reports a
//! failure as a [`Failure`] carrying its [`Exit`] class, or leaves the typed API client's
//! [`ClientError`] in the `anyhow` chain (classified by the manager library's own
//! `exit_code()`); nothing else calls `process::exit`.

use std::fmt;

use vsm_manager::http::ClientError;

/// An exit code of `vsm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exit {
    /// 0: success.
    Success,
    /// 1: partly succeeded, or done with warnings.
    Warning,
    /// 2: exclusion: the unit is busy with another operation.
    Busy,
    /// 64: invalid request: bad usage, unknown name, name taken, count outside min/max.
    Usage,
    /// 65: invalid data in a file the user gave.
    DataErr,
    /// 69: the manager is unreachable.
    Unavailable,
    /// 70: the operation failed.
    Failed,
    /// 75: timed out waiting; the operation goes on in the manager.
    TimedOut,
    /// 77: not authenticated, or not permitted.
    NoPerm,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Warning => 1,
            Exit::Busy => 2,
            Exit::Usage => 64,
            Exit::DataErr => 65,
            Exit::Unavailable => 69,
            Exit::Failed => 70,
            Exit::TimedOut => 75,
            Exit::NoPerm => 77,
        }
    }

    /// A short name for JSON output (`exit` field of errors).
    pub fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Warning => "warning",
            Exit::Busy => "busy",
            Exit::Usage => "invalid_request",
            Exit::DataErr => "invalid_data",
            Exit::Unavailable => "unavailable",
            Exit::Failed => "failed",
            Exit::TimedOut => "timed_out",
            Exit::NoPerm => "not_permitted",
        }
    }

    /// The class of a numeric exit code, as the manager's library computes them
    /// ([`vsm_manager::ErrorKind::exit_code`], [`vsm_manager::OperationRecord::exit_code`],
    /// [`vsm_manager::http::ClientError::exit_code`]). Codes outside the contract are failures.
    pub fn from_code(code: u8) -> Exit {
        match code {
            0 => Exit::Success,
            1 => Exit::Warning,
            2 => Exit::Busy,
            64 => Exit::Usage,
            65 => Exit::DataErr,
            69 => Exit::Unavailable,
            75 => Exit::TimedOut,
            77 => Exit::NoPerm,
            _ => Exit::Failed,
        }
    }

    /// The class of a clap parse error: help and version are success, the rest is usage (64,
    /// not clap's own 2, which would read as "exclusion").
    pub fn from_clap(kind: clap::error::ErrorKind) -> Exit {
        use clap::error::ErrorKind as K;
        match kind {
            K::DisplayHelp | K::DisplayVersion => Exit::Success,
            _ => Exit::Usage,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// A failure with its exit class, a one-sentence message, details and a hint.
///
/// Put it at the top of an `anyhow` chain (or anywhere in it): `main` finds the first one to
/// pick the exit code, prints the message, the causes below it, the details and the hint.
#[derive(Debug)]
pub struct Failure {
    /// The exit class.
    pub exit: Exit,
    /// One clear sentence, no trailing period.
    pub message: String,
    /// Further lines (e.g. every problem of a file, with file and line).
    pub details: Vec<String>,
    /// What to do next, when there is something.
    pub hint: Option<String>,
    /// The API error kind, when the manager answered with one.
    pub kind: Option<String>,
    /// The operation concerned (busy unit, timed out wait).
    pub operation: Option<u64>,
}

impl Failure {
    /// A failure of class `exit` with `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            details: Vec::new(),
            hint: None,
            kind: None,
            operation: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds detail lines.
    pub fn details(mut self, details: impl IntoIterator<Item = String>) -> Self {
        self.details.extend(details);
        self
    }

    /// Sets the operation concerned.
    pub fn operation(mut self, id: u64) -> Self {
        self.operation = Some(id);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Shorthand: an `anyhow::Error` of class `exit`.
pub fn fail(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure::new(exit, message))
}

/// The exit class of an error: the first [`Failure`] in its chain, else the manager's answer
/// (a [`ClientError`] in the chain), else a failure (70).
pub fn classify(err: &anyhow::Error) -> Exit {
    describe(err).exit
}

/// The first [`Failure`] in the chain of `err`.
pub fn find_failure(err: &anyhow::Error) -> Option<&Failure> {
    // anyhow finds context values (`.context(Failure)`) through `downcast_ref` on the error
    // itself; a Failure that is the source of another error shows up in the chain.
    err.downcast_ref::<Failure>()
        .or_else(|| err.chain().find_map(|e| e.downcast_ref::<Failure>()))
}

/// The first error of the typed API client in the chain of `err`.
pub fn find_client_error(err: &anyhow::Error) -> Option<&ClientError> {
    err.downcast_ref::<ClientError>()
        .or_else(|| err.chain().find_map(|e| e.downcast_ref::<ClientError>()))
}

/// What an error says beyond its message: its exit class and, for printing, the error kind,
/// details, hint and operation — from the first [`Failure`] in the chain, completed by the
/// manager's answer when the manager answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The exit class.
    pub exit: Exit,
    /// The manager's error kind, else the exit class's name.
    pub kind: String,
    /// Detail lines.
    pub details: Vec<String>,
    /// What to do next.
    pub hint: Option<String>,
    /// The operation concerned.
    pub operation: Option<u64>,
    /// The active manager's URL, when a standby refused the request.
    pub active_url: Option<String>,
}

/// Describes `err` (see [`Described`]).
pub fn describe(err: &anyhow::Error) -> Described {
    let failure = find_failure(err);
    let client = find_client_error(err);
    let api = client.and_then(ClientError::api);
    let exit = match (failure, client) {
        (Some(f), _) => f.exit,
        (None, Some(c)) => Exit::from_code(c.exit_code()),
        (None, None) => Exit::Failed,
    };
    let kind = failure
        .and_then(|f| f.kind.clone())
        .or_else(|| api.map(|a| a.kind.as_str().to_owned()))
        .unwrap_or_else(|| exit.name().to_owned());
    let mut details = failure.map(|f| f.details.clone()).unwrap_or_default();
    if let Some(a) = api {
        details.extend(
            a.details
                .iter()
                .filter(|d| !details.contains(d))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    let operation = failure
        .and_then(|f| f.operation)
        .or_else(|| api.and_then(|a| a.operation).map(|o| o.0));
    let hint = failure
        .and_then(|f| f.hint.clone())
        .or_else(|| api.and_then(|a| a.hint.clone()))
        .or_else(|| default_hint(client?, operation));
    Described {
        exit,
        kind,
        details,
        hint,
        operation,
        active_url: api.and_then(|a| a.active_url.clone()),
    }
}

/// The hint for an answer of the manager that came without one.
fn default_hint(e: &ClientError, operation: Option<u64>) -> Option<String> {
    use vsm_manager::http::ErrorKind as K;
    match e {
        ClientError::Unreachable { .. } => Some(
            "check that it runs (`vsm manager status --dir DIR`) and that --url / VSM_URL point at it"
                .to_owned(),
        ),
        _ => match e.kind()? {
            K::Unauthenticated => Some(crate::api::LOGIN_HINT.to_owned()),
            K::Busy => Some(match operation {
                Some(id) => format!(
                    "wait for it with --wait SECONDS, follow it with `vsm op show {id}`, or cancel it with `vsm op cancel {id}`"
                ),
                None => "wait for it with --wait SECONDS".to_owned(),
            }),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_contract() {
        let all = [
            (Exit::Success, 0),
            (Exit::Warning, 1),
            (Exit::Busy, 2),
            (Exit::Usage, 64),
            (Exit::DataErr, 65),
            (Exit::Unavailable, 69),
            (Exit::Failed, 70),
            (Exit::TimedOut, 75),
            (Exit::NoPerm, 77),
        ];
        for (e, c) in all {
            assert_eq!(e.code(), c, "{e:?}");
            assert_ne!(e.code(), 255);
        }
    }

    #[test]
    fn the_library_s_codes_map_back_to_classes() {
        for e in [
            Exit::Success,
            Exit::Warning,
            Exit::Busy,
            Exit::Usage,
            Exit::DataErr,
            Exit::Unavailable,
            Exit::Failed,
            Exit::TimedOut,
            Exit::NoPerm,
        ] {
            assert_eq!(Exit::from_code(e.code()), e);
        }
        assert_eq!(Exit::from_code(255), Exit::Failed);
    }

    #[test]
    fn answers_of_the_manager_are_classified_by_their_kind() {
        use vsm_manager::http::{ApiError, ErrorKind};
        let busy = ClientError::Api {
            status: 423,
            error: ApiError::new(ErrorKind::Busy, "unit shop busy: operation 7 is running")
                .with_operation(vsm_core::OperationId(7)),
        };
        let err = anyhow::Error::new(busy).context("could not stop unit `shop`");
        let d = describe(&err);
        assert_eq!(d.exit, Exit::Busy);
        assert_eq!(d.kind, "busy");
        assert_eq!(d.operation, Some(7));
        assert!(d.hint.unwrap_or_default().contains("vsm op show 7"));

        let invalid = ClientError::Api {
            status: 422,
            error: ApiError::new(ErrorKind::InvalidData, "the unit file is invalid")
                .with_details(["shop.yaml:3: unknown key `cont`".to_owned()])
                .with_hint("fix it"),
        };
        let d = describe(&anyhow::Error::new(invalid));
        assert_eq!(d.exit, Exit::DataErr);
        assert_eq!(d.details, vec!["shop.yaml:3: unknown key `cont`"]);
        assert_eq!(d.hint.as_deref(), Some("fix it"));

        // a Failure above the answer decides the class, the answer adds its details
        let denied = ClientError::Api {
            status: 401,
            error: ApiError::new(ErrorKind::Unauthenticated, "wrong password"),
        };
        let err =
            anyhow::Error::new(denied).context(Failure::new(Exit::NoPerm, "could not log in"));
        let d = describe(&err);
        assert_eq!(d.exit, Exit::NoPerm);
        assert_eq!(d.kind, "unauthenticated");
    }

    #[test]
    fn usage_errors_are_64_not_2() {
        use clap::error::ErrorKind as K;
        assert_eq!(Exit::from_clap(K::UnknownArgument), Exit::Usage);
        assert_eq!(Exit::from_clap(K::MissingRequiredArgument), Exit::Usage);
        assert_eq!(
            Exit::from_clap(K::DisplayHelpOnMissingArgumentOrSubcommand),
            Exit::Usage
        );
        assert_eq!(Exit::from_clap(K::DisplayHelp), Exit::Success);
    }

    #[test]
    fn classify_finds_the_failure_in_the_chain() {
        let err = fail(Exit::Busy, "unit `shop` is busy").context("could not start unit `shop`");
        assert_eq!(classify(&err), Exit::Busy);
        assert_eq!(classify(&anyhow::anyhow!("plain")), Exit::Failed);
        let io = std::io::Error::other("disk on fire");
        let err = anyhow::Error::new(io)
            .context(Failure::new(Exit::DataErr, "cannot read f"))
            .context("while importing");
        assert_eq!(classify(&err), Exit::DataErr);
    }
}
