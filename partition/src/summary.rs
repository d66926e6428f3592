//! Per-module summaries computed from a fragment: per function, the calls it
//! makes, which parameters reach which call arguments and the return value,
//! and its metrics (cyclomatic complexity from the CFG, lines, nesting).

use std::collections::{HashMap, HashSet};

use proto::{
    CallSummary, Check, ClauseShape, DepSummary, EdgeKind, FieldRead, FunctionMetrics,
    FunctionSummary, Label, ModuleDep, ModuleFragment, ModuleSummary, NodeKind, Origin, Shape,
};

/// Whether node `inner` lies inside node `outer` in the source (the
/// variables a `case`'s patterns bind, not the `w` of `w = case ...`).
fn within(frag: &ModuleFragment, outer: u32, inner: u32) -> bool {
    let (o, i) = (
        frag.nodes[outer as usize].span,
        frag.nodes[inner as usize].span,
    );
    (i.line, i.col) >= (o.line, o.col) && (i.line, i.col) <= (o.end_line, o.end_col)
}

/// No field: the whole value carries the origin.
const WHOLE: u32 = u32::MAX;

/// Whether a walk reaches `node` in state (`bits`, `field`) for the first
/// time (then marked): plain visits (no checks, the whole value) by this
/// walk's stamp, the others by (node, checks, field).
fn first_visit(
    seen: &mut [u32],
    stamp: u32,
    other_seen: &mut HashSet<(u32, u8, u32)>,
    node: u32,
    (bits, field): (u8, u32),
) -> bool {
    if bits == 0 && field == WHOLE {
        let fresh = seen[node as usize] != stamp;
        seen[node as usize] = stamp;
        fresh
    } else {
        other_seen.insert((node, bits, field))
    }
}

/// The state after reading the field `key` out of a value in state
/// (`bits`, `field`): the whole value's field is the whole of it (and the
/// atom-keyed `path` is marked [`Check::PATH_FIELD`]); of a value whose
/// only tainted field is known, the same field is the whole of it and any
/// other is clean (`None`).
fn read_field(frag: &ModuleFragment, (bits, field): (u8, u32), key: &str) -> Option<(u8, u32)> {
    if field == WHOLE {
        let path = if key == "path" { Check::PATH_FIELD } else { 0 };
        Some((bits | path, WHOLE))
    } else {
        (frag.str(field) == key).then_some((bits, WHOLE))
    }
}

/// The state a `Label::Bind` edge with index `idx` gives its variable: the
/// key it is bound under (`idx - 1`) is a field read; no key, the value as
/// it is.
fn bind_state(frag: &ModuleFragment, state: (u8, u32), idx: u16) -> Option<(u8, u32)> {
    match idx.checked_sub(1) {
        Some(key) => read_field(frag, state, frag.str(u32::from(key))),
        None => Some(state),
    }
}

