//! A real `minutes serve [--with-worker]` child process on a free loopback port, configured only
//! through `MINUTES__…` variables: temp data dir (SQLite) or a fresh PostgreSQL schema, dev login,
//! the frontend's CORS origin and the offline engines; killed (and its schema dropped) on drop.
use crate::processes::{free_port, random_hex, tail, SchemaGuard};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use minutes::models::ModelKind;

use crate::helpers::{create_app_schema, postgres_url};

/// The origin the frontend's vite dev server runs on; every call of the suite comes from it.
pub const FRONTEND_ORIGIN: &str = "http://localhost:5173";

/// The offline engines' models: English-only Whisper tiny (the fixture is English; it is the
/// fastest model on two cores) and CAM++ for diarization.
const WHISPER: &str = "whisper-tiny-en";
const SPEAKER_MODEL: &str = "campplus-zh-en";

/// How long the server may take to answer `GET /api/v1/health` after it was started.
const READY_WITHIN: Duration = Duration::from_secs(60);

pub struct Server {
    /// `VITE_API_BASE_URL` of the frontend: scheme, host and port, no `/api/v1`.
    pub origin: String,
    child: Child,
    log: PathBuf,
    // Field order is drop order: the process goes before its schema and data dir.
    _schema: Option<SchemaGuard>,
    _dir: tempfile::TempDir,
}

/// The models directory with both models present (installed like `minutes models install`
/// when missing). Only the manifests are read when they are there: hashing 100 MB in a debug
/// build per test would cost seconds.
fn offline_models() -> PathBuf {
    let dir = crate::helpers::models_dir();
    for (name, kind) in [
        (WHISPER, ModelKind::WhisperCt2),
        (SPEAKER_MODEL, ModelKind::SpeakerEmbedding),
    ] {
        if minutes::models::resolve(&dir, name, kind).is_err() {
            crate::local_engines::ensure_model(name);
        }
    }
    dir
}

enum Start {
    Ready,
    Exited,
    Late,
}

impl Server {
    /// `minutes serve --with-worker`: the pipeline runs in the server process.
    pub async fn with_worker() -> Server {
        Self::start(true).await
    }

    /// `minutes serve` alone: tasks stay queued, for flows that only manage tasks (folders,
    /// trash, renames) and should leave the two cores to the pipeline tests.
    pub async fn without_worker() -> Server {
        Self::start(false).await
    }

    async fn start(worker: bool) -> Server {
        let models = offline_models();
        let dir = tempfile::tempdir().expect("tempdir");
        let (schema, database_url) = match postgres_url() {
            None => (
                None,
                format!("sqlite://{}", dir.path().join("data/minutes.db").display()),
            ),
            Some(admin_url) => {
                let name = format!("cc_{}", uuid::Uuid::new_v4().simple());
                let app_url = create_app_schema(&admin_url, &name).await;
                let schema = SchemaGuard { admin_url, name };
                let mut url = url::Url::parse(&app_url).expect("the app role's URL parses");
                // sqlx makes `options[search_path]` the session's search_path: the server then
                // works in the fresh schema, as the in-process TestApp does.
                url.query_pairs_mut()
                    .append_pair("options[search_path]", &schema.name);
                (Some(schema), url.to_string())
            }
        };
        let log = dir.path().join("server.log");
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The port is free when picked but may be taken before the child binds it.
            let port = free_port();
            let origin = format!("http://127.0.0.1:{port}");
            let mut child = Self::spawn(worker, port, dir.path(), &database_url, &models, &log);
            match Self::wait_ready(&mut child, &origin).await {
                Start::Ready => {
                    return Server {
                        origin,
                        child,
                        log,
                        _schema: schema,
                        _dir: dir,
                    }
                }
                Start::Exited if attempt < 3 && tail(&log, 20).contains("binding") => continue,
                outcome => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let why = match outcome {
                        Start::Exited => "exited before it answered".to_string(),
                        _ => format!("did not answer within {READY_WITHIN:?}"),
                    };
                    panic!(
                        "`minutes serve` {why} GET /api/v1/health; its log:\n{}",
                        tail(&log, 60)
                    );
                }
            }
        }
    }

    fn spawn(
        worker: bool,
        port: u16,
        dir: &Path,
        database_url: &str,
        models: &Path,
        log: &Path,
    ) -> Child {
        let out = std::fs::File::create(log).expect("server log file");
        let err = out.try_clone().expect("server log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_minutes"));
        cmd.arg("serve");
        if worker {
            cmd.arg("--with-worker");
        }
        // Only this configuration: nothing from the developer's environment leaks in.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("MINUTES__") || key == "MINUTES_CONFIG" || key == "RUST_LOG" {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(dir)
            .env("MINUTES__DATA_DIR", dir.join("data"))
            .env("MINUTES__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env(
                "MINUTES__SERVER__CORS_ORIGINS",
                format!("[\"{FRONTEND_ORIGIN}\"]"),
            )
            .env("MINUTES__SERVER__URL_SIGNING_SECRET", random_hex(32))
            .env("MINUTES__DATABASE__URL", database_url)
            .env("MINUTES__AUTH__DEV_LOGIN", "true")
            .env("MINUTES__AUTH__JWT_SECRET", random_hex(32))
            .env("MINUTES__MODELS__DIR", models)
            .env("MINUTES__ASR__LOCAL__MODEL", WHISPER)
            .env("MINUTES__ASR__LOCAL__THREADS", "2")
            // The suite calls faster than a person clicks; budgets are not what it checks.
            .env("MINUTES__RATE_LIMIT__ENABLED", "false")
            .env("MINUTES__LOG__FILTER", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn the minutes binary")
    }

    /// Polls the health route until it answers 200, the child exits or the deadline passes.
    async fn wait_ready(child: &mut Child, origin: &str) -> Start {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let url = format!("{origin}/api/v1/health");
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return Start::Exited;
            }
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return Start::Ready;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Start::Late
    }

    /// The last lines the server logged, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
