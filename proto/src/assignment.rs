//! Who holds what: storage node and partition ids, and an assignment of
//! each partition to the nodes holding its replicas (first replica first).

use std::collections::{BTreeMap, BTreeSet};

/// A storage node's id in the cluster registry.
pub type NodeId = u64;

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
