//! Login rate limiting (lock-out audited, the right password refused while locked out, the
//! lock-out ends), owner-only permissions of the state directory and everything written into it
//! or downloaded from it, the API on loopback by default, and passwords and tokens kept out of
//! log files and state files.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::Role;

use super::super::serve_config::{DEFAULT_LISTEN, LoginLimits, ServeConfig, parse_listen};
use super::super::tests::{BOB_PW, Env, ROOT_PW, api_kind, env, env_with, finish, name};
use crate::api::*;
use crate::{ErrorKind, ManagerConfig};

fn admin() -> Actor {
    Actor {
        account: name("root"),
        role: Role::Administrator,
    }
}

#[tokio::test]
async fn lockout_is_audited_refuses_the_right_password_and_ends() {
    let window = Duration::from_millis(1500);
    let limits = LoginLimits {
        window,
        max_failures: 3,
        free_failures: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let env = env_with(3600, limits).await;
    // Fewer failures than the manager's own limit per account (5 a minute): only the address
    // limit applies.
    for _ in 0..3 {
        let err = env
            .anonymous()
            .login(&name("root"), &Password::new("wrong password"))
            .await
            .expect_err("wrong password");
        assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
        assert!(
            err.to_string().contains("wrong account name or password"),
            "{err}"
        );
    }
    let locked_at = std::time::Instant::now();
    // The right password is refused while the address is locked out.
    let err = env
        .anonymous()
        .login(&name("root"), &Password::new(ROOT_PW))
        .await
        .expect_err("locked out");
    assert_eq!(api_kind(&err), ErrorKind::Unauthenticated);
    assert_eq!(err.exit_code(), 77);
    assert!(err.to_string().contains("too many failed logins"), "{err}");
    let hint = err.api().and_then(|e| e.hint.clone()).unwrap_or_default();
    assert!(hint.contains("audit log"), "{hint}");

    // The failures and the lock-out are in the audit log, once each.
    let audit = env
        .manager
        .audit_log(&admin(), 100)
        .await
        .expect("audit log");
    let failed = audit
        .iter()
        .filter(|e| e.action == "login" && e.target == "root" && e.result == "failed")
        .count();
    assert_eq!(failed, 3, "{audit:#?}");
    let lockouts: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "login lock-out")
        .collect();
    assert_eq!(lockouts.len(), 1, "{audit:#?}");
    assert_eq!(lockouts[0].target, "client 127.0.0.1");
    assert!(lockouts[0].result.contains("as root"), "{:?}", lockouts[0]);
    assert!(
        !audit
            .iter()
            .any(|e| e.action == "login" && e.result == "ok"),
        "a refused login was audited as ok: {audit:#?}"
    );

    // The lock-out ends with its window.
    tokio::time::sleep(window.saturating_sub(locked_at.elapsed()) + Duration::from_millis(200))
        .await;
    let root = env.root().await;
    assert_eq!(
        root.whoami().await.expect("whoami").account.as_str(),
        "root"
    );
}

/// A successful login forgets the address's failures for that account only: logging in with
/// one's own account between guesses at another does not reset the address's limit.
#[tokio::test]
async fn a_login_as_another_account_does_not_reset_the_address_limit() {
    let limits = LoginLimits {
        window: Duration::from_secs(600),
        max_failures: 3,
        free_failures: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let env = env_with(3600, limits).await;
    let (_root, _bob, _carol) = env.people().await;
    let fail = |user: &'static str| {
        let c = env.anonymous();
        async move {
            c.login(&name(user), &Password::new("a wrong guess"))
                .await
                .expect_err("wrong password")
        }
    };
    // A user who mistypes and then gets it right starts afresh.
    fail("bob").await;
    fail("bob").await;
    env.login("bob", BOB_PW).await;
    fail("bob").await;
    fail("bob").await;
    env.login("bob", BOB_PW).await;
    // Guessing root's password, interleaved with bob's own logins.
    fail("root").await;
    env.login("bob", BOB_PW).await;
    fail("root").await;
    env.login("bob", BOB_PW).await;
    fail("root").await;
    let err = env
        .anonymous()
        .login(&name("root"), &Password::new(ROOT_PW))
        .await
        .expect_err("the address is locked out");
    assert!(err.to_string().contains("too many failed logins"), "{err}");
}

