//! Module and function definitions (the pre-scan of a module body is in
//! `prescan`): `defmodule`/
//! `defprotocol`/`defimpl`, `def` and friends with default arguments and
//! clauses, and the directives (`alias`, `import`, `require`, `use`).

use super::*;

mod prescan;

impl<'s> FileBuilder<'s> {
    /// A definition head: `(name, parameters, guard)`.
    pub(in crate::frontend::builder) fn head(
        &self,
        head: Ts<'s>,
    ) -> Option<(&'s str, Vec<Ts<'s>>, Option<Ts<'s>>)> {
        let (head, guard) =
            if head.kind() == "binary_operator" && operator(head, self.src) == "when" {
                (
                    head.child_by_field_name("left")?,
                    head.child_by_field_name("right"),
                )
            } else {
                (head, None)
            };
        match head.kind() {
            "call" => {
                let target = head.child_by_field_name("target")?;
                let name = self.text(target);
                let params = kids(head).into_iter().find(|c| c.kind() == "arguments");
                Some((name, params.map(kids).unwrap_or_default(), guard))
            }
            "identifier" => Some((self.text(head), Vec::new(), guard)),
            "binary_operator" => {
                let op = operator(head, self.src);
                let params = [
                    head.child_by_field_name("left"),
                    head.child_by_field_name("right"),
                ];
                Some((op, params.into_iter().flatten().collect(), guard))
            }
            "unary_operator" => {
                let op = operator(head, self.src);
                Some((op, operand(head).into_iter().collect(), guard))
            }
            _ => None,
        }
    }

    pub(in crate::frontend::builder) fn defaults(&self, params: &[Ts]) -> u16 {
        params
            .iter()
            .filter(|p| p.kind() == "binary_operator" && operator(**p, self.src) == "\\\\")
            .count() as u16
    }

    /// Evaluate a module name expression: alias, Erlang atom, `__MODULE__`,
    /// `__MODULE__.Sub`.
    pub(in crate::frontend::builder) fn module_of(&self, n: Ts) -> Option<String> {
        match n.kind() {
            "alias" => {
                let text: String = self
                    .text(n)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                Some(self.m.env.expand_alias(&text))
            }
            "atom" => {
                let t = self.text(n);
                Some(t.to_string())
            }
            "quoted_atom" => {
                let t = self.text(n).trim_start_matches(':').trim_matches('"');
                Some(match t.strip_prefix("Elixir.") {
                    Some(rest) => rest.to_string(),
                    None => format!(":{t}"),
                })
            }
            "identifier" if self.text(n) == "__MODULE__" => Some(self.m.name.clone()),
            "dot" => {
                // `__MODULE__.A.B`: collect the aliases on the right going down
                // the left spine (iteratively: the spine can be long).
                let mut segments = Vec::new();
                let mut cur = n;
                while cur.kind() == "dot" {
                    let right = cur.child_by_field_name("right")?;
                    if right.kind() != "alias" {
                        return None;
                    }
                    segments.push(self.text(right));
                    cur = cur.child_by_field_name("left")?;
                }
                if cur.kind() == "dot" {
                    return None;
                }
                let mut name = self.module_of(cur)?;
                for seg in segments.iter().rev() {
                    name.push('.');
                    name.push_str(seg);
                }
                Some(name)
            }
            _ => None,
        }
    }

    pub(in crate::frontend::builder) fn defmodule(
        &mut self,
        call: Ts,
        parent: u32,
        kind: &str,
    ) -> u32 {
        self.defmodule_with(call, parent, kind, None)
    }

