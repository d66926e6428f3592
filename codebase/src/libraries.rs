//! Dependencies as library code: the `.ex` files of `deps/PACKAGE/` (as
//! `mix deps.get` leaves them) and the export tables of their compiled
//! `_build/ENV/lib/PACKAGE/ebin/*.beam` files (as `mix compile` leaves
//! them), parsed and summarized once, their summaries cached on disk by
//! content hash, and used to resolve the application's calls without being
//! analysed or reported themselves.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proto::{Diagnostic, ModuleSummary};

pub use crate::sources::source_bytes;
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

/// Library modules and what building them took.
#[derive(Debug, Default)]
pub struct Libraries {
    pub summaries: Vec<Arc<ModuleSummary>>,
    pub files: usize,
    /// Files whose summaries came from the cache.
    pub cached: usize,
    pub diagnostics: Vec<Diagnostic>,
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

/// Parse and summarize the dependencies of the tree at `root`, reusing the
/// cached summaries of files whose content is unchanged.
pub fn build(root: &Path, files: &[SourceFile]) -> Libraries {
    if files.is_empty() {
        return Libraries::default();
    }
    let done = crate::cache::summarize_files(root, files, "deps", source_bytes, interface_of);
    let mut out = Libraries {
        files: files.len(),
        cached: done.cached,
        ..Libraries::default()
    };
    for file in done.files {
        out.summaries.extend(file.modules);
        out.diagnostics.extend(file.diagnostics);
    }
    out.summaries
        .sort_by(|a, b| (&a.name, &a.file).cmp(&(&b.name, &b.file)));
    out
}
