//! Wire types of the CPG service: everything that crosses a process boundary.
//!
//! The CPG of one Elixir module is a [`ModuleFragment`]; what global analyses
//! consume is its [`ModuleSummary`]. Both are plain data. Also here: queries
//! and their answers (`results`), the catalog's project and library names
//! (`projects`), health reports, each partition's share of a linked call
//! graph for walks on the storage nodes (`walks`), the structured [`CpgError`] and the tarpc
//! services (`node_api`, `coordinator_api`). How these travel (framing, TLS,
//! clients) is the `net` crate's concern.

pub mod assignment;
pub mod coordinator_api;
pub mod encoding;
pub mod error;
pub mod fragment;
pub mod health;
pub mod kinds;
pub mod mfa;
pub mod node_api;
pub mod projects;
pub mod results;
pub mod summary;
pub mod walks;

pub use error::CpgError;
pub use fragment::{
    CallSite, ClauseDef, Diagnostic, Edge, FileCpg, FunctionDef, Injection, InjectionKind,
    ModuleDep, ModuleFragment, Node, Span, StrId, ANY_ARITY,
};
pub use health::{
    CacheCleanup, ClusterHealth, Indicator, LatencySummary, NodeDiagnosis, NodeDiagnosisReport,
    NodeEntry, NodeHealth, PartitionDefrag, PartitionHealth, RaftHealth, Recommendation,
    SnapshotHealth, TablesStatus,
};
pub use kinds::{CallKind, DepKind, EdgeKind, FunKind, Label, ModuleKind, NodeKind};
pub use mfa::{Mfa, MfaParseError};
pub use results::defaults;
pub use results::{
    export_chunk_end, Affected, AnalyzeReport, Answer, CallRow, Centrality, CentralityRow,
    Communities, CommunityAlgorithm, Cycles, DeadFunction, DeprecatedCalls, ExportChunk,
    ExportFormat, ExportKind, FeatureRow, FunctionCycle, FunctionEdge, FunctionRank, GraphKind,
    Impact, LibraryPackage, Metric, ModuleCycle, ModuleEdge, ModuleGraph, ModuleNode,
    ParameterRule, Paths, Query, QueryResult, Reached, Severity, Smell, SmellThresholds,
    SummarySet, Taint, TaintFinding, TaintRule, TaintRules, TaintStep, EXPORT_CHUNK_BYTES,
};
pub use summary::{
    CallSummary, Check, ClauseShape, DepSummary, FieldRead, FunctionMetrics, FunctionSummary,
    ModuleSummary, Origin, Shape,
};
