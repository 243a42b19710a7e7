//! Runs `examples/embed.rs` (built by `cargo test` beside this test) so the documented
//! embedding flow is proven on every CI run, on the real local driver.

use std::process::Command;

use camino::Utf8PathBuf;

#[test]
fn the_embedding_example_runs_the_whole_flow() {
    let exe = Utf8PathBuf::try_from(std::env::current_exe().expect("test exe")).expect("utf-8");
    // target/<profile>/deps/it-HASH → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf();
    let example = profile_dir.join("examples/embed");
    assert!(
        example.is_file(),
        "{example} is missing: `cargo test` builds examples"
    );
    if !profile_dir.join("vsm-appserver").is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "vsm-hypervisor", "--bin", "vsm-appserver"])
            .status()
            .expect("run cargo");
        assert!(status.success(), "building vsm-appserver failed");
    }
    let out = Command::new(&example).output().expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the example failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("start: succeeded"), "{stdout}");
    assert_eq!(
        stdout.matches("/healthz → HTTP/1.1 200").count(),
        4,
        "{stdout}"
    );
    assert!(
        stdout.contains("embedded manager example finished"),
        "{stdout}"
    );
}
