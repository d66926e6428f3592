//! The in-memory tables of one partition and their indexes.
//!
//! Rows of one fragment (a module as defined in one file) are contiguous and
//! owned by a [`Slot`]. Deleting a fragment kills its slot: its rows stay in
//! place as tombstones (counted in `deleted_*`) until [`Tables::compact`]
//! rebuilds the tables without them. The module and file indexes let go of a
//! slot when it is killed.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use proto::{
    CallKind, DepKind, EdgeKind, Label, ModuleFragment, ModuleKind, ModuleSummary, NodeKind,
};
use serde::Serialize;

use super::interner::{Interner, Sym};

/// One node: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRow {
    pub kind: NodeKind,
    pub sub: u8,
    pub col: u16,
    pub end_col: u16,
    pub name: Sym,
    pub line: u32,
    pub end_line: u32,
    pub slot: u32,
}

/// One edge between nodes of the same slot: 12 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeRow {
    pub src: u32,
    pub dst: u32,
    pub kind: EdgeKind,
    pub label: Label,
    pub index: u16,
}

/// One call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRow {
    /// The Call node.
    pub node: u32,
    /// The calling function's Function node.
    pub caller: u32,
    pub module: Sym,
    pub name: Sym,
    pub arity: u16,
    pub kind: CallKind,
    pub quoted: bool,
}

/// One stored fragment.
#[derive(Debug, Clone)]
pub struct Slot {
    pub module: Sym,
    pub file: Sym,
    pub kind: ModuleKind,
    pub live: bool,
    pub nodes: Range<u32>,
    pub edges: Range<u32>,
    pub calls: Range<u32>,
    pub deps: Vec<(Sym, DepKind, u32)>,
    pub summary: Arc<ModuleSummary>,
}

/// Resident bytes per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemoryReport {
    pub nodes: usize,
    pub edges: usize,
    pub calls: usize,
    pub strings: usize,
    pub slots: usize,
    pub index_module: usize,
    pub index_file: usize,
    pub summaries: usize,
    pub total: usize,
}

/// Live and deleted row counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    pub live_nodes: u64,
    pub live_edges: u64,
    pub live_calls: u64,
    pub deleted_nodes: u64,
    pub deleted_edges: u64,
    pub deleted_calls: u64,
}

