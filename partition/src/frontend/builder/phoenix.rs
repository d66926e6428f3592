//! Phoenix and Plug semantics: what their macros wire together, as calls the
//! compiled code makes (kind `macro`), so that callers, impact and dead code
//! see them. The link step keeps only those whose target exists.
//!
//! - Plug.Builder: `plug :fun, opts` in a module body calls `fun/2` from the
//!   module's `call/2`; `plug Mod, opts` calls `Mod.init/1` and `Mod.call/2`.
//! - Phoenix.Router: `pipeline :name do plug ... end` defines `name/2`
//!   holding its plugs; `pipe_through` calls them; `get/post/put/patch/
//!   delete/options/head/match/forward/resources/live` inside `scope` (with
//!   its alias) call the controller actions (`Controller.action/2`), the
//!   LiveView callbacks, or the forwarded or routed plug (`init/1`,
//!   `call/2`), from the router's `call/2`;
//!   `live_session ..., on_mount:` calls `Mod.on_mount/4`.
//! - Phoenix.Controller: `render(conn, :template, ...)` in `FooController`
//!   calls `FooHTML.template/1` and `FooJSON.template/1` (the view modules
//!   the controller's formats name by convention).
//! - Phoenix.LiveView: `on_mount Mod` calls `Mod.on_mount/4`.
//! - Ecto.Changeset: `cast_assoc(changeset, :items)` (or `cast_embed`)
//!   without `with:` calls the associated schema's `changeset/2`, as the
//!   schema's `has_many :items, Item` (or `embeds_many`, ...) names it.
//! - HEEx (`~H`): `<.name ...>` calls `name/1`, `<Mod.name ...>` calls
//!   `Mod.name/1`, `<.live_component module={Mod} ...>` and
//!   `live_render(..., Mod, ...)` call the component's callbacks.

use super::*;

const VERBS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "options", "head", "match",
];

/// What a LiveView route or a live component is called through.
const LIVE_CALLBACKS: &[(&str, u16)] = &[
    ("mount", 3),
    ("mount", 1),
    ("update", 2),
    ("update_many", 1),
    ("handle_params", 3),
    ("handle_event", 3),
    ("handle_info", 2),
    ("handle_async", 3),
    ("render", 1),
];

/// The error statuses Plug knows (4xx and 5xx): Phoenix renders an error
/// page with the template named after its status.
const ERROR_STATUSES: &[u16] = &[
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418,
    421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508,
    510, 511,
];

const RESOURCE_ACTIONS: &[&str] = &["index", "edit", "new", "show", "create", "update", "delete"];

