//! The unit's definitions in the content-addressed snapshot store: import (validated, a new
//! immutable version), export and diff.

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::DefinitionVersion;
use vsm_core::model::{DefinitionRecord, Unit};

use super::context::EngineCtx;
use super::live::unit_meta;
use crate::api::{Actor, ChangeKind, DefinitionDiff, FileChange, ImportResult, VersionInfo};
use crate::error::{DataProblem, Entity, Error, Result};
use crate::store::{AuditEntry, Change};

fn snapshot_store(ctx: &EngineCtx) -> Result<vsm_deploy::SnapshotStore> {
    vsm_deploy::SnapshotStore::open(ctx.definitions())
        .map_err(|e| Error::failed("cannot open the definition store", e))
}

fn definition_errors(dir: &Utf8Path, e: vsm_deploy::DefinitionErrors) -> Error {
    Error::InvalidData {
        problems: e
            .errors
            .into_iter()
            .map(|p| DataProblem {
                file: dir.join(&p.file).to_string(),
                line: p.line,
                field: p.field,
                message: p.message,
            })
            .collect(),
    }
}

fn to_api_diff(base: Option<DefinitionVersion>, d: &vsm_deploy::Diff) -> DefinitionDiff {
    let mut files = Vec::new();
    let mut push = |group: Option<String>, c: &vsm_deploy::Changes| {
        for (list, change) in [
            (&c.added, ChangeKind::Added),
            (&c.changed, ChangeKind::Modified),
            (&c.removed, ChangeKind::Removed),
        ] {
            for p in list {
                files.push(FileChange {
                    group: group.clone(),
                    path: p.to_string(),
                    change,
                });
            }
        }
    };
    push(None, &d.files);
    for g in &d.groups {
        push(Some(g.group.to_string()), &g.targets);
    }
    DefinitionDiff { base, files }
}

/// `vsm unit import`: the directory becomes the unit's next definition version (or its current
/// one, when identical); refused while an operation holds the unit.
/// What an import reads: a directory on the manager's host, or a tar stream of one (an upload).
pub(crate) enum ImportSource {
    /// A definition directory.
    Dir(Utf8PathBuf),
    /// A tar archive of a definition directory, read as it arrives (blocking reads).
    Tar(Box<dyn std::io::Read + Send>),
}

impl std::fmt::Debug for ImportSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportSource::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            ImportSource::Tar(_) => f.write_str("Tar(..)"),
        }
    }
}

/// Removes what an interrupted import left in the snapshot store's `tmp/` (logged; a failure
/// is only a warning). Only while no other manager imports into the store: at the start of a
/// manager on its own store, or when a manager takes over a shared one (the deposed manager's
/// writes are fenced, so its import cannot commit anyway). Blocks.
pub(crate) fn remove_temporaries(definitions: &Utf8Path) {
    if !definitions.join("tmp").is_dir() {
        return;
    }
    match vsm_deploy::SnapshotStore::open(definitions).and_then(|s| s.remove_temporaries()) {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, "removed blobs an interrupted import left"),
        Err(e) => tracing::warn!(error = %e, "cannot clean the definition store's tmp/"),
    }
}

pub(crate) async fn import(
    ctx: &EngineCtx,
    actor: &Actor,
    mut unit: Unit,
    source: ImportSource,
) -> Result<ImportResult> {
    if let Some(op) = ctx.ops.busy_op(&unit.name) {
        return Err(Error::Busy {
            unit: unit.name.clone(),
            operation: op,
        });
    }
    let store = snapshot_store(ctx)?;
    let current = unit.current_definition().map(|d| d.digest.clone());
    let (report, old) = tokio::task::spawn_blocking(move || {
        let limits = vsm_deploy::ScanLimits::default();
        let (report, shown) = match source {
            ImportSource::Dir(dir) => (store.import(&dir, &limits), dir),
            // Problems name paths inside the uploaded directory.
            ImportSource::Tar(reader) => (store.import_tar(reader, &limits), Utf8PathBuf::new()),
        };
        let old = current.and_then(|c| store.load(&c).ok());
        (report.map_err(|e| (shown, e)), old)
    })
    .await
    .map_err(|e| Error::failed("import task failed", e))?;
    let report = report.map_err(|(dir, e)| match e {
        vsm_deploy::ImportError::Invalid(errs) => definition_errors(&dir, errs),
        vsm_deploy::ImportError::Unreadable(e) => Error::invalid(format!(
            "cannot read the uploaded definition archive: {e}; send it again"
        )),
        other => Error::failed("cannot store the definitions", other),
    })?;
    let def = report.definition;
    let diff = vsm_deploy::diff(old.as_ref(), &def);
    if let Some(cur) = unit.current_definition()
        && cur.digest == def.id
    {
        return Ok(ImportResult {
            version: cur.version,
            digest: cur.digest.clone(),
            created: false,
            diff: to_api_diff(Some(cur.version), &diff),
        });
    }
    let base = unit.current;
    let version = unit
        .definitions
        .last()
        .map_or(DefinitionVersion::FIRST, |d| d.version.next());
    let groups = unit
        .groups
        .iter()
        .filter_map(|g| vsm_deploy::group_parts(&def, g.name()).map(|p| (g.name().clone(), p)))
        .collect();
    unit.import_definition(DefinitionRecord {
        version,
        digest: def.id.clone(),
        imported: ctx.now(),
        groups,
    })
    .map_err(|e| Error::invalid(e.to_string()))?;
    ctx.write(vec![
        Change::PutUnitMeta(unit_meta(&unit)),
        Change::Audit(AuditEntry {
            at: ctx.now(),
            actor: Some(actor.account.clone()),
            action: "unit import".into(),
            target: unit.name.to_string(),
            result: format!("version {version} ({})", def.id.short()),
        }),
    ])
    .await?;
    Ok(ImportResult {
        version,
        digest: def.id,
        created: true,
        diff: to_api_diff(base, &diff),
    })
}

