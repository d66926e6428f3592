//! Structured errors that cross the wire: each carries what the caller needs
//! to act (where the leader is, the current epoch, which partitions are
//! missing, what limit was hit).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CpgError {
    /// This coordinator is not the Raft leader; retry there.
    #[error("this coordinator is not the leader (leader: {})", leader.as_deref().unwrap_or("unknown, election in progress"))]
    NotLeader { leader: Option<String> },
    /// The request was planned with an older partition map; refresh and retry.
    #[error("the request's partition map is stale; the current epoch is {current}")]
    StaleEpoch { current: u64 },
    /// These partitions have no replica able to answer.
    #[error("partitions unavailable: {partitions:?}")]
    Unavailable {
        partitions: Vec<crate::assignment::PartitionId>,
    },
    /// The request itself is wrong; retrying will not help.
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// A limit was reached (memory, frame size, queue); retry later or smaller.
    #[error("resource exhausted: {what} (limit {limit})")]
    ResourceExhausted { what: String, limit: u64 },
    /// The caller's certificate does not allow this request (a read-only
    /// client asking to ingest or change the cluster).
    #[error("not allowed: {reason}")]
    Forbidden { reason: String },
    /// A linearizable read could not be confirmed: no Raft leader answered
    /// this coordinator in time (an election, or it is cut off from the
    /// majority). Another coordinator may answer.
    #[error("this coordinator cannot confirm it has the latest cluster state: {reason}; ask another coordinator, or retry once the Raft group has a leader")]
    NoQuorum { reason: String },
    /// A fault on the serving side (a disk error, a bug); reported, not hidden.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What a [`CpgError::ResourceExhausted`] for a full disk starts with.
pub const DISK_FULL: &str = "disk space";

impl CpgError {
    /// A write refused because the disk is full: `detail` says where and
    /// what; `size` is the file system's size in bytes.
    pub fn disk_full(detail: impl std::fmt::Display, size: u64) -> CpgError {
        CpgError::ResourceExhausted {
            what: format!("{DISK_FULL}: {detail}"),
            limit: size,
        }
    }

    /// `Unavailable` naming the partitions in `missing`, unless there are
    /// none.
    pub fn none_missing(
        missing: impl IntoIterator<Item = crate::assignment::PartitionId>,
    ) -> Result<(), CpgError> {
        let partitions: Vec<_> = missing.into_iter().collect();
        if partitions.is_empty() {
            Ok(())
        } else {
            Err(CpgError::Unavailable { partitions })
        }
    }

    /// Whether this is a write refused for a full disk.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, CpgError::ResourceExhausted { what, .. } if what.starts_with(DISK_FULL))
    }
}
