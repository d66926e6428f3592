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
    pub modules: EncodedSummaries,
}

/// Module summaries encoded once (bincode, standard configuration): a node
/// keeps a partition's encoded between writes and sends the same bytes to
/// every coordinator that gathers them (on the wire: one length and the
/// bytes, copied, not walked), and a coordinator decodes each reply apart,
/// as it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedSummaries(bytes::Bytes);

/// An encoded partition larger than this is refused when decoded, not
/// allocated (a frame is at most 64 MiB; this bounds what the lengths
/// declared inside it can claim).
const MAX_ENCODED_SUMMARIES: usize = 256 << 20;

impl EncodedSummaries {
    pub fn encode<'a>(modules: impl IntoIterator<Item = &'a ModuleSummary>) -> EncodedSummaries {
        let modules: Vec<&ModuleSummary> = modules.into_iter().collect();
        // Encoding strings, integers and vectors into memory cannot fail;
        // if it did, the empty result would decode as an error, never as
        // a partition without modules (which encodes as one byte).
        let bytes = bincode::serde::encode_to_vec(&modules, bincode::config::standard())
            .unwrap_or_default();
        EncodedSummaries(bytes.into())
    }

    /// The summaries, or `InvalidInput` naming why the bytes do not decode.
    pub fn decode(&self) -> Result<Vec<ModuleSummary>, CpgError> {
        let config = bincode::config::standard().with_limit::<MAX_ENCODED_SUMMARIES>();
        match bincode::serde::decode_from_slice(&self.0, config) {
            Ok((modules, read)) if read == self.0.len() => Ok(modules),
            Ok((_, read)) => Err(CpgError::InvalidInput {
                reason: format!(
                    "module summaries: {} bytes left over after {read}",
                    self.0.len() - read
                ),
            }),
            Err(e) => Err(CpgError::InvalidInput {
                reason: format!("module summaries: {e}"),
            }),
        }
    }

    /// The encoded size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for EncodedSummaries {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for EncodedSummaries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = EncodedSummaries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("encoded module summaries (bytes)")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(EncodedSummaries(bytes::Bytes::copy_from_slice(v)))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(EncodedSummaries(v.into()))
            }
        }
        deserializer.deserialize_byte_buf(Visit)
    }
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
    /// Keep `table`, partition `partition`'s share of `project`'s linked
    /// call graph, under `key` (a hash of it), for [`NodeService::expand`].
    /// Kept in memory only: a coordinator sends it again when asked for a
    /// key the node does not hold.
    async fn walk_table(
        project: String,
        partition: PartitionId,
        key: u64,
        table: crate::walks::WalkTable,
    ) -> Result<(), CpgError>;
    /// One round of a walk: the neighbours of `functions` (functions of
    /// modules of `partition`) in the table held under `key`, each once;
    /// `None` when no table is held under `key` (send it, then ask again).
    async fn expand(
        project: String,
        partition: PartitionId,
        key: u64,
        direction: crate::walks::Direction,
        functions: Vec<crate::Mfa>,
    ) -> Result<Option<Vec<crate::Mfa>>, CpgError>;
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
    use crate::summary::DepSummary;

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

    fn summary(name: &str) -> ModuleSummary {
        ModuleSummary {
            name: name.into(),
            file: format!("lib/{name}.ex"),
            kind: crate::ModuleKind::Module,
            line: 1,
            deps: vec![DepSummary {
                target: "Enum".into(),
                kind: crate::DepKind::Alias,
                line: 2,
            }],
            functions: Vec::new(),
            behaviours: vec!["GenServer".into()],
            implements: None,
            using: Vec::new(),
            injections: Vec::new(),
            use_args: Vec::new(),
            templates: Vec::new(),
            registers: Vec::new(),
            callbacks: Vec::new(),
            nodes: 3,
            edges: 2,
        }
    }

    #[test]
    fn encoded_summaries_travel_as_bytes_and_decode_whole_or_not_at_all() {
        let modules = [summary("A"), summary("B")];
        let reply = PartitionSummaries {
            partition: PartitionId(3),
            generation: 7,
            modules: EncodedSummaries::encode(&modules),
        };
        let config = bincode::config::standard();
        let wire = bincode::serde::encode_to_vec(&reply, config).unwrap();
        let (back, _): (PartitionSummaries, usize) =
            bincode::serde::decode_from_slice(&wire, config).unwrap();
        assert_eq!(back, reply);
        assert_eq!(back.modules.decode().unwrap(), modules);
        assert_eq!(EncodedSummaries::encode([]).decode().unwrap(), vec![]);

        let bytes = reply.modules.0.clone();
        let bad = |b: &[u8]| EncodedSummaries(bytes::Bytes::copy_from_slice(b)).decode();
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                matches!(bad(&bytes[..cut]), Err(CpgError::InvalidInput { .. })),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(bad(&longer), Err(CpgError::InvalidInput { .. })));
        // A declared count of 2^62 modules is refused, not allocated.
        assert!(matches!(
            bad(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0x40]),
            Err(CpgError::InvalidInput { .. })
        ));
    }
}