    /// `recovered`: the body, when a syntax error elsewhere in the module made
    /// tree-sitter put `do ... end` into an error node after the call.
    pub(in crate::frontend::builder) fn defmodule_with(
        &mut self,
        call: Ts,
        parent: u32,
        kind: &str,
        recovered: Option<Vec<Ts>>,
    ) -> u32 {
        let mut parts = Parts::of(call, self.src);
        if parts.do_.is_none() {
            parts.do_ = recovered;
        }
        let Some(first) = parts.args.first().copied() else {
            return self.generic_call(call, parent, None);
        };
        let line = span(call).line;
        let names: Vec<(String, Option<(String, String)>)> = match kind {
            "defimpl" => {
                let Some(proto) = self.module_of(first) else {
                    return self.generic_call(call, parent, None);
                };
                let targets: Vec<String> = match parts.opts.iter().find(|(k, _)| k == "for") {
                    Some((_, v)) if v.kind() == "list" => kids(*v)
                        .into_iter()
                        .filter_map(|t| self.module_of(t))
                        .collect(),
                    Some((_, v)) => self.module_of(*v).into_iter().collect(),
                    None if self.m.kind != ModuleKind::Script => vec![self.m.name.clone()],
                    None => Vec::new(),
                };
                targets
                    .into_iter()
                    .map(|t| (format!("{proto}.{t}"), Some((proto.clone(), t))))
                    .collect()
            }
            _ => {
                let raw = match first.kind() {
                    "alias" => self
                        .text(first)
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect(),
                    _ => match self.module_of(first) {
                        Some(name) => name,
                        None => return self.generic_call(call, parent, None),
                    },
                };
                // Nesting: `defmodule Inner` inside `Outer` is `Outer.Inner`, and
                // `Inner` becomes an alias in `Outer`.
                let full = if first.kind() == "alias" && self.m.kind != ModuleKind::Script {
                    format!("{}.{raw}", self.m.name)
                } else if first.kind() == "alias" {
                    self.m.env.expand_alias(&raw)
                } else {
                    raw.clone()
                };
                if first.kind() == "alias" && self.m.kind != ModuleKind::Script {
                    let short = raw.split('.').next().unwrap_or(&raw).to_string();
                    let target = format!("{}.{short}", self.m.name);
                    self.m.env.aliases.insert(short, target);
                }
                vec![(full, None)]
            }
        };
        let mkind = match kind {
            "defprotocol" => ModuleKind::Protocol,
            "defimpl" => ModuleKind::Impl,
            _ => ModuleKind::Module,
        };
        let node = self.add(NodeKind::Directive, 0, kind, call, parent);
        self.step(node);
        for (name, implements) in names {
            let mut env = self.m.env.clone();
            env.vars.clear();
            let inner = ModCtx::new(name, mkind, env, call);
            let outer = std::mem::replace(&mut self.m, inner);
            if let Some(items) = &parts.do_ {
                (self.m.locals, self.m.explicit) = self.prescan(items);
                if mkind == ModuleKind::Protocol {
                    for (n, a) in [("__protocol__", 1), ("impl_for", 1), ("impl_for!", 1)] {
                        self.generated_function(n, a, call);
                    }
                }
                if let Some((p, t)) = &implements {
                    let (pi, ti) = (self.m.intern(p), self.m.intern(t));
                    self.m.implements = Some((pi, ti));
                    self.dep(p, DepKind::Impl, line);
                    self.dep(t, DepKind::ImplFor, line);
                    self.m.behaviours.push(pi);
                }
                let items = items.clone();
                self.body(&items, 0);
            }
            let inner = std::mem::replace(&mut self.m, outer);
            let frag = inner.finish(self.file);
            self.out.push(frag);
        }
        node
    }

    pub(in crate::frontend::builder) fn generated_function(
        &mut self,
        name: &str,
        arity: u16,
        ts: Ts,
    ) {
        self.function(name, arity, FunKind::Generated, ts);
    }

    /// The Function node for `name/arity`, created on first sight.
    pub(in crate::frontend::builder) fn function(
        &mut self,
        name: &str,
        arity: u16,
        kind: FunKind,
        ts: Ts,
    ) -> u32 {
        if let Some(&idx) = self.m.fn_index.get(&(name.to_string(), arity)) {
            return idx;
        }
        let sp = span(ts);
        let node = self.add(NodeKind::Function, kind as u8, name, ts, 0);
        let name_id = self.m.nodes[node as usize].name;
        let idx = self.m.functions.len() as u32;
        self.m.functions.push(FunctionDef {
            name: name_id,
            arity,
            kind,
            node,
            clauses: Vec::new(),
            callback: false,
            default_of: None,
            nesting: 0,
            span: sp,
            deprecated: None,
        });
        self.m.nesting.push(0);
        self.m.fn_index.insert((name.to_string(), arity), idx);
        idx
    }

    pub(in crate::frontend::builder) fn def(
        &mut self,
        call: Ts,
        parent: u32,
        macro_name: &str,
    ) -> u32 {
        let parts = Parts::of(call, self.src);
        let Some((name, params, guard)) = parts.args.first().and_then(|h| self.head(*h)) else {
            return self.generic_call(call, parent, None);
        };
        // `def unquote(verb)(...)` inside `for verb <- [:get, :post]`: one
        // function per atom, each with the clause.
        let named = self.head_names(name, &self.m.names);
        if named.len() > 1 || named.first().is_some_and(|n| n != name) {
            let mut last = 0;
            for n in named {
                last = self.def_named(call, macro_name, &parts, &n, &params, guard);
            }
            return last;
        }
        self.def_named(call, macro_name, &parts, name, &params, guard)
    }

