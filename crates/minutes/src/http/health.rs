//! Liveness (`/health`), readiness (`/ready`: database and object store, plus provider key
//! health) and the API root.
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::views::ts;
use super::AppState;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long liveness waits for the database before calling it unhealthy: the answer must stay
/// quick and 200 (a database outage is for `/ready` to act on, not a reason to restart us).
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Liveness: always 200 `healthy`, with the original's `dependencies.database` from one ping.
pub async fn health(State(app): State<AppState>) -> Json<Value> {
    let database = match tokio::time::timeout(PING_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => "healthy",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: database unreachable");
            "unhealthy"
        }
        Err(_) => "unhealthy",
    };
    Json(json!({
        "status": "healthy", "version": VERSION, "timestamp": ts(&chrono::Utc::now()),
        "dependencies": {"database": database},
    }))
}

pub async fn root() -> Json<Value> {
    Json(json!({"message": "minutes: meeting minutes API", "version": VERSION, "docs": "/docs"}))
}

pub async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = app.store.ping().await;
    let storage = app.objects.exists("health/probe").await;
    // Reported, not gated on: job state is in the database and every worker polls it, so a
    // broker outage slows pickup to `queue.safety_poll_ms` instead of stopping work; taking
    // every API instance out of rotation for it would turn a slowdown into an outage.
    let broker = app.delivery.check().await;
    // Also reported only: the limiter fails open (requests are allowed while Redis is away).
    let limiter = match &app.limiter {
        Some(l) => Some((l.backend(), l.ping().await)),
        None => None,
    };
    if let Some((_, Err(e))) = &limiter {
        tracing::warn!(error = %e, "readiness: the rate limiter's Redis is unreachable");
    }
    if let Err(e) = &broker {
        tracing::warn!(error = %e, "readiness: the queue broker is unreachable");
    }
    let ok = database.is_ok() && storage.is_ok();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if let Err(e) = &database {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    if let Err(e) = &storage {
        tracing::warn!(error = %e, "readiness: object store unreachable");
    }
    let word = |ok: bool| if ok { "healthy" } else { "unhealthy" };
    // Key health is reported, not gated on: an instance whose provider keys all rest still
    // serves reads and queues work (the jobs wait for the keys), so it stays in rotation.
    let providers: Vec<Value> = app
        .key_pools
        .iter()
        .flat_map(|pool| {
            pool.status().into_iter().map(|key| {
                json!({
                    "provider": pool.provider(),
                    "key_index": key.key_index,
                    "state": key.state,
                    "until": key.until.as_ref().map(ts),
                    "consecutive_failures": key.consecutive_failures,
                })
            })
        })
        .collect();
    (
        status,
        Json(json!({
            "status": if ok { "ready" } else { "not_ready" },
            "version": VERSION,
            "dependencies": {
                "database": word(database.is_ok()),
                "backend": app.store.backend(),
                "object_store": word(storage.is_ok()),
                "queue": word(broker.is_ok()),
                "queue_backend": app.delivery.backend(),
                "rate_limit": limiter.as_ref().map_or("off", |(_, r)| word(r.is_ok())),
                "rate_limit_backend": limiter.as_ref().map_or("off", |(b, _)| *b),
            },
            "providers": providers,
        })),
    )
}
