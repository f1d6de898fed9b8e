//! The HTTP API (compatible with the original frontend contract). Handlers validate, write
//! through the store and enqueue jobs; they never call a provider.
mod admin;
mod api_keys;
mod artifact_edits;
mod artifact_generation;
mod artifacts;
pub mod auth;
mod billing;
mod confirm;
mod corrections;
mod costs;
mod error;
mod exports;
mod extract;
mod folders;
mod health;
mod hotwords;
mod media;
mod metrics;
pub mod openapi;
mod queue_admin;
mod quota;
mod refresh;
mod search;
mod server;
mod sessions;
mod speaker_registry;
mod speakers;
mod sse;
mod tasks;
mod templates;
mod transcripts;
pub(crate) mod uploads;
mod views;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::app::App;

pub use error::{ApiError, ApiResult};
pub use metrics::worker_router;
pub use queue_admin::{job_detail_view, job_view};
pub use server::serve;

/// The task detail shape of the API, for other front ends (`minutes run --json`).
pub fn task_view(
    task: &crate::store::TaskRecord,
    files: &[crate::store::TaskFileRecord],
) -> serde_json::Value {
    views::task_detail(task, files)
}

/// Cheap-to-clone handle to the application for handlers.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// Headers that make browsers treat API answers as data only.
fn with_security_headers(api: Router<AppState>) -> Router<AppState> {
    let set = |name, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    api.layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
}

/// Cross-origin access only for the configured origins (never `*`, credentials allowed).
fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        // The original frontend's status poll sends `Cache-Control`/`Pragma: no-cache`; API keys
        // travel as `X-API-Key`; `Last-Event-ID` resumes event streams, `Range` seeks in audio.
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CACHE_CONTROL,
            header::PRAGMA,
            header::RANGE,
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
}

/// Errors outside any handler keep the `{detail, code, retryable}` body too.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

async fn no_such_route() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such route (the API lives under /api/v1)",
    )
}

