//! Reading and validating a definition directory, without changing anything.
//!
//! [`scan`] walks the directory once (no symlinks followed), hashes every regular file, parses
//! the manifest, resolves each group's rules against the files and checks every template's
//! variables; it returns every problem at once. Storing content is `store`'s job.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vsm_core::{DefinitionDigest, GroupName};

use crate::error::{DefinitionError, DefinitionErrors, ProblemKind};
use crate::manifest::{FileKind, GroupDefinition, MANIFEST_FILE, Manifest, parse_manifest};
use crate::path::RelPath;
use crate::template::Template;

/// Limits on what a definition directory may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    /// Largest single file, in bytes.
    pub max_file_bytes: u64,
    /// Largest total of all files, in bytes.
    pub max_total_bytes: u64,
    /// Deepest nesting of directories (the root's entries are at depth 1).
    pub max_depth: usize,
    /// Most files and directories.
    pub max_entries: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_file_bytes: 1 << 30,
            max_total_bytes: 16 << 30,
            max_depth: 32,
            max_entries: 100_000,
        }
    }
}

/// One regular file of a definition version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// sha256 of the content.
    pub digest: DefinitionDigest,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
}

/// The canonical record of a definition version: every file and directory of the definition
/// directory. Its canonical JSON's sha256 is the version's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRecord {
    /// Record format (1).
    pub format: u32,
    /// Regular files by path.
    pub files: BTreeMap<RelPath, FileEntry>,
    /// Directories by path, with their permission bits.
    pub dirs: BTreeMap<RelPath, u32>,
}

impl VersionRecord {
    /// The canonical JSON bytes (sorted maps, compact).
    pub fn canonical_json(&self) -> Vec<u8> {
        // Serializing plain maps of strings and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The version id: sha256 of [`VersionRecord::canonical_json`].
    pub fn id(&self) -> DefinitionDigest {
        DefinitionDigest::from_bytes(Sha256::digest(self.canonical_json()).into())
    }
}

/// A definition version: its id, record and parsed manifest. Built by [`scan`] from a
/// directory or loaded from a `SnapshotStore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The version id.
    pub id: DefinitionDigest,
    /// The record.
    pub record: VersionRecord,
    /// The manifest.
    pub manifest: Manifest,
}

/// One file a group puts on its servers, resolved against the version's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedFile {
    /// Path under the server's target directory.
    pub target: RelPath,
    /// Path in the definition directory.
    pub source: RelPath,
    /// The source's content digest (for templates: of the template text).
    pub digest: DefinitionDigest,
    /// Size of the source in bytes.
    pub size: u64,
    /// Permission bits on the server.
    pub mode: u32,
    /// Rendered per server.
    pub template: bool,
    /// Definition file or application package.
    pub kind: FileKind,
}

/// Expands `group`'s rules against `files` (directory sources copy their whole tree), in
/// target order. Problems: missing sources, duplicate and conflicting targets.
pub fn resolve_group(
    group: &GroupDefinition,
    record: &VersionRecord,
) -> Result<BTreeMap<RelPath, ResolvedFile>, Vec<DefinitionError>> {
    let (files, errs) = resolve_group_lenient(group, record);
    if errs.is_empty() {
        Ok(files)
    } else {
        Err(errs)
    }
}

