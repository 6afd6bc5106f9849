//! Command-line front ends: `scan`, `serve` and `dedup`. Each subcommand parses its flags
//! (clap, with `NEARDUP_*` environment variables), turns them into validated settings
//! before any work starts, and calls into the library. Errors in flags exit with code 2.

pub mod remote;
pub mod scan;
pub mod serve;

use clap::Args;

use neardup::Result;
use neardup::engine::Settings;

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
}

impl EngineArgs {
    /// The validated engine settings these flags give.
    pub fn settings(&self) -> Result<Settings> {
        let settings = Settings {
            threshold: self.threshold,
            containment: self.containment,
            num_perm: self.num_perm,
            shingle: self.shingle,
            min_length: self.min_length,
            max_matches: self.max_matches,
            ..Settings::default()
        };
        settings.validate()?;
        Ok(settings)
    }
}
