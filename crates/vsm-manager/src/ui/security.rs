//! The console's security, in one place: the guard every console request passes (a foreign
//! `Host` or `Origin` is refused, every answer carries the Content-Security-Policy and its
//! companions), the session cookie and the CSRF tokens.
//!
//! The cookie holds a session token of the manager's own session mechanism (the one `vsm
//! login` gets), so a console session expires, is audited and is revoked like any other. The
//! CSRF token of a session is derived from its token (a SHA-256 of it under a fixed label): a
//! page can show it, a foreign page cannot know it, and the server keeps nothing for it. Before
//! login the same is done with a random pre-login cookie (double submit), so that a foreign
//! page cannot log a browser into an account of its choosing either.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::http::state::AppState;

/// The cookie of a console session.
pub(crate) const SESSION_COOKIE: &str = "vsm_session";
/// The pre-login cookie the login form's CSRF token is derived from.
pub(crate) const LOGIN_COOKIE: &str = "vsm_login";
/// The form field of the CSRF token.
pub(crate) const CSRF_FIELD: &str = "csrf";

/// `Content-Security-Policy` of every console answer: nothing but the console's own files (no
/// inline script or style), never framed, forms only to the console.
pub(crate) const CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Why a request is refused before any handler sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// No `Host`, or one that names neither this machine nor a literal address.
    #[error(
        "the request's Host {0:?} is not this manager; open the console by the manager's own name or address"
    )]
    ForeignHost(String),
    /// An `Origin` (or a `Sec-Fetch-Site`) that is not the console's own.
    #[error(
        "the request comes from another site ({0}); the console accepts requests only from its own pages"
    )]
    ForeignOrigin(String),
}

/// The middleware of every console route: refuses a foreign `Host` or `Origin` (403) and adds
/// the security headers to every answer, refusals included.
pub(crate) async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let tls = st.config.tls.is_some();
    let verdict = check_request(
        req.method(),
        req.headers(),
        req.uri(),
        tls,
        &st.config.console_hosts,
    );
    let mut resp = match verdict {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::warn!(reason = %refusal, "console request refused");
            (StatusCode::FORBIDDEN, refusal.to_string()).into_response()
        }
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The checks of [`guard`]: the `Host` names this machine (a literal address, `localhost`,
/// the machine's host name or one of `names` — `service.console_hosts` and the advertised
/// URL's host: a DNS-rebinding page has a name of its own); an `Origin`, when
/// sent, is exactly this scheme and `Host`; a state change (anything but GET and HEAD) that
/// says where it comes from (`Sec-Fetch-Site`) comes from the console itself.
pub(crate) fn check_request(
    method: &Method,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    tls: bool,
    names: &[String],
) -> Result<(), Refusal> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default();
    if !host_allowed(&host, names) {
        return Err(Refusal::ForeignHost(host));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        let scheme = if tls { "https" } else { "http" };
        let ours = format!("{scheme}://{host}");
        if !origin.eq_ignore_ascii_case(&ours) {
            return Err(Refusal::ForeignOrigin(origin.to_owned()));
        }
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD);
    if changes_state
        && let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(Refusal::ForeignOrigin(format!("Sec-Fetch-Site: {site}")));
    }
    Ok(())
}

/// Whether a `Host` header names this manager (see [`check_request`]); `names` are further
/// names of it, lower case.
fn host_allowed(host: &str, names: &[String]) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        match rest.split_once(']') {
            Some((addr, _)) => return addr.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    if name.is_empty() {
        return false;
    }
    if name.parse::<std::net::IpAddr>().is_ok() || name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if names.contains(&name) {
        return true;
    }
    match machine_name() {
        Some(me) => name == me || name.strip_prefix(&me).is_some_and(|r| r.starts_with('.')),
        None => false,
    }
}

