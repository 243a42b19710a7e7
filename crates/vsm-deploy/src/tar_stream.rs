//! Definition versions as tar streams, in both directions, without a directory in between:
//! [`SnapshotStore::import_tar`] reads an upload straight into the store, and
//! [`SnapshotStore::export_tar`] writes a stored version out from its blobs.
//!
//! **Import.**
//! Each file is read once: hashed as it streams by, and written to the store's `tmp/` only when
//! its blob is not stored yet (small files are hashed in memory first, so re-importing a
//! directory with one changed file writes one file). The archive is checked as [`crate::scan()`]
//! checks a directory (paths, limits, no links or special files, the manifest, every group's
//! rules and templates), with the same messages; problems name the entry's path in the
//! directory. Nothing becomes visible unless everything is valid, and the new blobs and the
//! version are made durable exactly as [`SnapshotStore::import_scan`] does.
//!
//! Modes are those an upload has always had: files `0755` when the entry has any execute bit,
//! else `0644`; directories `0755`.
//!
//! **Export** writes every directory and file of the version in path order (parents first)
//! with the recorded permission bits and deterministic headers (mtime 0, uid/gid 0), reading
//! each blob once and checking its digest as it goes.
//!
//! Blocking code: call it from `spawn_blocking`.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;

use sha2::{Digest, Sha256};
use vsm_core::DefinitionDigest;

use crate::error::{DefinitionError, ProblemKind};
use crate::path::RelPath;
use crate::scan::{self, FileEntry, ScanLimits, VersionRecord};
use crate::store::{ImportError, ImportReport, SnapshotStore, Staged, StoreError};

/// Files up to this size are hashed in memory before anything is written.
const IN_MEMORY: u64 = 1 << 20;

/// What reading the archive found so far.
struct Ingest<'a> {
    store: &'a SnapshotStore,
    limits: &'a ScanLimits,
    files: BTreeMap<RelPath, FileEntry>,
    dirs: BTreeMap<RelPath, u32>,
    /// Paths given by an entry of their own (directories also appear implicitly as parents).
    explicit: HashSet<RelPath>,
    errs: Vec<DefinitionError>,
    entries: usize,
    total: u64,
    stopped: bool,
    staged: Staged,
    /// Digests staged in this import (each blob once).
    staged_digests: HashSet<DefinitionDigest>,
    new_bytes: u64,
}

