//! Ingest into the cluster: files are parsed on the storage nodes (spread
//! over all of them), and every fragment is written to every replica of its
//! partition before the ingest reports success. Unchanged files (same
//! content hash) are skipped; changed files replace their modules, including
//! in partitions they no longer have modules in; deleted files are removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use partition::frontend::content_hash;
use proto::coordinator_api::CatalogFile;
use proto::node_api::{ParsedFile, PartitionWrite, SourceUpload};
use proto::{CpgError, Diagnostic};
use serde::Serialize;

use super::client::{CallError, NodeClient};
use crate::placement::{Assignment, NodeId, PartitionId};

/// Source bytes per parse request, so that requests stay well under the frame limit.
const PARSE_BATCH_BYTES: usize = 4 << 20;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub files_seen: u64,
    pub files_unchanged: u64,
    pub files_parsed: u64,
    pub files_removed: u64,
    /// Partition writes acknowledged by every replica.
    pub writes: u64,
    pub diagnostics: Vec<Diagnostic>,
    /// For the catalog: files added or changed, with their modules.
    pub put: Vec<CatalogFile>,
    /// For the catalog: files deleted from the tree.
    pub removed: Vec<String>,
}

/// What the cluster holds: file → (content hash, partitions with its modules).
pub type Held = BTreeMap<String, (u64, BTreeSet<PartitionId>)>;

fn unreachable(e: CallError) -> CpgError {
    match e {
        CallError::Node(e) => e,
        CallError::Unreachable(why) => CpgError::Internal(why),
    }
}

