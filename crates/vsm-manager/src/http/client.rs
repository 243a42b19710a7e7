//! The typed async client of the HTTP API: one method per route of `/work/notes/API.md`.
//!
//! Used by the `vsm` command line and the end-to-end tests. It owns transport concerns only
//! (URLs, bearer token, TLS roots, decoding, the event stream); it never decides exit codes
//! beyond offering [`ClientError::exit_code`], and it never retries a request on its own.

use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use camino::Utf8Path;
use futures::{Stream, StreamExt};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vsm_core::{
    AccountName, DefinitionVersion, GroupName, OperationId, ServerName, TemplateName, UnitName,
};

use super::api::{
    Done, GenerationRequest, Health, LoginRequest, PasswordRequest, UnitDeleted, UploadLimits,
    WatchResync, WhoAmI, sse, unit_sse,
};
use super::archive::{self, ArchiveError, DirMeasure, UnpackLimits, UnpackStats};
use super::error::{ApiError, ErrorBody, ErrorKind, kind_from_status};
use crate::api::{
    AccountInfo, AddAccount, AddHost, ApplyRequest, AttachRequest, Chown, ConfirmDownReport,
    CreateUnitFromFile, DefinitionDiff, DeleteUnitRequest, DrainReport, DrainRequest, HostInfo,
    ImportResult, LogSettings, LogSettingsChange, MarkRequest, OpOptions, OperationRecord,
    OperationSummary, Password, PfmRow, ProgressEvent, RebalanceReport, RebalanceRequest,
    RegisterTemplate, ScaleRequest, ServerLogs, Session, TemplateInfo, UnitDetail, UnitSummary,
    UpgradeRequest, VersionInfo,
};
use crate::watch_delta::{UnitDelta, apply_delta};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The manager could not be reached (connection refused, DNS, TLS, connection lost).
    #[error("the manager at {url} is unreachable")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The manager answered with an error.
    #[error("{error}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error body.
        error: ApiError,
    },
    /// The manager's answer could not be decoded.
    #[error("cannot decode the manager's answer from {url}")]
    Decode {
        /// The URL asked.
        url: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The base URL or a TLS certificate is invalid.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The manager closed the connection in the middle of an upload without an answer the
    /// client could read. A manager refusing an upload as too large answers 413 and closes the
    /// connection at once, and the answer can be lost with the rest of the upload; a manager
    /// that stopped does the same.
    #[error(
        "the manager at {url} closed the connection after {sent} bytes of the upload had been sent, without an answer"
    )]
    UploadCut {
        /// The URL posted to.
        url: String,
        /// The bytes handed to the connection by then.
        sent: u64,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// Packing or unpacking a definition directory failed.
    #[error("cannot transfer the definition directory")]
    Archive(#[from] ArchiveError),
    /// Writing a downloaded file failed.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// The API error, when the manager answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The kind of the API error, when the manager answered with one.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.api().map(|e| e.kind)
    }

    /// The `vsm` exit code for this error (SPEC.md): 69 unreachable, the kind's code for API
    /// errors, 65 for a directory that cannot be packed, 70 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } => 69,
            ClientError::Api { error, .. } => error.kind.exit_code(),
            ClientError::Archive(e) if e.is_invalid_archive() => 65,
            ClientError::Config(_) => 64,
            ClientError::Archive(_)
            | ClientError::UploadCut { .. }
            | ClientError::Decode { .. }
            | ClientError::Io { .. } => 70,
        }
    }
}

/// An item of an operation's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationEvent {
    /// A step started or finished, or a message.
    Progress(ProgressEvent),
    /// The operation is over; this is the last item.
    Finished(OperationRecord),
}

/// The event stream of an operation (see [`Client::operation_events`]).
pub type EventStream = Pin<Box<dyn Stream<Item = Result<OperationEvent, ClientError>> + Send>>;

/// How to follow a unit's watch stream (see [`Client::watch_unit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchOptions {
    /// The heartbeat interval to ask for (the manager's default, 15 s, when `None`). A
    /// connection silent for twice this plus 5 s is taken for dropped.
    pub heartbeat: Option<Duration>,
    /// Resume after this event id (of an earlier watch) instead of starting with a snapshot.
    pub last_event_id: Option<String>,
}

/// An item of a unit's watch (see [`UnitWatch::next`]); after each, [`UnitWatch::detail`] is
/// the unit's view.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnitEvent {
    /// The whole view arrived (the first item, and the one after a [`UnitEvent::Resync`]).
    Snapshot {
        /// The event id (the unit's revision).
        id: String,
    },
    /// A change arrived and was applied to the view.
    Delta {
        /// The event id (the unit's new revision).
        id: String,
        /// What changed.
        delta: Box<UnitDelta>,
    },
    /// The stream could not resume where it was (or a delta did not fit the view); a snapshot
    /// follows.
    Resync {
        /// Why.
        reason: String,
    },
    /// The unit was deleted; the last item.
    Deleted,
}

/// A unit followed through its watch stream (see [`Client::watch_unit`]).
#[derive(Debug)]
pub struct UnitWatch {
    client: Client,
    unit: UnitName,
    heartbeat: Option<Duration>,
    last_id: Option<String>,
    conn: Option<SseReader>,
    detail: Option<UnitDetail>,
    /// Connections lost or refused since the last event.
    failures: u32,
    done: bool,
}

/// How often a watch reconnects in a row without getting an event before it gives up.
const WATCH_RETRIES: u32 = 8;

impl UnitWatch {
    /// The unit's view after the items so far (`None` before the first snapshot).
    pub fn detail(&self) -> Option<&UnitDetail> {
        self.detail.as_ref()
    }

