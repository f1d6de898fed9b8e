//! The task list, folders and trash (contract §2.2, §2.5 buttons, §2.8), and another user's
//! task answering 404 (never 403), on tasks that wait in the queue (no worker: nothing here
//! needs a transcript).
use reqwest::Method;
use serde_json::{json, Value};

use super::create_task;
use super::front::Front;
use super::server::Server;
use super::steps::Steps;
use super::{types, unique};

const LIST: &str = "/tasks?limit=200&offset=0&include_deleted=false";

async fn tasks(front: &Front, call: &str) -> Vec<Value> {
    let body = front.get(call, LIST).await.ok();
    types::task_list(call, &body)
}

/// S3's items, by the envelope rules only: their shape is checked by its own step so that
/// a shape difference does not hide whether trashing works.
async fn trash(front: &Front, call: &str) -> Vec<Value> {
    let body = front
        .get(call, "/trash/sessions?limit=200&offset=0")
        .await
        .ok();
    match body {
        Value::Array(items) => items,
        other => super::shape::array(call, &other, "items").clone(),
    }
}

/// The trash page renders S3 rows like T1 rows (StatusTag from `state`, `created_at`, …).
async fn trash_shape(front: &Front, t1: &str) {
    let call = "S3 GET /trash/sessions (items in the T1 shape)";
    front
        .send(
            "S1 PATCH /sessions/{id}/delete",
            Method::PATCH,
            &format!("/sessions/{t1}/delete"),
            None,
        )
        .await
        .ok();
    let body = front
        .get(call, "/trash/sessions?limit=200&offset=0")
        .await
        .ok();
    let check = std::panic::catch_unwind(|| types::task_list(call, &body));
    post(
        front,
        "S6 POST /sessions/batch-restore",
        "/sessions/batch-restore",
        json!({"task_ids": [t1]}),
    )
    .await;
    if let Err(panic) = check {
        std::panic::resume_unwind(panic);
    }
}

fn item<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items.iter().find(|t| t["task_id"] == id)
}

async fn post(front: &Front, call: &str, path: &str, body: Value) {
    front.send(call, Method::POST, path, Some(body)).await.ok();
}

async fn folder_id(front: &Front, name: &str) -> Option<String> {
    let body = front.get("F1 GET /folders", "/folders").await.ok();
    types::folders("F1 GET /folders", &body)
        .into_iter()
        .find(|(_, n)| n == name)
        .map(|(id, _)| id)
}

async fn rename(front: &Front, t1: &str) {
    front
        .send(
            "T9 PATCH /tasks/{id}/rename",
            Method::PATCH,
            &format!("/tasks/{t1}/rename"),
            Some(json!({"name": "改名后的会议"})),
        )
        .await
        .ok();
    let list = tasks(front, "T1 after T9").await;
    let row = item(&list, t1).expect("T1 after T9: the task is listed");
    assert_eq!(
        types::task_label(row).as_deref(),
        Some("改名后的会议"),
        "T1 after T9: the list shows display_name/name/title, which did not change: {row}"
    );
}

