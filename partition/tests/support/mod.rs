//! Readable text renderings of CPG fragments: the format of the front end's
//! fixtures (`tests/frontend.rs`). Only tests render these, so they live here
//! rather than in the library.

use std::fmt::Write;

use proto::{EdgeKind, FileCpg, Label, ModuleFragment, Node, NodeKind};

/// Which parts of a fragment to render.
#[derive(Debug, Clone, Copy)]
pub struct Sections {
    pub functions: bool,
    pub calls: bool,
    pub deps: bool,
    pub cfg: bool,
    pub dfg: bool,
}

/// Render every fragment and diagnostic of a file.
pub fn render_file(cpg: &FileCpg, sections: Sections) -> String {
    let mut out = String::new();
    for d in &cpg.diagnostics {
        let _ = writeln!(
            out,
            "diagnostic {}:{}:{} {}",
            d.file, d.line, d.column, d.message
        );
    }
    for frag in &cpg.fragments {
        out.push_str(&render_fragment(frag, sections));
    }
    out
}

/// `kind name @line:col` for one node.
pub fn describe(frag: &ModuleFragment, id: u32) -> String {
    let Some(n) = frag.nodes.get(id as usize) else {
        return format!("#{id}?");
    };
    let name = frag.str(n.name);
    let kind = match (n.kind, n.sub) {
        (NodeKind::Variable, Node::VAR_DEF) => "def",
        (NodeKind::Variable, Node::VAR_USE) => "use",
        (NodeKind::Variable, Node::VAR_PIN) => "pin",
        (k, _) => k.as_str(),
    };
    let name = if name.is_empty() {
        String::new()
    } else {
        format!(" {name}")
    };
    format!("{kind}{name} @{}:{}", n.span.line, n.span.col)
}

pub fn render_fragment(frag: &ModuleFragment, s: Sections) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({}:{})",
        frag.kind, frag.name, frag.file, frag.span.line
    );
    if let Some((p, t)) = frag.implements {
        let _ = writeln!(out, "  implements {} for {}", frag.str(p), frag.str(t));
    }
    if s.deps {
        for d in &frag.deps {
            let _ = writeln!(out, "  dep {} {} @{}", d.kind, frag.str(d.target), d.line);
        }
        for b in &frag.behaviours {
            let _ = writeln!(out, "  behaviour {}", frag.str(*b));
        }
        for u in &frag.using {
            let _ = writeln!(out, "  using {} {} @{}", u.kind, frag.str(u.target), u.line);
        }
    }
    for (fi, f) in frag.functions.iter().enumerate() {
        if s.functions {
            let mut extra = String::new();
            if f.callback {
                extra.push_str(" callback");
            }
            if let Some(full) = f.default_of {
                let _ = write!(extra, " default_of/{full}");
            }
            let _ = writeln!(
                out,
                "  {} {}/{} clauses={} nesting={}{}",
                f.kind,
                frag.str(f.name),
                f.arity,
                f.clauses.len(),
                f.nesting,
                extra
            );
        }
        if s.calls {
            for c in frag.calls.iter().filter(|c| c.caller as usize == fi) {
                let module = c.module.map(|m| frag.str(m)).unwrap_or("?");
                let mut extra = String::new();
                if c.quoted {
                    extra.push_str(" quoted");
                }
                if !c.candidates.is_empty() {
                    let names: Vec<&str> = c.candidates.iter().map(|m| frag.str(*m)).collect();
                    let _ = write!(extra, " candidates={}", names.join(","));
                }
                let line = frag
                    .nodes
                    .get(c.node as usize)
                    .map(|n| n.span.line)
                    .unwrap_or(0);
                let _ = writeln!(
                    out,
                    "    call {}/{} -> {}.{}/{} ({}) @{}{}",
                    frag.str(f.name),
                    f.arity,
                    module,
                    frag.str(c.name),
                    c.arity,
                    c.kind,
                    line,
                    extra
                );
            }
        }
        for (ci, clause) in f.clauses.iter().enumerate() {
            let range = clause.node..clause.end;
            for (kind, on) in [(EdgeKind::Cfg, s.cfg), (EdgeKind::Dfg, s.dfg)] {
                if !on {
                    continue;
                }
                let _ = writeln!(out, "    {} {}/{}#{}", kind, frag.str(f.name), f.arity, ci);
                for e in frag
                    .edges
                    .iter()
                    .filter(|e| e.kind == kind && range.contains(&e.src))
                {
                    let label = match (e.label, e.index) {
                        (Label::None, _) => String::new(),
                        (
                            l @ (Label::Clause
                            | Label::Rescue
                            | Label::Catch
                            | Label::Arg
                            | Label::Else),
                            i,
                        ) => {
                            format!(" [{l} {i}]")
                        }
                        (Label::Key, i) => format!(" [key {}]", frag.str(u32::from(i))),
                        (Label::Checked, i) => {
                            let names: Vec<&str> = proto::Check::NAMES
                                .iter()
                                .filter(|(_, b)| i & u16::from(*b) != 0)
                                .map(|(n, _)| *n)
                                .collect();
                            format!(" [checked {}]", names.join(","))
                        }
                        (l, _) => format!(" [{l}]"),
                    };
                    let _ = writeln!(
                        out,
                        "      {} -> {}{}",
                        describe(frag, e.src),
                        describe(frag, e.dst),
                        label
                    );
                }
            }
        }
    }
    out
}
