//! The node's tarpc service: what each RPC checks (the peer's role, the
//! node's vouched data) before it calls into [`Node`].

use super::*;

/// The service for one connection, with what its peer may do.
#[derive(Debug, Clone)]
struct NodeServer {
    node: Arc<Node>,
    peer: Role,
}

impl NodeServer {
    /// The checks before a read of `partitions` at `epoch` (`what`:
    /// summaries, file hashes), and when it started, for the node's read
    /// latencies.
    async fn start_read(
        &self,
        what: &str,
        epoch: u64,
        partitions: &[PartitionId],
    ) -> Result<std::time::Instant, CpgError> {
        self.peer.allows(Role::ReadOnly, what)?;
        // An empty answer from a node that lost its data would make a pull
        // from it delete its target's files, or an ingest skip removals.
        self.node.vouched(partitions)?;
        let started = std::time::Instant::now();
        self.node
            .check_at(epoch, partitions.iter().copied())
            .await?;
        Ok(started)
    }
}

impl NodeService for NodeServer {
    async fn walk_table(
        self,
        _: Context,
        project: String,
        partition: PartitionId,
        key: u64,
        table: proto::walks::WalkTable,
    ) -> Result<(), CpgError> {
        self.peer.allows(Role::Cluster, "walk_table")?;
        proto::projects::check_project(&project)
            .map_err(|reason| CpgError::InvalidInput { reason })?;
        let node = self.node.clone();
        blocking(move || node.keep_walk_table(project, partition, key, table)).await
    }

    async fn expand(
        self,
        _: Context,
        project: String,
        partition: PartitionId,
        key: u64,
        direction: proto::walks::Direction,
        functions: Vec<proto::Mfa>,
    ) -> Result<Option<Vec<proto::Mfa>>, CpgError> {
        self.peer.allows(Role::ReadOnly, "expand")?;
        Ok(self
            .node
            .expand(project, partition, key, direction, &functions))
    }

    async fn ingest(
        self,
        _: Context,
        epoch: u64,
        partitions: u32,
        files: Vec<IngestFile>,
        removed: Vec<RemovedFile>,
    ) -> Result<IngestReply, CpgError> {
        self.peer.allows(Role::ReadWrite, "ingest")?;
        if partitions == 0 {
            return Err(CpgError::InvalidInput {
                reason: "partition count must be at least 1".into(),
            });
        }
        for f in &files {
            proto::node_api::check_file_name(&f.upload.file)?;
        }
        for r in &removed {
            proto::node_api::check_file_name(&r.file)?;
            if let Some(p) = r.before.iter().find(|p| p.0 >= partitions) {
                return Err(CpgError::InvalidInput {
                    reason: format!("{}: partition {p} of {partitions}", r.file),
                });
            }
        }
        self.node.check_at(epoch, std::iter::empty()).await?;
        self.node.admit_ingest_batch("an ingest")?;
        let map = self.node.map();
        if map.epoch != epoch {
            return Err(CpgError::StaleEpoch { current: map.epoch });
        }
        let before: BTreeMap<String, Vec<PartitionId>> = files
            .iter()
            .map(|f| (f.upload.file.clone(), f.before.clone()))
            .collect();
        let uploads: Vec<SourceUpload> = files.into_iter().map(|f| f.upload).collect();
        let parsed = blocking(move || Ok(parse_files(partitions, uploads))).await?;
        let mut catalog = Vec::with_capacity(parsed.len());
        let mut writes: BTreeMap<PartitionId, Vec<PartitionWrite>> = BTreeMap::new();
        for f in parsed {
            catalog.push(CatalogFile {
                file: f.file.clone(),
                content_hash: f.content_hash,
                modules: f
                    .by_partition
                    .iter()
                    .flat_map(|(p, frags)| frags.iter().map(move |fr| (fr.name.clone(), *p)))
                    .collect(),
                diagnostics: f.diagnostics,
            });
            let now: BTreeSet<PartitionId> = f.by_partition.iter().map(|(p, _)| *p).collect();
            for p in before.get(&f.file).into_iter().flatten() {
                if !now.contains(p) {
                    writes.entry(*p).or_default().push(PartitionWrite {
                        partition: *p,
                        file: f.file.clone(),
                        content_hash: f.content_hash,
                        fragments: Vec::new(),
                    });
                }
            }
            for (p, fragments) in f.by_partition {
                writes.entry(p).or_default().push(PartitionWrite {
                    partition: p,
                    file: f.file.clone(),
                    content_hash: f.content_hash,
                    fragments,
                });
            }
        }
        // Files gone from the tree: an empty write clears each partition
        // their modules were in.
        for r in removed {
            for p in r.before {
                writes.entry(p).or_default().push(PartitionWrite {
                    partition: p,
                    file: r.file.clone(),
                    content_hash: r.content_hash,
                    fragments: Vec::new(),
                });
            }
        }
        let count = writes.values().map(|w| w.len() as u64).sum();
        let missed = self.node.replicate(&map, writes).await?;
        Ok(IngestReply {
            files: catalog,
            writes: count,
            missed,
        })
    }

    async fn write(
        self,
        _: Context,
        epoch: u64,
        writes: Vec<PartitionWrite>,
    ) -> Result<u64, CpgError> {
        self.peer.allows(Role::ReadWrite, "write")?;
        self.node
            .check_at(epoch, writes.iter().map(|w| w.partition))
            .await?;
        self.node.admit_ingest_batch("a write")?;
        let node = self.node.clone();
        blocking(move || node.write_blocking(writes)).await
    }

