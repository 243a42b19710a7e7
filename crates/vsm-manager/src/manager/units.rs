//! Units: creating one from a unit file, listing, showing and handing it to another owner; its
//! definitions (import, export, diff); its servers' logs and failure marks.

use std::collections::HashMap;
use std::sync::Arc;

use camino::Utf8Path;
use vsm_core::model::Unit;
use vsm_core::{AccountName, Action, DefinitionVersion, ServerName, UnitName};

use super::Manager;
use crate::api::*;
use crate::clock::now;
use crate::engine;
use crate::error::{Entity, Error, Result};
use crate::store::{Change, StoreError};
use crate::unitfile;

/// A unit's view at one revision, and its JSON (made on first use).
#[derive(Debug)]
pub(crate) struct UnitView {
    /// The unit's revision the view is at (at least).
    pub(crate) rev: u64,
    /// The view.
    pub(crate) detail: UnitDetail,
    json: std::sync::OnceLock<axum::body::Bytes>,
}

impl UnitView {
    /// The view as the JSON body of `GET /api/v1/units/{unit}`.
    pub(crate) fn json(&self) -> axum::body::Bytes {
        self.json
            .get_or_init(|| serde_json::to_vec(&self.detail).unwrap_or_default().into())
            .clone()
    }
}

impl Manager {
    /// `vsm unit create` from a unit file's text (errors name the file and line).
    pub async fn create_unit_from_file(
        &self,
        actor: &Actor,
        req: CreateUnitFromFile,
    ) -> Result<UnitDetail> {
        let spec = unitfile::parse(&req.file_name, &req.unit_file)?;
        self.create_unit(actor, req.name, spec).await
    }

    /// `vsm unit create` from a parsed spec; the caller becomes the owner. Provisioned groups
    /// start empty: `vsm unit apply` (or `start`) provisions their servers.
    pub async fn create_unit(
        &self,
        actor: &Actor,
        name: UnitName,
        spec: vsm_core::model::UnitSpec,
    ) -> Result<UnitDetail> {
        self.check_running()?;
        self.authorize(actor, Action::UnitCreate, None, name.as_str())
            .await?;
        let templates = self.db(|s| s.templates()).await?;
        for g in &spec.groups {
            if let Some(p) = g.provisioned() {
                let Some(t) = templates.iter().find(|t| t.name == p.template) else {
                    return Err(Error::invalid_with_hint(
                        format!("group {}: template {} does not exist", g.name, p.template),
                        "register it first with `vsm template register`",
                    ));
                };
                let driver = t.driver.parse::<DriverKind>()?;
                let pooled = self
                    .engine()
                    .hosts
                    .records()
                    .iter()
                    .any(|(r, _)| r.driver() == driver);
                if self.engine().drivers().get(driver).is_none() && !pooled {
                    return Err(Error::invalid(format!(
                        "group {}: template {} needs the {driver} driver, which this manager does not have",
                        g.name, p.template
                    )));
                }
            }
        }
        // A machine belongs to one unit only.
        let all = self.db(|s| s.units()).await?;
        for g in &spec.groups {
            if let Some(r) = g.registered() {
                for rs in &r.servers {
                    if let Some(other) = all.iter().find(|u| {
                        u.servers()
                            .any(|(_, s)| s.address.as_ref() == Some(&rs.address))
                    }) {
                        return Err(Error::invalid(format!(
                            "group {}: address {} already belongs to unit {}",
                            g.name, rs.address, other.name
                        )));
                    }
                }
            }
        }
        let unit = Unit::create(name.clone(), actor.account.clone(), spec, now())
            .map_err(|e| Error::invalid(e.to_string()))?;
        let res = self
            .write(vec![
                Change::InsertUnit(unit),
                Self::audit_entry(Some(actor), "unit create", &name, "ok"),
            ])
            .await;
        match res {
            Err(Error::Store(StoreError::Conflict(_))) => Err(Error::invalid_with_hint(
                format!("unit {name} already exists"),
                "choose another name, or delete the old unit with `vsm unit delete`",
            )),
            Err(e) => Err(e),
            Ok(()) => self.show_unit(actor, &name).await,
        }
    }

