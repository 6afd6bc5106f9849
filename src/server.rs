//! `serve(config, store, listeners, shutdown)`: the gRPC server around
//! [`NearDupService`], with the standard health service (`grpc.health.v1`) and server
//! reflection, both `grpc.reflection.v1` and the older `v1alpha` (which grpcurl up to 1.8
//! and many other clients still speak only), so `grpcurl` works without the proto.
//!
//! The caller owns the listeners (tests bind 127.0.0.1:0) and the shutdown signal (the
//! binary passes SIGINT/SIGTERM, tests a oneshot).
//!
//! - **Start.** The server listens at once. Health says NOT_SERVING, and
//!   `neardup.v1.NearDup` calls fail with UNAVAILABLE, while the engines are rebuilt from
//!   the store; then health says SERVING.
//! - **Edge.** TLS (rustls; mutual when a client CA is given) when certificates are
//!   configured, plaintext otherwise. Every call passes, outermost first: the telemetry
//!   layer (span, log line, metrics: [`crate::grpc::telemetry`]), tokens
//!   ([`crate::grpc::auth`]), the byte budget ([`crate::grpc::budget`]). Without tokens,
//!   a non-loopback listener is refused unless anonymous access is allowed explicitly,
//!   and a Submit creates namespaces by default only on a loopback listener
//!   ([`auto_create_by_default`]).
//!   Metrics are served on their own listener ([`crate::metrics`]).
//! - **Stop.** Health turns NOT_SERVING, the server keeps serving for the shutdown grace
//!   (so load balancers see it and move away), then stops accepting, lets in-flight calls
//!   finish, makes the store durable, writes a snapshot (so the next start replays
//!   little), and returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::engine::Settings;
use crate::error::Error;
use crate::grpc::auth::{AuthLayer, Authenticator};
use crate::grpc::backend::{Backend, Backing};
use crate::grpc::budget::{BudgetLayer, ByteBudget};
use crate::grpc::pb::near_dup_server::NearDupServer;
use crate::grpc::telemetry::TelemetryLayer;
use crate::grpc::{FILE_DESCRIPTOR_SET, Limits, NearDupService, ServiceError};
use crate::metrics::Metrics;
use crate::store::{FsyncPolicy, Store, StoreError, WalOptions, WalStore};

/// Everything the server needs, validated by [`ServerConfig::validate`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (used by the binary; [`serve`] takes a bound listener).
    pub listen: SocketAddr,
    /// Where durable data lives.
    pub data_dir: PathBuf,
    /// Engine settings of every namespace.
    pub settings: Settings,
    /// Request and load limits.
    pub limits: Limits,
    /// How the data directory is kept.
    pub store: StoreConfig,
    /// TLS, tokens, the byte budget, metrics and shutdown.
    pub edge: EdgeConfig,
}

/// What faces the network: TLS, tokens, the byte budget, metrics and shutdown.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Serve TLS with these files (plaintext without).
    pub tls: Option<TlsFiles>,
    /// Check bearer tokens against these; `None` lets everyone in with every permission.
    pub tokens: Option<Arc<Authenticator>>,
    /// Allow `tokens: None` on a listener that is not a loopback address.
    pub allow_anonymous: bool,
    /// Request bytes held at once by all calls being received or processed.
    pub max_inflight_bytes: usize,
    /// How long the server keeps serving, NOT_SERVING in health, after shutdown is asked.
    pub shutdown_grace: Duration,
    /// Where calls, the store and the service are counted.
    pub metrics: Arc<Metrics>,
    /// Notified once the service is restored and health says SERVING.
    pub ready: Option<Arc<tokio::sync::Notify>>,
}

impl Default for EdgeConfig {
    fn default() -> EdgeConfig {
        EdgeConfig {
            tls: None,
            tokens: None,
            allow_anonymous: false,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            shutdown_grace: Duration::ZERO,
            metrics: Metrics::new(),
            ready: None,
        }
    }
}

/// Default of [`EdgeConfig::max_inflight_bytes`]: 256 MiB.
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 256 << 20;

/// PEM files of the server's TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
    /// CA certificates a client certificate must chain to; given, clients without one are
    /// refused (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

fn read_pem(flag: &'static str, path: &PathBuf) -> Result<Vec<u8>, Error> {
    std::fs::read(path)
        .map_err(|e| Error::invalid(flag, format!("cannot read {}: {e}", path.display())))
}

impl TlsFiles {
    /// The rustls configuration of these files.
    pub fn server_config(&self) -> Result<ServerTlsConfig, Error> {
        let identity = Identity::from_pem(
            read_pem("tls-cert", &self.cert)?,
            read_pem("tls-key", &self.key)?,
        );
        let mut tls = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(read_pem("tls-client-ca", ca)?));
        }
        Ok(tls)
    }
}

/// The listeners of one server: gRPC, and optionally metrics.
#[derive(Debug)]
pub struct Listeners {
    /// gRPC (and health and reflection).
    pub grpc: TcpListener,
    /// Prometheus metrics over HTTP (`GET /metrics`).
    pub metrics: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(grpc: TcpListener) -> Listeners {
        Listeners {
            grpc,
            metrics: None,
        }
    }
}

