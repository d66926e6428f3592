//! Control structures and their control flow: `->` clauses, `case`, `cond`,
//! `if`/`unless`, `with`, `receive`, `try` and `for`, and anonymous functions.

use super::*;

impl<'s> FileBuilder<'s> {
    /// `->` clauses branching from the current flow (case, receive, fn,
    /// else...): each clause's Clause node is reached with `label` and its
    /// index, the subject's value binds the pattern variables, and each
    /// clause's value flows into `from`. Returns the flow out of the clauses.
    /// With no incoming flow (unreachable code) the clauses get no CFG edges.
    pub(super) fn clauses(
        &mut self,
        items: &[Ts],
        from: u32,
        subject: Option<u32>,
        label: Label,
    ) -> Vec<Pending> {
        let start = self.take_flow();
        let literal_subject = self.m.case_subject.take();
        let mut out = Vec::new();
        for (idx, item) in items
            .iter()
            .filter(|i| i.kind() == "stab_clause")
            .enumerate()
        {
            self.set_flow(Self::relabel(&start, label, idx as u16));
            if let Some(v) = self.stab_clause(*item, from, subject, literal_subject) {
                self.dfg(v, from, Label::Return, 0);
            }
            out.extend(self.take_flow());
        }
        out
    }

    pub(super) fn stab_clause(
        &mut self,
        item: Ts,
        parent: u32,
        subject: Option<u32>,
        literal_subject: Option<u32>,
    ) -> Option<u32> {
        let env = self.m.env.clone();
        let clause = self.add(NodeKind::Clause, 0, "", item, parent);
        self.step(clause);
        let (patterns, guard) = match item.child_by_field_name("left") {
            Some(l) if l.kind() == "binary_operator" && operator(l, self.src) == "when" => {
                let args = l.child_by_field_name("left").map(|a| {
                    if a.kind() == "arguments" {
                        kids(a)
                    } else {
                        vec![a]
                    }
                });
                (args.unwrap_or_default(), l.child_by_field_name("right"))
            }
            Some(l) => (kids(l), None),
            None => (Vec::new(), None),
        };
        let mut defs = Vec::new();
        for p in &patterns {
            // `e in ArgumentError` in rescue clauses.
            if p.kind() == "binary_operator" && operator(*p, self.src) == "in" {
                if let Some(var) = p.child_by_field_name("left") {
                    self.pattern(var, clause, &mut defs);
                }
                continue;
            }
            self.pattern(*p, clause, &mut defs);
        }
        if let Some(s) = subject {
            for d in &defs {
                self.bind(s, *d);
            }
        }
        let mut checks = Vec::new();
        if let Some(g) = guard {
            checks = self.condition_checks(g);
            self.guard(g, clause);
        }
        // A `case x do "literal" -> ...` branch: `x` is that literal there.
        if let (Some(def), [p]) = (literal_subject, patterns.as_slice()) {
            if self.literal(*p) {
                checks.push((def, proto::Check::LITERAL_CASE));
            }
        }
        let body = item
            .child_by_field_name("right")
            .map(kids)
            .unwrap_or_default();
        let v = self.under_checks(checks, |b| b.body(&body, clause));
        self.m.env = env;
        if let Some(v) = v {
            self.dfg(v, clause, Label::Return, 0);
        }
        Some(clause)
    }

