//! The fixture (the owner's resources, one per route that changes or removes one) and its
//! snapshot (what must not change under foreign credentials).
use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::cases::{hotword_form, task_body, template_body, V};
use super::{Tokens, MARK, OWNER, TENANT, TENANT_MARK, TRANSCRIPT_PHRASE};
use crate::helpers::TestApp;

/// The fixture's ids. Routes that change or remove a resource get a resource of their own, so
/// the valid pass (which runs last) never disturbs another route's target.
#[derive(Debug, Default)]
pub(super) struct Fx {
    /// A finished task (transcript, speaker mapping, meeting_minutes v1): the read target.
    pub(super) task: String,
    pub(super) artifact: String,
    /// A finished task for confirm (which archives it).
    pub(super) task_confirm: String,
    /// A finished task whose versions are edited, renamed and deleted.
    pub(super) task_edit: String,
    pub(super) artifact_edit: String,
    pub(super) artifact_delete: String,
    pub(super) task_queued: String,
    pub(super) task_cancelled: String,
    pub(super) task_delete: String,
    pub(super) task_trash: String,
    pub(super) task_trashed: String,
    pub(super) task_purge: String,
    pub(super) task_batch_delete: String,
    pub(super) task_batch_trashed: String,
    pub(super) upload: String,
    pub(super) upload_delete: String,
    /// An upload of `task`.
    pub(super) upload_used: String,
    /// The signed playback path of `upload_used` from the task view (`audio_files[0]`).
    pub(super) media: String,
    pub(super) template: String,
    pub(super) template_delete: String,
    pub(super) hotwords: String,
    pub(super) hotwords_delete: String,
    pub(super) hotwords_delete_alias: String,
    pub(super) tenant_hotwords: String,
    pub(super) tenant_hotwords_delete: String,
    pub(super) global_hotwords: String,
    pub(super) global_hotwords_delete: String,
    pub(super) folder: String,
    pub(super) folder_delete: String,
    pub(super) api_key: String,
    pub(super) api_key_delete: String,
    /// Speakers-registry entries enrolled by the owner (the tenant's members see them).
    pub(super) speaker: String,
    pub(super) speaker_erase: String,
    /// Dead jobs of the owner's tenant: inspected, requeued (alone and in a batch), discarded.
    pub(super) job_dead: String,
    pub(super) job_requeue: String,
    pub(super) job_requeue_batch: String,
    pub(super) job_discard: String,
}

impl Fx {
    /// Ids and names only the owner may see (the other user and the other tenant must not).
    pub(super) fn user_secrets(&self) -> Vec<&str> {
        let mut s = vec![MARK, TRANSCRIPT_PHRASE, OWNER];
        s.extend(
            [
                &self.task,
                &self.artifact,
                &self.task_confirm,
                &self.task_edit,
                &self.artifact_edit,
                &self.artifact_delete,
                &self.task_queued,
                &self.task_cancelled,
                &self.task_delete,
                &self.task_trash,
                &self.task_trashed,
                &self.task_purge,
                &self.task_batch_delete,
                &self.task_batch_trashed,
                &self.upload,
                &self.upload_delete,
                &self.upload_used,
                &self.template,
                &self.template_delete,
                &self.hotwords,
                &self.hotwords_delete,
                &self.hotwords_delete_alias,
                &self.folder,
                &self.folder_delete,
                &self.api_key,
                &self.api_key_delete,
            ]
            .map(String::as_str),
        );
        s
    }

    /// What only the owner's tenant may see.
    pub(super) fn tenant_secrets(&self) -> Vec<&str> {
        vec![
            TENANT,
            TENANT_MARK,
            &self.tenant_hotwords,
            &self.tenant_hotwords_delete,
            &self.speaker,
            &self.speaker_erase,
            &self.job_dead,
            &self.job_requeue,
            &self.job_requeue_batch,
            &self.job_discard,
        ]
    }

    fn jobs(&self) -> [&String; 4] {
        [
            &self.job_dead,
            &self.job_requeue,
            &self.job_requeue_batch,
            &self.job_discard,
        ]
    }
}

/// Half a second of 16 kHz mono silence: a real WAV for the upload sniffer.
pub(super) fn tiny_wav() -> Vec<u8> {
    let data_len: u32 = 16_000;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&16_000u32.to_le_bytes());
    w.extend_from_slice(&32_000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w.resize(44 + data_len as usize, 0);
    w
}

