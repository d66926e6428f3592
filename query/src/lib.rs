//! The query layer: answers to analysis queries. A [`Snapshot`] is what
//! every analysis runs on: module summaries, their linked call graph and the
//! figures about them. Embedded mode takes it from one store
//! ([`Snapshot::of_store`]); a coordinator gathers it from the storage nodes
//! and keeps it while the catalog generation and the partition map stay the
//! same. Both answer with [`answer`], and the HTTP API with the same
//! function, so every way of asking agrees by construction. `report` builds
//! and renders the overall report and the exports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partition::analysis::{
    centrality, dead_code, features, function_cycles, label_propagation, louvain, modularity,
    module_cycles, module_graph, module_impact, paths, smells, taint, CallGraph, NameGraph,
};
use partition::store::{Store, StoreStats};
use proto::{
    Answer, Centrality, CentralityRow, Communities, CommunityAlgorithm, CpgError, Cycles,
    Diagnostic, ExportFormat, ExportKind, FunKind, GraphKind, Metric, Mfa, ModuleKind,
    ModuleSummary, Query, QueryResult,
};

pub mod report;
pub mod walks;

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
    pub missing: Vec<proto::assignment::PartitionId>,
    /// Replica failures met while gathering.
    pub failures: Vec<String>,
    pub taken: Instant,
    /// Answers already given from this snapshot, with when they were computed.
    pub answers: std::sync::Mutex<HashMap<Query, CachedAnswer>>,
}

/// When an answer was computed, and the answer.
pub type CachedAnswer = (Instant, Result<Answer, CpgError>);

