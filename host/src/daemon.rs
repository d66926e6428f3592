//! What every daemon's `main` does around its own work (`cpg-coordinator`,
//! `cpg-node`): malloc tuned, flags (and the configuration file) parsed, logs
//! started, the work run on a Tokio runtime until it ends or the process is
//! asked to stop, and its error reported.

use std::future::Future;
use std::process::ExitCode;

/// Run a daemon: `run` is its work, from its parsed flags `A` until it is
/// asked to stop ([`stop_signal`]). The whole `main` of a daemon's binary.
pub fn main<A, F>(program: &str, run: impl FnOnce(A) -> F) -> ExitCode
where
    A: clap::CommandFactory + clap::FromArgMatches,
    F: Future<Output = std::io::Result<()>>,
{
    crate::malloc::limit_arenas();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return exit_code(program, Err(e)),
    };
    runtime.block_on(async {
        let args: A = crate::config::parse();
        crate::logging::init();
        exit_code(program, run(args).await)
    })
}

/// A daemon's exit: success, or its error on stderr after the program's
/// name and a failing status.
pub fn exit_code<E: std::fmt::Display>(program: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
