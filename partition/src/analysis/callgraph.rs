//! The whole-program call graph, linked from per-function call summaries.
//!
//! Linking settles what a single module could not: a bare call that imports
//! without `only:` might provide goes to the imported module that exports
//! `name/arity`, and imports injected by `use` (through `__using__` quotes of
//! ingested modules, or known effects of standard ones) are taken into account.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use proto::{CallKind, DepKind, FunKind, Mfa, ModuleKind, ModuleSummary, Reached};

use serde::Serialize;

mod link;
mod linker;
mod order;
mod walks;

/// One function of the graph: defined in the ingested code or only called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FnInfo {
    pub mfa: Mfa,
    /// `None` for functions outside the ingested code.
    pub kind: Option<FunKind>,
    pub file: Option<Arc<str>>,
    pub line: u32,
    /// Marked `@deprecated` (in its source, a library's or the standard
    /// library table): the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Arc<str>>,
}

/// One call site, caller and callee as indexes into [`CallGraph::functions`].
/// Plain numbers only (32 bytes, `Copy`): a graph holds one per call of the
/// whole code base, and a relink copies those it keeps. The call's file is
/// its summary's ([`CallGraph::file_of`]); an unresolved call's candidates
/// are in the graph's table ([`CallGraph::candidates_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEdge {
    pub caller: u32,
    pub callee: u32,
    pub line: u32,
    pub column: u32,
    /// Position of the call in the caller's [`proto::FunctionSummary::calls`].
    pub site: u32,
    /// The caller's summary: its position in the summaries linked.
    pub summary: u32,
    /// For an unresolved call, the modules that might provide it: an index
    /// into [`CallGraph::candidates`] ([`NO_CANDIDATES`] for none).
    candidates: u32,
    pub kind: CallKind,
    /// The callee's module is known (analysed, a library or the standard
    /// library) and does not define the function: a resolution error, a
    /// function made by a macro the tool cannot see, or a real bug.
    pub undefined: bool,
}

/// The modules that might provide an unresolved call.
pub type Candidates = Arc<[Arc<str>]>;

/// [`CallEdge`]'s `candidates` for a call with none.
const NO_CANDIDATES: u32 = u32::MAX;

/// What [`CallGraph::changes_since`] found, as displayed names
/// (`Module.fun/arity`, `?.fun/arity` for unresolved callees).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GraphChanges {
    /// Functions whose set of callees changed, and every function added
    /// or removed.
    pub callers: HashSet<String>,
    /// Functions one of those gained or lost as a callee, and every
    /// function added or removed.
    pub callees: HashSet<String>,
}

impl GraphChanges {
    pub fn is_empty(&self) -> bool {
        self.callers.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct CallGraph {
    /// In name order: a function's id is its rank by name.
    pub functions: Vec<FnInfo>,
    /// Sorted by (caller module, caller function, arity, file, line, column, callee).
    pub calls: Vec<CallEdge>,
    /// The candidates of the unresolved calls that have some, in the order
    /// of `calls` (so that equal graphs number them alike).
    candidates: Vec<Candidates>,
    /// Where each function's calls start in `calls` (they are in caller
    /// order): function `id` makes `calls[out_start[id]..out_start[id + 1]]`.
    out_start: Vec<u32>,
    /// Edge indexes by callee, each function's run starting at its entry
    /// in `inc_start` (compressed rows).
    inc: Vec<u32>,
    inc_start: Vec<u32>,
    /// Per analysed module: the callbacks of the behaviours it has, declared
    /// with `@behaviour` or quoted by what it `use`s, as the behaviour
    /// (analysed, a library or the standard library) declares them.
    callbacks: FastMap<String, Arc<[(String, u16)]>>,
    /// Per analysed module: every module it `use`s, directly or through
    /// what it uses.
    uses: FastMap<String, Arc<[String]>>,
    /// What the next generation's [`CallGraph::relink`] starts from.
    state: link::LinkState,
}

/// Where each of `n` rows starts in `items`, which are in row order.
fn starts<T>(items: &[T], n: usize, row: impl Fn(&T) -> u32) -> Vec<u32> {
    let mut start = vec![0u32; n + 1];
    for t in items {
        start[row(t) as usize + 1] += 1;
    }
    for r in 0..n {
        start[r + 1] += start[r];
    }
    start
}

/// Compressed rows: for each of `n` rows, the indexes `i` of `items` with
/// `row(items[i]) == row`, in index order; and where each row starts.
fn rows<T>(items: &[T], n: usize, row: impl Fn(&T) -> u32) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; n + 1];
    for t in items {
        start[row(t) as usize + 1] += 1;
    }
    for r in 0..n {
        start[r + 1] += start[r];
    }
    let mut next = start.clone();
    let mut out = vec![0u32; items.len()];
    for (i, t) in items.iter().enumerate() {
        let r = row(t) as usize;
        out[next[r] as usize] = i as u32;
        next[r] += 1;
    }
    (out, start)
}

