//! `cpg-node`: a storage node that serves its assigned partitions.
//!
//! Built so far: what the node keeps on disk (`disk`), its tarpc service
//! (`service`) and its membership (registration and heartbeats with the
//! coordinators, `membership`). The `cpg-node` binary arrives with the rest of
//! the cluster issue (#3).

pub mod daemon;
pub mod disk;
pub mod membership;
pub mod service;
