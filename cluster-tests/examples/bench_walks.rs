//! Point queries walked in the coordinator's graph against walked on the
//! storage nodes (`--walks-on-nodes`), on a `cpg dev-cluster` that already
//! holds TREE (`cpg dev-cluster up --data-dir DATA`, then `cpg ingest
//! TREE`), release build:
//!
//! `bench_walks DATA TREE [QUERIES] [ROUNDS]`
//!
//! Each round starts the cluster again (`cpg dev-cluster up`) with
//! `CPG_NO_ANSWER_CACHE` (every answer computed) and without, then with
//! `CPG_WALKS_ON_NODES`, the two in turn; asks one query to build the
//! coordinator's snapshot (not timed), then `QUERIES` (default 2000) point
//! queries from 8 clients, callers or impact of functions of TREE that are
//! called, at depths 1–5 ([`point_load`]); prints p50 and p99, errors, and
//! the peak memory of every process; stops the cluster. The walks' first
//! queries include sending each partition's table to its replicas.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cluster_tests::bench::ms;
use cluster_tests::load::{called_functions, client, peak_memory, point_load, quantile};
use codebase::embedded;
use proto::Query;

const CLIENTS: usize = 8;

type Error = Box<dyn std::error::Error>;

/// `cpg dev-cluster COMMAND --data-dir DATA` with `walks` set or not;
/// the first coordinator's address for `up`.
fn dev_cluster(command: &str, data: &str, walks: bool) -> Result<String, Error> {
    let mut cmd = Command::new(cluster_tests::binary("cpg"));
    cmd.args(["dev-cluster", command, "--data-dir", data])
        .env("CPG_INSECURE", "true")
        .env("CPG_NO_ANSWER_CACHE", "true")
        .env_remove("CPG_WALKS_ON_NODES");
    if walks {
        cmd.env("CPG_WALKS_ON_NODES", "true");
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "cpg dev-cluster {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split(|c: char| c.is_whitespace() || c == ',')
        .find_map(|w| w.strip_prefix("CPG_COORDINATOR="))
        .unwrap_or_default()
        .to_string())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(data), Some(tree)) = (args.first(), args.get(1)) else {
        return Err("usage: bench_walks DATA TREE [QUERIES] [ROUNDS]".into());
    };
    let queries: usize = args.get(2).map_or(Ok(2000), |s| s.parse())?;
    let rounds: usize = args.get(3).map_or(Ok(2), |s| s.parse())?;
    let snapshot = embedded::build(&PathBuf::from(tree))?.snapshot();
    let called = Arc::new(called_functions(&snapshot));
    println!(
        "{} functions called; {queries} point queries from {CLIENTS} clients per run",
        called.len()
    );
    println!("| walks | p50 (ms) | p99 (ms) | errors | coordinator peak (MB) | node peaks (MB) |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for _ in 0..rounds {
        for walks in [false, true] {
            let address = dev_cluster("up", data, walks)?;
            let c = client(&address).await?;
            let mut ctx = tarpc::context::current();
            ctx.deadline = std::time::Instant::now() + Duration::from_secs(600);
            // The snapshot, built once (callers of the first function).
            let first = Query::Callers {
                function: called[0].clone(),
                depth: 1,
            };
            c.query(ctx, String::new(), first)
                .await?
                .map_err(|e| e.to_string())?;
            let (times, errors) = point_load(&address, called.clone(), queries, CLIENTS).await;
            let (coordinator, nodes) = peak_memory(&address, 3).await?;
            println!(
                "| {} | {:.2} | {:.2} | {} | {coordinator:.0} | {} |",
                if walks { "nodes" } else { "coordinator" },
                ms(quantile(&times, 0.5)),
                ms(quantile(&times, 0.99)),
                errors.len(),
                nodes
                    .iter()
                    .map(|m| format!("{m:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(e) = errors.first() {
                eprintln!("first error: {e}");
            }
            dev_cluster("down", data, walks)?;
        }
    }
    Ok(())
}
