//! Sending a tree to a cluster: `cpg ingest` and `cpg watch`, through the
//! ingest driver.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use codebase::{driver, embedded, ingest as cluster};
use proto::assignment::NodeId;

use super::remote::{cluster_runtime, view_of, Coordinators};
use super::{deps_mode, project, write_stdout};

pub(super) fn ingest(coordinators: &[String], path: &Path, files: &[PathBuf]) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg ingest sends files to a cluster",
        Some("without a cluster, run cpg analyze PATH"),
    )?;
    let (report, generation) = if files.is_empty() {
        runtime.block_on(ingest_once(coordinators, path, true))?
    } else {
        runtime.block_on(ingest_files(coordinators, path, files))?
    };
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

/// Send `files` of the tree at `path` (its application's) and nothing
/// else: a partial ingest, without walking the tree. Returns the report
/// and the catalog generation after it.
pub(super) async fn ingest_files(
    coordinators: &[String],
    path: &Path,
    files: &[PathBuf],
) -> Result<(cluster::IngestReport, u64)> {
    view_of(coordinators).await?;
    let project = project();
    let found = embedded::files_of_tree(path, files)?;
    // Read now, the hash cache left alone: it remembers the whole tree.
    let sources = found
        .iter()
        .map(|f| {
            let bytes = codebase::sources::read_source(f)?;
            Ok(codebase::sources::Source::read(
                proto::node_api::SourceUpload {
                    file: f.name.clone(),
                    bytes,
                },
            ))
        })
        .collect::<Result<Vec<_>, codebase::sources::EmbeddedError>>()?;
    let named = codebase::projects::name_sources(&project, sources, &Default::default())
        .map_err(|e| anyhow::anyhow!(e))?;
    let upload = driver::Upload {
        project,
        sources: named.sources,
        libraries: None,
        partial: true,
    };
    driver::run(&Coordinators(coordinators), &upload, &|_| {}).await
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

/// What [`tree_stamp`] gives: each file's name, size and modification time.
type Stamps = [(String, u64, Option<std::time::SystemTime>)];

/// The files of `now` that are new or changed since `last`, when all of
/// them are the application's and none is gone (what an ingest of only
/// those files can send); `None` when the whole tree must be ingested.
fn changed_files(last: &Stamps, now: &Stamps) -> Option<Vec<String>> {
    if last.is_empty() {
        return None;
    }
    let before: std::collections::HashMap<&str, _> = last
        .iter()
        .map(|(f, size, time)| (f.as_str(), (size, time)))
        .collect();
    let still: BTreeSet<&str> = now.iter().map(|(f, ..)| f.as_str()).collect();
    if before.keys().any(|f| !still.contains(f)) {
        return None;
    }
    let changed: Vec<String> = now
        .iter()
        .filter(|(f, size, time)| before.get(f.as_str()) != Some(&(size, time)))
        .map(|(f, ..)| f.clone())
        .collect();
    let of_the_application = |f: &String| !f.starts_with("deps/") && !f.ends_with(".beam");
    (!changed.is_empty() && changed.iter().all(of_the_application)).then_some(changed)
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
                // Only application files changed or added: those alone,
                // without walking the tree again; else the whole tree.
                let sent = match changed_files(&last, &now) {
                    Some(files) => {
                        let files: Vec<PathBuf> = files.iter().map(|f| path.join(f)).collect();
                        ingest_files(coordinators, path, &files).await
                    }
                    None => ingest_once(coordinators, path, false).await,
                };
                match sent {
                    Ok((r, generation)) => {
                        print_diagnostics(&r.diagnostics);
                        if r.files_parsed + r.files_removed > 0 || last.is_empty() {
                            write_stdout(&format!(
                                "{} parsed, {} removed, {} unchanged: catalog generation {generation} ({} ms)\n",
                                r.files_parsed,
                                r.files_removed,
                                // Files not sent (a round of changed files
                                // only) are unchanged too.
                                r.files_unchanged + (now.len() as u64).saturating_sub(r.files_seen),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn stamp(f: &str, size: u64, secs: u64) -> (String, u64, Option<SystemTime>) {
        (
            f.into(),
            size,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
        )
    }

    /// `cpg watch` sends only the changed or added files of the
    /// application, and the whole tree for anything else.
    #[test]
    fn watch_sends_changed_files_alone_unless_one_is_gone_or_a_dependency() {
        let last = vec![stamp("lib/a.ex", 10, 1), stamp("lib/b.ex", 20, 1)];
        let changed = vec![stamp("lib/a.ex", 10, 2), stamp("lib/b.ex", 20, 1)];
        assert_eq!(
            changed_files(&last, &changed),
            Some(vec!["lib/a.ex".into()])
        );
        let grown = vec![
            stamp("lib/a.ex", 11, 1),
            stamp("lib/b.ex", 20, 1),
            stamp("lib/c.ex", 5, 3),
        ];
        assert_eq!(
            changed_files(&last, &grown),
            Some(vec!["lib/a.ex".into(), "lib/c.ex".into()])
        );
        // A file gone, the first round, a dependency's file: the whole tree.
        assert_eq!(changed_files(&last, &[stamp("lib/a.ex", 10, 2)]), None);
        assert_eq!(changed_files(&[], &changed), None);
        let dep = vec![
            stamp("lib/a.ex", 10, 1),
            stamp("lib/b.ex", 20, 1),
            stamp("deps/x/lib/x.ex", 1, 1),
        ];
        assert_eq!(changed_files(&last, &dep), None);
        // Nothing changed: nothing to send.
        assert_eq!(changed_files(&last, &last), None);
    }
}
