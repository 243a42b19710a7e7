//! [`Manager`]: the public entry point. It authenticates and authorizes every request, reads and
//! writes the store, and hands long operations to the engine.
//!
//! It must not parse HTTP or command lines, and never picks a hypervisor backend itself: the
//! caller injects drivers through [`DriverSet`].

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use camino::{Utf8Path, Utf8PathBuf};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use vsm_core::model::{Template, Unit};
use vsm_core::{
    AccountName, Action, DefinitionVersion, GroupName, OperationId, Role, ServerName, TemplateName,
    Timestamp, UnitName,
};

use crate::api::*;
use crate::auth;
use crate::config::{CONFIG_FILE, ManagerConfig, PasswordCost, Settings};
use crate::error::{Entity, Error, OpenError, Result};
use crate::store::{
    AuditEntry, Change, SqliteStore, Store, StoreError, StoredAccount, StoredSession,
};
use crate::unitfile;
use vsm_hypervisor::Hypervisor;

/// The database file inside the state directory.
pub const DB_FILE: &str = "state.db";
/// The lock file a running manager holds (`flock`) inside the state directory.
pub const LOCK_FILE: &str = "manager.lock";
/// The definition snapshot store directory inside the state directory.
pub const DEFINITIONS_DIR: &str = "definitions";

/// The hypervisor drivers the caller (the binary, a test, an embedder) injects, one per kind.
#[derive(Clone, Default)]
pub struct DriverSet {
    drivers: BTreeMap<DriverKind, Arc<dyn Hypervisor>>,
}

impl std::fmt::Debug for DriverSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.drivers.keys()).finish()
    }
}

impl DriverSet {
    /// No drivers.
    pub fn new() -> Self {
        DriverSet::default()
    }

    /// Adds (or replaces) the driver of `kind`.
    pub fn with(mut self, kind: DriverKind, driver: Arc<dyn Hypervisor>) -> Self {
        self.drivers.insert(kind, driver);
        self
    }

    /// The kinds present.
    pub fn kinds(&self) -> Vec<DriverKind> {
        self.drivers.keys().copied().collect()
    }

    /// The driver of `kind`.
    pub fn get(&self, kind: DriverKind) -> Option<&Arc<dyn Hypervisor>> {
        self.drivers.get(&kind)
    }
}

/// What [`Manager::init`] needs.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The new state directory (absent or empty).
    pub state_dir: Utf8PathBuf,
    /// The first administrator.
    pub admin: AccountName,
    /// Its password.
    pub password: Password,
    /// The settings written to `config.yaml` (default: all defaults).
    pub settings: Settings,
    /// Password hashing cost.
    pub password_cost: PasswordCost,
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
        }
    }
}

/// A running operation, as the manager tracks it in memory.
struct Running {
    unit: Option<UnitName>,
    cancel: CancellationToken,
    events: broadcast::Sender<ProgressEvent>,
    done: tokio::sync::watch::Receiver<bool>,
    live: Option<Arc<crate::engine::Live>>,
}

#[derive(Default)]
struct OpsState {
    running: HashMap<OperationId, Running>,
    locks: HashMap<UnitName, OperationId>,
}

pub(crate) struct Inner {
    pub(crate) config: ManagerConfig,
    pub(crate) settings: RwLock<Settings>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) drivers: DriverSet,
    ops: Mutex<OpsState>,
    ops_changed: tokio::sync::Notify,
    next_op: AtomicU64,
    pub(crate) shutdown: CancellationToken,
    login_attempts: Mutex<HashMap<AccountName, Vec<Timestamp>>>,
    /// When old step journals were last purged (milliseconds since the epoch; 0: not yet).
    journals_purged_at: std::sync::atomic::AtomicI64,
    /// A password hash of this manager's cost that no password was ever set to.
    dummy_hash: std::sync::OnceLock<String>,
    pub(crate) writer: crate::engine::Writer,
    pub(crate) loads: Mutex<HashMap<(UnitName, ServerName), LoadView>>,
    /// JP1/IM events, when `jp1.enabled`.
    pub(crate) jp1: Option<crate::jp1::Jp1Sink>,
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
            .field("drivers", &self.inner.drivers)
            .finish()
    }
}

/// The current time.
pub(crate) fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

