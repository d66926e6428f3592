//! Results of the analyses, as they cross the wire: the same types are what
//! the embedded mode computes, what a coordinator answers with, and what the
//! CLI prints. Computing them is `partition::analysis`'s business.

use serde::{Deserialize, Serialize};

use crate::fragment::Diagnostic;
use crate::mfa::Mfa;

/// A function reached by a transitive walk, at its shortest distance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reached {
    pub depth: u32,
    pub mfa: Mfa,
}

/// One module-to-module edge and why it exists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ModuleEdge {
    pub from: String,
    pub to: String,
    /// `call` for a runtime remote call, else the dependency kind.
    pub kinds: Vec<String>,
    /// Whether any reason forces recompilation (`mix xref` compile-time edge).
    pub compile_time: bool,
}

/// One module of the module graph, with what a picture of it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleNode {
    pub name: String,
    /// Where it is defined.
    pub file: String,
    pub line: u32,
    pub functions: u32,
    pub in_degree: u32,
    pub out_degree: u32,
    /// PageRank (damping 0.85) and Brandes betweenness on the module graph.
    pub pagerank: f64,
    pub betweenness: f64,
    /// Louvain community: 0 is the largest.
    pub community: u32,
    /// The module cycle it is in (an index into `Cycles::modules`, largest
    /// first), if any.
    pub cycle: Option<u32>,
}

/// The module dependency graph: every ingested module and every edge of
/// `module_edges`, for exports and the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleGraph {
    pub modules: Vec<ModuleNode>,
    pub edges: Vec<ModuleEdge>,
}

/// A set of modules that all reach each other, and the edges among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleCycle {
    pub modules: Vec<String>,
    pub edges: Vec<ModuleEdge>,
}

/// One call inside a function cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionEdge {
    pub from: Mfa,
    pub to: Mfa,
    /// Made from a module body, so it runs when the module compiles.
    pub compile_time: bool,
}

/// Functions that all reach each other through calls, and those calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCycle {
    pub functions: Vec<Mfa>,
    pub edges: Vec<FunctionEdge>,
}

/// Module-level and function-level cycles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycles {
    pub modules: Vec<ModuleCycle>,
    pub functions: Vec<FunctionCycle>,
}

/// Something reached from an impact target, at its shortest distance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Affected {
    pub depth: u32,
    /// `Module.fun/arity` for a function target, the module name for a module.
    pub name: String,
}

/// What depends on a function or a module (upstream: it is affected when the
/// target changes) and what it depends on (downstream), to a depth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    pub target: String,
    /// `function` or `module`.
    pub kind: String,
    pub depth: u32,
    pub upstream: Vec<Affected>,
    pub downstream: Vec<Affected>,
    pub direct_upstream: u32,
    pub transitive_upstream: u32,
    pub direct_downstream: u32,
    pub transitive_downstream: u32,
    /// Share of the other ingested functions (or modules) upstream within
    /// `depth`: 0 affects nothing, 1 affects everything.
    pub impact_score: f64,
}

/// Which graph a graph analysis runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GraphKind {
    /// Ingested functions and the calls among them.
    Functions,
    /// Ingested modules and their dependencies (calls and compile-time).
    Modules,
}

/// A centrality figure to rank by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    InDegree,
    OutDegree,
    PageRank,
    Betweenness,
    Closeness,
}

/// One node's centrality figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CentralityRow {
    pub name: String,
    pub in_degree: u32,
    pub out_degree: u32,
    /// PageRank with damping 0.85 (all nodes sum to 1).
    pub pagerank: f64,
    /// Brandes betweenness, unnormalized.
    pub betweenness: f64,
    /// Wasserman–Faust closeness over outgoing paths.
    pub closeness: f64,
}

/// The top nodes of a graph by one centrality figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Centrality {
    pub graph: GraphKind,
    pub by: Metric,
    pub nodes: u32,
    pub edges: u32,
    /// Highest first (ties by name).
    pub top: Vec<CentralityRow>,
}

/// One function's features (`cpg analyze features`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRow {
    pub module: String,
    pub function: String,
    pub arity: u16,
    pub file: String,
    pub line: u32,
    pub lines: u32,
    pub clauses: u32,
    pub cyclomatic: u32,
    pub nesting: u32,
    /// Distinct functions calling it.
    pub fan_in: u32,
    /// Distinct functions it calls (ingested or not).
    pub fan_out: u32,
    /// Over the graph of ingested functions.
    pub pagerank: f64,
    pub betweenness: f64,
    /// Louvain community of its module.
    pub community: u32,
    /// Member of a function-level cycle.
    pub in_cycle: bool,
}

