//! Making writes durable in batches: one `syncfs` of the file system instead of one `fsync`
//! per file and directory (the snapshot store's imports and the local transport's pushes).

use std::io;

use camino::Utf8Path;

/// Syncs the whole file system holding `path` (every file and directory written to it, data
/// and metadata), like `sync -f PATH`.
pub(crate) fn syncfs(path: &Utf8Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: `f` is an open file descriptor for the whole call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