/// The whole route table.
pub fn router(app: Arc<App>) -> Router {
    let upload_limit = app.config.server.max_upload_bytes as usize + 64 * 1024;
    let sample_limit = app.config.voiceprint.enrollment.max_sample_bytes as usize + 64 * 1024;
    let timeout = Duration::from_secs(app.config.server.request_timeout_secs);
    let api = Router::new()
        .route("/", get(health::root))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::scrape))
        .route("/auth/dev/login", post(auth::dev_login))
        .route("/auth/refresh", post(refresh::refresh))
        .route("/upload/{*file_path}", delete(uploads::delete_upload))
        .route("/tasks", post(tasks::create).get(tasks::list))
        .route("/tasks/estimate", post(costs::estimate_task))
        .route("/tasks/{id}", get(tasks::get).delete(tasks::delete))
        .route("/tasks/{id}/status", get(tasks::status))
        .route("/sse/tickets", post(sse::create_ticket))
        .route("/sse/tasks/{task_id}/progress", get(sse::progress))
        .route("/tasks/{id}/rename", patch(tasks::rename))
        .route("/tasks/{id}/cancel", post(tasks::cancel))
        .route("/tasks/{id}/retry", post(tasks::retry))
        .route("/tasks/{id}/history", get(tasks::history))
        .route("/tasks/{id}/cost", get(costs::task_cost))
        .route(
            "/tasks/{id}/transcript",
            get(transcripts::get).put(corrections::correct),
        )
        .route(
            "/tasks/{id}/transcript/revisions",
            get(corrections::revisions),
        )
        .route(
            "/tasks/{id}/transcript/diff",
            get(corrections::revision_diff),
        )
        .route("/tasks/{id}/speakers", patch(speakers::rename))
        .route("/tasks/{id}/confirm", post(confirm::confirm))
        .route("/tasks/{id}/export", get(exports::export))
        .route("/tasks/{id}/artifacts", get(artifacts::list))
        .route(
            "/tasks/{id}/artifacts/{artifact_id}",
            get(artifacts::task_detail).delete(artifact_edits::delete),
        )
        .route(
            "/tasks/{id}/artifacts/{artifact_type}/versions",
            get(artifacts::versions),
        )
        .route(
            "/tasks/{id}/artifacts/{artifact_type}/generate",
            post(artifact_generation::generate),
        )
        .route(
            "/tasks/{id}/artifacts/{artifact_type}/regenerate",
            post(artifact_generation::generate),
        )
        .route(
            "/tasks/{id}/regenerate",
            post(artifact_generation::regenerate_alias),
        )
        .route(
            "/artifacts/{artifact_id}",
            get(artifacts::detail)
                .put(artifact_edits::edit)
                .patch(artifact_edits::rename),
        )
        .route("/artifacts/{artifact_id}/status", get(artifacts::status))
        .route(
            "/prompt-templates",
            get(templates::list).post(templates::create),
        )
        .route(
            "/prompt-templates/{id}",
            get(templates::get)
                .put(templates::update)
                .delete(templates::delete),
        )
        .route("/hotword-sets", get(hotwords::list).post(hotwords::create))
        .route(
            "/hotword-sets/{id}",
            get(hotwords::get)
                .put(hotwords::update)
                .delete(hotwords::delete),
        )
        .route("/hotwords", get(hotwords::list).post(hotwords::create))
        .route(
            "/hotwords/{id}",
            get(hotwords::get)
                .put(hotwords::update)
                .delete(hotwords::delete),
        )
        .route("/tasks/{id}/hotwords", get(hotwords::task_report))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/costs", get(costs::admin_costs))
        .route("/queue/status", get(queue_admin::status))
        .route("/admin/workers", get(queue_admin::workers))
        .route("/admin/jobs", get(queue_admin::list))
        .route("/admin/jobs/requeue", post(queue_admin::requeue_many))
        .route("/admin/jobs/{id}", get(queue_admin::get))
        .route("/admin/jobs/{id}/requeue", post(queue_admin::requeue))
        .route("/admin/jobs/{id}/discard", post(queue_admin::discard))
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api-keys/{id}", delete(api_keys::revoke))
        .route("/quota", get(quota::get))
        .route("/billing", get(billing::list))
        .route("/folders", get(folders::list).post(folders::create))
        .route(
            "/folders/{id}",
            patch(folders::rename).delete(folders::delete),
        )
        .route("/sessions/{task_id}", delete(sessions::purge))
        .route("/sessions/{task_id}/move", patch(sessions::move_one))
        .route("/sessions/{task_id}/delete", patch(sessions::trash_one))
        .route("/sessions/{task_id}/restore", patch(sessions::restore_one))
        .route("/sessions/batch-move", post(sessions::batch_move))
        .route("/sessions/batch-delete", post(sessions::batch_delete))
        .route("/sessions/batch-restore", post(sessions::batch_restore))
        .route("/trash/sessions", get(sessions::trash))
        .route("/search", get(search::search))
        .route(
            "/speakers",
            post(speaker_registry::enroll)
                .layer(DefaultBodyLimit::max(sample_limit))
                .get(speaker_registry::list),
        )
        .route(
            "/speakers/{id}",
            get(speaker_registry::get).delete(speaker_registry::erase),
        )
        .layer(DefaultBodyLimit::max(app.config.server.max_body_bytes))
        // Long-polls (60 s) and generation waits (300 s) fit under this bound. It times the
        // answer's head only, so SSE bodies run on (bounded by server.sse_max_stream_secs).
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout.max(Duration::from_secs(310)),
        ))
        // Uploads stream for as long as the client sends; only their size is bounded.
        .route(
            "/upload",
            post(uploads::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        // After every route: it applies to the routes added so far.
        .method_not_allowed_fallback(method_not_allowed);
    let browser =
        |r: Router<AppState>| with_security_headers(r).layer(cors(&app.config.server.cors_origins));
    Router::new()
        .nest("/api/v1", browser(api))
        // Nested, "/" is `/api/v1` only; the original answered at `/api/v1/` as well.
        .nest(
            "/api/v1/",
            browser(Router::new().route("/", get(health::root))),
        )
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        // Where Prometheus looks by default (also under /api/v1).
        .route("/metrics", get(metrics::scrape))
        // Signed playback URLs of task views, at the root like the original's static mount:
        // the frontend builds `${base}/${audio_files[0]}` without the API prefix.
        .merge(browser(
            Router::new().route("/uploads/{*key}", get(media::serve)),
        ))
        // Serves /openapi.json as well as the UI at /docs.
        .merge(openapi::swagger_ui())
        .fallback(no_such_route)
        // Inside the routing: the route template is known by the time a request is counted.
        .layer(axum::middleware::from_fn_with_state(
            AppState(app.clone()),
            metrics::track,
        ))
        // Every line logged while answering carries the request id (also in the response and the
        // audit entries) and the route template, so one request can be followed through the logs.
        // The path only, never the query: query strings can hold search terms and tickets.
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("unmatched", |p| p.as_str());
                let request_id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", request_id, method = %req.method(), route,
                    path = %req.uri().path())
            }),
        )
        // A body that pauses longer than this between chunks is cut (slow uploads hold a
        // connection and a worker slot for as long as they trickle).
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            app.config.server.body_read_timeout_secs,
        )))
        // Every request carries an id (the client's, or a new UUID), echoed in the response and
        // recorded with audit entries.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(AppState(app))
}
