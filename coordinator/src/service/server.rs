//! The coordinator's tarpc service: what each RPC checks (the peer's
//! role) before it calls into [`Coordinator`].

use super::*;

/// The service for one connection, with what its peer may do.
#[derive(Clone)]
struct CoordinatorServer {
    coordinator: Arc<Coordinator>,
    peer: Role,
}

impl CoordinatorService for CoordinatorServer {
    async fn raft(self, _: Context, rpc: RaftRpc, payload: Vec<u8>) -> Result<Vec<u8>, CpgError> {
        self.peer.allows(Role::Cluster, "raft")?;
        handle_raft(&self.coordinator.raft, rpc, payload).await
    }

    async fn register_node(
        self,
        _: Context,
        id: proto::assignment::NodeId,
        address: String,
        data: proto::coordinator_api::NodeData,
    ) -> Result<ClusterView, CpgError> {
        self.peer.allows(Role::Cluster, "register node")?;
        self.coordinator.register(id, address, data).await
    }

    async fn heartbeat(
        self,
        _: Context,
        id: proto::assignment::NodeId,
    ) -> Result<ClusterView, CpgError> {
        self.peer.allows(Role::Cluster, "heartbeat")?;
        self.coordinator.heartbeat(id).await
    }

    async fn cluster_view(self, _: Context) -> Result<ClusterView, CpgError> {
        self.coordinator.linearizable_view().await
    }

    async fn record_ingest(self, _: Context, record: IngestRecord) -> Result<u64, CpgError> {
        self.peer.allows(Role::ReadWrite, "record ingest")?;
        for name in record.put.iter().map(|f| &f.file).chain(&record.removed) {
            proto::node_api::check_file_name(name)?;
        }
        if !record.missed.is_empty() {
            tracing::warn!(
                replicas = record.missed.len(),
                "an ingest's writes missed unreachable replicas: marked behind"
            );
            self.coordinator.wake.notify_one();
        }
        match self
            .coordinator
            .write(Command::RecordIngest(record))
            .await?
        {
            CommandResult::Generation(g) => Ok(g),
            CommandResult::Rejected(reason) => Err(CpgError::InvalidInput { reason }),
            CommandResult::Ok => Ok(self.coordinator.view().generation),
        }
    }

    async fn configure(
        self,
        _: Context,
        partitions: u32,
        replication: u32,
        vnodes: u32,
    ) -> Result<(), CpgError> {
        self.peer.allows(Role::ReadWrite, "configure")?;
        self.coordinator
            .configure(ClusterConfig {
                partitions,
                replication,
                vnodes,
            })
            .await
    }

    async fn query(self, _: Context, project: String, query: Query) -> Result<Answer, CpgError> {
        if matches!(query, Query::Export { .. }) {
            return Err(CpgError::InvalidInput {
                reason: "an export comes in pieces, through the export call (as cpg export asks for it), not as one answer".into(),
            });
        }
        let started = std::time::Instant::now();
        let r = self.coordinator.query(&project, &query).await;
        self.coordinator.queries.latency.record(started.elapsed());
        r
    }

    async fn export(
        self,
        _: Context,
        project: String,
        kind: proto::ExportKind,
        format: proto::ExportFormat,
        generation: Option<u64>,
        offset: u64,
    ) -> Result<proto::ExportChunk, CpgError> {
        let started = std::time::Instant::now();
        let r = self
            .coordinator
            .export_chunk(&project, kind, format, generation, offset)
            .await;
        self.coordinator.queries.latency.record(started.elapsed());
        r
    }

    async fn health(self, _: Context) -> Result<ClusterHealth, CpgError> {
        self.coordinator.health().await
    }

    async fn cache_cleanup(self, _: Context) -> Result<proto::CacheCleanup, CpgError> {
        self.peer.allows(Role::ReadWrite, "cache cleanup")?;
        Ok(self.coordinator.queries.cache_sweep().await)
    }

    async fn add_coordinator(self, _: Context, id: u64, address: String) -> Result<(), CpgError> {
        self.peer.allows(Role::ReadWrite, "add coordinator")?;
        self.coordinator.add_coordinator(id, address).await
    }

    async fn remove_coordinator(self, _: Context, id: u64) -> Result<(), CpgError> {
        self.peer.allows(Role::ReadWrite, "remove coordinator")?;
        self.coordinator.remove_coordinator(id).await
    }

    async fn linearizable_view(self, _: Context) -> Result<ClusterView, CpgError> {
        self.coordinator.linearizable_view().await
    }

    async fn read_index(self, _: Context) -> Result<u64, CpgError> {
        self.peer.allows(Role::Cluster, "read index")?;
        if !self.coordinator.is_leader() {
            return Err(CpgError::NotLeader {
                leader: self.coordinator.leader_address(),
            });
        }
        self.coordinator
            .reads
            .index(&self.coordinator.raft, self.coordinator.id)
            .await
    }

    async fn catalog_files(self, _: Context) -> Result<CatalogListing, CpgError> {
        self.coordinator.catalog_listing().await
    }

    async fn catalog_backup(
        self,
        _: Context,
    ) -> Result<proto::coordinator_api::CatalogBackup, CpgError> {
        self.coordinator.catalog_backup().await
    }

    async fn decommission_node(
        self,
        _: Context,
        id: proto::assignment::NodeId,
    ) -> Result<(), CpgError> {
        self.peer.allows(Role::ReadWrite, "decommission node")?;
        self.coordinator.decommission(id).await
    }

    async fn add_node(
        self,
        _: Context,
        id: proto::assignment::NodeId,
        address: String,
    ) -> Result<ClusterView, CpgError> {
        self.peer.allows(Role::ReadWrite, "add node")?;
        net::wire::check_address(&address).map_err(|reason| CpgError::InvalidInput { reason })?;
        let health = NodeClient::new(id, &address)
            .call(HEALTH_DEADLINE, |c, ctx| async move {
                c.health(ctx).await.map(Ok)
            })
            .await
            .map_err(|e| CpgError::InvalidInput {
                reason: format!(
                    "no storage node answers at {address} ({e:?}); start it with cpg-node --id {id} --listen {address}"
                ),
            })?;
        if health.node_id != id {
            return Err(CpgError::InvalidInput {
                reason: format!(
                    "the storage node at {address} is node {}, not {id}",
                    health.node_id
                ),
            });
        }
        self.coordinator
            .register(id, address, proto::coordinator_api::NodeData::Vouched)
            .await
    }
}

/// Serve `coordinator` on `listener` until `shutdown` (open connections are
/// closed with it). The Raft member itself is shut down by the caller.
pub async fn run(
    listener: tokio::net::TcpListener,
    coordinator: Arc<Coordinator>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    net::serve_rpc!(listener, shutdown, |role| CoordinatorServer {
        coordinator: coordinator.clone(),
        peer: role,
    })
}
