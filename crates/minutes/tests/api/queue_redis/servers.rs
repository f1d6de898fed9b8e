//! Redis servers a test starts itself (`redis-server` from PATH) on free loopback ports, in a
//! temporary directory, without persistence. Every server is killed when its handle drops, so
//! a failing test leaves no process behind.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_WITHIN: Duration = Duration::from_secs(10);

/// A free loopback port; with `bus`, `port + 10000` (the Cluster bus port) is free too.
pub fn free_port(bus: bool) -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !bus {
            return port;
        }
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

pub struct Server {
    pub port: u16,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// `redis-server` on `port` with `extra` arguments (`--replicaof …`, `--cluster-enabled yes`).
    pub async fn start(dir: &Path, port: u16, extra: &[&str]) -> Server {
        let log = dir.join(format!("redis-{port}.log"));
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            // A replica's full sync starts at once instead of after the default 5 s.
            "--repl-diskless-sync-delay",
            "0",
            "--dir",
            &dir.display().to_string(),
            "--logfile",
            &log.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::launch(port, args, log).await
    }

    /// `redis-server <conf> --sentinel`, monitoring `master` at `primary_port` as `m`.
    pub async fn start_sentinel(dir: &Path, port: u16, primary_port: u16) -> Server {
        let conf = dir.join(format!("sentinel-{port}.conf"));
        let log = dir.join(format!("sentinel-{port}.log"));
        // Sentinel rewrites its config file, so each gets its own writable copy.
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {log}\n\
                 sentinel monitor m 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds m 1000\n\
                 sentinel failover-timeout m 4000\n\
                 sentinel parallel-syncs m 1\n",
                dir = dir.display(),
                log = log.display(),
            ),
        )
        .unwrap();
        let args = vec![conf.display().to_string(), "--sentinel".to_string()];
        Server::launch(port, args, log).await
    }

    async fn launch(port: u16, args: Vec<String>, log: PathBuf) -> Server {
        let mut server = Server {
            port,
            args,
            log,
            child: None,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server must be installed (apt-get install redis-server): {e}")
            });
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "redis-server on {} exited ({status}): {}",
                    self.port,
                    self.log_tail()
                );
            }
            if ping(self.port).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} not ready: {}",
                self.port,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`: no shutdown, no goodbye to clients.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port with the same arguments (and, without persistence, empty).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        self.spawn().await;
    }

    /// Starts again on the same port with `extra` arguments added (e.g. `--replicaof`).
    pub async fn restart_with(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "kill it first");
        self.args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn().await;
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn ping(port: u16) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
        return false;
    };
    let attempt = async {
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Some(_))
    )
}

/// One command on a fresh connection to a loopback port.
pub async fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    cmd.query_async(&mut conn).await
}

/// Polls `probe` every 50 ms until it returns `Some`, failing the test after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
