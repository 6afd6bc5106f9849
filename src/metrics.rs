//! What an operator sees of a running server: Prometheus metrics, served as text
//! (OpenMetrics) on their own port ([`serve_http`], `neardup serve --metrics-listen`).
//!
//! - `neardup_rpc_requests_total{service,method,code}` and
//!   `neardup_rpc_duration_seconds{service,method,code}`: every call, counted and timed
//!   by one tower layer ([`crate::grpc::telemetry`]) from its arrival to the end of its
//!   response (a stream's whole life);
//! - `neardup_rpc_in_flight`: calls between arrival and the end of their response;
//!   `neardup_jobs_waiting` and `neardup_jobs_running`: engine jobs waiting for a worker
//!   and holding one; `neardup_inflight_request_bytes` (and its `_limit`): the byte
//!   budget of [`crate::grpc::budget`];
//! - `neardup_namespace_documents`, `_paragraphs` and `_index_bytes{namespace}`: read
//!   from the service at scrape time;
//! - `neardup_wal_appends_total` (records), `neardup_wal_append_bytes_total`,
//!   `neardup_wal_fsync_duration_seconds` and `neardup_wal_records_per_fsync`: the
//!   group commit of [`crate::store::WalStore`], through its [`WalObserver`] hook;
//! - `neardup_restart_duration_seconds{phase}`: how long the last start took to open the
//!   store (`store`) and to rebuild the index from it (`index`).
//!
//! The endpoint has no authentication: bind it to loopback or a private network.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::grpc::NearDupService;
use crate::grpc::budget::ByteBudget;
use crate::store::WalObserver;

/// Labels of one kind of call and its outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: &'static str,
    method: &'static str,
    code: &'static str,
}

/// Labels of a restart phase.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(1e-4, 2.0, 17))
}

/// Every metric of one server (see the module docs). Shared by the layers, the store and
/// the endpoint.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    durations: HistogramFamily<CallLabels>,
    in_flight: Gauge,
    wal: Arc<WalMetrics>,
    restart: Family<PhaseLabels, Gauge<f64, AtomicU64>>,
    live: Arc<Live>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The group-commit metrics of the WAL.
#[derive(Debug)]
struct WalMetrics {
    appends: Counter,
    append_bytes: Counter,
    fsync: Histogram,
    records_per_fsync: Histogram,
}

impl WalObserver for WalMetrics {
    fn appended(&self, records: u64, bytes: u64) {
        self.appends.inc_by(records);
        self.append_bytes.inc_by(bytes);
    }

    fn synced(&self, elapsed: Duration, records: u64) {
        self.fsync.observe(elapsed.as_secs_f64());
        self.records_per_fsync.observe(records as f64);
    }
}

/// What is read at scrape time: the service (once it has been restored) and the budget.
#[derive(Debug, Default)]
struct Live {
    service: OnceLock<NearDupService>,
    budget: OnceLock<Arc<ByteBudget>>,
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        if let Some(budget) = self.budget.get() {
            gauge(
                &mut encoder,
                "neardup_inflight_request_bytes",
                "Request bytes held by calls being received or processed",
                budget.held() as i64,
            )?;
            gauge(
                &mut encoder,
                "neardup_inflight_request_bytes_limit",
                "The limit of neardup_inflight_request_bytes (--max-inflight-bytes)",
                budget.limit() as i64,
            )?;
        }
        let Some(service) = self.service.get() else {
            return Ok(());
        };
        let load = service.load();
        gauge(
            &mut encoder,
            "neardup_jobs_waiting",
            "Engine jobs waiting for a worker",
            load.waiting as i64,
        )?;
        gauge(
            &mut encoder,
            "neardup_jobs_running",
            "Engine jobs holding a worker",
            load.running as i64,
        )?;
        let namespaces = service.namespace_stats();
        for (name, help, field) in [
            (
                "neardup_namespace_documents",
                "Documents stored in a namespace",
                0,
            ),
            (
                "neardup_namespace_paragraphs",
                "Paragraphs indexed in a namespace",
                1,
            ),
            (
                "neardup_namespace_index_bytes",
                "Bytes of a namespace's LSH and exact-hash tables",
                2,
            ),
        ] {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (namespace, stats) in &namespaces {
                let value = [stats.documents, stats.paragraphs, stats.index_bytes][field];
                let labels = [("namespace", namespace.as_str())];
                ConstGauge::new(value as i64).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

impl Metrics {
    /// A fresh set of metrics, all zero.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        let durations: HistogramFamily<CallLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let in_flight = Gauge::default();
        let wal = Arc::new(WalMetrics {
            appends: Counter::default(),
            append_bytes: Counter::default(),
            fsync: latency_histogram(),
            records_per_fsync: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
        });
        let restart = Family::<PhaseLabels, Gauge<f64, AtomicU64>>::default();
        let live = Arc::new(Live::default());
        registry.register(
            "neardup_rpc_requests",
            "Calls, by service, method and status code",
            calls.clone(),
        );
        registry.register(
            "neardup_rpc_duration_seconds",
            "Time from a call's arrival to the end of its response",
            durations.clone(),
        );
        registry.register(
            "neardup_rpc_in_flight",
            "Calls whose response has not ended",
            in_flight.clone(),
        );
        registry.register(
            "neardup_wal_appends",
            "Records appended to the write-ahead log",
            wal.appends.clone(),
        );
        registry.register(
            "neardup_wal_append_bytes",
            "Bytes appended to the write-ahead log",
            wal.append_bytes.clone(),
        );
        registry.register(
            "neardup_wal_fsync_duration_seconds",
            "Time of one fsync of the write-ahead log",
            wal.fsync.clone(),
        );
        registry.register(
            "neardup_wal_records_per_fsync",
            "Records made durable by one fsync (group commit)",
            wal.records_per_fsync.clone(),
        );
        registry.register(
            "neardup_restart_duration_seconds",
            "Time the last start took, by phase (store: open the data directory; index: rebuild the engines)",
            restart.clone(),
        );
        registry.register_collector(Box::new(live.clone()));
        Arc::new(Metrics {
            registry,
            calls,
            durations,
            in_flight,
            wal,
            restart,
            live,
        })
    }

    /// The hook the WAL reports its appends and fsyncs to.
    pub fn wal_observer(&self) -> Arc<dyn WalObserver> {
        self.wal.clone()
    }

    /// Reads per-namespace figures and the job queue from `service` from now on.
    pub fn attach_service(&self, service: NearDupService) {
        let _ = self.live.service.set(service);
    }

    /// Reads the byte budget from now on.
    pub fn attach_budget(&self, budget: Arc<ByteBudget>) {
        let _ = self.live.budget.set(budget);
    }

    /// Records how long a phase of the start took (`store` or `index`).
    pub fn restart_phase(&self, phase: &'static str, elapsed: Duration) {
        self.restart
            .get_or_create(&PhaseLabels { phase })
            .set(elapsed.as_secs_f64());
    }

    /// A call has arrived.
    pub(crate) fn call_started(&self) {
        self.in_flight.inc();
    }

    /// A call's response has ended (or the call was dropped) with `code`.
    pub(crate) fn call_finished(
        &self,
        service: &'static str,
        method: &'static str,
        code: &'static str,
        elapsed: Duration,
    ) {
        self.in_flight.dec();
        let labels = CallLabels {
            service,
            method,
            code,
        };
        self.calls.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and every metric encodes.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::encode`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve_http(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
                    metrics.encode(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
