//! Fuzz target: see `neardup::fuzzing::snapshot` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| neardup::fuzzing::snapshot(data));
