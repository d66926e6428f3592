//! How long metadata writes stop when the Raft leader is killed: 3
//! coordinators with the default Raft timing (`--heartbeat-ms 200`: the
//! leader's lease of 1 s, then an election timeout of 0.6–1 s) and 3
//! storage nodes; each round kills the
//! leader with `kill -9` and times until an empty catalog record (a Raft
//! write, sent the way `cpg ingest` sends one: to any coordinator, following
//! `NotLeader`) is committed by the new leader. The killed member is then
//! restarted and rejoins before the next round.
//!
//! `scripts/bench-failover.sh [ROUNDS]` runs it (default 7).

use std::time::{Duration, Instant};

use cluster_tests::Cluster;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = cluster_tests::bench::number_arg(1, 7)?;
    let mut cluster = Cluster::builder(3, 3, 16, 2)
        .coordinator_flags(&["--heartbeat-ms", "200"])
        .start();
    cluster.must_be_ready(16, Duration::from_secs(60)).await;
    let addrs = cluster.coordinator_addrs();
    cpg::cli::record_ingest(&addrs, None, Default::default()).await?;
    let mut resumed = Vec::new();
    for round in 0..rounds {
        let leader = loop {
            if let Some(l) = cluster.leader().await {
                break l;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        cluster.coordinators[leader].kill();
        let killed = Instant::now();
        cpg::cli::record_ingest(&addrs, None, Default::default()).await?;
        let took = killed.elapsed();
        println!(
            "round {round}: leader (coordinator {}) killed; metadata writes resumed after {:.0} ms",
            leader + 1,
            took.as_secs_f64() * 1000.0
        );
        resumed.push(took);
        cluster.coordinators[leader].restart();
        // Back in the group: it knows a leader again.
        let back = Instant::now();
        loop {
            let view = cluster_tests::load::client(&cluster.coordinators[leader].addr).await;
            if let Ok(c) = view {
                if let Ok(Ok(v)) = c.cluster_view(tarpc::context::current()).await {
                    if v.leader.is_some() {
                        break;
                    }
                }
            }
            if back.elapsed() > Duration::from_secs(30) {
                return Err("the restarted coordinator did not rejoin".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    resumed.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "metadata writes resumed after a leader kill: median {:.0} ms, max {:.0} ms, min {:.0} ms ({} rounds; target < 3000 ms)",
        ms(resumed[resumed.len() / 2]),
        ms(resumed[resumed.len() - 1]),
        ms(resumed[0]),
        resumed.len()
    );
    Ok(())
}
