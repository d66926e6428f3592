//! The whole-program call graph, linked from per-function call summaries.
//!
//! Linking settles what a single module could not: a bare call that imports
//! without `only:` might provide goes to the imported module that exports
//! `name/arity`, and imports injected by `use` (through `__using__` quotes of
//! ingested modules, or known effects of standard ones) are taken into account.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use proto::{CallKind, CallSummary, DepKind, FunKind, Mfa, ModuleSummary, Reached};

use crate::frontend::USE_EFFECTS;
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
}

#[derive(Debug, Default)]
pub struct CallGraph {
    pub functions: Vec<FnInfo>,
    index: HashMap<Mfa, u32>,
    /// Sorted by (caller module, caller function, arity, file, line, column, callee).
    pub calls: Vec<CallEdge>,
    out: Vec<Vec<u32>>,
    inc: Vec<Vec<u32>>,
}

/// The module's public `name/arity` set, for linking.
fn exports(summaries: &[Arc<ModuleSummary>]) -> HashMap<&str, HashSet<(&str, u16)>> {
    let mut out: HashMap<&str, HashSet<(&str, u16)>> = HashMap::new();
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
        let linker = Linker::new(summaries);
        let mut g = CallGraph::default();
        for m in summaries {
            let file: Arc<str> = Arc::from(m.file.as_str());
            for f in &m.functions {
                let id = g.intern(Mfa::new(&m.name, &f.name, f.arity));
                let info = &mut g.functions[id as usize];
                if info.kind.is_none() {
                    info.kind = Some(f.kind);
                    info.file = Some(file.clone());
                    info.line = f.line;
                }
            }
        }
        for m in summaries {
            let file: Arc<str> = Arc::from(m.file.as_str());
            for f in &m.functions {
                let caller = g.intern(Mfa::new(&m.name, &f.name, f.arity));
                for (site, c) in f.calls.iter().enumerate().filter(|(_, c)| !c.quoted) {
                    let site = site as u32;
                    let (module, kind) = linker.link(&m.name, c);
                    let callee = match module {
                        Some(module) => Mfa::new(module.as_ref(), &c.name, c.arity),
                        None => Mfa::new("", &c.name, c.arity),
                    };
                    let callee = g.intern(callee);
                    g.calls.push(CallEdge {
                        caller,
                        callee,
                        kind,
                        file: file.clone(),
                        line: c.line,
                        column: c.column,
                        site,
                    });
                    for target in linker.process_targets(&m.name, c) {
                        let callee = g.intern(target);
                        g.calls.push(CallEdge {
                            caller,
                            callee,
                            kind: CallKind::Process,
                            file: file.clone(),
                            line: c.line,
                            column: c.column,
                            site,
                        });
                    }
                }
            }
        }
        let fns = &g.functions;
        g.calls.sort_by(|a, b| {
            let (ca, cb) = (&fns[a.caller as usize].mfa, &fns[b.caller as usize].mfa);
            (ca, &a.file, a.line, a.column, &fns[a.callee as usize].mfa).cmp(&(
                cb,
                &b.file,
                b.line,
                b.column,
                &fns[b.callee as usize].mfa,
            ))
        });
        g.out = vec![Vec::new(); g.functions.len()];
        g.inc = vec![Vec::new(); g.functions.len()];
        for (i, c) in g.calls.iter().enumerate() {
            g.out[c.caller as usize].push(i as u32);
            g.inc[c.callee as usize].push(i as u32);
        }
        g
    }

    fn intern(&mut self, mfa: Mfa) -> u32 {
        if let Some(&i) = self.index.get(&mfa) {
            return i;
        }
        let i = self.functions.len() as u32;
        self.index.insert(mfa.clone(), i);
        self.functions.push(FnInfo {
            mfa,
            kind: None,
            file: None,
            line: 0,
        });
        i
    }

    pub fn id(&self, mfa: &Mfa) -> Option<u32> {
        self.index.get(mfa).copied()
    }

    pub fn mfa(&self, id: u32) -> &Mfa {
        &self.functions[id as usize].mfa
    }

    /// Calls made by a function (edge indexes).
    pub fn calls_from(&self, id: u32) -> impl Iterator<Item = &CallEdge> {
        self.out
            .get(id as usize)
            .into_iter()
            .flatten()
            .map(|&i| &self.calls[i as usize])
    }

    /// Calls into a function (edge indexes).
    pub fn calls_to(&self, id: u32) -> impl Iterator<Item = &CallEdge> {
        self.inc
            .get(id as usize)
            .into_iter()
            .flatten()
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

/// What the link step knows about the whole program: who exports what, and
/// which imports a `use` injects.
struct Linker<'a> {
    exports: HashMap<&'a str, HashSet<(&'a str, u16)>>,
    modules: HashMap<&'a str, &'a ModuleSummary>,
    /// Registered process name (`:atom`) → the module registering it.
    registered: HashMap<&'a str, &'a str>,
    /// Imports each module gets through its `use` directives (memoized).
    via_use: RefCell<HashMap<String, Arc<Vec<String>>>>,
}

