//! `minutes import legacy`: bringing a database of the original Python system into ours.
//!
//! Original ids are kept as our ids (they are the links and bookmarks people have), except a
//! user or tenant id our routes and object keys cannot carry (`user_测试账号`): that one gets
//! the id dev login derives from the username, and an audit entry
//! (`legacy_import.id_mapped`) records the original id. Reading goes through
//! `store::legacy_source`, writing through `store::legacy_import`; this module decides what
//! each original row becomes (`mapping.rs`) and reports it (`report.rs`).
mod artifacts;
mod library;
pub mod mapping;
pub mod report;
mod tasks;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::domain::ids;
use crate::store::legacy_source::{LegacyRow, LegacySource};
use crate::store::{
    AuditEntry, LegacyAccount, LegacyExisting, SpeakerRecord, SqlStore, LEGACY_LOG_ID_KEY,
};
use mapping::{json_cell, Clock};
pub use report::Report;

/// The original's tables this importer reads.
const TABLES: [&str; 10] = [
    "users",
    "folders",
    "tasks",
    "transcripts",
    "speaker_mappings",
    "speakers",
    "prompt_templates",
    "generated_artifacts",
    "hotword_sets",
    "audit_logs",
];

/// Our artifact types; the original had the same three.
pub(crate) const ARTIFACT_TYPES: [&str; 3] = ["meeting_minutes", "action_items", "summary_notes"];

/// Imports `path` into `store` (nothing is written when `dry_run`); `progress(done, total)` is
/// called as tasks go in. Safe to run again: what an earlier run wrote is counted as present.
pub async fn import(
    store: &SqlStore,
    path: &Path,
    dry_run: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<Report> {
    anyhow::ensure!(path.is_file(), "{} is not a file", path.display());
    let source = LegacySource::open(path)
        .await
        .with_context(|| format!("opening {} as an SQLite database", path.display()))?;
    let mut rows = HashMap::new();
    let mut columns = HashMap::new();
    for table in TABLES {
        columns.insert(table, source.columns(table).await?);
        rows.insert(table, source.rows(table).await?);
    }
    source.close().await;
    anyhow::ensure!(
        !columns["users"].is_empty() && !columns["tasks"].is_empty(),
        "{} has no users or tasks table: not a database of the original system",
        path.display()
    );
    let has = |t: &str, c: &str| columns[t].iter().any(|x| x == c);
    let variant = if has("generated_artifacts", "state") || has("tasks", "error_code") {
        "v3"
    } else if !columns["speakers"].is_empty() || has("tasks", "meeting_date") {
        "v2"
    } else {
        "v1"
    };
    let mut run = Run {
        store,
        dry_run,
        clock: Clock {
            local_after_switch: variant == "v3",
        },
        existing: store.legacy_existing().await?,
        report: Report {
            dry_run,
            variant: variant.into(),
            ..Report::default()
        },
        users: HashMap::new(),
        tenants: HashMap::new(),
        by_username: HashMap::new(),
        folders: HashSet::new(),
        hotword_sets: HashSet::new(),
        speaker_names: HashMap::new(),
    };
    run.accounts(&rows["users"], "users").await?;
    run.folders(&rows["folders"]).await?;
    run.templates(&rows["prompt_templates"]).await?;
    run.hotword_sets(&rows["hotword_sets"]).await?;
    run.speakers(&rows["speakers"]).await?;
    run.tasks(&rows, progress).await?;
    run.audit_logs(&rows["audit_logs"]).await?;
    Ok(run.report)
}

/// Our user and tenant id for an original user.
#[derive(Debug, Clone)]
struct Owner {
    user_id: String,
    tenant_id: String,
}

/// One import's state: what the target holds and where each original id went.
struct Run<'a> {
    store: &'a SqlStore,
    dry_run: bool,
    clock: Clock,
    existing: LegacyExisting,
    report: Report,
    /// Original user id → ours.
    users: HashMap<String, Owner>,
    /// Original tenant id → ours.
    tenants: HashMap<String, String>,
    /// Username → original user id.
    by_username: HashMap<String, String>,
    folders: HashSet<String>,
    hotword_sets: HashSet<String>,
    /// Voiceprint id → display name (the original's `speakers` table).
    speaker_names: HashMap<String, String>,
}

