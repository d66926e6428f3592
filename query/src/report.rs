//! What `cpg analyze` reports about a code base, and the call-graph export:
//! computed from summaries, so the same code serves a store or a cluster.

use std::fmt::Write;
use std::sync::Arc;

use partition::analysis::{module_cycles, most_called, most_complex, CallGraph};
use partition::store::StoreStats;
pub use proto::{AnalyzeReport, CallRow};
use proto::{
    Centrality, Communities, Cycles, DeadFunction, FeatureRow, Impact, Paths, Smell, Taint,
};
use proto::{Diagnostic, Mfa, ModuleGraph, ModuleSummary};

pub fn analyze_report(
    stats: StoreStats,
    summaries: &[Arc<ModuleSummary>],
    graph: &CallGraph,
    diagnostics: Vec<Diagnostic>,
    memory_bytes: usize,
    build_ms: u64,
    top: usize,
) -> AnalyzeReport {
    let count = |k: proto::CallKind| graph.calls.iter().filter(|c| c.kind == k).count() as u64;
    AnalyzeReport {
        files: stats.files,
        modules: stats.modules,
        scripts: stats.scripts,
        functions: stats.functions,
        nodes: stats.nodes,
        edges: stats.edges,
        calls: graph.calls.len() as u64 - count(proto::CallKind::Process),
        unresolved_calls: count(proto::CallKind::Unresolved),
        dynamic_calls: count(proto::CallKind::Dynamic),
        process_edges: count(proto::CallKind::Process),
        parse_diagnostics: diagnostics,
        most_complex: most_complex(summaries, top),
        most_called: most_called(graph, top),
        module_cycles: module_cycles(summaries, graph),
        memory_bytes,
        peak_rss_bytes: peak_rss_bytes(),
        build_ms,
        missing_partitions: Vec::new(),
        libraries: Vec::new(),
        deprecated: deprecated_calls(graph),
    }
}

/// Calls to deprecated functions from other modules (as the compiler warns
/// of them), by function, most calls first.
pub fn deprecated_calls(graph: &CallGraph) -> Vec<proto::DeprecatedCalls> {
    let mut by: std::collections::HashMap<u32, proto::DeprecatedCalls> = Default::default();
    for c in graph
        .calls
        .iter()
        .filter(|c| c.kind != proto::CallKind::Process)
    {
        let callee = &graph.functions[c.callee as usize];
        let Some(message) = &callee.deprecated else {
            continue;
        };
        if graph.mfa(c.caller).module == callee.mfa.module {
            continue;
        }
        let e = by
            .entry(c.callee)
            .or_insert_with(|| proto::DeprecatedCalls {
                function: callee.mfa.clone(),
                message: message.to_string(),
                calls: 0,
                first: format!("{}:{}", graph.file_of(c), c.line),
            });
        e.calls += 1;
    }
    let mut out: Vec<_> = by.into_values().collect();
    out.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| a.function.cmp(&b.function))
    });
    out
}

/// The library packages of `libraries` (modules of `deps/PACKAGE/` files).
pub fn library_packages(libraries: &[Arc<ModuleSummary>]) -> Vec<proto::LibraryPackage> {
    let mut by: std::collections::BTreeMap<&str, (std::collections::BTreeSet<&str>, u64)> =
        Default::default();
    for m in libraries {
        if let Some(p) = partition::library::package_of(&m.file) {
            let e = by.entry(p).or_default();
            e.0.insert(m.file.as_str());
            e.1 += 1;
        }
    }
    by.into_iter()
        .map(|(package, (files, modules))| proto::LibraryPackage {
            package: package.to_string(),
            files: files.len() as u64,
            modules,
        })
        .collect()
}

