//! Taint: untrusted data from a source reaching a sink, across modules.
//!
//! Each partition summarizes its functions on its own: what reaches each call
//! argument and the return value directly (parameters, results of other
//! calls, field reads), stopping at calls. This step stitches the summaries
//! along the linked call graph:
//!
//! - a tainted argument of a call to an ingested function taints that
//!   function's parameter (followed inside it), and taints the call's result
//!   when the parameter reaches the callee's return value — through any depth
//!   of calls (a fixpoint over the call graph, so identity-like helpers called
//!   with clean data elsewhere stay clean there);
//! - a call outside the ingested code passes taint from its arguments to its
//!   result, unless it is a sanitizer or a predicate (`valid?/1`,
//!   `is_binary/1`: a yes or no carries no data);
//! - a function whose own source reaches its return value taints the result
//!   at every call site;
//! - process edges carry the message: `GenServer.call(server, msg)` taints
//!   `handle_call`'s first parameter, `spawn(M, :f, args)` every parameter
//!   of `M.f`.
//!
//! Findings list each call boundary crossed with its `file:line`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use proto::{
    CallKind, Check, FunctionSummary, Mfa, ModuleSummary, Origin, Shape, Taint, TaintFinding,
    TaintRule, TaintRules,
};

use super::CallGraph;

mod report;
mod rules;

use rules::{compile, excluded, Compiled, Pattern};
pub use rules::{default_taint_rules, parse_taint_rules, DEFAULT_TAINT_RULES};

/// A tainted value: in function `f`, from `origin`; `entered` when the taint
/// came in through a parameter from a caller (its way back out is decided at
/// that call site, by the callee's summary). A parameter tainted by a call
/// or message whose literal arguments only some clauses can match is
/// tainted in those (`clauses`, bit i for clause i; all bits: every clause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Fact {
    f: u32,
    origin: Origin,
    entered: bool,
    clauses: u64,
    /// The field validated on the way ([`field_id`] of the atom; 0: none),
    /// for the sanitizers' `validates` and `field_reads`.
    validated: u64,
}

/// A field's name as a fact carries it: a 64-bit FNV-1a hash, never 0.
fn field_id(name: &str) -> u64 {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    h.max(1)
}

/// Every clause.
const ALL: u64 = u64::MAX;

/// Where an origin goes directly: (call site, argument, checks on the way).
type Hop = (u32, u8, u8);

/// No clause can take the arguments: the shapes are wrong or the call
/// fails; either way every clause is kept rather than a flow lost.
fn nonzero(clauses: u64) -> u64 {
    if clauses == 0 {
        ALL
    } else {
        clauses
    }
}

/// How a fact was reached from its parent.
#[derive(Debug, Clone, Copy)]
enum How {
    Source,
    /// Passed as argument `arg` to the ingested function `callee` (site in parent's function).
    Into {
        site: u32,
        arg: u8,
        callee: u32,
    },
    /// Through a function outside the ingested code (`assumed`: no rule
    /// says what it passes, so every argument is taken to reach its result).
    Through {
        site: u32,
        callee: u32,
        assumed: bool,
    },
    /// Returned by an ingested callee whose parameter reaches its result.
    Returned {
        site: u32,
        callee: u32,
    },
    /// Returned by the parent's function to a caller's call site.
    ReturnedTo {
        site: u32,
    },
    /// Handed to another process.
    Sent {
        site: u32,
        via: u32,
        handler: u32,
    },
}

/// Work limit (facts visited over all sources) keeping big code bases bounded.
const MAX_FACTS: usize = 2_000_000;

struct Source<'r> {
    rule: &'r TaintRule,
    fact: Fact,
    what: String,
    line: u32,
}

/// Find source-to-sink flows.
pub fn taint(graph: &CallGraph, summaries: &[Arc<ModuleSummary>], rules: &TaintRules) -> Taint {
    Stitcher::new(graph, summaries, rules).run()
}

