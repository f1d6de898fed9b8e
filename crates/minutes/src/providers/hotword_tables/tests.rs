//! The table client against a local server that speaks the documented OpenAPI shapes and
//! checks every request's signature the way the gateway does.
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{NaiveDateTime, TimeZone};
use sha2::{Digest, Sha256};

use super::*;
use crate::providers::http::test_support::serve;

const AK: &str = "AKLTtest";
const SK: &str = "server-known-secret";

#[derive(Debug, Clone)]
struct Table {
    id: String,
    name: String,
    file: String,
}

#[derive(Default)]
struct FakeState {
    tables: Vec<Table>,
    next_id: u32,
    /// Actions in the order they arrived.
    actions: Vec<String>,
    /// The multipart fields of the last create/update (name → value; `File` → content).
    last_fields: Vec<(String, String)>,
    last_file_name: Option<String>,
    /// Answer the next request with this status and error code.
    fail_next: Option<(u16, &'static str)>,
}

type Shared = Arc<Mutex<FakeState>>;

fn error(status: u16, code: &str) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        axum::Json(json!({"ResponseMetadata": {"RequestId": "r1",
            "Error": {"Code": code, "Message": format!("scripted {code}")}}})),
    )
        .into_response()
}

fn ok(action: &str, result: Value) -> Response {
    axum::Json(json!({
        "ResponseMetadata": {"RequestId": "r1", "Action": action, "Version": "2022-08-30"},
        "Result": result,
    }))
    .into_response()
}

/// Recomputes the signature from what arrived; `None` when it matches.
fn signature_problem(
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Option<String> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    if get("x-content-sha256") != hex::encode(Sha256::digest(body)) {
        return Some("body hash".into());
    }
    let Ok(date) = NaiveDateTime::parse_from_str(get("x-date"), "%Y%m%dT%H%M%SZ") else {
        return Some("date".into());
    };
    let pairs: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expected = sign::sign(
        &sign::Signing {
            access_key_id: AK,
            secret_access_key: SK,
            region: "cn-north-1",
            service: "speech_saas_prod",
        },
        &sign::Request {
            method: "POST",
            host: get("host"),
            path: "/",
            query: &pairs,
            content_type: get("content-type"),
            body,
        },
        chrono::Utc.from_utc_datetime(&date),
    );
    (get("authorization") != expected.authorization).then(|| "signature".into())
}

