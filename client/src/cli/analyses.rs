//! The query commands: `cpg analyze` (the report and each analysis),
//! `export`, `callers` and `callees`, embedded or on a cluster.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use codebase::embedded;
use partition::analysis;
use proto::coordinator_api::CoordinatorServiceClient;
use proto::{
    Answer, CommunityAlgorithm, CpgError, GraphKind, Metric, Mfa, Query, QueryResult,
    SmellThresholds,
};
use query::{answer, report};

use super::remote::{on_first_coordinator, Reply};
use super::{
    deps_mode, project, write_output, write_stdout, AlgorithmArg, AnalysisKind, Format, GraphArg,
    MetricArg, ReportFormat, TableFormat, WalkArgs, QUERY_DEADLINE,
};

/// Run `query` embedded on PATH, or on the cluster when coordinators are
/// given (any of them answers; the next is tried when one cannot be reached).
pub(super) fn ask(coordinators: &[String], path: Option<PathBuf>, query: Query) -> Result<Answer> {
    let mut answers = ask_all(coordinators, path, vec![query])?;
    answers
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no answer to the query"))
}

/// Run several queries on one embedded build of PATH (or on the cluster),
/// answers in the queries' order.
pub(super) fn ask_all(
    coordinators: &[String],
    path: Option<PathBuf>,
    queries: Vec<Query>,
) -> Result<Vec<Answer>> {
    if coordinators.is_empty() {
        let Some(path) = path else {
            bail!("give a PATH to analyze, or --coordinator HOST:PORT to query a cluster");
        };
        let built = embedded::build_with(&path, deps_mode())?;
        let snapshot = built.snapshot();
        return queries
            .iter()
            .map(|query| {
                answer(&snapshot, query).map_err(|e| match e {
                    CpgError::InvalidInput { reason } => {
                        anyhow::anyhow!("{}: {reason}", path.display())
                    }
                    e => e.into(),
                })
            })
            .collect();
    }
    queries
        .into_iter()
        .map(|query| ask_cluster(coordinators, path.clone(), query))
        .collect()
}

