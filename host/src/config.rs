//! Configuration files for the daemons: `--config FILE` (or `CPG_CONFIG`)
//! names a TOML file whose keys are the command's long flags (`data-dir` or
//! `data_dir`). Precedence: a flag on the command line, then the flag's
//! environment variable (`CPG_DATA_DIR`), then the file, then the default.
//!
//! The file is read before the command line is parsed: each key is checked
//! against the command's flags and its value against the flag's parser (an
//! unknown key or a wrong value stops the process with the file and key
//! named), then handed to clap through the flag's environment variable when
//! that variable is not set already. Every flag that may be configured
//! therefore has an environment variable.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches};

/// How long a cached result lives unless `--cache-ttl-secs` says otherwise
/// (a coordinator's answers, a node's summaries).
pub const DEFAULT_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// A p99 query time above this makes a process degraded (the operations
/// guide's 500 ms).
pub const DEFAULT_SLOW_QUERY_MS: u64 = 500;

/// The flags every daemon takes, besides its own: caches, metrics, and how
/// its links are secured.
#[derive(Debug, Clone, clap::Args)]
pub struct ProcessArgs {
    /// A TOML file of settings: keys are these flags' names (`data-dir`);
    /// a CPG_* environment variable overrides a key, a flag both.
    #[arg(long, env = "CPG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Lifetime of a cached result in seconds; expired ones are swept
    /// periodically (every quarter of it) and by `cpg cache cleanup`.
    #[arg(long, env = "CPG_CACHE_TTL_SECS", default_value_t = DEFAULT_CACHE_TTL.as_secs())]
    pub cache_ttl_secs: u64,
    /// Seconds between periodic cache sweeps (default: a quarter of the
    /// TTL; 0 turns them off, leaving `cpg cache cleanup`).
    #[arg(long, env = "CPG_CACHE_SWEEP_SECS")]
    pub cache_sweep_secs: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, env = "CPG_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Certificates of this process and the cluster's CA (`ca.crt`,
    /// `node.crt`, `node.key`; made with `cpg cert`): every link is mutual
    /// TLS, and only peers with a certificate of the CA get in.
    #[arg(long, env = "CPG_CERTS_DIR")]
    pub certs_dir: Option<PathBuf>,
    /// Plain TCP on every link, without certificates: only on a trusted
    /// network (the dev-cluster and the tests use it, and say so).
    #[arg(long, env = "CPG_INSECURE")]
    pub insecure: bool,
    /// Query time (ms) above which `cpg health` calls this process
    /// degraded, when its p99 is above it.
    #[arg(long, env = "CPG_SLOW_QUERY_MS", default_value_t = DEFAULT_SLOW_QUERY_MS)]
    pub slow_query_ms: u64,
}

impl ProcessArgs {
    /// The lifetime of cached results.
    pub fn cache_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.cache_ttl_secs.max(1))
    }

    /// How often the process sweeps its caches: `--cache-sweep-secs` if
    /// given (0: never), else a quarter of the TTL, at least every second.
    pub fn sweep_interval(&self) -> Option<std::time::Duration> {
        let every = self
            .cache_sweep_secs
            .unwrap_or((self.cache_ttl_secs / 4).max(1));
        (every > 0).then(|| std::time::Duration::from_secs(every))
    }

    /// Run `sweep` every [`sweep_interval`](Self::sweep_interval), for as
    /// long as the task lives (never, when sweeps are off).
    pub fn spawn_sweeper<F, Fut>(&self, sweep: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let every = self.sweep_interval();
        tokio::spawn(async move {
            let Some(every) = every else { return };
            loop {
                tokio::time::sleep(every).await;
                sweep().await;
            }
        })
    }
}

/// The flag naming the file, and its environment variable.
pub const FLAG: &str = "config";
pub const ENV: &str = "CPG_CONFIG";

/// Parse the process's command line as `P`, with the configuration file (if
/// one is named) under it. Exits with a message on any error, like clap.
pub fn parse<P: CommandFactory + FromArgMatches>() -> P {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let command = P::command();
    if let Some(path) = named_file(&argv) {
        match read(&command, &path) {
            Ok(settings) => {
                for (env, value) in settings {
                    if std::env::var_os(&env).is_none() {
                        std::env::set_var(env, value);
                    }
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", command.get_name());
                std::process::exit(2);
            }
        }
    }
    // clap reads a flag's environment variable when the command is built:
    // build it again, now that the file's settings are there.
    let matches = P::command().get_matches_from(argv);
    P::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `--config FILE`, `--config=FILE`, or `CPG_CONFIG`.
fn named_file(argv: &[OsString]) -> Option<PathBuf> {
    let flag = format!("--{FLAG}");
    let prefix = format!("--{FLAG}=");
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == flag {
            return args.next().map(PathBuf::from);
        }
        if let Some(rest) = s.strip_prefix(&prefix) {
            return Some(PathBuf::from(rest));
        }
    }
    std::env::var_os(ENV).map(PathBuf::from)
}

/// The file's settings as `(environment variable, value)`, every key and
/// value checked against `command`'s flags.
pub fn read(command: &clap::Command, path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
    settings(command, &text).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`read`] on the file's text.
pub fn settings(command: &clap::Command, text: &str) -> Result<Vec<(String, String)>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    let keys = || {
        command
            .get_arguments()
            .filter(|a| a.get_env().is_some() && a.get_long() != Some(FLAG))
            .filter_map(|a| a.get_long())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != FLAG)
            .ok_or_else(|| format!("unknown key `{key}` (the keys are: {})", keys()))?;
        let env = arg
            .get_env()
            .and_then(|e| e.to_str())
            .ok_or_else(|| format!("`{key}` cannot be set in a file, only on the command line"))?;
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                let delimiter = arg
                    .get_value_delimiter()
                    .ok_or_else(|| format!("`{key}` takes one value, not a list"))?;
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => parts.push(s.clone()),
                        toml::Value::Integer(i) => parts.push(i.to_string()),
                        _ => return Err(format!("`{key}`: list items must be strings")),
                    }
                }
                parts.join(&delimiter.to_string())
            }
            _ => {
                return Err(format!(
                    "`{key}`: a table or date is not a value for --{long}"
                ))
            }
        };
        check(arg, key, &text)?;
        out.push((env.to_string(), text));
    }
    Ok(out)
}

