//! Prints tree-sitter-elixir's syntax tree of a file (or stdin) as an
//! S-expression: a debugging aid for work on the front end.
//!
//! `cargo run -p partition --example sexp -- FILE`

use std::io::Read;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut src = String::new();
    match std::env::args().nth(1) {
        Some(path) => src = std::fs::read_to_string(path)?,
        None => {
            std::io::stdin().read_to_string(&mut src)?;
        }
    }
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&tree_sitter_elixir::LANGUAGE.into())?;
    let tree = parser.parse(&src, None).ok_or("parser returned no tree")?;
    print(tree.root_node(), &src, 0, None);
    Ok(())
}

fn print(node: tree_sitter::Node, src: &str, depth: usize, field: Option<&str>) {
    let text = &src[node.byte_range()];
    let short: String = text.chars().take(40).collect::<String>().replace('\n', "⏎");
    let field = field.map(|f| format!("{f}: ")).unwrap_or_default();
    if node.is_named() {
        println!(
            "{}{}{} [{}] {:?}",
            "  ".repeat(depth),
            field,
            node.kind(),
            node.start_position().row + 1,
            short
        );
    }
    let mut cursor = node.walk();
    for (i, child) in node.children(&mut cursor).enumerate() {
        let f = node.field_name_for_child(i as u32);
        print(child, src, depth + 1, f);
    }
}
