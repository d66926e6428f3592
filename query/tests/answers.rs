//! Cached answers: an answer given from a snapshot's cache equals a fresh
//! one, and the point answers carried across a change equal fresh ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use proto::{Answer, CommunityAlgorithm, CpgError, GraphKind, Metric, Mfa, Query, QueryResult};
use query::{answer, compute, point_answers, still_holding, Snapshot};

#[test]
fn cached_answers_equal_fresh_ones() {
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let built = codebase::embedded::build(&shop).expect("the example builds");
    let snapshot = built.snapshot();
    let sink: Mfa = "String.to_atom/1".parse().expect("an mfa");
    let queries = [
        Query::Analyze { top: 5 },
        Query::CallGraph,
        Query::Callers {
            function: sink.clone(),
            depth: 4,
        },
        Query::Cycles,
        Query::Impact {
            target: "Shop.Pricing".into(),
            depth: 2,
        },
        Query::Centrality {
            graph: GraphKind::Functions,
            by: Metric::Betweenness,
            top: 5,
        },
        Query::Paths {
            from: "ShopWeb.ProductController.index/2".parse().expect("an mfa"),
            to: sink,
            max_depth: 5,
            max_paths: 5,
        },
        Query::Impact {
            target: "Nope".into(),
            depth: 1,
        },
        Query::Taint {
            rules: partition::analysis::default_taint_rules(),
        },
        Query::Smells {
            thresholds: proto::SmellThresholds::default(),
        },
        Query::Features,
        Query::ModuleGraph,
        Query::DeadCode { entries: vec![] },
        Query::Communities {
            algorithm: CommunityAlgorithm::Louvain,
        },
    ];
    // The process's peak memory is read when a report is computed.
    let same = |r: Result<Answer, CpgError>| {
        r.map(|mut a| {
            if let QueryResult::Analyze(report) = Arc::make_mut(&mut a.result) {
                report.peak_rss_bytes = None;
            }
            a
        })
    };
    for q in &queries {
        let first = answer(&snapshot, q);
        let again = answer(&snapshot, q);
        assert_eq!(first, again, "{q:?}");
        assert_eq!(same(first), same(compute(&snapshot, q)), "{q:?}");
    }
    let cached = snapshot.answers.lock().map(|a| a.len()).unwrap_or(0);
    assert_eq!(cached, queries.len(), "every answer is kept");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every point query about every function of the example, answered.
fn answered_point_queries(snapshot: &Snapshot) -> usize {
    let functions: Vec<Mfa> = snapshot.graph.defined().cloned().collect();
    let mut answered = 0;
    for f in &functions {
        for depth in [1, 3] {
            for q in [
                Query::Callers {
                    function: f.clone(),
                    depth,
                },
                Query::Callees {
                    function: f.clone(),
                    depth,
                },
                Query::Impact {
                    target: f.to_string(),
                    depth,
                },
            ] {
                answered += usize::from(answer(snapshot, &q).is_ok());
            }
        }
    }
    answered
}

/// After each edit, the point answers kept from before are exactly what
/// the changed code answers, and only answers the edit may touch go.
#[test]
fn point_answers_kept_across_a_change_equal_fresh_ones() {
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shop, dir.path());
    let lib = dir.path().join("lib/shop");
    let edit = |file: &str, from: &str, to: &str| {
        let path = lib.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} holds {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    type Edit<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let edits: [Edit; 4] = [
        (
            "a function calling Pricing.total/1 added",
            Box::new(|| {
                edit(
                    "pricing.ex",
                    "  @tax_rate 0.2\n",
                    "  @tax_rate 0.2\n\n  def quote(items), do: total(items)\n",
                )
            }),
        ),
        (
            "a call removed",
            Box::new(|| edit("pricing.ex", "sub - Discounts.discount_for(items)", "sub")),
        ),
        (
            "a lone module added",
            Box::new(|| {
                std::fs::write(
                    lib.join("lone.ex"),
                    "defmodule Shop.Lone do\n  def alone, do: :ok\nend\n",
                )
                .unwrap()
            }),
        ),
        (
            "the lone module removed",
            Box::new(|| std::fs::remove_file(lib.join("lone.ex")).unwrap()),
        ),
    ];
    let mut before = codebase::embedded::build(dir.path()).unwrap().snapshot();
    for (what, apply) in &edits {
        answered_point_queries(&before);
        // As many as the snapshot keeps.
        let asked = point_answers(&before).len();
        apply();
        let after = codebase::embedded::build(dir.path()).unwrap().snapshot();
        let kept = still_holding(point_answers(&before), &before.graph, &after.graph);
        for (q, (_, a)) in &kept {
            assert_eq!(a, &compute(&after, q), "{what}: {q:?}");
        }
        // Every answer the edit changed was dropped (the rest may be).
        let changed = point_answers(&before)
            .iter()
            .filter(|(q, (_, a))| a != &compute(&after, q))
            .count();
        assert!(
            kept.len() + changed <= asked,
            "{what}: {} kept, {changed} changed, {asked} asked",
            kept.len()
        );
        eprintln!(
            "{what}: {} kept, {changed} changed, {asked} asked",
            kept.len()
        );
        // And few that stayed right were dropped.
        assert!(
            kept.len() < asked && asked - kept.len() - changed <= asked / 10,
            "{what}: {} of {asked} kept, {changed} changed",
            kept.len()
        );
        before = after;
    }
}

/// A lifetime of zero (a coordinator's `--no-answer-cache`): every answer is
/// computed, none is kept, and each equals the cached path's answer.
#[test]
fn with_a_zero_lifetime_nothing_is_cached_and_answers_are_the_same() {
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let snapshot = codebase::embedded::build(&shop)
        .expect("the example builds")
        .snapshot();
    let query = Query::Callers {
        function: "String.to_atom/1".parse().expect("an mfa"),
        depth: 3,
    };
    let zero = std::time::Duration::ZERO;
    for _ in 0..2 {
        let (got, hit) = query::answer_counted(&snapshot, &query, zero);
        assert!(!hit, "nothing is answered from a cache");
        let want = compute(&snapshot, &query);
        assert_eq!(
            got.expect("an answer").result,
            want.expect("an answer").result
        );
    }
    assert_eq!(snapshot.cached_answers(), 0);
    let minute = std::time::Duration::from_secs(60);
    let (_, hit) = query::answer_counted(&snapshot, &query, minute);
    assert!(!hit);
    assert!(
        query::answer_counted(&snapshot, &query, minute).1,
        "kept with a lifetime"
    );
}

/// A function the snapshot does not hold is "not in the code" only when
/// every partition answered; with partitions missing it may be in one of
/// them, and the answer names them instead of guessing.
#[test]
fn a_function_not_found_while_partitions_are_missing_is_unavailable_not_absent() {
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let mut snapshot = codebase::embedded::build(&shop).unwrap().snapshot();
    let nowhere: Mfa = "Shop.Nowhere.f/1".parse().unwrap();
    let queries = [
        Query::Callers {
            function: nowhere.clone(),
            depth: 1,
        },
        Query::Callees {
            function: nowhere.clone(),
            depth: 1,
        },
        Query::Impact {
            target: nowhere.to_string(),
            depth: 1,
        },
        Query::Impact {
            target: "Shop.Nowhere".into(),
            depth: 1,
        },
    ];
    for q in &queries {
        assert!(
            matches!(compute(&snapshot, q), Err(CpgError::InvalidInput { .. })),
            "{q:?}"
        );
    }
    let missing = vec![proto::assignment::PartitionId(3)];
    snapshot.missing = missing.clone();
    for q in &queries {
        assert_eq!(
            compute(&snapshot, q).map(|_| ()),
            Err(CpgError::Unavailable {
                partitions: missing.clone()
            }),
            "{q:?}"
        );
    }
    // What is there is still answered.
    let known = Query::Callers {
        function: "Shop.Pricing.total/1".parse().unwrap(),
        depth: 1,
    };
    assert!(compute(&snapshot, &known).is_ok());
}
