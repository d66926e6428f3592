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
//!
//! A write that fails (a full disk: `ENOSPC`) leaves nothing behind: the
//! append is cut back to the last whole record, so the log takes appends
//! again once there is room. After a failed fsync the appended bytes'
//! fate is unknown (the kernel may have dropped the dirty pages): they are
//! cut off and the cut is flushed, which returns the log to its last
//! flushed state (everything before was flushed by an fsync that
//! succeeded). If even that fails, the log takes no appends until it is
//! opened again, which reads back what the disk holds. [`faults`] makes
//! writes and flushes under a directory fail, for tests.

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

/// Disk faults for tests: while a fault is set on a directory, writes or
/// flushes of this module's files under it fail as on a full or failing
/// disk. Free when none is set (one atomic load per write).
pub mod faults {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    /// What fails.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fault {
        /// Writes stop after half their bytes with `ENOSPC`, as on a disk
        /// that fills up mid-write.
        NoSpace,
        /// Writes succeed; flushes (fsync, syncfs) fail with `EIO`.
        FlushFails,
    }

    static ANY: AtomicBool = AtomicBool::new(false);
    static SET: Mutex<Vec<(PathBuf, Fault)>> = Mutex::new(Vec::new());

    fn set() -> std::sync::MutexGuard<'static, Vec<(PathBuf, Fault)>> {
        SET.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make writes or flushes under `dir` fail until [`clear`].
    pub fn inject(dir: &Path, fault: Fault) {
        let mut set = set();
        set.retain(|(d, _)| d != dir);
        set.push((dir.to_path_buf(), fault));
        ANY.store(true, Ordering::Release);
    }

    /// The disk under `dir` works again.
    pub fn clear(dir: &Path) {
        let mut set = set();
        set.retain(|(d, _)| d != dir);
        ANY.store(!set.is_empty(), Ordering::Release);
    }

    pub(super) fn at(path: &Path) -> Option<Fault> {
        if !ANY.load(Ordering::Acquire) {
            return None;
        }
        set()
            .iter()
            .find(|(dir, _)| path.starts_with(dir))
            .map(|(_, f)| *f)
    }

    /// Write `bytes` with `write`, as the fault at `path` lets it.
    pub(super) fn write(
        path: &Path,
        bytes: &[u8],
        mut write: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        if at(path) == Some(Fault::NoSpace) {
            write(&bytes[..bytes.len() / 2])?;
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        write(bytes)
    }

    /// Flush with `flush`, as the fault at `path` lets it.
    pub(super) fn flush(path: &Path, flush: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        if at(path) == Some(Fault::FlushFails) {
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        flush()
    }
}

/// Whether `e` says the disk is full (no space, or the quota is used up).
pub fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(28 | 122)) // ENOSPC, EDQUOT
}

/// Bytes free (for unprivileged writers) and in all on the file system
/// holding `dir`, if it can be asked.
pub fn space(dir: &Path) -> Option<(u64, u64)> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some((
        s.f_bavail.saturating_mul(s.f_frsize),
        s.f_blocks.saturating_mul(s.f_frsize),
    ))
}

/// fsync a directory so that a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    faults::flush(dir, || File::open(dir)?.sync_all())
}

