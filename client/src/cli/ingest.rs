//! Sending a tree to a cluster: `cpg ingest` and `cpg watch`, through the
//! ingest driver.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use codebase::{driver, embedded, ingest as cluster};
use proto::assignment::NodeId;

use super::remote::{cluster_runtime, view_of, Coordinators};
use super::{deps_mode, project, write_stdout};

pub(super) fn ingest(coordinators: &[String], path: &Path) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg ingest sends files to a cluster",
        Some("without a cluster, run cpg analyze PATH"),
    )?;
    let (report, generation) = runtime.block_on(ingest_once(coordinators, path, true))?;
    print_diagnostics(&report.diagnostics);
    if !report.missed.is_empty() {
        let nodes: BTreeSet<NodeId> = report.missed.iter().map(|(_, n)| *n).collect();
        eprintln!(
            "cpg: node(s) {} missed writes (not reachable, or unable to persist them: cpg health says which): {} partition replica(s) serve no reads until the cluster catches them up (cpg cluster status shows them as behind)",
            nodes.iter().map(NodeId::to_string).collect::<Vec<_>>().join(", "),
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
pub(super) async fn ingest_once(
    coordinators: &[String],
    path: &Path,
    progress: bool,
) -> Result<(cluster::IngestReport, u64)> {
    // The cluster first: an unreachable one is the error to report, not
    // what the tree holds.
    view_of(coordinators).await?;
    let project = project();
    let named = codebase::projects::name_sources(
        &project,
        embedded::hashed_tree(path, deps_mode())?,
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

/// Parse diagnostics of the application's files, one a line; those of the
/// dependencies (library code) only counted.
pub(super) fn print_diagnostics(diagnostics: &[proto::Diagnostic]) {
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

/// Size and modification time of every Elixir file under `path`: a change
/// in any of them (or a file added or gone) means an ingest is due.
pub(super) fn tree_stamp(path: &Path) -> Result<Vec<(String, u64, Option<std::time::SystemTime>)>> {
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
pub(super) fn watch(coordinators: &[String], path: &Path, interval: Duration) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg watch keeps a cluster up to date with a working tree",
        Some("`cpg dev-cluster up` starts a local one"),
    )?;
    runtime.block_on(async {
        let mut last = Vec::new();
        let stop = tokio::signal::ctrl_c();
        tokio::pin!(stop);
        eprintln!("cpg: watching {} (Ctrl-C stops)", path.display());
        loop {
            let now = tree_stamp(path)?;
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
