//! `cpg-node`: parse flags, run the node, report errors.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: node::daemon::Args = host::config::parse();
    host::logging::init();
    host::exit_code("cpg-node", node::daemon::run(args).await)
}
