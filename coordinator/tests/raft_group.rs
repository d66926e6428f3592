//! A three-coordinator Raft group on loopback: it elects a leader, replicates
//! metadata commands to every member's durable state machine, elects a new
//! leader when the leader dies and keeps accepting writes, and the old leader
//! catches up after restarting on its data dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proto::assignment::PartitionId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use coordinator::raft::{CatalogPut, Command, CommandResult, Raft, StateMachine};
use coordinator::service::{run, Coordinator, CoordinatorConfig};
use net::serving::Serving;
use openraft::BasicNode;

struct Member {
    raft: Raft,
    sm: StateMachine,
    server: Serving,
}

async fn start(id: u64, dir: &Path, listener: tokio::net::TcpListener) -> Member {
    let address = listener.local_addr().unwrap().to_string();
    let config = CoordinatorConfig {
        heartbeat_ms: 100,
        ..CoordinatorConfig::new(id, dir, address)
    };
    let coordinator = Coordinator::start(&config).await.unwrap();
    let (raft, sm) = (coordinator.raft.clone(), coordinator.state_machine());
    let server = Serving::spawn(|stopped| run(listener, coordinator, stopped));
    Member { raft, sm, server }
}

impl Member {
    async fn kill(&mut self) {
        self.raft.shutdown().await.unwrap();
        self.server.stop().await.unwrap();
    }
}

async fn leader_among(members: &[&Member], not: Option<u64>) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for m in members {
            let metrics = m.raft.metrics().borrow().clone();
            if let Some(l) = metrics.current_leader {
                if Some(l) != not && metrics.id == l {
                    return l;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader elected within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for(sm: &StateMachine, files: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sm.state().catalog.len() != files {
        assert!(
            tokio::time::Instant::now() < deadline,
            "state machine has {} files, expected {files}",
            sm.state().catalog.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn put(file: &str) -> Command {
    Command::RecordIngest(proto::coordinator_api::IngestRecord {
        put: vec![CatalogPut {
            file: file.into(),
            content_hash: 1,
            modules: vec![("M".into(), PartitionId(0))],
            diagnostics: vec![],
        }],
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elect_replicate_fail_over_and_catch_up() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut listeners = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for _ in 0..3 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(l.local_addr().unwrap());
        listeners.push(l);
    }
    let mut members = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        members.push(start(i as u64 + 1, dirs[i].path(), listener).await);
    }
    let nodes: BTreeMap<u64, BasicNode> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (i as u64 + 1, BasicNode::new(a.to_string())))
        .collect();
    members[0].raft.initialize(nodes).await.unwrap();

    let all: Vec<&Member> = members.iter().collect();
    let leader = leader_among(&all, None).await;
    let l = &members[leader as usize - 1];
    let written = l.raft.client_write(put("a.ex")).await.unwrap();
    assert_eq!(written.data, CommandResult::Generation(1));
    for m in &members {
        wait_for(&m.sm, 1).await;
    }

    // The leader dies; the other two elect a new one and keep writing.
    members[leader as usize - 1].kill().await;
    let rest: Vec<&Member> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 + 1 != leader)
        .map(|(_, m)| m)
        .collect();
    let new_leader = leader_among(&rest, Some(leader)).await;
    assert_ne!(new_leader, leader);
    let written = members[new_leader as usize - 1]
        .raft
        .client_write(put("b.ex"))
        .await
        .unwrap();
    assert_eq!(written.data, CommandResult::Generation(2));
    for m in &rest {
        wait_for(&m.sm, 2).await;
    }

    // The old leader restarts on its data dir and address and catches up.
    let old = leader as usize - 1;
    let listener = tokio::net::TcpListener::bind(addrs[old]).await.unwrap();
    members[old] = start(leader, dirs[old].path(), listener).await;
    wait_for(&members[old].sm, 2).await;
    assert_eq!(
        members[old].sm.state(),
        members[new_leader as usize - 1].sm.state()
    );
    for m in &mut members {
        m.kill().await;
    }
}
