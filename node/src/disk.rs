//! What a storage node keeps on disk: one append-only record log per
//! partition (`partitions/pNNNNN.log`, a `host::durable::RecordLog`).
//! A record puts a source file's fragments in the partition (replacing what
//! it had of that file) or removes them. A write batch appends its records
//! to the logs it touches and makes them durable with one flush, so an ingest
//! costs no new file per (partition, file) and two flushes per batch.
//!
//! A crash at any moment (`kill -9` included) leaves each log with every
//! acknowledged batch and at most a torn last append, which loading cuts;
//! whatever is cut (a torn append, or a damaged record and everything after
//! it) is first copied to `quarantine/` and reported, never dropped silently.
//! A log holding more than twice as many records as live files is rewritten
//! with the live ones (atomically).
//!
//! A batch that cannot be made durable (a full disk, a failed flush) is
//! undone in every log it touched, so the node's memory and its disk agree
//! and writes go on when the disk works again.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use host::durable::{self, RecordLog};
use proto::assignment::PartitionId;
use proto::ModuleFragment;
use serde::{Deserialize, Serialize};

/// The fragments of one source file that belong to one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub partition: PartitionId,
    pub file: String,
    pub content_hash: u64,
    pub fragments: Vec<ModuleFragment>,
}

/// One record of a partition log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Record {
    Put(StoredFile),
    Remove { file: String },
}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Ordered by (partition, file).
    pub files: Vec<StoredFile>,
    /// Bytes cut from damaged logs and records that could not be decoded:
    /// kept under `quarantine/` (never silently dropped), with the reason.
    pub quarantined: Vec<(PathBuf, String)>,
}

/// One partition's log and what it holds.
#[derive(Debug)]
struct PartitionLog {
    log: RecordLog,
    records: usize,
    /// Files live in the partition.
    files: HashSet<String>,
    /// After a failed compaction (no room for the copy), when to try
    /// again: not at every write, each a replay and a copy under the disk
    /// lock while the disk is full.
    compact_again: Option<Instant>,
}

/// Rewrite a log once it holds this many more records than twice its live files.
const COMPACT_SLACK: usize = 32;

/// How long after a failed compaction the next is tried.
const COMPACT_RETRY: Duration = Duration::from_secs(30);

/// The partitions directory of one node.
#[derive(Debug)]
pub struct PartitionDisk {
    root: PathBuf,
    logs: Mutex<BTreeMap<PartitionId, PartitionLog>>,
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

impl PartitionDisk {
    pub fn open(root: &Path) -> std::io::Result<PartitionDisk> {
        std::fs::create_dir_all(root.join("partitions"))?;
        Ok(PartitionDisk {
            root: root.to_path_buf(),
            logs: Mutex::new(BTreeMap::new()),
        })
    }

    /// The node's data dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self) -> PathBuf {
        self.root.join("partitions")
    }

