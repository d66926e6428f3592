//! A storage-node client that survives the node restarting.
//!
//! tarpc clients do not reconnect: once the connection drops, every call
//! fails with `Shutdown`. `NodeClient` keeps the current connection, drops it
//! on a transport failure and dials again (once per call, with a short
//! backoff), so a restarted node is reached again without the caller noticing.

use std::future::Future;
use std::time::{Duration, Instant};

use proto::node_api::NodeServiceClient;
use proto::CpgError;
use tarpc::client::RpcError;
use tarpc::context::Context;

/// How long dialling a node may take before the node counts as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct NodeClient {
    pub node_id: proto::assignment::NodeId,
    /// `host:port`: an IP address or a name resolved at each dial (a
    /// container's or a Kubernetes pod's DNS name).
    pub addr: String,
    /// The live connection, if any. Cloning a tarpc client is cheap; the lock
    /// is only held to read or replace it, never across a call.
    conn: tokio::sync::Mutex<Option<NodeServiceClient>>,
}

/// What went wrong talking to a node, for the caller to decide on a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The node answered with an error.
    Node(CpgError),
    /// The node could not be reached, or did not answer within the deadline.
    Unreachable(String),
}

/// A failed call as the error a caller passes on: the node's own error, or
/// `Internal` saying why it could not be reached. (Replica writes classify
/// the [`CallError`] itself, not this: see the node's replica rule.)
impl From<CallError> for CpgError {
    fn from(e: CallError) -> CpgError {
        match e {
            CallError::Node(e) => e,
            CallError::Unreachable(why) => CpgError::Internal(why),
        }
    }
}

impl CallError {
    /// [`CpgError::from`], with `whose` (the node, the work) before why it
    /// could not be reached.
    pub fn naming(self, whose: impl std::fmt::Display) -> CpgError {
        match self {
            CallError::Node(e) => e,
            CallError::Unreachable(why) => CpgError::Internal(format!("{whose}: {why}")),
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Node(e) => write!(f, "{e}"),
            CallError::Unreachable(why) => f.write_str(why),
        }
    }
}

/// How long past its deadline a call may take before it counts as
/// unanswered whatever the RPC layer says.
const WEDGED_SLACK: Duration = Duration::from_secs(2);

impl NodeClient {
    pub fn new(node_id: proto::assignment::NodeId, addr: impl std::fmt::Display) -> NodeClient {
        NodeClient {
            node_id,
            addr: addr.to_string(),
            conn: tokio::sync::Mutex::new(None),
        }
    }

    async fn connection(&self) -> Result<NodeServiceClient, CallError> {
        let mut slot = self.conn.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let transport = crate::wire::dial(&self.addr, CONNECT_TIMEOUT)
            .await
            .map_err(|e| {
                CallError::Unreachable(format!("node {} at {}: {e}", self.node_id, self.addr))
            })?;
        let client = NodeServiceClient::new(tarpc::client::Config::default(), transport).spawn();
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    /// Call the node with a deadline. A broken connection is redialled once.
    pub async fn call<T, F, Fut>(&self, deadline: Duration, f: F) -> Result<T, CallError>
    where
        F: Fn(NodeServiceClient, Context) -> Fut,
        Fut: Future<Output = Result<Result<T, CpgError>, RpcError>>,
    {
        let mut last = String::new();
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let client = match self.connection().await {
                Ok(c) => c,
                Err(e) => {
                    last = format!("{e:?}");
                    continue;
                }
            };
            let mut ctx = tarpc::context::current();
            ctx.deadline = Instant::now() + deadline;
            // The RPC layer enforces the deadline; this bounds the call even
            // if a connection wedges so that it does not (seen once in a
            // test under load: a gather that never returned).
            let Ok(answer) = tokio::time::timeout(deadline + WEDGED_SLACK, f(client, ctx)).await
            else {
                self.forget().await;
                return Err(CallError::Unreachable(format!(
                    "node {} at {}: no answer within {deadline:?}",
                    self.node_id, self.addr
                )));
            };
            match answer {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => return Err(CallError::Node(e)),
                Err(RpcError::DeadlineExceeded) => {
                    return Err(CallError::Unreachable(format!(
                        "node {} at {}: no answer within {deadline:?}",
                        self.node_id, self.addr
                    )))
                }
                Err(e) => {
                    // Shutdown, send or channel failures: the connection is gone.
                    last = format!("node {} at {}: {e}", self.node_id, self.addr);
                    self.forget().await;
                }
            }
        }
        Err(CallError::Unreachable(last))
    }
}
