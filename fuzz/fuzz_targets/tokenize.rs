//! Fuzz target: see `neardup::fuzzing::tokenize_text` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| neardup::fuzzing::tokenize_text(data));
