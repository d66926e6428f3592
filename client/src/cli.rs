//! The `cpg` command line. Without `--coordinator` (the default) every command
//! runs embedded: it builds the CPG of PATH in this process and answers from
//! it. With `--coordinator`, `cpg ingest PATH` sends a tree to the cluster and
//! the queries run the same analysis code on summaries gathered from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use partition::analysis;
use proto::coordinator_api::{
    CatalogListing, ClusterView, CoordinatorServiceClient, IngestRecord, NodeInfo,
};
use proto::{
    Answer, CommunityAlgorithm, CpgError, GraphKind, Metric, Mfa, Query, QueryResult,
    SmellThresholds,
};

use crate::devcluster;
use codebase::driver;
use codebase::embedded;
use codebase::ingest as cluster;
use net::coordinator_client::{self, on_leader, LeaderError, NoAnswer, WRITE_LEADER_WAIT};
use net::node_client::NodeClient;
use query::answer;
use query::report;

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
    Ingest { path: PathBuf },
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

fn cert_command(action: CertAction) -> Result<()> {
    use net::certs;
    let (dir, what) = match &action {
        CertAction::CreateCa { certs_dir } => {
            certs::create_ca(certs_dir)?;
            (certs_dir, "ca.crt and ca.key".to_string())
        }
        CertAction::CreateNode { certs_dir, hosts } => {
            certs::create_node(certs_dir, hosts)?;
            (
                certs_dir,
                format!("node.crt and node.key for {}", hosts.join(", ")),
            )
        }
        CertAction::CreateClient {
            certs_dir,
            name,
            read_only,
        } => {
            certs::create_client(certs_dir, name, *read_only)?;
            let role = if *read_only {
                "read-only"
            } else {
                "read-write"
            };
            (certs_dir, format!("client.{name}.crt and .key ({role})"))
        }
    };
    write_stdout(&format!("made {what} in {}\n", dir.display()))
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
        id: u64,
        address: String,
        /// Give up waiting after this many seconds (the moves go on).
        #[arg(long, default_value_t = 600)]
        wait_secs: u64,
    },
    /// Move every partition off node ID (copied to the others first), then
    /// mark it decommissioned; waits until it is, after which the node can
    /// be stopped.
    DecommissionNode {
        id: u64,
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

/// What keeps `view` from being ready for work, if anything.
fn not_ready(view: &ClusterView, nodes: usize) -> Option<String> {
    let up = view.nodes.iter().filter(|n| n.state == "up").count();
    if view.leader.is_none() {
        return Some("no Raft leader yet".into());
    }
    if up < nodes {
        return Some(format!("{up} of {nodes} storage nodes up"));
    }
    let replicas = (view.replication as usize).min(up).max(1);
    let placed = (0..view.partitions)
        .filter(|p| view.assignment.get(p).is_some_and(|r| r.len() >= replicas))
        .count();
    if placed < view.partitions as usize {
        return Some(format!(
            "{placed} of {} partitions on {replicas} replicas",
            view.partitions
        ));
    }
    if !view.joining.is_empty() || !view.behind.is_empty() {
        return Some(format!(
            "{} partitions moving, {} with replicas behind",
            view.joining.len(),
            view.behind.len()
        ));
    }
    None
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
        #[arg(long)]
        json: bool,
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
        } => analyze(&coordinators, path, json, top),
        Command::Analyze {
            kind: Some(kind), ..
        } => analysis(&coordinators, kind),
        Command::Export {
            what:
                ExportKind::CallGraph {
                    path,
                    format,
                    output,
                },
        } => export_call_graph(&coordinators, path, format, output),
        Command::Export {
            what:
                ExportKind::ModuleGraph {
                    path,
                    format,
                    output,
                },
        } => export_module_graph(&coordinators, path, format, output),
        Command::Callers(args) => walk(&coordinators, args, true),
        Command::Callees(args) => walk(&coordinators, args, false),
        Command::Ingest { path } => ingest(&coordinators, &path),
        Command::Projects { json } => projects(&coordinators, json),
        Command::Health { json } => health(&coordinators, json),
        Command::Watch { path, interval_ms } => watch(
            &coordinators,
            &path,
            Duration::from_millis(interval_ms.max(20)),
        ),
        Command::Defrag { force, json } => defrag(&coordinators, force, json),
        Command::Diagnose { json } => diagnose(&coordinators, json),
        Command::Cache {
            action: CacheAction::Cleanup { json },
        } => cache_cleanup(&coordinators, json),
        Command::Cluster { action } => cluster_command(&coordinators, action),
        Command::Cert { action } => cert_command(action),
        Command::DevCluster { action } => dev_cluster(action),
    }
}

/// One node in `cpg cluster status`.
#[derive(Debug, serde::Serialize)]
struct NodeStatus {
    id: u64,
    address: String,
    state: String,
    /// Partitions it serves reads of.
    partitions: usize,
    /// Partitions being copied onto it.
    joining: usize,
    /// Partitions it missed writes of (serving no reads until caught up).
    behind: usize,
}

/// `cpg cluster status --json`.
#[derive(Debug, serde::Serialize)]
struct ClusterStatus {
    epoch: u64,
    partitions: u32,
    replication: u32,
    nodes: Vec<NodeStatus>,
    /// Partitions with a replica being filled.
    moving: Vec<u32>,
    /// Partitions with fewer serving replicas than the replication factor.
    under_replicated: Vec<u32>,
}

