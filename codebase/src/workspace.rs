//! A workspace an editor or a coding agent works in: the summaries of its
//! files (not their whole CPG: what the language server and the agents'
//! tools answer from), kept on disk between runs so that opening the editor
//! again parses only the files that changed, and updated file by file as
//! the editor saves or edits.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use partition::analysis::CallGraph;
use partition::frontend::build_file;
use partition::store::PreparedFile;
use proto::{Diagnostic, ModuleSummary};

use crate::embedded::{analysed_and_libraries, Deps, EmbeddedError};
use crate::libraries::Libraries;

/// One file's modules and what parsing it said.
#[derive(Debug, Clone, Default)]
struct FileSummaries {
    modules: Vec<Arc<ModuleSummary>>,
    diagnostics: Vec<Diagnostic>,
}

/// The summaries of a tree's files, by file.
#[derive(Debug)]
pub struct Workspace {
    files: BTreeMap<String, FileSummaries>,
    /// The dependencies, for resolution only.
    pub libraries: Libraries,
    /// Files read when it was opened, and how many of them came from the
    /// cache (not parsed).
    pub read: usize,
    pub cached: usize,
    /// How long opening took.
    pub elapsed: Duration,
}

/// A workspace's own files keep their whole summaries.
fn whole(m: ModuleSummary) -> ModuleSummary {
    m
}

fn as_is(_name: &str, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    Ok(bytes)
}

impl Workspace {
    /// Summarize every Elixir file under `root` (and its dependencies as
    /// `deps` says), reusing the summaries cached by the last run for files
    /// whose content did not change (`_build/cpg/workspace.bin`, or the
    /// user's cache folder).
    pub fn open(root: &Path, deps: Deps) -> Result<Workspace, EmbeddedError> {
        let started = Instant::now();
        let (files, libraries) = analysed_and_libraries(root, deps)?;
        let done = crate::cache::summarize_files(root, &files, "workspace", as_is, whole);
        let mut read = BTreeMap::new();
        for f in done.files {
            read.insert(
                f.file,
                FileSummaries {
                    modules: f.modules,
                    diagnostics: f.diagnostics,
                },
            );
        }
        // A file that could not be read is a diagnostic, as in a build.
        for f in &files {
            if !read.contains_key(&f.name) {
                read.insert(
                    f.name.clone(),
                    FileSummaries {
                        modules: Vec::new(),
                        diagnostics: vec![Diagnostic {
                            file: f.name.clone(),
                            line: 0,
                            column: 0,
                            message: "cannot read file".into(),
                        }],
                    },
                );
            }
        }
        Ok(Workspace {
            files: read,
            libraries,
            read: files.len(),
            cached: done.cached,
            elapsed: started.elapsed(),
        })
    }

    /// `file` (named as in the workspace) now holds `bytes`: parse and
    /// summarize it again.
    pub fn apply(&mut self, file: &str, bytes: &[u8]) {
        let prepared = PreparedFile::new(build_file(file, bytes));
        self.files.insert(
            file.to_string(),
            FileSummaries {
                modules: prepared.summaries,
                diagnostics: prepared.cpg.diagnostics,
            },
        );
    }

    /// `file` is gone.
    pub fn remove(&mut self, file: &str) {
        self.files.remove(file);
    }

    /// Files held.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// What queries run on: the modules linked against the libraries.
    pub fn snapshot(&self) -> query::Snapshot {
        self.snapshot_after(None)
    }

    /// [`Workspace::snapshot`], linking again only what changed since the
    /// `previous` snapshot's graph.
    pub fn snapshot_after(&self, previous: Option<&CallGraph>) -> query::Snapshot {
        let mut summaries: Vec<Arc<ModuleSummary>> = self
            .files
            .values()
            .flat_map(|f| f.modules.iter().cloned())
            .collect();
        summaries.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
        // Templates are functions of the modules that own them.
        let summaries = partition::analysis::attach_templates(&summaries).unwrap_or(summaries);
        let mut snapshot =
            query::Snapshot::of_summaries(summaries, self.libraries.summaries.clone(), previous);
        let mut diagnostics: Vec<Diagnostic> = self
            .files
            .values()
            .flat_map(|f| f.diagnostics.iter().cloned())
            .collect();
        diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        snapshot.diagnostics = diagnostics;
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callers(ws: &Workspace, function: &str) -> Vec<String> {
        let query = proto::Query::Callers {
            function: function.parse().expect("an MFA"),
            depth: 1,
        };
        match &*query::answer(&ws.snapshot(), &query)
            .expect("an answer")
            .result
        {
            proto::QueryResult::Reached(r) => r.iter().map(|x| x.mfa.to_string()).collect(),
            other => panic!("{other:?}"),
        }
    }

    /// A tree with files `(name, text)` under a temporary folder.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("its folder");
            std::fs::write(path, text).expect("the file");
        }
        dir
    }

    const A: (&str, &str) = ("lib/a.ex", "defmodule A do\n  def f(x), do: B.g(x)\nend\n");
    const B: (&str, &str) = ("lib/b.ex", "defmodule B do\n  def g(x), do: x\nend\n");

    #[test]
    fn a_second_open_parses_only_what_changed_and_answers_the_same() {
        let dir = tree(&[A, B, ("lib/c.ex", "defmodule C do\n  def h(, do: 1\nend\n")]);
        let root = dir.path();
        let first = Workspace::open(root, Deps::Skip).expect("open");
        assert_eq!((first.read, first.cached), (3, 0));
        assert_eq!(callers(&first, "B.g/1"), ["A.f/1"]);
        assert!(root.join("_build/cpg/workspace.bin").exists());

        let second = Workspace::open(root, Deps::Skip).expect("open again");
        assert_eq!((second.read, second.cached), (3, 3), "nothing changed");
        assert_eq!(callers(&second, "B.g/1"), ["A.f/1"]);
        assert_eq!(
            first.snapshot().diagnostics,
            second.snapshot().diagnostics,
            "the syntax error of c.ex is kept with its summaries"
        );
        assert!(!second.snapshot().diagnostics.is_empty());

        // A new caller in c.ex: only c.ex is parsed again.
        std::fs::write(
            root.join("lib/c.ex"),
            "defmodule C do\n  def h, do: B.g(1)\nend\n",
        )
        .expect("c.ex");
        let third = Workspace::open(root, Deps::Skip).expect("open a third time");
        assert_eq!((third.read, third.cached), (3, 2));
        assert_eq!(callers(&third, "B.g/1"), ["A.f/1", "C.h/0"]);
        assert!(third.snapshot().diagnostics.is_empty());
    }

    #[test]
    fn edits_apply_file_by_file() {
        let dir = tree(&[A, B]);
        let root = dir.path();
        let mut ws = Workspace::open(root, Deps::Skip).expect("open");
        ws.apply("c.ex", b"defmodule C do\n  def h, do: B.g(2)\nend\n");
        assert_eq!(callers(&ws, "B.g/1"), ["A.f/1", "C.h/0"]);
        ws.remove("lib/a.ex");
        assert_eq!(callers(&ws, "B.g/1"), ["C.h/0"]);
        assert_eq!(ws.files(), 2);
    }
}
