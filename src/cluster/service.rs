//! [`ClusterService`]: the service layer of a replica over a Redis Cluster, the async
//! counterpart of [`crate::service::Service`] with the same calls, errors and answers.
//!
//! Each namespace is a [`Core`] over a [`RedisIndex`]; namespaces are numbered in the
//! cluster (`nd:namespaces`), so deleting one removes its number first (nothing sees it
//! afterwards) and then every key under it, node by node. Texts are stored with their
//! document's records in one atomic step ([`super::index::with_text`]), so no replica ever
//! sees a document without its text.
//!
//! Durability is the cluster's: Redis acknowledges a write once its primary has applied
//! it and replicates asynchronously, so a primary that dies before its replica has the
//! write loses it on failover. With `wait_replicas` set (`--redis-wait N`), every
//! acknowledged write has first reached N replicas of each primary (`WAIT`), or the call
//! fails with UNAVAILABLE (the write is applied, and retrying it is idempotent).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncCommands, Value};

use super::index::{RedisIndex, Shared, now_ms, unavailable, with_text};
use crate::analysis::{AnalyzedDocument, Analyzer, ParagraphRecord};
use crate::engine::{Core, EngineStats, QueryOptions, Report, Settings, Submitted, Texts};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::service::{ServiceError, StoredText, Submission};
use crate::store::{Fingerprint, StoredDocument};
use crate::text::split_paragraphs_with;

/// How a replica uses the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Seed nodes, `redis://HOST:PORT` (see [`super::parse_url`]).
    pub seeds: Vec<String>,
    /// Replicas every write must reach before it is acknowledged (0: don't wait).
    pub wait_replicas: usize,
    /// How long to wait for them.
    pub wait_timeout: Duration,
    /// How long a submission may stay pending before it is taken for dead and reaped.
    pub lease: Duration,
    /// How long one command may take before the call fails with UNAVAILABLE.
    pub response_timeout: Duration,
}

impl ClusterOptions {
    /// Options for these seeds, with defaults: no WAIT, 30 s lease, 2 s responses.
    pub fn new(seeds: Vec<String>) -> ClusterOptions {
        ClusterOptions {
            seeds,
            wait_replicas: 0,
            wait_timeout: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            response_timeout: Duration::from_secs(2),
        }
    }
}

/// The service of one replica; see the module docs. Share it in an `Arc`.
pub struct ClusterService {
    settings: Settings,
    analyzer: Analyzer,
    shared: Arc<Shared>,
    options: ClusterOptions,
    cores: RwLock<HashMap<u64, Arc<Core<RedisIndex>>>>,
    /// The last figures of [`ClusterService::stats`] (for metrics, which cannot wait).
    last_stats: Mutex<Vec<(String, EngineStats)>>,
}

impl std::fmt::Debug for ClusterService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterService")
            .field("seeds", &self.options.seeds)
            .finish_non_exhaustive()
    }
}

/// The texts of one namespace, read from the cluster.
struct ClusterTexts<'a>(&'a RedisIndex);

impl Texts for ClusterTexts<'_> {
    async fn text(&self, name: &str) -> Option<Arc<str>> {
        {
            let got = match self.0.document(name).await {
                Ok(Some(d)) => self.0.text(d.id).await,
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            got.unwrap_or_else(|e| {
                tracing::warn!(document_id = name, error = %e, "cannot read a stored text; its spans are left out");
                None
            })
            .map(Arc::from)
        }
    }
}

/// Key of the settings fingerprint.
const SETTINGS_KEY: &str = "nd:settings";
/// Hash of namespace names to their numbers.
const NAMESPACES_KEY: &str = "nd:namespaces";

