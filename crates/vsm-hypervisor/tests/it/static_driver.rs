//! The static driver (registered machines) over a loopback `TestSshd`, plus the ssh module itself.
//!
//! The "registered machine" is this host reached over ssh; its application server is a `sleep`
//! process whose pid file lives in a temporary directory. A [`Machines`] guard kills every such
//! process when the test ends, also on failure.

use std::sync::Arc;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_hypervisor::ssh::{HostKeyChecking, shell_quote};
use vsm_hypervisor::static_driver::{StaticConfig, StaticDriver, params};
use vsm_hypervisor::testing::contract::{self, Fixture};
use vsm_hypervisor::testing::sshd::TestSshd;
use vsm_hypervisor::{
    Hypervisor, HypervisorError, MachineName, PowerState, ProvisionSpec, ShutdownOutcome,
    TemplateSource,
};

/// The pretend application servers of one test: a directory of pid and log files; kills what is
/// left on drop.
struct Machines {
    dir: tempfile::TempDir,
}

impl Machines {
    fn new() -> Self {
        Machines {
            dir: tempfile::tempdir().expect("machine dir"),
        }
    }

    fn root(&self) -> Utf8PathBuf {
        Utf8PathBuf::try_from(self.dir.path().to_path_buf()).expect("utf8 temp dir")
    }

