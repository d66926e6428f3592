//! `cpg mcp` driven by the official MCP client SDK (PyPI `mcp`, installed
//! by scripts/setup-mcp.sh), on the example application: every tool is
//! listed with its schema and called, pages chain, and mistakes come back
//! as tool errors that say what to change.

use serde_json::{json, Value};

mod support;
use support::{printed_json, python_client};

/// Run the calls through the SDK against `cpg mcp ARGS`.
fn drive(calls: &Value, args: &[&str]) -> Value {
    printed_json(
        python_client("mcp", "drive.py")
            .arg(env!("CARGO_BIN_EXE_cpg"))
            .arg(calls.to_string())
            .args(args),
        "the MCP client",
    )
}

#[test]
fn every_tool_answers_an_agent_on_the_example() {
    // A copy: the server caches the folder's summaries under its _build/.
    let work = tempfile::tempdir().unwrap();
    support::copy_dir(&support::example(), work.path());
    let example = work.path().to_str().unwrap();
    let sort_key = "Shop.Util.Sorting.sort_key/1";
    let calls = json!([
        ["callers", { "function": sort_key }],
        ["callees", { "function": "Shop.Catalog.list_products/1", "depth": 1 }],
        ["impact", { "target": sort_key }],
        ["paths", { "from": "ShopWeb.ProductController.index/2", "to": sort_key }],
        ["cycles", {}],
        ["dead_code", { "limit": 1 }],
        ["dead_code", { "limit": 1, "offset": 1 }],
        ["taint", {}],
        ["smells", {}],
        ["hotspots", { "by": "pagerank", "top": 3 }],
        ["module_graph", { "limit": 5 }],
        ["search_symbols", { "query": "SORT_KEY" }],
        ["function_source", { "function": sort_key }],
        ["callers", { "function": "sort_key" }],
        ["hotspots", { "by": "fame" }],
        ["dead_code", { "limit": 100000 }],
        ["no_such_tool", {}],
    ]);
    let out = drive(&calls, &[example]);
    assert_eq!(out["server"], "cpg");
    let names: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "callers",
            "callees",
            "impact",
            "paths",
            "cycles",
            "dead_code",
            "taint",
            "smells",
            "hotspots",
            "module_graph",
            "search_symbols",
            "function_source"
        ]
    );
    for t in out["tools"].as_array().unwrap() {
        assert_eq!(t["schema"]["type"], "object", "{t}");
        assert_eq!(t["read_only"], true, "{t}");
    }
    let c: Vec<&Value> = out["calls"].as_array().unwrap().iter().collect();
    let ok = |i: usize| -> &Value {
        assert!(!c[i]["error"].as_bool().unwrap(), "{}", c[i]);
        &c[i]["structured"]
    };
    let functions = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| support::mfa_text(&r["mfa"]))
            .collect()
    };
    assert_eq!(functions(ok(0)), ["Shop.Catalog.list_products/1"]);
    assert!(functions(ok(1)).contains(&sort_key.to_string()), "{}", c[1]);
    assert!(
        ok(2)["upstream"]["total"].as_u64().unwrap() >= 1,
        "{}",
        c[2]
    );
    assert!(ok(3)["shortest"].is_array(), "{}", c[3]);
    assert!(ok(4)["modules"]["total"].as_u64().unwrap() >= 1, "{}", c[4]);
    // Pages chain: one item at a time, the next where the first said.
    let (first, second) = (ok(5), ok(6));
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert_eq!(first["next_offset"], 1);
    assert!(first["total"].as_u64().unwrap() >= 2);
    assert_ne!(first["items"][0], second["items"][0]);
    assert_eq!(ok(7)["total"], 4, "{}", c[7]);
    assert!(ok(8)["total"].as_u64().unwrap() >= 1, "{}", c[8]);
    assert_eq!(ok(9)["top"].as_array().unwrap().len(), 3, "{}", c[9]);
    assert!(ok(10)["items"].as_array().unwrap().len() <= 5, "{}", c[10]);
    let found: Vec<&str> = ok(11)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["function"].as_str().unwrap())
        .collect();
    assert_eq!(found, [sort_key]);
    let source = ok(12);
    assert_eq!(source["file"], "lib/shop/util/sorting.ex");
    assert!(
        source["text"].as_str().unwrap().contains("def sort_key"),
        "{source}"
    );
    // Mistakes are tool errors that say what to change.
    for (i, says) in [
        (13, "must be Module.fun/arity"),
        (14, "`by` is one of"),
        (15, "`limit` must be a whole number from 0 to 500"),
        (16, "no tool \"no_such_tool\"; the tools are: callers"),
    ] {
        assert!(c[i]["error"].as_bool().unwrap(), "{}", c[i]);
        assert!(c[i]["text"].as_str().unwrap().contains(says), "{}", c[i]);
    }
    // Started again, the server reads the summaries it cached instead of
    // parsing the folder, and answers the same.
    assert!(work.path().join("_build/cpg/workspace.bin").exists());
    let again = drive(&calls, &[example]);
    assert_eq!(again["calls"], out["calls"]);
}
