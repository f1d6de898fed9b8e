//! Rate limits (waiting for the RetryInfo delay), server errors with backoff, giving up to the
//! job queue, and permanent permission errors.
use super::*;
use crate::providers::keys::KeyState;

#[tokio::test]
async fn a_rate_limit_waits_for_the_retry_info_delay_then_succeeds() {
    let (base, shared) = server(
        &["k"],
        vec![(429, rate_limited("12s")), (200, answer(ITEMS, "STOP"))],
    )
    .await;
    let (gemini, clock) = adapter(settings(&base, &["k"]));
    let out = gemini.generate(&request()).await.expect("second attempt");
    assert_eq!(out.usage.prompt_tokens, 120);
    assert_eq!(
        clock.slept(),
        [Duration::from_secs(12)],
        "the RetryInfo hint"
    );
    assert_eq!(shared.lock().expect("lock").seen.len(), 2);
    assert_eq!(gemini.key_pool().status()[0].state, KeyState::Active);
}

#[tokio::test]
async fn a_server_error_is_retried_after_a_backoff() {
    let (base, shared) = server(
        &["k"],
        vec![
            (
                500,
                google_error(
                    500,
                    "INTERNAL",
                    "An internal error has occurred.",
                    json!([]),
                ),
            ),
            (200, answer(ITEMS, "STOP")),
        ],
    )
    .await;
    let (gemini, clock) = adapter(settings(&base, &["k"]));
    gemini.generate(&request()).await.expect("second attempt");
    let slept = clock.slept();
    assert_eq!(slept.len(), 1);
    assert!((500..=1000).contains(&slept[0].as_millis()), "{slept:?}");
    assert_eq!(shared.lock().expect("lock").seen.len(), 2);
}

#[tokio::test]
async fn unavailable_three_times_gives_up_to_the_queue() {
    let (base, shared) = server(
        &["k"],
        vec![(
            503,
            google_error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                json!([]),
            ),
        )],
    )
    .await;
    let (gemini, _) = adapter(settings(&base, &["k"]));
    let err = gemini.generate(&request()).await.expect_err("still down");
    assert!(
        matches!(&err, ProviderError::Unavailable { detail, .. } if detail.contains("UNAVAILABLE") && detail.contains("overloaded")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(shared.lock().expect("lock").seen.len(), 3);
    assert_eq!(gemini.key_pool().status()[0].consecutive_failures, 3);
}

#[tokio::test]
async fn permission_denied_is_a_permanent_auth_error() {
    let (base, shared) = server(
        &["AIza-no-access"],
        vec![(
            403,
            google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers.",
                json!([]),
            ),
        )],
    )
    .await;
    let (gemini, clock) = adapter(settings(&base, &["AIza-no-access"]));
    let err = gemini.generate(&request()).await.expect_err("denied");
    let ProviderError::Auth { detail, .. } = &err else {
        panic!("expected Auth, got {err:?}");
    };
    assert!(detail.contains("PERMISSION_DENIED"), "{detail}");
    assert!(!detail.contains("AIza-no-access"), "{detail}");
    assert!(!err.is_retryable());
    assert_eq!(shared.lock().expect("lock").seen.len(), 1);
    assert!(clock.slept().is_empty());
}
