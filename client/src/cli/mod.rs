//! The `cpg` command line. Without `--coordinator` (the default) every command
//! runs embedded: it builds the CPG of PATH in this process and answers from
//! it. With `--coordinator`, `cpg ingest PATH` sends a tree to the cluster and
//! the queries run the same analysis code on summaries gathered from it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use codebase::embedded;
use proto::assignment::NodeId;

mod analyses;
mod ingest;
mod local;
mod lsp;
mod mcp;
mod operations;
mod remote;

pub use remote::record_ingest;

#[derive(Debug, Parser)]
#[command(
    name = "cpg",
    version,
    about = "Code property graphs of Elixir code bases: build, query, analyze."
)]
pub struct Cli {
    /// Talk to a cluster: coordinator addresses, comma-separated (any member
    /// will do). Without it, commands run embedded on PATH.
    #[arg(long, global = true, env = "CPG_COORDINATOR", value_delimiter = ',')]
    pub coordinator: Vec<String>,
    /// The cluster's CA and this client's certificate (`client.NAME.crt`,
    /// made with `cpg cert create-client`): links to a cluster are mutual TLS.
    #[arg(long, global = true, env = "CPG_CERTS_DIR")]
    pub certs_dir: Option<PathBuf>,
    /// Which client certificate of --certs-dir to present.
    #[arg(long, global = true, env = "CPG_CLIENT", default_value = "root")]
    pub client: String,
    /// Plain TCP to the cluster, without certificates (a cluster started
    /// with --insecure, such as `cpg dev-cluster`).
    #[arg(long, global = true, env = "CPG_INSECURE")]
    pub insecure: bool,
    /// Embedded: analyse and report the dependencies under deps/ like the
    /// application (by default they are library code: used to resolve
    /// calls, left out of reports, rankings and dead code).
    #[arg(
        long,
        global = true,
        env = "CPG_INCLUDE_DEPS",
        conflicts_with = "no_deps"
    )]
    pub include_deps: bool,
    /// Embedded: do not read deps/ at all (calls into dependencies stay
    /// unresolved or unknown).
    #[arg(long, global = true, env = "CPG_NO_DEPS")]
    pub no_deps: bool,
    /// With --coordinator: the project to ingest into or query (a cluster
    /// holds any number; without it, the default project). Projects using
    /// the same release of a dependency share its stored copy.
    #[arg(long, global = true, env = "CPG_PROJECT", default_value = "")]
    pub project: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the CPG of every .ex/.exs file under PATH and report on it
    /// (with --coordinator: report on what the cluster holds).
    #[command(args_conflicts_with_subcommands = true)]
    Analyze {
        /// A cross-module analysis; without one, the overall report.
        #[command(subcommand)]
        kind: Option<AnalysisKind>,
        /// A directory (or one file) of Elixir source.
        path: Option<PathBuf>,
        /// Print one JSON object instead of the report.
        #[arg(long)]
        json: bool,
        /// How many entries each ranking shows.
        #[arg(long, default_value_t = proto::defaults::TOP as usize)]
        top: usize,
    },
    /// Export a graph from the CPG.
    Export {
        #[command(subcommand)]
        what: ExportKind,
    },
    /// Functions that call M.f/a (transitively, up to --depth).
    Callers(WalkArgs),
    /// Functions that M.f/a calls (transitively, up to --depth).
    Callees(WalkArgs),
    /// Send the Elixir files under PATH to the cluster (needs --coordinator):
    /// changed files replace their modules, unchanged ones are skipped,
    /// deleted ones are removed.
    Ingest {
        path: PathBuf,
        /// Send only this file of PATH's application (repeat for more): no
        /// walk of the tree, and nothing else added or removed. For a tool
        /// that knows what changed (an editor on save, a hook); a file
        /// removed, or a dependency's, needs an ingest of the whole tree.
        #[arg(long = "file", value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Keep the cluster up to date with a working tree (needs
    /// --coordinator): ingest PATH, then again whenever an Elixir file under
    /// it is saved, added or deleted (only changed files are parsed), until
    /// Ctrl-C.
    Watch {
        path: PathBuf,
        /// How often to look for changes, in milliseconds.
        #[arg(long, default_value_t = 300)]
        interval_ms: u64,
    },
    /// A Model Context Protocol server on stdio for coding agents: read-only
    /// tools (callers, callees, impact, paths, cycles, dead code, taint,
    /// smells, hotspots, module graph, symbol search, function source) over
    /// PATH (default: this folder), analysed at start-up, or over what the
    /// cluster holds with --coordinator.
    Mcp { path: Option<PathBuf> },
    /// A Language Server Protocol server on stdio for editors: definitions,
    /// references, call hierarchy (process edges marked), symbols, hover,
    /// code lenses and diagnostics for Elixir functions and modules, over
    /// the workspace folder analysed in process (edits count before they
    /// are saved), or with --coordinator over a cluster's index (the
    /// workspace is ingested at start and on each save).
    Lsp,
    /// The projects a cluster holds (needs --coordinator): each with its
    /// files and the libraries it uses (package, version, content hash,
    /// files stored), and how many projects share each library.
    Projects {
        #[arg(long)]
        json: bool,
    },
    /// The cluster's health (needs --coordinator): status with reasons,
    /// CPG size, partitions under-replicated or unavailable, the Raft
    /// leader, term and members, and per node its tables, cache hit rate,
    /// recent query times (avg, p50, p95, p99) and memory.
    Health {
        /// Print one JSON object (field names as in the operations guide).
        #[arg(long)]
        json: bool,
    },
    /// Per storage node: a scan benchmark over its real tables, its cache's
    /// effectiveness, memory-pressure indicators against their thresholds,
    /// and what to do about each one breached (needs --coordinator).
    Diagnose {
        #[arg(long)]
        json: bool,
    },
    /// The analysis caches of the cluster's processes (needs --coordinator).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Rebuild the tables of partitions whose share of deleted rows (left by
    /// replaced or removed modules) is over each node's threshold (needs
    /// --coordinator); queries go on meanwhile. Reports bytes before and after.
    Defrag {
        /// Rebuild every partition, whatever its share of deleted rows.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Certificates for mutual TLS between every process and client.
    Cert {
        #[command(subcommand)]
        action: CertAction,
    },
    /// The storage nodes and where partitions are (needs --coordinator).
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// A local cluster of real processes on 127.0.0.1, without containers.
    DevCluster {
        #[command(subcommand)]
        action: DevClusterAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertAction {
    /// Make the cluster's CA (`ca.crt`, `ca.key`) in --certs-dir; keep
    /// `ca.key` off the servers.
    CreateCa {
        #[arg(long)]
        certs_dir: PathBuf,
    },
    /// Make a process certificate (`node.crt`, `node.key`) for the host
    /// names and IP addresses it is reached at.
    CreateNode {
        #[arg(long)]
        certs_dir: PathBuf,
        #[arg(required = true)]
        hosts: Vec<String>,
    },
    /// Make a client certificate (`client.NAME.crt`, `.key`); with
    /// --read-only it can query but not ingest or change the cluster.
    CreateClient {
        #[arg(long)]
        certs_dir: PathBuf,
        name: String,
        #[arg(long)]
        read_only: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Each node's state and how many partitions it serves and is being
    /// filled with; partitions moving and under-replicated; the map's epoch.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Admit the storage node ID serving at ADDRESS (started with
    /// `cpg-node --id ID --listen ADDRESS`), then wait while partitions move
    /// onto it; queries and ingests go on meanwhile.
    AddNode {
        id: NodeId,
        address: String,
        /// Give up waiting after this many seconds (the moves go on).
        #[arg(long, default_value_t = 600)]
        wait_secs: u64,
    },
    /// Move every partition off node ID (copied to the others first), then
    /// mark it decommissioned; waits until it is, after which the node can
    /// be stopped.
    DecommissionNode {
        id: NodeId,
        /// Give up waiting after this many seconds (the moves go on).
        #[arg(long, default_value_t = 600)]
        wait_secs: u64,
    },
    /// Make coordinator ID, started without --init and serving at ADDRESS,
    /// a member of the Raft group (it catches up on the log first, then
    /// joins the voters through joint consensus).
    AddCoordinator { id: u64, address: String },
    /// Take coordinator ID out of the Raft group (joint consensus); its
    /// process can be stopped afterwards.
    RemoveCoordinator { id: u64 },
    /// Back up the cluster into DIR (a new folder): the catalog at one
    /// generation and every file's stored fragments, read from replicas
    /// while the cluster serves; ingests meanwhile are followed until the
    /// backup is consistent at one generation.
    Backup { dir: PathBuf },
    /// Restore the backup in DIR into this cluster, which must be new and
    /// empty and have the backup's partition count (its nodes and
    /// addresses may differ).
    Restore { dir: PathBuf },
    /// Wait until the cluster is ready for work: a Raft leader, at least
    /// --nodes storage nodes up, every partition on its replicas with none
    /// moving or behind. Coordinators that do not answer yet are waited
    /// for (containers and services starting). For scripts and CI.
    Wait {
        /// Storage nodes that must be up.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// Give up after this many seconds (exit status 1).
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevClusterAction {
    /// Start the cluster (or start it again: the same ids, addresses and
    /// data), wait until it is ready and print the coordinator addresses.
    Up {
        #[arg(long, default_value_t = 3)]
        coordinators: usize,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Processes' data and logs, and the cluster's layout.
        #[arg(long)]
        data_dir: PathBuf,
        /// Partition count (fixed when the cluster is first created).
        #[arg(long, default_value_t = 64)]
        partitions: u32,
        /// Replication factor.
        #[arg(long, default_value_t = 2)]
        replication: u32,
        /// First of consecutive ports to use (default: free ports chosen
        /// by the system, remembered for later `up`s).
        #[arg(long)]
        base_port: Option<u16>,
        /// How long to wait for the cluster to become ready, in seconds.
        #[arg(long, default_value_t = 60)]
        wait_secs: u64,
    },
    /// The processes, which of them run, and what the cluster reports.
    Status {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Stop every process of the cluster; the data stays for the next `up`.
    Down {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Remove cached results that outlived their TTL (or whose data has
    /// changed) on every coordinator given and every node, now; report how
    /// many each removed. (Processes also do this every quarter of the TTL.)
    Cleanup {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AnalysisKind {
    /// Module-level and function-level cycles (strongly connected
    /// components) with the edges that form them, each labelled
    /// compile-time (require, import, use, macros, @behaviour, module-body
    /// calls) or runtime (remote calls).
    Cycles {
        path: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// `text` (the default), `json` (as --json) or `sarif` (SARIF 2.1.0,
        /// for code scanning).
        #[arg(long, value_enum, conflicts_with = "json")]
        format: Option<ReportFormat>,
    },
    /// What is affected when a function (Module.fun/arity) or a module
    /// changes (upstream) and what it depends on (downstream), to a depth.
    Impact {
        /// Module.fun/arity, or a module name.
        target: String,
        path: Option<PathBuf>,
        #[arg(long, default_value_t = proto::defaults::IMPACT_DEPTH)]
        depth: u32,
        #[arg(long)]
        json: bool,
    },
    /// Public functions nothing in the code calls (behaviour callbacks,
    /// protocol implementations and conventional entry points excepted).
    DeadCode {
        path: Option<PathBuf>,
        /// Called from outside the code: Module.fun/arity, or a module for
        /// all its functions (repeatable).
        #[arg(long = "entry")]
        entries: Vec<String>,
        /// A file listing entry points, one per line (`#` starts a comment).
        #[arg(long)]
        entries_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// `text` (the default), `json` (as --json) or `sarif` (SARIF 2.1.0,
        /// for code scanning).
        #[arg(long, value_enum, conflicts_with = "json")]
        format: Option<ReportFormat>,
    },
    /// One row per function for machine-learning pipelines: lines,
    /// clauses, cyclomatic complexity, nesting, fan-in, fan-out, PageRank,
    /// betweenness, community, in a cycle or not.
    Features {
        path: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = TableFormat::Csv)]
        format: TableFormat,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Communities of the module graph, with their modularity.
    Communities {
        path: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = AlgorithmArg::Louvain)]
        algorithm: AlgorithmArg,
        #[arg(long)]
        json: bool,
    },
    /// Call paths from one function to another: the shortest, and every
    /// simple path of at most --max-depth calls (at most --max-paths).
    Paths {
        /// Module.fun/arity the paths start at.
        from: String,
        /// Module.fun/arity the paths end at.
        to: String,
        path: Option<PathBuf>,
        #[arg(long, default_value_t = proto::defaults::PATHS_MAX_DEPTH)]
        max_depth: u32,
        #[arg(long, default_value_t = proto::defaults::PATHS_MAX)]
        max_paths: u32,
        #[arg(long)]
        json: bool,
    },
    /// Untrusted data reaching dangerous calls across modules: request
    /// parameters, environment, standard input and sockets into atom
    /// creation, code evaluation, commands, file paths, raw SQL and raw
    /// HTML, each finding with every step's file:line.
    Taint {
        path: Option<PathBuf>,
        /// Rules as TOML instead of the defaults (see --print-rules).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Print the default rules (to copy and edit) and exit.
        #[arg(long)]
        print_rules: bool,
        /// Under each finding, what was considered on its way and did not
        /// make it clean: checks no rule counts for its source, calls no
        /// sanitizer matches (the JSON always carries it, as `explain`).
        #[arg(long)]
        explain: bool,
        #[arg(long)]
        json: bool,
        /// `text` (the default), `json` (as --json) or `sarif` (SARIF 2.1.0,
        /// for code scanning).
        #[arg(long, value_enum, conflicts_with = "json")]
        format: Option<ReportFormat>,
    },
    /// Code smells: god modules, cyclic dependencies, shotgun surgery,
    /// feature envy, high fan-in/fan-out, long, complex and deeply nested
    /// functions.
    Smells {
        path: Option<PathBuf>,
        /// Thresholds as TOML instead of the defaults (see --print-thresholds).
        #[arg(long)]
        thresholds: Option<PathBuf>,
        /// Print the default thresholds (to copy and edit) and exit.
        #[arg(long)]
        print_thresholds: bool,
        #[arg(long)]
        json: bool,
        /// `text` (the default), `json` (as --json) or `sarif` (SARIF 2.1.0,
        /// for code scanning).
        #[arg(long, value_enum, conflicts_with = "json")]
        format: Option<ReportFormat>,
    },
    /// The most central functions or modules: in/out degree, PageRank
    /// (damping 0.85), betweenness (Brandes) and closeness.
    Centrality {
        path: Option<PathBuf>,
        /// The function call graph (ingested functions) or the module graph.
        #[arg(long, value_enum, default_value_t = GraphArg::Functions)]
        graph: GraphArg,
        /// The figure to rank by.
        #[arg(long, value_enum, default_value_t = MetricArg::Pagerank)]
        by: MetricArg,
        #[arg(long, default_value_t = proto::defaults::TOP)]
        top: u32,
        #[arg(long)]
        json: bool,
    },
}

/// How a findings analysis is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    Louvain,
    LabelPropagation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphArg {
    Functions,
    Modules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    InDegree,
    OutDegree,
    Pagerank,
    Betweenness,
    Closeness,
}

#[derive(Debug, Subcommand)]
pub enum ExportKind {
    /// One row per call site: caller, callee, file and line.
    CallGraph {
        path: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Csv)]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The module graph: every module with its PageRank, betweenness,
    /// community and cycle, every dependency edge with its kinds (CSV: the
    /// edges).
    ModuleGraph {
        path: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Dot,
    /// GraphML, for Gephi, yEd or NetworkX.
    Graphml,
}

impl Format {
    fn export(self) -> proto::ExportFormat {
        match self {
            Format::Json => proto::ExportFormat::Json,
            Format::Csv => proto::ExportFormat::Csv,
            Format::Dot => proto::ExportFormat::Dot,
            Format::Graphml => proto::ExportFormat::Graphml,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct WalkArgs {
    /// The function, as Module.fun/arity (e.g. Enum.map/2, :ets.insert/2).
    pub function: String,
    pub path: Option<PathBuf>,
    /// 1 lists direct callers (callees) only.
    #[arg(long, default_value_t = proto::defaults::WALK_DEPTH)]
    pub depth: u32,
    #[arg(long)]
    pub json: bool,
}

/// Deadline of each request to a node.
/// Deadline of a query to a coordinator (the first query after an ingest
/// gathers every partition's summaries).
const QUERY_DEADLINE: Duration = Duration::from_secs(300);

/// What embedded builds do with `deps/` (set once from the command line).
static DEPS: std::sync::OnceLock<embedded::Deps> = std::sync::OnceLock::new();

fn deps_mode() -> embedded::Deps {
    DEPS.get().copied().unwrap_or_default()
}

/// The project cluster commands work on (set once from the command line).
static PROJECT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn project() -> String {
    PROJECT.get().cloned().unwrap_or_default()
}

pub fn run(cli: Cli) -> Result<()> {
    let _ = DEPS.set(match (cli.include_deps, cli.no_deps) {
        (true, _) => embedded::Deps::Include,
        (_, true) => embedded::Deps::Skip,
        _ => embedded::Deps::Library,
    });
    proto::projects::check_project(&cli.project).map_err(|e| anyhow::anyhow!(e))?;
    let _ = PROJECT.set(cli.project.clone());
    let coordinators = cli.coordinator;
    // Links to a cluster: TLS with the client's certificate, or plain TCP
    // when asked for explicitly.
    let talks_to_cluster = !coordinators.is_empty()
        && !matches!(
            cli.command,
            Command::Cert { .. } | Command::DevCluster { .. }
        );
    if talks_to_cluster {
        let identity = format!("client.{}", cli.client);
        let tls = net::certs::security(cli.certs_dir.as_deref(), &identity, false, cli.insecure)
            .map_err(|e| anyhow::anyhow!(e))?;
        net::wire::secure_with(tls);
    }
    match cli.command {
        Command::Analyze {
            kind: None,
            path,
            json,
            top,
        } => analyses::analyze(&coordinators, path, json, top),
        Command::Analyze {
            kind: Some(kind), ..
        } => analyses::analysis(&coordinators, kind),
        Command::Export {
            what:
                ExportKind::CallGraph {
                    path,
                    format,
                    output,
                },
        } => analyses::export_graph(&coordinators, path, false, format, output),
        Command::Export {
            what:
                ExportKind::ModuleGraph {
                    path,
                    format,
                    output,
                },
        } => analyses::export_graph(&coordinators, path, true, format, output),
        Command::Callers(args) => analyses::walk(&coordinators, args, true),
        Command::Callees(args) => analyses::walk(&coordinators, args, false),
        Command::Ingest { path, files } => ingest::ingest(&coordinators, &path, &files),
        Command::Projects { json } => operations::projects(&coordinators, json),
        Command::Health { json } => operations::health(&coordinators, json),
        Command::Watch { path, interval_ms } => ingest::watch(
            &coordinators,
            &path,
            Duration::from_millis(interval_ms.max(20)),
        ),
        Command::Defrag { force, json } => operations::defrag(&coordinators, force, json),
        Command::Diagnose { json } => operations::diagnose(&coordinators, json),
        Command::Cache {
            action: CacheAction::Cleanup { json },
        } => operations::cache_cleanup(&coordinators, json),
        Command::Cluster { action } => remote::cluster_command(&coordinators, action),
        Command::Cert { action } => local::cert_command(action),
        Command::DevCluster { action } => local::dev_cluster(action),
        Command::Mcp { path } => mcp::mcp(&coordinators, path),
        Command::Lsp => lsp::lsp(&coordinators),
    }
}

/// Write to `output`, or to stdout without one.
fn write_output(output: Option<PathBuf>, text: &str) -> Result<()> {
    match output {
        Some(file) => {
            std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
        }
        None => write_stdout(text),
    }
}

/// Write to stdout; a closed pipe (`cpg ... | head`) is not an error.
fn write_stdout(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
