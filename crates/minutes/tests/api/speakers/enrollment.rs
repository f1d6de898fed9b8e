//! Enrollment validation: consent (given, with a subject and a wording or reference), a real
//! speech sample, and a configured voiceprint engine.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_needs_consent_and_a_real_speech_sample() {
    let jwks = Jwks::start().await;
    let t = app(&jwks).await;
    let alice = member("alice-vp");
    let speech = || clip("en02_customer_escalation", 0.5, 11.799);
    let fails = |fields: Fields| {
        let t = &t;
        let alice = alice.clone();
        async move { post_form(t, &alice, &fields).await }
    };
    let with = |mut fields: Fields, file: Option<Vec<u8>>| {
        if let Some(f) = file {
            fields.push(("file", Some("sample.wav"), f));
        }
        fields
    };
    let base = || consent_fields("Sarah Kim", "Sarah Kim");

    // No consent, consent refused, no subject, neither wording nor reference: 422 by field.
    for (drop_field, replace, field) in [
        ("consent_given", None, "consent_given"),
        ("consent_given", Some(b"false".to_vec()), "consent_given"),
        ("consent_subject", None, "consent_subject"),
        ("consent_text", None, "consent_text"),
        ("name", None, "name"),
    ] {
        let mut fields: Fields = base().into_iter().filter(|f| f.0 != drop_field).collect();
        if let Some(v) = replace {
            fields.push((drop_field, None, v));
        }
        let (code, body) = fails(with(fields, Some(speech()))).await;
        assert_eq!(
            code,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{drop_field}: {body}"
        );
        assert_eq!(body["code"], "validation_error");
        assert!(
            body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["loc"][1] == field),
            "{field}: {body}"
        );
    }
    // A reference to the signed form is as good as the wording.
    let mut by_reference: Fields = base()
        .into_iter()
        .filter(|f| f.0 != "consent_text")
        .collect();
    by_reference.push(("consent_reference", None, b"HR-consent-form-17".to_vec()));
    let (code, body) = fails(with(by_reference, Some(speech()))).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["consent"]["reference"], "HR-consent-form-17");

    // No sample; not audio; audio that does not decode; too little speech; silence.
    let (code, body) = fails(with(base(), None)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (code, body) = fails(with(
        base(),
        Some(b"just some text, not audio at all".to_vec()),
    ))
    .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let mut broken = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    broken.extend_from_slice(&[0xff; 40]);
    let (code, body) = fails(with(base(), Some(broken))).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("input_undecodable")),
        "{body}"
    );
    let short = clip("en02_customer_escalation", 0.5, 2.3);
    let (code, body) = fails(with(base(), Some(short))).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sample_too_short")),
        "{body}"
    );
    let silence = clip("en02_customer_escalation", 0.0, 0.45);
    let (code, body) = fails(with(base(), Some(silence))).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sample_too_short")),
        "{body}"
    );

    // Nothing was stored for the refused requests: only the one by reference.
    let (_, list) = t.get(&format!("{V}/speakers"), &alice).await;
    assert_eq!(list["total"], 1, "{list}");
    t.run_jobs_until_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_is_refused_without_a_voiceprint_engine() {
    let t = TestApp::new().await;
    let token = t.login("no-voiceprint").await;
    let mut fields = consent_fields("Sarah Kim", "Sarah Kim");
    fields.push((
        "file",
        Some("s.wav"),
        clip("en02_customer_escalation", 0.5, 11.799),
    ));
    let (code, body) = post_form(&t, &token, &fields).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("voiceprint_not_configured")),
        "{body}"
    );
}
