//! What discovery finds: a source file's path on disk and its name in the
//! CPG. Shared by the application's discovery (`embedded`) and the
//! dependencies' (`libraries`). And what an ingest plans with: each file's
//! content hash, its content read only when it is to be sent.

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

    /// Whether its content was read for this ingest (not remembered).
    pub fn was_read(&self) -> bool {
        matches!(self.content, Content::Read(_))
    }

    /// The file to send: its content, read now if it was left on disk (a
    /// file changed since its hash was taken is sent as it is now).
    pub fn upload(&self) -> Result<SourceUpload, String> {
        let bytes = match &self.content {
            Content::Read(bytes) => bytes.clone(),
            Content::OnDisk(found) => {
                crate::embedded::read_source(found).map_err(|e| e.to_string())?
            }
        };
        Ok(SourceUpload {
            file: self.file.clone(),
            bytes,
        })
    }
}
