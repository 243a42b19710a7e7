//! libFuzzer entry point of the `manifest` target: feeds every input to [`vsm_fuzz::manifest`].
//! Built instrumented by `cargo xtask fuzz`; holds no logic of its own.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vsm_fuzz::manifest(data));
