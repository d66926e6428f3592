//! The cluster's health from one coordinator: node reports combined with
//! the partition map and the Raft group, judged against the thresholds of
//! the operations guide (`cpg health` renders it).

use std::collections::BTreeMap;

use proto::assignment::NodeId;
use proto::coordinator_api::ClusterView;
use proto::{ClusterHealth, LatencySummary, NodeEntry, NodeHealth, RaftHealth, TablesStatus};

/// What the answering coordinator measures about itself.
#[derive(Debug, Clone)]
pub struct OwnVitals {
    pub cache_hit_rate: f64,
    pub queries: LatencySummary,
    pub memory_usage_mb: f64,
    pub memory_peak_mb: f64,
    pub memory_limit_mb: Option<u64>,
    /// A p99 query time above this (ms) makes the cluster degraded.
    pub slow_query_ms: u64,
    pub snapshot: Option<proto::SnapshotHealth>,
}

/// Combine the node reports (`Err`: why a node could not be asked) with the
/// partition map: totals once per partition, partitions with too few or no
/// answering replicas, and a status with its reasons.
pub fn cluster_health(
    view: &ClusterView,
    reports: BTreeMap<NodeId, Result<NodeHealth, String>>,
    raft: RaftHealth,
    own: OwnVitals,
) -> ClusterHealth {
    let mut reasons = Vec::new();
    let mut under = Vec::new();
    let mut unavailable = Vec::new();
    let (mut nodes_total, mut edges_total) = (0, 0);
    // Decommissioned nodes are out of the cluster for good.
    let active = view
        .nodes
        .iter()
        .filter(|n| n.state != "decommissioned")
        .count();
    for p in proto::assignment::PartitionId::all(view.partitions) {
        let replicas = view.assignment.get(&p).cloned().unwrap_or_default();
        // Replicas that answered and hold the partition under the map.
        let serving: Vec<&NodeHealth> = replicas
            .iter()
            .filter_map(|id| reports.get(id).and_then(|r| r.as_ref().ok()))
            .filter(|h| h.partitions.contains(&p))
            .collect();
        if serving.is_empty() {
            unavailable.push(p);
        } else if (serving.len() as u32) < view.replication.min(active.max(1) as u32) {
            under.push(p);
        }
        if let Some(held) = serving
            .first()
            .and_then(|h| h.held.iter().find(|x| x.partition == p))
        {
            nodes_total += held.cpg_nodes;
            edges_total += held.cpg_edges;
        }
    }
    if raft.leader.is_none() {
        reasons.push("the Raft group has no leader: metadata writes (ingests) are refused".into());
    }
    if view.assignment.is_empty() && view.partitions > 0 {
        reasons.push("no partitions are placed yet: start storage nodes".into());
    }
    if !unavailable.is_empty() {
        reasons.push(format!(
            "{} partitions have no replica answering: queries leave their modules out",
            unavailable.len()
        ));
    }
    if !under.is_empty() {
        reasons.push(format!(
            "{} partitions have fewer than {} replicas answering",
            under.len(),
            view.replication
        ));
    }
    let mut entries = Vec::new();
    if !view.joining.is_empty() {
        reasons.push(format!(
            "{} partitions are being copied to new replicas (a node joined, left or is gone)",
            view.joining.len()
        ));
    }
    if !view.behind.is_empty() {
        let nodes: std::collections::BTreeSet<NodeId> =
            view.behind.values().flatten().copied().collect();
        reasons.push(format!(
            "{} partitions have replicas behind (node(s) {} missed writes, unreachable or unable to persist them; they serve no reads until the leader has caught them up)",
            view.behind.len(),
            nodes.iter().map(NodeId::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    for n in &view.nodes {
        let (health, error) = match reports.get(&n.id) {
            Some(Ok(h)) => {
                if h.cpg_tables_status != TablesStatus::Healthy {
                    reasons.push(format!(
                        "node {} is {}: {}",
                        n.id,
                        h.cpg_tables_status.as_str(),
                        h.reasons.join("; ")
                    ));
                }
                (Some(h.clone()), None)
            }
            Some(Err(e)) if n.state == "gone" => {
                reasons.push(format!(
                    "node {} at {} is gone (silent past the down delay; its partitions are re-replicated on the others): restart it, or `cpg cluster decommission-node {}`",
                    n.id, n.address, n.id
                ));
                (None, Some(e.clone()))
            }
            Some(Err(e)) => {
                reasons.push(format!(
                    "node {} at {} does not answer: {e}",
                    n.id, n.address
                ));
                (None, Some(e.clone()))
            }
            None if n.state == "decommissioned" => (None, None),
            None => (None, Some("not asked".to_string())),
        };
        entries.push(NodeEntry {
            id: n.id,
            address: n.address.clone(),
            state: n.state.clone(),
            health,
            error,
        });
    }
    let slow = own.slow_query_ms as f64;
    if own.queries.p99_query_time_ms > slow {
        reasons.push(format!(
            "this coordinator's p99 query time {:.0} ms is above {slow:.0} ms",
            own.queries.p99_query_time_ms
        ));
    }
    if let Some(limit) = own.memory_limit_mb {
        if own.memory_usage_mb > 0.8 * limit as f64 {
            reasons.push(format!(
                "this coordinator's memory {:.0} MB is above 80% of its {limit} MB limit",
                own.memory_usage_mb
            ));
        }
    }
    let status = if !unavailable.is_empty() || raft.leader.is_none() || view.assignment.is_empty() {
        TablesStatus::Unhealthy
    } else if reasons.is_empty() {
        TablesStatus::Healthy
    } else {
        TablesStatus::Degraded
    };
    ClusterHealth {
        cpg_tables_status: status,
        reasons,
        total_cpg_nodes: nodes_total,
        total_cpg_edges: edges_total,
        cache_hit_rate: own.cache_hit_rate,
        queries: own.queries,
        memory_usage_mb: own.memory_usage_mb,
        memory_peak_mb: own.memory_peak_mb,
        memory_limit_mb: own.memory_limit_mb,
        version: net::wire::release(),
        partitions_total: view.partitions,
        replication: view.replication,
        partitions_under_replicated: under,
        partitions_unavailable: unavailable,
        catalog_generation: view.generation,
        catalog_files: view.files,
        snapshot: own.snapshot,
        raft,
        nodes: entries,
    }
}
