//! Templates to their modules: a HEEx file's code (a `template` pseudo-
//! module, see `frontend::template`) becomes a function of the module that
//! owns it, before anything is linked or analysed:
//!
//! - `embed_templates "page_html/*"` in `PageHTML` (its
//!   [`ModuleSummary::templates`] patterns): `page_html/home.html.heex` is
//!   `PageHTML.home/1`;
//! - otherwise a LiveView's or LiveComponent's colocated template,
//!   `foo_live.html.heex` beside `foo_live.ex`: `FooLive.render/1`.
//!
//! The owner's environment applies to the template's bare calls: a function
//! the owner defines is a local call; otherwise the owner's imports are the
//! candidates (the link step adds what its `use` imports). A template no
//! module owns (Phoenix.View's `templates/` folders) is left out.

use std::collections::HashMap;
use std::sync::Arc;

use proto::{CallKind, DepKind, FunKind, ModuleKind, ModuleSummary};

use crate::frontend::template::{TEMPLATE_FUNCTION, TEMPLATE_MODULE};

/// `*` matches a run of characters without `/`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i) && !rest[..i].contains('/'))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// `dir/name.html.heex` → (`dir/name`, `name`).
fn stem(file: &str) -> (&str, &str) {
    let (dir, base) = file.rsplit_once('/').unwrap_or(("", file));
    let name = base.split('.').next().unwrap_or(base);
    (
        &file[..dir.len() + usize::from(!dir.is_empty()) + name.len()],
        name,
    )
}

/// The summaries with every owned template turned into a function of its
/// owner; `None` when there are no templates (nothing to change).
pub fn attach_templates(summaries: &[Arc<ModuleSummary>]) -> Option<Vec<Arc<ModuleSummary>>> {
    if !summaries.iter().any(|m| m.kind == ModuleKind::Template) {
        return None;
    }
    let owners: Vec<&ModuleSummary> = summaries
        .iter()
        .filter(|m| m.kind != ModuleKind::Template && m.kind != ModuleKind::Script)
        .map(|m| &**m)
        .collect();
    // Source file without `.ex` → modules in it, for colocated templates.
    let mut by_file: HashMap<&str, Vec<&ModuleSummary>> = HashMap::new();
    for m in &owners {
        if let Some(base) = m.file.strip_suffix(".ex") {
            by_file.entry(base).or_default().push(m);
        }
    }
    // The owners that embed templates, and their patterns as globs (few of
    // the many owners).
    let embedding: Vec<(&ModuleSummary, String, &str)> = owners
        .iter()
        .flat_map(|o| {
            o.templates
                .iter()
                .map(move |(p, suffix)| (*o, format!("{p}.*"), suffix.as_str()))
        })
        .collect();
    let mut out = Vec::with_capacity(summaries.len());
    for m in summaries {
        if m.kind != ModuleKind::Template {
            out.push(m.clone());
            continue;
        }
        let (path, name) = stem(&m.file);
        // Phoenix takes the files matching `pattern.*`; the function is the
        // file's name up to its first `.`, and the suffix.
        let embedded = embedding
            .iter()
            .find(|(_, pattern, _)| glob(pattern, &m.file))
            .map(|(o, _, suffix)| (*o, format!("{name}{suffix}")));
        let colocated = || {
            by_file
                .get(path)
                .and_then(|ms| {
                    ms.iter()
                        .find(|o| {
                            !o.functions
                                .iter()
                                .any(|f| f.name == "render" && f.arity == 1)
                        })
                        .or(ms.first())
                })
                .map(|o| (*o, "render".to_string()))
        };
        let Some((owner, fname)) = embedded.or_else(colocated) else {
            continue;
        };
        out.push(Arc::new(as_function_of(m, owner, &fname)));
    }
    Some(out)
}

/// The template `t` as function `name/1` of `owner`.
fn as_function_of(t: &ModuleSummary, owner: &ModuleSummary, name: &str) -> ModuleSummary {
    let imports: Vec<String> = owner
        .deps
        .iter()
        .filter(|d| d.kind == DepKind::Import)
        .map(|d| d.target.clone())
        .collect();
    // The owner's `alias A.B` (as `B`) apply to the template's names.
    let aliases: HashMap<&str, &str> = owner
        .deps
        .iter()
        .filter(|d| d.kind == DepKind::Alias)
        .filter_map(|d| Some((d.target.rsplit('.').next()?, d.target.as_str())))
        .collect();
    let mut functions = Vec::new();
    for f in t.functions.iter().filter(|f| f.name == TEMPLATE_FUNCTION) {
        let mut f = f.clone();
        f.name = name.to_string();
        f.kind = FunKind::Def;
        for c in &mut f.calls {
            if c.module.as_deref() == Some(TEMPLATE_MODULE) {
                c.module = Some(owner.name.clone());
            }
            if let Some(m) = &c.module {
                let (first, rest) = m
                    .split_once('.')
                    .map_or((m.as_str(), None), |(a, b)| (a, Some(b)));
                if let Some(full) = aliases.get(first) {
                    c.module = Some(match rest {
                        Some(rest) => format!("{full}.{rest}"),
                        None => full.to_string(),
                    });
                }
            }
            if c.module.is_some() || c.kind != CallKind::Unresolved {
                continue;
            }
            if owner
                .functions
                .iter()
                .any(|d| d.name == c.name && d.arity == c.arity)
            {
                c.module = Some(owner.name.clone());
                c.kind = CallKind::Local;
                c.candidates = Vec::new();
            } else {
                c.candidates = imports.clone();
            }
        }
        functions.push(f);
    }
    ModuleSummary {
        name: owner.name.clone(),
        file: t.file.clone(),
        kind: ModuleKind::Template,
        line: 1,
        deps: t.deps.clone(),
        functions,
        behaviours: Vec::new(),
        implements: None,
        using: Vec::new(),
        injections: Vec::new(),
        use_args: Vec::new(),
        registers: Vec::new(),
        callbacks: Vec::new(),
        nodes: t.nodes,
        edges: t.edges,
        templates: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_stems() {
        assert!(glob("lib/a/page_html/*", "lib/a/page_html/home"));
        assert!(!glob("lib/a/page_html/*", "lib/a/page_html/x/home"));
        assert!(glob("lib/*/b", "lib/a/b"));
        assert!(glob(
            "lib/a/page_html/*.*",
            "lib/a/page_html/home.html.heex"
        ));
        assert!(glob(
            "lib/a/emails/*.html.*",
            "lib/a/emails/welcome.html.heex"
        ));
        assert!(!glob(
            "lib/a/emails/*.html.*",
            "lib/a/emails/welcome.text.heex"
        ));
        assert_eq!(stem("lib/a/home.html.heex"), ("lib/a/home", "home"));
        assert_eq!(stem("home.html.heex"), ("home", "home"));
    }
}
