//! Artifact rows of the original: content versions, and the failed or unfinished generations
//! it saved as versions too.
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::mapping::{self, ArtifactKind};
use super::tasks::IMPORTER;
use super::{number, text, Owner, Run, ARTIFACT_TYPES};
use crate::store::legacy_source::LegacyRow;
use crate::store::{LegacyEvent, NewArtifact};

impl Run<'_> {
    /// Content versions become artifacts; failed and interrupted generations (which the
    /// original saved as versions) become history entries of the task instead, so no view
    /// shows an error message as minutes. Versions are kept; a number already taken for the
    /// type (a race in the original, or per-name series) gets the next free one.
    pub(super) fn artifacts(
        &mut self,
        task_id: &str,
        owner: &Owner,
        rows: &[&LegacyRow],
        has_mapping: bool,
        state: &str,
        events: &mut Vec<LegacyEvent>,
    ) -> Vec<(NewArtifact, i64, DateTime<Utc>)> {
        let mut out = Vec::new();
        let mut taken: HashSet<(String, i64)> = HashSet::new();
        let mut rows: Vec<&&LegacyRow> = rows.iter().collect();
        rows.sort_by_key(|r| number(r, "version").unwrap_or(1.0) as i64);
        for row in rows {
            let id = text(row, "artifact_id").unwrap_or_default();
            let artifact_type = text(row, "artifact_type").unwrap_or_default();
            if !ARTIFACT_TYPES.contains(&artifact_type.as_str()) {
                self.report.skip(
                    "generated_artifacts",
                    json!(id),
                    "unknown_artifact_type",
                    format!("artifact type `{artifact_type}`"),
                );
                continue;
            }
            let stored_version = number(row, "version").unwrap_or(1.0).max(1.0) as i64;
            let (decoded, depth) = match row.get("content") {
                Some(Value::String(s)) => mapping::decode_json(s),
                Some(other) => (other.clone(), 0),
                None => (Value::Null, 0),
            };
            let created_at = self.time_or(row, "created_at", None);
            let prompt_instance = row
                .get("prompt_instance")
                .map(mapping::json_cell)
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            let kind = mapping::classify_artifact(text(row, "state").as_deref(), &decoded);
            if kind != ArtifactKind::Content {
                let attempt = if kind == ArtifactKind::Failed {
                    "failed"
                } else {
                    "interrupted"
                };
                events.push(LegacyEvent {
                    from_state: Some(state.into()),
                    to_state: state.into(),
                    reason: format!("generate_artifact {attempt} (imported from the original system)"),
                    detail: json!({"attempt": attempt, "artifact_id": id, "artifact_type": artifact_type,
                                   "version": stored_version, "display_name": text(row, "display_name"),
                                   "error": decoded, "prompt_instance": prompt_instance}),
                    created_at,
                });
                continue;
            }
            let mut version = stored_version;
            while !taken.insert((artifact_type.clone(), version)) {
                version += 1;
            }
            if version != stored_version {
                self.report.fixup(
                    "generated_artifacts",
                    &id,
                    "version",
                    "version_taken",
                    json!(stored_version),
                    json!(version),
                );
            }
            let mut metadata = row
                .get("artifact_metadata")
                .map(mapping::json_cell)
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            if let Some(w) = metadata.get_mut("watermark").filter(|w| w.is_object()) {
                // Our views read the watermark's `text`; the original's had none.
                if w.get("text").is_none() {
                    w["text"] = json!(format!(
                        "Confirmed by {} ({}) at {}",
                        w["confirmed_by_name"].as_str().unwrap_or_default(),
                        w["confirmed_by_id"].as_str().unwrap_or_default(),
                        w["confirmed_at"].as_str().unwrap_or_default()
                    ));
                }
                metadata["confirmed"] = json!(true);
            }
            metadata["legacy"] =
                json!({"artifact_id": id, "version": stored_version, "json_depth": depth});
            // Kept even when no template row has it (the original's code-seeded ones).
            let template_id = prompt_instance["template_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let model = metadata["llm_model"]
                .as_str()
                .unwrap_or("unknown (original system)")
                .to_string();
            out.push((
                NewArtifact {
                    id,
                    task_id: task_id.into(),
                    tenant_id: owner.tenant_id.clone(),
                    artifact_type,
                    content: mapping::artifact_content(decoded),
                    prompt_instance,
                    metadata,
                    transcript_revision: 1,
                    speaker_mapping_version: has_mapping.then_some(1),
                    template_id,
                    model,
                    prompt_hash: String::new(),
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    created_by: text(row, "created_by").unwrap_or_else(|| IMPORTER.into()),
                    display_name: text(row, "display_name"),
                },
                version,
                created_at,
            ));
        }
        out
    }
}
