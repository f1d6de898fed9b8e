//! Human corrections after the pipeline: transcript revisions, speaker renames, confirmation.
use std::sync::atomic::Ordering;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, TestOptions};
use minutes::providers::ProviderError;

async fn latest_minutes(t: &TestApp, token: &str, task_id: &str) -> serde_json::Value {
    let (_, versions) = t
        .get(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/versions"),
            token,
        )
        .await;
    let id = versions["versions"][0]["artifact_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, detail) = t.get(&format!("/api/v1/artifacts/{id}"), token).await;
    assert_eq!(code, StatusCode::OK, "{detail}");
    detail["artifact"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_edits_create_revisions_mark_artifacts_stale_and_regenerate_from_the_new_text() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("ed").await;
    let (_, before) = t.get(&format!("/api/v1/tasks/{task_id}"), &token).await;

    let url = format!("/api/v1/tasks/{task_id}/transcript");
    let edit = json!({"segments": [{"id": "seg_0002", "text": "Redis 连接池耗尽，李娜负责周五前修复。"}],
                      "reason": "owner misheard"});
    let (code, saved) = t.send_json(Method::PUT, &url, &token, &edit).await;
    assert_eq!(code, StatusCode::OK, "{saved}");
    assert_eq!(saved["revision"], 2);
    assert_eq!(saved["changes"][0]["field"], "text");
    assert_eq!(saved["regenerated_artifacts"].as_array().unwrap().len(), 1);

    // Nothing was overwritten: revision 1 is still there; the latest is 2.
    let (_, r1) = t.get(&format!("{url}?revision=1"), &token).await;
    assert!(r1["segments"][1]["text"].as_str().unwrap().contains("张伟"));
    let (_, r2) = t.get(&url, &token).await;
    assert!(r2["segments"][1]["text"].as_str().unwrap().contains("李娜"));
    assert_eq!(r2["author"], "user_ed");
    assert_eq!(r2["reason"], "owner misheard");
    let (_, revisions) = t.get(&format!("{url}/revisions"), &token).await;
    assert_eq!(revisions["total"], 2);
    let (_, diff) = t.get(&format!("{url}/diff?from=1&to=2"), &token).await;
    assert_eq!(diff["changes"].as_array().unwrap().len(), 1);
    assert_eq!(diff["changes"][0]["id"], "seg_0002");
    let (_, after) = t.get(&format!("/api/v1/tasks/{task_id}"), &token).await;
    assert!(
        after["last_content_modified_at"].as_str() > before["last_content_modified_at"].as_str()
    );

    // v1 is stale until the queued regeneration runs; v2 is made from revision 2.
    assert_eq!(latest_minutes(&t, &token, &task_id).await["stale"], true);
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let v2 = latest_minutes(&t, &token, &task_id).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["stale"], false);
    assert_eq!(v2["lineage"]["transcript_revision"], 2);
    assert!(t
        .llm
        .last_prompt
        .lock()
        .unwrap()
        .as_deref()
        .unwrap()
        .contains("李娜负责"));

    // Bad edits are refused and change nothing.
    for (body, needle) in [
        (
            json!({"segments": [{"id": "seg_0099", "text": "x"}]}),
            "seg_0099",
        ),
        (
            json!({"segments": [{"id": "seg_0001", "text": "  "}]}),
            "empty",
        ),
        (
            json!({"segments": [{"id": "seg_0002", "text": "Redis 连接池耗尽，李娜负责周五前修复。"}]}),
            "nothing",
        ),
        (json!({}), "either"),
    ] {
        let (code, err) = t.send_json(Method::PUT, &url, &token, &body).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert!(err["detail"].as_str().unwrap().contains(needle), "{err}");
    }
    let (_, revisions) = t.get(&format!("{url}/revisions"), &token).await;
    assert_eq!(revisions["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_full_text_correction_is_kept_as_a_revision_and_used_for_generation() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("blob").await;
    let url = format!("/api/v1/tasks/{task_id}/transcript");
    let body = json!({"corrected_text": "整场会议的人工校对全文：订单服务故障复盘。", "regenerate_artifacts": false});
    let (code, saved) = t.send_json(Method::PUT, &url, &token, &body).await;
    assert_eq!(code, StatusCode::OK, "{saved}");
    assert_eq!(saved["jobs"], json!([]), "no regeneration was asked for");
    let (_, r2) = t.get(&url, &token).await;
    assert_eq!(
        r2["full_text"],
        "整场会议的人工校对全文：订单服务故障复盘。"
    );
    assert_eq!(
        r2["segments"].as_array().unwrap().len(),
        2,
        "segments are kept"
    );
    let (code, _) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/generate?wait=0"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    t.run_jobs_until_idle().await;
    assert!(t
        .llm
        .last_prompt
        .lock()
        .unwrap()
        .as_deref()
        .unwrap()
        .contains("人工校对全文"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renaming_speakers_rerenders_artifacts_without_calling_the_model() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("ren").await;
    let calls = t.llm.calls.load(Ordering::SeqCst);
    let url = format!("/api/v1/tasks/{task_id}/speakers");
    let (code, saved) = t
        .send_json(
            Method::PATCH,
            &url,
            &token,
            &json!({"speaker_mapping": {"Speaker 2": "王五"}, "regenerate_artifacts": false}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{saved}");
    assert_eq!(saved["speaker_mapping_version"], 2);
    assert_eq!(
        t.llm.calls.load(Ordering::SeqCst),
        calls,
        "no model call for a rename"
    );
    let minutes = latest_minutes(&t, &token, &task_id).await;
    assert_eq!(minutes["version"], 1, "no new version either");
    assert_eq!(
        minutes["content_object"]["participants"],
        json!(["Speaker 1", "王五"])
    );
    // The original clients' string shows the new names too, in its Markdown as well.
    let as_string: serde_json::Value =
        serde_json::from_str(minutes["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        as_string["participants"],
        minutes["content_object"]["participants"]
    );
    assert!(
        as_string["content"].as_str().unwrap().contains("王五"),
        "{as_string}"
    );
    let (_, transcript) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    assert_eq!(transcript["speaker_mapping"]["Speaker 2"], "王五");
    // Segments show the new name (the original frontend renders `speaker`) and keep the label.
    assert_eq!(transcript["segments"][1]["speaker"], "王五");
    assert_eq!(transcript["segments"][1]["speaker_label"], "Speaker 2");

    // A second rename chains: names follow the labels, not the previous text.
    t.send_json(
        Method::PATCH,
        &url,
        &token,
        &json!({"speaker_mapping": {"Speaker 2": "Wang Wu"}, "regenerate_artifacts": false}),
    )
    .await;
    let minutes = latest_minutes(&t, &token, &task_id).await;
    assert_eq!(
        minutes["content_object"]["participants"],
        json!(["Speaker 1", "Wang Wu"])
    );

    let (code, err) = t
        .send_json(
            Method::PATCH,
            &url,
            &token,
            &json!({"speaker_mapping": {"Speaker 9": "x"}}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // Asking for regeneration queues it (and then the model is called once).
    let (code, saved) = t
        .send_json(
            Method::PATCH,
            &url,
            &token,
            &json!({"speaker_mapping": {"Speaker 1": "赵六"}, "regenerate_artifacts": true}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(saved["jobs"].as_array().unwrap().len(), 1);
    t.run_jobs_until_idle().await;
    assert_eq!(t.llm.calls.load(Ordering::SeqCst), calls + 1);
    assert!(t
        .llm
        .last_prompt
        .lock()
        .unwrap()
        .as_deref()
        .unwrap()
        .contains("[seg_0001] 赵六:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_checks_items_and_person_then_archives_and_watermarks() {
    let t = TestApp::new().await;
    let (token, task_id) = t.finished_task("conf").await;
    let url = format!("/api/v1/tasks/{task_id}/confirm");
    let person = json!({"id": "u_42", "name": "陈静"});
    let (code, err) = t
        .post_json(
            &url,
            &token,
            &json!({"confirmation_items": {"key_conclusions": true}, "responsible_person": person}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], "confirmation_incomplete");
    assert!(
        err["detail"]
            .as_str()
            .unwrap()
            .contains("responsible_persons"),
        "{err}"
    );
    let items =
        json!({"key_conclusions": true, "responsible_persons": true, "action_items": false});
    let (code, err) = t
        .post_json(
            &url,
            &token,
            &json!({"confirmation_items": items, "responsible_person": {"name": "陈静"}}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(err["code"], "responsible_person_incomplete");

    let (code, ok) = t
        .post_json(
            &url,
            &token,
            &json!({"confirmation_items": items, "responsible_person": person}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{ok}");
    assert_eq!(ok["state"], "archived");
    assert_eq!(ok["confirmed_by"], "u_42");
    assert_eq!(ok["confirmed_by_name"], "陈静");
    let v1 = latest_minutes(&t, &token, &task_id).await;
    assert_eq!(v1["confirmed"], true);
    assert_eq!(v1["content_object"]["responsible_person"], "陈静");
    assert!(v1["content_object"]["watermark"]
        .as_str()
        .unwrap()
        .contains("陈静"));
    assert_eq!(v1["metadata"]["watermark"]["confirmed_by_id"], "u_42");

    let (code, again) = t
        .post_json(
            &url,
            &token,
            &json!({"confirmation_items": items, "responsible_person": person}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        again["detail"]
            .as_str()
            .unwrap()
            .contains("already confirmed"),
        "{again}"
    );
    let (code, _) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/generate?wait=0"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "an archived task is not regenerated by hand"
    );
    let (code, _) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    assert_eq!(
        code,
        StatusCode::OK,
        "archived transcripts stay readable (the original's bug)"
    );

    // A later correction makes a new draft; the confirmed version is untouched.
    let (code, _) = t
        .send_json(
            Method::PUT,
            &format!("/api/v1/tasks/{task_id}/transcript"),
            &token,
            &json!({"segments": [{"id": "seg_0001", "text": "订单服务前晚故障。"}]}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    t.run_jobs_until_idle().await;
    let v2 = latest_minutes(&t, &token, &task_id).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["confirmed"], false);
    assert!(v2["content_object"].get("watermark").is_none());
    let (_, versions) = t
        .get(
            &format!("/api/v1/tasks/{task_id}/artifacts/meeting_minutes/versions"),
            &token,
        )
        .await;
    assert_eq!(
        versions["versions"][1]["confirmed"], true,
        "v1 keeps its confirmation"
    );
    let (_, history) = t
        .get(&format!("/api/v1/tasks/{task_id}/history"), &token)
        .await;
    assert_eq!(
        history["entries"].as_array().unwrap().last().unwrap()["state"],
        "archived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_need_a_finished_task() {
    let llm = crate::engines::ScriptedLlm::default();
    llm.failures.lock().unwrap().push_back(ProviderError::Auth {
        provider: "s".into(),
        detail: "x".into(),
    });
    let t = TestApp::with(TestOptions {
        llm,
        ..Default::default()
    })
    .await;
    let token = t.login("early").await;
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&token, &task_id).await["state"], "failed");
    let (code, err) = t
        .send_json(
            Method::PUT,
            &format!("/api/v1/tasks/{task_id}/transcript"),
            &token,
            &json!({"segments": [{"id": "seg_0001", "text": "x"}]}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["code"], "invalid_state");
    let (code, _) = t
        .send_json(
            Method::PATCH,
            &format!("/api/v1/tasks/{task_id}/speakers"),
            &token,
            &json!({"speaker_mapping": {"Speaker 1": "x"}}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, _) = t
        .post_json(&format!("/api/v1/tasks/{task_id}/confirm"), &token,
            &json!({"confirmation_items": {"key_conclusions": true, "responsible_persons": true}, "responsible_person": {"id": "a", "name": "b"}}))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_meetings_are_summarised_part_by_part_and_merged_with_full_coverage() {
    let segments: Vec<minutes::providers::AsrSegment> = (0..120)
        .map(|i| minutes::providers::AsrSegment {
            start: i as f64 * 0.3,
            end: i as f64 * 0.3 + 0.25,
            text: format!("议题{i}：讨论订单服务的容量规划与值班安排，第{i}条记录。"),
            speaker: Some(format!("Speaker {}", i % 3 + 1)),
            confidence: None,
        })
        .collect();
    let asr = crate::engines::ScriptedAsr {
        segments: Some(segments),
        ..Default::default()
    };
    let t = TestApp::with(TestOptions {
        asr,
        configure: Box::new(|c| c.llm.max_transcript_chars = 2000),
        ..Default::default()
    })
    .await;
    let (token, task_id) = t.finished_task("long").await;
    let minutes = latest_minutes(&t, &token, &task_id).await;
    let generation = &minutes["metadata"]["generation"];
    assert_eq!(generation["strategy"], "map_reduce", "{generation}");
    let chunks = generation["chunks"].as_u64().unwrap() as usize;
    assert!(chunks >= 3, "{generation}");

    let prompts = t.llm.prompts.lock().unwrap().clone();
    let maps: Vec<&String> = prompts
        .iter()
        .filter(|(_, p)| p.contains("This is part "))
        .map(|(_, p)| p)
        .collect();
    assert_eq!(maps.len(), chunks);
    // Coverage: every segment was in exactly one part's prompt.
    for i in 1..=120 {
        let id = format!("[seg_{i:04}]");
        assert_eq!(maps.iter().filter(|p| p.contains(&id)).count(), 1, "{id}");
    }
    assert!(
        maps.iter().all(|p| p.chars().count() < 2000 + 1500),
        "each part fits the budget plus instructions"
    );
    let reduces = prompts
        .iter()
        .filter(|(_, p)| p.contains("partial minutes"))
        .count();
    assert!(reduces >= 1);
    assert_eq!(prompts.len(), chunks + reduces, "no other model calls");
    assert_eq!(
        minutes["lineage"]["prompt_tokens"].as_i64().unwrap(),
        100 * prompts.len() as i64
    );
}
