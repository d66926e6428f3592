//! Answering analysis queries. A [`Snapshot`] is what every analysis runs on:
//! module summaries, their linked call graph and the figures about them. The
//! embedded mode takes it from one store; a coordinator gathers it from the
//! storage nodes and keeps it for as long as the catalog generation and the
//! partition map stay the same, so repeated queries cost a lookup, not a
//! scatter-gather. Both modes answer with [`answer`], so they agree by
//! construction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partition::analysis::{
    centrality, dead_code, features, function_cycles, function_impact, label_propagation, louvain,
    modularity, module_cycles, module_graph, module_impact, paths, smells, taint, CallGraph,
    NameGraph,
};
use partition::store::StoreStats;
use host::vitals::LatencyWindow;
use proto::coordinator_api::ClusterView;
use proto::projects::{LibraryId, Owner};
use proto::{
    Answer, Centrality, CentralityRow, Communities, CommunityAlgorithm, CpgError, Cycles,
    Diagnostic, FunKind, GraphKind, Metric, Mfa, ModuleKind, ModuleSummary, Query, QueryResult,
};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cluster::{gather_partitions, Hedging, NodeClient};
use crate::embedded::Built;
use crate::report;

/// Everything the analyses need, taken at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// Catalog generation the snapshot was taken at (0 embedded).
    pub generation: u64,
    /// Partition-map epoch it was gathered under (0 embedded).
    pub epoch: u64,
    pub summaries: Vec<Arc<ModuleSummary>>,
    /// Library modules (dependencies): resolution only, never reported.
    pub libraries: Vec<Arc<ModuleSummary>>,
    pub graph: Arc<CallGraph>,
    pub stats: StoreStats,
    /// Sorted by (file, line, column).
    pub diagnostics: Vec<Diagnostic>,
    pub memory_bytes: usize,
    /// Time to build (embedded) or gather and link (cluster).
    pub build_ms: u64,
    /// Partitions that did not answer; their modules are missing.
    pub missing: Vec<u32>,
    /// Replica failures met while gathering.
    pub failures: Vec<String>,
    taken: Instant,
    /// Answers already given from this snapshot, with when they were computed.
    answers: std::sync::Mutex<HashMap<Query, CachedAnswer>>,
}

/// When an answer was computed, and the answer.
type CachedAnswer = (Instant, Result<Answer, CpgError>);

