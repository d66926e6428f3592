//! The storage node's RPC service and its messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assignment::{NodeId, PartitionId};
use crate::coordinator_api::CatalogFile;
use crate::error::CpgError;
use crate::fragment::ModuleFragment;
use crate::summary::ModuleSummary;

/// A source file sent for parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceUpload {
    pub file: String,
    pub bytes: Vec<u8>,
}

/// The longest file name accepted (Linux's `PATH_MAX`).
pub const MAX_FILE_NAME: usize = 4096;

/// `InvalidInput` unless `name` is a file name relative to the ingest root
/// that stays inside it: `/`-separated, not absolute, no `.`, `..` or empty
/// component, no NUL or line break, at most [`MAX_FILE_NAME`] bytes. A name
/// that could escape the root is refused, not cleaned up.
pub fn check_file_name(name: &str) -> Result<(), CpgError> {
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_FILE_NAME {
        Some("it is longer than 4096 bytes")
    } else if name.starts_with('/') {
        Some("it is absolute; names are relative to the ingest root")
    } else if name.contains(['\0', '\n', '\r']) {
        Some("it contains a NUL byte or a line break")
    } else if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        Some("it has an empty, `.` or `..` component, which could leave the ingest root")
    } else {
        None
    };
    match why {
        Some(why) => Err(CpgError::InvalidInput {
            reason: format!(
                "file name {:?} refused: {why}",
                name.chars().take(200).collect::<String>()
            ),
        }),
        None => Ok(()),
    }
}

/// `InvalidInput` unless `file` is a name [`check_file_name`] accepts and
/// every fragment is of that file and well formed
/// ([`ModuleFragment::check`]): what a node checks before it writes a
/// file's fragments, and again when it reads them back at start.
pub fn check_file_fragments(file: &str, fragments: &[ModuleFragment]) -> Result<(), CpgError> {
    check_file_name(file)?;
    for f in fragments {
        if f.file != file {
            return Err(CpgError::InvalidInput {
                reason: format!(
                    "the fragments of {file:?} hold module {:?} of another file, {:?}",
                    f.name, f.file
                ),
            });
        }
        f.check()
            .map_err(|reason| CpgError::InvalidInput { reason })?;
    }
    Ok(())
}

/// The partition map as a node needs it: which nodes replicate each
/// partition, and where the nodes are (to write replicas on its peers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMap {
    pub epoch: u64,
    pub assignment: BTreeMap<PartitionId, Vec<NodeId>>,
    pub nodes: BTreeMap<NodeId, String>,
    /// Nodes the leader has not heard from lately (suspect or gone): a
    /// write to one of them counts as missed at once instead of waiting
    /// for it to time out (it is caught up when it is back).
    pub unreachable: std::collections::BTreeSet<NodeId>,
}

/// A file to ingest, with the partitions the cluster holds its modules in
/// now (so that partitions its modules leave are cleared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestFile {
    pub upload: SourceUpload,
    pub before: Vec<PartitionId>,
}

/// A file gone from the tree: the content hash it was stored with and the
/// partitions holding its modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedFile {
    pub file: String,
    pub content_hash: u64,
    pub before: Vec<PartitionId>,
}

/// What a node did with a batch of files: each file's catalog entry, how
/// many partition writes it made, and the `(partition, node)` replicas that
/// could not be reached for them (every partition had at least one that
/// acknowledged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReply {
    pub files: Vec<CatalogFile>,
    pub writes: u64,
    pub missed: Vec<(PartitionId, NodeId)>,
}

/// Replace what `partition` holds from `file` by `fragments` (none: remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionWrite {
    pub partition: PartitionId,
    pub file: String,
    pub content_hash: u64,
    pub fragments: Vec<ModuleFragment>,
}

/// The module summaries of one partition replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionSummaries {
    pub partition: PartitionId,
    /// The replica's data generation (changes with every write).
    pub generation: u64,
    pub modules: Vec<ModuleSummary>,
}

