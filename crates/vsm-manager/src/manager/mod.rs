//! [`Manager`]: the public entry point. It authenticates and authorizes every request, reads and
//! writes the store, and hands long operations to the engine.
//!
//! It must not parse HTTP or command lines, and never picks a hypervisor backend itself: the
//! caller injects drivers through [`DriverSet`].
//!
//! This file holds the struct, `init`/`open`/`shutdown` and the helpers every area shares;
//! each area of the API is one file: `accounts`, `templates`, `units`, `operations`, `admin`.

mod accounts;
mod admin;
mod hosts;
mod migrate;
mod operations;
mod templates;
mod units;

use std::collections::HashMap;
use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::model::Unit;
use vsm_core::{AccountName, Action, Role, Timestamp, UnitName};

use crate::api::*;
use crate::auth;
use crate::clock::now;
use crate::config::{CONFIG_FILE, ManagerConfig, PasswordCost, Settings};
use crate::drivers::DriverSet;
use crate::engine::{self, EngineCtx};
use crate::error::{Entity, Error, OpenError, Result};
use crate::jp1::Jp1Sink;
use crate::paths::LOCK_FILE;
use crate::revision::{Revised, Revisions};
use crate::store::{AuditEntry, Change, Fence, Store, StoreError, StoreTarget, StoredAccount};

pub use migrate::{MigrateOptions, MigrateReport, RestoreOptions};

/// What [`Manager::init`] needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The new state directory (absent or empty).
    pub state_dir: Utf8PathBuf,
    /// The first administrator.
    pub admin: AccountName,
    /// Its password.
    pub password: Password,
    /// The settings written to `config.yaml` (default: all defaults). Their `store` picks
    /// the state store; a PostgreSQL database must not hold a vsm state yet.
    pub settings: Settings,
    /// Password hashing cost.
    pub password_cost: PasswordCost,
    /// The PostgreSQL password when the settings name no `store_password_file`.
    pub store_password: Option<Password>,
}

impl InitOptions {
    /// Defaults for everything but the directory and the administrator.
    pub fn new(state_dir: impl Into<Utf8PathBuf>, admin: AccountName, password: Password) -> Self {
        InitOptions {
            state_dir: state_dir.into(),
            admin,
            password,
            settings: Settings::default(),
            password_cost: PasswordCost::Standard,
            store_password: None,
        }
    }

    /// The configuration the new directory will have.
    fn config(&self) -> ManagerConfig {
        let mut config = ManagerConfig::new(self.state_dir.clone());
        config.settings = self.settings.clone();
        config.password_cost = self.password_cost;
        config.store_password = self.store_password.clone();
        config
    }
}

pub(crate) struct Inner {
    pub(crate) config: ManagerConfig,
    /// What the engine works with: the store, the drivers, the settings, the event sink, the
    /// running operations.
    pub(crate) engine: Arc<EngineCtx>,
    login_attempts: Mutex<HashMap<AccountName, Vec<Timestamp>>>,
    /// Sessions already looked up, by token digest: valid while the accounts' revision (any
    /// account or session change) is the one they were read at.
    pub(crate) sessions: Mutex<accounts::SessionCache>,
    /// Each shown unit's view at its revision (`unit show` at an unchanged revision is a map
    /// look-up and the authorization).
    pub(crate) views: Mutex<HashMap<UnitName, Arc<units::UnitView>>>,
    /// A password hash of this manager's cost that no password was ever set to.
    dummy_hash: std::sync::OnceLock<String>,
    _lock: File,
}

/// The vsm manager: state, operations, monitoring. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Manager {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("state_dir", &self.inner.config.state_dir)
            .field("drivers", self.inner.engine.drivers())
            .finish()
    }
}

/// Creates `path` (and missing parents) owner-only; an existing directory is made 0700 too.
pub(crate) fn mkdir_private(path: &Utf8Path) -> std::result::Result<(), OpenError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| OpenError::io(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| OpenError::io(path, e))
}

