//! `neardup dedup --input PATH...`: batch deduplication of JSON Lines corpora.
//!
//! Flags become [`DedupOptions`] and open output files before any work starts; the work
//! itself is [`neardup::batch::dedup`], run on a rayon pool of `--threads` threads (the
//! global pool, which honours `RAYON_NUM_THREADS`, when the flag is absent). Standard error
//! gets a progress bar when it is a terminal, the bad records (the first 20), and a
//! one-line summary. Bad records are fatal with `--strict` (exit code 2).

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use neardup::batch::{
    self, BatchError, DedupOptions, KeptParquet, Outputs, ParquetLines, Progress, Source, Summary,
    Table,
};

use super::{EngineArgs, UsageError};

/// Bad records listed on standard error (all are counted).
const SHOWN_BAD: usize = 20;

/// Flags of `neardup dedup`.
#[derive(Debug, Args)]
pub struct DedupArgs {
    /// JSON Lines input (plain, .gz or .zst), a Parquet file, a directory of them, or `-`
    /// for standard input (JSON Lines or Parquet); repeat for several, read in the order
    /// given.
    #[arg(long, short, required = true, value_name = "PATH")]
    pub input: Vec<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Field (Parquet: column) holding a record's id (the line or row number is used when
    /// it is absent).
    #[arg(long, env = "NEARDUP_ID_FIELD", default_value = "id")]
    pub id_field: String,
    /// Field (Parquet: column) holding a record's text.
    #[arg(long, env = "NEARDUP_TEXT_FIELD", default_value = "text")]
    pub text_field: String,
    /// What is compared: whole records, or each paragraph of each record.
    #[arg(long, value_enum, default_value_t = UnitArg::Record)]
    pub unit: UnitArg,
    /// Write one JSON object per unit that repeats an earlier one here (a `.parquet` file:
    /// one row per match).
    #[arg(long, value_name = "FILE")]
    pub matches: Option<PathBuf>,
    /// Write one JSON object per cluster of duplicates here (a `.parquet` file: one row per
    /// member).
    #[arg(long, value_name = "FILE")]
    pub clusters: Option<PathBuf>,
    /// Write the input records minus the duplicates here, byte for byte (a `.parquet` file:
    /// the kept rows of Parquet inputs, with their schema).
    #[arg(long, value_name = "FILE")]
    pub kept: Option<PathBuf>,
    /// Worker threads (default: RAYON_NUM_THREADS, else one per core).
    #[arg(long, short = 'j', env = "NEARDUP_THREADS")]
    pub threads: Option<usize>,
    /// Stop at the first bad record (invalid JSON, missing or non-string text), exit code 2.
    #[arg(long)]
    pub strict: bool,
    /// Count heavily edited copies as duplicates (`edited` matches: the grey zone aligned,
    /// as the service does; the index also keeps every unit's tokens).
    #[arg(long, conflicts_with = "no_edited")]
    pub edited: bool,
    /// With `--unit paragraph`: set boilerplate apart (a paragraph whose duplicates are
    /// already in `--boilerplate K` - 1 other records: mastheads, copyright lines). It
    /// neither makes its record a duplicate nor keeps it, and is left out of the matches
    /// and clusters. Judged in input order, so its first copies are duplicates as usual.
    #[arg(long)]
    pub ignore_boilerplate: bool,
    /// Weight of false negatives in the LSH bands × rows choice (tuning).
    #[arg(long, hide = true, default_value_t = neardup::Settings::default().fn_weight)]
    pub fn_weight: f64,
    /// Most LSH bands (tuning).
    #[arg(long, hide = true, default_value_t = neardup::Settings::default().max_bands)]
    pub max_bands: usize,
    /// Buckets holding more earlier units than this are read only for their first and
    /// most recent units (tuning).
    #[arg(long, hide = true, default_value_t = neardup::Settings::default().max_bucket)]
    pub max_bucket: usize,
    /// Records per chunk (the output does not depend on it; for tests and tuning).
    #[arg(long, hide = true, default_value_t = DedupOptions::default().chunk_records)]
    pub chunk_records: usize,
}

/// Units of comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// Each record's text is one unit.
    Record,
    /// Each paragraph of each record is one unit.
    Paragraph,
}