#[tarpc::service]
pub trait NodeService {
    /// Apply writes to partitions this node holds at `epoch`; durable on disk
    /// before the reply. Returns how many writes changed something.
    async fn write(epoch: u64, writes: Vec<PartitionWrite>) -> Result<u64, CpgError>;
    /// Module summaries of partitions this node holds.
    async fn summaries(
        epoch: u64,
        partitions: Vec<PartitionId>,
    ) -> Result<Vec<PartitionSummaries>, CpgError>;
    /// `(partition, file, content hash)` of everything held in `partitions`.
    async fn file_hashes(
        epoch: u64,
        partitions: Vec<PartitionId>,
    ) -> Result<Vec<(PartitionId, String, u64)>, CpgError>;
    /// Parse `files` and write their fragments to every replica of their
    /// partitions under the map of `epoch` (this node's own replicas
    /// directly, its peers' by `write`), and remove `removed` from every
    /// replica of the partitions they were in, then report. Fragments never
    /// travel back to the caller.
    async fn ingest(
        epoch: u64,
        partitions: u32,
        files: Vec<IngestFile>,
        removed: Vec<RemovedFile>,
    ) -> Result<IngestReply, CpgError>;
    /// Take on the partition map `map` (sent by a coordinator's heartbeat
    /// reply, or by tests without coordinators); an older epoch is refused.
    async fn assign(map: NodeMap) -> Result<(), CpgError>;
    async fn health() -> crate::NodeHealth;
    /// Whether this node takes writes now: `ResourceExhausted` when it is
    /// over 90% of its memory limit (after dropping its caches). Asked of
    /// every node before an ingest writes anything, so that a node under
    /// pressure refuses the whole ingest instead of a part of it.
    async fn admit_writes() -> Result<(), CpgError>;
    /// Rebuild the tables of held partitions whose share of deleted rows is
    /// over the node's threshold, or of all of them with `force`. Queries
    /// are served from the old tables meanwhile.
    async fn defrag(force: bool) -> Result<Vec<crate::PartitionDefrag>, CpgError>;
    /// Remove cached results past their TTL or their data's generation now
    /// (nodes also do it periodically).
    async fn cache_cleanup() -> Result<crate::CacheCleanup, CpgError>;
    /// Benchmark a scan of the node's tables and judge its indicators.
    async fn diagnose() -> crate::NodeDiagnosis;
    /// The stored fragments of `files` of a partition held at `epoch`, as
    /// writes, in the order asked: as many as fit `max_bytes` (at least one);
    /// the caller asks again for the rest. A file not held comes back as a
    /// removal (no fragments).
    async fn export(
        epoch: u64,
        partition: PartitionId,
        files: Vec<String>,
        max_bytes: u64,
    ) -> Result<Vec<PartitionWrite>, CpgError>;
    /// Make this node's replica of `partition` equal to node `from`'s:
    /// fetch the files whose content hash differs, drop those `from` does
    /// not hold. Used to fill a new replica and to catch up a returning one.
    async fn pull(epoch: u64, partition: PartitionId, from: NodeId)
        -> Result<PullReport, CpgError>;
}

/// What a [`NodeService::pull`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullReport {
    /// Files the source holds.
    pub files: u64,
    /// Files fetched (new or changed here).
    pub copied: u64,
    /// Files dropped here (the source does not hold them).
    pub removed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_ingest_root_are_refused() {
        for good in ["lib/shop.ex", "a.exs", "lib/..hidden/x.ex", "lib/x..y.ex"] {
            assert_eq!(check_file_name(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("/etc/passwd.ex", "absolute"),
            ("../outside.ex", "`..`"),
            ("lib/../../outside.ex", "`..`"),
            ("lib//x.ex", "empty, `.`"),
            ("./x.ex", "`.`"),
            ("lib/x.ex/", "empty"),
            ("lib/\0.ex", "NUL"),
            ("lib/x\n.ex", "line break"),
        ] {
            match check_file_name(bad) {
                Err(CpgError::InvalidInput { reason }) => {
                    assert!(reason.contains(why), "{bad:?}: {reason}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(check_file_name(&"a/".repeat(3000)).is_err());
    }
}
