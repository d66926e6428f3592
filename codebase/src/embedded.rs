//! The embedded mode: build the CPG of a source tree in this process, with
//! every core, into one partition store. No cluster, no network.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use partition::frontend::build_file;
use partition::store::{PreparedFile, Store};
use proto::node_api::SourceUpload;
use proto::{Diagnostic, FileCpg};

use crate::libraries::Libraries;
use crate::sources::Source;
use rayon::prelude::*;

/// Directories never descended into: build output, fetched dependencies, VCS.
const SKIPPED_DIRS: &[&str] = &[
    "_build",
    "deps",
    ".git",
    ".elixir_ls",
    "node_modules",
    "cover",
];

/// Whether discovery leaves a folder named `name` out: build output,
/// fetched dependencies, VCS, hidden folders.
fn skipped_dir(name: &str) -> bool {
    name.starts_with('.') || SKIPPED_DIRS.contains(&name)
}

/// A built CPG with what happened while building it.
#[derive(Debug)]
pub struct Built {
    pub store: Store,
    pub files: usize,
    pub diagnostics: Vec<Diagnostic>,
    pub elapsed: Duration,
    /// Modules of the dependencies under `deps/`, for resolution only.
    pub libraries: Libraries,
}

impl Built {
    /// What queries run on: the build's modules, linked against its
    /// libraries.
    pub fn snapshot(&self) -> query::Snapshot {
        query::Snapshot::of_store(
            &self.store,
            self.libraries.summaries.clone(),
            self.diagnostics.clone(),
            self.elapsed,
        )
    }
}

/// What to do with the dependencies under `deps/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deps {
    /// Library code: used to resolve calls, left out of reports.
    #[default]
    Library,
    /// Analysed and reported like the application (`--include-deps`).
    Include,
    /// Not read at all.
    Skip,
}

pub use crate::sources::{read_or_skip, read_source, EmbeddedError, SourceFile};

/// Elixir source, or a HEEx template (its Elixir is analysed as a function
/// of the module that owns it).
fn is_elixir(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("ex" | "exs" | "heex")
    )
}

/// Whether the file named `name` (relative to the root, `/`-separated) is
/// one [`discover`] would find, or with [`Deps::Include`] one of the
/// dependencies' sources: an Elixir file outside build output, fetched
/// dependencies, VCS and hidden folders. For files an editor reports
/// changed.
pub fn is_analysed(name: &str, deps: Deps) -> bool {
    let Some((dirs, _)) = name.rsplit_once('/') else {
        return is_elixir(Path::new(name));
    };
    let dep_source = deps == Deps::Include && name.starts_with("deps/");
    let skipped = dirs.split('/').any(skipped_dir);
    is_elixir(Path::new(name)) && (!skipped || dep_source)
}

