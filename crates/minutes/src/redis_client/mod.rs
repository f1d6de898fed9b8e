//! The one Redis connection factory: everything that talks to Redis (rate limiter, queue
//! delivery, later pub/sub) gets its connections here, so a deployment names its Redis once, in
//! one of three URL forms (docs/CONFIG.md):
//!
//! - `redis://[user:pass@]host:port[/db]` or `rediss://…` — one node;
//! - `redis+sentinel://[user:pass@]h1:p1,h2:p2/<master>[/db][?sentinel_username=…&sentinel_password=…]`
//!   — the primary that the sentinels name, asked again whenever the connection breaks or the
//!   node answers READONLY (it was demoted by a failover);
//! - `redis+cluster://[user:pass@]h1:p1,h2:p2,…` — a Redis Cluster (callers keep each
//!   operation's keys in one slot with a hash tag, `{…}`).
//!
//! A [`RedisConnection`] implements `redis::aio::ConnectionLike`, so commands, pipelines and
//! scripts run the same on all three. It redials on demand after an I/O error, paced by one
//! backoff per client (`crate::reconnect`).
mod connector;
mod url;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use connector::{Connector, Live, Purpose};

/// How the URL reaches Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    Single,
    Sentinel { master: String },
    Cluster,
}

#[derive(Debug, thiserror::Error)]
pub enum RedisClientError {
    /// The URL's password is never part of the message.
    #[error("invalid Redis URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("Redis at {url}: {source}")]
    Redis {
        url: String,
        #[source]
        source: RedisError,
    },
}

/// A handle on one Redis deployment; cheap to clone, all clones share the connections.
#[derive(Clone)]
pub struct RedisClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    connector: Arc<Connector>,
    shared: RedisConnection,
    topology: Topology,
    redacted_url: String,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("url", &self.inner.redacted_url)
            .field("topology", &self.inner.topology)
            .finish()
    }
}

impl RedisClient {
    /// Parses the URL; connects nothing yet (the first command dials).
    pub fn open(url: &str) -> Result<RedisClient, RedisClientError> {
        let redacted_url = crate::config::redact_dsn(url.trim());
        let invalid = |reason: String| RedisClientError::InvalidUrl {
            url: redacted_url.clone(),
            reason,
        };
        let target = url::parse(url).map_err(invalid)?;
        let topology = match &target {
            url::Target::Single(_) => Topology::Single,
            url::Target::Sentinel(t) => Topology::Sentinel {
                master: t.master.clone(),
            },
            url::Target::Cluster(_) => Topology::Cluster,
        };
        let connector = Arc::new(Connector::new(&target).map_err(|e| invalid(e.to_string()))?);
        let shared = RedisConnection::new(connector.clone(), Purpose::Shared);
        Ok(RedisClient {
            inner: Arc::new(ClientInner {
                connector,
                shared,
                topology,
                redacted_url,
            }),
        })
    }

    /// [`open`](Self::open), then one round trip, so a wrong address or password stops the start
    /// instead of the first request.
    pub async fn connect(url: &str) -> Result<RedisClient, RedisClientError> {
        let client = RedisClient::open(url)?;
        client.ping().await?;
        Ok(client)
    }

    /// The shared multiplexed connection: short commands, pipelines and scripts of every caller
    /// go over it concurrently. Never block on it (`BLOCK`, `BLPOP`): use [`dedicated`](Self::dedicated).
    pub fn connection(&self) -> RedisConnection {
        self.inner.shared.clone()
    }

