//! Running the manager: `vsm manager init`, `start` (foreground or `--detach`), `restore`
//! and `migrate-store`.
//!
//! This is the one place that builds hypervisor drivers and injects them into the manager
//! library; libraries never choose a backend themselves. It is also the one place that reads
//! the PostgreSQL password from the environment (`VSM_STORE_PASSWORD`) for the library. In the foreground under systemd
//! (`Type=notify`), `start` reports readiness and shutdown through `super::notify`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;
use std::sync::Arc;
use vsm_core::AccountName;

use vsm_hypervisor::local::{LocalDriver, LocalOptions};
use vsm_hypervisor::ssh::HostKeyChecking;
use vsm_hypervisor::static_driver::{StaticConfig, StaticDriver};
use vsm_manager::http::{ServeConfig, ServeError, Server};
use vsm_manager::{DriverKind, DriverSet, InitOptions, Manager, ManagerConfig, OpenError};

use super::{RunInfo, is_locked, read_run_info};
use crate::api;
use crate::cli::{
    ManagerInitArgs, ManagerMigrateStoreArgs, ManagerRestoreArgs, ManagerStartArgs,
    ManagerUninstallArgs,
};
use crate::cmd::Ctx;
use crate::exit::{Exit, Failure};
use crate::password;

/// An error opening, creating or restoring a state directory, classified.
pub fn open_failure(e: OpenError) -> anyhow::Error {
    let mut f = Failure::new(Exit::from_code(e.kind().exit_code()), e.to_string());
    match &e {
        OpenError::Invalid(inner) => {
            f.hint = inner.hint();
            f.details = inner.details();
        }
        OpenError::Config { problem } => {
            f.details = vec![problem.to_string()];
            f.hint = Some("fix the configuration file and try again".into());
        }
        OpenError::Store(_) => {
            f.hint = Some(
                "check that the state store is reachable: for PostgreSQL the URL in config.yaml, \
                 the password (store_password_file or VSM_STORE_PASSWORD) and the server"
                    .into(),
            );
        }
        _ => {}
    }
    anyhow::Error::new(e).context(f)
}

/// The PostgreSQL password from `VSM_STORE_PASSWORD` (used when the configuration names no
/// `store_password_file`).
fn store_password_env() -> Option<vsm_manager::Password> {
    std::env::var(vsm_manager::config::STORE_PASSWORD_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(vsm_manager::Password::new)
}

/// The configuration of `dir`, with the PostgreSQL password from the environment.
pub fn load_config(dir: &Utf8Path) -> Result<ManagerConfig> {
    let mut config = ManagerConfig::load(dir.to_path_buf()).map_err(open_failure)?;
    config.store_password = store_password_env();
    Ok(config)
}

/// A `--store` value checked: `sqlite` or a PostgreSQL URL without a password.
fn check_store(store: &str) -> Result<()> {
    if store == vsm_manager::config::STORE_SQLITE {
        return Ok(());
    }
    vsm_manager::store::PgTarget::parse(store).map(|_| ()).map_err(|m| {
        Failure::new(Exit::Usage, m)
            .hint("give --store postgres://USER@HOST:PORT/DATABASE and the password with --store-password-file FILE or VSM_STORE_PASSWORD")
            .into()
    })
}

/// Prints copy progress (`accounts: 3 rows`) on standard error when it is a terminal and the
/// output is not JSON.
fn copy_progress(ctx: &Ctx<'_>) -> impl FnMut(&'static str, usize) + Send + 'static {
    let show = !ctx.out.is_json() && ctx.out.err_tty;
    move |table, rows| {
        if show {
            eprintln!("  copied {table}: {rows} row(s)");
        }
    }
}

