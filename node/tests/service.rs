//! A storage node served over real TCP on loopback: parse, write, read
//! summaries back, refuse stale epochs and partitions it does not hold,
//! survive a restart from its data dir and a peer sending garbage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use net::serving::Serving;
use node::service::{run, Node, NodeConfig};
use proto::assignment::{NodeId, PartitionId};
use proto::node_api::{
    IngestFile, IngestReply, NodeServiceClient, PartitionWrite, RemovedFile, SourceUpload,
};
use proto::{CpgError, ModuleSummary};
use tarpc::context;
use tokio::io::AsyncWriteExt;

/// Reading `/metrics` as the cluster tests do.
#[allow(dead_code)]
#[path = "../../cluster-tests/src/metrics.rs"]
mod metrics;

const PARTITIONS: u32 = 4;

/// A node served on loopback, with a client connected to it.
struct Served {
    addr: SocketAddr,
    client: NodeServiceClient,
    node: std::sync::Arc<Node>,
    serving: Serving,
}

impl Served {
    /// Stop serving and wait until the node has.
    async fn stop(mut self) {
        self.serving.stop().await.unwrap();
    }
}

fn config(node_id: u64, dir: &Path, defrag_threshold: f64) -> NodeConfig {
    NodeConfig {
        defrag_threshold,
        ..NodeConfig::new(NodeId(node_id), dir)
    }
}

/// Serve `node` on a fresh loopback port.
async fn serve(node: std::sync::Arc<Node>) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = node.clone();
    let serving = Serving::spawn(|stopped| run(listener, served, stopped));
    Served {
        addr,
        client: connect(addr).await,
        node,
        serving,
    }
}

/// Node `node_id` opened on `dir` (nothing quarantined) and served.
async fn start_as(node_id: u64, dir: &Path, defrag_threshold: f64) -> Served {
    let (node, quarantined) = Node::open(&config(node_id, dir, defrag_threshold)).unwrap();
    assert!(quarantined.is_empty());
    // As a coordinator taking its registration would have it.
    node.vouch().unwrap();
    serve(node).await
}

/// Node 1 on `dir` at the default defragmentation threshold.
async fn start(dir: &Path) -> Served {
    start_as(1, dir, node::service::DEFRAG_THRESHOLD).await
}

/// Node 1 holding every partition under map `epoch`.
async fn assign_all(served: &Served, epoch: u64) {
    served
        .client
        .assign(context::current(), only_me(epoch, all_partitions()))
        .await
        .unwrap()
        .unwrap();
}

/// Node 1 on `dir`, holding every partition under map 1, with the example
/// written once per entry of `edits` (edited or not).
async fn holding_the_example(dir: &Path, defrag_threshold: f64, edits: &[bool]) -> Served {
    let served = start_as(1, dir, defrag_threshold).await;
    assign_all(&served, 1).await;
    for edit in edits {
        served
            .client
            .write(context::current(), 1, example_writes(*edit))
            .await
            .unwrap()
            .unwrap();
    }
    served
}

async fn connect(addr: SocketAddr) -> NodeServiceClient {
    let transport = net::wire::dial(&addr.to_string(), std::time::Duration::from_secs(5))
        .await
        .unwrap();
    NodeServiceClient::new(tarpc::client::Config::default(), transport).spawn()
}

