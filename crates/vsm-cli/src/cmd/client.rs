//! The client commands: sessions, accounts, hosts, templates, units, groups, servers and
//! operations.
//! Each sends one request through the typed client of the API, then prints the answer or follows
//! the operation it started.

use anyhow::Result;
use serde_json::json;
use vsm_core::{DefinitionVersion, OperationId};
use vsm_manager::http::ClientError;
use vsm_manager::http::archive::ArchiveError;
use vsm_manager::{
    AddAccount, AddHost, ApplyRequest, AttachRequest, CreateUnitFromFile, DeleteUnitRequest,
    OpOptions, OperationRecord, Password, RegisterTemplate, ScaleRequest, UpgradeRequest,
};

use super::{Ctx, archive, view, watch};
use crate::api::{self, Client};
use crate::cli::{
    AccountCommand, GroupCommand, HostAddArgs, HostCommand, Label, LoginArgs, OpCommand,
    ServerCommand, TemplateCommand, UnitCommand, WaitArgs,
};
use crate::exit::{Exit, Failure};
use crate::password;
use crate::session::{self, Session};
use crate::wait::{self, Follow};

fn follow_opts(w: &WaitArgs) -> Follow {
    Follow {
        timeout: w.timeout,
        no_wait: w.no_wait,
    }
}

fn op_options(w: &WaitArgs) -> OpOptions {
    OpOptions { wait_secs: w.wait }
}

/// Follows the operation the manager just started.
async fn follow(ctx: &Ctx<'_>, client: &Client, op: OperationRecord, w: &WaitArgs) -> Result<Exit> {
    wait::follow(client, ctx.out, op, follow_opts(w)).await
}

/// What commands without an answer of their own print in JSON mode.
fn ok() -> serde_json::Value {
    json!({"ok": true})
}

/// The API's word for a role (`administrator`, `builder`).
fn role_text(role: vsm_core::Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| role.as_str().to_owned())
}

// ---------------------------------------------------------------- sessions

pub async fn login(ctx: &Ctx<'_>, a: LoginArgs) -> Result<Exit> {
    let user = api::account(&a.user)?;
    let pw = password::read(&a.password, "password", false)?;
    let client = ctx.anonymous()?;
    let answer = client
        .login(&user, &Password::new(pw.expose()))
        .await
        .map_err(|e| {
            let e = anyhow::Error::new(e);
            if crate::exit::classify(&e) == Exit::NoPerm {
                e.context(
                    Failure::new(Exit::NoPerm, format!("could not log in as `{}`", a.user)).hint(
                        "check the account name and password (failed logins are rate-limited)",
                    ),
                )
            } else {
                e
            }
        })?;
    let s = Session {
        token: answer.token.clone(),
        account: answer.account.to_string(),
        role: view::role_word(&role_text(answer.role)),
        expires_at: Some(answer.expires_at.as_millis()),
    };
    let dir = session::config_dir()?;
    session::save(&dir, &ctx.global.url, s.clone())?;
    let shown = json!({
        "account": s.account, "role": s.role, "expires_at": s.expires_at, "url": client.base_url(),
    });
    ctx.out.emit(&shown, |_| {
        format!(
            "logged in to {} as {} ({})",
            client.base_url(),
            s.account,
            s.role
        )
    });
    Ok(Exit::Success)
}

pub async fn logout(ctx: &Ctx<'_>) -> Result<Exit> {
    let dir = session::config_dir()?;
    let saved = session::load(&dir, &ctx.global.url)?;
    if let Some(s) = &saved {
        // Ending the session at the manager is best effort: the local session goes anyway.
        if let Ok(client) = api::connect(&ctx.url, None, Some(s.token.clone())) {
            let _ = client.logout().await;
        }
    }
    session::remove(&dir, &ctx.global.url)?;
    let v = json!({"logged_out": saved.is_some(), "url": ctx.global.url});
    ctx.out.emit(&v, |_| match &saved {
        Some(s) => format!("logged out {} from {}", s.account, ctx.global.url),
        None => format!("no saved session for {}", ctx.global.url),
    });
    Ok(Exit::Success)
}