/// Ingest `sources` (the whole tree) into a cluster that holds `held`.
#[allow(clippy::too_many_arguments)]
pub async fn ingest(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    partitions: u32,
    assignment: &Assignment,
    held: &Held,
    sources: Vec<SourceUpload>,
    deadline: Duration,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<IngestReport, CpgError> {
    let mut report = IngestReport {
        files_seen: sources.len() as u64,
        ..IngestReport::default()
    };
    let present: BTreeSet<String> = sources.iter().map(|s| s.file.clone()).collect();
    let changed: Vec<SourceUpload> = sources
        .into_iter()
        .filter(|s| held.get(&s.file).map(|(h, _)| *h) != Some(content_hash(&s.bytes)))
        .collect();
    report.files_unchanged = report.files_seen - changed.len() as u64;

    // Parse on the nodes: batches dealt round-robin over every node.
    let parsers: Vec<Arc<NodeClient>> = {
        let mut ids: Vec<&NodeId> = nodes.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| nodes.get(id).cloned())
            .collect()
    };
    if parsers.is_empty() && !changed.is_empty() {
        return Err(CpgError::Unavailable {
            partitions: assignment.keys().copied().collect(),
        });
    }
    let mut batches: Vec<Vec<SourceUpload>> = vec![Vec::new()];
    let mut size = 0;
    for s in changed {
        if size + s.bytes.len() > PARSE_BATCH_BYTES && !batches.last().is_some_and(Vec::is_empty) {
            batches.push(Vec::new());
            size = 0;
        }
        size += s.bytes.len();
        if let Some(b) = batches.last_mut() {
            b.push(s);
        }
    }
    let parse_calls = batches
        .into_iter()
        .filter(|b| !b.is_empty())
        .enumerate()
        .map(|(i, batch)| {
            let client = parsers[i % parsers.len()].clone();
            async move {
                let n = batch.len() as u64;
                let r = client
                    .call(deadline, move |c, ctx| {
                        let batch = batch.clone();
                        async move { c.parse(ctx, partitions, batch).await }
                    })
                    .await;
                progress(n);
                r
            }
        });
    let mut parsed: Vec<ParsedFile> = Vec::new();
    for r in join_all(parse_calls).await {
        parsed.extend(r.map_err(unreachable)?);
    }
    report.files_parsed = parsed.len() as u64;

    // Writes per partition: new fragments, and removals where a file's
    // modules left a partition or the file is gone.
    let mut writes: BTreeMap<PartitionId, Vec<PartitionWrite>> = BTreeMap::new();
    for f in parsed {
        report.diagnostics.extend(f.diagnostics.iter().cloned());
        report.put.push(CatalogFile {
            diagnostics: f.diagnostics.clone(),
            file: f.file.clone(),
            content_hash: f.content_hash,
            modules: f
                .by_partition
                .iter()
                .flat_map(|(p, frags)| frags.iter().map(move |fr| (fr.name.clone(), *p)))
                .collect(),
        });
        let now: BTreeSet<PartitionId> = f.by_partition.iter().map(|(p, _)| *p).collect();
        if let Some((_, before)) = held.get(&f.file) {
            for p in before.difference(&now) {
                writes.entry(*p).or_default().push(PartitionWrite {
                    partition: *p,
                    file: f.file.clone(),
                    content_hash: f.content_hash,
                    fragments: Vec::new(),
                });
            }
        }
        for (p, fragments) in f.by_partition {
            writes.entry(p).or_default().push(PartitionWrite {
                partition: p,
                file: f.file.clone(),
                content_hash: f.content_hash,
                fragments,
            });
        }
    }
    for (file, (hash, before)) in held.iter().filter(|(f, _)| !present.contains(*f)) {
        report.files_removed += 1;
        report.removed.push(file.clone());
        for p in before {
            writes.entry(*p).or_default().push(PartitionWrite {
                partition: *p,
                file: file.clone(),
                content_hash: *hash,
                fragments: Vec::new(),
            });
        }
    }

    // Every replica of every partition, one batched request per node.
    let mut per_node: BTreeMap<NodeId, Vec<PartitionWrite>> = BTreeMap::new();
    for (p, ws) in &writes {
        let replicas = assignment.get(p).ok_or(CpgError::Unavailable {
            partitions: vec![*p],
        })?;
        for node in replicas {
            per_node
                .entry(*node)
                .or_default()
                .extend(ws.iter().cloned());
        }
    }
    let write_calls = per_node.into_iter().map(|(node, ws)| {
        let client = nodes.get(&node).cloned();
        async move {
            let parts: BTreeSet<PartitionId> = ws.iter().map(|w| w.partition).collect();
            let Some(client) = client else {
                return Err(parts);
            };
            client
                .call(deadline, move |c, ctx| {
                    let ws = ws.clone();
                    async move { c.write(ctx, epoch, ws).await }
                })
                .await
                .map_err(|_| parts)
        }
    });
    let mut failed: BTreeSet<PartitionId> = BTreeSet::new();
    for r in join_all(write_calls).await {
        if let Err(parts) = r {
            failed.extend(parts);
        }
    }
    if !failed.is_empty() {
        // Not every replica has the data: the ingest has not succeeded.
        return Err(CpgError::Unavailable {
            partitions: failed.into_iter().collect(),
        });
    }
    report.writes = writes.values().map(|w| w.len() as u64).sum();
    Ok(report)
}

/// What the cluster holds, from one replica per partition.
pub async fn held_files(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    assignment: &Assignment,
    deadline: Duration,
) -> Result<Held, CpgError> {
    let mut held = Held::new();
    let mut missing = Vec::new();
    for (p, replicas) in assignment {
        let mut answered = false;
        for node in replicas {
            let Some(client) = nodes.get(node) else {
                continue;
            };
            let asked = *p;
            let r = client
                .call(deadline, move |c, ctx| async move {
                    c.file_hashes(ctx, epoch, vec![asked]).await
                })
                .await;
            if let Ok(rows) = r {
                for (partition, file, hash) in rows {
                    let entry = held.entry(file).or_insert((hash, BTreeSet::new()));
                    entry.0 = hash;
                    entry.1.insert(partition);
                }
                answered = true;
                break;
            }
        }
        if !answered {
            missing.push(*p);
        }
    }
    if missing.is_empty() {
        Ok(held)
    } else {
        Err(CpgError::Unavailable {
            partitions: missing,
        })
    }
}
