//! Log settings applied at run time: the size-rotated file writer of [`crate::http::logging`]
//! follows [`crate::api::LogSettings`] (`vsm manager log-config`) without a restart.
//!
//! The binary installs the subscriber (`http::logging::init`); the manager only re-applies
//! settings here. There is one log writer implementation; this module only forwards to it.

use camino::Utf8Path;

use crate::api::LogSettings;

/// Re-applies log settings to the installed writer, if any; a failure is logged, never fatal
/// (the previous settings stay in force).
pub fn apply(state_dir: &Utf8Path, settings: &LogSettings) {
    if let Err(err) = crate::http::logging::reconfigure(state_dir, settings) {
        tracing::warn!(error = %err, "new log settings could not be applied; the previous ones stay in force");
    }
}
