//! The `cpg` command line. Without `--coordinator` (the default) every command
//! runs embedded: it builds the CPG of PATH in this process and answers from
//! it. With `--coordinator`, `cpg ingest PATH` sends a tree to the cluster and
//! the queries run the same analysis code on summaries gathered from it.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use proto::coordinator_api::{CatalogFile, ClusterView, CoordinatorServiceClient};
use proto::{Answer, CpgError, Mfa, Query, QueryResult};

use crate::cluster::{self, NodeClient};
use crate::embedded;
use crate::query::{answer, Snapshot};
use crate::report;

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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the CPG of every .ex/.exs file under PATH and report on it
    /// (with --coordinator: report on what the cluster holds).
    Analyze {
        /// A directory (or one file) of Elixir source.
        path: Option<PathBuf>,
        /// Print one JSON object instead of the report.
        #[arg(long)]
        json: bool,
        /// How many entries each ranking shows.
        #[arg(long, default_value_t = 10)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Dot,
}

#[derive(Debug, clap::Args)]
pub struct WalkArgs {
    /// The function, as Module.fun/arity (e.g. Enum.map/2, :ets.insert/2).
    pub function: String,
    pub path: Option<PathBuf>,
    /// 1 lists direct callers (callees) only.
    #[arg(long, default_value_t = 1)]
    pub depth: u32,
    #[arg(long)]
    pub json: bool,
}

/// Deadline of each request to a node.
const NODE_DEADLINE: Duration = Duration::from_secs(60);
/// Deadline of a query to a coordinator (the first query after an ingest
/// gathers every partition's summaries).
const QUERY_DEADLINE: Duration = Duration::from_secs(300);

pub fn run(cli: Cli) -> Result<()> {
    let coordinators = cli.coordinator;
    match cli.command {
        Command::Analyze { path, json, top } => analyze(&coordinators, path, json, top),
        Command::Export {
            what:
                ExportKind::CallGraph {
                    path,
                    format,
                    output,
                },
        } => export_call_graph(&coordinators, path, format, output),
        Command::Callers(args) => walk(&coordinators, args, true),
        Command::Callees(args) => walk(&coordinators, args, false),
        Command::Ingest { path } => ingest(&coordinators, &path),
    }
}

/// Run `query` embedded on PATH, or on the cluster when coordinators are
/// given (any of them answers; the next is tried when one cannot be reached).
fn ask(coordinators: &[String], path: Option<PathBuf>, query: Query) -> Result<Answer> {
    if coordinators.is_empty() {
        let Some(path) = path else {
            bail!("give a PATH to analyze, or --coordinator HOST:PORT to query a cluster");
        };
        let built = embedded::build(&path)?;
        return answer(&Snapshot::of_build(&built), &query).map_err(|e| match e {
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
    let answer = runtime.block_on(async {
        let mut errors = Vec::new();
        for address in coordinators {
            let transport = match proto::wire::dial(address, Duration::from_secs(3)).await {
                Ok(t) => t,
                Err(e) => {
                    errors.push(format!("{address}: {e}"));
                    continue;
                }
            };
            let client =
                CoordinatorServiceClient::new(tarpc::client::Config::default(), transport).spawn();
            let mut ctx = tarpc::context::current();
            ctx.deadline = Instant::now() + QUERY_DEADLINE;
            match client.query(ctx, query.clone()).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(CpgError::Unavailable { partitions })) if partitions.is_empty() => {
                    errors.push(format!("{address}: the cluster has no partitions yet"))
                }
                Ok(Err(CpgError::Unavailable { .. })) => errors.push(format!(
                    "{address}: the cluster has no storage nodes yet; start cpg-node processes first"
                )),
                Ok(Err(e)) => return Err(anyhow::Error::from(e)),
                Err(e) => errors.push(format!("{address}: {e}")),
            }
        }
        bail!("no coordinator answered ({})", errors.join("; "))
    })?;
    if !answer.missing.is_empty() {
        eprintln!(
            "cpg: warning: partitions {:?} did not answer; results leave out their modules",
            answer.missing
        );
    }
    Ok(answer)
}

/// The cluster view from the first coordinator that answers, and a client
/// per registered node.
async fn connect(coordinators: &[String]) -> Result<(ClusterView, HashMap<u64, Arc<NodeClient>>)> {
    let mut errors = Vec::new();
    for address in coordinators {
        let transport = match proto::wire::dial(address, Duration::from_secs(3)).await {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{address}: {e}"));
                continue;
            }
        };
        let client =
            CoordinatorServiceClient::new(tarpc::client::Config::default(), transport).spawn();
        match client.cluster_view(tarpc::context::current()).await {
            Ok(Ok(view)) => {
                if view.assignment.is_empty() {
                    bail!("the cluster at {address} has no storage nodes yet; start cpg-node processes first");
                }
                let mut clients = HashMap::new();
                for n in &view.nodes {
                    let addr = n.address.parse().with_context(|| {
                        format!("node {} has a bad address {:?}", n.id, n.address)
                    })?;
                    clients.insert(n.id, Arc::new(NodeClient::new(n.id, addr)));
                }
                return Ok((view, clients));
            }
            Ok(Err(e)) => errors.push(format!("{address}: {e}")),
            Err(e) => errors.push(format!("{address}: {e}")),
        }
    }
    bail!("no coordinator answered ({})", errors.join("; "))
}