/// Summarize one fragment.
pub fn summarize(frag: &ModuleFragment) -> ModuleSummary {
    let n = frag.nodes.len();
    // Forward adjacency of the CFG (out-degree) and DFG (edges), built once.
    let mut cfg_out = vec![0u32; n];
    let mut dfg_start = vec![0u32; n + 1];
    for e in &frag.edges {
        match e.kind {
            EdgeKind::Cfg => {
                if let Some(c) = cfg_out.get_mut(e.src as usize) {
                    *c += 1;
                }
            }
            EdgeKind::Dfg if (e.src as usize) < n => dfg_start[e.src as usize + 1] += 1,
            _ => {}
        }
    }
    for i in 0..n {
        dfg_start[i + 1] += dfg_start[i];
    }
    let mut fill = dfg_start.clone();
    let mut dfg = vec![(0u32, Label::None, 0u16); dfg_start[n] as usize];
    for e in frag
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Dfg && (e.src as usize) < n)
    {
        let slot = &mut fill[e.src as usize];
        dfg[*slot as usize] = (e.dst, e.label, e.index);
        *slot += 1;
    }

    let process = process_calls(frag);
    let mut arg_shapes = call_arg_shapes(frag);
    let lookups = key_lookups(frag);
    let mut seen = vec![0u32; n];
    let mut stamp = 0u32;
    let mut functions = Vec::with_capacity(frag.functions.len());
    for (fi, f) in frag.functions.iter().enumerate() {
        let mut metrics = FunctionMetrics {
            clauses: f.clauses.len() as u32,
            lines: f
                .span
                .end_line
                .saturating_sub(f.span.line)
                .saturating_add(1),
            nesting: f.nesting,
            ..FunctionMetrics::default()
        };
        // The function's calls, in order: frag call index → position.
        let own: Vec<usize> = (0..frag.calls.len())
            .filter(|&ci| frag.calls[ci].caller as usize == fi)
            .collect();
        let pos_of_node: HashMap<u32, u32> = own
            .iter()
            .enumerate()
            .map(|(pos, &ci)| (frag.calls[ci].node, pos as u32))
            .collect();
        let mut inputs: Vec<Vec<(Origin, u8)>> = vec![Vec::new(); own.len()];
        let mut checked: Vec<Vec<(Origin, u8, u8)>> = vec![Vec::new(); own.len()];
        let mut keyed: Vec<Vec<(Origin, u8, String)>> = vec![Vec::new(); own.len()];
        let mut returns: Vec<Origin> = Vec::new();
        let mut returns_checked: Vec<(Origin, u8)> = Vec::new();
        let mut fields: Vec<FieldRead> = Vec::new();
        let several = f.clauses.len() > 1;
        let mut clause_returns: Vec<(Origin, u16)> = Vec::new();
        for (ci, clause) in f.clauses.iter().enumerate() {
            let range = clause.node..clause.end.min(n as u32);
            metrics.nodes += range.len() as u32;
            // McCabe from the CFG: one plus the extra branches of every node.
            let extra: u32 = range
                .clone()
                .map(|i| cfg_out[i as usize].saturating_sub(1))
                .sum();
            metrics.cyclomatic += 1 + extra;
            for o in range.clone() {
                let node = &frag.nodes[o as usize];
                let field = node.kind == NodeKind::Operator
                    && frag.str(node.name).len() > 1
                    && frag.str(node.name).starts_with('.');
                let mut origin = match node.kind {
                    NodeKind::Parameter => Origin::Param(node.sub),
                    NodeKind::Call => match pos_of_node.get(&o) {
                        Some(&pos) => Origin::Call(pos),
                        None => continue,
                    },
                    _ if field => Origin::Field(u32::MAX),
                    _ => continue,
                };
                // Forward over DFG edges inside the clause, stopping at calls:
                // a call's result is an origin of its own, so that the
                // stitching step can decide what passes through the call.
                // The state carries the checks passed on the way (uses of a
                // variable under `if x in @allowed`, ...).
                stamp += 1;
                let mut other_seen: HashSet<(u32, u8, u32)> = HashSet::new();
                // The state: the checks passed on the way, and the one field
                // of a map that carries the origin (`%{name: x}`), if known.
                let mut stack = vec![(o, 0u8, WHOLE)];
                while let Some((x, bits, field)) = stack.pop() {
                    let (lo, hi) = (
                        dfg_start[x as usize] as usize,
                        dfg_start[x as usize + 1] as usize,
                    );
                    // A `case` on the stack came from a branch's value: its
                    // value goes on, not into the patterns' variables.
                    let from_case = frag.nodes[x as usize].kind == NodeKind::Case;
                    for &(dst, label, idx) in &dfg[lo..hi] {
                        if from_case && label == Label::Bind && within(frag, x, dst) {
                            continue;
                        }
                        // Data, not control: an `if`'s condition decides which
                        // branch's value it has but is not that value, and a
                        // `case` subject reaches only what its patterns bind.
                        if label == Label::None && dst != clause.exit {
                            match frag.nodes.get(dst as usize).map(|d| d.kind) {
                                Some(NodeKind::If | NodeKind::Unless) => continue,
                                Some(NodeKind::Case) => {
                                    // The variables its clauses' patterns
                                    // bind lie inside it (`w = case ...`
                                    // binds `w` from its value instead).
                                    let (blo, bhi) = (
                                        dfg_start[dst as usize] as usize,
                                        dfg_start[dst as usize + 1] as usize,
                                    );
                                    for &(var, l, key) in &dfg[blo..bhi] {
                                        if l != Label::Bind
                                            || !range.contains(&var)
                                            || !within(frag, dst, var)
                                        {
                                            continue;
                                        }
                                        let Some(state) = bind_state(frag, (bits, field), key)
                                        else {
                                            continue;
                                        };
                                        if first_visit(
                                            &mut seen,
                                            stamp,
                                            &mut other_seen,
                                            var,
                                            state,
                                        ) {
                                            stack.push((var, state.0, state.1));
                                        }
                                    }
                                    continue;
                                }
                                _ => {}
                            }
                        }
                        let bits = match label {
                            Label::Checked => bits | idx as u8,
                            _ => bits,
                        };
                        let hit = if dst == clause.exit && label == Label::Return {
                            Some(None)
                        } else if !range.contains(&dst) {
                            continue;
                        } else if frag.nodes[dst as usize].kind == NodeKind::Call {
                            match pos_of_node.get(&dst) {
                                // `m["y"]` of a map whose one tainted field
                                // is another: nothing of the origin's.
                                Some(_)
                                    if field != WHOLE
                                        && idx == 0
                                        && lookups
                                            .get(&dst)
                                            .is_some_and(|k| k != frag.str(field)) =>
                                {
                                    continue
                                }
                                Some(&pos) if matches!(label, Label::Arg | Label::Pipe) => {
                                    Some(Some((pos, idx.min(255) as u8)))
                                }
                                _ => continue,
                            }
                        } else {
                            None
                        };
                        if (hit.is_some() || label == Label::Key)
                            && origin == Origin::Field(u32::MAX)
                        {
                            origin = Origin::Field(fields.len() as u32);
                            fields.push(FieldRead {
                                field: frag.str(node.name)[1..].to_string(),
                                line: node.span.line,
                            });
                        }
                        if let Some(target) = hit {
                            // A map with one tainted field handed on is
                            // handed on whole: fields are told apart within
                            // a function, not across calls.
                            if target.is_none() && several {
                                clause_returns.push((origin, ci.min(u16::MAX as usize) as u16));
                            }
                            match (target, bits) {
                                (None, 0) => returns.push(origin),
                                (None, b) => returns_checked.push((origin, b)),
                                (Some((pos, arg)), 0) => inputs[pos as usize].push((origin, arg)),
                                (Some((pos, arg)), b) => {
                                    checked[pos as usize].push((origin, arg, b))
                                }
                            }
                            continue;
                        }
                        // A keyword's value into its list, the list an
                        // argument of a call: the value is that keyword.
                        if label == Label::Key {
                            let (klo, khi) = (
                                dfg_start[dst as usize] as usize,
                                dfg_start[dst as usize + 1] as usize,
                            );
                            for &(call, l, arg) in &dfg[klo..khi] {
                                if let (Some(&pos), Label::Arg | Label::Pipe) =
                                    (pos_of_node.get(&call), l)
                                {
                                    let key = frag.str(idx as u32).to_string();
                                    keyed[pos as usize].push((origin, arg.min(255) as u8, key));
                                }
                            }
                        }
                        let target = &frag.nodes[dst as usize];
                        let state = match (label, target.kind) {
                            // Into a map under a literal key: that field (one
                            // level; a field of a field is the whole value).
                            (Label::Key, _) if field == WHOLE => Some((bits, u32::from(idx))),
                            (Label::Key, _) => Some((bits, WHOLE)),
                            (Label::Bind, _) => bind_state(frag, (bits, field), idx),
                            (_, NodeKind::Operator) => {
                                let name = frag.str(target.name);
                                match name.strip_prefix('.').filter(|k| !k.is_empty()) {
                                    // `value.key`.
                                    Some(key) => read_field(frag, (bits, field), key),
                                    // What an operator makes of a value is
                                    // all of its own.
                                    None => Some((bits, WHOLE)),
                                }
                            }
                            (_, NodeKind::Container) => Some((bits, WHOLE)),
                            _ => Some((bits, field)),
                        };
                        let Some(state) = state else { continue };
                        if first_visit(&mut seen, stamp, &mut other_seen, dst, state) {
                            stack.push((dst, state.0, state.1));
                        }
                    }
                }
            }
        }
        if f.clauses.is_empty() {
            metrics.cyclomatic = 0;
        }
        returns.sort_unstable();
        returns.dedup();
        returns_checked.sort_unstable();
        returns_checked.dedup();
        returns_checked.retain(|(o, _)| !returns.contains(o));
        clause_returns.sort_unstable();
        clause_returns.dedup();
        let mut clauses: Vec<ClauseShape> = f
            .clauses
            .iter()
            .map(|c| ClauseShape {
                line: frag.nodes.get(c.node as usize).map_or(0, |n| n.span.line),
                params: clause_params(frag, c.node, c.end, f.arity),
            })
            .collect();
        if !several
            && clauses
                .iter()
                .all(|c| c.params.iter().all(|p| *p == Shape::Any))
        {
            clauses.clear();
        }
        let clause_of = |node: u32| {
            f.clauses
                .iter()
                .position(|c| (c.node..c.end).contains(&node))
                .unwrap_or(0)
                .min(u16::MAX as usize) as u16
        };
        let calls = own
            .iter()
            .zip(inputs)
            .zip(checked.into_iter().zip(keyed))
            .map(|((&ci, mut inputs), (mut checked, mut keyed))| {
                let c = &frag.calls[ci];
                let node = frag.nodes.get(c.node as usize);
                inputs.sort_unstable();
                inputs.dedup();
                checked.sort_unstable();
                checked.dedup();
                checked.retain(|(o, a, _)| inputs.binary_search(&(*o, *a)).is_err());
                keyed.sort_unstable();
                keyed.dedup();
                CallSummary {
                    module: c.module.map(|m| frag.str(m).to_string()),
                    name: frag.str(c.name).to_string(),
                    arity: c.arity,
                    kind: c.kind,
                    quoted: c.quoted,
                    candidates: c
                        .candidates
                        .iter()
                        .map(|m| frag.str(*m).to_string())
                        .collect(),
                    line: node.map(|n| n.span.line).unwrap_or(0),
                    column: node.map(|n| n.span.col as u32 + 1).unwrap_or(0),
                    inputs,
                    checked,
                    keyed,
                    targets: process.targets.get(&c.node).cloned().unwrap_or_default(),
                    clause: clause_of(c.node),
                    shapes: arg_shapes.remove(&c.node).unwrap_or_default(),
                }
            })
            .collect();
        functions.push(FunctionSummary {
            name: frag.str(f.name).to_string(),
            arity: f.arity,
            kind: f.kind,
            line: f.span.line,
            callback: f.callback,
            default_of: f.default_of,
            metrics,
            calls,
            fields,
            returns,
            returns_checked,
            deprecated: f.deprecated.clone(),
            clauses,
            clause_returns,
        });
    }
    ModuleSummary {
        name: frag.name.clone(),
        file: frag.file.clone(),
        kind: frag.kind,
        line: frag.span.line,
        deps: dep_summaries(frag, &frag.deps),
        functions,
        behaviours: frag
            .behaviours
            .iter()
            .map(|b| frag.str(*b).to_string())
            .collect(),
        implements: frag
            .implements
            .map(|(p, t)| (frag.str(p).to_string(), frag.str(t).to_string())),
        using: dep_summaries(frag, &frag.using),
        injections: frag.injections.clone(),
        use_args: frag.use_args.clone(),
        templates: frag.templates.clone(),
        registers: process.registers,
        callbacks: declared_callbacks(frag),
        nodes: frag.nodes.len() as u32,
        edges: (frag.edges.len() + frag.calls.len() + frag.deps.len()) as u32,
    }
}

