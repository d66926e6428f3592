//! The walk from a tree-sitter-elixir syntax tree to CPG fragments: one per
//! module, with AST, CFG and DFG edges, call sites resolved like the compiler
//! resolves them, and module dependencies.
//!
//! The walk is a single pass per module body, preceded by a pre-scan that
//! collects the module's own `name/arity` definitions (a call may come before
//! the definition it calls). Control flow is built while walking: `flow` holds
//! the pending edges into the next evaluated node.

use std::collections::{HashMap, HashSet};

use proto::{
    CallKind, CallSite, ClauseDef, DepKind, Edge, EdgeKind, FunKind, FunctionDef, Label, ModuleDep,
    ModuleFragment, ModuleKind, Node, NodeKind, Span, StrId,
};
use tree_sitter::Node as Ts;

use super::env::{BareCall, Env, Import, ImportFilter};
use super::kernel;

/// Caller index used while walking module-body code; replaced by the index of
/// the `__module__/0` pseudo-function when the module is finished.
const MODULE_BODY: u32 = u32::MAX;

/// A pending CFG edge: (source node, label, index).
type Pending = (u32, Label, u16);

/// Attributes whose value is a typespec or documentation, not code.
const NON_CODE_ATTRIBUTES: &[&str] = &[
    "spec",
    "type",
    "typep",
    "opaque",
    "callback",
    "macrocallback",
    "doc",
    "moduledoc",
    "typedoc",
    "impl",
    "behaviour",
    "optional_callbacks",
    "derive",
    "deprecated",
    "since",
    "dialyzer",
    "compile",
    "external_resource",
    "on_load",
    "vsn",
    "after_compile",
    "before_compile",
    "on_definition",
    "enforce_keys",
    "fallback_to_any",
    "protocol",
];

/// Named children without comments.
fn kids(n: Ts) -> Vec<Ts> {
    let mut cursor = n.walk();
    n.named_children(&mut cursor)
        .filter(|c| c.kind() != "comment")
        .collect()
}

/// The operator of a `binary_operator` or `unary_operator` node.
fn operator<'s>(n: Ts, src: &'s str) -> &'s str {
    n.child_by_field_name("operator")
        .map(|o| &src[o.byte_range()])
        .unwrap_or("")
}

fn span(n: Ts) -> Span {
    let (s, e) = (n.start_position(), n.end_position());
    Span {
        line: s.row as u32 + 1,
        end_line: e.row as u32 + 1,
        col: s.column.min(u16::MAX as usize) as u16,
        end_col: e.column.min(u16::MAX as usize) as u16,
    }
}

/// The parts of a special form's call: positional arguments, other keyword
/// options, and the `do`/`else`/`after`/`rescue`/`catch` blocks from either a
/// `do ... end` block or the keyword form (`do: x, else: y`).
#[derive(Default)]
struct Parts<'t> {
    args: Vec<Ts<'t>>,
    opts: Vec<(String, Ts<'t>)>,
    do_: Option<Vec<Ts<'t>>>,
    else_: Option<Vec<Ts<'t>>>,
    after: Option<Vec<Ts<'t>>>,
    rescue: Option<Vec<Ts<'t>>>,
    catch: Option<Vec<Ts<'t>>>,
}

impl<'t> Parts<'t> {
    fn of(call: Ts<'t>, src: &str) -> Parts<'t> {
        let mut parts = Parts::default();
        for child in kids(call) {
            match child.kind() {
                "arguments" => {
                    let args = kids(child);
                    for (i, arg) in args.iter().enumerate() {
                        if arg.kind() == "keywords" && i + 1 == args.len() {
                            for pair in kids(*arg) {
                                let (Some(k), Some(v)) = (
                                    pair.child_by_field_name("key"),
                                    pair.child_by_field_name("value"),
                                ) else {
                                    continue;
                                };
                                let key = src[k.byte_range()].trim().trim_end_matches(':');
                                let items = || block_items(v);
                                match key {
                                    "do" => parts.do_ = Some(items()),
                                    "else" => parts.else_ = Some(items()),
                                    "after" => parts.after = Some(items()),
                                    "rescue" => parts.rescue = Some(items()),
                                    "catch" => parts.catch = Some(items()),
                                    _ => parts.opts.push((key.to_string(), v)),
                                }
                            }
                        } else {
                            parts.args.push(*arg);
                        }
                    }
                }
                "do_block" => {
                    let mut do_items = Vec::new();
                    for item in kids(child) {
                        match item.kind() {
                            "else_block" => parts.else_ = Some(kids(item)),
                            "after_block" => parts.after = Some(kids(item)),
                            "rescue_block" => parts.rescue = Some(kids(item)),
                            "catch_block" => parts.catch = Some(kids(item)),
                            _ => do_items.push(item),
                        }
                    }
                    parts.do_ = Some(do_items);
                }
                _ => {}
            }
        }
        parts
    }
}

/// The items of a keyword block value: `(a; b)` or `(x -> y)` unwrap to their
/// children, anything else is a single item.
fn block_items(v: Ts) -> Vec<Ts> {
    if v.kind() == "block" {
        kids(v)
    } else {
        vec![v]
    }
}

/// A `try` with handlers: exception flow out of `raise`/`throw` in its body
/// waits here until the handler clauses exist.
#[derive(Default)]
struct Handler {
    raises: Vec<Pending>,
}

/// State of the function clause being walked.
struct FnCtx {
    fun: u32,
    exit: u32,
    flow: Vec<Pending>,
    handlers: Vec<Handler>,
    depth: u32,
    max_depth: u32,
}

/// The module being built.
struct ModCtx {
    name: String,
    kind: ModuleKind,
    span: Span,
    strings: Vec<String>,
    string_ids: HashMap<String, StrId>,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    calls: Vec<CallSite>,
    functions: Vec<FunctionDef>,
    fn_index: HashMap<(String, u16), u32>,
    /// Nesting depth per function (parallel to `functions`).
    nesting: Vec<u32>,
    deps: Vec<ModuleDep>,
    behaviours: Vec<StrId>,
    implements: Option<(StrId, StrId)>,
    /// `name/arity` defined in this module (pre-scanned).
    locals: HashSet<(String, u16)>,
    env: Env,
    f: Option<FnCtx>,
    /// `@impl` seen: the next definition is a callback.
    pending_impl: bool,
    quote_depth: u32,
    /// Inside `defmacro __using__` or ExUnit's `using` block.
    in_using: u32,
    using: Vec<ModuleDep>,
}

impl ModCtx {
    fn new(name: String, kind: ModuleKind, env: Env, ts: Ts) -> ModCtx {
        let mut m = ModCtx {
            name,
            kind,
            span: span(ts),
            strings: Vec::new(),
            string_ids: HashMap::new(),
            nodes: Vec::new(),
            edges: Vec::new(),
            calls: Vec::new(),
            functions: Vec::new(),
            fn_index: HashMap::new(),
            nesting: Vec::new(),
            deps: Vec::new(),
            behaviours: Vec::new(),
            implements: None,
            locals: HashSet::new(),
            env,
            f: None,
            pending_impl: false,
            quote_depth: 0,
            in_using: 0,
            using: Vec::new(),
        };
        let name = m.intern(&m.name.clone());
        m.nodes.push(Node {
            kind: NodeKind::Module,
            sub: kind as u8,
            name,
            span: m.span,
        });
        m
    }

    fn intern(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as StrId;
        self.strings.push(s.to_string());
        self.string_ids.insert(s.to_string(), id);
        id
    }

    fn finish(mut self, file: &str) -> ModuleFragment {
        // Calls made by module-body code belong to the `__module__/0` pseudo-function.
        if self.calls.iter().any(|c| c.caller == MODULE_BODY) {
            let name = self.intern("__module__");
            let idx = self.functions.len() as u32;
            let node = self.nodes.len() as u32;
            self.nodes.push(Node {
                kind: NodeKind::Function,
                sub: FunKind::ModuleBody as u8,
                name,
                span: self.span,
            });
            self.edges.push(Edge {
                src: 0,
                dst: node,
                kind: EdgeKind::Ast,
                label: Label::None,
                index: 0,
            });
            self.functions.push(FunctionDef {
                name,
                arity: 0,
                kind: FunKind::ModuleBody,
                node,
                clauses: Vec::new(),
                callback: false,
                default_of: None,
                nesting: 0,
                span: self.span,
            });
            for c in &mut self.calls {
                if c.caller == MODULE_BODY {
                    c.caller = idx;
                }
            }
        }
        for (f, depth) in self.functions.iter_mut().zip(&self.nesting) {
            f.nesting = *depth;
        }
        let behaviours = dedup(self.behaviours);
        ModuleFragment {
            name: self.name,
            file: file.to_string(),
            kind: self.kind,
            span: self.span,
            strings: self.strings,
            nodes: self.nodes,
            edges: self.edges,
            calls: self.calls,
            functions: self.functions,
            deps: self.deps,
            behaviours,
            implements: self.implements,
            using: self.using,
        }
    }
}

fn dedup(mut v: Vec<StrId>) -> Vec<StrId> {
    let mut seen = HashSet::new();
    v.retain(|x| seen.insert(*x));
    v
}

/// Walks one file.
pub(crate) struct FileBuilder<'s> {
    src: &'s str,
    file: &'s str,
    out: Vec<ModuleFragment>,
    m: ModCtx,
    /// Current expression nesting: the walk is recursive, so it stops at
    /// [`MAX_NESTING`] instead of overflowing the stack on hostile input.
    depth: u32,
    /// Where nesting first went past the limit.
    too_deep: Option<Span>,
}

/// Deepest expression nesting the walk descends into. Real code stays far
/// below (the Elixir standard library never reaches it); generated or hostile
/// input beyond it is summarized by one placeholder node and a diagnostic.
pub(crate) const MAX_NESTING: u32 = 150;

impl<'s> FileBuilder<'s> {
    /// The fragments of one file, and where nesting went too deep (if it did).
    pub(crate) fn build(
        src: &'s str,
        file: &'s str,
        root: Ts,
    ) -> (Vec<ModuleFragment>, Option<Span>) {
        let script = ModCtx::new(file.to_string(), ModuleKind::Script, Env::default(), root);
        let mut b = FileBuilder {
            src,
            file,
            out: Vec::new(),
            m: script,
            depth: 0,
            too_deep: None,
        };
        let items = kids(root);
        b.m.locals = b.prescan(&items);
        let module_node = 0;
        b.body(&items, module_node);
        let script = b.m;
        // A script fragment only when top-level code did something besides
        // defining modules.
        let defines_only = |n: &Node| {
            n.kind == NodeKind::Directive
                && matches!(
                    script.strings[n.name as usize].as_str(),
                    "defmodule" | "defprotocol" | "defimpl"
                )
        };
        if script.nodes.iter().skip(1).any(|n| !defines_only(n)) {
            let frag = script.finish(file);
            b.out.insert(0, frag);
        }
        (b.out, b.too_deep)
    }

