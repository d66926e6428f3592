//! The coordinator's HTTP/JSON API (`--http-listen`): what the `cpg` CLI
//! does over tarpc, for editors, CI jobs and Elixir tooling without Rust —
//! health, cluster view, diagnosis, every analysis, graph exports, uploads
//! to ingest — described by an OpenAPI document at `/api/v1/openapi.json`,
//! plus the dashboard at `/`.
//!
//! Analyses answer with the coordinator's `Answer` as JSON: `generation`
//! (the catalog generation it reflects), `missing` (partitions no replica
//! served: empty when complete), `failures`, and `result`, externally
//! tagged by kind (`{"Reached": [...]}`).
//!
//! On a cluster with certificates (`--certs-dir`) the API is HTTPS and
//! asks for a client certificate of the cluster's CA, like every other link:
//! read-only certificates read, read-write ones may also upload. Without
//! certificates it is plain HTTP: reads, and uploads only with
//! `--http-read-write`. Errors are JSON too:
//! `{"error": {"kind": ..., "message": ...}}` with a status saying whose
//! fault it is (400 the request, 403 not allowed, 404 unknown path, 413 too
//! large, 429 memory pressure, 503 try again or elsewhere, 500 ours).

use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query as Params, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::IncomingStream;
use axum::{Json, Router};
use proto::defaults;
use proto::node_api::SourceUpload;
use proto::{
    CommunityAlgorithm, CpgError, ExportFormat, ExportKind, GraphKind, Metric, Mfa, Query,
    SmellThresholds,
};
use serde::Deserialize;

use crate::service::Coordinator;
use net::certs::Role;
use query::report;

/// Every route: method and path (the OpenAPI document lists the same).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/cluster"),
    ("GET", "/api/v1/diagnose"),
    ("POST", "/api/v1/query"),
    ("POST", "/api/v1/ingest"),
    ("GET", "/api/v1/analyze"),
    ("GET", "/api/v1/callers"),
    ("GET", "/api/v1/callees"),
    ("GET", "/api/v1/cycles"),
    ("GET", "/api/v1/impact"),
    ("GET", "/api/v1/paths"),
    ("GET", "/api/v1/dead-code"),
    ("GET", "/api/v1/features"),
    ("GET", "/api/v1/communities"),
    ("GET", "/api/v1/centrality"),
    ("GET", "/api/v1/taint"),
    ("GET", "/api/v1/smells"),
    ("GET", "/api/v1/graph/calls"),
    ("GET", "/api/v1/graph/modules"),
    ("GET", "/metrics"),
    ("POST", "/mcp"),
];

/// The OpenAPI 3 document.
pub const OPENAPI: &str = include_str!("http/openapi.json");

/// The dashboard page (self-contained: no script from elsewhere).
pub const DASHBOARD: &str = include_str!("http/dashboard.html");

/// Largest upload to `/api/v1/ingest`.
pub const MAX_UPLOAD_BYTES: usize = 256 << 20;

#[derive(Clone)]
struct Api {
    coordinator: Arc<Coordinator>,
    /// Whether uploads (ingests) are accepted.
    writes: bool,
}

