//! A reader of compiled BEAM files: the atom table, the export table (what
//! a module defines, Elixir macros as `MACRO-name/arity+1`) and the import
//! table (every remote function it calls). Enough to learn what an installed
//! Elixir or a dependency's `_build` defines without its source.

use std::collections::{BTreeSet, HashMap};

/// `(module, function, arity)`, Elixir modules without their `Elixir.`
/// prefix and Erlang modules with a leading colon, as the CPG writes them.
pub type Mfa = (String, String, u16);

/// What a BEAM file says about its module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beam {
    /// The CPG's spelling of the module name.
    pub module: String,
    /// Exported functions, without the `MACRO-` ones.
    pub functions: BTreeSet<(String, u16)>,
    /// Exported macros with their source arity (the `MACRO-` export's minus one).
    pub macros: BTreeSet<(String, u16)>,
    /// Remote functions the module calls.
    pub imports: BTreeSet<Mfa>,
}

/// Why a file could not be read as a BEAM file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeamError {
    #[error("not an uncompressed BEAM file (no FOR1/BEAM header)")]
    NotBeam,
    #[error("truncated or malformed {0}")]
    Malformed(&'static str),
    #[error("no {0} chunk")]
    Missing(&'static str),
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The CPG's spelling of a module atom.
pub fn module_name(atom: &str) -> String {
    match atom.strip_prefix("Elixir.") {
        Some(m) => m.to_string(),
        None => format!(":{atom}"),
    }
}

/// The atoms of an `AtU8` chunk. A negative count (OTP 28 and later) means
/// each length is in the compact term encoding rather than one byte.
fn atoms(chunk: &[u8]) -> Result<Vec<String>, BeamError> {
    let raw = be32(chunk, 0).ok_or(BeamError::Malformed("atom count"))? as i32;
    let (count, compact) = (raw.unsigned_abs() as usize, raw < 0);
    let mut out = Vec::with_capacity(count.min(1 << 16));
    let mut j = 4;
    for _ in 0..count {
        let first = *chunk.get(j).ok_or(BeamError::Malformed("atom table"))? as usize;
        let len = if !compact {
            j += 1;
            first
        } else if first & 0b1000 == 0 {
            // One byte: the value in the high four bits.
            j += 1;
            first >> 4
        } else {
            // Two bytes: three high bits of the first, then the second.
            let low = *chunk.get(j + 1).ok_or(BeamError::Malformed("atom table"))? as usize;
            j += 2;
            ((first >> 5) << 8) | low
        };
        let text = chunk
            .get(j..j + len)
            .ok_or(BeamError::Malformed("atom table"))?;
        out.push(String::from_utf8_lossy(text).into_owned());
        j += len;
    }
    Ok(out)
}

/// Read the module name, exports and imports of a BEAM file.
pub fn read(bytes: &[u8]) -> Result<Beam, BeamError> {
    if bytes.get(0..4) != Some(b"FOR1") || bytes.get(8..12) != Some(b"BEAM") {
        return Err(BeamError::NotBeam);
    }
    let mut chunks: HashMap<&[u8], &[u8]> = HashMap::new();
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let len = be32(bytes, i + 4).ok_or(BeamError::Malformed("chunk header"))? as usize;
        let data = bytes
            .get(i + 8..i + 8 + len)
            .ok_or(BeamError::Malformed("chunk"))?;
        chunks.insert(id, data);
        i += 8 + len.div_ceil(4) * 4;
    }
    let atom_chunk = chunks
        .get(&b"AtU8"[..])
        .or_else(|| chunks.get(&b"Atom"[..]))
        .ok_or(BeamError::Missing("AtU8"))?;
    let atoms = atoms(atom_chunk)?;
    let atom = |k: u32| -> Result<&str, BeamError> {
        atoms
            .get((k as usize).wrapping_sub(1))
            .map(String::as_str)
            .ok_or(BeamError::Malformed("atom index"))
    };
    let table = |id: &'static str| -> Result<Vec<[u32; 3]>, BeamError> {
        let c = chunks.get(id.as_bytes()).ok_or(BeamError::Missing(id))?;
        let n = be32(c, 0).ok_or(BeamError::Malformed(id))? as usize;
        (0..n)
            .map(|k| {
                let at = 4 + 12 * k;
                Ok([
                    be32(c, at).ok_or(BeamError::Malformed(id))?,
                    be32(c, at + 4).ok_or(BeamError::Malformed(id))?,
                    be32(c, at + 8).ok_or(BeamError::Malformed(id))?,
                ])
            })
            .collect()
    };
    let mut imports = BTreeSet::new();
    for [m, f, a] in table("ImpT")? {
        imports.insert((module_name(atom(m)?), atom(f)?.to_string(), a as u16));
    }
    let (mut functions, mut macros) = (BTreeSet::new(), BTreeSet::new());
    for [f, a, _] in table("ExpT")? {
        let name = atom(f)?;
        match name.strip_prefix("MACRO-") {
            Some(m) if a >= 1 => macros.insert((m.to_string(), a as u16 - 1)),
            _ => functions.insert((name.to_string(), a as u16)),
        };
    }
    Ok(Beam {
        module: module_name(atom(1)?),
        functions,
        macros,
        imports,
    })
}