/// Creates `path` (and missing parents) owner-only; an existing directory is made 0700 too.
fn mkdir_private(path: &Utf8Path) -> std::result::Result<(), OpenError> {
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

fn lock_state_dir(dir: &Utf8Path) -> std::result::Result<File, OpenError> {
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
    /// Creates a state directory: `config.yaml` (commented, every setting defaulted), the state
    /// store and the first administrator. The directory must be absent or empty.
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
        mkdir_private(dir)?;
        mkdir_private(&dir.join(DEFINITIONS_DIR))?;
        let config = dir.join(CONFIG_FILE);
        write_private(&config, options.settings.render().as_bytes())
            .map_err(|e| OpenError::io(&config, e))?;
        let store = SqliteStore::open(&dir.join(DB_FILE))?;
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
        let db = dir.join(DB_FILE);
        if !db.exists() {
            return Err(OpenError::NotInitialized {
                dir: dir.to_string(),
            });
        }
        let lock = lock_state_dir(&dir)?;
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&db))
            .await
            .map_err(|e| OpenError::Invalid(Box::new(Error::failed("store task failed", e))))??;
        let store: Arc<dyn Store> = Arc::new(store);
        let max = store.max_operation_id()?;
        let config_jp1 = config.settings.jp1.clone();
        let manager = Manager {
            inner: Arc::new(Inner {
                settings: RwLock::new(config.settings.clone()),
                config,
                store: store.clone(),
                drivers,
                ops: Mutex::new(OpsState::default()),
                ops_changed: tokio::sync::Notify::new(),
                next_op: AtomicU64::new(max + 1),
                shutdown: CancellationToken::new(),
                login_attempts: Mutex::new(HashMap::new()),
                journals_purged_at: std::sync::atomic::AtomicI64::new(0),
                dummy_hash: std::sync::OnceLock::new(),
                writer: crate::engine::Writer::spawn(store.clone()),
                loads: Mutex::new(HashMap::new()),
                jp1: crate::jp1::Jp1Sink::open(&dir, &config_jp1),
                _lock: lock,
            }),
        };
        manager.recover_interrupted().await.map_err(|e| match e {
            Error::Store(s) => OpenError::Store(s),
            other => OpenError::Invalid(Box::new(other)),
        })?;
        if let Some(purge) = manager.journal_purge(now())
            && let Err(e) = manager.write(vec![purge]).await
        {
            tracing::warn!(error = %e, "cannot purge old step journals");
        }
        if manager.inner.config.monitor {
            crate::engine::spawn_monitor(&manager);
        }
        manager.jp1_event(&vsm_jp1::VsmEvent::ManagerStarted);
        Ok(manager)
    }

    /// Stops accepting new operations, cancels the monitor, and waits up to `grace` for running
    /// operations; what is still running afterwards is journaled as interrupted on next open.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.inner.ops_changed.notified();
            if self.ops().running.is_empty() {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        self.jp1_event(&vsm_jp1::VsmEvent::ManagerStopped);
        if let Some(jp1) = &self.inner.jp1 {
            let _ = tokio::time::timeout(Duration::from_secs(5), jp1.drain()).await;
        }
    }

    /// Queues a JP1/IM event when JP1 is enabled (never blocks on JP1).
    pub(crate) fn jp1_event(&self, event: &vsm_jp1::VsmEvent) {
        if let Some(jp1) = &self.inner.jp1 {
            jp1.send(event);
        }
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Utf8Path {
        &self.inner.config.state_dir
    }

    // ------------------------------------------------------------------ helpers

    fn ops(&self) -> std::sync::MutexGuard<'_, OpsState> {
        self.inner.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a store call on the blocking pool.
    pub(crate) async fn db<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> std::result::Result<T, StoreError> + Send + 'static,
    {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| Error::failed("store task failed", e))?
            .map_err(Error::from)
    }

    pub(crate) async fn write(&self, changes: Vec<Change>) -> Result<()> {
        self.db(move |s| s.write(&changes)).await
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
        if self.inner.shutdown.is_cancelled() {
            Err(Error::ShuttingDown)
        } else {
            Ok(())
        }
    }

    // ------------------------------------------------------------------ accounts and sessions

    /// Checks a name and password; failed attempts are audited and rate-limited per account.
    ///
    /// An attempt counts against the account's limit when it arrives (and stops counting if
    /// the password was right), so guesses sent at once cannot pass the limit together.
    pub async fn authenticate(&self, name: &AccountName, password: &Password) -> Result<Actor> {
        let limit = self.settings().auth.max_failed_logins_per_minute as usize;
        let t = now();
        // Whether this attempt filled the account's budget: its failure starts the lock-out.
        let fills_budget = {
            let mut attempts = self.login_attempts();
            let list = attempts.entry(name.clone()).or_default();
            list.retain(|at| t.millis_since(*at) < 60_000);
            if limit > 0 && list.len() >= limit {
                return Err(Error::Unauthenticated(
                    "too many failed logins for this account; wait a minute and try again".into(),
                ));
            }
            list.push(t);
            limit > 0 && list.len() == limit
        };
        let n = name.clone();
        let account = self.db(move |s| s.account(&n)).await?;
        let pw = password.expose().to_owned();
        // An unknown account costs the same as a wrong password (checked against a hash of
        // the same cost), so the answer time does not tell which accounts exist.
        let hash = match &account {
            Some(a) => a.password_hash.clone(),
            None => self.dummy_hash(),
        };
        let verified = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash))
            .await
            .unwrap_or(false);
        let ok = account.is_some() && verified;
        match (account, ok) {
            (Some(a), true) => {
                // A right password gives its slot back.
                if let Some(list) = self.login_attempts().get_mut(name)
                    && let Some(i) = list.iter().rposition(|at| *at == t)
                {
                    list.remove(i);
                }
                self.write(vec![Self::audit_entry(None, "login", name, "ok")])
                    .await?;
                Ok(Actor {
                    account: a.name,
                    role: a.role,
                })
            }
            _ => {
                let mut audit = vec![Self::audit_entry(None, "login", name, "failed")];
                if fills_budget {
                    // Once per lock-out: the refusals during it are not written one by one.
                    audit.push(Self::audit_entry(
                        None,
                        "login lock-out",
                        name,
                        "account locked for a minute after too many failed logins",
                    ));
                }
                self.write(audit).await?;
                self.jp1_event(&vsm_jp1::VsmEvent::LoginFailed {
                    account: name.clone(),
                    source: None,
                });
                Err(Error::Unauthenticated(
                    "wrong account name or password".into(),
                ))
            }
        }
    }

    /// Login attempts per account within the last minute (see [`Manager::authenticate`]).
    fn login_attempts(&self) -> std::sync::MutexGuard<'_, HashMap<AccountName, Vec<Timestamp>>> {
        self.inner
            .login_attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A password hash of this manager's cost that no password was ever set to (made once).
    fn dummy_hash(&self) -> String {
        let cost = self.inner.config.password_cost;
        self.inner
            .dummy_hash
            .get_or_init(|| auth::hash_password(&auth::new_token(), cost).unwrap_or_default())
            .clone()
    }

    /// Creates a session for an authenticated actor: a random token, stored hashed, expiring
    /// after `auth.session_ttl_secs`.
    pub async fn create_session(&self, actor: &Actor) -> Result<Session> {
        let token = auth::new_token();
        let created = now();
        let ttl = self.settings().auth.session_ttl_secs as i64 * 1000;
        let expires_at = created.saturating_add_millis(ttl);
        self.write(vec![
            Change::PurgeSessions(created),
            Change::InsertSession(StoredSession {
                token_hash: auth::token_digest(&token),
                account: actor.account.clone(),
                created_at: created,
                expires_at,
            }),
        ])
        .await?;
        Ok(Session {
            token,
            account: actor.account.clone(),
            role: actor.role,
            expires_at,
        })
    }

    /// [`Manager::authenticate`] then [`Manager::create_session`].
    pub async fn login(&self, name: &AccountName, password: &Password) -> Result<Session> {
        let actor = self.authenticate(name, password).await?;
        self.create_session(&actor).await
    }

    /// The actor of a session token (unknown or expired tokens are refused).
    pub async fn actor_for_token(&self, token: &str) -> Result<Actor> {
        let digest = auth::token_digest(token);
        let session = self.db(move |s| s.session(&digest)).await?;
        let Some(session) = session else {
            return Err(Error::Unauthenticated(
                "unknown session; log in again".into(),
            ));
        };
        if session.expires_at <= now() {
            return Err(Error::Unauthenticated(
                "the session expired; log in again".into(),
            ));
        }
        let name = session.account.clone();
        let account = self
            .db(move |s| s.account(&name))
            .await?
            .ok_or_else(|| Error::Unauthenticated("the account was deleted".into()))?;
        Ok(Actor {
            account: account.name,
            role: account.role,
        })
    }

    /// Ends a session (`vsm logout`).
    pub async fn delete_session(&self, token: &str) -> Result<()> {
        self.write(vec![Change::DeleteSession(auth::token_digest(token))])
            .await
    }

    /// `vsm account add` (administrator).
    pub async fn add_account(&self, actor: &Actor, req: AddAccount) -> Result<AccountInfo> {
        self.authorize(actor, Action::AccountAdd, None, req.name.as_str())
            .await?;
        auth::check_password(req.password.expose())
            .map_err(|m| Error::data("password", None, None, m))?;
        let cost = self.inner.config.password_cost;
        let pw = req.password.expose().to_owned();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw, cost))
            .await
            .map_err(|e| Error::failed("hashing task failed", e))?
            .map_err(Error::failed_msg)?;
        let created_at = now();
        let res = self
            .write(vec![
                Change::InsertAccount(StoredAccount {
                    name: req.name.clone(),
                    role: req.role,
                    password_hash: hash,
                    created_at,
                }),
                Self::audit_entry(Some(actor), "account add", &req.name, "ok"),
            ])
            .await;
        match res {
            Err(Error::Store(StoreError::Conflict(_))) => Err(Error::invalid_with_hint(
                format!("account {} already exists", req.name),
                "choose another name, or change its password with `vsm account passwd`",
            )),
            Err(e) => Err(e),
            Ok(()) => Ok(AccountInfo {
                name: req.name,
                role: req.role,
                created_at,
                units: vec![],
            }),
        }
    }

    /// `vsm account delete` (administrator; refused while it owns units, for the last
    /// administrator, and for oneself).
    pub async fn delete_account(&self, actor: &Actor, name: &AccountName) -> Result<()> {
        let n = name.clone();
        let target = self
            .db(move |s| s.account(&n))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Account, name))?;
        self.authorize(actor, Action::AccountDelete, Some(name), name.as_str())
            .await?;
        let (owned, admins) = self.db(|s| Ok((s.units()?, s.accounts()?))).await?;
        let owned: Vec<UnitName> = owned
            .into_iter()
            .filter(|u| u.owner == *name)
            .map(|u| u.name)
            .collect();
        let admin_count = admins
            .iter()
            .filter(|a| a.role == Role::Administrator)
            .count();
        vsm_core::check_account_delete(
            &actor.as_account(),
            &vsm_core::Account::new(target.name.clone(), target.role),
            &owned,
            admin_count,
        )
        .map_err(|e| Error::invalid(e.to_string()))?;
        self.write(vec![
            Change::DeleteSessionsOf(name.clone()),
            Change::DeleteAccount(name.clone()),
            Self::audit_entry(Some(actor), "account delete", name, "ok"),
        ])
        .await
    }

    /// `vsm account list` (administrator).
    pub async fn list_accounts(&self, actor: &Actor) -> Result<Vec<AccountInfo>> {
        self.authorize(actor, Action::AccountList, None, "accounts")
            .await?;
        let (accounts, units) = self.db(|s| Ok((s.accounts()?, s.units()?))).await?;
        Ok(accounts
            .into_iter()
            .map(|a| AccountInfo {
                units: units
                    .iter()
                    .filter(|u| u.owner == a.name)
                    .map(|u| u.name.clone())
                    .collect(),
                name: a.name,
                role: a.role,
                created_at: a.created_at,
            })
            .collect())
    }

    /// `vsm account passwd` (an administrator for anyone, everyone for itself). Ends the
    /// account's other sessions.
    pub async fn set_password(
        &self,
        actor: &Actor,
        name: &AccountName,
        password: &Password,
    ) -> Result<()> {
        self.authorize(actor, Action::AccountPasswd, Some(name), name.as_str())
            .await?;
        let n = name.clone();
        self.db(move |s| s.account(&n))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Account, name))?;
        auth::check_password(password.expose())
            .map_err(|m| Error::data("password", None, None, m))?;
        let cost = self.inner.config.password_cost;
        let pw = password.expose().to_owned();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw, cost))
            .await
            .map_err(|e| Error::failed("hashing task failed", e))?
            .map_err(Error::failed_msg)?;
        self.write(vec![
            Change::SetPasswordHash {
                account: name.clone(),
                hash,
            },
            Change::DeleteSessionsOf(name.clone()),
            Self::audit_entry(Some(actor), "account passwd", name, "ok"),
        ])
        .await
    }

    // ------------------------------------------------------------------ templates

    fn template_info(t: Template, units: &[Unit]) -> Result<TemplateInfo> {
        let driver = t.driver.parse::<DriverKind>()?;
        Ok(TemplateInfo {
            latest: t.latest(),
            used_by: units
                .iter()
                .filter(|u| {
                    u.groups
                        .iter()
                        .any(|g| g.spec.provisioned().is_some_and(|p| p.template == t.name))
                })
                .map(|u| u.name.clone())
                .collect(),
            generations: t
                .generations
                .iter()
                .map(|g| GenerationInfo {
                    generation: g.generation,
                    source: g.source.clone(),
                    created_at: g.created,
                })
                .collect(),
            name: t.name,
            owner: t.owner,
            driver,
        })
    }

    /// `vsm template register`.
    pub async fn register_template(
        &self,
        actor: &Actor,
        req: RegisterTemplate,
    ) -> Result<TemplateInfo> {
        self.check_running()?;
        self.authorize(actor, Action::TemplateRegister, None, req.name.as_str())
            .await?;
        if self.inner.drivers.get(req.driver).is_none() {
            return Err(Error::invalid_with_hint(
                format!("this manager has no {} driver", req.driver),
                format!("available drivers: {}", self.driver_words()),
            ));
        }
        crate::engine::check_template_source(self, req.driver, &req.source).await?;
        let t = Template::new(
            req.name.clone(),
            actor.account.clone(),
            req.driver.as_str(),
            req.source.clone(),
            now(),
        );
        let res = self
            .write(vec![
                Change::InsertTemplate(t.clone()),
                Self::audit_entry(Some(actor), "template register", &req.name, "ok"),
            ])
            .await;
        match res {
            Err(Error::Store(StoreError::Conflict(_))) => Err(Error::invalid_with_hint(
                format!("template {} already exists", req.name),
                "add a generation with `vsm template update NAME --source SOURCE`",
            )),
            Err(e) => Err(e),
            Ok(()) => Self::template_info(t, &[]),
        }
    }

    fn driver_words(&self) -> String {
        self.inner
            .drivers
            .kinds()
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `vsm template update`: a new generation.
    pub async fn update_template(
        &self,
        actor: &Actor,
        name: &TemplateName,
        source: &str,
    ) -> Result<TemplateInfo> {
        self.check_running()?;
        let n = name.clone();
        let mut t = self
            .db(move |s| s.template(&n))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Template, name))?;
        self.authorize(actor, Action::TemplateUpdate, Some(&t.owner), name.as_str())
            .await?;
        let driver = t.driver.parse::<DriverKind>()?;
        crate::engine::check_template_source(self, driver, source).await?;
        let generation = t.add_generation(source, now());
        self.write(vec![
            Change::UpdateTemplate(t.clone()),
            Self::audit_entry(
                Some(actor),
                "template update",
                name,
                format!("generation {generation}"),
            ),
        ])
        .await?;
        let units = self.db(|s| s.units()).await?;
        Self::template_info(t, &units)
    }

    /// `vsm template list`.
    pub async fn list_templates(&self, actor: &Actor) -> Result<Vec<TemplateInfo>> {
        self.authorize(actor, Action::TemplateList, None, "templates")
            .await?;
        let (ts, units) = self.db(|s| Ok((s.templates()?, s.units()?))).await?;
        ts.into_iter()
            .map(|t| Self::template_info(t, &units))
            .collect()
    }

    /// `vsm template show`.
    pub async fn show_template(&self, actor: &Actor, name: &TemplateName) -> Result<TemplateInfo> {
        self.authorize(actor, Action::TemplateShow, None, name.as_str())
            .await?;
        let n = name.clone();
        let (t, units) = self.db(move |s| Ok((s.template(&n)?, s.units()?))).await?;
        let t = t.ok_or_else(|| Error::not_found(Entity::Template, name))?;
        Self::template_info(t, &units)
    }

    /// `vsm template delete` (refused while a unit uses it).
    pub async fn delete_template(&self, actor: &Actor, name: &TemplateName) -> Result<()> {
        let info = self.show_template(actor, name).await?;
        self.authorize(
            actor,
            Action::TemplateDelete,
            Some(&info.owner),
            name.as_str(),
        )
        .await?;
        if !info.used_by.is_empty() {
            return Err(Error::invalid_with_hint(
                format!(
                    "template {name} is used by unit(s) {}",
                    info.used_by
                        .iter()
                        .map(UnitName::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "delete those units first",
            ));
        }
        self.write(vec![
            Change::DeleteTemplate(name.clone()),
            Self::audit_entry(Some(actor), "template delete", name, "ok"),
        ])
        .await
    }

    // ------------------------------------------------------------------ units

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
                if self.inner.drivers.get(driver).is_none() {
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
            busy_with: self.ops().locks.get(&u.name).copied(),
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
            applied_version: s.applied.as_ref().map(|a| a.version),
            generation: match &s.origin {
                vsm_core::model::Origin::Provisioned { generation, .. } => Some(*generation),
                vsm_core::model::Origin::Registered => None,
            },
            created_at: s.created,
            mark: s.mark.clone(),
            last_error: s.last_error.clone(),
            load: crate::engine::load_of(self, &u.name, &s.name),
        }
    }

    /// `vsm unit show`.
    pub async fn show_unit(&self, actor: &Actor, name: &UnitName) -> Result<UnitDetail> {
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
                servers: g
                    .servers
                    .iter()
                    .map(|s| self.server_view(&unit, g, s))
                    .collect(),
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
        crate::engine::import(self, actor, u, dir).await
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
        crate::engine::export(self, u, version, dest).await
    }

    /// `vsm unit diff`: what importing `dir` would change, per group and file.
    pub async fn diff_definitions(
        &self,
        actor: &Actor,
        unit: &UnitName,
        dir: &Utf8Path,
    ) -> Result<DefinitionDiff> {
        let u = self.unit_for(actor, Action::UnitDiff, unit).await?;
        crate::engine::diff(self, u, dir).await
    }

    // ------------------------------------------------------------------ long operations

    /// `vsm unit apply`: batch apply or rolling roll-out. Returns at once; follow the
    /// operation with [`Manager::wait`] or [`Manager::subscribe`].
    pub async fn apply(
        &self,
        actor: &Actor,
        unit: &UnitName,
        req: ApplyRequest,
    ) -> Result<OperationId> {
        let wait = req.wait_secs;
        self.begin(
            actor,
            unit,
            Action::UnitApply,
            OperationKind::Apply,
            wait,
            crate::engine::Request::Apply(req),
        )
        .await
    }

    /// `vsm unit rollback`: re-apply the version before the current one.
    pub async fn rollback(
        &self,
        actor: &Actor,
        unit: &UnitName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::UnitRollback,
            OperationKind::Rollback,
            opts.wait_secs,
            crate::engine::Request::Rollback,
        )
        .await
    }

    /// `vsm unit start`: every group in start order, each after the previous is healthy.
    pub async fn start_unit(
        &self,
        actor: &Actor,
        unit: &UnitName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::UnitStart,
            OperationKind::UnitStart,
            opts.wait_secs,
            crate::engine::Request::Start(None),
        )
        .await
    }

    /// `vsm unit stop`: every group in reverse start order.
    pub async fn stop_unit(
        &self,
        actor: &Actor,
        unit: &UnitName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::UnitStop,
            OperationKind::UnitStop,
            opts.wait_secs,
            crate::engine::Request::Stop(None),
        )
        .await
    }

    /// `vsm group start`.
    pub async fn start_group(
        &self,
        actor: &Actor,
        unit: &UnitName,
        group: &GroupName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::GroupStart,
            OperationKind::GroupStart,
            opts.wait_secs,
            crate::engine::Request::Start(Some(group.clone())),
        )
        .await
    }

    /// `vsm group stop`.
    pub async fn stop_group(
        &self,
        actor: &Actor,
        unit: &UnitName,
        group: &GroupName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::GroupStop,
            OperationKind::GroupStop,
            opts.wait_secs,
            crate::engine::Request::Stop(Some(group.clone())),
        )
        .await
    }

    /// `vsm unit scale`.
    pub async fn scale(
        &self,
        actor: &Actor,
        unit: &UnitName,
        req: ScaleRequest,
    ) -> Result<OperationId> {
        let wait = req.wait_secs;
        self.begin(
            actor,
            unit,
            Action::UnitScale,
            OperationKind::Scale,
            wait,
            crate::engine::Request::Scale(req),
        )
        .await
    }

    /// `vsm unit upgrade`.
    pub async fn upgrade(
        &self,
        actor: &Actor,
        unit: &UnitName,
        req: UpgradeRequest,
    ) -> Result<OperationId> {
        let wait = req.wait_secs;
        self.begin(
            actor,
            unit,
            Action::UnitUpgrade,
            OperationKind::Upgrade,
            wait,
            crate::engine::Request::Upgrade(req),
        )
        .await
    }

    /// `vsm unit delete`: stop and destroy its servers, then remove it (the audit log keeps a
    /// record). Without `force`, refused while servers run.
    pub async fn delete_unit(
        &self,
        actor: &Actor,
        unit: &UnitName,
        req: DeleteUnitRequest,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::UnitDelete,
            OperationKind::UnitDelete,
            req.wait_secs,
            crate::engine::Request::Delete(req),
        )
        .await
    }

    /// `vsm group attach` (registered groups).
    pub async fn attach(
        &self,
        actor: &Actor,
        unit: &UnitName,
        group: &GroupName,
        req: AttachRequest,
    ) -> Result<OperationId> {
        let wait = req.wait_secs;
        self.begin(
            actor,
            unit,
            Action::GroupAttach,
            OperationKind::Attach,
            wait,
            crate::engine::Request::Attach(group.clone(), req),
        )
        .await
    }

    /// `vsm group detach` (registered groups; the machine itself is untouched).
    pub async fn detach(
        &self,
        actor: &Actor,
        unit: &UnitName,
        group: &GroupName,
        server: &ServerName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::GroupDetach,
            OperationKind::Detach,
            opts.wait_secs,
            crate::engine::Request::Detach(group.clone(), server.clone()),
        )
        .await
    }

    /// `vsm server recover`: restart, or re-create and re-apply, per the group's policy
    /// (restart when the policy is `none`).
    pub async fn recover_server(
        &self,
        actor: &Actor,
        unit: &UnitName,
        server: &ServerName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::ServerRecover,
            OperationKind::Recover,
            opts.wait_secs,
            crate::engine::Request::Recover(server.clone()),
        )
        .await
    }

    async fn begin(
        &self,
        actor: &Actor,
        unit: &UnitName,
        action: Action,
        kind: OperationKind,
        wait_secs: Option<u64>,
        request: crate::engine::Request,
    ) -> Result<OperationId> {
        self.check_running()?;
        self.unit_for(actor, action, unit).await?;
        let id = self
            .acquire(unit, wait_secs.map(Duration::from_secs))
            .await?;
        let res =
            crate::engine::launch(self, Some(actor.clone()), unit.clone(), kind, id, request).await;
        if res.is_err() {
            self.release(id);
        }
        let _ = self
            .write(vec![Self::audit_entry(
                Some(actor),
                action.as_str(),
                unit,
                match &res {
                    Ok(()) => format!("operation {id}"),
                    Err(e) => format!("refused: {e}"),
                },
            )])
            .await;
        res.map(|()| id)
    }

    /// Takes the unit's lock for a new operation id, waiting up to `wait` for a busy unit.
    pub(crate) async fn acquire(
        &self,
        unit: &UnitName,
        wait: Option<Duration>,
    ) -> Result<OperationId> {
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        loop {
            let notified = self.inner.ops_changed.notified();
            {
                let mut ops = self.ops();
                match ops.locks.get(unit) {
                    None => {
                        let id = OperationId(self.inner.next_op.fetch_add(1, Ordering::SeqCst));
                        ops.locks.insert(unit.clone(), id);
                        let (events, _) = broadcast::channel(1024);
                        let (_tx, done) = tokio::sync::watch::channel(false);
                        ops.running.insert(
                            id,
                            Running {
                                unit: Some(unit.clone()),
                                cancel: self.inner.shutdown.child_token(),
                                events,
                                done,
                                live: None,
                            },
                        );
                        return Ok(id);
                    }
                    Some(op) => {
                        let busy = Error::Busy {
                            unit: unit.clone(),
                            operation: *op,
                        };
                        match deadline {
                            Some(d) if tokio::time::Instant::now() < d => {}
                            _ => return Err(busy),
                        }
                    }
                }
            }
            let Some(d) = deadline else { continue };
            if tokio::time::timeout_at(d, notified).await.is_err() {
                // One more look, then busy.
                let ops = self.ops();
                if let Some(op) = ops.locks.get(unit) {
                    return Err(Error::Busy {
                        unit: unit.clone(),
                        operation: *op,
                    });
                }
            }
        }
    }

    /// Releases the unit lock and forgets the running operation.
    pub(crate) fn release(&self, id: OperationId) {
        {
            let mut ops = self.ops();
            if let Some(r) = ops.running.remove(&id)
                && let Some(u) = r.unit
                && ops.locks.get(&u) == Some(&id)
            {
                ops.locks.remove(&u);
            }
        }
        self.inner.ops_changed.notify_waiters();
    }

    /// The cancellation token and event sender of a running operation.
    pub(crate) fn running_handles(
        &self,
        id: OperationId,
    ) -> Option<(CancellationToken, broadcast::Sender<ProgressEvent>)> {
        self.ops()
            .running
            .get(&id)
            .map(|r| (r.cancel.clone(), r.events.clone()))
    }

    pub(crate) fn set_live(
        &self,
        id: OperationId,
        live: Arc<crate::engine::Live>,
        done: tokio::sync::watch::Receiver<bool>,
    ) {
        if let Some(r) = self.ops().running.get_mut(&id) {
            r.done = done;
            r.live = Some(live);
        }
    }

    pub(crate) fn live(&self, id: OperationId) -> Option<Arc<crate::engine::Live>> {
        self.ops().running.get(&id).and_then(|r| r.live.clone())
    }

    pub(crate) fn live_for_unit(&self, unit: &UnitName) -> Option<Arc<crate::engine::Live>> {
        let ops = self.ops();
        let id = ops.locks.get(unit)?;
        ops.running.get(id).and_then(|r| r.live.clone())
    }

    /// The operation holding `unit`, if any.
    pub fn busy_op(&self, unit: &UnitName) -> Option<OperationId> {
        self.ops().locks.get(unit).copied()
    }

    /// Starts an automatic recovery of a failed server (requested by the manager itself).
    pub(crate) async fn auto_recover(
        &self,
        unit: &UnitName,
        server: &ServerName,
    ) -> Result<OperationId> {
        self.check_running()?;
        let id = self.acquire(unit, None).await?;
        let res = crate::engine::launch(
            self,
            None,
            unit.clone(),
            OperationKind::Recover,
            id,
            crate::engine::Request::Recover(server.clone()),
        )
        .await;
        if res.is_err() {
            self.release(id);
        }
        res.map(|()| id)
    }

    /// Runs one monitor pass now (also runs at the configured interval when enabled);
    /// returns the servers it found failed.
    pub async fn monitor_once(&self) -> Result<Vec<(UnitName, ServerName)>> {
        crate::engine::check_once(self).await
    }

    /// The purge of step journals older than `history.journal_days`, when one is due (at most
    /// one an hour; none when the setting is 0).
    pub(crate) fn journal_purge(&self, at: Timestamp) -> Option<Change> {
        use std::sync::atomic::Ordering;
        let days = self.settings().history.journal_days;
        if days == 0 {
            return None;
        }
        let last = self.inner.journals_purged_at.load(Ordering::Relaxed);
        if last != 0 && at.as_millis().saturating_sub(last) < 3_600_000 {
            return None;
        }
        self.inner
            .journals_purged_at
            .compare_exchange(last, at.as_millis(), Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(Change::PurgeJournals(
            at.saturating_add_millis(-(i64::from(days) * 86_400_000)),
        ))
    }

    async fn recover_interrupted(&self) -> Result<()> {
        crate::engine::recover_interrupted(self).await
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
        crate::engine::server_logs(self, &u, server, tail).await
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
        crate::engine::note_mark(self, unit, server, s.mark.clone());
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

    // ------------------------------------------------------------------ operations

    async fn op_owner_check(
        &self,
        actor: &Actor,
        action: Action,
        record: &OperationRecord,
    ) -> Result<()> {
        let owner = match &record.summary.unit {
            Some(u) => {
                let n = u.clone();
                self.db(move |s| s.unit(&n)).await?.map(|u| u.owner)
            }
            None => None,
        };
        let owner = owner.or_else(|| record.summary.requested_by.clone());
        self.authorize(
            actor,
            action,
            owner.as_ref(),
            &record.summary.id.to_string(),
        )
        .await
    }

    /// `vsm op list`: operations the caller may see, newest first (at most 200).
    pub async fn list_operations(
        &self,
        actor: &Actor,
        unit: Option<&UnitName>,
    ) -> Result<Vec<OperationSummary>> {
        if let Some(u) = unit {
            self.unit_for(actor, Action::UnitShow, u).await?;
        }
        let u = unit.cloned();
        let (ops, units) = self
            .db(move |s| Ok((s.operations(u.as_ref(), 200)?, s.units()?)))
            .await?;
        let owners: HashMap<UnitName, AccountName> =
            units.into_iter().map(|u| (u.name, u.owner)).collect();
        Ok(ops
            .into_iter()
            .filter(|o| {
                actor.is_admin()
                    || o.unit
                        .as_ref()
                        .and_then(|u| owners.get(u))
                        .map(|owner| *owner == actor.account)
                        .unwrap_or_else(|| o.requested_by.as_ref() == Some(&actor.account))
            })
            .collect())
    }

    /// `vsm op show`.
    pub async fn show_operation(&self, actor: &Actor, id: OperationId) -> Result<OperationRecord> {
        let record = self.operation_record(id).await?;
        self.op_owner_check(actor, Action::OpShow, &record).await?;
        Ok(record)
    }

    pub(crate) async fn operation_record(&self, id: OperationId) -> Result<OperationRecord> {
        if let Some(r) = crate::engine::live_record(self, id) {
            return Ok(r);
        }
        self.db(move |s| s.operation(id))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Operation, id))
    }

    /// `vsm op cancel`: asks a running operation to stop; steps running now finish or time
    /// out, nothing new starts. Cancelling a finished operation is a no-op.
    pub async fn cancel_operation(
        &self,
        actor: &Actor,
        id: OperationId,
    ) -> Result<OperationRecord> {
        let record = self.operation_record(id).await?;
        self.op_owner_check(actor, Action::OpCancel, &record)
            .await?;
        if let Some((cancel, _)) = self.running_handles(id) {
            cancel.cancel();
            let _ = self
                .write(vec![Self::audit_entry(Some(actor), "op cancel", id, "ok")])
                .await;
        }
        self.operation_record(id).await
    }

    /// Progress events of an operation from now on (the last event is `finished`). For an
    /// operation that already ended the receiver yields nothing; check
    /// [`Manager::show_operation`] first or use [`Manager::wait`].
    pub async fn subscribe(
        &self,
        actor: &Actor,
        id: OperationId,
    ) -> Result<broadcast::Receiver<ProgressEvent>> {
        let record = self.operation_record(id).await?;
        self.op_owner_check(actor, Action::OpShow, &record).await?;
        Ok(match self.running_handles(id) {
            Some((_, tx)) => tx.subscribe(),
            None => broadcast::channel(1).1,
        })
    }

    /// Waits up to `timeout` for an operation to end and returns its record (still
    /// `running` when the time ran out).
    pub async fn wait(
        &self,
        actor: &Actor,
        id: OperationId,
        timeout: Duration,
    ) -> Result<OperationRecord> {
        let record = self.operation_record(id).await?;
        self.op_owner_check(actor, Action::OpShow, &record).await?;
        let done = self.ops().running.get(&id).map(|r| r.done.clone());
        if let Some(mut done) = done {
            let _ = tokio::time::timeout(timeout, done.wait_for(|d| *d)).await;
        }
        self.operation_record(id).await
    }

    // ------------------------------------------------------------------ admin

    /// The manager's status (`vsm manager status`, `GET /health`).
    pub async fn status(&self) -> Result<ManagerStatus> {
        let units = self.db(|s| s.units()).await?;
        let mut running: Vec<OperationId> = self.ops().running.keys().copied().collect();
        running.sort();
        Ok(ManagerStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            state_dir: self.inner.config.state_dir.clone(),
            units: units.len(),
            servers: units.iter().map(|u| u.servers().count()).sum(),
            running_operations: running,
            drivers: self.inner.drivers.kinds(),
        })
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.inner
            .settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(|p| p.into_inner()) = settings.clone();
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
        let info = crate::admin::backup(self, out).await?;
        self.write(vec![Self::audit_entry(
            Some(actor),
            "manager backup",
            out,
            "ok",
        )])
        .await?;
        Ok(info)
    }

    /// `vsm manager restore`: unpacks a backup archive into an empty (or new) state directory.
    /// The manager must not be running on it.
    pub fn restore(
        state_dir: &Utf8Path,
        archive: &Utf8Path,
    ) -> std::result::Result<ArchiveInfo, OpenError> {
        crate::admin::restore(state_dir, archive)
    }

    /// `vsm manager diagnose` (administrator): logs, config, a state summary and recent
    /// operations in one archive at `out`. Never contains password hashes or tokens.
    pub async fn diagnostics(&self, actor: &Actor, out: &Utf8Path) -> Result<ArchiveInfo> {
        self.authorize(actor, Action::ManagerDiagnose, None, out.as_str())
            .await?;
        crate::admin::diagnostics(self, out).await
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
                let load = crate::engine::load_of(self, &u.name, &s.name);
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
