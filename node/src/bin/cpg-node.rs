//! `cpg-node`: parse flags, run the node, report errors.

fn main() -> std::process::ExitCode {
    host::malloc::limit_arenas();
    run()
}

#[tokio::main]
async fn run() -> std::process::ExitCode {
    let args: node::daemon::Args = host::config::parse();
    host::logging::init();
    host::exit_code("cpg-node", node::daemon::run(args).await)
}
