//! Dead code: public functions that nothing in the ingested code calls, and
//! that are not reached from outside it in ways Elixir code commonly is.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proto::{DeadFunction, FunKind, Mfa, ModuleKind, ModuleSummary};

use super::CallGraph;

/// Callbacks of standard behaviours: called by OTP, Mix or Plug, not by
/// the code itself.
const CALLBACKS: &[(&str, &[(&str, u16)])] = &[
    (
        "GenServer",
        &[
            ("init", 1),
            ("handle_call", 3),
            ("handle_cast", 2),
            ("handle_info", 2),
            ("handle_continue", 2),
            ("terminate", 2),
            ("code_change", 3),
            ("format_status", 1),
            ("format_status", 2),
        ],
    ),
    ("Supervisor", &[("init", 1)]),
    ("Agent", &[]),
    (
        "Application",
        &[
            ("start", 2),
            ("stop", 1),
            ("prep_stop", 1),
            ("config_change", 3),
            ("start_phase", 3),
        ],
    ),
    ("Mix.Task", &[("run", 1)]),
    ("Plug", &[("init", 1), ("call", 2)]),
    ("Mix.Project", &[("project", 0), ("application", 0)]),
];

/// Functions reached from outside the code by convention: `use` calls
/// `__using__/1`, supervisors call `start_link` and `child_spec/1` through
/// child specs, the compiler calls `__before_compile__/1`.
const CONVENTIONAL: &[&str] = &[
    "__using__",
    "__before_compile__",
    "__after_compile__",
    "child_spec",
    "start_link",
];

/// Public functions of ingested modules (scripts and `.exs` files left out)
/// that no ingested code calls, except behaviour callbacks (`@impl`, a
/// known callback of a declared standard behaviour, or a `@callback` of a
/// behaviour defined in the ingested code), protocol
/// implementations, the lower arities default arguments create,
/// conventional entry points, and the `entries` given
/// (`Module.fun/arity`, or a module name for all of its functions). Sorted
/// by (module, function, arity).
pub fn dead_code(
    summaries: &[Arc<ModuleSummary>],
    graph: &CallGraph,
    entries: &[String],
) -> Vec<DeadFunction> {
    let entry_functions: BTreeSet<Mfa> = entries.iter().filter_map(|e| e.parse().ok()).collect();
    let entry_modules: BTreeSet<&str> = entries
        .iter()
        .filter(|e| !e.contains('/'))
        .map(String::as_str)
        .collect();
    // Behaviours defined in the ingested code: their declared callbacks.
    let mut declared: BTreeMap<&str, BTreeSet<(&str, u16)>> = BTreeMap::new();
    for m in summaries {
        declared
            .entry(m.name.as_str())
            .or_default()
            .extend(m.callbacks.iter().map(|(n, a)| (n.as_str(), *a)));
    }
    // `apply(Module, fun, args)` with `Module` written out: any public
    // function of it (or the `fun` written out) may be called; which one
    // cannot be known, so none of them is reported.
    let mut applied: BTreeSet<(&str, Option<&str>)> = BTreeSet::new();
    for m in summaries {
        for f in &m.functions {
            for c in f.calls.iter().filter(|c| !c.quoted) {
                if !crate::summary::is_apply(c.module.as_deref(), &c.name, c.arity) {
                    continue;
                }
                let module = c.targets.first().map(String::as_str).unwrap_or("");
                if module.is_empty() || module.starts_with(':') {
                    continue;
                }
                let fun = c
                    .targets
                    .get(1)
                    .and_then(|f| f.strip_prefix(':'))
                    .filter(|f| !f.is_empty());
                applied.insert((module, fun));
            }
        }
    }
    let mut dead = Vec::new();
    for m in summaries {
        if m.kind == ModuleKind::Script
            || m.implements.is_some()
            || m.file.ends_with(".exs")
            || entry_modules.contains(m.name.as_str())
        {
            continue;
        }
        let known_callbacks: BTreeSet<(&str, u16)> = m
            .behaviours
            .iter()
            .flat_map(|b| {
                CALLBACKS
                    .iter()
                    .filter(move |(name, _)| name == b)
                    .flat_map(|(_, cbs)| cbs.iter().copied())
                    .chain(declared.get(b.as_str()).into_iter().flatten().copied())
            })
            .chain(
                graph
                    .behaviour_callbacks(&m.name)
                    .iter()
                    .map(|(n, a)| (n.as_str(), *a)),
            )
            .collect();
        // Phoenix.View calls a view's `template_not_found/2` for a
        // template it does not have.
        let view = graph.uses(&m.name).iter().any(|u| u == "Phoenix.View");
        for f in &m.functions {
            let public = f.kind.is_public()
                && !matches!(
                    f.kind,
                    FunKind::ModuleBody | FunKind::Generated | FunKind::ProtocolFn
                );
            // Arities made by default arguments go with the full one.
            if !public
                || f.default_of.is_some()
                || f.callback
                || known_callbacks.contains(&(f.name.as_str(), f.arity))
                || CONVENTIONAL.contains(&f.name.as_str())
                || (m.name.starts_with("Mix.Tasks.") && f.name == "run" && f.arity == 1)
                || (view && f.name == "template_not_found" && f.arity == 2)
            {
                continue;
            }
            let mfa = Mfa::new(&m.name, &f.name, f.arity);
            if entry_functions.contains(&mfa)
                || applied.contains(&(m.name.as_str(), None))
                || applied.contains(&(m.name.as_str(), Some(f.name.as_str())))
            {
                continue;
            }
            let called = graph
                .id(&mfa)
                .is_some_and(|id| graph.calls_to(id).any(|c| c.caller != id));
            if !called {
                dead.push(DeadFunction {
                    mfa,
                    kind: f.kind.to_string(),
                    file: m.file.clone(),
                    line: f.line,
                });
            }
        }
    }
    dead.sort_by(|a, b| a.mfa.cmp(&b.mfa));
    dead.dedup_by(|a, b| a.mfa == b.mfa);
    dead
}