fn invalid(name: &'static str, message: impl std::fmt::Display) -> anyhow::Error {
    UsageError::new(format!("invalid {name}: {message}")).into()
}

/// An output: a file, or standard output for `-`.
fn create(path: &Option<PathBuf>) -> Result<Option<Box<dyn Write + Send>>> {
    path.as_ref()
        .map(|p| -> Result<Box<dyn Write + Send>> {
            if p.as_os_str() == "-" {
                return Ok(Box::new(BufWriter::with_capacity(
                    1 << 20,
                    std::io::stdout(),
                )));
            }
            let file = File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
            Ok(Box::new(BufWriter::with_capacity(1 << 20, file)))
        })
        .transpose()
}

fn is_parquet(path: &Option<PathBuf>) -> bool {
    path.as_ref()
        .and_then(|p| p.to_str())
        .is_some_and(batch::is_parquet_name)
}

/// A `--matches` or `--clusters` output: JSON Lines, or Parquet for a `.parquet` name.
enum LinesOut {
    Json(Box<dyn Write + Send>),
    Parquet(Box<ParquetLines>),
}

impl LinesOut {
    fn open(path: &Option<PathBuf>, table: Table) -> Result<Option<LinesOut>> {
        let parquet = is_parquet(path);
        Ok(create(path)?
            .map(|w| match parquet {
                true => ParquetLines::new(table, w).map(|p| LinesOut::Parquet(Box::new(p))),
                false => Ok(LinesOut::Json(w)),
            })
            .transpose()?)
    }

    fn writer(&mut self) -> &mut (dyn Write + Send) {
        match self {
            LinesOut::Json(w) => w,
            LinesOut::Parquet(p) => p,
        }
    }

    fn close(self) -> std::io::Result<()> {
        match self {
            LinesOut::Json(mut w) => w.flush(),
            LinesOut::Parquet(p) => p.close(),
        }
    }
}

