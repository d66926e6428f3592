//! Hygiene checks over the whole workspace: every Rust file starts with a
//! `//!` line saying what it is for, no library or program file is longer
//! than 1,000 lines, and each crate depends only on the crates
//! ARCHITECTURE.md's code map allows it.

use std::collections::{BTreeMap, BTreeSet};
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

/// A source file with comments, string and character literals blanked
/// out (newlines kept), so that what is left is code.
fn code_of(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        let is_ident = |k: usize| k < c.len() && (c[k].is_alphanumeric() || c[k] == '_');
        // `r` after an identifier's letters is no raw string's (but `br"…"` is).
        let ident_before =
            i > 0 && is_ident(i - 1) && !(c[i - 1] == 'b' && (i < 2 || !is_ident(i - 2)));
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r' && !ident_before && (at(i + 1) == '"' || at(i + 1) == '#') {
            // A raw string r"…" or r#"…"# (or the start of an identifier).
            let mut k = i + 1;
            while at(k) == '#' {
                k += 1;
            }
            if at(k) != '"' {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let hashes = k - i - 1;
            i = k + 1;
            while i < c.len() && !(c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#')) {
                blank(&mut out, c[i]);
                i += 1;
            }
            i += 1 + hashes;
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if let Some(&ch) = c.get(i) {
                    blank(&mut out, ch);
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A character literal ('x', '\n', '\u{..}'); a lifetime stays.
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Identifiers (keywords included), `::`, and single punctuation characters.
fn tokens(code: &str) -> Vec<String> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_alphanumeric() || c[i] == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".to_string());
            i += 2;
        } else {
            if !c[i].is_whitespace() {
                out.push(c[i].to_string());
            }
            i += 1;
        }
    }
    out
}

