//! Each partition's share of a project's linked call graph, sent by a
//! coordinator, and the rounds of walks it answers ([`proto::walks`]). Held
//! in memory only: after a restart the coordinator sends a table again when
//! it asks for a key the node does not hold.

use super::*;
use proto::walks::{Direction, HeldWalkTable, WalkTable};
use proto::Mfa;

/// Tables kept per (project, partition): the newest two, so that two
/// coordinators a generation apart do not push each other's out.
const KEPT: usize = 2;

/// The walk tables a node holds, by (project, partition): (key, table),
/// newest first.
pub(crate) type WalkTables = DashMap<(String, PartitionId), Vec<(u64, Arc<HeldWalkTable>)>>;

impl Node {
    /// Keep `table` under `key`. Checked first; refused under memory
    /// pressure, as writes are (the coordinator then walks by itself), and
    /// for a partition the node's map does not give it (it would never be
    /// dropped with the partition).
    pub fn keep_walk_table(
        &self,
        project: String,
        partition: PartitionId,
        key: u64,
        table: WalkTable,
    ) -> Result<(), CpgError> {
        self.admit_ingest_batch("a walk table")?;
        let held = Arc::new(HeldWalkTable::new(table)?);
        // Under the map's lock: a map that moves the partition away is
        // taken on either before (refused here) or after (and drops it).
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let holds = map
            .assignment
            .get(&partition)
            .is_some_and(|replicas| replicas.contains(&self.id));
        if !holds {
            return Err(CpgError::Unavailable {
                partitions: vec![partition],
            });
        }
        let mut kept = self.walks.entry((project, partition)).or_default();
        kept.retain(|(k, _)| *k != key);
        kept.insert(0, (key, held));
        kept.truncate(KEPT);
        Ok(())
    }

    /// One round of a walk with the table held under `key`; `None` when
    /// none is.
    pub fn expand(
        &self,
        project: String,
        partition: PartitionId,
        key: u64,
        direction: Direction,
        functions: &[Mfa],
    ) -> Option<Vec<Mfa>> {
        let table = self
            .walks
            .get(&(project, partition))?
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| t.clone())?;
        Some(table.expand(direction, functions))
    }

    /// Memory the walk tables take, roughly.
    pub fn walk_tables_bytes(&self) -> usize {
        self.walks
            .iter()
            .flat_map(|e| {
                e.value()
                    .iter()
                    .map(|(_, t)| t.approximate_bytes())
                    .collect::<Vec<_>>()
            })
            .sum()
    }
}
