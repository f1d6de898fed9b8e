//! Folders, prompt templates and hotword sets of the original: the things tasks point at.
use std::collections::HashSet;

use serde_json::{json, Value};

use super::mapping::{json_cell, truncate_chars};
use super::{flag, number, text, Run, ARTIFACT_TYPES};
use crate::store::legacy_source::LegacyRow;
use crate::store::{LegacyFolder, LegacyHotwordSet, LegacyTemplate};

impl Run<'_> {
    pub(super) async fn folders(&mut self, rows: &[LegacyRow]) -> anyhow::Result<()> {
        let mut names: HashSet<(String, String)> = HashSet::new();
        for row in rows {
            let Some(id) = text(row, "folder_id") else {
                self.report.skip(
                    "folders",
                    Value::Null,
                    "missing_id",
                    "a folder without an id".into(),
                );
                continue;
            };
            let orig_owner = text(row, "owner_user_id").unwrap_or_default();
            let Some(owner) = self.users.get(&orig_owner).cloned() else {
                self.report.skip(
                    "folders",
                    json!(id),
                    "unknown_owner",
                    format!("owner `{orig_owner}` is not an imported user"),
                );
                continue;
            };
            let stored = text(row, "name").unwrap_or_default();
            let mut name = truncate_chars(stored.trim(), 256);
            if name.is_empty() {
                name = "(unnamed)".into();
            }
            // Our folder names are unique per owner; the original only checked in code.
            let base = name.clone();
            let mut n = 2;
            while !names.insert((owner.user_id.clone(), name.clone())) {
                name = format!("{} ({n})", truncate_chars(&base, 250));
                n += 1;
            }
            if name != stored {
                self.report.fixup(
                    "folders",
                    &id,
                    "name",
                    "folder_name",
                    json!(stored),
                    json!(name),
                );
            }
            let created_at = self.time_or(row, "created_at", None);
            let folder = LegacyFolder {
                id: id.clone(),
                tenant_id: owner.tenant_id,
                owner_user_id: owner.user_id,
                name,
                created_at,
                updated_at: self.time_or(row, "updated_at", Some(created_at)),
            };
            let new = !self.existing.folders.contains(&id);
            if new && !self.dry_run && !self.store.legacy_insert_folder(&folder).await? {
                self.report.skip(
                    "folders",
                    json!(id),
                    "conflict",
                    "the owner already has a folder with this name".into(),
                );
                continue;
            }
            self.report.count("folders", new, 1);
            self.folders.insert(id);
        }
        Ok(())
    }

    pub(super) async fn templates(&mut self, rows: &[LegacyRow]) -> anyhow::Result<()> {
        for row in rows {
            let Some(id) = text(row, "template_id") else {
                self.report.skip(
                    "prompt_templates",
                    Value::Null,
                    "missing_id",
                    "a template without an id".into(),
                );
                continue;
            };
            let scope = text(row, "scope").unwrap_or_else(|| "global".into());
            let owner = if scope == "private" {
                let scope_id = text(row, "scope_id").unwrap_or_default();
                if let Some(o) = self.users.get(&scope_id) {
                    Some(o.clone())
                } else if let Some(o) = self
                    .by_username
                    .get(&scope_id)
                    .and_then(|u| self.users.get(u))
                    .cloned()
                {
                    self.report.fixup(
                        "prompt_templates",
                        &id,
                        "scope_id",
                        "owner_by_username",
                        json!(scope_id),
                        json!(o.user_id),
                    );
                    Some(o)
                } else {
                    let detail = format!("private template owned by '{scope_id}', which is neither a user_id nor a username");
                    self.report
                        .skip("prompt_templates", json!(id), "orphan_owner", detail);
                    continue;
                }
            } else {
                None
            };
            let artifact_type = text(row, "artifact_type").unwrap_or_default();
            if !ARTIFACT_TYPES.contains(&artifact_type.as_str()) {
                self.report.skip(
                    "prompt_templates",
                    json!(id),
                    "unknown_artifact_type",
                    format!("artifact type `{artifact_type}`"),
                );
                continue;
            }
            let created_at = self.time_or(row, "created_at", None);
            let template = LegacyTemplate {
                id: id.clone(),
                tenant_id: owner.as_ref().map(|o| o.tenant_id.clone()),
                owner_user_id: owner.as_ref().map(|o| o.user_id.clone()),
                title: text(row, "title")
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| id.clone()),
                description: text(row, "description").unwrap_or_default(),
                prompt_body: text(row, "prompt_body").unwrap_or_default(),
                artifact_type,
                supported_languages: row
                    .get("supported_languages")
                    .map(json_cell)
                    .filter(Value::is_array)
                    .unwrap_or_else(|| json!(["zh-CN", "en-US"])),
                parameter_schema: row
                    .get("parameter_schema")
                    .map(json_cell)
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({})),
                is_system: flag(row, "is_system").unwrap_or(owner.is_none()),
                scope: if owner.is_some() {
                    "private".into()
                } else {
                    "global".into()
                },
                created_at,
                updated_at: self.time_or(row, "updated_at", Some(created_at)),
            };
            let new = !self.existing.templates.contains(&id);
            if new && !self.dry_run {
                self.store.legacy_insert_template(&template).await?;
            }
            self.report.count("prompt_templates", new, 1);
            self.report
                .count(&format!("prompt_templates_{}", template.scope), new, 1);
        }
        Ok(())
    }

    pub(super) async fn hotword_sets(&mut self, rows: &[LegacyRow]) -> anyhow::Result<()> {
        for row in rows {
            let Some(id) = text(row, "hotword_set_id") else {
                self.report.skip(
                    "hotword_sets",
                    Value::Null,
                    "missing_id",
                    "a hotword set without an id".into(),
                );
                continue;
            };
            let scope = text(row, "scope").unwrap_or_else(|| "global".into());
            let scope_id = text(row, "scope_id");
            let (tenant_id, our_scope_id) = match scope.as_str() {
                "global" => (None, None),
                "tenant" => {
                    let t = scope_id.as_ref().and_then(|s| self.tenants.get(s)).cloned();
                    (t.clone(), t)
                }
                "user" => {
                    let o = scope_id.as_ref().and_then(|s| self.users.get(s)).cloned();
                    (
                        o.as_ref().map(|o| o.tenant_id.clone()),
                        o.map(|o| o.user_id),
                    )
                }
                other => {
                    self.report.skip(
                        "hotword_sets",
                        json!(id),
                        "unknown_scope",
                        format!("scope `{other}`"),
                    );
                    continue;
                }
            };
            if scope != "global" && tenant_id.is_none() {
                let detail = format!(
                    "{scope} `{}` was not imported",
                    scope_id.unwrap_or_default()
                );
                self.report
                    .skip("hotword_sets", json!(id), "unknown_owner", detail);
                continue;
            }
            let provider = text(row, "provider").unwrap_or_else(|| "volcano".into());
            let resource = text(row, "provider_resource_id");
            let words =
                number(row, "word_count").map_or("an unknown number of".into(), |n| format!("{n}"));
            let created_at = self.time_or(row, "created_at", None);
            let set = LegacyHotwordSet {
                id: id.clone(),
                tenant_id,
                name: text(row, "name").filter(|n| !n.is_empty()).unwrap_or_else(|| id.clone()),
                sync_error: format!(
                    "legacy_word_list_missing: the original system kept the {words} words of this set at \
                     {provider} (resource {}); add its word list to use it here",
                    resource.as_deref().unwrap_or("unknown")
                ),
                provider,
                provider_resource_id: resource,
                scope,
                scope_id: our_scope_id,
                asr_language: text(row, "asr_language").unwrap_or_else(|| "zh-CN".into()),
                description: text(row, "description").unwrap_or_default(),
                created_at,
                updated_at: self.time_or(row, "updated_at", Some(created_at)),
            };
            let new = !self.existing.hotword_sets.contains(&id);
            if new && !self.dry_run {
                self.store.legacy_insert_hotword_set(&set).await?;
            }
            self.report.count("hotword_sets", new, 1);
            self.report.count("hotword_sets_needing_word_list", new, 1);
            self.hotword_sets.insert(id);
        }
        Ok(())
    }
}