    async fn summaries(
        self,
        _: Context,
        epoch: u64,
        partitions: Vec<PartitionId>,
    ) -> Result<Vec<PartitionSummaries>, CpgError> {
        let started = self.start_read("summaries", epoch, &partitions).await?;
        let node = self.node.clone();
        let out = blocking(move || {
            Ok(partitions
                .into_iter()
                .map(|p| {
                    let store = node.store(p);
                    // Every coordinator gathers the same replies after an
                    // ingest: encoded once per generation, sent as they are.
                    let modules = store.cached("summaries", || {
                        EncodedSummaries::encode(store.summaries().iter().map(|m| &**m))
                    });
                    PartitionSummaries {
                        partition: p,
                        generation: store.generation(),
                        modules: (*modules).clone(),
                    }
                })
                .collect())
        })
        .await?;
        self.node.reads.record(started.elapsed());
        Ok(out)
    }

    async fn file_hashes(
        self,
        _: Context,
        epoch: u64,
        partitions: Vec<PartitionId>,
    ) -> Result<Vec<(PartitionId, String, u64)>, CpgError> {
        let started = self.start_read("file hashes", epoch, &partitions).await?;
        let mut out = Vec::new();
        for p in partitions {
            let store = self.node.store(p);
            let t = store.read();
            for (file, hash) in &t.file_hashes {
                out.push((p, t.str(*file).to_string(), *hash));
            }
        }
        out.sort();
        self.node.reads.record(started.elapsed());
        Ok(out)
    }

    async fn export(
        self,
        _: Context,
        epoch: u64,
        partition: PartitionId,
        files: Vec<String>,
        max_bytes: u64,
    ) -> Result<Vec<PartitionWrite>, CpgError> {
        // Moves, and backups by a read-write client.
        self.peer.allows(Role::ReadWrite, "export")?;
        self.node.vouched(&[partition])?;
        self.node.check_at(epoch, [partition]).await?;
        let node = self.node.clone();
        let max_bytes = max_bytes.min(net::wire::MAX_FRAME as u64 / 2);
        blocking(move || node.export_blocking(partition, files, max_bytes)).await
    }

    async fn pull(
        self,
        _: Context,
        epoch: u64,
        partition: PartitionId,
        from: NodeId,
    ) -> Result<PullReport, CpgError> {
        self.peer.allows(Role::Cluster, "pull")?;
        let report = self.node.pull(epoch, partition, from).await?;
        tracing::info!(
            partition = partition.0,
            from = from.0,
            files = report.files,
            copied = report.copied,
            removed = report.removed,
            "pulled a partition"
        );
        Ok(report)
    }

    async fn assign(self, _: Context, map: NodeMap) -> Result<(), CpgError> {
        self.peer.allows(Role::Cluster, "assign")?;
        if self.node.set_map(map) {
            Ok(())
        } else {
            Err(CpgError::StaleEpoch {
                current: self.node.epoch.load(Ordering::Acquire),
            })
        }
    }

    async fn health(self, _: Context) -> NodeHealth {
        self.node.health()
    }

    async fn admit_writes(self, _: Context) -> Result<(), CpgError> {
        self.peer.allows(Role::ReadWrite, "admit writes")?;
        self.node.admit_heavy("an ingest")
    }

    async fn cache_cleanup(self, _: Context) -> Result<proto::CacheCleanup, CpgError> {
        self.peer.allows(Role::ReadWrite, "cache cleanup")?;
        let removed = self.node.cache_sweep();
        let CacheStats {
            entries,
            hits,
            misses,
            ..
        } = self.node.cache_totals();
        Ok(proto::CacheCleanup {
            removed,
            entries,
            hits,
            misses,
            ttl_secs: self.node.cache_ttl.as_secs(),
        })
    }

    async fn diagnose(self, _: Context) -> proto::NodeDiagnosis {
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || node.diagnose())
            .await
            .unwrap_or_else(|e| proto::NodeDiagnosis {
                node_id: self.node.id,
                scanned_entries: 0,
                scan_ms: 0.0,
                scan_entries_per_second: 0.0,
                cache_entries: 0,
                cache_hits: 0,
                cache_misses: 0,
                cache_evictions: 0,
                cache_ttl_secs: 0,
                indicators: Vec::new(),
                recommendations: vec![proto::Recommendation {
                    indicator: "diagnosis".into(),
                    action: format!("the diagnosis failed ({e}); see the node's log"),
                }],
            })
    }

    async fn defrag(
        self,
        _: Context,
        force: bool,
    ) -> Result<Vec<proto::PartitionDefrag>, CpgError> {
        self.peer.allows(Role::ReadWrite, "defrag")?;
        let node = self.node.clone();
        blocking(move || Ok(node.defrag(force))).await
    }
}

/// Serve `node` on `listener` until `shutdown` completes (open connections
/// are closed with it). Each connection is framed with `net::wire`
/// (bounded frames); a peer sending garbage only loses its own connection.
pub async fn run(
    listener: tokio::net::TcpListener,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    net::serve_rpc!(listener, shutdown, |role| NodeServer {
        node: node.clone(),
        peer: role,
    })
}
