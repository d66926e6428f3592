//! One project's ingest on a cluster ([`proto::projects`] says how stored
//! names keep projects and libraries apart): its files under their stored
//! names, the libraries it uses identified by package, version and
//! content, and the part of what the cluster holds that the ingest may
//! replace or remove. `cpg ingest` and the HTTP upload both plan with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use partition::frontend::content_hash;
use partition::library::package_of;
use proto::projects::{
    clean_version, library_file, project_file, split, LibraryId, Owner, ProjectInfo,
};

use crate::ingest::Held;
use crate::sources::Source;

/// A project's sources under their stored names, and the libraries among
/// them.
#[derive(Debug)]
pub struct Named {
    pub sources: Vec<Source>,
    pub libraries: Vec<LibraryId>,
}

/// Name `sources` (paths relative to the project's root) for `project`:
/// its own files under the project's prefix, the dependencies' (`deps/
/// PACKAGE/...`, `_build/ENV/lib/PACKAGE/ebin/...`) under their library's,
/// each library identified by its package, its version in `versions` and
/// a hash of its files' paths and content.
pub fn name_sources(
    project: &str,
    sources: Vec<Source>,
    versions: &BTreeMap<String, String>,
) -> Result<Named, String> {
    proto::projects::check_project(project)?;
    // Each package's files: (path, content hash), sorted by path.
    let mut packages: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for s in &sources {
        if let Some(package) = package_of(&s.file) {
            packages
                .entry(package.to_string())
                .or_default()
                .push((s.file.clone(), s.hash));
        } else if s.file.starts_with('@') {
            return Err(format!(
                "{}: file names starting with @ are how a cluster stores projects and libraries; rename the file or leave it out",
                s.file
            ));
        }
    }
    let mut ids: BTreeMap<String, LibraryId> = BTreeMap::new();
    for (package, mut files) in packages {
        files.sort();
        let mut bytes = Vec::new();
        for (path, hash) in &files {
            bytes.extend_from_slice(path.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(&hash.to_le_bytes());
        }
        let version = versions.get(&package).map_or("unknown", String::as_str);
        let id = LibraryId {
            package: package.clone(),
            version: clean_version(version),
            hash: content_hash(&bytes),
        };
        ids.insert(package, id);
    }
    let sources = sources
        .into_iter()
        .map(|s| {
            let file = match package_of(&s.file).and_then(|p| ids.get(p)) {
                Some(id) => library_file(id, &s.file),
                None => project_file(project, &s.file),
            };
            s.named(file)
        })
        .collect();
    Ok(Named {
        sources,
        libraries: ids.into_values().collect(),
    })
}

/// Keep of `held` and `recorded` what an ingest of `project` may replace
/// or remove: the project's own files, the files of libraries no other
/// project uses, and the files it sends (`present`, to tell unchanged
/// ones). A library another project uses is never removed by it.
pub fn scope(
    project: &str,
    projects: &[ProjectInfo],
    present: &BTreeSet<String>,
    held: &mut Held,
    recorded: &mut BTreeMap<String, u64>,
) {
    let others: BTreeSet<&LibraryId> = projects
        .iter()
        .filter(|p| p.name != project)
        .flat_map(|p| p.libraries.iter().map(|(l, _)| l))
        .collect();
    let keep = |file: &str| match split(file).0 {
        Owner::Project(p) => p == project,
        Owner::Library(l) => !others.contains(&l) || present.contains(file),
    };
    held.retain(|f, _| keep(f));
    recorded.retain(|f, _| keep(f));
}

/// Whether `libraries` differ from what the catalog lists for `project`
/// (an ingest that changes no file still records a new list).
pub fn libraries_changed(projects: &[ProjectInfo], project: &str, libraries: &[LibraryId]) -> bool {
    let listed = projects
        .iter()
        .find(|p| p.name == project)
        .map(|p| p.libraries.iter().map(|(l, _)| l).collect::<Vec<_>>());
    listed != Some(libraries.iter().collect())
}

/// The version of each package the tree at `root` locks: from `mix.lock`
/// (a Hex version, or a Git revision), else from the package's
/// `deps/PACKAGE/hex_metadata.config`.
pub fn versions(root: &Path) -> BTreeMap<String, String> {
    let mut out = std::fs::read_to_string(root.join("mix.lock"))
        .map(|text| lock_versions(&text))
        .unwrap_or_default();
    if let Ok(packages) = std::fs::read_dir(root.join("deps")) {
        for p in packages.flatten() {
            let name = p.file_name().to_string_lossy().into_owned();
            if out.contains_key(&name) {
                continue;
            }
            let meta = std::fs::read_to_string(p.path().join("hex_metadata.config"));
            if let Some(v) = meta.ok().as_deref().and_then(hex_metadata_version) {
                out.insert(name, v);
            }
        }
    }
    out
}

/// `"name": {:hex, :name, "1.2.3", ...}` → 1.2.3; `{:git, "url",
/// "revision", ...}` → the revision.
pub fn lock_versions(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix('"') else {
            continue;
        };
        let Some((name, rest)) = rest.split_once('"') else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(tuple) = rest.strip_prefix('{') else {
            continue;
        };
        // The first quoted string after the kind: the version for Hex,
        // the URL for Git (whose revision is the next one).
        let quoted: Vec<&str> = tuple.split('"').skip(1).step_by(2).take(2).collect();
        let version = if tuple.starts_with(":hex") {
            quoted.first()
        } else if tuple.starts_with(":git") {
            quoted.get(1)
        } else {
            None
        };
        if let Some(v) = version {
            out.insert(name.to_string(), v.to_string());
        }
    }
    out
}