/// The API's routes on `coordinator`; `writes` allows `POST /api/v1/ingest`;
/// `mcp_hosts` are the `Host` headers `/mcp` answers (empty: any).
pub fn router(coordinator: Arc<Coordinator>, writes: bool, mcp_hosts: Vec<String>) -> Router {
    let tools = mcp::Server::new(Tools(Arc::clone(&coordinator))).http_service(mcp_hosts);
    let api = Api {
        coordinator,
        writes,
    };
    Router::new()
        .route_service("/mcp", tools)
        .route("/", get(dashboard))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/health", get(health))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/diagnose", get(diagnose))
        .route("/api/v1/query", post(query))
        .route(
            "/api/v1/ingest",
            post(ingest).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/api/v1/analyze", get(ask::<Top>))
        .route("/api/v1/callers", get(ask::<Walk<true>>))
        .route("/api/v1/callees", get(ask::<Walk<false>>))
        .route(
            "/api/v1/cycles",
            get(|State(api), Params(pr)| fixed(api, pr, Query::Cycles)),
        )
        .route("/api/v1/impact", get(ask::<ImpactParams>))
        .route("/api/v1/paths", get(ask::<PathParams>))
        .route("/api/v1/dead-code", get(ask::<Entries>))
        .route(
            "/api/v1/features",
            get(|State(api), Params(pr), Params(p)| export(ExportKind::Features, api, pr, p)),
        )
        .route("/api/v1/communities", get(ask::<CommunityParams>))
        .route("/api/v1/centrality", get(ask::<CentralityParams>))
        .route(
            "/api/v1/taint",
            get(|State(api), Params(pr)| {
                let rules = partition::analysis::default_taint_rules();
                fixed(api, pr, Query::Taint { rules })
            }),
        )
        .route(
            "/api/v1/smells",
            get(|State(api), Params(pr)| {
                let thresholds = SmellThresholds::default();
                fixed(api, pr, Query::Smells { thresholds })
            }),
        )
        .route(
            "/api/v1/graph/calls",
            get(|State(api), Params(pr), Params(p)| export(ExportKind::CallGraph, api, pr, p)),
        )
        .route(
            "/api/v1/graph/modules",
            get(|State(api), Params(pr), Params(p)| export(ExportKind::ModuleGraph, api, pr, p)),
        )
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(api)
}

/// The MCP tools (`/mcp`, streamable HTTP) over this coordinator's
/// answers; `?project=NAME` picks the project. Every tool is read-only, so
/// any certificate of the cluster's CA may use them.
struct Tools(Arc<Coordinator>);

impl mcp::Backend for Tools {
    async fn ask(
        &self,
        project: Option<String>,
        query: Query,
    ) -> Result<Arc<proto::QueryResult>, String> {
        self.0
            .query(project.as_deref().unwrap_or(""), &query)
            .await
            .map(|answer| answer.result)
            .map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        "the Elixir code this cpg cluster holds (POST /mcp?project=NAME for a project other than the default)".to_string()
    }
}

/// Who is on the other end of a connection: its address, and with HTTPS
/// the role its client certificate carries.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: std::net::SocketAddr,
    pub role: Option<Role>,
}

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer {
            addr: *stream.remote_addr(),
            role: None,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Peer {
        *stream.remote_addr()
    }
}

/// Connections that completed the TLS handshake with a certificate of the
/// cluster's CA. Handshakes run in their own tasks (a slow or hostile
/// client holds up no one else) and are logged when refused.
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(net::wire::Conn, Peer)>,
    local: std::net::SocketAddr,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    fn new(listener: tokio::net::TcpListener) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("HTTPS accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let tx = tx.clone();
                tokio::spawn(async move {
                    match net::wire::accept_tls(stream).await {
                        Ok((conn, role)) => {
                            let _ = tx
                                .send((
                                    conn,
                                    Peer {
                                        addr,
                                        role: Some(role),
                                    },
                                ))
                                .await;
                        }
                        Err(why) => tracing::info!(peer = %addr, "HTTPS connection refused: {why}"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = net::wire::Conn;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(next) => next,
            // The acceptor stopped: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            addr: self.local,
            role: None,
        })
    }
}

/// Serve the API on `listener` until `stop` resolves: HTTPS with client
/// certificates when this process's links are TLS, else plain HTTP.
pub async fn serve(
    listener: tokio::net::TcpListener,
    coordinator: Arc<Coordinator>,
    writes: bool,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `/mcp` checks the Host header against DNS rebinding where that is
    // the risk: plain HTTP on a loopback address, which a web page in the
    // same machine's browser could otherwise reach by a rebound name.
    // Elsewhere (HTTPS with client certificates, or a listener on the
    // network, reached by names the operator chose) it answers any Host.
    let tls = net::wire::uses_tls();
    let local = listener.local_addr()?.ip();
    let mcp_hosts = if tls || !local.is_loopback() {
        Vec::new()
    } else {
        let mut hosts = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
        hosts.push(local.to_string());
        hosts
    };
    let app = router(coordinator, writes, mcp_hosts).into_make_service_with_connect_info::<Peer>();
    if tls {
        axum::serve(TlsListener::new(listener)?, app)
            .with_graceful_shutdown(stop)
            .await
    } else {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
    }
}

/// An error as the API answers it.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_input",
            message: message.into(),
        }
    }
}

