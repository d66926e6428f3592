//! `cpg-coordinator`: one member of the coordinators' Raft group, serving
//! Raft to its peers and the cluster API to storage nodes and clients on one
//! address. Writes go through the leader (`NotLeader { leader }` elsewhere);
//! the leader places partitions on the hash ring and commits the assignment.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use net::certs::Role;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config};
use proto::coordinator_api::{
    CatalogListing, ClusterView, CoordinatorService, IngestRecord, NodeInfo, RaftRpc,
};
use proto::{Answer, ClusterHealth, CpgError, Diagnostic, NodeHealth, Query, RaftHealth};
use tarpc::context::Context;

use crate::query_engine::{partition_fingerprints, CatalogFacts, QueryEngine};
use crate::raft::{
    self, handle_raft, ClusterConfig, Command, CommandResult, Network, NodeState, Raft,
    StateMachine,
};
use net::node_client::NodeClient;
use query::answer_counted;

mod export;
mod server;
pub use server::run;

/// Deadline of each request a coordinator makes to a storage node.
const NODE_DEADLINE: Duration = Duration::from_secs(30);
/// Deadline of a health request to a node: a node slower than this is
/// reported as not answering.
const HEALTH_DEADLINE: Duration = Duration::from_secs(2);

/// The Raft heartbeat interval unless configured (ms).
pub const HEARTBEAT_MS: u64 = 200;

/// How a coordinator starts.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub id: u64,
    pub data_dir: PathBuf,
    /// The address peers, nodes and clients reach this coordinator at.
    pub address: String,
    /// Raft heartbeat interval in milliseconds. Elections time out at 3–5×
    /// it, after the dead leader's lease (5×): a leader killed is replaced
    /// within 8–10× (about 2 s at the default 200 ms).
    pub heartbeat_ms: u64,
    /// How long a cached analysis answer is kept.
    pub cache_ttl: Duration,
    /// Resident memory to stay under: whole-graph analyses not already
    /// answered are refused above 90% of it (point queries go on).
    pub memory_limit_mb: Option<u64>,
    /// A p99 query time above this (ms) makes the cluster degraded.
    pub slow_query_ms: u64,
    /// When nodes are suspect and gone, and how fast partitions move.
    pub moves: MoveConfig,
    /// Walk callers, callees and a function's impact in rounds on the
    /// storage nodes instead of in this process's graph.
    pub walks_on_nodes: bool,
}

impl CoordinatorConfig {
    /// Coordinator `id` on `data_dir`, reached at `address`, with the
    /// defaults of `cpg-coordinator`'s flags.
    pub fn new(id: u64, data_dir: &std::path::Path, address: String) -> CoordinatorConfig {
        CoordinatorConfig {
            id,
            data_dir: data_dir.to_path_buf(),
            address,
            heartbeat_ms: HEARTBEAT_MS,
            cache_ttl: CACHE_TTL,
            memory_limit_mb: None,
            slow_query_ms: host::config::DEFAULT_SLOW_QUERY_MS,
            moves: MoveConfig::default(),
            walks_on_nodes: false,
        }
    }
}

/// How the leader watches nodes and moves partitions.
#[derive(Debug, Clone, Copy)]
pub struct MoveConfig {
    /// A node silent this long is suspect: reads go to its peers first, it
    /// keeps its partitions.
    pub suspect_after: Duration,
    /// A node silent this long is gone: its partitions are re-replicated on
    /// the others. Long enough that a restart or a pause moves nothing.
    pub down_after: Duration,
    /// Pause between two partition copies, so moves leave the nodes room
    /// for queries and ingests.
    pub throttle: Duration,
}

impl Default for MoveConfig {
    fn default() -> MoveConfig {
        MoveConfig {
            suspect_after: Duration::from_secs(3),
            down_after: Duration::from_secs(30),
            throttle: Duration::from_millis(20),
        }
    }
}

/// Default lifetime of a cached answer.
pub const CACHE_TTL: Duration = host::config::DEFAULT_CACHE_TTL;

