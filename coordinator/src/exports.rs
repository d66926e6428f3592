//! Exports in pieces: the text of an export is rendered once from a
//! snapshot and kept while its pieces are fetched, so a client (`cpg
//! export`, the HTTP API) receives any size in frames of bounded size and
//! writes as it receives. The coordinator renders and cuts them
//! (`service::export`); this keeps them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::{ExportFormat, ExportKind};

/// Exports kept at once; the least recently used goes first.
const KEPT: usize = 4;
/// How long an export is kept after its last piece was fetched.
const KEEP_FOR: Duration = Duration::from_secs(600);

/// One rendered export.
#[derive(Debug)]
struct Kept {
    project: String,
    kind: ExportKind,
    format: ExportFormat,
    generation: u64,
    missing: Vec<proto::assignment::PartitionId>,
    text: Arc<String>,
    used: Instant,
}

impl Kept {
    fn is(&self, project: &str, kind: ExportKind, format: ExportFormat, generation: u64) -> bool {
        self.project == project
            && self.kind == kind
            && self.format == format
            && self.generation == generation
    }
}

/// The exports a coordinator keeps while they are fetched.
#[derive(Debug, Default)]
pub struct Exports(std::sync::Mutex<Vec<Kept>>);

/// An export's whole text and where it comes from.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub generation: u64,
    pub missing: Vec<proto::assignment::PartitionId>,
    pub text: Arc<String>,
}

impl Exports {
    pub(crate) fn find(
        &self,
        project: &str,
        kind: ExportKind,
        format: ExportFormat,
        generation: u64,
    ) -> Option<Rendered> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|k| k.used.elapsed() < KEEP_FOR);
        let k = kept
            .iter_mut()
            .find(|k| k.is(project, kind, format, generation))?;
        k.used = Instant::now();
        Some(Rendered {
            generation: k.generation,
            missing: k.missing.clone(),
            text: k.text.clone(),
        })
    }

    pub(crate) fn keep(&self, project: &str, kind: ExportKind, format: ExportFormat, r: &Rendered) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|k| k.used.elapsed() < KEEP_FOR && !k.is(project, kind, format, r.generation));
        if kept.len() >= KEPT {
            if let Some(oldest) = (0..kept.len()).min_by_key(|&i| kept[i].used) {
                kept.remove(oldest);
            }
        }
        kept.push(Kept {
            project: project.to_string(),
            kind,
            format,
            generation: r.generation,
            missing: r.missing.clone(),
            text: r.text.clone(),
            used: Instant::now(),
        });
    }

    /// Forget an export whose last piece was fetched: a text of a large
    /// code base is about 100 MB, and keeping it until it expires put it
    /// under the next snapshot's link in the coordinator's peak.
    pub(crate) fn forget(
        &self,
        project: &str,
        kind: ExportKind,
        format: ExportFormat,
        generation: u64,
    ) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|k| !k.is(project, kind, format, generation));
    }

    /// Drop every kept export (memory pressure); how many there were.
    pub fn clear(&self) -> usize {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = kept.len();
        kept.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_is_kept_until_its_last_piece_then_forgotten() {
        let exports = Exports::default();
        let rendered = Rendered {
            generation: 3,
            missing: Vec::new(),
            text: Arc::new("a,b\n".repeat(10)),
        };
        let (kind, format) = (ExportKind::CallGraph, ExportFormat::Csv);
        exports.keep("", kind, format, &rendered);
        assert!(exports.find("", kind, format, 3).is_some());
        assert!(exports.find("", kind, format, 2).is_none());
        assert!(exports.find("other", kind, format, 3).is_none());
        exports.forget("", kind, format, 3);
        assert!(exports.find("", kind, format, 3).is_none());
        assert_eq!(exports.clear(), 0);
    }
}
