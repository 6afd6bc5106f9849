//! `neardup settings`: print the engine settings the flags give, the LSH bands × rows
//! derived from them, how buckets are read, and the S-curve P(candidate | Jaccard) of that
//! setting, for the service or for the batch (`--for`). Both use the same analysis, bands,
//! bucket-read policy and verification; what differs is what the index holds, printed
//! under `index holds`.

use anyhow::Result;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::process::ExitCode;

use super::EngineArgs;

/// Flags of `neardup settings`.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Which path's settings to print: `neardup serve` (and `scan`) or `neardup dedup`.
    #[arg(long = "for", value_enum, default_value_t = Path::Serve)]
    pub path: Path,
}

/// The path whose settings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Path {
    /// `neardup serve` and `neardup scan`.
    Serve,
    /// `neardup dedup`.
    Dedup,
}

/// Prints the settings and the S-curve.
pub fn run(args: SettingsArgs) -> Result<ExitCode> {
    let s = args.engine.settings()?;
    let lsh = s.lsh_params();
    let policy = s.read_policy();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "for               neardup {}",
        match args.path {
            Path::Serve => "serve, neardup scan",
            Path::Dedup => "dedup",
        }
    )?;
    writeln!(out, "permutations      {}", s.num_perm)?;
    writeln!(
        out,
        "shingle           {} words ({} Chinese characters)",
        s.shingle,
        (3 * s.shingle).div_ceil(2)
    )?;
    writeln!(out, "near threshold    Jaccard >= {}", s.threshold)?;
    writeln!(
        out,
        "partial threshold containment >= {} (and Jaccard >= {}, >= {} shared shingles)",
        s.containment,
        s.threshold / 2.0,
        s.min_shared()
    )?;
    writeln!(out, "min length        {} words", s.min_length)?;
    writeln!(
        out,
        "han characters    {}",
        match s.fold {
            neardup::text::Fold::None => "as written",
            neardup::text::Fold::Simplified => "Traditional folded to Simplified",
        }
    )?;
    writeln!(
        out,
        "lsh               {} bands x {} rows, tuned for Jaccard {} (false negatives weighted {})",
        lsh.bands, lsh.rows, s.lsh_threshold, s.fn_weight
    )?;
    writeln!(
        out,
        "bucket reads      whole up to {} ids; a larger bucket: its first and its {} most recent",
        policy.max_bucket,
        policy.sample.saturating_sub(1)
    )?;
    writeln!(
        out,
        "exact copies      through the content-hash map{}",
        match args.path {
            Path::Serve => ", read like a bucket of 2 x max-matches + 8 ids",
            Path::Dedup => "; an exact copy of a kept unit is a duplicate of its first copy",
        }
    )?;
    writeln!(
        out,
        "index holds       {}",
        match args.path {
            Path::Serve => "every paragraph of every stored document (removable)",
            Path::Dedup => "kept units only: a duplicate is never compared against (append-only)",
        }
    )?;
    writeln!(
        out,
        "minhash loop      {}",
        neardup::minhash::implementation()
    )?;
    writeln!(out)?;
    writeln!(out, "P(candidate | Jaccard):")?;
    for (j, p) in lsh.s_curve(21) {
        writeln!(
            out,
            "  {j:4.2}  {p:6.4}  {}",
            "#".repeat((p * 50.0).round() as usize)
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