/// The report as a person reads it.
pub fn render_analyze(r: &AnalyzeReport, top: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Code property graph built in {} ms", r.build_ms);
    if !r.missing_partitions.is_empty() {
        let _ = writeln!(
            s,
            "  INCOMPLETE: partitions {:?} did not answer; their modules are left out",
            r.missing_partitions
        );
    }
    let _ = writeln!(s, "  files      {:>10}", r.files);
    let _ = writeln!(s, "  modules    {:>10}", r.modules);
    let _ = writeln!(
        s,
        "  scripts    {:>10}  (top-level code of .exs files)",
        r.scripts
    );
    let _ = writeln!(s, "  functions  {:>10}", r.functions);
    if !r.libraries.is_empty() {
        let modules: u64 = r.libraries.iter().map(|l| l.modules).sum();
        let _ = writeln!(
            s,
            "  libraries  {:>10}  (modules of {} packages under deps/, to resolve calls; not reported)",
            modules,
            r.libraries.len()
        );
    }
    let _ = writeln!(s, "  CPG nodes  {:>10}", r.nodes);
    let _ = writeln!(s, "  CPG edges  {:>10}", r.edges);
    let _ = writeln!(
        s,
        "  call sites {:>10}  ({} unresolved, {} dynamic)",
        r.calls, r.unresolved_calls, r.dynamic_calls
    );
    let _ = writeln!(
        s,
        "  process    {:>10}  (edges through GenServer calls, send, spawn)",
        r.process_edges
    );
    let _ = writeln!(
        s,
        "  tables     {:>10.1} MiB",
        r.memory_bytes as f64 / 1048576.0
    );
    if let Some(rss) = r.peak_rss_bytes {
        let elements = r.nodes + r.edges;
        // Below ~100k elements the process's own baseline dominates the figure.
        let per = if elements >= 100_000 {
            format!(
                " ({:.0} bytes per node or edge)",
                rss as f64 / elements as f64
            )
        } else {
            String::new()
        };
        let _ = writeln!(s, "  peak RSS   {:>10.1} MiB{per}", rss as f64 / 1048576.0);
    }
    let _ = writeln!(s);
    if r.parse_diagnostics.is_empty() {
        let _ = writeln!(s, "Parse diagnostics: none");
    } else {
        let _ = writeln!(s, "Parse diagnostics ({}):", r.parse_diagnostics.len());
        for d in r.parse_diagnostics.iter().take(20) {
            let _ = writeln!(s, "  {}:{}:{}: {}", d.file, d.line, d.column, d.message);
        }
        if r.parse_diagnostics.len() > 20 {
            let _ = writeln!(
                s,
                "  ... and {} more (--json lists all)",
                r.parse_diagnostics.len() - 20
            );
        }
    }
    if !r.deprecated.is_empty() {
        let calls: u64 = r.deprecated.iter().map(|d| d.calls).sum();
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Calls to deprecated functions ({calls} to {}):",
            r.deprecated.len()
        );
        for d in r.deprecated.iter().take(top) {
            let _ = writeln!(
                s,
                "  {:>4}  {}  (first at {}): {}",
                d.calls, d.function, d.first, d.message
            );
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Most complex functions (cyclomatic complexity):");
    for f in r.most_complex.iter().take(top) {
        let _ = writeln!(s, "  {:>4}  {}  ({}:{})", f.value, f.mfa, f.file, f.line);
    }
    let _ = writeln!(s);
    if r.module_cycles.is_empty() {
        let _ = writeln!(s, "Module dependency cycles: none");
    } else {
        let _ = writeln!(s, "Module dependency cycles ({}):", r.module_cycles.len());
        for c in r.module_cycles.iter().take(top) {
            let _ = writeln!(
                s,
                "  {} modules: {}",
                c.modules.len(),
                abbreviate(&c.modules, 8)
            );
            for e in c.edges.iter().take(6) {
                let when = if e.compile_time {
                    "compile-time"
                } else {
                    "runtime"
                };
                let _ = writeln!(
                    s,
                    "    {} -> {} ({}; {})",
                    e.from,
                    e.to,
                    e.kinds.join(", "),
                    when
                );
            }
            if c.edges.len() > 6 {
                let _ = writeln!(s, "    ... {} more edges", c.edges.len() - 6);
            }
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Most-called functions (call sites):");
    for f in r.most_called.iter().take(top) {
        let _ = writeln!(s, "  {:>5}  {}", f.value, f.mfa);
    }
    s
}

/// Peak resident set size of this process, from `/proc/self/status` (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    host::vitals::peak_resident_bytes()
}

fn abbreviate(items: &[String], n: usize) -> String {
    if items.len() <= n {
        items.join(", ")
    } else {
        format!("{}, ... ({} more)", items[..n].join(", "), items.len() - n)
    }
}

pub fn call_rows(graph: &CallGraph) -> Vec<CallRow> {
    graph
        .calls
        .iter()
        .map(|c| {
            let (from, to) = (graph.mfa(c.caller), graph.mfa(c.callee));
            CallRow {
                caller_module: from.module.clone(),
                caller_function: from.name.clone(),
                caller_arity: from.arity,
                callee_module: to.module.clone(),
                callee_function: to.name.clone(),
                callee_arity: to.arity,
                file: graph.file_of(c).to_string(),
                line: c.line,
                kind: c.kind.to_string(),
                candidates: graph
                    .candidates_of(c)
                    .map(|v| v.iter().map(|m| m.to_string()).collect())
                    .unwrap_or_default(),
                undefined: c.undefined,
                deprecated: graph.functions[c.callee as usize]
                    .deprecated
                    .as_deref()
                    .map(str::to_string),
            }
        })
        .collect()
}

/// RFC 4180 field quoting.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// One call as the CSV writes it: caller and callee as (module,
/// function, arity), file, line.
type CallLine<'a> = (
    (&'a str, &'a str, u16),
    (&'a str, &'a str, u16),
    &'a str,
    u32,
);

/// The call-graph CSV of `calls`, with its header.
fn calls_csv<'a>(calls: impl Iterator<Item = CallLine<'a>>) -> String {
    let mut s = String::from(
        "caller_module,caller_function,caller_arity,callee_module,callee_function,callee_arity,file,line\n",
    );
    for (from, to, file, line) in calls {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{}",
            csv_field(from.0),
            csv_field(from.1),
            from.2,
            csv_field(to.0),
            csv_field(to.1),
            to.2,
            csv_field(file),
            line
        );
    }
    s
}

