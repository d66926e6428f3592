//! Point queries walked on the storage nodes (`--walks-on-nodes`): callers,
//! callees and a function's impact, made in rounds with each partition's
//! share of the linked graph, answer what an embedded build answers; a
//! lost replica is walked around, a restarted one is sent the tables it
//! lost, a new generation is walked with new tables, and no walk falls back to the coordinator's own graph until
//! both replicas of a partition are lost; then the walks that need it are
//! answered from that graph, the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cluster_tests::load::cpg_ingest;
use cluster_tests::metrics::metric;
use cluster_tests::queries::walks_from;
use cluster_tests::{comparable, query_at, Cluster};
use codebase::embedded;
use proto::{Mfa, Query};

const P: u32 = 16;

/// Callers, callees and impact of every function of the graph, at depths
/// 1 to 4 in turn, and of a function that is not there.
fn point_queries(snapshot: &query::Snapshot) -> Vec<Query> {
    let mut out = Vec::new();
    for (i, f) in snapshot.graph.functions.iter().enumerate() {
        let depth = 1 + (i % 4) as u32;
        out.extend(walks_from(&f.mfa, depth));
    }
    out.push(Query::Callers {
        function: Mfa::new("Nope", "f", 1),
        depth: 2,
    });
    out
}

/// Every query asked at `address` answers as `snapshot` does (the first
/// `most` of them); how many were answered (not refused).
async fn assert_as_embedded(
    address: &str,
    snapshot: &query::Snapshot,
    when: &str,
    most: usize,
) -> usize {
    let mut queries = point_queries(snapshot);
    queries.truncate(most);
    let mut answered = 0;
    for q in &queries {
        let want = query::compute(snapshot, q).map(|a| comparable(a.result));
        let got = query_at(address, q).await.map(|a| comparable(a.result));
        match (&got, &want) {
            (Ok(g), Ok(w)) => {
                assert_eq!(g, w, "{when}: {q:?}");
                answered += 1;
            }
            (Err(g), Err(w)) => assert!(g.contains(&w.to_string()), "{when}: {q:?}: {g} / {w}"),
            _ => panic!("{when}: {q:?}: {got:?}, embedded {want:?}"),
        }
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_on_the_nodes_answer_as_embedded_around_a_lost_replica_and_after_a_change() {
    let _machine = crate::shared().await;
    let metrics = format!("127.0.0.1:{}", cluster_tests::free_port());
    let mut cluster = Cluster::builder(1, 3, P, 2)
        .coordinator_flags(&[
            "--walks-on-nodes",
            "--no-answer-cache",
            "--metrics-listen",
            &metrics,
        ])
        .local();
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree) = cluster_tests::example_copy();
    let list = cluster.coordinator_list();
    cpg_ingest(&list, &tree).unwrap();
    let address = cluster.coordinators[0].addr.clone();

    let snapshot = embedded::build(&tree).unwrap().snapshot();
    let mut asked = assert_as_embedded(&address, &snapshot, "all nodes up", usize::MAX).await;
    let sent = metric(&metrics, "cpg_walk_tables_sent_total").await;
    assert!(sent > 0.0, "no table was sent");

    // A replica lost: its partitions are walked on the other one, which
    // holds their tables already (sent ahead).
    cluster.nodes[0].kill();
    asked += assert_as_embedded(&address, &snapshot, "node 1 killed", usize::MAX).await;
    // Back, it holds no table: a walk that asks it sends the table first
    // (once the 2 s for which a replica that failed is asked last are over).
    cluster.nodes[0].restart();
    cluster.node_serves(0, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    asked += assert_as_embedded(&address, &snapshot, "node 1 back", usize::MAX).await;
    let resent = metric(&metrics, "cpg_walk_tables_sent_total").await;
    assert!(resent > sent, "no table was sent to the restarted node");

    // A change: a new module calling into the code; walked with the new
    // generation's tables.
    std::fs::write(
        tree.join("lib/walks_probe.ex"),
        "defmodule Shop.WalksProbe do\n  def go(x), do: Shop.Pricing.total(x) |> String.to_atom()\nend\n",
    )
    .unwrap();
    cpg_ingest(&list, &tree).unwrap();
    let changed = embedded::build(&tree).unwrap().snapshot();
    asked += assert_as_embedded(&address, &changed, "after a change", usize::MAX).await;
    assert!(
        metric(&metrics, "cpg_walk_tables_sent_total").await > resent,
        "the new generation's tables were not sent"
    );

    let walks = metric(&metrics, "cpg_node_walks_total").await;
    let fallbacks = metric(&metrics, "cpg_node_walk_fallbacks_total").await;
    assert_eq!(fallbacks, 0.0, "walks answered by the coordinator's graph");
    // Every query answered was walked (no answer is cached), and the
    // refused ones (an unknown function, a name that does not parse) not.
    assert_eq!(walks as usize, asked, "walks and answers");
    assert!(metric(&metrics, "cpg_node_walk_rounds_total").await >= walks);

    // The nodes report what their tables take.
    let client = net::coordinator_client::connect(&address, Duration::from_secs(2))
        .await
        .unwrap();
    let health = client
        .health(tarpc::context::current())
        .await
        .unwrap()
        .unwrap();
    let held: Vec<f64> = health
        .nodes
        .iter()
        .filter_map(|n| n.health.as_ref())
        .map(|h| h.walk_tables_mb)
        .collect();
    assert_eq!(held.len(), 3, "{health:?}");
    assert!(held.iter().all(|&mb| mb > 0.0), "{held:?}");

    // Both replicas of some partitions lost: their rounds fail, and those
    // walks are answered from the coordinator's own graph, the same. (Forty
    // queries: each tries the lost replicas first.)
    cluster.nodes[0].kill();
    cluster.nodes[1].kill();
    let more = assert_as_embedded(&address, &changed, "nodes 1 and 2 killed", 40).await;
    let on_nodes = metric(&metrics, "cpg_node_walks_total").await - walks;
    let fallbacks = metric(&metrics, "cpg_node_walk_fallbacks_total").await;
    assert!(
        fallbacks > 0.0,
        "no walk fell back with two of three nodes lost"
    );
    assert_eq!((on_nodes + fallbacks) as usize, more, "walks and answers");
}
