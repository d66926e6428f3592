//! Network partition, in process: three coordinators and two storage nodes
//! run inside the test (`Cluster::local`), and every link of the Raft leader
//! to the other members is cut (`net::faults`: no root, no network
//! namespaces). The majority elects a new leader and goes on taking
//! metadata writes and ingests, the isolated member commits nothing and
//! answers no stale read, and when its links come back the cluster
//! converges on one leader and one catalog.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cluster_tests::load::cpg_ingest;
use cluster_tests::{binary, comparable, eventually, example_copy, query_at, view_at, Cluster};
use codebase::embedded;
use proto::coordinator_api::ClusterView;
use proto::Query;
use query::answer;

/// `cpg ARGS`, killed after `limit_secs` if it has not ended (`timeout`).
fn cpg_within(limit_secs: u32, args: &[&str]) -> std::process::Output {
    std::process::Command::new("timeout")
        .env("CPG_INSECURE", "true")
        .arg(limit_secs.to_string())
        .arg(binary("cpg"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_commits_nothing_and_the_cluster_converges_when_healed() {
    let cluster = Cluster::local(3, 2, 8, 2);
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let addrs = cluster.coordinator_addrs();
    let list = cluster.coordinator_list();
    let (_work, tree) = example_copy();
    cpg_ingest(&list, &tree).unwrap();

    // Cut the leader off.
    let leader = cluster.leader().await.expect("a leader");
    let others: Vec<usize> = (0..3).filter(|h| *h != leader).collect();
    let majority = others
        .iter()
        .map(|h| addrs[*h].clone())
        .collect::<Vec<_>>()
        .join(",");
    cluster.isolate(&cluster.coordinators[leader]);
    let (new_leader, took) = eventually(
        Duration::from_secs(30),
        "no new leader in the majority",
        async || {
            let mut seen = None;
            for h in &others {
                if let Some(l) = view_at(&addrs[*h]).await.and_then(|v| v.leader) {
                    if l != addrs[leader] {
                        seen = Some(l);
                    }
                }
            }
            seen.ok_or_else(|| "none seen".to_string())
        },
    )
    .await;
    println!("new leader {new_leader} elected {took:?} after the cut");

    // The majority takes an ingest (data and a catalog record).
    std::fs::write(
        tree.join("lib/shop/partitioned.ex"),
        "defmodule Shop.Partitioned do\n  def during, do: Shop.Pricing.total([])\nend\n",
    )
    .unwrap();
    cpg_ingest(&majority, &tree).unwrap();
    let after = view_at(&new_leader).await.expect("the new leader answers");

    // The isolated member commits nothing: a metadata write sent to it (by
    // a client on its side of the cut) never completes.
    let out = cpg_within(
        2,
        &[
            "--coordinator",
            &addrs[leader],
            "cluster",
            "decommission-node",
            "1",
            "--wait-secs",
            "1",
        ],
    );
    assert!(
        !out.status.success(),
        "the isolated coordinator took a write: {out:?}"
    );
    println!(
        "a write sent to the isolated coordinator: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );

    // Nor does it answer a read from before the cut: a query sent to it
    // cannot confirm the leader's commit index and fails, rather than leave
    // out the majority's ingest.
    let asked = Instant::now();
    let out = cpg_within(
        20,
        &[
            "--coordinator",
            &addrs[leader],
            "callees",
            "Shop.Partitioned.during/0",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("cannot confirm it has the latest cluster state"),
        "the isolated coordinator answered a stale read: {out:?}"
    );
    println!(
        "a read sent to the isolated coordinator: refused after {:?}: {}",
        asked.elapsed(),
        stderr.trim()
    );

    // Healed: one leader, one catalog, the minority's write nowhere.
    cluster.heal(&cluster.coordinators[leader]);
    let (_, took) = eventually(
        Duration::from_secs(30),
        "not converged after healing",
        async || {
            let mut views: Vec<Option<ClusterView>> = Vec::new();
            for a in &addrs {
                views.push(view_at(a).await);
            }
            let converged = views.iter().all(|v| {
                v.as_ref().is_some_and(|v| {
                    v.leader.as_deref() == Some(new_leader.as_str())
                        && v.generation == after.generation
                        && v.nodes.iter().all(|n| n.state == "up")
                })
            });
            if converged {
                Ok(())
            } else {
                Err(format!("{views:?}"))
            }
        },
    )
    .await;
    println!("converged {took:?} after healing");
    // The once-isolated coordinator answers with the majority's data.
    let snapshot = embedded::build(&tree).unwrap().snapshot();
    for q in [
        Query::Cycles,
        Query::Callees {
            function: "Shop.Partitioned.during/0".parse().unwrap(),
            depth: 1,
        },
    ] {
        let want = answer(&snapshot, &q)
            .map(|a| comparable(a.result))
            .map_err(|e| e.to_string());
        let got = query_at(&addrs[leader], &q)
            .await
            .map(|a| comparable(a.result));
        assert!(got == want, "{q:?} at the healed coordinator");
    }
}