    pub(super) fn case(&mut self, ts: Ts, parent: u32, piped: Option<u32>) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::Case, 0, "case", ts, parent);
        let subject = match piped {
            Some(p) => Some(p),
            None => parts.args.first().and_then(|s| self.expr(*s, n)),
        };
        if let Some(s) = subject {
            self.dfg(s, n, Label::None, 0);
        }
        self.control(n, |b| {
            let items = parts.do_.clone().unwrap_or_default();
            b.m.case_subject = match piped {
                None => parts.args.first().and_then(|s| b.var_def(*s)),
                Some(_) => None,
            };
            b.clauses(&items, n, Some(n), Label::Clause)
        })
    }

    pub(super) fn cond(&mut self, ts: Ts, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::Cond, 0, "cond", ts, parent);
        self.control(n, |b| {
            let mut out = Vec::new();
            let items = parts.do_.clone().unwrap_or_default();
            for (idx, item) in items
                .iter()
                .filter(|i| i.kind() == "stab_clause")
                .enumerate()
            {
                let idx = idx as u16;
                let env = b.m.env.clone();
                let clause = b.add(NodeKind::Clause, 0, "", *item, n);
                let conds = item
                    .child_by_field_name("left")
                    .map(kids)
                    .unwrap_or_default();
                let checks = match conds.as_slice() {
                    [c] => b.condition_checks(*c),
                    _ => Vec::new(),
                };
                let cv = b.body(&conds, clause).unwrap_or(clause);
                let always = conds.len() == 1 && b.text(conds[0]) == "true";
                let flow = b.take_flow();
                // True: into the clause body; False: on to the next condition.
                b.set_flow(Self::relabel(&flow, Label::True, idx));
                b.step(clause);
                let body = item
                    .child_by_field_name("right")
                    .map(kids)
                    .unwrap_or_default();
                if let Some(v) = b.under_checks(checks, |b| b.body(&body, clause)) {
                    b.dfg(v, n, Label::Return, 0);
                }
                b.dfg(cv, clause, Label::None, 0);
                out.extend(b.take_flow());
                b.m.env = env;
                let next = if always {
                    Vec::new()
                } else {
                    Self::relabel(&flow, Label::False, idx)
                };
                b.set_flow(next);
            }
            // No condition held: CondClauseError.
            b.exception_flow(Label::Raise);
            out
        })
    }

    pub(super) fn if_(&mut self, ts: Ts, parent: u32, unless: bool) -> u32 {
        let parts = Parts::of(ts, self.src);
        let kind = if unless {
            NodeKind::Unless
        } else {
            NodeKind::If
        };
        let n = self.add(kind, 0, if unless { "unless" } else { "if" }, ts, parent);
        let checks = parts
            .args
            .first()
            .map(|c| self.condition_checks(*c))
            .unwrap_or_default();
        let (do_checks, else_checks) = if unless {
            (Vec::new(), checks)
        } else {
            (checks, Vec::new())
        };
        if let Some(c) = parts.args.first().and_then(|c| self.expr(*c, n)) {
            self.dfg(c, n, Label::None, 0);
        }
        self.control(n, |b| {
            let (do_label, else_label) = if unless {
                (Label::False, Label::True)
            } else {
                (Label::True, Label::False)
            };
            let start = b.take_flow();
            b.set_flow(Self::relabel(&start, do_label, 0));
            let do_ = parts.do_.as_deref().unwrap_or(&[]);
            if let Some(v) = b.under_checks(do_checks, |b| b.scoped_body(do_, n)) {
                b.dfg(v, n, Label::Return, 0);
            }
            let mut out = b.take_flow();
            b.set_flow(Self::relabel(&start, else_label, 0));
            if let Some(items) = &parts.else_ {
                if let Some(v) = b.under_checks(else_checks, |b| b.scoped_body(items, n)) {
                    b.dfg(v, n, Label::Return, 0);
                }
            }
            out.extend(b.take_flow());
            out
        })
    }

    pub(super) fn with(&mut self, ts: Ts, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::With, 0, "with", ts, parent);
        self.control(n, |b| {
            let env = b.m.env.clone();
            let mut failures: Vec<Pending> = Vec::new();
            for clause in &parts.args {
                if clause.kind() == "binary_operator" && operator(*clause, b.src) == "<-" {
                    let (Some(p), Some(e)) = (
                        clause.child_by_field_name("left"),
                        clause.child_by_field_name("right"),
                    ) else {
                        continue;
                    };
                    let m = b.add(NodeKind::Match, 0, "<-", *clause, n);
                    let v = b.expr(e, m);
                    let (pat, guard) =
                        if p.kind() == "binary_operator" && operator(p, b.src) == "when" {
                            (
                                p.child_by_field_name("left").unwrap_or(p),
                                p.child_by_field_name("right"),
                            )
                        } else {
                            (p, None)
                        };
                    b.match_pattern(pat, m, v);
                    if let Some(v) = v {
                        b.dfg(v, m, Label::None, 0);
                    }
                    if let Some(g) = guard {
                        b.expr(g, m);
                    }
                    b.step(m);
                    failures.push((m, Label::NoMatch, 0));
                    let flow = b.take_flow();
                    b.set_flow(Self::relabel(&flow, Label::Match, 0));
                } else {
                    b.expr(*clause, n);
                }
            }
            if let Some(v) = b.body(parts.do_.as_deref().unwrap_or(&[]), n) {
                b.dfg(v, n, Label::Return, 0);
            }
            b.m.env = env;
            let mut out = b.take_flow();
            match &parts.else_ {
                Some(items) => {
                    b.set_flow(failures);
                    out.extend(b.clauses(items, n, Some(n), Label::Else));
                }
                None => out.extend(failures),
            }
            out
        })
    }

    pub(super) fn receive(&mut self, ts: Ts, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::Receive, 0, "receive", ts, parent);
        self.control(n, |b| {
            let items = parts.do_.clone().unwrap_or_default();
            let mut out = b.clauses(&items, n, None, Label::Clause);
            if let Some(after) = &parts.after {
                b.set_flow(vec![(n, Label::After, 0)]);
                for item in after.iter().filter(|i| i.kind() == "stab_clause") {
                    let timeout = item
                        .child_by_field_name("left")
                        .map(kids)
                        .unwrap_or_default();
                    b.body(&timeout, n);
                    let body = item
                        .child_by_field_name("right")
                        .map(kids)
                        .unwrap_or_default();
                    if let Some(v) = b.scoped_body(&body, n) {
                        b.dfg(v, n, Label::Return, 0);
                    }
                }
                out.extend(b.take_flow());
            }
            out
        })
    }

    pub(super) fn try_parts(&mut self, ts: Ts, parent: u32, parts: &Parts) -> u32 {
        let n = self.add(NodeKind::Try, 0, "try", ts, parent);
        self.control(n, |b| {
            let has_handlers = parts.rescue.is_some() || parts.catch.is_some();
            if has_handlers {
                if let Some(f) = &mut b.m.f {
                    f.handlers.push(Handler::default());
                }
            }
            let body_value = b.scoped_body(parts.do_.as_deref().unwrap_or(&[]), n);
            let handler = if has_handlers {
                b.m.f.as_mut().and_then(|f| f.handlers.pop())
            } else {
                None
            };
            let raises = handler.map(|h| h.raises).unwrap_or_default();
            let mut out = Vec::new();
            match &parts.else_ {
                Some(items) => out.extend(b.clauses(items, n, body_value, Label::Else)),
                None => {
                    if let Some(v) = body_value {
                        b.dfg(v, n, Label::Return, 0);
                    }
                    out.extend(b.take_flow());
                }
            }
            for (blocks, label) in [(&parts.rescue, Label::Rescue), (&parts.catch, Label::Catch)] {
                let Some(items) = blocks else { continue };
                for (idx, item) in items
                    .iter()
                    .filter(|i| i.kind() == "stab_clause")
                    .enumerate()
                {
                    let idx = idx as u16;
                    let mut flow = vec![(n, label, idx)];
                    flow.extend(raises.iter().map(|&(s, _, _)| (s, label, idx)));
                    b.set_flow(flow);
                    // `rescue e ->` takes any error, Erlang ones normalized into
                    // exceptions at run time.
                    let bare = item.child_by_field_name("left").is_some_and(|l| {
                        let k = kids(l);
                        k.len() == 1
                            && k[0].kind() == "identifier"
                            && !b.text(k[0]).starts_with('_')
                    });
                    if label == Label::Rescue && bare && b.m.quote_depth == 0 {
                        b.macro_call(*item, n, "Exception", "normalize", 3);
                    }
                    if let Some(v) = b.stab_clause(*item, n, None, None) {
                        b.dfg(v, n, Label::Return, 0);
                    }
                    out.extend(b.take_flow());
                }
            }
            if let Some(after) = &parts.after {
                b.set_flow(Self::relabel(&out, Label::After, 0));
                b.scoped_body(after, n);
                out = b.take_flow();
            }
            out
        })
    }

    pub(super) fn for_(&mut self, ts: Ts, parent: u32) -> u32 {
        let parts = Parts::of(ts, self.src);
        let n = self.add(NodeKind::For, 0, "for", ts, parent);
        let env = self.m.env.clone();
        for clause in &parts.args {
            if clause.kind() == "binary_operator"
                && matches!(operator(*clause, self.src), "<-" | "<<-")
            {
                let (Some(p), Some(e)) = (
                    clause.child_by_field_name("left"),
                    clause.child_by_field_name("right"),
                ) else {
                    continue;
                };
                let v = self.expr(e, n);
                self.match_pattern(p, n, v);
            } else {
                self.expr(*clause, n);
            }
        }
        for (_, v) in &parts.opts {
            self.expr(*v, n);
        }
        // The comprehension runs as `Enum.reduce/3` over its generators,
        // collecting through `Collectable.into/1` with `into:`.
        let generators = parts
            .args
            .iter()
            .any(|c| c.kind() == "binary_operator" && operator(*c, self.src) == "<-");
        if generators && self.m.quote_depth == 0 && self.m.f.is_some() {
            self.macro_call(ts, n, "Enum", "reduce", 3);
            // `into: %{}`, `""` or `[]` are built directly.
            let into = parts
                .opts
                .iter()
                .find(|(k, _)| k == "into")
                .map(|(_, v)| *v);
            if into.is_some_and(|v| !matches!(self.text(v).trim(), "%{}" | "\"\"" | "[]")) {
                self.macro_call(ts, n, "Collectable", "into", 1);
            }
        }
        self.step(n);
        self.enter_control();
        let start = self.take_flow();
        self.set_flow(Self::relabel(&start, Label::True, 0));
        let items = parts.do_.clone().unwrap_or_default();
        // Module level: `def unquote(var)(...)` defines one function per atom.
        let bound = (self.m.f.is_none() && self.m.quote_depth == 0)
            .then(|| self.for_atoms(ts, &self.m.names))
            .flatten();
        if let Some((var, atoms)) = &bound {
            self.m.names.vars.insert(var.clone(), atoms.clone());
        }
        if items.iter().any(|i| i.kind() == "stab_clause") {
            // `reduce: acc` form: clauses on the accumulator.
            let out = self.clauses(&items, n, None, Label::Clause);
            self.set_flow(out);
        } else if let Some(v) = self.body(&items, n) {
            self.dfg(v, n, Label::Return, 0);
        }
        if let Some((var, _)) = bound {
            self.m.names.vars.remove(&var);
        }
        // Back edge: the next iteration.
        let body_end = self.take_flow();
        if self.m.f.is_some() {
            for (s, l, i) in body_end {
                self.edge(EdgeKind::Cfg, s, n, l, i);
            }
            self.set_flow(vec![(n, Label::False, 0)]);
        }
        self.leave_control();
        self.m.env = env;
        n
    }

    pub(super) fn fn_(&mut self, ts: Ts, parent: u32) -> u32 {
        let n = self.add(NodeKind::Fn, 0, "fn", ts, parent);
        self.fn_clauses(n, &kids(ts));
        n
    }

    /// The clauses of an anonymous function node `n`. They run later, when the
    /// fn is called: their flow does not continue into the code after the fn.
    pub(super) fn fn_clauses(&mut self, n: u32, items: &[Ts]) {
        self.step(n);
        self.enter_control();
        let start = self.take_flow();
        self.set_flow(start.clone());
        self.clauses(items, n, None, Label::Clause);
        self.leave_control();
        self.set_flow(start);
    }
}
