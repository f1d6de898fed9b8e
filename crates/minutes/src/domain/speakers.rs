//! Speaker names: renames are a new mapping version, and artifact views are re-rendered from the
//! names they were generated with to the current ones, without calling a model.
use serde_json::{Map, Value};

/// label → display name of a stored mapping (`{label: {name, …}}`).
pub fn names(mapping: &Value) -> Vec<(String, String)> {
    mapping
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(label, v)| {
                    (
                        label.clone(),
                        v["name"].as_str().unwrap_or(label).to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The label a client's speaker value means: a label itself, or the label currently shown
/// under that name (clients show and send names, not labels).
pub fn label_for(mapping: &Value, value: &str) -> Option<String> {
    let value = value.trim();
    if mapping.get(value).is_some() {
        return Some(value.to_string());
    }
    names(mapping)
        .into_iter()
        .find(|(_, name)| name == value)
        .map(|(label, _)| label)
}

/// (old name, new name) pairs for labels whose name changed between two mappings.
pub fn renames(generated_with: &Value, current: &Value) -> Vec<(String, String)> {
    let now = names(current);
    let mut pairs: Vec<(String, String)> = names(generated_with)
        .into_iter()
        .filter_map(|(label, old)| {
            let new = now
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, n)| n.clone())?;
            (new != old).then_some((old, new))
        })
        .collect();
    // Longer names first, so "Li Na" is handled before a shorter name it contains.
    pairs.sort_by_key(|(old, _)| std::cmp::Reverse(old.chars().count()));
    pairs
}

/// Replaces whole-name occurrences in every string of `content`. Latin names match on word
/// boundaries ("Li" does not touch "Liam"); CJK names match anywhere, as CJK text has no spaces.
pub fn rename_in_content(content: &Value, renames: &[(String, String)]) -> Value {
    if renames.is_empty() {
        return content.clone();
    }
    match content {
        Value::String(s) => Value::String(rename_in_text(s, renames)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| rename_in_content(v, renames))
                .collect(),
        ),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                // Citations and ids are references, never names.
                let v = if k == "segment_ids" {
                    v.clone()
                } else {
                    rename_in_content(v, renames)
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn rename_in_text(text: &str, renames: &[(String, String)]) -> String {
    let mut text = text.to_string();
    for (old, new) in renames {
        text = replace_name(&text, old, new);
    }
    text
}

fn replace_name(text: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        return text.to_string();
    }
    let is_word = |c: char| c.is_alphanumeric() && c.is_ascii();
    let boundary_needed =
        old.chars().next().is_some_and(is_word) || old.chars().last().is_some_and(is_word);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(old) {
        let before = rest[..pos].chars().last();
        let after = rest[pos + old.len()..].chars().next();
        let whole =
            !boundary_needed || (!before.is_some_and(is_word) && !after.is_some_and(is_word));
        out.push_str(&rest[..pos]);
        out.push_str(if whole { new } else { old });
        rest = &rest[pos + old.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renames_follow_labels_and_touch_only_whole_names() {
        let then =
            json!({"S1": {"name": "Speaker 1"}, "S2": {"name": "Li"}, "S3": {"name": "张伟"}});
        let now = json!({"S1": {"name": "Priya Sharma"}, "S2": {"name": "Li Na"}, "S3": {"name": "张伟"}});
        let pairs = renames(&then, &now);
        assert_eq!(pairs.len(), 2);
        let content = json!({
            "participants": ["Speaker 1", "Li", "张伟"],
            "summary": "Speaker 1 asked Liam; Li agreed. Speaker 12 was absent.",
            "action_items": [{"owner": "Li", "task": "x", "segment_ids": ["Li"]}]
        });
        let out = rename_in_content(&content, &pairs);
        assert_eq!(
            out["participants"],
            json!(["Priya Sharma", "Li Na", "张伟"])
        );
        assert_eq!(
            out["summary"],
            "Priya Sharma asked Liam; Li Na agreed. Speaker 12 was absent."
        );
        assert_eq!(out["action_items"][0]["owner"], "Li Na");
        assert_eq!(out["action_items"][0]["segment_ids"], json!(["Li"]));
    }

    #[test]
    fn cjk_names_are_replaced_inside_running_text() {
        let pairs = vec![("说话人2".to_string(), "李娜".to_string())];
        assert_eq!(
            rename_in_text("会上说话人2提出扩容。", &pairs),
            "会上李娜提出扩容。"
        );
    }
}
