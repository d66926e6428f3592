//! The operations guide's production load, on real processes: a cluster
//! of 3 storage nodes holding the Elixir corpus takes, for `CPG_LOAD_SECS`
//! seconds, continuous point queries, incremental updates, pattern
//! analyses and feature extraction at once ([`cluster_tests::load`]).
//! Point queries' p99 stays under 100 ms, every node under its memory
//! limit, errors under 1%, and afterwards every answer equals an embedded
//! run over the final tree. It measures latencies on a loaded machine: it
//! runs alone ([`crate::alone`]).
//!
//! 6 s by default here (the benchmark, `scripts/bench-load.sh`, runs 30):
//! one run gave 38,344 point queries, 11 updates and 7 runs of each
//! analysis, against bounds of 100, 5 and 1.

use std::time::Duration;

use cluster_tests::load::{self, cpg_ingest, LoadConfig};
use cluster_tests::{copy_tree, corpus, Cluster};
use codebase::embedded;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_load_on_the_corpus() {
    let _machine = crate::alone().await;
    let config = LoadConfig::from_env(6);
    let node_limit_mb = 1024;
    let limit = node_limit_mb.to_string();
    let cluster = Cluster::builder(1, 3, 32, 2)
        .coordinator_flags(&["--memory-limit-mb", "4096"])
        .node_flags(&["--memory-limit-mb", &limit])
        .start();
    cluster.must_be_ready(32, Duration::from_secs(60)).await;
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("corpus");
    copy_tree(&corpus(), &tree).unwrap();
    // The embedded snapshot is built while the cluster ingests.
    let embedded = {
        let tree = tree.clone();
        std::thread::spawn(move || embedded::build(&tree).unwrap().snapshot())
    };
    cpg_ingest(&cluster.coordinator_list(), &tree).unwrap();
    let initial = embedded.join().unwrap();

    let report = load::run(&cluster, &tree, &initial, &config).await.unwrap();
    eprintln!("{}", report.summary());

    // The load really ran: every activity did its work many times.
    assert!(report.point.len() >= 100, "{}", report.summary());
    assert!(report.updates.len() >= 5, "{}", report.summary());
    for (kind, _) in load::heavy_queries() {
        assert!(
            report.heavy.get(kind).is_some_and(|v| !v.is_empty()),
            "{kind} never answered\n{}",
            report.summary()
        );
    }
    assert!(
        report.error_rate() < 0.01,
        "error rate {:.3}\n{}",
        report.error_rate(),
        report.summary()
    );
    let p99 = load::quantile(&report.point, 0.99);
    assert!(
        p99 < Duration::from_millis(100),
        "point queries' p99 {p99:?}\n{}",
        report.summary()
    );
    assert_eq!(report.node_memory_mb.len(), 3, "{}", report.summary());
    for (node, (mb, node_limit)) in &report.node_memory_mb {
        assert_eq!(*node_limit, Some(node_limit_mb));
        assert!(
            *mb < node_limit_mb as f64,
            "node {node} reached {mb:.0} MB\n{}",
            report.summary()
        );
    }
    let differences = load::differences_from_embedded(&cluster, &tree)
        .await
        .unwrap();
    assert!(differences.is_empty(), "{differences:#?}");
}
