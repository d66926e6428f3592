//! Talking to storage nodes: a client that redials restarted nodes, routed
//! ingest (parse on the nodes, write to every replica) and scatter-gather of
//! partition summaries with per-round deadlines and replica failover. The
//! global analyses then run on the gathered summaries with the same code as
//! in embedded mode.

pub mod gather;
pub mod ingest;

pub use gather::{gather_partitions, gather_summaries, Gathered, GatheredPartitions, Hedging};
pub use ingest::{held_files, ingest, Held, IngestReport};
pub use net::node_client::{CallError, NodeClient};
