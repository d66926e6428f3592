//! Checks on a variable that guard the branch they lead into: `if x in
//! @allowed`, `when x in ["a", "b"]`, `cond do x =~ ~r/^[a-z]+$/ -> ...`,
//! a `case x do "literal" -> ...` branch. Uses of the variable inside the
//! branch get a `Label::Checked` DFG edge carrying the [`Check`] bits; the
//! taint analysis decides (by its rules) whether a check sanitizes.
//!
//! Only checks that pin the value to a fixed set count: membership in a
//! literal list, a `~w` sigil, a range or a module attribute; a match of a
//! literal regex anchored at both ends; equality with a literal pattern.

use proto::Check;

use super::*;

impl<'s> FileBuilder<'s> {
    /// The check bits on the variable defined by `def` in the branch being
    /// walked (0: none).
    pub(super) fn checks_on(&self, def: u32) -> u8 {
        self.m
            .checked
            .iter()
            .filter(|(d, _)| *d == def)
            .fold(0, |bits, (_, b)| bits | b)
    }

    /// Walk `f` with `checks` in force; they end with it.
    pub(super) fn under_checks<R>(
        &mut self,
        checks: Vec<(u32, u8)>,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
        let depth = self.m.checked.len();
        self.m.checked.extend(checks);
        let r = f(self);
        self.m.checked.truncate(depth);
        r
    }

    /// What holds of variables when the condition `cond` is true.
    pub(super) fn condition_checks(&self, cond: Ts) -> Vec<(u32, u8)> {
        let mut out = Vec::new();
        self.collect_checks(cond, &mut out, 0);
        out
    }

    fn collect_checks(&self, cond: Ts, out: &mut Vec<(u32, u8)>, depth: u32) {
        if depth > 16 {
            return;
        }
        match cond.kind() {
            "block" => {
                if let [inner] = kids(cond).as_slice() {
                    self.collect_checks(*inner, out, depth + 1);
                }
            }
            "binary_operator" => {
                let (Some(left), Some(right)) = (
                    cond.child_by_field_name("left"),
                    cond.child_by_field_name("right"),
                ) else {
                    return;
                };
                match operator(cond, self.src) {
                    "and" | "&&" => {
                        self.collect_checks(left, out, depth + 1);
                        self.collect_checks(right, out, depth + 1);
                    }
                    "in" if self.fixed_set(right) => {
                        out.extend(self.var_def(left).map(|d| (d, Check::MEMBERSHIP)));
                    }
                    "=~" if self.anchored_regex(right) => {
                        out.extend(self.var_def(left).map(|d| (d, Check::REGEX)));
                    }
                    _ => {}
                }
            }
            "call" => {
                let Some(target) = cond.child_by_field_name("target") else {
                    return;
                };
                let args = cond
                    .children(&mut cond.walk())
                    .find(|c| c.kind() == "arguments")
                    .map(kids)
                    .unwrap_or_default();
                let (re, value) = match self.text(target) {
                    "Regex.match?" => (args.first(), args.get(1)),
                    "String.match?" => (args.get(1), args.first()),
                    "String.starts_with?" => {
                        // `String.starts_with?(path, root)` of a path that
                        // `Path.expand/1,2` made: no `..` is left to climb out.
                        let expanded = args
                            .first()
                            .and_then(|v| self.var_def(*v))
                            .filter(|&d| self.bound_from(d, "Path", "expand"));
                        out.extend(expanded.map(|d| (d, Check::EXPANDED_PREFIX)));
                        return;
                    }
                    _ => return,
                };
                if let (Some(re), Some(value)) = (re, value) {
                    if self.anchored_regex(*re) {
                        out.extend(self.var_def(*value).map(|d| (d, Check::REGEX)));
                    }
                }
            }
            _ => {}
        }
    }

    /// The definition of the variable `ts` names, if it is a bound variable.
    pub(super) fn var_def(&self, ts: Ts) -> Option<u32> {
        (ts.kind() == "identifier")
            .then(|| self.m.env.vars.get(self.text(ts)).copied())
            .flatten()
    }

