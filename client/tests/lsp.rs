//! `cpg lsp` driven by a real language client (pygls, installed by
//! scripts/setup-lsp.sh) on a copy of the example application: references,
//! definition, call hierarchy, symbols, hover, code lenses, diagnostics,
//! a saved edit with a non-ASCII line whose new call shows up in the
//! references at its UTF-16 column, and an unsaved edit answered from the
//! editor's text until the document is closed. The client waits for the server to
//! exit, so a server that does not stop fails the test (by its time-out).

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

mod support;
use support::{copy_dir, run_bounded};

#[test]
fn an_editor_navigates_the_example_and_sees_a_saved_edit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    copy_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop")),
        &root,
    );
    let out = run_bounded(
        Command::new(
            support::tools("CPG_LSP_TOOLS", "lsp", "venv/bin/python").join("venv/bin/python"),
        )
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lsp/drive.py"))
        .arg(env!("CARGO_BIN_EXE_cpg"))
        .arg(&root),
        std::time::Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "the LSP client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("the client prints JSON");
    // catalog.ex line 25 calls sort_key at column 57 (0-based 24, 56).
    assert_eq!(got["references"], json!([["catalog.ex", 24, 56, 64]]));
    assert_eq!(got["definition"], json!([["sorting.ex", 7, 6, 14]]));
    assert_eq!(got["prepared"], json!(["Shop.Util.Sorting.sort_key/1"]));
    assert_eq!(got["incoming"], json!(["Shop.Catalog.list_products/1"]));
    let outgoing: Vec<&str> = got["outgoing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        outgoing.contains(&"Shop.Util.Sorting.sort_key/1"),
        "{outgoing:?}"
    );
    assert_eq!(
        got["workspace_symbols"],
        json!(["Shop.Util.Sorting.sort_key/1"])
    );
    assert_eq!(
        got["document_symbols"],
        json!([["Shop.Util.Sorting", ["sort_key/1"]]])
    );
    let hover = got["hover"].as_str().unwrap();
    assert!(
        hover.contains("**Shop.Util.Sorting.sort_key/1**"),
        "{hover}"
    );
    assert!(hover.contains("called by 1 function(s)"), "{hover}");
    // sort_key/1 is where the atom is made from request parameters.
    let facts = got["hover_after_analysis"].as_str().unwrap();
    assert!(
        facts.contains(
            "in a function cycle: no; dead (public, never called): no; taint source: no; taint sink: yes"
        ),
        "{facts}"
    );
    assert_eq!(got["code_lenses"], json!([[7, "1 caller"]]));
    // A request it does not answer is an error saying so; the server goes on.
    let unsupported = got["unsupported"].as_str().unwrap();
    assert!(
        unsupported.contains("cpg lsp does not answer textDocument/formatting"),
        "{unsupported}"
    );
    // Diagnostics, published on their own: taint findings at their sinks
    // (severity 1 error, 2 warning) with every step as related
    // information, module cycles and smells.
    let d = &got["diagnostics"];
    assert_eq!(d["sorting.ex"], json!([["taint/atom-creation", 2, 7, 6]]));
    assert_eq!(
        d["exporter.ex"],
        json!([
            ["taint/argument-injection", 2, 22, 7],
            ["taint/command-execution", 2, 22, 3],
            ["taint/file-path", 1, 17, 6]
        ])
    );
    assert_eq!(d["pricing.ex"], json!([["cycle/modules", 2, 0, 0]]));
    assert_eq!(
        d["discounts.ex"],
        json!([
            ["cycle/modules", 2, 0, 0],
            ["smell/cyclic_dependency", 3, 0, 0]
        ])
    );
    // The saved file's call, after "𝔸é" (three UTF-16 units, five bytes).
    let column = got["expected_new_character"].as_u64().unwrap();
    assert_eq!(column, 45);
    assert_eq!(
        got["references_after_save"],
        json!([
            ["catalog.ex", 24, 56, 64],
            ["fresh.ex", 2, column, column + 8]
        ])
    );
    // An unsaved edit adds a call on line 3 (column 38); closing the
    // document without saving takes it back.
    assert_eq!(
        got["references_after_change"],
        json!([
            ["catalog.ex", 24, 56, 64],
            ["fresh.ex", 2, column, column + 8],
            ["fresh.ex", 3, 38, 46]
        ])
    );
    assert_eq!(got["references_after_close"], got["references_after_save"]);
}
