//! Projects and shared libraries on a cluster: how a file's stored name
//! says whose it is.
//!
//! A cluster holds any number of projects (code bases ingested with `cpg
//! ingest --project NAME`; the unnamed default project is `""`). Their
//! files are stored under names that keep them apart, and the dependencies
//! they ingest as library code are stored once per package, version and
//! content, under a name every project using that library shares:
//!
//! - a file of the default project: its path, as ingested (`lib/a.ex`);
//! - a file of project `P`: `@P/` and its path (`@shop/lib/a.ex`);
//! - a library file: `@lib/PACKAGE/VERSION/HASH/` and its path in the
//!   project that sent it (`@lib/phoenix/1.7.14/0123456789abcdef/deps/phoenix/lib/phoenix.ex`).
//!
//! Answers name files by their path (the part after the prefix), as an
//! embedded run on the project's tree would.

use serde::{Deserialize, Serialize};

/// The prefix of library files' stored names (so `lib` is no project name).
pub const LIBRARY_PREFIX: &str = "@lib/";

/// One library as stored: a package at a version with given content. Two
/// projects whose `deps/phoenix` are the same release, unchanged, share it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LibraryId {
    pub package: String,
    /// From the project's `mix.lock` (a Hex version or a Git revision), the
    /// package's `hex_metadata.config`, or `unknown`.
    pub version: String,
    /// Of the package's files: their paths within the package and content.
    pub hash: u64,
}

impl std::fmt::Display for LibraryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({:016x})", self.package, self.version, self.hash)
    }
}

/// Whose a stored file is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// A project's own file (`""`: the default project).
    Project(String),
    /// A library's file, shared by the projects that use it.
    Library(LibraryId),
}

/// Refuse project names that cannot be told apart in a stored name.
pub fn check_project(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Ok(());
    }
    let ok = name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.');
    if !ok {
        return Err(format!(
            "project name {:?} refused: use up to 64 letters, digits, `_`, `-` and `.` (not first)",
            name.chars().take(80).collect::<String>()
        ));
    }
    if name == "lib" {
        return Err(
            "project name \"lib\" is reserved (library files are stored under @lib/)".into(),
        );
    }
    Ok(())
}

/// A version as it goes into a stored name: characters other than letters,
/// digits, `.`, `-`, `+` and `_` become `_`; empty is `unknown`.
pub fn clean_version(version: &str) -> String {
    let v: String = version
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if v.is_empty() || v.starts_with('.') {
        format!("unknown{v}")
    } else {
        v
    }
}

/// The stored name of `path`, a file of `project`.
pub fn project_file(project: &str, path: &str) -> String {
    if project.is_empty() {
        path.to_string()
    } else {
        format!("@{project}/{path}")
    }
}

/// The stored name of `path`, a file of `library`.
pub fn library_file(library: &LibraryId, path: &str) -> String {
    format!(
        "{LIBRARY_PREFIX}{}/{}/{:016x}/{path}",
        library.package, library.version, library.hash
    )
}

/// Whose the file stored as `stored` is, and its path.
pub fn split(stored: &str) -> (Owner, &str) {
    if let Some(rest) = stored.strip_prefix(LIBRARY_PREFIX) {
        let mut parts = rest.splitn(4, '/');
        if let (Some(package), Some(version), Some(hash), Some(path)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            if let Ok(hash) = u64::from_str_radix(hash, 16) {
                let id = LibraryId {
                    package: package.to_string(),
                    version: version.to_string(),
                    hash,
                };
                return (Owner::Library(id), path);
            }
        }
    }
    if let Some(rest) = stored.strip_prefix('@') {
        if let Some((project, path)) = rest.split_once('/') {
            if check_project(project).is_ok() && project != "lib" {
                return (Owner::Project(project.to_string()), path);
            }
        }
    }
    (Owner::Project(String::new()), stored)
}

/// What the catalog says of one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// `""` for the default project.
    pub name: String,
    /// Its own files.
    pub files: u64,
    /// The libraries it ingested, with how many files each has stored.
    pub libraries: Vec<(LibraryId, u64)>,
    /// Catalog generation of its last ingest.
    pub generation: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        let lib = LibraryId {
            package: "phoenix".into(),
            version: "1.7.14".into(),
            hash: 0xabc,
        };
        let stored = library_file(&lib, "deps/phoenix/lib/phoenix.ex");
        assert_eq!(
            stored,
            "@lib/phoenix/1.7.14/0000000000000abc/deps/phoenix/lib/phoenix.ex"
        );
        assert_eq!(
            split(&stored),
            (Owner::Library(lib), "deps/phoenix/lib/phoenix.ex")
        );
        assert_eq!(
            split(&project_file("shop", "lib/a.ex")),
            (Owner::Project("shop".into()), "lib/a.ex")
        );
        assert_eq!(
            split(&project_file("", "lib/a.ex")),
            (Owner::Project(String::new()), "lib/a.ex")
        );
        // Not a well-formed prefix: the default project's path as is.
        assert_eq!(
            split("@lib/x.ex"),
            (Owner::Project(String::new()), "@lib/x.ex")
        );
    }

    #[test]
    fn project_names_and_versions_are_checked() {
        assert!(check_project("shop_v2.api-1").is_ok());
        assert!(check_project("").is_ok());
        for bad in ["lib", "a/b", ".x", "a b", &"x".repeat(65)] {
            assert!(check_project(bad).is_err(), "{bad}");
        }
        assert_eq!(clean_version("1.7.14"), "1.7.14");
        assert_eq!(clean_version("a/b c"), "a_b_c");
        assert_eq!(clean_version(""), "unknown");
        assert_eq!(clean_version(".."), "unknown..");
    }
}