pub async fn whoami(ctx: &Ctx<'_>) -> Result<Exit> {
    let me = ctx.api()?.whoami().await?;
    ctx.out.show(&me, |_| {
        format!("{} ({})", me.account, view::role_word(&role_text(me.role)))
    })?;
    Ok(Exit::Success)
}

// ---------------------------------------------------------------- accounts

pub async fn account(ctx: &Ctx<'_>, c: AccountCommand) -> Result<Exit> {
    let client = ctx.api()?;
    match c {
        AccountCommand::Add(a) => {
            let name = api::account(&a.name)?;
            let pw = password::read(&a.password, "password for the new account", true)?;
            let request = AddAccount {
                name,
                role: a.role.role(),
                password: Password::new(pw.expose()),
            };
            let info = client.create_account(&request).await?;
            ctx.out.show(&info, |_| {
                format!("added account {} ({})", a.name, a.role.as_str())
            })?;
        }
        AccountCommand::Delete(a) => {
            client.delete_account(&api::account(&a.name)?).await?;
            ctx.out
                .emit(&ok(), |_| format!("deleted account {}", a.name));
        }
        AccountCommand::List => {
            let list = client.list_accounts().await?;
            ctx.out.show(&list, |v| view::accounts(v, ctx.out.color))?;
        }
        AccountCommand::Passwd(a) => {
            let name = api::account(&a.name)?;
            let pw = password::read(&a.password, "new password", true)?;
            client
                .set_password(&name, &Password::new(pw.expose()))
                .await?;
            ctx.out
                .emit(&ok(), |_| format!("changed the password of {}", a.name));
        }
    }
    Ok(Exit::Success)
}

// ---------------------------------------------------------------- hosts

pub async fn host(ctx: &Ctx<'_>, c: HostCommand) -> Result<Exit> {
    let color = ctx.out.color;
    match c {
        HostCommand::Add(a) => {
            // Everything the command line can check is checked before a request is sent.
            let request = add_host_request(&a)?;
            let info = ctx.api()?.add_host(&request).await?;
            ctx.out.show(&info, |v| {
                format!("added host {}\n{}", a.name, view::host(v, color))
            })?;
        }
        HostCommand::List => {
            let list = ctx.api()?.list_hosts().await?;
            ctx.out.show(&list, |v| view::hosts(v, color))?;
        }
        HostCommand::Show(a) => {
            let name = api::host(&a.name)?;
            let info = ctx.api()?.show_host(&name).await?;
            ctx.out.show(&info, |v| view::host(v, color))?;
        }
        HostCommand::Remove(a) => {
            let name = api::host(&a.name)?;
            ctx.api()?.remove_host(&name).await?;
            ctx.out.emit(&ok(), |_| format!("removed host {}", a.name));
        }
        HostCommand::Drain(a) => {
            let name = api::host(&a.name)?;
            let report = ctx
                .api()?
                .drain_host(
                    &name,
                    &vsm_manager::DrainRequest {
                        timeout_secs: a.timeout,
                    },
                )
                .await?;
            let exit = match (report.left.is_empty(), report.moved) {
                (true, _) => Exit::Success,
                (false, 0) => Exit::Failed,
                (false, _) => Exit::Warning,
            };
            ctx.out.show(&report, |v| view::drain(v, color))?;
            return Ok(exit);
        }
        HostCommand::Rebalance(a) => {
            let report = ctx
                .api()?
                .rebalance_hosts(&vsm_manager::RebalanceRequest {
                    dry_run: a.dry_run,
                    timeout_secs: a.timeout,
                })
                .await?;
            let failed = report
                .operations
                .iter()
                .any(|o| o.state != vsm_manager::OperationState::Succeeded);
            ctx.out.show(&report, |v| view::rebalance(v, color))?;
            if failed || report.timed_out {
                return Ok(Exit::Warning);
            }
        }
        HostCommand::ConfirmDown(a) => {
            let name = api::host(&a.name)?;
            let report = ctx.api()?.confirm_host_down(&name).await?;
            ctx.out.show(&report, |v| {
                let ops: Vec<String> = crate::render::array(v, "operations")
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let mut out = if ops.is_empty() {
                    format!("host {} confirmed lost; no failover started", a.name)
                } else {
                    format!(
                        "host {} confirmed lost; its servers restart elsewhere: operation(s) {} (follow with `vsm op show ID`)",
                        a.name,
                        ops.join(", ")
                    )
                };
                for r in crate::render::array(v, "not_restarted") {
                    out.push_str(&format!(
                        "\nunit {}: not restarted now: {} (the manager tries again every 30 s)",
                        crate::render::text(r, "unit"),
                        crate::render::text(r, "reason")
                    ));
                }
                out
            })?;
            if !report.not_restarted.is_empty() {
                return Ok(if report.operations.is_empty() {
                    Exit::Failed
                } else {
                    Exit::Warning
                });
            }
        }
        HostCommand::Undrain(a) => {
            let name = api::host(&a.name)?;
            let info = ctx.api()?.undrain_host(&name).await?;
            ctx.out.show(&info, |v| {
                format!(
                    "host {} is {}: it takes new servers again",
                    a.name,
                    crate::render::text(v, "state")
                )
            })?;
        }
    }
    Ok(Exit::Success)
}

