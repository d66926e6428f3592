//! The replicated cluster metadata and the commands that change it: cluster
//! configuration, node registry, partition map and module catalog.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::placement::{Assignment, NodeId, PartitionId};

/// Fixed when the cluster is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Partition count P.
    pub partitions: u32,
    /// Replication factor R.
    pub replication: u32,
    /// Virtual nodes per storage node on the ring.
    pub vnodes: u32,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            partitions: 64,
            replication: 2,
            vnodes: 128,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    Up,
    /// Missed heartbeats; keeps its partitions (a flapping node causes no
    /// moves), reads go to other replicas first.
    Suspect,
    /// Removed by an operator or after the re-replication delay.
    Gone,
    /// Being decommissioned: its partitions move to other nodes, then it
    /// is decommissioned.
    Leaving,
    /// Decommissioned: holds nothing, and heartbeats do not bring it back
    /// (registering again, or `cpg cluster add-node`, does).
    Decommissioned,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub address: String,
    pub state: NodeState,
    /// Milliseconds since the Unix epoch, as reported by the leader.
    pub last_heartbeat_ms: u64,
}

/// `{epoch, partition → replica set}`: the explicit assignment committed by
/// the leader. Nodes reject requests carrying an older epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMap {
    pub epoch: u64,
    /// Every replica that takes writes, serving ones first.
    pub assignment: Assignment,
    /// Of those, the replicas a move is still filling: they serve no read.
    pub joining: Assignment,
}

impl PartitionMap {
    /// The replicas that serve reads.
    pub fn readable(&self) -> Assignment {
        let mut out = self.assignment.clone();
        for (p, joining) in &self.joining {
            if let Some(replicas) = out.get_mut(p) {
                replicas.retain(|n| !joining.contains(n));
            }
        }
        out
    }
}

/// One ingested file in the module catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub content_hash: u64,
    /// Catalog generation at which the file last changed.
    pub generation: u64,
    /// Modules the file defines, with their partition.
    pub modules: Vec<(String, PartitionId)>,
    /// What parsing it reported (syntax errors and the like).
    pub diagnostics: Vec<proto::Diagnostic>,
}

/// A file added or changed by an ingest (the wire type, recorded as is).
pub type CatalogPut = proto::coordinator_api::CatalogFile;

/// A change to the cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Set P, R and virtual nodes; only before any partition is assigned.
    Configure(ClusterConfig),
    RegisterNode {
        id: NodeId,
        address: String,
        now_ms: u64,
    },
    SetNodeState {
        id: NodeId,
        state: NodeState,
    },
    /// Install a new partition map; its epoch must be the current one + 1.
    /// `joining` replicas must be in `assignment`.
    AssignPartitions {
        epoch: u64,
        assignment: Assignment,
        joining: Assignment,
    },
    /// One ingest: files put and removed together (one generation step).
    RecordIngest {
        put: Vec<CatalogPut>,
        removed: Vec<String>,
    },
}

/// What applying a command returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    Ok,
    /// The catalog generation after the change.
    Generation(u64),
    /// The command was valid Raft-wise but refused by the state machine.
    Rejected(String),
}

/// Everything the state machine holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub config: ClusterConfig,
    pub nodes: BTreeMap<NodeId, NodeEntry>,
    pub partition_map: PartitionMap,
    pub catalog: BTreeMap<String, FileEntry>,
    /// Incremented by every catalog change; caches key on it.
    pub generation: u64,
    /// Whether `config` was committed (by the member that initialized the
    /// group). Partitions are placed only once it is, so nodes that register
    /// early do not fix the defaults.
    pub configured: bool,
}

