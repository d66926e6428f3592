//! Real processes on loopback: three coordinators and three storage nodes.
//! The corpus ingested into them gives the embedded build's call graph; a
//! node killed with SIGKILL is covered by its replicas, and after restarting
//! on its data dir the cluster answers the same again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cluster_tests::Cluster;
use coordinator::cluster::{gather_summaries, held_files, ingest, NodeClient};
use coordinator::embedded;
use coordinator::report::{call_rows, render_csv};
use partition::analysis::CallGraph;

const P: u32 = 16;
const DEADLINE: Duration = Duration::from_secs(60);

fn corpus() -> std::path::PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/fetch-corpus.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fetch-corpus.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_on_real_processes_survives_kill_9() {
    let mut cluster = Cluster::start(3, 3, P, 2);
    let view = cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let clients: HashMap<u64, Arc<NodeClient>> = Cluster::node_addresses(&view)
        .into_iter()
        .map(|(id, a)| (id, Arc::new(NodeClient::new(id, a.parse().unwrap()))))
        .collect();

    let root = corpus();
    let sources = embedded::read_sources(&root).unwrap();
    let held = held_files(&clients, view.epoch, &view.assignment, DEADLINE)
        .await
        .unwrap();
    let report = ingest(
        &clients,
        view.epoch,
        view.partitions,
        &view.assignment,
        &held,
        sources,
        DEADLINE,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.files_parsed, report.files_seen);
    let expected = render_csv(&call_rows(&CallGraph::build(
        &embedded::build(&root).unwrap().store.summaries(),
    )));
    let cluster_csv = || async {
        let g = gather_summaries(
            &clients,
            view.epoch,
            &view.assignment,
            Duration::from_secs(10),
        )
        .await;
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
        let only_it: Vec<u32> = view
            .assignment
            .iter()
            .filter(|(_, r)| r[0] == 1)
            .map(|(p, _)| *p)
            .collect();
        let client = clients[&1].clone();
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
    let before = gather_summaries(
        &clients,
        view.epoch,
        &view.assignment,
        Duration::from_secs(10),
    )
    .await;
    assert!(before.complete);
    cluster.nodes[1].kill();
    cluster.nodes[2].kill();
    let after = gather_summaries(
        &clients,
        view.epoch,
        &view.assignment,
        Duration::from_secs(5),
    )
    .await;
    let held_by_1: Vec<u32> = view
        .assignment
        .iter()
        .filter(|(_, r)| r.contains(&1))
        .map(|(p, _)| *p)
        .collect();
    let not_held: Vec<u32> = view
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
    let cluster = Cluster::start(3, 3, P, 2);
    cluster.must_be_ready(P, Duration::from_secs(60)).await;
    let coordinators: Vec<String> = cluster
        .coordinators
        .iter()
        .map(|c| c.addr.clone())
        .collect();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let cpg = cluster_tests::binary("cpg");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&cpg)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let joined = coordinators.join(",");
    let ingested = run(&[
        "--coordinator",
        &joined,
        "ingest",
        example.to_str().unwrap(),
    ]);
    assert!(
        ingested.starts_with("24 files: 24 parsed, 0 unchanged"),
        "{ingested}"
    );
    let again = run(&[
        "--coordinator",
        &joined,
        "ingest",
        example.to_str().unwrap(),
    ]);
    assert!(
        again.starts_with("24 files: 0 parsed, 24 unchanged"),
        "{again}"
    );
    assert!(ingested.contains("catalog generation 1"), "{ingested}");
    assert!(
        again.contains("catalog generation 1"),
        "an unchanged tree is not a new generation: {again}"
    );
    let view = cluster.view().await.unwrap();
    assert_eq!((view.files, view.generation), (24, 1));

    let embedded = run(&[
        "export",
        "call-graph",
        example.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let on_cluster = run(&[
        "--coordinator",
        &joined,
        "export",
        "call-graph",
        "--format",
        "csv",
    ]);
    assert_eq!(on_cluster, embedded);
    // The environment variable works like the flag, and any coordinator will do.
    let out = std::process::Command::new(&cpg)
        .env("CPG_COORDINATOR", &coordinators[2])
        .args(["callers", "String.to_atom/1", "--depth", "5"])
        .output()
        .unwrap();
    let via_env = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        via_env,
        run(&[
            "callers",
            "String.to_atom/1",
            example.to_str().unwrap(),
            "--depth",
            "5"
        ])
    );
}
