//! The Workspace page on a finished task (contract §2.6.1–2.6.5): mount calls, the transcript
//! editor's speaker rename and whole-transcript save (T7 then T8, no segment ids), and the
//! API's own rename by label.
use reqwest::Method;
use serde_json::{json, Value};

use super::front::Front;
use super::types::{self, Paragraph};

pub async fn transcript(front: &Front, task_id: &str, call: &str) -> Vec<Paragraph> {
    let body = front
        .get(call, &format!("/tasks/{task_id}/transcript"))
        .await
        .ok();
    types::transcript(call, &body)
}

pub async fn artifacts(front: &Front, task_id: &str, call: &str) -> Vec<Value> {
    let body = front
        .get(call, &format!("/tasks/{task_id}/artifacts"))
        .await
        .ok();
    types::artifact_list(call, &body, task_id)
}

/// T4, T6, R1, F1 and the FileSidebar's T1 as the page mounts, then R2 of the artifact it
/// opens first (`Object.values(artifacts_by_type).flat()[0]`). Returns T4.
pub async fn open(front: &Front, task_id: &str) -> Value {
    let detail = front
        .get(
            "T4 GET /tasks/{id} (Workspace)",
            &format!("/tasks/{task_id}"),
        )
        .await
        .ok();
    types::task_detail("T4 GET /tasks/{id} (Workspace)", &detail);
    let paragraphs = transcript(front, task_id, "T6 GET /tasks/{id}/transcript").await;
    assert!(
        !paragraphs.is_empty(),
        "T6 GET /tasks/{{id}}/transcript: no paragraphs for a finished meeting"
    );
    let list = artifacts(front, task_id, "R1 GET /tasks/{id}/artifacts").await;
    let first = list
        .first()
        .unwrap_or_else(|| panic!("R1 GET /tasks/{{id}}/artifacts: no artifact, no tab"));
    let folders = front.get("F1 GET /folders", "/folders").await.ok();
    types::folders("F1 GET /folders", &folders);
    let call = "T1 GET /tasks (FileSidebar)";
    let sidebar = front.get(call, "/tasks?limit=100&offset=0").await.ok();
    let items = types::task_list(call, &sidebar);
    let row = items
        .iter()
        .find(|t| t["task_id"] == task_id)
        .unwrap_or_else(|| panic!("{call}: the task is not listed"));
    let duration = row.get("duration").and_then(Value::as_f64);
    assert!(
        duration.is_some_and(|d| d > 0.0),
        "{call}: `duration` is {:?}; the task list's duration column reads `duration` \
         (seconds), else it shows --:--",
        row.get("duration")
    );
    let id = first["artifact_id"].as_str().unwrap();
    let call = "R2 GET /artifacts/{id} (first tab)";
    let detail_body = front.get(call, &format!("/artifacts/{id}")).await.ok();
    types::artifact_markdown(call, &detail_body);
    if first["artifact_type"] == "meeting_minutes" {
        types::meeting_minutes(call, &detail_body);
    }
    detail
}

fn corrected_text(paragraphs: &[Paragraph]) -> String {
    paragraphs
        .iter()
        .map(|p| format!("[{}] {}", p.speaker, p.text))
        .collect::<Vec<_>>()
        .join("\n")
}

fn segments(paragraphs: &[Paragraph]) -> Value {
    Value::Array(
        paragraphs
            .iter()
            .map(|p| {
                json!({"text": p.text, "start_time": p.start_time, "end_time": p.end_time,
                       "speaker": p.speaker})
            })
            .collect(),
    )
}

