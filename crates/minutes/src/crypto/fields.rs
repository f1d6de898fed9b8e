//! Which stored values are personal, and sealing/opening them inside their columns.
//!
//! JSON columns keep their shape: only the personal strings are replaced by sealed strings,
//! each bound to its JSON path (RFC 6901 pointer) and row.
use std::fmt::Write;

use serde_json::Value;

use super::cipher::{CryptoError, Field, FieldCipher, Resealed};

/// Keys of artifact content whose strings are personal (action-item owners, participants).
pub const CONTENT_PERSONAL_KEYS: [&str; 2] = ["owner", "participants"];

/// A column holding personal fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `{label: {name, speaker_id, …}}`: `/<label>/name` and `/<label>/speaker_id`.
    SpeakerMapping,
    /// Artifact content: every `owner` string and every string in a `participants` list.
    ArtifactContent,
    /// `/watermark/confirmed_by_id`, `/watermark/confirmed_by_name`, `/watermark/text`.
    ArtifactMetadata,
    /// Voiceprint matches in step results: `/matches/<i>/name`, `/matches/<i>/speaker_id`.
    StepResult,
    /// The responsible person's id.
    TaskConfirmedBy,
    /// The responsible person's name.
    TaskConfirmedByName,
    /// A registry speaker's name.
    SpeakerName,
    /// The voiceprint provider's id of a registry speaker's feature.
    SpeakerFeatureId,
    /// Who consented to a registry speaker's enrollment.
    SpeakerConsentSubject,
    /// The consent wording of a registry speaker's enrollment.
    SpeakerConsentText,
    /// A local voiceprint embedding (base64 of little-endian f32).
    VoiceprintEmbedding,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::SpeakerMapping => "speaker_mappings.mapping",
            Column::ArtifactContent => "artifacts.content",
            Column::ArtifactMetadata => "artifacts.metadata",
            Column::StepResult => "task_steps.result",
            Column::TaskConfirmedBy => "tasks.confirmed_by",
            Column::TaskConfirmedByName => "tasks.confirmed_by_name",
            Column::SpeakerName => "speakers.name",
            Column::SpeakerFeatureId => "speakers.provider_feature_id",
            Column::SpeakerConsentSubject => "speakers.consent_subject",
            Column::SpeakerConsentText => "speakers.consent_text",
            Column::VoiceprintEmbedding => "voiceprint_features.embedding",
        }
    }
}

/// How many values a reseal changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealCount {
    /// Sealed under an older key, now under the active one.
    pub rotated: u64,
    /// Legacy plaintext, now sealed.
    pub encrypted: u64,
}

impl ResealCount {
    pub fn changed(&self) -> bool {
        self.rotated + self.encrypted > 0
    }

    pub fn add(&mut self, other: ResealCount) {
        self.rotated += other.rotated;
        self.encrypted += other.encrypted;
    }
}

type Visit<'f> = dyn FnMut(&str, &mut String) -> Result<(), CryptoError> + 'f;

/// Calls `f(json_pointer, value)` for every personal string of a JSON column.
fn visit(column: Column, value: &mut Value, f: &mut Visit<'_>) -> Result<(), CryptoError> {
    let mut path = String::new();
    match column {
        Column::SpeakerMapping => {
            for (label, entry) in value.as_object_mut().into_iter().flatten() {
                for key in ["name", "speaker_id"] {
                    if let Some(Value::String(s)) = entry.get_mut(key) {
                        path.clear();
                        let _ = write!(path, "/{}/{key}", escape(label));
                        f(&path, s)?;
                    }
                }
            }
        }
        Column::ArtifactContent => walk_content(value, &mut path, f)?,
        Column::ArtifactMetadata => {
            if let Some(watermark) = value.get_mut("watermark") {
                for key in ["confirmed_by_id", "confirmed_by_name", "text"] {
                    if let Some(Value::String(s)) = watermark.get_mut(key) {
                        f(&format!("/watermark/{key}"), s)?;
                    }
                }
            }
        }
        Column::StepResult => {
            let matches = value.get_mut("matches").and_then(Value::as_array_mut);
            for (i, m) in matches.into_iter().flatten().enumerate() {
                for key in ["name", "speaker_id"] {
                    if let Some(Value::String(s)) = m.get_mut(key) {
                        f(&format!("/matches/{i}/{key}"), s)?;
                    }
                }
            }
        }
        Column::TaskConfirmedBy
        | Column::TaskConfirmedByName
        | Column::SpeakerName
        | Column::SpeakerFeatureId
        | Column::SpeakerConsentSubject
        | Column::SpeakerConsentText
        | Column::VoiceprintEmbedding => {}
    }
    Ok(())
}

