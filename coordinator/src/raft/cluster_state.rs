//! The replicated cluster metadata and the commands that change it: cluster
//! configuration, node registry, partition map and module catalog.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use proto::projects::{LibraryId, Owner};

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
    /// Of those, the replicas that missed an acknowledged write (they were
    /// unreachable): partition → node → the mark of the latest miss. They
    /// serve no read until the leader has caught them up.
    pub behind: BTreeMap<PartitionId, BTreeMap<NodeId, u64>>,
    /// The last mark handed out: each miss gets a new one, so catching up
    /// clears a mark only if no write was missed since it began.
    pub marks: u64,
}

impl PartitionMap {
    /// The replicas that serve reads: neither joining nor behind.
    pub fn readable(&self) -> Assignment {
        let mut out = self.assignment.clone();
        for (p, replicas) in out.iter_mut() {
            let joining = self.joining.get(p);
            let behind = self.behind.get(p);
            replicas.retain(|n| {
                !joining.is_some_and(|j| j.contains(n))
                    && !behind.is_some_and(|b| b.contains_key(n))
            });
        }
        out
    }

    /// Partition → replicas behind.
    pub fn behind_replicas(&self) -> Assignment {
        self.behind
            .iter()
            .map(|(p, nodes)| (*p, nodes.keys().copied().collect()))
            .collect()
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

/// One project in the catalog: the libraries it uses (stored once, shared
/// with every other project using the same ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectEntry {
    pub libraries: std::collections::BTreeSet<LibraryId>,
    /// Catalog generation of its last recorded ingest.
    pub generation: u64,
}

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
    /// One ingest of a project: files put and removed together (one
    /// generation step), the project's libraries, and the replicas that
    /// missed some of its writes, marked behind. Refused, changing nothing,
    /// if that would leave a partition without a readable replica, if a
    /// file is neither the project's nor of a library it uses, or if it
    /// removes a library file another project uses.
    RecordIngest(proto::coordinator_api::IngestRecord),
    /// A behind replica was caught up: its mark is cleared if it is still
    /// `mark` (a write missed since leaves it behind).
    CaughtUp {
        partition: PartitionId,
        node: NodeId,
        mark: u64,
    },
    /// A node cannot vouch for its data: its replicas of partitions the
    /// catalog has files in are marked behind until caught up from a peer.
    /// `empty` (a new data dir under a known id): all of them, a
    /// partition's last readable replica too (its data is gone: the
    /// partition is unavailable, and no copy is made from the empty one).
    /// Otherwise (damaged records set aside, a data dir from before
    /// vouchers) only where another replica is readable: after every node
    /// restarted, the last one is as likely whole as not.
    DataUnsure {
        node: NodeId,
        empty: bool,
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
    /// Projects by name (`""`: the default one), with their libraries.
    pub projects: BTreeMap<String, ProjectEntry>,
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
                // A replica that stays keeps its mark; one that left drops it.
                let mut behind = std::mem::take(&mut self.partition_map.behind);
                for (p, nodes) in behind.iter_mut() {
                    let replicas = assignment.get(p).map(Vec::as_slice).unwrap_or(&[]);
                    nodes.retain(|n, _| replicas.contains(n));
                }
                behind.retain(|_, nodes| !nodes.is_empty());
                self.partition_map = PartitionMap {
                    epoch: *epoch,
                    assignment: assignment.clone(),
                    joining: joining
                        .iter()
                        .filter(|(_, n)| !n.is_empty())
                        .map(|(p, n)| (*p, n.clone()))
                        .collect(),
                    behind,
                    marks: self.partition_map.marks,
                };
                CommandResult::Ok
            }
            Command::CaughtUp {
                partition,
                node,
                mark,
            } => {
                let map = &mut self.partition_map;
                if let Some(nodes) = map.behind.get_mut(partition) {
                    if nodes.get(node) == Some(mark) {
                        nodes.remove(node);
                    }
                    if nodes.is_empty() {
                        map.behind.remove(partition);
                    }
                }
                CommandResult::Ok
            }
            Command::DataUnsure { node, empty } => {
                let written: std::collections::BTreeSet<PartitionId> = self
                    .catalog
                    .values()
                    .flat_map(|f| f.modules.iter().map(|(_, p)| *p))
                    .collect();
                let map = &mut self.partition_map;
                let readable = map.readable();
                let held: Vec<PartitionId> = map
                    .assignment
                    .iter()
                    .filter(|(p, r)| {
                        r.contains(node)
                            && written.contains(p)
                            && (*empty
                                || readable
                                    .get(p)
                                    .is_some_and(|ok| ok.iter().any(|n| n != node)))
                    })
                    .map(|(p, _)| *p)
                    .collect();
                if !held.is_empty() {
                    map.marks += 1;
                    for p in held {
                        map.behind.entry(p).or_default().insert(*node, map.marks);
                    }
                }
                CommandResult::Ok
            }
            Command::RecordIngest(record) => {
                if let Err(reason) = self.check_ingest(record) {
                    return CommandResult::Rejected(reason);
                }
                if let Err(reason) = self.mark_behind(&record.missed) {
                    return CommandResult::Rejected(reason);
                }
                let listed = self.projects.get(&record.project).map(|p| &p.libraries);
                let libraries_same = match (&record.libraries, listed) {
                    (None, _) => true,
                    (Some(l), None) => l.is_empty(),
                    (Some(l), Some(listed)) => {
                        l.len() == listed.len() && l.iter().all(|x| listed.contains(x))
                    }
                };
                if libraries_same
                    && record.put.is_empty()
                    && record.removed.iter().all(|f| !self.catalog.contains_key(f))
                {
                    return CommandResult::Generation(self.generation);
                }
                self.generation += 1;
                for p in &record.put {
                    let entry = FileEntry {
                        content_hash: p.content_hash,
                        generation: self.generation,
                        modules: p.modules.clone(),
                        diagnostics: p.diagnostics.clone(),
                    };
                    self.catalog.insert(p.file.clone(), entry);
                }
                for file in &record.removed {
                    self.catalog.remove(file);
                }
                let project = self.projects.entry(record.project.clone()).or_default();
                if let Some(libraries) = &record.libraries {
                    project.libraries = libraries.iter().cloned().collect();
                }
                project.generation = self.generation;
                CommandResult::Generation(self.generation)
            }
        }
    }

    /// Whether `record` keeps to its project: every file put is the
    /// project's or of a library it uses, and no library file removed is
    /// used by another project (one that started using it while this
    /// ingest ran: the ingest must run again).
    fn check_ingest(&self, record: &proto::coordinator_api::IngestRecord) -> Result<(), String> {
        proto::projects::check_project(&record.project)?;
        let current = self.projects.get(&record.project);
        let uses = |l: &LibraryId| match &record.libraries {
            Some(list) => list.contains(l),
            None => current.is_some_and(|p| p.libraries.contains(l)),
        };
        for f in &record.put {
            match proto::projects::split(&f.file).0 {
                Owner::Project(p) if p == record.project => {}
                Owner::Library(l) if uses(&l) => {}
                Owner::Project(p) => {
                    return Err(format!(
                        "{}: a file of project {p:?}, not of {:?}, the project ingested",
                        f.file, record.project
                    ))
                }
                Owner::Library(l) => {
                    return Err(format!(
                        "{}: a file of library {l}, which project {:?} does not list",
                        f.file, record.project
                    ))
                }
            }
        }
        for f in &record.removed {
            match proto::projects::split(f).0 {
                Owner::Project(p) if p == record.project => {}
                Owner::Project(p) => {
                    return Err(format!(
                        "{f}: a file of project {p:?}, not of {:?}, the project ingested",
                        record.project
                    ))
                }
                Owner::Library(l) => {
                    let other = self
                        .projects
                        .iter()
                        .find(|(name, e)| **name != record.project && e.libraries.contains(&l));
                    if let Some((name, _)) = other {
                        return Err(format!(
                            "library {l} is used by project {name:?}, which started using it while this ingest ran: run the ingest again"
                        ));
                    }
                    if uses(&l) {
                        return Err(format!(
                            "{f}: a file of library {l}, which this ingest both lists and removes"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The projects with what the catalog holds of each.
    pub fn project_infos(&self) -> Vec<proto::projects::ProjectInfo> {
        let mut files: BTreeMap<&str, u64> = BTreeMap::new();
        let mut library_files: BTreeMap<LibraryId, u64> = BTreeMap::new();
        for name in self.catalog.keys() {
            match proto::projects::split(name).0 {
                Owner::Project(p) => {
                    if let Some((key, _)) = self.projects.get_key_value(&p) {
                        *files.entry(key.as_str()).or_insert(0) += 1;
                    }
                }
                Owner::Library(l) => *library_files.entry(l).or_insert(0) += 1,
            }
        }
        self.projects
            .iter()
            .map(|(name, e)| proto::projects::ProjectInfo {
                name: name.clone(),
                files: files.get(name.as_str()).copied().unwrap_or(0),
                libraries: e
                    .libraries
                    .iter()
                    .map(|l| (l.clone(), library_files.get(l).copied().unwrap_or(0)))
                    .collect(),
                generation: e.generation,
            })
            .collect()
    }

    /// Mark `missed` replicas behind, or change nothing if a partition
    /// would be left without a readable replica (its only up-to-date
    /// replicas missed the write: the ingest must fail).
    fn mark_behind(&mut self, missed: &[(PartitionId, NodeId)]) -> Result<(), String> {
        if missed.is_empty() {
            return Ok(());
        }
        let mut map = self.partition_map.clone();
        map.marks += 1;
        for (p, node) in missed {
            if map.assignment.get(p).is_some_and(|r| r.contains(node)) {
                map.behind.entry(*p).or_default().insert(*node, map.marks);
            }
        }
        let readable = map.readable();
        let lost: Vec<PartitionId> = missed
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| readable.get(p).is_none_or(Vec::is_empty))
            .collect();
        if let Some(p) = lost.first() {
            return Err(format!(
                "partition {p}: the replicas that missed this ingest's writes were its only up-to-date ones; run the ingest again once they are back"
            ));
        }
        self.partition_map = map;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::placement::asg;

    fn ids(ids: &[u64]) -> Vec<NodeId> {
        ids.iter().copied().map(NodeId).collect()
    }

    use super::*;
    use proto::coordinator_api::IngestRecord;
    use proto::projects::{library_file, project_file};

    fn put(file: &str) -> CatalogPut {
        CatalogPut {
            file: file.into(),
            content_hash: 1,
            modules: vec![],
            diagnostics: vec![],
        }
    }

    #[test]
    fn projects_share_libraries_and_keep_to_their_own_files() {
        let mut s = ClusterState::default();
        let phoenix = LibraryId {
            package: "phoenix".into(),
            version: "1.7.14".into(),
            hash: 7,
        };
        let lib = library_file(&phoenix, "deps/phoenix/lib/phoenix.ex");
        let ingest =
            |project: &str, files: Vec<String>, removed: Vec<String>, libs: Vec<LibraryId>| {
                Command::RecordIngest(IngestRecord {
                    project: project.into(),
                    libraries: Some(libs),
                    put: files.iter().map(|f| put(f)).collect(),
                    removed,
                    missed: vec![],
                })
            };
        let a = ingest(
            "a",
            vec![project_file("a", "lib/a.ex"), lib.clone()],
            vec![],
            vec![phoenix.clone()],
        );
        assert_eq!(s.apply(&a), CommandResult::Generation(1));
        // b uses the same Phoenix: nothing of it is put again.
        let b = ingest(
            "b",
            vec![project_file("b", "lib/b.ex")],
            vec![],
            vec![phoenix.clone()],
        );
        assert_eq!(s.apply(&b), CommandResult::Generation(2));
        let infos = s.project_infos();
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[1].libraries, vec![(phoenix.clone(), 1)]);
        assert_eq!(infos[1].files, 1);
        // A project cannot put another's files, nor a library it does not list.
        let stray = ingest(
            "b",
            vec![project_file("a", "lib/x.ex")],
            vec![],
            vec![phoenix.clone()],
        );
        assert!(matches!(s.apply(&stray), CommandResult::Rejected(_)));
        let unlisted = ingest("b", vec![lib.clone()], vec![], vec![]);
        assert!(matches!(s.apply(&unlisted), CommandResult::Rejected(_)));
        // a drops Phoenix, but b still uses it: its files cannot go.
        let drop = ingest("a", vec![], vec![lib.clone()], vec![]);
        assert!(matches!(s.apply(&drop), CommandResult::Rejected(_)));
        assert!(s.catalog.contains_key(&lib));
        // Once b has dropped it too, its files can go.
        assert_eq!(
            s.apply(&ingest("b", vec![], vec![], vec![])),
            CommandResult::Generation(3)
        );
        assert_eq!(
            s.apply(&ingest("a", vec![], vec![lib.clone()], vec![])),
            CommandResult::Generation(4)
        );
        assert!(!s.catalog.contains_key(&lib));
        assert!(matches!(
            s.apply(&ingest("lib", vec![], vec![], vec![])),
            CommandResult::Rejected(_)
        ));
    }

    #[test]
    fn epochs_advance_one_at_a_time_and_config_freezes() {
        let mut s = ClusterState::default();
        let map = asg([(PartitionId(0), vec![1, 2])]);
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
                modules: vec![("A".into(), PartitionId(0))],
                diagnostics: vec![],
            },
            CatalogPut {
                file: "b.ex".into(),
                content_hash: 2,
                modules: vec![],
                diagnostics: vec![],
            },
        ];
        let first = Command::RecordIngest(IngestRecord {
            put,
            ..IngestRecord::default()
        });
        assert_eq!(s.apply(&first), CommandResult::Generation(1));
        let second = Command::RecordIngest(IngestRecord {
            removed: vec!["a.ex".into(), "nope.ex".into()],
            ..IngestRecord::default()
        });
        assert_eq!(s.apply(&second), CommandResult::Generation(2));
        assert_eq!(s.catalog.keys().collect::<Vec<_>>(), vec!["b.ex"]);
        let nothing = Command::RecordIngest(IngestRecord {
            removed: vec!["a.ex".into()],
            ..IngestRecord::default()
        });
        assert_eq!(
            s.apply(&nothing),
            CommandResult::Generation(2),
            "no change, no new generation"
        );
    }

    /// A node that cannot vouch for its data has its replicas of written
    /// partitions marked behind until each is caught up, but neither a
    /// partition's last readable replica (nothing to fill it from) nor one
    /// of a partition nothing was written to (empty is right); an empty
    /// node's last readable replica is marked too (its data is gone).
    #[test]
    fn a_node_unsure_of_its_data_serves_no_read_until_caught_up() {
        let mut s = ClusterState::default();
        let map = asg([
            (PartitionId(0), vec![1, 2]),
            (PartitionId(1), vec![2, 3]),
            (PartitionId(2), vec![2]),
            (PartitionId(3), vec![1, 3]),
            (PartitionId(4), vec![2, 3]),
        ]);
        s.apply(&Command::AssignPartitions {
            epoch: 1,
            assignment: map,
            joining: Assignment::new(),
        });
        let file = |name: &str, partitions: &[u32]| CatalogPut {
            modules: partitions
                .iter()
                .map(|p| (format!("M{p}"), PartitionId(*p)))
                .collect(),
            ..put(name)
        };
        s.apply(&Command::RecordIngest(IngestRecord {
            put: vec![
                file("lib/a.ex", &[0, 1]),
                file("lib/b.ex", &[2]),
                file("lib/c.ex", &[3]),
            ],
            ..IngestRecord::default()
        }));
        let generation = s.generation;
        let unsure = Command::DataUnsure {
            node: NodeId(2),
            empty: false,
        };
        let mut emptied = s.clone();
        assert_eq!(s.apply(&unsure), CommandResult::Ok);
        let readable = s.partition_map.readable();
        assert_eq!(readable[&PartitionId(0)], ids(&[1]));
        assert_eq!(readable[&PartitionId(1)], ids(&[3]));
        assert_eq!(
            readable[&PartitionId(2)],
            ids(&[2]),
            "the last readable one"
        );
        assert_eq!(readable[&PartitionId(3)], ids(&[1, 3]));
        assert_eq!(readable[&PartitionId(4)], ids(&[2, 3]), "nothing written");
        assert_eq!(s.generation, generation, "the catalog is unchanged");
        let mark = s.partition_map.behind[&PartitionId(1)][&NodeId(2)];
        s.apply(&Command::CaughtUp {
            partition: PartitionId(1),
            node: NodeId(2),
            mark,
        });
        assert_eq!(s.partition_map.readable()[&PartitionId(1)], ids(&[2, 3]));
        // A node holding nothing yet: nothing to mark.
        let before = s.partition_map.clone();
        s.apply(&Command::DataUnsure {
            node: NodeId(9),
            empty: true,
        });
        assert_eq!(s.partition_map, before);
        // Node 2 back empty: partition 2 lost its only copy, and says so.
        emptied.apply(&Command::DataUnsure {
            node: NodeId(2),
            empty: true,
        });
        let readable = emptied.partition_map.readable();
        assert!(readable[&PartitionId(2)].is_empty(), "{readable:?}");
        assert_eq!(readable[&PartitionId(4)], ids(&[2, 3]), "nothing written");
    }

    #[test]
    fn replicas_that_missed_a_write_serve_no_read_until_caught_up() {
        let mut s = ClusterState::default();
        let map = asg([(PartitionId(0), vec![1, 2]), (PartitionId(1), vec![2, 3])]);
        s.apply(&Command::AssignPartitions {
            epoch: 1,
            assignment: map,
            joining: Assignment::new(),
        });
        let record = |missed: Vec<(PartitionId, u64)>| {
            Command::RecordIngest(IngestRecord {
                missed: missed.into_iter().map(|(p, n)| (p, NodeId(n))).collect(),
                ..IngestRecord::default()
            })
        };
        assert_eq!(
            s.apply(&record(vec![(PartitionId(0), 2)])),
            CommandResult::Generation(0)
        );
        assert_eq!(s.partition_map.readable()[&PartitionId(0)], ids(&[1]));
        assert_eq!(
            s.partition_map.assignment[&PartitionId(0)],
            ids(&[1, 2]),
            "still written"
        );
        let first = s.partition_map.behind[&PartitionId(0)][&NodeId(2)];
        // Node 1 now holds the only up-to-date copy of partition 0: a write
        // it missed cannot be acknowledged, and nothing changes.
        assert!(matches!(
            s.apply(&record(vec![(PartitionId(0), 1), (PartitionId(1), 3)])),
            CommandResult::Rejected(_)
        ));
        assert!(!s.partition_map.behind.contains_key(&PartitionId(1)));
        // Missed again while being caught up: the old mark clears nothing.
        assert_eq!(
            s.apply(&record(vec![(PartitionId(0), 2)])),
            CommandResult::Generation(0)
        );
        let second = s.partition_map.behind[&PartitionId(0)][&NodeId(2)];
        assert_ne!(first, second);
        s.apply(&Command::CaughtUp {
            partition: PartitionId(0),
            node: NodeId(2),
            mark: first,
        });
        assert_eq!(s.partition_map.readable()[&PartitionId(0)], ids(&[1]));
        s.apply(&Command::CaughtUp {
            partition: PartitionId(0),
            node: NodeId(2),
            mark: second,
        });
        assert_eq!(s.partition_map.readable()[&PartitionId(0)], ids(&[1, 2]));
        assert!(s.partition_map.behind.is_empty());
        // A replica that leaves the partition drops its mark.
        s.apply(&record(vec![(PartitionId(1), 3)]));
        s.apply(&Command::AssignPartitions {
            epoch: 2,
            assignment: asg([(PartitionId(0), vec![1, 2]), (PartitionId(1), vec![2, 4])]),
            joining: Assignment::new(),
        });
        assert!(s.partition_map.behind.is_empty());
    }

    #[test]
    fn unknown_nodes_cannot_change_state() {
        let mut s = ClusterState::default();
        assert!(matches!(
            s.apply(&Command::SetNodeState {
                id: NodeId(9),
                state: NodeState::Suspect
            }),
            CommandResult::Rejected(_)
        ));
    }

    /// Typed node ids changed no format: the Raft log and snapshots on disk
    /// (bincode) and the HTTP API's JSON hold the bare number, map keys too.
    #[test]
    fn node_ids_are_stored_and_sent_as_bare_numbers() {
        let typed = BTreeMap::from([(NodeId(7), vec![NodeId(1), NodeId(2)])]);
        let bare: BTreeMap<u64, Vec<u64>> = BTreeMap::from([(7, vec![1, 2])]);
        assert_eq!(
            host::durable::encode(&typed).unwrap(),
            host::durable::encode(&bare).unwrap()
        );
        let back: BTreeMap<NodeId, Vec<NodeId>> =
            host::durable::decode(&host::durable::encode(&bare).unwrap()).unwrap();
        assert_eq!(back, typed);
        assert_eq!(
            serde_json::to_string(&typed).unwrap(),
            serde_json::to_string(&bare).unwrap()
        );
        assert_eq!(
            serde_json::from_str::<BTreeMap<NodeId, Vec<NodeId>>>(r#"{"7":[1,2]}"#).unwrap(),
            typed
        );
    }
}
