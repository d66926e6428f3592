//! Property tests of the partition store: any sequence of file replacements,
//! deletions and compactions leaves every index consistent with the rows,
//! the content equal to a simple model, and replacing a module with itself
//! changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use partition::frontend::build_file;
use partition::store::{Store, Sym, Tables};
use proptest::prelude::*;
use proto::{FileCpg, NodeKind};

const MODULES: &[&str] = &["A", "B", "C", "A.Sub"];

/// A small Elixir file: one or two modules (names from a small pool, so that
/// files collide on module names), functions calling each other.
fn source() -> impl Strategy<Value = String> {
    let function = (0..3usize, 0..4usize, 0..3u16, any::<bool>()).prop_map(|(name, callee, arity, private)| {
        let args: Vec<String> = (0..arity).map(|i| format!("a{i}")).collect();
        let def = if private { "defp" } else { "def" };
        let target = MODULES[callee];
        format!(
            "  {def} f{name}({}) do\n    x = {target}.f{name}({})\n    case x do\n      {{:ok, y}} -> y\n      _ -> f{name}({})\n    end\n  end\n",
            args.join(", "),
            args.join(", "),
            args.join(", ")
        )
    });
    let module = (0..MODULES.len(), prop::collection::vec(function, 0..4)).prop_map(|(m, fs)| {
        format!(
            "defmodule {} do\n  alias A.Sub\n  import B\n{}end\n",
            MODULES[m],
            fs.concat()
        )
    });
    prop::collection::vec(module, 1..3).prop_map(|ms| ms.concat())
}

#[derive(Debug, Clone)]
enum Op {
    Apply(usize, String),
    Remove(usize),
    RemoveModule(usize),
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, source()).prop_map(|(f, s)| Op::Apply(f, s)),
        1 => (0..4usize).prop_map(Op::Remove),
        1 => (0..MODULES.len()).prop_map(Op::RemoveModule),
        1 => Just(Op::Compact),
    ]
}

fn file_name(i: usize) -> String {
    format!("lib/f{i}.ex")
}

/// Every index agrees with a recomputation from the live rows.
fn check_indexes(t: &Tables) {
    let live: Vec<u32> = (0..t.slots.len() as u32)
        .filter(|&s| t.slots[s as usize].live)
        .collect();
    let mut by_module: HashMap<Sym, BTreeSet<u32>> = HashMap::new();
    let mut by_file: HashMap<Sym, BTreeSet<u32>> = HashMap::new();
    let (mut nodes, mut edges, mut calls) = (0u64, 0u64, 0u64);
    for &s in &live {
        let slot = &t.slots[s as usize];
        by_module.entry(slot.module).or_default().insert(s);
        by_file.entry(slot.file).or_default().insert(s);
        nodes += slot.nodes.len() as u64;
        edges += slot.edges.len() as u64;
        calls += slot.calls.len() as u64;
        // Rows point back at their slot; edges stay inside it.
        for i in slot.nodes.clone() {
            assert_eq!(t.nodes[i as usize].slot, s);
        }
        for e in &t.edges[slot.edges.start as usize..slot.edges.end as usize] {
            assert!(
                slot.nodes.contains(&e.src) && slot.nodes.contains(&e.dst),
                "edge leaves its module"
            );
        }
        // Call rows stay inside their slot, and the function each is made
        // in is a Function node.
        for c in &t.calls[slot.calls.start as usize..slot.calls.end as usize] {
            assert!(
                slot.nodes.contains(&c.node) && slot.nodes.contains(&c.caller),
                "call row leaves its module"
            );
            assert_eq!(t.nodes[c.caller as usize].kind, NodeKind::Function);
        }
    }
    let got_module: HashMap<Sym, BTreeSet<u32>> = t
        .by_module
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    let got_file: HashMap<Sym, BTreeSet<u32>> = t
        .by_file
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    assert_eq!(got_module, by_module, "module index");
    assert_eq!(got_file, by_file, "file index");
    assert_eq!(
        (
            t.counts.live_nodes,
            t.counts.live_edges,
            t.counts.live_calls
        ),
        (nodes, edges, calls)
    );
    assert_eq!(
        t.counts.live_nodes + t.counts.deleted_nodes,
        t.nodes.len() as u64
    );
    assert_eq!(
        t.counts.live_edges + t.counts.deleted_edges,
        t.edges.len() as u64
    );
}

