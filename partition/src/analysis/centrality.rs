//! Centrality over the function call graph (ingested functions) or the
//! module graph: in/out degree, PageRank (damping 0.85), betweenness
//! (Brandes, unweighted, directed) and closeness (Wasserman–Faust, so graphs
//! that are not strongly connected compare fairly).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use proto::{CentralityRow, ModuleSummary};
use rayon::prelude::*;

use super::{module_edges, CallGraph};

/// PageRank's damping factor.
pub const DAMPING: f64 = 0.85;

/// A directed graph over names, nodes in name order, edges deduplicated.
#[derive(Debug, Clone, Default)]
pub struct NameGraph {
    pub names: Vec<String>,
    pub out: Vec<Vec<usize>>,
    pub inc: Vec<Vec<usize>>,
}

impl NameGraph {
    /// Build from names and edges between them (edges to unknown names and
    /// self loops are left out).
    pub fn new(names: BTreeSet<String>, edges: impl IntoIterator<Item = (String, String)>) -> Self {
        let names: Vec<String> = names.into_iter().collect();
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut pairs: BTreeSet<(usize, usize)> = BTreeSet::new();
        for (f, t) in edges {
            if let (Some(&a), Some(&b)) = (index.get(f.as_str()), index.get(t.as_str())) {
                if a != b {
                    pairs.insert((a, b));
                }
            }
        }
        let mut out = vec![Vec::new(); names.len()];
        let mut inc = vec![Vec::new(); names.len()];
        for (a, b) in pairs {
            out[a].push(b);
            inc[b].push(a);
        }
        NameGraph { names, out, inc }
    }

    /// Ingested functions and the calls among them.
    pub fn of_functions(graph: &CallGraph) -> NameGraph {
        let mut defined: Vec<(String, usize)> = graph
            .functions
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind.is_some())
            .map(|(id, f)| (f.mfa.to_string(), id))
            .collect();
        defined.sort();
        defined.dedup_by(|a, b| a.0 == b.0);
        let mut index = vec![usize::MAX; graph.functions.len()];
        for (i, (_, id)) in defined.iter().enumerate() {
            index[*id] = i;
        }
        let mut pairs: Vec<(usize, usize)> = graph
            .calls
            .iter()
            .map(|c| (index[c.caller as usize], index[c.callee as usize]))
            .filter(|&(a, b)| a != usize::MAX && b != usize::MAX && a != b)
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let n = defined.len();
        let mut out = vec![Vec::new(); n];
        let mut inc = vec![Vec::new(); n];
        for (a, b) in pairs {
            out[a].push(b);
            inc[b].push(a);
        }
        NameGraph {
            names: defined.into_iter().map(|(name, _)| name).collect(),
            out,
            inc,
        }
    }

    /// Ingested modules and their dependencies (calls and compile-time).
    pub fn of_modules(summaries: &[Arc<ModuleSummary>], graph: &CallGraph) -> NameGraph {
        let modules: BTreeSet<String> = summaries.iter().map(|m| m.name.clone()).collect();
        let edges = module_edges(summaries, graph)
            .into_iter()
            .map(|e| (e.from, e.to));
        NameGraph::new(modules, edges)
    }

    pub fn edges(&self) -> usize {
        self.out.iter().map(Vec::len).sum()
    }
}

/// PageRank by power iteration; the rank of nodes without successors is
/// spread over all nodes. Sums to 1 (for a non-empty graph).
pub fn pagerank(g: &NameGraph) -> Vec<f64> {
    let n = g.names.len();
    if n == 0 {
        return Vec::new();
    }
    let nf = n as f64;
    let mut rank = vec![1.0 / nf; n];
    for _ in 0..200 {
        let dangling: f64 = (0..n)
            .filter(|i| g.out[*i].is_empty())
            .map(|i| rank[i])
            .sum();
        let base = (1.0 - DAMPING) / nf + DAMPING * dangling / nf;
        let mut next = vec![base; n];
        for (i, succ) in g.out.iter().enumerate() {
            if succ.is_empty() {
                continue;
            }
            let share = DAMPING * rank[i] / succ.len() as f64;
            for &j in succ {
                next[j] += share;
            }
        }
        let delta: f64 = next.iter().zip(&rank).map(|(a, b)| (a - b).abs()).sum();
        rank = next;
        if delta < 1e-12 {
            break;
        }
    }
    rank
}