/// Refuses to let anyone in without a token on an address others can reach.
fn check_exposure(addr: SocketAddr, edge: &EdgeConfig) -> Result<(), Error> {
    if edge.tokens.is_none() && !edge.allow_anonymous && !addr.ip().is_loopback() {
        return Err(Error::invalid(
            "listen",
            format!(
                "{addr} is not a loopback address, and without --auth-tokens anyone who \
                 reaches it could read and delete every document; give --auth-tokens FILE, \
                 or --allow-anonymous to accept that"
            ),
        ));
    }
    Ok(())
}

/// Whether a Submit to a namespace that does not exist creates it, when the operator
/// does not say ([`crate::service::NamespaceLimits::auto_create`]): only for anonymous
/// access on a loopback listener, where the caller is on the same machine. With tokens,
/// or with anonymous access on a network (`--allow-anonymous`), namespaces are made with
/// CreateNamespace, so that no caller can make new indexes (memory) at will.
pub fn auto_create_by_default(listen: SocketAddr, tokens: bool) -> bool {
    !tokens && listen.ip().is_loopback()
}

/// Durability options of the data directory.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// When the write-ahead log is fsynced (default: before every acknowledgement).
    pub fsync: FsyncPolicy,
    /// Take over a data directory written under other engine settings, re-indexing its
    /// documents, instead of refusing to start.
    pub reindex: bool,
    /// Open a log damaged in the middle by cutting it at the damage (see
    /// [`WalOptions::repair`]) instead of refusing to start.
    pub repair: bool,
}

impl ServerConfig {
    /// Checks the settings, the limits and the edge.
    pub fn validate(&self) -> crate::Result<()> {
        self.settings.validate()?;
        self.limits.validate()?;
        // The largest message plus its 5-byte gRPC prefix must fit the budget.
        if self.edge.max_inflight_bytes < self.limits.max_message_bytes.saturating_add(5) {
            return Err(Error::invalid(
                "max_inflight_bytes",
                format!(
                    "{} is smaller than max_message_bytes ({}) plus 5, so the largest message \
                     would always be refused",
                    self.edge.max_inflight_bytes, self.limits.max_message_bytes
                ),
            ));
        }
        check_exposure(self.listen, &self.edge)
    }
}

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The service could not start (bad configuration, unreadable store).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The transport failed.
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be built from the embedded descriptors.
    #[error("cannot build reflection service: {0}")]
    Reflection(String),
    /// A listener failed.
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The store the server writes through: the write-ahead log in `config.data_dir`,
/// checked against the engine settings (see [`WalStore::open`]), reporting to
/// `config.edge.metrics`. Blocking.
pub fn open_store(config: &ServerConfig) -> Result<Arc<dyn Store>, StoreError> {
    let started = Instant::now();
    let options = WalOptions {
        fsync: config.store.fsync,
        reindex: config.store.reindex,
        repair: config.store.repair,
        observer: Some(config.edge.metrics.wal_observer()),
        ..WalOptions::new(&config.settings)
    };
    let store = WalStore::open(&config.data_dir, options)?;
    if let Some(damage) = &store.recovery().repaired {
        tracing::warn!(
            segment = %damage.segment.display(),
            offset = damage.offset,
            kept_up_to = damage.last_good_seq,
            dropped = damage.after.len(),
            "repaired the write-ahead log: {}; dropped:{}",
            damage.kind,
            damage.describe_dropped(usize::MAX)
        );
    }
    config
        .edge
        .metrics
        .restart_phase("store", started.elapsed());
    Ok(Arc::new(store))
}

/// Tonic refuses a request over `max_decoding_message_size` with OUT_OF_RANGE; gRPC's
/// convention (and our API) is RESOURCE_EXHAUSTED. Such refusals come back before any
/// handler runs, as a headers-only response, so rewriting the header is enough.
fn too_large_is_resource_exhausted(mut res: http::Response<Body>) -> http::Response<Body> {
    let headers = res.headers_mut();
    let too_large = headers.get("grpc-status").is_some_and(|v| v == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| m.contains("length%20too%20large") || m.contains("length too large"));
    if too_large {
        headers.insert(
            "grpc-status",
            http::HeaderValue::from(tonic::Code::ResourceExhausted as i32),
        );
    }
    res
}

/// `neardup.v1.NearDup` once the service is restored; UNAVAILABLE until then.
#[derive(Clone)]
struct Deferred<S> {
    service: Arc<OnceLock<S>>,
}

impl<S: NamedService> NamedService for Deferred<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<Body>> for Deferred<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The generated server is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        match self.service.get() {
            Some(service) => {
                let mut service = service.clone();
                Box::pin(async move { service.call(req).await })
            }
            None => Box::pin(std::future::ready(Ok(ServiceError::Starting.into_http()))),
        }
    }
}

type Health = tonic_health::server::HealthReporter;

