//! `/hotword-sets` (and the `/hotwords` alias): word lists uploaded as `word|weight` files,
//! scoped to a user or a tenant; resolved onto tasks at creation; a per-task hotword report.
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::types::Json as JsonColumn;

use super::auth::Caller;
use super::corrections::{require_results, segments_of};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Multipart, Path, Query};
use super::tasks::owned_task;
use super::views::ts;
use super::AppState;
use crate::domain::hotwords::{language_compatible, merge, parse_file, report, ParsedHotwords};
use crate::domain::ids;
use crate::domain::task::ASR_LANGUAGES;
use crate::pipeline::hotword_sync;
use crate::providers::hotword_tables::validate::table_file;
use crate::store::{HotwordSetRecord, Owner};

const MAX_FILE_BYTES: usize = 1024 * 1024;

fn view(s: &HotwordSetRecord, preview: bool) -> Value {
    let mut v = json!({
        "hotword_set_id": s.id, "name": s.name, "provider": s.provider,
        "provider_resource_id": s.provider_resource_id, "scope": s.scope, "scope_id": s.scope_id,
        "asr_language": s.asr_language, "description": s.description, "word_count": s.word_count,
        "word_size": s.word_size, "created_by": s.created_by,
        "created_at": ts(&s.created_at), "updated_at": ts(&s.updated_at),
    });
    // The original's `preview` is the words (null unless asked for); the weights are ours.
    v["preview"] = Value::Null;
    if preview {
        let shown = &s.words.0[..s.words.0.len().min(50)];
        v["preview"] = json!(shown.iter().map(|w| &w.word).collect::<Vec<_>>());
        v["preview_weights"] = json!(shown);
    }
    v
}

/// The text fields and the word file of a multipart form.
#[derive(Default)]
struct Form {
    name: Option<String>,
    scope: Option<String>,
    asr_language: Option<String>,
    description: Option<String>,
    words: Option<ParsedHotwords>,
}

async fn read_form(mut multipart: Multipart) -> ApiResult<Form> {
    let mut form = Form::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?
    {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request("invalid_multipart", e.body_text()))?;
        if name == "hotwords_file" {
            if bytes.len() > MAX_FILE_BYTES {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "input_too_large",
                    "the hotword file is larger than 1 MB",
                ));
            }
            form.words = Some(
                parse_file(&bytes)
                    .map_err(|e| ApiError::bad_request("invalid_hotwords", e.to_string()))?,
            );
            continue;
        }
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
            ApiError::bad_request("invalid_multipart", format!("field `{name}` is not UTF-8"))
        })?;
        if text.contains('\0') {
            return Err(ApiError::bad_request(
                "invalid_multipart",
                format!("field `{name}` contains a NUL character"),
            ));
        }
        let text = Some(text.trim().to_string()).filter(|t| !t.is_empty());
        match name.as_str() {
            "name" => form.name = text,
            "scope" => form.scope = text,
            "asr_language" => form.asr_language = text,
            "description" => form.description = text,
            // `scope_id` is accepted for compatibility; the scope's owner comes from the token.
            _ => {}
        }
    }
    Ok(form)
}

fn totals(words: &ParsedHotwords) -> (i64, i64) {
    (
        words.words.len() as i64,
        words
            .words
            .iter()
            .map(|w| w.word.chars().count() as i64)
            .sum(),
    )
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.chars().count() > 256 {
        return Err(ApiError::field("name", "at most 256 characters"));
    }
    Ok(())
}

/// With provider tables on, a word list must also fit a Volcano boosting table; checked
/// here (no provider call) so the upload fails at once instead of its sync job later.
fn check_table_words(app: &AppState, words: &ParsedHotwords) -> ApiResult<()> {
    if !hotword_sync::tables_enabled(&app.config) {
        return Ok(());
    }
    table_file(&words.words).map(|_| ()).map_err(|problems| {
        ApiError::bad_request(
            "invalid_hotwords",
            format!(
                "the words do not fit a Volcano boosting table: {}",
                problems.join("; ")
            ),
        )
    })
}