/// A public function nothing calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadFunction {
    pub mfa: Mfa,
    /// `def`, `defmacro`, `defdelegate`, ...
    pub kind: String,
    pub file: String,
    pub line: u32,
}

/// How communities are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommunityAlgorithm {
    /// Greedy modularity optimization with aggregation (Blondel et al.).
    Louvain,
    /// Each module takes its neighbours' most common label.
    LabelPropagation,
}

/// Communities of the module graph (taken as undirected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Communities {
    pub algorithm: CommunityAlgorithm,
    /// Newman's modularity of the partition found.
    pub modularity: f64,
    /// Every ingested module in exactly one community; largest first (ties
    /// by first name), names sorted.
    pub communities: Vec<Vec<String>>,
}

/// Call paths between two functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paths {
    pub from: Mfa,
    pub to: Mfa,
    /// The shortest path (fewest calls), both ends included; `None` when
    /// `to` cannot be reached from `from`.
    pub shortest: Option<Vec<Mfa>>,
    /// Simple paths within the length limit, depth-first.
    pub all: Vec<Vec<Mfa>>,
    /// More paths exist than the limit on their number let through.
    pub truncated: bool,
}

/// A function and a figure about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRank {
    pub mfa: Mfa,
    pub value: u32,
    pub file: String,
    pub line: u32,
}

/// One exported call-graph row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRow {
    pub caller_module: String,
    pub caller_function: String,
    pub caller_arity: u16,
    pub callee_module: String,
    pub callee_function: String,
    pub callee_arity: u16,
    pub file: String,
    pub line: u32,
    pub kind: String,
    /// For an unresolved call: the imported or used modules whose exports
    /// cannot be seen, any of which might provide it.
    /// (Always serialized: the RPC encoding is not self-describing.)
    #[serde(default)]
    pub candidates: Vec<String>,
    /// The callee's module is known and does not define the function.
    #[serde(default)]
    pub undefined: bool,
    /// The callee is marked `@deprecated`: the message.
    #[serde(default)]
    pub deprecated: Option<String>,
}

/// The `cpg analyze` report. `--json` prints exactly this object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzeReport {
    pub files: u64,
    pub modules: u64,
    /// Scripts with top-level code (each a pseudo-module named after its file).
    pub scripts: u64,
    pub functions: u64,
    pub nodes: u64,
    pub edges: u64,
    pub calls: u64,
    pub unresolved_calls: u64,
    pub dynamic_calls: u64,
    /// Edges through processes (`GenServer.call` → `handle_call`, ...), not
    /// counted in `calls`.
    pub process_edges: u64,
    pub parse_diagnostics: Vec<Diagnostic>,
    pub most_complex: Vec<FunctionRank>,
    pub most_called: Vec<FunctionRank>,
    pub module_cycles: Vec<ModuleCycle>,
    /// Bytes the store accounts for in its own tables and indexes (embedded).
    pub memory_bytes: usize,
    /// Peak resident set size of the process that computed the report
    /// (Linux `VmHWM`), when known.
    pub peak_rss_bytes: Option<u64>,
    /// Time to build the CPG (embedded) or to gather the summaries (cluster).
    pub build_ms: u64,
    /// Cluster mode: partitions that did not answer (their modules are left
    /// out of every figure). Always empty embedded.
    pub missing_partitions: Vec<crate::assignment::PartitionId>,
    /// The dependencies (`deps/PACKAGE/`) resolved against as library code,
    /// by package, sorted by name.
    pub libraries: Vec<LibraryPackage>,
    /// Calls to `@deprecated` functions (the analysed code's, a library's
    /// or the standard library's), by function, most calls first.
    pub deprecated: Vec<DeprecatedCalls>,
}

/// The calls to one deprecated function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeprecatedCalls {
    pub function: Mfa,
    pub message: String,
    pub calls: u64,
    /// The first call site, `file:line`.
    pub first: String,
}

/// One dependency package known as library code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryPackage {
    pub package: String,
    pub files: u64,
    pub modules: u64,
}

/// Taint rules: what produces untrusted data, what must not receive it, and
/// what makes it safe. Users edit them as TOML (`cpg analyze taint
/// --print-rules` shows the defaults); the client sends them with the query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintRules {
    /// Files whose code is not analysed for flows (neither sources nor
    /// sinks there count): a pattern ending in `/` is a folder at any depth
    /// (`test/` takes `test/support/x.ex` and `apps/a/test/x.exs`), any
    /// other a path prefix.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default, rename = "source")]
    pub sources: Vec<TaintRule>,
    #[serde(default, rename = "sink")]
    pub sinks: Vec<TaintRule>,
    #[serde(default, rename = "sanitizer")]
    pub sanitizers: Vec<TaintRule>,
    /// What calls outside the analysed code pass from their arguments to
    /// their result (a call no rule names passes every argument, and the
    /// finding says it assumed so).
    #[serde(default, rename = "flow")]
    pub flows: Vec<TaintRule>,
}

