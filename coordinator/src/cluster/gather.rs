//! Scatter-gather over the partitions: ask one replica per partition (one
//! batched request per node), each round with its own deadline; partitions
//! whose replica failed are asked of the next replica. The result says
//! whether it is complete and names the partitions that stayed missing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use proto::node_api::PartitionSummaries;
use proto::ModuleSummary;
use serde::Serialize;

use crate::placement::{Assignment, NodeId, PartitionId};
use proto::node_client::{CallError, NodeClient};

/// Module summaries gathered from the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Gathered {
    /// Ordered by (module, file), like an embedded store's summaries.
    #[serde(skip)]
    pub summaries: Vec<Arc<ModuleSummary>>,
    pub complete: bool,
    pub missing: Vec<PartitionId>,
    /// Why each failed replica failed (node, reason), for diagnostics.
    pub failures: Vec<(NodeId, String)>,
}

/// The partitions to ask each node for in one round: each pending partition
/// goes to its `round`-th replica.
pub(crate) fn plan(
    assignment: &Assignment,
    pending: &BTreeSet<PartitionId>,
    round: usize,
) -> BTreeMap<NodeId, Vec<PartitionId>> {
    let mut by_node: BTreeMap<NodeId, Vec<PartitionId>> = BTreeMap::new();
    for p in pending {
        if let Some(node) = assignment.get(p).and_then(|replicas| replicas.get(round)) {
            by_node.entry(*node).or_default().push(*p);
        }
    }
    by_node
}

/// Module summaries of some partitions, by partition.
#[derive(Debug, Clone, Default)]
pub struct GatheredPartitions {
    pub partitions: BTreeMap<PartitionId, Vec<Arc<ModuleSummary>>>,
    pub missing: Vec<PartitionId>,
    pub failures: Vec<(NodeId, String)>,
}

/// Gather the summaries of every partition of `assignment` at `epoch`.
pub async fn gather_summaries(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    assignment: &Assignment,
    deadline: Duration,
) -> Gathered {
    let all = assignment.keys().copied().collect();
    let got = gather_partitions(nodes, epoch, assignment, all, deadline).await;
    let mut summaries: Vec<Arc<ModuleSummary>> = got.partitions.into_values().flatten().collect();
    summaries.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    Gathered {
        summaries,
        complete: got.missing.is_empty(),
        missing: got.missing,
        failures: got.failures,
    }
}

/// Gather the summaries of the partitions `wanted` (of `assignment`) at
/// `epoch`.
pub async fn gather_partitions(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    assignment: &Assignment,
    wanted: BTreeSet<PartitionId>,
    deadline: Duration,
) -> GatheredPartitions {
    let mut pending = wanted;
    let mut got: Vec<PartitionSummaries> = Vec::new();
    let mut failures = Vec::new();
    let rounds = assignment.values().map(Vec::len).max().unwrap_or(0);
    for round in 0..rounds {
        if pending.is_empty() {
            break;
        }
        let requests = plan(assignment, &pending, round)
            .into_iter()
            .map(|(node, partitions)| {
                let client = nodes.get(&node).cloned();
                async move {
                    let Some(client) = client else {
                        return (
                            node,
                            partitions,
                            Err(CallError::Unreachable(format!(
                                "node {node} is not registered"
                            ))),
                        );
                    };
                    let asked = partitions.clone();
                    let result = client
                        .call(deadline, move |c, ctx| {
                            let asked = asked.clone();
                            async move { c.summaries(ctx, epoch, asked).await }
                        })
                        .await;
                    (node, partitions, result)
                }
            });
        for (node, partitions, result) in join_all(requests).await {
            match result {
                Ok(replies) => {
                    for r in replies {
                        pending.remove(&r.partition);
                        got.push(r);
                    }
                }
                Err(e) => failures.push((node, format!("{e:?} (partitions {partitions:?})"))),
            }
        }
    }
    GatheredPartitions {
        partitions: got
            .into_iter()
            .map(|p| (p.partition, p.modules.into_iter().map(Arc::new).collect()))
            .collect(),
        missing: pending.into_iter().collect(),
        failures,
    }
}
