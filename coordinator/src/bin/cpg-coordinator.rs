//! `cpg-coordinator`: parse flags, run the coordinator, report errors.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: coordinator::daemon::Args = host::config::parse();
    host::logging::init();
    host::exit_code("cpg-coordinator", coordinator::daemon::run(args).await)
}
