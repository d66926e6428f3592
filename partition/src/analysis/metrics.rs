//! Rankings of functions by complexity and by how often they are called.

use std::sync::Arc;

use proto::{FunKind, FunctionRank, Mfa, ModuleSummary};

use super::CallGraph;

/// The `n` functions with the highest cyclomatic complexity (ties by name).
pub fn most_complex(summaries: &[Arc<ModuleSummary>], n: usize) -> Vec<FunctionRank> {
    let mut v: Vec<FunctionRank> = summaries
        .iter()
        .flat_map(|m| {
            m.functions
                .iter()
                .filter(|f| f.kind != FunKind::ModuleBody && f.metrics.clauses > 0)
                .map(|f| FunctionRank {
                    mfa: Mfa::new(&m.name, &f.name, f.arity),
                    value: f.metrics.cyclomatic,
                    file: m.file.clone(),
                    line: f.line,
                })
        })
        .collect();
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.mfa.cmp(&b.mfa)));
    v.truncate(n);
    v
}

/// The `n` functions with the most call sites (any caller), ties by name.
pub fn most_called(graph: &CallGraph, n: usize) -> Vec<FunctionRank> {
    let mut counts = vec![0u32; graph.functions.len()];
    for c in &graph.calls {
        counts[c.callee as usize] += 1;
    }
    let mut v: Vec<FunctionRank> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| {
            let f = &graph.functions[i];
            FunctionRank {
                mfa: f.mfa.clone(),
                value: *c,
                file: f.file.as_deref().unwrap_or("").to_string(),
                line: f.line,
            }
        })
        .collect();
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.mfa.cmp(&b.mfa)));
    v.truncate(n);
    v
}
