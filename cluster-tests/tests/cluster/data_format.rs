//! Data dirs of the previous format open: a node's and a coordinator's data
//! dir written by the release before data dirs carried a format stamp
//! (format 1; `tests/fixtures/format-1`, made with `cpg dev-cluster up
//! --coordinators 1 --nodes 1 --partitions 4 --replication 1` and `cpg
//! ingest` of the shop example, 26 files, catalog generation 1). Opened,
//! they hold what was ingested and are stamped; a dir stamped by a newer
//! format, or of the other kind, is refused before anything in it is read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use cluster_tests::copy_tree;
use proto::assignment::{NodeId, PartitionId};

fn fixture(kind: &str) -> (tempfile::TempDir, PathBuf) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/format-1")
        .join(kind);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join(kind);
    copy_tree(&from, &dir).unwrap();
    (work, dir)
}

/// Stamp `dir` as format 99 (what a newer release would write).
fn stamp_newer(dir: &Path, kind: &str) {
    let stamp = format!(r#"{{"kind":"{kind}","format":99,"written_by":"9.9.9"}}"#);
    host::durable::write_checked(&dir.join(host::durable::FORMAT_FILE), stamp.as_bytes()).unwrap();
}

#[test]
fn a_node_data_dir_of_the_previous_format_opens_with_its_data() {
    let (_work, dir) = fixture("node");
    let config = node::service::NodeConfig::new(NodeId(1), &dir);
    let (node, quarantined) = node::service::Node::open(&config).unwrap();
    assert!(quarantined.is_empty(), "{quarantined:?}");
    // The map the fixture's cluster had: the node holds all 4 partitions.
    let held = |node: &node::service::Node| {
        node.set_map(proto::node_api::NodeMap {
            epoch: 1,
            assignment: PartitionId::all(4).map(|p| (p, vec![NodeId(1)])).collect(),
            nodes: [(NodeId(1), "127.0.0.1:1".to_string())].into(),
            unreachable: Default::default(),
        });
        node.health()
    };
    let health = held(&node);
    assert_eq!(health.files, 26, "{health:#?}");
    assert!(health.total_cpg_nodes > 1000, "{health:#?}");
    drop(node);
    assert!(dir.join(host::durable::FORMAT_FILE).exists(), "not stamped");
    // Opened again, stamped: the same.
    let (node, _) = node::service::Node::open(&config).unwrap();
    assert_eq!(held(&node).files, 26);
    drop(node);
    stamp_newer(&dir, "node");
    let refused = node::service::Node::open(&config).unwrap_err().to_string();
    assert!(
        refused.contains("data format 99") && refused.contains("9.9.9"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_data_dir_of_the_previous_format_opens_with_its_catalog() {
    let (_work, dir) = fixture("coordinator");
    // The fixture's group of one: it elects itself and applies its log.
    let config = coordinator::service::CoordinatorConfig::new(1, &dir, "127.0.0.1:1".into());
    let c = coordinator::service::Coordinator::start(&config)
        .await
        .unwrap();
    let sm = c.state_machine();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sm.read(|s| s.generation) < 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (generation, files) = sm.read(|s| (s.generation, s.catalog.len()));
    assert_eq!((generation, files), (1, 26));
    c.raft.shutdown().await.unwrap();
    drop((c, sm));
    assert!(dir.join(host::durable::FORMAT_FILE).exists(), "not stamped");
    let refused = node::service::Node::open(&node::service::NodeConfig::new(NodeId(1), &dir))
        .unwrap_err()
        .to_string();
    assert!(refused.contains("a coordinator data dir"), "{refused}");
    stamp_newer(&dir, "coordinator");
    let refused = coordinator::raft::open(&dir).err().unwrap().to_string();
    assert!(refused.contains("data format 99"), "{refused}");
}
