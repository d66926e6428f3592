//! The coordinator crate: the `cpg` command line and its embedded mode, and the
//! pieces of the Raft-replicated coordinator built so far (placement on the
//! hash ring, the Raft storage and the cluster state machine). The
//! `cpg-coordinator` service itself arrives with the rest of issue #3.

pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod devcluster;
pub mod embedded;
pub mod placement;
pub mod query;
pub mod raft;
pub mod report;
pub mod service;
