//! Remote commands and file transfer over the system's OpenSSH client (`ssh`).
//!
//! Owns: building `ssh` argument vectors (never a local shell), running remote commands, and the
//! transfer primitives that the static driver and the deploy layer's ssh transport build on
//! (`upload_tar`, `upload_dir`, `write_file`, `read_file`, `rename`, `mkdir_p`, `remove_all`).
//! Must not: hold connections or state between calls, read user configuration to pick targets, or
//! know about servers, units or definition versions.
//!
//! Every invocation passes `-o BatchMode=yes`, `-o ConnectTimeout=…`, `-o IdentitiesOnly=yes`,
//! `-i IDENTITY`, `-p PORT`, `-l USER` and the host-key checking options of the target. The remote
//! side runs the command through the login shell of the remote user, as OpenSSH always does;
//! [`shell_quote`] and [`run_args`] build such command lines safely from separate arguments.
//!
//! Dropping a future returned by this module kills the `ssh` client it started.

use std::process::Stdio;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// How many bytes of a failing command's stderr are kept in an error.
const STDERR_TAIL: usize = 2000;

/// Exit status `ssh` itself uses for connection and authentication failures.
const SSH_FAILURE: i32 = 255;

/// Exit status [`read_file`]'s remote command uses to say "no such file".
const READ_MISSING: i32 = 44;

/// How the remote host's key is checked.
///
/// Serialized as `{ mode: strict, known_hosts: FILE }`, `{ mode: accept-new }` or `{ mode: off }`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum HostKeyChecking {
    /// The host key must already be listed in this known-hosts file (`StrictHostKeyChecking=yes`).
    Strict {
        /// The known-hosts file to check against.
        known_hosts: Utf8PathBuf,
    },
    /// Unknown hosts are trusted on first use and recorded; changed keys are refused
    /// (`StrictHostKeyChecking=accept-new`). `None` uses the user's default known-hosts file.
    AcceptNew {
        /// The known-hosts file to check against and record new keys in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        known_hosts: Option<Utf8PathBuf>,
    },
    /// No host-key checking at all (`StrictHostKeyChecking=no`, known hosts in `/dev/null`).
    /// Only for throwaway test machines.
    Off,
}

/// Where and how to reach one machine over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Host name or IP address (IPv6 literals without brackets).
    pub host: String,
    /// TCP port of the SSH server.
    pub port: u16,
    /// Remote user to log in as.
    pub user: String,
    /// Private key file (key-based authentication only).
    pub identity: Utf8PathBuf,
    /// How the host key is checked.
    pub host_key_checking: HostKeyChecking,
    /// Time allowed for the TCP connection and SSH handshake.
    pub connect_timeout: Duration,
    /// The `ssh` program to run (default `ssh`, found on `PATH`).
    pub program: Utf8PathBuf,
    /// Connection sharing: when set, calls share one master connection per target through a
    /// control socket in this directory (`ControlMaster=auto`, `ControlPersist`), which saves the
    /// handshake on every call after the first. The directory must exist, be private, and have a
    /// short path (socket paths are limited to about 100 bytes). Close the master with
    /// [`close_master`] when done, or it exits by itself after [`MASTER_PERSIST_SECS`] idle seconds.
    pub control_dir: Option<Utf8PathBuf>,
}

/// How long an idle shared master connection stays up (see [`SshTarget::control_dir`]).
pub const MASTER_PERSIST_SECS: u32 = 30;

impl SshTarget {
    /// A target on port 22 with strict-by-default `AcceptNew` checking in the user's known-hosts
    /// file and a 10 second connect timeout.
    pub fn new(
        host: impl Into<String>,
        user: impl Into<String>,
        identity: impl Into<Utf8PathBuf>,
    ) -> Self {
        SshTarget {
            host: host.into(),
            port: 22,
            user: user.into(),
            identity: identity.into(),
            host_key_checking: HostKeyChecking::AcceptNew { known_hosts: None },
            connect_timeout: Duration::from_secs(10),
            program: Utf8PathBuf::from("ssh"),
            control_dir: None,
        }
    }

    /// The same target on another port.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The same target with another host-key checking mode.
    #[must_use]
    pub fn with_host_key_checking(mut self, checking: HostKeyChecking) -> Self {
        self.host_key_checking = checking;
        self
    }

