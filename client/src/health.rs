//! `cpg health` as a person reads it.

use std::fmt::Write;

use proto::{ClusterHealth, LatencySummary};

fn latency(l: &LatencySummary) -> String {
    if l.count == 0 {
        return "no queries yet".to_string();
    }
    format!(
        "avg {:.2} ms, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms over the last {}",
        l.avg_query_time_ms, l.p50_query_time_ms, l.p95_query_time_ms, l.p99_query_time_ms, l.count
    )
}

fn memory(used: f64, peak: f64, limit: Option<u64>) -> String {
    match limit {
        Some(l) => format!("{used:.0} MB of {l} MB, peak {peak:.0} MB"),
        None => format!("{used:.0} MB, peak {peak:.0} MB (no limit set)"),
    }
}

/// The report as a person reads it.
pub fn render(h: &ClusterHealth) -> String {
    let mut s = format!("cluster: {}\n", h.cpg_tables_status.as_str());
    for r in &h.reasons {
        let _ = writeln!(s, "  - {r}");
    }
    let _ = writeln!(
        s,
        "CPG: {} nodes, {} edges; catalog generation {} with {} files",
        h.total_cpg_nodes, h.total_cpg_edges, h.catalog_generation, h.catalog_files
    );
    let _ = writeln!(
        s,
        "partitions: {} (R={}), {} under-replicated, {} unavailable",
        h.partitions_total,
        h.replication,
        h.partitions_under_replicated.len(),
        h.partitions_unavailable.len()
    );
    let _ = writeln!(
        s,
        "raft: leader {} ({}), term {}, members {:?}; answered by coordinator {}",
        h.raft.leader.map_or("none".to_string(), |l| l.to_string()),
        h.raft.leader_address.as_deref().unwrap_or("-"),
        h.raft.term,
        h.raft.members,
        h.raft.this
    );
    let _ = writeln!(
        s,
        "coordinator: cpg {}; cache hit rate {:.2}; queries {}; memory {}",
        h.version,
        h.cache_hit_rate,
        latency(&h.queries),
        memory(h.memory_usage_mb, h.memory_peak_mb, h.memory_limit_mb)
    );
    if let Some(x) = &h.snapshot {
        let _ = writeln!(
            s,
            "snapshot: generation {}, {} partitions fetched and {} reused after the last change, {} answers carried over; {} ms",
            x.generation, x.partitions_regathered, x.partitions_reused, x.answers_carried, x.build_ms
        );
    }
    for n in &h.nodes {
        match &n.health {
            Some(x) => {
                let _ = writeln!(
                    s,
                    "node {} at {} ({}): cpg {}; {}; {} partitions, {} files, {} CPG nodes, {} edges; cache hit rate {:.2}; reads {}; memory {}",
                    n.id,
                    n.address,
                    n.state,
                    x.version,
                    x.cpg_tables_status.as_str(),
                    x.partitions.len(),
                    x.files,
                    x.total_cpg_nodes,
                    x.total_cpg_edges,
                    x.cache_hit_rate,
                    latency(&x.queries),
                    memory(x.memory_usage_mb, x.memory_peak_mb, x.memory_limit_mb)
                );
                if x.walk_tables_mb > 0.0 {
                    let _ = writeln!(
                        s,
                        "  walk tables (--walks-on-nodes): {:.1} MB of that",
                        x.walk_tables_mb
                    );
                }
            }
            None => {
                let _ = writeln!(
                    s,
                    "node {} at {} ({}): not answering: {}",
                    n.id,
                    n.address,
                    n.state,
                    n.error.as_deref().unwrap_or("")
                );
            }
        }
    }
    s
}
