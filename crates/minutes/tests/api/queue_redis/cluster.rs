//! A three-master Redis Cluster of the test's own: deliveries of installs whose hash tags live on
//! each of the three masters, several queues per read, and the rate limiter with keys spread
//! over the masters.
use std::time::Duration;

use super::servers::{eventually, free_port, query, Server};
use super::{client, delivery, due, job_ids, receive_n, receive_once};
use minutes::queue::delivery::Delivery;
use minutes::ratelimit::{Decision, RateLimiter, RedisLimiter, Rule};
use minutes::redis_client::Topology;

/// The master that serves `key`: the others answer MOVED.
async fn owner(ports: &[u16], key: &str) -> u16 {
    for &port in ports {
        if query::<Option<String>>(port, redis::cmd("GET").arg(key))
            .await
            .is_ok()
        {
            return port;
        }
    }
    panic!("no master serves {key}");
}

/// The first `name(i)` for each master, so every master gets exercised.
async fn one_per_master(ports: &[u16], key_of: impl Fn(&str) -> String) -> Vec<(String, u16)> {
    let mut picked: Vec<(String, u16)> = Vec::new();
    for i in 0.. {
        let name = format!("t{i}");
        let port = owner(ports, &key_of(&name)).await;
        if !picked.iter().any(|(_, p)| *p == port) {
            picked.push((name, port));
        }
        if picked.len() == ports.len() {
            return picked;
        }
        assert!(i < 1000, "keys never reached every master: {picked:?}");
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_and_the_rate_limiter_work_on_a_three_master_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(true), free_port(true), free_port(true)];
    let mut nodes = Vec::new();
    for port in ports {
        let conf = format!("nodes-{port}.conf");
        nodes.push(
            Server::start(
                dir.path(),
                port,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "2000",
                ],
            )
            .await,
        );
    }
    let mut create = tokio::process::Command::new("redis-cli");
    create.arg("--cluster").arg("create");
    for port in ports {
        create.arg(format!("127.0.0.1:{port}"));
    }
    let created = create
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .await
        .expect("redis-cli must be installed");
    assert!(
        created.status.success(),
        "redis-cli --cluster create: {}{}",
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );
    eventually(
        "every node reports cluster_state:ok",
        Duration::from_secs(15),
        || async {
            for port in ports {
                let info: String = query(port, redis::cmd("CLUSTER").arg("INFO")).await.ok()?;
                if !info.contains("cluster_state:ok") {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    let c = client(&format!(
        "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
        ports[0], ports[1]
    ))
    .await;
    assert_eq!(c.topology(), &Topology::Cluster);

    // Three installs whose hash tags sit on three different masters.
    let installs = one_per_master(&ports, |name| format!("{{{name}}}:jobs:asr")).await;
    for (prefix, port) in &installs {
        let d = delivery(&c, prefix, Duration::from_secs(30)).await;
        d.check().await.unwrap();
        // One pipeline and one read over three streams: fine, they share the install's slot.
        let mut announced = due("asr", &["a1"]);
        announced.extend(due("llm", &["l1"]));
        announced.extend(due("default", &["d1", "d2"]));
        d.announce(&announced).await.unwrap();
        let got = receive_n(
            &d,
            "w",
            &["asr", "llm", "default"],
            4,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(job_ids(&got), ["a1", "d1", "d2", "l1"]);
        for g in &got {
            let expected = match g.job_id.as_str() {
                "a1" => "asr",
                "l1" => "llm",
                _ => "default",
            };
            assert_eq!(g.queue, expected);
            d.ack(g).await.unwrap();
        }
        // The streams live on the master the hash tag names.
        let exists: u32 = query(*port, redis::cmd("EXISTS").arg(d.stream_key("llm")))
            .await
            .unwrap();
        assert_eq!(exists, 1, "{prefix} on {port}");
        let nothing = receive_once(
            &d,
            "w",
            &["asr", "llm", "default"],
            Duration::from_millis(100),
        )
        .await;
        assert!(nothing.is_empty(), "{nothing:?}");
    }

    // The limiter: one key per script call, so each key's script runs on its own master.
    let limiter = RedisLimiter::new(&c, "rl:");
    let keys = one_per_master(&ports, |name| format!("rl:{name}")).await;
    let rule = Rule::per_minute(2);
    for (key, _) in &keys {
        assert_eq!(limiter.check(key, rule).await.unwrap(), Decision::Allowed);
        assert_eq!(limiter.check(key, rule).await.unwrap(), Decision::Allowed);
        match limiter.check(key, rule).await.unwrap() {
            Decision::Limited { retry_after_ms } => {
                assert!(
                    retry_after_ms > 0 && retry_after_ms <= 30_000,
                    "{retry_after_ms}"
                )
            }
            Decision::Allowed => panic!("{key}: third request within the burst of 2 allowed"),
        }
    }
    drop(nodes);
}
