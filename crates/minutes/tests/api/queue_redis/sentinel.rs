//! A primary, a replica and three sentinels of the test's own on loopback ports; the primary
//! is killed with `kill -9` and the delivery, connected through `redis+sentinel://`, follows
//! the failover to the promoted replica, and then a forced failover back that demotes the
//! primary it is connected to.
use std::collections::HashMap;
use std::time::Duration;

use super::servers::{eventually, free_port, query, Server};
use super::{client, deliver_when_back, delivery, due, receive_n};
use minutes::queue::delivery::Delivery;
use minutes::redis_client::Topology;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_keep_working_across_a_sentinel_failover() {
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2) = (free_port(false), free_port(false));
    let mut primary = Server::start(dir.path(), p1, &[]).await;
    let _replica = Server::start(
        dir.path(),
        p2,
        &["--replicaof", "127.0.0.1", &p1.to_string()],
    )
    .await;
    eventually(
        "the replica is in sync",
        Duration::from_secs(10),
        || async {
            let info: String = query(p2, redis::cmd("INFO").arg("replication"))
                .await
                .ok()?;
            info.contains("master_link_status:up").then_some(())
        },
    )
    .await;

    let sentinel_ports = [free_port(false), free_port(false), free_port(false)];
    let mut sentinels = Vec::new();
    for port in sentinel_ports {
        sentinels.push(Server::start_sentinel(dir.path(), port, p1).await);
    }
    // A failover needs a quorum that knows each other and a replica to promote.
    eventually(
        "every sentinel sees the replica and the other two",
        Duration::from_secs(15),
        || async {
            for port in sentinel_ports {
                let m: HashMap<String, String> =
                    query(port, redis::cmd("SENTINEL").arg("MASTER").arg("m"))
                        .await
                        .ok()?;
                let ready = m.get("num-slaves").map(String::as_str) == Some("1")
                    && m.get("num-other-sentinels").map(String::as_str) == Some("2");
                if !ready {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    let hosts: Vec<String> = sentinel_ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let c = client(&format!("redis+sentinel://{}/m", hosts.join(","))).await;
    assert_eq!(c.topology(), &Topology::Sentinel { master: "m".into() });
    let d = delivery(&c, "failover", Duration::from_secs(30)).await;
    d.announce(&due("default", &["before"])).await.unwrap();
    let got = receive_n(&d, "w", &["default"], 1, Duration::from_secs(5)).await;
    assert_eq!(got[0].job_id, "before");
    d.ack(&got[0]).await.unwrap();

    primary.kill9();
    eventually(
        "the sentinels promoted the replica",
        Duration::from_secs(20),
        || async { (master_port(sentinel_ports[0]).await? == p2).then_some(()) },
    )
    .await;

    // Same client, same delivery: it re-asks the sentinels and writes to the new primary.
    deliver_when_back(&d, "default", "after", Duration::from_secs(15)).await;
    d.check().await.unwrap();
    assert_eq!(role(p2).await, "master", "the replica was promoted");

    // The old primary comes back as a replica of the new one; a forced failover then demotes
    // the very primary this delivery is connected to, which stays up.
    primary
        .restart_with(&["--replicaof", "127.0.0.1", &p2.to_string()])
        .await;
    eventually(
        "the old primary rejoined as a replica",
        Duration::from_secs(20),
        || async {
            let info: String = query(p1, redis::cmd("INFO").arg("replication"))
                .await
                .ok()?;
            (info.contains("role:slave") && info.contains("master_link_status:up")).then_some(())
        },
    )
    .await;
    eventually(
        "a forced failover back to the old primary",
        Duration::from_secs(20),
        || async {
            // NOGOODSLAVE until the sentinels saw the rejoined replica healthy: ask again.
            let _: String = query(
                sentinel_ports[0],
                redis::cmd("SENTINEL").arg("FAILOVER").arg("m"),
            )
            .await
            .ok()?;
            Some(())
        },
    )
    .await;
    eventually(
        "the sentinels switched back to the old primary",
        Duration::from_secs(10),
        || async {
            (master_port(sentinel_ports[0]).await? == p1 && role(p1).await == "master")
                .then_some(())
        },
    )
    .await;
    // Sentinel demotes the still-running previous primary only after it kept claiming the role
    // for a while (8 s and an INFO round); that drops this delivery's connections to it.
    eventually(
        "the previous primary was demoted",
        Duration::from_secs(20),
        || async { (role(p2).await == "slave").then_some(()) },
    )
    .await;
    deliver_when_back(&d, "default", "back", Duration::from_secs(15)).await;
}

async fn role(port: u16) -> String {
    let role: Vec<redis::Value> = query(port, &redis::cmd("ROLE")).await.unwrap_or_default();
    match role.first() {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// The port of the primary the sentinel on `sentinel` names for `m` (`None` while it cannot say).
async fn master_port(sentinel: u16) -> Option<u16> {
    let (_host, port): (String, String) = query(
        sentinel,
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("m"),
    )
    .await
    .ok()?;
    port.parse().ok()
}
