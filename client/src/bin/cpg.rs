//! `cpg`: parse flags, run, print errors a person can act on.

use clap::Parser;

fn main() -> std::process::ExitCode {
    host::malloc::limit_arenas();
    let cli = cpg::cli::Cli::parse();
    match cpg::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cpg: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
