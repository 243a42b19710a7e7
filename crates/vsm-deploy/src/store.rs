//! The on-disk, content-addressed store of imported definition versions.
//!
//! Layout under the store's root:
//! - `blobs/ab/cdef…`: each file content once, named by its sha256, read-only;
//! - `versions/<id>.json`: a version record (canonical JSON); `<id>` is its sha256;
//! - `tmp/`: temporary files, renamed into place once complete and synced.
//!
//! Blobs are written before the record that lists them, so a version that exists is complete.
//! Nothing here is ever modified in place. Validation lives in `scan`; this module only stores.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};
use vsm_core::DefinitionDigest;

use crate::error::DefinitionErrors;
use crate::manifest::{MANIFEST_FILE, parse_manifest};
use crate::path::RelPath;
use crate::scan::{Definition, Scan, ScanLimits, VersionRecord, scan};

/// A failure of the snapshot store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path concerned.
        path: Utf8PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No version with this id.
    #[error("definition version {0} is not in the store")]
    NotFound(DefinitionDigest),
    /// Stored data does not match its digest or does not parse.
    #[error("the store is damaged: {0}; restore it from a backup")]
    Corrupt(String),
    /// A file changed while it was being imported.
    #[error(
        "{0} changed while it was being imported: import again once nothing writes to the directory"
    )]
    Changed(Utf8PathBuf),
    /// Export refuses to write into a non-empty directory.
    #[error("{0} exists and is not empty: export into a new or empty directory")]
    DestinationNotEmpty(Utf8PathBuf),
}