/// `{<<"version">>,<<"1.2.3">>}.` in a Hex package's metadata.
fn hex_metadata_version(text: &str) -> Option<String> {
    let at = text.find("<<\"version\">>")?;
    let rest = &text[at + "<<\"version\">>".len()..];
    let start = rest.find("<<\"")? + 3;
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::node_api::SourceUpload;

    fn upload(file: &str, text: &str) -> Source {
        Source::read(SourceUpload {
            file: file.into(),
            bytes: text.as_bytes().to_vec(),
        })
    }

    #[test]
    fn libraries_are_named_by_package_version_and_content() {
        let versions = BTreeMap::from([("phoenix".to_string(), "1.7.14".to_string())]);
        let tree = |extra: &str| {
            vec![
                upload("lib/a.ex", "defmodule A do end"),
                upload("deps/phoenix/lib/phoenix.ex", "defmodule Phoenix do end"),
                upload("deps/plug/lib/plug.ex", extra),
            ]
        };
        let a = name_sources("a", tree("defmodule Plug do end"), &versions).unwrap();
        let b = name_sources("b", tree("defmodule Plug do end"), &versions).unwrap();
        assert_eq!(a.libraries, b.libraries, "same packages, same libraries");
        assert_eq!(a.libraries[0].version, "1.7.14");
        assert_eq!(a.libraries[1].version, "unknown");
        assert_eq!(a.sources[0].file, "@a/lib/a.ex");
        assert_eq!(a.sources[1].file, b.sources[1].file, "stored once");
        assert!(a.sources[1].file.starts_with("@lib/phoenix/1.7.14/"));
        // Plug changed in one tree: two libraries, Phoenix still shared.
        let c = name_sources("c", tree("defmodule Plug do def f, do: 1 end"), &versions).unwrap();
        assert_eq!(a.libraries[0], c.libraries[0]);
        assert_ne!(a.libraries[1], c.libraries[1]);
        // The default project keeps paths; `@` is reserved.
        let d = name_sources("", tree(""), &versions).unwrap();
        assert_eq!(d.sources[0].file, "lib/a.ex");
        assert!(name_sources("", vec![upload("@x/a.ex", "")], &versions).is_err());
        assert!(name_sources("lib", vec![], &versions).is_err());
    }

    #[test]
    fn an_ingest_keeps_to_its_project_and_unshared_libraries() {
        let shared = LibraryId {
            package: "phoenix".into(),
            version: "1.7.14".into(),
            hash: 1,
        };
        let own = LibraryId {
            package: "plug".into(),
            version: "1.0.0".into(),
            hash: 2,
        };
        let projects = vec![
            ProjectInfo {
                name: "a".into(),
                files: 1,
                libraries: vec![(shared.clone(), 1), (own.clone(), 1)],
                generation: 1,
            },
            ProjectInfo {
                name: "b".into(),
                files: 1,
                libraries: vec![(shared.clone(), 1)],
                generation: 2,
            },
        ];
        let names = [
            project_file("a", "lib/a.ex"),
            project_file("b", "lib/b.ex"),
            project_file("", "lib/c.ex"),
            library_file(&shared, "deps/phoenix/lib/phoenix.ex"),
            library_file(&own, "deps/plug/lib/plug.ex"),
        ];
        let mut held: Held = names
            .iter()
            .map(|n| (n.clone(), (1, BTreeSet::new())))
            .collect();
        let mut recorded: BTreeMap<String, u64> = names.iter().map(|n| (n.clone(), 1)).collect();
        scope("a", &projects, &BTreeSet::new(), &mut held, &mut recorded);
        let kept: Vec<&String> = held.keys().collect();
        assert_eq!(kept, vec![&names[0], &names[4]]);
        assert_eq!(recorded.keys().collect::<Vec<_>>(), kept);
    }

    #[test]
    fn versions_come_from_the_lock() {
        let lock = r#"%{
  "phoenix": {:hex, :phoenix, "1.7.14", "abc", [:mix], [], "hexpm", "def"},
  "heroicons": {:git, "https://github.com/tailwindlabs/heroicons.git", "88ab3a0d790e6a47404cba02800a6b25d2afae50", [tag: "v2.1.1"]},
}"#;
        let v = lock_versions(lock);
        assert_eq!(v["phoenix"], "1.7.14");
        assert_eq!(v["heroicons"], "88ab3a0d790e6a47404cba02800a6b25d2afae50");
        assert_eq!(
            hex_metadata_version("{<<\"app\">>,<<\"x\">>}.\n{<<\"version\">>,<<\"0.4.1\">>}.\n"),
            Some("0.4.1".into())
        );
    }
}
