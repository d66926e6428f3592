//! The Model Context Protocol tool server for coding agents.
//!
//! Its tools ask the same `Query` kinds as the CLI of a [`Backend`]: a
//! folder analysed in process ([`Embedded`], `cpg mcp`), a cluster reached
//! as a client (`cpg mcp --coordinator`), or the coordinator that serves it
//! over streamable HTTP (`/mcp` on its HTTP listener). Every tool is
//! read-only. Lists come in pages (`offset`, `limit`; the answer says
//! `total` and the `next_offset`), so an answer stays small whatever the
//! code base. A mistake in the input is a tool error whose message says
//! what to change.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use partition::analysis;
use proto::{GraphKind, Metric, Mfa, Query, QueryResult, SmellThresholds};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Serialize;
use serde_json::{json, Value};

/// Items of a page when the call does not say.
const PAGE: usize = 50;
/// The most items of a page.
const MAX_PAGE: usize = 500;
/// How long a function list asked of the backend is reused for symbol
/// searches.
const SYMBOLS_TTL: Duration = Duration::from_secs(10);

/// Where the tools' answers come from.
pub trait Backend: Send + Sync + 'static {
    /// The answer to `query` on `project` (`None`: the backend's own or the
    /// default project).
    fn ask(
        &self,
        project: Option<String>,
        query: Query,
    ) -> impl Future<Output = Result<Arc<QueryResult>, String>> + Send;

    /// What the code is, for the server's instructions ("the Elixir code
    /// under ...").
    fn describe(&self) -> String;

    /// The folder the analysed files are read from, when the backend has
    /// them (`function_source` needs it).
    fn root(&self) -> Option<&Path> {
        None
    }

    /// The functions, when the backend lists them once; otherwise the
    /// server asks for `Query::Features` and keeps the list a few seconds.
    fn symbols(&self) -> Option<Arc<Vec<Symbol>>> {
        None
    }
}

/// The project a request over HTTP names (`/mcp?project=NAME`; project
/// names need no escaping).
fn project_of(uri: &http::Uri) -> Option<String> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("project="))
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// A folder analysed in this process: its snapshot does not change.
#[derive(Debug)]
pub struct Embedded {
    root: PathBuf,
    snapshot: Arc<query::Snapshot>,
    symbols: Arc<Vec<Symbol>>,
}

impl Embedded {
    pub fn new(root: PathBuf, snapshot: Arc<query::Snapshot>) -> Embedded {
        let symbols = Arc::new(symbols_of(&snapshot));
        Embedded {
            root,
            snapshot,
            symbols,
        }
    }
}

impl Backend for Embedded {
    async fn ask(
        &self,
        _project: Option<String>,
        query: Query,
    ) -> Result<Arc<QueryResult>, String> {
        let snapshot = Arc::clone(&self.snapshot);
        tokio::task::spawn_blocking(move || query::answer(&snapshot, &query))
            .await
            .map_err(|e| format!("the analysis stopped: {e}"))?
            .map(|a| a.result)
            .map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        format!("the Elixir code under {}", self.root.display())
    }

    fn root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn symbols(&self) -> Option<Arc<Vec<Symbol>>> {
        Some(Arc::clone(&self.symbols))
    }
}

/// The functions of an analysis, by name.
fn symbols_of(snapshot: &query::Snapshot) -> Vec<Symbol> {
    let mut out = Vec::new();
    for m in &snapshot.summaries {
        for f in &m.functions {
            out.push(Symbol {
                function: Mfa::new(&m.name, &f.name, f.arity).to_string(),
                module: m.name.clone(),
                file: m.file.clone(),
                line: f.line,
                lines: f.metrics.lines,
            });
        }
    }
    out.sort_by(|a, b| a.function.cmp(&b.function));
    out.dedup_by(|a, b| a.function == b.function);
    out
}

