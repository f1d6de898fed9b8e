use std::sync::Mutex;

use secrecy::ExposeSecret;

use super::*;
use crate::providers::ProviderError;

const T0: i64 = 1_700_000_000_000;

fn keys(names: &[&str]) -> Vec<SecretString> {
    names
        .iter()
        .map(|k| SecretString::from(k.to_string()))
        .collect()
}

fn pool_with(names: &[&str], settings: KeyPoolSettings) -> (KeyPool, Arc<ManualProviderClock>) {
    let clock = Arc::new(ManualProviderClock::at(T0));
    (
        KeyPool::new("p", keys(names), settings, clock.clone()),
        clock,
    )
}

fn pool(names: &[&str]) -> (KeyPool, Arc<ManualProviderClock>) {
    pool_with(names, KeyPoolSettings::default())
}

fn secret_of(lease: &KeyLease<'_>) -> String {
    lease
        .secret()
        .map(|s| s.expose_secret().to_string())
        .unwrap_or_default()
}

fn states(pool: &KeyPool) -> Vec<KeyState> {
    pool.status().iter().map(|k| k.state).collect()
}

fn unavailable() -> ProviderError {
    ProviderError::Unavailable {
        provider: "p".into(),
        detail: "HTTP 503".into(),
    }
}

fn limited(secs: u64) -> ProviderError {
    ProviderError::RateLimited {
        provider: "p".into(),
        retry_after: Some(Duration::from_secs(secs)),
    }
}

/// Runs `pool.call` with a scripted answer per attempt, recording which key each attempt used.
async fn call_scripted(
    pool: &KeyPool,
    script: impl Fn(&str, usize) -> Result<&'static str, ProviderError>,
) -> (Result<&'static str, ProviderError>, Vec<String>) {
    let used = Mutex::new(Vec::new());
    let result = pool
        .call(|key| {
            let key = key
                .map(|k| k.expose_secret().to_string())
                .unwrap_or_default();
            let attempt = {
                let mut used = used.lock().expect("lock");
                used.push(key.clone());
                used.len()
            };
            let answer = script(&key, attempt);
            async move { answer }
        })
        .await;
    (result, used.into_inner().expect("lock"))
}