/// One coordinator's state.
pub struct Coordinator {
    pub id: u64,
    pub address: String,
    pub raft: Raft,
    pub(crate) sm: StateMachine,
    pub queries: QueryEngine,
    memory_limit_mb: Option<u64>,
    slow_query_ms: u64,
    /// Last heartbeat of each node seen by this coordinator (as leader).
    pub(crate) heartbeats: std::sync::Mutex<BTreeMap<proto::assignment::NodeId, u64>>,
    pub(crate) moves: MoveConfig,
    /// Held by a rebalance or catch-up pass: one at a time.
    pub(crate) moving: tokio::sync::Mutex<()>,
    /// Wakes the leader's upkeep loop (a node came, left or came back).
    pub(crate) wake: tokio::sync::Notify,
    /// Nodes back after missing heartbeats, to catch up.
    returning: std::sync::Mutex<BTreeSet<proto::assignment::NodeId>>,
    /// Linearizable reads' shared rounds.
    reads: crate::reads::ReadIndex,
    /// Point queries walked on the nodes (`walks_on_nodes`).
    pub node_walks: Option<crate::walks::NodeWalks>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("id", &self.id)
            .field("address", &self.address)
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Coordinator {
    /// Open the Raft storage under the data dir and start the Raft member.
    pub async fn start(config: &CoordinatorConfig) -> std::io::Result<Arc<Coordinator>> {
        let raft_config = Config {
            heartbeat_interval: config.heartbeat_ms,
            election_timeout_min: config.heartbeat_ms * 3,
            election_timeout_max: config.heartbeat_ms * 5,
            ..Config::default()
        }
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (log, sm) = raft::open(&config.data_dir)?;
        let raft = Raft::new(config.id, Arc::new(raft_config), Network, log, sm.clone())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Arc::new(Coordinator {
            id: config.id,
            address: config.address.clone(),
            raft,
            sm,
            queries: QueryEngine::new(NODE_DEADLINE, config.cache_ttl),
            memory_limit_mb: config.memory_limit_mb,
            slow_query_ms: config.slow_query_ms,
            heartbeats: std::sync::Mutex::new(BTreeMap::new()),
            moves: config.moves,
            moving: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            returning: std::sync::Mutex::new(BTreeSet::new()),
            reads: crate::reads::ReadIndex::new(Duration::from_millis(config.heartbeat_ms * 5)),
            node_walks: config.walks_on_nodes.then(crate::walks::NodeWalks::default),
        }))
    }

