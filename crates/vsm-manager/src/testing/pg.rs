//! A throwaway PostgreSQL server on loopback for tests ([`PgServer`]).
//!
//! Owns: finding the server binaries (`VSM_PG_BIN`, else the newest
//! `/usr/lib/postgresql/<major>/bin` of Debian's packages, else `$PATH`), `initdb` into a
//! temporary directory (trust authentication, which its `pg_hba.conf` grants only to the
//! socket and to 127.0.0.1/::1), running `postgres` on a free 127.0.0.1 port with its socket in
//! that directory, creating the test's database, and stopping the server and removing the
//! directory on drop — also while a test panics. PostgreSQL refuses to run as root, so a root
//! process runs `initdb` and `postgres` as the `postgres` user (Debian's package creates it),
//! else `nobody`, and hands the directory to that user.
//!
//! A server left behind by a killed test process (its directory `vsm-pg-<pid>-…` names a
//! process that is gone) is killed and its directory removed by the next [`PgServer::start`].
//!
//! Must not: touch the system's clusters (`/etc/postgresql`, `/var/lib/postgresql`,
//! `/var/run/postgresql`), listen beyond 127.0.0.1, or put a password anywhere.
//!
//! Missing preconditions (no server binaries, no unprivileged user for a root process) make
//! [`PgServer::start`] return a [`PgSkip`] — or panic under `CI=true`
//! ([`vsm_hypervisor::testing::ci`]), where these tests must run. A failure after the
//! preconditions held is a real failure and panics with the server's log.

use std::fmt;
use std::fs;
use std::future::Future;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where Debian's packages put each major version's server binaries (`<major>/bin`).
const DEBIAN_LIB: &str = "/usr/lib/postgresql";
/// The superuser `initdb` creates; every URL logs in as it.
const SUPERUSER: &str = "vsm";
/// The database created for the test.
const DATABASE: &str = "vsm_test";
/// Prefix of the temporary directories: `vsm-pg-<pid of the test process>-<random>`.
const PREFIX: &str = "vsm-pg-";
/// How long the server gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before the server's process group is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to start on a free port (another process may take it between probe and bind).
const PORT_ATTEMPTS: usize = 5;

/// Why the PostgreSQL fixture cannot run here (printed as `skipped: <reason>`).
#[derive(Debug, Clone)]
pub struct PgSkip {
    /// The reason, for a human.
    pub reason: String,
}

impl fmt::Display for PgSkip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A [`PgSkip`] with `reason` — or a panic with it under `CI=true`, where the tests must run.
#[track_caller]
fn skip<T>(reason: impl Into<String>) -> Result<T, PgSkip> {
    let reason = reason.into();
    if vsm_hypervisor::testing::ci() {
        panic!("CI=true, but the PostgreSQL test server cannot run here: {reason}");
    }
    Err(PgSkip { reason })
}

/// A running throwaway PostgreSQL server on 127.0.0.1 with one database for the test.
/// Stopped (fast shutdown, then its whole process group killed after a time-out) and its
/// directory removed when dropped.
#[derive(Debug)]
pub struct PgServer {
    /// The postmaster, the leader of its own process group.
    child: Child,
    port: u16,
    /// `<dir>/data`, as the server reports it.
    data: PathBuf,
    /// Held so the cluster lives exactly as long as the server; removed after it stopped.
    dir: Option<tempfile::TempDir>,
}

/// The server binaries of one installation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binaries {
    initdb: PathBuf,
    postgres: PathBuf,
}

impl PgServer {
    /// Runs `initdb` and `postgres` in a new temporary directory, waits until the server
    /// accepts connections and creates the test's database. Blocks for about a second; may be
    /// called from inside a Tokio runtime (its client work runs on a thread of its own).
    ///
    /// # Errors
    /// A [`PgSkip`] when PostgreSQL is not installed or a root process has no unprivileged user
    /// to run it as (under `CI=true` this panics instead).
    ///
    /// # Panics
    /// When the server fails although the preconditions held, with its log.
    pub fn start() -> Result<PgServer, PgSkip> {
        PgServer::start_with(false)
    }

    /// [`PgServer::start`] with PostgreSQL's durable defaults (fsync, synchronous commit, full
    /// page writes, 128 MB of shared buffers) instead of a throwaway test cluster's settings:
    /// what a benchmark compares with SQLite's durable commits.
    ///
    /// # Errors
    /// As [`PgServer::start`].
    pub fn start_durable() -> Result<PgServer, PgSkip> {
        PgServer::start_with(true)
    }

