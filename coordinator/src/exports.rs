//! Exports in pieces: the text of an export is rendered once from a
//! snapshot and kept while its pieces are fetched, so a client (`cpg
//! export`, the HTTP API) receives any size in frames of bounded size and
//! writes as it receives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::{
    export_chunk_end, CpgError, ExportChunk, ExportFormat, ExportKind, Query, QueryResult,
};

use crate::service::Coordinator;

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
    fn find(
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

    fn keep(&self, project: &str, kind: ExportKind, format: ExportFormat, r: &Rendered) {
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
    fn forget(&self, project: &str, kind: ExportKind, format: ExportFormat, generation: u64) {
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

impl Coordinator {
    /// The whole text of an export of `project`: of `generation` when it is
    /// still kept (a later piece of an export under way), else rendered
    /// from the current snapshot (refused when `generation` is given and
    /// the code has changed since), and kept for the pieces to come when
    /// `keep` (an HTTP body streams from the text it holds: not kept).
    pub async fn export_text(
        &self,
        project: &str,
        kind: ExportKind,
        format: ExportFormat,
        generation: Option<u64>,
        keep: bool,
    ) -> Result<Rendered, CpgError> {
        if let Some(g) = generation {
            if let Some(r) = self.queries.exports.find(project, kind, format, g) {
                return Ok(r);
            }
        }
        let answer = self.query(project, &Query::Export { kind, format }).await?;
        if let Some(g) = generation.filter(|g| *g != answer.generation) {
            return Err(CpgError::InvalidInput {
                reason: format!(
                    "the code changed during the export (generation {g}, now {}): export again",
                    answer.generation
                ),
            });
        }
        // Not cached (see `Coordinator::query`): the text is moved, not copied.
        let QueryResult::Text(text) = Arc::unwrap_or_clone(answer.result) else {
            return Err(CpgError::Internal(
                "an export answered with something else".into(),
            ));
        };
        let rendered = Rendered {
            generation: answer.generation,
            missing: answer.missing,
            text: Arc::new(text),
        };
        if keep {
            self.queries.exports.keep(project, kind, format, &rendered);
        }
        Ok(rendered)
    }

    /// The piece of an export that starts at byte `offset`.
    pub async fn export_chunk(
        &self,
        project: &str,
        kind: ExportKind,
        format: ExportFormat,
        generation: Option<u64>,
        offset: u64,
    ) -> Result<ExportChunk, CpgError> {
        let r = self
            .export_text(project, kind, format, generation, true)
            .await?;
        let text = &r.text;
        let start = usize::try_from(offset)
            .ok()
            .filter(|&o| o <= text.len() && text.is_char_boundary(o))
            .ok_or_else(|| CpgError::InvalidInput {
                reason: format!(
                    "offset {offset} is not where a piece of this export starts ({} bytes)",
                    text.len()
                ),
            })?;
        let end = export_chunk_end(text, start);
        if end == text.len() {
            self.queries
                .exports
                .forget(project, kind, format, r.generation);
        }
        Ok(ExportChunk {
            generation: r.generation,
            offset,
            total: text.len() as u64,
            text: text[start..end].to_string(),
            missing: r.missing,
        })
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
