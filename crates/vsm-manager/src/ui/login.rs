//! The console's login: exactly the API's (`POST /api/v1/login`), through the same per-address
//! [`LoginLimiter`](crate::http::state::AppState) (delays, lock-out) and the same audit entry
//! for a lock-out, so that the console is no way around the API's limits.

use std::net::IpAddr;

use vsm_core::AccountName;

use crate::api::{Password, Session};
use crate::http::ApiError;
use crate::http::state::AppState;

/// Logs `user` in from `ip` under the server's login limits.
pub(crate) async fn limited_login(
    st: &AppState,
    ip: IpAddr,
    user: &AccountName,
    password: &Password,
) -> Result<Session, ApiError> {
    let delay = st.limiter.admit(ip, user).inspect_err(|_| {
        tracing::warn!(account = %user, client = %ip, "console login refused: too many failures from this address");
    })?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match st.manager.login(user, password).await {
        Ok(session) => {
            st.limiter.succeeded(ip, user);
            tracing::info!(account = %user, client = %ip, "console login");
            Ok(session)
        }
        Err(e) => {
            if e.kind() == crate::ErrorKind::Unauthenticated {
                let locked = st.limiter.failed(ip);
                tracing::warn!(account = %user, client = %ip, "failed console login");
                if locked {
                    audit_lockout(st, user, ip).await;
                }
            } else {
                st.limiter.abandoned(ip, user);
            }
            Err(e.into())
        }
    }
}

/// The audit entry of a lock-out, as the API writes it.
async fn audit_lockout(st: &AppState, user: &AccountName, ip: IpAddr) {
    tracing::warn!(account = %user, client = %ip, "login lock-out: too many failed logins from this address");
    let entry = crate::store::AuditEntry {
        at: crate::clock::now(),
        actor: None,
        action: "login lock-out".to_owned(),
        target: format!("client {ip}"),
        result: format!(
            "refused for up to {} minutes after too many failed logins (last as {user})",
            st.limiter.window_minutes()
        ),
    };
    if let Err(e) = st
        .manager
        .write(vec![crate::store::Change::Audit(entry)])
        .await
    {
        tracing::error!(client = %ip, error = %e, "cannot audit a login lock-out");
    }
}
