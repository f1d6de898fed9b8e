//! The frontend's reads of artifact answers: the R1 list (§3.7) and R2's content resolution
//! and rendering (§3.8, `store/artifact.ts` and `resolveMarkdown`), with `MeetingMinutes` types.
use serde_json::Value;

use super::shape::{
    array, at, describe, number, object, opt_string, string, string_array, timestamp, truthy,
};

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
