//! Hygiene checks over the whole workspace: every Rust file starts with a
//! `//!` line saying what it is for, no library or program file is longer
//! than 1,000 lines, and each crate depends only on the crates
//! ARCHITECTURE.md's code map allows it.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(
        files.len() > 20,
        "found only {} Rust files under {}",
        files.len(),
        root.display()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! line: {missing:#?}"
    );
}

/// No source file of a library or a program (tests, examples and benches
/// aside) is longer than this: past it, a file holds more than one concern.
const MOST_LINES: usize = 1_000;

#[test]
fn no_source_file_is_longer_than_a_thousand_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter(|f| {
            let inside = f.strip_prefix(&root).unwrap_or(f);
            let parts: Vec<_> = inside.components().map(|c| c.as_os_str()).collect();
            let under = |dir: &str| parts.iter().any(|p| *p == dir);
            // Library and program code: a crate's src/, not its tests.
            under("src") && !under("tests") && !under("cluster-tests") && !under("fuzz")
        })
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).ok()?.lines().count();
            (lines > MOST_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "source files over {MOST_LINES} lines: {long:#?}"
    );
}

/// What the coordinator and the `cpg` program may use: every library crate.
const PROGRAMS_ON_TOP: &[&str] = &[
    "proto",
    "net",
    "host",
    "partition",
    "query",
    "mcp",
    "codebase",
];

/// The workspace crates each crate may depend on (normal dependencies; tests
/// and examples may use more). The layering of ARCHITECTURE.md: data, then
/// the network and the host, the engine, the query layer and the agents'
/// tools, a code base, and the programs on top; no program depends on
/// another program's crate.
const ALLOWED: &[(&str, &[&str])] = &[
    ("proto", &[]),
    ("net", &["proto"]),
    ("host", &["proto"]),
    ("partition", &["proto"]),
    ("query", &["proto", "partition", "host"]),
    ("mcp", &["proto", "partition", "query"]),
    ("codebase", &["proto", "net", "partition", "query"]),
    ("node", &["proto", "net", "host", "partition"]),
    ("coordinator", PROGRAMS_ON_TOP),
    ("cpg", PROGRAMS_ON_TOP),
];

/// The package name and the workspace crates under `[dependencies]` of the
/// manifest at `path`.
fn workspace_dependencies(path: &Path, crates: &[&str]) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let (mut name, mut deps, mut section) = (String::new(), Vec::new(), String::new());
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        let key = line.split(['=', '.', ' ']).next().unwrap_or("");
        if section == "[package]" && key == "name" {
            name = line.split('"').nth(1).unwrap_or("").to_string();
        } else if section == "[dependencies]" && crates.contains(&key) {
            deps.push(key.to_string());
        }
    }
    (name, deps)
}

#[test]
fn crates_depend_only_on_what_the_layering_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let crates: Vec<&str> = ALLOWED.iter().map(|(c, _)| *c).collect();
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let manifest = entry.path().join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let (name, deps) = workspace_dependencies(&manifest, &crates);
        let Some((_, allowed)) = ALLOWED.iter().find(|(c, _)| *c == name) else {
            continue;
        };
        seen.push(name.clone());
        for d in deps {
            if !allowed.contains(&d.as_str()) {
                wrong.push(format!("{name} depends on {d}"));
            }
        }
    }
    seen.sort();
    let mut expected: Vec<String> = crates.iter().map(|c| c.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected, "every crate of the layering has a manifest");
    assert!(
        wrong.is_empty(),
        "dependencies against the layering: {wrong:#?}"
    );
}
