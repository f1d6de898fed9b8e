//! The Workspace's artifact tabs (contract §2.6.6–2.6.10): asynchronous generation (R3 then
//! the R4 poll), the markdown editor's save (R5, a new version), rename (R6) and delete (R7).
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::front::Front;
use super::shape::{opt_string, string};
use super::types;
use super::workspace::artifacts;

/// How long the R4 poll may take (the offline writer needs seconds).
const GENERATED_WITHIN: Duration = Duration::from_secs(180);

fn by_id<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter().find(|a| a["artifact_id"] == id)
}

async fn markdown(front: &Front, id: &str, call: &str) -> String {
    let body = front.get(call, &format!("/artifacts/{id}")).await.ok();
    types::artifact_markdown(call, &body)
}

/// R3 with the drawer's body (`Workspace.tsx:875-945`), the R4 poll every 2 s, then R1 and R2
/// as the page does after "生成成功". Returns the new artifact id.
pub async fn generate(
    front: &Front,
    task_id: &str,
    name: Option<&str>,
    template_id: &str,
    prompt_text: &str,
) -> String {
    let mut body = json!({"prompt_instance": {
        "template_id": template_id, "language": "zh-CN",
        "parameters": {"meeting_description": ""}
    }});
    if !prompt_text.is_empty() {
        body["prompt_instance"]["prompt_text"] = json!(prompt_text);
    }
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    let (reply, took) = front.generate(task_id, "meeting_minutes", body).await;
    let call = reply.call.clone();
    let answer = reply.ok();
    let id = string(&call, &answer, "artifact_id").to_string();
    if let Some(state) = opt_string(&call, &answer, "state") {
        assert!(
            state == "processing" || state == "success",
            "{call}: `state` is {state:?} after {took:?}"
        );
    }
    opt_string(&call, &answer, "display_name");
    let started = Instant::now();
    let poll = "R4 GET /artifacts/{id}/status";
    let mut polls = 0;
    loop {
        let status = front
            .get(poll, &format!("/artifacts/{id}/status"))
            .await
            .ok();
        polls += 1;
        match string(poll, &status, "state") {
            "processing" => {}
            "success" => break,
            "failed" => panic!(
                "{poll}: the generation failed ({:?}) — the frontend toasts error.message: {status}",
                status.pointer("/error/message")
            ),
            other => panic!(
                "{poll}: `state` is {other:?}; only exactly \"processing\" keeps the frontend \
                 waiting, anything else it reports as done: {status}"
            ),
        }
        assert!(
            started.elapsed() < GENERATED_WITHIN,
            "{poll}: still processing after {GENERATED_WITHIN:?} ({polls} polls)"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let list = artifacts(front, task_id, "R1 after R4 success").await;
    let item = by_id(&list, &id)
        .unwrap_or_else(|| panic!("R1 after R4 success: the new artifact {id} is not listed"));
    if let Some(name) = name {
        assert_eq!(
            types::artifact_name(item).as_deref(),
            Some(name),
            "R1 after R4 success: the tab label (display_name) is not the `name` sent: {item}"
        );
    }
    let detail = front
        .get(
            "R2 GET /artifacts/{id} (new tab)",
            &format!("/artifacts/{id}"),
        )
        .await
        .ok();
    types::artifact_markdown("R2 GET /artifacts/{id} (new tab)", &detail);
    types::meeting_minutes("R2 GET /artifacts/{id} (new tab)", &detail);
    id
}

/// R5 from the markdown editor: a new version with the markdown, the old one unchanged,
/// the autosave's duplicate PUT accepted. Returns the edited artifact's id.
pub async fn edit(front: &Front, task_id: &str) -> String {
    let list = artifacts(front, task_id, "R1 before R5").await;
    let first = list.first().expect("R1 before R5: an artifact").clone();
    let id = first["artifact_id"].as_str().unwrap().to_string();
    let ty = first["artifact_type"].as_str().unwrap().to_string();
    let before = markdown(front, &id, "R2 before R5").await;
    let versions = |l: &[Value]| -> Vec<f64> {
        l.iter()
            .filter(|a| a["artifact_type"] == ty.as_str())
            .filter_map(|a| a["version"].as_f64())
            .collect()
    };
    let old_max = versions(&list).into_iter().fold(0.0, f64::max);
    front
        .send(
            "R5 PUT /artifacts/{id}",
            Method::PUT,
            &format!("/artifacts/{id}"),
            Some(json!({"content": "# edited\n\nhello"})),
        )
        .await
        .ok();
    let after = artifacts(front, task_id, "R1 after R5").await;
    let newest = after
        .iter()
        .filter(|a| a["artifact_type"] == ty.as_str())
        .max_by(|a, b| {
            a["version"]
                .as_f64()
                .partial_cmp(&b["version"].as_f64())
                .unwrap()
        })
        .cloned()
        .expect("R1 after R5: the type's versions");
    assert!(
        newest["version"].as_f64().unwrap() > old_max && newest["artifact_id"] != id.as_str(),
        "R1 after R5: no new version (history kept) of {ty}: {after:?}"
    );
    let new_id = newest["artifact_id"].as_str().unwrap().to_string();
    let md = markdown(front, &new_id, "R2 of the edited version").await;
    assert!(
        md.contains("hello"),
        "R2 of the edited version: the saved markdown does not come back: {md:?}"
    );
    assert_eq!(
        markdown(front, &id, "R2 of the previous version").await,
        before,
        "R2 of the previous version: it changed"
    );
    // The editor's cleanup effect re-sends the same save (contract §5.3).
    front
        .send(
            "R5 PUT /artifacts/{id} (autosave repeat)",
            Method::PUT,
            &format!("/artifacts/{id}"),
            Some(json!({"content": "# edited\n\nhello"})),
        )
        .await
        .ok();
    new_id
}

/// After a reload the Workspace opens R1's first item (`flat()[0]`): the user's edit.
pub async fn reload_shows_edit(front: &Front, task_id: &str) {
    let list = artifacts(front, task_id, "R1 on reload").await;
    let first = list.first().expect("R1 on reload: an artifact");
    let id = first["artifact_id"].as_str().unwrap();
    let md = markdown(front, id, "R2 of the tab opened on reload").await;
    assert!(
        md.contains("hello"),
        "R2 of the tab opened on reload ({first}): the workspace opens \
         Object.values(artifacts_by_type).flat()[0], which is not the edited version: {md:?}"
    );
}

pub async fn rename(front: &Front, task_id: &str, id: &str) {
    front
        .send(
            "R6 PATCH /artifacts/{id}",
            Method::PATCH,
            &format!("/artifacts/{id}"),
            Some(json!({"display_name": "renamed"})),
        )
        .await
        .ok();
    let list = artifacts(front, task_id, "R1 after R6").await;
    let item = by_id(&list, id).expect("R1 after R6: the artifact is listed");
    assert_eq!(
        types::artifact_name(item).as_deref(),
        Some("renamed"),
        "R1 after R6: {item}"
    );
}

pub async fn delete(front: &Front, task_id: &str, id: &str) {
    front
        .send(
            "R7 DELETE /tasks/{id}/artifacts/{artifact_id}",
            Method::DELETE,
            &format!("/tasks/{task_id}/artifacts/{id}"),
            None,
        )
        .await
        .ok();
    let list = artifacts(front, task_id, "R1 after R7").await;
    assert!(
        by_id(&list, id).is_none(),
        "R1 after R7: the deleted artifact is still listed"
    );
}

/// Another user's artifact is 404 on every artifact route (the original's 403 logged out).
pub async fn foreign(other: &Front, id: &str) {
    for (call, method, path, body) in [
        (
            "R2 (another user's)",
            Method::GET,
            format!("/artifacts/{id}"),
            None,
        ),
        (
            "R4 (another user's)",
            Method::GET,
            format!("/artifacts/{id}/status"),
            None,
        ),
        (
            "R5 (another user's)",
            Method::PUT,
            format!("/artifacts/{id}"),
            Some(json!({"content": "x"})),
        ),
        (
            "R6 (another user's)",
            Method::PATCH,
            format!("/artifacts/{id}"),
            Some(json!({"display_name": "x"})),
        ),
    ] {
        other
            .send(call, method, &path, body)
            .await
            .expect(&[404], "someone else's artifact is not found, never 403");
    }
}
