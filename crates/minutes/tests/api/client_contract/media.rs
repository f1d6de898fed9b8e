//! Requests the browser makes outside axios (contract §4): the workspace's `<audio>` element
//! (no Authorization header, Range requests for seeking) and an EventSource on the SSE progress
//! stream (no headers either: a ticket from `POST /sse/tickets` goes into the URL).
use std::time::{Duration, Instant};

use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_RANGE, CONTENT_TYPE, ORIGIN, RANGE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::front::Front;
use super::server::FRONTEND_ORIGIN;
use super::shape::{number, string};
use super::types;

/// The player's URL (`Workspace.tsx:626-632`): an absolute `http(s)://` value as it is,
/// anything else `${API_BASE_URL}/${file}` without leading slashes.
pub fn audio_url(front: &Front, file: &str) -> String {
    let lower = file.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        file.to_string()
    } else {
        format!(
            "{}/{}",
            front.origin.trim_end_matches('/'),
            file.trim_start_matches('/')
        )
    }
}

/// What someone who only guesses could request: the URL without its query (the signature),
/// and the URL with its last character changed.
fn guesses(url: &str) -> Vec<String> {
    let mut out = vec![];
    if let Some((bare, _)) = url.split_once('?') {
        out.push(bare.to_string());
    }
    let mut tampered = url.to_string();
    let last = tampered.pop().unwrap_or('0');
    tampered.push(if last == '0' { '1' } else { '0' });
    out.push(tampered);
    out
}

/// Plays `audio_files[0]` of T4 as the `<audio>` element does, seeks, and tries guesses.
pub async fn play(front: &Front, detail: &Value) {
    let call = "<audio src> from T4 audio_files[0]";
    let file = string(call, detail, "audio_files[0]");
    let url = audio_url(front, file);
    let http = front.bare();
    let whole = http.get(&url).send().await.unwrap();
    assert_eq!(
        whole.status(),
        StatusCode::OK,
        "{call}: GET {url} without Authorization answered {}: the player spins forever",
        whole.status()
    );
    let content_type = whole
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("audio/"),
        "{call}: Content-Type is {content_type:?}, the media element needs an audio type"
    );
    let total = whole.bytes().await.unwrap().len();
    assert!(total > 100, "{call}: the audio has {total} bytes");
    let part = http
        .get(&url)
        .header(RANGE, "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(
        part.status(),
        StatusCode::PARTIAL_CONTENT,
        "{call}: Range bytes=0-99 answered {}: seeking needs 206",
        part.status()
    );
    let range = part
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(
        range,
        format!("bytes 0-99/{total}"),
        "{call}: Content-Range of the 206"
    );
    assert_eq!(part.bytes().await.unwrap().len(), 100, "{call}: 206 body");
    for guess in guesses(&url) {
        let status = http.get(&guess).send().await.unwrap().status();
        assert!(
            [401, 403, 404].contains(&status.as_u16()),
            "{call}: the guessed/unsigned URL {guess} answered {status}: anyone who guesses \
             a path could play the meeting"
        );
    }
}

/// `POST /sse/tickets {task_id}` → `{ticket, url}`, then the stream opened without headers
/// (an EventSource sends none but `Origin` cross-origin).
pub async fn open_progress(front: &Front, task_id: &str) -> reqwest::Response {
    let call = "POST /sse/tickets";
    let issued = front
        .send(
            call,
            reqwest::Method::POST,
            "/sse/tickets",
            Some(json!({"task_id": task_id})),
        )
        .await
        .ok();
    let ticket = string(call, &issued, "ticket");
    let base = url::Url::parse(&front.api("/")).unwrap();
    let url = match issued.get("url").and_then(Value::as_str) {
        Some(u) => base.join(u).unwrap().to_string(),
        None => front.api(&format!("/sse/tasks/{task_id}/progress?ticket={ticket}")),
    };
    let response = front
        .bare()
        .get(&url)
        .header(ORIGIN, FRONTEND_ORIGIN)
        .header("Accept", "text/event-stream")
        .header("Cache-Control", "no-cache")
        .timeout(Duration::from_secs(900))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let sse = "GET /sse/tasks/{id}/progress?ticket=";
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{sse}: answered {} without Authorization",
        response.status()
    );
    let ct = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ct.starts_with("text/event-stream"),
        "{sse}: Content-Type {ct:?}"
    );
    assert_eq!(
        response
            .headers()
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .and_then(|v| v.to_str().ok()),
        Some(FRONTEND_ORIGIN),
        "{sse}: an EventSource from the frontend's origin needs the CORS header"
    );
    response
}

/// Reads `(event, data)` frames until the stream ends or `within` passes (comments skipped).
pub async fn events(mut response: reqwest::Response, within: Duration) -> Vec<(String, Value)> {
    let deadline = Instant::now() + within;
    let (mut buf, mut out) = (String::new(), vec![]);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let (mut name, mut data) = (None, String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(name) = name {
                let value = serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("SSE `{name}` data is not JSON ({e}): {data}"));
                out.push((name, value));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, response.chunk()).await {
            Err(_) => {
                panic!("SSE: the stream did not end within {within:?}; events so far {out:?}")
            }
            Ok(Err(e)) => panic!("SSE: reading the stream: {e}; events so far {out:?}"),
            Ok(Ok(None)) => return out,
            Ok(Ok(Some(bytes))) => buf.push_str(&String::from_utf8_lossy(&bytes)),
        }
    }
}

/// The original's sequence: `progress` first, a terminal `complete {state}` last.
pub fn check_sequence(task_id: &str, events: &[(String, Value)], final_state: &str) {
    let call = "SSE /sse/tasks/{id}/progress";
    let (first, data) = events
        .first()
        .unwrap_or_else(|| panic!("{call}: the stream ended without an event"));
    assert_eq!(first, "progress", "{call}: the first event: {events:?}");
    assert_eq!(
        string(call, data, "task_id"),
        task_id,
        "{call}: first progress"
    );
    assert!(
        types::TASK_STATES.contains(&string(call, data, "state")),
        "{call}: progress state {data}"
    );
    number(call, data, "progress");
    let (last, data) = events.last().unwrap();
    assert_eq!(
        last, "complete",
        "{call}: the stream of a finished task should end with `complete`: {events:?}"
    );
    assert_eq!(string(call, data, "state"), final_state, "{call}: complete");
}
