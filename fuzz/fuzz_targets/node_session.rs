#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tabcoin_core::fuzz_checks::node_session(data);
});