/// One rule. Function patterns are `Module.fun/arity` where `*` matches any
/// run of characters in the module, the name or the arity
/// (`*Controller.*/2`, `File.*/*`, `:os.cmd/1`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintRule {
    /// Shown in findings (`request parameters`, `atom creation`).
    pub name: String,
    /// Calls: a source's result is tainted; a sink's arguments must not be;
    /// a sanitizer's result is clean.
    #[serde(default)]
    pub calls: Vec<String>,
    /// Sources only: field reads such as `conn.params` (`params`).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Sources only: parameters of matching functions (public ones), by
    /// position from 0, e.g. a Phoenix action's `params`.
    #[serde(default)]
    pub parameters: Vec<ParameterRule>,
    /// Sinks only: the argument positions (from 0) that matter; empty: all.
    #[serde(default)]
    pub args: Vec<u8>,
    /// Sinks only: when not empty, only the values of these keywords in
    /// those arguments matter (`redirect(conn, external: url)`: `external`).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Sanitizers only: checks on a variable that make its uses in the
    /// branch they guard clean (`membership`, `regex`, `literal_case`).
    #[serde(default)]
    pub checks: Vec<String>,
    /// Sinks only: `high` (the default), `medium` or `low`.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Sources only: data the operator controls (the environment, standard
    /// input), not a remote user: findings from it rank one step lower.
    #[serde(default)]
    pub operator: bool,
    /// Flows only: the argument positions whose taint reaches the result
    /// (none: the result is clean).
    #[serde(default)]
    pub result_from: Vec<u8>,
    /// Sanitizers only: the sources (by name) whose data its `checks` make
    /// clean; empty: every source's.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Sanitizers only: calls that validate one field (argument 1, a
    /// literal atom) of a value (argument 0), such as
    /// `Ecto.Changeset.validate_inclusion(changeset, :role, @roles)`.
    #[serde(default)]
    pub validates: Vec<String>,
    /// Sanitizers only: with `validates`, a validation counts only when one
    /// of its arguments is a literal regex anchored at both ends.
    #[serde(default)]
    pub anchored: bool,
    /// Sanitizers only: calls that read one field (argument 1, a literal
    /// atom) of a value (argument 0), such as `get_field(changeset, :role)`:
    /// clean when that field of the value was validated on the way.
    #[serde(default)]
    pub field_reads: Vec<String>,
}

/// How much a finding matters, most first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    High,
    Medium,
    Low,
}

impl Severity {
    /// One step lower (`low` stays `low`).
    pub fn lower(self) -> Severity {
        match self {
            Severity::High => Severity::Medium,
            _ => Severity::Low,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// Parameters of functions matching `function` at position `index`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterRule {
    pub function: String,
    pub index: u8,
    /// Only functions that the Phoenix router reaches (routed actions,
    /// LiveView callbacks of a `live` route).
    #[serde(default)]
    pub routed: bool,
    /// Only when the analysed code has no Phoenix router (a hand-written
    /// `call/2`, part of an application): a fallback for `routed`.
    #[serde(default)]
    pub no_router: bool,
    /// Only functions of modules that `use` this module, directly or
    /// through what they use (`Phoenix.LiveView`).
    #[serde(default)]
    pub uses: Option<String>,
}

/// One step of a taint finding: where the data is and how it got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaintStep {
    pub file: String,
    pub line: u32,
    /// The function the step happens in.
    pub function: Mfa,
    /// What happens: `source: parameter 1 of ...`, `passed to ...`, ...
    pub what: String,
}

/// Untrusted data from a source reaching a sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaintFinding {
    /// From the sink rule's severity, one step lower when the source is
    /// the operator's (`operator = true`).
    pub severity: Severity,
    /// The source rule's name.
    pub source: String,
    /// The sink rule's name.
    pub sink: String,
    /// The sink function called, `String.to_atom/1`.
    pub sink_call: Mfa,
    /// From the source to the sink call, every call boundary crossed.
    pub steps: Vec<TaintStep>,
    /// Calls on the way that no code and no flow rule covers, taken to pass
    /// their arguments to their result: where the finding rests on an
    /// assumption (empty: it rests on none).
    #[serde(default)]
    pub assumed: Vec<Mfa>,
    /// What was considered on the way and did not make the value clean:
    /// checks it passed that no sanitizer rule counts for its source, the
    /// calls outside the code it went through that no sanitizer matches,
    /// and the sanitizer rules there are (`cpg analyze taint --explain`).
    #[serde(default)]
    pub explain: Vec<String>,
}

