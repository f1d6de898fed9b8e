//! Folders, moving sessions, the trash and the batch operations (original §6.8, with soft-deleted
//! tasks hidden from the task endpoints and 404 instead of 403 for other owners).
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

pub(crate) async fn patch(
    t: &TestApp,
    uri: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Value) {
    t.send_json(Method::PATCH, uri, token, body).await
}

pub(crate) async fn delete(t: &TestApp, uri: &str, token: &str) -> (StatusCode, Value) {
    t.request(Method::DELETE, uri, Some(token), Body::empty(), None)
        .await
}

pub(crate) async fn new_folder(t: &TestApp, token: &str, name: &str) -> String {
    let (code, body) = t
        .post_json("/api/v1/folders", token, &json!({"name": name}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    body["folder_id"].as_str().unwrap().to_string()
}

pub(crate) async fn task(t: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
    t.get(&format!("/api/v1/tasks/{id}"), token).await
}

pub(crate) fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect()
}

pub(crate) async fn audit_actions(t: &TestApp, tenant: &str) -> Vec<(String, String)> {
    t.app
        .store
        .audit_log(tenant, &minutes::store::AuditFilter::latest(1000))
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.resource_id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_are_created_listed_renamed_and_deleted_moving_their_sessions_to_the_root() {
    let t = TestApp::new().await;
    let alice = t.login("alice").await;
    let task_id = t.create_two_part_task(&alice).await;
    t.run_jobs_until_idle().await;

    let beta = new_folder(&t, &alice, "Beta").await;
    let hex = beta.strip_prefix("folder_").unwrap();
    assert_eq!(hex.len(), 16);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{beta}");
    let alpha = new_folder(&t, &alice, "  Alpha  ").await;
    // Names are counted in characters: 256 CJK characters fit, 257 do not.
    let long = new_folder(&t, &alice, &"会".repeat(256)).await;
    for name in ["", "   ", &"x".repeat(257)] {
        let (code, body) = t
            .post_json("/api/v1/folders", &alice, &json!({"name": name}))
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {body}");
        assert_eq!(body["errors"][0]["loc"][1], "name");
    }
    let (code, body) = t.post_json("/api/v1/folders", &alice, &json!({})).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (code, list) = t.get("/api/v1/folders", &alice).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["total"], 3);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Alpha", "Beta", &"会".repeat(256)],
        "trimmed, by name"
    );
    let first = &list["items"][0];
    assert_eq!(first["folder_id"], alpha.as_str());
    assert_eq!(first["parent_id"], Value::Null);
    assert_eq!(first["owner_user_id"], "user_alice");
    assert_eq!(first["owner_tenant_id"], "tenant_alice");
    assert!(first["created_at"].as_str().unwrap().ends_with('Z'));

    // Duplicates are refused on create and rename, also when two requests race.
    let (code, body) = t
        .post_json("/api/v1/folders", &alice, &json!({"name": "Alpha "}))
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "duplicate_name");
    let (code, body) = patch(
        &t,
        &format!("/api/v1/folders/{beta}"),
        &alice,
        &json!({"name": "Alpha"}),
    )
    .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "duplicate_name");
    let body = json!({"name": "Race"});
    let (a, b) = tokio::join!(
        t.post_json("/api/v1/folders", &alice, &body),
        t.post_json("/api/v1/folders", &alice, &body)
    );
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(
        codes,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );

    let (code, body) = patch(
        &t,
        &format!("/api/v1/folders/{beta}"),
        &alice,
        &json!({"name": " Gamma "}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Gamma");
    let (code, _) = patch(
        &t,
        "/api/v1/folders/folder_0000000000000000",
        &alice,
        &json!({"name": "x"}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Move the task into the folder: listed there, content timestamp unchanged.
    let (_, before) = task(&t, &alice, &task_id).await;
    let (code, body) = patch(
        &t,
        &format!("/api/v1/sessions/{task_id}/move"),
        &alice,
        &json!({"folder_id": beta}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, after) = task(&t, &alice, &task_id).await;
    assert_eq!(after["folder_id"], beta.as_str());
    assert_eq!(
        after["last_content_modified_at"],
        before["last_content_modified_at"]
    );
    let (_, in_folder) = t
        .get(&format!("/api/v1/tasks?folder_id={beta}"), &alice)
        .await;
    assert_eq!(ids(&in_folder), [task_id.as_str()]);
    let (_, root) = t.get("/api/v1/tasks?folder_id=", &alice).await;
    assert_eq!(root, json!([]));

    // Deleting the folder moves its sessions to the root.
    let (code, body) = delete(&t, &format!("/api/v1/folders/{beta}"), &alice).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["moved_count"], 1);
    let (_, moved) = task(&t, &alice, &task_id).await;
    assert_eq!(moved["folder_id"], Value::Null);
    let (_, root) = t.get("/api/v1/tasks?folder_id=", &alice).await;
    assert_eq!(ids(&root), [task_id.as_str()]);
    let (code, _) = delete(&t, &format!("/api/v1/folders/{beta}"), &alice).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, body) = delete(&t, &format!("/api/v1/folders/{long}"), &alice).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["moved_count"], 0);
    let (_, list) = t.get("/api/v1/folders", &alice).await;
    assert_eq!(list["total"], 2, "Alpha and Race remain: {list}");

    // Moving to the root with null, into a missing folder is a 404.
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{task_id}/move"),
        &alice,
        &json!({"folder_id": alpha}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{task_id}/move"),
        &alice,
        &json!({"folder_id": null}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(task(&t, &alice, &task_id).await.1["folder_id"], Value::Null);
    let (code, body) = patch(
        &t,
        &format!("/api/v1/sessions/{task_id}/move"),
        &alice,
        &json!({"folder_id": beta}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");

    let actions = audit_actions(&t, "tenant_alice").await;
    for expected in [
        ("folder.create", alpha.as_str()),
        ("folder.rename", beta.as_str()),
        ("folder.delete", beta.as_str()),
        ("session.move", task_id.as_str()),
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, r)| a == expected.0 && r == expected.1),
            "{expected:?} in {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tenants_and_other_users_get_404_on_every_folder_and_session_route() {
    let t = TestApp::new().await;
    let alice = t.login("alice").await;
    let mallory = t.login("mallory").await;
    // Another user in Alice's own tenant: isolation is per user, not only per tenant.
    let eve = t
        .app
        .auth
        .dev()
        .unwrap()
        .issue("user_eve", "tenant_alice", "member")
        .unwrap();
    let shown = t.create_two_part_task(&alice).await;
    let trashed = t.create_two_part_task(&alice).await;
    let own = t.create_two_part_task(&mallory).await;
    t.run_jobs_until_idle().await;
    let folder = new_folder(&t, &alice, "Secret").await;
    let mallorys_folder = new_folder(&t, &mallory, "Mine").await;
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{shown}/move"),
        &alice,
        &json!({"folder_id": folder}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = patch(
        &t,
        &format!("/api/v1/sessions/{trashed}/delete"),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);

    for intruder in [&mallory, &eve] {
        let (code, list) = t.get("/api/v1/folders", intruder).await;
        assert_eq!(code, StatusCode::OK);
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["folder_id"] != folder.as_str()),
            "{list}"
        );
        let (_, trash) = t.get("/api/v1/trash/sessions", intruder).await;
        assert_eq!(trash["total"], 0, "{trash}");

        let mut attempts: Vec<(StatusCode, Value, String)> = Vec::new();
        let mut record = |(code, body): (StatusCode, Value), what: &str| {
            attempts.push((code, body, what.to_string()))
        };
        record(
            patch(
                &t,
                &format!("/api/v1/folders/{folder}"),
                intruder,
                &json!({"name": "pwned"}),
            )
            .await,
            "rename folder",
        );
        record(
            delete(&t, &format!("/api/v1/folders/{folder}"), intruder).await,
            "delete folder",
        );
        for (id, target) in [
            (&shown, Value::Null),
            (&shown, json!(mallorys_folder)),
            (&own, json!(folder)),
        ] {
            record(
                patch(
                    &t,
                    &format!("/api/v1/sessions/{id}/move"),
                    intruder,
                    &json!({"folder_id": target}),
                )
                .await,
                "move",
            );
        }
        record(
            patch(
                &t,
                &format!("/api/v1/sessions/{shown}/delete"),
                intruder,
                &json!({}),
            )
            .await,
            "trash",
        );
        record(
            patch(
                &t,
                &format!("/api/v1/sessions/{trashed}/restore"),
                intruder,
                &json!({}),
            )
            .await,
            "restore",
        );
        for id in [&shown, &trashed] {
            record(
                delete(&t, &format!("/api/v1/sessions/{id}"), intruder).await,
                "purge",
            );
        }
        record(
            t.post_json(
                "/api/v1/sessions/batch-move",
                intruder,
                &json!({"task_ids": [own], "folder_id": folder}),
            )
            .await,
            "batch-move into a foreign folder",
        );
        for (code, body, what) in &attempts {
            assert_eq!(*code, StatusCode::NOT_FOUND, "{what}: {body}");
            assert_eq!(body["code"], "not_found", "{what}");
        }
        // Batches skip foreign tasks silently.
        for (path, field) in [
            ("batch-move", "moved_count"),
            ("batch-delete", "deleted_count"),
            ("batch-restore", "restored_count"),
        ] {
            let (code, body) = t
                .post_json(
                    &format!("/api/v1/sessions/{path}"),
                    intruder,
                    &json!({"task_ids": [shown, trashed], "folder_id": null}),
                )
                .await;
            assert_eq!(code, StatusCode::OK, "{path}: {body}");
            assert_eq!(body[field], 0, "{path}");
        }
    }

    // Alice's things are exactly as she left them.
    let (_, folders) = t.get("/api/v1/folders", &alice).await;
    assert_eq!(folders["items"][0]["name"], "Secret");
    assert_eq!(folders["total"], 1);
    let (code, task_view) = task(&t, &alice, &shown).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(task_view["folder_id"], folder.as_str());
    let (_, trash) = t.get("/api/v1/trash/sessions", &alice).await;
    assert_eq!(ids(&trash["items"]), [trashed.as_str()]);
    let (code, _) = task(&t, &mallory, &own).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(task(&t, &mallory, &own).await.1["folder_id"], Value::Null);
}
