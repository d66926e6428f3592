//! `Module.fun/arity` names: the identity of a function across the cluster.

use serde::{Deserialize, Serialize};

/// A fully qualified function name. Erlang modules keep their colon (`:ets`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mfa {
    pub module: String,
    pub name: String,
    pub arity: u16,
}

impl Mfa {
    pub fn new(module: impl Into<String>, name: impl Into<String>, arity: u16) -> Mfa {
        Mfa {
            module: module.into(),
            name: name.into(),
            arity,
        }
    }
}

impl std::fmt::Display for Mfa {
    /// `Module.fun/arity`; a callee whose module is unknown (an unresolved or
    /// dynamic call) shows as `?.fun/arity`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let module = if self.module.is_empty() {
            "?"
        } else {
            &self.module
        };
        write!(f, "{module}.{}/{}", self.name, self.arity)
    }
}

/// Why a `Module.fun/arity` string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaParseError {
    pub input: String,
    pub reason: &'static str,
}

impl std::fmt::Display for MfaParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot read {:?} as Module.fun/arity ({}); write it like Enum.map/2 or :ets.insert/2",
            self.input, self.reason
        )
    }
}

impl std::error::Error for MfaParseError {}

impl std::str::FromStr for Mfa {
    type Err = MfaParseError;

    fn from_str(s: &str) -> Result<Mfa, MfaParseError> {
        let err = |reason| MfaParseError {
            input: s.to_string(),
            reason,
        };
        let s = s.trim();
        let (head, arity) = s.rsplit_once('/').ok_or_else(|| err("missing /arity"))?;
        let arity: u16 = arity.parse().map_err(|_| err("arity is not a number"))?;
        // The function name follows the last dot that is not part of an operator
        // name such as `Kernel.../2` or `Kernel.<>/2`: split at the first dot after
        // the module part, which ends where a lower-case or operator name starts.
        let split = module_end(head).ok_or_else(|| err("missing Module. prefix"))?;
        let (module, name) = (&head[..split], &head[split + 1..]);
        if module.is_empty() || name.is_empty() {
            return Err(err("empty module or function name"));
        }
        Ok(Mfa::new(module, name, arity))
    }
}

/// Byte offset of the dot separating module and function in `head`.
fn module_end(head: &str) -> Option<usize> {
    if let Some(rest) = head.strip_prefix(':') {
        // Erlang module: `:name.fun`.
        return rest.find('.').map(|i| i + 1);
    }
    // Elixir module: segments start upper-case; the function starts otherwise.
    let bytes = head.as_bytes();
    let mut i = 0;
    loop {
        let dot = head[i..].find('.')? + i;
        let next = *bytes.get(dot + 1)?;
        if !next.is_ascii_uppercase() {
            return Some(dot);
        }
        i = dot + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_elixir_erlang_and_operator_names() {
        let m: Mfa = "Foo.Bar.baz?/2".parse().unwrap();
        assert_eq!(m, Mfa::new("Foo.Bar", "baz?", 2));
        let m: Mfa = ":ets.insert/2".parse().unwrap();
        assert_eq!(m, Mfa::new(":ets", "insert", 2));
        let m: Mfa = "Kernel.../2".parse().unwrap();
        assert_eq!(m, Mfa::new("Kernel", "..", 2));
        assert_eq!(m.to_string(), "Kernel.../2");
    }

    #[test]
    fn rejects_malformed_names_with_a_hint() {
        for bad in ["foo/1", "Foo.bar", "Foo.bar/x", "Foo/1", ".f/1"] {
            let e = bad.parse::<Mfa>().unwrap_err();
            assert!(e.to_string().contains("Enum.map/2"), "{e}");
        }
    }
}
