//! Tar archives of definition directories: packing a directory, and unpacking an untrusted
//! upload safely.
//!
//! Unpacking refuses absolute paths, `..`, duplicate entries, hard links, symbolic links whose
//! target is absolute or contains `..` (so no link can lead outside the directory, whatever other
//! links exist), devices, FIFOs and other special files, and caps the number of entries and the
//! total size. Files are created with `create_new`, so nothing is ever written through an
//! existing link. Packing is deterministic (sorted, mtime 0, uid/gid 0) and streams into any
//! writer ([`pack_to`]); [`measure`] walks a directory the same way reading sizes only, so that a
//! client can refuse what exceeds the manager's [`UploadLimits`] before sending anything
//! ([`check_limits`]). Blocking code: call it from `spawn_blocking`. It does not validate
//! definitions (vsm-deploy does).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use camino::{Utf8Path, Utf8PathBuf};

use super::api::UploadLimits;

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
    /// A directory to upload exceeds a limit the manager announced (nothing was sent).
    #[error("{message}")]
    OverLimit {
        /// The limit's name in the manager's announcement (`max_file_bytes`, …).
        limit: &'static str,
        /// What exceeds it and the limit, in one sentence.
        message: String,
    },
    /// A file's size changed while it was being packed.
    #[error(
        "{path} changed while it was being packed ({how}); try again once it no longer changes"
    )]
    Changed {
        /// The file.
        path: String,
        /// How it changed.
        how: String,
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
        !matches!(self, ArchiveError::Io { .. } | ArchiveError::Changed { .. })
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
    pack_to(dir, Vec::new())
}

/// Packs the directory `dir` into a tar archive written to `out` as it goes (the same bytes as
/// [`pack`]), and returns `out`. Memory stays bounded whatever the files' sizes. A file whose
/// size changes while it is packed fails with [`ArchiveError::Changed`]; an error of `out`
/// fails with [`ArchiveError::Io`] naming the file being packed.
pub fn pack_to<W: Write>(dir: &Utf8Path, out: W) -> Result<W, ArchiveError> {
    let mut walk = Walk {
        builder: tar::Builder::new(out),
        root: dir,
        measure: None,
    };
    walk.builder.mode(tar::HeaderMode::Deterministic);
    walk.dir(Utf8Path::new(""), 0)?;
    walk.builder
        .into_inner()
        .map_err(io_err("finish archive of", dir.as_std_path()))
}

/// What [`measure`] found in a directory: what the manager's limits are about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirMeasure {
    /// Regular files.
    pub files: u64,
    /// Directories (the root not counted).
    pub dirs: u64,
    /// Symbolic links.
    pub links: u64,
    /// Bytes of file content.
    pub content_bytes: u64,
    /// The exact size of the archive [`pack`] makes of the directory, as long as it does not
    /// change.
    pub archive_bytes: u64,
    /// The most deeply nested directory (path relative to the root) and its level (the root's
    /// entries are at level 1), if there is any directory.
    pub deepest: Option<(Utf8PathBuf, u64)>,
    /// The files larger than the threshold given to [`measure`], in archive order.
    pub large_files: Vec<(Utf8PathBuf, u64)>,
}

impl DirMeasure {
    /// Files, directories and links.
    pub fn entries(&self) -> u64 {
        self.files + self.dirs + self.links
    }
}

/// Walks `dir` as [`pack`] would, reading no file content (sizes only, cheap), and says what the
/// archive would hold; files larger than `large_file_bytes` are listed. Refuses what `pack`
/// refuses (special files, escaping links, names that are not UTF-8).
pub fn measure(dir: &Utf8Path, large_file_bytes: u64) -> Result<DirMeasure, ArchiveError> {
    let mut walk = Walk {
        builder: tar::Builder::new(Counter(0)),
        root: dir,
        measure: Some((DirMeasure::default(), large_file_bytes)),
    };
    walk.builder.mode(tar::HeaderMode::Deterministic);
    walk.dir(Utf8Path::new(""), 0)?;
    let (mut m, _) = walk.measure.take().unwrap_or_default();
    let counted = walk
        .builder
        .into_inner()
        .map_err(io_err("measure", dir.as_std_path()))?;
    // The headers (and long-name entries) were really written; the content was not.
    m.archive_bytes += counted.0;
    Ok(m)
}

