//! `serve(config, store, listener, shutdown)`: the gRPC server around
//! [`NearDupService`], with the standard health service (`grpc.health.v1`, SERVING once
//! the store is loaded) and server reflection, both `grpc.reflection.v1` and the older
//! `v1alpha` (which grpcurl up to 1.8 and many other clients still speak only), so
//! `grpcurl` works without the proto.
//!
//! The caller owns the store ([`open_store`]), the listener (tests bind 127.0.0.1:0) and
//! the shutdown signal (the binary passes SIGINT/SIGTERM, tests a oneshot). On shutdown the server stops
//! accepting, lets in-flight calls finish, makes the store durable, writes a snapshot
//! (so the next start replays little), and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::engine::Settings;
use crate::grpc::pb::near_dup_server::NearDupServer;
use crate::grpc::{FILE_DESCRIPTOR_SET, Limits, NearDupService, ServiceError};
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
}

/// Durability options of the data directory.
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    /// When the write-ahead log is fsynced (default: before every acknowledgement).
    pub fsync: FsyncPolicy,
    /// Take over a data directory written under other engine settings, re-indexing its
    /// documents, instead of refusing to start.
    pub reindex: bool,
}

impl ServerConfig {
    /// Checks the settings and limits.
    pub fn validate(&self) -> crate::Result<()> {
        self.settings.validate()?;
        self.limits.validate()
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
}

/// The store the server writes through: the write-ahead log in `config.data_dir`,
/// checked against the engine settings (see [`WalStore::open`]). Blocking.
pub fn open_store(config: &ServerConfig) -> Result<Arc<dyn Store>, StoreError> {
    let options = WalOptions {
        fsync: config.store.fsync,
        reindex: config.store.reindex,
        ..WalOptions::new(&config.settings)
    };
    Ok(Arc::new(WalStore::open(&config.data_dir, options)?))
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

/// Serves `neardup.v1.NearDup`, health and reflection on `listener` until `shutdown`
/// completes, then drains in-flight calls and returns. The engines are first rebuilt
/// from `store` (see [`open_store`]).
pub async fn serve(
    config: ServerConfig,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    config.validate().map_err(ServiceError::from)?;
    let limits = config.limits.clone();
    let settings = config.settings.clone();
    let durable = store.clone();
    let service =
        tokio::task::spawn_blocking(move || NearDupService::open(settings, limits, store))
            .await
            .map_err(|e| ServiceError::Internal(format!("store loading failed: {e}")))??;

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<NearDupServer<NearDupService>>().await;
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

    let max = config.limits.max_message_bytes;
    let neardup = NearDupServer::new(service)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max.saturating_mul(4));
    let addr = listener.local_addr().ok();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tracing::info!(?addr, "serving neardup.v1.NearDup");
    Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(tower::util::MapResponseLayer::new(
            too_large_is_resource_exhausted,
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(neardup)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            health
                .set_not_serving::<NearDupServer<NearDupService>>()
                .await;
        })
        .await?;
    tokio::task::spawn_blocking(move || {
        durable.sync()?;
        durable.compact()
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("final snapshot failed: {e}")))?
    .map_err(ServiceError::from)?;
    tracing::info!("stopped");
    Ok(())
}