/// Run `query` on the cluster.
fn ask_cluster(coordinators: &[String], path: Option<PathBuf>, query: Query) -> Result<Answer> {
    if let Some(path) = path {
        bail!(
            "with --coordinator, queries run on what the cluster holds; send {} with `cpg ingest` first and leave PATH out",
            path.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let answer = runtime.block_on(query_cluster(coordinators, query))?;
    if !answer.missing.is_empty() {
        eprintln!(
            "cpg: warning: partitions {:?} did not answer; results leave out their modules ({})",
            answer.missing,
            answer.failures.join("; ")
        );
    }
    Ok(answer)
}

/// Run `query` on the first coordinator that answers.
pub(super) async fn query_cluster(coordinators: &[String], query: Query) -> Result<Answer> {
    on_first_coordinator(coordinators, |client| {
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
    })
    .await
}

pub(super) fn analyze(
    coordinators: &[String],
    path: Option<PathBuf>,
    json: bool,
    top: usize,
) -> Result<()> {
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

pub(super) fn analysis(coordinators: &[String], kind: AnalysisKind) -> Result<()> {
    if let AnalysisKind::Features {
        path,
        format,
        output,
    } = kind
    {
        let format = match format {
            TableFormat::Csv => proto::ExportFormat::Csv,
            TableFormat::Json => proto::ExportFormat::Json,
        };
        return export(
            coordinators,
            path,
            proto::ExportKind::Features,
            format,
            output,
        );
    }
    let mut explain = false;
    let mut sarif = false;
    let mut format_of = |json: bool, format: Option<ReportFormat>| {
        sarif = format == Some(ReportFormat::Sarif);
        json || format == Some(ReportFormat::Json)
    };
    let (path, query, json) = match kind {
        AnalysisKind::Features { .. } => bail!("features are written as a table, above"),
        AnalysisKind::Cycles { path, json, format } => {
            (path, Query::Cycles, format_of(json, format))
        }
        AnalysisKind::Taint {
            path,
            rules,
            print_rules,
            explain: why,
            json,
            format,
        } => {
            explain = why;
            let json = format_of(json, format);
            if print_rules {
                return write_stdout(analysis::DEFAULT_TAINT_RULES);
            }
            let rules = match rules {
                Some(file) => read_settings(
                    &file,
                    "taint rules",
                    analysis::parse_taint_rules,
                    "cpg analyze taint --print-rules",
                )?,
                None => analysis::default_taint_rules(),
            };
            (path, Query::Taint { rules }, json)
        }
        AnalysisKind::Smells {
            path,
            thresholds,
            print_thresholds,
            json,
            format,
        } => {
            let json = format_of(json, format);
            if print_thresholds {
                return write_stdout(&analysis::default_smell_thresholds_toml());
            }
            let thresholds = match thresholds {
                Some(file) => read_settings(
                    &file,
                    "thresholds",
                    analysis::parse_smell_thresholds,
                    "cpg analyze smells --print-thresholds",
                )?,
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
            format,
        } => {
            let json = format_of(json, format);
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
    if sarif {
        return write_stdout(&sarif_log(coordinators, path, query)?);
    }
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
        (QueryResult::Taint(t), false) => report::render_taint(t, explain),
        (QueryResult::Smells(t), true) => serde_json::to_string_pretty(t)? + "\n",
        (QueryResult::Smells(t), false) => report::render_smells(t),
        _ => bail!("the coordinator answered with a different analysis"),
    };
    write_stdout(&text)
}

/// Settings of an analysis from `file` (taint rules, smell thresholds): a
/// file that cannot be read or parsed is an error naming it, and the command
/// (`print`) that shows the expected form.
fn read_settings<T>(
    file: &Path,
    what: &str,
    parse: fn(&str) -> Result<T, String>,
    print: &str,
) -> Result<T> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {what} from {}", file.display()))?;
    parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "{what} in {}: {e}\n(`{print}` shows the expected form)",
            file.display()
        )
    })
}

/// `cpg export call-graph` (`modules` false) or `module-graph`.
pub(super) fn export_graph(
    coordinators: &[String],
    path: Option<PathBuf>,
    modules: bool,
    format: Format,
    output: Option<PathBuf>,
) -> Result<()> {
    let kind = if modules {
        proto::ExportKind::ModuleGraph
    } else {
        proto::ExportKind::CallGraph
    };
    export(coordinators, path, kind, format.export(), output)
}

/// Write an export: computed here on PATH, or fetched from the cluster in
/// pieces, each written as it arrives (so memory stays flat whatever its
/// size).
pub(super) fn export(
    coordinators: &[String],
    path: Option<PathBuf>,
    kind: proto::ExportKind,
    format: proto::ExportFormat,
    output: Option<PathBuf>,
) -> Result<()> {
    if coordinators.is_empty() {
        let answer = ask(coordinators, path, Query::Export { kind, format })?;
        let QueryResult::Text(text) = &*answer.result else {
            bail!("the export answered with something else");
        };
        return write_output(output, text);
    }
    if let Some(path) = path {
        bail!(
            "with --coordinator, queries run on what the cluster holds; send {} with `cpg ingest` first and leave PATH out",
            path.display()
        );
    }
    let mut out = Output::open(output)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (mut generation, mut offset) = (None, 0u64);
        // The coordinator that answered the last piece is asked for the
        // next on the same connection; the first that answers otherwise.
        let mut answering = None;
        loop {
            let piece = |client: CoordinatorServiceClient| async move {
                let mut ctx = tarpc::context::current();
                ctx.deadline = Instant::now() + QUERY_DEADLINE;
                let asked = client.export(ctx, project(), kind, format, generation, offset);
                match asked.await {
                    Ok(Ok(chunk)) => Reply::Done((chunk, client)),
                    Ok(Err(e)) => Reply::Fail(anyhow::Error::from(e)),
                    Err(e) => Reply::Next(e.to_string()),
                }
            };
            let reused = match answering.take() {
                Some(client) => match piece(client).await {
                    Reply::Done(got) => Some(got),
                    Reply::Fail(e) => return Err(e),
                    Reply::Next(_) => None,
                },
                None => None,
            };
            let (chunk, client) = match reused {
                Some(got) => got,
                None => on_first_coordinator(coordinators, piece).await?,
            };
            answering = Some(client);
            if generation.is_none() && !chunk.missing.is_empty() {
                eprintln!(
                    "cpg: warning: partitions {:?} did not answer; the export leaves out their modules",
                    chunk.missing
                );
            }
            generation = Some(chunk.generation);
            if !out.write(&chunk.text)? {
                return Ok(());
            }
            offset += chunk.text.len() as u64;
            if offset >= chunk.total {
                return out.finish();
            }
            if chunk.text.is_empty() {
                bail!(
                    "the coordinator sent an empty piece at byte {offset} of {}",
                    chunk.total
                );
            }
        }
    })
}