async fn folders(front: &Front, t1: &str, t2: &str) {
    let name = unique("文件夹");
    front
        .send(
            "F2 POST /folders",
            Method::POST,
            "/folders",
            Some(json!({"name": name, "parent_id": null})),
        )
        .await
        .ok();
    let id = folder_id(front, &name)
        .await
        .unwrap_or_else(|| panic!("F1 after F2: folder {name:?} is not listed"));
    let renamed = format!("{name}-改");
    front
        .send(
            "F3 PATCH /folders/{id}",
            Method::PATCH,
            &format!("/folders/{id}"),
            Some(json!({"name": renamed})),
        )
        .await
        .ok();
    assert_eq!(
        folder_id(front, &renamed).await.as_deref(),
        Some(id.as_str()),
        "F1 after F3: the renamed folder is not listed under its new name"
    );
    post(
        front,
        "S4 POST /sessions/batch-move",
        "/sessions/batch-move",
        json!({"task_ids": [t1, t2], "folder_id": id}),
    )
    .await;
    let list = tasks(front, "T1 after S4").await;
    for t in [t1, t2] {
        let row = item(&list, t).expect("T1 after S4: the task is listed");
        assert_eq!(
            types::folder_of(row).as_deref(),
            Some(id.as_str()),
            "T1 after S4: the task's folder_id is not the folder: {row}"
        );
    }
    let call = "T1 GET /tasks?folder_id= (FileSidebar)";
    let body = front
        .get(call, &format!("/tasks?folder_id={id}&limit=100&offset=0"))
        .await
        .ok();
    let in_folder = types::task_list(call, &body);
    assert!(
        item(&in_folder, t1).is_some() && item(&in_folder, t2).is_some(),
        "{call}: the folder's tasks are missing: {body}"
    );
    post(
        front,
        "S4 POST /sessions/batch-move to 未分类",
        "/sessions/batch-move",
        json!({"task_ids": [t2], "folder_id": null}),
    )
    .await;
    let list = tasks(front, "T1 after S4 to null").await;
    assert_eq!(
        types::folder_of(item(&list, t2).expect("listed")),
        None,
        "T1 after S4 with folder_id null: the task is not uncategorised"
    );
    front
        .send(
            "F4 DELETE /folders/{id}",
            Method::DELETE,
            &format!("/folders/{id}"),
            None,
        )
        .await
        .ok();
    assert_eq!(
        folder_id(front, &renamed).await,
        None,
        "F1 after F4: still listed"
    );
    let list = tasks(front, "T1 after F4").await;
    assert_eq!(
        types::folder_of(item(&list, t1).expect("listed")),
        None,
        "T1 after F4: the deleted folder's task is not uncategorised (the dialog promises it)"
    );
}

async fn trash_and_restore(front: &Front, t1: &str) {
    post(
        front,
        "S5 POST /sessions/batch-delete",
        "/sessions/batch-delete",
        json!({"task_ids": [t1]}),
    )
    .await;
    assert!(
        item(&tasks(front, "T1 after S5").await, t1).is_none(),
        "T1 with include_deleted=false after S5: the trashed task is still listed"
    );
    assert!(
        item(&trash(front, "S3 after S5").await, t1).is_some(),
        "S3 after S5: the trashed task is not in the trash"
    );
    post(
        front,
        "S6 POST /sessions/batch-restore",
        "/sessions/batch-restore",
        json!({"task_ids": [t1]}),
    )
    .await;
    assert!(
        item(&tasks(front, "T1 after S6").await, t1).is_some(),
        "T1 after S6: the restored task is not listed"
    );
    assert!(
        item(&trash(front, "S3 after S6").await, t1).is_none(),
        "S3 after S6: the restored task is still in the trash"
    );
}

/// The workbench's 中止 and 删除 buttons (no bodies), then 彻底删除 from the trash.
async fn cancel_trash_and_purge(front: &Front, t2: &str) {
    front
        .send(
            "T10 POST /tasks/{id}/cancel",
            Method::POST,
            &format!("/tasks/{t2}/cancel"),
            None,
        )
        .await
        .ok();
    let status = front.get_status(t2).await.ok();
    assert_eq!(
        types::task_status("T5 after T10", &status),
        "cancelled",
        "T5 after T10: {status}"
    );
    front
        .send(
            "S1 PATCH /sessions/{id}/delete",
            Method::PATCH,
            &format!("/sessions/{t2}/delete"),
            None,
        )
        .await
        .ok();
    assert!(
        item(&trash(front, "S3 after S1").await, t2).is_some(),
        "S3 after S1: the task is not in the trash"
    );
    front
        .send(
            "S2 DELETE /sessions/{id}",
            Method::DELETE,
            &format!("/sessions/{t2}"),
            None,
        )
        .await
        .ok();
    assert!(
        item(&trash(front, "S3 after S2").await, t2).is_none(),
        "S3 after S2: the purged task is still in the trash"
    );
    assert!(item(&tasks(front, "T1 after S2").await, t2).is_none());
    front
        .get("T4 of a purged task", &format!("/tasks/{t2}"))
        .await
        .expect(&[404], "a purged task is gone");
}

