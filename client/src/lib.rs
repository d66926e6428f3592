//! The `cpg` program: its command line (`cli`), embedded analyses and the
//! cluster client behind each command, the text renderings of cluster
//! reports (`health`), SARIF logs of findings for code scanning (`sarif`),
//! and a local cluster of real processes (`devcluster`).

pub mod cli;
pub mod devcluster;
pub mod health;
pub mod sarif;
