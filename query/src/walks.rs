//! Point queries as walks: callers, callees and a function's impact are
//! breadth-first walks of the linked call graph, which a snapshot makes
//! here ([`PointWalk::here`]) and a coordinator can make in rounds on the
//! storage nodes ([`Rounds`], with each partition's share of the graph,
//! `proto::walks`). Both end in [`PointWalk::result`], so they agree.

use std::collections::{BTreeMap, HashSet};

use partition::analysis::function_impact_of;
use partition::partitioning::partition_of;
use proto::assignment::PartitionId;
use proto::walks::Direction;
use proto::{CpgError, Mfa, Query, QueryResult, Reached};

use crate::{known, not_found, Snapshot};

/// Which point query a walk answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointKind {
    Callers,
    Callees,
    /// Of a function: its callers (upstream) and callees (downstream).
    Impact,
}

/// A point query over functions, checked against a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointWalk {
    pub function: Mfa,
    pub depth: u32,
    pub kind: PointKind,
}

fn depth_at_least_one(depth: u32) -> Result<(), CpgError> {
    if depth == 0 {
        return Err(CpgError::InvalidInput {
            reason: "depth must be at least 1".into(),
        });
    }
    Ok(())
}

/// The walk `query` is, checked as [`crate::compute`] checks it (depth,
/// the function known to `snapshot`); `None` for any other query, a
/// module's impact included.
pub fn point_walk(snapshot: &Snapshot, query: &Query) -> Option<Result<PointWalk, CpgError>> {
    let (function, depth, kind) = match query {
        Query::Callers { function, depth } => (function.clone(), *depth, PointKind::Callers),
        Query::Callees { function, depth } => (function.clone(), *depth, PointKind::Callees),
        Query::Impact { target, depth } if target.contains('/') => {
            let function = match target.parse::<Mfa>() {
                Ok(f) => f,
                Err(e) => {
                    return Some(depth_at_least_one(*depth).and(Err(CpgError::InvalidInput {
                        reason: e.to_string(),
                    })))
                }
            };
            (function, *depth, PointKind::Impact)
        }
        _ => return None,
    };
    Some(checked(snapshot, function, depth, kind))
}

fn checked(
    snapshot: &Snapshot,
    function: Mfa,
    depth: u32,
    kind: PointKind,
) -> Result<PointWalk, CpgError> {
    depth_at_least_one(depth)?;
    match kind {
        PointKind::Impact if snapshot.graph.id(&function).is_none() => {
            return Err(not_found(
                snapshot,
                format!(
                    "{function} is not in the analyzed code; give a module name or Module.fun/arity"
                ),
            ))
        }
        PointKind::Impact => {}
        _ => known(snapshot, &function)?,
    }
    Ok(PointWalk {
        function,
        depth,
        kind,
    })
}

impl PointWalk {
    /// The directions to walk, callers first.
    pub fn directions(&self) -> &'static [Direction] {
        match self.kind {
            PointKind::Callers => &[Direction::Callers],
            PointKind::Callees => &[Direction::Callees],
            PointKind::Impact => &[Direction::Callers, Direction::Callees],
        }
    }

    /// The answer, with the snapshot's own graph.
    pub fn here(&self, snapshot: &Snapshot) -> QueryResult {
        let graph = &snapshot.graph;
        let walk = |d: &Direction| match d {
            Direction::Callers => graph.callers(&self.function, self.depth),
            Direction::Callees => graph.callees(&self.function, self.depth),
        };
        let walks: Vec<Vec<Reached>> = self.directions().iter().map(walk).collect();
        self.result(snapshot, walks)
    }

    /// The answer from the walks in [`PointWalk::directions`]' order, each
    /// sorted by (depth, function).
    pub fn result(&self, snapshot: &Snapshot, walks: Vec<Vec<Reached>>) -> QueryResult {
        let mut walks = walks.into_iter();
        let mut next = || walks.next().unwrap_or_default();
        match self.kind {
            PointKind::Callers | PointKind::Callees => QueryResult::Reached(next()),
            PointKind::Impact => {
                let (callers, callees) = (next(), next());
                QueryResult::Impact(Box::new(function_impact_of(
                    &self.function,
                    self.depth,
                    callers,
                    callees,
                    snapshot.graph.defined().count(),
                )))
            }
        }
    }
}

/// A breadth-first walk made in rounds, one per depth: the caller expands
/// [`Rounds::frontier`] (wherever the graph is) and hands the neighbours to
/// [`Rounds::advance`] until the frontier is empty. Each function is
/// reached once, at its shortest distance, as [`PointWalk::here`] does.
#[derive(Debug)]
pub struct Rounds {
    depth: u32,
    at: u32,
    seen: HashSet<Mfa>,
    frontier: Vec<Mfa>,
    reached: Vec<Reached>,
}

impl Rounds {
    pub fn new(start: &Mfa, depth: u32) -> Rounds {
        Rounds {
            depth,
            at: 0,
            seen: HashSet::from([start.clone()]),
            frontier: vec![start.clone()],
            reached: Vec::new(),
        }
    }

    /// The functions to expand next; empty once the walk is done.
    pub fn frontier(&self) -> &[Mfa] {
        if self.at >= self.depth {
            return &[];
        }
        &self.frontier
    }

    /// The frontier by the partition of each function's module, among
    /// `partitions`: where each part of the next round is expanded.
    pub fn frontier_by_partition(&self, partitions: u32) -> BTreeMap<PartitionId, Vec<Mfa>> {
        let mut out: BTreeMap<PartitionId, Vec<Mfa>> = BTreeMap::new();
        for f in self.frontier() {
            out.entry(partition_of(&f.module, partitions))
                .or_default()
                .push(f.clone());
        }
        out
    }

    /// The frontier's neighbours: those not met before are the next
    /// frontier, one step further.
    pub fn advance(&mut self, neighbours: impl IntoIterator<Item = Mfa>) {
        self.at += 1;
        let mut next = Vec::new();
        for n in neighbours {
            if self.seen.insert(n.clone()) {
                self.reached.push(Reached {
                    depth: self.at,
                    mfa: n.clone(),
                });
                next.push(n);
            }
        }
        self.frontier = next;
    }

    /// What was reached, sorted by (depth, function).
    pub fn finish(mut self) -> Vec<Reached> {
        self.reached.sort();
        self.reached
    }
}
