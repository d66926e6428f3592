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
    CallKind, CallSite, ClauseDef, DepKind, Edge, EdgeKind, FunKind, FunctionDef, Injection,
    InjectionKind, Label, ModuleDep, ModuleFragment, ModuleKind, Node, NodeKind, Span, StrId,
};
use tree_sitter::Node as Ts;

mod checks;
pub(crate) use checks::anchored_regex;
mod control;
mod definitions;
mod expressions;
mod patterns;
mod phoenix;

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

/// The operand of a `unary_operator`. For `&(expr)` tree-sitter-elixir's
/// `operand` field is the `(` token; the expression is the named child.
fn operand(n: Ts) -> Option<Ts> {
    let field = n.child_by_field_name("operand")?;
    if field.is_named() {
        Some(field)
    } else {
        kids(n).into_iter().next_back()
    }
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

/// A set of `name/arity`.
pub(super) type NameArities = HashSet<(String, u16)>;

/// Atoms bound at module level, for definitions named by `unquote`
/// (`for verb <- @verbs, do: def unquote(verb)(...)`).
#[derive(Debug, Default, Clone)]
pub(super) struct Names {
    /// `@attr [:a, :b]`.
    attributes: HashMap<String, Vec<String>>,
    /// `@attr [a: x, b: y]` (or `[a: x] ++ ...`): the keys written.
    keyword_keys: HashMap<String, Vec<String>>,
    /// Generator variables of the module-level `for` being walked.
    vars: HashMap<String, Vec<String>>,
    /// Definitions written with `def` and friends (prescan only).
    explicit: HashSet<(String, u16)>,
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
    /// Those of `locals` written with `def` and friends.
    explicit: HashSet<(String, u16)>,
    env: Env,
    f: Option<FnCtx>,
    /// `@impl` seen: the next definition is a callback.
    pending_impl: bool,
    /// `@deprecated "message"` seen: the next definition's message.
    pending_deprecated: Option<String>,
    quote_depth: u32,
    /// Inside `defmacro __using__` or ExUnit's `using` block.
    in_using: u32,
    using: Vec<ModuleDep>,
    /// The function being defined (name and arity), for injections.
    current_fn: Option<(String, u16)>,
    injections: Vec<Injection>,
    use_args: Vec<(String, String)>,
    templates: Vec<(String, String)>,
    names: Names,
    /// Phoenix router `scope` aliases around the call being walked.
    scopes: Vec<Option<String>>,
    /// The Phoenix router `pipeline` whose block is being walked.
    pipeline: Option<String>,
    /// Inside the arguments of an Ecto query macro.
    in_query: u32,
    /// Per enclosing `quote`: whether its `unquote` is off (`bind_quoted:`).
    literal_quotes: Vec<bool>,
    /// The bytes of the path argument of `put_in`/`update_in`/... being walked.
    path: Option<std::ops::Range<usize>>,
    /// Ecto associations and embeds declared so far: field → schema module.
    assocs: HashMap<String, String>,
    /// The keyword key of the `__using__` clause being walked, if any.
    using_key: Option<String>,
    /// Variables (their definition nodes) under a check in the branch being
    /// walked, with the [`proto::Check`] bits: their uses get a
    /// `Label::Checked` DFG edge.
    checked: Vec<(u32, u8)>,
    /// The variable a `case` is over, for its clauses' literal patterns.
    case_subject: Option<u32>,
    /// Variables a pattern binds under a literal map key (`%{path: p}`,
    /// `%{"name" => n}`): definition node → the key ([`field_key`]), the
    /// innermost one. Their `Label::Bind` edges carry it.
    bound_under: HashMap<u32, StrId>,
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
            explicit: HashSet::new(),
            env,
            f: None,
            pending_impl: false,
            pending_deprecated: None,
            quote_depth: 0,
            in_using: 0,
            using: Vec::new(),
            current_fn: None,
            injections: Vec::new(),
            use_args: Vec::new(),
            templates: Vec::new(),
            names: Names::default(),
            scopes: Vec::new(),
            pipeline: None,
            in_query: 0,
            literal_quotes: Vec::new(),
            path: None,
            assocs: HashMap::new(),
            using_key: None,
            checked: Vec::new(),
            bound_under: HashMap::new(),
            case_subject: None,
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
                deprecated: None,
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
            injections: self.injections,
            use_args: self.use_args,
            templates: self.templates,
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
    /// Inside a guard (`when ...`), where `in` is a compile-time check.
    in_guard: u32,
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
            in_guard: 0,
        };
        let items = kids(root);
        (b.m.locals, b.m.explicit) = b.prescan(&items);
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

    /// A control structure at node `n` (`case`, `cond`, `if`, `with`,
    /// `receive`, `try`): the flow steps into it, `branches` builds them one
    /// nesting level deeper and returns the flows out of them, where the
    /// flow goes on. Returns `n`.
    fn control(&mut self, n: u32, branches: impl FnOnce(&mut Self) -> Vec<Pending>) -> u32 {
        self.step(n);
        self.enter_control();
        let out = branches(self);
        self.leave_control();
        self.set_flow(out);
        n
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

    /// Record a call site made by the current function (or module body).
    /// `caller` overrides the current function (synthetic calls of default
    /// arities and delegates belong to the function they stand for).
    #[allow(clippy::too_many_arguments)]
    fn push_call(
        &mut self,
        node: u32,
        caller: Option<u32>,
        module: Option<&str>,
        name: &str,
        arity: u16,
        kind: CallKind,
        candidates: &[String],
    ) {
        let caller = caller
            .or(self.m.f.as_ref().map(|f| f.fun))
            .unwrap_or(MODULE_BODY);
        let module = module.map(|m| self.m.intern(m));
        let name = self.m.intern(name);
        let candidates = candidates.iter().map(|c| self.m.intern(c)).collect();
        let quoted = self.m.quote_depth > 0;
        self.m.calls.push(CallSite {
            node,
            caller,
            module,
            name,
            arity,
            kind,
            quoted,
            candidates,
        });
    }

    /// `%Name{}` in an expression or pattern: a struct dependency, and the
    /// container node is named after the struct.
    fn struct_dep(&mut self, child: Ts, container: u32) {
        if let Some(name) = kids(child).first().and_then(|c| self.module_of(*c)) {
            self.dep(&name, DepKind::Struct, span(child).line);
            let id = self.m.intern(&name);
            self.m.nodes[container as usize].name = id;
        }
    }

    /// A `when` guard of a clause: a Guard node; `in` inside it is a
    /// compile-time check, not a call.
    fn guard(&mut self, g: Ts, clause: u32) {
        let gnode = self.add(NodeKind::Guard, 0, "when", g, clause);
        self.in_guard += 1;
        self.expr(g, gnode);
        self.in_guard -= 1;
        self.step(gnode);
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
}

/// Where a call stands: its syntax node, the node it hangs under, and the
/// value piped into it (`x |> f()`), if any.
#[derive(Clone, Copy)]
struct Site<'t> {
    ts: Ts<'t>,
    parent: u32,
    piped: Option<u32>,
}

impl<'t> Site<'t> {
    fn new(ts: Ts<'t>, parent: u32, piped: Option<u32>) -> Self {
        Site { ts, parent, piped }
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
