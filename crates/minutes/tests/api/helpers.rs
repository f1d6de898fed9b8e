//! `TestApp`: a real `App` (temp SQLite or a fresh PostgreSQL schema, local object store in a
//! tempdir) driven in-process through the router, with `run_jobs_until_idle()` and a drop check
//! that fails the test when jobs were left unrun.
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::Value;
use tower::ServiceExt;

use minutes::app::{App, Engines, Overrides};
use minutes::config::{Config, Profile};
use minutes::providers::{Diarizer, Voiceprint};
use minutes::queue::{drain, ManualClock, WorkerOptions};
use minutes::store::{SpeakerRecord, SqlStore};

use crate::engines::{ScriptedAsr, ScriptedLlm};

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub fn data_file(rel: &str) -> PathBuf {
    let base = std::env::var("MINUTES_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/meetings")
        });
    let path = base.join(rel);
    assert!(
        path.exists(),
        "test data {} is missing (set MINUTES_TEST_DATA)",
        path.display()
    );
    path
}

/// Where the offline-engine tests keep their models: `MINUTES_MODELS_DIR`, else
/// `~/.cache/minutes/models` (outside the checkout).
pub fn models_dir() -> PathBuf {
    std::env::var("MINUTES_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/minutes/models")
        })
}

pub fn postgres_url() -> Option<String> {
    std::env::var("MINUTES_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The login role the application uses in PostgreSQL tests: neither superuser nor BYPASSRLS,
/// so the whole suite runs under row-level security and a store method that forgets to set
/// its tenant fails its tests. Trust authentication needs no password; one is set for servers
/// that ask.
pub const PG_APP_ROLE: &str = "minutes_app_test";

/// Runs `sql` (several statements allowed) as the administrator of `MINUTES_TEST_POSTGRES_URL`.
pub async fn pg_admin_execute(admin_url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect as the PostgreSQL test administrator");
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

/// `admin_url` with `PG_APP_ROLE` as the user; creates the role on first use (concurrent test
/// processes may race to create it, hence the exception handler).
pub async fn pg_app_url(admin_url: &str) -> String {
    pg_admin_execute(
        admin_url,
        &format!(
            "DO $$ BEGIN \
               CREATE ROLE {PG_APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{PG_APP_ROLE}'; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ),
    )
    .await;
    let mut url = url::Url::parse(admin_url).expect("MINUTES_TEST_POSTGRES_URL is a URL");
    url.set_username(PG_APP_ROLE).expect("a user can be set");
    url.set_password(Some(PG_APP_ROLE))
        .expect("a password can be set");
    url.to_string()
}

/// Creates `schema` owned by the app role (which then runs the migrations, as the owner role
/// of a deployment does) and returns the URL the app connects with.
pub async fn create_app_schema(admin_url: &str, schema: &str) -> String {
    let app_url = pg_app_url(admin_url).await;
    pg_admin_execute(
        admin_url,
        &format!("CREATE SCHEMA \"{schema}\" AUTHORIZATION {PG_APP_ROLE}"),
    )
    .await;
    app_url
}

pub struct TestOptions {
    pub asr: ScriptedAsr,
    pub llm: ScriptedLlm,
    pub voiceprint: Option<Arc<dyn Voiceprint>>,
    pub diarizer: Option<Arc<dyn Diarizer>>,
    pub configure: Box<dyn FnOnce(&mut Config) + Send>,
    /// Build engines from the configuration (real providers) instead of the scripted ones.
    pub engines_from_config: bool,
    /// Presigns object URLs (stands in for an S3-compatible store).
    pub url_signer: Option<Arc<dyn minutes::storage::UrlSigner>>,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            asr: ScriptedAsr::default(),
            llm: ScriptedLlm::default(),
            voiceprint: None,
            diarizer: None,
            configure: Box::new(|_| {}),
            engines_from_config: false,
            url_signer: None,
        }
    }
}

pub struct TestApp {
    pub app: Arc<App>,
    pub router: Router,
    pub asr: Arc<ScriptedAsr>,
    pub llm: Arc<ScriptedLlm>,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
    allow_unrun: bool,
}

/// A configuration for tests: everything under `dir`, dev login on, quick queue timings.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::load(None).expect("default config loads");
    c.profile = Profile::Test;
    c.data_dir = dir.to_path_buf();
    c.database.url = format!("sqlite://{}", dir.join("minutes.db").display());
    c.storage.root = dir.join("objects").display().to_string();
    c.auth.dev_login = true;
    // Engines are pinned here so changing the embedded defaults (offline engines) never changes
    // what a test runs against; tests that want a provider set it themselves.
    c.asr.primary = minutes::config::AsrProviderKind::Openai;
    c.llm.provider = minutes::config::LlmProviderKind::Openai;
    c.diarization.provider = minutes::config::DiarizationProviderKind::None;
    c.auth.jwt_secret = Some(SecretString::from(JWT_SECRET.to_string()));
    c.queue.max_attempts = 3;
    c.queue.backoff_base_secs = 10;
    c.queue.backoff_max_secs = 60;
    c.queue.lease_secs = 30;
    c.queue.heartbeat_secs = 10;
    // Tests make many requests per user; the rate-limit tests set their own budgets.
    c.rate_limit.per_minute = 100_000;
    c.rate_limit.upload_per_minute = 100_000;
    c.rate_limit.login_per_minute = 100_000;
    c
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with(TestOptions::default()).await
    }

    pub async fn with(opts: TestOptions) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(dir.path());
        let pg = postgres_url().map(|url| (url, format!("t_{}", uuid::Uuid::new_v4().simple())));
        if let Some((url, schema)) = &pg {
            config.database.url = create_app_schema(url, schema).await;
        }
        (opts.configure)(&mut config);
        minutes::telemetry::init(&minutes::config::LogConfig {
            format: minutes::config::LogFormat::Pretty,
            filter: "warn".into(),
        });
        let asr = Arc::new(opts.asr);
        let llm = Arc::new(opts.llm);
        let clock = Arc::new(ManualClock::starting_now());
        let engines = (!opts.engines_from_config).then(|| Engines {
            asr: asr.clone(),
            llm: llm.clone(),
            voiceprint: opts.voiceprint,
            diarizer: opts.diarizer,
        });
        let app = App::build_with(
            &config,
            Overrides {
                engines,
                clock: Some(clock.clone()),
                pg_schema: pg.as_ref().map(|(_, s)| s.clone()),
                url_signer: opts.url_signer,
            },
        )
        .await
        .expect("app builds");
        let app = Arc::new(app);
        TestApp {
            router: minutes::http::router(app.clone()),
            app,
            asr,
            llm,
            clock,
            dir,
            pg,
            allow_unrun: false,
        }
    }

    /// Rebuilds the `App` on the same database, objects and engines with a changed configuration
    /// (other field-encryption keys, say), as a restart of the service would.
    pub async fn reopen(&mut self, configure: impl FnOnce(&mut Config)) {
        let mut config = self.app.config.clone();
        configure(&mut config);
        let app = App::build_with(
            &config,
            Overrides {
                engines: Some(Engines {
                    asr: self.asr.clone(),
                    llm: self.llm.clone(),
                    voiceprint: self.app.voiceprint.clone(),
                    diarizer: self.app.diarizer.clone(),
                }),
                clock: Some(self.clock.clone()),
                pg_schema: self.pg.as_ref().map(|(_, s)| s.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("app rebuilds");
        let old = std::mem::replace(&mut self.app, Arc::new(app));
        self.router = minutes::http::router(self.app.clone());
        old.sql.close().await;
    }

    /// The PostgreSQL schema of this test (`None` on SQLite), for reading around the store.
    pub fn pg_schema(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, s)| s.as_str())
    }

    /// For tests that leave jobs behind on purpose (cancelled, released, scheduled retries).
    pub fn allow_unrun_jobs(&mut self) {
        self.allow_unrun = true;
    }

    pub fn worker_options(&self) -> WorkerOptions {
        WorkerOptions::all_queues(1)
    }

    /// Runs every job that is due now, including the ones jobs enqueue, until none is left.
    pub async fn run_jobs_until_idle(&self) -> usize {
        drain(&self.app, &self.worker_options())
            .await
            .expect("drain")
    }

    /// Waits (on the queue's wake-up signal, up to 10 s) until a job is enqueued, then drains.
    pub async fn run_jobs_once_enqueued(&self) -> usize {
        loop {
            let notified = self.app.jobs_signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let ran = self.run_jobs_until_idle().await;
            if ran > 0 {
                return ran;
            }
            tokio::time::timeout(std::time::Duration::from_secs(10), notified)
                .await
                .expect("a job was enqueued within 10 s");
        }
    }

    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Body,
        content_type: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    /// A GET whose body is returned as bytes with its headers (downloads).
    pub async fn get_raw(
        &self,
        uri: &str,
        token: &str,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let req = Request::builder()
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = response.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes().to_vec(),
        )
    }

    pub async fn get(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::GET, uri, Some(token), Body::empty(), None)
            .await
    }

    pub async fn send_json(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        self.request(
            method,
            uri,
            Some(token),
            Body::from(body.to_string()),
            Some("application/json"),
        )
        .await
    }

    pub async fn post_json(&self, uri: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        self.send_json(Method::POST, uri, token, body).await
    }

    pub async fn login(&self, username: &str) -> String {
        let (status, body) = self
            .request(
                Method::POST,
                "/api/v1/auth/dev/login",
                None,
                Body::from(serde_json::json!({"username": username}).to_string()),
                Some("application/json"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// A multipart request: `(field, filename, bytes)`; a filename makes the part a file.
    pub async fn multipart(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        fields: &[(&str, Option<&str>, &[u8])],
    ) -> (StatusCode, Value) {
        let boundary = "minutes-form-boundary";
        let mut body = Vec::new();
        for (name, filename, bytes) in fields {
            let disposition = match filename {
                Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
                None => format!("form-data; name=\"{name}\""),
            };
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.request(
            method,
            uri,
            Some(token),
            Body::from(body),
            Some(&format!("multipart/form-data; boundary={boundary}")),
        )
        .await
    }

    pub async fn upload_bytes(
        &self,
        token: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let boundary = "minutes-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.request(
            Method::POST,
            "/api/v1/upload",
            Some(token),
            Body::from(body),
            Some(&format!("multipart/form-data; boundary={boundary}")),
        )
        .await
    }

    pub async fn upload(&self, token: &str, path: &std::path::Path) -> String {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (status, body) = self
            .upload_bytes(token, &name, std::fs::read(path).unwrap())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["file_path"].as_str().unwrap().to_string()
    }

    /// Uploads parts 1 and 2 of the zh02 meeting and creates a task from them.
    pub async fn create_two_part_task(&self, token: &str) -> String {
        let k1 = self
            .upload(token, &data_file("parts/zh02_incident_review.part1.wav"))
            .await;
        let k2 = self
            .upload(token, &data_file("parts/zh02_incident_review.part2.wav"))
            .await;
        let (status, body) = self
            .post_json("/api/v1/tasks", token, &serde_json::json!({
                "audio_files": [k2, k1], "file_order": [1, 0], "meeting_type": "incident_review",
                "asr_language": "zh-CN", "output_language": "zh-CN",
                "prompt_instance": {"template_id": "meeting_minutes", "parameters": {"meeting_description": "订单服务故障复盘"}}
            }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["task_id"].as_str().unwrap().to_string()
    }

    /// Reads around the store (PostgreSQL in the system scope): what a database dump holds.
    pub async fn raw_texts(&self, sql: &str) -> Vec<Option<String>> {
        let url = &self.app.config.database.url;
        match self.pg_schema() {
            None => {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                let rows = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            }
            Some(schema) => {
                let options =
                    <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url)
                        .unwrap()
                        .options([("search_path", schema)]);
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .unwrap();
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SELECT set_config('app.scope', 'system', true)")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let rows = sqlx::query_scalar(sql).fetch_all(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
                pool.close().await;
                rows
            }
        }
    }

    /// A new user's two-part task, run through the pipeline: (token, task id).
    pub async fn finished_task(&self, user: &str) -> (String, String) {
        let token = self.login(user).await;
        let task_id = self.create_two_part_task(&token).await;
        self.run_jobs_until_idle().await;
        assert_eq!(self.task_status(&token, &task_id).await["state"], "success");
        (token, task_id)
    }

    pub async fn task_status(&self, token: &str, task_id: &str) -> Value {
        let (status, body) = self
            .get(&format!("/api/v1/tasks/{task_id}/status"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The speaker's row as the store has it now (it must exist).
    pub async fn stored_speaker(&self, tenant: &str, speaker_id: &str) -> SpeakerRecord {
        self.app
            .store
            .get_speaker(tenant, speaker_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("speaker {speaker_id} of {tenant} is stored"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let app = self.app.clone();
        let pg = self.pg.take();
        let check = !self.allow_unrun && !std::thread::panicking();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                // Scheduled maintenance runs wait for their fire time; those are never "unrun".
                let queues: Vec<String> = minutes::domain::job::queues()
                    .iter()
                    .filter(|q| **q != "maintenance")
                    .map(|q| q.to_string())
                    .collect();
                let left = app.store.count_unfinished_jobs(&queues).await.unwrap_or(0);
                app.sql.close().await;
                if let Some((url, schema)) = pg {
                    let _ = SqlStore::drop_pg_schema(&url, &schema).await;
                }
                if check {
                    assert_eq!(
                        left, 0,
                        "the test left {left} job(s) unrun: call run_jobs_until_idle()"
                    );
                }
            })
        });
    }
}

/// Every file below `dir` (none if it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}
