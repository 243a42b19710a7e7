//! Administration: the manager's status, log settings, backup, restore and diagnostics (the
//! archives themselves are [`crate::backup`]'s), the JP1/PFM rows and the audit log.

use camino::Utf8Path;
use vsm_core::Action;

use super::{Manager, write_private};
use crate::api::*;
use crate::backup;
use crate::config::CONFIG_FILE;
use crate::error::{Error, OpenError, Result};
use crate::store::AuditEntry;

impl Manager {
    /// The manager's status (`vsm manager status`, `GET /health`).
    pub async fn status(&self) -> Result<ManagerStatus> {
        let units = self.db(|s| s.units()).await?;
        let running = self.engine().ops.ids();
        Ok(ManagerStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            state_dir: self.inner.config.state_dir.clone(),
            units: units.len(),
            servers: units.iter().map(|u| u.servers().count()).sum(),
            running_operations: running,
            drivers: self.engine().drivers().kinds(),
            ha: self.engine().leadership.status(),
        })
    }

    /// `vsm manager log-config` without changes (administrator).
    pub async fn log_settings(&self, actor: &Actor) -> Result<LogSettings> {
        self.authorize(actor, Action::ManagerLogConfigShow, None, "log")
            .await?;
        Ok(self.settings().log)
    }

    /// `vsm manager log-config` with changes (administrator): validated, written to
    /// `config.yaml`, and applied at once to the installed log writer (see
    /// [`crate::logging`]).
    pub async fn set_log_settings(
        &self,
        actor: &Actor,
        change: LogSettingsChange,
    ) -> Result<LogSettings> {
        self.authorize(actor, Action::ManagerLogConfigChange, None, "log")
            .await?;
        let mut settings = self.settings();
        if let Some(d) = change.log_dir {
            if d.trim().is_empty() {
                return Err(Error::invalid("the log directory is empty"));
            }
            settings.log.dir = d;
        }
        if let Some(n) = change.files {
            if !(1..=1000).contains(&n) {
                return Err(Error::invalid("--files must be between 1 and 1000"));
            }
            settings.log.files = n;
        }
        if let Some(m) = change.size_mb {
            if !(1..=4096).contains(&m) {
                return Err(Error::invalid("--size-mb must be between 1 and 4096"));
            }
            settings.log.size_mb = m;
        }
        if let Some(l) = change.level {
            settings.log.level = l;
        }
        let path = self.inner.config.state_dir.join(CONFIG_FILE);
        let text = settings.render();
        let p = path.clone();
        tokio::task::spawn_blocking(move || write_private(&p, text.as_bytes()))
            .await
            .map_err(|e| Error::failed("config task failed", e))?
            .map_err(|e| Error::failed(format!("cannot write {path}"), e))?;
        self.engine().set_settings(settings.clone());
        crate::logging::apply(&self.inner.config.state_dir, &settings.log);
        self.write(vec![Self::audit_entry(
            Some(actor),
            "manager log-config",
            "log",
            serde_json::to_string(&settings.log).unwrap_or_default(),
        )])
        .await?;
        Ok(settings.log)
    }

    /// `vsm manager backup` (administrator): a consistent online backup of the state store,
    /// the definition snapshots and the config, in one archive at `out`.
    pub async fn backup(&self, actor: &Actor, out: &Utf8Path) -> Result<ArchiveInfo> {
        self.authorize(actor, Action::ManagerBackup, None, out.as_str())
            .await?;
        let info = backup::backup(
            self.state_dir(),
            &self.inner.config.definitions_dir(),
            self.db_source(),
            out,
        )
        .await?;
        self.write(vec![Self::audit_entry(
            Some(actor),
            "manager backup",
            out,
            "ok",
        )])
        .await?;
        Ok(info)
    }

    /// `vsm manager restore`: unpacks a backup archive into an empty (or new) state directory,
    /// into the store its configuration names (see [`Manager::restore_with`]). The manager
    /// must not be running on it.
    pub fn restore(
        state_dir: &Utf8Path,
        archive: &Utf8Path,
    ) -> std::result::Result<ArchiveInfo, OpenError> {
        Manager::restore_with(
            super::RestoreOptions::new(state_dir.to_path_buf(), archive.to_path_buf()),
            &mut |_, _| {},
        )
    }

    /// Where a backup or the diagnostics read this manager's database from.
    fn db_source(&self) -> backup::DbSource {
        let pg = matches!(self.inner.config.settings.pg_target(), Ok(Some(_)));
        if pg {
            backup::DbSource::Store(self.engine().store().clone())
        } else {
            backup::DbSource::SqliteFile
        }
    }

    /// `vsm manager diagnose` (administrator): logs, config, a state summary and recent
    /// operations in one archive at `out`. Never contains password hashes or tokens.
    pub async fn diagnostics(&self, actor: &Actor, out: &Utf8Path) -> Result<ArchiveInfo> {
        self.authorize(actor, Action::ManagerDiagnose, None, out.as_str())
            .await?;
        backup::diagnostics(
            self.state_dir(),
            self.db_source(),
            &self.settings().log.dir,
            out,
        )
        .await
    }

    /// The JP1/PFM rows: every visible server's state and load.
    pub async fn pfm_rows(&self, actor: &Actor) -> Result<Vec<PfmRow>> {
        self.authorize(actor, Action::Jp1PfmExport, None, "pfm")
            .await?;
        let units = self.db(|s| s.units()).await?;
        let mut rows = Vec::new();
        for u in units
            .iter()
            .filter(|u| vsm_core::may_see(&actor.as_account(), &u.owner))
        {
            for (g, s) in u.servers() {
                let load = self.engine().load_of(&u.name, &s.name);
                rows.push(PfmRow {
                    unit: u.name.clone(),
                    group: g.name().clone(),
                    server: s.name.clone(),
                    logical: s.logical,
                    observed: s.observed,
                    cpu_percent: load.map_or(0.0, |l| l.cpu_percent),
                    memory_bytes: load.map_or(0, |l| l.memory_bytes),
                    at: load.map_or(s.observed_at.unwrap_or(s.created), |l| l.at),
                });
            }
        }
        Ok(rows)
    }

    /// The audit log, newest first (administrator).
    pub async fn audit_log(&self, actor: &Actor, limit: usize) -> Result<Vec<AuditEntry>> {
        self.authorize(actor, Action::ManagerStatus, None, "audit")
            .await?;
        self.db(move |s| s.audit_log(limit)).await
    }
}
