//! The exit codes of `vsm` and the one place that maps outcomes and errors to them.
//!
//! The codes are a contract (SPEC.md, exit-code table) judged by JP1/AJS jobs: `0` normal, `1`
//! warning, `2` exclusion, `64` and above abnormal. Never 255. Every other module reports a
//! failure as a [`Failure`] carrying its [`Exit`] class; nothing else calls `process::exit`.

use std::fmt;

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

    /// The class of an API error `kind` (notes/API.md error table). Unknown kinds are failures.
    pub fn from_api_kind(kind: &str) -> Exit {
        match kind {
            "invalid_request" | "not_found" | "conflict" | "out_of_bounds" => Exit::Usage,
            "invalid_data" => Exit::DataErr,
            "busy" => Exit::Busy,
            "unauthenticated" | "forbidden" => Exit::NoPerm,
            "unavailable" => Exit::Unavailable,
            _ => Exit::Failed,
        }
    }

    /// The class of an HTTP status when the body did not say (e.g. a proxy answered).
    pub fn from_http_status(status: u16) -> Exit {
        match status {
            400 | 404 | 405 | 409 | 413 => Exit::Usage,
            422 => Exit::DataErr,
            423 => Exit::Busy,
            401 | 403 => Exit::NoPerm,
            502..=504 => Exit::Unavailable,
            _ => Exit::Failed,
        }
    }

    /// The exit code of a finished (or still running) operation, by its `state`.
    ///
    /// `warnings` says whether the record carries warnings (e.g. a marked server was touched).
    pub fn from_operation_state(state: &str, warnings: bool) -> Exit {
        match state {
            "succeeded" if warnings => Exit::Warning,
            "succeeded" => Exit::Success,
            "partly_succeeded" | "succeeded_with_warnings" | "warning" => Exit::Warning,
            "running" | "pending" | "queued" => Exit::TimedOut,
            _ => Exit::Failed, // failed, cancelled, interrupted, rolled_back, ...
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

/// The exit class of an error: the first [`Failure`] in its chain, else a failure (70).
pub fn classify(err: &anyhow::Error) -> Exit {
    find_failure(err).map_or(Exit::Failed, |f| f.exit)
}

/// The first [`Failure`] in the chain of `err`.
pub fn find_failure(err: &anyhow::Error) -> Option<&Failure> {
    // anyhow finds context values (`.context(Failure)`) through `downcast_ref` on the error
    // itself; a Failure that is the source of another error shows up in the chain.
    err.downcast_ref::<Failure>()
        .or_else(|| err.chain().find_map(|e| e.downcast_ref::<Failure>()))
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
    fn api_kinds_map_per_the_api_contract() {
        assert_eq!(Exit::from_api_kind("invalid_request"), Exit::Usage);
        assert_eq!(Exit::from_api_kind("not_found"), Exit::Usage);
        assert_eq!(Exit::from_api_kind("invalid_data"), Exit::DataErr);
        assert_eq!(Exit::from_api_kind("busy"), Exit::Busy);
        assert_eq!(Exit::from_api_kind("unauthenticated"), Exit::NoPerm);
        assert_eq!(Exit::from_api_kind("forbidden"), Exit::NoPerm);
        assert_eq!(Exit::from_api_kind("failed"), Exit::Failed);
        assert_eq!(Exit::from_api_kind("unavailable"), Exit::Unavailable);
        assert_eq!(Exit::from_api_kind("something_new"), Exit::Failed);
    }

    #[test]
    fn operation_states_map_to_outcomes() {
        assert_eq!(
            Exit::from_operation_state("succeeded", false),
            Exit::Success
        );
        assert_eq!(Exit::from_operation_state("succeeded", true), Exit::Warning);
        assert_eq!(
            Exit::from_operation_state("partly_succeeded", false),
            Exit::Warning
        );
        assert_eq!(Exit::from_operation_state("failed", false), Exit::Failed);
        assert_eq!(Exit::from_operation_state("cancelled", false), Exit::Failed);
        assert_eq!(
            Exit::from_operation_state("interrupted", false),
            Exit::Failed
        );
        assert_eq!(Exit::from_operation_state("running", false), Exit::TimedOut);
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
