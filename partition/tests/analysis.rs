//! Summaries and global analyses on small programs whose answers were worked
//! out by hand: cyclomatic complexity, nesting, parameter flows, the link
//! step, callers/callees to a depth, module and function cycles, impact.

use std::sync::Arc;

use partition::analysis::{
    function_cycles, function_impact, module_cycles, module_impact, paths, CallGraph,
};
use partition::frontend::build_file;
use partition::summary::summarize;
use proto::{CallKind, FunctionSummary, Mfa, ModuleSummary, Origin};

fn summaries(files: &[(&str, &str)]) -> Vec<Arc<ModuleSummary>> {
    files
        .iter()
        .flat_map(|(name, src)| build_file(name, src.as_bytes()).fragments)
        .map(|f| Arc::new(summarize(&f)))
        .collect()
}

fn function<'a>(
    s: &'a [Arc<ModuleSummary>],
    module: &str,
    name: &str,
    arity: u16,
) -> &'a FunctionSummary {
    s.iter()
        .find(|m| m.name == module)
        .and_then(|m| {
            m.functions
                .iter()
                .find(|f| f.name == name && f.arity == arity)
        })
        .unwrap_or_else(|| panic!("{module}.{name}/{arity} not found"))
}

const COMPLEX: &str = r#"
defmodule Cx do
  def straight(x), do: x + 1

  def two_way(x) do
    if x, do: 1, else: 2
  end

  def three_arms(x) do
    case x do
      1 -> :a
      2 -> :b
      _ -> :c
    end
  end

  def conds(x) do
    cond do
      x > 10 -> :big
      x > 5 -> :medium
      true -> :small
    end
  end

  def withs(a) do
    with {:ok, b} <- a,
         {:ok, c} <- b do
      c
    else
      _ -> :error
    end
  end

  def nested(x) do
    if x do
      case x do
        1 -> :one
        _ -> :other
      end
    end
  end

  def clauses(0), do: :zero
  def clauses(n) when n > 0, do: :pos
end
"#;

#[test]
fn cyclomatic_complexity_and_nesting_by_hand() {
    let s = summaries(&[("cx.ex", COMPLEX)]);
    // (function, cyclomatic, nesting), counted by hand:
    // if: one decision (+1); case with 3 arms: +2; cond: two real conditions
    // (+2, the final `true` has no false branch); with: two `<-` that can fail
    // (+2); nested: if (+1) and a 2-arm case (+1) at depth 2; two clauses of
    // complexity 1 each sum to 2.
    let expected = [
        ("straight", 1, 1, 0),
        ("two_way", 1, 2, 1),
        ("three_arms", 1, 3, 1),
        ("conds", 1, 3, 1),
        ("withs", 1, 3, 1),
        ("nested", 1, 3, 2),
        ("clauses", 1, 2, 0),
    ];
    for (name, arity, cc, nesting) in expected {
        let f = function(&s, "Cx", name, arity);
        assert_eq!(
            (f.metrics.cyclomatic, f.metrics.nesting),
            (cc, nesting),
            "{name}/{arity}"
        );
    }
    assert_eq!(function(&s, "Cx", "clauses", 1).metrics.clauses, 2);
}

#[test]
fn parameters_reaching_calls_and_the_return_value() {
    let s = summaries(&[(
        "flow.ex",
        r#"
defmodule Flow do
  def f(a, b, c) do
    x = a
    y = g(x)
    y |> h(b)
    :ok
  end

  def passthrough(a, _b), do: a

  def branch(a, b) do
    case a do
      {:ok, v} -> v
      _ -> b
    end
  end

  defp g(v), do: v
  defp h(v, w), do: {v, w}
end
"#,
    )]);
    let f = function(&s, "Flow", "f", 3);
    let call = |name: &str| f.calls.iter().find(|c| c.name == name).unwrap();
    // a → x → g's argument 0; g's result (calls[0]) is piped into h's
    // argument 0; b is h's argument 1; c reaches nothing. f returns :ok.
    // Flows stop at calls: a reaches h only through g's result.
    assert_eq!(f.calls[0].name, "g");
    assert_eq!(call("g").inputs, vec![(Origin::Param(0), 0)]);
    assert_eq!(
        call("h").inputs,
        vec![(Origin::Param(1), 1), (Origin::Call(0), 0)]
    );
    assert_eq!(f.returns, vec![]);
    assert_eq!(params_returned(f), Vec::<u8>::new());
    assert_eq!(
        params_returned(function(&s, "Flow", "passthrough", 2)),
        vec![0]
    );
    // Through a case: a via the bound v, b directly.
    assert_eq!(
        params_returned(function(&s, "Flow", "branch", 2)),
        vec![0, 1]
    );
}

/// The parameters that reach `f`'s return value directly, ascending.
fn params_returned(f: &FunctionSummary) -> Vec<u8> {
    let mut params: Vec<u8> = f
        .returns
        .iter()
        .filter_map(|o| match o {
            Origin::Param(i) => Some(*i),
            _ => None,
        })
        .collect();
    params.sort_unstable();
    params.dedup();
    params
}

#[test]
fn field_reads_and_call_results_reaching_calls_and_the_return_value() {
    let s = summaries(&[(
        "web.ex",
        r#"
defmodule Web do
  def action(conn) do
    id = conn.params["id"]
    atom = String.to_atom(id)
    {atom, conn.assigns}
  end
end
"#,
    )]);
    let f = function(&s, "Web", "action", 1);
    let names: Vec<&str> = f.calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["get", "to_atom"]);
    let fields: Vec<(&str, u32)> = f
        .fields
        .iter()
        .map(|r| (r.field.as_str(), r.line))
        .collect();
    assert_eq!(fields, vec![("params", 4), ("assigns", 6)]);
    // conn.params (and conn through it) is Access.get's argument 0, its
    // result String.to_atom's.
    assert_eq!(
        f.calls[0].inputs,
        vec![(Origin::Param(0), 0), (Origin::Field(0), 0)]
    );
    assert_eq!(f.calls[1].inputs, vec![(Origin::Call(0), 0)]);
    // The tuple returns the atom and conn.assigns; conn itself reaches both
    // field reads, which are not calls, so it reaches the return too.
    assert_eq!(
        f.returns,
        vec![Origin::Param(0), Origin::Call(1), Origin::Field(1)]
    );
}

#[test]
fn the_link_step_picks_the_import_that_exports_the_function() {
    let s = summaries(&[
        ("a.ex", "defmodule A do\n  def only_in_a(x), do: x\nend\n"),
        ("b.ex", "defmodule B do\n  def only_in_b(x), do: x\nend\n"),
        (
            "user.ex",
            "defmodule User do\n  import A\n  import B\n  def run(x), do: {only_in_a(x), only_in_b(x), nowhere(x)}\nend\n",
        ),
        (
            "tmpl.ex",
            "defmodule Tmpl do\n  defmacro __using__(_) do\n    quote do\n      import B\n    end\n  end\nend\n",
        ),
        ("via.ex", "defmodule Via do\n  use Tmpl\n  def run(x), do: only_in_b(x)\nend\n"),
    ]);
    let g = CallGraph::build(&s);
    let callees = |m: &str| -> Vec<String> {
        g.callees(&format!("{m}.run/1").parse().unwrap(), 1)
            .into_iter()
            .map(|r| r.mfa.to_string())
            .collect()
    };
    // Two imports without only:, each call goes to the module exporting it;
    // `nowhere/1` is exported by neither, both known: unresolved.
    assert_eq!(
        callees("User"),
        vec!["?.nowhere/1", "A.only_in_a/1", "B.only_in_b/1"]
    );
    // `use Tmpl` imports B through Tmpl's __using__ quote.
    assert_eq!(callees("Via"), vec!["B.only_in_b/1"]);
}

#[test]
fn callers_and_callees_to_a_depth() {
    let s = summaries(&[(
        "chain.ex",
        r#"
defmodule Chain do
  def a, do: b()
  def b, do: c()
  def c, do: d()
  def d, do: :ok
  def e, do: c()
end
"#,
    )]);
    let g = CallGraph::build(&s);
    let names = |v: Vec<partition::analysis::Reached>| -> Vec<(u32, String)> {
        v.into_iter().map(|r| (r.depth, r.mfa.name)).collect()
    };
    let d: Mfa = "Chain.d/0".parse().unwrap();
    assert_eq!(names(g.callers(&d, 1)), vec![(1, "c".to_string())]);
    assert_eq!(
        names(g.callers(&d, 3)),
        vec![
            (1, "c".into()),
            (2, "b".into()),
            (2, "e".into()),
            (3, "a".into())
        ]
    );
    assert_eq!(
        names(g.callees(&"Chain.a/0".parse().unwrap(), 2)),
        vec![(1, "b".into()), (2, "c".into())]
    );
}

#[test]
fn module_cycles_with_their_edges_and_without_alias_only_links() {
    let s = summaries(&[
        (
            "p.ex",
            "defmodule P do\n  alias Q\n  def f, do: Q.g()\nend\n",
        ),
        (
            "q.ex",
            "defmodule Q do\n  @behaviour R\n  def g, do: :ok\nend\n",
        ),
        (
            "r.ex",
            "defmodule R do\n  def h, do: P.f()\n  @callback g() :: :ok\nend\n",
        ),
        // S only aliases P: no dependency, so no cycle with it.
        ("s.ex", "defmodule S do\n  alias P\nend\n"),
    ]);
    let g = CallGraph::build(&s);
    let cycles = module_cycles(&s, &g);
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].modules, vec!["P", "Q", "R"]);
    let edges: Vec<(String, String, Vec<String>, bool)> = cycles[0]
        .edges
        .iter()
        .map(|e| {
            (
                e.from.clone(),
                e.to.clone(),
                e.kinds.clone(),
                e.compile_time,
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![
            ("P".into(), "Q".into(), vec!["call".to_string()], false),
            ("Q".into(), "R".into(), vec!["behaviour".to_string()], true),
            ("R".into(), "P".into(), vec!["call".to_string()], false),
        ]
    );
}

const RING: &str = r#"
defmodule A do
  def even?(0), do: true
  def even?(n), do: odd?(n - 1)
  def odd?(0), do: false
  def odd?(n), do: even?(n - 1)
  def run(x), do: B.go(x)
  defmacro twice(x), do: helper(x)
  def helper(x), do: quote(do: unquote(x))
end

defmodule B do
  def go(x), do: C.step(x)
  def limit, do: 3
end

defmodule C do
  def step(x), do: A.run(x)
  def leaf, do: B.limit()
end

defmodule D do
  def top(x), do: A.run(x)
end
"#;

/// A cycle's functions and its (from, to, compile-time) edges, as text.
type CycleShape = (Vec<String>, Vec<(String, String, bool)>);

#[test]
fn function_cycles_by_hand() {
    let s = summaries(&[("ring.ex", RING)]);
    let g = CallGraph::build(&s);
    let cycles = function_cycles(&g);
    let shape: Vec<CycleShape> = cycles
        .iter()
        .map(|c| {
            (
                c.functions.iter().map(|f| f.to_string()).collect(),
                c.edges
                    .iter()
                    .map(|e| (e.from.to_string(), e.to.to_string(), e.compile_time))
                    .collect(),
            )
        })
        .collect();
    // A.run -> B.go -> C.step -> A.run, then even?/odd? (largest first);
    // recursion of a function on itself is not a cycle between functions,
    // and the macro calls a function that does not call back.
    assert_eq!(
        shape,
        vec![
            (
                vec!["A.run/1".into(), "B.go/1".into(), "C.step/1".into()],
                vec![
                    ("A.run/1".into(), "B.go/1".into(), false),
                    ("B.go/1".into(), "C.step/1".into(), false),
                    ("C.step/1".into(), "A.run/1".into(), false),
                ]
            ),
            (
                vec!["A.even?/1".into(), "A.odd?/1".into()],
                vec![
                    ("A.even?/1".into(), "A.odd?/1".into(), false),
                    ("A.odd?/1".into(), "A.even?/1".into(), false),
                ]
            ),
        ]
    );
}

#[test]
fn a_macro_calling_back_into_its_caller_is_a_compile_time_edge() {
    let s = summaries(&[(
        "m.ex",
        r#"
defmodule M do
  defmacro expand(x), do: build(x)
  def build(x), do: rebuild(x)
  def rebuild(x), do: expand(x)
end
"#,
    )]);
    let g = CallGraph::build(&s);
    let cycles = function_cycles(&g);
    assert_eq!(cycles.len(), 1);
    let labels: Vec<(String, bool)> = cycles[0]
        .edges
        .iter()
        .map(|e| (format!("{} -> {}", e.from, e.to), e.compile_time))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("M.build/1 -> M.rebuild/1".into(), false),
            ("M.expand/1 -> M.build/1".into(), true),
            ("M.rebuild/1 -> M.expand/1".into(), false),
        ]
    );
}