/// Guesses sent all at once are limited like guesses sent one by one: no more than
/// `max_failures` of them reach the password check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_do_not_exceed_the_address_limit() {
    let limits = LoginLimits {
        window: Duration::from_secs(600),
        max_failures: 3,
        free_failures: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let env = env_with(3600, limits).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..30 {
        let c = env.anonymous();
        set.spawn(async move {
            // Different accounts: only the address limit applies.
            let user = format!("guess-{i}");
            let user: vsm_core::AccountName = user.as_str().try_into().expect("name");
            c.login(&user, &Password::new("a wrong guess"))
                .await
                .expect_err("wrong password")
                .to_string()
        });
    }
    let (checked, limited) = tally(set).await;
    assert!(
        checked <= 3,
        "{checked} of 30 parallel guesses reached the password check ({limited} were limited)"
    );
    let audit = env.manager.audit_log(&admin(), 100).await.expect("audit");
    let lockouts = audit
        .iter()
        .filter(|e| e.action == "login lock-out")
        .count();
    assert_eq!(lockouts, 1, "{audit:#?}");
}

/// How many of the failed logins' messages in `set` came from the password check and how many
/// from a limit (any other answer fails the test).
async fn tally(mut set: tokio::task::JoinSet<String>) -> (usize, usize) {
    let (mut checked, mut limited) = (0, 0);
    while let Some(msg) = set.join_next().await {
        let msg = msg.expect("task");
        if msg.contains("wrong account name or password") {
            checked += 1;
        } else if msg.contains("too many failed logins") {
            limited += 1;
        } else {
            panic!("unexpected answer: {msg}");
        }
    }
    (checked, limited)
}

/// Every directory under `dir` is 0700 and every file 0600 (no group or other bits); returns
/// the files seen.
fn assert_owner_only(dir: &Utf8Path) -> Vec<Utf8PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    let mut bad = Vec::new();
    while let Some(d) = todo.pop() {
        let mode = std::fs::metadata(&d)
            .expect("stat dir")
            .permissions()
            .mode()
            & 0o777;
        if mode != 0o700 {
            bad.push(format!("directory {d}: {mode:o}"));
        }
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let entry = entry.expect("entry");
            let path = Utf8PathBuf::from_path_buf(entry.path()).expect("utf-8");
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            if meta.is_dir() {
                todo.push(path);
            } else {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    bad.push(format!("file {path}: {mode:o}"));
                }
                files.push(path);
            }
        }
    }
    assert!(bad.is_empty(), "not owner-only:\n{}", bad.join("\n"));
    files
}

fn mode(path: &Utf8Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {path}: {e}"))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn state_dir_files_and_downloads_are_owner_only() {
    let env = env().await;
    let (root, bob, _carol) = env.people().await;
    let unit = env.shop(&bob).await;
    let start = bob
        .start_unit(&unit, OpOptions::default())
        .await
        .expect("start");
    finish(&bob, &start).await;
    let state = env.manager.state_dir().to_path_buf();
    // The manager's log files, as the service writes them.
    let settings = env.manager.log_settings(&admin()).await.expect("settings");
    let mut log = crate::logging::RotatingWriter::new(&state, &settings).expect("log");
    std::io::Write::write_all(&mut log, b"a log line\n").expect("write log");
    // Backups and diagnostics: made by the manager, downloaded through the API.
    let backup = env.root.join("backup.tar");
    root.backup(&backup).await.expect("backup");
    let diagnostics = env.root.join("diagnostics.tar");
    root.diagnostics(&diagnostics).await.expect("diagnostics");
    let direct = env.root.join("direct-backup.tar");
    env.manager
        .backup(&admin(), &direct)
        .await
        .expect("backup by the library");

    assert_eq!(mode(&state), 0o700, "state directory {state}");
    let files = assert_owner_only(&state);
    for must in [crate::config::CONFIG_FILE, crate::paths::DB_FILE] {
        assert!(
            files.iter().any(|f| f.file_name() == Some(must)),
            "{must} not found in {files:?}"
        );
    }
    assert!(files.contains(&log.current_file()), "{files:?}");
    for f in [&backup, &diagnostics, &direct] {
        assert_eq!(mode(f), 0o600, "{f}");
    }
}

#[tokio::test]
async fn the_api_listens_on_loopback_unless_configured() {
    assert!(ServeConfig::default().listen.ip().is_loopback());
    assert!(
        parse_listen(DEFAULT_LISTEN)
            .expect("default")
            .ip()
            .is_loopback()
    );
    let env = env().await;
    // The configuration `init` wrote says loopback, and serving it listens there.
    let config = ManagerConfig::load(env.manager.state_dir()).expect("config");
    let serve = ServeConfig::from_settings(&config.settings.service, env.manager.state_dir())
        .expect("service settings");
    assert!(
        serve.listen.ip().is_loopback(),
        "init's configuration listens on {}",
        serve.listen
    );
    assert!(config.settings.service.tls_cert.is_none());
}

