//! Module dependency cycles: strongly connected components of the module
//! graph, with the edges that form them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
use proto::{CallKind, DepKind, ModuleCycle, ModuleEdge, ModuleSummary};

use super::CallGraph;

/// Every module cycle among the ingested modules, largest first. Edges come
/// from dependencies (except `alias`, which by itself depends on nothing) and
/// from calls to other ingested modules.
pub fn module_cycles(summaries: &[Arc<ModuleSummary>], calls: &CallGraph) -> Vec<ModuleCycle> {
    let known: BTreeSet<&str> = summaries.iter().map(|m| m.name.as_str()).collect();
    let mut reasons: BTreeMap<(&str, &str), BTreeSet<String>> = BTreeMap::new();
    let mut compile: BTreeSet<(&str, &str)> = BTreeSet::new();
    for m in summaries {
        for d in m.deps.iter().filter(|d| d.kind != DepKind::Alias) {
            if d.target != m.name && known.contains(d.target.as_str()) {
                let key = (
                    m.name.as_str(),
                    known.get(d.target.as_str()).copied().unwrap_or(""),
                );
                reasons.entry(key).or_default().insert(d.kind.to_string());
                if d.kind.is_compile_time() {
                    compile.insert(key);
                }
            }
        }
    }
    for c in &calls.calls {
        let (from, to) = (&calls.mfa(c.caller).module, &calls.mfa(c.callee).module);
        if from == to || c.kind == CallKind::Local {
            continue;
        }
        if let (Some(f), Some(t)) = (known.get(from.as_str()), known.get(to.as_str())) {
            reasons
                .entry((*f, *t))
                .or_default()
                .insert("call".to_string());
        }
    }
    let mut graph = DiGraph::<&str, ()>::new();
    let mut ids = HashMap::new();
    for name in &known {
        ids.insert(*name, graph.add_node(*name));
    }
    for (from, to) in reasons.keys() {
        graph.add_edge(ids[from], ids[to], ());
    }
    let mut cycles: Vec<ModuleCycle> = tarjan_scc(&graph)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .map(|scc| {
            let members: BTreeSet<&str> = scc.iter().map(|i| graph[*i]).collect();
            let edges = reasons
                .iter()
                .filter(|((f, t), _)| members.contains(f) && members.contains(t))
                .map(|((f, t), kinds)| ModuleEdge {
                    from: f.to_string(),
                    to: t.to_string(),
                    kinds: kinds.iter().cloned().collect(),
                    compile_time: compile.contains(&(*f, *t)),
                })
                .collect();
            ModuleCycle {
                modules: members.iter().map(|s| s.to_string()).collect(),
                edges,
            }
        })
        .collect();
    cycles.sort_by(|a, b| {
        b.modules
            .len()
            .cmp(&a.modules.len())
            .then_with(|| a.modules.cmp(&b.modules))
    });
    cycles
}