pub(crate) fn write_private(path: &Utf8Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = Utf8PathBuf::from(format!("{path}.tmp"));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

pub(crate) fn lock_state_dir(dir: &Utf8Path) -> std::result::Result<File, OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| OpenError::io(&path, e))?;
    // SAFETY: flock on a file descriptor we own; no memory is touched.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(OpenError::Locked {
            dir: dir.to_string(),
        });
    }
    Ok(file)
}

impl Manager {
    /// Creates a state directory: `config.yaml` (commented, every setting defaulted), the
    /// definition snapshot store, the state store (`state.db`, or the PostgreSQL database the
    /// settings name, migrated) and the first administrator. The directory must be absent or
    /// empty; a PostgreSQL database must hold no vsm state ([`OpenError::StoreInUse`]). On a
    /// failure, nothing is left in the directory. Blocks: inside a Tokio runtime, call it
    /// through `spawn_blocking` (a PostgreSQL store cannot be used on an async worker).
    pub fn init(options: InitOptions) -> std::result::Result<(), OpenError> {
        let dir = &options.state_dir;
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(|e| OpenError::io(dir, e))?;
            if entries.next().is_some() {
                return Err(OpenError::NotEmpty {
                    dir: dir.to_string(),
                });
            }
        }
        auth::check_password(options.password.expose())
            .map_err(|m| OpenError::Invalid(Box::new(Error::data("password", None, None, m))))?;
        let config = options.config();
        config.settings.check(dir.join(CONFIG_FILE).as_str())?;
        let target = config.store_target()?;
        // A database is checked before anything is created here.
        let pg = match &target {
            StoreTarget::Postgres(_) => {
                let store = target.open()?;
                if crate::store::copy::holds_state(store.as_ref())? {
                    return Err(OpenError::StoreInUse {
                        store: target.describe(),
                    });
                }
                Some(store)
            }
            StoreTarget::Sqlite(_) => None,
        };
        let existed = dir.exists();
        let res = Self::init_in(&options, &config, &target, pg);
        if res.is_err() {
            // Nothing half-made stays: the directory was absent or empty.
            if existed {
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for e in entries.flatten() {
                        let p = e.path();
                        let _ = if p.is_dir() {
                            std::fs::remove_dir_all(&p)
                        } else {
                            std::fs::remove_file(&p)
                        };
                    }
                }
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        res
    }

    fn init_in(
        options: &InitOptions,
        config: &ManagerConfig,
        target: &StoreTarget,
        pg: Option<Box<dyn Store>>,
    ) -> std::result::Result<(), OpenError> {
        let dir = &options.state_dir;
        mkdir_private(dir)?;
        let definitions = config.definitions_dir();
        if definitions.starts_with(dir) || !definitions.exists() {
            mkdir_private(&definitions)?;
        }
        let config_file = dir.join(CONFIG_FILE);
        write_private(&config_file, options.settings.render().as_bytes())
            .map_err(|e| OpenError::io(&config_file, e))?;
        let store = match pg {
            Some(store) => store,
            None => target.open()?,
        };
        let hash = auth::hash_password(options.password.expose(), options.password_cost)
            .map_err(|m| OpenError::Invalid(Box::new(Error::failed_msg(m))))?;
        let at = now();
        store.write(&[
            Change::InsertAccount(StoredAccount {
                name: options.admin.clone(),
                role: Role::Administrator,
                password_hash: hash,
                created_at: at,
            }),
            Change::Audit(AuditEntry {
                at,
                actor: None,
                action: "manager init".into(),
                target: options.admin.to_string(),
                result: "ok".into(),
            }),
        ])?;
        Ok(())
    }

