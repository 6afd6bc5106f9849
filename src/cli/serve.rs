//! `neardup serve`: run the gRPC service until SIGINT or SIGTERM.
//!
//! Flags (each with a `NEARDUP_*` variable) become one validated [`ServerConfig`] before
//! anything starts; a bad value exits with code 2 and says which flag. The bound address
//! is printed on standard error (`listening on ADDR`), so `--listen 127.0.0.1:0` is usable
//! from scripts and tests. Logs go to standard error; `NEARDUP_LOG` (or `RUST_LOG`)
//! filters them (default `info`: one line per call).

use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use neardup::grpc::Limits;
use neardup::server::{ServerConfig, StoreConfig, open_store, serve};
use neardup::store::FsyncPolicy;

use super::{EngineArgs, UsageError};

/// Flags of `neardup serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "NEARDUP_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Directory of durable data.
    #[arg(long, env = "NEARDUP_DATA_DIR", default_value = "./neardup-data")]
    pub data_dir: PathBuf,
    /// When to fsync the write-ahead log: `always` (before acknowledging each write;
    /// concurrent writes share fsyncs), an interval such as `100ms`, or `never` (survives a
    /// crash of the process, not of the machine).
    #[arg(long, env = "NEARDUP_FSYNC", default_value = "always")]
    pub fsync: FsyncPolicy,
    /// Take over a data directory written under other engine settings and re-index its
    /// documents, instead of refusing to start.
    #[arg(long, env = "NEARDUP_REINDEX")]
    pub reindex: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Largest request message, in bytes.
    #[arg(long, env = "NEARDUP_MAX_MESSAGE_BYTES", default_value_t = Limits::default().max_message_bytes)]
    pub max_message_bytes: usize,
    /// Longest document text, in bytes of UTF-8.
    #[arg(long, env = "NEARDUP_MAX_TEXT_BYTES", default_value_t = Limits::default().max_text_bytes)]
    pub max_text_bytes: usize,
    /// Most paragraphs per document.
    #[arg(long, env = "NEARDUP_MAX_PARAGRAPHS", default_value_t = Limits::default().max_paragraphs)]
    pub max_paragraphs: usize,
    /// Engine jobs run at the same time [default: number of CPUs].
    #[arg(long, env = "NEARDUP_WORKERS")]
    pub workers: Option<usize>,
    /// Jobs running or waiting for a worker beyond which calls fail with RESOURCE_EXHAUSTED.
    #[arg(long, env = "NEARDUP_MAX_PENDING", default_value_t = Limits::default().max_pending)]
    pub max_pending: usize,
    /// Requests of one SubmitStream analyzed ahead of the one being applied.
    #[arg(long, env = "NEARDUP_STREAM_WINDOW", default_value_t = Limits::default().stream_window)]
    pub stream_window: usize,
}

impl ServeArgs {
    /// The validated server configuration these flags give.
    pub fn config(&self) -> Result<ServerConfig, UsageError> {
        let config = ServerConfig {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            settings: self.engine.settings()?,
            limits: Limits {
                max_message_bytes: self.max_message_bytes,
                max_text_bytes: self.max_text_bytes,
                max_paragraphs: self.max_paragraphs,
                workers: self.workers.unwrap_or(Limits::default().workers),
                max_pending: self.max_pending,
                stream_window: self.stream_window,
            },
            store: StoreConfig {
                fsync: self.fsync,
                reindex: self.reindex,
            },
        };
        config.validate()?;
        Ok(config)
    }
}

/// Runs the server until a shutdown signal.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let config = args.config()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("NEARDUP_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("neardup")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let store = open_store(&config)?;
        eprintln!("neardup: listening on {addr}");
        serve(config, store, listener, shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
