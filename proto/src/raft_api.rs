//! The RPC between coordinators: openraft's messages, carried as bytes that
//! only the coordinator encodes and decodes (this crate does not depend on
//! openraft).

use serde::{Deserialize, Serialize};

use crate::error::CpgError;

/// Which openraft RPC a payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftRpc {
    AppendEntries,
    InstallSnapshot,
    Vote,
}

#[tarpc::service]
pub trait RaftService {
    /// Deliver one openraft request; the reply is the encoded
    /// `Result<response, openraft error>`.
    async fn raft(rpc: RaftRpc, payload: Vec<u8>) -> Result<Vec<u8>, CpgError>;
}
