//! `cpg mcp`: the Model Context Protocol server (the `mcp` crate) on
//! stdio, over a folder analysed in process or over a cluster. Standard
//! output carries the protocol only; progress goes to standard error.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use proto::{Query, QueryResult};

use super::analyses::query_cluster;
use super::deps_mode;

/// Serve MCP on stdio until the client closes it.
pub(super) fn mcp(coordinators: &[String], path: Option<PathBuf>) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let served = if coordinators.is_empty() {
            let root = path.unwrap_or_else(|| PathBuf::from("."));
            eprintln!("cpg mcp: analyzing {}", root.display());
            let started = Instant::now();
            let dir = root.clone();
            let workspace = tokio::task::spawn_blocking(move || {
                codebase::workspace::Workspace::open(&dir, deps_mode())
            })
            .await??;
            let snapshot = Arc::new(workspace.snapshot());
            eprintln!(
                "cpg mcp: {} files analyzed ({} unchanged since the last run, not parsed) in {:.1} s; serving on stdio",
                workspace.read,
                workspace.cached,
                started.elapsed().as_secs_f64()
            );
            ::mcp::Server::new(::mcp::Embedded::new(root, snapshot))
                .serve_stdio()
                .await
        } else {
            if let Some(path) = path {
                bail!(
                    "with --coordinator, the tools answer from what the cluster holds; leave {} out",
                    path.display()
                );
            }
            ::mcp::Server::new(Cluster {
                coordinators: coordinators.to_vec(),
            })
            .serve_stdio()
            .await
        };
        served.map_err(|e| anyhow::anyhow!(e))
    })
}

/// A cluster reached as a client: the project is the command line's.
struct Cluster {
    coordinators: Vec<String>,
}

impl ::mcp::Backend for Cluster {
    async fn ask(
        &self,
        _project: Option<String>,
        query: Query,
    ) -> std::result::Result<Arc<QueryResult>, String> {
        query_cluster(&self.coordinators, query)
            .await
            .map(|a| a.result)
            .map_err(|e| format!("{e:#}"))
    }

    fn describe(&self) -> String {
        "the Elixir code a cpg cluster holds".to_string()
    }
}