/// `vsm unit export`: writes a version (default: the current one) out as a directory.
/// A stored version ready to be written out as a tar stream ([`TarExport::write_to`]).
#[derive(Debug)]
pub struct TarExport {
    store: vsm_deploy::SnapshotStore,
    /// The version.
    pub info: VersionInfo,
}

impl TarExport {
    /// Writes the version as a tar stream to `out` (blocking: call it on a blocking thread)
    /// and returns `out`.
    pub fn write_to<W: std::io::Write>(self, out: W) -> Result<W> {
        self.store
            .export_tar(&self.info.digest, out)
            .map_err(|e| Error::failed("cannot export the definitions", e))
    }
}

/// `vsm unit export` as a stream: which version, ready to be written.
pub(crate) fn export_tar(
    ctx: &EngineCtx,
    unit: &Unit,
    version: Option<DefinitionVersion>,
) -> Result<TarExport> {
    let rec = export_record(unit, version)?;
    Ok(TarExport {
        store: snapshot_store(ctx)?,
        info: VersionInfo {
            version: rec.version,
            digest: rec.digest,
            created_at: rec.imported,
        },
    })
}

fn export_record(unit: &Unit, version: Option<DefinitionVersion>) -> Result<DefinitionRecord> {
    let v = version.or(unit.current).ok_or_else(|| {
        Error::invalid_with_hint(
            format!("unit {} has no definitions yet", unit.name),
            "import a definition directory with `vsm unit import`",
        )
    })?;
    Ok(unit
        .definition(v)
        .ok_or_else(|| Error::not_found(Entity::DefinitionVersion, v))?
        .clone())
}

pub(crate) async fn export(
    ctx: &EngineCtx,
    unit: Unit,
    version: Option<DefinitionVersion>,
    dest: &Utf8Path,
) -> Result<VersionInfo> {
    let rec = export_record(&unit, version)?;
    let store = snapshot_store(ctx)?;
    let dest: Utf8PathBuf = dest.to_owned();
    let digest = rec.digest.clone();
    tokio::task::spawn_blocking(move || store.export(&digest, &dest))
        .await
        .map_err(|e| Error::failed("export task failed", e))?
        .map_err(|e| Error::failed("cannot export the definitions", e))?;
    Ok(VersionInfo {
        version: rec.version,
        digest: rec.digest,
        created_at: rec.imported,
    })
}

/// `vsm unit diff`: what importing `dir` would change, per group and file.
pub(crate) async fn diff(
    ctx: &EngineCtx,
    unit: Unit,
    source: ImportSource,
) -> Result<DefinitionDiff> {
    let store = snapshot_store(ctx)?;
    let current = unit.current_definition().map(|d| d.digest.clone());
    let base = unit.current;
    let (def, old) = tokio::task::spawn_blocking(move || {
        let limits = vsm_deploy::ScanLimits::default();
        let def = match source {
            ImportSource::Dir(dir) => vsm_deploy::scan(&dir, &limits)
                .map(|s| s.definition)
                .map_err(|e| definition_errors(&dir, e)),
            ImportSource::Tar(reader) => store.check_tar(reader, &limits).map_err(|e| match e {
                vsm_deploy::ImportError::Invalid(errs) => {
                    definition_errors(Utf8Path::new(""), errs)
                }
                vsm_deploy::ImportError::Unreadable(e) => Error::invalid(format!(
                    "cannot read the uploaded definition archive: {e}; send it again"
                )),
                other => Error::failed("cannot read the definitions", other),
            }),
        };
        let old = current.and_then(|c| store.load(&c).ok());
        (def, old)
    })
    .await
    .map_err(|e| Error::failed("diff task failed", e))?;
    let d = vsm_deploy::diff(old.as_ref(), &def?);
    Ok(to_api_diff(base, &d))
}
