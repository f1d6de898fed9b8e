//! The frontend's reads of each answer (`types/frontend-types.ts` and the stores that parse
//! them, contract §3): every field a page reads is checked with the type its code needs.
use serde_json::Value;

use super::shape::{
    array, at, boolean, describe, number, object, opt_boolean, opt_number, opt_string,
    opt_timestamp, string, string_array, timestamp, truthy,
};

pub use super::artifact_types::{artifact_list, artifact_markdown, artifact_name, meeting_minutes};

/// `TaskState` (`types/frontend-types.ts:29-40`); the workbench compares case-sensitively.
pub const TASK_STATES: [&str; 11] = [
    "pending",
    "queued",
    "running",
    "transcribing",
    "identifying",
    "correcting",
    "summarizing",
    "success",
    "failed",
    "partial_success",
    "cancelled",
];

fn state(call: &str, v: &Value, path: &str) -> String {
    let s = string(call, v, path);
    assert!(
        TASK_STATES.contains(&s),
        "{call}: `{path}` is {s:?}, not one of the frontend's lower-case TaskState values \
         (an unknown state shows PROCESSING forever)"
    );
    s.to_string()
}

/// `items[]` of T1 and S3 (or a bare array, `store/task.ts:83-89`), each item checked.
pub fn task_list(call: &str, body: &Value) -> Vec<Value> {
    let (items, prefix) = match body {
        Value::Array(items) => (items, ""),
        _ => (array(call, body, "items"), "items"),
    };
    if let Some(total) = at(body, "total") {
        assert!(
            total.is_number() || total.is_null(),
            "{call}: `total` is {}, the trash counter needs a number",
            describe(Some(total))
        );
    }
    for i in 0..items.len() {
        task_list_item(call, body, &format!("{prefix}[{i}]"));
    }
    items.clone()
}

/// `normalizeTask` plus the raw reads of TaskList, Home and FileSidebar (§3.3), of the item
/// at `p` below `item`.
fn task_list_item(call: &str, item: &Value, p: &str) {
    match at(item, &format!("{p}.task_id")) {
        Some(Value::String(s)) if !s.is_empty() => {}
        other => panic!(
            "{call}: `{p}.task_id` is {}, the list needs a non-empty string (keys, navigation)",
            describe(other)
        ),
    }
    state(call, item, &format!("{p}.state"));
    timestamp(call, item, &format!("{p}.created_at"));
    string(call, item, &format!("{p}.meeting_type"));
    for key in ["display_name", "name", "folder_path"] {
        opt_string(call, item, &format!("{p}.{key}"));
    }
    match at(item, &format!("{p}.folder_id")) {
        None | Some(Value::Null) | Some(Value::String(_)) | Some(Value::Number(_)) => {}
        other => panic!(
            "{call}: `{p}.folder_id` is {}, the folder filter needs a string or null",
            describe(other)
        ),
    }
    opt_number(call, item, &format!("{p}.duration"));
    for key in ["updated_at", "completed_at", "last_content_modified_at"] {
        opt_timestamp(call, item, &format!("{p}.{key}"));
    }
}