#[test]
fn impact_of_a_function_and_of_a_module_by_hand() {
    let s = summaries(&[("ring.ex", RING)]);
    let g = CallGraph::build(&s);
    let names = |v: &[proto::Affected]| -> Vec<(u32, String)> {
        v.iter().map(|a| (a.depth, a.name.clone())).collect()
    };
    let run: Mfa = "A.run/1".parse().unwrap();
    let i = function_impact(&g, &run, 2).unwrap();
    // Upstream of A.run: C.step and D.top call it (1); B.go calls C.step (2).
    assert_eq!(
        names(&i.upstream),
        vec![
            (1, "C.step/1".into()),
            (1, "D.top/1".into()),
            (2, "B.go/1".into())
        ]
    );
    assert_eq!(
        names(&i.downstream),
        vec![(1, "B.go/1".into()), (2, "C.step/1".into())]
    );
    assert_eq!((i.direct_upstream, i.transitive_upstream), (2, 3));
    assert_eq!((i.direct_downstream, i.transitive_downstream), (1, 2));
    // The score: upstream functions over the other defined functions.
    let defined = g.defined().count();
    assert!((i.impact_score - 3.0 / (defined - 1) as f64).abs() < 1e-12);
    // Depth grows the upstream set monotonically.
    let deeper = function_impact(&g, &run, 5).unwrap();
    assert!(i
        .upstream
        .iter()
        .all(|a| deeper.upstream.iter().any(|b| b.name == a.name)));

    // Modules: A -> B -> C -> A and C -> B (limit), D -> A.
    let m = module_impact(&s, &g, "B", 1).unwrap();
    assert_eq!(names(&m.upstream), vec![(1, "A".into()), (1, "C".into())]);
    assert_eq!(names(&m.downstream), vec![(1, "C".into())]);
    let m = module_impact(&s, &g, "B", 3).unwrap();
    assert_eq!(
        names(&m.upstream),
        vec![(1, "A".into()), (1, "C".into()), (2, "D".into())]
    );
    assert!((m.impact_score - 3.0 / 3.0).abs() < 1e-12);
    assert!(module_impact(&s, &g, "Nope", 1).is_none());
    assert!(function_impact(&g, &"Nope.f/0".parse().unwrap(), 1).is_none());
}

