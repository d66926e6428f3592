//! `cpg dev-cluster`: a cluster of real processes on 127.0.0.1 for trying
//! things out, without containers. `up` starts coordinators and storage
//! nodes in the background (logs and data under the data dir), waits until
//! every node is placed and prints the coordinator addresses; `status` shows
//! what runs; `down` stops the processes and keeps the data. `up` on the same
//! data dir starts the same cluster (ids, addresses, data) again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use proto::coordinator_api::ClusterView;
use rustix::process::{Pid, Signal};
use serde::{Deserialize, Serialize};

/// The file in the data dir that describes the cluster.
const STATE_FILE: &str = "dev-cluster.json";

/// How the cluster was laid out when it was first started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub partitions: u32,
    pub replication: u32,
    pub coordinators: Vec<Member>,
    pub nodes: Vec<Member>,
    /// Where the first coordinator serves the HTTP API and the dashboard
    /// (absent in layouts made before it existed).
    #[serde(default)]
    pub http: Option<String>,
}

/// One process of the dev cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    pub address: String,
    /// The pid of the running process, while it runs.
    pub pid: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Coordinator,
    Node,
}

impl Role {
    fn program(self) -> &'static str {
        match self {
            Role::Coordinator => "cpg-coordinator",
            Role::Node => "cpg-node",
        }
    }

    fn dir_name(self, id: u64) -> String {
        match self {
            Role::Coordinator => format!("coordinator-{id}"),
            Role::Node => format!("node-{id}"),
        }
    }
}

/// What `up` asks for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub coordinators: usize,
    pub nodes: usize,
    pub partitions: u32,
    pub replication: u32,
    /// First port to use (coordinators, then nodes, consecutively); `None`
    /// takes free ports from the OS.
    pub base_port: Option<u16>,
    pub wait: Duration,
}

/// The program next to this executable (where cargo and `cargo install`
/// put the workspace's binaries), else from `PATH`.
fn program(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn read_layout(dir: &Path) -> Result<Option<Layout>> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is damaged; remove the data dir to start afresh",
                path.display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_layout(dir: &Path, layout: &Layout) -> Result<()> {
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(layout)?)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Whether `pid` is a live process running `program` (a pid can be reused).
fn running(pid: Option<u32>, role: Role) -> bool {
    let Some(pid) = pid else { return false };
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    // While a process is in `exec` (just spawned, or starting itself
    // again: `host::malloc`) its command line can read empty; the program
    // it runs is already its executable.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let exe = exe.to_string_lossy();
    let program = role.program();
    (String::from_utf8_lossy(argv0).ends_with(program)
        || exe.trim_end_matches(" (deleted)").ends_with(program))
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn new_layout(options: &UpOptions) -> Result<Layout> {
    if options.coordinators == 0 || options.nodes == 0 {
        bail!("a cluster needs at least one coordinator and one node");
    }
    if options.coordinators % 2 == 0 {
        bail!(
            "use an odd number of coordinators (1 or 3): Raft needs a majority, and {} coordinators tolerate no more failures than {}",
            options.coordinators,
            options.coordinators - 1
        );
    }
    let mut next = options.base_port;
    let mut port = || -> Result<u16> {
        match next.as_mut() {
            Some(p) => {
                let this = *p;
                *p = p.checked_add(1).context("--base-port is too high")?;
                Ok(this)
            }
            None => free_port(),
        }
    };
    let mut member = |i: usize| -> Result<Member> {
        Ok(Member {
            id: i as u64 + 1,
            address: format!("127.0.0.1:{}", port()?),
            pid: None,
        })
    };
    let coordinators = (0..options.coordinators)
        .map(&mut member)
        .collect::<Result<Vec<_>>>()?;
    let nodes = (0..options.nodes)
        .map(&mut member)
        .collect::<Result<Vec<_>>>()?;
    let http = Some(format!("127.0.0.1:{}", port()?));
    Ok(Layout {
        partitions: options.partitions,
        replication: options.replication,
        coordinators,
        nodes,
        http,
    })
}

fn spawn(dir: &Path, layout: &Layout, role: Role, index: usize) -> Result<u32> {
    let member = match role {
        Role::Coordinator => &layout.coordinators[index],
        Role::Node => &layout.nodes[index],
    };
    let data = dir.join(role.dir_name(member.id));
    let log_path = dir.join(format!("{}.log", role.dir_name(member.id)));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let coordinator_list = layout
        .coordinators
        .iter()
        .map(|c| c.address.clone())
        .collect::<Vec<_>>()
        .join(",");
    let mut command = Command::new(program(role.program()));
    // A local cluster on loopback: plain TCP, as `up` tells the user.
    command.arg("--insecure");
    command.args([
        "--id",
        &member.id.to_string(),
        "--listen",
        &member.address,
        "--data-dir",
        &data.display().to_string(),
    ]);
    match role {
        Role::Coordinator => {
            command.args([
                "--partitions",
                &layout.partitions.to_string(),
                "--replication",
                &layout.replication.to_string(),
            ]);
            if index == 0 {
                let init = layout
                    .coordinators
                    .iter()
                    .map(|c| format!("{}={}", c.id, c.address))
                    .collect::<Vec<_>>()
                    .join(",");
                command.args(["--init", &init]);
                // The dashboard and HTTP API, uploads included (loopback).
                if let Some(http) = &layout.http {
                    command.args(["--http-listen", http, "--http-read-write"]);
                }
            }
        }
        Role::Node => {
            command.args(["--coordinator", &coordinator_list]);
        }
    }
    // Its own process group: a Ctrl-C in this terminal does not stop it.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {} (build it with `cargo build --release --bins`)",
                role.program()
            )
        })?;
    Ok(child.id())
}