/// A plain atom as written (`:ping`, `true`, `nil`): one that names itself
/// the same way wherever it is written. Quoted atoms are left out.
fn plain_atom(s: &str) -> bool {
    if matches!(s, "true" | "false" | "nil") {
        return true;
    }
    let Some(name) = s.strip_prefix(':') else {
        return false;
    };
    let body = name.trim_end_matches(['?', '!']);
    body.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@')
}

/// The shape of the value or pattern whose node is `v`: a plain atom, a
/// tuple (tagged when its first element, the next node inside it, is one).
fn shape_at(frag: &ModuleFragment, v: u32) -> Shape {
    let Some(node) = frag.nodes.get(v as usize) else {
        return Shape::Any;
    };
    let atom = |i: u32| {
        frag.nodes
            .get(i as usize)
            .filter(|n| n.kind == NodeKind::Literal && within(frag, v, i))
            .map(|n| frag.str(n.name))
            .filter(|s| plain_atom(s))
            .map(str::to_string)
    };
    match node.kind {
        NodeKind::Literal if frag.str(node.name).starts_with("~r") => Shape::Regex {
            anchored: crate::frontend::anchored_regex(frag.str(node.name)),
        },
        NodeKind::Literal => atom(v).map_or(Shape::Any, Shape::Atom),
        NodeKind::Container if frag.str(node.name) == "tuple" => Shape::Tuple(atom(v + 1)),
        _ => Shape::Any,
    }
}

