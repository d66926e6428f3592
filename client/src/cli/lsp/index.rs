//! The index of an analysis: every definition and resolved call site per
//! file with its range, built again after each link; and keeping the
//! analysis up to date as files are saved and edited.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use codebase::embedded;
use codebase::workspace::Workspace;
use lsp_types::{CallHierarchyItem, Location, Position, Range, SymbolKind, Uri};
use partition::analysis::CallGraph;
use proto::Mfa;
use serde_json::Value;

use super::cluster::cluster_set;
use super::text::{byte_of, find_name, path_of, uri_of, utf16_of};
use super::{Index, Occurrence, Publisher, Source, Target};
use crate::cli::deps_mode;
use crate::cli::ingest::ingest_once;

impl Index {
    pub(super) fn build(
        root: &Path,
        publisher: Publisher,
        coordinators: &[String],
    ) -> Result<Index> {
        let started = Instant::now();
        let source = if coordinators.is_empty() {
            let workspace = Workspace::open(root, deps_mode())?;
            eprintln!(
                "cpg lsp: {} files, {} of them unchanged since the last run (not parsed), in {:.2} s",
                workspace.read,
                workspace.cached,
                workspace.elapsed.as_secs_f64()
            );
            Source::Embedded(Box::new(workspace))
        } else {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(ingest_once(coordinators, root, false))?;
            let base = runtime
                .block_on(cluster_set(coordinators))
                .map_err(|e| anyhow::anyhow!(e))?;
            Source::Cluster {
                coordinators: coordinators.to_vec(),
                runtime,
                base,
                overlay: BTreeMap::new(),
                sync: Arc::default(),
            }
        };
        let mut index = Index {
            root: root.to_path_buf(),
            source,
            publisher,
            graph: Arc::new(CallGraph::default()),
            summaries: Vec::new(),
            modules: HashMap::new(),
            functions: HashMap::new(),
            uris: HashMap::new(),
            texts: HashMap::new(),
            files: HashMap::new(),
            definitions: HashMap::new(),
            references: HashMap::new(),
            open: HashMap::new(),
            pending: HashMap::new(),
            unsaved: std::collections::HashSet::new(),
        };
        index.relink().map_err(|e| anyhow::anyhow!(e))?;
        eprintln!(
            "cpg lsp: {} modules, {} functions indexed in {:.2} s",
            index.summaries.len(),
            index.definitions.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(index)
    }

    /// The analysis as it stands: the workspace's, or the cluster's
    /// summaries with the files saved since, linked here.
    pub(super) fn snapshot(&self) -> std::result::Result<query::Snapshot, String> {
        match &self.source {
            Source::Embedded(workspace) => Ok(workspace.snapshot_after(Some(&self.graph))),
            Source::Cluster {
                base: (modules, libraries),
                overlay,
                ..
            } => {
                let mut modules: Vec<Arc<proto::ModuleSummary>> = modules
                    .iter()
                    .filter(|m| !overlay.contains_key(&m.file))
                    .cloned()
                    .collect();
                modules.extend(overlay.values().flatten().cloned());
                modules.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
                let previous = Some(&*self.graph);
                Ok(query::Snapshot::of_summaries(
                    modules,
                    libraries.clone(),
                    previous,
                ))
            }
        }
    }

    /// Link the analysis's current content and index it again (an
    /// unreachable cluster leaves the index as it was).
    pub(super) fn relink(&mut self) -> std::result::Result<(), String> {
        let snapshot = Arc::new(self.snapshot()?);
        self.publisher.publish(Arc::clone(&snapshot));
        self.graph = Arc::clone(&snapshot.graph);
        self.summaries = snapshot.summaries.clone();
        self.modules = self
            .summaries
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        self.files.clear();
        self.definitions.clear();
        self.references.clear();
        for m in &snapshot.summaries {
            self.load(&m.file);
        }
        self.fill();
        Ok(())
    }

    /// Parse the edited documents from the editor's text, then relink once
    /// (embedded only: a cluster gets files when they are saved).
    pub(super) fn catch_up(&mut self) {
        if self.adopt_fetched() {
            if let Err(e) = self.relink() {
                eprintln!("cpg lsp: {e}");
            }
        }
        if self.pending.is_empty() {
            return;
        }
        let Source::Embedded(workspace) = &mut self.source else {
            self.pending.clear();
            return;
        };
        let started = Instant::now();
        let edited: Vec<(String, String)> = self.pending.drain().collect();
        for (file, text) in &edited {
            workspace.apply(file, text.as_bytes());
            self.unsaved.insert(file.clone());
        }
        if let Err(e) = self.relink() {
            eprintln!("cpg lsp: {e}");
        }
        eprintln!(
            "cpg lsp: {} edited document(s) analysed in {:.0} ms",
            edited.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }

    /// A saved (or deleted) file: parse it again (embedded) or send the
    /// workspace's changes to the cluster, relink, index again.
    pub(super) fn saved(&mut self, file: &str) {
        self.saved_all(&[file.to_string()]);
    }

    /// Files saved, created or deleted together (a branch switched, a pull):
    /// each is parsed again, then one relink and one trip to the cluster.
    pub(super) fn saved_all(&mut self, files: &[String]) {
        let started = Instant::now();
        let mut sources = 0;
        for file in files {
            self.texts.remove(file);
            self.pending.remove(file);
            self.unsaved.remove(file);
            // Only what the workspace analyses: `mix deps.get` or a build
            // writing under deps/ or _build/ is not the application's code.
            if !(file.ends_with(".ex") || file.ends_with(".exs"))
                || !embedded::is_analysed(file, deps_mode())
            {
                continue;
            }
            sources += 1;
            let bytes = std::fs::read(self.root.join(file));
            match &mut self.source {
                Source::Embedded(workspace) => match bytes {
                    Ok(bytes) => workspace.apply(file, &bytes),
                    Err(_) => workspace.remove(file),
                },
                Source::Cluster { overlay, .. } => {
                    let modules = match bytes {
                        Ok(bytes) => {
                            partition::store::PreparedFile::new(partition::frontend::build_file(
                                file, &bytes,
                            ))
                            .summaries
                        }
                        Err(_) => Vec::new(),
                    };
                    overlay.insert(file.clone(), modules);
                }
            }
        }
        if sources == 0 {
            return;
        }
        if let Err(e) = self.relink() {
            eprintln!("cpg lsp: {e}");
        }
        let what = match files {
            [one] => one.clone(),
            _ => format!("{sources} files"),
        };
        eprintln!(
            "cpg lsp: {what} analysed again in {:.0} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        // Only now, so that the answers above had the cores to themselves.
        self.send_to_cluster(&what);
    }

    pub(super) fn load(&mut self, file: &str) {
        if !self.texts.contains_key(file) {
            let text = std::fs::read_to_string(self.root.join(file)).unwrap_or_default();
            self.texts
                .insert(file.to_string(), text.lines().map(str::to_string).collect());
        }
    }

    pub(super) fn line(&self, file: &str, line: u32) -> &str {
        self.open
            .get(file)
            .or_else(|| self.texts.get(file))
            .and_then(|l| l.get(line as usize))
            .map_or("", String::as_str)
    }

    pub(super) fn add(&mut self, file: &str, o: Occurrence) {
        if o.definition {
            self.definitions
                .entry(o.target.clone())
                .or_insert_with(|| (file.to_string(), o.clone()));
        } else if let Target::Function(id) = o.target {
            self.references
                .entry(id)
                .or_default()
                .push((file.to_string(), o.clone()));
        }
        self.files.entry(file.to_string()).or_default().push(o);
    }

    pub(super) fn fill(&mut self) {
        let summaries = self.summaries.clone();
        self.functions.clear();
        for (mi, m) in summaries.iter().enumerate() {
            if !self.uris.contains_key(&m.file) {
                if let Some(uri) = uri_of(&self.root.join(&m.file)) {
                    self.uris.insert(m.file.clone(), uri);
                }
            }
            for (fi, f) in m.functions.iter().enumerate() {
                if let Some(id) = self.graph.id(&Mfa::new(&m.name, &f.name, f.arity)) {
                    self.functions.entry(id).or_insert((mi, fi));
                }
            }
        }
        for m in &summaries {
            self.definition(
                &m.file,
                m.line,
                "defmodule",
                &m.name,
                Target::Module(m.name.clone()),
            );
            for f in &m.functions {
                if let Some(id) = self.graph.id(&Mfa::new(&m.name, &f.name, f.arity)) {
                    self.definition(&m.file, f.line, "def", &f.name, Target::Function(id));
                }
            }
        }
        let graph = Arc::clone(&self.graph);
        for e in &graph.calls {
            let file = graph.file_of(e);
            if e.line == 0 || !self.texts.contains_key(file) {
                continue;
            }
            let name = graph.mfa(e.callee).name.clone();
            let l = e.line - 1;
            let line = self.line(file, l).to_string();
            let from = e.column.saturating_sub(1) as usize;
            let (start, end) = find_name(&line, &name, from).unwrap_or((from, from + name.len()));
            self.add(
                file,
                Occurrence {
                    line: l,
                    start,
                    end,
                    target: Target::Function(e.callee),
                    definition: false,
                },
            );
        }
        for list in self.files.values_mut() {
            list.sort_by_key(|o| (o.line, o.start));
        }
    }

    /// The definition of `target`: `name` after `keyword` on 1-based
    /// `line` of `file` (the line's start when the text does not show it,
    /// as for functions a macro defines).
    pub(super) fn definition(
        &mut self,
        file: &str,
        line: u32,
        keyword: &str,
        name: &str,
        target: Target,
    ) {
        let l = line.saturating_sub(1);
        let text = self.line(file, l).to_string();
        let (start, end) = text
            .find(keyword)
            .and_then(|d| find_name(&text, name, d))
            .unwrap_or((0, 0));
        let definition = true;
        self.add(
            file,
            Occurrence {
                line: l,
                start,
                end,
                target,
                definition,
            },
        );
    }

    pub(super) fn relative(&self, uri: &str) -> std::result::Result<String, String> {
        let path = path_of(uri).ok_or_else(|| format!("not a file URI: {uri}"))?;
        path.strip_prefix(&self.root)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|_| {
                format!(
                    "{} is outside the workspace {}",
                    path.display(),
                    self.root.display()
                )
            })
    }

    pub(super) fn range(&self, file: &str, o: &Occurrence) -> Range {
        let line = self.line(file, o.line);
        Range::new(
            Position::new(o.line, utf16_of(line, o.start)),
            Position::new(o.line, utf16_of(line, o.end)),
        )
    }

    pub(super) fn location(&self, file: &str, o: &Occurrence) -> Option<Location> {
        Some(Location::new(self.uri(file)?, self.range(file, o)))
    }

    /// The name at a position of a document.
    /// The workspace file `params.textDocument` names.
    pub(super) fn document(&self, params: &Value) -> std::result::Result<String, String> {
        let uri = params["textDocument"]["uri"]
            .as_str()
            .ok_or("no textDocument.uri")?;
        self.relative(uri)
    }

    pub(super) fn at(
        &self,
        params: &Value,
    ) -> std::result::Result<Option<(String, Occurrence)>, String> {
        let file = self.document(params)?;
        let line = params["position"]["line"]
            .as_u64()
            .ok_or("no position.line")? as u32;
        let units = params["position"]["character"]
            .as_u64()
            .ok_or("no position.character")? as u32;
        let col = byte_of(self.line(&file, line), units);
        Ok(self.files.get(&file).and_then(|list| {
            list.iter()
                .filter(|o| o.line == line && o.start <= col && col <= o.end && o.end > o.start)
                .min_by_key(|o| o.end - o.start)
                .map(|o| (file.clone(), o.clone()))
        }))
    }

    pub(super) fn item(&self, id: u32, detail: Option<String>) -> Option<CallHierarchyItem> {
        let (file, o) = self.definitions.get(&Target::Function(id))?;
        let uri = self.uri(file)?;
        let mfa = self.graph.mfa(id);
        let lines = self.summary(id).map_or(1, |f| f.metrics.lines.max(1));
        let last = o.line + lines - 1;
        let end = utf16_of(self.line(file, last), usize::MAX);
        Some(CallHierarchyItem {
            name: mfa.to_string(),
            kind: SymbolKind::FUNCTION,
            tags: None,
            detail,
            uri,
            range: Range::new(Position::new(o.line, 0), Position::new(last, end)),
            selection_range: self.range(file, o),
            data: Some(Value::String(mfa.to_string())),
        })
    }

    pub(super) fn summary(&self, id: u32) -> Option<&proto::FunctionSummary> {
        let &(m, f) = self.functions.get(&id)?;
        self.summaries.get(m)?.functions.get(f)
    }

    pub(super) fn uri(&self, file: &str) -> Option<Uri> {
        match self.uris.get(file) {
            Some(uri) => Some(uri.clone()),
            None => uri_of(&self.root.join(file)),
        }
    }

    /// The functions calling `id` (`incoming`) or called by it, each with
    /// the ranges of those calls; process edges say so in the item's detail.
    pub(super) fn hierarchy(
        &self,
        id: u32,
        incoming: bool,
    ) -> Vec<(CallHierarchyItem, Vec<Range>)> {
        let edges: Vec<&partition::analysis::CallEdge> = if incoming {
            self.graph.calls_to(id).collect()
        } else {
            self.graph.calls_from(id).collect()
        };
        let mut by_other: BTreeMap<u32, (bool, Vec<Range>)> = BTreeMap::new();
        for e in edges {
            let other = if incoming { e.caller } else { e.callee };
            let entry = by_other.entry(other).or_default();
            entry.0 |= e.kind == proto::CallKind::Process;
            entry
                .1
                .extend(self.call_range(self.graph.file_of(e), e.line, e.callee));
        }
        by_other
            .into_iter()
            .filter_map(|(other, (process, ranges))| {
                let detail = process.then(|| "process: a message or a spawn".to_string());
                Some((self.item(other, detail)?, ranges))
            })
            .collect()
    }

    /// The range of the call of `callee` on 1-based `line` of `file`.
    pub(super) fn call_range(&self, file: &str, line: u32, callee: u32) -> Option<Range> {
        let list = self.files.get(file)?;
        let l = line.checked_sub(1)?;
        let from = list.partition_point(|o| o.line < l);
        list[from..]
            .iter()
            .take_while(|o| o.line == l)
            .find(|o| !o.definition && o.target == Target::Function(callee))
            .map(|o| self.range(file, o))
    }

    pub(super) fn item_id(&self, params: &Value) -> std::result::Result<u32, String> {
        let name = params["item"]["data"]
            .as_str()
            .or_else(|| params["item"]["name"].as_str())
            .ok_or("no call hierarchy item")?;
        let mfa: Mfa = name
            .parse()
            .map_err(|_| format!("not Module.fun/arity: {name}"))?;
        self.graph
            .id(&mfa)
            .ok_or_else(|| format!("{name} is not in the analysed code"))
    }
}