impl From<CpgError> for ApiError {
    fn from(e: CpgError) -> ApiError {
        let (status, kind) = match &e {
            CpgError::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
            CpgError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            CpgError::ResourceExhausted { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted")
            }
            CpgError::NotLeader { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_leader"),
            CpgError::StaleEpoch { .. } => (StatusCode::SERVICE_UNAVAILABLE, "stale_epoch"),
            CpgError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            CpgError::NoQuorum { .. } => (StatusCode::SERVICE_UNAVAILABLE, "no_quorum"),
            CpgError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            CpgError::NotDurable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "not_durable"),
        };
        ApiError {
            status,
            kind,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"kind": self.kind, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

type Reply = Result<Response, ApiError>;

fn text(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn mfa(what: &str, s: &str) -> Result<Mfa, ApiError> {
    s.parse()
        .map_err(|e: proto::MfaParseError| ApiError::bad(format!("{what}: {e}")))
}

/// `?algorithm=` of communities (the first is the default).
const ALGORITHMS: &[(&str, CommunityAlgorithm)] = &[
    ("louvain", CommunityAlgorithm::Louvain),
    ("label-propagation", CommunityAlgorithm::LabelPropagation),
];

/// `?graph=` of centrality (the first is the default).
const GRAPHS: &[(&str, GraphKind)] = &[
    ("functions", GraphKind::Functions),
    ("modules", GraphKind::Modules),
];

/// `?by=` of centrality (the first is the default).
const METRICS: &[(&str, Metric)] = &[
    ("pagerank", Metric::PageRank),
    ("betweenness", Metric::Betweenness),
    ("closeness", Metric::Closeness),
    ("in-degree", Metric::InDegree),
    ("out-degree", Metric::OutDegree),
];

/// The value parameter `what` names with `given` among `choices` (absent:
/// the first); another name is refused with the list (`graph "x":
/// functions or modules`).
fn one_of<T: Copy>(what: &str, given: Option<&str>, choices: &[(&str, T)]) -> Result<T, ApiError> {
    let given = given.unwrap_or(choices[0].0);
    if let Some((_, value)) = choices.iter().find(|(name, _)| *name == given) {
        return Ok(*value);
    }
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let listed = match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(ApiError::bad(format!("{what} {given:?}: {listed}")))
}

/// `?project=NAME` on every analysis: which project to answer on
/// (default: the default project).
#[derive(Debug, Deserialize)]
struct ProjectParam {
    #[serde(default)]
    project: String,
}

async fn answer(api: &Api, project: &str, query: Query) -> Reply {
    let answer = api.coordinator.query(project, &query).await?;
    Ok(Json(answer).into_response())
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "not_found",
        message: "no such path: the API is described at /api/v1/openapi.json".into(),
    }
}

async fn dashboard() -> Response {
    text("text/html; charset=utf-8", DASHBOARD.to_string())
}

async fn openapi() -> Response {
    text("application/json", OPENAPI.to_string())
}

async fn health(State(api): State<Api>) -> Reply {
    Ok(Json(api.coordinator.health().await?).into_response())
}

async fn cluster(State(api): State<Api>) -> Reply {
    Ok(Json(api.coordinator.linearizable_view().await?).into_response())
}

async fn diagnose(State(api): State<Api>) -> Reply {
    Ok(Json(api.coordinator.diagnose().await).into_response())
}

async fn metrics(State(api): State<Api>) -> Response {
    text(
        "text/plain; version=0.0.4; charset=utf-8",
        api.coordinator.metrics(),
    )
}

async fn query(
    State(api): State<Api>,
    Params(pr): Params<ProjectParam>,
    body: Result<Json<Query>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let Json(query) = body.map_err(|e| ApiError::bad(format!("the body is not a query: {e}")))?;
    if matches!(query, Query::Export { .. }) {
        return Err(ApiError::bad(
            "an export is sent as a chunked body by its route: GET /api/v1/graph/calls, /api/v1/graph/modules or /api/v1/features with ?format=".to_string(),
        ));
    }
    answer(&api, &pr.project, query).await
}

#[derive(Debug, Deserialize)]
struct UploadFile {
    path: String,
    /// The file's text...
    #[serde(default)]
    content: Option<String>,
    /// ...or its bytes in base64 (a file that is not UTF-8).
    #[serde(default)]
    content_base64: Option<String>,
}

/// Standard base64 (RFC 4648, `=` padding optional, whitespace ignored).
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, c) in text.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return Err(format!("byte {i} ({:?}) is not base64", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
struct Upload {
    files: Vec<UploadFile>,
    /// Only add and change these files (default: the upload is the whole
    /// tree, and files the cluster holds that are not in it are removed).
    #[serde(default)]
    partial: bool,
    /// The project (default: the default project).
    #[serde(default)]
    project: String,
}

async fn ingest(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    body: Result<Json<Upload>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    match peer.role {
        // HTTPS: the client certificate decides.
        Some(role) => role.allows(Role::ReadWrite, "ingest")?,
        None if !api.writes => {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                kind: "forbidden",
                message: "ingests over HTTP are off on this coordinator: start it with --http-read-write (plain HTTP has no client certificates: only on loopback or behind an authenticating proxy), or use `cpg ingest`".into(),
            });
        }
        None => {}
    }
    let Json(upload) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                kind: "too_large",
                message: format!("uploads are limited to {} MiB: send the tree in parts with \"partial\": true", MAX_UPLOAD_BYTES >> 20),
            }
        } else {
            ApiError::bad(format!("the body is not an upload ({{\"files\": [{{\"path\", \"content\"}}], \"partial\"}}): {e}"))
        }
    })?;
    let mut files: Vec<SourceUpload> = Vec::with_capacity(upload.files.len());
    for f in upload.files {
        let bytes = match (f.content, f.content_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => base64_decode(&b64)
                .map_err(|e| ApiError::bad(format!("{}: content_base64: {e}", f.path)))?,
            _ => {
                return Err(ApiError::bad(format!(
                    "{}: give either \"content\" (text) or \"content_base64\" (bytes)",
                    f.path
                )))
            }
        };
        files.push(SourceUpload {
            file: f.path,
            bytes,
        });
    }
    let report = api
        .coordinator
        .ingest_upload(&upload.project, files, upload.partial)
        .await?;
    Ok(Json(report).into_response())
}

