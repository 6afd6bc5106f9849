//! `neardup migrate --from DATA_DIR --to redis-cluster://...`: copies an embedded data
//! directory (every namespace, document, text and analysis) into a Redis Cluster, for
//! `neardup serve --index redis-cluster://...`. Documents already in the cluster are left
//! as they are, so an interrupted migration can be run again. The data directory is
//! opened with the same engine settings as the cluster, and refused otherwise.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

use neardup::cluster::{ClusterOptions, ClusterService, parse_url};
use neardup::store::{Store, WalOptions, WalStore};

use super::{EngineArgs, UsageError};

/// Flags of `neardup migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data directory of an embedded `neardup serve` (stopped).
    #[arg(long, value_name = "DATA_DIR")]
    pub from: PathBuf,
    /// The cluster: `redis-cluster://HOST:PORT,HOST:PORT,...`.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Wait until N replicas of each primary have the copy before finishing.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub redis_wait: usize,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Copies the documents; prints how many were copied and skipped.
pub fn run(args: MigrateArgs) -> Result<ExitCode> {
    let settings = args.engine.settings()?;
    let mut options = ClusterOptions::new(parse_url(&args.to).map_err(UsageError::from)?);
    options.wait_replicas = args.redis_wait;
    let store = WalStore::open(&args.from, WalOptions::new(&settings))
        .with_context(|| format!("cannot open the data directory {}", args.from.display()))?;
    let documents = store.load()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (copied, skipped) = runtime.block_on(async {
        let cluster = ClusterService::connect(settings, options)
            .await
            .context("cannot use the Redis Cluster")?;
        let (mut copied, mut skipped) = (0usize, 0usize);
        for d in &documents {
            let text = store
                .text(&d.namespace, &d.name)?
                .with_context(|| format!("the text of {:?} is missing", d.name))?;
            if cluster.restore(d, text).await? {
                copied += 1;
            } else {
                skipped += 1;
            }
        }
        cluster.sync().await?;
        Ok::<_, anyhow::Error>((copied, skipped))
    })?;
    eprintln!(
        "neardup: migrated {copied} documents to {} ({skipped} already there)",
        args.to
    );
    Ok(ExitCode::SUCCESS)
}
