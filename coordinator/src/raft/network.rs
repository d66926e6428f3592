//! Raft between coordinators over tarpc: openraft's requests are encoded here
//! and carried as bytes by the `raft` method of
//! `proto::coordinator_api::CoordinatorService`. The client side redials a
//! peer whose connection broke (tarpc clients do not); `handle_raft` is the
//! server side, handing requests to the local `Raft`.

use std::time::{Duration, Instant};

use host::durable;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use proto::coordinator_api::{CoordinatorServiceClient, RaftRpc};
use proto::CpgError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::TypeConfig;

use proto::assignment::CoordinatorId;
/// The coordinator group's Raft handle.
pub type Raft = openraft::Raft<TypeConfig>;

/// Creates one [`Peer`] per target coordinator.
#[derive(Debug, Clone, Default)]
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: CoordinatorId, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.clone(),
            client: None,
        }
    }
}

/// The connection to one other coordinator.
#[derive(Debug)]
pub struct Peer {
    target: CoordinatorId,
    addr: String,
    client: Option<CoordinatorServiceClient>,
}

impl Peer {
    async fn connect(&mut self) -> Result<CoordinatorServiceClient, std::io::Error> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let client = net::coordinator_client::connect(&self.addr, Duration::from_secs(2)).await?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// Send one request and decode the peer's `Result<Resp, E>`. Transport
    /// failures drop the connection (redialled next time) and are reported
    /// as unreachable, which openraft retries with backoff.
    async fn send<Req, Resp, E>(
        &mut self,
        rpc: RaftRpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<CoordinatorId, BasicNode, RaftError<CoordinatorId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload = durable::encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let client = self
            .connect()
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let mut ctx = tarpc::context::current();
        ctx.deadline = Instant::now() + option.hard_ttl();
        let reply = match client.raft(ctx, rpc, payload).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return Err(RPCError::Network(NetworkError::new(&e))),
            Err(e) => {
                self.client = None;
                return Err(RPCError::Unreachable(Unreachable::new(&e)));
            }
        };
        let decoded: Result<Resp, RaftError<CoordinatorId, E>> =
            durable::decode(&reply).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        decoded.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<CoordinatorId>,
        RPCError<CoordinatorId, BasicNode, RaftError<CoordinatorId>>,
    > {
        self.send(RaftRpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<CoordinatorId>,
        RPCError<CoordinatorId, BasicNode, RaftError<CoordinatorId, InstallSnapshotError>>,
    > {
        self.send(RaftRpc::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<CoordinatorId>,
        option: RPCOption,
    ) -> Result<
        VoteResponse<CoordinatorId>,
        RPCError<CoordinatorId, BasicNode, RaftError<CoordinatorId>>,
    > {
        self.send(RaftRpc::Vote, &rpc, &option).await
    }
}

fn bad_request(e: std::io::Error) -> CpgError {
    CpgError::InvalidInput {
        reason: format!("undecodable raft message: {e}"),
    }
}

fn encode_reply<T: Serialize>(reply: &T) -> Result<Vec<u8>, CpgError> {
    durable::encode(reply).map_err(|e| CpgError::Internal(format!("cannot encode raft reply: {e}")))
}

/// The server side of one Raft RPC: decode, hand to the local Raft, encode
/// its answer (the coordinator service calls this).
pub async fn handle_raft(raft: &Raft, rpc: RaftRpc, payload: Vec<u8>) -> Result<Vec<u8>, CpgError> {
    match rpc {
        RaftRpc::AppendEntries => {
            let req: AppendEntriesRequest<TypeConfig> =
                durable::decode(&payload).map_err(bad_request)?;
            encode_reply(&raft.append_entries(req).await)
        }
        RaftRpc::InstallSnapshot => {
            let req: InstallSnapshotRequest<TypeConfig> =
                durable::decode(&payload).map_err(bad_request)?;
            encode_reply(&raft.install_snapshot(req).await)
        }
        RaftRpc::Vote => {
            let req: VoteRequest<CoordinatorId> = durable::decode(&payload).map_err(bad_request)?;
            encode_reply(&raft.vote(req).await)
        }
    }
}
