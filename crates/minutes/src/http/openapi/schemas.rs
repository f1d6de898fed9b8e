//! The document's building blocks (JSON Schema 2020-12 as OpenAPI 3.1 uses it) and its
//! `components.schemas`: the shapes of `views.rs` and of the handlers' answers.
use serde_json::{json, Map, Value};

use crate::domain::task::{ASR_LANGUAGES, OUTPUT_LANGUAGES};

pub(super) fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A path parameter's schema: artifact types are an enum, everything else a non-empty string.
pub(super) fn path_param(name: &str) -> Value {
    match name {
        "artifact_type" => one_of(&ARTIFACT_TYPES),
        _ => json!({"type": "string", "minLength": 1}),
    }
}

pub(super) fn string() -> Value {
    json!({"type": "string"})
}

pub(super) fn nullable(ty: &str) -> Value {
    json!({"type": [ty, "null"]})
}

pub(super) fn of(ty: &str) -> Value {
    json!({"type": ty})
}

pub(super) fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

pub(super) fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// Any JSON value.
pub(super) fn any() -> Value {
    json!({})
}

/// An object whose listed properties are all present (more may be added later).
pub(super) fn object(props: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = props.iter().map(|(k, _)| *k).collect();
    let properties: Map<String, Value> = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    json!({"type": "object", "required": required, "properties": properties})
}

/// An object of optional properties (request bodies).
pub(super) fn optional(props: &[(&str, Value)], required: &[&str]) -> Value {
    let mut o = object(props);
    o["required"] = json!(required);
    o
}

