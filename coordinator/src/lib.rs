//! The coordinator crate: the `cpg` command line and its embedded mode. The
//! Raft-replicated coordinator service (`cpg-coordinator`) arrives with the
//! cluster issue (#3).

pub mod cli;
pub mod embedded;
pub mod placement;
pub mod report;
