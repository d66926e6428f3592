//! Harness for tests of a whole cluster on loopback. A [`Cluster`] owns its
//! members, data dirs and ports: real `cpg-coordinator` and `cpg-node`
//! processes ([`Cluster::start`]), or the same daemons run inside the test
//! program ([`Cluster::local`], see `member`) whose links can be cut
//! ([`Cluster::isolate`]) without root, as can those of processes started
//! with [`Builder::link_faults`]. It starts, kills (`SIGKILL`, or a
//! dropped runtime) and restarts them, and stops whatever is left when
//! dropped, so a failing test leaves nothing running.

pub mod bench;
mod http;
pub mod load;
pub mod member;
pub mod metrics;
pub mod queries;
mod scripts;
mod trees;

pub use http::{http, https, HttpResponse};
pub use trees::{
    copy_tree, corpus, example, example_copy, namespaces, rename_modules, renamed_copy,
};

pub use net::coordinator_client::view_at;
pub use scripts::{fetched, repo, succeeds};

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use net::node_client::NodeClient;
use proto::assignment::{Assignment, NodeId, PartitionId};
use proto::coordinator_api::ClusterView;
use proto::node_api::NodeServiceClient;
use proto::{Answer, ModuleSummary, Query, QueryResult};
use std::collections::HashMap;
use std::sync::Arc;

/// Where cargo put the workspace's binaries: next to this test's executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test --workspace` (which builds every binary) \
         or `cargo build --bins` first",
        path.display()
    );
    path
}

/// A free loopback port for a process to listen on, never the same twice in
/// one test process. Taken below the kernel's ephemeral range (32768 and
/// up, where outgoing connections get their local ports and `bind(0)` its
/// ports), so a port handed out cannot be taken by a connection or by
/// another test before its process binds it; each test process starts at
/// its own offset.
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive free ports, from the same range as
/// [`free_port`] (below the system's ephemeral ports, which outgoing
/// connections of other tests take meanwhile), for `--base-port`. The
/// whole range is reserved: no later call in this process hands out any
/// of its ports.
pub fn free_ports(n: u16) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(977);
    let n = u32::from(n.max(1));
    loop {
        let taken = NEXT.fetch_add(n, Ordering::Relaxed);
        let base = FIRST + start.wrapping_add(taken) % SPAN;
        // A range that would run past the span wraps: take the next.
        if base + n > FIRST + SPAN {
            continue;
        }
        let free = (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p as u16)).is_ok());
        if free {
            return base as u16;
        }
    }
}

/// Run `query` on the coordinator at `address`. A `CpgError` answer is
/// returned as `Err` with the error's text.
pub async fn query_at(address: &str, query: &Query) -> Result<Answer, String> {
    let client = net::coordinator_client::connect(address, Duration::from_secs(2))
        .await
        .map_err(|e| e.to_string())?;
    let mut ctx = tarpc::context::current();
    ctx.deadline = Instant::now() + Duration::from_secs(120);
    match client.query(ctx, String::new(), query.clone()).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("{e} ({e:?})")),
    }
}

/// One process of the cluster.
#[derive(Debug)]
pub struct Proc {
    pub id: u64,
    pub addr: String,
    pub data_dir: PathBuf,
    child: Option<Child>,
    /// Run inside the test program instead of as a child process.
    member: Option<member::Member>,
    in_process: bool,
    args: Vec<String>,
    program: PathBuf,
    /// Where a real process reads the faults of its links from
    /// (`net::faults::FILE_VAR`), in a cluster built with
    /// [`Builder::link_faults`].
    faults_file: Option<PathBuf>,
    /// The faults written there: peer address → fault.
    link_faults: std::sync::Mutex<BTreeMap<String, net::faults::Fault>>,
}

impl Proc {
    /// The member's name for link faults: its role, id and address (unique
    /// among the clusters of one test program).
    pub fn name(&self) -> String {
        let role = self
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{role}-{}@{}", self.id, self.addr)
    }

    /// Start any `program` (e.g. a wrapper around `cpg-coordinator`)
    /// as process `id` serving at `addr`, logging next to `data_dir`.
    pub fn launch(
        id: u64,
        addr: String,
        data_dir: PathBuf,
        program: PathBuf,
        args: Vec<String>,
    ) -> Proc {
        Proc::begin(id, addr, data_dir, program, args, (false, false))
    }