/// Whether every storage node answers (a restarted node replays its logs
/// before it listens: until then the coordinators' view may still say "up").
async fn nodes_serve(layout: &Layout) -> bool {
    for n in &layout.nodes {
        let client = net::node_client::NodeClient::new(proto::assignment::NodeId(n.id), &n.address);
        let health = client
            .call(Duration::from_secs(2), |c, ctx| async move {
                c.health(ctx).await.map(Ok)
            })
            .await;
        if health.is_err() {
            return false;
        }
    }
    true
}

/// The view of the first coordinator that answers.
pub async fn cluster_view(layout: &Layout) -> Option<ClusterView> {
    for c in &layout.coordinators {
        if let Some(v) = net::coordinator_client::view_at(&c.address).await {
            return Some(v);
        }
    }
    None
}

/// Ready as the coordinators see it: a leader, the configured partition
/// count placed, every node registered and holding partitions (and, checked
/// apart, every node answering).
fn ready(layout: &Layout, view: &ClusterView) -> bool {
    let placed: std::collections::BTreeSet<proto::assignment::NodeId> =
        view.assignment.values().flatten().copied().collect();
    view.leader.is_some()
        && view.partitions == layout.partitions
        && view.assignment.len() == layout.partitions as usize
        && layout
            .nodes
            .iter()
            .all(|n| placed.contains(&proto::assignment::NodeId(n.id)))
}

