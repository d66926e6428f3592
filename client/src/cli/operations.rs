//! The operations commands: `cpg health`, `diagnose`, `cache cleanup`,
//! `defrag` and `projects`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Result};
use net::coordinator_client;
use proto::assignment::NodeId;

use super::remote::{catalog_listing, cluster_runtime, each_node, on_first_coordinator, Reply};
use super::write_stdout;

/// `cpg health`: the first coordinator that answers reports. Exits with
/// status 1 when the cluster is unhealthy, so scripts can wait on it.
pub(super) fn health(coordinators: &[String], json: bool) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg health reports on a cluster",
        Some("`cpg dev-cluster up` starts a local one"),
    )?;
    let report = runtime.block_on(on_first_coordinator(coordinators, |client| async move {
        Reply::or_next(client.health(tarpc::context::current()).await)
    }))?;
    let text = if json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        crate::health::render(&report)
    };
    write_stdout(&text)?;
    if report.cpg_tables_status == proto::TablesStatus::Unhealthy {
        std::process::exit(1);
    }
    Ok(())
}

pub(super) fn diagnose(coordinators: &[String], json: bool) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg diagnose examines a cluster's nodes",
        Some("`cpg dev-cluster up` starts a local one"),
    )?;
    let reports: Vec<proto::NodeDiagnosisReport> = runtime
        .block_on(each_node(
            coordinators,
            Duration::from_secs(120),
            |c, ctx| async move { c.diagnose(ctx).await.map(Ok) },
        ))?
        .into_iter()
        .map(|(n, r)| proto::NodeDiagnosisReport::of(n.id, n.address, r))
        .collect();
    let text = if json {
        serde_json::to_string_pretty(&reports)? + "\n"
    } else {
        let mut s = String::new();
        for r in &reports {
            let Some(d) = &r.diagnosis else {
                s.push_str(&format!(
                    "node {} at {}: not answering: {}\n\n",
                    r.node_id,
                    r.address,
                    r.error.as_deref().unwrap_or("")
                ));
                continue;
            };
            s.push_str(&format!("node {} at {}\n", r.node_id, r.address));
            s.push_str(&format!(
                "  scan: {} table rows in {:.2} ms ({:.1} million rows/s)\n",
                d.scanned_entries,
                d.scan_ms,
                d.scan_entries_per_second / 1e6
            ));
            s.push_str(&format!(
                "  cache: {} entries, {} hits, {} misses, {} evictions, TTL {} s\n",
                d.cache_entries, d.cache_hits, d.cache_misses, d.cache_evictions, d.cache_ttl_secs
            ));
            for i in &d.indicators {
                s.push_str(&format!(
                    "  {} {}: {:.3} (threshold {})\n",
                    if i.breached { "!!" } else { "ok" },
                    i.name,
                    i.value,
                    i.threshold
                ));
            }
            if d.recommendations.is_empty() {
                s.push_str("  nothing to do\n");
            }
            for a in &d.recommendations {
                s.push_str(&format!("  -> {}\n", a.action));
            }
            s.push('\n');
        }
        s
    };
    write_stdout(&text)?;
    if reports.iter().any(|r| r.error.is_some()) {
        bail!("some nodes did not answer (listed above)");
    }
    Ok(())
}

/// One process's answer to `cpg cache cleanup`.
#[derive(Debug, serde::Serialize)]
pub(super) struct CacheReport {
    /// `coordinator ADDRESS` or `node ID`.
    process: String,
    cleanup: Option<proto::CacheCleanup>,
    error: Option<String>,
}

pub(super) fn cache_cleanup(coordinators: &[String], json: bool) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg cache cleanup works on a cluster",
        Some("an embedded run keeps no cache between runs"),
    )?;
    let reports = runtime.block_on(async {
        let mut out = Vec::new();
        for address in coordinators {
            let r = async {
                let client =
                    coordinator_client::connect(address, coordinator_client::CONNECT_TIMEOUT)
                        .await?;
                Ok::<_, anyhow::Error>(client.cache_cleanup(tarpc::context::current()).await??)
            }
            .await;
            out.push(CacheReport {
                process: format!("coordinator {address}"),
                cleanup: r.as_ref().ok().copied(),
                error: r.err().map(|e| e.to_string()),
            });
        }
        let nodes = each_node(coordinators, Duration::from_secs(30), |c, ctx| async move {
            c.cache_cleanup(ctx).await
        })
        .await?;
        out.extend(nodes.into_iter().map(|(n, r)| CacheReport {
            process: format!("node {} at {}", n.id, n.address),
            cleanup: r.as_ref().ok().copied(),
            error: r.err(),
        }));
        Ok::<_, anyhow::Error>(out)
    })?;
    let text = if json {
        serde_json::to_string_pretty(&reports)? + "\n"
    } else {
        let mut s = String::new();
        for r in &reports {
            match (&r.cleanup, &r.error) {
                (Some(c), _) => {
                    let asked = c.hits + c.misses;
                    let rate = if asked == 0 {
                        "no lookups yet".to_string()
                    } else {
                        format!("hit rate {:.2}", c.hits as f64 / asked as f64)
                    };
                    s.push_str(&format!(
                        "{}: removed {}, {} left (TTL {} s, {rate})\n",
                        r.process, c.removed, c.entries, c.ttl_secs
                    ));
                }
                (None, e) => s.push_str(&format!(
                    "{}: not answering: {}\n",
                    r.process,
                    e.as_deref().unwrap_or("")
                )),
            }
        }
        s
    };
    write_stdout(&text)?;
    if reports.iter().any(|r| r.error.is_some()) {
        bail!("some processes did not answer (listed above)");
    }
    Ok(())
}

