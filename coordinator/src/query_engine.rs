//! A coordinator's query side: the current [`Snapshot`] of each project,
//! gathered from the storage nodes and kept while the catalog generation
//! and the partition map stay the same, so repeated queries cost a lookup,
//! not a scatter-gather. A new snapshot reuses the partitions whose content
//! did not change and the point answers the change cannot have touched.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use host::vitals::LatencyWindow;
use partition::analysis::CallGraph;
use proto::coordinator_api::ClusterView;
use proto::projects::{LibraryId, Owner};
use proto::{CpgError, Diagnostic, ModuleSummary, Query};
use query::{point_answers, stats_of, still_holding, Snapshot};

use crate::gather::{gather_partitions, Hedging};
use net::node_client::NodeClient;

/// How long an incomplete snapshot is reused before asking the missing
/// partitions again.
const RETRY_INCOMPLETE: Duration = Duration::from_secs(1);

/// A module as gathered: whose it is (by its stored file name), and its
/// summary naming its file by path.
type Owned = (Owner, Arc<ModuleSummary>);

/// What a coordinator has gathered: per partition, the catalog's
/// fingerprint of its content when gathered and its modules (a later
/// snapshot reuses every partition whose fingerprint stayed the same),
/// and the current snapshot of each project asked about.
#[derive(Debug, Default)]
struct Current {
    /// The partition-map epoch `parts` were gathered under.
    epoch: u64,
    parts: BTreeMap<proto::assignment::PartitionId, (u64, Arc<Vec<Owned>>)>,
    /// By project, the most recently used last.
    snapshots: Vec<(String, Arc<Snapshot>)>,
}

/// Project snapshots kept at once (each holds its linked call graph).
const MAX_SNAPSHOTS: usize = 8;

impl Current {
    fn get(&self, project: &str) -> Option<&Arc<Snapshot>> {
        self.snapshots
            .iter()
            .find(|(p, _)| p == project)
            .map(|(_, s)| s)
    }
}

/// The summary as answers show it: its file named by path.
fn owned(m: Arc<ModuleSummary>) -> Owned {
    let (owner, path) = proto::projects::split(&m.file);
    if path.len() == m.file.len() {
        return (owner, m);
    }
    let prefix = &m.file[..m.file.len() - path.len()];
    let mut renamed = (*m).clone();
    // Scripts and templates are named after their file, and
    // `embed_templates` patterns are paths relative to the root.
    if renamed.name == renamed.file {
        renamed.name = path.to_string();
    }
    for (pattern, _) in &mut renamed.templates {
        if let Some(p) = pattern.strip_prefix(prefix) {
            *pattern = p.to_string();
        }
    }
    renamed.file = path.to_string();
    (owner, Arc::new(renamed))
}

/// A coordinator's query side: node clients and the current snapshots.
#[derive(Debug)]
pub struct QueryEngine {
    clients: std::sync::Mutex<HashMap<proto::assignment::NodeId, Arc<NodeClient>>>,
    /// Held while a snapshot is gathered, so concurrent queries wait for
    /// one gather instead of each starting their own.
    current: tokio::sync::Mutex<Current>,
    /// Deadline of each request to a node.
    deadline: Duration,
    /// Recent analysis queries, and the answer cache's hits, misses and
    /// removals (expired, or the snapshot replaced).
    pub latency: LatencyWindow,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    /// Lifetime of a cached answer.
    pub ttl: Duration,
    /// The current snapshot's figures, readable without waiting for a
    /// gather in progress.
    last_snapshot: std::sync::Mutex<Option<proto::SnapshotHealth>>,
    /// Latencies of summaries requests, for hedging slow replicas.
    pub hedging: Hedging,
    /// Exports being fetched in pieces.
    pub exports: crate::exports::Exports,
}

impl QueryEngine {
    pub fn new(deadline: Duration, ttl: Duration) -> QueryEngine {
        QueryEngine {
            clients: std::sync::Mutex::new(HashMap::new()),
            current: tokio::sync::Mutex::new(Current::default()),
            deadline,
            latency: LatencyWindow::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            ttl,
            last_snapshot: std::sync::Mutex::new(None),
            hedging: Hedging::default(),
            exports: Default::default(),
        }
    }