    /// The same target with another connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The same target sharing one connection through a control socket in `dir`
    /// (see [`SshTarget::control_dir`]).
    #[must_use]
    pub fn with_control_dir(mut self, dir: impl Into<Utf8PathBuf>) -> Self {
        self.control_dir = Some(dir.into());
        self
    }

    /// `user@host:port`, for messages.
    pub fn destination(&self) -> String {
        if self.host.contains(':') {
            format!("{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            format!("{}@{}:{}", self.user, self.host, self.port)
        }
    }

    /// The full argument vector given to the `ssh` program (without the program itself) to run
    /// `remote_command` on this target.
    pub fn ssh_args(&self, remote_command: &str) -> Result<Vec<String>, SshError> {
        self.validate()?;
        let secs = self.connect_timeout.as_secs().max(1);
        let mut args: Vec<String> = vec![
            "-T".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            format!("ConnectTimeout={secs}"),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "PasswordAuthentication=no".into(),
            "-o".into(),
            "KbdInteractiveAuthentication=no".into(),
            "-o".into(),
            "ServerAliveInterval=15".into(),
            "-o".into(),
            "ServerAliveCountMax=4".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-i".into(),
            self.identity.to_string(),
            "-p".into(),
            self.port.to_string(),
            "-l".into(),
            self.user.clone(),
        ];
        match &self.host_key_checking {
            HostKeyChecking::Strict { known_hosts } => {
                args.extend(["-o".into(), "StrictHostKeyChecking=yes".into()]);
                args.extend(["-o".into(), format!("UserKnownHostsFile={known_hosts}")]);
            }
            HostKeyChecking::AcceptNew { known_hosts } => {
                args.extend(["-o".into(), "StrictHostKeyChecking=accept-new".into()]);
                if let Some(file) = known_hosts {
                    args.extend(["-o".into(), format!("UserKnownHostsFile={file}")]);
                }
            }
            HostKeyChecking::Off => {
                args.extend(["-o".into(), "StrictHostKeyChecking=no".into()]);
                args.extend(["-o".into(), "UserKnownHostsFile=/dev/null".into()]);
            }
        }
        if let Some(dir) = &self.control_dir {
            args.extend(["-o".into(), "ControlMaster=auto".into()]);
            args.extend(["-o".into(), format!("ControlPath={dir}/%C")]);
            args.extend(["-o".into(), format!("ControlPersist={MASTER_PERSIST_SECS}")]);
        }
        args.push("--".into());
        args.push(self.host.clone());
        args.push(remote_command.into());
        Ok(args)
    }

    fn validate(&self) -> Result<(), SshError> {
        let bad = |what: &str, value: &str| SshError::InvalidTarget {
            destination: self.destination(),
            reason: format!(
                "{what} {value:?} must be non-empty, without spaces or control characters, and not start with '-'"
            ),
        };
        let ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('-')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if !ok(&self.host) {
            return Err(bad("host", &self.host));
        }
        if !ok(&self.user) {
            return Err(bad("user", &self.user));
        }
        if self.port == 0 {
            return Err(SshError::InvalidTarget {
                destination: self.destination(),
                reason: "port 0 is not a valid port".into(),
            });
        }
        Ok(())
    }
}

/// What a remote command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code of the remote command (`None` when it was killed by a signal).
    pub code: Option<i32>,
    /// Everything the command wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything the command wrote to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Whether the remote command exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The last part of stderr as text (lossy), trimmed.
    pub fn stderr_tail(&self) -> String {
        tail(&self.stderr)
    }
}

