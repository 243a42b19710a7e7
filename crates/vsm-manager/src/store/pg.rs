//! The PostgreSQL store ([`PgStore`]): the SQLite store's tables and JSON columns in a
//! PostgreSQL database, numbered migrations under a one-row `schema_version` table, one
//! connection behind a mutex.
//!
//! The [`Store`] trait is synchronous and is called only from blocking threads (the engine's
//! `spawn_blocking`, the journal writer's own thread), so the store drives `tokio-postgres` on
//! a current-thread Tokio runtime of its own, with `block_on` under the connection's mutex.
//! A handle to the caller's runtime was tried and does not do: there is none when a store is
//! opened outside a runtime; a handle of a current-thread runtime hangs (timers included)
//! when that runtime's thread is blocked, e.g. joining the journal writer; and once the
//! caller's runtime is dropped, the connection task it drove is gone for good.
//!
//! Every connect and every call runs on a deadline ([`Timeouts`]); the server gets the call's
//! deadline as `statement_timeout` and `idle_in_transaction_session_timeout`, so a lost
//! connection or a silent network ends in an error, never a hang. A connection that failed or
//! timed out is dropped — the server rolls back what it had open — and the next call makes a
//! new one.
//!
//! Must not: be called on an async worker thread (`block_on` panics there, as it would with a
//! caller's handle), put the connection URL (it may hold a password) into an error or a log.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use tokio::runtime::Runtime;
use tokio_postgres::error::{Severity, SqlState};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, IsolationLevel, Row, Statement};
use vsm_core::model::{Template, Unit};
use vsm_core::{AccountName, GroupName, OperationId, TemplateName, Timestamp, UnitName};

use super::rows::{attach_servers, from_json, to_account, to_json, unit_meta_json};
use super::{
    AuditEntry, Change, JournalEntry, SqliteStore, Store, StoreError, StoredAccount, StoredSession,
};
use crate::host::HostRecord;
use crate::operation::{OperationRecord, OperationState, OperationSummary};

/// Schema migrations, in order; `schema_version.version` is the number applied. Key columns
/// collate as `"C"` (bytewise), so that lists come in the SQLite store's order whatever the
/// database's locale. Migration 2 adds the election's rows (`store/election.rs`): the one
/// `leader` row (the epoch every fenced write checks, the active manager, and `changes`, the
/// count of committed writes that standbys poll) and one `peers` row per manager.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    name TEXT COLLATE "C" PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    account TEXT COLLATE "C" NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions(account);
CREATE TABLE templates (
    name TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE units (
    name TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT COLLATE "C" NOT NULL REFERENCES accounts(name),
    json TEXT NOT NULL
);
CREATE TABLE servers (
    unit TEXT COLLATE "C" NOT NULL REFERENCES units(name) ON DELETE CASCADE,
    name TEXT COLLATE "C" NOT NULL,
    grp TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (unit, name)
);
CREATE TABLE operations (
    id BIGINT PRIMARY KEY,
    unit TEXT COLLATE "C",
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX operations_unit ON operations(unit, id);
CREATE INDEX operations_state ON operations(state);
CREATE TABLE journal (
    operation BIGINT NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (operation, seq)
);
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE TABLE hosts (
    name TEXT COLLATE "C" PRIMARY KEY,
    json TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE leader (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    epoch BIGINT NOT NULL,
    holder TEXT,
    url TEXT,
    since BIGINT,
    changes BIGINT NOT NULL DEFAULT 0
);
INSERT INTO leader (epoch) VALUES (0);
CREATE TABLE peers (
    name TEXT COLLATE "C" PRIMARY KEY,
    url TEXT,
    role TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
"#,
];

/// The schema-version row's table (made by the first migrating store, before migration 1).
const VERSION_TABLE: &str = "
CREATE TABLE IF NOT EXISTS schema_version (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version BIGINT NOT NULL
);
INSERT INTO schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;
";

/// The transaction-level advisory lock that serializes migrating stores (`"vsm_mig"`); the
/// other advisory locks of vsm must use other keys.
const MIGRATION_LOCK: i64 = 0x0076_736d_5f6d_6967;

/// The `application_name` the store's sessions carry unless the URL sets one.
const APPLICATION_NAME: &str = "vsm-manager";

/// Rows fetched per round trip, and written per SQLite transaction, by a backup.
const BACKUP_CHUNK: i32 = 1_000;

/// How long a [`PgStore`] waits for PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// To connect: TCP, the startup and authentication.
    pub(crate) connect: Duration,
    /// For one store call (a read or a whole write), on the client and as the server's
    /// `statement_timeout`.
    pub(crate) call: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            call: Duration::from_secs(30),
        }
    }
}

/// A current-thread runtime that is shut down without waiting when dropped (a plain drop
/// panics on an async thread, and a store may be dropped on one).
struct OwnRuntime(Option<Runtime>);

impl OwnRuntime {
    fn new() -> Result<OwnRuntime, StoreError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::PostgresRuntime)?;
        Ok(OwnRuntime(Some(rt)))
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        match &self.0 {
            Some(rt) => rt.block_on(fut),
            None => unreachable!("the runtime is taken only when dropped"),
        }
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// One statement of a write, with its parameters owned (so that a whole write's statements
/// can be sent before the first answer; see `PgStore::apply_all`).
struct Stmt {
    sql: &'static str,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    /// A unique violation of this statement is [`StoreError::Conflict`] on this.
    conflict: Option<String>,
}

impl Stmt {
    fn new(sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>) -> Stmt {
        Stmt {
            sql,
            params,
            conflict: None,
        }
    }

    fn conflict(mut self, what: String) -> Stmt {
        self.conflict = Some(what);
        self
    }
}

/// A statement parameter, owned.
fn p<T: ToSql + Sync + Send + 'static>(value: T) -> Box<dyn ToSql + Sync + Send> {
    Box::new(value)
}

/// One session with the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    /// A rollback failed: the session's transaction state is unknown.
    broken: bool,
}

impl Conn {
    fn usable(&self) -> bool {
        !self.broken && !self.client.is_closed()
    }

    async fn prepare(&mut self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(sql).await?;
        self.statements.insert(sql, stmt.clone());
        Ok(stmt)
    }

    async fn exec(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let stmt = self.prepare(sql).await?;
        self.client.execute(&stmt, params).await
    }

    async fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let stmt = self.prepare(sql).await?;
        self.client.query(&stmt, params).await
    }

    async fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let stmt = self.prepare(sql).await?;
        self.client.query_opt(&stmt, params).await
    }

    /// The first column of every row, as text.
    async fn texts(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<String>, StoreError> {
        let rows = self.query(sql, params).await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// Runs `body` in a transaction opened with `begin`: committed when it succeeds, rolled
    /// back when it fails.
    async fn transaction<T>(
        &mut self,
        begin: &str,
        body: impl AsyncFnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.client.batch_execute(begin).await?;
        match body(self).await {
            Ok(value) => {
                self.client.batch_execute("COMMIT").await?;
                Ok(value)
            }
            Err(e) => {
                if self.client.batch_execute("ROLLBACK").await.is_err() {
                    self.broken = true;
                }
                Err(e)
            }
        }
    }
}

/// A PostgreSQL database to keep the state in: a `postgres://` URL that carries no password,
/// and the password from elsewhere (a file, the environment). Its `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    url: String,
    password: Option<String>,
    tls: PgTls,
}

