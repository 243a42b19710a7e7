//! The demo (`cargo xtask demo`, the README's first command) runs end to end in CI: the same
//! script function, against the `vsm` binary under test, in a temporary directory.

use vsm_tests::demo::{DemoConfig, run_demo};

#[test]
fn the_demo_runs_end_to_end() {
    let work = tempfile::Builder::new()
        .prefix("vsm-demo-")
        .tempdir()
        .expect("temp dir");
    let definition = std::env::var_os("VSM_DEMO_DEFINITION")
        .map_or_else(|| "examples/definitions/shop".into(), Into::into);
    let config = DemoConfig {
        vsm: vsm_tests::vsm_bin().to_path_buf(),
        root: vsm_tests::workspace_root(),
        definition,
        work: work.path().to_path_buf(),
        live: false,
        vm: None,
    };
    if let Err(e) = run_demo(&config) {
        panic!("the demo failed: {e:#}");
    }
}
