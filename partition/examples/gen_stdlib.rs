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
                        InjectionKind::Splice | InjectionKind::BeforeCompile => {}
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
                eprintln!("gen_stdlib: unknown flag {other} (--source V=DIR, --beam V=DIR)");
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
