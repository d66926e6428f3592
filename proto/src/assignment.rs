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

/// Both ids show as their bare number and parse from it (flags, paths).
macro_rules! bare_number {
    ($id:ident) => {
        impl std::fmt::Display for $id {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $id {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<$id, Self::Err> {
                s.parse().map($id)
            }
        }
    };
}

bare_number!(NodeId);
bare_number!(PartitionId);

/// A coordinator's id in the Raft group (a different registry from the
/// storage nodes').
pub type CoordinatorId = u64;

/// A partition number, `0..P` (on the wire, on disk and in messages, the
/// bare number).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PartitionId(pub u32);

/// The bare number, as messages listing partitions (`{:?}` of a list)
/// always showed them.
impl std::fmt::Debug for PartitionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl PartitionId {
    /// Every partition of a cluster of `partitions`.
    pub fn all(partitions: u32) -> impl Iterator<Item = PartitionId> {
        (0..partitions).map(PartitionId)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The newtypes change nothing of what is stored or sent: the bare
    /// number in bincode, in JSON (as a map key too) and in messages.
    #[test]
    fn ids_are_the_bare_numbers_on_the_wire_on_disk_and_in_messages() {
        let config = bincode::config::standard();
        let p = PartitionId(7);
        assert_eq!(
            bincode::serde::encode_to_vec(p, config).expect("encodes"),
            bincode::serde::encode_to_vec(7u32, config).expect("encodes")
        );
        let map: Assignment = BTreeMap::from([(p, vec![NodeId(2)])]);
        assert_eq!(serde_json::to_string(&map).expect("json"), r#"{"7":[2]}"#);
        let back: Assignment = serde_json::from_str(r#"{"7":[2]}"#).expect("json");
        assert_eq!(back, map);
        assert_eq!(format!("{:?} {p}", vec![p, PartitionId(9)]), "[7, 9] 7");
        assert_eq!("12".parse::<PartitionId>(), Ok(PartitionId(12)));
        assert_eq!(
            PartitionId::all(3).collect::<Vec<_>>(),
            [0, 1, 2].map(PartitionId)
        );
    }
}
