//! The operations guide's production load, on a running [`Cluster`]: for a
//! set time, at once, continuous point queries (callers, callees, impact),
//! incremental updates (a file edited and `cpg ingest` run again), pattern
//! analyses (cycles, smells, taint, communities, centrality, dead code) and
//! feature extraction, while a sampler reads every node's memory through
//! `health`. Used by the production-load test (debug build, assertions) and
//! by `examples/bench_load.rs` (release build, figures for BENCHMARKS.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codebase::embedded;
use proto::coordinator_api::CoordinatorServiceClient;
use proto::{CommunityAlgorithm, GraphKind, Metric, Mfa, Query, QueryResult, SmellThresholds};
use query::Snapshot;

use crate::{comparable, Cluster, Dice};

/// How long, and how hard.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub duration: Duration,
    /// Tasks sending point queries back to back.
    pub query_workers: usize,
    /// Pause between the end of one incremental update and the next.
    pub update_pause: Duration,
    /// Point queries on a function and a depth (1–5) drawn at random for
    /// each request, instead of a fixed list of 60 sent in turn: with the
    /// coordinators' answer cache off, every one is computed.
    pub uncached: bool,
}

impl LoadConfig {
    /// `CPG_LOAD_SECS` (default `default_secs`) seconds, 2 query workers,
    /// an update every half second or so.
    pub fn from_env(default_secs: u64) -> LoadConfig {
        let secs = std::env::var("CPG_LOAD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default_secs);
        LoadConfig {
            duration: Duration::from_secs(secs),
            query_workers: 2,
            update_pause: Duration::from_millis(500),
            uncached: std::env::var("CPG_LOAD_UNCACHED").is_ok_and(|v| v == "1"),
        }
    }
}

/// What the load measured.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub elapsed: Duration,
    /// Point queries (callers, callees, impact), each one's latency.
    pub point: Vec<Duration>,
    /// Pattern analyses and feature extraction, by kind.
    pub heavy: BTreeMap<&'static str, Vec<Duration>>,
    /// Incremental updates: edit + `cpg ingest`, each one's time.
    pub updates: Vec<Duration>,
    /// Every failed request, said how.
    pub errors: Vec<String>,
    /// Highest memory seen per node (MB), and each node's limit.
    pub node_memory_mb: BTreeMap<proto::assignment::NodeId, (f64, Option<u64>)>,
    pub coordinator_memory_mb: f64,
    /// Health samples taken.
    pub samples: usize,
}

/// The `q`-quantile (0..=1) of `v` (nearest rank), zero when empty.
pub fn quantile(v: &[Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let mut v = v.to_vec();
    v.sort();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl LoadReport {
    /// Requests of every kind sent.
    pub fn requests(&self) -> usize {
        self.point.len()
            + self.heavy.values().map(Vec::len).sum::<usize>()
            + self.updates.len()
            + self.errors.len()
    }

    pub fn error_rate(&self) -> f64 {
        match self.requests() {
            0 => 0.0,
            n => self.errors.len() as f64 / n as f64,
        }
    }

    /// A few lines for people.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{:.1} s of load: {} requests, {} errors ({:.3}%)\n",
            self.elapsed.as_secs_f64(),
            self.requests(),
            self.errors.len(),
            100.0 * self.error_rate()
        );
        s += &format!(
            "point queries: {} ({:.0}/s), p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
            self.point.len(),
            self.point.len() as f64 / self.elapsed.as_secs_f64().max(1e-9),
            ms(quantile(&self.point, 0.5)),
            ms(quantile(&self.point, 0.95)),
            ms(quantile(&self.point, 0.99)),
            ms(quantile(&self.point, 1.0)),
        );
        for (kind, v) in &self.heavy {
            s += &format!(
                "{kind}: {} runs, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
                v.len(),
                ms(quantile(v, 0.5)),
                ms(quantile(v, 0.99)),
                ms(quantile(v, 1.0)),
            );
        }
        s += &format!(
            "incremental updates (edit + cpg ingest): {}, p50 {:.0} ms, max {:.0} ms\n",
            self.updates.len(),
            ms(quantile(&self.updates, 0.5)),
            ms(quantile(&self.updates, 1.0)),
        );
        for (node, (mb, limit)) in &self.node_memory_mb {
            s += &format!(
                "node {node}: at most {mb:.0} MB resident (limit {})\n",
                limit.map_or("none".to_string(), |l| format!("{l} MB"))
            );
        }
        s += &format!(
            "coordinator: at most {:.0} MB resident; {} health samples\n",
            self.coordinator_memory_mb, self.samples
        );
        for e in self.errors.iter().take(5) {
            s += &format!("error: {e}\n");
        }
        s
    }
}