impl RowCounts {
    /// Share of all rows that are tombstones, 0.0..=1.0.
    pub fn deleted_ratio(&self) -> f64 {
        let deleted = self.deleted_nodes + self.deleted_edges + self.deleted_calls;
        let all = deleted + self.live_nodes + self.live_edges + self.live_calls;
        if all == 0 {
            0.0
        } else {
            deleted as f64 / all as f64
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Tables {
    pub interner: Interner,
    pub nodes: Vec<NodeRow>,
    pub edges: Vec<EdgeRow>,
    pub calls: Vec<CallRow>,
    pub slots: Vec<Slot>,
    /// Live slots per module name (several when one name is defined in several files).
    pub by_module: HashMap<Sym, Vec<u32>>,
    /// Live slots per file.
    pub by_file: HashMap<Sym, Vec<u32>>,
    /// Content hash per file, for change detection.
    pub file_hashes: HashMap<Sym, u64>,
    pub counts: RowCounts,
}

impl Tables {
    pub fn new() -> Tables {
        Tables::default()
    }

    pub fn str(&self, s: Sym) -> &str {
        self.interner.resolve(s)
    }

    /// Append one fragment as a new live slot.
    pub fn insert(&mut self, frag: &ModuleFragment, summary: Arc<ModuleSummary>) -> u32 {
        let slot_id = self.slots.len() as u32;
        let local: Vec<Sym> = frag
            .strings
            .iter()
            .map(|s| self.interner.intern(s))
            .collect();
        let sym = |id: u32| local.get(id as usize).copied().unwrap_or(Sym::NONE);
        let module = self.interner.intern(&frag.name);
        let file = self.interner.intern(&frag.file);
        let base = self.nodes.len() as u32;
        self.nodes.reserve(frag.nodes.len());
        for n in &frag.nodes {
            self.nodes.push(NodeRow {
                kind: n.kind,
                sub: n.sub,
                col: n.span.col,
                end_col: n.span.end_col,
                name: sym(n.name),
                line: n.span.line,
                end_line: n.span.end_line,
                slot: slot_id,
            });
        }
        let node_end = self.nodes.len() as u32;
        let edge_start = self.edges.len() as u32;
        self.edges.extend(frag.edges.iter().map(|e| EdgeRow {
            src: base + e.src,
            dst: base + e.dst,
            kind: e.kind,
            label: e.label,
            index: e.index,
        }));
        let call_start = self.calls.len() as u32;
        for c in &frag.calls {
            let caller = frag
                .functions
                .get(c.caller as usize)
                .map(|f| base + f.node)
                .unwrap_or(base);
            self.calls.push(CallRow {
                node: base + c.node,
                caller,
                module: c.module.map(sym).unwrap_or(Sym::NONE),
                name: sym(c.name),
                arity: c.arity,
                kind: c.kind,
                quoted: c.quoted,
            });
        }
        self.slots.push(Slot {
            module,
            file,
            kind: frag.kind,
            live: true,
            nodes: base..node_end,
            edges: edge_start..self.edges.len() as u32,
            calls: call_start..self.calls.len() as u32,
            deps: frag
                .deps
                .iter()
                .map(|d| (sym(d.target), d.kind, d.line))
                .collect(),
            summary,
        });
        self.by_module.entry(module).or_default().push(slot_id);
        self.by_file.entry(file).or_default().push(slot_id);
        self.counts.live_nodes += frag.nodes.len() as u64;
        self.counts.live_edges += frag.edges.len() as u64;
        self.counts.live_calls += frag.calls.len() as u64;
        slot_id
    }

    /// Kill a slot: its rows become tombstones.
    pub fn kill(&mut self, slot_id: u32) {
        let Some(slot) = self.slots.get_mut(slot_id as usize) else {
            return;
        };
        if !slot.live {
            return;
        }
        slot.live = false;
        let (n, e, c) = (
            slot.nodes.len() as u64,
            slot.edges.len() as u64,
            slot.calls.len() as u64,
        );
        let (module, file) = (slot.module, slot.file);
        self.counts.live_nodes -= n;
        self.counts.live_edges -= e;
        self.counts.live_calls -= c;
        self.counts.deleted_nodes += n;
        self.counts.deleted_edges += e;
        self.counts.deleted_calls += c;
        for (map, key) in [(&mut self.by_module, module), (&mut self.by_file, file)] {
            if let Some(v) = map.get_mut(&key) {
                v.retain(|s| *s != slot_id);
                if v.is_empty() {
                    map.remove(&key);
                }
            }
        }
    }

    /// Kill every slot of `file`; how many there were.
    pub fn kill_file(&mut self, file: Sym) -> usize {
        let old = self.by_file.get(&file).cloned().unwrap_or_default();
        for slot in &old {
            self.kill(*slot);
        }
        old.len()
    }

    /// Rebuild every table from the live slots only: rows are copied with new
    /// ids, the module and file indexes are rebuilt, strings no longer used
    /// are dropped.
    pub fn compact(&self) -> Tables {
        let mut out = Tables::new();
        // Exactly the live rows: no growth slack left in the rebuilt tables.
        out.nodes.reserve_exact(self.counts.live_nodes as usize);
        out.edges.reserve_exact(self.counts.live_edges as usize);
        out.calls.reserve_exact(self.counts.live_calls as usize);
        for slot in self.slots.iter().filter(|s| s.live) {
            let new_id = out.slots.len() as u32;
            let (nb, eb, cb) = (
                out.nodes.len() as u32,
                out.edges.len() as u32,
                out.calls.len() as u32,
            );
            let remap = |id: u32| id - slot.nodes.start + nb;
            for n in &self.nodes[slot.nodes.start as usize..slot.nodes.end as usize] {
                let name = out.interner.intern(self.str(n.name));
                out.nodes.push(NodeRow {
                    name,
                    slot: new_id,
                    ..*n
                });
            }
            out.edges.extend(
                self.edges[slot.edges.start as usize..slot.edges.end as usize]
                    .iter()
                    .map(|e| EdgeRow {
                        src: remap(e.src),
                        dst: remap(e.dst),
                        ..*e
                    }),
            );
            for c in &self.calls[slot.calls.start as usize..slot.calls.end as usize] {
                let module = if c.module == Sym::NONE {
                    Sym::NONE
                } else {
                    out.interner.intern(self.str(c.module))
                };
                let name = out.interner.intern(self.str(c.name));
                out.calls.push(CallRow {
                    node: remap(c.node),
                    caller: remap(c.caller),
                    module,
                    name,
                    ..*c
                });
            }
            let module = out.interner.intern(self.str(slot.module));
            let file = out.interner.intern(self.str(slot.file));
            let deps = slot
                .deps
                .iter()
                .map(|&(t, k, l)| (out.interner.intern(self.str(t)), k, l))
                .collect();
            out.slots.push(Slot {
                module,
                file,
                kind: slot.kind,
                live: true,
                nodes: nb..out.nodes.len() as u32,
                edges: eb..out.edges.len() as u32,
                calls: cb..out.calls.len() as u32,
                deps,
                summary: slot.summary.clone(),
            });
            out.by_module.entry(module).or_default().push(new_id);
            out.by_file.entry(file).or_default().push(new_id);
        }
        for (file, hash) in &self.file_hashes {
            let f = out.interner.intern(self.str(*file));
            out.file_hashes.insert(f, *hash);
        }
        out.counts = RowCounts {
            live_nodes: out.nodes.len() as u64,
            live_edges: out.edges.len() as u64,
            live_calls: out.calls.len() as u64,
            ..RowCounts::default()
        };
        out
    }

    pub fn memory(&self) -> MemoryReport {
        fn vec_bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        fn map_bytes<K, V>(m: &HashMap<K, Vec<V>>) -> usize {
            m.capacity() * (std::mem::size_of::<(K, Vec<V>)>() + 1)
                + m.values().map(vec_bytes).sum::<usize>()
        }
        let summaries = self
            .slots
            .iter()
            .map(|s| {
                let f: usize = s
                    .summary
                    .functions
                    .iter()
                    .map(|f| {
                        std::mem::size_of_val(f)
                            + f.name.capacity()
                            + f.calls.capacity() * std::mem::size_of::<proto::CallSummary>()
                            + f.calls
                                .iter()
                                .map(|c| {
                                    c.name.capacity()
                                        + c.module.as_ref().map_or(0, |m| m.capacity())
                                })
                                .sum::<usize>()
                    })
                    .sum();
                f + std::mem::size_of::<ModuleSummary>()
            })
            .sum();
        let mut r = MemoryReport {
            nodes: vec_bytes(&self.nodes),
            edges: vec_bytes(&self.edges),
            calls: vec_bytes(&self.calls),
            strings: self.interner.memory_bytes(),
            slots: vec_bytes(&self.slots)
                + self
                    .slots
                    .iter()
                    .map(|s| s.deps.capacity() * std::mem::size_of::<(Sym, DepKind, u32)>())
                    .sum::<usize>(),
            index_module: map_bytes(&self.by_module),
            index_file: map_bytes(&self.by_file),
            summaries,
            total: 0,
        };
        r.total = r.nodes
            + r.edges
            + r.calls
            + r.strings
            + r.slots
            + r.index_module
            + r.index_file
            + r.summaries;
        r
    }
}
