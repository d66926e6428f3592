//! A finding as a reader sees it: the steps from source to sink, the calls
//! it assumed, and what was considered on the way and did not clean it.

use proto::{Check, Mfa, TaintFinding, TaintRule, TaintStep};

use super::{Fact, How, Source, Stitcher};

impl<'a> Stitcher<'a> {
    /// The finding of sink rule `rule` reached at `site` (argument `arg`,
    /// callee `sink`) by the fact `facts[at]`: its chain back to the source
    /// as steps.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finding(
        &self,
        source: &Source<'a>,
        facts: &[(Fact, usize, How)],
        at: usize,
        rule: usize,
        site: u32,
        arg: u8,
        sink: u32,
    ) -> TaintFinding {
        let line_of = |f: u32, site: u32| {
            self.summary(f)
                .and_then(|s| s.calls.get(site as usize))
                .map(|c| c.line)
                .unwrap_or(0)
        };
        let step = |f: u32, line: u32, what: String| TaintStep {
            file: self.file(f).to_string(),
            line,
            function: self.graph.mfa(f).clone(),
            what,
        };
        let mut chain = Vec::new();
        let mut i = at;
        while i != usize::MAX {
            chain.push(i);
            i = facts[i].1;
        }
        chain.reverse();
        let mut steps = Vec::with_capacity(chain.len() + 1);
        let mut assumed_calls: Vec<Mfa> = Vec::new();
        for &i in &chain {
            let (fact, parent, how) = facts[i];
            let from = if parent == usize::MAX {
                fact.f
            } else {
                facts[parent].0.f
            };
            let mfa = |id: u32| self.graph.mfa(id);
            steps.push(match how {
                How::Source => step(fact.f, source.line, source.what.clone()),
                How::Into { site, arg, callee } => step(
                    from,
                    line_of(from, site),
                    format!(
                        "passed as argument {arg} to {}{}",
                        mfa(callee),
                        self.clause_note(callee, fact.clauses)
                    ),
                ),
                How::Through {
                    site,
                    callee,
                    assumed,
                } => step(
                    from,
                    line_of(from, site),
                    if assumed {
                        if !assumed_calls.contains(mfa(callee)) {
                            assumed_calls.push(mfa(callee).clone());
                        }
                        format!(
                            "through {} (assumed: its arguments reach its result)",
                            mfa(callee)
                        )
                    } else {
                        format!("through {}", mfa(callee))
                    },
                ),
                How::Returned { site, callee } => step(
                    from,
                    line_of(from, site),
                    format!("returned by {}", mfa(callee)),
                ),
                How::ReturnedTo { site } => step(
                    fact.f,
                    line_of(fact.f, site),
                    format!("returned by {} to {}", mfa(from), mfa(fact.f)),
                ),
                How::Sent { site, via, handler } => step(
                    from,
                    line_of(from, site),
                    format!(
                        "sent with {} to {}{}",
                        mfa(via),
                        mfa(handler),
                        self.clause_note(handler, fact.clauses)
                    ),
                ),
            });
        }
        let f = facts[at].0.f;
        steps.push(step(
            f,
            line_of(f, site),
            format!(
                "sink: argument {arg} of {} ({})",
                self.graph.mfa(sink),
                self.sinks[rule].rule.name
            ),
        ));
        let severity = self.sinks[rule].rule.severity.unwrap_or_default();
        TaintFinding {
            severity: if source.rule.operator {
                severity.lower()
            } else {
                severity
            },
            source: source.rule.name.clone(),
            sink: self.sinks[rule].rule.name.clone(),
            sink_call: self.graph.mfa(sink).clone(),
            steps,
            assumed: assumed_calls,
            explain: self.explain(source, facts, &chain, site),
        }
    }

    /// What was considered on a finding's way and did not make it clean:
    /// checks the value passed that no rule counts for its source, and the
    /// calls outside the code it went through that no sanitizer matches.
    fn explain(
        &self,
        source: &Source<'a>,
        facts: &[(Fact, usize, How)],
        chain: &[usize],
        sink_site: u32,
    ) -> Vec<String> {
        let sanitizing = self
            .sanitizing
            .get(source.rule.name.as_str())
            .copied()
            .unwrap_or(0);
        let mut out = Vec::new();
        // Each hop: the fact it left from, and the call site it left by.
        let mut hops: Vec<(Fact, u32, Option<u32>)> = Vec::new();
        for (k, &i) in chain.iter().enumerate() {
            let (fact, _, _) = facts[i];
            let next_site = match chain.get(k + 1).map(|&j| facts[j].2) {
                Some(
                    How::Into { site, .. }
                    | How::Through { site, .. }
                    | How::Returned { site, .. }
                    | How::Sent { site, .. },
                ) => Some(site),
                Some(How::ReturnedTo { .. } | How::Source) => None,
                None => Some(sink_site),
            };
            let through = match chain.get(k + 1).map(|&j| facts[j].2) {
                Some(How::Through { callee, .. }) => Some(callee),
                _ => None,
            };
            if let Some(site) = next_site {
                hops.push((fact, site, through));
            }
        }
        for (fact, site, through) in hops {
            let at = self
                .summary(fact.f)
                .and_then(|s| s.calls.get(site as usize))
                .map(|c| format!("{}:{}", self.file(fact.f), c.line))
                .unwrap_or_default();
            let checks = self.flows[fact.f as usize]
                .get(&fact.origin)
                .into_iter()
                .flatten()
                .find(|(s, _, checks)| *s == site && checks & sanitizing == 0)
                .map_or(0, |e| e.2);
            for (name, bit) in Check::NAMES {
                if checks & bit == 0 {
                    continue;
                }
                let counting: Vec<&TaintRule> = self
                    .sanitizer_rules
                    .iter()
                    .filter(|r| r.checks.iter().any(|c| c == name))
                    .collect();
                out.push(if counting.is_empty() {
                    format!(
                        "{at}: the value passed a `{name}` check, which no sanitizer rule counts"
                    )
                } else {
                    let scoped: Vec<String> = counting
                        .iter()
                        .map(|r| {
                            format!("{:?} counts it for {} only", r.name, r.sources.join(", "))
                        })
                        .collect();
                    format!(
                        "{at}: the value passed a `{name}` check; {}, not for {:?}",
                        scoped.join("; "),
                        source.rule.name
                    )
                });
            }
            if let Some(callee) = through {
                out.push(format!(
                    "{at}: {} matches no sanitizer rule",
                    self.graph.mfa(callee)
                ));
            }
        }
        let considered: Vec<String> = self
            .sanitizer_rules
            .iter()
            .filter(|r| r.sources.is_empty() || r.sources.contains(&source.rule.name))
            .map(|r| format!("{:?}", r.name))
            .collect();
        if !considered.is_empty() {
            out.push(format!(
                "sanitizer rules considered: {}",
                considered.join(", ")
            ));
        }
        out
    }
}
