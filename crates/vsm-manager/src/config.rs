//! The manager's configuration: the commented `config.yaml` in the state directory (every
//! setting defaulted, unknown keys refused) and the in-process [`ManagerConfig`].
//!
//! Only values live here; nothing in this module picks a hypervisor backend (the binary injects
//! drivers through [`crate::DriverSet`]). The state store is chosen by the `store` setting:
//! [`ManagerConfig::store_target`] is the one place that resolves it (with the password from
//! `store_password_file` or [`ManagerConfig::store_password`]).

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::api::{LogSettings, Password};
use crate::error::{DataProblem, OpenError};
use crate::paths::{DB_FILE, DEFINITIONS_DIR};
use crate::store::{PgTarget, StoreTarget};

/// The name of the configuration file inside the state directory.
pub const CONFIG_FILE: &str = "config.yaml";

/// The settings in `config.yaml`. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The state store: `sqlite` (`state.db` in the state directory) or a PostgreSQL URL
    /// (`postgres://USER@HOST:PORT/DATABASE`) that carries no password.
    pub store: String,
    /// An owner-only file holding the PostgreSQL password (relative: inside the state
    /// directory); without it the password comes from [`ManagerConfig::store_password`].
    pub store_password_file: Option<String>,
    /// The definition snapshot store (relative: inside the state directory; default
    /// `definitions`). With PostgreSQL, a directory every manager of the database reaches.
    pub definitions_dir: Option<String>,
    /// The API service.
    pub service: ServiceSettings,
    /// Logging.
    pub log: LogSettings,
    /// The operation engine.
    pub engine: EngineSettings,
    /// The failure monitor.
    pub monitor: MonitorSettings,
    /// Sessions and logins.
    pub auth: AuthSettings,
    /// JP1 integration.
    pub jp1: Jp1Settings,
    /// What the store keeps of past operations.
    pub history: HistorySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            store: STORE_SQLITE.to_owned(),
            store_password_file: None,
            definitions_dir: None,
            service: ServiceSettings::default(),
            log: LogSettings {
                dir: "logs".into(),
                files: 8,
                size_mb: 4,
                level: "info".into(),
            },
            engine: EngineSettings::default(),
            monitor: MonitorSettings::default(),
            auth: AuthSettings::default(),
            jp1: Jp1Settings::default(),
            history: HistorySettings::default(),
        }
    }
}

/// The HTTP API service (used by `vsm manager start`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettings {
    /// Listen address.
    pub listen: String,
    /// TLS certificate (PEM) file; TLS is on when both this and `tls_key` are set.
    pub tls_cert: Option<String>,
    /// TLS private key (PEM) file.
    pub tls_key: Option<String>,
    /// The URL other managers and clients reach this manager's API at (several managers on
    /// one PostgreSQL database: a standby names the active one's). Default: the URL of the
    /// listen address.
    pub advertise_url: Option<String>,
    /// Further host names the web console answers to (a DNS alias, a reverse proxy's name),
    /// besides addresses, `localhost`, this machine's name and `advertise_url`'s host: a
    /// request naming any other `Host` is refused (DNS rebinding).
    pub console_hosts: Vec<String>,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            listen: "127.0.0.1:7460".into(),
            tls_cert: None,
            tls_key: None,
            advertise_url: None,
            console_hosts: Vec::new(),
        }
    }
}

/// Whether `name` is a plain host name (letters, digits, `-` and `.`; no scheme, port or path).
pub(crate) fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The operation engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// Steps run at once within one operation (operations on different units run in parallel,
    /// each with this many).
    pub concurrency: usize,
    /// Time-out of one driver or deploy step, in seconds.
    pub step_timeout_secs: u64,
    /// Attempts of a step that fails with a transient error.
    pub retries: u32,
    /// First back-off between attempts, in milliseconds (doubled each time).
    pub backoff_ms: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            concurrency: 16,
            step_timeout_secs: 300,
            retries: 3,
            backoff_ms: 200,
        }
    }
}

/// The failure monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorSettings {
    /// Whether the monitor runs.
    pub enabled: bool,
    /// Interval between checks, in seconds.
    pub interval_secs: u64,
    /// Interval between probes of each hypervisor host, in milliseconds.
    pub host_probe_ms: u64,
    /// A host unreachable this long is marked down, in seconds.
    pub host_down_after_secs: u64,
    /// For embedders and simulations: the same in milliseconds, taking precedence (not read
    /// from nor written to `config.yaml`).
    #[serde(skip)]
    pub host_down_after_ms: Option<u64>,
}