pub async fn init(ctx: &Ctx<'_>, a: ManagerInitArgs) -> Result<Exit> {
    let admin = AccountName::new(a.admin.clone()).map_err(|e| {
        anyhow::Error::new(e).context(Failure::new(
            Exit::Usage,
            format!("`{}` cannot be an account name", a.admin),
        ))
    })?;
    let pw = password::read(&a.password, "password of the first administrator", true)?;
    let dir = absolute_new(&a.dir)?;
    let mut options = InitOptions::new(dir.clone(), admin, vsm_manager::Password::new(pw.expose()));
    if let Some(listen) = &a.listen {
        check_listen(listen)?;
        options.settings.service.listen = listen.clone();
    }
    if let Some(store) = &a.store {
        check_store(store)?;
        options.settings.store = store.clone();
    }
    if let Some(file) = &a.store_password.store_password_file {
        options.settings.store_password_file = Some(absolute_new(file)?.to_string());
    }
    if let Some(defs) = &a.definitions_dir {
        options.settings.definitions_dir = Some(absolute_new(defs)?.to_string());
    }
    options.store_password = store_password_env();
    let mut config = ManagerConfig::new(dir.clone());
    config.settings = options.settings.clone();
    let store = match config.settings.pg_target() {
        Ok(Some(pg)) => pg.describe(),
        _ => format!("SQLite database {}", dir.join(vsm_manager::DB_FILE)),
    };
    let warnings = config.warnings();
    let listen = options.settings.service.listen.clone();
    tokio::task::spawn_blocking(move || Manager::init(options))
        .await
        .context("the init task failed")?
        .map_err(open_failure)?;
    let v = json!({
        "dir": dir, "admin": a.admin, "listen": listen, "config": dir.join("config.yaml"),
        "store": store, "definitions_dir": config.definitions_dir(), "warnings": warnings,
    });
    super::print_warnings(ctx, &warnings);
    ctx.out.emit(&v, |_| {
        format!(
            "initialized the manager state directory {dir} (administrator {})\n\
             state store: {store}\n\
             settings: {}\n\
             next: vsm manager start --dir {dir} --detach",
            a.admin,
            dir.join("config.yaml")
        )
    });
    Ok(Exit::Success)
}

/// `vsm manager migrate-store`: a stopped SQLite manager's state into an empty PostgreSQL
/// database, checked, then the configuration rewritten.
pub async fn migrate_store(ctx: &Ctx<'_>, a: ManagerMigrateStoreArgs) -> Result<Exit> {
    super::require_state_dir(&a.dir)?;
    let dir = absolute(&a.dir)?;
    if is_locked(&dir)? {
        return Err(Failure::new(
            Exit::Busy,
            format!("a manager runs on {dir}; stop it before moving its state"),
        )
        .hint(format!("vsm manager stop --dir {dir}"))
        .into());
    }
    check_store(&a.to)?;
    let mut options = vsm_manager::MigrateOptions::new(dir.clone(), a.to.clone());
    if let Some(file) = &a.store_password.store_password_file {
        options.store_password_file = Some(absolute_new(file)?);
    }
    if let Some(defs) = &a.definitions_dir {
        options.definitions_dir = Some(absolute_new(defs)?);
    }
    options.store_password = store_password_env();
    if !ctx.out.is_json() && ctx.out.err_tty {
        eprintln!("moving the state of {dir} to PostgreSQL …");
    }
    let mut progress = copy_progress(ctx);
    let report =
        tokio::task::spawn_blocking(move || Manager::migrate_store(options, &mut progress))
            .await
            .context("the migration task failed")?
            .map_err(open_failure)?;
    super::print_warnings(ctx, &report.warnings);
    let mut v = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert("sessions_kept".into(), json!(true));
    }
    ctx.out.emit(&v, |_| {
        let r = &report.rows;
        format!(
            "moved the state of {dir} to the {}: {} account(s), {} session(s), {} template(s), \
             {} host(s), {} unit(s) with {} server(s), {} operation(s) with {} journal entries, \
             {} audit record(s); read back and compared\n\
             kept the SQLite database as {}\n\
             config.yaml now names {}\n\
             next: vsm manager start --dir {dir} --detach",
            report.store,
            r.accounts,
            r.sessions,
            r.templates,
            r.hosts,
            r.units,
            r.servers,
            r.operations,
            r.journal,
            r.audit,
            report.kept,
            report.url
        )
    });
    Ok(Exit::Success)
}

