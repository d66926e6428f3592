//! Reaching the coordinators: the one place a coordinator client is dialled
//! ([`connect`]), a request sent to whichever coordinator answers first
//! ([`first`]), and a leader-only request sent to the Raft leader,
//! following `NotLeader` redirects and waiting out an election
//! ([`on_leader`]). The waits are defined here once, for every caller.

use std::future::Future;
use std::time::{Duration, Instant};

use proto::coordinator_api::CoordinatorServiceClient;
use proto::CpgError;

/// How long a write (recording an ingest, a cluster change) waits for a
/// leader to take it: the CLI and the HTTP API alike. Longer than a read's
/// wait (five Raft leases: 5 s at the default heartbeat): a client has sent
/// its data already, and an election after the leader died takes a few
/// heartbeats.
pub const WRITE_LEADER_WAIT: Duration = Duration::from_secs(30);

/// Time to open a connection to a coordinator.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A client of the coordinator at `address` (TLS as the process is set up).
pub async fn connect(
    address: &str,
    timeout: Duration,
) -> std::io::Result<CoordinatorServiceClient> {
    let transport = crate::wire::dial(address, timeout).await?;
    Ok(CoordinatorServiceClient::new(tarpc::client::Config::default(), transport).spawn())
}

/// The cluster view of the coordinator at `address`, if it answers (a
/// connection within 1 s, the view within 2 s more): what a tool polling
/// for a state wants, which asks again rather than says why.
pub async fn view_at(address: &str) -> Option<proto::coordinator_api::ClusterView> {
    let client = connect(address, Duration::from_secs(1)).await.ok()?;
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + Duration::from_secs(2);
    client.cluster_view(ctx).await.ok()?.ok()
}

/// What one coordinator said to a request sent with [`first`].
#[derive(Debug)]
pub enum Reply<T, E> {
    /// The answer: done.
    Done(T),
    /// A failure the next coordinator may not have (why, for the message).
    Next(String),
    /// A failure every coordinator would give.
    Fail(E),
}

impl<T, E> Reply<T, E> {
    /// A call's outcome where any failure, the coordinator's or the link's,
    /// is worth asking the next coordinator about.
    pub fn or_next<C: std::fmt::Display, D: std::fmt::Display>(
        outcome: Result<Result<T, D>, C>,
    ) -> Reply<T, E> {
        match outcome {
            Ok(Ok(answer)) => Reply::Done(answer),
            Ok(Err(e)) => Reply::Next(e.to_string()),
            Err(e) => Reply::Next(e.to_string()),
        }
    }
}

/// Why [`first`] has no answer.
#[derive(Debug)]
pub enum NoAnswer<E> {
    /// A coordinator gave a failure every coordinator would give.
    Failed(E),
    /// Every coordinator failed or could not be reached: each one's error.
    Unreachable(Vec<String>),
}

/// Send a request to each coordinator in turn until one answers.
pub async fn first<T, E, F, Fut>(coordinators: &[String], request: F) -> Result<T, NoAnswer<E>>
where
    F: Fn(CoordinatorServiceClient) -> Fut,
    Fut: Future<Output = Reply<T, E>>,
{
    let mut errors = Vec::new();
    for address in coordinators {
        let client = match connect(address, CONNECT_TIMEOUT).await {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{address}: {e}"));
                continue;
            }
        };
        match request(client).await {
            Reply::Done(v) => return Ok(v),
            Reply::Next(why) => errors.push(format!("{address}: {why}")),
            Reply::Fail(e) => return Err(NoAnswer::Failed(e)),
        }
    }
    Err(NoAnswer::Unreachable(errors))
}

/// Why coordinators could not be reached (each one's error), and what to
/// do about it: one message for every client.
pub fn unreachable_message(errors: &[String]) -> String {
    let all = |needle: &str| !errors.is_empty() && errors.iter().all(|e| e.contains(needle));
    let any = |needle: &str| errors.iter().any(|e| e.contains(needle));
    let hint = if all("Connection refused") {
        "nothing listens there: is the cluster running? `cpg dev-cluster up` starts a local one (its addresses: `cpg dev-cluster status`), or leave out --coordinator to analyze a folder in this process"
    } else if any("lookup address") || any("Name or service not known") {
        "a host name does not resolve: check --coordinator (or CPG_COORDINATOR)"
    } else if any("certificate") || any("tls") || any("TLS") || any("handshake") {
        "the cluster and this client disagree on TLS: a cluster started with --certs-dir needs --certs-dir here (the CA and a client certificate from `cpg cert create-client`); one started --insecure needs --insecure"
    } else if any("no answer within") || any("timed out") || any("deadline") {
        "no answer in time: the process may be paused or overloaded, or a firewall drops the connection"
    } else {
        "check that the coordinators are running and that --coordinator (or CPG_COORDINATOR) names them"
    };
    format!("no coordinator answered: {}\n  {hint}", errors.join("; "))
}

/// What [`on_leader`] gives up with.
#[derive(Debug)]
pub enum LeaderError {
    /// The request was refused for a reason every member would give.
    Refused(CpgError),
    /// No leader took it within the wait; the last failure seen.
    NoLeader(String),
    /// No coordinator could be reached at all (each one's error).
    Unreachable(Vec<String>),
}

/// Send a leader-only request to the Raft leader: the `hint` first, then
/// every coordinator, following `NotLeader` redirects, for up to `wait`
/// (an election may be under way).
pub async fn on_leader<T, F, Fut>(
    coordinators: &[String],
    hint: Option<String>,
    wait: Duration,
    request: F,
) -> Result<T, LeaderError>
where
    F: Fn(CoordinatorServiceClient) -> Fut,
    Fut: Future<Output = Result<Result<T, CpgError>, tarpc::client::RpcError>>,
{
    let deadline = Instant::now() + wait;
    let mut next = hint;
    let mut last = String::from("no coordinator was tried");
    // Rounds in a row where no coordinator could even be dialled: an
    // election does not look like that, a stopped cluster does.
    let mut unreachable_rounds = 0;
    loop {
        let mut candidates: Vec<String> = next.take().into_iter().collect();
        candidates.extend(coordinators.iter().cloned());
        let mut dial_errors = Vec::new();
        let tried = candidates.len();
        for address in candidates {
            let client = match connect(&address, Duration::from_secs(2)).await {
                Ok(c) => c,
                Err(e) => {
                    last = format!("{address}: {e}");
                    dial_errors.push(last.clone());
                    continue;
                }
            };
            match request(client).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(CpgError::NotLeader { leader: Some(l) })) if l != address => {
                    next = Some(l);
                    break;
                }
                Ok(Err(e @ (CpgError::InvalidInput { .. } | CpgError::Forbidden { .. }))) => {
                    return Err(LeaderError::Refused(e))
                }
                Ok(Err(e)) => last = format!("{address}: {e}"),
                Err(e) => last = format!("{address}: {e}"),
            }
        }
        if dial_errors.len() == tried {
            unreachable_rounds += 1;
            if unreachable_rounds >= 5 {
                return Err(LeaderError::Unreachable(dial_errors));
            }
        } else {
            unreachable_rounds = 0;
        }
        if Instant::now() > deadline {
            return Err(LeaderError::NoLeader(last));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