    /// The placeholder for an expression nested too deeply to walk.
    fn too_deep(&mut self, ts: Ts, parent: u32) -> u32 {
        self.too_deep.get_or_insert(span(ts));
        self.add(NodeKind::Literal, 0, "...", ts, parent)
    }

    fn text(&self, n: Ts) -> &'s str {
        &self.src[n.byte_range()]
    }

    // ---- node and edge helpers ----

    fn add(&mut self, kind: NodeKind, sub: u8, name: &str, ts: Ts, parent: u32) -> u32 {
        let name = self.m.intern(name);
        self.add_id(kind, sub, name, span(ts), parent)
    }

    fn add_id(&mut self, kind: NodeKind, sub: u8, name: StrId, span: Span, parent: u32) -> u32 {
        let id = self.m.nodes.len() as u32;
        self.m.nodes.push(Node {
            kind,
            sub,
            name,
            span,
        });
        self.edge(EdgeKind::Ast, parent, id, Label::None, 0);
        id
    }

    fn edge(&mut self, kind: EdgeKind, src: u32, dst: u32, label: Label, index: u16) {
        self.m.edges.push(Edge {
            src,
            dst,
            kind,
            label,
            index,
        });
    }

    fn dfg(&mut self, src: u32, dst: u32, label: Label, index: u16) {
        self.edge(EdgeKind::Dfg, src, dst, label, index);
    }

    /// Connect the pending flow into `n`, which becomes the only pending source.
    fn step(&mut self, n: u32) {
        let Some(f) = &mut self.m.f else { return };
        for (s, l, i) in f.flow.drain(..) {
            self.m.edges.push(Edge {
                src: s,
                dst: n,
                kind: EdgeKind::Cfg,
                label: l,
                index: i,
            });
        }
        f.flow.push((n, Label::None, 0));
    }

    fn take_flow(&mut self) -> Vec<Pending> {
        self.m
            .f
            .as_mut()
            .map(|f| std::mem::take(&mut f.flow))
            .unwrap_or_default()
    }

    fn set_flow(&mut self, flow: Vec<Pending>) {
        if let Some(f) = &mut self.m.f {
            f.flow = flow;
        }
    }

    fn relabel(flow: &[Pending], label: Label, index: u16) -> Vec<Pending> {
        flow.iter().map(|&(s, _, _)| (s, label, index)).collect()
    }

    fn enter_control(&mut self) {
        if let Some(f) = &mut self.m.f {
            f.depth += 1;
            f.max_depth = f.max_depth.max(f.depth);
        }
    }

    fn leave_control(&mut self) {
        if let Some(f) = &mut self.m.f {
            f.depth = f.depth.saturating_sub(1);
        }
    }

    fn dep(&mut self, target: &str, kind: DepKind, line: u32) {
        if target == self.m.name || target.is_empty() {
            return;
        }
        let target = self.m.intern(target);
        if !self
            .m
            .deps
            .iter()
            .any(|d| d.target == target && d.kind == kind)
        {
            self.m.deps.push(ModuleDep { target, kind, line });
        }
    }

    // ---- pre-scan ----

    /// `name/arity` of every definition in a module body (not descending into
    /// nested modules, function bodies or quotes).
    fn prescan(&self, items: &[Ts]) -> HashSet<(String, u16)> {
        let mut out = HashSet::new();
        self.prescan_into(items, &mut out, 0);
        out
    }

    fn prescan_into(&self, items: &[Ts], out: &mut HashSet<(String, u16)>, depth: u32) {
        if depth >= MAX_NESTING {
            return;
        }
        for &item in items {
            match item.kind() {
                "call" => {
                    let Some(target) = item.child_by_field_name("target") else {
                        continue;
                    };
                    let name = self.text(target);
                    match name {
                        "def" | "defp" | "defmacro" | "defmacrop" | "defguard" | "defguardp"
                        | "defdelegate" => {
                            if let Some(head) = Parts::of(item, self.src).args.first() {
                                if let Some((fname, params, _)) = self.head(*head) {
                                    let defaults = self.defaults(&params);
                                    let n = params.len() as u16;
                                    for a in n - defaults..=n {
                                        out.insert((fname.to_string(), a));
                                    }
                                }
                            }
                        }
                        "defstruct" | "defexception" => {
                            out.insert(("__struct__".into(), 0));
                            out.insert(("__struct__".into(), 1));
                            if name == "defexception" {
                                out.insert(("exception".into(), 1));
                                out.insert(("message".into(), 1));
                            }
                        }
                        "defmodule" | "defprotocol" | "defimpl" | "quote" => {}
                        _ if self.record_name(item).is_some() => {
                            if let Some((rec, _)) = self.record_name(item) {
                                for a in 0..=2 {
                                    out.insert((rec.clone(), a));
                                }
                            }
                        }
                        _ => {
                            // Definitions under module-level `if`, `for`, `unless`...
                            for child in kids(item) {
                                if matches!(child.kind(), "do_block" | "else_block") {
                                    self.prescan_into(&kids(child), out, depth + 1);
                                }
                            }
                        }
                    }
                }
                "block" => self.prescan_into(&kids(item), out, depth + 1),
                _ => {}
            }
        }
    }

    /// `defrecord :name, ...` (bare or `Record.`): the record's name and
    /// whether its macros are private.
    fn record_name(&self, call: Ts) -> Option<(String, bool)> {
        let target = self.text(call.child_by_field_name("target")?);
        let private = match target {
            "defrecord" | "Record.defrecord" => false,
            "defrecordp" | "Record.defrecordp" => true,
            _ => return None,
        };
        let (args, _) = Self::call_args(call);
        let first = args.first().filter(|a| a.kind() == "atom")?;
        Some((
            self.text(*first).trim_start_matches(':').to_string(),
            private,
        ))
    }

    /// A definition head: `(name, parameters, guard)`.
    fn head(&self, head: Ts<'s>) -> Option<(&'s str, Vec<Ts<'s>>, Option<Ts<'s>>)> {
        let (head, guard) =
            if head.kind() == "binary_operator" && operator(head, self.src) == "when" {
                (
                    head.child_by_field_name("left")?,
                    head.child_by_field_name("right"),
                )
            } else {
                (head, None)
            };
        match head.kind() {
            "call" => {
                let target = head.child_by_field_name("target")?;
                let name = self.text(target);
                let params = kids(head).into_iter().find(|c| c.kind() == "arguments");
                Some((name, params.map(kids).unwrap_or_default(), guard))
            }
            "identifier" => Some((self.text(head), Vec::new(), guard)),
            "binary_operator" => {
                let op = operator(head, self.src);
                let params = [
                    head.child_by_field_name("left"),
                    head.child_by_field_name("right"),
                ];
                Some((op, params.into_iter().flatten().collect(), guard))
            }
            "unary_operator" => {
                let op = operator(head, self.src);
                Some((
                    op,
                    head.child_by_field_name("operand").into_iter().collect(),
                    guard,
                ))
            }
            _ => None,
        }
    }

    fn defaults(&self, params: &[Ts]) -> u16 {
        params
            .iter()
            .filter(|p| p.kind() == "binary_operator" && operator(**p, self.src) == "\\\\")
            .count() as u16
    }

    // ---- modules ----

    /// Evaluate a module name expression: alias, Erlang atom, `__MODULE__`,
    /// `__MODULE__.Sub`.
    fn module_of(&self, n: Ts) -> Option<String> {
        match n.kind() {
            "alias" => {
                let text: String = self
                    .text(n)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                Some(self.m.env.expand_alias(&text))
            }
            "atom" => {
                let t = self.text(n);
                Some(t.to_string())
            }
            "quoted_atom" => {
                let t = self.text(n).trim_start_matches(':').trim_matches('"');
                Some(match t.strip_prefix("Elixir.") {
                    Some(rest) => rest.to_string(),
                    None => format!(":{t}"),
                })
            }
            "identifier" if self.text(n) == "__MODULE__" => Some(self.m.name.clone()),
            "dot" => {
                // `__MODULE__.A.B`: collect the aliases on the right going down
                // the left spine (iteratively: the spine can be long).
                let mut segments = Vec::new();
                let mut cur = n;
                while cur.kind() == "dot" {
                    let right = cur.child_by_field_name("right")?;
                    if right.kind() != "alias" {
                        return None;
                    }
                    segments.push(self.text(right));
                    cur = cur.child_by_field_name("left")?;
                }
                if cur.kind() == "dot" {
                    return None;
                }
                let mut name = self.module_of(cur)?;
                for seg in segments.iter().rev() {
                    name.push('.');
                    name.push_str(seg);
                }
                Some(name)
            }
            _ => None,
        }
    }

    fn defmodule(&mut self, call: Ts, parent: u32, kind: &str) -> u32 {
        self.defmodule_with(call, parent, kind, None)
    }

    /// `recovered`: the body, when a syntax error elsewhere in the module made
    /// tree-sitter put `do ... end` into an error node after the call.
    fn defmodule_with(
        &mut self,
        call: Ts,
        parent: u32,
        kind: &str,
        recovered: Option<Vec<Ts>>,
    ) -> u32 {
        let mut parts = Parts::of(call, self.src);
        if parts.do_.is_none() {
            parts.do_ = recovered;
        }
        let Some(first) = parts.args.first().copied() else {
            return self.generic_call(call, parent, None);
        };
        let line = span(call).line;
        let names: Vec<(String, Option<(String, String)>)> = match kind {
            "defimpl" => {
                let Some(proto) = self.module_of(first) else {
                    return self.generic_call(call, parent, None);
                };
                let targets: Vec<String> = match parts.opts.iter().find(|(k, _)| k == "for") {
                    Some((_, v)) if v.kind() == "list" => kids(*v)
                        .into_iter()
                        .filter_map(|t| self.module_of(t))
                        .collect(),
                    Some((_, v)) => self.module_of(*v).into_iter().collect(),
                    None if self.m.kind != ModuleKind::Script => vec![self.m.name.clone()],
                    None => Vec::new(),
                };
                targets
                    .into_iter()
                    .map(|t| (format!("{proto}.{t}"), Some((proto.clone(), t))))
                    .collect()
            }
            _ => {
                let raw = match first.kind() {
                    "alias" => self
                        .text(first)
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect(),
                    _ => match self.module_of(first) {
                        Some(name) => name,
                        None => return self.generic_call(call, parent, None),
                    },
                };
                // Nesting: `defmodule Inner` inside `Outer` is `Outer.Inner`, and
                // `Inner` becomes an alias in `Outer`.
                let full = if first.kind() == "alias" && self.m.kind != ModuleKind::Script {
                    format!("{}.{raw}", self.m.name)
                } else if first.kind() == "alias" {
                    self.m.env.expand_alias(&raw)
                } else {
                    raw.clone()
                };
                if first.kind() == "alias" && self.m.kind != ModuleKind::Script {
                    let short = raw.split('.').next().unwrap_or(&raw).to_string();
                    let target = format!("{}.{short}", self.m.name);
                    self.m.env.aliases.insert(short, target);
                }
                vec![(full, None)]
            }
        };
        let mkind = match kind {
            "defprotocol" => ModuleKind::Protocol,
            "defimpl" => ModuleKind::Impl,
            _ => ModuleKind::Module,
        };
        let node = self.add(NodeKind::Directive, 0, kind, call, parent);
        self.step(node);
        for (name, implements) in names {
            let mut env = self.m.env.clone();
            env.vars.clear();
            let inner = ModCtx::new(name, mkind, env, call);
            let outer = std::mem::replace(&mut self.m, inner);
            if let Some(items) = &parts.do_ {
                self.m.locals = self.prescan(items);
                if mkind == ModuleKind::Protocol {
                    for (n, a) in [("__protocol__", 1), ("impl_for", 1), ("impl_for!", 1)] {
                        self.generated_function(n, a, call);
                    }
                }
                if let Some((p, t)) = &implements {
                    let (pi, ti) = (self.m.intern(p), self.m.intern(t));
                    self.m.implements = Some((pi, ti));
                    self.dep(p, DepKind::Impl, line);
                    self.dep(t, DepKind::ImplFor, line);
                    self.m.behaviours.push(pi);
                }
                let items = items.clone();
                self.body(&items, 0);
            }
            let inner = std::mem::replace(&mut self.m, outer);
            let frag = inner.finish(self.file);
            self.out.push(frag);
        }
        node
    }

    fn generated_function(&mut self, name: &str, arity: u16, ts: Ts) {
        self.function(name, arity, FunKind::Generated, ts);
    }

    /// The Function node for `name/arity`, created on first sight.
    fn function(&mut self, name: &str, arity: u16, kind: FunKind, ts: Ts) -> u32 {
        if let Some(&idx) = self.m.fn_index.get(&(name.to_string(), arity)) {
            return idx;
        }
        let sp = span(ts);
        let node = self.add(NodeKind::Function, kind as u8, name, ts, 0);
        let name_id = self.m.nodes[node as usize].name;
        let idx = self.m.functions.len() as u32;
        self.m.functions.push(FunctionDef {
            name: name_id,
            arity,
            kind,
            node,
            clauses: Vec::new(),
            callback: false,
            default_of: None,
            nesting: 0,
            span: sp,
        });
        self.m.nesting.push(0);
        self.m.fn_index.insert((name.to_string(), arity), idx);
        idx
    }

    // ---- definitions ----

    fn def(&mut self, call: Ts, parent: u32, macro_name: &str) -> u32 {
        let kind = match macro_name {
            "def" => FunKind::Def,
            "defp" => FunKind::Defp,
            "defmacro" => FunKind::Defmacro,
            "defmacrop" => FunKind::Defmacrop,
            "defguard" => FunKind::Defguard,
            "defguardp" => FunKind::Defguardp,
            _ => FunKind::Defdelegate,
        };
        let parts = Parts::of(call, self.src);
        let Some((name, params, guard)) = parts.args.first().and_then(|h| self.head(*h)) else {
            return self.generic_call(call, parent, None);
        };
        let kind =
            if parts.do_.is_none() && self.m.kind == ModuleKind::Protocol && kind == FunKind::Def {
                FunKind::ProtocolFn
            } else {
                kind
            };
        let arity = params.len() as u16;
        let defaults = self.defaults(&params);
        let idx = self.function(name, arity, kind, call);
        if std::mem::take(&mut self.m.pending_impl) {
            self.m.functions[idx as usize].callback = true;
        }
        // Default arguments create the lower arities, each calling the full one.
        for a in arity - defaults..arity {
            if self.m.fn_index.contains_key(&(name.to_string(), a)) {
                continue;
            }
            let low = self.function(name, a, kind, call);
            self.m.functions[low as usize].default_of = Some(arity);
            let fnode = self.m.functions[low as usize].node;
            let call_node = self.add(NodeKind::Call, CallKind::Local as u8, name, call, fnode);
            let (module, name_id) = (self.m.intern(&self.m.name.clone()), self.m.intern(name));
            self.m.calls.push(CallSite {
                node: call_node,
                caller: low,
                module: Some(module),
                name: name_id,
                arity,
                kind: CallKind::Local,
                quoted: false,
                candidates: Vec::new(),
            });
        }
        let fnode = self.m.functions[idx as usize].node;
        if kind == FunKind::Defdelegate {
            self.delegate(call, &parts, name, arity, idx, fnode);
            return fnode;
        }
        let Some(body) = parts.do_.clone() else {
            return fnode;
        };
        self.clause(call, idx, fnode, &params, guard, &body, &parts);
        fnode
    }

    fn delegate(&mut self, call: Ts, parts: &Parts, name: &str, arity: u16, idx: u32, fnode: u32) {
        let to = parts
            .opts
            .iter()
            .find(|(k, _)| k == "to")
            .and_then(|(_, v)| self.module_of(*v));
        let target = parts
            .opts
            .iter()
            .find(|(k, _)| k == "as")
            .map(|(_, v)| self.text(*v).trim_start_matches(':').to_string())
            .unwrap_or_else(|| name.to_string());
        let Some(to) = to else { return };
        let kind = if to.starts_with(':') {
            CallKind::Erlang
        } else {
            CallKind::Remote
        };
        let call_node = self.add(NodeKind::Call, kind as u8, &target, call, fnode);
        let (module, name_id) = (self.m.intern(&to), self.m.intern(&target));
        self.m.calls.push(CallSite {
            node: call_node,
            caller: idx,
            module: Some(module),
            name: name_id,
            arity,
            kind,
            quoted: false,
            candidates: Vec::new(),
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn clause(
        &mut self,
        call: Ts,
        idx: u32,
        fnode: u32,
        params: &[Ts],
        guard: Option<Ts>,
        body: &[Ts],
        parts: &Parts,
    ) {
        let clause = self.add(NodeKind::Clause, 0, "", call, fnode);
        let entry = self.add(NodeKind::Entry, 0, "", call, clause);
        let exit_span = Span {
            line: span(call).end_line,
            ..span(call)
        };
        let exit_name = self.m.intern("");
        let exit = self.add_id(NodeKind::Exit, 0, exit_name, exit_span, clause);
        let outer_env = self.m.env.clone();
        let outer_f = self.m.f.replace(FnCtx {
            fun: idx,
            exit,
            flow: vec![(entry, Label::None, 0)],
            handlers: Vec::new(),
            depth: 0,
            max_depth: 0,
        });
        self.m.env.vars.clear();
        for (i, p) in params.iter().enumerate() {
            let has_default = p.kind() == "binary_operator" && operator(*p, self.src) == "\\\\";
            let pattern = if has_default {
                p.child_by_field_name("left").unwrap_or(*p)
            } else {
                *p
            };
            let pnode = self.add(
                NodeKind::Parameter,
                i.min(255) as u8,
                self.text(pattern),
                pattern,
                clause,
            );
            let mut defs = Vec::new();
            self.pattern(pattern, pnode, &mut defs);
            for d in defs {
                self.dfg(pnode, d, Label::Bind, 0);
            }
            self.step(pnode);
            // Default values are evaluated in the caller's stead.
            if has_default {
                if let Some(default) = p.child_by_field_name("right") {
                    self.expr(default, pnode);
                }
            }
        }
        if let Some(g) = guard {
            let gnode = self.add(NodeKind::Guard, 0, "when", g, clause);
            self.expr(g, gnode);
            self.step(gnode);
        }
        // `def f do ... rescue ... end` is an implicit try.
        let value = if parts.rescue.is_some() || parts.catch.is_some() || parts.after.is_some() {
            Some(self.try_parts(call, clause, parts))
        } else {
            self.body(body, clause)
        };
        if let Some(v) = value {
            self.dfg(v, exit, Label::Return, 0);
        }
        self.step(exit);
        let f = std::mem::replace(&mut self.m.f, outer_f);
        self.m.env = outer_env;
        if let Some(f) = f {
            let n = &mut self.m.nesting[f.fun as usize];
            *n = (*n).max(f.max_depth);
        }
        let end = self.m.nodes.len() as u32;
        self.m.functions[idx as usize].clauses.push(ClauseDef {
            node: clause,
            entry,
            exit,
            end,
        });
        let fsp = &mut self.m.functions[idx as usize].span;
        fsp.end_line = fsp.end_line.max(span(call).end_line);
    }

    // ---- bodies and expressions ----

    /// Walk a sequence of expressions; the value is the last one's.
    fn body(&mut self, items: &[Ts], parent: u32) -> Option<u32> {
        let mut last = None;
        let mut i = 0;
        while i < items.len() {
            let item = items[i];
            if let Some(kind) = self.module_missing_body(item, items.get(i + 1)) {
                // Error recovery: the module's body sits in the next (error) node.
                let recovered = kids(items[i + 1]);
                last = Some(self.defmodule_with(item, parent, kind, Some(recovered)));
                i += 2;
                continue;
            }
            if let Some(v) = self.expr(item, parent) {
                last = Some(v);
            }
            i += 1;
        }
        last
    }

    /// `defmodule X` without a do-block, followed by an error node that starts
    /// with `do`: the kind of module definition.
    fn module_missing_body(&self, item: Ts, next: Option<&Ts>) -> Option<&'static str> {
        next.filter(|n| n.kind() == "ERROR" && self.text(**n).starts_with("do"))?;
        if item.kind() != "call" || kids(item).iter().any(|c| c.kind() == "do_block") {
            return None;
        }
        match item.child_by_field_name("target").map(|t| self.text(t)) {
            Some("defmodule") => Some("defmodule"),
            Some("defprotocol") => Some("defprotocol"),
            Some("defimpl") => Some("defimpl"),
            _ => None,
        }
    }

    /// Walk a body in its own scope.
    fn scoped_body(&mut self, items: &[Ts], parent: u32) -> Option<u32> {
        let env = self.m.env.clone();
        let v = self.body(items, parent);
        self.m.env = env;
        v
    }

    fn leaf(&mut self, kind: NodeKind, sub: u8, ts: Ts, parent: u32) -> u32 {
        let text = self.text(ts);
        let text = if text.len() > 64 {
            &text[..floor_char(text, 64)]
        } else {
            text
        };
        let n = self.add(kind, sub, text, ts, parent);
        self.step(n);
        n
    }

    fn expr(&mut self, ts: Ts, parent: u32) -> Option<u32> {
        if self.depth >= MAX_NESTING {
            let n = self.too_deep(ts, parent);
            self.step(n);
            return Some(n);
        }
        self.depth += 1;
        let v = self.expr_inner(ts, parent);
        self.depth -= 1;
        v
    }

    fn expr_inner(&mut self, ts: Ts, parent: u32) -> Option<u32> {
        let kind = ts.kind();
        let v = match kind {
            "comment" => return None,
            "identifier" => self.identifier(ts, parent),
            "alias" => {
                let name = self.module_of(ts).unwrap_or_default();
                let n = self.add(NodeKind::Literal, 0, &name, ts, parent);
                self.step(n);
                n
            }
            "atom"
            | "quoted_atom"
            | "integer"
            | "float"
            | "char"
            | "boolean"
            | "nil"
            | "operator_identifier" => self.leaf(NodeKind::Literal, 0, ts, parent),
            "string" | "charlist" | "sigil" => {
                let n = self.add(NodeKind::Literal, 0, "", ts, parent);
                let name = self.text(ts);
                let short = &name[..floor_char(name, 64)];
                let id = self.m.intern(short);
                self.m.nodes[n as usize].name = id;
                // Each interpolation in a string or sigil is compiled to
                // `String.Chars.to_string/1` (charlists go through List.Chars).
                let (module, fun) = if ts.kind() == "charlist" {
                    ("List.Chars", "to_charlist")
                } else {
                    ("String.Chars", "to_string")
                };
                for part in kids(ts) {
                    if part.kind() == "interpolation" {
                        for e in kids(part) {
                            let Some(v) = self.expr(e, n) else { continue };
                            if self.always_string(v) {
                                self.dfg(v, n, Label::None, 0);
                                continue;
                            }
                            let call = self.implied_call(e, n, module, fun, 1);
                            self.dfg(v, call, Label::Arg, 0);
                            self.step(call);
                            self.dfg(call, n, Label::None, 0);
                        }
                    }
                }
                self.step(n);
                n
            }
            "list" | "tuple" | "bitstring" | "map" | "keywords" | "map_content" => {
                self.container(ts, parent)
            }
            "pair" => {
                let value = ts.child_by_field_name("value")?;
                return self.expr(value, parent);
            }
            "binary_operator" => self.binary(ts, parent),
            "unary_operator" => self.unary(ts, parent),
            "call" => self.call(ts, parent, None),
            "dot" => match self.module_of(ts) {
                Some(name) => {
                    let n = self.add(NodeKind::Literal, 0, &name, ts, parent);
                    self.step(n);
                    n
                }
                None => self.operator_node(".", ts, parent, &kids(ts)),
            },
            "access_call" => {
                // `data[key]` is compiled to `Access.get/2`.
                let call = self.implied_call(ts, parent, "Access", "get", 2);
                for (i, operand) in kids(ts).into_iter().enumerate() {
                    if let Some(v) = self.expr(operand, call) {
                        self.dfg(v, call, Label::Arg, i as u16);
                    }
                }
                self.step(call);
                call
            }
            "anonymous_function" => self.fn_(ts, parent),
            "block" => {
                let items = kids(ts);
                if items.iter().any(|i| i.kind() == "stab_clause") {
                    let n = self.add(NodeKind::Fn, 0, "", ts, parent);
                    self.clauses(&items, n, None, Label::Clause);
                    n
                } else {
                    return self.body(&items, parent);
                }
            }
            "stab_clause" => {
                let n = self.add(NodeKind::Fn, 0, "", ts, parent);
                self.clauses(&[ts], n, None, Label::Clause);
                n
            }
            "ERROR" => return self.body(&kids(ts), parent),
            _ => {
                let n = self.add(NodeKind::Literal, 0, kind, ts, parent);
                self.body(&kids(ts), n);
                self.step(n);
                n
            }
        };
        Some(v)
    }

    fn container(&mut self, ts: Ts, parent: u32) -> u32 {
        let n = self.add(NodeKind::Container, 0, ts.kind(), ts, parent);
        self.container_items(ts, n);
        self.step(n);
        n
    }

    /// The elements of a container, with `map_content` and keyword lists
    /// flattened into it (they are syntax, not values of their own).
    fn container_items(&mut self, ts: Ts, n: u32) {
        for child in kids(ts) {
            if matches!(child.kind(), "map_content" | "keywords") {
                self.container_items(child, n);
                continue;
            }
            if child.kind() == "struct" {
                if let Some(name) = kids(child).first().and_then(|c| self.module_of(*c)) {
                    let line = span(child).line;
                    self.dep(&name, DepKind::Struct, line);
                    let id = self.m.intern(&name);
                    self.m.nodes[n as usize].name = id;
                }
                continue;
            }
            if let Some(v) = self.expr(child, n) {
                self.dfg(v, n, Label::None, 0);
            }
        }
    }

    fn operator_node(&mut self, op: &str, ts: Ts, parent: u32, operands: &[Ts]) -> u32 {
        let n = self.add(NodeKind::Operator, 0, op, ts, parent);
        for o in operands {
            if let Some(v) = self.expr(*o, n) {
                self.dfg(v, n, Label::None, 0);
            }
        }
        self.step(n);
        n
    }

    fn identifier(&mut self, ts: Ts, parent: u32) -> u32 {
        let name = self.text(ts);
        if name == "__MODULE__" {
            let module = self.m.name.clone();
            let n = self.add(NodeKind::Literal, 0, &module, ts, parent);
            self.step(n);
            return n;
        }
        if let Some(&def) = self.m.env.vars.get(name) {
            let n = self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
            self.dfg(def, n, Label::None, 0);
            self.step(n);
            return n;
        }
        if self.m.quote_depth == 0 && !name.starts_with('_') {
            // An unbound identifier is a call without parentheses when the
            // module defines it or an import certainly provides it; otherwise
            // it is most likely a variable bound by a macro (ExUnit contexts).
            let local = self.m.locals.contains(&(name.to_string(), 0));
            let resolved = self.m.env.resolve_bare(name, 0, local);
            if matches!(resolved, BareCall::Local | BareCall::Imported(_)) {
                return self.call_node(
                    ts,
                    parent,
                    None,
                    name,
                    0,
                    BareOr::Bare(resolved),
                    &[],
                    None,
                );
            }
        }
        let n = self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
        self.step(n);
        n
    }

    fn binary(&mut self, ts: Ts, parent: u32) -> u32 {
        let op = operator(ts, self.src);
        let (Some(left), Some(right)) = (
            ts.child_by_field_name("left"),
            ts.child_by_field_name("right"),
        ) else {
            return self.operator_node(op, ts, parent, &kids(ts));
        };
        match op {
            "=" => {
                let n = self.add(NodeKind::Match, 0, "=", ts, parent);
                let value = self.expr(right, n);
                let mut defs = Vec::new();
                self.pattern(left, n, &mut defs);
                if let Some(v) = value {
                    for d in &defs {
                        self.dfg(v, *d, Label::Bind, 0);
                    }
                    self.dfg(v, n, Label::None, 0);
                }
                self.step(n);
                n
            }
            "|>" => {
                let value = self.expr(left, parent);
                match right.kind() {
                    "call" => self.call(right, parent, value),
                    "identifier" => {
                        let name = self.text(right);
                        let local = self.m.locals.contains(&(name.to_string(), 1));
                        let resolved = self.m.env.resolve_bare(name, 1, local);
                        self.call_node(
                            right,
                            parent,
                            value,
                            name,
                            1,
                            BareOr::Bare(resolved),
                            &[],
                            None,
                        )
                    }
                    _ => {
                        let n = self.operator_node("|>", ts, parent, &[right]);
                        if let Some(v) = value {
                            self.dfg(v, n, Label::Pipe, 0);
                        }
                        n
                    }
                }
            }
            // `x in enumerable` outside guards, with a right side that is not a
            // literal list or range, is compiled to `Enum.member?/2`.
            "in" | "not in"
                if !matches!(right.kind(), "list") && operator(right, self.src) != ".." =>
            {
                let n = self.operator_node(op, ts, parent, &[]);
                let call = self.implied_call(ts, n, "Enum", "member?", 2);
                for (i, operand) in [left, right].into_iter().enumerate() {
                    if let Some(v) = self.expr(operand, call) {
                        self.dfg(v, call, Label::Arg, i as u16);
                    }
                }
                self.step(call);
                self.dfg(call, n, Label::None, 0);
                self.step(n);
                n
            }
            // `x :: binary-size(n)` in bitstrings: the right side is a type.
            "::" => self.operator_node(op, ts, parent, &[left]),
            _ => self.operator_node(op, ts, parent, &[left, right]),
        }
    }

    fn unary(&mut self, ts: Ts, parent: u32) -> u32 {
        let op = operator(ts, self.src);
        let Some(operand) = ts.child_by_field_name("operand") else {
            return self.operator_node(op, ts, parent, &[]);
        };
        match op {
            "@" => self.attribute(ts, operand, parent),
            "&" => self.capture(ts, operand, parent),
            "^" => self.identifier(operand, parent),
            _ => self.operator_node(op, ts, parent, &[operand]),
        }
    }

    fn attribute(&mut self, ts: Ts, operand: Ts, parent: u32) -> u32 {
        let (name, value) = match operand.kind() {
            "call" => {
                let name = operand
                    .child_by_field_name("target")
                    .map(|t| self.text(t))
                    .unwrap_or("");
                let args = kids(operand).into_iter().find(|c| c.kind() == "arguments");
                (name, args.and_then(|a| kids(a).first().copied()))
            }
            _ => (self.text(operand), None),
        };
        let n = self.add(NodeKind::Attribute, 0, name, ts, parent);
        let line = span(ts).line;
        match (name, value) {
            ("impl", Some(v)) => {
                self.m.pending_impl = self.text(v) != "false";
                if let Some(b) = self.module_of(v) {
                    self.dep(&b, DepKind::Behaviour, line);
                }
            }
            ("behaviour", Some(v)) => {
                if let Some(b) = self.module_of(v) {
                    self.dep(&b, DepKind::Behaviour, line);
                    let id = self.m.intern(&b);
                    self.m.behaviours.push(id);
                }
            }
            (_, Some(v)) if !NON_CODE_ATTRIBUTES.contains(&name) => {
                if let Some(val) = self.expr(v, n) {
                    self.dfg(val, n, Label::None, 0);
                }
            }
            _ => {}
        }
        self.step(n);
        n
    }

    fn capture(&mut self, ts: Ts, operand: Ts, parent: u32) -> u32 {
        // `&M.f/2`, `&f/1`: a reference to a function, which we count as a call.
        if operand.kind() == "binary_operator" && operator(operand, self.src) == "/" {
            if let (Some(target), Some(arity)) = (
                operand.child_by_field_name("left"),
                operand.child_by_field_name("right"),
            ) {
                if let Ok(arity) = self.text(arity).parse::<u16>() {
                    match target.kind() {
                        "call" if kids(target).iter().all(|c| c.kind() != "arguments") => {
                            if let Some(dot) = target.child_by_field_name("target") {
                                if dot.kind() == "dot" {
                                    if let Some(r) =
                                        self.remote(dot, ts, parent, None, arity, &[], None)
                                    {
                                        return r;
                                    }
                                }
                            }
                        }
                        "identifier" => {
                            let name = self.text(target);
                            let local = self.m.locals.contains(&(name.to_string(), arity));
                            let resolved = self.m.env.resolve_bare(name, arity, local);
                            return self.call_node(
                                ts,
                                parent,
                                None,
                                name,
                                arity,
                                BareOr::Bare(resolved),
                                &[],
                                None,
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
        if operand.kind() == "integer" {
            // `&1`: an argument of the enclosing capture.
            return self.leaf(NodeKind::Variable, Node::VAR_USE, ts, parent);
        }
        // `&M.f(&1, x)`, `&(&1 + 1)`: an anonymous function.
        let n = self.add(NodeKind::Fn, 0, "&", ts, parent);
        self.step(n);
        let flow = self.take_flow();
        self.set_flow(Self::relabel(&flow, Label::Clause, 0));
        self.expr(operand, n);
        self.set_flow(flow);
        n
    }

    // ---- calls ----

    /// Arguments of a call: positional ones and the trailing keyword list, plus
    /// the do-block (which counts as one more argument unless merged into a
    /// trailing keyword list).
    fn call_args<'t>(call: Ts<'t>) -> (Vec<Ts<'t>>, Option<Ts<'t>>) {
        let mut args = Vec::new();
        let mut block = None;
        for c in kids(call) {
            match c.kind() {
                "arguments" => args = kids(c),
                "do_block" => block = Some(c),
                _ => {}
            }
        }
        (args, block)
    }

    fn call(&mut self, ts: Ts, parent: u32, piped: Option<u32>) -> u32 {
        let Some(target) = ts.child_by_field_name("target") else {
            return self.operator_node("call", ts, parent, &kids(ts));
        };
        let (args, block) = Self::call_args(ts);
        let arity = args.len() as u16
            + u16::from(piped.is_some())
            + u16::from(block.is_some() && args.last().is_none_or(|a| a.kind() != "keywords"));
        match target.kind() {
            "identifier" => {
                let name = self.text(target);
                let quote_aware = matches!(
                    name,
                    "quote"
                        | "unquote"
                        | "unquote_splicing"
                        | "alias"
                        | "import"
                        | "require"
                        | "use"
                );
                if self.m.quote_depth == 0 || quote_aware {
                    if let Some(n) = self.special(ts, name, parent, piped) {
                        return n;
                    }
                }
                if self.m.env.vars.contains_key(name)
                    && args.is_empty()
                    && block.is_none()
                    && piped.is_none()
                {
                    return self.identifier(target, parent);
                }
                let local = self.m.locals.contains(&(name.to_string(), arity));
                let mut resolved = self.m.env.resolve_bare(name, arity, local);
                if name == "super" {
                    resolved = BareCall::Local;
                }
                self.call_node(
                    ts,
                    parent,
                    piped,
                    name,
                    arity,
                    BareOr::Bare(resolved),
                    &args,
                    block,
                )
            }
            "dot" => match self.remote(target, ts, parent, piped, arity, &args, block) {
                Some(n) => n,
                None => self.generic_call(ts, parent, piped),
            },
            _ => {
                // `unquote(name)(args)`, `f.(x).(y)`: the callee is computed.
                let name = self.text(target);
                let name = &name[..floor_char(name, 64)];
                self.call_node(
                    ts,
                    parent,
                    piped,
                    name,
                    arity,
                    BareOr::Dynamic(None),
                    &args,
                    block,
                )
            }
        }
    }

    /// `left.right(args)`: a remote call, a dynamic call on a variable module,
    /// an anonymous function call `f.(x)`, or a field access `map.key`.
    #[allow(clippy::too_many_arguments)]
    fn remote(
        &mut self,
        dot: Ts,
        ts: Ts,
        parent: u32,
        piped: Option<u32>,
        arity: u16,
        args: &[Ts],
        block: Option<Ts>,
    ) -> Option<u32> {
        let left = dot.child_by_field_name("left")?;
        let Some(right) = dot.child_by_field_name("right") else {
            // `fun.(args)`
            let name = self.text(left);
            let name = &name[..floor_char(name, 64)];
            return Some(self.call_node(
                ts,
                parent,
                piped,
                name,
                arity,
                BareOr::Dynamic(None),
                args,
                block,
            ));
        };
        let fname = self.text(right).trim_matches('"');
        if let Some(module) = self.module_of(left) {
            let dynamic = matches!(
                (module.as_str(), fname),
                ("Kernel", "apply") | (":erlang", "apply")
            );
            let how = if dynamic {
                BareOr::Dynamic(Some(module))
            } else {
                BareOr::Module(module)
            };
            return Some(self.call_node(ts, parent, piped, fname, arity, how, args, block));
        }
        let has_parens = kids(ts).iter().any(|c| c.kind() == "arguments");
        if !has_parens && piped.is_none() {
            // `map.field`: a field access, not a call.
            return Some(self.operator_node(".", ts, parent, &[left]));
        }
        // `mod.fun(x)` with `mod` computed at run time.
        let base = self.expr(left, parent);
        let n = self.call_node(
            ts,
            parent,
            piped,
            fname,
            arity,
            BareOr::Dynamic(None),
            args,
            block,
        );
        if let Some(b) = base {
            self.dfg(b, n, Label::None, 0);
        }
        Some(n)
    }

    /// A call to a macro or function we do not model specially: arguments and
    /// any do-block are walked, the call is resolved by name.
    fn generic_call(&mut self, ts: Ts, parent: u32, piped: Option<u32>) -> u32 {
        let name = ts
            .child_by_field_name("target")
            .map(|t| self.text(t))
            .unwrap_or("");
        let (args, block) = Self::call_args(ts);
        let arity = args.len() as u16 + u16::from(piped.is_some()) + u16::from(block.is_some());
        let local = self.m.locals.contains(&(name.to_string(), arity));
        let resolved = self.m.env.resolve_bare(name, arity, local);
        self.call_node(
            ts,
            parent,
            piped,
            name,
            arity,
            BareOr::Bare(resolved),
            &args,
            block,
        )
    }

    /// Create a Call node with its arguments and call site.
    #[allow(clippy::too_many_arguments)]
    fn call_node(
        &mut self,
        ts: Ts,
        parent: u32,
        piped: Option<u32>,
        name: &str,
        arity: u16,
        how: BareOr,
        args: &[Ts],
        block: Option<Ts>,
    ) -> u32 {
        let (kind, module, candidates) = match how {
            BareOr::Bare(BareCall::Local) => {
                (CallKind::Local, Some(self.m.name.clone()), Vec::new())
            }
            BareOr::Bare(BareCall::Imported(m)) if m == "Kernel" && name == "apply" => {
                (CallKind::Dynamic, Some(m), Vec::new())
            }
            BareOr::Bare(BareCall::Imported(m)) => (CallKind::Imported, Some(m), Vec::new()),
            BareOr::Bare(BareCall::Candidates(c)) => (CallKind::Imported, c.first().cloned(), c),
            BareOr::Bare(BareCall::Unresolved) => (CallKind::Unresolved, None, Vec::new()),
            BareOr::Module(m) if m.starts_with(':') => (CallKind::Erlang, Some(m), Vec::new()),
            BareOr::Module(m) => (CallKind::Remote, Some(m), Vec::new()),
            BareOr::Dynamic(m) => (CallKind::Dynamic, m, Vec::new()),
        };
        let n = self.add(NodeKind::Call, kind as u8, name, ts, parent);
        if let Some(p) = piped {
            self.dfg(p, n, Label::Pipe, 0);
        }
        let offset = u16::from(piped.is_some());
        // ExUnit's `test "name", context do`, `setup context do`: the context
        // argument is a pattern whose bindings the block sees.
        let context_arg = match (name, block.is_some(), args.len()) {
            ("test", true, 2) => Some(1),
            ("setup" | "setup_all", true, 1) => Some(0),
            _ => None,
        };
        let env = block.map(|_| self.m.env.clone());
        for (i, arg) in args.iter().enumerate() {
            if Some(i) == context_arg {
                let mut defs = Vec::new();
                self.pattern(*arg, n, &mut defs);
                continue;
            }
            if let Some(v) = self.expr(*arg, n) {
                self.dfg(v, n, Label::Arg, i as u16 + offset);
            }
        }
        if let Some(block) = block {
            let items = kids(block);
            let using = name == "using";
            self.m.in_using += u32::from(using);
            self.body_or_clauses(&items, n);
            self.m.in_using -= u32::from(using);
        }
        if let Some(env) = env {
            self.m.env = env;
        }
        if self.m.quote_depth == 0 {
            // `Record.defrecord(:name, ...)` defines the macros name/0, /1, /2.
            if let Some((rec, private)) = self.record_name(ts) {
                let kind = if private {
                    FunKind::Defmacrop
                } else {
                    FunKind::Defmacro
                };
                for a in 0..=2 {
                    self.function(&rec, a, kind, ts);
                }
            }
        }
        // `raise Mod, msg` builds the exception with `Mod.exception/1`;
        // `raise "msg"` with `RuntimeError.exception/1`.
        if matches!(name, "raise" | "reraise") && module.as_deref() == Some("Kernel") {
            let exception = match args.first().map(|a| a.kind()) {
                Some("alias") => args.first().and_then(|a| self.module_of(*a)),
                Some("string") if args.len() == 1 + usize::from(name == "reraise") => {
                    Some("RuntimeError".to_string())
                }
                _ => None,
            };
            if let Some(exception) = exception {
                let implied = self.implied_call(ts, n, &exception, "exception", 1);
                self.step(implied);
                self.dfg(implied, n, Label::Arg, 0);
            }
        }
        let caller = self.m.f.as_ref().map(|f| f.fun).unwrap_or(MODULE_BODY);
        let module = module.map(|m| self.m.intern(&m));
        let name_id = self.m.intern(name);
        let candidates = candidates.iter().map(|c| self.m.intern(c)).collect();
        self.m.calls.push(CallSite {
            node: n,
            caller,
            module,
            name: name_id,
            arity,
            kind,
            quoted: self.m.quote_depth > 0,
            candidates,
        });
        self.step(n);
        let raising = matches!(
            (module.map(|m| self.m.strings[m as usize].as_str()), name),
            (Some("Kernel"), "raise" | "reraise" | "exit") | (Some(":erlang"), "error" | "exit")
        );
        let throwing = matches!(
            (module.map(|m| self.m.strings[m as usize].as_str()), name),
            (Some("Kernel"), "throw") | (Some(":erlang"), "throw")
        );
        if (raising || throwing) && self.m.quote_depth == 0 {
            self.exception_flow(if throwing { Label::Throw } else { Label::Raise });
        }
        n
    }

    /// Whether the value of node `v` is known to be a string, so that the
    /// compiler skips `String.Chars.to_string/1` when interpolating it (the
    /// same list as the compiler's `is_always_string`).
    fn always_string(&self, v: u32) -> bool {
        let node = self.m.nodes[v as usize];
        match node.kind {
            NodeKind::Literal => self.m.strings[node.name as usize].starts_with('"'),
            NodeKind::Call => self
                .m
                .calls
                .iter()
                .rev()
                .find(|c| c.node == v)
                .is_some_and(|c| {
                    let module = c.module.map(|m| self.m.strings[m as usize].as_str());
                    let name = self.m.strings[c.name as usize].as_str();
                    matches!(
                        (module, name),
                        (Some("Enum"), "join" | "map_join")
                            | (Some("Kernel"), "inspect")
                            | (Some("Macro"), "to_string")
                            | (Some("String.Chars"), "to_string")
                            | (Some("Path"), "join")
                    )
                }),
            _ => false,
        }
    }

    /// A call the compiler generates from syntax (interpolation, access,
    /// `raise Module`): a real call of the compiled module. The caller walks
    /// its arguments and steps it.
    fn implied_call(&mut self, ts: Ts, parent: u32, module: &str, name: &str, arity: u16) -> u32 {
        let kind = if module.starts_with(':') {
            CallKind::Erlang
        } else {
            CallKind::Remote
        };
        let n = self.add(NodeKind::Call, kind as u8, name, ts, parent);
        let caller = self.m.f.as_ref().map(|f| f.fun).unwrap_or(MODULE_BODY);
        let (module, name) = (self.m.intern(module), self.m.intern(name));
        self.m.calls.push(CallSite {
            node: n,
            caller,
            module: Some(module),
            name,
            arity,
            kind,
            quoted: self.m.quote_depth > 0,
            candidates: Vec::new(),
        });
        n
    }

    /// Route the current flow as an exception: to the innermost `try`'s
    /// handlers if any, else out of the clause.
    fn exception_flow(&mut self, label: Label) {
        let Some(f) = &mut self.m.f else { return };
        let flow: Vec<Pending> = f.flow.drain(..).map(|(s, _, _)| (s, label, 0)).collect();
        if let Some(h) = f.handlers.last_mut() {
            h.raises.extend(flow);
        } else {
            let exit = f.exit;
            for (s, l, i) in flow {
                self.m.edges.push(Edge {
                    src: s,
                    dst: exit,
                    kind: EdgeKind::Cfg,
                    label: l,
                    index: i,
                });
            }
        }
    }

    /// A do-block of a generic macro: plain expressions, or `->` clauses.
    fn body_or_clauses(&mut self, items: &[Ts], parent: u32) {
        let mut plain = Vec::new();
        for item in items {
            match item.kind() {
                "stab_clause" => {
                    self.clauses(std::slice::from_ref(item), parent, None, Label::Clause);
                }
                "else_block" | "after_block" | "rescue_block" | "catch_block" => {
                    let inner = kids(*item);
                    self.body_or_clauses(&inner, parent);
                }
                _ => plain.push(*item),
            }
        }
        self.body(&plain, parent);
    }

    // ---- special forms ----

    fn special(&mut self, ts: Ts, name: &str, parent: u32, piped: Option<u32>) -> Option<u32> {
        let n = match name {
            "defmodule" | "defprotocol" | "defimpl" => self.defmodule(ts, parent, name),
            "def" | "defp" | "defmacro" | "defmacrop" | "defguard" | "defguardp"
            | "defdelegate" => self.def(ts, parent, name),
            "defstruct" | "defexception" => {
                self.generated_function("__struct__", 0, ts);
                self.generated_function("__struct__", 1, ts);
                if name == "defexception"
                    && !self.m.fn_index.contains_key(&("exception".to_string(), 1))
                {
                    self.generated_function("exception", 1, ts);
                }
                let n = self.add(NodeKind::Directive, 0, name, ts, parent);
                let (args, _) = Self::call_args(ts);
                self.body(&args, n);
                n
            }
            "alias" | "import" | "require" | "use" if self.m.quote_depth > 0 => {
                self.quoted_directive(ts, name, parent)
            }
            "alias" | "import" | "require" | "use" => self.directive(ts, name, parent),
            "case" => self.case(ts, parent, piped),
            "cond" => self.cond(ts, parent),
            "if" | "unless" => self.if_(ts, parent, name == "unless"),
            "with" => self.with(ts, parent),
            "receive" => self.receive(ts, parent),
            "try" => {
                let parts = Parts::of(ts, self.src);
                self.try_parts(ts, parent, &parts)
            }
            "for" => self.for_(ts, parent),
            "quote" => {
                let n = self.add(NodeKind::Quote, 0, "quote", ts, parent);
                self.m.quote_depth += 1;
                let parts = Parts::of(ts, self.src);
                if let Some(items) = &parts.do_ {
                    self.body(items, n);
                }
                self.m.quote_depth -= 1;
                self.step(n);
                n
            }
            "unquote" | "unquote_splicing" => {
                // Outside a quote (`def unquote(name)()`) it injects a value
                // computed at compile time: not a call either way.
                let (args, _) = Self::call_args(ts);
                let n = self.add(NodeKind::Operator, 0, name, ts, parent);
                let depth = self.m.quote_depth;
                self.m.quote_depth = depth.saturating_sub(1);
                self.body(&args, n);
                self.m.quote_depth = depth;
                self.step(n);
                n
            }
            _ => return None,
        };
        Some(n)
    }

    /// A directive inside `quote`: it acts in the module that expands the
    /// quote. Inside `__using__` it is recorded for the link step.
    fn quoted_directive(&mut self, ts: Ts, name: &str, parent: u32) -> u32 {
        let n = self.add(NodeKind::Directive, 0, name, ts, parent);
        let (args, _) = Self::call_args(ts);
        let target = args.first().and_then(|a| {
            // `import unquote(__MODULE__)` names the module defining the macro.
            let is_self = a.kind() == "call"
                && a.child_by_field_name("target")
                    .is_some_and(|t| self.text(t) == "unquote")
                && self.text(*a).contains("__MODULE__");
            if is_self {
                Some(self.m.name.clone())
            } else {
                self.module_of(*a)
            }
        });
        if let (Some(target), true) = (target, self.m.in_using > 0) {
            let kind = match name {
                "alias" => DepKind::Alias,
                "import" => DepKind::Import,
                "require" => DepKind::Require,
                _ => DepKind::Use,
            };
            let id = self.m.intern(&target);
            self.m.nodes[n as usize].name = id;
            let line = span(ts).line;
            if !self
                .m
                .using
                .iter()
                .any(|u| u.target == id && u.kind == kind)
            {
                self.m.using.push(ModuleDep {
                    target: id,
                    kind,
                    line,
                });
            }
        }
        self.step(n);
        n
    }

    fn directive(&mut self, ts: Ts, name: &str, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let kind = match name {
            "alias" => DepKind::Alias,
            "import" => DepKind::Import,
            "require" => DepKind::Require,
            _ => DepKind::Use,
        };
        let n = self.add(NodeKind::Directive, 0, name, ts, parent);
        self.step(n);
        let line = span(ts).line;
        let Some(first) = parts.args.first().copied() else {
            return n;
        };
        // `alias Foo.{A, B}`
        let mut targets = Vec::new();
        if first.kind() == "dot" {
            if let Some(right) = first
                .child_by_field_name("right")
                .filter(|r| r.kind() == "tuple")
            {
                if let Some(base) = first
                    .child_by_field_name("left")
                    .and_then(|l| self.module_of(l))
                {
                    for item in kids(right) {
                        let text: String = self
                            .text(item)
                            .chars()
                            .filter(|c| !c.is_whitespace())
                            .collect();
                        targets.push((format!("{base}.{text}"), text));
                    }
                }
            }
        }
        if targets.is_empty() {
            let Some(module) = self.module_of(first) else {
                // `alias unquote(x)`: walk the arguments, nothing to resolve.
                self.body(&parts.args, n);
                return n;
            };
            let short = module.rsplit('.').next().unwrap_or(&module).to_string();
            targets.push((module, short));
        }
        let id = self.m.intern(&targets[0].0);
        self.m.nodes[n as usize].name = id;
        let opt = |key: &str| parts.opts.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        for (module, short) in &targets {
            self.dep(module, kind, line);
            match kind {
                DepKind::Alias | DepKind::Require => {
                    let alias_as = opt("as").map(|v| self.text(v).trim().to_string());
                    if kind == DepKind::Alias || alias_as.is_some() {
                        let short_first = short.split('.').next_back().unwrap_or(short).to_string();
                        let key = alias_as.unwrap_or(short_first);
                        if !module.starts_with(':') || kind == DepKind::Alias {
                            self.m.env.aliases.insert(key, module.clone());
                        }
                    }
                }
                DepKind::Import => {
                    let filter = if let Some(v) = opt("only") {
                        match v.kind() {
                            "atom" => ImportFilter::Kind,
                            _ => ImportFilter::Only(self.name_arity_list(v)),
                        }
                    } else if let Some(v) = opt("except") {
                        ImportFilter::Except(self.name_arity_list(v))
                    } else {
                        ImportFilter::All
                    };
                    self.m.env.add_import(Import {
                        module: module.clone(),
                        filter,
                    });
                }
                _ => {
                    // `use M` expands `M.__using__/1` here.
                    let (mname, uname) = (self.m.intern(module), self.m.intern("__using__"));
                    let caller = self.m.f.as_ref().map(|f| f.fun).unwrap_or(MODULE_BODY);
                    self.m.calls.push(CallSite {
                        node: n,
                        caller,
                        module: Some(mname),
                        name: uname,
                        arity: 1,
                        kind: CallKind::Remote,
                        quoted: self.m.quote_depth > 0,
                        candidates: Vec::new(),
                    });
                    if let Some((_, imports, behaviour)) =
                        kernel::USE_EFFECTS.iter().find(|(m, _, _)| m == module)
                    {
                        for i in *imports {
                            let filter = if *i == "ExUnit.Case" {
                                ImportFilter::Only(
                                    [("describe", 2), ("test", 1), ("test", 2), ("test", 3)]
                                        .iter()
                                        .map(|(n, a)| (n.to_string(), *a))
                                        .collect(),
                                )
                            } else {
                                ImportFilter::All
                            };
                            self.m.env.add_import(Import {
                                module: i.to_string(),
                                filter,
                            });
                        }
                        if let Some(b) = behaviour {
                            self.dep(b, DepKind::Behaviour, line);
                            let id = self.m.intern(b);
                            self.m.behaviours.push(id);
                        }
                    }
                }
            }
        }
        // Options may hold code (`use GenServer, restart: :temporary`).
        let opts: Vec<Ts> = parts.opts.iter().map(|(_, v)| *v).collect();
        if kind == DepKind::Use {
            self.body(&opts, n);
        }
        n
    }

    /// `[foo: 1, bar: 2]` as written in `only:`/`except:`.
    fn name_arity_list(&self, v: Ts) -> Vec<(String, u16)> {
        let mut out = Vec::new();
        for kw in kids(v) {
            for pair in kids(kw) {
                let (Some(k), Some(val)) = (
                    pair.child_by_field_name("key"),
                    pair.child_by_field_name("value"),
                ) else {
                    continue;
                };
                let key = self.text(k).trim().trim_end_matches(':').trim_matches('"');
                if let Ok(a) = self.text(val).parse() {
                    out.push((key.to_string(), a));
                }
            }
        }
        out
    }

    /// `->` clauses branching from `from` (case, receive, fn, else...). Each
    /// clause gets a Clause node reached with `label` and its index; the
    /// subject's value binds the pattern variables. Returns the clause values.
    fn clauses(
        &mut self,
        items: &[Ts],
        from: u32,
        subject: Option<u32>,
        label: Label,
    ) -> (Vec<u32>, Vec<Pending>) {
        let start = self.take_flow();
        let mut values = Vec::new();
        let mut out = Vec::new();
        for (idx, item) in items
            .iter()
            .filter(|i| i.kind() == "stab_clause")
            .enumerate()
        {
            let idx = idx as u16;
            let mut flow = Self::relabel(&start, label, idx);
            if start.is_empty() {
                flow.push((from, label, idx));
            }
            self.set_flow(flow);
            if let Some(v) = self.stab_clause(*item, from, subject) {
                values.push(v);
            }
            out.extend(self.take_flow());
        }
        (values, out)
    }

    fn stab_clause(&mut self, item: Ts, parent: u32, subject: Option<u32>) -> Option<u32> {
        let env = self.m.env.clone();
        let clause = self.add(NodeKind::Clause, 0, "", item, parent);
        self.step(clause);
        let (patterns, guard) = match item.child_by_field_name("left") {
            Some(l) if l.kind() == "binary_operator" && operator(l, self.src) == "when" => {
                let args = l.child_by_field_name("left").map(|a| {
                    if a.kind() == "arguments" {
                        kids(a)
                    } else {
                        vec![a]
                    }
                });
                (args.unwrap_or_default(), l.child_by_field_name("right"))
            }
            Some(l) => (kids(l), None),
            None => (Vec::new(), None),
        };
        let mut defs = Vec::new();
        for p in &patterns {
            // `e in ArgumentError` in rescue clauses.
            if p.kind() == "binary_operator" && operator(*p, self.src) == "in" {
                if let Some(var) = p.child_by_field_name("left") {
                    self.pattern(var, clause, &mut defs);
                }
                continue;
            }
            self.pattern(*p, clause, &mut defs);
        }
        if let Some(s) = subject {
            for d in &defs {
                self.dfg(s, *d, Label::Bind, 0);
            }
        }
        if let Some(g) = guard {
            let gnode = self.add(NodeKind::Guard, 0, "when", g, clause);
            self.expr(g, gnode);
            self.step(gnode);
        }
        let body = item
            .child_by_field_name("right")
            .map(kids)
            .unwrap_or_default();
        let v = self.body(&body, clause);
        self.m.env = env;
        if let Some(v) = v {
            self.dfg(v, clause, Label::Return, 0);
        }
        Some(clause)
    }

    fn case(&mut self, ts: Ts, parent: u32, piped: Option<u32>) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::Case, 0, "case", ts, parent);
        let subject = match piped {
            Some(p) => Some(p),
            None => parts.args.first().and_then(|s| self.expr(*s, n)),
        };
        if let Some(s) = subject {
            self.dfg(s, n, Label::None, 0);
        }
        self.step(n);
        self.enter_control();
        let items = parts.do_.clone().unwrap_or_default();
        let (values, out) = self.clauses(&items, n, Some(n), Label::Clause);
        self.leave_control();
        for v in values {
            self.dfg(v, n, Label::Return, 0);
        }
        self.set_flow(out);
        n
    }

    fn cond(&mut self, ts: Ts, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::Cond, 0, "cond", ts, parent);
        self.step(n);
        self.enter_control();
        let mut out = Vec::new();
        let items = parts.do_.clone().unwrap_or_default();
        for (idx, item) in items
            .iter()
            .filter(|i| i.kind() == "stab_clause")
            .enumerate()
        {
            let idx = idx as u16;
            let env = self.m.env.clone();
            let clause = self.add(NodeKind::Clause, 0, "", *item, n);
            let conds = item
                .child_by_field_name("left")
                .map(kids)
                .unwrap_or_default();
            let cv = self.body(&conds, clause).unwrap_or(clause);
            let always = conds.len() == 1 && self.text(conds[0]) == "true";
            let flow = self.take_flow();
            // True: into the clause body; False: on to the next condition.
            self.set_flow(Self::relabel(&flow, Label::True, idx));
            self.step(clause);
            let body = item
                .child_by_field_name("right")
                .map(kids)
                .unwrap_or_default();
            if let Some(v) = self.body(&body, clause) {
                self.dfg(v, n, Label::Return, 0);
            }
            self.dfg(cv, clause, Label::None, 0);
            out.extend(self.take_flow());
            self.m.env = env;
            let next = if always {
                Vec::new()
            } else {
                Self::relabel(&flow, Label::False, idx)
            };
            self.set_flow(next);
        }
        // No condition held: CondClauseError.
        self.exception_flow(Label::Raise);
        self.leave_control();
        self.set_flow(out);
        n
    }

    fn if_(&mut self, ts: Ts, parent: u32, unless: bool) -> u32 {
        let parts = Parts::of(ts, self.src);
        let kind = if unless {
            NodeKind::Unless
        } else {
            NodeKind::If
        };
        let n = self.add(kind, 0, if unless { "unless" } else { "if" }, ts, parent);
        if let Some(c) = parts.args.first().and_then(|c| self.expr(*c, n)) {
            self.dfg(c, n, Label::None, 0);
        }
        self.step(n);
        self.enter_control();
        let (do_label, else_label) = if unless {
            (Label::False, Label::True)
        } else {
            (Label::True, Label::False)
        };
        let start = self.take_flow();
        self.set_flow(Self::relabel(&start, do_label, 0));
        if let Some(v) = self.scoped_body(parts.do_.as_deref().unwrap_or(&[]), n) {
            self.dfg(v, n, Label::Return, 0);
        }
        let mut out = self.take_flow();
        self.set_flow(Self::relabel(&start, else_label, 0));
        if let Some(items) = &parts.else_ {
            if let Some(v) = self.scoped_body(items, n) {
                self.dfg(v, n, Label::Return, 0);
            }
        }
        out.extend(self.take_flow());
        self.leave_control();
        self.set_flow(out);
        n
    }

    fn with(&mut self, ts: Ts, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::With, 0, "with", ts, parent);
        self.step(n);
        self.enter_control();
        let env = self.m.env.clone();
        let mut failures: Vec<Pending> = Vec::new();
        for clause in &parts.args {
            if clause.kind() == "binary_operator" && operator(*clause, self.src) == "<-" {
                let (Some(p), Some(e)) = (
                    clause.child_by_field_name("left"),
                    clause.child_by_field_name("right"),
                ) else {
                    continue;
                };
                let m = self.add(NodeKind::Match, 0, "<-", *clause, n);
                let v = self.expr(e, m);
                let (pat, guard) =
                    if p.kind() == "binary_operator" && operator(p, self.src) == "when" {
                        (
                            p.child_by_field_name("left").unwrap_or(p),
                            p.child_by_field_name("right"),
                        )
                    } else {
                        (p, None)
                    };
                let mut defs = Vec::new();
                self.pattern(pat, m, &mut defs);
                if let Some(v) = v {
                    for d in &defs {
                        self.dfg(v, *d, Label::Bind, 0);
                    }
                    self.dfg(v, m, Label::None, 0);
                }
                if let Some(g) = guard {
                    self.expr(g, m);
                }
                self.step(m);
                failures.push((m, Label::NoMatch, 0));
                let flow = self.take_flow();
                self.set_flow(Self::relabel(&flow, Label::Match, 0));
            } else {
                self.expr(*clause, n);
            }
        }
        if let Some(v) = self.body(parts.do_.as_deref().unwrap_or(&[]), n) {
            self.dfg(v, n, Label::Return, 0);
        }
        self.m.env = env;
        let mut out = self.take_flow();
        match &parts.else_ {
            Some(items) => {
                for (idx, item) in items
                    .iter()
                    .filter(|i| i.kind() == "stab_clause")
                    .enumerate()
                {
                    let idx = idx as u16;
                    self.set_flow(Self::relabel(&failures, Label::Else, idx));
                    if let Some(v) = self.stab_clause(*item, n, Some(n)) {
                        self.dfg(v, n, Label::Return, 0);
                    }
                    out.extend(self.take_flow());
                }
            }
            None => out.extend(failures),
        }
        self.leave_control();
        self.set_flow(out);
        n
    }

    fn receive(&mut self, ts: Ts, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::Receive, 0, "receive", ts, parent);
        self.step(n);
        self.enter_control();
        let items = parts.do_.clone().unwrap_or_default();
        let (values, mut out) = self.clauses(&items, n, None, Label::Clause);
        for v in values {
            self.dfg(v, n, Label::Return, 0);
        }
        if let Some(after) = &parts.after {
            self.set_flow(vec![(n, Label::After, 0)]);
            for item in after.iter().filter(|i| i.kind() == "stab_clause") {
                let timeout = item
                    .child_by_field_name("left")
                    .map(kids)
                    .unwrap_or_default();
                self.body(&timeout, n);
                let body = item
                    .child_by_field_name("right")
                    .map(kids)
                    .unwrap_or_default();
                if let Some(v) = self.scoped_body(&body, n) {
                    self.dfg(v, n, Label::Return, 0);
                }
            }
            out.extend(self.take_flow());
        }
        self.leave_control();
        self.set_flow(out);
        n
    }

    fn try_parts(&mut self, ts: Ts, parent: u32, parts: &Parts) -> u32 {
        let n = self.add(NodeKind::Try, 0, "try", ts, parent);
        self.step(n);
        self.enter_control();
        let has_handlers = parts.rescue.is_some() || parts.catch.is_some();
        if has_handlers {
            if let Some(f) = &mut self.m.f {
                f.handlers.push(Handler::default());
            }
        }
        let body_value = self.scoped_body(parts.do_.as_deref().unwrap_or(&[]), n);
        let handler = if has_handlers {
            self.m.f.as_mut().and_then(|f| f.handlers.pop())
        } else {
            None
        };
        let raises = handler.map(|h| h.raises).unwrap_or_default();
        let mut out = Vec::new();
        match &parts.else_ {
            Some(items) => {
                let flow = self.take_flow();
                for (idx, item) in items
                    .iter()
                    .filter(|i| i.kind() == "stab_clause")
                    .enumerate()
                {
                    let idx = idx as u16;
                    self.set_flow(Self::relabel(&flow, Label::Else, idx));
                    if let Some(v) = self.stab_clause(*item, n, body_value) {
                        self.dfg(v, n, Label::Return, 0);
                    }
                    out.extend(self.take_flow());
                }
            }
            None => {
                if let Some(v) = body_value {
                    self.dfg(v, n, Label::Return, 0);
                }
                out.extend(self.take_flow());
            }
        }
        for (blocks, label) in [(&parts.rescue, Label::Rescue), (&parts.catch, Label::Catch)] {
            let Some(items) = blocks else { continue };
            for (idx, item) in items
                .iter()
                .filter(|i| i.kind() == "stab_clause")
                .enumerate()
            {
                let idx = idx as u16;
                let mut flow = vec![(n, label, idx)];
                flow.extend(raises.iter().map(|&(s, _, _)| (s, label, idx)));
                self.set_flow(flow);
                if let Some(v) = self.stab_clause(*item, n, None) {
                    self.dfg(v, n, Label::Return, 0);
                }
                out.extend(self.take_flow());
            }
        }
        if let Some(after) = &parts.after {
            self.set_flow(Self::relabel(&out, Label::After, 0));
            self.scoped_body(after, n);
            out = self.take_flow();
        }
        self.leave_control();
        self.set_flow(out);
        n
    }

    fn for_(&mut self, ts: Ts, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::For, 0, "for", ts, parent);
        let env = self.m.env.clone();
        for clause in &parts.args {
            if clause.kind() == "binary_operator"
                && matches!(operator(*clause, self.src), "<-" | "<<-")
            {
                let (Some(p), Some(e)) = (
                    clause.child_by_field_name("left"),
                    clause.child_by_field_name("right"),
                ) else {
                    continue;
                };
                let v = self.expr(e, n);
                let mut defs = Vec::new();
                self.pattern(p, n, &mut defs);
                if let Some(v) = v {
                    for d in defs {
                        self.dfg(v, d, Label::Bind, 0);
                    }
                }
            } else {
                self.expr(*clause, n);
            }
        }
        for (_, v) in &parts.opts {
            self.expr(*v, n);
        }
        self.step(n);
        self.enter_control();
        let start = self.take_flow();
        self.set_flow(Self::relabel(&start, Label::True, 0));
        let items = parts.do_.clone().unwrap_or_default();
        if items.iter().any(|i| i.kind() == "stab_clause") {
            // `reduce: acc` form: clauses on the accumulator.
            let (values, out) = self.clauses(&items, n, None, Label::Clause);
            for v in values {
                self.dfg(v, n, Label::Return, 0);
            }
            self.set_flow(out);
        } else if let Some(v) = self.body(&items, n) {
            self.dfg(v, n, Label::Return, 0);
        }
        // Back edge: the next iteration.
        let body_end = self.take_flow();
        if self.m.f.is_some() {
            for (s, l, i) in body_end {
                self.edge(EdgeKind::Cfg, s, n, l, i);
            }
            self.set_flow(vec![(n, Label::False, 0)]);
        }
        self.leave_control();
        self.m.env = env;
        n
    }

    fn fn_(&mut self, ts: Ts, parent: u32) -> u32 {
        let n = self.add(NodeKind::Fn, 0, "fn", ts, parent);
        self.step(n);
        self.enter_control();
        let items = kids(ts);
        let start = self.take_flow();
        self.set_flow(start.clone());
        // The clauses run later, when the fn is called: their flow does not
        // continue into the code after the fn.
        let (values, _) = self.clauses(&items, n, None, Label::Clause);
        for v in values {
            self.dfg(v, n, Label::Return, 0);
        }
        self.leave_control();
        self.set_flow(start);
        n
    }

    // ---- patterns ----

    /// Walk a pattern: unbound identifiers become variable definitions (pushed
    /// to `defs`), pins become uses of the pinned definition.
    fn pattern(&mut self, ts: Ts, parent: u32, defs: &mut Vec<u32>) -> u32 {
        if self.depth >= MAX_NESTING {
            return self.too_deep(ts, parent);
        }
        self.depth += 1;
        let n = self.pattern_inner(ts, parent, defs);
        self.depth -= 1;
        n
    }

    fn pattern_inner(&mut self, ts: Ts, parent: u32, defs: &mut Vec<u32>) -> u32 {
        match ts.kind() {
            "identifier" => {
                let name = self.text(ts);
                if name == "_" || name == "__MODULE__" {
                    return self.add(NodeKind::Literal, 0, name, ts, parent);
                }
                if self.m.quote_depth > 0 {
                    return self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
                }
                // The same name twice in one pattern must match the first binding.
                let earlier = defs.iter().copied().find(|d| {
                    let node = self.m.nodes[*d as usize];
                    self.m.strings[node.name as usize] == name
                });
                if let Some(first) = earlier {
                    let n = self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
                    self.dfg(first, n, Label::None, 0);
                    return n;
                }
                let n = self.add(NodeKind::Variable, Node::VAR_DEF, name, ts, parent);
                self.m.env.vars.insert(name.to_string(), n);
                defs.push(n);
                n
            }
            "unary_operator" => {
                let op = operator(ts, self.src);
                let Some(operand) = ts.child_by_field_name("operand") else {
                    return self.add(NodeKind::Literal, 0, op, ts, parent);
                };
                match op {
                    "^" => {
                        let name = self.text(operand);
                        let n = self.add(NodeKind::Variable, Node::VAR_PIN, name, ts, parent);
                        if let Some(&def) = self.m.env.vars.get(name) {
                            self.dfg(def, n, Label::Pin, 0);
                        }
                        n
                    }
                    "@" => self.attribute(ts, operand, parent),
                    _ => {
                        let n = self.add(NodeKind::Operator, 0, op, ts, parent);
                        self.pattern(operand, n, defs);
                        n
                    }
                }
            }
            "binary_operator" => {
                let op = operator(ts, self.src);
                let n = self.add(NodeKind::Operator, 0, op, ts, parent);
                if let Some(l) = ts.child_by_field_name("left") {
                    self.pattern(l, n, defs);
                }
                // `x :: binary-size(4)`: the right side is a type, not a pattern.
                if op != "::" {
                    if let Some(r) = ts.child_by_field_name("right") {
                        self.pattern(r, n, defs);
                    }
                }
                n
            }
            "list" | "tuple" | "bitstring" | "map" | "keywords" | "map_content" => {
                let n = self.add(NodeKind::Container, 0, ts.kind(), ts, parent);
                let mut items = kids(ts);
                while let Some(i) = items
                    .iter()
                    .position(|c| matches!(c.kind(), "map_content" | "keywords"))
                {
                    let inner = kids(items[i]);
                    items.splice(i..=i, inner);
                }
                for child in items {
                    if child.kind() == "struct" {
                        if let Some(name) = kids(child).first().and_then(|c| self.module_of(*c)) {
                            let line = span(child).line;
                            self.dep(&name, DepKind::Struct, line);
                            let id = self.m.intern(&name);
                            self.m.nodes[n as usize].name = id;
                        }
                        continue;
                    }
                    self.pattern(child, n, defs);
                }
                n
            }
            "pair" => match ts.child_by_field_name("value") {
                Some(v) => self.pattern(v, parent, defs),
                None => self.add(NodeKind::Literal, 0, "", ts, parent),
            },
            "call" => {
                // Macros in patterns (`is_foo(x)` guards, `<<>>` helpers): bind
                // what their arguments bind.
                let name = ts
                    .child_by_field_name("target")
                    .map(|t| self.text(t))
                    .unwrap_or("");
                let n = self.add(NodeKind::Container, 0, name, ts, parent);
                let (args, _) = Self::call_args(ts);
                for a in args {
                    self.pattern(a, n, defs);
                }
                n
            }
            "string" => {
                let text = self.text(ts);
                self.add(
                    NodeKind::Literal,
                    0,
                    &text[..floor_char(text, 64)],
                    ts,
                    parent,
                )
            }
            _ => {
                let text = self.text(ts);
                self.add(
                    NodeKind::Literal,
                    0,
                    &text[..floor_char(text, 64)],
                    ts,
                    parent,
                )
            }
        }
    }
}

/// How a call's target was determined.
enum BareOr {
    Bare(BareCall),
    Module(String),
    Dynamic(Option<String>),
}

/// The largest char boundary at or below `max`.
fn floor_char(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