fn example_sources() -> Vec<SourceUpload> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ex" || x == "exs") {
                let name = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push(SourceUpload {
                    file: name,
                    bytes: std::fs::read(&p).unwrap(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// The example as the files of an ingest (all new).
fn example_files() -> Vec<IngestFile> {
    example_sources()
        .into_iter()
        .map(|upload| IngestFile {
            upload,
            before: Vec::new(),
        })
        .collect()
}

/// Every partition of the map.
fn all_partitions() -> Vec<PartitionId> {
    PartitionId::all(PARTITIONS).collect()
}

/// The example ingested through `client` at epoch 1 (all new files): the
/// node's reply.
async fn ingest_example(client: &NodeServiceClient) -> Result<IngestReply, CpgError> {
    client
        .ingest(
            context::current(),
            1,
            PARTITIONS,
            example_files(),
            Vec::new(),
        )
        .await
        .unwrap()
}

async fn all_summaries(
    client: &NodeServiceClient,
    epoch: u64,
) -> BTreeMap<PartitionId, Vec<ModuleSummary>> {
    client
        .summaries(context::current(), epoch, all_partitions())
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|p| (p.partition, p.modules.decode().unwrap()))
        .collect()
}

#[tokio::test]
async fn parse_write_read_restart_and_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let served = start(dir.path()).await;
    assign_all(&served, 1).await;
    let client = &served.client;

    let parsed = node::service::parse_files(PARTITIONS, example_sources());
    assert_eq!(parsed.len(), 26);
    let writes = writes_of(&parsed);
    let changed = client
        .write(context::current(), 1, writes.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed as usize, writes.len());
    // Writing the same content again changes nothing.
    assert_eq!(
        client
            .write(context::current(), 1, writes)
            .await
            .unwrap()
            .unwrap(),
        0
    );

    let before = all_summaries(client, 1).await;
    let modules: usize = before.values().map(Vec::len).sum();
    assert_eq!(modules, 28, "27 modules and one script of the example");
    for (p, ms) in &before {
        for m in ms {
            assert_eq!(
                partition::partitioning::partition_of(&m.name, PARTITIONS),
                *p,
                "{} in the wrong partition",
                m.name
            );
        }
    }

    // Walk tables of partitions 1 and 2, held under map 1.
    use proto::walks::{Direction, WalkRow, WalkTable};
    let (a, b) = (proto::Mfa::new("A", "f", 0), proto::Mfa::new("B", "g", 0));
    let table = WalkTable {
        names: vec![a.clone(), b.clone()],
        rows: vec![WalkRow {
            function: 0,
            callers: Vec::new(),
            callees: vec![1],
        }],
    };
    let expand = |p: PartitionId| {
        let a = a.clone();
        async move {
            client
                .expand(
                    context::current(),
                    String::new(),
                    p,
                    7,
                    Direction::Callees,
                    vec![a],
                )
                .await
                .unwrap()
                .unwrap()
        }
    };
    for p in [PartitionId(1), PartitionId(2)] {
        client
            .walk_table(context::current(), String::new(), p, 7, table.clone())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(expand(p).await, Some(vec![b.clone()]), "partition {p}");
    }
    // A request planned with an older map, and a partition it does not hold.
    let stale = client
        .summaries(context::current(), 0, vec![PartitionId(0)])
        .await
        .unwrap();
    assert_eq!(stale, Err(CpgError::StaleEpoch { current: 1 }));
    client
        .assign(
            context::current(),
            only_me(2, vec![PartitionId(0), PartitionId(1)]),
        )
        .await
        .unwrap()
        .unwrap();
    // Partition 2 moved away under map 2: its walk table with it; and a
    // table of a partition the node does not hold is refused.
    assert_eq!(expand(PartitionId(1)).await, Some(vec![b.clone()]));
    assert_eq!(
        expand(PartitionId(2)).await,
        None,
        "a moved partition's table"
    );
    let refused = client
        .walk_table(context::current(), String::new(), PartitionId(3), 7, table)
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(CpgError::Unavailable { .. })),
        "{refused:?}"
    );
    let missing = client
        .summaries(
            context::current(),
            2,
            vec![PartitionId(1), PartitionId(2), PartitionId(3)],
        )
        .await
        .unwrap();
    assert_eq!(
        missing,
        Err(CpgError::Unavailable {
            partitions: vec![PartitionId(2), PartitionId(3)]
        })
    );
    // Partitions 2 and 3 moved away under map 2: dropped, here and on disk,
    // with the walk tables of partition 2.
    assign_all(&served, 3).await;
    assert_eq!(expand(PartitionId(1)).await, Some(vec![b.clone()]));
    assert_eq!(
        expand(PartitionId(2)).await,
        None,
        "a moved partition's table"
    );
    let now = all_summaries(client, 3).await;
    for p in PartitionId::all(PARTITIONS) {
        let want = if p < PartitionId(2) {
            before[&p].clone()
        } else {
            Vec::new()
        };
        assert_eq!(now[&p], want, "partition {p}");
    }
    let logs: Vec<String> = std::fs::read_dir(dir.path().join("partitions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !logs
            .iter()
            .any(|l| l.starts_with("p00002") || l.starts_with("p00003")),
        "{logs:?}"
    );
    // Written again, as a move would copy them back.
    let writes = example_writes(false);
    client
        .write(context::current(), 3, writes)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all_summaries(client, 3).await, before);

    // A peer sending garbage loses only its own connection.
    let mut raw = tokio::net::TcpStream::connect(served.addr).await.unwrap();
    raw.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5])
        .await
        .unwrap();
    raw.write_all(b"not a frame at all").await.unwrap();
    drop(raw);
    assert_eq!(client.health(context::current()).await.unwrap().epoch, 3);

    // Stop the node and start it again on the same data dir.
    served.stop().await;
    let served = start(dir.path()).await;
    assign_all(&served, 3).await;
    assert_eq!(all_summaries(&served.client, 3).await, before);
    let health = served.client.health(context::current()).await.unwrap();
    assert_eq!(health.files, 26);
    served.stop().await;
}