/// Elixir source for a random call graph: `n` functions spread over three
/// modules, function `i` calling each function in `calls[i]`.
fn random_program(calls: &[Vec<usize>]) -> Vec<(String, String)> {
    let name = |i: usize| (format!("R{}", i % 3), format!("f{i}"));
    (0..3)
        .map(|m| {
            let mut src = format!("defmodule R{m} do\n");
            for (i, targets) in calls.iter().enumerate().filter(|(i, _)| i % 3 == m) {
                let body: Vec<String> = targets
                    .iter()
                    .map(|t| {
                        let (module, f) = name(*t);
                        format!("{module}.{f}(x)")
                    })
                    .chain(std::iter::once("x".to_string()))
                    .collect();
                src.push_str(&format!(
                    "  def {}(x) do\n    {}\n  end\n",
                    name(i).1,
                    body.join("\n    ")
                ));
            }
            src.push_str("end\n");
            (format!("r{m}.ex"), src)
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    #[test]
    fn cycle_members_reach_each_other_and_impact_grows_with_depth(
        calls in proptest::collection::vec(proptest::collection::vec(0usize..12, 0..3), 12)
    ) {
        let files = random_program(&calls);
        let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let s = summaries(&refs);
        let g = CallGraph::build(&s);
        for cycle in function_cycles(&g) {
            for a in &cycle.functions {
                let reached: Vec<Mfa> = g.callees(a, 12).into_iter().map(|r| r.mfa).collect();
                for b in cycle.functions.iter().filter(|b| *b != a) {
                    proptest::prop_assert!(reached.contains(b), "{a} does not reach {b}");
                }
            }
        }
        for i in 0..calls.len() {
            let from: Mfa = format!("R{}.f{i}/1", i % 3).parse().unwrap();
            let to: Mfa = format!("R{}.f{}/1", (i + 5) % 12 % 3, (i + 5) % 12).parse().unwrap();
            let p = paths(&g, &from, &to, 6, 50);
            match &p.shortest {
                Some(shortest) => {
                    for path in &p.all {
                        proptest::prop_assert!(shortest.len() <= path.len());
                        proptest::prop_assert_eq!(path.first(), Some(&from));
                        proptest::prop_assert_eq!(path.last(), Some(&to));
                    }
                }
                None => proptest::prop_assert!(p.all.is_empty()),
            }
        }
        for i in 0..calls.len() {
            let f: Mfa = format!("R{}.f{i}/1", i % 3).parse().unwrap();
            let mut before: Vec<String> = Vec::new();
            for depth in 1..6 {
                let impact = function_impact(&g, &f, depth).unwrap();
                let now: Vec<String> = impact.upstream.iter().map(|a| a.name.clone()).collect();
                proptest::prop_assert!(before.iter().all(|n| now.contains(n)));
                proptest::prop_assert!(impact.impact_score >= 0.0 && impact.impact_score <= 1.0);
                before = now;
            }
        }
    }
}

/// `changes_since` worked out by names: each function's set of callee
/// names before and after, compared.
fn changes_by_name(old: &CallGraph, new: &CallGraph) -> partition::analysis::GraphChanges {
    use std::collections::{BTreeMap, BTreeSet};
    let callees = |g: &CallGraph| -> BTreeMap<String, BTreeSet<String>> {
        g.functions
            .iter()
            .enumerate()
            .map(|(id, f)| {
                let out = g.calls_from(id as u32).map(|c| g.mfa(c.callee).to_string());
                (f.mfa.to_string(), out.collect())
            })
            .collect()
    };
    let (before, after) = (callees(old), callees(new));
    let mut changes = partition::analysis::GraphChanges::default();
    let empty = BTreeSet::new();
    for f in before.keys().chain(after.keys()) {
        let (b, a) = (
            before.get(f).unwrap_or(&empty),
            after.get(f).unwrap_or(&empty),
        );
        let appeared = before.contains_key(f) != after.contains_key(f);
        if b != a || appeared {
            changes.callers.insert(f.clone());
            changes.callees.extend(b.symmetric_difference(a).cloned());
        }
        if appeared {
            changes.callees.insert(f.clone());
        }
    }
    changes
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    /// The changes between two programs, found by ids, are those found by
    /// names (functions added, removed, and calls changed either way).
    #[test]
    fn graph_changes_by_id_equal_those_by_name(
        old in proptest::collection::vec(proptest::collection::vec(0usize..14, 0..3), 8..12),
        new in proptest::collection::vec(proptest::collection::vec(0usize..14, 0..3), 8..12),
    ) {
        let graph = |calls: &[Vec<usize>]| {
            let files = random_program(calls);
            let refs: Vec<(&str, &str)> =
                files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            CallGraph::build(&summaries(&refs))
        };
        let (old, new) = (graph(&old), graph(&new));
        proptest::prop_assert_eq!(new.changes_since(&old), changes_by_name(&old, &new));
        proptest::prop_assert!(new.changes_since(&new).is_empty());
    }
}

fn name_graph(edges: &[(&str, &str)]) -> partition::analysis::NameGraph {
    let names: std::collections::BTreeSet<String> = edges
        .iter()
        .flat_map(|(a, b)| [a.to_string(), b.to_string()])
        .collect();
    partition::analysis::NameGraph::new(
        names,
        edges.iter().map(|(a, b)| (a.to_string(), b.to_string())),
    )
}

/// The graph of `edges` between numbered nodes, each named by `name`.
fn numbered_graph(
    edges: &[(u8, u8)],
    name: impl Fn(u8) -> String,
) -> partition::analysis::NameGraph {
    let names: Vec<(String, String)> = edges.iter().map(|(a, b)| (name(*a), name(*b))).collect();
    let refs: Vec<(&str, &str)> = names
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    name_graph(&refs)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn centrality_by_hand() {
    use partition::analysis::{betweenness_and_closeness, pagerank};
    // a -> b -> c: only b lies between two others; a reaches 2 nodes at
    // distances 1 and 2, b reaches 1 at distance 1, c reaches nothing.
    let path = name_graph(&[("a", "b"), ("b", "c")]);
    let (between, closeness) = betweenness_and_closeness(&path);
    assert_eq!(between, vec![0.0, 1.0, 0.0]);
    assert!(close(closeness[0], (2.0 / 2.0) * (2.0 / 3.0)));
    assert!(close(closeness[1], (1.0 / 2.0) * (1.0 / 1.0)));
    assert_eq!(closeness[2], 0.0);
    let rank = pagerank(&path);
    assert!(rank[2] > rank[1] && rank[1] > rank[0], "{rank:?}");
    // A diamond: the two shortest a..d paths split the credit.
    let diamond = name_graph(&[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]);
    let (between, _) = betweenness_and_closeness(&diamond);
    assert_eq!(between, vec![0.0, 0.5, 0.5, 0.0]);
    // A directed 3-cycle is symmetric: every rank is 1/3.
    let ring = name_graph(&[("a", "b"), ("b", "c"), ("c", "a")]);
    for r in pagerank(&ring) {
        assert!(close(r, 1.0 / 3.0));
    }
    // Closed form for one edge x -> y with y dangling (damping d, n = 2):
    // r_x = (1-d)/2 + d*r_y/2, r_y = (1-d)/2 + d*r_y/2 + d*r_x.
    let d = partition::analysis::DAMPING;
    let pair = pagerank(&name_graph(&[("x", "y")]));
    let rx = (1.0 - d) / 2.0 + d * pair[1] / 2.0;
    assert!(close(pair[0], rx), "{pair:?}");
    assert!(close(pair[0] + pair[1], 1.0));
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    #[test]
    fn pagerank_sums_to_one_and_figures_are_sane(
        edges in proptest::collection::vec((0u8..15, 0u8..15), 0..60)
    ) {
        let g = numbered_graph(&edges, |n| format!("n{n}"));
        let rows = partition::analysis::centrality(&g);
        if !rows.is_empty() {
            let total: f64 = rows.iter().map(|r| r.pagerank).sum();
            proptest::prop_assert!((total - 1.0).abs() < 1e-9, "sum {total}");
        }
        let n = rows.len() as f64;
        for r in &rows {
            proptest::prop_assert!(r.betweenness >= 0.0);
            // At most every ordered pair of other nodes passes through it.
            proptest::prop_assert!(r.betweenness <= (n - 1.0) * (n - 2.0) + 1e-9);
            proptest::prop_assert!((0.0..=1.0 + 1e-12).contains(&r.closeness));
        }
    }
}

#[test]
fn call_paths_by_hand() {
    let s = summaries(&[(
        "p.ex",
        r#"
defmodule P do
  def a do
    b()
    c()
  end

  def b, do: d()

  def c do
    d()
    e()
  end

  def d, do: e()
  def e, do: :ok
  def lone, do: :ok
end
"#,
    )]);
    let g = CallGraph::build(&s);
    let f = |n: &str| -> Mfa { format!("P.{n}/0").parse().unwrap() };
    let text = |path: &Vec<Mfa>| {
        path.iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>()
            .join("")
    };
    let p = paths(&g, &f("a"), &f("e"), 3, 10);
    assert_eq!(p.shortest.as_ref().map(text), Some("ace".to_string()));
    let mut all: Vec<String> = p.all.iter().map(text).collect();
    all.sort();
    assert_eq!(all, vec!["abde", "acde", "ace"]);
    assert!(!p.truncated);
    let short = paths(&g, &f("a"), &f("e"), 2, 10);
    assert_eq!(short.all.iter().map(text).collect::<Vec<_>>(), vec!["ace"]);
    let one = paths(&g, &f("a"), &f("e"), 3, 1);
    assert_eq!((one.all.len(), one.truncated), (1, true));
    let none = paths(&g, &f("a"), &f("lone"), 5, 10);
    assert_eq!((none.shortest, none.all.len()), (None, 0));
}

#[test]
fn communities_by_hand() {
    use partition::analysis::{label_propagation, louvain, modularity};
    // Two directed triangles: two communities, modularity 2 * (3/6 - (6/12)^2).
    let two = name_graph(&[
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("d", "e"),
        ("e", "f"),
        ("f", "d"),
    ]);
    let (membership, q) = louvain(&two);
    assert_eq!(membership, vec![0, 0, 0, 1, 1, 1]);
    assert!(close(q, 0.5), "{q}");
    assert_eq!(label_propagation(&two), vec![0, 0, 0, 1, 1, 1]);
    // Joined by one edge: still two communities, modularity
    // 2 * (3/7 - (7/14)^2) = 5/14.
    let joined = name_graph(&[
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("c", "d"),
        ("d", "e"),
        ("e", "f"),
        ("f", "d"),
    ]);
    let (membership, q) = louvain(&joined);
    assert_eq!(membership, vec![0, 0, 0, 1, 1, 1]);
    assert!(close(q, 5.0 / 14.0), "{q}");
    assert!(close(modularity(&joined, &[0, 0, 0, 0, 0, 0]), 0.0));
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]

    #[test]
    fn every_module_gets_one_community_and_louvain_never_loses_modularity(
        edges in proptest::collection::vec((0u8..20, 0u8..20), 1..60)
    ) {
        use partition::analysis::{label_propagation, louvain, modularity};
        let g = numbered_graph(&edges, |n| format!("m{n:02}"));
        let n = g.names.len();
        let (membership, q) = louvain(&g);
        let lp = label_propagation(&g);
        proptest::prop_assert_eq!(membership.len(), n);
        proptest::prop_assert_eq!(lp.len(), n);
        let singletons: Vec<usize> = (0..n).collect();
        proptest::prop_assert!(q + 1e-9 >= modularity(&g, &singletons), "{} < singletons", q);
        proptest::prop_assert!((-0.5 - 1e-9..=1.0).contains(&q));
        proptest::prop_assert!(close(q, modularity(&g, &membership)));
    }
}

#[test]
fn dead_code_by_hand() {
    use partition::analysis::dead_code;
    let s = summaries(&[(
        "lib/dead.ex",
        r#"
defmodule Worker do
  use GenServer
  def start_link(arg), do: GenServer.start_link(__MODULE__, arg)
  def init(arg), do: {:ok, arg}
  def handle_call(:ping, _from, s), do: {:reply, helper(s), s}
  @impl true
  def handle_info(_msg, s), do: {:noreply, s}
  def helper(s), do: s
  def unused(x), do: x
  defp private(x), do: x
end

defmodule Mix.Tasks.Hello do
  use Mix.Task
  def run(_args), do: Greeter.greet("hi")
end

defmodule Greeter do
  defmacro __using__(_), do: :ok
  def greet(name, punctuation \\ "!"), do: name <> punctuation
  def wave, do: :wave
  def also_unused, do: wave()
end

defprotocol Size do
  def size(x)
end

defimpl Size, for: Map do
  def size(m), do: map_size(m)
end

defmodule Store do
  @callback fetch(key :: term) :: {:ok, term} | :error
  @callback put(term, term) :: :ok when term: any
  @macrocallback build :: Macro.t()
end

defmodule MemStore do
  @behaviour Store
  def fetch(_key), do: :error
  def put(_k, _v), do: :ok
  def build, do: :ok
  def extra, do: :extra
end
"#,
    )]);
    assert_eq!(
        s.iter().find(|m| m.name == "Store").unwrap().callbacks,
        vec![
            ("build".to_string(), 0),
            ("fetch".to_string(), 1),
            ("put".to_string(), 2)
        ]
    );
    let g = CallGraph::build(&s);
    let names = |entries: &[&str]| -> Vec<String> {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        dead_code(&s, &g, &entries)
            .iter()
            .map(|d| d.mfa.to_string())
            .collect()
    };
    // Callbacks of GenServer (declared through `use`), @impl, start_link,
    // the Mix task, __using__, the default-argument arity of greet, the
    // protocol and its implementation, and the callbacks Store declares
    // (MemStore implements them without @impl) are not dead; helper and wave
    // are called; private functions are not public.
    assert_eq!(
        names(&[]),
        vec![
            "Greeter.also_unused/0",
            "MemStore.extra/0",
            "Worker.unused/1"
        ]
    );
    assert_eq!(
        names(&["Worker.unused/1", "MemStore"]),
        vec!["Greeter.also_unused/0"]
    );
    assert_eq!(
        names(&["Greeter"]),
        vec!["MemStore.extra/0", "Worker.unused/1"]
    );
}

/// Functions named as data or wired by Phoenix's configuration and views:
/// an `{M, :f, [args]}` tuple references `M.f/length(args)`; an endpoint's
/// `render_errors` views render with `render/2` or the status's template;
/// `put_view`, `render_many` and a controller's `render(conn, "x.json")`
/// call the view's `render/2`. A reference to what the module does not
/// define is no call at all (and never an undefined one). What
/// `apply(Module, fun, args)` may call is not reported dead.
#[test]
fn references_and_views_are_calls_dead_code_sees() {
    use partition::analysis::dead_code;
    let s = summaries(&[
        (
            "config/config.exs",
            r#"
import Config
config :app, App.Endpoint,
  render_errors: [formats: [html: App.ErrorHTML, json: App.ErrorJSON], accepts: ~w(html json)]
config :app, App.Other, render_errors: [view: App.ErrorView]
config :logger, :console, format: {App.Log, :format, [1, 2, 3, 4]}
config :sentry, before_send: {App.Filter, :filter}
"#,
        ),
        (
            "lib/app.ex",
            r#"
defmodule App.Poller do
  def measurements, do: [{__MODULE__, :poll, []}, {App.Metrics, :gauge, [1, two: 2]}, {:ok, :x, []}, {App.Metrics, :nope, []}, {App.Metrics, :gauge, [h | t]}]
  def poll, do: :ok
  def unused, do: :ok
end

defmodule App.Metrics do
  def gauge(a, kw), do: {a, kw}
  def other, do: :ok
end

defmodule App.Log do
  def format(level, msg, ts, md), do: {level, msg, ts, md}
end

defmodule App.Dispatch do
  def call(f, args), do: apply(App.Linked, f, args)
  def one(args), do: apply(App.Other2, :go, args)
end

defmodule App.Linked do
  def a, do: 1
  def b(x), do: x
end

defmodule App.Other2 do
  def go(x), do: x
  def stay, do: 1
end

defmodule App.Filter do
  def filter(event), do: event
  def filter(event, opts), do: {event, opts}
  def other(event), do: event
  def key, do: :persistent_term.get({__MODULE__, :other})
  def keys, do: [{App.Filter, :other}, on_mount: {App.Filter, :other}]
end

defmodule App.ErrorHTML do
  def render(template, _assigns), do: template
  def unquote(:"404")(assigns), do: assigns
  def helper, do: :ok
end

defmodule App.ErrorJSON do
  def render(template, _assigns), do: %{error: template}
end

defmodule App.ErrorView do
  use Phoenix.View, root: "lib/templates"
  def render(t, _), do: t
  def template_not_found(t, _), do: t
end

defmodule App.FallbackController do
  use Phoenix.Controller
  def call(conn, :error), do: conn |> put_view(App.ChangesetView) |> render("error.json", [])
  def call(conn, :other), do: conn |> put_view(json: App.OtherJSON) |> render(:x)
end

defmodule App.ChangesetView do
  def render("error.json", _), do: render_many([], App.ItemView, "item.json")
end

defmodule App.ItemView do
  def render("item.json", _), do: %{}
end

defmodule App.OtherJSON do
  def render(_, _), do: %{}
end

defmodule App.PageController do
  use Phoenix.Controller
  def show(conn, _), do: render(conn, "show.json", page: 1)
end

defmodule App.PageView do
  def render("show.json", _), do: %{}
end

defmodule App.PageJSON do
  def show(_), do: %{}
  def index(_), do: %{}
end
"#,
        ),
    ]);
    let g = CallGraph::build(&s);
    let dead: Vec<String> = dead_code(
        &s,
        &g,
        &["App.FallbackController".into(), "App.PageController".into()],
    )
    .iter()
    .map(|d| d.mfa.to_string())
    .collect();
    assert_eq!(
        dead,
        vec![
            "App.Dispatch.call/2",
            "App.Dispatch.one/1",
            "App.ErrorHTML.helper/0",
            "App.Filter.key/0",
            "App.Filter.keys/0",
            "App.Filter.other/1",
            "App.Metrics.other/0",
            "App.Other2.stay/0",
            "App.PageJSON.index/1",
            "App.Poller.measurements/0",
            "App.Poller.unused/0",
        ]
    );
    let mut refs: Vec<String> = g
        .calls
        .iter()
        .filter(|e| e.kind == CallKind::Reference)
        .map(|e| g.mfa(e.callee).to_string())
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        vec![
            "App.Filter.filter/1",
            "App.Filter.filter/2",
            "App.Log.format/4",
            "App.Metrics.gauge/2",
            "App.Poller.poll/0"
        ]
    );
    assert!(
        g.calls.iter().all(|e| !e.undefined),
        "no reference or view call is undefined"
    );
}

/// `pipe_through` takes plugs: the router's pipelines, function plugs it
/// imports, and module plugs.
#[test]
fn pipe_through_reaches_pipelines_imported_function_plugs_and_module_plugs() {
    use partition::analysis::dead_code;
    let s = summaries(&[(
        "lib/router.ex",
        r#"
defmodule App.Auth do
  def require_user(conn, _opts), do: conn
  def unused_plug(conn, _opts), do: conn
end

defmodule App.ServerAuth do
  def init(opts), do: opts
  def call(conn, _opts), do: conn
end

defmodule App.Router do
  use Phoenix.Router
  import App.Auth

  pipeline :browser do
    plug :accepts, ["html"]
  end

  scope "/" do
    pipe_through [:browser, :require_user, App.ServerAuth]
  end
end
"#,
    )]);
    let g = CallGraph::build(&s);
    let dead: Vec<String> = dead_code(&s, &g, &[])
        .iter()
        .map(|d| d.mfa.to_string())
        .collect();
    assert_eq!(dead, vec!["App.Auth.unused_plug/2"]);
    let from_call: Vec<String> = g
        .calls
        .iter()
        .filter(|e| g.mfa(e.caller).to_string() == "App.Router.call/2")
        .map(|e| g.mfa(e.callee).to_string())
        .collect();
    for want in [
        "App.Router.browser/2",
        "App.Auth.require_user/2",
        "App.ServerAuth.init/1",
        "App.ServerAuth.call/2",
    ] {
        assert!(
            from_call.iter().any(|c| c == want),
            "{want} in {from_call:?}"
        );
    }
}

#[test]
fn process_edges_by_hand() {
    let s = summaries(&[
        (
            "counter.ex",
            r#"
defmodule Counter do
  use GenServer

  def start_link(n), do: GenServer.start_link(__MODULE__, n, name: :counter)
  def bump(by), do: GenServer.call(__MODULE__, {:bump, by})
  def reset, do: GenServer.cast(Counter, :reset)
  def ping, do: send(:counter, :ping)
  def tick(pid), do: send(pid, :tick)
  def again, do: send(self(), :ping)
  def via(id), do: GenServer.cast({:via, Registry, {R, id}}, :reset)
  def spawn_worker(x), do: spawn(Worker, :run, [x])
  def task, do: Task.start(Worker, :run, [])
  def nobody, do: GenServer.call(Elsewhere, :hi)
  def enqueue(path), do: %{"path" => path} |> Cleanup.new() |> Oban.insert()
  def not_a_job(x), do: Worker.new(x)
  def stray, do: send(:counter, :pong)
  def wrong, do: GenServer.cast(Counter, {:other, 1})
  def tagged, do: GenServer.cast(Counter, {:set, 1})

  @impl true
  def init(n), do: {:ok, n}
  @impl true
  def handle_call({:bump, by}, _from, n), do: {:reply, n + by, n + by}
  @impl true
  def handle_cast(:reset, _n), do: {:noreply, 0}
  def handle_cast({:set, n}, _n), do: {:noreply, n}
  @impl true
  def handle_info(:ping, n), do: {:noreply, n}
end
"#,
        ),
        (
            "worker.ex",
            "defmodule Worker do\n  def run(x), do: x\n  def run, do: :ok\n  defp run(a, b), do: {a, b}\n  def new(x), do: x\n  def perform(x), do: x\nend\n",
        ),
        (
            "cleanup.ex",
            "defmodule Cleanup do\n  use Oban.Worker\n  def perform(%Oban.Job{args: args}), do: args\nend\n",
        ),
    ]);
    assert_eq!(
        s.iter().find(|m| m.name == "Counter").unwrap().registers,
        vec![":counter"]
    );
    let g = CallGraph::build(&s);
    let process = |name: &str, arity: u16| -> Vec<String> {
        let id = g.id(&Mfa::new("Counter", name, arity)).unwrap();
        let mut v: Vec<String> = g
            .calls_from(id)
            .filter(|c| c.kind == CallKind::Process)
            .map(|c| g.mfa(c.callee).to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(process("bump", 1), vec!["Counter.handle_call/3"]);
    assert_eq!(process("reset", 0), vec!["Counter.handle_cast/2"]);
    assert_eq!(process("ping", 0), vec!["Counter.handle_info/2"]);
    // A pid is unknown until run time; Elsewhere is not in the code.
    assert_eq!(process("tick", 1), Vec::<String>::new());
    assert_eq!(process("again", 0), vec!["Counter.handle_info/2"]);
    // A computed server in a module that handles casts: its own server.
    assert_eq!(process("via", 1), vec!["Counter.handle_cast/2"]);
    assert_eq!(process("nobody", 0), Vec::<String>::new());
    // A message no clause of the handler takes reaches none of them.
    assert_eq!(process("stray", 0), Vec::<String>::new());
    assert_eq!(process("wrong", 0), Vec::<String>::new());
    assert_eq!(process("tagged", 0), vec!["Counter.handle_cast/2"]);
    // An Oban job enqueued runs its worker's perform/1; a `new/1` of a
    // module that does not use Oban.Worker is an ordinary call.
    assert_eq!(process("enqueue", 1), vec!["Cleanup.perform/1"]);
    assert_eq!(process("not_a_job", 1), Vec::<String>::new());
    // Every public arity of Worker.run (the argument list's length is not
    // looked at), not the private run/2.
    assert_eq!(
        process("spawn_worker", 1),
        vec!["Worker.run/0", "Worker.run/1"]
    );
    assert_eq!(process("task", 0), vec!["Worker.run/0", "Worker.run/1"]);
    // Process edges take part in paths and impact.
    let from = Mfa::new("Counter", "bump", 1);
    let to = Mfa::new("Counter", "handle_call", 3);
    assert!(paths(&g, &from, &to, 2, 5).shortest.is_some());
    let up: Vec<String> = function_impact(&g, &to, 3)
        .unwrap()
        .upstream
        .iter()
        .map(|a| a.name.clone())
        .collect();
    assert!(up.contains(&"Counter.bump/1".to_string()), "{up:?}");
}

/// The rules the project ships with, as a user would copy them.
fn default_rules() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/analysis/taint_rules.toml"
    ))
    .expect("the default taint rules are readable")
}

