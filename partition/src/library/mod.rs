//! What the analysed code calls but does not define: Elixir's standard
//! library (a table generated from pinned Elixir releases and kept in the
//! repository, overridden by an installed Elixir's BEAM files when one is
//! found) and the export tables of compiled dependencies (`_build`).
//!
//! Dependencies with source are parsed as library modules by the callers of
//! the front end (see `is_library_file`); this module knows only what has no
//! source here.

pub mod beam;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proto::DepKind;

/// The generated table (see `partition/examples/gen_stdlib.rs` and
/// `scripts/gen-stdlib.sh`).
const TABLE: &str = include_str!("stdlib.tsv");

/// What is known of one module defined outside the analysed code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibModule {
    /// Public functions, `name/arity`.
    pub functions: HashSet<(String, u16)>,
    /// Public macros (and guards), `name/arity`.
    pub macros: HashSet<(String, u16)>,
    /// Directives `use` of this module injects into the user.
    pub using: Vec<(DepKind, String)>,
    /// Functions `use` of this module defines in the user.
    pub injects: Vec<(String, u16)>,
    /// `@callback`s: it is a behaviour.
    pub callbacks: Vec<(String, u16)>,
    /// `@deprecated` functions and macros, with the message.
    pub deprecated: HashMap<(String, u16), String>,
    /// The exports are a lower bound: an Erlang module of the table, from
    /// an OTP release older than the one the code may run on (newer ones
    /// add functions). A function it lacks is unknown, not undefined.
    pub lower_bound: bool,
}

impl LibModule {
    /// Whether the module exports `name/arity` as a function or a macro.
    pub fn exports(&self, name: &str, arity: u16) -> bool {
        let key = (name.to_string(), arity);
        self.functions.contains(&key) || self.macros.contains(&key)
    }
}

/// A set of modules known without their source.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub modules: HashMap<String, LibModule>,
    /// Where the knowledge comes from, one line each
    /// (`elixir 1.14.0 source+beam`, `installed elixir at ...`).
    pub sources: Vec<String>,
}

impl Library {
    pub fn module(&self, name: &str) -> Option<&LibModule> {
        self.modules.get(name)
    }

    /// `Some(true)` when `module` is known and exports `name/arity`,
    /// `Some(false)` when known and it does not, `None` when unknown.
    pub fn provides(&self, module: &str, name: &str, arity: u16) -> Option<bool> {
        let m = self.modules.get(module)?;
        match m.exports(name, arity) {
            false if m.lower_bound => None,
            found => Some(found),
        }
    }

