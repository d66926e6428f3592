//! Linking: the whole program's call graph from its modules' summaries,
//! all at once ([`CallGraph::link`]) or, after a change, relinking only
//! the modules the change can reach and keeping the others' edges
//! ([`CallGraph::relink`]). Both end in one assembly step, so a relinked
//! graph is the graph a full link makes (docs/SCALING.md, "Relinking only
//! what a change reaches"; `relink_equals_link` in partition/tests).

use std::hash::{Hash, Hasher};

use proto::ModuleSummary;

use super::linker::{Key, Linker};
use super::*;

/// What a graph keeps so that the next generation relinks only what a
/// change reaches.
#[derive(Debug, Default)]
pub(super) struct LinkState {
    /// The summaries linked, in the order [`CallEdge::summary`] counts.
    summaries: Vec<Arc<ModuleSummary>>,
    libraries: Vec<Arc<ModuleSummary>>,
    /// Per summary: the modules (and registered process names) its
    /// linking looked up.
    reads: Vec<Arc<[Arc<str>]>>,
    /// Per module name, analysed or a library's: a hash of everything
    /// linking a module can read of it (see [`interface`]).
    interfaces: FastMap<Arc<str>, u64>,
    /// Registered process name → the module registering it.
    registered: FastMap<Arc<str>, Arc<str>>,
    /// Every name above, once.
    names: FastSet<Arc<str>>,
    /// How many summaries the last link linked (all of them, for a full link).
    pub(super) relinked: usize,
}

/// One edge as linking makes it, by name.
struct Linked<'a> {
    caller: Key<'a>,
    callee: Key<'a>,
    kind: CallKind,
    line: u32,
    column: u32,
    site: u32,
    /// Empty for a resolved call.
    candidates: Vec<Arc<str>>,
    undefined: bool,
}

/// Where a summary's edges come from in the new graph.
enum Block<'a> {
    /// Linked now.
    Linked(Vec<Linked<'a>>),
    /// The old graph's edges of its summary number `.0`.
    Kept(u32),
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
    pub fn link(summaries: &[Arc<ModuleSummary>], libraries: &[Arc<ModuleSummary>]) -> CallGraph {
        let linker = Linker::new(summaries, libraries);
        let interfaces = interfaces(&linker, summaries, libraries);
        let plan = summaries.iter().map(|_| None).collect();
        let names = FastSet::default();
        assemble(&linker, summaries, None, plan, interfaces, names)
    }

    /// The graph [`CallGraph::link`] makes of `summaries` and `libraries`,
    /// relinking only the summaries that changed since this graph was
    /// linked and those that looked up a module whose interface changed;
    /// the others keep their edges. A change of libraries links everything.
    pub fn relink(
        &self,
        summaries: &[Arc<ModuleSummary>],
        libraries: &[Arc<ModuleSummary>],
    ) -> CallGraph {
        let same = |a: &[Arc<ModuleSummary>], b: &[Arc<ModuleSummary>]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y) || x == y)
        };
        let old = &self.state;
        if old.reads.len() != old.summaries.len() || !same(&old.libraries, libraries) {
            return Self::link(summaries, libraries);
        }
        let linker = Linker::new(summaries, libraries);
        let interfaces = interfaces(&linker, summaries, libraries);
        // Names whose interface changed, appeared or vanished, and
        // registered names that now lead elsewhere.
        let mut changed: FastSet<&str> = FastSet::default();
        for (name, hash) in &interfaces {
            if old.interfaces.get(*name) != Some(hash) {
                changed.insert(name);
            }
        }
        for name in old.interfaces.keys() {
            if !interfaces.contains_key(&**name) {
                changed.insert(name);
            }
        }
        for (name, module) in &linker.registered {
            if old.registered.get(*name).map(|m| &**m) != Some(*module) {
                changed.insert(name);
            }
        }
        for name in old.registered.keys() {
            if !linker.registered.contains_key(&**name) {
                changed.insert(name);
            }
        }
        // A summary is matched to its old self by module and file.
        let before = occurrences(&old.summaries);
        let now = occurrences(summaries);
        let mut plan = vec![None; summaries.len()];
        for (key, &i) in &now {
            let m = &summaries[i as usize];
            let Some(&j) = before.get(key) else {
                continue;
            };
            let o = &old.summaries[j as usize];
            let kept = (Arc::ptr_eq(o, m) || o == m)
                && !old.reads[j as usize].iter().any(|n| changed.contains(&**n));
            plan[i as usize] = kept.then_some(j);
        }
        let names = old.names.clone();
        assemble(&linker, summaries, Some(self), plan, interfaces, names)
    }

    /// How many summaries made this graph's last link relink (all of
    /// them after a full link).
    pub fn relinked(&self) -> usize {
        self.state.relinked
    }
}