/// Run the flag's own parser on `value`, so a wrong value is reported
/// against the file's key rather than an environment variable.
fn check(arg: &clap::Arg, key: &str, value: &str) -> Result<(), String> {
    if matches!(
        arg.get_action(),
        clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
    ) {
        return match value {
            "true" | "false" => Ok(()),
            v => Err(format!("`{key}` is true or false, not {v:?}")),
        };
    }
    let long = arg.get_long().unwrap_or(key);
    let alone = clap::Command::new("config")
        .no_binary_name(true)
        .arg(arg.clone().required(false));
    alone
        .try_get_matches_from([format!("--{long}"), value.to_string()])
        .map(|_| ())
        .map_err(|e| {
            let why = e.to_string();
            let why = why
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            format!("`{key}` = {value:?}: {why}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn caches_are_swept_every_quarter_ttl_unless_told_otherwise() {
        let args = |ttl: u64, sweep: Option<u64>| ProcessArgs {
            config: None,
            cache_ttl_secs: ttl,
            cache_sweep_secs: sweep,
            metrics_listen: None,
            certs_dir: None,
            insecure: false,
            slow_query_ms: DEFAULT_SLOW_QUERY_MS,
        };
        let secs = std::time::Duration::from_secs;
        assert_eq!(args(300, None).sweep_interval(), Some(secs(75)));
        assert_eq!(
            args(2, None).sweep_interval(),
            Some(secs(1)),
            "at least every second"
        );
        assert_eq!(args(300, Some(10)).sweep_interval(), Some(secs(10)));
        assert_eq!(
            args(300, Some(0)).sweep_interval(),
            None,
            "0 turns sweeps off"
        );
    }

    #[derive(Debug, Parser)]
    #[command(name = "daemon")]
    struct Args {
        #[arg(long, env = "CPG_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "CPG_TEST_ID")]
        id: u64,
        #[arg(long, env = "CPG_TEST_DATA_DIR")]
        data_dir: PathBuf,
        #[arg(long, env = "CPG_TEST_COORDINATOR", value_delimiter = ',')]
        coordinator: Vec<String>,
        #[arg(long, env = "CPG_TEST_INSECURE")]
        insecure: bool,
        #[arg(long, env = "CPG_TEST_RATIO", default_value_t = 0.3)]
        ratio: f64,
    }

    fn settings_of(text: &str) -> Result<Vec<(String, String)>, String> {
        settings(&Args::command(), text)
    }

    #[test]
    fn keys_become_the_flags_environment_variables() {
        let got = settings_of(
            "id = 3\ndata_dir = \"/var/lib/cpg\"\ncoordinator = [\"c1:7000\", \"c2:7000\"]\ninsecure = true\nratio = 0.5\n",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                (
                    "CPG_TEST_COORDINATOR".to_string(),
                    "c1:7000,c2:7000".to_string()
                ),
                ("CPG_TEST_DATA_DIR".to_string(), "/var/lib/cpg".to_string()),
                ("CPG_TEST_ID".to_string(), "3".to_string()),
                ("CPG_TEST_INSECURE".to_string(), "true".to_string()),
                ("CPG_TEST_RATIO".to_string(), "0.5".to_string()),
            ]
        );
        // Dashes or underscores, the same key.
        assert_eq!(
            settings_of("data-dir = \"/d\"").unwrap(),
            vec![("CPG_TEST_DATA_DIR".to_string(), "/d".to_string())]
        );
    }

    #[test]
    fn unknown_keys_and_wrong_values_name_the_key() {
        let e = settings_of("idd = 3").unwrap_err();
        assert!(
            e.contains("unknown key `idd`") && e.contains("data-dir"),
            "{e}"
        );
        // Each file, and how its error starts (`true`) or what it says.
        for (file, starts, says) in [
            ("id = \"three\"", true, "`id` = \"three\": "),
            ("id = -1", true, "`id` = \"-1\""),
            ("insecure = \"yes\"", false, "`insecure` is true or false"),
            ("id = [1, 2]", false, "`id` takes one value"),
            ("config = \"other.toml\"", false, "unknown key `config`"),
            ("id = 3\nid = 4", true, "not valid TOML"),
        ] {
            let e = settings_of(file).unwrap_err();
            let found = if starts {
                e.starts_with(says)
            } else {
                e.contains(says)
            };
            assert!(found, "{e}");
        }
        let e = read(&Args::command(), Path::new("/nonexistent/cpg.toml")).unwrap_err();
        assert!(
            e.contains("cannot read the configuration file /nonexistent/cpg.toml"),
            "{e}"
        );
    }

    #[test]
    fn the_file_is_found_by_flag_or_environment() {
        let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            named_file(&argv(&["d", "--id", "1", "--config", "/etc/cpg/c.toml"])),
            Some(PathBuf::from("/etc/cpg/c.toml"))
        );
        assert_eq!(
            named_file(&argv(&["d", "--config=/etc/cpg/c.toml"])),
            Some(PathBuf::from("/etc/cpg/c.toml"))
        );
    }
}