/// Everything below `dir`, as bytes.
fn all_files(dir: &Utf8Path) -> Vec<(Utf8PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = Utf8PathBuf::from_path_buf(entry.expect("entry").path()).expect("utf-8");
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Set in a child test process that runs one test alone.
const ALONE: &str = "VSM_PROOF_TEST_ALONE";

/// Whether this process should run the test `name` (of this module) itself: true in a child
/// started for it; otherwise runs the test binary again for just that test, checks that it passed,
/// and returns false. For tests that capture `tracing` output, which other tests running in the
/// same process at the same time can disturb (callsite interest is process-wide).
fn alone(name: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return true;
    }
    let module = module_path!();
    let module = module.split_once("::").map_or(module, |(_, rest)| rest);
    let test = format!("{module}::{name}");
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([test.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, "1")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} in its own process failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    false
}

/// Passwords (right, wrong, new, in malformed requests) and session tokens never appear in the
/// manager's log files (at `debug`), in the state directory, or echoed in error answers.
#[test]
fn passwords_and_tokens_never_reach_logs_or_state_files() {
    if alone("passwords_and_tokens_never_reach_logs_or_state_files") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(passwords_and_tokens_check());
    }
}

async fn passwords_and_tokens_check() {
    let limits = LoginLimits {
        window: Duration::from_secs(600),
        max_failures: 4,
        free_failures: 4,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let env: Env = env_with(3600, limits).await;
    let state = env.manager.state_dir().to_path_buf();
    let mut settings = env.manager.log_settings(&admin()).await.expect("settings");
    settings.level = "debug".into();
    let writer = crate::logging::RotatingWriter::new(&state, &settings).expect("log");
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer.clone())
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_ansi(false)
        .finish();
    // This process runs only this test: every thread logs through this subscriber.
    tracing::subscriber::set_global_default(subscriber).expect("no subscriber yet");

    let wrong = "wrong-Secret-4711";
    let new_account_pw = "newcomer-Secret-815";
    let changed_pw = "changed-Secret-2342";
    let body_pw = "body-Secret-1337";
    let mut secrets = vec![
        ROOT_PW.to_owned(),
        BOB_PW.to_owned(),
        wrong.to_owned(),
        new_account_pw.to_owned(),
        changed_pw.to_owned(),
        body_pw.to_owned(),
    ];

    let (root, bob, _carol) = env.people().await;
    secrets.extend(
        [root.token(), bob.token()]
            .into_iter()
            .flatten()
            .map(str::to_owned),
    );
    env.anonymous()
        .login(&name("root"), &Password::new(wrong))
        .await
        .expect_err("wrong password");
    env.anonymous()
        .login(&name("nobody"), &Password::new(wrong))
        .await
        .expect_err("unknown account");
    root.create_account(&AddAccount {
        name: name("newcomer"),
        role: Role::Builder,
        password: Password::new(new_account_pw),
    })
    .await
    .expect("add account");
    bob.set_password(&name("bob"), &Password::new(changed_pw))
        .await
        .expect("change password");
    let err = root
        .create_account(&AddAccount {
            name: name("shorty"),
            role: Role::Builder,
            password: Password::new("short"),
        })
        .await
        .expect_err("too short");
    assert_eq!(api_kind(&err), ErrorKind::InvalidData, "{err:?}");
    secrets.push("short".to_owned());
    // Malformed login bodies: a bad account name, a password of the wrong type.
    let http = reqwest::Client::new();
    for body in [
        serde_json::json!({"user": "Not A Name!", "password": body_pw}),
        serde_json::json!({"user": "root", "password": [body_pw]}),
        serde_json::json!({"user": "root", "password": body_pw, "extra": body_pw}),
    ] {
        let resp = http
            .post(format!("{}/api/v1/login", env.url))
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert!(
            !text.contains(body_pw),
            "the answer to {body} echoes the password ({status}): {text}"
        );
    }
    // Lock the address out (one more failure), then the right password is refused.
    for _ in 0..3 {
        let _ = env
            .anonymous()
            .login(&name("root"), &Password::new(wrong))
            .await;
    }
    env.anonymous()
        .login(&name("root"), &Password::new(ROOT_PW))
        .await
        .expect_err("locked out");

    let mut w = writer.clone();
    std::io::Write::flush(&mut w).expect("flush");
    let log = std::fs::read_to_string(writer.current_file()).expect("log file");
    assert!(log.contains("failed login"), "nothing was logged: {log}");
    assert!(
        log.contains("lock-out"),
        "the lock-out was not logged: {log}"
    );
    let mut leaks = Vec::new();
    for (path, bytes) in all_files(&state) {
        for s in &secrets {
            // "short" may occur in unrelated words of the log; it is checked as a whole value.
            let needle = if s == "short" {
                "\"short\""
            } else {
                s.as_str()
            };
            if contains(&bytes, needle) {
                leaks.push(format!("{path} contains {needle:?}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets written to disk:\n{}",
        leaks.join("\n")
    );
}

/// `init` into an existing empty directory made by someone else's umask (0755) leaves it
/// owner-only.
#[test]
fn init_into_an_existing_empty_dir_makes_it_owner_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = Utf8PathBuf::from_path_buf(tmp.path().join("state")).expect("utf-8");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut init =
        crate::InitOptions::new(dir.clone(), name("root"), crate::Password::new(ROOT_PW));
    init.password_cost = crate::PasswordCost::Insecure;
    crate::Manager::init(init).expect("init");
    assert_eq!(mode(&dir), 0o700, "{dir}");
    assert_owner_only(&dir);
}

/// The manager's own per-account limit: after `max_failed_logins_per_minute` wrong passwords
/// the account is locked (the right password refused too) and the lock-out is audited once,
/// not per refused attempt; an unknown account gets the same answer as a wrong password.
#[tokio::test]
async fn the_account_lock_out_is_audited_once_and_refuses_the_right_password() {
    let env = env().await;
    let _ = env.people().await;
    let limit = env.manager.settings().auth.max_failed_logins_per_minute as usize;
    assert!(limit > 0, "a default limit");
    let bob = name("bob");
    for _ in 0..limit + 3 {
        let e = env
            .manager
            .authenticate(&bob, &crate::Password::new("a wrong guess"))
            .await
            .expect_err("wrong password");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    }
    let e = env
        .manager
        .authenticate(&bob, &crate::Password::new(BOB_PW))
        .await
        .expect_err("locked out");
    assert!(e.to_string().contains("too many failed logins"), "{e}");
    let audit = env.manager.audit_log(&admin(), 1000).await.expect("audit");
    let lockouts: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "login lock-out" && e.target == "bob")
        .collect();
    assert_eq!(lockouts.len(), 1, "{audit:#?}");
    let unknown = env
        .manager
        .authenticate(&name("nobody"), &crate::Password::new("whatever"))
        .await
        .expect_err("unknown account");
    assert!(
        unknown
            .to_string()
            .contains("wrong account name or password"),
        "{unknown}"
    );
}

/// Guesses at one account sent at once: no more than `max_failed_logins_per_minute` of them
/// reach the password check (each counts when it arrives), the lock-out is audited once, and
/// the right password is refused afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_do_not_exceed_the_account_limit() {
    let env = env().await;
    let _ = env.people().await;
    let limit = env.manager.settings().auth.max_failed_logins_per_minute as usize;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let m = env.manager.clone();
        set.spawn(async move {
            m.authenticate(&name("bob"), &crate::Password::new("a wrong guess"))
                .await
                .expect_err("wrong password")
                .to_string()
        });
    }
    let (checked, limited) = tally(set).await;
    assert_eq!(
        (checked, limited),
        (limit, 30 - limit),
        "guesses that reached the password check, and those refused at once"
    );
    let audit = env.manager.audit_log(&admin(), 1000).await.expect("audit");
    let lockouts = audit
        .iter()
        .filter(|e| e.action == "login lock-out" && e.target == "bob")
        .count();
    assert_eq!(lockouts, 1, "{audit:#?}");
    let e = env
        .manager
        .authenticate(&name("bob"), &crate::Password::new(BOB_PW))
        .await
        .expect_err("locked out");
    assert!(e.to_string().contains("too many failed logins"), "{e}");
}

/// A right password does not use up the account's budget: logging in many times, between
/// wrong guesses, never locks the account before `max_failed_logins_per_minute` failures.
#[tokio::test]
async fn successful_logins_do_not_count_against_the_account_limit() {
    let env = env().await;
    let _ = env.people().await;
    let limit = env.manager.settings().auth.max_failed_logins_per_minute as usize;
    for _ in 0..limit - 1 {
        env.manager
            .authenticate(&name("bob"), &crate::Password::new("a wrong guess"))
            .await
            .expect_err("wrong password");
        for _ in 0..3 {
            env.manager
                .authenticate(&name("bob"), &crate::Password::new(BOB_PW))
                .await
                .expect("the right password while under the limit");
        }
    }
}
