//! The Raft state machine: [`ClusterState`] in memory, made durable by
//! snapshots on disk plus the log (openraft re-applies committed entries after
//! the snapshot when a coordinator restarts).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotSignature};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::cluster_state::{ClusterState, CommandResult};
use super::TypeConfig;
use host::durable;

use proto::assignment::CoordinatorId;

/// A snapshot as stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<CoordinatorId, BasicNode>,
    /// Encoded [`ClusterState`].
    data: Vec<u8>,
}

#[derive(Debug)]
struct SmInner {
    dir: PathBuf,
    state: ClusterState,
    last_applied: Option<LogId<CoordinatorId>>,
    last_membership: StoredMembership<CoordinatorId, BasicNode>,
    snapshot: Option<StoredSnapshot>,
    /// Snapshots built by this process, for unique snapshot ids.
    built: u64,
}

/// The coordinator's state machine. Clones share state (a clone is the
/// snapshot builder openraft asks for).
#[derive(Debug, Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<SmInner>>,
}

fn snapshot_write_err(
    signature: Option<SnapshotSignature<CoordinatorId>>,
    e: std::io::Error,
) -> StorageError<CoordinatorId> {
    StorageIOError::write_snapshot(signature, &e).into()
}

fn sm_read_err(e: std::io::Error) -> StorageError<CoordinatorId> {
    StorageIOError::read_state_machine(&e).into()
}

impl StateMachine {
    /// Open the state machine under `dir`: the latest snapshot, if any.
    pub fn open(dir: &Path) -> std::io::Result<StateMachine> {
        std::fs::create_dir_all(dir)?;
        let snapshot: Option<StoredSnapshot> = durable::read_checked(&dir.join("snapshot"))?
            .map(|b| durable::decode(&b))
            .transpose()?;
        let mut inner = SmInner {
            dir: dir.to_path_buf(),
            state: ClusterState::default(),
            last_applied: None,
            last_membership: StoredMembership::default(),
            snapshot: None,
            built: 0,
        };
        if let Some(s) = snapshot {
            inner.state = durable::decode(&s.data)?;
            inner.last_applied = s.meta.last_log_id;
            inner.last_membership = s.meta.last_membership.clone();
            inner.snapshot = Some(s);
        }
        Ok(StateMachine {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SmInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the current cluster state, for reads.
    pub fn state(&self) -> ClusterState {
        self.lock().state.clone()
    }

    /// Read part of the current state without copying all of it.
    pub fn read<T>(&self, f: impl FnOnce(&ClusterState) -> T) -> T {
        f(&self.lock().state)
    }
}

impl SmInner {
    /// Write the snapshot durably, then make it the current one.
    fn persist_snapshot(&mut self, snapshot: StoredSnapshot) -> std::io::Result<()> {
        durable::write_checked(&self.dir.join("snapshot"), &durable::encode(&snapshot)?)?;
        self.snapshot = Some(snapshot);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(
        &mut self,
    ) -> Result<Snapshot<TypeConfig>, StorageError<CoordinatorId>> {
        let mut inner = self.lock();
        let data = durable::encode(&inner.state).map_err(sm_read_err)?;
        inner.built += 1;
        let snapshot_id = match inner.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, inner.built),
            None => format!("none-{}", inner.built),
        };
        let meta = SnapshotMeta {
            last_log_id: inner.last_applied,
            last_membership: inner.last_membership.clone(),
            snapshot_id,
        };
        let signature = Some(meta.signature());
        inner
            .persist_snapshot(StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            })
            .map_err(|e| snapshot_write_err(signature, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<CoordinatorId>>,
            StoredMembership<CoordinatorId, BasicNode>,
        ),
        StorageError<CoordinatorId>,
    > {
        let inner = self.lock();
        Ok((inner.last_applied, inner.last_membership.clone()))
    }

    async fn apply<I>(
        &mut self,
        entries: I,
    ) -> Result<Vec<CommandResult>, StorageError<CoordinatorId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.lock();
        let mut results = Vec::new();
        for entry in entries {
            inner.last_applied = Some(entry.log_id);
            let result = match &entry.payload {
                EntryPayload::Blank => CommandResult::Ok,
                EntryPayload::Normal(command) => inner.state.apply(command),
                EntryPayload::Membership(m) => {
                    inner.last_membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    CommandResult::Ok
                }
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<CoordinatorId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<CoordinatorId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<CoordinatorId>> {
        let data = snapshot.into_inner();
        let state: ClusterState = durable::decode(&data).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(Some(meta.signature()), &e))
        })?;
        let mut inner = self.lock();
        inner
            .persist_snapshot(StoredSnapshot {
                meta: meta.clone(),
                data,
            })
            .map_err(|e| snapshot_write_err(Some(meta.signature()), e))?;
        inner.state = state;
        inner.last_applied = meta.last_log_id;
        inner.last_membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<CoordinatorId>> {
        Ok(self.lock().snapshot.clone().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
