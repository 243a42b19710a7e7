//! The client commands: sessions, accounts, templates, units, groups, servers and operations.
//! Each sends one request (notes/API.md), then prints the answer or follows the operation it
//! started.

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Ctx, archive, view};
use crate::api::seg;
use crate::cli::{
    AccountCommand, GroupCommand, LoginArgs, OpCommand, ServerCommand, TemplateCommand,
    UnitCommand, WaitArgs,
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

/// Starts an operation with `POST path body` (adding `wait_secs`) and follows it.
async fn operation(
    ctx: &Ctx<'_>,
    method: Method,
    path: &str,
    mut body: Value,
    w: &WaitArgs,
) -> Result<Exit> {
    let api = ctx.api()?;
    if let (Some(secs), Some(obj)) = (w.wait, body.as_object_mut()) {
        obj.insert("wait_secs".into(), json!(secs));
    }
    let body = (!body.is_null()).then_some(body);
    let op = api.call(method, path, body.as_ref()).await?;
    wait::follow(&api, ctx.out, op, follow_opts(w)).await
}

// ---------------------------------------------------------------- sessions

pub async fn login(ctx: &Ctx<'_>, a: LoginArgs) -> Result<Exit> {
    let pw = password::read(&a.password, "password", false)?;
    let api = ctx.anonymous()?;
    let body = json!({"user": a.user, "password": pw.expose()});
    let answer = api
        .call(Method::POST, "/api/v1/login", Some(&body))
        .await
        .map_err(|e| {
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
    let token = answer
        .get("token")
        .and_then(Value::as_str)
        .context("the manager's login answer has no token")?
        .to_owned();
    let s = Session {
        token,
        account: answer
            .get("account")
            .and_then(Value::as_str)
            .unwrap_or(&a.user)
            .to_owned(),
        role: view::role_word(answer.get("role").and_then(Value::as_str).unwrap_or("")),
        expires_at: answer.get("expires_at").and_then(Value::as_i64),
    };
    let dir = session::config_dir()?;
    session::save(&dir, &ctx.global.url, s.clone())?;
    let shown = json!({
        "account": s.account, "role": s.role, "expires_at": s.expires_at, "url": api.base(),
    });
    ctx.out.emit(&shown, |_| {
        format!("logged in to {} as {} ({})", api.base(), s.account, s.role)
    });
    Ok(Exit::Success)
}

pub async fn logout(ctx: &Ctx<'_>) -> Result<Exit> {
    let dir = session::config_dir()?;
    let saved = session::load(&dir, &ctx.global.url)?;
    if let Some(s) = &saved {
        let api = crate::api::Api::new(&ctx.global.url, None, Some(s.token.clone()))?;
        // Ending the session at the manager is best effort: the local session goes anyway.
        let _ = api.call(Method::POST, "/api/v1/logout", None).await;
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
    let v = ctx.api()?.get("/api/v1/whoami").await?;
    ctx.out.emit(&v, |v| {
        format!(
            "{} ({})",
            crate::render::text(v, "account"),
            view::role_word(&crate::render::text(v, "role"))
        )
    });
    Ok(Exit::Success)
}

// ---------------------------------------------------------------- accounts

pub async fn account(ctx: &Ctx<'_>, c: AccountCommand) -> Result<Exit> {
    let api = ctx.api()?;
    match c {
        AccountCommand::Add(a) => {
            let pw = password::read(&a.password, "password for the new account", true)?;
            let body = json!({"name": a.name, "role": a.role.role(), "password": pw.expose()});
            let v = api
                .call(Method::POST, "/api/v1/accounts", Some(&body))
                .await?;
            let v = if v.is_null() {
                json!({"name": a.name, "role": a.role.as_str()})
            } else {
                v
            };
            ctx.out.emit(&v, |_| {
                format!("added account {} ({})", a.name, a.role.as_str())
            });
        }
        AccountCommand::Delete(a) => {
            let v = api
                .call(
                    Method::DELETE,
                    &format!("/api/v1/accounts/{}", seg(&a.name)),
                    None,
                )
                .await?;
            ctx.out
                .emit(&ok_or(v), |_| format!("deleted account {}", a.name));
        }
        AccountCommand::List => {
            let v = api.get("/api/v1/accounts").await?;
            ctx.out.emit(&v, |v| view::accounts(v, ctx.out.color));
        }
        AccountCommand::Passwd(a) => {
            let pw = password::read(&a.password, "new password", true)?;
            let body = json!({"password": pw.expose()});
            let v = api
                .call(
                    Method::PUT,
                    &format!("/api/v1/accounts/{}/password", seg(&a.name)),
                    Some(&body),
                )
                .await?;
            ctx.out
                .emit(&ok_or(v), |_| format!("changed the password of {}", a.name));
        }
    }
    Ok(Exit::Success)
}

fn ok_or(v: Value) -> Value {
    if v.is_null() { json!({"ok": true}) } else { v }
}

// ---------------------------------------------------------------- templates

pub async fn template(ctx: &Ctx<'_>, c: TemplateCommand) -> Result<Exit> {
    let api = ctx.api()?;
    match c {
        TemplateCommand::Register(a) => {
            let source = source_arg(&a.source, a.driver.as_str());
            let body = json!({"name": a.name, "driver": a.driver.as_str(), "source": source});
            let v = api
                .call(Method::POST, "/api/v1/templates", Some(&body))
                .await?;
            ctx.out.emit(&v, |v| {
                format!(
                    "registered template {}\n{}",
                    a.name,
                    view::template(v, ctx.out.color)
                )
            });
        }
        TemplateCommand::Update(a) => {
            let current = api
                .get(&format!("/api/v1/templates/{}", seg(&a.name)))
                .await?;
            let driver = crate::render::text(&current, "driver");
            let body = json!({"source": source_arg(&a.source, &driver)});
            let v = api
                .call(
                    Method::POST,
                    &format!("/api/v1/templates/{}/generations", seg(&a.name)),
                    Some(&body),
                )
                .await?;
            ctx.out.emit(&v, |v| {
                format!(
                    "added generation {} of template {}",
                    crate::render::text_any(v, &["generation", "latest"]),
                    a.name
                )
            });
        }
        TemplateCommand::List => {
            let v = api.get("/api/v1/templates").await?;
            ctx.out.emit(&v, |v| view::templates(v, ctx.out.color));
        }
        TemplateCommand::Show(a) => {
            let v = api
                .get(&format!("/api/v1/templates/{}", seg(&a.name)))
                .await?;
            ctx.out.emit(&v, |v| view::template(v, ctx.out.color));
        }
        TemplateCommand::Delete(a) => {
            let v = api
                .call(
                    Method::DELETE,
                    &format!("/api/v1/templates/{}", seg(&a.name)),
                    None,
                )
                .await?;
            ctx.out
                .emit(&ok_or(v), |_| format!("deleted template {}", a.name));
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

fn unit_path(name: &str, rest: &str) -> String {
    format!("/api/v1/units/{}{rest}", seg(name))
}

pub async fn unit(ctx: &Ctx<'_>, c: UnitCommand) -> Result<Exit> {
    let color = ctx.out.color;
    match c {
        UnitCommand::Create(a) => {
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
            let body = json!({"name": a.name, "file_name": a.file.as_str(), "unit_file": text});
            let v = ctx
                .api()?
                .call(Method::POST, "/api/v1/units", Some(&body))
                .await?;
            ctx.out.emit(&v, |v| {
                format!("created unit {}\n{}", a.name, view::unit(v, color))
            });
            Ok(Exit::Success)
        }
        UnitCommand::List(a) => {
            let path = if a.all {
                "/api/v1/units?all=true"
            } else {
                "/api/v1/units"
            };
            let v = ctx.api()?.get(path).await?;
            ctx.out.emit(&v, |v| view::units(v, color));
            Ok(Exit::Success)
        }
        UnitCommand::Show(a) => {
            let v = ctx.api()?.get(&unit_path(&a.name, "")).await?;
            ctx.out.emit(&v, |v| view::unit(v, color));
            Ok(Exit::Success)
        }
        UnitCommand::Chown(a) => {
            let body = json!({"to": a.to});
            let v = ctx
                .api()?
                .call(Method::PUT, &unit_path(&a.name, "/owner"), Some(&body))
                .await?;
            ctx.out.emit(&ok_or(v), |_| {
                format!("unit {} now belongs to {}", a.name, a.to)
            });
            Ok(Exit::Success)
        }
        UnitCommand::Import(a) => {
            let tar = archive::pack_dir(&a.dir)?;
            let v = ctx
                .api()?
                .post_tar(&unit_path(&a.name, "/versions"), tar)
                .await?;
            ctx.out.emit(&v, |v| view::import(&a.name, v, color));
            Ok(Exit::Success)
        }
        UnitCommand::Export(a) => {
            let version = a
                .version
                .map_or_else(|| "current".to_owned(), |v| v.to_string());
            archive::check_target_dir(&a.dir)?;
            let tar = ctx
                .api()?
                .get_bytes(&unit_path(&a.name, &format!("/versions/{version}/archive")))
                .await?;
            let files = archive::unpack(&tar, &a.dir)?;
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
            let tar = archive::pack_dir(&a.dir)?;
            let v = ctx
                .api()?
                .post_tar(&unit_path(&a.name, "/diff"), tar)
                .await?;
            ctx.out.emit(&v, |v| view::diff(v, color));
            Ok(Exit::Success)
        }
        UnitCommand::Versions(a) => {
            let v = ctx.api()?.get(&unit_path(&a.name, "/versions")).await?;
            ctx.out.emit(&v, |v| view::versions(v, color));
            Ok(Exit::Success)
        }
        UnitCommand::Apply(a) => {
            let mut body = json!({"no_rollback": a.no_rollback});
            let obj = body.as_object_mut().context("a JSON object")?;
            if let Some(v) = a.version {
                obj.insert("version".into(), json!(v));
            }
            if let Some(b) = a.batch {
                obj.insert("batch".into(), json!(b.to_string()));
            }
            if let Some(p) = a.max_unhealthy {
                obj.insert("max_unhealthy".into(), json!(p.to_string()));
            }
            if let Some(p) = a.pause {
                obj.insert("pause_secs".into(), json!(p));
            }
            operation(
                ctx,
                Method::POST,
                &unit_path(&a.name, "/apply"),
                body,
                &a.wait,
            )
            .await
        }
        UnitCommand::Rollback(a) => {
            operation(
                ctx,
                Method::POST,
                &unit_path(&a.name, "/rollback"),
                json!({}),
                &a.wait,
            )
            .await
        }
        UnitCommand::Start(a) => {
            operation(
                ctx,
                Method::POST,
                &unit_path(&a.name, "/start"),
                json!({}),
                &a.wait,
            )
            .await
        }
        UnitCommand::Stop(a) => {
            operation(
                ctx,
                Method::POST,
                &unit_path(&a.name, "/stop"),
                json!({}),
                &a.wait,
            )
            .await
        }
        UnitCommand::Scale(a) => {
            let mut body = json!({"group": a.group, "count": a.count});
            let obj = body.as_object_mut().context("a JSON object")?;
            if !a.remove.is_empty() {
                obj.insert("remove".into(), json!(a.remove));
            }
            if let Some(g) = a.grace {
                obj.insert("grace_secs".into(), json!(g));
            }
            operation(
                ctx,
                Method::POST,
                &unit_path(&a.name, "/scale"),
                body,
                &a.wait,
            )
            .await
        }
        UnitCommand::Upgrade(a) => {
            let mut body = json!({});
            let obj = body.as_object_mut().context("a JSON object")?;
            if let Some(b) = a.batch {
                obj.insert("batch".into(), json!(b.to_string()));
            }
            if let Some(s) = a.surge {
                obj.insert("surge".into(), json!(s));
            }
            operation(
                ctx,
                Method::POST,
                &unit_path(&a.name, "/upgrade"),
                body,
                &a.wait,
            )
            .await
        }
        UnitCommand::Delete(a) => {
            let mut query = String::new();
            if a.force {
                query.push_str("?force=true");
            }
            if let Some(w) = a.wait.wait {
                query.push_str(if query.is_empty() { "?" } else { "&" });
                query.push_str(&format!("wait_secs={w}"));
            }
            let api = ctx.api()?;
            let v = api
                .call(Method::DELETE, &unit_path(&a.name, &query), None)
                .await?;
            wait::follow(&api, ctx.out, v, follow_opts(&a.wait)).await
        }
    }
}

// ---------------------------------------------------------------- groups, servers, operations

pub async fn group(ctx: &Ctx<'_>, c: GroupCommand) -> Result<Exit> {
    let gpath = |unit: &str, group: &str, rest: &str| {
        format!("/api/v1/units/{}/groups/{}{rest}", seg(unit), seg(group))
    };
    match c {
        GroupCommand::Start(a) => {
            let p = gpath(&a.unit, &a.group, "/start");
            operation(ctx, Method::POST, &p, json!({}), &a.wait).await
        }
        GroupCommand::Stop(a) => {
            let p = gpath(&a.unit, &a.group, "/stop");
            operation(ctx, Method::POST, &p, json!({}), &a.wait).await
        }
        GroupCommand::Attach(a) => {
            let mut body = json!({"address": a.address});
            if let (Some(n), Some(obj)) = (&a.name, body.as_object_mut()) {
                obj.insert("name".into(), json!(n));
            }
            let p = gpath(&a.unit, &a.group, "/attach");
            operation(ctx, Method::POST, &p, body, &a.wait).await
        }
        GroupCommand::Detach(a) => {
            let mut p = gpath(&a.unit, &a.group, &format!("/servers/{}", seg(&a.server)));
            if let Some(w) = a.wait.wait {
                p.push_str(&format!("?wait_secs={w}"));
            }
            operation(ctx, Method::DELETE, &p, Value::Null, &a.wait).await
        }
    }
}

pub async fn server(ctx: &Ctx<'_>, c: ServerCommand) -> Result<Exit> {
    let spath = |unit: &str, server: &str, rest: &str| {
        format!("/api/v1/units/{}/servers/{}{rest}", seg(unit), seg(server))
    };
    match c {
        ServerCommand::Logs(a) => {
            let mut p = spath(&a.unit, &a.server, "/logs");
            if let Some(n) = a.tail {
                p.push_str(&format!("?tail={n}"));
            }
            let v = ctx.api()?.get(&p).await?;
            ctx.out.emit(&v, |v| {
                v.get("text")
                    .and_then(Value::as_str)
                    .map_or_else(|| crate::render::cell(v), str::to_owned)
            });
            Ok(Exit::Success)
        }
        ServerCommand::Recover(a) => {
            let p = spath(&a.unit, &a.server, "/recover");
            operation(ctx, Method::POST, &p, json!({}), &a.wait).await
        }
        ServerCommand::Mark(a) => {
            let body = json!({"comment": a.comment});
            let v = ctx
                .api()?
                .call(
                    Method::PUT,
                    &spath(&a.unit, &a.server, "/mark"),
                    Some(&body),
                )
                .await?;
            ctx.out.emit(&ok_or(v), |_| {
                format!(
                    "marked {} of unit {} as failed: {}",
                    a.server, a.unit, a.comment
                )
            });
            Ok(Exit::Success)
        }
        ServerCommand::Unmark(a) => {
            let v = ctx
                .api()?
                .call(Method::DELETE, &spath(&a.unit, &a.server, "/mark"), None)
                .await?;
            ctx.out.emit(&ok_or(v), |_| {
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
    let api = ctx.api()?;
    match c {
        OpCommand::List(a) => {
            let p = match &a.unit {
                Some(u) => format!("/api/v1/operations?unit={}", seg(u)),
                None => "/api/v1/operations".to_owned(),
            };
            let v = api.get(&p).await?;
            ctx.out.emit(&v, |v| view::operations(v, ctx.out.color));
            Ok(Exit::Success)
        }
        OpCommand::Show(a) => {
            let v = api.get(&format!("/api/v1/operations/{}", a.id)).await?;
            ctx.out.emit(&v, |v| wait::summary(v, ctx.out.color));
            Ok(Exit::Success)
        }
        OpCommand::Cancel(a) => {
            let v = api
                .call(
                    Method::POST,
                    &format!("/api/v1/operations/{}/cancel", a.id),
                    None,
                )
                .await?;
            ctx.out.emit(&ok_or(v), |_| {
                format!(
                    "asked operation {} to cancel; `vsm op wait {}` follows it",
                    a.id, a.id
                )
            });
            Ok(Exit::Success)
        }
        OpCommand::Wait(a) => {
            let v = api.get(&format!("/api/v1/operations/{}", a.id)).await?;
            let how = Follow {
                timeout: a.timeout,
                no_wait: false,
            };
            wait::follow(&api, ctx.out, v, how).await
        }
    }
}