    /// start / stop / kill / status / logs commands that drive `sleep` processes in this dir.
    fn commands(&self) -> [(&'static str, String); 5] {
        let d = shell_quote(self.root().as_str());
        let pid = format!("{d}/{{machine}}.pid");
        let log = format!("{d}/{{machine}}.log");
        [
            (
                params::START_COMMAND,
                format!(
                    "(setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! > {pid}) && echo started >> {log}"
                ),
            ),
            (
                params::STOP_COMMAND,
                format!(
                    "if test -n \"$(cat {d}/stubborn 2>/dev/null)\"; then sleep 30; fi; \
                     kill $(cat {pid}) && rm -f {pid} && echo stopped >> {log}"
                ),
            ),
            (
                params::KILL_COMMAND,
                format!("kill -9 $(cat {pid}) && rm -f {pid} && echo killed >> {log}"),
            ),
            (
                params::STATUS_COMMAND,
                format!(
                    "test -f {pid} && p=$(cat {pid}) && kill -0 $p 2>/dev/null && ! grep -q '^State:.*Z' /proc/$p/status"
                ),
            ),
            (params::LOGS_COMMAND, format!("tail -n {{lines}} {log}")),
        ]
    }

    fn make_stubborn(&self) {
        std::fs::write(self.root().join("stubborn"), "yes").expect("write stubborn marker");
    }
}

impl Drop for Machines {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "pid") {
                continue;
            }
            if let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                // SAFETY: kill(2) with a pid our own start command recorded.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

fn name(s: &str) -> MachineName {
    MachineName::new(s).expect("valid machine name")
}

fn spec(server: &TestSshd, machines: &Machines, machine: &str) -> ProvisionSpec {
    let mut spec = ProvisionSpec::new(
        name(machine),
        TemplateSource::new("registered").expect("source"),
        1,
    )
    .with_attach_address(server.host())
    .with_param(params::SSH_USER, server.user())
    .with_param(params::SSH_PORT, server.port().to_string())
    .with_param(params::SSH_IDENTITY, server.identity().as_str())
    .with_param(params::SSH_HOST_KEY_CHECKING, "strict")
    .with_param(params::SSH_KNOWN_HOSTS, server.known_hosts().as_str())
    .with_label("unit", "shop");
    for (key, value) in machines.commands() {
        spec = spec.with_param(key, value);
    }
    spec
}

fn driver(state: &Utf8Path) -> StaticDriver {
    driver_with(state, |_| {})
}

/// [`driver`] with its configuration changed by `tweak` first.
fn driver_with(state: &Utf8Path, tweak: impl FnOnce(&mut StaticConfig)) -> StaticDriver {
    let mut config = StaticConfig::new(state.join("static.json"));
    config.poll_interval = Duration::from_millis(50);
    tweak(&mut config);
    StaticDriver::open(config).expect("open static driver")
}

/// The shared driver contract, with the registered "machines" on this host over loopback ssh.
#[tokio::test]
async fn contract_suite() {
    let server = TestSshd::start().expect("test sshd");
    let machines = Machines::new();
    let state = tempfile::tempdir().expect("state dir");
    let state = Utf8PathBuf::try_from(state.path().to_path_buf()).expect("utf8");
    let base = spec(&server, &machines, "template-only");
    let fixture = Fixture::new(base.template.clone(), "ct-static")
        .with_shutdown_timeout(Duration::from_secs(20))
        .with_spec(move |machine| {
            let mut spec = base.clone();
            spec.machine = machine.clone();
            spec.labels.insert("contract".into(), "yes".into());
            spec
        });
    let hv: Arc<dyn Hypervisor> = Arc::new(driver(&state));
    let reopen_state = state.clone();
    let reopen = move || -> Arc<dyn Hypervisor> { Arc::new(driver(&reopen_state)) };
    contract::run_all(hv, &fixture, Some(&reopen)).await;
}

#[tokio::test]
async fn attach_start_stop_logs_detach() {
    let server = TestSshd::start().expect("test sshd");
    let machines = Machines::new();
    let state = tempfile::tempdir().expect("state dir");
    let state = Utf8PathBuf::try_from(state.path().to_path_buf()).expect("utf8");
    let hv = driver(&state);
    let db1 = name("db1");

    let info = hv
        .provision(&spec(&server, &machines, "db1"))
        .await
        .expect("attach");
    assert_eq!(info.state, PowerState::Stopped);
    assert_eq!(info.address, Some("127.0.0.1".parse().expect("ip")));
    assert_eq!(info.labels.get("unit").map(String::as_str), Some("shop"));
    let again = hv
        .provision(&spec(&server, &machines, "db1"))
        .await
        .expect_err("attached twice");
    assert!(
        matches!(again, HypervisorError::AlreadyExists { .. }),
        "{again}"
    );

    hv.start(&db1).await.expect("start");
    assert_eq!(hv.state(&db1).await.expect("state"), PowerState::Running);
    hv.start(&db1).await.expect("start again is a no-op");
    assert_eq!(
        hv.logs(&db1, 10).await.expect("logs"),
        ["started"],
        "start ran once"
    );

    // A fresh driver on the same state file lists the machine and sees it running.
    let reopened = driver(&state);
    let list = reopened.list().await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].name.as_str(), list[0].state),
        ("db1", PowerState::Running)
    );

    let outcome = hv
        .shutdown(&db1, Duration::from_secs(20))
        .await
        .expect("shutdown");
    assert_eq!(outcome, ShutdownOutcome::Graceful);
    assert_eq!(hv.state(&db1).await.expect("state"), PowerState::Stopped);
    assert_eq!(
        hv.shutdown(&db1, Duration::from_secs(5))
            .await
            .expect("again"),
        ShutdownOutcome::AlreadyStopped
    );
    assert_eq!(hv.logs(&db1, 1).await.expect("logs"), ["stopped"]);

    let load = hv.load(&db1).await.expect("load over ssh");
    assert!(load.memory_bytes.is_some_and(|m| m > 0), "{load:?}");
    assert!(load.cpu_percent.is_some(), "{load:?}");

    // Detaching leaves the machine alone: start it, detach, it still runs.
    hv.start(&db1).await.expect("start");
    hv.destroy(&db1).await.expect("detach");
    assert!(hv.state(&db1).await.expect_err("gone").is_not_found());
    assert!(driver(&state).list().await.expect("list").is_empty());
    let pid =
        std::fs::read_to_string(machines.root().join("db1.pid")).expect("pid file still there");
    assert!(
        std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "detach must not stop the machine"
    );
}

#[tokio::test]
async fn stubborn_stop_is_forced_with_the_kill_command() {
    let server = TestSshd::start().expect("test sshd");
    let machines = Machines::new();
    let state = tempfile::tempdir().expect("state dir");
    let state = Utf8PathBuf::try_from(state.path().to_path_buf()).expect("utf8");
    let hv = driver(&state);
    let m = name("app1");
    hv.provision(&spec(&server, &machines, "app1"))
        .await
        .expect("attach");
    hv.start(&m).await.expect("start");
    machines.make_stubborn();
    let outcome = hv
        .shutdown(&m, Duration::from_secs(1))
        .await
        .expect("shutdown");
    assert_eq!(outcome, ShutdownOutcome::Forced);
    assert_eq!(hv.state(&m).await.expect("state"), PowerState::Stopped);
    assert_eq!(hv.logs(&m, 1).await.expect("logs"), ["killed"]);
}

