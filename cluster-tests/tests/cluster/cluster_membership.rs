//! Three coordinators and three storage nodes on loopback, all real services:
//! nodes register and heartbeat, the Raft leader places partitions and
//! commits the map, nodes take on their partitions from heartbeat replies;
//! ingest and gather through that map equal the embedded build; and the
//! nodes keep heartbeating through a coordinator leader failover.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cluster_tests::gather_summaries;
use cluster_tests::ingest_through_nodes;
use codebase::embedded;
use coordinator::raft::ClusterConfig;
use coordinator::service::{run, Coordinator, CoordinatorConfig};
use net::node_client::NodeClient;
use net::serving::Serving;
use node::membership::Membership;
use node::service::{Node, NodeConfig};
use partition::analysis::CallGraph;
use proto::assignment::{NodeId, PartitionId};
use proto::coordinator_api::ClusterView;
use proto::CpgError;
use query::report::{call_rows, render_csv};

const DEADLINE: Duration = Duration::from_secs(30);

/// What a member runs: its RPC server, and a node's heartbeats.
struct Service(Vec<Serving>);

impl Service {
    async fn stop(&mut self) {
        for s in &mut self.0 {
            s.stop().await.unwrap();
        }
    }
}

async fn start_coordinator(
    id: u64,
    dir: &Path,
    listener: tokio::net::TcpListener,
) -> (Arc<Coordinator>, Service) {
    let address = listener.local_addr().unwrap().to_string();
    let config = CoordinatorConfig {
        heartbeat_ms: 100,
        ..CoordinatorConfig::new(id, dir, address)
    };
    let c = Coordinator::start(&config).await.unwrap();
    let served = c.clone();
    let serving = Serving::spawn(|stopped| run(listener, served, stopped));
    (c, Service(vec![serving]))
}

async fn start_node(
    id: u64,
    dir: &Path,
    coordinators: Vec<String>,
) -> (Arc<Node>, SocketAddr, Service) {
    let (node, _) = Node::open(&NodeConfig::new(NodeId(id), dir)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = node.clone();
    let serve = Serving::spawn(|stopped| node::service::run(listener, served, stopped));
    let membership = Membership {
        coordinators,
        advertise: addr.to_string(),
        interval: Duration::from_millis(100),
    };
    let member = node.clone();
    let beat = Serving::spawn(|stopped| async move {
        node::membership::run(member, membership, stopped).await;
        Ok(())
    });
    (node, addr, Service(vec![serve, beat]))
}

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn leader(coordinators: &[Arc<Coordinator>]) -> Option<Arc<Coordinator>> {
    coordinators
        .iter()
        .find(|c| c.raft.metrics().borrow().current_leader == Some(c.id))
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_through_raft_and_the_cluster_serves_what_embedded_does() {
    let _machine = crate::shared().await;
    let dirs: Vec<tempfile::TempDir> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut listeners = Vec::new();
    for _ in 0..3 {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addresses: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let mut coordinators = Vec::new();
    let mut coordinator_services = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let (c, s) = start_coordinator(i as u64 + 1, dirs[i].path(), l).await;
        coordinators.push(c);
        coordinator_services.push(s);
    }
    let members: BTreeMap<u64, String> = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (i as u64 + 1, a.clone()))
        .collect();
    coordinators[0].initialize(members).await.unwrap();
    let first_leader = until("a leader", async || leader(&coordinators)).await;
    first_leader
        .configure(ClusterConfig {
            partitions: 16,
            replication: 2,
            vnodes: 128,
        })
        .await
        .unwrap();
    // A follower refuses writes and says where the leader is.
    let follower = coordinators
        .iter()
        .find(|c| c.id != first_leader.id)
        .unwrap();
    let refused = follower.configure(ClusterConfig::default()).await;
    assert_eq!(
        refused,
        Err(CpgError::NotLeader {
            leader: Some(first_leader.address.clone())
        })
    );

    let mut nodes = Vec::new();
    for i in 0..3u64 {
        nodes.push(start_node(i + 1, dirs[3 + i as usize].path(), addresses.clone()).await);
    }
    // Every node registered, the map covers them, and every node has taken on
    // the partitions of the latest epoch.
    let view: ClusterView = until("nodes to join and take on their partitions", async || {
        let view = first_leader.view();
        let placed: std::collections::BTreeSet<NodeId> =
            view.assignment.values().flatten().copied().collect();
        let synced = nodes.iter().all(|(n, _, _)| n.health().epoch == view.epoch);
        (view.nodes.len() == 3 && placed.len() == 3 && view.assignment.len() == 16 && synced)
            .then_some(view)
    })
    .await;
    for (n, _, _) in &nodes {
        let health = n.health();
        let expected: Vec<PartitionId> = view
            .assignment
            .iter()
            .filter(|(_, r)| r.contains(&health.node_id))
            .map(|(p, _)| *p)
            .collect();
        assert_eq!(health.partitions, expected);
    }

    // Ingest and gather through the committed map.
    let clients: HashMap<NodeId, Arc<NodeClient>> = view
        .nodes
        .iter()
        .map(|n| (n.id, Arc::new(NodeClient::new(n.id, &n.address))))
        .collect();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let sources = embedded::read_sources(&example).unwrap();
    let shape = (view.epoch, view.partitions);
    ingest_through_nodes(&clients, shape, &view.assignment, sources)
        .await
        .unwrap();
    let gathered = gather_summaries(&clients, view.epoch, &view.assignment, DEADLINE).await;
    assert!(gathered.complete);
    let built = embedded::build(&example).unwrap();
    assert_eq!(
        render_csv(&call_rows(&CallGraph::build(&gathered.summaries))),
        render_csv(&call_rows(&CallGraph::build(&built.store.summaries())))
    );

    // The coordinator leader dies: a new one is elected and the nodes'
    // heartbeats reach it (they follow NotLeader redirects).
    let old = coordinators
        .iter()
        .position(|c| c.id == first_leader.id)
        .unwrap();
    coordinators[old].raft.shutdown().await.unwrap();
    coordinator_services[old].stop().await;
    let survivors: Vec<Arc<Coordinator>> = coordinators
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != old)
        .map(|(_, c)| c.clone())
        .collect();
    let new_leader = until("a new leader", async || leader(&survivors)).await;
    assert_ne!(new_leader.id, first_leader.id);
    // Its metrics say so, next to the catalog and the query histogram.
    let metrics = new_leader.metrics();
    for line in [
        "cpg_raft_is_leader 1\n",
        "cpg_raft_has_leader 1\n",
        "cpg_raft_members 3\n",
        "cpg_nodes_registered 3\n",
        "# TYPE cpg_query_seconds histogram\n",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
    let after: u64 = now_ms();
    until("heartbeats through the new leader", async || {
        let view = new_leader.view();
        view.nodes
            .iter()
            .all(|n| n.last_heartbeat_ms > after)
            .then_some(())
    })
    .await;

    for (_, _, s) in &mut nodes {
        s.stop().await;
    }
    for (i, c) in coordinators.iter().enumerate() {
        if i != old {
            c.raft.shutdown().await.unwrap();
            coordinator_services[i].stop().await;
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
