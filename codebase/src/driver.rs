//! The ingest driver: the one path by which a code base's files reach a
//! cluster, for `cpg ingest`, `cpg watch` and the HTTP API's uploads alike.
//!
//! One attempt reads the cluster view and the catalog, asks the replicas
//! what they hold, scopes both to the project, writes the changed files to
//! every replica and removes the gone ones ([`crate::ingest::ingest`]), and
//! then records the result in the catalog through the Raft leader. A
//! partition move changes the map while an ingest runs: its writes are
//! refused as planned with an old map, and the driver starts again with the
//! new one (writes replace, so what went through is harmless).
//!
//! Where the view, the catalog and the leader are reached from differs (a
//! client dials the coordinators; a coordinator reads its own replica of
//! the state machine): that is the [`Cluster`] a caller passes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::sources::Source;
use net::node_client::NodeClient;
use proto::assignment::NodeId;
use proto::coordinator_api::{CatalogListing, ClusterView, IngestRecord};
use proto::projects::LibraryId;
use proto::CpgError;

use crate::ingest::{held_files, ingest, IngestReport};

/// Deadline of each storage-node request of an ingest.
pub const NODE_DEADLINE: Duration = Duration::from_secs(60);

/// Attempts after the first when the partition map changes under an ingest.
const RETRIES: u64 = 5;

/// What an ingest sends: a project's files, named as stored.
#[derive(Debug, Clone)]
pub struct Upload {
    pub project: String,
    pub sources: Vec<Source>,
    /// The libraries the project uses now; `None` leaves its list as it is
    /// (a partial upload).
    pub libraries: Option<Vec<LibraryId>>,
    /// Only add and change files: the project's files not sent stay.
    pub partial: bool,
}

/// How the driver reaches the cluster's metadata.
pub trait Cluster: Sync {
    type Error: From<CpgError> + Send;

    /// The cluster view, as of after every acknowledged write.
    fn view(&self) -> impl Future<Output = Result<ClusterView, Self::Error>> + Send;
    /// What the catalog records (files and projects), as of after every
    /// acknowledged write.
    fn listing(&self) -> impl Future<Output = Result<CatalogListing, Self::Error>> + Send;
    /// The whole catalog at one generation, as of after every
    /// acknowledged write (for a backup).
    fn catalog_backup(
        &self,
    ) -> impl Future<Output = Result<proto::coordinator_api::CatalogBackup, Self::Error>> + Send;
    /// Commit `record` through the Raft leader (`leader` is the view's
    /// hint); the catalog generation after it.
    fn record(
        &self,
        leader: Option<String>,
        record: IngestRecord,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Clients of the storage nodes of `view`.
    fn nodes(&self, view: &ClusterView) -> Result<HashMap<NodeId, Arc<NodeClient>>, Self::Error>;
    /// The service error inside `error`, if it is one (to decide on a
    /// retry).
    fn service_error(error: &Self::Error) -> Option<&CpgError>;
}

/// Whether an attempt that failed with `error` under the map of epoch
/// `planned` is worth another, given the map's epoch now: always after a
/// stale map, and after replicas were unavailable if the map changed (a
/// replica refusing a peer's write with a newer map shows as unavailable).
pub fn retry_after(error: Option<&CpgError>, planned: u64, now: u64) -> bool {
    match error {
        Some(CpgError::StaleEpoch { .. }) => true,
        Some(CpgError::Unavailable { .. }) => now != planned,
        _ => false,
    }
}

/// Ingest `upload`: its report and the catalog generation after it.
pub async fn run<C: Cluster>(
    cluster: &C,
    upload: &Upload,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(IngestReport, u64), C::Error> {
    let mut attempts = 0;
    loop {
        let view = cluster.view().await?;
        let planned = view.epoch;
        let result = attempt(cluster, view, upload, progress).await;
        let Err(e) = &result else { return result };
        let error = C::service_error(e);
        // The map's epoch now matters only after unavailable replicas.
        let now = match error {
            Some(CpgError::Unavailable { .. }) => cluster.view().await?.epoch,
            _ => planned,
        };
        if attempts >= RETRIES || !retry_after(error, planned, now) {
            return result;
        }
        attempts += 1;
        tracing::debug!("the partition map changed during the ingest: again");
        tokio::time::sleep(Duration::from_millis(200 * attempts)).await;
    }
}

/// One ingest of `upload` with the map of `view`.
async fn attempt<C: Cluster>(
    cluster: &C,
    view: ClusterView,
    upload: &Upload,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(IngestReport, u64), C::Error> {
    let mut clients = cluster.nodes(&view)?;
    // Nodes silent to the leader are not waited for (their replicas' writes
    // count as missed and are caught up later).
    let silent = view.not_waited_for();
    clients.retain(|id, _| !silent.contains(id));
    let mut held = held_files(&clients, view.epoch, &view.assignment, NODE_DEADLINE).await?;
    let listing = cluster.listing().await?;
    let mut recorded: BTreeMap<String, u64> = listing.files.into_iter().collect();
    // A file without modules is held by no node: as recorded, it is held
    // whole (with no partition), so that unchanged it is not sent again.
    for file in listing.without_modules {
        if let Some(&hash) = recorded.get(&file) {
            held.entry(file).or_insert((hash, BTreeSet::new()));
        }
    }
    let present: BTreeSet<String> = upload.sources.iter().map(|s| s.file.clone()).collect();
    let project = &upload.project;
    crate::projects::scope(
        project,
        &listing.projects,
        &present,
        &mut held,
        &mut recorded,
    );
    if upload.partial {
        held.retain(|f, _| present.contains(f));
        recorded.retain(|f, _| present.contains(f));
    }
    let libraries_changed = upload
        .libraries
        .as_deref()
        .is_some_and(|l| crate::projects::libraries_changed(&listing.projects, project, l));
    let report = ingest(
        &clients,
        view.epoch,
        view.partitions,
        // Replicas being filled by a move take writes too.
        &view.writable(),
        &held,
        Some(&recorded),
        &upload.sources,
        NODE_DEADLINE,
        progress,
    )
    .await?;
    // Every partition's data is on its replicas (those that missed it are
    // marked behind in the same entry): now the catalog records it.
    let mut generation = view.generation;
    if !report.put.is_empty()
        || !report.removed.is_empty()
        || !report.missed.is_empty()
        || libraries_changed
    {
        let record = IngestRecord {
            project: project.clone(),
            libraries: upload.libraries.clone(),
            put: report.put.clone(),
            removed: report.removed.clone(),
            missed: report.missed.clone(),
        };
        generation = cluster.record(view.leader.clone(), record).await?;
    }
    Ok((report, generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_map_is_retried_and_a_refusal_is_not() {
        let stale = CpgError::StaleEpoch { current: 4 };
        let unavailable = CpgError::Unavailable {
            partitions: vec![proto::assignment::PartitionId(1)],
        };
        let invalid = CpgError::InvalidInput {
            reason: "bad".into(),
        };
        assert!(retry_after(Some(&stale), 3, 3));
        assert!(retry_after(Some(&unavailable), 3, 4));
        assert!(!retry_after(Some(&unavailable), 3, 3));
        assert!(!retry_after(Some(&invalid), 3, 4));
        assert!(!retry_after(None, 3, 4));
    }
}