/// A function as symbol searches and source requests see it.
#[derive(Debug, Clone, Serialize)]
pub struct Symbol {
    function: String,
    module: String,
    file: String,
    line: u32,
    /// Source lines from its first clause to its last.
    lines: u32,
}

/// Function lists asked of the backend, by project, with when.
type SymbolCache = HashMap<Option<String>, (Instant, Arc<Vec<Symbol>>)>;

/// The MCP server over a backend (cheap to clone: one per HTTP request).
#[derive(Debug)]
pub struct Server<B> {
    backend: Arc<B>,
    symbols: Arc<tokio::sync::Mutex<SymbolCache>>,
}

impl<B> Clone for Server<B> {
    fn clone(&self) -> Self {
        Server {
            backend: Arc::clone(&self.backend),
            symbols: Arc::clone(&self.symbols),
        }
    }
}

impl<B: Backend> Server<B> {
    pub fn new(backend: B) -> Server<B> {
        Server {
            backend: Arc::new(backend),
            symbols: Arc::default(),
        }
    }

    async fn symbols(&self, project: &Option<String>) -> Result<Arc<Vec<Symbol>>, String> {
        if let Some(list) = self.backend.symbols() {
            return Ok(list);
        }
        let mut cached = self.symbols.lock().await;
        if let Some((at, list)) = cached.get(project) {
            if at.elapsed() < SYMBOLS_TTL {
                return Ok(Arc::clone(list));
            }
        }
        let QueryResult::Features(rows) =
            &*self.backend.ask(project.clone(), Query::Features).await?
        else {
            return Err("the cluster answered the function list with something else".into());
        };
        let list: Arc<Vec<Symbol>> = Arc::new(
            rows.iter()
                .map(|r| Symbol {
                    function: Mfa::new(&r.module, &r.function, r.arity).to_string(),
                    module: r.module.clone(),
                    file: r.file.clone(),
                    line: r.line,
                    lines: r.lines,
                })
                .collect(),
        );
        cached.insert(project.clone(), (Instant::now(), Arc::clone(&list)));
        Ok(list)
    }
}