    /// A connection of its own (dialled on first use), for blocking commands, which would stall
    /// everyone else's commands on the shared one.
    pub fn dedicated(&self) -> RedisConnection {
        RedisConnection::new(self.inner.connector.clone(), Purpose::Blocking)
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The URL with its passwords hidden, for logs and errors.
    pub fn redacted_url(&self) -> &str {
        &self.inner.redacted_url
    }

    /// One round trip (every primary, on a cluster).
    pub async fn ping(&self) -> Result<(), RedisClientError> {
        let mut conn = self.connection();
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(|source| self.error(source))
    }

    /// Wraps a Redis error with this client's (redacted) address.
    pub fn error(&self, source: RedisError) -> RedisClientError {
        RedisClientError::Redis {
            url: self.inner.redacted_url.clone(),
            source,
        }
    }
}

/// A connection that redials itself. Clones share the same underlying connection.
#[derive(Clone)]
pub struct RedisConnection {
    slot: Arc<Slot>,
}

struct Slot {
    connector: Arc<Connector>,
    purpose: Purpose,
    /// The live connection and its generation, so an error seen on an old connection does not
    /// throw away the one that replaced it.
    current: Mutex<Option<(u64, Live)>>,
    generations: AtomicU64,
    /// One dial at a time per slot; the others wait for its outcome.
    dialing: tokio::sync::Mutex<()>,
}

impl RedisConnection {
    fn new(connector: Arc<Connector>, purpose: Purpose) -> RedisConnection {
        RedisConnection {
            slot: Arc::new(Slot {
                connector,
                purpose,
                current: Mutex::new(None),
                generations: AtomicU64::new(0),
                dialing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Drops the live connection, so the next command dials afresh (e.g. after abandoning a
    /// blocking command halfway).
    pub fn reset(&self) {
        *self.slot.lock() = None;
    }
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, Live)>> {
        // Replacing an `Option` cannot be left half done by a panic.
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current(&self) -> Option<(u64, Live)> {
        self.lock().clone()
    }

    async fn live(&self) -> RedisResult<(u64, Live)> {
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let _dialing = self.dialing.lock().await;
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let live = self.connector.dial(self.purpose).await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        *self.lock() = Some((generation, live.clone()));
        Ok((generation, live))
    }

    fn forget(&self, generation: u64) {
        let mut current = self.lock();
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
        }
    }

    /// Hands `result` on, first dropping connection `generation` when the result shows it
    /// useless: an error that broke it, or a reply `demoted_reply` says came from a replica.
    fn forget_if_broken<T>(
        &self,
        generation: u64,
        result: RedisResult<T>,
        demoted_reply: impl Fn(&T) -> bool,
    ) -> RedisResult<T> {
        let broken = match &result {
            Ok(reply) => demoted_reply(reply),
            Err(e) => breaks_connection(e),
        };
        if broken {
            self.forget(generation);
        }
        result
    }
}

/// Errors after which this connection is useless: the socket broke, or the node is no longer
/// the primary (a Sentinel failover demoted it), so the next command must dial again.
fn breaks_connection(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_unrecoverable_error()
        || matches!(error.kind(), ErrorKind::ReadOnly | ErrorKind::MasterDown)
}

fn demoted(value: &Value) -> bool {
    matches!(value, Value::ServerError(e) if matches!(e.code(), "READONLY" | "MASTERDOWN"))
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut live) = self.slot.live().await?;
            let result = live.req_packed_command(cmd).await;
            self.slot.forget_if_broken(generation, result, demoted)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut live) = self.slot.live().await?;
            let result = live.req_packed_commands(cmd, offset, count).await;
            self.slot
                .forget_if_broken(generation, result, |values| values.iter().any(demoted))
        })
    }

    fn get_db(&self) -> i64 {
        self.slot.connector.db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_when_opened_and_passwords_stay_out_of_errors_and_debug() {
        let err =
            RedisClient::open("redis+sentinel://u:hunter2@h1:26379,h2:26379?sentinel_password=s3")
                .unwrap_err()
                .to_string();
        assert!(err.contains("names the master"), "{err}");
        assert!(!err.contains("hunter2") && !err.contains("s3"), "{err}");

        let c =
            RedisClient::open("redis+sentinel://u:hunter2@h1,h2/m/1?sentinel_password=s3").unwrap();
        assert_eq!(c.topology(), &Topology::Sentinel { master: "m".into() });
        let shown = format!("{c:?} {}", c.redacted_url());
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3"),
            "{shown}"
        );
        assert_eq!(c.connection().get_db(), 1);

        assert_eq!(
            RedisClient::open("redis+cluster://a:7000,b:7001")
                .unwrap()
                .topology(),
            &Topology::Cluster
        );
        assert_eq!(
            RedisClient::open("redis://127.0.0.1:6379/4")
                .unwrap()
                .connection()
                .get_db(),
            4
        );
    }

    #[test]
    fn a_demoted_primary_or_a_broken_socket_retires_the_connection_but_a_command_error_does_not() {
        let reply = |raw: &[u8]| redis::parse_redis_value(raw).unwrap();
        let readonly = reply(b"-READONLY You can't write against a read only replica.\r\n");
        let masterdown = reply(b"-MASTERDOWN Link with MASTER is down\r\n");
        let wrongtype = reply(b"-WRONGTYPE Operation against a key holding the wrong kind\r\n");
        assert!(demoted(&readonly) && demoted(&masterdown));
        assert!(!demoted(&wrongtype) && !demoted(&Value::Okay));
        assert!(breaks_connection(&readonly.extract_error().unwrap_err()));
        assert!(!breaks_connection(&wrongtype.extract_error().unwrap_err()));
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(breaks_connection(&reset));
    }

    #[tokio::test]
    async fn a_refused_connect_is_an_io_error_and_the_next_attempt_waits_its_backoff() {
        // Port 1 on loopback: nothing listens there.
        let c = RedisClient::open("redis://127.0.0.1:1").unwrap();
        let first = c.ping().await.unwrap_err();
        let RedisClientError::Redis { source, .. } = &first else {
            panic!("{first}");
        };
        assert!(source.is_io_error(), "{source}");
        let second = c.ping().await.unwrap_err().to_string();
        assert!(second.contains("next connect attempt in"), "{second}");
    }
}
