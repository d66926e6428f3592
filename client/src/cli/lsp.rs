//! `cpg lsp`: a Language Server Protocol server on stdio.
//!
//! The workspace folder is analysed in process when the editor connects
//! (dependencies as libraries, their summaries cached on disk as for
//! `cpg analyze`), and again when a file is saved. Answers come from an
//! index of that analysis: every definition and every resolved call site,
//! per file, with its range. Positions are UTF-16 code units, as the
//! protocol says; the index keeps byte columns and converts with the line's
//! text. A request the server cannot answer gets an empty answer or an
//! error response; it never stops the server.

use std::collections::HashMap;

use codebase::workspace::Workspace;
use lsp_server::{Message, Notification, Request, Response};
use lsp_types::{
    CallHierarchyIncomingCall, CallHierarchyItem, CallHierarchyOutgoingCall,
    CallHierarchyServerCapability, CodeLens, CodeLensOptions, Command as LspCommand, Diagnostic,
    DiagnosticRelatedInformation, DiagnosticSeverity, DocumentSymbol, DocumentSymbolResponse,
    GotoDefinitionResponse, Hover, HoverContents, HoverProviderCapability, Location, MarkupContent,
    MarkupKind, NumberOrString, OneOf, Position, PublishDiagnosticsParams, Range,
    ServerCapabilities, SymbolInformation, SymbolKind, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions, Uri,
};
use partition::analysis::CallGraph;
use serde_json::Value;

use super::*;

mod transport;

/// The requests the server answers (others get MethodNotFound).
const METHODS: &[&str] = &[
    "textDocument/definition",
    "textDocument/references",
    "textDocument/prepareCallHierarchy",
    "callHierarchy/incomingCalls",
    "callHierarchy/outgoingCalls",
    "workspace/symbol",
    "textDocument/documentSymbol",
    "textDocument/hover",
    "textDocument/codeLens",
    "codeLens/resolve",
];

/// Symbols a workspace/symbol answer lists at most.
const MAX_SYMBOLS: usize = 500;

pub(super) fn lsp(coordinators: &[String]) -> Result<()> {
    let stdio = transport::Stdio::start();
    let connection = &stdio.connection;
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::FULL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..TextDocumentSyncOptions::default()
            },
        )),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        call_hierarchy_provider: Some(CallHierarchyServerCapability::Simple(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        code_lens_provider: Some(CodeLensOptions {
            resolve_provider: Some(true),
        }),
        ..ServerCapabilities::default()
    };
    let params = connection
        .initialize(serde_json::to_value(capabilities)?)
        .map_err(|e| anyhow::anyhow!("LSP initialize: {e}"))?;
    let root = workspace_root(&params)?;
    eprintln!("cpg lsp: analyzing {}", root.display());
    // Files changed outside the editor (a pull, a branch switched) count
    // too: ask the client to watch the Elixir files when it can be asked.
    if params["capabilities"]["workspace"]["didChangeWatchedFiles"]["dynamicRegistration"]
        == Value::Bool(true)
    {
        let watch = serde_json::json!({ "registrations": [{
            "id": "cpg-elixir-files",
            "method": "workspace/didChangeWatchedFiles",
            "registerOptions": { "watchers": [{ "globPattern": "**/*.{ex,exs}" }] },
        }]});
        connection.sender.send(Message::Request(Request::new(
            lsp_server::RequestId::from("cpg-watch".to_string()),
            "client/registerCapability".to_string(),
            watch,
        )))?;
    }
    let sender = connection.sender.clone();
    let publisher = Publisher {
        send: Arc::new(move |m| {
            let _ = sender.send(m);
        }),
        kinds: DiagnosticKinds::from_options(&params["initializationOptions"]),
        generation: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        published: Arc::new(std::sync::Mutex::new(std::collections::HashSet::new())),
        facts: Arc::new(std::sync::Mutex::new(Facts::default())),
        root: root.clone(),
    };
    let mut index = Index::build(&root, publisher.clone(), coordinators)?;
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection.handle_shutdown(&req).unwrap_or(true) {
                    break;
                }
                let id = req.id.clone();
                let response = if !METHODS.contains(&req.method.as_str()) {
                    Response::new_err(
                        id,
                        lsp_server::ErrorCode::MethodNotFound as i32,
                        format!("cpg lsp does not answer {}", req.method),
                    )
                } else {
                    index.catch_up();
                    match index.request(req) {
                        Ok(text) => {
                            stdio.answers.send(&id, &text)?;
                            continue;
                        }
                        Err(message) => Response::new_err(
                            id,
                            lsp_server::ErrorCode::InvalidParams as i32,
                            message,
                        ),
                    }
                };
                connection.sender.send(Message::Response(response))?;
            }
            Message::Notification(note) => {
                if let Err(e) = index.notification(note) {
                    eprintln!("cpg lsp: {e}");
                }
            }
            Message::Response(_) => {}
        }
    }
    // Diagnostics still being computed are not published any more: the
    // client has stopped reading, and a full pipe would hold the writer.
    publisher
        .generation
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    index.finish();
    drop(index);
    drop(publisher);
    stdio.join()?;
    Ok(())
}

