//! Memory pressure, on real processes: a node with a small memory limit
//! is filled until it refuses an ingest; queries still answer, repeated
//! ones from the cache, no process dies, and what the nodes store is
//! unchanged. It bounds one node's own memory, which other tests running
//! meanwhile do not change: it shares the machine. (The production load
//! is `alone::production_load`.)

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_tests::load::{self, cpg_ingest};
use cluster_tests::{corpus, query_at, Cluster};
use codebase::embedded;
use codebase::ingest::held_files;
use net::node_client::NodeClient;
use proto::assignment::{NodeId, PartitionId};
use proto::Query;

/// file → content hash of every file each node holds.
async fn stored(cluster: &Cluster) -> BTreeMap<NodeId, BTreeMap<String, u64>> {
    let view = cluster.view().await.expect("the cluster's view");
    let mut out = BTreeMap::new();
    for (id, address) in Cluster::node_addresses(&view) {
        let client = NodeClient::new(id, address);
        let mut one = std::collections::HashMap::new();
        one.insert(id, std::sync::Arc::new(client));
        let mine: BTreeMap<PartitionId, Vec<NodeId>> = view
            .assignment
            .iter()
            .filter(|(_, r)| r.contains(&id))
            .map(|(p, _)| (*p, vec![id]))
            .collect();
        let held = held_files(&one, view.epoch, &mine, Duration::from_secs(30))
            .await
            .expect("what a node holds");
        out.insert(id, held.into_iter().map(|(f, (h, _))| (f, h)).collect());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_memory_pressure_a_node_keeps_answering_and_loses_nothing() {
    let _machine = crate::shared().await;
    // Two nodes, each holding every partition (R = 2). Empty, a node uses
    // about 10 MB, and about 120 MB with the whole corpus: with a 100 MB
    // limit the second node is over 80% (caches dropped) part way through,
    // and over 90% (ingests refused) before the corpus is all in. The
    // coordinator has no limit, so what is tested is the node.
    let mut cluster = Cluster::builder(1, 2, 8, 2).start();
    cluster.nodes[1].restart_with(&["--memory-limit-mb", "100"]);
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    cluster.node_serves(1, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let address = cluster.coordinators[0].addr.clone();
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    // Filled a few files at a time, with renamed copies of the corpus
    // (other code bases of the same shape), until an ingest is refused.
    let corpus = corpus();
    let files: Vec<String> = embedded::read_sources(&corpus)
        .unwrap()
        .into_iter()
        .map(|s| s.file)
        .collect();
    let namespaces = cluster_tests::namespaces(&embedded::build(&corpus).unwrap().snapshot());
    let mut before_refusal = None;
    let mut refusal = None;
    'fill: for copy in 0..3 {
        for chunk in files.chunks(40) {
            let target = tree.join(format!("copy{copy}"));
            let keep = |f: &str| chunk.iter().any(|c| c == f);
            cluster_tests::renamed_copy(&corpus, &target, &format!("C{copy}"), &namespaces, &keep)
                .unwrap();
            let stored_before = stored(&cluster).await;
            if let Err(e) = cpg_ingest(&list, &tree) {
                for f in chunk {
                    std::fs::remove_file(target.join(f)).unwrap();
                }
                before_refusal = Some(stored_before);
                refusal = Some(e);
                break 'fill;
            }
        }
    }
    let refusal = refusal.expect("the node never came under pressure");
    assert!(
        refusal.contains("node 2") && refusal.contains("100 MB limit"),
        "{refusal}"
    );
    // Nothing of the refused ingest was stored, on either node, and both
    // replicas hold the same content.
    let stored_after = stored(&cluster).await;
    let before_refusal = before_refusal.unwrap();
    for (node, after) in &stored_after {
        let before = before_refusal.get(node).cloned().unwrap_or_default();
        let changed: Vec<&String> = after
            .iter()
            .filter(|(f, h)| before.get(*f) != Some(h))
            .map(|(f, _)| f)
            .chain(before.keys().filter(|f| !after.contains_key(*f)))
            .collect();
        assert!(
            changed.is_empty(),
            "node {node}: {} files differ after the refused ingest, e.g. {:?}",
            changed.len(),
            &changed[..changed.len().min(5)]
        );
    }
    assert_eq!(stored_after.get(&NodeId(1)), stored_after.get(&NodeId(2)));
    // What is stored is what the tree holds (refused part removed).
    let on_disk: BTreeMap<String, u64> = embedded::read_sources(&tree)
        .unwrap()
        .into_iter()
        .map(|s| (s.file, partition::frontend::content_hash(&s.bytes)))
        .collect();
    assert_eq!(stored_after.get(&NodeId(2)), Some(&on_disk));

    // Health says which node is under pressure.
    let c = load::client(&address).await.unwrap();
    let health = c.health(tarpc::context::current()).await.unwrap().unwrap();
    let node2 = health.nodes.iter().find(|n| n.id == NodeId(2)).unwrap();
    let h2 = node2.health.as_ref().unwrap();
    assert!(
        h2.reasons.iter().any(|r| r.contains("100 MB limit")),
        "{health:#?}"
    );

    // Queries answer, point queries and whole-graph analyses, and repeated
    // ones come from the cache.
    let snapshot = embedded::build(&tree).unwrap().snapshot();
    let mut queries = load::point_queries(&snapshot, 12);
    queries.extend([Query::Cycles, Query::Features]);
    let counts = async || {
        let mut ctx = tarpc::context::current();
        ctx.deadline = std::time::Instant::now() + Duration::from_secs(30);
        let x = c.cache_cleanup(ctx).await.unwrap().unwrap();
        (x.hits, x.misses)
    };
    let (hits0, misses0) = counts().await;
    for round in 0..5 {
        for q in &queries {
            let answer = query_at(&address, q).await;
            assert!(answer.is_ok(), "round {round}, {q:?}: {answer:?}");
            if round == 0 {
                let expected =
                    query::compute(&snapshot, q).map(|a| cluster_tests::comparable(a.result));
                assert_eq!(
                    answer.ok().map(|a| cluster_tests::comparable(a.result)),
                    expected.ok(),
                    "{q:?}"
                );
            }
        }
    }
    let (hits1, misses1) = counts().await;
    let (hits, misses) = (hits1 - hits0, misses1 - misses0);
    let rate = hits as f64 / (hits + misses).max(1) as f64;
    assert!(
        rate > 0.5,
        "hit rate {rate:.2} ({hits} hits, {misses} misses)"
    );

    // No process died.
    for p in cluster
        .coordinators
        .iter_mut()
        .chain(cluster.nodes.iter_mut())
    {
        assert!(p.running(), "process {} at {} is gone", p.id, p.addr);
    }
}
