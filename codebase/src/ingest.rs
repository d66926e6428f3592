//! Ingest into the cluster: files are parsed on the storage nodes (spread
//! over all of them), and every fragment is written to every replica of its
//! partition before the ingest reports success; a replica that cannot be
//! reached misses the write (at least one must take it) and is reported,
//! for the catalog to mark it behind until it is caught up. Unchanged files (same
//! content hash) are skipped; changed files replace their modules, including
//! in partitions they no longer have modules in; deleted files are removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::sources::Source;
use futures::future::join_all;
use futures::StreamExt;
use proto::coordinator_api::CatalogFile;
use proto::node_api::{IngestFile, RemovedFile, SourceUpload};
use proto::{CpgError, Diagnostic};
use serde::Serialize;

use net::node_client::{CallError, NodeClient};
use proto::assignment::{by_replica, Assignment, NodeId, PartitionId};

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub files_seen: u64,
    pub files_unchanged: u64,
    pub files_parsed: u64,
    pub files_removed: u64,
    /// Partition writes made.
    pub writes: u64,
    /// `(partition, node)`: replicas that missed some of the writes.
    pub missed: Vec<(PartitionId, NodeId)>,
    pub diagnostics: Vec<Diagnostic>,
    /// For the catalog: files added or changed, with their modules.
    pub put: Vec<CatalogFile>,
    /// For the catalog: files deleted from the tree.
    pub removed: Vec<String>,
}

/// What the cluster holds: file → (content hash, partitions with its modules);
/// a file the catalog records without modules is held in no partition.
pub type Held = BTreeMap<String, (u64, BTreeSet<PartitionId>)>;

/// Source bytes per parse request: small enough that several batches are in
/// flight at once (parsing on one node while another batch is written), and
/// far under the frame limit.
const PARSE_BATCH_BYTES: usize = 256 << 10;

/// Batches in flight per storage node.
const IN_FLIGHT_PER_NODE: usize = 2;

/// One request of an ingest: files to parse and write (each with the
/// partitions its modules are in now), or files to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub files: Vec<IngestFile>,
    pub removed: Vec<RemovedFile>,
}

/// What an ingest will send, decided before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Batches of changed files (each under [`PARSE_BATCH_BYTES`] unless it
    /// is one file), then one of removed files.
    pub batches: Vec<Batch>,
    /// Files whose content the cluster holds and the catalog records as is.
    pub unchanged: u64,
    /// Files the catalog is to forget: gone from the tree and held, or gone
    /// and only recorded (an ingest that stopped before its end).
    pub removed: Vec<String>,
}

/// Plan an ingest of `sources` (the whole tree) into a cluster holding
/// `held` whose catalog records `recorded`: a file is sent when its content
/// differs from what the nodes hold, or from what the catalog records; a
/// held file gone from the tree is removed from its partitions.
pub fn plan(
    held: &Held,
    recorded: Option<&BTreeMap<String, u64>>,
    sources: &[Source],
) -> Result<Plan, String> {
    let present: BTreeSet<&str> = sources.iter().map(|s| s.file.as_str()).collect();
    let seen = sources.len() as u64;
    // Only what changed is copied, or read (a monolith's tree is ~100 MB).
    let changed: Vec<SourceUpload> = sources
        .iter()
        .filter(|s| {
            let hash = Some(s.hash);
            held.get(&s.file).map(|(h, _)| *h) != hash
                || recorded.is_some_and(|r| r.get(&s.file).copied() != hash)
        })
        .map(Source::upload)
        .collect::<Result<_, String>>()?;
    let unchanged = seen - changed.len() as u64;
    let mut batches: Vec<Batch> = Vec::new();
    let mut size = 0;
    for upload in changed {
        let len = upload.bytes.len();
        match batches.last_mut() {
            Some(_) if size + len <= PARSE_BATCH_BYTES => size += len,
            _ => {
                batches.push(Batch {
                    files: Vec::new(),
                    removed: Vec::new(),
                });
                size = len;
            }
        }
        let before = held
            .get(&upload.file)
            .map(|(_, ps)| ps.iter().copied().collect())
            .unwrap_or_default();
        if let Some(b) = batches.last_mut() {
            b.files.push(IngestFile { upload, before });
        }
    }
    // Files deleted from the tree travel like the others: a node clears
    // them from every replica of the partitions they were in.
    let mut removed = Vec::new();
    let mut gone = Vec::new();
    for (file, (hash, before)) in held.iter().filter(|(f, _)| !present.contains(f.as_str())) {
        gone.push(file.clone());
        // In no partition (a file without modules): no node to tell.
        if before.is_empty() {
            continue;
        }
        removed.push(RemovedFile {
            file: file.clone(),
            content_hash: *hash,
            before: before.iter().copied().collect(),
        });
    }
    if !removed.is_empty() {
        batches.push(Batch {
            files: Vec::new(),
            removed,
        });
    }
    // Recorded, gone from the tree, held by no node: the catalog forgets it.
    for file in recorded.into_iter().flat_map(|r| r.keys()) {
        if !present.contains(file.as_str()) && !held.contains_key(file) {
            gone.push(file.clone());
        }
    }
    Ok(Plan {
        batches,
        unchanged,
        removed: gone,
    })
}

