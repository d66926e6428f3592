//! Calls as the compiler resolves them: local, imported and remote calls,
//! captures, pipes, macro calls and the references (`{M, :f, args}`,
//! callback specs) that name a function without calling it.

use super::*;

impl<'s> FileBuilder<'s> {
    /// `name(args) :: type` (possibly `... when constraints`) → `name/arity`.
    pub(in crate::frontend::builder) fn callback_spec(&self, spec: Ts) -> Option<String> {
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

    pub(in crate::frontend::builder) fn capture(
        &mut self,
        ts: Ts,
        operand: Ts,
        parent: u32,
    ) -> u32 {
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
                            let site = Site::new(ts, parent, None);
                            let how = BareOr::Bare(resolved);
                            return self.call_node(site, name, arity, how, &[], None);
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
    pub(in crate::frontend::builder) fn call_args<'t>(
        call: Ts<'t>,
    ) -> (Vec<Ts<'t>>, Option<Ts<'t>>) {
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
    pub(in crate::frontend::builder) fn call_arity(
        args: &[Ts],
        block: Option<Ts>,
        piped: Option<u32>,
    ) -> u16 {
        let block_arg = block.is_some() && args.last().is_none_or(|a| a.kind() != "keywords");
        args.len() as u16 + u16::from(piped.is_some()) + u16::from(block_arg)
    }

    /// Resolve a bare `name/arity` in the current module and scope.
    pub(in crate::frontend::builder) fn resolve(&self, name: &str, arity: u16) -> BareCall {
        let local = self.m.locals.contains(&(name.to_string(), arity));
        self.m.env.resolve_bare(name, arity, local)
    }

    pub(in crate::frontend::builder) fn call(
        &mut self,
        ts: Ts,
        parent: u32,
        piped: Option<u32>,
    ) -> u32 {
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

    pub(in crate::frontend::builder) fn call_inner(
        &mut self,
        ts: Ts,
        parent: u32,
        piped: Option<u32>,
    ) -> u32 {
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
                let site = Site::new(ts, parent, piped);
                let n = self.call_node(site, name, arity, BareOr::Bare(resolved), &args, block);
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
                let site = Site::new(ts, parent, piped);
                self.call_node(site, name, arity, BareOr::Dynamic(None), &args, block)
            }
        }
    }

    /// `left.right(args)`: a remote call, a dynamic call on a variable module,
    /// an anonymous function call `f.(x)`, or a field access `map.key`.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::frontend::builder) fn remote(
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
            let site = Site::new(ts, parent, piped);
            return Some(self.call_node(site, name, arity, BareOr::Dynamic(None), args, block));
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
            let site = Site::new(ts, parent, piped);
            return Some(self.call_node(site, fname, arity, how, args, block));
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
        let site = Site::new(ts, parent, piped);
        let n = self.call_node(site, fname, arity, BareOr::Dynamic(None), args, block);
        if let Some(b) = base {
            self.dfg(b, n, Label::None, 0);
        }
        Some(n)
    }

    /// A call to a macro or function we do not model specially: arguments and
    /// any do-block are walked, the call is resolved by name.
    pub(in crate::frontend::builder) fn generic_call(
        &mut self,
        ts: Ts,
        parent: u32,
        piped: Option<u32>,
    ) -> u32 {
        let name = ts
            .child_by_field_name("target")
            .map(|t| self.text(t))
            .unwrap_or("");
        let (args, block) = Self::call_args(ts);
        let arity = Self::call_arity(&args, block, piped);
        let resolved = self.resolve(name, arity);
        let site = Site::new(ts, parent, piped);
        self.call_node(site, name, arity, BareOr::Bare(resolved), &args, block)
    }

    /// Create a Call node with its arguments and call site.
    pub(in crate::frontend::builder) fn call_node(
        &mut self,
        Site { ts, parent, piped }: Site,
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

    /// A call the compiler generates from syntax (interpolation, access,
    /// `raise Module`): a real call of the compiled module. The caller walks
    /// its arguments and steps it.
    pub(in crate::frontend::builder) fn implied_call(
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

    /// A call a macro's expansion makes (kind `macro`), stepped in the
    /// current flow: the macro's own node carries the data flow.
    /// `{Module, :fun, [a, b]}`: a reference to `Module.fun/2` (whoever
    /// gets the tuple applies it); `{Module, :fun}`: to every `fun`.
    pub(in crate::frontend::builder) fn mfa_reference(&mut self, ts: Ts, parent: u32) {
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
    pub(in crate::frontend::builder) fn callback_option(&self, ts: Ts) -> bool {
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

    pub(in crate::frontend::builder) fn macro_call(
        &mut self,
        ts: Ts,
        parent: u32,
        module: &str,
        name: &str,
        arity: u16,
    ) {
        self.macro_call_of(ts, parent, None, module, name, arity);
    }

    /// [`Self::macro_call`] made by the function `caller` (a function the
    /// macro generated), outside the current flow.
    pub(in crate::frontend::builder) fn macro_call_of(
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
}
