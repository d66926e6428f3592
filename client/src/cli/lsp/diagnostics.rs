//! Diagnostics (taint findings, cycles, smells) and the whole-graph facts
//! hover shows, computed on a thread of their own after each link.

use std::collections::HashMap;
use std::sync::Arc;

use lsp_server::{Message, Notification};
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    Position, PublishDiagnosticsParams, Range,
};
use partition::analysis;
use proto::{Query, QueryResult, SmellThresholds};
use query::answer;
use serde_json::Value;

use super::text::uri_of;
use super::{DiagnosticKinds, Facts, Publisher};

impl DiagnosticKinds {
    pub(super) fn from_options(options: &Value) -> DiagnosticKinds {
        match options["diagnostics"].as_array() {
            Some(list) => {
                let on = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
                DiagnosticKinds {
                    taint: on("taint"),
                    cycles: on("cycles"),
                    smells: on("smells"),
                }
            }
            None => DiagnosticKinds {
                taint: true,
                cycles: true,
                smells: true,
            },
        }
    }
}

impl Facts {
    pub(super) fn of(snapshot: &query::Snapshot) -> Facts {
        let mut facts = Facts {
            ready: true,
            ..Facts::default()
        };
        if let Ok(a) = answer(snapshot, &Query::Cycles) {
            if let QueryResult::Cycles(c) = &*a.result {
                for cycle in &c.functions {
                    facts
                        .in_cycle
                        .extend(cycle.functions.iter().map(ToString::to_string));
                }
            }
        }
        if let Ok(a) = answer(
            snapshot,
            &Query::DeadCode {
                entries: Vec::new(),
            },
        ) {
            if let QueryResult::DeadCode(d) = &*a.result {
                facts.dead.extend(d.iter().map(|f| f.mfa.to_string()));
            }
        }
        let rules = analysis::default_taint_rules();
        if let Ok(a) = answer(snapshot, &Query::Taint { rules }) {
            if let QueryResult::Taint(t) = &*a.result {
                for f in &t.findings {
                    facts
                        .sources
                        .extend(f.steps.first().map(|s| s.function.to_string()));
                    facts
                        .sinks
                        .extend(f.steps.last().map(|s| s.function.to_string()));
                }
            }
        }
        facts
    }

    /// The hover's line about `function`.
    pub(super) fn line(&self, function: &str) -> String {
        if !self.ready {
            return "cycles, dead code and taint: still being analysed".to_string();
        }
        let yes = |b: bool| if b { "yes" } else { "no" };
        format!(
            "in a function cycle: {}; dead (public, never called): {}; taint source: {}; taint sink: {}",
            yes(self.in_cycle.contains(function)),
            yes(self.dead.contains(function)),
            yes(self.sources.contains(function)),
            yes(self.sinks.contains(function)),
        )
    }
}

impl Publisher {
    pub(super) fn publish(&self, snapshot: Arc<query::Snapshot>) {
        use std::sync::atomic::Ordering;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let me = self.clone();
        std::thread::spawn(move || {
            let by_file = me.diagnostics(&snapshot);
            let facts = Facts::of(&snapshot);
            if me.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            if let Ok(mut f) = me.facts.lock() {
                *f = facts;
            }
            let Ok(mut published) = me.published.lock() else {
                return;
            };
            let files: std::collections::HashSet<String> = by_file.keys().cloned().collect();
            let cleared: Vec<String> = published.difference(&files).cloned().collect();
            for file in cleared.into_iter().chain(files.iter().cloned()) {
                if me.generation.load(Ordering::SeqCst) != generation {
                    return;
                }
                let Some(uri) = uri_of(&me.root.join(&file)) else {
                    continue;
                };
                let params = PublishDiagnosticsParams {
                    uri,
                    diagnostics: by_file.get(&file).cloned().unwrap_or_default(),
                    version: None,
                };
                (me.send)(Message::Notification(Notification::new(
                    "textDocument/publishDiagnostics".to_string(),
                    params,
                )));
            }
            *published = files;
        });
    }

    pub(super) fn diagnostics(
        &self,
        snapshot: &query::Snapshot,
    ) -> HashMap<String, Vec<Diagnostic>> {
        let mut out: HashMap<String, Vec<Diagnostic>> = HashMap::new();
        let line_range = |line: u32| {
            let l = line.saturating_sub(1);
            Range::new(Position::new(l, 0), Position::new(l, u32::MAX >> 1))
        };
        let mut add = |file: &str, d: Diagnostic| out.entry(file.to_string()).or_default().push(d);
        let diagnostic = |range, severity, code: String, message: String| Diagnostic {
            range,
            severity: Some(severity),
            code: Some(NumberOrString::String(code)),
            code_description: None,
            source: Some("cpg".to_string()),
            message,
            related_information: None,
            tags: None,
            data: None,
        };
        if self.kinds.taint {
            let rules = analysis::default_taint_rules();
            if let Ok(a) = answer(snapshot, &Query::Taint { rules }) {
                if let QueryResult::Taint(t) = &*a.result {
                    for f in &t.findings {
                        let Some(sink) = f.steps.last() else { continue };
                        let severity = match f.severity {
                            proto::Severity::High => DiagnosticSeverity::ERROR,
                            proto::Severity::Medium => DiagnosticSeverity::WARNING,
                            proto::Severity::Low => DiagnosticSeverity::INFORMATION,
                        };
                        let mut d = diagnostic(
                            line_range(sink.line),
                            severity,
                            format!("taint/{}", f.sink.replace(' ', "-")),
                            format!(
                                "{} reaches {} ({}) in {} steps",
                                f.source,
                                f.sink,
                                f.sink_call,
                                f.steps.len()
                            ),
                        );
                        d.related_information = Some(
                            f.steps
                                .iter()
                                .filter_map(|s| {
                                    Some(DiagnosticRelatedInformation {
                                        location: Location::new(
                                            uri_of(&self.root.join(&s.file))?,
                                            line_range(s.line),
                                        ),
                                        message: s.what.clone(),
                                    })
                                })
                                .collect(),
                        );
                        add(&sink.file, d);
                    }
                }
            }
        }
        if self.kinds.cycles {
            if let Ok(a) = answer(snapshot, &Query::Cycles) {
                if let QueryResult::Cycles(c) = &*a.result {
                    for cycle in &c.modules {
                        let message = format!(
                            "in a module cycle: {} depend on each other",
                            cycle.modules.join(", ")
                        );
                        for m in &cycle.modules {
                            if let Some(s) = snapshot.summaries.iter().find(|s| &s.name == m) {
                                add(
                                    &s.file,
                                    diagnostic(
                                        line_range(s.line),
                                        DiagnosticSeverity::WARNING,
                                        "cycle/modules".to_string(),
                                        message.clone(),
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        if self.kinds.smells {
            let thresholds = SmellThresholds::default();
            if let Ok(a) = answer(snapshot, &Query::Smells { thresholds }) {
                if let QueryResult::Smells(list) = &*a.result {
                    for s in list {
                        add(
                            &s.file,
                            diagnostic(
                                line_range(s.line),
                                DiagnosticSeverity::INFORMATION,
                                format!("smell/{}", s.kind),
                                format!(
                                    "{}: {} ({})",
                                    s.subject,
                                    s.kind.replace('_', " "),
                                    s.detail
                                ),
                            ),
                        );
                    }
                }
            }
        }
        out
    }
}