/// A client of the coordinator at `address`.
pub async fn client(address: &str) -> Result<CoordinatorServiceClient, String> {
    net::coordinator_client::connect(address, Duration::from_secs(2))
        .await
        .map_err(|e| format!("dialling {address}: {e}"))
}

/// Ask `q`, with its latency.
async fn ask(
    client: &CoordinatorServiceClient,
    q: &Query,
) -> Result<(QueryResult, Duration), String> {
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + Duration::from_secs(60);
    let t = Instant::now();
    match client.query(ctx, String::new(), q.clone()).await {
        Ok(Ok(a)) => Ok((comparable(a.result), t.elapsed())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("rpc: {e}")),
    }
}

/// `cpg ingest DIR` on the cluster.
pub fn cpg_ingest(coordinators: &str, dir: &Path) -> Result<(), String> {
    cpg_ingest_generation(coordinators, dir).map(|_| ())
}

/// [`cpg_ingest`], and the catalog generation it reports.
pub fn cpg_ingest_generation(coordinators: &str, dir: &Path) -> Result<u64, String> {
    let out = crate::cpg_command()
        .arg("--coordinator")
        .arg(coordinators)
        .arg("ingest")
        .arg(dir)
        .output()
        .map_err(|e| format!("running cpg ingest: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cpg ingest: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .rsplit("catalog generation ")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("cpg ingest reported no generation: {stdout}"))
}

/// The functions of the tree that are called from somewhere.
pub fn called_functions(snapshot: &Snapshot) -> Vec<Mfa> {
    let g = &snapshot.graph;
    g.functions
        .iter()
        .enumerate()
        .filter(|(id, f)| f.kind.is_some() && g.calls_to(*id as u32).next().is_some())
        .map(|(_, f)| f.mfa.clone())
        .collect()
}

/// Callers (`kind` 0), callees (1) or impact (2) of `f` at `depth`.
fn point_query(kind: usize, f: &Mfa, depth: u32) -> Query {
    match kind % 3 {
        0 => Query::Callers {
            function: f.clone(),
            depth,
        },
        1 => Query::Callees {
            function: f.clone(),
            depth,
        },
        _ => Query::Impact {
            target: f.to_string(),
            depth,
        },
    }
}

/// Point queries on functions of the tree that are called from somewhere:
/// callers, callees and impact, depth 2.
pub fn point_queries(snapshot: &Snapshot, how_many: usize) -> Vec<Query> {
    let called = called_functions(snapshot);
    let step = (called.len() / how_many.max(1)).max(1);
    called
        .iter()
        .step_by(step)
        .take(how_many)
        .enumerate()
        .map(|(i, f)| point_query(i, f, 2))
        .collect()
}

/// A point query on a function and at a depth (1–5) drawn with `dice`.
fn random_point_query(called: &[Mfa], dice: &mut Dice) -> Query {
    let f = &called[dice.roll(called.len())];
    let depth = 1 + dice.roll(5) as u32;
    point_query(dice.roll(3), f, depth)
}

/// The pattern analyses and feature extraction, by name.
pub fn heavy_queries() -> Vec<(&'static str, Query)> {
    vec![
        ("cycles", Query::Cycles),
        (
            "smells",
            Query::Smells {
                thresholds: SmellThresholds::default(),
            },
        ),
        (
            "taint",
            Query::Taint {
                rules: partition::analysis::default_taint_rules(),
            },
        ),
        (
            "communities",
            Query::Communities {
                algorithm: CommunityAlgorithm::Louvain,
            },
        ),
        (
            "centrality",
            Query::Centrality {
                graph: GraphKind::Modules,
                by: Metric::PageRank,
                top: 20,
            },
        ),
        (
            "dead code",
            Query::DeadCode {
                entries: Vec::new(),
            },
        ),
        ("features", Query::Features),
        ("module graph", Query::ModuleGraph),
    ]
}

/// Files an update may edit: `.ex` files defining one module and ending
/// with its `end`, with that module's name.
pub fn editable_files(tree: &Path, snapshot: &Snapshot) -> Vec<(PathBuf, String)> {
    let Ok(sources) = embedded::read_sources(tree) else {
        return Vec::new();
    };
    sources
        .into_iter()
        .filter(|s| s.file.ends_with(".ex"))
        .filter_map(|s| {
            let text = String::from_utf8(s.bytes).ok()?;
            if text.matches("defmodule ").count() != 1 || !text.ends_with("\nend\n") {
                return None;
            }
            let module = snapshot
                .summaries
                .iter()
                .find(|m| m.file == s.file && text.contains(&format!("defmodule {} do", m.name)))?;
            Some((tree.join(&s.file), module.name.clone()))
        })
        .collect()
}

/// Add `def name(x)` before the final `end` of `file`, calling `calls`.
fn add_function(file: &Path, name: &str, calls: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let body = text.strip_suffix("end\n").unwrap_or(&text);
    std::fs::write(
        file,
        format!("{body}\n  def {name}(x), do: {calls}(x)\nend\n"),
    )
    .map_err(|e| format!("{}: {e}", file.display()))
}

/// Run the load against `cluster`, whose data is `tree` (already ingested);
/// updates edit `tree` in place. `initial` is the embedded snapshot of the
/// tree before the load (where the queries come from).
pub async fn run(
    cluster: &Cluster,
    tree: &Path,
    initial: &Snapshot,
    config: &LoadConfig,
) -> Result<LoadReport, String> {
    // With several coordinators, queries go to a follower: its reads ask
    // the leader for the commit index (the leader reads under its lease).
    let leader = cluster.leader().await;
    let address = cluster
        .coordinators
        .iter()
        .enumerate()
        .find(|(i, _)| cluster.coordinators.len() == 1 || Some(*i) != leader)
        .map(|(_, c)| c.addr.clone())
        .ok_or("the cluster has no coordinator")?;
    let coordinators = cluster.coordinator_list();
    let stop = Arc::new(AtomicBool::new(false));
    let report = Arc::new(Mutex::new(LoadReport::default()));
    let record = {
        let report = report.clone();
        move |f: &dyn Fn(&mut LoadReport)| f(&mut report.lock().unwrap_or_else(|e| e.into_inner()))
    };
    let point = Arc::new(point_queries(initial, 60));
    let called = Arc::new(called_functions(initial));
    let uncached = config.uncached;
    if point.is_empty() {
        return Err("no function of the tree is called: nothing to query".into());
    }
    let files = editable_files(tree, initial);
    if files.is_empty() {
        return Err("no file of the tree can be edited by the updater".into());
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    let workers = config.query_workers;
    for w in 0..workers {
        let (stop, point, called, address, record) = (
            stop.clone(),
            point.clone(),
            called.clone(),
            address.clone(),
            record.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let c = match client(&address).await {
                Ok(c) => c,
                Err(e) => return record(&|r| r.errors.push(e.clone())),
            };
            let mut i = w;
            let mut dice = Dice::for_client(w);
            while !stop.load(Ordering::Relaxed) {
                let drawn;
                let q = if uncached {
                    drawn = random_point_query(&called, &mut dice);
                    &drawn
                } else {
                    &point[i % point.len()]
                };
                match ask(&c, q).await {
                    Ok((_, took)) => record(&|r| r.point.push(took)),
                    Err(e) => record(&|r| r.errors.push(format!("{q:?}: {e}"))),
                }
                i += workers;
            }
        }));
    }
    // Pattern analyses in turn, and features on their own.
    let heavy = heavy_queries();
    let (features, patterns): (Vec<_>, Vec<_>) =
        heavy.into_iter().partition(|(k, _)| *k == "features");
    for set in [patterns, features] {
        let (stop, address, record) = (stop.clone(), address.clone(), record.clone());
        tasks.push(tokio::spawn(async move {
            let c = match client(&address).await {
                Ok(c) => c,
                Err(e) => return record(&|r| r.errors.push(e.clone())),
            };
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let (kind, q) = &set[i % set.len()];
                match ask(&c, q).await {
                    Ok((_, took)) => record(&|r| r.heavy.entry(kind).or_default().push(took)),
                    Err(e) => record(&|r| r.errors.push(format!("{kind}: {e}"))),
                }
                i += 1;
                // Not back to back: a client asking again, not a flood.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    // Incremental updates: each adds a function that calls the one the
    // update before added, in another module (cross-module edges change).
    {
        let (stop, record, coordinators) = (stop.clone(), record.clone(), coordinators.clone());
        let pause = config.update_pause;
        let tree = tree.to_path_buf();
        tasks.push(tokio::spawn(async move {
            let mut previous = "String.upcase".to_string();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (file, module) = files[n % files.len()].clone();
                let name = format!("load_update_{n}");
                let calls = previous.clone();
                let (coordinators, tree) = (coordinators.clone(), tree.clone());
                let t = Instant::now();
                let done = tokio::task::spawn_blocking(move || {
                    add_function(&file, &name, &calls)?;
                    cpg_ingest(&coordinators, &tree)
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
                match done {
                    Ok(()) => {
                        previous = format!("{module}.load_update_{n}");
                        record(&|r| r.updates.push(t.elapsed()));
                    }
                    Err(e) => record(&|r| r.errors.push(format!("update {n}: {e}"))),
                }
                n += 1;
                tokio::time::sleep(pause).await;
            }
        }));
    }
    // Memory of every process, every second.
    {
        let (stop, address, record) = (stop.clone(), address.clone(), record.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(c) = client(&address).await else {
                return;
            };
            while !stop.load(Ordering::Relaxed) {
                let mut ctx = tarpc::context::current();
                ctx.deadline = Instant::now() + Duration::from_secs(10);
                if let Ok(Ok(h)) = c.health(ctx).await {
                    record(&|r| {
                        r.samples += 1;
                        r.coordinator_memory_mb = r.coordinator_memory_mb.max(h.memory_usage_mb);
                        for n in &h.nodes {
                            if let Some(x) = &n.health {
                                let e = r.node_memory_mb.entry(n.id).or_insert((0.0, None));
                                e.0 = e.0.max(x.memory_usage_mb);
                                e.1 = x.memory_limit_mb;
                            }
                        }
                    });
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    tokio::time::sleep(config.duration).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.map_err(|e| format!("a load task failed: {e}"))?;
    }
    let mut report = std::mem::take(&mut *report.lock().unwrap_or_else(|e| e.into_inner()));
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Where the cluster's answers differ from an embedded run over `tree`
/// (empty when every answer is identical): the report, the whole call
/// graph, every pattern analysis and feature extraction, the point
/// queries, including ones on every function the updates added, and the
/// call-graph export as `cpg export` receives it (in pieces: the corpus's
/// is several).
pub async fn differences_from_embedded(
    cluster: &Cluster,
    tree: &Path,
) -> Result<Vec<String>, String> {
    let built = embedded::build(tree).map_err(|e| format!("embedded build: {e}"))?;
    let snapshot = built.snapshot();
    let mut queries: Vec<Query> = vec![Query::Analyze { top: 20 }, Query::CallGraph];
    queries.extend(heavy_queries().into_iter().map(|(_, q)| q));
    queries.extend(point_queries(&snapshot, 60));
    for f in snapshot
        .graph
        .functions
        .iter()
        .filter(|f| f.mfa.name.starts_with("load_update_"))
    {
        queries.push(Query::Callers {
            function: f.mfa.clone(),
            depth: 3,
        });
    }
    let address = cluster
        .coordinator_addrs()
        .into_iter()
        .next()
        .ok_or("the cluster has no coordinator")?;
    let c = client(&address).await?;
    let mut out = Vec::new();
    for q in &queries {
        let expected = query::compute(&snapshot, q)
            .map(|a| comparable(a.result))
            .map_err(|e| e.to_string());
        let got = ask(&c, q).await.map(|(r, _)| r);
        if got != expected {
            out.push(format!("{q:?}: the cluster's answer differs from embedded"));
        }
    }
    for format in ["csv", "json"] {
        let exported = crate::cpg_command()
            .args([
                "--coordinator",
                &address,
                "export",
                "call-graph",
                "--format",
                format,
            ])
            .output()
            .map_err(|e| format!("running cpg export: {e}"))?;
        let kind = proto::ExportKind::CallGraph;
        let as_format = match format {
            "csv" => proto::ExportFormat::Csv,
            _ => proto::ExportFormat::Json,
        };
        let expected =
            query::render_export(&snapshot, kind, as_format).map_err(|e| e.to_string())?;
        if !exported.status.success() || exported.stdout != expected.as_bytes() {
            out.push(format!(
                "cpg export call-graph --format {format}: differs from embedded ({} bytes against {}): {}",
                exported.stdout.len(),
                expected.len(),
                String::from_utf8_lossy(&exported.stderr).trim()
            ));
        }
    }
    Ok(out)
}

/// Latencies of `queries` point queries from `clients` clients at once,
/// callers or impact (one in two) of functions of `called` at depths 1 to
/// 5, drawn by each client's [`Dice`]: (sorted latencies, errors). An
/// answer with partitions missing counts as an error.
pub async fn point_load(
    address: &str,
    called: Arc<Vec<Mfa>>,
    queries: usize,
    clients: usize,
) -> (Vec<Duration>, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let got = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let mut tasks = Vec::new();
    for w in 0..clients {
        let (next, got, called, address) = (
            next.clone(),
            got.clone(),
            called.clone(),
            address.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let c = match client(&address).await {
                Ok(c) => c,
                Err(e) => return got.lock().unwrap_or_else(|e| e.into_inner()).1.push(e),
            };
            let mut dice = Dice::for_client(w);
            while next.fetch_add(1, Ordering::Relaxed) < queries {
                let f = called[dice.roll(called.len())].clone();
                let depth = 1 + dice.roll(5) as u32;
                let q = if dice.roll(2) == 0 {
                    Query::Callers { function: f, depth }
                } else {
                    Query::Impact {
                        target: f.to_string(),
                        depth,
                    }
                };
                let mut ctx = tarpc::context::current();
                ctx.deadline = Instant::now() + Duration::from_secs(60);
                let t = Instant::now();
                let r = c.query(ctx, String::new(), q.clone()).await;
                let took = t.elapsed();
                let mut g = got.lock().unwrap_or_else(|e| e.into_inner());
                match r {
                    Ok(Ok(a)) if a.missing.is_empty() => g.0.push(took),
                    Ok(Ok(a)) => {
                        g.1.push(format!("{q:?}: partitions {:?} missing", a.missing))
                    }
                    Ok(Err(e)) => g.1.push(format!("{q:?}: {e}")),
                    Err(e) => g.1.push(format!("{q:?}: rpc {e}")),
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let (mut times, errors) = std::mem::take(&mut *got.lock().unwrap_or_else(|e| e.into_inner()));
    times.sort();
    (times, errors)
}

/// Peak memory (`VmHWM`, MB) of the coordinator at `address` and of each
/// of the cluster's `nodes` nodes, from its health report.
pub async fn peak_memory(address: &str, nodes: usize) -> Result<(f64, Vec<f64>), String> {
    let c = client(address).await?;
    let h = c
        .health(tarpc::context::current())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let peaks: Vec<f64> = h
        .nodes
        .iter()
        .filter_map(|n| n.health.as_ref().map(|x| x.memory_peak_mb))
        .collect();
    if peaks.len() != nodes {
        return Err(format!("{} of {nodes} nodes answered health", peaks.len()));
    }
    Ok((h.memory_peak_mb, peaks))
}
