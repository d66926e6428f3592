//! What a process measures about itself for health reports: the latency of
//! recent requests (a sliding window) and its resident memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use proto::LatencySummary;

/// Upper bounds (seconds) of the latency histogram's buckets.
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The last `capacity` request latencies, and a histogram of all of them
/// since the process started (for Prometheus).
#[derive(Debug)]
pub struct LatencyWindow {
    capacity: usize,
    recent: Mutex<VecDeque<f64>>,
    /// Per bucket of [`BUCKETS`] plus one for larger: counts (not cumulative).
    buckets: Vec<AtomicU64>,
    total_micros: AtomicU64,
}

impl Default for LatencyWindow {
    fn default() -> Self {
        LatencyWindow::new(4096)
    }
}

impl LatencyWindow {
    pub fn new(capacity: usize) -> LatencyWindow {
        LatencyWindow {
            capacity: capacity.max(1),
            recent: Mutex::new(VecDeque::with_capacity(capacity.max(1))),
            buckets: (0..=BUCKETS.len()).map(|_| AtomicU64::new(0)).collect(),
            total_micros: AtomicU64::new(0),
        }
    }

    /// Cumulative `(upper bound in seconds, count)` per bucket, the last
    /// unbounded; the sum of all latencies in seconds; their count.
    pub fn histogram(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut running = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, b) in self.buckets.iter().enumerate() {
            running += b.load(Ordering::Relaxed);
            out.push((BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), running));
        }
        let sum = self.total_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (out, sum, running)
    }

    pub fn record(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.total_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == self.capacity {
            recent.pop_front();
        }
        recent.push_back(took.as_secs_f64() * 1000.0);
    }

    /// Mean and nearest-rank percentiles over the window (zeros when empty).
    pub fn summary(&self) -> LatencySummary {
        let mut v: Vec<f64> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        if v.is_empty() {
            return LatencySummary::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
        LatencySummary {
            count: v.len() as u64,
            avg_query_time_ms: v.iter().sum::<f64>() / v.len() as f64,
            p50_query_time_ms: at(0.50),
            p95_query_time_ms: at(0.95),
            p99_query_time_ms: at(0.99),
        }
    }
}

/// The figures a diagnosis judges. `None`: not applicable (no limit set,
/// too few lookups to tell).
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub memory_usage_mb: f64,
    pub memory_limit_mb: Option<u64>,
    /// The p99 query time, and the time above which a query is slow
    /// (`--slow-query-ms`).
    pub p99_query_time_ms: Option<(f64, f64)>,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_evictions: u64,
    /// The largest share of deleted rows among the partitions, and the
    /// threshold above which a partition defragments itself.
    pub deleted_ratio: Option<(f64, f64)>,
    pub scan_entries_per_second: Option<f64>,
}

/// Cache lookups below which hit and eviction rates say nothing yet.
const MIN_LOOKUPS: u64 = 20;
/// Rows per second under which a table scan is called slow: this machine's
/// debug build scans tens of millions.
const SLOW_SCAN: f64 = 1_000_000.0;

