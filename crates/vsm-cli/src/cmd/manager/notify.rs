//! The systemd readiness protocol (`sd_notify`) for `vsm manager start` in the foreground: under
//! a `Type=notify` service (packaging/systemd/vsm-manager.service) systemd passes the datagram
//! socket `NOTIFY_SOCKET`; the manager sends `READY=1` once its API listens and `STOPPING=1`
//! when it begins to shut down. Without `NOTIFY_SOCKET` nothing is sent. A path starting with
//! `@` names a socket in the abstract namespace.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// Tells the service manager that the manager is ready, serving `url`.
pub fn ready(url: &str) {
    report("READY=1", &format!("READY=1\nSTATUS=serving {url}"));
}

/// Tells the service manager that the manager is shutting down.
pub fn stopping() {
    report("STOPPING=1", "STOPPING=1\nSTATUS=stopping");
}

fn report(what: &str, message: &str) {
    let socket = std::env::var_os("NOTIFY_SOCKET");
    if let Err(e) = send(socket.as_deref(), message) {
        tracing::warn!(error = %e, "could not notify the service manager ({what})");
    }
}

/// Sends `message` to the notification socket `socket`; `Ok(false)` when there is none.
pub fn send(socket: Option<&OsStr>, message: &str) -> io::Result<bool> {
    let Some(socket) = socket.filter(|s| !s.is_empty()) else {
        return Ok(false);
    };
    let sock = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(message.as_bytes(), &addr)?;
    } else if bytes.starts_with(b"/") {
        sock.send_to(message.as_bytes(), socket)?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "NOTIFY_SOCKET={} is neither a path nor @name",
                socket.display()
            ),
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_to_a_socket_path() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("notify");
        let sock = UnixDatagram::bind(&path).expect("bind");
        let sent = send(Some(path.as_os_str()), "READY=1\nSTATUS=serving x").expect("send");
        assert!(sent);
        assert_eq!(receive(&sock), "READY=1\nSTATUS=serving x");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("vsm-notify-test-{}", std::process::id());
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
        let sock = UnixDatagram::bind_addr(&addr).expect("bind");
        let target = format!("@{name}");
        assert!(send(Some(OsStr::new(&target)), "STOPPING=1").expect("send"));
        assert_eq!(receive(&sock), "STOPPING=1");
    }

    #[test]
    fn without_a_socket_nothing_is_sent() {
        assert!(!send(None, "READY=1").expect("nothing"));
        assert!(!send(Some(OsStr::new("")), "READY=1").expect("nothing"));
    }

    #[test]
    fn a_relative_name_is_refused_and_a_missing_socket_is_an_error() {
        let err = send(Some(OsStr::new("notify")), "READY=1").expect_err("relative");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let tmp = tempfile::tempdir().expect("tmp");
        let missing = tmp.path().join("none");
        assert!(send(Some(missing.as_os_str()), "READY=1").is_err());
    }
}