    /// Whether this member leads the Raft group now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.id)
    }

    /// Run the leader's upkeep until `coordinator` is dropped: every second
    /// (or when woken) while this member leads, watch the nodes' heartbeats,
    /// catch up nodes that came back, and rebalance.
    /// Build the snapshot of every project asked about here as soon as
    /// the catalog's generation or the partition map changes (an ingest
    /// committed, a partition moved), instead of on the next query: the
    /// query after an ingest then finds it built or being built (it waits
    /// for that one build, never starts a second). The same path as a
    /// query's ([`QueryEngine::snapshot`]); a refresh that fails (a node
    /// down) is left to the next query, which tries again.
    pub fn spawn_snapshot_refresh(coordinator: &Arc<Coordinator>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(coordinator);
        let mut applied = coordinator.raft.metrics();
        tokio::spawn(async move {
            let mut seen: Option<(u64, u64)> = None;
            // Every applied entry changes the metrics; most leave the
            // catalog and the map as they were.
            while applied.changed().await.is_ok() {
                let Some(c) = weak.upgrade() else { return };
                let at = c.sm.read(|s| (s.generation, s.partition_map.epoch));
                if seen.replace(at) == Some(at) {
                    continue;
                }
                let view = c.view();
                if view.assignment.is_empty() {
                    continue;
                }
                for project in c.queries.projects().await {
                    let sm = c.sm.clone();
                    let asked = project.clone();
                    let built = c
                        .queries
                        .snapshot(&view, &project, move || {
                            sm.read(|s| catalog_facts(s, &asked))
                        })
                        .await;
                    if let Err(e) = built {
                        tracing::debug!(project, "building the snapshot ahead of queries: {e}");
                    }
                }
            }
        })
    }

    pub fn spawn_upkeep(coordinator: &Arc<Coordinator>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(coordinator);
        tokio::spawn(async move {
            let mut leader_since: Option<u64> = None;
            loop {
                let Some(c) = weak.upgrade() else { return };
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = c.wake.notified() => {}
                }
                if !c.is_leader() {
                    leader_since = None;
                    continue;
                }
                let since = *leader_since.get_or_insert_with(now_ms);
                if let Err(e) = c.watch_nodes(since, now_ms()).await {
                    tracing::warn!("watching nodes: {e}");
                }
                let back: Vec<proto::assignment::NodeId> =
                    std::mem::take(&mut *c.returning.lock().unwrap_or_else(|e| e.into_inner()))
                        .into_iter()
                        .collect();
                for node in back {
                    let complete = match c.catch_up(node).await {
                        Ok(complete) => complete,
                        Err(e) => {
                            tracing::warn!(node = node.0, "catching up: {e}");
                            false
                        }
                    };
                    // Tried again at the next round until every replica
                    // it holds was checked against a peer.
                    if !complete {
                        c.returning
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(node);
                    }
                }
                if let Err(e) = c.catch_up_behind().await {
                    tracing::warn!("catching up behind replicas: {e}");
                }
                if let Err(e) = c.rebalance().await {
                    tracing::warn!("rebalancing: {e}");
                }
            }
        })
    }

    /// Place partitions now while nothing is stored (fast, and what the
    /// caller waits for); with data, moves run in the upkeep loop.
    async fn place_or_wake(&self) -> Result<(), CpgError> {
        if self.sm.read(|s| s.generation) == 0 {
            self.rebalance().await
        } else {
            self.wake.notify_one();
            Ok(())
        }
    }

    /// Create the cluster: make `members` the Raft group (call on one member,
    /// once). The cluster configuration is committed by the first leader.
    pub async fn initialize(&self, members: BTreeMap<u64, String>) -> Result<(), CpgError> {
        let nodes: BTreeMap<u64, BasicNode> = members
            .into_iter()
            .map(|(id, a)| (id, BasicNode::new(a)))
            .collect();
        self.raft
            .initialize(nodes)
            .await
            .map_err(|e| CpgError::Internal(format!("initialize: {e}")))
    }

    /// Set P, R and virtual nodes (before partitions are placed).
    pub async fn configure(&self, config: ClusterConfig) -> Result<(), CpgError> {
        match self.write(Command::Configure(config)).await? {
            CommandResult::Rejected(reason) => Err(CpgError::InvalidInput { reason }),
            // Nodes may have registered already.
            _ => self.rebalance().await,
        }
    }

    /// The local replica of the cluster state machine.
    pub fn state_machine(&self) -> StateMachine {
        self.sm.clone()
    }

    /// The leader's address, from Raft's membership.
    pub fn leader_address(&self) -> Option<String> {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = metrics.current_leader?;
        metrics
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    pub fn view(&self) -> ClusterView {
        let leader = self.leader_address();
        let beats = self
            .heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.sm.read(|s| ClusterView {
            leader,
            epoch: s.partition_map.epoch,
            partitions: s.config.partitions,
            replication: s.config.replication,
            assignment: s.partition_map.readable(),
            joining: s.partition_map.joining.clone(),
            behind: s.partition_map.behind_replicas(),
            nodes: s
                .nodes
                .iter()
                .map(|(id, n)| NodeInfo {
                    id: *id,
                    address: n.address.clone(),
                    state: match n.state {
                        NodeState::Up => "up",
                        NodeState::Suspect => "suspect",
                        NodeState::Gone => "gone",
                        NodeState::Leaving => "leaving",
                        NodeState::Decommissioned => "decommissioned",
                    }
                    .to_string(),
                    last_heartbeat_ms: beats.get(id).copied().unwrap_or(0).max(n.last_heartbeat_ms),
                })
                .collect(),
            generation: s.generation,
            files: s.catalog.len() as u64,
        })
    }

    /// A node is alive. Heartbeats are the leader's soft state, not Raft
    /// entries (a write per node per second would load the log for
    /// nothing); only a change of a node's state is committed.
    pub async fn heartbeat(&self, id: proto::assignment::NodeId) -> Result<ClusterView, CpgError> {
        let leader = self.raft.metrics().borrow().current_leader;
        if leader != Some(self.id) {
            return Err(CpgError::NotLeader {
                leader: self.leader_address(),
            });
        }
        match self.sm.read(|s| s.nodes.get(&id).map(|n| n.state)) {
            None => {
                return Err(CpgError::InvalidInput {
                    reason: format!("node {id} is not registered"),
                })
            }
            Some(NodeState::Up | NodeState::Leaving | NodeState::Decommissioned) => {}
            Some(state) => {
                self.write(Command::SetNodeState {
                    id,
                    state: NodeState::Up,
                })
                .await?;
                tracing::info!(node = id.0, ?state, "node is back");
                self.returning
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id);
                self.wake.notify_one();
            }
        }
        self.heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, now_ms());
        // Nodes that registered before the configuration was committed are
        // placed now.
        let view = self.view();
        if view.generation == 0 && !view.assignment.values().flatten().any(|n| *n == id) {
            self.place_or_wake().await?;
            return Ok(self.view());
        }
        Ok(view)
    }

    /// Answer an analysis query on `project` (`""`: the default one) from
    /// the current snapshot of the cluster's summaries (gathered again when
    /// the catalog or the map changed), as a linearizable read: it sees
    /// every ingest acknowledged before it.
    pub async fn query(&self, project: &str, query: &Query) -> Result<Answer, CpgError> {
        proto::projects::check_project(project)
            .map_err(|reason| CpgError::InvalidInput { reason })?;
        self.read_barrier().await?;
        let view = self.view();
        let sm = self.sm.clone();
        let snapshot = self
            .queries
            .snapshot(&view, project, move || {
                sm.read(|s| catalog_facts(s, project))
            })
            .await?;
        // An export's text is kept with its pieces (`exports`), not twice.
        let ttl = match query {
            Query::Export { .. } => Duration::ZERO,
            _ => self.queries.ttl,
        };
        let cached = snapshot.has_answer(query, ttl);
        if is_heavy(query) && !cached {
            self.admit_heavy(&snapshot, query)?;
        }
        let (answer, hit) = if cached {
            answer_counted(&snapshot, query, ttl)
        } else if let Some(walk) = self.walk_on_nodes(&view, project, &snapshot, query).await {
            if !ttl.is_zero() {
                snapshot.remember(query, &walk);
            }
            (walk, false)
        } else {
            // Computing can take a while: off the async workers, so that
            // cached answers and other requests are not held up behind it.
            let query = query.clone();
            tokio::task::spawn_blocking(move || answer_counted(&snapshot, &query, ttl))
                .await
                .map_err(|e| CpgError::Internal(format!("the analysis failed: {e}")))?
        };
        let counter = if hit {
            &self.queries.hits
        } else {
            &self.queries.misses
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        answer
    }

    /// The answer to a point query walked on the nodes, when this
    /// coordinator walks there and `query` is one; `None` to compute it
    /// here. A walk the nodes could not finish is answered from this
    /// coordinator's graph (counted as a fallback).
    async fn walk_on_nodes(
        &self,
        view: &ClusterView,
        project: &str,
        snapshot: &Arc<query::Snapshot>,
        query: &Query,
    ) -> Option<Result<Answer, CpgError>> {
        let walks = self.node_walks.as_ref()?;
        let walk = match query::walks::point_walk(snapshot, query)? {
            Ok(w) => w,
            Err(e) => return Some(Err(e)),
        };
        let clients = self.queries.clients(view);
        match walks.walk(view, &clients, project, snapshot, &walk).await {
            Ok(result) => Some(Ok(snapshot.answer_of(result))),
            Err(e) => {
                walks
                    .fallbacks
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    "a walk on the nodes failed ({e}); answered from the coordinator's graph"
                );
                None
            }
        }
    }

    /// Whether a whole-graph analysis may be computed: above 80% of the
    /// memory limit the answer cache is dropped first, above 90% after that
    /// the analysis is refused with `ResourceExhausted` (answers already
    /// cached and point queries are still given). Checked per query, so the
    /// coordinator takes them again by itself once memory falls.
    fn admit_heavy(&self, snapshot: &query::Snapshot, query: &Query) -> Result<(), CpgError> {
        let Some(limit) = self.memory_limit_mb else {
            return Ok(());
        };
        let used = || host::vitals::resident_bytes().unwrap_or(0) as f64 / 1048576.0;
        if used() <= 0.8 * limit as f64 {
            return Ok(());
        }
        let dropped = snapshot.sweep_answers(Duration::ZERO) + self.queries.exports.clear();
        self.queries
            .evictions
            .fetch_add(dropped as u64, std::sync::atomic::Ordering::Relaxed);
        let now = used();
        if now <= 0.9 * limit as f64 {
            return Ok(());
        }
        let kind = format!("{query:?}");
        let kind = kind.split([' ', '{', '(']).next().unwrap_or("the");
        tracing::warn!(
            used_mb = now,
            limit_mb = limit,
            kind,
            "refusing an analysis under memory pressure"
        );
        Err(CpgError::ResourceExhausted {
            what: format!(
                "coordinator {}: the {kind} analysis refused, memory {now:.0} MB is above 90% of its {limit} MB limit; point queries (callers, callees, impact, paths) still answer; retry later or raise --memory-limit-mb",
                self.id
            ),
            limit,
        })
    }

    /// The coordinator's figures in Prometheus' text format: its queries,
    /// answer cache, Raft state and what its replica of the state holds.
    pub fn metrics(&self) -> String {
        let view = self.view();
        let m = self.raft.metrics().borrow().clone();
        let q = &self.queries;
        let mut e = net::metrics::Exposition::default();
        e.gauge("cpg_raft_term", "current Raft term", m.current_term as f64);
        e.gauge(
            "cpg_raft_is_leader",
            "1 when this coordinator leads",
            f64::from(u8::from(m.current_leader == Some(self.id))),
        );
        e.gauge(
            "cpg_raft_has_leader",
            "1 when a leader is known",
            f64::from(u8::from(m.current_leader.is_some())),
        );
        e.gauge(
            "cpg_raft_last_applied",
            "index of the last applied log entry",
            m.last_applied.map_or(0.0, |l| l.index as f64),
        );
        e.gauge(
            "cpg_raft_members",
            "voting members of the group",
            m.membership_config.membership().voter_ids().count() as f64,
        );
        e.gauge("cpg_map_epoch", "partition map epoch", view.epoch as f64);
        e.gauge(
            "cpg_partitions",
            "partition count",
            f64::from(view.partitions),
        );
        e.gauge(
            "cpg_nodes_registered",
            "storage nodes registered",
            view.nodes.len() as f64,
        );
        e.gauge(
            "cpg_catalog_generation",
            "catalog generation",
            view.generation as f64,
        );
        e.gauge(
            "cpg_catalog_files",
            "files in the catalog",
            view.files as f64,
        );
        use std::sync::atomic::Ordering::Relaxed;
        let mut counters = vec![
            (
                "cpg_answer_cache_hits_total",
                "answers served from the cache",
                &q.hits,
            ),
            ("cpg_answer_cache_misses_total", "answers computed", &q.misses),
            (
                "cpg_answer_cache_evictions_total",
                "cached answers removed (expired or stale snapshot)",
                &q.evictions,
            ),
            (
                "cpg_hedged_requests_total",
                "summaries requests sent to a second replica because the first was slower than its recent p95",
                &q.hedging.sent,
            ),
        ];
        if let Some(w) = &self.node_walks {
            counters.extend([
                (
                    "cpg_node_walks_total",
                    "point queries walked on the storage nodes (--walks-on-nodes)",
                    &w.walks,
                ),
                (
                    "cpg_node_walk_rounds_total",
                    "rounds of those walks (one per depth and direction)",
                    &w.rounds,
                ),
                (
                    "cpg_walk_tables_sent_total",
                    "partition shares of the linked graph sent to nodes for walks",
                    &w.tables_sent,
                ),
                (
                    "cpg_node_walk_fallbacks_total",
                    "walks the nodes could not finish, answered from the coordinator's graph",
                    &w.fallbacks,
                ),
            ]);
        }
        for (name, help, value) in counters {
            e.counter(name, help, value.load(Relaxed));
        }
        e.gauge(
            "cpg_memory_usage_bytes",
            "resident memory",
            host::vitals::resident_bytes().unwrap_or(0) as f64,
        );
        e.gauge(
            "cpg_memory_peak_bytes",
            "the most resident memory held since the process started (VmHWM)",
            host::vitals::peak_resident_bytes().unwrap_or(0) as f64,
        );
        if let Some(s) = q.snapshot_health() {
            e.gauge(
                "cpg_snapshot_generation",
                "catalog generation of the current snapshot",
                s.generation as f64,
            );
            e.gauge(
                "cpg_snapshot_partitions_regathered",
                "partitions the current snapshot fetched from the nodes (the rest were reused)",
                f64::from(s.partitions_regathered),
            );
            e.gauge(
                "cpg_snapshot_answers_carried",
                "answers the current snapshot carried over from the one before",
                f64::from(s.answers_carried),
            );
            e.gauge(
                "cpg_snapshot_build_seconds",
                "time to gather and link the current snapshot",
                s.build_ms as f64 / 1000.0,
            );
        }
        let (buckets, sum, count) = q.latency.histogram();
        e.histogram(
            "cpg_query_seconds",
            "latency of analysis queries",
            &buckets,
            sum,
            count,
        );
        e.finish()
    }

    /// The cluster's health as this coordinator sees it: every registered
    /// node is asked for its report (a short deadline each).
    pub async fn health(&self) -> Result<ClusterHealth, CpgError> {
        let view = self.view();
        let reports: BTreeMap<proto::assignment::NodeId, Result<NodeHealth, String>> = self
            .ask_nodes(&view, HEALTH_DEADLINE, |c, ctx| async move {
                c.health(ctx).await.map(Ok)
            })
            .await
            .into_iter()
            .map(|(n, r)| (n.id, r))
            .collect();
        let metrics = self.raft.metrics().borrow().clone();
        let raft = RaftHealth {
            this: self.id,
            leader: metrics.current_leader,
            leader_address: self.leader_address(),
            term: metrics.current_term,
            members: metrics.membership_config.membership().voter_ids().collect(),
            last_applied: metrics.last_applied.map(|l| l.index),
        };
        let own = crate::health::OwnVitals {
            cache_hit_rate: self.queries.cache_hit_rate(),
            queries: self.queries.latency.summary(),
            memory_usage_mb: host::vitals::resident_bytes().unwrap_or(0) as f64 / 1048576.0,
            memory_peak_mb: host::vitals::peak_resident_bytes().unwrap_or(0) as f64 / 1048576.0,
            memory_limit_mb: self.memory_limit_mb,
            slow_query_ms: self.slow_query_ms,
            snapshot: self.queries.snapshot_health(),
        };
        Ok(crate::health::cluster_health(&view, reports, raft, own))
    }

    /// Ask every registered node of `view` (decommissioned ones hold
    /// nothing and may be stopped) at once, each within `deadline`: each
    /// node with its answer or why there is none.
    pub(crate) async fn ask_nodes<T, F, Fut>(
        &self,
        view: &ClusterView,
        deadline: Duration,
        request: F,
    ) -> Vec<(NodeInfo, Result<T, String>)>
    where
        F: Fn(proto::node_api::NodeServiceClient, Context) -> Fut + Clone,
        Fut: Future<Output = Result<Result<T, CpgError>, tarpc::client::RpcError>>,
    {
        let clients = self.queries.clients(view);
        let asked = view
            .nodes
            .iter()
            .filter(|n| n.state != "decommissioned")
            .map(|n| {
                let client = clients.get(&n.id).cloned();
                let request = request.clone();
                async move {
                    let r = match client {
                        None => Err(format!("address {} cannot be dialled", n.address)),
                        Some(c) => c.call(deadline, request).await.map_err(|e| e.to_string()),
                    };
                    (n.clone(), r)
                }
            });
        futures::future::join_all(asked).await
    }

    /// A storage node joins (or rejoins): recorded, then placed.
    /// Node `id` serving at `address` joins or rejoins; unless it vouches
    /// for its `data`, its replicas serve no reads until filled.
    pub async fn register(
        &self,
        id: proto::assignment::NodeId,
        address: String,
        data: proto::coordinator_api::NodeData,
    ) -> Result<ClusterView, CpgError> {
        net::wire::check_address(&address).map_err(|e| CpgError::InvalidInput {
            reason: format!("a node must register with the address it serves on: {e}"),
        })?;
        self.write(Command::RegisterNode {
            id,
            address,
            now_ms: now_ms(),
        })
        .await?;
        if data != proto::coordinator_api::NodeData::Vouched {
            let empty = data == proto::coordinator_api::NodeData::Empty;
            self.write(Command::DataUnsure { node: id, empty }).await?;
            tracing::warn!(
                node = id.0,
                "node cannot vouch for its data: its replicas are behind until filled from their peers"
            );
            self.wake.notify_one();
        }
        self.place_or_wake().await?;
        Ok(self.view())
    }

    /// Move every partition off node `id`; it is gone once it holds none.
    pub async fn decommission(&self, id: proto::assignment::NodeId) -> Result<(), CpgError> {
        match self.sm.read(|s| s.nodes.get(&id).map(|n| n.state)) {
            None => Err(CpgError::InvalidInput {
                reason: format!("node {id} is not registered"),
            }),
            Some(NodeState::Decommissioned) => Err(CpgError::InvalidInput {
                reason: format!("node {id} is decommissioned already"),
            }),
            Some(_) => {
                self.write(Command::SetNodeState {
                    id,
                    state: NodeState::Leaving,
                })
                .await?;
                tracing::info!(node = id.0, "decommissioning");
                self.place_or_wake().await
            }
        }
    }

    /// Commit a command through Raft (leader only).
    pub async fn write(&self, command: Command) -> Result<CommandResult, CpgError> {
        self.raft
            .client_write(command)
            .await
            .map(|reply| reply.data)
            .map_err(write_error)
    }

    /// Make coordinator `id` (started without `--init`, serving at
    /// `address`) a member: a learner first, until it has the log, then a
    /// voter through joint consensus (leader only).
    pub async fn add_coordinator(&self, id: u64, address: String) -> Result<(), CpgError> {
        self.raft
            .add_learner(id, BasicNode::new(address), true)
            .await
            .map_err(write_error)?;
        let mut voters = self.voters();
        voters.insert(id);
        self.set_voters(voters).await?;
        tracing::info!(coordinator = id, "coordinator added to the group");
        Ok(())
    }

    /// Take coordinator `id` out of the group through joint consensus
    /// (leader only; the leader itself may go: it steps down).
    pub async fn remove_coordinator(&self, id: u64) -> Result<(), CpgError> {
        let mut voters = self.voters();
        if !voters.remove(&id) {
            return Err(CpgError::InvalidInput {
                reason: format!("coordinator {id} is not a member of the group"),
            });
        }
        if voters.is_empty() {
            return Err(CpgError::InvalidInput {
                reason: "the last coordinator cannot be removed".into(),
            });
        }
        self.set_voters(voters).await?;
        tracing::info!(coordinator = id, "coordinator removed from the group");
        Ok(())
    }

    fn voters(&self) -> BTreeSet<u64> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Make `voters` the group's voters, through joint consensus (leader
    /// only); members no longer among them leave the group.
    async fn set_voters(&self, voters: BTreeSet<u64>) -> Result<(), CpgError> {
        self.raft
            .change_membership(voters, false)
            .await
            .map_err(write_error)?;
        Ok(())
    }

    /// Wait until this member has applied everything committed before the
    /// call (see `reads`): what it answers next is a linearizable read.
    pub async fn read_barrier(&self) -> Result<(), CpgError> {
        self.reads.barrier(&self.raft, self.id).await
    }

    /// The cluster view as a linearizable read.
    pub async fn linearizable_view(&self) -> Result<ClusterView, CpgError> {
        self.read_barrier().await?;
        Ok(self.view())
    }
}