fn store_io(action: &'static str, path: &camino::Utf8Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

impl Ingest<'_> {
    /// Records `rel`'s parents as directories (mode 0755 unless an entry of their own said
    /// otherwise); false (with a problem) when a parent is a file.
    fn parents(&mut self, rel: &RelPath) -> bool {
        for a in rel.ancestors() {
            if self.files.contains_key(&a) {
                self.errs.push(DefinitionError::new(
                    ProblemKind::Path,
                    rel.as_str(),
                    format!("is inside {a}, which the archive holds as a file: the archive is inconsistent; pack the directory again"),
                ));
                return false;
            }
            self.dirs.entry(a).or_insert(0o755);
        }
        true
    }

    /// Reads one regular file's content (`size` bytes) from `entry`, stages its blob when the
    /// store lacks it, and returns its digest.
    fn file(
        &mut self,
        rel: &RelPath,
        entry: &mut impl Read,
        size: u64,
    ) -> Result<DefinitionDigest, ImportError> {
        let truncated = || {
            ImportError::Unreadable(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the archive ends inside {rel}"),
            ))
        };
        if size <= IN_MEMORY {
            let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry
                .take(size)
                .read_to_end(&mut buf)
                .map_err(ImportError::Unreadable)?;
            if buf.len() as u64 != size {
                return Err(truncated());
            }
            let digest = DefinitionDigest::from_bytes(Sha256::digest(&buf).into());
            if self.wanted(&digest) {
                let tmp = self.store.new_tmp();
                self.staged.0.push((tmp.clone(), digest.clone()));
                let mut f = fs::File::create(&tmp).map_err(store_io("create", &tmp))?;
                f.write_all(&buf).map_err(store_io("write", &tmp))?;
                f.set_permissions(fs::Permissions::from_mode(0o400))
                    .map_err(store_io("set permissions of", &tmp))?;
                self.staged_digests.insert(digest.clone());
                self.new_bytes += size;
            }
            return Ok(digest);
        }
        // Large: stream to a temporary file while hashing; drop it if the blob exists.
        let tmp = self.store.new_tmp();
        let mut f = fs::File::create(&tmp).map_err(store_io("create", &tmp))?;
        let guard = Staged(vec![(tmp.clone(), DefinitionDigest::from_bytes([0; 32]))]);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut left = size;
        while left > 0 {
            let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let n = entry
                .read(&mut buf[..want])
                .map_err(ImportError::Unreadable)?;
            if n == 0 {
                return Err(truncated());
            }
            h.update(&buf[..n]);
            f.write_all(&buf[..n]).map_err(store_io("write", &tmp))?;
            left -= n as u64;
        }
        let digest = DefinitionDigest::from_bytes(h.finalize().into());
        if self.wanted(&digest) {
            f.set_permissions(fs::Permissions::from_mode(0o400))
                .map_err(store_io("set permissions of", &tmp))?;
            // Hand the file from the guard to the import's staged blobs.
            let mut guard = guard;
            guard.0.clear();
            self.staged.0.push((tmp, digest.clone()));
            self.staged_digests.insert(digest.clone());
            self.new_bytes += size;
        }
        Ok(digest)
    }

    /// Whether a blob with this content must be written (not stored, not staged yet). Also
    /// after a problem was found, so that the templates can still be checked: dropping
    /// `staged` removes them.
    fn wanted(&self, digest: &DefinitionDigest) -> bool {
        !self.staged_digests.contains(digest) && !self.store.has_blob(digest)
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), ImportError> {
        let raw = entry.path_bytes().into_owned();
        let Ok(name) = std::str::from_utf8(&raw) else {
            self.errs.push(DefinitionError::new(
                ProblemKind::NonUtf8Name,
                String::from_utf8_lossy(&raw).into_owned(),
                "the name is not valid UTF-8: rename it using UTF-8 characters only",
            ));
            return Ok(());
        };
        let trimmed = name.trim_start_matches("./").trim_end_matches('/');
        if trimmed.is_empty() || trimmed == "." {
            return Ok(()); // the directory itself
        }
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let rel = match RelPath::new(trimmed) {
            Ok(r) => r,
            Err(e) => {
                self.errs.push(DefinitionError::new(
                    ProblemKind::Path,
                    trimmed,
                    format!("is not a path inside the directory ({e}): rename it"),
                ));
                return Ok(());
            }
        };
        if self.stopped {
            return Ok(());
        }
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            self.errs
                .push(scan::too_many(rel.to_string(), self.limits.max_entries));
            self.stopped = true;
            return Ok(());
        }
        if !self.explicit.insert(rel.clone()) {
            self.errs.push(DefinitionError::new(
                ProblemKind::Path,
                rel.as_str(),
                "appears twice in the archive: pack the directory again",
            ));
            return Ok(());
        }
        let is_dir = kind == tar::EntryType::Directory;
        let dir_depth = if is_dir { rel.depth() } else { rel.depth() - 1 };
        if dir_depth > self.limits.max_depth {
            self.errs
                .push(scan::too_deep(rel.to_string(), self.limits.max_depth));
            return Ok(());
        }
        if !self.parents(&rel) {
            return Ok(());
        }
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if self.dirs.contains_key(&rel) {
                    self.errs.push(DefinitionError::new(
                        ProblemKind::Path,
                        rel.as_str(),
                        "is both a directory and a file in the archive: pack the directory again",
                    ));
                    return Ok(());
                }
                let size = entry.header().size().map_err(ImportError::Unreadable)?;
                if size > self.limits.max_file_bytes {
                    self.errs.push(scan::file_too_large(
                        rel.to_string(),
                        size,
                        self.limits.max_file_bytes,
                    ));
                    return Ok(());
                }
                self.total += size;
                if self.total > self.limits.max_total_bytes {
                    self.errs.push(scan::total_too_large(
                        rel.to_string(),
                        self.limits.max_total_bytes,
                    ));
                    self.stopped = true;
                    return Ok(());
                }
                let executable = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
                let digest = self.file(&rel, &mut entry, size)?;
                let mode = if executable { 0o755 } else { 0o644 };
                self.files.insert(rel, FileEntry { digest, mode, size });
            }
            tar::EntryType::Directory => {
                if self.files.contains_key(&rel) {
                    self.errs.push(DefinitionError::new(
                        ProblemKind::Path,
                        rel.as_str(),
                        "is both a file and a directory in the archive: pack the directory again",
                    ));
                    return Ok(());
                }
                self.dirs.insert(rel, 0o755);
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                self.errs.push(scan::symlink(&rel, &target));
            }
            tar::EntryType::Link => self.errs.push(DefinitionError::new(
                ProblemKind::SpecialFile,
                rel.as_str(),
                "is a hard link: only regular files and directories are allowed; replace it with a copy of the file",
            )),
            other => {
                let what = match other {
                    tar::EntryType::Char | tar::EntryType::Block => "a device file",
                    tar::EntryType::Fifo => "a FIFO",
                    _ => "not a regular file",
                };
                self.errs.push(scan::special_file(rel.to_string(), what));
            }
        }
        Ok(())
    }
}