/// The store's content in a form independent of row ids and slot order.
fn canonical(t: &Tables) -> Vec<String> {
    let mut out = Vec::new();
    for slot in t.slots.iter().filter(|s| s.live) {
        let base = slot.nodes.start;
        let mut lines = vec![format!(
            "module {} file {}",
            t.str(slot.module),
            t.str(slot.file)
        )];
        for i in slot.nodes.clone() {
            let n = t.nodes[i as usize];
            lines.push(format!(
                "n {} {} {} {}:{}",
                n.kind,
                n.sub,
                t.str(n.name),
                n.line,
                n.col
            ));
        }
        for e in &t.edges[slot.edges.start as usize..slot.edges.end as usize] {
            lines.push(format!(
                "e {} {} {} {} {}",
                e.src - base,
                e.dst - base,
                e.kind,
                e.label,
                e.index
            ));
        }
        for c in &t.calls[slot.calls.start as usize..slot.calls.end as usize] {
            lines.push(format!(
                "c {} {} {}/{} {}",
                c.node - base,
                t.str(c.module),
                t.str(c.name),
                c.arity,
                c.kind
            ));
        }
        out.push(lines.join("\n"));
    }
    out.sort();
    out
}

/// What the model says the store must hold: per file, its latest CPG minus
/// removed modules.
fn model_modules(model: &BTreeMap<String, FileCpg>) -> BTreeSet<(String, String)> {
    model
        .values()
        .flat_map(|cpg| {
            cpg.fragments
                .iter()
                .map(|f| (f.name.clone(), f.file.clone()))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn operations_keep_indexes_consistent_and_match_the_model(ops in prop::collection::vec(op(), 1..12)) {
        let store = Store::default();
        let mut model: BTreeMap<String, FileCpg> = BTreeMap::new();
        // Edits' content hashes: never a source's, never one used before.
        let mut edits = 0u64;
        for op in ops {
            match op {
                Op::Apply(f, src) => {
                    let cpg = build_file(&file_name(f), src.as_bytes());
                    model.insert(file_name(f), cpg.clone());
                    store.apply_file(cpg);
                }
                Op::Remove(f) => {
                    model.remove(&file_name(f));
                    store.remove_file(&file_name(f));
                }
                Op::RemoveModule(m) => {
                    // Every file defining the module is edited to no longer
                    // define it: applied again without its fragments, under
                    // another content hash.
                    for cpg in model.values_mut() {
                        if cpg.fragments.iter().any(|fr| fr.name == MODULES[m]) {
                            cpg.fragments.retain(|fr| fr.name != MODULES[m]);
                            edits += 1;
                            cpg.content_hash = u64::MAX - edits;
                            store.apply_file(cpg.clone());
                        }
                    }
                }
                Op::Compact => {
                    let before = canonical(&store.read());
                    store.compact();
                    let t = store.read();
                    prop_assert_eq!(t.counts.deleted_nodes, 0);
                    prop_assert_eq!(canonical(&t), before, "compaction changed the content");
                }
            }
            let t = store.read();
            check_indexes(&t);
            let stored: BTreeSet<(String, String)> = t
                .slots
                .iter()
                .filter(|s| s.live)
                .map(|s| (t.str(s.module).to_string(), t.str(s.file).to_string()))
                .collect();
            prop_assert_eq!(stored, model_modules(&model));
        }
    }

    #[test]
    fn replacing_a_module_with_itself_changes_nothing(src in source(), other in source()) {
        let store = Store::default();
        store.apply_file(build_file("lib/other.ex", other.as_bytes()));
        let cpg = build_file("lib/x.ex", src.as_bytes());
        store.apply_file(cpg.clone());
        let before = canonical(&store.read());
        let generation = store.generation();
        // Same content hash: skipped outright.
        let outcome = store.apply_file(cpg.clone());
        prop_assert!(outcome.unchanged);
        prop_assert_eq!(store.generation(), generation);
        // Same fragments under another hash: really replaced, same content.
        let mut again = cpg;
        again.content_hash ^= 1;
        store.apply_file(again);
        prop_assert_eq!(canonical(&store.read()), before);
        check_indexes(&store.read());
    }
}

#[test]
fn readers_never_see_half_a_module() {
    // A reader thread reads the store's statistics (its functions and
    // nodes) while a writer keeps replacing A's file between a 3-function
    // and a 5-function version: it always sees one version whole.
    let version = |n: usize| {
        let fs: String = (0..n).map(|i| format!("  def f{i}, do: :ok\n")).collect();
        build_file("lib/a.ex", format!("defmodule A do\n{fs}end\n").as_bytes())
    };
    let whole = |n: usize| {
        let store = Store::default();
        store.apply_file(version(n));
        let s = store.stats();
        (s.functions, s.nodes)
    };
    let (three, five) = (whole(3), whole(5));
    assert_eq!((three.0, five.0), (3, 5));
    let store = std::sync::Arc::new(Store::default());
    store.apply_file(version(3));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let s = store.stats();
                seen.insert((s.functions, s.nodes));
            }
            seen
        })
    };
    for i in 0..2000 {
        let mut cpg = version(if i % 2 == 0 { 5 } else { 3 });
        cpg.content_hash = i;
        store.apply_file(cpg);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.join().expect("reader panicked");
    assert!(
        seen.iter().all(|n| *n == three || *n == five),
        "a reader saw {seen:?} (whole versions: {three:?}, {five:?})"
    );
}