/// Runs the deduplication.
pub fn run(args: DedupArgs) -> Result<ExitCode> {
    let mut settings = args.engine.settings()?;
    settings.fn_weight = args.fn_weight;
    settings.max_bands = args.max_bands;
    settings.max_bucket = args.max_bucket;
    settings.validate().map_err(UsageError::from)?;
    if args.threads == Some(0) {
        return Err(invalid("threads", "must be at least 1"));
    }
    if args.chunk_records == 0 {
        return Err(invalid("chunk-records", "must be at least 1"));
    }
    let options = DedupOptions {
        settings,
        unit: match args.unit {
            UnitArg::Record => batch::Unit::Record,
            UnitArg::Paragraph => batch::Unit::Paragraph,
        },
        id_field: args.id_field.clone(),
        text_field: args.text_field.clone(),
        strict: args.strict,
        chunk_records: args.chunk_records,
        edited: args.edited,
        ignore_boilerplate: args.ignore_boilerplate,
        ..DedupOptions::default()
    };

    let stdin = args.input.iter().filter(|p| p.as_os_str() == "-").count();
    if stdin > 1 {
        return Err(invalid("input", "standard input (-) can be read only once"));
    }
    let stdout = [&args.matches, &args.clusters, &args.kept]
        .into_iter()
        .flatten()
        .filter(|p| p.as_os_str() == "-")
        .count();
    if stdout > 1 {
        return Err(invalid(
            "output",
            "only one of --matches, --clusters and --kept can be standard output (-)",
        ));
    }
    let outputs: Vec<Option<PathBuf>> = [&args.matches, &args.clusters, &args.kept]
        .into_iter()
        .flatten()
        .map(|p| std::fs::canonicalize(p).ok())
        .collect();
    let mut sources = Vec::new();
    let mut total_bytes = 0u64;
    // A file named twice (`--input dir --input dir/a.jsonl`, or through a link) is read
    // once, where it first appears: read twice, every record would repeat itself.
    let mut seen = std::collections::HashSet::new();
    for path in &args.input {
        if path.as_os_str() == "-" {
            sources.push(Source::reader("-", std::io::stdin()));
            continue;
        }
        for file in batch::expand_inputs(std::slice::from_ref(path)).map_err(input_error)? {
            let canonical = std::fs::canonicalize(&file).ok();
            if let Some(c) = &canonical
                && !seen.insert(c.clone())
            {
                continue;
            }
            // An output file inside an input directory would be truncated before it is read.
            if outputs
                .iter()
                .any(|o| canonical.is_some() && *o == canonical)
            {
                return Err(invalid(
                    "input",
                    format!("{} is also an output", file.display()),
                ));
            }
            total_bytes += std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            sources.push(Source::path(file));
        }
    }

    let mut matches = LinesOut::open(&args.matches, Table::Matches)?;
    let mut clusters = LinesOut::open(&args.clusters, Table::Clusters)?;
    let (mut kept, mut kept_parquet) = match is_parquet(&args.kept) {
        true => (None, create(&args.kept)?.map(KeptParquet::new)),
        false => (create(&args.kept)?, None),
    };
    let outputs = Outputs {
        matches: matches.as_mut().map(LinesOut::writer),
        clusters: clusters.as_mut().map(LinesOut::writer),
        kept: kept.as_mut().map(|w| &mut **w as &mut (dyn Write + Send)),
        kept_parquet: kept_parquet.as_mut(),
        kept_records: None,
    };

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(
            (total_bytes > 0 && stdin == 0).then_some(total_bytes),
            ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {msg} ETA {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let started = Instant::now();
    let observe = |p: &Progress| {
        if let Some(bar) = &bar {
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_position(p.bytes_read);
            bar.set_message(format!(
                "{} records ({:.0}/s), {} duplicates",
                p.records,
                p.records as f64 / secs,
                p.duplicate_records
            ));
        }
    };

    let result = match args.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("neardup-dedup-{i}"))
            .build()
            .context("cannot start the worker threads")?
            .install(|| batch::dedup(sources, &options, outputs, observe)),
        None => batch::dedup(sources, &options, outputs, observe),
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = result.and_then(|summary| {
        let close = |what, error| BatchError::Write { what, error };
        for (out, what) in [(matches, "matches"), (clusters, "clusters")] {
            if let Some(out) = out {
                out.close().map_err(|e| close(what, e))?;
            }
        }
        if let Some(k) = kept_parquet {
            k.close()?;
        }
        Ok(summary)
    });
    let summary = summary.map_err(|e| match e {
        BatchError::BadRecord { .. }
        | BatchError::BadInput { .. }
        | BatchError::NoInput(_)
        | BatchError::Settings(_) => input_error(e),
        // `--kept - | head`: the reader left; main ends quietly.
        BatchError::Write { error, .. } if error.kind() == std::io::ErrorKind::BrokenPipe => {
            error.into()
        }
        other => anyhow::Error::new(other),
    })?;
    report(&summary, options.unit, started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// Errors in the input exit with code 2, like errors in flags.
fn input_error(e: BatchError) -> anyhow::Error {
    match e {
        BatchError::Settings(e) => UsageError::from(e).into(),
        other => invalid("input", other),
    }
}

fn report(s: &Summary, unit: batch::Unit, secs: f64) {
    let mut err = std::io::stderr().lock();
    for bad in &s.bad[..s.bad.len().min(SHOWN_BAD)] {
        let _ = writeln!(
            err,
            "neardup: bad record at {}:{}: {}",
            bad.input, bad.line, bad.reason
        );
    }
    if s.bad_records > SHOWN_BAD as u64 {
        let _ = writeln!(
            err,
            "neardup: ... and {} more bad records",
            s.bad_records - SHOWN_BAD as u64
        );
    }
    let paragraphs = match unit {
        batch::Unit::Record => String::new(),
        batch::Unit::Paragraph if s.boilerplate_units > 0 => format!(
            ", {} of {} paragraphs repeated, {} boilerplate",
            s.duplicate_units, s.units, s.boilerplate_units
        ),
        batch::Unit::Paragraph => {
            format!(", {} of {} paragraphs repeated", s.duplicate_units, s.units)
        }
    };
    let _ = writeln!(
        err,
        "neardup: {} records ({} bad), {} duplicates removed{}, {} clusters, in {:.2} s ({:.0} records/s, index {:.0} bytes/unit)",
        s.records,
        s.bad_records,
        s.duplicate_records,
        paragraphs,
        s.clusters,
        secs,
        s.records as f64 / secs.max(1e-9),
        s.index_bytes as f64 / (s.judged_units.max(1)) as f64,
    );
}
