//! Tar archives of definition directories: packing a directory, and unpacking an untrusted
//! upload safely.
//!
//! Unpacking refuses absolute paths, `..`, duplicate entries, hard links, symbolic links whose
//! target is absolute or contains `..` (so no link can lead outside the directory, whatever other
//! links exist), devices, FIFOs and other special files, and caps the number of entries and the
//! total size. Files are created with `create_new`, so nothing is ever written through an
//! existing link. Packing is deterministic (sorted, mtime 0, uid/gid 0). Blocking code: call it
//! from `spawn_blocking`. It does not validate definitions (vsm-deploy does).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use camino::{Utf8Path, Utf8PathBuf};

/// Limits for [`unpack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// The most bytes of file content, all files together.
    pub max_total_bytes: u64,
    /// The most entries (files, directories, links).
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_total_bytes: 1 << 30,
            max_entries: 100_000,
        }
    }
}

/// Why an archive was refused or could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// An entry's path is absolute or leaves the directory.
    #[error("archive entry {path:?} is not a relative path inside the directory")]
    UnsafePath {
        /// The entry's path as found.
        path: String,
    },
    /// A link's target is absolute or contains `..`.
    #[error(
        "symbolic link {path:?} points to {target:?}: only relative targets without `..` are accepted; replace it with a copy"
    )]
    UnsafeLink {
        /// The link.
        path: String,
        /// Its target.
        target: String,
    },
    /// A hard link, device, FIFO or other non-regular entry.
    #[error("archive entry {path:?} is a {what}, which a definition directory may not contain")]
    Unsupported {
        /// The entry.
        path: String,
        /// What it is.
        what: &'static str,
    },
    /// The same path appears twice.
    #[error("archive entry {path:?} appears twice")]
    Duplicate {
        /// The entry.
        path: String,
    },
    /// Too big or too many entries.
    #[error("the archive exceeds the limit of {limit}")]
    TooLarge {
        /// The limit in words.
        limit: String,
    },
    /// A path is not UTF-8.
    #[error("path {path:?} is not valid UTF-8")]
    NotUtf8 {
        /// The path, lossily.
        path: String,
    },
    /// The tar stream is malformed.
    #[error("malformed tar archive")]
    Malformed(#[source] io::Error),
    /// Reading or writing the file system failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl ArchiveError {
    /// Whether the archive itself is at fault (as opposed to the local file system).
    pub fn is_invalid_archive(&self) -> bool {
        !matches!(self, ArchiveError::Io { .. })
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// What [`unpack`] extracted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symbolic links.
    pub links: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Turns an entry path into a safe relative path (no root, no `..`; `.` dropped).
fn safe_relative(raw: &Path) -> Result<PathBuf, ArchiveError> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(ArchiveError::UnsafePath {
                    path: raw.display().to_string(),
                });
            }
        }
    }
    Ok(out)
}

fn check_link_target(path: &Path, target: &Path) -> Result<(), ArchiveError> {
    let bad = target.as_os_str().is_empty()
        || target
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if bad {
        return Err(ArchiveError::UnsafeLink {
            path: path.display().to_string(),
            target: target.display().to_string(),
        });
    }
    Ok(())
}

