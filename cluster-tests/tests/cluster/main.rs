//! The cluster tests, in one binary: libtest runs them side by side (four
//! at a time under `scripts/test.sh`), a test that waits on a heartbeat or
//! a timeout leaving the cores to another, and the workspace links one
//! test program here instead of eleven.
//!
//! Three stay programs of their own, for what they set for their whole
//! process: `auth` (the process's TLS identity), `partition` and
//! `lossy_links` (faults on the links of in-process members, by name and
//! address).
//!
//! The tests that measure a loaded machine (the production load,
//! chaos, health: latency, scan-rate and error-rate bounds; module
//! `alone`, named to start first) run alone: they take [`alone`], and
//! every other test that starts processes takes [`shared`] first, so none
//! runs beside them.

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

mod alone;
mod backup;
mod cli_errors;
mod cluster_embedded;
mod cluster_membership;
mod compose;
mod dashboard;
mod data_format;
mod deploy_files;
mod health;
mod http_api;
mod partial_ingest;
mod processes;
mod production;
mod tidy;
mod walks;

/// The machine: shared by the ordinary tests, held alone by the measuring
/// ones.
static MACHINE: RwLock<()> = RwLock::const_new(());

/// For a test that may run beside others.
async fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// [`shared`], for a test outside an async runtime.
fn shared_blocking() -> RwLockReadGuard<'static, ()> {
    MACHINE.blocking_read()
}

/// For a test that measures the machine: none other runs meanwhile.
async fn alone() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}