/// The request of `vsm host add`: the name checked, the labels as a map (a key given twice is
/// a usage error), a local host's directory made absolute against the working directory.
fn add_host_request(a: &HostAddArgs) -> Result<AddHost> {
    Ok(AddHost {
        name: api::host(&a.name)?,
        driver: a.driver.kind(),
        uri: a.uri.clone(),
        dir: a.dir.as_deref().map(absolute_dir).transpose()?,
        labels: label_map(&a.labels)?,
        cpu_ratio: a.cpu_ratio,
        ram_ratio: a.ram_ratio,
        reserved_memory_mb: a.reserved_memory_mb,
        fencing: a.fencing.map(|f| f.fencing()),
    })
}

/// The labels of `--label KEY=VALUE` as a map; a key given twice is a usage error.
fn label_map(labels: &[Label]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut map = std::collections::BTreeMap::new();
    for l in labels {
        if let Some(first) = map.insert(l.key.clone(), l.value.clone()) {
            return Err(Failure::new(
                Exit::Usage,
                format!(
                    "--label {}={} gives the label `{}` a second time (first {}={first})",
                    l.key, l.value, l.key, l.key
                ),
            )
            .hint("give each label key once")
            .into());
        }
    }
    Ok(map)
}

/// `dir` as an absolute path: the manager resolves nothing against the client's working
/// directory. The directory need not exist yet.
fn absolute_dir(dir: &camino::Utf8Path) -> Result<camino::Utf8PathBuf> {
    let abs = std::path::absolute(dir).map_err(|e| {
        anyhow::Error::new(e).context(Failure::new(
            Exit::Usage,
            format!("cannot make --dir {dir} an absolute path"),
        ))
    })?;
    camino::Utf8PathBuf::from_path_buf(abs).map_err(|p| {
        Failure::new(
            Exit::Usage,
            format!("--dir {} is not UTF-8 once made absolute", p.display()),
        )
        .hint("give an absolute UTF-8 path")
        .into()
    })
}

// ---------------------------------------------------------------- templates

