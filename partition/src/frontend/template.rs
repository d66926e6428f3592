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
            _ => {}
        }
        i += 1;
    }
    None
}

/// Blank `text` (spaces, newlines kept) into `out`.
fn blank(out: &mut String, text: &str) {
    out.extend(text.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
}

/// The Elixir source standing for a template, line for line.
pub fn template_source(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 96);
    out.push_str(&format!(
        "defmodule {TEMPLATE_MODULE} do def {TEMPLATE_FUNCTION}(assigns) do "
    ));
    let mut i = 0;
    let rest = |i: usize| &text[i..];
    while i < b.len() {
        let r = rest(i);
        let skip_to = |end: &str, from: usize| -> usize {
            text[from..]
                .find(end)
                .map_or(text.len(), |e| from + e + end.len())
        };
        if r.starts_with("<%!--") {
            let e = skip_to("--%>", i);
            blank(&mut out, &text[i..e]);
            i = e;
        } else if r.starts_with("<!--") {
            let e = skip_to("-->", i);
            blank(&mut out, &text[i..e]);
            i = e;
        } else if r.starts_with("<%") {
            let e = skip_to("%>", i);
            let inner = &text[i + 2..e.saturating_sub(2).max(i + 2)];
            match inner.as_bytes().first() {
                // `<%%` is a literal `<%`; `<%#` a comment.
                Some(b'%' | b'#') => blank(&mut out, &text[i..e]),
                Some(b'=') => {
                    out.push_str(" ;  ");
                    out.push_str(&inner[1..]);
                    out.push_str(" ;");
                }
                _ => {
                    out.push_str(" ; ");
                    out.push_str(inner);
                    out.push_str(" ;");
                }
            }
            i = e;
        } else if r.starts_with("<script") || r.starts_with("<style") {
            let close = if r.starts_with("<script") {
                "</script>"
            } else {
                "</style>"
            };
            let e = skip_to(close, i);
            blank(&mut out, &text[i..e]);
            i = e;
        } else if r.starts_with("</") {
            let e = text[i..].find('>').map_or(text.len(), |e| i + e + 1);
            blank(&mut out, &text[i..e]);
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
                        m.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
                    });
                match module {
                    Some(m) => out.push_str(&format!(";~H\"<.live_component module={{{m}}}>\";")),
                    None => blank(&mut out, tag),
                }
            } else {
                out.push_str(&format!(";~H\"<{tag}>\";"));
            }
            i = j;
        } else if b[i] == b'{' {
            let Some(e) = closing_brace(b, i) else {
                blank(&mut out, &text[i..]);
                break;
            };
            let inner = &text[i + 1..e - 1];
            let before = text[..i].trim_end_matches('=');
            if before.ends_with(":let") {
                out.push(';');
                out.push_str(inner);
                out.push_str(" = assigns;");
            } else if before.ends_with(":for") {
                out.push_str(";for ");
                out.push_str(inner);
                out.push_str(", do: nil;");
            } else {
                out.push_str(";(");
                out.push_str(inner);
                out.push_str(");");
            }
            i = e;
        } else {
            let c = r.chars().next().unwrap_or(' ');
            out.push(if c == '\n' { '\n' } else { ' ' });
            i += c.len_utf8();
        }
    }
    out.push_str("\nend end\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
