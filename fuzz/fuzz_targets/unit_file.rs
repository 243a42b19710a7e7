//! libFuzzer entry point of the `unit_file` target: feeds every input to [`vsm_fuzz::unit_file`].
//! Built instrumented by `cargo xtask fuzz`; holds no logic of its own.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vsm_fuzz::unit_file(data));
