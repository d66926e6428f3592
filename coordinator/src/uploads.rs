//! Work the coordinator does for clients that cannot run the `cpg` CLI's
//! side of it (the HTTP API): an ingest of uploaded files, driven from the
//! coordinator exactly as `cpg ingest` drives it, and the nodes' diagnoses.

use std::collections::BTreeMap;
use std::time::Duration;

use proto::coordinator_api::{CatalogFile, CoordinatorServiceClient};
use proto::node_api::SourceUpload;
use proto::{CpgError, NodeDiagnosis};
use serde::Serialize;

use crate::cluster::{held_files, ingest, IngestReport};
use crate::raft::{Command, CommandResult};
use crate::service::Coordinator;

/// Deadline of each node request of an upload's ingest.
const NODE_DEADLINE: Duration = Duration::from_secs(120);

/// One node's diagnosis, or why it gave none.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDiagnosisReport {
    pub node_id: u64,
    pub address: String,
    pub diagnosis: Option<NodeDiagnosis>,
    pub error: Option<String>,
}

/// What an upload's ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    #[serde(flatten)]
    pub report: IngestReport,
    /// The catalog generation after it.
    pub generation: u64,
}

impl Coordinator {
    /// Ingest `files` as `cpg ingest` would a tree holding exactly them:
    /// changed files parsed and written to every replica, files the cluster
    /// holds that are not uploaded removed — unless `partial`, which only
    /// adds and changes. Then recorded in the catalog through the leader.
    /// Starts again (up to 5 times) when a partition move changes the map.
    pub async fn ingest_upload(
        &self,
        files: Vec<SourceUpload>,
        partial: bool,
    ) -> Result<UploadReport, CpgError> {
        let mut attempt = 0;
        loop {
            let result = self.ingest_once(files.clone(), partial).await;
            match result {
                Err(CpgError::StaleEpoch { .. }) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn ingest_once(
        &self,
        files: Vec<SourceUpload>,
        partial: bool,
    ) -> Result<UploadReport, CpgError> {
        for f in &files {
            proto::node_api::check_file_name(&f.file)?;
        }
        self.read_barrier().await?;
        let view = self.view();
        let mut clients = self.queries.clients(&view);
        let silent = view.not_waited_for();
        clients.retain(|id, _| !silent.contains(id));
        let mut held = held_files(&clients, view.epoch, &view.assignment, NODE_DEADLINE).await?;
        let mut recorded: BTreeMap<String, u64> = self.sm.read(|s| {
            s.catalog
                .iter()
                .map(|(f, e)| (f.clone(), e.content_hash))
                .collect()
        });
        if partial {
            let named: std::collections::BTreeSet<&str> =
                files.iter().map(|f| f.file.as_str()).collect();
            held.retain(|f, _| named.contains(f.as_str()));
            recorded.retain(|f, _| named.contains(f.as_str()));
        }
        let report = ingest(
            &clients,
            view.epoch,
            view.partitions,
            &view.writable(),
            &held,
            Some(&recorded),
            files,
            NODE_DEADLINE,
            &|_| {},
        )
        .await?;
        let mut generation = view.generation;
        if !report.put.is_empty() || !report.removed.is_empty() || !report.missed.is_empty() {
            generation = self
                .record_through_leader(
                    report.put.clone(),
                    report.removed.clone(),
                    report.missed.clone(),
                )
                .await?;
        }
        Ok(UploadReport { report, generation })
    }

    /// Commit a `RecordIngest`: here if this member leads, else on the
    /// leader (waiting out an election, as reads do).
    async fn record_through_leader(
        &self,
        put: Vec<CatalogFile>,
        removed: Vec<String>,
        missed: Vec<(u32, u64)>,
    ) -> Result<u64, CpgError> {
        let give_up = std::time::Instant::now() + crate::reads::LEADER_WAIT;
        loop {
            let attempt = if self.is_leader() {
                let command = Command::RecordIngest {
                    put: put.clone(),
                    removed: removed.clone(),
                    missed: missed.clone(),
                };
                match self.write(command).await {
                    Ok(CommandResult::Generation(g)) => Ok(g),
                    Ok(CommandResult::Rejected(reason)) => {
                        return Err(CpgError::InvalidInput { reason })
                    }
                    Ok(CommandResult::Ok) => Ok(self.view().generation),
                    Err(e) => Err(e),
                }
            } else {
                match self.leader_address() {
                    None => Err(CpgError::NotLeader { leader: None }),
                    Some(leader) => {
                        record_at(&leader, put.clone(), removed.clone(), missed.clone()).await
                    }
                }
            };
            match attempt {
                Ok(g) => return Ok(g),
                Err(e @ (CpgError::InvalidInput { .. } | CpgError::Forbidden { .. })) => {
                    return Err(e)
                }
                Err(e) if std::time::Instant::now() >= give_up => {
                    return Err(CpgError::NoQuorum {
                        reason: format!("the data is on the replicas, but no leader recorded the ingest ({e}); upload again"),
                    })
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Every registered node's diagnosis (decommissioned ones left out).
    pub async fn diagnose(&self) -> Vec<NodeDiagnosisReport> {
        let view = self.view();
        self.ask_nodes(&view, Duration::from_secs(120), |c, ctx| async move {
            c.diagnose(ctx).await.map(Ok)
        })
        .await
        .into_iter()
        .map(|(n, r)| NodeDiagnosisReport {
            node_id: n.id,
            address: n.address,
            diagnosis: r.as_ref().ok().cloned(),
            error: r.err(),
        })
        .collect()
    }
}

async fn record_at(
    leader: &str,
    put: Vec<CatalogFile>,
    removed: Vec<String>,
    missed: Vec<(u32, u64)>,
) -> Result<u64, CpgError> {
    let transport = proto::wire::dial(leader, Duration::from_secs(3))
        .await
        .map_err(|e| CpgError::Internal(format!("leader {leader}: {e}")))?;
    let client = CoordinatorServiceClient::new(tarpc::client::Config::default(), transport).spawn();
    let mut ctx = tarpc::context::current();
    ctx.deadline = std::time::Instant::now() + Duration::from_secs(30);
    client
        .record_ingest(ctx, put, removed, missed)
        .await
        .map_err(|e| CpgError::Internal(format!("leader {leader}: {e}")))?
}
