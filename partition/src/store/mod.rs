//! The partition store: tables of CPG rows behind one reader-writer lock.
//!
//! Every write (replace a file's modules, remove a file, compact) happens
//! under the write lock in one step, so a reader sees either all of a module
//! or none of it, never half. Expensive preparation (summaries) happens before
//! the lock is taken.

mod cache;
mod interner;
mod tables;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use proto::{FileCpg, ModuleSummary};
use serde::Serialize;

pub use cache::{AnalysisCache, CacheStats};
pub use interner::{Interner, Sym};
pub use tables::{CallRow, EdgeRow, MemoryReport, NodeRow, RowCounts, Slot, Tables};

use crate::summary::summarize;

/// Default time-to-live of analysis cache entries.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// Sizes of what the store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Files applied (with or without modules in them).
    pub files: u64,
    /// Modules, protocols and implementations (not script pseudo-modules).
    pub modules: u64,
    /// Script files' top-level code, each a pseudo-module.
    pub scripts: u64,
    /// Functions `name/arity`, every arity default arguments create included,
    /// `__module__/0` pseudo-functions not.
    pub functions: u64,
    pub nodes: u64,
    /// AST, CFG and DFG edges plus call edges plus module dependency edges.
    pub edges: u64,
    pub generation: u64,
}

/// A file's CPG with its summaries computed: the CPU-heavy half of applying
/// a file, done without holding any lock (on any thread).
#[derive(Debug)]
pub struct PreparedFile {
    pub cpg: FileCpg,
    pub summaries: Vec<Arc<ModuleSummary>>,
}

impl PreparedFile {
    pub fn new(cpg: FileCpg) -> PreparedFile {
        let summaries = cpg
            .fragments
            .iter()
            .map(|f| Arc::new(summarize(f)))
            .collect();
        PreparedFile { cpg, summaries }
    }
}

/// What changed when a file was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    pub unchanged: bool,
    pub removed_modules: usize,
    pub added_modules: usize,
}

#[derive(Debug)]
pub struct Store {
    tables: RwLock<Tables>,
    /// Incremented by every write; cache entries are valid for one generation.
    generation: AtomicU64,
    pub cache: AnalysisCache,
}

impl Default for Store {
    fn default() -> Store {
        Store::new(DEFAULT_CACHE_TTL)
    }
}

impl Store {
    pub fn new(cache_ttl: Duration) -> Store {
        Store {
            tables: RwLock::new(Tables::new()),
            generation: AtomicU64::new(0),
            cache: AnalysisCache::new(cache_ttl),
        }
    }

    /// A panic while holding the lock cannot leave the tables half-written
    /// (writes are computed before they are installed), so a poisoned lock is
    /// still safe to read.
    pub fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Replace everything stored from `cpg.file` by the fragments of `cpg`,
    /// atomically. Skipped (nothing changes) when the content hash is the same.
    pub fn apply_file(&self, cpg: FileCpg) -> ApplyOutcome {
        self.install(PreparedFile::new(cpg))
    }

    /// Install a prepared file: the short, locked half of [`Store::apply_file`].
    pub fn install(&self, prepared: PreparedFile) -> ApplyOutcome {
        let PreparedFile { cpg, summaries } = prepared;
        let mut t = self.write();
        let file = t.interner.intern(&cpg.file);
        if t.file_hashes.get(&file) == Some(&cpg.content_hash) {
            return ApplyOutcome {
                unchanged: true,
                ..ApplyOutcome::default()
            };
        }
        let removed_modules = t.kill_file(file);
        for (frag, summary) in cpg.fragments.iter().zip(summaries) {
            t.insert(frag, summary);
        }
        t.file_hashes.insert(file, cpg.content_hash);
        // Under the lock: a compaction compares generations to see writes.
        self.bump();
        drop(t);
        ApplyOutcome {
            unchanged: false,
            removed_modules,
            added_modules: cpg.fragments.len(),
        }
    }

    /// Remove everything stored from `file`. Returns how many modules went.
    pub fn remove_file(&self, file: &str) -> usize {
        let mut t = self.write();
        let Some(f) = t.interner.get(file) else {
            return 0;
        };
        let removed = t.kill_file(f);
        t.file_hashes.remove(&f);
        self.bump();
        removed
    }

    /// Content hash of a stored file.
    pub fn file_hash(&self, file: &str) -> Option<u64> {
        let t = self.read();
        t.file_hashes.get(&t.interner.get(file)?).copied()
    }

