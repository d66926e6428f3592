//! Benchmark of every analysis on a 3-node cluster (3 coordinators, 3
//! storage nodes, P=64, R=2) holding one source tree (the Elixir corpus: see
//! scripts/bench-analyses.sh), with real processes on loopback.
//!
//! `cargo run --release -p cluster-tests --example bench_analyses -- DIR [ROUNDS]`
//!
//! The first round ingests the tree into the empty cluster. Each later
//! round adds a function to one file, ingests, and times until a query
//! shows the function (a one-file change made visible), then puts the file
//! back and ingests again, so that every coordinator starts from a new
//! snapshot with an empty answer cache. Then, on each coordinator: one walk
//! query takes the snapshot (the first round: gather every partition;
//! later: the changed file's, reusing the rest; link the call graph), each
//! analysis is asked once (cold: computed) and then 5 more times (cached).
//! Every cluster answer is compared with the embedded answer on the same
//! tree. Prints medians and maxima over ROUNDS x 3 coordinators.
//! ROUNDS 0 times the embedded answers only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_tests::bench::{dir_arg, median, ms, number_arg};
use cluster_tests::load::{client, cpg_ingest};
use cluster_tests::{comparable, copy_tree, Cluster};
use codebase::embedded;
use proto::coordinator_api::CoordinatorServiceClient;
use proto::{CommunityAlgorithm, GraphKind, Metric, Mfa, Query, QueryResult};
use query::Snapshot;

const P: u32 = 64;
const R: u32 = 2;
const CACHED: usize = 5;