impl ClusterService {
    /// Connects to the cluster and checks (or, on an empty cluster, records) the settings
    /// fingerprint: a cluster written under other settings is refused.
    pub async fn connect(settings: Settings, options: ClusterOptions) -> Result<ClusterService> {
        settings.validate()?;
        let analyzer = Analyzer::new(settings.shape())?;
        let client = ClusterClientBuilder::new(options.seeds.clone())
            .retries(2)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(options.response_timeout)
            // Calls are chains of small requests, each awaited: Nagle's algorithm (off
            // by redis' default settings) could only hold them back.
            .tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true))
            .build()
            .map_err(unavailable)?;
        let mut conn = client.get_async_connection().await.map_err(unavailable)?;
        let fingerprint = Fingerprint::from_settings(&settings).to_string();
        let _: Option<String> = redis::cmd("SET")
            .arg(SETTINGS_KEY)
            .arg(&fingerprint)
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let stored: String = conn.get(SETTINGS_KEY).await.map_err(unavailable)?;
        if stored != fingerprint {
            return Err(Error::invalid(
                "index",
                format!(
                    "the cluster holds an index made with other engine settings ({stored}); \
                     these are {fingerprint}. Start with the same settings, or use another cluster"
                ),
            ));
        }
        let lease_ms = options.lease.as_millis() as u64;
        Ok(ClusterService {
            shared: Arc::new(Shared::new(conn, analyzer.clone(), lease_ms)),
            analyzer,
            settings,
            options,
            cores: RwLock::default(),
            last_stats: Mutex::default(),
        })
    }

    /// Reaps dead submissions and refreshes the figures metrics read, every half lease,
    /// for as long as the service lives.
    pub fn spawn_reaper(self: &Arc<Self>) {
        let service: Weak<ClusterService> = Arc::downgrade(self);
        let every = (self.options.lease / 2).max(Duration::from_millis(100));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(service) = service.upgrade() else {
                    return;
                };
                if let Err(e) = service.reap().await {
                    tracing::warn!(error = %e, "cannot reap pending submissions");
                }
                let _ = service.stats(None).await;
            }
        });
    }

    /// Reaps, in every namespace, the pending submissions whose lease has passed.
    pub async fn reap(&self) -> Result<usize, ServiceError> {
        let mut reaped = 0;
        for (_, ns) in self.namespace_numbers().await? {
            reaped += self.core_of(ns).index().reap_expired().await?;
        }
        Ok(reaped)
    }

    /// The engine settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The analyzer submissions are analyzed with.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    fn conn(&self) -> ClusterConnection {
        self.shared.conn()
    }

    fn core_of(&self, ns: u64) -> Arc<Core<RedisIndex>> {
        if let Some(core) = self
            .cores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ns)
        {
            return core.clone();
        }
        let index = RedisIndex::new(self.shared.clone(), ns);
        // The settings were validated by `connect`.
        let core = Arc::new(Core::new(self.settings.clone(), index).expect("validated settings"));
        self.cores
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(ns)
            .or_insert(core)
            .clone()
    }

    /// The number of a namespace, if it exists.
    async fn namespace_number(&self, ns: &str) -> Result<Option<u64>> {
        self.conn()
            .hget(NAMESPACES_KEY, ns)
            .await
            .map_err(unavailable)
    }

    async fn namespace_numbers(&self) -> Result<Vec<(String, u64)>> {
        let mut all: Vec<(String, u64)> = self
            .conn()
            .hgetall::<_, HashMap<String, u64>>(NAMESPACES_KEY)
            .await
            .map_err(unavailable)?
            .into_iter()
            .collect();
        all.sort();
        Ok(all)
    }

    /// The engine of a namespace, created first if `create`.
    async fn core(&self, ns: &str, create: bool) -> Result<Arc<Core<RedisIndex>>, ServiceError> {
        if let Some(n) = self.namespace_number(ns).await? {
            return Ok(self.core_of(n));
        }
        if !create {
            return Err(ServiceError::NamespaceNotFound(ns.to_string()));
        }
        let n: u64 = self.conn().incr("nd:nsid", 1).await.map_err(unavailable)?;
        let _: bool = self
            .conn()
            .hset_nx(NAMESPACES_KEY, ns, n)
            .await
            .map_err(unavailable)?;
        // Of two replicas creating it at once, the first number stays.
        let n = self
            .namespace_number(ns)
            .await?
            .ok_or_else(|| ServiceError::NamespaceNotFound(ns.to_string()))?;
        Ok(self.core_of(n))
    }

    /// Creates a namespace if it does not exist yet (Submit does it implicitly).
    pub async fn create_namespace(&self, ns: &str) -> Result<(), ServiceError> {
        self.core(ns, true).await.map(|_| ())
    }

    /// Fails with [`ServiceError::NamespaceNotFound`] unless the namespace exists.
    pub async fn require_namespace(&self, ns: &str) -> Result<(), ServiceError> {
        self.core(ns, false).await.map(|_| ())
    }

    /// Names of the namespaces, sorted.
    pub async fn namespaces(&self) -> Result<Vec<String>, ServiceError> {
        Ok(self
            .namespace_numbers()
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    /// Deletes a namespace and every key it has in the cluster; returns how many keys.
    pub async fn delete_namespace(&self, ns: &str) -> Result<usize, ServiceError> {
        let n = self
            .namespace_number(ns)
            .await?
            .ok_or_else(|| ServiceError::NamespaceNotFound(ns.to_string()))?;
        // Gone for every replica at once; its keys are unreachable from here on.
        let _: () = self
            .conn()
            .hdel(NAMESPACES_KEY, ns)
            .await
            .map_err(unavailable)?;
        self.cores
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&n);
        let mut removed = 0;
        for pattern in [format!("nd:{n}:*"), format!("nd:{{{n}:*")] {
            removed += self.delete_matching(&pattern).await?;
        }
        Ok(removed)
    }

    /// The primaries, as `(host, port)`.
    async fn primaries(&self) -> Result<Vec<(String, u16)>> {
        let reply = self
            .conn()
            .route_command(
                redis::cmd("PING"),
                RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
            )
            .await
            .map_err(unavailable)?;
        let Value::Map(nodes) = reply else {
            return Err(Error::Unavailable(format!(
                "unexpected reply listing the primaries: {reply:?}"
            )));
        };
        Ok(nodes
            .iter()
            .filter_map(|(addr, _)| {
                let addr = match addr {
                    Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    Value::SimpleString(s) => s.clone(),
                    _ => return None,
                };
                let (host, port) = addr.rsplit_once(':')?;
                Some((host.to_string(), port.parse().ok()?))
            })
            .collect())
    }

    /// Deletes every key matching `pattern` on every primary.
    async fn delete_matching(&self, pattern: &str) -> Result<usize> {
        let mut removed = 0;
        for (host, port) in self.primaries().await? {
            let route = || {
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port,
                })
            };
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000);
                let reply = self
                    .conn()
                    .route_command(scan, route())
                    .await
                    .map_err(unavailable)?;
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)
                    .map_err(|e| Error::Unavailable(e.to_string()))?;
                for key in keys {
                    let _: i64 = self.conn().unlink(key).await.map_err(unavailable)?;
                    removed += 1;
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(removed)
    }

    /// Bytes the cluster's primaries use (`INFO memory` `used_memory`, summed).
    pub async fn memory(&self) -> Result<u64, ServiceError> {
        let reply = self
            .conn()
            .route_command(
                redis::cmd("INFO").arg("memory").to_owned(),
                RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
            )
            .await
            .map_err(unavailable)?;
        let Value::Map(nodes) = reply else {
            return Err(Error::Unavailable("unexpected reply to INFO memory".into()).into());
        };
        let mut total = 0;
        for (_, info) in nodes {
            let info: String =
                redis::from_redis_value(info).map_err(|e| Error::Unavailable(e.to_string()))?;
            total += info
                .lines()
                .find_map(|l| l.strip_prefix("used_memory:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        Ok(total)
    }

    /// Waits for `--redis-wait` replicas to have every write so far.
    async fn replicated(&self) -> Result<(), ServiceError> {
        let n = self.options.wait_replicas;
        if n == 0 {
            return Ok(());
        }
        let got: usize = redis::cmd("WAIT")
            .arg(n)
            .arg(self.options.wait_timeout.as_millis() as u64)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if got < n {
            return Err(Error::Unavailable(format!(
                "the write reached {got} replicas, not {n}, within {} ms; it is applied, and \
                 retrying it is safe",
                self.options.wait_timeout.as_millis()
            ))
            .into());
        }
        Ok(())
    }

    /// Reports on and indexes a submission (see [`Core::submit`]); acknowledged once
    /// written (and, with `wait_replicas`, replicated).
    pub async fn submit(&self, s: Submission) -> Result<Submitted, ServiceError> {
        let core = self.core(&s.namespace, true).await?;
        let texts = ClusterTexts(core.index());
        let stored_at_ms = now_ms();
        let attempt = || {
            with_text(
                s.doc.text.clone(),
                core.submit(
                    &s.id,
                    &s.doc,
                    s.metadata.clone(),
                    stored_at_ms,
                    &s.opts,
                    s.replace,
                    s.split,
                    &texts,
                ),
            )
        };
        let mut result = attempt().await;
        if matches!(result, Err(Error::AlreadyExists(_))) {
            // Another replica may have stored the same name meanwhile: decide against it.
            result = attempt().await;
        }
        if let Err(Error::Unavailable(_)) = &result {
            // A submission cut short leaves a pending document: take it back now rather
            // than after its lease, so a retry can go through.
            let text_hash = xxhash_rust::xxh3::xxh3_64(s.doc.text.as_bytes());
            if let Err(e) = core.index().abandon(&s.id, text_hash).await {
                tracing::debug!(error = %e, "cannot take back a failed submission; it is reaped after its lease");
            }
        }
        let submitted = result?;
        self.replicated().await?;
        Ok(submitted)
    }

    /// Reports on a document against a namespace that exists, indexing nothing.
    pub async fn check(
        &self,
        namespace: &str,
        name: &str,
        doc: &AnalyzedDocument,
        opts: &QueryOptions,
    ) -> Result<Report, ServiceError> {
        let core = self.core(namespace, false).await?;
        Ok(core
            .check(doc, name, opts, &ClusterTexts(core.index()))
            .await?)
    }

    /// Deletes a document; returns how many paragraphs it had.
    pub async fn delete(&self, namespace: &str, id: &str) -> Result<usize, ServiceError> {
        let core = self.core(namespace, false).await?;
        let removed = core.remove(id).await?;
        self.replicated().await?;
        Ok(removed.paragraphs)
    }

    /// A stored document with its text and paragraphs.
    pub async fn get(&self, namespace: &str, id: &str) -> Result<StoredText, ServiceError> {
        let core = self.core(namespace, false).await?;
        let document = core
            .document(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let text = core
            .index()
            .text(document.id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let paragraphs = split_paragraphs_with(&text, document.split);
        Ok(StoredText {
            document,
            text,
            paragraphs,
        })
    }

    /// Counts of one namespace, or of all of them (sorted by name). Byte figures are the
    /// cluster's, not a namespace's: see [`ClusterService::memory`].
    pub async fn stats(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<(String, EngineStats)>, ServiceError> {
        let namespaces = match namespace {
            None => self.namespace_numbers().await?,
            Some(ns) => {
                let n = self
                    .namespace_number(ns)
                    .await?
                    .ok_or_else(|| ServiceError::NamespaceNotFound(ns.to_string()))?;
                vec![(ns.to_string(), n)]
            }
        };
        let mut out = Vec::with_capacity(namespaces.len());
        for (name, n) in namespaces {
            let core = self.core_of(n);
            let (documents, paragraphs) = core.index().counts().await?;
            out.push((
                name,
                EngineStats {
                    documents,
                    paragraphs,
                    index_bytes: 0,
                    record_bytes: 0,
                    lsh: self.analyzer.shape().lsh,
                    // This replica's own funnel: the cluster keeps no counters.
                    funnel: core.funnel(),
                },
            ));
        }
        if namespace.is_none() {
            *self.last_stats.lock().unwrap_or_else(|e| e.into_inner()) = out.clone();
        }
        Ok(out)
    }

    /// The figures of the last [`ClusterService::stats`] of every namespace.
    pub fn last_stats(&self) -> Vec<(String, EngineStats)> {
        self.last_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Copies a document of an embedded data directory into the cluster, as stored (its
    /// records are analyzed again if the store kept only its text). Returns false if a
    /// document of that name is there already (so a migration can be run again).
    pub async fn restore(
        &self,
        stored: &StoredDocument,
        text: String,
    ) -> Result<bool, ServiceError> {
        let core = self.core(&stored.namespace, true).await?;
        let records: Vec<ParagraphRecord> = match &stored.records {
            Some(r) => r.clone(),
            None => self
                .analyzer
                .document(text.as_str(), stored.split)
                .paragraphs
                .iter()
                .filter_map(|p| p.record())
                .collect(),
        };
        let document = stored.entry();
        match with_text(text.into(), core.restore(document, &records)).await {
            Ok(_) => Ok(true),
            Err(Error::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits for `--redis-wait` replicas (after a bulk of restores).
    pub async fn sync(&self) -> Result<(), ServiceError> {
        self.replicated().await
    }
}
