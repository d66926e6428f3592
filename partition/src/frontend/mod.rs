//! The Elixir front end: source bytes in, CPG fragments plus diagnostics out.
//!
//! Parsing never fails. A file with syntax errors still yields the fragments
//! of whatever tree-sitter could recover, and one diagnostic (file, line,
//! column, message) per error or missing node.

mod builder;
mod env;
mod kernel;
pub mod template;

use std::cell::RefCell;

use proto::{Diagnostic, FileCpg};

pub(crate) use builder::anchored_regex;
pub use env::{BareCall, Env, Import, ImportFilter};
pub use kernel::USE_EFFECTS;

thread_local! {
    /// One parser per thread: creating one per file costs more than parsing
    /// a small file.
    static PARSER: RefCell<Option<tree_sitter::Parser>> = const { RefCell::new(None) };
}

/// The content hash used for change detection (xxh3-64 of the bytes).
pub fn content_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Parse one tree with the thread's parser.
pub fn parse_tree(text: &str) -> Option<tree_sitter::Tree> {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut parser = tree_sitter::Parser::new();
            // Only fails on an ABI mismatch between the tree-sitter and
            // tree-sitter-elixir crates, which the build pins.
            parser
                .set_language(&tree_sitter_elixir::LANGUAGE.into())
                .ok()?;
            *slot = Some(parser);
        }
        slot.as_mut()?.parse(text, None)
    })
}

/// The largest source file analysed. The largest files of Elixir itself
/// are under 200 KB; a file this big is generated or hostile, and its CPG
/// would not fit the wire's frames.
pub const MAX_FILE_BYTES: usize = 8 << 20;

/// The most CPG nodes one file may have (Kernel, the largest module of
/// Elixir, has about 7,200). Dense code makes about 48 bytes of fragment
/// per node, so a file at the limit still fits comfortably in one frame.
pub const MAX_FILE_NODES: usize = 500_000;

/// A file recorded with one diagnostic and nothing analysed.
fn refused(file: &str, content_hash: u64, diagnostics: Vec<Diagnostic>) -> FileCpg {
    FileCpg {
        file: file.to_string(),
        content_hash,
        fragments: Vec::new(),
        diagnostics,
    }
}

/// How a diagnostic begins when the front end left a module out because a
/// node would refuse to write it ([`proto::ModuleFragment::check`]).
pub const NOT_WELL_FORMED: &str = "a module left out, not well formed";

/// Build the CPG of one Elixir source file. `file` is the path to record (as
/// the user should see it). Files over [`MAX_FILE_BYTES`] or whose CPG would
/// pass [`MAX_FILE_NODES`] are recorded with a diagnostic and no modules.
pub fn build_file(file: &str, bytes: &[u8]) -> FileCpg {
    if template::is_template(file) {
        return build_template(file, bytes);
    }
    let content_hash = content_hash(bytes);
    let mut diagnostics = Vec::new();
    if bytes.len() > MAX_FILE_BYTES {
        diagnostics.push(Diagnostic {
            file: file.to_string(),
            line: 1,
            column: 0,
            message: format!(
                "file of {:.1} MiB, over the {} MiB limit for one source file; not analyzed (generated code? leave it out of the tree)",
                bytes.len() as f64 / f64::from(1 << 20),
                MAX_FILE_BYTES >> 20
            ),
        });
        return refused(file, content_hash, diagnostics);
    }
    // Git's test for binary content: a NUL byte near the start.
    if let Some(at) = bytes.iter().take(8192).position(|&b| b == 0) {
        diagnostics.push(Diagnostic {
            file: file.to_string(),
            line: 1,
            column: 0,
            message: format!(
                "binary data (a NUL byte at offset {at}), not UTF-8 Elixir source; not analyzed"
            ),
        });
        return refused(file, content_hash, diagnostics);
    }
    let text = decode(file, bytes, &mut diagnostics);
    let Some(tree) = parse_tree(&text) else {
        diagnostics.push(Diagnostic {
            file: file.to_string(),
            line: 1,
            column: 0,
            message: "the parser gave up on this file (no syntax tree)".to_string(),
        });
        return refused(file, content_hash, diagnostics);
    };
    let root = tree.root_node();
    if root.has_error() {
        collect_errors(root, file, &mut diagnostics);
    }
    let (fragments, too_deep) = builder::FileBuilder::build(&text, file, root);
    let nodes: usize = fragments.iter().map(|f| f.nodes.len()).sum();
    if nodes > MAX_FILE_NODES {
        diagnostics.push(Diagnostic {
            file: file.to_string(),
            line: 1,
            column: 0,
            message: format!(
                "the file's CPG has {nodes} nodes, over the limit of {MAX_FILE_NODES} for one file; not analyzed (generated code? leave it out of the tree)"
            ),
        });
        return refused(file, content_hash, diagnostics);
    }
    if let Some(at) = too_deep {
        diagnostics.push(Diagnostic {
            file: file.to_string(),
            line: at.line,
            column: at.col as u32 + 1,
            message: format!(
                "expressions nested deeper than {} levels; the deeper part is not analyzed",
                builder::MAX_NESTING
            ),
        });
    }
    // What a node would refuse to write (a module named "" by
    // `defmodule :"Elixir."`, say) is left out here, with a diagnostic, so
    // that one odd module never refuses the rest of an ingest.
    let mut kept = Vec::with_capacity(fragments.len());
    for f in fragments {
        match f.check() {
            Ok(()) => kept.push(f),
            Err(why) => diagnostics.push(Diagnostic {
                file: file.to_string(),
                line: f.span.line.max(1),
                column: 0,
                message: format!("{NOT_WELL_FORMED}: {why}"),
            }),
        }
    }
    FileCpg {
        file: file.to_string(),
        content_hash,
        fragments: kept,
        diagnostics,
    }
}