    pub(in crate::frontend::builder) fn def_named(
        &mut self,
        call: Ts,
        macro_name: &str,
        parts: &Parts,
        name: &str,
        params: &[Ts],
        guard: Option<Ts>,
    ) -> u32 {
        let kind = match macro_name {
            "def" => FunKind::Def,
            "defp" => FunKind::Defp,
            "defmacro" => FunKind::Defmacro,
            "defmacrop" => FunKind::Defmacrop,
            "defguard" => FunKind::Defguard,
            "defguardp" => FunKind::Defguardp,
            _ => FunKind::Defdelegate,
        };
        let kind =
            if parts.do_.is_none() && self.m.kind == ModuleKind::Protocol && kind == FunKind::Def {
                FunKind::ProtocolFn
            } else {
                kind
            };
        let arity = params.len() as u16;
        let defaults = self.defaults(params);
        let idx = self.function(name, arity, kind, call);
        if std::mem::take(&mut self.m.pending_impl) {
            self.m.functions[idx as usize].callback = true;
        }
        let deprecated = self.m.pending_deprecated.take();
        if deprecated.is_some() {
            self.m.functions[idx as usize].deprecated = deprecated.clone();
        }
        // Default arguments create the lower arities, each calling the full one.
        for a in arity - defaults..arity {
            if self.m.fn_index.contains_key(&(name.to_string(), a)) {
                continue;
            }
            let low = self.function(name, a, kind, call);
            self.m.functions[low as usize].default_of = Some(arity);
            self.m.functions[low as usize].deprecated = deprecated.clone();
            let fnode = self.m.functions[low as usize].node;
            let call_node = self.add(NodeKind::Call, CallKind::Local as u8, name, call, fnode);
            let module = self.m.name.clone();
            self.push_call(
                call_node,
                Some(low),
                Some(&module),
                name,
                arity,
                CallKind::Local,
                &[],
            );
        }
        let fnode = self.m.functions[idx as usize].node;
        if kind == FunKind::Defdelegate {
            self.delegate(call, parts, name, arity, idx, fnode);
            return fnode;
        }
        let Some(body) = parts.do_.clone() else {
            return fnode;
        };
        // Directives quoted by `__using__` act in the modules that `use` this one.
        let using = name == "__using__" && kind.is_macro();
        self.m.in_using += u32::from(using);
        // `defmacro __using__(tab_component: id)`: the clause for
        // `use M, tab_component: ...` (its `apply(__MODULE__, :f, ...)`).
        let outer_key = std::mem::take(&mut self.m.using_key);
        if using {
            self.m.using_key = params.first().and_then(|p| self.keyword_key(*p));
        }
        let outer = self.m.current_fn.replace((name.to_string(), arity));
        self.clause(call, idx, fnode, params, guard, &body, parts);
        self.m.current_fn = outer;
        self.m.using_key = outer_key;
        self.m.in_using -= u32::from(using);
        fnode
    }

    /// The single key of a keyword-list pattern (`[key: x]`, `key: x`).
    pub(in crate::frontend::builder) fn keyword_key(&self, p: Ts) -> Option<String> {
        let kw = match p.kind() {
            "keywords" => p,
            "list" => kids(p).into_iter().find(|k| k.kind() == "keywords")?,
            _ => return None,
        };
        let pairs = kids(kw);
        let [pair] = pairs[..] else { return None };
        let key = pair.child_by_field_name("key")?;
        Some(self.text(key).trim().trim_end_matches(':').to_string())
    }

    pub(in crate::frontend::builder) fn delegate(
        &mut self,
        call: Ts,
        parts: &Parts,
        name: &str,
        arity: u16,
        idx: u32,
        fnode: u32,
    ) {
        let to = parts
            .opts
            .iter()
            .find(|(k, _)| k == "to")
            .and_then(|(_, v)| self.module_of(*v));
        let target = parts
            .opts
            .iter()
            .find(|(k, _)| k == "as")
            .map(|(_, v)| self.text(*v).trim_start_matches(':').to_string())
            .unwrap_or_else(|| name.to_string());
        let Some(to) = to else { return };
        let kind = if to.starts_with(':') {
            CallKind::Erlang
        } else {
            CallKind::Remote
        };
        let call_node = self.add(NodeKind::Call, kind as u8, &target, call, fnode);
        self.push_call(call_node, Some(idx), Some(&to), &target, arity, kind, &[]);
    }