/// Queues the job that brings the set's provider table in line (tables on only).
async fn queue_table_sync(
    app: &AppState,
    set: &HotwordSetRecord,
) -> ApiResult<Option<&'static str>> {
    if !hotword_sync::tables_enabled(&app.config) {
        return Ok(None);
    }
    let job = hotword_sync::sync_job(app, set.tenant_id.as_deref(), &set.id, None);
    app.store
        .enqueue_hotword_sync(set.tenant_id.as_deref(), &set.id, &job)
        .await?;
    Ok(Some("pending"))
}

pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let form = read_form(multipart).await?;
    let name = form
        .name
        .ok_or_else(|| ApiError::bad_request("invalid_hotwords", "`name` is required"))?;
    check_name(&name)?;
    let language = form.asr_language.unwrap_or_else(|| "zh-CN+en-US".into());
    if !ASR_LANGUAGES.contains(&language.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_hotwords",
            format!("asr_language must be one of {}", ASR_LANGUAGES.join(", ")),
        ));
    }
    let scope = form.scope.unwrap_or_else(|| "user".into());
    let scope_id = match scope.as_str() {
        "user" => caller.user_id.clone(),
        "tenant" if caller.role == "admin" => caller.tenant_id.clone(),
        "tenant" => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "tenant hotword sets need the tenant admin role",
            ))
        }
        "global" if caller.is_operator(&app) => String::new(),
        "global" => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "global hotword sets are managed by a platform operator (auth.operators)",
            ))
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_hotwords",
                "scope must be user, tenant or global",
            ))
        }
    };
    let words = form
        .words
        .ok_or_else(|| ApiError::bad_request("invalid_hotwords", "`hotwords_file` is required"))?;
    check_table_words(&app, &words)?;
    let (word_count, word_size) = totals(&words);
    let now = chrono::Utc::now();
    let set = HotwordSetRecord {
        id: ids::new_id("hs"),
        // Global sets belong to no tenant.
        tenant_id: (scope != "global").then(|| caller.tenant_id.clone()),
        name,
        provider: "local".into(),
        provider_resource_id: None,
        scope,
        scope_id: (!scope_id.is_empty()).then_some(scope_id),
        asr_language: language,
        description: form.description.unwrap_or_default(),
        words: JsonColumn(words.words),
        word_count,
        word_size,
        created_by: Some(caller.user_id.clone()),
        created_at: now,
        updated_at: now,
    };
    app.store.create_hotword_set(&set).await?;
    let sync = queue_table_sync(&app, &set).await?;
    caller
        .audit(
            &app,
            "hotwords.create",
            "hotword_set",
            &set.id,
            json!({"word_count": word_count}),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true, "hotword_set_id": set.id, "boosting_table_id": null, "word_count": word_count,
            "duplicates_removed": words.duplicates, "provider_sync_state": sync,
            "message": "hotword set created",
        })),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    scope: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, offset) = super::extract::page(q.limit, q.offset);
    let (sets, total) = app
        .store
        .list_hotword_sets(&caller.owner(), q.scope.as_deref(), limit, offset)
        .await?;
    Ok(Json(
        json!({"hotword_sets": sets.iter().map(|s| view(s, false)).collect::<Vec<_>>(), "total": total}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    include_preview: bool,
}

pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> ApiResult<Json<Value>> {
    let set = app
        .store
        .get_hotword_set(&caller.owner(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("hotword set"))?;
    let mut body = view(&set, q.include_preview);
    if let Some(sync) = app
        .store
        .hotword_sync_record(Some(&caller.tenant_id), &set.id)
        .await?
        .filter(|r| r.provider_sync_state.is_some())
    {
        body["provider_sync"] = json!({
            "state": sync.provider_sync_state, "error": sync.provider_sync_error,
            "synced_at": sync.provider_synced_at.as_ref().map(ts),
        });
    }
    Ok(Json(body))
}

/// The set if the caller may change it: their own user set, or their tenant's as its admin.
async fn changeable(app: &AppState, caller: &Caller, id: &str) -> ApiResult<HotwordSetRecord> {
    let set = app
        .store
        .get_hotword_set(&caller.owner(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("hotword set"))?;
    let allowed = match set.scope.as_str() {
        "user" => set.scope_id.as_deref() == Some(caller.user_id.as_str()),
        "tenant" => caller.role == "admin",
        "global" => caller.is_operator(app),
        _ => false,
    };
    if !allowed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you cannot change this hotword set",
        ));
    }
    Ok(set)
}

pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let mut set = changeable(&app, &caller, &id).await?;
    let form = read_form(multipart).await?;
    if let Some(name) = form.name {
        check_name(&name)?;
        set.name = name;
    }
    if let Some(description) = form.description {
        set.description = description;
    }
    let words_changed = form.words.is_some();
    if let Some(words) = form.words {
        check_table_words(&app, &words)?;
        (set.word_count, set.word_size) = totals(&words);
        set.words = JsonColumn(words.words);
    }
    app.store.update_hotword_set(&caller.owner(), &set).await?;
    if words_changed {
        queue_table_sync(&app, &set).await?;
    }
    caller
        .audit(
            &app,
            "hotwords.update",
            "hotword_set",
            &id,
            json!({"word_count": set.word_count}),
        )
        .await;
    Ok(Json(
        json!({"success": true, "word_count": set.word_count, "message": "hotword set updated"}),
    ))
}

pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let set = changeable(&app, &caller, &id).await?;
    app.store.delete_hotword_set(&caller.owner(), &set).await?;
    // The provider's table goes too (by a job: handlers never call providers).
    if let (Some(table_id), true) = (
        set.provider_resource_id
            .as_deref()
            .filter(|_| set.provider == "volcano"),
        hotword_sync::tables_enabled(&app.config),
    ) {
        let job = hotword_sync::sync_job(&app, set.tenant_id.as_deref(), &set.id, Some(table_id));
        app.store.enqueue(&job).await?;
    }
    caller
        .audit(&app, "hotwords.delete", "hotword_set", &id, json!({}))
        .await;
    Ok(Json(
        json!({"success": true, "message": "hotword set deleted"}),
    ))
}

/// The hotwords for a new task: an explicitly chosen set (checked for language), or every
/// applicable set merged user > tenant > global, keeping only language-compatible ones.
pub(super) async fn resolve_for_task(
    app: &AppState,
    owner: &Owner,
    chosen: Option<&str>,
    language: &str,
) -> ApiResult<Vec<String>> {
    if let Some(id) = chosen {
        let set = app
            .store
            .get_hotword_set(owner, id)
            .await?
            .ok_or_else(|| ApiError::not_found("hotword set"))?;
        if !language_compatible(&set.asr_language, language) {
            return Err(ApiError::bad_request(
                "hotword_language_mismatch",
                format!(
                    "hotword set `{id}` is for {}, the task is {language}",
                    set.asr_language
                ),
            ));
        }
        return Ok(merge(&[set.words.0]));
    }
    let sets = app.store.applicable_hotword_sets(owner).await?;
    let ordered: Vec<_> = ["user", "tenant", "global"]
        .iter()
        .flat_map(|scope| sets.iter().filter(move |s| s.scope == *scope))
        .filter(|s| language_compatible(&s.asr_language, language))
        .map(|s| s.words.0.clone())
        .collect();
    Ok(merge(&ordered))
}

/// `GET /tasks/{id}/hotwords`: which supplied hotwords the transcript contains.
pub async fn task_report(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = owned_task(&app, &caller, &id).await?;
    require_results(&task, "the hotword report")?;
    let revision = app
        .store
        .latest_transcript(&task.tenant_id, &task.id)
        .await?
        .ok_or_else(|| ApiError::not_found("transcript"))?;
    let (found, missing) = report(&task.hotwords.0, &segments_of(&revision)?);
    Ok(Json(json!({
        "task_id": task.id, "hotword_set_id": task.hotword_set_id, "supplied": task.hotwords.0,
        "found": found, "missing": missing, "transcript_revision": revision.revision,
    })))
}
