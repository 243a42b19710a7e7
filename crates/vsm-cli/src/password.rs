//! Reading passwords: from a file (`--password-file`), standard input (`--password-stdin`) or,
//! on a terminal without either, a prompt without echo. Never from the command line, never
//! printed, never logged.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};
use camino::Utf8Path;

use crate::cli::PasswordArgs;
use crate::exit::{Exit, Failure};

/// A password; its `Debug` does not show it.
pub struct Password(String);

impl Password {
    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Reads the password `args` point at. `confirm`: prompt twice when prompting.
pub fn read(args: &PasswordArgs, what: &str, confirm: bool) -> Result<Password> {
    if let Some(path) = &args.password_file {
        let bytes = std::fs::read(path).map_err(|e| {
            let exit = if e.kind() == std::io::ErrorKind::NotFound {
                Exit::Usage
            } else {
                Exit::DataErr
            };
            anyhow::Error::new(e).context(Failure::new(
                exit,
                format!("could not read the password file {path}"),
            ))
        })?;
        return parse(&bytes, path.as_str());
    }
    if args.password_stdin {
        let mut line = Vec::new();
        std::io::stdin()
            .lock()
            .read_until(b'\n', &mut line)
            .context("could not read the password from standard input")?;
        return parse(&line, "<standard input>");
    }
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let first = prompt(&format!("{what}: "))?;
        if confirm {
            let again = prompt(&format!("{what} (again): "))?;
            if again != first {
                return Err(Failure::new(Exit::Usage, "the two passwords differ").into());
            }
        }
        if first.is_empty() {
            return Err(Failure::new(Exit::Usage, "the password is empty").into());
        }
        return Ok(Password(first));
    }
    Err(Failure::new(Exit::Usage, format!("no {what} given"))
        .hint("pass --password-file FILE or --password-stdin (passwords are never taken from the command line)")
        .into())
}

/// The password in `bytes`: the first line, without its line ending; the rest must be empty.
fn parse(bytes: &[u8], source: &str) -> Result<Password> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            Exit::DataErr,
            format!(
                "the password in {source} is not valid UTF-8 (byte {})",
                e.valid_up_to() + 1
            ),
        )
    })?;
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("").trim_end_matches('\r');
    if let Some((n, _)) = lines.enumerate().find(|(_, l)| !l.trim().is_empty()) {
        return Err(Failure::new(
            Exit::DataErr,
            format!(
                "{source}, line {}: a password file holds one line, the password",
                n + 2
            ),
        )
        .hint("remove the extra lines")
        .into());
    }
    if first.is_empty() {
        return Err(Failure::new(
            Exit::DataErr,
            format!("{source}, line 1: the password is empty"),
        )
        .hint("write the password on the first line")
        .into());
    }
    Ok(Password(first.to_owned()))
}

/// Prompts on the terminal with echo off.
fn prompt(text: &str) -> Result<String> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{text}");
    let _ = err.flush();
    let fd = libc::STDIN_FILENO;
    let echo = EchoOff::new(fd);
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    drop(echo);
    let _ = writeln!(err);
    read.context("could not read the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Turns terminal echo off until dropped.
struct EchoOff {
    fd: i32,
    saved: Option<libc::termios>,
}

impl EchoOff {
    fn new(fd: i32) -> Self {
        // SAFETY: tcgetattr/tcsetattr only read and write the termios struct we own; a zeroed
        // termios is a valid value to be overwritten.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                None
            } else {
                let mut quiet = t;
                quiet.c_lflag &= !libc::ECHO;
                quiet.c_lflag |= libc::ECHONL;
                libc::tcsetattr(fd, libc::TCSANOW, &quiet);
                Some(t)
            }
        };
        EchoOff { fd, saved }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            // SAFETY: restores the attributes read in `new` on the same descriptor.
            unsafe {
                libc::tcsetattr(self.fd, libc::TCSANOW, &t);
            }
        }
    }
}

/// Reads a whole file the user named, classifying errors (missing: 64, unreadable: 65).
pub fn read_user_file(path: &Utf8Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let exit = if e.kind() == std::io::ErrorKind::NotFound {
            Exit::Usage
        } else {
            Exit::DataErr
        };
        anyhow::Error::new(e).context(Failure::new(exit, format!("could not read {what} {path}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::classify;

    #[test]
    fn a_password_file_holds_one_line() {
        assert_eq!(parse(b"s3cret\n", "f").expect("ok").expose(), "s3cret");
        assert_eq!(parse(b"s3cret\r\n", "f").expect("ok").expose(), "s3cret");
        assert_eq!(parse(b"s3cret", "f").expect("ok").expose(), "s3cret");
        assert_eq!(parse(b"s3cret\n\n", "f").expect("ok").expose(), "s3cret");
        let err = parse(b"a\nb\n", "pw.txt").expect_err("two lines");
        assert_eq!(classify(&err), Exit::DataErr);
        assert!(err.to_string().contains("pw.txt, line 2"), "{err}");
        let err = parse(b"\n", "pw.txt").expect_err("empty");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn passwords_do_not_debug_print() {
        assert_eq!(format!("{:?}", Password("x".into())), "Password(***)");
    }
}
