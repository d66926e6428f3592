//! Network partition, in process: three coordinators and two storage nodes
//! run inside the test (`Cluster::local`), and every link of the Raft leader
//! to the other members is cut (`net::faults`: no root, no network
//! namespaces). The majority elects a new leader and goes on taking
//! metadata writes and ingests, the isolated member commits nothing and
//! answers no stale read, and when its links come back the cluster
//! converges on one leader and one catalog.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cluster_tests::load::{client, cpg_ingest};
use cluster_tests::{binary, comparable, example_copy, query_at, Cluster};
use codebase::embedded;
use proto::coordinator_api::ClusterView;
use proto::Query;
use query::answer;

async fn view_at(address: &str) -> Option<ClusterView> {
    let c = client(address).await.ok()?;
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + Duration::from_secs(2);
    c.cluster_view(ctx).await.ok()?.ok()
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
    let cut = Instant::now();
    let new_leader = loop {
        let mut seen = None;
        for h in &others {
            if let Some(l) = view_at(&addrs[*h]).await.and_then(|v| v.leader) {
                if l != addrs[leader] {
                    seen = Some(l);
                }
            }
        }
        if let Some(l) = seen {
            break l;
        }
        assert!(
            cut.elapsed() < Duration::from_secs(30),
            "no new leader in the majority"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "new leader {new_leader} elected {:?} after the cut",
        cut.elapsed()
    );

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
    let (program, args) = (
        binary("cpg"),
        vec![
            "--coordinator".into(),
            addrs[leader].clone(),
            "cluster".into(),
            "decommission-node".into(),
            "1".into(),
            "--wait-secs".into(),
            "1".into(),
        ],
    );
    let out = std::process::Command::new("timeout")
        .env("CPG_INSECURE", "true")
        .arg("2")
        .arg(program)
        .args(args)
        .output()
        .unwrap();
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
    let (program, args) = (
        binary("cpg"),
        vec![
            "--coordinator".into(),
            addrs[leader].clone(),
            "callees".into(),
            "Shop.Partitioned.during/0".into(),
        ],
    );
    let asked = Instant::now();
    let out = std::process::Command::new("timeout")
        .env("CPG_INSECURE", "true")
        .arg("20")
        .arg(program)
        .args(args)
        .output()
        .unwrap();
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
    let healed = Instant::now();
    loop {
        let views: Vec<Option<ClusterView>> = {
            let mut v = Vec::new();
            for a in &addrs {
                v.push(view_at(a).await);
            }
            v
        };
        let converged = views.iter().all(|v| {
            v.as_ref().is_some_and(|v| {
                v.leader.as_deref() == Some(new_leader.as_str())
                    && v.generation == after.generation
                    && v.nodes.iter().all(|n| n.state == "up")
            })
        });
        if converged {
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(30),
            "not converged after healing: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("converged {:?} after healing", healed.elapsed());
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