/// The line of each finding's sink call, sorted.
fn sink_lines(t: &proto::Taint) -> Vec<u32> {
    let mut lines: Vec<u32> = t
        .findings
        .iter()
        .map(|f| f.steps.last().expect("a sink step").line)
        .collect();
    lines.sort();
    lines
}

fn taint_of(files: &[(&str, &str)], rules: &str) -> proto::Taint {
    let s = summaries(files);
    let g = CallGraph::build(&s);
    let rules = partition::analysis::parse_taint_rules(rules).expect("rules parse");
    partition::analysis::taint(&g, &s, &rules)
}

/// Each finding as "source -> sink_call @ file:line of the sink", and its
/// steps' lines.
fn findings(t: &proto::Taint) -> Vec<(String, Vec<u32>)> {
    t.findings
        .iter()
        .map(|f| {
            let last = f.steps.last().expect("a sink step");
            (
                format!(
                    "{} -> {} @ {}:{}",
                    f.source, f.sink_call, last.file, last.line
                ),
                f.steps.iter().map(|s| s.line).collect(),
            )
        })
        .collect()
}

const TAINT_RULES: &str = r#"
[[source]]
name = "input"
calls = ["Src.read/0"]
parameters = [{ function = "*Controller.*/2", index = 1 }]
fields = ["params"]

[[sink]]
name = "danger"
calls = ["Sink.run/*"]
args = [0]

[[sanitizer]]
name = "clean"
calls = ["Clean.*/1"]
"#;

#[test]
fn taint_by_hand() {
    let t = taint_of(
        &[(
            "t.ex",
            r#"
defmodule WebController do
  def direct(conn, params) do
    Sink.run(params["x"], conn)
  end

  def helper(conn, params), do: Mid.pass(params) |> Sink.run()

  def cleaned(_conn, params), do: params |> Clean.it() |> Sink.run()

  def second_arg(conn, params), do: Sink.run(conn, params)

  defp private(_conn, params), do: Sink.run(params)
end

defmodule Mid do
  def pass(x), do: ident(x)
  defp ident(y), do: y

  def clean_user, do: Sink.run(pass("constant"))

  def from_field(conn), do: Sink.run(conn.params)

  def from_call do
    v = fresh()
    Sink.run(v)
  end

  defp fresh, do: Src.read()

  def deep(x), do: Sink.run(x)
  def caller_of_deep, do: deep(Src.read())
end
"#,
        )],
        TAINT_RULES,
    );
    let got = findings(&t);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "input -> Sink.run/2 @ t.ex:4",
            "input -> Sink.run/1 @ t.ex:7",
            "input -> Sink.run/1 @ t.ex:22",
            "input -> Sink.run/1 @ t.ex:26",
            "input -> Sink.run/1 @ t.ex:31",
        ],
        "{got:#?}"
    );
    // Source (the action, line 7), returned by Mid.pass/1 (through its
    // private ident/1), into the sink.
    assert_eq!(got[1].1, vec![7, 7, 7]);
    // Src.read/0's result leaves fresh/0 (29) for from_call's v (25), then
    // the sink (26).
    assert_eq!(got[3].1, vec![29, 25, 26]);
    // Into deep/1 (32), then its sink (31).
    assert_eq!(got[4].1, vec![32, 32, 31]);
    // Not findings: a sanitizer stops the flow (cleaned/2); args = [0]
    // ignores the sink's second argument (second_arg/2); private functions
    // are not actions (private/2); pass/1 returning tainted data to one
    // caller leaves clean_user's call clean. Sources: four public actions,
    // one field read, two calls.
    assert_eq!(t.sources, 7, "{t:#?}");
    assert!(!t.truncated);
}

#[test]
fn taint_rules_are_checked() {
    let rules = partition::analysis::default_taint_rules();
    assert!(
        rules.sources.len() >= 4 && rules.sinks.len() >= 6,
        "{rules:#?}"
    );
    // Each mistake is named: a call without /arity, a key of another kind
    // of rule, an unknown table or severity.
    for (text, says) in [
        (
            "[[sink]]\nname = \"x\"\ncalls = [\"to_atom\"]\n",
            "no /arity",
        ),
        (
            "[[sink]]\nname = \"x\"\nfields = [\"params\"]\n",
            "only sources",
        ),
        ("[[sorce]]\nname = \"x\"\n", "sorce"),
        ("[[source]]\nname = \"x\"\ncalls = [\"A.b/x\"]\n", "arity"),
        (
            "[[source]]\nname = \"x\"\nseverity = \"high\"\n",
            "only sinks",
        ),
        ("[[sink]]\nname = \"x\"\noperator = true\n", "only sources"),
        ("[[sink]]\nname = \"x\"\nresult_from = [0]\n", "only flows"),
        ("[[sink]]\nname = \"x\"\nseverity = \"dire\"\n", "dire"),
    ] {
        let err = partition::analysis::parse_taint_rules(text).unwrap_err();
        assert!(err.contains(says), "{text}: {err}");
    }
}