pub async fn restore(ctx: &Ctx<'_>, a: ManagerRestoreArgs) -> Result<Exit> {
    let dir = absolute_new(&a.dir)?;
    if dir.exists() && is_locked(&dir)? {
        return Err(Failure::new(
            Exit::Busy,
            format!("a manager runs on {dir}; stop it before restoring"),
        )
        .hint(format!("vsm manager stop --dir {dir}"))
        .into());
    }
    if !a.from.exists() {
        return Err(Failure::new(
            Exit::Usage,
            format!("the backup file {} does not exist", a.from),
        )
        .into());
    }
    if let Some(store) = &a.store {
        check_store(store)?;
    }
    let mut options = vsm_manager::RestoreOptions::new(dir.clone(), a.from.clone());
    options.store = a.store.clone();
    if let Some(file) = &a.store_password.store_password_file {
        options.store_password_file = Some(absolute_new(file)?);
    }
    options.store_password = store_password_env();
    let mut progress = copy_progress(ctx);
    let info = tokio::task::spawn_blocking(move || Manager::restore_with(options, &mut progress))
        .await
        .context("the restore task failed")?
        .map_err(open_failure)?;
    let (store, warnings) = super::store_of(&dir);
    super::print_warnings(ctx, &warnings);
    let mut v = serde_json::to_value(&info).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert("store".into(), json!(store));
        o.insert("warnings".into(), json!(warnings));
    }
    ctx.out.emit(&v, |_| {
        format!(
            "restored {dir} from {} ({} entries); start it with `vsm manager start --dir {dir}`",
            a.from,
            info.entries.len()
        )
    });
    Ok(Exit::Success)
}

/// `vsm manager uninstall`: removes a stopped manager's state directory (seed A4), after a
/// final backup; refuses while units have servers unless told to delete them first.
pub async fn uninstall(ctx: &Ctx<'_>, a: ManagerUninstallArgs) -> Result<Exit> {
    let dir = absolute_new(&a.dir)?;
    if !dir.join("config.yaml").exists() {
        return Err(Failure::new(
            Exit::Usage,
            format!("{dir} holds no manager (no config.yaml)"),
        )
        .hint("give the state directory of `vsm manager init --dir`")
        .into());
    }
    if is_locked(&dir)? {
        return Err(Failure::new(
            Exit::Busy,
            format!("a manager runs on {dir}; stop it before uninstalling"),
        )
        .hint(format!("vsm manager stop --dir {dir}"))
        .into());
    }
    let drivers = build_drivers(&dir, a.libvirt_uri.as_deref()).await?;
    let mut config = load_config(&dir)?;
    config.monitor = false;
    let pg = config
        .settings
        .pg_target()
        .ok()
        .flatten()
        .map(|p| p.describe());
    let shared_defs = Some(config.definitions_dir()).filter(|d| !d.starts_with(&dir));
    let manager = Manager::open(config, drivers).await.map_err(open_failure)?;
    let outcome = uninstall_with(ctx, &manager, &dir, &a).await;
    manager.shutdown(Duration::from_secs(10)).await;
    drop(manager);
    let (backup, deleted) = outcome?;
    std::fs::remove_dir_all(&dir).with_context(|| format!("could not remove {dir}"))?;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "vsm".into());
    let mut left = vec![
        format!("the vsm program ({exe}) and any service unit or package that installed it"),
        "JP1 definitions handed out (log-file trap configuration, JP1/AJS jobnets) on the JP1 side"
            .to_owned(),
    ];
    if let Some(pg) = pg {
        left.push(format!(
            "the {pg}, which still holds the state (drop it on the server when no longer needed)"
        ));
    }
    if let Some(defs) = shared_defs {
        left.push(format!("the shared definitions directory {defs}"));
    }
    let v = json!({
        "removed": dir,
        "backup": backup,
        "deleted_units": deleted,
        "left": left,
    });
    ctx.out.emit(&v, |_| {
        let mut out = format!("removed {dir}");
        if !deleted.is_empty() {
            out.push_str(&format!(
                "\ndeleted unit(s) and their servers: {}",
                deleted.join(", ")
            ));
        }
        match &backup {
            Some(b) => out.push_str(&format!("\nthe final backup is {b}")),
            None => out.push_str("\nno final backup was written (--no-backup)"),
        }
        out.push_str("\nnot removed:");
        for l in &left {
            out.push_str(&format!("\n  {l}"));
        }
        out
    });
    Ok(Exit::Success)
}