/// A hash map with a fast non-cryptographic hasher: the keys are names from
/// the analysed code, and linking hashes one per call.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// The module's public `name/arity` set, for linking.
fn exports<'a>(
    summaries: impl Iterator<Item = &'a Arc<ModuleSummary>>,
) -> FastMap<&'a str, FastSet<(&'a str, u16)>> {
    let mut out: FastMap<&str, FastSet<(&str, u16)>> = FastMap::default();
    for m in summaries {
        let e = out.entry(m.name.as_str()).or_default();
        for f in m.functions.iter().filter(|f| f.kind.is_public()) {
            e.insert((f.name.as_str(), f.arity));
        }
    }
    out
}

impl CallGraph {
    /// The callbacks of the behaviours `module` has (see the field).
    pub fn behaviour_callbacks(&self, module: &str) -> &[(String, u16)] {
        self.callbacks.get(module).map_or(&[], |c| c)
    }

    /// Every module `module` uses, directly or through what it uses.
    pub fn uses(&self, module: &str) -> &[String] {
        self.uses.get(module).map_or(&[], |u| u)
    }

    pub fn id(&self, mfa: &Mfa) -> Option<u32> {
        self.find((&mfa.module, &mfa.name, mfa.arity))
    }

    /// [`CallGraph::id`] of a (module, name, arity): ids are ranks by name.
    fn find(&self, (module, name, arity): (&str, &str, u16)) -> Option<u32> {
        self.functions
            .binary_search_by(|f| {
                let m = &f.mfa;
                (m.module.as_str(), m.name.as_str(), m.arity).cmp(&(module, name, arity))
            })
            .ok()
            .map(|i| i as u32)
    }

    pub fn mfa(&self, id: u32) -> &Mfa {
        &self.functions[id as usize].mfa
    }

    /// The indexes in `calls` of the calls `id` makes.
    pub fn call_ids_from(&self, id: u32) -> std::ops::Range<u32> {
        match (
            self.out_start.get(id as usize),
            self.out_start.get(id as usize + 1),
        ) {
            (Some(&a), Some(&b)) => a..b,
            _ => 0..0,
        }
    }

    /// The file of a call: its caller's summary's.
    pub fn file_of(&self, call: &CallEdge) -> &str {
        self.state.file_of(call.summary)
    }

    /// For an unresolved call: the imported or used modules whose exports
    /// cannot be seen, any of which might provide it.
    pub fn candidates_of(&self, call: &CallEdge) -> Option<&Candidates> {
        self.candidates.get(call.candidates as usize)
    }

    /// Calls made by a function.
    pub fn calls_from(&self, id: u32) -> impl Iterator<Item = &CallEdge> {
        let ids = self.call_ids_from(id);
        self.calls[ids.start as usize..ids.end as usize].iter()
    }