async fn ask(
    client: &CoordinatorServiceClient,
    q: &Query,
) -> Result<(Arc<QueryResult>, Duration), String> {
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + Duration::from_secs(120);
    let t = Instant::now();
    match client.query(ctx, String::new(), q.clone()).await {
        Ok(Ok(a)) => Ok((a.result, t.elapsed())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The analyses, with parameters taken from the tree.
fn queries(snapshot: &Snapshot) -> Vec<(String, Query)> {
    let g = &snapshot.graph;
    let defined: Vec<&Mfa> = g.defined().collect();
    let most_called = defined
        .iter()
        .max_by_key(|f| g.callers(f, 1).len())
        .map(|f| (*f).clone())
        .unwrap_or_else(|| Mfa::new("", "", 0));
    let farthest = g
        .callers(&most_called, 3)
        .into_iter()
        .max()
        .map(|r| r.mfa)
        .unwrap_or_else(|| most_called.clone());
    let mut v = vec![
        (
            "analyze report (top 10)".to_string(),
            Query::Analyze { top: 10 },
        ),
        (
            format!("callers depth 3 of {most_called}"),
            Query::Callers {
                function: most_called.clone(),
                depth: 3,
            },
        ),
        ("cycles (modules and functions)".into(), Query::Cycles),
        (
            format!("impact of {most_called}, depth 3"),
            Query::Impact {
                target: most_called.to_string(),
                depth: 3,
            },
        ),
        (
            format!("impact of module {}, depth 3", most_called.module),
            Query::Impact {
                target: most_called.module.clone(),
                depth: 3,
            },
        ),
        (
            format!("paths {farthest} -> {most_called}"),
            Query::Paths {
                from: farthest,
                to: most_called.clone(),
                max_depth: 6,
                max_paths: 20,
            },
        ),
    ];
    for (graph, name) in [
        (GraphKind::Functions, "functions"),
        (GraphKind::Modules, "modules"),
    ] {
        for (by, m) in [
            (Metric::PageRank, "pagerank"),
            (Metric::Betweenness, "betweenness"),
            (Metric::Closeness, "closeness"),
            (Metric::InDegree, "in-degree"),
        ] {
            v.push((
                format!("centrality {name} by {m} (top 10)"),
                Query::Centrality { graph, by, top: 10 },
            ));
        }
    }
    v.push((
        "communities (Louvain)".into(),
        Query::Communities {
            algorithm: CommunityAlgorithm::Louvain,
        },
    ));
    v.push((
        "communities (label propagation)".into(),
        Query::Communities {
            algorithm: CommunityAlgorithm::LabelPropagation,
        },
    ));
    v.push(("dead code".into(), Query::DeadCode { entries: vec![] }));
    v.push((
        "taint (default rules)".into(),
        Query::Taint {
            rules: partition::analysis::default_taint_rules(),
        },
    ));
    v.push((
        "smells (default thresholds)".into(),
        Query::Smells {
            thresholds: proto::SmellThresholds::default(),
        },
    ));
    v.push(("features (every function)".into(), Query::Features));
    v
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = dir_arg("usage: bench_analyses DIR [ROUNDS]")?;
    let rounds: usize = number_arg(2, 3)?;
    let work = tempfile::tempdir()?;
    let tree = work.path().join("tree");
    copy_tree(&dir, &tree)?;
    // The file each round edits: the first .ex file defining one module
    // and ending with its `end`, where a new function goes.
    let (touched, original) = embedded::read_sources(&tree)?
        .into_iter()
        .filter(|s| s.file.ends_with(".ex"))
        .find_map(|s| {
            let text = String::from_utf8(s.bytes).ok()?;
            (text.matches("defmodule ").count() == 1 && text.ends_with("\nend\n"))
                .then_some((s.file, text))
        })
        .ok_or("no .ex file defining one module in the tree")?;

    let built = embedded::build(&tree)?;
    let snapshot = built.snapshot();
    let module = snapshot
        .summaries
        .iter()
        .find(|m| m.file == touched && original.contains(&format!("defmodule {} do", m.name)))
        .map(|m| m.name.clone())
        .ok_or("no module found for the edited file")?;
    let touched = tree.join(touched);
    let queries = queries(&snapshot);
    let mut expected = Vec::new();
    let mut embedded_ms = Vec::new();
    for (_, q) in &queries {
        let mut times = Vec::new();
        let mut result = None;
        for _ in 0..3 {
            let t = Instant::now();
            let a = query::compute(&snapshot, q)?;
            times.push(t.elapsed());
            result = Some(comparable(a.result));
        }
        expected.push(result);
        embedded_ms.push(median(times));
    }

    let link = median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                partition::analysis::CallGraph::build(&snapshot.summaries);
                t.elapsed()
            })
            .collect(),
    );
    println!(
        "== linking the call graph of {} modules: {:.1} ms (median of 3)",
        snapshot.summaries.len(),
        ms(link)
    );
    if rounds == 0 {
        println!("== embedded only (ROUNDS 0), medians of 3");
        for (i, (name, _)) in queries.iter().enumerate() {
            println!("{name:<58} {:>10.2}", ms(embedded_ms[i]));
        }
        return Ok(());
    }
    let cluster = Cluster::start(3, 3, P, R);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let mut clients = Vec::new();
    for c in &cluster.coordinators {
        clients.push(client(&c.addr).await?);
    }
    let (mut gather_full, mut gather_one) = (Vec::new(), Vec::new());
    let mut full_ingest = None;
    let (mut one_file, mut visible) = (Vec::new(), Vec::new());
    let mut cold: Vec<Vec<Duration>> = vec![Vec::new(); queries.len()];
    let mut cached: Vec<Vec<Duration>> = vec![Vec::new(); queries.len()];
    for round in 0..rounds {
        if round > 0 {
            // A function added to one file: time until a query shows it.
            let name = format!("bench_round_{round}");
            let body = original.strip_suffix("end\n").unwrap_or(&original);
            let edited = format!("{body}\n  def {name}(x), do: String.upcase(x)\nend\n");
            std::fs::write(&touched, edited)?;
            let started = Instant::now();
            cpg_ingest(&cluster.coordinator_list(), &tree)?;
            let ingest_took = started.elapsed();
            let new = Query::Callees {
                function: Mfa::new(&module, &name, 1),
                depth: 1,
            };
            let (result, first) = ask(&clients[0], &new).await?;
            match &*result {
                QueryResult::Reached(r)
                    if r.iter().any(|x| x.mfa.to_string() == "String.upcase/1") => {}
                other => return Err(format!("the added function is not visible: {other:?}").into()),
            }
            one_file.push(ingest_took);
            visible.push(ingest_took + first);
            // Every coordinator takes the edited snapshot, so that none
            // carries answers over when the file goes back.
            for client in &clients[1..] {
                ask(client, &new).await?;
            }
            // And back, so answers compare with the embedded ones.
            std::fs::write(&touched, &original)?;
        }
        let started = Instant::now();
        cpg_ingest(&cluster.coordinator_list(), &tree)?;
        if round == 0 {
            full_ingest = Some(started.elapsed());
        }
        for client in &clients {
            let walk = &queries[1].1;
            let first = ask(client, walk).await?.1;
            if round == 0 {
                gather_full.push(first);
            } else {
                gather_one.push(first);
            }
            for (i, (name, q)) in queries.iter().enumerate() {
                let (result, took) = ask(client, q).await?;
                if i != 1 {
                    cold[i].push(took);
                }
                if Some(comparable(result)) != expected[i] {
                    return Err(
                        format!("{name}: the cluster's answer differs from embedded").into(),
                    );
                }
                for _ in 0..CACHED {
                    cached[i].push(ask(client, q).await?.1);
                }
            }
        }
    }
    let stats = built.store.stats();
    println!(
        "== {} files, {} modules, {} functions; 3 coordinators, 3 nodes, P={P}, R={R}; {rounds} rounds x 3 coordinators",
        stats.files, stats.modules, stats.functions
    );
    println!(
        "snapshot (first query after the first ingest: gather {P} partitions, link): median {:.1} ms, max {:.1} ms",
        ms(median(gather_full.clone())),
        ms(gather_full.iter().copied().max().unwrap_or_default())
    );
    if !gather_one.is_empty() {
        println!(
            "snapshot (first query after a one-file change: gather its partitions, link): median {:.1} ms, max {:.1} ms",
            ms(median(gather_one.clone())),
            ms(gather_one.iter().copied().max().unwrap_or_default())
        );
    }
    if let Some(full) = full_ingest {
        println!(
            "full ingest of the tree into the empty cluster (`cpg ingest`, a new process): {:.0} ms",
            ms(full)
        );
    }
    if !one_file.is_empty() {
        let (i, v) = (median(one_file.clone()), median(visible.clone()));
        println!(
            "one file changed: `cpg ingest` {:.0} ms, visible in the first query after it {:.0} ms (medians of {}); full ingest / visible: {:.1}",
            ms(i),
            ms(v),
            one_file.len(),
            full_ingest.map_or(f64::NAN, |f| f.as_secs_f64() / v.as_secs_f64())
        );
    }
    println!(
        "{:<58} {:>10} {:>10} {:>10} {:>10}",
        "analysis (answers equal to embedded)", "embedded", "cold p50", "cold max", "cached p50"
    );
    for (i, (name, _)) in queries.iter().enumerate() {
        let (c, cmax) = if cold[i].is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (
                ms(median(cold[i].clone())),
                ms(cold[i].iter().copied().max().unwrap_or_default()),
            )
        };
        println!(
            "{name:<58} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            ms(embedded_ms[i]),
            c,
            cmax,
            ms(median(cached[i].clone()))
        );
    }
    println!("(ms; the callers walk's cold time is the snapshot lines above)");
    Ok(())
}
