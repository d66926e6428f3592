//! `cpg-node`'s command line and the loop it runs: serve the node's API and
//! keep its membership with the coordinators until asked to stop.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::membership::{self, Membership};
use crate::service::{self, Node, NodeConfig};

#[derive(Debug, Parser)]
#[command(
    name = "cpg-node",
    version,
    about = "A storage node of a cpg cluster: holds CPG partitions and answers queries on them."
)]
pub struct Args {
    #[command(flatten)]
    pub process: host::config::ProcessArgs,
    /// This node's id, unique in the cluster.
    #[arg(long, env = "CPG_ID")]
    pub id: proto::assignment::NodeId,
    /// Address to serve on.
    #[arg(long, env = "CPG_LISTEN", default_value = "127.0.0.1:7100")]
    pub listen: String,
    /// Address others reach this node at (default: the listen address).
    #[arg(long, env = "CPG_ADVERTISE")]
    pub advertise: Option<String>,
    /// Where the node keeps its partitions.
    #[arg(long, env = "CPG_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Coordinator addresses, comma-separated.
    #[arg(long, env = "CPG_COORDINATOR", value_delimiter = ',', required = true)]
    pub coordinator: Vec<String>,
    /// Heartbeat interval in milliseconds.
    #[arg(long, env = "CPG_HEARTBEAT_MS", default_value_t = 1000)]
    pub heartbeat_ms: u64,
    /// Resident memory (MB) the node should stay under; `cpg health` reports
    /// the node degraded above 80% of it.
    #[arg(long, env = "CPG_MEMORY_LIMIT_MB")]
    pub memory_limit_mb: Option<u64>,
    /// A partition rebuilds its tables when more than this share of its
    /// rows are deleted (0..=1).
    #[arg(long, env = "CPG_DEFRAG_THRESHOLD", default_value_t = service::DEFRAG_THRESHOLD)]
    pub defrag_threshold: f64,
}

/// Run a node until stopped (Ctrl-C or SIGTERM).
pub async fn run(args: Args) -> std::io::Result<()> {
    serve(args, host::daemon::stop_signal()).await
}

/// Run a node until `stop` resolves: the process's work, also what an
/// in-process test cluster runs for each of its nodes.
pub async fn serve(args: Args, stop: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
    net::wire::secure_links(
        args.process.certs_dir.as_deref(),
        args.process.insecure,
        "node",
    )
    .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
    let (node, quarantined) = Node::open(&NodeConfig {
        node_id: args.id,
        data_dir: args.data_dir.clone(),
        memory_limit_mb: args.memory_limit_mb,
        defrag_threshold: args.defrag_threshold,
        cache_ttl: args.process.cache_ttl(),
        slow_query_ms: args.process.slow_query_ms,
    })?;
    let sweeper = {
        let node = node.clone();
        args.process.spawn_sweeper(move || {
            node.cache_sweep();
            std::future::ready(())
        })
    };
    let metrics = {
        let node = node.clone();
        net::metrics::spawn_if_asked(args.process.metrics_listen.as_deref(), move || {
            node.metrics()
        })
        .await?
    };
    for (path, reason) in &quarantined {
        tracing::warn!(path = %path.display(), %reason, "moved damaged data aside");
    }
    let (listener, advertise) = net::wire::listen(&args.listen, args.advertise.as_deref()).await?;
    tracing::info!(
        node = args.id.0,
        address = %advertise,
        data_dir = %args.data_dir.display(),
        "serving"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let membership = Membership {
        coordinators: args.coordinator.clone(),
        advertise,
        interval: Duration::from_millis(args.heartbeat_ms.max(10)),
    };
    let beat = {
        let node = node.clone();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            membership::run(node, membership, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
        })
    };
    let mut rx = stop_rx;
    let served = service::run(listener, node, async move {
        let _ = rx.wait_for(|s| *s).await;
    });
    tokio::pin!(served);
    let result = tokio::select! {
        r = &mut served => r,
        _ = stop => {
            let _ = stop_tx.send(true);
            served.await
        }
    };
    let _ = stop_tx.send(true);
    let _ = beat.await;
    sweeper.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    result
}
