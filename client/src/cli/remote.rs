//! Reaching the cluster from the command line: the coordinators (first to
//! answer, the leader), the storage nodes of a view, the cluster as the
//! ingest driver and backups reach it (`Coordinators`), and `cpg cluster`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use codebase::driver;
use net::coordinator_client::{self, on_leader, LeaderError, NoAnswer, WRITE_LEADER_WAIT};
use net::node_client::NodeClient;
use proto::assignment::{NodeId, PartitionId};
use proto::coordinator_api::{
    CatalogListing, ClusterView, CoordinatorServiceClient, IngestRecord, NodeInfo,
};
use proto::CpgError;

use super::{write_stdout, ClusterAction};

/// What keeps `view` from being ready for work, if anything.
pub(super) fn not_ready(view: &ClusterView, nodes: usize) -> Option<String> {
    let up = view.nodes.iter().filter(|n| n.state == "up").count();
    if view.leader.is_none() {
        return Some("no Raft leader yet".into());
    }
    if up < nodes {
        return Some(format!("{up} of {nodes} storage nodes up"));
    }
    let replicas = (view.replication as usize).min(up).max(1);
    let placed = proto::assignment::PartitionId::all(view.partitions)
        .filter(|p| view.assignment.get(p).is_some_and(|r| r.len() >= replicas))
        .count();
    if placed < view.partitions as usize {
        return Some(format!(
            "{placed} of {} partitions on {replicas} replicas",
            view.partitions
        ));
    }
    if !view.joining.is_empty() || !view.behind.is_empty() {
        return Some(format!(
            "{} partitions moving, {} with replicas behind",
            view.joining.len(),
            view.behind.len()
        ));
    }
    None
}

/// One node in `cpg cluster status`.
#[derive(Debug, serde::Serialize)]
pub(super) struct NodeStatus {
    id: NodeId,
    address: String,
    state: String,
    /// Partitions it serves reads of.
    partitions: usize,
    /// Partitions being copied onto it.
    joining: usize,
    /// Partitions it missed writes of (serving no reads until caught up).
    behind: usize,
    /// Its release and protocol, as its health report says (`None`: it
    /// did not answer).
    version: Option<String>,
}

/// `cpg cluster status --json`.
#[derive(Debug, serde::Serialize)]
pub(super) struct ClusterStatus {
    epoch: u64,
    partitions: u32,
    replication: u32,
    nodes: Vec<NodeStatus>,
    /// Partitions with a replica being filled.
    moving: Vec<PartitionId>,
    /// Partitions with fewer serving replicas than the replication factor.
    under_replicated: Vec<PartitionId>,
    /// The release and protocol of the coordinator that reported the
    /// nodes' (`None`: no health report could be had).
    coordinator_version: Option<String>,
}

impl ClusterStatus {
    /// The status of `view`, with each process's release from `health`
    /// when it could be had.
    fn of(view: &ClusterView, health: Option<&proto::ClusterHealth>) -> ClusterStatus {
        let version = |id: NodeId| {
            health?
                .nodes
                .iter()
                .find(|n| n.id == id)?
                .health
                .as_ref()
                .map(|h| h.version.clone())
        };
        let count = |m: &BTreeMap<PartitionId, Vec<NodeId>>, id: NodeId| {
            m.values().filter(|r| r.contains(&id)).count()
        };
        ClusterStatus {
            epoch: view.epoch,
            partitions: view.partitions,
            replication: view.replication,
            nodes: view
                .nodes
                .iter()
                .map(|n| NodeStatus {
                    id: n.id,
                    address: n.address.clone(),
                    state: n.state.clone(),
                    partitions: count(&view.assignment, n.id),
                    joining: count(&view.joining, n.id),
                    behind: count(&view.behind, n.id),
                    version: version(n.id),
                })
                .collect(),
            moving: view.joining.keys().copied().collect(),
            under_replicated: proto::assignment::PartitionId::all(view.partitions)
                .filter(|p| view.assignment.get(p).map_or(0, Vec::len) < view.replication as usize)
                .collect(),
            coordinator_version: health.map(|h| h.version.clone()),
        }
    }

    fn render(&self) -> String {
        let mut s = format!(
            "map epoch {}: {} partitions, replication {}; {} moving, {} under-replicated\n",
            self.epoch,
            self.partitions,
            self.replication,
            self.moving.len(),
            self.under_replicated.len()
        );
        s.push_str("  node  state     partitions  joining  behind  address  release\n");
        for n in &self.nodes {
            s.push_str(&format!(
                "  {:>4}  {:<8}  {:>10}  {:>7}  {:>6}  {}  {}\n",
                n.id,
                n.state,
                n.partitions,
                n.joining,
                n.behind,
                n.address,
                n.version.as_deref().unwrap_or("-")
            ));
        }
        if let Some(v) = &self.coordinator_version {
            s.push_str(&format!("coordinator answering: cpg {v}\n"));
        }
        s
    }
}

