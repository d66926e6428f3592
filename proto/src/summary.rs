//! Per-module and per-function summaries: what the global analyses consume.
//!
//! A partition computes these from its fragments; the global algorithms (call
//! graph, SCC, callers, ...) run on a set of summaries. In the embedded mode the
//! set comes from one store, in a cluster it is gathered from every partition:
//! the same algorithm code runs on both.

use serde::{Deserialize, Serialize};

use crate::kinds::{CallKind, DepKind, FunKind, ModuleKind};

/// One call made by a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    pub module: Option<String>,
    pub name: String,
    pub arity: u16,
    pub kind: CallKind,
    pub quoted: bool,
    /// Imported modules that might provide a bare call (decided by the link
    /// step, which knows their exports). Empty when the target is certain.
    pub candidates: Vec<String>,
    pub line: u32,
    pub column: u32,
    /// What reaches each argument directly (through variables, operators and
    /// data structures, not through other calls): `(origin, argument index)`.
    pub inputs: Vec<(Origin, u8)>,
    /// Inputs that reach an argument only through uses of a variable under
    /// a check (`if x in @allowed`, `x =~ ~r/.../`, a literal `case`
    /// branch): `(origin, argument, checks)`, `checks` a [`Check`] bit set
    /// (one entry per distinct set). Not repeated in `inputs`.
    pub checked: Vec<(Origin, u8, u8)>,
    /// Inputs that reach an argument as the value of a keyword
    /// (`redirect(conn, external: url)`): `(origin, argument, key)`. Also
    /// in `inputs` or `checked`.
    pub keyed: Vec<(Origin, u8, String)>,
    /// For calls that hand work to another process (`GenServer.call/cast`,
    /// `send`, `spawn/3`, `Task.start/3`, ...): the literal module or atom
    /// names of the first two arguments (empty when not a literal name), for
    /// the link step. Empty for other calls.
    pub targets: Vec<String>,
    /// The clause of the calling function the call is in (from 0).
    pub clause: u16,
    /// The arguments whose shape is known (`:ping`, `{:delete, path}`), by
    /// position: which clauses of the callee (or of the process's handler,
    /// for a message) they can match.
    pub shapes: Vec<(u8, Shape)>,
}

/// What a value, or what a clause's pattern takes, is known to be, as far
/// as choosing a clause goes: a literal atom, a tuple tagged with one
/// (`{:delete, path}`), or anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Shape {
    #[default]
    Any,
    /// `:ping` (with its colon; `true`, `false` and `nil` as written).
    Atom(String),
    /// A tuple; its first element when that is a literal atom.
    Tuple(Option<String>),
    /// A literal `~r` regex (a struct: no atom or tuple pattern takes it),
    /// and whether it is anchored at both ends, so that a match confines
    /// the whole value.
    Regex { anchored: bool },
}

impl Shape {
    /// Whether a value of this shape can match a pattern of shape `pattern`
    /// (symmetric; `Any` matches everything).
    pub fn can_match(&self, pattern: &Shape) -> bool {
        match (self, pattern) {
            (Shape::Any, _) | (_, Shape::Any) => true,
            (Shape::Atom(a), Shape::Atom(b)) => a == b,
            (Shape::Tuple(Some(a)), Shape::Tuple(Some(b))) => a == b,
            (Shape::Tuple(_), Shape::Tuple(_)) => true,
            (Shape::Regex { .. }, Shape::Regex { .. }) => true,
            _ => false,
        }
    }
}

/// One clause of a function with several: where it starts and the shape of
/// each parameter's pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseShape {
    pub line: u32,
    pub params: Vec<Shape>,
}

/// Where a value inside a function comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Origin {
    /// The n-th parameter.
    Param(u8),
    /// The result of the n-th call of the function (index into `calls`).
    Call(u32),
    /// The n-th field read of the function (index into `fields`).
    Field(u32),
}

/// A field read `value.field` whose result goes somewhere (an argument or
/// the return value): sources such as `conn.params` are field reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldRead {
    pub field: String,
    pub line: u32,
}

/// Size and shape of a function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionMetrics {
    pub clauses: u32,
    /// Source lines from the first clause's first line to the last clause's last.
    pub lines: u32,
    /// McCabe's number from the CFG, summed over clauses (E - N + 2 each).
    pub cyclomatic: u32,
    /// Deepest nesting of control structures.
    pub nesting: u32,
    /// CPG nodes under the function.
    pub nodes: u32,
}