impl MonitorSettings {
    /// How long a host may be unreachable before it is marked down.
    pub fn host_down_after(&self) -> std::time::Duration {
        match self.host_down_after_ms {
            Some(ms) => std::time::Duration::from_millis(ms.max(1)),
            None => std::time::Duration::from_secs(self.host_down_after_secs.max(1)),
        }
    }
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            enabled: true,
            interval_secs: 10,
            host_probe_ms: 1000,
            host_down_after_secs: 15,
            host_down_after_ms: None,
        }
    }
}

/// Sessions and logins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// How long a session token lives, in seconds.
    pub session_ttl_secs: u64,
    /// Failed logins per account allowed per minute before logins are refused for a minute.
    pub max_failed_logins_per_minute: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_ttl_secs: 12 * 3600,
            max_failed_logins_per_minute: 5,
        }
    }
}

/// What the store keeps of past operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistorySettings {
    /// Days an ended operation keeps its step journal (two rows per server and step); 0 keeps
    /// every journal. The operation's summary and per-server results are always kept.
    pub journal_days: u32,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings { journal_days: 90 }
    }
}

/// JP1 integration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jp1Settings {
    /// Whether manager events go to the JP1 outbox.
    pub enabled: bool,
    /// Path of JP1/Base's `jevsend` (default: log-file-trap lines only).
    pub jevsend: Option<String>,
    /// The log-file-trap file (relative paths are inside the state dir).
    pub logtrap_file: Option<String>,
}