impl<'s> FileBuilder<'s> {
    /// Module-level Phoenix/Plug DSL around the ordinary walk of the call:
    /// `scope` aliases are kept while its block is walked.
    pub(super) fn phoenix_call(&mut self, ts: Ts, name: &str, parent: u32) -> Option<u32> {
        if self.m.f.is_some() || self.m.quote_depth > 0 {
            return None;
        }
        let parts = Parts::of(ts, self.src);
        match name {
            "scope" | "pipeline" | "live_session" => {
                let mut pushed = false;
                let mut pipeline = None;
                match name {
                    "scope" => {
                        let alias = parts
                            .args
                            .iter()
                            .find(|a| a.kind() == "alias")
                            .copied()
                            .or_else(|| {
                                parts
                                    .opts
                                    .iter()
                                    .find(|(k, _)| k == "alias")
                                    .map(|(_, v)| *v)
                            })
                            .map(|a| self.text(a).to_string());
                        self.m.scopes.push(alias);
                        pushed = true;
                    }
                    "pipeline" => {
                        pipeline = parts
                            .args
                            .first()
                            .filter(|a| a.kind() == "atom")
                            .map(|a| self.text(*a)[1..].to_string());
                    }
                    _ => {
                        let on_mount = parts
                            .opts
                            .iter()
                            .find(|(k, _)| k == "on_mount")
                            .map(|(_, v)| *v);
                        if let Some(v) = on_mount {
                            self.on_mount(v, ts);
                        }
                    }
                }
                let outer = std::mem::replace(&mut self.m.pipeline, pipeline);
                let n = self.generic_call(ts, parent, None);
                self.m.pipeline = outer;
                if pushed {
                    self.m.scopes.pop();
                }
                Some(n)
            }
            "plug" => {
                let n = self.generic_call(ts, parent, None);
                let target = self.m.pipeline.clone().unwrap_or_else(|| "call".into());
                match parts.args.first() {
                    Some(a) if a.kind() == "atom" => {
                        let fun = self.text(*a)[1..].to_string();
                        self.dsl_bare_call(ts, &target, &fun, 2);
                    }
                    Some(a) => {
                        if let Some(module) = self.module_of(*a) {
                            self.dsl_call(ts, &target, &module, "init", 1);
                            self.dsl_call(ts, &target, &module, "call", 2);
                        }
                    }
                    None => {}
                }
                Some(n)
            }
            // `embed_templates "page_html/*"` (relative to this file's
            // folder, or to `root:`): one function per template file.
            "embed_templates" => {
                let pattern = parts
                    .args
                    .first()
                    .filter(|a| a.kind() == "string" && self.literal(**a))
                    .map(|a| self.text(*a).trim_matches('"').to_string());
                let option = |key: &str| {
                    parts
                        .opts
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| *v)
                        .filter(|v| v.kind() == "string" && self.literal(*v))
                        .map(|v| self.text(v).trim_matches('"').to_string())
                };
                let (root, suffix) = (option("root"), option("suffix"));
                let n = self.generic_call(ts, parent, None);
                if let Some(pattern) = pattern {
                    let dir = self.file.rsplit_once('/').map_or("", |(d, _)| d);
                    let base = match root {
                        Some(r) => format!("{dir}/{r}"),
                        None => dir.to_string(),
                    };
                    self.m.templates.push((
                        normalize_path(&format!("{base}/{pattern}")),
                        suffix.unwrap_or_default(),
                    ));
                }
                Some(n)
            }
            // Each pipe is a plug: a pipeline of the router (its function
            // `name/2`), another function plug (an imported one, as
            // `plug :fun`) or a module plug.
            "pipe_through" => {
                let n = self.generic_call(ts, parent, None);
                let pipes: Vec<Ts> = match parts.args.first() {
                    Some(a) if a.kind() == "list" => kids(*a),
                    Some(a) => vec![*a],
                    None => Vec::new(),
                };
                let own = self.m.name.clone();
                for p in pipes {
                    match p.kind() {
                        "atom" => {
                            let name = self.text(p)[1..].to_string();
                            if self.m.fn_index.contains_key(&(name.clone(), 2)) {
                                self.dsl_call(ts, "call", &own, &name, 2);
                            } else {
                                self.dsl_bare_call(ts, "call", &name, 2);
                            }
                        }
                        "alias" => {
                            if let Some(module) = self.module_of(p) {
                                self.dsl_call(ts, "call", &module, "init", 1);
                                self.dsl_call(ts, "call", &module, "call", 2);
                            }
                        }
                        _ => {}
                    }
                }
                Some(n)
            }
            "on_mount" => {
                let n = self.generic_call(ts, parent, None);
                if let Some(v) = parts.args.first() {
                    self.on_mount(*v, ts);
                }
                Some(n)
            }
            "forward" | "live" | "resources" if parts.args.len() >= 2 => {
                let n = self.generic_call(ts, parent, None);
                if let Some(module) = self.routed_module(parts.args[1]) {
                    match name {
                        "forward" => {
                            self.dsl_call(ts, "call", &module, "init", 1);
                            self.dsl_call(ts, "call", &module, "call", 2);
                        }
                        "live" => {
                            for (f, a) in LIVE_CALLBACKS {
                                self.dsl_call(ts, "call", &module, f, *a);
                            }
                        }
                        _ => {
                            let only = self.atom_option(&parts, "only");
                            let except = self.atom_option(&parts, "except");
                            for action in RESOURCE_ACTIONS {
                                let kept =
                                    only.as_ref().is_none_or(|o| o.iter().any(|x| x == action))
                                        && except
                                            .as_ref()
                                            .is_none_or(|e| !e.iter().any(|x| x == action));
                                if kept {
                                    self.dsl_call(ts, "call", &module, action, 2);
                                }
                            }
                        }
                    }
                }
                Some(n)
            }
            verb if VERBS.contains(&verb) => {
                let (controller, action) = if verb == "match" {
                    (parts.args.get(2), parts.args.get(3))
                } else {
                    (parts.args.get(1), parts.args.get(2))
                };
                let controller = controller.filter(|c| c.kind() == "alias")?;
                let n = self.generic_call(ts, parent, None);
                if let Some(module) = self.routed_module(*controller) {
                    match action.filter(|a| a.kind() == "atom") {
                        Some(action) => {
                            let action = self.text(*action)[1..].to_string();
                            self.dsl_call(ts, "call", &module, &action, 2);
                        }
                        // `get "/x", SomePlug, opts`: a plug route.
                        None => {
                            self.dsl_call(ts, "call", &module, "init", 1);
                            self.dsl_call(ts, "call", &module, "call", 2);
                        }
                    }
                }
                Some(n)
            }
            // Ecto schemas: `has_many :items, Item` (in `schema do`), for
            // `cast_assoc(changeset, :items)` below.
            "has_many" | "has_one" | "belongs_to" | "many_to_many" | "embeds_one"
            | "embeds_many"
                if parts.args.len() >= 2 =>
            {
                let field = parts.args.first().filter(|a| a.kind() == "atom");
                if let (Some(field), Some(module)) = (field, self.module_of(parts.args[1])) {
                    let field = self.text(*field)[1..].to_string();
                    self.m.assocs.insert(field, module);
                }
                None
            }
            _ => None,
        }
    }

    /// A keyword `layout:`, `root_layout:` or `html:` whose value is
    /// `{Module, :name}`: Phoenix calls `Module.name/1` to render it.
    pub(super) fn layout_option(&mut self, pair: Ts, parent: u32) {
        let Some(key) = pair.child_by_field_name("key") else {
            return;
        };
        let key = self.text(key).trim_end().trim_end_matches(':');
        if !matches!(key, "layout" | "root_layout" | "html") || self.m.quote_depth > 0 {
            return;
        }
        let Some(value) = pair
            .child_by_field_name("value")
            .filter(|v| v.kind() == "tuple")
        else {
            return;
        };
        let [module, name] = kids(value)[..] else {
            return;
        };
        if let (Some(module), "atom") = (self.module_of(module), name.kind()) {
            let fun = self.text(name)[1..].to_string();
            self.macro_call(value, parent, &module, &fun, 1);
        }
    }

    /// `render_errors: [formats: [html: ErrorHTML, json: ErrorJSON]]` (or
    /// `view: ErrorView`) in an endpoint's configuration: Phoenix renders
    /// an error with the view's `render/2`, or the template function named
    /// after its status (`"404"/1`); each that the view defines is called.
    pub(super) fn render_errors_option<'t>(&mut self, pair: Ts<'t>, parent: u32) {
        let key = |p: Ts| {
            p.child_by_field_name("key")
                .map(|k| self.text(k).trim_end().trim_end_matches(':').to_string())
        };
        if key(pair).as_deref() != Some("render_errors") || self.m.quote_depth > 0 {
            return;
        }
        let pairs = |v: Option<Ts<'t>>| -> Vec<Ts<'t>> {
            v.filter(|v| v.kind() == "list")
                .map(kids)
                .unwrap_or_default()
                .into_iter()
                .filter(|k| k.kind() == "keywords")
                .flat_map(kids)
                .filter(|p| p.kind() == "pair")
                .collect()
        };
        let mut views = Vec::new();
        for option in pairs(pair.child_by_field_name("value")) {
            let value = option.child_by_field_name("value");
            match key(option).as_deref() {
                Some("view") => views.extend(value),
                Some("formats") => views.extend(
                    pairs(value)
                        .into_iter()
                        .filter_map(|p| p.child_by_field_name("value")),
                ),
                _ => {}
            }
        }
        for view in views {
            let Some(module) = (view.kind() == "alias")
                .then(|| self.module_of(view))
                .flatten()
            else {
                continue;
            };
            self.macro_call(view, parent, &module, "render", 2);
            for status in ERROR_STATUSES {
                self.macro_call(view, parent, &module, &status.to_string(), 1);
            }
        }
    }

    /// `put_view(conn, View)` (or `html: View, json: ...`), `put_new_view`,
    /// `render_one(x, View, "t.json")` and `render_many`: Phoenix renders
    /// with the view's `render/2`.
    pub(super) fn view_render(
        &mut self,
        ts: Ts,
        name: &str,
        args: &[Ts],
        piped: bool,
        parent: u32,
    ) {
        if !matches!(
            name,
            "put_view" | "put_new_view" | "render_one" | "render_many"
        ) {
            return;
        }
        let parts = Parts::of(ts, self.src);
        let at = usize::from(!piped);
        let mut views: Vec<Ts> = args.get(at).copied().into_iter().collect();
        if matches!(name, "put_view" | "put_new_view") {
            views.extend(parts.opts.iter().map(|(_, v)| *v));
        }
        for view in views {
            if view.kind() != "alias" {
                continue;
            }
            if let Some(module) = self.module_of(view) {
                self.macro_call(view, parent, &module, "render", 2);
            }
        }
    }

    /// `cast_assoc(changeset, :items)` and `cast_embed` without `with:`
    /// call the associated schema's `changeset/2`.
    pub(super) fn ecto_cast(&mut self, ts: Ts, name: &str, args: &[Ts], parent: u32) {
        if !matches!(name, "cast_assoc" | "cast_embed") {
            return;
        }
        let parts = Parts::of(ts, self.src);
        if parts.opts.iter().any(|(k, _)| k == "with") {
            return;
        }
        // Piped (`changeset |> cast_assoc(:items)`) or not.
        let field = args.iter().find(|a| a.kind() == "atom");
        let Some(module) = field
            .and_then(|f| self.m.assocs.get(&self.text(*f)[1..]))
            .cloned()
        else {
            return;
        };
        self.macro_call(ts, parent, &module, "changeset", 2);
    }

    /// A controller, LiveView or plug named in a route: expanded through
    /// the aliases in scope, then prefixed with the enclosing scopes' aliases.
    fn routed_module(&self, arg: Ts) -> Option<String> {
        if arg.kind() != "alias" {
            return None;
        }
        let module = self.module_of(arg)?;
        let prefix: Vec<&str> = self.m.scopes.iter().flatten().map(String::as_str).collect();
        if prefix.is_empty() {
            return Some(module);
        }
        Some(format!("{}.{module}", prefix.join(".")))
    }

    /// `only: [:index, :show]` as atom names.
    fn atom_option(&self, parts: &Parts, key: &str) -> Option<Vec<String>> {
        let v = parts.opts.iter().find(|(k, _)| k == key)?.1;
        self.atom_list(v)
    }

    /// `on_mount Mod`, `on_mount {Mod, arg}` or a list of them.
    fn on_mount(&mut self, v: Ts, ts: Ts) {
        let items = if v.kind() == "list" { kids(v) } else { vec![v] };
        for item in items {
            let module = match item.kind() {
                "tuple" => kids(item).first().and_then(|m| self.module_of(*m)),
                _ => self.module_of(item),
            };
            if let Some(module) = module {
                self.dsl_call(ts, "__module__", &module, "on_mount", 4);
            }
        }
    }

    /// The generated function a DSL call belongs to (`call/2`, a pipeline's
    /// `name/2`), created on first use; `__module__` is the module body.
    fn dsl_function(&mut self, ts: Ts, function: &str) -> Option<u32> {
        if function == "__module__" {
            return None;
        }
        let key = (function.to_string(), 2);
        if !self.m.fn_index.contains_key(&key) {
            self.generated_function(function, 2, ts);
        }
        self.m.fn_index.get(&key).copied()
    }

    /// A macro-made call `module.name/arity` from `function`.
    fn dsl_call(&mut self, ts: Ts, function: &str, module: &str, name: &str, arity: u16) {
        let caller = self.dsl_function(ts, function);
        let parent = caller.map_or(0, |i| self.m.functions[i as usize].node);
        match caller {
            Some(idx) => self.macro_call_of(ts, parent, Some(idx), module, name, arity),
            None => {
                let n = self.add(NodeKind::Call, CallKind::Macro as u8, name, ts, parent);
                self.push_call(n, None, Some(module), name, arity, CallKind::Macro, &[]);
            }
        }
    }

    /// `plug :fun`: the bare `fun/2`, resolved as a call written in the
    /// module (a local plug function or an imported one).
    fn dsl_bare_call(&mut self, ts: Ts, function: &str, name: &str, arity: u16) {
        let caller = self.dsl_function(ts, function);
        let parent = caller.map_or(0, |i| self.m.functions[i as usize].node);
        self.bare_call_site(ts, parent, caller, name, arity);
    }

    /// A call of `name/arity` written without a module where the macro put
    /// it, resolved like one in the source (the link step decides between
    /// candidates); returns its node.
    fn bare_call_site(
        &mut self,
        ts: Ts,
        parent: u32,
        caller: Option<u32>,
        name: &str,
        arity: u16,
    ) -> u32 {
        let (module, kind, candidates) = match self.resolve(name, arity) {
            BareCall::Local => (Some(self.m.name.clone()), CallKind::Local, Vec::new()),
            BareCall::Imported(m) => (Some(m), CallKind::Imported, Vec::new()),
            BareCall::Candidates(c) => (None, CallKind::Unresolved, c),
            BareCall::Unresolved => (None, CallKind::Unresolved, Vec::new()),
        };
        let n = self.add(NodeKind::Call, kind as u8, name, ts, parent);
        self.push_call(n, caller, module.as_deref(), name, arity, kind, &candidates);
        n
    }

    /// `render(conn, :show, ...)` in `FooController`: the view functions.
    pub(super) fn controller_render(&mut self, ts: Ts, args: &[Ts], parent: u32) {
        let Some(base) = self.m.name.strip_suffix("Controller").map(str::to_string) else {
            return;
        };
        let Some(template) = args.get(1) else {
            return;
        };
        match template.kind() {
            "atom" => {
                let template = self.text(*template)[1..].to_string();
                for view in ["HTML", "JSON"] {
                    self.macro_call(ts, parent, &format!("{base}{view}"), &template, 1);
                }
            }
            // `render(conn, "show.json", ...)`: Phoenix.View's `FooView`
            // renders it with `render/2`; with formats, `FooJSON.show/1`.
            "string" if self.literal(*template) => {
                let text = self.text(*template).trim_matches('"').to_string();
                self.macro_call(ts, parent, &format!("{base}View"), "render", 2);
                if let Some((name, format)) = text.split_once('.') {
                    let view = match format {
                        "html" => "HTML",
                        "json" => "JSON",
                        _ => return,
                    };
                    self.macro_call(ts, parent, &format!("{base}{view}"), name, 1);
                }
            }
            _ => {}
        }
    }

    /// Component calls in a `~H` template: `<.name`, `<Mod.name`, and
    /// `module={Mod}` of live components.
    pub(super) fn heex(&mut self, ts: Ts, parent: u32) {
        let text = self.text(ts);
        if !text.starts_with("~H") || self.m.quote_depth > 0 {
            return;
        }
        let bytes = text.as_bytes();
        let mut calls: Vec<(Option<String>, String)> = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'<' && i + 1 < bytes.len() {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric()
                        || matches!(bytes[j], b'.' | b'_' | b'?' | b'!'))
                {
                    j += 1;
                }
                let tag = &text[start..j];
                if let Some(local) = tag.strip_prefix('.') {
                    if !local.is_empty() && !local.contains('.') {
                        calls.push((None, local.to_string()));
                    }
                } else if tag.starts_with(|c: char| c.is_ascii_uppercase()) {
                    if let Some((module, fun)) = tag.rsplit_once('.') {
                        if fun.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
                            calls.push((Some(self.m.env.expand_alias(module)), fun.to_string()));
                        }
                    }
                }
                i = j.max(i + 1);
            } else if bytes[i..].starts_with(b"module={") {
                // `module={` is ASCII, so `i + 8` is a character boundary.
                let rest = text.get(i + 8..).unwrap_or("");
                let end = rest.find('}').unwrap_or(0);
                let module = rest[..end].trim();
                if module.starts_with(|c: char| c.is_ascii_uppercase())
                    && module
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
                {
                    let module = self.m.env.expand_alias(module);
                    for (f, a) in LIVE_CALLBACKS {
                        self.macro_call(ts, parent, &module, f, *a);
                    }
                }
                i += 8;
            } else {
                i += 1;
            }
        }
        for (module, fun) in calls {
            match module {
                Some(m) => self.macro_call(ts, parent, &m, &fun, 1),
                None => {
                    let n = self.bare_call_site(ts, parent, None, &fun, 1);
                    self.step(n);
                }
            }
        }
    }
}

/// `a/./b/../c` as `a/c`, without a leading `/` or `./`.
fn normalize_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out.join("/")
}