impl Snapshot {
    /// The snapshot of an embedded build.
    pub fn of_build(built: &Built) -> Snapshot {
        let summaries = built.store.summaries();
        // Templates are functions of the modules that own them.
        let summaries = partition::analysis::attach_templates(&summaries).unwrap_or(summaries);
        let libraries = built.libraries.summaries.clone();
        let graph = built
            .store
            .cached("call_graph", || CallGraph::link(&summaries, &libraries));
        Snapshot {
            generation: 0,
            epoch: 0,
            stats: built.store.stats(),
            memory_bytes: built.store.memory().total,
            build_ms: built.elapsed.as_millis() as u64,
            summaries,
            libraries,
            graph,
            diagnostics: built.diagnostics.clone(),
            missing: Vec::new(),
            failures: Vec::new(),
            taken: Instant::now(),
            answers: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

/// The figures an embedded store reports, computed from summaries.
pub fn stats_of(summaries: &[Arc<ModuleSummary>]) -> StoreStats {
    let files: BTreeSet<&str> = summaries.iter().map(|m| m.file.as_str()).collect();
    let scripts = summaries
        .iter()
        .filter(|m| m.kind == ModuleKind::Script)
        .count() as u64;
    let templates = summaries
        .iter()
        .filter(|m| m.kind == ModuleKind::Template)
        .count() as u64;
    StoreStats {
        files: files.len() as u64,
        modules: summaries.len() as u64 - scripts - templates,
        scripts,
        functions: summaries
            .iter()
            .map(|m| {
                m.functions
                    .iter()
                    .filter(|f| f.kind != FunKind::ModuleBody)
                    .count() as u64
            })
            .sum(),
        nodes: summaries.iter().map(|m| u64::from(m.nodes)).sum(),
        edges: summaries.iter().map(|m| u64::from(m.edges)).sum(),
        generation: 0,
    }
}

/// Run `query` on `snapshot`.
/// Run `query` on `snapshot`, or return the answer it gave before: a
/// snapshot never changes, so an answer stays right for as long as the
/// snapshot is the current one (a new catalog generation or partition map
/// makes a new snapshot, with an empty cache).
pub fn answer(snapshot: &Snapshot, query: &Query) -> Result<Answer, CpgError> {
    answer_counted(snapshot, query, Duration::MAX).0
}

/// [`answer`] with cached answers kept at most `ttl`, and whether the answer
/// came from the cache.
pub fn answer_counted(
    snapshot: &Snapshot,
    query: &Query,
    ttl: Duration,
) -> (Result<Answer, CpgError>, bool) {
    let cached = snapshot
        .answers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(query)
        .filter(|(at, _)| at.elapsed() < ttl)
        .map(|(_, a)| a.clone());
    if let Some(a) = cached {
        return (a, true);
    }
    let fresh = compute(snapshot, query);
    let mut answers = snapshot.answers.lock().unwrap_or_else(|e| e.into_inner());
    if answers.len() >= MAX_CACHED_ANSWERS {
        answers.clear();
    }
    answers.insert(query.clone(), (Instant::now(), fresh.clone()));
    (fresh, false)
}

impl Snapshot {
    /// Drop answers older than `ttl`; returns how many were dropped.
    pub fn sweep_answers(&self, ttl: Duration) -> usize {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        let before = answers.len();
        answers.retain(|_, (at, _)| at.elapsed() < ttl);
        before - answers.len()
    }

    /// Whether an answer to `query` younger than `ttl` is held.
    pub fn has_answer(&self, query: &Query, ttl: Duration) -> bool {
        self.answers
            .lock()
            .map(|a| a.get(query).is_some_and(|(at, _)| at.elapsed() < ttl))
            .unwrap_or(false)
    }

    /// Answers held.
    pub fn cached_answers(&self) -> usize {
        self.answers.lock().map(|a| a.len()).unwrap_or(0)
    }
}

/// Answers kept per snapshot (queries differ by their parameters).
const MAX_CACHED_ANSWERS: usize = 256;

/// `InvalidInput` unless `function` is defined or called in the code.
fn known(graph: &CallGraph, function: &Mfa) -> Result<(), CpgError> {
    match graph.id(function) {
        Some(_) => Ok(()),
        None => Err(CpgError::InvalidInput {
            reason: format!(
                "{function} is neither defined nor called in the analyzed code; check the module name, function name and arity"
            ),
        }),
    }
}

/// Run `query` on `snapshot`.
pub fn compute(snapshot: &Snapshot, query: &Query) -> Result<Answer, CpgError> {
    let graph = &snapshot.graph;
    let result = match query {
        Query::Analyze { top } => {
            let mut r = report::analyze_report(
                snapshot.stats,
                &snapshot.summaries,
                graph,
                snapshot.diagnostics.clone(),
                snapshot.memory_bytes,
                snapshot.build_ms,
                *top as usize,
            );
            r.missing_partitions = snapshot.missing.clone();
            r.libraries = report::library_packages(&snapshot.libraries);
            QueryResult::Analyze(Box::new(r))
        }
        Query::CallGraph => QueryResult::CallGraph(report::call_rows(graph)),
        Query::Callers { function, depth } | Query::Callees { function, depth } => {
            if *depth == 0 {
                return Err(CpgError::InvalidInput {
                    reason: "depth must be at least 1".into(),
                });
            }
            known(graph, function)?;
            QueryResult::Reached(match query {
                Query::Callers { .. } => graph.callers(function, *depth),
                _ => graph.callees(function, *depth),
            })
        }
        Query::Cycles => QueryResult::Cycles(Cycles {
            modules: module_cycles(&snapshot.summaries, graph),
            functions: function_cycles(graph),
        }),
        Query::Impact { target, depth } => {
            if *depth == 0 {
                return Err(CpgError::InvalidInput {
                    reason: "depth must be at least 1".into(),
                });
            }
            let found = if target.contains('/') {
                let function: Mfa =
                    target
                        .parse()
                        .map_err(|e: proto::MfaParseError| CpgError::InvalidInput {
                            reason: e.to_string(),
                        })?;
                function_impact(graph, &function, *depth)
            } else {
                module_impact(&snapshot.summaries, graph, target, *depth)
            };
            let Some(found) = found else {
                return Err(CpgError::InvalidInput {
                    reason: format!(
                        "{target} is not in the analyzed code; give a module name or Module.fun/arity"
                    ),
                });
            };
            QueryResult::Impact(Box::new(found))
        }
        Query::Features => QueryResult::Features(features(&snapshot.summaries, graph)),
        Query::ModuleGraph => QueryResult::ModuleGraph(module_graph(&snapshot.summaries, graph)),
        Query::Taint { rules } => QueryResult::Taint(taint(graph, &snapshot.summaries, rules)),
        Query::Smells { thresholds } => {
            QueryResult::Smells(smells(&snapshot.summaries, graph, thresholds))
        }
        Query::DeadCode { entries } => {
            QueryResult::DeadCode(dead_code(&snapshot.summaries, graph, entries))
        }
        Query::Communities { algorithm } => {
            let g = NameGraph::of_modules(&snapshot.summaries, graph);
            let membership = match algorithm {
                CommunityAlgorithm::Louvain => louvain(&g).0,
                CommunityAlgorithm::LabelPropagation => label_propagation(&g),
            };
            let mut groups: BTreeMap<usize, Vec<String>> = BTreeMap::new();
            for (i, c) in membership.iter().enumerate() {
                groups.entry(*c).or_default().push(g.names[i].clone());
            }
            let mut communities: Vec<Vec<String>> = groups.into_values().collect();
            communities.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            QueryResult::Communities(Communities {
                algorithm: *algorithm,
                modularity: modularity(&g, &membership),
                communities,
            })
        }
        Query::Paths {
            from,
            to,
            max_depth,
            max_paths,
        } => {
            known(graph, from)?;
            known(graph, to)?;
            if *max_depth == 0 {
                return Err(CpgError::InvalidInput {
                    reason: "max depth must be at least 1".into(),
                });
            }
            QueryResult::Paths(paths(graph, from, to, *max_depth, *max_paths))
        }
        Query::Centrality {
            graph: kind,
            by,
            top,
        } => {
            let g = match kind {
                GraphKind::Functions => NameGraph::of_functions(graph),
                GraphKind::Modules => NameGraph::of_modules(&snapshot.summaries, graph),
            };
            let mut rows = centrality(&g);
            let key = |r: &CentralityRow| match by {
                Metric::InDegree => f64::from(r.in_degree),
                Metric::OutDegree => f64::from(r.out_degree),
                Metric::PageRank => r.pagerank,
                Metric::Betweenness => r.betweenness,
                Metric::Closeness => r.closeness,
            };
            rows.sort_by(|a, b| key(b).total_cmp(&key(a)).then_with(|| a.name.cmp(&b.name)));
            rows.truncate(*top as usize);
            QueryResult::Centrality(Centrality {
                graph: *kind,
                by: *by,
                nodes: g.names.len() as u32,
                edges: g.edges() as u32,
                top: rows,
            })
        }
    };
    Ok(Answer {
        generation: snapshot.generation,
        missing: snapshot.missing.clone(),
        failures: snapshot.failures.clone(),
        result: Arc::new(result),
    })
}

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
    parts: BTreeMap<u32, (u64, Arc<Vec<Owned>>)>,
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
    clients: std::sync::Mutex<HashMap<u64, Arc<NodeClient>>>,
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
        }
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
    pub fn clients(&self, view: &ClusterView) -> HashMap<u64, Arc<NodeClient>> {
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
                partitions: (0..view.partitions).collect(),
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
        for (node, why) in &gathered.failures {
            tracing::warn!(node, %why, "gathering summaries: a replica failed");
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
        let summaries = partition::analysis::attach_templates(&summaries).unwrap_or(summaries);
        let gathered_ms = started.elapsed().as_millis() as u64;
        // Unchanged modules and diagnostics: every answer still holds.
        let old = current
            .get(project)
            .filter(|o| o.epoch == view.epoch)
            .cloned();
        let old = old.as_ref();
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
                // Linking takes tens of milliseconds on a large code base:
                // off the async workers.
                tokio::task::spawn_blocking(move || {
                    let graph = Arc::new(CallGraph::link(&summaries, &libraries));
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
        if let Some(i) = current.snapshots.iter().position(|(p, _)| p == project) {
            let (_, old) = current.snapshots.remove(i);
            dropped += old.cached_answers().saturating_sub(carried);
        }
        current
            .snapshots
            .push((project.to_string(), snapshot.clone()));
        while current.snapshots.len() > MAX_SNAPSHOTS {
            let (_, old) = current.snapshots.remove(0);
            dropped += old.cached_answers();
        }
        self.evictions.fetch_add(dropped as u64, Ordering::Relaxed);
        Ok(snapshot)
    }
}

/// The answers of `snapshot` to point queries (callers, callees, the
/// impact of a function): the ones a change elsewhere can leave right.
fn point_answers(snapshot: &Snapshot) -> HashMap<Query, CachedAnswer> {
    let answers = snapshot.answers.lock().unwrap_or_else(|e| e.into_inner());
    answers
        .iter()
        .filter(|(q, (_, a))| {
            a.is_ok()
                && match q {
                    Query::Callers { .. } | Query::Callees { .. } => true,
                    Query::Impact { target, .. } => target.contains('/'),
                    _ => false,
                }
        })
        .map(|(q, a)| (q.clone(), a.clone()))
        .collect()
}

/// Of `answers` given on `old`, the ones still right on `new`: a walk over
/// callers (callees) gives the same result when no function it went
/// through gained or lost a caller (callee); a function's impact with
/// anything upstream also needs the number of defined functions unchanged
/// (its score is the share of them upstream).
fn still_holding(
    mut answers: HashMap<Query, CachedAnswer>,
    old: &CallGraph,
    new: &CallGraph,
) -> HashMap<Query, CachedAnswer> {
    let changes = new.changes_since(old);
    let same_population = old.defined() == new.defined();
    // Whether the walk from `start` over `reached` met no name of `touched`.
    fn untouched(
        touched: &std::collections::HashSet<String>,
        start: &str,
        mut reached: impl Iterator<Item = String>,
    ) -> bool {
        !touched.contains(start) && !reached.any(|r| touched.contains(&r))
    }
    answers.retain(|query, (_, answer)| {
        let Ok(answer) = answer else { return false };
        match (query, answer.result.as_ref()) {
            (Query::Callers { function, .. }, QueryResult::Reached(r)) => untouched(
                &changes.callees,
                &function.to_string(),
                r.iter().map(|r| r.mfa.to_string()),
            ),
            (Query::Callees { function, .. }, QueryResult::Reached(r)) => untouched(
                &changes.callers,
                &function.to_string(),
                r.iter().map(|r| r.mfa.to_string()),
            ),
            (Query::Impact { .. }, QueryResult::Impact(i)) if i.kind == "function" => {
                // The score is the share of functions upstream.
                (same_population || i.upstream.is_empty())
                    && untouched(
                        &changes.callees,
                        &i.target,
                        i.upstream.iter().map(|a| a.name.clone()),
                    )
                    && untouched(
                        &changes.callers,
                        &i.target,
                        i.downstream.iter().map(|a| a.name.clone()),
                    )
            }
            _ => false,
        }
    });
    answers
}

/// What a coordinator's catalog says about the code, for a snapshot.
#[derive(Debug, Clone, Default)]
pub struct CatalogFacts {
    /// Sorted by (file, line, column).
    pub diagnostics: Vec<Diagnostic>,
    /// Partition → fingerprint of what it holds ([`partition_fingerprints`]).
    pub fingerprints: BTreeMap<u32, u64>,
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
    files: impl Iterator<Item = (&'a str, u64, &'a [(String, u32)])>,
) -> BTreeMap<u32, u64> {
    let mut out: BTreeMap<u32, u64> = BTreeMap::new();
    for (file, content_hash, modules) in files {
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(file.as_bytes(), content_hash);
        let mut seen: Vec<u32> = modules.iter().map(|(_, p)| *p).collect();
        seen.sort_unstable();
        seen.dedup();
        for p in seen {
            let f = out.entry(p).or_insert(0);
            *f = f.wrapping_add(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_answers_equal_fresh_ones() {
        let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
        let built = crate::embedded::build(&shop).expect("the example builds");
        let snapshot = Snapshot::of_build(&built);
        let sink: Mfa = "String.to_atom/1".parse().expect("an mfa");
        let queries = [
            Query::Analyze { top: 5 },
            Query::CallGraph,
            Query::Callers {
                function: sink.clone(),
                depth: 4,
            },
            Query::Cycles,
            Query::Impact {
                target: "Shop.Pricing".into(),
                depth: 2,
            },
            Query::Centrality {
                graph: GraphKind::Functions,
                by: Metric::Betweenness,
                top: 5,
            },
            Query::Paths {
                from: "ShopWeb.ProductController.index/2".parse().expect("an mfa"),
                to: sink,
                max_depth: 5,
                max_paths: 5,
            },
            Query::Impact {
                target: "Nope".into(),
                depth: 1,
            },
            Query::Taint {
                rules: partition::analysis::default_taint_rules(),
            },
            Query::Smells {
                thresholds: proto::SmellThresholds::default(),
            },
            Query::Features,
            Query::ModuleGraph,
            Query::DeadCode { entries: vec![] },
            Query::Communities {
                algorithm: CommunityAlgorithm::Louvain,
            },
        ];
        // The process's peak memory is read when a report is computed.
        let same = |r: Result<Answer, CpgError>| {
            r.map(|mut a| {
                if let QueryResult::Analyze(report) = Arc::make_mut(&mut a.result) {
                    report.peak_rss_bytes = None;
                }
                a
            })
        };
        for q in &queries {
            let first = answer(&snapshot, q);
            let again = answer(&snapshot, q);
            assert_eq!(first, again, "{q:?}");
            assert_eq!(same(first), same(compute(&snapshot, q)), "{q:?}");
        }
        let cached = snapshot.answers.lock().map(|a| a.len()).unwrap_or(0);
        assert_eq!(cached, queries.len(), "every answer is kept");
    }

    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }

    /// Every point query about every function of the example, answered.
    fn answered_point_queries(snapshot: &Snapshot) -> usize {
        let functions: Vec<Mfa> = snapshot
            .graph
            .functions
            .iter()
            .filter(|f| f.kind.is_some())
            .map(|f| f.mfa.clone())
            .collect();
        let mut answered = 0;
        for f in &functions {
            for depth in [1, 3] {
                for q in [
                    Query::Callers {
                        function: f.clone(),
                        depth,
                    },
                    Query::Callees {
                        function: f.clone(),
                        depth,
                    },
                    Query::Impact {
                        target: f.to_string(),
                        depth,
                    },
                ] {
                    answered += usize::from(answer(snapshot, &q).is_ok());
                }
            }
        }
        answered
    }

    /// After each edit, the point answers kept from before are exactly what
    /// the changed code answers, and only answers the edit may touch go.
    #[test]
    fn point_answers_kept_across_a_change_equal_fresh_ones() {
        let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&shop, dir.path());
        let lib = dir.path().join("lib/shop");
        let edit = |file: &str, from: &str, to: &str| {
            let path = lib.join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains(from), "{file} holds {from:?}");
            std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        };
        type Edit<'a> = (&'a str, Box<dyn Fn() + 'a>);
        let edits: [Edit; 4] = [
            (
                "a function calling Pricing.total/1 added",
                Box::new(|| {
                    edit(
                        "pricing.ex",
                        "  @tax_rate 0.2\n",
                        "  @tax_rate 0.2\n\n  def quote(items), do: total(items)\n",
                    )
                }),
            ),
            (
                "a call removed",
                Box::new(|| edit("pricing.ex", "sub - Discounts.discount_for(items)", "sub")),
            ),
            (
                "a lone module added",
                Box::new(|| {
                    std::fs::write(
                        lib.join("lone.ex"),
                        "defmodule Shop.Lone do\n  def alone, do: :ok\nend\n",
                    )
                    .unwrap()
                }),
            ),
            (
                "the lone module removed",
                Box::new(|| std::fs::remove_file(lib.join("lone.ex")).unwrap()),
            ),
        ];
        let mut before = Snapshot::of_build(&crate::embedded::build(dir.path()).unwrap());
        for (what, apply) in &edits {
            answered_point_queries(&before);
            // As many as the snapshot keeps.
            let asked = point_answers(&before).len();
            apply();
            let after = Snapshot::of_build(&crate::embedded::build(dir.path()).unwrap());
            let kept = still_holding(point_answers(&before), &before.graph, &after.graph);
            for (q, (_, a)) in &kept {
                assert_eq!(a, &compute(&after, q), "{what}: {q:?}");
            }
            // Every answer the edit changed was dropped (the rest may be).
            let changed = point_answers(&before)
                .iter()
                .filter(|(q, (_, a))| a != &compute(&after, q))
                .count();
            assert!(
                kept.len() + changed <= asked,
                "{what}: {} kept, {changed} changed, {asked} asked",
                kept.len()
            );
            eprintln!(
                "{what}: {} kept, {changed} changed, {asked} asked",
                kept.len()
            );
            // And few that stayed right were dropped.
            assert!(
                kept.len() < asked && asked - kept.len() - changed <= asked / 10,
                "{what}: {} of {asked} kept, {changed} changed",
                kept.len()
            );
            before = after;
        }
    }
}
