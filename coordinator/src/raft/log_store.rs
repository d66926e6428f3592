//! The Raft log, vote and committed id on disk.
//!
//! The log is a [`RecordLog`] of operations (append an entry, truncate from an
//! index, purge up to a log id) replayed on open; an append is fsynced before
//! openraft is told it is flushed. The vote and the committed id are checked
//! files, written before the call returns. The metadata log is small, so the
//! live entries are also kept in memory for reads.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};
use serde::{Deserialize, Serialize};

use super::TypeConfig;
use host::durable::{self, RecordLog};

use proto::assignment::CoordinatorId;

/// One operation in the log file.
#[derive(Debug, Serialize, Deserialize)]
enum LogRecord {
    Entry(Entry<TypeConfig>),
    /// Entries at this index and after were removed.
    Truncate(u64),
    /// Entries up to and including this log id were removed.
    Purge(LogId<CoordinatorId>),
}

#[derive(Debug)]
struct LogInner {
    dir: PathBuf,
    log: RecordLog,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<CoordinatorId>>,
    vote: Option<Vote<CoordinatorId>>,
    committed: Option<LogId<CoordinatorId>>,
    /// Records in the file, to decide when to compact it.
    records: usize,
}

/// The coordinator's Raft log store. Clones share the same log (the clone is
/// the log reader openraft asks for).
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

fn write_err(e: std::io::Error) -> StorageError<CoordinatorId> {
    StorageIOError::write_logs(&e).into()
}

impl LogStore {
    /// Open the log under `dir`, replaying what was durably written.
    pub fn open(dir: &Path) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let (log, records) = RecordLog::open(&dir.join("entries"))?;
        let mut entries = BTreeMap::new();
        let mut last_purged = None;
        for bytes in &records {
            match durable::decode::<LogRecord>(bytes)? {
                LogRecord::Entry(e) => {
                    entries.insert(e.log_id.index, e);
                }
                LogRecord::Truncate(index) => {
                    entries.split_off(&index);
                }
                LogRecord::Purge(id) => {
                    entries = entries.split_off(&(id.index + 1));
                    last_purged = Some(id);
                }
            }
        }
        let vote = read_value::<Vote<CoordinatorId>>(&dir.join("vote"))?;
        // Stored as written by `save_committed`: an `Option<LogId>`.
        let committed: Option<LogId<CoordinatorId>> =
            read_value::<Option<LogId<CoordinatorId>>>(&dir.join("committed"))?.flatten();
        let inner = LogInner {
            dir: dir.to_path_buf(),
            log,
            entries,
            last_purged,
            vote,
            committed,
            records: records.len(),
        };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// A panic while holding the lock leaves the in-memory copy possibly
    /// ahead of the file; the file is the truth and is re-read on restart.
    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn read_value<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    durable::read_checked(path)?
        .map(|bytes| durable::decode(&bytes))
        .transpose()
}

fn write_value<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    durable::write_checked(path, &durable::encode(value)?)
}

impl LogInner {
    fn write(&mut self, records: &[LogRecord]) -> std::io::Result<()> {
        let payloads = records
            .iter()
            .map(durable::encode)
            .collect::<std::io::Result<Vec<_>>>()?;
        self.log.append(&payloads)?;
        self.records += records.len();
        Ok(())
    }

    /// Rewrite the file with only what is live once it is mostly history.
    fn maybe_compact(&mut self) -> std::io::Result<()> {
        if self.records < 1024 || self.records < 2 * (self.entries.len() + 1) {
            return Ok(());
        }
        let mut payloads = Vec::with_capacity(self.entries.len() + 1);
        if let Some(id) = self.last_purged {
            payloads.push(durable::encode(&LogRecord::Purge(id))?);
        }
        for e in self.entries.values() {
            payloads.push(durable::encode(&LogRecord::Entry(e.clone()))?);
        }
        self.log.rewrite(&payloads)?;
        self.records = payloads.len();
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<CoordinatorId>> {
        Ok(self
            .lock()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<CoordinatorId>> {
        let inner = self.lock();
        let last = inner.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(
        &mut self,
        vote: &Vote<CoordinatorId>,
    ) -> Result<(), StorageError<CoordinatorId>> {
        let mut inner = self.lock();
        write_value(&inner.dir.join("vote"), vote)
            .map_err(|e| StorageError::from(StorageIOError::write_vote(&e)))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(
        &mut self,
    ) -> Result<Option<Vote<CoordinatorId>>, StorageError<CoordinatorId>> {
        Ok(self.lock().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<CoordinatorId>>,
    ) -> Result<(), StorageError<CoordinatorId>> {
        let mut inner = self.lock();
        write_value(&inner.dir.join("committed"), &committed).map_err(write_err)?;
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<CoordinatorId>>, StorageError<CoordinatorId>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<CoordinatorId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let mut inner = self.lock();
        let records: Vec<LogRecord> = entries.iter().cloned().map(LogRecord::Entry).collect();
        // Durable (fsynced) before openraft hears it is flushed.
        match inner.write(&records) {
            Ok(()) => {
                for e in entries {
                    inner.entries.insert(e.log_id.index, e);
                }
                drop(inner);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let kind = e.kind();
                let message = e.to_string();
                callback.log_io_completed(Err(std::io::Error::new(kind, message)));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(
        &mut self,
        log_id: LogId<CoordinatorId>,
    ) -> Result<(), StorageError<CoordinatorId>> {
        let mut inner = self.lock();
        inner
            .write(&[LogRecord::Truncate(log_id.index)])
            .map_err(write_err)?;
        inner.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(
        &mut self,
        log_id: LogId<CoordinatorId>,
    ) -> Result<(), StorageError<CoordinatorId>> {
        let mut inner = self.lock();
        inner
            .write(&[LogRecord::Purge(log_id)])
            .map_err(write_err)?;
        let kept = inner.entries.split_off(&(log_id.index + 1));
        inner.entries = kept;
        inner.last_purged = Some(log_id);
        inner.maybe_compact().map_err(write_err)?;
        Ok(())
    }
}
