//! `cpg lsp` driven by a real language client (pygls, installed by
//! scripts/setup-lsp.sh) on a copy of the example application: references,
//! definition, call hierarchy, symbols, hover, code lenses, diagnostics,
//! a saved edit with a non-ASCII line whose new call shows up in the
//! references at its UTF-16 column, and an unsaved edit answered from the
//! editor's text until the document is closed; and on a copy of the Elixir
//! standard library, against the embedded analysis. The client waits for
//! the server to exit, so a server that does not stop fails the test (by
//! its time-out).

use std::path::Path;

use serde_json::{json, Value};

mod support;
use support::{copy_dir, printed_json, python_client};

/// Run the pygls driver `script` (under tests/lsp/) on the workspace
/// `root` with `args`: what it printed.
fn drive(script: &str, root: &Path, args: &[&str]) -> Value {
    printed_json(
        python_client("lsp", script)
            .arg(env!("CARGO_BIN_EXE_cpg"))
            .arg(root)
            .args(args),
        &format!("the LSP client ({script} {args:?})"),
    )
}

#[test]
fn an_editor_navigates_the_example_and_sees_a_saved_edit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    copy_dir(&support::example(), &root);
    let got = drive("drive.py", &root, &[]);
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
    // Code lenses come unresolved; resolving one counts the callers.
    assert_eq!(got["code_lenses_unresolved"], json!([true]));
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
    // The same text cut short (a clause open, no `end`) still answers from
    // what parsed: both calls.
    assert_eq!(
        got["references_with_syntax_error"],
        got["references_after_change"]
    );
    assert_eq!(got["references_after_close"], got["references_after_save"]);
    // The server asked to watch the Elixir files; a file created and one
    // deleted outside the editor, reported together, count.
    assert_eq!(
        got["watch_registered"],
        json!([["workspace/didChangeWatchedFiles", ["**/*.{ex,exs}"]]])
    );
    assert_eq!(
        got["references_after_watched"],
        json!([["catalog.ex", 24, 56, 64], ["watched.ex", 1, 34, 42]])
    );
}

#[path = "../../codebase/tests/support/mod.rs"]
mod real_code;

/// The callers (`incoming`) or callees of `mfa`, one call away, as the
/// embedded analysis answers them.
fn walk(snapshot: &query::Snapshot, mfa: &str, incoming: bool) -> Vec<String> {
    let function: proto::Mfa = mfa.parse().expect("an MFA");
    let query = if incoming {
        proto::Query::Callers { function, depth: 1 }
    } else {
        proto::Query::Callees { function, depth: 1 }
    };
    match &*query::answer(snapshot, &query).expect("an answer").result {
        proto::QueryResult::Reached(r) => {
            let mut v: Vec<String> = r.iter().map(|x| x.mfa.to_string()).collect();
            v.sort();
            v
        }
        other => panic!("{other:?}"),
    }
}

/// The same client on real code, a copy of the Elixir standard library
/// (scripts/fetch-corpus.sh), against the embedded analysis of the same
/// tree: the call hierarchy of a function with callers in several files is
/// the embedded answer, every reference's range covers the function's
/// name (UTF-16 columns over real text), and an unsaved edit that calls it
/// after non-ASCII text shows up in both.
#[test]
fn an_editor_navigates_the_elixir_corpus() {
    let corpus = real_code::fetched("fetch-corpus.sh");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("elixir");
    copy_dir(&corpus, &root);
    let snapshot = codebase::workspace::Workspace::open(&root, codebase::embedded::Deps::Library)
        .unwrap()
        .snapshot();
    // The first public function by name with 5 to 30 callers in at least
    // two files, defined in elixir/lib, its name a plain word.
    let mut candidates: Vec<(String, String, u32, String)> = Vec::new();
    for m in &snapshot.summaries {
        if !m.file.starts_with("elixir/lib/") {
            continue;
        }
        for f in &m.functions {
            if f.kind != proto::FunKind::Def
                || !f.name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                continue;
            }
            candidates.push((
                proto::Mfa::new(&m.name, &f.name, f.arity).to_string(),
                m.file.clone(),
                f.line,
                f.name.clone(),
            ));
        }
    }
    candidates.sort();
    let (mfa, file, line, name, callers) = candidates
        .into_iter()
        .find_map(|(mfa, file, line, name)| {
            let callers = walk(&snapshot, &mfa, true);
            let graph = &snapshot.graph;
            let id = graph.id(&mfa.parse().unwrap())?;
            let files: std::collections::BTreeSet<&str> =
                graph.calls_to(id).map(|e| graph.file_of(e)).collect();
            ((5..=30).contains(&callers.len()) && files.len() >= 2)
                .then_some((mfa, file, line, name, callers))
        })
        .expect("a function with callers in the corpus");
    eprintln!("{mfa}: {} callers", callers.len());
    let edited = "elixir/lib/calendar/iso.ex";
    let got = drive(
        "corpus.py",
        &root,
        &[&file, &(line - 1).to_string(), &name, &mfa, edited],
    );
    assert_eq!(got["prepared"], json!([mfa]));
    assert_eq!(got["incoming"], json!(callers), "{mfa}");
    let refs = got["references"].as_array().unwrap();
    assert!(refs.len() >= callers.len(), "{mfa}: {refs:?}");
    for r in refs {
        assert_eq!(
            r[4],
            json!(name),
            "a reference of {mfa} covers its name: {r}"
        );
    }
    let callees = walk(&snapshot, &mfa, false);
    let outgoing: Vec<String> = serde_json::from_value(got["outgoing"].clone()).unwrap();
    assert!(
        outgoing.iter().all(|o| callees.contains(o)),
        "{mfa}: outgoing {outgoing:?} not among the callees {callees:?}"
    );
    let lists = |key: &str, symbol: &str| {
        let listed = got[key].as_array().unwrap();
        assert!(listed.contains(&json!(symbol)), "{key}: {listed:?}");
    };
    lists("workspace_symbols", &mfa);
    lists("document_symbols", mfa.rsplit('.').next().unwrap());
    assert!(got["hover"]
        .as_str()
        .unwrap()
        .contains(&format!("**{mfa}**")));
    // The unsaved edit: one more caller, its call where the client put it.
    let probe = format!("CpgEditorProbe.probe/{}", mfa.rsplit('/').next().unwrap());
    let mut expected = callers.clone();
    expected.push(probe);
    expected.sort();
    assert_eq!(got["incoming_after_change"], json!(expected));
    let at = &got["probe_at"];
    let after = got["references_after_change"].as_array().unwrap();
    assert_eq!(after.len(), refs.len() + 1);
    assert!(
        after
            .iter()
            .any(|r| r[0] == at[0] && r[1] == at[1] && r[2] == at[2] && r[4] == json!(name)),
        "the new call at {at} among {after:?}"
    );
}