/// The part of `uninstall` that needs the opened manager: the check, the backup, the deletes.
/// Answers where the backup went and which units were deleted.
async fn uninstall_with(
    ctx: &Ctx<'_>,
    manager: &Manager,
    dir: &Utf8Path,
    a: &ManagerUninstallArgs,
) -> Result<(Option<Utf8PathBuf>, Vec<String>)> {
    // The one running this owns the state directory's files: act as an administrator.
    let actor = vsm_manager::Actor {
        account: AccountName::new("vsm-uninstall").context("account name")?,
        role: vsm_core::Role::Administrator,
    };
    let units = manager.list_units(&actor, true).await?;
    let mut holding = Vec::new();
    for u in &units {
        let detail = manager.show_unit(&actor, &u.name).await?;
        let servers: Vec<String> = detail
            .groups
            .iter()
            .flat_map(|g| g.servers.iter().map(|s| s.name.to_string()))
            .collect();
        if !servers.is_empty() {
            holding.push(format!(
                "unit {} ({}): {}",
                u.name,
                u.owner,
                servers.join(", ")
            ));
        }
    }
    if !holding.is_empty() && !a.destroy_servers {
        let mut f = Failure::new(
            Exit::Usage,
            format!(
                "{} unit(s) of {dir} still have servers; nothing was removed",
                holding.len()
            ),
        )
        .hint("delete them first (`vsm unit delete UNIT --force`), or pass --destroy-servers");
        f.details = holding;
        return Err(f.into());
    }
    let backup = if a.no_backup {
        None
    } else {
        let path = match &a.backup {
            Some(p) => absolute_new(p)?,
            None => Utf8PathBuf::from(format!("{dir}.final-backup.tar")),
        };
        manager.backup(&actor, &path).await?;
        Some(path)
    };
    let mut deleted = Vec::new();
    for u in &units {
        let id = manager
            .delete_unit(
                &actor,
                &u.name,
                vsm_manager::DeleteUnitRequest {
                    force: true,
                    ..Default::default()
                },
            )
            .await?;
        let rec = manager.wait(&actor, id, Duration::from_secs(3600)).await?;
        if !ctx.out.is_json() {
            eprintln!("unit {}: delete {}", u.name, rec.summary.state);
        }
        if rec.summary.state != vsm_manager::OperationState::Succeeded {
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "deleting unit {} ended {}; {dir} was not removed",
                    u.name, rec.summary.state
                ),
            )
            .hint(format!(
                "see `vsm op show {id}` once the manager runs again"
            ))
            .into());
        }
        deleted.push(u.name.to_string());
    }
    Ok((backup, deleted))
}

/// `dir` made absolute against the current directory (it need not exist yet).
fn absolute_new(dir: &Utf8Path) -> Result<Utf8PathBuf> {
    if dir.is_absolute() {
        return Ok(dir.to_owned());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let cwd = Utf8PathBuf::from_path_buf(cwd)
        .map_err(|p| anyhow::anyhow!("the current directory {} is not UTF-8", p.display()))?;
    Ok(cwd.join(dir))
}

fn check_listen(listen: &str) -> Result<()> {
    listen
        .parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| {
            Failure::new(Exit::Usage, format!("`{listen}` is not a listen address"))
                .hint("give IP:PORT, e.g. 127.0.0.1:7460 (port 0 picks a free port)")
                .into()
        })
}

pub async fn start(ctx: &Ctx<'_>, a: ManagerStartArgs) -> Result<Exit> {
    super::require_state_dir(&a.dir)?;
    if is_locked(&a.dir)? {
        let pid = read_run_info(&a.dir).map_or_else(|| "?".into(), |i| i.pid.to_string());
        return Err(Failure::new(
            Exit::Busy,
            format!("a manager already runs on {} (pid {pid})", a.dir),
        )
        .hint(format!("see `vsm manager status --dir {}`", a.dir))
        .into());
    }
    if a.detach {
        if let Ok(config) = load_config(&a.dir) {
            super::print_warnings(ctx, &config.warnings());
        }
        return detach(ctx, &a).await;
    }
    foreground(ctx, &a).await
}

