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

mod linker;
use linker::Linker;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEdge {
    pub caller: u32,
    pub callee: u32,
    pub kind: CallKind,
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
    /// Position of the call in the caller's [`proto::FunctionSummary::calls`].
    #[serde(skip)]
    pub site: u32,
    /// For an unresolved call: the imported or used modules whose exports
    /// cannot be seen, any of which might provide it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Box<Vec<Arc<str>>>>,
    /// The callee's module is known (analysed, a library or the standard
    /// library) and does not define the function: a resolution error, a
    /// function made by a macro the tool cannot see, or a real bug.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub undefined: bool,
}

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
    pub functions: Vec<FnInfo>,
    index: FastMap<Mfa, u32>,
    /// Sorted by (caller module, caller function, arity, file, line, column, callee).
    pub calls: Vec<CallEdge>,
    /// Edge indexes by caller and by callee, each function's run starting
    /// at its entry in the `_start` vector (compressed rows).
    out: Vec<u32>,
    out_start: Vec<u32>,
    inc: Vec<u32>,
    inc_start: Vec<u32>,
    /// Per analysed module: the callbacks of the behaviours it has, declared
    /// with `@behaviour` or quoted by what it `use`s, as the behaviour
    /// (analysed, a library or the standard library) declares them.
    callbacks: FastMap<String, Vec<(String, u16)>>,
    /// Per analysed module: every module it `use`s, directly or through
    /// what it uses.
    uses: FastMap<String, Vec<String>>,
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
    /// Link the summaries into a call graph. Calls inside `quote` are code for
    /// other modules and are left out; dynamic calls stay, with their kind.
    pub fn build(summaries: &[Arc<ModuleSummary>]) -> CallGraph {
        Self::link(summaries, &[])
    }

    /// Link the analysed code's summaries, resolving against `libraries`
    /// (dependencies' modules: their exports and what their `use` injects)
    /// and the standard library; only the analysed code's calls are edges.
    pub fn link<'s>(
        summaries: &'s [Arc<ModuleSummary>],
        libraries: &'s [Arc<ModuleSummary>],
    ) -> CallGraph {
        let linker = Linker::new(summaries, libraries);
        // Functions are interned by borrowed (module, name, arity) while
        // linking, so a call costs a hash lookup, not two allocations.
        let mut ids: FastMap<(&'s str, &'s str, u16), u32> = FastMap::default();
        let mut functions: Vec<FnInfo> = Vec::new();
        let mut intern = |key: (&'s str, &'s str, u16)| -> u32 {
            *ids.entry(key).or_insert_with(|| {
                functions.push(FnInfo {
                    mfa: Mfa::new(key.0, key.1, key.2),
                    kind: None,
                    file: None,
                    line: 0,
                    deprecated: None,
                });
                functions.len() as u32 - 1
            })
        };
        let files: Vec<Arc<str>> = summaries
            .iter()
            .map(|m| Arc::from(m.file.as_str()))
            .collect();
        let mut defined = Vec::new();
        for (m, file) in summaries.iter().zip(&files) {
            for f in &m.functions {
                defined.push((intern((&m.name, &f.name, f.arity)), f, file));
            }
        }
        let mut calls = Vec::new();
        for (mi, m) in summaries.iter().enumerate() {
            for f in &m.functions {
                let caller = intern((&m.name, &f.name, f.arity));
                for (site, c) in f.calls.iter().enumerate().filter(|(_, c)| !c.quoted) {
                    let site = site as u32;
                    // `{Module, :fun}`: every `fun` the module exports.
                    if c.kind == CallKind::Reference && c.arity == proto::ANY_ARITY {
                        let Some(module) = c.module.as_deref() else {
                            continue;
                        };
                        let mut arities: Vec<u16> = linker
                            .exports
                            .get(module)
                            .map(|e| {
                                e.iter()
                                    .filter(|(n, _)| *n == c.name)
                                    .map(|(_, a)| *a)
                                    .collect()
                            })
                            .unwrap_or_default();
                        arities.sort_unstable();
                        for a in arities {
                            let callee = intern((module, &c.name, a));
                            let at = (c.line, c.column);
                            let kind = CallKind::Reference;
                            calls.push((caller, callee, kind, at, site, mi, None, false));
                        }
                        continue;
                    }
                    let (module, kind, candidates) = linker.link(&m.name, c);
                    // In an Ecto query, what `Ecto.Query.API` does not define
                    // (`assoc/2`, `fragment/3`) is query syntax, not a call.
                    if kind == CallKind::Unresolved
                        && candidates.is_empty()
                        && c.candidates.iter().any(|m| m == "Ecto.Query.API")
                        && linker.provides("Ecto.Query.API", "fragment", 1).is_some()
                    {
                        continue;
                    }
                    // A local call is to a definition by construction (the
                    // front end's pre-scan, or a function `use` or a macro
                    // made); any other is checked against the exports.
                    let defined = match (module, kind) {
                        (Some(_), CallKind::Local) => Some(true),
                        (Some(callee), _) => linker.provides(callee, &c.name, c.arity),
                        (None, _) => None,
                    };
                    // What a macro wires together (a route to an action, a
                    // template's component) exists only where its target does.
                    if matches!(kind, CallKind::Macro | CallKind::Reference)
                        && defined != Some(true)
                    {
                        continue;
                    }
                    let undefined = defined == Some(false) && kind != CallKind::Dynamic;
                    let callee = intern((module.unwrap_or(""), &c.name, c.arity));
                    let candidates = (!candidates.is_empty()).then(|| {
                        Box::new(candidates.into_iter().map(Arc::from).collect::<Vec<_>>())
                    });
                    let at = (c.line, c.column);
                    calls.push((caller, callee, kind, at, site, mi, candidates, undefined));
                    for target in linker.process_targets(&m.name, c) {
                        calls.push((
                            caller,
                            intern(target),
                            CallKind::Process,
                            at,
                            site,
                            mi,
                            None,
                            false,
                        ));
                    }
                }
            }
        }
        // What `use` injects calls the using module's functions: from its
        // module body (where `use` expands), at the `use` line, when the
        // module's source defines the function.
        for (mi, m) in summaries.iter().enumerate() {
            let effects = linker.use_effects(&m.name);
            if effects.calls.is_empty() {
                continue;
            }
            let line = m
                .deps
                .iter()
                .find(|d| d.kind == DepKind::Use)
                .map_or(m.line, |d| d.line);
            let body = intern((&m.name, "__module__", 0));
            for &(name, arity) in &effects.calls {
                // Only into the module's own source: calls among the
                // injected functions are the macro's business.
                if m.functions
                    .iter()
                    .any(|f| f.name == name && f.arity == arity)
                {
                    let callee = intern((&m.name, name, arity));
                    calls.push((
                        body,
                        callee,
                        CallKind::Macro,
                        (line, 0),
                        u32::MAX,
                        mi,
                        None,
                        false,
                    ));
                }
            }
        }
        for (id, f, file) in defined {
            let info = &mut functions[id as usize];
            if info.kind.is_none() {
                info.kind = Some(f.kind);
                info.file = Some(file.clone());
                info.line = f.line;
            }
        }
        // Deprecations, from the source (the analysed code's, a library's)
        // or the standard library table.
        let mut deprecated: FastMap<(&str, &str, u16), &str> = FastMap::default();
        for m in summaries.iter().chain(libraries) {
            for f in &m.functions {
                if let Some(d) = &f.deprecated {
                    deprecated.insert((&m.name, &f.name, f.arity), d);
                }
            }
        }
        for info in &mut functions {
            let (m, n, a) = (&info.mfa.module, &info.mfa.name, info.mfa.arity);
            let found = deprecated
                .get(&(m.as_str(), n.as_str(), a))
                .copied()
                .or_else(|| {
                    linker
                        .std
                        .module(m)
                        // (Most modules have none: no key to build.)
                        .filter(|lm| !lm.deprecated.is_empty())
                        .and_then(|lm| lm.deprecated.get(&(n.clone(), a)))
                        .map(String::as_str)
                });
            info.deprecated = found.map(Arc::from);
        }
        // Order calls by (caller, file, line, column, callee) with integer
        // keys: the rank of each function's name and of each file.
        let mut by_name: Vec<u32> = (0..functions.len() as u32).collect();
        by_name
            .sort_unstable_by(|&a, &b| functions[a as usize].mfa.cmp(&functions[b as usize].mfa));
        let mut rank = vec![0u32; functions.len()];
        for (r, &id) in by_name.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        let mut file_names: Vec<&str> = summaries.iter().map(|m| m.file.as_str()).collect();
        file_names.sort_unstable();
        file_names.dedup();
        let file_rank: FastMap<&str, u32> = file_names
            .iter()
            .enumerate()
            .map(|(i, f)| (*f, i as u32))
            .collect();
        let module_file: Vec<u32> = summaries
            .iter()
            .map(|m| file_rank.get(m.file.as_str()).copied().unwrap_or(0))
            .collect();
        // Callers in name order, each one's calls sorted among themselves;
        // the position in `calls` breaks ties, which keeps identical keys
        // in the order they were linked.
        let (by_caller, caller_start) = rows(&calls, functions.len(), |c| c.0);
        let mut order: Vec<u32> = Vec::with_capacity(calls.len());
        let mut group: Vec<([u32; 4], u32)> = Vec::new();
        for &caller in &by_name {
            group.clear();
            group.extend(
                Self::row(&by_caller, &caller_start, caller)
                    .iter()
                    .map(|&i| {
                        let (_, callee, _, (line, column), _, mi, _, _) = &calls[i as usize];
                        let (callee, mi) = (*callee, *mi);
                        ([module_file[mi], *line, *column, rank[callee as usize]], i)
                    }),
            );
            group.sort_unstable();
            order.extend(group.iter().map(|(_, i)| *i));
        }
        let mut slots: Vec<Option<_>> = calls.into_iter().map(Some).collect();
        let calls: Vec<CallEdge> = order
            .into_iter()
            .filter_map(|i| slots[i as usize].take())
            .map(
                |(caller, callee, kind, (line, column), site, mi, candidates, undefined)| {
                    CallEdge {
                        caller,
                        callee,
                        kind,
                        file: files[mi].clone(),
                        line,
                        column,
                        site,
                        candidates,
                        undefined,
                    }
                },
            )
            .collect();
        let n = functions.len();
        let (out, out_start) = rows(&calls, n, |c| c.caller);
        let (inc, inc_start) = rows(&calls, n, |c| c.callee);
        let callbacks = summaries
            .iter()
            .filter(|m| m.kind != ModuleKind::Template)
            .map(|m| (m.name.clone(), linker.behaviour_callbacks(m)))
            .filter(|(_, c)| !c.is_empty())
            .collect();
        let uses = summaries
            .iter()
            .map(|m| {
                let used = linker.use_effects(&m.name).used.clone();
                (
                    m.name.clone(),
                    used.into_iter().map(str::to_string).collect(),
                )
            })
            .filter(|(_, u): &(String, Vec<String>)| !u.is_empty())
            .collect();
        CallGraph {
            callbacks,
            uses,
            index: functions
                .iter()
                .enumerate()
                .map(|(i, f)| (f.mfa.clone(), i as u32))
                .collect(),
            functions,
            calls,
            out,
            out_start,
            inc,
            inc_start,
        }
    }

    /// The callbacks of the behaviours `module` has (see the field).
    pub fn behaviour_callbacks(&self, module: &str) -> &[(String, u16)] {
        self.callbacks.get(module).map_or(&[], Vec::as_slice)
    }

    /// Every module `module` uses, directly or through what it uses.
    pub fn uses(&self, module: &str) -> &[String] {
        self.uses.get(module).map_or(&[], Vec::as_slice)
    }

    pub fn id(&self, mfa: &Mfa) -> Option<u32> {
        self.index.get(mfa).copied()
    }

    pub fn mfa(&self, id: u32) -> &Mfa {
        &self.functions[id as usize].mfa
    }

    /// Calls made by a function (edge indexes).
    pub fn calls_from(&self, id: u32) -> impl Iterator<Item = &CallEdge> {
        Self::row(&self.out, &self.out_start, id)
            .iter()
            .map(|&i| &self.calls[i as usize])
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