async fn other_users_task(other: &Front, owner: &Front, t1: &str) {
    let before = tasks(owner, "T1 of the owner").await;
    let label = types::task_label(item(&before, t1).expect("the owner's task is listed"));
    for (call, path) in [
        ("T4 GET /tasks/{id}", format!("/tasks/{t1}")),
        (
            "T6 GET /tasks/{id}/transcript",
            format!("/tasks/{t1}/transcript"),
        ),
        (
            "R1 GET /tasks/{id}/artifacts",
            format!("/tasks/{t1}/artifacts"),
        ),
    ] {
        other
            .get(&format!("{call} (another user's)"), &path)
            .await
            .expect(&[404], "another user's task is not found, never 403");
    }
    other
        .get(
            "T5 GET /tasks/{id}/status (another user's)",
            &format!("/tasks/{t1}/status"),
        )
        .await
        .expect(&[404], "another user's task is not found, never 403");
    other
        .send(
            "T9 PATCH /tasks/{id}/rename (another user's)",
            Method::PATCH,
            &format!("/tasks/{t1}/rename"),
            Some(json!({"name": "偷改"})),
        )
        .await
        .expect(&[404], "another user's task is not found, never 403");
    other
        .send(
            "S2 DELETE /sessions/{id} (another user's)",
            Method::DELETE,
            &format!("/sessions/{t1}"),
            None,
        )
        .await
        .expect(&[404], "another user's task is not found, never 403");
    let reply = other
        .send(
            "S5 POST /sessions/batch-delete (another user's id)",
            Method::POST,
            "/sessions/batch-delete",
            Some(json!({"task_ids": [t1]})),
        )
        .await;
    reply.expect(&[200, 201, 204, 400, 404], "no 401/403 for a batch");
    assert!(
        item(&tasks(other, "T1 (another user)").await, t1).is_none(),
        "T1: another user's list shows the task"
    );
    let list = tasks(owner, "T1 of the owner after the other user's calls").await;
    let row =
        item(&list, t1).expect("the owner's task is still listed (not trashed by another user)");
    assert_eq!(
        types::task_label(row),
        label,
        "another user's rename changed the task: {row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_list_folders_trash_and_ownership() {
    let server = Server::without_worker().await;
    let front = Front::login(&server, &unique("cc_lib")).await;
    let other = Front::login(&server, &unique("cc_lib_other")).await;
    let t1 = create_task::create(&front, "tpl_standard_minutes", "zh-CN").await;
    let t2 = create_task::create(&front, "tpl_standard_minutes", "zh-CN").await;
    let mut steps = Steps::new(&server);
    steps
        .run("T1 lists the new tasks", async {
            let list = tasks(&front, "T1 GET /tasks").await;
            assert!(item(&list, &t1).is_some() && item(&list, &t2).is_some());
        })
        .await;
    steps.run("T9 rename", rename(&front, &t1)).await;
    steps
        .run("folders F2/F3/S4/F4", folders(&front, &t1, &t2))
        .await;
    steps
        .run("trash S5/S3/S6", trash_and_restore(&front, &t1))
        .await;
    steps
        .run("S3 items have the T1 shape", trash_shape(&front, &t1))
        .await;
    steps
        .run(
            "T10 cancel, S1 trash, S2 purge",
            cancel_trash_and_purge(&front, &t2),
        )
        .await;
    steps
        .run(
            "another user's task is 404",
            other_users_task(&other, &front, &t1),
        )
        .await;
    steps.finish();
}