/// How the store talks to PostgreSQL: the URL's `sslmode` (and `sslrootcert`), as libpq
/// spells them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PgTls {
    /// `sslmode=disable` (the default): plain TCP, for loopback or a trusted network.
    #[default]
    Disable,
    /// `sslmode=require`: encrypted, the server's certificate not checked (as libpq's
    /// `require`): protects against listening, not against a server that pretends.
    Require,
    /// `sslmode=verify-full`: encrypted, the server's certificate checked against
    /// `sslrootcert=FILE` (PEM; else the system's roots) and the URL's host name.
    VerifyFull {
        /// The roots to trust instead of the system's.
        root: Option<Utf8PathBuf>,
    },
}

/// The URL's query without the TLS keys this module reads itself (tokio-postgres knows no
/// `verify-full` and no `sslrootcert`).
fn without_tls_keys(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            key != "sslmode" && key != "sslrootcert"
        })
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// The TLS mode a URL's query asks for, or the sentence saying what to give instead.
fn tls_of(url: &str, shown: &str) -> Result<PgTls, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let (mut mode, mut root) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", m)) => mode = Some(m.to_owned()),
            Some(("sslrootcert", r)) => root = Some(r.to_owned()),
            _ => {}
        }
    }
    let root = match root {
        None => None,
        Some(r) => {
            let decoded = percent_decode(&r);
            if decoded.is_empty() || !decoded.starts_with('/') {
                return Err(format!(
                    "sslrootcert in the PostgreSQL URL `{shown}` must be an absolute path to a PEM                      file of the certificates to trust"
                ));
            }
            Some(Utf8PathBuf::from(decoded))
        }
    };
    match (mode.as_deref().unwrap_or("disable"), root) {
        ("disable", None) => Ok(PgTls::Disable),
        ("require", None) => Ok(PgTls::Require),
        ("verify-full", root) => Ok(PgTls::VerifyFull { root }),
        ("disable" | "require", Some(_)) => Err(format!(
            "sslrootcert in the PostgreSQL URL `{shown}` is only read with sslmode=verify-full:              add sslmode=verify-full (or remove sslrootcert)"
        )),
        (other, _) => Err(format!(
            "sslmode={other} in the PostgreSQL URL is not supported: use sslmode=verify-full (TLS,              the server's certificate checked; sslrootcert=/path/ca.pem names the roots),              sslmode=require (TLS, the certificate not checked) or sslmode=disable (no TLS, a              trusted network only)"
        )),
    }
}