/// The files each partition holds (`file_hashes` of every partition).
async fn held(client: &NodeServiceClient, epoch: u64) -> Vec<(PartitionId, String, u64)> {
    client
        .file_hashes(context::current(), epoch, all_partitions())
        .await
        .unwrap()
        .unwrap()
}

/// Source goes to one node, which writes every replica; a removed file
/// travels the same way, the client writing no replica itself.
#[tokio::test]
async fn an_ingest_removes_gone_files_from_every_replica() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s1 = start_as(1, one.path(), node::service::DEFRAG_THRESHOLD).await;
    let s2 = start_as(2, two.path(), node::service::DEFRAG_THRESHOLD).await;
    let map = proto::node_api::NodeMap {
        epoch: 1,
        assignment: PartitionId::all(PARTITIONS)
            .map(|p| (p, vec![NodeId(1), NodeId(2)]))
            .collect(),
        nodes: [
            (NodeId(1), s1.addr.to_string()),
            (NodeId(2), s2.addr.to_string()),
        ]
        .into(),
        unreachable: Default::default(),
    };
    let (c1, c2) = (&s1.client, &s2.client);
    for c in [c1, c2] {
        c.assign(context::current(), map.clone())
            .await
            .unwrap()
            .unwrap();
    }
    let reply = ingest_example(c1).await.unwrap();
    assert_eq!(reply.files.len(), 26);
    assert!(reply.missed.is_empty(), "{:?}", reply.missed);
    let both = held(c1, 1).await;
    assert_eq!(both, held(c2, 1).await, "both replicas hold the same files");
    assert_eq!(all_summaries(c1, 1).await, all_summaries(c2, 1).await);

    // One file gone from the tree: sent to the other node, which clears it
    // from both replicas of every partition its modules were in.
    let gone = reply
        .files
        .iter()
        .find(|f| f.file == "lib/shop/pricing.ex")
        .expect("the example has lib/shop/pricing.ex");
    let mut before: Vec<PartitionId> = gone.modules.iter().map(|(_, p)| *p).collect();
    before.sort_unstable();
    before.dedup();
    let removed = vec![RemovedFile {
        file: gone.file.clone(),
        content_hash: gone.content_hash,
        before,
    }];
    let reply = c2
        .ingest(context::current(), 1, PARTITIONS, Vec::new(), removed)
        .await
        .unwrap()
        .unwrap();
    assert!(
        reply.files.is_empty() && reply.missed.is_empty(),
        "{reply:?}"
    );
    let expected: Vec<(PartitionId, String, u64)> = both
        .into_iter()
        .filter(|(_, f, _)| f != "lib/shop/pricing.ex")
        .collect();
    assert_eq!(held(c1, 1).await, expected);
    assert_eq!(held(c2, 1).await, expected);
    let modules: Vec<String> = all_summaries(c1, 1)
        .await
        .into_values()
        .flatten()
        .map(|m| m.name)
        .collect();
    assert!(
        !modules.contains(&"Shop.Pricing".to_string()),
        "{modules:?}"
    );
    assert_eq!(all_summaries(c1, 1).await, all_summaries(c2, 1).await);
    s1.stop().await;
    s2.stop().await;
}

/// The map of a one-node cluster (node 1) at `epoch` holding `partitions`.
fn only_me(epoch: u64, partitions: Vec<PartitionId>) -> proto::node_api::NodeMap {
    proto::node_api::NodeMap {
        epoch,
        assignment: partitions
            .into_iter()
            .map(|p| (p, vec![NodeId(1)]))
            .collect(),
        nodes: Default::default(),
        unreachable: Default::default(),
    }
}

/// The example's files, each with a comment appended (new content hashes,
/// the same modules), as writes for partitions of `PARTITIONS`.
fn example_writes(edit: bool) -> Vec<PartitionWrite> {
    let mut sources = example_sources();
    if edit {
        for s in &mut sources {
            s.bytes.extend_from_slice(b"\n# edited\n");
        }
    }
    writes_of(&node::service::parse_files(PARTITIONS, sources))
}