    /// The id of the last snapshot or delta applied (what a reconnection resumes after).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Opens the stream after the last event id. (The future borrows no part of `self`, so
    /// that a `UnitWatch` can be followed in a spawned task: its connection is `Send`, not
    /// `Sync`.)
    fn connect(&self) -> impl Future<Output = Result<SseReader>> + Send + 'static {
        let (client, unit, last_id, heartbeat) = (
            self.client.clone(),
            self.unit.clone(),
            self.last_id.clone(),
            self.heartbeat,
        );
        async move {
            client
                .unit_events(&unit, last_id.as_deref(), heartbeat)
                .await
        }
    }

    /// The next item; `None` after [`UnitEvent::Deleted`] or an error. A dropped connection
    /// is opened again (after a short, growing pause when that keeps failing), resuming after
    /// the last event id; errors are the manager's refusal (`error` event or answer, e.g. the
    /// caller lost access to the unit) or a manager unreachable for a while.
    pub async fn next(&mut self) -> Option<Result<UnitEvent, ClientError>> {
        let silence =
            self.heartbeat.unwrap_or(Duration::from_secs(15)) * 2 + Duration::from_secs(5);
        loop {
            if self.done {
                return None;
            }
            let Some(conn) = self.conn.as_mut() else {
                if self.failures > 0 {
                    let pause = Duration::from_millis(100 << self.failures.min(6));
                    tokio::time::sleep(pause.min(Duration::from_secs(5))).await;
                }
                match self.connect().await {
                    Ok(conn) => self.conn = Some(conn),
                    Err(e) => {
                        let retry = match &e {
                            ClientError::Unreachable { .. } => true,
                            other => other.kind() == Some(ErrorKind::Unavailable),
                        };
                        if retry && self.failures < WATCH_RETRIES {
                            self.failures += 1;
                            continue;
                        }
                        self.done = true;
                        if e.kind() == Some(ErrorKind::NotFound) && self.detail.is_some() {
                            // Deleted while the connection was down.
                            return Some(Ok(UnitEvent::Deleted));
                        }
                        return Some(Err(e));
                    }
                }
                continue;
            };
            let (name, data, id) = match tokio::time::timeout(silence, conn.next()).await {
                Ok(Some(Ok(event))) => event,
                // Ended, broke or fell silent: open it again after the last event.
                Err(_) | Ok(None) | Ok(Some(Err(_))) => {
                    self.conn = None;
                    self.failures += 1;
                    continue;
                }
            };
            let url = conn.url.clone();
            let decode = |e: serde_json::Error| ClientError::Decode {
                url: url.clone(),
                source: Box::new(e),
            };
            self.failures = 0;
            match name.as_str() {
                unit_sse::SNAPSHOT => match serde_json::from_str::<UnitDetail>(&data) {
                    Ok(detail) => {
                        self.detail = Some(detail);
                        self.last_id = id.clone();
                        return Some(Ok(UnitEvent::Snapshot {
                            id: id.unwrap_or_default(),
                        }));
                    }
                    Err(e) => return self.fail(decode(e)),
                },
                unit_sse::DELTA => {
                    let delta = match serde_json::from_str::<UnitDelta>(&data) {
                        Ok(d) => d,
                        Err(e) => return self.fail(decode(e)),
                    };
                    let applied = match self.detail.as_mut() {
                        Some(detail) => apply_delta(detail, &delta).map_err(|e| e.to_string()),
                        None => Err("a delta came before any snapshot".to_owned()),
                    };
                    match applied {
                        Ok(()) => {
                            self.last_id = id.clone();
                            return Some(Ok(UnitEvent::Delta {
                                id: id.unwrap_or_default(),
                                delta: Box::new(delta),
                            }));
                        }
                        Err(reason) => {
                            // Start over with a snapshot.
                            self.last_id = None;
                            self.conn = None;
                            return Some(Ok(UnitEvent::Resync { reason }));
                        }
                    }
                }
                unit_sse::RESYNC => {
                    let reason = serde_json::from_str::<WatchResync>(&data)
                        .map(|r| r.reason)
                        .unwrap_or_else(|_| "unknown".to_owned());
                    return Some(Ok(UnitEvent::Resync { reason }));
                }
                unit_sse::DELETED => {
                    if let Err(e) = serde_json::from_str::<UnitDeleted>(&data) {
                        return self.fail(decode(e));
                    }
                    self.done = true;
                    self.conn = None;
                    return Some(Ok(UnitEvent::Deleted));
                }
                unit_sse::ERROR => {
                    let err = match serde_json::from_str::<ErrorBody>(&data) {
                        Ok(body) => ClientError::Api {
                            status: body.error.http_status(),
                            error: body.error,
                        },
                        Err(e) => decode(e),
                    };
                    return self.fail(err);
                }
                // Heartbeats, and events of later managers.
                _ => {}
            }
        }
    }

    fn fail(&mut self, e: ClientError) -> Option<Result<UnitEvent, ClientError>> {
        self.done = true;
        self.conn = None;
        Some(Err(e))
    }
}

/// A `text/event-stream` body read event by event.
pub(crate) struct SseReader {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
    buf: Vec<u8>,
    parser: SseParser,
    url: String,
}

impl std::fmt::Debug for SseReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseReader").field("url", &self.url).finish()
    }
}

impl SseReader {
    /// Reads the body of `resp` (from `url`).
    pub(crate) fn new(resp: reqwest::Response, url: String) -> SseReader {
        SseReader {
            body: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
            parser: SseParser::default(),
            url,
        }
    }

    /// The next event as (name, data, last event id); `None` when the body ended.
    pub(crate) async fn next(
        &mut self,
    ) -> Option<reqwest::Result<(String, String, Option<String>)>> {
        loop {
            while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some((event, data)) = self.parser.line(line) {
                    let id = self.parser.last_id().map(str::to_owned);
                    return Some(Ok((event, data, id)));
                }
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Some(Err(e)),
                None => return None,
            }
        }
    }
}

