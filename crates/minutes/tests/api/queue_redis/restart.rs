//! A Redis of the test's own, killed with `kill -9` and started again on the same port (empty:
//! no persistence): the same delivery object works again, with its groups created anew.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::servers::{eventually, free_port, query, Server};
use super::{client, deliver_when_back, delivery, due, queues, receive_n, receive_once};
use minutes::queue::delivery::Delivery;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_works_again_after_redis_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(false);
    let mut server = Server::start(dir.path(), port, &[]).await;
    let c = client(&server.url()).await;
    let d = Arc::new(delivery(&c, "restart", Duration::from_secs(30)).await);

    d.announce(&due("default", &["before"])).await.unwrap();
    let got = receive_n(&d, "w", &["default"], 1, Duration::from_secs(5)).await;
    d.ack(&got[0]).await.unwrap();
    d.announce(&due("default", &["unacked"])).await.unwrap();
    let unacked = receive_n(&d, "w", &["default"], 1, Duration::from_secs(5)).await;

    // A worker is blocked in XREADGROUP when Redis dies.
    let blocked = tokio::spawn({
        let d = d.clone();
        async move {
            d.receive("w", &queues(&["default"]), 10, Duration::from_secs(20))
                .await
        }
    });
    eventually(
        "the read is blocked at the server",
        Duration::from_secs(5),
        || async {
            let clients: String = query(port, redis::cmd("CLIENT").arg("LIST")).await.ok()?;
            clients.contains("cmd=xreadgroup").then_some(())
        },
    )
    .await;
    server.kill9();

    // Down: the blocked read and every other call fail promptly; none hangs or succeeds.
    let down_at = Instant::now();
    let read = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .expect("the blocked read returned")
        .unwrap();
    assert!(read.is_err(), "{read:?}");
    assert!(d.check().await.is_err());
    assert!(d.announce(&due("default", &["down"])).await.is_err());
    assert!(d
        .receive("w", &queues(&["default"]), 10, Duration::from_millis(200))
        .await
        .is_err());
    assert!(
        down_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        down_at.elapsed()
    );

    server.restart().await;
    // The restarted server is empty: NOGROUP, the delivery re-creates its group and goes on.
    deliver_when_back(&d, "default", "after", Duration::from_secs(15)).await;
    d.check().await.unwrap();
    // Settling a receipt from before the restart is harmless.
    d.ack(&unacked[0]).await.unwrap();
    let more = receive_once(&d, "w", &["default"], Duration::from_millis(200)).await;
    assert!(more.is_empty(), "{more:?}");
}
