//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`, assets vendored: works offline).
//! `ROUTES` is checked against the router (and the route matrix) by the integration tests, so the
//! two cannot drift; `operations.rs` describes each route's parameters, body and answers, which
//! `scripts/schemathesis.sh` holds the running server to.
use serde_json::{json, Map, Value};
use utoipa_swagger_ui::SwaggerUi;

use super::health::VERSION;
use operations::{operation, undescribed};
use schemas::{path_param, schema_ref, schemas};

mod operations;
mod schemas;

/// (method, path under /api/v1, summary, authenticated)
pub const ROUTES: &[(&str, &str, &str, bool)] = &[
    ("get", "/", "API root", false),
    ("get", "/health", "Liveness", false),
    ("get", "/ready", "Readiness: database and object store", false),
    ("get", "/metrics", "Prometheus metrics (OpenMetrics text); a bearer metrics token when one is configured (also at /metrics)", false),
    ("post", "/auth/dev/login", "Dev login (only when auth.dev_login = true): issues an HS256 JWT and a refresh token", false),
    ("post", "/auth/refresh", "Trade a dev-login refresh token for a new access token and the next refresh token (rotation; a used token presented again revokes its family: 401). 404 when dev login is off", false),
    ("post", "/upload", "Upload one audio file (multipart `file`), streamed; 413 over the limit, 415 if not audio", true),
    ("delete", "/upload/{file_path}", "Delete an upload of yours that no task uses", true),
    ("post", "/tasks", "Create a task from your uploads (audio_files, file_order, meeting_type, languages, prompt_instance)", true),
    ("post", "/tasks/estimate", "Estimate a meeting's cost before submitting it ({audio_duration, meeting_type, enable_speaker_recognition}) from the configured engines and price tables", true),
    ("get", "/tasks", "List your tasks (limit, offset, state, folder_id, include_deleted)", true),
    ("get", "/tasks/{id}", "Task detail", true),
    ("delete", "/tasks/{id}", "Delete a task and everything it produced", true),
    ("get", "/tasks/{id}/status", "State, progress, ETA and error; `?wait=N` long-polls up to 60 s for a change", true),
    ("post", "/sse/tickets", "A short-lived stream ticket for one of your tasks ({task_id}): {ticket, expires_in, url}", true),
    ("get", "/sse/tasks/{task_id}/progress", "Task progress as Server-Sent Events (progress, complete, error, timeout); Authorization header or `?ticket=`", true),
    ("patch", "/tasks/{id}/rename", "Rename a task", true),
    ("post", "/tasks/{id}/cancel", "Cancel an active task", true),
    ("post", "/tasks/{id}/retry", "Retry a failed or cancelled task from its first unfinished stage", true),
    ("get", "/tasks/{id}/cost", "The task's estimate against what its steps were billed, per stage, with the ledger rows", true),
    ("get", "/tasks/{id}/history", "Every state transition with time and reason, and the per-stage steps", true),
    ("get", "/tasks/{id}/transcript", "Latest transcript revision, or ?revision=N (success, partial_success, archived)", true),
    ("put", "/tasks/{id}/transcript", "Correct the transcript ({corrected_text} or {segments: [{id, text?, speaker?}]}): a new revision; regenerate_artifacts (default true) queues regeneration", true),
    ("get", "/tasks/{id}/transcript/revisions", "Every transcript revision with author, reason and time", true),
    ("get", "/tasks/{id}/transcript/diff", "Segment-level changes between revisions ?from=N[&to=M]", true),
    ("patch", "/tasks/{id}/speakers", "Rename speakers {speaker_mapping: {label: name}}: a new mapping version; artifact views re-render without a model call", true),
    ("post", "/tasks/{id}/confirm", "Confirm the minutes (required items + responsible person): archives the task and watermarks the confirmed versions", true),
    ("get", "/tasks/{id}/export", "Download ?format=md|docx|pdf|srt|vtt|json[&artifact_id=…] (names and confirmation watermark included)", true),
    ("get", "/tasks/{id}/artifacts", "Artifacts grouped by type, newest version first", true),
    ("get", "/tasks/{id}/artifacts/{artifact_id}", "Artifact detail (content as a JSON string, content_object, lineage)", true),
    ("get", "/tasks/{id}/artifacts/{artifact_type}/versions", "Versions of one artifact type, newest first", true),
    ("delete", "/tasks/{id}/artifacts/{artifact_id}", "Delete a version (soft: hidden from every view; confirmed versions cannot be deleted)", true),
    ("post", "/tasks/{id}/artifacts/{artifact_type}/generate", "Generate a new version: 202 {artifact_id, state: processing} at once (poll /artifacts/{id}/status); with ?wait=N 201 with the version, or 202 if the wait ran out", true),
    ("post", "/tasks/{id}/artifacts/{artifact_type}/regenerate", "Alias of generate", true),
    ("post", "/tasks/{id}/regenerate", "Alias of generate; artifact_type in the body (default meeting_minutes)", true),
    ("get", "/artifacts/{artifact_id}", "Artifact detail by id", true),
    ("put", "/artifacts/{artifact_id}", "Hand edit {content: Markdown | object}: a new version authored by you (one per edit session); the edited version stays", true),
    ("patch", "/artifacts/{artifact_id}", "Rename a version {display_name}", true),
    ("get", "/artifacts/{artifact_id}/status", "Generation status: processing | success | failed (with error)", true),
    ("post", "/hotword-sets", "Create a hotword set (multipart: name, scope user|tenant, asr_language, hotwords_file of word|weight lines, description)", true),
    ("get", "/hotword-sets", "Hotword sets visible to you (?scope&limit&offset)", true),
    ("get", "/hotword-sets/{id}", "One hotword set (?include_preview=true for words)", true),
    ("put", "/hotword-sets/{id}", "Replace name, description or words (multipart)", true),
    ("delete", "/hotword-sets/{id}", "Delete a hotword set you may change", true),
    ("post", "/hotwords", "Alias of POST /hotword-sets", true),
    ("get", "/hotwords", "Alias of GET /hotword-sets", true),
    ("get", "/hotwords/{id}", "Alias of GET /hotword-sets/{id}", true),
    ("put", "/hotwords/{id}", "Alias of PUT /hotword-sets/{id}", true),
    ("delete", "/hotwords/{id}", "Alias of DELETE /hotword-sets/{id}", true),
    ("post", "/api-keys", "Create an API key for yourself ({name, scopes: [read|write], expires_in_days}); the secret `key` (mk_…) is in this answer only. Not with an API key", true),
    ("get", "/api-keys", "Your API keys (tenant admins: the tenant's), without secrets", true),
    ("delete", "/api-keys/{id}", "Revoke an API key of yours (tenant admins: any of the tenant's). Not with an API key", true),
    ("get", "/quota", "The tenant's quotas: usage this month, limits, warnings from quotas.warn_at", true),
    ("get", "/billing", "Your bill from the cost ledger (?limit 1–500&offset): one `consumption` item per task of yours that was billed, newest first, amount negative in currency units", true),
    ("get", "/admin/costs", "The tenant's cost ledger for tenant admins (?tenant (operators: any)&from&to&limit&offset): totals per provider and model, and the rows", true),
    ("get", "/admin/audit", "Tenant audit log for tenant admins (?action&resource_type&resource_id&user_id&from&to&limit&offset&format=json|csv|jsonl)", true),
    ("get", "/queue/status", "Queue status for tenant admins and platform operators: per queue depth (due now), scheduled, running, dead and oldest_age_seconds, totals, workers {active, lost}, the delivery backend and the cron schedules with their next run. Tenant admins get the shared queues' numbers but dead counts of their own tenant (scope: tenant)", true),
    ("get", "/admin/workers", "The worker fleet, for platform operators: every registered worker (id, host, pid, version, queues, concurrency, running, delivery, state active|stopped|lost, started_at, last_seen_at)", true),
    ("get", "/admin/jobs", "Jobs of every kind, newest first: tenant admins their tenant's, operators all (?tenant). ?state=queued|running|done|dead|cancelled&queue&kind&task_id&limit=1-500 (default 50)&cursor (the previous page's next_cursor)", true),
    ("post", "/admin/jobs/requeue", "Requeue dead jobs: {job_ids: [...]} (1-500) or {state: dead, kind?, queue?, task_id?} (500 per call; `capped` says call again). Ids outside your reach are reported not_found", true),
    ("get", "/admin/jobs/{id}", "One job with its payload and every failed attempt (attempt, at, worker, code, detail)", true),
    ("post", "/admin/jobs/{id}/requeue", "Requeue a dead job, due now with its full attempt budget (errors kept); a dead pipeline stage also puts its failed task back to queued. 409 job_not_dead, task_moved_on", true),
    ("post", "/admin/jobs/{id}/discard", "Discard a dead job (state cancelled: it never runs again; the task or speaker it was for is left as it is). 409 job_not_dead", true),
    ("get", "/tasks/{id}/hotwords", "Hotword report: which supplied hotwords the transcript contains", true),
    ("get", "/prompt-templates", "Global templates and your private ones (?scope=global|private&artifact_type=…)", true),
    ("post", "/prompt-templates", "Create a private template (body must use {transcript}; placeholders must be declared parameters)", true),
    ("get", "/prompt-templates/{id}", "One template (global or yours)", true),
    ("put", "/prompt-templates/{id}", "Update your private template (global ones are admin-only: 403)", true),
    ("delete", "/prompt-templates/{id}", "Delete your private template (409 while a task in progress uses it)", true),
    ("get", "/folders", "Your folders, sorted by name: {items, total}", true),
    ("post", "/folders", "Create a folder (name 1–256 characters); 409 duplicate_name", true),
    ("patch", "/folders/{id}", "Rename a folder; 409 duplicate_name", true),
    ("delete", "/folders/{id}", "Delete a folder; its sessions move to the root (moved_count)", true),
    ("patch", "/sessions/{task_id}/move", "Move a session into a folder (folder_id; null = root)", true),
    ("patch", "/sessions/{task_id}/delete", "Move a session to the trash (hidden from the task endpoints)", true),
    ("patch", "/sessions/{task_id}/restore", "Restore a session from the trash", true),
    ("delete", "/sessions/{task_id}", "Delete a session permanently (in the trash or not)", true),
    ("get", "/trash/sessions", "Your sessions in the trash, most recently deleted first", true),
    ("post", "/sessions/batch-move", "Move up to 500 sessions (task_ids, folder_id); others' ids are skipped", true),
    ("post", "/sessions/batch-delete", "Move up to 500 sessions to the trash; others' ids are skipped", true),
    ("post", "/sessions/batch-restore", "Restore up to 500 sessions from the trash; others' ids are skipped", true),
    ("post", "/speakers", "Enroll a named speaker for voiceprint identification (multipart: name, consent_given=true, consent_subject, consent_text or consent_reference, consent_method, consent_version, consented_at, file = 3–60 s of their speech): 202, state `enrolling` until the engine's job makes it `active` or `failed`; 409 when no voiceprint engine is configured", true),
    ("get", "/speakers", "The tenant's speakers registry (?limit&offset), names opened", true),
    ("get", "/speakers/{id}", "One registry entry with its consent record", true),
    ("delete", "/speakers/{id}", "Erase a speaker (the member who enrolled them or a tenant admin): embeddings, name and consent wording go now (200 `erased`); a remote provider's feature by a job (202 `erasing`)", true),
    ("get", "/search", "Search your transcripts and artifacts (?q= 1–200 characters, Chinese or English; limit 1–100, default 20): {query, total, results: [{task_id, task_name, kind, segment_id|artifact_id, start_time, snippet, created_at}]}", true),
];

