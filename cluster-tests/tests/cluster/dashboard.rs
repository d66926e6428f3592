//! The dashboard in headless Chromium (Debian's `chromium`, driven by
//! Playwright's `playwright-core`; `scripts/setup-browser.sh` installs both,
//! `scripts/test.sh` runs it): a cluster holding the Elixir corpus and the example
//! application (1,200+ modules), the page loaded, and what it shows checked
//! against an embedded run — module and edge counts, hotspots, taint
//! findings with `file:line` links, the nodes and partitions, a module found
//! and selected. Takes a screenshot (`target/dashboard.png`) and prints the
//! time to the graph's first paint (BENCHMARKS.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cluster_tests::{copy_tree, corpus, repo, Cluster};
use codebase::embedded;
use proto::{Query, QueryResult};
use query::answer;

/// The folder holding playwright-core (installed if missing, with
/// chromium).
fn web_tools() -> PathBuf {
    cluster_tests::fetched("setup-browser.sh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_cluster_the_module_graph_and_taint_paths() {
    let _machine = crate::shared().await;
    let tools = web_tools();
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("code");
    copy_tree(&corpus(), &tree.join("elixir")).unwrap();
    copy_tree(&repo().join("examples/shop"), &tree.join("shop")).unwrap();

    let web = format!("127.0.0.1:{}", cluster_tests::free_port());
    let cluster = Cluster::builder(1, 3, 32, 2)
        .coordinator_flags(&["--http-listen", &web])
        .start();
    cluster.must_be_ready(32, Duration::from_secs(60)).await;
    cluster_tests::load::cpg_ingest(&cluster.coordinator_list(), &tree).unwrap();

    let snapshot = embedded::build(&tree).unwrap().snapshot();
    let graph = match answer(&snapshot, &Query::ModuleGraph).map(|a| Arc::unwrap_or_clone(a.result))
    {
        Ok(QueryResult::ModuleGraph(g)) => g,
        other => panic!("no embedded module graph: {other:?}"),
    };
    let taint = match answer(
        &snapshot,
        &Query::Taint {
            rules: partition::analysis::default_taint_rules(),
        },
    )
    .map(|a| Arc::unwrap_or_clone(a.result))
    {
        Ok(QueryResult::Taint(t)) => t,
        other => panic!("no embedded taint: {other:?}"),
    };
    assert!(graph.modules.len() > 500, "{} modules", graph.modules.len());

    let screenshot = work.path().join("dashboard.png");
    let out = cluster_tests::succeeds(
        Command::new("node")
            .arg(repo().join("cluster-tests/web/dashboard-check.cjs"))
            .arg(format!("http://{web}/"))
            .arg(&screenshot)
            .arg("Shop.Orders")
            .env(
                "PLAYWRIGHT_CORE",
                tools.join("node_modules/playwright-core"),
            ),
        "the browser check",
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    println!(
        "dashboard: graph of {} modules first painted {:.0} ms after navigation (first load after the ingest), layout settled at {:.0} ms; loaded again: {} ms",
        seen["modules"],
        seen["firstPaintMs"].as_f64().unwrap(),
        seen["layoutMs"].as_f64().unwrap(),
        seen["warmPaintsMs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("{:.0}", v.as_f64().unwrap()))
            .collect::<Vec<_>>()
            .join(", ")
    );

    assert_eq!(seen["errors"], serde_json::json!([]), "errors in the page");
    // Healthy, or degraded by the slow (debug-build) analyses' query times.
    assert!(
        matches!(seen["status"].as_str(), Some("healthy" | "degraded")),
        "{}: {}",
        seen["status"],
        seen["reasons"]
    );
    assert_eq!(seen["leader"], cluster.coordinators[0].addr.as_str());
    assert_eq!(seen["modules"], graph.modules.len());
    assert_eq!(seen["edges"], graph.edges.len());
    assert_eq!(
        seen["cycleModules"],
        graph.modules.iter().filter(|m| m.cycle.is_some()).count()
    );
    assert_eq!(seen["nodeRows"].as_array().unwrap().len(), 3);
    assert_eq!(seen["partitions"], 32);
    let mut by_rank = graph.modules.clone();
    by_rank.sort_by(|a, b| b.pagerank.total_cmp(&a.pagerank));
    assert_eq!(seen["hotspots"][0], by_rank[0].name.as_str());
    // Every taint finding is listed, each step a file:line link.
    assert!(!taint.findings.is_empty());
    assert!(
        seen["taint"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} findings", taint.findings.len())),
        "{}",
        seen["taint"]
    );
    let steps: Vec<String> = taint
        .findings
        .iter()
        .flat_map(|f| f.steps.iter().map(|s| format!("{}:{}", s.file, s.line)))
        .collect();
    assert_eq!(seen["taintLinks"], serde_json::json!(steps));
    let selected = seen["selected"].as_str().unwrap();
    assert!(
        selected.starts_with("Shop.Orders") && selected.contains("depends on:"),
        "{selected}"
    );

    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    let keep = repo().join("target/dashboard.png");
    if std::fs::copy(&screenshot, &keep).is_ok() {
        println!("screenshot: {}", keep.display());
    }
}
