//! Keeping the partition map where placement wants it, on the Raft leader:
//! nodes that stop heartbeating become suspect, then gone; partitions move
//! to the nodes the ring gives them, two-phase, one partition at a time.
//!
//! A move of partition `p` to node `n`:
//! 1. commit a map (next epoch) with `n` added to `p`'s replicas as
//!    *joining*: it takes every write from then on, but serves no read;
//! 2. `n` pulls `p` from a serving replica (files whose content hash
//!    differs; files the source lacks are dropped), and the leader compares
//!    both replicas' per-file content hashes, pulling again until they are
//!    equal (a write racing with the copy is caught by the comparison);
//! 3. commit a map (next epoch) with `p`'s replicas as placement wants
//!    them: `n` serves reads, replicas no longer wanted leave the map and
//!    drop their copy when they see it.
//!
//! Requests carry the epoch they were planned with, and nodes refuse older
//! ones, so no write lands on a replica set that is no longer current. A
//! partition whose copy fails keeps its old replicas; the next pass tries
//! again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use net::node_client::NodeClient;
use proto::CpgError;

use crate::placement::{Assignment, NodeId, PartitionId, Ring};
use crate::raft::{ClusterState, Command, CommandResult, NodeState};
use crate::service::{Coordinator, MoveConfig};

/// Deadline of one pull (a whole partition) or comparison.
const COPY_DEADLINE: Duration = Duration::from_secs(120);
/// Pulls of one partition before the pass gives up on it.
const COPY_ATTEMPTS: usize = 5;

/// Where placement wants every partition: the ring over the nodes that are
/// up or only suspect (leaving and gone nodes get nothing).
pub fn target(state: &ClusterState) -> Assignment {
    let eligible = state
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n.state, NodeState::Up | NodeState::Suspect))
        .map(|(id, _)| *id);
    Ring::new(eligible, state.config.vnodes)
        .assign(state.config.partitions, state.config.replication as usize)
}

/// Phase 1: the map with every replica `target` adds as joining (and
/// joining replicas `target` no longer wants taken out again).
pub fn with_joining(state: &ClusterState, target: &Assignment) -> (Assignment, Assignment) {
    let map = &state.partition_map;
    let mut assignment = map.assignment.clone();
    let mut joining = map.joining.clone();
    for (p, js) in joining.iter_mut() {
        let wanted = target.get(p).map(Vec::as_slice).unwrap_or(&[]);
        let dropped: Vec<NodeId> = js.iter().copied().filter(|n| !wanted.contains(n)).collect();
        js.retain(|n| wanted.contains(n));
        if let Some(replicas) = assignment.get_mut(p) {
            replicas.retain(|n| !dropped.contains(n));
        }
    }
    for (p, want) in target {
        let have = assignment.entry(*p).or_default();
        for n in want {
            if !have.contains(n) {
                have.push(*n);
                joining.entry(*p).or_default().push(*n);
            }
        }
    }
    joining.retain(|_, js| !js.is_empty());
    (assignment, joining)
}

/// Phase 3: partitions with nothing joining take their replicas from
/// `target`, when every target replica already holds the data.
pub fn switched(assignment: &Assignment, joining: &Assignment, target: &Assignment) -> Assignment {
    let mut out = assignment.clone();
    for (p, want) in target {
        if joining.get(p).is_some_and(|j| !j.is_empty()) || want.is_empty() {
            continue;
        }
        let have = assignment.get(p).map(Vec::as_slice).unwrap_or(&[]);
        if want.iter().all(|n| have.contains(n)) {
            out.insert(*p, want.clone());
        }
    }
    out
}

