//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod beam;

use std::path::{Path, PathBuf};

/// Run one of the scripts that fetch or unpack real code
/// (`fetch-corpus.sh`, `fetch-realapps.sh`) and return the folder it
/// prints. The code is required: a failing script fails the test.
pub fn fetched(script: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(script);
    let out = std::process::Command::new("bash")
        .arg(&path)
        .output()
        .expect("cannot run bash");
    assert!(
        out.status.success(),
        "scripts/{script} failed (the real code it brings is required, not optional):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
