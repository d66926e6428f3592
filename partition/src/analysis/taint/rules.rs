//! Taint rules: reading and checking the TOML, and matching function
//! patterns (`Module.fun/arity` with `*`) and file exclusions.

use proto::{Check, Mfa, ParameterRule, TaintRule, TaintRules};

/// The rules the project ships with (Elixir, Phoenix, Plug, Ecto).
pub const DEFAULT_TAINT_RULES: &str = include_str!("../taint_rules.toml");

/// Read rules from TOML, checking every function pattern.
pub fn parse_taint_rules(text: &str) -> Result<TaintRules, String> {
    let rules: TaintRules = toml::from_str(text).map_err(|e| e.to_string())?;
    let groups = [
        ("source", &rules.sources),
        ("sink", &rules.sinks),
        ("sanitizer", &rules.sanitizers),
        ("flow", &rules.flows),
    ];
    for (what, list) in groups {
        for r in list {
            for p in r
                .calls
                .iter()
                .chain(r.parameters.iter().map(|p| &p.function))
                .chain(&r.validates)
                .chain(&r.field_reads)
            {
                Pattern::parse(p).map_err(|e| format!("{what} {:?}: {e}", r.name))?;
            }
            // Fields of one kind of rule, refused on the others.
            let owned = [
                (
                    "source",
                    "sources have `fields` and `parameters`",
                    !r.fields.is_empty() || !r.parameters.is_empty(),
                ),
                (
                    "sink",
                    "sinks have `args` and `keys`",
                    !r.args.is_empty() || !r.keys.is_empty(),
                ),
                ("sink", "sinks have `severity`", r.severity.is_some()),
                ("source", "sources have `operator`", r.operator),
                (
                    "flow",
                    "flows have `result_from`",
                    !r.result_from.is_empty(),
                ),
                (
                    "sanitizer",
                    "sanitizers have `checks`",
                    !r.checks.is_empty(),
                ),
                (
                    "sanitizer",
                    "sanitizers have `validates`, `anchored` and `field_reads`",
                    !r.validates.is_empty() || !r.field_reads.is_empty() || r.anchored,
                ),
                (
                    "sanitizer",
                    "sanitizers have `sources`",
                    !r.sources.is_empty(),
                ),
            ];
            for (owner, only, set) in owned {
                if set && what != owner {
                    return Err(format!("{what} {:?}: only {only}", r.name));
                }
            }
            if r.anchored && r.validates.is_empty() {
                return Err(format!(
                    "sanitizer {:?}: `anchored` is about the calls in `validates`, and there are none",
                    r.name
                ));
            }
            for name in &r.sources {
                if !rules.sources.iter().any(|s| &s.name == name) {
                    return Err(format!(
                        "sanitizer {:?}: no source is named {name:?}",
                        r.name
                    ));
                }
            }
            for c in &r.checks {
                if !Check::NAMES.iter().any(|(n, _)| n == c) {
                    let known: Vec<&str> = Check::NAMES.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "sanitizer {:?}: unknown check {c:?} (known: {})",
                        r.name,
                        known.join(", ")
                    ));
                }
            }
        }
    }
    Ok(rules)
}

/// The default rules, parsed.
pub fn default_taint_rules() -> TaintRules {
    // The file is part of the binary and covered by a test.
    parse_taint_rules(DEFAULT_TAINT_RULES).unwrap_or_default()
}

/// Whether `file` is left out by one of the `exclude` patterns: one ending
/// in `/` is a folder at any depth, any other a path prefix.
pub(super) fn excluded(exclude: &[String], file: &str) -> bool {
    exclude.iter().any(|p| {
        if p.ends_with('/') {
            file.starts_with(p.as_str()) || file.contains(&format!("/{p}"))
        } else {
            file.starts_with(p.as_str())
        }
    })
}

/// `Module.fun/arity` with `*` wildcards in each part.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    module: Glob,
    name: Glob,
    /// `None` for `*`.
    arity: Option<u16>,
}

impl Pattern {
    pub(super) fn parse(text: &str) -> Result<Pattern, String> {
        let bad = |why: &str| {
            format!("cannot read {text:?} as a Module.fun/arity pattern ({why}); write it like String.to_atom/1 or File.*/*")
        };
        let (head, arity) = text.rsplit_once('/').ok_or_else(|| bad("no /arity"))?;
        let (module, name) = head.rsplit_once('.').ok_or_else(|| bad("no Module."))?;
        if module.is_empty() || name.is_empty() {
            return Err(bad("empty module or name"));
        }
        let arity = match arity {
            "*" => None,
            a => Some(
                a.parse::<u16>()
                    .map_err(|_| bad("the arity is neither a number nor *"))?,
            ),
        };
        Ok(Pattern {
            module: Glob::new(module),
            name: Glob::new(name),
            arity,
        })
    }

    pub(super) fn matches(&self, mfa: &Mfa) -> bool {
        self.arity.is_none_or(|a| a == mfa.arity)
            && self.name.matches(&mfa.name)
            && self.module.matches(&mfa.module)
    }
}

/// A text pattern where `*` matches any run of characters.
#[derive(Debug, Clone)]
struct Glob {
    /// The pattern split at its stars: one part means no star.
    parts: Vec<String>,
}

impl Glob {
    fn new(pattern: &str) -> Glob {
        Glob {
            parts: pattern.split('*').map(str::to_string).collect(),
        }
    }

    fn matches(&self, text: &str) -> bool {
        let Some((first, rest_parts)) = self.parts.split_first() else {
            return text.is_empty();
        };
        let Some(mut rest) = text.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest_parts.split_last() else {
            return rest.is_empty();
        };
        for p in middle {
            match rest.find(p.as_str()) {
                Some(i) => rest = &rest[i + p.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last.as_str())
    }
}

pub(super) struct Compiled<'r> {
    pub(super) rule: &'r TaintRule,
    pub(super) calls: Vec<Pattern>,
    pub(super) parameters: Vec<(Pattern, &'r ParameterRule)>,
}

pub(super) fn compile(rules: &[TaintRule]) -> Vec<Compiled<'_>> {
    rules
        .iter()
        .map(|rule| Compiled {
            rule,
            calls: rule
                .calls
                .iter()
                .filter_map(|p| Pattern::parse(p).ok())
                .collect(),
            parameters: rule
                .parameters
                .iter()
                .filter_map(|p| Pattern::parse(&p.function).ok().map(|f| (f, p)))
                .collect(),
        })
        .collect()
}
