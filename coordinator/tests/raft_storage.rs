//! The coordinator's Raft storage against openraft's storage conformance
//! suite, and across a restart on the same directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use coordinator::raft::{self, CatalogPut, Command, LogStore, StateMachine, TypeConfig};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, StorageError, Vote};

struct FreshStore;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for FreshStore {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = raft::open(dir.path())
            .map_err(|e| StorageError::from(openraft::StorageIOError::read_logs(&e)))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_conformance_suite() {
    Suite::test_all(FreshStore).expect("storage suite");
}

fn entry(term: u64, index: u64, command: Option<Command>) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: command
            .map(EntryPayload::Normal)
            .unwrap_or(EntryPayload::Blank),
    }
}

#[tokio::test]
async fn everything_acknowledged_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, mut sm) = raft::open(dir.path()).unwrap();
        log.save_vote(&Vote::new(3, 1)).await.unwrap();
        let entries: Vec<_> = (1..=5)
            .map(|i| {
                entry(
                    3,
                    i,
                    Some(Command::RecordIngest(
                        proto::coordinator_api::IngestRecord {
                            put: vec![CatalogPut {
                                file: format!("f{i}.ex"),
                                content_hash: i,
                                modules: vec![],
                                diagnostics: vec![],
                            }],
                            ..Default::default()
                        },
                    )),
                )
            })
            .collect();
        // Append through openraft's own blocking helper, which waits for the
        // flush callback.
        openraft::storage::RaftLogStorageExt::blocking_append(&mut log, entries.clone())
            .await
            .unwrap();
        log.truncate(LogId::new(CommittedLeaderId::new(3, 1), 5))
            .await
            .unwrap();
        log.purge(LogId::new(CommittedLeaderId::new(3, 1), 1))
            .await
            .unwrap();
        log.save_committed(Some(LogId::new(CommittedLeaderId::new(3, 1), 4)))
            .await
            .unwrap();
        sm.apply(entries[..3].to_vec()).await.unwrap();
        let mut builder = sm.get_snapshot_builder().await;
        openraft::RaftSnapshotBuilder::build_snapshot(&mut builder)
            .await
            .unwrap();
        // No orderly shutdown: the process just goes away.
    }
    let (mut log, mut sm) = raft::open(dir.path()).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(1));
    assert_eq!(
        state.last_log_id.map(|l| l.index),
        Some(4),
        "entry 5 was truncated"
    );
    let kept: Vec<u64> = log
        .try_get_log_entries(0..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(kept, vec![2, 3, 4]);
    assert_eq!(
        log.read_committed().await.unwrap().map(|l| l.index),
        Some(4)
    );
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(3));
    assert_eq!(sm.state().catalog.len(), 3);
    assert_eq!(sm.state().generation, 3);
}
