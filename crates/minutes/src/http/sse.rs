//! Task progress as Server-Sent Events at the original's path, `GET /sse/tasks/{task_id}/progress`
//! (events `progress`, `complete`, `error`, `timeout`; a `: keep-alive` comment every 15 s), and
//! `POST /sse/tickets`: a browser `EventSource` cannot send `Authorization`, so it authenticates
//! with a short-lived signed ticket in `?ticket=` instead.
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::auth::{enforce_rate_limit, refuse_query_credentials, Caller};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path};
use super::views::ts;
use super::AppState;
use crate::auth::tickets::{self, Ticket};
use crate::domain::task::TaskState;
use crate::store::{Owner, StoreError, TaskRecord};

/// Comment frames at this interval keep proxies from closing an idle stream.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Longest wait between two reads of the task. The job signal wakes the stream as soon as this
/// process changes a task; changes made by other processes (workers) show within this bound.
const FALLBACK: Duration = Duration::from_millis(500);

/// Who opens a stream: from the `Authorization` header (any credential `Caller` takes) or from
/// a stream ticket, which is only good for the task it names.
pub struct StreamCaller {
    owner: Owner,
    ticket_task: Option<String>,
}

fn ticket_param(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "ticket")
        .map(|(_, value)| value.into_owned())
}

impl FromRequestParts<AppState> for StreamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ticket) = ticket_param(parts) else {
            let caller = Caller::from_request_parts(parts, state).await?;
            return Ok(StreamCaller {
                owner: caller.owner(),
                ticket_task: None,
            });
        };
        refuse_query_credentials(parts)?;
        let invalid = |reason: &str| {
            tracing::info!(reason, "stream ticket refused");
            ApiError::unauthorized("invalid or expired stream ticket")
        };
        let claims: Ticket =
            tickets::verify(&state.url_signing, &ticket, state.clock.now_ms()).map_err(invalid)?;
        // The ticket outlives nothing but itself: a user disabled since is refused.
        let active = state
            .store
            .get_user(&claims.user_id)
            .await?
            .is_some_and(|u| u.is_active && u.tenant_id == claims.tenant_id);
        if !active {
            return Err(invalid("the ticket's user is gone or disabled"));
        }
        enforce_rate_limit(state, parts, &claims.tenant_id, &claims.user_id).await?;
        Ok(StreamCaller {
            owner: Owner {
                tenant_id: claims.tenant_id,
                user_id: claims.user_id,
            },
            ticket_task: Some(claims.task_id),
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct NewTicket {
    task_id: String,
}

/// `POST /sse/tickets {task_id}`: a ticket for one of the caller's tasks, and the stream URL.
pub async fn create_ticket(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<NewTicket>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let task = super::tasks::owned_task(&app, &caller, &body.task_id).await?;
    let ttl = app.config.server.sse_ticket_ttl_secs;
    let ticket = tickets::issue(
        &app.url_signing,
        &Ticket {
            task_id: task.id.clone(),
            user_id: caller.user_id,
            tenant_id: caller.tenant_id,
            expires_at_ms: app.clock.now_ms() + (ttl as i64) * 1000,
        },
    );
    let url = format!("/api/v1/sse/tasks/{}/progress?ticket={ticket}", task.id);
    Ok((
        StatusCode::CREATED,
        Json(json!({"ticket": ticket, "expires_in": ttl, "url": url})),
    ))
}

/// `GET /sse/tasks/{task_id}/progress`. A task that is not the caller's is an `error` event
/// (as in the original), not a 404; a missing or bad credential is a plain 401.
pub async fn progress(
    State(app): State<AppState>,
    caller: StreamCaller,
    Path(task_id): Path<String>,
) -> ApiResult<Response> {
    if caller.ticket_task.as_ref().is_some_and(|t| *t != task_id) {
        tracing::info!("stream ticket presented for another task");
        return Err(ApiError::unauthorized("invalid or expired stream ticket"));
    }
    let deadline = Instant::now() + Duration::from_secs(app.config.server.sse_max_stream_secs);
    let watch = Watch {
        app,
        owner: caller.owner,
        task_id,
        deadline,
        last: None,
        step: Step::Start,
    };
    let sse =
        Sse::new(events(watch)).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("keep-alive"));
    // nginx buffers proxied answers unless told not to, which would hold every event back.
    let no_buffering = (
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(([no_buffering], sse).into_response())
}

enum Step {
    Start,
    Watch,
    Complete(String),
    Done,
}

/// The stream's state between events.
struct Watch {
    app: AppState,
    owner: Owner,
    task_id: String,
    deadline: Instant,
    /// (state, progress, updated_at) of the last event sent.
    last: Option<(String, f64, DateTime<Utc>)>,
    step: Step,
}

fn events(watch: Watch) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(watch, |mut w| async move {
        let event = w.next_event().await?;
        Some((Ok(event), w))
    })
}

fn event(name: &str, data: Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

fn seen(task: &TaskRecord) -> (String, f64, DateTime<Utc>) {
    (task.state.clone(), task.progress, task.updated_at)
}

/// `cancelled` and `archived` end the stream too (the original kept those streams open until
/// the timeout).
fn is_terminal(state: &str) -> bool {
    TaskState::parse(state).is_none_or(|s| !s.is_active())
}

fn progress_data(task: &TaskRecord) -> Value {
    json!({
        "task_id": task.id,
        "state": task.state,
        "progress": task.progress,
        "estimated_time": task.estimated_time,
        "updated_at": ts(&task.updated_at),
    })
}

impl Watch {
    async fn read(&self) -> Result<Option<TaskRecord>, StoreError> {
        self.app.store.get_task(&self.owner, &self.task_id).await
    }

    async fn next_event(&mut self) -> Option<Event> {
        match std::mem::replace(&mut self.step, Step::Done) {
            Step::Done => None,
            Step::Complete(state) => Some(event("complete", json!({"state": state}))),
            Step::Start => Some(match self.read().await {
                Ok(Some(task)) => {
                    self.sent(&task);
                    event("progress", progress_data(&task))
                }
                Ok(None) => event("error", json!({"error": "Task not found"})),
                Err(e) => store_failed(e),
            }),
            Step::Watch => Some(self.watch().await),
        }
    }

    /// Notes what was sent and what comes next: `complete` after a terminal state.
    fn sent(&mut self, task: &TaskRecord) {
        self.last = Some(seen(task));
        self.step = if is_terminal(&task.state) {
            Step::Complete(task.state.clone())
        } else {
            Step::Watch
        };
    }

    /// Waits for the task to change (or disappear) and returns the event; `timeout` once the
    /// stream has been open for `server.sse_max_stream_secs`.
    async fn watch(&mut self) -> Event {
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return event("timeout", json!({"message": "Stream timeout"}));
            }
            // Registered before the read, so a change committed right after it still wakes us.
            let signal = self.app.jobs_signal.clone();
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.read().await {
                Ok(Some(task)) if self.last.as_ref() != Some(&seen(&task)) => {
                    self.sent(&task);
                    let mut data = progress_data(&task);
                    data["error_details"] = json!(task.error_message);
                    return event("progress", data);
                }
                Ok(Some(_)) => {}
                Ok(None) => return event("error", json!({"error": "Task disappeared"})),
                Err(e) => return store_failed(e),
            }
            let wait = (self.deadline - now).min(FALLBACK);
            let _ = tokio::time::timeout(wait, notified).await;
        }
    }
}

fn store_failed(e: StoreError) -> Event {
    tracing::error!(error = %e, "progress stream could not read its task");
    event("error", json!({"error": "Internal server error"}))
}
