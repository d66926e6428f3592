//! The point queries tests ask of a function. One file, which the query
//! crate's tests include too (`#[path]`: query cannot depend on
//! cluster-tests).

use proto::{Mfa, Query};

/// The walks from `function`, `depth` calls away: its callers, its
/// callees and its impact, in that order.
pub fn walks_from(function: &Mfa, depth: u32) -> [Query; 3] {
    [
        Query::Callers {
            function: function.clone(),
            depth,
        },
        Query::Callees {
            function: function.clone(),
            depth,
        },
        Query::Impact {
            target: function.to_string(),
            depth,
        },
    ]
}
