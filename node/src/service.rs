//! The storage node's state and its tarpc service: one partition store per
//! partition it holds, persisted on disk before any write is acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use host::durable;
use host::vitals::LatencyWindow;
use net::certs::Role;
use net::node_client::{CallError, NodeClient};
use partition::frontend::build_file;
use partition::partitioning::partition_of;
use partition::store::{CacheStats, Store};
use proto::assignment::{NodeId, PartitionId};
use proto::coordinator_api::CatalogFile;
use proto::node_api::{
    EncodedSummaries, IngestFile, IngestReply, NodeMap, NodeService, PartitionSummaries,
    PartitionWrite, PullReport, RemovedFile, SourceUpload,
};
use proto::{CpgError, FileCpg, NodeHealth};
use rayon::prelude::*;
use tarpc::context::Context;

use crate::disk::{PartitionDisk, StoredFile};

mod operations;
mod replicas;
mod server;
mod walks;
use replicas::{tally, Replica};
pub use server::run;

/// Damaged files moved aside while loading, with the reason for each.
pub type Quarantined = Vec<(PathBuf, String)>;

/// How a node starts.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub node_id: NodeId,
    pub data_dir: PathBuf,
    /// Resident memory the node should stay under (reported by `health`,
    /// which calls the node degraded above 80% of it).
    pub memory_limit_mb: Option<u64>,
    /// A partition rebuilds its tables after a write leaves more than this
    /// share of deleted rows (the operations guide's 30%).
    pub defrag_threshold: f64,
    /// How long a cached result (a partition's summaries reply) lives.
    pub cache_ttl: std::time::Duration,
    /// A p99 read time above this (ms) makes the node degraded.
    pub slow_query_ms: u64,
}

impl NodeConfig {
    /// Node `node_id` on `data_dir` with the defaults of `cpg-node`'s flags.
    pub fn new(node_id: NodeId, data_dir: &std::path::Path) -> NodeConfig {
        NodeConfig {
            node_id,
            data_dir: data_dir.to_path_buf(),
            memory_limit_mb: None,
            defrag_threshold: DEFRAG_THRESHOLD,
            cache_ttl: CACHE_TTL,
            slow_query_ms: host::config::DEFAULT_SLOW_QUERY_MS,
        }
    }
}

/// Default lifetime of cached results.
pub const CACHE_TTL: std::time::Duration = host::config::DEFAULT_CACHE_TTL;

/// The operations guide's default: defragment above 30% deleted entries.
pub const DEFRAG_THRESHOLD: f64 = 0.30;

/// A storage node's state, shared by every connection.
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    disk: PartitionDisk,
    /// One store per partition held; a `Store` is internally synchronized, and
    /// no `Ref` into this map is held across an `.await`.
    stores: DashMap<PartitionId, Arc<Store>>,
    epoch: AtomicU64,
    /// The partition map at `epoch`.
    map: RwLock<NodeMap>,
    /// Clients of the other nodes of the map, for writing replicas.
    peers: std::sync::Mutex<BTreeMap<NodeId, Arc<NodeClient>>>,
    /// Wakes the membership loop to heartbeat now: a request came with a
    /// newer partition map than this node knows.
    pub behind: tokio::sync::Notify,
    /// Held while a write batch is persisted and applied.
    writing: std::sync::Mutex<()>,
    /// Latencies of recent read requests (summaries, file hashes).
    reads: LatencyWindow,
    memory_limit_mb: Option<u64>,
    slow_query_ms: u64,
    defrag_threshold: f64,
    cache_ttl: std::time::Duration,
    /// Records cut from damaged partition logs when the node opened.
    quarantined_at_open: usize,
    /// The last write batch that could not be persisted: when, why, and
    /// whether the disk was full. Cleared by the next one persisted.
    disk_failure: std::sync::Mutex<Option<(std::time::Instant, String, bool)>>,
    /// The node cannot vouch for its data: its data dir is new (no
    /// [`VOUCHER`]: a first start, or a disk replaced under a known id) or
    /// damaged records were set aside when it opened. Until a coordinator
    /// has marked its replicas behind (its registration says so), it serves
    /// no data reads.
    unsure: AtomicBool,
    /// It held nothing when it opened (with `unsure`: a new data dir).
    empty_at_open: bool,
    /// The voucher is on disk (its write can fail and is tried again).
    voucher_written: AtomicBool,
    /// Shares of linked call graphs for walks made here.
    walks: walks::WalkTables,
}