/// Runs the manager in this process until SIGTERM or Ctrl-C, then shuts down gracefully.
async fn foreground(ctx: &Ctx<'_>, a: &ManagerStartArgs) -> Result<Exit> {
    let dir = absolute(&a.dir)?;
    let mut config = load_config(&dir)?;
    if !ctx.out.is_json() {
        for w in config.warnings() {
            eprintln!("warning: {w}");
        }
    }
    if let Some(listen) = &a.listen {
        check_listen(listen)?;
        config.settings.service.listen = listen.clone();
    }
    init_logging(&dir, &config.settings.log);
    let mut serve_config = ServeConfig::from_settings(&config.settings.service, &dir)
        .map_err(|e| serve_failure(e, Exit::DataErr))?;
    serve_config.shutdown_grace = Duration::from_secs(10);
    let drivers = build_drivers(&dir, a.libvirt_uri.as_deref()).await?;
    let manager = Manager::open(config, drivers).await.map_err(open_failure)?;
    let server = match Server::start(manager.clone(), serve_config).await {
        Ok(s) => s,
        Err(e) => {
            manager.shutdown(Duration::from_secs(5)).await;
            return Err(serve_failure(e, Exit::Failed));
        }
    };
    let info = RunInfo {
        pid: std::process::id(),
        listen: server.local_addr().to_string(),
        url: server.url(),
        started_at: crate::render::now_millis(),
    };
    // What a standby names when it sends a client here (unless `advertise_url` is set).
    manager.advertise(&info.url);
    super::write_run_info(&dir, &info)?;
    tracing::info!(url = %info.url, dir = %dir, "manager started");
    super::notify::ready(&info.url);
    if !ctx.out.is_json() {
        eprintln!(
            "vsm manager: serving {} on {} (pid {}); stop with Ctrl-C or `vsm manager stop --dir {dir}`",
            dir, info.url, info.pid
        );
    }
    wait_for_stop_signal().await;
    tracing::info!("manager stopping");
    super::notify::stopping();
    let _ = std::fs::remove_file(dir.join(super::RUN_FILE));
    let served = server.shutdown().await;
    manager.shutdown(Duration::from_secs(30)).await;
    drop(manager);
    tracing::info!("manager stopped");
    served.map_err(|e| serve_failure(e, Exit::Failed))?;
    Ok(Exit::Success)
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn serve_failure(e: ServeError, exit: Exit) -> anyhow::Error {
    let exit = match &e {
        ServeError::Config(_) => Exit::DataErr,
        _ => exit,
    };
    let msg = e.to_string();
    anyhow::Error::new(e).context(Failure::new(exit, msg))
}

/// Installs the log subscriber: the size-rotated log files of the configuration (which
/// `vsm manager log-config` changes live) and standard error (the console log when detached),
/// filtered by `VSM_LOG` or the configured level. When the log directory cannot be used, the
/// manager still runs and logs to standard error, saying why.
fn init_logging(dir: &Utf8Path, settings: &vsm_manager::LogSettings) {
    let mut settings = settings.clone();
    if let Ok(level) = std::env::var("VSM_LOG") {
        settings.level = level;
    }
    if let Err(e) = vsm_manager::logging::init(dir, &settings, true) {
        let filter = tracing_subscriber::EnvFilter::try_new(&settings.level)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
        tracing::warn!(error = %e, "the log files cannot be written; logging to standard error only");
    }
}

/// The known-hosts file of registered machines in the state directory.
pub const KNOWN_HOSTS_FILE: &str = "ssh_known_hosts";

/// Builds the hypervisor drivers this binary injects: `local` (state in `DIR/local`, programs
/// beside this executable on the servers' PATH), `static` (registered machines over SSH, state
/// in `DIR/static.json`, their host keys in `DIR/ssh_known_hosts`: trusted on first contact,
/// a changed key refused; never the service account's `~/.ssh`) and, when built with the
/// `libvirt` feature and asked for, `libvirt`.
async fn build_drivers(dir: &Utf8Path, libvirt_uri: Option<&str>) -> Result<DriverSet> {
    let local = LocalDriver::open(dir.join("local"), local_options()).map_err(|e| {
        anyhow::Error::new(e).context(Failure::new(
            Exit::Failed,
            "cannot open the local driver's state",
        ))
    })?;
    let mut static_config = StaticConfig::new(dir.join("static.json"));
    static_config.ssh.host_key_checking = HostKeyChecking::AcceptNew {
        known_hosts: Some(dir.join(KNOWN_HOSTS_FILE)),
    };
    let static_driver = StaticDriver::open(static_config).map_err(|e| {
        anyhow::Error::new(e).context(Failure::new(
            Exit::Failed,
            "cannot open the registered machines' state",
        ))
    })?;
    let drivers = DriverSet::new()
        .with(DriverKind::Local, Arc::new(local))
        .with(DriverKind::Static, Arc::new(static_driver))
        .with_factory(Arc::new(HostFactory {
            state_dir: dir.to_owned(),
        }));
    libvirt_driver(drivers, dir, libvirt_uri).await
}

/// The local driver's options: programs beside this executable come first on the servers'
/// PATH.
fn local_options() -> LocalOptions {
    let mut options = LocalOptions::default();
    if let Some(bin_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(std::path::Path::to_path_buf))
        .and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
    {
        options = options.with_bin_dir(bin_dir);
    }
    options
}

/// Connects the hosts an administrator adds (`vsm host add`): a `local` host is a local
/// driver over its own directory (its servers are processes of this machine, with addresses
/// from the loopback block its directory picks); a `libvirt` host is a libvirt driver on its
/// URI (when this vsm is built with the `libvirt` feature), its consoles and guests' host keys
/// under `STATE/libvirt/hosts/NAME`.
struct HostFactory {
    state_dir: Utf8PathBuf,
}

#[async_trait::async_trait]
impl vsm_manager::DriverFactory for HostFactory {
    async fn connect(
        &self,
        host: &vsm_manager::HostConnection,
    ) -> std::result::Result<Arc<dyn vsm_hypervisor::Hypervisor>, String> {
        match host.driver {
            DriverKind::Local => {
                let dir = host
                    .dir
                    .clone()
                    .ok_or_else(|| format!("local host {} has no directory", host.name))?;
                let driver = tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| format!("cannot create {dir}: {e}"))?;
                    LocalDriver::open(dir.clone(), local_options())
                        .map_err(|e| format!("cannot open a local driver in {dir}: {e}"))
                })
                .await
                .map_err(|e| format!("opening the local driver failed: {e}"))??;
                Ok(Arc::new(driver))
            }
            DriverKind::Libvirt => self.libvirt(host).await,
            other => Err(format!("a {other} host cannot be added to the pool")),
        }
    }
}

