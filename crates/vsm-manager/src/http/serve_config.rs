//! How the API is served ([`ServeConfig`]): the listen address, TLS, the login limits per client
//! address, the upload limit and the shutdown grace; and why serving failed ([`ServeError`]).

use std::net::SocketAddr;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7460";

/// TLS certificate and key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain.
    pub cert: Utf8PathBuf,
    /// The private key.
    pub key: Utf8PathBuf,
}

/// Limits on failed logins per client address (the manager limits per account as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures are counted within this window.
    pub window: Duration,
    /// Failures before the address is locked out for the rest of the window.
    pub max_failures: u32,
    /// Failures answered without delay; each further one doubles the delay.
    pub free_failures: u32,
    /// The first delay.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            window: Duration::from_secs(15 * 60),
            max_failures: 20,
            free_failures: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

/// How the API is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The listen address (default 127.0.0.1:7460; port 0 picks a free port).
    pub listen: SocketAddr,
    /// TLS, when set.
    pub tls: Option<TlsConfig>,
    /// Failed-login limits per client address.
    pub login: LoginLimits,
    /// The largest accepted upload (definition archives), in bytes.
    pub max_upload_bytes: u64,
    /// How long graceful shutdown waits for open requests before closing them.
    pub shutdown_grace: Duration,
    /// Host names the web console answers to besides addresses, `localhost` and this
    /// machine's name (lower case, without a trailing dot): `service.console_hosts` and the
    /// host of `service.advertise_url`.
    pub console_hosts: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7460)),
            tls: None,
            login: LoginLimits::default(),
            max_upload_bytes: 1 << 30,
            shutdown_grace: Duration::from_secs(10),
            console_hosts: Vec::new(),
        }
    }
}

impl ServeConfig {
    /// The configuration of the manager's `service` settings: listen address and TLS files
    /// (relative paths are inside `state_dir`).
    pub fn from_settings(
        settings: &crate::config::ServiceSettings,
        state_dir: &Utf8Path,
    ) -> Result<ServeConfig, ServeError> {
        let listen = parse_listen(&settings.listen)?;
        let abs = |p: &str| {
            let p = Utf8PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                state_dir.join(p)
            }
        };
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert: abs(cert),
                key: abs(key),
            }),
            (None, None) => None,
            _ => {
                return Err(ServeError::Config(
                    "service.tls_cert and service.tls_key must be given together".into(),
                ));
            }
        };
        let mut console_hosts: Vec<String> = settings
            .console_hosts
            .iter()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        if let Some(host) = settings
            .advertise_url
            .as_deref()
            .and_then(|u| u.split_once("://"))
            .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
            .map(|authority| authority.rsplit_once('@').map_or(authority, |(_, h)| h))
            .map(|hp| {
                hp.rsplit_once(':')
                    .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
                    .map_or(hp, |(h, _)| h)
            })
            .filter(|h| crate::config::is_host_name(h))
        {
            console_hosts.push(host.to_ascii_lowercase());
        }
        Ok(ServeConfig {
            listen,
            tls,
            console_hosts,
            ..ServeConfig::default()
        })
    }
}

/// Parses a listen address (`ADDR:PORT`, e.g. `127.0.0.1:7460` or `[::1]:7460`).
pub fn parse_listen(text: &str) -> Result<SocketAddr, ServeError> {
    text.trim().parse().map_err(|_| {
        ServeError::Config(format!(
            "listen address {text:?} is not ADDR:PORT (for example {DEFAULT_LISTEN})"
        ))
    })
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("cannot load the TLS certificate {cert} and key {key}")]
    Tls {
        /// The certificate file.
        cert: Utf8PathBuf,
        /// The key file.
        key: Utf8PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_parse_or_explain() {
        assert_eq!(
            parse_listen("127.0.0.1:7460").expect("ok"),
            SocketAddr::from(([127, 0, 0, 1], 7460))
        );
        let err = parse_listen("localhost").expect_err("refused");
        assert!(err.to_string().contains("ADDR:PORT"), "{err}");
    }

    #[test]
    fn service_settings_resolve_tls_files_in_the_state_dir() {
        let mut settings = crate::config::ServiceSettings {
            listen: "127.0.0.1:0".into(),
            tls_cert: Some("tls/cert.pem".into()),
            tls_key: Some("/etc/vsm/key.pem".into()),
            advertise_url: Some("https://VSM-A.example:7460/".into()),
            console_hosts: vec!["vsm.example.com.".into(), "Ops-Proxy".into()],
        };
        let config =
            ServeConfig::from_settings(&settings, Utf8Path::new("/var/lib/vsm")).expect("valid");
        assert_eq!(
            config.console_hosts,
            ["vsm.example.com", "ops-proxy", "vsm-a.example"],
            "the configured names and the advertised URL's host, lower case"
        );
        assert_eq!(
            config.tls,
            Some(TlsConfig {
                cert: "/var/lib/vsm/tls/cert.pem".into(),
                key: "/etc/vsm/key.pem".into(),
            })
        );
        settings.tls_key = None;
        let err = ServeConfig::from_settings(&settings, Utf8Path::new("/var/lib/vsm"))
            .expect_err("half a TLS pair");
        assert!(err.to_string().contains("together"), "{err}");
    }
}
