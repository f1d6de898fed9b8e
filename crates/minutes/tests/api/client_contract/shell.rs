//! Login page, app shell and Home (contract §2.1–2.3), CORS preflights, refresh, billing for a
//! new user and the 401s: no pipeline needed.
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
};
use reqwest::Method;
use serde_json::json;

use super::front::Front;
use super::server::{Server, FRONTEND_ORIGIN};
use super::steps::Steps;
use super::{query, types, unique};

/// The app shell's three calls on every page load (`AppLayout.tsx:66-70`) and Home's two.
async fn shell_and_home(front: &Front) {
    let tasks = front
        .get(
            "T1 GET /tasks (app shell)",
            "/tasks?limit=200&offset=0&include_deleted=false",
        )
        .await
        .ok();
    types::task_list("T1 GET /tasks (app shell)", &tasks);
    let folders = front.get("F1 GET /folders", "/folders").await.ok();
    types::folders("F1 GET /folders", &folders);
    let trash = front
        .get(
            "S3 GET /trash/sessions",
            "/trash/sessions?limit=200&offset=0",
        )
        .await
        .ok();
    types::task_list("S3 GET /trash/sessions", &trash);
    let home = front
        .get(
            "T1 GET /tasks (Home)",
            "/tasks?limit=6&offset=0&include_deleted=false",
        )
        .await
        .ok();
    types::task_list("T1 GET /tasks (Home)", &home);
    let path = format!(
        "/prompt-templates?{}",
        query(&[("user_id", &front.user_id), ("tenant_id", &front.tenant_id)])
    );
    let templates = front
        .get("P1 GET /prompt-templates (Home)", &path)
        .await
        .ok();
    let list = super::shape::array("P1 GET /prompt-templates (Home)", &templates, "templates");
    for i in 0..list.len() {
        types::template(
            "P1 GET /prompt-templates (Home)",
            &templates,
            &format!("templates[{i}]"),
        );
    }
}

/// One preflight as the browser sends it before a call with non-safelisted headers.
async fn preflight(server: &Server, method: &str, path: &str, headers: &str) {
    let call = format!("preflight OPTIONS {path} for {method} with {headers}");
    let response = reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}/api/v1{path}", server.origin))
        .header(ORIGIN, FRONTEND_ORIGIN)
        .header(ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{call}: no answer: {e}"));
    let h = response.headers();
    let get = |name| {
        h.get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    assert!(
        response.status().is_success(),
        "{call}: answered {}, the browser then blocks the call",
        response.status()
    );
    assert_eq!(
        get(ACCESS_CONTROL_ALLOW_ORIGIN),
        FRONTEND_ORIGIN,
        "{call}: the origin is not allowed"
    );
    let allowed_headers = get(ACCESS_CONTROL_ALLOW_HEADERS);
    for wanted in headers.split(',') {
        assert!(
            allowed_headers == "*"
                || allowed_headers
                    .split(',')
                    .any(|a| a.trim() == wanted.trim()),
            "{call}: Access-Control-Allow-Headers `{allowed_headers}` lacks `{wanted}`; the \
             browser blocks the call (the workbench stays at 0 % / PENDING)"
        );
    }
    let methods = get(ACCESS_CONTROL_ALLOW_METHODS);
    assert!(
        methods == "*"
            || methods
                .split(',')
                .any(|m| m.trim() == method.to_lowercase()),
        "{call}: Access-Control-Allow-Methods `{methods}` lacks {method}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_app_shell_home_and_cors() {
    let server = Server::with_worker().await;
    let mut steps = Steps::new(&server);
    let ascii = unique("cc_shell");
    let front = steps
        .run("A1 dev login (ASCII name)", Front::login(&server, &ascii))
        .await;
    steps
        .run("A1 dev login as 张三", Front::login(&server, "张三"))
        .await;
    steps
        .run(
            "A1 dev login as test.user",
            Front::login(&server, "test.user"),
        )
        .await;
    match &front {
        Some(front) => {
            steps
                .run("app shell and Home calls", shell_and_home(front))
                .await;
        }
        None => steps.skip("app shell and Home calls", "a login"),
    }
    steps
        .run(
            "CORS preflight of T5 (Cache-Control, Pragma)",
            preflight(
                &server,
                "GET",
                "/tasks/task_x/status",
                "authorization,cache-control,pragma",
            ),
        )
        .await;
    for (method, path) in [
        ("POST", "/tasks"),
        ("PUT", "/tasks/task_x/transcript"),
        ("PATCH", "/tasks/task_x/speakers"),
        ("DELETE", "/folders/folder_x"),
    ] {
        steps
            .run(
                &format!("CORS preflight of {method} {path}"),
                preflight(&server, method, path, "authorization,content-type"),
            )
            .await;
    }
    steps
        .run("401 without a token, with a stale one", async {
            let anonymous = Front::anonymous(&server);
            anonymous
                .get("T1 GET /tasks without a token", "/tasks?limit=200&offset=0")
                .await
                .expect(&[401], "no token is a 401, which logs the frontend out");
            let mut stale = Front::anonymous(&server);
            stale.token = Some("undefined".into());
            stale
                .get("T1 GET /tasks with `Bearer undefined`", "/tasks")
                .await
                .expect(&[401], "a token the server did not issue is a 401");
        })
        .await;
    steps.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_gives_a_working_access_token() {
    let server = Server::with_worker().await;
    let front = Front::login(&server, &unique("cc_refresh")).await;
    let refresh = front
        .refresh_token
        .clone()
        .expect("A1 POST /auth/dev/login: no `refresh_token` to refresh with");
    let body = Front::anonymous(&server)
        .send(
            "POST /auth/refresh",
            Method::POST,
            "/auth/refresh",
            Some(json!({"refresh_token": refresh})),
        )
        .await
        .ok();
    let token = super::shape::string("POST /auth/refresh", &body, "access_token").to_string();
    super::shape::number("POST /auth/refresh", &body, "expires_in");
    let mut renewed = front.clone();
    renewed.token = Some(token);
    let tasks = renewed
        .get("T1 GET /tasks with the refreshed token", "/tasks")
        .await
        .ok();
    types::task_list("T1 GET /tasks with the refreshed token", &tasks);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_answers_the_billing_page_shape() {
    let server = Server::with_worker().await;
    let front = Front::login(&server, &unique("cc_billing")).await;
    let body = front.get("B1 GET /billing", "/billing").await.ok();
    let items = types::billing("B1 GET /billing", &body);
    assert!(
        items.iter().all(|i| i["type"] != "recharge"),
        "B1 GET /billing: a new user has no top-ups, yet: {body}"
    );
}
