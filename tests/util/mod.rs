//! Shared test helpers: paths to the test data (`tests/data/`, shipped with the
//! repository) and the `neardup` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// `tests/data/<rel>` (each data set there has a SOURCE.txt with its origin and licence).
pub fn test_data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Code points `start..end` of `text`: what Python's `text[start:end]` gives, the unit
/// of every offset neardup reports.
pub fn slice_chars(text: &str, start: u64, end: u64) -> String {
    text.chars()
        .skip(start as usize)
        .take(end.saturating_sub(start) as usize)
        .collect()
}

/// A `neardup` command, ready for arguments.
pub fn neardup() -> Command {
    Command::new(env!("CARGO_BIN_EXE_neardup"))
}

pub mod boilerplate;
pub mod child;
pub mod pki;
pub mod server;
pub mod synthetic;