/// What one batch contributed to the report.
#[derive(Default)]
struct BatchDone {
    files: u64,
    writes: u64,
    missed: Vec<(PartitionId, NodeId)>,
    diagnostics: Vec<Diagnostic>,
    put: Vec<CatalogFile>,
}

/// Ingest `sources` (the whole tree) into a cluster that holds `held`.
///
/// Changed files go in small batches, dealt round-robin over the nodes; the
/// node of a batch parses it and writes the fragments to every replica of
/// their partitions (itself included) before it answers, and only then is
/// the batch counted (`progress`). Fragments never come back through this
/// client. A few batches per node are in flight, so parsing and writing
/// overlap. A batch whose node fails goes to the next node (writes replace,
/// so a repeated batch does no harm).
///
/// `recorded` is what the catalog records (file → content hash): a file the
/// nodes hold but the catalog does not record as it is (an earlier ingest
/// wrote it and failed before recording) is parsed and recorded again, and
/// files the catalog records that left the tree are removed from it.
#[allow(clippy::too_many_arguments)]
pub async fn ingest(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    partitions: u32,
    assignment: &Assignment,
    held: &Held,
    recorded: Option<&BTreeMap<String, u64>>,
    sources: &[Source],
    deadline: Duration,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<IngestReport, CpgError> {
    let mut report = IngestReport {
        files_seen: sources.len() as u64,
        ..IngestReport::default()
    };
    let plan = plan(held, recorded, sources).map_err(|e| CpgError::InvalidInput {
        reason: format!("cannot read a file of the tree to send it (nothing was sent): {e}"),
    })?;
    report.files_unchanged = plan.unchanged;
    report.files_removed = plan.removed.len() as u64;
    report.removed = plan.removed;
    let changing = plan.batches.iter().any(|b| !b.files.is_empty());
    let removing = plan.batches.iter().any(|b| !b.removed.is_empty());

    let parsers: Vec<Arc<NodeClient>> = {
        let mut ids: Vec<&NodeId> = nodes.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| nodes.get(id).cloned())
            .collect()
    };
    if parsers.is_empty() && changing {
        return Err(CpgError::Unavailable {
            partitions: assignment.keys().copied().collect(),
        });
    }
    if changing || removing {
        admitted(nodes, deadline).await?;
    }
    let parsers = &parsers;
    let pipeline = plan
        .batches
        .into_iter()
        .enumerate()
        .map(|(i, batch)| async move {
            let n = batch.files.len() as u64;
            let done = send(parsers, i, batch, epoch, partitions, deadline).await?;
            progress(n);
            Ok::<BatchDone, CpgError>(done)
        });
    let mut results =
        futures::stream::iter(pipeline).buffer_unordered(parsers.len().max(1) * IN_FLIGHT_PER_NODE);
    let mut outcome = Outcome::default();
    while let Some(r) = results.next().await {
        outcome.add(r, &mut report);
    }
    drop(results);
    outcome.settle(report)
}

/// Every node must take writes before any is sent: a node under memory
/// pressure refuses the whole ingest, and nothing is written anywhere.
async fn admitted(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    deadline: Duration,
) -> Result<(), CpgError> {
    let asked = nodes
        .values()
        .map(|client| client.call(deadline, |c, ctx| async move { c.admit_writes(ctx).await }));
    for r in join_all(asked).await {
        if let Err(CallError::Node(CpgError::ResourceExhausted { what, limit })) = r {
            return Err(CpgError::ResourceExhausted {
                what: format!("{what} (the ingest was not started: nothing was written)"),
                limit,
            });
        }
    }
    Ok(())
}

