//! Expressions and calls: bodies, literals, containers, operators, variables,
//! attributes, captures, call resolution (local, imported, remote, Erlang,
//! dynamic), the calls the compiler implies, and the dispatch of special forms.

use super::*;

/// Ecto.Query's macros, whose arguments are query expressions.
const ECTO_QUERY_MACROS: &[&str] = &[
    "from",
    "join",
    "where",
    "or_where",
    "select",
    "select_merge",
    "distinct",
    "order_by",
    "group_by",
    "having",
    "or_having",
    "limit",
    "offset",
    "lock",
    "preload",
    "update",
    "windows",
    "with_cte",
    "dynamic",
];

impl<'s> FileBuilder<'s> {
    /// Walk a sequence of expressions; the value is the last one's.
    pub(super) fn body(&mut self, items: &[Ts], parent: u32) -> Option<u32> {
        let mut last = None;
        let mut i = 0;
        while i < items.len() {
            let item = items[i];
            if let Some(kind) = self.module_missing_body(item, items.get(i + 1)) {
                // Error recovery: the module's body sits in the next (error) node.
                let recovered = kids(items[i + 1]);
                last = Some(self.defmodule_with(item, parent, kind, Some(recovered)));
                i += 2;
                continue;
            }
            // `@deprecated` goes to the next definition; any other form in
            // between (`defstruct` defines functions too) takes it away.
            if self.m.f.is_none()
                && self.m.pending_deprecated.is_some()
                && !self.keeps_attributes(item)
            {
                self.m.pending_deprecated = None;
            }
            if let Some(v) = self.expr(item, parent) {
                last = Some(v);
            }
            i += 1;
        }
        last
    }

