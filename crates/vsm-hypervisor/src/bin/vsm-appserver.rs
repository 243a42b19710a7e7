//! `vsm-appserver`: a tiny HTTP/1.1 application server, the boot command of the example local
//! template (`examples/templates/appserver`). It needs nothing installed and only `std` (plus
//! `libc` for the SIGTERM handler).
//!
//! ```text
//! vsm-appserver [--bind ADDR] [--port PORT] [--dir DIR]
//! ```
//!
//! - binds `ADDR:PORT`; `ADDR` defaults to `$VSM_ADDRESS` (the server's loopback address given by
//!   the local driver), else `127.0.0.1`; `PORT` defaults to `$VSM_PORT`, else `8080`;
//! - serves the files under `DIR` (default `app`, relative to the working directory, which the
//!   local driver sets to the server's root): this is where a definition directory deploys the
//!   application. `GET /` serves `DIR/index.html`;
//! - `GET /healthz` answers `200 ok` when `DIR` exists and holds at least one entry (the
//!   application is deployed), else `503 not deployed`;
//! - `GET /vsm/info` answers `server=…`, `address=…`, `generation=…` lines;
//! - exits with status 0 on SIGTERM or SIGINT (after logging `stopping`).
//!
//! It must stay small: it is a stand-in for an application server, not a web server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

struct Config {
    bind: String,
    port: u16,
    dir: PathBuf,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "vsm-appserver: {problem}\nusage: vsm-appserver [--bind ADDR] [--port PORT] [--dir DIR]"
    );
    std::process::exit(64);
}

fn parse_args() -> Config {
    let mut bind = std::env::var("VSM_ADDRESS").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let mut port = match std::env::var("VSM_PORT") {
        Ok(p) => p
            .parse()
            .unwrap_or_else(|_| usage(&format!("VSM_PORT={p:?} is not a port number"))),
        Err(_) => 8080,
    };
    let mut dir = PathBuf::from("app");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--bind" => bind = value("--bind"),
            "--port" => {
                let v = value("--port");
                port = v
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("--port {v:?} is not a port number")));
            }
            "--dir" => dir = PathBuf::from(value("--dir")),
            "--help" | "-h" => usage("help"),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    Config { bind, port, dir }
}

fn main() {
    let config = parse_args();
    // SAFETY: installing a handler that only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let listener = match TcpListener::bind((config.bind.as_str(), config.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "vsm-appserver: cannot listen on {}:{}: {e}",
                config.bind, config.port
            );
            std::process::exit(70);
        }
    };
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("vsm-appserver: {e}");
        std::process::exit(70);
    }
    println!(
        "vsm-appserver listening on {}:{}, serving {}",
        config.bind,
        config.port,
        config.dir.display()
    );
    let dir = std::sync::Arc::new(config.dir);
    while !STOP.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let dir = std::sync::Arc::clone(&dir);
                std::thread::spawn(move || handle(stream, &dir));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("vsm-appserver: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    println!("vsm-appserver stopping");
}

fn handle(stream: TcpStream, dir: &Path) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Skip the headers (this server needs none of them).
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h) {
            Ok(0) | Err(_) => break,
            Ok(_) if h == "\r\n" || h == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = respond(method, target, dir);
    println!("{method} {target} {status}");
    let mut out = stream;
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = out.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = out.write_all(&body);
    }
    let _ = out.flush();
}

fn text(status: &'static str, body: &str) -> (&'static str, &'static str, Vec<u8>) {
    (
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn respond(method: &str, target: &str, dir: &Path) -> (&'static str, &'static str, Vec<u8>) {
    if method != "GET" && method != "HEAD" {
        return text("405 Method Not Allowed", "only GET and HEAD\n");
    }
    let path = target.split(['?', '#']).next().unwrap_or("/");
    match path {
        "/healthz" => {
            let deployed = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
            if deployed {
                text("200 OK", "ok\n")
            } else {
                text("503 Service Unavailable", "not deployed\n")
            }
        }
        "/vsm/info" => {
            let var = |k: &str| std::env::var(k).unwrap_or_default();
            text(
                "200 OK",
                &format!(
                    "server={}\naddress={}\ngeneration={}\n",
                    var("VSM_SERVER"),
                    var("VSM_ADDRESS"),
                    var("VSM_GENERATION")
                ),
            )
        }
        _ => serve_file(path, dir),
    }
}

fn serve_file(path: &str, dir: &Path) -> (&'static str, &'static str, Vec<u8>) {
    let Some(decoded) = percent_decode(path) else {
        return text("400 Bad Request", "bad path\n");
    };
    let rel = Path::new(decoded.trim_start_matches('/'));
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return text("400 Bad Request", "bad path\n");
    }
    let mut file = dir.join(rel);
    if file.is_dir() {
        file = file.join("index.html");
    }
    let mut bytes = Vec::new();
    match std::fs::File::open(&file).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => ("200 OK", content_type(&file), bytes),
        Err(_) => text("404 Not Found", "not found\n"),
    }
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "txt" | "conf" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.contains('\0')).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_the_directory() {
        let dir = Path::new("/nonexistent-vsm-test");
        assert_eq!(serve_file("/../etc/passwd", dir).0, "400 Bad Request");
        assert_eq!(serve_file("/%2e%2e/etc/passwd", dir).0, "400 Bad Request");
        assert_eq!(serve_file("/a/%00", dir).0, "400 Bad Request");
        assert_eq!(serve_file("/missing.html", dir).0, "404 Not Found");
    }

    #[test]
    fn health_follows_deployed_content() {
        let tmp = std::env::temp_dir().join(format!("vsm-appserver-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        assert_eq!(
            respond("GET", "/healthz", &tmp).0,
            "503 Service Unavailable"
        );
        std::fs::create_dir_all(&tmp).expect("mkdir");
        assert_eq!(
            respond("GET", "/healthz", &tmp).0,
            "503 Service Unavailable"
        );
        std::fs::write(tmp.join("index.html"), "<p>hi</p>").expect("write");
        assert_eq!(respond("GET", "/healthz?x=1", &tmp).0, "200 OK");
        let (status, ct, body) = respond("GET", "/", &tmp);
        assert_eq!(
            (status, ct, body.as_slice()),
            ("200 OK", "text/html; charset=utf-8", &b"<p>hi</p>"[..])
        );
        assert_eq!(respond("POST", "/", &tmp).0, "405 Method Not Allowed");
        std::fs::remove_dir_all(&tmp).expect("clean up");
    }
}