pub fn render_csv(rows: &[CallRow]) -> String {
    calls_csv(rows.iter().map(|r| {
        (
            (
                r.caller_module.as_str(),
                r.caller_function.as_str(),
                r.caller_arity,
            ),
            (
                r.callee_module.as_str(),
                r.callee_function.as_str(),
                r.callee_arity,
            ),
            r.file.as_str(),
            r.line,
        )
    }))
}

/// [`render_csv`] of [`call_rows`], written straight from the graph: no
/// row is built (at 15k modules the rows took about as much memory again
/// as the text).
pub fn render_call_graph_csv(graph: &CallGraph) -> String {
    calls_csv(graph.calls.iter().map(|c| {
        let (from, to) = (graph.mfa(c.caller), graph.mfa(c.callee));
        (
            (&*from.module, &*from.name, from.arity),
            (&*to.module, &*to.name, to.arity),
            graph.file_of(c),
            c.line,
        )
    }))
}

/// `Module.fun/arity` of a call row's caller and callee.
fn call_ends(r: &CallRow) -> (String, String) {
    (
        format!(
            "{}.{}/{}",
            r.caller_module, r.caller_function, r.caller_arity
        ),
        format!(
            "{}.{}/{}",
            r.callee_module, r.callee_function, r.callee_arity
        ),
    )
}

/// Distinct caller→callee pairs with their number of call sites.
fn call_pairs(rows: &[CallRow]) -> std::collections::BTreeMap<(String, String), usize> {
    let mut pairs = std::collections::BTreeMap::new();
    for r in rows {
        *pairs.entry(call_ends(r)).or_default() += 1;
    }
    pairs
}

