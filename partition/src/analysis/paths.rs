//! Call paths between two functions: the shortest one, and every simple
//! path up to a length, at most so many.

use std::collections::{BTreeSet, VecDeque};

use proto::{Mfa, Paths};

use super::CallGraph;

fn successors(graph: &CallGraph, id: u32) -> BTreeSet<u32> {
    graph.calls_from(id).map(|c| c.callee).collect()
}

/// The shortest call path from `from` to `to` (both included), if any.
pub fn shortest_path(graph: &CallGraph, from: &Mfa, to: &Mfa) -> Option<Vec<Mfa>> {
    let (start, goal) = (graph.id(from)?, graph.id(to)?);
    let mut parent: Vec<Option<u32>> = vec![None; graph.functions.len()];
    let mut seen = vec![false; graph.functions.len()];
    seen[start as usize] = true;
    let mut queue = VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        if at == goal {
            let mut path = vec![graph.mfa(at).clone()];
            let mut cur = at;
            while let Some(p) = parent[cur as usize] {
                path.push(graph.mfa(p).clone());
                cur = p;
            }
            path.reverse();
            return Some(path);
        }
        for n in successors(graph, at) {
            if !seen[n as usize] {
                seen[n as usize] = true;
                parent[n as usize] = Some(at);
                queue.push_back(n);
            }
        }
    }
    None
}

/// Every simple call path from `from` to `to` with at most `max_depth`
/// calls, in depth-first order of callee ids, at most `max_paths` of them
/// (`truncated` says whether more were left out), and the shortest path.
pub fn paths(graph: &CallGraph, from: &Mfa, to: &Mfa, max_depth: u32, max_paths: u32) -> Paths {
    let mut found: Vec<Vec<Mfa>> = Vec::new();
    let mut truncated = false;
    if let (Some(start), Some(goal)) = (graph.id(from), graph.id(to)) {
        let mut stack: Vec<u32> = vec![start];
        let mut on_path: BTreeSet<u32> = BTreeSet::from([start]);
        // Each frame: the node and its remaining successors.
        let mut frames: Vec<Vec<u32>> = vec![successors(graph, start).into_iter().rev().collect()];
        while let Some(frame) = frames.last_mut() {
            let Some(next) = frame.pop() else {
                frames.pop();
                if let Some(done) = stack.pop() {
                    on_path.remove(&done);
                }
                continue;
            };
            if on_path.contains(&next) {
                continue;
            }
            if next == goal {
                if found.len() as u32 == max_paths {
                    truncated = true;
                    break;
                }
                let mut path: Vec<Mfa> = stack.iter().map(|i| graph.mfa(*i).clone()).collect();
                path.push(graph.mfa(goal).clone());
                found.push(path);
                continue;
            }
            if (stack.len() as u32) < max_depth {
                stack.push(next);
                on_path.insert(next);
                frames.push(successors(graph, next).into_iter().rev().collect());
            }
        }
    }
    Paths {
        from: from.clone(),
        to: to.clone(),
        shortest: shortest_path(graph, from, to),
        all: found,
        truncated,
    }
}
