//! The coordinator's HTTP/JSON API with real HTTP requests: the example
//! application uploaded and ingested over HTTP, every route of the OpenAPI
//! document asked, answers equal to embedded runs, errors as JSON with the
//! status that says whose fault it is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use cluster_tests::{comparable, http, Cluster, HttpResponse};

/// The client tests' helpers: where the setup scripts put the Python
/// clients, and running one bounded in time.
#[path = "../../../client/tests/support/mod.rs"]
mod support;
use codebase::embedded;
use proto::{Answer, Query, QueryResult};
use query::report;
use query::{answer, Snapshot};

fn get(addr: &str, path: &str) -> HttpResponse {
    http(addr, "GET", path, None).unwrap()
}

fn ok_json(addr: &str, path: &str) -> serde_json::Value {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "GET {path}: {:?}",
        r.headers
    );
    serde_json::from_slice(&r.body).unwrap()
}

/// The upload body for every Elixir file under `root`.
fn upload(root: &Path, partial: bool) -> Vec<u8> {
    let files: Vec<serde_json::Value> = embedded::discover(root)
        .unwrap()
        .into_iter()
        .map(|f| {
            serde_json::json!({
                "path": f.name,
                "content": std::fs::read_to_string(&f.disk).unwrap(),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"files": files, "partial": partial})).unwrap()
}

fn post(addr: &str, path: &str, body: &[u8]) -> HttpResponse {
    http(addr, "POST", path, Some(body)).unwrap()
}

/// The JSON report of the ingest that answered `r` (which must be 200).
fn ingest_report(r: &HttpResponse) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap()
}

/// `r` is an error with `status` and, in its JSON body, `kind`.
fn assert_error(r: &HttpResponse, status: u16, kind: &str) {
    assert_eq!(
        (r.status, error_kind(r)),
        (status, kind.to_string()),
        "{}",
        r.text()
    );
}

/// `r` has `status` and says `text`.
fn assert_says(r: &HttpResponse, status: u16, text: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.text().contains(text), "{}", r.text());
}

