//! HEEx template files (`.heex`): the Elixir they hold, as one function of
//! a pseudo-module named after the file (kind `template`), so that a
//! template parses on its own like any file (on a node too). The link step
//! gives the function to the module that owns the template
//! (`embed_templates "dir/*"`: the function named after the file; a
//! LiveView's colocated `name.html.heex`: its `render/1`).
//!
//! The Elixir of a template is its `{...}` and `<%= ... %>` expressions
//! (`<% ... %>` blocks included: `if`/`for`/`case` around markup) and its
//! component tags (`<.name>`, `<Module.name>`, `<.live_component
//! module={M}>`, read as in `~H`), each kept on its line; the markup
//! between them is blanked. `:let={pattern}` binds its pattern, `:for={x
//! <- list}` its generator. `<script>`/`<style>` bodies and comments are
//! markup.

/// The function a template's code is in, until the link step names it.
pub const TEMPLATE_FUNCTION: &str = "__template__";

/// The pseudo-module the synthetic source defines (renamed to the file).
pub(crate) const TEMPLATE_MODULE: &str = "CpgTemplate";

pub fn is_template(file: &str) -> bool {
    file.ends_with(".heex")
}

/// The end (exclusive) of the `{...}` starting at `open`, skipping nested
/// braces and strings; `None` when unbalanced.
fn closing_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            // A character literal (`?{`, `?}`, `?\\`) is not a brace; a `?`
            // ending a name (`@open?`) is not a literal.
            b'?' if i + 1 < b.len()
                && !(i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                i += if b[i + 1] == b'\\' { 2 } else { 1 }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The generated source: code pieces joined with `;` where two share a
/// line (never a leading or doubled `;`, which the grammar refuses), the
/// template's newlines kept.
struct Emitter {
    out: String,
    /// The current line has code that a next piece must be separated from.
    open_line: bool,
}

impl Emitter {
    fn code(&mut self, code: &str) {
        let code = code.trim();
        if code.is_empty() {
            return;
        }
        // What a next piece continues without a separator: a block or a
        // clause just opened, an argument list going on.
        let last_word = code
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        let opens = code.ends_with(',')
            || matches!(last_word, "do" | "else" | "after" | "rescue" | "catch");
        if self.open_line && !code.starts_with("end") && !code.starts_with("else") {
            self.out.push_str("; ");
        } else {
            self.out.push(' ');
        }
        self.out.push_str(code);
        // A clause whose body is only markup still needs a body.
        if code.ends_with("->") {
            self.out.push_str(" nil");
            self.open_line = true;
            return;
        }
        self.open_line = !opens;
    }

    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if c == '\n' {
                self.out.push('\n');
                self.open_line = false;
            } else {
                self.out.push(' ');
            }
        }
    }
}

