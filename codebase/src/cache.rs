//! Summaries of files cached on disk between runs: one record per file with
//! what identifies its content (size and modification time, checked first
//! with no read; the content hash, checked when those changed), so a file
//! is parsed again only when its content changed. Used for the dependencies
//! (`deps.bin`: their interfaces), for an editor's or agent's workspace
//! (`workspace.bin`: whole summaries), and for `cpg ingest`
//! (`hashes.bin`: content hashes only, so that an unchanged file is not
//! read).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use partition::frontend::{build_file, content_hash};
use partition::summary::summarize;
use proto::{Diagnostic, ModuleSummary};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::sources::{read_or_skip, EmbeddedError, Source, SourceFile};

/// One file's summaries as cached, with what identifies its content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedFile {
    pub file: String,
    size: u64,
    modified_ns: u128,
    hash: u64,
    pub modules: Vec<Arc<ModuleSummary>>,
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile<T> {
    /// Which `cpg` wrote it: a cache from another build is not used.
    writer: String,
    files: Vec<T>,
}

/// The files summarized, in the order given (an unreadable file is left
/// out), and how many came from the cache.
#[derive(Debug, Default)]
pub struct Summarized {
    pub files: Vec<CachedFile>,
    pub cached: usize,
}

/// Identifies this program's build: summaries depend on the front end.
fn writer() -> String {
    let exe = std::env::current_exe().ok();
    let stamp = exe
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{t}", m.len())
        })
        .unwrap_or_default();
    format!("cpg {} {stamp}", env!("CARGO_PKG_VERSION"))
}

/// Where cache `name` of the tree at `root` lives: `_build/cpg/NAME.bin`
/// under the tree when it can be written, else the user's cache folder
/// (`$CPG_CACHE_DIR`, or `~/.cache/cpg`), keyed by the tree's path.
fn paths(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = vec![root.join("_build").join("cpg").join(format!("{name}.bin"))];
    let base = std::env::var_os("CPG_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cpg")));
    if let Some(base) = base {
        let canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let key = content_hash(canon.to_string_lossy().as_bytes());
        out.push(base.join(name).join(format!("{key:016x}.bin")));
    }
    out
}

/// The files of the first cache at `paths` that `writer` wrote (none when
/// there is none, or it does not decode).
fn load<T: DeserializeOwned>(paths: &[PathBuf], writer: &str) -> Vec<T> {
    for p in paths {
        let Ok(bytes) = std::fs::read(p) else {
            continue;
        };
        let decoded: Result<(CacheFile<T>, usize), _> =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard());
        if let Ok((cache, _)) = decoded {
            if cache.writer == writer {
                return cache.files;
            }
        }
    }
    Vec::new()
}

/// Write the cache to the first place that takes it; a cache that cannot
/// be written costs the next run time, nothing else.
fn store<T: Serialize>(paths: &[PathBuf], cache: &CacheFile<T>) {
    let Ok(bytes) = bincode::serde::encode_to_vec(cache, bincode::config::standard()) else {
        return;
    };
    for p in paths {
        let Some(dir) = p.parent() else { continue };
        if std::fs::create_dir_all(dir).is_err() {
            continue;
        }
        // Per process: an editor and an agent on the same tree may write
        // at once.
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &bytes).is_ok() && std::fs::rename(&tmp, p).is_ok() {
            return;
        }
        let _ = std::fs::remove_file(&tmp);
    }
}

fn stat(path: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((meta.len(), modified))
}

