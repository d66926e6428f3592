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
    // A folder holding only the spool of a backup that was stopped is
    // taken again.
    let others = std::fs::read_dir(dir).map_or(0, |d| {
        d.filter(|e| e.as_ref().map_or(true, |e| e.file_name() != "spool"))
            .count()
    });
    if others > 0 {
        return Err(invalid(format!(
            "{} is not empty: back up into a new folder",
            dir.display()
        ))
        .into());
    }
    let mut spool = Spool::new(dir)?;
    let taken = take(cluster, &mut spool).await;
    let written = match taken {
        Ok((catalog, have, rounds)) => spool
            .flush()
            .and_then(|()| write_backup(dir, &spool, &catalog, &have, rounds)),
        Err(e) => {
            spool.forget();
            return Err(e);
        }
    };
    spool.forget();
    written.map_err(Into::into)
}

/// Read the catalog and the fragments of its files until they agree: the
/// catalog, `(partition, file)` → content hash of every fragment kept in
/// `spool`, and how many catalogs were read.
#[allow(clippy::type_complexity)]
async fn take<C: Cluster>(
    cluster: &C,
    spool: &mut Spool,
) -> Result<(CatalogBackup, BTreeMap<(PartitionId, String), u64>, usize), C::Error> {
    // (partition, file) → the content hash of its fragments, as fetched.
    let mut have: BTreeMap<(PartitionId, String), u64> = BTreeMap::new();
    let mut rounds = 0;
    let started = Instant::now();
    loop {
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
            have.retain(|k, h| wanted.get(k) == Some(h));
            let mut missing: BTreeMap<PartitionId, Vec<String>> = BTreeMap::new();
            for (p, file) in wanted.keys().filter(|k| !have.contains_key(*k)) {
                missing.entry(*p).or_default().push(file.clone());
            }
            for (p, files) in missing {
                let replicas = view.assignment.get(&p).cloned().unwrap_or_default();
                // Each piece goes to the spool as it arrives: the backup
                // holds one piece in memory, not the cluster.
                let fetched = fetch(&clients, &replicas, view.epoch, p, files, |writes| {
                    for w in writes {
                        let key = (p, w.file.clone());
                        if wanted.get(&key) == Some(&w.content_hash) && !w.fragments.is_empty() {
                            spool.append(&w)?;
                            have.insert(key, w.content_hash);
                        } else {
                            stale.push(w.file);
                        }
                    }
                    Ok(())
                })
                .await;
                match fetched {
                    Ok(()) => {}
                    // A move or a replica down: again with a new view.
                    Err(e @ (CpgError::StaleEpoch { .. } | CpgError::Unavailable { .. })) => {
                        why = e.to_string();
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if why.is_empty() && stale.is_empty() && have.len() == wanted.len() {
                return Ok((catalog, have, rounds));
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
    }
}

/// The stored fragments of `files` of partition `p`, from the first of
/// `replicas` that answers (the next one goes on where it failed), handed
/// to `sink` a piece at a time.
async fn fetch(
    clients: &HashMap<NodeId, Arc<NodeClient>>,
    replicas: &[NodeId],
    epoch: u64,
    p: PartitionId,
    files: Vec<String>,
    mut sink: impl FnMut(Vec<PartitionWrite>) -> Result<(), CpgError>,
) -> Result<(), CpgError> {
    let mut why = Vec::new();
    let mut rest = &files[..];
    for node in replicas {
        let Some(client) = clients.get(node) else {
            continue;
        };
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
                    sink(writes)?;
                }
                Ok(_) => {
                    why.push(format!("node {node}: an export of no file"));
                    break;
                }
                Err(e) => {
                    why.push(format!("node {node}: {e}"));
                    break;
                }
            }
        }
        if rest.is_empty() {
            return Ok(());
        }
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

/// Where a backup keeps the fragments it fetched until the catalog and
/// they agree (`DIR/spool/p<N>`): each write appended as it arrives, with
/// its length. A file fetched again (an ingest changed it meanwhile) is
/// appended again; the partition file takes the last one.
struct Spool {
    dir: std::path::PathBuf,
    /// Whether the backup created `DIR` (removed again if the backup
    /// fails before writing a partition file into it).
    made: bool,
    /// Each partition's spool and its length.
    files: BTreeMap<PartitionId, (std::io::BufWriter<std::fs::File>, u64)>,
    /// `(partition, file)` → its last record: content hash, offset, length.
    last: BTreeMap<(PartitionId, String), (u64, u64, u64)>,
}

impl Spool {
    fn new(dir: &Path) -> Result<Spool, CpgError> {
        let made = !dir.exists();
        let spool = dir.join("spool");
        if spool.exists() {
            std::fs::remove_dir_all(&spool).map_err(|e| io("clearing", &spool, e))?;
        }
        std::fs::create_dir_all(&spool).map_err(|e| io("creating", &spool, e))?;
        Ok(Spool {
            dir: spool,
            made,
            files: BTreeMap::new(),
            last: BTreeMap::new(),
        })
    }

    fn path(&self, p: PartitionId) -> std::path::PathBuf {
        self.dir.join(format!("p{p}"))
    }

    fn append(&mut self, w: &PartitionWrite) -> Result<(), CpgError> {
        let bytes = bincode::serde::encode_to_vec(w, bincode::config::standard())
            .map_err(|e| CpgError::Internal(format!("encoding {}: {e}", w.file)))?;
        let path = self.path(w.partition);
        let (file, end) = match self.files.entry(w.partition) {
            std::collections::btree_map::Entry::Occupied(f) => f.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                let f = std::fs::File::create(&path).map_err(|e| io("creating", &path, e))?;
                slot.insert((std::io::BufWriter::new(f), 0))
            }
        };
        file.write_all(&bytes)
            .map_err(|e| io("writing", &path, e))?;
        self.last.insert(
            (w.partition, w.file.clone()),
            (w.content_hash, *end, bytes.len() as u64),
        );
        *end += bytes.len() as u64;
        Ok(())
    }

    /// Everything appended is readable.
    fn flush(&mut self) -> Result<(), CpgError> {
        for (f, _) in self.files.values_mut() {
            f.flush().map_err(|e| io("writing", &self.dir, e))?;
        }
        Ok(())
    }

    /// Where the last record of each of `files` (of partition `p`, with
    /// the content hash given) is, in file order.
    fn records(
        &self,
        p: PartitionId,
        files: &BTreeMap<&str, u64>,
    ) -> Result<Vec<(u64, u64)>, CpgError> {
        files
            .iter()
            .map(|(file, hash)| match self.last.get(&(p, file.to_string())) {
                Some((h, offset, len)) if h == hash => Ok((*offset, *len)),
                _ => Err(CpgError::Internal(format!(
                    "partition {p}: {file} as the catalog records it is not in the spool"
                ))),
            })
            .collect()
    }

    /// Remove the spool (and `DIR`, if the backup made it and nothing
    /// else is in it).
    fn forget(&mut self) {
        self.files.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.made {
            if let Some(dir) = self.dir.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// Write each partition's file from the spool (the writes `have` names, in
/// file order: what bincode makes of them as one list, written a write at
/// a time), then the manifest.
fn write_backup(
    dir: &Path,
    spool: &Spool,
    catalog: &CatalogBackup,
    have: &BTreeMap<(PartitionId, String), u64>,
    rounds: usize,
) -> Result<Report, CpgError> {
    let mut by_partition: BTreeMap<PartitionId, BTreeMap<&str, u64>> = BTreeMap::new();
    for ((p, file), hash) in have {
        by_partition.entry(*p).or_default().insert(file, *hash);
    }
    let mut data = Vec::new();
    let mut bytes = 0;
    for (p, files) in &by_partition {
        let path = dir.join(format!("p{p}.bin"));
        let records = spool.records(*p, files)?;
        let (size, hash) = write_partition(&spool.path(*p), &records, &path)?;
        data.push((*p, size, hash));
        bytes += size;
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

/// `path` made from the `records` (offset, length) of `spool`, in their
/// order, as one bincode list; its size and xxh3.
fn write_partition(
    spool: &Path,
    records: &[(u64, u64)],
    path: &Path,
) -> Result<(u64, u64), CpgError> {
    use std::io::{Read, Seek};
    let tmp = path.with_extension("tmp");
    let mut source = std::fs::File::open(spool).map_err(|e| io("opening", spool, e))?;
    let out = std::fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
    let mut out = Hashing::new(std::io::BufWriter::new(out));
    // The list's length, then each write as it was spooled.
    let count = bincode::serde::encode_to_vec(records.len() as u64, bincode::config::standard())
        .map_err(|e| CpgError::Internal(format!("encoding a length: {e}")))?;
    out.write_all(&count).map_err(|e| io("writing", &tmp, e))?;
    let mut record = Vec::new();
    for (offset, len) in records {
        record.resize(*len as usize, 0);
        source
            .seek(std::io::SeekFrom::Start(*offset))
            .and_then(|_| source.read_exact(&mut record))
            .map_err(|e| io("reading", spool, e))?;
        out.write_all(&record).map_err(|e| io("writing", &tmp, e))?;
    }
    let (size, hash, out) = out.finish();
    let file = out
        .into_inner()
        .map_err(|e| io("writing", &tmp, e.into_error()))?;
    file.sync_all().map_err(|e| io("syncing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("renaming", &tmp, e))?;
    Ok((size, hash))
}

/// A writer or reader that counts and hashes (xxh3) what passes through.
struct Hashing<T> {
    inner: T,
    hasher: xxhash_rust::xxh3::Xxh3,
    size: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Hashing<T> {
        Hashing {
            inner,
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            size: 0,
        }
    }

    /// Bytes passed, their xxh3, and what they went to or came from.
    fn finish(self) -> (u64, u64, T) {
        (self.size, self.hasher.digest(), self.inner)
    }
}

impl<T: Write> Write for Hashing<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<T: std::io::Read> std::io::Read for Hashing<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
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

/// The manifest of the backup in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, CpgError> {
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
    Ok(manifest)
}

/// Partition `p`'s file of the backup in `dir` is the one the manifest
/// records (`size`, `hash`), read through once.
fn check_file(dir: &Path, (p, size, hash): (PartitionId, u64, u64)) -> Result<(), CpgError> {
    let path = dir.join(format!("p{p}.bin"));
    let file = std::fs::File::open(&path).map_err(|e| io("reading", &path, e))?;
    let mut reader = Hashing::new(std::io::BufReader::new(file));
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| io("reading", &path, e))?;
    let (got_size, got_hash, _) = reader.finish();
    if got_size != size || got_hash != hash {
        return Err(invalid(format!(
            "{} is damaged: its size or hash is not the one the manifest records",
            path.display()
        )));
    }
    Ok(())
}

/// Read partition `p`'s file of the backup in `dir` a write at a time,
/// handing each to `each` with its encoded size; the file must be the one
/// the manifest records (`size`, `hash`) and hold only writes of `p`.
fn each_write(
    dir: &Path,
    (p, size, hash): (PartitionId, u64, u64),
    mut each: impl FnMut(PartitionWrite, u64) -> Result<(), CpgError>,
) -> Result<(), CpgError> {
    let path = dir.join(format!("p{p}.bin"));
    let damaged = |why: String| invalid(format!("{} is damaged: {why}", path.display()));
    let file = std::fs::File::open(&path).map_err(|e| io("reading", &path, e))?;
    let mut reader = Hashing::new(std::io::BufReader::new(file));
    // No write larger than a frame was fetched: a length past that is
    // damage, not a reason to allocate.
    let config = bincode::config::standard().with_limit::<{ net::wire::MAX_FRAME }>();
    let count: u64 = bincode::serde::decode_from_std_read(&mut reader, config)
        .map_err(|e| damaged(e.to_string()))?;
    for _ in 0..count {
        let before = reader.size;
        let w: PartitionWrite = bincode::serde::decode_from_std_read(&mut reader, config)
            .map_err(|e| damaged(e.to_string()))?;
        if w.partition != p {
            return Err(damaged(format!(
                "{} is of partition {}",
                w.file, w.partition
            )));
        }
        let n = reader.size - before;
        each(w, n)?;
    }
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| io("reading", &path, e))?;
    let (got_size, got_hash, _) = reader.finish();
    if got_size != size || got_hash != hash {
        return Err(damaged(
            "its size or hash is not the one the manifest records".into(),
        ));
    }
    Ok(())
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
    let manifest = read_manifest(dir)?;
    // Every partition file checked before anything is written.
    for &data in &manifest.data {
        check_file(dir, data)?;
    }
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
        match write_all(&clients, &view, dir, &manifest).await {
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
        partitions: manifest.data.len(),
        bytes: manifest.data.iter().map(|(_, size, _)| size).sum(),
        rounds: 1,
    })
}

/// Every partition's writes to every replica that takes writes, read from
/// the backup and sent in pieces of about [`PIECE`] bytes.
async fn write_all(
    clients: &HashMap<NodeId, Arc<NodeClient>>,
    view: &proto::coordinator_api::ClusterView,
    dir: &Path,
    manifest: &Manifest,
) -> Result<(), CpgError> {
    let writable = view.writable();
    for &data in &manifest.data {
        let p = data.0;
        let replicas = writable.get(&p).cloned().unwrap_or_default();
        if replicas.is_empty() {
            return Err(CpgError::Unavailable {
                partitions: vec![p],
            });
        }
        // Read on a blocking thread, a piece at a time, while the last
        // piece is written.
        let (tx, mut pieces) = tokio::sync::mpsc::channel::<Vec<PartitionWrite>>(1);
        let dir = dir.to_path_buf();
        let reading = tokio::task::spawn_blocking(move || {
            let (mut piece, mut size) = (Vec::new(), 0u64);
            each_write(&dir, data, |w, n| {
                if !piece.is_empty() && size + n > PIECE {
                    let full = std::mem::take(&mut piece);
                    size = 0;
                    if tx.blocking_send(full).is_err() {
                        return Err(CpgError::Internal("the restore stopped".into()));
                    }
                }
                size += n;
                piece.push(w);
                Ok(())
            })?;
            if !piece.is_empty() {
                let _ = tx.blocking_send(piece);
            }
            Ok::<(), CpgError>(())
        });
        while let Some(piece) = pieces.recv().await {
            let piece = Arc::new(piece);
            for node in &replicas {
                let client = clients.get(node).ok_or(CpgError::Unavailable {
                    partitions: vec![p],
                })?;
                let epoch = view.epoch;
                let piece = piece.clone();
                client
                    .call(NODE_DEADLINE, move |c, ctx| {
                        let piece = piece.clone();
                        async move { c.write(ctx, epoch, (*piece).clone()).await }
                    })
                    .await
                    .map_err(|e| e.naming(format!("restoring partition {p} on node {node}")))?;
            }
        }
        reading
            .await
            .map_err(|e| CpgError::Internal(format!("reading the backup: {e}")))??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: u32, file: &str, body: &str) -> PartitionWrite {
        let source = format!("defmodule {body} do\n  def f(x), do: x\nend\n");
        let cpg = partition::frontend::build_file(file, source.as_bytes());
        PartitionWrite {
            partition: PartitionId(p),
            file: file.into(),
            content_hash: cpg.content_hash,
            fragments: cpg.fragments,
        }
    }

    /// A partition file made from the spool, a write at a time, is byte
    /// for byte what bincode makes of the kept writes as one list (the
    /// format the manifest names), keeps the last fetch of each file with
    /// the hash asked for, and reads back the same writes.
    #[test]
    fn a_spooled_partition_is_written_as_one_list_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("backup");
        let mut spool = Spool::new(&backup).unwrap();
        let old_b = write(3, "lib/b.ex", "B");
        let new_b = write(3, "lib/b.ex", "B2");
        let a = write(3, "lib/a.ex", "A");
        let gone = write(3, "lib/gone.ex", "Gone");
        for w in [&old_b, &a, &gone, &new_b] {
            spool.append(w).unwrap();
        }
        spool.flush().unwrap();
        let files: BTreeMap<&str, u64> = BTreeMap::from([
            ("lib/a.ex", a.content_hash),
            ("lib/b.ex", new_b.content_hash),
        ]);
        let path = backup.join("p3.bin");
        let records = spool.records(PartitionId(3), &files).unwrap();
        let (size, hash) = write_partition(&spool.path(PartitionId(3)), &records, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let kept = vec![a.clone(), new_b.clone()];
        let whole = bincode::serde::encode_to_vec(&kept, bincode::config::standard()).unwrap();
        assert_eq!(bytes, whole);
        assert_eq!(
            (size, hash),
            (bytes.len() as u64, xxhash_rust::xxh3::xxh3_64(&bytes))
        );

        let mut read = Vec::new();
        each_write(&backup, (PartitionId(3), size, hash), |w, _| {
            read.push(w);
            Ok(())
        })
        .unwrap();
        assert_eq!(read, kept);
        // Another partition's number, or another hash: refused as damaged.
        std::fs::copy(&path, backup.join("p4.bin")).unwrap();
        let wrong = each_write(&backup, (PartitionId(4), size, hash), |_, _| Ok(()));
        assert!(wrong.unwrap_err().to_string().contains("damaged"));
        let wrong = each_write(&backup, (PartitionId(3), size, hash ^ 1), |_, _| Ok(()));
        assert!(wrong.unwrap_err().to_string().contains("damaged"));
        check_file(&backup, (PartitionId(3), size, hash)).unwrap();
        // A length past any frame (a flipped byte) is damage, not an
        // allocation: the count (1 byte), the partition (1), then the file
        // name's length made 2^62.
        let mut huge = bytes.clone();
        let at = 2;
        huge.splice(
            at..at + 1,
            [253u8].into_iter().chain((1u64 << 62).to_le_bytes()),
        );
        std::fs::write(backup.join("p5.bin"), &huge).unwrap();
        let wrong = each_write(&backup, (PartitionId(5), size, hash), |_, _| Ok(()));
        assert!(wrong.unwrap_err().to_string().contains("damaged"));
        let wrong = check_file(&backup, (PartitionId(3), size + 1, hash));
        assert!(wrong.unwrap_err().to_string().contains("damaged"));

        // A file the spool lacks, or holds only as it was before, is an
        // error, not a partition without it.
        let missing = BTreeMap::from([("lib/c.ex", 1)]);
        assert!(spool.records(PartitionId(3), &missing).is_err());
        let older = BTreeMap::from([("lib/b.ex", old_b.content_hash)]);
        assert!(spool.records(PartitionId(3), &older).is_err());
        spool.forget();
        assert!(!backup.join("spool").exists());
        assert!(path.exists(), "what was written stays");
        // A backup that fails leaves no folder it made.
        let failed = dir.path().join("failed");
        let mut spool = Spool::new(&failed).unwrap();
        spool.append(&a).unwrap();
        spool.forget();
        assert!(!failed.exists());
    }
}
