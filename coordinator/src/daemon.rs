//! `cpg-coordinator`'s command line and the loop it runs: one member of the
//! coordinators' Raft group, serving until asked to stop.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use proto::CpgError;

use crate::raft::ClusterConfig;
use crate::service::MoveConfig;
use crate::service::{self, Coordinator, CoordinatorConfig};

#[derive(Debug, Parser)]
#[command(
    name = "cpg-coordinator",
    version,
    about = "A coordinator of a cpg cluster: Raft-replicated partition metadata and placement."
)]
pub struct Args {
    #[command(flatten)]
    pub process: host::config::ProcessArgs,
    /// This coordinator's id in the Raft group.
    #[arg(long, env = "CPG_ID")]
    pub id: u64,
    /// Address to serve on (Raft peers, nodes and clients).
    #[arg(long, env = "CPG_LISTEN", default_value = "127.0.0.1:7000")]
    pub listen: String,
    /// Address others reach this coordinator at (default: the listen address).
    #[arg(long, env = "CPG_ADVERTISE")]
    pub advertise: Option<String>,
    /// Where the Raft log, vote and snapshots are kept.
    #[arg(long, env = "CPG_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Create the cluster with these members (`1=host:port,2=host:port,...`);
    /// give it to one member, once. Ignored when the group already exists.
    #[arg(long, env = "CPG_INIT", value_delimiter = ',')]
    pub init: Vec<String>,
    /// Partition count P, fixed at creation.
    #[arg(long, env = "CPG_PARTITIONS", default_value_t = 64)]
    pub partitions: u32,
    /// Replication factor R.
    #[arg(long, env = "CPG_REPLICATION", default_value_t = 2)]
    pub replication: u32,
    /// Virtual nodes per storage node on the hash ring.
    #[arg(long, env = "CPG_VNODES", default_value_t = 128)]
    pub vnodes: u32,
    /// Raft heartbeat interval in milliseconds. A follower that hears
    /// nothing waits out the leader's lease (5×) and an election timeout
    /// (3–5×): a dead leader is replaced within 8–10× this. Raise it on
    /// links slower than a LAN.
    #[arg(long, env = "CPG_HEARTBEAT_MS", default_value_t = crate::service::HEARTBEAT_MS)]
    pub heartbeat_ms: u64,
    /// Serve the HTTP/JSON API (OpenAPI at /api/v1/openapi.json) and the
    /// dashboard (/) at ADDR: HTTPS asking for a client certificate of the
    /// cluster's CA with --certs-dir (read-write certificates may upload),
    /// plain HTTP with --insecure (reads only, unless --http-read-write).
    #[arg(long, env = "CPG_HTTP_LISTEN")]
    pub http_listen: Option<String>,
    /// Accept uploads to ingest on a plain-HTTP API (--insecure clusters).
    /// Plain HTTP carries no client certificate: only on loopback or behind
    /// an authenticating proxy.
    #[arg(long, env = "CPG_HTTP_READ_WRITE")]
    pub http_read_write: bool,
    /// Resident memory (MB) to stay under: above 80% the answer cache is
    /// dropped, above 90% whole-graph analyses are refused until it falls.
    #[arg(long, env = "CPG_MEMORY_LIMIT_MB")]
    pub memory_limit_mb: Option<u64>,
    /// Seconds without a heartbeat before a storage node is suspect (reads
    /// go to its peers first; it keeps its partitions).
    #[arg(long, env = "CPG_SUSPECT_AFTER_SECS", default_value_t = 3)]
    pub suspect_after_secs: u64,
    /// Seconds without a heartbeat before a storage node is gone and its
    /// partitions are copied to other nodes to restore the replication
    /// factor. Longer than a restart, so a flapping node moves nothing.
    #[arg(long, env = "CPG_DOWN_AFTER_SECS", default_value_t = 30)]
    pub down_after_secs: u64,
    /// Pause between two partition copies of a move, in milliseconds.
    #[arg(long, env = "CPG_MOVE_THROTTLE_MS", default_value_t = 20)]
    pub move_throttle_ms: u64,
    /// Compute every answer: keep no analysis answers (the snapshot of the
    /// nodes' summaries is still kept). For measuring what an uncached
    /// question costs; a production cluster wants the cache.
    #[arg(long, env = "CPG_NO_ANSWER_CACHE")]
    pub no_answer_cache: bool,
    /// Walk callers, callees and a function's impact on the storage nodes,
    /// in rounds (one per depth), with each partition's share of the linked
    /// graph sent to its replicas, instead of in this coordinator's graph.
    /// The answers are the same; docs/SCALING.md says what it costs.
    #[arg(long, env = "CPG_WALKS_ON_NODES")]
    pub walks_on_nodes: bool,
}