pub(super) async fn view_of(coordinators: &[String]) -> Result<ClusterView> {
    on_first_coordinator(coordinators, |client| async move {
        Reply::or_next(client.cluster_view(tarpc::context::current()).await)
    })
    .await
}

/// Poll the cluster view until `done` says so (printing `progress` when it
/// changes), or `wait` passes.
pub(super) async fn wait_for_view(
    coordinators: &[String],
    wait: Duration,
    done: impl Fn(&ClusterView) -> bool,
    progress: impl Fn(&ClusterView) -> String,
) -> Result<ClusterView> {
    let deadline = Instant::now() + wait;
    let mut said = String::new();
    loop {
        let view = view_of(coordinators).await?;
        if done(&view) {
            return Ok(view);
        }
        let now = progress(&view);
        if now != said {
            eprintln!("cpg: {now}");
            said = now;
        }
        if Instant::now() > deadline {
            bail!("still not done after {wait:?} ({said}); the cluster goes on moving partitions: check with cpg cluster status");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub(super) fn cluster_command(coordinators: &[String], action: ClusterAction) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg cluster manages a cluster",
        Some("`cpg dev-cluster up` starts a local one"),
    )?;
    let moving = |v: &ClusterView| format!("{} partitions moving", v.joining.len());
    // What a backup or a restore copies through.
    let cluster = Coordinators(coordinators);
    match action {
        ClusterAction::Backup { dir } => {
            let r = runtime.block_on(codebase::backup::backup(&cluster, &dir))?;
            write_stdout(&format!(
                "backed up catalog generation {}: {} files, {} partitions, {} bytes of fragments, in {}{}\n",
                r.generation,
                r.files,
                r.partitions,
                r.bytes,
                dir.display(),
                if r.rounds > 1 {
                    format!(" ({} catalogs read: files changed meanwhile)", r.rounds)
                } else {
                    String::new()
                }
            ))
        }
        ClusterAction::Restore { dir } => {
            let r = runtime.block_on(codebase::backup::restore(&cluster, &dir))?;
            write_stdout(&format!(
                "restored {}: {} files, {} partitions; catalog generation {}\n",
                dir.display(),
                r.files,
                r.partitions,
                r.generation
            ))
        }
        ClusterAction::Wait {
            nodes,
            timeout_secs,
        } => {
            let wait = Duration::from_secs(timeout_secs);
            let deadline = Instant::now() + wait;
            let mut said = String::new();
            loop {
                let why = match runtime.block_on(view_of(coordinators)) {
                    Ok(view) => match not_ready(&view, nodes) {
                        None => {
                            return write_stdout(&format!(
                                "ready: {} nodes up, {} partitions on {} replicas, leader {}\n",
                                view.nodes.iter().filter(|n| n.state == "up").count(),
                                view.partitions,
                                view.replication,
                                view.leader.as_deref().unwrap_or("?")
                            ))
                        }
                        Some(why) => why,
                    },
                    Err(e) => format!("no coordinator answers ({e})"),
                };
                if why != said {
                    eprintln!("cpg: waiting: {why}");
                    said = why;
                }
                if Instant::now() > deadline {
                    bail!("the cluster at {} is not ready after {wait:?}: {said}; is every process started? (`cpg cluster status` shows the nodes; `cpg dev-cluster up` starts a local cluster)", coordinators.join(","));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        ClusterAction::Status { json } => {
            // A linearizable read: what the leader confirms with a quorum.
            let view = runtime.block_on(on_the_leader(
                coordinators,
                "status read",
                |c, ctx| async move { c.linearizable_view(ctx).await },
            ))?;
            // Each process's release, from a health report (best effort:
            // the map above is what status must show).
            let health = runtime
                .block_on(on_first_coordinator(coordinators, |client| async move {
                    let mut ctx = tarpc::context::current();
                    ctx.deadline = Instant::now() + Duration::from_secs(10);
                    Reply::or_next(client.health(ctx).await)
                }))
                .ok();
            let status = ClusterStatus::of(&view, health.as_ref());
            write_stdout(&if json {
                serde_json::to_string_pretty(&status)? + "\n"
            } else {
                status.render()
            })
        }
        ClusterAction::AddNode {
            id,
            address,
            wait_secs,
        } => {
            let address = &address;
            runtime.block_on(on_the_leader(
                coordinators,
                "new node",
                |c, ctx| async move { c.add_node(ctx, id, address.clone()).await },
            ))?;
            let view = runtime.block_on(wait_for_view(
                coordinators,
                Duration::from_secs(wait_secs),
                |v| v.joining.is_empty() && v.assignment.values().any(|r| r.contains(&id)),
                moving,
            ))?;
            let status = ClusterStatus::of(&view, None);
            write_stdout(&format!(
                "node {id} at {address} added: it serves {} partitions\n{}",
                view.assignment.values().filter(|r| r.contains(&id)).count(),
                status.render()
            ))
        }
        ClusterAction::AddCoordinator { id, address } => {
            let address = &address;
            runtime.block_on(on_the_leader(
                coordinators,
                "new coordinator",
                |c, ctx| async move { c.add_coordinator(ctx, id, address.clone()).await },
            ))?;
            write_stdout(&format!(
                "coordinator {id} at {address} is a voting member of the group\n"
            ))
        }
        ClusterAction::RemoveCoordinator { id } => {
            runtime.block_on(on_the_leader(
                coordinators,
                "coordinator removal",
                |c, ctx| async move { c.remove_coordinator(ctx, id).await },
            ))?;
            write_stdout(&format!(
                "coordinator {id} left the group; its process can be stopped\n"
            ))
        }
        ClusterAction::DecommissionNode { id, wait_secs } => {
            runtime.block_on(on_the_leader(
                coordinators,
                "decommission",
                |c, ctx| async move { c.decommission_node(ctx, id).await },
            ))?;
            let view = runtime.block_on(wait_for_view(
                coordinators,
                Duration::from_secs(wait_secs),
                |v| {
                    v.nodes
                        .iter()
                        .any(|n| n.id == id && n.state == "decommissioned")
                },
                |v| {
                    let left = v.assignment.values().filter(|r| r.contains(&id)).count();
                    format!("node {id} still serves {left} partitions; {}", moving(v))
                },
            ))?;
            write_stdout(&format!(
                "node {id} decommissioned: it holds no partition; stop its process\n{}",
                ClusterStatus::of(&view, None).render()
            ))
        }
    }
}

/// What one coordinator said to a request.
pub(super) type Reply<T> = coordinator_client::Reply<T, anyhow::Error>;

/// Send a request to each coordinator in turn until one answers.
pub(super) async fn on_first_coordinator<T, F, Fut>(
    coordinators: &[String],
    request: F,
) -> Result<T>
where
    F: Fn(CoordinatorServiceClient) -> Fut,
    Fut: std::future::Future<Output = Reply<T>>,
{
    coordinator_client::first(coordinators, request)
        .await
        .map_err(|e| match e {
            NoAnswer::Failed(e) => e,
            NoAnswer::Unreachable(errors) => no_coordinator(&errors),
        })
}

/// The runtime of a command that works on a cluster; without coordinators
/// to reach it at, the error saying what the command `does` and how to
/// name them, with `hint` (what else to do).
pub(super) fn cluster_runtime(
    coordinators: &[String],
    does: &str,
    hint: Option<&str>,
) -> Result<tokio::runtime::Runtime> {
    if coordinators.is_empty() {
        let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
        bail!("{does}: give --coordinator HOST:PORT or set CPG_COORDINATOR{hint}");
    }
    Ok(tokio::runtime::Runtime::new()?)
}

/// The error for coordinators that could not be reached: which ones, why,
/// and what to do about it.
pub(super) fn no_coordinator(errors: &[String]) -> anyhow::Error {
    anyhow::anyhow!(coordinator_client::unreachable_message(errors))
}

/// Ask every registered node in turn (not at once: the operations that use
/// this take CPU on the node); each node with its reply or why it gave none.
pub(super) async fn each_node<T, F, Fut>(
    coordinators: &[String],
    deadline: Duration,
    request: F,
) -> Result<Vec<(NodeInfo, Result<T, String>)>>
where
    F: Fn(proto::node_api::NodeServiceClient, tarpc::context::Context) -> Fut,
    Fut: std::future::Future<Output = Result<Result<T, CpgError>, tarpc::client::RpcError>>,
{
    let (view, clients) = connect(coordinators).await?;
    let mut out = Vec::new();
    for n in view.nodes {
        let Some(client) = clients.get(&n.id) else {
            continue;
        };
        let r = client
            .call(deadline, &request)
            .await
            .map_err(|e| e.to_string());
        out.push((n, r));
    }
    Ok(out)
}

/// The cluster view from the first coordinator that answers, and a client
/// per registered node.
pub(super) async fn connect(
    coordinators: &[String],
) -> Result<(ClusterView, HashMap<NodeId, Arc<NodeClient>>)> {
    let view = view_of(coordinators).await?;
    let clients = node_clients(&view)?;
    Ok((view, clients))
}

/// Clients of the storage nodes of `view`.
pub(super) fn node_clients(view: &ClusterView) -> Result<HashMap<NodeId, Arc<NodeClient>>> {
    if view.assignment.is_empty() {
        bail!("the cluster has no storage nodes yet; start cpg-node processes first");
    }
    let mut clients = HashMap::new();
    for n in &view.nodes {
        net::wire::check_address(&n.address)
            .map_err(|e| anyhow::anyhow!("node {} has a bad address: {e}", n.id))?;
        clients.insert(n.id, Arc::new(NodeClient::new(n.id, &n.address)));
    }
    Ok(clients)
}

/// What the catalog records (a linearizable read on any coordinator).
pub(super) async fn catalog_listing(coordinators: &[String]) -> Result<CatalogListing> {
    on_first_coordinator(coordinators, |client| async move {
        Reply::or_next(client.catalog_files(tarpc::context::current()).await)
    })
    .await
}

/// Record an ingest in the catalog through the Raft leader; the new
/// catalog generation.
pub async fn record_ingest(
    coordinators: &[String],
    hint: Option<String>,
    record: IngestRecord,
) -> Result<u64> {
    let record = &record;
    on_leader(coordinators, hint, WRITE_LEADER_WAIT, |client| async move {
        client
            .record_ingest(tarpc::context::current(), record.clone())
            .await
    })
    .await
    .map_err(|e| match e {
        LeaderError::Refused(e) => e.into(),
        LeaderError::NoLeader(last) => anyhow::anyhow!(
            "the data is on every replica, but no coordinator leader recorded the ingest in the catalog within {WRITE_LEADER_WAIT:?} (last: {last}); run cpg ingest again"
        ),
        LeaderError::Unreachable(errors) => anyhow::anyhow!(
            "the data is on the replicas, but {}; run cpg ingest again once a coordinator is back",
            no_coordinator(&errors)
        ),
    })
}

/// The cluster as the ingest driver reaches it from here: through the
/// coordinators named on the command line.
pub(super) struct Coordinators<'a>(pub(super) &'a [String]);

impl driver::Cluster for Coordinators<'_> {
    type Error = anyhow::Error;

    async fn view(&self) -> Result<ClusterView> {
        view_of(self.0).await
    }

    async fn listing(&self) -> Result<CatalogListing> {
        catalog_listing(self.0).await
    }

    async fn catalog_backup(&self) -> Result<proto::coordinator_api::CatalogBackup> {
        on_first_coordinator(self.0, |client| async move {
            Reply::or_next(client.catalog_backup(tarpc::context::current()).await)
        })
        .await
    }

    async fn record(&self, leader: Option<String>, record: IngestRecord) -> Result<u64> {
        record_ingest(self.0, leader, record).await
    }

    fn nodes(&self, view: &ClusterView) -> Result<HashMap<NodeId, Arc<NodeClient>>> {
        node_clients(view)
    }

    fn service_error(error: &anyhow::Error) -> Option<&CpgError> {
        error.downcast_ref()
    }
}

/// A cluster change, sent to the Raft leader (waiting out an election);
/// `what` names it in the error.
async fn on_the_leader<T, F, Fut>(coordinators: &[String], what: &str, request: F) -> Result<T>
where
    F: Fn(CoordinatorServiceClient, tarpc::context::Context) -> Fut,
    Fut: std::future::Future<
        Output = std::result::Result<std::result::Result<T, CpgError>, tarpc::client::RpcError>,
    >,
{
    on_leader(coordinators, None, WRITE_LEADER_WAIT, |client| {
        request(client, tarpc::context::current())
    })
        .await
        .map_err(|e| match e {
            LeaderError::Refused(e) => anyhow::anyhow!("{e}"),
            LeaderError::NoLeader(last) => anyhow::anyhow!(
                "no coordinator leader took the {what} within {WRITE_LEADER_WAIT:?} (last: {last}); `cpg health` shows the Raft group"
            ),
            LeaderError::Unreachable(errors) => no_coordinator(&errors),
        })
}