/// Like [`resolve_group`], returning what resolved beside the problems.
fn resolve_group_lenient(
    group: &GroupDefinition,
    record: &VersionRecord,
) -> (BTreeMap<RelPath, ResolvedFile>, Vec<DefinitionError>) {
    let mut out: BTreeMap<RelPath, ResolvedFile> = BTreeMap::new();
    let mut origin: BTreeMap<RelPath, String> = BTreeMap::new();
    let mut errs = Vec::new();
    let (mut fi, mut ai) = (0, 0);
    for rule in &group.files {
        let field = match rule.kind {
            FileKind::Settings => {
                fi += 1;
                format!("groups[{}].files[{}]", group.name, fi - 1)
            }
            FileKind::Application => {
                ai += 1;
                format!("groups[{}].applications[{}]", group.name, ai - 1)
            }
        };
        let mut add = |target: RelPath, source: &RelPath, entry: &FileEntry| {
            let mode = rule.mode.unwrap_or(if entry.mode & 0o111 != 0 {
                0o755
            } else {
                0o644
            });
            if let Some(prev) = origin.get(&target) {
                errs.push(
                    DefinitionError::new(
                        ProblemKind::DuplicateTarget,
                        MANIFEST_FILE,
                        format!("target '{target}' (from '{source}') is also written by {prev}: give each rule its own target"),
                    )
                    .field(field.clone()),
                );
                return;
            }
            origin.insert(target.clone(), field.clone());
            out.insert(
                target.clone(),
                ResolvedFile {
                    target,
                    source: source.clone(),
                    digest: entry.digest.clone(),
                    size: entry.size,
                    mode,
                    template: rule.template,
                    kind: rule.kind,
                },
            );
        };
        if let Some(entry) = record.files.get(&rule.source) {
            add(rule.target.clone(), &rule.source, entry);
        } else if record.dirs.contains_key(&rule.source) {
            let mut any = false;
            for (path, entry) in &record.files {
                let Some(rest) = path.strip_prefix(&rule.source) else {
                    continue;
                };
                any = true;
                add(rule.target.join(&rest), path, entry);
            }
            if !any {
                errs.push(
                    DefinitionError::new(
                        ProblemKind::MissingFile,
                        MANIFEST_FILE,
                        format!(
                            "source directory '{}' holds no files: add files or remove the rule",
                            rule.source
                        ),
                    )
                    .field(format!("{field}.source")),
                );
            }
        } else {
            errs.push(
                DefinitionError::new(
                    ProblemKind::MissingFile,
                    MANIFEST_FILE,
                    format!(
                        "source '{}' does not exist in the definition directory: add the file or fix the path",
                        rule.source
                    ),
                )
                .field(format!("{field}.source")),
            );
        }
    }
    // A target cannot be both a file and a directory holding other targets.
    for target in out.keys() {
        for anc in target.ancestors() {
            if out.contains_key(&anc) {
                errs.push(
                    DefinitionError::new(
                        ProblemKind::DuplicateTarget,
                        MANIFEST_FILE,
                        format!("target '{anc}' is a file, but '{target}' needs it to be a directory: move one of them"),
                    )
                    .field(format!("groups[{}]", group.name)),
                );
            }
        }
    }
    (out, errs)
}

/// Whether `name` is a variable that templates of `group` may use.
pub fn is_known_variable(name: &str, manifest: &Manifest, group: &GroupDefinition) -> bool {
    match name {
        "unit.name" | "group.name" | "group.addresses" | "group.size" | "server.name"
        | "server.address" | "server.index" => true,
        _ => {
            if let Some(p) = name.strip_prefix("params.") {
                return manifest.parameters.contains_key(p) || group.parameters.contains_key(p);
            }
            if let Some(rest) = name.strip_prefix("groups.")
                && let Some((g, field)) = rest.rsplit_once('.')
            {
                return matches!(field, "addresses" | "size")
                    && manifest.groups.iter().any(|x| x.name.as_str() == g);
            }
            false
        }
    }
}

/// A scanned, validated definition directory.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The directory read.
    pub root: Utf8PathBuf,
    /// What it holds.
    pub definition: Definition,
}

/// Hashes a file; returns its digest and size. Fails with `InvalidData` past `limit` bytes.
pub(crate) fn hash_file(path: &Utf8Path, limit: u64) -> io::Result<(DefinitionDigest, u64)> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file grew past the size limit",
            ));
        }
        h.update(&buf[..n]);
    }
    Ok((DefinitionDigest::from_bytes(h.finalize().into()), total))
}

struct Walker<'a> {
    root: &'a Utf8Path,
    limits: &'a ScanLimits,
    files: BTreeMap<RelPath, FileEntry>,
    dirs: BTreeMap<RelPath, u32>,
    errs: Vec<DefinitionError>,
    entries: usize,
    total: u64,
    stopped: bool,
}

