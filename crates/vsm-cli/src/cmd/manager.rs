//! `vsm manager ...`: the administrator's commands on the management host.
//!
//! `init`, `start`, `stop`, `status`, `restore` and `migrate-store` work on the state directory
//! directly (no API); `backup`, `diagnose` and `log-config` go through the API like every other
//! command.
//! A running manager holds an exclusive `flock` on `<dir>/manager.lock` for its whole life and
//! describes itself in `<dir>/manager.json` (pid, URL); `stop` signals that pid and waits until
//! the lock is free, so a recycled pid can never be mistaken for the manager.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::Utf8Path;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vsm_manager::LogSettingsChange;

use super::{Ctx, view};
use crate::api;
use crate::cli::{ManagerCommand, ManagerDirArgs, ManagerStopArgs};
use crate::exit::{Exit, Failure};

mod notify;
mod serve;

/// The lock file a running manager holds.
pub const LOCK_FILE: &str = "manager.lock";
/// The runtime description a running manager writes.
pub const RUN_FILE: &str = "manager.json";

/// What `<dir>/manager.json` says about the running manager.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// Its process id.
    pub pid: u32,
    /// The address it listens on.
    pub listen: String,
    /// Its API's URL.
    pub url: String,
    /// When it started (ms since the epoch).
    pub started_at: i64,
}

pub async fn run(ctx: &Ctx<'_>, c: ManagerCommand) -> Result<Exit> {
    match c {
        ManagerCommand::Init(a) => serve::init(ctx, a).await,
        ManagerCommand::Start(a) => serve::start(ctx, a).await,
        ManagerCommand::Stop(a) => stop(ctx, a).await,
        ManagerCommand::Status(a) => status(ctx, a).await,
        ManagerCommand::Restore(a) => serve::restore(ctx, a).await,
        ManagerCommand::MigrateStore(a) => serve::migrate_store(ctx, a).await,
        ManagerCommand::Uninstall(a) => serve::uninstall(ctx, a).await,
        ManagerCommand::Backup(a) => {
            let bytes = ctx.api()?.backup(&a.out).await?;
            let v = json!({"path": a.out, "bytes": bytes});
            ctx.out.emit(&v, |_| {
                format!("wrote a backup of the manager to {} ({bytes} bytes)", a.out)
            });
            Ok(Exit::Success)
        }
        ManagerCommand::Diagnose(a) => {
            let bytes = ctx.api()?.diagnostics(&a.out).await?;
            let v = json!({"path": a.out, "bytes": bytes});
            ctx.out.emit(&v, |_| {
                format!("wrote a diagnostics bundle to {} ({bytes} bytes)", a.out)
            });
            Ok(Exit::Success)
        }
        ManagerCommand::LogConfig(a) => {
            let client = ctx.api()?;
            let settings = if a.log_dir.is_none() && a.files.is_none() && a.size_mb.is_none() {
                client.log_config().await?
            } else {
                let change = LogSettingsChange {
                    log_dir: a.log_dir.as_ref().map(ToString::to_string),
                    files: a.files,
                    size_mb: a.size_mb,
                    level: None,
                };
                client.set_log_config(&change).await?
            };
            // the documented document: {log_dir, files, size_mb}
            let v = json!({
                "log_dir": settings.dir, "files": settings.files, "size_mb": settings.size_mb,
                "level": settings.level,
            });
            ctx.out.emit(&v, view::log_config);
            Ok(Exit::Success)
        }
    }
}

// ---------------------------------------------------------------- lock and run file

/// An exclusive lock on a state directory, held while it lives.
pub struct DirLock {
    _file: File,
}

/// Tries to take the manager lock of `dir`: `Ok(None)` when another process holds it.
pub fn try_lock(dir: &Utf8Path) -> Result<Option<DirLock>> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("could not open the lock file {path}"))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(Some(DirLock { _file: file }))
    } else {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(err).with_context(|| format!("could not lock {path}"))
        }
    }
}

/// Whether a manager holds the lock of `dir` (without keeping it).
pub fn is_locked(dir: &Utf8Path) -> Result<bool> {
    if !dir.join(LOCK_FILE).exists() {
        return Ok(false);
    }
    Ok(try_lock(dir)?.is_none())
}