impl ClusterStatus {
    fn of(view: &ClusterView) -> ClusterStatus {
        let count =
            |m: &BTreeMap<u32, Vec<u64>>, id: u64| m.values().filter(|r| r.contains(&id)).count();
        ClusterStatus {
            epoch: view.epoch,
            partitions: view.partitions,
            replication: view.replication,
            nodes: view
                .nodes
                .iter()
                .map(|n| NodeStatus {
                    id: n.id,
                    address: n.address.clone(),
                    state: n.state.clone(),
                    partitions: count(&view.assignment, n.id),
                    joining: count(&view.joining, n.id),
                    behind: count(&view.behind, n.id),
                })
                .collect(),
            moving: view.joining.keys().copied().collect(),
            under_replicated: (0..view.partitions)
                .filter(|p| view.assignment.get(p).map_or(0, Vec::len) < view.replication as usize)
                .collect(),
        }
    }

    fn render(&self) -> String {
        let mut s = format!(
            "map epoch {}: {} partitions, replication {}; {} moving, {} under-replicated\n",
            self.epoch,
            self.partitions,
            self.replication,
            self.moving.len(),
            self.under_replicated.len()
        );
        s.push_str("  node  state     partitions  joining  behind  address\n");
        for n in &self.nodes {
            s.push_str(&format!(
                "  {:>4}  {:<8}  {:>10}  {:>7}  {:>6}  {}\n",
                n.id, n.state, n.partitions, n.joining, n.behind, n.address
            ));
        }
        s
    }
}

async fn view_of(coordinators: &[String]) -> Result<ClusterView> {
    on_first_coordinator(coordinators, |client| async move {
        match client.cluster_view(tarpc::context::current()).await {
            Ok(Ok(view)) => Reply::Done(view),
            Ok(Err(e)) => Reply::Next(e.to_string()),
            Err(e) => Reply::Next(e.to_string()),
        }
    })
    .await
}