    fn summary(&self, u: &Unit) -> UnitSummary {
        UnitSummary {
            name: u.name.clone(),
            owner: u.owner.clone(),
            definition_status: u.definition_status(),
            current_version: u.current,
            counts: u.counts(),
            busy_with: self.busy_op(&u.name),
            created_at: u.created,
        }
    }

    /// `vsm unit list` (own units) or `--all` (administrator: every owner's units).
    pub async fn list_units(&self, actor: &Actor, all: bool) -> Result<Vec<UnitSummary>> {
        let action = if all {
            Action::UnitListAll
        } else {
            Action::UnitList
        };
        self.authorize(actor, action, None, "units").await?;
        let units = self.db(|s| s.units()).await?;
        Ok(units
            .iter()
            .filter(|u| if all { true } else { u.owner == actor.account })
            .map(|u| self.summary(u))
            .collect())
    }

    pub(crate) fn server_view(
        &self,
        u: &Unit,
        g: &vsm_core::model::Group,
        s: &vsm_core::model::Server,
    ) -> ServerView {
        ServerView {
            name: s.name.clone(),
            logical: s.logical,
            observed: s.observed,
            observed_at: s.observed_at,
            in_progress: s.in_progress,
            update_scope: u.update_scope(g.name(), s),
            address: s.address.as_ref().map(|a| a.to_string()),
            host: s.host.clone(),
            epoch: s.epoch,
            applied_version: s.applied.as_ref().map(|a| a.version),
            generation: match &s.origin {
                vsm_core::model::Origin::Provisioned { generation, .. } => Some(*generation),
                vsm_core::model::Origin::Registered => None,
            },
            created_at: s.created,
            mark: s.mark.clone(),
            last_error: s.last_error.clone(),
            load: self.engine().load_of(&u.name, &s.name),
        }
    }

    /// `vsm unit show`.
    pub async fn show_unit(&self, actor: &Actor, name: &UnitName) -> Result<UnitDetail> {
        Ok(self.unit_view(actor, name).await?.detail.clone())
    }

    /// `vsm unit show` as the JSON body the API answers: the read model's rendering, made
    /// once per revision of the unit and shared (cloning it copies no bytes).
    pub async fn show_unit_json(
        &self,
        actor: &Actor,
        name: &UnitName,
    ) -> Result<axum::body::Bytes> {
        Ok(self.unit_view(actor, name).await?.json())
    }

    /// `vsm unit show` as the read model keeps it: the view of the unit at its current
    /// revision, rendered once per revision. The caller is authorized on every call (from the
    /// view's owner, which the revision covers: a `chown` bumps it).
    pub(crate) async fn unit_view(&self, actor: &Actor, name: &UnitName) -> Result<Arc<UnitView>> {
        // The revision first: what is read after it is at least as new.
        let rev = self.revisions().unit(name);
        let cached = self.views().get(name).cloned();
        if let Some(view) = cached
            && view.rev == rev
        {
            self.authorize(
                actor,
                Action::UnitShow,
                Some(&view.detail.owner),
                name.as_str(),
            )
            .await?;
            return Ok(view);
        }
        let detail = match self.render_unit(actor, name).await {
            Ok(d) => d,
            Err(e) => {
                if e.kind() == crate::ErrorKind::NotFound {
                    self.views().remove(name);
                }
                return Err(e);
            }
        };
        let view = Arc::new(UnitView {
            rev,
            detail,
            json: std::sync::OnceLock::new(),
        });
        let mut views = self.views();
        match views.get(name) {
            Some(newer) if newer.rev >= rev => {}
            _ => {
                views.insert(name.clone(), view.clone());
            }
        }
        Ok(view)
    }

