//! The frontend's HTTP client as axios configures it (`api/request.ts`): base `{origin}/api/v1`,
//! `Authorization: Bearer` when logged in, the page's `Origin`, 30 s timeout (60 s for generate).
//! Every answer must carry the CORS allow-origin header (or the browser hides it) and is never
//! a 403 (the interceptor logs the user out on 401 and 403).
use std::time::Duration;

use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::server::{Server, FRONTEND_ORIGIN};

/// axios's default timeout (`api/request.ts:8`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// `regenerateArtifact`'s timeout (`api/artifacts.ts:30`).
pub const GENERATE_TIMEOUT: Duration = Duration::from_secs(60);

/// One answer: the call's label (`"R2 GET /artifacts/{id}"`) goes into every failure message.
pub struct Reply {
    pub call: String,
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// The body of a 2xx answer (the frontend treats every 2xx alike and ignores the status).
    pub fn ok(self) -> Value {
        assert!(
            self.status != StatusCode::UNAUTHORIZED && self.status != StatusCode::FORBIDDEN,
            "{}: answered {} — the frontend's interceptor logs the user out on 401/403: {}",
            self.call,
            self.status,
            self.body
        );
        assert!(
            self.status.is_success(),
            "{}: answered {}, the frontend needs a 2xx: {}",
            self.call,
            self.status,
            self.body
        );
        self.body
    }

    /// Asserts the status is one of `allowed` (and in any case not 403).
    pub fn expect(&self, allowed: &[u16], why: &str) {
        assert!(
            allowed.contains(&self.status.as_u16()),
            "{}: answered {}, expected one of {allowed:?} ({why}): {}",
            self.call,
            self.status,
            self.body
        );
    }
}

#[derive(Clone)]
pub struct Front {
    http: reqwest::Client,
    /// `VITE_API_BASE_URL`.
    pub origin: String,
    pub token: Option<String>,
    /// From the login answer; the template calls send it as a query parameter.
    pub user_id: String,
    pub tenant_id: String,
    pub refresh_token: Option<String>,
}

impl Front {
    /// The browser before login: no token.
    pub fn anonymous(server: &Server) -> Front {
        Front {
            http: reqwest::Client::builder()
                .timeout(DEFAULT_TIMEOUT)
                .build()
                .expect("http client"),
            origin: server.origin.clone(),
            token: None,
            user_id: String::new(),
            tenant_id: String::new(),
            refresh_token: None,
        }
    }

    /// A1 dev login (`store/auth.ts:40-46`) with the fields it stores checked.
    pub async fn login(server: &Server, username: &str) -> Front {
        let mut front = Front::anonymous(server);
        let body = front
            .send(
                "A1 POST /auth/dev/login",
                Method::POST,
                "/auth/dev/login",
                Some(json!({"username": username})),
            )
            .await
            .ok();
        let call = format!("A1 POST /auth/dev/login as {username:?}");
        let s = |k: &str| -> String {
            match body.get(k) {
                Some(Value::String(v)) if !v.is_empty() => v.clone(),
                other => panic!(
                    "{call}: {k} is {other:?}, the frontend stores it as a string \
                     (missing → the literal \"undefined\" is sent later)"
                ),
            }
        };
        front.token = Some(s("access_token"));
        front.user_id = s("user_id");
        front.tenant_id = s("tenant_id");
        match body.get("expires_in") {
            Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v > 0.0) => {}
            other => panic!(
                "{call}: expires_in is {other:?}, the frontend needs a positive number of \
                 seconds (else the expiry is NaN and the next reload logs the user out)"
            ),
        }
        front.refresh_token = body
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_string);
        front
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.origin)
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, url)
            .header(ORIGIN, FRONTEND_ORIGIN)
            .header("Accept", "application/json, text/plain, */*");
        if let Some(token) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        req
    }

    /// A JSON call (`body: None` sends no body and no Content-Type, as axios does).
    pub async fn send(&self, call: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.request(method, &self.api(path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.finish(call, req).await
    }

    pub async fn get(&self, call: &str, path: &str) -> Reply {
        self.send(call, Method::GET, path, None).await
    }

    /// The status poll of the workbench: with its two cache headers (`api/tasks.ts:44-47`).
    pub async fn get_status(&self, task_id: &str) -> Reply {
        let req = self
            .request(Method::GET, &self.api(&format!("/tasks/{task_id}/status")))
            .header("Cache-Control", "no-cache")
            .header("Pragma", "no-cache");
        self.finish("T5 GET /tasks/{id}/status", req).await
    }

    /// R3 with the generate timeout; returns the reply and how long it took.
    pub async fn generate(
        &self,
        task_id: &str,
        artifact_type: &str,
        body: Value,
    ) -> (Reply, Duration) {
        let started = std::time::Instant::now();
        let req = self
            .request(
                Method::POST,
                &self.api(&format!(
                    "/tasks/{task_id}/artifacts/{artifact_type}/generate"
                )),
            )
            .timeout(GENERATE_TIMEOUT)
            .json(&body);
        let reply = self
            .finish("R3 POST /tasks/{id}/artifacts/{type}/generate", req)
            .await;
        (reply, started.elapsed())
    }

    /// T2: multipart with the single part `file` (`api/tasks.ts:150-161`).
    pub async fn upload(&self, filename: &str, mime: &str, bytes: Vec<u8>) -> Value {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(mime)
            .expect("a MIME type");
        let form = reqwest::multipart::Form::new().part("file", part);
        let req = self
            .request(Method::POST, &self.api("/upload"))
            .multipart(form);
        self.finish("T2 POST /upload", req).await.ok()
    }

    async fn finish(&self, call: &str, req: reqwest::RequestBuilder) -> Reply {
        let response = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{call}: no answer (axios would reject silently): {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{call}: reading the body: {e}"));
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        let allowed = headers
            .get(ACCESS_CONTROL_ALLOW_ORIGIN)
            .and_then(|v| v.to_str().ok());
        assert_eq!(
            allowed,
            Some(FRONTEND_ORIGIN),
            "{call}: answered {status} without `Access-Control-Allow-Origin: {FRONTEND_ORIGIN}`; \
             the browser hides such an answer from the frontend: {body}"
        );
        assert_ne!(
            status,
            StatusCode::FORBIDDEN,
            "{call}: answered 403 — the frontend's interceptor logs the user out: {body}"
        );
        Reply {
            call: call.to_string(),
            status,
            body,
        }
    }

    /// A request outside axios (the `<audio>` element, EventSource): no token, no Origin.
    pub fn bare(&self) -> &reqwest::Client {
        &self.http
    }
}
