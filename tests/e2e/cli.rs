//! The command line without a manager: usage errors, help, an unreachable manager.

use vsm_tests::run_vsm;

#[test]
fn usage_errors_exit_64_not_clap_s_2() {
    run_vsm(&["unit", "start"], &[], None)
        .code(64)
        .stderr_has("NAME");
    run_vsm(&["no-such-command"], &[], None).code(64);
    run_vsm(&["unit", "apply", "u", "--batch", "0"], &[], None).code(64);
    run_vsm(&[], &[], None).code(64);
}

#[test]
fn help_and_version_succeed() {
    run_vsm(&["--help"], &[], None)
        .ok()
        .stdout_has("Exit codes")
        .stdout_has("manager");
    run_vsm(&["unit", "start", "--help"], &[], None)
        .ok()
        .stdout_has("--timeout")
        .stdout_has("--wait");
    run_vsm(&["--version"], &[], None).ok().stdout_has("vsm ");
}

#[test]
fn an_unreachable_manager_is_69() {
    // Port 9 on loopback: nothing listens there.
    let out = run_vsm(
        &["unit", "list", "--output", "json"],
        &[("VSM_URL", "http://127.0.0.1:9"), ("VSM_TOKEN", "x")],
        None,
    );
    out.code(69);
    let err = out.error();
    assert_eq!(err["exit_code"], 69, "{out}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("the manager at http://127.0.0.1:9/api/v1/units is unreachable"),
        "{out}"
    );
    out.stderr_has("hint:");
}

#[test]
fn without_a_session_commands_are_77() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().to_string_lossy().into_owned();
    let out = run_vsm(
        &["unit", "list", "--output", "json"],
        &[("VSM_URL", "http://127.0.0.1:9"), ("VSM_CONFIG_DIR", &cfg)],
        None,
    );
    out.code(77).stderr_has("vsm login");
}

#[test]
fn passwords_are_never_taken_from_the_command_line() {
    let out = run_vsm(&["login", "--user", "root", "--password", "x"], &[], None);
    out.code(64);
    let out = run_vsm(
        &["login", "--user", "root", "--output", "json"],
        &[("VSM_URL", "http://127.0.0.1:9")],
        None,
    );
    out.code(64).stderr_has("--password-file");
}

#[test]
fn jp1_files_are_generated_without_a_manager() {
    let out = run_vsm(
        &[
            "jp1",
            "ajs-jobnet",
            "--unit",
            "shop",
            "--start",
            "08:00",
            "--stop",
            "20:00",
            "--output",
            "table",
        ],
        &[],
        None,
    );
    out.ok().stdout_has("unit start shop");
    run_vsm(
        &[
            "jp1",
            "ajs-jobnet",
            "--unit",
            "shop",
            "--start",
            "25:00",
            "--stop",
            "20:00",
        ],
        &[],
        None,
    )
    .code(64);
    run_vsm(&["jp1", "logtrap-config", "--output", "table"], &[], None).ok();
}

#[test]
fn completions_are_printed() {
    run_vsm(&["completions", "bash"], &[], None)
        .ok()
        .stdout_has("_vsm");
}