/// Graphviz: one node per function, one edge per distinct caller→callee pair
/// (labelled with the number of call sites when more than one).
pub fn render_dot(rows: &[CallRow]) -> String {
    let pairs = call_pairs(rows);
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut s = String::from("digraph calls {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
    for ((from, to), n) in pairs {
        if n > 1 {
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\" [label=\"{n}\"];",
                esc(&from),
                esc(&to)
            );
        } else {
            let _ = writeln!(s, "  \"{}\" -> \"{}\";", esc(&from), esc(&to));
        }
    }
    s.push_str("}\n");
    s
}

/// Cycles as a person reads them.
pub fn render_cycles(c: &Cycles) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} module cycles, {} function cycles",
        c.modules.len(),
        c.functions.len()
    );
    let label = |compile: bool| if compile { "compile-time" } else { "runtime" };
    for (i, m) in c.modules.iter().enumerate() {
        let _ = writeln!(
            s,
            "\nmodule cycle {} ({} modules): {}",
            i + 1,
            m.modules.len(),
            m.modules.join(", ")
        );
        for e in &m.edges {
            let _ = writeln!(
                s,
                "  {} -> {}  [{}] {}",
                e.from,
                e.to,
                label(e.compile_time),
                e.kinds.join(", ")
            );
        }
    }
    for (i, f) in c.functions.iter().enumerate() {
        let names: Vec<String> = f.functions.iter().map(|m| m.to_string()).collect();
        let _ = writeln!(
            s,
            "\nfunction cycle {} ({} functions): {}",
            i + 1,
            names.len(),
            names.join(", ")
        );
        for e in &f.edges {
            let _ = writeln!(s, "  {} -> {}  [{}]", e.from, e.to, label(e.compile_time));
        }
    }
    s
}

/// An impact analysis as a person reads it.
pub fn render_impact(i: &Impact) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Impact of {} ({}), depth {}: score {:.4}",
        i.target, i.kind, i.depth, i.impact_score
    );
    let _ = writeln!(
        s,
        "upstream (affected by a change): {} direct, {} within depth {}",
        i.direct_upstream, i.transitive_upstream, i.depth
    );
    for a in &i.upstream {
        let _ = writeln!(s, "  {:>3}  {}", a.depth, a.name);
    }
    let _ = writeln!(
        s,
        "downstream (what it depends on): {} direct, {} within depth {}",
        i.direct_downstream, i.transitive_downstream, i.depth
    );
    for a in &i.downstream {
        let _ = writeln!(s, "  {:>3}  {}", a.depth, a.name);
    }
    s
}

/// A centrality ranking as a person reads it.
pub fn render_centrality(c: &Centrality) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:?} graph: {} nodes, {} edges; top {} by {:?}",
        c.graph,
        c.nodes,
        c.edges,
        c.top.len(),
        c.by
    );
    let _ = writeln!(
        s,
        "{:>4} {:>4} {:>9} {:>12} {:>9}  name",
        "in", "out", "pagerank", "betweenness", "closeness"
    );
    for r in &c.top {
        let _ = writeln!(
            s,
            "{:>4} {:>4} {:>9.5} {:>12.1} {:>9.4}  {}",
            r.in_degree, r.out_degree, r.pagerank, r.betweenness, r.closeness, r.name
        );
    }
    s
}

/// Call paths as a person reads them.
pub fn render_paths(p: &Paths) -> String {
    let mut s = String::new();
    let line = |path: &[proto::Mfa]| {
        path.iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(" -> ")
    };
    match &p.shortest {
        Some(path) => {
            let _ = writeln!(
                s,
                "shortest ({} calls): {}",
                path.len().saturating_sub(1),
                line(path)
            );
        }
        None => {
            let _ = writeln!(s, "{} does not reach {}", p.from, p.to);
        }
    }
    let _ = writeln!(
        s,
        "{} paths{}:",
        p.all.len(),
        if p.truncated { " (more left out)" } else { "" }
    );
    for path in &p.all {
        let _ = writeln!(s, "  {}", line(path));
    }
    s
}