/// All findings, most severe first, then by sink location and source
/// location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taint {
    pub findings: Vec<TaintFinding>,
    /// Source locations the rules matched in the code.
    pub sources: u32,
    /// The search stopped at its work limit; more findings may exist.
    pub truncated: bool,
}

/// Thresholds for code smells. Users edit them as TOML (`cpg analyze smells
/// --print-thresholds` shows the defaults).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmellThresholds {
    /// God module: at least this many functions...
    pub god_module_functions: u32,
    /// ...or this many lines of function code, with outgoing dependencies on
    /// at least `god_module_dependencies` modules.
    pub god_module_lines: u32,
    pub god_module_dependencies: u32,
    /// Feature envy: a function making at least this many calls to one other
    /// module...
    pub feature_envy_calls: u32,
    /// ...and at least this share (percent) of its calls to ingested code
    /// going there, more than to its own module.
    pub feature_envy_percent: u32,
    /// Shotgun surgery: a function called from at least this many modules.
    pub shotgun_surgery_modules: u32,
    /// High fan-in / fan-out: distinct calling / called functions.
    pub fan_in: u32,
    pub fan_out: u32,
    /// Long function: lines.
    pub long_function_lines: u32,
    /// Complex function: cyclomatic complexity, or nesting depth.
    pub complex_function_cyclomatic: u32,
    pub deep_nesting: u32,
}

impl Default for SmellThresholds {
    fn default() -> SmellThresholds {
        SmellThresholds {
            god_module_functions: 50,
            god_module_lines: 1000,
            god_module_dependencies: 15,
            feature_envy_calls: 4,
            feature_envy_percent: 60,
            shotgun_surgery_modules: 15,
            fan_in: 30,
            fan_out: 20,
            long_function_lines: 60,
            complex_function_cyclomatic: 15,
            deep_nesting: 5,
        }
    }
}

/// One smell found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smell {
    /// `god_module`, `feature_envy`, `shotgun_surgery`, `cyclic_dependency`,
    /// `high_fan_in`, `high_fan_out`, `long_function`, `complex_function`,
    /// `deep_nesting`.
    pub kind: String,
    /// The module or `Module.fun/arity`.
    pub subject: String,
    pub file: String,
    pub line: u32,
    /// The measured figure against its threshold, in words.
    pub detail: String,
}

/// An analysis request to a coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Query {
    /// The `cpg analyze` report, rankings `top` long.
    Analyze { top: u32 },
    /// Every call site, in export order.
    CallGraph,
    /// Functions calling `function`, transitively to `depth` (1: direct).
    Callers { function: Mfa, depth: u32 },
    /// Functions `function` calls, transitively to `depth`.
    Callees { function: Mfa, depth: u32 },
    /// Module and function cycles.
    Cycles,
    /// Impact of changing `target` (`Module.fun/arity` or a module name).
    Impact { target: String, depth: u32 },
    /// Call paths from `from` to `to`: the shortest, and all simple ones
    /// of at most `max_depth` calls, at most `max_paths` of them.
    Paths {
        from: Mfa,
        to: Mfa,
        max_depth: u32,
        max_paths: u32,
    },
    /// Public functions nothing calls; `entries` are called from outside
    /// (`Module.fun/arity`, or a module for all its functions).
    DeadCode { entries: Vec<String> },
    /// One row of features per ingested function.
    Features,
    /// Communities of the module graph.
    Communities { algorithm: CommunityAlgorithm },
    /// The `top` nodes of `graph` by `by`.
    Centrality {
        graph: GraphKind,
        by: Metric,
        top: u32,
    },
    /// Source-to-sink flows under `rules`.
    Taint { rules: TaintRules },
    /// Code smells under `thresholds`.
    Smells { thresholds: SmellThresholds },
    /// The module graph with centrality, communities and cycles.
    ModuleGraph,
    /// The module summaries the answers come from, and the libraries they
    /// are resolved against: what a client needs to link the same graph
    /// (the language server backed by a cluster).
    Summaries,
    /// An export as text in `format` (what `cpg export` writes). A cluster
    /// sends it in chunks ([`ExportChunk`]), never as one answer.
    Export {
        kind: ExportKind,
        format: ExportFormat,
    },
}

