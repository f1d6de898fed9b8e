//! `GET /metrics` (Prometheus/OpenMetrics text) and the middleware that counts and times every
//! request by its route template — never by its concrete path, which would carry ids and grow
//! without bound.
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use super::AppState;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn scrape(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let m = &app.config.metrics;
    if !m.enabled {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are turned off (metrics.enabled)",
        ));
    }
    if let Some(token) = &m.token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Digests are compared, so the time taken says nothing about how much of the token matched.
        if Sha256::digest(sent.as_bytes()) != Sha256::digest(token.expose_secret().as_bytes()) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the metrics token as `Authorization: Bearer …`",
            ));
        }
    }
    let now_ms = app.clock.now_ms();
    let workers = app.store.list_workers().await?;
    let mut by_state: Vec<(String, i64)> = Vec::new();
    for w in &workers {
        match by_state.iter_mut().find(|(s, _)| *s == w.state) {
            Some((_, n)) => *n += 1,
            None => by_state.push((w.state.clone(), 1)),
        }
    }
    let snapshot = crate::telemetry::metrics::QueueSnapshot {
        states: app.store.job_counts().await?,
        depths: app.store.queue_depths(now_ms).await?,
        workers: by_state,
        now_ms,
        backup: crate::datamove::backup::status::newest(&app.config).await,
    };
    let body = app.metrics.render(&snapshot, &app.key_pools);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

/// What a worker-only process serves on `metrics.worker_bind`: its metrics and liveness.
pub fn worker_router(app: std::sync::Arc<crate::app::App>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .route("/health", axum::routing::get(super::health::health))
        .with_state(AppState(app))
}

/// Counts and times the request under its route template (`unmatched` for unknown paths).
pub async fn track(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    app.metrics.http_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