impl Walker<'_> {
    fn walk(&mut self, rel: Option<&RelPath>, depth: usize) {
        let dir = match rel {
            Some(r) => r.under(self.root),
            None => self.root.to_owned(),
        };
        let shown = rel.map_or(".".to_owned(), |r| r.to_string());
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.errs.push(DefinitionError::new(
                    ProblemKind::Io,
                    shown,
                    format!("cannot read the directory: {e}; check its permissions"),
                ));
                return;
            }
        };
        let mut children: Vec<(String, fs::Metadata)> = Vec::new();
        for ent in rd {
            let ent = match ent {
                Ok(e) => e,
                Err(e) => {
                    self.errs.push(DefinitionError::new(
                        ProblemKind::Io,
                        shown.clone(),
                        format!("cannot list the directory: {e}"),
                    ));
                    continue;
                }
            };
            let name = match ent.file_name().into_string() {
                Ok(n) => n,
                Err(raw) => {
                    let lossy = raw.to_string_lossy().into_owned();
                    let file = if rel.is_some() {
                        format!("{shown}/{lossy}")
                    } else {
                        lossy
                    };
                    self.errs.push(DefinitionError::new(
                        ProblemKind::NonUtf8Name,
                        file,
                        "the name is not valid UTF-8: rename it using UTF-8 characters only",
                    ));
                    continue;
                }
            };
            match ent.metadata() {
                Ok(m) => children.push((name, m)),
                Err(e) => self.errs.push(DefinitionError::new(
                    ProblemKind::Io,
                    name,
                    format!("cannot read metadata: {e}"),
                )),
            }
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, meta) in children {
            if self.stopped {
                return;
            }
            let shown_child = if rel.is_some() {
                format!("{shown}/{name}")
            } else {
                name.clone()
            };
            let child = match RelPath::new(&name) {
                Ok(c) if !name.contains('/') => match rel {
                    Some(r) => r.join(&c),
                    None => c,
                },
                _ => {
                    self.errs.push(DefinitionError::new(
                        ProblemKind::Path,
                        shown_child,
                        "the name contains a control character or backslash: rename it",
                    ));
                    continue;
                }
            };
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                self.errs
                    .push(too_many(shown_child, self.limits.max_entries));
                self.stopped = true;
                return;
            }
            let ft = meta.file_type();
            let mode = meta.permissions().mode() & 0o7777;
            if ft.is_symlink() {
                let target = fs::read_link(child.under(self.root))
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.errs.push(symlink(&child, &target));
            } else if ft.is_dir() {
                if depth + 1 > self.limits.max_depth {
                    self.errs.push(too_deep(shown_child, self.limits.max_depth));
                    continue;
                }
                self.dirs.insert(child.clone(), mode);
                self.walk(Some(&child), depth + 1);
            } else if ft.is_file() {
                if meta.len() > self.limits.max_file_bytes {
                    self.errs.push(file_too_large(
                        shown_child,
                        meta.len(),
                        self.limits.max_file_bytes,
                    ));
                    continue;
                }
                self.total += meta.len();
                if self.total > self.limits.max_total_bytes {
                    self.errs
                        .push(total_too_large(shown_child, self.limits.max_total_bytes));
                    self.stopped = true;
                    return;
                }
                match hash_file(&child.under(self.root), self.limits.max_file_bytes) {
                    Ok((digest, size)) => {
                        self.files.insert(child, FileEntry { digest, mode, size });
                    }
                    Err(e) => self.errs.push(DefinitionError::new(
                        ProblemKind::Io,
                        shown_child,
                        format!("cannot read the file: {e}"),
                    )),
                }
            } else {
                let what = if ft.is_fifo() {
                    "a FIFO"
                } else if ft.is_socket() {
                    "a socket"
                } else if ft.is_block_device() || ft.is_char_device() {
                    "a device file"
                } else {
                    "not a regular file"
                };
                self.errs.push(special_file(shown_child, what));
            }
        }
    }
}

