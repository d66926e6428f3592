//! What a process measures about itself for health reports: the latency of
//! recent requests (a sliding window) and its resident memory.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use proto::LatencySummary;

/// The last `capacity` request latencies.
#[derive(Debug)]
pub struct LatencyWindow {
    capacity: usize,
    recent: Mutex<VecDeque<f64>>,
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
        }
    }

    pub fn record(&self, took: Duration) {
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
        assert!((s.avg_query_time_ms - 150.5).abs() < 1e-9, "{s:?}");
        assert!((s.p50_query_time_ms - 150.0).abs() < 1e-9, "{s:?}");
        assert!((s.p95_query_time_ms - 195.0).abs() < 1e-9, "{s:?}");
        assert!((s.p99_query_time_ms - 199.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn this_process_has_resident_memory() {
        let now = resident_bytes().unwrap_or(0);
        let peak = peak_resident_bytes().unwrap_or(0);
        assert!(now > 0 && peak >= now, "{now} {peak}");
    }
}