/// A tool's JSON schema for its input: `properties`, the `required` ones.
fn schema(properties: Value, required: &[&str]) -> Arc<JsonObject> {
    let mut s =
        json!({ "type": "object", "properties": properties, "additionalProperties": false });
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    match s {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn paging() -> Value {
    json!({
        "offset": { "type": "integer", "minimum": 0, "description": "Items to skip (the previous answer's next_offset)." },
        "limit": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE, "description": format!("Items to return (default {PAGE}, at most {MAX_PAGE}).") },
    })
}

/// `extra` properties and the paging ones.
fn paged(extra: Value) -> Value {
    let mut p = paging();
    if let (Value::Object(p), Value::Object(e)) = (&mut p, extra) {
        p.extend(e);
    }
    p
}

fn function_arg(what: &str) -> Value {
    json!({ "type": "string", "description": format!("{what}, as Module.fun/arity (e.g. MyApp.Accounts.get_user/1); search_symbols finds it.") })
}

/// A JSON object schema of `properties`, all of them `required`.
fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

/// The schema of a page of `item`s.
fn page_of(item: Value) -> Value {
    object(
        json!({
            "total": { "type": "integer", "description": "Items in all." },
            "offset": { "type": "integer" },
            "next_offset": { "type": "integer", "description": "Where the next page starts (absent on the last)." },
            "items": { "type": "array", "items": item },
        }),
        &["total", "offset", "items"],
    )
}

/// What each tool answers (its `structuredContent`).
fn output_schema(tool: &str) -> Value {
    let mfa = object(
        json!({ "module": { "type": "string" }, "name": { "type": "string" }, "arity": { "type": "integer" } }),
        &["module", "name", "arity"],
    );
    let place = |extra: Value, required: &[&str]| {
        let mut p = json!({ "file": { "type": "string" }, "line": { "type": "integer" } });
        if let (Value::Object(p), Value::Object(e)) = (&mut p, extra) {
            p.extend(e);
        }
        let mut r = vec!["file", "line"];
        r.extend_from_slice(required);
        object(p, &r)
    };
    let any_object = json!({ "type": "object" });
    match tool {
        "callers" | "callees" => page_of(object(
            json!({ "depth": { "type": "integer" }, "mfa": mfa }),
            &["depth", "mfa"],
        )),
        "impact" => {
            let affected = object(
                json!({ "depth": { "type": "integer" }, "name": { "type": "string" } }),
                &["depth", "name"],
            );
            object(
                json!({
                    "target": { "type": "string" },
                    "kind": { "type": "string" },
                    "depth": { "type": "integer" },
                    "upstream": page_of(affected.clone()),
                    "downstream": page_of(affected),
                }),
                &["target", "kind", "upstream", "downstream"],
            )
        }
        "paths" => object(
            json!({
                "from": mfa,
                "to": mfa,
                "shortest": { "type": ["array", "null"], "items": mfa },
                "all": { "type": "array", "items": { "type": "array", "items": mfa } },
            }),
            &["from", "to", "shortest", "all"],
        ),
        "cycles" => object(
            json!({ "modules": page_of(any_object.clone()), "functions": page_of(any_object) }),
            &["modules", "functions"],
        ),
        "dead_code" => page_of(place(
            json!({ "mfa": mfa, "kind": { "type": "string" } }),
            &["mfa", "kind"],
        )),
        "taint" => {
            let mut v = page_of(object(
                json!({
                    "severity": { "type": "string", "enum": ["high", "medium", "low"] },
                    "source": { "type": "string" },
                    "sink": { "type": "string" },
                    "sink_call": mfa,
                    "steps": { "type": "array", "items": place(json!({ "what": { "type": "string" }, "function": mfa }), &["what"]) },
                }),
                &["severity", "source", "sink", "sink_call", "steps"],
            ));
            v["properties"]["sources"] = json!({ "type": "integer" });
            v["properties"]["truncated"] = json!({ "type": "boolean" });
            v
        }
        "smells" => page_of(place(
            json!({ "kind": { "type": "string" }, "subject": { "type": "string" }, "detail": { "type": "string" } }),
            &["kind", "subject", "detail"],
        )),
        "hotspots" => object(
            json!({
                "graph": { "type": "string" },
                "by": { "type": "string" },
                "nodes": { "type": "integer" },
                "edges": { "type": "integer" },
                "top": { "type": "array", "items": { "type": "object" } },
            }),
            &["graph", "by", "top"],
        ),
        "module_graph" => {
            let mut v = page_of(object(
                json!({ "name": { "type": "string" }, "file": { "type": "string" } }),
                &["name"],
            ));
            v["properties"]["edges"] = json!({ "type": "array", "items": { "type": "object" } });
            v
        }
        "search_symbols" => page_of(place(
            json!({ "function": { "type": "string" }, "module": { "type": "string" }, "lines": { "type": "integer" } }),
            &["function", "module"],
        )),
        "function_source" => object(
            json!({
                "function": { "type": "string" },
                "file": { "type": "string" },
                "first_line": { "type": "integer" },
                "last_line": { "type": "integer" },
                "text": { "type": "string" },
            }),
            &["function", "file", "first_line", "last_line", "text"],
        ),
        _ => any_object,
    }
}

fn tools() -> Vec<Tool> {
    let read_only = ToolAnnotations::new().read_only(true).destructive(false);
    let tool = |name: &'static str, description: &'static str, input: Arc<JsonObject>| {
        let mut t = Tool::new(name, description, input).annotate(read_only.clone());
        if let Value::Object(out) = output_schema(name) {
            t.output_schema = Some(Arc::new(out));
        }
        t
    };
    let depth = |default: u32| json!({ "type": "integer", "minimum": 1, "maximum": 10, "description": format!("How many calls away (default {default}).") });
    vec![
        tool(
            "callers",
            "Functions that call a function, directly or up to `depth` calls away (process edges such as GenServer calls included).",
            schema(
                paged(json!({ "function": function_arg("The function"), "depth": depth(proto::defaults::WALK_DEPTH) })),
                &["function"],
            ),
        ),
        tool(
            "callees",
            "Functions a function calls, directly or up to `depth` calls away.",
            schema(
                paged(json!({ "function": function_arg("The function"), "depth": depth(proto::defaults::WALK_DEPTH) })),
                &["function"],
            ),
        ),
        tool(
            "impact",
            "What is affected when a function or a module changes (upstream: what depends on it) and what it depends on (downstream), to `depth`.",
            schema(
                paged(json!({
                    "target": { "type": "string", "description": "Module.fun/arity, or a module name (MyApp.Accounts)." },
                    "depth": depth(proto::defaults::IMPACT_DEPTH),
                })),
                &["target"],
            ),
        ),
        tool(
            "paths",
            "Call paths from one function to another: the shortest, and simple paths of at most max_depth calls.",
            schema(
                json!({
                    "from": function_arg("Where the paths start"),
                    "to": function_arg("Where the paths end"),
                    "max_depth": { "type": "integer", "minimum": 1, "maximum": 12, "description": format!("Calls in a path at most (default {}).", proto::defaults::PATHS_MAX_DEPTH) },
                    "max_paths": { "type": "integer", "minimum": 1, "maximum": 100, "description": format!("Paths listed at most (default {}).", proto::defaults::PATHS_MAX) },
                }),
                &["from", "to"],
            ),
        ),
        tool(
            "cycles",
            "Module-level and function-level cycles, with the edges that form them (compile-time or runtime).",
            schema(paging(), &[]),
        ),
        tool(
            "dead_code",
            "Public functions nothing in the code calls (callbacks, protocol implementations, routed actions and the entry points given are not counted).",
            schema(
                paged(json!({ "entries": { "type": "array", "items": { "type": "string" }, "description": "Called from outside the code: Module.fun/arity, or a module for all its functions." } })),
                &[],
            ),
        ),
        tool(
            "taint",
            "Untrusted data (request parameters, environment, sockets, ...) reaching dangerous calls (atoms, code evaluation, commands, file paths, SQL, HTML, redirects), most severe first, each with its steps (file:line).",
            schema(
                paged(json!({ "rules": { "type": "string", "description": "Taint rules as TOML instead of the defaults (`cpg analyze taint --print-rules` prints them)." } })),
                &[],
            ),
        ),
        tool(
            "smells",
            "Code smells: god modules, cyclic dependencies, shotgun surgery, feature envy, high fan-in/fan-out, long, complex and deeply nested functions.",
            schema(paging(), &[]),
        ),
        tool(
            "hotspots",
            "The most central functions or modules by in/out degree, PageRank, betweenness or closeness.",
            schema(
                json!({
                    "graph": { "type": "string", "enum": ["functions", "modules"], "description": "Rank functions (default) or modules." },
                    "by": { "type": "string", "enum": ["in_degree", "out_degree", "pagerank", "betweenness", "closeness"], "description": "The figure (default pagerank)." },
                    "top": { "type": "integer", "minimum": 1, "maximum": 200, "description": format!("Entries (default {}).", proto::defaults::TOP) },
                }),
                &[],
            ),
        ),
        tool(
            "module_graph",
            "Modules (file, centrality, community) and the dependencies among them, a page of modules at a time with the edges that leave them.",
            schema(paging(), &[]),
        ),
        tool(
            "search_symbols",
            "Functions whose Module.fun/arity contains the query (case-insensitive), with file and line.",
            schema(
                paged(json!({ "query": { "type": "string", "minLength": 1, "description": "Part of a name: `get_user`, `Accounts.`, `/2`." } })),
                &["query"],
            ),
        ),
        tool(
            "function_source",
            "The source of a function: file, first and last line, and the text of its clauses (analysing a folder only; a cluster holds graphs, not file text).",
            schema(json!({ "function": function_arg("The function") }), &["function"]),
        ),
    ]
}

/// A tool call's arguments, read with messages that say what to change.
struct Args<'a>(&'a JsonObject);

