//! `GET /search?q=…&limit=…`: full-text search across the caller's transcripts and artifacts
//! (Chinese and English), best matches first, each with its task, a snippet and a timestamp.
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Query};
use super::views::ts;
use super::AppState;
use crate::domain::search_text::{query_tokens, snippet, SNIPPET_CHARS};
use crate::store::SearchHit;

const MAX_QUERY_CHARS: usize = 200;
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<i64>,
}

fn query_error(field: &str, msg: &str) -> ApiError {
    ApiError::validation(vec![
        json!({"loc": ["query", field], "msg": msg, "type": "value_error"}),
    ])
}

fn view(hit: &SearchHit, tokens: &[String]) -> Value {
    let mut v = json!({
        "task_id": hit.task_id,
        "task_name": hit.task_name,
        "kind": hit.kind,
        "start_time": hit.start_time,
        "snippet": snippet(&hit.text, tokens, SNIPPET_CHARS),
        "created_at": ts(&hit.created_at),
    });
    if hit.kind == "artifact" {
        v["artifact_id"] = json!(hit.ref_id);
        v["artifact_type"] = json!(hit.artifact_type);
    } else {
        v["segment_id"] = json!(hit.ref_id);
    }
    v
}

pub async fn search(
    State(app): State<AppState>,
    caller: Caller,
    Query(params): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let q = params.q.as_deref().unwrap_or("").trim();
    if q.is_empty() {
        return Err(query_error("q", "must not be empty"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(query_error("q", "at most 200 characters"));
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(query_error("limit", "between 1 and 100"));
    }
    // A query of punctuation only has no tokens: nothing can match.
    let tokens = query_tokens(q);
    let hits = app
        .store
        .search(&caller.owner(), &tokens.join(" "), limit)
        .await?;
    caller
        .audit(
            &app,
            "search",
            "search",
            "",
            json!({"query": q, "total": hits.len()}),
        )
        .await;
    Ok(Json(json!({
        "query": q,
        "total": hits.len(),
        "results": hits.iter().map(|h| view(h, &tokens)).collect::<Vec<_>>(),
    })))
}
