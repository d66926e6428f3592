//! Generates `partition/src/library/stdlib.tsv`, the table of what Elixir's
//! own applications (elixir, ex_unit, logger, eex, mix, iex) export and
//! what `use` of their modules injects, from one or more Elixir releases:
//! their source (parsed with this project's front end) and, where given,
//! their compiled BEAM files (whose export tables are the truth for that
//! release). Entries are the union over the releases given.
//!
//! cargo run --release -p partition --example gen_stdlib -- \
//!     --source 1.14.0=DIR/lib --beam 1.14.0=BEAMDIR --source 1.20.3=DIR/lib > table
//! (`scripts/gen-stdlib.sh` does this.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use partition::frontend::build_file;
use partition::library::{LibModule, Library, ELIXIR_APPS};
use partition::summary::summarize;
use proto::{FunKind, InjectionKind};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().and_then(|x| x.to_str()) == Some("ex") {
            out.push(p);
        }
    }
}

/// The modules one release's source defines.
fn from_source(lib: &Path) -> BTreeMap<String, LibModule> {
    let mut out: BTreeMap<String, LibModule> = BTreeMap::new();
    for app in ELIXIR_APPS {
        let mut found = Vec::new();
        files(&lib.join(app).join("lib"), &mut found);
        found.sort();
        for path in found {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let cpg = build_file(&path.to_string_lossy(), &bytes);
            for frag in &cpg.fragments {
                let s = summarize(frag);
                if s.kind == proto::ModuleKind::Script {
                    continue;
                }
                let m = out.entry(s.name.clone()).or_default();
                for f in &s.functions {
                    let key = (f.name.clone(), f.arity);
                    match f.kind {
                        FunKind::ModuleBody => {}
                        k if !k.is_public() => {}
                        k if k.is_macro() => {
                            m.macros.insert(key);
                        }
                        _ => {
                            m.functions.insert(key);
                        }
                    }
                }
                for d in &s.using {
                    m.using.push((d.kind, d.target.clone()));
                }
                for i in s.injections.iter().filter(|i| i.by == "__using__") {
                    match i.kind {
                        InjectionKind::Def | InjectionKind::Defp => {
                            m.injects.push((i.name.clone(), i.arity))
                        }
                        InjectionKind::Directive(k) => m.using.push((k, i.name.clone())),
                        InjectionKind::Splice
                        | InjectionKind::BeforeCompile
                        | InjectionKind::Call => {}
                    }
                }
                m.callbacks.extend(s.callbacks.iter().cloned());
                for f in s.functions.iter().filter(|f| f.kind.is_public()) {
                    if let Some(d) = &f.deprecated {
                        m.deprecated.insert((f.name.clone(), f.arity), d.clone());
                    }
                }
            }
        }
    }
    out
}

/// Skip an Erlang string or quoted atom starting at `i` (the quote), giving
/// the index after it.
fn skip_quoted(b: &[u8], mut i: usize) -> usize {
    let q = b[i];
    i += 1;
    while i < b.len() && b[i] != q {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// The arity of `-callback name(Args) -> ...`: the top-level commas of the
/// first parenthesized group after `at` (at its `(`), plus one; 0 for `()`.
fn paren_arity(b: &[u8], at: usize) -> Option<u16> {
    let (mut depth, mut commas, mut empty, mut i) = (0i32, 0u16, true, at);
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                empty = false;
                i = skip_quoted(b, i);
                continue;
            }
            b'%' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => {
                if depth > 0 {
                    empty = false;
                }
                depth += 1;
            }
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(if empty { 0 } else { commas + 1 });
                }
            }
            b',' if depth == 1 => commas += 1,
            c if !c.is_ascii_whitespace() => empty = false,
            _ => {}
        }
        i += 1;
    }
    None
}

/// A `-deprecated` entry: function, arity (`None` for `'_'`), message.
type Deprecation = (String, Option<u16>, String);

