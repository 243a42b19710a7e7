//! Administration: backup and restore archives, the diagnostics bundle.
//!
//! It reads the store and the state directory; it never changes units or servers.

use camino::Utf8Path;

use crate::api::ArchiveInfo;
use crate::error::{Error, OpenError, Result};
use crate::manager::Manager;

pub(crate) async fn backup(_m: &Manager, _out: &Utf8Path) -> Result<ArchiveInfo> {
    Err(Error::failed_msg(
        "backup is not implemented yet in this build",
    ))
}

pub(crate) fn restore(
    dir: &Utf8Path,
    _archive: &Utf8Path,
) -> std::result::Result<ArchiveInfo, OpenError> {
    Err(OpenError::NotInitialized {
        dir: dir.to_string(),
    })
}

pub(crate) async fn diagnostics(_m: &Manager, _out: &Utf8Path) -> Result<ArchiveInfo> {
    Err(Error::failed_msg(
        "diagnostics are not implemented yet in this build",
    ))
}
