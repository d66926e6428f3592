//! Health, defragmentation and diagnosis of a cluster, then of the same
//! cluster with a node lost. Health judges query times: the cluster is
//! told that only a query over a minute is slow (`--slow-query-ms`), so
//! that other tests' load does not make it report a degraded cluster and
//! the test can run beside them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cluster_tests::Cluster;
use proto::assignment::NodeId;

const P: u32 = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_defrag_report_the_cluster_and_a_lost_node() {
    let _machine = crate::shared().await;
    let slow = ["--slow-query-ms", "60000"];
    let mut cluster = Cluster::builder(3, 3, P, 2)
        .coordinator_flags(&slow)
        .node_flags(&slow)
        .local();
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let example = cluster_tests::example();
    let run = |args: &[&str]| {
        cluster_tests::cpg_command()
            .arg("--coordinator")
            .arg(&list)
            .args(args)
            .output()
            .unwrap()
    };
    let ingested = run(&["ingest", example.to_str().unwrap()]);
    assert!(ingested.status.success(), "{ingested:?}");
    // The same analysis twice: one miss, then a hit.
    for _ in 0..2 {
        assert!(run(&["analyze", "cycles"]).status.success());
    }
    let health = |out: std::process::Output| -> proto::ClusterHealth {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    // Other tests run beside this one: a leader election or a slow write
    // under their load may show for a moment; the report must settle.
    let settled = |want: proto::TablesStatus| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let out = run(&["health", "--json"]);
            let h = health(out.clone());
            if h.cpg_tables_status == want || std::time::Instant::now() > deadline {
                return (out, h);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let (_, h) = settled(proto::TablesStatus::Healthy);
    assert_eq!(h.cpg_tables_status, proto::TablesStatus::Healthy, "{h:#?}");
    assert!(h.reasons.is_empty(), "{:?}", h.reasons);
    assert_eq!((h.partitions_total, h.replication), (P, 2), "{h:#?}");
    assert!(h.partitions_under_replicated.is_empty() && h.partitions_unavailable.is_empty());
    assert_eq!(h.raft.members.len(), 3);
    assert!(h.raft.leader.is_some() && h.raft.term > 0);
    assert_eq!(h.nodes.len(), 3);
    assert!(h.nodes.iter().all(|n| n.health.is_some()), "{h:#?}");
    // Counted once per partition: the embedded build's figures.
    let built = codebase::embedded::build(&example).unwrap();
    let stats = built.store.stats();
    assert_eq!(
        (h.total_cpg_nodes, h.total_cpg_edges),
        (stats.nodes, stats.edges)
    );
    // Replicas hold twice the CPG.
    let held: u64 = h
        .nodes
        .iter()
        .filter_map(|n| n.health.as_ref())
        .map(|x| x.total_cpg_nodes)
        .sum();
    assert_eq!(held, 2 * stats.nodes);
    assert_eq!(h.cache_hit_rate, 0.5, "one miss, one hit");
    assert!(h.queries.count >= 2 && h.queries.p99_query_time_ms >= h.queries.p50_query_time_ms);
    assert!(h.memory_usage_mb > 0.0);
    // The peak (VmHWM) is never below what is held now, here and on nodes.
    assert!(h.memory_peak_mb >= h.memory_usage_mb, "{h:?}");
    for x in h.nodes.iter().filter_map(|n| n.health.as_ref()) {
        assert!(x.memory_peak_mb >= x.memory_usage_mb && x.memory_usage_mb > 0.0);
    }
    // Every process says which release and protocol it runs.
    assert_eq!(h.version, net::wire::release());
    assert!(h.nodes.iter().all(|n| n
        .health
        .as_ref()
        .is_some_and(|x| x.version == net::wire::release())));

    // Defragmentation: nothing is over the threshold after a first ingest;
    // forced, every held partition is rebuilt and answers stay the same.
    let export = |out: std::process::Output| String::from_utf8(out.stdout).unwrap();
    let calls_before = export(run(&["export", "call-graph"]));
    let defrag = |args: &[&str]| -> serde_json::Value {
        let out = run(args);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let rebuilt = |v: &serde_json::Value| -> usize {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|n| n["partitions"].as_array().unwrap())
            .filter(|p| p["rebuilt"] == true)
            .count()
    };
    assert_eq!(rebuilt(&defrag(&["defrag", "--json"])), 0);
    let forced = defrag(&["defrag", "--force", "--json"]);
    assert_eq!(rebuilt(&forced), 2 * P as usize, "every replica: {forced}");
    for p in forced
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["partitions"].as_array().unwrap())
    {
        assert!(
            p["bytes_after"].as_u64() <= p["bytes_before"].as_u64(),
            "{p}"
        );
    }
    assert_eq!(export(run(&["export", "call-graph"])), calls_before);

    // Diagnosis: every node scans its tables and judges its indicators.
    let out = run(&["diagnose", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = d.as_array().unwrap();
    assert_eq!(d.len(), 3);
    for n in d {
        assert!(n["diagnosis"]["scanned_entries"].as_u64() > Some(0), "{n}");
        assert!(
            !n["diagnosis"]["indicators"].as_array().unwrap().is_empty(),
            "{n}"
        );
        // The node judges query times against the slow query time it was given.
        let p99 = n["diagnosis"]["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "p99_query_time_ms");
        let p99 = p99.unwrap_or_else(|| panic!("no p99 indicator (no reads?): {n}"));
        assert_eq!(p99["threshold"], 60000.0, "{n}");
    }
    let text = export(run(&["diagnose"]));
    assert!(
        text.contains("scan: ") && text.contains("deleted_entries_ratio"),
        "{text}"
    );

    // A node lost: its partitions are under-replicated, none unavailable
    // (R=2), the report says which node and the cluster is degraded.
    let lost = cluster.nodes[1].id;
    cluster.nodes[1].kill();
    let (out, h) = settled(proto::TablesStatus::Degraded);
    assert!(out.status.success(), "degraded is not unhealthy");
    assert_eq!(h.cpg_tables_status, proto::TablesStatus::Degraded, "{h:#?}");
    assert!(!h.partitions_under_replicated.is_empty());
    assert!(h.partitions_unavailable.is_empty());
    assert!(
        h.reasons
            .iter()
            .any(|r| r.contains(&format!("node {lost} at"))),
        "{:?}",
        h.reasons
    );
    let entry = h.nodes.iter().find(|n| n.id == NodeId(lost)).unwrap();
    assert!(entry.health.is_none() && entry.error.is_some());
    let text = String::from_utf8(run(&["health"]).stdout).unwrap();
    assert!(
        text.starts_with("cluster: degraded") && text.contains("under-replicated"),
        "{text}"
    );
    assert!(text.contains(", peak "), "{text}");
}