/// `-callback`s and `-deprecated` entries of an Erlang source file.
fn erlang_attributes(text: &str) -> (Vec<(String, u16)>, Vec<Deprecation>) {
    let b = text.as_bytes();
    let (mut callbacks, mut deprecated) = (Vec::new(), Vec::new());
    for (start, _) in text.match_indices("\n-callback") {
        let rest = &text[start + "\n-callback".len()..];
        let name_start = rest.len() - rest.trim_start().len();
        let name: String = rest[name_start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '\'')
            .collect();
        let name = name.trim_matches('\'').to_string();
        let open = start + "\n-callback".len() + name_start;
        let Some(paren) = text[open..].find('(').map(|p| open + p) else {
            continue;
        };
        if let Some(arity) = paren_arity(b, paren) {
            if !name.is_empty() {
                callbacks.push((name, arity));
            }
        }
    }
    for (start, _) in text.match_indices("\n-deprecated(") {
        let body_start = start + "\n-deprecated(".len();
        let Some(end) = text[body_start..].find(").").map(|e| body_start + e) else {
            continue;
        };
        // `{F, A}`, `{F, A, Desc}` with A an integer or '_', Desc a string
        // or an atom (next_version, next_major_release, eventually).
        let body = &text[body_start..end];
        for tuple in body.split('{').skip(1) {
            let tuple = tuple.split('}').next().unwrap_or("");
            let parts: Vec<&str> = tuple.splitn(3, ',').map(str::trim).collect();
            let (Some(f), Some(a)) = (parts.first(), parts.get(1)) else {
                continue;
            };
            let f = f.trim_matches('\'');
            if f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let arity = match *a {
                "'_'" => None,
                a => match a.parse::<u16>() {
                    Ok(n) => Some(n),
                    Err(_) => continue,
                },
            };
            let desc = parts.get(2).map(|d| d.trim_matches('"')).unwrap_or("");
            let message = match desc {
                "" | "next_version" | "next_major_release" | "eventually" => {
                    format!(
                        "deprecated in OTP ({})",
                        if desc.is_empty() {
                            "no reason given"
                        } else {
                            desc
                        }
                    )
                }
                // Adjacent strings concatenate; `\"` is a quote.
                d => {
                    let mut text = String::new();
                    let mut inside = true;
                    for p in d.split('"') {
                        if inside {
                            text.push_str(p);
                            if p.ends_with('\\') {
                                text.pop();
                                text.push('"');
                                continue;
                            }
                        }
                        inside = !inside;
                    }
                    text.split_whitespace().collect::<Vec<_>>().join(" ")
                }
            };
            deprecated.push((f.to_string(), arity, message));
        }
    }
    (callbacks, deprecated)
}

/// The Erlang modules of an OTP release's `lib` folder: exports from the
/// BEAM files, callbacks and deprecations from the source next to them.
fn from_otp(lib: &Path) -> BTreeMap<String, LibModule> {
    let mut out: BTreeMap<String, LibModule> = BTreeMap::new();
    let mut exact = Library::default();
    let ebins = partition::library::otp_ebins(lib);
    let (read, failed) = exact.overlay_beams(&ebins);
    eprintln!("otp BEAM: {read} files, {failed} unreadable");
    for (name, m) in exact.modules {
        if name.starts_with(':') {
            out.insert(name, m);
        }
    }
    for ebin in &ebins {
        let Some(app) = ebin.parent() else { continue };
        let Ok(entries) = std::fs::read_dir(app.join("src")) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("erl") {
                continue;
            }
            let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let Some(m) = out.get_mut(&format!(":{stem}")) else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let (callbacks, deprecated) = erlang_attributes(&format!("\n{text}"));
            m.callbacks.extend(callbacks);
            for (f, arity, message) in deprecated {
                let arities: Vec<u16> = match arity {
                    Some(a) => vec![a],
                    None => m
                        .functions
                        .iter()
                        .filter(|(n, _)| *n == f)
                        .map(|(_, a)| *a)
                        .collect(),
                };
                for a in arities {
                    if m.functions.contains(&(f.clone(), a)) {
                        m.deprecated.insert((f.clone(), a), message.clone());
                    }
                }
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut lib = Library::default();
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            eprintln!("gen_stdlib: usage: (--source VERSION=LIBDIR | --beam VERSION=BEAMDIR)...");
            std::process::exit(2);
        };
        let Some((version, dir)) = value.split_once('=') else {
            eprintln!("gen_stdlib: {value}: expected VERSION=DIR");
            std::process::exit(2);
        };
        let dir = Path::new(dir);
        match flag.as_str() {
            "--source" => {
                let found = from_source(dir);
                eprintln!("elixir {version} source: {} modules", found.len());
                lib.sources.push(format!("elixir {version} source"));
                for (name, m) in found {
                    let e = lib.modules.entry(name).or_default();
                    e.functions.extend(m.functions);
                    e.macros.extend(m.macros);
                    e.using.extend(m.using);
                    e.injects.extend(m.injects);
                    e.callbacks.extend(m.callbacks);
                    // The newest release's message wins (given last).
                    e.deprecated.extend(m.deprecated);
                }
            }
            "--otp" => {
                let found = from_otp(dir);
                eprintln!("otp {version}: {} modules", found.len());
                lib.sources.push(format!(
                    "otp {version} BEAM export tables (Erlang modules: a lower bound, later releases add functions)"
                ));
                for (name, m) in found {
                    lib.modules.insert(name, m);
                }
            }
            "--beam" => {
                let mut exact = Library::default();
                let (read, failed) = exact.overlay_beams(&[dir.to_path_buf()]);
                eprintln!("elixir {version} BEAM: {read} files, {failed} unreadable");
                lib.sources
                    .push(format!("elixir {version} BEAM export tables"));
                for (name, m) in exact.modules {
                    // Only Elixir modules: the folder may hold Erlang ones.
                    if name.starts_with(':') {
                        continue;
                    }
                    let e = lib.modules.entry(name).or_default();
                    e.functions.extend(m.functions);
                    e.macros.extend(m.macros);
                }
            }
            other => {
                eprintln!(
                    "gen_stdlib: unknown flag {other} (--source V=DIR, --beam V=DIR, --otp V=LIBDIR)"
                );
                std::process::exit(2);
            }
        }
    }
    for m in lib.modules.values_mut() {
        m.using.sort();
        m.using.dedup();
        m.injects.sort();
        m.injects.dedup();
        m.callbacks.sort();
        m.callbacks.dedup();
    }
    print!("{}", lib.write_table());
}
