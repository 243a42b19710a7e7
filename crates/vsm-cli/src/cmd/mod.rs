//! The commands: each takes its parsed arguments, calls the manager (through the typed
//! [`Client`] of its HTTP API, or the manager library for `vsm manager
//! init/start/stop/status/restore`), prints the result and returns the exit code. Rendering of
//! human output lives in [`view`].

mod archive;
mod client;
mod jp1;
mod manager;
pub mod view;
mod watch;

use anyhow::Result;

use crate::api::{self, Client};
use crate::cli::{Cli, Command, GlobalArgs};
use crate::exit::{Exit, Failure};
use crate::render::Out;
use crate::session;

/// What every command gets: the global options and the output settings.
pub struct Ctx<'a> {
    /// The global options.
    pub global: &'a GlobalArgs,
    /// Where output goes.
    pub out: &'a Out,
    /// The manager URL requests go to: `--url`/`VSM_URL`, or — when that lists several
    /// managers (`a,b`) — the active one of them.
    pub url: String,
}

impl Ctx<'_> {
    fn ca_cert(&self) -> Result<Option<Vec<u8>>> {
        match &self.global.ca_cert {
            None => Ok(None),
            Some(path) => {
                crate::password::read_user_file(path, "the CA certificate file").map(Some)
            }
        }
    }

    /// A client without a token (health, login).
    pub fn anonymous(&self) -> Result<Client> {
        api::connect(&self.url, self.ca_cert()?.as_deref(), None)
    }

    /// A client with the token from VSM_TOKEN or the saved session.
    pub fn api(&self) -> Result<Client> {
        let token = match std::env::var("VSM_TOKEN") {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => {
                let dir = session::config_dir()?;
                // Saved under the URL as given; for a list, also under each of its URLs.
                let mut token = session::load(&dir, &self.global.url)?.map(|s| s.token);
                for url in manager_urls(&self.global.url) {
                    if token.is_some() {
                        break;
                    }
                    token = session::load(&dir, &url)?.map(|s| s.token);
                }
                token
            }
        };
        if token.is_none() {
            return Err(Failure::new(
                Exit::NoPerm,
                format!("not logged in to the manager at {}", self.global.url),
            )
            .hint(api::LOGIN_HINT)
            .into());
        }
        api::connect(&self.url, self.ca_cert()?.as_deref(), token)
    }
}

