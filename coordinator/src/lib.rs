//! The coordinator crate: the `cpg` command line (embedded mode, cluster
//! client and `dev-cluster`), the `cpg-coordinator` service (a Raft member
//! holding the cluster state, placing partitions on the hash ring, answering
//! queries from gathered summaries), and the client side of ingest and
//! scatter-gather.

pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod devcluster;
pub mod embedded;
pub mod health;
pub mod http;
pub mod libraries;
pub mod moves;
pub mod placement;
pub mod projects;
pub mod query;
pub mod raft;
pub mod reads;
pub mod report;
pub mod service;
pub mod sources;
pub mod uploads;
