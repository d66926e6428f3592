//! Linearizable reads of the cluster metadata (Raft's ReadIndex): before a
//! member answers from its replica of the state machine, the leader
//! confirms with a quorum that it still leads and names its commit index,
//! and the member waits until it has applied that far. A read therefore
//! sees every write acknowledged before it began, whichever member answers.
//!
//! Rounds are shared: a read waits for the next round that starts after it
//! arrived, so a burst of queries costs one quorum round, not one each. A
//! member that is not the leader asks the leader for the index; while
//! there is no leader (an election), reads wait for one up to five leases
//! (about two elections: 5 s at the default 200 ms heartbeat), then fail
//! with `NoQuorum`.
//!
//! The leader also reads under its lease: once a quorum confirmed it at
//! time `t`, followers refuse to vote for anyone else until `t + lease`
//! (openraft's leader lease, the election timeout maximum), so until well
//! before then (half the lease, a margin for clock rates and scheduling) it
//! is still the only leader, and everything committed so far is in its log:
//! a read waits until it has applied its log's end, without a new round.

use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, RaftError};
use proto::coordinator_api::CoordinatorServiceClient;
use proto::CpgError;

use crate::raft::Raft;

/// Deadline of one `read_index` request to the leader.
const ASK_DEADLINE: Duration = Duration::from_secs(2);

/// One confirmed round.
#[derive(Debug, Clone, Copy)]
struct Round {
    started: Instant,
    index: u64,
    /// The term this member led in, when it confirmed as the leader.
    led: Option<u64>,
}

/// The shared rounds of one member.
pub struct ReadIndex {
    /// How long after a quorum confirmed the leader it reads without a round.
    lease: Duration,
    /// How long a read waits for a leader to confirm it.
    wait: Duration,
    /// The last round. Held while a round runs, so that reads arriving
    /// meanwhile share the next.
    last: tokio::sync::Mutex<Option<Round>>,
    /// The connection to the leader, by its address.
    leader: std::sync::Mutex<Option<(String, CoordinatorServiceClient)>>,
}

impl std::fmt::Debug for ReadIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadIndex").finish_non_exhaustive()
    }
}

impl ReadIndex {
    /// `lease` is openraft's leader lease (the election timeout maximum).
    pub fn new(lease: Duration) -> ReadIndex {
        ReadIndex {
            lease: lease / 2,
            wait: lease * 5,
            last: tokio::sync::Mutex::new(None),
            leader: std::sync::Mutex::new(None),
        }
    }

    /// Wait until this member's state machine has applied everything
    /// committed before the call.
    pub async fn barrier(&self, raft: &Raft, this: u64) -> Result<(), CpgError> {
        let index = self.index(raft, this).await?;
        raft.wait(Some(self.wait))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map_err(|e| {
                CpgError::Internal(format!("this coordinator did not catch up for a read: {e}"))
            })?;
        Ok(())
    }

    /// The commit index a read arriving now must wait for: from a round
    /// that started after it arrived.
    pub async fn index(&self, raft: &Raft, this: u64) -> Result<u64, CpgError> {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some(round) = *last {
            if round.started >= arrived {
                return Ok(round.index);
            }
            // Every query passes here: read the three figures in place
            // rather than copying the metrics (membership included).
            // The leader's log end, not its applied index: an entry it
            // committed may not be applied here yet while a follower has
            // applied it and answered from it (the chaos history check
            // found a read answering an older generation than one read
            // before it). Every entry of the log at the read's arrival that
            // was committed by then is at or below the log's end.
            let (leader, term, logged) = {
                let watch = raft.metrics();
                let m = watch.borrow();
                (m.current_leader, m.current_term, m.last_log_index)
            };
            let leading = leader == Some(this) && round.led == Some(term);
            if leading && arrived < round.started + self.lease {
                return Ok(round.index.max(logged.unwrap_or(0)));
            }
        }
        let started = Instant::now();
        let (index, led) = self.round(raft, this).await?;
        *last = Some(Round {
            started,
            index,
            led,
        });
        Ok(index)
    }

    /// One round: as the leader, confirm leadership with a quorum; else ask
    /// the leader. Waits out an election up to `wait`.
    /// The index, and the term when this member confirmed as the leader.
    async fn round(&self, raft: &Raft, this: u64) -> Result<(u64, Option<u64>), CpgError> {
        let give_up = Instant::now() + self.wait;
        loop {
            let metrics = raft.metrics().borrow().clone();
            let leader = metrics.current_leader.and_then(|id| {
                metrics
                    .membership_config
                    .membership()
                    .get_node(&id)
                    .map(|n| (id, n.addr.clone()))
            });
            let attempt = match &leader {
                Some((id, _)) if *id == this => leader_index(raft)
                    .await
                    .map(|index| (index, Some(metrics.current_term))),
                Some((id, addr)) => {
                    // Asking a leader that was cut off waits out the
                    // deadline; a new leader meanwhile is asked at once.
                    let mut watch = raft.metrics();
                    let replaced = async move {
                        while watch.changed().await.is_ok() {
                            if watch.borrow().current_leader != Some(*id) {
                                return;
                            }
                        }
                        std::future::pending::<()>().await
                    };
                    tokio::select! {
                        r = self.ask(addr) => r.map(|index| (index, None)),
                        _ = replaced => Err(CpgError::NotLeader { leader: None }),
                    }
                }
                None => Err(CpgError::NotLeader { leader: None }),
            };
            match attempt {
                Ok(index) => return Ok(index),
                Err(e) if Instant::now() >= give_up => {
                    return Err(CpgError::NoQuorum {
                        reason: format!(
                            "no Raft leader confirmed a read within {:?} ({e})",
                            self.wait
                        ),
                    })
                }
                Err(e) => {
                    tracing::debug!("linearizable read: {e}; waiting for a leader");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Ask the leader at `addr` for its read index.
    async fn ask(&self, addr: &str) -> Result<u64, CpgError> {
        let cached = self
            .leader
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(a, _)| a == addr)
            .map(|(_, c)| c.clone());
        let client = match cached {
            Some(c) => c,
            None => {
                let c = net::coordinator_client::connect(addr, ASK_DEADLINE)
                    .await
                    .map_err(|e| CpgError::Internal(format!("leader {addr}: {e}")))?;
                *self.leader.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((addr.to_string(), c.clone()));
                c
            }
        };
        let mut ctx = tarpc::context::current();
        ctx.deadline = Instant::now() + ASK_DEADLINE;
        match client.read_index(ctx).await {
            Ok(r) => r,
            Err(e) => {
                *self.leader.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Err(CpgError::Internal(format!("leader {addr}: {e}")))
            }
        }
    }
}

/// As the leader: confirm with a quorum, then the index to read at.
async fn leader_index(raft: &Raft) -> Result<u64, CpgError> {
    match raft.get_read_log_id().await {
        Ok((read, _applied)) => Ok(read.map(|l| l.index).unwrap_or(0)),
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
            Err(CpgError::NotLeader {
                leader: f.leader_node.map(|n| n.addr),
            })
        }
        // No quorum answered: this member may have lost the lead.
        Err(RaftError::APIError(e)) => {
            tracing::debug!("read index not confirmed: {e}");
            Err(CpgError::NotLeader { leader: None })
        }
        Err(e) => Err(CpgError::Internal(format!("linearizable read failed: {e}"))),
    }
}
