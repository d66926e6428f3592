//! The language server over a cluster: the summaries fetched, and saved
//! files sent in the background while they are shown from a local parse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::{Query, QueryResult};

use super::{ClusterSet, Index, Source};
use crate::cli::analyses::query_cluster;
use crate::cli::ingest::ingest_once;

/// The cluster's summaries of the command line's project.
pub(super) async fn cluster_set(
    coordinators: &[String],
) -> std::result::Result<ClusterSet, String> {
    let answer = query_cluster(coordinators, Query::Summaries)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let QueryResult::Summaries(set) = Arc::unwrap_or_clone(answer.result) else {
        return Err("the cluster answered the summaries with something else".into());
    };
    let set = *set;
    Ok((
        set.modules.into_iter().map(Arc::new).collect(),
        set.libraries.into_iter().map(Arc::new).collect(),
    ))
}

impl Index {
    /// Take the summaries a finished background job fetched, once no job
    /// is left (a later one has the later saves): the cluster has every
    /// saved file then, and its answer replaces what was parsed here.
    pub(super) fn adopt_fetched(&mut self) -> bool {
        let Source::Cluster {
            base,
            overlay,
            sync,
            ..
        } = &mut self.source
        else {
            return false;
        };
        if sync.running.load(std::sync::atomic::Ordering::Acquire) > 0 {
            return false;
        }
        let Some(set) = sync.fetched.lock().ok().and_then(|mut f| f.take()) else {
            return false;
        };
        *base = set;
        overlay.clear();
        true
    }

    /// Wait (a minute at most) for the background ingests of saved files:
    /// what was saved reaches the cluster before the server exits.
    pub(super) fn finish(&self) {
        let Source::Cluster { sync, .. } = &self.source else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while sync.running.load(std::sync::atomic::Ordering::Acquire) > 0 {
            if Instant::now() > deadline {
                eprintln!("cpg lsp: saved files are still being sent to the cluster; stopping anyway (cpg ingest sends them)");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ingest the workspace's changes into the cluster in the background
    /// (one job at a time), then fetch the cluster's summaries for
    /// [`Index::adopt_fetched`].
    pub(super) fn send_to_cluster(&self, file: &str) {
        let Source::Cluster {
            coordinators,
            runtime,
            sync,
            ..
        } = &self.source
        else {
            return;
        };
        sync.running
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let (sync, coordinators, root) =
            (Arc::clone(sync), coordinators.clone(), self.root.clone());
        let file = file.to_string();
        runtime.spawn(async move {
            let turn = sync.turn.lock().await;
            let set = match ingest_once(&coordinators, &root, false).await {
                Ok(_) => cluster_set(&coordinators)
                    .await
                    .map_err(|e| eprintln!("cpg lsp: the cluster's summaries: {e}"))
                    .ok(),
                Err(e) => {
                    eprintln!("cpg lsp: {file} could not be sent to the cluster: {e:#}");
                    None
                }
            };
            // A failed job leaves nothing to adopt: an earlier job's fetch
            // lacks this save, and the local parse must stay until a later
            // save reaches the cluster.
            if let Ok(mut fetched) = sync.fetched.lock() {
                *fetched = set;
            }
            drop(turn);
            sync.running
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        });
    }
}
