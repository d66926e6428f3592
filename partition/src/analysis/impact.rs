//! Impact of a change: what depends on a function or a module (upstream:
//! affected when it changes) and what it depends on (downstream), to a depth,
//! with direct and transitive counts and a score.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use proto::{Affected, Impact, Mfa, ModuleSummary};

use super::{module_edges, CallGraph};

/// Breadth-first walk from `start` over `next`, each reached name at its
/// shortest distance, up to `depth`; sorted by (depth, name).
fn walk<'a>(start: &'a str, depth: u32, next: impl Fn(&str) -> Vec<&'a str>) -> Vec<Affected> {
    let mut seen: BTreeSet<&str> = BTreeSet::from([start]);
    let mut out = Vec::new();
    let mut queue = VecDeque::from([(start, 0u32)]);
    while let Some((at, d)) = queue.pop_front() {
        if d >= depth {
            continue;
        }
        for n in next(at) {
            if seen.insert(n) {
                out.push(Affected {
                    depth: d + 1,
                    name: n.to_string(),
                });
                queue.push_back((n, d + 1));
            }
        }
    }
    out.sort();
    out
}

fn impact(
    target: String,
    kind: &str,
    depth: u32,
    upstream: Vec<Affected>,
    downstream: Vec<Affected>,
    population: usize,
) -> Impact {
    let direct = |v: &[Affected]| v.iter().filter(|a| a.depth == 1).count() as u32;
    Impact {
        target,
        kind: kind.to_string(),
        depth,
        direct_upstream: direct(&upstream),
        transitive_upstream: upstream.len() as u32,
        direct_downstream: direct(&downstream),
        transitive_downstream: downstream.len() as u32,
        impact_score: if population > 1 {
            upstream.len() as f64 / (population - 1) as f64
        } else {
            0.0
        },
        upstream,
        downstream,
    }
}

/// Impact of a function: its callers (upstream) and callees (downstream).
/// The score counts upstream functions among the ingested ones. `None` when
/// the function is neither defined nor called.
pub fn function_impact(graph: &CallGraph, function: &Mfa, depth: u32) -> Option<Impact> {
    graph.id(function)?;
    Some(function_impact_of(
        function,
        depth,
        graph.callers(function, depth),
        graph.callees(function, depth),
        graph.defined().count(),
    ))
}

/// [`function_impact`] from its two walks, however they were made (here,
/// or in rounds on the storage nodes), and the number of defined functions.
pub fn function_impact_of(
    function: &Mfa,
    depth: u32,
    callers: Vec<proto::Reached>,
    callees: Vec<proto::Reached>,
    defined: usize,
) -> Impact {
    let named = |r: Vec<proto::Reached>| {
        let mut v = r
            .into_iter()
            .map(|r| Affected {
                depth: r.depth,
                name: r.mfa.to_string(),
            })
            .collect::<Vec<_>>();
        v.sort();
        v
    };
    impact(
        function.to_string(),
        "function",
        depth,
        named(callers),
        named(callees),
        defined,
    )
}

/// Impact of a module over the module graph ([`module_edges`]: calls and
/// compile-time dependencies): modules depending on it (upstream) and the
/// modules it depends on (downstream). `None` when it is not ingested.
pub fn module_impact(
    summaries: &[Arc<ModuleSummary>],
    graph: &CallGraph,
    module: &str,
    depth: u32,
) -> Option<Impact> {
    let modules: BTreeSet<&str> = summaries.iter().map(|m| m.name.as_str()).collect();
    let start = *modules.get(module)?;
    let edges = module_edges(summaries, graph);
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut inc: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &edges {
        out.entry(e.from.as_str()).or_default().push(e.to.as_str());
        inc.entry(e.to.as_str()).or_default().push(e.from.as_str());
    }
    let upstream = walk(start, depth, |m| inc.get(m).cloned().unwrap_or_default());
    let downstream = walk(start, depth, |m| out.get(m).cloned().unwrap_or_default());
    Some(impact(
        module.to_string(),
        "module",
        depth,
        upstream,
        downstream,
        modules.len(),
    ))
}
