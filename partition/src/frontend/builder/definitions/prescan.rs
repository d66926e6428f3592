//! The first pass over a module's body: the names and arities it will
//! define, and the atoms its attributes, comprehensions and records
//! generate functions from, before any call is resolved.

use super::*;

impl<'s> FileBuilder<'s> {
    /// `name/arity` of every definition in a module body (not descending into
    /// nested modules, function bodies or quotes).
    /// Also the `name/arity` written with `def` and friends (not made by
    /// `defstruct`/`defexception`/records), in `explicit`.
    pub(in crate::frontend::builder) fn prescan(&self, items: &[Ts]) -> (NameArities, NameArities) {
        let mut out = HashSet::new();
        let mut names = Names::default();
        self.prescan_into(items, &mut out, &mut names, 0);
        (out, names.explicit)
    }

    /// The atoms of a literal list (`[:get, :post]`, `~w(get post)a`).
    pub(in crate::frontend::builder) fn atom_list(&self, v: Ts) -> Option<Vec<String>> {
        match v.kind() {
            "list" => kids(v)
                .into_iter()
                .map(|a| (a.kind() == "atom").then(|| self.text(a)[1..].to_string()))
                .collect(),
            "sigil" => {
                let text = self.text(v);
                let body = text.strip_prefix("~w")?.strip_suffix('a')?;
                let inner = body.get(1..body.len().saturating_sub(1))?;
                Some(inner.split_whitespace().map(str::to_string).collect())
            }
            _ => None,
        }
    }

    /// `@name [:a, :b]` at module level: the attribute and its atoms.
    pub(in crate::frontend::builder) fn attribute_atoms(
        &self,
        item: Ts,
    ) -> Option<(String, Vec<String>)> {
        let (name, value) = self.attribute_value(item)?;
        Some((name, self.atom_list(value)?))
    }

