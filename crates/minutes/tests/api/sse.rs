//! SSE progress at the original's path: the event sequence (progress → complete, error, timeout)
//! read frame by frame from the streaming body, header and ticket authentication, and the
//! refusals (401 as JSON, never a stream).
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{TestApp, TestOptions};

/// Reads a `text/event-stream` body one event at a time.
struct Events {
    body: Body,
    buf: String,
}

impl Events {
    /// The next `(event, data)`, skipping comments (heartbeats); `None` once the stream ended.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                match name {
                    Some(name) => return Some((name, serde_json::from_str(&data).unwrap())),
                    None => continue,
                }
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event within 10 s");
            match frame {
                None => {
                    assert!(self.buf.trim().is_empty(), "a partial event: {}", self.buf);
                    return None;
                }
                Some(frame) => {
                    if let Ok(bytes) = frame.unwrap().into_data() {
                        self.buf.push_str(std::str::from_utf8(&bytes).unwrap());
                    }
                }
            }
        }
    }

    async fn expect(&mut self, name: &str) -> Value {
        let (got, data) = self.next().await.expect("the stream ended early");
        assert_eq!(got, name, "{data}");
        data
    }

    async fn expect_end(&mut self) {
        assert_eq!(self.next().await, None, "the stream should have ended");
    }
}

async fn open(
    t: &TestApp,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Events) {
    let mut req = Request::builder().uri(uri);
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = t
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let events = Events {
        body,
        buf: String::new(),
    };
    (parts.status, parts.headers, events)
}