/// Poll the cluster view until `done` says so (printing `progress` when it
/// changes), or `wait` passes.
async fn wait_for_view(
    coordinators: &[String],
    wait: Duration,
    done: impl Fn(&ClusterView) -> bool,
    progress: impl Fn(&ClusterView) -> String,
) -> Result<ClusterView> {
    let deadline = Instant::now() + wait;
    let mut said = String::new();
    loop {
        let view = view_of(coordinators).await?;
        if done(&view) {
            return Ok(view);
        }
        let now = progress(&view);
        if now != said {
            eprintln!("cpg: {now}");
            said = now;
        }
        if Instant::now() > deadline {
            bail!("still not done after {wait:?} ({said}); the cluster goes on moving partitions: check with cpg cluster status");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn cluster_command(coordinators: &[String], action: ClusterAction) -> Result<()> {
    if coordinators.is_empty() {
        bail!("cpg cluster manages a cluster: give --coordinator HOST:PORT or set CPG_COORDINATOR (`cpg dev-cluster up` starts a local one)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let no_leader = |what: &str, e: LeaderError| {
        match e {
        LeaderError::Refused(e) => anyhow::anyhow!("{e}"),
        LeaderError::NoLeader(last) => anyhow::anyhow!(
            "no coordinator leader took the {what} within {WRITE_LEADER_WAIT:?} (last: {last}); `cpg health` shows the Raft group"
        ),
        LeaderError::Unreachable(errors) => no_coordinator(&errors),
    }
    };
    let moving = |v: &ClusterView| format!("{} partitions moving", v.joining.len());
    match action {
        ClusterAction::Wait {
            nodes,
            timeout_secs,
        } => {
            let wait = Duration::from_secs(timeout_secs);
            let deadline = Instant::now() + wait;
            let mut said = String::new();
            loop {
                let why = match runtime.block_on(view_of(coordinators)) {
                    Ok(view) => match not_ready(&view, nodes) {
                        None => {
                            return write_stdout(&format!(
                                "ready: {} nodes up, {} partitions on {} replicas, leader {}\n",
                                view.nodes.iter().filter(|n| n.state == "up").count(),
                                view.partitions,
                                view.replication,
                                view.leader.as_deref().unwrap_or("?")
                            ))
                        }
                        Some(why) => why,
                    },
                    Err(e) => format!("no coordinator answers ({e})"),
                };
                if why != said {
                    eprintln!("cpg: waiting: {why}");
                    said = why;
                }
                if Instant::now() > deadline {
                    bail!("the cluster at {} is not ready after {wait:?}: {said}; is every process started? (`cpg cluster status` shows the nodes; `cpg dev-cluster up` starts a local cluster)", coordinators.join(","));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        ClusterAction::Status { json } => {
            // A linearizable read: what the leader confirms with a quorum.
            let view =
                runtime
                    .block_on(on_leader(
                        coordinators,
                        None,
                        WRITE_LEADER_WAIT,
                        |client| async move {
                            client.linearizable_view(tarpc::context::current()).await
                        },
                    ))
                    .map_err(|e| no_leader("status read", e))?;
            let status = ClusterStatus::of(&view);
            write_stdout(&if json {
                serde_json::to_string_pretty(&status)? + "\n"
            } else {
                status.render()
            })
        }
        ClusterAction::AddNode {
            id,
            address,
            wait_secs,
        } => {
            let address = &address;
            runtime
                .block_on(on_leader(
                    coordinators,
                    None,
                    WRITE_LEADER_WAIT,
                    |client| async move {
                        client
                            .add_node(tarpc::context::current(), id, address.clone())
                            .await
                    },
                ))
                .map_err(|e| no_leader("new node", e))?;
            let view = runtime.block_on(wait_for_view(
                coordinators,
                Duration::from_secs(wait_secs),
                |v| v.joining.is_empty() && v.assignment.values().any(|r| r.contains(&id)),
                moving,
            ))?;
            let status = ClusterStatus::of(&view);
            write_stdout(&format!(
                "node {id} at {address} added: it serves {} partitions\n{}",
                view.assignment.values().filter(|r| r.contains(&id)).count(),
                status.render()
            ))
        }
        ClusterAction::AddCoordinator { id, address } => {
            let address = &address;
            runtime
                .block_on(on_leader(
                    coordinators,
                    None,
                    WRITE_LEADER_WAIT,
                    |client| async move {
                        client
                            .add_coordinator(tarpc::context::current(), id, address.clone())
                            .await
                    },
                ))
                .map_err(|e| no_leader("new coordinator", e))?;
            write_stdout(&format!(
                "coordinator {id} at {address} is a voting member of the group\n"
            ))
        }
        ClusterAction::RemoveCoordinator { id } => {
            runtime
                .block_on(on_leader(
                    coordinators,
                    None,
                    WRITE_LEADER_WAIT,
                    |client| async move {
                        client
                            .remove_coordinator(tarpc::context::current(), id)
                            .await
                    },
                ))
                .map_err(|e| no_leader("coordinator removal", e))?;
            write_stdout(&format!(
                "coordinator {id} left the group; its process can be stopped\n"
            ))
        }
        ClusterAction::DecommissionNode { id, wait_secs } => {
            runtime
                .block_on(on_leader(
                    coordinators,
                    None,
                    WRITE_LEADER_WAIT,
                    |client| async move {
                        client
                            .decommission_node(tarpc::context::current(), id)
                            .await
                    },
                ))
                .map_err(|e| no_leader("decommission", e))?;
            let view = runtime.block_on(wait_for_view(
                coordinators,
                Duration::from_secs(wait_secs),
                |v| {
                    v.nodes
                        .iter()
                        .any(|n| n.id == id && n.state == "decommissioned")
                },
                |v| {
                    let left = v.assignment.values().filter(|r| r.contains(&id)).count();
                    format!("node {id} still serves {left} partitions; {}", moving(v))
                },
            ))?;
            write_stdout(&format!(
                "node {id} decommissioned: it holds no partition; stop its process\n{}",
                ClusterStatus::of(&view).render()
            ))
        }
    }
}

/// Run `query` embedded on PATH, or on the cluster when coordinators are
/// given (any of them answers; the next is tried when one cannot be reached).
fn ask(coordinators: &[String], path: Option<PathBuf>, query: Query) -> Result<Answer> {
    if coordinators.is_empty() {
        let Some(path) = path else {
            bail!("give a PATH to analyze, or --coordinator HOST:PORT to query a cluster");
        };
        let built = embedded::build_with(&path, deps_mode())?;
        return answer(&built.snapshot(), &query).map_err(|e| match e {
            CpgError::InvalidInput { reason } => {
                anyhow::anyhow!("{}: {reason}", path.display())
            }
            e => e.into(),
        });
    }
    if let Some(path) = path {
        bail!(
            "with --coordinator, queries run on what the cluster holds; send {} with `cpg ingest` first and leave PATH out",
            path.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let answer = runtime.block_on(on_first_coordinator(coordinators, |client| {
        let query = query.clone();
        async move {
            let mut ctx = tarpc::context::current();
            ctx.deadline = Instant::now() + QUERY_DEADLINE;
            match client.query(ctx, project(), query).await {
                Ok(Ok(answer)) => Reply::Done(answer),
                Ok(Err(CpgError::Unavailable { partitions })) if partitions.is_empty() => {
                    Reply::Next("the cluster has no partitions yet".into())
                }
                Ok(Err(CpgError::Unavailable { .. })) => Reply::Next(
                    "the cluster has no storage nodes yet; start cpg-node processes first".into(),
                ),
                Ok(Err(e)) => Reply::Fail(e.into()),
                Err(e) => Reply::Next(e.to_string()),
            }
        }
    }))?;
    if !answer.missing.is_empty() {
        eprintln!(
            "cpg: warning: partitions {:?} did not answer; results leave out their modules ({})",
            answer.missing,
            answer.failures.join("; ")
        );
    }
    Ok(answer)
}

/// What one coordinator said to a request.
type Reply<T> = coordinator_client::Reply<T, anyhow::Error>;

/// Send a request to each coordinator in turn until one answers.
async fn on_first_coordinator<T, F, Fut>(coordinators: &[String], request: F) -> Result<T>
where
    F: Fn(CoordinatorServiceClient) -> Fut,
    Fut: std::future::Future<Output = Reply<T>>,
{
    coordinator_client::first(coordinators, request)
        .await
        .map_err(|e| match e {
            NoAnswer::Failed(e) => e,
            NoAnswer::Unreachable(errors) => no_coordinator(&errors),
        })
}

/// The error for coordinators that could not be reached: which ones, why,
/// and what to do about it.
fn no_coordinator(errors: &[String]) -> anyhow::Error {
    anyhow::anyhow!(coordinator_client::unreachable_message(errors))
}

/// `cpg health`: the first coordinator that answers reports. Exits with
/// status 1 when the cluster is unhealthy, so scripts can wait on it.
fn health(coordinators: &[String], json: bool) -> Result<()> {
    if coordinators.is_empty() {
        bail!("cpg health reports on a cluster: give --coordinator HOST:PORT or set CPG_COORDINATOR (`cpg dev-cluster up` starts a local one)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(on_first_coordinator(coordinators, |client| async move {
        match client.health(tarpc::context::current()).await {
            Ok(Ok(h)) => Reply::Done(h),
            Ok(Err(e)) => Reply::Next(e.to_string()),
            Err(e) => Reply::Next(e.to_string()),
        }
    }))?;
    let text = if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        crate::health::render(&report)
    };
    write_stdout(&text)?;
    if report.cpg_tables_status == proto::TablesStatus::Unhealthy {
        std::process::exit(1);
    }
    Ok(())
}

/// One node's answer to `cpg diagnose`.
#[derive(Debug, serde::Serialize)]
struct DiagnoseReport {
    node_id: u64,
    address: String,
    diagnosis: Option<proto::NodeDiagnosis>,
    error: Option<String>,
}

fn diagnose(coordinators: &[String], json: bool) -> Result<()> {
    if coordinators.is_empty() {
        bail!("cpg diagnose examines a cluster's nodes: give --coordinator HOST:PORT or set CPG_COORDINATOR (`cpg dev-cluster up` starts a local one)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let reports: Vec<DiagnoseReport> = runtime
        .block_on(each_node(
            coordinators,
            Duration::from_secs(120),
            |c, ctx| async move { c.diagnose(ctx).await.map(Ok) },
        ))?
        .into_iter()
        .map(|(n, r)| DiagnoseReport {
            node_id: n.id,
            address: n.address,
            diagnosis: r.as_ref().ok().cloned(),
            error: r.err(),
        })
        .collect();
    let text = if json {
        serde_json::to_string_pretty(&reports)? + "\n"
    } else {
        let mut s = String::new();
        for r in &reports {
            let Some(d) = &r.diagnosis else {
                s.push_str(&format!(
                    "node {} at {}: not answering: {}\n\n",
                    r.node_id,
                    r.address,
                    r.error.as_deref().unwrap_or("")
                ));
                continue;
            };
            s.push_str(&format!("node {} at {}\n", r.node_id, r.address));
            s.push_str(&format!(
                "  scan: {} table rows in {:.2} ms ({:.1} million rows/s)\n",
                d.scanned_entries,
                d.scan_ms,
                d.scan_entries_per_second / 1e6
            ));
            s.push_str(&format!(
                "  cache: {} entries, {} hits, {} misses, {} evictions, TTL {} s\n",
                d.cache_entries, d.cache_hits, d.cache_misses, d.cache_evictions, d.cache_ttl_secs
            ));
            for i in &d.indicators {
                s.push_str(&format!(
                    "  {} {}: {:.3} (threshold {})\n",
                    if i.breached { "!!" } else { "ok" },
                    i.name,
                    i.value,
                    i.threshold
                ));
            }
            if d.recommendations.is_empty() {
                s.push_str("  nothing to do\n");
            }
            for a in &d.recommendations {
                s.push_str(&format!("  -> {}\n", a.action));
            }
            s.push('\n');
        }
        s
    };
    write_stdout(&text)?;
    if reports.iter().any(|r| r.error.is_some()) {
        bail!("some nodes did not answer (listed above)");
    }
    Ok(())
}

/// One process's answer to `cpg cache cleanup`.
#[derive(Debug, serde::Serialize)]
struct CacheReport {
    /// `coordinator ADDRESS` or `node ID`.
    process: String,
    cleanup: Option<proto::CacheCleanup>,
    error: Option<String>,
}

fn cache_cleanup(coordinators: &[String], json: bool) -> Result<()> {
    if coordinators.is_empty() {
        bail!("cpg cache cleanup works on a cluster: give --coordinator HOST:PORT or set CPG_COORDINATOR (an embedded run keeps no cache between runs)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let reports = runtime.block_on(async {
        let mut out = Vec::new();
        for address in coordinators {
            let r = async {
                let client =
                    coordinator_client::connect(address, coordinator_client::CONNECT_TIMEOUT)
                        .await?;
                Ok::<_, anyhow::Error>(client.cache_cleanup(tarpc::context::current()).await??)
            }
            .await;
            out.push(CacheReport {
                process: format!("coordinator {address}"),
                cleanup: r.as_ref().ok().copied(),
                error: r.err().map(|e| e.to_string()),
            });
        }
        let nodes = each_node(coordinators, Duration::from_secs(30), |c, ctx| async move {
            c.cache_cleanup(ctx).await
        })
        .await?;
        out.extend(nodes.into_iter().map(|(n, r)| CacheReport {
            process: format!("node {} at {}", n.id, n.address),
            cleanup: r.as_ref().ok().copied(),
            error: r.err(),
        }));
        Ok::<_, anyhow::Error>(out)
    })?;
    let text = if json {
        serde_json::to_string_pretty(&reports)? + "\n"
    } else {
        let mut s = String::new();
        for r in &reports {
            match (&r.cleanup, &r.error) {
                (Some(c), _) => {
                    let asked = c.hits + c.misses;
                    let rate = if asked == 0 {
                        "no lookups yet".to_string()
                    } else {
                        format!("hit rate {:.2}", c.hits as f64 / asked as f64)
                    };
                    s.push_str(&format!(
                        "{}: removed {}, {} left (TTL {} s, {rate})\n",
                        r.process, c.removed, c.entries, c.ttl_secs
                    ));
                }
                (None, e) => s.push_str(&format!(
                    "{}: not answering: {}\n",
                    r.process,
                    e.as_deref().unwrap_or("")
                )),
            }
        }
        s
    };
    write_stdout(&text)?;
    if reports.iter().any(|r| r.error.is_some()) {
        bail!("some processes did not answer (listed above)");
    }
    Ok(())
}

/// One node's answer to `cpg defrag`.
#[derive(Debug, serde::Serialize)]
struct NodeDefrag {
    node_id: u64,
    address: String,
    partitions: Vec<proto::PartitionDefrag>,
    error: Option<String>,
}

/// `cpg defrag`: every registered node, one after the other (a rebuild
/// takes CPU; one node at a time keeps the others answering at full speed).
fn defrag(coordinators: &[String], force: bool, json: bool) -> Result<()> {
    if coordinators.is_empty() {
        bail!("cpg defrag works on a cluster's nodes: give --coordinator HOST:PORT or set CPG_COORDINATOR (an embedded run builds fresh tables every time)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let results: Vec<NodeDefrag> = runtime
        .block_on(each_node(
            coordinators,
            Duration::from_secs(600),
            |c, ctx| async move { c.defrag(ctx, force).await },
        ))?
        .into_iter()
        .map(|(n, r)| {
            let (partitions, error) = match r {
                Ok(p) => (p, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            NodeDefrag {
                node_id: n.id,
                address: n.address,
                partitions,
                error,
            }
        })
        .collect();
    let text = if json {
        serde_json::to_string_pretty(&results)? + "\n"
    } else {
        let mut s = String::new();
        let (mut before, mut after) = (0u64, 0u64);
        for n in &results {
            if let Some(e) = &n.error {
                s.push_str(&format!(
                    "node {} at {}: not answering: {e}\n",
                    n.node_id, n.address
                ));
                continue;
            }
            let rebuilt: Vec<&proto::PartitionDefrag> =
                n.partitions.iter().filter(|p| p.rebuilt).collect();
            let b: u64 = n.partitions.iter().map(|p| p.bytes_before).sum();
            let a: u64 = n.partitions.iter().map(|p| p.bytes_after).sum();
            before += b;
            after += a;
            s.push_str(&format!(
                "node {}: {} of {} partitions rebuilt; tables {:.1} MiB -> {:.1} MiB\n",
                n.node_id,
                rebuilt.len(),
                n.partitions.len(),
                b as f64 / 1048576.0,
                a as f64 / 1048576.0
            ));
            for p in rebuilt {
                s.push_str(&format!(
                    "  partition {}: {:.0}% deleted rows, {} -> {} bytes\n",
                    p.partition,
                    p.deleted_ratio_before * 100.0,
                    p.bytes_before,
                    p.bytes_after
                ));
            }
        }
        s.push_str(&format!(
            "all nodes: {:.1} MiB -> {:.1} MiB\n",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0
        ));
        s
    };
    write_stdout(&text)?;
    if results.iter().any(|n| n.error.is_some()) {
        bail!("some nodes did not answer (listed above)");
    }
    Ok(())
}

/// Ask every registered node in turn (not at once: the operations that use
/// this take CPU on the node); each node with its reply or why it gave none.
async fn each_node<T, F, Fut>(
    coordinators: &[String],
    deadline: Duration,
    request: F,
) -> Result<Vec<(NodeInfo, Result<T, String>)>>
where
    F: Fn(proto::node_api::NodeServiceClient, tarpc::context::Context) -> Fut,
    Fut: std::future::Future<Output = Result<Result<T, CpgError>, tarpc::client::RpcError>>,
{
    let (view, clients) = connect(coordinators).await?;
    let mut out = Vec::new();
    for n in view.nodes {
        let Some(client) = clients.get(&n.id) else {
            continue;
        };
        let r = client
            .call(deadline, &request)
            .await
            .map_err(|e| e.to_string());
        out.push((n, r));
    }
    Ok(out)
}

/// The cluster view from the first coordinator that answers, and a client
/// per registered node.
async fn connect(coordinators: &[String]) -> Result<(ClusterView, HashMap<u64, Arc<NodeClient>>)> {
    let view = view_of(coordinators).await?;
    let clients = node_clients(&view)?;
    Ok((view, clients))
}

/// Clients of the storage nodes of `view`.
fn node_clients(view: &ClusterView) -> Result<HashMap<u64, Arc<NodeClient>>> {
    if view.assignment.is_empty() {
        bail!("the cluster has no storage nodes yet; start cpg-node processes first");
    }
    let mut clients = HashMap::new();
    for n in &view.nodes {
        net::wire::check_address(&n.address)
            .map_err(|e| anyhow::anyhow!("node {} has a bad address: {e}", n.id))?;
        clients.insert(n.id, Arc::new(NodeClient::new(n.id, &n.address)));
    }
    Ok(clients)
}

fn analyze(coordinators: &[String], path: Option<PathBuf>, json: bool, top: usize) -> Result<()> {
    let answer = ask(coordinators, path, Query::Analyze { top: top as u32 })?;
    let QueryResult::Analyze(report) = Arc::unwrap_or_clone(answer.result) else {
        bail!("the coordinator answered an analyze query with something else");
    };
    let out = if json {
        let mut s = serde_json::to_string_pretty(&report)?;
        s.push('\n');
        s
    } else {
        report::render_analyze(&report, top)
    };
    write_stdout(&out)
}

fn analysis(coordinators: &[String], kind: AnalysisKind) -> Result<()> {
    if let AnalysisKind::Features {
        path,
        format,
        output,
    } = kind
    {
        let answer = ask(coordinators, path, Query::Features)?;
        let QueryResult::Features(rows) = Arc::unwrap_or_clone(answer.result) else {
            bail!("the coordinator answered with a different analysis");
        };
        let text = match format {
            TableFormat::Csv => report::render_features_csv(&rows),
            TableFormat::Json => serde_json::to_string_pretty(&rows)? + "\n",
        };
        return write_output(output, &text);
    }
    let (path, query, json) = match kind {
        AnalysisKind::Features { .. } => bail!("features are written as a table, above"),
        AnalysisKind::Cycles { path, json } => (path, Query::Cycles, json),
        AnalysisKind::Taint {
            path,
            rules,
            print_rules,
            json,
        } => {
            if print_rules {
                return write_stdout(analysis::DEFAULT_TAINT_RULES);
            }
            let rules = match rules {
                Some(file) => {
                    let text = std::fs::read_to_string(&file).with_context(|| {
                        format!("cannot read taint rules from {}", file.display())
                    })?;
                    analysis::parse_taint_rules(&text).map_err(|e| {
                        anyhow::anyhow!(
                            "taint rules in {}: {e}\n(`cpg analyze taint --print-rules` shows the expected form)",
                            file.display()
                        )
                    })?
                }
                None => analysis::default_taint_rules(),
            };
            (path, Query::Taint { rules }, json)
        }
        AnalysisKind::Smells {
            path,
            thresholds,
            print_thresholds,
            json,
        } => {
            if print_thresholds {
                return write_stdout(&analysis::default_smell_thresholds_toml());
            }
            let thresholds = match thresholds {
                Some(file) => {
                    let text = std::fs::read_to_string(&file).with_context(|| {
                        format!("cannot read thresholds from {}", file.display())
                    })?;
                    analysis::parse_smell_thresholds(&text).map_err(|e| {
                        anyhow::anyhow!(
                            "thresholds in {}: {e}\n(`cpg analyze smells --print-thresholds` shows the expected form)",
                            file.display()
                        )
                    })?
                }
                None => SmellThresholds::default(),
            };
            (path, Query::Smells { thresholds }, json)
        }
        AnalysisKind::Impact {
            target,
            path,
            depth,
            json,
        } => {
            if depth == 0 {
                bail!("--depth must be at least 1");
            }
            (path, Query::Impact { target, depth }, json)
        }
        AnalysisKind::DeadCode {
            path,
            mut entries,
            entries_file,
            json,
        } => {
            if let Some(file) = entries_file {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read entry points from {}", file.display()))?;
                for line in text.lines() {
                    let entry = line.split('#').next().unwrap_or("").trim();
                    if !entry.is_empty() {
                        entries.push(entry.to_string());
                    }
                }
            }
            for e in entries.iter().filter(|e| e.contains('/')) {
                e.parse::<Mfa>()
                    .with_context(|| format!("entry point {e:?} is not Module.fun/arity"))?;
            }
            (path, Query::DeadCode { entries }, json)
        }
        AnalysisKind::Communities {
            path,
            algorithm,
            json,
        } => {
            let algorithm = match algorithm {
                AlgorithmArg::Louvain => CommunityAlgorithm::Louvain,
                AlgorithmArg::LabelPropagation => CommunityAlgorithm::LabelPropagation,
            };
            (path, Query::Communities { algorithm }, json)
        }
        AnalysisKind::Paths {
            from,
            to,
            path,
            max_depth,
            max_paths,
            json,
        } => {
            if max_depth == 0 {
                bail!("--max-depth must be at least 1");
            }
            let query = Query::Paths {
                from: from.parse()?,
                to: to.parse()?,
                max_depth,
                max_paths,
            };
            (path, query, json)
        }
        AnalysisKind::Centrality {
            path,
            graph,
            by,
            top,
            json,
        } => {
            let graph = match graph {
                GraphArg::Functions => GraphKind::Functions,
                GraphArg::Modules => GraphKind::Modules,
            };
            let by = match by {
                MetricArg::InDegree => Metric::InDegree,
                MetricArg::OutDegree => Metric::OutDegree,
                MetricArg::Pagerank => Metric::PageRank,
                MetricArg::Betweenness => Metric::Betweenness,
                MetricArg::Closeness => Metric::Closeness,
            };
            (path, Query::Centrality { graph, by, top }, json)
        }
    };
    let answer = ask(coordinators, path, query)?;
    let text = match (&*answer.result, json) {
        (QueryResult::Cycles(c), true) => serde_json::to_string_pretty(c)? + "\n",
        (QueryResult::Impact(i), true) => serde_json::to_string_pretty(i)? + "\n",
        (QueryResult::Cycles(c), false) => report::render_cycles(c),
        (QueryResult::Impact(i), false) => report::render_impact(i),
        (QueryResult::Centrality(c), true) => serde_json::to_string_pretty(c)? + "\n",
        (QueryResult::Centrality(c), false) => report::render_centrality(c),
        (QueryResult::Paths(p), true) => serde_json::to_string_pretty(p)? + "\n",
        (QueryResult::Communities(c), true) => serde_json::to_string_pretty(c)? + "\n",
        (QueryResult::DeadCode(d), true) => serde_json::to_string_pretty(d)? + "\n",
        (QueryResult::DeadCode(d), false) => report::render_dead_code(d),
        (QueryResult::Communities(c), false) => report::render_communities(c),
        (QueryResult::Paths(p), false) => report::render_paths(p),
        (QueryResult::Taint(t), true) => serde_json::to_string_pretty(t)? + "\n",
        (QueryResult::Taint(t), false) => report::render_taint(t),
        (QueryResult::Smells(t), true) => serde_json::to_string_pretty(t)? + "\n",
        (QueryResult::Smells(t), false) => report::render_smells(t),
        _ => bail!("the coordinator answered with a different analysis"),
    };
    write_stdout(&text)
}

fn export_call_graph(
    coordinators: &[String],
    path: Option<PathBuf>,
    format: Format,
    output: Option<PathBuf>,
) -> Result<()> {
    let answer = ask(coordinators, path, Query::CallGraph)?;
    let QueryResult::CallGraph(rows) = Arc::unwrap_or_clone(answer.result) else {
        bail!("the coordinator answered a call-graph query with something else");
    };
    let text = match format {
        Format::Csv => report::render_csv(&rows),
        Format::Json => serde_json::to_string_pretty(&rows)? + "\n",
        Format::Dot => report::render_dot(&rows),
        Format::Graphml => report::render_calls_graphml(&rows),
    };
    write_output(output, &text)
}

fn export_module_graph(
    coordinators: &[String],
    path: Option<PathBuf>,
    format: Format,
    output: Option<PathBuf>,
) -> Result<()> {
    let answer = ask(coordinators, path, Query::ModuleGraph)?;
    let QueryResult::ModuleGraph(graph) = Arc::unwrap_or_clone(answer.result) else {
        bail!("the coordinator answered a module-graph query with something else");
    };
    let text = match format {
        Format::Csv => report::render_module_csv(&graph),
        Format::Json => serde_json::to_string_pretty(&graph)? + "\n",
        Format::Dot => report::render_module_dot(&graph),
        Format::Graphml => report::render_module_graphml(&graph),
    };
    write_output(output, &text)
}

fn walk(coordinators: &[String], args: WalkArgs, callers: bool) -> Result<()> {
    let function: Mfa = args.function.parse()?;
    if args.depth == 0 {
        bail!("--depth must be at least 1");
    }
    let depth = args.depth;
    let query = if callers {
        Query::Callers {
            function: function.clone(),
            depth,
        }
    } else {
        Query::Callees {
            function: function.clone(),
            depth,
        }
    };
    let answer = ask(coordinators, args.path, query)?;
    let QueryResult::Reached(reached) = Arc::unwrap_or_clone(answer.result) else {
        bail!("the coordinator answered a walk with something else");
    };
    let text = if args.json {
        serde_json::to_string_pretty(&reached)? + "\n"
    } else {
        let what = if callers { "callers" } else { "callees" };
        let mut s = format!("{} {what} of {function} (depth {depth}):\n", reached.len());
        for r in &reached {
            s.push_str(&format!("  {:>3}  {}\n", r.depth, r.mfa));
        }
        s
    };
    write_stdout(&text)
}

fn ingest(coordinators: &[String], path: &Path) -> Result<()> {
    if coordinators.is_empty() {
        bail!("cpg ingest sends files to a cluster: give --coordinator HOST:PORT or set CPG_COORDINATOR (without a cluster, run cpg analyze PATH)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let (report, generation) = runtime.block_on(ingest_once(coordinators, path, true))?;
    print_diagnostics(&report.diagnostics);
    if !report.missed.is_empty() {
        let nodes: BTreeSet<u64> = report.missed.iter().map(|(_, n)| *n).collect();
        eprintln!(
            "cpg: node(s) {} could not be reached: {} partition replica(s) missed writes and serve no reads until the cluster catches them up (cpg cluster status shows them as behind)",
            nodes.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            report.missed.len()
        );
    }
    write_stdout(&format!(
        "{} files: {} parsed, {} unchanged, {} removed; {} partition writes; catalog generation {generation}\n",
        report.files_seen,
        report.files_parsed,
        report.files_unchanged,
        report.files_removed,
        report.writes
    ))
}

/// Send the tree at `path` to the cluster: files whose content changed
/// since the nodes got them are parsed and written to every replica, files
/// gone are removed, then the catalog records it. Returns the report and
/// the catalog generation after it.
async fn ingest_once(
    coordinators: &[String],
    path: &Path,
    progress: bool,
) -> Result<(cluster::IngestReport, u64)> {
    let project = project();
    let named = codebase::projects::name_sources(
        &project,
        embedded::read_sources_with(path, deps_mode())?,
        &codebase::projects::versions(path),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let upload = driver::Upload {
        project,
        sources: named.sources,
        libraries: Some(named.libraries),
        partial: false,
    };
    let bar = if progress {
        embedded::progress(upload.sources.len(), "ingesting")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let done = driver::run(&Coordinators(coordinators), &upload, &|n| bar.inc(n)).await;
    bar.finish_and_clear();
    done
}

/// The cluster as the ingest driver reaches it from here: through the
/// coordinators named on the command line.
struct Coordinators<'a>(&'a [String]);

impl driver::Cluster for Coordinators<'_> {
    type Error = anyhow::Error;

    async fn view(&self) -> Result<ClusterView> {
        view_of(self.0).await
    }

    async fn listing(&self) -> Result<CatalogListing> {
        catalog_listing(self.0).await
    }

    async fn record(&self, leader: Option<String>, record: IngestRecord) -> Result<u64> {
        record_ingest(self.0, leader, record).await
    }

    fn nodes(&self, view: &ClusterView) -> Result<HashMap<u64, Arc<NodeClient>>> {
        node_clients(view)
    }

    fn service_error(error: &anyhow::Error) -> Option<&CpgError> {
        error.downcast_ref()
    }
}

/// Parse diagnostics of the application's files, one a line; those of the
/// dependencies (library code) only counted.
fn print_diagnostics(diagnostics: &[proto::Diagnostic]) {
    // Files are named as stored: by path, after the project's prefix.
    let (library, app): (Vec<_>, Vec<_>) = diagnostics
        .iter()
        .map(|d| (proto::projects::split(&d.file).1, d))
        .partition(|(path, _)| partition::library::package_of(path).is_some());
    for (path, d) in app {
        eprintln!("{path}:{}:{}: {}", d.line, d.column, d.message);
    }
    if !library.is_empty() {
        eprintln!(
            "cpg: {} parse diagnostics in deps/ (library code, analysed as far as it parses)",
            library.len()
        );
    }
}

/// What the catalog records (a linearizable read on any coordinator).
async fn catalog_listing(coordinators: &[String]) -> Result<CatalogListing> {
    on_first_coordinator(coordinators, |client| async move {
        match client.catalog_files(tarpc::context::current()).await {
            Ok(Ok(listing)) => Reply::Done(listing),
            Ok(Err(e)) => Reply::Next(e.to_string()),
            Err(e) => Reply::Next(e.to_string()),
        }
    })
    .await
}

/// `cpg projects`: the projects of a cluster and their libraries.
fn projects(coordinators: &[String], json: bool) -> Result<()> {
    if coordinators.is_empty() {
        bail!("cpg projects lists what a cluster holds: give --coordinator HOST:PORT or set CPG_COORDINATOR");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let listing = runtime.block_on(catalog_listing(coordinators))?;
    if json {
        return write_stdout(&(serde_json::to_string_pretty(&listing.projects)? + "\n"));
    }
    let mut users: BTreeMap<&proto::projects::LibraryId, usize> = BTreeMap::new();
    for p in &listing.projects {
        for (l, _) in &p.libraries {
            *users.entry(l).or_insert(0) += 1;
        }
    }
    let mut text = String::new();
    for p in &listing.projects {
        let name = if p.name.is_empty() {
            "(default)"
        } else {
            p.name.as_str()
        };
        text.push_str(&format!(
            "{name}: {} files, {} libraries (catalog generation {})\n",
            p.files,
            p.libraries.len(),
            p.generation
        ));
        for (l, files) in &p.libraries {
            let shared = users.get(l).copied().unwrap_or(1);
            let also = if shared > 1 {
                format!(", shared by {shared} projects")
            } else {
                String::new()
            };
            text.push_str(&format!(
                "  {} {} ({:016x}): {files} files{also}\n",
                l.package, l.version, l.hash
            ));
        }
    }
    let stored: usize = users.len();
    let used: usize = users.values().sum();
    text.push_str(&format!(
        "{} projects; {stored} libraries stored for {used} uses\n",
        listing.projects.len()
    ));
    write_stdout(&text)
}

/// Size and modification time of every Elixir file under `path`: a change
/// in any of them (or a file added or gone) means an ingest is due.
fn fingerprint(path: &Path) -> Result<Vec<(String, u64, Option<std::time::SystemTime>)>> {
    Ok(embedded::discover_with(path, deps_mode())?
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f.disk).ok();
            (
                f.name,
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect())
}

/// `cpg watch`: ingest the tree, then again whenever a file changes, until
/// interrupted. A failed round is reported and retried at the next change.
fn watch(coordinators: &[String], path: &Path, interval: Duration) -> Result<()> {
    if coordinators.is_empty() {
        bail!("cpg watch keeps a cluster up to date with a working tree: give --coordinator HOST:PORT or set CPG_COORDINATOR (`cpg dev-cluster up` starts a local one)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut last = Vec::new();
        let stop = tokio::signal::ctrl_c();
        tokio::pin!(stop);
        eprintln!("cpg: watching {} (Ctrl-C stops)", path.display());
        loop {
            let now = fingerprint(path)?;
            if now != last {
                let started = Instant::now();
                match ingest_once(coordinators, path, false).await {
                    Ok((r, generation)) => {
                        print_diagnostics(&r.diagnostics);
                        if r.files_parsed + r.files_removed > 0 || last.is_empty() {
                            write_stdout(&format!(
                                "{} parsed, {} removed, {} unchanged: catalog generation {generation} ({} ms)\n",
                                r.files_parsed,
                                r.files_removed,
                                r.files_unchanged,
                                started.elapsed().as_millis()
                            ))?;
                        }
                        last = now;
                    }
                    Err(e) => eprintln!("cpg: this round failed, retrying at the next change: {e:#}"),
                }
            }
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = tokio::time::sleep(interval) => {}
            }
        }
    })
}

fn dev_cluster(action: DevClusterAction) -> Result<()> {
    match action {
        DevClusterAction::Up {
            coordinators,
            nodes,
            data_dir,
            partitions,
            replication,
            base_port,
            wait_secs,
        } => {
            let options = devcluster::UpOptions {
                coordinators,
                nodes,
                partitions,
                replication,
                base_port,
                wait: Duration::from_secs(wait_secs),
            };
            let layout = devcluster::up(&data_dir, &options)?;
            let list = devcluster::coordinator_list(&layout);
            let web = layout
                .http
                .as_ref()
                .map(|a| {
                    format!(
                        "dashboard and HTTP API: http://{a}/ (OpenAPI at /api/v1/openapi.json)\n"
                    )
                })
                .unwrap_or_default();
            write_stdout(&format!(
                "dev cluster ready: {} coordinators, {} nodes, {} partitions (R={}); data and logs in {}\n\
                 its links are plain TCP on 127.0.0.1 (--insecure), no certificates;\n\
                 use it with:\n  export CPG_COORDINATOR={list} CPG_INSECURE=true\n  cpg ingest PATH\n\
                 {web}\
                 stop it with:\n  cpg dev-cluster down --data-dir {}\n",
                layout.coordinators.len(),
                layout.nodes.len(),
                layout.partitions,
                layout.replication,
                data_dir.display(),
                data_dir.display()
            ))
        }
        DevClusterAction::Status { data_dir } => write_stdout(&devcluster::status(&data_dir)?),
        DevClusterAction::Down { data_dir } => {
            let stopped = devcluster::down(&data_dir, Duration::from_secs(10))?;
            write_stdout(&format!(
                "stopped {stopped} processes; the data stays in {} (`cpg dev-cluster up --data-dir {}` brings the cluster back)\n",
                data_dir.display(),
                data_dir.display()
            ))
        }
    }
}

/// Record an ingest in the catalog through the Raft leader; the new
/// catalog generation.
pub async fn record_ingest(
    coordinators: &[String],
    hint: Option<String>,
    record: IngestRecord,
) -> Result<u64> {
    let record = &record;
    on_leader(coordinators, hint, WRITE_LEADER_WAIT, |client| async move {
        client
            .record_ingest(tarpc::context::current(), record.clone())
            .await
    })
    .await
    .map_err(|e| match e {
        LeaderError::Refused(e) => e.into(),
        LeaderError::NoLeader(last) => anyhow::anyhow!(
            "the data is on every replica, but no coordinator leader recorded the ingest in the catalog within {WRITE_LEADER_WAIT:?} (last: {last}); run cpg ingest again"
        ),
        LeaderError::Unreachable(errors) => anyhow::anyhow!(
            "the data is on the replicas, but {}; run cpg ingest again once a coordinator is back",
            no_coordinator(&errors)
        ),
    })
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
