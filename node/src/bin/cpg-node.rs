//! `cpg-node`: parse flags, run the node, report errors.

fn main() -> std::process::ExitCode {
    host::daemon::main("cpg-node", node::daemon::run)
}