    fn start_with(durable: bool) -> Result<PgServer, PgSkip> {
        let Some(bin) = binaries() else {
            return skip(format!(
                "PostgreSQL's server binaries (initdb, postgres) are not in $VSM_PG_BIN, \
                 {DEBIAN_LIB}/<major>/bin or $PATH: run `cargo xtask deps` (installs postgresql)"
            ));
        };
        let owner = if is_root() {
            match ["postgres", "nobody"].iter().find_map(|u| lookup_user(u)) {
                Some(ids) => Some(ids),
                None => {
                    return skip(
                        "running as root, and neither a `postgres` nor a `nobody` user exists \
                         to run PostgreSQL as (it refuses to run as root)",
                    );
                }
            }
        } else {
            None
        };
        reap_stale(&std::env::temp_dir());

        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir()
            .unwrap_or_else(|e| panic!("PostgreSQL test server: temporary directory: {e}"));
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        let sock = root.join("sock");
        fs::create_dir(&sock).unwrap_or_else(|e| panic!("create {}: {e}", sock.display()));
        fs::set_permissions(&sock, fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", sock.display()));
        if let Some((uid, gid)) = owner {
            for path in [&root, &sock] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
            }
        }

        let as_owner = |program: &Path| {
            let mut cmd = Command::new(program);
            if let Some((uid, gid)) = owner {
                // std drops the supplementary groups too when a root process sets the uid.
                cmd.uid(uid).gid(gid);
            }
            cmd.current_dir(&root).stdin(Stdio::null());
            cmd
        };
        // A copy of this process's one `initdb` cluster (a tenth of initdb's second).
        let template = template(&bin, owner);
        let out = as_owner(Path::new("cp"))
            .arg("-a")
            .arg(&template)
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("run cp: {e}"));
        assert!(
            out.status.success(),
            "copy the template cluster {} failed ({}): {}",
            template.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );

