//! The link step's knowledge of the whole program: who exports what (the
//! analysed code, its libraries and the standard library), what a `use`
//! injects, and how one call site resolves against it.

use std::cell::RefCell;
use std::sync::Arc;

use proto::{CallKind, CallSummary, DepKind, FunKind, InjectionKind, ModuleSummary};

use crate::frontend::USE_EFFECTS;
use crate::library::Library;
use crate::summary::is_process_call;

use super::*;

/// Functions a framework calls by convention in the modules that use it,
/// without declaring them as callbacks: Ecto's migration runner calls
/// `change/0` (or `up/0`, `down/0`).
pub(super) const CONVENTIONS: &[(&str, &[(&str, u16)])] =
    &[("Ecto.Migration", &[("change", 0), ("up", 0), ("down", 0)])];

/// What `use` brings into one module: the modules it imports, the
/// functions it defines there (public and private) and the used modules
/// nothing is known about (their effects cannot be seen).
#[derive(Debug, Default)]
pub(super) struct UseEffects<'a> {
    /// Every module used, directly or by what is used.
    pub(super) used: Vec<&'a str>,
    pub(super) imports: Vec<&'a str>,
    /// `@behaviour M` quoted by what is used.
    pub(super) behaviours: Vec<&'a str>,
    pub(super) defs: Vec<(&'a str, u16)>,
    pub(super) private_defs: Vec<(&'a str, u16)>,
    /// Calls the injected code makes to the using module's functions.
    pub(super) calls: Vec<(&'a str, u16)>,
    pub(super) unknown: Vec<&'a str>,
}

/// [`UseEffects`] kept from one generation's link for the next: the same
/// lists, owned, and the modules computing them looked up.
#[derive(Debug)]
pub(super) struct KeptUse {
    used: Vec<Arc<str>>,
    imports: Vec<Arc<str>>,
    behaviours: Vec<Arc<str>>,
    defs: Vec<(Arc<str>, u16)>,
    private_defs: Vec<(Arc<str>, u16)>,
    calls: Vec<(Arc<str>, u16)>,
    unknown: Vec<Arc<str>>,
    pub(super) reads: Box<[Arc<str>]>,
}

/// What the macros called in one summary's module body define there
/// (see [`Linker::macro_defs`]), kept for the next generation, and the
/// modules computing it looked up.
#[derive(Debug, Default)]
pub(super) struct KeptMacros {
    defs: Vec<(Arc<str>, u16, bool)>,
    reads: Box<[Arc<str>]>,
}

/// What a linker computed that the next generation's can take again
/// when nothing it looked up changed: each module's `use` effects, and
/// per summary (in the order `summaries` then `libraries`) what the
/// macros of its body define; names as the graph interns them.
#[derive(Debug, Default)]
pub(super) struct LinkerMemo {
    uses: FastMap<Arc<str>, Arc<KeptUse>>,
    macros: Vec<Option<Arc<KeptMacros>>>,
    injecting: FastSet<Arc<str>>,
    /// What a summary whose body's macros define nothing keeps.
    none: Arc<KeptMacros>,
}

/// What a relink's linker starts from: the last generation's memo, which
/// old summary each new one is (when it is the same), and the modules
/// whose summaries changed, appeared or vanished, as the old
/// generation's interned names (compared by address).
pub(super) struct Prior<'a> {
    pub(super) memo: &'a LinkerMemo,
    /// Per summary then library: the old one it equals.
    pub(super) same: Vec<Option<u32>>,
    pub(super) stale: FastSet<*const u8>,
    /// The same, by name (new modules too).
    pub(super) stale_names: FastSet<&'a str>,
}

/// A name's address, as interned names are compared.
fn at(name: &str) -> *const u8 {
    name.as_ptr()
}

impl<'a> From<&'a KeptUse> for UseEffects<'a> {
    fn from(k: &'a KeptUse) -> UseEffects<'a> {
        let names = |v: &'a [Arc<str>]| v.iter().map(|n| &**n).collect();
        let pairs = |v: &'a [(Arc<str>, u16)]| v.iter().map(|(n, a)| (&**n, *a)).collect();
        UseEffects {
            used: names(&k.used),
            imports: names(&k.imports),
            behaviours: names(&k.behaviours),
            defs: pairs(&k.defs),
            private_defs: pairs(&k.private_defs),
            calls: pairs(&k.calls),
            unknown: names(&k.unknown),
        }
    }
}

/// What a call's resolution depends on, besides the calling module:
/// (module, name, arity, kind, candidates).
type CallKey<'a> = (Option<&'a str>, &'a str, u16, CallKind, &'a [String]);