/// The index just past the bracket that closes the one at `open`.
fn past_closing(toks: &[String], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// The index just past the item starting at `i` (after an attribute): its
/// `;` or its `{ … }` body, whichever comes first outside brackets.
fn past_item(toks: &[String], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < toks.len() {
        match toks[i].as_str() {
            "#" if depth == 0 => {
                i = past_closing(toks, i + 1);
                continue;
            }
            "{" if depth == 0 => return past_closing(toks, i),
            ";" if depth == 0 => return i + 1,
            "}" if depth == 0 => return i,
            "(" | "[" => depth += 1,
            ")" | "]" => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    i
}

/// One import of a `use` tree: the path, the name it brings in (none for a
/// glob `…::*` or `as _`), and whether it is a glob.
struct Import {
    path: Vec<String>,
    name: Option<String>,
    glob: bool,
}

/// The imports of a `use` tree, `{…}` expanded (`a::{self, b::*}` imports
/// `a` and the glob `a::b`), from its first token to the index of its `;`.
fn use_tree(toks: &[String], mut i: usize, prefix: &[String], out: &mut Vec<Import>) -> usize {
    let mut path = prefix.to_vec();
    let (mut name, mut glob) = (None, false);
    while i < toks.len() {
        match toks[i].as_str() {
            "::" => {}
            "{" => {
                i += 1;
                while i < toks.len() && toks[i] != "}" {
                    i = use_tree(toks, i, &path, out);
                    if toks.get(i).is_some_and(|t| t == ",") {
                        i += 1;
                    }
                }
                return i + 1;
            }
            "*" => (name, glob) = (None, true),
            "self" if !path.is_empty() => name = path.last().cloned(),
            "as" => {
                name = toks.get(i + 1).filter(|t| *t != "_").cloned();
                i += 1;
            }
            "," | "}" | ";" => break,
            t => {
                path.push(t.to_string());
                name = Some(t.to_string());
            }
        }
        i += 1;
    }
    out.push(Import { path, name, glob });
    i
}

/// What a source file says about its module, read from its code (test
/// modules, `#[cfg(test)]`, left out).
#[derive(Default)]
struct Module {
    /// The items it declares (`fn`, `struct`, `mod`, … outside any block).
    declared: BTreeSet<String>,
    /// Its `use` imports.
    imports: Vec<Import>,
    /// The paths and the names its code uses, from their first segment.
    uses: BTreeSet<Vec<String>>,
}

/// Paths starting with `crate`, `self` or `super` made absolute (the
/// module's place in the crate, `here`, includes inline `mod x { … }`);
/// others are left to be looked up by their first name.
fn absolute(path: &[String], here: &[String]) -> Vec<String> {
    let mut out = match path.first().map(String::as_str) {
        Some("crate") => vec!["crate".to_string()],
        Some("self" | "super") => here.to_vec(),
        _ => return path.to_vec(),
    };
    for (k, segment) in path.iter().enumerate() {
        if segment == "super" {
            if out.len() > 1 {
                out.pop();
            }
        } else if k > 0 {
            out.push(segment.clone());
        }
    }
    out
}

/// Keywords: no path starts with one (`crate`, `self` and `super` aside).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "union", "unsafe", "use", "where",
    "while", "Self",
];

/// Keywords after which a name is declared, not used.
const DECLARING: &[&str] = &[
    "fn", "struct", "enum", "trait", "type", "const", "static", "union", "mod", "let", "mut", "ref",
];

/// Reads the code of module `module`. Absolute paths start with `crate`.
fn read_module(code: &str, module: &[String]) -> Module {
    let toks = tokens(code);
    let t = |k: usize| toks.get(k).map(String::as_str).unwrap_or("");
    let mut m = Module::default();
    let (mut depth, mut inline) = (0usize, Vec::<usize>::new());
    let mut here = module.to_vec();
    let mut i = 0;
    while i < toks.len() {
        match t(i) {
            "#" if t(i + 1) == "["
                && t(i + 2) == "cfg"
                && t(i + 3) == "("
                && t(i + 4) == "test"
                && t(i + 5) == ")" =>
            {
                i = past_item(&toks, past_closing(&toks, i + 1));
                continue;
            }
            // Visibilities (`pub(in crate::a)`) name no item used.
            "pub" if t(i + 1) == "(" => {
                i = past_closing(&toks, i + 1);
                continue;
            }
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                    here.pop();
                }
            }
            "mod" if t(i + 2) == "{" => {
                if depth == 0 {
                    m.declared.insert(t(i + 1).to_string());
                }
                inline.push(depth);
                here.push(t(i + 1).to_string());
                depth += 1;
                i += 3;
                continue;
            }
            "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union" | "mod"
                if depth == 0
                    && t(i + 1) != "fn"
                    && t(i + 1).starts_with(|c: char| c.is_alphabetic() || c == '_') =>
            {
                m.declared.insert(t(i + 1).to_string());
                i += 1;
            }
            "macro_rules" if t(i + 1) == "!" => {
                m.declared.insert(t(i + 2).to_string());
                i += 2;
            }
            "use" => {
                let mut imports = Vec::new();
                i = use_tree(&toks, i + 1, &[], &mut imports);
                i = (i..toks.len()).find(|&k| t(k) == ";").unwrap_or(toks.len());
                for import in imports {
                    let path = absolute(&import.path, &here);
                    m.uses.insert(path.clone());
                    m.imports.push(Import { path, ..import });
                }
            }
            s if s.starts_with(|c: char| c.is_alphabetic() || c == '_')
                && !KEYWORDS.contains(&s)
                && !matches!(t(i.wrapping_sub(1)), "." | "::" | "'" | "!")
                && !DECLARING.contains(&t(i.wrapping_sub(1)))
                && t(i + 1) != ":"
                && (t(i + 1) != "=" || matches!(t(i + 2), "=" | ">")) =>
            {
                // A path or a name; not a field, a method, a label, a
                // declaration, a binding's annotation (`x: T`), an
                // assignment or an associated type (`Output = T`).
                let mut path = vec![s.to_string()];
                let mut k = i + 1;
                while t(k) == "::"
                    && t(k + 1).starts_with(|c: char| c.is_alphanumeric() || c == '_')
                {
                    path.push(t(k + 1).to_string());
                    k += 2;
                }
                // A lone lower-case name not called is most likely a local
                // variable (a function passed by name is missed).
                let lone = path.len() == 1 && s.starts_with(|c: char| c.is_lowercase());
                if !lone || matches!(t(k), "(" | "!" | "::") {
                    m.uses.insert(absolute(&path, &here));
                }
                i = k - 1;
            }
            _ => {}
        }
        i += 1;
    }
    m
}

/// The modules of one crate, by their path (`crate`, `crate::a`, …).
struct Crate(BTreeMap<Vec<String>, Module>);