fn walk_content(
    value: &mut Value,
    path: &mut String,
    f: &mut Visit<'_>,
) -> Result<(), CryptoError> {
    let len = path.len();
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                path.truncate(len);
                let _ = write!(path, "/{}", escape(key));
                match (key.as_str(), child) {
                    ("owner", Value::String(s)) => f(path, s)?,
                    ("participants", Value::Array(items)) => {
                        let here = path.len();
                        for (i, item) in items.iter_mut().enumerate() {
                            if let Value::String(s) = item {
                                path.truncate(here);
                                let _ = write!(path, "/{i}");
                                f(path, s)?;
                            }
                        }
                    }
                    (_, child) => walk_content(child, path, f)?,
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.truncate(len);
                let _ = write!(path, "/{i}");
                walk_content(item, path, f)?;
            }
        }
        _ => {}
    }
    path.truncate(len);
    Ok(())
}

/// RFC 6901 escaping of one pointer segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl FieldCipher {
    /// A copy of a JSON column with its personal strings sealed for row `row`.
    pub fn seal_json(
        &self,
        column: Column,
        row: &str,
        value: &Value,
    ) -> Result<Value, CryptoError> {
        let mut out = value.clone();
        visit(column, &mut out, &mut |path, s| {
            *s = self.seal(field(column, row, path), s)?;
            Ok(())
        })?;
        Ok(out)
    }

    /// A JSON column as read, with its personal strings opened (legacy plaintext stays).
    pub fn open_json(
        &self,
        column: Column,
        row: &str,
        mut value: Value,
    ) -> Result<Value, CryptoError> {
        visit(column, &mut value, &mut |path, s| {
            if super::cipher::sealed_kid(s).is_some() {
                *s = self.open(field(column, row, path), s)?;
            }
            Ok(())
        })?;
        Ok(value)
    }

    /// Brings the personal strings of a JSON column under the active key, in place.
    pub fn reseal_json(
        &self,
        column: Column,
        row: &str,
        value: &mut Value,
    ) -> Result<ResealCount, CryptoError> {
        let mut count = ResealCount::default();
        visit(column, value, &mut |path, s| {
            match self.reseal(field(column, row, path), s)? {
                Resealed::Current => {}
                Resealed::Rotated(v) => {
                    count.rotated += 1;
                    *s = v;
                }
                Resealed::Encrypted(v) => {
                    count.encrypted += 1;
                    *s = v;
                }
            }
            Ok(())
        })?;
        Ok(count)
    }

    /// Seals a text column's value for row `row`.
    pub fn seal_text(&self, column: Column, row: &str, value: &str) -> Result<String, CryptoError> {
        self.seal(field(column, row, ""), value)
    }

    pub fn open_text(&self, column: Column, row: &str, value: &str) -> Result<String, CryptoError> {
        self.open(field(column, row, ""), value)
    }

    /// Brings a text column's value under the active key, in place.
    pub fn reseal_text(
        &self,
        column: Column,
        row: &str,
        value: &mut String,
    ) -> Result<ResealCount, CryptoError> {
        Ok(match self.reseal(field(column, row, ""), value)? {
            Resealed::Current => ResealCount::default(),
            Resealed::Rotated(v) => {
                *value = v;
                ResealCount {
                    rotated: 1,
                    encrypted: 0,
                }
            }
            Resealed::Encrypted(v) => {
                *value = v;
                ResealCount {
                    rotated: 0,
                    encrypted: 1,
                }
            }
        })
    }
}

