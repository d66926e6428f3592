//! What a process of the CPG service takes from its host: durable files on
//! its disk (`durable`: checksummed whole files and record logs), its own
//! vitals from `/proc` (`vitals`), configuration files and environment
//! (`config`), structured logs on stderr (`logging`), how glibc's malloc is
//! tuned (`malloc`), and the `main` every daemon runs (`daemon`).

pub mod config;
pub mod daemon;
pub mod durable;
pub mod logging;
pub mod malloc;
pub mod vitals;