/// A client of one manager.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// Installs the `ring` crypto provider for rustls once per process (needed by TLS clients and
/// servers); later calls do nothing.
pub fn install_crypto_provider() {
    // An error only means some provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

type Result<T, E = ClientError> = std::result::Result<T, E>;

impl Client {
    /// A client of the manager at `base_url` (e.g. `http://127.0.0.1:7460`), sending `token`
    /// as bearer token when given.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Client> {
        Client::build(base_url, token, None)
    }

    /// Like [`Client::new`], trusting only the PEM certificate(s) in `ca_pem` for TLS (for a
    /// manager with a self-signed certificate).
    pub fn with_ca_certificate(
        base_url: &str,
        token: Option<String>,
        ca_pem: &[u8],
    ) -> Result<Client> {
        Client::build(base_url, token, Some(ca_pem))
    }

    fn build(base_url: &str, token: Option<String>, ca_pem: Option<&[u8]>) -> Result<Client> {
        install_crypto_provider();
        let base = base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| ClientError::Config(format!("URL {base_url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::Config(format!(
                "URL {base_url:?}: use http:// or https://"
            )));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("vsm/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| ClientError::Config(format!("CA certificate: {e}")))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(Client { base, http, token })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The bearer token in use.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Replaces the bearer token.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    async fn send(&self, req: reqwest::RequestBuilder, path: &str) -> Result<reqwest::Response> {
        let url = self.url(path);
        let resp = req
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(error_from_response(resp, &url).await)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        let mut req = self.request(method, path);
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = self.send(req, path).await?;
        decode(resp, &self.url(path)).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.json(Method::GET, path, None).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.json(Method::POST, path, Some(to_json(body)?)).await
    }

    async fn put<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.json(Method::PUT, path, Some(to_json(body)?)).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.json(Method::DELETE, path, None).await
    }

    async fn tar<T: DeserializeOwned>(&self, path: &str, archive: Vec<u8>) -> Result<T> {
        let req = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(archive);
        let resp = self.send(req, path).await?;
        decode(resp, &self.url(path)).await
    }

    /// Posts the archive of `dir` to `path`, packed on a blocking thread as it is sent (a few
    /// chunks in flight), and decodes the answer.
    async fn upload_directory<T: DeserializeOwned>(&self, path: &str, dir: &Utf8Path) -> Result<T> {
        let dir = dir.to_owned();
        self.upload(path, move |out| archive::pack_to(&dir, out).map(drop))
            .await
    }

    /// Posts what `pack` writes to `path` as a streamed `application/x-tar` body. When `pack`
    /// fails the body ends with an error, so the manager sees an aborted upload (never a
    /// shorter archive), and that error is returned; when the manager answers before the end
    /// (413, refusal), its answer is returned.
    async fn upload<T, F>(&self, path: &str, pack: F) -> Result<T>
    where
        T: DeserializeOwned,
        F: FnOnce(&mut ChannelWriter) -> std::result::Result<(), ArchiveError> + Send + 'static,
    {
        let url = self.url(path);
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(STREAM_CHUNKS);
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counted, stopped) = (Arc::clone(&sent), Arc::clone(&stop));
        let packer = tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                tx,
                buf: Vec::with_capacity(STREAM_CHUNK),
                closed: false,
                sent: counted,
                stop: stopped,
            };
            let packed = pack(&mut out).and_then(|()| {
                out.send().map_err(|source| ArchiveError::Io {
                    action: "send the archive of",
                    path: "the definition directory".to_owned(),
                    source,
                })
            });
            if packed.is_err() && !out.closed {
                // Abort the request: without this the body would just end, and the manager
                // could take a shorter archive for the whole one.
                let _ = out
                    .tx
                    .blocking_send(Err(std::io::Error::other("packing failed")));
            }
            packed.map_err(|e| (e, out.closed))
        });
        let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        let req = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(body);
        match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                let answer = decode(resp, &url).await;
                // The manager answered after the whole body; a packing error would have
                // aborted it, but look anyway.
                if let Ok(Err((e, false))) = packer.await {
                    return Err(e.into());
                }
                answer
            }
            // The manager's refusal, possibly before the end of the upload: it is the news. The
            // packer stops at its next chunk, should the connection still take the body.
            Ok(resp) => {
                stop.store(true, Ordering::Relaxed);
                Err(error_from_response(resp, &url).await)
            }
            Err(source) => {
                // The body stream is gone with the failed request, so the packer ends soon.
                match tokio::time::timeout(Duration::from_secs(30), packer).await {
                    Ok(Ok(Err((e, false)))) => Err(e.into()),
                    _ if connection_cut(&source) => Err(ClientError::UploadCut {
                        url,
                        sent: sent.load(Ordering::Relaxed),
                        source,
                    }),
                    _ => Err(ClientError::Unreachable { url, source }),
                }
            }
        }
    }

    async fn bytes(&self, path: &str) -> Result<Vec<u8>> {
        let resp = self.send(self.request(Method::GET, path), path).await?;
        let url = self.url(path);
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| ClientError::Unreachable { url, source })?;
        Ok(bytes.to_vec())
    }

    /// Streams `path` into the file `out` (mode 0600, written beside it, then renamed); returns
    /// its size.
    async fn download(&self, path: &str, out: &Utf8Path) -> Result<u64> {
        use tokio::io::AsyncWriteExt;
        let resp = self.send(self.request(Method::GET, path), path).await?;
        let url = self.url(path);
        let tmp = out.with_file_name(format!(".{}.part", out.file_name().unwrap_or("download")));
        let io = |source| ClientError::Io {
            path: out.to_string(),
            source,
        };
        // Owner-only: backups and diagnostics hold password hashes and the whole state.
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .await
            .map_err(io)?;
        let mut stream = resp.bytes_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| ClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
            total += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        drop(file);
        tokio::fs::rename(&tmp, out).await.map_err(io)?;
        Ok(total)
    }

    // --- sessions ---------------------------------------------------------------------------

    /// `GET /api/v1/health` (no token needed).
    pub async fn health(&self) -> Result<Health> {
        self.get("/api/v1/health").await
    }

    /// `POST /api/v1/login`: exchanges account and password for a session token. Does not
    /// store the token: call [`Client::set_token`].
    pub async fn login(&self, user: &AccountName, password: &Password) -> Result<Session> {
        let body = LoginRequest {
            user: user.clone(),
            password: password.clone(),
        };
        self.post("/api/v1/login", &body).await
    }

    /// `POST /api/v1/logout`: ends the session of the current token.
    pub async fn logout(&self) -> Result<()> {
        let _: Done = self.post("/api/v1/logout", &serde_json::json!({})).await?;
        Ok(())
    }

    /// `GET /api/v1/whoami`.
    pub async fn whoami(&self) -> Result<WhoAmI> {
        self.get("/api/v1/whoami").await
    }

    // --- hosts ------------------------------------------------------------------------------

    /// `GET /api/v1/hosts` (administrator).
    pub async fn list_hosts(&self) -> Result<Vec<HostInfo>> {
        self.get("/api/v1/hosts").await
    }

    /// `POST /api/v1/hosts` (administrator).
    pub async fn add_host(&self, request: &AddHost) -> Result<HostInfo> {
        self.post("/api/v1/hosts", request).await
    }

    /// `GET /api/v1/hosts/{name}` (administrator).
    pub async fn show_host(&self, name: &vsm_core::HostName) -> Result<HostInfo> {
        self.get(&format!("/api/v1/hosts/{name}")).await
    }

    /// `DELETE /api/v1/hosts/{name}` (administrator).
    pub async fn remove_host(&self, name: &vsm_core::HostName) -> Result<()> {
        let _: Done = self.delete(&format!("/api/v1/hosts/{name}")).await?;
        Ok(())
    }

    /// `POST /api/v1/hosts/{name}/drain` (administrator): answers when the host is empty or
    /// at the drain's time-out.
    pub async fn drain_host(
        &self,
        name: &vsm_core::HostName,
        request: &DrainRequest,
    ) -> Result<DrainReport> {
        self.post(&format!("/api/v1/hosts/{name}/drain"), request)
            .await
    }

    /// `POST /api/v1/hosts/rebalance` (administrator).
    pub async fn rebalance_hosts(&self, request: &RebalanceRequest) -> Result<RebalanceReport> {
        self.post("/api/v1/hosts/rebalance", request).await
    }

    /// `POST /api/v1/hosts/{name}/confirm-down` (administrator).
    pub async fn confirm_host_down(&self, name: &vsm_core::HostName) -> Result<ConfirmDownReport> {
        self.post(
            &format!("/api/v1/hosts/{name}/confirm-down"),
            &serde_json::json!({}),
        )
        .await
    }

    /// `POST /api/v1/hosts/{name}/undrain` (administrator).
    pub async fn undrain_host(&self, name: &vsm_core::HostName) -> Result<HostInfo> {
        self.post(
            &format!("/api/v1/hosts/{name}/undrain"),
            &serde_json::json!({}),
        )
        .await
    }

    // --- accounts ---------------------------------------------------------------------------

    /// `GET /api/v1/accounts` (administrator).
    pub async fn list_accounts(&self) -> Result<Vec<AccountInfo>> {
        self.get("/api/v1/accounts").await
    }

    /// `POST /api/v1/accounts` (administrator).
    pub async fn create_account(&self, request: &AddAccount) -> Result<AccountInfo> {
        self.post("/api/v1/accounts", request).await
    }

    /// `DELETE /api/v1/accounts/{name}` (administrator; refused while it owns units).
    pub async fn delete_account(&self, name: &AccountName) -> Result<()> {
        let _: Done = self.delete(&format!("/api/v1/accounts/{name}")).await?;
        Ok(())
    }

    /// `PUT /api/v1/accounts/{name}/password` (administrator, or the account itself).
    pub async fn set_password(&self, name: &AccountName, password: &Password) -> Result<()> {
        let body = PasswordRequest {
            password: password.clone(),
        };
        let _: Done = self
            .put(&format!("/api/v1/accounts/{name}/password"), &body)
            .await?;
        Ok(())
    }

    // --- templates --------------------------------------------------------------------------

    /// `GET /api/v1/templates`.
    pub async fn list_templates(&self) -> Result<Vec<TemplateInfo>> {
        self.get("/api/v1/templates").await
    }

    /// `POST /api/v1/templates`.
    pub async fn register_template(&self, request: &RegisterTemplate) -> Result<TemplateInfo> {
        self.post("/api/v1/templates", request).await
    }

    /// `GET /api/v1/templates/{name}`.
    pub async fn show_template(&self, name: &TemplateName) -> Result<TemplateInfo> {
        self.get(&format!("/api/v1/templates/{name}")).await
    }

    /// `DELETE /api/v1/templates/{name}`.
    pub async fn delete_template(&self, name: &TemplateName) -> Result<()> {
        let _: Done = self.delete(&format!("/api/v1/templates/{name}")).await?;
        Ok(())
    }

    /// `POST /api/v1/templates/{name}/generations`: a new generation.
    pub async fn add_template_generation(
        &self,
        name: &TemplateName,
        source: &str,
    ) -> Result<TemplateInfo> {
        let body = GenerationRequest {
            source: source.to_owned(),
        };
        self.post(&format!("/api/v1/templates/{name}/generations"), &body)
            .await
    }

    // --- units ------------------------------------------------------------------------------

    /// `GET /api/v1/units[?all=true]`.
    pub async fn list_units(&self, all: bool) -> Result<Vec<UnitSummary>> {
        if all {
            self.get("/api/v1/units?all=true").await
        } else {
            self.get("/api/v1/units").await
        }
    }

    /// `POST /api/v1/units`.
    pub async fn create_unit(&self, request: &CreateUnitFromFile) -> Result<UnitDetail> {
        self.post("/api/v1/units", request).await
    }

    /// `GET /api/v1/units/{unit}`.
    pub async fn show_unit(&self, unit: &UnitName) -> Result<UnitDetail> {
        self.get(&format!("/api/v1/units/{unit}")).await
    }

    /// `DELETE /api/v1/units/{unit}[?force=true]`: starts the deletion.
    pub async fn delete_unit(
        &self,
        unit: &UnitName,
        request: &DeleteUnitRequest,
    ) -> Result<OperationRecord> {
        let mut path = format!("/api/v1/units/{unit}?force={}", request.force);
        if let Some(w) = request.wait_secs {
            path.push_str(&format!("&wait_secs={w}"));
        }
        self.delete(&path).await
    }

    /// `PUT /api/v1/units/{unit}/owner` (administrator).
    pub async fn chown_unit(&self, unit: &UnitName, to: &AccountName) -> Result<()> {
        let body = Chown { to: to.clone() };
        let _: Done = self
            .put(&format!("/api/v1/units/{unit}/owner"), &body)
            .await?;
        Ok(())
    }

    /// `POST /api/v1/units/{unit}/versions` with a tar archive of a definition directory.
    pub async fn import_archive(&self, unit: &UnitName, archive: Vec<u8>) -> Result<ImportResult> {
        self.tar(&format!("/api/v1/units/{unit}/versions"), archive)
            .await
    }

    /// Imports the definition directory `dir`: refuses it before sending anything when it
    /// exceeds the limits the manager announces ([`Client::check_directory`]), then streams its
    /// archive to the manager with bounded memory (see [`Client::import_directory_unchecked`]).
    pub async fn import_directory(&self, unit: &UnitName, dir: &Utf8Path) -> Result<ImportResult> {
        self.check_directory(dir).await?;
        self.import_directory_unchecked(unit, dir).await
    }

    /// Streams the archive of `dir` to `POST /api/v1/units/{unit}/versions` as it is packed,
    /// without asking for the manager's limits first (the manager refuses what exceeds them,
    /// with 413 for the upload size). A file that cannot be read or changes while it is packed
    /// fails with [`ClientError::Archive`] naming it, and the manager receives an aborted
    /// upload, never a shorter archive.
    pub async fn import_directory_unchecked(
        &self,
        unit: &UnitName,
        dir: &Utf8Path,
    ) -> Result<ImportResult> {
        self.upload_directory(&format!("/api/v1/units/{unit}/versions"), dir)
            .await
    }

    /// The limits the manager announces for uploaded definition directories (`limits` of
    /// `GET /api/v1/health`); `None` from a manager that does not announce them.
    pub async fn upload_limits(&self) -> Result<Option<UploadLimits>> {
        match self.health().await {
            Ok(health) => Ok(health.limits),
            Err(e @ ClientError::Unreachable { .. }) => Err(e),
            // Not a health answer this client knows: as if no limits were announced.
            Err(_) => Ok(None),
        }
    }

    /// Walks `dir` (sizes only, no content read) and refuses it with [`ArchiveError::OverLimit`]
    /// (exit code 65), naming the file or directory and the limit, when it exceeds a limit the
    /// manager announces. Returns what it measured, or `None` when the manager announces no
    /// limits (then only its answer to the upload tells).
    pub async fn check_directory(&self, dir: &Utf8Path) -> Result<Option<DirMeasure>> {
        let Some(limits) = self.upload_limits().await? else {
            return Ok(None);
        };
        let dir = dir.to_owned();
        let measured = tokio::task::spawn_blocking(move || archive::check_limits(&dir, &limits))
            .await
            .map_err(|e| ClientError::Config(format!("measuring task failed: {e}")))??;
        Ok(Some(measured))
    }

    /// `GET /api/v1/units/{unit}/versions`.
    pub async fn list_versions(&self, unit: &UnitName) -> Result<Vec<VersionInfo>> {
        self.get(&format!("/api/v1/units/{unit}/versions")).await
    }

    /// `GET /api/v1/units/{unit}/versions/{version}/archive` (`None`: the current version),
    /// streamed: `consume` runs on a blocking thread and reads the archive as it arrives, with
    /// bounded memory. Its result is returned, unless the transfer broke, which is
    /// [`ClientError::Unreachable`] (`consume` then saw a read error). When the manager refuses
    /// (unknown unit or version), `consume` is not called.
    pub async fn export_with<T, F>(
        &self,
        unit: &UnitName,
        version: Option<DefinitionVersion>,
        consume: F,
    ) -> Result<T>
    where
        F: FnOnce(&mut dyn Read) -> T + Send + 'static,
        T: Send + 'static,
    {
        let v = version.map_or_else(|| "current".to_owned(), |v| v.0.to_string());
        let path = format!("/api/v1/units/{unit}/versions/{v}/archive");
        let resp = self.send(self.request(Method::GET, &path), &path).await?;
        let url = self.url(&path);
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(STREAM_CHUNKS);
        let broke: Arc<Mutex<Option<reqwest::Error>>> = Arc::default();
        let pump = {
            let broke = Arc::clone(&broke);
            tokio::spawn(async move {
                let mut body = resp.bytes_stream();
                while let Some(chunk) = body.next().await {
                    let item = match chunk {
                        Ok(bytes) => Ok(bytes),
                        Err(e) => {
                            let text = e.to_string();
                            if let Ok(mut slot) = broke.lock() {
                                *slot = Some(e);
                            }
                            Err(std::io::Error::other(format!("the download broke: {text}")))
                        }
                    };
                    let last = item.is_err();
                    // A closed channel: the reader is done with the archive.
                    if tx.send(item).await.is_err() || last {
                        return;
                    }
                }
            })
        };
        let consumed = tokio::task::spawn_blocking(move || {
            let mut reader = ChannelReader {
                rx,
                current: Bytes::new(),
            };
            consume(&mut reader)
        })
        .await;
        pump.abort();
        let consumed =
            consumed.map_err(|e| ClientError::Config(format!("export task failed: {e}")))?;
        let broke = broke.lock().ok().and_then(|mut slot| slot.take());
        match broke {
            Some(source) => Err(ClientError::Unreachable { url, source }),
            None => Ok(consumed),
        }
    }

    /// Exports a version into `dir` (created if missing; must be empty), streamed, refusing
    /// anything unsafe in the archive. A directory this call created is removed again when the
    /// export fails.
    pub async fn export_to_dir(
        &self,
        unit: &UnitName,
        version: Option<DefinitionVersion>,
        dir: &Utf8Path,
    ) -> Result<UnpackStats> {
        let dir = dir.to_owned();
        self.export_with(unit, version, move |reader| {
            let created = !dir.exists();
            std::fs::create_dir_all(&dir).map_err(|source| ClientError::Io {
                path: dir.to_string(),
                source,
            })?;
            archive::unpack(reader, &dir, UnpackLimits::default()).map_err(|e| {
                if created {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                ClientError::from(e)
            })
        })
        .await?
    }

    /// `POST /api/v1/units/{unit}/diff`: what importing `dir` would change. Checks and streams
    /// `dir` as [`Client::import_directory`] does.
    pub async fn diff_directory(&self, unit: &UnitName, dir: &Utf8Path) -> Result<DefinitionDiff> {
        self.check_directory(dir).await?;
        self.upload_directory(&format!("/api/v1/units/{unit}/diff"), dir)
            .await
    }

    /// `POST /api/v1/units/{unit}/diff` with a tar archive.
    pub async fn diff_archive(&self, unit: &UnitName, archive: Vec<u8>) -> Result<DefinitionDiff> {
        self.tar(&format!("/api/v1/units/{unit}/diff"), archive)
            .await
    }

    /// `POST /api/v1/units/{unit}/apply`: starts a batch apply / roll-out.
    pub async fn apply(&self, unit: &UnitName, request: &ApplyRequest) -> Result<OperationRecord> {
        self.post(&format!("/api/v1/units/{unit}/apply"), request)
            .await
    }

    /// `POST /api/v1/units/{unit}/rollback`.
    pub async fn rollback(&self, unit: &UnitName, options: OpOptions) -> Result<OperationRecord> {
        self.post(&format!("/api/v1/units/{unit}/rollback"), &options)
            .await
    }

    /// `POST /api/v1/units/{unit}/start`.
    pub async fn start_unit(&self, unit: &UnitName, options: OpOptions) -> Result<OperationRecord> {
        self.post(&format!("/api/v1/units/{unit}/start"), &options)
            .await
    }

    /// `POST /api/v1/units/{unit}/stop`.
    pub async fn stop_unit(&self, unit: &UnitName, options: OpOptions) -> Result<OperationRecord> {
        self.post(&format!("/api/v1/units/{unit}/stop"), &options)
            .await
    }

    /// `POST /api/v1/units/{unit}/scale`.
    pub async fn scale(&self, unit: &UnitName, request: &ScaleRequest) -> Result<OperationRecord> {
        self.post(&format!("/api/v1/units/{unit}/scale"), request)
            .await
    }

    /// `POST /api/v1/units/{unit}/upgrade`.
    pub async fn upgrade(
        &self,
        unit: &UnitName,
        request: &UpgradeRequest,
    ) -> Result<OperationRecord> {
        self.post(&format!("/api/v1/units/{unit}/upgrade"), request)
            .await
    }

    /// `POST /api/v1/units/{unit}/groups/{group}/start`.
    pub async fn start_group(
        &self,
        unit: &UnitName,
        group: &GroupName,
        options: OpOptions,
    ) -> Result<OperationRecord> {
        self.post(
            &format!("/api/v1/units/{unit}/groups/{group}/start"),
            &options,
        )
        .await
    }

    /// `POST /api/v1/units/{unit}/groups/{group}/stop`.
    pub async fn stop_group(
        &self,
        unit: &UnitName,
        group: &GroupName,
        options: OpOptions,
    ) -> Result<OperationRecord> {
        self.post(
            &format!("/api/v1/units/{unit}/groups/{group}/stop"),
            &options,
        )
        .await
    }

    /// `POST /api/v1/units/{unit}/groups/{group}/attach`: adds an existing machine.
    pub async fn attach(
        &self,
        unit: &UnitName,
        group: &GroupName,
        request: &AttachRequest,
    ) -> Result<OperationRecord> {
        self.post(
            &format!("/api/v1/units/{unit}/groups/{group}/attach"),
            request,
        )
        .await
    }

    /// `DELETE /api/v1/units/{unit}/groups/{group}/servers/{server}`: detaches a machine.
    pub async fn detach(
        &self,
        unit: &UnitName,
        group: &GroupName,
        server: &ServerName,
        options: OpOptions,
    ) -> Result<OperationRecord> {
        let mut path = format!("/api/v1/units/{unit}/groups/{group}/servers/{server}");
        if let Some(w) = options.wait_secs {
            path.push_str(&format!("?wait_secs={w}"));
        }
        self.delete(&path).await
    }

    /// `GET /api/v1/units/{unit}/servers/{server}/logs[?tail=N]`.
    pub async fn server_logs(
        &self,
        unit: &UnitName,
        server: &ServerName,
        tail: Option<usize>,
    ) -> Result<ServerLogs> {
        let mut path = format!("/api/v1/units/{unit}/servers/{server}/logs");
        if let Some(n) = tail {
            path.push_str(&format!("?tail={n}"));
        }
        self.get(&path).await
    }

    /// `POST /api/v1/units/{unit}/servers/{server}/recover`.
    pub async fn recover_server(
        &self,
        unit: &UnitName,
        server: &ServerName,
        options: OpOptions,
    ) -> Result<OperationRecord> {
        self.post(
            &format!("/api/v1/units/{unit}/servers/{server}/recover"),
            &options,
        )
        .await
    }

    /// `PUT /api/v1/units/{unit}/servers/{server}/mark`.
    pub async fn mark_server(
        &self,
        unit: &UnitName,
        server: &ServerName,
        comment: &str,
    ) -> Result<()> {
        let body = MarkRequest {
            comment: comment.to_owned(),
        };
        let _: Done = self
            .put(
                &format!("/api/v1/units/{unit}/servers/{server}/mark"),
                &body,
            )
            .await?;
        Ok(())
    }

    /// `DELETE /api/v1/units/{unit}/servers/{server}/mark`.
    pub async fn unmark_server(&self, unit: &UnitName, server: &ServerName) -> Result<()> {
        let _: Done = self
            .delete(&format!("/api/v1/units/{unit}/servers/{server}/mark"))
            .await?;
        Ok(())
    }

    // --- operations -------------------------------------------------------------------------

    /// `GET /api/v1/operations[?unit=NAME]`, newest first.
    pub async fn list_operations(&self, unit: Option<&UnitName>) -> Result<Vec<OperationSummary>> {
        match unit {
            Some(u) => self.get(&format!("/api/v1/operations?unit={u}")).await,
            None => self.get("/api/v1/operations").await,
        }
    }

    /// `GET /api/v1/operations/{id}`.
    pub async fn operation(&self, id: OperationId) -> Result<OperationRecord> {
        self.get(&format!("/api/v1/operations/{id}")).await
    }

    /// `POST /api/v1/operations/{id}/cancel`: asks the operation to stop; it ends `cancelled`.
    pub async fn cancel_operation(&self, id: OperationId) -> Result<OperationRecord> {
        self.post(
            &format!("/api/v1/operations/{id}/cancel"),
            &serde_json::json!({}),
        )
        .await
    }

    /// `GET /api/v1/operations/{id}/wait?timeout_secs=N`: the record once finished or after
    /// the time-out (check [`crate::OperationState::is_finished`]).
    pub async fn wait_operation(
        &self,
        id: OperationId,
        timeout_secs: u64,
    ) -> Result<OperationRecord> {
        self.get(&format!(
            "/api/v1/operations/{id}/wait?timeout_secs={timeout_secs}"
        ))
        .await
    }

    /// Long-polls until the operation finishes or `timeout` passes; returns the last record
    /// (check its state: `running` means the time-out passed first, CLI exit 75).
    pub async fn wait_finished(
        &self,
        id: OperationId,
        timeout: Duration,
    ) -> Result<OperationRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let secs = left.as_secs().clamp(0, 60);
            let record = self.wait_operation(id, secs).await?;
            if record.summary.state.is_finished() || secs == 0 {
                return Ok(record);
            }
        }
    }

    /// `GET /api/v1/operations/{id}/events`: the operation's progress from now on, as a stream
    /// that ends with [`OperationEvent::Finished`] (at once for a finished operation). Events
    /// published before the subscription are not replayed: read the record for those. When the
    /// manager shuts down the stream ends without `Finished` (the operation goes on, or is
    /// journaled as interrupted): follow up with [`Client::operation`].
    pub async fn operation_events(&self, id: OperationId) -> Result<EventStream> {
        let path = format!("/api/v1/operations/{id}/events");
        let req = self
            .request(Method::GET, &path)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let resp = self.send(req, &path).await?;
        let url = self.url(&path);
        Ok(Box::pin(sse_events(resp, url)))
    }

    /// `GET /api/v1/units/{unit}/events`, followed: the unit's view ([`UnitWatch::detail`]) kept
    /// up to date from its watch stream, reconnecting with `Last-Event-ID` when the connection
    /// drops. The first connection is made here, so that an unknown unit or a refusal is this
    /// call's error.
    pub async fn watch_unit(&self, unit: &UnitName, options: WatchOptions) -> Result<UnitWatch> {
        let mut watch = UnitWatch {
            client: self.clone(),
            unit: unit.clone(),
            heartbeat: options.heartbeat,
            last_id: options.last_event_id,
            conn: None,
            detail: None,
            failures: 0,
            done: false,
        };
        watch.conn = Some(watch.connect().await?);
        Ok(watch)
    }

    /// One connection to a unit's watch stream, resuming after `last_id` when given.
    async fn unit_events(
        &self,
        unit: &UnitName,
        last_id: Option<&str>,
        heartbeat: Option<Duration>,
    ) -> Result<SseReader> {
        let mut path = format!("/api/v1/units/{unit}/events");
        if let Some(h) = heartbeat {
            path.push_str(&format!("?heartbeat={}ms", h.as_millis()));
        }
        let mut req = self
            .request(Method::GET, &path)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let resp = self.send(req, &path).await?;
        Ok(SseReader::new(resp, self.url(&path)))
    }

    // --- administration ---------------------------------------------------------------------

    /// `GET /api/v1/admin/backup` into the file `out` (administrator); returns its size.
    pub async fn backup(&self, out: &Utf8Path) -> Result<u64> {
        self.download("/api/v1/admin/backup", out).await
    }

    /// `GET /api/v1/admin/diagnostics` into the file `out` (administrator); returns its size.
    pub async fn diagnostics(&self, out: &Utf8Path) -> Result<u64> {
        self.download("/api/v1/admin/diagnostics", out).await
    }

    /// `GET /api/v1/admin/log-config` (administrator).
    pub async fn log_config(&self) -> Result<LogSettings> {
        self.get("/api/v1/admin/log-config").await
    }

    /// `PUT /api/v1/admin/log-config` (administrator): applied without restart.
    pub async fn set_log_config(&self, change: &LogSettingsChange) -> Result<LogSettings> {
        self.put("/api/v1/admin/log-config", change).await
    }

    /// `GET /api/v1/jp1/pfm`: load rows of every server the caller may see.
    pub async fn pfm_rows(&self) -> Result<Vec<PfmRow>> {
        self.get("/api/v1/jp1/pfm").await
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String> {
        let bytes = self.bytes("/metrics").await?;
        String::from_utf8(bytes).map_err(|e| ClientError::Decode {
            url: self.url("/metrics"),
            source: Box::new(e),
        })
    }
}

