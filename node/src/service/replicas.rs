//! The replica-acknowledgement rule of a write: how each replica took it
//! (acknowledged, missed, refused), and whether the write as a whole
//! succeeded and which replicas the catalog must mark behind. Pure: the
//! node's `replicate` performs the writes and hands the outcomes here.

use std::collections::BTreeSet;

use net::node_client::CallError;
use proto::assignment::{NodeId, PartitionId};
use proto::CpgError;

/// How one replica took its share of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Replica {
    /// Written and durable.
    Acked,
    /// Not reached, not asked (suspect) or could not persist (its disk
    /// failing or full): it misses these writes and is caught up later
    /// (why, for the log).
    Missed(String),
    /// It refused the write (a stale map, memory pressure): not a miss, the
    /// write has not happened there.
    Refused(CpgError),
}

impl Replica {
    /// A write to this node's own store: a failure to persist is a miss.
    pub(super) fn of_local(r: Result<u64, CpgError>) -> Replica {
        match r {
            Ok(_) => Replica::Acked,
            Err(e) => Replica::of_answer(e),
        }
    }

    /// A write to a peer: unreachable, or unable to persist, is a miss.
    pub(super) fn of_call(r: Result<u64, CallError>) -> Replica {
        match r {
            Ok(_) => Replica::Acked,
            Err(CallError::Unreachable(why)) => Replica::Missed(why),
            Err(CallError::Node(e)) => Replica::of_answer(e),
        }
    }

    /// A replica that answered a write with an error: one that could not
    /// make it durable (its disk failing or full) missed it; any other
    /// refused it. A peer of protocol 16 or older says "not durable" as
    /// `Internal`, and any other fault on its side leaves the write as
    /// unsure there: both count as missed, so that it is caught up.
    fn of_answer(e: CpgError) -> Replica {
        match e {
            CpgError::NotDurable { reason } | CpgError::Internal(reason) => Replica::Missed(reason),
            e if e.is_disk_full() => Replica::Missed(e.to_string()),
            e => Replica::Refused(e),
        }
    }
}