fn parse_members(init: &[String]) -> Result<BTreeMap<u64, String>, String> {
    init.iter()
        .map(|m| {
            let (id, addr) = m
                .split_once('=')
                .ok_or_else(|| format!("--init member {m:?} is not id=host:port"))?;
            let id = id
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("--init member {m:?}: the id is not a number"))?;
            Ok((id, addr.trim().to_string()))
        })
        .collect()
}

/// Run a coordinator until stopped (Ctrl-C or SIGTERM).
pub async fn run(args: Args) -> std::io::Result<()> {
    serve(args, host::daemon::stop_signal()).await
}

/// Run a coordinator until `stop` resolves: the process's work, also what
/// an in-process test cluster runs for each of its coordinators.
pub async fn serve(args: Args, stop: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    net::wire::secure_links(
        args.process.certs_dir.as_deref(),
        args.process.insecure,
        "coordinator",
    )
    .map_err(invalid)?;
    let members = parse_members(&args.init).map_err(invalid)?;
    let (listener, address) = net::wire::listen(&args.listen, args.advertise.as_deref()).await?;
    let config = CoordinatorConfig {
        id: args.id,
        data_dir: args.data_dir.clone(),
        address: address.clone(),
        heartbeat_ms: args.heartbeat_ms,
        // A lifetime of zero keeps no answer.
        cache_ttl: if args.no_answer_cache {
            Duration::ZERO
        } else {
            args.process.cache_ttl()
        },
        memory_limit_mb: args.memory_limit_mb,
        slow_query_ms: args.process.slow_query_ms,
        moves: MoveConfig {
            suspect_after: Duration::from_secs(args.suspect_after_secs),
            down_after: Duration::from_secs(args.down_after_secs.max(args.suspect_after_secs)),
            throttle: Duration::from_millis(args.move_throttle_ms),
        },
        walks_on_nodes: args.walks_on_nodes,
    };
    let coordinator = Coordinator::start(&config).await?;
    let upkeep = Coordinator::spawn_upkeep(&coordinator);
    let refresh = Coordinator::spawn_snapshot_refresh(&coordinator);
    let metrics = {
        let c = coordinator.clone();
        net::metrics::spawn_if_asked(args.process.metrics_listen.as_deref(), move || c.metrics())
            .await?
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let http = match &args.http_listen {
        None => None,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {addr} for HTTP: {e}"))
            })?;
            tracing::info!(address = %addr, read_write = args.http_read_write, "serving the HTTP API and dashboard");
            let (c, mut stop) = (coordinator.clone(), stop_tx.subscribe());
            let writes = args.http_read_write;
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = crate::http::serve(listener, c, writes, stopped).await {
                    tracing::error!("the HTTP API stopped: {e}");
                }
            }))
        }
    };
    let sweeper = {
        let c = coordinator.clone();
        args.process.spawn_sweeper(move || {
            let c = c.clone();
            async move {
                c.queries.cache_sweep().await;
            }
        })
    };
    tracing::info!(
        coordinator = args.id,
        %address,
        data_dir = %args.data_dir.display(),
        "serving"
    );
    let server = {
        let c = coordinator.clone();
        tokio::spawn(async move {
            service::run(listener, c, async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
        })
    };
    // The group is created and configured in the background, so that a
    // stop signal or a failing Raft member is heard meanwhile.
    let configuring = (!members.is_empty()).then(|| {
        let c = coordinator.clone();
        let cluster = ClusterConfig {
            partitions: args.partitions,
            replication: args.replication,
            vnodes: args.vnodes,
        };
        tokio::spawn(async move {
            let addresses: Vec<String> = members.values().cloned().collect();
            // A group that exists already refuses initialization: that is fine.
            let _ = c.initialize(members).await;
            configure_when_leader(&c, &addresses, cluster).await;
        })
    });
    // openraft stops a member whose log or state machine cannot be written
    // (a full or failing disk): nothing it could not make durable was
    // acknowledged. The process then exits failing, so that whatever
    // supervises it restarts it, and the restart reads its log back.
    let raft_failed = {
        let mut metrics = coordinator.raft.metrics();
        async move {
            loop {
                if let Err(fatal) = &metrics.borrow().running_state {
                    return fatal.to_string();
                }
                if metrics.changed().await.is_err() {
                    return "its metrics ended".to_string();
                }
            }
        }
    };
    let failed = tokio::select! {
        () = stop => None,
        why = raft_failed => Some(why),
    };
    if let Some(why) = &failed {
        tracing::error!("this coordinator's Raft member stopped: {why}");
    }
    if let Some(c) = configuring {
        c.abort();
    }
    sweeper.abort();
    upkeep.abort();
    refresh.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    let _ = stop_tx.send(true);
    if let Some(h) = http {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    let _ = coordinator.raft.shutdown().await;
    let served = server
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    match failed {
        Some(why) => Err(std::io::Error::other(format!(
            "the Raft member stopped ({why}); nothing it could not make durable was acknowledged. Check the disk under {}, then start it again: it reads its log back (the systemd units, compose files and Kubernetes manifests restart it by themselves)",
            args.data_dir.display()
        ))),
        None => served,
    }
}

/// Commit P, R and virtual nodes through whichever member leads.
/// Commit the cluster configuration `--init` gave, once the new group has
/// elected a leader: here if this member leads, else on the leader (the
/// road every client takes to it).
async fn configure_when_leader(
    coordinator: &Coordinator,
    members: &[String],
    cluster: ClusterConfig,
) {
    use net::coordinator_client::{on_leader, LeaderError};
    let refused = |reason: &str| tracing::error!(%reason, "cluster configuration refused");
    let elected = coordinator
        .raft
        .wait(Some(CONFIGURE_WAIT))
        .metrics(
            |m| m.current_leader.is_some(),
            "a leader for the configuration",
        )
        .await;
    if elected.is_err() {
        tracing::error!(
            "no leader was elected within {} s: the cluster configuration waits for the next start",
            CONFIGURE_WAIT.as_secs()
        );
        return;
    }
    if coordinator.is_leader() {
        match coordinator.configure(cluster).await {
            Ok(()) => return,
            Err(CpgError::InvalidInput { reason }) => return refused(&reason),
            // Leadership moved on meanwhile: to the new leader.
            Err(_) => {}
        }
    }
    let hint = coordinator.leader_address();
    let configured = on_leader(members, hint, CONFIGURE_WAIT, |c| async move {
        c.configure(
            tarpc::context::current(),
            cluster.partitions,
            cluster.replication,
            cluster.vnodes,
        )
        .await
    })
    .await;
    match configured {
        Ok(()) => {}
        Err(LeaderError::Refused(CpgError::InvalidInput { reason })) => refused(&reason),
        Err(e) => tracing::error!("no leader took the cluster configuration: {e:?}"),
    }
}

/// How long a new group's first member waits for a leader to take its
/// configuration.
const CONFIGURE_WAIT: Duration = Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_members_are_id_equals_address() {
        let m = parse_members(&["1=127.0.0.1:7000".into(), " 2 = 127.0.0.1:7001".into()]).unwrap();
        assert_eq!(m[&2], "127.0.0.1:7001");
        assert!(parse_members(&["x=1".into()])
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_members(&["127.0.0.1:7000".into()])
            .unwrap_err()
            .contains("id=host:port"));
    }
}
