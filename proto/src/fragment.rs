//! The CPG fragment of one module: nodes and edges with module-local ids, plus
//! references out of the module by name (calls and dependencies).

use serde::{Deserialize, Serialize};

use crate::kinds::{CallKind, DepKind, EdgeKind, FunKind, Label, ModuleKind, NodeKind};

/// Index into a fragment's string table.
pub type StrId = u32;

/// Source position: 1-based lines, 0-based columns (in bytes, clipped to u16).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub line: u32,
    pub end_line: u32,
    pub col: u16,
    pub end_col: u16,
}

/// One CPG node. `name` is a string-table index whose meaning depends on the
/// kind (function name, variable name, callee name, literal text, operator...).
/// `sub` is a kind-specific byte: the [`CallKind`] of a call, the
/// [`crate::FunKind`] of a function, [`Node::VAR_DEF`]/[`Node::VAR_USE`]/
/// [`Node::VAR_PIN`] for variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub kind: NodeKind,
    pub sub: u8,
    pub name: StrId,
    pub span: Span,
}

impl Node {
    pub const VAR_DEF: u8 = 0;
    pub const VAR_USE: u8 = 1;
    pub const VAR_PIN: u8 = 2;
}

/// One intra-module edge between two nodes of the same fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edge {
    pub src: u32,
    pub dst: u32,
    pub kind: EdgeKind,
    pub label: Label,
    /// Clause or argument index for [`Label::Clause`], [`Label::Rescue`],
    /// [`Label::Catch`] and [`Label::Arg`]; 0 otherwise.
    pub index: u16,
}

/// The arity of a [`CallKind::Reference`] written `{Module, :fun}`: the
/// receiver picks the arity, so it refers to every `fun` the module has.
pub const ANY_ARITY: u16 = u16::MAX;

/// A call site and the function it calls, resolved as the compiler would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSite {
    /// The Call node.
    pub node: u32,
    /// Index into [`ModuleFragment::functions`] of the calling function.
    pub caller: u32,
    /// Callee module (`Enum`, `:ets`); `None` when unknown (dynamic, unresolved).
    pub module: Option<StrId>,
    pub name: StrId,
    pub arity: u16,
    pub kind: CallKind,
    /// Inside a `quote`: code generated for another module, not a call made here.
    pub quoted: bool,
    /// For a bare call with several imports that might provide it: the imported
    /// modules, to be decided by a global link step that knows their exports.
    pub candidates: Vec<StrId>,
}

/// One clause of a function: its node and the Entry/Exit of its CFG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseDef {
    pub node: u32,
    pub entry: u32,
    pub exit: u32,
    /// Nodes `node..end` belong to this clause (they are created contiguously).
    pub end: u32,
}

/// One function `name/arity` of the module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: StrId,
    pub arity: u16,
    pub kind: FunKind,
    /// The Function node.
    pub node: u32,
    pub clauses: Vec<ClauseDef>,
    /// Marked `@impl` (a behaviour callback).
    pub callback: bool,
    /// Set when this arity exists only because of default arguments: the arity of
    /// the full function it delegates to.
    pub default_of: Option<u16>,
    /// Deepest nesting of control structures in any clause.
    pub nesting: u32,
    pub span: Span,
    /// `@deprecated "message"` before the definition: the message.
    pub deprecated: Option<String>,
}

/// A dependency of this module on another, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleDep {
    pub target: StrId,
    pub kind: DepKind,
    pub line: u32,
}

/// The CPG of one module (or of a script's top-level code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleFragment {
    pub name: String,
    pub file: String,
    pub kind: ModuleKind,
    pub span: Span,
    /// Local string table; every `StrId` in this fragment indexes it.
    pub strings: Vec<String>,
    /// Node 0 is the Module node.
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub calls: Vec<CallSite>,
    pub functions: Vec<FunctionDef>,
    pub deps: Vec<ModuleDep>,
    /// `@behaviour` modules, as written after alias expansion.
    pub behaviours: Vec<StrId>,
    /// For `defimpl P, for: T`: `(P, T)`.
    pub implements: Option<(StrId, StrId)>,
    /// Directives quoted inside `__using__` (or ExUnit's `using`): what a
    /// module that `use`s this one gets, resolved by the link step.
    pub using: Vec<ModuleDep>,
    /// What functions' quotes inject where they are expanded (defs quoted
    /// by `__using__`, directives quoted by the public functions behind the
    /// `use M, :which` idiom), for the link step.
    pub injections: Vec<Injection>,
    /// `use M, :which`: `(M, which)` for the idiom above.
    pub use_args: Vec<(String, String)>,
    /// `embed_templates "dir/*", suffix: "_x"`: the template files it
    /// takes, as a path pattern from the project root
    /// (`lib/app_web/page_html/*`, matched as Phoenix does with `.*` after
    /// it; `*` does not cross a `/`), and the suffix of the functions'
    /// names.
    pub templates: Vec<(String, String)>,
}