/// Communities as a person reads them.
pub fn render_communities(c: &Communities) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} communities ({:?}), modularity {:.4}",
        c.communities.len(),
        c.algorithm,
        c.modularity
    );
    for (i, members) in c.communities.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {:>3}. {} modules: {}",
            i + 1,
            members.len(),
            abbreviate(members, 8)
        );
    }
    s
}

/// Dead code as a person reads it.
pub fn render_dead_code(d: &[DeadFunction]) -> String {
    let mut s = format!("{} public functions nothing calls:\n", d.len());
    for f in d {
        let _ = writeln!(s, "  {}:{}  {} {}", f.file, f.line, f.kind, f.mfa);
    }
    s
}

/// The findings as text; with `explain`, what was considered on each
/// finding's way and did not make it clean.
pub fn render_taint(t: &Taint, explain: bool) -> String {
    let mut s = format!(
        "{} taint findings ({} source locations matched){}\n",
        t.findings.len(),
        t.sources,
        if t.truncated {
            "; the search hit its work limit, more may exist"
        } else {
            ""
        }
    );
    for (i, f) in t.findings.iter().enumerate() {
        let _ = writeln!(
            s,
            "\n{}. [{}] {} → {} ({})",
            i + 1,
            f.severity.as_str(),
            f.source,
            f.sink,
            f.sink_call
        );
        if !f.assumed.is_empty() {
            let calls: Vec<String> = f.assumed.iter().map(Mfa::to_string).collect();
            let _ = writeln!(
                s,
                "   (assumes {} {}: no code or rule for {})",
                calls.join(", "),
                if calls.len() == 1 {
                    "passes its arguments on"
                } else {
                    "pass their arguments on"
                },
                if calls.len() == 1 { "it" } else { "them" }
            );
        }
        for step in &f.steps {
            let _ = writeln!(
                s,
                "   {}:{}  {}  [{}]",
                step.file, step.line, step.what, step.function
            );
        }
        if explain {
            for line in &f.explain {
                let _ = writeln!(s, "   why not clean: {line}");
            }
        }
    }
    s
}

pub fn render_smells(smells: &[Smell]) -> String {
    let mut s = format!("{} smells\n", smells.len());
    let mut kind = "";
    for m in smells {
        if m.kind != kind {
            kind = &m.kind;
            let _ = writeln!(s, "\n{kind}:");
        }
        let _ = writeln!(s, "  {}:{}  {}  {}", m.file, m.line, m.subject, m.detail);
    }
    s
}

/// Features as CSV, one row per function.
pub fn render_features_csv(rows: &[FeatureRow]) -> String {
    let mut s = String::from(
        "module,function,arity,file,line,lines,clauses,cyclomatic,nesting,fan_in,fan_out,pagerank,betweenness,community,in_cycle\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.module),
            csv_field(&r.function),
            r.arity,
            csv_field(&r.file),
            r.line,
            r.lines,
            r.clauses,
            r.cyclomatic,
            r.nesting,
            r.fan_in,
            r.fan_out,
            r.pagerank,
            r.betweenness,
            r.community,
            r.in_cycle
        );
    }
    s
}

/// XML text and attribute values.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

const GRAPHML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n";

