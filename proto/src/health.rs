//! Health reports: per storage node, and for the whole cluster as one
//! coordinator sees it. Field names are the ones `cpg health --json` prints
//! (those of the CPG Operations Guide where it names them).

use serde::{Deserialize, Serialize};

use crate::assignment::{CoordinatorId, NodeId, PartitionId};

/// Recent request latencies (a sliding window of the last requests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Requests in the window.
    pub count: u64,
    pub avg_query_time_ms: f64,
    pub p50_query_time_ms: f64,
    pub p95_query_time_ms: f64,
    pub p99_query_time_ms: f64,
}

/// `healthy`, `degraded` or `unhealthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TablesStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

impl TablesStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TablesStatus::Healthy => "healthy",
            TablesStatus::Degraded => "degraded",
            TablesStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One partition replica on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionHealth {
    pub partition: PartitionId,
    pub files: u64,
    pub modules: u64,
    pub cpg_nodes: u64,
    pub cpg_edges: u64,
    /// Share of table rows that are tombstones of replaced or removed
    /// modules (0..=1); the partition defragments itself above a threshold.
    pub deleted_ratio: f64,
    /// Bytes its tables and indexes take.
    pub table_bytes: u64,
}

/// One partition's defragmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionDefrag {
    pub partition: PartitionId,
    pub deleted_ratio_before: f64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Whether its tables were rebuilt (forced, or over the threshold).
    pub rebuilt: bool,
}

/// What a storage node reports about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeHealth {
    pub node_id: NodeId,
    pub epoch: u64,
    pub cpg_tables_status: TablesStatus,
    /// Why the status is not `healthy`, one measured reason each.
    pub reasons: Vec<String>,
    /// Partitions the map assigns to this node.
    pub partitions: Vec<PartitionId>,
    /// What it holds, per assigned partition.
    pub held: Vec<PartitionHealth>,
    /// Distinct source files with modules in the partitions held.
    pub files: u64,
    pub total_cpg_nodes: u64,
    pub total_cpg_edges: u64,
    /// Hits / (hits + misses) of the partitions' analysis caches (0 when unused).
    pub cache_hit_rate: f64,
    /// Read requests (summaries, file hashes) served recently.
    pub queries: LatencySummary,
    pub memory_usage_mb: f64,
    /// The most it has held since it started (`VmHWM`).
    pub memory_peak_mb: f64,
    /// The configured limit, if any.
    pub memory_limit_mb: Option<u64>,
    /// What the walk tables it holds for `--walks-on-nodes` take, roughly
    /// (part of `memory_usage_mb`).
    pub walk_tables_mb: f64,
    /// Its release and protocol (`0.1.0 (protocol 17)`).
    pub version: String,
}

/// The Raft group as the answering coordinator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftHealth {
    /// The coordinator that answered.
    pub this: CoordinatorId,
    pub leader: Option<CoordinatorId>,
    pub leader_address: Option<String>,
    pub term: u64,
    pub members: Vec<CoordinatorId>,
    pub last_applied: Option<u64>,
}

/// A registered node and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub id: NodeId,
    pub address: String,
    /// The registry's state (`up`, `suspect`, `gone`).
    pub state: String,
    /// Its report; `None` with `error` when it could not be had.
    pub health: Option<NodeHealth>,
    pub error: Option<String>,
}

/// The cluster's health from one coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterHealth {
    pub cpg_tables_status: TablesStatus,
    pub reasons: Vec<String>,
    /// Counted once per partition (from one replica that answered).
    pub total_cpg_nodes: u64,
    pub total_cpg_edges: u64,
    /// The answering coordinator's answer cache.
    pub cache_hit_rate: f64,
    /// The answering coordinator's recent analysis queries.
    pub queries: LatencySummary,
    /// The answering coordinator's resident memory, and the most it has
    /// held since it started (`VmHWM`).
    pub memory_usage_mb: f64,
    pub memory_peak_mb: f64,
    pub memory_limit_mb: Option<u64>,
    /// The answering coordinator's release and protocol.
    pub version: String,
    pub partitions_total: u32,
    pub replication: u32,
    /// Partitions with fewer answering replicas than `replication`.
    pub partitions_under_replicated: Vec<PartitionId>,
    /// Partitions no replica answered for.
    pub partitions_unavailable: Vec<PartitionId>,
    pub catalog_generation: u64,
    pub catalog_files: u64,
    /// The answering coordinator's current snapshot, once a query took one.
    pub snapshot: Option<SnapshotHealth>,
    pub raft: RaftHealth,
    pub nodes: Vec<NodeEntry>,
}

/// A coordinator's snapshot (module summaries and call graph the analyses
/// run on): how much of it the last change made it fetch again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHealth {
    pub generation: u64,
    pub epoch: u64,
    /// Partitions asked of the nodes for it; the others were reused from
    /// the snapshot before, their content unchanged.
    pub partitions_regathered: u32,
    pub partitions_reused: u32,
    /// Answers carried over from the snapshot before (modules unchanged).
    pub answers_carried: u32,
    /// Time to gather and link it.
    pub build_ms: u64,
}

/// What a cache cleanup removed, and what the cache holds after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCleanup {
    /// Entries removed: older than the TTL, or computed from data that has
    /// changed since.
    pub removed: u64,
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
    pub ttl_secs: u64,
}

/// One measured figure against the threshold the operations guide (or this
/// project) sets for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// `memory_usage_percent_of_limit`, `p99_query_time_ms`, `eviction_rate`,
    /// `deleted_entries_ratio`, `cache_hit_rate`, `scan_entries_per_second`.
    pub name: String,
    pub value: f64,
    pub threshold: f64,
    /// Whether the value is on the wrong side of the threshold.
    pub breached: bool,
}

/// What to do about a breached indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The indicator it answers.
    pub indicator: String,
    pub action: String,
}

/// A storage node's diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDiagnosis {
    pub node_id: NodeId,
    /// Live table rows scanned (CPG nodes, edges, call rows of every held
    /// partition) and the rate.
    pub scanned_entries: u64,
    pub scan_ms: f64,
    pub scan_entries_per_second: f64,
    pub cache_entries: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_evictions: u64,
    pub cache_ttl_secs: u64,
    pub indicators: Vec<Indicator>,
    pub recommendations: Vec<Recommendation>,
}

/// One node's diagnosis as `cpg diagnose --json` and the HTTP API list it,
/// or why it gave none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDiagnosisReport {
    pub node_id: NodeId,
    pub address: String,
    pub diagnosis: Option<NodeDiagnosis>,
    pub error: Option<String>,
}

impl NodeDiagnosisReport {
    /// What node `node_id` at `address` answered when asked for its
    /// diagnosis.
    pub fn of(
        node_id: NodeId,
        address: String,
        answer: Result<NodeDiagnosis, String>,
    ) -> NodeDiagnosisReport {
        NodeDiagnosisReport {
            node_id,
            address,
            diagnosis: answer.as_ref().ok().cloned(),
            error: answer.err(),
        }
    }
}