/// Why an SSH operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// The target itself is malformed (nothing was run).
    #[error("invalid ssh target {destination}: {reason}")]
    InvalidTarget {
        /// `user@host:port`.
        destination: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The local `ssh` program could not be started.
    #[error("could not run the ssh client `{program}` (is openssh-client installed?)")]
    Spawn {
        /// The program that was tried.
        program: Utf8PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The machine could not be reached (refused, timed out, no route, name not resolved,
    /// connection lost). Retrying later is safe.
    #[error("could not connect to {destination}: {stderr}")]
    Unreachable {
        /// `user@host:port`.
        destination: String,
        /// The tail of the client's error output.
        stderr: String,
    },
    /// The machine answered but refused us: authentication or host-key verification failed.
    /// Retrying does not help until the keys or known-hosts file are fixed.
    #[error("ssh login to {destination} was refused: {stderr}")]
    Refused {
        /// `user@host:port`.
        destination: String,
        /// The tail of the client's error output.
        stderr: String,
    },
    /// The remote command ran and failed.
    #[error("command `{command}` on {destination} failed with {}: {stderr}", describe_code(*.code))]
    CommandFailed {
        /// `user@host:port`.
        destination: String,
        /// The remote command line.
        command: String,
        /// Its exit code (`None`: killed by a signal).
        code: Option<i32>,
        /// The tail of its stderr.
        stderr: String,
    },
    /// Local input/output with the `ssh` client failed (e.g. writing its stdin).
    #[error("i/o with the ssh client for {destination}")]
    Io {
        /// `user@host:port`.
        destination: String,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
}

fn describe_code(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "a signal".to_string(),
    }
}

impl SshError {
    /// Whether retrying the same operation later may succeed (the machine was unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, SshError::Unreachable { .. })
    }

    /// The remote command's exit code, when the failure is a failed command.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            SshError::CommandFailed { code, .. } => *code,
            _ => None,
        }
    }
}

/// Quote one word for a POSIX shell on the remote side (single quotes; `'` becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Join words into one remote command line, each quoted with [`shell_quote`].
pub fn shell_join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run a remote shell command line. A command that runs and exits non-zero is not an error here:
/// look at [`Output::code`]. Errors are only about reaching the machine.
///
/// A remote command that itself exits with 255 is indistinguishable from an ssh failure and is
/// reported as [`SshError::Unreachable`] or [`SshError::Refused`].
pub async fn run(target: &SshTarget, remote_command: &str) -> Result<Output, SshError> {
    run_inner(target, remote_command, None::<&[u8]>).await
}

/// Like [`run`], with `input` streamed to the remote command's stdin.
pub async fn run_with_input<R>(
    target: &SshTarget,
    remote_command: &str,
    input: R,
) -> Result<Output, SshError>
where
    R: AsyncRead + Unpin + Send,
{
    run_inner(target, remote_command, Some(input)).await
}

/// Run a remote command line and require exit code 0 ([`SshError::CommandFailed`] otherwise).
pub async fn run_checked(target: &SshTarget, remote_command: &str) -> Result<Output, SshError> {
    let out = run(target, remote_command).await?;
    check(target, remote_command, out)
}

/// Run a remote command given as separate words (each quoted), requiring exit code 0.
pub async fn run_args<S: AsRef<str>>(target: &SshTarget, words: &[S]) -> Result<Output, SshError> {
    run_checked(target, &shell_join(words)).await
}

/// Check that the machine answers: log in and run `true`.
pub async fn check_reachable(target: &SshTarget) -> Result<(), SshError> {
    run_checked(target, "true").await.map(|_| ())
}

/// Stops the shared master connection of a target that uses [`SshTarget::control_dir`]
/// (`ssh -O exit`). Nothing happens when the target shares no connection or none is up.
pub async fn close_master(target: &SshTarget) -> Result<(), SshError> {
    if target.control_dir.is_none() {
        return Ok(());
    }
    let mut args = target.ssh_args("")?;
    // Replace the trailing `-- host ""` with `-O exit -- host`.
    args.truncate(args.len() - 3);
    args.extend(["-O".into(), "exit".into(), "--".into(), target.host.clone()]);
    let status = Command::new(target.program.as_std_path())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|source| SshError::Spawn {
            program: target.program.clone(),
            source,
        })?;
    // A non-zero status means no master was running: that is the state we want.
    let _ = status;
    Ok(())
}

/// Unpack a tar stream into `remote_dir` (created when missing) with the remote `tar`.
/// Ownership is not restored from the archive (`--no-same-owner`); modes are.
pub async fn upload_tar<R>(
    target: &SshTarget,
    remote_dir: &Utf8Path,
    tar: R,
) -> Result<(), SshError>
where
    R: AsyncRead + Unpin + Send,
{
    let dir = shell_quote(remote_dir.as_str());
    let command = format!("mkdir -p -- {dir} && exec tar -x --no-same-owner -p -f - -C {dir}");
    let out = run_with_input(target, &command, tar).await?;
    check(target, &command, out).map(|_| ())
}

