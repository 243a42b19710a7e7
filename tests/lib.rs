//! Support code for the end-to-end tests of vsm: finds (or builds) the real `vsm` binary, starts
//! a real manager process on a free loopback port in a temporary directory, runs `vsm` commands
//! as one of its users and stops everything again on drop, also when a test fails.
//!
//! The binary is `$VSM_BIN` when set (`cargo xtask e2e` sets it), else `target/debug/vsm`
//! built once per test process with `cargo build -p vsm-cli --bins`. This crate never talks to
//! the manager except through the binary: the tests see what a user sees.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod demo;
pub mod vmguest;
pub mod vmlab;

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The `vsm` binary under test (built on first use unless `$VSM_BIN` names one).
pub fn vsm_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("VSM_BIN").filter(|v| !v.is_empty()) {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "vsm-cli",
                "-p",
                "vsm-hypervisor",
                "--bins",
            ])
            // With the libvirt driver where it can be built (libvirt-dev, as `xtask deps`
            // installs), so the VM tests run the same binary.
            .args(if libvirt_buildable() {
                &["--features", "vsm-cli/libvirt"][..]
            } else {
                &[][..]
            })
            .output()
            .expect("could not run cargo to build the vsm binary");
        assert!(
            out.status.success(),
            "building vsm failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = target_dir().join("debug").join("vsm");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// Whether the `libvirt` feature can be built here (pkg-config finds libvirt).
pub fn libvirt_buildable() -> bool {
    Command::new("pkg-config")
        .args(["--exists", "libvirt"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The cargo target directory the tests run from.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        };
    }
    // target/debug/deps/e2e-HASH → target
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .filter(|t| t.join("debug").exists())
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Which hypervisor driver the suite uses where a test allows both (`VSM_E2E_DRIVER`).
pub fn driver() -> String {
    std::env::var("VSM_E2E_DRIVER").unwrap_or_else(|_| "local".into())
}

/// Whether slow tests run (`VSM_SLOW_TESTS=1`).
pub fn slow_tests() -> bool {
    std::env::var("VSM_SLOW_TESTS").is_ok_and(|v| v == "1")
}

/// The result of one `vsm` command.
pub struct Output {
    /// The command line as a user would type it.
    pub cmdline: String,
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmdline)?;
        writeln!(f, "exit code {}", self.code)?;
        if !self.stdout.is_empty() {
            writeln!(f, "--- stdout\n{}", self.stdout.trim_end())?;
        }
        if !self.stderr.is_empty() {
            writeln!(f, "--- stderr\n{}", self.stderr.trim_end())?;
        }
        Ok(())
    }
}

impl Output {
    /// Asserts the exit code, printing the command and its output when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "\nunexpected exit code (wanted {expected}):\n{self}"
        );
        self
    }

    /// Asserts success (0).
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    /// Standard output as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("\nstdout is not JSON ({e}):\n{self}"))
    }

    /// The `error` object of a JSON error answer.
    #[track_caller]
    pub fn error(&self) -> Value {
        let v = self.json();
        v.get("error")
            .cloned()
            .unwrap_or_else(|| panic!("\nno error object in the output:\n{self}"))
    }

    /// Asserts that standard error mentions `text`.
    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "\nstderr does not mention {text:?}:\n{self}"
        );
        self
    }

    /// Asserts that standard output mentions `text`.
    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "\nstdout does not mention {text:?}:\n{self}"
        );
        self
    }
}

/// Runs `vsm args` with a clean environment plus `envs`; `stdin` is fed to it.
pub fn run_vsm(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    run_vsm_in(None, args, envs, stdin)
}

