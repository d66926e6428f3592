//! A node's operations side: admission under memory pressure, its metrics,
//! diagnosis, cache sweeps, defragmentation and health report.

use super::*;
use host::vitals::{peak_resident_bytes, resident_bytes};
use partition::store::{CacheStats, Store};
use proto::assignment::PartitionId;
use proto::{CpgError, NodeHealth, PartitionHealth, TablesStatus};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Node {
    /// Whether work that grows memory (parsing, writing) may start. Under
    /// pressure (resident memory above 80% of the limit) the caches are
    /// dropped first; above 90% after that, the work is refused with
    /// `ResourceExhausted` naming the node, its use and its limit, while
    /// reads of held data go on. Checked per request, so the node takes work
    /// again by itself once memory falls.
    pub fn admit_heavy(&self, what: &str) -> Result<(), CpgError> {
        self.admit_up_to(what, 0.9)
    }

    /// Batches of an ingest already admitted (by `admit_writes`,
    /// at 90%) go on up to the limit itself, so that an ingest is refused
    /// whole at its start rather than cut in the middle; past the limit
    /// they are refused too, so that the node does not run out of memory.
    pub fn admit_ingest_batch(&self, what: &str) -> Result<(), CpgError> {
        self.admit_up_to(what, 1.0)
    }

    pub(crate) fn admit_up_to(&self, what: &str, share: f64) -> Result<(), CpgError> {
        let Some(limit) = self.memory_limit_mb else {
            return Ok(());
        };
        let used = || resident_bytes().unwrap_or(0) as f64 / 1048576.0;
        if used() <= 0.8 * limit as f64 {
            return Ok(());
        }
        let dropped: usize = self.stores.iter().map(|s| s.value().cache.clear()).sum();
        let now = used();
        if now <= share * limit as f64 {
            return Ok(());
        }
        tracing::warn!(
            node = self.id.0,
            used_mb = now,
            limit_mb = limit,
            dropped,
            "refusing {what} under memory pressure"
        );
        Err(CpgError::ResourceExhausted {
            what: format!(
                "node {}: {what} refused, memory {now:.0} MB is above {:.0}% of its {limit} MB limit after dropping {dropped} cached results; reads still answer; retry later, add nodes or raise --memory-limit-mb",
                self.id,
                share * 100.0
            ),
            limit,
        })
    }

    /// The node's figures in Prometheus' text format.
    pub fn metrics(&self) -> String {
        let h = self.health();
        let mut e = net::metrics::Exposition::default();
        let status = match h.cpg_tables_status {
            TablesStatus::Healthy => 0.0,
            TablesStatus::Degraded => 1.0,
            TablesStatus::Unhealthy => 2.0,
        };
        e.gauge(
            "cpg_tables_status",
            "0 healthy, 1 degraded, 2 unhealthy",
            status,
        );
        e.gauge(
            "cpg_node_epoch",
            "partition map epoch known",
            h.epoch as f64,
        );
        e.gauge(
            "cpg_partitions",
            "partitions assigned to this node",
            h.partitions.len() as f64,
        );
        e.gauge("cpg_files", "source files held", h.files as f64);
        e.gauge(
            "cpg_total_cpg_nodes",
            "CPG nodes held",
            h.total_cpg_nodes as f64,
        );
        e.gauge(
            "cpg_total_cpg_edges",
            "CPG edges held",
            h.total_cpg_edges as f64,
        );
        let worst = h.held.iter().map(|p| p.deleted_ratio).fold(0.0, f64::max);
        e.gauge(
            "cpg_deleted_entries_ratio",
            "largest share of deleted rows among held partitions",
            worst,
        );
        let bytes: u64 = h.held.iter().map(|p| p.table_bytes).sum();
        e.gauge(
            "cpg_table_bytes",
            "bytes of tables and indexes",
            bytes as f64,
        );
        let CacheStats {
            hits,
            misses,
            evictions,
            entries,
            ..
        } = self.cache_totals();
        e.counter("cpg_cache_hits_total", "cache lookups that hit", hits);
        e.counter(
            "cpg_cache_misses_total",
            "cache lookups that missed",
            misses,
        );
        e.counter(
            "cpg_cache_evictions_total",
            "cache entries removed (expired or stale)",
            evictions,
        );
        e.gauge("cpg_cache_entries", "cache entries held", entries as f64);
        e.gauge(
            "cpg_memory_usage_bytes",
            "resident memory",
            h.memory_usage_mb * 1048576.0,
        );
        e.gauge(
            "cpg_memory_peak_bytes",
            "the most resident memory held since the process started (VmHWM)",
            h.memory_peak_mb * 1048576.0,
        );
        e.gauge(
            "cpg_walk_tables_bytes",
            "what the walk tables held for --walks-on-nodes take, roughly",
            h.walk_tables_mb * 1048576.0,
        );
        if let Some(limit) = h.memory_limit_mb {
            e.gauge(
                "cpg_memory_limit_bytes",
                "configured memory limit",
                limit as f64 * 1048576.0,
            );
        }
        let (buckets, sum, count) = self.reads.histogram();
        e.histogram(
            "cpg_read_seconds",
            "latency of read requests (summaries, file hashes)",
            &buckets,
            sum,
            count,
        );
        e.finish()
    }

    /// Scan every held partition's tables (a benchmark over the real data),
    /// read the cache's counters, and judge the indicators.
    pub fn diagnose(&self) -> proto::NodeDiagnosis {
        let stores: Vec<Arc<Store>> = self
            .assigned()
            .into_iter()
            .filter_map(|p| self.stores.get(&p).map(|s| s.value().clone()))
            .collect();
        let (mut rows, mut took) = (0u64, std::time::Duration::ZERO);
        let mut worst_deleted: f64 = 0.0;
        for s in &stores {
            let (r, t) = s.scan();
            rows += r;
            took += t;
            worst_deleted = worst_deleted.max(s.counts().deleted_ratio());
        }
        let CacheStats {
            entries,
            hits,
            misses,
            evictions,
            ..
        } = cache_totals(stores.iter().map(|s| &**s));
        let rate = (rows > 0 && !took.is_zero()).then(|| rows as f64 / took.as_secs_f64());
        let queries = self.reads.summary();
        let figures = host::vitals::Figures {
            memory_usage_mb: resident_bytes().unwrap_or(0) as f64 / 1048576.0,
            memory_limit_mb: self.memory_limit_mb,
            p99_query_time_ms: (queries.count > 0)
                .then_some((queries.p99_query_time_ms, self.slow_query_ms as f64)),
            cache_hits: hits,
            cache_misses: misses,
            cache_evictions: evictions,
            // Against the guide's 30% even when this node's automatic
            // rebuilds are set higher (or off).
            deleted_ratio: (!stores.is_empty()).then_some((worst_deleted, DEFRAG_THRESHOLD)),
            scan_entries_per_second: rate,
        };
        let (indicators, recommendations) = host::vitals::judge(&figures);
        proto::NodeDiagnosis {
            node_id: self.id,
            scanned_entries: rows,
            scan_ms: took.as_secs_f64() * 1000.0,
            scan_entries_per_second: rate.unwrap_or(0.0),
            cache_entries: entries,
            cache_hits: hits,
            cache_misses: misses,
            cache_evictions: evictions,
            cache_ttl_secs: self.cache_ttl.as_secs(),
            indicators,
            recommendations,
        }
    }

    /// Remove cached results that outlived the TTL or whose partition has
    /// changed since; returns how many were removed.
    pub fn cache_sweep(&self) -> u64 {
        let stores: Vec<Arc<Store>> = self.stores.iter().map(|s| s.value().clone()).collect();
        stores
            .iter()
            .map(|s| s.cache.sweep(s.generation()) as u64)
            .sum()
    }

    /// Rebuild the tables of held partitions over the threshold (or all,
    /// with `force`), reporting bytes before and after.
    pub fn defrag(&self, force: bool) -> Vec<proto::PartitionDefrag> {
        // Every assigned partition; one never written to has empty tables.
        let stores: Vec<(PartitionId, Arc<Store>)> = self
            .assigned()
            .into_iter()
            .map(|p| (p, self.store(p)))
            .collect();
        stores
            .into_iter()
            .map(|(partition, store)| {
                let ratio = store.counts().deleted_ratio();
                let rebuilt = force || ratio > self.defrag_threshold;
                let (before, after) = if rebuilt {
                    store.compact()
                } else {
                    let bytes = store.memory().total;
                    (bytes, bytes)
                };
                proto::PartitionDefrag {
                    partition,
                    deleted_ratio_before: ratio,
                    bytes_before: before as u64,
                    bytes_after: after as u64,
                    rebuilt,
                }
            })
            .collect()
    }

    pub fn health(&self) -> NodeHealth {
        let assigned: Vec<PartitionId> = self.assigned().into_iter().collect();
        let (mut files, mut held) = (BTreeSet::new(), Vec::new());
        let (mut nodes, mut edges, mut hits, mut misses) = (0, 0, 0, 0);
        for &p in &assigned {
            let Some(store) = self.stores.get(&p).map(|s| s.value().clone()) else {
                held.push(PartitionHealth {
                    partition: p,
                    files: 0,
                    modules: 0,
                    cpg_nodes: 0,
                    cpg_edges: 0,
                    deleted_ratio: 0.0,
                    table_bytes: 0,
                });
                continue;
            };
            let s = store.stats();
            let c = store.cache.stats();
            nodes += s.nodes;
            edges += s.edges;
            hits += c.hits;
            misses += c.misses;
            held.push(PartitionHealth {
                partition: p,
                files: s.files,
                modules: s.modules,
                cpg_nodes: s.nodes,
                cpg_edges: s.edges,
                deleted_ratio: store.counts().deleted_ratio(),
                table_bytes: store.memory().total as u64,
            });
            // A file whose modules span partitions counts once.
            let t = store.read();
            files.extend(t.file_hashes.keys().map(|f| t.str(*f).to_string()));
        }
        let queries = self.reads.summary();
        let memory_usage_mb = resident_bytes().unwrap_or(0) as f64 / 1048576.0;
        let mut reasons = Vec::new();
        if let Some(limit) = self.memory_limit_mb {
            if memory_usage_mb > 0.8 * limit as f64 {
                reasons.push(format!(
                    "memory {memory_usage_mb:.0} MB is above 80% of the {limit} MB limit"
                ));
            }
        }
        let slow = self.slow_query_ms as f64;
        if queries.p99_query_time_ms > slow {
            reasons.push(format!(
                "p99 read time {:.0} ms is above {slow:.0} ms",
                queries.p99_query_time_ms
            ));
        }
        if self.quarantined_at_open > 0 {
            reasons.push(format!(
                "{} damaged records were cut from partition logs when the node opened (see quarantine/)",
                self.quarantined_at_open
            ));
        }
        if let Some((at, why, full)) = &*self.disk_failure.lock().unwrap_or_else(|e| e.into_inner())
        {
            let space = host::durable::space(self.disk.root())
                .map(|(free, _)| format!(" ({} MB free now)", free >> 20))
                .unwrap_or_default();
            let action = if *full {
                "free space"
            } else {
                "check the disk"
            };
            reasons.push(format!(
                "the last write failed {:.0} s ago: {why}; {action} under {}{space}: once it works the node takes writes again by itself (unless a log below takes none), and the replicas that missed writes are caught up from their peers",
                at.elapsed().as_secs_f64(),
                self.disk.root().display()
            ));
        }
        for (p, why) in self.disk.broken_logs() {
            reasons.push(format!(
                "partition {p}'s log takes no writes ({why}): restart the node once its disk works, it reads the log back and is caught up"
            ));
        }
        if assigned.is_empty() && self.epoch.load(Ordering::Acquire) > 0 {
            reasons.push("the partition map gives this node no partitions".to_string());
        }
        NodeHealth {
            node_id: self.id,
            epoch: self.epoch.load(Ordering::Acquire),
            cpg_tables_status: if reasons.is_empty() {
                TablesStatus::Healthy
            } else {
                TablesStatus::Degraded
            },
            reasons,
            partitions: assigned,
            held,
            files: files.len() as u64,
            total_cpg_nodes: nodes,
            total_cpg_edges: edges,
            cache_hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            queries,
            memory_usage_mb,
            memory_peak_mb: peak_resident_bytes().unwrap_or(0) as f64 / 1048576.0,
            memory_limit_mb: self.memory_limit_mb,
            walk_tables_mb: self.walk_tables_bytes() as f64 / 1048576.0,
            version: net::wire::release(),
        }
    }
}