/// Reads `<dir>/manager.json`.
pub fn read_run_info(dir: &Utf8Path) -> Option<RunInfo> {
    let text = std::fs::read_to_string(dir.join(RUN_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes `<dir>/manager.json` atomically.
pub fn write_run_info(dir: &Utf8Path, info: &RunInfo) -> Result<()> {
    let path = dir.join(RUN_FILE);
    let tmp = dir.join(format!(".{RUN_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(info)?)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("could not write {path}"))
}

fn require_state_dir(dir: &Utf8Path) -> Result<()> {
    if dir.join(vsm_manager_config_file()).exists() {
        return Ok(());
    }
    Err(Failure::new(
        Exit::Usage,
        format!("{dir} is not a manager state directory"),
    )
    .hint("create one with `vsm manager init --dir DIR --admin NAME --password-file FILE`")
    .into())
}

/// The name of the manager's configuration file in the state directory.
fn vsm_manager_config_file() -> &'static str {
    "config.yaml"
}

// ---------------------------------------------------------------- stop, status

async fn stop(ctx: &Ctx<'_>, a: ManagerStopArgs) -> Result<Exit> {
    require_state_dir(&a.dir)?;
    let info = read_run_info(&a.dir);
    if !is_locked(&a.dir)? {
        let v = json!({"state": "stopped", "dir": a.dir, "was_running": false});
        ctx.out.emit(&v, |_| {
            format!("no manager runs on {} (nothing to stop)", a.dir)
        });
        return Ok(Exit::Success);
    }
    let Some(info) = info else {
        return Err(Failure::new(
            Exit::Failed,
            format!("a manager holds {} but did not write {RUN_FILE}", a.dir),
        )
        .hint("it may still be starting; try again in a moment")
        .into());
    };
    // SAFETY: sends a signal to a process id; no memory is involved.
    let rc = unsafe { libc::kill(info.pid as libc::pid_t, libc::SIGTERM) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(anyhow::Error::new(err).context(Failure::new(
            Exit::NoPerm,
            format!("could not signal the manager (pid {})", info.pid),
        )));
    }
    if !ctx.out.is_json() && ctx.out.err_tty {
        eprintln!("stopping the manager (pid {}) …", info.pid);
    }
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    while is_locked(&a.dir)? {
        if Instant::now() >= deadline {
            return Err(Failure::new(
                Exit::TimedOut,
                format!(
                    "the manager (pid {}) is still stopping after {}s",
                    info.pid, a.timeout
                ),
            )
            .hint("it finishes or journals running operations first; check `vsm manager status`")
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = json!({"state": "stopped", "dir": a.dir, "was_running": true, "pid": info.pid});
    ctx.out.emit(&v, |_| {
        format!("stopped the manager of {} (pid {})", a.dir, info.pid)
    });
    Ok(Exit::Success)
}

/// The configured store (described, never a password) and the configuration's warnings;
/// nothing when the configuration cannot be read (`start` says why).
fn store_of(dir: &Utf8Path) -> (Option<String>, Vec<String>) {
    let Ok(config) = vsm_manager::ManagerConfig::load(dir.to_path_buf()) else {
        return (None, Vec::new());
    };
    let store = match config.settings.pg_target() {
        Ok(Some(pg)) => Some(pg.describe()),
        Ok(None) => Some(format!(
            "SQLite database {}",
            dir.join(vsm_manager::DB_FILE)
        )),
        Err(_) => None,
    };
    (store, config.warnings())
}

/// Prints each warning on standard error (as `warning: …`) unless the output is JSON.
fn print_warnings(ctx: &Ctx<'_>, warnings: &[String]) {
    if !ctx.out.is_json() {
        for w in warnings {
            eprintln!("warning: {w}");
        }
    }
}

async fn status(ctx: &Ctx<'_>, a: ManagerDirArgs) -> Result<Exit> {
    require_state_dir(&a.dir)?;
    let (store, warnings) = store_of(&a.dir);
    print_warnings(ctx, &warnings);
    if !is_locked(&a.dir)? {
        let v = json!({"state": "stopped", "dir": a.dir, "store": store, "warnings": warnings});
        ctx.out
            .emit(&v, |_| format!("stopped: no manager runs on {}", a.dir));
        return Ok(Exit::Success);
    }
    let Some(info) = read_run_info(&a.dir) else {
        let v = json!({"state": "starting", "dir": a.dir, "store": store, "warnings": warnings});
        ctx.out
            .emit(&v, |_| format!("starting: a manager holds {}", a.dir));
        return Ok(Exit::Success);
    };
    let health = match api::connect(&info.url, None, None) {
        Ok(client) => tokio::time::timeout(Duration::from_secs(5), client.health())
            .await
            .ok()
            .and_then(Result::ok),
        Err(_) => None,
    };
    let state = if health.is_some() {
        "running"
    } else {
        "unresponsive"
    };
    let v = json!({
        "state": state, "dir": a.dir, "pid": info.pid, "url": info.url, "listen": info.listen,
        "started_at": info.started_at, "health": health, "store": store, "warnings": warnings,
    });
    ctx.out.emit(&v, |_| {
        let now = crate::render::now_millis();
        let since = crate::render::relative_time(now, info.started_at);
        match &health {
            Some(h) => {
                let mut text = format!(
                    "running: pid {} on {} since {since}, healthy (version {})",
                    info.pid, info.url, h.version
                );
                if let Some(ha) = &h.ha {
                    text.push_str(&ha_text(ha, now));
                }
                text
            }
            None => format!(
                "unresponsive: pid {} on {} since {since} does not answer its health check",
                info.pid, info.url
            ),
        }
    });
    Ok(if health.is_some() {
        Exit::Success
    } else {
        Exit::Unavailable
    })
}

/// The active/standby lines of `vsm manager status` (several managers on one database).
fn ha_text(ha: &vsm_manager::HaStatus, now: i64) -> String {
    let mut text = format!("\nrole: {} (epoch {})", ha.role, ha.epoch);
    if ha.role == vsm_manager::ManagerRole::Standby {
        match (&ha.active, &ha.active_url) {
            (_, Some(url)) => text.push_str(&format!("; the active manager is at {url}")),
            (Some(name), None) => text.push_str(&format!("; the active manager is {name}")),
            (None, None) => text.push_str("; no active manager yet"),
        }
    }
    for p in &ha.peers {
        let seen = crate::render::relative_time(now, p.seen_at.as_millis());
        text.push_str(&format!(
            "\npeer {} ({}, {}): seen {seen}",
            p.name,
            p.url.as_deref().unwrap_or("no URL"),
            p.role
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_exclusive_and_released_on_drop() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = Utf8Path::from_path(tmp.path()).expect("utf-8");
        assert!(!is_locked(dir).expect("check"));
        let held = try_lock(dir).expect("lock").expect("free");
        // flock locks belong to the open file description: a second open conflicts.
        assert!(try_lock(dir).expect("lock").is_none());
        assert!(is_locked(dir).expect("check"));
        drop(held);
        assert!(!is_locked(dir).expect("check"));
    }
}