/// The workspace folder the editor opened (`rootUri`, the first workspace
/// folder, or `rootPath`), else the current folder.
fn workspace_root(params: &Value) -> Result<PathBuf> {
    let uri = params["workspaceFolders"][0]["uri"]
        .as_str()
        .or_else(|| params["rootUri"].as_str());
    if let Some(uri) = uri {
        return path_of(uri).ok_or_else(|| anyhow::anyhow!("not a file URI: {uri}"));
    }
    if let Some(path) = params["rootPath"].as_str() {
        return Ok(PathBuf::from(path));
    }
    Ok(std::env::current_dir()?)
}

/// The path of a `file://` URI (percent-decoded).
fn path_of(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

/// The `file://` URI of an absolute path.
fn uri_of(path: &Path) -> Option<Uri> {
    let mut s = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                s.push(b as char)
            }
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    s.parse().ok()
}

/// UTF-16 code units before byte `col` of `line`.
fn utf16_of(line: &str, col: usize) -> u32 {
    let col = col.min(line.len());
    let mut end = col;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].encode_utf16().count() as u32
}

/// The byte column of UTF-16 column `units` of `line`.
fn byte_of(line: &str, units: u32) -> usize {
    let mut seen = 0u32;
    for (i, c) in line.char_indices() {
        if seen >= units {
            return i;
        }
        seen += c.len_utf16() as u32;
    }
    line.len()
}

/// What a range in the source names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Function(u32),
    Module(String),
}

/// A name in the source: 0-based line, byte columns.
#[derive(Debug, Clone)]
struct Occurrence {
    line: u32,
    start: usize,
    end: usize,
    target: Target,
    definition: bool,
}

struct Index {
    root: PathBuf,
    /// Where the analysis comes from.
    source: Source,
    /// Sends the diagnostics of each new analysis.
    publisher: Publisher,
    graph: Arc<CallGraph>,
    summaries: Vec<Arc<proto::ModuleSummary>>,
    /// Module name → its place in `summaries`.
    modules: HashMap<String, usize>,
    /// Function id → its module's and its own place in `summaries`.
    functions: HashMap<u32, (usize, usize)>,
    /// File → its URI (made once: answers name the same files many times).
    uris: HashMap<String, Uri>,
    /// File (relative to the root) → its lines.
    texts: HashMap<String, Vec<String>>,
    /// File → names in it, sorted by position.
    files: HashMap<String, Vec<Occurrence>>,
    /// Where each function and module is defined (file, occurrence).
    definitions: HashMap<Target, (String, Occurrence)>,
    /// Call sites of each function: (file, occurrence).
    references: HashMap<u32, Vec<(String, Occurrence)>>,
    /// Texts of open documents, by line (as the editor holds them).
    open: HashMap<String, Vec<String>>,
    /// Open documents whose text differs from what was last analysed: they
    /// are parsed from the editor's text before the next request.
    pending: HashMap<String, String>,
    /// Documents analysed from the editor's text, not the file's.
    unsaved: std::collections::HashSet<String>,
}

/// The byte range of `name` in `line` at or after `from` (as a word).
fn find_name(line: &str, name: &str, from: usize) -> Option<(usize, usize)> {
    if name.is_empty() {
        return None;
    }
    let word = |c: char| c.is_alphanumeric() || "_?!".contains(c);
    let mut at = from.min(line.len());
    while !line.is_char_boundary(at) {
        at -= 1;
    }
    while let Some(i) = line[at..].find(name) {
        let s = at + i;
        let e = s + name.len();
        let before = line[..s]
            .chars()
            .next_back()
            .is_none_or(|c| !word(c) || c == '.');
        let after = line[e..].chars().next().is_none_or(|c| !word(c));
        if before && after {
            return Some((s, e));
        }
        at = e;
    }
    None
}