/// Every `.ex`/`.exs` file under `root`, sorted by recorded name.
pub fn discover(root: &Path) -> Result<Vec<SourceFile>, EmbeddedError> {
    let meta = std::fs::metadata(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => EmbeddedError::Missing(root.to_path_buf()),
        _ => EmbeddedError::Unreadable {
            path: root.to_path_buf(),
            source: e,
        },
    })?;
    let mut out = Vec::new();
    if meta.is_file() {
        if !is_elixir(root) {
            return Err(EmbeddedError::NoElixirFiles(root.to_path_buf()));
        }
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(SourceFile {
            disk: root.to_path_buf(),
            name,
        });
        return Ok(out);
    }
    // Symlinked files must stay inside the tree: one pointing elsewhere
    // would read (and send to a cluster) a file the user did not give.
    let inside = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| EmbeddedError::Unreadable {
            path: dir.clone(),
            source: e,
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| EmbeddedError::Unreadable {
                path: dir.clone(),
                source: e,
            })?;
            let path = entry.path();
            let fname = entry.file_name();
            let fname = fname.to_string_lossy();
            let ty = entry.file_type().map_err(|e| EmbeddedError::Unreadable {
                path: path.clone(),
                source: e,
            })?;
            if ty.is_dir() {
                if !skipped_dir(&fname) {
                    stack.push(path);
                }
            } else if is_elixir(&path) && (ty.is_file() || ty.is_symlink()) {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                if ty.is_symlink() {
                    match std::fs::canonicalize(&path) {
                        Ok(target) if target.starts_with(&inside) && target.is_file() => {}
                        Ok(target) => {
                            eprintln!(
                                "cpg: skipping {}: a link to {}, outside {} (copy the file into the tree to analyze it)",
                                rel.display(),
                                target.display(),
                                root.display()
                            );
                            continue;
                        }
                        Err(e) => {
                            eprintln!("cpg: skipping {}: a broken link ({e})", rel.display());
                            continue;
                        }
                    }
                }
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(SourceFile { disk: path, name });
            }
        }
    }
    if out.is_empty() {
        return Err(EmbeddedError::NoElixirFiles(root.to_path_buf()));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `files`, each an Elixir file of the application under `root`, named as
/// [`discover`] names it: for an ingest of only those files (a partial
/// one). A file outside `root`, under a folder discovery leaves out (the
/// dependencies' `deps/` included), not Elixir, or gone is refused with
/// the reason: the whole tree's ingest handles those.
pub fn files_of_tree(root: &Path, files: &[PathBuf]) -> Result<Vec<SourceFile>, EmbeddedError> {
    let unreadable = |path: &Path, source| EmbeddedError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let inside = std::fs::canonicalize(root).map_err(|e| unreadable(root, e))?;
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let refused = |why: &str| EmbeddedError::NotOfTheTree {
            path: file.clone(),
            why: why.to_string(),
        };
        let disk = match std::fs::canonicalize(file) {
            Ok(disk) => disk,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refused(
                    "no such file: a file removed from the tree leaves the cluster with an ingest of the whole tree",
                ))
            }
            Err(e) => return Err(unreadable(file, e)),
        };
        let Ok(rel) = disk.strip_prefix(&inside) else {
            return Err(refused(&format!("not under {}", root.display())));
        };
        if !is_elixir(&disk) || !disk.is_file() {
            return Err(refused("not an Elixir file (.ex, .exs, .heex)"));
        }
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts[..parts.len().saturating_sub(1)]
            .iter()
            .any(|d| skipped_dir(d))
        {
            return Err(refused(
                "in a folder an ingest leaves out or sends as library code (_build, deps, .git, hidden ones): ingest the whole tree",
            ));
        }
        out.push(SourceFile {
            disk,
            name: parts.join("/"),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

/// Every Elixir file under `root` with its bytes, named as in the CPG: what
/// `cpg ingest` sends to a cluster (the dependencies under `deps/` too: a
/// cluster keeps them as library code, told apart by their path).
pub fn read_sources(root: &Path) -> Result<Vec<SourceUpload>, EmbeddedError> {
    read_sources_with(root, Deps::Library)
}

/// The files a cluster is sent: [`discover`]'s, and the dependencies'
/// (`deps/`) unless [`Deps::Skip`].
pub fn discover_with(root: &Path, deps: Deps) -> Result<Vec<SourceFile>, EmbeddedError> {
    let mut files = discover(root)?;
    if deps != Deps::Skip {
        files.extend(crate::libraries::discover(root));
        files.extend(crate::libraries::discover_beams(root));
    }
    Ok(files)
}

/// [`read_sources`], without the dependencies for [`Deps::Skip`].
pub fn read_sources_with(root: &Path, deps: Deps) -> Result<Vec<SourceUpload>, EmbeddedError> {
    let mut out = Vec::new();
    for f in discover_with(root, deps)? {
        if let Some(bytes) = read_or_skip(&f)? {
            out.push(SourceUpload {
                bytes,
                file: f.name,
            });
        }
    }
    Ok(out)
}

/// The tree at `root` as an ingest plans with it: every file's content
/// hash, a file unchanged since an earlier run left unread
/// ([`crate::cache::hashed_sources`]).
pub fn hashed_tree(root: &Path, deps: Deps) -> Result<Vec<Source>, EmbeddedError> {
    crate::cache::hashed_sources(root, discover_with(root, deps)?)
}

/// A progress bar on stderr, only when stderr is a terminal.
pub fn progress(len: usize, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let style =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} files ({per_sec}, {eta})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// The files to analyse under `root` and the libraries they are resolved
/// against, as `deps` says.
pub fn analysed_and_libraries(
    root: &Path,
    deps: Deps,
) -> Result<(Vec<SourceFile>, Libraries), EmbeddedError> {
    let mut files = discover(root)?;
    let libraries = match deps {
        Deps::Skip => Libraries::default(),
        Deps::Library => {
            let mut deps = crate::libraries::discover(root);
            deps.extend(crate::libraries::discover_beams(root));
            crate::libraries::build(root, &deps)
        }
        // The dependencies' source is analysed; their export tables still
        // only resolve calls.
        Deps::Include => {
            files.extend(crate::libraries::discover(root));
            crate::libraries::build(root, &crate::libraries::discover_beams(root))
        }
    };
    Ok((files, libraries))
}

/// Read, parse and summarize every file on all cores, installing each into
/// the store as it arrives. An unreadable file becomes a diagnostic. The
/// dependencies under `deps/` are library code.
pub fn build(root: &Path) -> Result<Built, EmbeddedError> {
    build_with(root, Deps::Library)
}

/// [`build`], saying what to do with the dependencies.
pub fn build_with(root: &Path, deps: Deps) -> Result<Built, EmbeddedError> {
    let start = Instant::now();
    let (files, libraries) = analysed_and_libraries(root, deps)?;
    let bar = progress(files.len(), "building CPG");
    let store = Store::default();
    let mut diagnostics = Vec::new();
    let (tx, rx) = mpsc::sync_channel::<PreparedFile>(256);
    std::thread::scope(|scope| {
        let files = &files;
        scope.spawn(move || {
            files.par_iter().for_each_with(tx, |tx, f| {
                let cpg = match std::fs::read(&f.disk) {
                    Ok(bytes) => build_file(&f.name, &bytes),
                    Err(e) => FileCpg {
                        file: f.name.clone(),
                        content_hash: 0,
                        fragments: Vec::new(),
                        diagnostics: vec![Diagnostic {
                            file: f.name.clone(),
                            line: 0,
                            column: 0,
                            message: format!("cannot read file: {e}"),
                        }],
                    },
                };
                // The receiver lives until every sender is gone.
                let _ = tx.send(PreparedFile::new(cpg));
            });
        });
        for prepared in rx {
            diagnostics.extend(prepared.cpg.diagnostics.iter().cloned());
            store.install(prepared);
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    Ok(Built {
        store,
        files: files.len(),
        diagnostics,
        elapsed: start.elapsed(),
        libraries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_editor_reports_changed_counts_only_where_discover_looks() {
        for (name, analysed) in [
            ("lib/a.ex", true),
            ("test/a_test.exs", true),
            ("a.ex", true),
            ("lib/a.txt", false),
            ("deps/phoenix/lib/phoenix.ex", false),
            ("_build/dev/lib/x.ex", false),
            ("lib/.hidden/x.ex", false),
            ("apps/web/node_modules/x/y.ex", false),
        ] {
            assert_eq!(is_analysed(name, Deps::Library), analysed, "{name}");
        }
        assert!(is_analysed("deps/phoenix/lib/phoenix.ex", Deps::Include));
        assert!(!is_analysed("_build/dev/lib/x.ex", Deps::Include));
    }
}