impl Settings {
    /// Reads `config.yaml` from `state_dir`.
    pub fn load(state_dir: &Utf8Path) -> Result<Settings, OpenError> {
        let path = state_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                OpenError::NotInitialized {
                    dir: state_dir.to_string(),
                }
            } else {
                OpenError::io(&path, e)
            }
        })?;
        Settings::parse(path.as_str(), &text)
    }

    /// Parses the text of a `config.yaml` (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<Settings, OpenError> {
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        let settings: Settings = serde_yaml::from_str(text).map_err(|e| OpenError::Config {
            problem: DataProblem {
                file: file.to_owned(),
                line: e.location().map(|l| l.line()),
                field: None,
                message: e.to_string(),
            },
        })?;
        settings.check(file)?;
        Ok(settings)
    }

    /// Checks what the YAML's types cannot (`file` names the configuration in errors).
    pub(crate) fn check(&self, file: &str) -> Result<(), OpenError> {
        let bad = |field: &str, message: &str| OpenError::Config {
            problem: DataProblem {
                file: file.to_owned(),
                line: None,
                field: Some(field.to_owned()),
                message: message.to_owned(),
            },
        };
        self.pg_target().map_err(|m| bad("store", &m))?;
        if self
            .store_password_file
            .as_ref()
            .is_some_and(|f| f.trim().is_empty())
        {
            return Err(bad(
                "store_password_file",
                "is empty: name the password file, or remove the setting",
            ));
        }
        if self
            .definitions_dir
            .as_ref()
            .is_some_and(|d| d.trim().is_empty())
        {
            return Err(bad(
                "definitions_dir",
                "is empty: name a directory, or remove the setting for the default",
            ));
        }
        if let Some(wrong) = self
            .service
            .console_hosts
            .iter()
            .find(|h| !is_host_name(h.trim_end_matches('.')))
        {
            return Err(bad(
                "service.console_hosts",
                &format!(
                    "{wrong:?} is not a host name: give names only, like vsm.example.com \
                     (no scheme, port or path)"
                ),
            ));
        }
        if self.engine.concurrency == 0 {
            return Err(bad("engine.concurrency", "must be at least 1"));
        }
        if self.log.files == 0 || self.log.size_mb == 0 {
            return Err(bad("log", "files and size_mb must be at least 1"));
        }
        if self.monitor.interval_secs == 0 {
            return Err(bad("monitor.interval_secs", "must be at least 1"));
        }
        if self.monitor.host_probe_ms < 10 {
            return Err(bad("monitor.host_probe_ms", "must be at least 10"));
        }
        if self.monitor.host_down_after_secs == 0 {
            return Err(bad("monitor.host_down_after_secs", "must be at least 1"));
        }
        Ok(())
    }

    /// The PostgreSQL database the `store` setting names (`None` for `sqlite`), or why the
    /// setting is wrong.
    pub fn pg_target(&self) -> Result<Option<PgTarget>, String> {
        if self.store == STORE_SQLITE {
            return Ok(None);
        }
        PgTarget::parse(&self.store).map(Some)
    }

    /// Renders the settings as a commented `config.yaml`.
    pub fn render(&self) -> String {
        let chosts = format!(
            "[{}]",
            self.service
                .console_hosts
                .iter()
                .map(|h| yaml_str(h))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let opt = |v: &Option<String>| match v {
            Some(s) => yaml_str(s),
            None => "null".to_owned(),
        };
        format!(
            "# vsm manager configuration. Every setting has a default; unknown keys are refused.\n\
             # Changes take effect at the next `vsm manager start`, except `log`, which\n\
             # `vsm manager log-config` changes at run time (and rewrites this file).\n\
             \n\
             # The state store: `sqlite` (the file state.db in this directory) or a PostgreSQL\n\
             # URL, postgres://USER@HOST:PORT/DATABASE, without a password; TLS with\n\
             # ?sslmode=verify-full&sslrootcert=/path/ca.pem (or sslmode=require, which does not\n\
             # check the certificate). `vsm manager migrate-store` moves a SQLite state over.\n\
             store: {store}\n\
             # The PostgreSQL password: an owner-only file (chmod 600; relative: inside this\n\
             # directory); when null, the environment variable VSM_STORE_PASSWORD.\n\
             store_password_file: {pwfile}\n\
             # The definition snapshot store (null: `definitions` in this directory). With\n\
             # PostgreSQL, a directory every manager of the database reaches (a shared file\n\
             # system), so that a standby on another machine sees the definitions.\n\
             definitions_dir: {defs}\n\
             \n\
             service:\n\
             \x20 # Where the HTTP/JSON API listens (loopback by default).\n\
             \x20 listen: {listen}\n\
             \x20 # TLS: PEM certificate and key files; TLS is on when both are set.\n\
             \x20 tls_cert: {cert}\n\
             \x20 tls_key: {key}\n\
             \x20 # The URL clients and the other managers of a PostgreSQL store reach this\n\
             \x20 # manager at (a standby names the active one's); null: the listen address's.\n\
             \x20 advertise_url: {adv}\n\
             \x20 # Further host names the web console answers to (a DNS alias, a reverse\n\
             \x20 # proxy's name), besides addresses, localhost, this machine's name and\n\
             \x20 # advertise_url's host; for example [vsm.example.com].\n\
             \x20 console_hosts: {chosts}\n\
             \n\
             log:\n\
             \x20 # Directory of the log files (relative: inside the state directory).\n\
             \x20 dir: {ldir}\n\
             \x20 # Number of log files kept, and the size of one file in MiB.\n\
             \x20 files: {files}\n\
             \x20 size_mb: {size}\n\
             \x20 # Log filter (tracing EnvFilter syntax): error, warn, info, debug, trace.\n\
             \x20 level: {level}\n\
             \n\
             engine:\n\
             \x20 # Steps (server actions) run at once within one operation.\n\
             \x20 concurrency: {conc}\n\
             \x20 # Time-out of one step (provision, start, stop, apply, ...), in seconds.\n\
             \x20 step_timeout_secs: {sto}\n\
             \x20 # Attempts of a step that fails with a transient error, and the first back-off.\n\
             \x20 retries: {retries}\n\
             \x20 backoff_ms: {backoff}\n\
             \n\
             monitor:\n\
             \x20 # The failure monitor compares the drivers' real server states with the model.\n\
             \x20 enabled: {menabled}\n\
             \x20 interval_secs: {mint}\n\
             \x20 # Each hypervisor host is probed this often (milliseconds); one unreachable for\n\
             \x20 # host_down_after_secs is marked down and its servers restart elsewhere (at once\n\
             \x20 # with `fencing: none`, after `vsm host confirm-down` with `manual`).\n\
             \x20 host_probe_ms: {hprobe}\n\
             \x20 host_down_after_secs: {hdown}\n\
             \n\
             auth:\n\
             \x20 # Lifetime of a `vsm login` session token, in seconds.\n\
             \x20 session_ttl_secs: {ttl}\n\
             \x20 # Failed logins per account and minute before logins are refused for a minute.\n\
             \x20 max_failed_logins_per_minute: {maxfail}\n\
             \n\
             jp1:\n\
             \x20 # Send manager events (server failed, operation ended, ...) to JP1/IM.\n\
             \x20 enabled: {jenabled}\n\
             \x20 # Path of JP1/Base's jevsend; null writes log-file-trap lines only.\n\
             \x20 jevsend: {jev}\n\
             \x20 # The log-file-trap file (relative: inside the state directory).\n\
             \x20 logtrap_file: {trap}\n\
             \n\
             history:\n\
             \x20 # Days an ended operation keeps its step-by-step journal (`vsm manager diagnose`\n\
             \x20 # shows the last ones); its summary and per-server results stay. 0: keep all.\n\
             \x20 journal_days: {jdays}\n",
            store = yaml_str(&self.store),
            pwfile = opt(&self.store_password_file),
            defs = opt(&self.definitions_dir),
            listen = yaml_str(&self.service.listen),
            cert = opt(&self.service.tls_cert),
            key = opt(&self.service.tls_key),
            adv = opt(&self.service.advertise_url),
            chosts = chosts,
            ldir = yaml_str(&self.log.dir),
            files = self.log.files,
            size = self.log.size_mb,
            level = yaml_str(&self.log.level),
            conc = self.engine.concurrency,
            sto = self.engine.step_timeout_secs,
            retries = self.engine.retries,
            backoff = self.engine.backoff_ms,
            menabled = self.monitor.enabled,
            mint = self.monitor.interval_secs,
            hprobe = self.monitor.host_probe_ms,
            hdown = self.monitor.host_down_after_secs,
            ttl = self.auth.session_ttl_secs,
            maxfail = self.auth.max_failed_logins_per_minute,
            jenabled = self.jp1.enabled,
            jev = opt(&self.jp1.jevsend),
            trap = opt(&self.jp1.logtrap_file),
            jdays = self.history.journal_days,
        )
    }
}

