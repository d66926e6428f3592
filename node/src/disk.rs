//! What a storage node keeps on disk: for each partition it holds and each
//! source file with modules in that partition, those modules' fragments, as
//! one checksummed file replaced atomically (`partition::durable`). A crash at
//! any moment (`kill -9` included) leaves every such file either at its old or
//! at its new content; restarting loads exactly what was acknowledged.

use std::path::{Path, PathBuf};

use partition::durable;
use proto::ModuleFragment;
use serde::{Deserialize, Serialize};

/// The fragments of one source file that belong to one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub partition: u32,
    pub file: String,
    pub content_hash: u64,
    pub fragments: Vec<ModuleFragment>,
}

/// What loading found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub files: Vec<StoredFile>,
    /// Files that failed their checksum or could not be decoded: moved aside
    /// to `quarantine/` (never silently dropped), with the reason.
    pub quarantined: Vec<(PathBuf, String)>,
}

/// The partitions directory of one node.
#[derive(Debug, Clone)]
pub struct PartitionDisk {
    root: PathBuf,
}

impl PartitionDisk {
    pub fn open(root: &Path) -> std::io::Result<PartitionDisk> {
        std::fs::create_dir_all(root.join("partitions"))?;
        Ok(PartitionDisk {
            root: root.to_path_buf(),
        })
    }

    fn partition_dir(&self, partition: u32) -> PathBuf {
        self.root
            .join("partitions")
            .join(format!("p{partition:05}"))
    }

    /// One file per (partition, source file), named by the xxh3 of the source
    /// path; the path itself is stored inside and checked on load.
    fn path(&self, partition: u32, file: &str) -> PathBuf {
        let name = format!("{:016x}.cpg", xxhash_rust::xxh3::xxh3_64(file.as_bytes()));
        self.partition_dir(partition).join(name)
    }

    /// Store (or replace) a file's fragments for a partition; durable when it returns.
    pub fn save(&self, stored: &StoredFile) -> std::io::Result<()> {
        self.commit(std::slice::from_ref(stored), &[])
    }

    /// Store (or replace) and forget many files' fragments at once; all of
    /// it durable when it returns (one group commit, see
    /// [`durable::replace_batch`]).
    pub fn commit(&self, puts: &[StoredFile], removes: &[(u32, String)]) -> std::io::Result<()> {
        let encoded = puts
            .iter()
            .map(|s| Ok((self.path(s.partition, &s.file), durable::encode(s)?)))
            .collect::<std::io::Result<Vec<_>>>()?;
        let deletes: Vec<PathBuf> = removes.iter().map(|(p, f)| self.path(*p, f)).collect();
        durable::replace_batch(&self.root.join("partitions"), &encoded, &deletes)
    }

    /// Forget a file's fragments in a partition; durable when it returns.
    /// Whether there was anything to forget.
    pub fn remove(&self, partition: u32, file: &str) -> std::io::Result<bool> {
        let existed = self.path(partition, file).exists();
        self.commit(&[], &[(partition, file.to_string())])?;
        Ok(existed)
    }

    /// Everything stored, in a stable order (partition, file). Temporary
    /// files left by a crash mid-write are deleted (the previous version, if
    /// any, is intact); damaged files are quarantined and reported.
    pub fn load_all(&self) -> std::io::Result<Loaded> {
        let mut loaded = Loaded::default();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.root.join("partitions"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for dir in dirs {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            paths.sort();
            for path in paths {
                match path.extension().and_then(|e| e.to_str()) {
                    Some("tmp") => std::fs::remove_file(&path)?,
                    Some("cpg") => match self.read_one(&path) {
                        Ok(stored) => loaded.files.push(stored),
                        Err(reason) => {
                            let aside = self.quarantine(&path)?;
                            loaded.quarantined.push((aside, reason));
                        }
                    },
                    _ => {}
                }
            }
        }
        loaded
            .files
            .sort_by(|a, b| (a.partition, &a.file).cmp(&(b.partition, &b.file)));
        Ok(loaded)
    }

    fn read_one(&self, path: &Path) -> Result<StoredFile, String> {
        let bytes = durable::read_checked(path)
            .map_err(|e| e.to_string())?
            .ok_or("vanished while loading")?;
        let stored: StoredFile =
            durable::decode(&bytes).map_err(|e| format!("cannot decode: {e}"))?;
        if self.path(stored.partition, &stored.file) != path {
            return Err(format!(
                "holds {} of partition {}, which belongs elsewhere",
                stored.file, stored.partition
            ));
        }
        Ok(stored)
    }

    fn quarantine(&self, path: &Path) -> std::io::Result<PathBuf> {
        let dir = self.root.join("quarantine");
        std::fs::create_dir_all(&dir)?;
        let name = format!(
            "{}-{}",
            path.parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let aside = dir.join(name);
        std::fs::rename(path, &aside)?;
        durable::sync_dir(&dir)?;
        Ok(aside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(partition: u32, file: &str, src: &str) -> StoredFile {
        let cpg = partition::frontend::build_file(file, src.as_bytes());
        StoredFile {
            partition,
            file: file.into(),
            content_hash: cpg.content_hash,
            fragments: cpg.fragments,
        }
    }

    #[test]
    fn a_restart_loads_exactly_what_was_saved() {
        let dir = tempfile::tempdir().unwrap();
        let disk = PartitionDisk::open(dir.path()).unwrap();
        let a = stored(
            3,
            "lib/a.ex",
            "defmodule A do\n  def f(x), do: B.g(x)\nend\n",
        );
        let b = stored(7, "lib/b.ex", "defmodule B do\n  def g(x), do: x\nend\n");
        let b2 = stored(7, "lib/b.ex", "defmodule B do\n  def g(x), do: {x}\nend\n");
        disk.save(&a).unwrap();
        disk.save(&b).unwrap();
        disk.save(&b2).unwrap();
        disk.save(&stored(1, "lib/gone.ex", "defmodule Gone do\nend\n"))
            .unwrap();
        assert!(disk.remove(1, "lib/gone.ex").unwrap());
        assert!(!disk.remove(1, "lib/gone.ex").unwrap());
        let loaded = PartitionDisk::open(dir.path()).unwrap().load_all().unwrap();
        assert_eq!(loaded.files, vec![a, b2]);
        assert!(loaded.quarantined.is_empty());
    }

    #[test]
    fn crash_leftovers_are_cleaned_and_damage_is_quarantined_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let disk = PartitionDisk::open(dir.path()).unwrap();
        let a = stored(0, "lib/a.ex", "defmodule A do\nend\n");
        let b = stored(0, "lib/b.ex", "defmodule B do\nend\n");
        disk.save(&a).unwrap();
        disk.save(&b).unwrap();
        // A crash while replacing a.ex: its temporary file is left behind.
        let a_path = disk.path(0, "lib/a.ex");
        std::fs::write(a_path.with_extension("tmp"), b"half a file").unwrap();
        // A disk fault flips a byte of b.ex.
        let b_path = disk.path(0, "lib/b.ex");
        let mut bytes = std::fs::read(&b_path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&b_path, bytes).unwrap();
        let loaded = disk.load_all().unwrap();
        assert_eq!(loaded.files, vec![a]);
        assert_eq!(loaded.quarantined.len(), 1);
        assert!(
            loaded.quarantined[0].1.contains("checksum"),
            "{:?}",
            loaded.quarantined
        );
        assert!(loaded.quarantined[0].0.exists());
        assert!(!a_path.with_extension("tmp").exists());
    }
}