    fn log_path(&self, partition: PartitionId) -> PathBuf {
        self.dir().join(format!("p{partition:05}.log"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<PartitionId, PartitionLog>> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open a partition's log and replay it: the live files, in file order.
    fn replay(
        &self,
        partition: PartitionId,
        quarantined: &mut Vec<(PathBuf, String)>,
    ) -> std::io::Result<(PartitionLog, Vec<StoredFile>)> {
        let path = self.log_path(partition);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let aside = self
            .root
            .join("quarantine")
            .join(format!("p{partition:05}-{stamp}.tail"));
        let (log, records, cut) = RecordLog::open_keeping(&path, Some(&aside))?;
        if cut > 0 {
            quarantined.push((
                aside,
                format!(
                    "{}: {cut} bytes after the last intact record (a torn write or damage)",
                    path.display()
                ),
            ));
        }
        let mut live: BTreeMap<String, StoredFile> = BTreeMap::new();
        // A record that cannot be used is copied aside whole, with why.
        let set_aside =
            |i: usize, bytes: &[u8], why: String| -> std::io::Result<(PathBuf, String)> {
                let aside = self
                    .root
                    .join("quarantine")
                    .join(format!("p{partition:05}-{stamp}-record{i}"));
                durable::write_checked(&aside, bytes)?;
                Ok((aside, format!("record {i} {why}")))
            };
        for (i, bytes) in records.iter().enumerate() {
            match durable::decode::<Record>(bytes) {
                Ok(Record::Put(stored)) if stored.partition == partition => {
                    match proto::node_api::check_file_fragments(&stored.file, &stored.fragments) {
                        Ok(()) => {
                            live.insert(stored.file.clone(), stored);
                        }
                        // Written by a version that did not check, or
                        // damaged in a way the checksum missed: set aside
                        // (an earlier record of the file, if any, stays;
                        // the next ingest of the file sends it again,
                        // since the hash held differs from the tree's).
                        Err(why) => quarantined.push(set_aside(
                            i,
                            bytes,
                            format!("({}) is not well formed: {why}", stored.file),
                        )?),
                    }
                }
                Ok(Record::Put(stored)) => quarantined.push((
                    path.clone(),
                    format!(
                        "record {i} holds {} of partition {}, which belongs elsewhere; skipped",
                        stored.file, stored.partition
                    ),
                )),
                Ok(Record::Remove { file }) => {
                    live.remove(&file);
                }
                Err(e) => quarantined.push(set_aside(i, bytes, format!("cannot be decoded: {e}"))?),
            }
        }
        let state = PartitionLog {
            log,
            records: records.len(),
            files: live.keys().cloned().collect(),
            compact_again: None,
        };
        Ok((state, live.into_values().collect()))
    }

    /// The files a partition holds now, in file order (its log read back,
    /// under the lock so that no append is half-written meanwhile).
    pub fn files_of(&self, partition: PartitionId) -> std::io::Result<Vec<StoredFile>> {
        let _logs = self.lock();
        if !self.log_path(partition).exists() {
            return Ok(Vec::new());
        }
        let mut quarantined = Vec::new();
        let (_, files) = self.replay(partition, &mut quarantined)?;
        for (path, why) in quarantined {
            tracing::warn!(path = %path.display(), "reading partition {partition}: {why}");
        }
        Ok(files)
    }

    /// Forget a partition entirely (it moved to other nodes): its log is
    /// deleted, durably.
    pub fn drop_partition(&self, partition: PartitionId) -> std::io::Result<()> {
        let mut logs = self.lock();
        logs.remove(&partition);
        match std::fs::remove_file(self.log_path(partition)) {
            Ok(()) => durable::sync_dir(&self.dir()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Store (or replace) a file's fragments for a partition; durable when it returns.
    pub fn save(&self, stored: &StoredFile) -> std::io::Result<()> {
        self.commit(std::slice::from_ref(stored), &[])
    }

    /// Forget a file's fragments in a partition; durable when it returns.
    /// Whether there was anything to forget.
    pub fn remove(&self, partition: PartitionId, file: &str) -> std::io::Result<bool> {
        let existed = self
            .lock()
            .get(&partition)
            .is_some_and(|l| l.files.contains(file));
        self.commit(&[], &[(partition, file.to_string())])?;
        Ok(existed)
    }

    /// Store (or replace) and forget many files' fragments at once; all of
    /// it durable when it returns. Removals are applied before puts.
    pub fn commit(
        &self,
        puts: &[StoredFile],
        removes: &[(PartitionId, String)],
    ) -> std::io::Result<()> {
        let mut by_partition: BTreeMap<PartitionId, Vec<Vec<u8>>> = BTreeMap::new();
        let mut changes: BTreeMap<PartitionId, Vec<(String, bool)>> = BTreeMap::new();
        for (p, file) in removes {
            let record = Record::Remove { file: file.clone() };
            by_partition
                .entry(*p)
                .or_default()
                .push(durable::encode(&record)?);
            changes.entry(*p).or_default().push((file.clone(), false));
        }
        for s in puts {
            // Encoding borrows: `Record::Put` would need an owned copy.
            let bytes = encode_put(s)?;
            by_partition.entry(s.partition).or_default().push(bytes);
            changes
                .entry(s.partition)
                .or_default()
                .push((s.file.clone(), true));
        }
        if by_partition.is_empty() {
            return Ok(());
        }
        let mut logs = self.lock();
        // Each log's length before the batch: a batch that fails anywhere
        // (a full disk, a failed flush) is undone in every log, so that
        // disk and memory still agree and the next batch can go.
        let mut appended: Vec<(PartitionId, u64)> = Vec::new();
        let mut group = || -> std::io::Result<()> {
            for (p, payloads) in &by_partition {
                if !logs.contains_key(p) {
                    let (state, _) = self.replay(*p, &mut Vec::new())?;
                    logs.insert(*p, state);
                }
                let state = logs
                    .get_mut(p)
                    .ok_or_else(|| invalid("partition log vanished"))?;
                let before = state.log.len();
                state.log.append_unsynced(payloads)?;
                appended.push((*p, before));
            }
            #[cfg(target_os = "linux")]
            durable::sync_filesystem_of(&self.dir())?;
            #[cfg(not(target_os = "linux"))]
            for p in by_partition.keys() {
                if let Some(state) = logs.get(p) {
                    state.log.sync()?;
                }
            }
            Ok(())
        };
        if let Err(e) = group() {
            for (p, before) in appended {
                if let Some(state) = logs.get_mut(&p) {
                    if let Err(undo) = state.log.restore(before) {
                        tracing::error!(
                            "partition {p}: a failed write could not be undone ({undo}); its log takes no writes until the node restarts"
                        );
                    }
                }
            }
            return Err(e);
        }
        for (p, payloads) in &by_partition {
            if let Some(state) = logs.get_mut(p) {
                state.records += payloads.len();
            }
        }
        for (p, changed) in changes {
            let Some(state) = logs.get_mut(&p) else {
                continue;
            };
            for (file, put) in changed {
                if put {
                    state.files.insert(file);
                } else {
                    state.files.remove(&file);
                }
            }
            // The batch is durable: a compaction that fails (no room for
            // the copy) only leaves the log longer, to try again later.
            let due = state.records > 2 * state.files.len() + COMPACT_SLACK
                && state.compact_again.is_none_or(|t| Instant::now() >= t);
            if due {
                match self.compact(p, state) {
                    Ok(()) => state.compact_again = None,
                    Err(e) => {
                        state.compact_again = Some(Instant::now() + COMPACT_RETRY);
                        tracing::warn!(
                            "partition {p}: compaction failed, the log stays as it is and is compacted again in {} s at the earliest: {e}",
                            COMPACT_RETRY.as_secs()
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Partitions whose log takes no writes, and why: a failed batch could
    /// not be undone in it (the disk failing, not only full). A restart
    /// reads the log back and clears it.
    pub fn broken_logs(&self) -> Vec<(PartitionId, String)> {
        self.lock()
            .iter()
            .filter_map(|(p, l)| l.log.broken().map(|why| (*p, why.to_string())))
            .collect()
    }

    /// Rewrite a partition's log with its live files only.
    fn compact(&self, partition: PartitionId, state: &mut PartitionLog) -> std::io::Result<()> {
        let mut quarantined = Vec::new();
        let (_, live) = self.replay(partition, &mut quarantined)?;
        let payloads = live
            .iter()
            .map(encode_put)
            .collect::<std::io::Result<Vec<_>>>()?;
        state.log.rewrite(&payloads)?;
        state.records = payloads.len();
        Ok(())
    }

    /// Everything stored, ordered by (partition, file). Damage is set aside
    /// and reported; leftovers of an interrupted compaction are deleted (the
    /// log it was replacing is intact).
    pub fn load_all(&self) -> std::io::Result<Loaded> {
        let mut loaded = Loaded::default();
        let mut partitions = Vec::new();
        for entry in std::fs::read_dir(self.dir())? {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.ends_with(".rewrite") {
                std::fs::remove_file(&path)?;
            } else if let Some(p) = name
                .strip_prefix('p')
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<PartitionId>().ok())
            {
                partitions.push(p);
            }
        }
        partitions.sort();
        let mut logs = self.lock();
        for p in partitions {
            let (state, files) = self.replay(p, &mut loaded.quarantined)?;
            logs.insert(p, state);
            loaded.files.extend(files);
        }
        Ok(loaded)
    }
}

/// The bytes of `Record::Put(stored)`, without copying the fragments.
fn encode_put(stored: &StoredFile) -> std::io::Result<Vec<u8>> {
    #[derive(Serialize)]
    enum RecordRef<'a> {
        Put(&'a StoredFile),
    }
    durable::encode(&RecordRef::Put(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(partition: PartitionId, file: &str, src: &str) -> StoredFile {
        let cpg = partition::frontend::build_file(file, src.as_bytes());
        StoredFile {
            partition,
            file: file.into(),
            content_hash: cpg.content_hash,
            fragments: cpg.fragments,
        }
    }

    #[test]
    fn a_restart_loads_exactly_what_was_saved() {
        let dir = tempfile::tempdir().unwrap();
        let disk = PartitionDisk::open(dir.path()).unwrap();
        let a = stored(
            PartitionId(3),
            "lib/a.ex",
            "defmodule A do\n  def f(x), do: B.g(x)\nend\n",
        );
        let b = stored(
            PartitionId(7),
            "lib/b.ex",
            "defmodule B do\n  def g(x), do: x\nend\n",
        );
        let b2 = stored(
            PartitionId(7),
            "lib/b.ex",
            "defmodule B do\n  def g(x), do: {x}\nend\n",
        );
        disk.save(&a).unwrap();
        disk.save(&b).unwrap();
        disk.save(&b2).unwrap();
        disk.save(&stored(
            PartitionId(1),
            "lib/gone.ex",
            "defmodule Gone do\nend\n",
        ))
        .unwrap();
        assert!(disk.remove(PartitionId(1), "lib/gone.ex").unwrap());
        assert!(!disk.remove(PartitionId(1), "lib/gone.ex").unwrap());
        let loaded = PartitionDisk::open(dir.path()).unwrap().load_all().unwrap();
        assert_eq!(loaded.files, vec![a, b2]);
        assert!(loaded.quarantined.is_empty());
    }

    #[test]
    fn a_torn_append_and_a_damaged_record_are_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let disk = PartitionDisk::open(dir.path()).unwrap();
        let a = stored(PartitionId(0), "lib/a.ex", "defmodule A do\nend\n");
        let b = stored(PartitionId(0), "lib/b.ex", "defmodule B do\nend\n");
        disk.save(&a).unwrap();
        let a_end = std::fs::metadata(disk.log_path(PartitionId(0)))
            .unwrap()
            .len() as usize;
        disk.save(&b).unwrap();
        let log = disk.log_path(PartitionId(0));
        drop(disk);
        // A crash in the middle of a third append.
        let mut bytes = std::fs::read(&log).unwrap();
        bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&log, &bytes).unwrap();
        let loaded = PartitionDisk::open(dir.path()).unwrap().load_all().unwrap();
        assert_eq!(loaded.files, vec![a.clone(), b.clone()]);
        assert_eq!(loaded.quarantined.len(), 1, "{:?}", loaded.quarantined);
        assert_eq!(
            std::fs::read(&loaded.quarantined[0].0).unwrap(),
            [200, 0, 0, 0, 1, 2, 3]
        );
        // Cut once: the next load finds the log intact.
        let again = PartitionDisk::open(dir.path()).unwrap().load_all().unwrap();
        assert!(again.quarantined.is_empty());
        // A disk fault flips a byte of b's record: b is set aside, a stays.
        let mut bytes = std::fs::read(&log).unwrap();
        let in_b = a_end + (bytes.len() - a_end) / 2;
        bytes[in_b] ^= 0x40;
        std::fs::write(&log, &bytes).unwrap();
        let loaded = PartitionDisk::open(dir.path()).unwrap().load_all().unwrap();
        assert_eq!(loaded.files, vec![a]);
        assert_eq!(loaded.quarantined.len(), 1);
        assert_eq!(
            std::fs::read(&loaded.quarantined[0].0).unwrap(),
            bytes[a_end..],
            "the damaged record is kept whole"
        );
    }

    #[test]
    fn a_record_that_is_not_well_formed_is_set_aside_and_the_rest_loads() {
        let dir = tempfile::tempdir().unwrap();
        let disk = PartitionDisk::open(dir.path()).unwrap();
        let a = stored(
            PartitionId(2),
            "lib/a.ex",
            "defmodule A do\n  def f, do: 1\nend\n",
        );
        // As an older version that did not check might have written it.
        let mut bad = stored(
            PartitionId(2),
            "lib/b.ex",
            "defmodule B do\n  def g, do: 2\nend\n",
        );
        bad.fragments[0].edges[0].dst = u32::MAX;
        disk.save(&a).unwrap();
        disk.save(&bad).unwrap();
        drop(disk);
        let loaded = PartitionDisk::open(dir.path()).unwrap().load_all().unwrap();
        assert_eq!(loaded.files, vec![a]);
        assert_eq!(loaded.quarantined.len(), 1, "{:?}", loaded.quarantined);
        let (aside, why) = &loaded.quarantined[0];
        assert!(
            why.contains("lib/b.ex") && why.contains("past the"),
            "{why}"
        );
        assert!(aside.starts_with(dir.path().join("quarantine")));
        assert!(
            std::fs::metadata(aside).unwrap().len() > 0,
            "kept, not dropped"
        );
    }

    #[test]
    fn a_log_of_many_replacements_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let disk = PartitionDisk::open(dir.path()).unwrap();
        let mut last = None;
        for i in 0..200 {
            let s = stored(
                PartitionId(5),
                "lib/a.ex",
                &format!("defmodule A do\n  def f, do: {i}\nend\n"),
            );
            disk.save(&s).unwrap();
            last = Some(s);
        }
        let records = disk.lock()[&PartitionId(5)].records;
        assert!(
            records <= 2 + COMPACT_SLACK,
            "{records} records for one live file"
        );
        drop(disk);
        let loaded = PartitionDisk::open(dir.path()).unwrap().load_all().unwrap();
        assert_eq!(loaded.files, vec![last.unwrap()]);
    }

    #[test]
    fn a_failed_compaction_is_tried_again_only_after_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let disk = PartitionDisk::open(dir.path()).unwrap();
        let p = PartitionId(5);
        let put = |i: usize| {
            let text = format!("defmodule A do\n  def f, do: {i}\nend\n");
            disk.save(&stored(p, "lib/a.ex", &text)).unwrap();
        };
        let records = || disk.lock()[&p].records;
        // No room for the compaction's copy; appends still fit.
        let copy = disk.log_path(p).with_extension("rewrite");
        durable::faults::inject(&copy, durable::faults::Fault::NoSpace);
        let mut i = 0;
        while disk
            .lock()
            .get(&p)
            .is_none_or(|l| l.compact_again.is_none())
        {
            put(i);
            i += 1;
            assert!(i < 200, "no compaction was tried");
        }
        assert!(records() > 2 + COMPACT_SLACK);
        // Room again: not tried at the next write...
        durable::faults::clear(&copy);
        let before = records();
        put(i);
        assert_eq!(records(), before + 1, "tried again at once");
        // ...but once the wait is over.
        disk.lock().get_mut(&p).unwrap().compact_again = Some(Instant::now());
        put(i + 1);
        assert_eq!(records(), 1, "compacted to its one live file");
        assert!(disk.lock()[&p].compact_again.is_none());
    }

    #[test]
    fn a_put_is_encoded_as_the_record_it_is_decoded_as() {
        let s = stored(PartitionId(2), "lib/a.ex", "defmodule A do\nend\n");
        let bytes = encode_put(&s).unwrap();
        assert_eq!(bytes, durable::encode(&Record::Put(s.clone())).unwrap());
        assert_eq!(durable::decode::<Record>(&bytes).unwrap(), Record::Put(s));
    }
}
