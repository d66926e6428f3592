//! `cpg-node`: a storage node that serves its assigned partitions.
//!
//! The network service, persistence and heartbeats arrive with the cluster
//! issue (#3); until then the partition engine runs embedded in `cpg`.