/// What an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExportKind {
    /// Every call site (`cpg export call-graph`).
    CallGraph,
    /// Modules and their dependencies (`cpg export module-graph`).
    ModuleGraph,
    /// One row of features per function (`cpg analyze features`).
    Features,
}

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExportFormat {
    Json,
    Csv,
    Dot,
    Graphml,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
            ExportFormat::Dot => "dot",
            ExportFormat::Graphml => "graphml",
        }
    }
}

/// One piece of an export's text: bytes `offset..offset + text.len()` of
/// `total`, from the snapshot of catalog `generation`. The pieces of one
/// export all come from one generation: a later piece asked for another
/// generation is refused, never mixed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportChunk {
    pub generation: u64,
    pub offset: u64,
    pub total: u64,
    pub text: String,
    /// Partitions that did not answer (their modules are left out).
    pub missing: Vec<crate::assignment::PartitionId>,
}

/// Bytes of export text per chunk at most (a chunk ends after a line when
/// one ends within it).
pub const EXPORT_CHUNK_BYTES: usize = 1 << 20;

/// Where the chunk of `text` that starts at `offset` ends: at most
/// [`EXPORT_CHUNK_BYTES`] on, after the last line break within that when
/// there is one, else at a character boundary.
pub fn export_chunk_end(text: &str, offset: usize) -> usize {
    let mut end = (offset + EXPORT_CHUNK_BYTES).min(text.len());
    if end == text.len() {
        return end;
    }
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[offset..end].rfind('\n') {
        Some(nl) => offset + nl + 1,
        None => end,
    }
}

/// The parameters a query takes when its caller gives none: the same for
/// the `cpg` CLI and the HTTP API.
pub mod defaults {
    /// Entries of each ranking (`Analyze`, `Centrality`).
    pub const TOP: u32 = 10;
    /// Depth of a callers/callees walk (1: direct).
    pub const WALK_DEPTH: u32 = 1;
    /// Depth of an impact analysis.
    pub const IMPACT_DEPTH: u32 = 3;
    /// Calls in a path, and paths listed.
    pub const PATHS_MAX_DEPTH: u32 = 6;
    pub const PATHS_MAX: u32 = 20;
}

/// What a query found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryResult {
    Analyze(Box<AnalyzeReport>),
    CallGraph(Vec<CallRow>),
    Reached(Vec<Reached>),
    Cycles(Cycles),
    Impact(Box<Impact>),
    Centrality(Centrality),
    Paths(Paths),
    Communities(Communities),
    DeadCode(Vec<DeadFunction>),
    Features(Vec<FeatureRow>),
    Taint(Taint),
    Smells(Vec<Smell>),
    ModuleGraph(ModuleGraph),
    Summaries(Box<SummarySet>),
    /// An export's text.
    Text(String),
}

/// Module summaries and the library summaries they are resolved against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummarySet {
    pub modules: Vec<crate::ModuleSummary>,
    pub libraries: Vec<crate::ModuleSummary>,
}

/// A coordinator's answer: the result, the catalog generation it reflects,
/// and the partitions that did not answer (empty: the result is complete).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub generation: u64,
    pub missing: Vec<crate::assignment::PartitionId>,
    /// Why replicas failed while the result was gathered (`node N: reason`),
    /// including failures another replica made up for.
    pub failures: Vec<String>,
    /// Shared with the coordinator's answer cache (sent as the plain value).
    pub result: std::sync::Arc<QueryResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces of `text` as a client fetches them.
    fn pieces(text: &str) -> Vec<&str> {
        let (mut out, mut at) = (Vec::new(), 0);
        while at < text.len() {
            let end = export_chunk_end(text, at);
            assert!(end > at, "no progress at {at}");
            out.push(&text[at..end]);
            at = end;
        }
        out
    }

    #[test]
    fn export_pieces_cover_the_text_end_after_lines_and_split_no_character() {
        // Lines of 100 bytes: every piece but the last ends after a line.
        let line = format!("{}\n", "x".repeat(99));
        let text = line.repeat(25_000);
        let got = pieces(&text);
        assert_eq!(got.concat(), text);
        assert!(got.len() >= 3);
        for p in &got {
            assert!(p.len() <= EXPORT_CHUNK_BYTES);
            assert!(p.ends_with('\n'));
        }
        // One long line of 3-byte characters: cut at character boundaries.
        let text = "€".repeat(EXPORT_CHUNK_BYTES);
        let got = pieces(&text);
        assert_eq!(got.concat(), text);
        assert!(got.iter().all(|p| p.len() <= EXPORT_CHUNK_BYTES));
        assert!(pieces("").is_empty());
        assert_eq!(pieces("short"), vec!["short"]);
    }
}
