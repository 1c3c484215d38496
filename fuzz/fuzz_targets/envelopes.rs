#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrolake_fuzz::envelopes(data));
