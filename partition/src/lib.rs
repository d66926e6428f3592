//! The engine of one CPG partition: the Elixir front end, the in-memory tables
//! and indexes, the analysis cache, per-function summaries, and the global
//! graph algorithms that run on gathered summaries.
//!
//! Nothing here knows about the network, Raft or other partitions' files.

pub mod analysis;
pub mod frontend;
pub mod library;
pub mod partitioning;
pub mod store;
pub mod summary;