        let log_path = root.join("postgres.log");
        let mut last_log = String::new();
        for _attempt in 0..PORT_ATTEMPTS {
            let port = free_port();
            let log = fs::File::create(&log_path)
                .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
            let err = log.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
            let child = as_owner(&bin.postgres)
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(&sock)
                .args(["-p", &port.to_string()])
                .args(["-c", "listen_addresses=127.0.0.1"])
                // A test cluster: nothing to keep across a power loss, little memory each, so
                // that many run side by side (unless `durable`: a benchmark's).
                .args(if durable {
                    &["-c", "shared_buffers=128MB"][..]
                } else {
                    &[
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                        "-c",
                        "shared_buffers=16MB",
                    ][..]
                })
                .stdout(log)
                .stderr(err)
                // Its own process group, so that killing the group takes every backend along.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("run {}: {e}", bin.postgres.display()));
            let mut server = PgServer {
                child,
                port,
                data: data.clone(),
                dir: None,
            };
            match server.wait_ready() {
                Ok(()) => {
                    server.dir = Some(dir);
                    server.admin(&format!("CREATE DATABASE {DATABASE}"));
                    return Ok(server);
                }
                Err(log) if log.contains("could not bind") || log.contains("already in use") => {
                    // Another process took the port: try another one.
                    drop(server);
                    last_log = log;
                }
                Err(log) => {
                    drop(server);
                    panic!("PostgreSQL did not start on 127.0.0.1:{port}:\n{log}");
                }
            }
        }
        panic!("PostgreSQL found no free port in {PORT_ATTEMPTS} attempts:\n{last_log}");
    }

    /// Starts a server, or prints `skipped: <reason>` and returns `None` (panics under
    /// `CI=true` instead).
    pub fn start_or_skip() -> Option<PgServer> {
        match PgServer::start() {
            Ok(server) => Some(server),
            Err(skip) => {
                eprintln!("skipped: {skip}");
                None
            }
        }
    }

    /// The URL of the test's database: `postgres://vsm@127.0.0.1:PORT/vsm_test`.
    pub fn url(&self) -> String {
        self.url_of(DATABASE)
    }

    /// Creates another empty database `name` (a plain identifier) and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "database name {name:?} is not a plain identifier"
        );
        self.admin(&format!("CREATE DATABASE {name}"));
        self.url_of(name)
    }

    /// The port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory holding the cluster (`data/`), its socket (`sock/`) and its log
    /// (`postgres.log`); removed when the server is dropped.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or_else(|| self.data.parent().unwrap_or(&self.data), |d| d.path())
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir().join("postgres.log")).unwrap_or_default()
    }

    /// Connects to the test's database with `tokio-postgres`, driving the connection on a task
    /// of the current Tokio runtime.
    ///
    /// # Panics
    /// When the connection fails, or outside a Tokio runtime.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url()).await.unwrap_or_else(|e| {
            panic!("connect to the PostgreSQL test server: {e}\n{}", self.log())
        })
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `sql` on the `postgres` database, panicking with the log when it fails.
    fn admin(&self, sql: &str) {
        let url = self.url_of("postgres");
        let sql = sql.to_owned();
        let res = on_own_runtime(async move {
            let client = connect(&url).await?;
            client.batch_execute(&sql).await
        });
        if let Err(e) = res {
            panic!("PostgreSQL test server: {e}\n{}", self.log());
        }
    }

    /// Waits until this server (not another one that holds the port) answers a query, or
    /// returns its log when it exits or times out.
    fn wait_ready(&mut self) -> Result<(), String> {
        let url = self.url_of("postgres");
        let deadline = Instant::now() + START_TIMEOUT;
        let log_path = self.data.with_file_name("postgres.log");
        let read_log = || fs::read_to_string(&log_path).unwrap_or_default();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("postgres exited ({status}):\n{}", read_log()));
            }
            let url = url.clone();
            let answer = on_own_runtime(async move {
                let client = connect(&url).await?;
                let row = client
                    .query_one("SELECT current_setting('data_directory')", &[])
                    .await?;
                Ok::<String, tokio_postgres::Error>(row.get(0))
            });
            match answer {
                Ok(dir) if Path::new(&dir) == self.data => return Ok(()),
                Ok(other) => {
                    // Another cluster answered on the port: ours cannot bind it and exits.
                    if Instant::now() > deadline {
                        return Err(format!("port taken by the cluster in {other}"));
                    }
                }
                Err(_) if Instant::now() > deadline => {
                    return Err(format!("no answer in {START_TIMEOUT:?}:\n{}", read_log()));
                }
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// The certificates of a test server that speaks TLS ([`PgServer::enable_tls`]).
#[derive(Debug, Clone)]
pub struct PgTlsFiles {
    /// The PEM file of the CA that signed the server's certificate (for 127.0.0.1 and
    /// localhost).
    pub ca: PathBuf,
    /// The PEM file of another CA, which signed nothing the server shows.
    pub other_ca: PathBuf,
}

impl PgServer {
    /// Makes the server accept TLS (as well as plain connections): a throwaway CA and a server
    /// certificate for `127.0.0.1` and `localhost` made with `openssl` in the server's
    /// directory, `ssl = on` set and the configuration reloaded (no restart).
    ///
    /// # Panics
    /// When `openssl` fails or the server does not take the certificate, with the log.
    pub fn enable_tls(&self) -> PgTlsFiles {
        let dir = self.dir().join("tls");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("run openssl (cargo xtask deps installs it): {e}"));
            assert!(
                out.status.success(),
                "openssl {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (name, cn) in [("ca", "vsm test CA"), ("other-ca", "another vsm test CA")] {
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            let (key, pem, subj) = (
                format!("{name}.key"),
                format!("{name}.pem"),
                format!("/CN={cn}"),
            );
            args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
            openssl(&args);
        }
        fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap_or_else(|e| panic!("write server.ext: {e}"));
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(&args);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        // The server reads its key only when its user owns it and nobody else may read it.
        let key = dir.join("server.key");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", key.display()));
        if is_root()
            && let Some((uid, gid)) = ["postgres", "nobody"].iter().find_map(|u| lookup_user(u))
        {
            for path in [dir.clone(), key.clone(), dir.join("server.pem")] {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
            }
        }
        // One statement each: a multi-statement string is one transaction, which ALTER
        // SYSTEM refuses.
        self.admin(&format!(
            "ALTER SYSTEM SET ssl_cert_file = '{}'",
            dir.join("server.pem").display()
        ));
        self.admin(&format!(
            "ALTER SYSTEM SET ssl_key_file = '{}'",
            key.display()
        ));
        self.admin("ALTER SYSTEM SET ssl = on");
        self.admin("SELECT pg_reload_conf()");
        // The reload is asynchronous: wait until new sessions see it.
        let deadline = Instant::now() + START_TIMEOUT;
        let url = self.url_of("postgres");
        loop {
            let url = url.clone();
            let on = on_own_runtime(async move {
                let client = connect(&url).await?;
                let row = client.query_one("SHOW ssl", &[]).await?;
                Ok::<String, tokio_postgres::Error>(row.get(0))
            });
            if matches!(on.as_deref(), Ok("on")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not turn TLS on ({on:?}):\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        PgTlsFiles {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other-ca.pem"),
        }
    }
}

/// Where Debian's `pgbouncer` package puts the pooler.
const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

/// A PgBouncer in **transaction** mode in front of one database of a [`PgServer`]
/// ([`PgServer::pooler`]): each transaction goes to whichever server connection is free, so
/// session state (advisory locks, prepared statements) does not stay with a client — what the
/// manager must refuse to run behind. Listens on a free 127.0.0.1 port, runs as the server's
/// unprivileged user under root (PgBouncer refuses root, too), and stops on drop.
#[derive(Debug)]
pub struct PgPooler {
    child: Child,
    port: u16,
    database: String,
    _dir: tempfile::TempDir,
}

impl PgPooler {
    /// The URL of the pooled database: `postgres://vsm@127.0.0.1:PORT/<database>`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{}",
            self.port, self.database
        )
    }
}

