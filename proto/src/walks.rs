//! Walks where the data is: each partition's share of a project's linked
//! call graph, which a coordinator sends to the partition's replicas so that
//! callers, callees and a function's impact are walked as rounds on the
//! storage nodes (docs/SCALING.md, "Node-side walks").
//!
//! A function belongs to the partition of its module (`partition_of`), so
//! the coordinator knows where to send each function of a walk's frontier
//! from its name alone.

use serde::{Deserialize, Serialize};

use crate::{CpgError, Mfa};

/// One partition's share of a linked call graph: for every function of a
/// module of the partition that calls or is called, its callers and its
/// callees (each once), as indexes into `names`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkTable {
    /// Every function the table names, each once.
    pub names: Vec<Mfa>,
    pub rows: Vec<WalkRow>,
}

/// A function's neighbours in the call graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkRow {
    pub function: u32,
    pub callers: Vec<u32>,
    pub callees: Vec<u32>,
}

/// Which way a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// To the functions that call the frontier.
    Callers,
    /// To the functions the frontier calls.
    Callees,
}

impl WalkTable {
    /// `InvalidInput` unless every index is within `names` and no function
    /// has two rows: checked before a node keeps a table it was sent.
    pub fn check(&self) -> Result<(), CpgError> {
        let n = self.names.len();
        let bad = |reason: String| Err(CpgError::InvalidInput { reason });
        let mut seen = vec![false; n];
        for (i, r) in self.rows.iter().enumerate() {
            let Some(s) = seen.get_mut(r.function as usize) else {
                return bad(format!(
                    "walk table row {i}: function {} of {n} names",
                    r.function
                ));
            };
            if std::mem::replace(s, true) {
                return bad(format!("walk table row {i}: function {} twice", r.function));
            }
            if let Some(x) = r
                .callers
                .iter()
                .chain(&r.callees)
                .find(|&&x| x as usize >= n)
            {
                return bad(format!("walk table row {i}: neighbour {x} of {n} names"));
            }
        }
        Ok(())
    }

    /// How many bytes it takes in memory, roughly (names and indexes).
    pub fn approximate_bytes(&self) -> usize {
        let names: usize = self
            .names
            .iter()
            .map(|m| m.module.len() + m.name.len() + 56)
            .sum();
        let rows: usize = self
            .rows
            .iter()
            .map(|r| 4 * (1 + r.callers.len() + r.callees.len()) + 48)
            .sum();
        names + rows
    }
}

/// A table as a node keeps it: checked, and indexed by function.
#[derive(Debug)]
pub struct HeldWalkTable {
    table: WalkTable,
    rows: std::collections::HashMap<Mfa, u32>,
}

impl HeldWalkTable {
    /// `table` checked ([`WalkTable::check`]) and indexed.
    pub fn new(table: WalkTable) -> Result<HeldWalkTable, CpgError> {
        table.check()?;
        let rows = table
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (table.names[r.function as usize].clone(), i as u32))
            .collect();
        Ok(HeldWalkTable { table, rows })
    }

    /// The neighbours of `functions` that way, each once, sorted. A
    /// function the table has no row for has none.
    pub fn expand(&self, direction: Direction, functions: &[Mfa]) -> Vec<Mfa> {
        let mut out = std::collections::BTreeSet::new();
        for f in functions {
            let Some(&row) = self.rows.get(f) else {
                continue;
            };
            let row = &self.table.rows[row as usize];
            let next = match direction {
                Direction::Callers => &row.callers,
                Direction::Callees => &row.callees,
            };
            out.extend(next.iter().map(|&i| &self.table.names[i as usize]));
        }
        out.into_iter().cloned().collect()
    }

    pub fn approximate_bytes(&self) -> usize {
        self.table.approximate_bytes() + self.rows.len() * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> WalkTable {
        WalkTable {
            names: vec![Mfa::new("A", "f", 0), Mfa::new("B", "g", 1)],
            rows: vec![WalkRow {
                function: 0,
                callers: vec![],
                callees: vec![1],
            }],
        }
    }

    #[test]
    fn a_table_with_indexes_outside_its_names_or_a_function_twice_is_refused() {
        assert_eq!(table().check(), Ok(()));
        let mut t = table();
        t.rows[0].callees.push(2);
        assert!(
            matches!(t.check(), Err(CpgError::InvalidInput { reason }) if reason.contains("neighbour 2 of 2"))
        );
        let mut t = table();
        t.rows[0].function = 9;
        assert!(
            matches!(t.check(), Err(CpgError::InvalidInput { reason }) if reason.contains("function 9 of 2"))
        );
        let mut t = table();
        t.rows.push(t.rows[0].clone());
        assert!(
            matches!(t.check(), Err(CpgError::InvalidInput { reason }) if reason.contains("twice"))
        );
        assert!(HeldWalkTable::new(t).is_err());
    }

    #[test]
    fn expanding_gives_each_neighbour_once_and_nothing_for_an_unknown_function() {
        let mut t = table();
        t.names.push(Mfa::new("C", "h", 2));
        t.rows.push(WalkRow {
            function: 2,
            callers: vec![],
            callees: vec![1],
        });
        t.rows[0].callers.push(2);
        let held = HeldWalkTable::new(t).expect("a good table");
        let (a, b, c) = (
            Mfa::new("A", "f", 0),
            Mfa::new("B", "g", 1),
            Mfa::new("C", "h", 2),
        );
        assert_eq!(
            held.expand(Direction::Callees, &[a.clone(), c.clone()]),
            vec![b.clone()]
        );
        assert_eq!(
            held.expand(Direction::Callers, std::slice::from_ref(&a)),
            vec![c]
        );
        assert_eq!(held.expand(Direction::Callers, &[b]), Vec::<Mfa>::new());
        assert_eq!(
            held.expand(Direction::Callees, &[Mfa::new("Z", "z", 0)]),
            Vec::<Mfa>::new()
        );
    }
}
