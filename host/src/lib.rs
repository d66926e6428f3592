//! What a process of the CPG service takes from its host: durable files on
//! its disk (`durable`: checksummed whole files and record logs), its own
//! vitals from `/proc` (`vitals`), configuration files and environment
//! (`config`), structured logs on stderr (`logging`), and how glibc's
//! malloc is tuned (`malloc`).

pub mod config;
pub mod durable;
pub mod logging;
pub mod malloc;
pub mod vitals;

/// A daemon's exit: success, or its error on stderr after the program's
/// name and a failing status.
pub fn exit_code<E: std::fmt::Display>(
    program: &str,
    result: Result<(), E>,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
