//! `cpg-node`: a storage node that serves its assigned partitions.
//!
//! Built so far: what the node keeps on disk (`disk`). The network service
//! and heartbeats arrive with the rest of the cluster issue (#3); until then
//! the partition engine runs embedded in `cpg`.

pub mod disk;