impl Args<'_> {
    fn string(&self, key: &str) -> Result<Option<String>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(format!("`{key}` must be a string, not {v}")),
        }
    }

    fn required(&self, key: &str) -> Result<String, String> {
        self.string(key)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| format!("`{key}` is required"))
    }

    fn number(&self, key: &str, default: u64, max: u64) -> Result<u64, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(n),
                _ => Err(format!(
                    "`{key}` must be a whole number from 0 to {max}, not {v}"
                )),
            },
        }
    }

    fn mfa(&self, key: &str) -> Result<Mfa, String> {
        let text = self.required(key)?;
        text.trim().parse().map_err(|_| {
            format!(
                "`{key}` must be Module.fun/arity (e.g. MyApp.Accounts.get_user/1), not {text:?}; search_symbols finds a function's full name"
            )
        })
    }

    fn page(&self) -> Result<(usize, usize), String> {
        let offset = self.number("offset", 0, u64::from(u32::MAX))? as usize;
        let limit = self.number("limit", PAGE as u64, MAX_PAGE as u64)?.max(1) as usize;
        Ok((offset, limit))
    }
}

/// One page of `items`: the total, the page, and where the next begins.
fn page<T: Serialize>(items: &[T], (offset, limit): (usize, usize)) -> Value {
    let end = offset.saturating_add(limit).min(items.len());
    let start = offset.min(end);
    let mut out = json!({
        "total": items.len(),
        "offset": start,
        "items": &items[start..end],
    });
    if end < items.len() {
        out["next_offset"] = json!(end);
    }
    out
}

