//! Broker-side connection loss and a broker that is unreachable: the same delivery recovers.
use super::*;

/// Closes, from the broker side, every connection this test's backend opened.
async fn force_close_connections(prefix: &str) -> usize {
    let listed = rabbitmqctl(&["list_connections", "pid", "client_properties", "--quiet"]).await;
    let ours: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains(prefix))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for pid in &ours {
        rabbitmqctl(&["close_connection", pid, "test"]).await;
    }
    ours.len()
}

/// Announces until the broker confirms (as the relay does), within `within`.
async fn announce_until_ok(d: &RabbitDelivery, due: &[Announcement], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut failures = 0;
    loop {
        match d.announce(due).await {
            Ok(()) => return failures,
            Err(e) => {
                failures += 1;
                assert!(
                    Instant::now() < deadline,
                    "announce still failing after {within:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_and_receive_recover_after_the_broker_closes_the_connection() {
    with_prefix(&["asr"], |prefix| async move {
        let d = connect(&prefix, &["asr"]).await;
        d.announce(&due("asr", &ids("before", 2))).await.unwrap();
        let got = receive_n(&d, "w", &["asr"], 2, Duration::from_secs(5)).await;
        d.ack(&got[0]).await.unwrap();
        let unacked = got[1].clone();
        let first_generation = d.generation();

        assert_eq!(force_close_connections(&prefix).await, 1);
        announce_until_ok(&d, &due("asr", &ids("after", 1)), Duration::from_secs(10)).await;
        assert!(d.generation() > first_generation, "reconnected");

        // The unacked delivery came back (the broker requeued it) along with the new one.
        let got = receive_exactly(&d, "w", &["asr"], &["after-0", "before-1"], &["before-0"]).await;
        d.ack(&unacked).await.unwrap();
        for g in &got {
            assert_eq!(generation_of(g), d.generation());
            d.ack(g).await.unwrap();
        }
        assert_nothing_more(&d, "w", &["asr"]).await;
        d.check().await.unwrap();
    })
    .await;
}

/// A loopback TCP proxy to the broker that can be cut (every connection dropped, the port
/// refusing) and restored on the same port: a broker outage without stopping the shared broker.
struct Proxy {
    port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    let mut broker = TcpStream::connect("127.0.0.1:5672").await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    async fn cut(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_fails_while_the_broker_is_unreachable_and_recovers_when_it_is_back() {
    with_prefix(&["asr"], |prefix| async move {
        let proxy = Proxy::start().await;
        let d = connect_to(&proxy.url(), &prefix, &["asr"]).await;
        d.announce(&due("asr", &ids("up", 1))).await.unwrap();
        let got = receive_n(&d, "w", &["asr"], 1, Duration::from_secs(5)).await;
        d.ack(&got[0]).await.unwrap();

        proxy.cut().await;
        // Down: every call fails promptly, none hangs, none reports success.
        let down_since = Instant::now();
        let mut refused = 0;
        while down_since.elapsed() < Duration::from_secs(1) {
            let e = d.announce(&due("asr", &ids("down", 1))).await.unwrap_err();
            assert!(!e.to_string().contains("guest:guest"), "no password in {e}");
            assert!(d.check().await.is_err());
            assert!(d
                .receive("w", &queues(&["asr"]), 1, Duration::from_millis(100))
                .await
                .is_err());
            refused += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            refused >= 5,
            "calls returned promptly while down ({refused})"
        );

        proxy.restore().await;
        announce_until_ok(&d, &due("asr", &ids("back", 1)), Duration::from_secs(10)).await;
        // Nothing announced while down arrives (those calls failed); the relay announces again.
        let got = receive_exactly(&d, "w", &["asr"], &["back-0"], &["up-0"]).await;
        d.ack(&got[0]).await.unwrap();
        assert_nothing_more(&d, "w", &["asr"]).await;
        d.check().await.unwrap();
        drop(d);
        proxy.cut().await;
    })
    .await;
}
