//! Dials one live connection for a target: straight to a single node, to the primary that the
//! sentinels name *now* (asked again on every dial, which is how a failover is followed), or to
//! a cluster (the redis crate's cluster connection follows slot moves itself).
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, Pipeline, RedisError, RedisFuture, RedisResult,
    TlsMode, Value,
};

use super::url::{ClusterTarget, SentinelTarget, Target};
use crate::reconnect::Backoff;

/// A dial (sentinel query, TCP and TLS handshakes, AUTH) that takes longer has failed.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// First reconnect delay after a failed dial, doubling up to the ceiling; short enough that a
/// Sentinel failover (seconds) is noticed promptly once it completes.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);
/// Commands on the shared connection; a blocked reply past this means a dead peer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Multiplexed among all callers: short commands, with a response timeout.
    Shared,
    /// Owned by one caller for blocking commands (`XREADGROUP BLOCK`): no response timeout,
    /// the caller bounds the wait itself.
    Blocking,
}

/// One dialled connection: a node's multiplexed connection or a cluster connection.
#[derive(Clone)]
pub(crate) enum Live {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Live {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Live::Node(c) => c.req_packed_command(cmd),
            Live::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Live::Node(c) => c.req_packed_commands(cmd, offset, count),
            Live::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Live::Node(c) => c.get_db(),
            Live::Cluster(c) => c.get_db(),
        }
    }
}

enum Dialer {
    Single(redis::Client),
    /// `SentinelClient` caches its sentinel connections and needs `&mut` to ask them.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(ClusterClient),
}

pub(crate) struct Connector {
    dialer: Dialer,
    db: i64,
    backoff: Mutex<Backoff>,
}

impl Connector {
    pub fn new(target: &Target) -> RedisResult<Connector> {
        let (dialer, db) = match target {
            Target::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let db = client.get_connection_info().redis.db;
                (Dialer::Single(client), db)
            }
            Target::Sentinel(t) => (
                Dialer::Sentinel(tokio::sync::Mutex::new(sentinel_client(t)?)),
                t.db,
            ),
            Target::Cluster(t) => (Dialer::Cluster(cluster_client(t)?), 0),
        };
        Ok(Connector {
            dialer,
            db,
            backoff: Mutex::new(Backoff::new(FIRST_RETRY, MAX_RETRY)),
        })
    }

    pub fn db(&self) -> i64 {
        self.db
    }

    /// Dials, unless a recent failure says to wait: then fails at once (an I/O error, so callers
    /// treat it like the outage it is) instead of piling more connects onto a struggling server.
    pub async fn dial(&self, purpose: Purpose) -> RedisResult<Live> {
        if let Some((wait, why)) = self.lock_backoff().blocked(Instant::now()) {
            return Err(unavailable(format!(
                "Redis unavailable, next connect attempt in {} ms (last error: {why})",
                wait.as_millis()
            )));
        }
        let dialed = match tokio::time::timeout(DIAL_TIMEOUT, self.dial_now(purpose)).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "connecting to Redis took longer than {} s",
                    DIAL_TIMEOUT.as_secs()
                ),
            ))),
        };
        let mut backoff = self.lock_backoff();
        match &dialed {
            Ok(_) => backoff.succeeded(),
            Err(e) => {
                backoff.failed(Instant::now(), e.to_string());
            }
        }
        dialed
    }

    async fn dial_now(&self, purpose: Purpose) -> RedisResult<Live> {
        let config = match purpose {
            Purpose::Shared => AsyncConnectionConfig::new().set_response_timeout(RESPONSE_TIMEOUT),
            Purpose::Blocking => AsyncConnectionConfig::new(),
        };
        match &self.dialer {
            Dialer::Single(client) => Ok(Live::Node(
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?,
            )),
            Dialer::Sentinel(sentinel) => {
                // Asks the sentinels for the current primary and checks that it says so (ROLE).
                let primary = sentinel.lock().await.async_get_client().await?;
                Ok(Live::Node(
                    primary
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Dialer::Cluster(client) => {
                let config = match purpose {
                    Purpose::Shared => ClusterConfig::new().set_response_timeout(RESPONSE_TIMEOUT),
                    Purpose::Blocking => ClusterConfig::new(),
                };
                Ok(Live::Cluster(
                    client.get_async_connection_with_config(config).await?,
                ))
            }
        }
    }

    fn lock_backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        // The backoff holds no invariant a panicking holder could break.
        self.backoff
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) fn unavailable(detail: String) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        detail,
    ))
}

fn addr(host: &str, port: u16, tls: bool) -> ConnectionAddr {
    if tls {
        ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host.to_string(), port)
    }
}

fn sentinel_client(t: &SentinelTarget) -> RedisResult<SentinelClient> {
    let sentinels = t.sentinels.iter().map(|(h, p)| addr(h, *p, t.tls));
    let mut b =
        SentinelClientBuilder::new(sentinels, t.master.clone(), SentinelServerType::Master)?
            .set_client_to_redis_db(t.db);
    if t.tls {
        b = b
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
    }
    if let Some(u) = &t.auth.username {
        b = b.set_client_to_redis_username(u.clone());
    }
    if let Some(p) = &t.auth.password {
        b = b.set_client_to_redis_password(p.clone());
    }
    if let Some(u) = &t.sentinel_auth.username {
        b = b.set_client_to_sentinel_username(u.clone());
    }
    if let Some(p) = &t.sentinel_auth.password {
        b = b.set_client_to_sentinel_password(p.clone());
    }
    b.build()
}

fn cluster_client(t: &ClusterTarget) -> RedisResult<ClusterClient> {
    let nodes = t.nodes.iter().map(|(h, p)| redis::ConnectionInfo {
        addr: addr(h, *p, t.tls),
        redis: Default::default(),
    });
    let mut b = ClusterClientBuilder::new(nodes).connection_timeout(DIAL_TIMEOUT);
    if let Some(u) = &t.auth.username {
        b = b.username(u.clone());
    }
    if let Some(p) = &t.auth.password {
        b = b.password(p.clone());
    }
    if t.tls {
        b = b.tls(TlsMode::Secure);
    }
    b.build()
}