impl HostFactory {
    #[cfg(feature = "libvirt")]
    async fn libvirt(
        &self,
        host: &vsm_manager::HostConnection,
    ) -> std::result::Result<Arc<dyn vsm_hypervisor::Hypervisor>, String> {
        let uri = host
            .uri
            .clone()
            .ok_or_else(|| format!("libvirt host {} has no URI", host.name))?;
        let config = libvirt_config(
            &uri,
            self.state_dir
                .join(LIBVIRT_DIR)
                .join("hosts")
                .join(host.name.as_str()),
        );
        let driver = vsm_hypervisor::libvirt::LibvirtDriver::open(config)
            .await
            .map_err(|e| format!("cannot connect to libvirt at {uri}: {e}"))?;
        Ok(Arc::new(driver))
    }

    #[cfg(not(feature = "libvirt"))]
    async fn libvirt(
        &self,
        host: &vsm_manager::HostConnection,
    ) -> std::result::Result<Arc<dyn vsm_hypervisor::Hypervisor>, String> {
        let _ = &self.state_dir;
        Err(format!(
            "this vsm was built without the libvirt driver, so it cannot connect libvirt host {}; build it with `cargo build -p vsm-cli --features libvirt`",
            host.name
        ))
    }
}

/// The libvirt driver's configuration for `uri`, its own files in `state_dir`. Consoles are
/// written by libvirt on its host: only a local hypervisor can write them here.
#[cfg(feature = "libvirt")]
fn libvirt_config(uri: &str, state_dir: Utf8PathBuf) -> vsm_hypervisor::libvirt::LibvirtConfig {
    let mut config = vsm_hypervisor::libvirt::LibvirtConfig::new(uri.to_owned());
    let remote =
        uri.contains("://") && !uri.split("://").nth(1).is_some_and(|r| r.starts_with('/'));
    config.state_dir = Some(state_dir);
    config.console_logs = !remote;
    config
}