impl Snapshot {
    /// The snapshot of an embedded build: the modules of `store`, the
    /// `libraries` they are resolved against, and the build's diagnostics
    /// and time.
    pub fn of_store(
        store: &Store,
        libraries: Vec<Arc<ModuleSummary>>,
        diagnostics: Vec<Diagnostic>,
        elapsed: Duration,
    ) -> Snapshot {
        let summaries = store.summaries();
        // Templates are functions of the modules that own them.
        let summaries = partition::analysis::attach_templates(&summaries).unwrap_or(summaries);
        let graph = store.cached("call_graph", || CallGraph::link(&summaries, &libraries));
        Snapshot {
            generation: 0,
            epoch: 0,
            stats: store.stats(),
            memory_bytes: store.memory().total,
            build_ms: elapsed.as_millis() as u64,
            summaries,
            libraries,
            graph,
            diagnostics,
            missing: Vec::new(),
            failures: Vec::new(),
            taken: Instant::now(),
            answers: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl Snapshot {
    /// A snapshot of summaries linked here, such as a cluster's answer to
    /// `Query::Summaries` (templates are already attached to their modules);
    /// with the `previous` snapshot's graph, only what changed since is
    /// linked again.
    pub fn of_summaries(
        summaries: Vec<Arc<ModuleSummary>>,
        libraries: Vec<Arc<ModuleSummary>>,
        previous: Option<&CallGraph>,
    ) -> Snapshot {
        let started = Instant::now();
        let graph = Arc::new(match previous {
            Some(g) => g.relink(&summaries, &libraries),
            None => CallGraph::link(&summaries, &libraries),
        });
        Snapshot {
            generation: 0,
            epoch: 0,
            stats: stats_of(&summaries),
            memory_bytes: 0,
            build_ms: started.elapsed().as_millis() as u64,
            summaries,
            libraries,
            graph,
            diagnostics: Vec::new(),
            missing: Vec::new(),
            failures: Vec::new(),
            taken: Instant::now(),
            answers: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

/// The figures an embedded store reports, computed from summaries.
pub fn stats_of(summaries: &[Arc<ModuleSummary>]) -> StoreStats {
    // Hashed: at 15k modules an ordered set took milliseconds of every
    // snapshot.
    let files: HashSet<&str> = summaries.iter().map(|m| m.file.as_str()).collect();
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
    // A lifetime of zero: no answer is kept (the answer cache is off).
    if ttl.is_zero() {
        return (compute(snapshot, query), false);
    }
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
    snapshot.remember(query, &fresh);
    (fresh, false)
}

impl Snapshot {
    /// Keep `answer` to `query`, computed elsewhere (a walk made on the
    /// storage nodes), as [`answer_counted`] keeps what it computes.
    pub fn remember(&self, query: &Query, answer: &Result<Answer, CpgError>) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= MAX_CACHED_ANSWERS {
            answers.clear();
        }
        answers.insert(query.clone(), (Instant::now(), answer.clone()));
    }

    /// The answer `result` makes on this snapshot.
    pub fn answer_of(&self, result: QueryResult) -> Answer {
        Answer {
            generation: self.generation,
            missing: self.missing.clone(),
            failures: self.failures.clone(),
            result: Arc::new(result),
        }
    }

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

/// The text of an export, as `cpg export` writes it: JSON (pretty, one
/// value), CSV, DOT or GraphML (features: JSON or CSV).
pub fn render_export(
    snapshot: &Snapshot,
    kind: ExportKind,
    format: ExportFormat,
) -> Result<String, CpgError> {
    let graph = &snapshot.graph;
    let as_graph = match format {
        ExportFormat::Json => None,
        ExportFormat::Csv => Some(report::GraphFormat::Csv),
        ExportFormat::Dot => Some(report::GraphFormat::Dot),
        ExportFormat::Graphml => Some(report::GraphFormat::Graphml),
    };
    Ok(match (kind, as_graph) {
        (ExportKind::CallGraph, None) => pretty(&report::call_rows(graph))?,
        (ExportKind::CallGraph, Some(report::GraphFormat::Csv)) => {
            report::render_call_graph_csv(graph)
        }
        (ExportKind::CallGraph, Some(f)) => report::render_call_graph(&report::call_rows(graph), f),
        (ExportKind::ModuleGraph, None) => pretty(&module_graph(&snapshot.summaries, graph))?,
        (ExportKind::ModuleGraph, Some(f)) => {
            report::render_module_graph(&module_graph(&snapshot.summaries, graph), f)
        }
        (ExportKind::Features, None) => pretty(&features(&snapshot.summaries, graph))?,
        (ExportKind::Features, Some(report::GraphFormat::Csv)) => {
            report::render_features_csv(&features(&snapshot.summaries, graph))
        }
        (ExportKind::Features, Some(_)) => {
            return Err(CpgError::InvalidInput {
                reason: format!(
                    "features are written as json or csv, not {}",
                    format.as_str()
                ),
            })
        }
    })
}

/// Pretty JSON of `v`, with a final line break.
fn pretty<T: serde::Serialize>(v: &T) -> Result<String, CpgError> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| CpgError::Internal(format!("writing JSON: {e}")))
}

/// `InvalidInput` unless `function` is defined or called in the code. When
/// partitions are missing, a function not found may be in one of them:
/// `Unavailable`, naming them, rather than a confident "not there".
fn known(snapshot: &Snapshot, function: &Mfa) -> Result<(), CpgError> {
    match snapshot.graph.id(function) {
        Some(_) => Ok(()),
        None => Err(not_found(snapshot, format!(
            "{function} is neither defined nor called in the analyzed code; check the module name, function name and arity"
        ))),
    }
}

/// What a name the snapshot does not hold means: `InvalidInput` (`reason`)
/// when every partition answered, else `Unavailable`, naming the missing
/// partitions (it may be in one of them).
fn not_found(snapshot: &Snapshot, reason: String) -> CpgError {
    if snapshot.missing.is_empty() {
        CpgError::InvalidInput { reason }
    } else {
        CpgError::Unavailable {
            partitions: snapshot.missing.clone(),
        }
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
        Query::Callers { .. } | Query::Callees { .. } => match walks::point_walk(snapshot, query) {
            Some(walk) => walk?.here(snapshot),
            None => return Err(CpgError::Internal("callers and callees are walks".into())),
        },
        Query::Cycles => QueryResult::Cycles(Cycles {
            modules: module_cycles(&snapshot.summaries, graph),
            functions: function_cycles(graph),
        }),
        Query::Impact { target, depth } => {
            if let Some(walk) = walks::point_walk(snapshot, query) {
                walk?.here(snapshot)
            } else {
                if *depth == 0 {
                    return Err(CpgError::InvalidInput {
                        reason: "depth must be at least 1".into(),
                    });
                }
                let Some(found) = module_impact(&snapshot.summaries, graph, target, *depth) else {
                    return Err(not_found(
                        snapshot,
                        format!(
                            "{target} is not in the analyzed code; give a module name or Module.fun/arity"
                        ),
                    ));
                };
                QueryResult::Impact(Box::new(found))
            }
        }
        Query::Features => QueryResult::Features(features(&snapshot.summaries, graph)),
        Query::ModuleGraph => QueryResult::ModuleGraph(module_graph(&snapshot.summaries, graph)),
        Query::Export { kind, format } => {
            QueryResult::Text(render_export(snapshot, *kind, *format)?)
        }
        Query::Summaries => QueryResult::Summaries(Box::new(proto::SummarySet {
            modules: snapshot.summaries.iter().map(|m| (**m).clone()).collect(),
            libraries: snapshot.libraries.iter().map(|m| (**m).clone()).collect(),
        })),
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
            known(snapshot, from)?;
            known(snapshot, to)?;
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
    Ok(snapshot.answer_of(result))
}

/// The answers of `snapshot` to point queries (callers, callees, the
/// impact of a function): the ones a change elsewhere can leave right.
pub fn point_answers(snapshot: &Snapshot) -> HashMap<Query, CachedAnswer> {
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
pub fn still_holding(
    mut answers: HashMap<Query, CachedAnswer>,
    old: &CallGraph,
    new: &CallGraph,
) -> HashMap<Query, CachedAnswer> {
    let changes = new.changes_since(old);
    let same_population = old.defined().count() == new.defined().count();
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
