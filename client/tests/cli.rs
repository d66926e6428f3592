//! The `cpg` binary on the example application (examples/shop): what a user
//! runs from the README, and the errors they get when something is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

mod support;

use support::{example, mfa_text};

/// The example application, as `cpg` is given it.
const EX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop");

fn cpg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cpg"))
        .args(args)
        .output()
        .expect("cannot run cpg")
}

/// Run `cpg ARGS`; it must succeed. Its standard output.
fn cpg_stdout(args: &[&str]) -> String {
    stdout(&cpg(args))
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "cpg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A module that parses and is sound.
const GOOD: &str = "defmodule Good do\n  def ok, do: :ok\nend\n";

/// Write `bytes` to `path` under `root`, making its folders.
fn put(root: &std::path::Path, path: &str, bytes: impl AsRef<[u8]>) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, bytes).unwrap();
}

/// A file `name` holding `text`, in a temporary directory of its own
/// (removed when dropped): the directory, and the file's path.
fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path.to_str().unwrap().to_string())
}

#[test]
fn analyze_json_has_the_documented_fields() {
    let out = cpg_stdout(&["analyze", EX, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in ["files", "modules", "functions", "nodes", "edges"] {
        assert!(
            v[key].as_u64().is_some_and(|n| n > 0),
            "{key} missing or zero in {v}"
        );
    }
    assert_eq!(v["files"], 26);
    assert!(v["modules"].as_u64().unwrap() >= 20);
    assert_eq!(v["parse_diagnostics"], serde_json::json!([]));
    // The one designed cycle: Pricing and Discounts call each other.
    let cycles = v["module_cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(
        cycles[0]["modules"],
        serde_json::json!(["Shop.Discounts", "Shop.Pricing"])
    );
}

#[test]
fn analyze_prints_a_readable_report() {
    let out = cpg_stdout(&["analyze", EX]);
    for needle in [
        "files",
        "modules",
        "CPG nodes",
        "Module dependency cycles (1)",
        "Most-called functions",
        "Most complex functions",
    ] {
        assert!(out.contains(needle), "{needle:?} not in report:\n{out}");
    }
}

#[test]
fn call_graph_exports_in_three_formats() {
    let csv = cpg_stdout(&["export", "call-graph", EX, "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("caller_module,caller_function,caller_arity,callee_module,callee_function,callee_arity,file,line")
    );
    // The pipe in Catalog.list_products/1 reaches Sorting.sort_key/1 (arity
    // 0 + 1 for the piped value) through `alias Shop.Util.Sorting`.
    assert!(
        csv.contains(
            "Shop.Catalog,list_products,1,Shop.Util.Sorting,sort_key,1,lib/shop/catalog.ex,25"
        ),
        "{csv}"
    );
    // `import Shop.Util.Format, only: [money: 1]` resolves `money(price)`.
    assert!(csv.contains("Shop.Catalog,describe,1,Shop.Util.Format,money,1,lib/shop/catalog.ex,32"));
    let json = cpg_stdout(&["export", "call-graph", EX, "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), csv.lines().count() - 1, "json and csv disagree");
    let dot = cpg_stdout(&["export", "call-graph", EX, "--format", "dot"]);
    assert!(
        dot.starts_with("digraph calls {")
            && dot.contains("\"Shop.Pricing.total/1\" -> \"Shop.Discounts.discount_for/1\"")
    );
}

#[test]
fn callers_walk_from_string_to_atom_back_to_the_controller() {
    let out = cpg_stdout(&["callers", "String.to_atom/1", EX, "--depth", "5", "--json"]);
    let reached: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let at = |name: &str| {
        reached
            .iter()
            .find(|r| mfa_text(&r["mfa"]) == name)
            .map(|r| r["depth"].as_u64().unwrap())
    };
    assert_eq!(at("Shop.Util.Sorting.sort_key/1"), Some(1));
    assert_eq!(at("Shop.Catalog.list_products/1"), Some(2));
    assert_eq!(at("ShopWeb.ProductController.index/2"), Some(3));
    // The router also reaches it through ReportController.index/2 and
    // Format.label/1: depth 3.
    assert_eq!(at("ShopWeb.Router.call/2"), Some(3));
    assert_eq!(at("Shop.Util.Format.label/1"), Some(1));
    let callees = cpg_stdout(&["callees", "Shop.Cart.total/1", EX]);
    assert!(
        callees.contains("Shop.Cart.items/1") && callees.contains("Shop.Pricing.total/1"),
        "{callees}"
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let cases: [(&[&str], &str); 5] = [
        (&["analyze", "/no/such/dir"], "no such file or directory"),
        (&["analyze", env!("CARGO_MANIFEST_DIR")], "no Elixir files"),
        (
            &["callers", "sort_key", "examples/shop"],
            "write it like Enum.map/2",
        ),
        (
            &["callers", "Nope.nothing/9", EX],
            "neither defined nor called",
        ),
        (
            &["callers", "Shop.checkout/2", EX, "--depth", "0"],
            "--depth must be at least 1",
        ),
    ];
    for (args, message) in cases {
        let out = cpg(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn a_file_with_syntax_errors_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "good.ex", GOOD);
    put(
        dir.path(),
        "bad.ex",
        "defmodule Bad do\n  def broken(x do\n    x +\n  end\nend\n",
    );
    put(
        dir.path(),
        "binary.ex",
        [0xff, 0xfe, b'd', b'e', b'f', 0x00],
    );
    let out = cpg_stdout(&["analyze", dir.path().to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let diags = v["parse_diagnostics"].as_array().unwrap();
    assert!(
        diags
            .iter()
            .any(|d| d["file"] == "bad.ex" && d["line"].as_u64().unwrap() >= 1),
        "{diags:?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d["file"] == "binary.ex" && d["message"].as_str().unwrap().contains("UTF-8")),
        "{diags:?}"
    );
    assert_eq!(v["files"], 3);
    assert!(
        v["modules"].as_u64().unwrap() >= 2,
        "Good and (what could be built of) Bad"
    );
}

#[test]
fn analyze_cycles_and_impact_on_the_example() {
    let out = cpg_stdout(&["analyze", "cycles", EX, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["modules"][0]["modules"],
        serde_json::json!(["Shop.Discounts", "Shop.Pricing"])
    );
    assert_eq!(v["functions"], serde_json::json!([]));
    let text = cpg_stdout(&["analyze", "cycles", EX]);
    assert!(
        text.starts_with("1 module cycles, 0 function cycles"),
        "{text}"
    );
    assert!(
        text.contains("Shop.Pricing -> Shop.Discounts  [runtime] call"),
        "{text}"
    );

    let out = cpg_stdout(&[
        "analyze",
        "impact",
        "Shop.Util.Sorting.sort_key/1",
        EX,
        "--depth",
        "2",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (side, expected) in [
        (
            "upstream",
            serde_json::json!([
                {"depth": 1, "name": "Shop.Catalog.list_products/1"},
                {"depth": 2, "name": "Shop.Catalog.list_products/0"},
                {"depth": 2, "name": "ShopWeb.ProductController.index/2"}
            ]),
        ),
        // Guards are calls too.
        (
            "downstream",
            serde_json::json!([
                {"depth": 1, "name": "Kernel.is_atom/1"},
                {"depth": 1, "name": "Kernel.is_binary/1"},
                {"depth": 1, "name": "String.to_atom/1"}
            ]),
        ),
    ] {
        assert_eq!(v[side], expected, "{side}");
    }
    let text = cpg_stdout(&["analyze", "impact", "Shop.Pricing", EX]);
    assert!(text.contains("Impact of Shop.Pricing (module)"), "{text}");
    // The plain report still works with a path only.
    assert!(cpg_stdout(&["analyze", EX]).contains("Module dependency cycles (1)"));
    let unknown = cpg(&["analyze", "impact", "Shop.Nope", EX]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("is not in the analyzed code"));
}

#[test]
fn analyze_centrality_ranks_by_the_chosen_figure() {
    for (graph, by, field) in [
        ("modules", "pagerank", "pagerank"),
        ("functions", "betweenness", "betweenness"),
        ("functions", "in-degree", "in_degree"),
    ] {
        let out = cpg_stdout(&[
            "analyze",
            "centrality",
            EX,
            "--graph",
            graph,
            "--by",
            by,
            "--top",
            "5",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let top = v["top"].as_array().unwrap();
        assert_eq!(top.len(), 5, "{v}");
        let figures: Vec<f64> = top.iter().map(|r| r[field].as_f64().unwrap()).collect();
        assert!(
            figures.windows(2).all(|w| w[0] >= w[1]),
            "{by}: {figures:?}"
        );
        assert!(v["nodes"].as_u64().unwrap() >= 20);
    }
    let text = cpg_stdout(&["analyze", "centrality", EX, "--graph", "modules"]);
    assert!(text.starts_with("Modules graph: "), "{text}");
}

#[test]
fn analyze_paths_from_the_controller_to_the_sink() {
    let out = cpg_stdout(&[
        "analyze",
        "paths",
        "ShopWeb.ProductController.index/2",
        "String.to_atom/1",
        EX,
    ]);
    assert!(
        out.starts_with(
            "shortest (3 calls): ShopWeb.ProductController.index/2 -> Shop.Catalog.list_products/1 -> Shop.Util.Sorting.sort_key/1 -> String.to_atom/1"
        ),
        "{out}"
    );
}

#[test]
fn analyze_communities_puts_every_module_in_one() {
    let report: serde_json::Value =
        serde_json::from_str(&cpg_stdout(&["analyze", EX, "--json"])).unwrap();
    let modules = report["modules"].as_u64().unwrap() + report["scripts"].as_u64().unwrap();
    for algorithm in ["louvain", "label-propagation"] {
        let out = cpg_stdout(&[
            "analyze",
            "communities",
            EX,
            "--algorithm",
            algorithm,
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut names: Vec<&str> = v["communities"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c.as_array().unwrap().iter().map(|m| m.as_str().unwrap()))
            .collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!((names.len(), total as u64), (total, modules), "{algorithm}");
        let q = v["modularity"].as_f64().unwrap();
        assert!(q > 0.3, "{algorithm}: modularity {q}");
    }
}

#[test]
fn analyze_dead_code_on_the_example() {
    // Read from the source: nothing calls these four (the router is the
    // application's entry point, called by the web server).
    let out = cpg_stdout(&["analyze", "dead-code", EX, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| mfa_text(&d["mfa"]))
        .collect();
    assert_eq!(
        names,
        vec![
            "Shop.Inventory.release/2",
            "Shop.Inventory.stock/1",
            "Shop.Util.Format.percent/1",
            "ShopWeb.Router.call/2"
        ]
    );
    let (_dir, entries) = temp_file(
        "entries.txt",
        "# called by the web server\nShopWeb.Router.call/2\nShop.Inventory\n",
    );
    let text = cpg_stdout(&["analyze", "dead-code", EX, "--entries-file", &entries]);
    assert_eq!(
        text,
        "1 public functions nothing calls:\n  lib/shop/util/format.ex:10  def Shop.Util.Format.percent/1\n"
    );
}

#[test]
fn analyze_features_has_a_row_per_function() {
    let csv = cpg_stdout(&["analyze", "features", EX]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("module,function,arity,file,line,lines,clauses,cyclomatic,nesting,fan_in,fan_out,pagerank,betweenness,community,in_cycle")
    );
    // sort_key/1 (lib/shop/util/sorting.ex:8): two clauses; called by
    // Catalog.list_products/1 only; calls is_binary/1, String.to_atom/1
    // and is_atom/1 (guards are calls).
    let row = lines
        .find(|l| l.starts_with("Shop.Util.Sorting,sort_key,1,"))
        .expect("a row for sort_key/1");
    let f: Vec<&str> = row.split(',').collect();
    assert_eq!(
        (f[4], f[6], f[9], f[10], f[14]),
        ("8", "2", "1", "3", "false"),
        "{row}"
    );
    let json: serde_json::Value = serde_json::from_str(&cpg_stdout(&[
        "analyze", "features", EX, "--format", "json",
    ]))
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), csv.lines().count() - 1);
}

#[test]
fn analyze_taint_finds_the_planted_paths_and_nothing_else() {
    let out = cpg_stdout(&["analyze", "taint", EX, "--json"]);
    let t: proto::Taint = serde_json::from_str(&out).unwrap();
    let got: Vec<String> = t
        .findings
        .iter()
        .map(|f| {
            let (first, last) = (&f.steps[0], f.steps.last().unwrap());
            format!(
                "{}:{} {} -> {}:{} {} ({})",
                first.file, first.line, f.source, last.file, last.line, f.sink_call, f.sink
            )
        })
        .collect();
    // The paths planted in the example (see the comments next to them);
    // the sanitized page number and Format.label/1's clean caller are not.
    assert_eq!(
        got,
        vec![
            "lib/shop_web/controllers/report_controller.ex:9 request parameters -> lib/shop/exporter.ex:18 File.write/2 (file path)",
            "lib/shop/exporter.ex:25 environment -> lib/shop/exporter.ex:23 System.cmd/2 (command execution)",
            "lib/shop_web/controllers/report_controller.ex:9 request parameters -> lib/shop/exporter.ex:23 System.cmd/2 (argument injection)",
            "lib/shop_web/controllers/product_controller.ex:9 request parameters -> lib/shop/util/sorting.ex:8 String.to_atom/1 (atom creation)",
        ],
        "{out}"
    );
    // Most severe first: a user's path into a file write; the operator's
    // command one step below command execution's high; arguments to a fixed
    // program and atoms are medium.
    let severities: Vec<&str> = t.findings.iter().map(|f| f.severity.as_str()).collect();
    assert_eq!(severities, vec!["high", "medium", "medium", "medium"]);
    // The atom path, step by step, each with file:line.
    let text = cpg_stdout(&["analyze", "taint", EX]);
    expect_test::expect![[r#"
        4. [medium] request parameters → atom creation (String.to_atom/1)
           lib/shop_web/controllers/product_controller.ex:9  source: parameter 1 of ShopWeb.ProductController.index/2  [ShopWeb.ProductController.index/2]
           lib/shop_web/controllers/product_controller.ex:10  through Access.get/2  [ShopWeb.ProductController.index/2]
           lib/shop_web/controllers/product_controller.ex:10  passed as argument 0 to Shop.Catalog.list_products/1  [ShopWeb.ProductController.index/2]
           lib/shop/catalog.ex:25  through Keyword.get/3  [Shop.Catalog.list_products/1]
           lib/shop/catalog.ex:25  passed as argument 0 to Shop.Util.Sorting.sort_key/1  [Shop.Catalog.list_products/1]
           lib/shop/util/sorting.ex:8  sink: argument 0 of String.to_atom/1 (atom creation)  [Shop.Util.Sorting.sort_key/1]
    "#]]
    .assert_eq(&text[text.find("4. ").unwrap()..]);
    // Asked, each finding says what was considered and did not clean it.
    let why = cpg_stdout(&["analyze", "taint", EX, "--explain"]);
    assert!(!text.contains("why not clean:"));
    assert!(
        why.contains(
            "why not clean: lib/shop/exporter.ex:17: Path.join/2 matches no sanitizer rule"
        ),
        "{why}"
    );
    assert!(
        why.contains("why not clean: sanitizer rules considered: \"conversion to a number\""),
        "{why}"
    );
}

#[test]
fn taint_rules_can_be_printed_edited_and_rejected() {
    let defaults = cpg_stdout(&["analyze", "taint", "--print-rules"]);
    // Declaring Path.join/2 a sanitizer removes the two request paths
    // through Exporter.handle_call/3.
    let edited =
        format!("{defaults}\n[[sanitizer]]\nname = \"trusted joins\"\ncalls = [\"Path.join/2\"]\n");
    let (_dir, rules) = temp_file("taint.toml", &edited);
    let out = cpg_stdout(&["analyze", "taint", EX, "--rules", &rules, "--json"]);
    let t: proto::Taint = serde_json::from_str(&out).unwrap();
    let sinks: Vec<&str> = t.findings.iter().map(|f| f.sink.as_str()).collect();
    assert_eq!(sinks, vec!["command execution", "atom creation"], "{out}");
    std::fs::write(&rules, "[[sink]]\nname = \"x\"\ncalls = [\"to_atom\"]\n").unwrap();
    let bad = cpg(&["analyze", "taint", EX, "--rules", &rules]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("taint.toml") && err.contains("no /arity"),
        "{err}"
    );
}

#[test]
fn analyze_smells_with_default_and_edited_thresholds() {
    let out = cpg_stdout(&["analyze", "smells", EX]);
    // The example is small and tidy but for its one designed cycle.
    assert!(
        out.starts_with("1 smells")
            && out.contains("cyclic_dependency")
            && out.contains("Shop.Discounts ↔ Shop.Pricing"),
        "{out}"
    );
    let (_dir, file) = temp_file(
        "smells.toml",
        "long_function_lines = 8\ncomplex_function_cyclomatic = 4\n",
    );
    let out = cpg_stdout(&["analyze", "smells", EX, "--thresholds", &file, "--json"]);
    let smells: Vec<proto::Smell> = serde_json::from_str(&out).unwrap();
    let kinds: std::collections::BTreeSet<&str> = smells.iter().map(|s| s.kind.as_str()).collect();
    assert!(
        kinds.contains("long_function") && kinds.contains("complex_function"),
        "{out}"
    );
    let defaults = cpg_stdout(&["analyze", "smells", "--print-thresholds"]);
    assert!(defaults.contains("fan_in = 30"), "{defaults}");
}

#[test]
fn links_out_of_the_tree_are_skipped_with_a_reason() {
    let outside = tempfile::tempdir().unwrap();
    put(
        outside.path(),
        "secret.ex",
        "defmodule Secret do\n  def key, do: :s3cr3t\nend\n",
    );
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "lib/good.ex", GOOD);
    std::os::unix::fs::symlink(
        outside.path().join("secret.ex"),
        dir.path().join("lib/secret.ex"),
    )
    .unwrap();
    std::os::unix::fs::symlink("good.ex", dir.path().join("lib/same.ex")).unwrap();
    std::os::unix::fs::symlink("gone.ex", dir.path().join("lib/gone_link.ex")).unwrap();
    let out = cpg(&["analyze", dir.path().to_str().unwrap(), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        err.contains("skipping lib/secret.ex: a link to") && err.contains("outside"),
        "{err}"
    );
    assert!(
        err.contains("skipping lib/gone_link.ex: a broken link"),
        "{err}"
    );
    // The link inside the tree is read; the one out of it is not.
    assert_eq!(v["files"], 2, "{v}");
    let out = cpg(&["callers", "Secret.key/0", dir.path().to_str().unwrap()]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("neither defined nor called"),
        "{out:?}"
    );
}

/// A dependency's compiled `_build/ENV/lib/PKG/ebin/*.beam` files say what
/// it defines: functions its source does not show (made by macros) and
/// modules with no source at all. The application's own BEAM files and
/// damaged ones are not library code; a cluster is sent the same tables.
#[test]
fn compiled_dependencies_export_tables_resolve_calls() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, bytes: &[u8]| put(root, path, bytes);
    write(
        "lib/app.ex",
        b"defmodule App do\n  def a(x), do: Gen.Store.fetch!(x)\n  def b, do: Gen.Compiled.run()\n  def c, do: Gen.Compiled.nope()\n  def d(x), do: :gen_erl.start(x)\n  def e, do: Gen.Store.missing()\n  def f, do: :gen_erl.stop()\nend\n",
    );
    write(
        "deps/gen/lib/gen/store.ex",
        b"defmodule Gen.Store do\n  def other, do: 1\nend\n",
    );
    let rows = |root: &std::path::Path| -> Vec<(String, bool)> {
        let out = cpg_stdout(&[
            "export",
            "call-graph",
            root.to_str().unwrap(),
            "--format",
            "json",
        ]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        rows.iter()
            .map(|r| {
                (
                    format!(
                        "{}.{}/{}",
                        r["callee_module"].as_str().unwrap(),
                        r["callee_function"].as_str().unwrap(),
                        r["callee_arity"]
                    ),
                    r["undefined"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let undefined = |rows: &[(String, bool)]| -> Vec<String> {
        rows.iter()
            .filter(|(_, u)| *u)
            .map(|(c, _)| c.clone())
            .collect()
    };
    // From source alone, fetch!/1 is not there; the other modules are
    // unknown, so nothing can be said of their calls.
    assert_eq!(
        undefined(&rows(root)),
        vec!["Gen.Store.fetch!/1", "Gen.Store.missing/0"]
    );
    let ebin = "_build/dev/lib/gen/ebin";
    write(
        &format!("{ebin}/Elixir.Gen.Store.beam"),
        &partition::library::beam::fixture(
            "Elixir.Gen.Store",
            &[("other", 0), ("fetch!", 1), ("__info__", 1)],
        ),
    );
    write(
        &format!("{ebin}/Elixir.Gen.Compiled.beam"),
        &partition::library::beam::fixture("Elixir.Gen.Compiled", &[("run", 0)]),
    );
    write(
        &format!("{ebin}/gen_erl.beam"),
        &partition::library::beam::fixture("gen_erl", &[("start", 1)]),
    );
    write(&format!("{ebin}/Elixir.Broken.beam"), b"FOR1 not really");
    // The application's own compiled modules are not a library.
    write(
        "_build/dev/lib/app/ebin/Elixir.App.beam",
        &partition::library::beam::fixture("Elixir.App", &[("a", 1), ("zzz", 0)]),
    );
    let got = rows(root);
    assert_eq!(
        undefined(&got),
        vec![
            "Gen.Compiled.nope/0",
            "Gen.Store.missing/0",
            ":gen_erl.stop/0"
        ],
        "{got:?}"
    );
    assert!(got.iter().any(|(c, _)| c == ":gen_erl.start/1"), "{got:?}");
    // What a cluster is sent: the export tables as source, under the BEAM
    // files' names; the damaged one and the application's own left out.
    let uploads =
        codebase::embedded::read_sources_with(root, codebase::embedded::Deps::Library).unwrap();
    let names: Vec<&str> = uploads.iter().map(|u| u.file.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "lib/app.ex",
            "deps/gen/lib/gen/store.ex",
            "_build/dev/lib/gen/ebin/Elixir.Gen.Compiled.beam",
            "_build/dev/lib/gen/ebin/Elixir.Gen.Store.beam",
            "_build/dev/lib/gen/ebin/gen_erl.beam",
        ]
    );
    let store = String::from_utf8(uploads[3].bytes.clone()).unwrap();
    assert!(
        store.contains("defmodule Gen.Store do")
            && store.contains("def fetch!(_a0), do: nil")
            && !store.contains("__info__"),
        "{store}"
    );
}

/// `--format sarif` of taint, smells, dead code and cycles is SARIF 2.1.0
/// by the official schema; every result has a rule, a location and a
/// fingerprint; taint steps are the code flow; fingerprints survive the
/// code moving down a line.
#[test]
fn findings_are_valid_sarif_with_stable_fingerprints() {
    let tools = support::tools("CPG_SARIF_TOOLS", "sarif", "sarif-schema-2.1.0.json");
    support::tools("CPG_SARIF_TOOLS", "sarif", "venv/bin/python");
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("shop");
    support::copy_dir(&example(), &tree);
    let log = |kind: &str| -> serde_json::Value {
        let out = cpg_stdout(&["analyze", kind, tree.to_str().unwrap(), "--format", "sarif"]);
        std::fs::write(dir.path().join(format!("{kind}.sarif")), &out).unwrap();
        serde_json::from_str(&out).unwrap()
    };
    let kinds = ["taint", "smells", "dead-code", "cycles"];
    let logs: Vec<serde_json::Value> = kinds.iter().map(|k| log(k)).collect();
    for (kind, log) in kinds.iter().zip(&logs) {
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        let results = run["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{kind}: no results");
        for r in results {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], r["ruleId"], "{kind}: {r}");
            assert!(
                !r["locations"].as_array().unwrap().is_empty(),
                "{kind}: {r}"
            );
            assert!(
                r["partialFingerprints"]["cpgFinding/v1"].is_string(),
                "{kind}: {r}"
            );
        }
    }
    // The taint steps, in order, are the code flow.
    let json: proto::Taint = serde_json::from_str(&cpg_stdout(&[
        "analyze",
        "taint",
        tree.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let results = logs[0]["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), json.findings.len());
    for (r, f) in results.iter().zip(&json.findings) {
        let flow = r["codeFlows"][0]["threadFlows"][0]["locations"]
            .as_array()
            .unwrap();
        let lines: Vec<u64> = flow
            .iter()
            .map(|l| {
                l["location"]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let want: Vec<u64> = f.steps.iter().map(|s| u64::from(s.line)).collect();
        assert_eq!(lines, want);
    }
    // The official schema accepts every log.
    let check = std::process::Command::new(tools.join("venv/bin/python"))
        .arg("-c")
        .arg(
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1]))\n\
             v = jsonschema.Draft7Validator(schema)\n\
             bad = [f'{p}: {e.message} at {list(e.absolute_path)}' for p in sys.argv[2:] for e in v.iter_errors(json.load(open(p)))]\n\
             print('\\n'.join(bad)); sys.exit(1 if bad else 0)",
        )
        .arg(tools.join("sarif-schema-2.1.0.json"))
        .args(kinds.iter().map(|k| dir.path().join(format!("{k}.sarif"))))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "not valid SARIF 2.1.0:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // Two blank lines on top of every file: lines move, fingerprints stay.
    let prints = |log: &serde_json::Value| -> Vec<String> {
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"]["cpgFinding/v1"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let before: Vec<Vec<String>> = logs.iter().map(prints).collect();
    for b in &before {
        let mut unique = b.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), b.len(), "fingerprints repeat: {b:?}");
    }
    shift_sources(&tree);
    let moved = log("taint");
    let first_line = |l: &serde_json::Value| {
        l["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"]
            .clone()
    };
    assert_ne!(
        first_line(&moved),
        first_line(&logs[0]),
        "the lines did not move"
    );
    let after: Vec<Vec<String>> = std::iter::once(prints(&moved))
        .chain(kinds[1..].iter().map(|k| prints(&log(k))))
        .collect();
    assert_eq!(after, before);
}

/// Two blank lines at the top of every `.ex` file under `dir`.
fn shift_sources(dir: &std::path::Path) {
    for e in std::fs::read_dir(dir).expect("rewrite the example tree") {
        let path = e.expect("rewrite the example tree").path();
        if path.is_dir() {
            shift_sources(&path);
        } else if path.extension().is_some_and(|x| x == "ex") {
            let text = std::fs::read_to_string(&path).expect("rewrite the example tree");
            std::fs::write(&path, format!("\n\n{text}")).expect("rewrite the example tree");
        }
    }
}
