//! What discovery finds: a source file's path on disk and its name in the
//! CPG. Shared by the application's discovery (`embedded`) and the
//! dependencies' (`libraries`).

use std::path::PathBuf;

/// One source file found under the root: its path on disk and the path
/// recorded in the CPG (relative to the root, `/`-separated).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub disk: PathBuf,
    pub name: String,
}
