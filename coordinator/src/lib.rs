//! The `cpg-coordinator` daemon: a Raft member holding the cluster state
//! (`raft`), placing partitions on the hash ring (`placement`) and moving
//! them (`moves`), serving linearizable reads (`reads`), answering queries
//! from summaries gathered from the storage nodes (`gather`,
//! `query_engine`), walking point queries on the nodes when asked to
//! (`walks`), sending exports in pieces (`exports`), taking uploads and
//! serving the HTTP API and dashboard (`uploads`, `http`), and reporting
//! health (`health`). The RPC service
//! is `service`; `daemon` is the process around it.

pub mod daemon;
pub mod exports;
pub mod gather;
pub mod health;
pub mod http;
pub mod moves;
pub mod placement;
pub mod query_engine;
pub mod raft;
pub mod reads;
pub mod service;
pub mod uploads;
pub mod walks;