/// Judge the figures: memory above 80% of the limit, p99 query time above
/// the slow query time (500 ms unless set), frequent evictions, too many deleted entries (the operations
/// guide's pressure indicators), a poor cache hit rate and a slow scan; a
/// recommendation for each breached one.
pub fn judge(f: &Figures) -> (Vec<proto::Indicator>, Vec<proto::Recommendation>) {
    let mut out = Vec::new();
    let mut advice = Vec::new();
    let mut check = |name: &str, value: f64, threshold: f64, above: bool, action: String| {
        let breached = if above {
            value > threshold
        } else {
            value < threshold
        };
        out.push(proto::Indicator {
            name: name.to_string(),
            value,
            threshold,
            breached,
        });
        if breached {
            advice.push(proto::Recommendation {
                indicator: name.to_string(),
                action,
            });
        }
    };
    if let Some(limit) = f.memory_limit_mb.filter(|l| *l > 0) {
        let pct = 100.0 * f.memory_usage_mb / limit as f64;
        check(
            "memory_usage_percent_of_limit",
            pct,
            80.0,
            true,
            format!("memory is at {pct:.0}% of the {limit} MB limit: add storage nodes so partitions spread over more memory, or raise --memory-limit-mb"),
        );
    }
    if let Some((p99, slow)) = f.p99_query_time_ms {
        check(
            "p99_query_time_ms",
            p99,
            slow,
            true,
            format!("p99 query time is {p99:.0} ms: check the scan rate and the CPU the node gets; spread partitions over more nodes"),
        );
    }
    let lookups = f.cache_hits + f.cache_misses;
    if lookups >= MIN_LOOKUPS {
        let rate = f.cache_evictions as f64 / lookups as f64;
        check(
            "eviction_rate",
            rate,
            0.10,
            true,
            format!("{:.0}% of cache lookups end in an eviction: raise --cache-ttl-secs so results live longer between ingests", rate * 100.0),
        );
        let hit = f.cache_hits as f64 / lookups as f64;
        check(
            "cache_hit_rate",
            hit,
            0.5,
            false,
            format!(
                "only {:.0}% of cache lookups hit: raise --cache-ttl-secs, or ingest less often",
                hit * 100.0
            ),
        );
    }
    if let Some((ratio, threshold)) = f.deleted_ratio {
        check(
            "deleted_entries_ratio",
            ratio,
            threshold,
            true,
            format!("{:.0}% of a partition's rows are deleted: run `cpg defrag` (or lower --defrag-threshold so nodes do it after writes)", ratio * 100.0),
        );
    }
    if let Some(rate) = f.scan_entries_per_second {
        check(
            "scan_entries_per_second",
            rate,
            SLOW_SCAN,
            false,
            format!("tables scan at {rate:.0} rows/s: the node is short of CPU or memory bandwidth; give it more, or fewer neighbours"),
        );
    }
    (out, advice)
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`); `None` where
/// there is no procfs.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resident memory of this process now.
pub fn resident_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// The most resident memory this process has had.
pub fn peak_resident_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_over_the_window_by_nearest_rank() {
        let w = LatencyWindow::new(100);
        assert_eq!(w.summary(), LatencySummary::default());
        // 1..=200 ms into a window of 100: 101..=200 remain.
        for ms in 1..=200u64 {
            w.record(Duration::from_millis(ms));
        }
        let s = w.summary();
        assert_eq!(s.count, 100);
        // The histogram counts all 200: 1 ms in the 1 ms bucket, 2 in 2.5 ms...
        let (buckets, sum, count) = w.histogram();
        assert_eq!(count, 200);
        assert!((sum - 20.1).abs() < 1e-6, "{sum}");
        assert_eq!(buckets[1], (0.001, 1));
        assert_eq!(buckets[2], (0.0025, 2));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 200)));
        assert_eq!(buckets[8], (0.25, 200));
        assert!((s.avg_query_time_ms - 150.5).abs() < 1e-9, "{s:?}");
        assert!((s.p50_query_time_ms - 150.0).abs() < 1e-9, "{s:?}");
        assert!((s.p95_query_time_ms - 195.0).abs() < 1e-9, "{s:?}");
        assert!((s.p99_query_time_ms - 199.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn indicators_are_judged_against_their_thresholds() {
        let calm = Figures {
            memory_usage_mb: 100.0,
            memory_limit_mb: Some(1000),
            p99_query_time_ms: Some((3.0, 500.0)),
            cache_hits: 90,
            cache_misses: 10,
            cache_evictions: 2,
            deleted_ratio: Some((0.1, 0.3)),
            scan_entries_per_second: Some(5e7),
        };
        let (ind, advice) = judge(&calm);
        assert_eq!(ind.len(), 6);
        assert!(
            ind.iter().all(|i| !i.breached) && advice.is_empty(),
            "{ind:?}"
        );
        let pressed = Figures {
            memory_usage_mb: 900.0,
            p99_query_time_ms: Some((800.0, 500.0)),
            cache_hits: 5,
            cache_misses: 45,
            cache_evictions: 30,
            deleted_ratio: Some((0.5, 0.3)),
            scan_entries_per_second: Some(1e5),
            ..calm
        };
        let (_, advice) = judge(&pressed);
        let names: Vec<&str> = advice.iter().map(|a| a.indicator.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "memory_usage_percent_of_limit",
                "p99_query_time_ms",
                "eviction_rate",
                "cache_hit_rate",
                "deleted_entries_ratio",
                "scan_entries_per_second"
            ]
        );
        assert!(advice[4].action.contains("cpg defrag"));
        // Too few lookups to judge the cache; no limit, no memory indicator.
        let quiet = Figures {
            cache_hits: 1,
            cache_misses: 1,
            cache_evictions: 1,
            memory_limit_mb: None,
            ..calm
        };
        let (ind, _) = judge(&quiet);
        assert_eq!(ind.len(), 3, "{ind:?}");
    }

    #[test]
    fn this_process_has_resident_memory() {
        let now = resident_bytes().unwrap_or(0);
        let peak = peak_resident_bytes().unwrap_or(0);
        assert!(now > 0 && peak >= now, "{now} {peak}");
    }
}
