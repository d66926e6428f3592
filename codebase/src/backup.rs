//! Backups of a cluster (`cpg cluster backup DIR`, `cpg cluster restore
//! DIR`): the catalog at one generation and every file's stored fragments,
//! read from replicas that serve reads, and written back into a new,
//! empty cluster of the same partition count (other addresses, other node
//! count allowed).
//!
//! A backup is consistent at the generation it names: every fragment it
//! holds carries the content hash the catalog records for its file at that
//! generation. An ingest that changes files while the backup reads them is
//! met as a hash that differs; the backup then reads the catalog again and
//! fetches only the files whose hash is not the new catalog's, until one
//! catalog and every fragment agree.
//!
//! On disk, `DIR/backup.json` (written last: a folder without it is not a
//! backup) names the format, the generation, the partition count, the
//! projects and the catalog, and each partition's file (`p<N>.bin`, the
//! fragments as bincode) with its size and xxh3 hash, checked on restore.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::node_client::NodeClient;
use proto::assignment::{NodeId, PartitionId};
use proto::coordinator_api::{CatalogBackup, CatalogFile, IngestRecord};
use proto::node_api::PartitionWrite;
use proto::projects::{split, LibraryId, Owner};
use proto::CpgError;
use serde::{Deserialize, Serialize};

use crate::driver::Cluster;

/// The on-disk format this build writes and reads.
pub const FORMAT: u32 = 1;

const MANIFEST: &str = "backup.json";

/// Deadline of each storage-node request.
const NODE_DEADLINE: Duration = Duration::from_secs(60);

/// How long a backup waits for the catalog and the fragments to agree
/// (an ingest between its writes and its record, a move, a replica down)
/// before it gives up, and the pause between two reads of the catalog.
const WAIT: Duration = Duration::from_secs(60);
const AGAIN: Duration = Duration::from_millis(200);

/// Bytes asked of a node per export request, and sent per write.
const PIECE: u64 = 8 << 20;

/// What `backup.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The catalog generation the backup is of.
    pub generation: u64,
    pub partitions: u32,
    pub replication: u32,
    pub projects: Vec<(String, Vec<LibraryId>)>,
    pub files: Vec<CatalogFile>,
    /// `(partition, its file's size, xxh3 of it)`.
    pub data: Vec<(PartitionId, u64, u64)>,
}

/// What a backup or a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub generation: u64,
    pub files: usize,
    pub partitions: usize,
    pub bytes: u64,
    /// Catalogs read (a backup: more than one when ingests ran meanwhile).
    pub rounds: usize,
}