impl<B: Backend> Server<B> {
    /// Run tool `name` with `args` on `project`.
    async fn call(
        &self,
        project: Option<String>,
        name: &str,
        args: &JsonObject,
    ) -> Result<Value, String> {
        let a = Args(args);
        let ask = |query: Query| self.backend.ask(project.clone(), query);
        match name {
            "callers" | "callees" => {
                let function = a.mfa("function")?;
                let depth = a
                    .number("depth", u64::from(proto::defaults::WALK_DEPTH), 10)?
                    .max(1) as u32;
                let query = if name == "callers" {
                    Query::Callers { function, depth }
                } else {
                    Query::Callees { function, depth }
                };
                match &*ask(query).await? {
                    QueryResult::Reached(r) => Ok(page(r, a.page()?)),
                    _ => Err("unexpected answer".into()),
                }
            }
            "impact" => {
                let target = a.required("target")?;
                let depth = a
                    .number("depth", u64::from(proto::defaults::IMPACT_DEPTH), 10)?
                    .max(1) as u32;
                match &*ask(Query::Impact { target, depth }).await? {
                    QueryResult::Impact(i) => {
                        let p = a.page()?;
                        let mut v = serde_json::to_value(&**i).map_err(|e| e.to_string())?;
                        v["upstream"] = page(&i.upstream, p);
                        v["downstream"] = page(&i.downstream, p);
                        Ok(v)
                    }
                    _ => Err("unexpected answer".into()),
                }
            }
            "paths" => {
                let query = Query::Paths {
                    from: a.mfa("from")?,
                    to: a.mfa("to")?,
                    max_depth: a
                        .number("max_depth", u64::from(proto::defaults::PATHS_MAX_DEPTH), 12)?
                        .max(1) as u32,
                    max_paths: a
                        .number("max_paths", u64::from(proto::defaults::PATHS_MAX), 100)?
                        .max(1) as u32,
                };
                match &*ask(query).await? {
                    QueryResult::Paths(p) => serde_json::to_value(p).map_err(|e| e.to_string()),
                    _ => Err("unexpected answer".into()),
                }
            }
            "cycles" => match &*ask(Query::Cycles).await? {
                QueryResult::Cycles(c) => {
                    let p = a.page()?;
                    Ok(
                        json!({ "modules": page(&c.modules, p), "functions": page(&c.functions, p) }),
                    )
                }
                _ => Err("unexpected answer".into()),
            },
            "dead_code" => {
                let entries = match args.get("entries") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(v)) => v
                        .iter()
                        .map(|e| {
                            e.as_str()
                                .map(str::to_string)
                                .ok_or_else(|| format!("`entries` must hold strings, not {e}"))
                        })
                        .collect::<Result<_, _>>()?,
                    Some(v) => return Err(format!("`entries` must be a list of strings, not {v}")),
                };
                match &*ask(Query::DeadCode { entries }).await? {
                    QueryResult::DeadCode(d) => Ok(page(d, a.page()?)),
                    _ => Err("unexpected answer".into()),
                }
            }
            "taint" => {
                let rules = match a.string("rules")? {
                    Some(text) => analysis::parse_taint_rules(&text)
                        .map_err(|e| format!("`rules`: {e} (the taint tool's description says where the defaults are)"))?,
                    None => analysis::default_taint_rules(),
                };
                match &*ask(Query::Taint { rules }).await? {
                    QueryResult::Taint(t) => {
                        let mut v = page(&t.findings, a.page()?);
                        v["sources"] = json!(t.sources);
                        v["truncated"] = json!(t.truncated);
                        Ok(v)
                    }
                    _ => Err("unexpected answer".into()),
                }
            }
            "smells" => match &*ask(Query::Smells {
                thresholds: SmellThresholds::default(),
            })
            .await?
            {
                QueryResult::Smells(s) => Ok(page(s, a.page()?)),
                _ => Err("unexpected answer".into()),
            },
            "hotspots" => {
                let graph = match a.string("graph")?.as_deref() {
                    None | Some("functions") => GraphKind::Functions,
                    Some("modules") => GraphKind::Modules,
                    Some(other) => {
                        return Err(format!(
                            "`graph` is `functions` or `modules`, not {other:?}"
                        ))
                    }
                };
                let by = match a.string("by")?.as_deref() {
                    None | Some("pagerank") => Metric::PageRank,
                    Some("in_degree") => Metric::InDegree,
                    Some("out_degree") => Metric::OutDegree,
                    Some("betweenness") => Metric::Betweenness,
                    Some("closeness") => Metric::Closeness,
                    Some(other) => {
                        return Err(format!(
                            "`by` is one of in_degree, out_degree, pagerank, betweenness, closeness; not {other:?}"
                        ))
                    }
                };
                let top = a
                    .number("top", u64::from(proto::defaults::TOP), 200)?
                    .max(1) as u32;
                match &*ask(Query::Centrality { graph, by, top }).await? {
                    QueryResult::Centrality(c) => {
                        serde_json::to_value(c).map_err(|e| e.to_string())
                    }
                    _ => Err("unexpected answer".into()),
                }
            }
            "module_graph" => match &*ask(Query::ModuleGraph).await? {
                QueryResult::ModuleGraph(g) => {
                    let p = a.page()?;
                    let mut v = page(&g.modules, p);
                    let shown: std::collections::HashSet<&str> = v["items"]
                        .as_array()
                        .map(|items| items.iter().filter_map(|m| m["name"].as_str()).collect())
                        .unwrap_or_default();
                    let edges: Vec<&proto::ModuleEdge> = g
                        .edges
                        .iter()
                        .filter(|e| shown.contains(e.from.as_str()))
                        .collect();
                    let edges = json!(edges);
                    v["edges"] = edges;
                    Ok(v)
                }
                _ => Err("unexpected answer".into()),
            },
            "search_symbols" => {
                let q = a.required("query")?.to_lowercase();
                let symbols = self.symbols(&project).await?;
                let found: Vec<&Symbol> = symbols
                    .iter()
                    .filter(|s| s.function.to_lowercase().contains(&q))
                    .collect();
                Ok(page(&found, a.page()?))
            }
            "function_source" => {
                let function = a.mfa("function")?;
                let Some(root) = self.backend.root() else {
                    return Err("function_source reads files: it works when cpg mcp analyzes a folder (without --coordinator); a cluster holds graphs, not file text".into());
                };
                let wanted = function.to_string();
                let symbols = self.symbols(&project).await?;
                let Some(s) = symbols.iter().find(|s| s.function == wanted) else {
                    return Err(format!(
                        "no function {wanted} in the analysed code; search_symbols finds names"
                    ));
                };
                let text = std::fs::read_to_string(root.join(&s.file))
                    .map_err(|e| format!("cannot read {}: {e}", s.file))?;
                let first = s.line.max(1);
                let last = first + s.lines.max(1) - 1;
                let body: Vec<&str> = text
                    .lines()
                    .skip(first as usize - 1)
                    .take((last - first + 1) as usize)
                    .collect();
                Ok(json!({
                    "function": wanted,
                    "file": s.file,
                    "first_line": first,
                    "last_line": last,
                    "text": body.join("\n"),
                }))
            }
            other => Err(format!(
                "no tool {other:?}; the tools are: {}",
                tools()
                    .iter()
                    .map(|t| t.name.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

impl<B: Backend> ServerHandler for Server<B> {
    fn get_info(&self) -> ServerConfig {
        let where_from = self.backend.describe();
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("cpg", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "Code property graph of {where_from}: who calls a function, what a change affects, call paths, cycles, dead code, taint, smells, hotspots. Functions are named Module.fun/arity; search_symbols finds them. Lists come in pages (offset, limit, next_offset)."
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        // Over HTTP, the request's address names the project.
        let project = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| project_of(&parts.uri));
        let result = match self.call(project, &request.name, &args).await {
            Ok(value) => {
                let text = serde_json::to_string_pretty(&value).unwrap_or_default();
                let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
                r.structured_content = Some(value);
                r
            }
            Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
        };
        Ok(result.into())
    }
}

impl<B: Backend> Server<B> {
    /// Serve on standard input and output until the client closes them.
    pub async fn serve_stdio(self) -> Result<(), String> {
        use rmcp::ServiceExt;
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| format!("MCP start-up failed: {e}"))?;
        running
            .waiting()
            .await
            .map(|_| ())
            .map_err(|e| format!("the MCP server stopped: {e}"))
    }

    /// The server as a streamable HTTP endpoint (a tower service), without
    /// sessions: each request is answered on its own, as JSON, so the
    /// endpoint keeps nothing per client. `allowed_hosts` are the `Host`
    /// headers it answers (against DNS rebinding); empty: any host (when
    /// client certificates guard the listener).
    pub fn http_service(
        self,
        allowed_hosts: Vec<String>,
    ) -> rmcp::transport::StreamableHttpService<
        Server<B>,
        rmcp::transport::streamable_http_server::session::never::NeverSessionManager,
    > {
        use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
        let mut config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None);
        config = if allowed_hosts.is_empty() {
            config.disable_allowed_hosts()
        } else {
            config.with_allowed_hosts(allowed_hosts)
        };
        rmcp::transport::StreamableHttpService::new(
            move || Ok(self.clone()),
            Arc::default(),
            config,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_comes_from_the_query_string() {
        let uri = |s: &str| s.parse::<http::Uri>().expect("a URI");
        assert_eq!(project_of(&uri("/mcp?project=shop")), Some("shop".into()));
        assert_eq!(
            project_of(&uri("/mcp?x=1&project=a.b-c")),
            Some("a.b-c".into())
        );
        assert_eq!(project_of(&uri("/mcp")), None);
        assert_eq!(project_of(&uri("/mcp?project=")), None);
        assert_eq!(project_of(&uri("/mcp?projects=x")), None);
    }
}
