//! The `neardup` binary: parse flags, run one subcommand, map failures to exit codes
//! (see [`cli::exit`]: 2 for invalid input or flags, 1 for anything else). A closed
//! standard output (`neardup scan FILE | head -1`) ends the program quietly with 0.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cli;

// The index is millions of small allocations; mimalloc keeps queries fast and memory
// compact where the system allocator fragments.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "neardup",
    version,
    about = "Find recycled paragraphs in Chinese, English and any other text",
    after_help = cli::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report every paragraph that repeats an earlier one (in an earlier file or earlier in the same file).
    #[command(after_help = cli::EXIT_CODES_HELP)]
    Scan(cli::scan::ScanArgs),
    /// Print the engine settings, the LSH bands x rows they give, and its S-curve.
    #[command(after_help = cli::EXIT_CODES_HELP)]
    Settings(cli::settings::SettingsArgs),
    /// Find and remove near-duplicate records or paragraphs in JSON Lines corpora.
    #[command(after_help = cli::EXIT_CODES_HELP)]
    Dedup(cli::dedup::DedupArgs),
    /// Serve the gRPC API (neardup.v1.NearDup, health, reflection) until SIGINT/SIGTERM.
    #[command(after_help = cli::EXIT_CODES_HELP)]
    Serve(cli::serve::ServeArgs),
    /// Copy an embedded data directory into a Redis Cluster (for `serve --index redis-cluster://...`).
    #[command(after_help = cli::EXIT_CODES_HELP)]
    Migrate(cli::migrate::MigrateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => cli::scan::run(args),
        Command::Settings(args) => cli::settings::run(args),
        Command::Dedup(args) => cli::dedup::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Migrate(args) => cli::migrate::run(args),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`| head`): not an error, as for any Unix filter.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("neardup: {}", message(&err));
            let code = if err.chain().any(|e| e.is::<cli::UsageError>()) {
                cli::exit::USAGE
            } else if err.is::<cli::remote::NothingIndexed>() {
                cli::exit::NOTHING_INDEXED
            } else {
                cli::exit::FAILURE
            };
            ExitCode::from(code)
        }
    }
}

/// The error and its causes, each said once: a layer whose message already quotes its
/// cause (thiserror's `"...: {0}"` with `#[from]`) is not followed by the cause again.
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// Whether any error in the chain is a broken pipe (ripgrep's test, `crates/core/main.rs`).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
