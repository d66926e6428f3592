//! The lexical environment while walking a module: aliases, imports and bound
//! variables, and how a bare call `f(args)` resolves against them.

use std::collections::HashMap;

use super::kernel;

/// Which names an `import` brings in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportFilter {
    All,
    Only(Vec<(String, u16)>),
    Except(Vec<(String, u16)>),
    /// `only: :functions` / `only: :macros` / `only: :sigils`: we do not know
    /// which is which for other modules, so these behave like `All`.
    Kind,
}

impl ImportFilter {
    fn admits(&self, name: &str, arity: u16) -> Admit {
        let listed = |l: &[(String, u16)]| l.iter().any(|(n, a)| n == name && *a == arity);
        match self {
            ImportFilter::Only(l) if listed(l) => Admit::Certain,
            ImportFilter::Only(_) => Admit::No,
            ImportFilter::Except(l) if listed(l) => Admit::No,
            ImportFilter::Except(_) | ImportFilter::All | ImportFilter::Kind => Admit::Maybe,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    Certain,
    Maybe,
    No,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    pub filter: ImportFilter,
}

/// How a bare call resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BareCall {
    Local,
    /// Imported from this module, certainly (explicit `only:` or Kernel).
    Imported(String),
    /// Imports without `only:` that might provide it (the first is the guess;
    /// the link step decides from their exports).
    Candidates(Vec<String>),
    Unresolved,
}

/// Lexical scope state; cloned on entering a scope and dropped on leaving it,
/// which is exactly Elixir's rule (nothing bound inside a branch leaks out).
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Short name → full module name.
    pub aliases: HashMap<String, String>,
    /// In order of appearance; Kernel's implicit import is not listed unless
    /// an explicit `import Kernel, ...` changes it.
    pub imports: Vec<Import>,
    /// Variable name → the node of its reaching definition.
    pub vars: HashMap<String, u32>,
}

impl Env {
    /// Expand the first segment of `Foo.Bar` through the aliases in scope.
    /// `Elixir.Foo` names `Foo` itself, whatever is aliased.
    pub fn expand_alias(&self, text: &str) -> String {
        if let Some(absolute) = text.strip_prefix("Elixir.") {
            return absolute.to_string();
        }
        let (first, rest) = match text.split_once('.') {
            Some((f, r)) => (f, Some(r)),
            None => (text, None),
        };
        match (self.aliases.get(first), rest) {
            (Some(full), Some(rest)) => format!("{full}.{rest}"),
            (Some(full), None) => full.clone(),
            (None, _) => text.to_string(),
        }
    }

    pub fn add_import(&mut self, import: Import) {
        // A later import of the same module replaces the earlier one.
        self.imports.retain(|i| i.module != import.module);
        self.imports.push(import);
    }

    /// Resolve `name/arity` called without a module, given whether the current
    /// module defines it. Mirrors the compiler: local definitions first, then
    /// imports (Kernel's implicit one included).
    pub fn resolve_bare(&self, name: &str, arity: u16, is_local: bool) -> BareCall {
        if is_local {
            return BareCall::Local;
        }
        let mut kernel_filter = None;
        let mut maybe = Vec::new();
        for import in &self.imports {
            if import.module == "Kernel" {
                kernel_filter = Some(&import.filter);
                continue;
            }
            match import.filter.admits(name, arity) {
                Admit::Certain => return BareCall::Imported(import.module.clone()),
                Admit::Maybe => maybe.push(import.module.clone()),
                Admit::No => {}
            }
        }
        let kernel_ok = kernel::exports(name, arity)
            && kernel_filter.is_none_or(|f| f.admits(name, arity) != Admit::No);
        if kernel_ok {
            return BareCall::Imported("Kernel".to_string());
        }
        if maybe.is_empty() {
            BareCall::Unresolved
        } else {
            BareCall::Candidates(maybe)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        let mut env = Env::default();
        env.aliases.insert("Bar".into(), "Foo.Bar".into());
        env
    }

    #[test]
    fn aliases_expand_first_segment_only() {
        let env = env();
        assert_eq!(env.expand_alias("Bar"), "Foo.Bar");
        assert_eq!(env.expand_alias("Bar.Baz"), "Foo.Bar.Baz");
        assert_eq!(env.expand_alias("Baz.Bar"), "Baz.Bar");
        assert_eq!(env.expand_alias("Elixir.Bar"), "Bar");
        assert_eq!(env.expand_alias("Elixir.Bar.Baz"), "Bar.Baz");
    }

    #[test]
    fn locals_beat_imports_and_only_beats_guessing() {
        let mut env = env();
        env.add_import(Import {
            module: "A".into(),
            filter: ImportFilter::All,
        });
        env.add_import(Import {
            module: "B".into(),
            filter: ImportFilter::Only(vec![("f".into(), 1)]),
        });
        assert_eq!(env.resolve_bare("f", 1, true), BareCall::Local);
        assert_eq!(
            env.resolve_bare("f", 1, false),
            BareCall::Imported("B".into())
        );
        // An import without `only:` might provide it: a guess for the link step.
        assert_eq!(
            env.resolve_bare("g", 1, false),
            BareCall::Candidates(vec!["A".into()])
        );
        assert_eq!(
            env.resolve_bare("is_nil", 1, false),
            BareCall::Imported("Kernel".into())
        );
        env.add_import(Import {
            module: "C".into(),
            filter: ImportFilter::All,
        });
        assert_eq!(
            env.resolve_bare("g", 1, false),
            BareCall::Candidates(vec!["A".into(), "C".into()])
        );
        env.add_import(Import {
            module: "Kernel".into(),
            filter: ImportFilter::Except(vec![("is_nil".into(), 1)]),
        });
        assert_eq!(
            env.resolve_bare("is_nil", 1, false),
            BareCall::Candidates(vec!["A".into(), "C".into()])
        );
    }
}