/// Exclusions, flow rules, severities: test code is not searched, a call a
/// flow rule names passes only the arguments it says (and says nothing
/// about assuming), an unnamed external call is assumed to pass everything
/// and the step says so, and an operator's source ranks one step lower.
#[test]
fn taint_scope_flows_and_severity() {
    let rules = r#"
exclude = ["test/"]

[[source]]
name = "input"
calls = ["Src.read/0"]

[[source]]
name = "settings"
operator = true
calls = ["Env.get/1"]

[[sink]]
name = "danger"
calls = ["Sink.run/1"]

[[sink]]
name = "minor"
severity = "medium"
calls = ["Sink.log/1"]

[[flow]]
name = "lookups"
calls = ["Store.get/2"]
result_from = [1]

[[flow]]
name = "reads"
calls = ["Repo.one/1"]
result_from = []
"#;
    let t = taint_of(
        &[
            (
                "lib/a.ex",
                r#"
defmodule A do
  def by_key, do: Sink.run(Store.get(:table, Src.read()))
  def by_table, do: Sink.run(Store.get(Src.read(), :key))
  def stored, do: Sink.run(Repo.one(Src.read()))
  def unknown, do: Sink.run(Other.wrap(Src.read()))
  def logged, do: Sink.log(Src.read())
  def configured, do: Sink.run(Env.get("X"))
end
"#,
            ),
            (
                "test/support/fixtures.ex",
                "defmodule Fixtures do
  def make, do: Sink.run(Src.read())
end
",
            ),
        ],
        rules,
    );
    let got: Vec<(String, &str, &str)> = t
        .findings
        .iter()
        .map(|f| {
            let last = f.steps.last().unwrap();
            (
                format!("{}:{}", last.file, last.line),
                f.source.as_str(),
                f.severity.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("lib/a.ex:3".to_string(), "input", "high"),
            ("lib/a.ex:6".to_string(), "input", "high"),
            ("lib/a.ex:7".to_string(), "input", "medium"),
            ("lib/a.ex:8".to_string(), "settings", "medium"),
        ],
        "{t:#?}"
    );
    let step = |line: &str| {
        t.findings
            .iter()
            .find(|f| {
                f.steps
                    .last()
                    .is_some_and(|s| format!("{}:{}", s.file, s.line) == line)
            })
            .map(|f| f.steps.iter().map(|s| s.what.clone()).collect::<Vec<_>>())
            .unwrap()
    };
    assert!(
        step("lib/a.ex:6").contains(
            &"through Other.wrap/1 (assumed: its arguments reach its result)".to_string()
        ),
        "{:?}",
        step("lib/a.ex:6")
    );
    assert!(step("lib/a.ex:3").contains(&"through Store.get/2".to_string()));
    let assumed = |line: u32| -> Vec<String> {
        t.findings
            .iter()
            .find(|f| f.steps.last().is_some_and(|s| s.line == line))
            .map(|f| f.assumed.iter().map(|m| m.to_string()).collect())
            .unwrap()
    };
    assert_eq!(assumed(6), vec!["Other.wrap/1"]);
    assert!(assumed(3).is_empty(), "a flow rule is not an assumption");
    // Sources in test code are not counted either: the six of lib/a.ex
    // (test/support/fixtures.ex would add a seventh, and a finding).
    assert_eq!(t.sources, 6, "{t:#?}");
}

/// Explicit flows only: an `if` condition or a `case` subject decides a
/// value without being it (a literal chosen by comparing input is clean),
/// while what a `case` pattern binds from its subject, and what a branch
/// returns, carry the taint on; what `raise` is given does not come back.
#[test]
fn taint_follows_data_not_control() {
    let rules = format!(
        "{TAINT_RULES}\n[[flow]]\nname = \"raise\"\ncalls = [\"Kernel.raise/*\"]\nresult_from = []\n"
    );
    let t = taint_of(
        &[(
            "t.ex",
            r#"
defmodule T do
  def decided_by_if do
    if Src.read() == "admin", do: Sink.run(:yes), else: Sink.run(:no)
    Sink.run(if(Src.read(), do: 1, else: 2))
  end

  def decided_by_case do
    role = case Src.read() do
      "admin" -> :admin
      _ -> :user
    end
    Sink.run(role)
  end

  def bound do
    case Src.read() do
      {:ok, x} -> Sink.run(x)
      _ -> :error
    end
  end

  def returned do
    v = case Src.read() do
      "a" <> rest -> rest
      _ -> "none"
    end
    Sink.run(v)
  end

  def parsed do
    value = Src.read()
    n = case Integer.parse(value) do
      {int, ""} -> int
      _ -> raise ArgumentError, "bad #{value}"
    end
    Sink.run(n)
  end
end
"#,
        )],
        &rules.replace("Clean.*/1", "Integer.parse/1"),
    );
    assert_eq!(sink_lines(&t), vec![18, 28], "{t:#?}");
}

/// With the default rules: what a server-signed token holds is not the
/// client's to choose, nor can a path `Path.safe_relative` accepted, or an
/// expanded path under a prefix check, leave its directory; the token
/// itself, and a path checked without expanding it, are the client's.
#[test]
fn taint_signed_tokens_and_confined_paths_are_clean() {
    let rules = default_rules();
    let t = taint_of(
        &[(
            "lib/t.ex",
            r#"
defmodule T do
  def signed(conn) do
    {:ok, kind} = Phoenix.Token.verify(conn, "salt", conn.params["token"])
    String.to_atom(kind)
  end

  def raw(conn), do: String.to_atom(conn.params["token"])

  def confined(conn) do
    {:ok, p} = Path.safe_relative(conn.params["file"])
    File.read!(p)
  end

  def expanded(conn) do
    path = Path.expand(conn.params["file"], "/srv/files")
    if String.starts_with?(path, "/srv/files/"), do: File.read!(path)
  end

  def prefixed_only(conn) do
    path = Path.join("/srv/files", conn.params["file"])
    if String.starts_with?(path, "/srv/files/"), do: File.read!(path)
  end
end
"#,
        )],
        &rules,
    );
    let lines = sink_lines(&t);
    // 8: the token itself; 22: a prefix check without `Path.expand` (a
    // `..` in the name climbs out).
    assert_eq!(lines, vec![8, 22], "{t:#?}");
}

/// With the default rules: a map's fields are told apart within a function
/// (a clean field of a map that also holds request data stays clean), and
/// the `path` of an upload in the request parameters is the file Plug wrote;
/// its `filename`, a `path` the code put there itself, and a `path` out of
/// another source's data stay tainted.
#[test]
fn taint_map_fields_are_told_apart_and_uploads_are_the_servers() {
    let rules = default_rules();
    let code = r#"
defmodule U do
  def upload(conn) do
    %{"file" => %{path: p}} = conn.params
    File.read!(p)
  end

  def upload_dot(conn) do
    upload = conn.params["file"]
    File.read!(upload.path)
  end

  def upload_name(conn) do
    %{"file" => %{filename: name}} = conn.params
    File.read!(name)
  end

  def own_map(conn) do
    m = %{path: conn.params["file"], size: 1}
    %{path: p} = m
    File.read!(p)
  end

  def sibling(conn) do
    m = %{"name" => conn.params["name"], "dir" => "/tmp"}
    %{"dir" => dir} = m
    File.read!(dir)
    File.read!(Path.join(dir, m.name))
  end

  def same(conn) do
    m = %{"name" => conn.params["name"], "dir" => "/tmp"}
    %{"name" => n} = m
    File.read!(n)
  end

  def env do
    %{path: p} = Jason.decode!(System.get_env("CFG"), keys: :atoms)
    File.read!(p)
  end

  def lookup(conn) do
    m = %{"name" => conn.params["name"], "dir" => "/tmp"}
    File.read!(m["dir"])
    File.read!(Map.get(m, "name"))
  end
end
"#;
    let t = taint_of(&[("lib/u.ex", code)], &rules);
    let lines = sink_lines(&t);
    // 15: the upload's filename; 21: a path the code put in; 34 and 45:
    // the tainted field; 39: the environment's. Not 27 and 44 (the clean
    // field) nor 28 (`m.name` reads the atom key, the tainted field is the
    // string "name"), nor 5 and 10 (the upload's path).
    assert_eq!(lines, vec![15, 21, 34, 39, 45], "{t:#?}");
    // Asked why the environment's `path` is not clean, the finding says
    // which rule counts that check and for what.
    let env = t
        .findings
        .iter()
        .find(|f| f.source == "environment")
        .unwrap();
    assert!(
        env.explain.iter().any(|w| w.contains(
            "passed a `path_field` check; \"file Plug wrote\" counts it for request parameters only, not for \"environment\""
        )),
        "{:#?}",
        env.explain
    );
    // Without the rule, the upload's path is the client's like the rest.
    let without = rules.replace("checks = [\"path_field\"]", "checks = []");
    assert_ne!(without, rules);
    let t = taint_of(&[("lib/u.ex", code)], &without);
    let lines = sink_lines(&t);
    assert_eq!(lines, vec![5, 10, 15, 21, 34, 39, 45], "{t:#?}");
}

/// With the default rules: a changeset field validated against a fixed set
/// or an anchored format, read back by name, is clean; its other fields,
/// and a field checked by an unanchored format, are not.
#[test]
fn taint_validated_changeset_fields_are_clean() {
    let rules = default_rules();
    let code = r#"
defmodule V do
  alias Ecto.Changeset
  @types %{role: :string, name: :string}

  def included(conn) do
    cs = {%{}, @types} |> Changeset.cast(conn.params, [:role, :name]) |> Changeset.validate_inclusion(:role, ~w(admin user))
    String.to_atom(Changeset.get_field(cs, :role))
  end

  def other_field(conn) do
    cs = {%{}, @types} |> Changeset.cast(conn.params, [:role, :name]) |> Changeset.validate_inclusion(:role, ~w(admin user))
    String.to_atom(Changeset.get_field(cs, :name))
  end

  def anchored(conn) do
    cs = {%{}, @types} |> Changeset.cast(conn.params, [:name]) |> Changeset.validate_format(:name, ~r/\A[a-z]+\z/)
    String.to_atom(Changeset.get_change(cs, :name))
  end

  def unanchored(conn) do
    cs = {%{}, @types} |> Changeset.cast(conn.params, [:name]) |> Changeset.validate_format(:name, ~r/[a-z]/)
    String.to_atom(Changeset.get_change(cs, :name))
  end
end
"#;
    let t = taint_of(&[("lib/v.ex", code)], &rules);
    let lines = sink_lines(&t);
    assert_eq!(lines, vec![13, 23], "{t:#?}");
    // Without the rules every read is the client's.
    let without: String = rules
        .replace("validates = [", "# validates = [")
        .lines()
        .filter(|l| !l.starts_with("anchored = true"))
        .collect::<Vec<_>>()
        .join("\n");
    let t = taint_of(&[("lib/v.ex", code)], &without);
    assert_eq!(t.findings.len(), 4, "{t:#?}");
}

const CHECK_RULES: &str = r#"
[[source]]
name = "input"
calls = ["Src.read/0"]

[[sink]]
name = "danger"
calls = ["Sink.run/1"]

[[sanitizer]]
name = "checked"
checks = ["membership", "regex", "literal_case"]
"#;

/// Checks on a variable sanitize its uses in the branch they guard, and
/// only there; the rules decide which checks count.
#[test]
fn taint_checks_guard_their_branch() {
    let code = r#"
defmodule Checks do
  @allowed ~w(a b)
  def member do
    v = Src.read()
    if v in @allowed, do: Sink.run(v)
  end
  def member_list(v) when v in ["a", "b"], do: Sink.run(v)
  def guarded_call, do: member_list(Src.read())
  def anchored do
    v = Src.read()
    if v =~ ~r/^[a-z]+$/, do: Sink.run(v)
  end
  def literal_case do
    v = Src.read()
    case v do
      "one" -> Sink.run(v)
      _ -> :no
    end
  end
  def both do
    v = Src.read()
    if is_binary(v) and v in [:x, :y], do: Sink.run(v)
  end
  def else_branch do
    v = Src.read()
    if v in @allowed, do: :ok, else: Sink.run(v)
  end
  def unanchored do
    v = Src.read()
    if v =~ ~r/[a-z]+/, do: Sink.run(v)
  end
  def any_pattern do
    v = Src.read()
    case v do
      x -> Sink.run(x)
    end
  end
  def variable_list(list) do
    v = Src.read()
    if v in [list], do: Sink.run(v)
  end
  def rebound do
    v = Src.read()
    if v in @allowed do
      v = Src.read()
      Sink.run(v)
    end
  end
  def unless_branch do
    v = Src.read()
    unless v in @allowed, do: Sink.run(v)
  end
  def alternation do
    v = Src.read()
    if v =~ ~r/^[a-z]+|x$/, do: Sink.run(v)
  end
end
"#;
    let lines = |t: &proto::Taint| -> Vec<u32> {
        t.findings
            .iter()
            .map(|f| f.steps.last().expect("a sink step").line)
            .collect()
    };
    let t = taint_of(&[("c.ex", code)], CHECK_RULES);
    // Found: the else branch (27), an unanchored regex (31), a catch-all
    // pattern (36), a list of variables (41), a rebound variable (47), the
    // body of `unless` (52).
    assert_eq!(lines(&t), vec![27, 31, 36, 41, 47, 52, 56], "{t:#?}");
    // Without the checks in the rules, every flow is a finding.
    let plain = CHECK_RULES.replace(
        "checks = [\"membership\", \"regex\", \"literal_case\"]",
        "checks = [\"regex\"]",
    );
    let t = taint_of(&[("c.ex", code)], &plain);
    assert_eq!(
        lines(&t),
        vec![6, 8, 17, 23, 27, 31, 36, 41, 47, 52, 56],
        "{t:#?}"
    );
    let err = partition::analysis::parse_taint_rules(
        "[[sanitizer]]\nname = \"x\"\nchecks = [\"membership\", \"typo\"]\n",
    )
    .unwrap_err();
    assert!(err.contains("unknown check \"typo\""), "{err}");
}

/// Request parameters are sources by routing: the actions a router
/// reaches and the events of LiveViews, not every function of a module
/// named like a controller; `redirect` is a sink for `external:` only.
#[test]
fn taint_sources_by_routing() {
    let t = taint_of(
        &[
            (
                "router.ex",
                r#"
defmodule App.Router do
  use Phoenix.Router
  scope "/", App do
    get "/users/:id", UserController, :show
    post "/go", UserController, :go
    live "/live", PageLive
  end
end
"#,
            ),
            (
                "user_controller.ex",
                r#"
defmodule App.UserController do
  use Phoenix.Controller
  import Phoenix.Controller
  def show(conn, %{"id" => id}) do
    App.Repo.query("SELECT * FROM users WHERE id = #{id}")
    conn
  end
  def not_routed(conn, params) do
    App.Repo.query("SELECT #{params}")
    conn
  end
  def go(conn, params) do
    conn = redirect(conn, to: "/users/#{params["id"]}")
    redirect(conn, external: params["url"])
  end
end
"#,
            ),
            (
                // What the dependency's source says (as under `deps/`).
                "controller.ex",
                r#"
defmodule Phoenix.Controller do
  def redirect(conn, opts), do: Map.put(conn, :location, opts)
end
"#,
            ),
            (
                "page_live.ex",
                r#"
defmodule App.PageLive do
  use Phoenix.LiveView
  # Not an action: the router reaches it through the `live` route, but
  # its second parameter is the socket.
  def handle_info(_msg, socket), do: {:noreply, String.to_atom(socket.id)}
  def handle_event("save", %{"html" => html}, socket) do
    {:noreply, assign(socket, :html, Phoenix.HTML.raw(html))}
  end
  def handle_event("sort", %{"by" => by}, socket) when by in ~w(name date) do
    {:noreply, assign(socket, :by, String.to_atom(by))}
  end
end
"#,
            ),
        ],
        partition::analysis::DEFAULT_TAINT_RULES,
    );
    let got: Vec<String> = t
        .findings
        .iter()
        .map(|f| {
            let last = f.steps.last().expect("a sink step");
            format!("{} {}:{}", f.sink_call, last.file, last.line)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "Phoenix.HTML.raw/1 page_live.ex:8",
            "App.Repo.query/1 user_controller.ex:6",
            "Phoenix.Controller.redirect/2 user_controller.ex:15",
        ],
        "{t:#?}"
    );
}

#[test]
fn taint_through_a_process() {
    let t = taint_of(
        &[(
            "s.ex",
            r#"
defmodule Server do
  use GenServer
  def put(v), do: GenServer.cast(__MODULE__, {:put, v})
  def handle_cast({:put, v}, state), do: {:noreply, Sink.run(v, state)}
end

defmodule Caller do
  def go, do: Server.put(Src.read())
end
"#,
        )],
        TAINT_RULES,
    );
    let got = findings(&t);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].0, "input -> Sink.run/2 @ s.ex:5");
    // Source and into put/1 (9), the cast (4), the handler's sink (5).
    assert_eq!(got[0].1, vec![9, 9, 4, 5]);
}