/// A function a macro defines: (name, arity, public).
pub(super) type MacroDef<'a> = (&'a str, u16, bool);

/// A function by (module, name, arity), borrowed from the summaries.
pub(super) type Key<'a> = (&'a str, &'a str, u16);

/// What the link step knows about the whole program: who exports what
/// (the analysed code, its libraries and the standard library), and what
/// a `use` injects.
pub(super) struct Linker<'a> {
    pub(super) exports: FastMap<&'a str, FastSet<(&'a str, u16)>>,
    pub(super) modules: FastMap<&'a str, &'a ModuleSummary>,
    pub(super) std: &'static Library,
    /// The libraries linked against.
    pub(super) libraries: &'a [Arc<ModuleSummary>],
    /// Registered process name (`:atom`) → the module registering it.
    pub(super) registered: FastMap<&'a str, &'a str>,
    /// What each module gets through its `use` directives (memoized).
    pub(super) via_use: RefCell<FastMap<&'a str, Arc<UseEffects<'a>>>>,
    /// Functions the macros called by each module's body define in it.
    pub(super) macro_made: FastMap<&'a str, Vec<MacroDef<'a>>>,
    /// The standard library's answers so far: its table is keyed by owned
    /// names, and most calls of a large code base go to a few hundred of
    /// its functions.
    std_provides: RefCell<FastMap<Key<'a>, Option<bool>>>,
    /// While [`Linker::record`] is on (`marks` not empty), every module
    /// (or registered name) a lookup asks about is noted in `reads`: what
    /// linking one module depended on, so that a later change relinks it
    /// only if one of those changed. Recordings nest.
    marks: RefCell<Vec<usize>>,
    reads: RefCell<Vec<&'a str>>,
    /// The last generation's memo and what changed since (a relink).
    prior: Option<Prior<'a>>,
    /// The old `use` effects and macro definitions of names whose inputs
    /// did not change: their own and every module their computation
    /// looked up, and those modules' `use` effects.
    use_stale: FastSet<*const u8>,
    injecting_same: bool,
    /// What this generation computed, with what it looked up, and what it
    /// took from the last one: the next memo (see [`Linker::memo`]).
    uses_new: RefCell<Vec<(&'a str, Vec<&'a str>)>>,
    uses_kept: RefCell<Vec<(&'a str, Arc<KeptUse>)>>,
    macros_new: Vec<(usize, Vec<MacroDef<'a>>, Vec<&'a str>)>,
    macros_kept: Vec<(usize, Arc<KeptMacros>)>,
    /// Names whose macro definitions were computed again (the others'
    /// were taken from `prior`).
    pub(super) macros_redone: FastSet<&'a str>,
    /// How many summaries and libraries this linker links.
    count: usize,
    /// What a module without `use` gets through it: nothing.
    no_use: Arc<UseEffects<'a>>,
    /// The functions whose quotes inject something somewhere (`__using__`,
    /// `schema`, ...): only a call of one of these names can make a macro
    /// define functions.
    injecting: FastSet<&'a str>,
}

