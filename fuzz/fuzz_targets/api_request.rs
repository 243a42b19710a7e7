//! libFuzzer entry point of the `api_request` target: feeds every input to [`vsm_fuzz::api_request`].
//! Built instrumented by `cargo xtask fuzz`; holds no logic of its own.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vsm_fuzz::api_request(data));