/// The partition writes of parsed files.
fn writes_of(parsed: &[node::service::ParsedFile]) -> Vec<PartitionWrite> {
    parsed
        .iter()
        .flat_map(|f| {
            f.by_partition.iter().map(|(p, frags)| PartitionWrite {
                partition: *p,
                file: f.file.clone(),
                content_hash: f.content_hash,
                fragments: frags.clone(),
            })
        })
        .collect()
}

fn ratios(h: &proto::NodeHealth) -> Vec<f64> {
    h.held.iter().map(|p| p.deleted_ratio).collect()
}

#[tokio::test]
async fn replaced_modules_are_defragmented_over_the_threshold_or_on_demand() {
    // Never on its own (threshold 1): every file replaced once leaves half
    // of each partition's rows deleted; a forced defrag rebuilds them.
    let dir = tempfile::tempdir().unwrap();
    let served = holding_the_example(dir.path(), 1.0, &[false, true]).await;
    let client = &served.client;
    let before = all_summaries(client, 1).await;
    let h = client.health(context::current()).await.unwrap();
    // The same figures over HTTP, for Prometheus (one summaries read so far).
    let metrics = metrics_of(&served.node).await;
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    for line in [
        format!("cpg_total_cpg_nodes {}\n", h.total_cpg_nodes),
        format!("cpg_partitions {PARTITIONS}\n"),
        "cpg_read_seconds_count 1\n".to_string(),
        "cpg_tables_status 0\n".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line} missing in\n{metrics}");
    }
    assert!(
        ratios(&h).iter().all(|r| (0.45..=0.55).contains(r)),
        "{:?}",
        ratios(&h)
    );
    // The diagnosis scans every live row (nodes, edges, call rows), judges
    // the deleted share against the guide's 30% and says to defragment.
    let d = client.diagnose(context::current()).await.unwrap();
    let live: u64 = h.held.iter().map(|p| p.cpg_nodes + p.cpg_edges).sum();
    assert!(d.scanned_entries > 0 && d.scanned_entries <= live, "{d:?}");
    assert!(d.scan_entries_per_second > 0.0, "{d:?}");
    let deleted = d
        .indicators
        .iter()
        .find(|i| i.name == "deleted_entries_ratio")
        .unwrap();
    assert!(deleted.value > 0.45 && deleted.breached, "{d:?}");
    assert!(
        d.recommendations
            .iter()
            .any(|r| r.indicator == "deleted_entries_ratio" && r.action.contains("cpg defrag")),
        "{d:?}"
    );
    let unforced = client
        .defrag(context::current(), false)
        .await
        .unwrap()
        .unwrap();
    assert!(unforced
        .iter()
        .all(|d| !d.rebuilt && d.bytes_after == d.bytes_before));
    let forced = client
        .defrag(context::current(), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(forced.len(), PARTITIONS as usize);
    for d in &forced {
        assert!(d.rebuilt && d.bytes_after < d.bytes_before, "{d:?}");
    }
    let h = client.health(context::current()).await.unwrap();
    assert!(ratios(&h).iter().all(|r| *r == 0.0), "{:?}", ratios(&h));
    assert_eq!(all_summaries(client, 1).await, before, "nothing lost");
    let d = client.diagnose(context::current()).await.unwrap();
    assert!(
        d.indicators
            .iter()
            .any(|i| i.name == "deleted_entries_ratio" && i.value == 0.0 && !i.breached),
        "{d:?}"
    );
    served.stop().await;

    // At the default 30%, the write that replaced them rebuilt on its own.
    let dir = tempfile::tempdir().unwrap();
    let served =
        holding_the_example(dir.path(), node::service::DEFRAG_THRESHOLD, &[false, true]).await;
    let h = served.client.health(context::current()).await.unwrap();
    assert!(ratios(&h).iter().all(|r| *r == 0.0), "{:?}", ratios(&h));
    assert_eq!(all_summaries(&served.client, 1).await, before);
    served.stop().await;
}

/// `GET /metrics` from a metrics server started for `node`.
async fn metrics_of(node: &std::sync::Arc<Node>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let n = node.clone();
    let server = tokio::spawn(net::metrics::serve_metrics(
        listener,
        move || n.metrics(),
        std::future::pending(),
    ));
    let out = metrics::scrape(&addr.to_string()).await;
    server.abort();
    out
}