impl<'a> Linker<'a> {
    fn new(summaries: &'a [Arc<ModuleSummary>]) -> Linker<'a> {
        let mut modules = HashMap::new();
        for m in summaries {
            modules.entry(m.name.as_str()).or_insert(&**m);
        }
        let mut registered = HashMap::new();
        for m in summaries {
            for name in &m.registers {
                registered.entry(name.as_str()).or_insert(m.name.as_str());
            }
        }
        Linker {
            exports: exports(summaries),
            modules,
            registered,
            via_use: RefCell::default(),
        }
    }

    /// `Some(true)` if `module` is ingested and exports `name/arity`,
    /// `Some(false)` if ingested and does not, `None` if unknown.
    fn provides(&self, module: &str, name: &str, arity: u16) -> Option<bool> {
        self.exports.get(module).map(|e| e.contains(&(name, arity)))
    }

    /// Modules imported into `module` by the `__using__` of what it uses.
    fn imports_via_use(&self, module: &str) -> Arc<Vec<String>> {
        if let Some(v) = self.via_use.borrow().get(module) {
            return v.clone();
        }
        let mut out = Vec::new();
        if let Some(m) = self.modules.get(module) {
            let mut seen = HashSet::new();
            for d in m.deps.iter().filter(|d| d.kind == DepKind::Use) {
                self.use_effects(&d.target, &mut seen, &mut out);
            }
        }
        let out = Arc::new(out);
        self.via_use
            .borrow_mut()
            .insert(module.to_string(), out.clone());
        out
    }

    /// What `use used` imports: the known effects of standard modules, and
    /// the directives quoted in an ingested module's `__using__`.
    fn use_effects(&self, used: &str, seen: &mut HashSet<String>, out: &mut Vec<String>) {
        if !seen.insert(used.to_string()) {
            return;
        }
        let push = |m: &str, out: &mut Vec<String>| {
            if !out.iter().any(|x| x == m) {
                out.push(m.to_string());
            }
        };
        if let Some((_, imports, _)) = USE_EFFECTS.iter().find(|(m, _, _)| *m == used) {
            for i in *imports {
                push(i, out);
            }
        }
        let Some(m) = self.modules.get(used) else {
            return;
        };
        for d in &m.using {
            match d.kind {
                DepKind::Import => push(&d.target, out),
                DepKind::Use => self.use_effects(&d.target, seen, out),
                _ => {}
            }
        }
        // A case template's users get `use ExUnit.Case` (ExUnit.CaseTemplate.__proxy__/2).
        if m.deps
            .iter()
            .any(|d| d.kind == DepKind::Use && d.target == "ExUnit.CaseTemplate")
        {
            self.use_effects("ExUnit.Case", seen, out);
        }
    }

    /// Where a call that hands work to another process leads, when its
    /// target is named in the code: `GenServer.call(M, msg)` to
    /// `M.handle_call/3`, `GenServer.cast` to `handle_cast/2`, `send(M or
    /// :registered, msg)` to `handle_info/2`, `spawn(M, :f, args)` and
    /// `Task.start(M, :f, args)` to every public `M.f`; `self()` names the
    /// calling module. Only functions the ingested code defines.
    fn process_targets(&self, caller: &str, c: &CallSummary) -> Vec<Mfa> {
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
                vec![Mfa::new(&target.name, name, arity)]
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
            .map(|a| Mfa::new(&target.name, fun, a))
            .collect()
    }

    /// The callee module of a call made in `module`, and its kind.
    fn link<'c>(&self, module: &str, c: &'c CallSummary) -> (Option<Cow<'c, str>>, CallKind) {
        if c.candidates.is_empty() && c.kind != CallKind::Unresolved {
            return (c.module.as_deref().map(Cow::Borrowed), c.kind);
        }
        let (name, arity) = (c.name.as_str(), c.arity);
        // 1. An explicit import known to export it (the compiler rejects
        //    ambiguous calls, so at most one does).
        if let Some(m) = c
            .candidates
            .iter()
            .find(|m| self.provides(m, name, arity) == Some(true))
        {
            return (Some(Cow::Borrowed(m.as_str())), CallKind::Imported);
        }
        // 2. An import injected by `use`, known to export it.
        let via_use = self.imports_via_use(module);
        if let Some(m) = via_use
            .iter()
            .find(|m| self.provides(m, name, arity) == Some(true))
        {
            return (Some(Cow::Owned(m.clone())), CallKind::Imported);
        }
        // 3. An explicit import whose exports we cannot see (outside the
        //    ingested code): the best guess left.
        if let Some(m) = c
            .candidates
            .iter()
            .find(|m| self.provides(m, name, arity).is_none())
        {
            return (Some(Cow::Borrowed(m.as_str())), CallKind::Imported);
        }
        (None, CallKind::Unresolved)
    }
}