    /// Opens an initialized state directory with the injected drivers: takes the directory's
    /// lock, marks operations left running by a previous process `interrupted`, and (when
    /// enabled) starts the monitor. Must be called inside a Tokio runtime.
    pub async fn open(
        config: ManagerConfig,
        drivers: DriverSet,
    ) -> std::result::Result<Manager, OpenError> {
        let dir = config.state_dir.clone();
        let target = config.store_target()?;
        if let StoreTarget::Sqlite(db) = &target
            && !db.exists()
        {
            return Err(OpenError::NotInitialized {
                dir: dir.to_string(),
            });
        }
        let lock = lock_state_dir(&dir)?;
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
        let definitions = config.definitions_dir();
        // What an earlier run was killed in the middle of: staged blobs of an import, uploads
        // and exports being prepared. Nobody else uses them while this process holds the lock
        // — except a definition store that managers on one PostgreSQL database share: the
        // active one may be importing into it, so that one is cleaned at a takeover.
        let shared = matches!(target, StoreTarget::Postgres(_));
        let tmp_dirs = ((!shared).then(|| definitions.clone()), dir.join("tmp"));
        tokio::task::spawn_blocking(move || remove_temporaries(tmp_dirs.0.as_deref(), &tmp_dirs.1))
            .await
            .map_err(|e| OpenError::Invalid(Box::new(Error::failed("cleanup task failed", e))))?;
        // On PostgreSQL several managers may share the database: the store's writes are fenced
        // on the epoch the election gives this manager.
        let pg = match &target {
            StoreTarget::Postgres(pg) => Some((pg.clone(), Arc::new(Fence::new()))),
            StoreTarget::Sqlite(_) => None,
        };
        let fence = pg.as_ref().map(|(_, f)| f.clone());
        // Every store call blocks (PostgreSQL's on a runtime of its own): never on this thread.
        let (store, max) = tokio::task::spawn_blocking(move || {
            let store = target.open_fenced(fence)?;
            let max = store.max_operation_id()?;
            Ok::<_, StoreError>((store, max))
        })
        .await
        .map_err(|e| OpenError::Invalid(Box::new(Error::failed("store task failed", e))))??;
        let revisions = Arc::new(Revisions::new(crate::revision::new_instance()));
        let store: Arc<dyn Store> = Arc::new(Revised::new(store, revisions.clone()));
        let engine = Arc::new(EngineCtx::new(
            store,
            revisions,
            drivers,
            definitions,
            config.settings.clone(),
            Jp1Sink::open(&dir, &config.settings.jp1),
            max + 1,
            pg.is_some(),
        ));
        engine.leadership.identify(
            manager_name(&dir),
            config.settings.service.advertise_url.clone(),
        );
        let manager = Manager {
            inner: Arc::new(Inner {
                config,
                engine,
                login_attempts: Mutex::new(HashMap::new()),
                sessions: Mutex::new(accounts::SessionCache::default()),
                views: Mutex::new(HashMap::new()),
                dummy_hash: std::sync::OnceLock::new(),
                _lock: lock,
            }),
        };
        let monitor = manager.inner.config.monitor;
        match pg {
            // One manager on its SQLite store: active from the start, reconciling what a crash
            // left.
            None => engine::take_over(manager.engine(), 0, monitor)
                .await
                .map_err(|e| match e {
                    Error::Store(s) => OpenError::Store(s),
                    other => OpenError::Invalid(Box::new(other)),
                })?,
            // The election decides; it tries once before this returns, so a lone manager is
            // active at once (and reconciled as after a crash), and goes on in the background.
            Some((target, fence)) => {
                let name = manager_name(&manager.inner.config.state_dir);
                engine::start_election(
                    manager.engine(),
                    engine::ElectionConfig {
                        target,
                        fence,
                        name,
                        monitor,
                    },
                )
                .await?;
            }
        }
        manager.jp1_event(&vsm_jp1::VsmEvent::ManagerStarted);
        Ok(manager)
    }

    /// Stops accepting new operations, cancels the monitor, and waits up to `grace` for running
    /// operations; what is still running afterwards is journaled as interrupted on next open.
    pub async fn shutdown(&self, grace: Duration) {
        let engine = self.engine();
        engine.begin_shutdown();
        engine
            .ops
            .wait_idle(tokio::time::Instant::now() + grace)
            .await;
        self.jp1_event(&vsm_jp1::VsmEvent::ManagerStopped);
        let _ = tokio::time::timeout(Duration::from_secs(5), engine.drain_events()).await;
    }

