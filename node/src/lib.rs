//! `cpg-node`: a storage node that serves its assigned partitions.
//!
//! Built so far: what the node keeps on disk (`disk`) and its tarpc service
//! (`service`). Registration and heartbeats with the coordinator arrive with
//! the rest of the cluster issue (#3).

pub mod disk;
pub mod service;
