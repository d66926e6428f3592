//! Module dependency cycles: strongly connected components of the module
//! graph, with the edges that form them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use proto::{
    CallKind, DepKind, FunKind, FunctionCycle, FunctionEdge, Mfa, ModuleCycle, ModuleEdge,
    ModuleSummary,
};

use super::CallGraph;

/// Every module-to-module edge among the ingested modules, sorted by (from,
/// to). Edges come from dependencies (except `alias`, which by itself depends
/// on nothing) and from calls to other ingested modules.
pub fn module_edges(summaries: &[Arc<ModuleSummary>], calls: &CallGraph) -> Vec<ModuleEdge> {
    let known: BTreeSet<&str> = summaries.iter().map(|m| m.name.as_str()).collect();
    let mut reasons: BTreeMap<(&str, &str), BTreeSet<&'static str>> = BTreeMap::new();
    let mut compile: BTreeSet<(&str, &str)> = BTreeSet::new();
    for m in summaries {
        for d in m.deps.iter().filter(|d| d.kind != DepKind::Alias) {
            if d.target != m.name {
                if let Some(target) = known.get(d.target.as_str()) {
                    let key = (m.name.as_str(), *target);
                    reasons.entry(key).or_default().insert(d.kind.as_str());
                    if d.kind.is_compile_time() {
                        compile.insert(key);
                    }
                }
            }
        }
    }
    // The ingested module of each function of the graph, looked up once.
    let module_of: Vec<Option<&str>> = calls
        .functions
        .iter()
        .map(|f| known.get(f.mfa.module.as_str()).copied())
        .collect();
    let mut called: HashSet<(&str, &str)> = HashSet::new();
    for c in calls.calls.iter().filter(|c| c.kind != CallKind::Local) {
        if let (Some(f), Some(t)) = (module_of[c.caller as usize], module_of[c.callee as usize]) {
            if f != t {
                called.insert((f, t));
            }
        }
    }
    for key in called {
        reasons.entry(key).or_default().insert("call");
    }
    reasons
        .into_iter()
        .map(|((f, t), kinds)| ModuleEdge {
            from: f.to_string(),
            to: t.to_string(),
            kinds: kinds.into_iter().map(str::to_string).collect(),
            compile_time: compile.contains(&(f, t)),
        })
        .collect()
}

/// Every module cycle among the ingested modules, largest first, with the
/// edges of [`module_edges`] that form it.
pub fn module_cycles(summaries: &[Arc<ModuleSummary>], calls: &CallGraph) -> Vec<ModuleCycle> {
    let known: BTreeSet<&str> = summaries.iter().map(|m| m.name.as_str()).collect();
    let edges = module_edges(summaries, calls);
    let mut graph = DiGraph::<&str, ()>::new();
    let mut ids = HashMap::new();
    for name in &known {
        ids.insert(*name, graph.add_node(*name));
    }
    for e in &edges {
        graph.add_edge(ids[e.from.as_str()], ids[e.to.as_str()], ());
    }
    // Each module's cycle, so that one pass over the edges (in their
    // order) gives every cycle its edges: linear, however many cycles.
    let (sccs, cycle_of) = cycles_in(&graph);
    let cycle_edges = within_cycles(sccs.len(), edges, |e| {
        let end = |m: &str| cycle_of.get(m).copied();
        (end(&e.from), end(&e.to))
    });
    let mut cycles: Vec<ModuleCycle> = sccs
        .iter()
        .zip(cycle_edges)
        .map(|(scc, edges)| {
            let members: BTreeSet<&str> = scc.iter().map(|i| graph[*i]).collect();
            ModuleCycle {
                modules: members.iter().map(|s| s.to_string()).collect(),
                edges,
            }
        })
        .collect();
    largest_first(&mut cycles, |c| &c.modules);
    cycles
}

/// Every set of two or more ingested functions that call each other
/// (mutual recursion), largest first, with the calls that form it. A call
/// made from a macro (or a module body) runs when the calling code compiles:
/// it is labelled compile-time.
pub fn function_cycles(calls: &CallGraph) -> Vec<FunctionCycle> {
    let mut graph = DiGraph::<u32, ()>::new();
    let mut ids = HashMap::new();
    for (i, f) in calls.functions.iter().enumerate() {
        if f.kind.is_some() {
            ids.insert(i as u32, graph.add_node(i as u32));
        }
    }
    let mut pairs: BTreeSet<(u32, u32)> = BTreeSet::new();
    for c in &calls.calls {
        if c.caller != c.callee && ids.contains_key(&c.caller) && ids.contains_key(&c.callee) {
            pairs.insert((c.caller, c.callee));
        }
    }
    for (f, t) in &pairs {
        graph.add_edge(ids[f], ids[t], ());
    }
    // Each function's cycle, so that one pass over the calls gives every
    // cycle its calls: linear, however many cycles.
    let (sccs, cycle_of) = cycles_in(&graph);
    let cycle_pairs = within_cycles(sccs.len(), pairs.iter().copied(), |&(f, t)| {
        (cycle_of.get(&f).copied(), cycle_of.get(&t).copied())
    });
    let mut cycles: Vec<FunctionCycle> = sccs
        .iter()
        .zip(cycle_pairs)
        .map(|(scc, pairs)| {
            let mut functions: Vec<Mfa> =
                scc.iter().map(|i| calls.mfa(graph[*i]).clone()).collect();
            functions.sort();
            let mut edges: Vec<FunctionEdge> = pairs
                .iter()
                .map(|(f, t)| FunctionEdge {
                    from: calls.mfa(*f).clone(),
                    to: calls.mfa(*t).clone(),
                    compile_time: matches!(
                        calls.functions[*f as usize].kind,
                        Some(FunKind::ModuleBody | FunKind::Defmacro | FunKind::Defmacrop)
                    ),
                })
                .collect();
            edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
            FunctionCycle { functions, edges }
        })
        .collect();
    largest_first(&mut cycles, |c| &c.functions);
    cycles
}

/// The cycles of `graph` (its strongly connected components of two or
/// more nodes), and the cycle of each node in one.
fn cycles_in<N: Copy + Eq + Hash>(
    graph: &DiGraph<N, ()>,
) -> (Vec<Vec<NodeIndex>>, HashMap<N, usize>) {
    let sccs: Vec<_> = tarjan_scc(graph)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .collect();
    let mut cycle_of = HashMap::new();
    for (c, scc) in sccs.iter().enumerate() {
        for i in scc {
            cycle_of.insert(graph[*i], c);
        }
    }
    (sccs, cycle_of)
}

/// Largest cycle first; cycles of one size by their (sorted) `members`.
fn largest_first<C, M: Ord>(cycles: &mut [C], members: impl Fn(&C) -> &[M]) {
    cycles.sort_by(|a, b| {
        let (a, b) = (members(a), members(b));
        b.len().cmp(&a.len()).then_with(|| a.cmp(b))
    });
}

/// The `items` whose two ends are in the same one of `n` cycles (`ends`:
/// the cycle of each end, if any), grouped by cycle in their order: one pass
/// however many cycles there are.
fn within_cycles<T>(
    n: usize,
    items: impl IntoIterator<Item = T>,
    ends: impl Fn(&T) -> (Option<usize>, Option<usize>),
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
    for item in items {
        if let (Some(a), Some(b)) = ends(&item) {
            if a == b {
                out[a].push(item);
            }
        }
    }
    out
}
