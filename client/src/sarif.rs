//! SARIF 2.1.0 logs of the findings analyses (taint, smells, dead code,
//! cycles), for code scanning (GitHub's, and any tool that reads SARIF).
//!
//! Every result names a rule of the run's driver (ids like
//! `taint/atom-creation`, `smell/god_module`), has at least one location
//! (a file relative to the analysed folder, and a line when one is known),
//! and carries a `partialFingerprints` entry that does not depend on line
//! numbers, so that a finding keeps its identity while code moves around
//! it. Taint findings carry their steps as a `codeFlows` thread flow.

use std::collections::{BTreeMap, HashMap};

use proto::{Cycles, DeadFunction, Severity, Smell, Taint};
use serde_json::{json, Value};

/// The schema the logs follow.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// One rule of a run: its id, a short name, help text and default level.
struct Rule {
    id: String,
    text: String,
    level: &'static str,
}

/// A log being built: its rules (by id, in order of first use) and results.
#[derive(Default)]
struct Log {
    rules: BTreeMap<String, (usize, Rule)>,
    results: Vec<Value>,
}

impl Log {
    /// The index of rule `id`, added on first use.
    fn rule(&mut self, id: &str, text: &str, level: &'static str) -> usize {
        let next = self.rules.len();
        self.rules
            .entry(id.to_string())
            .or_insert_with(|| {
                (
                    next,
                    Rule {
                        id: id.to_string(),
                        text: text.to_string(),
                        level,
                    },
                )
            })
            .0
    }

    fn into_sarif(self) -> Value {
        let mut rules: Vec<(usize, Rule)> = self.rules.into_values().collect();
        rules.sort_by_key(|(i, _)| *i);
        let rules: Vec<Value> = rules
            .into_iter()
            .map(|(_, r)| {
                json!({
                    "id": r.id,
                    "name": r.id.replace(['/', '-'], "_"),
                    "shortDescription": { "text": r.text },
                    "fullDescription": { "text": r.text },
                    "help": { "text": help(&r.id) },
                    "defaultConfiguration": { "level": r.level },
                })
            })
            .collect();
        json!({
            "$schema": SCHEMA,
            "version": "2.1.0",
            "runs": [{
                "tool": {
                    "driver": {
                        "name": "cpg",
                        "semanticVersion": env!("CARGO_PKG_VERSION"),
                        "rules": rules,
                    }
                },
                "results": self.results,
            }]
        })
    }
}

/// What to do about a rule's findings, by its id's family.
fn help(id: &str) -> String {
    let family = id.split('/').next().unwrap_or(id);
    match family {
        "taint" => {
            "Untrusted data reaches this call. Follow the code flow from the source; validate \
                    or convert the value before the call (a fixed set, an anchored pattern, an \
                    existing atom, a confined path), or mark the check in the taint rules \
                    (`cpg analyze taint --print-rules`). `cpg analyze taint --explain` says what \
                    was considered on the way."
                .to_string()
        }
        "smell" => {
            "A measure of this code is past its threshold (`cpg analyze smells \
                    --print-thresholds`): split, simplify or move the code, or raise the threshold."
                .to_string()
        }
        "dead-code" => "Nothing in the analysed code calls this public function. Remove it, or \
                        declare it an entry point (`--entry Module.fun/arity`) if it is called \
                        from outside."
            .to_string(),
        _ => "These modules or functions all reach each other. Break the cycle by moving the \
              shared code into a module the others depend on."
            .to_string(),
    }
}

/// A location: `file` relative to the analysed folder, `line` when known.
fn location(file: &str, line: u32, message: Option<&str>) -> Value {
    let mut physical = json!({ "artifactLocation": { "uri": uri(file) } });
    if line > 0 {
        physical["region"] = json!({ "startLine": line });
    }
    let mut loc = json!({ "physicalLocation": physical });
    if let Some(m) = message {
        loc["message"] = json!({ "text": m });
    }
    loc
}

/// A relative URI of a path: forward slashes, and the characters a URI
/// reference cannot hold percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.trim_start_matches("./").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            b'\\' => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A fingerprint of the parts that name a finding (never its lines).
fn fingerprint(parts: &[&str]) -> String {
    let h = parts.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, part| {
        part.bytes()
            .chain(std::iter::once(0))
            .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    });
    format!("{h:016x}")
}