/// One function `name/arity` and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSummary {
    pub name: String,
    pub arity: u16,
    pub kind: FunKind,
    pub line: u32,
    pub callback: bool,
    pub default_of: Option<u16>,
    pub metrics: FunctionMetrics,
    pub calls: Vec<CallSummary>,
    /// Field reads that reach an argument or the return value.
    pub fields: Vec<FieldRead>,
    /// What reaches the return value directly, sorted.
    pub returns: Vec<Origin>,
    /// `@deprecated "message"`: the message.
    pub deprecated: Option<String>,
    /// What reaches the return value only under a check, as in
    /// [`CallSummary::checked`]: `(origin, checks)`.
    pub returns_checked: Vec<(Origin, u8)>,
    /// Each clause's patterns, for functions of several clauses or whose
    /// one clause takes a literal (empty otherwise: it takes anything).
    pub clauses: Vec<ClauseShape>,
    /// Functions of several clauses: what reaches the return value of which
    /// clause, `(origin, clause)`, checked or not (`returns` merges them).
    pub clause_returns: Vec<(Origin, u16)>,
}

impl FunctionSummary {
    /// The clauses (bit i for clause i; all bits when every clause can, or
    /// there are more than 64) that arguments of the shapes `shapes` (by
    /// position) can match; 0 when none can.
    pub fn matching_clauses(&self, shapes: &[(u8, Shape)]) -> u64 {
        if self.clauses.is_empty() || self.clauses.len() > 64 || shapes.is_empty() {
            return u64::MAX;
        }
        let mut mask = 0;
        for (i, c) in self.clauses.iter().enumerate() {
            let fits = shapes.iter().all(|(arg, shape)| {
                c.params
                    .get(*arg as usize)
                    .is_none_or(|p| shape.can_match(p))
            });
            if fits {
                mask |= 1 << i;
            }
        }
        if mask == u64::MAX >> (64 - self.clauses.len()) {
            u64::MAX
        } else {
            mask
        }
    }
}

/// Checks on a variable that guard its uses in a branch, as bits of
/// [`CallSummary::checked`] (and the index of a [`crate::Label::Checked`]
/// DFG edge).
#[derive(Debug)]
pub struct Check;

impl Check {
    /// `x in [...]`, `x in ~w(...)`, `x in @attr`, `x in a..b`, in a
    /// condition or a guard: `x` is one of a fixed set of values.
    pub const MEMBERSHIP: u8 = 1;
    /// `x =~ ~r/.../`, `Regex.match?(re, x)`, `String.match?(x, re)`.
    pub const REGEX: u8 = 2;
    /// A `case x do "literal" -> ...` branch: `x` is that literal.
    pub const LITERAL_CASE: u8 = 4;
    /// Read as the atom-keyed `path` field of a value whose fields are not
    /// known (`%{path: p} = upload`, `upload.path`): in request parameters,
    /// whose keys are strings, only a `%Plug.Upload{}` has it.
    pub const PATH_FIELD: u8 = 8;
    /// `String.starts_with?(path, root)` of a `path` bound to the result of
    /// `Path.expand/1,2` (no `..` left in it).
    pub const EXPANDED_PREFIX: u8 = 16;

    /// The names used in taint rules (`checks = [...]`), with their bits.
    pub const NAMES: [(&'static str, u8); 5] = [
        ("membership", Check::MEMBERSHIP),
        ("regex", Check::REGEX),
        ("literal_case", Check::LITERAL_CASE),
        ("path_field", Check::PATH_FIELD),
        ("expanded_prefix", Check::EXPANDED_PREFIX),
    ];
}

/// One dependency edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepSummary {
    pub target: String,
    pub kind: DepKind,
    pub line: u32,
}

/// One module: its functions and dependencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleSummary {
    pub name: String,
    pub file: String,
    pub kind: ModuleKind,
    pub line: u32,
    pub deps: Vec<DepSummary>,
    pub functions: Vec<FunctionSummary>,
    pub behaviours: Vec<String>,
    pub implements: Option<(String, String)>,
    /// Directives this module's `__using__` injects into modules that use it.
    pub using: Vec<DepSummary>,
    /// What this module's functions' quotes inject (see `ModuleFragment`).
    pub injections: Vec<crate::fragment::Injection>,
    /// `use M, :which`: `(M, which)`.
    pub use_args: Vec<(String, String)>,
    /// See [`crate::ModuleFragment::templates`].
    pub templates: Vec<(String, String)>,
    /// Atom names this module's processes register under
    /// (`GenServer.start_link(__MODULE__, arg, name: :name)`,
    /// `Process.register(pid, :name)`), for `send(:name, msg)` edges.
    pub registers: Vec<String>,
    /// `name/arity` this module declares with `@callback`/`@macrocallback`
    /// (it defines a behaviour), sorted.
    pub callbacks: Vec<(String, u16)>,
    pub nodes: u32,
    pub edges: u32,
}
