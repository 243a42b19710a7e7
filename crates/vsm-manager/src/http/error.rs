//! The error body of the HTTP API and its kinds, statuses and CLI exit codes.
//!
//! Every non-2xx response carries `{"error": ApiError}`. The kinds, their statuses and exit
//! codes are the manager's [`crate::ErrorKind`]; this module builds the body from a
//! [`crate::Error`] and does not decide *which* kind an error is (the manager does).

use serde::{Deserialize, Serialize};
use vsm_core::OperationId;

pub use crate::error::ErrorKind;

/// Every kind, in the order of the API contract's table.
pub const ALL_KINDS: &[ErrorKind] = &[
    ErrorKind::InvalidRequest,
    ErrorKind::NotFound,
    ErrorKind::InvalidData,
    ErrorKind::Busy,
    ErrorKind::Unauthenticated,
    ErrorKind::Forbidden,
    ErrorKind::Failed,
    ErrorKind::Unavailable,
];

/// The kind a bare HTTP status stands for, for answers without an error body (e.g. a proxy's).
pub fn kind_from_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        422 => ErrorKind::InvalidData,
        423 => ErrorKind::Busy,
        502..=504 => ErrorKind::Unavailable,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Failed,
    }
}

/// An API error: one sentence, details (e.g. `file:line: problem`), a hint, maybe an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The class of error.
    pub kind: ErrorKind,
    /// One sentence.
    pub message: String,
    /// Details, one per line (for invalid data: `file:line: problem`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// What to do next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The operation concerned (for `busy`: the one holding the unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationId>,
    /// For `unavailable` from a standby manager: the active manager's URL, where the request
    /// should go instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_url: Option<String>,
    /// The HTTP status to send (default: the kind's); not part of the body.
    #[serde(skip)]
    pub status: Option<u16>,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            details: Vec::new(),
            hint: None,
            operation: None,
            active_url: None,
            status: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds details.
    #[must_use]
    pub fn with_details(mut self, details: impl IntoIterator<Item = String>) -> Self {
        self.details.extend(details);
        self
    }

    /// Names the operation concerned.
    #[must_use]
    pub fn with_operation(mut self, operation: OperationId) -> Self {
        self.operation = Some(operation);
        self
    }

    /// Sends it with `status` instead of the kind's default.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The HTTP status to send.
    pub fn http_status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.kind.http_status())
    }

    /// A `400 invalid_request`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::InvalidRequest, message)
    }

    /// A `404 not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::NotFound, message)
    }

    /// A `401 unauthenticated` with the login hint.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Unauthenticated, message)
            .with_hint("log in with `vsm login --user NAME` or set VSM_TOKEN")
    }

    /// A `500 failed`.
    pub fn failed(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Failed, message)
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        ApiError {
            kind: e.kind(),
            message: e.to_string(),
            details: e.details(),
            hint: e.hint(),
            operation: e.operation(),
            active_url: e.active_url().map(str::to_owned),
            status: None,
        }
    }
}

/// The body of every non-2xx response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ApiError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_map_to_the_documented_codes() {
        let table: Vec<(ErrorKind, u16, u8)> = ALL_KINDS
            .iter()
            .map(|k| (*k, k.http_status(), k.exit_code()))
            .collect();
        assert_eq!(
            table,
            vec![
                (ErrorKind::InvalidRequest, 400, 64),
                (ErrorKind::NotFound, 404, 64),
                (ErrorKind::InvalidData, 422, 65),
                (ErrorKind::Busy, 423, 2),
                (ErrorKind::Unauthenticated, 401, 77),
                (ErrorKind::Forbidden, 403, 77),
                (ErrorKind::Failed, 500, 70),
                (ErrorKind::Unavailable, 503, 69),
            ]
        );
        for kind in ALL_KINDS {
            let json = serde_json::to_string(kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind_from_status(kind.http_status()), *kind);
        }
    }

    #[test]
    fn body_omits_empty_fields() {
        let body = ErrorBody {
            error: ApiError::new(ErrorKind::Busy, "unit busy: operation 7 is running")
                .with_operation(OperationId(7))
                .with_status(423),
        };
        let json = serde_json::to_value(&body).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"error": {"kind": "busy", "message": "unit busy: operation 7 is running", "operation": 7}})
        );
    }
}
