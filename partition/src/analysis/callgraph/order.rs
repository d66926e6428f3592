//! The order of a graph's calls: files ranked by name, the calls linked
//! now sorted, a relink's kept calls merged in, and the candidate lists
//! numbered in the calls' order (so that a relinked graph equals a full
//! link of the same summaries).

use std::sync::Arc;

use proto::ModuleSummary;

use super::{CallEdge, CallGraph, Candidates, NO_CANDIDATES};

/// Per summary, its file's rank among the summaries' files by name.
pub(super) fn file_ranks(summaries: &[Arc<ModuleSummary>]) -> Vec<u32> {
    let mut names: Vec<&str> = summaries.iter().map(|m| m.file.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    summaries
        .iter()
        .map(|m| names.binary_search(&m.file.as_str()).unwrap_or(0) as u32)
        .collect()
}

/// `list` added to `table`, and its index there ([`NO_CANDIDATES`] for
/// none): what a call's `candidates` holds.
pub(super) fn listed_in(table: &mut Vec<Candidates>, list: Option<Candidates>) -> u32 {
    match list {
        None => NO_CANDIDATES,
        Some(list) => {
            table.push(list);
            (table.len() - 1) as u32
        }
    }
}

impl CallEdge {
    /// This call of graph `old` in another generation: its caller, callee
    /// and summary renumbered, its candidates (if any) added to the new
    /// generation's `candidates`.
    pub(super) fn moved(
        &self,
        caller: u32,
        callee: u32,
        summary: u32,
        old: &CallGraph,
        candidates: &mut Vec<Candidates>,
    ) -> CallEdge {
        CallEdge {
            caller,
            callee,
            summary,
            candidates: listed_in(candidates, old.candidates_of(self).cloned()),
            ..*self
        }
    }
}

/// The calls, their candidate lists numbered in the order of the calls
/// (`listed`: as they were numbered while the calls were gathered), so that
/// a relinked graph and a full link of the same summaries are equal.
pub(super) fn number_candidates(
    mut calls: Vec<CallEdge>,
    listed: Vec<Candidates>,
) -> (Vec<CallEdge>, Vec<Candidates>) {
    let mut numbered = Vec::with_capacity(listed.len());
    for c in calls.iter_mut().filter(|c| c.candidates != NO_CANDIDATES) {
        c.candidates = listed_in(&mut numbered, listed.get(c.candidates as usize).cloned());
    }
    (calls, numbered)
}

/// A relink's calls: the old graph's calls of the summaries kept
/// (`new_summary`: each old summary's new number, `u32::MAX` if not kept),
/// in the old graph's order and renumbered (`rank`: old function id → new),
/// merged with `linked`, the calls linked now sorted by [`sort_calls`]
/// (their candidates numbered in `listed`), and the candidate lists of
/// the calls numbered in their order.
/// The kept calls keep their order (their callers' ranks, their files' and
/// summaries' order are the same in both generations), and ties between
/// the two go by summary, as in a full link. Also the callers (old ids) of
/// the old calls not kept.
pub(super) fn merge_kept(
    old: &CallGraph,
    linked: Vec<CallEdge>,
    new_summary: &[u32],
    rank: &[u32],
    file_rank: &[u32],
    listed: &[Candidates],
) -> (Vec<CallEdge>, Vec<Candidates>, Vec<u32>) {
    let key = |c: &CallEdge| {
        let file = file_rank[c.summary as usize];
        (c.caller, file, c.line, c.column, c.callee, c.summary)
    };
    let mut out = Vec::with_capacity(old.calls.len() + linked.len());
    let mut numbered: Vec<Candidates> = Vec::new();
    let mut push = |mut e: CallEdge, list: Option<&Candidates>| {
        e.candidates = listed_in(&mut numbered, list.cloned());
        out.push(e);
    };
    let mut old_callers = Vec::new();
    let mut linked = linked.into_iter().peekable();
    for e in &old.calls {
        let summary = new_summary[e.summary as usize];
        if summary == u32::MAX {
            old_callers.push(e.caller);
            continue;
        }
        let kept = CallEdge {
            caller: rank[e.caller as usize],
            callee: rank[e.callee as usize],
            summary,
            ..*e
        };
        let before = key(&kept);
        while let Some(l) = linked.next_if(|l| key(l) < before) {
            push(l, listed.get(l.candidates as usize));
        }
        push(kept, old.candidates_of(e));
    }
    for l in linked {
        push(l, listed.get(l.candidates as usize));
    }
    (out, numbered, old_callers)
}

/// Calls in caller order (callers are numbered in name order), each
/// caller's sorted by (file, line, column, callee); where all of those are
/// equal, in the order they were linked. `blocks[i]..blocks[i + 1]` are
/// summary `i`'s calls, in linking order or, kept (`plan`), in the old
/// graph's order.
pub(super) fn sort_calls(
    mut calls: Vec<CallEdge>,
    file_rank: &[u32],
    plan: &[Option<u32>],
    blocks: &[u32],
) -> Vec<CallEdge> {
    let key = |c: &CallEdge| {
        let file = file_rank[c.summary as usize];
        (c.caller, file, c.line, c.column, c.callee)
    };
    // Each summary's calls sorted (stably: ties stay in linking order); a
    // kept summary's are, in the old graph's order, since ranks and files
    // keep their order.
    for (i, kept) in plan.iter().enumerate() {
        if kept.is_none() {
            calls[blocks[i] as usize..blocks[i + 1] as usize].sort_by_key(key);
        }
    }
    // Summaries in module order (as snapshots have them) leave the calls in
    // caller order but for a caller several summaries define: merged.
    if calls.windows(2).all(|w| w[0].caller <= w[1].caller) {
        let mut start = 0;
        while start < calls.len() {
            let (caller, summary) = (calls[start].caller, calls[start].summary);
            let end = start
                + calls[start..]
                    .iter()
                    .position(|c| c.caller != caller)
                    .unwrap_or(calls.len() - start);
            if calls[start..end].iter().any(|c| c.summary != summary) {
                calls[start..end].sort_by_key(key);
            }
            start = end;
        }
        return calls;
    }
    // Otherwise one stable sort of the whole (ties stay in the order
    // above), in place: it finds the runs the summaries already are.
    calls.sort_by_key(key);
    calls
}
