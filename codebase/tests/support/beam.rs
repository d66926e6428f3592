//! The compiler's rewrite rules of Elixir calls into Erlang ones, against
//! which resolved calls are compared with compiled modules (the BEAM files
//! themselves are read by `partition::library::beam`).

pub use partition::library::beam::{module_name, Mfa};

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
