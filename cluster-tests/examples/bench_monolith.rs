//! Monolith scale (issue #18): code bases of 1k to 30k modules on one
//! coordinator and 3 storage nodes (P=64, R=2), real processes on loopback,
//! release build, and embedded.
//!
//! A code base is made of renamed copies of three sources taken in turn, file
//! by file, so any size mixes them: the Elixir corpus (`lib/`) and the
//! application code of the two real applications (everything but `deps/` and
//! `_build/`). Copy k prefixes every module of a source with `C<k>`, `N<k>`
//! or `R<k>` (`C0Enum`, `N3NervesHub.Devices`), so each copy defines and
//! calls its own modules. Dependencies are left out: the sizes count the
//! application's own modules.
//!
//! For each size it measures:
//! - embedded: `cpg export call-graph TREE` (parse, link, export) time and
//!   peak memory (`/usr/bin/time`);
//! - `cpg ingest` of the tree into the empty cluster;
//! - the first whole-graph analyses after the ingest, each asked once in turn
//!   (cycles first: its time includes the coordinator's snapshot, that is
//!   gathering every partition's summaries and linking them), then the same
//!   again (answered from the answer cache);
//! - the call-graph export from the cluster (time, the client's peak memory,
//!   rows), compared with the embedded export;
//! - a one-file change: a function added to one file, `cpg ingest` of the
//!   tree, until a query shows the function's callee; then cycles once
//!   (the first whole-graph analysis after the change: computed on the
//!   snapshot the change made, which the coordinator built as the ingest
//!   committed);
//! - the coordinator restarted with `--no-answer-cache`: the first query
//!   (a snapshot from scratch), then 8 clients asking callers and impact of
//!   functions drawn at random at depths drawn from 1–5 (every one computed);
//! - peak memory (`VmHWM`) of every process, from `cpg health`.
//!
//! `scripts/bench-monolith.sh` runs it:
//! `bench_monolith CORPUS REALAPPS [MODULES...]` (default 1000 3000 10000
//! 15000 30000); `CPG_MONOLITH_SVG=FILE` writes the plot there,
//! `CPG_MONOLITH_QUERIES` sets the number of point queries (default 2000);
//! `CPG_MONOLITH_WALKS_ON_NODES=1` walks the point queries on the storage
//! nodes (`--walks-on-nodes`); `CPG_MONOLITH_TREE=DIR` only writes the code base of the first size
//! there (to profile with).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_tests::bench::ms;
use cluster_tests::load::{client, cpg_ingest, peak_memory, point_load, quantile};
use cluster_tests::{rename_modules, Cluster};
use codebase::embedded::{self, Deps};
use proto::{Mfa, ModuleKind, Query, QueryResult};

const P: u32 = 64;
const R: u32 = 2;
const CLIENTS: usize = 8;

type Error = Box<dyn std::error::Error>;

/// One of the trees code bases are made from.
struct Source {
    /// The letter its copies' modules are prefixed with.
    letter: char,
    root: PathBuf,
    /// Its files (path relative to `root`, modules defined, lines).
    files: Vec<(String, usize, usize)>,
    /// Top-level namespaces of the modules it defines.
    namespaces: BTreeSet<String>,
}

impl Source {
    fn read(letter: char, root: &Path) -> Result<Source, Error> {
        let mut files = Vec::new();
        let mut namespaces = BTreeSet::new();
        for s in embedded::read_sources_with(root, Deps::Skip)? {
            if s.file.starts_with("_build/") || s.file.starts_with("deps/") {
                continue;
            }
            let text = String::from_utf8_lossy(&s.bytes);
            // Modules, protocols and implementations, as the engine counts them.
            let built = partition::frontend::build_file(&s.file, &s.bytes);
            let mut modules = 0;
            for f in &built.fragments {
                if matches!(
                    f.kind,
                    ModuleKind::Module | ModuleKind::Protocol | ModuleKind::Impl
                ) {
                    modules += 1;
                }
                // An implementation's name starts with its protocol's.
                let defines = matches!(f.kind, ModuleKind::Module | ModuleKind::Protocol);
                if let Some(top) = f.name.split('.').next().filter(|_| defines) {
                    if top.starts_with(|c: char| c.is_ascii_uppercase()) {
                        namespaces.insert(top.to_string());
                    }
                }
            }
            files.push((s.file, modules, text.lines().count()));
        }
        Ok(Source {
            letter,
            root: root.to_path_buf(),
            files,
            namespaces,
        })
    }
}