pub async fn template(ctx: &Ctx<'_>, c: TemplateCommand) -> Result<Exit> {
    let client = ctx.api()?;
    let color = ctx.out.color;
    match c {
        TemplateCommand::Register(a) => {
            let request = RegisterTemplate {
                name: api::template(&a.name)?,
                driver: a.driver.kind(),
                source: source_arg(&a.source, a.driver.as_str()),
            };
            let info = client.register_template(&request).await?;
            ctx.out.show(&info, |v| {
                format!(
                    "registered template {}\n{}",
                    a.name,
                    view::template(v, color)
                )
            })?;
        }
        TemplateCommand::Update(a) => {
            let name = api::template(&a.name)?;
            let current = client.show_template(&name).await?;
            let source = source_arg(&a.source, current.driver.as_str());
            let info = client.add_template_generation(&name, &source).await?;
            ctx.out.show(&info, |_| {
                format!("added generation {} of template {}", info.latest, a.name)
            })?;
        }
        TemplateCommand::List => {
            let list = client.list_templates().await?;
            ctx.out.show(&list, |v| view::templates(v, color))?;
        }
        TemplateCommand::Show(a) => {
            let info = client.show_template(&api::template(&a.name)?).await?;
            ctx.out.show(&info, |v| view::template(v, color))?;
        }
        TemplateCommand::Delete(a) => {
            client.delete_template(&api::template(&a.name)?).await?;
            ctx.out
                .emit(&ok(), |_| format!("deleted template {}", a.name));
        }
    }
    Ok(Exit::Success)
}

/// A local template directory is sent as an absolute path (the manager resolves nothing
/// against the client's working directory); other sources go as given.
fn source_arg(source: &str, driver: &str) -> String {
    if driver == "local" {
        let p = std::path::Path::new(source);
        if p.is_relative()
            && p.exists()
            && let Ok(abs) = std::fs::canonicalize(p)
        {
            return abs.to_string_lossy().into_owned();
        }
    }
    source.to_owned()
}

// ---------------------------------------------------------------- units