async fn ok(t: &TestApp, method: Method, uri: &str, token: &str, body: Option<Value>) -> Value {
    let (code, answer) = match body {
        Some(b) => t.send_json(method.clone(), uri, token, &b).await,
        None => {
            t.request(method.clone(), uri, Some(token), Body::empty(), None)
                .await
        }
    };
    assert!(
        code.is_success(),
        "fixture: {method} {uri} → {code}: {answer}"
    );
    answer
}

fn id(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("fixture: no `{field}` in {v}"))
        .to_string()
}

async fn upload(t: &TestApp, token: &str) -> String {
    let (code, body) = t.upload_bytes(token, "matrix.wav", tiny_wav()).await;
    assert_eq!(code, StatusCode::CREATED, "fixture upload: {body}");
    id(&body, "file_path")
}

/// A queued task of the owner (its prepare_audio job is never run).
async fn queued_task(t: &TestApp, token: &str, name: &str) -> String {
    let key = upload(t, token).await;
    let body = task_body(&key, &format!("{MARK} {name}"));
    id(
        &ok(t, Method::POST, &format!("{V}/tasks"), token, Some(body)).await,
        "task_id",
    )
}

/// A cancelled task (not an active pipeline, so the fixture stays far below the quota).
async fn cancelled_task(t: &TestApp, token: &str, name: &str) -> String {
    let task = queued_task(t, token, name).await;
    ok(
        t,
        Method::POST,
        &format!("{V}/tasks/{task}/cancel"),
        token,
        None,
    )
    .await;
    task
}

async fn trashed_task(t: &TestApp, token: &str, name: &str) -> String {
    let task = cancelled_task(t, token, name).await;
    ok(
        t,
        Method::PATCH,
        &format!("{V}/sessions/{task}/delete"),
        token,
        None,
    )
    .await;
    task
}

async fn hotword_set(t: &TestApp, token: &str, name: &str, scope: &str) -> String {
    let fields = hotword_form(name, scope);
    let borrowed: Vec<(&str, Option<&str>, &[u8])> = fields
        .iter()
        .map(|(n, f, b)| (*n, *f, b.as_slice()))
        .collect();
    let (code, body) = t
        .multipart(Method::POST, &format!("{V}/hotword-sets"), token, &borrowed)
        .await;
    assert_eq!(code, StatusCode::CREATED, "fixture hotword set: {body}");
    id(&body, "hotword_set_id")
}

/// A registry entry enrolled by the owner, written through the store: the matrix app has no
/// voiceprint engine (its enrollment job, never run, is counted in the snapshot like others).
async fn speaker(t: &TestApp, name: &str) -> String {
    let now = chrono::Utc::now();
    let s = minutes::store::SpeakerRecord {
        id: minutes::domain::ids::new_id("spk"),
        tenant_id: TENANT.into(),
        name: Some(name.into()),
        provider: "local-campplus".into(),
        provider_feature_id: None,
        state: "enrolling".into(),
        error: None,
        sample_seconds: Some(10.0),
        consent_subject: Some(name.into()),
        consent_text: Some("I agree.".into()),
        consent_reference: None,
        consent_method: "electronic".into(),
        consent_version: "1".into(),
        consented_at: now,
        created_by: OWNER.into(),
        created_at: now,
        updated_at: now,
        erased_at: None,
        erased_by: None,
    };
    let job = minutes::pipeline::voiceprints::enroll_job(&t.app, TENANT, &s.id);
    t.app.store.create_speaker(&s, &job).await.unwrap();
    s.id
}

/// A dead job of the owner's tenant (a no-op that failed its only attempt), made through the
/// store: a target of the dead-letter routes.
async fn dead_job(t: &TestApp) -> String {
    let now = minutes::queue::Clock::now_ms(&*t.clock);
    let id = minutes::domain::ids::job_id();
    let job = minutes::store::NewJob {
        id: id.clone(),
        queue: "maintenance".into(),
        kind: "noop".into(),
        task_id: None,
        tenant_id: Some(TENANT.into()),
        payload: json!({"v": 1}),
        priority: 0,
        max_attempts: 1,
        run_at_ms: now,
    };
    t.app.store.enqueue(&job).await.unwrap();
    let queues = ["maintenance".to_string()];
    let claimed = t
        .app
        .store
        .claim_job_by_id(&id, &queues, "matrix-worker", 30_000, now)
        .await
        .unwrap()
        .expect("the fixture's job is claimable");
    t.app
        .store
        .fail_job(&claimed.lease(), "matrix_failure: a dead letter", None)
        .await
        .unwrap();
    id
}