/// Summarize `files` of the tree at `root` on all cores, reusing cache
/// `name`'s summaries of files whose content is unchanged and writing the
/// cache again when anything changed. `read` turns a file's bytes into the
/// source to parse; `shape` what is kept of each module summary.
pub fn summarize_files(
    root: &Path,
    files: &[SourceFile],
    name: &str,
    read: fn(&str, Vec<u8>) -> Result<Vec<u8>, String>,
    shape: fn(ModuleSummary) -> ModuleSummary,
) -> Summarized {
    let writer = writer();
    let paths = paths(root, name);
    let cache: HashMap<String, CachedFile> = load::<CachedFile>(&paths, &writer)
        .into_iter()
        .map(|f| (f.file.clone(), f))
        .collect();
    let results: Vec<(CachedFile, bool)> = files
        .par_iter()
        .filter_map(|f| {
            let (size, modified_ns) = stat(&f.disk)?;
            let cached = cache.get(&f.name);
            if let Some(c) = cached.filter(|c| c.size == size && c.modified_ns == modified_ns) {
                return Some((c.clone(), true));
            }
            let bytes = std::fs::read(&f.disk).ok()?;
            let hash = content_hash(&bytes);
            if let Some(c) = cached.filter(|c| c.hash == hash) {
                let file = CachedFile {
                    size,
                    modified_ns,
                    ..c.clone()
                };
                return Some((file, true));
            }
            let cpg = match read(&f.name, bytes) {
                Ok(text) => build_file(&f.name, &text),
                Err(message) => proto::FileCpg {
                    file: f.name.clone(),
                    content_hash: hash,
                    fragments: Vec::new(),
                    diagnostics: vec![Diagnostic {
                        file: f.name.clone(),
                        line: 0,
                        column: 0,
                        message,
                    }],
                },
            };
            let modules = cpg
                .fragments
                .iter()
                .map(|frag| Arc::new(shape(summarize(frag))))
                .collect();
            let file = CachedFile {
                file: f.name.clone(),
                size,
                modified_ns,
                hash,
                modules,
                diagnostics: cpg.diagnostics,
            };
            Some((file, false))
        })
        .collect();
    let mut out = Summarized::default();
    for (file, hit) in results {
        out.cached += usize::from(hit);
        out.files.push(file);
    }
    let changed = out.files.iter().any(|f| {
        cache
            .get(&f.file)
            .is_none_or(|c| (c.size, c.modified_ns) != (f.size, f.modified_ns))
    });
    if changed || cache.len() != out.files.len() {
        let cache = CacheFile {
            writer,
            files: out.files,
        };
        store(&paths, &cache);
        out.files = cache.files;
    }
    out
}

/// What identifies a file's content without reading it (as git's index
/// does): size, modification and change times (the change time cannot be
/// set back by a program, as `touch -d` or `rsync -t` set the other), inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stamp {
            size: meta.len(),
            modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
            changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
        }
    }

    /// Whether the file was last written at or before `cutoff_ns`, so
    /// that a later write shows in its stamp: a write within the file
    /// system's clock granularity of the read could leave the stamp as it
    /// was.
    fn settled(&self, cutoff_ns: i128) -> bool {
        self.modified_ns.max(self.changed_ns) <= cutoff_ns
    }
}

/// A file's content hash as remembered, with its stamp when it was read.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HashedFile {
    file: String,
    stamp: Stamp,
    hash: u64,
}

/// The `files` of the tree at `root` as an ingest plans with them, in
/// their order, each with its content hash: a file whose stamp is the one
/// cache `hashes` remembers is left on disk with the remembered hash, the
/// others are read (on all cores), as [`read_or_skip`]
/// reads them.
pub fn hashed_sources(root: &Path, files: Vec<SourceFile>) -> Result<Vec<Source>, EmbeddedError> {
    hashed_sources_settled(root, files, SETTLED)
}

/// How long ago a file must have been written for its hash to be
/// remembered (git's index waits likewise for "racily clean" entries).
const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