impl<'a> Linker<'a> {
    pub(super) fn new(
        summaries: &'a [Arc<ModuleSummary>],
        libraries: &'a [Arc<ModuleSummary>],
        prior: Option<Prior<'a>>,
    ) -> Linker<'a> {
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
        let injecting: FastSet<&'a str> = summaries
            .iter()
            .chain(libraries)
            .flat_map(|m| m.injections.iter().map(|i| i.by.as_str()))
            .collect();
        // What of the last generation's memo still holds: `use` effects
        // whose module and lookups kept their summaries.
        let mut use_stale = FastSet::default();
        let mut injecting_same = false;
        if let Some(p) = &prior {
            for (name, kept) in &p.memo.uses {
                if p.stale.contains(&at(name))
                    || kept.reads.iter().any(|r| p.stale.contains(&at(r)))
                {
                    use_stale.insert(at(name));
                }
            }
            injecting_same = p.memo.injecting.len() == injecting.len()
                && injecting.iter().all(|n| p.memo.injecting.contains(*n));
        }
        let mut linker = Linker {
            exports: exports(summaries.iter().chain(libraries)),
            modules,
            std: crate::library::stdlib(),
            libraries,
            registered,
            via_use: RefCell::default(),
            macro_made: FastMap::default(),
            std_provides: RefCell::default(),
            marks: RefCell::default(),
            reads: RefCell::default(),
            no_use: Arc::default(),
            injecting,
            prior,
            use_stale,
            injecting_same,
            uses_new: RefCell::default(),
            uses_kept: RefCell::default(),
            macros_new: Vec::new(),
            macros_kept: Vec::new(),
            macros_redone: FastSet::default(),
            count: summaries.len() + libraries.len(),
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
        for (i, m) in summaries.iter().chain(libraries).enumerate() {
            let defs = match linker.kept_macros(i, m) {
                Some(kept) => {
                    let defs = kept.defs.iter().map(|(n, a, p)| (&**n, *a, *p)).collect();
                    if !kept.defs.is_empty() || !kept.reads.is_empty() {
                        linker.macros_kept.push((i, kept.clone()));
                    }
                    defs
                }
                None => {
                    linker.record();
                    let defs = linker.macro_defs(m);
                    let reads = linker.recorded();
                    if !defs.is_empty() || !reads.is_empty() {
                        linker.macros_new.push((i, defs.clone(), reads));
                    }
                    linker.macros_redone.insert(m.name.as_str());
                    defs
                }
            };
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

    /// The old summary (or library) the `i`th is, when it is the same.
    pub(super) fn same(&self, i: usize) -> Option<u32> {
        self.prior.as_ref()?.same.get(i).copied().flatten()
    }

    /// Whether nothing `name`'s interface is made of changed since the
    /// last generation: its summaries, its `use` effects and what the
    /// macros of its body define (see `interfaces` in link.rs).
    pub(super) fn unchanged(&self, name: &str) -> bool {
        let Some(p) = &self.prior else {
            return false;
        };
        !p.stale_names.contains(name)
            && !self.macros_redone.contains(name)
            && !self.use_changed(name)
    }

    /// Whether `name` had `use` effects last generation that no longer
    /// hold.
    fn use_changed(&self, name: &str) -> bool {
        self.prior.as_ref().is_some_and(|p| {
            p.memo
                .uses
                .get_key_value(name)
                .is_some_and(|(n, _)| self.use_stale.contains(&at(n)))
        })
    }

    /// The last generation's macro definitions of the `i`th summary (or
    /// library), if they still hold: the summary is the same, the names
    /// that may start a definition are, and neither its module nor any
    /// module computing them looked up changed, nor their `use` effects.
    fn kept_macros(&self, i: usize, m: &ModuleSummary) -> Option<&'a Arc<KeptMacros>> {
        let p = self.prior.as_ref()?;
        let j = (*p.same.get(i)?)? as usize;
        if !self.injecting_same {
            return None;
        }
        let name = m.name.as_str();
        if p.stale_names.contains(name) || self.use_changed(name) {
            return None;
        }
        match p.memo.macros.get(j).and_then(Option::as_ref) {
            Some(k) => {
                let changed =
                    |r: &Arc<str>| p.stale.contains(&at(r)) || self.use_stale.contains(&at(r));
                (!k.reads.iter().any(changed)).then_some(k)
            }
            // It looked nothing up and defined nothing: so again.
            None => Some(&p.memo.none),
        }
    }

    /// The memo of this generation for the next one; `intern` gives the
    /// graph's shared copy of a name.
    pub(super) fn memo(&self, intern: &mut impl FnMut(&str) -> Arc<str>) -> LinkerMemo {
        fn names(v: &[&str], intern: &mut impl FnMut(&str) -> Arc<str>) -> Vec<Arc<str>> {
            v.iter().map(|n| intern(n)).collect()
        }
        fn pairs(
            v: &[(&str, u16)],
            intern: &mut impl FnMut(&str) -> Arc<str>,
        ) -> Vec<(Arc<str>, u16)> {
            v.iter().map(|(n, a)| (intern(n), *a)).collect()
        }
        let mut uses: FastMap<Arc<str>, Arc<KeptUse>> = FastMap::default();
        for (name, kept) in self.uses_kept.borrow().iter() {
            uses.insert(intern(name), kept.clone());
        }
        let via_use = self.via_use.borrow();
        for (name, reads) in self.uses_new.borrow().iter() {
            let Some(u) = via_use.get(name) else {
                continue;
            };
            let kept = KeptUse {
                used: names(&u.used, intern),
                imports: names(&u.imports, intern),
                behaviours: names(&u.behaviours, intern),
                defs: pairs(&u.defs, intern),
                private_defs: pairs(&u.private_defs, intern),
                calls: pairs(&u.calls, intern),
                unknown: names(&u.unknown, intern),
                reads: names(reads, intern).into_boxed_slice(),
            };
            uses.insert(intern(name), Arc::new(kept));
        }
        let mut macros = vec![None; self.count];
        for (i, kept) in &self.macros_kept {
            macros[*i] = Some(kept.clone());
        }
        for (i, defs, reads) in &self.macros_new {
            let defs = defs.iter().map(|(n, a, p)| (intern(n), *a, *p)).collect();
            let reads = names(reads, intern).into_boxed_slice();
            macros[*i] = Some(Arc::new(KeptMacros { defs, reads }));
        }
        LinkerMemo {
            uses,
            macros,
            injecting: self.injecting.iter().map(|n| intern(n)).collect(),
            none: Arc::default(),
        }
    }

    /// Start noting what lookups ask about (see `reads`).
    pub(super) fn record(&self) {
        let at = self.reads.borrow().len();
        self.marks.borrow_mut().push(at);
    }

    /// Stop noting, and what was asked about since [`Linker::record`],
    /// sorted and without repeats.
    pub(super) fn recorded(&self) -> Vec<&'a str> {
        let mut marks = self.marks.borrow_mut();
        let mark = marks.pop().unwrap_or(0);
        let mut all = self.reads.borrow_mut();
        let mut reads = all.get(mark..).unwrap_or_default().to_vec();
        // An outer recording keeps what this one noted.
        if marks.is_empty() {
            all.clear();
        }
        reads.sort_unstable();
        reads.dedup();
        reads
    }

