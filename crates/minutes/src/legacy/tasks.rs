//! Tasks of the original with what hangs off them: audio references, the transcript, the
//! speaker mapping; artifact versions and failed attempts come from `artifacts.rs`.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::mapping;
use super::{flag, number, text, Owner, Run};
use crate::store::legacy_source::LegacyRow;
use crate::store::{LegacyEvent, LegacyTask, NewTranscriptRevision};

/// Who wrote imported rows that name no author.
pub(super) const IMPORTER: &str = "legacy-import";

/// The rows of other tables that belong to one task.
#[derive(Default)]
struct Children<'r> {
    transcript: Option<&'r LegacyRow>,
    mappings: Vec<&'r LegacyRow>,
    artifacts: Vec<&'r LegacyRow>,
}

impl Run<'_> {
    pub(super) async fn tasks(
        &mut self,
        rows: &HashMap<&str, Vec<LegacyRow>>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> anyhow::Result<()> {
        let task_ids: HashSet<String> = rows["tasks"]
            .iter()
            .filter_map(|t| text(t, "task_id"))
            .collect();
        let mut children: HashMap<String, Children> = HashMap::new();
        let orphan = |report: &mut super::Report, table: &str, key: Value, task: &str| {
            report.skip(
                table,
                key,
                "orphan_task",
                format!("task {task} does not exist"),
            );
        };
        for row in &rows["transcripts"] {
            let task = text(row, "task_id").unwrap_or_default();
            let key = json!(text(row, "transcript_id"));
            if !task_ids.contains(&task) {
                orphan(&mut self.report, "transcripts", key, &task);
                continue;
            }
            let slot = children.entry(task.clone()).or_default();
            match slot.transcript {
                // Rows come in rowid order: the first is what the original served.
                Some(first) => self.report.skip(
                    "transcripts",
                    key,
                    "duplicate_transcript",
                    format!(
                        "task {task} already has transcript {} (the original served the first row)",
                        text(first, "transcript_id").unwrap_or_default()
                    ),
                ),
                None => slot.transcript = Some(row),
            }
        }
        for row in &rows["speaker_mappings"] {
            let task = text(row, "task_id").unwrap_or_default();
            if !task_ids.contains(&task) {
                orphan(
                    &mut self.report,
                    "speaker_mappings",
                    row.get("mapping_id").cloned().unwrap_or(Value::Null),
                    &task,
                );
                continue;
            }
            children.entry(task).or_default().mappings.push(row);
        }
        for row in &rows["generated_artifacts"] {
            let task = text(row, "task_id").unwrap_or_default();
            if !task_ids.contains(&task) {
                orphan(
                    &mut self.report,
                    "generated_artifacts",
                    json!(text(row, "artifact_id")),
                    &task,
                );
                continue;
            }
            children.entry(task).or_default().artifacts.push(row);
        }
        let total = rows["tasks"].len() as u64;
        for (done, row) in rows["tasks"].iter().enumerate() {
            let Some(id) = text(row, "task_id") else {
                self.report.skip(
                    "tasks",
                    Value::Null,
                    "missing_id",
                    "a task without an id".into(),
                );
                continue;
            };
            let kids = children.remove(&id).unwrap_or_default();
            if let Some(task) = self.task(row, &id, &kids).await? {
                let new = !self.existing.tasks.contains(&id);
                if new && !self.dry_run {
                    self.store.legacy_insert_task(&task).await?;
                }
                self.count_task(&task, &kids, new);
            }
            progress(done as u64 + 1, total);
        }
        Ok(())
    }

    fn count_task(&mut self, t: &LegacyTask, kids: &Children, new: bool) {
        let r = &mut self.report;
        r.count("tasks", new, 1);
        r.count(&format!("tasks_state_{}", t.state), new, 1);
        if t.is_deleted {
            r.count("tasks_deleted", new, 1);
        }
        if t.is_confirmed {
            r.count("tasks_confirmed", new, 1);
        }
        if let Some((rev, _)) = &t.transcript {
            r.count("transcripts", new, 1);
            r.count(
                "segments",
                new,
                rev.segments.as_array().map_or(0, |s| s.len() as u64),
            );
        }
        r.count("speaker_mappings", new, kids.mappings.len() as u64);
        r.count("artifacts_ok", new, t.artifacts.len() as u64);
        for e in &t.events {
            if let Some(kind) = e.detail.get("attempt").and_then(Value::as_str) {
                r.count(&format!("artifacts_{kind}"), new, 1);
            }
        }
        r.count("artifacts", new, kids.artifacts.len() as u64);
        for (_, key, _) in &t.files {
            if new {
                r.audio_not_fetched.push(key.clone());
            }
            r.count(
                if mapping::is_url(key) {
                    "audio_references_url"
                } else {
                    "audio_references_local"
                },
                new,
                1,
            );
        }
    }

    /// The task as we store it, or `None` (reported) when it cannot be imported.
    async fn task(
        &mut self,
        row: &LegacyRow,
        id: &str,
        kids: &Children<'_>,
    ) -> anyhow::Result<Option<LegacyTask>> {
        let orig_state = text(row, "state").unwrap_or_else(|| "pending".into());
        let Some(mapped) = mapping::map_state(&orig_state) else {
            self.report.skip(
                "tasks",
                json!(id),
                "unknown_state",
                format!("state `{orig_state}`"),
            );
            return Ok(None);
        };
        let owner = self.task_owner(row, id).await?;
        let mut folder_id = text(row, "folder_id");
        if let Some(f) = folder_id.clone().filter(|f| !self.folders.contains(f)) {
            self.report.fixup(
                "tasks",
                id,
                "folder_id",
                "dangling_folder",
                json!(f),
                Value::Null,
            );
            folder_id = None;
        }
        let mut hotword_set_id = text(row, "hotword_set_id");
        if let Some(h) = hotword_set_id
            .clone()
            .filter(|h| !self.hotword_sets.contains(h))
        {
            self.report.fixup(
                "tasks",
                id,
                "hotword_set_id",
                "dangling_hotword_set",
                json!(h),
                Value::Null,
            );
            hotword_set_id = None;
        }
        let stored_name = text(row, "name");
        let name = stored_name
            .as_deref()
            .map(|n| mapping::truncate_chars(n.trim(), 255))
            .filter(|n| !n.is_empty());
        if stored_name.is_some() && name != stored_name {
            self.report.fixup(
                "tasks",
                id,
                "name",
                "task_name",
                json!(stored_name),
                json!(name),
            );
        }
        let created_at = self.time_or(row, "created_at", None);
        let updated_at = self.time_or(row, "updated_at", Some(created_at));
        let output_language = text(row, "output_language").unwrap_or_else(|| "zh-CN".into());
        let error_details = text(row, "error_details");
        let (error_code, error_message) = match mapped.error_code {
            Some(code) => (Some(code.to_string()), Some(format!(
                "the original system left this task `{orig_state}`; it did not finish there and its audio \
                 was not brought over, so it cannot resume here"))),
            None => (
                text(row, "error_code").or_else(|| (mapped.state == "failed").then(|| "legacy_failed".into())),
                text(row, "error_message").or_else(|| error_details.clone()),
            ),
        };
        let files = self.files(row);
        let transcript = kids.transcript.map(|t| self.transcript(t));
        let mapping = self.speaker_mapping(&kids.mappings, created_at);
        let mut events = vec![LegacyEvent {
            from_state: None,
            to_state: mapped.state.into(),
            reason: "imported from the original system".into(),
            detail: json!({"original_state": orig_state, "original_progress": number(row, "progress")}),
            created_at: updated_at,
        }];
        let artifacts = self.artifacts(
            id,
            &owner,
            &kids.artifacts,
            mapping.is_some(),
            mapped.state,
            &mut events,
        );
        let is_confirmed = flag(row, "is_confirmed").unwrap_or(false) || orig_state == "confirmed";
        Ok(Some(LegacyTask {
            id: id.into(),
            tenant_id: owner.tenant_id.clone(),
            user_id: owner.user_id.clone(),
            name,
            meeting_type: text(row, "meeting_type").unwrap_or_else(|| "common".into()),
            asr_language: text(row, "asr_language").unwrap_or_else(|| "zh-CN+en-US".into()),
            prompt_instance: json!({"template_id": null, "language": output_language, "parameters": {}}),
            output_language,
            skip_speaker_recognition: flag(row, "skip_speaker_recognition").unwrap_or(false),
            hotword_set_id,
            state: mapped.state.into(),
            progress: if matches!(mapped.state, "success" | "partial_success" | "archived") {
                100.0
            } else {
                number(row, "progress").unwrap_or(0.0).clamp(0.0, 100.0)
            },
            estimated_time: None,
            audio_duration: number(row, "audio_duration").or_else(|| {
                transcript
                    .as_ref()
                    .map(|(t, _)| t.duration)
                    .filter(|d| *d > 0.0)
            }),
            error_code,
            error_message,
            error_detail: error_details,
            retryable: if mapped.error_code.is_some() {
                Some(false)
            } else {
                flag(row, "retryable")
            },
            folder_id,
            is_deleted: flag(row, "is_deleted").unwrap_or(false),
            deleted_at: self.time(row, "deleted_at"),
            is_confirmed,
            confirmed_by: text(row, "confirmed_by"),
            confirmed_by_name: text(row, "confirmed_by_name"),
            confirmed_at: self.time(row, "confirmed_at"),
            confirmation_items: row
                .get("confirmation_items")
                .map(mapping::json_cell)
                .filter(|v| !v.is_null()),
            meeting_date: text(row, "meeting_date"),
            meeting_time: text(row, "meeting_time"),
            created_at,
            updated_at,
            completed_at: self.time(row, "completed_at"),
            last_content_modified_at: self.time_or(
                row,
                "last_content_modified_at",
                Some(updated_at),
            ),
            files,
            transcript,
            mapping,
            artifacts,
            events,
        }))
    }

    /// The task's owner; its tenant is always the owner's. An owner missing from the users
    /// table keeps its id and becomes an inactive user, so the task stays theirs.
    async fn task_owner(&mut self, row: &LegacyRow, id: &str) -> anyhow::Result<Owner> {
        let orig_user = text(row, "user_id").unwrap_or_default();
        let orig_tenant = text(row, "tenant_id").unwrap_or_default();
        if let Some(o) = self.users.get(&orig_user).cloned() {
            let stated = self
                .tenants
                .get(&orig_tenant)
                .cloned()
                .unwrap_or(orig_tenant.clone());
            if stated != o.tenant_id {
                self.report.fixup(
                    "tasks",
                    id,
                    "tenant_id",
                    "tenant_mismatch",
                    json!(orig_tenant),
                    json!(o.tenant_id),
                );
            }
            return Ok(o);
        }
        self.report.fixup(
            "tasks",
            id,
            "user_id",
            "unknown_owner",
            json!(orig_user),
            json!(orig_user),
        );
        let placeholder = vec![{
            let mut r = LegacyRow::new();
            r.insert("user_id".into(), json!(orig_user));
            r.insert("username".into(), json!(orig_user));
            r.insert("tenant_id".into(), json!(orig_tenant));
            r.insert("is_active".into(), json!(0));
            r
        }];
        self.accounts(&placeholder, "users_for_unknown_owners")
            .await?;
        Ok(self.users.get(&orig_user).cloned().unwrap_or(Owner {
            user_id: orig_user,
            tenant_id: orig_tenant,
        }))
    }

    fn files(&self, row: &LegacyRow) -> Vec<(i64, String, String)> {
        let paths: Vec<String> = row
            .get("audio_files")
            .map(mapping::json_cell)
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let order: Vec<usize> = row
            .get("file_order")
            .map(mapping::json_cell)
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let names: Vec<String> = row
            .get("original_filenames")
            .map(mapping::json_cell)
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        // `file_order` is a permutation of the files (validated by the original's API); a
        // broken one falls back to the stored order.
        let mut sorted: Vec<usize> = order.clone();
        sorted.sort_unstable();
        let order = if sorted == (0..paths.len()).collect::<Vec<_>>() {
            order
        } else {
            (0..paths.len()).collect()
        };
        order
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let name = names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| mapping::file_name(&paths[i]));
                (pos as i64, paths[i].clone(), name)
            })
            .collect()
    }

    fn transcript(&self, row: &LegacyRow) -> (NewTranscriptRevision, DateTime<Utc>) {
        let segments = mapping::segments(
            &row.get("segments")
                .map(mapping::json_cell)
                .unwrap_or(Value::Null),
        );
        let duration = number(row, "duration")
            .unwrap_or_else(|| segments.iter().map(|s| s.end_time).fold(0.0, f64::max));
        let corrected = flag(row, "is_corrected").unwrap_or(false);
        let revision = NewTranscriptRevision {
            full_text: text(row, "full_text")
                .unwrap_or_else(|| crate::domain::transcript::join_text(&segments)),
            segments: serde_json::to_value(&segments).unwrap_or(Value::Null),
            duration,
            language: text(row, "language").unwrap_or_else(|| "zh-CN".into()),
            provider: text(row, "provider").unwrap_or_else(|| "unknown".into()),
            author: IMPORTER.into(),
            // The original's transcript id and whether a person corrected it there.
            reason: format!(
                "imported from the original system: {} ({})",
                text(row, "transcript_id").unwrap_or_default(),
                if corrected {
                    "corrected"
                } else {
                    "as recognised"
                }
            ),
        };
        (revision, self.time_or(row, "created_at", None))
    }

    /// One mapping version from the original's rows: the name as the original showed it (a
    /// voiceprint id resolved through its `speakers` table, else the stored name).
    fn speaker_mapping(
        &self,
        rows: &[&LegacyRow],
        fallback: DateTime<Utc>,
    ) -> Option<(Value, DateTime<Utc>)> {
        let first = rows.first()?;
        let mut out = Map::new();
        for row in rows {
            let label = text(row, "speaker_label").unwrap_or_default();
            let stored = text(row, "speaker_name");
            let speaker_id = text(row, "speaker_id");
            let resolved = stored
                .as_ref()
                .and_then(|n| self.speaker_names.get(n))
                .or_else(|| speaker_id.as_ref().and_then(|s| self.speaker_names.get(s)))
                .cloned()
                .or(stored)
                .unwrap_or_else(|| label.clone());
            let corrected = flag(row, "is_corrected").unwrap_or(false);
            out.insert(
                label,
                json!({
                    "name": resolved,
                    "speaker_id": speaker_id,
                    "confidence": number(row, "confidence"),
                    "source": if corrected { "manual" } else { "imported" },
                }),
            );
        }
        Some((
            Value::Object(out),
            self.time_or(first, "created_at", Some(fallback)),
        ))
    }
}
