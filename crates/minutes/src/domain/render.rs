//! Human-readable renderings: Markdown for every artifact type, SRT/WebVTT subtitles.
use std::collections::HashMap;

use serde_json::Value;

use super::artifact::{ActionItem, ActionItems, ArtifactType, MeetingMinutes, SummaryNotes};
use super::transcript::Segment;

/// Markdown view of meeting minutes (used by `minutes run` and exports).
pub fn minutes_markdown(m: &MeetingMinutes) -> String {
    let mut out = format!("# {}\n\n", m.title);
    if let Some(date) = &m.date {
        out.push_str(&format!("*{date}*\n\n"));
    }
    if !m.participants.is_empty() {
        out.push_str(&format!(
            "**Participants:** {}\n\n",
            m.participants.join(", ")
        ));
    }
    out.push_str(&format!("## Summary\n\n{}\n\n", m.summary));
    let list = |title: &str, items: Vec<String>| {
        if items.is_empty() {
            String::new()
        } else {
            let body: String = items.iter().map(|i| format!("- {i}\n")).collect();
            format!("## {title}\n\n{body}\n")
        }
    };
    out.push_str(&list("Key points", m.key_points.clone()));
    out.push_str(&list(
        "Decisions",
        m.decisions.iter().map(|d| d.text.clone()).collect(),
    ));
    out.push_str(&list(
        "Action items",
        m.action_items.iter().map(action_line).collect(),
    ));
    out.push_str(&list("Risks", m.risks.clone()));
    out.push_str(&list("Open questions", m.open_questions.clone()));
    out.trim_end().to_string() + "\n"
}

/// One action item as a line: `task — owner (due …)`.
pub fn action_line(a: &ActionItem) -> String {
    let owner = a.owner.as_deref().unwrap_or("unassigned");
    match &a.due {
        Some(due) => format!("{} — {owner} (due {due})", a.task),
        None => format!("{} — {owner}", a.task),
    }
}

/// Markdown for any artifact's content (as shown: names re-rendered, watermark included);
/// `None` if the content does not have the type's shape. A hand-edited version is Markdown
/// already (`{"markdown": …}`).
pub fn artifact_markdown(artifact_type: ArtifactType, content: &Value) -> Option<String> {
    let mut out = match artifact_type {
        _ if content.get("markdown").is_some() => content["markdown"].as_str()?.to_string(),
        ArtifactType::MeetingMinutes => {
            minutes_markdown(&serde_json::from_value(content.clone()).ok()?)
        }
        ArtifactType::ActionItems => {
            let items: ActionItems = serde_json::from_value(content.clone()).ok()?;
            let body: String = items
                .items
                .iter()
                .map(|a| format!("- [ ] {}\n", action_line(a)))
                .collect();
            format!("# Action items\n\n{body}")
        }
        ArtifactType::SummaryNotes => {
            let n: SummaryNotes = serde_json::from_value(content.clone()).ok()?;
            let mut out = format!("# {}\n\n{}\n", n.title, n.summary);
            for s in &n.sections {
                out.push_str(&format!("\n## {}\n\n", s.heading));
                s.bullets
                    .iter()
                    .for_each(|b| out.push_str(&format!("- {b}\n")));
            }
            out
        }
    };
    if let Some(watermark) = content.get("watermark").and_then(Value::as_str) {
        out.push_str(&format!("\n---\n\n*{watermark}*\n"));
    }
    Some(out)
}

/// Subtitles from segments, speakers shown by their current names.
pub fn subtitles(segments: &[Segment], names: &HashMap<String, String>, vtt: bool) -> String {
    let stamp = |t: f64| {
        let ms = (t.max(0.0) * 1000.0).round() as u64;
        let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        if vtt {
            format!("{h:02}:{m:02}:{s:02}.{ms:03}")
        } else {
            format!("{h:02}:{m:02}:{s:02},{ms:03}")
        }
    };
    let mut out = if vtt {
        String::from("WEBVTT\n\n")
    } else {
        String::new()
    };
    for (i, s) in segments.iter().enumerate() {
        let speaker = names.get(&s.speaker).unwrap_or(&s.speaker);
        if !vtt {
            out.push_str(&format!("{}\n", i + 1));
        }
        out.push_str(&format!(
            "{} --> {}\n{speaker}: {}\n\n",
            stamp(s.start_time),
            stamp(s.end_time),
            s.text
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subtitles_use_names_and_the_right_time_format() {
        let seg = Segment {
            id: "seg_0001".into(),
            start_time: 3661.5,
            end_time: 3662.25,
            speaker: "S1".into(),
            text: "hello".into(),
            confidence: None,
            part_index: None,
            part_time: None,
        };
        let names = HashMap::from([("S1".to_string(), "Priya".to_string())]);
        assert_eq!(
            subtitles(std::slice::from_ref(&seg), &names, false),
            "1\n01:01:01,500 --> 01:01:02,250\nPriya: hello\n\n"
        );
        assert!(subtitles(&[seg], &names, true)
            .starts_with("WEBVTT\n\n01:01:01.500 --> 01:01:02.250\nPriya: hello"));
    }

    #[test]
    fn every_type_renders_and_the_watermark_is_kept() {
        let notes = json!({"title": "T", "summary": "S", "sections": [{"heading": "H", "bullets": ["b"]}],
                           "watermark": "Confirmed by 陈静"});
        let md = artifact_markdown(ArtifactType::SummaryNotes, &notes).unwrap();
        assert!(
            md.contains("# T")
                && md.contains("## H")
                && md.contains("- b")
                && md.contains("Confirmed by 陈静")
        );
        let items =
            json!({"items": [{"owner": null, "task": "Fix", "due": "Fri", "segment_ids": []}]});
        assert!(artifact_markdown(ArtifactType::ActionItems, &items)
            .unwrap()
            .contains("- [ ] Fix — unassigned (due Fri)"));
        assert!(artifact_markdown(ArtifactType::MeetingMinutes, &json!({"nope": 1})).is_none());
        let edited = json!({"markdown": "# Edited\n\nby hand", "watermark": "Confirmed"});
        let md = artifact_markdown(ArtifactType::ActionItems, &edited).unwrap();
        assert!(md.starts_with("# Edited\n\nby hand") && md.contains("*Confirmed*"));
    }
}