/// This machine's host name, lower case (as the kernel has it).
fn machine_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// The value of cookie `name` in a request, if any.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, path `/ui`, `Secure` under TLS;
/// `max_age` `None` removes the cookie.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: Option<i64>, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    match max_age {
        Some(age) => {
            format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={age}{secure}")
        }
        None => format!("{name}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The CSRF token of a session (or pre-login) token.
pub(crate) fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"vsm console csrf\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `given` is the CSRF token of `token` (compared in constant time).
pub(crate) fn csrf_ok(token: &str, given: Option<&str>) -> bool {
    let want = csrf_for(token);
    let Some(given) = given else { return false };
    if given.len() != want.len() {
        return false;
    }
    given
        .bytes()
        .zip(want.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, headers: &[(&str, &str)], tls: bool) -> Result<(), Refusal> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        check_request(
            &method,
            &h,
            &"/ui/units".parse().expect("uri"),
            tls,
            &["vsm.example.com".to_owned()],
        )
    }

    /// A name the configuration gives (`service.console_hosts`, the advertised URL's host) is
    /// the console's own, with any port and in any case; names around it are not.
    #[test]
    fn configured_console_hosts_are_accepted_and_only_they() {
        for host in [
            "vsm.example.com",
            "VSM.Example.com:7460",
            "vsm.example.com.:443",
        ] {
            assert_eq!(
                check(Method::GET, &[("host", host)], false),
                Ok(()),
                "{host}"
            );
        }
        assert_eq!(
            check(
                Method::POST,
                &[
                    ("host", "vsm.example.com"),
                    ("origin", "https://vsm.example.com"),
                    ("sec-fetch-site", "same-origin"),
                ],
                true,
            ),
            Ok(())
        );
        for host in [
            "evil.vsm.example.com",
            "vsm.example.com.evil.example",
            "example.com",
        ] {
            assert!(
                check(Method::GET, &[("host", host)], false).is_err(),
                "{host} must be refused"
            );
        }
    }

    #[test]
    fn hosts_and_origins() {
        let ok = |m: Method, h: &[(&str, &str)]| assert_eq!(check(m, h, false), Ok(()), "{h:?}");
        ok(Method::GET, &[("host", "127.0.0.1:7460")]);
        ok(Method::GET, &[("host", "localhost:7460")]);
        ok(Method::GET, &[("host", "[::1]:7460")]);
        ok(Method::GET, &[("host", "192.0.2.7")]);
        ok(
            Method::POST,
            &[
                ("host", "127.0.0.1:7460"),
                ("origin", "http://127.0.0.1:7460"),
                ("sec-fetch-site", "same-origin"),
            ],
        );
        if let Some(me) = machine_name() {
            ok(Method::GET, &[("host", &format!("{me}:7460"))]);
        }
        let refused = |m: Method, h: &[(&str, &str)], tls: bool| {
            assert!(check(m, h, tls).is_err(), "{h:?} must be refused");
        };
        refused(Method::GET, &[], false);
        refused(Method::GET, &[("host", "evil.example:7460")], false);
        refused(Method::GET, &[("host", "localhost.evil.example")], false);
        refused(
            Method::POST,
            &[
                ("host", "127.0.0.1:7460"),
                ("origin", "http://evil.example"),
            ],
            false,
        );
        refused(
            Method::POST,
            &[("host", "127.0.0.1:7460"), ("origin", "null")],
            false,
        );
        // The scheme is part of the origin.
        refused(
            Method::POST,
            &[
                ("host", "127.0.0.1:7460"),
                ("origin", "http://127.0.0.1:7460"),
            ],
            true,
        );
        refused(
            Method::POST,
            &[("host", "127.0.0.1:7460"), ("sec-fetch-site", "cross-site")],
            false,
        );
    }

    #[test]
    fn cookies_and_csrf_tokens() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; vsm_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), None);
        let c = set_cookie(SESSION_COOKIE, "tok", Some(60), true);
        assert_eq!(
            c,
            "vsm_session=tok; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert!(!set_cookie(SESSION_COOKIE, "tok", Some(60), false).contains("Secure"));
        let csrf = csrf_for("tok");
        assert_eq!(csrf.len(), 64);
        assert!(csrf_ok("tok", Some(&csrf)));
        assert!(!csrf_ok("tok", None));
        assert!(!csrf_ok("tok", Some("")));
        assert!(!csrf_ok("other", Some(&csrf)));
        assert_ne!(csrf, "tok", "the token itself never goes into a page");
    }
}