    fn begin(
        id: u64,
        addr: String,
        data_dir: PathBuf,
        program: PathBuf,
        args: Vec<String>,
        (in_process, link_faults): (bool, bool),
    ) -> Proc {
        let faults_file = (link_faults && !in_process).then(|| data_dir.with_extension("faults"));
        let mut p = Proc {
            id,
            addr,
            data_dir,
            child: None,
            member: None,
            in_process,
            args,
            program,
            faults_file,
            link_faults: Default::default(),
        };
        p.spawn();
        p
    }

    /// Fault (or restore, `None`) the link this process dials to
    /// `address`: rewrites its faults file, which it reads again within
    /// 50 ms.
    fn set_link_fault(&self, address: &str, fault: Option<net::faults::Fault>) {
        let Some(file) = &self.faults_file else {
            panic!(
                "{} has no faults file: build the cluster with .link_faults()",
                self.name()
            );
        };
        let mut links = self.link_faults.lock().unwrap_or_else(|e| e.into_inner());
        match fault {
            Some(f) => links.insert(address.to_string(), f),
            None => links.remove(address),
        };
        let text = net::faults::render(links.iter().map(|(a, f)| (a.as_str(), *f)));
        // Whole or not at all: the process may read it at any moment.
        let tmp = file.with_extension("faults.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, file))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
    }

    /// Its log: standard output and error, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    fn spawn(&mut self) {
        if self.in_process {
            let program = self.program.display().to_string();
            self.member = Some(member::Member::start(&self.name(), &program, &self.args));
            return;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log_path().display()));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot share the log file: {e}"));
        let mut command = Command::new(&self.program);
        // Test clusters run on loopback and the tests' own hosts: plain TCP
        // unless the test gives certificates.
        // (Not inherited either: a shell that exported CPG_INSECURE made
        // members given certificates refuse to start.)
        if self.args.iter().any(|a| a == "--certs-dir") {
            command.env_remove("CPG_INSECURE");
        } else {
            command.env("CPG_INSECURE", "true");
        }
        if let Some(file) = &self.faults_file {
            command.env(net::faults::FILE_VAR, file);
        }
        let child = command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.child = Some(child);
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut m) = self.member.take() {
            m.crash(&self.addr);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `kill -STOP`: the process stays, holding its connections, and
    /// answers nothing (a hung or overloaded process).
    pub fn pause(&mut self) {
        self.signal(rustix::process::Signal::STOP);
    }

    /// `kill -CONT` after [`Proc::pause`].
    pub fn resume(&mut self) {
        self.signal(rustix::process::Signal::CONT);
    }

    fn signal(&mut self, signal: rustix::process::Signal) {
        assert!(
            !self.in_process,
            "signals need a real process: start this cluster with Cluster::start"
        );
        if let Some(pid) = self
            .child
            .as_ref()
            .and_then(|c| rustix::process::Pid::from_raw(c.id() as i32))
        {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// Its data dir as the process sees it: through `/proc/PID/root`, so
    /// that a node started by [`Cluster::add_node_on_small_disk`] is seen
    /// on its own file system. `None` once it is not running.
    pub fn disk(&self) -> Option<PathBuf> {
        let pid = self.child.as_ref()?.id();
        let inside = self.data_dir.strip_prefix("/").ok()?;
        Some(PathBuf::from(format!("/proc/{pid}/root")).join(inside))
    }

    /// Fill the file system of its data dir (see
    /// [`Cluster::add_node_on_small_disk`]) with a file of zeros until it
    /// is full: that file, to remove when the disk is to have room again.
    pub fn fill_disk(&self) -> PathBuf {
        use std::io::Write;
        let filler = self
            .disk()
            .unwrap_or_else(|| panic!("{} is not running", self.name()))
            .join("filler");
        let mut f = std::fs::File::create(&filler)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", filler.display()));
        let block = vec![0u8; 64 << 10];
        loop {
            match f.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => return filler,
                Err(e) => panic!("filling {}: {e}", filler.display()),
            }
        }
    }

    /// Whether the process is still running (it did not exit or crash).
    pub fn running(&mut self) -> bool {
        if self.in_process {
            return self.member.as_ref().is_some_and(member::Member::running);
        }
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Start again on the same data dir and address, with `extra` flags
    /// added to its command line from now on.
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.args.extend(extra.iter().map(|s| s.to_string()));
        self.restart();
    }

    /// Start again on the same data dir and address.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The flags every member is started with: its id, where it listens and
/// its data dir.
fn member_args(id: u64, addr: &str, data_dir: &Path) -> Vec<String> {
    vec![
        "--id".into(),
        id.to_string(),
        "--listen".into(),
        addr.into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ]
}

impl Drop for Cluster {
    /// A failing test shows what its processes logged.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for p in self.coordinators.iter().chain(&self.nodes) {
            let log = std::fs::read_to_string(p.log_path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- {} (last {} lines)", p.log_path().display(), tail.len());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A cluster of real processes, or of members run in the test program.
#[derive(Debug)]
pub struct Cluster {
    pub coordinators: Vec<Proc>,
    pub nodes: Vec<Proc>,
    /// Flags given to every node (those added later too).
    extra: Vec<String>,
    /// Members run inside the test program.
    in_process: bool,
    /// Real processes whose links can be faulted ([`Builder::link_faults`]).
    link_faults: bool,
    _root: tempfile::TempDir,
}

impl Cluster {
    /// Start `coordinators` coordinators (the first initializes the group
    /// with P partitions and R replicas) and `nodes` storage nodes.
    pub fn start(coordinators: usize, nodes: usize, partitions: u32, replication: u32) -> Cluster {
        Cluster::builder(coordinators, nodes, partitions, replication).start()
    }

    /// A cluster of processes started by the caller (e.g. inside the test
    /// hosts of a test); `root` holds their data and is removed with it.
    pub fn of_processes(
        coordinators: Vec<Proc>,
        nodes: Vec<Proc>,
        root: tempfile::TempDir,
    ) -> Cluster {
        Cluster {
            coordinators,
            nodes,
            extra: Vec::new(),
            in_process: false,
            link_faults: false,
            _root: root,
        }
    }

    /// A cluster whose members run inside the test program (the same
    /// daemons, on runtimes of their own): no processes to start, and links
    /// that can be cut without root ([`Cluster::isolate`]). Signals
    /// (`pause`) need [`Cluster::start`].
    pub fn local(coordinators: usize, nodes: usize, partitions: u32, replication: u32) -> Cluster {
        Cluster::builder(coordinators, nodes, partitions, replication).local()
    }

    /// [`Cluster::start`] or [`Cluster::local`] with flags for the
    /// coordinators or the nodes: `Cluster::builder(3, 3, P, 2)
    /// .coordinator_flags(&[..]).start()`.
    pub fn builder(
        coordinators: usize,
        nodes: usize,
        partitions: u32,
        replication: u32,
    ) -> Builder {
        Builder {
            shape: (coordinators, nodes, partitions, replication),
            coordinator_flags: Vec::new(),
            node_flags: Vec::new(),
            link_faults: false,
        }
    }

    fn make(b: Builder, in_process: bool) -> Cluster {
        let (coordinators, nodes, partitions, replication) = b.shape;
        let (coordinator_extra, node_extra) = (b.coordinator_flags, b.node_flags);
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let caddrs: Vec<String> = (0..coordinators)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let init = caddrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            coordinators: Vec::new(),
            nodes: Vec::new(),
            extra: node_extra,
            in_process,
            link_faults: b.link_faults,
            _root: root,
        };
        for (i, addr) in caddrs.iter().enumerate() {
            let id = i as u64 + 1;
            let data_dir = cluster._root.path().join(format!("coordinator-{id}"));
            let mut args = member_args(id, addr, &data_dir);
            args.extend([
                "--partitions".into(),
                partitions.to_string(),
                "--replication".into(),
                replication.to_string(),
            ]);
            if i == 0 {
                args.extend(["--init".into(), init.clone()]);
            }
            // Fast elections in tests, unless the caller chooses.
            if !coordinator_extra.iter().any(|f| f == "--heartbeat-ms") {
                args.extend(["--heartbeat-ms".into(), "100".into()]);
            }
            args.extend(coordinator_extra.iter().cloned());
            let p = cluster.proc(id, addr.clone(), data_dir, args, "cpg-coordinator");
            cluster.coordinators.push(p);
        }
        for _ in 0..nodes {
            cluster.add_node();
        }
        cluster
    }

    /// Start one more coordinator (the next id) on a fresh data dir, not a
    /// member of the Raft group until `cpg cluster add-coordinator` makes it
    /// one.
    pub fn start_coordinator(&mut self) -> &Proc {
        let id = self.coordinators.len() as u64 + 1;
        let addr = format!("127.0.0.1:{}", free_port());
        let data_dir = self._root.path().join(format!("coordinator-{id}"));
        let mut args = member_args(id, &addr, &data_dir);
        args.extend(["--heartbeat-ms".into(), "100".into()]);
        let p = self.proc(id, addr, data_dir, args, "cpg-coordinator");
        self.coordinators.push(p);
        &self.coordinators[self.coordinators.len() - 1]
    }

    /// Start one more storage node (the next id) on a fresh data dir.
    pub fn add_node(&mut self) -> &Proc {
        let (id, addr, data_dir, args) = self.next_node();
        let p = self.proc(id, addr, data_dir, args, "cpg-node");
        self.nodes.push(p);
        &self.nodes[self.nodes.len() - 1]
    }

    /// Start one more storage node (the next id) whose data dir is a file
    /// system of its own, `size_kb` large: a tmpfs mounted in a mount
    /// namespace of the node's own (`unshare`, in a user namespace: no
    /// root needed). A disk that fills up for real; see [`Proc::disk`].
    /// Restarted, the node starts on an empty disk again.
    pub fn add_node_on_small_disk(&mut self, size_kb: u64) -> &Proc {
        assert!(!self.in_process, "a disk of its own needs a real process");
        let (id, addr, data_dir, args) = self.next_node();
        if let Err(e) = std::fs::create_dir_all(&data_dir) {
            panic!("cannot create {}: {e}", data_dir.display());
        }
        let mut wrapped: Vec<String> = [
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@""#,
            "sh",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        wrapped.push(format!("{size_kb}k"));
        wrapped.push(data_dir.display().to_string());
        wrapped.push(binary("cpg-node").display().to_string());
        wrapped.extend(args);
        let kind = (false, self.link_faults);
        let p = Proc::begin(id, addr, data_dir, "unshare".into(), wrapped, kind);
        self.nodes.push(p);
        &self.nodes[self.nodes.len() - 1]
    }

    /// The next node's id, address, data dir and flags.
    fn next_node(&self) -> (u64, String, PathBuf, Vec<String>) {
        let id = self.nodes.len() as u64 + 1;
        let addr = format!("127.0.0.1:{}", free_port());
        let data_dir = self._root.path().join(format!("node-{id}"));
        let mut args = member_args(id, &addr, &data_dir);
        args.extend([
            "--coordinator".into(),
            self.coordinator_list(),
            "--heartbeat-ms".into(),
            "100".into(),
        ]);
        args.extend(self.extra.iter().cloned());
        (id, addr, data_dir, args)
    }

    /// A member of this cluster's kind: `program` started with `args` as a
    /// process, or its daemon inside this test program (see `member`). It
    /// serves at `addr`, keeps its data in `data_dir` and logs next to it.
    fn proc(
        &self,
        id: u64,
        addr: String,
        data_dir: PathBuf,
        args: Vec<String>,
        program: &str,
    ) -> Proc {
        let program = if self.in_process {
            PathBuf::from(program)
        } else {
            binary(program)
        };
        let kind = (self.in_process, self.link_faults);
        Proc::begin(id, addr, data_dir, program, args, kind)
    }

    /// Every member, coordinators first.
    fn members(&self) -> impl Iterator<Item = &Proc> {
        self.coordinators.iter().chain(&self.nodes)
    }

    /// Fault (cut, slow down, reset, drop or duplicate messages) or restore
    /// (`None`) both directions of the links between `a` and `b`: members
    /// in the test program, or real processes of a cluster built with
    /// [`Builder::link_faults`] (through their faults files, read within
    /// 50 ms).
    pub fn link(&self, a: &Proc, b: &Proc, fault: Option<net::faults::Fault>) {
        if self.in_process {
            let faults = net::faults::faults();
            faults.set(&a.name(), &b.addr, fault);
            faults.set(&b.name(), &a.addr, fault);
        } else {
            a.set_link_fault(&b.addr, fault);
            b.set_link_fault(&a.addr, fault);
        }
    }

    /// Cut every link of `p` to the rest of the cluster: a network
    /// partition with `p` alone on one side. The test itself still reaches
    /// every member (as a client on either side would).
    pub fn isolate(&self, p: &Proc) {
        for q in self.members().filter(|q| q.addr != p.addr) {
            self.link(p, q, Some(net::faults::Fault::Cut));
        }
    }

    /// Set `fault` on every link between members (`None` restores them).
    pub fn fault_every_link(&self, fault: Option<net::faults::Fault>) {
        let members: Vec<&Proc> = self.members().collect();
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                self.link(a, b, fault);
            }
        }
    }

    /// Restore every link of `p`.
    pub fn heal(&self, p: &Proc) {
        for q in self.members().filter(|q| q.addr != p.addr) {
            self.link(p, q, None);
        }
    }

    /// The view of the first coordinator that answers.
    pub async fn view(&self) -> Option<ClusterView> {
        for c in &self.coordinators {
            if let Some(view) = view_at(&c.addr).await {
                return Some(view);
            }
        }
        None
    }

    /// Wait until every node is registered and placed with the configured
    /// partition count, and nodes have had time to take on the map.
    pub async fn must_be_ready(&self, partitions: u32, within: Duration) -> ClusterView {
        let deadline = Instant::now() + within;
        loop {
            if let Some(view) = self.view().await {
                let placed: std::collections::BTreeSet<NodeId> =
                    view.assignment.values().flatten().copied().collect();
                if view.partitions == partitions
                    && view.nodes.len() == self.nodes.len()
                    && placed.len() == self.nodes.len()
                    && view.assignment.len() == partitions as usize
                {
                    // Nodes learn the map from their next heartbeat reply.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if let Some(v) = self.view().await.filter(|v| v.epoch == view.epoch) {
                        return v;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "cluster not ready within {within:?}: {:?}",
                self.view().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until node `index` serves again (a restarted node loads its
    /// partitions from disk before it listens) and knows a partition map.
    pub async fn node_serves(&self, index: usize, within: Duration) {
        let addr = &self.nodes[index].addr;
        let deadline = Instant::now() + within;
        loop {
            if let Ok(transport) = net::wire::dial(addr, Duration::from_secs(1)).await {
                let client =
                    NodeServiceClient::new(tarpc::client::Config::default(), transport).spawn();
                if let Ok(health) = client.health(tarpc::context::current()).await {
                    if health.epoch > 0 {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {} at {addr} does not serve within {within:?}",
                self.nodes[index].id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Coordinator addresses, comma-separated (for `--coordinator`).
    pub fn coordinator_list(&self) -> String {
        self.coordinator_addrs().join(",")
    }

    /// Every coordinator's address, in order.
    pub fn coordinator_addrs(&self) -> Vec<String> {
        self.coordinators.iter().map(|c| c.addr.clone()).collect()
    }

    /// The Raft leader's index in `coordinators`, from any member's view.
    pub async fn leader(&self) -> Option<usize> {
        let leader = self.view().await?.leader?;
        self.coordinators.iter().position(|c| c.addr == leader)
    }

    /// Run `query` on the first coordinator that answers.
    pub async fn query(&self, query: &Query) -> Result<Answer, String> {
        let mut errors = Vec::new();
        for c in &self.coordinators {
            match query_at(&c.addr, query).await {
                Ok(a) => return Ok(a),
                Err(e) => errors.push(format!("{}: {e}", c.addr)),
            }
        }
        Err(errors.join("; "))
    }

    /// Node addresses by id, from a view.
    pub fn node_addresses(view: &ClusterView) -> BTreeMap<NodeId, String> {
        view.nodes
            .iter()
            .map(|n| (n.id, n.address.clone()))
            .collect()
    }

    /// A client for every node in `view`.
    pub fn node_clients(view: &ClusterView) -> HashMap<NodeId, Arc<NodeClient>> {
        view.nodes
            .iter()
            .map(|n| (n.id, Arc::new(NodeClient::new(n.id, &n.address))))
            .collect()
    }
}

/// A cluster to start: its shape and the flags of its members (see
/// [`Cluster::builder`]).
#[derive(Debug, Clone)]
pub struct Builder {
    shape: (usize, usize, u32, u32),
    coordinator_flags: Vec<String>,
    node_flags: Vec<String>,
    link_faults: bool,
}

impl Builder {
    /// Flags for every coordinator.
    pub fn coordinator_flags(mut self, flags: &[&str]) -> Builder {
        self.coordinator_flags = flags.iter().map(|f| f.to_string()).collect();
        self
    }

    /// Flags for every storage node (those added later too).
    pub fn node_flags(mut self, flags: &[&str]) -> Builder {
        self.node_flags = flags.iter().map(|f| f.to_string()).collect();
        self
    }

    /// Processes whose links [`Cluster::link`] can fault, as it does
    /// those of members in the test program: each reads its faults from a
    /// file beside its data dir (`net::faults::FILE_VAR`). Their links are
    /// wrapped to check for faults, so this is for tests of faults only.
    pub fn link_faults(mut self) -> Builder {
        self.link_faults = true;
        self
    }

    /// Start the members as processes.
    pub fn start(self) -> Cluster {
        Cluster::make(self, false)
    }

    /// Run the members inside the test program (see [`Cluster::local`]).
    pub fn local(self) -> Cluster {
        Cluster::make(self, true)
    }
}

/// Ingest `sources` through the nodes alone, as the ingest driver does once
/// it has the map, without a coordinator to record it: what the nodes hold
/// is asked first, so files they hold unchanged are skipped.
pub async fn ingest_through_nodes(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    (epoch, partitions): (u64, u32),
    assignment: &Assignment,
    sources: Vec<proto::node_api::SourceUpload>,
) -> Result<codebase::ingest::IngestReport, proto::CpgError> {
    let deadline = Duration::from_secs(120);
    let held = codebase::ingest::held_files(nodes, epoch, assignment, deadline).await?;
    let recorded = None;
    let progress = &|_| {};
    let sources: Vec<codebase::sources::Source> = sources
        .into_iter()
        .map(codebase::sources::Source::read)
        .collect();
    codebase::ingest::ingest(
        nodes, epoch, partitions, assignment, &held, recorded, &sources, deadline, progress,
    )
    .await
}

/// The figures that depend on the process that computed them, not on the
/// code: left out of comparisons.
pub fn comparable(result: std::sync::Arc<QueryResult>) -> QueryResult {
    match std::sync::Arc::unwrap_or_clone(result) {
        QueryResult::Analyze(mut r) => {
            r.memory_bytes = 0;
            r.peak_rss_bytes = None;
            r.build_ms = 0;
            QueryResult::Analyze(r)
        }
        other => other,
    }
}

/// The `cpg` command line, talking plain TCP to test clusters.
pub fn cpg_command() -> Command {
    let mut c = Command::new(binary("cpg"));
    c.env("CPG_INSECURE", "true");
    c
}

/// Ask `check` every 100 ms until it gives `Ok`: that value, and how long
/// it took. Fails the test after `within`, with `what` and the state the
/// last `Err` described.
pub async fn eventually<T>(
    within: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> (T, Duration) {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(done) => return (done, started.elapsed()),
            Err(state) => assert!(started.elapsed() < within, "{what}: {state}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A small deterministic generator (xorshift), for picking functions and
/// faults: a run can be replayed with its seed.
#[derive(Debug)]
pub struct Dice(pub u64);

impl Dice {
    /// The dice of query client `i`: each client draws a sequence of its
    /// own.
    pub fn for_client(i: usize) -> Dice {
        Dice(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1))
    }

    /// A number below `sides`.
    pub fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

/// Module summaries gathered from the cluster.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// Ordered by (module, file), like an embedded store's summaries.
    pub summaries: Vec<Arc<ModuleSummary>>,
    pub complete: bool,
    pub missing: Vec<PartitionId>,
    /// Why each failed replica failed (node, reason), for diagnostics.
    pub failures: Vec<(NodeId, String)>,
}

/// Gather the summaries of every partition of `assignment` at `epoch`.
pub async fn gather_summaries(
    nodes: &HashMap<NodeId, Arc<NodeClient>>,
    epoch: u64,
    assignment: &Assignment,
    deadline: Duration,
) -> Gathered {
    let all = assignment.keys().copied().collect();
    let got =
        coordinator::gather::gather_partitions(nodes, epoch, assignment, all, deadline, None).await;
    let mut summaries: Vec<Arc<ModuleSummary>> = got.partitions.into_values().flatten().collect();
    summaries.sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    Gathered {
        summaries,
        complete: got.missing.is_empty(),
        missing: got.missing,
        failures: got.failures,
    }
}
