//! `cpg-coordinator`: parse flags, run the coordinator, report errors.

fn main() -> std::process::ExitCode {
    host::malloc::limit_arenas();
    run()
}

#[tokio::main]
async fn run() -> std::process::ExitCode {
    let args: coordinator::daemon::Args = host::config::parse();
    host::logging::init();
    host::exit_code("cpg-coordinator", coordinator::daemon::run(args).await)
}
