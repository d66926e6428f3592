//! Expressions and calls: bodies, literals, containers, operators, variables,
//! attributes, captures, call resolution (local, imported, remote, Erlang,
//! dynamic), the calls the compiler implies, and the dispatch of special forms.

use super::*;

mod calls;

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
    pub(in crate::frontend::builder) fn body(&mut self, items: &[Ts], parent: u32) -> Option<u32> {
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
    pub(in crate::frontend::builder) fn module_missing_body(
        &self,
        item: Ts,
        next: Option<&Ts>,
    ) -> Option<&'static str> {
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
    pub(in crate::frontend::builder) fn scoped_body(
        &mut self,
        items: &[Ts],
        parent: u32,
    ) -> Option<u32> {
        let env = self.m.env.clone();
        let v = self.body(items, parent);
        self.m.env = env;
        v
    }

    pub(in crate::frontend::builder) fn leaf(
        &mut self,
        kind: NodeKind,
        sub: u8,
        ts: Ts,
        parent: u32,
    ) -> u32 {
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

    pub(in crate::frontend::builder) fn expr(&mut self, ts: Ts, parent: u32) -> Option<u32> {
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

    pub(in crate::frontend::builder) fn expr_inner(&mut self, ts: Ts, parent: u32) -> Option<u32> {
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

    pub(in crate::frontend::builder) fn container(&mut self, ts: Ts, parent: u32) -> u32 {
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
    pub(in crate::frontend::builder) fn container_items(&mut self, ts: Ts, n: u32) {
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
                // A keyword's or a literal key's value is labelled with its
                // key ([`Self::field_key`]), for sinks that care about one
                // option (`redirect(conn, external: url)`) and for summaries
                // that tell a map's fields apart.
                let key = match child.kind() {
                    "pair" => child.child_by_field_name("key"),
                    "binary_operator" if operator(child, self.src) == "=>" => {
                        child.child_by_field_name("left")
                    }
                    _ => None,
                };
                match key
                    .and_then(|k| self.field_key(k))
                    .map(|k| self.m.intern(&k))
                {
                    Some(id) if id <= u32::from(u16::MAX) => self.dfg(v, n, Label::Key, id as u16),
                    _ => self.dfg(v, n, Label::None, 0),
                }
            }
        }
    }

    pub(in crate::frontend::builder) fn operator_node(
        &mut self,
        op: &str,
        ts: Ts,
        parent: u32,
        operands: &[Ts],
    ) -> u32 {
        let n = self.add(NodeKind::Operator, 0, op, ts, parent);
        for o in operands {
            if let Some(v) = self.expr(*o, n) {
                self.dfg(v, n, Label::None, 0);
            }
        }
        self.step(n);
        n
    }

    pub(in crate::frontend::builder) fn identifier(&mut self, ts: Ts, parent: u32) -> u32 {
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
                let site = Site::new(ts, parent, None);
                return self.call_node(site, name, 0, BareOr::Bare(resolved), &[], None);
            }
        }
        let n = self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
        self.step(n);
        n
    }

    pub(in crate::frontend::builder) fn binary(&mut self, ts: Ts, parent: u32) -> u32 {
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
                self.match_pattern(left, n, value);
                if let Some(v) = value {
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
                        let site = Site::new(right, parent, value);
                        self.call_node(site, name, 1, BareOr::Bare(resolved), &[], None)
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

    pub(in crate::frontend::builder) fn unary(&mut self, ts: Ts, parent: u32) -> u32 {
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

    pub(in crate::frontend::builder) fn attribute(
        &mut self,
        ts: Ts,
        operand: Ts,
        parent: u32,
    ) -> u32 {
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

    /// A string, charlist, sigil or quoted atom, with the calls its
    /// interpolations compile to: `Kernel.to_string/1` per part, which becomes
    /// `String.Chars.to_string/1` unless the part is known to be a string;
    /// then `List.to_charlist/1` around a charlist and
    /// `:erlang.binary_to_atom/2` around a quoted atom (a dynamic atom).
    pub(in crate::frontend::builder) fn interpolated(&mut self, ts: Ts, parent: u32) -> u32 {
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
    pub(in crate::frontend::builder) fn always_string(&self, v: u32) -> bool {
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
    pub(in crate::frontend::builder) fn compile_time_enumerable(&self, right: Ts) -> bool {
        match right.kind() {
            "list" | "sigil" | "charlist" => true,
            "binary_operator" => matches!(operator(right, self.src), ".." | "..//"),
            "unary_operator" => operator(right, self.src) == "@",
            _ => false,
        }
    }

    /// The steps of a nested-data path, outermost first: `true` for
    /// `data[key]`, `false` for `data.field`; empty when `t` is no path.
    pub(in crate::frontend::builder) fn path_segments(&self, t: Ts) -> Vec<bool> {
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

    /// Route the current flow as an exception: to the innermost `try`'s
    /// handlers if any, else out of the clause.
    pub(in crate::frontend::builder) fn exception_flow(&mut self, label: Label) {
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
    pub(in crate::frontend::builder) fn body_or_clauses(&mut self, items: &[Ts], parent: u32) {
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

    pub(in crate::frontend::builder) fn special(
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
