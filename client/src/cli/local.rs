//! Commands that stay on this machine: `cpg cert` and `cpg dev-cluster`.

use std::time::Duration;

use anyhow::Result;

use super::{write_stdout, CertAction, DevClusterAction};
use crate::devcluster;

pub(super) fn cert_command(action: CertAction) -> Result<()> {
    use net::certs;
    let (dir, what) = match &action {
        CertAction::CreateCa { certs_dir } => {
            certs::create_ca(certs_dir)?;
            (certs_dir, "ca.crt and ca.key".to_string())
        }
        CertAction::CreateNode { certs_dir, hosts } => {
            certs::create_node(certs_dir, hosts)?;
            (
                certs_dir,
                format!("node.crt and node.key for {}", hosts.join(", ")),
            )
        }
        CertAction::CreateClient {
            certs_dir,
            name,
            read_only,
        } => {
            certs::create_client(certs_dir, name, *read_only)?;
            let role = if *read_only {
                "read-only"
            } else {
                "read-write"
            };
            (certs_dir, format!("client.{name}.crt and .key ({role})"))
        }
    };
    write_stdout(&format!("made {what} in {}\n", dir.display()))
}

pub(super) fn dev_cluster(action: DevClusterAction) -> Result<()> {
    match action {
        DevClusterAction::Up {
            coordinators,
            nodes,
            data_dir,
            partitions,
            replication,
            base_port,
            wait_secs,
        } => {
            let options = devcluster::UpOptions {
                coordinators,
                nodes,
                partitions,
                replication,
                base_port,
                wait: Duration::from_secs(wait_secs),
            };
            let layout = devcluster::up(&data_dir, &options)?;
            let list = devcluster::coordinator_list(&layout);
            let web = layout
                .http
                .as_ref()
                .map(|a| {
                    format!(
                        "dashboard and HTTP API: http://{a}/ (OpenAPI at /api/v1/openapi.json)\n"
                    )
                })
                .unwrap_or_default();
            write_stdout(&format!(
                "dev cluster ready: {} coordinators, {} nodes, {} partitions (R={}); data and logs in {}\n\
                 its links are plain TCP on 127.0.0.1 (--insecure), no certificates;\n\
                 use it with:\n  export CPG_COORDINATOR={list} CPG_INSECURE=true\n  cpg ingest PATH\n\
                 {web}\
                 stop it with:\n  cpg dev-cluster down --data-dir {}\n",
                layout.coordinators.len(),
                layout.nodes.len(),
                layout.partitions,
                layout.replication,
                data_dir.display(),
                data_dir.display()
            ))
        }
        DevClusterAction::Status { data_dir } => write_stdout(&devcluster::status(&data_dir)?),
        DevClusterAction::Down { data_dir } => {
            let stopped = devcluster::down(&data_dir, Duration::from_secs(10))?;
            write_stdout(&format!(
                "stopped {stopped} processes; the data stays in {} (`cpg dev-cluster up --data-dir {}` brings the cluster back)\n",
                data_dir.display(),
                data_dir.display()
            ))
        }
    }
}
