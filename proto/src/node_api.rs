//! The storage node's RPC service and its messages.

use serde::{Deserialize, Serialize};

use crate::error::CpgError;
use crate::fragment::{Diagnostic, ModuleFragment};
use crate::summary::ModuleSummary;

/// A source file sent for parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceUpload {
    pub file: String,
    pub bytes: Vec<u8>,
}

/// A parsed file: its fragments grouped by the partition they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedFile {
    pub file: String,
    pub content_hash: u64,
    pub diagnostics: Vec<Diagnostic>,
    pub by_partition: Vec<(u32, Vec<ModuleFragment>)>,
}

/// Replace what `partition` holds from `file` by `fragments` (none: remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionWrite {
    pub partition: u32,
    pub file: String,
    pub content_hash: u64,
    pub fragments: Vec<ModuleFragment>,
}

/// The module summaries of one partition replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionSummaries {
    pub partition: u32,
    /// The replica's data generation (changes with every write).
    pub generation: u64,
    pub modules: Vec<ModuleSummary>,
}

/// What a node reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHealth {
    pub node_id: u64,
    pub epoch: u64,
    pub partitions: Vec<u32>,
    /// Distinct source files with modules in the partitions held.
    pub files: u64,
    pub nodes: u64,
    pub edges: u64,
}

#[tarpc::service]
pub trait NodeService {
    /// Parse files (the CPU-heavy step) and group their fragments by
    /// partition for a cluster of `partitions` partitions. Stores nothing.
    async fn parse(partitions: u32, files: Vec<SourceUpload>) -> Result<Vec<ParsedFile>, CpgError>;
    /// Apply writes to partitions this node holds at `epoch`; durable on disk
    /// before the reply. Returns how many writes changed something.
    async fn write(epoch: u64, writes: Vec<PartitionWrite>) -> Result<u64, CpgError>;
    /// Module summaries of partitions this node holds.
    async fn summaries(
        epoch: u64,
        partitions: Vec<u32>,
    ) -> Result<Vec<PartitionSummaries>, CpgError>;
    /// `(partition, file, content hash)` of everything held in `partitions`.
    async fn file_hashes(
        epoch: u64,
        partitions: Vec<u32>,
    ) -> Result<Vec<(u32, String, u64)>, CpgError>;
    /// The partitions this node holds from `epoch` on (sent by the coordinator).
    async fn assign(epoch: u64, partitions: Vec<u32>) -> Result<(), CpgError>;
    async fn health() -> NodeHealth;
}
