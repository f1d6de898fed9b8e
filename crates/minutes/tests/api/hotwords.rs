//! Hotword sets: file governance, scopes, resolution onto tasks, the ASR request and the report.
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

async fn create_set(
    t: &TestApp,
    token: &str,
    name: &str,
    scope: &str,
    language: &str,
    file: &[u8],
) -> (StatusCode, serde_json::Value) {
    t.multipart(
        Method::POST,
        "/api/v1/hotword-sets",
        token,
        &[
            ("name", None, name.as_bytes()),
            ("scope", None, scope.as_bytes()),
            ("asr_language", None, language.as_bytes()),
            ("scope_id", None, b"tenant_of_someone_else"),
            ("hotwords_file", Some("words.txt"), file),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotword_files_are_governed_and_scoped() {
    let t = TestApp::new().await;
    let token = t.login("hw").await;
    let (code, created) = create_set(
        &t,
        &token,
        "infra",
        "user",
        "zh-CN",
        "Grafana|8\n火山引擎\ngrafana|2\n# comment\n".as_bytes(),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["word_count"], 2);
    assert_eq!(created["duplicates_removed"], 1);
    let id = created["hotword_set_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("hs_") && id.len() == 19, "{id}");

    for (file, needle) in [
        (vec![0xffu8, 0xfe, 0x41], "UTF-8"),
        (b"ok\nbad|eleven\n".to_vec(), "line 2"),
        (b"ok|99\n".to_vec(), "line 1"),
        (
            (0..1001)
                .map(|i| format!("w{i}\n"))
                .collect::<String>()
                .into_bytes(),
            "1000",
        ),
    ] {
        let (code, err) = create_set(&t, &token, "bad", "user", "zh-CN", &file).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
        assert!(
            err["detail"].as_str().unwrap().contains(needle),
            "{needle}: {err}"
        );
    }
    let (code, _) = create_set(&t, &token, "all", "global", "zh-CN", b"x").await;
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "global sets are for a platform operator"
    );
    let (code, tenant_set) = create_set(
        &t,
        &token,
        "company",
        "tenant",
        "zh-CN+en-US",
        b"Kubernetes|9\nGrafana|1\n",
    )
    .await;
    assert_eq!(
        code,
        StatusCode::CREATED,
        "the dev user is its tenant's admin: {tenant_set}"
    );

    let (_, list) = t.get("/api/v1/hotwords", &token).await;
    assert_eq!(list["total"], 2);
    let (_, detail) = t
        .get(
            &format!("/api/v1/hotword-sets/{id}?include_preview=true"),
            &token,
        )
        .await;
    assert_eq!(
        detail["scope_id"], "user_hw",
        "scope owner comes from the token"
    );
    // The original's `preview` is the words; the weights come alongside.
    assert_eq!(detail["preview"][0], "Grafana", "{detail}");
    assert_eq!(
        detail["preview"].as_array().unwrap().len(),
        detail["preview_weights"].as_array().unwrap().len()
    );
    assert_eq!(
        detail["preview_weights"][0],
        json!({"word": "Grafana", "weight": 8})
    );
    let (_, plain) = t.get(&format!("/api/v1/hotword-sets/{id}"), &token).await;
    assert_eq!(plain["preview"], serde_json::Value::Null, "{plain}");
    assert!(plain.get("preview_weights").is_none(), "{plain}");

    let other = t.login("hw_other").await;
    let (code, _) = t.get(&format!("/api/v1/hotword-sets/{id}"), &other).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/hotword-sets/{id}"),
            Some(&other),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let (code, updated) = t
        .multipart(
            Method::PUT,
            &format!("/api/v1/hotwords/{id}"),
            &token,
            &[(
                "hotwords_file",
                Some("w.txt"),
                "Redis|7\n张伟|9\n".as_bytes(),
            )],
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert_eq!(updated["word_count"], 2);

    // A task resolves user > tenant sets, the ASR receives them, the report shows what was heard.
    let task_id = t.create_two_part_task(&token).await;
    t.run_jobs_until_idle().await;
    let sent = t.asr.last_hotwords.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec!["张伟", "Redis", "Kubernetes", "Grafana"],
        "user set first, by weight"
    );
    let (_, rep) = t
        .get(&format!("/api/v1/tasks/{task_id}/hotwords"), &token)
        .await;
    let found: Vec<&str> = rep["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["word"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["张伟", "Redis"]);
    assert_eq!(rep["found"][0]["segment_ids"], json!(["seg_0002"]));
    assert_eq!(rep["missing"], json!(["Kubernetes", "Grafana"]));

    // An explicitly chosen set must match the task's language.
    let (_, ja) = create_set(&t, &token, "ja", "user", "ja-JP", "東京\n".as_bytes()).await;
    let key = t
        .upload(
            &token,
            &crate::helpers::data_file("parts/zh02_incident_review.part1.wav"),
        )
        .await;
    let (code, err) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": [key], "meeting_type": "x", "asr_language": "zh-CN",
                                                    "hotword_set_id": ja["hotword_set_id"]}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["code"], "hotword_language_mismatch");

    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/hotword-sets/{id}"),
            Some(&token),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, list) = t.get("/api/v1/hotword-sets", &token).await;
    assert_eq!(list["total"], 2, "the tenant set and the ja set remain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_operators_manage_global_sets_that_apply_to_every_tenant() {
    let t = TestApp::with(crate::helpers::TestOptions {
        configure: Box::new(|c| c.auth.operators = vec!["user_hw_op".into()]),
        ..Default::default()
    })
    .await;
    let operator = t.login("hw_op").await;
    let user = t.login("hw_tenant_user").await;
    let (code, _) = create_set(&t, &user, "mine-global", "global", "zh-CN", b"x").await;
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "only operators create global sets"
    );
    let (code, created) = create_set(
        &t,
        &operator,
        "glossary",
        "global",
        "zh-CN",
        "火山引擎|9\n".as_bytes(),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let id = created["hotword_set_id"].as_str().unwrap().to_string();

    // Every tenant sees it and its tasks get the words; nobody but an operator changes it.
    let (_, listed) = t.get("/api/v1/hotword-sets?scope=global", &user).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(
        listed["hotword_sets"][0]["scope_id"],
        serde_json::Value::Null
    );
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/hotword-sets/{id}"),
            Some(&user),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    t.create_two_part_task(&user).await;
    t.run_jobs_until_idle().await;
    assert_eq!(*t.asr.last_hotwords.lock().unwrap(), vec!["火山引擎"]);
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/hotword-sets/{id}"),
            Some(&operator),
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
}
