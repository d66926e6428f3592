//! Benchmark of linking the call graph again after a one-file change: a
//! full link against relinking only what the change reaches.
//!
//! `cargo run --release -p codebase --example bench_relink -- DIR [RUNS]`
//!
//! Builds DIR in process (as `cpg analyze` does: dependencies under `deps/`
//! are libraries), then times, as medians over RUNS runs each:
//! - a full link of every module;
//! - a relink with nothing changed;
//! - a relink after a body edit (one module's calls move down a line, its
//!   interface unchanged), and a full link of the same;
//! - a relink after an interface edit (a public function added to the
//!   module the most modules `use`), and a full link of the same.
//!
//! Every relinked graph is checked equal to the full link of the same
//! summaries before any time is reported.

use std::sync::Arc;
use std::time::Instant;

use partition::analysis::CallGraph;
use proto::{DepKind, FunKind, FunctionSummary, ModuleSummary};

/// The benchmarks' shared arguments and sums (cluster-tests' test-support
/// library holds them; codebase cannot depend on it).
#[allow(dead_code)]
#[path = "../../cluster-tests/src/bench.rs"]
mod bench;
use bench::{dir_arg, median, ms, number_arg};

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed());
        // Dropped outside the timing: freeing is not linking.
        last = Some(out);
    }
    (ms(median(times)), last.expect("RUNS is at least 1"))
}

fn same(a: &CallGraph, b: &CallGraph) -> bool {
    a.functions == b.functions
        && a.calls == b.calls
        && a.calls
            .iter()
            .all(|c| a.file_of(c) == b.file_of(c) && a.candidates_of(c) == b.candidates_of(c))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = dir_arg("usage: bench_relink DIR [RUNS]")?;
    let runs: usize = number_arg(2, 5)?.max(1);
    let t = Instant::now();
    let snapshot = codebase::embedded::build(&dir)?.snapshot();
    let (summaries, libraries) = (snapshot.summaries.clone(), snapshot.libraries.clone());
    drop(snapshot);
    println!(
        "modules: {}  libraries: {}  built in {:.1} s  runs: {runs}",
        summaries.len(),
        libraries.len(),
        t.elapsed().as_secs_f64()
    );
    let (full_ms, graph) = time(runs, || CallGraph::link(&summaries, &libraries));
    println!(
        "functions: {}  calls: {}",
        graph.functions.len(),
        graph.calls.len()
    );
    println!("full link:                        {full_ms:8.1} ms");
    let (ms, g) = time(runs, || graph.relink(&summaries, &libraries));
    assert!(same(&g, &graph), "relink with nothing changed differs");
    println!(
        "relink, nothing changed:          {ms:8.1} ms  ({} relinked)",
        g.relinked()
    );

    // A body edit: the middle module's calls one line down.
    let at = summaries.len() / 2;
    let mut body = summaries.clone();
    let mut m = (*body[at]).clone();
    for f in &mut m.functions {
        for c in &mut f.calls {
            c.line += 1;
        }
    }
    body[at] = Arc::new(m);
    report(
        "body edit",
        runs,
        &graph,
        &body,
        &libraries,
        &summaries[at].name,
    );

    // An interface edit: a public function added to the most used module.
    let mut users: std::collections::HashMap<&str, usize> = Default::default();
    for m in &summaries {
        for d in m.deps.iter().filter(|d| d.kind == DepKind::Use) {
            *users.entry(d.target.as_str()).or_default() += 1;
        }
    }
    // Among the analysed modules with a function (a dependency's are
    // libraries, not relinked summaries).
    let editable = |name: &str| {
        summaries
            .iter()
            .any(|m| m.name == name && !m.functions.is_empty())
    };
    let target = users
        .iter()
        .filter(|(name, _)| editable(name))
        .max_by_key(|(name, n)| (**n, std::cmp::Reverse(**name)))
        .map(|(name, _)| name.to_string());
    let at = target
        .as_deref()
        .and_then(|t| {
            summaries
                .iter()
                .position(|m| m.name == t && !m.functions.is_empty())
        })
        .unwrap_or(0);
    let mut interface = summaries.clone();
    let mut m = (*interface[at]).clone();
    m.functions.push(FunctionSummary {
        name: "bench_added".into(),
        arity: 0,
        kind: FunKind::Def,
        line: m.line,
        ..m.functions
            .first()
            .cloned()
            .ok_or("a module with no function")?
    });
    interface[at] = Arc::new(m);
    let name = format!(
        "{} (used by {} modules)",
        summaries[at].name,
        target.as_deref().and_then(|t| users.get(t)).unwrap_or(&0)
    );
    report(
        "interface edit",
        runs,
        &graph,
        &interface,
        &libraries,
        &name,
    );
    Ok(())
}

fn report(
    what: &str,
    runs: usize,
    graph: &CallGraph,
    summaries: &[Arc<ModuleSummary>],
    libraries: &[Arc<ModuleSummary>],
    module: &str,
) {
    let (relink_ms, relinked) = time(runs, || graph.relink(summaries, libraries));
    let (full_ms, full) = time(runs, || CallGraph::link(summaries, libraries));
    assert!(
        same(&relinked, &full),
        "{what}: the relinked graph differs from a full link"
    );
    let (changes_ms, changes) = time(runs, || relinked.changes_since(graph));
    println!(
        "{what:<16} relink {relink_ms:8.1} ms  full link {full_ms:8.1} ms  ratio {:.2}  ({} relinked; {module})",
        relink_ms / full_ms,
        relinked.relinked()
    );
    println!(
        "{:<16} what changed (to keep cached answers): {changes_ms:8.1} ms  ({} callers)",
        "",
        changes.callers.len()
    );
}