/// The format of a node's data dir (its partition logs, voucher and id
/// file) this build writes, and the oldest it opens. Raise `DATA_FORMAT`
/// when they change in a way the previous release cannot read, with a
/// migration and a fixture of the previous format
/// (`cluster-tests/tests/fixtures/`).
pub const DATA_FORMAT: u32 = 1;
pub const OLDEST_DATA_FORMAT: u32 = 1;

/// The file in a node's data dir that says the coordinators know what it
/// holds: the node's id, written once a registration that said it could
/// not vouch for its data was taken.
pub const VOUCHER: &str = "node.id";

/// One partition's share of a write batch: files put, files removed.
type PartitionBatch = (Vec<StoredFile>, Vec<String>);

/// How long a request planned with a newer map waits for this node to learn it.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(3);

impl Node {
    /// Open the node's data dir and load every partition it stored. Damaged
    /// files are quarantined and listed in the returned report.
    pub fn open(config: &NodeConfig) -> std::io::Result<(Arc<Node>, Quarantined)> {
        durable::check_data_dir_format(
            &config.data_dir,
            "node",
            OLDEST_DATA_FORMAT,
            DATA_FORMAT,
            env!("CARGO_PKG_VERSION"),
        )?;
        let voucher = config.data_dir.join(VOUCHER);
        let vouched = match durable::read_checked(&voucher)? {
            None => false,
            Some(bytes) => {
                let id: u64 = durable::decode(&bytes)?;
                if id != config.node_id.0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "{} holds node {id}'s data, not node {}'s: start node {id} on it, or give node {} a data dir of its own",
                            config.data_dir.display(),
                            config.node_id,
                            config.node_id
                        ),
                    ));
                }
                true
            }
        };
        let disk = PartitionDisk::open(&config.data_dir)?;
        let loaded = disk.load_all()?;
        // Records were set aside: what the node holds is short of what it
        // acknowledged. It stays unsure until a registration says so, even
        // across a crash before then.
        if vouched && !loaded.quarantined.is_empty() {
            std::fs::remove_file(&voucher)?;
            durable::sync_dir(&config.data_dir)?;
        }
        let unsure = !vouched || !loaded.quarantined.is_empty();
        let empty_at_open = loaded.files.is_empty();
        let node = Node {
            id: config.node_id,
            disk,
            stores: DashMap::new(),
            epoch: AtomicU64::new(0),
            map: RwLock::new(NodeMap::default()),
            peers: std::sync::Mutex::new(BTreeMap::new()),
            behind: tokio::sync::Notify::new(),
            writing: std::sync::Mutex::new(()),
            reads: LatencyWindow::default(),
            memory_limit_mb: config.memory_limit_mb,
            slow_query_ms: config.slow_query_ms,
            defrag_threshold: config.defrag_threshold,
            cache_ttl: config.cache_ttl,
            quarantined_at_open: loaded.quarantined.len(),
            disk_failure: std::sync::Mutex::new(None),
            unsure: AtomicBool::new(unsure),
            empty_at_open,
            voucher_written: AtomicBool::new(vouched && !unsure),
            walks: DashMap::new(),
        };
        for stored in loaded.files {
            let cpg = FileCpg {
                file: stored.file,
                content_hash: stored.content_hash,
                fragments: stored.fragments,
                diagnostics: Vec::new(),
            };
            node.store(stored.partition).apply_file(cpg);
        }
        Ok((Arc::new(node), loaded.quarantined))
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Whether the node cannot vouch for its data yet (see [`VOUCHER`]).
    pub fn unsure(&self) -> bool {
        self.unsure.load(Ordering::Acquire)
    }

    /// What its registration says of its data.
    pub fn data(&self) -> proto::coordinator_api::NodeData {
        use proto::coordinator_api::NodeData;
        match (self.unsure(), self.empty_at_open) {
            (false, _) => NodeData::Vouched,
            (true, true) => NodeData::Empty,
            (true, false) => NodeData::Unsure,
        }
    }

    /// A coordinator took a registration that said the node cannot vouch
    /// for its data (its replicas are behind until filled): from now on it
    /// can. The voucher makes that last across restarts; if it cannot be
    /// written (a full disk), [`Node::voucher_pending`] says so, for the
    /// next heartbeat to try again (a restart before then only registers
    /// as unsure once more).
    pub fn vouch(&self) -> std::io::Result<()> {
        self.unsure.store(false, Ordering::Release);
        let voucher = self.disk.root().join(VOUCHER);
        durable::write_checked(&voucher, &durable::encode(&self.id.0)?)?;
        self.voucher_written.store(true, Ordering::Release);
        Ok(())
    }

    /// Vouched for, but the voucher is not on disk yet.
    pub fn voucher_pending(&self) -> bool {
        !self.unsure() && !self.voucher_written.load(Ordering::Acquire)
    }

    /// Refuse data reads while unsure: they could leave out what the node
    /// lost.
    fn vouched(&self, partitions: &[PartitionId]) -> Result<(), CpgError> {
        if self.unsure() {
            return Err(CpgError::Unavailable {
                partitions: partitions.to_vec(),
            });
        }
        Ok(())
    }

    /// Take on `map`; an older epoch is ignored. Returns whether the map
    /// was applied.
    pub fn set_map(&self, map: NodeMap) -> bool {
        let mut current = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.epoch < self.epoch.load(Ordering::Acquire) {
            return false;
        }
        {
            let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
            peers.retain(|id, c| map.nodes.get(id).is_some_and(|a| *a == c.addr));
            for (id, address) in &map.nodes {
                if *id == self.id || peers.contains_key(id) {
                    continue;
                }
                if net::wire::check_address(address).is_ok() {
                    peers.insert(*id, Arc::new(NodeClient::new(*id, address)));
                }
            }
        }
        self.epoch.store(map.epoch, Ordering::Release);
        let held_by = |m: &NodeMap| -> BTreeSet<PartitionId> {
            m.assignment
                .iter()
                .filter(|(_, replicas)| replicas.contains(&self.id))
                .map(|(p, _)| *p)
                .collect()
        };
        // A partition this node held under the previous map and not under a
        // newer, non-empty one moved away (both maps were committed): drop
        // it, memory and disk. Only a change seen by this process counts, so
        // a map from before a restart can never make it drop anything.
        let moved: Vec<PartitionId> = if map.epoch > current.epoch && !map.assignment.is_empty() {
            let now = held_by(&map);
            held_by(&current).difference(&now).copied().collect()
        } else {
            Vec::new()
        };
        *current = map;
        drop(current);
        for p in moved {
            self.stores.remove(&p);
            // Walks of it go to its new replicas now.
            self.walks.retain(|(_, held), _| *held != p);
            match self.disk.drop_partition(p) {
                Ok(()) => tracing::info!(partition = p.0, "partition moved away: dropped"),
                Err(e) => tracing::warn!(partition = p.0, "dropping a moved partition: {e}"),
            }
        }
        true
    }

    /// `file → content hash` of what this node holds in `partition`.
    pub(crate) fn hashes_of(&self, partition: PartitionId) -> BTreeMap<String, u64> {
        let store = self.store(partition);
        let t = store.read();
        t.file_hashes
            .iter()
            .map(|(f, h)| (t.str(*f).to_string(), *h))
            .collect()
    }

    /// The stored fragments of `files` of `partition` as writes, as many
    /// as fit `max_bytes` (at least one); a file not held is a removal.
    pub(crate) fn export_blocking(
        &self,
        partition: PartitionId,
        files: Vec<String>,
        max_bytes: u64,
    ) -> Result<Vec<PartitionWrite>, CpgError> {
        let stored = self.disk.files_of(partition).map_err(|e| {
            CpgError::Internal(format!(
                "node {}: cannot read partition {partition}: {e}",
                self.id
            ))
        })?;
        let mut by_name: BTreeMap<String, StoredFile> =
            stored.into_iter().map(|s| (s.file.clone(), s)).collect();
        let mut out = Vec::new();
        let mut size = 0u64;
        for file in files {
            let write = match by_name.remove(&file) {
                Some(s) => PartitionWrite {
                    partition,
                    file: s.file,
                    content_hash: s.content_hash,
                    fragments: s.fragments,
                },
                None => PartitionWrite {
                    partition,
                    file,
                    content_hash: 0,
                    fragments: Vec::new(),
                },
            };
            let bytes = host::durable::encode(&write.fragments)
                .map(|b| b.len() as u64)
                .unwrap_or(0);
            if !out.is_empty() && size + bytes > max_bytes {
                break;
            }
            size += bytes;
            out.push(write);
        }
        Ok(out)
    }

    /// Make this node's replica of `partition` equal to node `from`'s.
    pub(crate) async fn pull(
        self: &Arc<Self>,
        epoch: u64,
        partition: PartitionId,
        from: NodeId,
    ) -> Result<PullReport, CpgError> {
        self.check_at(epoch, [partition]).await?;
        let peer = self.peer(from).ok_or_else(|| {
            CpgError::Internal(format!("node {from} is not in node {}'s map", self.id))
        })?;
        let unreachable = |e: CallError| e.naming(format!("node {from}"));
        let theirs: BTreeMap<String, u64> = peer
            .call(PEER_DEADLINE, move |c, ctx| async move {
                c.file_hashes(ctx, epoch, vec![partition]).await
            })
            .await
            .map_err(unreachable)?
            .into_iter()
            .map(|(_, f, h)| (f, h))
            .collect();
        let mine = self.hashes_of(partition);
        let mut report = PullReport {
            files: theirs.len() as u64,
            ..PullReport::default()
        };
        let removals: Vec<PartitionWrite> = mine
            .keys()
            .filter(|f| !theirs.contains_key(*f))
            .map(|f| PartitionWrite {
                partition,
                file: f.clone(),
                content_hash: 0,
                fragments: Vec::new(),
            })
            .collect();
        report.removed = removals.len() as u64;
        if !removals.is_empty() {
            let node = self.clone();
            blocking(move || node.write_blocking(removals)).await?;
        }
        let mut wanted: Vec<String> = theirs
            .iter()
            .filter(|(f, h)| mine.get(*f) != Some(h))
            .map(|(f, _)| f.clone())
            .collect();
        while !wanted.is_empty() {
            self.admit_ingest_batch("a partition move")?;
            let ask = Arc::new(wanted.clone());
            let page = peer
                .call(PEER_DEADLINE, move |c, ctx| {
                    let ask = ask.clone();
                    async move {
                        c.export(ctx, epoch, partition, (*ask).clone(), EXPORT_PAGE_BYTES)
                            .await
                    }
                })
                .await
                .map_err(unreachable)?;
            if page.is_empty() {
                return Err(CpgError::Internal(format!(
                    "node {from} exported nothing of partition {partition}"
                )));
            }
            wanted.drain(..page.len().min(wanted.len()));
            report.copied += page.len() as u64;
            let node = self.clone();
            blocking(move || node.write_blocking(page)).await?;
        }
        Ok(report)
    }

    pub(crate) fn map(&self) -> NodeMap {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn peer(&self, id: NodeId) -> Option<Arc<NodeClient>> {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    pub(crate) fn store(&self, partition: PartitionId) -> Arc<Store> {
        self.stores
            .entry(partition)
            .or_insert_with(|| Arc::new(Store::new(self.cache_ttl)))
            .clone()
    }

    pub(crate) fn assigned(&self) -> BTreeSet<PartitionId> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .assignment
            .iter()
            .filter(|(_, replicas)| replicas.contains(&self.id))
            .map(|(p, _)| *p)
            .collect()
    }

    /// A request planned with a newer map than this node knows: ask the
    /// membership loop for the map now and wait (briefly) until it arrives,
    /// then check as usual.
    pub(crate) async fn check_at(
        &self,
        epoch: u64,
        partitions: impl IntoIterator<Item = PartitionId>,
    ) -> Result<(), CpgError> {
        if epoch > self.epoch.load(Ordering::Acquire) {
            let deadline = tokio::time::Instant::now() + CATCH_UP;
            while epoch > self.epoch.load(Ordering::Acquire)
                && tokio::time::Instant::now() < deadline
            {
                self.behind.notify_one();
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        self.check(epoch, partitions)
    }

    /// Requests planned with an older partition map are refused.
    pub(crate) fn check(
        &self,
        epoch: u64,
        partitions: impl IntoIterator<Item = PartitionId>,
    ) -> Result<(), CpgError> {
        let current = self.epoch.load(Ordering::Acquire);
        if epoch < current {
            return Err(CpgError::StaleEpoch { current });
        }
        let assigned = self.assigned();
        CpgError::none_missing(partitions.into_iter().filter(|p| !assigned.contains(p)))
    }

    /// Persist, then apply: a write is on disk before it is visible or
    /// acked. The whole batch is one group commit; then each partition's
    /// store takes its files (partitions in parallel). Batches are applied
    /// one at a time, so disk and memory see them in the same order.
    pub(crate) fn write_blocking(&self, writes: Vec<PartitionWrite>) -> Result<u64, CpgError> {
        // Nothing of a batch is written unless all of it is well formed: a
        // bad record on disk would fail again at every start.
        for w in &writes {
            proto::node_api::check_file_fragments(&w.file, &w.fragments)?;
        }
        let _one_at_a_time = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut puts: Vec<StoredFile> = Vec::new();
        let mut removes: Vec<(PartitionId, String)> = Vec::new();
        for w in writes {
            let store = self.store(w.partition);
            if w.fragments.is_empty() {
                removes.push((w.partition, w.file));
            } else if store.file_hash(&w.file) != Some(w.content_hash) {
                puts.push(StoredFile {
                    partition: w.partition,
                    file: w.file,
                    content_hash: w.content_hash,
                    fragments: w.fragments,
                });
            }
        }
        let persisted = self.disk.commit(&puts, &removes);
        *self.disk_failure.lock().unwrap_or_else(|e| e.into_inner()) =
            persisted.as_ref().err().map(|e| {
                (
                    std::time::Instant::now(),
                    e.to_string(),
                    durable::is_disk_full(e),
                )
            });
        persisted.map_err(|e| {
            let files = puts.len() + removes.len();
            let dir = self.disk.root().display();
            // What is left of the batch: nothing, unless a log could not be
            // undone (then it takes no writes until a restart reads it).
            let left = if self.disk.broken_logs().is_empty() {
                "nothing of them was written"
            } else {
                "some logs could not be undone and take no writes until the node restarts"
            };
            if durable::is_disk_full(&e) {
                let (free, size) = durable::space(self.disk.root()).unwrap_or((0, 0));
                CpgError::disk_full(
                    format!(
                        "node {} cannot persist {files} files under {dir} ({free} bytes free): {e}; {left}",
                        self.id
                    ),
                    size,
                )
            } else {
                CpgError::NotDurable {
                    reason: format!(
                        "node {}: cannot persist {files} files under {dir}: {e}; {left}",
                        self.id
                    ),
                }
            }
        })?;
        let changed = (puts.len() + removes.len()) as u64;
        let mut by_partition: BTreeMap<PartitionId, PartitionBatch> = BTreeMap::new();
        for s in puts {
            by_partition.entry(s.partition).or_default().0.push(s);
        }
        for (p, f) in removes {
            by_partition.entry(p).or_default().1.push(f);
        }
        let work: Vec<(Arc<Store>, PartitionBatch)> = by_partition
            .into_iter()
            .map(|(p, w)| (self.store(p), w))
            .collect();
        let threshold = self.defrag_threshold;
        work.into_par_iter().for_each(|(store, (puts, removes))| {
            for file in removes {
                store.remove_file(&file);
            }
            for s in puts {
                store.apply_file(FileCpg {
                    file: s.file,
                    content_hash: s.content_hash,
                    fragments: s.fragments,
                    diagnostics: Vec::new(),
                });
            }
            if store.counts().deleted_ratio() > threshold {
                store.compact();
            }
        });
        Ok(changed)
    }

    /// The caches of every partition store, summed.
    pub(crate) fn cache_totals(&self) -> CacheStats {
        let stores: Vec<Arc<Store>> = self.stores.iter().map(|s| s.value().clone()).collect();
        cache_totals(stores.iter().map(|s| &**s))
    }

    /// Write `writes` to every replica of their partitions under `map`: this
    /// node's own directly, the others' with one `write` per peer, all at
    /// once. A replica that cannot be reached (or fails to persist) misses
    /// the write: `Ok` names those `(partition, node)`, for the catalog to
    /// mark them behind, as long as every partition has a replica that
    /// acknowledged. `Err(Unavailable)` names the partitions none did (or a
    /// replica refused: a newer map); a replica under memory pressure
    /// refuses the whole write with `ResourceExhausted`.
    pub(crate) async fn replicate(
        self: &Arc<Self>,
        map: &NodeMap,
        writes: BTreeMap<PartitionId, Vec<PartitionWrite>>,
    ) -> Result<Vec<(PartitionId, NodeId)>, CpgError> {
        let mut per_node: BTreeMap<NodeId, Vec<PartitionWrite>> = BTreeMap::new();
        let mut failed: BTreeSet<PartitionId> = BTreeSet::new();
        for (p, ws) in writes {
            let Some((last, others)) = map.assignment.get(&p).and_then(|r| r.split_last()) else {
                failed.insert(p);
                continue;
            };
            for node in others {
                per_node
                    .entry(*node)
                    .or_default()
                    .extend(ws.iter().cloned());
            }
            per_node.entry(*last).or_default().extend(ws);
        }
        let epoch = map.epoch;
        let unreachable = &map.unreachable;
        let calls = per_node.into_iter().map(|(node, ws)| {
            let this = self.clone();
            async move {
                let parts: BTreeSet<PartitionId> = ws.iter().map(|w| w.partition).collect();
                let outcome = if node == this.id {
                    let local = this.clone();
                    Replica::of_local(blocking(move || local.write_blocking(ws)).await)
                } else if unreachable.contains(&node) {
                    Replica::Missed(format!(
                        "node {node} is suspect (silent to the leader): not asked"
                    ))
                } else {
                    match this.peer(node) {
                        None => Replica::Missed(format!("node {node} has no address")),
                        Some(peer) => {
                            let ws = Arc::new(ws);
                            Replica::of_call(
                                peer.call(PEER_WRITE_DEADLINE, move |c, ctx| {
                                    let ws = ws.clone();
                                    async move { c.write(ctx, epoch, (*ws).clone()).await }
                                })
                                .await,
                            )
                        }
                    }
                };
                (node, parts, outcome)
            }
        });
        let outcomes = futures::future::join_all(calls).await;
        for (node, parts, outcome) in &outcomes {
            if let Replica::Missed(why) = outcome {
                tracing::warn!(
                    node = node.0,
                    partitions = parts.len(),
                    "replica missed a write: {why}"
                );
            }
        }
        tally(failed, outcomes)
    }
}

/// Cache counters of `stores`, summed (the TTL is the same for all).
fn cache_totals<'a>(stores: impl Iterator<Item = &'a Store>) -> CacheStats {
    stores.fold(CacheStats::default(), |mut t, s| {
        let c = s.cache.stats();
        t.entries += c.entries;
        t.hits += c.hits;
        t.misses += c.misses;
        t.evictions += c.evictions;
        t.ttl_secs = c.ttl_secs;
        t
    })
}

/// A parsed file: its fragments grouped by the partition they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFile {
    pub file: String,
    pub content_hash: u64,
    pub diagnostics: Vec<proto::Diagnostic>,
    pub by_partition: Vec<(PartitionId, Vec<proto::ModuleFragment>)>,
}