    #[allow(clippy::too_many_arguments)]
    pub(in crate::frontend::builder) fn clause(
        &mut self,
        call: Ts,
        idx: u32,
        fnode: u32,
        params: &[Ts],
        guard: Option<Ts>,
        body: &[Ts],
        parts: &Parts,
    ) {
        let clause = self.add(NodeKind::Clause, 0, "", call, fnode);
        let entry = self.add(NodeKind::Entry, 0, "", call, clause);
        let exit_span = Span {
            line: span(call).end_line,
            ..span(call)
        };
        let exit_name = self.m.intern("");
        let exit = self.add_id(NodeKind::Exit, 0, exit_name, exit_span, clause);
        let outer_env = self.m.env.clone();
        let outer_f = self.m.f.replace(FnCtx {
            fun: idx,
            exit,
            flow: vec![(entry, Label::None, 0)],
            handlers: Vec::new(),
            depth: 0,
            max_depth: 0,
        });
        self.m.env.vars.clear();
        for (i, p) in params.iter().enumerate() {
            let has_default = p.kind() == "binary_operator" && operator(*p, self.src) == "\\\\";
            let pattern = if has_default {
                p.child_by_field_name("left").unwrap_or(*p)
            } else {
                *p
            };
            let pnode = self.add(
                NodeKind::Parameter,
                i.min(255) as u8,
                self.text(pattern),
                pattern,
                clause,
            );
            self.match_pattern(pattern, pnode, Some(pnode));
            self.step(pnode);
            // Default values are evaluated in the caller's stead.
            if has_default {
                if let Some(default) = p.child_by_field_name("right") {
                    self.expr(default, pnode);
                }
            }
        }
        let mut checks = Vec::new();
        if let Some(g) = guard {
            checks = self.condition_checks(g);
            self.guard(g, clause);
        }
        // `def f do ... rescue ... end` is an implicit try.
        let value = self.under_checks(checks, |b| {
            if parts.rescue.is_some() || parts.catch.is_some() || parts.after.is_some() {
                Some(b.try_parts(call, clause, parts))
            } else {
                b.body(body, clause)
            }
        });
        if let Some(v) = value {
            self.dfg(v, exit, Label::Return, 0);
        }
        self.step(exit);
        let f = std::mem::replace(&mut self.m.f, outer_f);
        self.m.env = outer_env;
        if let Some(f) = f {
            let n = &mut self.m.nesting[f.fun as usize];
            *n = (*n).max(f.max_depth);
        }
        let end = self.m.nodes.len() as u32;
        self.m.functions[idx as usize].clauses.push(ClauseDef {
            node: clause,
            entry,
            exit,
            end,
        });
        let fsp = &mut self.m.functions[idx as usize].span;
        fsp.end_line = fsp.end_line.max(span(call).end_line);
    }

    /// A directive inside `quote`: it acts in the module that expands the
    /// quote. Inside `__using__` it is recorded for the link step.
    pub(in crate::frontend::builder) fn quoted_directive(
        &mut self,
        ts: Ts,
        name: &str,
        parent: u32,
    ) -> u32 {
        let n = self.add(NodeKind::Directive, 0, name, ts, parent);
        let (args, _) = Self::call_args(ts);
        let target = args.first().and_then(|a| {
            // `import unquote(__MODULE__)` names the module defining the macro.
            let is_self = a.kind() == "call"
                && a.child_by_field_name("target")
                    .is_some_and(|t| self.text(t) == "unquote")
                && self.text(*a).contains("__MODULE__");
            if is_self {
                Some(self.m.name.clone())
            } else {
                self.module_of(*a)
            }
        });
        if let (Some(target), Some(by)) = (&target, self.injecting_function()) {
            let kind = match name {
                "alias" => DepKind::Alias,
                "import" => DepKind::Import,
                "require" => DepKind::Require,
                _ => DepKind::Use,
            };
            self.inject(by, InjectionKind::Directive(kind), target, 0);
        }
        if let (Some(target), true) = (target, self.m.in_using > 0) {
            let kind = match name {
                "alias" => DepKind::Alias,
                "import" => DepKind::Import,
                "require" => DepKind::Require,
                _ => DepKind::Use,
            };
            let id = self.m.intern(&target);
            self.m.nodes[n as usize].name = id;
            let line = span(ts).line;
            if !self
                .m
                .using
                .iter()
                .any(|u| u.target == id && u.kind == kind)
            {
                self.m.using.push(ModuleDep {
                    target: id,
                    kind,
                    line,
                });
            }
        }
        self.step(n);
        n
    }

