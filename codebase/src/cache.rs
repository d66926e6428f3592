//! Summaries of files cached on disk between runs: one record per file with
//! what identifies its content (size and modification time, checked first
//! with no read; the content hash, checked when those changed), so a file
//! is parsed again only when its content changed. Used for the dependencies
//! (`deps.bin`: their interfaces) and for an editor's or agent's workspace
//! (`workspace.bin`: whole summaries).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use partition::frontend::{build_file, content_hash};
use partition::summary::summarize;
use proto::{Diagnostic, ModuleSummary};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::sources::SourceFile;

/// One file's summaries as cached, with what identifies its content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedFile {
    pub file: String,
    size: u64,
    modified_ns: u128,
    hash: u64,
    pub modules: Vec<Arc<ModuleSummary>>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    /// Which `cpg` wrote it: a cache from another build is not used.
    writer: String,
    files: Vec<CachedFile>,
}

/// The files summarized, in the order given (an unreadable file is left
/// out), and how many came from the cache.
#[derive(Debug, Default)]
pub struct Summarized {
    pub files: Vec<CachedFile>,
    pub cached: usize,
}

/// Identifies this program's build: summaries depend on the front end.
fn writer() -> String {
    let exe = std::env::current_exe().ok();
    let stamp = exe
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{t}", m.len())
        })
        .unwrap_or_default();
    format!("cpg {} {stamp}", env!("CARGO_PKG_VERSION"))
}

/// Where cache `name` of the tree at `root` lives: `_build/cpg/NAME.bin`
/// under the tree when it can be written, else the user's cache folder
/// (`$CPG_CACHE_DIR`, or `~/.cache/cpg`), keyed by the tree's path.
fn paths(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = vec![root.join("_build").join("cpg").join(format!("{name}.bin"))];
    let base = std::env::var_os("CPG_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cpg")));
    if let Some(base) = base {
        let canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let key = content_hash(canon.to_string_lossy().as_bytes());
        out.push(base.join(name).join(format!("{key:016x}.bin")));
    }
    out
}

fn load(paths: &[PathBuf], writer: &str) -> HashMap<String, CachedFile> {
    for p in paths {
        let Ok(bytes) = std::fs::read(p) else {
            continue;
        };
        let decoded: Result<(CacheFile, usize), _> =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard());
        if let Ok((cache, _)) = decoded {
            if cache.writer == writer {
                return cache
                    .files
                    .into_iter()
                    .map(|f| (f.file.clone(), f))
                    .collect();
            }
        }
    }
    HashMap::new()
}

/// Write the cache to the first place that takes it; a cache that cannot
/// be written costs the next run time, nothing else.
fn store(paths: &[PathBuf], cache: &CacheFile) {
    let Ok(bytes) = bincode::serde::encode_to_vec(cache, bincode::config::standard()) else {
        return;
    };
    for p in paths {
        let Some(dir) = p.parent() else { continue };
        if std::fs::create_dir_all(dir).is_err() {
            continue;
        }
        // Per process: an editor and an agent on the same tree may write
        // at once.
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, p).is_ok() {
            return;
        }
        let _ = std::fs::remove_file(&tmp);
    }
}

fn stat(path: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((meta.len(), modified))
}

/// Summarize `files` of the tree at `root` on all cores, reusing cache
/// `name`'s summaries of files whose content is unchanged and writing the
/// cache again when anything changed. `read` turns a file's bytes into the
/// source to parse; `shape` what is kept of each module summary.
pub fn summarize_files(
    root: &Path,
    files: &[SourceFile],
    name: &str,
    read: fn(&str, Vec<u8>) -> Result<Vec<u8>, String>,
    shape: fn(ModuleSummary) -> ModuleSummary,
) -> Summarized {
    let writer = writer();
    let paths = paths(root, name);
    let cache = load(&paths, &writer);
    let results: Vec<(CachedFile, bool)> = files
        .par_iter()
        .filter_map(|f| {
            let (size, modified_ns) = stat(&f.disk)?;
            let cached = cache.get(&f.name);
            if let Some(c) = cached.filter(|c| c.size == size && c.modified_ns == modified_ns) {
                return Some((c.clone(), true));
            }
            let bytes = std::fs::read(&f.disk).ok()?;
            let hash = content_hash(&bytes);
            if let Some(c) = cached.filter(|c| c.hash == hash) {
                let file = CachedFile {
                    size,
                    modified_ns,
                    ..c.clone()
                };
                return Some((file, true));
            }
            let cpg = match read(&f.name, bytes) {
                Ok(text) => build_file(&f.name, &text),
                Err(message) => proto::FileCpg {
                    file: f.name.clone(),
                    content_hash: hash,
                    fragments: Vec::new(),
                    diagnostics: vec![Diagnostic {
                        file: f.name.clone(),
                        line: 0,
                        column: 0,
                        message,
                    }],
                },
            };
            let modules = cpg
                .fragments
                .iter()
                .map(|frag| Arc::new(shape(summarize(frag))))
                .collect();
            let file = CachedFile {
                file: f.name.clone(),
                size,
                modified_ns,
                hash,
                modules,
                diagnostics: cpg.diagnostics,
            };
            Some((file, false))
        })
        .collect();
    let mut out = Summarized::default();
    for (file, hit) in results {
        out.cached += usize::from(hit);
        out.files.push(file);
    }
    let changed = out.files.iter().any(|f| {
        cache
            .get(&f.file)
            .is_none_or(|c| (c.size, c.modified_ns) != (f.size, f.modified_ns))
    });
    if changed || cache.len() != out.files.len() {
        let cache = CacheFile {
            writer,
            files: out.files,
        };
        store(&paths, &cache);
        out.files = cache.files;
    }
    out
}