fn to_json(body: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| ClientError::Config(format!("request body: {e}")))
}

/// The size of the chunks a definition archive is streamed in, and how many may wait in the
/// channel between the packer (or unpacker) and the HTTP connection: the memory a transfer
/// takes, whatever the size of the directory.
const STREAM_CHUNK: usize = 64 * 1024;
const STREAM_CHUNKS: usize = 4;

/// The writing end of a streamed upload: collects [`STREAM_CHUNK`] bytes, then hands them to
/// the HTTP body, blocking while the channel is full. Blocking code.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    /// The receiving end is gone: the request ended (answered or broken).
    closed: bool,
    /// The bytes handed on so far.
    sent: Arc<AtomicU64>,
    /// Set when the request is over (the manager answered): the rest is not wanted.
    stop: Arc<AtomicBool>,
}

/// Whether a request failed because the other end closed or reset the connection.
fn connection_cut(e: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            )
        {
            return true;
        }
        cause = c.source();
    }
    false
}

impl ChannelWriter {
    /// Hands the collected bytes on.
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let ended = || {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the upload ended before the archive",
            )
        };
        if self.stop.load(Ordering::Relaxed) {
            self.closed = true;
            return Err(ended());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_CHUNK));
        self.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            self.closed = true;
            ended()
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() >= STREAM_CHUNK {
            self.send()?;
        }
        let n = data.len().min(STREAM_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The reading end of a streamed download: the chunks the connection received, in order.
/// Blocking code.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response, url: &str) -> Result<T> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|source| ClientError::Unreachable {
            url: url.to_owned(),
            source,
        })?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
        url: url.to_owned(),
        source: Box::new(e),
    })
}