#[tokio::test]
async fn under_memory_pressure_writes_are_refused_and_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    // Write the example first, without a limit.
    let served = holding_the_example(dir.path(), node::service::DEFRAG_THRESHOLD, &[false]).await;
    let before = all_summaries(&served.client, 1).await;
    served.stop().await;

    // Reopened with a limit this process is always above (1 MB).
    let (node, _) = Node::open(&NodeConfig {
        memory_limit_mb: Some(1),
        ..config(1, dir.path(), node::service::DEFRAG_THRESHOLD)
    })
    .unwrap();
    node.set_map(only_me(1, all_partitions()));
    assert!(!node.unsure(), "vouched for at its first start");
    let served = serve(node).await;
    let client = &served.client;
    match ingest_example(client).await {
        Err(CpgError::ResourceExhausted { what, limit }) => {
            assert_eq!(limit, 1);
            assert!(
                what.contains("node 1:")
                    && what.contains("MB")
                    && what.contains("reads still answer"),
                "{what}"
            );
        }
        other => panic!("expected ResourceExhausted, got {other:?}"),
    }
    let refused = client
        .write(context::current(), 1, Vec::new())
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(CpgError::ResourceExhausted { .. })),
        "{refused:?}"
    );
    // Reads of what is held go on, unchanged, and health says why.
    assert_eq!(all_summaries(client, 1).await, before);
    let h = client.health(context::current()).await.unwrap();
    assert_eq!(h.cpg_tables_status, proto::TablesStatus::Degraded);
    assert!(
        h.reasons
            .iter()
            .any(|r| r.contains("80% of the 1 MB limit")),
        "{:?}",
        h.reasons
    );
    assert!(served.node.admit_heavy("a test").is_err());
    served.stop().await;
}

/// A write batch with one fragment that is not well formed is refused
/// whole, with InvalidInput saying what is wrong, and nothing of it is
/// held: not the good files of the batch either.
#[tokio::test]
async fn a_batch_with_a_fragment_not_well_formed_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let served = start(dir.path()).await;
    assign_all(&served, 1).await;
    let mut writes = example_writes(false);
    let last = writes.len() - 1;
    writes[last].fragments[0].calls[0].caller = 999_999;
    let refused = served
        .client
        .write(context::current(), 1, writes.clone())
        .await
        .unwrap();
    match refused {
        Err(CpgError::InvalidInput { reason }) => {
            assert!(reason.contains("past the"), "{reason}");
            assert!(reason.contains(&writes[last].file), "{reason}");
        }
        other => panic!("a bad fragment was taken: {other:?}"),
    }
    let mut escaping = example_writes(false);
    escaping.truncate(1);
    escaping[0].file = "../outside.ex".into();
    let refused = served
        .client
        .write(context::current(), 1, escaping)
        .await
        .unwrap();
    assert!(
        matches!(&refused, Err(CpgError::InvalidInput { reason }) if reason.contains("could leave")),
        "{refused:?}"
    );
    let held: usize = all_summaries(&served.client, 1)
        .await
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(held, 0, "nothing of the refused batches is held");
    // The good batch goes through.
    writes[last] = example_writes(false)[last].clone();
    let changed = served
        .client
        .write(context::current(), 1, writes.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed as usize, writes.len());
}