/// A message or a call with a literal tag reaches only the clauses whose
/// patterns take it: a cast `{:note, x}` does not reach the `{:run, x}`
/// clause, `build(:clean, x)` not the `build(:raw, x)` one, and a clause
/// that returns a literal does not pass its argument back. Steps name the
/// clause taken.
#[test]
fn taint_reaches_only_the_clauses_a_literal_matches() {
    let t = taint_of(
        &[(
            "s.ex",
            r#"
defmodule Store do
  use GenServer
  def handle_cast({:run, x}, state) do
    Sink.run(x)
    {:noreply, state}
  end
  def handle_cast({:note, x}, state), do: {:noreply, [x | state]}
  def handle_cast(:flush, _state), do: {:noreply, []}
end

defmodule Caller do
  def noted, do: GenServer.cast(Store, {:note, Src.read()})
  def run, do: GenServer.cast(Store, {:run, Src.read()})
  def build(:clean, _x), do: :ok
  def build(:raw, x), do: Sink.run(x)
  def clean, do: build(:clean, Src.read())
  def raw, do: build(:raw, Src.read())
  def pick(:a, x), do: x
  def pick(:b, _x), do: "fixed"
  def fixed, do: Sink.run(pick(:b, Src.read()))
  def picked, do: Sink.run(pick(:a, Src.read()))
  def unknown(tag), do: build(tag, Src.read())
end
"#,
        )],
        TAINT_RULES,
    );
    let mut got = findings(&t);
    got.sort();
    let sinks: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        sinks,
        vec![
            "input -> Sink.run/1 @ s.ex:16",
            "input -> Sink.run/1 @ s.ex:16",
            "input -> Sink.run/1 @ s.ex:22",
            "input -> Sink.run/1 @ s.ex:5",
        ],
        "{t:#?}"
    );
    // From `run` (14), `raw` (18), `unknown` (23) and `picked` (22): not
    // from `noted` (13), `clean` (17) or `fixed` (21).
    let mut sources: Vec<u32> = got.iter().map(|(_, lines)| lines[0]).collect();
    sources.sort();
    assert_eq!(sources, vec![14, 18, 22, 23], "{got:#?}");
    let steps = |line: &str| {
        t.findings
            .iter()
            .find(|f| f.steps.last().is_some_and(|s| s.line.to_string() == line))
            .map(|f| f.steps.iter().map(|s| s.what.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(
        steps("5")
            .iter()
            .any(|w| w.ends_with("to Store.handle_cast/2 (the clause at line 4)")),
        "{:?}",
        steps("5")
    );
    // build(:raw, ...) and build(tag, ...) both reach line 16: the first way
    // found names the clause, or a tag of unknown shape takes every clause.
    assert!(
        steps("16").iter().any(|w| w.contains("Caller.build/2")),
        "{:?}",
        steps("16")
    );
}

#[test]
fn smells_by_hand() {
    let s = summaries(&[(
        "m.ex",
        r#"
defmodule Hub do
  def a(x), do: Other.f(x) + Other.g(x) + own(x)
  def own(x), do: x
  def long(x) do
    y = x + 1
    z = y + 1
    if z > 3 do
      case z do
        4 -> :four
        _ -> :more
      end
    else
      :less
    end
  end
end

defmodule Other do
  def f(x), do: Hub.own(x)
  def g(x), do: x
end

defmodule Third do
  def t(x), do: Hub.own(x)
end
"#,
    )]);
    let g = CallGraph::build(&s);
    let t = proto::SmellThresholds {
        god_module_functions: 3,
        god_module_lines: 1000,
        god_module_dependencies: 1,
        feature_envy_calls: 2,
        feature_envy_percent: 60,
        shotgun_surgery_modules: 2,
        fan_in: 3,
        fan_out: 3,
        long_function_lines: 12,
        complex_function_cyclomatic: 4,
        deep_nesting: 2,
    };
    let found: Vec<String> = partition::analysis::smells(&s, &g, &t)
        .into_iter()
        .map(|m| format!("{} {}", m.kind, m.subject))
        .collect();
    assert_eq!(
        found,
        vec![
            // 3 functions, depends on Other (which has 2).
            "god_module Hub",
            "cyclic_dependency Hub ↔ Other",
            // own/1 is called from Other and Third.
            "shotgun_surgery Hub.own/1",
            // 2 of a/1's 3 calls into the code go to Other.
            "feature_envy Hub.a/1",
            // a/1, Other.f/1, Third.t/1.
            "high_fan_in Hub.own/1",
            // Other.f, Other.g and own (the + operators are not calls).
            "high_fan_out Hub.a/1",
            "long_function Hub.long/1",
            // if (2 ways) and case (2 arms): 1 + 1 + 1 = 3 < 4; not complex.
            "deep_nesting Hub.long/1",
        ]
    );
}

#[test]
fn a_call_whose_provider_cannot_be_known_stays_unresolved_with_its_candidates() {
    // `Unknown.Helpers` is neither analysed, a library nor standard: `helper/1`
    // might come from it, so it is not pinned on the one known import.
    let s = summaries(&[
        ("a.ex", "defmodule A do\n  def only_in_a(x), do: x\nend\n"),
        (
            "user.ex",
            "defmodule User do\n  import A\n  import Unknown.Helpers\n  def run(x), do: {only_in_a(x), helper(x), Enum.map(x, & &1)}\nend\n",
        ),
    ]);
    let g = CallGraph::build(&s);
    let run = g.id(&"User.run/1".parse().unwrap()).unwrap();
    let edges: Vec<_> = g.calls_from(run).collect();
    let helper = edges
        .iter()
        .find(|e| g.mfa(e.callee).name == "helper")
        .unwrap();
    assert_eq!(helper.kind, CallKind::Unresolved);
    assert_eq!(g.mfa(helper.callee).module, "");
    let candidates: Vec<&str> = g
        .candidates_of(helper)
        .unwrap()
        .iter()
        .map(|c| &**c)
        .collect();
    assert_eq!(candidates, vec!["Unknown.Helpers"]);
    // The known import still resolves, and the standard library is known.
    assert!(edges
        .iter()
        .any(|e| g.mfa(e.callee).to_string() == "A.only_in_a/1" && e.kind == CallKind::Imported));
    assert!(edges
        .iter()
        .any(|e| g.mfa(e.callee).to_string() == "Enum.map/2" && !e.undefined));
}

#[test]
fn what_use_injects_resolves_calls_and_defines_functions() {
    let s = summaries(&[
        (
            "web.ex",
            r#"
defmodule Web do
  def controller do
    quote do
      import Web.Helpers
      unquote(shared())
    end
  end

  defp shared do
    quote do
      import Web.Shared
    end
  end

  defmacro __using__(which) when is_atom(which), do: apply(__MODULE__, which, [])
end
"#,
        ),
        ("helpers.ex", "defmodule Web.Helpers do\n  def helper(x), do: x\nend\n"),
        ("shared.ex", "defmodule Web.Shared do\n  def shared(x), do: x\nend\n"),
        (
            "repo.ex",
            r#"
defmodule MyRepo.Base do
  defmacro __using__(_) do
    quote do
      def insert(struct, opts \\ []), do: {struct, opts}
    end
  end
end
"#,
        ),
        ("myrepo.ex", "defmodule MyRepo do\n  use MyRepo.Base\nend\n"),
        (
            "page.ex",
            "defmodule PageController do\n  use Web, :controller\n  def show(x), do: {helper(x), shared(x), MyRepo.insert(x)}\nend\n",
        ),
    ]);
    let g = CallGraph::build(&s);
    let show: Mfa = "PageController.show/1".parse().unwrap();
    let callees: Vec<String> = g
        .callees(&show, 1)
        .into_iter()
        .map(|r| r.mfa.to_string())
        .collect();
    assert_eq!(
        callees,
        vec![
            "MyRepo.insert/1",
            "Web.Helpers.helper/1",
            "Web.Shared.shared/1"
        ]
    );
    // `insert/1` exists in MyRepo through the default argument of the quoted def.
    let id = g.id(&show).unwrap();
    assert!(g.calls_from(id).all(|e| !e.undefined));
    // `use Web, :controller` calls `Web.controller/0` at compile time.
    assert!(g
        .callers(&"Web.controller/0".parse().unwrap(), 1)
        .iter()
        .any(|r| r.mfa.module == "PageController"));
}

/// Code that `use` injects calls the using module's functions: a bare call
/// or `&__MODULE__.f/3` in the quote is a call (from the module body, at
/// the `use`) to the function the using module's source defines; calls
/// among the injected functions, and to what it does not have, are not.
#[test]
fn what_use_injects_calls_the_using_modules_functions() {
    use partition::analysis::dead_code;
    let s = summaries(&[
        (
            "web.ex",
            r#"
defmodule Web do
  def tab do
    quote do
      def attach(socket), do: attach_hook(socket, :id, :handle_event, &__MODULE__.hooked_event/3)
      def params(p, socket), do: tab_params(p, socket) |> __MODULE__.finish()
      def tab_params(_p, socket), do: socket
      defoverridable tab_params: 2
    end
  end

  defmacro __using__(which) when is_atom(which), do: apply(__MODULE__, which, [])
end
"#,
        ),
        (
            "tab.ex",
            r#"
defmodule Tab do
  use Web, :tab
  def hooked_event(_e, _p, socket), do: socket
  def tab_params(_p, socket), do: socket
  def finish(socket), do: socket
  def unused(socket), do: socket
end
"#,
        ),
        (
            "other.ex",
            "defmodule Other do\n  def hooked_event(_e, _p, s), do: s\nend\n",
        ),
    ]);
    let g = CallGraph::build(&s);
    let dead: Vec<String> = dead_code(&s, &g, &[])
        .iter()
        .map(|d| d.mfa.to_string())
        .collect();
    assert_eq!(dead, vec!["Other.hooked_event/3", "Tab.unused/1"]);
    let callers: Vec<String> = g
        .callers(&"Tab.hooked_event/3".parse().unwrap(), 1)
        .into_iter()
        .map(|r| r.mfa.to_string())
        .collect();
    assert_eq!(callers, vec!["Tab.__module__/0"]);
    assert!(g.calls.iter().all(|e| !e.undefined));
}

#[test]
fn an_ecto_repo_gets_what_its_adapter_compiles_in() {
    // `use Ecto.Repo, adapter: A`: A's `__before_compile__` quote defines
    // `query/1,2` in the repo (as the ClickHouse and SQL adapters do).
    let s = summaries(&[
        (
            "ecto_repo.ex",
            "defmodule Ecto.Repo do\n  defmacro __using__(opts) do\n    quote do\n      @before_compile unquote(opts[:adapter])\n    end\n  end\nend\n",
        ),
        (
            "adapter.ex",
            "defmodule My.Adapter do\n  defmacro __before_compile__(_env) do\n    quote do\n      def query(sql, params \\\\ []), do: {sql, params}\n    end\n  end\nend\n",
        ),
        (
            "repo.ex",
            "defmodule My.Repo do\n  use Ecto.Repo, otp_app: :my, adapter: My.Adapter\nend\n",
        ),
        ("user.ex", "defmodule User do\n  def run, do: My.Repo.query(\"select 1\")\nend\n"),
    ]);
    let g = CallGraph::build(&s);
    let run = g.id(&"User.run/0".parse().unwrap()).unwrap();
    let edge = g.calls_from(run).next().unwrap();
    assert_eq!(g.mfa(edge.callee).to_string(), "My.Repo.query/1");
    assert!(!edge.undefined);
}

#[test]
fn cast_assoc_calls_the_associated_schemas_changeset() {
    let s = summaries(&[
        (
            "order.ex",
            r#"
defmodule Shop.Order do
  schema "orders" do
    has_many :items, Shop.Item
    embeds_one :address, Shop.Address
  end

  def changeset(order, attrs) do
    order
    |> cast(attrs, [:note])
    |> cast_assoc(:items)
    |> cast_embed(:address, with: &Shop.Address.strict/2)
  end
end
"#,
        ),
        (
            "item.ex",
            "defmodule Shop.Item do\n  def changeset(item, attrs), do: {item, attrs}\nend\n",
        ),
        (
            "address.ex",
            "defmodule Shop.Address do\n  def changeset(a, attrs), do: {a, attrs}\n  def strict(a, attrs), do: {a, attrs}\nend\n",
        ),
    ]);
    let g = CallGraph::build(&s);
    let callees: Vec<String> = g
        .callees(&"Shop.Order.changeset/2".parse().unwrap(), 1)
        .into_iter()
        .map(|r| r.mfa.to_string())
        .filter(|m| m.starts_with("Shop."))
        .collect();
    // `with:` names the function itself (a capture); without it, the
    // associated schema's changeset/2.
    assert_eq!(
        callees,
        vec!["Shop.Address.strict/2", "Shop.Item.changeset/2"]
    );
}

#[test]
fn a_keyword_use_follows_its_using_clause() {
    // `use Web, tab: :x` matches `__using__(tab: id)`, whose
    // `apply(__MODULE__, :tab_component, ...)` splices that function's quote.
    let s = summaries(&[
        (
            "web.ex",
            r#"
defmodule Web do
  def tab_component(_opts) do
    quote do
      import Web.Tabs
    end
  end

  defmacro __using__(which) when is_atom(which), do: apply(__MODULE__, which, [])
  defmacro __using__(tab: id), do: apply(__MODULE__, :tab_component, tab: id)
end
"#,
        ),
        ("tabs.ex", "defmodule Web.Tabs do\n  def assign_tab(s), do: s\nend\n"),
        (
            "tab.ex",
            "defmodule Web.ActivityTab do\n  use Web, tab: :activity\n  def mount(s), do: assign_tab(s)\nend\n",
        ),
    ]);
    let g = CallGraph::build(&s);
    let callees: Vec<String> = g
        .callees(&"Web.ActivityTab.mount/1".parse().unwrap(), 1)
        .into_iter()
        .map(|r| r.mfa.to_string())
        .collect();
    assert_eq!(callees, vec!["Web.Tabs.assign_tab/1"]);
}

/// `@deprecated` marks the next definition (every arity its defaults
/// make); the standard library's deprecations come from the table.
#[test]
fn deprecated_functions_are_marked_at_every_call() {
    let s = summaries(&[(
        "d.ex",
        r#"
defmodule Old do
  @deprecated "Use New.f/2 instead"
  def f(a, b \\ 1), do: {a, b}

  @doc "not deprecated"
  def g, do: f(1) && f(1, 2) && Atom.to_char_list(:x) && Atom.to_charlist(:x) && h()

  @deprecated "defstruct takes it"
  defstruct [:a]
  def h, do: :ok
end
"#,
    )]);
    let g = CallGraph::build(&s);
    let mut marked: Vec<(String, String)> = g
        .calls
        .iter()
        .filter_map(|c| {
            let f = &g.functions[c.callee as usize];
            f.deprecated
                .as_ref()
                .map(|d| (f.mfa.to_string(), d.to_string()))
        })
        .collect();
    marked.sort();
    marked.dedup();
    let marked: Vec<(&str, &str)> = marked
        .iter()
        .map(|(f, why)| (f.as_str(), why.as_str()))
        .collect();
    assert_eq!(
        marked,
        [
            ("Atom.to_char_list/1", "Use Atom.to_charlist/1 instead"),
            ("Old.f/1", "Use New.f/2 instead"),
            ("Old.f/2", "Use New.f/2 instead"),
        ],
        "{marked:?}"
    );
    assert!(function(&s, "Old", "g", 0).deprecated.is_none());
    assert!(function(&s, "Old", "h", 0).deprecated.is_none());
}

/// Erlang behaviours and modules from the OTP part of the table: the
/// callbacks of `@behaviour :gen_statem` are not dead; a call into an
/// Erlang module is resolved but never flagged undefined from the table
/// alone (a newer OTP may have the function).
#[test]
fn otp_behaviours_and_modules_from_the_table() {
    let s = summaries(&[(
        "m.ex",
        r#"
defmodule Machine do
  @behaviour :gen_statem
  def callback_mode, do: :handle_event_function
  def init(x), do: {:ok, :idle, x}
  def handle_event(_type, _event, _state, data), do: {:keep_state, data}
  def unused, do: :lists.reverse([1]) && :lists.no_such_function(1)
end
"#,
    )]);
    let g = CallGraph::build(&s);
    let dead: Vec<String> = partition::analysis::dead_code(&s, &g, &[])
        .iter()
        .map(|d| d.mfa.to_string())
        .collect();
    assert_eq!(dead, vec!["Machine.unused/0"]);
    // (An installed OTP, whose export tables are exact, may say otherwise.)
    let installed = partition::library::stdlib()
        .sources
        .iter()
        .any(|s| s.starts_with("installed OTP"));
    assert!(installed || g.calls.iter().all(|c| !c.undefined));
    let lib = partition::library::table();
    assert_eq!(lib.provides(":lists", "reverse", 1), Some(true));
    assert_eq!(lib.provides(":lists", "no_such_function", 1), None);
    assert!(lib.sources.iter().any(|s| s.starts_with("otp 25.2.3")));
    // An installed OTP's BEAM files are exact: what they lack is undefined.
    let dir = tempfile::tempdir().unwrap();
    let ebin = dir.path().join("stdlib-9.9/ebin");
    std::fs::create_dir_all(&ebin).unwrap();
    let mut exact = lib.clone();
    let otp = partition::library::otp_ebins(dir.path());
    assert_eq!(otp, vec![ebin.clone()]);
    std::fs::write(
        ebin.join("lists.beam"),
        partition::library::beam::fixture("lists", &[("reverse", 1)]),
    )
    .unwrap();
    assert_eq!(exact.overlay_beams(&otp), (1, 0));
    assert_eq!(exact.provides(":lists", "no_such_function", 1), Some(false));
    assert_eq!(exact.provides(":lists", "map", 2), Some(false));
}

/// HEEx template files are functions of the modules that own them: an
/// `embed_templates` pattern's files by name, a colocated LiveView template
/// as `render/1`; their component tags and expressions are calls, resolved
/// in the owner's environment.
#[test]
fn templates_are_functions_of_their_owners() {
    let s = summaries(&[
        (
            "lib/app_web/page_html.ex",
            r#"
defmodule AppWeb.PageHTML do
  import AppWeb.Components
  alias AppWeb.Other
  embed_templates "page_html/*"
  defp local_helper(x), do: x
end
"#,
        ),
        (
            "lib/app_web/page_html/home.html.heex",
            "<div>\n  <.card title={local_helper(@t)} />\n  <%= if @x do %>\n    <Other.badge n={Enum.count(@items)} />\n  <% end %>\n</div>\n",
        ),
        (
            "lib/app_web/components.ex",
            "defmodule AppWeb.Components do\n  def card(assigns), do: assigns\nend\n",
        ),
        (
            "lib/app_web/other.ex",
            "defmodule AppWeb.Other do\n  def badge(assigns), do: assigns\n  def unused(assigns), do: assigns\nend\n",
        ),
        (
            "lib/app_web/live/page_live.ex",
            "defmodule AppWeb.PageLive do\n  def mount(_p, _s, socket), do: {:ok, socket}\n  def helper(x), do: x\nend\n",
        ),
        (
            "lib/app_web/live/page_live.html.heex",
            "<p>{helper(@n)}</p>\n",
        ),
        (
            "lib/app_web/orphan/index.html.heex",
            "<p>{nobody(@n)}</p>\n",
        ),
    ]);
    let attached = partition::analysis::attach_templates(&s).expect("templates");
    let g = CallGraph::build(&attached);
    let mut calls: Vec<String> = g
        .calls
        .iter()
        .filter(|c| g.file_of(c).ends_with(".heex"))
        .map(|c| {
            format!(
                "{} -> {} ({}) @{}",
                g.mfa(c.caller),
                g.mfa(c.callee),
                c.kind,
                c.line
            )
        })
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            "AppWeb.PageHTML.home/1 -> AppWeb.Components.card/1 (imported) @2",
            "AppWeb.PageHTML.home/1 -> AppWeb.Other.badge/1 (macro) @4",
            "AppWeb.PageHTML.home/1 -> AppWeb.PageHTML.local_helper/1 (local) @2",
            "AppWeb.PageHTML.home/1 -> Enum.count/1 (remote) @4",
            "AppWeb.PageLive.render/1 -> AppWeb.PageLive.helper/1 (local) @1",
        ],
        "{calls:#?}"
    );
    // A template no module owns is left out.
    assert!(attached.iter().all(|m| !m.file.contains("orphan")));
    let dead: Vec<String> = partition::analysis::dead_code(&attached, &g, &[])
        .iter()
        .map(|d| d.mfa.to_string())
        .collect();
    assert!(
        dead.contains(&"AppWeb.Other.unused/1".to_string()),
        "{dead:?}"
    );
    assert!(
        !dead.contains(&"AppWeb.Components.card/1".to_string()),
        "{dead:?}"
    );
}

