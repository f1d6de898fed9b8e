//! Enrolled people are named in another meeting (unknown voices are not), everything personal is
//! sealed at rest, and after erasure later meetings no longer find the person.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolled_people_are_named_in_another_meeting_until_they_are_erased() {
    let jwks = Jwks::start().await;
    let t = app(&jwks).await;
    let alice = member("alice-vp");
    // David and Sarah from the escalation call (en02): their first long turns.
    let sarah = enroll(
        &t,
        &alice,
        "Sarah Kim",
        clip("en02_customer_escalation", 12.249, 27.072),
    )
    .await;
    let david = enroll(
        &t,
        &alice,
        "David Okafor",
        clip("en02_customer_escalation", 0.5, 11.799),
    )
    .await;
    t.run_jobs_until_idle().await;
    let (code, list) = t.get(&format!("{V}/speakers"), &alice).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 2, "{list}");
    for s in list["speakers"].as_array().unwrap() {
        assert_eq!(s["state"], "active", "{s}");
        assert_eq!(s["provider"], "local-campplus");
        assert_eq!(s["consent"]["method"], "electronic");
        assert!(s["sample_seconds"].as_f64().unwrap() >= 3.0, "{s}");
    }

    // At rest: names, consent subjects and wording, feature ids and embeddings are sealed;
    // the enrollment samples are gone.
    let stored = t.raw_texts("SELECT name FROM speakers UNION ALL SELECT consent_subject FROM speakers \
         UNION ALL SELECT consent_text FROM speakers UNION ALL SELECT provider_feature_id FROM speakers \
         UNION ALL SELECT embedding FROM voiceprint_features",
    )
    .await;
    assert_eq!(stored.len(), 10, "{stored:?}");
    for v in &stored {
        let v = v.as_deref().unwrap();
        assert!(v.starts_with("enc1:"), "not sealed: {v}");
        assert!(!v.contains("Sarah") && !v.contains("David"), "{v}");
    }
    let samples = crate::helpers::files_under(&t.dir.path().join("objects/voiceprints"));
    assert!(
        samples.is_empty(),
        "enrollment samples left behind: {samples:?}"
    );

    // en03: Sarah and David are enrolled; Priya and Marcus never were.
    let named = names_in_en03(&t, &alice).await;
    for (truth, shown) in &named {
        match truth.as_str() {
            "Sarah Kim" | "David Okafor" => assert_eq!(shown, truth, "{named:?}"),
            _ => assert!(
                shown != "Sarah Kim" && shown != "David Okafor",
                "{truth} was named {shown}: {named:?}"
            ),
        }
    }

    // Erasure: the name and the embeddings go at once; the tombstone keeps no personal value.
    let (code, erased) = t
        .request(
            Method::DELETE,
            &format!("{V}/speakers/{sarah}"),
            Some(&alice),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{erased}");
    assert_eq!(erased["state"], "erased");
    let (code, _) = t.get(&format!("{V}/speakers/{sarah}"), &alice).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, again) = t
        .request(
            Method::DELETE,
            &format!("{V}/speakers/{sarah}"),
            Some(&alice),
            axum::body::Body::empty(),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{again}");
    let (_, list) = t.get(&format!("{V}/speakers"), &alice).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["speakers"][0]["speaker_id"], david.as_str());
    let left = t
        .raw_texts(&format!(
            "SELECT name FROM speakers WHERE id = '{sarah}' UNION ALL \
             SELECT consent_subject FROM speakers WHERE id = '{sarah}' UNION ALL \
             SELECT provider_feature_id FROM speakers WHERE id = '{sarah}' UNION ALL \
             SELECT embedding FROM voiceprint_features WHERE speaker_id = '{sarah}'"
        ))
        .await;
    assert_eq!(left, vec![None, None, None], "{left:?}");
    let registry = t
        .app
        .store
        .voiceprint_registry(TENANT, "local-campplus")
        .await
        .unwrap();
    let ids: Vec<&str> = registry
        .speakers
        .iter()
        .map(|s| s.speaker_id.as_str())
        .collect();
    assert_eq!(ids, [david.as_str()]);

    // A later meeting no longer finds Sarah; David still is.
    let named = names_in_en03(&t, &alice).await;
    for (truth, shown) in &named {
        match truth.as_str() {
            "David Okafor" => assert_eq!(shown, truth, "{named:?}"),
            _ => assert!(
                shown != "Sarah Kim" && shown != "David Okafor",
                "{truth} was named {shown}: {named:?}"
            ),
        }
    }
    let (_, audit) = t
        .get(
            &format!("{V}/admin/audit?resource_type=speaker"),
            &admin("boss-vp", TENANT),
        )
        .await;
    let entries = audit.to_string();
    assert!(
        entries.contains("speakers.enroll") && entries.contains("speakers.erase"),
        "{audit}"
    );
    assert!(
        !entries.contains("Sarah") && !entries.contains("David"),
        "names in the audit log: {audit}"
    );
}
