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
    /// A TOML file of settings: keys are these flags' names (`data-dir`);
    /// a CPG_* environment variable overrides a key, a flag both.
    #[arg(long, env = "CPG_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id, unique in the cluster.
    #[arg(long, env = "CPG_ID")]
    pub id: u64,
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
    /// Lifetime of cached results in seconds; expired ones are swept
    /// periodically (every quarter of it) and by `cpg cache cleanup`.
    #[arg(long, env = "CPG_CACHE_TTL_SECS", default_value_t = service::CACHE_TTL.as_secs())]
    pub cache_ttl_secs: u64,
    /// Seconds between periodic cache sweeps (default: a quarter of the
    /// TTL; 0 turns them off, leaving `cpg cache cleanup`).
    #[arg(long, env = "CPG_CACHE_SWEEP_SECS")]
    pub cache_sweep_secs: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, env = "CPG_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Certificates of this process and the cluster's CA (`ca.crt`,
    /// `node.crt`, `node.key`; made with `cpg cert`): every link is mutual
    /// TLS, and only peers with a certificate of the CA get in.
    #[arg(long, env = "CPG_CERTS_DIR")]
    pub certs_dir: Option<PathBuf>,
    /// Plain TCP on every link, without certificates: only on a trusted
    /// network (the dev-cluster and the tests use it, and say so).
    #[arg(long, env = "CPG_INSECURE")]
    pub insecure: bool,
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Run a node until stopped (Ctrl-C or SIGTERM).
pub async fn run(args: Args) -> std::io::Result<()> {
    serve(args, stop_signal()).await
}

/// Run a node until `stop` resolves: the process's work, also what an
/// in-process test cluster runs for each of its nodes.
pub async fn serve(args: Args, stop: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
    let tls = net::certs::security(args.certs_dir.as_deref(), "node", true, args.insecure)
        .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
    if tls.is_none() {
        tracing::warn!("--insecure: every link of this node is plain TCP");
    }
    net::wire::secure_with(tls);
    let (node, quarantined) = Node::open(&NodeConfig {
        node_id: args.id,
        data_dir: args.data_dir.clone(),
        memory_limit_mb: args.memory_limit_mb,
        defrag_threshold: args.defrag_threshold,
        cache_ttl: Duration::from_secs(args.cache_ttl_secs.max(1)),
    })?;
    let sweeper = {
        let node = node.clone();
        let every = partition::store::sweep_interval(args.cache_ttl_secs, args.cache_sweep_secs);
        tokio::spawn(async move {
            let Some(every) = every else { return };
            loop {
                tokio::time::sleep(every).await;
                node.cache_sweep();
            }
        })
    };
    let metrics = {
        let node = node.clone();
        net::metrics::spawn_if_asked(args.metrics_listen.as_deref(), move || node.metrics()).await?
    };
    for (path, reason) in &quarantined {
        tracing::warn!(path = %path.display(), %reason, "moved damaged data aside");
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", args.listen))
        })?;
    let advertise = args.advertise.clone().unwrap_or_else(|| {
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| args.listen.clone())
    });
    tracing::info!(
        node = args.id,
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