/// Write a code base of at least `target` modules under `tree`: copies of
/// the sources' files, taken in turn. Returns (modules, files, lines).
fn make_tree(
    sources: &[Source],
    target: usize,
    tree: &Path,
) -> Result<(usize, usize, usize), Error> {
    let (mut modules, mut files, mut lines) = (0, 0, 0);
    let longest = sources.iter().map(|s| s.files.len()).max().unwrap_or(0);
    let mut copy = 0;
    while modules < target {
        'copy: for i in 0..longest {
            for s in sources {
                let Some((file, m, l)) = s.files.get(i) else {
                    continue;
                };
                if modules >= target {
                    break 'copy;
                }
                let text = std::fs::read_to_string(s.root.join(file))?;
                let prefix = format!("{}{copy}", s.letter);
                let to = tree
                    .join(format!("{}{copy}", s.letter.to_ascii_lowercase()))
                    .join(file);
                std::fs::create_dir_all(to.parent().ok_or("a file has a folder")?)?;
                std::fs::write(to, rename_modules(&text, &prefix, &s.namespaces))?;
                (modules, files, lines) = (modules + m, files + 1, lines + l);
            }
        }
        copy += 1;
    }
    Ok((modules, files, lines))
}

/// Run `cpg ARGS` under `/usr/bin/time`: (stdout, seconds, peak RSS in MB).
fn timed_cpg(args: &[&str]) -> Result<(String, f64, f64), Error> {
    let stats = tempfile::NamedTempFile::new()?;
    let cpg = cluster_tests::binary("cpg");
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-o")
        .arg(stats.path())
        .args(["-f", "%M"])
        .arg(&cpg)
        .args(args)
        .env("CPG_INSECURE", "true")
        .output()?;
    let took = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "cpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let kb: f64 = std::fs::read_to_string(stats.path())?
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .parse()?;
    Ok((String::from_utf8(out.stdout)?, took, kb / 1024.0))
}

/// The callee functions of a call-graph CSV export that the tree defines
/// (their module also calls), as the point queries' targets.
fn called_functions(csv: &str) -> Vec<Mfa> {
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .filter(|l| !l.contains('"'))
        .map(|l| l.split(',').collect())
        .filter(|r: &Vec<&str>| r.len() >= 6)
        .collect();
    let defined: BTreeSet<&str> = rows.iter().map(|r| r[0]).collect();
    let called: BTreeSet<Mfa> = rows
        .iter()
        .filter(|r| defined.contains(r[3]))
        .filter_map(|r| {
            Some(Mfa {
                module: r[3].to_string(),
                name: r[4].to_string(),
                arity: r[5].parse().ok()?,
            })
        })
        .collect();
    called.into_iter().collect()
}

/// Ask `q` of the coordinator at `address` (deadline 10 minutes): the
/// result and how long it took.
async fn ask(address: &str, q: &Query) -> Result<(QueryResult, Duration), Error> {
    let c = client(address).await?;
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + Duration::from_secs(600);
    let t = Instant::now();
    let answer = c
        .query(ctx, String::new(), q.clone())
        .await?
        .map_err(|e| e.to_string())?;
    if !answer.missing.is_empty() {
        return Err(format!("incomplete answer: partitions {:?} missing", answer.missing).into());
    }
    Ok((Arc::unwrap_or_clone(answer.result), t.elapsed()))
}

/// A `.ex` file of `tree` that defines one module and ends with its `end`:
/// (path, module).
fn editable_file(tree: &Path) -> Result<(PathBuf, String), Error> {
    for s in embedded::read_sources_with(tree, Deps::Skip)? {
        let Ok(text) = String::from_utf8(s.bytes) else {
            continue;
        };
        if !s.file.ends_with(".ex")
            || text.matches("defmodule ").count() != 1
            || !text.ends_with("\nend\n")
        {
            continue;
        }
        let Some(rest) = text.split("defmodule ").nth(1) else {
            continue;
        };
        let module: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
            .collect();
        if rest[module.len()..].starts_with(" do") {
            return Ok((tree.join(&s.file), module));
        }
    }
    Err("no file of the tree can be edited".into())
}

