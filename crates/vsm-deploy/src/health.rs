//! Health checks of a group's servers: TCP connect, HTTP GET with an expected status, or a
//! command on the server, retried every interval until it passes or the timeout is over.
//!
//! Async functions the manager's engine (and `batch`) call; no policy about what to do with
//! an unhealthy server lives here.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::manifest::{HealthCheck, HealthProbe};
use crate::transport::Transport;

/// A failed health check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{probe} did not pass within {timeout:?} ({attempts} attempts); last result: {last}")]
#[non_exhaustive]
pub struct HealthError {
    /// The probe, described.
    pub probe: String,
    /// The time allowed.
    pub timeout: Duration,
    /// How many attempts were made.
    pub attempts: u32,
    /// What the last attempt saw.
    pub last: String,
}

/// Describes a probe against `address`.
pub fn describe_probe(probe: &HealthProbe, address: &str) -> String {
    let host = host_for_url(address);
    match probe {
        HealthProbe::Tcp { port } => format!("tcp {host}:{port}"),
        HealthProbe::Http { port, path, status } => {
            format!("GET http://{host}:{port}{path} (expecting {status})")
        }
        HealthProbe::Command { command } => format!("command `{command}`"),
    }
}

fn host_for_url(address: &str) -> String {
    if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_owned()
    }
}

/// Runs `probe` once against the server at `address` (commands through `transport`),
/// allowing `limit` for the attempt.
pub async fn probe_once(
    probe: &HealthProbe,
    address: &str,
    transport: Option<&dyn Transport>,
    limit: Duration,
) -> Result<(), String> {
    match probe {
        HealthProbe::Tcp { port } => {
            match tokio::time::timeout(limit, TcpStream::connect((address, *port))).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect failed: {e}")),
                Err(_) => Err("connect timed out".into()),
            }
        }
        HealthProbe::Http { port, path, status } => {
            match tokio::time::timeout(limit, http_status(address, *port, path)).await {
                Ok(Ok(got)) if got == *status => Ok(()),
                Ok(Ok(got)) => Err(format!("status {got}")),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("request timed out".into()),
            }
        }
        HealthProbe::Command { command } => {
            let Some(t) = transport else {
                return Err("no transport to run the command through".into());
            };
            match t.run(command, limit).await {
                Ok(out) if out.success() => Ok(()),
                Ok(out) => Err(format!("exit code {:?}: {}", out.code, out.stderr)),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// A minimal HTTP/1.1 GET; returns the status code.
async fn http_status(address: &str, port: u16, path: &str) -> Result<u16, String> {
    let mut s = TcpStream::connect((address, port))
        .await
        .map_err(|e| format!("connect failed: {e}"))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}:{port}\r\nUser-Agent: vsm-health\r\nConnection: close\r\n\r\n",
        host_for_url(address)
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send failed: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.contains(&b'\n') && buf.len() < 8192 {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let line = line.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!("not an HTTP response: {line:?}")),
    }
}

/// Runs `check` against the server at `address` until it passes or its timeout is over.
pub async fn health_check(
    check: &HealthCheck,
    address: &str,
    transport: Option<&dyn Transport>,
) -> Result<(), HealthError> {
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let left = check.timeout.saturating_sub(start.elapsed());
        let last = match probe_once(
            &check.probe,
            address,
            transport,
            left.max(Duration::from_millis(100)),
        )
        .await
        {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if start.elapsed() + check.interval >= check.timeout {
            return Err(HealthError {
                probe: describe_probe(&check.probe, address),
                timeout: check.timeout,
                attempts,
                last,
            });
        }
        tokio::time::sleep(check.interval).await;
    }
}