/// The text of a file; bad UTF-8 is replaced, with a diagnostic at the
/// line of the first bad byte.
fn decode<'b>(
    file: &str,
    bytes: &'b [u8],
    diagnostics: &mut Vec<Diagnostic>,
) -> std::borrow::Cow<'b, str> {
    match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u32
                + 1;
            diagnostics.push(Diagnostic {
                file: file.to_string(),
                line,
                column: 0,
                message: "invalid UTF-8; bad bytes were replaced with U+FFFD".to_string(),
            });
            String::from_utf8_lossy(bytes)
        }
    }
}

/// A HEEx template: the CPG of its Elixir ([`template::template_source`]),
/// one pseudo-module named after the file. The generated source keeps the
/// template's lines, so what does not parse in it is reported at the
/// template's line: a call in a part that did not parse is not known.
fn build_template(file: &str, bytes: &[u8]) -> FileCpg {
    let diagnostic = |line: u32, message: String| Diagnostic {
        file: file.to_string(),
        line,
        column: 0,
        message,
    };
    let hash = content_hash(bytes);
    if bytes.len() > MAX_FILE_BYTES {
        let message = format!(
            "template of {:.1} MiB, over the {} MiB limit for one file; not analyzed",
            bytes.len() as f64 / f64::from(1 << 20),
            MAX_FILE_BYTES >> 20
        );
        return refused(file, hash, vec![diagnostic(1, message)]);
    }
    let mut diagnostics = Vec::new();
    let text = decode(file, bytes, &mut diagnostics);
    let source = template::template_source(&text);
    let mut cpg = build_file(&format!("{file}.ex"), source.as_bytes());
    cpg.file = file.to_string();
    cpg.content_hash = hash;
    for d in &mut cpg.diagnostics {
        d.file = file.to_string();
        d.column = 0;
        d.message = format!("in the template's Elixir code: {}", d.message);
    }
    diagnostics.append(&mut cpg.diagnostics);
    cpg.diagnostics = diagnostics;
    cpg.fragments
        .retain(|f| f.name == template::TEMPLATE_MODULE && f.kind == proto::ModuleKind::Module);
    for f in &mut cpg.fragments {
        f.name = file.to_string();
        f.file = file.to_string();
        f.kind = proto::ModuleKind::Template;
    }
    cpg
}

/// Error and missing nodes, in document order. Iterative: syntax trees of
/// hostile input can be deeper than the stack.
fn collect_errors(root: tree_sitter::Node, file: &str, out: &mut Vec<Diagnostic>) {
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        let mut descend = node.has_error();
        if node.is_error() || node.is_missing() {
            let p = node.start_position();
            let message = if node.is_missing() {
                format!("syntax error: missing {}", node.kind())
            } else {
                "syntax error: unexpected input".to_string()
            };
            out.push(Diagnostic {
                file: file.to_string(),
                line: p.row as u32 + 1,
                column: p.column as u32 + 1,
                message,
            });
            // One diagnostic per error region, not one per node inside it.
            descend = false;
        }
        if descend && cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return;
            }
        }
    }
}