/// Which nodes change state for their silence: up or suspect nodes silent
/// for `down_after` are gone, up nodes silent for `suspect_after` suspect.
/// Silence counts from a node's last heartbeat, its registration, or
/// `since_ms` (when this member became leader: heartbeats before went to
/// another leader), whichever is latest. Each with how long it was silent.
pub fn silent_nodes(
    nodes: &[(NodeId, NodeState, u64)],
    beats: &BTreeMap<NodeId, u64>,
    since_ms: u64,
    now_ms: u64,
    moves: &MoveConfig,
) -> Vec<(NodeId, NodeState, Duration)> {
    let mut out = Vec::new();
    for &(id, state, registered) in nodes {
        let last = beats
            .get(&id)
            .copied()
            .unwrap_or(0)
            .max(registered)
            .max(since_ms);
        let silent = Duration::from_millis(now_ms.saturating_sub(last));
        let next = match state {
            NodeState::Up | NodeState::Suspect if silent >= moves.down_after => NodeState::Gone,
            NodeState::Up if silent >= moves.suspect_after => NodeState::Suspect,
            _ => continue,
        };
        out.push((id, next, silent));
    }
    out
}

/// Leaving nodes that hold no replica any more: they can be
/// decommissioned.
pub fn finished_leaving(state: &ClusterState) -> Vec<NodeId> {
    let held: BTreeSet<NodeId> = state
        .partition_map
        .assignment
        .values()
        .flatten()
        .copied()
        .collect();
    state
        .nodes
        .iter()
        .filter(|(id, n)| n.state == NodeState::Leaving && !held.contains(id))
        .map(|(id, _)| *id)
        .collect()
}

/// Whether a node takes part in copies (as a source or a target).
fn serves_copies(state: &ClusterState, node: NodeId) -> bool {
    state
        .nodes
        .get(&node)
        .is_some_and(|e| matches!(e.state, NodeState::Up | NodeState::Leaving))
}

/// The replicas of `partition` in `replicas` whose nodes can serve a copy.
fn copy_sources(
    state: &ClusterState,
    replicas: &Assignment,
    partition: PartitionId,
) -> Vec<NodeId> {
    replicas
        .get(&partition)
        .map(|r| {
            r.iter()
                .copied()
                .filter(|n| serves_copies(state, *n))
                .collect()
        })
        .unwrap_or_default()
}

/// One copy to make: fill `to`'s replica of `partition` from the first of
/// `sources` that succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub partition: PartitionId,
    pub to: NodeId,
    pub sources: Vec<NodeId>,
}

/// Phase 2: the joining replicas to fill, each from the serving replicas
/// of its partition on nodes that are up.
pub fn fills(state: &ClusterState, serving: &Assignment, joining: &Assignment) -> Vec<Copy> {
    let mut out = Vec::new();
    for (p, js) in joining {
        let sources = copy_sources(state, serving, *p);
        for &to in js {
            out.push(Copy {
                partition: *p,
                to,
                sources: sources.clone(),
            });
        }
    }
    out
}

/// What is still joining once the replicas in `filled` hold their data.
pub fn still_joining(
    joining: &Assignment,
    filled: &BTreeMap<PartitionId, Vec<NodeId>>,
) -> Assignment {
    let mut still = joining.clone();
    for (p, done) in filled {
        if let Some(js) = still.get_mut(p) {
            js.retain(|n| !done.contains(n));
        }
    }
    still.retain(|_, js| !js.is_empty());
    still
}

/// Replicas marked behind on nodes that are up again, each to be filled
/// from the readable replicas of its partition that are up, with the mark
/// its catching up clears.
pub fn catch_ups(state: &ClusterState) -> Vec<(Copy, u64)> {
    let map = &state.partition_map;
    let readable = map.readable();
    let mut out = Vec::new();
    for (p, nodes) in &map.behind {
        for (&node, &mark) in nodes {
            if !serves_copies(state, node) {
                continue;
            }
            let sources = copy_sources(state, &readable, *p);
            out.push((
                Copy {
                    partition: *p,
                    to: node,
                    sources,
                },
                mark,
            ));
        }
    }
    out
}

/// A node back after being unreachable: each replica it holds, to be
/// compared with (and filled from) the readable replicas of its partition
/// on nodes that are up. Its missed writes are marked behind too
/// ([`catch_ups`]); this also repairs what no mark recorded.
pub fn returning(state: &ClusterState, node: NodeId) -> Vec<Copy> {
    if !serves_copies(state, node) {
        return Vec::new();
    }
    let map = &state.partition_map;
    let readable = map.readable();
    map.assignment
        .iter()
        .filter(|(_, replicas)| replicas.contains(&node))
        .map(|(p, _)| Copy {
            partition: *p,
            to: node,
            sources: copy_sources(state, &readable, *p)
                .into_iter()
                .filter(|n| *n != node)
                .collect(),
        })
        .collect()
}