/// Make everything written so far to the file system holding `dir` durable
/// (one `syncfs` on Linux). Elsewhere it syncs `dir` only: callers there
/// must sync their files themselves.
pub fn sync_filesystem_of(dir: &Path) -> io::Result<()> {
    faults::flush(dir, || {
        let anchor = File::open(dir)?;
        sync_filesystem(&anchor, std::iter::once(dir))
    })
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
    let written = (|| {
        let mut f = File::create(&tmp)?;
        let mut bytes = Vec::with_capacity(12 + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&checksum(payload).to_le_bytes());
        bytes.extend_from_slice(payload);
        faults::write(&tmp, &bytes, |b| f.write_all(b))?;
        faults::flush(&tmp, || f.sync_all())
    })();
    if let Err(e) = written {
        // The target is untouched; the half-written temporary goes.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
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

/// The file in a data dir that says which format its files are in.
pub const FORMAT_FILE: &str = "format";

/// A data dir's format stamp: the format of its files, and what wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct FormatStamp {
    /// `node` or `coordinator`.
    kind: String,
    format: u32,
    /// The release that last stamped it (`CARGO_PKG_VERSION`).
    written_by: String,
}

/// Check, and stamp, the format of the `kind` data dir `dir`, which this
/// build reads in formats `oldest..=current` and writes in `current`. A
/// dir without a stamp is either new or of format 1 (written before stamps
/// were kept): both open. A dir of another kind, or of a format this build
/// does not read (written by a newer release, or one too old), is refused
/// with the reason, before anything in it is opened. An older format is
/// stamped `current` once opened (its files are read as they are; a
/// format change that needs more brings its own migration here), with a
/// log line. Returns the format the dir was in.
pub fn check_data_dir_format(
    dir: &Path,
    kind: &str,
    oldest: u32,
    current: u32,
    release: &str,
) -> io::Result<u32> {
    let path = dir.join(FORMAT_FILE);
    let refuse = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    let found = match read_checked(&path)? {
        None => None,
        Some(bytes) => Some(
            serde_json::from_slice::<FormatStamp>(&bytes)
                .map_err(|e| refuse(format!("{}: {e}", path.display())))?,
        ),
    };
    let was = match &found {
        None => 1,
        Some(stamp) if stamp.kind != kind => {
            return Err(refuse(format!(
                "{} is a {} data dir, not a {kind}'s: give this process its own --data-dir",
                dir.display(),
                stamp.kind
            )))
        }
        Some(stamp) => stamp.format,
    };
    if was > current {
        return Err(refuse(format!(
            "{} is in data format {was} (written by cpg {}), newer than this cpg {release} reads (up to {current}): run that release or a newer one",
            dir.display(),
            found.map_or_else(|| "?".into(), |s| s.written_by)
        )));
    }
    if was < oldest {
        return Err(refuse(format!(
            "{} is in data format {was}, older than this cpg {release} reads ({oldest} to {current}): open it with an intermediate release first, which migrates it",
            dir.display()
        )));
    }
    let stamp = FormatStamp {
        kind: kind.to_string(),
        format: current,
        written_by: release.to_string(),
    };
    if found.as_ref() != Some(&stamp) {
        if was < current {
            tracing::info!(
                dir = %dir.display(),
                from = was,
                to = current,
                "data dir format upgraded"
            );
        }
        let bytes = serde_json::to_vec(&stamp).map_err(io::Error::other)?;
        write_checked(&path, &bytes)?;
    }
    Ok(was)
}

/// An append-only log of checksummed records.
#[derive(Debug)]
pub struct RecordLog {
    path: PathBuf,
    file: File,
    /// Bytes of whole records appended (the file's length but for a failed
    /// append being cut back).
    len: u64,
    /// Why the log takes no appends until it is opened again: a flush
    /// failed, or a failed append could not be cut back.
    broken: Option<String>,
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
                len: at as u64,
                broken: None,
            },
            records,
            cut,
        ))
    }

    /// Append records and fsync: when this returns, they survive a crash.
    /// When it fails, the log is as before (or takes no more appends).
    pub fn append(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        let before = self.len;
        self.append_unsynced(payloads)?;
        self.sync().inspect_err(|_| {
            let _ = self.restore(before);
        })
    }

    /// Append records without waiting for the disk; durable after
    /// [`RecordLog::sync`] (or a `syncfs` of its file system). A failed
    /// append is cut back: the log holds what it held before.
    pub fn append_unsynced(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(format!(
                "{}: takes no appends until it is opened again ({why})",
                self.path.display()
            )));
        }
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
        let file = &mut self.file;
        faults::write(&self.path, &buf, |b| file.write_all(b))
            .inspect_err(|_| self.cut_back(self.len))?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Bytes of whole records appended so far: where [`RecordLog::cut_back`]
    /// returns to.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Why the log takes no appends, if it does not.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    fn cut_back(&mut self, len: u64) {
        let cut = self.file.set_len(len);
        if self
            .or_broken(cut, "a failed append could not be cut back")
            .is_ok()
        {
            self.len = len;
        }
    }

    /// `result`; an error leaves the log taking no appends until it is
    /// opened again, `why` said with the error.
    fn or_broken<T>(&mut self, result: io::Result<T>, why: &str) -> io::Result<T> {
        result.inspect_err(|e| self.broken = Some(format!("{why}: {e}")))
    }

    /// Return to the state after a flush that succeeded when the log was
    /// `len` bytes long: what was appended since is cut off, and the cut is
    /// flushed (a group commit that failed, here or in another log). If
    /// that fails too, the log takes no appends until it is opened again.
    pub fn restore(&mut self, len: u64) -> io::Result<()> {
        let file = &self.file;
        let done = file
            .set_len(len)
            .and_then(|()| faults::flush(&self.path, || file.sync_data()));
        self.or_broken(done, "a failed write could not be undone")?;
        self.len = len;
        self.broken = None;
        Ok(())
    }

    /// Make every append so far durable.
    pub fn sync(&self) -> io::Result<()> {
        let file = &self.file;
        faults::flush(&self.path, || file.sync_data())
    }

    /// Replace the whole log with `payloads`, atomically (compaction).
    pub fn rewrite(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        let tmp = self.path.with_extension("rewrite");
        let written = (|| {
            let (mut fresh, _) = RecordLog::open(&tmp)?;
            fresh.file.set_len(0)?;
            fresh.len = 0;
            fresh.append(payloads)?;
            Ok::<u64, io::Error>(fresh.len)
        })();
        let len = match written {
            Ok(len) => len,
            Err(e) => {
                // The log is untouched; the half-written copy goes.
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        std::fs::rename(&tmp, &self.path)?;
        // From here the old file is unlinked: appends to it would be lost.
        let reopened = (|| {
            if let Some(dir) = self.path.parent() {
                sync_dir(dir)?;
            }
            OpenOptions::new().read(true).append(true).open(&self.path)
        })();
        self.file = self.or_broken(reopened, "compacted, but not reopened")?;
        self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_formats_are_stamped_upgraded_and_refused_when_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // New or written before stamps: format 1, stamped.
        assert_eq!(check_data_dir_format(d, "node", 1, 1, "0.1.0").unwrap(), 1);
        assert!(d.join(FORMAT_FILE).exists());
        assert_eq!(check_data_dir_format(d, "node", 1, 1, "0.1.0").unwrap(), 1);
        // A release of format 2 opens it and stamps 2; the previous one
        // then refuses it, naming who wrote it.
        assert_eq!(check_data_dir_format(d, "node", 1, 2, "0.2.0").unwrap(), 1);
        assert_eq!(check_data_dir_format(d, "node", 1, 2, "0.2.0").unwrap(), 2);
        let newer = check_data_dir_format(d, "node", 1, 1, "0.1.0").unwrap_err();
        assert!(
            newer
                .to_string()
                .contains("data format 2 (written by cpg 0.2.0)"),
            "{newer}"
        );
        // Too old for a release that dropped format 2.
        let old = check_data_dir_format(d, "node", 3, 4, "0.4.0").unwrap_err();
        assert!(old.to_string().contains("older than"), "{old}");
        // Another kind's dir.
        let kind = check_data_dir_format(d, "coordinator", 1, 2, "0.2.0").unwrap_err();
        assert!(kind.to_string().contains("a node data dir"), "{kind}");
        // A damaged stamp is an error, not format 1.
        std::fs::write(d.join(FORMAT_FILE), b"junk").unwrap();
        assert!(check_data_dir_format(d, "node", 1, 2, "0.2.0").is_err());
    }

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

    /// The records a fresh open of `path` reads, and how much it had to cut.
    fn reopened(path: &Path) -> (Vec<Vec<u8>>, usize) {
        let (_, records, cut) = RecordLog::open_keeping(path, None).unwrap();
        (records, cut)
    }

    /// A log at `dir/log` holding one record, `one`.
    fn log_of_one(dir: &Path) -> (PathBuf, RecordLog) {
        let path = dir.join("log");
        let (mut log, _) = RecordLog::open(&path).unwrap();
        log.append(&[b"one".to_vec()]).unwrap();
        (path, log)
    }

    #[test]
    fn a_full_disk_refuses_an_append_and_leaves_the_log_whole() {
        use faults::Fault;
        let dir = tempfile::tempdir().unwrap();
        let (path, mut log) = log_of_one(dir.path());

        faults::inject(dir.path(), Fault::NoSpace);
        let e = log
            .append(&[b"two".to_vec(), b"three".to_vec()])
            .unwrap_err();
        assert!(is_disk_full(&e), "{e}");
        let e = log.append_unsynced(&[b"two".to_vec()]).unwrap_err();
        assert!(is_disk_full(&e), "{e}");
        // Nothing torn: the failed appends were cut back.
        assert_eq!(reopened(&path), (vec![b"one".to_vec()], 0));
        // A whole-file write fails too, and leaves the old file and no
        // temporary behind.
        let vote = dir.path().join("vote");
        faults::clear(dir.path());
        write_checked(&vote, b"old").unwrap();
        faults::inject(dir.path(), Fault::NoSpace);
        assert!(is_disk_full(&write_checked(&vote, b"new").unwrap_err()));
        assert_eq!(read_checked(&vote).unwrap().as_deref(), Some(&b"old"[..]));
        assert!(!vote.with_extension("tmp").exists());
        // So does a compaction.
        assert!(log.rewrite(&[b"compacted".to_vec()]).is_err());
        assert!(!path.with_extension("rewrite").exists());

        // Room again: the same log takes appends, with nothing lost.
        faults::clear(dir.path());
        log.append(&[b"four".to_vec()]).unwrap();
        assert_eq!(
            reopened(&path),
            (vec![b"one".to_vec(), b"four".to_vec()], 0)
        );
    }

    #[test]
    fn a_failed_flush_undoes_the_append() {
        use faults::Fault;
        let dir = tempfile::tempdir().unwrap();
        let (path, mut log) = log_of_one(dir.path());
        let before = log.len();

        faults::inject(dir.path(), Fault::FlushFails);
        // The append's flush fails, and so does undoing it: the log takes
        // no more appends until it is opened again.
        assert!(log.append(&[b"two".to_vec()]).is_err());
        assert!(log.broken().is_some());
        faults::clear(dir.path());
        assert!(log.append(&[b"three".to_vec()]).is_err());
        // Restored to its last flushed state, it does again.
        log.restore(before).unwrap();
        assert!(log.broken().is_none());
        log.append(&[b"three".to_vec()]).unwrap();
        assert_eq!(
            reopened(&path),
            (vec![b"one".to_vec(), b"three".to_vec()], 0)
        );

        // A flush that fails while undoing works: nothing of it stays.
        let (mut log, _) = RecordLog::open(&path).unwrap();
        let before = log.len();
        log.append_unsynced(&[b"four".to_vec()]).unwrap();
        faults::inject(dir.path(), Fault::FlushFails);
        assert!(sync_filesystem_of(dir.path()).is_err());
        faults::clear(dir.path());
        log.restore(before).unwrap();
        assert_eq!(
            reopened(&path),
            (vec![b"one".to_vec(), b"three".to_vec()], 0)
        );
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
