//! The registry belongs to the tenant: members read it, only the enroller or a tenant admin
//! erases an entry, other tenants see nothing; an entry erased before its enrollment job ran
//! stores nothing.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_the_tenants_and_erasure_is_for_the_enroller_or_an_admin() {
    let jwks = Jwks::start().await;
    let t = app(&jwks).await;
    let (alice, bob, boss) = (
        member("alice-vp"),
        member("bob-vp"),
        admin("boss-vp", TENANT),
    );
    let carol = admin("carol-vp", "globex-vp");
    let first = enroll(
        &t,
        &alice,
        "David Okafor",
        clip("en02_customer_escalation", 0.5, 11.799),
    )
    .await;
    let second = enroll(
        &t,
        &alice,
        "Sarah Kim",
        clip("en02_customer_escalation", 12.249, 27.072),
    )
    .await;
    // Erased before its enrollment job ran: the job stores nothing.
    let third = enroll(
        &t,
        &alice,
        "Priya Sharma",
        clip("en01_sprint_planning", 0.5, 11.079),
    )
    .await;
    let delete = |token: String, id: String| {
        let t = &t;
        async move {
            t.request(
                Method::DELETE,
                &format!("{V}/speakers/{id}"),
                Some(&token),
                axum::body::Body::empty(),
                None,
            )
            .await
        }
    };
    let (code, body) = delete(alice.clone(), third.clone()).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    t.run_jobs_until_idle().await;
    let tombstone = t
        .app
        .store
        .get_speaker(TENANT, &third)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tombstone.state, "erased");
    assert_eq!(tombstone.name, None);
    assert_eq!(tombstone.provider_feature_id, None);
    let registry = t
        .app
        .store
        .voiceprint_registry(TENANT, "local-campplus")
        .await
        .unwrap();
    assert_eq!(registry.speakers.len(), 2);
    assert!(registry
        .speakers
        .iter()
        .all(|s| s.embeddings.len() == 1 && s.embeddings[0].vector.len() == 192));

    // Another member of the tenant reads the registry but cannot erase someone else's entry.
    let (code, body) = t.get(&format!("{V}/speakers/{first}"), &bob).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "David Okafor");
    let (code, body) = delete(bob.clone(), first.clone()).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    // Another tenant (an admin there) sees nothing and erases nothing.
    let (code, body) = t.get(&format!("{V}/speakers/{first}"), &carol).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    let (code, body) = t.get(&format!("{V}/speakers"), &carol).await;
    assert_eq!(
        (code, body["total"].as_i64()),
        (StatusCode::OK, Some(0)),
        "{body}"
    );
    let (code, body) = delete(carol.clone(), first.clone()).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.to_string().contains("David"), "{body}");
    // The tenant admin may erase any entry.
    let (code, body) = delete(boss.clone(), first.clone()).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, list) = t.get(&format!("{V}/speakers"), &alice).await;
    let ids: Vec<&str> = list["speakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["speaker_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()], "{list}");
}