/// Unpacks the tar stream `reader` into `dest` (which must exist and be empty), refusing
/// anything unsafe (see the module docs). On error `dest` may hold part of the archive: the
/// caller removes it.
pub fn unpack(
    reader: impl Read,
    dest: &Utf8Path,
    limits: UnpackLimits,
) -> Result<UnpackStats, ArchiveError> {
    use std::os::unix::fs::{OpenOptionsExt, symlink};

    let mut archive = tar::Archive::new(reader);
    let mut stats = UnpackStats::default();
    let mut seen = std::collections::HashSet::new();
    let entries = archive.entries().map_err(ArchiveError::Malformed)?;
    for entry in entries {
        let mut entry = entry.map_err(ArchiveError::Malformed)?;
        let raw = entry.path().map_err(ArchiveError::Malformed)?.into_owned();
        let rel = safe_relative(&raw)?;
        if rel.as_os_str().is_empty() {
            // The directory itself (`./`).
            continue;
        }
        if rel.to_str().is_none() {
            return Err(ArchiveError::NotUtf8 {
                path: raw.display().to_string(),
            });
        }
        if stats.files + stats.dirs + stats.links >= limits.max_entries {
            return Err(ArchiveError::TooLarge {
                limit: format!("{} entries", limits.max_entries),
            });
        }
        if !seen.insert(rel.clone()) {
            return Err(ArchiveError::Duplicate {
                path: rel.display().to_string(),
            });
        }
        let target = dest.as_std_path().join(&rel);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(ArchiveError::Malformed)?;
                if stats.bytes.saturating_add(size) > limits.max_total_bytes {
                    return Err(ArchiveError::TooLarge {
                        limit: format!("{} bytes of content", limits.max_total_bytes),
                    });
                }
                let executable = entry
                    .header()
                    .mode()
                    .map(|m| m & 0o111 != 0)
                    .unwrap_or(false);
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if executable { 0o755 } else { 0o644 })
                    .open(&target)
                    .map_err(io_err("create", &target))?;
                let copied = io::copy(&mut (&mut entry).take(size), &mut file)
                    .map_err(ArchiveError::Malformed)?;
                if copied != size {
                    return Err(ArchiveError::Malformed(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("entry {} is truncated", rel.display()),
                    )));
                }
                file.flush().map_err(io_err("write", &target))?;
                stats.files += 1;
                stats.bytes += size;
            }
            tar::EntryType::Directory => {
                match fs::create_dir(&target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && target.is_dir() => {}
                    Err(e) => return Err(io_err("create directory", &target)(e)),
                }
                stats.dirs += 1;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(ArchiveError::Malformed)?
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                check_link_target(&rel, &link)?;
                symlink(&link, &target).map_err(io_err("create link", &target))?;
                stats.links += 1;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                let what = match other {
                    tar::EntryType::Link => "hard link",
                    tar::EntryType::Char => "character device",
                    tar::EntryType::Block => "block device",
                    tar::EntryType::Fifo => "FIFO",
                    _ => "special entry",
                };
                return Err(ArchiveError::Unsupported {
                    path: rel.display().to_string(),
                    what,
                });
            }
        }
    }
    Ok(stats)
}

/// Packs the directory `dir` (recursively, not following links) into a tar archive.
pub fn pack(dir: &Utf8Path) -> Result<Vec<u8>, ArchiveError> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    pack_into(&mut builder, dir, Utf8Path::new(""))?;
    builder
        .into_inner()
        .map_err(io_err("finish archive of", dir.as_std_path()))
}

