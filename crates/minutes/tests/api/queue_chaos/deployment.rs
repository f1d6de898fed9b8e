//! One deployment as an operator runs it: a `minutes serve` process (the API, which also relays
//! what it enqueues to the broker) and separate `minutes worker` processes, all configured only
//! through `MINUTES__…` variables, sharing a data directory and a database schema. Workers are
//! started and `kill -9`ed at will; every process is killed when the deployment is dropped.
use crate::processes::{free_port, random_hex, tail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::asr_stub::AsrStub;
use super::db::Db;

/// Short leases so a killed worker's job is reclaimed within seconds (defaults: 30 s and 10 s).
const LEASE_SECS: &str = "3";
const HEARTBEAT_SECS: &str = "1";
/// How long `minutes serve` may take to answer `/health`.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// How the workers learn that a job is due (`queue.backend`).
#[derive(Debug, Clone)]
pub enum Broker {
    Database,
    Redis { url: String, prefix: String },
    Rabbitmq { url: String, prefix: String },
}

impl Broker {
    pub fn name(&self) -> &'static str {
        match self {
            Broker::Database => "database",
            Broker::Redis { .. } => "redis",
            Broker::Rabbitmq { .. } => "rabbitmq",
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("MINUTES__QUEUE__BACKEND", self.name().to_string())];
        match self {
            Broker::Database => {}
            Broker::Redis { url, prefix } => {
                env.push(("MINUTES__QUEUE__REDIS_URL", url.clone()));
                env.push(("MINUTES__QUEUE__BROKER_PREFIX", prefix.clone()));
            }
            Broker::Rabbitmq { url, prefix } => {
                env.push(("MINUTES__QUEUE__AMQP_URL", url.clone()));
                env.push(("MINUTES__QUEUE__BROKER_PREFIX", prefix.clone()));
            }
        }
        env
    }
}