/// A text cell (numbers as their text, NULL and absent columns as `None`).
pub(crate) fn text(row: &LegacyRow, column: &str) -> Option<String> {
    match row.get(column)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub(crate) fn flag(row: &LegacyRow, column: &str) -> Option<bool> {
    match row.get(column)? {
        Value::Number(n) => Some(n.as_f64() != Some(0.0)),
        Value::String(s) => Some(matches!(s.trim(), "1" | "true" | "True" | "t")),
        _ => None,
    }
}

pub(crate) fn number(row: &LegacyRow, column: &str) -> Option<f64> {
    match row.get(column)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id our routes, rows and object keys can carry as it is.
fn safe_id(id: &str) -> bool {
    crate::auth::valid_id(id) && !id.contains(['|', ':', '@', '+'])
}

impl Run<'_> {
    fn time(&self, row: &LegacyRow, column: &str) -> Option<DateTime<Utc>> {
        text(row, column).and_then(|t| self.clock.parse(&t))
    }

    /// A required timestamp: the column, else `fallback`, else the time of the import.
    fn time_or(
        &self,
        row: &LegacyRow,
        column: &str,
        fallback: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        self.time(row, column).or(fallback).unwrap_or_else(Utc::now)
    }

    /// Users (counted under `kind`) with their tenants.
    async fn accounts(&mut self, rows: &[LegacyRow], kind: &str) -> anyhow::Result<()> {
        for row in rows {
            let (Some(orig_id), Some(username)) = (text(row, "user_id"), text(row, "username"))
            else {
                self.report.skip(
                    "users",
                    json!(text(row, "user_id")),
                    "missing_id",
                    "a user without an id or username".into(),
                );
                continue;
            };
            let orig_tenant = text(row, "tenant_id").unwrap_or_else(|| format!("tenant_{orig_id}"));
            let user_id = if safe_id(&orig_id) {
                orig_id.clone()
            } else {
                let derived = ids::user_id_for(&username);
                self.report.fixup(
                    "users",
                    &orig_id,
                    "user_id",
                    "unsafe_id",
                    json!(orig_id),
                    json!(derived),
                );
                derived
            };
            let tenant_id = if safe_id(&orig_tenant) {
                orig_tenant.clone()
            } else {
                ids::tenant_id_for(&username)
            };
            let created_at = self.time_or(row, "created_at", None);
            let account = LegacyAccount {
                user_id,
                tenant_id,
                tenant_name: username.clone(),
                username: username.clone(),
                // Every original user ran their own tenant, as a dev-login user does here.
                role: "admin".into(),
                is_active: flag(row, "is_active").unwrap_or(true),
                created_at,
                updated_at: self.time_or(row, "updated_at", Some(created_at)),
                last_login_at: self.time(row, "last_login_at"),
            };
            if let Some(other) = self
                .existing
                .users
                .iter()
                .find(|(id, name)| (**id == account.user_id) != (**name == account.username))
            {
                let detail = format!(
                    "the database already has user `{}` named `{}`",
                    other.0, other.1
                );
                self.report
                    .skip("users", json!(orig_id), "user_conflict", detail);
                continue;
            }
            self.tenant(&orig_tenant, &account.tenant_id).await?;
            let new = !self.existing.users.contains_key(&account.user_id);
            if new && !self.dry_run {
                self.store.legacy_insert_account(&account).await?;
            }
            self.report.count(kind, new, 1);
            if account.user_id != orig_id {
                self.id_reference("user", &orig_id, &account.user_id, &account.tenant_id)
                    .await?;
            }
            self.by_username.insert(username, orig_id.clone());
            self.users.insert(
                orig_id,
                Owner {
                    user_id: account.user_id,
                    tenant_id: account.tenant_id,
                },
            );
        }
        Ok(())
    }

    /// Counts (and in a real run writes) a tenant the first time it is seen.
    async fn tenant(&mut self, orig: &str, ours: &str) -> anyhow::Result<()> {
        if self.tenants.contains_key(orig) || self.tenants.values().any(|t| t == ours) {
            self.tenants.insert(orig.into(), ours.into());
            return Ok(());
        }
        if ours != orig {
            self.report.fixup(
                "users",
                orig,
                "tenant_id",
                "unsafe_id",
                json!(orig),
                json!(ours),
            );
            self.id_reference("tenant", orig, ours, ours).await?;
        }
        self.tenants.insert(orig.into(), ours.into());
        // The tenant row itself is written with its first user (one transaction).
        self.report
            .count("tenants", !self.existing.tenants.contains(ours), 1);
        Ok(())
    }

    /// Records where an original id went, for redirecting old links (`/admin/audit`).
    async fn id_reference(
        &mut self,
        kind: &str,
        orig: &str,
        ours: &str,
        tenant: &str,
    ) -> anyhow::Result<()> {
        let key = format!("id:{kind}:{orig}");
        let new = !self.existing.audit_logs.contains(&key);
        if new && !self.dry_run {
            let entry = AuditEntry {
                tenant_id: tenant.into(),
                user_id: None,
                action: "legacy_import.id_mapped".into(),
                resource_type: kind.into(),
                resource_id: ours.into(),
                details: json!({ LEGACY_LOG_ID_KEY: key, "original_id": orig, "id": ours }),
            };
            self.store.legacy_insert_audit(&entry, Utc::now()).await?;
        }
        self.report.count("id_references", new, 1);
        Ok(())
    }

    /// The original's voiceprint-id → name table. Its people go into our registry as `failed`
    /// enrollments: the original recorded no consent, so they are named but never matched
    /// until enrolled again with consent.
    async fn speakers(&mut self, rows: &[LegacyRow]) -> anyhow::Result<()> {
        for row in rows {
            let Some(id) = text(row, "speaker_id") else {
                self.report.skip(
                    "speakers",
                    Value::Null,
                    "missing_id",
                    "a speaker without an id".into(),
                );
                continue;
            };
            let name = text(row, "display_name");
            if let Some(n) = &name {
                self.speaker_names.insert(id.clone(), n.clone());
            }
            let creator = text(row, "created_by").and_then(|u| self.users.get(&u).cloned());
            let tenant = text(row, "tenant_id")
                .and_then(|t| self.tenants.get(&t).cloned())
                .or_else(|| creator.as_ref().map(|c| c.tenant_id.clone()));
            let Some(tenant_id) = tenant else {
                self.report.skip(
                    "speakers",
                    json!(id),
                    "unknown_owner",
                    "neither its tenant nor its creator was imported".into(),
                );
                continue;
            };
            let created_at = self.time_or(row, "created_at", None);
            let speaker = SpeakerRecord {
                id: id.clone(),
                tenant_id,
                name,
                provider: "iflytek".into(),
                provider_feature_id: Some(id.clone()),
                state: "failed".into(),
                error: Some("legacy_no_consent: imported from the original system, which recorded no consent; \
                             enroll again with consent to identify this person".into()),
                sample_seconds: None,
                consent_subject: None,
                consent_text: None,
                consent_reference: Some("none: the original system recorded no consent".into()),
                consent_method: "written".into(),
                consent_version: "legacy-unrecorded".into(),
                consented_at: created_at,
                created_by: creator.map_or_else(|| "legacy-import".into(), |c| c.user_id),
                created_at,
                updated_at: self.time_or(row, "updated_at", Some(created_at)),
                erased_at: None,
                erased_by: None,
            };
            let new = !self.existing.speakers.contains(&id);
            if new && !self.dry_run {
                self.store.legacy_insert_speaker(&speaker).await?;
            }
            self.report.count("speakers", new, 1);
        }
        Ok(())
    }

    async fn audit_logs(&mut self, rows: &[LegacyRow]) -> anyhow::Result<()> {
        for row in rows {
            let Some(id) = text(row, "log_id") else {
                self.report.skip(
                    "audit_logs",
                    Value::Null,
                    "missing_id",
                    "an audit entry without an id".into(),
                );
                continue;
            };
            let user = text(row, "user_id");
            let owner = user.as_ref().and_then(|u| self.users.get(u)).cloned();
            let tenant = text(row, "tenant_id")
                .and_then(|t| self.tenants.get(&t).cloned())
                .or_else(|| owner.as_ref().map(|o| o.tenant_id.clone()));
            let Some(tenant_id) = tenant else {
                self.report.skip(
                    "audit_logs",
                    json!(id),
                    "unknown_owner",
                    "neither its tenant nor its user was imported".into(),
                );
                continue;
            };
            let mut details = row.get("details").map(json_cell).unwrap_or(Value::Null);
            if !details.is_object() {
                details = json!({ "value": details });
            }
            details[LEGACY_LOG_ID_KEY] = json!(id);
            if let Some(amount) = number(row, "cost_amount") {
                details["cost_amount"] = json!(amount);
                details["cost_currency"] = json!(text(row, "cost_currency"));
            }
            let entry = AuditEntry {
                tenant_id,
                user_id: owner.map(|o| o.user_id).or(user),
                action: text(row, "action").unwrap_or_else(|| "unknown".into()),
                resource_type: text(row, "resource_type").unwrap_or_default(),
                resource_id: text(row, "resource_id").unwrap_or_default(),
                details,
            };
            let new = !self.existing.audit_logs.contains(&id);
            if new && !self.dry_run {
                let at = self.time_or(row, "created_at", None);
                self.store.legacy_insert_audit(&entry, at).await?;
            }
            self.report.count("audit_logs", new, 1);
        }
        Ok(())
    }
}
