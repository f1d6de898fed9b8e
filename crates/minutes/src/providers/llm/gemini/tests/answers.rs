//! How a 200 answer is read: safety stops and blocked prompts, truncation at MAX_TOKENS,
//! malformed bodies, and thought parts or code fences around the JSON.
use super::*;

#[tokio::test]
async fn safety_stops_and_blocked_prompts_are_content_blocked() {
    let safety = json!({
        "candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": true},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]}],
        "usageMetadata": {"promptTokenCount": 120, "totalTokenCount": 120}
    });
    let prompt_blocked = json!({
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 120, "totalTokenCount": 120}
    });
    for (body, expect) in [
        (safety.to_string(), "SAFETY: HARM_CATEGORY_HARASSMENT"),
        (
            prompt_blocked.to_string(),
            "prompt blocked (PROHIBITED_CONTENT)",
        ),
        (answer("", "RECITATION"), "RECITATION"),
    ] {
        let (base, shared) = server(&["k"], vec![(200, body)]).await;
        let err = adapter(settings(&base, &["k"]))
            .0
            .generate(&request())
            .await
            .expect_err("blocked");
        assert!(
            matches!(&err, ProviderError::ContentBlocked { detail, .. } if detail.contains(expect)),
            "{expect}: {err:?}"
        );
        assert!(!err.is_retryable(), "a fallback runs instead of a retry");
        assert_eq!(shared.lock().expect("lock").seen.len(), 1, "no retry");
    }
}

#[tokio::test]
async fn max_tokens_is_a_permanent_truncation() {
    let (base, shared) = server(
        &["k"],
        vec![(200, answer(r#"{"items":[{"segm"#, "MAX_TOKENS"))],
    )
    .await;
    let err = adapter(settings(&base, &["k"]))
        .0
        .generate(&request())
        .await
        .expect_err("truncated");
    assert!(
        matches!(&err, ProviderError::Rejected { detail, .. } if detail.contains("MAX_TOKENS") && detail.contains("max_output_tokens")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(shared.lock().expect("lock").seen.len(), 1);
}

#[tokio::test]
async fn malformed_answers_are_invalid_responses() {
    let no_text = json!({"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}]});
    for body in [
        "<html>502 Bad Gateway</html>".to_string(),
        answer("Sure! Here are the minutes: ...", "STOP"),
        answer(r#"["not", "an", "object"]"#, "STOP"),
        answer(ITEMS, "OTHER"),
        no_text.to_string(),
        json!({"candidates": []}).to_string(),
    ] {
        let (base, shared) = server(&["k"], vec![(200, body.clone())]).await;
        let err = adapter(settings(&base, &["k"]))
            .0
            .generate(&request())
            .await
            .expect_err("malformed");
        assert!(
            matches!(err, ProviderError::InvalidResponse { .. }),
            "{body}: {err:?}"
        );
        assert_eq!(shared.lock().expect("lock").seen.len(), 1, "{body}");
    }
}

#[tokio::test]
async fn thought_parts_and_code_fences_are_not_part_of_the_answer() {
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think about the owners…", "thought": true},
            {"text": "```json\n{\"items\": []"},
            {"text": "}\n```"}
        ]}, "finishReason": "STOP"}]
    });
    let (base, _) = server(&["k"], vec![(200, body.to_string())]).await;
    let out = adapter(settings(&base, &["k"]))
        .0
        .generate(&request())
        .await
        .expect("answer");
    assert_eq!(out.content, json!({"items": []}));
    assert_eq!(
        out.model, "gemini-2.5-flash",
        "no modelVersion: the configured model"
    );
    assert_eq!(out.usage, TokenUsage::default());
}
