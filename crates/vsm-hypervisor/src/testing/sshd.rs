//! A throwaway OpenSSH server on loopback for tests ([`TestSshd`]).
//!
//! Owns: generating host and client keys in a temporary directory, writing an `sshd_config`, running
//! `/usr/sbin/sshd -D -e` as the current user on a free 127.0.0.1 port, and stopping it on drop.
//! Must not: touch the system's sshd configuration, keys or `~/.ssh`, or listen beyond 127.0.0.1.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};

use crate::ssh::{HostKeyChecking, SshTarget};

/// Where the OpenSSH server is looked for.
const SSHD_CANDIDATES: [&str; 2] = ["/usr/sbin/sshd", "/usr/bin/sshd"];

/// How long the server gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the test sshd could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestSshdError {
    /// A needed program is missing.
    #[error(
        "`{program}` not found: run `cargo xtask deps` (installs openssh-server and openssh-client)"
    )]
    Missing {
        /// The program that is missing.
        program: String,
    },
    /// A setup step failed.
    #[error("test sshd setup: {step}")]
    Setup {
        /// What was being done.
        step: String,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// `ssh-keygen` failed.
    #[error("ssh-keygen failed: {stderr}")]
    Keygen {
        /// Its error output.
        stderr: String,
    },
    /// `sshd` exited or never accepted connections.
    #[error("sshd did not start on 127.0.0.1:{port}: {log}")]
    NotStarted {
        /// The port it was given.
        port: u16,
        /// Its log output.
        log: String,
    },
}

/// A running throwaway `sshd` on 127.0.0.1, logged into as the current user with a generated key.
/// Stopped (its whole process group) and its directory removed when dropped.
#[derive(Debug)]
pub struct TestSshd {
    child: Child,
    port: u16,
    user: String,
    /// Held so the keys and config live exactly as long as the server.
    _dir: tempfile::TempDir,
    root: Utf8PathBuf,
}

fn setup(step: impl Into<String>) -> impl FnOnce(io::Error) -> TestSshdError {
    let step = step.into();
    move |source| TestSshdError::Setup { step, source }
}

