//! The whole-program call graph, linked from per-function call summaries.
//!
//! Linking settles what a single module could not: a bare call with several
//! imports that might provide it goes to the imported module that exports
//! `name/arity` (the compiler rejects ambiguous ones, so at most one does).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use proto::{CallKind, FunKind, Mfa, ModuleSummary};
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
}

/// A function reached by a transitive walk, at its shortest distance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Reached {
    pub depth: u32,
    pub mfa: Mfa,
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
        let exports = exports(summaries);
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
                for c in f.calls.iter().filter(|c| !c.quoted) {
                    let (module, kind) = link(c, &exports);
                    let callee = match module {
                        Some(module) => Mfa::new(module, &c.name, c.arity),
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
                    });
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

/// The callee module of a call after linking, and its kind.
fn link<'a>(
    c: &'a proto::CallSummary,
    exports: &HashMap<&str, HashSet<(&str, u16)>>,
) -> (Option<&'a str>, CallKind) {
    if c.candidates.is_empty() {
        return (c.module.as_deref(), c.kind);
    }
    let provides = |m: &str| {
        exports
            .get(m)
            .map(|e| e.contains(&(c.name.as_str(), c.arity)))
    };
    // A candidate known to export it wins; otherwise the first one whose
    // exports we do not know; if every candidate is known and none exports it,
    // the call is unresolved.
    if let Some(m) = c.candidates.iter().find(|m| provides(m) == Some(true)) {
        return (Some(m), CallKind::Imported);
    }
    match c.candidates.iter().find(|m| provides(m).is_none()) {
        Some(m) => (Some(m), CallKind::Imported),
        None => (None, CallKind::Unresolved),
    }
}
