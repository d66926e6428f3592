//! `cpg-coordinator`: parse flags, run the coordinator, report errors.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: coordinator::daemon::Args = host::config::parse();
    host::logging::init();
    match coordinator::daemon::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cpg-coordinator: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
