//! The key pool: invalid keys are skipped, rate-limited keys rest for their hint, and an
//! exhausted pool or a per-day quota is quota exceeded.
use super::*;
use crate::providers::keys::KeyState;

#[tokio::test]
async fn an_invalid_key_is_skipped_for_the_next_one() {
    let (base, shared) = server(&["AIza-good"], vec![(200, answer(ITEMS, "STOP"))]).await;
    let (gemini, _) = adapter(settings(&base, &["AIza-revoked", "AIza-good"]));
    gemini.generate(&request()).await.expect("second key");
    let keys: Vec<Option<String>> = shared
        .lock()
        .expect("lock")
        .seen
        .iter()
        .map(|s| s.key.clone())
        .collect();
    assert_eq!(
        keys,
        [
            Some("AIza-revoked".to_string()),
            Some("AIza-good".to_string())
        ]
    );
    let status = gemini.key_pool().status();
    assert_eq!(status[0].consecutive_failures, 1);
    assert_eq!(status[1].consecutive_failures, 0);
}

#[tokio::test]
async fn a_rate_limited_key_rotates_to_the_second_and_rests_for_its_hint() {
    // Only the second key is accepted by the server's quota: the first gets 429 with 40 s.
    let (base, shared) = server(
        &["k1", "k2"],
        vec![(429, rate_limited("40s")), (200, answer(ITEMS, "STOP"))],
    )
    .await;
    let (gemini, clock) = adapter(settings(&base, &["k1", "k2"]));
    gemini.generate(&request()).await.expect("second key");
    let keys: Vec<Option<String>> = shared
        .lock()
        .expect("lock")
        .seen
        .iter()
        .map(|s| s.key.clone())
        .collect();
    assert_eq!(keys, [Some("k1".to_string()), Some("k2".to_string())]);
    assert!(clock.slept().is_empty());
    let status = gemini.key_pool().status();
    assert_eq!(status[0].state, KeyState::RateLimited);
    assert_eq!(
        status[0].until.map(|t| t.timestamp_millis()),
        Some(T0 + 40_000)
    );
}

#[tokio::test]
async fn all_keys_rate_limited_is_quota_exceeded() {
    let (base, shared) = server(&["k1", "k2"], vec![(429, rate_limited("3600s"))]).await;
    let (gemini, _) = adapter(settings(&base, &["k1", "k2"]));
    let err = gemini.generate(&request()).await.expect_err("exhausted");
    assert!(
        matches!(&err, ProviderError::QuotaExceeded { retry_after: Some(d), .. } if *d == Duration::from_secs(3600)),
        "{err:?}"
    );
    assert_eq!(err.code(), "quota_exceeded");
    assert_eq!(shared.lock().expect("lock").seen.len(), 2);
}

#[tokio::test]
async fn a_per_day_quota_rests_the_key_as_quota_exceeded() {
    let per_day = google_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota.",
        json!([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]),
    );
    let (base, _) = server(
        &["k1", "k2"],
        vec![(429, per_day), (200, answer(ITEMS, "STOP"))],
    )
    .await;
    let (gemini, _) = adapter(settings(&base, &["k1", "k2"]));
    gemini.generate(&request()).await.expect("second key");
    let status = gemini.key_pool().status();
    assert_eq!(status[0].state, KeyState::QuotaExceeded);
    // No hint: rests for provider_keys.half_open_after_secs.
    assert_eq!(
        status[0].until.map(|t| t.timestamp_millis()),
        Some(T0 + 300_000)
    );
}
