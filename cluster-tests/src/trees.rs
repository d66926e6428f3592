//! Trees of Elixir code for tests: the example application, the corpus,
//! copies of them to edit, and renamed copies that stand for other code
//! bases of the same shape.

use std::path::{Path, PathBuf};

use crate::fetched;

/// The Elixir corpus's directory, fetched by scripts/fetch-corpus.sh if
/// it is not here yet.
pub fn corpus() -> PathBuf {
    fetched("fetch-corpus.sh")
}

/// The example application (examples/shop).
pub fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop")
}

/// A copy of the example application to edit: the temporary directory
/// (deleted when dropped) and the tree in it.
pub fn example_copy() -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let tree = work.path().join("shop");
    copy_tree(&example(), &tree).unwrap_or_else(|e| panic!("copying the example: {e}"));
    (work, tree)
}

/// Copy the directory `from` to `to` (created), recursively.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            // cpg's caches (`_build/cpg`), which other tests' ingests of
            // the same tree rewrite meanwhile, are not the tree.
            if entry.file_name() == "_build" {
                continue;
            }
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Top-level namespaces of the modules a tree defines (`Mix` for
/// `Mix.Project`), the names [`renamed_copy`] prefixes.
pub fn namespaces(snapshot: &query::Snapshot) -> std::collections::BTreeSet<String> {
    snapshot
        .summaries
        .iter()
        .filter(|m| m.kind == proto::ModuleKind::Module)
        .filter_map(|m| m.name.split('.').next())
        .filter(|n| n.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(str::to_string)
        .collect()
}

/// `text` with every alias whose first segment is in `namespaces` prefixed
/// by `prefix` (`Mix.Project` → `C2Mix.Project`), so that a copy of a code
/// base defines and calls its own modules, as another code base of the same
/// shape would.
pub fn rename_modules(
    text: &str,
    prefix: &str,
    namespaces: &std::collections::BTreeSet<String>,
) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        let starts_alias = c.is_ascii_uppercase()
            && !(before.is_ascii_alphanumeric() || matches!(before, b'_' | b'.' | b':' | b'@'));
        if starts_alias {
            let end = bytes[i..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                .map_or(bytes.len(), |n| i + n);
            let word = &text[i..end];
            if namespaces.contains(word) {
                out.push_str(prefix);
            }
            out.push_str(word);
            i = end;
        } else {
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + len]);
            i += len;
        }
    }
    out
}

/// Copy the Elixir sources under `from` to `to` with module names renamed
/// ([`rename_modules`]); only `.ex` and `.exs` files, and of them only those
/// `keep` accepts (by path relative to `from`). Returns the files written.
pub fn renamed_copy(
    from: &Path,
    to: &Path,
    prefix: &str,
    namespaces: &std::collections::BTreeSet<String>,
    keep: &dyn Fn(&str) -> bool,
) -> std::io::Result<usize> {
    let sources =
        codebase::embedded::read_sources(from).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut written = 0;
    for s in sources.into_iter().filter(|s| keep(&s.file)) {
        let target = to.join(&s.file);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = String::from_utf8_lossy(&s.bytes);
        std::fs::write(target, rename_modules(&text, prefix, namespaces))?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renaming_prefixes_aliases_of_the_given_namespaces_only() {
        let names: std::collections::BTreeSet<String> =
            ["Mix", "Enum"].iter().map(|s| s.to_string()).collect();
        let text = "defmodule Mix.Tasks.Run do\n  alias Mix.Project\n  @moduledoc \"Mix\"\n  def run(x), do: Enum.map(x, &Mix.Foo.bar/1) |> IO.inspect()\n  def a, do: {:Mix, MixX, Foo.Mix, @Mix}\nend\n";
        let renamed = rename_modules(text, "C1", &names);
        assert_eq!(
            renamed,
            "defmodule C1Mix.Tasks.Run do\n  alias C1Mix.Project\n  @moduledoc \"C1Mix\"\n  def run(x), do: C1Enum.map(x, &C1Mix.Foo.bar/1) |> IO.inspect()\n  def a, do: {:Mix, MixX, Foo.Mix, @Mix}\nend\n"
        );
    }
}
