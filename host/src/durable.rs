//! Durable files: whole files replaced atomically, and an append-only record
//! log, both checksummed with xxh3-64. Used by storage nodes to persist their
//! partitions and by coordinators for the Raft log.
//!
//! - A *checked file* is `magic "CPG1" | xxh3(payload) | payload`, written to a
//!   temporary file, fsynced, renamed over the target and the directory
//!   fsynced: after a crash it holds either the old or the new content.
//! - A *record log* is a sequence of `len u32 | xxh3(payload) u64 | payload`.
//!   A crash mid-append leaves a torn record at the end; opening the log stops
//!   at the first record that is incomplete or fails its checksum and cuts the
//!   file there, so only records whose append returned (and was fsynced) count.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

const MAGIC: &[u8; 4] = b"CPG1";
/// A record larger than this is treated as corruption, not allocated.
const MAX_RECORD: usize = 256 << 20;

fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

pub fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Decode; also used on bytes from peers, so decoding may claim at most
/// `MAX_RECORD` bytes of memory whatever lengths the input declares.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    bincode::serde::decode_from_slice(
        bytes,
        bincode::config::standard().with_limit::<MAX_RECORD>(),
    )
    .map(|(v, _)| v)
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// fsync a directory so that a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Make everything written so far to the file system holding `dir` durable
/// (one `syncfs` on Linux). Elsewhere it syncs `dir` only: callers there
/// must sync their files themselves.
pub fn sync_filesystem_of(dir: &Path) -> io::Result<()> {
    let anchor = File::open(dir)?;
    sync_filesystem(&anchor, std::iter::once(dir))
}

/// Make everything written to the file system of `anchor` durable: one
/// `syncfs` on Linux; elsewhere an fsync of each of `paths`.
fn sync_filesystem<P: AsRef<Path>>(
    anchor: &File,
    paths: impl Iterator<Item = P>,
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = paths;
        rustix::fs::syncfs(anchor).map_err(io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = anchor;
        for p in paths {
            File::open(p)?.sync_all()?;
        }
        Ok(())
    }
}

/// Replace `path` with `payload`, atomically and durably.
pub fn write_checked(path: &Path, payload: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp: PathBuf = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&checksum(payload).to_le_bytes())?;
        f.write_all(payload)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// The payload of a checked file; `None` if it does not exist. A file that
/// fails its checksum is an error (it was not written by `write_checked`).
pub fn read_checked(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    };
    if bytes.len() < 12 || &bytes[..4] != MAGIC {
        return Err(bad("not a cpg checked file"));
    }
    let stored = u64::from_le_bytes(bytes[4..12].try_into().map_err(|_| bad("short header"))?);
    let payload = bytes[12..].to_vec();
    if checksum(&payload) != stored {
        return Err(bad("checksum mismatch"));
    }
    Ok(Some(payload))
}

/// An append-only log of checksummed records.
#[derive(Debug)]
pub struct RecordLog {
    path: PathBuf,
    file: File,
}

impl RecordLog {
    /// Open (creating it if needed) and return the intact records; a torn or
    /// corrupt tail is cut off.
    pub fn open(path: &Path) -> io::Result<(RecordLog, Vec<Vec<u8>>)> {
        let (log, records, _) = RecordLog::open_keeping(path, None)?;
        Ok((log, records))
    }

    /// Like [`RecordLog::open`], but bytes that would be cut (a torn append,
    /// or everything from a damaged record on) are first written to `aside`
    /// and made durable, so nothing is lost silently. Returns how many bytes
    /// were set aside (0: the log was intact).
    pub fn open_keeping(
        path: &Path,
        aside: Option<&Path>,
    ) -> io::Result<(RecordLog, Vec<Vec<u8>>, usize)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut records = Vec::new();
        let mut at = 0usize;
        while at + 12 <= bytes.len() {
            let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
                as usize;
            let stored = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap_or([0; 8]));
            if len > MAX_RECORD || at + 12 + len > bytes.len() {
                break;
            }
            let payload = &bytes[at + 12..at + 12 + len];
            if checksum(payload) != stored {
                break;
            }
            records.push(payload.to_vec());
            at += 12 + len;
        }
        let cut = bytes.len() - at;
        if cut > 0 {
            if let Some(aside) = aside {
                if let Some(dir) = aside.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut f = File::create(aside)?;
                f.write_all(&bytes[at..])?;
                f.sync_all()?;
                if let Some(dir) = aside.parent() {
                    sync_dir(dir)?;
                }
            }
            file.set_len(at as u64)?;
            file.sync_all()?;
        }
        Ok((
            RecordLog {
                path: path.to_path_buf(),
                file,
            },
            records,
            cut,
        ))
    }

    /// Append records and fsync: when this returns, they survive a crash.
    pub fn append(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        self.append_unsynced(payloads)?;
        self.sync()
    }

    /// Append records without waiting for the disk; durable after
    /// [`RecordLog::sync`] (or a `syncfs` of its file system).
    pub fn append_unsynced(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(payloads.iter().map(|p| p.len() + 12).sum());
        for p in payloads {
            let len = u32::try_from(p.len())
                .ok()
                .filter(|l| *l as usize <= MAX_RECORD)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&checksum(p).to_le_bytes());
            buf.extend_from_slice(p);
        }
        self.file.write_all(&buf)
    }

    /// Make every append so far durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Replace the whole log with `payloads`, atomically (compaction).
    pub fn rewrite(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        let tmp = self.path.with_extension("rewrite");
        {
            let (mut fresh, _) = RecordLog::open(&tmp)?;
            fresh.file.set_len(0)?;
            fresh.append(payloads)?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_cut_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (mut log, records) = RecordLog::open(&path).unwrap();
        assert!(records.is_empty());
        log.append(&[b"one".to_vec(), b"two".to_vec()]).unwrap();
        drop(log);
        // A crash in the middle of a third append: half a header and garbage.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let (mut log, records) = RecordLog::open(&path).unwrap();
        assert_eq!(records, vec![b"one".to_vec(), b"two".to_vec()]);
        log.append(&[b"three".to_vec()]).unwrap();
        let (_, records) = RecordLog::open(&path).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2], b"three");
    }

    #[test]
    fn hostile_lengths_are_refused_not_allocated() {
        // A varint claiming a vector of 2^62 elements, and nothing behind it.
        let hostile = [0xff, 0, 0, 0, 0, 0, 0, 0, 0x40];
        assert!(decode::<Vec<u64>>(&hostile).is_err());
        assert!(decode::<String>(&hostile).is_err());
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vote");
        write_checked(&path, b"payload").unwrap();
        assert_eq!(
            read_checked(&path).unwrap().as_deref(),
            Some(&b"payload"[..])
        );
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(read_checked(&path).is_err());
        assert_eq!(read_checked(&dir.path().join("missing")).unwrap(), None);
    }
}
