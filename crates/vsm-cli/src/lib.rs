//! vsm-cli: the `vsm` command line of the virtual server manager.
//!
//! It parses the command line ([`cli`]), runs the manager when asked (`vsm manager start`,
//! building the hypervisor drivers and injecting them), and otherwise talks to a manager over its
//! HTTP API, renders tables or JSON, and exits with the documented codes ([`exit`]). The library
//! form exists for `cargo xtask gen` (completions, man page) and for tests; the binary's `main`
//! only calls [`main`].
//!
//! It must not hold state of its own beyond the saved session, and must not decide anything the
//! manager decides (authorization, plans): it asks and reports.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cli;
pub mod docgen;
pub mod exit;

mod api;
mod cmd;
mod password;
mod render;
mod session;
mod wait;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::exit::Exit;
use crate::render::{Paint, paint};

/// The clap command of `vsm` (for completions, the man page and docs).
pub fn command() -> clap::Command {
    cli::Cli::command()
}

/// Runs `vsm` with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_exit(&e),
    };
    let args = match cli::Cli::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(e) => return clap_exit(&e),
    };
    // reqwest is built without a default TLS provider: install ring for https:// managers.
    vsm_manager::http::install_crypto_provider();
    let out = render::Out::new(&args.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vsm: error: could not start the async runtime: {e}");
            return Exit::Failed.into();
        }
    };
    let result = runtime.block_on(cmd::run(args, &out));
    // A prompt may still block a thread on standard input: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            report(&err, &out);
            exit::classify(&err).into()
        }
    }
}

fn clap_exit(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    Exit::from_clap(e.kind()).into()
}

/// Prints an error: JSON on standard output in JSON mode, and always one sentence, the cause
/// chain, the details and the hint on standard error.
fn report(err: &anyhow::Error, out: &render::Out) {
    if out.is_json() {
        out.json(&error_document(err));
    }
    eprint!("{}", error_text(err, out.color_err));
}

/// The JSON document of an error (`{"error": {...}}`) that JSON mode prints.
pub(crate) fn error_document(err: &anyhow::Error) -> serde_json::Value {
    let d = exit::describe(err);
    serde_json::json!({
        "error": {
            "kind": d.kind,
            "message": err.to_string(),
            "causes": causes(err),
            "details": d.details,
            "hint": d.hint,
            "operation": d.operation,
            "active_url": d.active_url,
            "exit_code": d.exit.code(),
        }
    })
}

/// The causes of `err` below its message, each once.
fn causes(err: &anyhow::Error) -> Vec<String> {
    let message = err.to_string();
    let mut causes: Vec<String> = Vec::new();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if text != message && !causes.contains(&text) {
            causes.push(text);
        }
    }
    causes
}

/// The error as printed on standard error: the sentence, the causes, the details and the hint.
pub(crate) fn error_text(err: &anyhow::Error, c: bool) -> String {
    let d = exit::describe(err);
    let mut text = format!("{} {err}\n", paint("error:", Paint::Bad, c));
    for cause in causes(err) {
        text.push_str(&format!("  caused by: {cause}\n"));
    }
    for detail in &d.details {
        text.push_str(&format!("  - {detail}\n"));
    }
    if let Some(h) = &d.hint {
        text.push_str(&format!("{} {h}\n", paint("hint:", Paint::Bold, c)));
    }
    text
}