/// (method, path at the application root, summary, authenticated): the few routes outside
/// /api/v1, whose URLs the original frontend builds from its base URL alone.
pub const ROOT_ROUTES: &[(&str, &str, &str, bool)] = &[
    ("get", "/uploads/{key}", "Play an upload through the signed path a task view lists in `audio_files` (?tenant&expires&sig; no Authorization header): single byte ranges answer 206; a missing, tampered or expired signature 401; purged audio 410", false),
];

/// Where a route of `ROUTES` (under /api/v1) or `ROOT_ROUTES` is in the document.
pub fn document_path(path: &str) -> String {
    if ROOT_ROUTES.iter().any(|r| r.1 == path) {
        return path.to_string();
    }
    // The API root is `/api/v1` itself (no trailing slash).
    format!("/api/v1{path}").trim_end_matches('/').to_string()
}

/// The document: every `ROUTES` and `ROOT_ROUTES` entry with its parameters, request body and
/// answers.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (method, path, summary, authenticated) in ROUTES.iter().chain(ROOT_ROUTES) {
        let spec = operation(method, path).unwrap_or_else(undescribed);
        let mut params: Vec<Value> = path
            .split('/')
            .filter_map(|p| p.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_param(name)}))
            .collect();
        params.extend(spec.query);
        let mut responses = Map::new();
        for (status, content) in spec.answers {
            let mut answer = json!({"description": reason(status)});
            if let Some(content) = content {
                answer["content"] = content;
            }
            responses.insert(status.to_string(), answer);
        }
        responses.insert(
            "default".into(),
            json!({"description": "Error", "content": {"application/json": {"schema": schema_ref("Error")}}}),
        );
        let mut op = json!({"summary": summary, "parameters": params, "responses": responses});
        if let Some(body) = spec.body {
            op["requestBody"] = body;
        }
        if *authenticated {
            op["security"] = json!([{"bearer": []}, {"api_key": []}]);
        }
        let entry = paths
            .entry(document_path(path))
            .or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "minutes", "version": VERSION,
                 "description": "Meeting recordings in, speaker-attributed versioned minutes out."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or mk_ API key"},
                "api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": schemas(),
        }
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted: still running",
        204 => "Done, no content",
        206 => "Partial content: the requested byte range",
        503 => "Not ready",
        _ => "Answer",
    }
}

pub fn swagger_ui<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    SwaggerUi::new("/docs")
        .external_url_unchecked("/openapi.json", document())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_parameters_body_and_answers_described() {
        let missing: Vec<_> = ROUTES
            .iter()
            .chain(ROOT_ROUTES)
            .filter(|(m, p, _, _)| operation(m, p).is_none())
            .map(|(m, p, _, _)| format!("{m} {p}"))
            .collect();
        assert!(
            missing.is_empty(),
            "add these to operations.rs: {missing:?}"
        );
        let doc = document();
        assert!(
            doc["paths"]["/api/v1"]["get"].is_object(),
            "the root has no trailing slash"
        );
        assert!(doc["paths"]["/api/v1/tasks"]["post"]["responses"]["201"].is_object());
    }
}
