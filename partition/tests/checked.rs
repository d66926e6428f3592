//! The check a node runs before writing fragments
//! (`ModuleFragment::check`) is what keeps the engine safe: fragments of the
//! example application with ids (node, string, function, clause and edge
//! references; not spans or sizes) changed at random are either refused by
//! it, or installed into a store, summarized and linked without a panic.
//! (Not every malformed fragment is harmless: an edge to a node past the
//! table panics the summary, which is why nodes check before writing and
//! on replay; a run of this test in CI found that one.) `CPG_PROPTEST_CASES`
//! sets how many cases (400 by default; 300,000 passed before this landed).

use std::sync::OnceLock;

use partition::analysis::CallGraph;
use partition::frontend::build_file;
use partition::store::Store;
use proptest::prelude::*;
use proto::{FileCpg, ModuleFragment};

/// The fragments of the example application's files.
fn fragments() -> &'static Vec<ModuleFragment> {
    static ALL: OnceLock<Vec<ModuleFragment>> = OnceLock::new();
    ALL.get_or_init(|| {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop"));
        let mut out = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).expect("the example").flatten() {
                let path = e.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|x| x == "ex") {
                    let name = path
                        .strip_prefix(root)
                        .expect("inside")
                        .display()
                        .to_string();
                    let bytes = std::fs::read(&path).expect("a file");
                    out.extend(build_file(&name, &bytes).fragments);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    })
}

/// Apply `set` to the element of `items` that `at` picks, if there is one.
fn set_one<T>(items: &mut [T], at: usize, set: impl FnOnce(&mut T)) {
    if !items.is_empty() {
        let i = at % items.len();
        set(&mut items[i]);
    }
}

/// Set one id of `f`, chosen by `which`, to `value`.
fn break_one(f: &mut ModuleFragment, which: usize, at: usize, value: u32) {
    match which % 12 {
        0 => set_one(&mut f.edges, at, |e| e.src = value),
        1 => set_one(&mut f.edges, at, |e| e.dst = value),
        2 => set_one(&mut f.calls, at, |c| c.node = value),
        3 => set_one(&mut f.calls, at, |c| c.caller = value),
        4 => set_one(&mut f.calls, at, |c| c.name = value),
        5 => set_one(&mut f.calls, at, |c| c.module = Some(value)),
        6 => set_one(&mut f.functions, at, |g| g.node = value),
        7 => set_one(&mut f.functions, at, |g| g.name = value),
        8 => {
            let mut clauses: Vec<_> = f
                .functions
                .iter_mut()
                .flat_map(|g| g.clauses.iter_mut())
                .collect();
            set_one(&mut clauses, at, |clause| match value % 4 {
                0 => clause.node = value,
                1 => clause.entry = value,
                2 => clause.exit = value,
                _ => clause.end = value,
            });
        }
        9 => set_one(&mut f.nodes, at, |n| n.name = value),
        10 => set_one(&mut f.deps, at, |d| d.target = value),
        11 => f.behaviours.push(value),
        _ => {}
    }
}

#[test]
fn every_fragment_of_the_example_passes_the_check() {
    for f in fragments() {
        assert_eq!(f.check(), Ok(()), "{}", f.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("CPG_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(400)))]

    #[test]
    fn what_the_check_lets_through_never_panics_the_engine(
        pick in 0usize..1000,
        changes in proptest::collection::vec(
            (0usize..12, 0usize..10_000, prop_oneof![0u32..80, any::<u32>()]),
            1..4,
        ),
    ) {
        let all = fragments();
        let mut f = all[pick % all.len()].clone();
        for (which, at, value) in changes {
            break_one(&mut f, which, at, value);
        }
        if f.check().is_ok() {
            let store = Store::default();
            store.apply_file(FileCpg {
                file: f.file.clone(),
                content_hash: 1,
                fragments: vec![f],
                diagnostics: Vec::new(),
            });
            let summaries = store.summaries();
            let _ = CallGraph::link(&summaries, &[]);
            let _ = store.stats();
        }
    }
}

/// A module a node would refuse (`defmodule :"Elixir."` names none) is left
/// out by the front end with a diagnostic; the rest of the file is kept.
#[test]
fn the_front_end_leaves_out_what_a_node_would_refuse() {
    let cpg = build_file(
        "lib/odd.ex",
        b"defmodule :\"Elixir.\" do\n  def f, do: 1\nend\n\ndefmodule Fine do\n  def g, do: 2\nend\n",
    );
    let names: Vec<&str> = cpg.fragments.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"Fine"), "{names:?}");
    assert!(cpg.fragments.iter().all(|f| f.check().is_ok()), "{names:?}");
    assert!(
        cpg.diagnostics
            .iter()
            .any(|d| d.message.contains("left out") && d.line == 1),
        "{:?}",
        cpg.diagnostics
    );
}