impl SnapshotStore {
    /// Validates the definition directory packed in the tar stream `reader` and stores it as a
    /// version (see the module docs). Invalid archives store nothing and report every problem
    /// at once; an archive that cannot be read fails with [`ImportError::Unreadable`].
    pub fn import_tar(
        &self,
        reader: impl Read,
        limits: &ScanLimits,
    ) -> Result<ImportReport, ImportError> {
        self.read_tar(reader, limits, true)
    }

    /// Like [`SnapshotStore::import_tar`] without storing anything: the version the archive
    /// holds (for a diff). New content passes through `tmp/` (templates are read back from
    /// there) and is removed before this returns.
    pub fn check_tar(
        &self,
        reader: impl Read,
        limits: &ScanLimits,
    ) -> Result<crate::scan::Definition, ImportError> {
        self.read_tar(reader, limits, false).map(|r| r.definition)
    }

    fn read_tar(
        &self,
        reader: impl Read,
        limits: &ScanLimits,
        store: bool,
    ) -> Result<ImportReport, ImportError> {
        let mut ingest = Ingest {
            store: self,
            limits,
            files: BTreeMap::new(),
            dirs: BTreeMap::new(),
            explicit: HashSet::new(),
            errs: Vec::new(),
            entries: 0,
            total: 0,
            stopped: false,
            staged: Staged::default(),
            staged_digests: HashSet::new(),
            new_bytes: 0,
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(ImportError::Unreadable)? {
            ingest.entry(entry.map_err(ImportError::Unreadable)?)?;
        }
        let Ingest {
            files,
            dirs,
            errs,
            staged,
            staged_digests,
            new_bytes,
            ..
        } = ingest;
        let record = VersionRecord {
            format: 1,
            files,
            dirs,
        };
        let staged_at: std::collections::HashMap<&DefinitionDigest, &camino::Utf8PathBuf> =
            staged.0.iter().map(|(tmp, d)| (d, tmp)).collect();
        let read = |_: &RelPath, digest: &DefinitionDigest| -> io::Result<Vec<u8>> {
            match staged_at.get(digest) {
                Some(tmp) => fs::read(tmp),
                None => fs::read(self.blob_path(digest)),
            }
        };
        let definition = scan::validate(record, errs, &read)?;
        drop(staged_at);
        let new_blobs = staged_digests.len();
        if !store {
            drop(staged);
            return Ok(ImportReport {
                definition,
                new_version: false,
                new_blobs: 0,
                new_bytes: 0,
            });
        }
        let new_version = self.commit(staged, &definition)?;
        Ok(ImportReport {
            definition,
            new_version,
            new_blobs,
            new_bytes,
        })
    }
}

/// Hashes what passes through, to check a blob against its digest while it is streamed.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

impl SnapshotStore {
    /// Writes version `id` as a tar stream to `out` (see the module docs) and returns `out`.
    /// A blob that does not match its digest fails with [`StoreError::Corrupt`] (the stream
    /// is then incomplete); a failing `out` fails with [`StoreError::Io`].
    pub fn export_tar<W: Write>(&self, id: &DefinitionDigest, out: W) -> Result<W, StoreError> {
        let def = self.load(id)?;
        let record = &def.record;
        let mut b = tar::Builder::new(out);
        let out_err = |source: io::Error| StoreError::Io {
            action: "write the archive of",
            path: camino::Utf8PathBuf::from(format!("version {id}")),
            source,
        };
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h
        };
        // Directories and files merged in path order: a parent sorts before its children.
        let mut dirs = record.dirs.iter().peekable();
        let mut files = record.files.iter().peekable();
        loop {
            let dir_first = match (dirs.peek(), files.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((d, _)), Some((f, _))) => d.as_str() < f.as_str(),
            };
            if dir_first {
                let Some((path, mode)) = dirs.next() else {
                    break;
                };
                let mut h = header(tar::EntryType::Directory, *mode, 0);
                b.append_data(&mut h, format!("{path}/"), io::empty())
                    .map_err(out_err)?;
            } else {
                let Some((path, entry)) = files.next() else {
                    break;
                };
                let blob = self.blob_path(&entry.digest);
                let file = fs::File::open(&blob).map_err(store_io("read", &blob))?;
                let mut reader = Hashing {
                    inner: file.take(entry.size),
                    hash: Sha256::new(),
                };
                let mut h = header(tar::EntryType::Regular, entry.mode, entry.size);
                b.append_data(&mut h, path.as_str(), &mut reader)
                    .map_err(out_err)?;
                if DefinitionDigest::from_bytes(reader.hash.finalize().into()) != entry.digest {
                    return Err(StoreError::Corrupt(format!(
                        "blob {blob} ({path} of version {id}) does not match its digest"
                    )));
                }
            }
        }
        b.into_inner().map_err(out_err)
    }
}
