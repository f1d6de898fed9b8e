//! A remote voiceprint provider keeps features itself, so erasure is a job that deletes the
//! feature there after the name is gone locally.
use super::*;

/// A remote voiceprint provider stand-in: it keeps features itself (no embeddings come back),
/// so erasure has to delete them there, through the `erase_voiceprint` job.
#[derive(Default)]
struct RemoteProvider {
    features: std::sync::Mutex<Vec<(String, String)>>,
    deleted: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl minutes::providers::Voiceprint for RemoteProvider {
    fn name(&self) -> &str {
        "remote-test"
    }

    async fn identify(
        &self,
        _registry: &minutes::providers::VoiceprintRegistry,
        _samples: &[minutes::providers::SpeakerSample],
    ) -> Result<Vec<minutes::providers::SpeakerMatch>, minutes::providers::ProviderError> {
        Ok(Vec::new())
    }

    async fn enroll(
        &self,
        tenant_id: &str,
        speaker_id: &str,
        wav: &[u8],
    ) -> Result<minutes::providers::Enrollment, minutes::providers::ProviderError> {
        assert!(
            wav.starts_with(b"RIFF"),
            "the job hands over the normalized WAV"
        );
        let feature = format!("feat_{speaker_id}");
        self.features
            .lock()
            .unwrap()
            .push((tenant_id.to_string(), feature.clone()));
        Ok(minutes::providers::Enrollment {
            feature_id: feature,
            embeddings: Vec::new(),
        })
    }

    async fn delete(
        &self,
        tenant_id: &str,
        feature_id: &str,
    ) -> Result<(), minutes::providers::ProviderError> {
        self.deleted
            .lock()
            .unwrap()
            .push((tenant_id.to_string(), feature_id.to_string()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_remote_feature_is_a_job_that_deletes_it_at_the_provider() {
    let remote = Arc::new(RemoteProvider::default());
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
    let stored = t
        .app
        .store
        .get_speaker(&tenant, &id)
        .await
        .unwrap()
        .unwrap();
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
    let erasing = t
        .app
        .store
        .get_speaker(&tenant, &id)
        .await
        .unwrap()
        .unwrap();
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
    let erased = t
        .app
        .store
        .get_speaker(&tenant, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (erased.state.as_str(), erased.provider_feature_id),
        ("erased", None)
    );
}
