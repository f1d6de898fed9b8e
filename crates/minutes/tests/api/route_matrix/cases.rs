//! The table: per route (and variant) the request, built from the fixture's ids, who the valid
//! caller is, and the expected statuses.
use serde_json::{json, Value};

use super::fixture::{tiny_wav, Fx};
use super::{Cred, Who};

pub(super) enum Payload {
    None,
    Json(Value),
    /// Multipart fields: (name, file name, bytes).
    Form(Vec<(&'static str, Option<&'static str>, Vec<u8>)>),
}

pub(super) struct Req {
    pub(super) uri: String,
    pub(super) payload: Payload,
}

impl Req {
    /// Everything the caller sent: a secret the caller supplied may be echoed back.
    pub(super) fn text(&self) -> String {
        let payload = match &self.payload {
            Payload::None => String::new(),
            Payload::Json(v) => v.to_string(),
            Payload::Form(fields) => fields
                .iter()
                .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
                .collect(),
        };
        format!("{} {payload}", self.uri)
    }
}

fn bare(uri: String) -> Req {
    Req {
        uri,
        payload: Payload::None,
    }
}

fn with_json(uri: String, body: Value) -> Req {
    Req {
        uri,
        payload: Payload::Json(body),
    }
}

fn with_form(uri: String, fields: Vec<(&'static str, Option<&'static str>, Vec<u8>)>) -> Req {
    Req {
        uri,
        payload: Payload::Form(fields),
    }
}

pub(super) fn hotword_form(
    name: &str,
    scope: &str,
) -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    vec![
        ("name", None, name.as_bytes().to_vec()),
        ("scope", None, scope.as_bytes().to_vec()),
        ("asr_language", None, b"zh-CN".to_vec()),
        (
            "hotwords_file",
            Some("words.txt"),
            b"matrixword|5\n".to_vec(),
        ),
    ]
}

pub(super) struct Case {
    pub(super) method: &'static str,
    /// The path as in `ROUTES` (under /api/v1) or `ROOT_ROUTES` (at the application root).
    pub(super) path: &'static str,
    /// Which resource or role the entry exercises (a route may have several entries).
    variant: &'static str,
    pub(super) who: Who,
    /// Expected status for (valid, other user, other tenant).
    expect: (u16, u16, u16),
    pub(super) request: fn(&Fx) -> Req,
}

impl Case {
    pub(super) fn expected(&self, cred: Cred) -> Option<u16> {
        match (self.who, cred) {
            (Who::Public, _) => Some(self.expect.0),
            (_, c) if c.unauthenticated() => Some(401),
            (_, Cred::Valid) => Some(self.expect.0),
            (_, Cred::OtherUser) => Some(self.expect.1),
            (_, Cred::OtherTenant) => Some(self.expect.2),
            // The owner is a member: for owner routes that cell is the valid one.
            (Who::Owner, _) => None,
            _ => Some(403),
        }
    }

    pub(super) fn label(&self, cred: Cred) -> String {
        format!(
            "{} {} [{}] with {}",
            self.method.to_uppercase(),
            self.path,
            self.variant,
            cred.name()
        )
    }
}

fn case(
    method: &'static str,
    path: &'static str,
    variant: &'static str,
    who: Who,
    expect: (u16, u16, u16),
    request: fn(&Fx) -> Req,
) -> Case {
    Case {
        method,
        path,
        variant,
        who,
        expect,
        request,
    }
}

pub(super) const V: &str = "/api/v1";