struct Stitcher<'a> {
    graph: &'a CallGraph,
    /// Graph function id → its module and summary (the first definition).
    fns: Vec<Option<(&'a ModuleSummary, &'a FunctionSummary)>>,
    /// Per function, its call edges from its own file as (site, edge),
    /// sorted: those of function f are `sites[site_start[f]..site_start[f + 1]]`.
    sites: Vec<(u32, u32)>,
    site_start: Vec<u32>,
    /// Per function: origin → the (site, argument) pairs it reaches
    /// directly, with the checks it passed on the way that sanitize for
    /// some sources (0: none; what a check sanitizing for all sources lets
    /// through is left out).
    flows: Vec<HashMap<Origin, Vec<Hop>>>,
    /// Per function: what reaches its return value directly, with checks
    /// as in `flows`.
    returns: Vec<Vec<(Origin, u8)>>,
    /// Source rule name → the checks that sanitize its data (those of
    /// sanitizers for every source included).
    sanitizing: HashMap<&'a str, u8>,
    /// The sanitizer rules, for explaining a finding.
    sanitizer_rules: &'a [TaintRule],
    /// Callee id → a sanitizer's `validates` matches it (with `anchored`).
    validator: HashMap<u32, bool>,
    /// Callee ids a sanitizer's `field_reads` match.
    field_read: HashSet<u32>,
    /// Per function: bit i set when parameter i reaches the return value,
    /// through calls too.
    passes: Vec<u64>,
    /// Functions the Phoenix router reaches (actions, LiveView callbacks).
    routed: HashSet<u32>,
    /// Whether the analysed code has a Phoenix router.
    has_router: bool,
    sources: Vec<Compiled<'a>>,
    sinks: Vec<Compiled<'a>>,
    sanitizer: Vec<bool>,
    /// Callee id → the sink rules it matches.
    sink_of: HashMap<u32, Vec<usize>>,
    /// Callee id → the first source rule it matches.
    source_of: HashMap<u32, usize>,
    /// Callee id → the argument positions a flow rule says reach its result.
    flow_of: HashMap<u32, &'a [u8]>,
    /// Functions in excluded files: no source or sink counts there.
    excluded: Vec<bool>,
}