    /// Rebuild the tables without tombstones. Readers keep using the old tables
    /// while the new ones are built; the swap is one write.
    pub fn compact(&self) -> (usize, usize) {
        let before = self.memory().total;
        let built = self.compact_built();
        self.compact_install(built);
        (before, self.memory().total)
    }

    /// The first half of [`Store::compact`]: the tables rebuilt from a read
    /// of them, and the generation they were read at.
    fn compact_built(&self) -> (Tables, u64) {
        let t = self.read();
        (t.compact(), self.generation())
    }

    /// The second half: install the rebuilt tables if no write came since
    /// they were read (every write bumps the generation under the write
    /// lock), else compact again under the lock.
    fn compact_install(&self, (fresh, read_at): (Tables, u64)) {
        let mut t = self.write();
        *t = if self.generation() == read_at {
            fresh
        } else {
            t.compact()
        };
    }

    pub fn counts(&self) -> RowCounts {
        self.read().counts
    }

    pub fn memory(&self) -> MemoryReport {
        self.read().memory()
    }

    pub fn stats(&self) -> StoreStats {
        let t = self.read();
        let live = t.slots.iter().filter(|s| s.live);
        let (mut modules, mut scripts, mut functions, mut deps) = (0u64, 0u64, 0u64, 0u64);
        for s in live {
            match s.kind {
                proto::ModuleKind::Script => scripts += 1,
                proto::ModuleKind::Template => {}
                _ => modules += 1,
            }
            functions += s
                .summary
                .functions
                .iter()
                .filter(|f| f.kind != proto::FunKind::ModuleBody)
                .count() as u64;
            deps += s.deps.len() as u64;
        }
        StoreStats {
            files: t.file_hashes.len() as u64,
            modules,
            scripts,
            functions,
            nodes: t.counts.live_nodes,
            edges: t.counts.live_edges + t.counts.live_calls + deps,
            generation: self.generation(),
        }
    }

    /// Summaries of every live module, ordered by (module, file).
    pub fn summaries(&self) -> Vec<Arc<ModuleSummary>> {
        let t = self.read();
        let mut v: Vec<Arc<ModuleSummary>> = t
            .slots
            .iter()
            .filter(|s| s.live)
            .map(|s| s.summary.clone())
            .collect();
        v.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
        v
    }

    /// Scan every live row of the tables (nodes by slot liveness, then the
    /// edges and call rows of live slots), touching each: the rows scanned
    /// and how long it took. A benchmark over the real data.
    pub fn scan(&self) -> (u64, std::time::Duration) {
        let started = std::time::Instant::now();
        let t = self.read();
        let mut rows = 0u64;
        let mut sum = 0u64;
        for n in &t.nodes {
            if t.slots.get(n.slot as usize).is_some_and(|s| s.live) {
                rows += 1;
                sum = sum.wrapping_add(u64::from(n.line));
            }
        }
        for slot in t.slots.iter().filter(|s| s.live) {
            for e in &t.edges[slot.edges.start as usize..slot.edges.end as usize] {
                rows += 1;
                sum = sum.wrapping_add(u64::from(e.dst));
            }
            for c in &t.calls[slot.calls.start as usize..slot.calls.end as usize] {
                rows += 1;
                sum = sum.wrapping_add(u64::from(c.node));
            }
        }
        std::hint::black_box(sum);
        (rows, started.elapsed())
    }

    /// Get a cached analysis result for this generation, or compute it.
    pub fn cached<T, F>(&self, key: &str, compute: F) -> Arc<T>
    where
        T: std::any::Any + Send + Sync,
        F: FnOnce() -> T,
    {
        self.cache.get_or_compute(key, self.generation(), compute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, body: &str) -> FileCpg {
        crate::frontend::build_file(
            "lib/a.ex",
            format!("defmodule {name} do\n  def f, do: {body}\nend\n").as_bytes(),
        )
    }

    /// A write between a compaction's read and its install, of the same
    /// shape as what it replaces (the same rows), is kept, not undone.
    #[test]
    fn a_write_during_a_compaction_is_not_undone() {
        let store = Store::default();
        store.apply_file(module("A", ":one"));
        store.apply_file(module("A", ":two"));
        let built = store.compact_built();
        let shape = store.counts().live_nodes;
        let six = module("A", ":six");
        let six_hash = six.content_hash;
        store.apply_file(six);
        assert_eq!(store.counts().live_nodes, shape, "the same shape");
        store.compact_install(built);
        assert_eq!(store.file_hash("lib/a.ex"), Some(six_hash));
        assert_eq!(store.counts().deleted_nodes, 0, "compacted");
    }
}
