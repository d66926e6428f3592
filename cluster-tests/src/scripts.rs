//! The repository's scripts that bring what a test needs (real code to
//! analyse, tools to drive it with). One file, which the codebase crate's
//! tests include too (`#[path]`: codebase cannot depend on cluster-tests).

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Run one of the scripts that fetch, unpack or install what a test needs
/// (`fetch-corpus.sh`, `fetch-realapps.sh`, `setup-browser.sh`) and return
/// the folder it prints. What it brings is required: a failing script
/// fails the test.
pub fn fetched(script: &str) -> PathBuf {
    let path = repo().join("scripts").join(script);
    let out = std::process::Command::new("bash")
        .arg(&path)
        .output()
        .expect("cannot run bash");
    assert!(
        out.status.success(),
        "scripts/{script} failed (what it brings is required, not optional):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