fn error_kind(r: &HttpResponse) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not a JSON error ({e}): {}", r.text()));
    v["error"]["kind"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_over_http_like_embedded() {
    let _machine = crate::shared().await;
    let port = cluster_tests::free_port();
    let web = format!("127.0.0.1:{port}");
    let cluster = Cluster::builder(1, 3, 16, 2)
        .coordinator_flags(&["--http-listen", &web, "--http-read-write"])
        .start();
    cluster.must_be_ready(16, Duration::from_secs(60)).await;
    let (_work, tree) = cluster_tests::example_copy();
    the_tree_is_uploaded_and_ingested(&web, &tree);
    let snapshot = embedded::build(&tree).unwrap().snapshot();
    every_analysis_answers_like_embedded(&web, &snapshot);
    an_agent_asks_the_cluster_through_mcp(&cluster.coordinator_list(), &web, &tree);
    graphs_export_in_every_format(&web, &snapshot);
    the_cluster_routes_the_document_and_the_dashboard_answer(&web);
    a_partial_upload_changes_one_file_and_removes_nothing(&web, &tree);
    a_file_that_is_not_utf8_goes_as_base64(&web);
    errors_are_json_with_a_status_saying_whose_fault(&web);
    another_project_is_ingested_and_answered_apart(&web);
    an_agent_picks_a_project_at_the_mcp_endpoint(&web);
    // Last: the editor ingests into a project of its own (new generations).
    an_editor_asks_the_cluster_through_lsp(&cluster.coordinator_list(), &web);
}

/// Every MCP tool, called by the official MCP client SDK (the client
/// test's driver; scripts/setup-mcp.sh installs the SDK) through `cpg mcp
/// --coordinator` and at the coordinator's own `/mcp` endpoint (streamable
/// HTTP), answers as `cpg mcp` does on the same tree embedded; the one that
/// needs files says why it cannot.
fn an_agent_asks_the_cluster_through_mcp(coordinators: &str, web: &str, tree: &Path) {
    let sort_key = "Shop.Util.Sorting.sort_key/1";
    let calls = serde_json::json!([
        ["callers", { "function": sort_key }],
        ["callees", { "function": "Shop.Catalog.list_products/1", "depth": 2 }],
        ["impact", { "target": sort_key }],
        ["paths", { "from": "ShopWeb.ProductController.index/2", "to": sort_key }],
        ["cycles", {}],
        ["dead_code", { "limit": 3 }],
        ["taint", {}],
        ["smells", {}],
        ["hotspots", { "by": "pagerank", "top": 3 }],
        ["module_graph", { "limit": 5 }],
        ["search_symbols", { "query": "sort_key" }],
        ["function_source", { "function": sort_key }],
    ]);
    let cpg = cluster_tests::binary("cpg").display().to_string();
    let embedded = drive_mcp(
        &calls,
        &[&cpg, &calls.to_string(), &tree.display().to_string()],
    );
    let cluster = drive_mcp(
        &calls,
        &[
            &cpg,
            &calls.to_string(),
            "--coordinator",
            coordinators,
            "--insecure",
        ],
    );
    let url = format!("http://{web}/mcp");
    let endpoint = drive_mcp(&calls, &["-", &calls.to_string(), "--http", &url]);
    let tools = |got: &serde_json::Value| got["tools"].as_array().map(Vec::len);
    assert_eq!(tools(&embedded), Some(12), "{embedded}");
    for (how, got) in [("cpg mcp --coordinator", &cluster), ("/mcp", &endpoint)] {
        assert_eq!(tools(got), Some(12), "{how}: {got}");
        for (i, call) in calls.as_array().unwrap().iter().enumerate() {
            let (mine, theirs) = (&got["calls"][i], &embedded["calls"][i]);
            if call[0] == "function_source" {
                assert_eq!(theirs["error"], false, "{theirs}");
                assert_eq!(mine["error"], true, "{how}: {mine}");
                assert!(
                    mine["text"]
                        .as_str()
                        .unwrap_or("")
                        .contains("a cluster holds graphs, not file text"),
                    "{how}: {mine}"
                );
                continue;
            }
            assert_eq!(mine["error"], false, "{how}, {call}: {mine}");
            assert_eq!(
                mine["structured"], theirs["structured"],
                "{how} answers {call} as embedded does"
            );
        }
    }
    assert_eq!(
        cluster["calls"][0]["structured"]["items"][0]["mfa"]["name"],
        "list_products"
    );
    assert_eq!(cluster["calls"][6]["structured"]["total"], 4);
}

/// The official MCP client SDK's driver (the client test's; scripts/
/// setup-mcp.sh installs the SDK) with `args`: what it printed.
fn drive_mcp(calls: &serde_json::Value, args: &[&str]) -> serde_json::Value {
    support::printed_json(
        support::python_client("mcp", "drive.py").args(args),
        &format!("the MCP client on {calls}"),
    )
}

/// At the coordinator's `/mcp` endpoint, `?project=` picks a project.
fn an_agent_picks_a_project_at_the_mcp_endpoint(web: &str) {
    let calls = serde_json::json!([
        ["callers", { "function": "Dep.g/1" }],
        ["callers", { "function": "Shop.Util.Sorting.sort_key/1" }],
    ]);
    let url = format!("http://{web}/mcp?project=other");
    let got = drive_mcp(&calls, &["-", &calls.to_string(), "--http", &url]);
    let c = &got["calls"];
    assert_eq!(
        c[0]["structured"]["items"][0]["mfa"]["module"], "O",
        "{}",
        c[0]
    );
    assert_eq!(
        c[1]["error"], true,
        "the other project has no Shop: {}",
        c[1]
    );
    let url = format!("http://{web}/mcp?project=nope");
    let got = drive_mcp(&calls, &["-", &calls.to_string(), "--http", &url]);
    let text = got["calls"][0]["text"].as_str().unwrap_or("");
    assert!(text.contains("no project"), "{got}");
}

/// `cpg lsp --coordinator` driven by pygls's client (the client test's
/// driver; scripts/setup-lsp.sh installs it) on a copy of the example in a
/// project of its own: the workspace is ingested when the server starts,
/// answers are the embedded server's, and a saved file reaches the cluster;
/// an unsaved edit does not (it has not left the editor). Files changed
/// outside the editor reach the cluster too, and are there when the server
/// has exited (they are sent in the background).
fn an_editor_asks_the_cluster_through_lsp(coordinators: &str, web: &str) {
    let (_work, tree) = cluster_tests::example_copy();
    let got = support::printed_json(
        support::python_client("lsp", "drive.py")
            .arg(cluster_tests::binary("cpg"))
            .arg(&tree)
            .args([
                "--coordinator",
                coordinators,
                "--insecure",
                "--project",
                "editor",
            ]),
        "the LSP client",
    );
    use serde_json::json;
    assert_eq!(got["references"], json!([["catalog.ex", 24, 56, 64]]));
    assert_eq!(got["definition"], json!([["sorting.ex", 7, 6, 14]]));
    assert_eq!(got["incoming"], json!(["Shop.Catalog.list_products/1"]));
    let saved = json!([["catalog.ex", 24, 56, 64], ["fresh.ex", 2, 45, 53]]);
    assert_eq!(got["references_after_save"], saved);
    assert_eq!(got["references_after_change"], saved);
    assert_eq!(got["references_after_close"], saved);
    assert_eq!(
        got["references_after_watched"],
        json!([["catalog.ex", 24, 56, 64], ["watched.ex", 1, 34, 42]])
    );
    assert_eq!(
        got["diagnostics"]["sorting.ex"],
        json!([["taint/atom-creation", 2, 7, 6]])
    );
    let r = get(
        web,
        "/api/v1/callers?project=editor&function=Shop.Util.Sorting.sort_key/1",
    );
    // The last change: watched.ex created, fresh.ex deleted.
    assert!(r.text().contains("Shop.Util.Watched"), "{}", r.text());
    assert!(!r.text().contains("Shop.Util.Fresh"), "{}", r.text());
}

/// What embedded mode answers to `q` on `snapshot`, comparable.
fn embedded_answer(snapshot: &Snapshot, q: &Query) -> Result<QueryResult, String> {
    answer(snapshot, q)
        .map(|a| comparable(a.result))
        .map_err(|e| e.to_string())
}

/// The answer of a GET, complete, comparable.
fn from_http(web: &str, path: &str) -> QueryResult {
    let a: Answer = serde_json::from_value(ok_json(web, path)).unwrap();
    assert!(a.missing.is_empty(), "{path}: missing {:?}", a.missing);
    comparable(a.result)
}

fn place() -> proto::Mfa {
    "Shop.Orders.place/3".parse().unwrap()
}

/// Upload and ingest the whole tree.
fn the_tree_is_uploaded_and_ingested(web: &str, tree: &Path) {
    let r = post(web, "/api/v1/ingest", &upload(tree, false));
    let report = ingest_report(&r);
    assert_eq!(report["files_parsed"], 26, "{report}");
    assert_eq!(report["generation"], 1, "{report}");
}

/// Every analysis route, and any query posted as the wire type, answers
/// as embedded mode does.
fn every_analysis_answers_like_embedded(web: &str, snapshot: &Snapshot) {
    let checks: Vec<(&str, Query)> = vec![
        ("/api/v1/analyze?top=5", Query::Analyze { top: 5 }),
        (
            "/api/v1/callers?function=Shop.Orders.place/3&depth=3",
            Query::Callers {
                function: place(),
                depth: 3,
            },
        ),
        (
            "/api/v1/callees?function=Shop.Orders.place/3&depth=2",
            Query::Callees {
                function: place(),
                depth: 2,
            },
        ),
        ("/api/v1/cycles", Query::Cycles),
        (
            "/api/v1/impact?target=Shop.Pricing&depth=2",
            Query::Impact {
                target: "Shop.Pricing".into(),
                depth: 2,
            },
        ),
        (
            "/api/v1/paths?from=Shop.Orders.place/3&to=Shop.Pricing.total/1&max_depth=6&max_paths=5",
            Query::Paths {
                from: place(),
                to: "Shop.Pricing.total/1".parse().unwrap(),
                max_depth: 6,
                max_paths: 5,
            },
        ),
        (
            "/api/v1/dead-code?entries=Shop.Application",
            Query::DeadCode {
                entries: vec!["Shop.Application".into()],
            },
        ),
        ("/api/v1/features", Query::Features),
        (
            "/api/v1/communities?algorithm=label-propagation",
            Query::Communities {
                algorithm: proto::CommunityAlgorithm::LabelPropagation,
            },
        ),
        (
            "/api/v1/centrality?graph=modules&by=betweenness&top=5",
            Query::Centrality {
                graph: proto::GraphKind::Modules,
                by: proto::Metric::Betweenness,
                top: 5,
            },
        ),
        (
            "/api/v1/taint",
            Query::Taint {
                rules: partition::analysis::default_taint_rules(),
            },
        ),
        (
            "/api/v1/smells",
            Query::Smells {
                thresholds: proto::SmellThresholds::default(),
            },
        ),
    ];
    for (path, q) in &checks {
        assert_eq!(
            Ok(from_http(web, path)),
            embedded_answer(snapshot, q),
            "GET {path}"
        );
    }
    // Any query as the wire type, posted.
    let body = serde_json::to_vec(&Query::Callers {
        function: place(),
        depth: 4,
    })
    .unwrap();
    let r = post(web, "/api/v1/query", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let a: Answer = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        Ok(comparable(a.result)),
        embedded_answer(
            snapshot,
            &Query::Callers {
                function: place(),
                depth: 4
            }
        )
    );
}

/// Exports in every format.
fn graphs_export_in_every_format(web: &str, snapshot: &Snapshot) {
    let Ok(QueryResult::CallGraph(rows)) = embedded_answer(snapshot, &Query::CallGraph) else {
        panic!("no call graph");
    };
    let Ok(QueryResult::ModuleGraph(modules)) = embedded_answer(snapshot, &Query::ModuleGraph)
    else {
        panic!("no module graph");
    };
    assert_eq!(
        get(web, "/api/v1/graph/calls?format=csv").text(),
        report::render_csv(&rows)
    );
    assert_eq!(
        get(web, "/api/v1/graph/calls?format=dot").text(),
        report::render_dot(&rows)
    );
    assert_eq!(
        get(web, "/api/v1/graph/calls?format=graphml").text(),
        report::render_calls_graphml(&rows)
    );
    let json_rows: Vec<proto::CallRow> =
        serde_json::from_value(ok_json(web, "/api/v1/graph/calls")).unwrap();
    assert_eq!(json_rows, rows);
    let json_modules: proto::ModuleGraph =
        serde_json::from_value(ok_json(web, "/api/v1/graph/modules")).unwrap();
    assert_eq!(json_modules, modules);
    for (format, want) in [
        ("csv", report::render_module_csv(&modules)),
        ("dot", report::render_module_dot(&modules)),
        ("graphml", report::render_module_graphml(&modules)),
    ] {
        let r = get(web, &format!("/api/v1/graph/modules?format={format}"));
        assert_eq!(
            (r.status, r.text()),
            (200, want),
            "module graph as {format}"
        );
    }
    let Ok(QueryResult::Features(features)) = embedded_answer(snapshot, &Query::Features) else {
        panic!("no features");
    };
    let r = get(web, "/api/v1/features?format=csv");
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(r.text(), report::render_features_csv(&features));
    // Features as JSON are the whole answer; a format a route does not offer
    // is the request's fault, named in the message.
    let answer = ok_json(web, "/api/v1/features");
    assert_eq!(
        answer["result"]["Features"].as_array().unwrap().len(),
        features.len()
    );
    for (path, offered) in [
        ("/api/v1/features?format=dot", "json or csv"),
        (
            "/api/v1/graph/calls?format=xml",
            "json, csv, dot or graphml",
        ),
        (
            "/api/v1/graph/modules?format=svg",
            "json, csv, dot or graphml",
        ),
    ] {
        let r = get(web, path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(r.text().contains(offered), "{path}: {}", r.text());
    }
}

/// Cluster, health, diagnosis, metrics, the document, the dashboard.
fn the_cluster_routes_the_document_and_the_dashboard_answer(web: &str) {
    let view = ok_json(web, "/api/v1/cluster");
    assert_eq!(view["generation"], 1);
    assert_eq!(view["nodes"].as_array().unwrap().len(), 3);
    let health = ok_json(web, "/api/v1/health");
    assert_eq!(health["cpg_tables_status"], "healthy", "{health}");
    let diagnoses = ok_json(web, "/api/v1/diagnose");
    assert_eq!(diagnoses.as_array().unwrap().len(), 3);
    assert!(
        diagnoses[0]["diagnosis"]["scan_entries_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(get(web, "/metrics").text().contains("cpg_raft_term"));
    let doc = ok_json(web, "/api/v1/openapi.json");
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, coordinator::http::ROUTES.len());
    let page = get(web, "/");
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().contains("<canvas id=\"graph\">"));
}

/// A partial upload changes one file and removes nothing.
fn a_partial_upload_changes_one_file_and_removes_nothing(web: &str, tree: &Path) {
    let audit = tree.join("lib/shop/audit.ex");
    std::fs::write(
        &audit,
        "defmodule Shop.Audit do\n  def log(order), do: Shop.Orders.place(order, [], :card)\nend\n",
    )
    .unwrap();
    let body = serde_json::to_vec(&serde_json::json!({
        "files": [{"path": "lib/shop/audit.ex", "content": std::fs::read_to_string(&audit).unwrap()}],
        "partial": true,
    }))
    .unwrap();
    let r = post(web, "/api/v1/ingest", &body);
    let report = ingest_report(&r);
    let counts = [&report["files_parsed"], &report["files_removed"]];
    assert_eq!(counts, [1, 0], "{report}");
    let after = embedded::build(tree).unwrap().snapshot();
    let q = Query::Callers {
        function: place(),
        depth: 2,
    };
    let want = answer(&after, &q).map(|a| comparable(a.result)).unwrap();
    assert_eq!(
        from_http(web, "/api/v1/callers?function=Shop.Orders.place/3&depth=2"),
        want,
        "the uploaded change is visible at once"
    );
}

/// A file that is not UTF-8 goes as base64, and is ingested with a
/// diagnostic like any other.
fn a_file_that_is_not_utf8_goes_as_base64(web: &str) {
    let latin = br#"{"files": [{"path": "lib/shop/latin.ex", "content_base64": "ZGVmbW9kdWxlIFNob3AuTGF0aW4gZG8KICBkZWYgbmFtZSwgZG86ICJjYWbpIgplbmQK"}], "partial": true}"#;
    let r = post(web, "/api/v1/ingest", latin);
    let report = ingest_report(&r);
    assert_eq!(report["files_parsed"], 1, "{report}");
    let both = br#"{"files": [{"path": "lib/x.ex", "content": "", "content_base64": ""}]}"#;
    let r = post(web, "/api/v1/ingest", both);
    assert_says(&r, 400, "either");
}

/// Errors: JSON, with a status saying whose fault it is.
fn errors_are_json_with_a_status_saying_whose_fault(web: &str) {
    let r = get(web, "/api/v1/callers?function=nonsense");
    assert_error(&r, 400, "invalid_input");
    let r = get(web, "/api/v1/callers?function=Nope.f/1");
    assert_error(&r, 400, "invalid_input");
    let r = get(web, "/api/v1/centrality?by=fame");
    assert_says(&r, 400, "pagerank, betweenness");
    let r = get(web, "/api/v1/nope");
    assert_error(&r, 404, "not_found");
    let r = post(web, "/api/v1/query", b"{\"Callers\": 3}");
    assert_error(&r, 400, "invalid_input");
    let r = post(web, "/api/v1/ingest", b"not json");
    assert_error(&r, 400, "invalid_input");
}

/// Another project, with a dependency and its lock: answered apart
/// (`?project=`), the lock read for the library's version and not
/// ingested; a partial upload takes no dependency's file.
fn another_project_is_ingested_and_answered_apart(web: &str) {
    let other = br#"{"project": "other", "files": [
        {"path": "lib/o.ex", "content": "defmodule O do\n  def f(x), do: Dep.g(x)\nend\n"},
        {"path": "deps/dep/lib/dep.ex", "content": "defmodule Dep do\n  def g(x), do: x\nend\n"},
        {"path": "mix.lock", "content": "%{\n  \"dep\": {:hex, :dep, \"0.3.1\", \"a\", [:mix], [], \"hexpm\", \"b\"},\n}\n"}]}"#;
    let r = post(web, "/api/v1/ingest", other);
    let report = ingest_report(&r);
    let counts = [&report["files_parsed"], &report["files_removed"]];
    assert_eq!(counts, [2, 0], "{report}");
    let r = get(web, "/api/v1/callers?project=other&function=Dep.g/1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("\"O\"") && r.text().contains("\"f\""),
        "{}",
        r.text()
    );
    let r = get(web, "/api/v1/callers?function=Dep.g/1");
    // The default project has no Dep.
    assert_error(&r, 400, "invalid_input");
    let r = get(web, "/api/v1/cycles?project=nope");
    assert_says(&r, 400, "no project");
    let partial_dep = br#"{"project": "other", "partial": true, "files": [{"path": "deps/dep/lib/x.ex", "content": ""}]}"#;
    let r = post(web, "/api/v1/ingest", partial_dep);
    assert_says(&r, 400, "partial upload");
    let escaping = br#"{"files": [{"path": "../../etc/passwd.ex", "content": "defmodule X do end"}], "partial": true}"#;
    let r = post(web, "/api/v1/ingest", escaping);
    assert_error(&r, 400, "invalid_input");
}

