//! Requests and notifications, answered from the index.

use lsp_server::{Notification, Request};
use lsp_types::{
    CallHierarchyIncomingCall, CallHierarchyItem, CallHierarchyOutgoingCall, CodeLens,
    Command as LspCommand, DocumentSymbol, DocumentSymbolResponse, GotoDefinitionResponse, Hover,
    HoverContents, Location, MarkupContent, MarkupKind, Position, Range, SymbolInformation,
    SymbolKind,
};
use proto::Mfa;
use serde_json::Value;

use super::text::utf16_of;
use super::{to_json, Index, Target, MAX_SYMBOLS};

impl Index {
    /// The answer to `req`, as JSON text.
    pub(super) fn request(&mut self, req: Request) -> std::result::Result<String, String> {
        let p = &req.params;
        match req.method.as_str() {
            "textDocument/definition" => {
                let Some((_, o)) = self.at(p)? else {
                    return Ok("null".into());
                };
                let found = self
                    .definitions
                    .get(&o.target)
                    .and_then(|(file, d)| self.location(file, d));
                Ok(to_json(&found.map(GotoDefinitionResponse::Scalar)))
            }
            "textDocument/references" => {
                let Some((_, o)) = self.at(p)? else {
                    return Ok("[]".into());
                };
                let mut out: Vec<Location> = Vec::new();
                if p["context"]["includeDeclaration"]
                    .as_bool()
                    .unwrap_or(false)
                {
                    if let Some((file, d)) = self.definitions.get(&o.target) {
                        out.extend(self.location(file, d));
                    }
                }
                if let Target::Function(id) = o.target {
                    for (file, r) in self.references.get(&id).into_iter().flatten() {
                        out.extend(self.location(file, r));
                    }
                }
                Ok(to_json(&out))
            }
            "textDocument/prepareCallHierarchy" => {
                let Some((_, o)) = self.at(p)? else {
                    return Ok("null".into());
                };
                let Target::Function(id) = o.target else {
                    return Ok("null".into());
                };
                Ok(to_json(&self.item(id, None).map(|i| vec![i])))
            }
            "callHierarchy/incomingCalls" => self.calls(p, true, |from, from_ranges| {
                CallHierarchyIncomingCall { from, from_ranges }
            }),
            "callHierarchy/outgoingCalls" => self.calls(p, false, |to, from_ranges| {
                CallHierarchyOutgoingCall { to, from_ranges }
            }),
            "workspace/symbol" => {
                let q = p["query"].as_str().unwrap_or("").to_lowercase();
                let mut out: Vec<SymbolInformation> = Vec::new();
                for (target, (file, o)) in &self.definitions {
                    let (name, kind) = match target {
                        Target::Function(id) => {
                            (self.graph.mfa(*id).to_string(), SymbolKind::FUNCTION)
                        }
                        Target::Module(m) => (m.clone(), SymbolKind::MODULE),
                    };
                    if !name.to_lowercase().contains(&q) {
                        continue;
                    }
                    if let Some(location) = self.location(file, o) {
                        #[allow(deprecated)]
                        out.push(SymbolInformation {
                            name,
                            kind,
                            tags: None,
                            deprecated: None,
                            location,
                            container_name: None,
                        });
                    }
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                out.truncate(MAX_SYMBOLS);
                Ok(to_json(&out))
            }
            "textDocument/documentSymbol" => {
                let file = self.document(p)?;
                let mut out = Vec::new();
                for m in self.summaries.iter().filter(|m| m.file == file) {
                    let Some((_, mo)) = self.definitions.get(&Target::Module(m.name.clone()))
                    else {
                        continue;
                    };
                    let mut children = Vec::new();
                    let mut last_line = mo.line;
                    for f in &m.functions {
                        let Some(id) = self.graph.id(&Mfa::new(&m.name, &f.name, f.arity)) else {
                            continue;
                        };
                        let Some(item) = self.item(id, None) else {
                            continue;
                        };
                        last_line = last_line.max(item.range.end.line);
                        #[allow(deprecated)]
                        children.push(DocumentSymbol {
                            name: format!("{}/{}", f.name, f.arity),
                            detail: Some(format!("{:?}", f.kind).to_lowercase()),
                            kind: SymbolKind::FUNCTION,
                            tags: None,
                            deprecated: None,
                            range: item.range,
                            selection_range: item.selection_range,
                            children: None,
                        });
                    }
                    let selection = self.range(&file, mo);
                    #[allow(deprecated)]
                    out.push(DocumentSymbol {
                        name: m.name.clone(),
                        detail: None,
                        kind: SymbolKind::MODULE,
                        tags: None,
                        deprecated: None,
                        range: Range::new(
                            Position::new(mo.line, 0),
                            Position::new(
                                last_line,
                                utf16_of(self.line(&file, last_line), usize::MAX),
                            ),
                        ),
                        selection_range: selection,
                        children: Some(children),
                    });
                }
                Ok(to_json(&DocumentSymbolResponse::Nested(out)))
            }
            "textDocument/hover" => {
                let Some((_, o)) = self.at(p)? else {
                    return Ok("null".into());
                };
                let text = match &o.target {
                    Target::Function(id) => {
                        let mfa = self.graph.mfa(*id);
                        let callers: std::collections::BTreeSet<u32> =
                            self.graph.calls_to(*id).map(|e| e.caller).collect();
                        let callees: std::collections::BTreeSet<u32> =
                            self.graph.calls_from(*id).map(|e| e.callee).collect();
                        let mut s = format!("**{mfa}**\n\n");
                        if let Some(f) = self.summary(*id) {
                            s.push_str(&format!(
                                "{} clause(s), {} line(s), cyclomatic complexity {}, nesting {}\n\n",
                                f.metrics.clauses, f.metrics.lines, f.metrics.cyclomatic, f.metrics.nesting
                            ));
                        } else {
                            s.push_str("not in the analysed code\n\n");
                        }
                        s.push_str(&format!(
                            "called by {} function(s) ({} call sites); calls {} function(s)",
                            callers.len(),
                            self.references.get(id).map_or(0, Vec::len),
                            callees.len()
                        ));
                        if let Ok(facts) = self.publisher.facts.lock() {
                            s.push_str("\n\n");
                            s.push_str(&facts.line(&mfa.to_string()));
                        }
                        s
                    }
                    Target::Module(m) => {
                        let functions = self
                            .modules
                            .get(m)
                            .map_or(0, |&i| self.summaries[i].functions.len());
                        format!("**{m}**\n\n{functions} function(s)")
                    }
                };
                Ok(to_json(&Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: text,
                    }),
                    range: None,
                }))
            }
            "textDocument/codeLens" => {
                let file = self.document(p)?;
                let lenses: Vec<CodeLens> = self
                    .files
                    .get(&file)
                    .into_iter()
                    .flatten()
                    .filter(|o| o.definition)
                    .filter_map(|o| match o.target {
                        // Resolved lazily: the client asks for the count
                        // of the lenses it shows (`codeLens/resolve`).
                        Target::Function(id) => Some(CodeLens {
                            range: self.range(&file, o),
                            command: None,
                            data: Some(Value::String(self.graph.mfa(id).to_string())),
                        }),
                        Target::Module(_) => None,
                    })
                    .collect();
                Ok(to_json(&lenses))
            }
            "codeLens/resolve" => {
                let mut lens: CodeLens = serde_json::from_value(p.clone())
                    .map_err(|e| format!("not a code lens: {e}"))?;
                let name = lens
                    .data
                    .as_ref()
                    .and_then(Value::as_str)
                    .ok_or("a code lens of cpg lsp carries its function as data")?;
                let mfa: Mfa = name
                    .parse()
                    .map_err(|_| format!("not Module.fun/arity: {name}"))?;
                let id = self
                    .graph
                    .id(&mfa)
                    .ok_or_else(|| format!("{name} is not in the analysed code any more"))?;
                let callers: std::collections::BTreeSet<u32> =
                    self.graph.calls_to(id).map(|e| e.caller).collect();
                lens.command = Some(LspCommand {
                    title: match callers.len() {
                        1 => "1 caller".to_string(),
                        n => format!("{n} callers"),
                    },
                    command: String::new(),
                    arguments: None,
                });
                Ok(to_json(&lens))
            }
            other => Err(format!("cpg lsp does not answer {other}")),
        }
    }

    /// `callHierarchy/incomingCalls` (`incoming`) or `outgoingCalls`: the
    /// item's callers or callees, each made an answer's call by `call`.
    fn calls<T: serde::Serialize>(
        &self,
        p: &Value,
        incoming: bool,
        call: fn(CallHierarchyItem, Vec<Range>) -> T,
    ) -> std::result::Result<String, String> {
        let calls: Vec<T> = self
            .hierarchy(self.item_id(p)?, incoming)
            .into_iter()
            .map(|(item, ranges)| call(item, ranges))
            .collect();
        Ok(to_json(&calls))
    }

    pub(super) fn notification(&mut self, note: Notification) -> std::result::Result<(), String> {
        let p = &note.params;
        match note.method.as_str() {
            "textDocument/didOpen" | "textDocument/didChange" => {
                let file = self.document(p)?;
                let text = p["textDocument"]["text"]
                    .as_str()
                    .or_else(|| p["contentChanges"][0]["text"].as_str());
                if let Some(text) = text {
                    let lines: Vec<String> = text.lines().map(str::to_string).collect();
                    let source = file.ends_with(".ex") || file.ends_with(".exs");
                    // Opening a document as saved changes nothing; an edit,
                    // or a text unlike the file's, is analysed before the
                    // next request.
                    let as_analysed = if self.unsaved.contains(&file) {
                        self.open.get(&file)
                    } else {
                        self.texts.get(&file)
                    };
                    if source && as_analysed != Some(&lines) {
                        self.pending.insert(file.clone(), text.to_string());
                    }
                    self.open.insert(file, lines);
                }
            }
            "textDocument/didClose" => {
                let file = self.document(p)?;
                self.open.remove(&file);
                self.pending.remove(&file);
                // Closed without saving: the file's text counts again.
                if self.unsaved.contains(&file) {
                    self.saved(&file);
                }
            }
            "textDocument/didSave" => {
                let file = self.document(p)?;
                self.saved(&file);
            }
            "workspace/didChangeWatchedFiles" => {
                let changes = p["changes"].as_array().cloned().unwrap_or_default();
                let files: Vec<String> = changes
                    .iter()
                    .filter_map(|c| c["uri"].as_str().and_then(|u| self.relative(u).ok()))
                    .collect();
                self.saved_all(&files);
            }
            _ => {}
        }
        Ok(())
    }
}