    /// Whether the variable defined by `def` was bound to the result of a
    /// call to `module.name` (`path = Path.expand(p)`).
    fn bound_from(&self, def: u32, module: &str, name: &str) -> bool {
        self.m
            .edges
            .iter()
            .filter(|e| e.dst == def && e.kind == EdgeKind::Dfg && e.label == Label::Bind)
            .any(|e| {
                self.m.calls.iter().any(|c| {
                    c.node == e.src
                        && c.module
                            .is_some_and(|m| self.m.strings[m as usize] == module)
                        && self.m.strings[c.name as usize] == name
                })
            })
    }

    /// A set of values fixed in the source: a list of literals, a `~w`
    /// sigil without interpolation, an integer range, a module attribute.
    fn fixed_set(&self, ts: Ts) -> bool {
        match ts.kind() {
            "list" => kids(ts).iter().all(|k| self.literal(*k)),
            "sigil" => {
                let text = self.text(ts);
                text.starts_with("~W") || (text.starts_with("~w") && !text.contains("#{"))
            }
            "binary_operator" => matches!(operator(ts, self.src), ".." | "..//"),
            "unary_operator" => operator(ts, self.src) == "@",
            _ => false,
        }
    }

    /// A literal value (string without interpolation, atom, number, boolean, nil).
    pub(super) fn literal(&self, ts: Ts) -> bool {
        match ts.kind() {
            "string" | "charlist" => !kids(ts).iter().any(|k| k.kind() == "interpolation"),
            "atom" | "quoted_atom" | "integer" | "float" | "char" | "boolean" | "nil" => true,
            "unary_operator" => {
                operator(ts, self.src) == "-"
                    && operand(ts).is_some_and(|o| matches!(o.kind(), "integer" | "float"))
            }
            _ => false,
        }
    }

    /// A literal `~r` regex anchored at its start (`^`, `\A`) and its end
    /// (`$`, `\z`, `\Z`): a match confines the whole value.
    fn anchored_regex(&self, ts: Ts) -> bool {
        ts.kind() == "sigil" && anchored_regex(self.text(ts))
    }
}

/// Whether `text` is a literal `~r` regex (no interpolation) anchored at
/// its start (`^`, `\A`) and its end (`$`, `\z`, `\Z`).
pub(crate) fn anchored_regex(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("~r").or_else(|| text.strip_prefix("~R")) else {
        return false;
    };
    if text.starts_with("~r") && text.contains("#{") {
        return false;
    }
    let (open, close) = match rest.chars().next() {
        Some('(') => ('(', ')'),
        Some('[') => ('[', ']'),
        Some('{') => ('{', '}'),
        Some('<') => ('<', '>'),
        Some(c) => (c, c),
        None => return false,
    };
    let body = &rest[open.len_utf8()..];
    let Some(end) = body.rfind(close) else {
        return false;
    };
    let body = &body[..end];
    // Options after the closing delimiter: `m` makes `^`/`$` match at
    // every line, so they no longer confine the value.
    let options = &rest[open.len_utf8() + end + close.len_utf8()..];
    // `^a|b$` is `(^a)|(b$)`: an alternative outside any group is not
    // anchored at both ends.
    if top_level_alternation(body) {
        return false;
    }
    let starts = body.starts_with("\\A") || (body.starts_with('^') && !options.contains('m'));
    let ends = body.ends_with("\\z")
        || body.ends_with("\\Z")
        || (body.ends_with('$') && !body.ends_with("\\$") && !options.contains('m'));
    starts && ends
}

/// Whether a regex source has a `|` outside every group and class.
fn top_level_alternation(body: &str) -> bool {
    let (mut depth, mut class, mut escaped) = (0i32, false, false);
    for c in body.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' if !class => class = true,
            ']' if class => class = false,
            '(' if !class => depth += 1,
            ')' if !class => depth -= 1,
            '|' if !class && depth == 0 => return true,
            _ => {}
        }
    }
    false
}
