//! A remote voiceprint provider keeps features itself, so erasure is a job that deletes the
//! feature there after the name is gone locally.
use super::*;
use crate::engines::RemoteVoiceprint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_remote_feature_is_a_job_that_deletes_it_at_the_provider() {
    let remote = Arc::new(RemoteVoiceprint::default());
    let t = TestApp::with(TestOptions {
        voiceprint: Some(remote.clone()),
        ..Default::default()
    })
    .await;
    let token = t.login("remote-vp").await;
    let tenant = minutes::domain::ids::tenant_id_for("remote-vp");
    let id = enroll(
        &t,
        &token,
        "Sarah Kim",
        clip("en02_customer_escalation", 12.249, 27.072),
    )
    .await;
    t.run_jobs_until_idle().await;
    let (_, body) = t.get(&format!("{V}/speakers/{id}"), &token).await;
    assert_eq!(body["state"], "active", "{body}");
    assert_eq!(body["provider"], "remote-test");
    let stored = t.stored_speaker(&tenant, &id).await;
    assert_eq!(stored.provider_feature_id, Some(format!("feat_{id}")));
    let sealed = t
        .raw_texts(&format!(
            "SELECT provider_feature_id FROM speakers WHERE id = '{id}'"
        ))
        .await;
    assert!(
        sealed[0].as_deref().unwrap().starts_with("enc1:"),
        "{sealed:?}"
    );

    let (code, body) = t
        .request(
            Method::DELETE,
            &format!("{V}/speakers/{id}"),
            Some(&token),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(
        (code, body["state"].as_str()),
        (StatusCode::ACCEPTED, Some("erasing")),
        "{body}"
    );
    // The name is gone at once; only the sealed feature id waits for the provider.
    let erasing = t.stored_speaker(&tenant, &id).await;
    assert_eq!((erasing.name, erasing.consent_subject), (None, None));
    assert!(erasing.provider_feature_id.is_some());
    let (code, _) = t.get(&format!("{V}/speakers/{id}"), &token).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(remote.deleted.lock().unwrap().is_empty());
    t.run_jobs_until_idle().await;
    assert_eq!(
        *remote.deleted.lock().unwrap(),
        [(tenant.clone(), format!("feat_{id}"))]
    );
    let erased = t.stored_speaker(&tenant, &id).await;
    assert_eq!(
        (erased.state.as_str(), erased.provider_feature_id),
        ("erased", None)
    );
}