impl Crate {
    /// The longest module path, a file's, that `path` starts with.
    fn file_of<'a>(&self, path: &'a [String]) -> &'a [String] {
        (1..=path.len())
            .rev()
            .map(|n| &path[..n])
            .find(|p| self.0.contains_key(*p))
            .unwrap_or(&path[..0])
    }

    /// Where the absolute `path` leads: through the imports of the files
    /// it passes (`crate::a::X` where `a` has `use crate::b::X` leads to
    /// `crate::b::X`).
    fn follow(&self, path: Vec<String>, seen: &mut BTreeSet<(Vec<String>, String)>) -> Vec<String> {
        let file = self.file_of(&path).to_vec();
        let Some(next) = path.get(file.len()) else {
            return path;
        };
        if self.0.get(&file).is_none_or(|m| m.declared.contains(next)) {
            return path;
        }
        match self.look_up(&file, next, seen) {
            Some(mut item) => {
                item.extend(path[file.len() + 1..].iter().cloned());
                self.follow(item, seen)
            }
            None => path,
        }
    }

    /// The absolute path of the item `name` means in `module`: declared
    /// there, imported by name, or brought in by one of its globs.
    fn look_up(
        &self,
        module: &[String],
        name: &str,
        seen: &mut BTreeSet<(Vec<String>, String)>,
    ) -> Option<Vec<String>> {
        if !seen.insert((module.to_vec(), name.to_string())) {
            return None;
        }
        let m = self.0.get(module)?;
        if m.declared.contains(name) {
            return Some([module, &[name.to_string()]].concat());
        }
        for import in &m.imports {
            if import.name.as_deref() == Some(name) {
                let path = self.resolve(module, &import.path, seen)?;
                return Some(self.follow(path, seen));
            }
        }
        for import in m.imports.iter().filter(|i| i.glob) {
            let Some(glob) = self.resolve(module, &import.path, seen) else {
                continue;
            };
            let glob = self.follow(glob, seen);
            if glob != module && self.0.contains_key(&glob) {
                if let Some(item) = self.look_up(&glob, name, seen) {
                    return Some(item);
                }
            }
        }
        None
    }

    /// `path` as `module` uses it, made absolute: paths not starting with
    /// `crate` are looked up by their first name (none: not this crate's).
    fn resolve(
        &self,
        module: &[String],
        path: &[String],
        seen: &mut BTreeSet<(Vec<String>, String)>,
    ) -> Option<Vec<String>> {
        let first = path.first()?;
        if first == "crate" {
            return Some(path.to_vec());
        }
        let mut item = self.look_up(module, first, seen)?;
        item.extend(path[1..].iter().cloned());
        Some(item)
    }
}

/// The module path of a file under a crate's `src/` (`a/b.rs` and
/// `a/b/mod.rs` are `crate::a::b`; `lib.rs` is `crate`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let inside = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = std::iter::once("crate".to_string())
        .chain(
            inside
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned()),
        )
        .collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["crate", "lib"] {
        parts.pop();
    }
    parts
}