/// GraphML (Gephi, yEd, NetworkX): one node per function, one edge per
/// distinct caller→callee pair with the number of call sites as `weight`.
pub fn render_calls_graphml(rows: &[CallRow]) -> String {
    let pairs = call_pairs(rows);
    let mut nodes: std::collections::BTreeMap<String, (&str, &str, u16)> = Default::default();
    for r in rows {
        let (from, to) = call_ends(r);
        nodes
            .entry(from)
            .or_insert((&r.caller_module, &r.caller_function, r.caller_arity));
        nodes
            .entry(to)
            .or_insert((&r.callee_module, &r.callee_function, r.callee_arity));
    }
    let mut s = String::from(GRAPHML_HEAD);
    s.push_str("  <key id=\"module\" for=\"node\" attr.name=\"module\" attr.type=\"string\"/>\n");
    s.push_str(
        "  <key id=\"function\" for=\"node\" attr.name=\"function\" attr.type=\"string\"/>\n",
    );
    s.push_str("  <key id=\"arity\" for=\"node\" attr.name=\"arity\" attr.type=\"int\"/>\n");
    s.push_str("  <key id=\"weight\" for=\"edge\" attr.name=\"weight\" attr.type=\"int\"/>\n");
    s.push_str("  <graph id=\"calls\" edgedefault=\"directed\">\n");
    for (id, (module, function, arity)) in &nodes {
        let _ = writeln!(
            s,
            "    <node id=\"{}\"><data key=\"module\">{}</data><data key=\"function\">{}</data><data key=\"arity\">{arity}</data></node>",
            xml(id),
            xml(module),
            xml(function)
        );
    }
    for (i, ((from, to), n)) in pairs.iter().enumerate() {
        let _ = writeln!(
            s,
            "    <edge id=\"e{i}\" source=\"{}\" target=\"{}\"><data key=\"weight\">{n}</data></edge>",
            xml(from),
            xml(to)
        );
    }
    s.push_str("  </graph>\n</graphml>\n");
    s
}

/// Graphviz: one node per module (labelled with its community, cycles in
/// red), one edge per module edge (compile-time ones dashed).
pub fn render_module_dot(g: &ModuleGraph) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut s =
        String::from("digraph modules {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n");
    for m in &g.modules {
        let color = if m.cycle.is_some() { ", color=red" } else { "" };
        let _ = writeln!(
            s,
            "  \"{}\" [tooltip=\"community {}, pagerank {:.4}\"{color}];",
            esc(&m.name),
            m.community,
            m.pagerank
        );
    }
    for e in &g.edges {
        let style = if e.compile_time { ", style=dashed" } else { "" };
        let _ = writeln!(
            s,
            "  \"{}\" -> \"{}\" [label=\"{}\"{style}];",
            esc(&e.from),
            esc(&e.to),
            esc(&e.kinds.join(","))
        );
    }
    s.push_str("}\n");
    s
}