fn analyze(coordinators: &[String], path: Option<PathBuf>, json: bool, top: usize) -> Result<()> {
    let answer = ask(coordinators, path, Query::Analyze { top: top as u32 })?;
    let QueryResult::Analyze(report) = answer.result else {
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

fn export_call_graph(
    coordinators: &[String],
    path: Option<PathBuf>,
    format: Format,
    output: Option<PathBuf>,
) -> Result<()> {
    let answer = ask(coordinators, path, Query::CallGraph)?;
    let QueryResult::CallGraph(rows) = answer.result else {
        bail!("the coordinator answered a call-graph query with something else");
    };
    let text = match format {
        Format::Csv => report::render_csv(&rows),
        Format::Json => serde_json::to_string_pretty(&rows)? + "\n",
        Format::Dot => report::render_dot(&rows),
    };
    match output {
        Some(file) => {
            std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
        }
        None => write_stdout(&text),
    }
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
    let QueryResult::Reached(reached) = answer.result else {
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
    let sources = embedded::read_sources(path)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        let (view, clients) = connect(coordinators).await?;
        let held =
            cluster::held_files(&clients, view.epoch, &view.assignment, NODE_DEADLINE).await?;
        let bar = embedded::progress(sources.len(), "ingesting");
        let report = cluster::ingest(
            &clients,
            view.epoch,
            view.partitions,
            &view.assignment,
            &held,
            sources,
            NODE_DEADLINE,
            &|n| bar.inc(n),
        )
        .await?;
        bar.finish_and_clear();
        // Every replica has the data: now the catalog records it.
        let mut generation = view.generation;
        if !report.put.is_empty() || !report.removed.is_empty() {
            let leader = view
                .leader
                .clone()
                .unwrap_or_else(|| coordinators[0].clone());
            generation = record_ingest(&leader, report.put.clone(), report.removed.clone()).await?;
        }
        anyhow::Ok((report, generation))
    })?;
    let (report, generation) = report;
    for d in &report.diagnostics {
        eprintln!("{}:{}:{}: {}", d.file, d.line, d.column, d.message);
    }
    write_stdout(&format!(
        "{} files: {} parsed, {} unchanged, {} removed; {} partition writes on every replica; catalog generation {generation}\n",
        report.files_seen,
        report.files_parsed,
        report.files_unchanged,
        report.files_removed,
        report.writes
    ))
}

/// Record an ingest in the catalog through the leader, following one
/// `NotLeader` redirect (leadership may have moved since the view was read).
async fn record_ingest(leader: &str, put: Vec<CatalogFile>, removed: Vec<String>) -> Result<u64> {
    let mut address = leader.to_string();
    for _ in 0..2 {
        let transport = proto::wire::dial(&address, Duration::from_secs(3)).await?;
        let client =
            CoordinatorServiceClient::new(tarpc::client::Config::default(), transport).spawn();
        match client
            .record_ingest(tarpc::context::current(), put.clone(), removed.clone())
            .await?
        {
            Ok(generation) => return Ok(generation),
            Err(proto::CpgError::NotLeader { leader: Some(l) }) => address = l,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("the data is on every replica, but no coordinator leader recorded the ingest in the catalog; run cpg ingest again")
}

/// Write to stdout; a closed pipe (`cpg ... | head`) is not an error.
fn write_stdout(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
