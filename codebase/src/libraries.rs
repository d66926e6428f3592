//! Dependencies as library code: the `.ex` files of `deps/PACKAGE/` (as
//! `mix deps.get` leaves them) and the export tables of their compiled
//! `_build/ENV/lib/PACKAGE/ebin/*.beam` files (as `mix compile` leaves
//! them), parsed and summarized once, their summaries cached on disk by
//! content hash, and used to resolve the application's calls without being
//! analysed or reported themselves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use partition::frontend::{build_file, content_hash};
use partition::summary::summarize;
use proto::{Diagnostic, ModuleSummary};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::sources::SourceFile;

/// Folders of a dependency that hold no library code it ships (tests,
/// templates, other packages of a monorepo's tooling).
const SKIPPED: &[&str] = &[
    "test",
    "tests",
    "priv",
    "integration_test",
    "installer",
    "examples",
    "bench",
    "guides",
    "_build",
    "deps",
    "node_modules",
];

/// The `.ex` files under `root/deps/*/`, in a `lib` folder, named
/// `deps/PACKAGE/...` as recorded; empty when there is no `deps/`.
pub fn discover(root: &Path) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let Ok(packages) = std::fs::read_dir(root.join("deps")) else {
        return out;
    };
    let mut stack: Vec<(PathBuf, String, bool)> = packages
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (e.path(), format!("deps/{name}"), false)
        })
        .collect();
    while let Some((dir, name, in_lib)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let fname = e.file_name().to_string_lossy().into_owned();
            let Ok(ty) = e.file_type() else { continue };
            let rel = format!("{name}/{fname}");
            if ty.is_dir() {
                // Inside `lib` everything ships (`lib/phoenix/test/` holds
                // Phoenix.ConnTest); above it, tests and tooling do not.
                if !fname.starts_with('.') && (in_lib || !SKIPPED.contains(&fname.as_str())) {
                    stack.push((e.path(), rel, in_lib || fname == "lib"));
                }
            } else if ty.is_file() && in_lib && fname.ends_with(".ex") {
                out.push(SourceFile {
                    disk: e.path(),
                    name: rel,
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The compiled dependencies, `_build/ENV/lib/PACKAGE/ebin/*.beam` (as `mix
/// compile` leaves them), of the packages under `deps/`: their export tables
/// say what a dependency defines, functions its macros make included. One
/// build environment: `MIX_ENV`'s if it was compiled, else `dev`, `test`,
/// `prod`, else the first there is.
pub fn discover_beams(root: &Path) -> Vec<SourceFile> {
    let build = root.join("_build");
    let Ok(envs) = std::fs::read_dir(&build) else {
        return Vec::new();
    };
    let mut envs: Vec<String> = envs
        .flatten()
        .filter(|e| e.path().join("lib").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    envs.sort();
    let wanted = std::env::var("MIX_ENV").ok();
    let env = wanted
        .iter()
        .map(String::as_str)
        .chain(["dev", "test", "prod"])
        .find(|w| envs.iter().any(|e| e == w))
        .map(str::to_string)
        .or_else(|| envs.first().cloned());
    let Some(env) = env else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Ok(packages) = std::fs::read_dir(build.join(&env).join("lib")) else {
        return out;
    };
    for p in packages.flatten() {
        let package = p.file_name().to_string_lossy().into_owned();
        // The application's own BEAM files are not a library.
        if !root.join("deps").join(&package).is_dir() {
            continue;
        }
        let Ok(beams) = std::fs::read_dir(p.path().join("ebin")) else {
            continue;
        };
        for b in beams.flatten() {
            let fname = b.file_name().to_string_lossy().into_owned();
            if fname.ends_with(".beam") && b.file_type().is_ok_and(|t| t.is_file()) {
                out.push(SourceFile {
                    disk: b.path(),
                    name: format!("_build/{env}/lib/{package}/ebin/{fname}"),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What is parsed of a library file: its text, or for a BEAM file its
/// export table written as Elixir source
/// ([`partition::library::beam::interface_source`]). A BEAM file that
/// cannot be read as one is an error naming the file.
pub fn source_bytes(name: &str, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if !name.ends_with(".beam") {
        return Ok(bytes);
    }
    match partition::library::beam::read(&bytes) {
        Ok(beam) => Ok(partition::library::beam::interface_source(&beam, name).into_bytes()),
        Err(e) => Err(format!("cannot read the BEAM file {name}: {e}")),
    }
}

/// Library modules and what building them took.
#[derive(Debug, Default)]
pub struct Libraries {
    pub summaries: Vec<Arc<ModuleSummary>>,
    pub files: usize,
    /// Files whose summaries came from the cache.
    pub cached: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// One file's summaries as cached, with what identifies its content: its
/// size and modification time (checked first, no read needed) and the
/// content hash (checked when those changed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedFile {
    file: String,
    size: u64,
    modified_ns: u128,
    hash: u64,
    modules: Vec<Arc<ModuleSummary>>,
}

/// A library module as resolution needs it: its interface (functions with
/// kinds and arities, directives, what its quotes inject, callbacks), not
/// its calls or metrics.
/// The module body's calls stay: the macros it calls may define functions
/// (`schema` → `__schema__`), which the link step looks for.
pub fn interface_of(mut m: ModuleSummary) -> ModuleSummary {
    for f in &mut m.functions {
        if f.kind != proto::FunKind::ModuleBody {
            f.calls = Vec::new();
        }
        f.fields = Vec::new();
        f.returns = Vec::new();
        f.metrics = Default::default();
    }
    m.deps.retain(|d| d.kind == proto::DepKind::Use);
    m
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

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    /// Which `cpg` wrote it: a cache from another build is not used.
    writer: String,
    files: Vec<CachedFile>,
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

/// Where the cache lives: `_build/cpg/` under the tree when it can be
/// written, else the user's cache folder (keyed by the tree's path).
fn cache_path(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join("_build").join("cpg").join("deps.bin")];
    let base = std::env::var_os("CPG_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cpg")));
    if let Some(base) = base {
        let canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let key = content_hash(canon.to_string_lossy().as_bytes());
        out.push(base.join("deps").join(format!("{key:016x}.bin")));
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
/// be written costs the next build time, nothing else.
fn store(paths: &[PathBuf], cache: &CacheFile) {
    let Ok(bytes) = bincode::serde::encode_to_vec(cache, bincode::config::standard()) else {
        return;
    };
    for p in paths {
        let Some(dir) = p.parent() else { continue };
        if std::fs::create_dir_all(dir).is_err() {
            continue;
        }
        let tmp = p.with_extension("tmp");
        if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, p).is_ok() {
            return;
        }
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Parse and summarize the dependencies of the tree at `root`, reusing the
/// cached summaries of files whose content is unchanged.
pub fn build(root: &Path, files: &[SourceFile]) -> Libraries {
    if files.is_empty() {
        return Libraries::default();
    }
    let writer = writer();
    let paths = cache_path(root);
    let cache = load(&paths, &writer);
    let results: Vec<(CachedFile, bool, Vec<Diagnostic>)> = files
        .par_iter()
        .filter_map(|f| {
            let (size, modified_ns) = stat(&f.disk)?;
            let cached = cache.get(&f.name);
            if let Some(c) = cached.filter(|c| c.size == size && c.modified_ns == modified_ns) {
                return Some((c.clone(), true, Vec::new()));
            }
            let bytes = std::fs::read(&f.disk).ok()?;
            let hash = content_hash(&bytes);
            if let Some(c) = cached.filter(|c| c.hash == hash) {
                let file = CachedFile {
                    size,
                    modified_ns,
                    ..c.clone()
                };
                return Some((file, true, Vec::new()));
            }
            let cpg = match source_bytes(&f.name, bytes) {
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
                .map(|frag| Arc::new(interface_of(summarize(frag))))
                .collect();
            let file = CachedFile {
                file: f.name.clone(),
                size,
                modified_ns,
                hash,
                modules,
            };
            Some((file, false, cpg.diagnostics))
        })
        .collect();
    let mut out = Libraries {
        files: files.len(),
        ..Libraries::default()
    };
    let mut cached_files = Vec::with_capacity(results.len());
    for (file, hit, diagnostics) in results {
        out.cached += usize::from(hit);
        out.diagnostics.extend(diagnostics);
        out.summaries.extend(file.modules.iter().cloned());
        cached_files.push(file);
    }
    let changed = cached_files.iter().any(|f| {
        cache
            .get(&f.file)
            .is_none_or(|c| (c.size, c.modified_ns) != (f.size, f.modified_ns))
    });
    if changed || cache.len() != cached_files.len() {
        store(
            &paths,
            &CacheFile {
                writer,
                files: cached_files,
            },
        );
    }
    out.summaries
        .sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    out
}
