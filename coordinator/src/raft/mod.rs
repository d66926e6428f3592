//! The coordinators' Raft group: what it replicates (cluster metadata), its
//! type configuration for openraft 0.9, and its durable storage.

mod cluster_state;
mod log_store;
mod network;
mod state_machine;

use std::io::Cursor;

pub use cluster_state::{
    CatalogPut, ClusterConfig, ClusterState, Command, CommandResult, FileEntry, NodeEntry,
    NodeState, PartitionMap,
};
pub use log_store::LogStore;
pub use network::{handle_raft, Network, Raft};
pub use state_machine::StateMachine;

openraft::declare_raft_types!(
    /// openraft types of the coordinator group.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = proto::assignment::CoordinatorId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The format of a coordinator's data dir (Raft log, vote, state machine
/// snapshots) this build writes, and the oldest it opens: raise
/// `DATA_FORMAT` with a migration and a fixture of the previous format
/// (`cluster-tests/tests/fixtures/`) when they change incompatibly.
pub const DATA_FORMAT: u32 = 1;
pub const OLDEST_DATA_FORMAT: u32 = 1;

/// Open (or create) the log store and state machine under `dir`, after
/// checking its format.
pub fn open(dir: &std::path::Path) -> std::io::Result<(LogStore, StateMachine)> {
    host::durable::check_data_dir_format(
        dir,
        "coordinator",
        OLDEST_DATA_FORMAT,
        DATA_FORMAT,
        env!("CARGO_PKG_VERSION"),
    )?;
    let log = LogStore::open(&dir.join("log"))?;
    let sm = StateMachine::open(&dir.join("state"))?;
    Ok((log, sm))
}