    /// Parse the table format (see `write_table`).
    pub fn parse_table(text: &str) -> Library {
        let mut lib = Library::default();
        let mut current: Option<&mut LibModule> = None;
        let arities =
            |s: &str| -> Vec<u16> { s.split(',').filter_map(|a| a.parse().ok()).collect() };
        for line in text.lines() {
            let mut f = line.split('\t');
            let tag = f.next().unwrap_or("");
            let (a, b) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
            match tag {
                "V" => lib.sources.push(a.to_string()),
                "M" => {
                    let m = lib.modules.entry(a.to_string()).or_default();
                    // Erlang modules come from one OTP release's files.
                    m.lower_bound = a.starts_with(':');
                    current = Some(m);
                }
                _ => {
                    let Some(m) = current.as_deref_mut() else {
                        continue;
                    };
                    // `name arities`: one `name/arity` per arity.
                    let named = || arities(b).into_iter().map(|n| (a.to_string(), n));
                    match tag {
                        "F" => m.functions.extend(named()),
                        "X" => m.macros.extend(named()),
                        "D" => m.injects.extend(named()),
                        "C" => m.callbacks.extend(named()),
                        "P" => {
                            let message = f.next().unwrap_or("");
                            m.deprecated
                                .extend(named().map(|key| (key, message.to_string())));
                        }
                        "U" => {
                            if let Some(kind) = DepKind::ALL.iter().find(|k| k.as_str() == a) {
                                m.using.push((*kind, b.to_string()));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        lib
    }

    /// The table format: `V source`, then per module `M name` and its
    /// `F name arities` (functions), `X` (macros), `D` (defined in users by
    /// `use`), `C` (callbacks), `P name arity message` (deprecated) and
    /// `U kind target` (directives `use` injects), tab-separated, arities comma-separated; sorted, so the
    /// generated file diffs well.
    pub fn write_table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for s in &self.sources {
            let _ = writeln!(out, "V\t{s}");
        }
        let mut names: Vec<&String> = self.modules.keys().collect();
        names.sort();
        let group = |set: &mut dyn Iterator<Item = &(String, u16)>| {
            let mut by: std::collections::BTreeMap<&str, Vec<u16>> = Default::default();
            for (n, a) in set {
                by.entry(n.as_str()).or_default().push(*a);
            }
            by.into_iter()
                .map(|(n, mut a)| {
                    a.sort_unstable();
                    a.dedup();
                    let a: Vec<String> = a.iter().map(u16::to_string).collect();
                    (n.to_string(), a.join(","))
                })
                .collect::<Vec<_>>()
        };
        for name in names {
            let m = &self.modules[name];
            let _ = writeln!(out, "M\t{name}");
            for (tag, set) in [
                ("F", &mut m.functions.iter() as &mut dyn Iterator<Item = _>),
                ("X", &mut m.macros.iter()),
                ("D", &mut m.injects.iter()),
                ("C", &mut m.callbacks.iter()),
            ] {
                for (n, a) in group(set) {
                    let _ = writeln!(out, "{tag}\t{n}\t{a}");
                }
            }
            let mut deprecated: Vec<_> = m.deprecated.iter().collect();
            deprecated.sort();
            for ((n, a), message) in deprecated {
                let _ = writeln!(out, "P\t{n}\t{a}\t{message}");
            }
            let mut using = m.using.clone();
            using.sort();
            using.dedup();
            for (kind, target) in using {
                let _ = writeln!(out, "U\t{kind}\t{target}");
            }
        }
        out
    }

    /// [`Library::overlay_beams`] from an installation at `root`, recorded
    /// in `sources` when it read anything.
    fn overlay_installed(&mut self, what: &str, root: &Path, ebins: &[PathBuf]) {
        let (read, failed) = self.overlay_beams(ebins);
        if read > 0 {
            let unreadable = if failed > 0 {
                format!(", {failed} unreadable")
            } else {
                String::new()
            };
            self.sources.push(format!(
                "installed {what} at {} ({read} BEAM files{unreadable})",
                root.display()
            ));
        }
    }

    /// Replace the exports of every module found in `ebin` folders with
    /// what their BEAM files say. Unreadable files are skipped and counted.
    pub fn overlay_beams(&mut self, ebins: &[PathBuf]) -> (usize, usize) {
        let (mut read, mut failed) = (0, 0);
        for dir in ebins {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().and_then(|x| x.to_str()) != Some("beam") {
                    continue;
                }
                match std::fs::read(&path).map(|b| beam::read(&b)) {
                    Ok(Ok(b)) => {
                        let m = self.modules.entry(b.module).or_default();
                        m.functions = b.functions.into_iter().collect();
                        m.macros = b.macros.into_iter().collect();
                        // What runs here: exact.
                        m.lower_bound = false;
                        read += 1;
                    }
                    _ => failed += 1,
                }
            }
        }
        (read, failed)
    }
}

/// The generated table alone: the same on every machine, so the front end
/// (which resolves bare calls against Kernel) gives the same CPG everywhere.
pub fn table() -> &'static Library {
    static TABLE_LIB: OnceLock<Library> = OnceLock::new();
    TABLE_LIB.get_or_init(|| Library::parse_table(TABLE))
}

/// The standard library as the link step sees it: the table, with the
/// exports of an installed Elixir's BEAM files in place of the table's
/// where one is found (`CPG_ELIXIR_LIB`, or `elixir` on `PATH`).
/// `CPG_ELIXIR_LIB=none` turns the lookup off.
pub fn stdlib() -> &'static Library {
    static STD: OnceLock<Library> = OnceLock::new();
    STD.get_or_init(|| {
        let mut lib = table().clone();
        if let Some(root) = installed_otp() {
            lib.overlay_installed("OTP", &root, &otp_ebins(&root));
        }
        if let Some(root) = installed_elixir() {
            lib.overlay_installed("elixir", &root, &elixir_ebins(&root));
        }
        lib
    })
}

/// The OTP applications whose modules the table covers (as Debian packages
/// them: erlang-base, -crypto, -public-key, -ssl, -inets, -asn1, -mnesia,
/// -runtime-tools, -os-mon, -xmerl, -syntax-tools, -tools, -ssh, -eldap,
/// -parsetools, -ftp, -tftp).
pub const OTP_APPS: &[&str] = &[
    "erts",
    "kernel",
    "stdlib",
    "compiler",
    "sasl",
    "crypto",
    "public_key",
    "ssl",
    "inets",
    "asn1",
    "mnesia",
    "runtime_tools",
    "os_mon",
    "xmerl",
    "syntax_tools",
    "tools",
    "ssh",
    "eldap",
    "parsetools",
    "ftp",
    "tftp",
];

/// An installation's `lib` folder: `var` (a path, or `none` to turn the
/// lookup off), or found from the executable `exe` on `PATH` (often a link
/// into the installation): the first folder `lib_of` accepts among the
/// real executable's ancestors.
fn installed(var: &str, exe: &str, lib_of: impl Fn(&Path) -> Option<PathBuf>) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if v == "none" => return None,
        Some(v) => return Some(PathBuf::from(v)),
        None => {}
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        let bin = dir.join(exe);
        if !bin.is_file() {
            continue;
        }
        let real = std::fs::canonicalize(&bin).unwrap_or(bin);
        if let Some(lib) = real.ancestors().skip(1).take(4).find_map(&lib_of) {
            return Some(lib);
        }
    }
    None
}

