//! Communities of the module graph, taken as undirected (an edge's weight is
//! how many directions link the pair): Louvain (greedy modularity with graph
//! aggregation) and label propagation. Both are deterministic: nodes are
//! visited in name order and ties go to the smallest label.

use std::collections::BTreeMap;

use super::NameGraph;

/// An undirected weighted graph: adjacency with weights, self loops allowed
/// (they appear when Louvain aggregates a community into one node).
#[derive(Debug, Clone)]
struct Weighted {
    adj: Vec<BTreeMap<usize, f64>>,
}

impl Weighted {
    fn of(g: &NameGraph) -> Weighted {
        let mut adj = vec![BTreeMap::new(); g.names.len()];
        for (a, succ) in g.out.iter().enumerate() {
            for &b in succ {
                *adj[a].entry(b).or_insert(0.0) += 1.0;
                *adj[b].entry(a).or_insert(0.0) += 1.0;
            }
        }
        Weighted { adj }
    }

    /// Weighted degree; a self loop counts twice, as in the modularity formula.
    fn degree(&self, v: usize) -> f64 {
        self.adj[v]
            .iter()
            .map(|(u, w)| if *u == v { 2.0 * w } else { *w })
            .sum()
    }

    /// Twice the total edge weight.
    fn two_m(&self) -> f64 {
        (0..self.adj.len()).map(|v| self.degree(v)).sum()
    }
}

/// Newman's modularity of `community` (one label per node) on `g`.
pub fn modularity(g: &NameGraph, community: &[usize]) -> f64 {
    modularity_of(&Weighted::of(g), community)
}

fn modularity_of(w: &Weighted, community: &[usize]) -> f64 {
    let two_m = w.two_m();
    if two_m == 0.0 {
        return 0.0;
    }
    let mut inside: BTreeMap<usize, f64> = BTreeMap::new();
    let mut total: BTreeMap<usize, f64> = BTreeMap::new();
    for v in 0..w.adj.len() {
        *total.entry(community[v]).or_insert(0.0) += w.degree(v);
        for (u, weight) in &w.adj[v] {
            if community[*u] == community[v] {
                // Each undirected edge is seen from both ends; a self loop once
                // but counts twice.
                let x = if *u == v { 2.0 * weight } else { *weight };
                *inside.entry(community[v]).or_insert(0.0) += x;
            }
        }
    }
    total
        .iter()
        .map(|(c, t)| inside.get(c).copied().unwrap_or(0.0) / two_m - (t / two_m).powi(2))
        .sum()
}

/// Louvain: move nodes to the neighbouring community with the best
/// modularity gain until nothing improves, merge communities into nodes,
/// repeat. Returns a community index per node (numbered by first member in
/// name order) and the modularity.
pub fn louvain(g: &NameGraph) -> (Vec<usize>, f64) {
    let n = g.names.len();
    let mut membership: Vec<usize> = (0..n).collect();
    let mut level = Weighted::of(g);
    loop {
        let two_m = level.two_m();
        if two_m == 0.0 {
            break;
        }
        let size = level.adj.len();
        let degree: Vec<f64> = (0..size).map(|v| level.degree(v)).collect();
        let mut community: Vec<usize> = (0..size).collect();
        let mut total: Vec<f64> = degree.clone();
        let mut moved_any = false;
        for _ in 0..100 {
            let mut moved = false;
            for v in 0..size {
                let own = community[v];
                let mut links: BTreeMap<usize, f64> = BTreeMap::new();
                for (u, w) in &level.adj[v] {
                    if *u != v {
                        *links.entry(community[*u]).or_insert(0.0) += w;
                    }
                }
                total[own] -= degree[v];
                let gain = |c: usize, k_in: f64| k_in - total[c] * degree[v] / two_m;
                let mut best = own;
                let mut best_gain = gain(own, links.get(&own).copied().unwrap_or(0.0));
                for (c, k_in) in &links {
                    let g = gain(*c, *k_in);
                    if g > best_gain + 1e-12 {
                        best = *c;
                        best_gain = g;
                    }
                }
                total[best] += degree[v];
                if best != own {
                    community[v] = best;
                    moved = true;
                    moved_any = true;
                }
            }
            if !moved {
                break;
            }
        }
        if !moved_any {
            break;
        }
        // Renumber the communities and fold them into the next level.
        let mut number: BTreeMap<usize, usize> = BTreeMap::new();
        for c in &community {
            let next = number.len();
            number.entry(*c).or_insert(next);
        }
        let mut next = Weighted {
            adj: vec![BTreeMap::new(); number.len()],
        };
        for v in 0..size {
            let cv = number[&community[v]];
            for (u, w) in &level.adj[v] {
                let cu = number[&community[*u]];
                // An edge inside a community becomes part of its self loop;
                // it is met from both ends, so each end adds half. Edges
                // between communities are kept in both directions as met.
                let x = if cu == cv && *u != v { w / 2.0 } else { *w };
                *next.adj[cv].entry(cu).or_insert(0.0) += x;
            }
        }
        for m in membership.iter_mut() {
            *m = number[&community[*m]];
        }
        level = next;
    }
    let membership = canonical(&membership);
    let q = modularity(g, &membership);
    (membership, q)
}

/// Label propagation (Raghavan et al.): every node takes the label most of
/// its neighbours carry (by weight), replacing its own only when strictly
/// ahead, until no label changes (at most 100 rounds). The algorithm wants a
/// random visiting order and random tie-breaks; both come from a fixed hash
/// here (xxh3 of the name, and of the label), so runs are repeatable and
/// embedded and cluster answers agree.
pub fn label_propagation(g: &NameGraph) -> Vec<usize> {
    let w = Weighted::of(g);
    let scramble = |x: u64| xxhash_rust::xxh3::xxh3_64(&x.to_le_bytes());
    let mut order: Vec<usize> = (0..g.names.len()).collect();
    order.sort_by_key(|v| (xxhash_rust::xxh3::xxh3_64(g.names[*v].as_bytes()), *v));
    let mut label: Vec<usize> = (0..g.names.len()).collect();
    for _ in 0..100 {
        let mut changed = false;
        for &v in &order {
            let mut votes: BTreeMap<usize, f64> = BTreeMap::new();
            for (u, weight) in &w.adj[v] {
                if *u != v {
                    *votes.entry(label[*u]).or_insert(0.0) += weight;
                }
            }
            let Some(top) = votes.values().copied().max_by(f64::total_cmp) else {
                continue;
            };
            if votes.get(&label[v]).is_some_and(|own| *own >= top) {
                continue;
            }
            let best = votes
                .iter()
                .filter(|(_, n)| **n >= top)
                .map(|(l, _)| *l)
                .min_by_key(|l| (scramble(*l as u64), *l));
            if let Some(best) = best {
                label[v] = best;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    canonical(&label)
}

/// Number communities 0, 1, ... in order of their first node.
fn canonical(labels: &[usize]) -> Vec<usize> {
    let mut number: BTreeMap<usize, usize> = BTreeMap::new();
    labels
        .iter()
        .map(|l| {
            let next = number.len();
            *number.entry(*l).or_insert(next)
        })
        .collect()
}