/// A failure to import a definition directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The directory is not valid; nothing was stored.
    #[error(transparent)]
    Invalid(#[from] DefinitionErrors),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tar stream of an upload cannot be read (malformed, truncated, or the connection
    /// failed); nothing was stored.
    #[error("cannot read the definition archive: {0}")]
    Unreadable(#[source] io::Error),
}

/// What an import did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImportReport {
    /// The imported version.
    pub definition: Definition,
    /// Whether the version record is new (false: the same version was imported before).
    pub new_version: bool,
    /// How many blobs were written.
    pub new_blobs: usize,
    /// How many bytes of blobs were written.
    pub new_bytes: u64,
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Utf8Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The snapshot store (see the module docs for the layout).
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    root: Utf8PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Blobs written to `tmp/` and not yet in place, with their digests; removed again when dropped
/// before [`SnapshotStore::commit`] took them.
#[derive(Debug, Default)]
pub(crate) struct Staged(pub(crate) Vec<(Utf8PathBuf, DefinitionDigest)>);

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in &self.0 {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Creates `dir` and its missing parents with mode 0700.
fn mkdir_private(dir: &Utf8Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("create", dir))
}

impl SnapshotStore {
    /// Opens (creating if needed) a store at `root`.
    pub fn open(root: &Utf8Path) -> Result<Self, StoreError> {
        // Owner-only: definition files may hold secrets (also for stores made by older
        // versions, whose directories were 0755).
        for sub in ["blobs", "versions", "tmp"] {
            let p = root.join(sub);
            mkdir_private(&p)?;
        }
        for p in [
            root.to_owned(),
            root.join("blobs"),
            root.join("versions"),
            root.join("tmp"),
        ] {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o700))
                .map_err(io_err("set permissions of", &p))?;
        }
        Ok(SnapshotStore {
            root: root.to_owned(),
        })
    }

    /// Removes what an interrupted import left in `tmp/` (staged blobs never put into place)
    /// and returns how many files it removed. Only while nothing else imports into the store
    /// (the manager calls it at start on a store of its own, and when it takes over a store
    /// that managers on one PostgreSQL database share).
    pub fn remove_temporaries(&self) -> Result<usize, StoreError> {
        let dir = self.root.join("tmp");
        let mut n = 0;
        for ent in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let ent = ent.map_err(io_err("read", &dir))?;
            let p = ent.path();
            let removed = if ent.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            if removed.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn blob_path(&self, digest: &DefinitionDigest) -> Utf8PathBuf {
        let d = digest.as_str();
        self.root.join("blobs").join(&d[..2]).join(&d[2..])
    }

    fn version_path(&self, id: &DefinitionDigest) -> Utf8PathBuf {
        self.root.join("versions").join(format!("{id}.json"))
    }

    fn tmp_path(&self) -> Utf8PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{}.{n}.tmp", std::process::id()))
    }

    /// Whether the blob exists.
    pub fn has_blob(&self, digest: &DefinitionDigest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a whole blob (for templates and the manifest; use [`SnapshotStore::blob_path`] to stream).
    pub fn read_blob(&self, digest: &DefinitionDigest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest);
        let bytes = fs::read(&p).map_err(io_err("read", &p))?;
        if DefinitionDigest::from_bytes(Sha256::digest(&bytes).into()) != *digest {
            return Err(StoreError::Corrupt(format!(
                "blob {p} does not match its digest"
            )));
        }
        Ok(bytes)
    }

    /// Validates `dir` and stores it as a version. Invalid directories store nothing.
    pub fn import(&self, dir: &Utf8Path, limits: &ScanLimits) -> Result<ImportReport, ImportError> {
        let scan = scan(dir, limits)?;
        Ok(self.import_scan(&scan)?)
    }

    /// Stores a scanned directory: blobs not yet present (verifying each file still has the
    /// scanned content), then the version record. Re-importing writes nothing.
    ///
    /// Durable with two file-system syncs however many files there are (not one per file): every
    /// new blob is first written to `tmp/`, then the file system is synced (`syncfs`), then the
    /// blobs are renamed into place and the file system synced again, and only then is the
    /// version record written (synced on its own). A crash at any point leaves no blob with
    /// incomplete content under its name and no version without its blobs.
    pub fn import_scan(&self, scan: &Scan) -> Result<ImportReport, StoreError> {
        let def = &scan.definition;
        let (mut new_blobs, mut new_bytes) = (0, 0);
        let mut staged = Staged::default();
        let mut seen = std::collections::HashSet::new();
        let result = (|| {
            for (path, entry) in &def.record.files {
                if self.has_blob(&entry.digest) || !seen.insert(entry.digest.clone()) {
                    continue;
                }
                let src = path.under(&scan.root);
                let tmp = self.tmp_path();
                staged.0.push((tmp.clone(), entry.digest.clone()));
                self.stage_blob(&src, &tmp, &entry.digest)?;
                new_blobs += 1;
                new_bytes += entry.size;
            }
            Ok(())
        })();
        result?;
        let new_version = self.commit(staged, def)?;
        Ok(ImportReport {
            definition: def.clone(),
            new_version,
            new_blobs,
            new_bytes,
        })
    }

    /// Makes staged blobs durable and puts them into place, then writes the version record
    /// (see [`SnapshotStore::import_scan`] for the order). Returns whether the record is new.
    pub(crate) fn commit(&self, mut staged: Staged, def: &Definition) -> Result<bool, StoreError> {
        if !staged.0.is_empty() {
            self.sync_fs()?;
            for (tmp, digest) in &staged.0 {
                let dest = self.blob_path(digest);
                mkdir_private(dest.parent().unwrap_or(&self.root))?;
                fs::rename(tmp, &dest).map_err(io_err("rename into", &dest))?;
            }
            staged.0.clear();
            self.sync_fs()?;
        }
        let vpath = self.version_path(&def.id);
        let new_version = !vpath.is_file();
        if new_version {
            self.write_atomic(&vpath, &def.record.canonical_json(), 0o400)?;
        }
        Ok(new_version)
    }

    /// A new temporary file name in the store's `tmp/` (on the store's file system).
    pub(crate) fn new_tmp(&self) -> Utf8PathBuf {
        self.tmp_path()
    }

    /// Copies `src` to `tmp`, checking that its content has `digest` (not synced: the caller
    /// syncs the whole file system once).
    fn stage_blob(
        &self,
        src: &Utf8Path,
        tmp: &Utf8Path,
        digest: &DefinitionDigest,
    ) -> Result<(), StoreError> {
        let mut input = fs::File::open(src).map_err(io_err("read", src))?;
        let mut out = fs::File::create(tmp).map_err(io_err("create", tmp))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = input.read(&mut buf).map_err(io_err("read", src))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io_err("write", tmp))?;
        }
        if DefinitionDigest::from_bytes(h.finalize().into()) != *digest {
            return Err(StoreError::Changed(src.to_owned()));
        }
        out.set_permissions(fs::Permissions::from_mode(0o400))
            .map_err(io_err("set permissions of", tmp))
    }

    /// Syncs the file system that holds the store (every file and directory written to it).
    fn sync_fs(&self) -> Result<(), StoreError> {
        crate::durable::syncfs(&self.root).map_err(io_err("sync the file system of", &self.root))
    }

    /// Renames a complete temporary file into place and syncs the directory.
    fn install(&self, tmp: &Utf8Path, dest: &Utf8Path) -> Result<(), StoreError> {
        let dir = dest.parent().unwrap_or(&self.root);
        mkdir_private(dir)?;
        fs::rename(tmp, dest).map_err(io_err("rename into", dest))?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn write_atomic(&self, dest: &Utf8Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
        let tmp = self.tmp_path();
        let result = (|| {
            let mut f = fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
            f.write_all(bytes).map_err(io_err("write", &tmp))?;
            f.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io_err("set permissions of", &tmp))?;
            f.sync_all().map_err(io_err("sync", &tmp))?;
            self.install(&tmp, dest)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Loads a version.
    pub fn load(&self, id: &DefinitionDigest) -> Result<Definition, StoreError> {
        let p = self.version_path(id);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(id.clone()));
            }
            Err(e) => return Err(io_err("read", &p)(e)),
        };
        let record: VersionRecord = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("version record {p} does not parse: {e}")))?;
        if record.id() != *id {
            return Err(StoreError::Corrupt(format!(
                "version record {p} does not match its id"
            )));
        }
        let manifest_path =
            RelPath::new(MANIFEST_FILE).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let entry = record
            .files
            .get(&manifest_path)
            .ok_or_else(|| StoreError::Corrupt(format!("version {id} has no manifest")))?;
        let text = String::from_utf8(self.read_blob(&entry.digest)?).map_err(|_| {
            StoreError::Corrupt(format!("the manifest of version {id} is not UTF-8"))
        })?;
        let manifest = parse_manifest(&text).map_err(|errs| {
            StoreError::Corrupt(format!(
                "the manifest of version {id} no longer parses: {}",
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        Ok(Definition {
            id: id.clone(),
            record,
            manifest,
        })
    }

    /// Every stored version id, sorted.
    pub fn list(&self) -> Result<Vec<DefinitionDigest>, StoreError> {
        let dir = self.root.join("versions");
        let mut out = Vec::new();
        for ent in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let ent = ent.map_err(io_err("read", &dir))?;
            if let Some(id) = ent
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| DefinitionDigest::new(n).ok())
            {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Writes version `id` out as a directory at `dest` (which must not exist or be empty):
    /// the same paths, contents and permission bits as were imported.
    pub fn export(&self, id: &DefinitionDigest, dest: &Utf8Path) -> Result<(), StoreError> {
        let def = self.load(id)?;
        match fs::read_dir(dest) {
            Ok(mut rd) => {
                if rd.next().is_some() {
                    return Err(StoreError::DestinationNotEmpty(dest.to_owned()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dest).map_err(io_err("create", dest))?;
            }
            Err(e) => return Err(io_err("read", dest)(e)),
        }
        for dir in def.record.dirs.keys() {
            let p = dir.under(dest);
            fs::create_dir(&p).map_err(io_err("create", &p))?;
        }
        for (path, entry) in &def.record.files {
            let p = path.under(dest);
            let blob = self.blob_path(&entry.digest);
            fs::copy(&blob, &p).map_err(io_err("write", &p))?;
            fs::set_permissions(&p, fs::Permissions::from_mode(entry.mode))
                .map_err(io_err("set permissions of", &p))?;
        }
        // Directory modes last (deepest first), so read-only directories do not block writes.
        for (dir, mode) in def.record.dirs.iter().rev() {
            let p = dir.under(dest);
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode))
                .map_err(io_err("set permissions of", &p))?;
        }
        Ok(())
    }
}
