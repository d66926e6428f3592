//! Per-module summaries computed from a fragment: per function, the calls it
//! makes, which parameters reach which call arguments and the return value,
//! and its metrics (cyclomatic complexity from the CFG, lines, nesting).

use std::collections::HashMap;

use proto::{
    CallSummary, DepSummary, EdgeKind, FunctionMetrics, FunctionSummary, Label, ModuleDep,
    ModuleFragment, ModuleSummary, NodeKind,
};

/// Summarize one fragment.
pub fn summarize(frag: &ModuleFragment) -> ModuleSummary {
    let n = frag.nodes.len();
    // Forward adjacency of the CFG (out-degree) and DFG (edges), built once.
    let mut cfg_out = vec![0u32; n];
    let mut dfg_start = vec![0u32; n + 1];
    for e in &frag.edges {
        match e.kind {
            EdgeKind::Cfg => {
                if let Some(c) = cfg_out.get_mut(e.src as usize) {
                    *c += 1;
                }
            }
            EdgeKind::Dfg if (e.src as usize) < n => dfg_start[e.src as usize + 1] += 1,
            _ => {}
        }
    }
    for i in 0..n {
        dfg_start[i + 1] += dfg_start[i];
    }
    let mut fill = dfg_start.clone();
    let mut dfg = vec![(0u32, Label::None, 0u16); dfg_start[n] as usize];
    for e in frag
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Dfg && (e.src as usize) < n)
    {
        let slot = &mut fill[e.src as usize];
        dfg[*slot as usize] = (e.dst, e.label, e.index);
        *slot += 1;
    }
    let call_of: HashMap<u32, usize> = frag
        .calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.node, i))
        .collect();

    let mut functions = Vec::with_capacity(frag.functions.len());
    for (fi, f) in frag.functions.iter().enumerate() {
        let mut metrics = FunctionMetrics {
            clauses: f.clauses.len() as u32,
            lines: f.span.end_line.saturating_sub(f.span.line) + 1,
            nesting: f.nesting,
            ..FunctionMetrics::default()
        };
        // Param → call argument pairs, keyed by call index.
        let mut param_args: HashMap<usize, Vec<(u8, u8)>> = HashMap::new();
        let mut params_to_return = 0u64;
        for clause in &f.clauses {
            let range = clause.node..clause.end.min(n as u32);
            metrics.nodes += range.len() as u32;
            // McCabe from the CFG: one plus the extra branches of every node.
            let extra: u32 = range
                .clone()
                .map(|i| cfg_out[i as usize].saturating_sub(1))
                .sum();
            metrics.cyclomatic += 1 + extra;
            for p in range
                .clone()
                .filter(|&i| frag.nodes[i as usize].kind == NodeKind::Parameter)
            {
                let index = frag.nodes[p as usize].sub;
                // Forward reachability over DFG edges inside the clause; a call
                // reached through an argument passes the taint to its result.
                let mut seen = vec![false; range.len()];
                let mut stack = vec![p];
                while let Some(x) = stack.pop() {
                    let (lo, hi) = (
                        dfg_start[x as usize] as usize,
                        dfg_start[x as usize + 1] as usize,
                    );
                    for &(dst, label, idx) in &dfg[lo..hi] {
                        if dst == clause.exit && label == Label::Return && index < 64 {
                            params_to_return |= 1 << index;
                        }
                        if !range.contains(&dst) {
                            continue;
                        }
                        let slot = (dst - range.start) as usize;
                        if label == Label::Arg || label == Label::Pipe {
                            if let Some(&ci) = call_of.get(&dst) {
                                let pair = (index, idx.min(255) as u8);
                                let v = param_args.entry(ci).or_default();
                                if !v.contains(&pair) {
                                    v.push(pair);
                                }
                            }
                        }
                        if !seen[slot] {
                            seen[slot] = true;
                            stack.push(dst);
                        }
                    }
                }
            }
        }
        if f.clauses.is_empty() {
            metrics.cyclomatic = 0;
        }
        let calls = frag
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.caller as usize == fi)
            .map(|(ci, c)| {
                let node = frag.nodes.get(c.node as usize);
                let mut pa = param_args.remove(&ci).unwrap_or_default();
                pa.sort_unstable();
                CallSummary {
                    module: c.module.map(|m| frag.str(m).to_string()),
                    name: frag.str(c.name).to_string(),
                    arity: c.arity,
                    kind: c.kind,
                    quoted: c.quoted,
                    candidates: c
                        .candidates
                        .iter()
                        .map(|m| frag.str(*m).to_string())
                        .collect(),
                    line: node.map(|n| n.span.line).unwrap_or(0),
                    column: node.map(|n| n.span.col as u32 + 1).unwrap_or(0),
                    param_args: pa,
                }
            })
            .collect();
        functions.push(FunctionSummary {
            name: frag.str(f.name).to_string(),
            arity: f.arity,
            kind: f.kind,
            line: f.span.line,
            callback: f.callback,
            default_of: f.default_of,
            metrics,
            calls,
            params_to_return,
        });
    }
    ModuleSummary {
        name: frag.name.clone(),
        file: frag.file.clone(),
        kind: frag.kind,
        line: frag.span.line,
        deps: dep_summaries(frag, &frag.deps),
        functions,
        behaviours: frag
            .behaviours
            .iter()
            .map(|b| frag.str(*b).to_string())
            .collect(),
        implements: frag
            .implements
            .map(|(p, t)| (frag.str(p).to_string(), frag.str(t).to_string())),
        using: dep_summaries(frag, &frag.using),
        nodes: frag.nodes.len() as u32,
        edges: (frag.edges.len() + frag.calls.len() + frag.deps.len()) as u32,
    }
}

fn dep_summaries(frag: &ModuleFragment, deps: &[ModuleDep]) -> Vec<DepSummary> {
    deps.iter()
        .map(|d| DepSummary {
            target: frag.str(d.target).to_string(),
            kind: d.kind,
            line: d.line,
        })
        .collect()
}