/// The `store` setting of the embedded SQLite store.
pub const STORE_SQLITE: &str = "sqlite";

/// The environment variable the `vsm` binary reads the PostgreSQL password from when the
/// configuration names no `store_password_file` (the library never reads it itself).
pub const STORE_PASSWORD_ENV: &str = "VSM_STORE_PASSWORD";

fn yaml_str(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    // JSON leaves DEL, C1 controls and some specials raw; YAML refuses them or reads them as
    // line breaks, so they are escaped (found by the `api_request` fuzz target).
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c == '\u{7f}'
            || ('\u{80}'..'\u{a0}').contains(&c)
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            )
        {
            out.push_str(&format!("\\u{:04X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// How expensive password hashes are. Only tests should lower it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordCost {
    /// argon2id with the recommended parameters (19 MiB, 2 passes).
    #[default]
    Standard,
    /// argon2id with minimal parameters: fast, for tests and benchmarks only.
    Insecure,
}

/// Everything [`crate::Manager::open`] needs besides the drivers.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// The state directory (created by [`crate::Manager::init`]).
    pub state_dir: Utf8PathBuf,
    /// The settings (normally read from `config.yaml`).
    pub settings: Settings,
    /// Password hashing cost.
    pub password_cost: PasswordCost,
    /// Whether the monitor task runs (default: `settings.monitor.enabled`).
    pub monitor: bool,
    /// The PostgreSQL password when the settings name no `store_password_file` (the `vsm`
    /// binary takes it from the environment variable [`STORE_PASSWORD_ENV`]).
    pub store_password: Option<Password>,
}

impl ManagerConfig {
    /// A configuration with default settings for `state_dir`.
    pub fn new(state_dir: impl Into<Utf8PathBuf>) -> Self {
        let settings = Settings::default();
        ManagerConfig {
            state_dir: state_dir.into(),
            monitor: settings.monitor.enabled,
            settings,
            password_cost: PasswordCost::Standard,
            store_password: None,
        }
    }

    /// The configuration of an initialized state directory (reads its `config.yaml`).
    pub fn load(state_dir: impl Into<Utf8PathBuf>) -> Result<Self, OpenError> {
        let state_dir = state_dir.into();
        let settings = Settings::load(&state_dir)?;
        Ok(ManagerConfig {
            monitor: settings.monitor.enabled,
            state_dir,
            settings,
            password_cost: PasswordCost::Standard,
            store_password: None,
        })
    }

    /// `path` of a setting, resolved against the state directory when relative.
    fn resolve(&self, path: &str) -> Utf8PathBuf {
        let p = Utf8PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.state_dir.join(p)
        }
    }

    /// The store the settings name: `state.db` in the state directory, or the PostgreSQL
    /// database with its password (read from `store_password_file`, which must be
    /// owner-only, else [`ManagerConfig::store_password`]).
    ///
    /// # Errors
    /// [`OpenError::Config`] for a bad `store` URL; [`OpenError::StorePassword`] for a password
    /// file that cannot be read, is empty, or is readable by its group or others.
    pub fn store_target(&self) -> Result<StoreTarget, OpenError> {
        let pg = self
            .settings
            .pg_target()
            .map_err(|message| OpenError::Config {
                problem: DataProblem {
                    file: self.state_dir.join(CONFIG_FILE).to_string(),
                    line: None,
                    field: Some("store".into()),
                    message,
                },
            })?;
        let Some(pg) = pg else {
            return Ok(StoreTarget::Sqlite(self.state_dir.join(DB_FILE)));
        };
        let password = match &self.settings.store_password_file {
            Some(file) => Some(read_password_file(&self.resolve(file))?),
            None => self.store_password.as_ref().map(|p| p.expose().to_owned()),
        };
        Ok(StoreTarget::Postgres(pg.with_password(password)))
    }

    /// The definition snapshot store's directory.
    pub fn definitions_dir(&self) -> Utf8PathBuf {
        match &self.settings.definitions_dir {
            Some(d) => self.resolve(d),
            None => self.state_dir.join(DEFINITIONS_DIR),
        }
    }

    /// What an operator should know about this configuration: a PostgreSQL store whose
    /// definition snapshots stay in the state directory, which a standby on another machine
    /// cannot see.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let pg = matches!(self.settings.pg_target(), Ok(Some(_)));
        let local = self.definitions_dir().starts_with(&self.state_dir);
        if pg && local {
            out.push(format!(
                "the state is in PostgreSQL but the definition snapshots are in {}, inside this \
                 state directory: a standby manager on another machine will not see them; set \
                 `definitions_dir` in {} to a directory every manager reaches (copy the snapshots \
                 there first)",
                self.definitions_dir(),
                self.state_dir.join(CONFIG_FILE)
            ));
        }
        out
    }

    /// The step time-out.
    pub fn step_timeout(&self) -> Duration {
        Duration::from_secs(self.settings.engine.step_timeout_secs.max(1))
    }
}

