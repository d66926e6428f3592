//! What the benchmark programs (the examples of cluster-tests and of
//! codebase) share: their arguments, and how their times are summed up.
//! One file, which codebase's examples include too (`#[path]`: codebase
//! cannot depend on cluster-tests).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The tree a benchmark runs on: its first argument. `usage` is the error
/// when it is missing.
pub fn dir_arg(usage: &str) -> Result<PathBuf, String> {
    std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| usage.to_string())
}

/// The benchmark's argument at `position` (1 is the first) as a number,
/// or `default` when it is not given.
pub fn number_arg<T: FromStr>(position: usize, default: T) -> Result<T, T::Err> {
    let given = std::env::args()
        .nth(position)
        .map(|a| a.parse())
        .transpose()?;
    Ok(given.unwrap_or(default))
}

/// The median of `times` (the upper one of an even count).
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