/// Just enough multipart parsing for the fake: `(name, filename, content)` per part.
fn parts(content_type: &str, body: &[u8]) -> Vec<(String, Option<String>, String)> {
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("boundary")
        .to_string();
    let text = String::from_utf8(body.to_vec()).expect("utf-8 body");
    text.split(&format!("--{boundary}"))
        .filter_map(|part| {
            let part = part.strip_prefix("\r\n")?;
            let (head, content) = part.split_once("\r\n\r\n")?;
            let attr = |key: &str| {
                head.split(&format!("{key}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .map(str::to_string)
            };
            Some((
                attr(" name").or_else(|| attr("name"))?,
                attr("filename"),
                content.strip_suffix("\r\n").unwrap_or(content).to_string(),
            ))
        })
        .collect()
}

async fn handle(
    State(state): State<Shared>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let action = query
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut st = state.lock().expect("lock");
    st.actions.push(action.clone());
    assert!(query
        .iter()
        .any(|(k, v)| k == "Version" && v == "2022-08-30"));
    if let Some(problem) = signature_problem(&headers, &query, &body) {
        return error(
            401,
            if problem == "signature" {
                "SignatureDoesNotMatch"
            } else {
                "InvalidContentSha256"
            },
        );
    }
    if let Some((status, code)) = st.fail_next.take() {
        return error(status, code);
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (fields, file_name): (Vec<(String, String)>, Option<String>) =
        if content_type.starts_with("multipart/form-data") {
            let parts = parts(&content_type, &body);
            let file_name = parts.iter().find_map(|(_, f, _)| f.clone());
            (
                parts.into_iter().map(|(n, _, c)| (n, c)).collect(),
                file_name,
            )
        } else {
            let v: Value = serde_json::from_slice(&body).expect("json body");
            let fields = v
                .as_object()
                .expect("object")
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string().trim_matches('"').to_string()))
                .collect();
            (fields, None)
        };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("AppID").as_deref(), Some("123"), "{action}: AppID");
    assert_eq!(field("Action").as_deref(), Some(action.as_str()));
    let info = |t: &Table| {
        json!({"AppID": "123", "BoostingTableID": t.id, "BoostingTableName": t.name,
               "WordCount": t.file.lines().count(), "WordSize": t.file.chars().filter(|c| *c != '\n').count(),
               "CreateTime": "2025-07-16T12:00:00Z", "UpdateTime": "2025-07-16T12:00:00Z"})
    };
    match action.as_str() {
        "CreateBoostingTable" => {
            st.last_fields = fields.clone();
            st.last_file_name = file_name;
            let name = field("BoostingTableName").expect("name");
            if st.tables.iter().any(|t| t.name == name) {
                return error(400, "InvalidParameter.BoostingNameDuplicated");
            }
            st.next_id += 1;
            let table = Table {
                id: format!("bt-{}", st.next_id),
                name,
                file: field("File").expect("file"),
            };
            st.tables.push(table.clone());
            ok(&action, info(&table))
        }
        "UpdateBoostingTable" => {
            st.last_fields = fields.clone();
            st.last_file_name = file_name;
            let id = field("BoostingTableID").expect("id");
            let Some(t) = st.tables.iter_mut().find(|t| t.id == id) else {
                return error(404, "OperationDenied.BoostingTableNotFound");
            };
            t.file = field("File").expect("file");
            let t = t.clone();
            ok(&action, info(&t))
        }
        "DeleteBoostingTable" => {
            let id = field("BoostingTableID").expect("id");
            let before = st.tables.len();
            st.tables.retain(|t| t.id != id);
            if st.tables.len() == before {
                return error(404, "OperationDenied.BoostingTableNotFound");
            }
            ok(&action, json!({"Message": "success"}))
        }
        "ListBoostingTable" => {
            let size: usize = field("PageSize").and_then(|s| s.parse().ok()).unwrap_or(10);
            let page: usize = field("PageNumber")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let list: Vec<Value> = st
                .tables
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .map(info)
                .collect();
            ok(
                &action,
                json!({"AppID": "123", "BoostingTableCount": st.tables.len(), "BoostingTables": list}),
            )
        }
        other => error(400, &format!("InvalidAction.{other}")),
    }
}

async fn fake() -> (String, Shared) {
    let state: Shared = Arc::default();
    let base = serve(
        Router::new()
            .route("/", post(handle))
            .with_state(state.clone()),
    )
    .await;
    (base, state)
}

fn settings(base: &str, secret: &str) -> VolcanoHotwordSettings {
    VolcanoHotwordSettings {
        enabled: true,
        endpoint: base.to_string(),
        access_key_id: AK.into(),
        secret_access_key: Some(SecretString::from(secret.to_string())),
        ..VolcanoHotwordSettings::default()
    }
}

fn client(base: &str) -> BoostingTables {
    BoostingTables::new(&settings(base, SK), "123", &EgressPolicy::default()).expect("client")
}

fn hw(word: &str, weight: i64) -> Hotword {
    Hotword {
        word: word.into(),
        weight,
    }
}

#[tokio::test]
async fn create_sends_a_signed_multipart_with_the_validated_words() {
    let (base, state) = fake().await;
    let tables = client(&base);
    assert_eq!(tables.table_name("hs_1"), "minutes_hs_1");
    let info = tables
        .create(
            "minutes_hs_1",
            &[hw("Grafana", 9), hw("grafana", 2), hw("火山引擎", 8)],
        )
        .await
        .expect("created");
    assert_eq!(info.id, "bt-1");
    assert_eq!(info.name, "minutes_hs_1");
    assert_eq!(info.word_count, Some(2));
    let st = state.lock().expect("lock");
    let field = |n: &str| {
        st.last_fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("Version"), Some("2022-08-30"));
    assert_eq!(field("BoostingTableName"), Some("minutes_hs_1"));
    assert_eq!(field("File"), Some("Grafana|9\n火山引擎|8\n"));
    assert_eq!(st.last_file_name.as_deref(), Some("minutes_hs_1.txt"));
}

