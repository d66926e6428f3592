//! Who holds what: storage node and partition ids, and an assignment of
//! each partition to the nodes holding its replicas (first replica first).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A storage node's id in the cluster registry (on the wire and on disk,
/// the bare number).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub u64);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for NodeId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<NodeId, Self::Err> {
        s.parse().map(NodeId)
    }
}

/// A coordinator's id in the Raft group (a different registry from the
/// storage nodes').
pub type CoordinatorId = u64;

/// A partition number, `0..P`.
pub type PartitionId = u32;

/// Each partition's replicas, in ring order.
pub type Assignment = BTreeMap<PartitionId, Vec<NodeId>>;

/// The partitions to ask each node for in one round of a scatter-gather:
/// each of `pending` goes to its `round`-th replica (none when it has
/// fewer).
pub fn by_replica(
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
