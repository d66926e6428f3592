//! Global analyses over a set of module summaries. The same code runs on the
//! summaries of one embedded store and on summaries gathered from a cluster's
//! partitions, so both modes give the same answers by construction.

mod callgraph;
mod centrality;
mod communities;
mod cycles;
mod deadcode;
mod features;
mod impact;
mod metrics;
mod module_graph;
mod paths;
mod smells;
mod taint;
mod templates;

pub use callgraph::{CallEdge, CallGraph, FnInfo, GraphChanges};
pub use centrality::{betweenness_and_closeness, centrality, pagerank, NameGraph, DAMPING};
pub use communities::{label_propagation, louvain, modularity};
pub use cycles::{function_cycles, module_cycles, module_edges};
pub use deadcode::dead_code;
pub use features::features;
pub use impact::{function_impact, function_impact_of, module_impact};
pub use metrics::{most_called, most_complex};
pub use module_graph::module_graph;
pub use paths::{paths, shortest_path};
pub use proto::{FunctionRank, ModuleCycle, ModuleEdge, Reached};
pub use smells::{default_smell_thresholds_toml, parse_smell_thresholds, smells};
pub use taint::{default_taint_rules, parse_taint_rules, taint, DEFAULT_TAINT_RULES};
pub use templates::attach_templates;
