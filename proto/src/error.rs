//! Structured errors that cross the wire: each carries what the caller needs
//! to act (where the leader is, the current epoch, which partitions are
//! missing, what limit was hit).

use serde::{Deserialize, Serialize};

/// Encoded as the link it crosses speaks (see [`crate::encoding`]): a
/// variant newer than the link's protocol travels as the variant that
/// protocol said it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(remote = "Self")]
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
    /// A write the serving side could not make durable (its disk failing):
    /// it did not take it, and says what is left of it. A replica that
    /// answers this missed the write and is caught up later. (Protocol 17
    /// on; earlier links carry it as `Internal`.)
    #[error("not durable: {reason}")]
    NotDurable { reason: String },
}

/// The first protocol that has [`CpgError::NotDurable`].
pub const NOT_DURABLE_SINCE: u16 = 17;

impl Serialize for CpgError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CpgError::NotDurable { reason } if !crate::encoding::speaks(NOT_DURABLE_SINCE) => {
                CpgError::serialize(&CpgError::Internal(reason.clone()), s)
            }
            _ => CpgError::serialize(self, s),
        }
    }
}

impl<'de> Deserialize<'de> for CpgError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        CpgError::deserialize(d)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<CpgError> {
        vec![
            CpgError::NotLeader {
                leader: Some("127.0.0.1:1".into()),
            },
            CpgError::StaleEpoch { current: 3 },
            CpgError::Unavailable {
                partitions: vec![crate::assignment::PartitionId(2)],
            },
            CpgError::InvalidInput { reason: "r".into() },
            CpgError::ResourceExhausted {
                what: "w".into(),
                limit: 9,
            },
            CpgError::Forbidden { reason: "f".into() },
            CpgError::NoQuorum { reason: "q".into() },
            CpgError::Internal("i".into()),
            CpgError::NotDurable { reason: "d".into() },
        ]
    }

    fn binary(e: &CpgError) -> CpgError {
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(e, config).expect("encodes");
        bincode::serde::decode_from_slice(&bytes, config)
            .expect("decodes")
            .0
    }

    #[test]
    fn every_variant_decodes_as_it_was_encoded() {
        for e in every_variant() {
            assert_eq!(binary(&e), e);
            let json = serde_json::to_string(&e).expect("encodes");
            assert_eq!(serde_json::from_str::<CpgError>(&json).expect("decodes"), e);
        }
    }

    #[test]
    fn a_link_older_than_not_durable_carries_it_as_internal_and_the_rest_unchanged() {
        for e in every_variant() {
            let older = crate::encoding::at(NOT_DURABLE_SINCE - 1, || binary(&e));
            let newer = crate::encoding::at(NOT_DURABLE_SINCE, || binary(&e));
            assert_eq!(newer, e);
            match e {
                CpgError::NotDurable { reason } => assert_eq!(older, CpgError::Internal(reason)),
                e => assert_eq!(older, e),
            }
        }
    }
}
