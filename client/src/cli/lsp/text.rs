//! Text and addresses: `file://` URIs, UTF-16 columns (the protocol's)
//! against byte columns (the index's), and names found as words.

use std::path::{Path, PathBuf};

use lsp_types::Uri;

/// The path of a `file://` URI (percent-decoded).
pub(super) fn path_of(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

/// The `file://` URI of an absolute path.
pub(super) fn uri_of(path: &Path) -> Option<Uri> {
    let mut s = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                s.push(b as char)
            }
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    s.parse().ok()
}

/// UTF-16 code units before byte `col` of `line`.
pub(super) fn utf16_of(line: &str, col: usize) -> u32 {
    let col = col.min(line.len());
    let mut end = col;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].encode_utf16().count() as u32
}

/// The byte column of UTF-16 column `units` of `line`.
pub(super) fn byte_of(line: &str, units: u32) -> usize {
    let mut seen = 0u32;
    for (i, c) in line.char_indices() {
        if seen >= units {
            return i;
        }
        seen += c.len_utf16() as u32;
    }
    line.len()
}

/// The byte range of `name` in `line` at or after `from` (as a word).
pub(super) fn find_name(line: &str, name: &str, from: usize) -> Option<(usize, usize)> {
    if name.is_empty() {
        return None;
    }
    let word = |c: char| c.is_alphanumeric() || "_?!".contains(c);
    let mut at = from.min(line.len());
    while !line.is_char_boundary(at) {
        at -= 1;
    }
    while let Some(i) = line[at..].find(name) {
        let s = at + i;
        let e = s + name.len();
        let before = line[..s]
            .chars()
            .next_back()
            .is_none_or(|c| !word(c) || c == '.');
        let after = line[e..].chars().next().is_none_or(|c| !word(c));
        if before && after {
            return Some((s, e));
        }
        at = e;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_round_trip_over_non_ascii() {
        let line = "  héllo(\"日本\", 𝔸) |> f()";
        for (i, _) in line.char_indices() {
            assert_eq!(byte_of(line, utf16_of(line, i)), i);
        }
        // 20 characters before `f`: 𝔸 is two UTF-16 units, é and 日 one each.
        assert_eq!(utf16_of(line, line.find('f').unwrap()), 21);
    }

    #[test]
    fn file_uris_round_trip() {
        let p = Path::new("/w/my app/lib/ü.ex");
        let uri = uri_of(p).unwrap();
        assert_eq!(uri.as_str(), "file:///w/my%20app/lib/%C3%BC.ex");
        assert_eq!(path_of(uri.as_str()).unwrap(), p);
    }

    #[test]
    fn names_are_found_as_words() {
        assert_eq!(
            find_name("  defp get(x), do: get_all(x)", "get", 2),
            Some((7, 10))
        );
        assert_eq!(
            find_name("Mod.get_all(x) |> get()", "get", 0),
            Some((18, 21))
        );
        assert_eq!(find_name("x = get_all", "get", 0), None);
    }
}
