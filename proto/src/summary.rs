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
    /// Which parameters of the caller reach which argument of this call:
    /// `(parameter index, argument index)` pairs.
    pub param_args: Vec<(u8, u8)>,
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
    /// Bit i set: parameter i reaches the return value.
    pub params_to_return: u64,
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
    pub nodes: u32,
    pub edges: u32,
}