/// The libvirt driver's directory in the state directory: VM consoles and guests' host keys.
#[cfg(feature = "libvirt")]
pub const LIBVIRT_DIR: &str = "libvirt";

#[cfg(feature = "libvirt")]
async fn libvirt_driver(
    drivers: DriverSet,
    dir: &Utf8Path,
    libvirt_uri: Option<&str>,
) -> Result<DriverSet> {
    let Some(uri) = libvirt_uri else {
        return Ok(drivers);
    };
    let config = libvirt_config(uri, dir.join(LIBVIRT_DIR));
    let driver = vsm_hypervisor::libvirt::LibvirtDriver::open(config)
        .await
        .map_err(|e| {
            anyhow::Error::new(e).context(Failure::new(
                Exit::Unavailable,
                format!("cannot connect to libvirt at {uri}"),
            ))
        })?;
    Ok(drivers.with(DriverKind::Libvirt, Arc::new(driver)))
}

#[cfg(not(feature = "libvirt"))]
async fn libvirt_driver(
    drivers: DriverSet,
    _dir: &Utf8Path,
    libvirt_uri: Option<&str>,
) -> Result<DriverSet> {
    if libvirt_uri.is_some() {
        return Err(
            Failure::new(Exit::Usage, "this vsm was built without the libvirt driver")
                .hint("build it with `cargo build -p vsm-cli --features libvirt`")
                .into(),
        );
    }
    Ok(drivers)
}

/// Starts `vsm manager start` in the background (a new session, output to the state
/// directory's console log) and returns once its API answers.
async fn detach(ctx: &Ctx<'_>, a: &ManagerStartArgs) -> Result<Exit> {
    let exe = std::env::current_exe().context("cannot find the vsm executable")?;
    let dir = absolute(&a.dir)?;
    let log_dir = dir.join("logs");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("could not create {log_dir}"))?;
    let console = log_dir.join("console.log");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&console)
        .with_context(|| format!("could not open {console}"))?;
    let err = out
        .try_clone()
        .with_context(|| format!("could not open {console}"))?;
    let old_run = read_run_info(&dir).map(|i| i.started_at);
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["manager", "start", "--dir", dir.as_str()]);
    if let Some(l) = &a.listen {
        cmd.args(["--listen", l]);
    }
    if let Some(uri) = &a.libvirt_uri {
        cmd.args(["--libvirt-uri", uri]);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .env_remove("VSM_OUTPUT")
        .current_dir(&dir);
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().context("could not start the manager process")?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    loop {
        if let Some(status) = child
            .try_wait()
            .context("could not watch the manager process")?
        {
            let tail = tail_of(&console, 15);
            return Err(Failure::new(
                Exit::Failed,
                format!("the manager exited while starting ({status})"),
            )
            .details(tail)
            .hint(format!("see {console}"))
            .into());
        }
        if let Some(info) =
            read_run_info(&dir).filter(|i| i.pid == pid && Some(i.started_at) != old_run)
            && let Ok(client) = api::connect(&info.url, None, None)
            && let Ok(Ok(health)) =
                tokio::time::timeout(Duration::from_secs(5), client.health()).await
        {
            return ready(ctx, &info, health);
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(
                Exit::Failed,
                format!(
                    "the manager (pid {pid}) did not answer within {}s",
                    a.timeout
                ),
            )
            .hint(format!(
                "see {console}; stop it with `vsm manager stop --dir {dir}`"
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready(ctx: &Ctx<'_>, info: &RunInfo, health: vsm_manager::http::api::Health) -> Result<Exit> {
    let v = json!({
        "state": "running", "pid": info.pid, "url": info.url, "listen": info.listen,
        "started_at": info.started_at, "health": health,
    });
    ctx.out.emit(&v, |_| {
        format!(
            "manager running in the background: pid {}, {}",
            info.pid, info.url
        )
    });
    Ok(Exit::Success)
}

fn absolute(dir: &Utf8Path) -> Result<camino::Utf8PathBuf> {
    let p = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot find the state directory {dir}"))?;
    camino::Utf8PathBuf::from_path_buf(p)
        .map_err(|p| anyhow::anyhow!("the state directory {} is not UTF-8", p.display()))
}

fn tail_of(path: &Utf8Path, lines: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}
