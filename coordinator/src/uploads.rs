//! Work the coordinator does for clients that cannot run the `cpg` CLI's
//! side of it (the HTTP API): an ingest of uploaded files, driven from the
//! coordinator exactly as `cpg ingest` drives it, and the nodes' diagnoses.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proto::coordinator_api::IngestRecord;
use proto::node_api::SourceUpload;
use proto::{CpgError, NodeDiagnosis};
use serde::Serialize;

use crate::raft::{Command, CommandResult};
use crate::service::Coordinator;
use codebase::ingest::{held_files, ingest, IngestReport};

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
    /// Ingest `files` into `project` as `cpg ingest` would a tree holding
    /// exactly them: changed files parsed and written to every replica,
    /// files of the project the cluster holds that are not uploaded removed
    /// — unless `partial`, which only adds and changes (and takes no
    /// dependency's file: a library is identified by all its files). An
    /// uploaded `mix.lock` gives the dependencies' versions and is not
    /// ingested. Then recorded in the catalog through the leader. Starts
    /// again (up to 5 times) when a partition move changes the map.
    pub async fn ingest_upload(
        &self,
        project: &str,
        mut files: Vec<SourceUpload>,
        partial: bool,
    ) -> Result<UploadReport, CpgError> {
        let invalid = |reason: String| CpgError::InvalidInput { reason };
        for f in &files {
            proto::node_api::check_file_name(&f.file)?;
        }
        let versions = match files.iter().position(|f| f.file == "mix.lock") {
            Some(i) => {
                codebase::projects::lock_versions(&String::from_utf8_lossy(&files.remove(i).bytes))
            }
            None => BTreeMap::new(),
        };
        if partial {
            if let Some(f) = files
                .iter()
                .find(|f| partition::library::package_of(&f.file).is_some())
            {
                return Err(invalid(format!(
                    "{}: a partial upload takes no dependency's file (a library is identified by all its files): send deps/ in a whole upload, or use cpg ingest",
                    f.file
                )));
            }
        }
        let named = codebase::projects::name_sources(project, files, &versions).map_err(invalid)?;
        let libraries = (!partial).then_some(named.libraries);
        let mut attempt = 0;
        loop {
            let result = self
                .ingest_once(project, named.sources.clone(), libraries.clone(), partial)
                .await;
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
        project: &str,
        files: Vec<SourceUpload>,
        libraries: Option<Vec<proto::projects::LibraryId>>,
        partial: bool,
    ) -> Result<UploadReport, CpgError> {
        self.read_barrier().await?;
        let view = self.view();
        let mut clients = self.queries.clients(&view);
        let silent = view.not_waited_for();
        clients.retain(|id, _| !silent.contains(id));
        let mut held = held_files(&clients, view.epoch, &view.assignment, NODE_DEADLINE).await?;
        let (mut recorded, projects): (BTreeMap<String, u64>, _) = self.sm.read(|s| {
            let files = s
                .catalog
                .iter()
                .map(|(f, e)| (f.clone(), e.content_hash))
                .collect();
            (files, s.project_infos())
        });
        let present: BTreeSet<String> = files.iter().map(|f| f.file.clone()).collect();
        codebase::projects::scope(project, &projects, &present, &mut held, &mut recorded);
        if partial {
            held.retain(|f, _| present.contains(f));
            recorded.retain(|f, _| present.contains(f));
        }
        let libraries_changed = libraries
            .as_deref()
            .is_some_and(|l| codebase::projects::libraries_changed(&projects, project, l));
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
        if !report.put.is_empty()
            || !report.removed.is_empty()
            || !report.missed.is_empty()
            || libraries_changed
        {
            let record = IngestRecord {
                project: project.to_string(),
                libraries,
                put: report.put.clone(),
                removed: report.removed.clone(),
                missed: report.missed.clone(),
            };
            generation = self.record_through_leader(record).await?;
        }
        Ok(UploadReport { report, generation })
    }

    /// Commit a `RecordIngest`: here if this member leads, else on the
    /// leader (waiting out an election, as reads do).
    async fn record_through_leader(&self, record: IngestRecord) -> Result<u64, CpgError> {
        let give_up = std::time::Instant::now() + net::coordinator_client::WRITE_LEADER_WAIT;
        loop {
            let attempt = if self.is_leader() {
                let command = Command::RecordIngest(record.clone());
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
                    Some(leader) => record_at(&leader, record.clone()).await,
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

async fn record_at(leader: &str, record: IngestRecord) -> Result<u64, CpgError> {
    let client = net::coordinator_client::connect(leader, net::coordinator_client::CONNECT_TIMEOUT)
        .await
        .map_err(|e| CpgError::Internal(format!("leader {leader}: {e}")))?;
    let mut ctx = tarpc::context::current();
    ctx.deadline = std::time::Instant::now() + Duration::from_secs(30);
    client
        .record_ingest(ctx, record)
        .await
        .map_err(|e| CpgError::Internal(format!("leader {leader}: {e}")))?
}