pub(super) async fn fixture(t: &TestApp, tok: &Tokens) -> Fx {
    let alice = tok.owner.as_str();
    let mut f = Fx {
        task: t.create_two_part_task(alice).await,
        task_confirm: t.create_two_part_task(alice).await,
        task_edit: t.create_two_part_task(alice).await,
        ..Fx::default()
    };
    t.run_jobs_until_idle().await;
    for task in [&f.task, &f.task_confirm, &f.task_edit] {
        assert_eq!(t.task_status(alice, task).await["state"], "success");
        let uri = format!("{V}/tasks/{task}/rename");
        ok(
            t,
            Method::PATCH,
            &uri,
            alice,
            Some(json!({"name": format!("{MARK} finished")})),
        )
        .await;
    }
    let detail = ok(
        t,
        Method::GET,
        &format!("{V}/tasks/{}", f.task),
        alice,
        None,
    )
    .await;
    f.upload_used = detail["files"][0]["object_key"]
        .as_str()
        .unwrap()
        .to_string();
    f.media = detail["audio_files"][0].as_str().unwrap().to_string();
    let artifacts = ok(
        t,
        Method::GET,
        &format!("{V}/tasks/{}/artifacts", f.task),
        alice,
        None,
    )
    .await;
    f.artifact = id(
        &artifacts["artifacts_by_type"]["meeting_minutes"][0],
        "artifact_id",
    );
    let edits = ok(
        t,
        Method::GET,
        &format!("{V}/tasks/{}/artifacts", f.task_edit),
        alice,
        None,
    )
    .await;
    f.artifact_edit = id(
        &edits["artifacts_by_type"]["meeting_minutes"][0],
        "artifact_id",
    );
    // A second version to delete, so the edit target stays.
    let v1 = t
        .app
        .store
        .get_artifact(TENANT, &f.artifact_edit)
        .await
        .unwrap()
        .unwrap();
    let mut v2 = minutes::store::NewArtifact::from_record(&v1, TENANT);
    v2.id = minutes::domain::ids::artifact_id();
    f.artifact_delete = t.app.store.insert_artifact(&v2).await.unwrap().id;

    f.task_queued = queued_task(t, alice, "queued").await;
    f.task_cancelled = cancelled_task(t, alice, "cancelled").await;
    f.task_delete = cancelled_task(t, alice, "to delete").await;
    f.task_trash = cancelled_task(t, alice, "to trash").await;
    f.task_purge = cancelled_task(t, alice, "to purge").await;
    f.task_batch_delete = cancelled_task(t, alice, "to batch-delete").await;
    f.task_trashed = trashed_task(t, alice, "trashed").await;
    f.task_batch_trashed = trashed_task(t, alice, "batch-trashed").await;
    f.upload = upload(t, alice).await;
    f.upload_delete = upload(t, alice).await;

    let tpl = |title: &str| template_body(&format!("{MARK} {title}"));
    let uri = format!("{V}/prompt-templates");
    f.template = id(
        &ok(t, Method::POST, &uri, alice, Some(tpl("template"))).await,
        "template_id",
    );
    f.template_delete = id(
        &ok(t, Method::POST, &uri, alice, Some(tpl("to delete"))).await,
        "template_id",
    );

    f.hotwords = hotword_set(t, alice, &format!("{MARK} set"), "user").await;
    f.hotwords_delete = hotword_set(t, alice, &format!("{MARK} set 2"), "user").await;
    f.hotwords_delete_alias = hotword_set(t, alice, &format!("{MARK} set 3"), "user").await;
    let admin = tok.admin.as_str();
    f.tenant_hotwords = hotword_set(t, admin, &format!("{TENANT_MARK} glossary"), "tenant").await;
    f.tenant_hotwords_delete =
        hotword_set(t, admin, &format!("{TENANT_MARK} glossary 2"), "tenant").await;
    let operator = tok.operator.as_str();
    f.global_hotwords = hotword_set(t, operator, "matrix global glossary", "global").await;
    f.global_hotwords_delete = hotword_set(t, operator, "matrix global glossary 2", "global").await;

    let uri = format!("{V}/folders");
    let folder = |n: &str| Some(json!({"name": format!("{MARK} {n}")}));
    f.folder = id(
        &ok(t, Method::POST, &uri, alice, folder("folder")).await,
        "folder_id",
    );
    f.folder_delete = id(
        &ok(t, Method::POST, &uri, alice, folder("to delete")).await,
        "folder_id",
    );

    f.speaker = speaker(t, &format!("{TENANT_MARK} speaker")).await;
    f.speaker_erase = speaker(t, &format!("{TENANT_MARK} speaker 2")).await;

    f.job_dead = dead_job(t).await;
    f.job_requeue = dead_job(t).await;
    f.job_requeue_batch = dead_job(t).await;
    f.job_discard = dead_job(t).await;

    let uri = format!("{V}/api-keys");
    let key = |n: &str| Some(json!({"name": format!("{MARK} {n}"), "scopes": ["read", "write"]}));
    f.api_key = id(&ok(t, Method::POST, &uri, alice, key("key")).await, "id");
    f.api_key_delete = id(
        &ok(t, Method::POST, &uri, alice, key("to revoke")).await,
        "id",
    );
    f
}

