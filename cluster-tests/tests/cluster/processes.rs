//! Whole clusters on loopback: three coordinators and three storage nodes.
//! Every analysis on the cluster equals the embedded run over the same tree;
//! every member can be killed and restarted, one after the other, without
//! changing an answer or losing data; killing the Raft leader elects another
//! and lets ingests and queries go on.
//!
//! Most scenarios run the daemons inside the test (`Cluster::local`: a
//! crash drops a member's runtime). Real processes (`Cluster::start`) are
//! kept where the operating system is the point: `kill -9` of processes,
//! SIGSTOP (a hung replica, a suspect node), a node's own memory limit,
//! `cpg dev-cluster`, and daemons read from configuration files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cluster_tests::gather_summaries;
use cluster_tests::ingest_through_nodes;
use cluster_tests::metrics::metric;
use cluster_tests::queries::walks_from;
use cluster_tests::{comparable, copy_tree, corpus, eventually, query_at, Cluster};
use codebase::embedded;
use partition::analysis::CallGraph;
use proto::assignment::{NodeId, PartitionId};
use proto::coordinator_api::ClusterView;
use proto::{Mfa, Query, QueryResult};
use query::answer;
use query::report::{call_rows, render_csv};

const P: u32 = 16;

/// Run the `cpg` binary; it must succeed. Returns its standard output.
fn cpg(args: &[&str]) -> String {
    let out = cluster_tests::succeeds(
        cluster_tests::cpg_command().args(args),
        &format!("cpg {args:?}"),
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `cpg health --json` through `coordinators`.
fn cluster_health(coordinators: &str) -> proto::ClusterHealth {
    serde_json::from_str(&cpg(&["--coordinator", coordinators, "health", "--json"])).unwrap()
}

/// A copy of the example, ingested through every coordinator of `cluster`:
/// the copy's directory (removed when dropped), the tree, and the
/// coordinator list the ingest was given.
fn ingest_example(cluster: &Cluster) -> (tempfile::TempDir, PathBuf, String) {
    let (work, tree) = cluster_tests::example_copy();
    let list = cluster.coordinator_list();
    cpg(&["--coordinator", &list, "ingest", tree.to_str().unwrap()]);
    (work, tree, list)
}

/// A new module in `tree`, `Shop.Audit`, that calls `Shop.Orders.place`:
/// the next ingest parses one file and writes its partition.
fn add_audit(tree: &Path) {
    std::fs::write(
        tree.join("lib/shop/audit.ex"),
        "defmodule Shop.Audit do\n  def log(order), do: Shop.Orders.place(order, [], :card)\nend\n",
    )
    .unwrap();
}

/// Ingest `tree` through `coordinators`; the ingest must succeed (`when`
/// names the scenario when it does not). Returns what it wrote on stderr.
fn ingest_stderr(coordinators: &str, tree: &Path, when: &str) -> String {
    let mut ingest = cluster_tests::cpg_command();
    ingest
        .args(["--coordinator", coordinators, "ingest"])
        .arg(tree);
    String::from_utf8_lossy(&cluster_tests::succeeds(&mut ingest, when).stderr).into_owned()
}

/// Every analysis with parameters taken from the tree itself: the report,
/// the call graph, and callers and callees at several depths of the most
/// called and most complex functions, plus a function that does not exist.
/// Returns each query with the embedded answer (or error text).
fn expected_answers(root: &Path) -> Vec<(Query, Result<QueryResult, String>)> {
    let built = embedded::build(root).unwrap();
    let snapshot = built.snapshot();
    let mut queries = vec![
        Query::Analyze { top: 15 },
        Query::CallGraph,
        Query::ModuleGraph,
    ];
    let Ok(QueryResult::Analyze(report)) = answer(&snapshot, &Query::Analyze { top: 3 })
        .map(|a| std::sync::Arc::unwrap_or_clone(a.result))
    else {
        panic!("embedded analyze failed");
    };
    let called: Vec<Mfa> = report.most_called.iter().map(|f| f.mfa.clone()).collect();
    let complex: Vec<Mfa> = report.most_complex.iter().map(|f| f.mfa.clone()).collect();
    for function in called.iter().chain(&complex) {
        for depth in [1, 3] {
            // Callers and callees.
            queries.extend_from_slice(&walks_from(function, depth)[..2]);
        }
    }
    queries.push(Query::Cycles);
    queries.push(Query::DeadCode { entries: vec![] });
    queries.push(Query::Taint {
        rules: partition::analysis::default_taint_rules(),
    });
    queries.push(Query::Smells {
        thresholds: proto::SmellThresholds::default(),
    });
    for algorithm in [
        proto::CommunityAlgorithm::Louvain,
        proto::CommunityAlgorithm::LabelPropagation,
    ] {
        queries.push(Query::Communities { algorithm });
    }
    if let Some(target) = called.first() {
        let farthest = snapshot.graph.callers(target, 3).into_iter().max();
        if let Some(start) = farthest {
            queries.push(Query::Paths {
                from: start.mfa,
                to: target.clone(),
                max_depth: 4,
                max_paths: 10,
            });
        }
    }
    queries.push(Query::Centrality {
        graph: proto::GraphKind::Modules,
        by: proto::Metric::Betweenness,
        top: 20,
    });
    for function in called.iter().chain(&complex).take(3) {
        queries.push(Query::Impact {
            target: function.to_string(),
            depth: 3,
        });
        queries.push(Query::Impact {
            target: function.module.clone(),
            depth: 2,
        });
    }
    queries.push(Query::Callers {
        function: "No.Such.Module.f/1".parse().unwrap(),
        depth: 1,
    });
    queries
        .into_iter()
        .map(|q| {
            let a = answer(&snapshot, &q)
                .map(|a| comparable(a.result))
                .map_err(|e| e.to_string());
            (q, a)
        })
        .collect()
}

/// Every query answered by the coordinator at `address` equals the
/// embedded answer, and is complete.
async fn assert_same_at(
    address: &str,
    expected: &[(Query, Result<QueryResult, String>)],
    when: &str,
) {
    for (q, want) in expected {
        let got = query_at(address, q).await.map(|a| {
            assert!(
                a.missing.is_empty(),
                "{when}: {q:?} at {address} is missing partitions {:?} ({:?})",
                a.missing,
                a.failures
            );
            comparable(a.result)
        });
        if got != *want {
            panic!(
                "{when}: {q:?} at {address} differs from the embedded answer: {}",
                first_difference(&got, want)
            );
        }
    }
}

/// The first line where the two answers' JSON differ, for the failure message.
fn first_difference(
    got: &Result<QueryResult, String>,
    want: &Result<QueryResult, String>,
) -> String {
    let text = |r: &Result<QueryResult, String>| serde_json::to_string_pretty(r).unwrap();
    let (g, w) = (text(got), text(want));
    g.lines()
        .zip(w.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(n, (a, b))| format!("line {n}: cluster {a:?}, embedded {b:?}"))
        .unwrap_or_else(|| format!("{} lines against {}", g.lines().count(), w.lines().count()))
}

/// Wait until the coordinator at `address` answers a cluster view.
async fn coordinator_answers(address: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if query_at(address, &Query::Analyze { top: 1 }).await.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "coordinator {address} did not come back within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_differential_then_every_process_killed_and_restarted_in_turn() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::local(3, 3, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let root = corpus();
    let list = cluster.coordinator_list();
    // The embedded answers are computed while the cluster ingests.
    let embedded = {
        let root = root.clone();
        std::thread::spawn(move || expected_answers(&root))
    };
    let first = cpg(&["--coordinator", &list, "ingest", root.to_str().unwrap()]);
    assert!(first.contains(" 0 unchanged, 0 removed"), "{first}");
    let expected = embedded.join().unwrap();
    assert!(expected.len() > 10);
    same_at_every_coordinator(&cluster, &expected, "after the ingest").await;

    for i in 0..3 {
        // A coordinator down: the others answer.
        cluster.coordinators[i].kill();
        let other = cluster.coordinators[(i + 1) % 3].addr.clone();
        assert_same_at(
            &other,
            &expected[..2],
            &format!("coordinator {} down", i + 1),
        )
        .await;
        // A node down as well; the coordinator restarted from its data dir
        // has no snapshot yet, so it gathers with node i+1 gone and must get
        // every partition from the other replica.
        cluster.nodes[i].kill();
        cluster.coordinators[i].restart();
        let addr = cluster.coordinators[i].addr.clone();
        coordinator_answers(&addr, Duration::from_secs(30)).await;
        assert_same_at(
            &addr,
            &expected,
            &format!("coordinator {0} restarted, node {0} down", i + 1),
        )
        .await;
        cluster.nodes[i].restart();
        cluster.node_serves(i, Duration::from_secs(60)).await;
    }

    // Nothing was lost: every file is still held with the same content.
    let again = cpg(&["--coordinator", &list, "ingest", root.to_str().unwrap()]);
    assert!(again.contains(" 0 parsed, "), "{again}");
    // Restart every coordinator so that nothing is answered from a kept
    // snapshot: the answers come from what the restarted nodes hold.
    for c in &mut cluster.coordinators {
        c.restart();
    }
    for c in &cluster.coordinators {
        coordinator_answers(&c.addr, Duration::from_secs(30)).await;
    }
    same_at_every_coordinator(&cluster, &expected, "after every restart").await;
}

/// [`assert_same_at`] at the three coordinators of `cluster`, at once.
async fn same_at_every_coordinator(
    cluster: &Cluster,
    expected: &[(Query, Result<QueryResult, String>)],
    when: &str,
) {
    let [a, b, c] = &cluster.coordinators[..] else {
        panic!("three coordinators");
    };
    tokio::join!(
        assert_same_at(&a.addr, expected, when),
        assert_same_at(&b.addr, expected, when),
        assert_same_at(&c.addr, expected, when),
    );
}

/// Rebalancing under queries: a node added (partitions copied onto it,
/// then switched) and another decommissioned (its partitions copied away,
/// then dropped). Every complete answer given meanwhile equals the embedded
/// one, ingests go on, and the map ends with every partition on R serving
/// replicas spread over the remaining nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_added_and_decommissioned_under_queries_keep_every_answer_whole() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::local(3, 2, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree, list) = ingest_example(&cluster);
    let expected = std::sync::Arc::new(expected_answers(&tree));

    // Queries all along, on every coordinator.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checker = {
        let (stop, expected) = (stop.clone(), expected.clone());
        let addrs = cluster.coordinator_addrs();
        tokio::spawn(async move {
            let (mut complete, mut incomplete, mut failed) = (0u32, 0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for addr in &addrs {
                    for (q, want) in expected.iter().take(8) {
                        match query_at(addr, q).await {
                            Ok(a) if a.missing.is_empty() => {
                                let got = Ok(comparable(a.result));
                                assert_eq!(&got, want, "{q:?} at {addr} during a move");
                                complete += 1;
                            }
                            Ok(_) => incomplete += 1,
                            Err(e) if want.is_err() => {
                                assert_eq!(Err(e), *want, "{q:?} at {addr}");
                                complete += 1;
                            }
                            Err(e) => failed.push(e),
                        }
                    }
                }
            }
            (complete, incomplete, failed)
        })
    };

    // A third node, admitted with the CLI: partitions move onto it.
    let addr = cluster.add_node().addr.clone();
    let added = cpg(&["--coordinator", &list, "cluster", "add-node", "3", &addr]);
    assert!(added.starts_with("node 3 at "), "{added}");
    let view = cluster.view().await.unwrap();
    assert!(view.joining.is_empty(), "{view:?}");
    let serving =
        |v: &ClusterView, id: NodeId| v.assignment.values().filter(|r| r.contains(&id)).count();
    assert!(
        serving(&view, NodeId(3)) > 0,
        "node 3 serves nothing: {view:?}"
    );
    for p in PartitionId::all(P) {
        assert_eq!(view.assignment[&p].len(), 2, "partition {p}: {view:?}");
    }
    assert_same_at(
        &cluster.coordinators[0].addr,
        &expected,
        "after a node was added",
    )
    .await;

    // An ingest with the new map: a file changed, answers follow.
    let format = tree.join("lib/shop/util/format.ex");
    let text = std::fs::read_to_string(&format).unwrap();
    std::fs::write(&format, format!("{text}\n# moved\n")).unwrap();
    let out = cpg(&["--coordinator", &list, "ingest", tree.to_str().unwrap()]);
    assert!(out.contains("1 parsed"), "{out}");

    // Node 1 decommissioned: its partitions go to nodes 2 and 3.
    let gone = cpg(&["--coordinator", &list, "cluster", "decommission-node", "1"]);
    assert!(gone.starts_with("node 1 decommissioned"), "{gone}");
    let view = cluster.view().await.unwrap();
    assert_eq!(serving(&view, NodeId(1)), 0, "{view:?}");
    for p in PartitionId::all(P) {
        let mut replicas = view.assignment[&p].clone();
        replicas.sort();
        assert_eq!(
            replicas,
            vec![NodeId(2), NodeId(3)],
            "partition {p}: {view:?}"
        );
    }
    let status: serde_json::Value = serde_json::from_str(&cpg(&[
        "--coordinator",
        &list,
        "cluster",
        "status",
        "--json",
    ]))
    .unwrap();
    assert_eq!(status["moving"], serde_json::json!([]), "{status}");
    assert_eq!(
        status["under_replicated"],
        serde_json::json!([]),
        "{status}"
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (complete, incomplete, failed) = checker.await.unwrap();
    assert!(complete > 0, "no query answered during the moves");
    // Moves switch maps between queries; a query may meet a refused old
    // epoch, but almost all answer.
    assert!(
        failed.len() as u32 * 100 <= complete + incomplete + failed.len() as u32,
        "{} failed of {}: {:?}",
        failed.len(),
        complete + incomplete + failed.len() as u32,
        &failed[..failed.len().min(3)]
    );
    // Node 1 dropped what it no longer holds.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = |dir: &Path| {
        std::fs::read_dir(dir.join("partitions"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                    .count()
            })
            .unwrap_or(0)
    };
    while logs(&cluster.nodes[0].data_dir) > 0 {
        assert!(Instant::now() < deadline, "node 1 kept its partition logs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expected = expected_answers(&tree);
    for c in &cluster.coordinators {
        assert_same_at(&c.addr, &expected, "after the moves").await;
    }
    // Its process stopped, the cluster is healthy: a decommissioned node is
    // out for good, not a node that does not answer.
    cluster.nodes[0].kill();
    let health = cluster_health(&list);
    assert_eq!(
        health.cpg_tables_status,
        proto::TablesStatus::Healthy,
        "{:?}",
        health.reasons
    );
    assert!(health
        .nodes
        .iter()
        .any(|n| n.id == NodeId(1) && n.state == "decommissioned"));
    println!(
        "during the moves: {complete} complete answers, {incomplete} incomplete, {} errors",
        failed.len()
    );
}

/// Copy a directory tree (small test trees only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_raft_leader_lets_ingest_and_queries_go_on() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::local(3, 3, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let tree = tempfile::tempdir().unwrap();
    let example = cluster_tests::example();
    copy_tree(&example, tree.path()).unwrap();
    let list = cluster.coordinator_list();
    let path = tree.path().to_str().unwrap();
    let first = cpg(&["--coordinator", &list, "ingest", path]);
    assert!(first.contains("catalog generation 1"), "{first}");

    let old = cluster.leader().await.expect("a leader");
    cluster.coordinators[old].kill();
    // Queries go on at once: any member answers from its replica.
    let mut expected = expected_answers(tree.path());
    let built = embedded::build(tree.path()).unwrap();
    let functions = Query::Centrality {
        graph: proto::GraphKind::Functions,
        by: proto::Metric::PageRank,
        top: 10,
    };
    let snapshot = built.snapshot();
    for q in [functions, Query::Features] {
        let a = answer(&snapshot, &q).unwrap();
        expected.push((q, Ok(comparable(a.result))));
    }
    let survivor = cluster.coordinators[(old + 1) % 3].addr.clone();
    assert_same_at(&survivor, &expected, "right after the leader died").await;

    // An ingest of a changed tree goes on: a new leader records it.
    let lib = tree.path().join("lib/shop/audit.ex");
    std::fs::write(
        &lib,
        "defmodule Shop.Audit do\n  def record(event), do: Shop.Util.Sorting.sort_key(event)\nend\n",
    )
    .unwrap();
    let second = cpg(&["--coordinator", &list, "ingest", path]);
    assert!(
        second.contains("1 parsed") && second.contains("catalog generation 2"),
        "{second}"
    );
    let view = cluster.view().await.unwrap();
    assert!(
        view.leader.is_some()
            && view.leader.as_deref() != Some(cluster.coordinators[old].addr.as_str())
    );
    let expected = expected_answers(tree.path());
    assert_same_at(&survivor, &expected, "after the ingest under a new leader").await;

    // The old leader comes back as a follower and catches up.
    cluster.coordinators[old].restart();
    let addr = cluster.coordinators[old].addr.clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(a) = query_at(&addr, &Query::CallGraph).await {
            if a.generation == 2 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the old leader did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_same_at(&addr, &expected, "the old leader, back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_on_real_processes_survives_kill_9() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::start(3, 3, P, 2);
    let view = cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let clients = Cluster::node_clients(&view);

    let root = corpus();
    let sources = embedded::read_sources(&root).unwrap();
    let shape = (view.epoch, view.partitions);
    let report = ingest_through_nodes(&clients, shape, &view.assignment, sources)
        .await
        .unwrap();
    assert_eq!(report.files_parsed, report.files_seen);
    let expected = render_csv(&call_rows(&CallGraph::build(
        &embedded::build(&root).unwrap().store.summaries(),
    )));
    let gather =
        |within: Duration| gather_summaries(&clients, view.epoch, &view.assignment, within);
    let cluster_csv = || async {
        let g = gather(Duration::from_secs(10)).await;
        (
            g.complete,
            render_csv(&call_rows(&CallGraph::build(&g.summaries))),
        )
    };
    assert_eq!(cluster_csv().await, (true, expected.clone()));

    // SIGKILL one node: its replicas answer for it.
    cluster.nodes[0].kill();
    assert_eq!(cluster_csv().await, (true, expected.clone()));

    // Restart it on its data dir: everything it acknowledged is back.
    cluster.nodes[0].restart();
    let mut back = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let only_it: Vec<PartitionId> = view
            .assignment
            .iter()
            .filter(|(_, r)| r[0] == NodeId(1))
            .map(|(p, _)| *p)
            .collect();
        let client = clients[&NodeId(1)].clone();
        let epoch = view.epoch;
        let r = client
            .call(Duration::from_secs(5), move |c, ctx| {
                let only_it = only_it.clone();
                async move { c.summaries(ctx, epoch, only_it).await }
            })
            .await;
        if r.is_ok() {
            back = true;
            break;
        }
    }
    assert!(
        back,
        "the restarted node did not serve its partitions again"
    );
    // SIGKILL the other two: partitions node 1 holds can only come from its
    // own data now, after its kill -9 and restart, and must be exactly what
    // the healthy cluster had; the rest are reported missing.
    let before = gather(Duration::from_secs(10)).await;
    assert!(before.complete);
    cluster.nodes[1].kill();
    cluster.nodes[2].kill();
    let after = gather(Duration::from_secs(5)).await;
    let held_by_1: Vec<PartitionId> = view
        .assignment
        .iter()
        .filter(|(_, r)| r.contains(&NodeId(1)))
        .map(|(p, _)| *p)
        .collect();
    let not_held: Vec<PartitionId> = view
        .assignment
        .keys()
        .copied()
        .filter(|p| !held_by_1.contains(p))
        .collect();
    assert_eq!(after.missing, not_held);
    let of_node_1 = |s: &[std::sync::Arc<proto::ModuleSummary>]| -> Vec<proto::ModuleSummary> {
        s.iter()
            .filter(|m| held_by_1.contains(&partition::partitioning::partition_of(&m.name, P)))
            .map(|m| (**m).clone())
            .collect()
    };
    let survived = of_node_1(&after.summaries);
    assert!(!survived.is_empty());
    assert_eq!(survived, of_node_1(&before.summaries));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_gives_the_same_export_embedded_and_on_the_cluster() {
    let _machine = crate::shared().await;
    let cluster = Cluster::local(3, 3, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let coordinators = cluster.coordinator_addrs();
    // The example, and an empty file: a file without modules, which no
    // node holds, is still unchanged the second time.
    let (_work, example) = cluster_tests::example_copy();
    std::fs::write(example.join("lib/empty.ex"), "").unwrap();
    let joined = coordinators.join(",");
    let ingest = || {
        cpg(&[
            "--coordinator",
            &joined,
            "ingest",
            example.to_str().unwrap(),
        ])
    };
    let ingested = ingest();
    assert!(
        ingested.starts_with("27 files: 27 parsed, 0 unchanged"),
        "{ingested}"
    );
    let again = ingest();
    assert!(
        again.starts_with("27 files: 0 parsed, 27 unchanged"),
        "{again}"
    );
    assert!(ingested.contains("catalog generation 1"), "{ingested}");
    assert!(
        again.contains("catalog generation 1"),
        "an unchanged tree is not a new generation: {again}"
    );
    let view = cluster.view().await.unwrap();
    assert_eq!((view.files, view.generation), (27, 1));

    // The same export, from the tree embedded and from the cluster.
    let both = |what: &str, format: &str| {
        let tree = example.to_str().unwrap();
        let embedded = cpg(&["export", what, tree, "--format", format]);
        let on_cluster = cpg(&["--coordinator", &joined, "export", what, "--format", format]);
        (embedded, on_cluster)
    };
    let (embedded, on_cluster) = both("call-graph", "csv");
    assert_eq!(on_cluster, embedded);
    // To a file: written whole, readable by others like any export.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("calls.csv");
    let to_file = [
        "--coordinator",
        &joined,
        "export",
        "call-graph",
        "--format",
        "csv",
        "-o",
    ];
    cpg(&[&to_file[..], &[file.to_str().unwrap()]].concat());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), embedded);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind");
    for format in ["graphml", "dot", "json", "csv"] {
        let (embedded, on_cluster) = both("module-graph", format);
        assert_eq!(on_cluster, embedded, "module graph as {format}");
        assert!(embedded.contains("Shop.Orders"), "{format}: {embedded}");
    }
    // The environment variable works like the flag, and any coordinator will do.
    let out = cluster_tests::cpg_command()
        .env("CPG_COORDINATOR", &coordinators[2])
        .args(["callers", "String.to_atom/1", "--depth", "5"])
        .output()
        .unwrap();
    let via_env = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        via_env,
        cpg(&[
            "callers",
            "String.to_atom/1",
            example.to_str().unwrap(),
            "--depth",
            "5"
        ])
    );
}

/// Two projects on one cluster: each answers exactly as an embedded run
/// on its own tree, neither sees the other's modules, and the dependency
/// release both use is stored once, listed by version in the catalog, and
/// removed only when the last project using it drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_share_one_stored_copy_of_a_library_and_answer_as_embedded() {
    let _machine = crate::shared().await;
    let cluster = Cluster::local(1, 3, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let write = |root: &Path, path: &str, text: &str| {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    // Two applications (the example, and the example with one more
    // module), each with the same release of a dependency.
    let (_a_dir, a) = cluster_tests::example_copy();
    let (_b_dir, b) = cluster_tests::example_copy();
    for root in [&a, &b] {
        write(
            root,
            "deps/gen/lib/gen/store.ex",
            "defmodule Gen.Store do\n  def fetch(x), do: {:ok, x}\n  def other, do: 1\nend\n",
        );
        write(
            root,
            "deps/gen/lib/gen.ex",
            "defmodule Gen do\n  def version, do: \"1.0.0\"\nend\n",
        );
        write(
            root,
            "mix.lock",
            "%{\n  \"gen\": {:hex, :gen, \"1.0.0\", \"abc\", [:mix], [], \"hexpm\", \"def\"},\n}\n",
        );
        write(
            root,
            "lib/uses_gen.ex",
            "defmodule UsesGen do\n  def get(x), do: Gen.Store.fetch(x)\nend\n",
        );
        // A template: its owner's pattern is a path, kept apart per project.
        write(
            root,
            "lib/page_html.ex",
            "defmodule PageHTML do\n  use Phoenix.Component\n  embed_templates \"page_html/*\"\nend\n",
        );
        write(
            root,
            "lib/page_html/home.html.heex",
            "<p><%= UsesGen.get(1) %></p>\n",
        );
    }
    write(
        &b,
        "lib/only_b.ex",
        "defmodule OnlyB do\n  def f(x), do: UsesGen.get(x)\nend\n",
    );
    let on = |project: &str, args: &[&str]| {
        let mut all = vec!["--coordinator", &list, "--project", project];
        all.extend_from_slice(args);
        cpg(&all)
    };
    let first = on("a", &["ingest", a.to_str().unwrap()]);
    assert!(
        first.starts_with("31 files: 31 parsed, 0 unchanged"),
        "{first}"
    );
    // b's copy of the library is a's: only b's own files are parsed.
    let second = on("b", &["ingest", b.to_str().unwrap()]);
    assert!(
        second.starts_with("32 files: 30 parsed, 2 unchanged"),
        "{second}"
    );
    let view = cluster.view().await.unwrap();
    assert_eq!(view.files, 29 + 30 + 2, "two projects' files, one library");
    let projects: serde_json::Value =
        serde_json::from_str(&on("", &["projects", "--json"])).unwrap();
    let names: Vec<&str> = projects
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    for p in projects.as_array().unwrap() {
        let libs = p["libraries"].as_array().unwrap();
        assert_eq!(libs.len(), 1, "{p}");
        assert_eq!(libs[0][0]["package"], "gen");
        assert_eq!(libs[0][0]["version"], "1.0.0");
        assert_eq!(libs[0][1], 2, "two files stored");
    }
    assert_eq!(projects[0]["libraries"], projects[1]["libraries"]);
    let text = on("", &["projects"]);
    assert!(
        text.contains("shared by 2 projects") && text.contains("1 libraries stored for 2 uses"),
        "{text}"
    );
    // Each project answers as an embedded run on its tree does.
    for (project, root) in [("a", &a), ("b", &b)] {
        for what in ["call-graph", "module-graph"] {
            let embedded = cpg(&["export", what, root.to_str().unwrap(), "--format", "csv"]);
            assert_eq!(
                on(project, &["export", what, "--format", "csv"]),
                embedded,
                "{project} {what}"
            );
        }
        let embedded = cpg(&["analyze", "dead-code", root.to_str().unwrap(), "--json"]);
        assert_eq!(
            on(project, &["analyze", "dead-code", "--json"]),
            embedded,
            "{project} dead code"
        );
    }
    let callers = on("b", &["callers", "Gen.Store.fetch/1", "--depth", "2"]);
    assert!(
        callers.contains("UsesGen.get/1")
            && callers.contains("OnlyB.f/1")
            && callers.contains("PageHTML.home/1"),
        "{callers}"
    );
    // a does not see b's module; an unknown project is an error.
    let out = cluster_tests::cpg_command()
        .args([
            "--coordinator",
            &list,
            "--project",
            "a",
            "callers",
            "OnlyB.f/1",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("neither defined nor called"),
        "{out:?}"
    );
    let out = cluster_tests::cpg_command()
        .args(["--coordinator", &list, "--project", "nope", "analyze"])
        .output()
        .unwrap();
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("no project \"nope\""),
        "{out:?}"
    );
    // a drops the dependency: b still uses it, so it stays stored.
    std::fs::remove_dir_all(a.join("deps")).unwrap();
    let dropped = on("a", &["ingest", a.to_str().unwrap()]);
    assert!(
        dropped.starts_with("29 files: 0 parsed, 29 unchanged, 0 removed"),
        "{dropped}"
    );
    assert_eq!(cluster.view().await.unwrap().files, 29 + 30 + 2);
    let callers = on("b", &["callers", "Gen.Store.fetch/1"]);
    assert!(callers.contains("UsesGen.get/1"), "{callers}");
    // Then b drops it too: the last user, so its files go.
    std::fs::remove_dir_all(b.join("deps")).unwrap();
    let dropped = on("b", &["ingest", b.to_str().unwrap()]);
    assert!(
        dropped.starts_with("30 files: 0 parsed, 30 unchanged, 2 removed"),
        "{dropped}"
    );
    assert_eq!(cluster.view().await.unwrap().files, 29 + 30);
}

/// Stops a dev cluster when the test ends, passing or failing.
struct DevCluster(PathBuf);

impl Drop for DevCluster {
    fn drop(&mut self) {
        let _ = cluster_tests::cpg_command()
            .args(["dev-cluster", "down", "--data-dir"])
            .arg(&self.0)
            .output();
    }
}

#[test]
fn dev_cluster_up_status_down_and_up_again_brings_the_data_back() {
    let _machine = crate::shared_blocking();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cluster");
    let guard = DevCluster(data.clone());
    let d = data.to_str().unwrap();
    // Ports from the harness's range: free ports the system picks are
    // ephemeral ones, which other tests' connections can take before the
    // processes bind them.
    let base = cluster_tests::free_ports(7).to_string();
    let up = cpg(&[
        "dev-cluster",
        "up",
        "--data-dir",
        d,
        "--partitions",
        "8",
        "--base-port",
        &base,
    ]);
    let list = up
        .lines()
        .find_map(|l| l.trim().strip_prefix("export CPG_COORDINATOR="))
        .unwrap_or_else(|| panic!("no coordinator list in {up}"))
        .to_string();
    assert_eq!(list.split(',').count(), 3, "{up}");
    let example = cluster_tests::example();
    let example = example.to_str().unwrap();
    cpg(&["--coordinator", &list, "ingest", example]);
    // The dashboard and HTTP API of the first coordinator.
    let web = up
        .lines()
        .find_map(|l| l.strip_prefix("dashboard and HTTP API: http://"))
        .and_then(|l| l.split('/').next())
        .unwrap_or_else(|| panic!("no dashboard address in {up}"))
        .to_string();
    let page = cluster_tests::http(&web, "GET", "/", None).unwrap();
    assert_eq!(page.status, 200);
    let view = cluster_tests::http(&web, "GET", "/api/v1/cluster", None).unwrap();
    assert!(view.text().contains("\"generation\":1"), "{}", view.text());
    let status = cpg(&["dev-cluster", "status", "--data-dir", d]);
    assert_eq!(status.matches("running").count(), 6, "{status}");
    // Unless told otherwise, every process runs with glibc's malloc
    // limited to two arenas (host::malloc).
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        let layout: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(data.join("dev-cluster.json")).unwrap())
                .unwrap();
        let wanted = format!("GLIBC_TUNABLES={}", host::malloc::TUNABLES);
        for p in ["coordinators", "nodes"]
            .iter()
            .flat_map(|k| layout[k].as_array().unwrap())
        {
            let pid = p["pid"].as_u64().unwrap();
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
            assert!(
                env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()),
                "process {pid} runs without {wanted}"
            );
        }
    }
    assert!(status.contains("Raft leader"), "{status}");
    assert!(
        status.contains("catalog generation 1 with 26 files"),
        "{status}"
    );

    let down = cpg(&["dev-cluster", "down", "--data-dir", d]);
    assert!(down.starts_with("stopped 6 processes"), "{down}");
    let status = cpg(&["dev-cluster", "status", "--data-dir", d]);
    assert_eq!(status.matches("stopped").count(), 6, "{status}");
    assert!(status.contains("no coordinator answers"), "{status}");

    let again = cpg(&["dev-cluster", "up", "--data-dir", d]);
    assert!(
        again.contains(&list),
        "the same addresses come back: {again}"
    );
    let walk = ["callers", "String.to_atom/1", "--depth", "5"];
    let mut on_cluster = vec!["--coordinator", &list];
    on_cluster.extend(walk);
    let mut embedded = walk.to_vec();
    embedded.push(example);
    assert_eq!(cpg(&on_cluster), cpg(&embedded));
    let status = cpg(&["dev-cluster", "status", "--data-dir", d]);
    assert!(
        status.contains("catalog generation 1 with 26 files"),
        "{status}"
    );
    drop(guard);
    let status = cpg(&["dev-cluster", "status", "--data-dir", d]);
    assert_eq!(status.matches("stopped").count(), 6, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_results_expire_and_cleanup_reports_what_it_removed() {
    let _machine = crate::shared().await;
    // TTL 2 s and no periodic sweep: what expires stays until a cleanup.
    let ttl = ["--cache-ttl-secs", "2", "--cache-sweep-secs", "0"];
    let cluster = Cluster::builder(1, 2, 8, 2)
        .coordinator_flags(&ttl)
        .node_flags(&ttl)
        .local();
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let example = cluster_tests::example();
    let run = |args: &[&str]| {
        let out = cluster_tests::cpg_command()
            .arg("--coordinator")
            .arg(&list)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "cpg {args:?}: {out:?}");
        out.stdout
    };
    run(&["ingest", example.to_str().unwrap()]);
    let cycles = run(&["analyze", "cycles"]);
    let cleanup = || -> Vec<(String, u64, u64)> {
        let v: serde_json::Value =
            serde_json::from_slice(&run(&["cache", "cleanup", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["process"].as_str().unwrap().to_string(),
                    r["cleanup"]["removed"].as_u64().unwrap(),
                    r["cleanup"]["entries"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // Fresh: nothing removed; the coordinator holds the answer, each node
    // the summaries of every partition it holds (8 partitions x 2 replicas).
    let fresh = cleanup();
    assert_eq!(fresh.len(), 3, "{fresh:?}");
    assert!(
        fresh.iter().all(|(_, removed, _)| *removed == 0),
        "{fresh:?}"
    );
    assert_eq!(fresh[0].2, 1, "{fresh:?}");
    let node_entries: u64 = fresh[1..].iter().map(|(_, _, e)| e).sum();
    assert!(node_entries > 0 && node_entries <= 16, "{fresh:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Expired: the cleanup removes exactly what was there.
    let expired = cleanup();
    for ((p, removed, left), (_, _, before)) in expired.iter().zip(&fresh) {
        assert_eq!((*removed, *left), (*before, 0), "{p}: {expired:?}");
    }
    // And the next query computes again, with the same answer.
    assert_eq!(run(&["analyze", "cycles"]), cycles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_memory_pressure_heavy_work_is_refused_and_point_queries_answer() {
    let _machine = crate::shared().await;
    let example = cluster_tests::example();
    let run = |list: &str, args: &[&str]| {
        cluster_tests::cpg_command()
            .arg("--coordinator")
            .arg(list)
            .args(args)
            .output()
            .unwrap()
    };
    // Coordinators over a 1 MB limit: the ingest (nodes' work) goes
    // through, walks from a function answer, whole-graph analyses are
    // refused with the coordinator's figures.
    let cluster = Cluster::builder(1, 2, 8, 2)
        .coordinator_flags(&["--memory-limit-mb", "1"])
        .start();
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let ingest = run(&list, &["ingest", example.to_str().unwrap()]);
    assert!(ingest.status.success(), "{ingest:?}");
    let callers = run(&list, &["callers", "String.to_atom/1", "--depth", "3"]);
    assert!(callers.status.success(), "{callers:?}");
    assert!(String::from_utf8_lossy(&callers.stdout).contains("Shop.Util.Sorting.sort_key/1"));
    let cycles = run(&list, &["analyze", "cycles"]);
    assert!(!cycles.status.success());
    let err = String::from_utf8_lossy(&cycles.stderr);
    assert!(
        err.contains("coordinator 1")
            && err.contains("1 MB limit")
            && err.contains("point queries"),
        "{err}"
    );
    let health: proto::ClusterHealth =
        serde_json::from_slice(&run(&list, &["health", "--json"]).stdout).unwrap();
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.contains("80% of its 1 MB limit")),
        "{health:#?}"
    );
    drop(cluster);

    // Nodes over the limit: an ingest is refused, naming a node, and nothing
    // is recorded.
    let cluster = Cluster::builder(1, 2, 8, 2)
        .node_flags(&["--memory-limit-mb", "1"])
        .start();
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let ingest = run(&list, &["ingest", example.to_str().unwrap()]);
    assert!(!ingest.status.success());
    let err = String::from_utf8_lossy(&ingest.stderr);
    assert!(err.contains("node ") && err.contains("1 MB limit"), "{err}");
    let view = cluster.view().await.unwrap();
    assert_eq!((view.generation, view.files), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_a_working_tree() {
    let _machine = crate::shared().await;
    use std::io::BufRead;
    let cluster = Cluster::local(1, 2, 8, 2);
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("shop");
    let example = cluster_tests::example();
    copy_tree(&example, &tree).unwrap();
    /// Killed when dropped, so a failing assertion leaves no process behind.
    struct Watcher(std::process::Child);
    impl Drop for Watcher {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut watcher = Watcher(
        cluster_tests::cpg_command()
            .args(["--coordinator", &list, "watch"])
            .arg(&tree)
            .args(["--interval-ms", "100"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stdout = watcher.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no watch output for {what}"))
    };
    let first = next("the first ingest");
    assert!(
        first.starts_with("26 parsed, 0 removed, 0 unchanged: catalog generation 1"),
        "{first}"
    );
    let callees = |f: &str| {
        cluster_tests::cpg_command()
            .args(["--coordinator", &list, "callees", f])
            .output()
            .unwrap()
    };
    assert!(!callees("Shop.Util.Format.shout/1").status.success());
    // A function added and saved: only that file is parsed again.
    let format = tree.join("lib/shop/util/format.ex");
    let text = std::fs::read_to_string(&format).unwrap();
    let edited = text.replacen(
        "  def percent(ratio)",
        "  def shout(text), do: String.upcase(text)\n\n  def percent(ratio)",
        1,
    );
    std::fs::write(&format, edited).unwrap();
    let second = next("the edit");
    assert!(
        second.starts_with("1 parsed, 0 removed, 25 unchanged: catalog generation 2"),
        "{second}"
    );
    let out = callees("Shop.Util.Format.shout/1");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("String.upcase/1"),
        "{out:?}"
    );
    // A file deleted: its modules go.
    std::fs::remove_file(tree.join("lib/shop_web/controllers/report_controller.ex")).unwrap();
    let third = next("the deletion");
    assert!(
        third.starts_with("0 parsed, 1 removed, 25 unchanged: catalog generation 3"),
        "{third}"
    );
    drop(watcher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_file_change_fetches_only_its_partitions() {
    let _machine = crate::shared().await;
    let cluster = Cluster::local(1, 2, 16, 2);
    cluster.must_be_ready(16, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let (_work, tree) = cluster_tests::example_copy();
    let on_cluster = |args: &[&str]| cpg(&[&["--coordinator", &list], args].concat());
    let snapshot = || -> proto::SnapshotHealth {
        cluster_health(&list)
            .snapshot
            .expect("a snapshot after a query")
    };
    let tree_arg = tree.to_str().unwrap();
    on_cluster(&["ingest", tree_arg]);
    on_cluster(&["analyze", "cycles", "--json"]);
    on_cluster(&["analyze", "smells", "--json"]);
    let first = snapshot();
    assert_eq!(
        (first.partitions_regathered, first.partitions_reused),
        (16, 0)
    );

    // A comment appended: one file's partition is fetched again, its
    // modules come out equal, and both answers carry over.
    let format = tree.join("lib/shop/util/format.ex");
    let text = std::fs::read_to_string(&format).unwrap();
    std::fs::write(&format, format!("{text}\n# formatting helpers\n")).unwrap();
    on_cluster(&["ingest", tree_arg]);
    // Built without a query: a coordinator builds the new snapshot of the
    // projects asked about as soon as an ingest commits.
    let waited = std::time::Instant::now();
    let commented = loop {
        let s = snapshot();
        if s.generation == first.generation + 1 {
            break s;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no snapshot of generation {} without a query: {s:?}",
            first.generation + 1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (
            commented.partitions_regathered,
            commented.partitions_reused,
            commented.answers_carried
        ),
        (1, 15, 2),
        "{commented:?}"
    );

    // A function added: again one partition; of the answers given, the
    // point queries the new calls do not reach carry over (callers and
    // callees of Pricing.total), the rest go (squish gains a caller; the
    // analyses cover everything), and every answer equals an embedded run
    // on the edited tree.
    let point_queries = [
        &["callers", "Shop.Pricing.total/1", "--json"][..],
        &["callees", "Shop.Pricing.total/1", "--json"],
        &["callers", "Shop.Util.Format.squish/1", "--json"],
    ];
    for args in point_queries {
        on_cluster(args);
    }
    let edited = text.replacen(
        "  def percent(ratio)",
        "  def shout(text), do: String.upcase(squish(text))\n\n  def percent(ratio)",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&format, edited).unwrap();
    on_cluster(&["ingest", tree_arg]);
    let smells = on_cluster(&["analyze", "smells", "--json"]);
    let changed = snapshot();
    assert_eq!(
        (
            changed.partitions_regathered,
            changed.partitions_reused,
            changed.answers_carried
        ),
        (1, 15, 2),
        "{changed:?}"
    );
    assert_eq!(smells, cpg(&["analyze", "smells", "--json", tree_arg]));
    for args in [
        &["analyze", "cycles", "--json"][..],
        &["callees", "Shop.Util.Format.shout/1", "--json"],
        &["analyze", "features", "--format", "json"],
    ]
    .into_iter()
    .chain(point_queries)
    {
        assert_eq!(
            on_cluster(args),
            cpg(&[args, &[tree_arg]].concat()),
            "{args:?}"
        );
    }
}

/// Hostile files in a tree: `cpg ingest` goes on, each gets its diagnostic
/// in the catalog, the node processes survive, and every answer equals the
/// embedded one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_are_reported_and_the_rest_is_ingested() {
    let _machine = crate::shared().await;
    let cluster = Cluster::local(1, 2, 8, 2);
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let (_work, tree) = cluster_tests::example_copy();
    let hostile = tree.join("lib/hostile");
    std::fs::create_dir_all(&hostile).unwrap();
    let deep = 100_000;
    let long_line = |bytes: usize| {
        let mut s = String::from("defmodule Hostile.LongLine do def ok, do: :ok; def f, do: [");
        while s.len() < bytes {
            s.push_str("Enum.count([1, 2, 3]), ");
        }
        s.push_str(":end] end\n");
        s.into_bytes()
    };
    let files: [(&str, Vec<u8>, &str); 6] = [
        (
            "nested.ex",
            format!(
                "defmodule Hostile.Nested do\n  def f, do: {}{}\n  def ok, do: Shop.Pricing.total([])\nend\n",
                "[".repeat(deep),
                "]".repeat(deep)
            )
            .into_bytes(),
            "nested deeper than",
        ),
        (
            "unclosed.ex",
            format!(
                "defmodule Hostile.Unclosed do\n  def ok, do: :ok\n  def f, do: {}\nend\n",
                "%{a: [".repeat(deep)
            )
            .into_bytes(),
            "syntax error",
        ),
        (
            "binary.ex",
            (0..200_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "UTF-8",
        ),
        (
            "broken.ex",
            b"defmodule Hostile.Broken do\n  def broken(x do\n    x +\n  end\nend\n".to_vec(),
            "syntax error",
        ),
        ("long_line.ex", long_line(1 << 20), ""),
        ("huge.ex", long_line(10 << 20), "over the 8 MiB limit"),
    ];
    for (name, bytes, _) in &files {
        std::fs::write(hostile.join(name), bytes).unwrap();
    }
    let tree_arg = tree.to_str().unwrap();
    cpg(&["--coordinator", &list, "ingest", tree_arg]);
    let report: serde_json::Value =
        serde_json::from_str(&cpg(&["--coordinator", &list, "analyze", "--json"])).unwrap();
    let diagnostics = report["parse_diagnostics"].as_array().unwrap();
    for (name, _, expected) in &files {
        let file = format!("lib/hostile/{name}");
        let mine: Vec<&str> = diagnostics
            .iter()
            .filter(|d| d["file"] == file.as_str())
            .map(|d| d["message"].as_str().unwrap())
            .collect();
        if expected.is_empty() {
            assert!(mine.is_empty(), "{file}: {mine:?}");
        } else {
            assert!(
                mine.iter().any(|m| m.contains(expected)),
                "{file}: {mine:?}"
            );
        }
    }
    let embedded: serde_json::Value =
        serde_json::from_str(&cpg(&["analyze", "--json", tree_arg])).unwrap();
    for figure in ["files", "modules", "functions", "parse_diagnostics"] {
        assert_eq!(report[figure], embedded[figure], "{figure}");
    }
    assert_eq!(
        report["files"], 32,
        "the example's 26 files and 6 hostile ones"
    );
    for args in [
        &["analyze", "cycles", "--json"][..],
        &["callers", "Shop.Pricing.total/1", "--json"],
        &["callees", "Hostile.LongLine.f/0", "--json"],
        &["analyze", "smells", "--json"],
    ] {
        assert_eq!(
            cpg(&[&["--coordinator", &list], args].concat()),
            cpg(&[args, &[tree_arg]].concat()),
            "{args:?}"
        );
    }
    let mut cluster = cluster;
    for p in cluster.coordinators.iter_mut().chain(&mut cluster.nodes) {
        assert!(p.running(), "process {} at {} is gone", p.id, p.addr);
    }
}

/// Replicas that heal: a node killed with `kill -9` is suspect, then gone
/// after `--down-after-secs`; its partitions are copied from their other
/// replica onto the remaining nodes until every partition has R serving
/// replicas again, and ingests work again. When it comes back it is caught
/// up and placement gives it partitions again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_is_re_replicated_and_a_returning_one_caught_up() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::builder(3, 3, P, 2)
        .coordinator_flags(&["--suspect-after-secs", "1", "--down-after-secs", "3"])
        .local();
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree, list) = ingest_example(&cluster);

    cluster.nodes[1].kill();
    let killed = Instant::now();
    let healed = loop {
        let view = cluster.view().await.unwrap();
        let state = |id: u64| {
            view.nodes
                .iter()
                .find(|n| n.id == NodeId(id))
                .map(|n| n.state.clone())
        };
        let whole = PartitionId::all(P).all(|p| {
            view.assignment
                .get(&p)
                .is_some_and(|r| r.len() == 2 && !r.contains(&NodeId(2)))
        });
        if state(2).as_deref() == Some("gone") && whole && view.joining.is_empty() {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "not re-replicated: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("re-replicated {healed:?} after kill -9 (down after 3 s)");
    let health = cluster_health(&list);
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.starts_with("node 2 at") && r.contains("is gone")),
        "{:?}",
        health.reasons
    );
    // Ingests work again (every replica of every partition is up).
    add_audit(&tree);
    cpg(&["--coordinator", &list, "ingest", tree.to_str().unwrap()]);
    let expected = expected_answers(&tree);
    for c in &cluster.coordinators {
        assert_same_at(&c.addr, &expected, "after re-replication").await;
    }

    // The node returns: it gets partitions again, filled from its peers
    // (its old copies are caught up: the audit file is new to it).
    cluster.nodes[1].restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = cluster.view().await.unwrap();
        let back = view
            .nodes
            .iter()
            .any(|n| n.id == NodeId(2) && n.state == "up");
        if back
            && view.joining.is_empty()
            && view.assignment.values().any(|r| r.contains(&NodeId(2)))
            && PartitionId::all(P).all(|p| view.assignment.get(&p).is_some_and(|r| r.len() == 2))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 2 not back in the map: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Node 2 serves again: answers are whole.
    for c in &cluster.coordinators {
        assert_same_at(&c.addr, &expected, "after node 2 came back").await;
    }
    let view = cluster.view().await.unwrap();
    let clients = Cluster::node_clients(&view);
    // Node 2's replicas hold exactly what their peers hold.
    for (p, replicas) in &view.assignment {
        if !replicas.contains(&NodeId(2)) {
            continue;
        }
        let held = held_by_replicas(&view, &clients, *p, replicas).await;
        assert!(held.windows(2).all(|w| w[0] == w[1]), "partition {p}");
    }
}

/// The cluster's view and the partitions it marks `node`'s replica of
/// behind (some, or the test fails).
async fn marked_behind(cluster: &Cluster, node: NodeId) -> (ClusterView, Vec<PartitionId>) {
    let view = cluster.view().await.unwrap();
    let behind: Vec<PartitionId> = view
        .behind
        .iter()
        .filter(|(_, nodes)| nodes.contains(&node))
        .map(|(p, _)| *p)
        .collect();
    assert!(!behind.is_empty(), "nothing marked behind: {view:?}");
    (view, behind)
}

/// Wait (a minute at most) until no replica is behind: the view then, and
/// how long it took.
async fn caught_up(cluster: &Cluster, what: &str) -> (ClusterView, Duration) {
    let started = Instant::now();
    loop {
        let view = cluster.view().await.unwrap();
        if view.behind.is_empty() {
            return (view, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: not caught up: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What each of `replicas` holds of partition `p` (file, content hash), in
/// their order.
async fn held_by_replicas<'a>(
    view: &ClusterView,
    clients: &std::collections::HashMap<NodeId, std::sync::Arc<net::node_client::NodeClient>>,
    p: PartitionId,
    replicas: impl IntoIterator<Item = &'a NodeId>,
) -> Vec<Vec<(PartitionId, String, u64)>> {
    let mut held = Vec::new();
    for id in replicas {
        let hashes = clients[id]
            .call(Duration::from_secs(10), |c, ctx| async move {
                c.file_hashes(ctx, view.epoch, vec![p]).await
            })
            .await
            .unwrap();
        held.push(hashes);
    }
    held
}

/// A hung replica (`kill -STOP`: connected, answering nothing) does not
/// hold a gather up until the node deadline (30 s): partitions it has not
/// answered after the hedge delay are asked of their other replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_replica_is_hedged_around() {
    let _machine = crate::shared().await;
    let metrics = format!("127.0.0.1:{}", cluster_tests::free_port());
    let mut cluster = Cluster::builder(1, 3, P, 2)
        .coordinator_flags(&["--metrics-listen", &metrics])
        .start();
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let example = cluster_tests::example();
    let list = cluster.coordinator_list();
    cpg(&["--coordinator", &list, "ingest", example.to_str().unwrap()]);
    let expected = expected_answers(&example);
    // A fresh coordinator must gather every partition, while node 1 hangs.
    cluster.nodes[0].pause();
    cluster.coordinators[0].restart();
    let addr = cluster.coordinators[0].addr.clone();
    let started = Instant::now();
    loop {
        if let Ok(a) = query_at(&addr, &Query::Cycles).await {
            assert!(a.missing.is_empty(), "{a:?}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    assert_same_at(&addr, &expected, "with node 1 hung").await;
    assert!(
        metric(&metrics, "cpg_hedged_requests_total").await > 0.0,
        "no hedged request"
    );
    // Far from the 30 s a request to the hung node waits for.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    cluster.nodes[0].resume();
    println!("first answer with a hung replica after {took:?} (restart included)");
}

/// Coordinators join and leave the Raft group through joint consensus: a
/// fourth one is added (it catches up on the log and answers queries from
/// its replica of the catalog), the leader is removed (it steps down, the
/// others elect a new one, metadata writes go on), and `cpg cluster status`
/// reads linearizably through the new leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinators_are_added_and_removed_by_joint_consensus() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::local(3, 2, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let example = cluster_tests::example();
    let list = cluster.coordinator_list();
    cpg(&["--coordinator", &list, "ingest", example.to_str().unwrap()]);
    let expected = expected_answers(&example);

    let addr = cluster.start_coordinator().addr.clone();
    let out = cpg(&[
        "--coordinator",
        &list,
        "cluster",
        "add-coordinator",
        "4",
        &addr,
    ]);
    assert!(out.contains("coordinator 4"), "{out}");
    let members = |h: &proto::ClusterHealth| h.raft.members.clone();
    assert_eq!(members(&cluster_health(&list)), vec![1, 2, 3, 4]);
    assert_same_at(&addr, &expected, "on the added coordinator").await;

    // The leader leaves the group.
    let leader = cluster.leader().await.expect("a leader");
    let leader_id = leader as u64 + 1;
    let all = format!("{list},{addr}");
    cpg(&[
        "--coordinator",
        &all,
        "cluster",
        "remove-coordinator",
        &leader_id.to_string(),
    ]);
    cluster.coordinators[leader].kill();
    let rest: Vec<String> = cluster
        .coordinators
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, c)| c.addr.clone())
        .collect();
    let rest_list = rest.join(",");
    // Metadata writes go through the new leader.
    cpg::cli::record_ingest(&rest, None, Default::default())
        .await
        .unwrap();
    let h = cluster_health(&rest_list);
    let mut want: Vec<u64> = (1..=4).filter(|id| *id != leader_id).collect();
    want.sort();
    assert_eq!(members(&h), want);
    assert!(
        h.raft.leader.is_some_and(|l| l != leader_id),
        "{:?}",
        h.raft
    );
    let status: serde_json::Value = serde_json::from_str(&cpg(&[
        "--coordinator",
        &rest_list,
        "cluster",
        "status",
        "--json",
    ]))
    .unwrap();
    assert_eq!(status["partitions"], P);
    for c in &rest {
        assert_same_at(c, &expected, "after the leader left").await;
    }
}

/// An ingest while a replica's node is down (not yet declared gone) is
/// acknowledged: the replicas that missed its writes are marked behind and
/// serve no reads, every coordinator answers with the new tree at once (a
/// linearizable read), and when the node returns the leader catches its
/// replicas up without moving anything. Then the node's peer is killed and
/// the caught-up replicas answer alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_while_a_node_is_down_marks_its_replicas_behind_until_caught_up() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::local(3, 3, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree, list) = ingest_example(&cluster);
    let before = cluster.view().await.unwrap();

    cluster.nodes[1].kill();
    add_audit(&tree);
    std::fs::remove_file(tree.join("lib/shop/exporter.ex")).unwrap();
    let stderr = ingest_stderr(&list, &tree, "ingest with node 2 down");
    assert!(
        stderr.contains("node(s) 2 missed writes (not reachable"),
        "{stderr}"
    );
    let (view, behind) = marked_behind(&cluster, NodeId(2)).await;
    for p in &behind {
        assert!(
            !view.assignment[p].contains(&NodeId(2)),
            "partition {p} still read from node 2"
        );
    }
    // Every coordinator answers with the new tree right after the ingest.
    let expected = expected_answers(&tree);
    for c in &cluster.coordinators {
        assert_same_at(&c.addr, &expected, "with node 2 down").await;
    }

    cluster.nodes[1].restart();
    let (view, took) = caught_up(&cluster, "node 2 after its restart").await;
    println!("node 2 caught up {took:?} after its restart");
    assert_eq!(view.writable(), before.writable(), "nothing moved");
    assert!(view.nodes.iter().all(|n| n.state == "up"), "{view:?}");

    // Node 2's replicas hold what their peers hold...
    let clients = Cluster::node_clients(&view);
    for p in &behind {
        let held = held_by_replicas(&view, &clients, *p, &view.assignment[p]).await;
        assert!(
            held.windows(2).all(|w| w[0] == w[1]),
            "partition {p}: {held:?}"
        );
    }
    // ...and answer alone once the peer they caught up from is gone.
    let peer = view.assignment[&behind[0]]
        .iter()
        .copied()
        .find(|n| *n != NodeId(2))
        .unwrap();
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.id == peer.0)
        .unwrap()
        .kill();
    for c in &cluster.coordinators {
        assert_same_at(&c.addr, &expected, "with node 2's peer down").await;
    }
}

/// The daemons run from TOML configuration files (what systemd units and
/// deploy/config use), a `CPG_*` variable overriding a key of the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_run_from_configuration_files_with_environment_overrides() {
    let _machine = crate::shared().await;
    let root = tempfile::tempdir().unwrap();
    let c_addr = format!("127.0.0.1:{}", cluster_tests::free_port());
    let n_addr = format!("127.0.0.1:{}", cluster_tests::free_port());
    let (c_dir, n_dir) = (root.path().join("c1"), root.path().join("n1"));
    let c_toml = root.path().join("coordinator.toml");
    let n_toml = root.path().join("node.toml");
    std::fs::write(
        &c_toml,
        format!(
            "id = 1\nlisten = \"{c_addr}\"\ndata-dir = \"{}\"\ninit = [\"1={c_addr}\"]\npartitions = 64\nreplication = 1\nheartbeat_ms = 100\ninsecure = true\n",
            c_dir.display()
        ),
    )
    .unwrap();
    std::fs::write(
        &n_toml,
        format!(
            "id = 1\nlisten = \"{n_addr}\"\nadvertise = \"{}\"\ndata-dir = \"{}\"\ncoordinator = [\"{c_addr}\"]\nheartbeat-ms = 200\ninsecure = true\n",
            // A host name, as containers and Kubernetes pods advertise.
            n_addr.replace("127.0.0.1", "localhost"),
            n_dir.display()
        ),
    )
    .unwrap();
    let env = |vars: &[&str], binary: &str, config: &Path| -> Vec<String> {
        let mut args: Vec<String> = vars.iter().map(|v| v.to_string()).collect();
        args.push(cluster_tests::binary(binary).display().to_string());
        args.extend(["--config".to_string(), config.display().to_string()]);
        args
    };
    let coordinator = cluster_tests::Proc::launch(
        1,
        c_addr.clone(),
        c_dir,
        "env".into(),
        env(&["CPG_PARTITIONS=8"], "cpg-coordinator", &c_toml),
    );
    let node = cluster_tests::Proc::launch(
        1,
        n_addr,
        n_dir,
        "env".into(),
        env(&[], "cpg-node", &n_toml),
    );
    let cluster = Cluster::of_processes(vec![coordinator], vec![node], root);
    // `cpg cluster wait` waits for a coordinator that is still starting,
    // and says what is missing when the cluster is not ready in time.
    let ready = cpg(&[
        "--coordinator",
        &c_addr,
        "cluster",
        "wait",
        "--timeout-secs",
        "60",
    ]);
    assert!(
        ready.starts_with("ready: 1 nodes up, 8 partitions"),
        "{ready}"
    );
    let out = cluster_tests::cpg_command()
        .args([
            "--coordinator",
            &c_addr,
            "cluster",
            "wait",
            "--nodes",
            "3",
            "--timeout-secs",
            "1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("1 of 3 storage nodes up"),
        "{stderr}"
    );
    // 8 partitions: the environment's, not the file's 64.
    let view = cluster.must_be_ready(8, Duration::from_secs(60)).await;
    assert_eq!((view.partitions, view.replication), (8, 1), "{view:?}");
    let (_work, tree) = cluster_tests::example_copy();
    cpg(&["--coordinator", &c_addr, "ingest", tree.to_str().unwrap()]);
    assert_same_at(&c_addr, &expected_answers(&tree), "configured from files").await;
}

/// A replica of a node the leader holds suspect (SIGSTOPped here) is not
/// waited for: the writer counts its writes as missed at once, the ingest
/// is acknowledged with its replicas behind, and they are caught up once
/// the node resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_suspect_node_are_missed_at_once_and_caught_up() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::builder(1, 3, P, 2)
        .coordinator_flags(&["--suspect-after-secs", "1"])
        .start();
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree, list) = ingest_example(&cluster);

    cluster.nodes[1].pause();
    let paused = Instant::now();
    loop {
        let view = cluster.view().await.unwrap();
        if view
            .nodes
            .iter()
            .any(|n| n.id == NodeId(2) && n.state == "suspect")
        {
            break;
        }
        assert!(
            paused.elapsed() < Duration::from_secs(30),
            "node 2 never suspect: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The other nodes learn it with their next heartbeat reply.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    add_audit(&tree);
    let started = Instant::now();
    cpg(&["--coordinator", &list, "ingest", tree.to_str().unwrap()]);
    println!("ingest with node 2 paused: {:?}", started.elapsed());
    let logs: String = cluster
        .nodes
        .iter()
        .map(|n| std::fs::read_to_string(n.log_path()).unwrap_or_default())
        .collect();
    assert!(
        logs.contains("node 2 is suspect (silent to the leader): not asked"),
        "the writer waited for the paused node instead"
    );
    let view = cluster.view().await.unwrap();
    assert!(
        view.behind.values().flatten().any(|n| *n == NodeId(2)),
        "{view:?}"
    );
    let expected = expected_answers(&tree);
    assert_same_at(&cluster.coordinators[0].addr, &expected, "node 2 paused").await;

    cluster.nodes[1].resume();
    caught_up(&cluster, "node 2 after it resumed").await;
    assert_same_at(&cluster.coordinators[0].addr, &expected, "node 2 caught up").await;
}

/// A node whose disk is full, on a real file system (a small tmpfs of its
/// own): an ingest still succeeds, its replicas missing the write are marked
/// behind and the others answer every query as embedded; `cpg health` says
/// to free space; once space is freed the node is caught up by itself, with
/// no restart, and holds what its peers hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_disk_fills_up_misses_writes_and_catches_up_once_there_is_room() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::start(1, 2, P, 2);
    cluster.add_node_on_small_disk(4096);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree, list) = ingest_example(&cluster);

    let filler = cluster.nodes[2].fill_disk();
    // Every file changes: every partition is written.
    for file in embedded::discover(&tree.join("lib")).unwrap() {
        let mut text = std::fs::read_to_string(&file.disk).unwrap();
        text.push_str("\n# edited while a disk is full\n");
        std::fs::write(&file.disk, text).unwrap();
    }
    add_audit(&tree);
    let stderr = ingest_stderr(&list, &tree, "ingest with node 3's disk full");
    assert!(stderr.contains("node(s) 3 missed writes"), "{stderr}");
    let (_, behind) = marked_behind(&cluster, NodeId(3)).await;
    let expected = expected_answers(&tree);
    assert_same_at(
        &cluster.coordinators[0].addr,
        &expected,
        "node 3's disk full",
    )
    .await;
    let health = cluster_health(&list);
    assert!(
        health
            .reasons
            .iter()
            .any(|r| r.starts_with("node 3 is degraded")
                && r.contains("No space left on device")
                && r.contains("free space under")),
        "{:?}",
        health.reasons
    );

    // Room again: caught up by itself.
    std::fs::remove_file(&filler).unwrap();
    let (view, took) = caught_up(&cluster, "node 3 once its disk had room").await;
    println!("node 3 caught up {took:?} after space was freed");
    assert!(cluster.nodes[2].running(), "node 3 kept running");
    let clients = Cluster::node_clients(&view);
    for p in &behind {
        let held = held_by_replicas(&view, &clients, *p, &view.assignment[p]).await;
        assert!(
            held.len() == 2 && held[0] == held[1],
            "partition {p}: {held:?}"
        );
    }
    assert_same_at(
        &cluster.coordinators[0].addr,
        &expected,
        "after the catch-up",
    )
    .await;
    // Nothing torn: every log on node 3's disk reads back whole (a copy is
    // opened, so nothing is cut on the node's disk).
    let logs = cluster.nodes[2].disk().unwrap().join("partitions");
    let copies = tempfile::tempdir().unwrap();
    let mut opened = 0;
    for e in std::fs::read_dir(&logs).unwrap() {
        let path = e.unwrap().path();
        let copy = copies.path().join(path.file_name().unwrap());
        std::fs::copy(&path, &copy).unwrap();
        let (_, records, cut) = host::durable::RecordLog::open_keeping(&copy, None).unwrap();
        assert_eq!(cut, 0, "{} has a torn record", path.display());
        assert!(!records.is_empty());
        opened += 1;
    }
    assert!(opened > 0, "no partition log on node 3");
}

/// The Raft leader's disk fills up: its member stops rather than
/// acknowledge what it could not write, the others elect a leader and the
/// ingest goes through them, and every answer is right. With room again it
/// is started again, reads its log back and answers as the others do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_whose_disk_fills_up_stops_and_the_others_go_on() {
    let _machine = crate::shared().await;
    use host::durable::faults::{self, Fault};
    let mut cluster = Cluster::local(3, 2, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree, list) = ingest_example(&cluster);

    let leader = cluster.leader().await.expect("a leader");
    let dir = cluster.coordinators[leader].data_dir.clone();
    faults::inject(&dir, Fault::NoSpace);
    add_audit(&tree);
    let out = cpg(&["--coordinator", &list, "ingest", tree.to_str().unwrap()]);
    assert!(out.contains("1 parsed"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.coordinators[leader].running() {
        assert!(
            Instant::now() < deadline,
            "the coordinator with a full disk still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected = expected_answers(&tree);
    for (i, c) in cluster.coordinators.iter().enumerate() {
        if i != leader {
            assert_same_at(&c.addr, &expected, "with the old leader's disk full").await;
        }
    }

    faults::clear(&dir);
    cluster.coordinators[leader].restart();
    let addr = cluster.coordinators[leader].addr.clone();
    coordinator_answers(&addr, Duration::from_secs(30)).await;
    assert_same_at(&addr, &expected, "restarted with room on its disk").await;
}

/// A node back under its id with an empty data dir (its disk replaced, its
/// volume lost) holds none of what the map says it holds: no answer may
/// come from it until it has been filled from its peers. A coordinator
/// restarted meanwhile gathers every partition afresh, so it would read
/// the empty replicas if they counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_with_an_empty_disk_serves_nothing_until_filled() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::local(1, 3, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree, _) = ingest_example(&cluster);
    let expected = expected_answers(&tree);

    cluster.nodes[1].kill();
    std::fs::remove_dir_all(&cluster.nodes[1].data_dir).unwrap();
    cluster.nodes[1].restart();
    cluster.node_serves(1, Duration::from_secs(30)).await;
    cluster.coordinators[0].restart();
    let addr = cluster.coordinators[0].addr.clone();
    coordinator_answers(&addr, Duration::from_secs(30)).await;
    assert_same_at(&addr, &expected, "node 2 back with an empty disk").await;

    // Filled from its peers: it holds what they hold.
    let (_, took) = eventually(
        Duration::from_secs(60),
        "node 2 not filled again",
        async || {
            let view = cluster.view().await.unwrap();
            let clients = Cluster::node_clients(&view);
            let mut same = true;
            for (p, replicas) in view
                .assignment
                .iter()
                .filter(|(_, r)| r.contains(&NodeId(2)))
            {
                let held = held_by_replicas(&view, &clients, *p, replicas).await;
                same &= held.windows(2).all(|w| w[0] == w[1]);
            }
            if same && view.behind.is_empty() {
                Ok(())
            } else {
                Err(format!("{view:?}"))
            }
        },
    )
    .await;
    println!("node 2 filled again {took:?} after its restart");
}

/// The Raft leader hangs (SIGSTOP): the nodes leave it for the new leader
/// before that one counts them silent, so no node is marked suspect and an
/// ingest meanwhile writes every replica. (Before, a node's heartbeat
/// waited 5 s on the hung leader: the new leader marked every node suspect
/// and ingests failed with every partition unavailable.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_leader_does_not_make_the_nodes_look_silent() {
    let _machine = crate::shared().await;
    let mut cluster = Cluster::builder(3, 3, P, 2)
        .coordinator_flags(&["--suspect-after-secs", "1"])
        .start();
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let (_work, tree, _) = ingest_example(&cluster);

    let hung = cluster.leader().await.expect("a leader");
    let others: Vec<String> = cluster
        .coordinators
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != hung)
        .map(|(_, c)| c.addr.clone())
        .collect();
    let view = || async {
        for a in &others {
            let Ok(c) = net::coordinator_client::connect(a, Duration::from_secs(1)).await else {
                continue;
            };
            let mut ctx = tarpc::context::current();
            ctx.deadline = Instant::now() + Duration::from_secs(3);
            if let Ok(Ok(v)) = c.cluster_view(ctx).await {
                return Some(v);
            }
        }
        None
    };
    cluster.coordinators[hung].pause();
    let paused = Instant::now();
    let hung_addr = cluster.coordinators[hung].addr.clone();
    let mut suspect = Vec::new();
    let mut led = None;
    while paused.elapsed() < Duration::from_secs(5) {
        if let Some(v) = view().await {
            if v.leader.as_deref().is_some_and(|l| l != hung_addr) {
                led.get_or_insert(paused.elapsed());
            }
            suspect.extend(v.nodes.iter().filter(|n| n.state != "up").map(|n| n.id));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("a new leader {led:?} after the pause");
    assert!(led.is_some(), "no new leader while the old one hung");
    assert!(suspect.is_empty(), "nodes counted silent: {suspect:?}");
    add_audit(&tree);
    let stderr = ingest_stderr(&others.join(","), &tree, "ingest with the old leader hung");
    assert!(!stderr.contains("missed writes"), "{stderr}");
    cluster.coordinators[hung].resume();
}
