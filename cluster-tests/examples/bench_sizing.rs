//! Sizing: resident memory per process for code bases of 100, 500, 2,000
//! and 10,000 modules on 3 storage nodes (P=64, R=2) and one coordinator,
//! real processes on loopback. The code bases are made from the Elixir
//! corpus: files taken in order, from renamed copies of it (every module
//! prefixed `C0`, `C1`, ...: other code bases of the same shape) until the
//! module count is reached.
//!
//! `scripts/bench-sizing.sh` (release build) runs it:
//! `bench_sizing CORPUS [MODULES...]`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_tests::load::{client, cpg_ingest};
use cluster_tests::{namespaces, renamed_copy, Cluster};
use codebase::embedded;
use proto::{ModuleKind, Query};

const P: u32 = 64;
const R: u32 = 2;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let corpus = std::path::PathBuf::from(
        args.next()
            .ok_or("usage: bench_sizing CORPUS [MODULES...]")?,
    );
    let mut sizes: Vec<usize> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if sizes.is_empty() {
        sizes = vec![100, 500, 2_000, 10_000];
    }
    let snapshot = embedded::build(&corpus)?.snapshot();
    let names = namespaces(&snapshot);
    // Modules per file, in file order.
    let mut per_file: BTreeMap<String, usize> = BTreeMap::new();
    for m in &snapshot.summaries {
        let n = per_file.entry(m.file.clone()).or_default();
        if m.kind == ModuleKind::Module {
            *n += 1;
        }
    }
    println!(
        "== corpus: {} files, {} modules; 1 coordinator + 3 nodes, P={P}, R={R}",
        per_file.len(),
        per_file.values().sum::<usize>()
    );
    println!(
        "{:>8} {:>7} {:>10} {:>12} {:>12} {:>12} {:>14}",
        "modules", "files", "ingest s", "node max MB", "node mean MB", "coord MB", "first query ms"
    );
    for target in sizes {
        let work = tempfile::tempdir()?;
        let tree = work.path().join("tree");
        let (mut modules, mut files) = (0, 0);
        let mut copy = 0;
        while modules < target {
            let mut chosen = Vec::new();
            for (f, n) in &per_file {
                if modules >= target {
                    break;
                }
                chosen.push(f.clone());
                modules += n;
            }
            files += chosen.len();
            renamed_copy(
                &corpus,
                &tree.join(format!("copy{copy}")),
                &format!("C{copy}"),
                &names,
                &|f| chosen.iter().any(|c| c == f),
            )?;
            copy += 1;
        }
        let cluster = Cluster::start(1, 3, P, R);
        cluster.must_be_ready(P, Duration::from_secs(60)).await;
        let t = Instant::now();
        cpg_ingest(&cluster.coordinator_list(), &tree)?;
        let ingest = t.elapsed();
        let c = client(&cluster.coordinators[0].addr).await?;
        let t = Instant::now();
        let mut ctx = tarpc::context::current();
        ctx.deadline = Instant::now() + Duration::from_secs(300);
        c.query(ctx, String::new(), Query::Cycles)
            .await?
            .map_err(|e| e.to_string())?;
        let first = t.elapsed();
        // Settle, then read every process's resident memory.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let health = c
            .health(tarpc::context::current())
            .await?
            .map_err(|e| e.to_string())?;
        let nodes: Vec<f64> = health
            .nodes
            .iter()
            .filter_map(|n| n.health.as_ref().map(|h| h.memory_usage_mb))
            .collect();
        if nodes.len() != 3 {
            return Err(format!("{} of 3 nodes answered health", nodes.len()).into());
        }
        println!(
            "{:>8} {:>7} {:>10.1} {:>12.0} {:>12.0} {:>12.0} {:>14.0}",
            modules,
            files,
            ingest.as_secs_f64(),
            nodes.iter().copied().fold(0.0, f64::max),
            nodes.iter().sum::<f64>() / nodes.len() as f64,
            health.memory_usage_mb,
            first.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