/// The strongly connected components of more than one node (Tarjan).
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, (usize, usize)>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        found: Vec<Vec<Vec<String>>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Vec<String>) {
            let n = self.index.len();
            self.index.insert(v, (n, n));
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.index[w].1.min(self.index[v].1);
                    self.index.get_mut(v).expect("visited").1 = low;
                } else if self.on_stack.contains(w) {
                    let low = self.index[w].0.min(self.index[v].1);
                    self.index.get_mut(v).expect("visited").1 = low;
                }
            }
            if self.index[v].0 == self.index[v].1 {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

/// The loops among the files of one crate (`files`: each file's module
/// path and text), each as its modules and one use per import.
fn file_cycles(files: Vec<(Vec<String>, String)>) -> Vec<(Vec<String>, Vec<String>)> {
    let krate = Crate(
        files
            .into_iter()
            .map(|(module, text)| {
                let read = read_module(&code_of(&text), &module);
                (module, read)
            })
            .collect(),
    );
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut why: BTreeMap<(Vec<String>, Vec<String>), String> = BTreeMap::new();
    for (module, m) in &krate.0 {
        for path in &m.uses {
            let mut seen = BTreeSet::new();
            let Some(item) = krate.resolve(module, path, &mut seen) else {
                continue;
            };
            let item = krate.follow(item, &mut seen);
            let target = krate.file_of(&item).to_vec();
            if target.is_empty() || module.starts_with(&target) {
                continue; // itself or an ancestor
            }
            why.entry((module.clone(), target.clone()))
                .or_insert_with(|| {
                    let (path, item) = (path.join("::"), item.join("::"));
                    if path == item {
                        item
                    } else {
                        format!("{path}, that is {item}")
                    }
                });
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    cycles(&edges)
        .into_iter()
        .map(|component| {
            let names = component.iter().map(|m| m.join("::")).collect();
            let uses = why
                .iter()
                .filter(|((from, to), _)| component.contains(from) && component.contains(to))
                .map(|((from, to), path)| {
                    format!("{} -> {} ({path})", from.join("::"), to.join("::"))
                })
                .collect();
            (names, uses)
        })
        .collect()
}

/// Loops between files that stay until the files can be changed: (crate,
/// its modules in the loop, why). Each must still be found, so that the
/// entry goes when the loop does.
const KNOWN_FILE_CYCLES: &[(&str, &[&str], &str)] = &[];

/// No two source files of a crate import each other, directly or round a
/// longer loop: each crate's files form layers like the crates do. A file
/// uses the module of each item its code names: paths from `crate`,
/// `super`, `self`, or a name it declares, imports or takes through a glob
/// import, followed through imports and re-exports (`pub use`) to the file
/// that declares the item (the longest module path that is a file); test
/// modules are left out. A module's uses of its own ancestors do not
/// count: a child using its parent's items (`use super::*`, `super::x`) is
/// how Rust modules share what their parent holds, while the parent names
/// what it takes from each child. So a parent and its children are no
/// loop, but two siblings using each other, or a child using a sibling's
/// items the parent took by a glob, are. (Text-based, so approximate:
/// comments and literals are blanked; macro bodies are read as code; a
/// lone lower-case name counts only where it is called, so a local
/// variable is not taken for a function a glob brings in, but a function
/// passed by name through a glob is missed; nothing outside the crate is
/// followed.)
#[test]
fn no_source_files_of_a_crate_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    let mut known = Vec::new();
    let mut crates = 0;
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let src = entry.path().join("src");
        if !src.join("lib.rs").exists() {
            continue;
        }
        crates += 1;
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        // A program under src/bin/ is a crate of its own.
        files.retain(|f| !f.strip_prefix(&src).is_ok_and(|f| f.starts_with("bin")));
        let files = files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                (module_of(&src, f), text)
            })
            .collect();
        let name = entry.file_name().to_string_lossy().into_owned();
        for (modules, uses) in file_cycles(files) {
            let is_known = KNOWN_FILE_CYCLES
                .iter()
                .any(|(c, m, _)| *c == name && modules.iter().eq(m.iter()));
            if is_known {
                known.push((name.clone(), modules));
                continue;
            }
            let mut lines = vec![format!("{name}: {}", modules.join(", "))];
            lines.extend(uses.iter().map(|u| format!("  {u}")));
            found.push(lines.join("\n"));
        }
    }
    assert!(
        crates > 5,
        "found only {crates} crates under {}",
        root.display()
    );
    found.sort();
    assert!(
        found.is_empty(),
        "source files importing each other (a cycle each, then one use per import):\n{}",
        found.join("\n")
    );
    for (c, m, why) in KNOWN_FILE_CYCLES {
        assert!(
            known
                .iter()
                .any(|(kc, km)| kc == c && km.iter().eq(m.iter())),
            "the known loop {c}: {m:?} ({why}) is gone or changed: take it off KNOWN_FILE_CYCLES"
        );
    }
}

/// The check above on a made-up crate: siblings using each other are a
/// loop, and so is a child using a sibling's item through the parent's
/// glob; a parent and its children, comments, strings and test modules
/// are not.
#[test]
fn the_file_loop_check_tells_loops_from_a_parent_and_its_children() {
    let file = |module: &str, text: &str| {
        let path = std::iter::once("crate")
            .chain(module.split("::").filter(|s| !s.is_empty()))
            .map(String::from)
            .collect();
        (path, text.to_string())
    };
    let files = vec![
        file("", "mod a; mod b; mod e; mod f; mod p; pub use f::F;"),
        file("a", "use crate::b::B; pub fn fa() -> B { B }"),
        file("b", "pub struct B; fn g() { crate::a::fa(); }"),
        file(
            "p",
            "mod c; mod d; use d::*; pub fn shared() {} fn run() { c::go(); }",
        ),
        file("p::c", "use super::*; pub fn go() { shared(); helper(); }"),
        file("p::d", "pub fn helper() { super::c::go(); }"),
        file(
            "e",
            "//! Uses crate::f::x in a comment.\n\
             pub struct E;\n\
             const S: &str = \"crate::f::x\"; /* crate::F */\n\
             #[cfg(test)]\nmod tests { use crate::f::*; }",
        ),
        file("f", "use crate::e::E; pub struct F(E);"),
    ];
    let found: Vec<Vec<String>> = file_cycles(files).into_iter().map(|(m, _)| m).collect();
    assert_eq!(
        found,
        vec![
            vec!["crate::a".to_string(), "crate::b".to_string()],
            vec!["crate::p::c".to_string(), "crate::p::d".to_string()],
        ]
    );
}