/// Start the cluster in `dir` (or start it again), wait until it is ready.
pub fn up(dir: &Path, options: &UpOptions) -> Result<Layout> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut layout = match read_layout(dir)? {
        Some(existing) => {
            if existing.coordinators.len() != options.coordinators
                || existing.nodes.len() != options.nodes
            {
                eprintln!(
                    "cpg: {} holds a cluster of {} coordinators and {} nodes; starting that one",
                    dir.display(),
                    existing.coordinators.len(),
                    existing.nodes.len()
                );
            }
            existing
        }
        None => new_layout(options)?,
    };
    let mut started = 0;
    for i in 0..layout.coordinators.len() {
        if !running(layout.coordinators[i].pid, Role::Coordinator) {
            layout.coordinators[i].pid = Some(spawn(dir, &layout, Role::Coordinator, i)?);
            started += 1;
        }
    }
    for i in 0..layout.nodes.len() {
        if !running(layout.nodes[i].pid, Role::Node) {
            layout.nodes[i].pid = Some(spawn(dir, &layout, Role::Node, i)?);
            started += 1;
        }
    }
    write_layout(dir, &layout)?;
    if started == 0 {
        eprintln!(
            "cpg: every process of the cluster in {} was running already",
            dir.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let deadline = Instant::now() + options.wait;
    loop {
        let view = runtime.block_on(cluster_view(&layout));
        if view.as_ref().is_some_and(|v| ready(&layout, v))
            && runtime.block_on(nodes_serve(&layout))
        {
            return Ok(layout);
        }
        for (role, members) in [
            (Role::Coordinator, &layout.coordinators),
            (Role::Node, &layout.nodes),
        ] {
            for m in members {
                if !running(m.pid, role) {
                    let log = dir.join(format!("{}.log", role.dir_name(m.id)));
                    // The log's last lines say why, without opening it.
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = lines[lines.len().saturating_sub(5)..].join("\n  ");
                    bail!(
                        "{} {} exited; see {}{}{}",
                        role.program(),
                        m.id,
                        log.display(),
                        if tail.is_empty() { "" } else { ":\n  " },
                        tail
                    );
                }
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the cluster was not ready within {:?} (last view: {view:?}); the logs are in {}",
                options.wait,
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The coordinator addresses, comma-separated (for `--coordinator`).
pub fn coordinator_list(layout: &Layout) -> String {
    layout
        .coordinators
        .iter()
        .map(|c| c.address.clone())
        .collect::<Vec<_>>()
        .join(",")
}

/// A table of the processes and what the cluster reports.
pub fn status(dir: &Path) -> Result<String> {
    let Some(layout) = read_layout(dir)? else {
        bail!(
            "no dev cluster in {}; start one with `cpg dev-cluster up --data-dir {}`",
            dir.display(),
            dir.display()
        );
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let view = runtime.block_on(cluster_view(&layout));
    let mut out = Vec::new();
    writeln!(
        out,
        "{:<12} {:>3}  {:<22} {:>8}  state",
        "process", "id", "address", "pid"
    )?;
    for (role, members) in [
        (Role::Coordinator, &layout.coordinators),
        (Role::Node, &layout.nodes),
    ] {
        for m in members {
            let alive = running(m.pid, role);
            let mut state = if alive { "running" } else { "stopped" }.to_string();
            if let Some(v) = &view {
                if role == Role::Coordinator && v.leader.as_deref() == Some(m.address.as_str()) {
                    state.push_str(", Raft leader");
                }
                if role == Role::Node {
                    let held = v
                        .assignment
                        .values()
                        .filter(|r| r.contains(&proto::assignment::NodeId(m.id)))
                        .count();
                    if let Some(n) = v
                        .nodes
                        .iter()
                        .find(|n| n.id == proto::assignment::NodeId(m.id))
                    {
                        state.push_str(&format!(", {} ({held} partitions)", n.state));
                    }
                }
            }
            let pid = m
                .pid
                .filter(|_| alive)
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into());
            let name = match role {
                Role::Coordinator => "coordinator",
                Role::Node => "node",
            };
            writeln!(
                out,
                "{name:<12} {:>3}  {:<22} {pid:>8}  {state}",
                m.id, m.address
            )?;
        }
    }
    match view {
        Some(v) => writeln!(
            out,
            "partitions {} (R={}), epoch {}, catalog generation {} with {} files",
            v.partitions, v.replication, v.epoch, v.generation, v.files
        )?,
        None => writeln!(out, "no coordinator answers")?,
    }
    writeln!(out, "CPG_COORDINATOR={}", coordinator_list(&layout))?;
    writeln!(out, "CPG_INSECURE=true (plain TCP on loopback)")?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn signal(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // It may have exited since it was checked: nothing to do then.
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Stop every process (SIGTERM, then SIGKILL after `grace`); keep the data.
pub fn down(dir: &Path, grace: Duration) -> Result<usize> {
    let Some(mut layout) = read_layout(dir)? else {
        bail!("no dev cluster in {}", dir.display());
    };
    let mut stopping = Vec::new();
    for (role, members) in [
        (Role::Node, &mut layout.nodes),
        (Role::Coordinator, &mut layout.coordinators),
    ] {
        for m in members.iter_mut() {
            if let Some(pid) = m.pid.filter(|_| running(m.pid, role)) {
                signal(pid, Signal::TERM);
                stopping.push((pid, role));
            }
            m.pid = None;
        }
    }
    let deadline = Instant::now() + grace;
    while stopping.iter().any(|(p, r)| running(Some(*p), *r)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (pid, role) in &stopping {
        if running(Some(*pid), *role) {
            signal(*pid, Signal::KILL);
        }
    }
    write_layout(dir, &layout)?;
    Ok(stopping.len())
}