#[test]
fn keys_are_taken_least_recently_used_first() {
    let (pool, clock) = pool(&["k0", "k1", "k2"]);
    let mut order = Vec::new();
    for _ in 0..4 {
        let lease = pool.acquire(&[]).expect("usable");
        order.push(secret_of(&lease));
        lease.success();
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(order, ["k0", "k1", "k2", "k0"]);

    // A resting key is skipped; the others keep their LRU order, and it returns after its rest.
    pool.acquire(&[])
        .expect("k1")
        .rate_limited(Some(Duration::from_secs(30)));
    let next: Vec<String> = (0..3)
        .map(|_| {
            let lease = pool.acquire(&[]).expect("usable");
            let key = secret_of(&lease);
            lease.success();
            key
        })
        .collect();
    assert_eq!(next, ["k2", "k0", "k2"]);
    clock.advance(Duration::from_secs(30));
    let lease = pool.acquire(&[]).expect("k1 is back");
    assert_eq!(secret_of(&lease), "k1", "k1 is now the least recently used");
    lease.success();
    assert!(states(&pool).iter().all(|s| *s == KeyState::Active));
}

#[test]
fn the_breaker_opens_after_five_failures_and_half_opens_after_the_interval() {
    let (pool, clock) = pool(&["k0"]);
    for _ in 0..4 {
        pool.acquire(&[]).expect("closed").failure();
    }
    assert_eq!(states(&pool), [KeyState::Active]);
    assert_eq!(pool.status()[0].consecutive_failures, 4);
    pool.acquire(&[]).expect("still closed").failure();
    let status = &pool.status()[0];
    assert_eq!(status.state, KeyState::Open);
    assert_eq!(
        status.until.map(|t| t.timestamp_millis()),
        Some(T0 + 300_000)
    );
    let ex = pool.acquire(&[]).err().expect("open breaker refuses");
    assert_eq!(ex.retry_after, Some(Duration::from_secs(300)));

    clock.advance(Duration::from_secs(299));
    assert!(pool.acquire(&[]).is_err(), "still open one second before");
    clock.advance(Duration::from_secs(1));
    assert_eq!(states(&pool), [KeyState::HalfOpen]);
    let trial = pool.acquire(&[]).expect("one trial request");
    assert!(
        pool.acquire(&[]).is_err(),
        "only one trial at a time while half-open"
    );
    // A failed trial reopens for a whole interval at once.
    trial.failure();
    assert_eq!(states(&pool), [KeyState::Open]);
    assert_eq!(
        pool.status()[0].until.map(|t| t.timestamp_millis()),
        Some(T0 + 600_000)
    );
    clock.advance(Duration::from_secs(300));
    pool.acquire(&[]).expect("second trial").success();
    let status = &pool.status()[0];
    assert_eq!(status.state, KeyState::Active);
    assert_eq!(status.consecutive_failures, 0);
}

#[test]
fn breaker_threshold_and_interval_are_configurable() {
    let (pool, clock) = pool_with(
        &["k0"],
        KeyPoolSettings {
            failure_threshold: 2,
            half_open_after_secs: 10,
            ..KeyPoolSettings::default()
        },
    );
    pool.acquire(&[]).expect("closed").failure();
    assert_eq!(states(&pool), [KeyState::Active]);
    pool.acquire(&[]).expect("closed").failure();
    assert_eq!(states(&pool), [KeyState::Open]);
    clock.advance(Duration::from_secs(10));
    assert_eq!(states(&pool), [KeyState::HalfOpen]);
}

#[test]
fn a_success_resets_the_failure_count() {
    let (pool, _) = pool(&["k0"]);
    for _ in 0..4 {
        pool.acquire(&[]).expect("closed").failure();
    }
    pool.acquire(&[]).expect("closed").success();
    for _ in 0..4 {
        pool.acquire(&[]).expect("closed").failure();
    }
    assert_eq!(states(&pool), [KeyState::Active]);
}

#[test]
fn an_abandoned_trial_frees_the_half_open_key() {
    let (pool, clock) = pool(&["k0"]);
    for _ in 0..5 {
        pool.acquire(&[]).expect("closed").failure();
    }
    clock.advance(Duration::from_secs(300));
    drop(pool.acquire(&[]).expect("trial")); // e.g. the job was cancelled mid-request
    assert_eq!(states(&pool), [KeyState::HalfOpen]);
    assert!(pool.acquire(&[]).is_ok(), "the next call may try again");
}

#[tokio::test]
async fn a_rate_limited_key_hands_over_to_the_next_without_waiting() {
    let (pool, clock) = pool(&["k0", "k1"]);
    let (result, used) = call_scripted(&pool, |key, _| match key {
        "k0" => Err(limited(42)),
        _ => Ok("answer"),
    })
    .await;
    assert_eq!(result, Ok("answer"));
    assert_eq!(used, ["k0", "k1"]);
    assert!(clock.slept().is_empty());
    let status = pool.status();
    assert_eq!(status[0].state, KeyState::RateLimited);
    assert_eq!(
        status[0].until.map(|t| t.timestamp_millis()),
        Some(T0 + 42_000)
    );
    assert_eq!(status[1].state, KeyState::Active);

    // The next call starts with k1 (k0 rests), not with k0 again.
    let (_, used) = call_scripted(&pool, |_, _| Ok("again")).await;
    assert_eq!(used, ["k1"]);
}

#[tokio::test]
async fn a_short_hint_is_waited_out_on_the_clock() {
    let (pool, clock) = pool(&["k0"]);
    let (result, used) = call_scripted(&pool, |_, attempt| {
        if attempt == 1 {
            Err(limited(12))
        } else {
            Ok("after the wait")
        }
    })
    .await;
    assert_eq!(result, Ok("after the wait"));
    assert_eq!(used.len(), 2);
    assert_eq!(clock.slept(), [Duration::from_secs(12)]);
}

#[tokio::test]
async fn every_key_exhausted_is_an_explicit_quota_error() {
    let (pool, clock) = pool(&["k0", "k1"]);
    let (result, used) = call_scripted(&pool, |key, _| match key {
        "k0" => Err(limited(90)),
        _ => Err(limited(45)),
    })
    .await;
    assert_eq!(used, ["k0", "k1"]);
    let err = result.expect_err("no key left");
    let ProviderError::QuotaExceeded {
        retry_after,
        detail,
        ..
    } = &err
    else {
        panic!("expected QuotaExceeded, got {err:?}");
    };
    // The queue comes back when the first key recovers, not the last.
    assert_eq!(*retry_after, Some(Duration::from_secs(45)));
    assert_eq!(
        detail,
        "every API key is resting: key 0 rate_limited for 90s, key 1 rate_limited for 45s"
    );
    assert_eq!(err.code(), "quota_exceeded");
    assert!(err.is_retryable());
    assert!(
        clock.slept().is_empty(),
        "hints past max_retry_wait_secs are not waited for"
    );

    // A later call fails fast, without a request, while every key still rests.
    let (result, used) = call_scripted(&pool, |_, _| Ok("unreachable")).await;
    assert!(used.is_empty());
    assert!(matches!(result, Err(ProviderError::QuotaExceeded { .. })));
    // Open breakers exhaust a pool just the same.
    clock.advance(Duration::from_secs(90));
    for _ in 0..5 {
        for _ in 0..2 {
            pool.acquire(&[]).expect("closed").failure();
        }
    }
    let (result, _) = call_scripted(&pool, |_, _| Ok("unreachable")).await;
    assert!(
        matches!(&result, Err(ProviderError::QuotaExceeded { detail, retry_after: Some(d), .. })
            if detail.contains("key 0 open") && *d == Duration::from_secs(300)),
        "{result:?}"
    );
}

#[tokio::test]
async fn server_errors_back_off_and_count_against_the_key() {
    let (pool, clock) = pool(&["k0"]);
    let (result, used) = call_scripted(&pool, |_, attempt| {
        if attempt < 3 {
            Err(unavailable())
        } else {
            Ok("third time")
        }
    })
    .await;
    assert_eq!(result, Ok("third time"));
    assert_eq!(used.len(), 3);
    let slept = clock.slept();
    assert_eq!(slept.len(), 2);
    assert!((500..=1000).contains(&slept[0].as_millis()), "{slept:?}");
    assert!((1000..=2000).contains(&slept[1].as_millis()), "{slept:?}");
    assert_eq!(
        pool.status()[0].consecutive_failures,
        0,
        "the success closed it"
    );
}

#[tokio::test]
async fn refused_credentials_move_on_and_fail_permanently_when_all_refuse() {
    let (pool, _) = pool(&["bad", "good"]);
    let auth = || ProviderError::Auth {
        provider: "p".into(),
        detail: "HTTP 403".into(),
    };
    let (result, used) = call_scripted(&pool, |key, _| match key {
        "bad" => Err(auth()),
        _ => Ok("ok"),
    })
    .await;
    assert_eq!(result, Ok("ok"));
    assert_eq!(used, ["bad", "good"]);
    assert_eq!(pool.status()[0].consecutive_failures, 1);

    let (result, used) = call_scripted(&pool, |_, _| Err(auth())).await;
    assert_eq!(
        used.len(),
        2,
        "each key once, never the same refused key twice"
    );
    let err = result.expect_err("refused");
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn answers_that_are_not_the_keys_fault_are_returned_at_once() {
    let (pool, clock) = pool(&["k0", "k1"]);
    for err in [
        ProviderError::ContentBlocked {
            provider: "p".into(),
            detail: "SAFETY".into(),
        },
        ProviderError::Rejected {
            provider: "p".into(),
            detail: "HTTP 400".into(),
        },
        ProviderError::Timeout {
            provider: "p".into(),
            after: Duration::from_secs(300),
        },
    ] {
        let expected = err.clone();
        let (result, used) = call_scripted(&pool, move |_, _| Err(err.clone())).await;
        assert_eq!(result, Err(expected));
        assert_eq!(used.len(), 1);
    }
    assert!(clock.slept().is_empty());
}

#[tokio::test]
async fn a_keyless_pool_reports_the_servers_own_error() {
    let clock = Arc::new(ManualProviderClock::at(T0));
    let pool = KeyPool::new("local", Vec::new(), KeyPoolSettings::default(), clock);
    assert!(!pool.has_keys());
    let (result, used) = call_scripted(&pool, |key, _| {
        assert_eq!(key, "", "no key is sent");
        Err(limited(120))
    })
    .await;
    assert_eq!(used.len(), 1);
    assert_eq!(result, Err(limited(120)));
}

#[test]
fn keys_come_from_the_key_list_and_file_without_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys");
    std::fs::write(&file, "# rotated 2025-06\nk3\n\n  k1  \nk4\n").expect("write");
    let got = collect_keys(
        "p",
        Some(&SecretString::from("k1")),
        Some(&SecretString::from("k2, k3\nk1")),
        Some(&file),
    )
    .expect("keys");
    let got: Vec<&str> = got.iter().map(|k| k.expose_secret()).collect();
    assert_eq!(got, ["k1", "k2", "k3", "k4"]);
    assert!(
        collect_keys("p", Some(&SecretString::from("  ")), None, None)
            .expect("empty")
            .is_empty()
    );

    std::fs::write(&file, "sk-secret-value\n").expect("write");
    let missing = dir.path().join("absent");
    let err = collect_keys("p", None, None, Some(&missing)).expect_err("missing file");
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn settings_are_checked() {
    assert_eq!(KeyPoolSettings::default().problem(), None);
    let zero = KeyPoolSettings {
        failure_threshold: 0,
        ..KeyPoolSettings::default()
    };
    assert!(zero.problem().is_some());
    let zero = KeyPoolSettings {
        half_open_after_secs: 0,
        ..KeyPoolSettings::default()
    };
    assert!(zero.problem().is_some());
}

#[test]
fn status_never_holds_a_key() {
    let (pool, _) = pool(&["sk-very-secret"]);
    let json = serde_json::to_string(&pool.status()).expect("serialize");
    assert!(!json.contains("sk-very-secret"), "{json}");
    assert!(json.contains("\"state\":\"active\""), "{json}");
    assert!(!format!("{pool:?}").contains("sk-very-secret"));
}