/// Each summary of `list` by (module, file, how many before it had that
/// module and file): a module defined twice in one file (test files do)
/// is matched to the same occurrence in the other generation.
fn occurrences(list: &[Arc<ModuleSummary>]) -> FastMap<(&str, &str, u32), u32> {
    let mut seen: FastMap<(&str, &str), u32> = FastMap::default();
    let mut at = FastMap::default();
    for (i, m) in list.iter().enumerate() {
        let n = seen.entry((m.name.as_str(), m.file.as_str())).or_default();
        at.insert((m.name.as_str(), m.file.as_str(), *n), i as u32);
        *n += 1;
    }
    at
}

/// Link one module's calls: its functions' calls in order, then the calls
/// its `use` injects into its body.
fn link_module<'a>(linker: &Linker<'a>, m: &'a ModuleSummary, out: &mut Vec<Linked<'a>>) {
    for f in &m.functions {
        let caller = (m.name.as_str(), f.name.as_str(), f.arity);
        for (site, c) in f.calls.iter().enumerate().filter(|(_, c)| !c.quoted) {
            let edge = |callee, kind, candidates, undefined| Linked {
                caller,
                callee,
                kind,
                line: c.line,
                column: c.column,
                site: site as u32,
                candidates,
                undefined,
            };
            // `{Module, :fun}`: every `fun` the module exports.
            if c.kind == CallKind::Reference && c.arity == proto::ANY_ARITY {
                let Some(module) = c.module.as_deref() else {
                    continue;
                };
                let mut arities: Vec<u16> = linker
                    .exported(module)
                    .map(|e| {
                        e.iter()
                            .filter(|(n, _)| *n == c.name)
                            .map(|(_, a)| *a)
                            .collect()
                    })
                    .unwrap_or_default();
                arities.sort_unstable();
                for a in arities {
                    let callee = (module, c.name.as_str(), a);
                    out.push(edge(callee, CallKind::Reference, Vec::new(), false));
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
            if matches!(kind, CallKind::Macro | CallKind::Reference) && defined != Some(true) {
                continue;
            }
            let undefined = defined == Some(false) && kind != CallKind::Dynamic;
            let candidates = candidates.into_iter().map(Arc::from).collect();
            let callee = (module.unwrap_or(""), c.name.as_str(), c.arity);
            out.push(edge(callee, kind, candidates, undefined));
            for target in linker.process_targets(&m.name, c) {
                out.push(edge(target, CallKind::Process, Vec::new(), false));
            }
        }
    }
    // What `use` injects calls the using module's functions: from its
    // module body (where `use` expands), at the `use` line, when the
    // module's source defines the function. Only into the module's own
    // source: calls among the injected functions are the macro's business.
    let effects = linker.use_effects(&m.name);
    if effects.calls.is_empty() {
        return;
    }
    let line = m
        .deps
        .iter()
        .find(|d| d.kind == DepKind::Use)
        .map_or(m.line, |d| d.line);
    for &(name, arity) in &effects.calls {
        if m.functions
            .iter()
            .any(|f| f.name == name && f.arity == arity)
        {
            out.push(Linked {
                caller: (m.name.as_str(), "__module__", 0),
                callee: (m.name.as_str(), name, arity),
                kind: CallKind::Macro,
                line,
                column: 0,
                site: u32::MAX,
                candidates: Vec::new(),
                undefined: false,
            });
        }
    }
}

/// Per module name the linker knows (analysed or a library's), a hash of
/// everything linking a module can read of it: the files defining it and
/// which one is its source, its export table (with what its `use` and
/// the macros its body calls define in it), what its `use` brings in, and
/// of its source the directives and quotes it injects, its dependencies,
/// callbacks, functions' names and kinds, and the clauses of its message
/// handlers. A module reads its own too, so a change of what it gets
/// through `use` relinks it.
fn interfaces<'a>(
    linker: &Linker<'a>,
    summaries: &'a [Arc<ModuleSummary>],
    libraries: &'a [Arc<ModuleSummary>],
) -> FastMap<&'a str, u64> {
    let mut hashers: FastMap<&'a str, std::hash::DefaultHasher> = FastMap::default();
    for m in summaries.iter().chain(libraries) {
        m.file.hash(hashers.entry(m.name.as_str()).or_default());
    }
    for name in linker.exports.keys() {
        hashers.entry(name).or_default();
    }
    let mut exports: Vec<(&str, u16)> = Vec::new();
    hashers
        .into_iter()
        .map(|(name, mut h)| {
            exports.clear();
            if let Some(e) = linker.exports.get(name) {
                exports.extend(e.iter().copied());
            }
            exports.sort_unstable();
            exports.hash(&mut h);
            linker.macro_made.get(name).hash(&mut h);
            let u = linker.use_effects(name);
            (&u.used, &u.imports, &u.behaviours, &u.unknown).hash(&mut h);
            (&u.defs, &u.private_defs, &u.calls).hash(&mut h);
            if let Some(m) = linker.modules.get(name) {
                m.file.hash(&mut h);
                for d in m.deps.iter().chain(&m.using) {
                    (&d.target, d.kind).hash(&mut h);
                }
                m.using.len().hash(&mut h);
                m.injections.hash(&mut h);
                m.callbacks.hash(&mut h);
                for f in &m.functions {
                    (&f.name, f.arity, f.kind).hash(&mut h);
                    let handler = matches!(
                        (f.name.as_str(), f.arity),
                        ("handle_call", 3) | ("handle_cast", 2) | ("handle_info", 2)
                    );
                    if handler {
                        for c in &f.clauses {
                            c.params.hash(&mut h);
                        }
                        f.clauses.len().hash(&mut h);
                    }
                }
            }
            (name, h.finish())
        })
        .collect()
}

