//! A coordinator or storage node run inside the test program: the same
//! daemon code as `cpg-coordinator` and `cpg-node` (`daemon::serve` with the
//! same flags), on a runtime of its own whose threads carry the member's
//! name, so the links it dials can be cut or slowed (`net::faults`). A
//! crash drops the runtime at once (tasks stop where they are, like
//! `kill -9`); the data dir stays for a restart.

use std::time::{Duration, Instant};

use clap::Parser;

/// A daemon's `serve`, until it returns.
type Served = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>>;

/// `argv` read as a daemon's command line; a mistake fails the test,
/// naming the member.
fn flags<A: Parser>(name: &str, argv: &[String]) -> A {
    A::try_parse_from(argv).unwrap_or_else(|e| panic!("{name}'s flags: {e}"))
}

/// A member running in this process.
#[derive(Debug)]
pub struct Member {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Set when its daemon returned (stopped, or failed).
    exited: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Member {
    /// Start `program`'s daemon named `name` with `args` (its command line
    /// without the program); links are plain TCP.
    pub fn start(name: &str, program: &str, args: &[String]) -> Member {
        let coordinator = match program {
            "cpg-coordinator" => true,
            "cpg-node" => false,
            _ => panic!("{program} does not run in the test program"),
        };
        let mut argv = vec![program.to_string()];
        argv.extend(args.iter().cloned());
        if !argv.iter().any(|a| a == "--insecure") {
            argv.push("--insecure".into());
        }
        let member = name.to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .on_thread_start(move || net::faults::enter(&member))
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime for {name}: {e}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stopped = async move {
            let _ = rx.await;
        };
        let name = name.to_string();
        let exited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = exited.clone();
        let exit = move || done.store(true, std::sync::atomic::Ordering::Release);
        let served: Served = if coordinator {
            Box::pin(coordinator::daemon::serve(flags(&name, &argv), stopped))
        } else {
            Box::pin(node::daemon::serve(flags(&name, &argv), stopped))
        };
        runtime.spawn(async move {
            if let Err(e) = served.await {
                eprintln!("{name} stopped: {e}");
            }
            exit();
        });
        Member {
            runtime: Some(runtime),
            stop: Some(tx),
            exited,
        }
    }

    /// Stop at once, as `kill -9` would (nothing is flushed that was not
    /// already), and wait until `addr` can be bound again.
    pub fn crash(&mut self, addr: &str) {
        self.stop.take();
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !bindable(addr) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Started, not crashed, and its daemon has not returned.
    pub fn running(&self) -> bool {
        self.runtime.is_some() && !self.exited.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Whether a listener could bind `addr` now (as a listener binds: with
/// `SO_REUSEADDR`, so connections in `TIME_WAIT` do not count).
fn bindable(addr: &str) -> bool {
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else {
        return true;
    };
    tokio::net::TcpSocket::new_v4()
        .and_then(|s| {
            s.set_reuseaddr(true)?;
            s.bind(addr)
        })
        .is_ok()
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}