/// One thing a function's `quote` injects into the module that expands it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Injection {
    /// The quoting function (`__using__`, or the `:which` of the idiom).
    pub by: String,
    pub kind: InjectionKind,
    /// A module (directives), a function name (`Def`, `Splice`).
    pub name: String,
    /// The defined function's arity (`Def`), else 0.
    pub arity: u16,
}

/// What an [`Injection`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum InjectionKind {
    /// `import`, `alias`, `require` or `use` of `name`.
    Directive(DepKind),
    /// `def name(...)`: a public function of the expanding module.
    Def,
    /// `defp name(...)`: a private one.
    Defp,
    /// `unquote(name(...))`: the quotes of the local function `name`.
    Splice,
    /// `@before_compile name`: what `name.__before_compile__` quotes.
    BeforeCompile,
    /// A call in the quote to `name/arity` of the expanding module: a bare
    /// call, or `__MODULE__.name(...)`/`&__MODULE__.name/arity`.
    Call,
}

impl ModuleFragment {
    /// The string behind a local id ("" for an out-of-range id, which a
    /// well-formed fragment never has).
    pub fn str(&self, id: StrId) -> &str {
        self.strings
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// A parse problem: the file still yields what could be built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Everything built from one source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCpg {
    pub file: String,
    /// xxh3-64 of the file's bytes.
    pub content_hash: u64,
    pub fragments: Vec<ModuleFragment>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Most nodes, strings, edges or calls a fragment may hold (a fragment of
/// the largest module of the Elixir corpus has about 60,000 nodes).
pub const MAX_FRAGMENT_ITEMS: usize = 1 << 24;

/// A place in a fragment, for [`ModuleFragment::check`]'s messages: a kind
/// of item and its index (`edge 3`), or a kind alone (`a dependency`).
#[derive(Clone, Copy)]
struct Place<'a>(&'a str, Option<usize>);

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(i) => write!(f, "{} {i}", self.0),
            None => f.write_str(self.0),
        }
    }
}

