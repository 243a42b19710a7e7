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
        api::connect(&self.global.url, self.ca_cert()?.as_deref(), None)
    }

    /// A client with the token from VSM_TOKEN or the saved session.
    pub fn api(&self) -> Result<Client> {
        let token = match std::env::var("VSM_TOKEN") {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => {
                let dir = session::config_dir()?;
                session::load(&dir, &self.global.url)?.map(|s| s.token)
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
        api::connect(&self.global.url, self.ca_cert()?.as_deref(), token)
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli, out: &Out) -> Result<Exit> {
    let ctx = Ctx {
        global: &cli.global,
        out,
    };
    match cli.command {
        Command::Manager(c) => manager::run(&ctx, c).await,
        Command::Login(a) => client::login(&ctx, a).await,
        Command::Logout => client::logout(&ctx).await,
        Command::Whoami => client::whoami(&ctx).await,
        Command::Account(c) => client::account(&ctx, c).await,
        Command::Host(c) => client::host(&ctx, c).await,
        Command::Template(c) => client::template(&ctx, c).await,
        Command::Unit(c) => client::unit(&ctx, c).await,
        Command::Group(c) => client::group(&ctx, c).await,
        Command::Server(c) => client::server(&ctx, c).await,
        Command::Op(c) => client::op(&ctx, c).await,
        Command::Jp1(c) => jp1::run(&ctx, c).await,
        Command::Completions(a) => {
            use std::io::Write;
            let bytes = crate::docgen::completion(a.shell);
            let _ = std::io::stdout().write_all(&bytes);
            Ok(Exit::Success)
        }
    }
}
