//! Work the coordinator does for clients that cannot run the `cpg` CLI's
//! side of it (the HTTP API): an ingest of uploaded files, driven from the
//! coordinator exactly as `cpg ingest` drives it, and the nodes' diagnoses.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use proto::coordinator_api::IngestRecord;
use proto::node_api::SourceUpload;
use proto::{CpgError, NodeDiagnosisReport};
use serde::Serialize;

use crate::raft::{Command, CommandResult};
use crate::service::Coordinator;
use codebase::driver::{self, Upload};
use codebase::ingest::IngestReport;
use codebase::sources::Source;
use net::node_client::NodeClient;
use proto::assignment::NodeId;
use proto::coordinator_api::{CatalogFile, CatalogListing, ClusterView};

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
    /// ingested. Then recorded in the catalog through the leader. The ingest
    /// driver is `cpg ingest`'s.
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
        let files = files.into_iter().map(Source::read).collect();
        let named = codebase::projects::name_sources(project, files, &versions).map_err(invalid)?;
        let upload = Upload {
            project: project.to_string(),
            sources: named.sources,
            libraries: (!partial).then_some(named.libraries),
            partial,
        };
        let (report, generation) = driver::run(self, &upload, &|_| {}).await?;
        Ok(UploadReport { report, generation })
    }

    /// What the catalog records: each file's content hash, and the
    /// projects (a linearizable read).
    pub async fn catalog_listing(&self) -> Result<CatalogListing, CpgError> {
        self.read_barrier().await?;
        Ok(self.sm.read(|s| CatalogListing {
            files: s
                .catalog
                .iter()
                .map(|(f, e)| (f.clone(), e.content_hash))
                .collect(),
            without_modules: s
                .catalog
                .iter()
                .filter(|(_, e)| e.modules.is_empty())
                .map(|(f, _)| f.clone())
                .collect(),
            projects: s.project_infos(),
        }))
    }

    /// The whole catalog at one generation (a linearizable read), for a
    /// backup.
    pub async fn catalog_backup(&self) -> Result<proto::coordinator_api::CatalogBackup, CpgError> {
        self.read_barrier().await?;
        Ok(self.sm.read(|s| proto::coordinator_api::CatalogBackup {
            generation: s.generation,
            partitions: s.config.partitions,
            replication: s.config.replication,
            files: s
                .catalog
                .iter()
                .map(|(f, e)| CatalogFile {
                    file: f.clone(),
                    content_hash: e.content_hash,
                    modules: e.modules.clone(),
                    diagnostics: e.diagnostics.clone(),
                })
                .collect(),
            projects: s
                .projects
                .iter()
                .map(|(name, p)| (name.clone(), p.libraries.iter().cloned().collect()))
                .collect(),
        }))
    }

    /// Commit a `RecordIngest`: here if this member leads, else on the
    /// leader through the one leader-seeking road every client takes
    /// ([`net::coordinator_client::on_leader`]: redirects followed, an
    /// election waited out).
    async fn record_through_leader(&self, record: IngestRecord) -> Result<u64, CpgError> {
        use net::coordinator_client::{on_leader, LeaderError, WRITE_LEADER_WAIT};
        if self.is_leader() {
            match self.write(Command::RecordIngest(record.clone())).await {
                Ok(CommandResult::Generation(g)) => return Ok(g),
                Ok(CommandResult::Rejected(reason)) => {
                    return Err(CpgError::InvalidInput { reason })
                }
                Ok(CommandResult::Ok) => return Ok(self.view().generation),
                // Leadership lost meanwhile: ask the new leader.
                Err(_) => {}
            }
        }
        let members: Vec<String> = {
            let metrics = self.raft.metrics().borrow().clone();
            let membership = metrics.membership_config.membership();
            membership.nodes().map(|(_, n)| n.addr.clone()).collect()
        };
        let recorded = on_leader(&members, self.leader_address(), WRITE_LEADER_WAIT, |c| {
            let record = record.clone();
            async move {
                let mut ctx = tarpc::context::current();
                ctx.deadline = std::time::Instant::now() + Duration::from_secs(30);
                c.record_ingest(ctx, record).await
            }
        })
        .await;
        recorded.map_err(|e| {
            let last = match e {
                LeaderError::Refused(e) => return e,
                LeaderError::NoLeader(last) => last,
                LeaderError::Unreachable(errors) => errors.join("; "),
            };
            CpgError::NoQuorum {
                reason: format!("the data is on the replicas, but no leader recorded the ingest ({last}); upload again"),
            }
        })
    }

    /// Every registered node's diagnosis (decommissioned ones left out).
    pub async fn diagnose(&self) -> Vec<NodeDiagnosisReport> {
        let view = self.view();
        self.ask_nodes(&view, Duration::from_secs(120), |c, ctx| async move {
            c.diagnose(ctx).await.map(Ok)
        })
        .await
        .into_iter()
        .map(|(n, r)| NodeDiagnosisReport::of(n.id, n.address, r))
        .collect()
    }
}

/// The cluster as the ingest driver reaches it from a coordinator: its own
/// replica of the state machine (after a read barrier) and the leader.
impl driver::Cluster for Coordinator {
    type Error = CpgError;

    async fn view(&self) -> Result<ClusterView, CpgError> {
        self.read_barrier().await?;
        Ok(Coordinator::view(self))
    }

    async fn listing(&self) -> Result<CatalogListing, CpgError> {
        self.catalog_listing().await
    }

    async fn catalog_backup(&self) -> Result<proto::coordinator_api::CatalogBackup, CpgError> {
        Coordinator::catalog_backup(self).await
    }

    async fn record(&self, _leader: Option<String>, record: IngestRecord) -> Result<u64, CpgError> {
        self.record_through_leader(record).await
    }

    fn nodes(&self, view: &ClusterView) -> Result<HashMap<NodeId, Arc<NodeClient>>, CpgError> {
        Ok(self.queries.clients(view))
    }

    fn service_error(error: &CpgError) -> Option<&CpgError> {
        Some(error)
    }
}