fn hashed_sources_settled(
    root: &Path,
    files: Vec<SourceFile>,
    settled: std::time::Duration,
) -> Result<Vec<Source>, EmbeddedError> {
    let writer = writer();
    let paths = paths(root, "hashes");
    let remembered: HashMap<String, HashedFile> = load::<HashedFile>(&paths, &writer)
        .into_iter()
        .map(|f| (f.file.clone(), f))
        .collect();
    // Files last written before this are remembered.
    let cutoff_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
        - settled.as_nanos() as i128;
    // Per file: skipped (`None`), or its source and what to remember of it.
    type Hashed = Option<(Source, Option<HashedFile>)>;
    let results: Vec<Result<Hashed, EmbeddedError>> = files
        .into_par_iter()
        .map(|f| {
            let stamp = std::fs::metadata(&f.disk).ok().map(|m| Stamp::of(&m));
            if let (Some(stamp), Some(r)) = (stamp, remembered.get(&f.name)) {
                if r.stamp == stamp {
                    return Ok(Some((Source::on_disk(f, r.hash), Some(r.clone()))));
                }
            }
            let Some(bytes) = read_or_skip(&f)? else {
                return Ok(None);
            };
            let source = Source::read(proto::node_api::SourceUpload {
                file: f.name.clone(),
                bytes,
            });
            let keep = stamp
                .filter(|s| s.settled(cutoff_ns))
                .map(|stamp| HashedFile {
                    file: f.name,
                    stamp,
                    hash: source.hash,
                });
            Ok(Some((source, keep)))
        })
        .collect();
    let mut sources = Vec::with_capacity(results.len());
    let mut keep = Vec::with_capacity(results.len());
    for r in results {
        if let Some((source, kept)) = r? {
            sources.push(source);
            keep.extend(kept);
        }
    }
    let same = keep.len() == remembered.len()
        && keep.iter().all(|k| {
            remembered
                .get(&k.file)
                .is_some_and(|r| (r.stamp, r.hash) == (k.stamp, k.hash))
        });
    if !same {
        store(
            &paths,
            &CacheFile {
                writer,
                files: keep,
            },
        );
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path, files: &[(&str, &str)]) -> Vec<SourceFile> {
        files
            .iter()
            .map(|(name, text)| {
                let disk = dir.join(name);
                std::fs::write(&disk, text).unwrap();
                SourceFile {
                    disk,
                    name: name.to_string(),
                }
            })
            .collect()
    }

    fn found(dir: &Path, names: &[&str]) -> Vec<SourceFile> {
        names
            .iter()
            .map(|n| SourceFile {
                disk: dir.join(n),
                name: n.to_string(),
            })
            .collect()
    }

    /// (name, hash, read this time) of each source.
    fn seen(sources: &[Source]) -> Vec<(String, u64, bool)> {
        sources
            .iter()
            .map(|s| (s.file.clone(), s.hash, s.was_read()))
            .collect()
    }

    #[test]
    fn an_unchanged_file_is_not_read_again_and_a_changed_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let files = tree(
            dir.path(),
            &[
                ("a.ex", "defmodule A do end"),
                ("b.ex", "defmodule B do end"),
            ],
        );
        let none = std::time::Duration::ZERO;
        let first = hashed_sources_settled(dir.path(), files, none).unwrap();
        assert!(first.iter().all(Source::was_read));
        let second =
            hashed_sources_settled(dir.path(), found(dir.path(), &["a.ex", "b.ex"]), none).unwrap();
        assert_eq!(
            seen(&second),
            vec![
                ("a.ex".into(), first[0].hash, false),
                ("b.ex".into(), first[1].hash, false)
            ]
        );
        // Same size, other content: read again, with its new hash.
        std::fs::write(dir.path().join("b.ex"), "defmodule C do end").unwrap();
        let third =
            hashed_sources_settled(dir.path(), found(dir.path(), &["a.ex", "b.ex"]), none).unwrap();
        let new_hash = partition::frontend::content_hash(b"defmodule C do end");
        assert_eq!(
            seen(&third),
            vec![
                ("a.ex".into(), first[0].hash, false),
                ("b.ex".into(), new_hash, true)
            ]
        );
        // What is sent of a file left on disk is its content now.
        assert_eq!(third[0].upload().unwrap().bytes, b"defmodule A do end");
    }

    #[test]
    fn a_file_written_just_now_or_a_damaged_cache_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let files = tree(dir.path(), &[("a.ex", "defmodule A do end")]);
        // Written within the window: read every time.
        let hour = std::time::Duration::from_secs(3600);
        hashed_sources_settled(dir.path(), files, hour).unwrap();
        let again = hashed_sources_settled(dir.path(), found(dir.path(), &["a.ex"]), hour).unwrap();
        assert!(again[0].was_read());
        // A cache that does not decode is read past.
        let none = std::time::Duration::ZERO;
        hashed_sources_settled(dir.path(), found(dir.path(), &["a.ex"]), none).unwrap();
        for p in paths(dir.path(), "hashes") {
            if p.exists() {
                std::fs::write(&p, b"not a cache").unwrap();
            }
        }
        let after = hashed_sources_settled(dir.path(), found(dir.path(), &["a.ex"]), none).unwrap();
        assert!(after[0].was_read());
        assert_eq!(
            after[0].hash,
            partition::frontend::content_hash(b"defmodule A do end")
        );
    }
}