/// What one size measured.
#[derive(Debug, Default, Clone)]
struct Row {
    modules: usize,
    files: usize,
    lines: usize,
    embedded_s: f64,
    embedded_mb: f64,
    ingest_s: f64,
    /// Each whole-graph analysis, cold then cached (ms).
    analyses: Vec<(&'static str, f64, f64)>,
    export_s: f64,
    export_client_mb: f64,
    export_rows: usize,
    change_ingest_ms: f64,
    change_visible_ms: f64,
    change_cycles_ms: f64,
    restart_first_ms: f64,
    point_p50_ms: f64,
    point_p99_ms: f64,
    point_queries: usize,
    point_errors: usize,
    coordinator_peak_mb: f64,
    node_peak_mb: f64,
}

async fn measure(sources: &[Source], target: usize, queries: usize) -> Result<Row, Error> {
    let work = tempfile::tempdir()?;
    let tree = work.path().join("monolith");
    let mut row = Row::default();
    (row.modules, row.files, row.lines) = make_tree(sources, target, &tree)?;
    let tree_arg = tree.to_str().ok_or("a UTF-8 path")?;

    let (embedded_csv, s, mb) = timed_cpg(&["export", "call-graph", tree_arg, "--format", "csv"])?;
    (row.embedded_s, row.embedded_mb) = (s, mb);
    let called = Arc::new(called_functions(&embedded_csv));
    if called.is_empty() {
        return Err("no function of the tree is called".into());
    }

    let mut cluster = Cluster::start(1, 3, P, R);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let address = cluster.coordinators[0].addr.clone();
    let t = Instant::now();
    cpg_ingest(&list, &tree)?;
    row.ingest_s = t.elapsed().as_secs_f64();

    let heavy: Vec<(&'static str, Query)> = cluster_tests::load::heavy_queries()
        .into_iter()
        .filter(|(k, _)| matches!(*k, "cycles" | "centrality" | "communities" | "taint"))
        .collect();
    let mut cold = Vec::new();
    for (_, q) in &heavy {
        cold.push(ask(&address, q).await?.1);
    }
    for ((kind, q), cold) in heavy.iter().zip(cold) {
        let cached = ask(&address, q).await?.1;
        row.analyses.push((kind, ms(cold), ms(cached)));
    }

    // The modules as the engine counts them in the whole tree.
    if let (QueryResult::Analyze(report), _) = ask(&address, &Query::Analyze { top: 1 }).await? {
        row.modules = report.modules as usize;
    }

    let (cluster_csv, s, mb) = timed_cpg(&[
        "--coordinator",
        &list,
        "export",
        "call-graph",
        "--format",
        "csv",
    ])?;
    (row.export_s, row.export_client_mb) = (s, mb);
    row.export_rows = cluster_csv.lines().count().saturating_sub(1);
    if cluster_csv != embedded_csv {
        return Err("the cluster's call-graph export differs from the embedded one".into());
    }
    drop((cluster_csv, embedded_csv));

    let (file, module) = editable_file(&tree)?;
    let text = std::fs::read_to_string(&file)?;
    let body = text.strip_suffix("end\n").unwrap_or(&text);
    std::fs::write(
        &file,
        format!("{body}\n  def monolith_probe(x), do: String.upcase(x)\nend\n"),
    )?;
    let probe = Query::Callees {
        function: Mfa {
            module,
            name: "monolith_probe".into(),
            arity: 1,
        },
        depth: 1,
    };
    let t = Instant::now();
    cpg_ingest(&list, &tree)?;
    row.change_ingest_ms = ms(t.elapsed());
    loop {
        if let (QueryResult::Reached(r), _) = ask(&address, &probe).await? {
            if r.iter().any(|x| x.mfa.name == "upcase") {
                break;
            }
        }
        if t.elapsed() > Duration::from_secs(60) {
            return Err("the one-file change did not show within 60 s".into());
        }
    }
    row.change_visible_ms = ms(t.elapsed());
    row.change_cycles_ms = ms(ask(&address, &Query::Cycles).await?.1);

    let (coordinator_peak, node_peaks) = peak_memory(&address, 3).await?;
    // `CPG_MONOLITH_WALKS_ON_NODES=1`: the point queries walked on the nodes.
    let mut uncached = vec!["--no-answer-cache"];
    if std::env::var_os("CPG_MONOLITH_WALKS_ON_NODES").is_some() {
        uncached.push("--walks-on-nodes");
    }
    cluster.coordinators[0].restart_with(&uncached);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    row.restart_first_ms = ms(ask(&address, &Query::Cycles).await?.1);
    let (times, errors) = point_load(&address, called, queries, CLIENTS).await;
    row.point_queries = times.len() + errors.len();
    row.point_errors = errors.len();
    if let Some(e) = errors.first() {
        eprintln!("{} point queries failed, the first: {e}", errors.len());
    }
    row.point_p50_ms = ms(quantile(&times, 0.5));
    row.point_p99_ms = ms(quantile(&times, 0.99));
    let (coordinator_after, node_after) = peak_memory(&address, 3).await?;
    row.coordinator_peak_mb = coordinator_peak.max(coordinator_after);
    row.node_peak_mb = node_peaks
        .iter()
        .chain(&node_after)
        .copied()
        .fold(0.0, f64::max);
    Ok(row)
}

fn analysis(row: &Row, kind: &str) -> (f64, f64) {
    row.analyses
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map_or((f64::NAN, f64::NAN), |(_, c, w)| (*c, *w))
}

fn print_tables(rows: &[Row]) {
    println!("\n| modules | files | lines | ingest (s) | node peak (MB) | coordinator peak (MB) | embedded export (s) | embedded peak (MB) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.1} | {:.0} |",
            r.modules,
            r.files,
            r.lines,
            r.ingest_s,
            r.node_peak_mb,
            r.coordinator_peak_mb,
            r.embedded_s,
            r.embedded_mb
        );
    }
    println!("\n| modules | cycles cold (ms) | centrality cold | communities cold | taint cold | cached (max of 4) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        let cached = r.analyses.iter().map(|(_, _, w)| *w).fold(0.0, f64::max);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} |",
            r.modules,
            analysis(r, "cycles").0,
            analysis(r, "centrality").0,
            analysis(r, "communities").0,
            analysis(r, "taint").0,
            cached
        );
    }
    println!("\n| modules | one-file change: ingest (ms) | visible (ms) | then cycles (ms) | snapshot from scratch (ms) | callers/impact p50 (ms) | p99 (ms) | queries | errors | export (s) | rows | export client peak (MB) |");
    println!(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} | {:.1} | {} | {:.0} |",
            r.modules,
            r.change_ingest_ms,
            r.change_visible_ms,
            r.change_cycles_ms,
            r.restart_first_ms,
            r.point_p50_ms,
            r.point_p99_ms,
            r.point_queries,
            r.point_errors,
            r.export_s,
            r.export_rows,
            r.export_client_mb
        );
    }
}