/// A full disk: the write is refused with ResourceExhausted, nothing of
/// it is kept, reads go on, health says what to do, and the next write
/// after room is back goes through with no restart. A failing disk (the
/// flush fails, and so does undoing the write): refused, the logs take no
/// writes, and a restart reads back exactly what was acknowledged.
#[tokio::test]
async fn a_full_or_failing_disk_refuses_writes_keeps_reads_and_nothing_is_torn() {
    use host::durable::faults::{self, Fault};
    let dir = tempfile::tempdir().unwrap();
    let served = holding_the_example(dir.path(), node::service::DEFRAG_THRESHOLD, &[false]).await;
    let client = &served.client;
    let first = held(client, 1).await;
    let summaries = all_summaries(client, 1).await;

    faults::inject(dir.path(), Fault::NoSpace);
    let refused = client
        .write(context::current(), 1, example_writes(true))
        .await
        .unwrap();
    match &refused {
        Err(e @ CpgError::ResourceExhausted { what, .. }) if e.is_disk_full() => {
            assert!(
                what.contains("node 1") && what.contains("nothing of them was written"),
                "{what}"
            );
        }
        other => panic!("expected a full disk, got {other:?}"),
    }
    assert_eq!(
        held(client, 1).await,
        first,
        "nothing of the refused write is held"
    );
    assert_eq!(all_summaries(client, 1).await, summaries);
    let h = client.health(context::current()).await.unwrap();
    assert_eq!(h.cpg_tables_status, proto::TablesStatus::Degraded);
    assert!(
        h.reasons.iter().any(|r| r.contains("the last write failed")
            && r.contains("free space")
            && r.contains("takes writes again by itself")),
        "{:?}",
        h.reasons
    );

    // Room again: the same write goes through, no restart.
    faults::clear(dir.path());
    client
        .write(context::current(), 1, example_writes(true))
        .await
        .unwrap()
        .unwrap();
    let second = held(client, 1).await;
    assert_ne!(second, first);
    let h = client.health(context::current()).await.unwrap();
    assert_eq!(
        h.cpg_tables_status,
        proto::TablesStatus::Healthy,
        "{:?}",
        h.reasons
    );

    // A failing disk: the flush fails and undoing the write cannot be
    // made durable either.
    faults::inject(dir.path(), Fault::FlushFails);
    let refused = client
        .write(context::current(), 1, example_writes(false))
        .await
        .unwrap();
    assert!(
        matches!(&refused, Err(CpgError::NotDurable { reason: why }) if why.contains("could not be undone")),
        "{refused:?}"
    );
    faults::clear(dir.path());
    assert_eq!(held(client, 1).await, second);
    let h = client.health(context::current()).await.unwrap();
    assert!(
        h.reasons
            .iter()
            .any(|r| r.contains("takes no writes") && r.contains("restart")),
        "{:?}",
        h.reasons
    );
    // Those logs refuse writes until the node reads them back.
    assert!(client
        .write(context::current(), 1, example_writes(false))
        .await
        .unwrap()
        .is_err());
    served.stop().await;

    // Restarted: nothing to quarantine (nothing torn), exactly the
    // acknowledged writes, and writes go on.
    let served = start(dir.path()).await;
    assign_all(&served, 1).await;
    assert_eq!(held(&served.client, 1).await, second);
    served
        .client
        .write(context::current(), 1, example_writes(false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held(&served.client, 1).await, first);
    served.stop().await;
}

/// A node that cannot vouch for its data (a new data dir, or records set
/// aside when it opened) serves no summaries until a coordinator has taken
/// its registration (`vouch`), and stays vouched for across restarts; a
/// data dir of another node is refused.
#[tokio::test]
async fn a_node_serves_no_data_until_it_can_vouch_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (node, _) = Node::open(&config(1, dir.path(), node::service::DEFRAG_THRESHOLD)).unwrap();
    assert!(node.unsure(), "a new data dir");
    node.set_map(only_me(1, all_partitions()));
    let served = serve(node.clone()).await;
    let refused = served
        .client
        .summaries(context::current(), 1, vec![PartitionId(0)])
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(CpgError::Unavailable { .. })),
        "{refused:?}"
    );
    node.vouch().unwrap();
    all_summaries(&served.client, 1).await;
    served.stop().await;
    drop(node);

    let (node, _) = Node::open(&config(1, dir.path(), node::service::DEFRAG_THRESHOLD)).unwrap();
    assert!(!node.unsure(), "vouched for across a restart");
    drop(node);
    let e = match Node::open(&config(2, dir.path(), node::service::DEFRAG_THRESHOLD)) {
        Ok(_) => panic!("node 2 opened node 1's data dir"),
        Err(e) => e,
    };
    assert!(e.to_string().contains("holds node 1's data"), "{e}");

    // A damaged record set aside at start: unsure again, across a crash too.
    let log = dir.path().join("partitions/p00000.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, [7u8, 0, 0, 0, 1, 2, 3]).unwrap();
    let (node, quarantined) =
        Node::open(&config(1, dir.path(), node::service::DEFRAG_THRESHOLD)).unwrap();
    assert!(!quarantined.is_empty());
    assert!(node.unsure());
    drop(node);
    let (node, quarantined) =
        Node::open(&config(1, dir.path(), node::service::DEFRAG_THRESHOLD)).unwrap();
    assert!(quarantined.is_empty());
    assert!(node.unsure(), "still unsure: no coordinator has taken it");
}
