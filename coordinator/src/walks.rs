//! Point queries walked on the storage nodes (`--walks-on-nodes`): callers,
//! callees and a function's impact in rounds, one per depth, each round a
//! scatter of the frontier to the partitions of its functions' modules and
//! a gather of their neighbours (docs/SCALING.md, "Node-side walks").
//!
//! The coordinator cuts its linked graph by partition once per snapshot
//! ([`CallGraph::walk_tables`]), at the first walk of it, and sends every
//! partition's share to its replicas in the background then; a walk that
//! finds a replica without it (the node answers `None` for a key it does
//! not hold: not sent yet, or a restarted node) sends it first. A round that no replica of a partition answers fails
//! the walk; the coordinator then answers from its own graph and counts a
//! fallback, so a node-side walk never changes an answer.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use net::node_client::NodeClient;
use partition::analysis::CallGraph;
use proto::assignment::{NodeId, PartitionId};
use proto::coordinator_api::ClusterView;
use proto::walks::{Direction, WalkTable};
use proto::{CpgError, Mfa, QueryResult};
use query::walks::{PointWalk, Rounds};
use query::Snapshot;

/// Each partition's share of one linked graph, with its key.
type Tables = BTreeMap<PartitionId, (u64, Arc<WalkTable>)>;

/// The graph (not kept alive by this) and partition count tables were cut
/// for, and the tables.
type Cut = (Weak<CallGraph>, u32, Arc<Tables>);

/// The walks a coordinator makes on its nodes, and what they cost.
#[derive(Debug, Default)]
pub struct NodeWalks {
    /// By project: the graph and partition count the tables were cut for.
    tables: Mutex<HashMap<String, Cut>>,
    /// Walks made on the nodes, rounds of them, tables sent, and walks
    /// answered from the coordinator's graph after a round failed.
    pub walks: AtomicU64,
    pub rounds: AtomicU64,
    pub tables_sent: Arc<AtomicU64>,
    pub fallbacks: AtomicU64,
    /// When a replica last failed a round: asked last for a while, so that
    /// walks right after a node is lost (before the coordinators count it
    /// silent) do not each wait on it first.
    failed: Mutex<HashMap<NodeId, Instant>>,
}

/// How long a replica that failed a round is asked after its partition's
/// other replicas.
const FAILED_FOR: Duration = Duration::from_secs(2);

/// How long a node has to answer one round (or to take a table).
const ROUND_DEADLINE: Duration = Duration::from_secs(10);

impl NodeWalks {
    /// The tables of `snapshot`'s graph, cut once per graph and project,
    /// and whether they were cut now.
    async fn tables(
        &self,
        project: &str,
        snapshot: &Snapshot,
        partitions: u32,
    ) -> Result<(Arc<Tables>, bool), CpgError> {
        let held = {
            let held = self.tables.lock().unwrap_or_else(|e| e.into_inner());
            held.get(project)
                .filter(|(g, p, _)| {
                    std::ptr::eq(g.as_ptr(), Arc::as_ptr(&snapshot.graph)) && *p == partitions
                })
                .map(|(_, _, t)| t.clone())
        };
        if let Some(t) = held {
            return Ok((t, false));
        }
        let graph = snapshot.graph.clone();
        let cut = tokio::task::spawn_blocking(move || -> Arc<Tables> {
            let tables: Tables = graph
                .walk_tables(partitions)
                .into_iter()
                .map(|(p, t)| {
                    let bytes = bincode::serde::encode_to_vec(&t, bincode::config::standard())
                        .unwrap_or_default();
                    (p, (xxhash_rust::xxh3::xxh3_64(&bytes), Arc::new(t)))
                })
                .collect();
            Arc::new(tables)
        })
        .await
        .map_err(|e| CpgError::Internal(format!("cutting the graph for walks failed: {e}")))?;
        let mut held = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        // Only the tables of graphs a snapshot still holds.
        held.retain(|_, (g, _, _)| g.strong_count() > 0);
        held.insert(
            project.to_string(),
            (Arc::downgrade(&snapshot.graph), partitions, cut.clone()),
        );
        Ok((cut, true))
    }