impl<'a> Stitcher<'a> {
    fn new(
        graph: &'a CallGraph,
        summaries: &'a [Arc<ModuleSummary>],
        rules: &'a TaintRules,
    ) -> Stitcher<'a> {
        let n = graph.functions.len();
        let mut fns = vec![None; n];
        for m in summaries {
            for f in &m.functions {
                if let Some(id) = graph.id(&Mfa::new(&m.name, &f.name, f.arity)) {
                    let slot = &mut fns[id as usize];
                    if slot.is_none() {
                        *slot = Some((&**m, f));
                    }
                }
            }
        }
        let mut sites: Vec<(u32, u32)> = Vec::with_capacity(graph.calls.len());
        let mut site_start: Vec<u32> = Vec::with_capacity(n + 1);
        for (f, def) in fns.iter().enumerate() {
            site_start.push(sites.len() as u32);
            let Some((m, _)) = def else { continue };
            let from = sites.len();
            sites.extend(
                graph
                    .call_ids_from(f as u32)
                    .filter(|&i| graph.file_of(&graph.calls[i as usize]) == m.file)
                    .map(|i| (graph.calls[i as usize].site, i)),
            );
            sites[from..].sort_unstable();
        }
        site_start.push(sites.len() as u32);
        // Checks the rules count as sanitizing (`if x in @allowed`, ...):
        // inputs only under them do not flow, for every source or for the
        // sources a sanitizer names.
        let check_bits = |r: &TaintRule| {
            r.checks
                .iter()
                .filter_map(|c| Check::NAMES.iter().find(|(n, _)| n == c))
                .fold(0u8, |bits, (_, b)| bits | b)
        };
        let always: u8 = rules
            .sanitizers
            .iter()
            .filter(|r| r.sources.is_empty())
            .fold(0, |bits, r| bits | check_bits(r));
        let sanitizing: HashMap<&str, u8> = rules
            .sources
            .iter()
            .map(|src| {
                let scoped = rules
                    .sanitizers
                    .iter()
                    .filter(|r| r.sources.contains(&src.name))
                    .fold(always, |bits, r| bits | check_bits(r));
                (src.name.as_str(), scoped)
            })
            .collect();
        let scoped = sanitizing.values().fold(0, |bits, b| bits | b) & !always;
        // What is left of a flow's checks: `None` when one sanitizes for
        // every source, the ones that sanitize for some otherwise.
        let live = |bits: u8| (bits & always == 0).then_some(bits & scoped);
        let flows = fns
            .iter()
            .map(|f| {
                let mut map: HashMap<Origin, Vec<Hop>> = HashMap::new();
                if let Some((_, f)) = f {
                    for (site, c) in f.calls.iter().enumerate() {
                        let checked = c
                            .checked
                            .iter()
                            .filter_map(|&(o, a, b)| live(b).map(|b| (o, a, b)));
                        for (origin, arg, bits) in
                            c.inputs.iter().map(|&(o, a)| (o, a, 0)).chain(checked)
                        {
                            let sites = map.entry(origin).or_default();
                            if !sites.contains(&(site as u32, arg, bits)) {
                                sites.push((site as u32, arg, bits));
                            }
                        }
                    }
                }
                map
            })
            .collect();
        let returns = fns
            .iter()
            .map(|f| {
                let Some((_, f)) = f else {
                    return Vec::new();
                };
                let mut r: Vec<(Origin, u8)> = f.returns.iter().map(|&o| (o, 0)).collect();
                r.extend(
                    f.returns_checked
                        .iter()
                        .filter_map(|&(o, b)| live(b).map(|b| (o, b))),
                );
                r
            })
            .collect();
        let sanitizers = compile(&rules.sanitizers);
        let sinks = compile(&rules.sinks);
        // Predicates (`valid?/1`, `is_binary/1`) answer yes or no: their
        // results carry no data, like a sanitizer's.
        let predicate = |m: &Mfa| m.name.ends_with('?') || m.name.starts_with("is_");
        let mut sanitizer = vec![false; n];
        let sources = compile(&rules.sources);
        let mut sink_of: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut source_of: HashMap<u32, usize> = HashMap::new();
        // Every function some call names, once each.
        let called: Vec<u32> = (0..n as u32)
            .filter(|&f| graph.calls_to(f).next().is_some())
            .collect();
        for &id in &called {
            let mfa = graph.mfa(id);
            sanitizer[id as usize] = predicate(mfa)
                || sanitizers
                    .iter()
                    .any(|s| s.calls.iter().any(|p| p.matches(mfa)));
            let hits: Vec<usize> = sinks
                .iter()
                .enumerate()
                .filter(|(_, s)| s.calls.iter().any(|p| p.matches(mfa)))
                .map(|(i, _)| i)
                .collect();
            if !hits.is_empty() {
                sink_of.insert(id, hits);
            }
            if let Some(i) = sources
                .iter()
                .position(|s| s.calls.iter().any(|p| p.matches(mfa)))
            {
                source_of.insert(id, i);
            }
        }
        let mut validator: HashMap<u32, bool> = HashMap::new();
        let mut field_read: HashSet<u32> = HashSet::new();
        let field_rules: Vec<(&TaintRule, Vec<Pattern>, Vec<Pattern>)> = rules
            .sanitizers
            .iter()
            .filter(|r| !r.validates.is_empty() || !r.field_reads.is_empty())
            .map(|r| {
                let parse = |v: &[String]| {
                    v.iter()
                        .filter_map(|p| Pattern::parse(p).ok())
                        .collect::<Vec<_>>()
                };
                (r, parse(&r.validates), parse(&r.field_reads))
            })
            .collect();
        if !field_rules.is_empty() {
            for &id in &called {
                let mfa = graph.mfa(id);
                for (r, validates, reads) in &field_rules {
                    if validates.iter().any(|p| p.matches(mfa)) {
                        // Any rule that takes it without an anchor wins.
                        let slot = validator.entry(id).or_insert(r.anchored);
                        *slot &= r.anchored;
                    }
                    if reads.iter().any(|p| p.matches(mfa)) {
                        field_read.insert(id);
                    }
                }
            }
        }
        let flow_rules = compile(&rules.flows);
        let mut flow_of: HashMap<u32, &'a [u8]> = HashMap::new();
        for &id in &called {
            let mfa = graph.mfa(id);
            if let Some(r) = flow_rules
                .iter()
                .find(|r| r.calls.iter().any(|p| p.matches(mfa)))
            {
                flow_of.insert(id, &r.rule.result_from);
            }
        }
        let excluded = fns
            .iter()
            .map(|f| f.is_some_and(|(m, _)| excluded(&rules.exclude, &m.file)))
            .collect();
        let is_router = |module: &str| graph.uses(module).iter().any(|u| u == "Phoenix.Router");
        let has_router = summaries.iter().any(|m| is_router(&m.name));
        // What a router's `call/2` reaches through its routes (the calls
        // the Phoenix macros make), plugs (`init/1`, `call/2`) aside.
        let routed = graph
            .calls
            .iter()
            .filter(|e| e.kind == CallKind::Macro)
            .filter(|e| {
                let caller = graph.mfa(e.caller);
                caller.name == "call" && caller.arity == 2 && is_router(&caller.module)
            })
            .filter(|e| {
                let callee = graph.mfa(e.callee);
                !matches!(
                    (callee.name.as_str(), callee.arity),
                    ("call", 2) | ("init", 1)
                )
            })
            .map(|e| e.callee)
            .collect();
        let mut t = Stitcher {
            graph,
            fns,
            sites,
            site_start,
            flows,
            returns,
            sanitizing,
            sanitizer_rules: &rules.sanitizers,
            validator,
            field_read,
            passes: vec![0; n],
            routed,
            has_router,
            sources,
            sinks,
            sanitizer,
            sink_of,
            source_of,
            flow_of,
            excluded,
        };
        t.compute_passes();
        t
    }

    fn summary(&self, f: u32) -> Option<&'a FunctionSummary> {
        self.fns[f as usize].map(|(_, s)| s)
    }

    fn file(&self, f: u32) -> &'a str {
        self.fns[f as usize]
            .map(|(m, _)| m.file.as_str())
            .unwrap_or("")
    }

    /// The call edges of `f`'s call site `site` (from `f`'s own file), in
    /// the graph's order.
    fn site_edges(&self, f: u32, site: u32) -> impl Iterator<Item = u32> + '_ {
        let row = &self.sites
            [self.site_start[f as usize] as usize..self.site_start[f as usize + 1] as usize];
        let from = row.partition_point(|&(s, _)| s < site);
        row[from..]
            .iter()
            .take_while(move |&&(s, _)| s == site)
            .map(|&(_, e)| e)
    }

    /// The ordinary (non-process) callee of a call site.
    fn callee(&self, f: u32, site: u32) -> Option<u32> {
        self.site_edges(f, site).find_map(|e| {
            let e = &self.graph.calls[e as usize];
            (e.kind != CallKind::Process).then_some(e.callee)
        })
    }

    /// Whether a tainted argument `arg` of the call at `site` taints its result.
    fn through(&self, f: u32, site: u32, arg: u8) -> bool {
        let Some(g) = self.callee(f, site) else {
            return true;
        };
        if self.sanitizer[g as usize] {
            return false;
        }
        if let Some(args) = self.flow_of.get(&g) {
            return args.contains(&arg);
        }
        match self.summary(g) {
            Some(_) => arg < 64 && self.passes[g as usize] & (1 << arg) != 0,
            None => true,
        }
    }

    /// Origins of `f` reached from `start` inside `f` (results of calls the
    /// data passes through included).
    fn reach_inside(&self, f: u32, start: Origin) -> Vec<Origin> {
        let mut seen = HashSet::from([start]);
        let mut queue = vec![start];
        while let Some(o) = queue.pop() {
            // Checks that sanitize only some sources' data do not stop a
            // flow here: what passes through a function is over-approximated.
            for &(site, arg, _) in self.flows[f as usize].get(&o).into_iter().flatten() {
                let next = Origin::Call(site);
                if !seen.contains(&next) && self.through(f, site, arg) {
                    seen.insert(next);
                    queue.push(next);
                }
            }
        }
        seen.into_iter().collect()
    }

    /// ` (the clause at line 12)`, ` (the clauses at lines 12, 30)` when
    /// only some of `f`'s clauses take the value; empty otherwise.
    fn clause_note(&self, f: u32, clauses: u64) -> String {
        let Some(s) = self.summary(f).filter(|_| clauses != ALL) else {
            return String::new();
        };
        let lines: Vec<String> = s
            .clauses
            .iter()
            .enumerate()
            .filter(|(i, _)| clauses & (1 << i) != 0)
            .map(|(_, c)| c.line.to_string())
            .collect();
        match lines.as_slice() {
            [] => String::new(),
            [one] => format!(" (the clause at line {one})"),
            many => format!(" (the clauses at lines {})", many.join(", ")),
        }
    }

    /// Whether parameter `arg` of `f` reaches its result in one of the
    /// clauses `clauses` (through calls too).
    fn passes_in(&self, f: u32, arg: u8, clauses: u64) -> bool {
        if arg >= 64 || self.passes[f as usize] & (1 << arg) == 0 {
            return false;
        }
        let Some(s) = self.summary(f).filter(|_| clauses != ALL) else {
            return true;
        };
        let in_clauses = |c: u16| c >= 64 || clauses & (1 << c) != 0;
        let reached = self.reach_inside(f, Origin::Param(arg));
        reached.iter().any(|o| {
            let clause_local = match o {
                Origin::Call(site) => s.calls.get(*site as usize).map(|c| c.clause),
                _ => None,
            };
            clause_local.is_none_or(in_clauses)
                && s.clause_returns
                    .iter()
                    .any(|(r, c)| r == o && in_clauses(*c))
        })
    }

    /// The fixpoint of `passes`: bits only ever get set, and a change in a
    /// function puts its callers back on the worklist.
    fn compute_passes(&mut self) {
        let n = self.fns.len();
        let mut queued: Vec<bool> = self.fns.iter().map(Option::is_some).collect();
        let mut work: VecDeque<u32> = (0..n as u32).filter(|&f| queued[f as usize]).collect();
        while let Some(f) = work.pop_front() {
            queued[f as usize] = false;
            let Some(s) = self.summary(f) else { continue };
            let returns = &self.returns[f as usize];
            if returns.is_empty() {
                // Nothing reaches its result: no parameter passes.
                continue;
            }
            let mut bits = self.passes[f as usize];
            for i in 0..s.arity.min(64) as u8 {
                if bits & (1 << i) != 0 {
                    continue;
                }
                let param = Origin::Param(i);
                if returns.iter().any(|(r, _)| *r == param) {
                    bits |= 1 << i;
                    continue;
                }
                if !self.flows[f as usize].contains_key(&param) {
                    // It reaches no call: it reaches nothing more.
                    continue;
                }
                let reached = self.reach_inside(f, param);
                if reached
                    .iter()
                    .any(|o| self.returns[f as usize].iter().any(|(r, _)| r == o))
                {
                    bits |= 1 << i;
                }
            }
            if bits != self.passes[f as usize] {
                self.passes[f as usize] = bits;
                for e in self.graph.calls_to(f) {
                    if !queued[e.caller as usize] && self.fns[e.caller as usize].is_some() {
                        queued[e.caller as usize] = true;
                        work.push_back(e.caller);
                    }
                }
            }
        }
    }

    fn find_sources(&self) -> Vec<Source<'a>> {
        let mut out = Vec::new();
        for e in &self.graph.calls {
            // Calls from the function's own file (those `sites` holds).
            let Some((m, _)) = self.fns[e.caller as usize] else {
                continue;
            };
            if e.kind == CallKind::Process || self.graph.file_of(e) != m.file {
                continue;
            }
            if let Some(&i) = self.source_of.get(&e.callee) {
                let mfa = self.graph.mfa(e.callee);
                out.push(Source {
                    rule: self.sources[i].rule,
                    fact: Fact {
                        f: e.caller,
                        origin: Origin::Call(e.site),
                        entered: false,
                        clauses: ALL,
                        validated: 0,
                    },
                    what: format!("source: result of {mfa}"),
                    line: e.line,
                });
            }
        }
        for (id, f) in self.fns.iter().enumerate() {
            let Some((m, s)) = f else { continue };
            for (k, read) in s.fields.iter().enumerate() {
                if let Some(src) = self
                    .sources
                    .iter()
                    .find(|src| src.rule.fields.contains(&read.field))
                {
                    out.push(Source {
                        rule: src.rule,
                        fact: Fact {
                            f: id as u32,
                            origin: Origin::Field(k as u32),
                            entered: false,
                            clauses: ALL,
                            validated: 0,
                        },
                        what: format!("source: field read .{}", read.field),
                        line: read.line,
                    });
                }
            }
            if !s.kind.is_public() || s.kind.is_macro() {
                continue;
            }
            // The function's graph name (`fns` maps each id to its own
            // definition).
            let mfa = self.graph.mfa(id as u32);
            for src in &self.sources {
                for (p, rule) in &src.parameters {
                    let index = &rule.index;
                    let applies = u16::from(*index) < s.arity
                        && p.matches(mfa)
                        && (!rule.routed || self.routed.contains(&(id as u32)))
                        && (!rule.no_router || !self.has_router)
                        && rule
                            .uses
                            .as_ref()
                            .is_none_or(|u| self.graph.uses(&m.name).contains(u));
                    if applies {
                        out.push(Source {
                            rule: src.rule,
                            fact: Fact {
                                f: id as u32,
                                origin: Origin::Param(*index),
                                entered: false,
                                clauses: ALL,
                                validated: 0,
                            },
                            what: format!("source: parameter {index} of {mfa}"),
                            line: s.line,
                        });
                    }
                }
            }
        }
        out.retain(|s| !self.excluded[s.fact.f as usize]);
        out.sort_by(|a, b| {
            (self.file(a.fact.f), a.line, &a.what).cmp(&(self.file(b.fact.f), b.line, &b.what))
        });
        out.dedup_by(|a, b| a.fact == b.fact);
        out
    }

    fn run(&self) -> Taint {
        let sources = self.find_sources();
        let mut findings = Vec::new();
        let mut budget = MAX_FACTS;
        let mut truncated = false;
        for source in &sources {
            if budget == 0 {
                truncated = true;
                break;
            }
            self.search(source, &mut budget, &mut findings);
        }
        truncated |= budget == 0;
        findings.sort_by(|a: &TaintFinding, b: &TaintFinding| {
            let key = |f: &TaintFinding| {
                let last = f.steps.last().map(|s| (s.file.clone(), s.line));
                let first = f.steps.first().map(|s| (s.file.clone(), s.line));
                (f.severity, last, first, f.sink.clone(), f.source.clone())
            };
            key(a).cmp(&key(b))
        });
        Taint {
            findings,
            sources: sources.len() as u32,
            truncated,
        }
    }

    /// Breadth-first from one source: the first (shortest) way to each sink
    /// call is the one reported.
    fn search(&self, source: &Source<'a>, budget: &mut usize, out: &mut Vec<TaintFinding>) {
        let mut facts: Vec<(Fact, usize, How)> = vec![(source.fact, usize::MAX, How::Source)];
        let mut seen: HashSet<Fact> = HashSet::from([source.fact]);
        let mut reported: HashSet<(u32, u32, usize)> = HashSet::new();
        // The checks that make this source's data clean.
        let sanitizing = self
            .sanitizing
            .get(source.rule.name.as_str())
            .copied()
            .unwrap_or(0);
        let mut next = 0;
        while next < facts.len() {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            let (fact, _, _) = facts[next];
            let at = next;
            next += 1;
            let mut push = |facts: &mut Vec<(Fact, usize, How)>, f: Fact, how: How| {
                if seen.insert(f) {
                    facts.push((f, at, how));
                }
            };
            let Some(summary) = self.summary(fact.f) else {
                continue;
            };
            for &(site, arg, _) in self.flows[fact.f as usize]
                .get(&fact.origin)
                .into_iter()
                .flatten()
                .filter(|(_, _, checks)| checks & sanitizing == 0)
                .filter(|(site, _, _)| {
                    fact.clauses == ALL
                        || summary
                            .calls
                            .get(*site as usize)
                            .is_none_or(|c| c.clause >= 64 || fact.clauses & (1 << c.clause) != 0)
                })
            {
                let Some(call) = summary.calls.get(site as usize) else {
                    continue;
                };
                for e in self.site_edges(fact.f, site) {
                    let edge = &self.graph.calls[e as usize];
                    let g = edge.callee;
                    if edge.kind == CallKind::Process {
                        let (msg_arg, all_params) = match call.name.as_str() {
                            "call" | "cast" | "send" => (1, false),
                            // An Oban job: `Worker.new(args)` → `perform/1`.
                            "new" => (0, false),
                            _ => (2, true),
                        };
                        if arg != msg_arg {
                            continue;
                        }
                        let handler = self.summary(g);
                        let arity = handler.map(|s| s.arity).unwrap_or(0);
                        let params = if all_params {
                            0..arity
                        } else {
                            0..arity.min(1)
                        };
                        // A message of a known shape (`{:delete, path}`)
                        // reaches the clauses whose first pattern takes it.
                        let clauses = match (all_params, handler) {
                            (false, Some(h)) => {
                                let shape = call.shapes.iter().find(|(a, _)| *a == msg_arg);
                                let shapes: Vec<_> =
                                    shape.map(|(_, s)| (0, s.clone())).into_iter().collect();
                                nonzero(h.matching_clauses(&shapes))
                            }
                            _ => ALL,
                        };
                        for p in params {
                            let f = Fact {
                                f: g,
                                origin: Origin::Param(p as u8),
                                entered: true,
                                clauses,
                                validated: 0,
                            };
                            let how = How::Sent {
                                site,
                                via: self.callee(fact.f, site).unwrap_or(g),
                                handler: g,
                            };
                            push(&mut facts, f, how);
                        }
                        continue;
                    }
                    let sink = self.sink_of.get(&g);
                    if let Some(rules) = sink {
                        for &r in rules {
                            let rule = self.sinks[r].rule;
                            let keyed = rule.keys.is_empty()
                                || call.keyed.iter().any(|(o, a, k)| {
                                    *o == fact.origin && *a == arg && rule.keys.contains(k)
                                });
                            if (rule.args.is_empty() || rule.args.contains(&arg))
                                && keyed
                                && !self.excluded[fact.f as usize]
                                && reported.insert((fact.f, site, r))
                            {
                                out.push(self.finding(source, &facts, at, r, site, arg, g));
                            }
                        }
                    }
                    if self.sanitizer[g as usize] {
                        continue;
                    }
                    // A field validated on the way and read back: clean. A
                    // validation passes the value on with its field noted.
                    let field = call.shapes.iter().find_map(|(a, s)| match s {
                        Shape::Atom(name) if *a == 1 => Some(field_id(name)),
                        _ => None,
                    });
                    if arg == 0
                        && self.field_read.contains(&g)
                        && field.is_some_and(|f| f == fact.validated)
                    {
                        continue;
                    }
                    let validates = arg == 0
                        && self.validator.get(&g).is_some_and(|&anchored| {
                            !anchored
                                || call
                                    .shapes
                                    .iter()
                                    .any(|(_, s)| *s == Shape::Regex { anchored: true })
                        });
                    let result = Fact {
                        f: fact.f,
                        origin: Origin::Call(site),
                        entered: fact.entered,
                        clauses: ALL,
                        validated: if validates {
                            field.unwrap_or(0)
                        } else {
                            fact.validated
                        },
                    };
                    if let Some(args) = self.flow_of.get(&g) {
                        // A rule says what the call passes on.
                        if args.contains(&arg) {
                            let how = How::Through {
                                site,
                                callee: g,
                                assumed: false,
                            };
                            push(&mut facts, result, how);
                        }
                        continue;
                    }
                    match self.summary(g) {
                        Some(callee) => {
                            // Literal arguments (`build(:fs_git)`) reach the
                            // clauses whose patterns take them.
                            let clauses = nonzero(callee.matching_clauses(&call.shapes));
                            // A sink is where a flow ends: its own insides
                            // (File.rm_rf/1 calling File.do_rm_rf/3 when
                            // Elixir itself is analyzed) are not more findings.
                            if sink.is_none() {
                                let into = Fact {
                                    f: g,
                                    origin: Origin::Param(arg),
                                    entered: true,
                                    clauses,
                                    validated: 0,
                                };
                                push(
                                    &mut facts,
                                    into,
                                    How::Into {
                                        site,
                                        arg,
                                        callee: g,
                                    },
                                );
                            }
                            if self.passes_in(g, arg, clauses) {
                                push(&mut facts, result, How::Returned { site, callee: g });
                            }
                        }
                        None => {
                            let how = How::Through {
                                site,
                                callee: g,
                                assumed: true,
                            };
                            push(&mut facts, result, how)
                        }
                    }
                }
            }
            // A value of the function's own making leaving it: every caller's
            // result is tainted. (Values that came in through a parameter
            // leave through the callee's summary, at the call site.)
            if !fact.entered
                && self.returns[fact.f as usize]
                    .iter()
                    .any(|&(o, checks)| o == fact.origin && checks & sanitizing == 0)
            {
                for e in self.graph.calls_to(fact.f) {
                    if e.kind == CallKind::Process || self.fns[e.caller as usize].is_none() {
                        continue;
                    }
                    let f = Fact {
                        f: e.caller,
                        origin: Origin::Call(e.site),
                        entered: false,
                        clauses: ALL,
                        validated: 0,
                    };
                    push(&mut facts, f, How::ReturnedTo { site: e.site });
                }
            }
        }
    }
}
