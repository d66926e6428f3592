//! Scatter-gather over the partitions: ask one replica per partition (one
//! batched request per node), each round with its own deadline; partitions
//! whose replica failed are asked of the next replica. The result says
//! whether it is complete and names the partitions that stayed missing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use proto::node_api::PartitionSummaries;
use proto::ModuleSummary;

use net::node_client::{CallError, NodeClient};
use proto::assignment::{Assignment, NodeId, PartitionId};

/// Module summaries of some partitions, by partition.
#[derive(Debug, Clone, Default)]
pub struct GatheredPartitions {
    pub partitions: BTreeMap<PartitionId, Vec<Arc<ModuleSummary>>>,
    pub missing: Vec<PartitionId>,
    pub failures: Vec<(NodeId, String)>,
}

/// Hedged requests: a node that has not answered when this much time has
/// passed (its recent p95, at least [`MIN_HEDGE`]) gets company: the same
/// partitions are asked of their next replicas, and the first answer wins.
#[derive(Debug, Default)]
pub struct Hedging {
    /// Latencies of recent summaries requests.
    pub latencies: host::vitals::LatencyWindow,
    /// Hedged requests sent.
    pub sent: std::sync::atomic::AtomicU64,
}

/// The least delay before a hedged request: below it, a hedge only doubles
/// the load of a cluster that is answering fine.
pub const MIN_HEDGE: Duration = Duration::from_millis(20);
/// The delay before a hedged request while there are no latencies yet.
const FIRST_HEDGE: Duration = Duration::from_millis(200);

impl Hedging {
    fn delay(&self) -> Duration {
        let s = self.latencies.summary();
        if s.count < 20 {
            return FIRST_HEDGE;
        }
        Duration::from_secs_f64(s.p95_query_time_ms / 1000.0).max(MIN_HEDGE)
    }
}

/// One request: the node asked, the partitions, how long it took, and
/// what came back.
type Asked = (
    NodeId,
    Vec<PartitionId>,
    Duration,
    Result<Vec<Decoded>, CallError>,
);

/// One partition's summaries, decoded.
type Decoded = (PartitionId, Vec<Arc<ModuleSummary>>);

/// Decode a node's reply on a blocking thread, so that replies are decoded
/// as they arrive, beside the transfer of the others. Bytes that do not
/// decode fail the request like an error from the node: the partitions are
/// asked of their next replica.
async fn decode(replies: Vec<PartitionSummaries>) -> Result<Vec<Decoded>, CallError> {
    let decoded = tokio::task::spawn_blocking(move || {
        replies
            .into_iter()
            .map(|r| {
                let modules = r.modules.decode()?;
                Ok((r.partition, modules.into_iter().map(Arc::new).collect()))
            })
            .collect::<Result<Vec<Decoded>, proto::CpgError>>()
    })
    .await;
    match decoded {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(CallError::Node(e)),
        Err(e) => Err(CallError::Node(proto::CpgError::Internal(format!(
            "decoding summaries: {e}"
        )))),
    }
}

/// Gather the summaries of the partitions `wanted` (of `assignment`) at
/// `epoch`: each from its first replica (one batched request per node);
/// a partition whose replica fails is asked of the next one at once, and
/// with `hedging`, partitions still unanswered after the hedge delay are
/// also asked of their next replica (the first answer wins).
pub async fn gather_partitions(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    assignment: &Assignment,
    wanted: BTreeSet<PartitionId>,
    deadline: Duration,
    hedging: Option<&Hedging>,
) -> GatheredPartitions {
    use futures::stream::{FuturesUnordered, StreamExt};
    let mut pending = wanted;
    let mut got: Vec<Decoded> = Vec::new();
    let mut failures = Vec::new();
    // Per partition: the next replica to ask, and requests in flight.
    let mut next: BTreeMap<PartitionId, usize> = BTreeMap::new();
    let mut flying: BTreeMap<PartitionId, usize> = BTreeMap::new();
    let mut in_flight = FuturesUnordered::new();
    let ask = |partitions: &[PartitionId],
               next: &mut BTreeMap<PartitionId, usize>,
               flying: &mut BTreeMap<PartitionId, usize>| {
        let mut by_node: BTreeMap<NodeId, Vec<PartitionId>> = BTreeMap::new();
        for p in partitions {
            let i = next.entry(*p).or_insert(0);
            if let Some(node) = assignment.get(p).and_then(|r| r.get(*i)) {
                by_node.entry(*node).or_default().push(*p);
                *i += 1;
                *flying.entry(*p).or_insert(0) += 1;
            }
        }
        by_node
            .into_iter()
            .map(|(node, partitions)| {
                let client = nodes.get(&node).cloned();
                async move {
                    let started = std::time::Instant::now();
                    let Some(client) = client else {
                        let why = format!("node {node} is not registered");
                        return (
                            node,
                            partitions,
                            started.elapsed(),
                            Err(CallError::Unreachable(why)),
                        );
                    };
                    let asked = partitions.clone();
                    let result = client
                        .call(deadline, move |c, ctx| {
                            let asked = asked.clone();
                            async move { c.summaries(ctx, epoch, asked).await }
                        })
                        .await;
                    // How long the node took to answer, decoding aside.
                    let took = started.elapsed();
                    let result = match result {
                        Ok(replies) => decode(replies).await,
                        Err(e) => Err(e),
                    };
                    (node, partitions, took, result)
                }
            })
            .collect::<Vec<_>>()
    };
    let all: Vec<PartitionId> = pending.iter().copied().collect();
    in_flight.extend(ask(&all, &mut next, &mut flying));
    let hedge = tokio::time::sleep(hedging.map_or(Duration::MAX, |h| h.delay()));
    tokio::pin!(hedge);
    let mut hedged = hedging.is_none();
    while !pending.is_empty() {
        let done: Asked = tokio::select! {
            Some(done) = in_flight.next() => done,
            _ = &mut hedge, if !hedged => {
                hedged = true;
                let slow: Vec<PartitionId> = pending.iter().copied().collect();
                let extra = ask(&slow, &mut next, &mut flying);
                if let Some(h) = hedging {
                    h.sent.fetch_add(extra.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                in_flight.extend(extra);
                continue;
            }
            else => break,
        };
        let (node, partitions, took, result) = done;
        for p in &partitions {
            if let Some(n) = flying.get_mut(p) {
                *n = n.saturating_sub(1);
            }
        }
        match result {
            Ok(replies) => {
                if let Some(h) = hedging {
                    h.latencies.record(took);
                }
                for r in replies {
                    if pending.remove(&r.0) {
                        got.push(r);
                    }
                }
            }
            Err(e) => {
                failures.push((node, format!("{e:?} (partitions {partitions:?})")));
                // Ask the next replica of those nobody else is asking.
                let again: Vec<PartitionId> = partitions
                    .iter()
                    .copied()
                    .filter(|p| pending.contains(p) && flying.get(p).copied().unwrap_or(0) == 0)
                    .collect();
                in_flight.extend(ask(&again, &mut next, &mut flying));
            }
        }
    }
    GatheredPartitions {
        partitions: got.into_iter().collect(),
        missing: pending.into_iter().collect(),
        failures,
    }
}