/// A line of a chart: name, colour, (modules, value) points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// A log-log chart of `series` against modules.
fn chart(title: &str, unit: &str, series: &[Series], x0: f64) -> String {
    let (w, h, left, top) = (460.0, 300.0, 60.0, 30.0);
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .filter(|p| p.1 > 0.0)
        .collect();
    let (xmin, xmax) = (
        all.iter().map(|p| p.0).fold(f64::MAX, f64::min),
        all.iter().map(|p| p.0).fold(0.0, f64::max),
    );
    let (ymin, ymax) = (
        all.iter().map(|p| p.1).fold(f64::MAX, f64::min),
        all.iter().map(|p| p.1).fold(0.0, f64::max),
    );
    let (lx0, lx1) = ((xmin / 1.2).log10(), (xmax * 1.2).log10());
    let (ly0, ly1) = ((ymin / 2.0).log10(), (ymax * 2.0).log10());
    let px = |x: f64| left + (x.log10() - lx0) / (lx1 - lx0) * (w - left - 20.0);
    let py = |y: f64| top + (1.0 - (y.log10() - ly0) / (ly1 - ly0)) * (h - top - 40.0);
    let mut s = format!(
        "<g transform=\"translate({x0},0)\"><text x=\"{}\" y=\"18\" font-size=\"14\" text-anchor=\"middle\">{title}</text>\n",
        w / 2.0
    );
    s += &format!(
        "<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n",
        w - left - 20.0,
        h - top - 40.0
    );
    for (x, _) in &series[0].2 {
        s += &format!(
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>\n",
            px(*x),
            h - 25.0,
            x
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">modules (log)</text>\n",
        w / 2.0,
        h - 8.0
    );
    let mut tick = 10f64.powf(ly0.floor());
    while tick.log10() <= ly1 {
        if tick.log10() >= ly0 {
            s += &format!(
                "<text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>\n",
                left - 4.0,
                py(tick) + 3.0,
                tick
            );
        }
        tick *= 10.0;
    }
    s += &format!("<text x=\"12\" y=\"{}\" font-size=\"11\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{unit} (log)</text>\n", h / 2.0, h / 2.0);
    for (i, (name, colour, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .filter(|p| p.1 > 0.0)
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let dash = if name.starts_with("n·log n") || name.starts_with("linear") {
            " stroke-dasharray=\"4 3\""
        } else {
            ""
        };
        s += &format!("<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"{dash}/>\n", path.join(" "));
        s += &format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"{colour}\">{name}</text>\n",
            left + 6.0,
            top + 12.0 + 12.0 * i as f64
        );
    }
    s + "</g>\n"
}

/// Time and memory against modules, with n·log n and linear references
/// through the first point.
fn plot(rows: &[Row]) -> String {
    let pts = |f: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (r.modules as f64, f(r))).collect()
    };
    let reference = |first: f64, nlogn: bool| -> Vec<(f64, f64)> {
        let n0 = rows[0].modules as f64;
        rows.iter()
            .map(|r| {
                let n = r.modules as f64;
                let grow = if nlogn {
                    n * n.ln() / (n0 * n0.ln())
                } else {
                    n / n0
                };
                (n, first * grow)
            })
            .collect()
    };
    let cold = pts(&|r| analysis(r, "cycles").0);
    let time = chart(
        "time",
        "ms",
        &[
            ("ingest", "#1f77b4", pts(&|r| r.ingest_s * 1000.0)),
            ("first analysis, cold (cycles)", "#d62728", cold.clone()),
            (
                "callers/impact p99, uncached",
                "#2ca02c",
                pts(&|r| r.point_p99_ms),
            ),
            (
                "one-file change visible",
                "#9467bd",
                pts(&|r| r.change_visible_ms),
            ),
            (
                "n·log n from the first cold analysis",
                "#d62728",
                reference(cold[0].1, true),
            ),
        ],
        0.0,
    );
    let node = pts(&|r| r.node_peak_mb);
    let memory = chart(
        "peak memory",
        "MB",
        &[
            ("node (max of 3)", "#1f77b4", node.clone()),
            ("coordinator", "#d62728", pts(&|r| r.coordinator_peak_mb)),
            ("embedded", "#7f7f7f", pts(&|r| r.embedded_mb)),
            (
                "linear from the first node figure",
                "#1f77b4",
                reference(node[0].1, false),
            ),
        ],
        470.0,
    );
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"940\" height=\"300\" font-family=\"sans-serif\">\n<rect width=\"940\" height=\"300\" fill=\"white\"/>\n{time}{memory}</svg>\n")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_monolith CORPUS REALAPPS [MODULES...]";
    let corpus = PathBuf::from(args.next().ok_or(usage)?);
    let realapps = PathBuf::from(args.next().ok_or(usage)?);
    let mut sizes: Vec<usize> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if sizes.is_empty() {
        sizes = vec![1_000, 3_000, 10_000, 15_000, 30_000];
    }
    let queries = std::env::var("CPG_MONOLITH_QUERIES")
        .ok()
        .and_then(|q| q.parse().ok())
        .unwrap_or(2_000);
    let sources = [
        Source::read('C', &corpus)?,
        Source::read('N', &realapps.join("nerves_hub_web"))?,
        Source::read('R', &realapps.join("realtime"))?,
    ];
    for (name, s) in ["corpus", "nerves_hub_web", "realtime"]
        .iter()
        .zip(&sources)
    {
        println!(
            "== {name}: {} files, {} modules, {} lines",
            s.files.len(),
            s.files.iter().map(|f| f.1).sum::<usize>(),
            s.files.iter().map(|f| f.2).sum::<usize>()
        );
    }
    // Only write the code base (of the first size) there, to profile it.
    if let Ok(dir) = std::env::var("CPG_MONOLITH_TREE") {
        let target = sizes.first().copied().unwrap_or(10_000);
        let (modules, files, lines) = make_tree(&sources, target, Path::new(&dir))?;
        println!("{dir}: {files} files, {lines} lines, about {modules} modules");
        return Ok(());
    }
    println!(
        "== 1 coordinator + 3 nodes, P={P}, R={R}; {queries} point queries from {CLIENTS} clients"
    );
    let mut rows = Vec::new();
    for target in sizes {
        let row = measure(&sources, target, queries).await?;
        println!("{row:?}");
        rows.push(row);
    }
    print_tables(&rows);
    if let Ok(path) = std::env::var("CPG_MONOLITH_SVG") {
        if rows.len() > 1 {
            std::fs::write(&path, plot(&rows))?;
            println!("\nplot: {path}");
        }
    }
    Ok(())
}