    /// Send every table of `tables` to every replica of its partition, in
    /// the background and all at once, so that walks do not wait for them.
    /// Failures are left to the walks, which send a table a replica lacks.
    fn send_ahead(
        &self,
        view: &ClusterView,
        clients: &HashMap<NodeId, Arc<NodeClient>>,
        project: &str,
        tables: Arc<Tables>,
    ) {
        let sent = self.tables_sent.clone();
        let sends: Vec<_> = tables
            .iter()
            .flat_map(|(&p, (key, table))| {
                let replicas = view.assignment.get(&p).cloned().unwrap_or_default();
                replicas.into_iter().filter_map(move |node| {
                    Some((clients.get(&node)?.clone(), p, *key, table.clone()))
                })
            })
            .collect();
        let project = project.to_string();
        tokio::spawn(async move {
            let each = sends.into_iter().map(|(client, p, key, table)| {
                let (project, sent) = (project.clone(), sent.clone());
                async move {
                    if send_table(&client, &project, p, key, &table).await.is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            futures::future::join_all(each).await;
        });
    }

    /// The answer to `walk` made in rounds on the nodes of `view`.
    pub async fn walk(
        &self,
        view: &ClusterView,
        clients: &HashMap<NodeId, Arc<NodeClient>>,
        project: &str,
        snapshot: &Snapshot,
        walk: &PointWalk,
    ) -> Result<QueryResult, CpgError> {
        let (tables, cut_now) = self.tables(project, snapshot, view.partitions).await?;
        if cut_now {
            self.send_ahead(view, clients, project, tables.clone());
        }
        let mut walks = Vec::new();
        for &direction in walk.directions() {
            let mut rounds = Rounds::new(&walk.function, walk.depth);
            while !rounds.frontier().is_empty() {
                let by_partition = rounds.frontier_by_partition(view.partitions);
                let asked = by_partition.into_iter().filter_map(|(p, functions)| {
                    // A partition without a table has no function that
                    // calls or is called: nothing to expand there.
                    let table = tables.get(&p)?;
                    Some(self.expand(view, clients, project, p, table, direction, functions))
                });
                let replies = futures::future::join_all(asked).await;
                self.rounds.fetch_add(1, Ordering::Relaxed);
                let mut next = Vec::new();
                for r in replies {
                    next.extend(r?);
                }
                rounds.advance(next);
            }
            walks.push(rounds.finish());
        }
        self.walks.fetch_add(1, Ordering::Relaxed);
        Ok(walk.result(snapshot, walks))
    }

    /// One partition's part of a round, from the first replica that
    /// answers: sent its table first if it does not hold it.
    #[allow(clippy::too_many_arguments)]
    async fn expand(
        &self,
        view: &ClusterView,
        clients: &HashMap<NodeId, Arc<NodeClient>>,
        project: &str,
        partition: PartitionId,
        (key, table): &(u64, Arc<WalkTable>),
        direction: Direction,
        functions: Vec<Mfa>,
    ) -> Result<Vec<Mfa>, CpgError> {
        // Replicas serving reads, those the leader hears from first.
        let silent = view.not_waited_for();
        let mut replicas: Vec<NodeId> =
            view.assignment.get(&partition).cloned().unwrap_or_default();
        {
            let failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            let recently = |n: &NodeId| failed.get(n).is_some_and(|t| t.elapsed() < FAILED_FOR);
            replicas.sort_by_key(|n| (silent.contains(n), recently(n)));
        }
        let failed = |node: NodeId| {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.insert(node, Instant::now());
        };
        let mut why = Vec::new();
        for node in replicas {
            let Some(client) = clients.get(&node) else {
                continue;
            };
            let ask = || {
                let (project, functions) = (project.to_string(), functions.clone());
                client.call(ROUND_DEADLINE, move |c, ctx| {
                    let (project, functions) = (project.clone(), functions.clone());
                    async move {
                        c.expand(ctx, project, partition, *key, direction, functions)
                            .await
                    }
                })
            };
            match ask().await {
                Ok(Some(next)) => return Ok(next),
                Ok(None) => {}
                Err(e) => {
                    failed(node);
                    why.push(format!("node {node}: {e}"));
                    continue;
                }
            }
            if let Err(e) = send_table(client, project, partition, *key, table).await {
                failed(node);
                why.push(format!("node {node}: {e}"));
                continue;
            }
            self.tables_sent.fetch_add(1, Ordering::Relaxed);
            match ask().await {
                Ok(Some(next)) => return Ok(next),
                Ok(None) => why.push(format!("node {node}: dropped the table it was sent")),
                Err(e) => why.push(format!("node {node}: {e}")),
            }
        }
        tracing::debug!(
            partition = partition.0,
            why = why.join("; "),
            "no replica expanded a walk"
        );
        Err(CpgError::Unavailable {
            partitions: vec![partition],
        })
    }
}

/// Send `table` (of `partition`, under `key`) to the node behind `client`.
async fn send_table(
    client: &NodeClient,
    project: &str,
    partition: PartitionId,
    key: u64,
    table: &Arc<WalkTable>,
) -> Result<(), net::node_client::CallError> {
    client
        .call(ROUND_DEADLINE, |c, ctx| {
            let (project, table) = (project.to_string(), (**table).clone());
            async move { c.walk_table(ctx, project, partition, key, table).await }
        })
        .await
}
