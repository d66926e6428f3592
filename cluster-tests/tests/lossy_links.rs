//! Lossy and replaying links, in process: three coordinators and three
//! storage nodes run inside the test (`Cluster::local`), and the links
//! between them lose or repeat whole messages (`net::faults`: requests and
//! replies under the framing, the connection staying open). A repeated
//! Raft message, replica write or heartbeat changes nothing twice; a
//! follower whose messages to and from the leader are lost falls behind
//! while the majority goes on, and catches up once they get through again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cluster_tests::load::{cpg_ingest, differences_from_embedded};
use cluster_tests::{eventually, example_copy, Cluster};
use net::faults::Fault;
use proto::coordinator_api::ClusterView;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_lost_messages_leave_one_catalog_and_the_same_answers() {
    let cluster = Cluster::local(3, 3, 8, 2);
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let (_work, tree) = example_copy();
    every_message_delivered_twice_changes_nothing_twice(&cluster, &tree).await;
    a_follower_cut_off_by_lost_messages_catches_up(&cluster, &tree).await;
}

/// Every link between members repeats every message while the example is
/// ingested: the catalog records it once and every answer is embedded
/// mode's.
async fn every_message_delivered_twice_changes_nothing_twice(
    cluster: &Cluster,
    tree: &std::path::Path,
) {
    let faulted = net::faults::faults().messages_faulted();
    cluster.fault_every_link(Some(Fault::Duplicate));
    cpg_ingest(&cluster.coordinator_list(), tree).unwrap();
    let repeated = net::faults::faults().messages_faulted() - faulted;
    assert!(repeated > 0, "no message was repeated");
    let view = cluster.view().await.expect("a view");
    assert_eq!((view.files, view.generation), (26, 1), "{view:?}");
    let differences = differences_from_embedded(cluster, tree).await.unwrap();
    cluster.fault_every_link(None);
    assert!(differences.is_empty(), "{differences:#?}");
    println!("{repeated} messages delivered twice");
}

/// Coordinator `i`'s answer to a linearizable read of the view, and the
/// catalog generation its own replica of the state holds (from its
/// health report).
async fn view_of(cluster: &Cluster, i: usize) -> (Option<ClusterView>, Option<u64>) {
    let address = &cluster.coordinators[i].addr;
    let Ok(c) = net::coordinator_client::connect(address, Duration::from_secs(2)).await else {
        return (None, None);
    };
    let deadline = || {
        let mut ctx = tarpc::context::current();
        ctx.deadline = Instant::now() + Duration::from_secs(3);
        ctx
    };
    let view = c.cluster_view(deadline()).await.ok().and_then(Result::ok);
    let held = c.health(deadline()).await.ok().and_then(Result::ok);
    (view, held.map(|h| h.catalog_generation))
}

/// Every message between the leader and one follower is lost: the majority
/// (the leader and the other follower) commits an ingest the cut-off
/// follower does not see; once messages get through again it catches up.
async fn a_follower_cut_off_by_lost_messages_catches_up(cluster: &Cluster, tree: &std::path::Path) {
    let leader = cluster.leader().await.expect("a leader");
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let (l, f) = (
        &cluster.coordinators[leader],
        &cluster.coordinators[follower],
    );
    cluster.link(l, f, Some(Fault::Drop));
    std::fs::write(
        tree.join("lib/shop/lossy.ex"),
        "defmodule Shop.Lossy do\n  def during, do: Shop.Pricing.total([])\nend\n",
    )
    .unwrap();
    let majority = cluster
        .coordinators
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != follower)
        .map(|(_, c)| c.addr.clone())
        .collect::<Vec<_>>()
        .join(",");
    let faulted = net::faults::faults().messages_faulted();
    cpg_ingest(&majority, tree).unwrap();
    // The leader's next message to the follower (the entry, or a heartbeat
    // when a request sent before the cut is still waiting for its reply)
    // may leave after the ingest is acknowledged: wait for the loss to
    // meet traffic rather than assume it already has.
    let (_, waited) = eventually(
        Duration::from_secs(10),
        "no message between the leader and the cut-off follower was lost",
        async || match net::faults::faults().messages_faulted() - faulted {
            0 => Err("0 lost".to_string()),
            _ => Ok(()),
        },
    )
    .await;
    println!("a lost message met traffic {waited:?} after the ingest");
    let committed = view_of(cluster, leader)
        .await
        .0
        .expect("the leader answers");
    assert_eq!(committed.files, 27, "{committed:?}");
    // The follower holds none of it, and answers no read it cannot confirm
    // is the latest.
    let (read, held) = view_of(cluster, follower).await;
    assert!(read.is_none(), "a stale read answered: {read:?}");
    assert!(
        held.is_some_and(|g| g < committed.generation),
        "{held:?} vs {committed:?}"
    );

    cluster.link(l, f, None);
    let (_, took) = eventually(
        Duration::from_secs(30),
        "the follower did not catch up",
        async || match view_of(cluster, follower).await.0 {
            Some(v) if v.generation == committed.generation && v.files == 27 => Ok(()),
            now => Err(format!("{now:?}")),
        },
    )
    .await;
    println!("the follower caught up {took:?} after healing");
    let differences = differences_from_embedded(cluster, tree).await.unwrap();
    assert!(differences.is_empty(), "{differences:#?}");
}
