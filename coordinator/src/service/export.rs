//! The export RPCs' side of a coordinator: an export's text, rendered from
//! the current snapshot or taken from the exports kept while their pieces
//! are fetched (`crate::exports`), and the piece of it that starts at an
//! offset.

use std::sync::Arc;

use proto::{
    export_chunk_end, CpgError, ExportChunk, ExportFormat, ExportKind, Query, QueryResult,
};

use super::Coordinator;
use crate::exports::Rendered;

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
