//! The analysis cache: results keyed by (analysis, parameters), valid for one
//! data generation and for a time-to-live, with hit, miss and eviction counters.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

type Value = Arc<dyn Any + Send + Sync>;

#[derive(Debug)]
struct Entry {
    value: Value,
    generation: u64,
    inserted: Instant,
}

/// Counters of the cache since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
    /// Entries removed because they expired (TTL) or their data generation passed.
    pub evictions: u64,
    pub ttl_secs: u64,
}

#[derive(Debug)]
pub struct AnalysisCache {
    /// Never hold a `Ref` into this map across a computation: values are
    /// cloned out (`Arc`) before the caller uses them.
    map: DashMap<String, Entry>,
    ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl AnalysisCache {
    pub fn new(ttl: Duration) -> AnalysisCache {
        AnalysisCache {
            map: DashMap::new(),
            ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The cached value for `key` at `generation`, or compute, store and return it.
    /// Concurrent misses on one key may compute twice; both results are equal.
    pub fn get_or_compute<T, F>(&self, key: &str, generation: u64, compute: F) -> Arc<T>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> T,
    {
        let cached = self.map.get(key).and_then(|e| {
            let fresh = e.generation == generation && e.inserted.elapsed() < self.ttl;
            fresh.then(|| e.value.clone())
        });
        if let Some(v) = cached.and_then(|v| v.downcast::<T>().ok()) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return v;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let value = Arc::new(compute());
        let old = self.map.insert(
            key.to_string(),
            Entry {
                value: value.clone(),
                generation,
                inserted: Instant::now(),
            },
        );
        if old.is_some() {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        value
    }

    /// Remove entries older than the TTL or from another generation; returns
    /// how many were removed.
    pub fn sweep(&self, generation: u64) -> usize {
        let before = self.map.len();
        self.map
            .retain(|_, e| e.generation == generation && e.inserted.elapsed() < self.ttl);
        let removed = before.saturating_sub(self.map.len());
        self.evictions.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    pub fn clear(&self) -> usize {
        let n = self.map.len();
        self.map.clear();
        self.evictions.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.map.len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            ttl_secs: self.ttl.as_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_and_generation_invalidation() {
        let cache = AnalysisCache::new(Duration::from_secs(60));
        let a = cache.get_or_compute("k", 1, || 7u32);
        let b = cache.get_or_compute("k", 1, || 8u32);
        assert_eq!((*a, *b), (7, 7));
        let c = cache.get_or_compute("k", 2, || 9u32);
        assert_eq!(*c, 9);
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.evictions, s.entries), (1, 2, 1, 1));
    }

    #[test]
    fn ttl_expiry_and_sweep() {
        let cache = AnalysisCache::new(Duration::from_millis(0));
        cache.get_or_compute("k", 1, || 1u8);
        assert_eq!(
            *cache.get_or_compute("k", 1, || 2u8),
            2,
            "expired entry is recomputed"
        );
        assert_eq!(cache.sweep(1), 1);
        assert_eq!(cache.stats().entries, 0);
    }
}
