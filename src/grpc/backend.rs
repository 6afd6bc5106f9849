//! [`Backend`]: the one place where the gRPC handlers pick the embedded service (engines
//! in this process over a durable store, [`Service`]) or a replica of the cluster
//! service ([`ClusterService`], everything in a Redis Cluster).
//!
//! Both answer the same calls with the same errors. The handlers run them on the
//! blocking pool (see [`super::service`]); the cluster's async calls are driven there by
//! the runtime's handle, and a submission frees its CPU slot as soon as its analysis is
//! done, before any round trip.

use std::sync::Arc;

use crate::analysis::{AnalyzedDocument, Analyzer};
use crate::cluster::ClusterService;
use crate::engine::{EngineStats, QueryOptions, Report, Settings, Submitted};
use crate::service::{NamespaceUsage, Service, ServiceError, StoredText, Submission};
use crate::store::Store;

/// Where the server keeps its index; see the module docs. (One per server: the size of
/// the embedded variant does not matter.)
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    /// Engines in this process, over a store.
    Embedded(Service),
    /// A replica over a Redis Cluster.
    Cluster(Arc<ClusterService>),
}

/// What [`crate::server::serve`] opens a [`Backend`] from: a store to restore the
/// embedded engines from, or a connected cluster service.
pub enum Backing {
    /// The embedded engines over this store.
    Store(Arc<dyn Store>),
    /// A replica over a Redis Cluster.
    Cluster(Arc<ClusterService>),
}

impl From<Arc<dyn Store>> for Backing {
    fn from(store: Arc<dyn Store>) -> Backing {
        Backing::Store(store)
    }
}

impl From<Arc<ClusterService>> for Backing {
    fn from(cluster: Arc<ClusterService>) -> Backing {
        Backing::Cluster(cluster)
    }
}

/// Drives a cluster call to its end from a blocking-pool thread.
fn wait<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(f)
}

impl Backend {
    /// The engine settings every namespace uses.
    pub fn settings(&self) -> &Settings {
        match self {
            Backend::Embedded(s) => s.settings(),
            Backend::Cluster(c) => c.settings(),
        }
    }

    /// The analyzer submissions are analyzed with.
    pub fn analyzer(&self) -> &Analyzer {
        match self {
            Backend::Embedded(s) => s.analyzer(),
            Backend::Cluster(c) => c.analyzer(),
        }
    }

    /// Documents in every namespace (the cluster's as last counted).
    pub fn documents(&self) -> usize {
        match self {
            Backend::Embedded(s) => s.documents(),
            Backend::Cluster(_) => self.live_stats().iter().map(|(_, s)| s.documents).sum(),
        }
    }

    /// Fails with [`ServiceError::NamespaceNotFound`] unless the namespace exists.
    pub fn require_namespace(&self, ns: &str) -> Result<(), ServiceError> {
        match self {
            Backend::Embedded(s) => s.engine(ns).map(|_| ()),
            Backend::Cluster(c) => wait(c.require_namespace(ns)),
        }
    }

    /// [`Service::submit`].
    pub fn submit(&self, s: Submission, indexed: impl FnOnce()) -> Result<Submitted, ServiceError> {
        match self {
            Backend::Embedded(service) => service.submit(s, indexed),
            Backend::Cluster(c) => {
                indexed();
                wait(c.submit(s))
            }
        }
    }

    /// [`Service::check`].
    pub fn check(
        &self,
        namespace: &str,
        name: &str,
        doc: &AnalyzedDocument,
        opts: &QueryOptions,
    ) -> Result<Report, ServiceError> {
        match self {
            Backend::Embedded(s) => s.check(namespace, name, doc, opts),
            Backend::Cluster(c) => wait(c.check(namespace, name, doc, opts)),
        }
    }

    /// [`Service::delete`].
    pub fn delete(&self, namespace: &str, id: &str) -> Result<usize, ServiceError> {
        match self {
            Backend::Embedded(s) => s.delete(namespace, id),
            Backend::Cluster(c) => wait(c.delete(namespace, id)),
        }
    }

    /// [`Service::get`].
    pub fn get(&self, namespace: &str, id: &str) -> Result<StoredText, ServiceError> {
        match self {
            Backend::Embedded(s) => s.get(namespace, id),
            Backend::Cluster(c) => wait(c.get(namespace, id)),
        }
    }

    /// [`Service::stats`].
    pub fn stats(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<(String, EngineStats)>, ServiceError> {
        match self {
            Backend::Embedded(s) => s.stats(namespace),
            Backend::Cluster(c) => wait(c.stats(namespace)),
        }
    }

    /// [`Service::namespaces`], sorted.
    pub fn namespaces(&self) -> Result<Vec<String>, ServiceError> {
        match self {
            Backend::Embedded(s) => Ok(s.namespaces()),
            Backend::Cluster(c) => wait(c.namespaces()).map(|mut names| {
                names.sort();
                names
            }),
        }
    }

    /// [`Service::usage`]. The cluster counts documents but accounts no bytes (0): its
    /// memory is reported cluster-wide ([`Backend::cluster_memory`]).
    pub fn usage(&self, ns: &str) -> Result<NamespaceUsage, ServiceError> {
        match self {
            Backend::Embedded(s) => s.usage(ns),
            Backend::Cluster(c) => {
                let stats = wait(c.stats(Some(ns)))?;
                Ok(NamespaceUsage {
                    documents: stats.iter().map(|(_, s)| s.documents).sum(),
                    bytes: 0,
                })
            }
        }
    }

    /// [`Service::create_namespace`]: true when it was created, false when it existed.
    pub fn create_namespace(&self, ns: &str) -> Result<bool, ServiceError> {
        match self {
            Backend::Embedded(s) => s.create_namespace(ns),
            Backend::Cluster(c) => {
                crate::service::validate_namespace(ns)?;
                if wait(c.namespaces())?.iter().any(|n| n == ns) {
                    return Ok(false);
                }
                wait(c.create_namespace(ns)).map(|()| true)
            }
        }
    }

    /// [`Service::delete_namespace`]: the number of documents deleted with it.
    pub fn delete_namespace(&self, ns: &str) -> Result<usize, ServiceError> {
        match self {
            Backend::Embedded(s) => s.delete_namespace(ns),
            Backend::Cluster(c) => wait(c.delete_namespace(ns)),
        }
    }

    /// Bytes the cluster uses (`None` for the embedded engines).
    pub fn cluster_memory(&self) -> Result<Option<u64>, ServiceError> {
        match self {
            Backend::Embedded(_) => Ok(None),
            Backend::Cluster(c) => wait(c.memory()).map(Some),
        }
    }

    /// Figures of every namespace without waiting (for metrics): the cluster's as last
    /// counted.
    pub fn live_stats(&self) -> Vec<(String, EngineStats)> {
        match self {
            Backend::Embedded(s) => s.stats(None).unwrap_or_default(),
            Backend::Cluster(c) => c.last_stats(),
        }
    }
}