/// GraphML of the module graph with every figure as a node attribute
/// (Gephi sizes and colours by them).
pub fn render_module_graphml(g: &ModuleGraph) -> String {
    let mut s = String::from(GRAPHML_HEAD);
    for (id, ty) in [
        ("file", "string"),
        ("line", "int"),
        ("functions", "int"),
        ("in_degree", "int"),
        ("out_degree", "int"),
        ("pagerank", "double"),
        ("betweenness", "double"),
        ("community", "int"),
        ("cycle", "int"),
    ] {
        let _ = writeln!(
            s,
            "  <key id=\"{id}\" for=\"node\" attr.name=\"{id}\" attr.type=\"{ty}\"/>"
        );
    }
    s.push_str("  <key id=\"kinds\" for=\"edge\" attr.name=\"kinds\" attr.type=\"string\"/>\n");
    s.push_str("  <key id=\"compile_time\" for=\"edge\" attr.name=\"compile_time\" attr.type=\"boolean\"/>\n");
    s.push_str("  <graph id=\"modules\" edgedefault=\"directed\">\n");
    for m in &g.modules {
        let cycle = m
            .cycle
            .map(|c| format!("<data key=\"cycle\">{c}</data>"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "    <node id=\"{}\"><data key=\"file\">{}</data><data key=\"line\">{}</data><data key=\"functions\">{}</data><data key=\"in_degree\">{}</data><data key=\"out_degree\">{}</data><data key=\"pagerank\">{}</data><data key=\"betweenness\">{}</data><data key=\"community\">{}</data>{cycle}</node>",
            xml(&m.name),
            xml(&m.file),
            m.line,
            m.functions,
            m.in_degree,
            m.out_degree,
            m.pagerank,
            m.betweenness,
            m.community
        );
    }
    for (i, e) in g.edges.iter().enumerate() {
        let _ = writeln!(
            s,
            "    <edge id=\"e{i}\" source=\"{}\" target=\"{}\"><data key=\"kinds\">{}</data><data key=\"compile_time\">{}</data></edge>",
            xml(&e.from),
            xml(&e.to),
            xml(&e.kinds.join(",")),
            e.compile_time
        );
    }
    s.push_str("  </graph>\n</graphml>\n");
    s
}

/// The module graph's edges as CSV: `from,to,kinds,compile_time` (kinds
/// separated by `;`).
pub fn render_module_csv(g: &ModuleGraph) -> String {
    let mut s = String::from("from,to,kinds,compile_time\n");
    for e in &g.edges {
        let _ = writeln!(
            s,
            "{},{},{},{}",
            csv_field(&e.from),
            csv_field(&e.to),
            csv_field(&e.kinds.join(";")),
            e.compile_time
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{ModuleEdge, ModuleNode};

    fn node(name: &str, cycle: Option<u32>) -> ModuleNode {
        ModuleNode {
            name: name.into(),
            file: "lib/a&b.ex".into(),
            line: 1,
            functions: 2,
            in_degree: 1,
            out_degree: 1,
            pagerank: 0.5,
            betweenness: 0.0,
            community: 0,
            cycle,
        }
    }

    #[test]
    fn module_graph_exports_escape_and_keep_every_node_and_edge() {
        let g = ModuleGraph {
            modules: vec![node("A<\"x\">", Some(0)), node("B", None)],
            edges: vec![ModuleEdge {
                from: "A<\"x\">".into(),
                to: "B".into(),
                kinds: vec!["call".into(), "import".into()],
                compile_time: true,
            }],
        };
        let graphml = render_module_graphml(&g);
        assert_eq!(graphml.matches("<node ").count(), 2);
        assert_eq!(graphml.matches("<edge ").count(), 1);
        assert!(
            graphml.contains("id=\"A&lt;&quot;x&quot;&gt;\""),
            "{graphml}"
        );
        assert!(graphml.contains("lib/a&amp;b.ex"));
        assert!(graphml.contains("<data key=\"cycle\">0</data>"));
        let dot = render_module_dot(&g);
        assert!(
            dot.contains("\"A<\\\"x\\\">\" -> \"B\" [label=\"call,import\", style=dashed];"),
            "{dot}"
        );
        assert_eq!(
            render_module_csv(&g),
            "from,to,kinds,compile_time\n\"A<\"\"x\"\">\",B,call;import,true\n"
        );
    }
}

/// How an exported graph is written, besides JSON (the answer itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Csv,
    Dot,
    /// GraphML, for Gephi, yEd or NetworkX.
    Graphml,
}

impl GraphFormat {
    /// The format a name (`csv`, `dot`, `graphml`) stands for.
    pub fn parse(name: &str) -> Option<GraphFormat> {
        match name {
            "csv" => Some(GraphFormat::Csv),
            "dot" => Some(GraphFormat::Dot),
            "graphml" => Some(GraphFormat::Graphml),
            _ => None,
        }
    }

    /// The media type of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            GraphFormat::Csv => "text/csv; charset=utf-8",
            GraphFormat::Dot => "text/vnd.graphviz; charset=utf-8",
            GraphFormat::Graphml => "application/graphml+xml",
        }
    }
}

/// The call graph's rows in `format`.
pub fn render_call_graph(rows: &[CallRow], format: GraphFormat) -> String {
    match format {
        GraphFormat::Csv => render_csv(rows),
        GraphFormat::Dot => render_dot(rows),
        GraphFormat::Graphml => render_calls_graphml(rows),
    }
}

/// The module graph in `format` (CSV: its edges).
pub fn render_module_graph(graph: &ModuleGraph, format: GraphFormat) -> String {
    match format {
        GraphFormat::Csv => render_module_csv(graph),
        GraphFormat::Dot => render_module_dot(graph),
        GraphFormat::Graphml => render_module_graphml(graph),
    }
}