    /// Queues a JP1/IM event when JP1 is enabled (never blocks on JP1).
    pub(crate) fn jp1_event(&self, event: &vsm_jp1::VsmEvent) {
        self.engine().event(event);
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Utf8Path {
        &self.inner.config.state_dir
    }

    /// Sets the URL this manager's API is reached at, which a standby names when it sends a
    /// client to the active manager (the `service.advertise_url` setting wins when set).
    pub fn advertise(&self, url: &str) {
        if self.inner.config.settings.service.advertise_url.is_none() {
            self.engine().leadership.advertise(url.to_owned());
        }
    }

    /// Whether this manager is the active one (always, on a SQLite store).
    pub fn is_active(&self) -> bool {
        self.engine().leadership.is_active()
    }

    /// On a PostgreSQL store: this manager's role, the epoch, the active manager and the
    /// peers last seen (none on SQLite, where it is the only manager).
    pub fn ha_status(&self) -> Option<HaStatus> {
        self.engine().leadership.status()
    }

    // ------------------------------------------------------------------ helpers

    /// The revisions of what this manager shows.
    pub(crate) fn revisions(&self) -> &Arc<Revisions> {
        &self.engine().revisions
    }

    /// The engine's context.
    pub(crate) fn engine(&self) -> &Arc<EngineCtx> {
        &self.inner.engine
    }

    /// Runs a store call on the blocking pool.
    pub(crate) async fn db<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        self.engine().db(f).await
    }

    pub(crate) async fn write(&self, changes: Vec<Change>) -> Result<()> {
        self.engine().write(changes).await
    }

    fn audit_entry(
        actor: Option<&Actor>,
        action: &str,
        target: impl ToString,
        result: impl ToString,
    ) -> Change {
        Change::Audit(AuditEntry {
            at: now(),
            actor: actor.map(|a| a.account.clone()),
            action: action.to_owned(),
            target: target.to_string(),
            result: result.to_string(),
        })
    }

    /// Checks the policy; a refusal is audited.
    async fn authorize(
        &self,
        actor: &Actor,
        action: Action,
        owner: Option<&AccountName>,
        target: &str,
    ) -> Result<()> {
        if let Err(denied) = vsm_core::authorize(&actor.as_account(), action, owner) {
            let _ = self
                .write(vec![Self::audit_entry(
                    Some(actor),
                    action.as_str(),
                    target,
                    "denied",
                )])
                .await;
            return Err(denied.into());
        }
        Ok(())
    }

    pub(crate) async fn unit_for(
        &self,
        actor: &Actor,
        action: Action,
        name: &UnitName,
    ) -> Result<Unit> {
        let n = name.clone();
        let unit = self
            .db(move |s| s.unit(&n))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Unit, name))?;
        self.authorize(actor, action, Some(&unit.owner), name.as_str())
            .await?;
        Ok(unit)
    }

    fn check_running(&self) -> Result<()> {
        self.engine().check_running()
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.engine().settings()
    }
}

/// This manager's name among the managers of one database: its host and state directory.
fn manager_name(dir: &Utf8Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{dir}")
}

/// Removes what a killed manager left in the snapshot store's `tmp/` and in the state
/// directory's `tmp/` (logged; a failure to remove is only a warning).
fn remove_temporaries(definitions: Option<&camino::Utf8Path>, state_tmp: &camino::Utf8Path) {
    if let Some(definitions) = definitions {
        engine::remove_definition_temporaries(definitions);
    }
    if let Ok(entries) = std::fs::read_dir(state_tmp) {
        for ent in entries.flatten() {
            let p = ent.path();
            let r = if ent.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            if let Err(e) = r {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove a temporary file");
            }
        }
    }
}
