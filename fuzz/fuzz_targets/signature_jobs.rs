#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tabcoin_core::fuzz_checks::signature_jobs(data));