/// How many features [`linked_module`] reads.
const FEATURES: usize = 23;

/// Elixir source for module `M{i}` of a random program of `n` modules that
/// uses what linking reads across modules, one feature per entry of
/// `f` (0: absent): `use` with `__using__` quotes that import, define and
/// declare behaviours; macros whose quotes define functions; imports;
/// callbacks; public and private functions; bare, remote and captured
/// calls; calls and messages to processes by module and by registered
/// name, and the clauses of their handlers. One entry changed is a small
/// edit.
fn linked_module(i: usize, n: usize, f: &[u8; FEATURES]) -> String {
    let m = |v: u8| (v as usize - 1) % n;
    let mut src = format!("defmodule M{i} do\n");
    if f[0] != 0 {
        src.push_str(&format!("  use M{}\n", m(f[0])));
    }
    if f[1] != 0 {
        src.push_str(&format!("  import M{}\n", m(f[1])));
    }
    if f[2] != 0 {
        src.push_str(&format!("  @behaviour M{}\n", m(f[2])));
    }
    if f[3] != 0 {
        src.push_str(&format!("  @callback cb{}(term) :: term\n", f[3] % 2));
    }
    if f[4] != 0 || f[5] != 0 || f[6] != 0 || f[22] != 0 {
        src.push_str("  defmacro __using__(_opts) do\n    quote do\n");
        if f[22] != 0 {
            src.push_str(&format!("      use M{}\n", m(f[22])));
        }
        if f[4] != 0 {
            src.push_str(&format!("      import M{}\n", m(f[4])));
        }
        if f[5] != 0 {
            src.push_str(&format!("      def inj{}(x), do: x\n", f[5] % 2));
        }
        if f[6] != 0 {
            src.push_str(&format!("      @behaviour M{}\n", m(f[6])));
        }
        src.push_str("    end\n  end\n");
    }
    if f[7] != 0 {
        let (def, k) = (["def", "defp"][f[7] as usize % 2], f[7] / 2 % 2);
        src.push_str(&format!(
            "  defmacro maker(_) do\n    quote do\n      {def} made{k}(x), do: x\n    end\n  end\n"
        ));
    }
    if f[8] != 0 {
        let q = m(f[8]);
        src.push_str(&format!("  require M{q}\n  M{q}.maker(:x)\n"));
    }
    if f[9] != 0 {
        let def = ["def", "defp"][f[9] as usize % 2];
        src.push_str(&format!("  {def} g{i}(x), do: x\n"));
    }
    for fun in 0..3 {
        let def = if f[10] >> fun & 1 == 1 { "defp" } else { "def" };
        src.push_str(&format!("  {def} f{fun}(x) do\n"));
        for slot in 0..2 {
            let v = f[11 + fun * 2 + slot] as usize;
            let (j, k) = (v / 11 % n, v / 55 % 3);
            let call = match v % 11 {
                0 => continue,
                1 => format!("M{j}.f{k}(x)"),
                2 => format!("g{j}(x)"),
                3 => format!("inj{}(x)", k % 2),
                4 => format!("made{}(x)", k % 2),
                5 => format!("GenServer.call(M{j}, :ping)"),
                6 => format!("GenServer.call(:n{j}, {{:t{k}, x}})"),
                7 => format!("send(:n{j}, :m{k})"),
                8 => format!("Enum.map([x], &M{j}.g{j}/1)"),
                9 => format!("cb{}(x)", k % 2),
                _ => format!("GenServer.cast(M{j}, {{:t{k}, x}})"),
            };
            src.push_str(&format!("    {call}\n"));
        }
        src.push_str("    x\n  end\n");
    }
    if f[17] != 0 {
        src.push_str("  def handle_call(:ping, _from, s), do: {:reply, :ok, s}\n");
    }
    if f[18] != 0 {
        let k = f[18] % 3;
        src.push_str(&format!(
            "  def handle_call({{:t{k}, _}}, _from, s), do: {{:reply, :ok, s}}\n"
        ));
    }
    if f[19] != 0 {
        let k = f[19] % 3;
        src.push_str(&format!(
            "  def handle_cast({{:t{k}, _}}, s), do: {{:noreply, s}}\n"
        ));
    }
    if f[20] != 0 {
        src.push_str(&format!(
            "  def handle_info(:m{}, s), do: {{:noreply, s}}\n",
            f[20] % 3
        ));
    }
    if f[21] != 0 {
        src.push_str(&format!(
            "  def start_link(a), do: GenServer.start_link(__MODULE__, a, name: :n{})\n",
            m(f[21])
        ));
    }
    src.push_str("end\n");
    src
}