/// A BEAM file holding only what [`read`] reads: the atom table (the
/// module first), the export table and an empty import table. For test
/// fixtures of compiled dependencies and installations.
pub fn fixture(module: &str, exports: &[(&str, u32)]) -> Vec<u8> {
    let mut atoms = vec![module.to_string()];
    for (f, _) in exports {
        if !atoms.iter().any(|a| a == f) {
            atoms.push(f.to_string());
        }
    }
    let mut at = (atoms.len() as u32).to_be_bytes().to_vec();
    for a in &atoms {
        at.push(a.len().min(255) as u8);
        at.extend(&a.as_bytes()[..a.len().min(255)]);
    }
    let mut exp = (exports.len() as u32).to_be_bytes().to_vec();
    for (i, (f, arity)) in exports.iter().enumerate() {
        let index = atoms.iter().position(|a| a == f).unwrap_or(0) as u32 + 1;
        for v in [index, *arity, i as u32 + 1] {
            exp.extend(v.to_be_bytes());
        }
    }
    let mut body = b"BEAM".to_vec();
    for (id, data) in [
        (b"AtU8", at),
        (b"ExpT", exp),
        (b"ImpT", 0u32.to_be_bytes().to_vec()),
    ] {
        body.extend(id);
        body.extend((data.len() as u32).to_be_bytes());
        body.extend(&data);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }
    let mut out = b"FOR1".to_vec();
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    out
}

/// Words that cannot name a function in a `def` head as they are.
const RESERVED: &[&str] = &[
    "true", "false", "nil", "when", "and", "or", "not", "in", "notin", "fn", "do", "end", "catch",
    "rescue", "after", "else",
];

/// Whether `name` can be written as a function name in a `def` head.
fn plain_name(name: &str) -> bool {
    if RESERVED.contains(&name) {
        return false;
    }
    let body = name.strip_suffix(['?', '!']).unwrap_or(name);
    let mut chars = body.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The module's interface as Elixir source: one clause per exported
/// function and macro, so that a BEAM file's export table can go wherever
/// source goes (parsed into a library summary, on a node or in process).
/// Names that are not plain identifiers (`in`, operators, quoted atoms) are
/// written `def unquote(:"name")(...)`; the compiler's own (`__info__/1`,
/// `module_info/0,1`) are left out.
pub fn interface_source(beam: &Beam, origin: &str) -> String {
    use std::fmt::Write;
    let module = match beam.module.strip_prefix(':') {
        Some(erlang) => format!(":{erlang}"),
        None => beam.module.clone(),
    };
    let mut out = format!("# The export table of {origin}, as Elixir (written by cpg).\n");
    let _ = writeln!(out, "defmodule {module} do");
    let params = |n: u16| -> String {
        (0..n)
            .map(|i| format!("_a{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (kind, set) in [("def", &beam.functions), ("defmacro", &beam.macros)] {
        for (name, arity) in set {
            let compiler = matches!(
                (name.as_str(), arity),
                ("__info__", 1) | ("module_info", 0 | 1)
            );
            if compiler {
                continue;
            }
            if plain_name(name) {
                let _ = writeln!(out, "  {kind} {name}({}), do: nil", params(*arity));
            } else {
                let quoted = name
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('#', "\\#");
                let _ = writeln!(
                    out,
                    "  {kind} unquote(:\"{quoted}\")({}), do: nil",
                    params(*arity)
                );
            }
        }
    }
    out.push_str("end\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_atom_lengths() {
        // Two atoms, OTP 28 style: "ab" (one-byte length) and a 300-byte one.
        let long = "x".repeat(300);
        let mut chunk = (-2i32).to_be_bytes().to_vec();
        chunk.push(2 << 4);
        chunk.extend(b"ab");
        chunk.push((((300 >> 8) << 5) | 0b01000) as u8);
        chunk.push((300 & 0xff) as u8);
        chunk.extend(long.as_bytes());
        assert_eq!(atoms(&chunk).unwrap(), vec!["ab".to_string(), long]);
    }

    #[test]
    fn fixtures_read_back() {
        let b = read(&fixture(
            "Elixir.A.B",
            &[("f", 1), ("MACRO-m", 2), ("f", 2)],
        ))
        .unwrap();
        assert_eq!(b.module, "A.B");
        assert_eq!(
            b.functions,
            BTreeSet::from([("f".to_string(), 1), ("f".to_string(), 2)])
        );
        assert_eq!(b.macros, BTreeSet::from([("m".to_string(), 1)]));
        assert!(b.imports.is_empty());
    }

    #[test]
    fn every_exported_name_is_written() {
        let beam = read(&fixture(
            "Elixir.Q.API",
            &[("in", 2), ("and", 2), ("+", 2), ("ok?", 1), ("a \"b\"", 0)],
        ))
        .unwrap();
        let src = interface_source(&beam, "x.beam");
        let cpg = crate::frontend::build_file("x.ex", src.as_bytes());
        assert!(cpg.diagnostics.is_empty(), "{src}\n{:?}", cpg.diagnostics);
        let s = crate::summary::summarize(&cpg.fragments[0]);
        let mut names: Vec<(String, u16)> = s
            .functions
            .iter()
            .filter(|f| f.kind == proto::FunKind::Def)
            .map(|f| (f.name.clone(), f.arity))
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ("+".to_string(), 2),
                ("a \"b\"".to_string(), 0),
                ("and".to_string(), 2),
                ("in".to_string(), 2),
                ("ok?".to_string(), 1)
            ],
            "{src}"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(read(b"hello"), Err(BeamError::NotBeam));
        let mut b = b"FOR1\0\0\0\x10BEAMAtU8\xff\xff\xff\xff".to_vec();
        b.extend([0u8; 8]);
        assert!(read(&b).is_err());
    }
}
