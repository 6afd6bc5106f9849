//! `neardup serve`: run the gRPC service until SIGINT or SIGTERM.
//!
//! Flags (each with a `NEARDUP_*` variable) become one validated [`ServerConfig`] before
//! anything starts; a bad value exits with code 2 and says which flag. The bound address
//! is printed on standard error (`listening on ADDR`) once the index is restored and the
//! server is ready (health answers NOT_SERVING on the port before that), so
//! `--listen 127.0.0.1:0` is usable from scripts and tests. Logs go to standard error; `NEARDUP_LOG` (or `RUST_LOG`)
//! filters them (default `info`: one line per call).
//!
//! With `--auth-tokens`, SIGHUP re-reads the tokens file (a file that does not load
//! leaves the old tokens in force and logs an error). With `--metrics-listen`, the bound
//! metrics address is printed too (`metrics on http://ADDR/metrics`).

use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use neardup::cluster::{ClusterOptions, ClusterService};
use neardup::grpc::Limits;
use neardup::grpc::auth::Authenticator;
use neardup::grpc::backend::Backing;
use neardup::server::{
    DEFAULT_MAX_INFLIGHT_BYTES, EdgeConfig, Listeners, ServerConfig, StoreConfig, TlsFiles,
    auto_create_by_default, open_store, serve,
};
use neardup::service::NamespaceLimits;
use neardup::store::FsyncPolicy;

use super::{EngineArgs, UsageError};

/// Flags of `neardup serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "NEARDUP_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Directory of durable data (the embedded index).
    #[arg(long, env = "NEARDUP_DATA_DIR", default_value = "./neardup-data")]
    pub data_dir: PathBuf,
    /// Where the index lives: `embedded` (in this process, durable in --data-dir), or
    /// `redis-cluster://HOST:PORT,HOST:PORT,...` (shared by every replica started with it;
    /// see the README).
    #[arg(long, env = "NEARDUP_INDEX", default_value = "embedded")]
    pub index: String,
    /// With a Redis Cluster index: acknowledge a write only once N replicas of each
    /// primary have it (Redis WAIT); 0 acknowledges at once (asynchronous replication).
    #[arg(
        long,
        env = "NEARDUP_REDIS_WAIT",
        default_value_t = 0,
        value_name = "N"
    )]
    pub redis_wait: usize,
    /// When to fsync the write-ahead log: `always` (before acknowledging each write;
    /// concurrent writes share fsyncs), an interval such as `100ms`, or `never` (survives a
    /// crash of the process, not of the machine).
    #[arg(long, env = "NEARDUP_FSYNC", default_value = "always")]
    pub fsync: FsyncPolicy,
    /// Take over a data directory written under other engine settings and re-index its
    /// documents, instead of refusing to start.
    #[arg(long, env = "NEARDUP_REINDEX")]
    pub reindex: bool,
    /// Open a write-ahead log damaged in the middle by cutting it at the first damage,
    /// keeping every change before it; what is dropped is printed, and the cut segments
    /// are kept in DATA_DIR/damaged/. Without it, such a log refuses to start.
    #[arg(long, env = "NEARDUP_REPAIR")]
    pub repair: bool,
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
    /// Most namespaces; creating one more fails with RESOURCE_EXHAUSTED [default: no limit].
    #[arg(long, env = "NEARDUP_MAX_NAMESPACES", value_name = "N")]
    pub max_namespaces: Option<usize>,
    /// Most documents per namespace [default: no limit].
    #[arg(long, env = "NEARDUP_MAX_NAMESPACE_DOCUMENTS", value_name = "N")]
    pub max_namespace_documents: Option<usize>,
    /// Most index bytes per namespace (band keys, shingle sets and sketches of its
    /// paragraphs) [default: no limit].
    #[arg(long, env = "NEARDUP_MAX_NAMESPACE_BYTES", value_name = "BYTES")]
    pub max_namespace_bytes: Option<usize>,
    /// Most index bytes of all namespaces together: the server's memory budget for the
    /// index [default: no limit].
    #[arg(long, env = "NEARDUP_MAX_INDEX_BYTES", value_name = "BYTES")]
    pub max_index_bytes: Option<usize>,
    /// Whether a Submit to a namespace that does not exist creates it [default: true for
    /// anonymous access on a loopback --listen; false with --auth-tokens or on any other
    /// address (--allow-anonymous): namespaces are then made with CreateNamespace].
    #[arg(long, env = "NEARDUP_AUTO_CREATE_NAMESPACES", value_name = "BOOL")]
    pub auto_create_namespaces: Option<bool>,
    /// Request bytes all calls together may hold while they are received and processed;
    /// a message that would pass it fails with RESOURCE_EXHAUSTED before it is read.
    #[arg(long, env = "NEARDUP_MAX_INFLIGHT_BYTES", default_value_t = DEFAULT_MAX_INFLIGHT_BYTES)]
    pub max_inflight_bytes: usize,
    /// Serve TLS with this certificate chain (PEM); plaintext without.
    #[arg(
        long,
        env = "NEARDUP_TLS_CERT",
        requires = "tls_key",
        value_name = "FILE"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(
        long,
        env = "NEARDUP_TLS_KEY",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM): mutual TLS.
    #[arg(
        long,
        env = "NEARDUP_TLS_CLIENT_CA",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// Bearer tokens and their per-namespace permissions (JSON Lines, see the README);
    /// re-read on SIGHUP.
    #[arg(long, env = "NEARDUP_AUTH_TOKENS", value_name = "FILE")]
    pub auth_tokens: Option<PathBuf>,
    /// Without --auth-tokens, let anyone in on a non-loopback address too.
    #[arg(long, env = "NEARDUP_ALLOW_ANONYMOUS")]
    pub allow_anonymous: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (off by default).
    #[arg(long, env = "NEARDUP_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// After SIGINT/SIGTERM, keep answering this long with health NOT_SERVING before
    /// draining (e.g. `5s`, `500ms`), so load balancers move away first.
    #[arg(long, env = "NEARDUP_SHUTDOWN_GRACE", default_value = "0s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
}