/// A coordinator started without --http-read-write refuses uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_need_http_read_write() {
    let _machine = crate::shared().await;
    let web = format!("127.0.0.1:{}", cluster_tests::free_port());
    let cluster = Cluster::builder(1, 1, 4, 1)
        .coordinator_flags(&["--http-listen", &web])
        .start();
    cluster.must_be_ready(4, Duration::from_secs(60)).await;
    let (_work, tree) = cluster_tests::example_copy();
    let r = post(&web, "/api/v1/ingest", &upload(&tree, false));
    assert_error(&r, 403, "forbidden");
    assert!(r.text().contains("--http-read-write"), "{}", r.text());
    // Reads are served.
    assert_eq!(get(&web, "/api/v1/cluster").status, 200);
}

/// An upload to a coordinator that does not lead is recorded by the leader
/// (through the road every client takes to the leader), and is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_to_a_follower_is_recorded_by_the_leader() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::local(3, 2, 8, 2);
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    // A follower restarted with the HTTP API can win an election while it
    // rejoins (it grants votes at once, and the leader's replication to it
    // may be backing off): then another follower gets the API too.
    let mut serving = None;
    for _ in 0..3 {
        let leader = a_leader(&cluster).await;
        let follower = (leader + 1) % 3;
        let web = format!("127.0.0.1:{}", cluster_tests::free_port());
        cluster.coordinators[follower].restart_with(&["--http-listen", &web, "--http-read-write"]);
        cluster_tests::eventually(
            Duration::from_secs(30),
            "the follower's HTTP API",
            async || {
                let web = web.clone();
                let r =
                    tokio::task::spawn_blocking(move || http(&web, "GET", "/api/v1/cluster", None))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| e.to_string())?;
                if r.status == 200 {
                    Ok(())
                } else {
                    Err(r.text())
                }
            },
        )
        .await;
        // Settled: the restarted member follows a leader it has heard
        // from (its election timer runs again from each heartbeat).
        let addr = cluster.coordinators[follower].addr.clone();
        let (follows, _) = cluster_tests::eventually(
            Duration::from_secs(30),
            "the restarted member to know a leader",
            async || match cluster_tests::view_at(&addr).await.and_then(|v| v.leader) {
                Some(l) => Ok(l),
                None => Err("no leader known".to_string()),
            },
        )
        .await;
        if follows != addr && a_leader(&cluster).await != follower {
            serving = Some((follower, web));
            break;
        }
    }
    let (follower, web) = serving.expect("a follower serving the HTTP API within three restarts");
    let (_work, tree) = cluster_tests::example_copy();
    let body = upload(&tree, false);
    assert_ne!(
        a_leader(&cluster).await,
        follower,
        "the member to upload to leads"
    );
    let r = tokio::task::spawn_blocking(move || post(&web, "/api/v1/ingest", &body))
        .await
        .unwrap();
    let report = ingest_report(&r);
    assert_eq!(report["files_parsed"], 26, "{report}");
    assert_eq!(report["generation"], 1, "{report}");
    let view = cluster.view().await.expect("a view");
    assert_eq!(view.generation, 1);
}

/// The index of the coordinator that leads, once one does.
async fn a_leader(cluster: &Cluster) -> usize {
    cluster_tests::eventually(Duration::from_secs(30), "a leader", async || {
        cluster
            .leader()
            .await
            .ok_or_else(|| "no leader yet".to_string())
    })
    .await
    .0
}
