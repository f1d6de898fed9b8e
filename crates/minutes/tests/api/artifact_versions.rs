//! The original frontend's artifact workflow in-process: asynchronous generation polled through
//! `/artifacts/{id}/status`, named versions, hand edits as new versions (one per edit session),
//! renames and soft deletes, and confirmed versions that stay as they were.
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use minutes::providers::ProviderError;

use crate::helpers::TestApp;

async fn versions(t: &TestApp, token: &str, task_id: &str) -> Vec<Value> {
    let (code, list) = t
        .get(&format!("/api/v1/tasks/{task_id}/artifacts"), token)
        .await;
    assert_eq!(code, StatusCode::OK, "{list}");
    list["artifacts_by_type"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| v.as_array().unwrap().clone())
        .collect()
}

/// The Markdown the original frontend renders: `content` parsed, then its `content` string.
async fn rendered(t: &TestApp, token: &str, artifact_id: &str) -> String {
    let (code, detail) = t
        .get(&format!("/api/v1/artifacts/{artifact_id}"), token)
        .await;
    assert_eq!(code, StatusCode::OK, "{detail}");
    let parsed: Value = serde_json::from_str(detail["artifact"]["content"].as_str().unwrap())
        .expect("content is a JSON string");
    parsed["content"]
        .as_str()
        .expect("markdown under content")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_answers_at_once_and_its_status_follows_the_job() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("asyncgen").await;
    let url = format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/generate");
    let body = json!({"name": "v2 纪要", "prompt_instance": {"template_id": "tpl_standard_minutes",
        "language": "zh-CN", "prompt_text": "只写决议", "parameters": {"meeting_description": ""}}});
    let (code, started) = t.post_json(&url, &token, &body).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["state"], "processing");
    assert_eq!(started["display_name"], "v2 纪要");
    let id = started["artifact_id"].as_str().unwrap().to_string();
    let status = format!("/api/v1/artifacts/{id}/status");
    let (code, s) = t.get(&status, &token).await;
    assert_eq!(
        (code, s["state"].as_str()),
        (StatusCode::OK, Some("processing")),
        "{s}"
    );
    // Nobody else can read it, before or after.
    let other = t.login("asyncgen_other").await;
    assert_eq!(t.get(&status, &other).await.0, StatusCode::NOT_FOUND);
    t.run_jobs_until_idle().await;
    let (_, s) = t.get(&status, &token).await;
    assert_eq!(s["state"], "success", "{s}");
    assert_eq!(s["version"], 2);
    assert_eq!(t.get(&status, &other).await.0, StatusCode::NOT_FOUND);
    let v2 = versions(&t, &token, &task_id)
        .await
        .into_iter()
        .find(|v| v["artifact_id"] == id.as_str())
        .expect("the new version is listed");
    assert_eq!(v2["display_name"], "v2 纪要");
    assert_eq!(v2["prompt_instance"]["prompt_text"], "只写决议");
    assert_eq!(v2["prompt_instance"]["template_id"], "tpl_standard_minutes");
    // The edited prompt text replaced the template's body, and the model saw the transcript.
    let prompt = t.llm.last_prompt.lock().unwrap().clone().unwrap();
    assert!(
        prompt.starts_with("只写决议") && prompt.contains("seg_0001"),
        "{prompt}"
    );

    // A generation that fails reports `failed` with its error and leaves no version.
    t.llm
        .failures
        .lock()
        .unwrap()
        .push_back(ProviderError::Rejected {
            provider: "scripted".into(),
            detail: "secret".into(),
        });
    let (_, failing) = t.post_json(&url, &token, &json!({})).await;
    let failing = failing["artifact_id"].as_str().unwrap().to_string();
    t.run_jobs_until_idle().await;
    let (_, s) = t
        .get(&format!("/api/v1/artifacts/{failing}/status"), &token)
        .await;
    assert_eq!(s["state"], "failed", "{s}");
    assert!(
        s["error"]["message"].is_string() && !s.to_string().contains("secret"),
        "{s}"
    );
    assert_eq!(versions(&t, &token, &task_id).await.len(), 2);
    let unknown = "/api/v1/artifacts/artifact_0123456789abcdef/status";
    assert_eq!(t.get(unknown, &token).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_and_placeholder_free_templates_and_other_types_generate() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("blanktpl").await;
    let (code, created) = t
        .post_json(
            "/api/v1/prompt-templates",
            &token,
            &json!({"title": "只要行动项", "prompt_body": "列出所有行动项，不要别的。",
                "artifact_type": "action_items", "description": "", "supported_languages": ["zh-CN"],
                "parameter_schema": {}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let plain = created["template_id"].as_str().unwrap();
    for (kind, template, text) in [
        ("meeting_minutes", "__blank__", Some("总结一下")),
        ("action_items", plain, None),
        // A minutes template used for another type: its text instructs, the type shapes.
        ("summary_notes", "tpl_standard_minutes", None),
    ] {
        let mut p = json!({"template_id": template, "parameters": {"meeting_description": "周会"}});
        if let Some(text) = text {
            p["prompt_text"] = json!(text);
        }
        let url = format!("/api/v1/tasks/{task_id}/artifacts/{kind}/generate?wait=30");
        let request = json!({"prompt_instance": p});
        let waiting = t.post_json(&url, &token, &request);
        let ((code, body), _) = tokio::join!(waiting, t.run_jobs_once_enqueued());
        assert_eq!(code, StatusCode::CREATED, "{kind} with {template}: {body}");
        assert_eq!(body["state"], "success");
        let prompt = t.llm.last_prompt.lock().unwrap().clone().unwrap();
        assert!(
            prompt.contains("seg_0001"),
            "the transcript was appended: {prompt}"
        );
    }
    let kinds: Vec<String> = versions(&t, &token, &task_id)
        .await
        .iter()
        .map(|v| v["artifact_type"].as_str().unwrap().to_string())
        .collect();
    for kind in ["meeting_minutes", "action_items", "summary_notes"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_with_an_action_items_template_makes_action_items() {
    let t = TestApp::new().await;
    let token = t.login("aitask").await;
    let key = t
        .upload(
            &token,
            &crate::helpers::data_file("parts/zh02_incident_review.part1.wav"),
        )
        .await;
    let (code, body) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": [{"file_path": key, "speaker_id": "x"}], "meeting_type": "周会",
                "asr_language": "zh-CN", "audio_duration": 12.5, "original_filenames": ["a.wav"],
                "prompt_instance": {"template_id": "tpl_action_items", "language": "zh-CN",
                    "prompt_text": "", "parameters": {"meeting_description": "x"}}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let task_id = body["task_id"].as_str().unwrap();
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, task_id).await["state"], "success");
    let list = versions(&t, &token, task_id).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["artifact_type"], "action_items");
    let md = rendered(&t, &token, list[0]["artifact_id"].as_str().unwrap()).await;
    assert!(md.starts_with("# Action items"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edits_are_versions_of_their_author_and_confirmed_versions_stay() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("handedit").await;
    let v1 = versions(&t, &token, &task_id).await[0]["artifact_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = rendered(&t, &token, &v1).await;
    let edit = |content: &str| {
        let body = json!({"content": content});
        let uri = format!("/api/v1/artifacts/{v1}");
        let t = &t;
        let token = token.clone();
        async move { t.send_json(Method::PUT, &uri, &token, &body).await }
    };
    // Autosave: three saves of one edit session make one new version holding the last text.
    let mut edited = String::new();
    for text in ["# 纪要\n\nh", "# 纪要\n\nhe", "# 纪要\n\nhello"] {
        let (code, saved) = edit(text).await;
        assert_eq!(code, StatusCode::OK, "{saved}");
        edited = saved["artifact_id"].as_str().unwrap().to_string();
        assert_eq!(saved["version"], 2, "{saved}");
    }
    assert_ne!(edited, v1);
    assert_eq!(rendered(&t, &token, &edited).await, "# 纪要\n\nhello");
    assert_eq!(
        rendered(&t, &token, &v1).await,
        before,
        "the edited version is unchanged"
    );
    let list = versions(&t, &token, &task_id).await;
    assert_eq!(list.len(), 2);
    let v2 = list
        .iter()
        .find(|v| v["artifact_id"] == edited.as_str())
        .unwrap();
    assert_eq!(v2["created_by"], "user_handedit");
    // Structured content is checked against the type's schema.
    let (code, _) = edit_json(&t, &token, &v1, json!({"content": {"title": 3}})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, _) = edit_json(&t, &token, &v1, json!({"content": "  "})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let other = t.login("handedit_other").await;
    assert_eq!(
        edit_json(&t, &other, &v1, json!({"content": "x"})).await.0,
        StatusCode::NOT_FOUND
    );

    // Rename, then confirm: the confirmed version cannot be deleted, and an edit of it is new.
    let rename = json!({"display_name": "  终稿 "});
    let uri = format!("/api/v1/artifacts/{edited}");
    let (code, body) = t.send_json(Method::PATCH, &uri, &token, &rename).await;
    assert_eq!(
        (code, body["display_name"].as_str()),
        (StatusCode::OK, Some("终稿")),
        "{body}"
    );
    let (code, body) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/confirm"),
            &token,
            &json!({"confirmation_items": {"key_conclusions": true, "responsible_persons": true},
                    "responsible_person": {"id": "p1", "name": "陈静"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let delete = format!("/api/v1/tasks/{task_id}/artifacts/{edited}");
    let (code, body) = t
        .request(Method::DELETE, &delete, Some(&token), Body::empty(), None)
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "artifact_confirmed");
    let (code, after) = edit_json(&t, &token, &edited, json!({"content": "# 改了"})).await;
    assert_eq!(code, StatusCode::OK, "{after}");
    assert_eq!(after["version"], 3);
    assert!(
        rendered(&t, &token, &edited).await.contains("hello"),
        "confirmed text stays"
    );
    let listed = versions(&t, &token, &task_id).await;
    let v3 = listed.iter().find(|v| v["version"] == 3).unwrap();
    assert_eq!(
        v3["display_name"], "终稿",
        "an edit keeps the version's name"
    );

    // An unconfirmed version is deleted softly: gone from lists, detail and search.
    let v3_id = v3["artifact_id"].as_str().unwrap().to_string();
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/tasks/{task_id}/artifacts/{v3_id}"),
            Some(&token),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(versions(&t, &token, &task_id)
        .await
        .iter()
        .all(|v| v["artifact_id"] != v3_id.as_str()));
    assert_eq!(
        t.get(&format!("/api/v1/artifacts/{v3_id}"), &token).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, hits) = t.get("/api/v1/search?q=%E6%94%B9%E4%BA%86", &token).await;
    assert!(
        hits["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["artifact_id"] != v3_id.as_str()),
        "{hits}"
    );
    let (_, hits) = t.get("/api/v1/search?q=hello", &token).await;
    assert!(
        hits["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["artifact_id"] == edited.as_str()),
        "the newest remaining version is searchable again: {hits}"
    );
}

async fn edit_json(t: &TestApp, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    t.send_json(
        Method::PUT,
        &format!("/api/v1/artifacts/{id}"),
        token,
        &body,
    )
    .await
}
