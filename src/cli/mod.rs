//! Command-line front ends: `scan`, `serve`, `dedup` and `settings`. Each subcommand
//! parses its flags (clap, with `NEARDUP_*` environment variables), turns them into
//! validated settings before any work starts, and calls into the library.
//!
//! Exit codes are the binary's own ([`exit`]): a mistake the user can fix in the command
//! line or its input is a [`UsageError`] (code 2), whichever layer found it; every other
//! failure is 1. Reports go to standard output through `write!` (never `println!`), so a
//! closed output is an error that ends the program quietly with 0, as in ripgrep.

pub mod dedup;
pub mod migrate;
pub mod remote;
pub mod scan;
pub mod serve;
pub mod settings;

use clap::{Args, ValueEnum};

use neardup::engine::Settings;
use neardup::text::Fold;

/// Exit codes of `neardup`.
pub mod exit {
    /// Something failed that is not the user's input: I/O, the server, a bug.
    pub const FAILURE: u8 = 1;
    /// Invalid flags or input ([`super::UsageError`]).
    pub const USAGE: u8 = 2;
    /// `scan --server` (checking): the server's namespace holds no documents yet, so
    /// there was nothing to check against.
    pub const NOTHING_INDEXED: u8 = 3;
}

/// Exit codes, as shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done (also when standard output was closed early, as by `| head`)
  1  failure: I/O, a server unreachable or sending a malformed answer
  2  invalid flags or input
  3  scan --server without --submit: the namespace holds no documents yet";

/// A mistake in the command line or in its input, which the user can fix: a flag out of
/// range, an unreadable or non-UTF-8 file, a bad record with `--strict`, a document the
/// server refused as invalid. Exits with [`exit::USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

impl UsageError {
    /// A usage error with this message.
    pub fn new(message: impl std::fmt::Display) -> UsageError {
        UsageError(message.to_string())
    }
}

/// Invalid settings given on the command line are the user's to fix.
impl From<neardup::Error> for UsageError {
    fn from(e: neardup::Error) -> UsageError {
        UsageError::new(e)
    }
}

/// Engine settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Jaccard similarity at or above which a paragraph is a near duplicate.
    #[arg(long, env = "NEARDUP_THRESHOLD", default_value_t = Settings::default().threshold)]
    pub threshold: f64,
    /// Containment (either way) at or above which a paragraph is a partial repeat.
    #[arg(long, env = "NEARDUP_CONTAINMENT", default_value_t = Settings::default().containment)]
    pub containment: f64,
    /// MinHash permutations.
    #[arg(long, env = "NEARDUP_NUM_PERM", default_value_t = Settings::default().num_perm)]
    pub num_perm: usize,
    /// Shingle size in words (a Chinese character counts as 2/3 of a word).
    #[arg(long, env = "NEARDUP_SHINGLE", default_value_t = Settings::default().shingle)]
    pub shingle: usize,
    /// Paragraphs shorter than this many words (1.5 Chinese characters each) are too short to judge.
    #[arg(long, env = "NEARDUP_MIN_LENGTH", default_value_t = Settings::default().min_length)]
    pub min_length: f64,
    /// Most matches reported per paragraph.
    #[arg(long, env = "NEARDUP_MAX_MATCHES", default_value_t = Settings::default().max_matches)]
    pub max_matches: usize,
    /// Do not align grey-zone candidates: no `edited` matches (heavily edited copies), and
    /// no cost for them.
    #[arg(long, env = "NEARDUP_NO_EDITED")]
    pub no_edited: bool,
    /// How Han characters are read: `simplified` folds Traditional characters to their
    /// Simplified forms (OpenCC's tables), so a zh-Hant reprint matches its zh-Hans
    /// original; `none` reads them as written. Shapes the index: a data directory made
    /// with the other value is refused unless `serve --reindex`.
    #[arg(long, env = "NEARDUP_FOLD", value_enum, default_value_t = FoldArg::None)]
    pub fold: FoldArg,
    /// A paragraph that recurs (exact or near) in at least this many distinct documents
    /// is boilerplate (mastheads, copyright lines): reported as such, not as recycling.
    /// 0: never.
    #[arg(long, env = "NEARDUP_BOILERPLATE", value_name = "K", default_value_t = Settings::default().boilerplate)]
    pub boilerplate: usize,
}

/// Han folding, as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FoldArg {
    /// Characters as written.
    None,
    /// Traditional characters read as Simplified.
    Simplified,
}

impl From<FoldArg> for Fold {
    fn from(f: FoldArg) -> Fold {
        match f {
            FoldArg::None => Fold::None,
            FoldArg::Simplified => Fold::Simplified,
        }
    }
}

impl EngineArgs {
    /// The validated engine settings these flags give.
    pub fn settings(&self) -> Result<Settings, UsageError> {
        let settings = Settings {
            threshold: self.threshold,
            containment: self.containment,
            num_perm: self.num_perm,
            shingle: self.shingle,
            min_length: self.min_length,
            max_matches: self.max_matches,
            edited: !self.no_edited,
            fold: self.fold.into(),
            boilerplate: self.boilerplate,
            ..Settings::default()
        };
        settings.validate()?;
        Ok(settings)
    }
}
