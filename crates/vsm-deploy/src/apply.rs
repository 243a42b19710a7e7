//! Applying a definition version to one server: what it should hold ([`DesiredState`],
//! templates rendered for that server), what differs from what it has ([`plan_change`],
//! [`pending_scope`]), and [`apply_to_server`], which pushes only the difference through a
//! [`Transport`] and runs the activation command.
//!
//! Which servers to apply to and in what order is decided by callers (`batch` has simple
//! drivers; the manager's engine has its own).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};
use vsm_core::{DefinitionDigest, GroupName, ServerAddress, ServerName, UnitName, UpdateScope};

use crate::manifest::{Activation, FileKind, GroupDefinition, HealthCheck};
use crate::path::RelPath;
use crate::scan::{Definition, resolve_group};
use crate::store::{SnapshotStore, StoreError};
use crate::template::{Template, TemplateSyntaxError, UndefinedVariable, Variables};
use crate::transport::{
    APPLIED_FORMAT, AppliedFile, AppliedRecord, ChangeSet, CommandOutput, Content, FileWrite,
    Transport, TransportError,
};

/// Who a server is, for rendering its templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerContext {
    /// The unit.
    pub unit: UnitName,
    /// The server's group.
    pub group: GroupName,
    /// The server.
    pub server: ServerName,
    /// The server's address.
    pub address: ServerAddress,
    /// 1-based position of the server in its group.
    pub index: usize,
    /// Every group's member addresses (in server order), for `group.addresses` and
    /// `groups.NAME.addresses`.
    pub members: BTreeMap<GroupName, Vec<ServerAddress>>,
}

/// A failure to work out what a server should hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The version has no such group.
    #[error("definition version {version} has no group '{group}': add it to the manifest")]
    NoSuchGroup {
        /// The version.
        version: DefinitionDigest,
        /// The group.
        group: GroupName,
    },
    /// Reading from the snapshot store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored version does not resolve (a damaged store).
    #[error("the stored version no longer resolves: {0}")]
    Invalid(String),
    /// A template does not parse.
    #[error("template {file}")]
    TemplateSyntax {
        /// The template's path in the definition directory.
        file: RelPath,
        /// The error.
        #[source]
        source: TemplateSyntaxError,
    },
    /// A template uses a variable that has no value for this server.
    #[error("template {file} for server {server}")]
    Undefined {
        /// The template's path in the definition directory.
        file: RelPath,
        /// The server.
        server: ServerName,
        /// The error.
        #[source]
        source: UndefinedVariable,
    },
}

/// One file a server should hold.
#[derive(Debug, Clone)]
pub struct DesiredFile {
    /// Content digest (rendered, for templates).
    pub digest: DefinitionDigest,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Definition file or application package.
    pub kind: FileKind,
    /// Where the bytes are.
    pub content: Content,
}

/// Everything one server should hold for one definition version.
#[derive(Debug, Clone)]
pub struct DesiredState {
    /// The version.
    pub version: DefinitionDigest,
    /// The group.
    pub group: GroupName,
    /// Digest of the group's parameters, activation and health check.
    pub settings: DefinitionDigest,
    /// Files by target.
    pub files: BTreeMap<RelPath, DesiredFile>,
    /// The activation command.
    pub activate: Option<Activation>,
    /// The health check.
    pub health: Option<HealthCheck>,
}

/// One group of a version, ready to render per server (templates read and parsed once).
#[derive(Debug, Clone)]
pub struct GroupPlan {
    version: DefinitionDigest,
    group: GroupDefinition,
    parameters: BTreeMap<String, String>,
    settings: DefinitionDigest,
    files: Vec<(RelPath, crate::scan::ResolvedFile, Option<Arc<Template>>)>,
    blobs: Vec<camino::Utf8PathBuf>,
}

#[derive(Serialize)]
struct SettingsDigestInput<'a> {
    parameters: &'a BTreeMap<String, String>,
    activate: &'a Option<Activation>,
    health: &'a Option<HealthCheck>,
}