    /// The function whose quotes inject code where they are expanded:
    /// `__using__` (or ExUnit's `using` block), or any function returning a
    /// quote (`def controller, do: quote do ... end`, reached by `use M,
    /// :controller`; `defp prelude(opts)`, spliced by `__using__`).
    pub(in crate::frontend::builder) fn injecting_function(&self) -> Option<String> {
        if self.m.quote_depth == 0 {
            return None;
        }
        if self.m.in_using > 0 {
            return Some("__using__".to_string());
        }
        self.m.current_fn.as_ref().map(|(f, _)| f.clone())
    }

    pub(in crate::frontend::builder) fn inject(
        &mut self,
        by: String,
        kind: InjectionKind,
        name: &str,
        arity: u16,
    ) {
        let injection = Injection {
            by,
            kind,
            name: name.to_string(),
            arity,
        };
        if !self.m.injections.contains(&injection) {
            self.m.injections.push(injection);
        }
    }

    /// `def name(...)` inside an injecting quote: a function of the module
    /// that expands it (every arity its default arguments make).
    pub(in crate::frontend::builder) fn quoted_def(&mut self, ts: Ts, macro_name: &str) {
        let Some(by) = self.injecting_function() else {
            return;
        };
        let (args, _) = Self::call_args(ts);
        let Some((name, params, _)) = args.first().and_then(|h| self.head(*h)) else {
            return;
        };
        let plain = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '?' | '!'));
        if !plain || name == "unquote" {
            return;
        }
        let kind = match macro_name {
            "defp" | "defmacrop" | "defguardp" => InjectionKind::Defp,
            _ => InjectionKind::Def,
        };
        let n = params.len() as u16;
        for a in n - self.defaults(&params)..=n {
            self.inject(by.clone(), kind, name, a);
        }
    }

    pub(in crate::frontend::builder) fn directive(
        &mut self,
        ts: Ts,
        name: &str,
        parent: u32,
    ) -> u32 {
        let parts = Parts::of(ts, self.src);
        let kind = match name {
            "alias" => DepKind::Alias,
            "import" => DepKind::Import,
            "require" => DepKind::Require,
            _ => DepKind::Use,
        };
        let n = self.add(NodeKind::Directive, 0, name, ts, parent);
        self.step(n);
        let line = span(ts).line;
        let Some(first) = parts.args.first().copied() else {
            return n;
        };
        // `alias Foo.{A, B}`
        let mut targets = Vec::new();
        if first.kind() == "dot" {
            if let Some(right) = first
                .child_by_field_name("right")
                .filter(|r| r.kind() == "tuple")
            {
                if let Some(base) = first
                    .child_by_field_name("left")
                    .and_then(|l| self.module_of(l))
                {
                    for item in kids(right) {
                        let text: String = self
                            .text(item)
                            .chars()
                            .filter(|c| !c.is_whitespace())
                            .collect();
                        targets.push((format!("{base}.{text}"), text));
                    }
                }
            }
        }
        if targets.is_empty() {
            let Some(module) = self.module_of(first) else {
                // `alias unquote(x)`: walk the arguments, nothing to resolve.
                self.body(&parts.args, n);
                return n;
            };
            let short = module.rsplit('.').next().unwrap_or(&module).to_string();
            targets.push((module, short));
        }
        let id = self.m.intern(&targets[0].0);
        self.m.nodes[n as usize].name = id;
        let opt = |key: &str| parts.opts.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        for (module, short) in &targets {
            self.dep(module, kind, line);
            match kind {
                DepKind::Alias | DepKind::Require => {
                    let alias_as = opt("as").map(|v| self.text(v).trim().to_string());
                    if kind == DepKind::Alias || alias_as.is_some() {
                        let short_first = short.split('.').next_back().unwrap_or(short).to_string();
                        let key = alias_as.unwrap_or(short_first);
                        if !module.starts_with(':') || kind == DepKind::Alias {
                            self.m.env.aliases.insert(key, module.clone());
                        }
                    }
                }
                DepKind::Import => {
                    let filter = if let Some(v) = opt("only") {
                        match v.kind() {
                            "atom" => ImportFilter::Kind,
                            _ => ImportFilter::Only(self.name_arity_list(v)),
                        }
                    } else if let Some(v) = opt("except") {
                        ImportFilter::Except(self.name_arity_list(v))
                    } else {
                        ImportFilter::All
                    };
                    self.m.env.add_import(Import {
                        module: module.clone(),
                        filter,
                    });
                }
                _ => {
                    // `use M` expands `M.__using__/1` here.
                    self.push_call(n, None, Some(module), "__using__", 1, CallKind::Remote, &[]);
                    if let Some((_, imports, behaviour)) =
                        kernel::USE_EFFECTS.iter().find(|(m, _, _)| m == module)
                    {
                        for i in *imports {
                            let filter = if *i == "ExUnit.Case" {
                                ImportFilter::Only(
                                    [("describe", 2), ("test", 1), ("test", 2), ("test", 3)]
                                        .iter()
                                        .map(|(n, a)| (n.to_string(), *a))
                                        .collect(),
                                )
                            } else {
                                ImportFilter::All
                            };
                            self.m.env.add_import(Import {
                                module: i.to_string(),
                                filter,
                            });
                        }
                        if let Some(b) = behaviour {
                            self.dep(b, DepKind::Behaviour, line);
                            let id = self.m.intern(b);
                            self.m.behaviours.push(id);
                        }
                        // Their `__using__` defines `child_spec/1`, which
                        // calls `Supervisor.child_spec/2`, unless overridden.
                        let child_spec = ("child_spec".to_string(), 1);
                        if matches!(
                            module.as_str(),
                            "GenServer" | "Agent" | "Task" | "Supervisor"
                        ) && !self.m.locals.contains(&child_spec)
                            && !self.m.fn_index.contains_key(&child_spec)
                        {
                            self.generated_function("child_spec", 1, ts);
                            if let Some(&idx) = self.m.fn_index.get(&child_spec) {
                                let fnode = self.m.functions[idx as usize].node;
                                self.macro_call_of(
                                    ts,
                                    fnode,
                                    Some(idx),
                                    "Supervisor",
                                    "child_spec",
                                    2,
                                );
                            }
                        }
                    }
                }
            }
        }
        // `use MyAppWeb, :controller`: the idiom's function name, which
        // `__using__` calls at compile time.
        if kind == DepKind::Use {
            if let Some(which) = parts.args.get(1).filter(|a| a.kind() == "atom") {
                let which = self.text(*which).trim_start_matches(':').to_string();
                if self.m.quote_depth == 0 {
                    let used = targets[0].0.clone();
                    self.macro_call(ts, n, &used, &which, 0);
                }
                let pair = (targets[0].0.clone(), which);
                if !self.m.use_args.contains(&pair) {
                    self.m.use_args.push(pair);
                }
            }
        }
        // `use Ecto.Repo, adapter: Ecto.Adapters.Postgres`: options naming
        // modules, as `key:Module` (framework rules read them); every
        // option's key as `kw:key` (for `__using__(key: ...)` clauses).
        if kind == DepKind::Use && self.m.quote_depth == 0 {
            for (key, _) in &parts.opts {
                let pair = (targets[0].0.clone(), format!("kw:{key}"));
                if !self.m.use_args.contains(&pair) {
                    self.m.use_args.push(pair);
                }
            }
            for (key, v) in &parts.opts {
                if v.kind() != "alias" {
                    continue;
                }
                if let Some(module) = self.module_of(*v) {
                    let pair = (targets[0].0.clone(), format!("{key}:{module}"));
                    if !self.m.use_args.contains(&pair) {
                        self.m.use_args.push(pair);
                    }
                }
            }
        }
        // Options may hold code (`use GenServer, restart: :temporary`).
        let opts: Vec<Ts> = parts.opts.iter().map(|(_, v)| *v).collect();
        if kind == DepKind::Use {
            self.body(&opts, n);
        }
        n
    }

    /// `[foo: 1, bar: 2]` as written in `only:`/`except:`.
    pub(in crate::frontend::builder) fn name_arity_list(&self, v: Ts) -> Vec<(String, u16)> {
        let mut out = Vec::new();
        for kw in kids(v) {
            for pair in kids(kw) {
                let (Some(k), Some(val)) = (
                    pair.child_by_field_name("key"),
                    pair.child_by_field_name("value"),
                ) else {
                    continue;
                };
                let key = self.text(k).trim().trim_end_matches(':').trim_matches('"');
                if let Ok(a) = self.text(val).parse() {
                    out.push((key.to_string(), a));
                }
            }
        }
        out
    }
}