/// Refuses `dir` when it exceeds any of `limits` (see [`measure`]), naming the file or
/// directory (shown under `dir` as given) and the limit; otherwise returns what it measured.
pub fn check_limits(dir: &Utf8Path, limits: &UploadLimits) -> Result<DirMeasure, ArchiveError> {
    let m = measure(dir, limits.max_file_bytes)?;
    let over = |limit: &'static str, message: String| ArchiveError::OverLimit { limit, message };
    if let Some((first, size)) = m.large_files.first() {
        let mut message = format!(
            "{} is {}; the manager accepts files up to {} (max_file_bytes)",
            dir.join(first),
            human_bytes(*size),
            human_bytes(limits.max_file_bytes)
        );
        let more = &m.large_files[1..];
        if !more.is_empty() {
            let shown: Vec<String> = more
                .iter()
                .take(4)
                .map(|(p, s)| format!("{} ({})", dir.join(p), human_bytes(*s)))
                .collect();
            let rest = more.len() - shown.len();
            message.push_str(&format!(
                "; {} more file{} too large: {}{}",
                more.len(),
                if more.len() == 1 { " is" } else { "s are" },
                shown.join(", "),
                if rest > 0 {
                    format!(" and {rest} more")
                } else {
                    String::new()
                }
            ));
        }
        return Err(over("max_file_bytes", message));
    }
    if let Some((deepest, level)) = &m.deepest
        && *level > limits.max_depth
    {
        return Err(over(
            "max_depth",
            format!(
                "{} is nested {level} directories deep; the manager accepts up to {} levels (max_depth)",
                dir.join(deepest),
                limits.max_depth
            ),
        ));
    }
    if m.entries() > limits.max_entries {
        return Err(over(
            "max_entries",
            format!(
                "{dir} holds {} files, directories and links; the manager accepts up to {} (max_entries)",
                m.entries(),
                limits.max_entries
            ),
        ));
    }
    if m.content_bytes > limits.max_total_bytes {
        return Err(over(
            "max_total_bytes",
            format!(
                "the files of {dir} hold {} in all; the manager accepts up to {} (max_total_bytes)",
                human_bytes(m.content_bytes),
                human_bytes(limits.max_total_bytes)
            ),
        ));
    }
    if m.archive_bytes > limits.max_upload_bytes {
        return Err(over(
            "max_upload_bytes",
            format!(
                "the archive of {dir} would be {}; the manager accepts uploads up to {} (max_upload_bytes, the files and the archive's headers together)",
                human_bytes(m.archive_bytes),
                human_bytes(limits.max_upload_bytes)
            ),
        ));
    }
    Ok(m)
}

/// A byte count for people: `512 bytes`, `1 GiB`, `1.2 GiB (1288490189 bytes)`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        let size = 1u64 << shift;
        if n >= size {
            if n.is_multiple_of(size) {
                return format!("{} {unit}", n >> shift);
            }
            return format!("{:.1} {unit} ({n} bytes)", n as f64 / size as f64);
        }
    }
    format!("{n} bytes")
}

/// A writer that only counts.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The marker error of a file whose size changed while it was packed.
#[derive(Debug)]
struct SizeChanged {
    grew: bool,
}

impl std::fmt::Display for SizeChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.grew { "it grew" } else { "it shrank" })
    }
}

impl std::error::Error for SizeChanged {}

/// A file's content, exactly the `left` bytes its header announced: fewer (it shrank) or more
/// (it grew) is an error, never a corrupt archive.
struct ExactFile {
    file: fs::File,
    left: u64,
}

impl Read for ExactFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // The announced end: the file must end here too.
            let mut one = [0u8; 1];
            return match self.file.read(&mut one)? {
                0 => Ok(0),
                _ => Err(io::Error::other(SizeChanged { grew: true })),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::other(SizeChanged { grew: false }));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// One walk of a directory in archive order: packing (`measure` is `None`) or measuring.
struct Walk<'a, W: Write> {
    builder: tar::Builder<W>,
    root: &'a Utf8Path,
    measure: Option<(DirMeasure, u64)>,
}