async fn set_health(health: &Health, status: ServingStatus) {
    health
        .set_service_status(
            <NearDupServer<NearDupService> as NamedService>::NAME,
            status,
        )
        .await;
    health.set_service_status("", status).await;
}

/// Serves `neardup.v1.NearDup`, health and reflection on `listeners` until `shutdown`
/// completes, then drains in-flight calls and returns. The engines are rebuilt from
/// `store` (see [`open_store`]) while the server already answers health checks; given a
/// connected cluster service instead ([`Backing::Cluster`]), there is nothing to rebuild.
pub async fn serve(
    config: ServerConfig,
    store: impl Into<Backing>,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    config.validate().map_err(ServiceError::from)?;
    let backing = store.into();
    let listeners = listeners.into();
    let addr = listeners.grpc.local_addr()?;
    check_exposure(addr, &config.edge).map_err(ServiceError::from)?;
    let tls = config
        .edge
        .tls
        .as_ref()
        .map(TlsFiles::server_config)
        .transpose()
        .map_err(ServiceError::from)?;
    let metrics = config.edge.metrics.clone();
    let budget = Arc::new(ByteBudget::new(config.edge.max_inflight_bytes));
    metrics.attach_budget(budget.clone());

    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, ServingStatus::NotServing).await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    // Restore in the background; the server answers meanwhile.
    let ready = Arc::new(OnceLock::new());
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<ServiceError>();
    let restore = {
        let (ready, health, metrics) = (ready.clone(), health.clone(), metrics.clone());
        let (settings, limits) = (config.settings.clone(), config.limits.clone());
        let durable = match &backing {
            Backing::Store(store) => Backing::Store(store.clone()),
            Backing::Cluster(cluster) => Backing::Cluster(cluster.clone()),
        };
        let max = config.limits.max_message_bytes;
        let notify = config.edge.ready.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let opened = tokio::task::spawn_blocking(move || match durable {
                Backing::Store(store) => NearDupService::open(settings, limits, store),
                Backing::Cluster(cluster) => {
                    cluster.spawn_reaper();
                    NearDupService::with_backend(Backend::Cluster(cluster), limits)
                }
            })
            .await
            .unwrap_or_else(|e| Err(ServiceError::Internal(format!("store loading failed: {e}"))));
            match opened {
                Ok(service) => {
                    metrics.restart_phase("index", started.elapsed());
                    metrics.attach_service(service.clone());
                    let server = NearDupServer::new(service)
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(max.saturating_mul(4));
                    let _ = ready.set(server);
                    set_health(&health, ServingStatus::Serving).await;
                    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
                    if let Some(notify) = notify {
                        notify.notify_one();
                    }
                }
                Err(err) => {
                    let _ = failed_tx.send(err);
                }
            }
        })
    };

    let (stop_metrics, metrics_stopped) = tokio::sync::watch::channel(false);
    let metrics_server = listeners.metrics.map(|listener| {
        let mut stopped = metrics_stopped.clone();
        tokio::spawn(crate::metrics::serve_http(
            listener,
            metrics.clone(),
            async move {
                let _ = stopped.wait_for(|&s| s).await;
            },
        ))
    });

    let layers = tower::ServiceBuilder::new()
        .layer(TelemetryLayer::new(metrics.clone()))
        .layer(tower::util::MapResponseLayer::new(
            too_large_is_resource_exhausted,
        ))
        .layer(AuthLayer::new(config.edge.tokens.clone()))
        .layer(BudgetLayer::new(budget))
        .into_inner();
    let mut builder = Server::builder().http2_keepalive_interval(Some(Duration::from_secs(30)));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let incoming = TcpIncoming::from(listeners.grpc).with_nodelay(Some(true));
    tracing::info!(%addr, tls = config.edge.tls.is_some(), tokens = config.edge.tokens.is_some(), "serving neardup.v1.NearDup");
    let failure = Mutex::new(None);
    let grace = config.edge.shutdown_grace;
    builder
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(Deferred { service: ready })
        .serve_with_incoming_shutdown(incoming, async {
            tokio::select! {
                () = shutdown => {
                    set_health(&health, ServingStatus::NotServing).await;
                    if !grace.is_zero() {
                        tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down: NOT_SERVING, still answering for the grace period");
                        tokio::time::sleep(grace).await;
                    }
                    tracing::info!("shutting down: draining in-flight calls");
                }
                Ok(err) = failed_rx => {
                    *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
                }
            }
        })
        .await?;
    let _ = stop_metrics.send(true);
    if let Some(task) = metrics_server
        && let Ok(Err(e)) = task.await
    {
        tracing::warn!(error = %e, "the metrics endpoint failed");
    }
    if let Some(err) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(err.into());
    }
    // A restore cut short by the shutdown is left to finish on its own; nothing it does
    // writes to the store.
    drop(restore);
    let Backing::Store(store) = backing else {
        tracing::info!("stopped");
        return Ok(());
    };
    tokio::task::spawn_blocking(move || {
        store.sync()?;
        store.compact()
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("final snapshot failed: {e}")))?
    .map_err(ServiceError::from)?;
    tracing::info!("stopped");
    Ok(())
}