/// The Elixir source standing for a template, line for line.
pub fn template_source(text: &str) -> String {
    let b = text.as_bytes();
    let mut em = Emitter {
        out: String::with_capacity(text.len() + 96),
        open_line: false,
    };
    em.out.push_str(&format!(
        "defmodule {TEMPLATE_MODULE} do def {TEMPLATE_FUNCTION}(assigns) do"
    ));
    let mut i = 0;
    // Inside a tag's attributes (`<name ... >`), where a quoted value is text.
    let mut in_tag = false;
    while i < b.len() {
        let r = &text[i..];
        let skip_to = |end: &str, from: usize| -> usize {
            text[from..]
                .find(end)
                .map_or(text.len(), |e| from + e + end.len())
        };
        if r.starts_with("<%!--") {
            let e = skip_to("--%>", i);
            em.text(&text[i..e]);
            i = e;
        } else if r.starts_with("<!--") {
            let e = skip_to("-->", i);
            em.text(&text[i..e]);
            i = e;
        } else if r.starts_with("<%") {
            // The code up to `%>`, or to the end of an unclosed tag.
            let (inner, e) = match text[i + 2..].find("%>") {
                Some(end) => (&text[i + 2..i + 2 + end], i + 2 + end + 2),
                None => (&text[i + 2..], text.len()),
            };
            match inner.as_bytes().first() {
                // `<%%` is a literal `<%`; `<%#` a comment.
                Some(b'%' | b'#') => em.text(&text[i..e]),
                Some(b'=') => em.code(&inner[1..]),
                _ => em.code(inner),
            }
            // Keep the tag's own newlines (the code's are in it).
            let newlines = text[i..e].matches('\n').count() - inner.matches('\n').count();
            em.text(&"\n".repeat(newlines));
            i = e;
        } else if r.starts_with("<script") || r.starts_with("<style") {
            let close = if r.starts_with("<script") {
                "</script>"
            } else {
                "</style>"
            };
            let e = skip_to(close, i);
            em.text(&text[i..e]);
            i = e;
        } else if r.starts_with("</") {
            let e = text[i..].find('>').map_or(text.len(), |e| i + e + 1);
            em.text(&text[i..e]);
            in_tag = false;
            i = e;
        } else if b[i] == b'<'
            && b.get(i + 1)
                .is_some_and(|c| *c == b'.' || c.is_ascii_uppercase())
        {
            // A component tag: its name, as `~H` reads it.
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'.' | b'_')) {
                j += 1;
            }
            let tag = &text[i + 1..j];
            if tag == ".live_component" {
                // Its `module={M}` names the component.
                let end = text[j..].find('>').map_or(text.len(), |e| j + e);
                let module = text[j..end]
                    .find("module={")
                    .map(|m| j + m + "module={".len())
                    .and_then(|m| text[m..end].find('}').map(|e| text[m..m + e].trim()))
                    .filter(|m| {
                        !m.is_empty()
                            && m.chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
                    });
                if let Some(m) = module {
                    em.code(&format!("~H\"<.live_component module={{{m}}}>\""));
                }
            } else if tag.len() > 1 {
                em.code(&format!("~H\"<{tag}>\""));
            }
            in_tag = true;
            i = j;
        } else if b[i] == b'"' && in_tag {
            // A quoted attribute value is text (`x-data="{ open: false }"`).
            let e = text[i + 1..]
                .find('"')
                .map_or(text.len(), |e| i + 1 + e + 1);
            em.text(&text[i..e]);
            i = e;
        } else if b[i] == b'{' {
            let Some(e) = closing_brace(b, i) else {
                em.text(&text[i..]);
                break;
            };
            let inner = &text[i + 1..e - 1];
            let before = text[..i].trim_end_matches('=');
            if before.ends_with(":let") {
                em.code(&format!("{inner} = assigns"));
            } else if before.ends_with(":for") {
                em.code(&format!("for {inner}, do: nil"));
            } else {
                em.code(&format!("({inner})"));
            }
            i = e;
        } else {
            let c = r.chars().next().unwrap_or(' ');
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ => {}
            }
            em.text(&text[i..i + c.len_utf8()]);
            i += c.len_utf8();
        }
    }
    em.out.push_str("\nend end\n");
    em.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_templates_do_not_break_the_scan() {
        for t in [
            "‹%€",
            "<p>x</p><%= foo(@a) €",
            "<%>",
            "{",
            "{a",
            "<.x",
            "<",
            "\"",
            "?",
        ] {
            let src = template_source(t);
            assert!(src.starts_with("defmodule"), "{t}: {src}");
        }
        let src = template_source(
            "<div x-data=\"{ open: false }\" a={@open?}>{String.split(@x, ?{)}{f(@a)}</div>",
        );
        assert!(src.contains("(@open?)"), "{src}");
        assert!(!src.contains("open: false"), "{src}");
        assert!(src.contains("(f(@a))"), "{src}");
    }

    #[test]
    fn clauses_with_only_markup_have_a_body() {
        let src = template_source(
            "<%= cond do %>\n<% @a -> %>\n<p>x</p>\n<% true -> %>{f(@b)}\n<% end %>\n",
        );
        let tree = crate::frontend::parse_tree(&src).unwrap();
        assert!(!tree.root_node().has_error(), "{src}");
    }

    #[test]
    fn expressions_stay_on_their_lines() {
        let src = template_source(
            "<div class={@c}>\n  <.button phx-click=\"x\">{label(@x)}</.button>\n  <%= if @y do %>\n<Mod.card />\n<% end %>\n</div>\n<script>let a = {b: 1}</script>\n",
        );
        let lines: Vec<&str> = src.lines().collect();
        assert!(lines[0].contains("(@c)"), "{src}");
        assert!(
            lines[1].contains("~H\"<.button>\"") && lines[1].contains("(label(@x))"),
            "{src}"
        );
        assert!(lines[2].contains("if @y do"), "{src}");
        assert!(lines[3].contains("~H\"<Mod.card>\""), "{src}");
        assert!(lines[4].contains("end"), "{src}");
        assert!(!src.contains("b: 1"), "{src}");
        assert_eq!(lines.len(), 9, "{src}");
    }
}
