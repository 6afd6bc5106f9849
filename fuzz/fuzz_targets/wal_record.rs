//! Fuzz target: see `neardup::fuzzing::wal_record` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| neardup::fuzzing::wal_record(data));