async fn hashes(
    client: &NodeClient,
    epoch: u64,
    partition: PartitionId,
) -> Result<Vec<(proto::assignment::PartitionId, String, u64)>, CpgError> {
    client
        .call(COPY_DEADLINE, move |c, ctx| async move {
            c.file_hashes(ctx, epoch, vec![partition]).await
        })
        .await
        .map_err(CpgError::from)
}

/// Fill `to`'s replica of `partition` from `from`'s until their per-file
/// content hashes are equal.
async fn copy(
    clients: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    partition: PartitionId,
    from: NodeId,
    to: NodeId,
) -> Result<(), CpgError> {
    let (Some(source), Some(target)) = (clients.get(&from), clients.get(&to)) else {
        return Err(CpgError::Internal(format!(
            "no address for node {from} or {to}"
        )));
    };
    for attempt in 0..COPY_ATTEMPTS {
        let report = target
            .call(COPY_DEADLINE, move |c, ctx| async move {
                c.pull(ctx, epoch, partition, from).await
            })
            .await
            .map_err(CpgError::from)?;
        let (a, b) = tokio::join!(
            hashes(source, epoch, partition),
            hashes(target, epoch, partition)
        );
        if a? == b? {
            tracing::info!(
                partition = partition.0,
                from = from.0,
                to = to.0,
                files = report.files,
                copied = report.copied,
                attempt,
                "partition copied"
            );
            return Ok(());
        }
        // A write landed on one replica between the pull and the
        // comparison: pull again.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(CpgError::Internal(format!(
        "partition {partition}: node {to} still differs from node {from} after {COPY_ATTEMPTS} pulls"
    )))
}

impl Coordinator {
    /// Commit a new map at the next epoch; the epoch committed.
    async fn commit_map(
        &self,
        assignment: Assignment,
        joining: Assignment,
    ) -> Result<u64, CpgError> {
        let epoch = self.sm.read(|s| s.partition_map.epoch) + 1;
        match self
            .write(Command::AssignPartitions {
                epoch,
                assignment,
                joining,
            })
            .await?
        {
            CommandResult::Rejected(reason) => {
                Err(CpgError::Internal(format!("map change rejected: {reason}")))
            }
            _ => Ok(epoch),
        }
    }

    /// Mark nodes that stopped heartbeating suspect, then gone. `since_ms`
    /// is when this member became leader: heartbeats before it went to
    /// another leader, so silence is counted from then at the earliest.
    pub(crate) async fn watch_nodes(&self, since_ms: u64, now_ms: u64) -> Result<(), CpgError> {
        let beats = self
            .heartbeats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let nodes: Vec<(NodeId, NodeState, u64)> = self.sm.read(|s| {
            s.nodes
                .iter()
                .map(|(id, n)| (*id, n.state, n.last_heartbeat_ms))
                .collect()
        });
        for (id, next, silent) in silent_nodes(&nodes, &beats, since_ms, now_ms, &self.moves) {
            tracing::warn!(
                node = id.0,
                silent_ms = silent.as_millis() as u64,
                ?next,
                "node missed heartbeats"
            );
            self.write(Command::SetNodeState { id, state: next })
                .await?;
        }
        Ok(())
    }

