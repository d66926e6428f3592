//! One row of features per ingested function, for machine-learning
//! pipelines: size and shape from its summary, and its place in the call
//! graph (fan-in, fan-out, PageRank, betweenness, community, cycles).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proto::{FeatureRow, FunKind, ModuleSummary};

use super::{centrality, function_cycles, louvain, CallGraph, NameGraph};

/// Features of every function defined in the ingested code (module bodies
/// and generated functions left out), sorted by (module, function, arity).
pub fn features(summaries: &[Arc<ModuleSummary>], graph: &CallGraph) -> Vec<FeatureRow> {
    let functions = NameGraph::of_functions(graph);
    let central: BTreeMap<String, (f64, f64)> = centrality(&functions)
        .into_iter()
        .map(|r| (r.name, (r.pagerank, r.betweenness)))
        .collect();
    let modules = NameGraph::of_modules(summaries, graph);
    let (membership, _) = louvain(&modules);
    let community: BTreeMap<&str, usize> = modules
        .names
        .iter()
        .zip(&membership)
        .map(|(n, c)| (n.as_str(), *c))
        .collect();
    let in_cycle: BTreeSet<String> = function_cycles(graph)
        .into_iter()
        .flat_map(|c| c.functions.into_iter().map(|f| f.to_string()))
        .collect();
    let mut rows = Vec::new();
    for m in summaries {
        for f in &m.functions {
            if matches!(f.kind, FunKind::ModuleBody | FunKind::Generated) {
                continue;
            }
            let mfa = proto::Mfa::new(&m.name, &f.name, f.arity);
            let name = mfa.to_string();
            let (fan_in, fan_out) = match graph.id(&mfa) {
                Some(id) => (
                    graph
                        .calls_to(id)
                        .map(|c| c.caller)
                        .collect::<BTreeSet<_>>()
                        .len(),
                    graph
                        .calls_from(id)
                        .map(|c| c.callee)
                        .collect::<BTreeSet<_>>()
                        .len(),
                ),
                None => (0, 0),
            };
            let (pagerank, betweenness) = central.get(&name).copied().unwrap_or((0.0, 0.0));
            rows.push(FeatureRow {
                module: m.name.clone(),
                function: f.name.clone(),
                arity: f.arity,
                file: m.file.clone(),
                line: f.line,
                lines: f.metrics.lines,
                clauses: f.metrics.clauses,
                cyclomatic: f.metrics.cyclomatic,
                nesting: f.metrics.nesting,
                fan_in: fan_in as u32,
                fan_out: fan_out as u32,
                pagerank,
                betweenness,
                community: community.get(m.name.as_str()).copied().unwrap_or(0) as u32,
                in_cycle: in_cycle.contains(&name),
            });
        }
    }
    rows.sort_by(|a, b| {
        (&a.module, &a.function, a.arity, &a.file).cmp(&(&b.module, &b.function, b.arity, &b.file))
    });
    rows.dedup_by(|a, b| (&a.module, &a.function, a.arity) == (&b.module, &b.function, b.arity));
    rows
}
