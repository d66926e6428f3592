//! The repository's scripts that bring what a test needs (real code to
//! analyse, tools to drive it with). One file, which the codebase crate's
//! tests include too (`#[path]`: codebase cannot depend on cluster-tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run one of the scripts that fetch, unpack or install what a test needs
/// (`fetch-corpus.sh`, `fetch-realapps.sh`, `setup-browser.sh`) and return
/// the folder it prints. What it brings is required: a failing script
/// fails the test.
pub fn fetched(script: &str) -> PathBuf {
    let out = succeeds(
        Command::new("bash").arg(repo().join("scripts").join(script)),
        &format!("scripts/{script} (what it brings is required, not optional)"),
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Run `command` to its end; it must succeed (`what` names it, with its
/// standard error, when it does not). Its output.
pub fn succeeds(command: &mut Command, what: &str) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