/// Reads the PostgreSQL password from `path`: owner-only, not empty; a trailing newline is
/// not part of it.
fn read_password_file(path: &Utf8Path) -> Result<String, OpenError> {
    use std::os::unix::fs::PermissionsExt;
    let bad = |message: String| OpenError::StorePassword {
        file: path.to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        bad(format!(
            "cannot read it ({e}); create it with the PostgreSQL password, owner-only (chmod 600)"
        ))
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(bad(format!(
            "is readable by its group or others (mode {mode:04o}); make it owner-only: chmod 600 {path}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
    let password = Password::new(text);
    if password.expose().is_empty() {
        return Err(bad("is empty; write the PostgreSQL password into it".into()));
    }
    Ok(password.expose().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_with_yaml_special_characters_parse_back_unchanged() {
        let mut s = Settings::default();
        s.log.level = "debu\u{7f}g\u{85}\u{9f}\u{2028}\u{2029}\u{feff}\u{fffe}é\n\"".into();
        s.log.dir = "lo\u{80}gs\\x".into();
        let back = Settings::parse("config.yaml", &s.render()).expect("parses");
        assert_eq!(back, s);
    }

    #[test]
    fn rendered_defaults_parse_back_to_the_defaults() {
        let s = Settings::default();
        let text = s.render();
        assert!(text.contains("# vsm manager configuration"));
        let back = Settings::parse("config.yaml", &text).expect("parses");
        assert_eq!(back, s);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Settings::parse("config.yaml", "engine:\n  speed: 3\n").expect_err("refused");
        match err {
            OpenError::Config { problem } => {
                assert_eq!(problem.line, Some(2));
                assert!(problem.message.contains("speed"), "{problem:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn console_hosts_render_parse_back_and_refuse_what_is_not_a_name() {
        let mut s = Settings::default();
        s.service.console_hosts = vec!["vsm.example.com".into(), "ops-proxy".into()];
        let back = Settings::parse("config.yaml", &s.render()).expect("parses");
        assert_eq!(back, s);
        for wrong in ["https://vsm.example.com", "vsm.example.com:7460", "a b", ""] {
            let text = format!("service:\n  console_hosts: [{wrong:?}]\n");
            let err = Settings::parse("config.yaml", &text).expect_err(wrong);
            let OpenError::Config { problem } = err else {
                panic!("{wrong}: {err:?}")
            };
            assert_eq!(
                problem.field.as_deref(),
                Some("service.console_hosts"),
                "{problem:?}"
            );
            assert!(problem.message.contains("not a host name"), "{problem:?}");
        }
    }

    #[test]
    fn partial_files_take_defaults() {
        let s = Settings::parse("config.yaml", "engine:\n  concurrency: 32\n").expect("parses");
        assert_eq!(s.engine.concurrency, 32);
        assert_eq!(s.engine.retries, EngineSettings::default().retries);
    }
}