    fn views(&self) -> std::sync::MutexGuard<'_, HashMap<UnitName, Arc<UnitView>>> {
        self.inner.views.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds a unit's view from the store (authorizing the caller).
    async fn render_unit(&self, actor: &Actor, name: &UnitName) -> Result<UnitDetail> {
        let unit = self.unit_for(actor, Action::UnitShow, name).await?;
        let n = name.clone();
        let ops = self.db(move |s| s.operations(Some(&n), 5)).await?;
        let mut groups: Vec<GroupView> = unit
            .groups
            .iter()
            .map(|g| GroupView {
                name: g.name().clone(),
                kind: match &g.spec.kind {
                    vsm_core::model::GroupKind::Provisioned(p) => GroupKindView::Provisioned {
                        template: p.template.clone(),
                        count: p.count,
                        min: p.min,
                        max: p.max,
                    },
                    vsm_core::model::GroupKind::Registered(_) => GroupKindView::Registered,
                },
                start_order: g.spec.start_order,
                servers: {
                    // By name, numbers as numbers (web-2 before web-10): servers provisioned
                    // together get their sequence numbers in whatever order they began.
                    let mut servers: Vec<&vsm_core::model::Server> = g.servers.iter().collect();
                    servers.sort_by(|a, b| {
                        natural_key(a.name.as_str()).cmp(&natural_key(b.name.as_str()))
                    });
                    servers
                        .into_iter()
                        .map(|s| self.server_view(&unit, g, s))
                        .collect()
                },
            })
            .collect();
        groups.sort_by_key(|g| g.start_order);
        let s = self.summary(&unit);
        Ok(UnitDetail {
            name: unit.name.clone(),
            owner: unit.owner.clone(),
            created_at: unit.created,
            definition_status: s.definition_status,
            current_version: unit.current,
            versions: unit
                .definitions
                .iter()
                .map(|d| VersionInfo {
                    version: d.version,
                    digest: d.digest.clone(),
                    created_at: d.imported,
                })
                .collect(),
            counts: s.counts,
            groups,
            busy_with: s.busy_with,
            last_operations: ops,
        })
    }