impl GroupPlan {
    /// Prepares `group` of `def`, reading its templates from `store`.
    pub fn new(
        store: &SnapshotStore,
        def: &Definition,
        group: &GroupName,
    ) -> Result<GroupPlan, PrepareError> {
        let g = def
            .manifest
            .group(group)
            .ok_or_else(|| PrepareError::NoSuchGroup {
                version: def.id.clone(),
                group: group.clone(),
            })?;
        let resolved = resolve_group(g, &def.record).map_err(|errs| {
            PrepareError::Invalid(
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let mut cache: BTreeMap<DefinitionDigest, Arc<Template>> = BTreeMap::new();
        let mut files = Vec::new();
        let mut blobs = Vec::new();
        for (target, f) in resolved {
            let template = if f.template {
                let t = match cache.get(&f.digest) {
                    Some(t) => t.clone(),
                    None => {
                        let bytes = store.read_blob(&f.digest)?;
                        let text = String::from_utf8(bytes).map_err(|_| {
                            PrepareError::Invalid(format!("template {} is not UTF-8", f.source))
                        })?;
                        let t = Arc::new(Template::parse(&text).map_err(|source| {
                            PrepareError::TemplateSyntax {
                                file: f.source.clone(),
                                source,
                            }
                        })?);
                        cache.insert(f.digest.clone(), t.clone());
                        t
                    }
                };
                Some(t)
            } else {
                None
            };
            blobs.push(store.blob_path(&f.digest));
            files.push((target, f, template));
        }
        let parameters = g.effective_parameters(&def.manifest.parameters);
        let settings = digest_json(&SettingsDigestInput {
            parameters: &parameters,
            activate: &g.activate,
            health: &g.health,
        });
        Ok(GroupPlan {
            version: def.id.clone(),
            group: g.clone(),
            parameters,
            settings,
            files,
            blobs,
        })
    }

    /// The template variables for a server.
    pub fn variables(&self, ctx: &ServerContext) -> Variables {
        let mut v = Variables::new();
        let join = |a: &[ServerAddress]| {
            a.iter()
                .map(ServerAddress::as_str)
                .collect::<Vec<_>>()
                .join(",")
        };
        v.set("unit.name", ctx.unit.as_str());
        v.set("group.name", ctx.group.as_str());
        v.set("server.name", ctx.server.as_str());
        v.set("server.address", ctx.address.as_str());
        v.set("server.index", ctx.index.to_string());
        let own = ctx
            .members
            .get(&ctx.group)
            .map(Vec::as_slice)
            .unwrap_or_default();
        v.set("group.addresses", join(own));
        v.set("group.size", own.len().to_string());
        for (g, addrs) in &ctx.members {
            v.set(format!("groups.{g}.addresses"), join(addrs));
            v.set(format!("groups.{g}.size"), addrs.len().to_string());
        }
        for (k, val) in &self.parameters {
            v.set(format!("params.{k}"), val.clone());
        }
        v
    }

    /// What the server described by `ctx` should hold.
    pub fn for_server(&self, ctx: &ServerContext) -> Result<DesiredState, PrepareError> {
        let vars = self.variables(ctx);
        let mut files = BTreeMap::new();
        for ((target, f, template), blob) in self.files.iter().zip(&self.blobs) {
            let desired = match template {
                Some(t) => {
                    let text = t.render(&vars).map_err(|source| PrepareError::Undefined {
                        file: f.source.clone(),
                        server: ctx.server.clone(),
                        source,
                    })?;
                    let bytes: Arc<[u8]> = Arc::from(text.into_bytes());
                    DesiredFile {
                        digest: DefinitionDigest::from_bytes(Sha256::digest(&bytes).into()),
                        mode: f.mode,
                        size: bytes.len() as u64,
                        kind: f.kind,
                        content: Content::Inline(bytes),
                    }
                }
                None => DesiredFile {
                    digest: f.digest.clone(),
                    mode: f.mode,
                    size: f.size,
                    kind: f.kind,
                    content: Content::File(blob.clone()),
                },
            };
            files.insert(target.clone(), desired);
        }
        Ok(DesiredState {
            version: self.version.clone(),
            group: self.group.name.clone(),
            settings: self.settings.clone(),
            files,
            activate: self.group.activate.clone(),
            health: self.group.health.clone(),
        })
    }
}

fn digest_json<T: Serialize>(v: &T) -> DefinitionDigest {
    DefinitionDigest::from_bytes(Sha256::digest(serde_json::to_vec(v).unwrap_or_default()).into())
}

/// What applying `desired` to a server that has `applied` must push: `none` (same files and
/// settings), `applications` (only application packages differ) or `all`.
pub fn pending_scope(applied: Option<&AppliedRecord>, desired: &DesiredState) -> UpdateScope {
    let Some(applied) = applied else {
        return UpdateScope::All;
    };
    if applied.group != desired.group || applied.settings != desired.settings {
        return UpdateScope::All;
    }
    let mut apps = false;
    for (t, f) in &desired.files {
        match applied.files.get(t) {
            Some(a) if a.digest == f.digest && a.mode == f.mode && a.kind == f.kind => {}
            Some(a) if a.kind == FileKind::Application && f.kind == FileKind::Application => {
                apps = true
            }
            None if f.kind == FileKind::Application => apps = true,
            _ => return UpdateScope::All,
        }
    }
    for (t, a) in &applied.files {
        if !desired.files.contains_key(t) {
            if a.kind == FileKind::Application {
                apps = true;
            } else {
                return UpdateScope::All;
            }
        }
    }
    if apps {
        UpdateScope::Applications
    } else {
        UpdateScope::None
    }
}

static TXN_COUNTER: AtomicU64 = AtomicU64::new(0);

fn new_txn() -> String {
    let n = TXN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!("t{t}-{}-{n}", std::process::id())
}

/// The change set that turns `applied` into `desired`: only files whose content or mode
/// differ are written; files vsm put there before that are no longer wanted are removed.
pub fn plan_change(
    applied: Option<&AppliedRecord>,
    desired: &DesiredState,
    activation_pending: bool,
) -> ChangeSet {
    let mut writes = Vec::new();
    for (t, f) in &desired.files {
        let same = applied
            .and_then(|a| a.files.get(t))
            .is_some_and(|a| a.digest == f.digest && a.mode == f.mode);
        if !same {
            writes.push(FileWrite {
                target: t.clone(),
                mode: f.mode,
                size: f.size,
                content: f.content.clone(),
            });
        }
    }
    let removes = applied
        .map(|a| {
            a.files
                .keys()
                .filter(|t| !desired.files.contains_key(*t))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let txn = new_txn();
    ChangeSet {
        record: AppliedRecord {
            format: APPLIED_FORMAT,
            version: desired.version.clone(),
            group: desired.group.clone(),
            settings: desired.settings.clone(),
            txn: txn.clone(),
            files: desired
                .files
                .iter()
                .map(|(t, f)| {
                    (
                        t.clone(),
                        AppliedFile {
                            digest: f.digest.clone(),
                            mode: f.mode,
                            kind: f.kind,
                        },
                    )
                })
                .collect(),
            activation_pending,
        },
        txn,
        writes,
        removes,
    }
}

/// Why applying to one server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// Working out what the server should hold failed (nothing was sent).
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The transfer failed; the server keeps what it had.
    #[error("transfer to {server} failed")]
    Transport {
        /// `Transport::describe()` of the server.
        server: String,
        /// The cause.
        #[source]
        source: TransportError,
    },
    /// The files are in place but the activation command failed; the next apply runs it again.
    #[error("activation command `{command}` on {server} failed with exit code {code:?}: {stderr}")]
    Activation {
        /// The server.
        server: String,
        /// The command.
        command: String,
        /// Its exit code.
        code: Option<i32>,
        /// The end of its standard error.
        stderr: String,
    },
    /// The health check after the apply failed.
    #[error("{server} is not healthy after the apply")]
    Unhealthy {
        /// The server.
        server: String,
        /// The cause.
        #[source]
        source: crate::health::HealthError,
    },
}

/// What [`apply_to_server`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerApplied {
    /// The scope of the change (`none`: nothing was sent).
    pub scope: UpdateScope,
    /// Files written.
    pub written: usize,
    /// Bytes written.
    pub written_bytes: u64,
    /// Files removed.
    pub removed: usize,
    /// Whether the activation command ran.
    pub activated: bool,
}

/// Brings one server to `desired`: reads its record, pushes only what differs (atomically,
/// see `transport`), then runs the activation command when something changed (or when it
/// failed last time). Re-applying the same version sends nothing.
pub async fn apply_to_server(
    transport: &dyn Transport,
    desired: &DesiredState,
) -> Result<ServerApplied, ApplyError> {
    let server = transport.describe();
    let terr = |source| ApplyError::Transport {
        server: server.clone(),
        source,
    };
    let applied = transport.read_applied().await.map_err(terr)?;
    let scope = pending_scope(applied.as_ref(), desired);
    let pending = applied
        .as_ref()
        .is_some_and(|a| a.activation_pending && a.version == desired.version);
    let mut report = ServerApplied {
        scope,
        written: 0,
        written_bytes: 0,
        removed: 0,
        activated: false,
    };
    let same_record = applied
        .as_ref()
        .is_some_and(|a| a.version == desired.version);
    if scope == UpdateScope::None && !pending && same_record {
        return Ok(report);
    }
    let needs_activation = desired.activate.is_some() && (scope != UpdateScope::None || pending);
    let mut change = plan_change(applied.as_ref(), desired, needs_activation);
    if change.writes.is_empty() && change.removes.is_empty() {
        // Only the record changes (a new version with identical content for this server).
        if let Some(a) = &applied {
            change.record.txn = a.txn.clone();
        }
        transport
            .write_applied(&change.record)
            .await
            .map_err(terr)?;
    } else {
        report.written = change.writes.len();
        report.written_bytes = change.writes.iter().map(|w| w.size).sum();
        report.removed = change.removes.len();
        transport.push(&change).await.map_err(terr)?;
    }
    if let (true, Some(act)) = (needs_activation, &desired.activate) {
        let out: CommandOutput = transport
            .run(&act.command, act.timeout)
            .await
            .map_err(terr)?;
        if !out.success() {
            return Err(ApplyError::Activation {
                server,
                command: act.command.clone(),
                code: out.code,
                stderr: out.stderr,
            });
        }
        report.activated = true;
        change.record.activation_pending = false;
        transport
            .write_applied(&change.record)
            .await
            .map_err(terr)?;
    }
    Ok(report)
}
