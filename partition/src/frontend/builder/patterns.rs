//! Patterns: what a match binds (variable definitions), pins, and the
//! structs and containers patterns are made of.

use super::*;

impl<'s> FileBuilder<'s> {
    /// Walk a pattern: unbound identifiers become variable definitions (pushed
    /// to `defs`), pins become uses of the pinned definition.
    pub(super) fn pattern(&mut self, ts: Ts, parent: u32, defs: &mut Vec<u32>) -> u32 {
        if self.depth >= MAX_NESTING {
            return self.too_deep(ts, parent);
        }
        self.depth += 1;
        let n = self.pattern_inner(ts, parent, defs);
        self.depth -= 1;
        n
    }

    pub(super) fn pattern_inner(&mut self, ts: Ts, parent: u32, defs: &mut Vec<u32>) -> u32 {
        match ts.kind() {
            "identifier" => {
                let name = self.text(ts);
                if name == "_" || name == "__MODULE__" {
                    return self.add(NodeKind::Literal, 0, name, ts, parent);
                }
                if self.m.quote_depth > 0 {
                    return self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
                }
                // The same name twice in one pattern must match the first binding.
                let earlier = defs.iter().copied().find(|d| {
                    let node = self.m.nodes[*d as usize];
                    self.m.strings[node.name as usize] == name
                });
                if let Some(first) = earlier {
                    let n = self.add(NodeKind::Variable, Node::VAR_USE, name, ts, parent);
                    self.dfg(first, n, Label::None, 0);
                    return n;
                }
                let n = self.add(NodeKind::Variable, Node::VAR_DEF, name, ts, parent);
                self.m.env.vars.insert(name.to_string(), n);
                defs.push(n);
                n
            }
            "unary_operator" => {
                let op = operator(ts, self.src);
                let Some(operand) = operand(ts) else {
                    return self.add(NodeKind::Literal, 0, op, ts, parent);
                };
                match op {
                    "^" => {
                        let name = self.text(operand);
                        let n = self.add(NodeKind::Variable, Node::VAR_PIN, name, ts, parent);
                        if let Some(&def) = self.m.env.vars.get(name) {
                            self.dfg(def, n, Label::Pin, 0);
                        }
                        n
                    }
                    "@" => self.attribute(ts, operand, parent),
                    _ => {
                        let n = self.add(NodeKind::Operator, 0, op, ts, parent);
                        self.pattern(operand, n, defs);
                        n
                    }
                }
            }
            "binary_operator" => {
                let op = operator(ts, self.src);
                let n = self.add(NodeKind::Operator, 0, op, ts, parent);
                let left = ts.child_by_field_name("left");
                if let Some(l) = left {
                    self.pattern(l, n, defs);
                }
                // `x :: binary-size(4)`: the right side is a type, not a pattern.
                if op != "::" {
                    if let Some(r) = ts.child_by_field_name("right") {
                        let before = defs.len();
                        self.pattern(r, n, defs);
                        // `%{"name" => n}`: `n` is bound under that key.
                        if let Some(key) =
                            left.filter(|_| op == "=>").and_then(|l| self.field_key(l))
                        {
                            self.bound_under(&defs[before..], &key);
                        }
                    }
                }
                n
            }
            "list" | "tuple" | "bitstring" | "map" | "keywords" | "map_content" => {
                let n = self.add(NodeKind::Container, 0, ts.kind(), ts, parent);
                let mut items = kids(ts);
                while let Some(i) = items
                    .iter()
                    .position(|c| matches!(c.kind(), "map_content" | "keywords"))
                {
                    let inner = kids(items[i]);
                    items.splice(i..=i, inner);
                }
                for child in items {
                    if child.kind() == "struct" {
                        self.struct_dep(child, n);
                        continue;
                    }
                    self.pattern(child, n, defs);
                }
                n
            }
            "pair" => match ts.child_by_field_name("value") {
                Some(v) => {
                    let before = defs.len();
                    let n = self.pattern(v, parent, defs);
                    if let Some(key) = ts
                        .child_by_field_name("key")
                        .and_then(|k| self.field_key(k))
                    {
                        self.bound_under(&defs[before..], &key);
                    }
                    n
                }
                None => self.add(NodeKind::Literal, 0, "", ts, parent),
            },
            "call" => {
                // Macros in patterns (`is_foo(x)` guards, `<<>>` helpers): bind
                // what their arguments bind.
                let name = ts
                    .child_by_field_name("target")
                    .map(|t| self.text(t))
                    .unwrap_or("");
                let n = self.add(NodeKind::Container, 0, name, ts, parent);
                let (args, _) = Self::call_args(ts);
                for a in args {
                    self.pattern(a, n, defs);
                }
                n
            }
            _ => {
                let text = self.text(ts);
                self.add(
                    NodeKind::Literal,
                    0,
                    &text[..floor_char(text, 64)],
                    ts,
                    parent,
                )
            }
        }
    }
}

impl<'s> FileBuilder<'s> {
    /// A literal map key as fields are named: an atom key by its name
    /// (`path:`, `:path =>`, `"a b":`), a string key with its quotes
    /// (`"path" =>`); `None` for any other key.
    pub(super) fn field_key(&self, key: Ts) -> Option<String> {
        let text = self.text(key).trim_end();
        match key.kind() {
            "keyword" | "quoted_keyword"
                if !kids(key).iter().any(|k| k.kind() == "interpolation") =>
            {
                let name = text.strip_suffix(':')?;
                let name = name
                    .strip_prefix('"')
                    .and_then(|n| n.strip_suffix('"'))
                    .unwrap_or(name);
                Some(name.to_string())
            }
            "atom" => text.strip_prefix(':').map(str::to_string),
            "quoted_atom" if !kids(key).iter().any(|k| k.kind() == "interpolation") => text
                .strip_prefix(":\"")
                .and_then(|n| n.strip_suffix('"'))
                .map(str::to_string),
            "string" if !kids(key).iter().any(|k| k.kind() == "interpolation") => {
                Some(text.to_string())
            }
            _ => None,
        }
    }

    /// Note that the definitions `defs` were bound under `key`, unless a key
    /// nearer to them was noted first.
    fn bound_under(&mut self, defs: &[u32], key: &str) {
        let id = self.m.intern(key);
        for &d in defs {
            self.m.bound_under.entry(d).or_insert(id);
        }
    }

    /// A match of `pattern` under `parent` against `value`: the pattern's
    /// variables are defined, and each is bound to the value when there is
    /// one.
    pub(super) fn match_pattern(&mut self, pattern: Ts, parent: u32, value: Option<u32>) {
        let mut defs = Vec::new();
        self.pattern(pattern, parent, &mut defs);
        if let Some(v) = value {
            for d in defs {
                self.bind(v, d);
            }
        }
    }

    /// The `Label::Bind` edge from a matched value to a variable its pattern
    /// binds; its index is one more than the key it is bound under (0: none).
    pub(super) fn bind(&mut self, value: u32, def: u32) {
        let key = self
            .m
            .bound_under
            .get(&def)
            .and_then(|&k| u16::try_from(k + 1).ok())
            .unwrap_or(0);
        self.dfg(value, def, Label::Bind, key);
    }
}