pub async fn unit(ctx: &Ctx<'_>, c: UnitCommand) -> Result<Exit> {
    let color = ctx.out.color;
    match c {
        UnitCommand::Create(a) => {
            let name = api::unit(&a.name)?;
            let bytes = password::read_user_file(&a.file, "the unit file")?;
            let text = String::from_utf8(bytes).map_err(|e| {
                Failure::new(
                    Exit::DataErr,
                    format!(
                        "the unit file {} is not UTF-8 text (byte {})",
                        a.file,
                        e.utf8_error().valid_up_to() + 1
                    ),
                )
            })?;
            let request = CreateUnitFromFile {
                name,
                file_name: a.file.to_string(),
                unit_file: text,
            };
            let detail = ctx.api()?.create_unit(&request).await?;
            ctx.out.show(&detail, |v| {
                format!("created unit {}\n{}", a.name, view::unit(v, color))
            })?;
            Ok(Exit::Success)
        }
        UnitCommand::List(a) => {
            let list = ctx.api()?.list_units(a.all).await?;
            ctx.out.show(&list, |v| view::units(v, color))?;
            Ok(Exit::Success)
        }
        UnitCommand::Show(a) if a.watch => watch::unit(ctx, &api::unit(&a.name)?).await,
        UnitCommand::Show(a) => {
            let detail = ctx.api()?.show_unit(&api::unit(&a.name)?).await?;
            ctx.out.show(&detail, |v| view::unit(v, color))?;
            Ok(Exit::Success)
        }
        UnitCommand::Chown(a) => {
            let (unit, to) = (api::unit(&a.name)?, api::account(&a.to)?);
            ctx.api()?.chown_unit(&unit, &to).await?;
            ctx.out.emit(&ok(), |_| {
                format!("unit {} now belongs to {}", a.name, a.to)
            });
            Ok(Exit::Success)
        }
        UnitCommand::Import(a) => {
            let unit = api::unit(&a.name)?;
            archive::check_source_dir(&a.dir)?;
            let imported = ctx
                .api()?
                .import_directory(&unit, &a.dir)
                .await
                .map_err(upload_error)?;
            ctx.out
                .show(&imported, |v| view::import(&a.name, v, color))?;
            Ok(Exit::Success)
        }
        UnitCommand::Export(a) => {
            let unit = api::unit(&a.name)?;
            archive::check_target_dir(&a.dir)?;
            // Streamed: the archive is unpacked as it arrives, whatever its size.
            let dir = a.dir.clone();
            let files = ctx
                .api()?
                .export_with(&unit, a.version.map(DefinitionVersion), move |tar| {
                    archive::unpack(tar, &dir)
                })
                .await??;
            let version = a
                .version
                .map_or_else(|| "current".to_owned(), |v| v.to_string());
            let v = json!({"unit": a.name, "version": version, "dir": a.dir, "files": files});
            ctx.out.emit(&v, |_| {
                format!(
                    "wrote version {version} of unit {} to {} ({} files)",
                    a.name, a.dir, files
                )
            });
            Ok(Exit::Success)
        }
        UnitCommand::Diff(a) => {
            let unit = api::unit(&a.name)?;
            archive::check_source_dir(&a.dir)?;
            let diff = ctx
                .api()?
                .diff_directory(&unit, &a.dir)
                .await
                .map_err(upload_error)?;
            ctx.out.show(&diff, |v| view::diff(v, color))?;
            Ok(Exit::Success)
        }
        UnitCommand::Versions(a) => {
            let list = ctx.api()?.list_versions(&api::unit(&a.name)?).await?;
            ctx.out.show(&list, |v| view::versions(v, color))?;
            Ok(Exit::Success)
        }
        UnitCommand::Apply(a) => {
            let unit = api::unit(&a.name)?;
            let request = ApplyRequest {
                version: a.version.map(DefinitionVersion),
                batch: a.batch,
                max_unhealthy: a.max_unhealthy,
                pause_secs: a.pause,
                no_rollback: a.no_rollback,
                wait_secs: a.wait.wait,
            };
            let client = ctx.api()?;
            let op = client.apply(&unit, &request).await?;
            follow(ctx, &client, op, &a.wait).await
        }
        UnitCommand::Rollback(a) => {
            let unit = api::unit(&a.name)?;
            let client = ctx.api()?;
            let op = client.rollback(&unit, op_options(&a.wait)).await?;
            follow(ctx, &client, op, &a.wait).await
        }
        UnitCommand::Start(a) => {
            let unit = api::unit(&a.name)?;
            let client = ctx.api()?;
            let op = client.start_unit(&unit, op_options(&a.wait)).await?;
            follow(ctx, &client, op, &a.wait).await
        }
        UnitCommand::Stop(a) => {
            let unit = api::unit(&a.name)?;
            let client = ctx.api()?;
            let op = client.stop_unit(&unit, op_options(&a.wait)).await?;
            follow(ctx, &client, op, &a.wait).await
        }
        UnitCommand::Scale(a) => {
            let unit = api::unit(&a.name)?;
            let request = ScaleRequest {
                group: api::group(&a.group)?,
                count: a.count,
                remove: a
                    .remove
                    .iter()
                    .map(|s| api::server(s))
                    .collect::<Result<_>>()?,
                grace_secs: a.grace,
                wait_secs: a.wait.wait,
            };
            let client = ctx.api()?;
            let op = client.scale(&unit, &request).await?;
            follow(ctx, &client, op, &a.wait).await
        }
        UnitCommand::Upgrade(a) => {
            let unit = api::unit(&a.name)?;
            let request = UpgradeRequest {
                batch: a.batch,
                surge: a.surge,
                wait_secs: a.wait.wait,
            };
            let client = ctx.api()?;
            let op = client.upgrade(&unit, &request).await?;
            follow(ctx, &client, op, &a.wait).await
        }
        UnitCommand::Delete(a) => {
            let unit = api::unit(&a.name)?;
            let request = DeleteUnitRequest {
                force: a.force,
                wait_secs: a.wait.wait,
            };
            let client = ctx.api()?;
            let op = client.delete_unit(&unit, &request).await?;
            follow(ctx, &client, op, &a.wait).await
        }
    }
}