/// "More than `limit` entries", at `file`.
pub(crate) fn too_many(file: String, limit: usize) -> DefinitionError {
    DefinitionError::new(
        ProblemKind::TooMany,
        file,
        format!(
            "the directory holds more than {limit} files and directories: remove some, or raise the limit"
        ),
    )
}

/// "Nested deeper than `limit`", at `file`.
pub(crate) fn too_deep(file: String, limit: usize) -> DefinitionError {
    DefinitionError::new(
        ProblemKind::TooDeep,
        file,
        format!("directories are nested deeper than {limit} levels: flatten the tree"),
    )
}

/// "The file has `len` bytes, more than `limit`".
pub(crate) fn file_too_large(file: String, len: u64, limit: u64) -> DefinitionError {
    DefinitionError::new(
        ProblemKind::TooLarge,
        file,
        format!(
            "the file has {len} bytes, more than the limit of {limit}: remove it or raise the limit"
        ),
    )
}

/// "More than `limit` bytes in total", at the file that went past it.
pub(crate) fn total_too_large(file: String, limit: u64) -> DefinitionError {
    DefinitionError::new(
        ProblemKind::TooLarge,
        file,
        format!(
            "the directory holds more than {limit} bytes in total: remove files or raise the limit"
        ),
    )
}

/// A symbolic link at `link` to `target` (never stored; the message says whether it leads
/// outside the directory).
pub(crate) fn symlink(link: &RelPath, target: &str) -> DefinitionError {
    let outside = target.starts_with('/') || RelPath::new(target).is_err() || escapes(link, target);
    let msg = if outside {
        format!(
            "is a symbolic link to '{target}', outside the definition directory: replace it with a copy of the file"
        )
    } else {
        format!(
            "is a symbolic link to '{target}': symbolic links are not stored; replace it with a copy of the file"
        )
    };
    DefinitionError::new(ProblemKind::Symlink, link.as_str(), msg)
}

/// A device, FIFO, socket or other special file (`what`: "a FIFO", …).
pub(crate) fn special_file(file: String, what: &str) -> DefinitionError {
    DefinitionError::new(
        ProblemKind::SpecialFile,
        file,
        format!("is {what}: only regular files and directories are allowed; remove it"),
    )
}

/// Whether a relative symlink `target` stored at `link` resolves outside the root.
fn escapes(link: &RelPath, target: &str) -> bool {
    let mut depth: i64 = link.depth() as i64 - 1;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// Reads and validates the definition directory at `dir`. Changes nothing; returns every
/// problem at once.
pub fn scan(dir: &Utf8Path, limits: &ScanLimits) -> Result<Scan, DefinitionErrors> {
    let mut w = Walker {
        root: dir,
        limits,
        files: BTreeMap::new(),
        dirs: BTreeMap::new(),
        errs: Vec::new(),
        entries: 0,
        total: 0,
        stopped: false,
    };
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => w.walk(None, 0),
        Ok(_) => {
            return Err(DefinitionErrors::new(vec![DefinitionError::new(
                ProblemKind::Path,
                dir.as_str(),
                "is not a directory: give the path of the definition directory",
            )]));
        }
        Err(e) => {
            return Err(DefinitionErrors::new(vec![DefinitionError::new(
                ProblemKind::Io,
                dir.as_str(),
                format!("cannot read the definition directory: {e}"),
            )]));
        }
    }
    let record = VersionRecord {
        format: 1,
        files: w.files,
        dirs: w.dirs,
    };
    let definition = validate(record, w.errs, &|p: &RelPath, _: &DefinitionDigest| {
        fs::read(p.under(dir))
    })?;
    Ok(Scan {
        root: dir.to_owned(),
        definition,
    })
}

