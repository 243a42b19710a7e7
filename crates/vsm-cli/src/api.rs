//! The connection to the manager: the typed client of the HTTP API
//! ([`vsm_manager::http::Client`], one method per route) built from the global options, and the
//! few conversions the command line adds around it (names typed by the user, the login hint).
//!
//! Errors of the client stay [`ClientError`]s in the `anyhow` chain; [`crate::exit`] classifies
//! them (the one place that maps anything to an exit code). This module never prints.

use std::str::FromStr;

use anyhow::Result;
pub use vsm_manager::http::Client;

use crate::exit::{Exit, Failure};

/// What to do when not logged in.
pub const LOGIN_HINT: &str =
    "log in with `vsm login --user NAME --password-file FILE`, or set VSM_TOKEN";

/// A client of the manager at `url`, trusting `ca_pem` for TLS when given, authenticating with
/// `token` when given.
pub fn connect(url: &str, ca_pem: Option<&[u8]>, token: Option<String>) -> Result<Client> {
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(
            Failure::new(Exit::Usage, format!("`{url}` is not a manager URL"))
                .hint("give it as http://HOST:PORT or https://HOST:PORT (--url or VSM_URL)")
                .into(),
        );
    }
    let client = match ca_pem {
        Some(pem) => Client::with_ca_certificate(url, token, pem),
        None => Client::new(url, token),
    };
    client.map_err(|e| {
        let f = Failure::new(Exit::Usage, format!("cannot talk to the manager at {url}"))
            .hint("check --url / VSM_URL and --ca-cert / VSM_CA_CERT");
        anyhow::Error::new(e).context(f)
    })
}

/// Parses a name the user typed (`what`: `unit`, `group`, …) into its newtype; an invalid name
/// is a usage error (64) naming the rule.
pub fn name<T>(what: &str, value: &str) -> Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse().map_err(|e: T::Err| {
        anyhow::Error::new(e).context(Failure::new(
            Exit::Usage,
            format!("`{value}` is not a valid {what} name"),
        ))
    })
}

/// The unit name `value`.
pub fn unit(value: &str) -> Result<vsm_core::UnitName> {
    name("unit", value)
}

/// The group name `value`.
pub fn group(value: &str) -> Result<vsm_core::GroupName> {
    name("group", value)
}

/// The server name `value`.
pub fn server(value: &str) -> Result<vsm_core::ServerName> {
    name("server", value)
}

/// The account name `value`.
pub fn account(value: &str) -> Result<vsm_core::AccountName> {
    name("account", value)
}

/// The template name `value`.
pub fn template(value: &str) -> Result<vsm_core::TemplateName> {
    name("template", value)
}

/// The host name `value`.
pub fn host(value: &str) -> Result<vsm_core::HostName> {
    name("host", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_and_names_are_usage_errors() {
        let e = connect("localhost:7460", None, None).expect_err("no scheme");
        assert_eq!(crate::exit::classify(&e), Exit::Usage);
        connect("http://127.0.0.1:7460/", None, None).expect("a URL");
        assert_eq!(unit("shop").expect("valid").as_str(), "shop");
        let e = unit("no/such unit").expect_err("invalid");
        assert_eq!(crate::exit::classify(&e), Exit::Usage);
        assert!(e.to_string().contains("not a valid unit name"), "{e}");
        assert_eq!(host("kvm-01").expect("valid").as_str(), "kvm-01");
        let e = host("KVM 01").expect_err("invalid");
        assert_eq!(crate::exit::classify(&e), Exit::Usage);
        assert!(e.to_string().contains("not a valid host name"), "{e}");
    }
}