/// The errors of uploading a definition directory: one the client refused to send because it
/// exceeds a limit the manager announced is the sentence naming the file and the limit (65); an
/// upload the manager cut short gets a hint; other errors stay as they are.
fn upload_error(e: ClientError) -> anyhow::Error {
    const OVER: &str =
        "nothing was sent; remove what the servers do not need from the definition directory";
    const CUT: &str = "the manager may have refused the upload as too large (see its log; it accepts 1 GiB by default), or it stopped";
    match &e {
        ClientError::Archive(over @ ArchiveError::OverLimit { .. }) => {
            Failure::new(Exit::DataErr, over.to_string())
                .hint(OVER)
                .into()
        }
        ClientError::UploadCut { .. } => {
            let message = e.to_string();
            anyhow::Error::new(e).context(Failure::new(Exit::Failed, message).hint(CUT))
        }
        _ => e.into(),
    }
}

// ---------------------------------------------------------------- groups, servers, operations

pub async fn group(ctx: &Ctx<'_>, c: GroupCommand) -> Result<Exit> {
    let client = ctx.api()?;
    match c {
        GroupCommand::Start(a) => {
            let (unit, group) = (api::unit(&a.unit)?, api::group(&a.group)?);
            let op = client
                .start_group(&unit, &group, op_options(&a.wait))
                .await?;
            follow(ctx, &client, op, &a.wait).await
        }
        GroupCommand::Stop(a) => {
            let (unit, group) = (api::unit(&a.unit)?, api::group(&a.group)?);
            let op = client
                .stop_group(&unit, &group, op_options(&a.wait))
                .await?;
            follow(ctx, &client, op, &a.wait).await
        }
        GroupCommand::Attach(a) => {
            let (unit, group) = (api::unit(&a.unit)?, api::group(&a.group)?);
            let request = AttachRequest {
                address: a.address.clone(),
                name: a.name.as_deref().map(api::server).transpose()?,
                wait_secs: a.wait.wait,
            };
            let op = client.attach(&unit, &group, &request).await?;
            follow(ctx, &client, op, &a.wait).await
        }
        GroupCommand::Detach(a) => {
            let (unit, group) = (api::unit(&a.unit)?, api::group(&a.group)?);
            let server = api::server(&a.server)?;
            let op = client
                .detach(&unit, &group, &server, op_options(&a.wait))
                .await?;
            follow(ctx, &client, op, &a.wait).await
        }
    }
}

pub async fn server(ctx: &Ctx<'_>, c: ServerCommand) -> Result<Exit> {
    let client = ctx.api()?;
    match c {
        ServerCommand::Logs(a) => {
            let (unit, server) = (api::unit(&a.unit)?, api::server(&a.server)?);
            let logs = client
                .server_logs(&unit, &server, a.tail.map(|n| n as usize))
                .await?;
            ctx.out.show(&logs, |_| logs.text.clone())?;
            Ok(Exit::Success)
        }
        ServerCommand::Recover(a) => {
            let (unit, server) = (api::unit(&a.unit)?, api::server(&a.server)?);
            let op = client
                .recover_server(&unit, &server, op_options(&a.wait))
                .await?;
            follow(ctx, &client, op, &a.wait).await
        }
        ServerCommand::Mark(a) => {
            let (unit, server) = (api::unit(&a.unit)?, api::server(&a.server)?);
            client.mark_server(&unit, &server, &a.comment).await?;
            ctx.out.emit(&ok(), |_| {
                format!(
                    "marked {} of unit {} as failed: {}",
                    a.server, a.unit, a.comment
                )
            });
            Ok(Exit::Success)
        }
        ServerCommand::Unmark(a) => {
            let (unit, server) = (api::unit(&a.unit)?, api::server(&a.server)?);
            client.unmark_server(&unit, &server).await?;
            ctx.out.emit(&ok(), |_| {
                format!(
                    "removed the failure mark of {} of unit {}",
                    a.server, a.unit
                )
            });
            Ok(Exit::Success)
        }
    }
}

