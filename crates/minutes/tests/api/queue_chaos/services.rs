//! Servers a chaos test owns, so it can take them down without disturbing any other test: a
//! `redis-server`, a RabbitMQ node and a PostgreSQL cluster, each on free loopback ports in a
//! temporary directory. A missing binary fails the test (these are CI requirements, like the
//! shared servers). RabbitMQ and PostgreSQL run as their system users (`rabbitmq`, `postgres`)
//! through `runuser`: PostgreSQL refuses to run as root, and `rabbitmqctl` needs the Erlang
//! cookie of the `rabbitmq` user.
use crate::processes::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A temporary directory the system user `user` owns (it writes its data and logs there).
fn dir_for(user: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    run(
        "chown the server directory",
        Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:"))
            .arg(dir.path()),
    );
    dir
}

/// Polls until `port` accepts connections, failing after `within` with `log`.
fn wait_for_port(what: &str, port: u16, within: Duration, log: &Path) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within {within:?}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `redis-server` without persistence: a restart loses every stream and group, the harder
/// case for the delivery (it must recreate them; the relay and the poll find what was lost).
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server must be installed for the chaos tests: {e}"));
        self.child = Some(child);
        wait_for_port("redis-server", self.port, Duration::from_secs(10), &log);
    }

    /// `kill -9`, reaped before this returns.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL redis-server");
            c.wait().expect("reap redis-server");
        }
    }

    /// A new server on the same port (empty: nothing was persisted).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Keys on the server whose name contains `needle`.
    pub fn keys_containing(&self, needle: &str) -> Vec<String> {
        let out = run(
            "redis-cli KEYS",
            Command::new("redis-cli")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "--raw",
                    "KEYS",
                ])
                .arg(format!("*{needle}*")),
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A RabbitMQ node of its own (name, AMQP and distribution ports, data and logs), so stopping it
/// never touches the shared broker other tests use.
pub struct RabbitNode {
    pub port: u16,
    node: String,
    server: Child,
    dir: tempfile::TempDir,
}

impl RabbitNode {
    pub fn start() -> RabbitNode {
        let server_bin = if Path::new(RABBITMQ_SERVER).exists() {
            PathBuf::from(RABBITMQ_SERVER)
        } else {
            panic!("RabbitMQ must be installed for the chaos tests ({RABBITMQ_SERVER} is missing)")
        };
        let dir = dir_for("rabbitmq");
        let (port, dist) = (free_port(), free_port());
        let node = format!(
            "chaos{}@localhost",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let conf = dir.path().join("rabbitmq.conf");
        std::fs::write(&conf, format!("listeners.tcp.local = 127.0.0.1:{port}\n")).unwrap();
        let plugins = dir.path().join("enabled_plugins");
        // No plugins: the management plugin would bind the shared node's HTTP port.
        std::fs::write(&plugins, "[].\n").unwrap();
        run(
            "chown the RabbitMQ files",
            Command::new("chown")
                .arg("-R")
                .arg("rabbitmq:")
                .arg(dir.path()),
        );
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let server = Command::new("runuser")
            .args(["-u", "rabbitmq", "--", "env"])
            .arg(format!("RABBITMQ_NODENAME={node}"))
            .arg(format!("RABBITMQ_NODE_PORT={port}"))
            .arg(format!("RABBITMQ_DIST_PORT={dist}"))
            .arg(format!(
                "RABBITMQ_MNESIA_BASE={}",
                dir.path().join("mnesia").display()
            ))
            .arg(format!(
                "RABBITMQ_LOG_BASE={}",
                dir.path().join("log").display()
            ))
            .arg(format!("RABBITMQ_CONFIG_FILE={}", conf.display()))
            .arg(format!(
                "RABBITMQ_ENABLED_PLUGINS_FILE={}",
                plugins.display()
            ))
            .arg(format!(
                "RABBITMQ_PID_FILE={}",
                dir.path().join("pid").display()
            ))
            .arg(&server_bin)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("starting a RabbitMQ node (runuser -u rabbitmq): {e}"));
        let node = RabbitNode {
            port,
            node,
            server,
            dir,
        };
        // The AMQP listener opens once the node has booted; `await_startup` then confirms it.
        wait_for_port("RabbitMQ", port, Duration::from_secs(60), &log);
        node.ctl(&["await_startup", "--timeout", "30"]);
        node
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl -n <node> args…` as the `rabbitmq` user; its standard output.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = run(
            "rabbitmqctl",
            Command::new("runuser")
                .args(["-u", "rabbitmq", "--", "rabbitmqctl", "-n", &self.node])
                .args(args),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Queues on the node as (name, consumers).
    pub fn queue_consumers(&self) -> Vec<(String, u64)> {
        self.ctl(&[
            "list_queues",
            "name",
            "consumers",
            "--quiet",
            "--no-table-headers",
        ])
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.parse().ok()?))
        })
        .collect()
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args([
                "-u",
                "rabbitmq",
                "--",
                "rabbitmqctl",
                "-n",
                &self.node,
                "stop",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = &self.dir;
    }
}

/// A PostgreSQL cluster of its own, to be stopped mid-run (the shared server serves other tests).
pub struct PgCluster {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

/// The newest installed PostgreSQL's `bin` directory (Debian layout).
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/*/bin) must be installed for the chaos tests")
}

impl PgCluster {
    pub fn start() -> PgCluster {
        let bin = pg_bin();
        let dir = dir_for("postgres");
        let cluster = PgCluster {
            port: free_port(),
            bin,
            dir,
        };
        run(
            "initdb",
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(cluster.bin.join("initdb"))
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(cluster.data()),
        );
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        run(
            "pg_ctl",
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(args),
        );
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.pg_ctl(&[
            "-w",
            "-o",
            &options,
            "-l",
            &log.display().to_string(),
            "start",
        ]);
    }

    /// `pg_ctl stop -m fast`: open sessions are ended, as in a restart for maintenance.
    pub fn stop(&self) {
        self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
