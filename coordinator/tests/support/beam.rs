//! A minimal reader of compiled BEAM files: the atom table, the import table
//! (every remote function the module calls) and the export table. Used to
//! check resolved calls against what the Elixir compiler really emitted.

use std::collections::HashSet;

/// `(module, function, arity)` with Elixir modules without their `Elixir.`
/// prefix and Erlang modules with a leading colon, as the CPG writes them.
pub type Mfa = (String, String, u16);

#[derive(Debug)]
pub struct Beam {
    pub module: String,
    pub imports: HashSet<Mfa>,
    pub exports: HashSet<(String, u16)>,
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

pub fn read(bytes: &[u8]) -> Result<Beam, String> {
    if bytes.get(0..4) != Some(b"FOR1") || bytes.get(8..12) != Some(b"BEAM") {
        return Err("not an uncompressed BEAM file".into());
    }
    let mut chunks = std::collections::HashMap::new();
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let len = be32(bytes, i + 4).ok_or("truncated chunk header")? as usize;
        let data = bytes.get(i + 8..i + 8 + len).ok_or("truncated chunk")?;
        chunks.insert(id.to_vec(), data);
        i += 8 + len.div_ceil(4) * 4;
    }
    let atoms_chunk = chunks.get(&b"AtU8"[..]).ok_or("no AtU8 chunk")?;
    let count = be32(atoms_chunk, 0).ok_or("bad atom count")? as usize;
    let mut atoms = Vec::with_capacity(count);
    let mut j = 4;
    for _ in 0..count {
        let len = *atoms_chunk.get(j).ok_or("truncated atom")? as usize;
        let text = atoms_chunk
            .get(j + 1..j + 1 + len)
            .ok_or("truncated atom")?;
        atoms.push(String::from_utf8_lossy(text).into_owned());
        j += 1 + len;
    }
    let atom = |k: u32| atoms.get(k as usize - 1).cloned().unwrap_or_default();
    let table = |id: &[u8]| -> Result<Vec<[u32; 3]>, String> {
        let c = chunks.get(id).ok_or("missing table")?;
        let n = be32(c, 0).ok_or("bad table")? as usize;
        (0..n)
            .map(|k| {
                let at = 4 + 12 * k;
                Ok([
                    be32(c, at).ok_or("bad row")?,
                    be32(c, at + 4).ok_or("bad row")?,
                    be32(c, at + 8).ok_or("bad row")?,
                ])
            })
            .collect()
    };
    let imports = table(b"ImpT")?
        .into_iter()
        .map(|[m, f, a]| (module_name(&atom(m)), atom(f), a as u16))
        .collect();
    let exports = table(b"ExpT")?
        .into_iter()
        .map(|[f, a, _]| (atom(f), a as u16))
        .collect();
    Ok(Beam {
        module: module_name(&atom(1)),
        imports,
        exports,
    })
}

/// The compiler's rewrites of Elixir calls into Erlang ones, read from
/// `elixir_rewrite.erl` (`?inline`, `?rewrite` and `inner_inline` rules).
pub fn rewrite_rules(source: &str) -> std::collections::HashMap<Mfa, Mfa> {
    let mut defines = std::collections::HashMap::new();
    for line in source.lines() {
        // -define(map, 'Elixir.Map').
        if let Some(rest) = line.strip_prefix("-define(") {
            if let Some((name, value)) = rest.split_once(", '") {
                if let Some(module) = value.strip_suffix("').") {
                    defines.insert(name.to_string(), module_name(module));
                }
            }
        }
    }
    let unquote = |s: &str| s.trim().trim_matches('\'').to_string();
    let mut rules = std::collections::HashMap::new();
    for line in source.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("?inline(?") {
            // ?inline(?map, get, 2, maps, get);
            let parts: Vec<&str> = rest.trim_end_matches(");").split(", ").collect();
            if let [m, f, a, em, ef] = parts[..] {
                if let (Some(module), Ok(a)) = (defines.get(m), a.parse::<u16>()) {
                    rules.insert(
                        (module.clone(), unquote(f), a),
                        (format!(":{em}"), unquote(ef), a),
                    );
                }
            }
        } else if let Some(rest) = line.strip_prefix("?rewrite(?") {
            // ?rewrite(?map, put, [Map, Key, Value], maps, put, [Key, Value, Map]);
            let count = |s: &str| s.split(',').filter(|x| !x.trim().is_empty()).count() as u16;
            let Some((head, rest)) = rest.split_once('[') else {
                continue;
            };
            let Some((args, rest)) = rest.split_once(']') else {
                continue;
            };
            let Some((tail, rest)) = rest.split_once('[') else {
                continue;
            };
            let Some((erl_args, _)) = rest.split_once(']') else {
                continue;
            };
            let head: Vec<&str> = head.split(", ").collect();
            let tail: Vec<&str> = tail.split(", ").filter(|s| !s.is_empty()).collect();
            if let (Some(module), Some(f), Some(em), Some(ef)) =
                (defines.get(head[0]), head.get(1), tail.first(), tail.get(1))
            {
                rules.insert(
                    (module.clone(), unquote(f), count(args)),
                    (format!(":{em}"), unquote(ef), count(erl_args)),
                );
            }
        } else if let Some(rest) = line.strip_prefix("inner_inline(ex_to_erl, ?") {
            // inner_inline(ex_to_erl, ?bitwise, '&&&', 2) -> {erlang, 'band'};
            if let Some((lhs, rhs)) = rest.split_once(") -> {") {
                let l: Vec<&str> = lhs.split(", ").collect();
                let r: Vec<&str> = rhs.trim_end_matches("};").split(", ").collect();
                if let ([m, f, a], [em, ef]) = (&l[..], &r[..]) {
                    if let (Some(module), Ok(a)) = (defines.get(*m), a.parse::<u16>()) {
                        rules.insert(
                            (module.clone(), unquote(f), a),
                            (format!(":{em}"), unquote(ef), a),
                        );
                    }
                }
            }
        }
    }
    rules
}