/// A machine asking for strict host-key checking without a known-hosts file of its own uses
/// the driver's: refused while its key is not there (nothing attached), attached once it is.
#[tokio::test]
async fn strict_machines_use_the_drivers_known_hosts_file() {
    let server = TestSshd::start().expect("test sshd");
    let machines = Machines::new();
    let state = tempfile::tempdir().expect("state dir");
    let state = Utf8PathBuf::try_from(state.path().to_path_buf()).expect("utf8");
    let known = state.join("ssh_known_hosts");
    std::fs::write(&known, "").expect("empty known hosts");
    let hv = driver_with(&state, |config| {
        config.ssh.host_key_checking = HostKeyChecking::AcceptNew {
            known_hosts: Some(known.clone()),
        };
    });
    let mut strict = spec(&server, &machines, "db1");
    strict.params.remove(params::SSH_KNOWN_HOSTS);
    let err = hv
        .provision(&strict)
        .await
        .expect_err("an unknown host key under strict checking");
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        chain.push_str(&format!(": {e}"));
        source = e.source();
    }
    assert!(
        chain.to_lowercase().contains("host key"),
        "the error names the host key: {chain}"
    );
    assert!(hv.list().await.expect("list").is_empty());
    assert_eq!(
        std::fs::read_to_string(&known).expect("read"),
        "",
        "strict checking must not learn the key"
    );
    std::fs::copy(server.known_hosts(), &known).expect("pin the key");
    let info = hv
        .provision(&strict)
        .await
        .expect("attach with the key pinned");
    assert_eq!(info.state, PowerState::Stopped);
}

#[tokio::test]
async fn unreachable_machine_is_not_attached_and_unknown_is_not_found() {
    let server = TestSshd::start().expect("test sshd");
    let machines = Machines::new();
    let state = tempfile::tempdir().expect("state dir");
    let state = Utf8PathBuf::try_from(state.path().to_path_buf()).expect("utf8");
    let hv = driver(&state);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let spec = spec(&server, &machines, "gone1").with_param(params::SSH_PORT, port.to_string());
    let err = hv
        .provision(&spec)
        .await
        .expect_err("nothing listens there");
    assert!(err.is_transient(), "{err}");
    assert!(hv.list().await.expect("list").is_empty());
    for result in [
        hv.start(&name("nope")).await,
        hv.destroy(&name("nope")).await,
    ] {
        assert!(result.expect_err("unknown").is_not_found());
    }
    let missing = ProvisionSpec::new(
        name("x1"),
        TemplateSource::new("registered").expect("source"),
        1,
    );
    let err = hv.provision(&missing).await.expect_err("no address");
    assert!(err.to_string().contains("attach_address"), "{err}");
}

mod ssh {
    use camino::Utf8PathBuf;
    use std::time::Duration;
    use vsm_hypervisor::ssh::{self, HostKeyChecking, SshError};
    use vsm_hypervisor::testing::sshd::TestSshd;

    fn sshd() -> TestSshd {
        TestSshd::start().expect("start test sshd (run `cargo xtask deps` if sshd is missing)")
    }

    #[tokio::test]
    async fn runs_commands_and_reports_exit_codes() {
        let server = sshd();
        let target = server.target();
        let out = ssh::run(&target, "echo hello; echo oops >&2; exit 3")
            .await
            .expect("connects");
        assert_eq!(out.code, Some(3), "log: {}", server.log());
        assert_eq!(out.stdout_text(), "hello\n");
        assert_eq!(out.stderr_tail(), "oops");

        let err = ssh::run_checked(&target, "echo broken >&2; exit 7")
            .await
            .expect_err("exit 7 fails");
        assert_eq!(err.exit_code(), Some(7));
        assert!(!err.is_transient());
        assert!(err.to_string().contains("broken"), "{err}");

        ssh::check_reachable(&target).await.expect("reachable");
        let out = ssh::run_args(&target, &["printf", "%s|", "a b", "it's", "$(x)"])
            .await
            .expect("runs");
        assert_eq!(out.stdout_text(), "a b|it's|$(x)|");
    }

