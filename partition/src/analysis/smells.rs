//! Code smells: god modules, feature envy, shotgun surgery, cyclic
//! dependencies, high fan-in and fan-out, long, complex and deeply nested
//! functions. Each is a measured figure against a threshold the user can set
//! ([`SmellThresholds`]); the finding says both.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use proto::{CallKind, FunKind, Mfa, ModuleKind, ModuleSummary, Smell, SmellThresholds};

use super::{module_cycles, module_edges, CallGraph};

/// The order smells are listed in.
const KINDS: &[&str] = &[
    "god_module",
    "cyclic_dependency",
    "shotgun_surgery",
    "feature_envy",
    "high_fan_in",
    "high_fan_out",
    "long_function",
    "complex_function",
    "deep_nesting",
];

/// Every smell over the thresholds, by kind (in [`KINDS`] order), then
/// subject. Scripts (`.exs` top level) and generated functions are left out.
pub fn smells(
    summaries: &[Arc<ModuleSummary>],
    graph: &CallGraph,
    t: &SmellThresholds,
) -> Vec<Smell> {
    let mut out = Vec::new();
    let smell = |kind: &str, subject: String, file: &str, line: u32, detail: String| Smell {
        kind: kind.to_string(),
        subject,
        file: file.to_string(),
        line,
        detail,
    };
    let modules: BTreeMap<&str, &ModuleSummary> = summaries
        .iter()
        .filter(|m| m.kind != ModuleKind::Script && m.kind != ModuleKind::Template)
        .map(|m| (m.name.as_str(), &**m))
        .collect();
    // Module → the ingested modules it depends on.
    let mut depends: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let edges = module_edges(summaries, graph);
    for e in &edges {
        if let (Some((from, _)), Some((to, _))) = (
            modules.get_key_value(e.from.as_str()),
            modules.get_key_value(e.to.as_str()),
        ) {
            depends.entry(from).or_default().insert(to);
        }
    }
    for (name, m) in &modules {
        let functions = m
            .functions
            .iter()
            .filter(|f| !matches!(f.kind, FunKind::ModuleBody | FunKind::Generated))
            .count() as u32;
        let lines: u32 = m.functions.iter().map(|f| f.metrics.lines).sum();
        let deps = depends.get(name).map_or(0, |d| d.len() as u32);
        if (functions >= t.god_module_functions || lines >= t.god_module_lines)
            && deps >= t.god_module_dependencies
        {
            out.push(smell(
                "god_module",
                name.to_string(),
                &m.file,
                m.line,
                format!(
                    "{functions} functions (threshold {}), {lines} lines of functions (threshold {}), depends on {deps} modules (threshold {})",
                    t.god_module_functions, t.god_module_lines, t.god_module_dependencies
                ),
            ));
        }
    }
    for c in module_cycles(summaries, graph) {
        let Some(first) = c.modules.first().and_then(|m| modules.get(m.as_str())) else {
            continue;
        };
        let compile = c.edges.iter().filter(|e| e.compile_time).count();
        out.push(smell(
            "cyclic_dependency",
            c.modules.join(" ↔ "),
            &first.file,
            first.line,
            format!(
                "{} modules depend on each other through {} edges ({compile} compile-time)",
                c.modules.len(),
                c.edges.len()
            ),
        ));
    }
    // Per defined function: calling modules, callers, callees, and calls per
    // module of ingested code.
    for (name, m) in &modules {
        for f in &m.functions {
            if matches!(f.kind, FunKind::ModuleBody | FunKind::Generated) {
                continue;
            }
            let mfa = Mfa::new(*name, &f.name, f.arity);
            let subject = mfa.to_string();
            let mut found = |kind: &str, why: String| {
                out.push(smell(kind, subject.clone(), &m.file, f.line, why))
            };
            let Some(id) = graph.id(&mfa) else { continue };
            let callers: BTreeSet<u32> = graph.calls_to(id).map(|c| c.caller).collect();
            let calling_modules: BTreeSet<&str> = callers
                .iter()
                .map(|&c| graph.mfa(c).module.as_str())
                .filter(|c| c != name)
                .collect();
            let calls: Vec<&super::CallEdge> = graph
                .calls_from(id)
                .filter(|c| c.kind != CallKind::Process)
                .collect();
            let callees: BTreeSet<u32> = calls.iter().map(|c| c.callee).collect();
            let n = calling_modules.len() as u32;
            if n >= t.shotgun_surgery_modules {
                found(
                    "shotgun_surgery",
                    format!(
                        "called from {n} other modules (threshold {}): changing it touches all of them",
                        t.shotgun_surgery_modules
                    ),
                );
            }
            let mut per_module: BTreeMap<&str, u32> = BTreeMap::new();
            for c in &calls {
                let target = graph.mfa(c.callee).module.as_str();
                if modules.contains_key(target) {
                    *per_module.entry(target).or_default() += 1;
                }
            }
            let ingested: u32 = per_module.values().sum();
            let own = per_module.get(name).copied().unwrap_or(0);
            if let Some((other, count)) = per_module
                .iter()
                .filter(|(t, _)| *t != name)
                .max_by_key(|(t, c)| (**c, std::cmp::Reverse(**t)))
            {
                if *count >= t.feature_envy_calls
                    && *count > own
                    && count * 100 >= t.feature_envy_percent * ingested
                {
                    found(
                        "feature_envy",
                        format!(
                            "{count} of its {ingested} calls into the code base go to {other} (thresholds {} calls, {}%), {own} to its own module",
                            t.feature_envy_calls, t.feature_envy_percent
                        ),
                    );
                }
            }
            let fan_in = callers.len() as u32;
            if fan_in >= t.fan_in {
                found(
                    "high_fan_in",
                    format!("{fan_in} distinct callers (threshold {})", t.fan_in),
                );
            }
            let fan_out = callees.len() as u32;
            if fan_out >= t.fan_out {
                found(
                    "high_fan_out",
                    format!("{fan_out} distinct callees (threshold {})", t.fan_out),
                );
            }
            let metrics = f.metrics;
            if metrics.lines >= t.long_function_lines {
                found(
                    "long_function",
                    format!(
                        "{} lines (threshold {})",
                        metrics.lines, t.long_function_lines
                    ),
                );
            }
            if metrics.cyclomatic >= t.complex_function_cyclomatic {
                found(
                    "complex_function",
                    format!(
                        "cyclomatic complexity {} (threshold {})",
                        metrics.cyclomatic, t.complex_function_cyclomatic
                    ),
                );
            }
            if metrics.nesting >= t.deep_nesting {
                found(
                    "deep_nesting",
                    format!(
                        "control structures nested {} deep (threshold {})",
                        metrics.nesting, t.deep_nesting
                    ),
                );
            }
        }
    }
    let rank = |k: &str| KINDS.iter().position(|x| *x == k).unwrap_or(KINDS.len());
    out.sort_by(|a, b| (rank(&a.kind), &a.subject).cmp(&(rank(&b.kind), &b.subject)));
    out.dedup_by(|a, b| a.kind == b.kind && a.subject == b.subject);
    out
}

