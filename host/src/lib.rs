//! What a process of the CPG service takes from its host: durable files on
//! its disk (`durable`: checksummed whole files and record logs), its own
//! vitals from `/proc` (`vitals`), configuration files and environment
//! (`config`), and structured logs on stderr (`logging`).

pub mod config;
pub mod durable;
pub mod logging;
pub mod vitals;
