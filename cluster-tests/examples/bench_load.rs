//! The production load of the production-load test (see
//! `cluster_tests::load`) as a benchmark: release build, 1 coordinator and
//! 3 storage nodes (P=32, R=2, nodes limited to 1 GB), the Elixir corpus,
//! `CPG_LOAD_SECS` seconds (default 30); `CPG_LOAD_COORDINATORS` (default 1)
//! coordinators, queries sent to a follower when there are several;
//! `CPG_LOAD_UNCACHED=1` turns the coordinators' answer cache off and draws
//! each point query's function and depth (1–5) at random. Prints the latency figures for
//! BENCHMARKS.md, and checks every answer against an embedded run of the
//! final tree afterwards.
//!
//! `scripts/bench-load.sh` runs it: `bench_load CORPUS`.

use std::time::Duration;

use cluster_tests::load::{self, cpg_ingest, LoadConfig};
use cluster_tests::{copy_tree, Cluster};
use codebase::embedded;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = cluster_tests::bench::dir_arg("usage: bench_load CORPUS")?;
    let config = LoadConfig::from_env(30);
    let coordinators = std::env::var("CPG_LOAD_COORDINATORS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    // CPG_LOAD_UNCACHED=1: the answer cache off and every point query on a
    // function and a depth drawn at random, so each one is computed.
    let coordinator_flags: &[&str] = if config.uncached {
        &["--no-answer-cache"]
    } else {
        &[]
    };
    let cluster = Cluster::builder(coordinators, 3, 32, 2)
        .coordinator_flags(coordinator_flags)
        .node_flags(&["--memory-limit-mb", "1024"])
        .start();
    println!(
        "== {coordinators} coordinator(s){}{}",
        if coordinators > 1 {
            ", queries sent to a follower"
        } else {
            ""
        },
        if config.uncached {
            "; answer cache off, point queries on random functions at random depths (1-5)"
        } else {
            "; answer cache on, 60 point queries in turn"
        }
    );
    cluster.must_be_ready(32, Duration::from_secs(60)).await;
    let work = tempfile::tempdir()?;
    let tree = work.path().join("corpus");
    copy_tree(&corpus, &tree)?;
    let initial = embedded::build(&tree)?.snapshot();
    cpg_ingest(&cluster.coordinator_list(), &tree)?;
    let report = load::run(&cluster, &tree, &initial, &config).await?;
    print!("{}", report.summary());
    let differences = load::differences_from_embedded(&cluster, &tree).await?;
    if differences.is_empty() {
        println!("after the load: every answer equals an embedded run of the final tree");
        Ok(())
    } else {
        Err(format!("answers differ from embedded: {differences:#?}").into())
    }
}