impl Drop for PgPooler {
    fn drop(&mut self) {
        // SIGINT: PgBouncer's "safe shutdown" waits for clients; SIGTERM stops at once.
        signal(self.child.id(), libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl PgServer {
    /// Runs a PgBouncer in transaction mode in front of database `database` (made with
    /// [`PgServer::create_database`]), waits until it answers and returns it.
    ///
    /// # Errors
    /// A [`PgSkip`] when PgBouncer is not installed (`cargo xtask deps` installs Debian's
    /// `pgbouncer`; under `CI=true` this panics instead).
    ///
    /// # Panics
    /// When it does not start although installed, with its log.
    pub fn pooler(&self, database: &str) -> Result<PgPooler, PgSkip> {
        if !Path::new(PGBOUNCER).is_file() {
            return skip(format!(
                "PgBouncer is not installed ({PGBOUNCER}): run `cargo xtask deps` (installs pgbouncer)"
            ));
        }
        let owner = if is_root() {
            ["postgres", "nobody"].iter().find_map(|u| lookup_user(u))
        } else {
            None
        };
        let mut last = String::new();
        for _attempt in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix(&format!("{PREFIX}{}-bouncer-", std::process::id()))
                .tempdir()
                .unwrap_or_else(|e| panic!("PgBouncer: temporary directory: {e}"));
            let root = dir.path().to_path_buf();
            let log_path = root.join("pgbouncer.log");
            let ini = root.join("pgbouncer.ini");
            let port = free_port();
            fs::write(
                &ini,
                format!(
                    "[databases]\n{database} = host=127.0.0.1 port={server} dbname={database} user={SUPERUSER}\n\
                     [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                     auth_type = any\npool_mode = transaction\ndefault_pool_size = 4\n\
                     logfile = {log}\npidfile = {pid}\nignore_startup_parameters = extra_float_digits,options\n",
                    server = self.port,
                    log = log_path.display(),
                    pid = root.join("pgbouncer.pid").display(),
                ),
            )
            .unwrap_or_else(|e| panic!("write {}: {e}", ini.display()));
            if let Some((uid, gid)) = owner {
                for path in [&root, &ini] {
                    std::os::unix::fs::chown(path, Some(uid), Some(gid))
                        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
                }
            }
            let mut cmd = Command::new(PGBOUNCER);
            if let Some((uid, gid)) = owner {
                cmd.uid(uid).gid(gid);
            }
            let child = cmd
                .arg(&ini)
                .current_dir(&root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, as the postmaster: `reap_stale` kills the group.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("run {PGBOUNCER}: {e}"));
            let mut pooler = PgPooler {
                child,
                port,
                database: database.to_owned(),
                _dir: dir,
            };
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                let url = pooler.url();
                let answer =
                    on_own_runtime(
                        async move { connect(&url).await?.simple_query("SELECT 1").await },
                    );
                if answer.is_ok() {
                    return Ok(pooler);
                }
                if !matches!(pooler.child.try_wait(), Ok(None)) {
                    // Exited (the port was taken since?): another port.
                    last = fs::read_to_string(&log_path).unwrap_or_default();
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "PgBouncer did not answer on 127.0.0.1:{port} in {START_TIMEOUT:?}:\n{}",
                    fs::read_to_string(&log_path).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        panic!("PgBouncer did not start in {PORT_ATTEMPTS} attempts:\n{last}");
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id();
            // SIGINT is PostgreSQL's fast shutdown: sessions are ended, transactions rolled
            // back, and the postmaster exits after every backend did.
            signal(pid, libc::SIGINT);
            let deadline = Instant::now() + STOP_TIMEOUT;
            loop {
                match self.child.try_wait() {
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Ok(None) => {
                        signal_group(pid, libc::SIGKILL);
                        let _ = self.child.wait();
                        break;
                    }
                    _ => break,
                }
            }
        }
        // The directory (TempDir's own drop) only once the server is gone.
        self.dir.take();
    }
}

/// The root of this process's template cluster, once made.
static TEMPLATE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The data directory of this process's template cluster: `initdb` runs once per test process
/// (in `vsm-pg-<pid>-template-…`, owned by `owner`) and every server starts on a copy. It is
/// removed at exit, or by the next process's [`reap_stale`] when this one is killed.
fn template(bin: &Binaries, owner: Option<(u32, u32)>) -> PathBuf {
    let mut made = TEMPLATE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(root) = made.as_ref() {
        return root.join("data");
    }
    let root = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-template-", std::process::id()))
        .tempdir()
        .unwrap_or_else(|e| panic!("PostgreSQL test server: temporary directory: {e}"))
        .keep();
    let remove = |e: String| -> ! {
        let _ = fs::remove_dir_all(&root);
        panic!("{e}");
    };
    if let Some((uid, gid)) = owner
        && let Err(e) = std::os::unix::fs::chown(&root, Some(uid), Some(gid))
    {
        remove(format!("chown {}: {e}", root.display()));
    }
    let mut cmd = Command::new(&bin.initdb);
    if let Some((uid, gid)) = owner {
        // std drops the supplementary groups too when a root process sets the uid.
        cmd.uid(uid).gid(gid);
    }
    let out = cmd
        .current_dir(&root)
        .arg("-D")
        .arg(root.join("data"))
        .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
        .args(["--no-sync", "--no-instructions"])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => remove(format!(
            "initdb failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => remove(format!("run {}: {e}", bin.initdb.display())),
    }
    extern "C" fn remove_template() {
        let made = TEMPLATE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(root) = made.as_ref() {
            let _ = fs::remove_dir_all(root);
        }
    }
    // SAFETY: registers a plain function without arguments, as atexit requires.
    unsafe { libc::atexit(remove_template) };
    let data = root.join("data");
    *made = Some(root);
    data
}

/// Connects to `url`, spawning the connection on the current runtime.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(2));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs `fut` to completion on a current-thread runtime of its own thread, so that the fixture
/// works from plain tests and from inside a Tokio runtime alike.
fn on_own_runtime<T: Send>(fut: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("tokio runtime: {e}"))
                .block_on(fut)
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The server binaries: `$VSM_PG_BIN`, else the newest major version under [`DEBIAN_LIB`],
/// else `$PATH`.
fn binaries() -> Option<Binaries> {
    let in_dir = |dir: &Path| {
        let b = Binaries {
            initdb: dir.join("initdb"),
            postgres: dir.join("postgres"),
        };
        (b.initdb.is_file() && b.postgres.is_file()).then_some(b)
    };
    if let Some(dir) = std::env::var_os("VSM_PG_BIN") {
        return in_dir(Path::new(&dir));
    }
    if let Some(dir) = newest_bin_dir(Path::new(DEBIAN_LIB)) {
        return in_dir(&dir);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find_map(|d| in_dir(&d))
}

/// The `bin` directory of the newest major version under `lib` (`lib/<major>/bin` holding both
/// `initdb` and `postgres`), ordered numerically.
fn newest_bin_dir(lib: &Path) -> Option<PathBuf> {
    fs::read_dir(lib)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
}

/// Kills the servers and removes the directories of test processes that are gone (killed
/// before their fixtures' drop ran). Errors are ignored: it is a best-effort tidy-up.
fn reap_stale(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if process_alive(owner) {
            continue;
        }
        // A postmaster (with its backends) or a pooler (`PgServer::pooler`).
        for (pidfile, program) in [
            (entry.path().join("data").join("postmaster.pid"), "postgres"),
            (entry.path().join("pgbouncer.pid"), "pgbouncer"),
        ] {
            if let Some(pid) = fs::read_to_string(pidfile)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
            {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == program {
                    signal_group(pid, libc::SIGKILL);
                }
            }
        }
        let _ = fs::remove_dir_all(entry.path());
    }
}

/// Whether process `pid` exists and is not a zombie (a killed test process may stay one for a
/// while when its parent does not reap it at once).
fn process_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // `pid (comm) state …`: comm may hold spaces and parentheses, so split at the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        !matches!(state, None | Some('Z' | 'X'))
    })
}

/// A free port on 127.0.0.1 (bound and released; the caller retries when it is taken since).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("find a free port: {e}"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `(uid, gid)` of user `name`, through NSS (`getent passwd`).
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    parse_passwd(&String::from_utf8_lossy(&out.stdout))
}