pub(super) fn int_range(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

pub(super) fn one_of(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

pub(super) const STATES: [&str; 12] = [
    "pending",
    "queued",
    "running",
    "transcribing",
    "identifying",
    "correcting",
    "summarizing",
    "success",
    "partial_success",
    "failed",
    "cancelled",
    "archived",
];
pub(super) const ARTIFACT_TYPES: [&str; 3] = ["meeting_minutes", "action_items", "summary_notes"];

pub(super) fn api_key() -> Value {
    object(&[
        ("id", string()),
        ("name", string()),
        ("prefix", string()),
        ("scopes", array(string())),
        ("role", string()),
        ("user_id", string()),
        ("created_at", time()),
        ("expires_at", time()),
        ("revoked_at", nullable("string")),
        ("last_used_at", nullable("string")),
        ("active", of("boolean")),
    ])
}

fn artifact_info() -> Vec<(&'static str, Value)> {
    vec![
        ("artifact_id", string()),
        ("task_id", string()),
        ("artifact_type", string()),
        ("version", of("integer")),
        ("prompt_instance", any()),
        ("created_at", time()),
        ("created_by", string()),
        ("display_name", nullable("string")),
        ("state", one_of(&["success"])),
        ("stale", of("boolean")),
        ("confirmed", of("boolean")),
    ]
}

pub(super) fn schemas() -> Value {
    let mut artifact = artifact_info();
    artifact.extend([
        ("content", string()),
        ("markdown", nullable("string")),
        ("content_object", of("object")),
        ("metadata", any()),
        (
            "lineage",
            object(&[
                ("transcript_revision", of("integer")),
                ("speaker_mapping_version", nullable("integer")),
                ("template_id", string()),
                ("model", string()),
                ("prompt_hash", string()),
                ("prompt_tokens", of("integer")),
                ("completion_tokens", of("integer")),
            ]),
        ),
    ]);
    let task = object(&[
        ("task_id", string()),
        ("user_id", string()),
        ("tenant_id", string()),
        ("name", nullable("string")),
        ("meeting_type", string()),
        ("audio_files", array(string())),
        ("file_order", array(of("integer"))),
        ("original_filenames", array(string())),
        (
            "files",
            array(optional(
                &[("object_key", string()), ("file_order", of("integer"))],
                &["object_key"],
            )),
        ),
        ("asr_language", string()),
        ("output_language", string()),
        ("skip_speaker_recognition", of("boolean")),
        ("prompt_instance", any()),
        ("state", one_of(&STATES)),
        ("progress", of("number")),
        ("estimated_time", nullable("integer")),
        ("duration", nullable("number")),
        ("audio_duration", nullable("number")),
        ("error_details", nullable("string")),
        ("error_code", nullable("string")),
        ("error_message", nullable("string")),
        ("retryable", nullable("boolean")),
        ("failed_stage", nullable("string")),
        ("folder_id", nullable("string")),
        ("is_deleted", of("boolean")),
        ("deleted_at", nullable("string")),
        ("is_confirmed", of("boolean")),
        ("meeting_date", nullable("string")),
        ("meeting_time", nullable("string")),
        ("created_at", time()),
        ("updated_at", time()),
        ("completed_at", nullable("string")),
        ("last_content_modified_at", time()),
        ("audio_purged_at", nullable("string")),
    ]);
    let status = object(&[
        ("task_id", string()),
        ("state", one_of(&STATES)),
        ("progress", of("number")),
        ("estimated_time", nullable("integer")),
        ("error_details", nullable("string")),
        ("error_code", nullable("string")),
        ("error_message", nullable("string")),
        ("retryable", nullable("boolean")),
        ("failed_stage", nullable("string")),
        ("audio_duration", nullable("number")),
        ("asr_language", string()),
        ("updated_at", time()),
    ]);
    let mut hotword_set = object(&[
        ("hotword_set_id", string()),
        ("name", string()),
        ("provider", string()),
        ("provider_resource_id", nullable("string")),
        ("scope", one_of(&["user", "tenant", "global"])),
        ("scope_id", nullable("string")),
        ("asr_language", string()),
        ("description", string()),
        ("word_count", of("integer")),
        ("word_size", of("integer")),
        ("created_by", nullable("string")),
        ("created_at", time()),
        ("updated_at", time()),
        // The first 50 words with ?include_preview=true, else null (as the original).
        (
            "preview",
            json!({"type": ["array", "null"], "items": string()}),
        ),
    ]);
    // Only when provider hotword tables are on.
    hotword_set["properties"]["provider_sync"] = object(&[
        ("state", nullable("string")),
        ("error", nullable("string")),
        ("synced_at", nullable("string")),
    ]);
    // Only with ?include_preview=true: the preview's words with their weights.
    hotword_set["properties"]["preview_weights"] =
        array(object(&[("word", string()), ("weight", of("integer"))]));
    let mut search_result = object(&[
        ("task_id", string()),
        ("task_name", nullable("string")),
        ("kind", one_of(&["transcript", "artifact"])),
        ("start_time", nullable("number")),
        ("snippet", string()),
        ("created_at", time()),
    ]);
    for (name, schema) in [
        ("segment_id", nullable("string")),
        ("artifact_id", nullable("string")),
        ("artifact_type", nullable("string")),
    ] {
        search_result["properties"][name] = schema;
    }
    json!({
        "Error": {"type": "object", "required": ["detail", "code", "retryable"], "properties": {
            "detail": {"type": "string"}, "code": {"type": "string"}, "retryable": {"type": "boolean"},
            // A list of {loc, msg, type} on 422 (of {quota, used, limit} on quota_exceeded); an
            // object with the queued job's ids on llm_quota_exceeded.
            "errors": {"type": ["array", "object"], "items": {"type": "object"}}}},
        "Task": task,
        "TaskStatus": status,
        "ArtifactInfo": object(&artifact_info()),
        "Artifact": object(&artifact),
        "SegmentChange": object(&[("id", string()), ("field", string()), ("before", string()), ("after", string())]),
        "HotwordSet": hotword_set,
        "Template": object(&[
            ("template_id", string()),
            ("title", string()),
            ("description", string()),
            ("prompt_body", string()),
            ("artifact_type", string()),
            ("supported_languages", array(string())),
            ("parameter_schema", any()),
            ("is_system", of("boolean")),
            ("scope", one_of(&["global", "private"])),
            ("scope_id", nullable("string")),
            ("version", of("integer")),
            ("created_at", time()),
            ("updated_at", time()),
        ]),
        "Folder": object(&[
            ("folder_id", string()),
            ("name", string()),
            ("parent_id", nullable("string")),
            ("owner_user_id", string()),
            ("owner_tenant_id", string()),
            ("created_at", time()),
            ("updated_at", time()),
        ]),
        "TrashedSession": object(&[
            ("task_id", string()),
            ("user_id", string()),
            ("tenant_id", string()),
            ("name", nullable("string")),
            ("meeting_type", string()),
            ("folder_id", nullable("string")),
            ("duration", nullable("number")),
            ("last_content_modified_at", time()),
            ("deleted_at", nullable("string")),
            ("created_at", time()),
        ]),
        "SearchResult": search_result,
        "AuditEntry": object(&[
            ("created_at", time()),
            ("user_id", nullable("string")),
            ("action", string()),
            ("resource_type", string()),
            ("resource_id", string()),
            ("request_id", any()),
            ("details", any()),
        ]),
        "PromptInstance": optional(
            &[
                ("template_id", nullable("string")),
                ("language", nullable("string")),
                ("parameters", of("object")),
                ("prompt_text", json!({"type": ["string", "null"], "maxLength": 20000})),
                ("custom_instructions", json!({"type": ["string", "null"], "maxLength": 20000})),
            ],
            &[],
        ),
        "CreateTask": optional(
            &[
                ("audio_files", json!({"type": "array", "minItems": 1, "maxItems": 20, "items": {"anyOf": [
                    {"type": "string"},
                    {"type": "object", "required": ["file_path"], "properties": {"file_path": {"type": "string"}, "speaker_id": {"type": "string"}}},
                ]}})),
                ("file_order", array(json!({"type": "integer", "minimum": 0}))),
                ("meeting_type", json!({"type": "string", "minLength": 1, "maxLength": 64})),
                ("asr_language", one_of(&ASR_LANGUAGES)),
                ("output_language", one_of(&OUTPUT_LANGUAGES)),
                ("prompt_instance", schema_ref("PromptInstance")),
                ("skip_speaker_recognition", of("boolean")),
                ("name", json!({"type": "string", "minLength": 1, "maxLength": 255})),
                ("meeting_date", string()),
                ("meeting_time", string()),
                ("hotword_set_id", string()),
            ],
            &["audio_files", "meeting_type"],
        ),
    })
}