/// The `lib` folder of an installed Erlang/OTP (holding `stdlib-VSN/`):
/// `CPG_OTP_LIB`, or `erl` on `PATH` (`.../lib/erlang/bin/erl`).
fn installed_otp() -> Option<PathBuf> {
    installed("CPG_OTP_LIB", "erl", |up| {
        let lib = up.join("lib");
        otp_ebins(&lib)
            .iter()
            .any(|e| e.join("lists.beam").is_file())
            .then_some(lib)
    })
}

/// The `ebin` folders of [`OTP_APPS`] under an OTP `lib` folder
/// (`stdlib-4.2/ebin`, ...).
pub fn otp_ebins(lib: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(lib) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let app = name.split_once('-').map_or(name.as_str(), |(a, _)| a);
            OTP_APPS.contains(&app)
        })
        .map(|e| e.path().join("ebin"))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// The Elixir applications whose modules the table covers.
pub const ELIXIR_APPS: &[&str] = &["elixir", "ex_unit", "logger", "eex", "mix", "iex"];

/// The `lib` folder of an installed Elixir (holding `elixir/ebin`, ...):
/// `CPG_ELIXIR_LIB`, or `elixir` on `PATH` (`.../bin/elixir`, maybe a link
/// to `.../lib/elixir/bin/elixir`).
fn installed_elixir() -> Option<PathBuf> {
    installed("CPG_ELIXIR_LIB", "elixir", |up| {
        if up.join("elixir/ebin/Elixir.Enum.beam").is_file() {
            Some(up.to_path_buf())
        } else if up.join("lib/elixir/ebin/Elixir.Enum.beam").is_file() {
            Some(up.join("lib"))
        } else {
            None
        }
    })
}

fn elixir_ebins(lib: &Path) -> Vec<PathBuf> {
    ELIXIR_APPS
        .iter()
        .map(|a| lib.join(a).join("ebin"))
        .filter(|p| p.is_dir())
        .collect()
}

/// The package of a file recorded as `deps/PACKAGE/...` (dependencies laid
/// out as `mix deps.get` leaves them) or `_build/ENV/lib/PACKAGE/ebin/
/// *.beam` (as `mix compile` leaves them): library code.
pub fn package_of(file: &str) -> Option<&str> {
    if let Some(rest) = file.strip_prefix("deps/") {
        let (package, _) = rest.split_once('/')?;
        return Some(package);
    }
    // `_build/ENV/lib/PACKAGE/ebin/Module.beam`: a dependency's export table.
    let rest = file.strip_prefix("_build/")?;
    let mut parts = rest.split('/');
    let (_env, lib, package, ebin) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (lib == "lib" && ebin == "ebin" && file.ends_with(".beam")).then_some(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_round_trips() {
        let lib = table();
        assert!(lib.provides("Enum", "map", 2) == Some(true));
        assert!(lib.provides("Enum", "map", 7) == Some(false));
        assert!(lib.provides("No.Such.Module", "f", 0).is_none());
        let again = Library::parse_table(&lib.write_table());
        assert_eq!(again.modules, lib.modules);
        assert_eq!(again.sources, lib.sources);
    }

    #[test]
    fn packages_come_from_deps_paths() {
        assert_eq!(package_of("deps/phoenix/lib/phoenix.ex"), Some("phoenix"));
        assert_eq!(package_of("lib/deps/x.ex"), None);
        assert_eq!(
            package_of("_build/dev/lib/ecto/ebin/Elixir.Ecto.Repo.beam"),
            Some("ecto")
        );
        assert_eq!(package_of("_build/dev/lib/ecto/ebin/x.app"), None);
        assert_eq!(package_of("_build/dev/x.beam"), None);
        assert_eq!(package_of("deps/x.ex"), None);
    }
}
