//! The coordinator's RPC service: Raft between coordinators (openraft's
//! messages carried as bytes; this crate does not depend on openraft), and
//! the API of storage nodes and clients. One address per coordinator serves
//! all of it, so the Raft membership's address of the leader is where
//! `NotLeader` sends callers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assignment::{CoordinatorId, NodeId, PartitionId};
use crate::error::CpgError;

/// Which openraft RPC a payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftRpc {
    AppendEntries,
    InstallSnapshot,
    Vote,
}

/// A registered storage node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: NodeId,
    pub address: String,
    /// `up`, `suspect` (missed heartbeats; keeps its partitions), `gone`
    /// (silent too long: its partitions re-replicated elsewhere), `leaving`
    /// (being decommissioned) or `decommissioned`.
    pub state: String,
    /// Unix time (ms) of the last heartbeat the answering coordinator saw:
    /// heartbeats go to the leader and are not replicated, so other members
    /// know the registration time only.
    pub last_heartbeat_ms: u64,
}

/// What a coordinator knows of the cluster (from its replica of the state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The leader's address, when known.
    pub leader: Option<String>,
    pub epoch: u64,
    pub partitions: u32,
    pub replication: u32,
    /// Partition → the replicas that serve reads.
    pub assignment: BTreeMap<PartitionId, Vec<NodeId>>,
    /// Partition → replicas being filled by a move: they take every write
    /// but serve no read until the move switches the map to them.
    pub joining: BTreeMap<PartitionId, Vec<NodeId>>,
    /// Partition → replicas that missed a write while unreachable: they
    /// take writes but serve no read until the leader has caught them up.
    pub behind: BTreeMap<PartitionId, Vec<NodeId>>,
    pub nodes: Vec<NodeInfo>,
    /// Catalog generation.
    pub generation: u64,
    /// Files in the catalog.
    pub files: u64,
}

impl ClusterView {
    /// Nodes an ingest should not wait for: silent to the leader (suspect
    /// or gone) or decommissioned. Their replicas' writes count as missed
    /// (caught up when they are back).
    pub fn not_waited_for(&self) -> std::collections::BTreeSet<NodeId> {
        self.nodes
            .iter()
            .filter(|n| matches!(n.state.as_str(), "suspect" | "gone" | "decommissioned"))
            .map(|n| n.id)
            .collect()
    }

    /// Partition → every replica that takes writes: those serving reads,
    /// then those joining or behind.
    pub fn writable(&self) -> BTreeMap<PartitionId, Vec<NodeId>> {
        let mut out = self.assignment.clone();
        for (p, others) in self.joining.iter().chain(&self.behind) {
            let replicas = out.entry(*p).or_default();
            for n in others {
                if !replicas.contains(n) {
                    replicas.push(*n);
                }
            }
        }
        out
    }
}

/// One ingested file for the catalog: its content hash and its modules with
/// their partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFile {
    pub file: String,
    pub content_hash: u64,
    pub modules: Vec<(String, crate::assignment::PartitionId)>,
    /// What parsing the file reported, so that a cluster's `cpg analyze`
    /// lists the same diagnostics as an embedded run.
    pub diagnostics: Vec<crate::Diagnostic>,
}

/// One ingest, as the catalog records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRecord {
    /// The project ingested (`""`: the default one).
    pub project: String,
    /// The libraries it now uses (its whole list; `None` leaves the list as
    /// it was, for an ingest of some files only).
    pub libraries: Option<Vec<crate::projects::LibraryId>>,
    /// Files added or changed (stored names).
    pub put: Vec<CatalogFile>,
    /// Files removed (stored names).
    pub removed: Vec<String>,
    /// `(partition, node)`: replicas that missed some of its writes.
    pub missed: Vec<(PartitionId, NodeId)>,
}

/// What a registering storage node can say of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeData {
    /// Its data dir is the one the cluster knows it by.
    Vouched,
    /// It holds data it cannot vouch for: damaged records were set aside
    /// when it opened, or it was written before nodes kept a voucher.
    Unsure,
    /// It holds nothing (a new data dir): whatever the map gives it is gone.
    Empty,
}

/// What the catalog records: every file with its content hash (stored
/// names), and the projects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogListing {
    pub files: Vec<(String, u64)>,
    /// The files of `files` that define no module (an empty file, say): no
    /// node holds anything of them, and an ingest that finds them unchanged
    /// has nothing to send.
    pub without_modules: Vec<String>,
    pub projects: Vec<crate::projects::ProjectInfo>,
}

