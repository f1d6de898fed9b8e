//! A whole task with `asr.primary: volcano`, built from configuration, against a local server
//! that speaks Volcano's BigModel file-recognition protocol and its boosting-table API: the
//! hotword set becomes a boosting table through the sync job, the recognition request names
//! it, and a failed polling attempt is resumed by the queue's retry without a second submit.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::{json, Value};

use minutes::storage::{StorageError, UrlSigner};

use crate::helpers::{data_file, TestApp, TestOptions};

#[derive(Default)]
struct Seen {
    submits: Vec<Value>,
    request_ids: Vec<String>,
    queries: usize,
    /// Queries still to answer with a server error.
    failing_queries: usize,
    tables: Vec<(String, String, String)>,
    table_actions: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn status(http: StatusCode, code: i64) -> Response {
    let mut r = http.into_response();
    r.headers_mut()
        .insert("X-Api-Status-Code", code.to_string().parse().unwrap());
    r.headers_mut()
        .insert("X-Api-Message", "OK".parse().unwrap());
    r.headers_mut()
        .insert("X-Tt-Logid", "log-1".parse().unwrap());
    r
}

fn authorized(h: &HeaderMap) -> bool {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    get("X-Api-App-Key") == "2000001" && get("X-Api-Access-Key") == "token-1"
}

async fn submit(State(seen): State<Shared>, h: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorized(&h) {
        return status(StatusCode::UNAUTHORIZED, 45_000_010);
    }
    let id = h
        .get("X-Api-Request-Id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let mut s = seen.lock().unwrap();
    if s.request_ids.contains(&id) {
        return status(StatusCode::BAD_REQUEST, 45_000_001);
    }
    s.request_ids.push(id);
    s.submits.push(body);
    status(StatusCode::OK, 20_000_000)
}

async fn query(State(seen): State<Shared>, h: HeaderMap) -> Response {
    if !authorized(&h) {
        return status(StatusCode::UNAUTHORIZED, 45_000_010);
    }
    let mut s = seen.lock().unwrap();
    s.queries += 1;
    if s.failing_queries > 0 {
        s.failing_queries -= 1;
        return status(StatusCode::SERVICE_UNAVAILABLE, 55_000_031);
    }
    if s.queries % 3 != 0 {
        return status(StatusCode::OK, 20_000_001);
    }
    let mut r = status(StatusCode::OK, 20_000_000);
    *r.body_mut() = axum::body::Body::from(
        json!({
            "audio_info": {"duration": 63600},
            "result": {"text": "早上好。我们来规划迭代。", "utterances": [
                {"start_time": 500, "end_time": 11000, "text": "早上好。", "additions": {"speaker": "1"}},
                {"start_time": 11500, "end_time": 20000, "text": "我们来规划迭代，用火山引擎。", "additions": {"speaker": "2"}}
            ]}
        })
        .to_string(),
    );
    r
}

/// The boosting-table API (signatures are checked by the unit tests).
async fn openapi(
    State(seen): State<Shared>,
    Query(q): Query<Vec<(String, String)>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    assert!(h.get("authorization").is_some());
    let action = q.iter().find(|(k, _)| k == "Action").unwrap().1.clone();
    let mut s = seen.lock().unwrap();
    s.table_actions.push(action.clone());
    let text = String::from_utf8_lossy(&body).to_string();
    match action.as_str() {
        "CreateBoostingTable" => {
            let name = text
                .split("name=\"BoostingTableName\"\r\n\r\n")
                .nth(1)
                .and_then(|r| r.split("\r\n").next())
                .unwrap()
                .to_string();
            let id = format!("bt-{}", s.tables.len() + 1);
            s.tables.push((id.clone(), name.clone(), text));
            Json(json!({"ResponseMetadata": {"RequestId": "r"},
                        "Result": {"BoostingTableID": id, "BoostingTableName": name, "WordCount": 2}}))
            .into_response()
        }
        "DeleteBoostingTable" => {
            let v: Value = serde_json::from_str(&text).unwrap();
            let id = v["BoostingTableID"].as_str().unwrap().to_string();
            s.tables.retain(|t| t.0 != id);
            Json(json!({"ResponseMetadata": {"RequestId": "r"}, "Result": {"Message": "success"}}))
                .into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "unexpected").into_response(),
    }
}

/// Presigns like an S3-compatible store.
struct Signer;

#[async_trait::async_trait]
impl UrlSigner for Signer {
    async fn signed_get_url(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        Ok(format!(
            "https://bucket.example/{key}?expires={}",
            expires_in.as_secs()
        ))
    }
}

async fn volcano_app(seen: &Shared) -> TestApp {
    let server = Router::new()
        .route("/api/v3/auc/bigmodel/submit", post(submit))
        .route("/api/v3/auc/bigmodel/query", post(query))
        .route("/", post(openapi))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });
    TestApp::with(TestOptions {
        engines_from_config: true,
        url_signer: Some(Arc::new(Signer)),
        configure: Box::new(move |c| {
            c.asr.primary = minutes::config::AsrProviderKind::Volcano;
            c.asr.fallback = None;
            c.llm.provider = minutes::config::LlmProviderKind::Local;
            let v = &mut c.asr.volcano;
            v.submit_url = format!("{base}/api/v3/auc/bigmodel/submit");
            v.query_url = format!("{base}/api/v3/auc/bigmodel/query");
            v.app_id = "2000001".into();
            v.access_token = Some(SecretString::from("token-1"));
            // Real sleeps here (the engines use the wall clock to wait): keep them short.
            v.poll_initial_ms = 1;
            v.poll_max_ms = 5;
            v.max_poll_errors = 2;
            v.hotword_tables.enabled = true;
            v.hotword_tables.endpoint = base.clone();
            v.hotword_tables.access_key_id = "AKLTtest".into();
            v.hotword_tables.secret_access_key = Some(SecretString::from("sk-test"));
        }),
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volcano_task_uses_the_sets_boosting_table_and_resumes_after_a_failed_attempt() {
    let seen: Shared = Arc::default();
    let t = volcano_app(&seen).await;
    let token = t.login("volc").await;

    // A hotword set becomes a boosting table through the sync job.
    let (code, created) = t
        .multipart(
            Method::POST,
            "/api/v1/hotword-sets",
            &token,
            &[
                ("name", None, "infra".as_bytes()),
                ("asr_language", None, b"zh-CN"),
                (
                    "hotwords_file",
                    Some("w.txt"),
                    "火山引擎|9\nGrafana|6\n".as_bytes(),
                ),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["provider_sync_state"], "pending");
    let set_id = created["hotword_set_id"].as_str().unwrap().to_string();
    assert_eq!(t.run_jobs_until_idle().await, 1);
    let (_, set) = t
        .get(&format!("/api/v1/hotword-sets/{set_id}"), &token)
        .await;
    assert_eq!(set["provider"], "volcano", "{set}");
    assert_eq!(set["provider_resource_id"], "bt-1");
    assert_eq!(set["provider_sync"]["state"], "synced");
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.tables[0].1, format!("minutes_{set_id}"));
        assert!(s.tables[0].2.contains("火山引擎|9\nGrafana|6\n"));
    }

    // A word that does not fit a boosting table is refused at upload, before any job.
    let (code, body) = t
        .multipart(
            Method::POST,
            "/api/v1/hotword-sets",
            &token,
            &[
                ("name", None, "too long".as_bytes()),
                (
                    "hotwords_file",
                    Some("w.txt"),
                    "一二三四五六七八九十一\n".as_bytes(),
                ),
            ],
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("boosting table"),
        "{body}"
    );

    // The task: its first transcription attempt fails while polling (two 503 queries).
    seen.lock().unwrap().failing_queries = 2;
    let key = t
        .upload(&token, &data_file("en01_sprint_planning.mp3"))
        .await;
    let (code, task) = t
        .post_json(
            "/api/v1/tasks",
            &token,
            &json!({"audio_files": [key], "meeting_type": "general", "asr_language": "zh-CN", "hotword_set_id": set_id}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{task}");
    let task_id = task["task_id"].as_str().unwrap().to_string();
    t.run_jobs_until_idle().await;
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "transcribing", "{status}");
    assert_eq!(seen.lock().unwrap().submits.len(), 1);
    let tenant = "tenant_volc".to_string();
    let saved = t
        .app
        .store
        .provider_checkpoint(&tenant, &task_id, "transcribe", "volcano")
        .await
        .unwrap()
        .expect("the request id is checkpointed on the step");
    assert_eq!(saved["submitted"], true);
    assert_eq!(
        saved["request_id"].as_str().unwrap(),
        seen.lock().unwrap().request_ids[0]
    );

    // The queue retries after its backoff (at most 60 s here); the retry resumes polling the
    // same job. The recognition's deadline (max(600 s, 3 × 63.6 s) after the submit, on the
    // same clock) has not passed.
    t.clock.advance_ms(2 * 60 * 1000);
    t.run_jobs_until_idle().await;
    let status = t.task_status(&token, &task_id).await;
    assert_eq!(status["state"], "success", "{status}");
    let submits = seen.lock().unwrap().submits.clone();
    assert_eq!(submits.len(), 1, "submitted (and billed) once");
    let body = &submits[0];
    assert_eq!(
        body["audio"]["url"].as_str().unwrap(),
        format!(
            "https://bucket.example/{}?expires=21600",
            minutes::pipeline::normalized_key(&tenant, &task_id)
        )
    );
    assert_eq!(body["audio"]["language"], "zh-CN");
    assert_eq!(
        body["request"]["corpus"],
        json!({"boosting_table_id": "bt-1", "boosting_table_name": format!("minutes_{set_id}")})
    );
    let (_, transcript) = t
        .get(&format!("/api/v1/tasks/{task_id}/transcript"), &token)
        .await;
    assert_eq!(transcript["segments"][0]["text"], "早上好。");
    assert_eq!(transcript["segments"][1]["speaker"], "Speaker 2");

    // Deleting the set deletes its table, again through a job.
    let (code, _) = t
        .request(
            Method::DELETE,
            &format!("/api/v1/hotword-sets/{set_id}"),
            Some(&token),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(t.run_jobs_until_idle().await, 1);
    assert!(seen.lock().unwrap().tables.is_empty());
    assert_eq!(
        seen.lock().unwrap().table_actions,
        ["CreateBoostingTable", "DeleteBoostingTable"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volcano_with_the_local_object_store_fails_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(dir.path());
    config.asr.primary = minutes::config::AsrProviderKind::Volcano;
    config.asr.volcano.app_id = "2000001".into();
    config.asr.volcano.access_token = Some(SecretString::from("token-1"));
    let err = match minutes::app::App::build(&config).await {
        Ok(_) => panic!("volcano cannot run on the local object store"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("asr.volcano"), "{err}");
    assert!(err.contains("presign"), "{err}");
}