#[tokio::test]
async fn upsert_finds_its_table_by_name_and_recreates_a_deleted_one() {
    let (base, state) = fake().await;
    let tables = client(&base);
    // A creation whose answer was lost: the table exists but we hold no id.
    tables
        .create("minutes_hs_1", &[hw("old", 5)])
        .await
        .expect("first");
    let info = tables
        .upsert(None, "minutes_hs_1", &[hw("new", 7)])
        .await
        .expect("upserted");
    assert_eq!(info.id, "bt-1");
    {
        let st = state.lock().expect("lock");
        assert_eq!(
            st.actions,
            [
                "CreateBoostingTable",
                "CreateBoostingTable",
                "ListBoostingTable",
                "UpdateBoostingTable"
            ]
        );
        assert_eq!(st.tables.len(), 1);
        assert_eq!(st.tables[0].file, "new|7\n");
    }
    // The table was deleted out of band: the update misses and it is created again.
    tables.delete("bt-1").await.expect("deleted");
    let info = tables
        .upsert(Some("bt-1"), "minutes_hs_1", &[hw("again", 5)])
        .await
        .expect("recreated");
    assert_eq!(info.id, "bt-2");
    // Deleting what is already gone is fine.
    tables.delete("bt-404").await.expect("idempotent");
}

#[tokio::test]
async fn invalid_words_are_refused_before_any_call() {
    let (base, state) = fake().await;
    let tables = client(&base);
    let err = tables
        .upsert(
            None,
            "minutes_hs_1",
            &[hw("ok", 5), hw("一二三四五六七八九十一", 5), hw("a|b", 5)],
        )
        .await
        .expect_err("invalid");
    let TableError::Invalid(problems) = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        state.lock().expect("lock").actions.is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error() {
    let (base, _state) = fake().await;
    let tables = BoostingTables::new(&settings(&base, "wrong"), "123", &EgressPolicy::default())
        .expect("client");
    let err = tables.list(1, 10).await.expect_err("refused");
    let TableError::Provider(e) = &err else {
        panic!("expected a provider error, got {err:?}");
    };
    assert_eq!(e.code(), "provider_auth_failed");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("SignatureDoesNotMatch"), "{e}");
    assert!(!e.to_string().contains("wrong"), "{e}");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retryable_and_others_permanent() {
    let (base, state) = fake().await;
    let tables = client(&base);
    for (status, code, class) in [
        (429, "FlowLimitExceeded", "rate_limited"),
        (500, "InternalError", "provider_unavailable"),
        (400, "InvalidParameter.TooManyTables", "provider_rejected"),
    ] {
        state.lock().expect("lock").fail_next = Some((status, code));
        let err = tables.list(1, 10).await.expect_err("scripted failure");
        let TableError::Provider(e) = &err else {
            panic!("expected a provider error, got {err:?}");
        };
        assert_eq!(e.code(), class, "{code}");
    }
}

#[test]
fn settings_are_checked_when_the_client_is_built() {
    let egress = EgressPolicy::default();
    let s = settings("https://open.volcengineapi.com", SK);
    assert!(BoostingTables::new(&s, "not-a-number", &egress).is_err());
    let mut no_secret = s.clone();
    no_secret.secret_access_key = None;
    let err = BoostingTables::new(&no_secret, "123", &egress).expect_err("no secret");
    assert!(err.to_string().contains("secret_access_key"), "{err}");
    let mut no_ak = s.clone();
    no_ak.access_key_id = String::new();
    assert!(BoostingTables::new(&no_ak, "123", &egress).is_err());
    let json = serde_json::to_string(&s).expect("serialize");
    assert!(!json.contains(SK), "{json}");
}