/// Whether a batch goes on to the next node after this answer: a node that
/// cannot be reached, or failed itself (its disk too), hands it on; an
/// answer or a refusal ends it.
fn hands_on<T>(reply: &Result<T, CallError>) -> bool {
    matches!(
        reply,
        Err(CallError::Unreachable(_)
            | CallError::Node(CpgError::Internal(_) | CpgError::NotDurable { .. }))
    )
}

/// Send batch `i` to its node (round-robin over `parsers`), which parses it
/// and writes every replica itself, handing it on while [`hands_on`] says so.
async fn send(
    parsers: &[Arc<NodeClient>],
    i: usize,
    batch: Batch,
    epoch: u64,
    partitions: u32,
    deadline: Duration,
) -> Result<BatchDone, CpgError> {
    let removed = Arc::new(batch.removed);
    let files: Arc<Vec<IngestFile>> = Arc::new(batch.files);
    let mut reply = Err(CallError::Unreachable("no node to parse on".into()));
    for attempt in 0..parsers.len() {
        let client = parsers[(i + attempt) % parsers.len()].clone();
        let (files, removed) = (files.clone(), removed.clone());
        reply = client
            .call(deadline, move |c, ctx| {
                let (files, removed) = (files.clone(), removed.clone());
                async move {
                    c.ingest(ctx, epoch, partitions, (*files).clone(), (*removed).clone())
                        .await
                }
            })
            .await;
        if !hands_on(&reply) {
            break;
        }
    }
    let reply = reply?;
    let mut done = BatchDone {
        files: reply.files.len() as u64,
        writes: reply.writes,
        missed: reply.missed,
        ..BatchDone::default()
    };
    for f in reply.files {
        done.diagnostics.extend(f.diagnostics.iter().cloned());
        done.put.push(f);
    }
    Ok(done)
}

/// The batches' answers as they come: what they did, the partitions some
/// batch could not write, the first other error.
#[derive(Debug, Default)]
struct Outcome {
    failed: BTreeSet<PartitionId>,
    first_error: Option<CpgError>,
}