async fn error_from_response(resp: reqwest::Response, url: &str) -> ClientError {
    let status = resp.status();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(source) => {
            return ClientError::Unreachable {
                url: url.to_owned(),
                source,
            };
        }
    };
    let error = match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => body.error,
        Err(_) => {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim();
            let reason = status.canonical_reason().unwrap_or("error");
            let message = if text.is_empty() {
                format!("the manager answered {} {reason}", status.as_u16())
            } else {
                format!("the manager answered {} {reason}: {text}", status.as_u16())
            };
            ApiError::new(kind_from_status(status.as_u16()), message)
        }
    };
    let status = if status == StatusCode::OK {
        500
    } else {
        status.as_u16()
    };
    ClientError::Api {
        status,
        error: error.with_status(status),
    }
}

/// Parses a `text/event-stream` body into operation events.
fn sse_events(
    resp: reqwest::Response,
    url: String,
) -> impl Stream<Item = Result<OperationEvent, ClientError>> + Send {
    struct State {
        body: Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
        buf: Vec<u8>,
        parser: SseParser,
        url: String,
        done: bool,
    }
    let state = State {
        body: Box::pin(resp.bytes_stream()),
        buf: Vec::new(),
        parser: SseParser::default(),
        url,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            // Complete lines first.
            while let Some(pos) = st.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = st.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some((event, data)) = st.parser.line(line) {
                    match decode_event(&event, &data, &st.url) {
                        Ok(Some(ev)) => {
                            if matches!(ev, OperationEvent::Finished(_)) {
                                st.done = true;
                            }
                            return Some((Ok(ev), st));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            st.done = true;
                            return Some((Err(e), st));
                        }
                    }
                }
            }
            match st.body.next().await {
                Some(Ok(chunk)) => st.buf.extend_from_slice(&chunk),
                Some(Err(source)) => {
                    st.done = true;
                    let url = st.url.clone();
                    return Some((Err(ClientError::Unreachable { url, source }), st));
                }
                None => return None,
            }
        }
    })
}

