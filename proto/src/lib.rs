//! Wire types of the CPG service: everything that crosses a process boundary.
//!
//! The CPG of one Elixir module is a [`ModuleFragment`]; what global analyses
//! consume is its [`ModuleSummary`]. Both are plain data: no logic lives here
//! beyond small helpers for display and parsing of `Module.fun/arity` names.

pub mod fragment;
pub mod kinds;
pub mod mfa;
pub mod summary;

pub use fragment::{
    CallSite, ClauseDef, Diagnostic, Edge, FileCpg, FunctionDef, ModuleDep, ModuleFragment, Node,
    Span, StrId,
};
pub use kinds::{CallKind, DepKind, EdgeKind, FunKind, Label, ModuleKind, NodeKind};
pub use mfa::{Mfa, MfaParseError};
pub use summary::{CallSummary, DepSummary, FunctionMetrics, FunctionSummary, ModuleSummary};
