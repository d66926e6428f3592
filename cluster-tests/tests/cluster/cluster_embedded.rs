//! Differential test on loopback: three storage nodes (in this process, real
//! TCP), 16 partitions, two replicas each. What is ingested into them and
//! gathered back gives the same call-graph export as the embedded build, and
//! a node going down is covered by the other replica.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../codebase/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cluster_tests::gather_summaries;
use cluster_tests::ingest_through_nodes;
use codebase::embedded;
use coordinator::placement::{Assignment, Ring};
use net::node_client::NodeClient;
use net::serving::Serving;
use node::service::{run, Node, NodeConfig};
use partition::analysis::CallGraph;
use proto::assignment::{NodeId, PartitionId};
use proto::node_api::{NodeMap, SourceUpload};
use query::report::{call_rows, render_csv};

const P: u32 = 16;
const DEADLINE: Duration = Duration::from_secs(30);

struct TestNode(Serving);

impl TestNode {
    async fn start(id: NodeId, dir: &Path, addr: Option<SocketAddr>) -> (TestNode, SocketAddr) {
        let (node, _) = Node::open(&NodeConfig::new(id, dir)).unwrap();
        // No coordinator here: the node vouches for its data itself.
        node.vouch().unwrap();
        // A port below the ephemeral range: a node restarted on it finds
        // it free (other tests' connections take ephemeral ports).
        let addr = addr.unwrap_or_else(|| ([127, 0, 0, 1], cluster_tests::free_port()).into());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = Serving::spawn(|stopped| run(listener, node, stopped));
        (TestNode(serving), addr)
    }

    async fn stop(&mut self) {
        self.0.stop().await.unwrap();
    }
}

type Clients = HashMap<NodeId, Arc<NodeClient>>;

/// Three nodes on fresh data dirs, each told the map of P partitions with
/// two replicas (epoch 1): their dirs, the nodes with their addresses,
/// clients for them, and the map.
async fn three_nodes() -> (
    Vec<tempfile::TempDir>,
    Vec<(TestNode, SocketAddr)>,
    Clients,
    Assignment,
) {
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
    (dirs, nodes, clients, assignment)
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
    let _machine = crate::shared().await;
    let (dirs, mut nodes, clients, assignment) = three_nodes().await;

    // The example application, then the whole corpus in its place. The
    // corpus's embedded export is built once and compared four times.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let corpus_csv = embedded_csv(&corpus());
    for root in [example.clone(), corpus()] {
        let report = ingest_through_nodes(&clients, (1, P), &assignment, sources(&root))
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
        let embedded = if root == example {
            embedded_csv(&root)
        } else {
            corpus_csv.clone()
        };
        assert_eq!(
            cluster_csv,
            embedded,
            "cluster export differs from embedded for {}",
            root.display()
        );
    }

    // Re-ingesting the same tree skips every file.
    let root = corpus();
    let again = ingest_through_nodes(&clients, (1, P), &assignment, sources(&root))
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
        corpus_csv
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
        corpus_csv
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
    let _machine = crate::shared().await;
    let root = support::fetched("fetch-realapps.sh").join("realtime");
    let (_dirs, nodes, clients, assignment) = three_nodes().await;
    let sources = sources(&root);
    assert!(sources.iter().any(|s| s.file.starts_with("deps/phoenix/")));
    ingest_through_nodes(&clients, (1, P), &assignment, sources)
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
    for (mut n, _) in nodes {
        n.stop().await;
    }
}
