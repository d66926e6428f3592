//! Point queries walked in rounds over each partition's share of the graph
//! (as the storage nodes walk them) answer exactly what the snapshot's own
//! graph answers: every function of the example, every depth up to 4, and
//! several partition counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proto::assignment::PartitionId;
use proto::walks::HeldWalkTable;
use proto::{Mfa, Query};
use query::walks::{point_walk, Rounds};
use query::{compute, Snapshot};

/// The point queries the cluster tests ask too.
#[path = "../../cluster-tests/src/queries.rs"]
mod queries;
use queries::walks_from;

/// The answer to `query` made as a coordinator makes it with the nodes:
/// one round per depth, each function expanded by its partition's table.
fn in_rounds(
    snapshot: &Snapshot,
    tables: &BTreeMap<PartitionId, HeldWalkTable>,
    partitions: u32,
    query: &Query,
) -> Result<proto::Answer, proto::CpgError> {
    let walk = point_walk(snapshot, query).expect("a point query")?;
    let mut walks = Vec::new();
    for &direction in walk.directions() {
        let mut rounds = Rounds::new(&walk.function, walk.depth);
        while !rounds.frontier().is_empty() {
            let by_partition = rounds.frontier_by_partition(partitions);
            let mut next = Vec::new();
            for (p, functions) in by_partition {
                if let Some(t) = tables.get(&p) {
                    next.extend(t.expand(direction, &functions));
                }
            }
            rounds.advance(next);
        }
        walks.push(rounds.finish());
    }
    Ok(snapshot.answer_of(walk.result(snapshot, walks)))
}

#[test]
fn walks_in_rounds_over_partition_tables_equal_the_whole_graph_walks() {
    let shop = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop");
    let snapshot = codebase::embedded::build(&shop).unwrap().snapshot();
    let functions: Vec<Mfa> = snapshot
        .graph
        .functions
        .iter()
        .map(|f| f.mfa.clone())
        .collect();
    assert!(functions.len() > 50, "{}", functions.len());
    let mut compared = 0;
    for partitions in [1, 7, 64] {
        let tables: BTreeMap<PartitionId, HeldWalkTable> = snapshot
            .graph
            .walk_tables(partitions)
            .into_iter()
            .map(|(p, t)| (p, HeldWalkTable::new(t).unwrap()))
            .collect();
        for function in &functions {
            for depth in 1..=4 {
                for query in walks_from(function, depth) {
                    assert_eq!(
                        in_rounds(&snapshot, &tables, partitions, &query),
                        compute(&snapshot, &query),
                        "{query:?} with {partitions} partitions"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 1000);
    // Refusals are the same too.
    let nope = Mfa::new("Nope", "f", 0);
    for query in [
        Query::Callers {
            function: nope.clone(),
            depth: 2,
        },
        Query::Callees {
            function: functions[0].clone(),
            depth: 0,
        },
        Query::Impact {
            target: nope.to_string(),
            depth: 1,
        },
        Query::Impact {
            target: "not an/mfa".into(),
            depth: 1,
        },
    ] {
        let tables = BTreeMap::new();
        let got = in_rounds(&snapshot, &tables, 8, &query);
        assert!(got.is_err(), "{query:?}: {got:?}");
        assert_eq!(got, compute(&snapshot, &query), "{query:?}");
    }
    // A module's impact is not a function walk.
    let module = Query::Impact {
        target: "Shop.Pricing".into(),
        depth: 2,
    };
    assert!(point_walk(&snapshot, &module).is_none());
}