    #[tokio::test]
    async fn unreachable_host_is_transient() {
        let server = sshd();
        // A port that nothing listens on: bind one, learn it, release it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let target = server
            .target()
            .with_port(port)
            .with_connect_timeout(Duration::from_secs(2));
        let err = ssh::check_reachable(&target)
            .await
            .expect_err("nothing listens there");
        assert!(matches!(err, SshError::Unreachable { .. }), "{err}");
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn wrong_key_or_host_key_is_refused_not_transient() {
        let server = sshd();
        let mut target = server.target();
        target.identity = server.dir().join("host_ed25519"); // a key the server does not accept
        let err = ssh::check_reachable(&target).await.expect_err("wrong key");
        assert!(matches!(err, SshError::Refused { .. }), "{err}");
        assert!(!err.is_transient());

        let empty = server.dir().join("empty_known_hosts");
        std::fs::write(&empty, "").expect("write");
        let target = server
            .target()
            .with_host_key_checking(HostKeyChecking::Strict { known_hosts: empty });
        let err = ssh::check_reachable(&target)
            .await
            .expect_err("unknown host key");
        assert!(matches!(err, SshError::Refused { .. }), "{err}");
    }

    #[tokio::test]
    async fn upload_read_write_rename_remove() {
        let server = sshd();
        let target = server.target();
        let remote = tempfile::tempdir().expect("remote dir");
        let remote = Utf8PathBuf::try_from(remote.path().to_path_buf()).expect("utf8");

        let local = tempfile::tempdir().expect("local dir");
        let local_root = Utf8PathBuf::try_from(local.path().to_path_buf()).expect("utf8");
        std::fs::create_dir_all(local_root.join("sub dir")).expect("mkdir");
        std::fs::write(local_root.join("sub dir/it's.txt"), b"quoted name").expect("write");
        std::fs::write(local_root.join("big.bin"), vec![7u8; 3 * 1024 * 1024]).expect("write");

        let staged = remote.join("stage");
        ssh::upload_dir(&target, &local_root, &staged)
            .await
            .expect("upload dir");
        let back = ssh::read_file(&target, &staged.join("sub dir/it's.txt"))
            .await
            .expect("read");
        assert_eq!(back.as_deref(), Some(&b"quoted name"[..]));
        let big = ssh::read_file(&target, &staged.join("big.bin"))
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(big.len(), 3 * 1024 * 1024);
        assert!(big.iter().all(|b| *b == 7));

        assert_eq!(
            ssh::read_file(&target, &remote.join("missing"))
                .await
                .expect("read"),
            None
        );

        let file = remote.join("conf/app.conf");
        ssh::write_file(&target, &file, b"port=8080\n", 0o640)
            .await
            .expect("write file");
        assert_eq!(std::fs::read(&file).expect("local view"), b"port=8080\n");
        let mode = std::fs::metadata(&file).expect("meta").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o640
        );

        let live = remote.join("live");
        ssh::rename(&target, &staged, &live).await.expect("rename");
        assert!(live.join("big.bin").exists() && !staged.exists());
        ssh::mkdir_p(&target, &remote.join("a/b/c"))
            .await
            .expect("mkdir");
        assert!(remote.join("a/b/c").is_dir());
        ssh::remove_all(&target, &live).await.expect("remove");
        assert!(!live.exists());
        ssh::remove_all(&target, &live)
            .await
            .expect("remove is idempotent");
    }

    #[tokio::test]
    async fn shared_connection_runs_commands_and_closes() {
        let server = sshd();
        let control = tempfile::Builder::new()
            .prefix("vsm-ctl")
            .tempdir_in("/tmp")
            .expect("control dir");
        let control_dir = Utf8PathBuf::try_from(control.path().to_path_buf()).expect("utf8");
        let target = server.target().with_control_dir(control_dir.clone());
        for i in 0..3 {
            let out = ssh::run_checked(&target, &format!("echo {i}"))
                .await
                .expect("runs over the shared connection");
            assert_eq!(out.stdout_text(), format!("{i}\n"));
        }
        let sockets = || {
            std::fs::read_dir(&control_dir)
                .expect("read control dir")
                .count()
        };
        assert_eq!(sockets(), 1, "one master socket for the target");
        ssh::close_master(&target).await.expect("close master");
        for _ in 0..100 {
            if sockets() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(sockets(), 0, "the master is gone");
        ssh::close_master(&target)
            .await
            .expect("closing twice is fine");
    }
}