/// Betweenness (Brandes; unnormalized: the number of shortest paths between
/// other pairs that pass through a node, split evenly among equal paths)
/// and closeness (Wasserman–Faust: `(r / (n-1)) * (r / sum of distances)`
/// over the `r` nodes a node reaches), from one breadth-first search per node.
pub fn betweenness_and_closeness(g: &NameGraph) -> (Vec<f64>, Vec<f64>) {
    let n = g.names.len();
    // Sources in fixed chunks, run in parallel, summed in chunk order: the
    // same floating-point result whatever the number of threads.
    let chunk = n.div_ceil(64).max(1);
    let starts: Vec<usize> = (0..n).step_by(chunk).collect();
    let partial: Vec<Contribution> = starts
        .par_iter()
        .map(|&from| brandes(g, from..(from + chunk).min(n)))
        .collect();
    let mut between = vec![0.0; n];
    let mut close = vec![0.0; n];
    for (b, c) in partial {
        for (acc, x) in between.iter_mut().zip(b) {
            *acc += x;
        }
        for (s, x) in c {
            close[s] = x;
        }
    }
    (between, close)
}

/// Betweenness contributions of some sources, and each source's closeness.
type Contribution = (Vec<f64>, Vec<(usize, f64)>);

/// Brandes' accumulation for the sources in `sources`.
fn brandes(g: &NameGraph, sources: std::ops::Range<usize>) -> Contribution {
    let n = g.names.len();
    let mut between = vec![0.0; n];
    let mut close = Vec::with_capacity(sources.len());
    let mut sigma = vec![0.0f64; n];
    let mut dist = vec![-1i64; n];
    let mut delta = vec![0.0f64; n];
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut queue = VecDeque::new();
    for s in sources {
        // Only what the previous search touched needs resetting.
        for &v in &order {
            sigma[v] = 0.0;
            dist[v] = -1;
            delta[v] = 0.0;
            preds[v].clear();
        }
        order.clear();
        sigma[s] = 1.0;
        dist[s] = 0;
        queue.push_back(s);
        while let Some(v) = queue.pop_front() {
            order.push(v);
            for &w in &g.out[v] {
                if dist[w] < 0 {
                    dist[w] = dist[v] + 1;
                    queue.push_back(w);
                }
                if dist[w] == dist[v] + 1 {
                    sigma[w] += sigma[v];
                    preds[w].push(v);
                }
            }
        }
        let reached = order.len() - 1;
        let total: i64 = order.iter().map(|v| dist[*v]).sum();
        if reached > 0 && total > 0 && n > 1 {
            let r = reached as f64;
            close.push((s, (r / (n - 1) as f64) * (r / total as f64)));
        }
        for &w in order.iter().rev() {
            for &v in &preds[w] {
                delta[v] += sigma[v] / sigma[w] * (1.0 + delta[w]);
            }
            if w != s {
                between[w] += delta[w];
            }
        }
    }
    (between, close)
}

/// Every node's figures, in name order.
pub fn centrality(g: &NameGraph) -> Vec<CentralityRow> {
    let rank = pagerank(g);
    let (between, close) = betweenness_and_closeness(g);
    (0..g.names.len())
        .map(|i| CentralityRow {
            name: g.names[i].clone(),
            in_degree: g.inc[i].len() as u32,
            out_degree: g.out[i].len() as u32,
            pagerank: rank[i],
            betweenness: between[i],
            closeness: close[i],
        })
        .collect()
}