/// The graph of `summaries`: each summary's edges linked now (`plan`
/// `None`) or kept from `old` (its old number), then the functions named,
/// in name order, and the edges sorted, as one step whichever way the
/// edges came.
fn assemble<'a>(
    linker: &Linker<'a>,
    summaries: &'a [Arc<ModuleSummary>],
    old: Option<&'a CallGraph>,
    plan: Vec<Option<u32>>,
    interfaces: FastMap<&'a str, u64>,
    mut names: FastSet<Arc<str>>,
) -> CallGraph {
    let libraries = linker.libraries;
    let mut intern_name = |s: &str| -> Arc<str> {
        if let Some(n) = names.get(s) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(s);
        names.insert(n.clone());
        n
    };
    let mut relinked = 0;
    let mut reads = Vec::with_capacity(summaries.len());
    let blocks: Vec<Block<'a>> = summaries
        .iter()
        .zip(&plan)
        .map(|(m, kept)| match (kept, old) {
            (Some(j), Some(g)) => {
                reads.push(g.state.reads[*j as usize].clone());
                Block::Kept(*j)
            }
            _ => {
                relinked += 1;
                let mut edges = Vec::new();
                linker.record();
                linker.module(&m.name);
                link_module(linker, m, &mut edges);
                let read: Vec<Arc<str>> = linker
                    .recorded()
                    .into_iter()
                    .map(&mut intern_name)
                    .collect();
                reads.push(Arc::from(read));
                Block::Linked(edges)
            }
        })
        .collect();
    let interfaces = interfaces
        .into_iter()
        .map(|(n, h)| (intern_name(n), h))
        .collect();
    let registered = linker
        .registered
        .iter()
        .map(|(a, m)| (intern_name(a), intern_name(m)))
        .collect();

    // Functions by name, numbered in the order met for now.
    let mut ids: FastMap<Key<'a>, u32> = FastMap::default();
    let mut keys: Vec<Key<'a>> = Vec::new();
    let mut intern = |key: Key<'a>| -> u32 {
        *ids.entry(key).or_insert_with(|| {
            keys.push(key);
            keys.len() as u32 - 1
        })
    };
    let files: Vec<Arc<str>> = summaries
        .iter()
        .map(|m| Arc::from(m.file.as_str()))
        .collect();
    let mut defined = Vec::new();
    let mut calls: Vec<CallEdge> = Vec::new();
    let old_rows = old.map(|g| rows(&g.calls, g.state.summaries.len(), |c| c.summary));
    let mut old_ids = vec![u32::MAX; old.map_or(0, |g| g.functions.len())];
    for (mi, (m, block)) in summaries.iter().zip(blocks).enumerate() {
        let summary = mi as u32;
        for f in &m.functions {
            let id = intern((&m.name, &f.name, f.arity));
            defined.push((id, f.kind, f.line, summary));
        }
        match block {
            Block::Linked(edges) => calls.extend(edges.into_iter().map(|e| CallEdge {
                caller: intern(e.caller),
                callee: intern(e.callee),
                kind: e.kind,
                file: files[mi].clone(),
                line: e.line,
                column: e.column,
                site: e.site,
                summary,
                candidates: (!e.candidates.is_empty()).then(|| Box::new(e.candidates)),
                undefined: e.undefined,
            })),
            Block::Kept(j) => {
                let (Some(g), Some((by_summary, start))) = (old, &old_rows) else {
                    continue;
                };
                for &i in CallGraph::row(by_summary, start, j) {
                    let e = &g.calls[i as usize];
                    let mut id = |old: u32| {
                        let slot = &mut old_ids[old as usize];
                        if *slot == u32::MAX {
                            let f = &g.functions[old as usize].mfa;
                            *slot = intern((&f.module, &f.name, f.arity));
                        }
                        *slot
                    };
                    calls.push(CallEdge {
                        caller: id(e.caller),
                        callee: id(e.callee),
                        kind: e.kind,
                        file: files[mi].clone(),
                        line: e.line,
                        column: e.column,
                        site: e.site,
                        summary,
                        candidates: e.candidates.clone(),
                        undefined: e.undefined,
                    });
                }
            }
        }
    }
    // Numbered again in name order.
    let mut by_name: Vec<u32> = (0..keys.len() as u32).collect();
    by_name.sort_unstable_by_key(|&t| keys[t as usize]);
    let mut rank = vec![0u32; keys.len()];
    for (r, &t) in by_name.iter().enumerate() {
        rank[t as usize] = r as u32;
    }
    let mut functions: Vec<FnInfo> = by_name
        .iter()
        .map(|&t| {
            let (m, n, a) = keys[t as usize];
            FnInfo {
                mfa: Mfa::new(m, n, a),
                kind: None,
                file: None,
                line: 0,
                deprecated: None,
            }
        })
        .collect();
    // The first definition of a function says where it is.
    for (id, kind, line, summary) in defined {
        let info = &mut functions[rank[id as usize] as usize];
        if info.kind.is_none() {
            info.kind = Some(kind);
            info.file = Some(files[summary as usize].clone());
            info.line = line;
        }
    }
    deprecations(linker, summaries, libraries, &mut functions);
    for c in &mut calls {
        c.caller = rank[c.caller as usize];
        c.callee = rank[c.callee as usize];
    }
    let calls = sort_calls(calls, summaries, functions.len());
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
        functions,
        calls,
        out,
        out_start,
        inc,
        inc_start,
        state: LinkState {
            summaries: summaries.to_vec(),
            libraries: libraries.to_vec(),
            reads,
            interfaces,
            registered,
            names,
            relinked,
        },
    }
}