/// `(uid, gid)` from a `passwd` line (`name:x:uid:gid:…`).
fn parse_passwd(line: &str) -> Option<(u32, u32)> {
    let mut fields = line.trim().split(':').skip(2);
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some((uid, gid))
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions; a stale pid only fails (ESRCH).
        unsafe { libc::kill(pid, sig) };
    }
}

/// Signals the process group led by `pid` (the postmaster and every backend it forked).
fn signal_group(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: as `signal`; a negative pid names the process group.
        unsafe { libc::kill(-pid, sig) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // A reaped process has no /proc entry; a zombie (not reaped yet) still counts as there.
        Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_zombie_or_missing_process_is_not_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX / 2));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: a zombie once it exited.
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_alive(pid) {
            assert!(
                Instant::now() < deadline,
                "{pid} neither exits nor turns zombie"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(alive(pid), "the zombie's /proc entry");
        child.wait().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pg_server_runs_statements_and_leaves_nothing_behind() {
        let Some(pg) = PgServer::start_or_skip() else {
            return;
        };
        assert!(
            pg.url().starts_with("postgres://vsm@127.0.0.1:"),
            "{}",
            pg.url()
        );
        let db = pg.client().await;
        db.batch_execute("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL)")
            .await
            .unwrap();
        db.execute(
            "INSERT INTO t VALUES ($1, $2), ($3, $4)",
            &[&1i64, &"a", &2i64, &"b"],
        )
        .await
        .unwrap();
        let names: Vec<String> = db
            .query("SELECT name FROM t ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(names, ["a", "b"]);

        // A transaction that rolls back leaves nothing; one that commits keeps its row.
        let mut db = db;
        let tx = db.transaction().await.unwrap();
        tx.execute("INSERT INTO t VALUES (3, 'c')", &[])
            .await
            .unwrap();
        tx.execute("DELETE FROM t WHERE id = 1", &[]).await.unwrap();
        tx.rollback().await.unwrap();
        let tx = db.transaction().await.unwrap();
        tx.execute("INSERT INTO t VALUES (4, 'd')", &[])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let ids: Vec<i64> = db
            .query("SELECT id FROM t ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(ids, [1, 2, 4]);
        // A unique violation is reported as such (the store maps it to a conflict).
        let dup = db
            .execute("INSERT INTO t VALUES (1, 'x')", &[])
            .await
            .unwrap_err();
        assert_eq!(
            dup.code(),
            Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
        );

        // A session-level advisory lock: held by one session, refused to another, free again
        // once the holder's session ends (the active/standby election relies on this).
        let leader = pg.client().await;
        let standby = pg.client().await;
        let try_lock = "SELECT pg_try_advisory_lock(14)";
        let got = |c: &tokio_postgres::Row| c.get::<_, bool>(0);
        assert!(got(&leader.query_one(try_lock, &[]).await.unwrap()));
        assert!(!got(&standby.query_one(try_lock, &[]).await.unwrap()));
        // It is the session's, not a transaction's: it outlives a transaction's end.
        leader
            .batch_execute("BEGIN; SELECT 1; COMMIT")
            .await
            .unwrap();
        assert!(!got(&standby.query_one(try_lock, &[]).await.unwrap()));
        let leader_pid: i32 = leader
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        drop(leader);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !got(&standby.query_one(try_lock, &[]).await.unwrap()) {
            assert!(
                Instant::now() < deadline,
                "lock not freed by the ended session"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let backend_pid: i32 = db
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);

        let (pid, dir) = (pg.pid(), pg.dir().to_path_buf());
        assert!(dir.join("data").join("PG_VERSION").is_file());
        assert!(alive(pid));
        let started = Instant::now();
        drop(pg);
        eprintln!("stopped in {:?}", started.elapsed());
        assert!(!alive(pid), "postmaster {pid} still there");
        for backend in [backend_pid, leader_pid] {
            let backend = u32::try_from(backend).unwrap();
            assert!(!alive(backend), "backend {backend} still there");
        }
        assert!(!dir.exists(), "{} not removed", dir.display());
        // The client sees the server gone.
        assert!(db.query_one("SELECT 1", &[]).await.is_err());
    }

    #[test]
    fn two_pg_servers_run_side_by_side_and_a_panicking_test_stops_its_own() {
        let started = Instant::now();
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(PgServer::start_or_skip);
            let b = s.spawn(PgServer::start_or_skip);
            (a.join().unwrap(), b.join().unwrap())
        });
        let (Some(a), Some(b)) = (a, b) else {
            return;
        };
        eprintln!("two servers started in {:?}", started.elapsed());
        assert_ne!(a.port(), b.port());
        assert_ne!(a.dir(), b.dir());
        for (pg, value) in [(&a, 1i32), (&b, 2i32)] {
            let url = pg.url();
            let got: i32 = on_own_runtime(async move {
                let c = connect(&url).await.unwrap();
                c.batch_execute(&format!("CREATE TABLE mark AS SELECT {value} AS v"))
                    .await
                    .unwrap();
                c.query_one("SELECT v FROM mark", &[]).await.unwrap().get(0)
            });
            assert_eq!(got, value);
        }
        let extra = a.create_database("second");
        assert!(extra.ends_with("/second"), "{extra}");

        // A test that panics while holding a server: unwinding drops it.
        let (pid, dir) = (b.pid(), b.dir().to_path_buf());
        let panicked = std::thread::spawn(move || {
            let _held = b;
            panic!("a failing test");
        })
        .join();
        assert!(panicked.is_err());
        assert!(
            !alive(pid),
            "postmaster {pid} of the panicked test still there"
        );
        assert!(!dir.exists());
    }

    #[test]
    fn a_server_left_by_a_killed_test_process_is_reaped() {
        let tmp = tempfile::tempdir().unwrap();
        // A directory of a process that is gone, with a server pid file naming this (live)
        // test process, which must not be killed since it is not a postgres.
        let gone = (u32::MAX / 2..).find(|p| !alive(*p)).unwrap();
        let stale = tmp.path().join(format!("{PREFIX}{gone}-abc"));
        fs::create_dir_all(stale.join("data")).unwrap();
        fs::write(
            stale.join("data").join("postmaster.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        let mine = tmp
            .path()
            .join(format!("{PREFIX}{}-def", std::process::id()));
        fs::create_dir(&mine).unwrap();
        let other = tmp.path().join("vsm-pg-notapid");
        fs::create_dir(&other).unwrap();
        reap_stale(tmp.path());
        assert!(!stale.exists());
        assert!(mine.exists() && other.exists());
    }

    #[test]
    fn the_newest_major_version_is_found() {
        let lib = tempfile::tempdir().unwrap();
        for (major, complete) in [("13", true), ("9", true), ("16", true), ("17", false)] {
            let bin = lib.path().join(major).join("bin");
            fs::create_dir_all(&bin).unwrap();
            fs::write(bin.join("initdb"), "").unwrap();
            if complete {
                fs::write(bin.join("postgres"), "").unwrap();
            }
        }
        fs::create_dir_all(lib.path().join("common").join("bin")).unwrap();
        assert_eq!(
            newest_bin_dir(lib.path()),
            Some(lib.path().join("16").join("bin"))
        );
        assert_eq!(newest_bin_dir(&lib.path().join("missing")), None);
        assert_eq!(
            parse_passwd("postgres:x:101:104:PostgreSQL:/var/lib:/bin/bash\n"),
            Some((101, 104))
        );
        assert_eq!(parse_passwd(""), None);
    }
}
