//! The static driver (registered machines) over a loopback `TestSshd`, plus the ssh module itself.

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
}