async fn stream(t: &TestApp, task_id: &str, token: &str) -> Events {
    let (code, headers, events) = open(
        t,
        &format!("/api/v1/sse/tasks/{task_id}/progress"),
        Some(token),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    events
}

/// A plain JSON 401, not a stream.
async fn refused(t: &TestApp, uri: &str, token: Option<&str>) {
    let (code, headers, events) = open(t, uri, token).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED, "{uri}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let bytes = events.body.collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "not_authenticated", "{body}");
}

async fn ticket(t: &TestApp, token: &str, task_id: &str) -> Value {
    let (code, body) = t
        .post_json("/api/v1/sse/tickets", token, &json!({"task_id": task_id}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_reports_progress_and_completes_when_the_pipeline_finishes() {
    let t = TestApp::new().await;
    let token = t.login("sse_alice").await;
    let task_id = t.create_two_part_task(&token).await;
    let mut events = stream(&t, &task_id, &token).await;

    let first = events.expect("progress").await;
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "estimated_time",
            "progress",
            "state",
            "task_id",
            "updated_at"
        ],
        "the original's initial frame has no error_details: {first}"
    );
    assert_eq!(first["task_id"], task_id.as_str());
    assert_eq!(first["state"], "queued");
    assert!(first["progress"].is_f64(), "{first}");
    assert!(first["estimated_time"].is_null() || first["estimated_time"].is_i64());
    assert!(first["updated_at"].is_string());

    assert_eq!(t.run_jobs_until_idle().await, 5);
    let done = events.expect("progress").await;
    assert_eq!(done["state"], "success", "{done}");
    assert_eq!(done["progress"], 100.0);
    assert!(done.as_object().unwrap().contains_key("error_details"));
    assert_eq!(events.expect("complete").await, json!({"state": "success"}));
    events.expect_end().await;

    // A task that already finished: its state, then `complete` at once.
    let mut again = stream(&t, &task_id, &token).await;
    assert_eq!(again.expect("progress").await["state"], "success");
    assert_eq!(again.expect("complete").await["state"], "success");
    again.expect_end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_foreign_task_is_an_error_event_and_the_stream_closes() {
    let t = TestApp::new().await;
    let alice = t.login("sse_owner").await;
    let bob = t.login("sse_other").await;
    let task_id = t.create_two_part_task(&alice).await;
    for (task, token) in [("task_0000000000000000", &alice), (task_id.as_str(), &bob)] {
        let mut events = stream(&t, task, token).await;
        assert_eq!(
            events.expect("error").await,
            json!({"error": "Task not found"})
        );
        events.expect_end().await;
    }
    t.run_jobs_until_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_bad_credential_is_a_json_401() {
    let t = TestApp::new().await;
    let token = t.login("sse_creds").await;
    let task_id = t.create_two_part_task(&token).await;
    let uri = format!("/api/v1/sse/tasks/{task_id}/progress");
    refused(&t, &uri, None).await;
    refused(&t, &uri, Some("not-a-token")).await;
    // Access tokens never travel in URLs, on this route either.
    refused(&t, &format!("{uri}?access_token={token}"), None).await;
    t.run_jobs_until_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_opens_its_task_without_a_header_and_nothing_else() {
    let t = TestApp::new().await;
    let alice = t.login("sse_ticket").await;
    let bob = t.login("sse_ticket_other").await;
    let task_a = t.create_two_part_task(&alice).await;
    let task_b = t.create_two_part_task(&alice).await;

    let issued = ticket(&t, &alice, &task_a).await;
    assert_eq!(issued["expires_in"], 60);
    let url = issued["url"].as_str().unwrap();
    let ticket_a = issued["ticket"].as_str().unwrap();
    assert_eq!(
        url,
        format!("/api/v1/sse/tasks/{task_a}/progress?ticket={ticket_a}")
    );
    let (code, _, mut events) = open(&t, url, None).await;
    assert_eq!(code, StatusCode::OK);
    let first = events.expect("progress").await;
    assert_eq!(first["task_id"], task_a.as_str());
    drop(events);

    // Bound to its task; someone else's task gets no ticket at all.
    refused(
        &t,
        &format!("/api/v1/sse/tasks/{task_b}/progress?ticket={ticket_a}"),
        None,
    )
    .await;
    let (code, body) = t
        .post_json("/api/v1/sse/tickets", &bob, &json!({"task_id": task_a}))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");

    // Any change to payload or tag breaks the signature.
    let (payload, tag) = ticket_a["st1.".len()..].split_once('.').unwrap();
    let flip = |s: &str| {
        let first = if s.starts_with('A') { 'B' } else { 'A' };
        format!("{first}{}", &s[1..])
    };
    for bad in [
        format!("st1.{payload}.{}", flip(tag)),
        format!("st1.{}.{tag}", flip(payload)),
    ] {
        refused(
            &t,
            &format!("/api/v1/sse/tasks/{task_a}/progress?ticket={bad}"),
            None,
        )
        .await;
    }

    // Expired after its 60 s on the application clock.
    t.clock.advance_ms(61_000);
    refused(&t, url, None).await;
    let fresh = ticket(&t, &alice, &task_a).await;
    let (code, _, _) = open(&t, fresh["url"].as_str().unwrap(), None).await;
    assert_eq!(code, StatusCode::OK);
    t.run_jobs_until_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_task_completes_the_stream() {
    let t = TestApp::new().await;
    let token = t.login("sse_cancel").await;
    let task_id = t.create_two_part_task(&token).await;
    let mut events = stream(&t, &task_id, &token).await;
    assert_eq!(events.expect("progress").await["state"], "queued");
    let (code, body) = t
        .post_json(
            &format!("/api/v1/tasks/{task_id}/cancel"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(events.expect("progress").await["state"], "cancelled");
    assert_eq!(
        events.expect("complete").await,
        json!({"state": "cancelled"})
    );
    events.expect_end().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_open_longer_than_its_maximum_times_out() {
    let t = TestApp::with(TestOptions {
        configure: Box::new(|c| c.server.sse_max_stream_secs = 1),
        ..Default::default()
    })
    .await;
    let token = t.login("sse_timeout").await;
    let task_id = t.create_two_part_task(&token).await;
    let started = std::time::Instant::now();
    let mut events = stream(&t, &task_id, &token).await;
    assert_eq!(events.expect("progress").await["state"], "queued");
    assert_eq!(
        events.expect("timeout").await,
        json!({"message": "Stream timeout"})
    );
    events.expect_end().await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    t.run_jobs_until_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ticket_route_checks_its_body() {
    let t = TestApp::new().await;
    let token = t.login("sse_body").await;
    let (code, _) = t
        .request(
            Method::POST,
            "/api/v1/sse/tickets",
            Some(&token),
            Body::from("{}"),
            Some("application/json"),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let (code, body) = t
        .post_json(
            "/api/v1/sse/tickets",
            &token,
            &json!({"task_id": "task_0000000000000000"}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
}