fn result(
    rule: usize,
    id: &str,
    level: &str,
    text: &str,
    locations: Vec<Value>,
    print: &str,
) -> Value {
    json!({
        "ruleId": id,
        "ruleIndex": rule,
        "level": level,
        "message": { "text": text },
        "locations": locations,
        "partialFingerprints": { "cpgFinding/v1": print },
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// Taint findings: one rule per sink kind, the steps as a code flow.
pub fn taint(t: &Taint) -> Value {
    let mut log = Log::default();
    for f in &t.findings {
        let id = format!("taint/{}", f.sink.replace(' ', "-"));
        let lvl = level(f.severity);
        let rule = log.rule(&id, &format!("Untrusted data reaches {}", f.sink), lvl);
        let (Some(first), Some(last)) = (f.steps.first(), f.steps.last()) else {
            continue;
        };
        let text = format!(
            "{} reaches {} ({}) in {} steps, from {}:{}{}",
            f.source,
            f.sink,
            f.sink_call,
            f.steps.len(),
            first.file,
            first.line,
            if f.assumed.is_empty() {
                String::new()
            } else {
                let calls: Vec<String> = f.assumed.iter().map(ToString::to_string).collect();
                format!("; assumes {} pass their arguments on", calls.join(", "))
            }
        );
        let print = fingerprint(&[
            &id,
            &f.source,
            &first.file,
            &first.function.to_string(),
            &last.file,
            &last.function.to_string(),
            &f.sink_call.to_string(),
        ]);
        let mut r = result(
            rule,
            &id,
            lvl,
            &text,
            vec![location(&last.file, last.line, None)],
            &print,
        );
        let steps: Vec<Value> = f
            .steps
            .iter()
            .map(|s| json!({ "location": location(&s.file, s.line, Some(&s.what)) }))
            .collect();
        r["codeFlows"] = json!([{ "threadFlows": [{ "locations": steps }] }]);
        r["relatedLocations"] = json!([location(&first.file, first.line, Some("the source"))]);
        r["relatedLocations"][0]["id"] = json!(0);
        log.results.push(r);
    }
    log.into_sarif()
}

/// Smells: one rule per kind.
pub fn smells(smells: &[Smell]) -> Value {
    let mut log = Log::default();
    for s in smells {
        let id = format!("smell/{}", s.kind);
        let rule = log.rule(&id, &s.kind.replace('_', " "), "warning");
        let text = format!("{}: {} ({})", s.subject, s.kind.replace('_', " "), s.detail);
        let print = fingerprint(&[&id, &s.subject]);
        log.results.push(result(
            rule,
            &id,
            "warning",
            &text,
            vec![location(&s.file, s.line, None)],
            &print,
        ));
    }
    log.into_sarif()
}

/// Dead code: one rule.
pub fn dead_code(dead: &[DeadFunction]) -> Value {
    let mut log = Log::default();
    for d in dead {
        let id = "dead-code";
        let rule = log.rule(id, "Public function nothing calls", "note");
        let text = format!("{} ({}) is never called", d.mfa, d.kind);
        let print = fingerprint(&[id, &d.mfa.to_string()]);
        log.results.push(result(
            rule,
            id,
            "note",
            &text,
            vec![location(&d.file, d.line, None)],
            &print,
        ));
    }
    log.into_sarif()
}

/// Cycles, located at their members' files (`files`: module → file; a
/// member whose file is not known is left out of the locations, and a
/// cycle with no known file at all is left out of the log).
pub fn cycles(c: &Cycles, files: &HashMap<String, String>) -> Value {
    let mut log = Log::default();
    // Each member by name, with the module whose file locates it.
    let modules = c.modules.iter().map(|m| {
        let members: Vec<(String, &str)> =
            m.modules.iter().map(|n| (n.clone(), n.as_str())).collect();
        members
    });
    let functions = c.functions.iter().map(|f| {
        let members: Vec<(String, &str)> = f
            .functions
            .iter()
            .map(|mfa| (mfa.to_string(), mfa.module.as_str()))
            .collect();
        members
    });
    let kinds = [
        (
            "cycle/modules",
            "Modules that depend on each other in a cycle",
            "warning",
            "modules depend on each other",
        ),
        (
            "cycle/functions",
            "Functions that call each other in a cycle",
            "note",
            "functions call each other",
        ),
    ];
    let all: [Vec<Vec<(String, &str)>>; 2] = [modules.collect(), functions.collect()];
    for ((id, rule_text, level, says), cycles) in kinds.into_iter().zip(all) {
        for members in cycles {
            let rule = log.rule(id, rule_text, level);
            let locations: Vec<Value> = members
                .iter()
                .filter_map(|(name, module)| files.get(*module).map(|f| location(f, 0, Some(name))))
                .collect();
            if locations.is_empty() {
                continue;
            }
            let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
            names.sort();
            let text = format!("{} {says}: {}", names.len(), names.join(", "));
            let parts: Vec<&str> = std::iter::once(id).chain(names.iter().copied()).collect();
            log.results.push(result(
                rule,
                id,
                level,
                &text,
                locations,
                &fingerprint(&parts),
            ));
        }
    }
    log.into_sarif()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_encoded() {
        assert_eq!(uri("./lib/a b.ex"), "lib/a%20b.ex");
        assert_eq!(uri("lib\\x.ex"), "lib/x.ex");
        assert_eq!(uri("lib/ü.ex"), "lib/%C3%BC.ex");
    }

    #[test]
    fn fingerprints_name_parts_not_their_joins() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
    }
}
