//! `neardup scan FILE...`: report every paragraph that repeats an earlier one.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use neardup::engine::{Engine, ParagraphStatus};
use neardup::scan::{ScannedDocument, scan_with, unique_names};
use neardup::text::Split;
use neardup::verify::round_score;

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
            scan_with(
                &Engine::new(settings).map_err(UsageError::from)?,
                inputs,
                args.split.into(),
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
    match args.format {
        Format::Text => write_text(&mut out, &scanned, &sources, color)?,
        Format::Json => write_json(&mut out, &scanned)?,
        Format::Html => out.write_all(neardup::html::render(&scanned).as_bytes())?,
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

/// Writes the JSON Lines report: one object per paragraph with at least one match.
pub fn write_json(out: &mut dyn Write, scanned: &[ScannedDocument]) -> Result<()> {
    for doc in scanned {
        for p in doc
            .report
            .paragraphs
            .iter()
            .filter(|p| !p.matches.is_empty())
        {
            let matches: Vec<_> = p
                .matches
                .iter()
                .map(|m| {
                    let mut v = json!({
                        "document": &*m.source.name,
                        "paragraph": m.source.paragraph,
                        "line": m.source.line,
                        "start": m.source.start,
                        "end": m.source.end,
                        "kind": m.kind.as_str(),
                        "jaccard": round_score(m.scores.jaccard),
                        "containment": round_score(m.scores.containment),
                        "containment_source": round_score(m.scores.containment_source),
                        "spans": m.spans.iter().map(|s| [s.start, s.end, s.source_start, s.source_end]).collect::<Vec<_>>(),
                    });
                    if let Some(a) = m.aligned {
                        v["aligned_coverage"] = round_score(a.coverage).into();
                        v["aligned_coverage_source"] = round_score(a.coverage_source).into();
                    }
                    v
                })
                .collect();
            let line = json!({
                "document": &*doc.name,
                "paragraph": p.index,
                "line": p.line,
                "start": p.start,
                "end": p.end,
                "matches": matches,
            });
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// The first `n` characters of a paragraph on one line, with an ellipsis when cut.
fn excerpt(text: &str, start: usize, end: usize, n: usize) -> String {
    let mut s: String = text
        .chars()
        .skip(start)
        .take((end - start).min(n))
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    if end - start > n {
        s.push('…');
    }
    s
}

struct Paint(bool);

impl Paint {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Writes the human-readable report; `sources` holds the texts of sources that are not
/// among `scanned` (documents on a server), for their excerpts.
pub fn write_text(
    out: &mut dyn Write,
    scanned: &[ScannedDocument],
    sources: &std::collections::HashMap<String, String>,
    color: bool,
) -> Result<()> {
    let paint = Paint(color);
    let mut texts: std::collections::HashMap<&str, &str> = sources
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    texts.extend(scanned.iter().map(|d| (&*d.name, &*d.text)));
    let (mut total, mut recycled, mut too_short) = (0, 0, 0);
    for doc in scanned {
        total += doc.report.summary.paragraphs;
        recycled += doc.report.summary.recycled;
        too_short += doc.report.summary.too_short;
        for p in doc
            .report
            .paragraphs
            .iter()
            .filter(|p| p.status == ParagraphStatus::Recycled)
        {
            writeln!(
                out,
                "{}",
                paint.paint("1", &format!("{}:{}", doc.name, p.line))
            )?;
            for m in &p.matches {
                let kind = paint.paint(
                    match m.kind {
                        neardup::MatchKind::Exact => "31",
                        neardup::MatchKind::Near => "33",
                        neardup::MatchKind::Partial | neardup::MatchKind::Edited => "36",
                    },
                    &format!("{:<7}", m.kind.as_str()),
                );
                writeln!(
                    out,
                    "  {kind} jaccard {:.2}  containment {:.2} / {:.2}  from {}:{}",
                    m.scores.jaccard,
                    m.scores.containment,
                    m.scores.containment_source,
                    m.source.name,
                    m.source.line
                )?;
            }
            let best = &p.matches[0];
            writeln!(
                out,
                "    this:   {}",
                excerpt(&doc.text, p.start, p.end, 60)
            )?;
            let source_text = texts.get(&*best.source.name).copied().unwrap_or("");
            writeln!(
                out,
                "    source: {}",
                excerpt(source_text, best.source.start, best.source.end, 60)
            )?;
            writeln!(out)?;
        }
    }
    let files = if scanned.len() == 1 {
        "1 file".to_string()
    } else {
        format!("{} files", scanned.len())
    };
    writeln!(
        out,
        "{} of {total} paragraphs recycled in {files} ({too_short} too short to judge)",
        paint.paint("1", &recycled.to_string())
    )?;
    Ok(())
}