/// The default thresholds as TOML, to copy and edit.
pub fn default_smell_thresholds_toml() -> String {
    let t = SmellThresholds::default();
    format!(
        "# Thresholds for `cpg analyze smells --thresholds FILE`. A smell is reported\n\
         # when its figure reaches the threshold. Missing keys keep their default.\n\
         \n\
         # God module: many functions or lines, and many module dependencies.\n\
         god_module_functions = {}\n\
         god_module_lines = {}\n\
         god_module_dependencies = {}\n\
         # Feature envy: a function calling one other module at least this many\n\
         # times, with at least this share of its calls into the code base, and\n\
         # more than its own module.\n\
         feature_envy_calls = {}\n\
         feature_envy_percent = {}\n\
         # Shotgun surgery: a function called from at least this many other modules.\n\
         shotgun_surgery_modules = {}\n\
         # Distinct callers / callees of a function.\n\
         fan_in = {}\n\
         fan_out = {}\n\
         # Long, complex and deeply nested functions.\n\
         long_function_lines = {}\n\
         complex_function_cyclomatic = {}\n\
         deep_nesting = {}\n",
        t.god_module_functions,
        t.god_module_lines,
        t.god_module_dependencies,
        t.feature_envy_calls,
        t.feature_envy_percent,
        t.shotgun_surgery_modules,
        t.fan_in,
        t.fan_out,
        t.long_function_lines,
        t.complex_function_cyclomatic,
        t.deep_nesting,
    )
}

/// Read thresholds from TOML; keys left out keep their defaults.
pub fn parse_smell_thresholds(text: &str) -> Result<SmellThresholds, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}
