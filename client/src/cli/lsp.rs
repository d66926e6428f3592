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

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use codebase::workspace::Workspace;
use lsp_server::{Message, Request, Response};
use lsp_types::{
    CallHierarchyServerCapability, CodeLensOptions, HoverProviderCapability, OneOf,
    ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, Uri,
};
use partition::analysis::CallGraph;
use serde_json::Value;

mod cluster;
mod diagnostics;
mod index;
mod requests;
mod text;
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
        return text::path_of(uri).ok_or_else(|| anyhow::anyhow!("not a file URI: {uri}"));
    }
    if let Some(path) = params["rootPath"].as_str() {
        return Ok(PathBuf::from(path));
    }
    Ok(std::env::current_dir()?)
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

/// Which findings become diagnostics: `initializationOptions` may hold
/// `{"diagnostics": ["taint", "cycles", "smells"]}` (all three when not
/// given; `[]` for none).
#[derive(Debug, Clone, Copy)]
struct DiagnosticKinds {
    taint: bool,
    cycles: bool,
    smells: bool,
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

/// A request's result as JSON.
/// `v` as JSON text (`null` if it cannot be: no answer type here fails).
fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
