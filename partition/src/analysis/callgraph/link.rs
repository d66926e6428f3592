//! Linking: the whole program's call graph from its modules' summaries,
//! all at once ([`CallGraph::link`]) or, after a change, relinking only
//! the modules the change can reach and keeping the others' edges
//! ([`CallGraph::relink`]). Both end in one assembly step, so a relinked
//! graph is the graph a full link makes (docs/SCALING.md, "Relinking only
//! what a change reaches"; `relink_equals_link` in partition/tests).

use std::hash::{Hash, Hasher};

use proto::ModuleSummary;

use super::linker::{Key, Linker, LinkerMemo, Prior};
use super::order::{file_ranks, listed_in, merge_kept, number_candidates, sort_calls};
use super::*;

/// What a graph keeps so that the next generation relinks only what a
/// change reaches.
#[derive(Debug, Default)]
pub(super) struct LinkState {
    /// The summaries linked, in the order [`CallEdge::summary`] counts.
    summaries: Vec<Arc<ModuleSummary>>,
    libraries: Vec<Arc<ModuleSummary>>,
    /// Per summary: what its linking looked up and made besides edges.
    links: Vec<SummaryLinks>,
    /// Per summary, its functions' ids in its order: `defs[def_start[i]..
    /// def_start[i + 1]]`.
    defs: Vec<u32>,
    def_start: Vec<u32>,
    /// Per module name, analysed or a library's: a hash of everything
    /// linking a module can read of it (see [`interfaces`]).
    interfaces: FastMap<Arc<str>, u64>,
    /// Registered process name → the module registering it.
    registered: FastMap<Arc<str>, Arc<str>>,
    /// What the linker computed that the next can take again.
    memo: LinkerMemo,
    /// Every name above, once.
    names: FastSet<Arc<str>>,
    /// Per summary, its file's rank among the summaries' files by name.
    file_rank: Vec<u32>,
    /// How many summaries the last link linked (all of them, for a full link).
    pub(super) relinked: usize,
    /// This graph, among all linked in this process.
    pub(super) id: u64,
    /// What relinking changed, from the graph it was relinked from.
    pub(super) delta: Option<Delta>,
}

impl LinkState {
    /// The file of summary `summary`.
    pub(super) fn file_of(&self, summary: u32) -> &str {
        self.summaries
            .get(summary as usize)
            .map_or("", |m| m.file.as_str())
    }
}

/// Where a relinked graph can differ from the graph it was relinked from:
/// only the callers of calls linked again or dropped, and the functions
/// that appeared or vanished, can have other callees.
#[derive(Debug, Default)]
pub(super) struct Delta {
    /// The old graph's [`LinkState::id`].
    pub(super) base: u64,
    /// Callers of the calls linked again (this graph's ids).
    pub(super) callers: Vec<u32>,
    /// Callers of the old graph's calls not kept (its ids).
    pub(super) old_callers: Vec<u32>,
    /// Functions only this graph has, and only the old graph had (its ids).
    pub(super) appeared: Vec<u32>,
    pub(super) vanished: Vec<u32>,
}

