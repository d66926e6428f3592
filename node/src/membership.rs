//! A storage node's membership: register with the coordinators (following
//! `NotLeader` redirects, trying the next coordinator when one is down), then
//! heartbeat; every reply carries the partition map, and the node takes on the
//! partitions it is given at that epoch.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::assignment::NodeId;
use proto::coordinator_api::{ClusterView, CoordinatorServiceClient};
use proto::node_api::NodeMap;
use proto::CpgError;

use crate::service::Node;

/// Where the node reports, and how often.
#[derive(Debug, Clone)]
pub struct Membership {
    /// Coordinator addresses to try, in order.
    pub coordinators: Vec<String>,
    /// The address this node serves its own API on.
    pub advertise: String,
    pub interval: Duration,
}

async fn connect(address: &str, within: Duration) -> Option<CoordinatorServiceClient> {
    net::coordinator_client::connect(address, within).await.ok()
}

/// How long a coordinator that failed a call is asked only after the others.
const SHUN: Duration = Duration::from_secs(5);

/// One call to whichever coordinator leads, following redirects; `None` when
/// no coordinator could be reached this time. Coordinators that failed
/// within [`SHUN`] (`failed`) are asked last (a leader they name too), none
/// twice in one call, and a heartbeat waits for each (dial included) no
/// longer than the heartbeat interval: a hung leader, which followers name
/// until they elect another, must not hold the node up longer than that,
/// or the new leader counts it silent; a leader that was only slow once is
/// still asked.
async fn call_leader(
    membership: &Membership,
    current: &mut Option<(String, CoordinatorServiceClient)>,
    failed: &mut BTreeMap<String, Instant>,
    registered: bool,
    node_id: NodeId,
    data: proto::coordinator_api::NodeData,
) -> Option<Result<ClusterView, CpgError>> {
    failed.retain(|_, at| at.elapsed() < SHUN);
    let mut candidates: Vec<String> = current.iter().map(|(a, _)| a.clone()).collect();
    candidates.extend(membership.coordinators.iter().cloned());
    // Stable: the order is kept among the healthy and among the shunned.
    candidates.sort_by_key(|a| failed.contains_key(a));
    let mut tried = 0;
    let mut asked: Vec<String> = Vec::new();
    // A heartbeat is waited for no longer than the interval (at least
    // 0.5 s); a registration writes to the Raft log: 5 s.
    let wait = if registered {
        membership
            .interval
            .clamp(Duration::from_millis(500), Duration::from_secs(5))
    } else {
        Duration::from_secs(5)
    };
    while let Some(address) = candidates.first().cloned() {
        candidates.remove(0);
        if asked.contains(&address) {
            continue;
        }
        asked.push(address.clone());
        tried += 1;
        if tried > membership.coordinators.len() + 3 {
            return None;
        }
        let client = match current.as_ref().filter(|(a, _)| *a == address) {
            Some((_, c)) => c.clone(),
            None => match connect(&address, wait.min(Duration::from_secs(2))).await {
                Some(c) => c,
                None => {
                    failed.insert(address, Instant::now());
                    continue;
                }
            },
        };
        let mut ctx = tarpc::context::current();
        ctx.deadline = Instant::now() + wait;
        let reply = if registered {
            client.heartbeat(ctx, node_id).await
        } else {
            client
                .register_node(ctx, node_id, membership.advertise.clone(), data)
                .await
        };
        match reply {
            Ok(Err(CpgError::NotLeader {
                leader: Some(leader),
            })) if leader != address => {
                *current = None;
                if failed.contains_key(&leader) {
                    candidates.push(leader);
                } else {
                    candidates.insert(0, leader);
                }
            }
            Ok(result) => {
                failed.remove(&address);
                *current = Some((address, client));
                return Some(result);
            }
            Err(_) => {
                *current = None;
                failed.insert(address, Instant::now());
            }
        }
    }
    None
}

/// Register, then heartbeat every `interval` until `shutdown`.
pub async fn run(node: Arc<Node>, membership: Membership, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut current = None;
    let mut failed = BTreeMap::new();
    let mut registered = false;
    loop {
        // A stop request does not wait for an in-flight call to finish.
        let reply = tokio::select! {
            _ = &mut shutdown => return,
            reply = call_leader(&membership, &mut current, &mut failed, registered, node.id(), node.data()) => reply,
        };
        match reply {
            Some(Ok(view)) => {
                // The registration said the node cannot vouch for its data,
                // and its replicas are behind now: it can from here on.
                if (!registered && node.unsure()) || node.voucher_pending() {
                    if let Err(e) = node.vouch() {
                        tracing::error!(
                            "cannot record that the cluster knows this node's data: {e}"
                        );
                    }
                }
                registered = true;
                node.set_map(NodeMap {
                    epoch: view.epoch,
                    // Joining replicas and those behind take writes too.
                    assignment: view.writable(),
                    unreachable: view.not_waited_for(),
                    nodes: view.nodes.into_iter().map(|n| (n.id, n.address)).collect(),
                });
            }
            // Not registered any more (a new cluster, a wiped registry): join again.
            Some(Err(CpgError::InvalidInput { .. })) => registered = false,
            Some(Err(_)) | None => {}
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(membership.interval) => {}
            _ = node.behind.notified() => {}
        }
    }
}
