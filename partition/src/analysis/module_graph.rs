//! The module graph as one picture: every ingested module with its
//! centrality, community and cycle, and every module edge.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proto::{ModuleGraph, ModuleNode, ModuleSummary};

use super::{centrality, louvain, module_cycles, module_edges, CallGraph, NameGraph};

/// The module graph of `summaries`. Communities are Louvain's, numbered by
/// size (0 the largest, ties by first module name); cycles are numbered as
/// `module_cycles` lists them.
pub fn module_graph(summaries: &[Arc<ModuleSummary>], graph: &CallGraph) -> ModuleGraph {
    let g = NameGraph::of_modules(summaries, graph);
    let rows = centrality(&g);
    let (membership, _) = louvain(&g);
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, c) in membership.iter().enumerate() {
        groups.entry(*c).or_default().push(i);
    }
    let mut order: Vec<Vec<usize>> = groups.into_values().collect();
    order.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    let mut community = vec![0u32; g.names.len()];
    for (n, members) in order.iter().enumerate() {
        for &i in members {
            community[i] = n as u32;
        }
    }
    let mut cycle_of: HashMap<String, u32> = HashMap::new();
    for (n, c) in module_cycles(summaries, graph).iter().enumerate() {
        for m in &c.modules {
            cycle_of.insert(m.clone(), n as u32);
        }
    }
    // A module by its source (a template of it is a part, not the module).
    let defined: HashMap<&str, &ModuleSummary> = summaries
        .iter()
        .filter(|m| m.kind != proto::ModuleKind::Template)
        .map(|m| (m.name.as_str(), m.as_ref()))
        .collect();
    let modules = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let summary = defined.get(r.name.as_str());
            ModuleNode {
                file: summary.map(|m| m.file.clone()).unwrap_or_default(),
                line: summary.map_or(0, |m| m.line),
                functions: summary.map_or(0, |m| m.functions.len() as u32),
                in_degree: r.in_degree,
                out_degree: r.out_degree,
                pagerank: r.pagerank,
                betweenness: r.betweenness,
                community: community[i],
                cycle: cycle_of.get(&r.name).copied(),
                name: r.name,
            }
        })
        .collect();
    ModuleGraph {
        modules,
        edges: module_edges(summaries, graph),
    }
}