/// Checks a record of a definition's files against its manifest (parsing it, resolving every
/// group's rules, checking every template's variables); `read` gives a file's content by path
/// and digest.
/// `found` are problems already found while reading the files; every problem is returned at
/// once.
pub(crate) fn validate(
    record: VersionRecord,
    found: Vec<DefinitionError>,
    read: &dyn Fn(&RelPath, &DefinitionDigest) -> io::Result<Vec<u8>>,
) -> Result<Definition, DefinitionErrors> {
    let mut errs = Vec::new();
    let manifest = match RelPath::new(MANIFEST_FILE)
        .ok()
        .and_then(|p| record.files.get(&p).map(|e| (p, e)))
    {
        None => {
            errs.push(DefinitionError::new(
                ProblemKind::MissingFile,
                MANIFEST_FILE,
                format!("the directory has no {MANIFEST_FILE} at its root: add the manifest (see docs/definition-format.md)"),
            ));
            None
        }
        Some((p, e)) => match read(&p, &e.digest) {
            Err(e) => {
                errs.push(DefinitionError::new(
                    ProblemKind::Io,
                    MANIFEST_FILE,
                    format!("cannot read the manifest: {e}"),
                ));
                None
            }
            Ok(bytes) => match String::from_utf8(bytes) {
                Err(_) => {
                    errs.push(DefinitionError::new(
                        ProblemKind::Syntax,
                        MANIFEST_FILE,
                        "the manifest is not UTF-8: save it as UTF-8",
                    ));
                    None
                }
                Ok(text) => match parse_manifest(&text) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        errs.extend(e);
                        None
                    }
                },
            },
        },
    };
    if let Some(m) = &manifest {
        errs.extend(check_groups(read, m, &record));
    }
    errs.extend(found);
    match manifest {
        Some(manifest) if errs.is_empty() => Ok(Definition {
            id: record.id(),
            record,
            manifest,
        }),
        _ => Err(DefinitionErrors::new(errs)),
    }
}

/// Checks what the manifest asks for against the directory: sources, targets, templates.
fn check_groups(
    read: &dyn Fn(&RelPath, &DefinitionDigest) -> io::Result<Vec<u8>>,
    manifest: &Manifest,
    record: &VersionRecord,
) -> Vec<DefinitionError> {
    let mut errs = Vec::new();
    let mut checked: BTreeSet<(RelPath, GroupName)> = BTreeSet::new();
    for group in &manifest.groups {
        let (files, problems) = resolve_group_lenient(group, record);
        errs.extend(problems);
        for f in files.values().filter(|f| f.template) {
            if !checked.insert((f.source.clone(), group.name.clone())) {
                continue;
            }
            let text = match read(&f.source, &f.digest).map(String::from_utf8) {
                Ok(Ok(t)) => t,
                Ok(Err(_)) => {
                    errs.push(DefinitionError::new(
                        ProblemKind::Template,
                        f.source.as_str(),
                        "a template must be UTF-8 text: save it as UTF-8, or drop 'template: true'",
                    ));
                    continue;
                }
                Err(e) => {
                    errs.push(DefinitionError::new(
                        ProblemKind::Io,
                        f.source.as_str(),
                        format!("cannot read the template: {e}"),
                    ));
                    continue;
                }
            };
            match Template::parse(&text) {
                Err(e) => errs.push(
                    DefinitionError::new(ProblemKind::Template, f.source.as_str(), e.message)
                        .at_line(Some(e.line)),
                ),
                Ok(t) => {
                    for (name, line) in t.variables() {
                        if !is_known_variable(name, manifest, group) {
                            errs.push(
                                DefinitionError::new(
                                    ProblemKind::Template,
                                    f.source.as_str(),
                                    format!(
                                        "variable '{name}' is not defined for group '{}': define it under 'parameters' (used as params.NAME) or use one of unit.name, group.name, group.addresses, group.size, server.name, server.address, server.index, groups.GROUP.addresses, groups.GROUP.size",
                                        group.name
                                    ),
                                )
                                .at_line(Some(line)),
                            );
                        }
                    }
                }
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_escape_detection() {
        let link = RelPath::new("a/b/link").expect("valid");
        assert!(!escapes(&link, "../c"));
        assert!(!escapes(&link, "../../c"));
        assert!(escapes(&link, "../../../c"));
        assert!(escapes(&link, "x/../../../../c"));
    }
}