/// The shapes of a clause's parameter patterns (nodes `start..end`): each
/// parameter's pattern starts at the node after it; `{:tag, x} = msg`
/// takes the left side's.
fn clause_params(frag: &ModuleFragment, start: u32, end: u32, arity: u16) -> Vec<Shape> {
    let mut params = vec![Shape::Any; arity as usize];
    let mut done = vec![false; arity as usize];
    for p in start..end.min(frag.nodes.len() as u32) {
        let node = &frag.nodes[p as usize];
        if node.kind != NodeKind::Parameter {
            continue;
        }
        let i = node.sub as usize;
        if i >= params.len() || done[i] {
            continue;
        }
        done[i] = true;
        let mut root = p + 1;
        if !within(frag, p, root) {
            continue;
        }
        if let Some(n) = frag.nodes.get(root as usize) {
            if n.kind == NodeKind::Operator && frag.str(n.name) == "=" {
                root += 1;
            }
        }
        if within(frag, p, root) {
            params[i] = shape_at(frag, root);
        }
        if done.iter().all(|d| *d) {
            break;
        }
    }
    params
}

/// Lookups of a literal key in a map or keyword list (`m["y"]`,
/// `Map.get(m, :y)`, `Keyword.fetch!(opts, :y)`): call node → the key, as
/// [`crate::frontend`] names fields (an atom by its name, a string with its
/// quotes).
fn key_lookups(frag: &ModuleFragment) -> HashMap<u32, String> {
    let lookup: HashSet<u32> = frag
        .calls
        .iter()
        .filter(|c| {
            matches!(
                (c.module.map(|m| frag.str(m)), frag.str(c.name)),
                (Some("Access"), "get") | (Some("Map" | "Keyword"), "get" | "fetch" | "fetch!")
            )
        })
        .map(|c| c.node)
        .collect();
    let mut out = HashMap::new();
    for e in &frag.edges {
        if e.kind != EdgeKind::Dfg
            || e.label != Label::Arg
            || e.index != 1
            || !lookup.contains(&e.dst)
        {
            continue;
        }
        let Some(node) = frag
            .nodes
            .get(e.src as usize)
            .filter(|n| n.kind == NodeKind::Literal)
        else {
            continue;
        };
        let text = frag.str(node.name);
        let key = if plain_atom(text) && text.starts_with(':') {
            Some(text[1..].to_string())
        } else if text.len() >= 2
            && text.starts_with('"')
            && text.ends_with('"')
            && !text.contains("#{")
            && !text[1..text.len() - 1].contains('"')
        {
            Some(text.to_string())
        } else {
            None
        };
        if let Some(k) = key {
            out.insert(e.dst, k);
        }
    }
    out
}

