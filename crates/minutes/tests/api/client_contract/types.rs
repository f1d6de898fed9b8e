//! The frontend's reads of each answer (`types/frontend-types.ts` and the stores that parse
//! them, contract §3): every field a page reads is checked with the type its code needs.
use serde_json::Value;

use super::shape::{
    array, at, boolean, describe, number, object, opt_boolean, opt_number, opt_string,
    opt_timestamp, string, string_array, timestamp, truthy,
};

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
    for (i, item) in items.iter().enumerate() {
        task_list_item(call, item, &format!("{prefix}[{i}]"));
    }
    items.clone()
}

/// `normalizeTask` plus the raw reads of TaskList, Home and FileSidebar (§3.3).
fn task_list_item(call: &str, item: &Value, p: &str) {
    match at(item, "task_id") {
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
    match at(item, "folder_id") {
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

/// R1 (§3.7): the items the Workspace shows, in its flattening order, each checked.
pub fn artifact_list(call: &str, body: &Value, task_id: &str) -> Vec<Value> {
    let by_type = object(call, body, "artifacts_by_type");
    let mut items = Vec::new();
    for (ty, list) in by_type {
        if list.is_null() {
            continue;
        }
        for (i, item) in array(call, body, &format!("artifacts_by_type.{ty}"))
            .iter()
            .enumerate()
        {
            let p = format!("artifacts_by_type.{ty}[{i}]");
            string(call, body, &format!("{p}.artifact_id"));
            if let Some(id) = opt_string(call, body, &format!("{p}.task_id")) {
                assert_eq!(
                    id, task_id,
                    "{call}: `{p}.task_id` differs from the route id: the Workspace hides it"
                );
            }
            let artifact_type = string(call, body, &format!("{p}.artifact_type"));
            assert_eq!(
                artifact_type, ty,
                "{call}: `{p}.artifact_type` is not its group's key"
            );
            let version = number(call, body, &format!("{p}.version"));
            assert!(
                version >= 1.0 && version.fract() == 0.0,
                "{call}: `{p}.version` is {version}, the tab label needs a positive integer"
            );
            for key in ["display_name", "name", "state"] {
                // `.trim()` on a non-string truthy value crashes the Workspace render.
                opt_string(call, body, &format!("{p}.{key}"));
            }
            timestamp(call, body, &format!("{p}.created_at"));
            object(call, body, &format!("{p}.prompt_instance"));
            opt_string(call, body, &format!("{p}.prompt_instance.template_id"));
            opt_string(call, body, &format!("{p}.prompt_instance.prompt_text"));
            if let Some(meta) = at(item, "metadata").filter(|m| !m.is_null()) {
                assert!(
                    meta.is_object(),
                    "{call}: `{p}.metadata` is {}, the prompt prefill reads metadata.prompt",
                    describe(Some(meta))
                );
            }
            items.push(item.clone());
        }
    }
    items
}

/// The tab label's name part: `display_name?.trim() || name?.trim()` (`Workspace.tsx:452`).
pub fn artifact_name(item: &Value) -> Option<String> {
    ["display_name", "name"].iter().find_map(|k| {
        at(item, k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    })
}

/// R2 parsed as `fetchDetail` does (`store/artifact.ts:50-85`); `None` is a blank pane.
pub fn parsed_artifact(body: &Value) -> Option<Value> {
    let artifact = body.get("artifact").unwrap_or(body);
    if let Some(md) = at(artifact, "data.content")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return Some(serde_json::json!({"content": md}));
    }
    match artifact.get("content") {
        Some(Value::String(s)) if !s.is_empty() => match serde_json::from_str::<Value>(s) {
            Ok(Value::String(md)) => Some(serde_json::json!({"content": md})),
            Ok(Value::Null) | Err(_) => None,
            Ok(other) => Some(other),
        },
        Some(Value::Object(o)) => Some(Value::Object(o.clone())),
        _ => None,
    }
}

/// The markdown the artifact pane renders (`resolveMarkdown`, `Workspace.tsx:92-111`),
/// failing where it would be blank, a status text, or contain `[object Object]`.
pub fn artifact_markdown(call: &str, body: &Value) -> String {
    let parsed = parsed_artifact(body).unwrap_or_else(|| {
        panic!(
            "{call}: the pane is blank — no `artifact.data.content` markdown and \
             `artifact.content` is {} (a string must JSON.parse into an object or a string)",
            describe(body.get("artifact").unwrap_or(body).get("content"))
        )
    });
    let obj = match &parsed {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    assert!(
        obj.as_object().is_some_and(|o| !o.is_empty()),
        "{call}: the parsed content is {}, the pane is blank",
        describe(Some(&obj))
    );
    if let Some(status) = obj.get("status").and_then(Value::as_str) {
        panic!("{call}: the parsed content has a string `status` ({status:?}): the pane shows a status line instead of the document");
    }
    for key in ["content", "markdown"] {
        if let Some(md) = obj.get(key).and_then(Value::as_str).map(str::trim) {
            if !md.is_empty() {
                return md.to_string();
            }
        }
    }
    let structured = ["summary", "title", "key_points", "action_items"]
        .iter()
        .any(|k| truthy(obj.get(*k)));
    assert!(
        structured,
        "{call}: the parsed content has no `content`/`markdown` string and no minutes keys: \
         the pane is blank: {}",
        describe(Some(&obj))
    );
    for key in ["title", "summary"] {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null() && !v.is_string()) {
            panic!(
                "{call}: artifact.content.{key} is {}, String() renders it as [object Object]",
                describe(Some(v))
            );
        }
    }
    for key in ["key_points", "action_items"] {
        if let Some(Value::Array(list)) = obj.get(key) {
            if let Some((i, item)) = list.iter().enumerate().find(|(_, v)| v.is_object()) {
                panic!(
                    "{call}: artifact.content.{key}[{i}] is an object, the frontend renders \
                     [object Object]: {}",
                    describe(Some(item))
                );
            }
        }
    }
    let list = |k: &str| -> Vec<String> {
        match obj.get(k) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
            Some(Value::String(s)) => s.lines().map(str::to_string).collect(),
            _ => vec![],
        }
    };
    let s = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    format!(
        "# {}\n\n{}\n\n## 关键要点\n{}\n\n## 行动项\n{}\n",
        obj.get("title").and_then(Value::as_str).unwrap_or("纪要"),
        s("summary"),
        list("key_points")
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n"),
        list("action_items")
            .iter()
            .map(|p| format!("- [ ] {p}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `MeetingMinutes` (`types/frontend-types.ts:279-287`) inside the JSON string
/// `artifact.content`, plus the markdown `content` the pane renders first.
pub fn meeting_minutes(call: &str, body: &Value) {
    let artifact = body.get("artifact").unwrap_or(body);
    let raw = string(call, artifact, "content");
    let parsed: Value = serde_json::from_str(raw).unwrap_or_else(|e| {
        panic!("{call}: artifact.content is not JSON ({e}); GeneratedArtifact.content is a JSON string the frontend JSON.parse()s")
    });
    let c = format!("{call} (artifact.content parsed)");
    object(&c, &parsed, "");
    let md = string(&c, &parsed, "content");
    assert!(
        !md.trim().is_empty(),
        "{c}: `content` is empty, the pane renders it first"
    );
    string(&c, &parsed, "title");
    string(&c, &parsed, "summary");
    string_array(&c, &parsed, "participants");
    string_array(&c, &parsed, "key_points");
    string_array(&c, &parsed, "action_items");
    timestamp(&c, &parsed, "created_at");
    opt_string(&c, &parsed, "responsible_person");
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