impl ModuleFragment {
    /// Whether the fragment is well formed, as a node checks one that
    /// arrives over the network before writing it: every string id inside
    /// the string table, every node id inside the node table (node 0, the
    /// module, present), calls made by functions it has, clauses inside the
    /// nodes, sizes bounded, and the module named. The error says what is
    /// wrong and where.
    pub fn check(&self) -> Result<(), String> {
        let at = |what: String| format!("module {:?} of {:?}: {what}", self.name, self.file);
        let (strings, nodes, functions) =
            (self.strings.len(), self.nodes.len(), self.functions.len());
        for (what, n) in [
            ("strings", strings),
            ("nodes", nodes),
            ("edges", self.edges.len()),
            ("calls", self.calls.len()),
            ("functions", functions),
        ] {
            if n > MAX_FRAGMENT_ITEMS {
                return Err(at(format!("{n} {what}, more than {MAX_FRAGMENT_ITEMS}")));
            }
        }
        if self.name.is_empty() {
            return Err(at("no module name".into()));
        }
        if nodes == 0 {
            return Err(at("no nodes (node 0 is the module)".into()));
        }
        // Where a bad reference is, named only when one is found: this runs
        // over every node and edge of every file a node writes.
        let within = |what: Place, id: u32, table: &str, len: usize| {
            if (id as usize) < len {
                Ok(())
            } else {
                Err(at(format!(
                    "{what} names {table} {id}, past the {len} {table}s"
                )))
            }
        };
        let string = |what: Place, id: StrId| within(what, id, "string", strings);
        let node = |what: Place, id: u32| within(what, id, "node", nodes);
        for (i, n) in self.nodes.iter().enumerate() {
            // A node's name may be unused (0) with an empty table.
            if strings > 0 || n.name != 0 {
                string(Place("node", Some(i)), n.name)?;
            }
        }
        for (i, e) in self.edges.iter().enumerate() {
            node(Place("edge", Some(i)), e.src)?;
            node(Place("edge", Some(i)), e.dst)?;
        }
        for (i, c) in self.calls.iter().enumerate() {
            let what = Place("call", Some(i));
            node(what, c.node)?;
            if c.caller as usize >= functions {
                return Err(at(format!(
                    "{what} is made by function {}, past the {functions} functions",
                    c.caller
                )));
            }
            string(what, c.name)?;
            for id in c.module.iter().chain(&c.candidates) {
                string(what, *id)?;
            }
        }
        for (i, f) in self.functions.iter().enumerate() {
            let what = Place("function", Some(i));
            string(what, f.name)?;
            node(what, f.node)?;
            for c in &f.clauses {
                for id in [c.node, c.entry, c.exit] {
                    node(what, id)?;
                }
                if c.end < c.node || c.end as usize > nodes {
                    return Err(at(format!(
                        "{what} has a clause of nodes {}..{}, outside 0..{nodes}",
                        c.node, c.end
                    )));
                }
            }
        }
        for d in self.deps.iter().chain(&self.using) {
            string(Place("a dependency", None), d.target)?;
        }
        for id in self
            .behaviours
            .iter()
            .chain(self.implements.iter().flat_map(|(p, t)| [p, t]))
        {
            string(Place("a behaviour or implementation", None), *id)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{CallKind, EdgeKind, FunKind, Label, ModuleKind, NodeKind};

    /// `defmodule A do def f, do: g() end`, small and well formed.
    fn fragment() -> ModuleFragment {
        let node = |kind| Node {
            kind,
            sub: 0,
            name: 0,
            span: Span::default(),
        };
        ModuleFragment {
            name: "A".into(),
            file: "lib/a.ex".into(),
            kind: ModuleKind::Module,
            span: Span::default(),
            strings: vec!["A".into(), "f".into(), "g".into()],
            nodes: vec![
                node(NodeKind::Module),
                node(NodeKind::Function),
                node(NodeKind::Call),
            ],
            edges: vec![Edge {
                src: 1,
                dst: 2,
                kind: EdgeKind::Ast,
                label: Label::None,
                index: 0,
            }],
            calls: vec![CallSite {
                node: 2,
                caller: 0,
                module: None,
                name: 2,
                arity: 0,
                kind: CallKind::Local,
                quoted: false,
                candidates: Vec::new(),
            }],
            functions: vec![FunctionDef {
                name: 1,
                arity: 0,
                kind: FunKind::Def,
                node: 1,
                clauses: vec![ClauseDef {
                    node: 1,
                    entry: 1,
                    exit: 2,
                    end: 3,
                }],
                callback: false,
                default_of: None,
                nesting: 0,
                span: Span::default(),
                deprecated: None,
            }],
            deps: Vec::new(),
            behaviours: Vec::new(),
            implements: None,
            using: Vec::new(),
            injections: Vec::new(),
            use_args: Vec::new(),
            templates: Vec::new(),
        }
    }

    #[test]
    fn a_well_formed_fragment_passes_and_each_broken_reference_is_named() {
        assert_eq!(fragment().check(), Ok(()));
        type Breaking = fn(&mut ModuleFragment);
        let broken: Vec<(Breaking, &str)> = vec![
            (
                |f| f.edges[0].dst = 9,
                "edge 0 names node 9, past the 3 nodes",
            ),
            (
                |f| f.calls[0].name = 7,
                "call 0 names string 7, past the 3 strings",
            ),
            (
                |f| f.calls[0].caller = 1,
                "call 0 is made by function 1, past the 1 functions",
            ),
            (|f| f.calls[0].node = 3, "call 0 names node 3"),
            (
                |f| f.functions[0].clauses[0].end = 4,
                "a clause of nodes 1..4, outside 0..3",
            ),
            (|f| f.functions[0].name = 3, "function 0 names string 3"),
            (|f| f.nodes.clear(), "no nodes"),
            (|f| f.name.clear(), "no module name"),
            (
                |f| f.behaviours.push(5),
                "a behaviour or implementation names string 5",
            ),
        ];
        for (breaking, says) in broken {
            let mut f = fragment();
            breaking(&mut f);
            let why = f.check().expect_err(says);
            assert!(why.contains(says), "{why:?} should say {says:?}");
            assert!(why.contains("module \"A\"") || f.name.is_empty(), "{why}");
        }
    }
}
