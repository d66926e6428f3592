//! `cpg-node`: parse flags, run the node, report errors.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: node::daemon::Args = host::config::parse();
    host::logging::init();
    match node::daemon::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cpg-node: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