/// Where the analysis comes from.
enum Source {
    /// Analysed here (summaries cached on disk between runs): saved and
    /// edited files are parsed again into it alone.
    Embedded(Box<Workspace>),
    /// A cluster holds it (a team's shared index): the workspace is ingested
    /// when the server starts and when a file is saved (only changed files
    /// travel), and the cluster's summaries are linked here. A saved file
    /// is also parsed here at once, so that answers show it before the
    /// cluster has it; the ingest and the fetch of the cluster's summaries
    /// that follows run in the background.
    Cluster {
        coordinators: Vec<String>,
        runtime: tokio::runtime::Runtime,
        /// The cluster's summaries as last fetched: modules, libraries.
        base: ClusterSet,
        /// Files saved since, parsed here (no modules: deleted). A saved
        /// module that owns templates lacks their functions until the
        /// cluster's summaries come back with them attached.
        overlay: BTreeMap<String, Vec<Arc<proto::ModuleSummary>>>,
        sync: Arc<Background>,
    },
}

/// The summaries of a cluster's project: modules, libraries.
type ClusterSet = (
    Vec<Arc<proto::ModuleSummary>>,
    Vec<Arc<proto::ModuleSummary>>,
);

/// Background ingests of saved files, each followed by a fetch of the
/// cluster's summaries.
#[derive(Default)]
struct Background {
    /// Jobs started and not finished.
    running: std::sync::atomic::AtomicUsize,
    /// One job at a time talks to the cluster.
    turn: tokio::sync::Mutex<()>,
    /// The summaries the last job fetched, not yet taken.
    fetched: std::sync::Mutex<Option<ClusterSet>>,
}

/// The cluster's summaries of the command line's project.
async fn cluster_set(coordinators: &[String]) -> std::result::Result<ClusterSet, String> {
    let answer = query_cluster(coordinators, Query::Summaries)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let QueryResult::Summaries(set) = Arc::unwrap_or_clone(answer.result) else {
        return Err("the cluster answered the summaries with something else".into());
    };
    let set = *set;
    Ok((
        set.modules.into_iter().map(Arc::new).collect(),
        set.libraries.into_iter().map(Arc::new).collect(),
    ))
}

impl Index {
    fn build(root: &Path, publisher: Publisher, coordinators: &[String]) -> Result<Index> {
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
    fn snapshot(&self) -> std::result::Result<query::Snapshot, String> {
        match &self.source {
            Source::Embedded(workspace) => Ok(workspace.snapshot()),
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
                Ok(query::Snapshot::of_summaries(modules, libraries.clone()))
            }
        }
    }

    /// Take the summaries a finished background job fetched, once no job
    /// is left (a later one has the later saves): the cluster has every
    /// saved file then, and its answer replaces what was parsed here.
    fn adopt_fetched(&mut self) -> bool {
        let Source::Cluster {
            base,
            overlay,
            sync,
            ..
        } = &mut self.source
        else {
            return false;
        };
        if sync.running.load(std::sync::atomic::Ordering::Acquire) > 0 {
            return false;
        }
        let Some(set) = sync.fetched.lock().ok().and_then(|mut f| f.take()) else {
            return false;
        };
        *base = set;
        overlay.clear();
        true
    }