/// The parameters of one analysis route, and the query they ask.
trait Ask: serde::de::DeserializeOwned + Send + 'static {
    fn query(self) -> Result<Query, ApiError>;
}

/// Every analysis route: its parameters make a query, answered as JSON.
async fn ask<P: Ask>(
    State(api): State<Api>,
    Params(pr): Params<ProjectParam>,
    Params(p): Params<P>,
) -> Reply {
    answer(&api, &pr.project, p.query()?).await
}

/// The analyses that take no parameters.
async fn fixed(api: Api, pr: ProjectParam, query: Query) -> Reply {
    answer(&api, &pr.project, query).await
}

#[derive(Debug, Deserialize)]
struct Top {
    top: Option<u32>,
}

impl Ask for Top {
    fn query(self) -> Result<Query, ApiError> {
        Ok(Query::Analyze {
            top: self.top.unwrap_or(defaults::TOP),
        })
    }
}

/// `callers` (`CALLERS`) or `callees`.
#[derive(Debug, Deserialize)]
struct Walk<const CALLERS: bool> {
    function: String,
    depth: Option<u32>,
}

impl<const CALLERS: bool> Ask for Walk<CALLERS> {
    fn query(self) -> Result<Query, ApiError> {
        let function = mfa("function", &self.function)?;
        let depth = self.depth.unwrap_or(defaults::WALK_DEPTH);
        Ok(if CALLERS {
            Query::Callers { function, depth }
        } else {
            Query::Callees { function, depth }
        })
    }
}

#[derive(Debug, Deserialize)]
struct ImpactParams {
    target: String,
    depth: Option<u32>,
}

impl Ask for ImpactParams {
    fn query(self) -> Result<Query, ApiError> {
        Ok(Query::Impact {
            target: self.target,
            depth: self.depth.unwrap_or(defaults::IMPACT_DEPTH),
        })
    }
}

#[derive(Debug, Deserialize)]
struct PathParams {
    from: String,
    to: String,
    max_depth: Option<u32>,
    max_paths: Option<u32>,
}