/// `%XX` escapes of a URL query value decoded (others kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A server-certificate verifier that checks nothing but the handshake's signatures:
/// `sslmode=require`, as libpq has it.
#[derive(Debug)]
struct NoCertificateCheck(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What makes the store's and the election's sessions: TLS as the URL asked (the TLS of a
/// `disable` URL is never negotiated).
pub(crate) type Tls = tokio_postgres_rustls::MakeRustlsConnect;

/// The connector of `tls`.
fn connector(tls: &PgTls) -> Result<Tls, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::PostgresTls(format!("no TLS protocol version: {e}")))?;
    let config = match tls {
        PgTls::Disable | PgTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
            .with_no_client_auth(),
        PgTls::VerifyFull { root } => {
            let mut roots = rustls::RootCertStore::empty();
            match root {
                Some(path) => {
                    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                        .and_then(|it| it.collect::<Result<_, _>>())
                        .map_err(|e| {
                            StoreError::PostgresTls(format!(
                                "cannot read the certificates of sslrootcert={path}: {e}"
                            ))
                        })?;
                    let (added, _) = roots.add_parsable_certificates(certs);
                    if added == 0 {
                        return Err(StoreError::PostgresTls(format!(
                            "sslrootcert={path} holds no usable certificate (give a PEM file of                              the CA that signed the server's certificate)"
                        )));
                    }
                }
                None => {
                    let found = rustls_native_certs::load_native_certs();
                    roots.add_parsable_certificates(found.certs);
                    if roots.is_empty() {
                        return Err(StoreError::PostgresTls(
                            "sslmode=verify-full without sslrootcert trusts the system's roots,                              and none were found: install ca-certificates or name the CA with                              sslrootcert=/path/ca.pem"
                                .to_owned(),
                        ));
                    }
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl PgTarget {
    /// Checks a store URL: `postgres://USER@HOST:PORT/DATABASE[?…]` (or `postgresql://`),
    /// without a password, with `sslmode` `disable` (the default), `require` or `verify-full`
    /// (and `sslrootcert=/path/ca.pem` with `verify-full`; see [`PgTls`]). The error is one sentence saying what to do; it never repeats
    /// a password the URL carried.
    pub fn parse(url: &str) -> Result<PgTarget, String> {
        let shown = redact_url(url);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(format!(
                "`{shown}` is not a PostgreSQL URL: give postgres://USER@HOST:PORT/DATABASE, or `sqlite`"
            ));
        }
        let tls = tls_of(url, &shown)?;
        let config: Config = without_tls_keys(url)
            .parse()
            .map_err(|e| format!("the PostgreSQL URL `{shown}` does not parse: {e}"))?;
        if config.get_password().is_some() {
            return Err(format!(
                "the PostgreSQL URL `{shown}` carries a password; remove it from the URL and put \
                 it in an owner-only file named by `store_password_file` (--store-password-file) \
                 or in the environment variable VSM_STORE_PASSWORD"
            ));
        }
        if config.get_dbname().is_none() {
            return Err(format!(
                "the PostgreSQL URL `{shown}` names no database: give postgres://USER@HOST:PORT/DATABASE"
            ));
        }
        Ok(PgTarget {
            url: url.to_owned(),
            password: None,
            tls,
        })
    }

    /// The same database with `password` (or none).
    pub fn with_password(mut self, password: Option<String>) -> PgTarget {
        self.password = password;
        self
    }

    /// The URL, which carries no password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether a password was given.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// `database D on HOST:PORT as USER`, for messages.
    pub fn describe(&self) -> String {
        let Ok(config) = without_tls_keys(&self.url).parse::<Config>() else {
            return redact_url(&self.url);
        };
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "PostgreSQL database {} on {host}:{port} as {}",
            config.get_dbname().unwrap_or("?"),
            config.get_user().unwrap_or("?")
        )
    }

    /// How it talks TLS.
    pub fn tls(&self) -> &PgTls {
        &self.tls
    }

    /// The connector its sessions are made with.
    pub(crate) fn connector(&self) -> Result<Tls, StoreError> {
        connector(&self.tls)
    }

    fn config(&self) -> Result<Config, StoreError> {
        let mut config: Config = without_tls_keys(&self.url).parse()?;
        config.ssl_mode(match self.tls {
            PgTls::Disable => tokio_postgres::config::SslMode::Disable,
            PgTls::Require | PgTls::VerifyFull { .. } => tokio_postgres::config::SslMode::Require,
        });
        if let Some(pw) = &self.password {
            config.password(pw.as_bytes());
        }
        Ok(config)
    }
}

/// `url` with the password between `user:` and `@` (if any) replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// The leadership epoch a manager's writes are conditional on, when several managers share
/// one database: every write of a fenced [`PgStore`] checks, in its own transaction, that the
/// `leader` row still holds this epoch, and is refused ([`StoreError::Fenced`]) otherwise.
/// Epoch 0 means this manager is a standby: its writes are refused without asking.
#[derive(Debug, Default)]
pub struct Fence {
    epoch: AtomicI64,
    /// The last epoch held (for the refusal's message).
    last: AtomicI64,
}

impl Fence {
    /// A fence of a standby (epoch 0).
    pub fn new() -> Fence {
        Fence::default()
    }

    /// Writes go on under `epoch` (this manager took over).
    pub fn hold(&self, epoch: i64) {
        self.last.store(epoch, Ordering::SeqCst);
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// Every write is refused from now on (this manager stepped down).
    pub fn release(&self) {
        self.epoch.store(0, Ordering::SeqCst);
    }

    /// The epoch held now, if any.
    pub fn epoch(&self) -> Option<i64> {
        match self.epoch.load(Ordering::SeqCst) {
            0 => None,
            e => Some(e),
        }
    }

    fn refusal(&self) -> StoreError {
        StoreError::Fenced {
            held: match self.last.load(Ordering::SeqCst) {
                0 => None,
                e => Some(e),
            },
        }
    }
}

/// The PostgreSQL implementation of [`Store`]. Opening and every call block: call them from
/// blocking threads (`spawn_blocking`, a thread of one's own), never on an async worker.
pub struct PgStore {
    config: Config,
    /// Makes its sessions (TLS as the URL asked).
    tls: Tls,
    timeouts: Timeouts,
    conn: Mutex<Option<Conn>>,
    rt: OwnRuntime,
    /// Writes are conditional on this epoch (none: a store without managers around it, e.g.
    /// `init` or a test).
    fence: Option<Arc<Fence>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the configuration: it may hold the password.
        f.debug_struct("PgStore")
            .field("dbname", &self.config.get_dbname())
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

/// `fut` on a deadline of `after`, its error and a missed deadline as [`StoreError`]s.
async fn deadline<T, E: Into<StoreError>>(
    what: &'static str,
    after: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(after, fut).await {
        Ok(res) => res.map_err(Into::into),
        Err(_) => Err(StoreError::PostgresTimeout { what, after }),
    }
}

/// Makes a session of `config` on the current runtime (which then drives it), on a deadline.
async fn connect(config: &Config, tls: &Tls, timeouts: Timeouts) -> Result<Client, StoreError> {
    deadline("connecting", timeouts.connect, async {
        let (client, connection) = config.connect(tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "the PostgreSQL store's connection ended");
            }
        });
        Ok::<_, tokio_postgres::Error>(client)
    })
    .await
}

/// An insert's outcome, a unique violation as [`StoreError::Conflict`] on `what`.
fn inserted(res: Result<u64, tokio_postgres::Error>, what: String) -> Result<(), StoreError> {
    match res {
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Conflict(what)),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

/// Whether the session that returned `e` is still sound: the server refused a statement
/// (its transaction was rolled back), or the error was the store's own. A lost connection, a
/// time-out or a session the server ended (a `FATAL` error, which can arrive before the
/// client notices the connection is closed) is dropped.
fn keeps_session(e: &StoreError) -> bool {
    match e {
        StoreError::Postgres(e) => e
            .as_db_error()
            .is_some_and(|db| db.parsed_severity() == Some(Severity::Error)),
        StoreError::PostgresTimeout { .. } | StoreError::PostgresRuntime(_) => false,
        _ => true,
    }
}

fn i64_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn audit_entry(r: &Row) -> Result<AuditEntry, tokio_postgres::Error> {
    Ok(AuditEntry {
        at: Timestamp::from_millis(r.try_get(0)?),
        actor: r
            .try_get::<_, Option<String>>(1)?
            .and_then(|a| AccountName::new(a).ok()),
        action: r.try_get(2)?,
        target: r.try_get(3)?,
        result: r.try_get(4)?,
    })
}

fn account_of(r: &Row) -> Result<StoredAccount, StoreError> {
    to_account(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)
}

/// `BEGIN` of a read that takes several statements and must see one snapshot.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db?…`, see
    /// `tokio_postgres::Config`) and migrates it. Blocks: call it from a blocking thread.
    ///
    /// # Errors
    /// [`StoreError::Postgres`] when the URL does not parse, the connection fails or a
    /// migration fails; [`StoreError::PostgresTimeout`] when PostgreSQL does not answer in
    /// time; [`StoreError::TooNew`] when a newer vsm migrated the database.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        PgStore::open_with(url, Timeouts::default())
    }

    /// Connects to the database `target` names (with its password) and migrates it.
    /// Blocks: call it from a blocking thread.
    ///
    /// # Errors
    /// As [`PgStore::open`].
    pub fn open_target(target: &PgTarget) -> Result<PgStore, StoreError> {
        PgStore::open_config(target.config()?, target.connector()?, Timeouts::default())
    }

    /// [`PgStore::open`] with other time-outs (a URL without TLS).
    pub(crate) fn open_with(url: &str, timeouts: Timeouts) -> Result<PgStore, StoreError> {
        PgStore::open_config(url.parse()?, connector(&PgTls::Disable)?, timeouts)
    }

    fn open_config(
        mut config: Config,
        tls: Tls,
        timeouts: Timeouts,
    ) -> Result<PgStore, StoreError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeouts.connect);
        }
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        // The URL's own options come last, so that they win.
        let ms = timeouts.call.as_millis();
        let options = format!(
            "-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms} {}",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim_end());
        let store = PgStore {
            config,
            tls,
            timeouts,
            conn: Mutex::new(None),
            rt: OwnRuntime::new()?,
            fence: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The same store with its writes conditional on `fence` (see [`Fence`]).
    #[must_use]
    pub fn with_fence(mut self, fence: Option<Arc<Fence>>) -> PgStore {
        self.fence = fence;
        self
    }

    /// Inside a write's transaction: counts the write in the `leader` row, and — for a fenced
    /// store — only while the row holds `epoch`. The row lock this takes orders the write
    /// against a takeover (which bumps the epoch in the same row): a write that commits after
    /// a takeover cannot have passed the check.
    async fn check_fence(c: &mut Conn, epoch: Option<i64>) -> Result<(), StoreError> {
        match epoch {
            Some(epoch) => {
                let n = c
                    .exec(
                        "UPDATE leader SET changes = changes + 1 WHERE epoch = $1",
                        &[&epoch],
                    )
                    .await?;
                if n == 0 {
                    return Err(StoreError::Fenced { held: Some(epoch) });
                }
            }
            None => {
                c.exec("UPDATE leader SET changes = changes + 1", &[])
                    .await?;
            }
        }
        Ok(())
    }

    /// The session configuration (with the password), for the election's own session.
    pub(super) fn session_config(target: &PgTarget) -> Result<Config, StoreError> {
        let mut config = target.config()?;
        config.connect_timeout(Timeouts::default().connect);
        if config.get_application_name().is_none() {
            config.application_name("vsm-manager-election");
        }
        Ok(config)
    }

    /// Runs `op` on the session (made first when there is none or it failed) with the call's
    /// deadline; a session that failed or timed out is dropped.
    fn run<T>(
        &self,
        what: &'static str,
        op: impl AsyncFnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // The session is taken out of the slot while in use, so a panic drops it (and the
        // server rolls back what it had open): a poisoned lock is still usable.
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        self.rt.block_on(async move {
            let mut conn = match slot.take() {
                Some(conn) if conn.usable() => conn,
                _ => Conn {
                    client: connect(&self.config, &self.tls, self.timeouts).await?,
                    statements: HashMap::new(),
                    broken: false,
                },
            };
            let res = deadline(what, self.timeouts.call, op(&mut conn)).await;
            let keep = match &res {
                Ok(_) => true,
                Err(e) => keeps_session(e),
            };
            if keep && conn.usable() {
                *slot = Some(conn);
            }
            res
        })
    }

    fn migrate(&self) -> Result<(), StoreError> {
        loop {
            let done = self.run("a migration", async |c| {
                c.transaction("BEGIN", async |c| {
                    c.client
                        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                        .await?;
                    c.client.batch_execute(VERSION_TABLE).await?;
                    let version: i64 = c
                        .client
                        .query_one("SELECT version FROM schema_version", &[])
                        .await?
                        .try_get(0)?;
                    StoreError::check_version(version, MIGRATIONS.len())?;
                    let next = usize::try_from(version).unwrap_or(0);
                    let Some(sql) = MIGRATIONS.get(next) else {
                        return Ok(true);
                    };
                    c.client.batch_execute(sql).await?;
                    c.client
                        .execute("UPDATE schema_version SET version = $1", &[&(version + 1)])
                        .await?;
                    Ok(false)
                })
                .await
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// The statements that write `unit`'s servers: all of them replaced, in one insert however
    /// many.
    fn server_statements(unit: &Unit, out: &mut Vec<Stmt>) -> Result<(), StoreError> {
        out.push(Stmt::new(
            "DELETE FROM servers WHERE unit = $1",
            vec![p(unit.name.to_string())],
        ));
        let (mut names, mut groups, mut jsons) = (Vec::new(), Vec::new(), Vec::new());
        for g in &unit.groups {
            for s in &g.servers {
                names.push(s.name.to_string());
                groups.push(g.spec.name.to_string());
                jsons.push(to_json("server", s)?);
            }
        }
        if !names.is_empty() {
            out.push(Stmt::new(
                "INSERT INTO servers (unit, name, grp, json) \
                 SELECT $1, n, g, j FROM unnest($2::text[], $3::text[], $4::text[]) AS t(n, g, j)",
                vec![p(unit.name.to_string()), p(names), p(groups), p(jsons)],
            ));
        }
        Ok(())
    }

    /// The statements of one change, in order.
    fn statements(change: &Change, out: &mut Vec<Stmt>) -> Result<(), StoreError> {
        match change {
            Change::InsertAccount(a) => out.push(
                Stmt::new(
                    "INSERT INTO accounts (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)",
                    vec![
                        p(a.name.to_string()),
                        p(a.role.as_str().to_owned()),
                        p(a.password_hash.clone()),
                        p(a.created_at.as_millis()),
                    ],
                )
                .conflict(format!("account {}", a.name)),
            ),
            Change::SetPasswordHash { account, hash } => out.push(Stmt::new(
                "UPDATE accounts SET password_hash = $2 WHERE name = $1",
                vec![p(account.to_string()), p(hash.clone())],
            )),
            Change::DeleteAccount(name) => out.push(Stmt::new(
                "DELETE FROM accounts WHERE name = $1",
                vec![p(name.to_string())],
            )),
            Change::InsertSession(s) => out.push(Stmt::new(
                "INSERT INTO sessions (token_hash, account, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                vec![
                    p(s.token_hash.clone()),
                    p(s.account.to_string()),
                    p(s.created_at.as_millis()),
                    p(s.expires_at.as_millis()),
                ],
            )),
            Change::DeleteSession(hash) => out.push(Stmt::new(
                "DELETE FROM sessions WHERE token_hash = $1",
                vec![p(hash.clone())],
            )),
            Change::DeleteSessionsOf(account) => out.push(Stmt::new(
                "DELETE FROM sessions WHERE account = $1",
                vec![p(account.to_string())],
            )),
            Change::PurgeSessions(before) => out.push(Stmt::new(
                "DELETE FROM sessions WHERE expires_at < $1",
                vec![p(before.as_millis())],
            )),
            Change::PurgeJournals(before) => out.push(Stmt::new(
                "DELETE FROM journal WHERE operation IN \
                 (SELECT id FROM operations WHERE created_at < $1 AND state <> $2)",
                vec![
                    p(before.as_millis()),
                    p(OperationState::Running.as_str().to_owned()),
                ],
            )),
            Change::InsertTemplate(t) => out.push(
                Stmt::new(
                    "INSERT INTO templates (name, owner, json) VALUES ($1, $2, $3)",
                    vec![
                        p(t.name.to_string()),
                        p(t.owner.to_string()),
                        p(to_json("template", t)?),
                    ],
                )
                .conflict(format!("template {}", t.name)),
            ),
            Change::UpdateTemplate(t) => out.push(Stmt::new(
                "UPDATE templates SET owner = $2, json = $3 WHERE name = $1",
                vec![
                    p(t.name.to_string()),
                    p(t.owner.to_string()),
                    p(to_json("template", t)?),
                ],
            )),
            Change::DeleteTemplate(name) => out.push(Stmt::new(
                "DELETE FROM templates WHERE name = $1",
                vec![p(name.to_string())],
            )),
            Change::PutHost(h) => out.push(Stmt::new(
                "INSERT INTO hosts (name, json) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET json = excluded.json",
                vec![p(h.name().to_string()), p(to_json("host", h)?)],
            )),
            Change::DeleteHost(name) => out.push(Stmt::new(
                "DELETE FROM hosts WHERE name = $1",
                vec![p(name.to_string())],
            )),
            Change::InsertUnit(u) => {
                out.push(
                    Stmt::new(
                        "INSERT INTO units (name, owner, json) VALUES ($1, $2, $3)",
                        vec![
                            p(u.name.to_string()),
                            p(u.owner.to_string()),
                            p(unit_meta_json(u)?),
                        ],
                    )
                    .conflict(format!("unit {}", u.name)),
                );
                Self::server_statements(u, out)?;
            }
            Change::PutUnit(u) => {
                out.push(Stmt::new(
                    "INSERT INTO units (name, owner, json) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, json = excluded.json",
                    vec![
                        p(u.name.to_string()),
                        p(u.owner.to_string()),
                        p(unit_meta_json(u)?),
                    ],
                ));
                Self::server_statements(u, out)?;
            }
            Change::PutUnitMeta(u) => out.push(Stmt::new(
                "UPDATE units SET owner = $2, json = $3 WHERE name = $1",
                vec![
                    p(u.name.to_string()),
                    p(u.owner.to_string()),
                    p(unit_meta_json(u)?),
                ],
            )),
            Change::PutServer {
                unit,
                group,
                server,
            } => out.push(Stmt::new(
                "INSERT INTO servers (unit, name, grp, json) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (unit, name) DO UPDATE SET grp = excluded.grp, json = excluded.json",
                vec![
                    p(unit.to_string()),
                    p(server.name.to_string()),
                    p(group.to_string()),
                    p(to_json("server", server)?),
                ],
            )),
            Change::DeleteServer { unit, server } => out.push(Stmt::new(
                "DELETE FROM servers WHERE unit = $1 AND name = $2",
                vec![p(unit.to_string()), p(server.to_string())],
            )),
            Change::DeleteUnit(name) => {
                out.push(Stmt::new(
                    "DELETE FROM servers WHERE unit = $1",
                    vec![p(name.to_string())],
                ));
                out.push(Stmt::new(
                    "DELETE FROM units WHERE name = $1",
                    vec![p(name.to_string())],
                ));
            }
            Change::PutOperation(op) => out.push(Stmt::new(
                "INSERT INTO operations (id, unit, kind, state, created_at, json) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET unit = excluded.unit, kind = excluded.kind, \
                 state = excluded.state, created_at = excluded.created_at, json = excluded.json",
                vec![
                    p(op.summary.id.0 as i64),
                    p(op.summary.unit.as_ref().map(|u| u.to_string())),
                    p(op.summary.kind.as_str().to_owned()),
                    p(op.summary.state.as_str().to_owned()),
                    p(op.summary.created_at.as_millis()),
                    p(to_json("operation", op)?),
                ],
            )),
            Change::Journal(j) => out.push(Stmt::new(
                "INSERT INTO journal (operation, seq, json) VALUES ($1, $2, $3) \
                 ON CONFLICT (operation, seq) DO UPDATE SET json = excluded.json",
                vec![
                    p(j.operation.0 as i64),
                    p(j.seq as i64),
                    p(to_json("journal", j)?),
                ],
            )),
            Change::Audit(a) => out.push(Stmt::new(
                "INSERT INTO audit (at, actor, action, target, result) VALUES ($1, $2, $3, $4, $5)",
                vec![
                    p(a.at.as_millis()),
                    p(a.actor.as_ref().map(|x| x.to_string())),
                    p(super::storable_text(&a.action).into_owned()),
                    p(super::storable_text(&a.target).into_owned()),
                    p(super::storable_text(&a.result).into_owned()),
                ],
            )),
        }
        Ok(())
    }

    /// Applies `changes` inside the caller's transaction, their statements **pipelined**:
    /// every statement is sent before the first answer is awaited (tokio-postgres sends a
    /// request when its future is first polled, and `join_all` polls them in order), so a
    /// write of N statements costs about one round trip instead of N. The server runs them in
    /// order; after a failed one it refuses the rest of the transaction, so the first error in
    /// order is the cause.
    async fn apply_all(c: &mut Conn, changes: &[Change]) -> Result<(), StoreError> {
        let mut stmts = Vec::new();
        for change in changes {
            Self::statements(change, &mut stmts)?;
        }
        for s in &stmts {
            c.prepare(s.sql).await?;
        }
        let prepared: Vec<Statement> = stmts.iter().map(|s| c.statements[s.sql].clone()).collect();
        let client = &c.client;
        let answers =
            futures::future::join_all(stmts.iter().zip(&prepared).map(|(s, stmt)| async move {
                let params: Vec<&(dyn ToSql + Sync)> = s
                    .params
                    .iter()
                    .map(|v| &**v as &(dyn ToSql + Sync))
                    .collect();
                client.execute(stmt, &params).await
            }))
            .await;
        for (s, answer) in stmts.iter().zip(answers) {
            match (&s.conflict, answer) {
                (Some(what), Err(e)) => inserted(Err(e), what.clone())?,
                (None, Err(e)) => return Err(e.into()),
                (_, Ok(_)) => {}
            }
        }
        Ok(())
    }

    /// Writes what `next` hands out, batch after batch until it answers `None`, in one
    /// transaction on a session of its own: all of it is committed, or — on any error of
    /// `next` or of the database — none of it. Each batch has the call's deadline.
    pub(crate) fn write_batches(
        &self,
        next: &mut dyn FnMut() -> Result<Option<Vec<Change>>, StoreError>,
    ) -> Result<(), StoreError> {
        let rt = OwnRuntime::new()?;
        let t = self.timeouts;
        let mut conn = Conn {
            client: rt.block_on(connect(&self.config, &self.tls, t))?,
            statements: HashMap::new(),
            broken: false,
        };
        rt.block_on(deadline(
            "a write",
            t.call,
            conn.client.batch_execute("BEGIN"),
        ))?;
        while let Some(changes) = next()? {
            rt.block_on(deadline("a write", t.call, async {
                Self::apply_all(&mut conn, &changes).await?;
                Ok::<_, StoreError>(())
            }))?;
        }
        // An error above drops the session: the server rolls the transaction back.
        rt.block_on(deadline(
            "a write",
            t.call,
            conn.client.batch_execute("COMMIT"),
        ))
    }

    /// Removes every row of vsm's tables (keeping the schema), in one transaction: undoes a
    /// copy whose check failed, so that the database is empty again.
    pub(crate) fn remove_all_rows(&self) -> Result<(), StoreError> {
        self.run("a write", async |c| {
            c.transaction("BEGIN", async |c| {
                c.client
                    .batch_execute(
                        "TRUNCATE accounts, sessions, templates, units, servers, operations, \
                         journal, audit, hosts",
                    )
                    .await?;
                Ok(())
            })
            .await
        })
    }

    /// Copies every row, as one snapshot, into `dest` (an empty store), on a session and a
    /// runtime of its own so that the store's own calls go on meanwhile.
    fn copy_into(&self, dest: &dyn Store) -> Result<(), StoreError> {
        let rt = OwnRuntime::new()?;
        let t = self.timeouts;
        let mut client = rt.block_on(connect(&self.config, &self.tls, t))?;
        let tx = rt.block_on(deadline(
            "a backup",
            t.call,
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
        ))?;
        let copy = |sql: &str, change: &dyn Fn(&Row) -> Result<Change, StoreError>| {
            let portal = rt.block_on(deadline("a backup", t.call, tx.bind(sql, &[])))?;
            loop {
                let rows = rt.block_on(deadline(
                    "a backup",
                    t.call,
                    tx.query_portal(&portal, BACKUP_CHUNK),
                ))?;
                let changes = rows.iter().map(change).collect::<Result<Vec<_>, _>>()?;
                dest.write(&changes)?;
                if rows.len() < BACKUP_CHUNK as usize {
                    return Ok::<_, StoreError>(());
                }
            }
        };
        let json = |r: &Row| -> Result<String, StoreError> { Ok(r.try_get(0)?) };
        copy(
            "SELECT name, role, password_hash, created_at FROM accounts ORDER BY name",
            &|r| Ok(Change::InsertAccount(account_of(r)?)),
        )?;
        copy(
            "SELECT token_hash, account, created_at, expires_at FROM sessions ORDER BY token_hash",
            &|r| {
                let account: String = r.try_get(1)?;
                Ok(Change::InsertSession(StoredSession {
                    token_hash: r.try_get(0)?,
                    account: AccountName::new(account.clone())
                        .map_err(|e| bad_key("session", &account, e))?,
                    created_at: Timestamp::from_millis(r.try_get(2)?),
                    expires_at: Timestamp::from_millis(r.try_get(3)?),
                }))
            },
        )?;
        copy("SELECT json FROM templates ORDER BY name", &|r| {
            Ok(Change::InsertTemplate(from_json("template", &json(r)?)?))
        })?;
        copy("SELECT json FROM hosts ORDER BY name", &|r| {
            Ok(Change::PutHost(from_json("host", &json(r)?)?))
        })?;
        copy("SELECT json FROM units ORDER BY name", &|r| {
            Ok(Change::InsertUnit(from_json("unit", &json(r)?)?))
        })?;
        copy(
            "SELECT json, unit, grp FROM servers ORDER BY unit, name",
            &|r| {
                let (unit, grp): (String, String) = (r.try_get(1)?, r.try_get(2)?);
                Ok(Change::PutServer {
                    unit: UnitName::new(unit.clone()).map_err(|e| bad_key("server", &unit, e))?,
                    group: GroupName::new(grp.clone()).map_err(|e| bad_key("server", &grp, e))?,
                    server: from_json(&format!("server of unit {unit}"), &json(r)?)?,
                })
            },
        )?;
        copy("SELECT json FROM operations ORDER BY id", &|r| {
            Ok(Change::PutOperation(from_json("operation", &json(r)?)?))
        })?;
        copy("SELECT json FROM journal ORDER BY operation, seq", &|r| {
            Ok(Change::Journal(from_json("journal entry", &json(r)?)?))
        })?;
        copy(
            "SELECT at, actor, action, target, result FROM audit ORDER BY id",
            &|r| Ok(Change::Audit(audit_entry(r)?)),
        )?;
        rt.block_on(deadline("a backup", t.call, tx.commit()))
    }
}

/// A stored key that is not a valid name.
fn bad_key(what: &str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: format!("{what} row {key:?}"),
        source: serde::de::Error::custom(e),
    }
}

impl Store for PgStore {
    fn account(&self, name: &AccountName) -> Result<Option<StoredAccount>, StoreError> {
        self.run("a query", async |c| {
            c.query_opt(
                "SELECT name, role, password_hash, created_at FROM accounts WHERE name = $1",
                &[&name.as_str()],
            )
            .await?
            .as_ref()
            .map(account_of)
            .transpose()
        })
    }

    fn accounts(&self) -> Result<Vec<StoredAccount>, StoreError> {
        self.run("a query", async |c| {
            c.query(
                "SELECT name, role, password_hash, created_at FROM accounts ORDER BY name",
                &[],
            )
            .await?
            .iter()
            .map(account_of)
            .collect()
        })
    }

    fn session(&self, token_hash: &str) -> Result<Option<StoredSession>, StoreError> {
        self.run("a query", async |c| {
            let Some(row) = c
                .query_opt(
                    "SELECT account, created_at, expires_at FROM sessions WHERE token_hash = $1",
                    &[&token_hash],
                )
                .await?
            else {
                return Ok(None);
            };
            let (account, created, expires): (String, i64, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            Ok(AccountName::new(account).ok().map(|account| StoredSession {
                token_hash: token_hash.to_owned(),
                account,
                created_at: Timestamp::from_millis(created),
                expires_at: Timestamp::from_millis(expires),
            }))
        })
    }

    fn sessions(&self) -> Result<Vec<StoredSession>, StoreError> {
        self.run("a query", async |c| {
            let rows = c
                .query(
                    "SELECT token_hash, account, created_at, expires_at FROM sessions ORDER BY token_hash",
                    &[],
                )
                .await?;
            let mut out = Vec::new();
            for r in &rows {
                let account: String = r.try_get(1)?;
                if let Ok(account) = AccountName::new(account) {
                    out.push(StoredSession {
                        token_hash: r.try_get(0)?,
                        account,
                        created_at: Timestamp::from_millis(r.try_get(2)?),
                        expires_at: Timestamp::from_millis(r.try_get(3)?),
                    });
                }
            }
            Ok(out)
        })
    }

    fn template(&self, name: &TemplateName) -> Result<Option<Template>, StoreError> {
        self.run("a query", async |c| {
            let row = c
                .query_opt(
                    "SELECT json FROM templates WHERE name = $1",
                    &[&name.as_str()],
                )
                .await?;
            row.map(|r| from_json(&format!("template {name}"), r.try_get(0)?))
                .transpose()
        })
    }

    fn templates(&self) -> Result<Vec<Template>, StoreError> {
        self.run("a query", async |c| {
            let jsons = c
                .texts("SELECT json FROM templates ORDER BY name", &[])
                .await?;
            jsons.iter().map(|j| from_json("template", j)).collect()
        })
    }

    fn hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        self.run("a query", async |c| {
            let jsons = c.texts("SELECT json FROM hosts ORDER BY name", &[]).await?;
            jsons.iter().map(|j| from_json("host", j)).collect()
        })
    }

    fn unit(&self, name: &UnitName) -> Result<Option<Unit>, StoreError> {
        self.run("a query", async |c| {
            c.transaction(BEGIN_SNAPSHOT, async |c| {
                let Some(row) = c
                    .query_opt("SELECT json FROM units WHERE name = $1", &[&name.as_str()])
                    .await?
                else {
                    return Ok(None);
                };
                let mut unit: Unit = from_json(&format!("unit {name}"), row.try_get(0)?)?;
                let servers = c
                    .query(
                        "SELECT grp, json FROM servers WHERE unit = $1",
                        &[&name.as_str()],
                    )
                    .await?;
                let servers = servers
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
                attach_servers(&mut unit, servers)?;
                Ok(Some(unit))
            })
            .await
        })
    }

    fn units(&self) -> Result<Vec<Unit>, StoreError> {
        self.run("a query", async |c| {
            c.transaction(BEGIN_SNAPSHOT, async |c| {
                let jsons = c.texts("SELECT json FROM units ORDER BY name", &[]).await?;
                let mut servers: HashMap<String, Vec<(String, String)>> = HashMap::new();
                for r in c.query("SELECT unit, grp, json FROM servers", &[]).await? {
                    servers
                        .entry(r.try_get(0)?)
                        .or_default()
                        .push((r.try_get(1)?, r.try_get(2)?));
                }
                let mut out = Vec::with_capacity(jsons.len());
                for j in jsons {
                    let mut unit: Unit = from_json("unit", &j)?;
                    let rows = servers.remove(unit.name.as_str()).unwrap_or_default();
                    attach_servers(&mut unit, rows)?;
                    out.push(unit);
                }
                Ok(out)
            })
            .await
        })
    }

    fn operation(&self, id: OperationId) -> Result<Option<OperationRecord>, StoreError> {
        self.run("a query", async |c| {
            let row = c
                .query_opt(
                    "SELECT json FROM operations WHERE id = $1",
                    &[&(id.0 as i64)],
                )
                .await?;
            row.map(|r| from_json(&format!("operation {id}"), r.try_get(0)?))
                .transpose()
        })
    }

    fn operations(
        &self,
        unit: Option<&UnitName>,
        limit: usize,
    ) -> Result<Vec<OperationSummary>, StoreError> {
        let limit = i64_of(limit);
        self.run("a query", async |c| {
            let jsons = match unit {
                Some(u) => {
                    c.texts(
                        "SELECT json FROM operations WHERE unit = $1 ORDER BY id DESC LIMIT $2",
                        &[&u.as_str(), &limit],
                    )
                    .await?
                }
                None => {
                    c.texts(
                        "SELECT json FROM operations ORDER BY id DESC LIMIT $1",
                        &[&limit],
                    )
                    .await?
                }
            };
            jsons
                .iter()
                .map(|j| from_json::<OperationRecord>("operation", j).map(|r| r.summary))
                .collect()
        })
    }

    fn running_operations(&self) -> Result<Vec<OperationRecord>, StoreError> {
        self.run("a query", async |c| {
            let jsons = c
                .texts(
                    "SELECT json FROM operations WHERE state = $1 ORDER BY id",
                    &[&OperationState::Running.as_str()],
                )
                .await?;
            jsons.iter().map(|j| from_json("operation", j)).collect()
        })
    }

    fn max_operation_id(&self) -> Result<u64, StoreError> {
        self.run("a query", async |c| {
            let rows = c.query("SELECT MAX(id) FROM operations", &[]).await?;
            let max: Option<i64> = match rows.first() {
                Some(r) => r.try_get(0)?,
                None => None,
            };
            Ok(u64::try_from(max.unwrap_or(0)).unwrap_or(0))
        })
    }

    fn journal(&self, operation: OperationId) -> Result<Vec<JournalEntry>, StoreError> {
        self.run("a query", async |c| {
            let jsons = c
                .texts(
                    "SELECT json FROM journal WHERE operation = $1 ORDER BY seq",
                    &[&(operation.0 as i64)],
                )
                .await?;
            jsons
                .iter()
                .map(|j| from_json("journal entry", j))
                .collect()
        })
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64_of(limit);
        self.run("a query", async |c| {
            let rows = c
                .query(
                    "SELECT at, actor, action, target, result FROM audit ORDER BY id DESC LIMIT $1",
                    &[&limit],
                )
                .await?;
            Ok(rows.iter().map(audit_entry).collect::<Result<_, _>>()?)
        })
    }

    fn write(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let epoch = match &self.fence {
            Some(fence) => match fence.epoch() {
                Some(epoch) => Some(epoch),
                None => return Err(fence.refusal()),
            },
            None => None,
        };
        self.run("a write", async |c| {
            c.transaction("BEGIN", async |c| {
                Self::check_fence(c, epoch).await?;
                Self::apply_all(c, changes).await
            })
            .await
        })
    }

    /// Writes every row, as one snapshot, into a new SQLite database at `dest` (the SQLite
    /// store's format, so that a backup archive is the same for both backends). The file
    /// appears at `dest` only once complete.
    fn backup_to(&self, dest: &Utf8Path) -> Result<(), StoreError> {
        let dir = match dest.parent() {
            Some(dir) if !dir.as_str().is_empty() => dir,
            _ => Utf8Path::new("."),
        };
        let io = |path: &Utf8Path| {
            let path = path.to_string();
            move |source| StoreError::Io { path, source }
        };
        let tmp = tempfile::Builder::new()
            .prefix(".vsm-backup-")
            .suffix(".db")
            .tempfile_in(dir)
            .map_err(io(dir))?
            .into_temp_path();
        let tmp_path = Utf8PathBuf::from_path_buf(tmp.to_path_buf()).map_err(|p| {
            io(dir)(std::io::Error::other(format!(
                "{} is not UTF-8",
                p.display()
            )))
        })?;
        {
            let copy = SqliteStore::open(&tmp_path)?;
            self.copy_into(&copy)?;
        }
        tmp.persist(dest).map_err(|e| io(dest)(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! What only the PostgreSQL store has: its own runtime, its time-outs, reconnecting,
    //! concurrent migration. The behaviour both stores share is the contract suite in
    //! `store/tests.rs`.

    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    use super::*;
    use crate::store::tests::shared_server;
    use crate::testing::pg::PgServer;

    fn audit(text: &str) -> Change {
        Change::Audit(AuditEntry {
            at: Timestamp::from_millis(1),
            actor: None,
            action: text.to_owned(),
            target: "t".into(),
            result: "ok".into(),
        })
    }

    fn audits(store: &dyn Store) -> Vec<String> {
        store
            .audit_log(100)
            .expect("audit")
            .into_iter()
            .map(|a| a.action)
            .collect()
    }

    /// A runtime of the kind `multi` says, its worker threads named so that a test can tell.
    fn runtime(multi: bool) -> Runtime {
        let mut b = if multi {
            tokio::runtime::Builder::new_multi_thread()
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        b.worker_threads(2).enable_all().build().expect("runtime")
    }

    #[test]
    fn the_store_runs_on_any_blocking_thread_and_outlives_the_callers_runtime() {
        let Some(pg) = shared_server() else { return };
        let url = pg.create_database("threads");
        for multi in [true, false] {
            // Opened on a blocking thread of a runtime that is then dropped.
            let rt = runtime(multi);
            let u = url.clone();
            let store: Arc<dyn Store> = rt.block_on(async move {
                tokio::task::spawn_blocking(move || PgStore::open(&u).expect("open"))
                    .await
                    .map(|s| Arc::new(s) as Arc<dyn Store>)
                    .expect("task")
            });
            let s = store.clone();
            rt.block_on(async move {
                tokio::task::spawn_blocking(move || s.write(&[audit("spawn_blocking")]))
                    .await
                    .expect("task")
                    .expect("write");
            });
            drop(rt);
            // A plain thread that entered no runtime, after the opener's runtime is gone.
            let s = store.clone();
            std::thread::spawn(move || s.write(&[audit("plain thread")]))
                .join()
                .expect("thread")
                .expect("write");
            // A current-thread runtime whose own thread is blocked meanwhile (joining).
            let rt = runtime(false);
            let s = store.clone();
            let joined = rt.block_on(async move {
                std::thread::spawn(move || s.audit_log(1))
                    .join()
                    .expect("thread")
            });
            assert_eq!(joined.expect("read").len(), 1);
            // Dropped on an async worker thread: no panic (the runtime shuts down in the
            // background).
            let rt = runtime(true);
            rt.block_on(async move {
                tokio::spawn(async move { drop(store) })
                    .await
                    .expect("drop");
            });
        }
        let store = PgStore::open(&url).expect("open");
        assert_eq!(
            audits(&store),
            [
                "plain thread",
                "spawn_blocking",
                "plain thread",
                "spawn_blocking"
            ]
        );
    }

    #[test]
    fn a_lost_connection_is_an_error_and_the_next_call_connects_again() {
        let Some(pg) = PgServer::start_or_skip() else {
            return;
        };
        let url = pg.create_database("lost");
        let store = PgStore::open(&url).expect("open");
        store.write(&[audit("before")]).expect("write");
        let admin = PgStore::open(&pg.url()).expect("admin");
        let killed: i64 = admin
            .run("a query", async |c| {
                let row = c
                    .client
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE datname = 'lost' AND application_name = $1",
                        &[&APPLICATION_NAME],
                    )
                    .await?;
                Ok(row.try_get(0)?)
            })
            .expect("terminate");
        assert_eq!(killed, 1, "the store's one session");
        let err = store.write(&[audit("lost")]).expect_err("connection lost");
        assert!(matches!(err, StoreError::Postgres(_)), "{err:?}");
        // The write was not applied; the next call makes a new session.
        assert_eq!(audits(&store), ["before"]);
        store.write(&[audit("after")]).expect("write");
        assert_eq!(audits(&store), ["after", "before"]);

        // The server gone: an error at once, no hang.
        drop(admin);
        drop(pg);
        let started = Instant::now();
        let err = store.audit_log(1).expect_err("server gone");
        assert!(matches!(err, StoreError::Postgres(_)), "{err:?}");
        let err = store.audit_log(1).expect_err("server gone");
        assert!(matches!(err, StoreError::Postgres(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    /// A TCP proxy to `port` on 127.0.0.1 that holds back everything while `frozen` is set
    /// (a silent network). Its threads end with their connections.
    fn proxy(port: u16, frozen: Arc<AtomicBool>) -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let local = listener.local_addr().expect("addr").port();
        fn pipe(mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>) {
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    while frozen.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(std::net::Shutdown::Both);
            });
        }
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
                    continue;
                };
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                pipe(client, server, frozen.clone());
                pipe(s2, c2, frozen.clone());
            }
        });
        local
    }

    #[test]
    fn a_silent_network_ends_in_a_time_out_not_a_hang() {
        let Some(pg) = shared_server() else { return };
        let url = pg.create_database("silent");
        let frozen = Arc::new(AtomicBool::new(false));
        let port = proxy(pg.port(), frozen.clone());
        let via_proxy = url.replace(&format!(":{}/", pg.port()), &format!(":{port}/"));
        assert_ne!(via_proxy, url);
        let timeouts = Timeouts {
            connect: Duration::from_millis(700),
            call: Duration::from_millis(700),
        };
        let store = PgStore::open_with(&via_proxy, timeouts).expect("open");
        store.write(&[audit("before")]).expect("write");

        frozen.store(true, Ordering::SeqCst);
        let started = Instant::now();
        let err = store.write(&[audit("frozen")]).expect_err("no answer");
        let waited = started.elapsed();
        assert!(
            matches!(err, StoreError::PostgresTimeout { what: "a write", after } if after == timeouts.call),
            "{err:?}"
        );
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        // Connecting again through the silent network times out too.
        let err = store.audit_log(1).expect_err("no answer");
        assert!(
            matches!(
                err,
                StoreError::PostgresTimeout {
                    what: "connecting",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = PgStore::open_with(&via_proxy, timeouts).expect_err("no answer");
        assert!(
            matches!(
                err,
                StoreError::PostgresTimeout {
                    what: "connecting",
                    ..
                }
            ),
            "{err:?}"
        );

        // The network back: the dropped session's write was rolled back (or never arrived),
        // and the store works on a new session.
        frozen.store(false, Ordering::SeqCst);
        store.write(&[audit("after")]).expect("write");
        assert_eq!(audits(&store), ["after", "before"]);
    }

    #[test]
    fn stores_opening_at_once_migrate_once() {
        let Some(pg) = shared_server() else { return };
        let url = pg.create_database("at_once");
        let stores: Vec<PgStore> = std::thread::scope(|s| {
            let opening: Vec<_> = (0..4).map(|_| s.spawn(|| PgStore::open(&url))).collect();
            opening
                .into_iter()
                .map(|t| t.join().expect("thread").expect("open"))
                .collect()
        });
        stores[0].write(&[audit("one")]).expect("write");
        for store in &stores {
            assert_eq!(audits(store), ["one"]);
        }
        let version: i64 = stores[1]
            .run("a query", async |c| {
                Ok(c.client
                    .query_one("SELECT version FROM schema_version", &[])
                    .await?
                    .try_get(0)?)
            })
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn free_text_with_nul_is_kept_and_no_password_is_shown() {
        let Some(pg) = shared_server() else { return };
        let url = pg.create_database("texts");
        // Trust authentication ignores the password; it must not show anywhere.
        let with_password = url.replace("://vsm@", "://vsm:hunter2-secret@");
        assert_ne!(with_password, url);
        let store = PgStore::open(&with_password).expect("open");
        assert!(!format!("{store:?}").contains("hunter2"), "{store:?}");
        // The call's deadline is the server's too.
        let settings: Vec<String> = store
            .run("a query", async |c| {
                let mut out = Vec::new();
                for name in ["statement_timeout", "idle_in_transaction_session_timeout"] {
                    let row = c.client.query_one(&format!("SHOW {name}"), &[]).await?;
                    out.push(row.try_get(0)?);
                }
                Ok(out)
            })
            .expect("settings");
        assert_eq!(settings, ["30s", "30s"]);
        store.write(&[audit("a\0b")]).expect("write");
        assert_eq!(audits(&store), ["a\u{FFFD}b"]);

        let refused = url
            .replace("://vsm@", "://vsm:hunter2-secret@")
            .replace(&format!(":{}/", pg.port()), ":1/");
        let err = PgStore::open(&refused).expect_err("nothing listens on port 1");
        let mut chain = format!("{err:?}");
        let mut source: Option<&dyn std::error::Error> = Some(&err);
        while let Some(e) = source {
            chain.push_str(&e.to_string());
            source = e.source();
        }
        assert!(!chain.contains("hunter2"), "{chain}");
        assert!(matches!(err, StoreError::Postgres(_)), "{err:?}");
    }
}