fn decode_event(event: &str, data: &str, url: &str) -> Result<Option<OperationEvent>> {
    let err = |e: serde_json::Error| ClientError::Decode {
        url: url.to_owned(),
        source: Box::new(e),
    };
    match event {
        sse::PROGRESS => Ok(Some(OperationEvent::Progress(
            serde_json::from_str(data).map_err(err)?,
        ))),
        sse::FINISHED => Ok(Some(OperationEvent::Finished(
            serde_json::from_str(data).map_err(err)?,
        ))),
        sse::ERROR => {
            let body: ErrorBody = serde_json::from_str(data).map_err(err)?;
            let status = body.error.http_status();
            Err(ClientError::Api {
                status,
                error: body.error,
            })
        }
        _ => Ok(None),
    }
}

/// A minimal server-sent-events line parser (event name + data lines, dispatched on a blank line).
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
}

impl SseParser {
    /// The id of the last event that named one (`id:`).
    pub(crate) fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Feeds one line (without its end); returns `(event, data)` when an event is complete.
    pub(crate) fn line(&mut self, line: &str) -> Option<(String, String)> {
        if line.is_empty() {
            if !self.has_data {
                self.event.clear();
                return None;
            }
            let event = if self.event.is_empty() {
                "message".to_owned()
            } else {
                std::mem::take(&mut self.event)
            };
            let data = std::mem::take(&mut self.data);
            self.has_data = false;
            return Some((event, data));
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            // The last event id stays until another `id` line replaces it (as in browsers).
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_dispatches_on_blank_lines() {
        let mut p = SseParser::default();
        let text = ": keep-alive\n\nevent: progress\ndata: {\"a\":\ndata: 1}\n\nevent: finished\ndata: x\n\n";
        let got: Vec<_> = text.lines().filter_map(|l| p.line(l)).collect();
        assert_eq!(
            got,
            vec![
                ("progress".to_owned(), "{\"a\":\n1}".to_owned()),
                ("finished".to_owned(), "x".to_owned())
            ]
        );
    }

    /// A packing error in the middle of an upload aborts it: the manager never takes the part
    /// sent so far for a whole (shorter) archive, and the error names the file.
    #[tokio::test]
    async fn a_packing_failure_aborts_the_upload_and_names_the_file() {
        let env = super::super::tests::env().await;
        let (_root, bob, _carol) = env.people().await;
        let unit = env.shop(&bob).await;
        let v2 = env.definitions("defs-v2", "v2");
        let whole = archive::pack(&v2).expect("pack");
        // Every entry, without the end-of-archive blocks: a valid archive in itself.
        let entries = whole[..whole.len() - 1024].to_vec();
        let path = format!("/api/v1/units/{unit}/versions");
        let sent = entries.clone();
        let err = bob
            .upload::<ImportResult, _>(&path, move |out| {
                out.write_all(&sent).expect("buffered");
                Err(ArchiveError::Io {
                    action: "read",
                    path: "defs-v2/web/late.bin".to_owned(),
                    source: std::io::Error::other("disk on fire"),
                })
            })
            .await
            .expect_err("aborted");
        match &err {
            ClientError::Archive(ArchiveError::Io { path, .. }) => {
                assert_eq!(path, "defs-v2/web/late.bin");
            }
            other => panic!("expected the packing error, got {other:?}"),
        }
        assert_eq!(err.exit_code(), 70);
        assert_eq!(bob.list_versions(&unit).await.expect("versions").len(), 1);
        // Sent whole, those bytes are an archive the manager takes: only the abort kept them
        // out.
        let imported = bob.import_archive(&unit, entries).await.expect("import");
        assert!(imported.created);
    }

    #[test]
    fn bad_urls_are_configuration_errors() {
        let err = Client::new("ftp://x", None).expect_err("refused");
        assert_eq!(err.exit_code(), 64);
        assert!(Client::new("http://127.0.0.1:7460/", None).is_ok());
    }
}
