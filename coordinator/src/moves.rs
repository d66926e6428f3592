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
use crate::service::Coordinator;

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

async fn hashes(
    client: &NodeClient,
    epoch: u64,
    partition: PartitionId,
) -> Result<Vec<(u32, String, u64)>, CpgError> {
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
                partition,
                from,
                to,
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
        for (id, state, registered) in nodes {
            let last = beats
                .get(&id)
                .copied()
                .unwrap_or(0)
                .max(registered)
                .max(since_ms);
            let silent = Duration::from_millis(now_ms.saturating_sub(last));
            let next = match state {
                NodeState::Up | NodeState::Suspect if silent >= self.moves.down_after => {
                    NodeState::Gone
                }
                NodeState::Up if silent >= self.moves.suspect_after => NodeState::Suspect,
                _ => continue,
            };
            tracing::warn!(
                node = id,
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
        let state = self.sm.state();
        if !state.configured {
            return Ok(());
        }
        let target = target(&state);
        let map = &state.partition_map;
        if state.generation == 0 || map.assignment.is_empty() {
            if target != map.assignment || !map.joining.is_empty() {
                self.commit_map(target, Assignment::new()).await?;
            }
            return self.retire_leaving().await;
        }
        // Phase 1: the new replicas join.
        let (assignment, joining) = with_joining(&state, &target);
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
        let up: BTreeSet<NodeId> = self.sm.read(|s| {
            s.nodes
                .iter()
                .filter(|(_, n)| matches!(n.state, NodeState::Up | NodeState::Leaving))
                .map(|(id, _)| *id)
                .collect()
        });
        let mut filled: BTreeMap<PartitionId, Vec<NodeId>> = BTreeMap::new();
        for (p, js) in &joining {
            let sources: Vec<NodeId> = view
                .assignment
                .get(p)
                .map(|r| r.iter().copied().filter(|n| up.contains(n)).collect())
                .unwrap_or_default();
            for &to in js {
                for &from in &sources {
                    match copy(&clients, epoch, *p, from, to).await {
                        Ok(()) => {
                            filled.entry(*p).or_default().push(to);
                            break;
                        }
                        Err(e) => tracing::warn!(partition = p, from, to, "copy failed: {e}"),
                    }
                }
            }
            tokio::time::sleep(self.moves.throttle).await;
        }
        // Phase 3: switch the filled partitions to their new replicas.
        let now = self.sm.state();
        if now.partition_map.epoch != epoch {
            // The map changed meanwhile (another leader): the next pass
            // starts from the new one.
            return Ok(());
        }
        let mut still = now.partition_map.joining.clone();
        for (p, done) in &filled {
            if let Some(js) = still.get_mut(p) {
                js.retain(|n| !done.contains(n));
            }
        }
        still.retain(|_, js| !js.is_empty());
        let assignment = switched(&now.partition_map.assignment, &still, &target);
        if assignment != now.partition_map.assignment || still != now.partition_map.joining {
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
        let done: Vec<NodeId> = self.sm.read(|s| {
            s.nodes
                .iter()
                .filter(|(id, n)| {
                    n.state == NodeState::Leaving
                        && !s
                            .partition_map
                            .assignment
                            .values()
                            .flatten()
                            .any(|r| r == *id)
                })
                .map(|(id, _)| *id)
                .collect()
        });
        for id in done {
            tracing::info!(node = id, "decommissioned: holds no partition any more");
            self.write(Command::SetNodeState {
                id,
                state: NodeState::Decommissioned,
            })
            .await?;
        }
        Ok(())
    }

    /// Check the replicas of the partitions `node` holds against a peer's
    /// and pull what differs (a node back after missing writes).
    pub(crate) async fn catch_up(&self, node: NodeId) -> Result<(), CpgError> {
        let _one_at_a_time = self.moving.lock().await;
        let view = self.view();
        let clients = self.queries.clients(&view);
        for (p, replicas) in &view.assignment {
            if !replicas.contains(&node) {
                continue;
            }
            for &peer in replicas.iter().filter(|r| **r != node) {
                if copy(&clients, view.epoch, *p, peer, node).await.is_ok() {
                    break;
                }
            }
        }
        Ok(())
    }
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
        let state = self.sm.state();
        let map = &state.partition_map;
        let readable = map.readable();
        let view = self.view();
        let clients = self.queries.clients(&view);
        let up = |n: &NodeId| {
            state
                .nodes
                .get(n)
                .is_some_and(|e| matches!(e.state, NodeState::Up | NodeState::Leaving))
        };
        for (p, nodes) in &map.behind {
            for (&node, &mark) in nodes {
                if !up(&node) {
                    continue;
                }
                let sources = readable.get(p).map(Vec::as_slice).unwrap_or(&[]);
                for &from in sources.iter().filter(|n| up(n)) {
                    match copy(&clients, map.epoch, *p, from, node).await {
                        Ok(()) => {
                            self.write(Command::CaughtUp {
                                partition: *p,
                                node,
                                mark,
                            })
                            .await?;
                            tracing::info!(partition = p, node, from, "behind replica caught up");
                            break;
                        }
                        Err(e) => tracing::warn!(partition = p, node, from, "catching up: {e}"),
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{ClusterConfig, NodeEntry, PartitionMap};

    fn state(nodes: &[(NodeId, NodeState)], assignment: Assignment) -> ClusterState {
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
                        *id,
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
        assert!(want.values().all(|r| !r.contains(&2) && r.len() == 2));
        let (assignment, joining) = with_joining(&s, &want);
        for p in 0..8 {
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
        let mut s = state(&now, Assignment::from([(0, vec![1, 2, 3])]));
        s.partition_map.joining = Assignment::from([(0, vec![3])]);
        let want = Assignment::from([(0, vec![1, 2])]);
        let (assignment, joining) = with_joining(&s, &want);
        assert_eq!(assignment[&0], vec![1, 2]);
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
        assert_eq!(used, BTreeSet::from([1, 2]));
    }
}
