//! Sessions: the trash (soft delete, restore), permanent delete and batch operations.
use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::folders::{audit_actions, delete, ids, new_folder, patch, task};
use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trashed_session_disappears_from_the_task_endpoints_until_restored() {
    let t = TestApp::new().await;
    let alice = t.login("alice").await;
    let first = t.create_two_part_task(&alice).await;
    let second = t.create_two_part_task(&alice).await;
    t.run_jobs_until_idle().await;
    let (_, artifacts) = t
        .get(&format!("/api/v1/tasks/{first}/artifacts"), &alice)
        .await;
    let artifact_id = artifacts["artifacts_by_type"]["meeting_minutes"][0]["artifact_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, before) = task(&t, &alice, &first).await;

    let (code, body) = patch(
        &t,
        &format!("/api/v1/sessions/{first}/delete"),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);

    for uri in [
        format!("/api/v1/tasks/{first}"),
        format!("/api/v1/tasks/{first}/status"),
        format!("/api/v1/tasks/{first}/transcript"),
        format!("/api/v1/tasks/{first}/history"),
        format!("/api/v1/tasks/{first}/artifacts"),
        format!("/api/v1/tasks/{first}/artifacts/{artifact_id}"),
        format!("/api/v1/artifacts/{artifact_id}"),
    ] {
        let (code, body) = t.get(&uri, &alice).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "GET {uri}: {body}");
    }
    let (code, _) = patch(
        &t,
        &format!("/api/v1/tasks/{first}/rename"),
        &alice,
        &json!({"name": "x"}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "rename of a trashed task");
    // Trashing or moving it again: it is not there any more.
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{first}/delete"),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{first}/move"),
        &alice,
        &json!({"folder_id": null}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let (_, list) = t.get("/api/v1/tasks", &alice).await;
    assert_eq!(ids(&list), [second.as_str()]);
    let (_, all) = t.get("/api/v1/tasks?include_deleted=true", &alice).await;
    let trashed = all
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == first.as_str())
        .expect("include_deleted lists trashed tasks");
    assert_eq!(trashed["is_deleted"], true);
    assert!(trashed["deleted_at"].is_string(), "{trashed}");

    // The trash: newest deletion first, with the original's fields.
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{second}/delete"),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, trash) = t.get("/api/v1/trash/sessions", &alice).await;
    assert_eq!(code, StatusCode::OK, "{trash}");
    assert_eq!(trash["total"], 2);
    assert_eq!(ids(&trash["items"]), [second.as_str(), first.as_str()]);
    let item = &trash["items"][1];
    assert_eq!(item["user_id"], "user_alice");
    assert_eq!(item["tenant_id"], "tenant_alice");
    assert_eq!(item["meeting_type"], "incident_review");
    assert_eq!(item["folder_id"], Value::Null);
    assert!(
        (item["duration"].as_f64().unwrap() - 38.533).abs() < 0.01,
        "{item}"
    );
    assert!(item["deleted_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(item["created_at"], before["created_at"]);
    assert_eq!(
        item["last_content_modified_at"],
        before["last_content_modified_at"]
    );

    // Restore brings it back everywhere; restoring a task that is not trashed changes nothing.
    let (code, body) = patch(
        &t,
        &format!("/api/v1/sessions/{first}/restore"),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, restored) = task(&t, &alice, &first).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(restored["is_deleted"], false);
    assert_eq!(restored["deleted_at"], Value::Null);
    assert_eq!(
        restored["last_content_modified_at"],
        before["last_content_modified_at"]
    );
    let (code, _) = t
        .get(&format!("/api/v1/tasks/{first}/transcript"), &alice)
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{first}/restore"),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (_, trash) = t.get("/api/v1/trash/sessions", &alice).await;
    assert_eq!(ids(&trash["items"]), [second.as_str()]);

    let actions = audit_actions(&t, "tenant_alice").await;
    let count = |action: &str| actions.iter().filter(|(a, _)| a == action).count();
    assert_eq!(count("session.delete"), 2);
    assert_eq!(
        count("session.restore"),
        1,
        "the no-op restore is not audited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_delete_removes_the_session_and_its_audio_whether_trashed_or_not() {
    let t = TestApp::new().await;
    let alice = t.login("alice").await;
    let trashed = t.create_two_part_task(&alice).await;
    let active = t.create_two_part_task(&alice).await;
    t.run_jobs_until_idle().await;
    let audio = minutes::pipeline::normalized_key("tenant_alice", &trashed);
    assert!(t.app.objects.exists(&audio).await.unwrap());

    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{trashed}/delete"),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    for id in [&trashed, &active] {
        let (code, body) = delete(&t, &format!("/api/v1/sessions/{id}"), &alice).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["success"], true);
        let (code, _) = delete(&t, &format!("/api/v1/sessions/{id}"), &alice).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "already gone");
    }
    assert!(
        !t.app.objects.exists(&audio).await.unwrap(),
        "audio deleted"
    );
    let (_, all) = t.get("/api/v1/tasks?include_deleted=true", &alice).await;
    assert_eq!(all, json!([]));
    let (_, trash) = t.get("/api/v1/trash/sessions", &alice).await;
    assert_eq!(trash["total"], 0);
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{trashed}/restore"),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let purges = audit_actions(&t, "tenant_alice")
        .await
        .into_iter()
        .filter(|(a, _)| a == "session.purge")
        .count();
    assert_eq!(purges, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_operations_count_what_changed_and_skip_tasks_that_are_not_yours() {
    let t = TestApp::new().await;
    let alice = t.login("alice").await;
    let bob = t.login("bob").await;
    let a1 = t.create_two_part_task(&alice).await;
    let a2 = t.create_two_part_task(&alice).await;
    let a3 = t.create_two_part_task(&alice).await;
    let b1 = t.create_two_part_task(&bob).await;
    t.run_jobs_until_idle().await;
    let folder = new_folder(&t, &alice, "Reviews").await;
    let bobs_folder = new_folder(&t, &bob, "Reviews").await;

    // Bob's task, an unknown id and a repeated id are skipped.
    let (code, body) = t
        .post_json(
            "/api/v1/sessions/batch-move",
            &alice,
            &json!({"task_ids": [a1, a2, b1, "task_0000000000000000", a1], "folder_id": folder}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["moved_count"], 2);
    let (_, in_folder) = t
        .get(&format!("/api/v1/tasks?folder_id={folder}"), &alice)
        .await;
    let mut moved = ids(&in_folder);
    moved.sort();
    let mut expected = [a1.as_str(), a2.as_str()];
    expected.sort();
    assert_eq!(moved, expected);
    assert_eq!(task(&t, &bob, &b1).await.1["folder_id"], Value::Null);

    // Someone else's folder: 404, and nothing moves.
    let (code, body) = t
        .post_json(
            "/api/v1/sessions/batch-move",
            &alice,
            &json!({"task_ids": [a1, a3], "folder_id": bobs_folder}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(task(&t, &alice, &a1).await.1["folder_id"], folder.as_str());
    assert_eq!(task(&t, &alice, &a3).await.1["folder_id"], Value::Null);

    let (code, body) = t
        .post_json(
            "/api/v1/sessions/batch-move",
            &alice,
            &json!({"task_ids": [a1, a2, a3], "folder_id": null}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["moved_count"], 3);
    let (_, root) = t.get("/api/v1/tasks?folder_id=", &alice).await;
    assert_eq!(root.as_array().unwrap().len(), 3);

    // Delete: only tasks that were not trashed yet count.
    let (code, body) = t
        .post_json(
            "/api/v1/sessions/batch-delete",
            &alice,
            &json!({"task_ids": [a1, a2, b1]}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["deleted_count"], 2);
    let (_, again) = t
        .post_json(
            "/api/v1/sessions/batch-delete",
            &alice,
            &json!({"task_ids": [a1, a2]}),
        )
        .await;
    assert_eq!(again["deleted_count"], 0);
    let (code, _) = task(&t, &bob, &b1).await;
    assert_eq!(code, StatusCode::OK, "bob's task is untouched");
    let (_, list) = t.get("/api/v1/tasks", &alice).await;
    assert_eq!(ids(&list), [a3.as_str()]);
    let (_, trash) = t.get("/api/v1/trash/sessions", &alice).await;
    assert_eq!(trash["total"], 2);

    // A trashed task is not moved by a batch either.
    let (_, body) = t
        .post_json(
            "/api/v1/sessions/batch-move",
            &alice,
            &json!({"task_ids": [a1, a3], "folder_id": folder}),
        )
        .await;
    assert_eq!(body["moved_count"], 1);

    let (code, body) = t
        .post_json(
            "/api/v1/sessions/batch-restore",
            &alice,
            &json!({"task_ids": [a1, a3, b1]}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["restored_count"], 1, "a3 was not trashed, b1 is bob's");
    let (_, trash) = t.get("/api/v1/trash/sessions", &alice).await;
    assert_eq!(ids(&trash["items"]), [a2.as_str()]);
    let (code, _) = task(&t, &alice, &a1).await;
    assert_eq!(code, StatusCode::OK);

    // Bounds: 1..=500 ids.
    let too_many: Vec<String> = (0..501).map(|i| format!("task_{i}")).collect();
    for path in ["batch-move", "batch-delete", "batch-restore"] {
        for body in [json!({"task_ids": []}), json!({"task_ids": too_many})] {
            let (code, err) = t
                .post_json(&format!("/api/v1/sessions/{path}"), &alice, &body)
                .await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {err}");
            assert_eq!(err["errors"][0]["loc"][1], "task_ids");
        }
        let (code, _) = t
            .post_json(&format!("/api/v1/sessions/{path}"), &alice, &json!({}))
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
    }
    let max: Vec<String> = (0..500).map(|i| format!("task_{i}")).collect();
    let (code, body) = t
        .post_json(
            "/api/v1/sessions/batch-delete",
            &alice,
            &json!({"task_ids": max}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["deleted_count"], 0);

    // Audit: one entry per session that changed.
    let actions = audit_actions(&t, "tenant_alice").await;
    let count = |action: &str| actions.iter().filter(|(a, _)| a == action).count();
    assert_eq!(count("session.move"), 2 + 3 + 1);
    assert_eq!(count("session.delete"), 2);
    assert_eq!(count("session.restore"), 1);
}