    /// `vsm unit chown` (administrator).
    pub async fn chown_unit(&self, actor: &Actor, name: &UnitName, to: &AccountName) -> Result<()> {
        let mut unit = self.unit_for(actor, Action::UnitChown, name).await?;
        if let Some(op) = self.busy_op(name) {
            return Err(Error::Busy {
                unit: name.clone(),
                operation: op,
            });
        }
        let t = to.clone();
        self.db(move |s| s.account(&t))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Account, to))?;
        let old = std::mem::replace(&mut unit.owner, to.clone());
        self.write(vec![
            Change::PutUnitMeta(unit),
            Self::audit_entry(Some(actor), "unit chown", name, format!("{old} -> {to}")),
        ])
        .await
    }

    // ------------------------------------------------------------------ definitions

    /// `vsm unit import`: the definition directory becomes a new immutable version (or the
    /// current version, when identical).
    pub async fn import_definitions(
        &self,
        actor: &Actor,
        unit: &UnitName,
        dir: &Utf8Path,
    ) -> Result<ImportResult> {
        self.check_running()?;
        let u = self.unit_for(actor, Action::UnitImport, unit).await?;
        engine::import(
            self.engine(),
            actor,
            u,
            engine::ImportSource::Dir(dir.to_owned()),
        )
        .await
    }

    /// `vsm unit import` of an upload: the definition directory packed as a tar stream, read
    /// as it arrives (blocking reads, on a blocking thread) and stored without being unpacked
    /// anywhere first; problems name paths inside the directory. A reader that fails (a
    /// broken connection) fails the import with nothing stored.
    pub async fn import_definitions_tar(
        &self,
        actor: &Actor,
        unit: &UnitName,
        archive: impl std::io::Read + Send + 'static,
    ) -> Result<ImportResult> {
        self.check_running()?;
        let u = self.unit_for(actor, Action::UnitImport, unit).await?;
        engine::import(
            self.engine(),
            actor,
            u,
            engine::ImportSource::Tar(Box::new(archive)),
        )
        .await
    }

    /// `vsm unit export`: writes a version (default: current) out as a directory.
    pub async fn export_definitions(
        &self,
        actor: &Actor,
        unit: &UnitName,
        version: Option<DefinitionVersion>,
        dest: &Utf8Path,
    ) -> Result<VersionInfo> {
        let u = self.unit_for(actor, Action::UnitExport, unit).await?;
        engine::export(self.engine(), u, version, dest).await
    }

    /// `vsm unit export` as a tar stream: the version (default: current), ready to be
    /// written with [`TarExport::write_to`](crate::TarExport::write_to) on a blocking thread.
    pub async fn export_definitions_tar(
        &self,
        actor: &Actor,
        unit: &UnitName,
        version: Option<DefinitionVersion>,
    ) -> Result<crate::TarExport> {
        let u = self.unit_for(actor, Action::UnitExport, unit).await?;
        engine::export_tar(self.engine(), &u, version)
    }

    /// `vsm unit diff`: what importing `dir` would change, per group and file.
    pub async fn diff_definitions(
        &self,
        actor: &Actor,
        unit: &UnitName,
        dir: &Utf8Path,
    ) -> Result<DefinitionDiff> {
        let u = self.unit_for(actor, Action::UnitDiff, unit).await?;
        engine::diff(self.engine(), u, engine::ImportSource::Dir(dir.to_owned())).await
    }

    /// `vsm unit diff` of an upload: what importing the definition directory packed in the tar
    /// stream `archive` would change (read as it arrives, on a blocking thread; nothing is
    /// stored).
    pub async fn diff_definitions_tar(
        &self,
        actor: &Actor,
        unit: &UnitName,
        archive: impl std::io::Read + Send + 'static,
    ) -> Result<DefinitionDiff> {
        let u = self.unit_for(actor, Action::UnitDiff, unit).await?;
        engine::diff(
            self.engine(),
            u,
            engine::ImportSource::Tar(Box::new(archive)),
        )
        .await
    }

    // ------------------------------------------------------------------ servers

    /// `vsm server logs`.
    pub async fn server_logs(
        &self,
        actor: &Actor,
        unit: &UnitName,
        server: &ServerName,
        tail: Option<usize>,
    ) -> Result<ServerLogs> {
        let u = self.unit_for(actor, Action::ServerLogs, unit).await?;
        engine::server_logs(self.engine(), &u, server, tail).await
    }

    /// `vsm server mark`: a manual failure mark with a comment.
    pub async fn mark_server(
        &self,
        actor: &Actor,
        unit: &UnitName,
        server: &ServerName,
        req: MarkRequest,
    ) -> Result<()> {
        self.mark_inner(actor, unit, server, Some(req.comment))
            .await
    }

    /// `vsm server unmark`.
    pub async fn unmark_server(
        &self,
        actor: &Actor,
        unit: &UnitName,
        server: &ServerName,
    ) -> Result<()> {
        self.mark_inner(actor, unit, server, None).await
    }

    async fn mark_inner(
        &self,
        actor: &Actor,
        unit: &UnitName,
        server: &ServerName,
        comment: Option<String>,
    ) -> Result<()> {
        let action = if comment.is_some() {
            Action::ServerMark
        } else {
            Action::ServerUnmark
        };
        let mut u = self.unit_for(actor, action, unit).await?;
        let group = u
            .server(server)
            .map(|(g, _)| g.name().clone())
            .ok_or_else(|| Error::not_found(Entity::Server, server))?;
        match &comment {
            Some(c) => u.mark(server, c.clone(), now()),
            None => u.unmark(server),
        }
        .map_err(|e| Error::invalid(e.to_string()))?;
        let s = u
            .server(server)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| Error::not_found(Entity::Server, server))?;
        // The engine holds the live model of a busy unit; tell it too.
        self.engine().ops.note_mark(unit, server, s.mark.clone());
        self.write(vec![
            Change::PutServer {
                unit: unit.clone(),
                group,
                server: s,
            },
            Self::audit_entry(
                Some(actor),
                action.as_str(),
                format!("{unit}/{server}"),
                comment.unwrap_or_else(|| "ok".into()),
            ),
        ])
        .await
    }
}

/// A server name as `(text before its trailing number, the number, the name)`, so that names
/// sort with their numbers as numbers.
fn natural_key(name: &str) -> (&str, u64, &str) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (head, tail) = name.split_at(name.len() - digits);
    (head, tail.parse().unwrap_or(0), name)
}

#[cfg(test)]
mod tests {
    use super::natural_key;

    #[test]
    fn server_names_sort_with_their_numbers_as_numbers() {
        let mut names = vec!["web-10", "web-2", "db-1", "web-1", "web", "web-x"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["db-1", "web", "web-1", "web-2", "web-10", "web-x"]);
    }
}
