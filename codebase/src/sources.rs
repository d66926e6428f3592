//! What discovery finds: a source file's path on disk and its name in the
//! CPG. Shared by the application's discovery (`embedded`) and the
//! dependencies' (`libraries`). How a found file is read: its bytes, or a
//! BEAM file's export table as Elixir source, and the errors a person can
//! act on. And what an ingest plans with: each file's content hash, its
//! content read only when it is to be sent.

use std::path::PathBuf;

use partition::frontend::content_hash;
use proto::node_api::SourceUpload;

/// One source file found under the root: its path on disk and the path
/// recorded in the CPG (relative to the root, `/`-separated).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub disk: PathBuf,
    pub name: String,
}

/// A file of a tree as an ingest plans with it: its name, its content's
/// hash, and its content, read or left on disk (a file whose hash was
/// remembered from an earlier run is read only if it is to be sent).
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub hash: u64,
    content: Content,
}

#[derive(Debug, Clone)]
enum Content {
    Read(Vec<u8>),
    OnDisk(SourceFile),
}

impl Source {
    /// A file whose content is at hand (uploaded, or read for its hash).
    pub fn read(upload: SourceUpload) -> Source {
        Source {
            hash: content_hash(&upload.bytes),
            file: upload.file,
            content: Content::Read(upload.bytes),
        }
    }

    /// A file left on disk, with the hash its content had when it was
    /// last read.
    pub fn on_disk(found: SourceFile, hash: u64) -> Source {
        Source {
            file: found.name.clone(),
            hash,
            content: Content::OnDisk(found),
        }
    }

    /// The same file under another name (a project's or library's prefix).
    pub fn named(self, file: String) -> Source {
        Source { file, ..self }
    }

    /// Whether its content was read for this ingest (not remembered): what
    /// the hash cache's tests look at.
    #[cfg(test)]
    pub fn was_read(&self) -> bool {
        matches!(self.content, Content::Read(_))
    }

    /// The file to send: its content, read now if it was left on disk (a
    /// file changed since its hash was taken is sent as it is now).
    pub fn upload(&self) -> Result<SourceUpload, String> {
        let bytes = match &self.content {
            Content::Read(bytes) => bytes.clone(),
            Content::OnDisk(found) => read_source(found).map_err(|e| e.to_string())?,
        };
        Ok(SourceUpload {
            file: self.file.clone(),
            bytes,
        })
    }
}

/// Errors a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("{0}: no such file or directory")]
    Missing(PathBuf),
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no Elixir files (.ex, .exs) found here (skipped: _build, deps, .git and hidden folders)")]
    NoElixirFiles(PathBuf),
    /// A file named to send on its own that the tree's ingest would not
    /// send as the application's (why).
    #[error("{path}: {why}")]
    NotOfTheTree { path: PathBuf, why: String },
}

/// What is parsed of a library file: its text, or for a BEAM file its
/// export table written as Elixir source
/// ([`partition::library::beam::interface_source`]). A BEAM file that
/// cannot be read as one is an error naming the file.
pub fn source_bytes(name: &str, bytes: Vec<u8>) -> Result<Vec<u8>, String> {
    if !name.ends_with(".beam") {
        return Ok(bytes);
    }
    match partition::library::beam::read(&bytes) {
        Ok(beam) => Ok(partition::library::beam::interface_source(&beam, name).into_bytes()),
        Err(e) => Err(format!("cannot read the BEAM file {name}: {e}")),
    }
}

/// The bytes to parse for a discovered file: its content, or for a
/// dependency's BEAM file its export table as Elixir source.
pub fn read_source(f: &SourceFile) -> Result<Vec<u8>, EmbeddedError> {
    let bytes = std::fs::read(&f.disk).map_err(|source| EmbeddedError::Unreadable {
        path: f.disk.clone(),
        source,
    })?;
    source_bytes(&f.name, bytes).map_err(|message| EmbeddedError::Unreadable {
        path: f.disk.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    })
}

/// [`read_source`], but a dependency's BEAM file whose export table cannot
/// be read is left out (`None`) with a line on stderr: a damaged export
/// table (an interrupted `mix compile`) only loses what it would have
/// told; the sources still go.
pub fn read_or_skip(f: &SourceFile) -> Result<Option<Vec<u8>>, EmbeddedError> {
    match read_source(f) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if f.name.ends_with(".beam") && f.disk.exists() => {
            eprintln!("cpg: skipped {}: {e}", f.name);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