fn field<'a>(column: Column, row: &'a str, path: &'a str) -> Field<'a> {
    Field {
        column: column.name(),
        row,
        path,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::keyring::{KeyEntry, Keyring};
    use super::*;

    fn cipher(kids: &[&str]) -> FieldCipher {
        let entries = kids
            .iter()
            .map(|k| KeyEntry::new(k, [k.len() as u8 + k.as_bytes()[1]; 32]).unwrap())
            .collect();
        FieldCipher::new(Keyring::new(entries, None).unwrap())
    }

    fn sealed_strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.starts_with("enc1:") => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| sealed_strings(v, out)),
            Value::Object(o) => o.values().for_each(|v| sealed_strings(v, out)),
            _ => {}
        }
    }

    #[test]
    fn mappings_seal_names_and_speaker_ids_only() {
        let c = cipher(&["k1"]);
        let mapping = json!({
            "Speaker 1": {"name": "陈静", "speaker_id": "vp_17", "confidence": 0.9, "source": "voiceprint"},
            "S/2": {"name": "S/2", "speaker_id": null, "confidence": null, "source": "label"}
        });
        let sealed = c
            .seal_json(Column::SpeakerMapping, "task_1", &mapping)
            .unwrap();
        let text = sealed.to_string();
        assert!(!text.contains("陈静") && !text.contains("vp_17"), "{text}");
        assert_eq!(sealed["Speaker 1"]["source"], "voiceprint");
        assert_eq!(sealed["S/2"]["speaker_id"], Value::Null);
        let mut found = Vec::new();
        sealed_strings(&sealed, &mut found);
        assert_eq!(found.len(), 3);
        assert_eq!(
            c.open_json(Column::SpeakerMapping, "task_1", sealed.clone())
                .unwrap(),
            mapping
        );
        // Bound to the row: another task's mapping cannot borrow these values.
        assert!(c
            .open_json(Column::SpeakerMapping, "task_2", sealed)
            .is_err());
    }

    #[test]
    fn artifact_owners_and_participants_are_sealed_wherever_they_are() {
        let c = cipher(&["k1"]);
        let content = json!({
            "title": "Sprint planning", "participants": ["Priya", "Marcus"],
            "summary": "Marcus will upgrade PG.",
            "action_items": [{"owner": "Marcus", "task": "Upgrade PG", "due": null, "segment_ids": ["seg_0002"]},
                             {"owner": null, "task": "Decide", "segment_ids": []}]
        });
        let sealed = c
            .seal_json(Column::ArtifactContent, "art_1", &content)
            .unwrap();
        assert_eq!(sealed["title"], "Sprint planning");
        assert_eq!(
            sealed["summary"], "Marcus will upgrade PG.",
            "prose is not a field"
        );
        assert_eq!(sealed["action_items"][1]["owner"], Value::Null);
        assert!(!sealed["participants"].to_string().contains("Priya"));
        assert!(!sealed["action_items"][0]["owner"]
            .to_string()
            .contains("Marcus"));
        let opened = c
            .open_json(Column::ArtifactContent, "art_1", sealed.clone())
            .unwrap();
        assert_eq!(opened, content);
        // Swapping two sealed values inside one artifact breaks both.
        let mut swapped = sealed;
        let (a, b) = (
            swapped["participants"][0].clone(),
            swapped["participants"][1].clone(),
        );
        swapped["participants"][0] = b;
        swapped["participants"][1] = a;
        assert!(c
            .open_json(Column::ArtifactContent, "art_1", swapped)
            .is_err());
    }

    #[test]
    fn watermarks_and_voiceprint_matches_are_sealed() {
        let c = cipher(&["k1"]);
        let metadata = json!({"confirmed": true, "watermark": {
            "confirmed_by_id": "u_42", "confirmed_by_name": "陈静", "confirmed_at": "2026-01-01T00:00:00Z",
            "text": "Confirmed by 陈静 (u_42)", "recorded_by": "user_1"}});
        let sealed = c
            .seal_json(Column::ArtifactMetadata, "art_1", &metadata)
            .unwrap();
        assert!(!sealed.to_string().contains("陈静") && !sealed.to_string().contains("u_42"));
        assert_eq!(sealed["watermark"]["recorded_by"], "user_1");
        assert_eq!(
            c.open_json(Column::ArtifactMetadata, "art_1", sealed)
                .unwrap(),
            metadata
        );
        let result = json!({"provider": "vp", "matches": [
            {"label": "S1", "name": "Ann", "speaker_id": "vp_1", "confidence": 0.8}]});
        let sealed = c.seal_json(Column::StepResult, "task_1", &result).unwrap();
        assert!(!sealed.to_string().contains("Ann") && !sealed.to_string().contains("vp_1"));
        assert_eq!(sealed["matches"][0]["label"], "S1");
        assert_eq!(
            c.open_json(Column::StepResult, "task_1", sealed).unwrap(),
            result
        );
        // Results without matches pass through.
        let other = json!({"duration": 12.5});
        assert_eq!(c.seal_json(Column::StepResult, "t", &other).unwrap(), other);
    }

    #[test]
    fn reseal_counts_rotated_and_legacy_values() {
        let old = cipher(&["k1"]);
        let new = cipher(&["k1", "k2"]);
        let mut mapping = old
            .seal_json(
                Column::SpeakerMapping,
                "t",
                &json!({"S1": {"name": "Ann", "speaker_id": "vp"}}),
            )
            .unwrap();
        mapping["S2"] = json!({"name": "Legacy Bob"});
        let count = new
            .reseal_json(Column::SpeakerMapping, "t", &mut mapping)
            .unwrap();
        assert_eq!(
            count,
            ResealCount {
                rotated: 2,
                encrypted: 1
            }
        );
        let mut kids = Vec::new();
        sealed_strings(&mapping, &mut kids);
        assert!(kids.iter().all(|s| s.starts_with("enc1:k2:")), "{kids:?}");
        let again = new
            .reseal_json(Column::SpeakerMapping, "t", &mut mapping)
            .unwrap();
        assert!(!again.changed(), "idempotent");
        assert_eq!(
            new.open_json(Column::SpeakerMapping, "t", mapping).unwrap()["S2"]["name"],
            "Legacy Bob"
        );
        let mut name = "陈静".to_string();
        let c = new
            .reseal_text(Column::TaskConfirmedByName, "task_1", &mut name)
            .unwrap();
        assert_eq!(c.encrypted, 1);
        assert_eq!(
            new.open_text(Column::TaskConfirmedByName, "task_1", &name)
                .unwrap(),
            "陈静"
        );
    }
}