/// The URLs of `--url`/`VSM_URL`: one, or several separated by commas (several managers on
/// one PostgreSQL database).
pub fn manager_urls(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Of several manager URLs, the active manager's: the first that says it is active, or the
/// one a standby names; else the first that answers, else the first.
async fn find_active(ctx: &Ctx<'_>, urls: &[String]) -> String {
    let ca = ctx.ca_cert().ok().flatten();
    let mut answering = None;
    for url in urls {
        let Ok(client) = api::connect(url, ca.as_deref(), None) else {
            continue;
        };
        let health = tokio::time::timeout(std::time::Duration::from_secs(3), client.health()).await;
        let Ok(Ok(health)) = health else {
            continue;
        };
        match health.ha {
            Some(ha) if ha.role == vsm_manager::ManagerRole::Standby => {
                answering.get_or_insert(ha.active_url.unwrap_or_else(|| url.clone()));
            }
            _ => return url.clone(),
        }
    }
    answering.unwrap_or_else(|| urls.first().cloned().unwrap_or_default())
}

/// Where to send a command again after `e`, if anywhere: a standby refused it naming the
/// active manager (or none yet: the next URL of the list), or the manager at `url` could not
/// be reached at all. Either way nothing was done.
fn redirect(e: &anyhow::Error, urls: &[String], url: &str) -> Option<String> {
    let client_error = e
        .chain()
        .find_map(|c| c.downcast_ref::<vsm_manager::http::ClientError>())?;
    let next = || {
        let at = urls.iter().position(|u| u == url);
        let next = match at {
            Some(i) => urls.iter().cycle().skip(i + 1).take(urls.len() - 1).next(),
            None => urls.first(),
        };
        next.filter(|n| n.as_str() != url).cloned()
    };
    match client_error {
        vsm_manager::http::ClientError::Api { error, .. }
            if error.kind == vsm_manager::ErrorKind::Unavailable =>
        {
            match &error.active_url {
                Some(active) if active != url => Some(active.clone()),
                Some(_) => None,
                None => next(),
            }
        }
        vsm_manager::http::ClientError::Unreachable { source, .. }
            if source.is_connect() && urls.len() > 1 =>
        {
            next()
        }
        _ => None,
    }
}

/// Runs the parsed command line. With several manager URLs it goes to the active manager,
/// and once more to the one a refusal names (a takeover between the two).
pub async fn run(cli: Cli, out: &Out) -> Result<Exit> {
    let urls = manager_urls(&cli.global.url);
    let mut ctx = Ctx {
        global: &cli.global,
        out,
        url: urls
            .first()
            .cloned()
            .unwrap_or_else(|| cli.global.url.clone()),
    };
    let talks = !matches!(cli.command, Command::Manager(_) | Command::Completions(_));
    if talks && urls.len() > 1 {
        ctx.url = find_active(&ctx, &urls).await;
    }
    let first = dispatch(&ctx, cli.command.clone()).await;
    match &first {
        Err(e) => match redirect(e, &urls, &ctx.url) {
            Some(next) => {
                tracing::debug!(from = %ctx.url, to = %next, "following the active manager");
                ctx.url = next;
                dispatch(&ctx, cli.command).await
            }
            None => first,
        },
        Ok(_) => first,
    }
}

async fn dispatch(ctx: &Ctx<'_>, command: Command) -> Result<Exit> {
    match command {
        Command::Manager(c) => manager::run(ctx, c).await,
        Command::Login(a) => client::login(ctx, a).await,
        Command::Logout => client::logout(ctx).await,
        Command::Whoami => client::whoami(ctx).await,
        Command::Account(c) => client::account(ctx, c).await,
        Command::Host(c) => client::host(ctx, c).await,
        Command::Template(c) => client::template(ctx, c).await,
        Command::Unit(c) => client::unit(ctx, c).await,
        Command::Group(c) => client::group(ctx, c).await,
        Command::Server(c) => client::server(ctx, c).await,
        Command::Op(c) => client::op(ctx, c).await,
        Command::Jp1(c) => jp1::run(ctx, c).await,
        Command::Completions(a) => {
            use std::io::Write;
            let bytes = crate::docgen::completion(a.shell);
            let _ = std::io::stdout().write_all(&bytes);
            Ok(Exit::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use vsm_manager::ErrorKind;
    use vsm_manager::http::{ApiError, ClientError};

    use super::*;

    fn refused(active: Option<&str>) -> anyhow::Error {
        let mut error = ApiError::new(ErrorKind::Unavailable, "this manager is a standby");
        error.active_url = active.map(str::to_owned);
        anyhow::Error::new(ClientError::Api { status: 503, error }).context("starting the apply")
    }

    #[test]
    fn several_urls_are_separated_by_commas() {
        assert_eq!(
            manager_urls(" http://a:1 ,http://b:2,, "),
            ["http://a:1", "http://b:2"]
        );
        assert_eq!(manager_urls("http://a:1"), ["http://a:1"]);
    }

    #[test]
    fn a_standbys_refusal_is_sent_once_more_where_it_says() {
        let urls = manager_urls("http://a:1,http://b:2,http://c:3");
        // The named active manager, whether in the list or not.
        assert_eq!(
            redirect(&refused(Some("http://b:2")), &urls, "http://a:1").as_deref(),
            Some("http://b:2")
        );
        assert_eq!(
            redirect(&refused(Some("http://d:4")), &urls, "http://a:1").as_deref(),
            Some("http://d:4")
        );
        // None named yet: the next of the list, wrapping around.
        assert_eq!(
            redirect(&refused(None), &urls, "http://c:3").as_deref(),
            Some("http://a:1")
        );
        // Not to itself, and not for other errors.
        assert_eq!(
            redirect(&refused(Some("http://a:1")), &urls, "http://a:1"),
            None
        );
        let busy = anyhow::Error::new(ClientError::Api {
            status: 423,
            error: ApiError::new(ErrorKind::Busy, "unit shop busy"),
        });
        assert_eq!(redirect(&busy, &urls, "http://a:1"), None);
        // One URL and no name: nowhere else to go.
        assert_eq!(redirect(&refused(None), &urls[..1], "http://a:1"), None);
    }
}