/// The matrix. `expect` is (valid, other user, other tenant); no token / expired / wrong
/// audience are 401 on every authenticated route, members get 403 on admin and operator routes.
/// Mutating routes each have a resource of their own (`Fx`).
#[rustfmt::skip]
pub(super) fn cases() -> Vec<Case> {
    use Who::*;
    let own = (200, 404, 404);
    let anyone = (200, 200, 200);
    let creates = (201, 201, 201);
    vec![
        case("get", "/", "root", Public, anyone, |_| bare(V.into())),
        case("get", "/health", "liveness", Public, anyone, |_| bare(format!("{V}/health"))),
        case("get", "/ready", "readiness", Public, anyone, |_| bare(format!("{V}/ready"))),
        case("get", "/metrics", "prometheus", Public, anyone, |_| bare(format!("{V}/metrics"))),
        case("post", "/auth/dev/login", "dev login", Public, anyone, |_| {
            with_json(format!("{V}/auth/dev/login"), json!({"username": "matrix"}))
        }),
        // Needs no other credential; a token that was never issued is refused alike for everyone.
        case("post", "/auth/refresh", "unknown refresh token", Public, (401, 401, 401), |_| {
            with_json(format!("{V}/auth/refresh"), json!({"refresh_token": format!("mr_{}", "0".repeat(64))}))
        }),
        // Uploads
        case("post", "/upload", "new upload", Owner, creates, |_| {
            with_form(format!("{V}/upload"), vec![("file", Some("m.wav"), tiny_wav())])
        }),
        case("delete", "/upload/{file_path}", "unused upload", Owner, (204, 404, 404), |f| {
            bare(format!("{V}/upload/{}", f.upload_delete))
        }),
        // Whether a key is in use is the owner's business: others get 404, not 409.
        case("delete", "/upload/{file_path}", "upload used by a task", Owner, (409, 404, 404), |f| {
            bare(format!("{V}/upload/{}", f.upload_used))
        }),
        // Tasks
        case("post", "/tasks", "from the owner's upload", Owner, (201, 400, 400), |f| {
            with_json(format!("{V}/tasks"), task_body(&f.upload, "matrix new task"))
        }),
        case("post", "/tasks/estimate", "ten minutes", Owner, anyone, |_| {
            with_json(format!("{V}/tasks/estimate"), json!({"audio_duration": 600}))
        }),
        case("get", "/tasks/{id}/cost", "finished task", Owner, own, |f| bare(format!("{V}/tasks/{}/cost", f.task))),
        case("get", "/tasks", "list", Owner, anyone, |_| bare(format!("{V}/tasks?include_deleted=true"))),
        case("get", "/tasks/{id}", "finished task", Owner, own, |f| bare(format!("{V}/tasks/{}", f.task))),
        case("delete", "/tasks/{id}", "task", Owner, (204, 404, 404), |f| bare(format!("{V}/tasks/{}", f.task_delete))),
        case("get", "/tasks/{id}/status", "finished task", Owner, own, |f| bare(format!("{V}/tasks/{}/status", f.task))),
        case("post", "/sse/tickets", "finished task", Owner, (201, 404, 404), |f| {
            with_json(format!("{V}/sse/tickets"), json!({"task_id": f.task}))
        }),
        // As in the original, someone else's task is an `error` event in a 200 stream, not a 404.
        case("get", "/sse/tasks/{task_id}/progress", "finished task", Owner, anyone, |f| {
            bare(format!("{V}/sse/tasks/{}/progress", f.task))
        }),
        case("patch", "/tasks/{id}/rename", "finished task", Owner, own, |f| {
            with_json(format!("{V}/tasks/{}/rename", f.task), json!({"name": "renamed"}))
        }),
        case("post", "/tasks/{id}/cancel", "queued task", Owner, own, |f| bare(format!("{V}/tasks/{}/cancel", f.task_queued))),
        case("post", "/tasks/{id}/retry", "cancelled task", Owner, own, |f| bare(format!("{V}/tasks/{}/retry", f.task_cancelled))),
        case("get", "/tasks/{id}/history", "finished task", Owner, own, |f| bare(format!("{V}/tasks/{}/history", f.task))),
        case("get", "/tasks/{id}/transcript", "finished task", Owner, own, |f| bare(format!("{V}/tasks/{}/transcript", f.task))),
        case("put", "/tasks/{id}/transcript", "full-text correction", Owner, own, |f| {
            with_json(format!("{V}/tasks/{}/transcript", f.task),
                      json!({"corrected_text": "matrix corrected text", "regenerate_artifacts": false}))
        }),
        case("get", "/tasks/{id}/transcript/revisions", "finished task", Owner, own, |f| {
            bare(format!("{V}/tasks/{}/transcript/revisions", f.task))
        }),
        case("get", "/tasks/{id}/transcript/diff", "from revision 1", Owner, own, |f| {
            bare(format!("{V}/tasks/{}/transcript/diff?from=1", f.task))
        }),
        case("patch", "/tasks/{id}/speakers", "rename a label", Owner, own, |f| {
            with_json(format!("{V}/tasks/{}/speakers", f.task), json!({"speaker_mapping": {"Speaker 2": "Matrix Person"}}))
        }),
        case("post", "/tasks/{id}/confirm", "finished task", Owner, own, |f| {
            with_json(format!("{V}/tasks/{}/confirm", f.task_confirm),
                      json!({"confirmation_items": {"key_conclusions": true, "responsible_persons": true},
                             "responsible_person": {"id": "p1", "name": "Matrix Person"}}))
        }),
        case("get", "/tasks/{id}/export", "markdown", Owner, own, |f| bare(format!("{V}/tasks/{}/export?format=md", f.task))),
        case("get", "/tasks/{id}/hotwords", "finished task", Owner, own, |f| bare(format!("{V}/tasks/{}/hotwords", f.task))),
        // Artifacts
        case("get", "/tasks/{id}/artifacts", "finished task", Owner, own, |f| bare(format!("{V}/tasks/{}/artifacts", f.task))),
        case("get", "/tasks/{id}/artifacts/{artifact_id}", "minutes v1", Owner, own, |f| {
            bare(format!("{V}/tasks/{}/artifacts/{}", f.task, f.artifact))
        }),
        case("get", "/tasks/{id}/artifacts/{artifact_type}/versions", "meeting_minutes", Owner, own, |f| {
            bare(format!("{V}/tasks/{}/artifacts/meeting_minutes/versions", f.task))
        }),
        case("post", "/tasks/{id}/artifacts/{artifact_type}/generate", "queued (wait=0)", Owner, (202, 404, 404), |f| {
            bare(format!("{V}/tasks/{}/artifacts/action_items/generate?wait=0", f.task))
        }),
        case("post", "/tasks/{id}/artifacts/{artifact_type}/regenerate", "queued (wait=0)", Owner, (202, 404, 404), |f| {
            bare(format!("{V}/tasks/{}/artifacts/meeting_minutes/regenerate?wait=0", f.task))
        }),
        case("post", "/tasks/{id}/regenerate", "queued (wait=0)", Owner, (202, 404, 404), |f| {
            bare(format!("{V}/tasks/{}/regenerate?wait=0", f.task))
        }),
        case("get", "/artifacts/{artifact_id}", "minutes v1", Owner, own, |f| bare(format!("{V}/artifacts/{}", f.artifact))),
        case("get", "/artifacts/{artifact_id}/status", "minutes v1", Owner, own, |f| bare(format!("{V}/artifacts/{}/status", f.artifact))),
        case("put", "/artifacts/{artifact_id}", "hand edit", Owner, own, |f| {
            with_json(format!("{V}/artifacts/{}", f.artifact_edit), json!({"content": "# Matrix edit"}))
        }),
        case("patch", "/artifacts/{artifact_id}", "rename", Owner, own, |f| {
            with_json(format!("{V}/artifacts/{}", f.artifact_edit), json!({"display_name": "matrix name"}))
        }),
        case("delete", "/tasks/{id}/artifacts/{artifact_id}", "a version", Owner, own, |f| {
            bare(format!("{V}/tasks/{}/artifacts/{}", f.task_edit, f.artifact_delete))
        }),
        // Hotword sets: user scope (the owner's), tenant scope (admins change), global (operators change)
        case("post", "/hotword-sets", "user scope", Owner, creates, |_| {
            with_form(format!("{V}/hotword-sets"), hotword_form("matrix new set", "user"))
        }),
        case("post", "/hotword-sets", "tenant scope", Admin, (201, 403, 201), |_| {
            with_form(format!("{V}/hotword-sets"), hotword_form("matrix new tenant set", "tenant"))
        }),
        case("post", "/hotword-sets", "global scope", Operator, (201, 403, 403), |_| {
            with_form(format!("{V}/hotword-sets"), hotword_form("matrix new global set", "global"))
        }),
        case("get", "/hotword-sets", "list", Owner, anyone, |_| bare(format!("{V}/hotword-sets?limit=1000"))),
        case("get", "/hotword-sets/{id}", "user set", Owner, own, |f| {
            bare(format!("{V}/hotword-sets/{}?include_preview=true", f.hotwords))
        }),
        case("get", "/hotword-sets/{id}", "tenant set", Owner, (200, 200, 404), |f| {
            bare(format!("{V}/hotword-sets/{}?include_preview=true", f.tenant_hotwords))
        }),
        case("put", "/hotword-sets/{id}", "user set", Owner, own, |f| {
            with_form(format!("{V}/hotword-sets/{}", f.hotwords), describe("changed"))
        }),
        case("put", "/hotword-sets/{id}", "tenant set", Admin, (200, 403, 404), |f| {
            with_form(format!("{V}/hotword-sets/{}", f.tenant_hotwords), describe("changed"))
        }),
        case("put", "/hotword-sets/{id}", "global set", Operator, (200, 403, 403), |f| {
            with_form(format!("{V}/hotword-sets/{}", f.global_hotwords), describe("changed"))
        }),
        case("delete", "/hotword-sets/{id}", "user set", Owner, own, |f| bare(format!("{V}/hotword-sets/{}", f.hotwords_delete))),
        case("delete", "/hotword-sets/{id}", "tenant set", Admin, (200, 403, 404), |f| {
            bare(format!("{V}/hotword-sets/{}", f.tenant_hotwords_delete))
        }),
        case("delete", "/hotword-sets/{id}", "global set", Operator, (200, 403, 403), |f| {
            bare(format!("{V}/hotword-sets/{}", f.global_hotwords_delete))
        }),
        // The /hotwords aliases (the same handlers)
        case("post", "/hotwords", "user scope", Owner, creates, |_| {
            with_form(format!("{V}/hotwords"), hotword_form("matrix new set 2", "user"))
        }),
        case("get", "/hotwords", "list", Owner, anyone, |_| bare(format!("{V}/hotwords"))),
        case("get", "/hotwords/{id}", "user set", Owner, own, |f| bare(format!("{V}/hotwords/{}", f.hotwords))),
        case("put", "/hotwords/{id}", "user set", Owner, own, |f| {
            with_form(format!("{V}/hotwords/{}", f.hotwords), describe("changed again"))
        }),
        case("delete", "/hotwords/{id}", "user set", Owner, own, |f| bare(format!("{V}/hotwords/{}", f.hotwords_delete_alias))),
        // API keys, quota, audit
        case("post", "/api-keys", "own key", Owner, creates, |_| with_json(format!("{V}/api-keys"), json!({"name": "matrix new key"}))),
        case("get", "/api-keys", "list", Owner, anyone, |_| bare(format!("{V}/api-keys"))),
        case("delete", "/api-keys/{id}", "own key", Owner, (204, 404, 404), |f| bare(format!("{V}/api-keys/{}", f.api_key_delete))),
        case("get", "/quota", "tenant quota", Owner, anyone, |_| bare(format!("{V}/quota"))),
        // The caller's own billed tasks only: others get 200 with their (empty) bill.
        case("get", "/billing", "the owner's bill", Owner, anyone, |_| bare(format!("{V}/billing"))),
        // At the application root. The signature is the credential, whatever token comes along.
        case("get", "/uploads/{key}", "signed playback path", Public, anyone, |f| bare(format!("/{}", f.media))),
        case("get", "/uploads/{key}", "no signature", Public, (401, 401, 401), |f| bare(format!("/{}", f.upload_used))),
        // The other tenant's caller is an admin there: 200, with their own tenant's entries only.
        case("get", "/admin/audit", "tenant audit log", Admin, (200, 403, 200), |_| bare(format!("{V}/admin/audit?limit=10000"))),
        case("get", "/admin/costs", "tenant ledger", Admin, (200, 403, 200), |_| bare(format!("{V}/admin/costs"))),
        // The queue: shared depth numbers for any tenant's admin (dead counts of their own
        // tenant); the fleet for operators only; dead letters of the admin's own tenant (another
        // tenant's admin: 404 for an id, 200 with nothing for lists and batches).
        case("get", "/queue/status", "shared queues, own dead counts", Admin, (200, 403, 200), |_| bare(format!("{V}/queue/status"))),
        case("get", "/admin/workers", "the fleet", Operator, (200, 403, 403), |_| bare(format!("{V}/admin/workers"))),
        case("get", "/admin/jobs", "the tenant's dead jobs", Admin, (200, 403, 200), |_| bare(format!("{V}/admin/jobs?state=dead&limit=500"))),
        case("get", "/admin/jobs/{id}", "tenant dead job", Admin, (200, 403, 404), |f| bare(format!("{V}/admin/jobs/{}", f.job_dead))),
        case("post", "/admin/jobs/{id}/requeue", "tenant dead job", Admin, (200, 403, 404), |f| bare(format!("{V}/admin/jobs/{}/requeue", f.job_requeue))),
        case("post", "/admin/jobs/requeue", "tenant dead job by id", Admin, (200, 403, 200), |f| {
            with_json(format!("{V}/admin/jobs/requeue"), json!({"job_ids": [f.job_requeue_batch]}))
        }),
        case("post", "/admin/jobs/{id}/discard", "tenant dead job", Admin, (200, 403, 404), |f| bare(format!("{V}/admin/jobs/{}/discard", f.job_discard))),
        // Prompt templates
        case("get", "/prompt-templates", "list", Owner, anyone, |_| bare(format!("{V}/prompt-templates"))),
        case("post", "/prompt-templates", "private template", Owner, creates, |_| {
            with_json(format!("{V}/prompt-templates"), template_body("matrix new template"))
        }),
        case("get", "/prompt-templates/{id}", "private template", Owner, own, |f| bare(format!("{V}/prompt-templates/{}", f.template))),
        case("put", "/prompt-templates/{id}", "private template", Owner, own, |f| {
            with_json(format!("{V}/prompt-templates/{}", f.template), json!({"description": "changed"}))
        }),
        case("delete", "/prompt-templates/{id}", "private template", Owner, own, |f| {
            bare(format!("{V}/prompt-templates/{}", f.template_delete))
        }),
        // Folders and sessions
        case("get", "/folders", "list", Owner, anyone, |_| bare(format!("{V}/folders"))),
        case("post", "/folders", "new folder", Owner, creates, |_| with_json(format!("{V}/folders"), json!({"name": "matrix new folder"}))),
        case("patch", "/folders/{id}", "rename", Owner, own, |f| {
            with_json(format!("{V}/folders/{}", f.folder), json!({"name": "matrix renamed folder"}))
        }),
        case("delete", "/folders/{id}", "folder", Owner, own, |f| bare(format!("{V}/folders/{}", f.folder_delete))),
        case("patch", "/sessions/{task_id}/move", "to the root", Owner, own, |f| {
            with_json(format!("{V}/sessions/{}/move", f.task), json!({"folder_id": null}))
        }),
        case("patch", "/sessions/{task_id}/delete", "to the trash", Owner, own, |f| bare(format!("{V}/sessions/{}/delete", f.task_trash))),
        case("patch", "/sessions/{task_id}/restore", "from the trash", Owner, own, |f| {
            bare(format!("{V}/sessions/{}/restore", f.task_trashed))
        }),
        case("delete", "/sessions/{task_id}", "purge", Owner, own, |f| bare(format!("{V}/sessions/{}", f.task_purge))),
        case("get", "/trash/sessions", "list", Owner, anyone, |_| bare(format!("{V}/trash/sessions"))),
        // Batches skip ids that are not the caller's: 200 with a count of 0.
        case("post", "/sessions/batch-move", "owner's task to the root", Owner, anyone, |f| {
            with_json(format!("{V}/sessions/batch-move"), json!({"task_ids": [f.task], "folder_id": null}))
        }),
        case("post", "/sessions/batch-delete", "owner's task", Owner, anyone, |f| {
            with_json(format!("{V}/sessions/batch-delete"), json!({"task_ids": [f.task_batch_delete]}))
        }),
        case("post", "/sessions/batch-restore", "owner's trashed task", Owner, anyone, |f| {
            with_json(format!("{V}/sessions/batch-restore"), json!({"task_ids": [f.task_batch_trashed]}))
        }),
        case("get", "/search", "a word of the owner's transcript", Owner, anyone, |_| bare(format!("{V}/search?q=Redis"))),
        // Speakers registry: the tenant's members read it, the member who enrolled a speaker (or a
        // tenant admin) erases, other tenants see nothing. The matrix app has no voiceprint
        // engine, so enrolling is refused (409) for everyone and creates nothing.
        case("post", "/speakers", "no voiceprint engine", Owner, (409, 409, 409), |_| {
            with_form(format!("{V}/speakers"), vec![
                ("name", None, b"matrix speaker".to_vec()),
                ("consent_given", None, b"true".to_vec()),
                ("consent_subject", None, b"matrix speaker".to_vec()),
                ("consent_text", None, b"I agree.".to_vec()),
                ("file", Some("s.wav"), tiny_wav()),
            ])
        }),
        case("get", "/speakers", "list", Owner, anyone, |_| bare(format!("{V}/speakers?limit=1000"))),
        case("get", "/speakers/{id}", "tenant speaker", Owner, (200, 200, 404), |f| bare(format!("{V}/speakers/{}", f.speaker))),
        case("delete", "/speakers/{id}", "enrolled by the owner", Owner, (200, 403, 404), |f| {
            bare(format!("{V}/speakers/{}", f.speaker_erase))
        }),
    ]
}

fn describe(text: &str) -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    vec![("description", None, text.as_bytes().to_vec())]
}

pub(super) fn task_body(upload: &str, name: &str) -> Value {
    json!({
        "audio_files": [upload], "meeting_type": "standup", "name": name,
        "asr_language": "zh-CN", "output_language": "zh-CN",
        "prompt_instance": {"template_id": "meeting_minutes", "parameters": {"meeting_description": "matrix"}}
    })
}

pub(super) fn template_body(title: &str) -> Value {
    json!({
        "title": title, "prompt_body": "Summarize the meeting.\n{transcript}",
        "artifact_type": "meeting_minutes", "supported_languages": ["zh-CN"]
    })
}