pub async fn op(ctx: &Ctx<'_>, c: OpCommand) -> Result<Exit> {
    let client = ctx.api()?;
    match c {
        OpCommand::List(a) => {
            let unit = a.unit.as_deref().map(api::unit).transpose()?;
            let list = client.list_operations(unit.as_ref()).await?;
            ctx.out
                .show(&list, |v| view::operations(v, ctx.out.color))?;
            Ok(Exit::Success)
        }
        OpCommand::Show(a) => {
            let op = client.operation(OperationId(a.id)).await?;
            ctx.out.show(&op, |_| wait::summary(&op, ctx.out.color))?;
            Ok(Exit::Success)
        }
        OpCommand::Cancel(a) => {
            let op = client.cancel_operation(OperationId(a.id)).await?;
            ctx.out.show(&op, |_| {
                format!(
                    "asked operation {} to cancel; `vsm op wait {}` follows it",
                    a.id, a.id
                )
            })?;
            Ok(Exit::Success)
        }
        OpCommand::Wait(a) => {
            let op = client.operation(OperationId(a.id)).await?;
            let how = Follow {
                timeout: a.timeout,
                no_wait: false,
            };
            wait::follow(&client, ctx.out, op, how).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn add_args(line: &str) -> HostAddArgs {
        let cli = crate::cli::Cli::try_parse_from(std::iter::once("vsm").chain(line.split(' ')))
            .expect("parses");
        match cli.command {
            crate::cli::Command::Host(HostCommand::Add(a)) => a,
            other => panic!("not host add: {other:?}"),
        }
    }

    #[test]
    fn host_add_requests_carry_labels_and_an_absolute_dir() {
        let a = add_args(
            "host add h2 --driver local --dir rel/h2 --label zone=a --label rack=r1 --fencing none",
        );
        let r = add_host_request(&a).expect("valid");
        assert_eq!(r.name.as_str(), "h2");
        assert_eq!(r.driver, vsm_manager::DriverKind::Local);
        let dir = r.dir.expect("a dir");
        assert!(dir.is_absolute(), "{dir}");
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(dir.as_std_path(), cwd.join("rel/h2"));
        assert_eq!(r.labels.get("zone").map(String::as_str), Some("a"));
        assert_eq!(r.labels.get("rack").map(String::as_str), Some("r1"));
        assert_eq!(r.fencing, Some(vsm_manager::Fencing::None));
        assert_eq!(r.uri, None);

        let a = add_args("host add kvm-01 --driver libvirt --uri qemu:///system");
        let r = add_host_request(&a).expect("valid");
        assert_eq!(r.uri.as_deref(), Some("qemu:///system"));
        assert_eq!(r.dir, None);
        assert!(r.labels.is_empty());
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(
            json,
            json!({"name": "kvm-01", "driver": "libvirt", "uri": "qemu:///system"})
        );
    }

    #[test]
    fn bad_host_add_requests_are_usage_errors_before_any_request() {
        let a = add_args("host add h --driver local --dir /d --label zone=a --label zone=b");
        let e = add_host_request(&a).expect_err("twice");
        assert_eq!(crate::exit::classify(&e), Exit::Usage);
        assert!(e.to_string().contains("--label zone=b"), "{e}");
        let a = add_args("host add Bad_Name --driver local --dir /d");
        let e = add_host_request(&a).expect_err("bad name");
        assert_eq!(crate::exit::classify(&e), Exit::Usage);
    }
}