/// Copy the contents of a local directory into `remote_dir` (created when missing), streaming a
/// tar archive made by the local `tar` program into the remote one.
pub async fn upload_dir(
    target: &SshTarget,
    local_dir: &Utf8Path,
    remote_dir: &Utf8Path,
) -> Result<(), SshError> {
    let mut tar = Command::new("tar")
        .args(["-c", "-f", "-", "-C", local_dir.as_str(), "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| SshError::Spawn {
            program: "tar".into(),
            source,
        })?;
    let stdout = tar.stdout.take().ok_or_else(|| SshError::Io {
        destination: target.destination(),
        source: std::io::Error::other("local tar has no stdout"),
    })?;
    let mut stderr = tar.stderr.take();
    let upload = upload_tar(target, remote_dir, stdout).await;
    let mut tar_err = Vec::new();
    if let Some(stderr) = stderr.as_mut() {
        let _ = stderr.read_to_end(&mut tar_err).await;
    }
    let status = tar.wait().await.map_err(|source| SshError::Io {
        destination: target.destination(),
        source,
    })?;
    upload?;
    if !status.success() {
        return Err(SshError::CommandFailed {
            destination: "localhost".into(),
            command: format!("tar -c -C {local_dir} ."),
            code: status.code(),
            stderr: tail(&tar_err),
        });
    }
    Ok(())
}

/// Write `contents` to `remote_path` atomically: into a temporary file beside it, with `mode`,
/// then renamed over the target. Parent directories are created.
pub async fn write_file(
    target: &SshTarget,
    remote_path: &Utf8Path,
    contents: &[u8],
    mode: u32,
) -> Result<(), SshError> {
    let path = shell_quote(remote_path.as_str());
    let tmp = shell_quote(&format!("{remote_path}.vsm-tmp"));
    let parent = remote_path
        .parent()
        .filter(|p| !p.as_str().is_empty())
        .unwrap_or(Utf8Path::new("."));
    let command = format!(
        "mkdir -p -- {parent} && cat > {tmp} && chmod {mode:o} -- {tmp} && mv -f -- {tmp} {path}",
        parent = shell_quote(parent.as_str()),
    );
    let out = run_with_input(target, &command, contents).await?;
    check(target, &command, out).map(|_| ())
}

/// Read a remote file; `Ok(None)` when it does not exist.
pub async fn read_file(
    target: &SshTarget,
    remote_path: &Utf8Path,
) -> Result<Option<Vec<u8>>, SshError> {
    let path = shell_quote(remote_path.as_str());
    let command = format!("test -e {path} || exit {READ_MISSING}; exec cat -- {path}");
    let out = run(target, &command).await?;
    if out.code == Some(READ_MISSING) {
        return Ok(None);
    }
    check(target, &command, out).map(|out| Some(out.stdout))
}

/// Create a remote directory and its parents.
pub async fn mkdir_p(target: &SshTarget, remote_dir: &Utf8Path) -> Result<(), SshError> {
    run_args(target, &["mkdir", "-p", "--", remote_dir.as_str()])
        .await
        .map(|_| ())
}

/// Rename `from` to `to` on the remote machine (`mv -f -T`: `to` is replaced, never entered,
/// so renaming a directory over an empty directory or a file over a file is atomic).
pub async fn rename(target: &SshTarget, from: &Utf8Path, to: &Utf8Path) -> Result<(), SshError> {
    run_args(
        target,
        &["mv", "-f", "-T", "--", from.as_str(), to.as_str()],
    )
    .await
    .map(|_| ())
}

/// Remove a remote file or directory tree; nothing happens when it does not exist.
pub async fn remove_all(target: &SshTarget, remote_path: &Utf8Path) -> Result<(), SshError> {
    run_args(target, &["rm", "-rf", "--", remote_path.as_str()])
        .await
        .map(|_| ())
}

fn check(target: &SshTarget, command: &str, out: Output) -> Result<Output, SshError> {
    if out.success() {
        return Ok(out);
    }
    Err(SshError::CommandFailed {
        destination: target.destination(),
        command: command.to_string(),
        code: out.code,
        stderr: out.stderr_tail(),
    })
}

