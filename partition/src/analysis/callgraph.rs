//! The whole-program call graph, linked from per-function call summaries.
//!
//! Linking settles what a single module could not: a bare call that imports
//! without `only:` might provide goes to the imported module that exports
//! `name/arity`, and imports injected by `use` (through `__using__` quotes of
//! ingested modules, or known effects of standard ones) are taken into account.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use proto::{
    CallKind, CallSummary, DepKind, FunKind, InjectionKind, Mfa, ModuleKind, ModuleSummary, Reached,
};

use crate::frontend::USE_EFFECTS;
use crate::library::Library;
use crate::summary::is_process_call;
use serde::Serialize;

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
    pub fn defined(&self) -> usize {
        self.functions.iter().filter(|f| f.kind.is_some()).count()
    }

    /// How the calls changed from `old` to this graph, by function name: the
    /// functions whose set of callees differs, and the functions gained or
    /// lost as callees by them. A walk over callers (callees) that meets no
    /// function of `callees` (`callers`) finds the same in both graphs.
    pub fn changes_since(&self, old: &CallGraph) -> GraphChanges {
        fn callee_names(g: &CallGraph, id: u32) -> Vec<&Mfa> {
            let mut v: Vec<&Mfa> = g.calls_from(id).map(|c| g.mfa(c.callee)).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        let mut changes = GraphChanges::default();
        let mut note = |f: &Mfa, before: &[&Mfa], after: &[&Mfa]| {
            if before == after {
                return;
            }
            changes.callers.insert(f.to_string());
            for g in before.iter().filter(|g| after.binary_search(g).is_err()) {
                changes.callees.insert(g.to_string());
            }
            for g in after.iter().filter(|g| before.binary_search(g).is_err()) {
                changes.callees.insert(g.to_string());
            }
        };
        let mut appeared = Vec::new();
        for (id, f) in self.functions.iter().enumerate() {
            let after = callee_names(self, id as u32);
            match old.id(&f.mfa) {
                Some(o) => note(&f.mfa, &callee_names(old, o), &after),
                None => {
                    note(&f.mfa, &[], &after);
                    appeared.push(f.mfa.to_string());
                }
            }
        }
        for (id, f) in old.functions.iter().enumerate() {
            if self.id(&f.mfa).is_none() {
                note(&f.mfa, &callee_names(old, id as u32), &[]);
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

/// Functions a framework calls by convention in the modules that use it,
/// without declaring them as callbacks: Ecto's migration runner calls
/// `change/0` (or `up/0`, `down/0`).
const CONVENTIONS: &[(&str, &[(&str, u16)])] =
    &[("Ecto.Migration", &[("change", 0), ("up", 0), ("down", 0)])];

/// What `use` brings into one module: the modules it imports, the
/// functions it defines there (public and private) and the used modules
/// nothing is known about (their effects cannot be seen).
#[derive(Debug, Default)]
struct UseEffects<'a> {
    /// Every module used, directly or by what is used.
    used: Vec<&'a str>,
    imports: Vec<&'a str>,
    /// `@behaviour M` quoted by what is used.
    behaviours: Vec<&'a str>,
    defs: Vec<(&'a str, u16)>,
    private_defs: Vec<(&'a str, u16)>,
    /// Calls the injected code makes to the using module's functions.
    calls: Vec<(&'a str, u16)>,
    unknown: Vec<&'a str>,
}

/// What the link step knows about the whole program: who exports what
/// (the analysed code, its libraries and the standard library), and what
/// a `use` injects.
struct Linker<'a> {
    exports: FastMap<&'a str, FastSet<(&'a str, u16)>>,
    modules: FastMap<&'a str, &'a ModuleSummary>,
    std: &'static Library,
    /// Registered process name (`:atom`) → the module registering it.
    registered: FastMap<&'a str, &'a str>,
    /// What each module gets through its `use` directives (memoized).
    via_use: RefCell<FastMap<&'a str, Arc<UseEffects<'a>>>>,
    /// Functions the macros called by each module's body define in it.
    macro_made: FastMap<&'a str, Vec<(&'a str, u16, bool)>>,
}

impl<'a> Linker<'a> {
    fn new(summaries: &'a [Arc<ModuleSummary>], libraries: &'a [Arc<ModuleSummary>]) -> Linker<'a> {
        let mut modules = FastMap::default();
        for m in summaries.iter().chain(libraries) {
            // A module's source says more (what its `use` injects, its
            // callbacks) than its export table or a template of it: its
            // source first.
            let source = |f: &str| f.ends_with(".ex") || f.ends_with(".exs");
            let e = modules.entry(m.name.as_str()).or_insert(&**m);
            if !source(&e.file) && source(&m.file) {
                *e = &**m;
            }
        }
        let mut registered = FastMap::default();
        for m in summaries {
            for name in &m.registers {
                registered.entry(name.as_str()).or_insert(m.name.as_str());
            }
        }
        let mut linker = Linker {
            exports: exports(summaries.iter().chain(libraries)),
            modules,
            std: crate::library::stdlib(),
            registered,
            via_use: RefCell::default(),
            macro_made: FastMap::default(),
        };
        // Functions a `use` defines are the using module's own (`use
        // Ecto.Repo` makes `Repo.insert/2`).
        let mut injected = Vec::new();
        for m in summaries.iter().chain(libraries) {
            if m.deps.iter().any(|d| d.kind == DepKind::Use) {
                let effects = linker.use_effects(&m.name);
                if !effects.defs.is_empty() {
                    injected.push((m.name.as_str(), effects));
                }
            }
        }
        for (module, effects) in injected {
            let e = linker.exports.entry(module).or_default();
            e.extend(effects.defs.iter().copied());
        }
        // Functions the macros called in a module's body define there
        // (`schema "x" do ... end` makes `__schema__/1`).
        let mut made = Vec::new();
        for m in summaries.iter().chain(libraries) {
            let defs = linker.macro_defs(m);
            if !defs.is_empty() {
                made.push((m.name.as_str(), defs));
            }
        }
        for (module, defs) in made {
            let e = linker.exports.entry(module).or_default();
            e.extend(
                defs.iter()
                    .filter(|(_, _, public)| *public)
                    .map(|&(n, a, _)| (n, a)),
            );
            linker.macro_made.insert(module, defs);
        }
        linker
    }

    /// What the macros called by `m`'s module body define in it, through
    /// `def` in their quotes (and the quotes they splice): `(name, arity,
    /// public)`.
    fn macro_defs(&self, m: &'a ModuleSummary) -> Vec<(&'a str, u16, bool)> {
        let mut out = Vec::new();
        let Some(body) = m.functions.iter().find(|f| f.kind == FunKind::ModuleBody) else {
            return out;
        };
        let mut seen: FastSet<(&'a str, &'a str)> = FastSet::default();
        for c in body.calls.iter().filter(|c| !c.quoted) {
            let (Some(callee), _, _) = self.link(&m.name, c) else {
                continue;
            };
            let Some(provider) = self.modules.get(callee) else {
                continue;
            };
            let mut pending = vec![c.name.as_str()];
            while let Some(by) = pending.pop() {
                if !seen.insert((callee, by)) {
                    continue;
                }
                for i in provider.injections.iter().filter(|i| i.by == by) {
                    match i.kind {
                        InjectionKind::Def => out.push((i.name.as_str(), i.arity, true)),
                        InjectionKind::Defp => out.push((i.name.as_str(), i.arity, false)),
                        InjectionKind::Splice => pending.push(&i.name),
                        InjectionKind::Directive(_)
                        | InjectionKind::BeforeCompile
                        | InjectionKind::Call => {}
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `Some(true)` if `module` is known (analysed, a library or the
    /// standard library) and exports `name/arity`, `Some(false)` if known
    /// and it does not, `None` if nothing is known of it.
    fn provides(&self, module: &str, name: &str, arity: u16) -> Option<bool> {
        // The compiler gives every module these.
        if matches!((name, arity), ("__info__", 1) | ("module_info", 0 | 1)) {
            return self
                .exports
                .get(module)
                .map(|_| true)
                .or_else(|| self.std.provides(module, name, arity).map(|_| true));
        }
        match self.exports.get(module) {
            Some(e) => Some(e.contains(&(name, arity))),
            None => self.std.provides(module, name, arity),
        }
    }

    /// The callbacks of every behaviour `m` has: declared, or quoted by
    /// what it uses; their `@callback`s from the analysed code, the
    /// libraries or the standard library table.
    fn behaviour_callbacks(&self, m: &'a ModuleSummary) -> Vec<(String, u16)> {
        let effects = self.use_effects(&m.name);
        let mut out: Vec<(String, u16)> = Vec::new();
        for b in m
            .behaviours
            .iter()
            .map(String::as_str)
            .chain(effects.behaviours.iter().copied())
        {
            if let Some(s) = self.modules.get(b) {
                out.extend(s.callbacks.iter().cloned());
            } else if let Some(lm) = self.std.module(b) {
                out.extend(lm.callbacks.iter().cloned());
            }
        }
        for (framework, entries) in CONVENTIONS {
            if effects.used.contains(framework) {
                out.extend(entries.iter().map(|(n, a)| (n.to_string(), *a)));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// What `module`'s `use` directives bring into it.
    fn use_effects(&self, module: &'a str) -> Arc<UseEffects<'a>> {
        if let Some(v) = self.via_use.borrow().get(module) {
            return v.clone();
        }
        let mut out = UseEffects::default();
        if let Some(m) = self.modules.get(module) {
            let mut seen = FastSet::default();
            for d in m.deps.iter().filter(|d| d.kind == DepKind::Use) {
                let which = m
                    .use_args
                    .iter()
                    .find(|(used, w)| *used == d.target && !w.contains(':'))
                    .map(|(_, w)| w.as_str());
                self.collect_use(&d.target, which, &mut seen, &mut out);
                // `use M, key: v`: what M's `__using__(key: ...)` clause injects.
                for (used, w) in &m.use_args {
                    if *used == d.target && w.starts_with("kw:") {
                        self.collect_use(&d.target, Some(w), &mut seen, &mut out);
                    }
                }
                // Ecto: `use Ecto.Repo, adapter: A` runs A's
                // `__before_compile__`; the SQL adapters' delegates to
                // `Ecto.Adapters.SQL.__before_compile__/2` (query/2,3, ...).
                if d.target == "Ecto.Repo" {
                    let adapter = m.use_args.iter().find_map(|(used, w)| {
                        (used == "Ecto.Repo")
                            .then(|| w.strip_prefix("adapter:"))
                            .flatten()
                    });
                    if let Some(a) = adapter {
                        // An adapter with a `__before_compile__` of its own.
                        self.collect_before_compile(a, &mut seen, &mut out);
                    }
                    let sql = adapter.and_then(|a| self.modules.get(a)).is_some_and(|a| {
                        a.deps
                            .iter()
                            .any(|d| d.kind == DepKind::Use && d.target == "Ecto.Adapters.SQL")
                    });
                    if sql {
                        self.collect_before_compile("Ecto.Adapters.SQL", &mut seen, &mut out);
                    }
                }
            }
        }
        let out = Arc::new(out);
        self.via_use.borrow_mut().insert(module, out.clone());
        out
    }

    /// What `use used` (or `use used, :which`) injects: the known effects
    /// of standard modules, the standard library table's, and what the
    /// quotes of an analysed or library module's `__using__` (and of its
    /// function `which/0`, and the functions they splice) hold.
    fn collect_use(
        &self,
        used: &'a str,
        which: Option<&'a str>,
        seen: &mut FastSet<(&'a str, Option<&'a str>)>,
        out: &mut UseEffects<'a>,
    ) {
        if !seen.insert((used, which)) {
            return;
        }
        fn push<T: PartialEq>(v: &mut Vec<T>, x: T) {
            if !v.contains(&x) {
                v.push(x);
            }
        }
        push(&mut out.used, used);
        if let Some((_, imports, _)) = USE_EFFECTS.iter().find(|(m, _, _)| *m == used) {
            for i in *imports {
                push(&mut out.imports, *i);
            }
        }
        if let Some(m) = self.modules.get(used) {
            for d in &m.using {
                match d.kind {
                    DepKind::Import => push(&mut out.imports, d.target.as_str()),
                    DepKind::Use => self.collect_use(&d.target, None, seen, out),
                    _ => {}
                }
            }
            let mut pending: Vec<&'a str> = vec!["__using__"];
            pending.extend(which);
            let mut done: FastSet<&'a str> = FastSet::default();
            while let Some(by) = pending.pop() {
                if !done.insert(by) {
                    continue;
                }
                for i in m.injections.iter().filter(|i| i.by == by) {
                    match i.kind {
                        InjectionKind::Directive(DepKind::Import) => {
                            push(&mut out.imports, i.name.as_str())
                        }
                        InjectionKind::Directive(DepKind::Use) => {
                            self.collect_use(&i.name, None, seen, out)
                        }
                        InjectionKind::Directive(DepKind::Behaviour) => {
                            push(&mut out.behaviours, i.name.as_str())
                        }
                        InjectionKind::Directive(_) => {}
                        InjectionKind::Def => push(&mut out.defs, (i.name.as_str(), i.arity)),
                        InjectionKind::Defp => {
                            push(&mut out.private_defs, (i.name.as_str(), i.arity))
                        }
                        InjectionKind::Splice => pending.push(&i.name),
                        InjectionKind::BeforeCompile => {
                            self.collect_before_compile(&i.name, seen, out)
                        }
                        InjectionKind::Call => push(&mut out.calls, (i.name.as_str(), i.arity)),
                    }
                }
            }
            // A case template's users get `use ExUnit.Case` (ExUnit.CaseTemplate.__proxy__/2).
            if m.deps
                .iter()
                .any(|d| d.kind == DepKind::Use && d.target == "ExUnit.CaseTemplate")
            {
                self.collect_use("ExUnit.Case", None, seen, out);
            }
        } else if let Some(lm) = self.std.module(used) {
            for (kind, target) in &lm.using {
                match kind {
                    DepKind::Import => push(&mut out.imports, target.as_str()),
                    DepKind::Behaviour => push(&mut out.behaviours, target.as_str()),
                    DepKind::Use => self.collect_use(target, None, seen, out),
                    _ => {}
                }
            }
            for (name, arity) in &lm.injects {
                push(&mut out.defs, (name.as_str(), *arity));
            }
        } else if !USE_EFFECTS.iter().any(|(m, _, _)| *m == used) {
            push(&mut out.unknown, used);
        }
    }
    /// What `@before_compile module` injects: the defs and directives of
    /// `module.__before_compile__`'s quotes.
    fn collect_before_compile(
        &self,
        module: &'a str,
        seen: &mut FastSet<(&'a str, Option<&'a str>)>,
        out: &mut UseEffects<'a>,
    ) {
        if !seen.insert((module, Some("__before_compile__"))) {
            return;
        }
        let Some(m) = self.modules.get(module) else {
            return;
        };
        for i in m.injections.iter().filter(|i| i.by == "__before_compile__") {
            match i.kind {
                InjectionKind::Def => out.defs.push((i.name.as_str(), i.arity)),
                InjectionKind::Defp => out.private_defs.push((i.name.as_str(), i.arity)),
                InjectionKind::Directive(DepKind::Import) => out.imports.push(i.name.as_str()),
                _ => {}
            }
        }
    }

    /// Where a call that hands work to another process leads, when its
    /// target is named in the code: `GenServer.call(M, msg)` to
    /// `M.handle_call/3`, `GenServer.cast` to `handle_cast/2`, `send(M or
    /// :registered, msg)` to `handle_info/2`, `spawn(M, :f, args)` and
    /// `Task.start(M, :f, args)` to every public `M.f`; `self()` names the
    /// calling module. Only functions the ingested code defines.
    fn process_targets(&self, caller: &str, c: &'a CallSummary) -> Vec<(&'a str, &'a str, u16)> {
        if c.targets.is_empty() || !is_process_call(c.module.as_deref(), &c.name, c.arity) {
            return Vec::new();
        }
        let module_of = |name: &str| -> Option<&'a ModuleSummary> {
            let module = if name.starts_with(':') {
                self.registered.get(name).copied()?
            } else {
                name
            };
            self.modules.get(module).copied()
        };
        let named = c.targets.first().filter(|t| !t.is_empty());
        let target = match named {
            Some(t) => module_of(t),
            // `GenServer.call(server, msg)` with the server computed (a pid,
            // a `{:via, ...}` tuple) inside a module that handles such calls:
            // the client-API idiom, the module calls its own server.
            None if matches!(c.name.as_str(), "call" | "cast") => self.modules.get(caller).copied(),
            // Otherwise unknown until run time.
            None => None,
        };
        let Some(target) = target else {
            return Vec::new();
        };
        let defines = |name: &str, arity: u16| {
            target
                .functions
                .iter()
                .any(|f| f.name == name && f.arity == arity)
        };
        let handler = match c.name.as_str() {
            "call" => Some(("handle_call", 3)),
            "cast" => Some(("handle_cast", 2)),
            "send" => Some(("handle_info", 2)),
            _ => None,
        };
        if let Some((name, arity)) = handler {
            return if defines(name, arity) {
                vec![(target.name.as_str(), name, arity)]
            } else {
                Vec::new()
            };
        }
        // spawn/Task with (module, :function, args): any arity of the function.
        let Some(fun) = c.targets.get(1).and_then(|f| f.strip_prefix(':')) else {
            return Vec::new();
        };
        let mut arities: Vec<u16> = target
            .functions
            .iter()
            .filter(|f| f.name == fun && f.kind.is_public())
            .map(|f| f.arity)
            .collect();
        arities.sort_unstable();
        arities.dedup();
        arities
            .into_iter()
            .map(|a| (target.name.as_str(), fun, a))
            .collect()
    }

    /// The callee module of a call made in `module`, its kind, and for a
    /// call left unresolved the modules that might provide it.
    fn link(
        &self,
        module: &'a str,
        c: &'a CallSummary,
    ) -> (Option<&'a str>, CallKind, Vec<&'a str>) {
        if c.candidates.is_empty() && c.kind != CallKind::Unresolved {
            return (c.module.as_deref(), c.kind, Vec::new());
        }
        let (name, arity) = (c.name.as_str(), c.arity);
        let via_use = self.use_effects(module);
        // 1. A function a `use` or a macro defined in this module: local,
        //    like any other definition of the module.
        let made = self
            .macro_made
            .get(module)
            .is_some_and(|d| d.iter().any(|&(n, a, _)| n == name && a == arity));
        // A function the module has that its source does not define (a
        // template's, an export table's, a public one its `use` injects:
        // all in its exports) is local too.
        let own = self
            .exports
            .get(module)
            .is_some_and(|e| e.contains(&(name, arity)));
        if made || own || via_use.private_defs.contains(&(name, arity)) {
            return (Some(module), CallKind::Local, Vec::new());
        }
        // 2. An explicit import known to export it (the compiler rejects
        //    ambiguous calls, so at most one does).
        if let Some(m) = c
            .candidates
            .iter()
            .find(|m| self.provides(m, name, arity) == Some(true))
        {
            return (Some(m.as_str()), CallKind::Imported, Vec::new());
        }
        // 3. An import injected by `use`, known to export it.
        if let Some(m) = via_use
            .imports
            .iter()
            .find(|m| self.provides(m, name, arity) == Some(true))
        {
            return (Some(*m), CallKind::Imported, Vec::new());
        }
        // 4. Never a guess: the imports and uses whose exports cannot be
        //    seen are where it might come from; it stays unresolved.
        let mut unknown: Vec<&'a str> = c
            .candidates
            .iter()
            .map(String::as_str)
            .chain(via_use.imports.iter().copied())
            .filter(|m| self.provides(m, name, arity).is_none())
            .collect();
        unknown.extend(via_use.unknown.iter().copied());
        unknown.sort_unstable();
        unknown.dedup();
        (None, CallKind::Unresolved, unknown)
    }
}