/// Like [`run_vsm`], inside the network namespace `netns` when given (`ip netns exec`), so
/// that the manager and the CLI reach what lives there (a test's VM network).
pub fn run_vsm_in(
    netns: Option<&str>,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    use std::io::Write;
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(vsm_bin());
            c
        }
        None => Command::new(vsm_bin()),
    };
    cmd.args(args)
        .env_remove("VSM_URL")
        .env_remove("VSM_TOKEN")
        .env_remove("VSM_OUTPUT")
        .env_remove("VSM_DIR")
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("could not run vsm");
    if let Some(input) = stdin
        && let Some(mut pipe) = child.stdin.take()
    {
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("could not wait for vsm");
    Output {
        cmdline: std::iter::once("vsm")
            .chain(args.iter().copied())
            .map(shell_word)
            .collect::<Vec<_>>()
            .join(" "),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,%@+".contains(c))
    {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// A user of a manager: an account with its own session directory.
pub struct User {
    /// The account name.
    pub name: String,
    /// A file holding the account's password.
    pub password_file: PathBuf,
    config_dir: PathBuf,
}

/// A real manager process in a temporary state directory, stopped on drop.
pub struct Manager {
    /// The temporary directory holding everything of this manager.
    pub root: tempfile::TempDir,
    /// The state directory.
    pub dir: PathBuf,
    /// The API URL.
    pub url: String,
    /// The manager's pid.
    pub pid: u32,
    /// The first administrator (logged in).
    pub admin: User,
    /// The network namespace every `vsm` command of this manager runs in, if any.
    netns: Option<String>,
    /// State directories of local hosts added to the pool (`vsm host add --driver local`),
    /// whose servers are killed on drop too.
    local_hosts: std::sync::Mutex<Vec<PathBuf>>,
}

impl User {
    /// The directory holding the user's saved sessions (`VSM_CONFIG_DIR`).
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }
}

/// How [`Manager::start_with`] starts a manager.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Run the manager and every `vsm` command inside this network namespace.
    pub netns: Option<String>,
    /// More arguments for `vsm manager start` (e.g. `--libvirt-uri URI`).
    pub start_args: Vec<String>,
}

impl Manager {
    /// Initializes a state directory and starts a manager on a free loopback port (detached),
    /// then logs the administrator `root` in.
    pub fn start() -> Manager {
        Manager::start_with(StartOptions::default())
    }

    /// Like [`Manager::start`], as `options` say.
    pub fn start_with(options: StartOptions) -> Manager {
        Manager::start_configured(options, &[])
    }

    /// Like [`Manager::start_with`], with `settings` written into the state directory's
    /// `config.yaml` between init and start, as `("section.key", "value")` (e.g.
    /// `("monitor.host_probe_ms", "100")`); each key must be one `vsm manager init` wrote.
    pub fn start_configured(options: StartOptions, settings: &[(&str, &str)]) -> Manager {
        let netns = options.netns.clone();
        let ns = netns.as_deref();
        let root = tempfile::Builder::new()
            .prefix("vsm-e2e-")
            .tempdir()
            .expect("temp dir");
        let dir = root.path().join("state");
        let admin = new_user(root.path(), "root");
        let pw = admin.password_file.to_string_lossy().into_owned();
        let dir_s = dir.to_string_lossy().into_owned();
        run_vsm_in(
            ns,
            &[
                "manager",
                "init",
                "--dir",
                &dir_s,
                "--admin",
                "root",
                "--password-file",
                &pw,
                "--listen",
                "127.0.0.1:0",
                "--output",
                "json",
            ],
            &[],
            None,
        )
        .ok();
        if !settings.is_empty() {
            set_config(&dir.join("config.yaml"), settings);
        }
        let mut start: Vec<&str> = vec![
            "manager", "start", "--dir", &dir_s, "--detach", "--output", "json",
        ];
        start.extend(options.start_args.iter().map(String::as_str));
        let started = run_vsm_in(ns, &start, &[], None);
        started.ok();
        let v = started.json();
        let url = v["url"].as_str().expect("url in start output").to_owned();
        let pid = v["pid"].as_u64().expect("pid in start output") as u32;
        let m = Manager {
            root,
            dir,
            url,
            pid,
            admin,
            netns,
            local_hosts: std::sync::Mutex::new(Vec::new()),
        };
        m.login(&m.admin).ok();
        m
    }

    /// Initializes a state directory on the PostgreSQL database `store` (empty), with the
    /// definition snapshots in the test directory's `shared-definitions` (where a peer reaches
    /// them too), starts the manager on a free loopback port (detached) and logs `root` in.
    pub fn start_on_postgres(store: &str) -> Manager {
        let root = tempfile::Builder::new()
            .prefix("vsm-e2e-")
            .tempdir()
            .expect("temp dir");
        let dir = root.path().join("state");
        let admin = new_user(root.path(), "root");
        let pw = admin.password_file.to_string_lossy().into_owned();
        let dir_s = dir.to_string_lossy().into_owned();
        let defs = root.path().join("shared-definitions");
        run_vsm(
            &[
                "manager",
                "init",
                "--dir",
                &dir_s,
                "--admin",
                "root",
                "--password-file",
                &pw,
                "--listen",
                "127.0.0.1:0",
                "--store",
                store,
                "--definitions-dir",
                &defs.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
            None,
        )
        .ok();
        Manager::start_in(root, dir, admin)
    }

    /// Another manager of this one's PostgreSQL database on this host: a state directory of its
    /// own with the same `config.yaml`, sharing this manager's local-driver directory (its
    /// `local` is a symbolic link to this one's), started on a free loopback port (detached);
    /// its `root` logs in (a standby sends the login to the active manager).
    pub fn start_peer(&self) -> Manager {
        let root = tempfile::Builder::new()
            .prefix("vsm-e2e-peer-")
            .tempdir()
            .expect("temp dir");
        let dir = root.path().join("state");
        std::fs::create_dir_all(&dir).expect("peer state dir");
        std::fs::copy(self.dir.join("config.yaml"), dir.join("config.yaml")).expect("config");
        std::fs::create_dir_all(self.dir.join("local")).expect("local dir");
        std::os::unix::fs::symlink(self.dir.join("local"), dir.join("local"))
            .expect("link the local driver's directory");
        let admin = new_user(root.path(), "root");
        Manager::start_in(root, dir, admin)
    }

    fn start_in(root: tempfile::TempDir, dir: PathBuf, admin: User) -> Manager {
        let dir_s = dir.to_string_lossy().into_owned();
        let started = run_vsm(
            &[
                "manager",
                "start",
                "--dir",
                &dir_s,
                "--detach",
                "--listen",
                "127.0.0.1:0",
                "--output",
                "json",
            ],
            &[],
            None,
        );
        started.ok();
        let v = started.json();
        let url = v["url"].as_str().expect("url in start output").to_owned();
        let pid = v["pid"].as_u64().expect("pid in start output") as u32;
        let m = Manager {
            root,
            dir,
            url,
            pid,
            admin,
            netns: None,
            local_hosts: std::sync::Mutex::new(Vec::new()),
        };
        m.login(&m.admin).ok();
        m
    }

    /// Writes `text` to the file `rel` under the test's directory (parents created) and returns
    /// its path as a string.
    pub fn write(&self, rel: &str, text: &str) -> String {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the parent directory");
        }
        std::fs::write(&path, text).expect("write a test file");
        path.to_string_lossy().into_owned()
    }

    /// A template directory `rel` for the local driver whose servers are plain long-running
    /// processes (no network, no extra programs) that stop at once on SIGTERM; returns its path.
    pub fn sleep_template(&self, rel: &str) -> String {
        self.write(
            &format!("{rel}/template.yaml"),
            "format: 1\nboot: [sh, -c, \"exec sleep 100000\"]\nstop_timeout_seconds: 2\n",
        );
        self.path(rel).to_string_lossy().into_owned()
    }

    /// As `user`, registers the template `t` (a server that sleeps: [`Manager::sleep_template`])
    /// and creates the unit `unit` from `unit_yaml` (written to `<unit>.yaml`).
    pub fn sleeper_unit(&self, user: &User, unit: &str, unit_yaml: &str) {
        let tpl = self.sleep_template("template");
        self.vsm(
            user,
            &[
                "template", "register", "t", "--driver", "local", "--source", &tpl,
            ],
        )
        .ok();
        let file = self.write(&format!("{unit}.yaml"), unit_yaml);
        self.vsm(user, &["unit", "create", unit, "--file", &file])
            .ok();
    }

    /// The state directory as a string.
    pub fn dir_str(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    /// Runs `vsm args` as `user` against this manager (`--output json` unless `args` says).
    pub fn vsm(&self, user: &User, args: &[&str]) -> Output {
        self.vsm_with(user, args, None)
    }

    /// Like [`Manager::vsm`], feeding `stdin`.
    pub fn vsm_with(&self, user: &User, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        if !args.iter().any(|a| *a == "--output" || *a == "-o") {
            all.extend(["--output", "json"]);
        }
        let cfg = user.config_dir.to_string_lossy().into_owned();
        run_vsm_in(
            self.netns.as_deref(),
            &all,
            &[("VSM_URL", &self.url), ("VSM_CONFIG_DIR", &cfg)],
            stdin,
        )
    }

    /// A `vsm` command as `user` against this manager, not started (for running one in the
    /// background, e.g. to kill the manager under it); output JSON, stdout and stderr piped.
    pub fn command(&self, user: &User, args: &[&str]) -> Command {
        let mut cmd = Command::new(vsm_bin());
        cmd.args(args)
            .args(["--output", "json"])
            .env_remove("VSM_TOKEN")
            .env_remove("VSM_OUTPUT")
            .env_remove("VSM_DIR")
            .env("NO_COLOR", "1")
            .env("VSM_URL", &self.url)
            .env("VSM_CONFIG_DIR", &user.config_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Logs `user` in.
    pub fn login(&self, user: &User) -> Output {
        let pw = user.password_file.to_string_lossy().into_owned();
        self.vsm(
            user,
            &["login", "--user", &user.name, "--password-file", &pw],
        )
    }

    /// A user without an account yet (its password file and session directory exist).
    pub fn user(&self, name: &str) -> User {
        new_user(self.root.path(), name)
    }

    /// Adds an account with `role` (as the administrator) and logs it in.
    pub fn add_account(&self, name: &str, role: &str) -> User {
        let user = self.user(name);
        let pw = user.password_file.to_string_lossy().into_owned();
        self.vsm(
            &self.admin,
            &[
                "account",
                "add",
                name,
                "--role",
                role,
                "--password-file",
                &pw,
            ],
        )
        .ok();
        self.login(&user).ok();
        user
    }

    /// A path inside this manager's temporary directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Has the servers of the local host with state directory `dir` killed when this manager is
    /// dropped (they are not under its own state directory).
    pub fn track_local_host(&self, dir: &Path) {
        self.local_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(dir.to_path_buf());
    }

    /// Stops the manager now (as `vsm manager stop` does).
    pub fn stop(&self) -> Output {
        run_vsm_in(
            self.netns.as_deref(),
            &[
                "manager",
                "stop",
                "--dir",
                &self.dir_str(),
                "--output",
                "json",
            ],
            &[],
            None,
        )
    }
}

fn new_user(root: &Path, name: &str) -> User {
    let home = root.join("users").join(name);
    std::fs::create_dir_all(&home).expect("user dir");
    let password_file = home.join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
    User {
        name: name.to_owned(),
        password_file,
        config_dir: home.join("config"),
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let out = self.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        // SAFETY: kill(pid, 0) only checks whether the process exists.
        while unsafe { libc::kill(self.pid as libc::pid_t, 0) } == 0 {
            if Instant::now() >= deadline {
                eprintln!("the manager did not stop; killing it:\n{out}");
                // SAFETY: sends SIGKILL to the manager process this fixture started.
                unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Servers outlive their manager by design; a test must not leave any behind.
        kill_local_servers(&self.dir);
        for dir in self
            .local_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            kill_local_host_servers(dir);
        }
    }
}

/// Replaces the values of `settings` (`("section.key", "value")`) in the `config.yaml` that
/// `vsm manager init` wrote; panics when a key is not there.
fn set_config(file: &Path, settings: &[(&str, &str)]) {
    let text = std::fs::read_to_string(file).expect("read config.yaml");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (key, value) in settings {
        let (section, name) = key.split_once('.').expect("a setting is section.key");
        let start = lines
            .iter()
            .position(|l| l.trim_end() == format!("{section}:"))
            .unwrap_or_else(|| panic!("no section {section} in {}", file.display()));
        let at = lines[start + 1..]
            .iter()
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .position(|l| l.trim_start().starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no setting {key} in {}", file.display()));
        lines[start + 1 + at] = format!("  {name}: {value}");
    }
    std::fs::write(file, lines.join("\n") + "\n").expect("write config.yaml");
}

/// Kills every process of every local-driver server of the state directory `dir`.
pub fn kill_local_servers(dir: &Path) -> usize {
    let Some(local) = camino::Utf8Path::from_path(&dir.join("local")).map(|p| p.to_owned()) else {
        return 0;
    };
    if !local.exists() {
        return 0;
    }
    vsm_hypervisor::local::LocalDriver::open(local, Default::default())
        .map(|d| d.kill_all_now())
        .unwrap_or(0)
}

/// Kills every process of every server of the local host whose state directory is `dir` (as
/// given to `vsm host add --driver local --dir`); nothing when it holds no machines (it is
/// not created).
pub fn kill_local_host_servers(dir: &Path) -> usize {
    if !dir.join("machines").is_dir() {
        return 0;
    }
    let Some(dir) = camino::Utf8Path::from_path(dir).map(|p| p.to_owned()) else {
        return 0;
    };
    vsm_hypervisor::local::LocalDriver::open(dir, Default::default())
        .map(|d| d.kill_all_now())
        .unwrap_or(0)
}

/// Replaces what changes from run to run in rendered output (ports, temporary paths, relative
/// times, durations, digests) with stable placeholders, for snapshots.
pub fn redact(text: &str, temp_root: &Path) -> String {
    let text = text.replace(&*temp_root.to_string_lossy(), "[tmp]");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                if let Some((host, port)) = w.rsplit_once(':')
                    && host.starts_with("127.")
                    && !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                {
                    return format!("{host}:[port]");
                }
                let timeish = w.len() > 1
                    && w[..w.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.')
                    && w.ends_with(['s', 'm', 'h', 'd']);
                if timeish
                    || w.contains("m0")
                        && w.ends_with('s')
                        && w.bytes().next().is_some_and(|b| b.is_ascii_digit())
                {
                    return "[t]".into();
                }
                w.to_owned()
            })
            .collect();
        out.push_str(
            &words
                .join(" ")
                .replace("[t] ago", "[ago]")
                .replace("just now", "[ago]"),
        );
        out.push('\n');
    }
    out
}

/// A minimal HTTP/1.0 GET of `path` from `addr` (`host:port`): the status line and the body
/// (5 s deadlines to connect and to read).
///
/// # Errors
/// A sentence naming the address, when it cannot connect, send or read.
pub fn http_get(addr: &str, path: &str) -> Result<(String, String), String> {
    let mut stream = std::net::TcpStream::connect_timeout(
        &addr
            .parse()
            .map_err(|e| format!("bad address {addr}: {e}"))?,
        Duration::from_secs(5),
    )
    .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok((
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_ports_and_times() {
        let root = Path::new("/tmp/x");
        let got = redact("web-1  127.0.0.2:41234  5s ago  1.2s  /tmp/x/state", root);
        assert_eq!(got, "web-1  127.0.0.2:[port]  [ago]  [t]  [tmp]/state\n");
    }

    #[test]
    fn command_lines_are_quoted_like_a_shell() {
        assert_eq!(shell_word("unit"), "unit");
        assert_eq!(shell_word("a b"), "'a b'");
    }
}
