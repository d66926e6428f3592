//! Differential test on loopback: three storage nodes (in this process, real
//! TCP), 16 partitions, two replicas each. What is ingested into them and
//! gathered back gives the same call-graph export as the embedded build, and
//! a node going down is covered by the other replica.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../codebase/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cluster_tests::gather_summaries;
use codebase::embedded;
use codebase::ingest::{held_files, ingest};
use coordinator::placement::{Assignment, Ring};
use net::node_client::NodeClient;
use node::service::{run, Node, NodeConfig};
use partition::analysis::CallGraph;
use proto::assignment::{NodeId, PartitionId};
use proto::node_api::{NodeMap, SourceUpload};
use query::report::{call_rows, render_csv};

const P: u32 = 16;
const DEADLINE: Duration = Duration::from_secs(30);

struct TestNode {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestNode {
    async fn start(
        id: NodeId,
        dir: &Path,
        addr: Option<std::net::SocketAddr>,
    ) -> (TestNode, std::net::SocketAddr) {
        let (node, _) = Node::open(&NodeConfig {
            node_id: id,
            data_dir: dir.to_path_buf(),
            memory_limit_mb: None,
            defrag_threshold: node::service::DEFRAG_THRESHOLD,
            cache_ttl: node::service::CACHE_TTL,
        })
        .unwrap();
        let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            run(listener, node, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        (
            TestNode {
                stop: Some(tx),
                handle: Some(handle),
            },
            addr,
        )
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
    }
}

fn sources(root: &Path) -> Vec<SourceUpload> {
    embedded::read_sources(root).unwrap()
}

fn embedded_csv(root: &Path) -> String {
    let built = embedded::build(root).unwrap();
    render_csv(&call_rows(&CallGraph::build(&built.store.summaries())))
}

/// The map the coordinator would send: the assignment and every node's address.
fn node_map(
    clients: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    assignment: &Assignment,
) -> NodeMap {
    NodeMap {
        epoch,
        assignment: assignment.clone(),
        nodes: clients
            .iter()
            .map(|(id, c)| (*id, c.addr.to_string()))
            .collect(),
        unreachable: Default::default(),
    }
}

async fn assign_all(
    clients: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    assignment: &Assignment,
) {
    let map = node_map(clients, epoch, assignment);
    for client in clients.values() {
        let map = map.clone();
        client
            .call(DEADLINE, move |c, ctx| {
                let map = map.clone();
                async move { c.assign(ctx, map).await }
            })
            .await
            .unwrap();
    }
}

fn corpus() -> std::path::PathBuf {
    support::fetched("fetch-corpus.sh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_results_equal_embedded_and_survive_a_node_loss() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    let mut clients = HashMap::new();
    for (i, dir) in dirs.iter().enumerate() {
        let id = NodeId(i as u64 + 1);
        let (node, addr) = TestNode::start(id, dir.path(), None).await;
        nodes.push((node, addr));
        clients.insert(id, Arc::new(NodeClient::new(id, addr)));
    }
    let assignment = Ring::new(clients.keys().copied(), 128).assign(P, 2);
    assign_all(&clients, 1, &assignment).await;

    // The example application, then the whole corpus in its place.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    for root in [example.clone(), corpus()] {
        let held = held_files(&clients, 1, &assignment, DEADLINE)
            .await
            .unwrap();
        let report = ingest(
            &clients,
            1,
            P,
            &assignment,
            &held,
            None,
            sources(&root),
            DEADLINE,
            &|_| {},
        )
        .await
        .unwrap();
        assert!(report.files_parsed > 0);
        let gathered = gather_summaries(&clients, 1, &assignment, DEADLINE).await;
        assert!(
            gathered.complete,
            "missing {:?}: {:?}",
            gathered.missing, gathered.failures
        );
        let cluster_csv = render_csv(&call_rows(&CallGraph::build(&gathered.summaries)));
        assert_eq!(
            cluster_csv,
            embedded_csv(&root),
            "cluster export differs from embedded for {}",
            root.display()
        );
    }

    // Re-ingesting the same tree skips every file.
    let root = corpus();
    let held = held_files(&clients, 1, &assignment, DEADLINE)
        .await
        .unwrap();
    let again = ingest(
        &clients,
        1,
        P,
        &assignment,
        &held,
        None,
        sources(&root),
        DEADLINE,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        (again.files_parsed, again.files_unchanged),
        (0, again.files_seen)
    );

    // One node down: every partition still has a replica, results unchanged.
    nodes[0].0.stop().await;
    let gathered = gather_summaries(&clients, 1, &assignment, Duration::from_secs(5)).await;
    assert!(gathered.complete, "missing {:?}", gathered.missing);
    assert!(
        !gathered.failures.is_empty(),
        "the stopped node's failure is reported"
    );
    assert_eq!(
        render_csv(&call_rows(&CallGraph::build(&gathered.summaries))),
        embedded_csv(&root)
    );

    // Two nodes down: partitions held only by them are reported missing.
    nodes[1].0.stop().await;
    let gathered = gather_summaries(&clients, 1, &assignment, Duration::from_secs(5)).await;
    let expected: Vec<PartitionId> = assignment
        .iter()
        .filter(|(_, r)| r.iter().all(|n| *n == NodeId(1) || *n == NodeId(2)))
        .map(|(p, _)| *p)
        .collect();
    assert!(!expected.is_empty());
    assert!(!gathered.complete);
    assert_eq!(gathered.missing, expected);

    // The first node restarts on its data dir and address: the client redials
    // it and the cluster is complete again, with the same content.
    let addr = nodes[0].1;
    let (restarted, _) = TestNode::start(NodeId(1), dirs[0].path(), Some(addr)).await;
    nodes[0].0 = restarted;
    let map = node_map(&clients, 1, &assignment);
    clients[&NodeId(1)]
        .call(DEADLINE, move |c, ctx| {
            let map = map.clone();
            async move { c.assign(ctx, map).await }
        })
        .await
        .unwrap();
    let gathered = gather_summaries(&clients, 1, &assignment, DEADLINE).await;
    assert!(gathered.complete, "missing {:?}", gathered.missing);
    assert_eq!(
        render_csv(&call_rows(&CallGraph::build(&gathered.summaries))),
        embedded_csv(&root)
    );
    for (node, _) in &mut nodes {
        node.stop().await;
    }
}

/// A real application with its dependencies: ingested whole, the cluster
/// keeps `deps/` as library code (told apart by path) and links the
/// application against it exactly as the embedded build does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_application_with_its_dependencies_links_as_embedded() {
    let root = support::fetched("fetch-realapps.sh").join("realtime");
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    let mut clients = HashMap::new();
    for (i, dir) in dirs.iter().enumerate() {
        let id = NodeId(i as u64 + 1);
        let (node, addr) = TestNode::start(id, dir.path(), None).await;
        nodes.push(node);
        clients.insert(id, Arc::new(NodeClient::new(id, addr)));
    }
    let assignment = Ring::new(clients.keys().copied(), 128).assign(P, 2);
    assign_all(&clients, 1, &assignment).await;
    let held = held_files(&clients, 1, &assignment, DEADLINE)
        .await
        .unwrap();
    let sources = sources(&root);
    assert!(sources.iter().any(|s| s.file.starts_with("deps/phoenix/")));
    ingest(
        &clients,
        1,
        P,
        &assignment,
        &held,
        None,
        sources,
        DEADLINE,
        &|_| {},
    )
    .await
    .unwrap();
    let gathered = gather_summaries(&clients, 1, &assignment, DEADLINE).await;
    assert!(gathered.complete, "missing {:?}", gathered.missing);
    let (libraries, app): (Vec<_>, Vec<_>) = gathered
        .summaries
        .into_iter()
        .partition(|m| partition::library::package_of(&m.file).is_some());
    let cluster = render_csv(&call_rows(&CallGraph::link(&app, &libraries)));
    let built = embedded::build(&root).unwrap();
    let embedded = render_csv(&call_rows(&CallGraph::link(
        &built.store.summaries(),
        &built.libraries.summaries,
    )));
    assert_eq!(cluster, embedded);
    for mut n in nodes {
        n.stop().await;
    }
}