    /// Bring the map to where placement wants it: directly while nothing
    /// is stored, else by moves (see the module documentation). One pass;
    /// what fails is tried again by the next.
    pub async fn rebalance(&self) -> Result<(), CpgError> {
        let _one_at_a_time = self.moving.lock().await;
        // Every upkeep tick: what placement needs, not a copy of the whole
        // state (its catalog holds every file).
        let planned = self.sm.read(|state| {
            state.configured.then(|| {
                let target = target(state);
                let joined = with_joining(state, &target);
                (
                    target,
                    state.generation,
                    state.partition_map.clone(),
                    joined,
                )
            })
        });
        let Some((target, generation, map, (assignment, joining))) = planned else {
            return Ok(());
        };
        if generation == 0 || map.assignment.is_empty() {
            if target != map.assignment || !map.joining.is_empty() {
                self.commit_map(target, Assignment::new()).await?;
            }
            return self.retire_leaving().await;
        }
        // Phase 1: the new replicas join.
        let mut epoch = map.epoch;
        if assignment != map.assignment || joining != map.joining {
            epoch = self.commit_map(assignment.clone(), joining.clone()).await?;
            tracing::info!(
                epoch,
                partitions = joining.len(),
                "moving partitions: new replicas joining"
            );
        }
        // Phase 2: fill them, one partition at a time.
        let view = self.view();
        let clients = self.queries.clients(&view);
        let mut filled: BTreeMap<PartitionId, Vec<NodeId>> = BTreeMap::new();
        let mut last = None;
        let copies = self
            .sm
            .read(|state| fills(state, &view.assignment, &joining));
        for c in copies {
            if last.is_some_and(|p| p != c.partition) {
                tokio::time::sleep(self.moves.throttle).await;
            }
            last = Some(c.partition);
            for &from in &c.sources {
                match copy(&clients, epoch, c.partition, from, c.to).await {
                    Ok(()) => {
                        filled.entry(c.partition).or_default().push(c.to);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(
                            partition = c.partition.0,
                            from = from.0,
                            to = c.to.0,
                            "copy failed: {e}"
                        )
                    }
                }
            }
        }
        // Phase 3: switch the filled partitions to their new replicas.
        let now = self.sm.read(|s| s.partition_map.clone());
        if now.epoch != epoch {
            // The map changed meanwhile (another leader): the next pass
            // starts from the new one.
            return Ok(());
        }
        let still = still_joining(&now.joining, &filled);
        let assignment = switched(&now.assignment, &still, &target);
        if assignment != now.assignment || still != now.joining {
            let epoch = self.commit_map(assignment, still).await?;
            tracing::info!(
                epoch,
                partitions = filled.len(),
                "moved partitions: switched"
            );
        }
        self.retire_leaving().await
    }

    /// Leaving nodes that hold no replica any more are decommissioned.
    async fn retire_leaving(&self) -> Result<(), CpgError> {
        let done = self.sm.read(finished_leaving);
        for id in done {
            tracing::info!(node = id.0, "decommissioned: holds no partition any more");
            self.write(Command::SetNodeState {
                id,
                state: NodeState::Decommissioned,
            })
            .await?;
        }
        Ok(())
    }

    /// Check the replicas of the partitions `node` holds against an
    /// up-to-date peer's and pull what differs (a node back after missing
    /// writes): [`returning`]'s plan, performed by [`fill`]. Whether every
    /// replica was checked: one without a source that is up (its peers are
    /// back later) or whose copies failed is to be tried again.
    pub(crate) async fn catch_up(&self, node: NodeId) -> Result<bool, CpgError> {
        let _one_at_a_time = self.moving.lock().await;
        let (epoch, plan) = self
            .sm
            .read(|s| (s.partition_map.epoch, returning(s, node)));
        let view = self.view();
        let clients = self.queries.clients(&view);
        let mut complete = true;
        for c in plan {
            if c.sources.is_empty() {
                tracing::debug!(
                    partition = c.partition.0,
                    node = node.0,
                    "a returning replica has no up-to-date peer that is up yet"
                );
                complete = false;
            } else if fill(&clients, epoch, &c).await.is_none() {
                complete = false;
            }
        }
        Ok(complete)
    }
}

/// Perform one copy: from the first of its sources that succeeds (the one
/// it came from), or `None` when none did (each failure logged).
async fn fill(clients: &HashMap<NodeId, Arc<NodeClient>>, epoch: u64, c: &Copy) -> Option<NodeId> {
    for &from in &c.sources {
        match copy(clients, epoch, c.partition, from, c.to).await {
            Ok(()) => return Some(from),
            Err(e) => tracing::warn!(
                partition = c.partition.0,
                node = c.to.0,
                from = from.0,
                "copying a replica: {e}"
            ),
        }
    }
    None
}