/// `saveTranscript` (`Workspace.tsx:743-766`): T7, then T8 when a global rename happened.
async fn save(front: &Front, task_id: &str, paragraphs: &[Paragraph], map: Option<&Value>) {
    front
        .send(
            "T7 PUT /tasks/{id}/transcript",
            Method::PUT,
            &format!("/tasks/{task_id}/transcript"),
            Some(json!({"corrected_text": corrected_text(paragraphs),
                        "segments": segments(paragraphs), "regenerate_artifacts": false})),
        )
        .await
        .ok();
    if let Some(map) = map {
        front
            .send(
                "T8 PATCH /tasks/{id}/speakers",
                Method::PATCH,
                &format!("/tasks/{task_id}/speakers"),
                Some(
                    json!({"speaker_mapping": map, "segments": segments(paragraphs),
                            "regenerate_artifacts": false}),
                ),
            )
            .await
            .ok();
    }
}

fn assert_same(call: &str, got: &[Paragraph], want: &[Paragraph]) {
    assert_eq!(
        got.len(),
        want.len(),
        "{call}: {} paragraphs after saving {}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            (&g.speaker, &g.text),
            (&w.speaker, &w.text),
            "{call}: paragraph {i} is not what the editor saved"
        );
        assert!(
            (g.start_time - w.start_time).abs() < 0.01 && (g.end_time - w.end_time).abs() < 0.01,
            "{call}: paragraph {i} moved: {g:?} vs {w:?}"
        );
    }
}

/// "应用到该说话人的所有段落" renames the first paragraph's speaker to Ada; returns the old
/// displayed name (the key of the accumulated `speakerMap`).
pub async fn rename_speaker(front: &Front, task_id: &str) -> String {
    let before = transcript(front, task_id, "T6 before the rename").await;
    let old = before[0].speaker.clone();
    let renamed: Vec<Paragraph> = before
        .iter()
        .map(|p| Paragraph {
            speaker: if p.speaker == old {
                "Ada".into()
            } else {
                p.speaker.clone()
            },
            ..p.clone()
        })
        .collect();
    save(
        front,
        task_id,
        &renamed,
        Some(&json!({ old.clone(): "Ada" })),
    )
    .await;
    let after = transcript(front, task_id, "T6 after T7 + T8 (speaker rename)").await;
    assert_same("T6 after T7 + T8 (speaker rename)", &after, &renamed);
    old
}

/// An edit of one paragraph's text, saved whole as the editor does (T7 and, since a global
/// rename happened on this page, T8 again with the same map).
pub async fn edit_text(front: &Front, task_id: &str, renamed_from: &str) {
    let mut paragraphs = transcript(front, task_id, "T6 before the text edit").await;
    let last = paragraphs.len() - 1;
    paragraphs[last].text = format!("{} (corrected in the workspace)", paragraphs[last].text);
    save(
        front,
        task_id,
        &paragraphs,
        Some(&json!({ renamed_from: "Ada" })),
    )
    .await;
    let after = transcript(front, task_id, "T6 after the whole-transcript save").await;
    assert_same("T6 after the whole-transcript save", &after, &paragraphs);
}

/// The API's way (`PATCH /speakers {speaker_mapping}` only), then renaming the renamed one:
/// the client keys the map by the displayed name.
pub async fn rename_by_label(front: &Front, task_id: &str) {
    let before = transcript(front, task_id, "T6 before PATCH /speakers").await;
    let label = before[0].speaker.clone();
    for (from, to) in [(label.as_str(), "Ada"), ("Ada", "Bob")] {
        let call = format!("T8 PATCH /tasks/{{id}}/speakers {{{from:?}: {to:?}}}");
        front
            .send(
                &call,
                Method::PATCH,
                &format!("/tasks/{task_id}/speakers"),
                Some(json!({"speaker_mapping": {from: to}})),
            )
            .await
            .ok();
        let after = transcript(front, task_id, &format!("T6 after {call}")).await;
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            let want = if b.speaker == label {
                to
            } else {
                b.speaker.as_str()
            };
            assert_eq!(
                a.speaker, want,
                "T6 after {call}: segments[{i}].speaker (the frontend renders seg.speaker)"
            );
        }
    }
}