    /// `defmodule X` without a do-block, followed by an error node that starts
    /// with `do`: the kind of module definition.
    pub(super) fn module_missing_body(&self, item: Ts, next: Option<&Ts>) -> Option<&'static str> {
        next.filter(|n| n.kind() == "ERROR" && self.text(**n).starts_with("do"))?;
        if item.kind() != "call" || kids(item).iter().any(|c| c.kind() == "do_block") {
            return None;
        }
        match item.child_by_field_name("target").map(|t| self.text(t)) {
            Some("defmodule") => Some("defmodule"),
            Some("defprotocol") => Some("defprotocol"),
            Some("defimpl") => Some("defimpl"),
            _ => None,
        }
    }

    /// Walk a body in its own scope.
    pub(super) fn scoped_body(&mut self, items: &[Ts], parent: u32) -> Option<u32> {
        let env = self.m.env.clone();
        let v = self.body(items, parent);
        self.m.env = env;
        v
    }

    pub(super) fn leaf(&mut self, kind: NodeKind, sub: u8, ts: Ts, parent: u32) -> u32 {
        let text = self.text(ts);
        let text = if text.len() > 64 {
            &text[..floor_char(text, 64)]
        } else {
            text
        };
        let n = self.add(kind, sub, text, ts, parent);
        self.step(n);
        n
    }

    pub(super) fn expr(&mut self, ts: Ts, parent: u32) -> Option<u32> {
        if self.depth >= MAX_NESTING {
            let n = self.too_deep(ts, parent);
            self.step(n);
            return Some(n);
        }
        self.depth += 1;
        let v = self.expr_inner(ts, parent);
        self.depth -= 1;
        v
    }

    pub(super) fn expr_inner(&mut self, ts: Ts, parent: u32) -> Option<u32> {
        let kind = ts.kind();
        let v = match kind {
            "comment" => return None,
            "identifier" => self.identifier(ts, parent),
            "alias" => {
                let name = self.module_of(ts).unwrap_or_default();
                let n = self.add(NodeKind::Literal, 0, &name, ts, parent);
                self.step(n);
                n
            }
            "quoted_atom" if kids(ts).iter().any(|k| k.kind() == "interpolation") => {
                self.interpolated(ts, parent)
            }
            "atom"
            | "quoted_atom"
            | "integer"
            | "float"
            | "char"
            | "boolean"
            | "nil"
            | "operator_identifier" => self.leaf(NodeKind::Literal, 0, ts, parent),
            "string" | "charlist" => self.interpolated(ts, parent),
            "sigil" => {
                let n = self.interpolated(ts, parent);
                self.heex(ts, n);
                n
            }
            "list" | "tuple" | "bitstring" | "map" | "keywords" | "map_content" => {
                self.container(ts, parent)
            }
            "pair" => {
                let value = ts.child_by_field_name("value")?;
                return self.expr(value, parent);
            }
            "binary_operator" => self.binary(ts, parent),
            "unary_operator" => self.unary(ts, parent),
            "call" => self.call(ts, parent, None),
            "dot" => match self.module_of(ts) {
                Some(name) => {
                    let n = self.add(NodeKind::Literal, 0, &name, ts, parent);
                    self.step(n);
                    n
                }
                None => self.operator_node(".", ts, parent, &kids(ts)),
            },
            "access_call"
                if self
                    .m
                    .path
                    .as_ref()
                    .is_some_and(|r| r.contains(&ts.start_byte())) =>
            {
                // A step of a `put_in(data[key], v)` path: the macro's own
                // calls stand for it (see `path_segments`).
                let n = self.operator_node("[]", ts, parent, &kids(ts));
                return Some(n);
            }
            "access_call" => {
                // `data[key]` is compiled to `Access.get/2`.
                let call = self.implied_call(ts, parent, "Access", "get", 2);
                for (i, operand) in kids(ts).into_iter().enumerate() {
                    if let Some(v) = self.expr(operand, call) {
                        self.dfg(v, call, Label::Arg, i as u16);
                    }
                }
                self.step(call);
                call
            }
            "anonymous_function" => self.fn_(ts, parent),
            "block" => {
                let items = kids(ts);
                if items.iter().any(|i| i.kind() == "stab_clause") {
                    let n = self.add(NodeKind::Fn, 0, "", ts, parent);
                    self.fn_clauses(n, &items);
                    n
                } else {
                    return self.body(&items, parent);
                }
            }
            "stab_clause" => {
                let n = self.add(NodeKind::Fn, 0, "", ts, parent);
                self.fn_clauses(n, &[ts]);
                n
            }
            "ERROR" => return self.body(&kids(ts), parent),
            _ => {
                let n = self.add(NodeKind::Literal, 0, kind, ts, parent);
                self.body(&kids(ts), n);
                self.step(n);
                n
            }
        };
        Some(v)
    }

    pub(super) fn container(&mut self, ts: Ts, parent: u32) -> u32 {
        let n = self.add(NodeKind::Container, 0, ts.kind(), ts, parent);
        if ts.kind() == "tuple" && self.m.quote_depth == 0 {
            self.mfa_reference(ts, n);
        }
        self.container_items(ts, n);
        self.step(n);
        n
    }

    /// The elements of a container, with `map_content` and keyword lists
    /// flattened into it (they are syntax, not values of their own).
    pub(super) fn container_items(&mut self, ts: Ts, n: u32) {
        for child in kids(ts) {
            if matches!(child.kind(), "map_content" | "keywords") {
                self.container_items(child, n);
                continue;
            }
            if child.kind() == "struct" {
                self.struct_dep(child, n);
                continue;
            }
            // `layout: {Layouts, :app}`, `put_root_layout(html: {Layouts,
            // :root})`: Phoenix renders that template function.
            if child.kind() == "pair" {
                self.layout_option(child, n);
                self.render_errors_option(child, n);
            }
            if let Some(v) = self.expr(child, n) {
                // A keyword's value is labelled with its key, for sinks that
                // care about one option (`redirect(conn, external: url)`).
                let key = (child.kind() == "pair")
                    .then(|| child.child_by_field_name("key"))
                    .flatten()
                    .map(|k| self.text(k).trim_end().trim_end_matches(':').to_string());
                match key.map(|k| self.m.intern(&k)) {
                    Some(id) if id <= u32::from(u16::MAX) => self.dfg(v, n, Label::Key, id as u16),
                    _ => self.dfg(v, n, Label::None, 0),
                }
            }
        }
    }

    pub(super) fn operator_node(&mut self, op: &str, ts: Ts, parent: u32, operands: &[Ts]) -> u32 {
        let n = self.add(NodeKind::Operator, 0, op, ts, parent);
        for o in operands {
            if let Some(v) = self.expr(*o, n) {
                self.dfg(v, n, Label::None, 0);
            }
        }
        self.step(n);
        n
    }

    pub(super) fn identifier(&mut self, ts: Ts, parent: u32) -> u32 {
        let name = self.text(ts);
        if name == "__MODULE__" {
            let module = self.m.name.clone();
            let n = self.add(NodeKind::Literal, 0, &module, ts, parent);
            self.step(n);
            return n;
        }
        if let Some(&def) = self.m.env.vars.get(name) {
            let n = self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
            match self.checks_on(def) {
                0 => self.dfg(def, n, Label::None, 0),
                bits => self.dfg(def, n, Label::Checked, u16::from(bits)),
            }
            self.step(n);
            return n;
        }
        if self.m.quote_depth == 0 && !name.starts_with('_') {
            // An unbound identifier is a call without parentheses when the
            // module defines it or an import certainly provides it; otherwise
            // it is most likely a variable bound by a macro (ExUnit contexts).
            let resolved = self.resolve(name, 0);
            if matches!(resolved, BareCall::Local | BareCall::Imported(_)) {
                return self.call_node(
                    ts,
                    parent,
                    None,
                    name,
                    0,
                    BareOr::Bare(resolved),
                    &[],
                    None,
                );
            }
        }
        let n = self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
        self.step(n);
        n
    }

    pub(super) fn binary(&mut self, ts: Ts, parent: u32) -> u32 {
        let op = operator(ts, self.src);
        let (Some(left), Some(right)) = (
            ts.child_by_field_name("left"),
            ts.child_by_field_name("right"),
        ) else {
            return self.operator_node(op, ts, parent, &kids(ts));
        };
        match op {
            "=" => {
                let n = self.add(NodeKind::Match, 0, "=", ts, parent);
                let value = self.expr(right, n);
                let mut defs = Vec::new();
                self.pattern(left, n, &mut defs);
                if let Some(v) = value {
                    for d in &defs {
                        self.dfg(v, *d, Label::Bind, 0);
                    }
                    self.dfg(v, n, Label::None, 0);
                }
                self.step(n);
                n
            }
            "|>" => {
                let value = self.expr(left, parent);
                match right.kind() {
                    "call" => self.call(right, parent, value),
                    "identifier" => {
                        let name = self.text(right);
                        let resolved = self.resolve(name, 1);
                        self.call_node(
                            right,
                            parent,
                            value,
                            name,
                            1,
                            BareOr::Bare(resolved),
                            &[],
                            None,
                        )
                    }
                    _ => {
                        let n = self.operator_node("|>", ts, parent, &[right]);
                        if let Some(v) = value {
                            self.dfg(v, n, Label::Pipe, 0);
                        }
                        n
                    }
                }
            }
            // `x in enumerable` outside guards is `Enum.member?/2` unless the
            // right side is known at compile time (list, range, attribute,
            // sigil), which the compiler expands into comparisons. In an
            // Ecto query, `x in ...` is a binding or the query's own `in`.
            "in" | "not in"
                if self.in_guard == 0
                    && self.m.in_query == 0
                    && !self.compile_time_enumerable(right) =>
            {
                let n = self.add(NodeKind::Operator, 0, op, ts, parent);
                let call = self.implied_call(ts, n, "Enum", "member?", 2);
                for (i, operand) in [left, right].into_iter().enumerate() {
                    if let Some(v) = self.expr(operand, call) {
                        self.dfg(v, call, Label::Arg, i as u16);
                    }
                }
                self.step(call);
                self.dfg(call, n, Label::None, 0);
                self.step(n);
                n
            }
            // `first..last` with operands that are not integer literals is
            // `Range.new/2` (`/3` with a step) outside guards.
            ".." | "..//" if self.in_guard == 0 && self.m.quote_depth == 0 => {
                let n = self.operator_node(op, ts, parent, &[left, right]);
                let literal = |t: Ts| {
                    matches!(t.kind(), "integer" | "char")
                        || (t.kind() == "unary_operator"
                            && operand(t).is_some_and(|o| o.kind() == "integer"))
                };
                // `x in a..b` compares with the bounds: no range is built.
                let in_membership = ts.parent().is_some_and(|p| {
                    p.kind() == "binary_operator"
                        && matches!(operator(p, self.src), "in" | "not in")
                        && p.child_by_field_name("right") == Some(ts)
                });
                let all_literal = if op == ".." {
                    literal(left) && literal(right)
                } else {
                    // `a..b//s` parses as `(a..b)//s`.
                    let range_literal = left.kind() == "binary_operator"
                        && left.child_by_field_name("left").is_some_and(literal)
                        && left.child_by_field_name("right").is_some_and(literal);
                    range_literal && literal(right)
                };
                if !all_literal && !in_membership {
                    self.macro_call(ts, n, "Range", "new", if op == ".." { 2 } else { 3 });
                }
                n
            }
            // `x :: binary-size(n)` in bitstrings: the right side is a type.
            "::" => self.operator_node(op, ts, parent, &[left]),
            _ => self.operator_node(op, ts, parent, &[left, right]),
        }
    }

    pub(super) fn unary(&mut self, ts: Ts, parent: u32) -> u32 {
        let op = operator(ts, self.src);
        let Some(operand) = operand(ts) else {
            return self.operator_node(op, ts, parent, &[]);
        };
        match op {
            "@" => self.attribute(ts, operand, parent),
            "&" => self.capture(ts, operand, parent),
            "^" => self.identifier(operand, parent),
            _ => self.operator_node(op, ts, parent, &[operand]),
        }
    }

    pub(super) fn attribute(&mut self, ts: Ts, operand: Ts, parent: u32) -> u32 {
        if self.m.f.is_none() && self.m.quote_depth == 0 {
            if let Some((attr, atoms)) = self.attribute_atoms(ts) {
                self.m.names.attributes.insert(attr, atoms);
            }
            if let Some((attr, keys)) = self.attribute_keys(ts, &self.m.names) {
                self.m.names.keyword_keys.insert(attr, keys);
            }
        }
        let (name, value) = match operand.kind() {
            "call" => {
                let name = operand
                    .child_by_field_name("target")
                    .map(|t| self.text(t))
                    .unwrap_or("");
                let args = kids(operand).into_iter().find(|c| c.kind() == "arguments");
                (name, args.and_then(|a| kids(a).first().copied()))
            }
            _ => (self.text(operand), None),
        };
        let n = self.add(NodeKind::Attribute, 0, name, ts, parent);
        let line = span(ts).line;
        match (name, value) {
            ("deprecated", Some(v)) if self.m.quote_depth == 0 && self.m.f.is_none() => {
                self.m.pending_deprecated = Some(deprecation_message(self.text(v)));
            }
            ("impl", Some(v)) => {
                self.m.pending_impl = self.text(v) != "false";
                if let Some(b) = self.module_of(v) {
                    self.dep(&b, DepKind::Behaviour, line);
                }
            }
            ("behaviour" | "before_compile", Some(v)) if self.m.quote_depth > 0 => {
                // `@behaviour M` quoted by `__using__`: the user's;
                // `@before_compile M`: `M.__before_compile__`'s quote is too.
                let module = self.module_of(v).or_else(|| {
                    let t: String = self
                        .text(v)
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect();
                    (t == "unquote(__MODULE__)").then(|| self.m.name.clone())
                });
                if let (Some(b), Some(by)) = (module, self.injecting_function()) {
                    let kind = if name == "behaviour" {
                        InjectionKind::Directive(DepKind::Behaviour)
                    } else {
                        InjectionKind::BeforeCompile
                    };
                    self.inject(by, kind, &b, 0);
                }
            }
            ("behaviour", Some(v)) => {
                if let Some(b) = self.module_of(v) {
                    self.dep(&b, DepKind::Behaviour, line);
                    let id = self.m.intern(&b);
                    self.m.behaviours.push(id);
                }
            }
            ("callback" | "macrocallback", Some(v)) => {
                // The declared `name/arity`, kept as a literal under the
                // attribute: implementations of it are called by whoever
                // drives the behaviour.
                if let Some(declared) = self.callback_spec(v) {
                    self.add(NodeKind::Literal, 0, &declared, v, n);
                }
            }
            (_, Some(v)) if !NON_CODE_ATTRIBUTES.contains(&name) => {
                if let Some(val) = self.expr(v, n) {
                    self.dfg(val, n, Label::None, 0);
                }
            }
            _ => {}
        }
        self.step(n);
        n
    }

    /// `name(args) :: type` (possibly `... when constraints`) → `name/arity`.
    fn callback_spec(&self, spec: Ts) -> Option<String> {
        let mut head = spec;
        while head.kind() == "binary_operator" && matches!(operator(head, self.src), "::" | "when")
        {
            head = head.child_by_field_name("left")?;
        }
        match head.kind() {
            "call" => {
                let name = self.text(head.child_by_field_name("target")?);
                let arity = kids(head)
                    .into_iter()
                    .find(|c| c.kind() == "arguments")
                    .map_or(0, |a| kids(a).len());
                Some(format!("{name}/{arity}"))
            }
            "identifier" => Some(format!("{}/0", self.text(head))),
            _ => None,
        }
    }

    pub(super) fn capture(&mut self, ts: Ts, operand: Ts, parent: u32) -> u32 {
        // `&M.f/2`, `&f/1`: a reference to a function, which we count as a call.
        if operand.kind() == "binary_operator" && operator(operand, self.src) == "/" {
            if let (Some(target), Some(arity)) = (
                operand.child_by_field_name("left"),
                operand.child_by_field_name("right"),
            ) {
                if let Ok(arity) = self.text(arity).parse::<u16>() {
                    match target.kind() {
                        "call" if kids(target).iter().all(|c| c.kind() != "arguments") => {
                            if let Some(dot) = target.child_by_field_name("target") {
                                if dot.kind() == "dot" {
                                    if let Some(r) =
                                        self.remote(dot, ts, parent, None, arity, &[], None)
                                    {
                                        return r;
                                    }
                                }
                            }
                        }
                        "identifier" => {
                            let name = self.text(target);
                            let resolved = self.resolve(name, arity);
                            return self.call_node(
                                ts,
                                parent,
                                None,
                                name,
                                arity,
                                BareOr::Bare(resolved),
                                &[],
                                None,
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
        if operand.kind() == "integer" {
            // `&1`: an argument of the enclosing capture.
            return self.leaf(NodeKind::Variable, Node::VAR_USE, ts, parent);
        }
        // `&M.f(&1, x)`, `&(&1 + 1)`: an anonymous function.
        let n = self.add(NodeKind::Fn, 0, "&", ts, parent);
        self.step(n);
        let flow = self.take_flow();
        self.set_flow(Self::relabel(&flow, Label::Clause, 0));
        self.expr(operand, n);
        self.set_flow(flow);
        n
    }

    /// Arguments of a call: positional ones and the trailing keyword list, plus
    /// the do-block (which counts as one more argument unless merged into a
    /// trailing keyword list).
    pub(super) fn call_args<'t>(call: Ts<'t>) -> (Vec<Ts<'t>>, Option<Ts<'t>>) {
        let mut args = Vec::new();
        let mut block = None;
        for c in kids(call) {
            match c.kind() {
                "arguments" => args = kids(c),
                "do_block" => block = Some(c),
                _ => {}
            }
        }
        (args, block)
    }

    /// The arity a call has: its arguments, plus the piped value, plus the
    /// do-block unless it merges into a trailing keyword list.
    fn call_arity(args: &[Ts], block: Option<Ts>, piped: Option<u32>) -> u16 {
        let block_arg = block.is_some() && args.last().is_none_or(|a| a.kind() != "keywords");
        args.len() as u16 + u16::from(piped.is_some()) + u16::from(block_arg)
    }

    /// Resolve a bare `name/arity` in the current module and scope.
    pub(super) fn resolve(&self, name: &str, arity: u16) -> BareCall {
        let local = self.m.locals.contains(&(name.to_string(), arity));
        self.m.env.resolve_bare(name, arity, local)
    }

    pub(super) fn call(&mut self, ts: Ts, parent: u32, piped: Option<u32>) -> u32 {
        // Module level `Enum.each(@names, fn name -> ... end)`: what its
        // body defines with `name` is one definition per atom.
        if self.m.f.is_none() && self.m.quote_depth == 0 && piped.is_none() {
            if let Some((var, atoms)) = self.each_atoms(ts, &self.m.names) {
                self.m.names.vars.insert(var.clone(), atoms);
                let n = self.call_inner(ts, parent, piped);
                self.m.names.vars.remove(&var);
                return n;
            }
        }
        self.call_inner(ts, parent, piped)
    }

    fn call_inner(&mut self, ts: Ts, parent: u32, piped: Option<u32>) -> u32 {
        let Some(target) = ts.child_by_field_name("target") else {
            return self.operator_node("call", ts, parent, &kids(ts));
        };
        let (args, block) = Self::call_args(ts);
        let arity = Self::call_arity(&args, block, piped);
        match target.kind() {
            "identifier" => {
                let name = self.text(target);
                let quote_aware = matches!(
                    name,
                    "quote"
                        | "unquote"
                        | "unquote_splicing"
                        | "alias"
                        | "import"
                        | "require"
                        | "use"
                );
                if self.m.quote_depth == 0 || quote_aware {
                    if let Some(n) = self.special(ts, name, parent, piped) {
                        return n;
                    }
                    if piped.is_none() {
                        if let Some(n) = self.phoenix_call(ts, name, parent) {
                            return n;
                        }
                    }
                } else if DEF_MACROS.contains(&name) {
                    self.quoted_def(ts, name);
                }
                if self.m.env.vars.contains_key(name)
                    && args.is_empty()
                    && block.is_none()
                    && piped.is_none()
                {
                    return self.identifier(target, parent);
                }
                let mut resolved = self.resolve(name, arity);
                if name == "super" {
                    resolved = BareCall::Local;
                }
                // `apply(__MODULE__, :hooked_component, ...)` in `__using__`:
                // the quote of that function is what `use` injects (for
                // the clause's keyword, if it has one).
                if name == "apply" && self.m.in_using > 0 && self.m.quote_depth == 0 {
                    let own = args.first().is_some_and(|a| self.text(*a) == "__MODULE__");
                    if let (true, Some(f)) = (own, args.get(1).filter(|a| a.kind() == "atom")) {
                        let by = match &self.m.using_key {
                            Some(k) => format!("kw:{k}"),
                            None => "__using__".to_string(),
                        };
                        let f = self.text(*f)[1..].to_string();
                        self.inject(by, InjectionKind::Splice, &f, 0);
                    }
                }
                // Inside Ecto's query macros, bare calls are the query API's
                // (`fragment`, `ilike`, `assoc`): interpreted, never called.
                if self.m.in_query > 0 && !ECTO_QUERY_MACROS.contains(&name) {
                    resolved = match resolved {
                        BareCall::Unresolved => {
                            BareCall::Candidates(vec!["Ecto.Query.API".to_string()])
                        }
                        BareCall::Candidates(mut c) => {
                            c.push("Ecto.Query.API".to_string());
                            BareCall::Candidates(c)
                        }
                        other => other,
                    };
                }
                // Ecto's forms: `from(x in Q, ...)`, `dynamic([x], ...)`,
                // `where(query, [x], ...)` (or piped, `|> where([x], ...)`).
                let binding = |i: usize| args.get(i).is_some_and(|a| a.kind() == "list");
                let query = ECTO_QUERY_MACROS.contains(&name)
                    && !matches!(resolved, BareCall::Local)
                    && match name {
                        "from" => args.first().is_some_and(|a| {
                            a.kind() == "alias"
                                || (a.kind() == "binary_operator" && operator(*a, self.src) == "in")
                        }),
                        "dynamic" => binding(0),
                        // `join(q, :inner, [x], ...)`: the qualifier first.
                        "join" => (0..3).any(binding),
                        _ if piped.is_some() => binding(0),
                        _ => binding(1),
                    };
                self.m.in_query += u32::from(query);
                let path_macro = matches!(
                    name,
                    "put_in" | "update_in" | "get_and_update_in" | "pop_in"
                ) && matches!(&resolved, BareCall::Imported(m) if m == "Kernel")
                    && args.len() == 1 + usize::from(name != "pop_in");
                let outer_path = if path_macro {
                    std::mem::replace(&mut self.m.path, args.first().map(|a| a.byte_range()))
                } else {
                    self.m.path.clone()
                };
                let n = self.call_node(
                    ts,
                    parent,
                    piped,
                    name,
                    arity,
                    BareOr::Bare(resolved),
                    &args,
                    block,
                );
                self.m.path = outer_path;
                self.m.in_query -= u32::from(query);
                if self.m.f.is_some() && self.m.quote_depth == 0 {
                    self.ecto_cast(ts, name, &args, n);
                    self.view_render(ts, name, &args, piped.is_some(), n);
                }
                if name == "render" && self.m.f.is_some() && self.m.quote_depth == 0 {
                    let mut all: Vec<Ts> = Vec::new();
                    if piped.is_some() {
                        // `conn |> render(:show)`: the template is the first argument.
                        all.push(ts);
                    }
                    all.extend(args.iter().copied());
                    self.controller_render(ts, &all, n);
                }
                n
            }
            "dot" => match self.remote(target, ts, parent, piped, arity, &args, block) {
                Some(n) => n,
                None => self.generic_call(ts, parent, piped),
            },
            _ => {
                // `unquote(name)(args)`, `f.(x).(y)`: the callee is computed.
                let name = self.text(target);
                let name = &name[..floor_char(name, 64)];
                self.call_node(
                    ts,
                    parent,
                    piped,
                    name,
                    arity,
                    BareOr::Dynamic(None),
                    &args,
                    block,
                )
            }
        }
    }

    /// `left.right(args)`: a remote call, a dynamic call on a variable module,
    /// an anonymous function call `f.(x)`, or a field access `map.key`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn remote(
        &mut self,
        dot: Ts,
        ts: Ts,
        parent: u32,
        piped: Option<u32>,
        arity: u16,
        args: &[Ts],
        block: Option<Ts>,
    ) -> Option<u32> {
        let left = dot.child_by_field_name("left")?;
        let Some(right) = dot.child_by_field_name("right") else {
            // `fun.(args)`
            let name = self.text(left);
            let name = &name[..floor_char(name, 64)];
            return Some(self.call_node(
                ts,
                parent,
                piped,
                name,
                arity,
                BareOr::Dynamic(None),
                args,
                block,
            ));
        };
        let fname = self.text(right).trim_matches('"');
        // `__MODULE__.f(...)` in an injecting quote: the expanding module's.
        if self.text(left) == "__MODULE__" {
            if let Some(by) = self.injecting_function() {
                self.inject(by, InjectionKind::Call, fname, arity);
            }
        }
        if let Some(module) = self.module_of(left) {
            let dynamic = matches!(
                (module.as_str(), fname),
                ("Kernel", "apply") | (":erlang", "apply")
            );
            let how = if dynamic {
                BareOr::Dynamic(Some(module))
            } else {
                BareOr::Module(module)
            };
            return Some(self.call_node(ts, parent, piped, fname, arity, how, args, block));
        }
        let has_parens = kids(ts).iter().any(|c| c.kind() == "arguments");
        if !has_parens && piped.is_none() {
            // `map.field`: a field access, not a call. The node is named
            // `.field` so that summaries can tell which field is read.
            let name = format!(".{}", &fname[..floor_char(fname, 64)]);
            return Some(self.operator_node(&name, ts, parent, &[left]));
        }
        // `mod.fun(x)` with `mod` computed at run time.
        let base = self.expr(left, parent);
        let n = self.call_node(
            ts,
            parent,
            piped,
            fname,
            arity,
            BareOr::Dynamic(None),
            args,
            block,
        );
        if let Some(b) = base {
            self.dfg(b, n, Label::None, 0);
        }
        Some(n)
    }

    /// A call to a macro or function we do not model specially: arguments and
    /// any do-block are walked, the call is resolved by name.
    pub(super) fn generic_call(&mut self, ts: Ts, parent: u32, piped: Option<u32>) -> u32 {
        let name = ts
            .child_by_field_name("target")
            .map(|t| self.text(t))
            .unwrap_or("");
        let (args, block) = Self::call_args(ts);
        let arity = Self::call_arity(&args, block, piped);
        let resolved = self.resolve(name, arity);
        self.call_node(
            ts,
            parent,
            piped,
            name,
            arity,
            BareOr::Bare(resolved),
            &args,
            block,
        )
    }

    /// Create a Call node with its arguments and call site.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call_node(
        &mut self,
        ts: Ts,
        parent: u32,
        piped: Option<u32>,
        name: &str,
        arity: u16,
        how: BareOr,
        args: &[Ts],
        block: Option<Ts>,
    ) -> u32 {
        let how_bare = Some(matches!(how, BareOr::Bare(_)));
        let (kind, module, candidates) = match how {
            BareOr::Bare(BareCall::Local) => {
                (CallKind::Local, Some(self.m.name.clone()), Vec::new())
            }
            BareOr::Bare(BareCall::Imported(m)) if m == "Kernel" && name == "apply" => {
                (CallKind::Dynamic, Some(m), Vec::new())
            }
            BareOr::Bare(BareCall::Imported(m)) => (CallKind::Imported, Some(m), Vec::new()),
            BareOr::Bare(BareCall::Candidates(c)) => (CallKind::Imported, c.first().cloned(), c),
            BareOr::Bare(BareCall::Unresolved) => (CallKind::Unresolved, None, Vec::new()),
            BareOr::Module(m) if m.starts_with(':') => (CallKind::Erlang, Some(m), Vec::new()),
            BareOr::Module(m) => (CallKind::Remote, Some(m), Vec::new()),
            BareOr::Dynamic(m) => (CallKind::Dynamic, m, Vec::new()),
        };
        // In an injecting quote, a bare call is to the expanding module's
        // function when it has one (its own or one the quote defines).
        if matches!(how_bare, Some(true)) && !DEF_MACROS.contains(&name) {
            if let Some(by) = self.injecting_function() {
                self.inject(by, InjectionKind::Call, name, arity);
            }
        }
        let n = self.add(NodeKind::Call, kind as u8, name, ts, parent);
        if let Some(p) = piped {
            self.dfg(p, n, Label::Pipe, 0);
        }
        let offset = u16::from(piped.is_some());
        // ExUnit's `test "name", context do`, `setup context do`: the context
        // argument is a pattern whose bindings the block sees.
        let context_arg = match (name, block.is_some(), args.len()) {
            ("test", true, 2) => Some(1),
            ("setup" | "setup_all", true, 1) => Some(0),
            _ => None,
        };
        let env = block.map(|_| self.m.env.clone());
        for (i, arg) in args.iter().enumerate() {
            if Some(i) == context_arg {
                let mut defs = Vec::new();
                self.pattern(*arg, n, &mut defs);
                continue;
            }
            if let Some(v) = self.expr(*arg, n) {
                self.dfg(v, n, Label::Arg, i as u16 + offset);
            }
        }
        if let Some(block) = block {
            let items = kids(block);
            let using = name == "using";
            self.m.in_using += u32::from(using);
            self.body_or_clauses(&items, n);
            self.m.in_using -= u32::from(using);
        }
        if let Some(env) = env {
            self.m.env = env;
        }
        if self.m.quote_depth == 0 {
            // `Record.defrecord(:name, ...)` defines the macros name/0, /1, /2.
            let records = self.record_name(ts, &self.m.names).unwrap_or_default();
            for (rec, private) in records {
                let kind = if private {
                    FunKind::Defmacrop
                } else {
                    FunKind::Defmacro
                };
                for a in 0..=2 {
                    self.function(&rec, a, kind, ts);
                }
            }
        }
        // `raise Mod, msg` builds the exception with `Mod.exception/1`;
        // `raise "msg"` with `RuntimeError.exception/1`.
        if matches!(name, "raise" | "reraise") && module.as_deref() == Some("Kernel") {
            // A message the macro can see is a binary (literal, interpolated
            // or concatenated) builds a `RuntimeError`.
            let binary = args.first().is_some_and(|a| {
                matches!(a.kind(), "string" | "sigil")
                    || (a.kind() == "binary_operator" && operator(*a, self.src) == "<>")
            });
            let exception = match args.first().map(|a| a.kind()) {
                Some("alias") => args.first().and_then(|a| self.module_of(*a)),
                _ if binary && args.len() == 1 + usize::from(name == "reraise") => {
                    Some("RuntimeError".to_string())
                }
                _ => None,
            };
            if let Some(exception) = exception {
                let implied = self.implied_call(ts, n, &exception, "exception", 1);
                self.step(implied);
                self.dfg(implied, n, Label::Arg, 0);
            } else if args.len() == 1 + usize::from(name == "reraise") {
                // `raise message` with a computed message: the exception
                // is built at run time.
                self.macro_call(ts, n, "Kernel.Utils", "raise", 1);
            }
        }
        if self.m.quote_depth == 0 {
            match (module.as_deref(), name) {
                (Some("Kernel"), "destructure") => {
                    self.macro_call(ts, n, "Kernel.Utils", "destructure", 2)
                }
                (
                    Some("Logger"),
                    "debug" | "info" | "notice" | "warning" | "warn" | "error" | "critical"
                    | "alert" | "emergency" | "log",
                ) => {
                    self.macro_call(ts, n, "Logger", "__should_log__", 2);
                    self.macro_call(ts, n, "Logger", "__do_log__", 4);
                }
                (Some("Kernel"), "dbg") if arity > 0 => self.macro_call(ts, n, "Macro", "dbg", 3),
                (Some("Kernel"), "put_in" | "update_in" | "get_and_update_in" | "pop_in")
                    if arity == 1 + u16::from(name != "pop_in") =>
                {
                    // The path form (`put_in(opts[:a].b, v)`): each step
                    // becomes a call on the nested data.
                    let segments = args
                        .first()
                        .map(|p| self.path_segments(*p))
                        .unwrap_or_default();
                    let all_fields = segments.iter().all(|access| !access);
                    let last = segments.len().saturating_sub(1);
                    for (i, access) in segments.iter().enumerate() {
                        let (module, fun, a) = match (name, *access) {
                            ("pop_in", true) if i == last => ("Access", "pop", 2),
                            ("put_in" | "update_in", false) if all_fields => ("Map", "update!", 3),
                            (_, true) => ("Access", "get_and_update", 3),
                            (_, false) => ("Map", "get_and_update!", 3),
                        };
                        self.macro_call(ts, n, module, fun, a);
                    }
                }
                _ => {}
            }
        }
        self.push_call(n, None, module.as_deref(), name, arity, kind, &candidates);
        self.step(n);
        let raising = matches!(
            (module.as_deref(), name),
            (Some("Kernel"), "raise" | "reraise" | "exit") | (Some(":erlang"), "error" | "exit")
        );
        let throwing = matches!(
            (module.as_deref(), name),
            (Some("Kernel"), "throw") | (Some(":erlang"), "throw")
        );
        if (raising || throwing) && self.m.quote_depth == 0 {
            self.exception_flow(if throwing { Label::Throw } else { Label::Raise });
        }
        n
    }

    /// A string, charlist, sigil or quoted atom, with the calls its
    /// interpolations compile to: `Kernel.to_string/1` per part, which becomes
    /// `String.Chars.to_string/1` unless the part is known to be a string;
    /// then `List.to_charlist/1` around a charlist and
    /// `:erlang.binary_to_atom/2` around a quoted atom (a dynamic atom).
    fn interpolated(&mut self, ts: Ts, parent: u32) -> u32 {
        let text = self.text(ts);
        let n = self.add(
            NodeKind::Literal,
            0,
            &text[..floor_char(text, 64)],
            ts,
            parent,
        );
        let mut interpolates = false;
        for part in kids(ts).into_iter().filter(|p| p.kind() == "interpolation") {
            interpolates = true;
            for e in kids(part) {
                let Some(v) = self.expr(e, n) else { continue };
                if self.always_string(v) {
                    self.dfg(v, n, Label::None, 0);
                    continue;
                }
                let call = self.implied_call(e, n, "String.Chars", "to_string", 1);
                self.dfg(v, call, Label::Arg, 0);
                self.step(call);
                self.dfg(call, n, Label::None, 0);
            }
        }
        self.step(n);
        let wrapper = match ts.kind() {
            "charlist" if interpolates => Some(("List", "to_charlist", 1)),
            "quoted_atom" if interpolates => Some((":erlang", "binary_to_atom", 2)),
            _ => None,
        };
        let Some((module, fun, arity)) = wrapper else {
            return n;
        };
        let call = self.implied_call(ts, parent, module, fun, arity);
        self.dfg(n, call, Label::Arg, 0);
        self.step(call);
        call
    }

    /// Whether the value of node `v` is known to be a string, so that the
    /// compiler skips `String.Chars.to_string/1` when interpolating it (the
    /// same list as the compiler's `is_always_string`).
    pub(super) fn always_string(&self, v: u32) -> bool {
        let node = self.m.nodes[v as usize];
        match node.kind {
            NodeKind::Literal => self.m.strings[node.name as usize].starts_with('"'),
            NodeKind::Call => self
                .m
                .calls
                .iter()
                .rev()
                .find(|c| c.node == v)
                .is_some_and(|c| {
                    let module = c.module.map(|m| self.m.strings[m as usize].as_str());
                    let name = self.m.strings[c.name as usize].as_str();
                    matches!(
                        (module, name),
                        (Some("Enum"), "join" | "map_join")
                            | (Some("Kernel"), "inspect")
                            | (Some("Macro"), "to_string")
                            | (Some("String.Chars"), "to_string")
                            | (Some("Path"), "join")
                    )
                }),
            _ => false,
        }
    }

    /// Whether `in`'s right side is known when compiling: a literal list,
    /// a range, a module attribute or a sigil.
    fn compile_time_enumerable(&self, right: Ts) -> bool {
        match right.kind() {
            "list" | "sigil" | "charlist" => true,
            "binary_operator" => matches!(operator(right, self.src), ".." | "..//"),
            "unary_operator" => operator(right, self.src) == "@",
            _ => false,
        }
    }

    /// A call the compiler generates from syntax (interpolation, access,
    /// `raise Module`): a real call of the compiled module. The caller walks
    /// its arguments and steps it.
    pub(super) fn implied_call(
        &mut self,
        ts: Ts,
        parent: u32,
        module: &str,
        name: &str,
        arity: u16,
    ) -> u32 {
        let kind = if module.starts_with(':') {
            CallKind::Erlang
        } else {
            CallKind::Remote
        };
        let n = self.add(NodeKind::Call, kind as u8, name, ts, parent);
        self.push_call(n, None, Some(module), name, arity, kind, &[]);
        n
    }

    /// The steps of a nested-data path, outermost first: `true` for
    /// `data[key]`, `false` for `data.field`; empty when `t` is no path.
    pub(super) fn path_segments(&self, t: Ts) -> Vec<bool> {
        let mut out = Vec::new();
        let mut node = t;
        loop {
            match node.kind() {
                "access_call" => {
                    out.push(true);
                    match kids(node).first() {
                        Some(inner) => node = *inner,
                        None => break,
                    }
                }
                "call" => {
                    let field = node
                        .child_by_field_name("target")
                        .filter(|d| d.kind() == "dot")
                        .filter(|_| !kids(node).iter().any(|k| k.kind() == "arguments"))
                        .and_then(|d| d.child_by_field_name("left"));
                    match field {
                        Some(left) => {
                            out.push(false);
                            node = left;
                        }
                        None => break,
                    }
                }
                _ => break,
            }
        }
        out.reverse();
        out
    }

    /// A call a macro's expansion makes (kind `macro`), stepped in the
    /// current flow: the macro's own node carries the data flow.
    /// `{Module, :fun, [a, b]}`: a reference to `Module.fun/2` (whoever
    /// gets the tuple applies it); `{Module, :fun}`: to every `fun`.
    fn mfa_reference(&mut self, ts: Ts, parent: u32) {
        let items = kids(ts);
        let (module, fun, args) = match items[..] {
            [module, fun, args] if args.kind() == "list" => (module, fun, Some(args)),
            // `key: {Module, :fun}` (a Logger formatter, a Sentry
            // `before_send`): the receiver decides the arity. Elsewhere a
            // pair is as often data (`{__MODULE__, :key}`, `on_mount`'s
            // `{Module, arg}`, ExUnit's `setup {Module, :fun}`): not read.
            [module, fun] if module.kind() == "alias" && self.callback_option(ts) => {
                (module, fun, None)
            }
            _ => return,
        };
        if !matches!(module.kind(), "alias" | "identifier") || fun.kind() != "atom" {
            return;
        }
        let Some(module) = self.module_of(module) else {
            return;
        };
        let Some(args) = args else {
            let name = self.text(fun)[1..].to_string();
            let n = self.add(NodeKind::Call, CallKind::Reference as u8, &name, ts, parent);
            self.push_call(
                n,
                None,
                Some(&module),
                &name,
                proto::ANY_ARITY,
                CallKind::Reference,
                &[],
            );
            return;
        };
        let mut arity = 0usize;
        for a in kids(args) {
            match a.kind() {
                "keywords" => arity += kids(a).len(),
                // `[h | t]`: the length is not written.
                "binary_operator" if operator(a, self.src) == "|" => return,
                _ => arity += 1,
            }
        }
        let name = self.text(fun)[1..].to_string();
        let Ok(arity) = u16::try_from(arity) else {
            return;
        };
        let n = self.add(NodeKind::Call, CallKind::Reference as u8, &name, ts, parent);
        self.push_call(
            n,
            None,
            Some(&module),
            &name,
            arity,
            CallKind::Reference,
            &[],
        );
    }

    /// Whether the tuple `ts` is a keyword's value naming a callback: a
    /// `key: {Module, :fun}` option, but not a layout (`layout:`,
    /// `root_layout:`, `html:`, read by `layout_option`) nor `on_mount:`
    /// (`{Module, arg}` there means `Module.on_mount(arg, ...)`).
    fn callback_option(&self, ts: Ts) -> bool {
        ts.parent()
            .filter(|p| p.kind() == "pair")
            .and_then(|p| p.child_by_field_name("key"))
            .is_some_and(|k| {
                !matches!(
                    self.text(k).trim_end().trim_end_matches(':'),
                    "layout" | "root_layout" | "html" | "on_mount"
                )
            })
    }

    pub(super) fn macro_call(&mut self, ts: Ts, parent: u32, module: &str, name: &str, arity: u16) {
        self.macro_call_of(ts, parent, None, module, name, arity);
    }

    /// [`Self::macro_call`] made by the function `caller` (a function the
    /// macro generated), outside the current flow.
    pub(super) fn macro_call_of(
        &mut self,
        ts: Ts,
        parent: u32,
        caller: Option<u32>,
        module: &str,
        name: &str,
        arity: u16,
    ) {
        let n = self.add(NodeKind::Call, CallKind::Macro as u8, name, ts, parent);
        self.push_call(n, caller, Some(module), name, arity, CallKind::Macro, &[]);
        if caller.is_none() {
            self.step(n);
        }
    }

    /// Route the current flow as an exception: to the innermost `try`'s
    /// handlers if any, else out of the clause.
    pub(super) fn exception_flow(&mut self, label: Label) {
        let Some(f) = &mut self.m.f else { return };
        let flow: Vec<Pending> = f.flow.drain(..).map(|(s, _, _)| (s, label, 0)).collect();
        if let Some(h) = f.handlers.last_mut() {
            h.raises.extend(flow);
        } else {
            let exit = f.exit;
            for (s, l, i) in flow {
                self.m.edges.push(Edge {
                    src: s,
                    dst: exit,
                    kind: EdgeKind::Cfg,
                    label: l,
                    index: i,
                });
            }
        }
    }

    /// A do-block of a generic macro: plain expressions, or `->` clauses
    /// (branches from the current flow that join after them), and any
    /// `else`/`after`/`rescue`/`catch` blocks in turn.
    pub(super) fn body_or_clauses(&mut self, items: &[Ts], parent: u32) {
        let (clauses, rest): (Vec<Ts>, Vec<Ts>) =
            items.iter().partition(|i| i.kind() == "stab_clause");
        if !clauses.is_empty() {
            let out = self.clauses(&clauses, parent, None, Label::Clause);
            self.set_flow(out);
        }
        let (blocks, plain): (Vec<Ts>, Vec<Ts>) = rest.into_iter().partition(|i| {
            matches!(
                i.kind(),
                "else_block" | "after_block" | "rescue_block" | "catch_block"
            )
        });
        self.body(&plain, parent);
        for block in blocks {
            self.body_or_clauses(&kids(block), parent);
        }
    }

    pub(super) fn special(
        &mut self,
        ts: Ts,
        name: &str,
        parent: u32,
        piped: Option<u32>,
    ) -> Option<u32> {
        let n = match name {
            "defmodule" | "defprotocol" | "defimpl" => self.defmodule(ts, parent, name),
            "def" | "defp" | "defmacro" | "defmacrop" | "defguard" | "defguardp"
            | "defdelegate" => self.def(ts, parent, name),
            "defstruct" | "defexception" => {
                self.generated_function("__struct__", 0, ts);
                let had = self.m.fn_index.contains_key(&("__struct__".to_string(), 1));
                self.generated_function("__struct__", 1, ts);
                // `__struct__/1` folds the given fields into the default.
                if let (false, Some(&idx)) =
                    (had, self.m.fn_index.get(&("__struct__".to_string(), 1)))
                {
                    let fnode = self.m.functions[idx as usize].node;
                    self.macro_call_of(ts, fnode, Some(idx), "Enum", "reduce", 3);
                }
                if name == "defexception"
                    && !self.m.fn_index.contains_key(&("exception".to_string(), 1))
                    && !self.m.explicit.contains(&("exception".to_string(), 1))
                {
                    self.generated_function("exception", 1, ts);
                    // The default `exception/1` checks the fields it is given.
                    if let Some(&idx) = self.m.fn_index.get(&("exception".to_string(), 1)) {
                        let fnode = self.m.functions[idx as usize].node;
                        for (module, fun, arity) in [
                            ("Enum", "split_with", 2),
                            ("IO", "warn", 1),
                            ("Kernel", "inspect", 1),
                            ("Kernel", "struct!", 2),
                        ] {
                            self.macro_call_of(ts, fnode, Some(idx), module, fun, arity);
                        }
                    }
                }
                let n = self.add(NodeKind::Directive, 0, name, ts, parent);
                let (args, _) = Self::call_args(ts);
                self.body(&args, n);
                n
            }
            "alias" | "import" | "require" | "use" if self.m.quote_depth > 0 => {
                self.quoted_directive(ts, name, parent)
            }
            "alias" | "import" | "require" | "use" => self.directive(ts, name, parent),
            "case" => self.case(ts, parent, piped),
            "cond" => self.cond(ts, parent),
            "if" | "unless" => self.if_(ts, parent, name == "unless"),
            "with" => self.with(ts, parent),
            "receive" => self.receive(ts, parent),
            "try" => {
                let parts = Parts::of(ts, self.src);
                self.try_parts(ts, parent, &parts)
            }
            "for" => self.for_(ts, parent),
            "quote" => {
                let n = self.add(NodeKind::Quote, 0, "quote", ts, parent);
                self.m.quote_depth += 1;
                let parts = Parts::of(ts, self.src);
                // `bind_quoted:` and `unquote: false` turn unquoting off: an
                // `unquote(...)` inside stays code of the expanding module.
                let literal = parts.opts.iter().any(|(k, v)| {
                    k == "bind_quoted" || (k == "unquote" && self.text(*v).trim() == "false")
                });
                self.m.literal_quotes.push(literal);
                if let Some(items) = &parts.do_ {
                    self.body(items, n);
                }
                self.m.literal_quotes.pop();
                self.m.quote_depth -= 1;
                self.step(n);
                n
            }
            "unquote" | "unquote_splicing" => {
                // Outside a quote (`def unquote(name)()`) it injects a value
                // computed at compile time: not a call either way.
                let (args, _) = Self::call_args(ts);
                // `unquote(helpers(opts))` splices the quote of a local function.
                if let [arg] = args[..] {
                    let spliced = (arg.kind() == "call")
                        .then(|| arg.child_by_field_name("target"))
                        .flatten()
                        .filter(|t| t.kind() == "identifier");
                    if let (Some(t), Some(by)) = (spliced, self.injecting_function()) {
                        let fname = self.text(t).to_string();
                        self.inject(by, InjectionKind::Splice, &fname, 0);
                    }
                }
                let n = self.add(NodeKind::Operator, 0, name, ts, parent);
                let depth = self.m.quote_depth;
                if self.m.literal_quotes.last() != Some(&true) {
                    self.m.quote_depth = depth.saturating_sub(1);
                }
                self.body(&args, n);
                self.m.quote_depth = depth;
                self.step(n);
                n
            }
            _ => return None,
        };
        Some(n)
    }
}

/// The macros that define a function or macro.
const DEF_MACROS: &[&str] = &[
    "def",
    "defp",
    "defmacro",
    "defmacrop",
    "defguard",
    "defguardp",
    "defdelegate",
];

impl<'s> FileBuilder<'s> {
    /// A module-level form that leaves a pending `@deprecated` to the
    /// definition after it: another attribute, or the definition itself.
    fn keeps_attributes(&self, item: Ts) -> bool {
        if item.kind() == "unary_operator" && operator(item, self.src) == "@" {
            return true;
        }
        item.kind() == "call"
            && item
                .child_by_field_name("target")
                .is_some_and(|t| DEF_MACROS.contains(&self.text(t)))
    }
}

/// The message of `@deprecated "..."` as written (a string, a heredoc or a
/// sigil): its text on one line, at most 200 characters.
fn deprecation_message(literal: &str) -> String {
    let t = literal.trim();
    let t = t
        .strip_prefix("\"\"\"")
        .and_then(|r| r.strip_suffix("\"\"\""))
        .or_else(|| t.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
        .or_else(|| {
            let r = t.strip_prefix('~')?.get(1..)?;
            r.get(1..r.len().checked_sub(1)?)
        });
    // A message computed at compile time (`@deprecated message`) is not
    // known here.
    let Some(t) = t else {
        return "deprecated".to_string();
    };
    let one_line = t.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}
