//! `cpg-coordinator`: parse flags, run the coordinator, report errors.

fn main() -> std::process::ExitCode {
    host::daemon::main("cpg-coordinator", coordinator::daemon::run)
}