/// A Raft write's error as the wire error: `NotLeader` naming the leader,
/// a refused membership change as invalid input.
fn write_error(e: RaftError<u64, ClientWriteError<u64, BasicNode>>) -> CpgError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => CpgError::NotLeader {
            leader: f.leader_node.map(|n| n.addr),
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => CpgError::InvalidInput {
            reason: format!("membership change refused: {e}"),
        },
        e => CpgError::Internal(format!("raft write failed: {e}")),
    }
}

/// Analyses over the whole graph (as opposed to walks from one function).
fn is_heavy(query: &Query) -> bool {
    !matches!(
        query,
        Query::Callers { .. } | Query::Callees { .. } | Query::Impact { .. } | Query::Paths { .. }
    )
}

/// What the catalog says of `project` for its snapshot: its files'
/// diagnostics (named by path), its libraries, and every partition's
/// fingerprint.
fn catalog_facts(s: &crate::raft::ClusterState, project: &str) -> CatalogFacts {
    use proto::projects::{split, Owner};
    let entry = s.projects.get(project);
    let mut diagnostics = Vec::new();
    let mut files = 0;
    for (file, e) in &s.catalog {
        let (owner, path) = split(file);
        // Dependencies under `deps/` are library code: their files and
        // diagnostics are not the application's.
        if owner != Owner::Project(project.to_string())
            || partition::library::package_of(path).is_some()
        {
            continue;
        }
        files += 1;
        diagnostics.extend(e.diagnostics.iter().map(|d| Diagnostic {
            file: path.to_string(),
            ..d.clone()
        }));
    }
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let fingerprints = partition_fingerprints(
        s.catalog
            .iter()
            .map(|(file, e)| (file.as_str(), e.content_hash, &e.modules[..])),
    );
    CatalogFacts {
        diagnostics,
        fingerprints,
        files,
        libraries: entry.map(|e| e.libraries.clone()).unwrap_or_default(),
        known: project.is_empty() || entry.is_some(),
    }
}