/// Everything the owner (and the owner's tenant admin) can see of the fixture, plus the uploads
/// and the number of unfinished jobs: equal before and after the foreign credentials ran.
pub(super) async fn snapshot(t: &TestApp, f: &Fx, tok: &Tokens) -> BTreeMap<String, Value> {
    let alice = tok.owner.as_str();
    let mut uris = vec![
        format!("{V}/tasks?include_deleted=true&limit=1000"),
        format!("{V}/trash/sessions"),
        format!("{V}/hotword-sets?limit=1000"),
        format!("{V}/prompt-templates"),
        format!("{V}/folders"),
        format!("{V}/api-keys"),
        format!("{V}/speakers?limit=1000"),
        format!("{V}/speakers/{}", f.speaker),
        format!("{V}/speakers/{}", f.speaker_erase),
    ];
    for task in [&f.task, &f.task_confirm] {
        uris.push(format!("{V}/tasks/{task}/transcript"));
        uris.push(format!("{V}/tasks/{task}/transcript/revisions"));
        uris.push(format!("{V}/tasks/{task}/artifacts"));
    }
    for set in [
        &f.hotwords,
        &f.hotwords_delete,
        &f.hotwords_delete_alias,
        &f.tenant_hotwords,
        &f.tenant_hotwords_delete,
        &f.global_hotwords,
        &f.global_hotwords_delete,
    ] {
        uris.push(format!("{V}/hotword-sets/{set}?include_preview=true"));
    }
    // Trashed tasks are hidden from the task endpoints: the lists above cover them.
    for task in [
        &f.task,
        &f.task_confirm,
        &f.task_queued,
        &f.task_cancelled,
        &f.task_delete,
        &f.task_trash,
        &f.task_purge,
        &f.task_batch_delete,
    ] {
        uris.push(format!("{V}/tasks/{task}/history"));
    }
    let mut out = BTreeMap::new();
    for uri in uris {
        let (code, body) = t.get(&uri, alice).await;
        assert_eq!(code, StatusCode::OK, "snapshot GET {uri}: {body}");
        out.insert(format!("GET {uri}"), body);
    }
    let owner = minutes::store::Owner {
        tenant_id: TENANT.into(),
        user_id: OWNER.into(),
    };
    let keys = vec![
        f.upload.clone(),
        f.upload_delete.clone(),
        f.upload_used.clone(),
    ];
    let uploads = t.app.store.uploads_by_keys(&owner, &keys).await.unwrap();
    let mut found: Vec<&str> = uploads.iter().map(|u| u.object_key.as_str()).collect();
    found.sort();
    out.insert("the owner's uploads".into(), json!(found));
    let objects: Vec<bool> = keys
        .iter()
        .map(|k| t.dir.path().join("objects").join(k).exists())
        .collect();
    out.insert("the uploads' objects exist".into(), json!(objects));
    let queues: Vec<String> = minutes::domain::job::queues()
        .iter()
        .map(|q| q.to_string())
        .collect();
    let jobs = t.app.store.count_unfinished_jobs(&queues).await.unwrap();
    out.insert("unfinished jobs".into(), json!(jobs));
    for id in f.jobs() {
        let job = t.app.store.get_job(id).await.unwrap().unwrap();
        out.insert(
            format!("job {id}"),
            json!({"state": job.state, "attempts": job.attempts}),
        );
    }
    out
}
