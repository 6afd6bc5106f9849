//! The `neardup` binary: parse flags, run one subcommand, map failures to exit codes
//! (2 for invalid input or flags, 1 for anything else).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cli;

#[derive(Parser)]
#[command(
    name = "neardup",
    version,
    about = "Find recycled paragraphs in Chinese, English and any other text"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report every paragraph that repeats an earlier one (in an earlier file or earlier in the same file).
    Scan(cli::scan::ScanArgs),
    /// Serve the gRPC API (neardup.v1.NearDup, health, reflection) until SIGINT/SIGTERM.
    Serve(cli::serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => cli::scan::run(args),
        Command::Serve(args) => cli::serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("neardup: {err:#}");
            if err
                .downcast_ref::<neardup::Error>()
                .is_some_and(|e| matches!(e, neardup::Error::InvalidArgument { .. }))
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
