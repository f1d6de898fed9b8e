//! Prompt templates: seeded globals, private CRUD owned by the token's user, placeholder and
//! parameter validation, and 409 while a task in progress uses a template.
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{data_file, TestApp};

fn private_template() -> serde_json::Value {
    json!({
        "title": "Retro",
        "prompt_body": "Retro of {team} in {output_language}. Focus: {focus}.\n{transcript}",
        "artifact_type": "meeting_minutes",
        "supported_languages": ["zh-CN", "en-US"],
        "parameter_schema": {
            "team": {"type": "string", "required": true, "description": "team name"},
            "focus": {"type": "string", "required": false, "default": "what went well"}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_templates_are_validated_owned_and_used_with_checked_parameters() {
    let t = TestApp::new().await;
    let alice = t.login("tpl_alice").await;
    let bob = t.login("tpl_bob").await;

    let (_, list) = t.get("/api/v1/prompt-templates?scope=global", &alice).await;
    let ids: Vec<&str> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["template_id"].as_str().unwrap())
        .collect();
    for id in [
        "meeting_minutes",
        "meeting_minutes.zh-CN",
        "meeting_minutes.technical_review",
        "action_items",
        "summary_notes.zh-CN",
    ] {
        assert!(ids.contains(&id), "{id} seeded: {ids:?}");
    }

    for (bad, needle) in [
        (
            json!({"title": "x", "prompt_body": "{transcript} {secret}", "artifact_type": "meeting_minutes"}),
            "{secret}",
        ),
        (
            json!({"title": "x", "prompt_body": "{transcript}", "artifact_type": "poems"}),
            "artifact_type",
        ),
        (
            json!({"title": "x", "prompt_body": "{transcript} {n}", "artifact_type": "summary_notes",
                "parameter_schema": {"n": {"type": "integer", "default": "three"}}}),
            "default",
        ),
    ] {
        let (code, err) = t.post_json("/api/v1/prompt-templates", &alice, &bad).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {err}");
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }

    let (code, created) = t
        .post_json(
            "/api/v1/prompt-templates?user_id=user_tpl_bob",
            &alice,
            &private_template(),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let id = created["template_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("tpl_") && id.len() == 16, "{id}");
    // Owned by the token's user, whatever the query string says.
    let (code, mine) = t
        .get(&format!("/api/v1/prompt-templates/{id}"), &alice)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(mine["template"]["scope_id"], "user_tpl_alice");
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"title": "stolen"}))),
        (Method::DELETE, None),
    ] {
        let req_body = body
            .map(|b| Body::from(b.to_string()))
            .unwrap_or_else(Body::empty);
        let (code, _) = t
            .request(
                method.clone(),
                &format!("/api/v1/prompt-templates/{id}?user_id=user_tpl_alice"),
                Some(&bob),
                req_body,
                Some("application/json"),
            )
            .await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{method} by another user");
    }
    let (_, bobs) = t
        .get(
            "/api/v1/prompt-templates?scope=private&user_id=user_tpl_alice",
            &bob,
        )
        .await;
    assert_eq!(bobs["total"], 0);
    let (code, _) = t
        .send_json(
            Method::PUT,
            "/api/v1/prompt-templates/meeting_minutes",
            &alice,
            &json!({"title": "mine now"}),
        )
        .await;
    assert_eq!(
        code,
        StatusCode::BAD_REQUEST,
        "global templates are read-only, and never a 403 (the original frontend logs out on one)"
    );

    // Using it: parameters are checked (422 with field errors) and defaults filled.
    let key = t
        .upload(&alice, &data_file("parts/zh02_incident_review.part1.wav"))
        .await;
    let task = |params: serde_json::Value| {
        json!({"audio_files": [key.clone()], "meeting_type": "retro",
        "prompt_instance": {"template_id": id.clone(), "parameters": params}})
    };
    let (code, err) = t
        .post_json(
            "/api/v1/tasks",
            &alice,
            &task(json!({"focus": 3, "colour": "red"})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let locs: Vec<String> = err["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"][3].as_str().unwrap().to_string())
        .collect();
    assert!(
        locs.contains(&"focus".into())
            && locs.contains(&"colour".into())
            && locs.contains(&"team".into()),
        "{err}"
    );
    let (code, created) = t
        .post_json("/api/v1/tasks", &alice, &task(json!({"team": "Payments"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let task_id = created["task_id"].as_str().unwrap();

    // In use by a task in progress: 409; free again once it finished.
    let (code, err) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/prompt-templates/{id}"),
            Some(&alice),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "template_in_use");
    t.run_jobs_until_idle().await;
    assert_eq!(t.task_status(&alice, task_id).await["state"], "success");
    let prompt = t.llm.last_prompt.lock().unwrap().clone().unwrap();
    assert!(
        prompt.starts_with("Retro of Payments in zh-CN. Focus: what went well."),
        "{prompt}"
    );

    let (code, updated) = t
        .send_json(
            Method::PUT,
            &format!("/api/v1/prompt-templates/{id}"),
            &alice,
            &json!({"title": "Retro v2"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    let (_, got) = t
        .get(&format!("/api/v1/prompt-templates/{id}"), &alice)
        .await;
    assert_eq!(
        (
            got["template"]["title"].as_str(),
            got["template"]["version"].as_i64()
        ),
        (Some("Retro v2"), Some(2))
    );
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/prompt-templates/{id}"),
            Some(&alice),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = t
        .get(&format!("/api/v1/prompt-templates/{id}"), &alice)
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}
