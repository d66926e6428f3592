//! Benchmark of the cluster against the embedded mode, on one source tree
//! (the Elixir corpus: see scripts/bench-cluster.sh), with real processes on
//! loopback: 3 coordinators and 3 storage nodes (R=2).
//!
//! `cargo run --release -p cluster-tests --example bench_cluster -- DIR [RUNS] [SECONDS]`
//!
//! Prints, in one run:
//! 1. the embedded build against the cluster ingest (`cpg ingest`'s code
//!    path: read, parse on the nodes, write every replica, record in Raft),
//!    alternating, each ingest into a fresh cluster; medians over RUNS;
//! 2. latency of callers-of-`M.f/a` (depth 1) with 8 concurrent clients,
//!    each with its own connection, for SECONDS: p50, p90, p99, max;
//! 3. every analysis embedded against the cluster: embedded = build and
//!    answer (what `cpg analyze DIR` pays) and answer alone; cluster = first
//!    query after an ingest (gather and link) and repeated queries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_tests::bench::{dir_arg, median, ms, number_arg};
use cluster_tests::{comparable, query_at, Cluster, Dice};
use codebase::embedded;
use proto::{Mfa, Query};
use query::answer;

const P: u32 = 64;
const R: u32 = 2;
const CLIENTS: usize = 8;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Ingest `dir` into `cluster` the way `cpg ingest` does; returns the time.
async fn ingest_tree(cluster: &Cluster, dir: &std::path::Path) -> Duration {
    let started = Instant::now();
    let view = cluster.view().await.expect("a coordinator answers");
    let clients = Cluster::node_clients(&view);
    let sources = embedded::read_sources(dir).expect("readable tree");
    let shape = (view.epoch, view.partitions);
    let report = cluster_tests::ingest_through_nodes(&clients, shape, &view.assignment, sources)
        .await
        .expect("ingest");
    let coordinators = cluster.coordinator_addrs();
    cpg::cli::record_ingest(
        &coordinators,
        view.leader,
        proto::coordinator_api::IngestRecord {
            put: report.put,
            removed: report.removed,
            missed: report.missed,
            ..Default::default()
        },
    )
    .await
    .expect("recorded");
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = dir_arg("usage: bench_cluster DIR [RUNS] [SECONDS]")?;
    let runs: usize = number_arg(2, 5)?;
    let seconds: u64 = number_arg(3, 10)?;

    // 1. Embedded build against cluster ingest, alternating.
    let (mut built, mut ingested) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let b = embedded::build(&dir)?;
        built.push(t.elapsed());
        last = Some(b);
        let cluster = Cluster::start(3, 3, P, R);
        cluster.must_be_ready(P, Duration::from_secs(60)).await;
        ingested.push(ingest_tree(&cluster, &dir).await);
    }
    let b = last.ok_or("RUNS must be at least 1")?;
    let stats = b.store.stats();
    println!(
        "== {} files, {} modules, {} CPG nodes, {} edges",
        stats.files, stats.modules, stats.nodes, stats.edges
    );
    println!("== ingest: embedded build vs 3-node cluster (P={P}, R={R}), medians of {runs}");
    let (eb, ci) = (median(built), median(ingested));
    println!("embedded build   {:>9.0} ms", ms(eb));
    println!("cluster ingest   {:>9.0} ms", ms(ci));
    println!(
        "ratio            {:>9.2}",
        ci.as_secs_f64() / eb.as_secs_f64()
    );

    // The cluster the rest runs on.
    let cluster = Cluster::start(3, 3, P, R);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    ingest_tree(&cluster, &dir).await;
    let snapshot = b.snapshot();
    let functions: Vec<Mfa> = snapshot.graph.defined().cloned().collect();

    // 3 (first: the cold query must be the first after the ingest).
    let walk_of = functions
        .iter()
        .max_by_key(|f| snapshot.graph.callers(f, 1).len())
        .cloned()
        .ok_or("no functions")?;
    let queries = [
        ("analyze (report, top 10)", Query::Analyze { top: 10 }),
        ("export call-graph", Query::CallGraph),
        (
            "callers depth 3 (most-called function)",
            Query::Callers {
                function: walk_of.clone(),
                depth: 3,
            },
        ),
        (
            "callees depth 3 (same function)",
            Query::Callees {
                function: walk_of.clone(),
                depth: 3,
            },
        ),
    ];
    let coordinator = cluster.coordinators[0].addr.clone();
    let t = Instant::now();
    query_at(&coordinator, &queries[0].1).await?;
    let cold = t.elapsed();
    let mut rows = Vec::new();
    for (name, q) in &queries {
        let (mut emb, mut warm) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            let a = answer(&snapshot, q)?;
            emb.push(t.elapsed());
            let t = Instant::now();
            let c = query_at(&coordinator, q).await?;
            warm.push(t.elapsed());
            assert_eq!(
                format!("{:?}", comparable(c.result)),
                format!("{:?}", comparable(a.result)),
                "{name}: cluster and embedded differ"
            );
        }
        rows.push((name, median(emb), median(warm)));
    }
    println!("== analyses: embedded vs cluster, medians of {runs} (answers compared equal)");
    println!(
        "embedded build (once per `cpg ... DIR` run): {:.0} ms",
        ms(eb)
    );
    println!(
        "cluster, first query after the ingest (gather {} partitions, link, answer): {:.0} ms",
        P,
        ms(cold)
    );
    println!(
        "{:<42} {:>14} {:>14}",
        "analysis", "embedded ms", "cluster ms"
    );
    for (name, e, c) in &rows {
        println!("{name:<42} {:>14.2} {:>14.2}", ms(*e), ms(*c));
    }

    // 2. Callers-of latency under 8 concurrent clients.
    let addresses = cluster.coordinator_addrs();
    let functions = Arc::new(functions);
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let address = addresses[i % addresses.len()].clone();
        let functions = functions.clone();
        tasks.push(tokio::spawn(async move {
            let client = net::coordinator_client::connect(&address, Duration::from_secs(2)).await?;
            let mut dice = Dice::for_client(i);
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < until {
                let function = functions[dice.roll(functions.len())].clone();
                let t = Instant::now();
                let r = client
                    .query(
                        tarpc::context::current(),
                        String::new(),
                        Query::Callers { function, depth: 1 },
                    )
                    .await;
                latencies.push(t.elapsed());
                if !matches!(r, Ok(Ok(_))) {
                    errors += 1;
                }
            }
            Ok::<_, std::io::Error>((latencies, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await??;
        all.extend(l);
        errors += e;
    }
    all.sort();
    println!("== callers-of M.f/a (depth 1), {CLIENTS} concurrent clients over the 3 coordinators, {seconds} s");
    println!(
        "queries {}  errors {errors}  throughput {:.0}/s",
        all.len(),
        all.len() as f64 / seconds as f64
    );
    println!(
        "p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.9)),
        ms(percentile(&all, 0.99)),
        ms(percentile(&all, 1.0))
    );
    Ok(())
}