    fn read(&self, name: &'a str) {
        if !self.marks.borrow().is_empty() {
            self.reads.borrow_mut().push(name);
        }
    }

    /// `module`'s export table, noted as read.
    pub(super) fn exported(&self, module: &'a str) -> Option<&FastSet<(&'a str, u16)>> {
        self.read(module);
        self.exports.get(module)
    }

    /// `name`'s summary (its source's, when several), noted as read.
    pub(super) fn module(&self, name: &'a str) -> Option<&'a ModuleSummary> {
        self.read(name);
        self.modules.get(name).copied()
    }

    /// What the macros called by `m`'s module body define in it, through
    /// `def` in their quotes (and the quotes they splice): `(name, arity,
    /// public)`.
    pub(super) fn macro_defs(&self, m: &'a ModuleSummary) -> Vec<MacroDef<'a>> {
        let mut out = Vec::new();
        let Some(body) = m.functions.iter().find(|f| f.kind == FunKind::ModuleBody) else {
            return out;
        };
        let mut seen: FastSet<(&'a str, &'a str)> = FastSet::default();
        let injects = |c: &&CallSummary| !c.quoted && self.injecting.contains(c.name.as_str());
        // A test module's body calls `assert` hundreds of times: each
        // distinct call is resolved once.
        let mut distinct: FastSet<CallKey<'a>> = FastSet::default();
        for c in body.calls.iter().filter(injects) {
            let call = (c.module.as_deref(), c.name.as_str(), c.arity, c.kind);
            if !distinct.insert((call.0, call.1, call.2, call.3, &c.candidates)) {
                continue;
            }
            let (Some(callee), _, _) = self.link(&m.name, c) else {
                continue;
            };
            let Some(provider) = self.module(callee) else {
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
    pub(super) fn provides(&self, module: &'a str, name: &'a str, arity: u16) -> Option<bool> {
        // The compiler gives every module these.
        if matches!((name, arity), ("__info__", 1) | ("module_info", 0 | 1)) {
            return self
                .exported(module)
                .map(|_| true)
                .or_else(|| self.std.provides(module, name, arity).map(|_| true));
        }
        match self.exported(module) {
            Some(e) => Some(e.contains(&(name, arity))),
            None => *self
                .std_provides
                .borrow_mut()
                .entry((module, name, arity))
                .or_insert_with(|| self.std.provides(module, name, arity)),
        }
    }

    /// The callbacks of every behaviour `m` has: declared, or quoted by
    /// what it uses; their `@callback`s from the analysed code, the
    /// libraries or the standard library table.
    pub(super) fn behaviour_callbacks(&self, m: &'a ModuleSummary) -> Vec<(String, u16)> {
        let effects = self.use_effects(&m.name);
        let mut out: Vec<(String, u16)> = Vec::new();
        for b in m
            .behaviours
            .iter()
            .map(String::as_str)
            .chain(effects.behaviours.iter().copied())
        {
            if let Some(s) = self.module(b) {
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
    pub(super) fn use_effects(&self, module: &'a str) -> Arc<UseEffects<'a>> {
        if let Some(v) = self.via_use.borrow().get(module) {
            return v.clone();
        }
        let uses = |m: &&ModuleSummary| m.deps.iter().any(|d| d.kind == DepKind::Use);
        if self.module(module).filter(uses).is_none() {
            return self.no_use.clone();
        }
        if let Some(kept) = self.kept_use(module) {
            let out = Arc::new(UseEffects::from(&**kept));
            self.via_use.borrow_mut().insert(module, out.clone());
            self.uses_kept.borrow_mut().push((module, kept.clone()));
            return out;
        }
        self.record();
        let mut out = UseEffects::default();
        if let Some(m) = self.module(module) {
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
                    let sql = adapter.and_then(|a| self.module(a)).is_some_and(|a| {
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
        let reads = self.recorded();
        self.uses_new.borrow_mut().push((module, reads));
        let out = Arc::new(out);
        self.via_use.borrow_mut().insert(module, out.clone());
        out
    }

    /// The last generation's `use` effects of `module`, if they still hold.
    fn kept_use(&self, module: &str) -> Option<&'a Arc<KeptUse>> {
        let p = self.prior.as_ref()?;
        let (name, kept) = p.memo.uses.get_key_value(module)?;
        (!self.use_stale.contains(&at(name))).then_some(kept)
    }

    /// What `use used` (or `use used, :which`) injects: the known effects
    /// of standard modules, the standard library table's, and what the
    /// quotes of an analysed or library module's `__using__` (and of its
    /// function `which/0`, and the functions they splice) hold.
    pub(super) fn collect_use(
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
        if let Some(m) = self.module(used) {
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
    pub(super) fn collect_before_compile(
        &self,
        module: &'a str,
        seen: &mut FastSet<(&'a str, Option<&'a str>)>,
        out: &mut UseEffects<'a>,
    ) {
        if !seen.insert((module, Some("__before_compile__"))) {
            return;
        }
        let Some(m) = self.module(module) else {
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
    pub(super) fn process_targets(
        &self,
        caller: &'a str,
        c: &'a CallSummary,
    ) -> Vec<(&'a str, &'a str, u16)> {
        // `Worker.new(args) |> Oban.insert()`: the job runs the worker's
        // `perform/1` in another process, its `args` what `new` was given
        // (a module that `use`s Oban.Worker itself).
        if matches!((c.name.as_str(), c.arity), ("new", 1 | 2)) {
            let worker = c.module.as_deref().and_then(|m| self.module(m));
            if let Some(w) = worker.filter(|w| {
                w.deps
                    .iter()
                    .any(|d| d.kind == DepKind::Use && d.target == "Oban.Worker")
                    && w.functions
                        .iter()
                        .any(|f| f.name == "perform" && f.arity == 1)
            }) {
                return vec![(w.name.as_str(), "perform", 1)];
            }
        }
        if c.targets.is_empty() || !is_process_call(c.module.as_deref(), &c.name, c.arity) {
            return Vec::new();
        }
        let module_of = |name: &'a str| -> Option<&'a ModuleSummary> {
            let module = if name.starts_with(':') {
                self.read(name);
                self.registered.get(name).copied()?
            } else {
                name
            };
            self.module(module)
        };
        let named = c.targets.first().filter(|t| !t.is_empty());
        let target = match named {
            Some(t) => module_of(t),
            // `GenServer.call(server, msg)` with the server computed (a pid,
            // a `{:via, ...}` tuple) inside a module that handles such calls:
            // the client-API idiom, the module calls its own server.
            None if matches!(c.name.as_str(), "call" | "cast") => self.module(caller),
            // Otherwise unknown until run time.
            None => None,
        };
        let Some(target) = target else {
            return Vec::new();
        };
        let handler = match c.name.as_str() {
            "call" => Some(("handle_call", 3)),
            "cast" => Some(("handle_cast", 2)),
            "send" => Some(("handle_info", 2)),
            _ => None,
        };
        if let Some((name, arity)) = handler {
            // A message of a known shape (`{:delete, path}`) reaches the
            // handler only when one of its clauses takes it.
            let message: Vec<_> = c
                .shapes
                .iter()
                .filter(|(a, _)| *a == 1)
                .map(|(_, s)| (0, s.clone()))
                .collect();
            let takes = target
                .functions
                .iter()
                .find(|f| f.name == name && f.arity == arity)
                .is_some_and(|f| f.matching_clauses(&message) != 0);
            return if takes {
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
    pub(super) fn link(
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
        self.read(module);
        let made = self
            .macro_made
            .get(module)
            .is_some_and(|d| d.iter().any(|&(n, a, _)| n == name && a == arity));
        // A function the module has that its source does not define (a
        // template's, an export table's, a public one its `use` injects:
        // all in its exports) is local too.
        let own = self
            .exported(module)
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