/// Where an export goes as it arrives: stdout, or a file written under a
/// temporary name and renamed when complete (an export cut short leaves
/// no partial file behind).
struct Output {
    file: Option<(tempfile::NamedTempFile, PathBuf)>,
}

impl Output {
    fn open(output: Option<PathBuf>) -> Result<Output> {
        let file = match output {
            None => None,
            Some(path) => {
                let dir = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let tmp = tempfile::NamedTempFile::new_in(dir)
                    .with_context(|| format!("cannot write in {}", dir.display()))?;
                Some((tmp, path))
            }
        };
        Ok(Output { file })
    }

    /// Write `text`; false when stdout is a closed pipe (`| head`): the
    /// reader wants no more.
    fn write(&mut self, text: &str) -> Result<bool> {
        match &mut self.file {
            Some((tmp, path)) => {
                tmp.write_all(text.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(true)
            }
            None => {
                let mut out = std::io::stdout().lock();
                match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
                    other => other.map(|_| true).map_err(Into::into),
                }
            }
        }
    }

    fn finish(self) -> Result<()> {
        if let Some((tmp, path)) = self.file {
            // A temporary file is private (0600); the export is not.
            use std::os::unix::fs::PermissionsExt;
            let readable = std::fs::Permissions::from_mode(0o644);
            std::fs::set_permissions(tmp.path(), readable)
                .with_context(|| format!("cannot write {}", path.display()))?;
            tmp.persist(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

pub(super) fn walk(coordinators: &[String], args: WalkArgs, callers: bool) -> Result<()> {
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

/// The SARIF log of a findings analysis (cycles are located at their
/// modules' files, from the module graph of the same build).
fn sarif_log(coordinators: &[String], path: Option<PathBuf>, query: Query) -> Result<String> {
    let cycles = matches!(query, Query::Cycles);
    let queries = if cycles {
        vec![query, Query::ModuleGraph]
    } else {
        vec![query]
    };
    let answers = ask_all(coordinators, path, queries)?;
    let log = match (
        answers.first().map(|a| &*a.result),
        answers.get(1).map(|a| &*a.result),
    ) {
        (Some(QueryResult::Taint(t)), _) => crate::sarif::taint(t),
        (Some(QueryResult::Smells(s)), _) => crate::sarif::smells(s),
        (Some(QueryResult::DeadCode(d)), _) => crate::sarif::dead_code(d),
        (Some(QueryResult::Cycles(c)), Some(QueryResult::ModuleGraph(g))) => {
            let files = g
                .modules
                .iter()
                .map(|m| (m.name.clone(), m.file.clone()))
                .collect();
            crate::sarif::cycles(c, &files)
        }
        _ => bail!("the coordinator answered with a different analysis"),
    };
    Ok(serde_json::to_string_pretty(&log)? + "\n")
}