impl Outcome {
    fn add(&mut self, r: Result<BatchDone, CpgError>, report: &mut IngestReport) {
        match r {
            Ok(done) => {
                report.files_parsed += done.files;
                report.writes += done.writes;
                report.missed.extend(done.missed);
                report.diagnostics.extend(done.diagnostics);
                report.put.extend(done.put);
            }
            // Not every replica has the data: the ingest has not succeeded,
            // but the other batches go on so a retry has less to do.
            Err(CpgError::Unavailable { partitions }) => self.failed.extend(partitions),
            Err(e) => {
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// The ingest's result once every batch answered: the first error, else
    /// the partitions not written, else the report in a stable order.
    fn settle(self, mut report: IngestReport) -> Result<IngestReport, CpgError> {
        if let Some(e) = self.first_error {
            return Err(e);
        }
        if !self.failed.is_empty() {
            return Err(CpgError::Unavailable {
                partitions: self.failed.into_iter().collect(),
            });
        }
        report.put.sort_by(|a, b| a.file.cmp(&b.file));
        report.missed.sort_unstable();
        report.missed.dedup();
        report
            .diagnostics
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        Ok(report)
    }
}

/// What the cluster holds, from one replica per partition: one request per
/// node per round; partitions whose replica failed are asked of the next one.
pub async fn held_files(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    assignment: &Assignment,
    deadline: Duration,
) -> Result<Held, CpgError> {
    let mut held = Held::new();
    let mut pending: BTreeSet<PartitionId> = assignment.keys().copied().collect();
    let rounds = assignment.values().map(Vec::len).max().unwrap_or(0);
    for round in 0..rounds {
        if pending.is_empty() {
            break;
        }
        let calls = by_replica(assignment, &pending, round)
            .into_iter()
            .map(|(node, asked)| {
                let client = nodes.get(&node).cloned();
                async move {
                    let client = client?;
                    let question = asked.clone();
                    let rows = client
                        .call(deadline, move |c, ctx| {
                            let question = question.clone();
                            async move { c.file_hashes(ctx, epoch, question).await }
                        })
                        .await
                        .ok()?;
                    Some((asked, rows))
                }
            });
        for (asked, rows) in join_all(calls).await.into_iter().flatten() {
            for p in asked {
                pending.remove(&p);
            }
            for (partition, file, hash) in rows {
                let entry = held.entry(file).or_insert((hash, BTreeSet::new()));
                entry.0 = hash;
                entry.1.insert(partition);
            }
        }
    }
    if pending.is_empty() {
        Ok(held)
    } else {
        Err(CpgError::Unavailable {
            partitions: pending.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use partition::frontend::content_hash;
    use proptest::prelude::*;

    /// A tree of up to 12 files (`lib/fN.ex`), each with one of a few
    /// contents; what the nodes hold and what the catalog records, each
    /// some of those files with one of those contents.
    /// (file, content) of the tree; (file, content, partition) held, where
    /// partition 4 is none (a file without modules, held as recorded);
    /// (file, content) recorded, if the catalog is read.
    type Case = (Vec<(u8, u8)>, Vec<(u8, u8, u8)>, Option<Vec<(u8, u8)>>);

    fn case() -> impl Strategy<Value = Case> {
        (
            proptest::collection::vec((0u8..12, 0u8..3), 0..12),
            proptest::collection::vec((0u8..12, 0u8..3, 0u8..5), 0..12),
            proptest::option::of(proptest::collection::vec((0u8..12, 0u8..3), 0..12)),
        )
    }

    fn name(f: u8) -> String {
        format!("lib/f{f}.ex")
    }

    /// A batch goes on to the next node only when its node could not be
    /// reached or failed itself; an answer or a refusal ends it.
    #[test]
    fn a_batch_goes_on_only_past_a_node_that_could_not_take_it() {
        let on = |r: Result<(), CallError>| hands_on(&r);
        assert!(on(Err(CallError::Unreachable("refused".into()))));
        assert!(on(Err(CallError::Node(CpgError::Internal("disk".into())))));
        assert!(on(Err(CallError::Node(CpgError::NotDurable {
            reason: "disk".into()
        }))));
        assert!(!on(Ok(())));
        assert!(!on(Err(CallError::Node(CpgError::StaleEpoch {
            current: 3
        }))));
        assert!(!on(Err(CallError::Node(CpgError::InvalidInput {
            reason: "bad".into()
        }))));
        assert!(!on(Err(CallError::Node(CpgError::disk_full("full", 1)))));
    }

    fn batch(file: &str, missed: Vec<(PartitionId, NodeId)>) -> BatchDone {
        BatchDone {
            files: 1,
            writes: 2,
            missed,
            put: vec![CatalogFile {
                file: file.into(),
                content_hash: 0,
                modules: Vec::new(),
                diagnostics: Vec::new(),
            }],
            ..BatchDone::default()
        }
    }

    /// The batches' answers, in any order: the first error other than
    /// unavailable partitions wins; else every unavailable partition is
    /// named; else the report adds up every batch, in a stable order.
    #[test]
    fn an_ingest_succeeds_only_when_every_batch_did() {
        let (p1, p2, n1) = (PartitionId(1), PartitionId(2), NodeId(1));
        let mut report = IngestReport::default();
        let mut o = Outcome::default();
        o.add(Ok(batch("lib/b.ex", vec![(p1, n1)])), &mut report);
        o.add(Ok(batch("lib/a.ex", vec![(p1, n1)])), &mut report);
        let report = o.settle(report).unwrap();
        assert_eq!((report.files_parsed, report.writes), (2, 4));
        assert_eq!(report.missed, vec![(p1, n1)]);
        let files: Vec<&str> = report.put.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(files, ["lib/a.ex", "lib/b.ex"]);

        let settled = |answers: Vec<Result<BatchDone, CpgError>>| {
            let mut report = IngestReport::default();
            let mut o = Outcome::default();
            for a in answers {
                o.add(a, &mut report);
            }
            o.settle(report)
        };
        let unavailable = |p| {
            Err(CpgError::Unavailable {
                partitions: vec![p],
            })
        };
        assert_eq!(
            settled(vec![
                unavailable(p2),
                Ok(batch("lib/a.ex", Vec::new())),
                unavailable(p1)
            ]),
            Err(CpgError::Unavailable {
                partitions: vec![p1, p2]
            })
        );
        assert_eq!(
            settled(vec![
                unavailable(p2),
                Err(CpgError::StaleEpoch { current: 4 }),
                Err(CpgError::StaleEpoch { current: 5 }),
            ]),
            Err(CpgError::StaleEpoch { current: 4 })
        );
    }

    fn content(c: u8) -> Vec<u8> {
        // Large enough that batches split now and then.
        vec![b'a' + c; PARSE_BATCH_BYTES / 3]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Every file of the tree is sent exactly once when the nodes or
        /// the catalog lack its content, and counted unchanged otherwise,
        /// with the partitions its modules are in; every held file gone
        /// from the tree is removed from its partitions (a file in none
        /// is sent to no node); the catalog
        /// forgets exactly the files gone from the tree; batches stay under
        /// the size limit unless they hold one file.
        #[test]
        fn a_plan_sends_what_changed_and_removes_what_is_gone((tree, held, recorded) in case()) {
            let sources: BTreeMap<String, Vec<u8>> =
                tree.iter().map(|(f, c)| (name(*f), content(*c))).collect();
            let held: Held = held
                .iter()
                .map(|(f, c, p)| {
                    let parts = (*p < 4).then_some(proto::assignment::PartitionId(u32::from(*p)));
                    (name(*f), (content_hash(&content(*c)), parts.into_iter().collect()))
                })
                .collect();
            let recorded: Option<BTreeMap<String, u64>> = recorded.map(|r| {
                r.iter().map(|(f, c)| (name(*f), content_hash(&content(*c)))).collect()
            });
            let uploads: Vec<Source> = sources
                .iter()
                .map(|(file, bytes)| Source::read(SourceUpload { file: file.clone(), bytes: bytes.clone() }))
                .collect();
            let plan = plan(&held, recorded.as_ref(), &uploads).unwrap();

            let sent: Vec<&IngestFile> = plan.batches.iter().flat_map(|b| &b.files).collect();
            let mut sent_names: Vec<&str> = sent.iter().map(|f| f.upload.file.as_str()).collect();
            sent_names.sort_unstable();
            let before = sent_names.len();
            sent_names.dedup();
            prop_assert_eq!(before, sent_names.len(), "a file sent twice");
            let mut unchanged = 0;
            for (file, bytes) in &sources {
                let hash = content_hash(bytes);
                let same = held.get(file).map(|(h, _)| *h) == Some(hash)
                    && recorded.as_ref().is_none_or(|r| r.get(file) == Some(&hash));
                prop_assert_eq!(!same, sent_names.contains(&file.as_str()), "{}", file);
                unchanged += u64::from(same);
            }
            prop_assert_eq!(plan.unchanged, unchanged);
            for f in &sent {
                let want: Vec<proto::assignment::PartitionId> = held.get(&f.upload.file).map(|(_, p)| p.iter().copied().collect()).unwrap_or_default();
                prop_assert_eq!(&f.before, &want);
            }
            let removed: Vec<&RemovedFile> = plan.batches.iter().flat_map(|b| &b.removed).collect();
            // Only files in some partition have a node to tell.
            let gone_held: Vec<&String> = held
                .iter()
                .filter(|(f, (_, parts))| !sources.contains_key(*f) && !parts.is_empty())
                .map(|(f, _)| f)
                .collect();
            prop_assert_eq!(removed.len(), gone_held.len());
            for r in &removed {
                let (hash, parts) = &held[&r.file];
                prop_assert!(!sources.contains_key(&r.file));
                prop_assert_eq!(r.content_hash, *hash);
                prop_assert_eq!(&r.before, &parts.iter().copied().collect::<Vec<_>>());
            }
            let mut forgotten = plan.removed.clone();
            forgotten.sort();
            let mut want: Vec<String> = held
                .keys()
                .chain(recorded.iter().flat_map(|r| r.keys()))
                .filter(|f| !sources.contains_key(*f))
                .cloned()
                .collect();
            want.sort();
            want.dedup();
            prop_assert_eq!(forgotten, want);
            for b in &plan.batches {
                let size: usize = b.files.iter().map(|f| f.upload.bytes.len()).sum();
                prop_assert!(size <= PARSE_BATCH_BYTES || b.files.len() == 1);
                prop_assert!(b.files.is_empty() != b.removed.is_empty(), "a batch sends or removes");
            }
        }
    }
}
