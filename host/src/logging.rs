//! Structured logs of the daemons (`cpg-coordinator`, `cpg-node`).

/// Log to stderr with `tracing`: the level from `RUST_LOG` (default `info`,
/// with openraft and tarpc at `warn`), colours only on a terminal, JSON lines
/// when `CPG_LOG_FORMAT` is `json`.
pub fn init() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn,tarpc=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if std::env::var("CPG_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