    /// Wait (a minute at most) for the background ingests of saved files:
    /// what was saved reaches the cluster before the server exits.
    fn finish(&self) {
        let Source::Cluster { sync, .. } = &self.source else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while sync.running.load(std::sync::atomic::Ordering::Acquire) > 0 {
            if Instant::now() > deadline {
                eprintln!("cpg lsp: saved files are still being sent to the cluster; stopping anyway (cpg ingest sends them)");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Link the analysis's current content and index it again (an
    /// unreachable cluster leaves the index as it was).
    fn relink(&mut self) -> std::result::Result<(), String> {
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
    fn catch_up(&mut self) {
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
    fn saved(&mut self, file: &str) {
        self.saved_all(&[file.to_string()]);
    }

    /// Files saved, created or deleted together (a branch switched, a pull):
    /// each is parsed again, then one relink and one trip to the cluster.
    fn saved_all(&mut self, files: &[String]) {
        let started = Instant::now();
        let mut sources = 0;
        for file in files {
            self.texts.remove(file);
            self.pending.remove(file);
            self.unsaved.remove(file);
            if !(file.ends_with(".ex") || file.ends_with(".exs")) {
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

    /// Ingest the workspace's changes into the cluster in the background
    /// (one job at a time), then fetch the cluster's summaries for
    /// [`Index::adopt_fetched`].
    fn send_to_cluster(&self, file: &str) {
        let Source::Cluster {
            coordinators,
            runtime,
            sync,
            ..
        } = &self.source
        else {
            return;
        };
        sync.running
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let (sync, coordinators, root) =
            (Arc::clone(sync), coordinators.clone(), self.root.clone());
        let file = file.to_string();
        runtime.spawn(async move {
            let turn = sync.turn.lock().await;
            match ingest_once(&coordinators, &root, false).await {
                Ok(_) => match cluster_set(&coordinators).await {
                    Ok(set) => {
                        if let Ok(mut fetched) = sync.fetched.lock() {
                            *fetched = Some(set);
                        }
                    }
                    Err(e) => eprintln!("cpg lsp: the cluster's summaries: {e}"),
                },
                Err(e) => eprintln!("cpg lsp: {file} could not be sent to the cluster: {e:#}"),
            }
            drop(turn);
            sync.running
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        });
    }

    fn load(&mut self, file: &str) {
        if !self.texts.contains_key(file) {
            let text = std::fs::read_to_string(self.root.join(file)).unwrap_or_default();
            self.texts
                .insert(file.to_string(), text.lines().map(str::to_string).collect());
        }
    }

    fn line(&self, file: &str, line: u32) -> &str {
        self.open
            .get(file)
            .or_else(|| self.texts.get(file))
            .and_then(|l| l.get(line as usize))
            .map_or("", String::as_str)
    }

    fn add(&mut self, file: &str, o: Occurrence) {
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

    fn fill(&mut self) {
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
            if e.line == 0 || !self.texts.contains_key(&*e.file) {
                continue;
            }
            let name = graph.mfa(e.callee).name.clone();
            let l = e.line - 1;
            let line = self.line(&e.file, l).to_string();
            let from = e.column.saturating_sub(1) as usize;
            let (start, end) = find_name(&line, &name, from).unwrap_or((from, from + name.len()));
            self.add(
                &e.file,
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
    fn definition(&mut self, file: &str, line: u32, keyword: &str, name: &str, target: Target) {
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

    fn relative(&self, uri: &str) -> std::result::Result<String, String> {
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

    fn range(&self, file: &str, o: &Occurrence) -> Range {
        let line = self.line(file, o.line);
        Range::new(
            Position::new(o.line, utf16_of(line, o.start)),
            Position::new(o.line, utf16_of(line, o.end)),
        )
    }

    fn location(&self, file: &str, o: &Occurrence) -> Option<Location> {
        Some(Location::new(self.uri(file)?, self.range(file, o)))
    }

    /// The name at a position of a document.
    fn at(&self, params: &Value) -> std::result::Result<Option<(String, Occurrence)>, String> {
        let uri = params["textDocument"]["uri"]
            .as_str()
            .ok_or("no textDocument.uri")?;
        let file = self.relative(uri)?;
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

    fn item(&self, id: u32, detail: Option<String>) -> Option<CallHierarchyItem> {
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

    fn summary(&self, id: u32) -> Option<&proto::FunctionSummary> {
        let &(m, f) = self.functions.get(&id)?;
        self.summaries.get(m)?.functions.get(f)
    }

    fn uri(&self, file: &str) -> Option<Uri> {
        match self.uris.get(file) {
            Some(uri) => Some(uri.clone()),
            None => uri_of(&self.root.join(file)),
        }
    }

    /// The functions calling `id` (`incoming`) or called by it, each with
    /// the ranges of those calls; process edges say so in the item's detail.
    fn hierarchy(&self, id: u32, incoming: bool) -> Vec<(CallHierarchyItem, Vec<Range>)> {
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
            entry.1.extend(self.call_range(&e.file, e.line, e.callee));
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
    fn call_range(&self, file: &str, line: u32, callee: u32) -> Option<Range> {
        let list = self.files.get(file)?;
        let l = line.checked_sub(1)?;
        let from = list.partition_point(|o| o.line < l);
        list[from..]
            .iter()
            .take_while(|o| o.line == l)
            .find(|o| !o.definition && o.target == Target::Function(callee))
            .map(|o| self.range(file, o))
    }

    fn item_id(&self, params: &Value) -> std::result::Result<u32, String> {
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

    /// The answer to `req`, as JSON text.
    fn request(&mut self, req: Request) -> std::result::Result<String, String> {
        let p = &req.params;
        match req.method.as_str() {
            "textDocument/definition" => {
                let Some((_, o)) = self.at(p)? else {
                    return Ok("null".into());
                };
                let found = self
                    .definitions
                    .get(&o.target)
                    .and_then(|(file, d)| self.location(file, d));
                Ok(to_json(&found.map(GotoDefinitionResponse::Scalar)))
            }
            "textDocument/references" => {
                let Some((_, o)) = self.at(p)? else {
                    return Ok("[]".into());
                };
                let mut out: Vec<Location> = Vec::new();
                if p["context"]["includeDeclaration"]
                    .as_bool()
                    .unwrap_or(false)
                {
                    if let Some((file, d)) = self.definitions.get(&o.target) {
                        out.extend(self.location(file, d));
                    }
                }
                if let Target::Function(id) = o.target {
                    for (file, r) in self.references.get(&id).into_iter().flatten() {
                        out.extend(self.location(file, r));
                    }
                }
                Ok(to_json(&out))
            }
            "textDocument/prepareCallHierarchy" => {
                let Some((_, o)) = self.at(p)? else {
                    return Ok("null".into());
                };
                let Target::Function(id) = o.target else {
                    return Ok("null".into());
                };
                Ok(to_json(&self.item(id, None).map(|i| vec![i])))
            }
            "callHierarchy/incomingCalls" => {
                let calls: Vec<CallHierarchyIncomingCall> = self
                    .hierarchy(self.item_id(p)?, true)
                    .into_iter()
                    .map(|(from, from_ranges)| CallHierarchyIncomingCall { from, from_ranges })
                    .collect();
                Ok(to_json(&calls))
            }
            "callHierarchy/outgoingCalls" => {
                let calls: Vec<CallHierarchyOutgoingCall> = self
                    .hierarchy(self.item_id(p)?, false)
                    .into_iter()
                    .map(|(to, from_ranges)| CallHierarchyOutgoingCall { to, from_ranges })
                    .collect();
                Ok(to_json(&calls))
            }
            "workspace/symbol" => {
                let q = p["query"].as_str().unwrap_or("").to_lowercase();
                let mut out: Vec<SymbolInformation> = Vec::new();
                for (target, (file, o)) in &self.definitions {
                    let (name, kind) = match target {
                        Target::Function(id) => {
                            (self.graph.mfa(*id).to_string(), SymbolKind::FUNCTION)
                        }
                        Target::Module(m) => (m.clone(), SymbolKind::MODULE),
                    };
                    if !name.to_lowercase().contains(&q) {
                        continue;
                    }
                    if let Some(location) = self.location(file, o) {
                        #[allow(deprecated)]
                        out.push(SymbolInformation {
                            name,
                            kind,
                            tags: None,
                            deprecated: None,
                            location,
                            container_name: None,
                        });
                    }
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                out.truncate(MAX_SYMBOLS);
                Ok(to_json(&out))
            }
            "textDocument/documentSymbol" => {
                let uri = p["textDocument"]["uri"]
                    .as_str()
                    .ok_or("no textDocument.uri")?;
                let file = self.relative(uri)?;
                let mut out = Vec::new();
                for m in self.summaries.iter().filter(|m| m.file == file) {
                    let Some((_, mo)) = self.definitions.get(&Target::Module(m.name.clone()))
                    else {
                        continue;
                    };
                    let mut children = Vec::new();
                    let mut last_line = mo.line;
                    for f in &m.functions {
                        let Some(id) = self.graph.id(&Mfa::new(&m.name, &f.name, f.arity)) else {
                            continue;
                        };
                        let Some(item) = self.item(id, None) else {
                            continue;
                        };
                        last_line = last_line.max(item.range.end.line);
                        #[allow(deprecated)]
                        children.push(DocumentSymbol {
                            name: format!("{}/{}", f.name, f.arity),
                            detail: Some(format!("{:?}", f.kind).to_lowercase()),
                            kind: SymbolKind::FUNCTION,
                            tags: None,
                            deprecated: None,
                            range: item.range,
                            selection_range: item.selection_range,
                            children: None,
                        });
                    }
                    let selection = self.range(&file, mo);
                    #[allow(deprecated)]
                    out.push(DocumentSymbol {
                        name: m.name.clone(),
                        detail: None,
                        kind: SymbolKind::MODULE,
                        tags: None,
                        deprecated: None,
                        range: Range::new(
                            Position::new(mo.line, 0),
                            Position::new(
                                last_line,
                                utf16_of(self.line(&file, last_line), usize::MAX),
                            ),
                        ),
                        selection_range: selection,
                        children: Some(children),
                    });
                }
                Ok(to_json(&DocumentSymbolResponse::Nested(out)))
            }
            "textDocument/hover" => {
                let Some((_, o)) = self.at(p)? else {
                    return Ok("null".into());
                };
                let text = match &o.target {
                    Target::Function(id) => {
                        let mfa = self.graph.mfa(*id);
                        let callers: std::collections::BTreeSet<u32> =
                            self.graph.calls_to(*id).map(|e| e.caller).collect();
                        let callees: std::collections::BTreeSet<u32> =
                            self.graph.calls_from(*id).map(|e| e.callee).collect();
                        let mut s = format!("**{mfa}**\n\n");
                        if let Some(f) = self.summary(*id) {
                            s.push_str(&format!(
                                "{} clause(s), {} line(s), cyclomatic complexity {}, nesting {}\n\n",
                                f.metrics.clauses, f.metrics.lines, f.metrics.cyclomatic, f.metrics.nesting
                            ));
                        } else {
                            s.push_str("not in the analysed code\n\n");
                        }
                        s.push_str(&format!(
                            "called by {} function(s) ({} call sites); calls {} function(s)",
                            callers.len(),
                            self.references.get(id).map_or(0, Vec::len),
                            callees.len()
                        ));
                        if let Ok(facts) = self.publisher.facts.lock() {
                            s.push_str("\n\n");
                            s.push_str(&facts.line(&mfa.to_string()));
                        }
                        s
                    }
                    Target::Module(m) => {
                        let functions = self
                            .modules
                            .get(m)
                            .map_or(0, |&i| self.summaries[i].functions.len());
                        format!("**{m}**\n\n{functions} function(s)")
                    }
                };
                Ok(to_json(&Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: text,
                    }),
                    range: None,
                }))
            }
            "textDocument/codeLens" => {
                let uri = p["textDocument"]["uri"]
                    .as_str()
                    .ok_or("no textDocument.uri")?;
                let file = self.relative(uri)?;
                let lenses: Vec<CodeLens> = self
                    .files
                    .get(&file)
                    .into_iter()
                    .flatten()
                    .filter(|o| o.definition)
                    .filter_map(|o| match o.target {
                        // Resolved lazily: the client asks for the count
                        // of the lenses it shows (`codeLens/resolve`).
                        Target::Function(id) => Some(CodeLens {
                            range: self.range(&file, o),
                            command: None,
                            data: Some(Value::String(self.graph.mfa(id).to_string())),
                        }),
                        Target::Module(_) => None,
                    })
                    .collect();
                Ok(to_json(&lenses))
            }
            "codeLens/resolve" => {
                let mut lens: CodeLens = serde_json::from_value(p.clone())
                    .map_err(|e| format!("not a code lens: {e}"))?;
                let name = lens
                    .data
                    .as_ref()
                    .and_then(Value::as_str)
                    .ok_or("a code lens of cpg lsp carries its function as data")?;
                let mfa: Mfa = name
                    .parse()
                    .map_err(|_| format!("not Module.fun/arity: {name}"))?;
                let id = self
                    .graph
                    .id(&mfa)
                    .ok_or_else(|| format!("{name} is not in the analysed code any more"))?;
                let callers: std::collections::BTreeSet<u32> =
                    self.graph.calls_to(id).map(|e| e.caller).collect();
                lens.command = Some(LspCommand {
                    title: match callers.len() {
                        1 => "1 caller".to_string(),
                        n => format!("{n} callers"),
                    },
                    command: String::new(),
                    arguments: None,
                });
                Ok(to_json(&lens))
            }
            other => Err(format!("cpg lsp does not answer {other}")),
        }
    }

    fn notification(&mut self, note: Notification) -> std::result::Result<(), String> {
        let p = &note.params;
        match note.method.as_str() {
            "textDocument/didOpen" | "textDocument/didChange" => {
                let uri = p["textDocument"]["uri"]
                    .as_str()
                    .ok_or("no textDocument.uri")?;
                let file = self.relative(uri)?;
                let text = p["textDocument"]["text"]
                    .as_str()
                    .or_else(|| p["contentChanges"][0]["text"].as_str());
                if let Some(text) = text {
                    let lines: Vec<String> = text.lines().map(str::to_string).collect();
                    let source = file.ends_with(".ex") || file.ends_with(".exs");
                    // Opening a document as saved changes nothing; an edit,
                    // or a text unlike the file's, is analysed before the
                    // next request.
                    let as_analysed = if self.unsaved.contains(&file) {
                        self.open.get(&file)
                    } else {
                        self.texts.get(&file)
                    };
                    if source && as_analysed != Some(&lines) {
                        self.pending.insert(file.clone(), text.to_string());
                    }
                    self.open.insert(file, lines);
                }
            }
            "textDocument/didClose" => {
                let uri = p["textDocument"]["uri"]
                    .as_str()
                    .ok_or("no textDocument.uri")?;
                let file = self.relative(uri)?;
                self.open.remove(&file);
                self.pending.remove(&file);
                // Closed without saving: the file's text counts again.
                if self.unsaved.contains(&file) {
                    self.saved(&file);
                }
            }
            "textDocument/didSave" => {
                let uri = p["textDocument"]["uri"]
                    .as_str()
                    .ok_or("no textDocument.uri")?;
                let file = self.relative(uri)?;
                self.saved(&file);
            }
            "workspace/didChangeWatchedFiles" => {
                let changes = p["changes"].as_array().cloned().unwrap_or_default();
                let files: Vec<String> = changes
                    .iter()
                    .filter_map(|c| c["uri"].as_str().and_then(|u| self.relative(u).ok()))
                    .collect();
                self.saved_all(&files);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Which findings become diagnostics: `initializationOptions` may hold
/// `{"diagnostics": ["taint", "cycles", "smells"]}` (all three when not
/// given; `[]` for none).
#[derive(Debug, Clone, Copy)]
struct DiagnosticKinds {
    taint: bool,
    cycles: bool,
    smells: bool,
}

impl DiagnosticKinds {
    fn from_options(options: &Value) -> DiagnosticKinds {
        match options["diagnostics"].as_array() {
            Some(list) => {
                let on = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
                DiagnosticKinds {
                    taint: on("taint"),
                    cycles: on("cycles"),
                    smells: on("smells"),
                }
            }
            None => DiagnosticKinds {
                taint: true,
                cycles: true,
                smells: true,
            },
        }
    }
}

/// Publishes the diagnostics of an analysis from a thread of its own, so
/// that requests are answered meanwhile; a newer analysis makes an older
/// one's diagnostics moot before they are sent.
#[derive(Clone)]
struct Publisher {
    send: Arc<dyn Fn(Message) + Send + Sync>,
    kinds: DiagnosticKinds,
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// The files that have diagnostics on the client (to clear them).
    published: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// What the last finished analysis says of functions, for hover.
    facts: Arc<std::sync::Mutex<Facts>>,
    root: PathBuf,
}

/// Whole-graph facts about functions (by `Module.fun/arity`), from the last
/// analysis the diagnostics thread finished.
#[derive(Debug, Default)]
struct Facts {
    ready: bool,
    in_cycle: std::collections::HashSet<String>,
    dead: std::collections::HashSet<String>,
    sources: std::collections::HashSet<String>,
    sinks: std::collections::HashSet<String>,
}

impl Facts {
    fn of(snapshot: &query::Snapshot) -> Facts {
        let mut facts = Facts {
            ready: true,
            ..Facts::default()
        };
        if let Ok(a) = answer(snapshot, &Query::Cycles) {
            if let QueryResult::Cycles(c) = &*a.result {
                for cycle in &c.functions {
                    facts
                        .in_cycle
                        .extend(cycle.functions.iter().map(ToString::to_string));
                }
            }
        }
        if let Ok(a) = answer(
            snapshot,
            &Query::DeadCode {
                entries: Vec::new(),
            },
        ) {
            if let QueryResult::DeadCode(d) = &*a.result {
                facts.dead.extend(d.iter().map(|f| f.mfa.to_string()));
            }
        }
        let rules = analysis::default_taint_rules();
        if let Ok(a) = answer(snapshot, &Query::Taint { rules }) {
            if let QueryResult::Taint(t) = &*a.result {
                for f in &t.findings {
                    facts
                        .sources
                        .extend(f.steps.first().map(|s| s.function.to_string()));
                    facts
                        .sinks
                        .extend(f.steps.last().map(|s| s.function.to_string()));
                }
            }
        }
        facts
    }

    /// The hover's line about `function`.
    fn line(&self, function: &str) -> String {
        if !self.ready {
            return "cycles, dead code and taint: still being analysed".to_string();
        }
        let yes = |b: bool| if b { "yes" } else { "no" };
        format!(
            "in a function cycle: {}; dead (public, never called): {}; taint source: {}; taint sink: {}",
            yes(self.in_cycle.contains(function)),
            yes(self.dead.contains(function)),
            yes(self.sources.contains(function)),
            yes(self.sinks.contains(function)),
        )
    }
}

impl Publisher {
    fn publish(&self, snapshot: Arc<query::Snapshot>) {
        use std::sync::atomic::Ordering;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let me = self.clone();
        std::thread::spawn(move || {
            let by_file = me.diagnostics(&snapshot);
            let facts = Facts::of(&snapshot);
            if me.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            if let Ok(mut f) = me.facts.lock() {
                *f = facts;
            }
            let Ok(mut published) = me.published.lock() else {
                return;
            };
            let files: std::collections::HashSet<String> = by_file.keys().cloned().collect();
            let cleared: Vec<String> = published.difference(&files).cloned().collect();
            for file in cleared.into_iter().chain(files.iter().cloned()) {
                if me.generation.load(Ordering::SeqCst) != generation {
                    return;
                }
                let Some(uri) = uri_of(&me.root.join(&file)) else {
                    continue;
                };
                let params = PublishDiagnosticsParams {
                    uri,
                    diagnostics: by_file.get(&file).cloned().unwrap_or_default(),
                    version: None,
                };
                (me.send)(Message::Notification(Notification::new(
                    "textDocument/publishDiagnostics".to_string(),
                    params,
                )));
            }
            *published = files;
        });
    }

    fn diagnostics(&self, snapshot: &query::Snapshot) -> HashMap<String, Vec<Diagnostic>> {
        let mut out: HashMap<String, Vec<Diagnostic>> = HashMap::new();
        let line_range = |line: u32| {
            let l = line.saturating_sub(1);
            Range::new(Position::new(l, 0), Position::new(l, u32::MAX >> 1))
        };
        let mut add = |file: &str, d: Diagnostic| out.entry(file.to_string()).or_default().push(d);
        let diagnostic = |range, severity, code: String, message: String| Diagnostic {
            range,
            severity: Some(severity),
            code: Some(NumberOrString::String(code)),
            code_description: None,
            source: Some("cpg".to_string()),
            message,
            related_information: None,
            tags: None,
            data: None,
        };
        if self.kinds.taint {
            let rules = analysis::default_taint_rules();
            if let Ok(a) = answer(snapshot, &Query::Taint { rules }) {
                if let QueryResult::Taint(t) = &*a.result {
                    for f in &t.findings {
                        let Some(sink) = f.steps.last() else { continue };
                        let severity = match f.severity {
                            proto::Severity::High => DiagnosticSeverity::ERROR,
                            proto::Severity::Medium => DiagnosticSeverity::WARNING,
                            proto::Severity::Low => DiagnosticSeverity::INFORMATION,
                        };
                        let mut d = diagnostic(
                            line_range(sink.line),
                            severity,
                            format!("taint/{}", f.sink.replace(' ', "-")),
                            format!(
                                "{} reaches {} ({}) in {} steps",
                                f.source,
                                f.sink,
                                f.sink_call,
                                f.steps.len()
                            ),
                        );
                        d.related_information = Some(
                            f.steps
                                .iter()
                                .filter_map(|s| {
                                    Some(DiagnosticRelatedInformation {
                                        location: Location::new(
                                            uri_of(&self.root.join(&s.file))?,
                                            line_range(s.line),
                                        ),
                                        message: s.what.clone(),
                                    })
                                })
                                .collect(),
                        );
                        add(&sink.file, d);
                    }
                }
            }
        }
        if self.kinds.cycles {
            if let Ok(a) = answer(snapshot, &Query::Cycles) {
                if let QueryResult::Cycles(c) = &*a.result {
                    for cycle in &c.modules {
                        let message = format!(
                            "in a module cycle: {} depend on each other",
                            cycle.modules.join(", ")
                        );
                        for m in &cycle.modules {
                            if let Some(s) = snapshot.summaries.iter().find(|s| &s.name == m) {
                                add(
                                    &s.file,
                                    diagnostic(
                                        line_range(s.line),
                                        DiagnosticSeverity::WARNING,
                                        "cycle/modules".to_string(),
                                        message.clone(),
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        if self.kinds.smells {
            let thresholds = SmellThresholds::default();
            if let Ok(a) = answer(snapshot, &Query::Smells { thresholds }) {
                if let QueryResult::Smells(list) = &*a.result {
                    for s in list {
                        add(
                            &s.file,
                            diagnostic(
                                line_range(s.line),
                                DiagnosticSeverity::INFORMATION,
                                format!("smell/{}", s.kind),
                                format!(
                                    "{}: {} ({})",
                                    s.subject,
                                    s.kind.replace('_', " "),
                                    s.detail
                                ),
                            ),
                        );
                    }
                }
            }
        }
        out
    }
}

/// A request's result as JSON.
/// `v` as JSON text (`null` if it cannot be: no answer type here fails).
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_round_trip_over_non_ascii() {
        let line = "  héllo(\"日本\", 𝔸) |> f()";
        for (i, _) in line.char_indices() {
            assert_eq!(byte_of(line, utf16_of(line, i)), i);
        }
        // 20 characters before `f`: 𝔸 is two UTF-16 units, é and 日 one each.
        assert_eq!(utf16_of(line, line.find('f').unwrap()), 21);
    }

    #[test]
    fn file_uris_round_trip() {
        let p = Path::new("/w/my app/lib/ü.ex");
        let uri = uri_of(p).unwrap();
        assert_eq!(uri.as_str(), "file:///w/my%20app/lib/%C3%BC.ex");
        assert_eq!(path_of(uri.as_str()).unwrap(), p);
    }

    #[test]
    fn names_are_found_as_words() {
        assert_eq!(
            find_name("  defp get(x), do: get_all(x)", "get", 2),
            Some((7, 10))
        );
        assert_eq!(
            find_name("Mod.get_all(x) |> get()", "get", 0),
            Some((18, 21))
        );
        assert_eq!(find_name("x = get_all", "get", 0), None);
    }
}