impl Ask for PathParams {
    fn query(self) -> Result<Query, ApiError> {
        Ok(Query::Paths {
            from: mfa("from", &self.from)?,
            to: mfa("to", &self.to)?,
            max_depth: self.max_depth.unwrap_or(defaults::PATHS_MAX_DEPTH),
            max_paths: self.max_paths.unwrap_or(defaults::PATHS_MAX),
        })
    }
}

#[derive(Debug, Deserialize)]
struct Entries {
    /// Comma-separated `Module.fun/arity` or module names.
    #[serde(default)]
    entries: String,
}

impl Ask for Entries {
    fn query(self) -> Result<Query, ApiError> {
        let entries = self
            .entries
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Query::DeadCode { entries })
    }
}

#[derive(Debug, Deserialize)]
struct CommunityParams {
    #[serde(default)]
    algorithm: Option<String>,
}

impl Ask for CommunityParams {
    fn query(self) -> Result<Query, ApiError> {
        let algorithm = one_of("algorithm", self.algorithm.as_deref(), ALGORITHMS)?;
        Ok(Query::Communities { algorithm })
    }
}

#[derive(Debug, Deserialize)]
struct CentralityParams {
    #[serde(default)]
    graph: Option<String>,
    #[serde(default)]
    by: Option<String>,
    top: Option<u32>,
}

impl Ask for CentralityParams {
    fn query(self) -> Result<Query, ApiError> {
        let graph = one_of("graph", self.graph.as_deref(), GRAPHS)?;
        let by = one_of("by", self.by.as_deref(), METRICS)?;
        Ok(Query::Centrality {
            graph,
            by,
            top: self.top.unwrap_or(defaults::TOP),
        })
    }
}

#[derive(Debug, Deserialize)]
struct FormatParam {
    #[serde(default)]
    format: Option<String>,
}

/// An export, in `?format=` (default JSON; features: JSON or CSV, the
/// graphs: JSON, CSV, DOT or GraphML), sent as a chunked body in pieces of
/// at most [`proto::EXPORT_CHUNK_BYTES`] as `cpg export` receives it.
/// Features as JSON are the whole answer (with its generation), as before.
/// A format the route does not offer is refused before the query runs.
async fn export(kind: ExportKind, api: Api, pr: ProjectParam, p: FormatParam) -> Reply {
    let features = kind == ExportKind::Features;
    let format = match (features, p.format.as_deref().unwrap_or("json")) {
        (true, "json") => return fixed(api, pr, Query::Features).await,
        (_, "json") => ExportFormat::Json,
        (_, "csv") => ExportFormat::Csv,
        (false, "dot") => ExportFormat::Dot,
        (false, "graphml") => ExportFormat::Graphml,
        (true, other) => return Err(ApiError::bad(format!("format {other:?}: json or csv"))),
        (false, other) => {
            return Err(ApiError::bad(format!(
                "format {other:?}: json, csv, dot or graphml"
            )))
        }
    };
    let rendered = api
        .coordinator
        .export_text(&pr.project, kind, format, None, false)
        .await?;
    let content_type = match format {
        ExportFormat::Json => "application/json",
        ExportFormat::Csv => report::GraphFormat::Csv.content_type(),
        ExportFormat::Dot => report::GraphFormat::Dot.content_type(),
        ExportFormat::Graphml => report::GraphFormat::Graphml.content_type(),
    };
    let text = rendered.text;
    let pieces = futures::stream::unfold(0usize, move |offset| {
        let text = text.clone();
        async move {
            if offset >= text.len() {
                return None;
            }
            let end = proto::export_chunk_end(&text, offset);
            let piece = axum::body::Bytes::copy_from_slice(&text.as_bytes()[offset..end]);
            Some((Ok::<_, std::io::Error>(piece), end))
        }
    });
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        axum::body::Body::from_stream(pieces),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_what_rfc_4648_encodes() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(base64_decode("Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode("/+8=").unwrap(), [0xff, 0xef]);
        assert!(base64_decode("Zm9v!").unwrap_err().contains("byte 4"));
    }

    #[test]
    fn the_openapi_document_lists_every_route_and_no_other() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.0.3");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("operations").keys() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        documented.sort();
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