fn invalid(reason: String) -> CpgError {
    CpgError::InvalidInput { reason }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> CpgError {
    CpgError::Internal(format!("{what} {}: {e}", path.display()))
}

/// Back up the cluster into `dir` (created; refused if it holds anything).
pub async fn backup<C: Cluster>(cluster: &C, dir: &Path) -> Result<Report, C::Error> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(invalid(format!(
            "{} is not empty: back up into a new folder",
            dir.display()
        ))
        .into());
    }
    // file → its fragments, by partition, as fetched.
    let mut have: BTreeMap<(PartitionId, String), PartitionWrite> = BTreeMap::new();
    let mut rounds = 0;
    let started = Instant::now();
    let catalog = loop {
        if rounds > 0 {
            tokio::time::sleep(AGAIN).await;
        }
        rounds += 1;
        let catalog = cluster.catalog_backup().await?;
        let view = cluster.view().await?;
        let mut stale: Vec<String> = Vec::new();
        let mut why = String::new();
        if view.partitions != catalog.partitions {
            why = "the partition map changed".into();
        } else {
            let clients = cluster.nodes(&view)?;
            let wanted: BTreeMap<(PartitionId, String), u64> = catalog
                .files
                .iter()
                .flat_map(|f| {
                    let parts: BTreeSet<PartitionId> = f.modules.iter().map(|(_, p)| *p).collect();
                    parts
                        .into_iter()
                        .map(move |p| ((p, f.file.clone()), f.content_hash))
                })
                .collect();
            have.retain(|k, w| wanted.get(k) == Some(&w.content_hash));
            let mut missing: BTreeMap<PartitionId, Vec<String>> = BTreeMap::new();
            for (p, file) in wanted.keys().filter(|k| !have.contains_key(*k)) {
                missing.entry(*p).or_default().push(file.clone());
            }
            for (p, files) in missing {
                let replicas = view.assignment.get(&p).cloned().unwrap_or_default();
                match fetch(&clients, &replicas, view.epoch, p, files).await {
                    Ok(writes) => {
                        for w in writes {
                            let key = (p, w.file.clone());
                            if wanted.get(&key) == Some(&w.content_hash) && !w.fragments.is_empty()
                            {
                                have.insert(key, w);
                            } else {
                                stale.push(w.file);
                            }
                        }
                    }
                    // A move or a replica down: again with a new view.
                    Err(e @ (CpgError::StaleEpoch { .. } | CpgError::Unavailable { .. })) => {
                        why = e.to_string();
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if why.is_empty() && stale.is_empty() && have.len() == wanted.len() {
                break catalog;
            }
        }
        if started.elapsed() > WAIT {
            stale.sort();
            stale.dedup();
            let reason = if stale.is_empty() {
                format!("the cluster did not settle within {WAIT:?} ({why})")
            } else {
                format!(
                    "after {WAIT:?}, {} files still differ from what the catalog records, e.g. {}: an ingest may have written them without recording them (it failed part way); ingest their project again, then back up",
                    stale.len(),
                    stale[..stale.len().min(3)].join(", ")
                )
            };
            return Err(CpgError::Internal(format!("no consistent backup: {reason}")).into());
        }
        tracing::debug!(stale = stale.len(), why, "reading the catalog again");
    };
    write_backup(dir, &catalog, have, rounds).map_err(Into::into)
}

/// The stored fragments of `files` of partition `p`, from the first of
/// `replicas` that answers, in pieces.
async fn fetch(
    clients: &HashMap<NodeId, Arc<NodeClient>>,
    replicas: &[NodeId],
    epoch: u64,
    p: PartitionId,
    files: Vec<String>,
) -> Result<Vec<PartitionWrite>, CpgError> {
    let mut why = Vec::new();
    'replica: for node in replicas {
        let Some(client) = clients.get(node) else {
            continue;
        };
        let mut out = Vec::with_capacity(files.len());
        let mut rest = &files[..];
        while !rest.is_empty() {
            let asked = rest.to_vec();
            let got = client
                .call(NODE_DEADLINE, move |c, ctx| {
                    let asked = asked.clone();
                    async move { c.export(ctx, epoch, p, asked, PIECE).await }
                })
                .await;
            match got {
                Ok(writes) if !writes.is_empty() && writes.len() <= rest.len() => {
                    rest = &rest[writes.len()..];
                    out.extend(writes);
                }
                Ok(_) => {
                    why.push(format!("node {node}: an export of no file"));
                    continue 'replica;
                }
                Err(e) => {
                    why.push(format!("node {node}: {e}"));
                    continue 'replica;
                }
            }
        }
        return Ok(out);
    }
    tracing::warn!(
        partition = p.0,
        why = why.join("; "),
        "no replica gave its files"
    );
    Err(CpgError::Unavailable {
        partitions: vec![p],
    })
}

fn write_backup(
    dir: &Path,
    catalog: &CatalogBackup,
    have: BTreeMap<(PartitionId, String), PartitionWrite>,
    rounds: usize,
) -> Result<Report, CpgError> {
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let mut by_partition: BTreeMap<PartitionId, Vec<PartitionWrite>> = BTreeMap::new();
    for ((p, _), w) in have {
        by_partition.entry(p).or_default().push(w);
    }
    let mut data = Vec::new();
    let mut bytes = 0;
    for (p, writes) in &by_partition {
        let encoded = bincode::serde::encode_to_vec(writes, bincode::config::standard())
            .map_err(|e| CpgError::Internal(format!("encoding partition {p}: {e}")))?;
        let path = dir.join(format!("p{p}.bin"));
        durable_write(&path, &encoded)?;
        data.push((
            *p,
            encoded.len() as u64,
            xxhash_rust::xxh3::xxh3_64(&encoded),
        ));
        bytes += encoded.len() as u64;
    }
    let manifest = Manifest {
        format: FORMAT,
        generation: catalog.generation,
        partitions: catalog.partitions,
        replication: catalog.replication,
        projects: catalog.projects.clone(),
        files: catalog.files.clone(),
        data,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| CpgError::Internal(format!("writing the manifest: {e}")))?;
    durable_write(&dir.join(MANIFEST), &text)?;
    Ok(Report {
        generation: catalog.generation,
        files: catalog.files.len(),
        partitions: by_partition.len(),
        bytes,
        rounds,
    })
}

/// Write `bytes` to `path` through a temporary file, synced, then renamed.
fn durable_write(path: &Path, bytes: &[u8]) -> Result<(), CpgError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
    f.write_all(bytes).map_err(|e| io("writing", &tmp, e))?;
    f.sync_all().map_err(|e| io("syncing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("renaming", &tmp, e))?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The manifest and every partition's fragments of the backup in `dir`,
/// each checked against the manifest.
pub fn read_backup(dir: &Path) -> Result<(Manifest, Vec<Vec<PartitionWrite>>), CpgError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|e| {
        invalid(format!(
            "{} is not a backup (no readable {MANIFEST}: {e})",
            dir.display()
        ))
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(invalid(format!(
            "{} is a backup of format {}; this cpg reads format {FORMAT}",
            dir.display(),
            manifest.format
        )));
    }
    let mut data = Vec::new();
    for (p, size, hash) in &manifest.data {
        let path = dir.join(format!("p{p}.bin"));
        let bytes = std::fs::read(&path).map_err(|e| io("reading", &path, e))?;
        if bytes.len() as u64 != *size || xxhash_rust::xxh3::xxh3_64(&bytes) != *hash {
            return Err(invalid(format!(
                "{} is damaged: its size or hash is not the one the manifest records",
                path.display()
            )));
        }
        let (writes, _): (Vec<PartitionWrite>, _) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        if let Some(w) = writes.iter().find(|w| w.partition != *p) {
            return Err(invalid(format!(
                "{}: {} is of partition {}",
                path.display(),
                w.file,
                w.partition
            )));
        }
        data.push(writes);
    }
    Ok((manifest, data))
}

/// Restore the backup in `dir` into the cluster, which must be empty (or
/// hold only this backup's files: a restore that stopped part way, run
/// again) and have the backup's partition count: every fragment written to
/// every replica of its partition, then the catalog recorded, project by
/// project. Nothing is recorded unless every write went through; a restore
/// run again writes and records the same. Not restored: a project with no
/// files and no libraries (it holds nothing), and the files of a library
/// no project uses (written, not recorded: the report counts the files
/// recorded).
pub async fn restore<C: Cluster>(cluster: &C, dir: &Path) -> Result<Report, C::Error> {
    let (manifest, data) = read_backup(dir)?;
    // Empty, or holding only files of this backup as it records them (a
    // restore that stopped part way, run again).
    let listing = cluster.listing().await?;
    let backed_up: BTreeMap<&str, u64> = manifest
        .files
        .iter()
        .map(|f| (f.file.as_str(), f.content_hash))
        .collect();
    let foreign = listing
        .files
        .iter()
        .filter(|(f, h)| backed_up.get(f.as_str()) != Some(h))
        .count();
    if foreign > 0 {
        return Err(invalid(format!(
            "the cluster already holds {foreign} files that are not this backup's: restore into a new, empty cluster"
        ))
        .into());
    }
    let mut attempts = 0;
    let view = loop {
        let view = cluster.view().await?;
        if view.partitions != manifest.partitions {
            return Err(invalid(format!(
                "the backup is of a cluster of {} partitions and this one has {}: start the new cluster with --partitions {}",
                manifest.partitions, view.partitions, manifest.partitions
            ))
            .into());
        }
        let clients = cluster.nodes(&view)?;
        match write_all(&clients, &view, &data).await {
            Ok(()) => break view,
            Err(CpgError::StaleEpoch { .. }) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let mut generation = view.generation;
    let mut recorded = BTreeSet::new();
    for (project, libraries) in &manifest.projects {
        let used: BTreeSet<&LibraryId> = libraries.iter().collect();
        let put: Vec<CatalogFile> = manifest
            .files
            .iter()
            .filter(|f| match split(&f.file).0 {
                Owner::Project(p) => &p == project,
                Owner::Library(l) => used.contains(&l),
            })
            .cloned()
            .collect();
        recorded.extend(put.iter().map(|f| f.file.clone()));
        let record = IngestRecord {
            project: project.clone(),
            libraries: Some(libraries.clone()),
            put,
            removed: Vec::new(),
            missed: Vec::new(),
        };
        generation = cluster.record(view.leader.clone(), record).await?;
    }
    Ok(Report {
        generation,
        files: recorded.len(),
        partitions: data.len(),
        bytes: manifest.data.iter().map(|(_, size, _)| size).sum(),
        rounds: 1,
    })
}

/// Every partition's writes to every replica that takes writes, in pieces.
async fn write_all(
    clients: &HashMap<NodeId, Arc<NodeClient>>,
    view: &proto::coordinator_api::ClusterView,
    data: &[Vec<PartitionWrite>],
) -> Result<(), CpgError> {
    let writable = view.writable();
    for writes in data {
        let Some(p) = writes.first().map(|w| w.partition) else {
            continue;
        };
        let replicas = writable.get(&p).cloned().unwrap_or_default();
        if replicas.is_empty() {
            return Err(CpgError::Unavailable {
                partitions: vec![p],
            });
        }
        for piece in pieces(writes) {
            for node in &replicas {
                let client = clients.get(node).ok_or(CpgError::Unavailable {
                    partitions: vec![p],
                })?;
                let epoch = view.epoch;
                client
                    .call(NODE_DEADLINE, move |c, ctx| {
                        let piece = piece.to_vec();
                        async move { c.write(ctx, epoch, piece).await }
                    })
                    .await
                    .map_err(|e| e.naming(format!("restoring partition {p} on node {node}")))?;
            }
        }
    }
    Ok(())
}

/// `writes` cut into runs of about [`PIECE`] bytes (at least one write).
fn pieces(writes: &[PartitionWrite]) -> Vec<&[PartitionWrite]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0u64);
    for (i, w) in writes.iter().enumerate() {
        let n = bincode::serde::encode_to_vec(w, bincode::config::standard())
            .map_or(0, |b| b.len() as u64);
        if i > start && size + n > PIECE {
            out.push(&writes[start..i]);
            (start, size) = (i, 0);
        }
        size += n;
    }
    if start < writes.len() {
        out.push(&writes[start..]);
    }
    out
}