/// The known shapes of the arguments of the fragment's calls (by call node).
fn call_arg_shapes(frag: &ModuleFragment) -> HashMap<u32, Vec<(u8, Shape)>> {
    let nodes: HashSet<u32> = frag.calls.iter().map(|c| c.node).collect();
    let mut out: HashMap<u32, Vec<(u8, Shape)>> = HashMap::new();
    for e in &frag.edges {
        if e.kind != EdgeKind::Dfg
            || !matches!(e.label, Label::Arg | Label::Pipe)
            || !nodes.contains(&e.dst)
        {
            continue;
        }
        let shape = shape_at(frag, e.src);
        if shape != Shape::Any {
            out.entry(e.dst)
                .or_default()
                .push((e.index.min(255) as u8, shape));
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|(a, _)| *a);
        v.dedup_by_key(|(a, _)| *a);
    }
    out
}

fn dep_summaries(frag: &ModuleFragment, deps: &[ModuleDep]) -> Vec<DepSummary> {
    deps.iter()
        .map(|d| DepSummary {
            target: frag.str(d.target).to_string(),
            kind: d.kind,
            line: d.line,
        })
        .collect()
}

/// Whether a call hands work to another process, and which of its first
/// arguments name the target: `GenServer.call(Target, msg)`,
/// `send(:name, msg)`, `spawn(Module, :fun, args)`.
pub fn is_process_call(module: Option<&str>, name: &str, arity: u16) -> bool {
    matches!(
        (module.unwrap_or("Kernel"), name, arity),
        ("GenServer", "call", 2 | 3)
            | ("GenServer", "cast", 2)
            | ("Kernel", "send", 2)
            | ("Process", "send", 3)
            | ("Kernel", "spawn" | "spawn_link" | "spawn_monitor", 3)
            | ("Process", "spawn", 4)
            | ("Task", "async" | "start" | "start_link", 3)
    )
}

/// Whether a call applies a function chosen at run time:
/// `apply(Module, fun, args)` (its first two arguments, when literal, are
/// kept as the call's targets).
pub fn is_apply(module: Option<&str>, name: &str, arity: u16) -> bool {
    matches!(
        (module.unwrap_or("Kernel"), name, arity),
        ("Kernel" | ":erlang", "apply", 3)
    )
}