    /// `@name value` at module level: the attribute and its value.
    fn attribute_value<'t>(&self, item: Ts<'t>) -> Option<(String, Ts<'t>)> {
        if item.kind() != "unary_operator" || operator(item, self.src) != "@" {
            return None;
        }
        let call = operand(item).filter(|o| o.kind() == "call")?;
        let name = self.text(call.child_by_field_name("target")?).to_string();
        let args = kids(call).into_iter().find(|c| c.kind() == "arguments")?;
        Some((name, kids(args).first().copied()?))
    }

    /// `@name [a: x, b: y]` (or `[a: x] ++ more`) at module level: the
    /// attribute and the keys written.
    pub(in crate::frontend::builder) fn attribute_keys(
        &self,
        item: Ts,
        names: &Names,
    ) -> Option<(String, Vec<String>)> {
        let (name, value) = self.attribute_value(item)?;
        let keys = self.keyword_keys(value, names, 0)?;
        (!keys.is_empty()).then_some((name, keys))
    }

    /// The keys of a keyword list written out, `a ++ b` of two such, or a
    /// module attribute holding one; `None` when any part is not known (the
    /// keys would not be all of them).
    pub(in crate::frontend::builder) fn keyword_keys(
        &self,
        value: Ts,
        names: &Names,
        depth: u32,
    ) -> Option<Vec<String>> {
        if depth > 32 {
            return None;
        }
        match value.kind() {
            "binary_operator" if operator(value, self.src) == "++" => {
                let mut keys =
                    self.keyword_keys(value.child_by_field_name("left")?, names, depth + 1)?;
                keys.extend(self.keyword_keys(
                    value.child_by_field_name("right")?,
                    names,
                    depth + 1,
                )?);
                Some(keys)
            }
            "unary_operator" if operator(value, self.src) == "@" => {
                names.keyword_keys.get(self.text(operand(value)?)).cloned()
            }
            "list" if kids(value).is_empty() => Some(Vec::new()),
            "list" => {
                let keywords = kids(value).into_iter().find(|k| k.kind() == "keywords")?;
                Some(
                    kids(keywords)
                        .into_iter()
                        .filter_map(|p| p.child_by_field_name("key"))
                        .map(|k| self.text(k).trim_end().trim_end_matches(':').to_string())
                        .filter(|k| !k.starts_with('"'))
                        .collect(),
                )
            }
            _ => None,
        }
    }

    /// `Enum.each(@attr, fn name -> ... end)` (or `fn {name, _} -> ...`
    /// over a keyword list) at module level: the variable and the atoms it
    /// takes, as in a module-level `for`.
    pub(in crate::frontend::builder) fn each_atoms(
        &self,
        item: Ts,
        names: &Names,
    ) -> Option<(String, Vec<String>)> {
        if self.text(item.child_by_field_name("target")?) != "Enum.each" {
            return None;
        }
        let (args, _) = Self::call_args(item);
        let [list, fun] = args[..] else {
            return None;
        };
        if fun.kind() != "anonymous_function" {
            return None;
        }
        let attr = (list.kind() == "unary_operator" && operator(list, self.src) == "@")
            .then(|| operand(list).map(|o| self.text(o)))
            .flatten();
        // Every clause binds the same variable: directly, or as the first
        // element of a pair (a keyword list's key).
        let mut bound: Option<(String, bool)> = None;
        for clause in kids(fun).into_iter().filter(|c| c.kind() == "stab_clause") {
            let left = clause.child_by_field_name("left")?;
            let [pattern] = kids(left)[..] else {
                return None;
            };
            let this = match pattern.kind() {
                "identifier" => (self.text(pattern).to_string(), false),
                "tuple" => match kids(pattern)[..] {
                    [first, _] if first.kind() == "identifier" => {
                        (self.text(first).to_string(), true)
                    }
                    _ => return None,
                },
                _ => return None,
            };
            if bound.as_ref().is_some_and(|b| *b != this) {
                return None;
            }
            bound = Some(this);
        }
        let (var, pairs) = bound?;
        let atoms = match (pairs, attr) {
            (false, Some(a)) => names.attributes.get(a)?.clone(),
            (true, Some(a)) => names.keyword_keys.get(a)?.clone(),
            (false, None) => self.atom_list(list)?,
            (true, None) => return None,
        };
        Some((var, atoms))
    }

    /// The bodies of an anonymous function's clauses.
    pub(in crate::frontend::builder) fn fn_bodies<'t>(fun: Ts<'t>) -> Vec<Ts<'t>> {
        kids(fun)
            .into_iter()
            .filter(|c| c.kind() == "stab_clause")
            .filter_map(|c| c.child_by_field_name("right"))
            .collect()
    }

    /// `for var <- [:a, :b]` or `for var <- @attr` at module level: the
    /// variable and the atoms it takes (`def unquote(var)(...)` defines one
    /// function per atom).
    pub(in crate::frontend::builder) fn for_atoms(
        &self,
        item: Ts,
        names: &Names,
    ) -> Option<(String, Vec<String>)> {
        let parts = Parts::of(item, self.src);
        let [clause] = parts.args[..] else {
            return None;
        };
        if clause.kind() != "binary_operator" || operator(clause, self.src) != "<-" {
            return None;
        }
        let var = clause
            .child_by_field_name("left")
            .filter(|v| v.kind() == "identifier")?;
        let src = clause.child_by_field_name("right")?;
        let atoms = match self.atom_list(src) {
            Some(a) => a,
            None if src.kind() == "unary_operator" && operator(src, self.src) == "@" => {
                let attr = self.text(operand(src)?);
                names.attributes.get(attr)?.clone()
            }
            None => return None,
        };
        Some((self.text(var).to_string(), atoms))
    }

    /// The names a definition head stands for: its own, or for
    /// `unquote(var)` inside a module-level `for`, each atom `var` takes.
    /// `unquote(:name)` and `unquote(:"any name")` name the function too.
    pub(in crate::frontend::builder) fn head_names(
        &self,
        name: &str,
        names: &Names,
    ) -> Vec<String> {
        let Some(inner) = name
            .strip_prefix("unquote(")
            .and_then(|r| r.strip_suffix(')'))
            .map(str::trim)
        else {
            return vec![name.to_string()];
        };
        if let Some(atom) = inner.strip_prefix(':') {
            let quoted = atom.strip_prefix('"').and_then(|a| a.strip_suffix('"'));
            return match quoted {
                Some(q) if !q.contains("#{") => {
                    vec![q.replace("\\\"", "\"").replace("\\\\", "\\")]
                }
                Some(_) => vec![name.to_string()],
                None => vec![atom.to_string()],
            };
        }
        match names.vars.get(inner) {
            Some(atoms) => atoms.clone(),
            None => vec![name.to_string()],
        }
    }

    pub(in crate::frontend::builder) fn prescan_into(
        &self,
        items: &[Ts],
        out: &mut HashSet<(String, u16)>,
        names: &mut Names,
        depth: u32,
    ) {
        if depth >= MAX_NESTING {
            return;
        }
        for &item in items {
            if let Some((attr, keys)) = self.attribute_keys(item, names) {
                names.keyword_keys.insert(attr, keys);
                continue;
            }
            if let Some((attr, atoms)) = self.attribute_atoms(item) {
                names.attributes.insert(attr, atoms);
                continue;
            }
            match item.kind() {
                "call" => {
                    let Some(target) = item.child_by_field_name("target") else {
                        continue;
                    };
                    let name = self.text(target);
                    match name {
                        "def" | "defp" | "defmacro" | "defmacrop" | "defguard" | "defguardp"
                        | "defdelegate" => {
                            if let Some(head) = Parts::of(item, self.src).args.first() {
                                if let Some((fname, params, _)) = self.head(*head) {
                                    let defaults = self.defaults(&params);
                                    let n = params.len() as u16;
                                    for fname in self.head_names(fname, names) {
                                        for a in n - defaults..=n {
                                            out.insert((fname.clone(), a));
                                            names.explicit.insert((fname.clone(), a));
                                        }
                                    }
                                }
                            }
                        }
                        "for" => {
                            let bound = self.for_atoms(item, names);
                            if let Some((var, atoms)) = &bound {
                                names.vars.insert(var.clone(), atoms.clone());
                            }
                            for child in kids(item) {
                                if child.kind() == "do_block" {
                                    self.prescan_into(&kids(child), out, names, depth + 1);
                                }
                            }
                            if let Some((var, _)) = bound {
                                names.vars.remove(&var);
                            }
                        }
                        "defstruct" | "defexception" => {
                            out.insert(("__struct__".into(), 0));
                            out.insert(("__struct__".into(), 1));
                            if name == "defexception" {
                                out.insert(("exception".into(), 1));
                                out.insert(("message".into(), 1));
                            }
                        }
                        "Enum.each" => {
                            let Some((var, atoms)) = self.each_atoms(item, names) else {
                                continue;
                            };
                            names.vars.insert(var.clone(), atoms);
                            let (args, _) = Self::call_args(item);
                            for body in args.last().map(|f| Self::fn_bodies(*f)).unwrap_or_default()
                            {
                                self.prescan_into(&kids(body), out, names, depth + 1);
                            }
                            names.vars.remove(&var);
                        }
                        "defmodule" | "defprotocol" | "defimpl" | "quote" => {}
                        _ if self.record_name(item, names).is_some() => {
                            for (rec, _) in self.record_name(item, names).unwrap_or_default() {
                                for a in 0..=2 {
                                    out.insert((rec.clone(), a));
                                }
                            }
                        }
                        _ => {
                            // Definitions under module-level `if`, `for`, `unless`...
                            for child in kids(item) {
                                if matches!(child.kind(), "do_block" | "else_block") {
                                    self.prescan_into(&kids(child), out, names, depth + 1);
                                }
                            }
                        }
                    }
                }
                // `else` blocks sit inside the `do` block; module-level
                // `case` puts definitions in its clauses' bodies.
                "block" | "else_block" | "stab_clause" | "body" => {
                    self.prescan_into(&kids(item), out, names, depth + 1)
                }
                _ => {}
            }
        }
    }

    /// `defrecord :name, ...` (bare or `Record.`): the record's name (or
    /// names, for a variable of a module-level `for`/`Enum.each`) and
    /// whether its macros are private.
    pub(in crate::frontend::builder) fn record_name(
        &self,
        call: Ts,
        names: &Names,
    ) -> Option<Vec<(String, bool)>> {
        let target = self.text(call.child_by_field_name("target")?);
        let private = match target {
            "defrecord" | "Record.defrecord" => false,
            "defrecordp" | "Record.defrecordp" => true,
            _ => return None,
        };
        let (args, _) = Self::call_args(call);
        let first = args.first()?;
        match first.kind() {
            "atom" => Some(vec![(
                self.text(*first).trim_start_matches(':').to_string(),
                private,
            )]),
            "identifier" => Some(
                names
                    .vars
                    .get(self.text(*first))?
                    .iter()
                    .map(|n| (n.clone(), private))
                    .collect(),
            ),
            _ => None,
        }
    }
}