impl Coordinator {
    /// Catch up the replicas marked behind (they missed writes while
    /// unreachable) on nodes that are up again: each is filled from an
    /// up-to-date replica of its partition until their content hashes
    /// agree, then its mark is cleared, unless it missed another write
    /// meanwhile (a newer mark stays, and the next pass tries again).
    pub(crate) async fn catch_up_behind(&self) -> Result<(), CpgError> {
        // Every upkeep tick: look before copying the whole state.
        if self.sm.read(|s| s.partition_map.behind.is_empty()) {
            return Ok(());
        }
        let _one_at_a_time = self.moving.lock().await;
        let (epoch, catch_ups) = self.sm.read(|s| (s.partition_map.epoch, catch_ups(s)));
        let view = self.view();
        let clients = self.queries.clients(&view);
        for (c, mark) in catch_ups {
            if let Some(from) = fill(&clients, epoch, &c).await {
                self.write(Command::CaughtUp {
                    partition: c.partition,
                    node: c.to,
                    mark,
                })
                .await?;
                tracing::info!(
                    partition = c.partition.0,
                    node = c.to.0,
                    from = from.0,
                    "behind replica caught up"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{ClusterConfig, NodeEntry, PartitionMap};
    use proptest::prelude::*;

    use crate::placement::asg;

    fn state(nodes: &[(u64, NodeState)], assignment: Assignment) -> ClusterState {
        ClusterState {
            config: ClusterConfig {
                partitions: 8,
                replication: 2,
                vnodes: 64,
            },
            nodes: nodes
                .iter()
                .map(|(id, state)| {
                    (
                        NodeId(*id),
                        NodeEntry {
                            address: format!("127.0.0.1:{}", 9000 + id),
                            state: *state,
                            last_heartbeat_ms: 0,
                        },
                    )
                })
                .collect(),
            partition_map: PartitionMap {
                epoch: 1,
                assignment,
                joining: Assignment::new(),
                ..PartitionMap::default()
            },
            generation: 1,
            configured: true,
            ..ClusterState::default()
        }
    }

    #[test]
    fn a_move_adds_joining_replicas_then_switches_only_filled_partitions() {
        let up = [(1, NodeState::Up), (2, NodeState::Up)];
        let before = target(&state(&up, Assignment::new()));
        // Node 3 arrives; node 2 leaves.
        let now = [
            (1, NodeState::Up),
            (2, NodeState::Leaving),
            (3, NodeState::Up),
        ];
        let s = state(&now, before.clone());
        let want = target(&s);
        assert!(want
            .values()
            .all(|r| !r.contains(&NodeId(2)) && r.len() == 2));
        let (assignment, joining) = with_joining(&s, &want);
        for p in PartitionId::all(8) {
            // Old replicas stay and serve; new ones join after them.
            assert!(before[&p].iter().all(|n| assignment[&p].contains(n)));
            let added: Vec<NodeId> = want[&p]
                .iter()
                .copied()
                .filter(|n| !before[&p].contains(n))
                .collect();
            assert_eq!(joining.get(&p).cloned().unwrap_or_default(), added, "{p}");
        }
        // Nothing filled: nothing switches.
        assert_eq!(switched(&assignment, &joining, &want), assignment);
        // All filled: every partition takes its wanted replicas, node 2 out.
        assert_eq!(switched(&assignment, &Assignment::new(), &want), want);
        // One partition still joining keeps its replicas.
        let mut one_left = Assignment::new();
        let (p, js) = joining.iter().next().expect("something moves");
        one_left.insert(*p, js.clone());
        let half = switched(&assignment, &one_left, &want);
        assert_eq!(half[p], assignment[p]);
        assert!(half
            .iter()
            .filter(|(q, _)| *q != p)
            .all(|(q, r)| *r == want[q]));
    }

    #[test]
    fn a_joining_replica_placement_no_longer_wants_is_taken_out() {
        let now = [(1, NodeState::Up), (2, NodeState::Up)];
        let mut s = state(&now, asg([(PartitionId(0), vec![1, 2, 3])]));
        s.partition_map.joining = asg([(PartitionId(0), vec![3])]);
        let want = asg([(PartitionId(0), vec![1, 2])]);
        let (assignment, joining) = with_joining(&s, &want);
        assert_eq!(assignment, want);
        assert!(joining.is_empty());
    }

    #[test]
    fn gone_and_decommissioned_nodes_get_nothing_suspect_ones_keep_theirs() {
        let nodes = [
            (1, NodeState::Up),
            (2, NodeState::Suspect),
            (3, NodeState::Gone),
            (4, NodeState::Decommissioned),
        ];
        let want = target(&state(&nodes, Assignment::new()));
        let used: BTreeSet<NodeId> = want.values().flatten().copied().collect();
        assert_eq!(used, BTreeSet::from([NodeId(1), NodeId(2)]));
    }

    fn any_state() -> impl Strategy<Value = NodeState> {
        prop_oneof![
            Just(NodeState::Up),
            Just(NodeState::Suspect),
            Just(NodeState::Gone),
            Just(NodeState::Leaving),
            Just(NodeState::Decommissioned),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// A whole move, planned from any cluster: phase 1 keeps every
        /// serving replica and adds only wanted ones as joining; phase 3,
        /// after any subset of the copies succeeded, lets a replica serve
        /// only if it served before or was filled, never leaves a partition
        /// without a replica, and reaches the target once all are filled.
        #[test]
        fn moves_never_serve_from_an_unfilled_replica(
            before in proptest::collection::vec((1u64..7, any_state()), 1..6),
            after in proptest::collection::vec((1u64..7, any_state()), 1..6),
            filled_mask in proptest::collection::vec(any::<bool>(), 32),
        ) {
            let mut s = state(&before, Assignment::new());
            let first = target(&s);
            s = state(&after, first.clone());
            let want = target(&s);
            let (assignment, joining) = with_joining(&s, &want);
            for (p, old) in &first {
                for n in old {
                    prop_assert!(assignment[p].contains(n), "partition {p} lost serving replica {n}");
                }
            }
            for (p, js) in &joining {
                for n in js {
                    prop_assert!(want[p].contains(n));
                    prop_assert!(!first.get(p).is_some_and(|o| o.contains(n)));
                }
            }
            let copies = fills(&s, &first, &joining);
            prop_assert_eq!(copies.len(), joining.values().map(Vec::len).sum::<usize>());
            let mut filled: BTreeMap<PartitionId, Vec<NodeId>> = BTreeMap::new();
            for (i, c) in copies.iter().enumerate() {
                let serving = first.get(&c.partition).cloned().unwrap_or_default();
                prop_assert!(c.sources.iter().all(|n| serving.contains(n)));
                if filled_mask[i % filled_mask.len()] {
                    filled.entry(c.partition).or_default().push(c.to);
                }
            }
            let still = still_joining(&joining, &filled);
            let now = switched(&assignment, &still, &want);
            for (p, replicas) in &now {
                let was = first.get(p).cloned().unwrap_or_default();
                let got = filled.get(p).cloned().unwrap_or_default();
                for n in replicas {
                    let joining_now = still.get(p).is_some_and(|j| j.contains(n));
                    prop_assert!(
                        was.contains(n) || got.contains(n) || joining_now,
                        "partition {p}: replica {n} serves unfilled"
                    );
                }
                if !was.is_empty() {
                    prop_assert!(!replicas.is_empty());
                }
            }
            let all_filled = still_joining(&joining, &joining.clone());
            prop_assert!(all_filled.is_empty());
            let done = switched(&assignment, &all_filled, &want);
            for (p, r) in &want {
                if !r.is_empty() {
                    prop_assert_eq!(&done[p], r);
                }
            }
        }

        /// Silence makes an up node suspect, then gone; a suspect node gone;
        /// nothing else changes, and never before its time.
        #[test]
        fn silent_nodes_change_state_only_when_their_time_has_come(
            nodes in proptest::collection::btree_map(1u64..20, (any_state(), 0u64..10_000), 0..8),
            beats in proptest::collection::vec((1u64..20, 0u64..20_000), 0..8),
            since in 0u64..10_000,
            now in 0u64..30_000,
        ) {
            let moves = MoveConfig {
                suspect_after: Duration::from_millis(3_000),
                down_after: Duration::from_millis(9_000),
                throttle: Duration::ZERO,
            };
            let beats: BTreeMap<NodeId, u64> = beats.into_iter().map(|(n, at)| (NodeId(n), at)).collect();
            let nodes: Vec<(NodeId, NodeState, u64)> =
                nodes.into_iter().map(|(id, (state, at))| (NodeId(id), state, at)).collect();
            let changes = silent_nodes(&nodes, &beats, since, now, &moves);
            for (id, next, silent) in &changes {
                let (_, was, registered) = nodes.iter().find(|(n, _, _)| n == id).copied().unwrap_or((NodeId(0), NodeState::Up, 0));
                let last = beats.get(id).copied().unwrap_or(0).max(registered).max(since);
                prop_assert_eq!(*silent, Duration::from_millis(now.saturating_sub(last)));
                match next {
                    NodeState::Gone => prop_assert!(
                        matches!(was, NodeState::Up | NodeState::Suspect) && *silent >= moves.down_after
                    ),
                    NodeState::Suspect => prop_assert!(
                        was == NodeState::Up && *silent >= moves.suspect_after && *silent < moves.down_after
                    ),
                    other => prop_assert!(false, "unexpected transition to {other:?}"),
                }
            }
        }
    }

    #[test]
    fn behind_replicas_are_caught_up_from_readable_ones_on_nodes_that_are_up() {
        let nodes = [(1, NodeState::Up), (2, NodeState::Up), (3, NodeState::Gone)];
        let mut s = state(
            &nodes,
            asg([(PartitionId(0), vec![1, 2]), (PartitionId(1), vec![2, 3])]),
        );
        s.partition_map.behind = BTreeMap::from([
            (PartitionId(0), BTreeMap::from([(NodeId(2), 7)])),
            (PartitionId(1), BTreeMap::from([(NodeId(3), 8)])),
        ]);
        let plan = catch_ups(&s);
        assert_eq!(
            plan,
            vec![(
                Copy {
                    partition: PartitionId(0),
                    to: NodeId(2),
                    sources: vec![NodeId(1)]
                },
                7
            )]
        );
    }

    #[test]
    fn leaving_nodes_are_finished_when_they_hold_nothing() {
        let nodes = [
            (1, NodeState::Up),
            (2, NodeState::Leaving),
            (3, NodeState::Leaving),
        ];
        let s = state(&nodes, asg([(PartitionId(0), vec![1, 2])]));
        assert_eq!(finished_leaving(&s), vec![NodeId(3)]);
    }

    /// A cluster of up to six nodes in any states, eight partitions placed
    /// on any of them, some replicas marked behind, some joining.
    fn any_cluster() -> impl Strategy<Value = ClusterState> {
        (
            proptest::collection::btree_map(1u64..7, any_state(), 1..6),
            proptest::collection::vec(proptest::collection::btree_set(1u64..7, 0..4), 8),
            proptest::collection::vec((0u32..8, 1u64..7, 1u64..50), 0..10),
            proptest::collection::vec((0u32..8, 1u64..7), 0..6),
        )
            .prop_map(|(nodes, placed, marks, joining)| {
                let nodes: Vec<(u64, NodeState)> = nodes.into_iter().collect();
                let assignment: Assignment = placed
                    .into_iter()
                    .enumerate()
                    .map(|(p, ns)| (PartitionId(p as u32), ns.into_iter().map(NodeId).collect()))
                    .collect();
                let mut s = state(&nodes, assignment);
                for (p, n, mark) in marks {
                    let held = s.partition_map.assignment[&PartitionId(p)].contains(&NodeId(n));
                    if held {
                        s.partition_map
                            .behind
                            .entry(PartitionId(p))
                            .or_default()
                            .insert(NodeId(n), mark);
                    }
                }
                // Joining replicas are placed ones a move is filling.
                for (p, n) in joining {
                    let held = s.partition_map.assignment[&PartitionId(p)].contains(&NodeId(n));
                    if held {
                        s.partition_map
                            .joining
                            .entry(PartitionId(p))
                            .or_default()
                            .push(NodeId(n));
                    }
                }
                s
            })
    }

    fn up(s: &ClusterState, n: NodeId) -> bool {
        s.nodes
            .get(&n)
            .is_some_and(|e| matches!(e.state, NodeState::Up | NodeState::Leaving))
    }

    /// A source is a replica of the copy's partition that is up, readable
    /// (neither joining nor behind) and not the target.
    fn good_source(s: &ClusterState, c: &Copy, from: NodeId) -> bool {
        let p = &s.partition_map;
        from != c.to
            && up(s, from)
            && p.assignment[&c.partition].contains(&from)
            && !p
                .behind
                .get(&c.partition)
                .is_some_and(|b| b.contains_key(&from))
            && !p
                .joining
                .get(&c.partition)
                .is_some_and(|j| j.contains(&from))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Every behind mark on a node that is up is planned once, with its
        /// mark, from every up-to-date replica that is up (none other); marks
        /// on nodes that are down wait.
        #[test]
        fn catch_ups_fill_every_behind_replica_that_is_up_from_up_to_date_ones(s in any_cluster()) {
            let plan = catch_ups(&s);
            let planned: BTreeSet<(PartitionId, NodeId)> = plan.iter().map(|(c, _)| (c.partition, c.to)).collect();
            prop_assert_eq!(planned.len(), plan.len(), "a replica planned twice");
            for (p, marks) in &s.partition_map.behind {
                for (n, mark) in marks {
                    let entry = plan.iter().find(|(c, _)| c.partition == *p && c.to == *n);
                    match entry {
                        None => prop_assert!(!up(&s, *n), "behind replica {p}/{n} on an up node not planned"),
                        Some((c, m)) => {
                            prop_assert!(up(&s, *n));
                            prop_assert_eq!(m, mark);
                            for from in &c.sources {
                                prop_assert!(good_source(&s, c, *from), "{p}: source {from} is not an up-to-date replica that is up");
                            }
                            let every: Vec<NodeId> = s.partition_map.assignment[p].iter().copied().filter(|f| good_source(&s, c, *f)).collect();
                            prop_assert_eq!(&c.sources, &every);
                        }
                    }
                }
            }
        }

        /// A returning node that is up compares every replica it holds, and
        /// only those, with up-to-date replicas that are up; one that is
        /// not up is given nothing.
        #[test]
        fn a_returning_node_compares_every_replica_it_holds_with_up_to_date_ones(s in any_cluster(), node in 1u64..7) {
            let node = NodeId(node);
            let plan = returning(&s, node);
            if !up(&s, node) {
                prop_assert!(plan.is_empty());
                return Ok(());
            }
            let held: Vec<PartitionId> = s.partition_map.assignment.iter().filter(|(_, r)| r.contains(&node)).map(|(p, _)| *p).collect();
            prop_assert_eq!(plan.iter().map(|c| c.partition).collect::<Vec<_>>(), held);
            for c in &plan {
                prop_assert_eq!(c.to, node);
                let every: Vec<NodeId> = s.partition_map.assignment[&c.partition].iter().copied().filter(|f| good_source(&s, c, *f)).collect();
                prop_assert_eq!(&c.sources, &every);
            }
        }

        /// A leaving node is decommissioned exactly when no partition has a
        /// replica on it; no other node ever is.
        #[test]
        fn only_leaving_nodes_that_hold_nothing_are_finished(s in any_cluster()) {
            let done: BTreeSet<NodeId> = finished_leaving(&s).into_iter().collect();
            for (id, e) in &s.nodes {
                let holds = s.partition_map.assignment.values().any(|r| r.contains(id));
                prop_assert_eq!(done.contains(id), e.state == NodeState::Leaving && !holds, "node {} ({:?}, holds {})", id, e.state, holds);
            }
        }
    }
}