/// The replica-acknowledgement rule: a write succeeds when every partition
/// was acknowledged by at least one replica and no replica refused it; the
/// replicas that missed it are returned (`(partition, node)`, for the
/// catalog to mark them behind). Otherwise the partitions without an
/// acknowledgement (or refused) are unavailable, or the replica under
/// memory pressure says so.
pub(super) fn tally(
    mut failed: BTreeSet<PartitionId>,
    outcomes: Vec<(NodeId, BTreeSet<PartitionId>, Replica)>,
) -> Result<Vec<(PartitionId, NodeId)>, CpgError> {
    let mut acked: BTreeSet<PartitionId> = BTreeSet::new();
    let mut refused = None;
    let mut missed: Vec<(PartitionId, NodeId)> = Vec::new();
    for (node, parts, outcome) in outcomes {
        match outcome {
            Replica::Acked => acked.extend(parts),
            Replica::Missed(_) => missed.extend(parts.into_iter().map(|p| (p, node))),
            // A replica under memory pressure says so, rather than the
            // partitions merely being unavailable.
            Replica::Refused(e @ CpgError::ResourceExhausted { .. }) => {
                refused.get_or_insert(e);
                failed.extend(parts);
            }
            // Refused as planned with another map: not a miss.
            Replica::Refused(_) => failed.extend(parts),
        }
    }
    if let Some(e) = refused {
        return Err(e);
    }
    failed.extend(
        missed
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| !acked.contains(p)),
    );
    CpgError::none_missing(failed)?;
    Ok(missed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outcome() -> impl Strategy<Value = Replica> {
        prop_oneof![
            Just(Replica::Acked),
            Just(Replica::Missed("down".into())),
            Just(Replica::Refused(CpgError::StaleEpoch { current: 2 })),
        ]
    }

    proptest! {
        /// Every partition of a write is acknowledged by some replica, or
        /// the write fails naming it; the misses reported are exactly the
        /// replicas that missed a partition another replica acknowledged.
        #[test]
        fn a_write_succeeds_only_when_every_partition_is_acknowledged(
            outcomes in proptest::collection::vec(
                ((0u64..4).prop_map(NodeId), proptest::collection::btree_set((0u32..6).prop_map(PartitionId), 1..4), outcome()),
                0..8,
            )
        ) {
            let all: BTreeSet<PartitionId> = outcomes.iter().flat_map(|(_, ps, _)| ps.iter().copied()).collect();
            let acked: BTreeSet<PartitionId> = outcomes
                .iter()
                .filter(|(_, _, o)| *o == Replica::Acked)
                .flat_map(|(_, ps, _)| ps.iter().copied())
                .collect();
            let refused: BTreeSet<PartitionId> = outcomes
                .iter()
                .filter(|(_, _, o)| matches!(o, Replica::Refused(_)))
                .flat_map(|(_, ps, _)| ps.iter().copied())
                .collect();
            match tally(BTreeSet::new(), outcomes.clone()) {
                Ok(missed) => {
                    prop_assert!(refused.is_empty());
                    prop_assert_eq!(&acked, &all);
                    for (p, node) in &missed {
                        prop_assert!(outcomes.iter().any(|(n, ps, o)| n == node
                            && ps.contains(p)
                            && matches!(o, Replica::Missed(_))));
                    }
                }
                Err(CpgError::Unavailable { partitions }) => {
                    let failed: BTreeSet<PartitionId> = partitions.into_iter().collect();
                    let expected: BTreeSet<PartitionId> =
                        all.iter().copied().filter(|p| refused.contains(p) || !acked.contains(p)).collect();
                    prop_assert_eq!(failed, expected);
                }
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }

    /// A replica that could not make a write durable missed it, whether
    /// it says so as protocol 17 does or as `Internal` (16 and older), and
    /// whether it is this node or a peer; one that refused it did not.
    #[test]
    fn a_write_not_made_durable_is_missed_and_a_refusal_is_not() {
        let missed = [
            CpgError::NotDurable {
                reason: "EIO".into(),
            },
            CpgError::Internal("EIO".into()),
            CpgError::disk_full("full", 1),
        ];
        for e in missed {
            assert!(matches!(
                Replica::of_local(Err(e.clone())),
                Replica::Missed(_)
            ));
            assert!(matches!(
                Replica::of_call(Err(CallError::Node(e))),
                Replica::Missed(_)
            ));
        }
        assert!(matches!(
            Replica::of_call(Err(CallError::Unreachable("gone".into()))),
            Replica::Missed(_)
        ));
        let stale = CpgError::StaleEpoch { current: 2 };
        assert_eq!(
            Replica::of_call(Err(CallError::Node(stale.clone()))),
            Replica::Refused(stale)
        );
    }

    #[test]
    fn memory_pressure_is_said_as_such() {
        let pressure = CpgError::ResourceExhausted {
            what: "memory".into(),
            limit: 1,
        };
        let outcomes = vec![
            (NodeId(1), BTreeSet::from([PartitionId(0)]), Replica::Acked),
            (
                NodeId(2),
                BTreeSet::from([PartitionId(0)]),
                Replica::Refused(pressure.clone()),
            ),
        ];
        assert_eq!(tally(BTreeSet::new(), outcomes), Err(pressure));
    }

    #[test]
    fn unreachable_peers_and_failed_disks_are_misses_refusals_are_not() {
        assert!(matches!(
            Replica::of_call(Err(CallError::Unreachable("gone".into()))),
            Replica::Missed(_)
        ));
        assert!(matches!(
            Replica::of_call(Err(CallError::Node(CpgError::Internal("disk".into())))),
            Replica::Missed(_)
        ));
        assert!(matches!(
            Replica::of_call(Err(CallError::Node(CpgError::StaleEpoch { current: 3 }))),
            Replica::Refused(_)
        ));
        assert!(matches!(
            Replica::of_local(Err(CpgError::Internal("disk".into()))),
            Replica::Missed(_)
        ));
        assert_eq!(Replica::of_local(Ok(1)), Replica::Acked);
    }
}