/// Everything a graph answers with, by name: functions, calls, and each
/// module's callbacks and uses.
fn graph_contents(g: &CallGraph, modules: usize) -> String {
    let mut out = format!("{:#?}\n", g.functions);
    for c in &g.calls {
        out.push_str(&format!(
            "{c:?} in {} {:?}\n",
            g.file_of(c),
            g.candidates_of(c)
        ));
    }
    for i in 0..modules {
        let m = format!("M{i}");
        out.push_str(&format!(
            "{m} {:?} {:?}\n",
            g.behaviour_callbacks(&m),
            g.uses(&m)
        ));
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(512))]

    /// Relinking after random edits (a few features of modules changed,
    /// a module removed or added, the summaries reordered) gives the graph a full link of the
    /// edited program gives, and nothing when nothing changed.
    #[test]
    fn relink_equals_link(
        modules in proptest::collection::vec(proptest::array::uniform23(0u8..), 5),
        edits in proptest::collection::vec((0usize..6, 0usize..FEATURES, 0u8..), 1..4),
        added in proptest::array::uniform23(0u8..),
        removed in proptest::option::weighted(0.2, 0usize..5),
        rotated in proptest::option::weighted(0.2, 1usize..5),
    ) {
        let n = 6;
        let program = |modules: &[Option<[u8; FEATURES]>]| -> Vec<Arc<ModuleSummary>> {
            let files: Vec<(String, String)> = modules
                .iter()
                .enumerate()
                .filter_map(|(i, f)| Some((format!("m{i}.ex"), linked_module(i, n, f.as_ref()?))))
                .collect();
            let refs: Vec<(&str, &str)> =
                files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            summaries(&refs)
        };
        let mut before: Vec<Option<[u8; FEATURES]>> = modules.iter().copied().map(Some).collect();
        before.push(None);
        let mut after = before.clone();
        for &(i, feature, value) in &edits {
            after[i].get_or_insert(added)[feature] = value;
        }
        if let Some(r) = removed {
            after[r] = None;
        }
        let (old, new) = (program(&before), program(&after));
        // Unchanged files keep their summaries, as a coordinator's do.
        let mut new: Vec<Arc<ModuleSummary>> = new
            .into_iter()
            .map(|m| old.iter().find(|o| **o == m).cloned().unwrap_or(m))
            .collect();
        // Summaries in another order: a relink cannot take the kept calls
        // in the old graph's order.
        if let Some(by) = rotated {
            let len = new.len().max(1);
            new.rotate_left(by % len);
        }
        let full = CallGraph::link(&new, &[]);
        let relinked = CallGraph::link(&old, &[]).relink(&new, &[]);
        proptest::prop_assert_eq!(graph_contents(&relinked, n), graph_contents(&full, n));
        proptest::prop_assert_eq!(full.relink(&new, &[]).relinked(), 0);
        // What changed, as a relinked graph knows it, is what names say.
        let base = CallGraph::link(&old, &[]);
        let relinked = base.relink(&new, &[]);
        proptest::prop_assert_eq!(relinked.changes_since(&base), changes_by_name(&base, &relinked));
    }
}

/// One module in two files (a stub under test/support), the two swapped:
/// which is its source follows their order, so a relink must see the swap
/// as a change although each summary is the same.
#[test]
fn relink_sees_one_modules_summaries_swapped() {
    let worker = "defmodule Shared.Worker do\n  use GenServer\n  def start_link(a), do: GenServer.start_link(__MODULE__, a)\n  def handle_call(:ping, _from, s), do: {:reply, :ok, s}\nend\n";
    let stub = "defmodule Shared.Worker do\n  def start_link(_), do: :ignore\nend\n";
    let client = "defmodule Client do\n  def ping, do: GenServer.call(Shared.Worker, :ping)\nend\n";
    let old = summaries(&[
        ("lib/worker.ex", worker),
        ("test/support/worker.ex", stub),
        ("lib/client.ex", client),
    ]);
    let new = vec![old[1].clone(), old[0].clone(), old[2].clone()];
    let full = CallGraph::link(&new, &[]);
    let relinked = CallGraph::link(&old, &[]).relink(&new, &[]);
    assert_eq!(graph_contents(&relinked, 0), graph_contents(&full, 0));
    let module = |g: &CallGraph| {
        format!(
            "{:?} {:?}",
            g.behaviour_callbacks("Shared.Worker"),
            g.uses("Shared.Worker")
        )
    };
    assert_eq!(module(&relinked), module(&full));
}

/// A macro a module's body calls starts defining functions when its
/// module first quotes a `def` under that name: the calling module's
/// summary is the same, but what its body defines is not.
#[test]
fn relink_sees_a_macro_start_defining_functions() {
    let caller = "defmodule A do\n  require B\n  B.maker(:x)\n  def f(x), do: made0(x)\nend\n";
    let plain = "defmodule B do\n  def maker(_), do: :ok\nend\n";
    let making = "defmodule B do\n  defmacro maker(_) do\n    quote do\n      def made0(x), do: x\n    end\n  end\nend\n";
    let old = summaries(&[("a.ex", caller), ("b.ex", plain)]);
    let new: Vec<Arc<ModuleSummary>> = summaries(&[("a.ex", caller), ("b.ex", making)])
        .into_iter()
        .zip(&old)
        .map(|(n, o)| if n == *o { o.clone() } else { n })
        .collect();
    assert!(Arc::ptr_eq(&new[0], &old[0]), "A's summary is the same");
    let full = CallGraph::link(&new, &[]);
    let relinked = CallGraph::link(&old, &[]).relink(&new, &[]);
    assert_eq!(graph_contents(&relinked, 0), graph_contents(&full, 0));
    // The call now goes to the function the macro made in A.
    let f: Mfa = "A.f/1".parse().unwrap();
    let made = full
        .calls_from(full.id(&f).unwrap())
        .map(|c| full.mfa(c.callee).to_string())
        .collect::<Vec<_>>();
    assert_eq!(made, ["A.made0/1"]);
}

#[test]
fn relink_keeps_what_a_change_cannot_reach() {
    let files = [
        ("a.ex", "defmodule A do\n  def f(x), do: B.g(x)\nend\n"),
        ("b.ex", "defmodule B do\n  def g(x), do: x\nend\n"),
        ("c.ex", "defmodule C do\n  def h(x), do: x\nend\n"),
    ];
    let old = summaries(&files);
    let g = CallGraph::link(&old, &[]);
    assert_eq!(g.relinked(), 3);
    // File `i` rewritten; the others keep their summaries, as a
    // coordinator's do.
    let edit = |i: usize, src: &'static str| -> Vec<Arc<ModuleSummary>> {
        let mut edited = files;
        edited[i].1 = src;
        summaries(&edited)
            .into_iter()
            .zip(&old)
            .map(|(n, o)| if n == *o { o.clone() } else { n })
            .collect()
    };
    // A body changes: only A is relinked.
    let new = edit(0, "defmodule A do\n  def f(x), do: B.g(C.h(x))\nend\n");
    assert_eq!(g.relink(&new, &[]).relinked(), 1);
    // B's interface changes (g/1 gone): B and A, which calls it, are.
    let new = edit(1, "defmodule B do\n  def g2(x), do: x\nend\n");
    let relinked = g.relink(&new, &[]);
    assert_eq!(relinked.relinked(), 2);
    let f: Mfa = "A.f/1".parse().unwrap();
    let call = relinked
        .calls_from(relinked.id(&f).unwrap())
        .next()
        .unwrap();
    assert!(call.undefined, "A.f calls B.g/1, which B no longer defines");
}
