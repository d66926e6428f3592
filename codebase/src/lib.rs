//! A code base: its Elixir files and dependencies found on disk
//! (`embedded::discover`, `libraries`), named for a cluster by project and
//! library release (`projects`), built in this process (`embedded`: the
//! CPG of a tree, and its query [`query::Snapshot`]) or sent to a cluster's
//! storage nodes (`ingest`), and backed up from a cluster and restored
//! into another (`backup`).

pub mod backup;
pub mod cache;
pub mod driver;
pub mod embedded;
pub mod ingest;
pub mod libraries;
pub mod projects;
pub mod sources;
pub mod workspace;