/// Literal targets of a module's process calls, and the names it registers.
#[derive(Default)]
struct ProcessInfo {
    /// Call node → literal module or atom names among its first two arguments.
    targets: HashMap<u32, Vec<String>>,
    registers: Vec<String>,
}

fn process_calls(frag: &ModuleFragment) -> ProcessInfo {
    let mut info = ProcessInfo::default();
    // Call node → (is a process call, is a registration).
    let mut interesting: HashMap<u32, (bool, bool)> = HashMap::new();
    for c in &frag.calls {
        let module = c.module.map(|m| frag.str(m));
        let (name, arity) = (frag.str(c.name), c.arity);
        let registration = matches!(
            (module, name, arity),
            (Some("GenServer" | "Agent"), "start_link" | "start", 3)
                | (Some("Process"), "register", 2)
        );
        let targeted = is_process_call(module, name, arity) || is_apply(module, name, arity);
        if targeted {
            info.targets.insert(c.node, vec![String::new(); 2]);
        }
        if targeted || registration {
            interesting.insert(c.node, (!registration, registration));
        }
    }
    if interesting.is_empty() {
        return info;
    }
    // A literal module or atom name; `self()` names the module itself.
    let literal = |i: u32| {
        let node = frag.nodes.get(i as usize)?;
        match node.kind {
            NodeKind::Literal => Some(frag.str(node.name)).filter(|s| is_name(s)),
            NodeKind::Call if frag.str(node.name) == "self" => Some(frag.name.as_str()),
            _ => None,
        }
    };
    // Options lists of start calls (their atoms are `name: :atom`).
    let mut options: HashMap<u32, u32> = HashMap::new();
    for e in frag
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Dfg && e.label == Label::Arg)
    {
        let Some(&(process, registration)) = interesting.get(&e.dst) else {
            continue;
        };
        let call = &frag.nodes[e.dst as usize];
        let register_call = frag.str(call.name) == "register";
        match (e.index, literal(e.src)) {
            (i @ (0 | 1), Some(name)) if process => {
                if let Some(slots) = info.targets.get_mut(&e.dst) {
                    slots[i as usize] = name.to_string();
                }
            }
            (1, Some(name)) if registration && register_call && name.starts_with(':') => {
                info.registers.push(name.to_string());
            }
            (2, None) if registration && !register_call => {
                options.insert(e.dst, e.src);
            }
            _ => {}
        }
    }
    // `GenServer.start_link(__MODULE__, arg, name: :atom)` registers :atom
    // for this module.
    let own = |call: u32| {
        frag.edges.iter().any(|e| {
            e.kind == EdgeKind::Dfg
                && e.dst == call
                && e.index == 0
                && literal(e.src) == Some(frag.name.as_str())
        })
    };
    let own_lists: Vec<u32> = options
        .iter()
        .filter(|(call, _)| own(**call))
        .map(|(_, list)| *list)
        .collect();
    for e in frag.edges.iter().filter(|e| {
        e.kind == EdgeKind::Dfg
            && e.label == Label::Key
            && frag.str(u32::from(e.index)) == "name"
            && own_lists.contains(&e.dst)
    }) {
        if let Some(name) = literal(e.src).filter(|n| n.starts_with(':')) {
            info.registers.push(name.to_string());
        }
    }
    info.registers.sort();
    info.registers.dedup();
    info
}

/// A module name (`Shop.Worker`) or an atom (`:worker`), not a string or number.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(':') => chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_'),
        Some(c) => {
            c.is_ascii_uppercase() && s.chars().all(|c| c.is_alphanumeric() || "._".contains(c))
        }
        None => false,
    }
}

/// The `name/arity` literals the front end puts under `@callback` and
/// `@macrocallback` attribute nodes.
fn declared_callbacks(frag: &ModuleFragment) -> Vec<(String, u16)> {
    let is_callback = |i: u32| {
        frag.nodes.get(i as usize).is_some_and(|n| {
            n.kind == NodeKind::Attribute
                && matches!(frag.str(n.name), "callback" | "macrocallback")
        })
    };
    let mut out: Vec<(String, u16)> = frag
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Ast && is_callback(e.src))
        .filter_map(|e| {
            let node = frag.nodes.get(e.dst as usize)?;
            let (name, arity) = frag.str(node.name).rsplit_once('/')?;
            Some((name.to_string(), arity.parse().ok()?))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