impl TestSshd {
    /// Generate keys, write the configuration, start `sshd` and wait until its port accepts.
    pub fn start() -> Result<TestSshd, TestSshdError> {
        let sshd = SSHD_CANDIDATES
            .iter()
            .copied()
            .find(|p| Utf8Path::new(p).exists())
            .ok_or_else(|| TestSshdError::Missing {
                program: "sshd".into(),
            })?;
        let dir = tempfile::Builder::new()
            .prefix("vsm-test-sshd-")
            .tempdir()
            .map_err(setup("create temporary directory"))?;
        let root =
            Utf8PathBuf::try_from(dir.path().to_path_buf()).map_err(|e| TestSshdError::Setup {
                step: "temporary directory path is not UTF-8".into(),
                source: e.into_io_error(),
            })?;
        keygen(&root.join("host_ed25519"))?;
        keygen(&root.join("client_ed25519"))?;
        let client_pub = fs::read_to_string(root.join("client_ed25519.pub"))
            .map_err(setup("read client key"))?;
        write_private(&root.join("authorized_keys"), client_pub.as_bytes(), 0o600)?;
        ensure_privsep_dir()?;
        let user = current_user()?;

        let mut last_log = String::new();
        let mut last_port = 0;
        // The free port is found by binding and releasing it; another process may take it in
        // between, so a failed start is retried on a new port.
        for _attempt in 0..3 {
            let port = free_port()?;
            let host_pub = fs::read_to_string(root.join("host_ed25519.pub"))
                .map_err(setup("read host key"))?;
            let known = format!("[127.0.0.1]:{port} {}\n", host_pub.trim());
            write_private(&root.join("known_hosts"), known.as_bytes(), 0o600)?;
            let config = sshd_config(&root, port, &user);
            write_private(&root.join("sshd_config"), config.as_bytes(), 0o600)?;
            let log_path = root.join("sshd.log");
            let log = fs::File::create(&log_path).map_err(setup("create sshd log"))?;
            let mut child = Command::new(sshd)
                .args(["-D", "-e", "-f", root.join("sshd_config").as_str()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .process_group(0)
                .spawn()
                .map_err(setup(format!("spawn {sshd}")))?;
            if wait_ready(&mut child, port) {
                return Ok(TestSshd {
                    child,
                    port,
                    user,
                    _dir: dir,
                    root,
                });
            }
            stop_group(&mut child);
            last_log = fs::read_to_string(&log_path).unwrap_or_default();
            last_port = port;
        }
        Err(TestSshdError::NotStarted {
            port: last_port,
            log: last_log,
        })
    }

    /// The address to connect to (`127.0.0.1`).
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user to log in as (the current user).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The client's private key (ed25519, no passphrase).
    pub fn identity(&self) -> Utf8PathBuf {
        self.root.join("client_ed25519")
    }

    /// A known-hosts file that lists this server's host key for `[127.0.0.1]:port`.
    pub fn known_hosts(&self) -> Utf8PathBuf {
        self.root.join("known_hosts")
    }

    /// The server's temporary directory (keys, config, log); removed on drop.
    pub fn dir(&self) -> &Utf8Path {
        &self.root
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("sshd.log")).unwrap_or_default()
    }

    /// An [`SshTarget`] for this server with strict host-key checking against [`Self::known_hosts`].
    pub fn target(&self) -> SshTarget {
        SshTarget::new(self.host(), self.user.clone(), self.identity())
            .with_port(self.port)
            .with_host_key_checking(HostKeyChecking::Strict {
                known_hosts: self.known_hosts(),
            })
            .with_connect_timeout(Duration::from_secs(5))
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        stop_group(&mut self.child);
        // `dir` removes itself when dropped after this.
    }
}

/// Wait until the server accepts TCP connections; `false` when it exited or timed out.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// SIGTERM the child's process group, then SIGKILL after a grace period; reap the child.
fn stop_group(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // SAFETY: kill(2) on the process group created for this child (process_group(0)); no memory
    // is shared with the call.
    unsafe {
        libc::kill(-pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let _ = child.wait();
}

fn sshd_config(root: &Utf8Path, port: u16, user: &str) -> String {
    format!(
        "# throwaway sshd for vsm tests\n\
         Port {port}\n\
         ListenAddress 127.0.0.1\n\
         AddressFamily inet\n\
         HostKey {root}/host_ed25519\n\
         PidFile none\n\
         AuthorizedKeysFile {root}/authorized_keys\n\
         AllowUsers {user}\n\
         StrictModes no\n\
         UsePAM no\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         HostbasedAuthentication no\n\
         X11Forwarding no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         UseDNS no\n\
         MaxStartups 100:30:200\n\
         MaxSessions 100\n\
         LogLevel ERROR\n\
         Subsystem sftp internal-sftp\n"
    )
}

fn keygen(path: &Utf8Path) -> Result<(), TestSshdError> {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "vsm-test",
            "-f",
            path.as_str(),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TestSshdError::Missing {
                program: "ssh-keygen".into(),
            },
            _ => TestSshdError::Setup {
                step: "run ssh-keygen".into(),
                source: e,
            },
        })?;
    if !out.status.success() {
        return Err(TestSshdError::Keygen {
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn write_private(path: &Utf8Path, contents: &[u8], mode: u32) -> Result<(), TestSshdError> {
    fs::write(path, contents).map_err(setup(format!("write {path}")))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(setup(format!("chmod {path}")))
}

/// sshd refuses to start without its privilege-separation directory; create it when we may.
fn ensure_privsep_dir() -> Result<(), TestSshdError> {
    let dir = Utf8Path::new("/run/sshd");
    if dir.exists() {
        return Ok(());
    }
    // SAFETY: geteuid(2) has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        fs::create_dir_all(dir).map_err(setup("create /run/sshd"))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(setup("chmod /run/sshd"))?;
    }
    // Non-root: sshd may still refuse; its log will say so.
    Ok(())
}

fn current_user() -> Result<String, TestSshdError> {
    let out = Command::new("id")
        .arg("-un")
        .stdin(Stdio::null())
        .output()
        .map_err(setup("run `id -un`"))?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || name.is_empty() {
        return Err(TestSshdError::Setup {
            step: "find the current user name".into(),
            source: io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    Ok(name)
}

fn free_port() -> Result<u16, TestSshdError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(setup("find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(setup("find a free port"))?
        .port();
    Ok(port)
}