/// A unique `queue.broker_prefix`, so tests sharing a broker never see each other's messages.
pub fn unique_prefix() -> String {
    format!("chaos-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

pub struct Deployment {
    pub origin: String,
    pub db: Db,
    pub asr: AsrStub,
    pub broker: Broker,
    http: reqwest::Client,
    env: Vec<(String, String)>,
    api: Proc,
    workers: Vec<Proc>,
    started_workers: usize,
    // Last: the processes go before the directory they write to.
    dir: tempfile::TempDir,
}

impl Deployment {
    /// Starts the API on `db` with `broker`; the ASR stub answers after `asr_delay`.
    pub async fn start(db: Db, broker: Broker, asr_delay: Duration) -> Deployment {
        let asr = AsrStub::start(asr_delay).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env: Vec<(String, String)> = vec![
            (
                "MINUTES__DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
            ("MINUTES__SERVER__URL_SIGNING_SECRET", random_hex(32)),
            ("MINUTES__AUTH__JWT_SECRET", random_hex(32)),
            ("MINUTES__AUTH__DEV_LOGIN", "true".into()),
            ("MINUTES__DATABASE__URL", db.app_url.clone()),
            ("MINUTES__ASR__PRIMARY", "openai".into()),
            ("MINUTES__ASR__OPENAI__BASE_URL", asr.base_url.clone()),
            ("MINUTES__DIARIZATION__PROVIDER", "none".into()),
            ("MINUTES__LLM__PROVIDER", "local".into()),
            ("MINUTES__RATE_LIMIT__ENABLED", "false".into()),
            ("MINUTES__QUEUE__LEASE_SECS", LEASE_SECS.into()),
            ("MINUTES__QUEUE__HEARTBEAT_SECS", HEARTBEAT_SECS.into()),
            // A stage that fails while its database or broker is away retries soon.
            ("MINUTES__QUEUE__BACKOFF_BASE_SECS", "1".into()),
            ("MINUTES__QUEUE__BACKOFF_MAX_SECS", "4".into()),
            ("MINUTES__LOG__FILTER", "info,sqlx=warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(broker.env().into_iter().map(|(k, v)| (k.to_string(), v)));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The port is free when picked but may be taken before the child binds it.
            let port = free_port();
            let origin = format!("http://127.0.0.1:{port}");
            let mut api = spawn(
                "api",
                &["serve"],
                &env,
                &[("MINUTES__SERVER__BIND", format!("127.0.0.1:{port}"))],
                dir.path(),
            );
            match wait_ready(&http, &mut api, &origin).await {
                Ok(()) => {
                    return Deployment {
                        origin,
                        db,
                        asr,
                        broker,
                        http,
                        env,
                        api,
                        workers: Vec::new(),
                        started_workers: 0,
                        dir,
                    }
                }
                Err(_) if attempt < 3 && tail(&api.log, 20).contains("binding") => continue,
                Err(why) => {
                    let _ = api.child.kill();
                    let _ = api.child.wait();
                    panic!("`minutes serve` {why}; its log:\n{}", tail(&api.log, 60));
                }
            }
        }
    }

    /// Starts another `minutes worker`; returns its pid.
    pub fn start_worker(&mut self) -> u32 {
        self.started_workers += 1;
        let name = format!("worker{}", self.started_workers);
        let w = spawn(&name, &["worker"], &self.env, &[], self.dir.path());
        let pid = w.child.id();
        self.workers.push(w);
        pid
    }

    /// `kill -9` of the worker `pid`, reaped before this returns.
    pub fn kill_worker(&mut self, pid: u32) {
        let i = self
            .workers
            .iter()
            .position(|w| w.child.id() == pid)
            .unwrap_or_else(|| panic!("no worker with pid {pid}"));
        let mut w = self.workers.remove(i);
        w.child.kill().expect("SIGKILL a worker");
        w.child.wait().expect("reap the killed worker");
    }

    /// Panics (with the logs) if the API or a worker that was not killed has exited: broker and
    /// database outages must be ridden out, not crash the processes.
    pub fn assert_all_alive(&mut self, during: &str) {
        let mut dead = Vec::new();
        for p in std::iter::once(&mut self.api).chain(self.workers.iter_mut()) {
            if let Ok(Some(status)) = p.child.try_wait() {
                dead.push(format!(
                    "{} exited ({status}) during {during}; its log:\n{}",
                    p.name,
                    tail(&p.log, 40)
                ));
            }
        }
        assert!(dead.is_empty(), "{}", dead.join("\n\n"));
    }

    /// The last lines of every process's log, for failure messages.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path().join("logs"))
            .into_iter()
            .flatten()
        {
            let path = entry.expect("a log file").path();
            out.push_str(&format!(
                "\n--- {} ---\n{}\n",
                path.file_name().unwrap().to_string_lossy(),
                tail(&path, lines)
            ));
        }
        out
    }

    pub async fn login(&self, username: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/auth/dev/login",
                None,
                Some(json!({"username": username})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "dev login: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Uploads the shared meeting `file` and creates a standard-minutes task from it.
    pub async fn create_task(&self, token: &str, file: &str) -> String {
        let path = crate::helpers::data_file(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(file.to_string()),
        );
        let reply = self
            .http
            .post(format!("{}/api/v1/upload", self.origin))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("POST /upload");
        let status = reply.status();
        let body: Value = reply.json().await.expect("the upload answer is JSON");
        assert_eq!(status, StatusCode::CREATED, "upload {file}: {body}");
        let key = body["file_path"].as_str().expect("file_path").to_string();
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/tasks",
                Some(token),
                Some(json!({"audio_files": [key], "meeting_type": "chaos",
                    "asr_language": "en-US", "output_language": "en-US"})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "create a task from {file}: {body}"
        );
        body["task_id"].as_str().expect("task_id").to_string()
    }

    /// One API call (`path` under `/api/v1`).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.origin));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let reply = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = reply.status();
        let body = reply.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Waits until every task is finished (any terminal state), polling the database; gives up
    /// after `within` with every process's log.
    pub async fn wait_all_finished(&self, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            // The database may be restarting: an error is another poll, not a failure.
            if let Ok(states) = self.db.task_states().await {
                let open: Vec<_> = states
                    .iter()
                    .filter(|(_, s)| {
                        !matches!(
                            s.as_str(),
                            "success" | "partial_success" | "failed" | "cancelled"
                        )
                    })
                    .collect();
                if !states.is_empty() && open.is_empty() {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < within,
                    "tasks still open after {within:?}: {open:?}{}",
                    self.logs(30)
                );
            }
            assert!(
                started.elapsed() < within,
                "the database stayed unreachable for {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn spawn(
    name: &str,
    args: &[&str],
    env: &[(String, String)],
    extra: &[(&str, String)],
    dir: &Path,
) -> Proc {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("log directory");
    let log = logs.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_minutes"));
    cmd.args(args);
    // Only this configuration: nothing from the developer's environment leaks in.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("MINUTES__") || key == "MINUTES_CONFIG" || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let child = cmd.spawn().expect("spawn the minutes binary");
    Proc {
        name: name.to_string(),
        child,
        log,
    }
}

async fn wait_ready(http: &reqwest::Client, api: &mut Proc, origin: &str) -> Result<(), String> {
    let url = format!("{origin}/api/v1/health");
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = api.child.try_wait() {
            return Err(format!(
                "exited ({status}) before it answered GET /api/v1/health"
            ));
        }
        if let Ok(r) = http.get(&url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "did not answer GET /api/v1/health within {READY_WITHIN:?}"
    ))
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for p in self
            .workers
            .iter_mut()
            .chain(std::iter::once(&mut self.api))
        {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}
