//! Placement: which partition a module belongs to, and which storage nodes
//! hold each partition. Pure functions; the Raft leader runs them and commits
//! the explicit assignment, nobody else recomputes placement.
//!
//! Both hashes are specified over bytes (xxh3-64), never `std::hash::Hash` of
//! Rust values, so every process, platform and Rust release agrees:
//!
//! - `partition_of(module) = xxh3_64(UTF-8 bytes of the module name) mod P`;
//! - node `n`'s virtual node `v` sits on the ring at
//!   `xxh3_64("node:{n}:vnode:{v}")`, partition `p` at `xxh3_64("partition:{p}")`;
//!   a partition's replicas are the first R distinct nodes met walking the ring
//!   clockwise from its position.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hash, Hasher};

use hashring::HashRing;

pub use proto::assignment::{Assignment, NodeId, PartitionId};

pub use partition::partitioning::partition_of;

/// Hashes exactly the bytes written to it with xxh3-64. The ring's points
/// implement `Hash` by writing their specified byte strings, nothing else.
#[derive(Debug, Default, Clone)]
pub struct BytesHasher {
    bytes: Vec<u8>,
}

impl Hasher for BytesHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    fn finish(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.bytes)
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct BytesHashBuilder;

impl BuildHasher for BytesHashBuilder {
    type Hasher = BytesHasher;

    fn build_hasher(&self) -> BytesHasher {
        BytesHasher::default()
    }
}

/// One virtual node on the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VNode {
    node: NodeId,
    index: u32,
}

impl Hash for VNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(format!("node:{}:vnode:{}", self.node, self.index).as_bytes());
    }
}

/// A partition's position on the ring.
struct PartitionKey(PartitionId);

impl Hash for PartitionKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(format!("partition:{}", self.0).as_bytes());
    }
}

/// The consistent-hash ring of storage nodes.
#[derive(Debug, Clone)]
pub struct Ring {
    ring: HashRing<VNode, BytesHashBuilder>,
    nodes: BTreeSet<NodeId>,
}

impl Ring {
    /// A ring of `nodes`, each with `vnodes` virtual nodes (at least one).
    pub fn new(nodes: impl IntoIterator<Item = NodeId>, vnodes: u32) -> Ring {
        let nodes: BTreeSet<NodeId> = nodes.into_iter().collect();
        let mut ring = HashRing::with_hasher(BytesHashBuilder);
        ring.batch_add(
            nodes
                .iter()
                .flat_map(|&node| (0..vnodes.max(1)).map(move |index| VNode { node, index }))
                .collect(),
        );
        Ring { ring, nodes }
    }

    pub fn nodes(&self) -> &BTreeSet<NodeId> {
        &self.nodes
    }

    /// The first `replicas` distinct nodes clockwise from the partition's
    /// position (fewer when the ring has fewer nodes), primary first.
    pub fn replicas(&self, partition: PartitionId, replicas: usize) -> Vec<NodeId> {
        // `get_with_replicas(k, n)` returns n + 1 points and repeats physical
        // nodes; asking for the whole ring gives it rotated to the key's
        // position, from which we keep the first distinct nodes.
        let walk = self
            .ring
            .get_with_replicas(&PartitionKey(partition), self.ring.len())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(replicas);
        for vnode in walk {
            if out.len() == replicas {
                break;
            }
            if !out.contains(&vnode.node) {
                out.push(vnode.node);
            }
        }
        out
    }

    /// The replica set of every partition `0..partitions`.
    pub fn assign(&self, partitions: u32, replicas: usize) -> Assignment {
        proto::assignment::PartitionId::all(partitions)
            .map(|p| (p, self.replicas(p, replicas)))
            .collect()
    }
}

/// How many replica placements differ between two assignments: the number of
/// (partition, node) pairs in `after` that were not in `before`. This is the
/// number of partition copies that must be transferred.
#[cfg(test)]
pub fn moved_replicas(before: &Assignment, after: &Assignment) -> usize {
    after
        .iter()
        .map(|(p, nodes)| {
            let old = before.get(p).map(Vec::as_slice).unwrap_or(&[]);
            nodes.iter().filter(|n| !old.contains(n)).count()
        })
        .sum()
}

/// An assignment written with bare numbers (for tests).
#[cfg(test)]
pub(crate) fn asg<const N: usize>(pairs: [(PartitionId, Vec<u64>); N]) -> Assignment {
    pairs
        .into_iter()
        .map(|(p, nodes)| (p, nodes.into_iter().map(NodeId).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ring_is_deterministic_across_constructions() {
        let a = Ring::new([3, 1, 2].map(NodeId), 64).assign(64, 2);
        let b = Ring::new([2, 3, 1].map(NodeId), 64).assign(64, 2);
        assert_eq!(a, b);
    }

    #[test]
    fn fewer_nodes_than_replicas_gives_every_node_once() {
        let ring = Ring::new([NodeId(7)], 16);
        assert_eq!(ring.replicas(PartitionId(5), 3), vec![NodeId(7)]);
        assert!(Ring::new([], 16).replicas(PartitionId(0), 2).is_empty());
    }

    fn node_ids(n: usize) -> impl Strategy<Value = Vec<NodeId>> {
        prop::collection::btree_set(any::<u64>(), n)
            .prop_map(|s| s.into_iter().map(NodeId).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn replicas_are_distinct_nodes_of_the_ring(nodes in node_ids(5), partitions in 1u32..256, r in 1usize..5) {
            let ring = Ring::new(nodes.iter().copied(), 64);
            for (_, replicas) in ring.assign(partitions, r) {
                prop_assert_eq!(replicas.len(), r.min(nodes.len()));
                let distinct: BTreeSet<_> = replicas.iter().collect();
                prop_assert_eq!(distinct.len(), replicas.len());
                prop_assert!(replicas.iter().all(|n| nodes.contains(n)));
            }
        }

        #[test]
        fn adding_a_fourth_node_moves_at_most_one_and_a_half_ideal_quarters(nodes in node_ids(4)) {
            let (partitions, r) = (64u32, 2usize);
            let before = Ring::new(nodes[..3].iter().copied(), 128).assign(partitions, r);
            let after = Ring::new(nodes.iter().copied(), 128).assign(partitions, r);
            let moved = moved_replicas(&before, &after);
            // The new node should take a quarter of the P × R replica slots.
            let ideal = (partitions as usize * r) as f64 / 4.0;
            prop_assert!(moved as f64 <= 1.5 * ideal, "moved {} replicas, ideal {}", moved, ideal);
            // And everything that moved went to the new node.
            for (p, replicas) in &after {
                for n in replicas.iter().filter(|n| !before[p].contains(n)) {
                    prop_assert_eq!(*n, nodes[3]);
                }
            }
        }

        #[test]
        fn removing_a_node_moves_only_its_partitions(nodes in node_ids(4), gone in 0usize..4) {
            let (partitions, r) = (64u32, 2usize);
            let before = Ring::new(nodes.iter().copied(), 128).assign(partitions, r);
            let rest = nodes.iter().copied().filter(|n| *n != nodes[gone]);
            let after = Ring::new(rest, 128).assign(partitions, r);
            for (p, old) in &before {
                let new = &after[p];
                if old.contains(&nodes[gone]) {
                    // The surviving replicas stay; one new node replaces the gone one.
                    prop_assert!(old.iter().filter(|n| **n != nodes[gone]).all(|n| new.contains(n)));
                } else {
                    prop_assert_eq!(old, new, "partition {} moved without losing a replica", p);
                }
            }
        }
    }
}