/// Parse files (on all cores) and group each file's fragments by partition
/// for a cluster of `partitions` partitions.
pub fn parse_files(partitions: u32, files: Vec<SourceUpload>) -> Vec<ParsedFile> {
    files
        .into_par_iter()
        .map(|f| {
            let cpg = build_file(&f.file, &f.bytes);
            let mut by_partition: Vec<(PartitionId, Vec<proto::ModuleFragment>)> = Vec::new();
            for frag in cpg.fragments {
                let p = partition_of(&frag.name, partitions);
                match by_partition.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, v)) => v.push(frag),
                    None => by_partition.push((p, vec![frag])),
                }
            }
            by_partition.sort_by_key(|(p, _)| *p);
            ParsedFile {
                file: cpg.file,
                content_hash: cpg.content_hash,
                diagnostics: cpg.diagnostics,
                by_partition,
            }
        })
        .collect()
}

/// Deadline of a replica write to a peer.
const PEER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a replica may take to persist a peer's write before it counts
/// as missed (and is caught up later) instead of holding the ingest up: a
/// batch is a few megabytes at most, written in well under a second.
const PEER_WRITE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);
/// How much of a partition one `export` reply carries (well under a frame).
const EXPORT_PAGE_BYTES: u64 = 16 << 20;

/// Run CPU- or disk-bound work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CpgError> + Send + 'static,
) -> Result<T, CpgError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CpgError::Internal(format!("worker task failed: {e}")))?
}