impl ClusterState {
    /// Apply one command. Deterministic: every replica computes the same state.
    pub fn apply(&mut self, command: &Command) -> CommandResult {
        match command {
            Command::Configure(config) => {
                if self.partition_map.epoch > 0 && *config != self.config {
                    return CommandResult::Rejected(
                        "partition count, replication and virtual nodes are fixed once partitions are assigned".into(),
                    );
                }
                if config.partitions == 0 || config.replication == 0 {
                    return CommandResult::Rejected(
                        "partitions and replication must be at least 1".into(),
                    );
                }
                self.config = *config;
                self.configured = true;
                CommandResult::Ok
            }
            Command::RegisterNode {
                id,
                address,
                now_ms,
            } => {
                self.nodes.insert(
                    *id,
                    NodeEntry {
                        address: address.clone(),
                        state: NodeState::Up,
                        last_heartbeat_ms: *now_ms,
                    },
                );
                CommandResult::Ok
            }
            Command::SetNodeState { id, state } => match self.nodes.get_mut(id) {
                Some(node) => {
                    node.state = *state;
                    CommandResult::Ok
                }
                None => CommandResult::Rejected(format!("node {id} is not registered")),
            },
            Command::AssignPartitions {
                epoch,
                assignment,
                joining,
            } => {
                if *epoch != self.partition_map.epoch + 1 {
                    return CommandResult::Rejected(format!(
                        "epoch {epoch} does not follow the current epoch {}",
                        self.partition_map.epoch
                    ));
                }
                let stray = joining.iter().find(|(p, nodes)| {
                    let replicas = assignment.get(p).map(Vec::as_slice).unwrap_or(&[]);
                    nodes.iter().any(|n| !replicas.contains(n))
                });
                if let Some((p, _)) = stray {
                    return CommandResult::Rejected(format!(
                        "partition {p}: a joining replica is not in its replica set"
                    ));
                }
                self.partition_map = PartitionMap {
                    epoch: *epoch,
                    assignment: assignment.clone(),
                    joining: joining
                        .iter()
                        .filter(|(_, n)| !n.is_empty())
                        .map(|(p, n)| (*p, n.clone()))
                        .collect(),
                };
                CommandResult::Ok
            }
            Command::RecordIngest { put, removed } => {
                if put.is_empty() && removed.iter().all(|f| !self.catalog.contains_key(f)) {
                    return CommandResult::Generation(self.generation);
                }
                self.generation += 1;
                for p in put {
                    let entry = FileEntry {
                        content_hash: p.content_hash,
                        generation: self.generation,
                        modules: p.modules.clone(),
                        diagnostics: p.diagnostics.clone(),
                    };
                    self.catalog.insert(p.file.clone(), entry);
                }
                for file in removed {
                    self.catalog.remove(file);
                }
                CommandResult::Generation(self.generation)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_advance_one_at_a_time_and_config_freezes() {
        let mut s = ClusterState::default();
        let map = Assignment::from([(0, vec![1, 2])]);
        assert_eq!(
            s.apply(&Command::AssignPartitions {
                epoch: 2,
                assignment: map.clone(),
                joining: Assignment::new(),
            }),
            CommandResult::Rejected("epoch 2 does not follow the current epoch 0".into())
        );
        assert_eq!(
            s.apply(&Command::AssignPartitions {
                epoch: 1,
                assignment: map,
                joining: Assignment::new(),
            }),
            CommandResult::Ok
        );
        let other = ClusterConfig {
            partitions: 8,
            ..ClusterConfig::default()
        };
        assert!(matches!(
            s.apply(&Command::Configure(other)),
            CommandResult::Rejected(_)
        ));
        assert_eq!(
            s.apply(&Command::Configure(ClusterConfig::default())),
            CommandResult::Ok
        );
    }

    #[test]
    fn an_ingest_is_one_generation_step() {
        let mut s = ClusterState::default();
        let put = vec![
            CatalogPut {
                file: "a.ex".into(),
                content_hash: 1,
                modules: vec![("A".into(), 0)],
                diagnostics: vec![],
            },
            CatalogPut {
                file: "b.ex".into(),
                content_hash: 2,
                modules: vec![],
                diagnostics: vec![],
            },
        ];
        let first = Command::RecordIngest {
            put,
            removed: vec![],
        };
        assert_eq!(s.apply(&first), CommandResult::Generation(1));
        let second = Command::RecordIngest {
            put: vec![],
            removed: vec!["a.ex".into(), "nope.ex".into()],
        };
        assert_eq!(s.apply(&second), CommandResult::Generation(2));
        assert_eq!(s.catalog.keys().collect::<Vec<_>>(), vec!["b.ex"]);
        let nothing = Command::RecordIngest {
            put: vec![],
            removed: vec!["a.ex".into()],
        };
        assert_eq!(
            s.apply(&nothing),
            CommandResult::Generation(2),
            "no change, no new generation"
        );
    }

    #[test]
    fn unknown_nodes_cannot_change_state() {
        let mut s = ClusterState::default();
        assert!(matches!(
            s.apply(&Command::SetNodeState {
                id: 9,
                state: NodeState::Suspect
            }),
            CommandResult::Rejected(_)
        ));
    }
}
