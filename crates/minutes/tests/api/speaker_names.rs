//! Speakers as the original frontend handles them: it shows and sends names, never labels. The
//! transcript shows the current names; a whole-list save renames; renames by shown name chain.
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

async fn transcript(t: &TestApp, token: &str, task_id: &str) -> Value {
    let (code, body) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), token)
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    body
}

/// The body the workspace saves: every segment, no ids, the names it shows.
fn workspace_save(segments: &[Value]) -> Value {
    let lines: Vec<String> = segments
        .iter()
        .map(|s| {
            format!(
                "[{}] {}",
                s["speaker"].as_str().unwrap(),
                s["text"].as_str().unwrap()
            )
        })
        .collect();
    let segs: Vec<Value> = segments
        .iter()
        .map(|s| json!({"text": s["text"], "start_time": s["start_time"], "end_time": s["end_time"], "speaker": s["speaker"]}))
        .collect();
    json!({"corrected_text": lines.join("\n"), "segments": segs, "regenerate_artifacts": false})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_renames_and_corrects_by_saving_the_whole_list() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("wsave").await;
    let before = transcript(&t, &token, &task_id).await;
    let mut segs = before["segments"].as_array().unwrap().clone();
    assert!(segs.len() >= 2, "{before}");
    let renamed = segs[0]["speaker"].as_str().unwrap().to_string();
    for s in segs.iter_mut() {
        if s["speaker"] == renamed.as_str() {
            s["speaker"] = json!("Ada");
        }
    }
    segs[1]["text"] = json!("改过的一句话");
    let url = format!("/api/v1/tasks/{task_id}/transcript");
    let (code, saved) = t
        .send_json(Method::PUT, &url, &token, &workspace_save(&segs))
        .await;
    assert_eq!(code, StatusCode::OK, "{saved}");
    // The frontend then sends the rename it recorded; already applied, it changes nothing.
    let speakers = format!("/api/v1/tasks/{task_id}/speakers");
    let patch = json!({"speaker_mapping": {renamed.clone(): "Ada"}, "segments": [], "regenerate_artifacts": false});
    let (code, body) = t.send_json(Method::PATCH, &speakers, &token, &patch).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let after = transcript(&t, &token, &task_id).await;
    let out = after["segments"].as_array().unwrap();
    assert_eq!(out.len(), segs.len());
    for (i, s) in out.iter().enumerate() {
        assert_eq!(
            s["id"], before["segments"][i]["id"],
            "ids are kept by position"
        );
        assert_eq!(s["speaker"], segs[i]["speaker"], "segment {i}");
        assert_eq!(
            s["speaker_label"], before["segments"][i]["speaker_label"],
            "labels stay"
        );
    }
    assert_eq!(out[1]["text"], "改过的一句话");
    assert_eq!(
        after["speaker_mapping"][before["segments"][0]["speaker_label"].as_str().unwrap()],
        "Ada"
    );
    // Saving the same again (the frontend does after every save) makes no revision.
    let (code, again) = t
        .send_json(Method::PUT, &url, &token, &workspace_save(out))
        .await;
    assert_eq!(code, StatusCode::OK, "{again}");
    assert_eq!(again["revision"], after["revision"]);
    // Segments without times, or a mix of ids and none, are refused with the field named.
    let mut bad = workspace_save(out);
    bad["segments"][0]["start_time"] = json!(9.0);
    bad["segments"][0]["end_time"] = json!(1.0);
    let (code, err) = t.send_json(Method::PUT, &url, &token, &bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["errors"][0]["loc"][1], "segments");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_take_labels_or_shown_names_and_chain() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("rnm").await;
    let url = format!("/api/v1/tasks/{task_id}/speakers");
    let rename = |map: Value| json!({"speaker_mapping": map, "regenerate_artifacts": false});
    let (code, body) = t
        .send_json(
            Method::PATCH,
            &url,
            &token,
            &rename(json!({"Speaker 1": "Ada"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let shown = |tr: &Value| -> Vec<String> {
        tr["segments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["speaker_label"] == "Speaker 1")
            .map(|s| s["speaker"].as_str().unwrap().to_string())
            .collect()
    };
    let tr = transcript(&t, &token, &task_id).await;
    assert!(
        !shown(&tr).is_empty() && shown(&tr).iter().all(|n| n == "Ada"),
        "{tr}"
    );
    // By the shown name, as the frontend sends it.
    let (code, body) = t
        .send_json(Method::PATCH, &url, &token, &rename(json!({"Ada": "Bob"})))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(shown(&transcript(&t, &token, &task_id).await)
        .iter()
        .all(|n| n == "Bob"));
    // The frontend's accumulated map {Ada: Bob, Bob: Cy}: the chain ends at Cy.
    let (code, body) = t
        .send_json(
            Method::PATCH,
            &url,
            &token,
            &rename(json!({"Ada": "Bob", "Bob": "Cy"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(shown(&transcript(&t, &token, &task_id).await)
        .iter()
        .all(|n| n == "Cy"));
    let version = body["speaker_mapping_version"].clone();
    let (code, body) = t
        .send_json(Method::PATCH, &url, &token, &rename(json!({"Bob": "Cy"})))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(
        body["speaker_mapping_version"], version,
        "already applied: no new version"
    );
    let (code, err) = t
        .send_json(Method::PATCH, &url, &token, &rename(json!({"Nobody": "X"})))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // Renames regenerate the artifacts by default, as in the original.
    let (code, body) = t
        .send_json(
            Method::PATCH,
            &url,
            &token,
            &json!({"speaker_mapping": {"Cy": "Dee"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["jobs"].as_array().unwrap().len(), 1, "{body}");
    t.run_jobs_until_idle().await;
}