/// Everything the catalog records, at one generation, for a backup: each
/// file as an ingest recorded it, each project with its libraries, and the
/// partition count the files' modules were placed with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogBackup {
    pub generation: u64,
    pub partitions: u32,
    pub replication: u32,
    pub files: Vec<CatalogFile>,
    /// `(project, the libraries it uses)`.
    pub projects: Vec<(String, Vec<crate::projects::LibraryId>)>,
}

#[tarpc::service]
pub trait CoordinatorService {
    /// Deliver one openraft request; the reply is the encoded
    /// `Result<response, openraft error>`.
    async fn raft(rpc: RaftRpc, payload: Vec<u8>) -> Result<Vec<u8>, CpgError>;
    /// A storage node joins (or rejoins) the cluster; the leader places
    /// partitions on it. Only the leader accepts (`NotLeader` otherwise).
    /// `data`: what the node can say of its data; unless it vouches for it,
    /// its replicas are marked behind until filled from their peers.
    async fn register_node(
        id: NodeId,
        address: String,
        data: NodeData,
    ) -> Result<ClusterView, CpgError>;
    /// A storage node is alive; the reply tells it the current map.
    async fn heartbeat(id: NodeId) -> Result<ClusterView, CpgError>;
    /// The cluster as this coordinator sees it (any member answers, after
    /// catching up with the leader's commit index: a linearizable read).
    async fn cluster_view() -> Result<ClusterView, CpgError>;
    /// Record an ingest in the module catalog, as one Raft entry: the
    /// project and its libraries, files put (added or changed), files
    /// removed, and the `(partition, node)` replicas that missed some of its
    /// writes (they serve no read until caught up; refused if a partition
    /// would have no up-to-date replica left). Returns the new catalog
    /// generation. Leader only.
    async fn record_ingest(record: IngestRecord) -> Result<u64, CpgError>;
    /// Set partition count, replication and virtual nodes; refused once
    /// partitions are placed with a different configuration. Leader only.
    async fn configure(partitions: u32, replication: u32, vnodes: u32) -> Result<(), CpgError>;
    /// Run an analysis on what the cluster holds of `project` (`""`: the
    /// default project) and the libraries it uses (any member answers).
    async fn query(project: String, query: crate::Query) -> Result<crate::Answer, CpgError>;
    /// The cluster's health as this coordinator sees it, every node asked.
    async fn health() -> Result<crate::ClusterHealth, CpgError>;
    /// Remove this coordinator's cached answers that outlived their TTL now
    /// (it also does so periodically).
    async fn cache_cleanup() -> Result<crate::CacheCleanup, CpgError>;
    /// Make coordinator `id`, started without `--init` and serving at
    /// `address`, a member of the Raft group (joint consensus). Leader only.
    async fn add_coordinator(id: CoordinatorId, address: String) -> Result<(), CpgError>;
    /// Take coordinator `id` out of the Raft group (joint consensus).
    /// Leader only.
    async fn remove_coordinator(id: CoordinatorId) -> Result<(), CpgError>;
    /// The cluster view as a linearizable read (any member answers; see
    /// `read_index`).
    async fn linearizable_view() -> Result<ClusterView, CpgError>;
    /// The Raft log index a linearizable read must wait for: the leader
    /// confirms with a quorum that it still leads and answers its commit
    /// index. Leader only; members ask it before answering a read.
    async fn read_index() -> Result<u64, CpgError>;
    /// `(file, content hash)` of every file the catalog records, and its
    /// projects (a linearizable read), for an ingest to tell what it must
    /// record and for `cpg projects`.
    async fn catalog_files() -> Result<CatalogListing, CpgError>;
    /// Move every partition off node `id`, then mark it decommissioned
    /// (leader only).
    /// Returns at once; `cluster_view` shows the progress.
    async fn decommission_node(id: NodeId) -> Result<(), CpgError>;
    /// Admit the storage node `id` serving at `address` (checked to answer
    /// as that node), as if it had registered itself. Leader only.
    async fn add_node(id: NodeId, address: String) -> Result<ClusterView, CpgError>;
    /// The piece of an export of `project` that starts at byte `offset`
    /// (any member answers). `generation`: that of the first piece, for
    /// every later one (`None` for the first); a piece of another
    /// generation is refused with `InvalidInput`, so an export never mixes
    /// two states of the code. An export as one `query` answer is refused:
    /// it can be larger than a frame.
    async fn export(
        project: String,
        kind: crate::ExportKind,
        format: crate::ExportFormat,
        generation: Option<u64>,
        offset: u64,
    ) -> Result<crate::ExportChunk, CpgError>;
    /// The whole catalog at the generation of a linearizable read, for
    /// `cpg cluster backup`.
    async fn catalog_backup() -> Result<CatalogBackup, CpgError>;
}