async fn run_inner<R>(
    target: &SshTarget,
    remote_command: &str,
    input: Option<R>,
) -> Result<Output, SshError>
where
    R: AsyncRead + Unpin + Send,
{
    let args = target.ssh_args(remote_command)?;
    let destination = target.destination();
    tracing::debug!(%destination, command = remote_command, "ssh");
    let mut child = Command::new(target.program.as_std_path())
        .args(&args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| SshError::Spawn {
            program: target.program.clone(),
            source,
        })?;
    let io_err = |source| SshError::Io {
        destination: destination.clone(),
        source,
    };

    let stdin = child.stdin.take();
    let feed = async move {
        if let (Some(mut stdin), Some(mut input)) = (stdin, input) {
            // A remote command that stops reading early closes the pipe: not our failure; the
            // exit status tells what happened.
            match tokio::io::copy(&mut input, &mut stdin).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(e),
            }
            match stdin.shutdown().await {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e),
                _ => {}
            }
        }
        Ok(())
    };
    let mut stdout_pipe = child.stdout.take();
    let mut stderr_pipe = child.stderr.take();
    let read_out = async {
        let mut buf = Vec::new();
        if let Some(p) = stdout_pipe.as_mut() {
            p.read_to_end(&mut buf).await?;
        }
        Ok::<_, std::io::Error>(buf)
    };
    let read_err = async {
        let mut buf = Vec::new();
        if let Some(p) = stderr_pipe.as_mut() {
            p.read_to_end(&mut buf).await?;
        }
        Ok::<_, std::io::Error>(buf)
    };
    let (fed, stdout, stderr) = tokio::join!(feed, read_out, read_err);
    let stdout = stdout.map_err(io_err)?;
    let stderr = stderr.map_err(io_err)?;
    let status = child.wait().await.map_err(io_err)?;
    let code = status.code();
    if code == Some(SSH_FAILURE) {
        let text = tail(&stderr);
        return Err(classify_failure(destination, text));
    }
    fed.map_err(io_err)?;
    Ok(Output {
        code,
        stdout,
        stderr,
    })
}

fn classify_failure(destination: String, stderr: String) -> SshError {
    const REFUSED: [&str; 3] = [
        "Permission denied",
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
    ];
    if REFUSED.iter().any(|needle| stderr.contains(needle)) {
        SshError::Refused {
            destination,
            stderr,
        }
    } else {
        SshError::Unreachable {
            destination,
            stderr,
        }
    }
}

fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_wraps_the_rest() {
        assert_eq!(shell_quote("abc/def-1.txt"), "abc/def-1.txt");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_join(&["echo", "a b", "c"]), "echo 'a b' c");
    }

    #[test]
    fn args_always_carry_batch_mode_timeout_identity_and_port() {
        let t = SshTarget::new("192.0.2.1", "vsm", "/keys/id")
            .with_port(2222)
            .with_connect_timeout(Duration::from_secs(3));
        let args = t.ssh_args("uptime").expect("valid target");
        let joined = args.join(" ");
        for needle in [
            "BatchMode=yes",
            "ConnectTimeout=3",
            "IdentitiesOnly=yes",
            "-i /keys/id",
            "-p 2222",
            "-l vsm",
        ] {
            assert!(joined.contains(needle), "{needle} missing from {joined}");
        }
        assert_eq!(&args[args.len() - 3..], ["--", "192.0.2.1", "uptime"]);
    }

    #[test]
    fn host_key_modes_map_to_options() {
        let base = SshTarget::new("h", "u", "/k");
        let strict = base
            .clone()
            .with_host_key_checking(HostKeyChecking::Strict {
                known_hosts: "/kh".into(),
            })
            .ssh_args("true")
            .expect("valid");
        assert!(strict.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(strict.contains(&"UserKnownHostsFile=/kh".to_string()));
        let off = base
            .with_host_key_checking(HostKeyChecking::Off)
            .ssh_args("true")
            .expect("valid");
        assert!(off.contains(&"UserKnownHostsFile=/dev/null".to_string()));
    }

    #[test]
    fn hostile_targets_are_rejected_before_running() {
        for (host, user) in [
            ("-oProxyCommand=x", "u"),
            ("h", "-l"),
            ("a b", "u"),
            ("", "u"),
        ] {
            let err = SshTarget::new(host, user, "/k")
                .ssh_args("true")
                .expect_err("must be rejected");
            assert!(matches!(err, SshError::InvalidTarget { .. }), "{err}");
        }
    }

    #[test]
    fn failures_are_classified() {
        assert!(
            classify_failure(
                "d".into(),
                "ssh: connect to host x port 22: Connection refused".into()
            )
            .is_transient()
        );
        assert!(
            !classify_failure("d".into(), "u@h: Permission denied (publickey).".into())
                .is_transient()
        );
    }
}
