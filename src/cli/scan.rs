//! `neardup scan FILE...`: report every paragraph that repeats an earlier one.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use neardup::engine::Engine;
use neardup::report::{self, Scan};
use neardup::scan::{ScanOptions, scan_with_options, unique_names};
use neardup::text::Split;
use neardup::text::repair::Repair;

use super::{EngineArgs, UsageError};

/// Flags of `neardup scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files to scan, in order; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// When to colour the text report.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// How files are cut into paragraphs: at blank lines (at line breaks when a file has no
    /// blank line), at blank lines only, at every line break, or not at all.
    #[arg(long, value_enum, default_value_t = SplitArg::Auto)]
    pub split: SplitArg,
    /// Page-break repair: `auto` also judges each paragraph cut at a page or column break
    /// joined with its continuation, where the evidence is unambiguous, and reports what
    /// the joined paragraph repeats (the paragraph reports do not change); `off` does not.
    /// Default: `auto`, and `off` with --server.
    #[arg(long, value_enum, value_name = "WHEN")]
    pub repair: Option<RepairArg>,
    /// Passage mode: also find reused text between each file and the earlier files its
    /// paragraphs match, wherever either side's paragraphs begin and end (character
    /// ranges of both, as PAN's text alignment defines them).
    #[arg(long)]
    pub passages: bool,
}

/// Page-break repair, as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RepairArg {
    /// Join cut paragraphs with their continuations where the evidence is unambiguous.
    Auto,
    /// Judge paragraphs as split.
    Off,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One block per recycled paragraph, then a summary.
    Text,
    /// JSON Lines: one object per paragraph that has a match.
    Json,
    /// One self-contained HTML page: summary, documents highlighted, side-by-side views.
    Html,
}

/// Paragraph splitting, as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// At blank lines; at every line break when the text has no blank line.
    Auto,
    /// At blank lines only.
    BlankLines,
    /// At every line break.
    Lines,
    /// Each file is one paragraph.
    None,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Split {
        match s {
            SplitArg::Auto => Split::Auto,
            SplitArg::BlankLines => Split::BlankLines,
            SplitArg::Lines => Split::Lines,
            SplitArg::None => Split::None,
        }
    }
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when writing to a terminal.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Runs the scan.
pub fn run(args: ScanArgs) -> Result<ExitCode> {
    let settings = args.engine.settings()?;
    if args.remote.server.is_some() && args.split != SplitArg::Auto {
        return Err(UsageError::new(
            "invalid split: only `auto` is available with --server (the server splits)",
        )
        .into());
    }
    if args.remote.server.is_some() && args.repair == Some(RepairArg::Auto) {
        return Err(UsageError::new(
            "invalid repair: page-break repair is not available with --server",
        )
        .into());
    }
    if args.remote.server.is_some() && args.passages {
        return Err(UsageError::new(
            "invalid passages: the passage mode is not available with --server",
        )
        .into());
    }
    let repair = match args.repair {
        Some(RepairArg::Off) => Repair::Off,
        Some(RepairArg::Auto) | None => Repair::Auto,
    };
    let mut inputs = Vec::with_capacity(args.files.len());
    for (name, file) in unique_names(&args.files).into_iter().zip(&args.files) {
        inputs.push((name, read_input(file)?));
    }
    let (scanned, sources) = match &args.remote.server {
        Some(url) => {
            let fetch_sources = args.format == Format::Text;
            super::remote::scan(url, &args.remote, &args.engine, inputs, fetch_sources)?
        }
        None => (
            // The engine refuses only what is wrong with the files (too many paragraphs).
            scan_with_options(
                &Engine::new(settings).map_err(UsageError::from)?,
                inputs,
                ScanOptions {
                    split: args.split.into(),
                    repair,
                    align: args.passages,
                },
            )
            .map_err(UsageError::from)?,
            Default::default(),
        ),
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            args.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let scan = Scan {
        documents: scanned,
        sources,
    };
    match args.format {
        Format::Text => report::text::write(&mut out, &scan, color)?,
        Format::Json => report::json::write(&mut out, &scan)?,
        Format::Html => out.write_all(report::html::render(&scan).as_bytes())?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a file (or standard input for `-`) as UTF-8 text; a file that cannot be read is
/// an input error.
pub fn read_input(file: &str) -> Result<String> {
    let mut bytes = Vec::new();
    if file == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        bytes = std::fs::read(file).map_err(|e| input_error(format!("cannot read {file}: {e}")))?;
    }
    String::from_utf8(bytes).map_err(|e| {
        input_error(format!(
            "{file} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn input_error(message: String) -> anyhow::Error {
    UsageError::new(message).into()
}