/// The frontend's normalised `folder_id` of a list item (`store/task.ts:29-36`).
pub fn folder_of(item: &Value) -> Option<String> {
    let raw = match at(item, "folder_id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    raw.filter(|s| !s.trim().is_empty())
}

/// The list label: `display_name || name || title` (`store/task.ts:47`).
pub fn task_label(item: &Value) -> Option<String> {
    ["display_name", "name", "title"]
        .iter()
        .find_map(|k| at(item, k).and_then(Value::as_str).map(str::to_string))
}

/// T4 as Workspace and TaskWorkbench read it (§3.4).
pub fn task_detail(call: &str, d: &Value) {
    string(call, d, "task_id");
    string(call, d, "user_id");
    string(call, d, "meeting_type");
    string(call, d, "output_language");
    state(call, d, "state");
    timestamp(call, d, "created_at");
    opt_timestamp(call, d, "completed_at");
    opt_string(call, d, "folder_path");
    opt_string(call, d, "folder_id");
    if truthy(at(d, "asr_language")) {
        // `currentTask.asr_language.split('+')` during render (Workspace.tsx:569).
        string(call, d, "asr_language");
    }
    for (i, f) in array(call, d, "audio_files").iter().enumerate() {
        assert!(
            f.is_string(),
            "{call}: `audio_files[{i}]` is {}, the player builds its URL from a string",
            describe(Some(f))
        );
    }
    match at(d, "audio_duration").or_else(|| at(d, "duration")) {
        None | Some(Value::Null) | Some(Value::Number(_)) => {}
        Some(Value::String(s)) if s.parse::<f64>().is_ok() => {}
        other => panic!(
            "{call}: `audio_duration` is {}, the ETA needs a number",
            describe(other)
        ),
    }
}

/// T5 (§3.5); returns the state.
pub fn task_status(call: &str, s: &Value) -> String {
    let st = state(call, s, "state");
    let progress = number(call, s, "progress");
    assert!(
        (0.0..=100.0).contains(&progress),
        "{call}: `progress` is {progress}, the progress bar needs 0–100"
    );
    opt_number(call, s, "estimated_time");
    match at(s, "audio_duration") {
        None | Some(Value::Null) | Some(Value::Number(_)) => {}
        Some(Value::String(v)) if v.parse::<f64>().is_ok() => {}
        other => panic!(
            "{call}: `audio_duration` is {}, the ETA needs a number",
            describe(other)
        ),
    }
    for key in [
        "asr_language",
        "error_code",
        "error_message",
        "error_details",
    ] {
        opt_string(call, s, key);
    }
    opt_boolean(call, s, "retryable");
    opt_timestamp(call, s, "updated_at");
    st
}

/// A transcript paragraph as the Workspace holds it after `fetchTranscript`.
#[derive(Debug, Clone, PartialEq)]
pub struct Paragraph {
    pub text: String,
    pub start_time: f64,
    pub end_time: f64,
    pub speaker: String,
}

/// T6 parsed as `store/task.ts:126-161` does: shape A (`segments`, mapped through
/// `speaker_mapping`) or shape B (`paragraphs`, used verbatim).
pub fn transcript(call: &str, t: &Value) -> Vec<Paragraph> {
    if at(t, "segments").is_some_and(Value::is_array) {
        let mapping = ["speaker_mapping", "speaker_map", "speakerMap"]
            .iter()
            .find_map(|k| at(t, k).filter(|v| !v.is_null()));
        if let Some(m) = mapping {
            assert!(
                m.is_object(),
                "{call}: `speaker_mapping` is {}, the frontend reads it as label → name",
                describe(Some(m))
            );
        }
        return array(call, t, "segments")
            .iter()
            .enumerate()
            .map(|(i, _)| {
                let p = format!("segments[{i}]");
                let speaker = string(call, t, &format!("{p}.speaker")).to_string();
                let shown = mapping
                    .and_then(|m| m.get(&speaker))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or(speaker);
                Paragraph {
                    text: string(call, t, &format!("{p}.text")).to_string(),
                    start_time: number(call, t, &format!("{p}.start_time")),
                    end_time: number(call, t, &format!("{p}.end_time")),
                    speaker: shown,
                }
            })
            .collect();
    }
    let paragraphs = match at(t, "paragraphs") {
        Some(Value::Array(p)) => p,
        other => panic!(
            "{call}: neither `segments` nor `paragraphs` is an array ({}): the Workspace \
             crashes in cloneParagraphs(undefined)",
            describe(other)
        ),
    };
    let mut ids = std::collections::HashSet::new();
    paragraphs
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let p = format!("paragraphs[{i}]");
            let id = string(call, t, &format!("{p}.paragraph_id"));
            assert!(
                ids.insert(id.to_string()),
                "{call}: `{p}.paragraph_id` {id:?} repeats: one edit changes every such paragraph"
            );
            Paragraph {
                text: string(call, t, &format!("{p}.text")).to_string(),
                start_time: number(call, t, &format!("{p}.start_time")),
                end_time: number(call, t, &format!("{p}.end_time")),
                speaker: string(call, t, &format!("{p}.speaker")).to_string(),
            }
        })
        .collect()
}

/// `PromptTemplate` (§3.11) at `path`.
pub fn template(call: &str, v: &Value, p: &str) {
    string(call, v, &format!("{p}.template_id"));
    string(call, v, &format!("{p}.title"));
    string(call, v, &format!("{p}.description"));
    string(call, v, &format!("{p}.prompt_body"));
    string(call, v, &format!("{p}.artifact_type"));
    boolean(call, v, &format!("{p}.is_system"));
    let scope = string(call, v, &format!("{p}.scope"));
    assert!(
        scope == "global" || scope == "private",
        "{call}: `{p}.scope` is {scope:?}; the selector filters on 'global' and 'private'"
    );
    string_array(call, v, &format!("{p}.supported_languages"));
    object(call, v, &format!("{p}.parameter_schema"));
    timestamp(call, v, &format!("{p}.created_at"));
}

/// F1 (§3.12): `(id, name)` of each folder; ids must be strings or the folder vanishes.
pub fn folders(call: &str, body: &Value) -> Vec<(String, String)> {
    let (items, prefix) = match body {
        Value::Array(items) => (items, ""),
        _ => (array(call, body, "items"), "items"),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let p = format!("{prefix}[{i}]");
            let id = match f.get("folder_id").filter(|v| !v.is_null()).or(f.get("id")) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                other => panic!(
                    "{call}: `{p}.folder_id` is {}, the sidebar keeps only string ids",
                    describe(other)
                ),
            };
            let name = string(call, body, &format!("{p}.name")).to_string();
            opt_string(call, body, &format!("{p}.parent_id"));
            (id, name)
        })
        .collect()
}

/// B1 (§3.13): `items[]` of `{id, type, amount, created_at, remark?}`.
pub fn billing(call: &str, body: &Value) -> Vec<Value> {
    let items = array(call, body, "items");
    for i in 0..items.len() {
        let p = format!("items[{i}]");
        string(call, body, &format!("{p}.id"));
        number(call, body, &format!("{p}.amount"));
        let ty = string(call, body, &format!("{p}.type"));
        assert!(
            ty == "consumption" || ty == "recharge",
            "{call}: `{p}.type` is {ty:?}, the page knows 'consumption' and 'recharge'"
        );
        string(call, body, &format!("{p}.created_at"));
        opt_string(call, body, &format!("{p}.remark"));
    }
    items.clone()
}