/// One node's answer to `cpg defrag`.
#[derive(Debug, serde::Serialize)]
pub(super) struct NodeDefrag {
    node_id: NodeId,
    address: String,
    partitions: Vec<proto::PartitionDefrag>,
    error: Option<String>,
}

/// `cpg defrag`: every registered node, one after the other (a rebuild
/// takes CPU; one node at a time keeps the others answering at full speed).
pub(super) fn defrag(coordinators: &[String], force: bool, json: bool) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg defrag works on a cluster's nodes",
        Some("an embedded run builds fresh tables every time"),
    )?;
    let results: Vec<NodeDefrag> = runtime
        .block_on(each_node(
            coordinators,
            Duration::from_secs(600),
            |c, ctx| async move { c.defrag(ctx, force).await },
        ))?
        .into_iter()
        .map(|(n, r)| {
            let (partitions, error) = match r {
                Ok(p) => (p, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            NodeDefrag {
                node_id: n.id,
                address: n.address,
                partitions,
                error,
            }
        })
        .collect();
    let text = if json {
        serde_json::to_string_pretty(&results)? + "\n"
    } else {
        let mut s = String::new();
        let (mut before, mut after) = (0u64, 0u64);
        for n in &results {
            if let Some(e) = &n.error {
                s.push_str(&format!(
                    "node {} at {}: not answering: {e}\n",
                    n.node_id, n.address
                ));
                continue;
            }
            let rebuilt: Vec<&proto::PartitionDefrag> =
                n.partitions.iter().filter(|p| p.rebuilt).collect();
            let b: u64 = n.partitions.iter().map(|p| p.bytes_before).sum();
            let a: u64 = n.partitions.iter().map(|p| p.bytes_after).sum();
            before += b;
            after += a;
            s.push_str(&format!(
                "node {}: {} of {} partitions rebuilt; tables {:.1} MiB -> {:.1} MiB\n",
                n.node_id,
                rebuilt.len(),
                n.partitions.len(),
                b as f64 / 1048576.0,
                a as f64 / 1048576.0
            ));
            for p in rebuilt {
                s.push_str(&format!(
                    "  partition {}: {:.0}% deleted rows, {} -> {} bytes\n",
                    p.partition,
                    p.deleted_ratio_before * 100.0,
                    p.bytes_before,
                    p.bytes_after
                ));
            }
        }
        s.push_str(&format!(
            "all nodes: {:.1} MiB -> {:.1} MiB\n",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0
        ));
        s
    };
    write_stdout(&text)?;
    if results.iter().any(|n| n.error.is_some()) {
        bail!("some nodes did not answer (listed above)");
    }
    Ok(())
}

/// `cpg projects`: the projects of a cluster and their libraries.
pub(super) fn projects(coordinators: &[String], json: bool) -> Result<()> {
    let runtime = cluster_runtime(
        coordinators,
        "cpg projects lists what a cluster holds",
        None,
    )?;
    let listing = runtime.block_on(catalog_listing(coordinators))?;
    if json {
        return write_stdout(&(serde_json::to_string_pretty(&listing.projects)? + "\n"));
    }
    let mut users: BTreeMap<&proto::projects::LibraryId, usize> = BTreeMap::new();
    for p in &listing.projects {
        for (l, _) in &p.libraries {
            *users.entry(l).or_insert(0) += 1;
        }
    }
    let mut text = String::new();
    for p in &listing.projects {
        let name = if p.name.is_empty() {
            "(default)"
        } else {
            p.name.as_str()
        };
        text.push_str(&format!(
            "{name}: {} files, {} libraries (catalog generation {})\n",
            p.files,
            p.libraries.len(),
            p.generation
        ));
        for (l, files) in &p.libraries {
            let shared = users.get(l).copied().unwrap_or(1);
            let also = if shared > 1 {
                format!(", shared by {shared} projects")
            } else {
                String::new()
            };
            text.push_str(&format!(
                "  {} {} ({:016x}): {files} files{also}\n",
                l.package, l.version, l.hash
            ));
        }
    }
    let stored: usize = users.len();
    let used: usize = users.values().sum();
    text.push_str(&format!(
        "{} projects; {stored} libraries stored for {used} uses\n",
        listing.projects.len()
    ));
    write_stdout(&text)
}