impl<W: Write> Walk<'_, W> {
    fn dir(&mut self, rel: &Utf8Path, level: u64) -> Result<(), ArchiveError> {
        let root = self.root;
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
            let meta =
                fs::symlink_metadata(&full).map_err(io_err("inspect", full.as_std_path()))?;
            let ft = meta.file_type();
            let mut header = tar::Header::new_gnu();
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            if ft.is_dir() {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                self.builder
                    .append_data(&mut header, format!("{rel_path}/"), io::empty())
                    .map_err(io_err("pack", full.as_std_path()))?;
                if let Some((m, _)) = &mut self.measure {
                    m.dirs += 1;
                    if m.deepest.as_ref().is_none_or(|(_, l)| *l < level + 1) {
                        m.deepest = Some((rel_path.clone(), level + 1));
                    }
                }
                self.dir(&rel_path, level + 1)?;
            } else if ft.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                let size = meta.len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(mode);
                header.set_size(size);
                if let Some((m, large)) = &mut self.measure {
                    // The header only: the content's blocks are counted, not read.
                    self.builder
                        .append_data(&mut header, rel_path.as_str(), io::empty())
                        .map_err(io_err("measure", full.as_std_path()))?;
                    m.files += 1;
                    m.content_bytes += size;
                    m.archive_bytes += size.div_ceil(512) * 512;
                    if size > *large {
                        m.large_files.push((rel_path.clone(), size));
                    }
                    continue;
                }
                let file = fs::File::open(&full).map_err(io_err("open", full.as_std_path()))?;
                let content = ExactFile { file, left: size };
                self.builder
                    .append_data(&mut header, rel_path.as_str(), content)
                    .map_err(|e| {
                        match e.get_ref().and_then(|i| i.downcast_ref::<SizeChanged>()) {
                            Some(changed) => ArchiveError::Changed {
                                path: full.to_string(),
                                how: changed.to_string(),
                            },
                            None => io_err("pack", full.as_std_path())(e),
                        }
                    })?;
            } else if ft.is_symlink() {
                let target =
                    fs::read_link(&full).map_err(io_err("read link", full.as_std_path()))?;
                check_link_target(rel_path.as_std_path(), &target)?;
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                self.builder
                    .append_link(&mut header, rel_path.as_str(), &target)
                    .map_err(io_err("pack", full.as_std_path()))?;
                if let Some((m, _)) = &mut self.measure {
                    m.links += 1;
                }
            } else {
                return Err(ArchiveError::Unsupported {
                    path: full.to_string(),
                    what: "special file",
                });
            }
        }
        Ok(())
    }
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

    /// A tree with everything that changes an archive's size: long names and link targets (GNU
    /// long-name entries), empty files, files of 511, 512 and 513 bytes, nested directories.
    fn awkward_tree(src: &Utf8Path) {
        let long = "n".repeat(120);
        fs::create_dir_all(src.join(format!("a/b/{long}/c"))).expect("mkdir");
        fs::create_dir_all(src.join("empty-dir")).expect("mkdir");
        fs::write(src.join("empty"), b"").expect("write");
        for n in [1usize, 511, 512, 513, 70_000] {
            fs::write(src.join(format!("a/f{n}")), vec![b'z'; n]).expect("write");
        }
        fs::write(src.join(format!("a/b/{long}/c/deep.txt")), b"deep").expect("write");
        std::os::unix::fs::symlink(format!("b/{long}/c/deep.txt"), src.join("a/long-link"))
            .expect("symlink");
    }

    #[test]
    fn measuring_predicts_the_archive_exactly_without_reading_content() {
        let (_keep, src) = tempdir();
        awkward_tree(&src);
        let archive = pack(&src).expect("pack");
        let m = measure(&src, 600).expect("measure");
        assert_eq!(m.archive_bytes, archive.len() as u64);
        assert_eq!((m.files, m.dirs, m.links), (7, 5, 1), "{m:?}");
        assert_eq!(m.entries(), 13);
        assert_eq!(m.content_bytes, 1 + 511 + 512 + 513 + 70_000 + 4);
        let long = "n".repeat(120);
        assert_eq!(
            m.deepest,
            Some((Utf8PathBuf::from(format!("a/b/{long}/c")), 4))
        );
        assert_eq!(m.large_files, vec![(Utf8PathBuf::from("a/f70000"), 70_000)]);
        // Streaming into any writer gives the same bytes.
        let streamed = pack_to(&src, Vec::new()).expect("pack_to");
        assert_eq!(streamed, archive);
    }

    /// The archive format is a contract with managers and clients of other versions: these are
    /// the bytes of the format before packing streamed (same order, same headers).
    #[test]
    fn the_archive_format_does_not_change() {
        use sha2::Digest;
        let (_keep, src) = tempdir();
        awkward_tree(&src);
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(src.join("a/f1"), fs::Permissions::from_mode(0o750))
                .expect("chmod");
        }
        let archive = pack(&src).expect("pack");
        assert_eq!(archive.len(), 84_992);
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&archive)),
            "b63d95c835f9156d1e42a450ddef84e5b0cd9410354c5e82723ebbad7a313e28"
        );
    }

    #[test]
    fn limits_are_checked_before_packing_naming_file_and_limit() {
        let (_keep, src) = tempdir();
        awkward_tree(&src);
        let roomy = UploadLimits {
            max_upload_bytes: 1 << 20,
            max_file_bytes: 1 << 20,
            max_total_bytes: 1 << 20,
            max_entries: 100,
            max_depth: 32,
        };
        let m = check_limits(&src, &roomy).expect("within the limits");
        assert!(m.large_files.is_empty());
        let refused = |limits: UploadLimits| match check_limits(&src, &limits) {
            Err(ArchiveError::OverLimit { limit, message }) => (limit, message),
            other => panic!("expected a refusal, got {other:?}"),
        };
        let (limit, message) = refused(UploadLimits {
            max_file_bytes: 512,
            ..roomy
        });
        assert_eq!(limit, "max_file_bytes");
        assert_eq!(
            message,
            format!(
                "{src}/a/f513 is 513 bytes; the manager accepts files up to 512 bytes (max_file_bytes); 1 more file is too large: {src}/a/f70000 (68.4 KiB (70000 bytes))"
            )
        );
        let (limit, message) = refused(UploadLimits {
            max_depth: 3,
            ..roomy
        });
        assert_eq!(limit, "max_depth");
        assert!(
            message.contains("is nested 4 directories deep"),
            "{message}"
        );
        let (limit, message) = refused(UploadLimits {
            max_entries: 12,
            ..roomy
        });
        assert_eq!(limit, "max_entries");
        assert!(
            message.contains("holds 13 files, directories and links"),
            "{message}"
        );
        let (limit, _) = refused(UploadLimits {
            max_total_bytes: 70_000,
            ..roomy
        });
        assert_eq!(limit, "max_total_bytes");
        let (limit, message) = refused(UploadLimits {
            max_upload_bytes: 80_000,
            ..roomy
        });
        assert_eq!(limit, "max_upload_bytes");
        assert!(message.contains("would be 83 KiB;"), "{message}");
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(64 << 10), "64 KiB");
        assert_eq!(human_bytes(1_288_490_189), "1.2 GiB (1288490189 bytes)");
    }

    /// A writer that does something to the file system at its first write (the first entry's
    /// header), as another program changing the directory while it is packed would.
    struct Meddler<F: FnMut()> {
        out: Vec<u8>,
        act: Option<F>,
    }

    impl<F: FnMut()> Write for Meddler<F> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(mut act) = self.act.take() {
                act();
            }
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn files_that_change_while_packed_are_named_not_packed_wrong() {
        for grow in [false, true] {
            let (_keep, src) = tempdir();
            let file = src.join("app.war");
            fs::write(&file, vec![b'w'; 100_000]).expect("write");
            let target = file.clone();
            let meddler = Meddler {
                out: Vec::new(),
                act: Some(move || {
                    let f = fs::OpenOptions::new()
                        .write(true)
                        .open(&target)
                        .expect("open");
                    f.set_len(if grow { 200_000 } else { 10 }).expect("resize");
                }),
            };
            match pack_to(&src, meddler) {
                Err(ArchiveError::Changed { path, how }) => {
                    assert_eq!(path, file.as_str());
                    assert_eq!(how, if grow { "it grew" } else { "it shrank" });
                }
                Err(other) => panic!("expected a change, got {other:?}"),
                Ok(_) => panic!("packed a file that changed"),
            }
        }
    }

    #[test]
    fn packing_refuses_escaping_links() {
        let (_keep, src) = tempdir();
        std::os::unix::fs::symlink("../outside", src.join("l")).expect("symlink");
        let err = pack(&src).expect_err("refused");
        assert!(matches!(err, ArchiveError::UnsafeLink { .. }), "{err:?}");
    }
}