/// Deprecations, from the source (the analysed code's, a library's) or
/// the standard library table.
fn deprecations(
    linker: &Linker<'_>,
    summaries: &[Arc<ModuleSummary>],
    libraries: &[Arc<ModuleSummary>],
    functions: &mut [FnInfo],
) {
    let mut deprecated: FastMap<(&str, &str, u16), &str> = FastMap::default();
    for m in summaries.iter().chain(libraries) {
        for f in &m.functions {
            if let Some(d) = &f.deprecated {
                deprecated.insert((&m.name, &f.name, f.arity), d);
            }
        }
    }
    for info in functions {
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
}

/// Calls in caller order (callers are numbered in name order), each
/// caller's sorted by (file, line, column, callee); where all of those are
/// equal, in the order they were linked.
fn sort_calls(calls: Vec<CallEdge>, summaries: &[Arc<ModuleSummary>], n: usize) -> Vec<CallEdge> {
    let mut file_names: Vec<&str> = summaries.iter().map(|m| m.file.as_str()).collect();
    file_names.sort_unstable();
    file_names.dedup();
    let file_rank: Vec<u32> = summaries
        .iter()
        .map(|m| file_names.binary_search(&m.file.as_str()).unwrap_or(0) as u32)
        .collect();
    let (by_caller, caller_start) = rows(&calls, n, |c| c.caller);
    let mut order: Vec<u32> = Vec::with_capacity(calls.len());
    let mut group: Vec<([u32; 4], u32)> = Vec::new();
    for caller in 0..n as u32 {
        group.clear();
        group.extend(
            CallGraph::row(&by_caller, &caller_start, caller)
                .iter()
                .map(|&i| {
                    let c = &calls[i as usize];
                    let file = file_rank[c.summary as usize];
                    ([file, c.line, c.column, c.callee], i)
                }),
        );
        group.sort_unstable();
        order.extend(group.iter().map(|(_, i)| *i));
    }
    let mut slots: Vec<Option<CallEdge>> = calls.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots[i as usize].take())
        .collect()
}
