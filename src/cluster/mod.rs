//! Scale-out on a Redis Cluster: stateless `neardup serve` replicas that share one index.
//!
//! - [`RedisIndex`] ([`index`]): the [`crate::index::Index`] of one namespace in the
//!   cluster, so the one engine flow ([`crate::engine::Core`]) runs over it unchanged.
//! - [`ClusterService`] ([`service`]): the async service layer over it (submit, check,
//!   delete, get, stats, namespaces, migration from a data directory), with texts and
//!   metadata kept in the cluster too; the gRPC handlers reach it through
//!   [`crate::grpc::backend::Backend`].
//!
//! Every replica holds only a cluster client, its settings and a block of document ids.
//! The settings' fingerprint is stored in the cluster: a replica started with other
//! engine settings refuses to start.

pub mod index;
pub mod service;

pub use index::RedisIndex;
pub use service::{ClusterOptions, ClusterService};

use crate::error::{Error, Result};

/// The scheme of `--index` for a cluster.
pub const SCHEME: &str = "redis-cluster://";

/// The seed node URLs of `redis-cluster://HOST:PORT,HOST:PORT,...` (`redis://HOST:PORT`
/// each, as the client takes them).
pub fn parse_url(url: &str) -> Result<Vec<String>> {
    let rest = url.strip_prefix(SCHEME).ok_or_else(|| {
        Error::invalid(
            "index",
            format!("{url:?} is neither `embedded` nor `{SCHEME}HOST:PORT,...`"),
        )
    })?;
    let seeds: Vec<String> = rest
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| Error::invalid("index", format!("seed {s:?} is not HOST:PORT")))?;
            port.parse::<u16>()
                .map_err(|_| Error::invalid("index", format!("seed {s:?} has no valid port")))?;
            Ok(format!("redis://{host}:{port}"))
        })
        .collect::<Result<_>>()?;
    if seeds.is_empty() {
        return Err(Error::invalid(
            "index",
            format!("{url:?} names no seed node"),
        ));
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("redis-cluster://127.0.0.1:7000, 127.0.0.1:7001").unwrap(),
            ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
        );
        assert!(parse_url("redis://127.0.0.1:7000").is_err());
        assert!(parse_url("redis-cluster://").is_err());
        assert!(parse_url("redis-cluster://host").is_err());
        assert!(parse_url("redis-cluster://host:port").is_err());
    }
}
