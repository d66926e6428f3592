//! The linked graph cut by partition for walks on the storage nodes
//! ([`proto::walks`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proto::assignment::PartitionId;
use proto::walks::{WalkRow, WalkTable};

use super::CallGraph;
use crate::partitioning::partition_of;

/// A table being filled: graph ids → indexes into its names.
#[derive(Default)]
struct Filling {
    local: HashMap<u32, u32>,
    table: WalkTable,
}

impl Filling {
    fn local(&mut self, graph: &CallGraph, id: u32) -> u32 {
        let names = &mut self.table.names;
        *self.local.entry(id).or_insert_with(|| {
            names.push(graph.mfa(id).clone());
            names.len() as u32 - 1
        })
    }
}

impl CallGraph {
    /// Each partition's share of the graph: every function that calls or
    /// is called, with its callers and callees (each once), in the table of
    /// its module's partition among `partitions`. A walk that expands a
    /// function with the table of its partition meets the same neighbours
    /// as [`CallGraph::callers`] and [`CallGraph::callees`]. Partitions
    /// without such a function have no table. The same graph gives the
    /// same tables, names in the same order.
    pub fn walk_tables(&self, partitions: u32) -> BTreeMap<PartitionId, WalkTable> {
        let mut by_module: HashMap<&str, PartitionId> = HashMap::new();
        let mut out: BTreeMap<PartitionId, Filling> = BTreeMap::new();
        for id in 0..self.functions.len() as u32 {
            let callers: BTreeSet<u32> = self.calls_to(id).map(|c| c.caller).collect();
            let callees: BTreeSet<u32> = self.calls_from(id).map(|c| c.callee).collect();
            if callers.is_empty() && callees.is_empty() {
                continue;
            }
            let module = self.mfa(id).module.as_str();
            let p = *by_module
                .entry(module)
                .or_insert_with(|| partition_of(module, partitions));
            let f = out.entry(p).or_default();
            let function = f.local(self, id);
            let callers = callers.into_iter().map(|c| f.local(self, c)).collect();
            let callees = callees.into_iter().map(|c| f.local(self, c)).collect();
            f.table.rows.push(WalkRow {
                function,
                callers,
                callees,
            });
        }
        out.into_iter().map(|(p, f)| (p, f.table)).collect()
    }
}