/// Numbers the graphs linked in this process.
static GRAPHS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

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
        let linker = Linker::new(summaries, libraries, None);
        let interfaces = interfaces(&linker, summaries, libraries, None);
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
        if old.links.len() != old.summaries.len() || !same(&old.libraries, libraries) {
            return Self::link(summaries, libraries);
        }
        // Each summary's old self, matched by module and file: at the same
        // place when every place holds the same module and file (an edit
        // that adds or removes no module), else by name.
        let aligned = summaries.len() == old.summaries.len()
            && summaries
                .iter()
                .zip(&old.summaries)
                .all(|(m, o)| Arc::ptr_eq(m, o) || (m.name == o.name && m.file == o.file));
        let matched: Vec<Option<u32>> = if aligned {
            (0..summaries.len() as u32).map(Some).collect()
        } else {
            let before = occurrences(&old.summaries);
            let mut matched = vec![None; summaries.len()];
            for (key, i) in occurrences(summaries) {
                matched[i as usize] = before.get(&key).copied();
            }
            matched
        };
        // Those equal to their old selves (libraries are), and the modules
        // of the others and of the old summaries not matched: what the
        // last generation's linker computed from them no longer holds.
        let mut same: Vec<Option<u32>> = Vec::with_capacity(summaries.len() + libraries.len());
        let mut stale_names: FastSet<&str> = FastSet::default();
        let mut matched_old = vec![false; old.summaries.len()];
        for (m, j) in summaries.iter().zip(&matched) {
            let equal = j.filter(|&j| {
                matched_old[j as usize] = true;
                let o = &old.summaries[j as usize];
                Arc::ptr_eq(o, m) || o == m
            });
            if equal.is_none() {
                stale_names.insert(&m.name);
            }
            same.push(equal);
        }
        for (j, o) in old.summaries.iter().enumerate() {
            if !matched_old[j] {
                stale_names.insert(&o.name);
            }
        }
        // Summaries of one module in another order: which one is its
        // source, whose macro-made functions it keeps and its files' order
        // in its interface follow the order, so it is computed again.
        if !aligned {
            let mut last: FastMap<&str, u32> = FastMap::default();
            for (m, j) in summaries.iter().zip(&matched) {
                let Some(j) = *j else {
                    continue;
                };
                if last.insert(&m.name, j).is_some_and(|before| before > j) {
                    stale_names.insert(&m.name);
                }
            }
        }
        same.extend((0..libraries.len()).map(|k| Some((old.summaries.len() + k) as u32)));
        let stale = stale_names
            .iter()
            .filter_map(|n| old.names.get(*n))
            .map(|n| n.as_ptr())
            .collect();
        let prior = Prior {
            memo: &old.memo,
            same,
            stale,
            stale_names,
        };
        let linker = Linker::new(summaries, libraries, Some(prior));
        let interfaces = interfaces(&linker, summaries, libraries, Some(&old.interfaces));
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
        // The changed names as the old generation's interned names: a
        // summary's reads are compared by address, and none is compared
        // when nothing changed.
        let changed: FastSet<*const u8> = changed
            .iter()
            .filter_map(|n| old.names.get(*n))
            .map(|n| n.as_ptr())
            .collect();
        // A summary keeps its edges when it is the same and looked up no
        // changed name.
        let plan: Vec<Option<u32>> = summaries
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let j = linker.same(i)?;
                let reads = &old.links[j as usize].reads;
                (changed.is_empty() || !reads.iter().any(|n| changed.contains(&n.as_ptr())))
                    .then_some(j)
            })
            .collect();
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
    old: Option<&FastMap<Arc<str>, u64>>,
) -> FastMap<&'a str, u64> {
    use std::hash::BuildHasher;
    let state = foldhash::quality::FixedState::with_seed(0x6370_6721);
    let mut hashers: FastMap<&'a str, foldhash::quality::FoldHasher> = FastMap::default();
    // On a relink, the old hash of a name nothing it is made of changed.
    let mut kept: FastMap<&'a str, u64> = FastMap::default();
    for m in summaries.iter().chain(libraries) {
        let name = m.name.as_str();
        if kept.contains_key(name) {
            continue;
        }
        let old_hash = old
            .filter(|_| !hashers.contains_key(name) && linker.unchanged(name))
            .and_then(|o| o.get(name));
        if let Some(&hash) = old_hash {
            kept.insert(name, hash);
            continue;
        }
        let h = hashers
            .entry(m.name.as_str())
            .or_insert_with(|| state.build_hasher());
        m.file.hash(h);
    }
    for name in linker.exports.keys().filter(|n| !kept.contains_key(*n)) {
        hashers.entry(name).or_insert_with(|| state.build_hasher());
    }
    let fresh: Vec<(&'a str, u64)> = hashers
        .into_iter()
        .map(|(name, mut h)| {
            // A set: its members' hashes summed, in any order.
            let exports = linker.exports.get(name).map_or(0u64, |e| {
                e.iter()
                    .fold(0, |sum, f| sum.wrapping_add(state.hash_one(f)))
            });
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
        .collect();
    kept.extend(fresh);
    kept
}

/// What one summary adds to the graph besides its edges.
#[derive(Debug, Clone, Default)]
pub(super) struct SummaryLinks {
    /// The modules (and registered process names) its linking looked up.
    reads: Arc<[Arc<str>]>,
    /// The callbacks of the behaviours it has (empty for a template).
    callbacks: Arc<[(String, u16)]>,
    /// Every module it uses, directly or through what it uses.
    uses: Arc<[String]>,
}

/// Temporary function ids while assembling: a function the old graph has
/// keeps its old id; one only this generation names gets the old graph's
/// count plus its place in `fresh`.
struct Ids<'a> {
    old: Option<&'a CallGraph>,
    /// Old functions this generation names.
    kept: Vec<bool>,
    fresh: Vec<Key<'a>>,
    fresh_ids: FastMap<Key<'a>, u32>,
}

impl<'a> Ids<'a> {
    fn id(&mut self, key: Key<'a>) -> u32 {
        if let Some(id) = self.old.and_then(|g| g.find(key)) {
            self.kept[id as usize] = true;
            return id;
        }
        let base = self.kept.len();
        let fresh = &mut self.fresh;
        *self.fresh_ids.entry(key).or_insert_with(|| {
            fresh.push(key);
            (base + fresh.len() - 1) as u32
        })
    }

    fn old_id(&mut self, id: u32) -> u32 {
        self.kept[id as usize] = true;
        id
    }
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
    let mut links = Vec::with_capacity(summaries.len());
    let blocks: Vec<Block<'a>> = summaries
        .iter()
        .zip(&plan)
        .map(|(m, kept)| match (kept, old) {
            (Some(j), Some(g)) => {
                links.push(g.state.links[*j as usize].clone());
                Block::Kept(*j)
            }
            _ => {
                relinked += 1;
                let mut edges = Vec::new();
                linker.record();
                linker.module(&m.name);
                link_module(linker, m, &mut edges);
                let callbacks = if m.kind == ModuleKind::Template {
                    Vec::new()
                } else {
                    linker.behaviour_callbacks(m)
                };
                let reads: Vec<Arc<str>> = linker
                    .recorded()
                    .into_iter()
                    .map(&mut intern_name)
                    .collect();
                let used = linker.use_effects(&m.name);
                links.push(SummaryLinks {
                    reads: Arc::from(reads),
                    callbacks: Arc::from(callbacks),
                    uses: used.used.iter().map(|u| u.to_string()).collect(),
                });
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
    let memo = linker.memo(&mut intern_name);

    let n_old = old.map_or(0, |g| g.functions.len());
    let mut ids = Ids {
        old,
        kept: vec![false; n_old],
        fresh: Vec::new(),
        fresh_ids: FastMap::default(),
    };
    let files: Vec<Arc<str>> = summaries
        .iter()
        .map(|m| Arc::from(m.file.as_str()))
        .collect();
    // A relink whose kept summaries keep their order (they do unless the
    // summaries were reordered) takes the kept calls from the old graph in
    // its order, which is already theirs in the new one: only the calls
    // linked now are sorted, then merged in (see `merge_kept`).
    let in_order = old.is_some() && plan.iter().flatten().is_sorted();
    // Sized up front: the edges are most of a graph's memory, and growing
    // them copies (and first touches) it again.
    let (n_defs, n_calls) = match old {
        Some(g) => (g.state.defs.len(), g.calls.len()),
        None => summaries.iter().fold((0, 0), |(d, c), m| {
            let calls: usize = m.functions.iter().map(|f| f.calls.len()).sum();
            (d + m.functions.len(), c + calls)
        }),
    };
    // Each summary's functions, as ids, in its order.
    let mut defs: Vec<u32> = Vec::with_capacity(n_defs);
    let mut def_start: Vec<u32> = Vec::with_capacity(summaries.len() + 1);
    let mut calls: Vec<CallEdge> = Vec::with_capacity(if in_order { 0 } else { n_calls });
    // The candidate lists of the calls, numbered here as they come, then
    // again in the order of the calls (see `number_candidates`).
    let mut candidates: Vec<Candidates> = Vec::new();
    let old_rows = old
        .filter(|_| !in_order)
        .map(|g| rows(&g.calls, g.state.summaries.len(), |c| c.summary));
    let mut starts = Vec::with_capacity(summaries.len() + 1);
    for (mi, (m, block)) in summaries.iter().zip(blocks).enumerate() {
        let summary = mi as u32;
        def_start.push(defs.len() as u32);
        starts.push(calls.len() as u32);
        match block {
            Block::Linked(edges) => {
                for f in &m.functions {
                    defs.push(ids.id((&m.name, &f.name, f.arity)));
                }
                calls.extend(edges.into_iter().map(|e| CallEdge {
                    caller: ids.id(e.caller),
                    callee: ids.id(e.callee),
                    kind: e.kind,
                    line: e.line,
                    column: e.column,
                    site: e.site,
                    summary,
                    candidates: listed_in(
                        &mut candidates,
                        (!e.candidates.is_empty()).then(|| Arc::from(e.candidates)),
                    ),
                    undefined: e.undefined,
                }))
            }
            Block::Kept(j) => {
                let Some(g) = old else {
                    continue;
                };
                let (from, to) = (
                    g.state.def_start[j as usize],
                    g.state.def_start[j as usize + 1],
                );
                for &id in &g.state.defs[from as usize..to as usize] {
                    defs.push(ids.old_id(id));
                }
                let Some((by_summary, start)) = &old_rows else {
                    continue;
                };
                for &i in CallGraph::row(by_summary, start, j) {
                    let e = &g.calls[i as usize];
                    let (caller, callee) = (ids.old_id(e.caller), ids.old_id(e.callee));
                    calls.push(e.moved(caller, callee, summary, g, &mut candidates));
                }
            }
        }
    }
    def_start.push(defs.len() as u32);
    starts.push(calls.len() as u32);
    let blocks = starts;
    // The new number of each old summary kept.
    let mut new_summary = vec![u32::MAX; old.map_or(0, |g| g.state.summaries.len())];
    for (i, j) in plan.iter().enumerate() {
        if let Some(j) = j {
            new_summary[*j as usize] = i as u32;
        }
    }
    if let (Some(g), true) = (old, in_order) {
        for e in g
            .calls
            .iter()
            .filter(|e| new_summary[e.summary as usize] != u32::MAX)
        {
            ids.old_id(e.caller);
            ids.old_id(e.callee);
        }
    }
    // Numbered in name order: the old functions still named (already in
    // that order) merged with the new ones.
    let Ids { kept, fresh, .. } = ids;
    let mut fresh_order: Vec<u32> = (0..fresh.len() as u32).collect();
    fresh_order.sort_unstable_by_key(|&t| fresh[t as usize]);
    let mut rank = vec![u32::MAX; n_old + fresh.len()];
    let mut functions: Vec<FnInfo> = Vec::with_capacity(n_old + fresh.len());
    let info = |mfa: Mfa| FnInfo {
        mfa,
        kind: None,
        file: None,
        line: 0,
        deprecated: None,
    };
    let mut next_fresh = fresh_order.iter().peekable();
    let olds = old.map_or(&[][..], |g| &g.functions[..]);
    for (id, f) in olds.iter().enumerate().filter(|(id, _)| kept[*id]) {
        let key = (f.mfa.module.as_str(), f.mfa.name.as_str(), f.mfa.arity);
        while let Some(&&t) = next_fresh.peek() {
            if fresh[t as usize] > key {
                break;
            }
            rank[n_old + t as usize] = functions.len() as u32;
            let (m, n, a) = fresh[t as usize];
            functions.push(info(Mfa::new(m, n, a)));
            next_fresh.next();
        }
        rank[id] = functions.len() as u32;
        functions.push(info(f.mfa.clone()));
    }
    for &t in next_fresh {
        rank[n_old + t as usize] = functions.len() as u32;
        let (m, n, a) = fresh[t as usize];
        functions.push(info(Mfa::new(m, n, a)));
    }
    for id in &mut defs {
        *id = rank[*id as usize];
    }
    // The first definition of a function says where it is.
    for (mi, m) in summaries.iter().enumerate() {
        let (from, to) = (def_start[mi] as usize, def_start[mi + 1] as usize);
        for (f, &id) in m.functions.iter().zip(&defs[from..to]) {
            let info = &mut functions[id as usize];
            if info.kind.is_none() {
                info.kind = Some(f.kind);
                info.file = Some(files[mi].clone());
                info.line = f.line;
            }
        }
    }
    deprecations(linker, summaries, libraries, &mut functions);
    for c in &mut calls {
        c.caller = rank[c.caller as usize];
        c.callee = rank[c.callee as usize];
    }
    // The files' order holds while every summary has the file it had.
    let file_rank = match old {
        Some(g)
            if g.state.summaries.len() == summaries.len()
                && g.state
                    .summaries
                    .iter()
                    .zip(summaries)
                    .all(|(o, m)| o.file == m.file) =>
        {
            g.state.file_rank.clone()
        }
        _ => file_ranks(summaries),
    };
    // The calls, and for a relink the callers of the calls linked now (new
    // ids) and of the old calls not kept (old ids).
    let (calls, candidates, callers, old_callers) = match old {
        Some(g) if in_order => {
            let linked = sort_calls(calls, &file_rank, &plan, &blocks);
            let callers = linked.iter().map(|c| c.caller).collect();
            let (calls, candidates, old_callers) =
                merge_kept(g, linked, &new_summary, &rank, &file_rank, &candidates);
            (calls, candidates, callers, old_callers)
        }
        _ => {
            let (mut callers, mut old_callers) = (Vec::new(), Vec::new());
            if let Some(g) = old {
                callers = plan
                    .iter()
                    .enumerate()
                    .filter(|(_, kept)| kept.is_none())
                    .flat_map(|(i, _)| &calls[blocks[i] as usize..blocks[i + 1] as usize])
                    .map(|c| c.caller)
                    .collect();
                old_callers = g
                    .calls
                    .iter()
                    .filter(|c| new_summary[c.summary as usize] == u32::MAX)
                    .map(|c| c.caller)
                    .collect();
            }
            let calls = sort_calls(calls, &file_rank, &plan, &blocks);
            let (calls, candidates) = number_candidates(calls, candidates);
            (calls, candidates, callers, old_callers)
        }
    };
    let delta = old.map(|g| {
        let sorted = |mut v: Vec<u32>| {
            v.sort_unstable();
            v.dedup();
            v
        };
        Delta {
            base: g.state.id,
            callers: sorted(callers),
            old_callers: sorted(old_callers),
            appeared: (0..fresh.len()).map(|t| rank[n_old + t]).collect(),
            vanished: (0..n_old as u32).filter(|&o| !kept[o as usize]).collect(),
        }
    });
    let n = functions.len();
    debug_assert!(calls.windows(2).all(|w| w[0].caller <= w[1].caller));
    let out_start = super::starts(&calls, n, |c: &CallEdge| c.caller);
    let (inc, inc_start) = rows(&calls, n, |c| c.callee);
    let mut callbacks = FastMap::default();
    let mut uses = FastMap::default();
    for (m, l) in summaries.iter().zip(&links) {
        if !l.callbacks.is_empty() {
            callbacks.insert(m.name.clone(), l.callbacks.clone());
        }
        if !l.uses.is_empty() {
            uses.insert(m.name.clone(), l.uses.clone());
        }
    }
    CallGraph {
        callbacks,
        uses,
        functions,
        calls,
        candidates,
        out_start,
        inc,
        inc_start,
        state: LinkState {
            summaries: summaries.to_vec(),
            libraries: libraries.to_vec(),
            links,
            defs,
            def_start,
            interfaces,
            registered,
            memo,
            names,
            file_rank,
            relinked,
            id: GRAPHS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            delta,
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