    fn row<'g>(items: &'g [u32], start: &[u32], id: u32) -> &'g [u32] {
        match (start.get(id as usize), start.get(id as usize + 1)) {
            (Some(&a), Some(&b)) => &items[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Calls into a function (edge indexes).
    pub fn calls_to(&self, id: u32) -> impl Iterator<Item = &CallEdge> {
        Self::row(&self.inc, &self.inc_start, id)
            .iter()
            .map(|&i| &self.calls[i as usize])
    }

    /// Functions that call `mfa`, transitively up to `depth` (1 = direct),
    /// each at its shortest distance; sorted by (depth, name).
    pub fn callers(&self, mfa: &Mfa, depth: u32) -> Vec<Reached> {
        self.walk(mfa, depth, |g, id| {
            g.calls_to(id).map(|c| c.caller).collect()
        })
    }

    /// Functions that `mfa` calls, transitively up to `depth`.
    pub fn callees(&self, mfa: &Mfa, depth: u32) -> Vec<Reached> {
        self.walk(mfa, depth, |g, id| {
            g.calls_from(id).map(|c| c.callee).collect()
        })
    }

    /// Functions defined in the ingested code.
    pub fn defined(&self) -> impl Iterator<Item = &Mfa> {
        self.functions
            .iter()
            .filter(|f| f.kind.is_some())
            .map(|f| &f.mfa)
    }

    /// How the calls changed from `old` to this graph, by function name: the
    /// functions whose set of callees differs, and the functions gained or
    /// lost as callees by them. A walk over callers (callees) that meets no
    /// function of `callees` (`callers`) finds the same in both graphs.
    pub fn changes_since(&self, old: &CallGraph) -> GraphChanges {
        if let Some(delta) = self.state.delta.as_ref() {
            if delta.base == old.state.id {
                return self.changes_in(old, delta);
            }
        }
        // Callees are compared as ids of the old graph: each function is
        // looked up by name once, not once per call that reaches it.
        // `u32::MAX - id` stands for a function only the new graph has.
        let mut in_both = vec![false; old.functions.len()];
        let to_old: Vec<u32> = self
            .functions
            .iter()
            .enumerate()
            .map(|(id, f)| match old.id(&f.mfa) {
                Some(o) => {
                    in_both[o as usize] = true;
                    o
                }
                None => u32::MAX - id as u32,
            })
            .collect();
        let name = |key: u32| -> &Mfa {
            if (key as usize) < old.functions.len() {
                old.mfa(key)
            } else {
                self.mfa(u32::MAX - key)
            }
        };
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let mut changes = GraphChanges::default();
        let mut note = |f: &Mfa, before: &[u32], after: &[u32]| {
            if before == after {
                return;
            }
            changes.callers.insert(f.to_string());
            for &g in before.iter().filter(|g| after.binary_search(g).is_err()) {
                changes.callees.insert(name(g).to_string());
            }
            for &g in after.iter().filter(|g| before.binary_search(g).is_err()) {
                changes.callees.insert(name(g).to_string());
            }
        };
        fn fill(v: &mut Vec<u32>, calls: impl Iterator<Item = u32>) {
            v.clear();
            v.extend(calls);
            v.sort_unstable();
            v.dedup();
        }
        let mut appeared = Vec::new();
        for (id, f) in self.functions.iter().enumerate() {
            fill(
                &mut after,
                self.calls_from(id as u32)
                    .map(|c| to_old[c.callee as usize]),
            );
            match to_old[id] {
                o if (o as usize) < old.functions.len() => {
                    fill(&mut before, old.calls_from(o).map(|c| c.callee));
                    note(&f.mfa, &before, &after);
                }
                _ => {
                    note(&f.mfa, &[], &after);
                    appeared.push(f.mfa.to_string());
                }
            }
        }
        for (id, f) in old.functions.iter().enumerate() {
            if !in_both[id] {
                fill(&mut before, old.calls_from(id as u32).map(|c| c.callee));
                note(&f.mfa, &before, &[]);
                appeared.push(f.mfa.to_string());
            }
        }
        // A function that appeared or vanished changed both ways, even
        // with no call: a query about it now finds it, or no longer does.
        for f in appeared {
            changes.callers.insert(f.clone());
            changes.callees.insert(f);
        }
        changes
    }

    /// [`CallGraph::changes_since`] for a graph relinked from `old`: only
    /// the functions `delta` names can have other callees.
    fn changes_in(&self, old: &CallGraph, delta: &link::Delta) -> GraphChanges {
        let mut candidates: BTreeSet<&Mfa> = delta.callers.iter().map(|&id| self.mfa(id)).collect();
        candidates.extend(delta.old_callers.iter().map(|&id| old.mfa(id)));
        let callees = |g: &CallGraph, f: &Mfa| -> BTreeSet<String> {
            g.id(f).map_or_else(BTreeSet::new, |id| {
                g.calls_from(id)
                    .map(|c| g.mfa(c.callee).to_string())
                    .collect()
            })
        };
        let mut changes = GraphChanges::default();
        for f in candidates {
            let (before, after) = (callees(old, f), callees(self, f));
            if before != after {
                changes.callers.insert(f.to_string());
                changes
                    .callees
                    .extend(before.symmetric_difference(&after).cloned());
            }
        }
        // A function that appeared or vanished changed both ways.
        let gone = delta.vanished.iter().map(|&id| old.mfa(id));
        for f in delta.appeared.iter().map(|&id| self.mfa(id)).chain(gone) {
            changes.callers.insert(f.to_string());
            changes.callees.insert(f.to_string());
        }
        changes
    }

    fn walk(
        &self,
        mfa: &Mfa,
        depth: u32,
        next: impl Fn(&CallGraph, u32) -> BTreeSet<u32>,
    ) -> Vec<Reached> {
        let Some(start) = self.id(mfa) else {
            return Vec::new();
        };
        let mut seen = HashSet::from([start]);
        let mut out = Vec::new();
        let mut queue = VecDeque::from([(start, 0u32)]);
        while let Some((id, d)) = queue.pop_front() {
            if d >= depth {
                continue;
            }
            for n in next(self, id) {
                if seen.insert(n) {
                    out.push(Reached {
                        depth: d + 1,
                        mfa: self.mfa(n).clone(),
                    });
                    queue.push_back((n, d + 1));
                }
            }
        }
        out.sort();
        out
    }
}
