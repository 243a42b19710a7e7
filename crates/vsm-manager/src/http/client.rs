//! The typed async client of the HTTP API: one method per route of `/work/notes/API.md`.
//!
//! Used by the `vsm` command line and the end-to-end tests. It owns transport concerns only
//! (URLs, bearer token, TLS roots, decoding, the event stream); it never decides exit codes
//! beyond offering [`ClientError::exit_code`], and it never retries a request on its own.

use std::pin::Pin;
use std::time::Duration;

use camino::Utf8Path;
use futures::{Stream, StreamExt};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use vsm_core::{
    AccountName, DefinitionVersion, GroupName, OperationId, ServerName, TemplateName, UnitName,
};

use super::api::{Done, GenerationRequest, Health, LoginRequest, PasswordRequest, WhoAmI, sse};
use super::archive::{self, ArchiveError, UnpackLimits};
use super::error::{ApiError, ErrorBody, ErrorKind, kind_from_status};
use crate::api::{
    AccountInfo, AddAccount, AddHost, ApplyRequest, AttachRequest, Chown, ConfirmDownReport,
    CreateUnitFromFile, DefinitionDiff, DeleteUnitRequest, DrainReport, DrainRequest, HostInfo,
    ImportResult, LogSettings, LogSettingsChange, MarkRequest, OpOptions, OperationRecord,
    OperationSummary, Password, PfmRow, ProgressEvent, RebalanceReport, RebalanceRequest,
    RegisterTemplate, ScaleRequest, ServerLogs, Session, TemplateInfo, UnitDetail, UnitSummary,
    UpgradeRequest, VersionInfo,
};

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
            ClientError::Archive(_) | ClientError::Decode { .. } | ClientError::Io { .. } => 70,
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

    /// Packs `dir` and imports it (see [`Client::import_archive`]).
    pub async fn import_directory(&self, unit: &UnitName, dir: &Utf8Path) -> Result<ImportResult> {
        let archive = pack_blocking(dir).await?;
        self.import_archive(unit, archive).await
    }

    /// `GET /api/v1/units/{unit}/versions`.
    pub async fn list_versions(&self, unit: &UnitName) -> Result<Vec<VersionInfo>> {
        self.get(&format!("/api/v1/units/{unit}/versions")).await
    }

    /// `GET /api/v1/units/{unit}/versions/{version}/archive` (`None`: the current version).
    pub async fn export_archive(
        &self,
        unit: &UnitName,
        version: Option<DefinitionVersion>,
    ) -> Result<Vec<u8>> {
        let v = version.map_or_else(|| "current".to_owned(), |v| v.0.to_string());
        self.bytes(&format!("/api/v1/units/{unit}/versions/{v}/archive"))
            .await
    }

    /// Exports a version into `dir` (created if missing; must be empty), refusing anything
    /// unsafe in the archive.
    pub async fn export_directory(
        &self,
        unit: &UnitName,
        version: Option<DefinitionVersion>,
        dir: &Utf8Path,
    ) -> Result<()> {
        let archive = self.export_archive(unit, version).await?;
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|source| ClientError::Io {
                path: dir.to_string(),
                source,
            })?;
            archive::unpack(&archive[..], &dir, UnpackLimits::default())?;
            Ok(())
        })
        .await
        .map_err(|e| ClientError::Config(format!("export task failed: {e}")))?
    }

    /// `POST /api/v1/units/{unit}/diff`: what importing `dir` would change.
    pub async fn diff_directory(&self, unit: &UnitName, dir: &Utf8Path) -> Result<DefinitionDiff> {
        let archive = pack_blocking(dir).await?;
        self.diff_archive(unit, archive).await
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

async fn pack_blocking(dir: &Utf8Path) -> Result<Vec<u8>> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || archive::pack(&dir))
        .await
        .map_err(|e| ClientError::Config(format!("packing task failed: {e}")))?
        .map_err(ClientError::from)
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
}

impl SseParser {
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

    #[test]
    fn bad_urls_are_configuration_errors() {
        let err = Client::new("ftp://x", None).expect_err("refused");
        assert_eq!(err.exit_code(), 64);
        assert!(Client::new("http://127.0.0.1:7460/", None).is_ok());
    }
}