    /// The projects that have a snapshot here (asked about since start),
    /// the most recently used last.
    pub async fn projects(&self) -> Vec<String> {
        let current = self.current.lock().await;
        current.snapshots.iter().map(|(p, _)| p.clone()).collect()
    }

    /// Remove expired answers from the current snapshot now.
    pub async fn cache_sweep(&self) -> proto::CacheCleanup {
        let current: Vec<Arc<Snapshot>> = {
            let c = self.current.lock().await;
            c.snapshots.iter().map(|(_, s)| s.clone()).collect()
        };
        let removed: u64 = current
            .iter()
            .map(|s| s.sweep_answers(self.ttl) as u64)
            .sum();
        self.evictions.fetch_add(removed, Ordering::Relaxed);
        proto::CacheCleanup {
            removed,
            entries: current.iter().map(|s| s.cached_answers() as u64).sum(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            ttl_secs: self.ttl.as_secs(),
        }
    }

    /// What the current snapshot reused and fetched (none before a query).
    pub fn snapshot_health(&self) -> Option<proto::SnapshotHealth> {
        *self.last_snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hits / (hits + misses) of the answer cache so far (0 before any query).
    pub fn cache_hit_rate(&self) -> f64 {
        let (h, m) = (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        );
        if h + m == 0 {
            0.0
        } else {
            h as f64 / (h + m) as f64
        }
    }

    /// Clients for the nodes of `view`, reusing live connections.
    pub fn clients(
        &self,
        view: &ClusterView,
    ) -> HashMap<proto::assignment::NodeId, Arc<NodeClient>> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain(|id, c| {
            view.nodes
                .iter()
                .any(|n| n.id == *id && n.address == c.addr)
        });
        for n in &view.nodes {
            if clients.contains_key(&n.id) {
                continue;
            }
            if net::wire::check_address(&n.address).is_ok() {
                clients.insert(n.id, Arc::new(NodeClient::new(n.id, &n.address)));
            }
        }
        clients.clone()
    }

    /// The snapshot of `project` (`""`: the default one) for `view`: the
    /// current one if it is still valid, else a new one. `catalog` tells
    /// what the catalog holds: the project's diagnostics and libraries, and
    /// a fingerprint of each partition's content; the new snapshot asks
    /// the nodes only for partitions whose fingerprint changed (or that
    /// were missing, or all of them after the partition map changed) and
    /// reuses the rest. It holds the project's modules and those of the
    /// libraries it uses, files named by path. When the modules came out
    /// equal (a comment or blank line changed, or another project
    /// changed), the answers given carry over.
    pub async fn snapshot(
        &self,
        view: &ClusterView,
        project: &str,
        catalog: impl FnOnce() -> CatalogFacts,
    ) -> Result<Arc<Snapshot>, CpgError> {
        if view.assignment.is_empty() {
            return Err(CpgError::Unavailable {
                partitions: proto::assignment::PartitionId::all(view.partitions).collect(),
            });
        }
        let mut current = self.current.lock().await;
        if let Some(s) = current.get(project) {
            if s.generation == view.generation
                && s.epoch == view.epoch
                && (s.missing.is_empty() || s.taken.elapsed() < RETRY_INCOMPLETE)
            {
                let s = s.clone();
                current.snapshots.retain(|(p, _)| p != project);
                current.snapshots.push((project.to_string(), s.clone()));
                return Ok(s);
            }
        }
        let started = Instant::now();
        let facts = catalog();
        if !facts.known {
            return Err(CpgError::InvalidInput {
                reason: format!(
                    "the catalog has no project {project:?}: ingest it with cpg ingest --project {project} PATH (cpg projects lists those there are)"
                ),
            });
        }
        if current.epoch != view.epoch {
            current.parts.clear();
            current.epoch = view.epoch;
        }
        let mut wanted = BTreeSet::new();
        for &p in view.assignment.keys() {
            let fingerprint = facts.fingerprints.get(&p).copied().unwrap_or(0);
            match current.parts.get(&p) {
                Some((f, _)) if *f == fingerprint => {}
                _ => {
                    wanted.insert(p);
                }
            }
        }
        current.parts.retain(|p, _| view.assignment.contains_key(p));
        let regathered = wanted.len();
        let clients = self.clients(view);
        let gathered = gather_partitions(
            &clients,
            view.epoch,
            &view.assignment,
            wanted.clone(),
            self.deadline,
            Some(&self.hedging),
        )
        .await;
        let fetched_ms = started.elapsed().as_millis() as u64;
        for (node, why) in &gathered.failures {
            tracing::warn!(node = node.0, %why, "gathering summaries: a replica failed");
        }
        for p in &gathered.missing {
            current.parts.remove(p);
        }
        for (p, modules) in gathered.partitions {
            let fingerprint = facts.fingerprints.get(&p).copied().unwrap_or(0);
            let modules: Vec<Owned> = modules.into_iter().map(owned).collect();
            current.parts.insert(p, (fingerprint, Arc::new(modules)));
        }
        // The project's modules and its libraries'.
        let mut app = Vec::new();
        let mut libraries = Vec::new();
        for (owner, m) in current.parts.values().flat_map(|(_, ms)| ms.iter()) {
            match owner {
                Owner::Project(p) if p == project => {
                    // Dependencies ingested under `deps/` without a
                    // library name are library code too.
                    if partition::library::package_of(&m.file).is_some() {
                        libraries.push(m.clone());
                    } else {
                        app.push(m.clone());
                    }
                }
                Owner::Library(l) if facts.libraries.contains(l) => libraries.push(m.clone()),
                _ => {}
            }
        }
        app.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
        libraries.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
        let summaries = app;
        // The figures count what is stored (templates as files); then
        // templates are functions of the modules that own them.
        let mut stats = stats_of(&summaries);
        let collected_ms = started.elapsed().as_millis() as u64;
        let summaries = partition::analysis::attach_templates(&summaries).unwrap_or(summaries);
        let gathered_ms = started.elapsed().as_millis() as u64;
        // Unchanged modules and diagnostics: every answer still holds.
        let previous = current
            .get(project)
            .filter(|o| o.epoch == view.epoch)
            .cloned();
        let old = previous.as_ref();
        let same = old.filter(|o| {
            o.missing.is_empty()
                && gathered.missing.is_empty()
                && o.diagnostics == facts.diagnostics
                && o.summaries.len() == summaries.len()
                && o.summaries
                    .iter()
                    .zip(&summaries)
                    .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
                && o.libraries.len() == libraries.len()
                && o.libraries
                    .iter()
                    .zip(&libraries)
                    .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
        });
        let (summaries, libraries, graph, mut answers) = match same {
            Some(o) => {
                let mut answers = o.answers.lock().unwrap_or_else(|e| e.into_inner()).clone();
                // The report says how long the snapshot took: not carried.
                answers.retain(|q, _| !matches!(q, Query::Analyze { .. }));
                (summaries, libraries, o.graph.clone(), answers)
            }
            None => {
                // Point answers the changed calls cannot have touched stay.
                let before = old
                    .filter(|o| o.missing.is_empty() && gathered.missing.is_empty())
                    .map(|o| (o.graph.clone(), point_answers(o)))
                    .filter(|(_, answers)| !answers.is_empty());
                // The previous graph relinks only what the change reaches.
                let previous_graph = old.map(|o| o.graph.clone());
                // Linking takes up to a second on a large code base: off
                // the async workers.
                tokio::task::spawn_blocking(move || {
                    let linking = Instant::now();
                    let graph = Arc::new(match previous_graph {
                        Some(g) => g.relink(&summaries, &libraries),
                        None => CallGraph::link(&summaries, &libraries),
                    });
                    tracing::debug!(
                        relinked = graph.relinked(),
                        modules = summaries.len(),
                        linked_ms = linking.elapsed().as_millis() as u64,
                        "linked the call graph"
                    );
                    let kept = before.map_or_else(HashMap::new, |(old_graph, answers)| {
                        still_holding(answers, &old_graph, &graph)
                    });
                    (summaries, libraries, graph, kept)
                })
                .await
                .map_err(|e| CpgError::Internal(format!("linking the call graph failed: {e}")))?
            }
        };
        let failures: Vec<String> = gathered
            .failures
            .iter()
            .map(|(node, why)| format!("node {node}: {why}"))
            .collect();
        // The same results, now of this snapshot.
        for (_, answer) in answers.values_mut() {
            if let Ok(a) = answer {
                a.generation = view.generation;
                a.missing = Vec::new();
                a.failures = failures.clone();
            }
        }
        let carried = answers.len();
        // Files with no module have no summary to count them by.
        stats.files = stats.files.max(facts.files);
        let snapshot = Arc::new(Snapshot {
            generation: view.generation,
            epoch: view.epoch,
            stats,
            memory_bytes: 0,
            build_ms: started.elapsed().as_millis() as u64,
            summaries,
            libraries,
            graph,
            diagnostics: facts.diagnostics,
            missing: gathered.missing,
            failures,
            taken: Instant::now(),
            answers: std::sync::Mutex::new(answers),
        });
        tracing::debug!(
            project,
            generation = view.generation,
            regathered,
            partitions = view.assignment.len(),
            fetched_ms,
            collected_ms,
            gathered_ms,
            total_ms = snapshot.build_ms,
            carried,
            "new snapshot"
        );
        *self.last_snapshot.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(proto::SnapshotHealth {
                generation: snapshot.generation,
                epoch: snapshot.epoch,
                partitions_regathered: regathered as u32,
                partitions_reused: (view.assignment.len() - regathered) as u32,
                answers_carried: carried as u32,
                build_ms: snapshot.build_ms,
            });
        let mut dropped = 0;
        let mut replaced = Vec::new();
        if let Some(i) = current.snapshots.iter().position(|(p, _)| p == project) {
            let (_, old) = current.snapshots.remove(i);
            dropped += old.cached_answers().saturating_sub(carried);
            replaced.push(old);
        }
        current
            .snapshots
            .push((project.to_string(), snapshot.clone()));
        while current.snapshots.len() > MAX_SNAPSHOTS {
            let (_, old) = current.snapshots.remove(0);
            dropped += old.cached_answers();
            replaced.push(old);
        }
        self.evictions.fetch_add(dropped as u64, Ordering::Relaxed);
        // Freeing a large code base's graph takes a tenth of a second:
        // not while the query that made the new snapshot waits, nor on an
        // async worker.
        drop(current);
        replaced.extend(previous);
        if !replaced.is_empty() {
            tokio::task::spawn_blocking(move || drop(replaced));
        }
        Ok(snapshot)
    }
}

/// What a coordinator's catalog says about the code, for a snapshot.
#[derive(Debug, Clone, Default)]
pub struct CatalogFacts {
    /// Sorted by (file, line, column).
    pub diagnostics: Vec<Diagnostic>,
    /// Partition → fingerprint of what it holds ([`partition_fingerprints`]).
    pub fingerprints: BTreeMap<proto::assignment::PartitionId, u64>,
    /// The project's files recorded, those without modules (refused, or
    /// empty) included.
    pub files: u64,
    /// The libraries the project uses.
    pub libraries: BTreeSet<LibraryId>,
    /// Whether the catalog has the project (the default one always counts).
    pub known: bool,
}

/// An order-independent fingerprint of each partition's content: the sum
/// of a hash of (file, content hash) over the files with a module in it.
/// It changes when a file of the partition is added, changed or removed.
pub fn partition_fingerprints<'a>(
    files: impl Iterator<Item = (&'a str, u64, &'a [(String, proto::assignment::PartitionId)])>,
) -> BTreeMap<proto::assignment::PartitionId, u64> {
    let mut out: BTreeMap<proto::assignment::PartitionId, u64> = BTreeMap::new();
    for (file, content_hash, modules) in files {
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(file.as_bytes(), content_hash);
        let mut seen: Vec<proto::assignment::PartitionId> =
            modules.iter().map(|(_, p)| *p).collect();
        seen.sort_unstable();
        seen.dedup();
        for p in seen {
            let f = out.entry(p).or_insert(0);
            *f = f.wrapping_add(h);
        }
    }
    out
}
