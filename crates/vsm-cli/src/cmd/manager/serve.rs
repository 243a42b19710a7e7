//! Running the manager: `vsm manager init`, `start` (foreground or `--detach`) and `restore`.
//!
//! This is the one place that builds hypervisor drivers and injects them into the manager
//! library; libraries never choose a backend themselves.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::json;
use vsm_core::AccountName;
use vsm_manager::{InitOptions, Manager, OpenError};

use super::{RunInfo, is_locked, read_run_info};
use crate::api::Api;
use crate::cli::{ManagerInitArgs, ManagerRestoreArgs, ManagerStartArgs};
use crate::cmd::Ctx;
use crate::exit::{Exit, Failure};
use crate::password;

/// A manager library error as a classified failure (the library says which class).
#[allow(dead_code)] // reason: used by the foreground start once vsm_manager::http::serve lands
pub fn manager_failure(e: vsm_manager::Error) -> anyhow::Error {
    let mut f = Failure::new(Exit::from_api_kind(e.kind().as_str()), e.to_string());
    f.kind = Some(e.kind().as_str().to_owned());
    f.hint = e.hint();
    f.operation = e.operation().map(|o| o.0);
    if e.kind() == vsm_manager::ErrorKind::InvalidData {
        f.details = e.details();
    }
    anyhow::Error::new(e).context(f)
}

/// An error opening, creating or restoring a state directory, classified.
pub fn open_failure(e: OpenError) -> anyhow::Error {
    let mut f = Failure::new(Exit::from_api_kind(e.kind().as_str()), e.to_string());
    match &e {
        OpenError::Invalid(inner) => {
            f.hint = inner.hint();
            f.details = inner.details();
        }
        OpenError::Config { problem } => {
            f.details = vec![problem.to_string()];
            f.hint = Some("fix the configuration file and try again".into());
        }
        _ => {}
    }
    anyhow::Error::new(e).context(f)
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
    let listen = options.settings.service.listen.clone();
    tokio::task::spawn_blocking(move || Manager::init(options))
        .await
        .context("the init task failed")?
        .map_err(open_failure)?;
    let v =
        json!({"dir": dir, "admin": a.admin, "listen": listen, "config": dir.join("config.yaml")});
    ctx.out.emit(&v, |_| {
        format!(
            "initialized the manager state directory {dir} (administrator {})\n\
             settings: {}\n\
             next: vsm manager start --dir {dir} --detach",
            a.admin,
            dir.join("config.yaml")
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
    let from = a.from.clone();
    let target = dir.clone();
    let info = tokio::task::spawn_blocking(move || Manager::restore(&target, &from))
        .await
        .context("the restore task failed")?
        .map_err(open_failure)?;
    let v = serde_json::to_value(&info).unwrap_or_else(|_| json!({}));
    ctx.out.emit(&v, |_| {
        format!(
            "restored {dir} from {} ({} entries); start it with `vsm manager start --dir {dir}`",
            a.from,
            info.entries.len()
        )
    });
    Ok(Exit::Success)
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

fn unavailable(what: &str) -> anyhow::Error {
    Failure::new(
        Exit::Failed,
        format!("{what} is not built into this vsm yet"),
    )
    .into()
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
        return detach(ctx, &a).await;
    }
    foreground(ctx, &a).await
}

async fn foreground(_ctx: &Ctx<'_>, _a: &ManagerStartArgs) -> Result<Exit> {
    Err(unavailable("vsm manager start"))
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
            && let Ok(api) = Api::new(&info.url, None, None)
            && let Ok(health) = api.health().await
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

fn ready(ctx: &Ctx<'_>, info: &RunInfo, health: serde_json::Value) -> Result<Exit> {
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
