//! Cloning a template directory tree into a server's root (blocking; callers run it in
//! `spawn_blocking`), and fingerprinting a tree.
//!
//! The rule that keeps templates safe: a file is shared with the template (hard link) only when
//! nothing should write it in place. [`CloneMode::Auto`] tries a reflink (copy-on-write, btrfs/xfs)
//! first; otherwise it hard-links files with no write permission bit and copies the rest. The
//! deploy layer replaces files by rename (never rewrites them in place), which breaks a hard link
//! safely. [`CloneMode::HardLink`] shares every file and relies on that alone.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::manifest::MANIFEST_FILE;

/// How the local driver clones template files into a server's root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CloneMode {
    /// Reflink when the file system can; else hard-link read-only files and copy writable ones.
    #[default]
    Auto,
    /// Hard-link every regular file (cheapest; only safe while nothing rewrites files in place).
    HardLink,
    /// Copy every file.
    Copy,
}

/// What a clone did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneStats {
    /// Regular files cloned.
    pub files: u64,
    /// Of which shared by reflink.
    pub reflinked: u64,
    /// Of which shared by hard link.
    pub linked: u64,
    /// Of which copied.
    pub copied: u64,
    /// Bytes of regular files.
    pub bytes: u64,
}

/// Clones the tree at `src` into the new directory `dst` (which must not exist). The top-level
/// `template.yaml` is not copied.
pub fn clone_tree(src: &Path, dst: &Path, mode: CloneMode) -> io::Result<CloneStats> {
    let mut stats = CloneStats::default();
    fs::create_dir(dst)?;
    walk(src, dst, mode, true, &mut stats)?;
    let perm = fs::metadata(src)?.permissions();
    fs::set_permissions(dst, perm)?;
    Ok(stats)
}

fn walk(
    src: &Path,
    dst: &Path,
    mode: CloneMode,
    top: bool,
    stats: &mut CloneStats,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(src)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if top && name == MANIFEST_FILE {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        let meta = fs::symlink_metadata(&from)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&to)?;
            walk(&from, &to, mode, false, stats)?;
            fs::set_permissions(&to, meta.permissions())?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            stats.files += 1;
            stats.bytes += meta.len();
            clone_file(&from, &to, &meta, mode, stats)?;
        }
        // Sockets, fifos and devices are not part of an image: skipped.
    }
    Ok(())
}

fn clone_file(
    from: &Path,
    to: &Path,
    meta: &fs::Metadata,
    mode: CloneMode,
    stats: &mut CloneStats,
) -> io::Result<()> {
    match mode {
        CloneMode::HardLink => match fs::hard_link(from, to) {
            Ok(()) => {
                stats.linked += 1;
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {}
            Err(e) => return Err(e),
        },
        CloneMode::Auto => {
            if reflink(from, to, meta)? {
                stats.reflinked += 1;
                return Ok(());
            }
            if meta.mode() & 0o222 == 0 {
                match fs::hard_link(from, to) {
                    Ok(()) => {
                        stats.linked += 1;
                        return Ok(());
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        CloneMode::Copy => {}
    }
    fs::copy(from, to)?;
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    stats.copied += 1;
    Ok(())
}

/// Tries a copy-on-write clone; `Ok(false)` when the file system cannot (then `to` does not exist).
fn reflink(from: &Path, to: &Path, meta: &fs::Metadata) -> io::Result<bool> {
    let src = fs::File::open(from)?;
    let dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    // SAFETY: both descriptors are open files owned by this function for the call's duration.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if rc == 0 {
        dst.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        return Ok(true);
    }
    drop(dst);
    fs::remove_file(to)?;
    Ok(false)
}

/// A stable 64-bit FNV-1a hash, rendered as 16 hex digits.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash as hex.
    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Counts of a tree (for template details) and a fingerprint over names, sizes, modes and
/// modification times of everything in it (the manifest included).
pub fn fingerprint_tree(root: &Path) -> io::Result<(String, u64, u64)> {
    let mut h = Fnv::default();
    let mut files = 0;
    let mut bytes = 0;
    fingerprint_walk(root, Path::new(""), &mut h, &mut files, &mut bytes)?;
    Ok((h.hex(), files, bytes))
}

fn fingerprint_walk(
    dir: &Path,
    rel: &Path,
    h: &mut Fnv,
    files: &mut u64,
    bytes: &mut u64,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let meta = fs::symlink_metadata(entry.path())?;
        let rel = rel.join(entry.file_name());
        h.write(rel.as_os_str().as_encoded_bytes());
        h.write(&[0]);
        h.write(&meta.mode().to_le_bytes());
        h.write(&meta.len().to_le_bytes());
        h.write(&meta.mtime().to_le_bytes());
        h.write(&meta.mtime_nsec().to_le_bytes());
        if meta.is_dir() {
            fingerprint_walk(&entry.path(), &rel, h, files, bytes)?;
        } else if meta.is_file() {
            *files += 1;
            *bytes += meta.len();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_links_read_only_and_copies_writable_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("t");
        fs::create_dir_all(src.join("bin")).expect("mkdir");
        fs::write(src.join(MANIFEST_FILE), "format: 1\nboot: [x]\n").expect("manifest");
        fs::write(src.join("bin/tool"), "ro").expect("write");
        fs::set_permissions(src.join("bin/tool"), fs::Permissions::from_mode(0o555))
            .expect("chmod");
        fs::write(src.join("conf"), "rw").expect("write");
        std::os::unix::fs::symlink("conf", src.join("link")).expect("symlink");

        let dst = tmp.path().join("m");
        let stats = clone_tree(&src, &dst, CloneMode::Auto).expect("clone");
        assert_eq!(stats.files, 2);
        assert!(!dst.join(MANIFEST_FILE).exists());
        assert_eq!(
            fs::read_link(dst.join("link")).expect("link"),
            Path::new("conf")
        );
        // The writable file is never shared by hard link: writing it in place leaves the template alone.
        fs::write(dst.join("conf"), "changed").expect("write clone");
        assert_eq!(fs::read_to_string(src.join("conf")).expect("read"), "rw");
        let ro = fs::metadata(dst.join("bin/tool")).expect("meta");
        assert_eq!(ro.mode() & 0o777, 0o555);
        assert_eq!(stats.reflinked + stats.linked, 1, "{stats:?}");
        assert_eq!(
            stats.reflinked + stats.copied,
            2 - stats.linked,
            "{stats:?}"
        );
    }

    #[test]
    fn fingerprint_changes_with_content() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::write(tmp.path().join("a"), "1").expect("write");
        let (f1, files, bytes) = fingerprint_tree(tmp.path()).expect("fp");
        assert_eq!((files, bytes), (1, 1));
        assert_eq!(fingerprint_tree(tmp.path()).expect("fp").0, f1);
        fs::write(tmp.path().join("b"), "22").expect("write");
        assert_ne!(fingerprint_tree(tmp.path()).expect("fp").0, f1);
    }
}