/// `500ms`, `5s`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let parsed = if let Some(ms) = s.strip_suffix("ms") {
        ms.parse().ok().map(Duration::from_millis)
    } else {
        s.strip_suffix('s')
            .and_then(|secs| secs.parse().ok())
            .map(Duration::from_secs)
    };
    parsed.ok_or_else(|| format!("{s:?} is not a duration like `5s` or `500ms`"))
}

impl ServeArgs {
    /// The cluster `--index` names, if it is not the embedded one.
    pub fn cluster(&self) -> Result<Option<ClusterOptions>, UsageError> {
        if self.index == "embedded" {
            return Ok(None);
        }
        // Refused rather than ignored: the cluster keeps no per-namespace counts that a
        // replica could check and reserve atomically with the other replicas.
        let limits = [
            ("--max-namespaces", self.max_namespaces),
            ("--max-namespace-documents", self.max_namespace_documents),
            ("--max-namespace-bytes", self.max_namespace_bytes),
            ("--max-index-bytes", self.max_index_bytes),
        ];
        if let Some((flag, _)) = limits.iter().find(|(_, v)| v.is_some()) {
            return Err(UsageError::new(format!(
                "{flag} is not enforced with a Redis Cluster index: bound the cluster's \
                 memory with Redis's own maxmemory, or use the embedded index"
            )));
        }
        let mut options = ClusterOptions::new(neardup::cluster::parse_url(&self.index)?);
        options.wait_replicas = self.redis_wait;
        Ok(Some(options))
    }

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
                namespaces: NamespaceLimits {
                    max_namespaces: self.max_namespaces.unwrap_or(usize::MAX),
                    max_documents: self.max_namespace_documents.unwrap_or(usize::MAX),
                    max_namespace_bytes: self.max_namespace_bytes.unwrap_or(usize::MAX),
                    max_index_bytes: self.max_index_bytes.unwrap_or(usize::MAX),
                    auto_create: self.auto_create_namespaces.unwrap_or_else(|| {
                        auto_create_by_default(self.listen, self.auth_tokens.is_some())
                    }),
                },
            },
            store: StoreConfig {
                fsync: self.fsync,
                reindex: self.reindex,
                repair: self.repair,
            },
            edge: EdgeConfig {
                tls: self
                    .tls_cert
                    .clone()
                    .zip(self.tls_key.clone())
                    .map(|(cert, key)| TlsFiles {
                        cert,
                        key,
                        client_ca: self.tls_client_ca.clone(),
                    }),
                tokens: self
                    .auth_tokens
                    .as_ref()
                    .map(|path| {
                        Authenticator::load(path)
                            .map(Arc::new)
                            .map_err(|e| neardup::Error::invalid("auth-tokens", e.to_string()))
                    })
                    .transpose()?,
                allow_anonymous: self.allow_anonymous,
                max_inflight_bytes: self.max_inflight_bytes,
                shutdown_grace: self.shutdown_grace,
                ..EdgeConfig::default()
            },
        };
        if let Some(tls) = &config.edge.tls {
            // Unreadable or bad files are a flag error, found before anything starts.
            tls.server_config()?;
        }
        config.validate()?;
        Ok(config)
    }
}

/// Runs the server until a shutdown signal.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let config = args.config()?;
    let cluster = args.cluster()?;
    let metrics_listen = args.metrics_listen;
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
        let metrics = match metrics_listen {
            Some(at) => Some(
                tokio::net::TcpListener::bind(at)
                    .await
                    .with_context(|| format!("cannot listen on {at} for metrics"))?,
            ),
            None => None,
        };
        let mut config = config;
        let backing: Backing = match &cluster {
            None => open_store(&config)?.into(),
            Some(options) => {
                let service = ClusterService::connect(config.settings.clone(), options.clone())
                    .await
                    .context("cannot use the Redis Cluster")?;
                Arc::new(service).into()
            }
        };
        if let Some(m) = &metrics {
            eprintln!("neardup: metrics on http://{}/metrics", m.local_addr()?);
        }
        let shutdown = shutdown_signal()?;
        let ready = Arc::new(tokio::sync::Notify::new());
        config.edge.ready = Some(ready.clone());
        tokio::spawn(async move {
            ready.notified().await;
            eprintln!("neardup: listening on {addr}");
        });
        if let Some(tokens) = config.edge.tokens.clone() {
            reload_on_sighup(tokens)?;
        }
        let listeners = Listeners {
            grpc: listener,
            metrics,
        };
        serve(config, backing, listeners, shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Re-reads the tokens file on every SIGHUP, for the life of the process.
#[cfg(unix)]
fn reload_on_sighup(tokens: Arc<Authenticator>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match tokens.reload() {
                Ok(n) => {
                    tracing::info!(tokens = n, file = %tokens.path().display(), "reloaded the tokens file")
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot reload the tokens file; the previous tokens stay in force")
                }
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn reload_on_sighup(_tokens: Arc<Authenticator>) -> Result<()> {
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: a SIGTERM sent as soon as `listening on`
/// is printed must stop the server cleanly, not kill it with the default action.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