fn pack_into(
    builder: &mut tar::Builder<Vec<u8>>,
    root: &Utf8Path,
    rel: &Utf8Path,
) -> Result<(), ArchiveError> {
    let here = root.join(rel);
    let mut names = Vec::new();
    for entry in fs::read_dir(&here).map_err(io_err("read directory", here.as_std_path()))? {
        let entry = entry.map_err(io_err("read directory", here.as_std_path()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(ArchiveError::NotUtf8 {
                path: here.join(name.to_string_lossy().as_ref()).to_string(),
            });
        };
        names.push(name.to_owned());
    }
    names.sort();
    for name in names {
        let rel_path: Utf8PathBuf = rel.join(&name);
        let full = root.join(&rel_path);
        let meta = fs::symlink_metadata(&full).map_err(io_err("inspect", full.as_std_path()))?;
        let ft = meta.file_type();
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        if ft.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder
                .append_data(&mut header, format!("{rel_path}/"), io::empty())
                .map_err(io_err("pack", full.as_std_path()))?;
            pack_into(builder, root, &rel_path)?;
        } else if ft.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(mode);
            header.set_size(meta.len());
            let file = fs::File::open(&full).map_err(io_err("open", full.as_std_path()))?;
            builder
                .append_data(&mut header, rel_path.as_str(), file)
                .map_err(io_err("pack", full.as_std_path()))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(io_err("read link", full.as_std_path()))?;
            check_link_target(rel_path.as_std_path(), &target)?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            builder
                .append_link(&mut header, rel_path.as_str(), &target)
                .map_err(io_err("pack", full.as_std_path()))?;
        } else {
            return Err(ArchiveError::Unsupported {
                path: full.to_string(),
                what: "special file",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8 tempdir");
        (dir, path)
    }

    /// A raw tar with one entry whose name is written verbatim (the `tar` builder refuses `..`).
    fn raw_entry(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_old();
        {
            let bytes = header.as_old_mut();
            bytes.name[..name.len()].copy_from_slice(name.as_bytes());
            bytes.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    fn check_refused(archive: Vec<u8>, expect: &str) {
        let (_keep, dir) = tempdir();
        let err = unpack(&archive[..], &dir, UnpackLimits::default()).expect_err("refused");
        assert!(err.is_invalid_archive(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(expect), "{text:?} should contain {expect:?}");
        // Nothing escaped next to the directory.
        let parent = dir.parent().expect("parent");
        assert!(!parent.join("evil").exists());
    }

    #[test]
    fn hostile_archives_are_refused() {
        check_refused(
            raw_entry("../evil", tar::EntryType::Regular, "", b"x"),
            "not a relative path",
        );
        check_refused(
            raw_entry("/tmp/evil", tar::EntryType::Regular, "", b"x"),
            "not a relative path",
        );
        check_refused(
            raw_entry("a/../../evil", tar::EntryType::Regular, "", b"x"),
            "not a relative path",
        );
        check_refused(
            raw_entry("l", tar::EntryType::Symlink, "../evil", b""),
            "symbolic link",
        );
        check_refused(
            raw_entry("l", tar::EntryType::Symlink, "/etc/passwd", b""),
            "symbolic link",
        );
        check_refused(
            raw_entry("h", tar::EntryType::Link, "/etc/passwd", b""),
            "hard link",
        );
        check_refused(
            raw_entry("dev", tar::EntryType::Char, "", b""),
            "character device",
        );
        check_refused(raw_entry("f", tar::EntryType::Fifo, "", b""), "FIFO");
    }

    #[test]
    fn duplicates_and_writes_through_links_are_refused() {
        let mut archive = raw_entry("l", tar::EntryType::Symlink, "sub", b"");
        archive.truncate(archive.len() - 1024);
        archive.extend(raw_entry("l", tar::EntryType::Regular, "", b"x"));
        check_refused(archive, "appears twice");
    }

    #[test]
    fn size_and_entry_limits_hold() {
        let (_keep, src) = tempdir();
        fs::write(src.join("a"), vec![b'a'; 600]).expect("write");
        fs::write(src.join("b"), vec![b'b'; 600]).expect("write");
        let archive = pack(&src).expect("pack");
        let (_keep2, dir) = tempdir();
        let limits = UnpackLimits {
            max_total_bytes: 1000,
            max_entries: 10,
        };
        let err = unpack(&archive[..], &dir, limits).expect_err("too big");
        assert!(err.to_string().contains("1000 bytes"), "{err}");
        let (_keep3, dir) = tempdir();
        let limits = UnpackLimits {
            max_total_bytes: 10_000,
            max_entries: 1,
        };
        let err = unpack(&archive[..], &dir, limits).expect_err("too many");
        assert!(err.to_string().contains("1 entries"), "{err}");
    }

    #[test]
    fn pack_then_unpack_round_trips() {
        let (_keep, src) = tempdir();
        fs::create_dir_all(src.join("groups/web")).expect("mkdir");
        fs::write(src.join("vsm.yaml"), "format: 1\n").expect("write");
        fs::write(src.join("groups/web/setup.sh"), "#!/bin/sh\n").expect("write");
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(
                src.join("groups/web/setup.sh"),
                fs::Permissions::from_mode(0o755),
            )
            .expect("chmod");
        }
        std::os::unix::fs::symlink("groups/web", src.join("web")).expect("symlink");
        let archive = pack(&src).expect("pack");
        assert_eq!(archive, pack(&src).expect("pack again"), "deterministic");
        let (_keep2, dest) = tempdir();
        let stats = unpack(&archive[..], &dest, UnpackLimits::default()).expect("unpack");
        assert_eq!((stats.files, stats.dirs, stats.links), (2, 2, 1));
        assert_eq!(
            fs::read_to_string(dest.join("web/setup.sh")).expect("read through link"),
            "#!/bin/sh\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dest.join("groups/web/setup.sh"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn packing_refuses_escaping_links() {
        let (_keep, src) = tempdir();
        std::os::unix::fs::symlink("../outside", src.join("l")).expect("symlink");
        let err = pack(&src).expect_err("refused");
        assert!(matches!(err, ArchiveError::UnsafeLink { .. }), "{err:?}");
    }
}
