//! Backup and restore: `cpg cluster backup` of a cluster taking ingests all
//! the while, `cpg cluster restore` into a new cluster of other nodes, and
//! every answer of the new cluster equal to an embedded run over the tree
//! as it was at the backed-up generation; a restore run again is the
//! same. A restore into a cluster holding other files, a damaged backup
//! and another partition count are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_tests::load::{cpg_ingest_generation, differences_from_embedded};
use cluster_tests::{copy_tree, cpg_command, Cluster};

const P: u32 = 16;

/// `cpg --coordinator LIST cluster ACTION DIR`: stdout, or stderr.
fn cluster_cpg(list: &str, action: &str, dir: &std::path::Path) -> Result<String, String> {
    let out = cpg_command()
        .args(["--coordinator", list, "cluster", action])
        .arg(dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_ingests_restores_into_a_new_cluster_as_of_its_generation() {
    let _machine = crate::shared().await;
    let old = Cluster::local(1, 3, P, 2);
    old.must_be_ready(P, Duration::from_secs(60)).await;
    let (work, tree) = cluster_tests::example_copy();
    let list = old.coordinator_list();
    // The tree as it was at each acknowledged generation.
    let trees: Arc<Mutex<BTreeMap<u64, PathBuf>>> = Arc::default();
    let keep = |g: u64, trees: &Mutex<BTreeMap<u64, PathBuf>>| {
        let at = work.path().join(format!("at-{g}"));
        copy_tree(&tree, &at).unwrap();
        trees.lock().unwrap().insert(g, at);
    };
    keep(cpg_ingest_generation(&list, &tree).unwrap(), &trees);

    // Ingests all the while.
    let stop = Arc::new(AtomicBool::new(false));
    let ingests = {
        let (stop, trees, list, tree) = (stop.clone(), trees.clone(), list.clone(), tree.clone());
        let work = work.path().to_path_buf();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                // A module added, the one before changed, the one before
                // that removed: files the catalog records change under the
                // backup.
                let file = |k: i32| tree.join(format!("lib/backup_{k}.ex"));
                std::fs::write(
                    file(n),
                    format!(
                        "defmodule Shop.Backup{n} do\n  def f(x), do: Shop.Pricing.total(x)\nend\n"
                    ),
                )
                .unwrap();
                if n >= 1 {
                    std::fs::write(
                        file(n - 1),
                        format!(
                            "defmodule Shop.Backup{} do\n  def f(x), do: String.to_atom(x)\nend\n",
                            n - 1
                        ),
                    )
                    .unwrap();
                }
                if n >= 2 {
                    std::fs::remove_file(file(n - 2)).unwrap();
                }
                let g = cpg_ingest_generation(&list, &tree).unwrap();
                let at = work.join(format!("at-{g}"));
                copy_tree(&tree, &at).unwrap();
                trees.lock().unwrap().insert(g, at);
                n += 1;
            }
            n
        })
    };
    // Let a few ingests land, then back up while they go on.
    while trees.lock().unwrap().len() < 3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let backup = work.path().join("backup");
    let said = cluster_cpg(&list, "backup", &backup).unwrap();
    println!("{said}");
    stop.store(true, Ordering::Relaxed);
    let ingested = ingests.join().unwrap();
    assert!(ingested >= 2, "{ingested} ingests");
    let manifest = codebase::backup::read_manifest(&backup).unwrap();
    assert!(
        said.contains(&format!("generation {}", manifest.generation)),
        "{said}"
    );
    let at = trees
        .lock()
        .unwrap()
        .get(&manifest.generation)
        .cloned()
        .unwrap_or_else(|| panic!("generation {} was not acknowledged", manifest.generation));

    // A new cluster: other nodes, other addresses, the same P.
    let new = Cluster::local(1, 2, P, 2);
    new.must_be_ready(P, Duration::from_secs(60)).await;
    let new_list = new.coordinator_list();
    let said = cluster_cpg(&new_list, "restore", &backup).unwrap();
    assert!(
        said.contains(&format!("{} files", manifest.files.len())),
        "{said}"
    );
    let differences = differences_from_embedded(&new, &at).await.unwrap();
    assert!(differences.is_empty(), "{differences:#?}");

    // Run again (as after a restore that stopped part way): the same.
    cluster_cpg(&new_list, "restore", &backup).unwrap();
    let differences = differences_from_embedded(&new, &at).await.unwrap();
    assert!(differences.is_empty(), "{differences:#?}");
    // Refused: a cluster holding other files, a damaged backup.
    let refused = cluster_cpg(&list, "restore", &backup).unwrap_err();
    assert!(refused.contains("not this backup's"), "{refused}");
    let damaged = work.path().join("damaged");
    copy_tree(&backup, &damaged).unwrap();
    let part = std::fs::read_dir(&damaged)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "bin"))
        .unwrap();
    let mut bytes = std::fs::read(&part).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&part, bytes).unwrap();
    let third = Cluster::local(1, 1, P, 1);
    third.must_be_ready(P, Duration::from_secs(60)).await;
    let refused = cluster_cpg(&third.coordinator_list(), "restore", &damaged).unwrap_err();
    assert!(refused.contains("damaged"), "{refused}");
    // And into the wrong partition count.
    let other_p = Cluster::local(1, 1, 8, 1);
    other_p.must_be_ready(8, Duration::from_secs(60)).await;
    let refused = cluster_cpg(&other_p.coordinator_list(), "restore", &backup).unwrap_err();
    assert!(refused.contains("--partitions 16"), "{refused}");
}
