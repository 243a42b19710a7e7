//! The HTTP side of the client: sends requests to the manager's API (notes/API.md) and turns
//! every answer that is not a success into a classified [`Failure`].
//!
//! Bodies are handled as JSON values: the CLI renders and passes through what the manager
//! answers, so its `--output json` is the API's own representation. This module knows routes
//! only as strings given by the command modules; it never prints.

use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::exit::{Exit, Failure};

/// A connection to one manager.
pub struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    /// The typed client of the same manager, for the operation event stream (SSE).
    typed: Option<vsm_manager::http::Client>,
}

/// Percent-encodes one path segment (names are validated by the manager; this keeps the URL
/// well-formed whatever the user typed).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Api {
    /// A client of the manager at `url`, authenticating with `token` when given.
    pub fn new(url: &str, ca_cert: Option<&[u8]>, token: Option<String>) -> Result<Api> {
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(
                Failure::new(Exit::Usage, format!("`{url}` is not a manager URL"))
                    .hint("give it as http://HOST:PORT or https://HOST:PORT (--url or VSM_URL)")
                    .into(),
            );
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("vsm/", env!("CARGO_PKG_VERSION")))
            .no_proxy();
        if let Some(pem) = ca_cert {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .context("the CA certificate file is not PEM")?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .context("could not set up the HTTP client")?;
        let typed = match ca_cert {
            Some(pem) => vsm_manager::http::Client::with_ca_certificate(url, token.clone(), pem),
            None => vsm_manager::http::Client::new(url, token.clone()),
        }
        .ok();
        Ok(Api {
            base: url.to_owned(),
            http,
            token,
            typed,
        })
    }

    /// The typed client of the same manager (for the operation event stream), when it could
    /// be set up.
    pub fn typed(&self) -> Option<&vsm_manager::http::Client> {
        self.typed.as_ref()
    }

    /// The manager's URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = rb.send().await.map_err(|e| self.transport_error(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        Err(error_from_body(status, &body).into())
    }

    fn transport_error(&self, e: reqwest::Error) -> anyhow::Error {
        let exit = if e.is_timeout() && !e.is_connect() {
            Exit::Failed
        } else {
            Exit::Unavailable
        };
        let f = Failure::new(exit, format!("cannot reach the manager at {}", self.base)).hint(
            "check that it runs (`vsm manager status --dir DIR`) and that --url / VSM_URL point at it",
        );
        anyhow::Error::new(e).context(f)
    }

    /// `GET path` → JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        json_body(self.send(self.request(Method::GET, path)).await?).await
    }

    /// `GET path` with a request time-out of `secs` (long polls).
    pub async fn get_with_timeout(&self, path: &str, secs: u64) -> Result<Value> {
        let rb = self
            .request(Method::GET, path)
            .timeout(Duration::from_secs(secs + 30));
        json_body(self.send(rb).await?).await
    }

    /// `METHOD path` with a JSON body (or none) → JSON (`null` for an empty answer).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        json_body(self.send(rb).await?).await
    }

    /// `POST path` with a tar archive body → JSON.
    pub async fn post_tar(&self, path: &str, tar: Vec<u8>) -> Result<Value> {
        let rb = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(tar);
        json_body(self.send(rb).await?).await
    }

    /// `GET path` → raw bytes (archives, logs).
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let resp = self.send(self.request(Method::GET, path)).await?;
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        Ok(bytes.to_vec())
    }

    /// `GET /api/v1/health` without a token → the health record.
    pub async fn health(&self) -> Result<Value> {
        let rb = self
            .http
            .get(format!("{}/api/v1/health", self.base))
            .timeout(Duration::from_secs(5));
        json_body(self.send(rb).await?).await
    }
}

async fn json_body(resp: reqwest::Response) -> Result<Value> {
    let bytes = resp
        .bytes()
        .await
        .context("the manager's answer broke off")?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).context("the manager's answer is not JSON")
}

/// The [`Failure`] described by an error answer (notes/API.md "Errors").
pub fn error_from_body(status: StatusCode, body: &[u8]) -> Failure {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let Some(err) = err else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let mut f = Failure::new(
            Exit::from_http_status(status.as_u16()),
            if text.is_empty() {
                format!("the manager answered {status}")
            } else {
                format!("the manager answered {status}: {}", first_line(text))
            },
        );
        if status == StatusCode::UNAUTHORIZED {
            f = f.hint(LOGIN_HINT);
        }
        return f;
    };
    let kind = err.get("kind").and_then(Value::as_str).unwrap_or("failed");
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map(|m| m.trim_end_matches('.').to_owned())
        .unwrap_or_else(|| format!("the manager answered {status}"));
    let mut f = Failure::new(Exit::from_api_kind(kind), message);
    f.kind = Some(kind.to_owned());
    if let Some(details) = err.get("details").and_then(Value::as_array) {
        f.details = details
            .iter()
            .map(|d| match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
    }
    f.operation = err.get("operation").and_then(Value::as_u64);
    f.hint = err
        .get("hint")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| match kind {
            "unauthenticated" => Some(LOGIN_HINT.to_owned()),
            "busy" => Some(match f.operation {
                Some(id) => {
                    format!("wait for it with --wait SECONDS, or follow it with `vsm op show {id}`")
                }
                None => "wait for it with --wait SECONDS".to_owned(),
            }),
            _ => None,
        });
    f
}

/// What to do when not logged in.
pub const LOGIN_HINT: &str =
    "log in with `vsm login --user NAME --password-file FILE`, or set VSM_TOKEN";

fn first_line(s: &str) -> &str {
    let line = s.lines().next().unwrap_or("");
    if line.len() > 200 {
        let mut end = 200;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        &line[..end]
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_map_to_classified_failures() {
        let body = br#"{"error":{"kind":"busy","message":"unit `shop` is busy with operation 7.","operation":7}}"#;
        let f = error_from_body(StatusCode::LOCKED, body);
        assert_eq!(f.exit, Exit::Busy);
        assert_eq!(f.message, "unit `shop` is busy with operation 7");
        assert_eq!(f.operation, Some(7));
        assert!(f.hint.as_deref().unwrap_or("").contains("vsm op show 7"));

        let body = br#"{"error":{"kind":"invalid_data","message":"the unit file is invalid","details":["shop.yaml, line 3: unknown key `cont`"],"hint":"fix it"}}"#;
        let f = error_from_body(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(f.exit, Exit::DataErr);
        assert_eq!(f.details, vec!["shop.yaml, line 3: unknown key `cont`"]);
        assert_eq!(f.hint.as_deref(), Some("fix it"));

        let f = error_from_body(StatusCode::UNAUTHORIZED, b"");
        assert_eq!(f.exit, Exit::NoPerm);
        assert_eq!(f.hint.as_deref(), Some(LOGIN_HINT));

        let f = error_from_body(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(f.exit, Exit::Unavailable);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("web-1"), "web-1");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
