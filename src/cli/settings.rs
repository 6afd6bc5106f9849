//! `neardup settings`: print the engine settings the flags give, the LSH bands × rows
//! derived from them, and the S-curve P(candidate | Jaccard) of that setting.

use anyhow::Result;
use clap::Args;
use std::io::Write;
use std::process::ExitCode;

use super::EngineArgs;

/// Flags of `neardup settings`.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Prints the settings and the S-curve.
pub fn run(args: SettingsArgs) -> Result<ExitCode> {
    let s = args.engine.settings()?;
    let lsh = s.lsh_params();
    let mut out = std::io::stdout().lock();
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
        "lsh               {} bands x {} rows, tuned for Jaccard {} (false negatives weighted {})",
        lsh.bands, lsh.rows, s.lsh_threshold, s.fn_weight
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
