//! glibc's malloc, tuned for a process that holds a large graph.
//!
//! By default glibc gives threads that allocate at the same time arenas of
//! their own (up to eight per core), and memory freed in one arena is not
//! reused by allocations in another. A coordinator decodes summaries on
//! blocking threads and links them on a runtime thread: with the default
//! arenas its peak at 15k modules was about 1.0 GB, with two arenas about
//! 0.83 GB, at the same speed (BENCHMARKS.md, "Monolith scale").
//!
//! The arena count can only be set before the first allocation, from the
//! environment (`GLIBC_TUNABLES`), so [`limit_arenas`] starts the program
//! again with it set.

/// What [`limit_arenas`] sets.
pub const TUNABLES: &str = "glibc.malloc.arena_max=2";

/// Replace this process by the same program with the same arguments and
/// `GLIBC_TUNABLES` set to [`TUNABLES`], unless the environment already
/// says how to tune malloc (`GLIBC_TUNABLES` set, even empty: an operator's
/// choice wins) or the program does not run on glibc. Call it first thing
/// in `main`, before any thread starts. It returns only when the program
/// goes on as it is: also when the program cannot be started again (its
/// file gone after an upgrade, say), with glibc's defaults.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("GLIBC_TUNABLES").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut again = std::process::Command::new(exe);
        if let Some(name) = args.next() {
            again.arg0(name);
        }
        // `exec` returns only on failure: then go on with the defaults.
        let _failed = again.args(args).env("GLIBC_TUNABLES", TUNABLES).exec();
    }
}
