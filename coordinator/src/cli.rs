//! The `cpg` command line. Without a cluster (the default) every command runs
//! embedded: it builds the CPG of PATH in this process and answers from it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use partition::analysis::{CallGraph, Reached};
use proto::Mfa;

use crate::embedded;
use crate::report;

#[derive(Debug, Parser)]
#[command(
    name = "cpg",
    version,
    about = "Code property graphs of Elixir code bases: build, query, analyze."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the CPG of every .ex/.exs file under PATH and report on it.
    Analyze {
        /// A directory (or one file) of Elixir source.
        path: PathBuf,
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
}

#[derive(Debug, Subcommand)]
pub enum ExportKind {
    /// One row per call site: caller, callee, file and line.
    CallGraph {
        path: PathBuf,
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
    pub path: PathBuf,
    /// 1 lists direct callers (callees) only.
    #[arg(long, default_value_t = 1)]
    pub depth: u32,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Analyze { path, json, top } => analyze(path, json, top),
        Command::Export {
            what:
                ExportKind::CallGraph {
                    path,
                    format,
                    output,
                },
        } => export_call_graph(path, format, output),
        Command::Callers(args) => walk(args, true),
        Command::Callees(args) => walk(args, false),
    }
}

fn build(path: &std::path::Path) -> Result<embedded::Built> {
    Ok(embedded::build(path)?)
}

/// The linked call graph of the built store, through the store's analysis
/// cache (keyed by the data generation, so a later ingest invalidates it).
fn call_graph(built: &embedded::Built) -> std::sync::Arc<CallGraph> {
    built
        .store
        .cached("call_graph", || CallGraph::build(&built.store.summaries()))
}

fn analyze(path: PathBuf, json: bool, top: usize) -> Result<()> {
    let built = build(&path)?;
    let summaries = built.store.summaries();
    let graph = call_graph(&built);
    let report = report::analyze_report(
        built.store.stats(),
        &summaries,
        &graph,
        built.diagnostics,
        &built.store.memory(),
        built.elapsed.as_millis() as u64,
        top,
    );
    let out = if json {
        let mut s = serde_json::to_string_pretty(&report)?;
        s.push('\n');
        s
    } else {
        report::render_analyze(&report, top)
    };
    write_stdout(&out)
}

fn export_call_graph(path: PathBuf, format: Format, output: Option<PathBuf>) -> Result<()> {
    let built = build(&path)?;
    let graph = call_graph(&built);
    let rows = report::call_rows(&graph);
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

fn walk(args: WalkArgs, callers: bool) -> Result<()> {
    let mfa: Mfa = args.function.parse()?;
    if args.depth == 0 {
        anyhow::bail!("--depth must be at least 1");
    }
    let built = build(&args.path)?;
    let graph = call_graph(&built);
    if graph.id(&mfa).is_none() {
        anyhow::bail!(
            "{mfa} is neither defined nor called in {}; check the module name, function name and arity",
            args.path.display()
        );
    }
    let reached: Vec<Reached> = if callers {
        graph.callers(&mfa, args.depth)
    } else {
        graph.callees(&mfa, args.depth)
    };
    let text = if args.json {
        serde_json::to_string_pretty(&reached)? + "\n"
    } else {
        let what = if callers { "callers" } else { "callees" };
        let mut s = format!(
            "{} {what} of {mfa} (depth {}):\n",
            reached.len(),
            args.depth
        );
        for r in &reached {
            s.push_str(&format!("  {:>3}  {}\n", r.depth, r.mfa));
        }
        s
    };
    write_stdout(&text)
}

/// Write to stdout; a closed pipe (`cpg ... | head`) is not an error.
fn write_stdout(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
