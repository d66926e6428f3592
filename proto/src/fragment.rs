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
